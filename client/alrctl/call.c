/*
 * alrctl calls: the calls through alrd's SIP edge (call.list; docs/edge.md,
 * "Calls").
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "ctl.h"

static int cmd_call_list(struct ctl *ctl, int argc, char **argv)
{
	static const char *const headers[] = {
		"ID", "PROFILE", "DIRECTION", "STATE", "PEER", "INTERFACE", "DURATION",
	};
	struct json_object *list = NULL, *params = NULL, *calls;
	struct table t;
	int64_t id;
	int status;

	if (argc > 0) {
		status = parse_id(argv[0], "profile id", &id);
		if (status != EX_OK)
			return status;
		params = id_params("profile", id);
	}
	status = ctl_call_show(ctl, "call.list", params, &list);
	if (status != EX_OK || ctl->json)
		return status;
	calls = result_array(list, "calls");
	table_init(&t, 7, headers);
	for (size_t i = 0; calls && i < json_object_array_length(calls); i++) {
		struct json_object *c = json_object_array_get_idx(calls, i);
		struct json_object *ms = jget(c, "duration_ms");

		table_add(&t, "%s", jtext(c, "id"));
		table_add(&t, "%s", jtext(c, "profile"));
		table_add(&t, "%s", jtext(c, "direction"));
		table_add(&t, "%s", jtext(c, "state"));
		table_add(&t, "%s", jtext(c, "peer"));
		table_add(&t, "%s", jtext(c, "interface"));
		table_add(&t, "%" PRId64 "s", ms ? json_object_get_int64(ms) / 1000 : 0);
	}
	table_print(&t, "");
	table_free(&t);
	json_object_put(list);
	return EX_OK;
}

static const struct command commands[] = {
	/* Not "call list": "call METHOD" is the raw protocol call. */
	{ "calls", NULL, 0, 1, " [PROFILE]", cmd_call_list,
	  .fields = "ID PROFILE DIRECTION STATE PEER INTERFACE DURATION",
	  .help =
	  "One line per call through alrd's SIP edge (of one profile with\n"
	  "PROFILE): ID, PROFILE, DIRECTION (incoming from the network or\n"
	  "outgoing from an application), STATE (ringing or answered), PEER\n"
	  "(the far end), INTERFACE (the IAP the network side uses) and\n"
	  "DURATION.\n" },
};

const struct command_family call_family = {
	.caption = "Calls",
	.commands = commands, .n_commands = ARRAY_SIZE(commands),
};
