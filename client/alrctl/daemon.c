/*
 * alrctl reload, log-level, call: acting on the daemon itself
 * (daemon.reload, daemon.set-log-level, and any method).
 */
#include <inttypes.h>
#include <stdio.h>
#include <sysexits.h>

#include "ctl.h"

/*
 * A SNAP file alrd skipped makes the reload a failure (EX_CONFIG), each
 * named with its problem, although alrd runs with what it did load: the
 * rejected SNAP is not in force, and a script must not take the reload
 * for a success.
 */
static int cmd_reload(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *result = NULL, *rejected;
	size_t n;
	int status;

	status = ctl_call(ctl, "daemon.reload", NULL, &result);
	if (status != EX_OK)
		return status;
	if (ctl->json)
		print_json(result);
	rejected = result_array(result, "rejected");
	n = rejected ? json_object_array_length(rejected) : 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *r = json_object_array_get_idx(rejected, i);
		int64_t line;

		if (jint64(r, "line", &line))
			errorf("%s:%" PRId64 ": %s; file rejected", jtext(r, "file"), line,
			       jtext(r, "problem"));
		else
			errorf("%s: %s; file rejected", jtext(r, "file"), jtext(r, "problem"));
	}
	if (!ctl->json && n == 0)
		puts("configuration reloaded");
	else if (!ctl->json)
		printf("configuration reloaded, but %zu SNAP file%s rejected: "
		       "their SNAPs are not in force\n", n, n == 1 ? "" : "s");
	json_object_put(result);
	return n ? EX_CONFIG : EX_OK;
}

static int cmd_log_level(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *params, *result = NULL;
	int status;

	params = json_object_new_object();
	json_object_object_add(params, "level", json_object_new_string(argv[0]));
	status = ctl_call_show(ctl, "daemon.set-log-level", params, &result);
	if (status != EX_OK || ctl->json)
		return status;
	printf("log level: %s (was %s)\n", jtext(result, "level"),
	       jtext(result, "previous"));
	json_object_put(result);
	return EX_OK;
}

static int cmd_call(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *params = NULL, *result = NULL;
	int status;

	if (argc > 1) {
		enum json_tokener_error jerr;

		params = json_tokener_parse_verbose(argv[1], &jerr);
		if (!params && jerr != json_tokener_success)
			return usage_error("PARAMS is not valid JSON: %s",
					   json_tokener_error_desc(jerr));
	}
	status = ctl_call_show(ctl, argv[0], params, &result);
	if (status != EX_OK || ctl->json)
		return status;
	puts(json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_SPACED |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(result);
	return EX_OK;
}

static const struct command commands[] = {
	{ "reload", NULL, 0, 0, "", cmd_reload,
	  .help =
	  "Make alrd re-read its configuration file and SNAP files, as SIGHUP\n"
	  "does.  An invalid configuration file is reported (exit status\n"
	  "78) and the running configuration stays in force.  A SNAP file\n"
	  "alrd rejects is named with its problem on standard error, and the\n"
	  "exit status is 78 too: alrd goes on with the other files, without\n"
	  "the rejected SNAPs.\n" },
	{ "log-level", NULL, 1, 1, " LEVEL", cmd_log_level,
	  .complete = ARGS_WORDS, .words = "error warning notice info debug",
	  .help =
	  "Set alrd's log level: error, warning, notice, info or debug.  It\n"
	  "lasts until the next reload or restart.\n" },
	{ "call", NULL, 1, 2, " METHOD [PARAMS]", cmd_call,
	  .help =
	  "Call any METHOD of the protocol with PARAMS, a JSON object, and\n"
	  "print the result as JSON.  For scripts and debugging.\n" },
};

const struct command_family daemon_family = {
	.caption = "The daemon and its IAPs",
	.commands = commands, .n_commands = ARRAY_SIZE(commands),
};
