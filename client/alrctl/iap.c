/*
 * alrctl iap list, iap show: the daemon's IAPs (iap.list, iap.get).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"
#include "iap.h"

static const char *iap_state(struct json_object *iap)
{
	return jbool(iap, "available") ? "up" : "down";
}

static const char *iap_reason(struct json_object *iap)
{
	const char *reason = jstr(iap, "reason");

	return reason ? reason : "-";
}

static bool addr_text(struct json_object *a, char *buf, size_t size)
{
	const char *addr = jstr(a, "address");
	struct json_object *prefix = jget(a, "prefix");

	if (!addr)
		return false;
	if (prefix)
		snprintf(buf, size, "%s/%d", addr, json_object_get_int(prefix));
	else
		snprintf(buf, size, "%s", addr);
	return true;
}

/* The usable addresses, comma-separated, or "-"; the caller frees it. */
static char *iap_usable_addresses(struct json_object *iap)
{
	struct json_object *addrs = jget(iap, "addresses");
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	bool first = true;

	if (!f)
		return NULL;
	if (addrs && json_object_is_type(addrs, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(addrs); i++) {
			struct json_object *a = json_object_array_get_idx(addrs, i);
			char buf[128];

			if (!jbool(a, "usable") || !addr_text(a, buf, sizeof(buf)))
				continue;
			fprintf(f, "%s%s", first ? "" : ",", buf);
			first = false;
		}
	}
	if (first)
		fputs("-", f);
	fclose(f);
	return out;
}

static const char *iap_default_route(struct json_object *iap)
{
	struct json_object *dr = jget(iap, "default_route");
	bool v4 = jbool(dr, "ipv4"), v6 = jbool(dr, "ipv6");

	return v4 && v6 ? "ipv4,ipv6" : v4 ? "ipv4" : v6 ? "ipv6" : "-";
}

/* The NetworkManager columns: "-" for an IAP without a connection (the
 * daemon then knows nothing about SSID, signal or metering). */
static const char *iap_ssid(struct json_object *iap)
{
	const char *ssid = jstr(jget(iap, "nm"), "ssid");

	return ssid && *ssid ? ssid : "-";
}

static void iap_signal(struct json_object *iap, char *buf, size_t size)
{
	int64_t strength;

	if (jint64(jget(iap, "nm"), "strength", &strength))
		snprintf(buf, size, "%" PRId64 "%%", strength);
	else
		snprintf(buf, size, "-");
}

static const char *iap_metered(struct json_object *iap)
{
	struct json_object *nm = jget(iap, "nm");

	if (!nm || !json_object_is_type(jget(nm, "metered"), json_type_boolean))
		return "-";
	return jbool(nm, "metered") ? "yes" : "no";
}

void print_iap_table(struct json_object *iaps, bool full, const char *indent)
{
	static const char *const short_headers[] = {
		"ID", "NAME", "KIND", "STATE", "REASON",
	};
	static const char *const headers[] = {
		"ID", "NAME", "INTERFACE", "KIND", "STATE", "REASON", "SSID", "SIGNAL",
		"METERED", "ADDRESSES", "DEFAULT ROUTE",
	};
	struct table t;

	if (full)
		table_init(&t, sizeof(headers) / sizeof(headers[0]), headers);
	else
		table_init(&t, sizeof(short_headers) / sizeof(short_headers[0]),
			   short_headers);
	for (size_t i = 0; iaps && i < json_object_array_length(iaps); i++) {
		struct json_object *iap = json_object_array_get_idx(iaps, i);

		table_add(&t, "%s", jtext(iap, "id"));
		table_add(&t, "%s", jtext(iap, "name"));
		if (full) {
			const char *ifname = jstr(iap, "interface");

			table_add(&t, "%s", ifname && *ifname ? ifname : "-");
		}
		table_add(&t, "%s", jtext(iap, "kind"));
		table_add(&t, "%s", iap_state(iap));
		table_add(&t, "%s", iap_reason(iap));
		if (full) {
			char *addrs = iap_usable_addresses(iap);
			char signal[24];

			iap_signal(iap, signal, sizeof(signal));
			table_add(&t, "%s", iap_ssid(iap));
			table_add(&t, "%s", signal);
			table_add(&t, "%s", iap_metered(iap));
			table_add(&t, "%s", addrs ? addrs : "-");
			free(addrs);
			table_add(&t, "%s", iap_default_route(iap));
		}
	}
	table_print(&t, indent);
	table_free(&t);
}

static int cmd_iap_list(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *list = NULL;
	int status;

	status = ctl_call_show(ctl, "iap.list", NULL, &list);
	if (status != EX_OK || ctl->json)
		return status;
	print_iap_table(result_array(list, "iaps"), true, "");
	json_object_put(list);
	return EX_OK;
}

/* --- iap show: every field, flattened to "a.b: value" --- */

static void kv_flatten(struct kvlist *l, const char *prefix, struct json_object *o)
{
	json_object_object_foreach(o, key, val) {
		char name[256];

		snprintf(name, sizeof(name), "%s%s", prefix, key);
		if (!strcmp(name, "addresses"))
			continue;          /* listed below, one per line */
		if (kv_add_scalar(l, name, val))
			continue;
		if (json_object_is_type(val, json_type_object)) {
			char sub[258];

			snprintf(sub, sizeof(sub), "%s.", name);
			kv_flatten(l, sub, val);
		} else {
			/* arrays of strings as a list, anything else as JSON */
			char *out = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&out, &len);

			if (!f)
				continue;
			for (size_t i = 0; i < json_object_array_length(val); i++) {
				struct json_object *e = json_object_array_get_idx(val, i);

				fprintf(f, "%s%s", i ? ", " : "",
					json_object_is_type(e, json_type_string)
					? json_object_get_string(e)
					: json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
			}
			fclose(f);
			kv_add(l, name, out && *out ? out : "-");
			free(out);
		}
	}
}

