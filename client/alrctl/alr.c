/*
 * alrctl alr control, alr refresh: taking part in a profile's roaming
 * decisions (alr.control, alr.allow, alr.disallow, alr.refresh).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "ctl.h"
#include "monitor.h"

enum {
	OPT_ALLOW = OPT_COMMAND,
	OPT_DENY,
	OPT_ASK,
	OPT_REFRESH,
};

static const struct option control_options[] = {
	{ "allow",    no_argument, NULL, OPT_ALLOW },
	{ "deny",     no_argument, NULL, OPT_DENY },
	{ "disallow", no_argument, NULL, OPT_DENY },
	{ "ask",      no_argument, NULL, OPT_ASK },
	{ "refresh",  no_argument, NULL, OPT_REFRESH },
	{ NULL, 0, NULL, 0 },
};

static int control_option(struct ctl *ctl, int opt, const char *arg)
{
	enum answer a = opt == OPT_ALLOW ? ANSWER_ALLOW :
			opt == OPT_DENY ? ANSWER_DENY : ANSWER_ASK;

	if (opt == OPT_REFRESH) {
		ctl->refresh = true;
		return EX_OK;
	}
	if (ctl->answer != ANSWER_NONE && ctl->answer != a)
		return usage_error("--allow, --deny and --ask exclude each other");
	ctl->answer = a;
	return EX_OK;
}

/* --ask: "y" or "yes" allows; anything else, or the end of the input,
 * refuses.  -EINTR when SIGINT or SIGTERM came first. */
static int ask_allow(struct ctl *ctl, int64_t iap, const char *name)
{
	char line[LINE_MAX_INPUT], *prompt;
	ssize_t n;
	int len;

	len = asprintf(&prompt, "allow migration of profile %" PRId64 " to IAP %"
		       PRId64 "%s%s%s? [y/N] ", ctl->target, iap,
		       name ? " (" : "", name ? name : "", name ? ")" : "");
	if (len < 0)
		oom();
	fflush(stdout);
	if (!write_all(ctl->tty, prompt, (size_t)len)) {
		free(prompt);
		return 0;
	}
	free(prompt);
	n = read_line_fd(ctl->tty, ctl->sfd, line, sizeof(line));
	if (n == -EINTR) {
		(void)!write_all(ctl->tty, "\n", 1);
		return -EINTR;
	}
	return n > 0 && (!strcasecmp(line, "y") || !strcasecmp(line, "yes"));
}

/* alr.iap-available {profile, snap, iap}: the IAP is an id or an IAP
 * object. */
static void control_answer(struct ctl *ctl, struct json_object *params)
{
	struct json_object *iap = jget(params, "iap"), *got = NULL, *p;
	const char *method, *name = NULL;
	struct alr_error e;
	bool allow = false;
	int64_t iap_id;
	int r;

	if (json_object_is_type(iap, json_type_object)) {
		name = jstr(iap, "name");
		iap = jget(iap, "id");
	}
	if (!iap || !json_object_is_type(iap, json_type_int)) {
		errorf("alr.iap-available without an IAP id: not answered");
		return;
	}
	iap_id = json_object_get_int64(iap);
	switch (ctl->answer) {
	case ANSWER_NONE:
		return;
	case ANSWER_ALLOW:
		allow = true;
		break;
	case ANSWER_DENY:
		allow = false;
		break;
	case ANSWER_ASK:
		/* a name helps the person who decides */
		if (!name &&
		    alr_client_call(ctl->client, "iap.get", id_params("id", iap_id),
				    ctl->timeout_ms, &got, NULL) == 0)
			name = jstr(jget(got, "iap"), "name");
		r = ask_allow(ctl, iap_id, name);
		json_object_put(got);
		if (r < 0) {
			/* SIGINT at the prompt: leave without answering */
			ctl->stop = true;
			return;
		}
		allow = r > 0;
		break;
	}
	method = allow ? "alr.allow" : "alr.disallow";
	p = id_params("profile", ctl->target);
	json_object_object_add(p, "iap", json_object_new_int64(iap_id));
	r = alr_client_call(ctl->client, method, p, ctl->timeout_ms, NULL, &e);
	if (r == -EPROTO && e.code != 0) {
		/* the offer may have been replaced or have timed out: go on */
		errorf("%s", e.message);
		return;
	}
	if (r < 0) {
		ctl->status = report_failure(r, &e);
		ctl->stop = true;
		return;
	}
	if (!ctl->json) {
		print_time(NULL);
		printf(" %-11s profile=%" PRId64 " iap=%" PRId64 "\n", method,
		       ctl->target, iap_id);
	}
	follow_flush(ctl);
}

