/*
 * alrctl status: the daemon at a glance (daemon.info), with a short table
 * of its IAPs.
 */
#include <stdio.h>
#include <sysexits.h>

#include "ctl.h"
#include "iap.h"

static void format_uptime(double secs, char *buf, size_t size)
{
	unsigned long s = secs > 0 ? (unsigned long)secs : 0;
	unsigned long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

	s %= 60;
	if (d)
		snprintf(buf, size, "%lud %luh %02lum", d, h, m);
	else if (h)
		snprintf(buf, size, "%luh %02lum %02lus", h, m, s);
	else if (m)
		snprintf(buf, size, "%lum %02lus", m, s);
	else
		snprintf(buf, size, "%lus", s);
}

static int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *info = NULL, *list = NULL, *iaps, *caller, *nl;
	struct json_object *uptime;
	char up[64];
	int status;

	status = ctl_call_show(ctl, "daemon.info", NULL, &info);
	if (status != EX_OK || ctl->json)
		return status;
	status = ctl_call(ctl, "iap.list", NULL, &list);
	if (status != EX_OK) {
		json_object_put(info);
		return status;
	}
	iaps = result_array(list, "iaps");

	uptime = jget(info, "uptime");
	format_uptime(uptime ? json_object_get_double(uptime) : 0, up, sizeof(up));
	printf("version:    %s\n", jtext(info, "version"));
	printf("pid:        %s\n", jtext(info, "pid"));
	printf("uptime:     %s\n", up);
	printf("socket:     %s\n", jtext(info, "socket"));
	printf("config:     %s\n", jtext(info, "config_file"));
	printf("state dir:  %s\n", jtext(info, "state_dir"));
	printf("log level:  %s\n", jtext(info, "log_level"));
	printf("clients:    %s\n", jtext(info, "clients"));
	caller = jget(info, "caller");
	if (caller)
		printf("you:        uid %s, %s\n", jtext(caller, "uid"),
		       jbool(caller, "can_control") ? "may control" : "read only");
	nl = jget(info, "netlink");
	if (nl)
		printf("netlink:    %s messages, %s snapshots, %s resyncs\n",
		       jtext(nl, "messages"), jtext(nl, "snapshots"),
		       jtext(nl, "resyncs"));
	if ((nl = jget(info, "edge")))         /* docs/edge.md */
		printf("edge:       %s\n", jbool(nl, "enabled") ? json_object_to_json_string_ext(jget(nl, "listen"), JSON_C_TO_STRING_PLAIN) : "off");
	if (iaps) {
		size_t n = json_object_array_length(iaps), up_count = 0;

		for (size_t i = 0; i < n; i++)
			if (jbool(json_object_array_get_idx(iaps, i), "available"))
				up_count++;
		printf("IAPs:       %zu (%zu up)\n", n, up_count);
		if (n > 0) {
			putchar('\n');
			print_iap_table(iaps, false, "    ");
		}
	} else {
		printf("IAPs:       %s\n", jtext(info, "iaps"));
	}
	json_object_put(info);
	json_object_put(list);
	return EX_OK;
}

static const struct command commands[] = {
	{ "status", NULL, 0, 0, "", cmd_status,
	  .help =
	  "The daemon's version, pid, uptime, socket, state directory, log\n"
	  "level and clients, and a short table of its IAPs.\n" },
};

const struct command_family status_family = {
	.caption = "The daemon and its IAPs",
	.commands = commands, .n_commands = ARRAY_SIZE(commands),
};
