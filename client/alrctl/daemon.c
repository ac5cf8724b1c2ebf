/*
 * alrctl reload, log-level, call: acting on the daemon itself
 * (daemon.reload, daemon.set-log-level, and any method).
 */
#include <stdio.h>
#include <sysexits.h>

#include "ctl.h"

static int cmd_reload(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *result = NULL;
	int status;

	status = ctl_call_show(ctl, "daemon.reload", NULL, &result);
	if (status != EX_OK || ctl->json)
		return status;
	puts("configuration reloaded");
	json_object_put(result);
	return EX_OK;
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
	  "does.  An invalid file is reported (exit status 78) and the\n"
	  "running configuration stays in force.\n" },
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