static void control_event_cb(struct alr_client *client, const char *method,
			     struct json_object *params, void *user_data)
{
	struct ctl *ctl = user_data;

	if (ctl->stop || !event_is_about(params, ctl->target))
		return;
	print_event(ctl, method, params);
	if (profile_gone(ctl, method))
		return;
	if (!strcmp(method, "alr.iap-available"))
		control_answer(ctl, params);
}

static int cmd_alr_control(struct ctl *ctl, int argc, char **argv)
{
	static const char *const topics[] = { "alr.*", "profile.*", NULL };
	static const char *const what[] = {
		[ANSWER_NONE] = "", [ANSWER_ALLOW] = "allowing every migration",
		[ANSWER_DENY] = "refusing every migration",
		[ANSWER_ASK] = "asking on the terminal",
	};
	struct json_object *result = NULL;
	int status;

	status = parse_id(argv[0], "profile id", &ctl->target);
	if (status != EX_OK)
		return status;
	if (ctl->answer == ANSWER_NONE)
		return usage_error("alr control needs --allow, --deny or --ask");
	if (ctl->answer == ANSWER_ASK) {
		ctl->tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (ctl->tty < 0)
			return usage_error("--ask needs a terminal: /dev/tty: %s",
					   strerror(errno));
	}
	status = ctl_start_following(ctl, topics, control_event_cb);
	if (status != EX_OK)
		return status;
	status = ctl_call(ctl, "alr.control", id_params("profile", ctl->target), &result);
	if (status != EX_OK)
		return status;
	if (ctl->json)
		print_json(result);
	else
		printf("controlling profile %" PRId64 ": %s; until interrupted\n",
		       ctl->target, what[ctl->answer]);
	json_object_put(result);
	if (fflush(stdout) != 0)
		return EX_IOERR;
	if (ctl->refresh) {
		/* alrd takes a refresh only from a controller when the profile
		 * has any: this is where alrctl is one */
		struct alr_error e;
		int r = alr_client_call(ctl->client, "alr.refresh",
					id_params("profile", ctl->target),
					ctl->timeout_ms, NULL, &e);

		if (r == -EPROTO && e.code != 0)
			errorf("%s", e.message);    /* not enabled, say: go on */
		else if (r < 0)
			return report_failure(r, &e);
	}
	return ctl_follow(ctl);
}

static int cmd_alr_refresh(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *result = NULL;
	int64_t id;
	int status;

	status = parse_id(argv[0], "profile id", &id);
	if (status != EX_OK)
		return status;
	status = ctl_call_show(ctl, "alr.refresh", id_params("profile", id), &result);
	if (status != EX_OK || ctl->json)
		return status;
	printf("refreshed profile %" PRId64 ": IAPs refused or failed before "
	       "may be offered again\n", id);
	json_object_put(result);
	return EX_OK;
}

static const struct command commands[] = {
	{ "alr", "control", 1, 1, " PROFILE --allow|--deny|--ask [--refresh]", cmd_alr_control,
	  .options = control_options, .option = control_option,
	  .help =
	  "Become a controller of the profile: alrd then asks alrctl before\n"
	  "it moves the profile to a better IAP.  --allow allows every move,\n"
	  "--deny (or --disallow) refuses every move, --ask asks on the\n"
	  "terminal (\"allow migration of profile 3 to IAP 7 (HomeNet)?\n"
	  "[y/N]\").  --refresh first lets alrd offer again the IAPs refused\n"
	  "or failed before.  Prints the profile's events and the answers\n"
	  "given, until SIGINT or SIGTERM (exit status 0); then alrd stops\n"
	  "asking.\n" },
	{ "alr", "refresh", 1, 1, " PROFILE", cmd_alr_refresh,
	  .help =
	  "Let alrd offer the profile IAPs that were refused or failed\n"
	  "before.  When the profile has controllers, alrd takes this only\n"
	  "from one of them: use 'alr control ... --refresh' then.\n" },
};

const struct command_family alr_family = {
	.caption = "Roaming control",
	.commands = commands, .n_commands = ARRAY_SIZE(commands),
};