static void print_addresses(struct json_object *addrs)
{
	static const char *const headers[] = {
		"ADDRESS", "FAMILY", "SCOPE", "USABLE", "FLAGS",
	};
	struct table t;

	table_init(&t, 5, headers);
	for (size_t i = 0; i < json_object_array_length(addrs); i++) {
		struct json_object *a = json_object_array_get_idx(addrs, i);
		struct json_object *flags = jget(a, "flags");
		char buf[128];
		char *out = NULL;
		size_t len = 0;
		FILE *f;

		if (!addr_text(a, buf, sizeof(buf)))
			snprintf(buf, sizeof(buf), "-");
		table_add(&t, "%s", buf);
		table_add(&t, "%s", jtext(a, "family"));
		table_add(&t, "%s", jtext(a, "scope"));
		table_add(&t, "%s", jbool(a, "usable") ? "yes" : "no");
		f = open_memstream(&out, &len);
		if (f) {
			for (size_t j = 0; flags && json_object_is_type(flags, json_type_array) &&
			     j < json_object_array_length(flags); j++)
				fprintf(f, "%s%s", j ? "," : "",
					json_object_get_string(json_object_array_get_idx(flags, j)));
			fclose(f);
		}
		table_add(&t, "%s", out && *out ? out : "-");
		free(out);
	}
	table_print(&t, "    ");
	table_free(&t);
}

static int cmd_iap_show(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *params, *result = NULL, *iap, *addrs;
	struct kvlist l = { 0 };
	const char *arg = argv[0];
	size_t width = 0;
	char *end;
	long id;
	int status;

	errno = 0;
	id = strtol(arg, &end, 10);
	if (*arg >= '0' && *arg <= '9' && !*end && (errno || id > INT_MAX))
		return usage_error("IAP id out of range: %s", arg);
	params = json_object_new_object();
	if (*arg >= '0' && *arg <= '9' && !*end) {
		json_object_object_add(params, "id", json_object_new_int((int)id));
	} else {
		json_object_object_add(params, "name", json_object_new_string(arg));
	}
	status = ctl_call_show(ctl, "iap.get", params, &result);
	if (status != EX_OK || ctl->json)
		return status;

	iap = jget(result, "iap");
	kv_flatten(&l, "", iap);
	addrs = jget(iap, "addresses");
	if (ctl->terse || ctl->fields) {
		/* for scripts: the addresses as lines of their own,
		 * addresses[N]: ADDRESS/PREFIX FAMILY SCOPE usable|unusable FLAGS */
		for (size_t i = 0; addrs && json_object_is_type(addrs, json_type_array) &&
		     i < json_object_array_length(addrs); i++) {
			struct json_object *a = json_object_array_get_idx(addrs, i);
			struct json_object *flags = jget(a, "flags");
			char key[32], buf[128], *value = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&value, &len);

			if (!f)
				oom();
			if (!addr_text(a, buf, sizeof(buf)))
				snprintf(buf, sizeof(buf), "-");
			fprintf(f, "%s %s %s %s ", buf, jtext(a, "family"), jtext(a, "scope"),
				jbool(a, "usable") ? "usable" : "unusable");
			for (size_t j = 0; flags && json_object_is_type(flags, json_type_array) &&
			     j < json_object_array_length(flags); j++)
				fprintf(f, "%s%s", j ? "," : "",
					json_object_get_string(json_object_array_get_idx(flags, j)));
			if (!flags || json_object_array_length(flags) == 0)
				fputs("-", f);
			fclose(f);
			if (!value)
				oom();
			snprintf(key, sizeof(key), "addresses[%zu]", i);
			kv_add(&l, key, value);
			free(value);
		}
		status = kv_print(&l);
		json_object_put(result);
		return status;
	}
	for (size_t i = 0; i < l.n; i++)
		if (strlen(l.v[i].key) > width)
			width = strlen(l.v[i].key);
	kv_print(&l);
	if (addrs && json_object_is_type(addrs, json_type_array)) {
		size_t n = json_object_array_length(addrs);

		printf("addresses:%*s %zu\n", width > 9 ? (int)(width - 9) : 0, "", n);
		if (n > 0)
			print_addresses(addrs);
	}
	json_object_put(result);
	return EX_OK;
}

static const struct command commands[] = {
	{ "iap", "list", 0, 0, "", cmd_iap_list,
	  .fields = "ID NAME INTERFACE KIND STATE REASON SSID SIGNAL METERED ADDRESSES "
		    "DEFAULT-ROUTE",
	  .help =
	  "One line per IAP: id, name (the NetworkManager connection, else\n"
	  "the interface), interface, kind, state (up or down), the reason\n"
	  "when down, SSID, signal and metered (from NetworkManager, '-'\n"
	  "without a connection), the usable addresses, and the address\n"
	  "families whose default route leaves through it.\n" },
	{ "iap", "show", 1, 1, " ID|NAME", cmd_iap_show, .fields = "",
	  .help =
	  "Every field of one IAP, one per line (NetworkManager's as nm.*),\n"
	  "then its addresses with their flags.  A number is taken as an id,\n"
	  "anything else as a name.\n" },
};

const struct command_family iap_family = {
	.caption = "The daemon and its IAPs",
	.commands = commands, .n_commands = ARRAY_SIZE(commands),
};
