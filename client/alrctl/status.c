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

/* For -t and -f: one key: value line per fact, named for scripts. */
static int status_fields(struct json_object *info, struct json_object *iaps,
			 const char *up)
{
	struct json_object *caller = jget(info, "caller"), *nl = jget(info, "netlink");
	struct kvlist l = { 0 };
	size_t n = iaps ? json_object_array_length(iaps) : 0, up_count = 0;
	char buf[32];

	for (size_t i = 0; i < n; i++)
		if (jbool(json_object_array_get_idx(iaps, i), "available"))
			up_count++;
	kv_add(&l, "version", jtext(info, "version"));
	kv_add(&l, "pid", jtext(info, "pid"));
	kv_add(&l, "uptime", up);
	kv_add(&l, "socket", jtext(info, "socket"));
	kv_add(&l, "config", jtext(info, "config_file"));
	kv_add(&l, "state-dir", jtext(info, "state_dir"));
	kv_add(&l, "log-level", jtext(info, "log_level"));
	kv_add(&l, "clients", jtext(info, "clients"));
	if (caller) {
		kv_add(&l, "uid", jtext(caller, "uid"));
		kv_add(&l, "can-control", jbool(caller, "can_control") ? "yes" : "no");
	}
	if (nl) {
		kv_add(&l, "netlink.messages", jtext(nl, "messages"));
		kv_add(&l, "netlink.snapshots", jtext(nl, "snapshots"));
		kv_add(&l, "netlink.resyncs", jtext(nl, "resyncs"));
	}
	snprintf(buf, sizeof(buf), "%zu", n);
	kv_add(&l, "iaps", buf);
	snprintf(buf, sizeof(buf), "%zu", up_count);
	kv_add(&l, "iaps-up", buf);
	return kv_print(&l);
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
	if (ctl->terse || ctl->fields) {
		status = status_fields(info, iaps, up);
		json_object_put(info);
		json_object_put(list);
		return status;
	}
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
	{ "status", NULL, 0, 0, "", cmd_status, .fields = "",
	  .help =
	  "The daemon's version, pid, uptime, socket, state directory, log\n"
	  "level and clients, and a short table of its IAPs.\n" },
};

const struct command_family status_family = {
	.caption = "The daemon and its IAPs",
	.commands = commands, .n_commands = ARRAY_SIZE(commands),
};
