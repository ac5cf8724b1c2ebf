/*
 * alrctl snap list, snap show: the daemon's SNAPs, the sets of IAPs a
 * profile roams across (snap.list, snap.get).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "ctl.h"

static void format_ms(int64_t ms, char *buf, size_t size)
{
	if (ms == 0)
		snprintf(buf, size, "0s");
	else if (ms % 3600000 == 0)
		snprintf(buf, size, "%" PRId64 "h", ms / 3600000);
	else if (ms % 60000 == 0)
		snprintf(buf, size, "%" PRId64 "m", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, size, "%" PRId64 "s", ms / 1000);
	else
		snprintf(buf, size, "%" PRId64 "ms", ms);
}

/* A setting of a SNAP, a member of the SNAP or of its "settings". */
static struct json_object *snap_setting(struct json_object *snap, const char *key)
{
	struct json_object *v = jget(snap, key);

	return v ? v : jget(jget(snap, "settings"), key);
}

/* A duration: a string as alrd wrote it ("2s"), or a number, of
 * milliseconds under KEY_ms, else of seconds under KEY. */
static void snap_duration(struct json_object *snap, const char *key,
			  char *buf, size_t size)
{
	struct json_object *v;
	char ms_key[64];

	snprintf(ms_key, sizeof(ms_key), "%s_ms", key);
	v = snap_setting(snap, ms_key);
	if (v && json_object_is_type(v, json_type_int)) {
		format_ms(json_object_get_int64(v), buf, size);
		return;
	}
	v = snap_setting(snap, key);
	if (v && json_object_is_type(v, json_type_string))
		snprintf(buf, size, "%s", json_object_get_string(v));
	else if (v && (json_object_is_type(v, json_type_int) ||
		       json_object_is_type(v, json_type_double)))
		format_ms((int64_t)(json_object_get_double(v) * 1000 + 0.5), buf, size);
	else
		snprintf(buf, size, "-");
}

static const char *snap_text(struct json_object *snap, const char *key)
{
	struct json_object *v = snap_setting(snap, key);

	return v ? json_object_get_string(v) : "-";
}

/* The ranking, best first: IAP ids (or IAP objects) as "7,3". */
static char *snap_ranking(struct json_object *snap)
{
	struct json_object *ranking = jget(snap, "ranking");
	size_t n = ranking && json_object_is_type(ranking, json_type_array)
		   ? json_object_array_length(ranking) : 0;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		oom();
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(ranking, i);

		if (json_object_is_type(e, json_type_object))
			e = jget(e, "id");
		fprintf(f, "%s%s", i ? "," : "", e ? json_object_get_string(e) : "?");
	}
	if (n == 0)
		fputs("-", f);
	fclose(f);
	if (!out)
		oom();
	return out;
}

static int cmd_snap_list(struct ctl *ctl, int argc, char **argv)
{
	static const char *const headers[] = {
		"ID", "NAME", "MIGRATION", "STABLE", "TIMEOUT/ON-TIMEOUT", "RULES", "RANKING",
	};
	struct json_object *list = NULL, *snaps;
	struct table t;
	int status;

	status = ctl_call_show(ctl, "snap.list", NULL, &list);
	if (status != EX_OK || ctl->json)
		return status;
	snaps = result_array(list, "snaps");
	table_init(&t, 7, headers);
	for (size_t i = 0; snaps && i < json_object_array_length(snaps); i++) {
		struct json_object *s = json_object_array_get_idx(snaps, i);
		struct json_object *rules = jget(s, "rules");
		char stable[32], timeout[32], *ranking = snap_ranking(s);

		snap_duration(s, "stable_time", stable, sizeof(stable));
		snap_duration(s, "approval_timeout", timeout, sizeof(timeout));
		table_add(&t, "%s", jtext(s, "id"));
		table_add(&t, "%s", jtext(s, "name"));
		table_add(&t, "%s", snap_text(s, "migration"));
		table_add(&t, "%s", stable);
		table_add(&t, "%s/%s", timeout, snap_text(s, "on_timeout"));
		if (rules && json_object_is_type(rules, json_type_array))
			table_add(&t, "%zu", json_object_array_length(rules));
		else
			table_add(&t, "-");
		table_add(&t, "%s", ranking);
		free(ranking);
	}
	table_print(&t, "");
	table_free(&t);
	json_object_put(list);
	return EX_OK;
}

static int cmd_snap_show(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *params, *result = NULL;
	struct kvlist l = { 0 };
	int64_t id;
	int status;

	if (is_number(argv[0])) {
		status = parse_id(argv[0], "SNAP id", &id);
		if (status != EX_OK)
			return status;
		params = id_params("id", id);
	} else {
		params = new_object();
		json_object_object_add(params, "name", json_object_new_string(argv[0]));
	}
	status = ctl_call_show(ctl, "snap.get", params, &result);
	if (status != EX_OK || ctl->json)
		return status;
	show_flatten(&l, "", jget(result, "snap"), false);
	status = kv_print(&l);
	json_object_put(result);
	return status;
}

static const struct command commands[] = {
	{ "snap", "list", 0, 0, "", cmd_snap_list,
	  .fields = "ID NAME MIGRATION STABLE TIMEOUT/ON-TIMEOUT RULES RANKING",
	  .help =
	  "One line per SNAP: ID, NAME, MIGRATION (make-before-break or\n"
	  "break-before-make), STABLE (stable-time), TIMEOUT/ON-TIMEOUT\n"
	  "(approval-timeout and what happens then), RULES (how many) and\n"
	  "RANKING (the available member IAPs, best first).\n" },
	{ "snap", "show", 1, 1, " ID|NAME", cmd_snap_show, .fields = "",
	  .help =
	  "Every setting of one SNAP, its file, its rules (rules[0].kind,\n"
	  "...) and its ranking.\n" },
};

const struct command_family snap_family = {
	.caption = "SNAPs",
	.commands = commands, .n_commands = ARRAY_SIZE(commands),
};
