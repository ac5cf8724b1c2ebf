/*
 * alrctl monitor: the daemon's events, one line each; and the following
 * of events that profile enable and alr control share with it.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sysexits.h>
#include <time.h>

#include "ctl.h"
#include "monitor.h"

void print_time(struct json_object *params)
{
	struct json_object *t = jget(params, "time");
	struct timespec ts;
	struct tm tm;
	time_t sec;
	long ms;

	if (t && (json_object_is_type(t, json_type_double) ||
		  json_object_is_type(t, json_type_int))) {
		/* when the daemon decided, not when we read it */
		double d = json_object_get_double(t);

		sec = (time_t)d;
		ms = (long)((d - (double)sec) * 1000);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		sec = ts.tv_sec;
		ms = ts.tv_nsec / 1000000;
	}
	if (ms < 0 || ms > 999)
		ms = 0;
	localtime_r(&sec, &tm);
	printf("%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

/* A string shown bare when it is one plain word, else as a JSON string. */
static bool needs_quotes(const char *s)
{
	if (!*s)
		return true;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '"' || *s == '\\' || *s == 0x7f)
			return true;
	return false;
}

static void put_value(FILE *f, struct json_object *v)
{
	if (json_object_is_type(v, json_type_string) &&
	    !needs_quotes(json_object_get_string(v)))
		fputs(json_object_get_string(v), f);
	else
		fputs(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE), f);
}

/*
 * What an iap.changed changed, from alrd's list of members: changed=link,
 * addresses, nm.state.  Availability and reason are on the line already;
 * link.* and default_route.* are said once, as link and default_route;
 * NetworkManager's members by name, since they say what NetworkManager
 * did.
 */
static void print_changed(struct json_object *changed)
{
	const char *sep = " changed=";
	char last[64] = "";

	for (size_t i = 0; changed && i < json_object_array_length(changed); i++) {
		const char *path = json_object_get_string(json_object_array_get_idx(changed, i));
		size_t len;

		if (!path || !strcmp(path, "available") || !strcmp(path, "reason"))
			continue;
		len = strncmp(path, "nm.", 3) == 0 ? strlen(path) : strcspn(path, ".");
		if (len < sizeof(last) && strlen(last) == len && !strncmp(last, path, len))
			continue;
		printf("%s%.*s", sep, (int)len, path);
		snprintf(last, sizeof(last), "%.*s", (int)len, path);
		sep = ",";
	}
}

/* An object stands for itself by its id and name (or AOR): 7 (HomeNet). */
static void put_ref(FILE *f, struct json_object *v)
{
	struct json_object *id = jget(v, "id");
	const char *name;

	if (!json_object_is_type(v, json_type_object) || !id) {
		put_value(f, v);
		return;
	}
	put_value(f, id);
	name = jstr(v, "name");
	if (!name)
		name = jstr(v, "aor");
	if (name)
		fprintf(f, " (%s)", name);
}

/*
 * The fields of an event a person looks for, as NAME=VALUE: which profile,
 * SNAP and IAP it is about, and why.  Events alrctl does not know yet show
 * sensibly as long as they use the protocol's usual member names; an event
 * with none of them is shown as its JSON.
 */
static char *event_summary(const char *method, struct json_object *params)
{
	static const struct {
		const char *key;
		const char *label;      /* NULL: "profile" for profile.*, else "id" */
	} fields[] = {
		{ "profile", "profile" },
		{ "id",      NULL },
		{ "snap",    "snap" },
		{ "iap",     "iap" },
		{ "iap_id",  "iap" },
		{ "from",    "from" },
		{ "to",      "to" },
		{ "contact", "contact" },
		{ "expires", "expires" },
		{ "reason",  "reason" },
		{ "code",    "code" },
		{ "message", "message" },
	};
	bool is_profile_event = !strncmp(method, "profile.", 8);
	struct json_object *error = jget(params, "error");
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	const char *sep = "";

	if (!f)
		oom();
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		struct json_object *v = jget(params, fields[i].key);
		const char *label = fields[i].label;

		if (!v)
			continue;          /* absent or null */
		if (!label)
			label = is_profile_event ? "profile" : "id";
		fprintf(f, "%s%s=", sep, label);
		put_ref(f, v);
		sep = " ";
		/* a profile object: its registration state too */
		if (!strcmp(fields[i].key, "profile") &&
		    jstr(jget(v, "state"), "registration"))
			fprintf(f, " state=%s", jstr(jget(v, "state"), "registration"));
	}
	/* an error object: {code, message} */
	if (error && json_object_is_type(error, json_type_object)) {
		if (jget(error, "code")) {
			fprintf(f, "%scode=", sep);
			put_value(f, jget(error, "code"));
			sep = " ";
		}
		if (jget(error, "message")) {
			fprintf(f, "%smessage=", sep);
			put_value(f, jget(error, "message"));
			sep = " ";
		}
	} else if (error) {
		fprintf(f, "%serror=", sep);
		put_value(f, error);
		sep = " ";
	}
	if (!*sep && params)
		put_value(f, params);
	fclose(f);
	if (!out)
		oom();
	return out;
}

void follow_flush(struct ctl *ctl)
{
	if (fflush(stdout) != 0 && ctl->status == EX_OK) {
		ctl->status = EX_IOERR;
		ctl->stop = true;
	}
}

void print_event(struct ctl *ctl, const char *method,
		 struct json_object *params)
{
	struct json_object *iap = jget(params, "iap");

	if (ctl->json) {
		struct json_object *ev = new_object();

		json_object_object_add(ev, "jsonrpc", json_object_new_string("2.0"));
		json_object_object_add(ev, "method", json_object_new_string(method));
		if (params)
			json_object_object_add(ev, "params", json_object_get(params));
		print_json(ev);
		json_object_put(ev);
	} else if (!strncmp(method, "iap.", 4) && iap &&
		   json_object_is_type(iap, json_type_object)) {
		const char *reason = jstr(iap, "reason");

		int64_t other;

		print_time(params);
		printf(" %-11s %s %s %s %s%s%s%s", method, jtext(iap, "id"),
		       jtext(iap, "name"), jtext(iap, "kind"),
		       jbool(iap, "available") ? "available" : "unavailable",
		       reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
		/* An identity switch (interface <-> NetworkManager connection):
		 * the other IAP of the pair. */
		if (jint64(iap, "replaces", &other))
			printf(" replaces=%" PRId64, other);
		if (jint64(iap, "replaced_by", &other))
			printf(" replaced_by=%" PRId64, other);
		print_changed(result_array(params, "changed"));
		putchar('\n');
	} else {
		char *summary = event_summary(method, params);

		print_time(params);
		printf(" %-11s%s%s\n", method, *summary ? " " : "", summary);
		free(summary);
	}
	follow_flush(ctl);
}

/* The profile an event is about: "profile" (an id or a profile object),
 * else "id" (profile.* events). */
bool event_is_about(struct json_object *params, int64_t id)
{
	struct json_object *v = jget(params, "profile");
	int64_t got;

	if (v && json_object_is_type(v, json_type_object))
		return jint64(v, "id", &got) && got == id;
	if (v)
		return json_object_is_type(v, json_type_int) &&
		       json_object_get_int64(v) == id;
	return jint64(params, "id", &got) && got == id;
}

/* Signals arrive as readable data on ctl->sfd, so that SIGINT between a
 * check and poll() cannot be lost. */
static int ctl_watch_signals(struct ctl *ctl)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (ctl->sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		errorf("cannot watch signals: %s", strerror(errno));
		return EX_OSERR;
	}
	return EX_OK;
}

/* Deliver events until SIGINT or SIGTERM (then ctl->status, normally 0),
 * a callback stops, or the connection ends (69, or 76 for garbage). */
int ctl_follow(struct ctl *ctl)
{
	struct pollfd pfd[2];
	int r;

	pfd[0].fd = alr_client_fd(ctl->client);
	pfd[0].events = POLLIN;
	pfd[1].fd = ctl->sfd;
	pfd[1].events = POLLIN;
	for (;;) {
		/* the first round delivers the events that came along with
		 * earlier answers: they do not make the fd readable */
		r = alr_client_dispatch(ctl->client);
		if (ctl->stop || ctl->status != EX_OK)
			break;
		if (r < 0) {
			if (r == -ECONNRESET)
				errorf("alrd closed the connection");
			else if (r == -EPROTO)
				errorf("alrd sent something that is not its protocol");
			else
				errorf("connection to alrd lost: %s", strerror(-r));
			ctl->status = r == -EPROTO ? EX_PROTOCOL : EX_UNAVAILABLE;
			break;
		}
		do {
			r = poll(pfd, 2, -1);
		} while (r < 0 && errno == EINTR);
		if (r < 0) {
			errorf("poll: %s", strerror(errno));
			ctl->status = EX_OSERR;
			break;
		}
		if (pfd[1].revents)
			break;            /* SIGINT or SIGTERM: a normal end */
	}
	return ctl->status;
}

/* Connect, watch signals, take events with @cb, subscribe to @topics. */
int ctl_start_following(struct ctl *ctl, const char *const *topics,
			alr_event_cb cb)
{
	struct alr_error e;
	int status, r;

	status = ctl->client ? EX_OK : ctl_connect(ctl);
	if (status != EX_OK)
		return status;
	status = ctl_watch_signals(ctl);
	if (status != EX_OK)
		return status;
	alr_client_set_event_handler(ctl->client, cb, ctl);
	r = alr_client_subscribe(ctl->client, topics, ctl->timeout_ms, &e);
	if (r < 0)
		return report_failure(r, &e);
	return EX_OK;
}

/* The use ends with the connection; these end it from the other side. */
bool profile_gone(struct ctl *ctl, const char *method)
{
	if (!strcmp(method, "profile.destroyed"))
		errorf("profile %" PRId64 " was deleted", ctl->target);
	else if (!strcmp(method, "profile.forcibly-disabled"))
		errorf("profile %" PRId64 " was disabled by force: every use of it ended",
		       ctl->target);
	else
		return false;
	ctl->status = EX_UNAVAILABLE;
	ctl->stop = true;
	return true;
}

/* --- monitor --- */

static void monitor_event_cb(struct alr_client *client, const char *method,
			     struct json_object *params, void *user_data)
{
	struct ctl *ctl = user_data;

	if (!ctl->stop)
		print_event(ctl, method, params);
}

static int cmd_monitor(struct ctl *ctl, int argc, char **argv)
{
	static const char *const all[] = { "*", NULL };
	/* argv is NULL-terminated, as main()'s is */
	const char *const *topics = argc > 0 ? (const char *const *)argv : all;
	int status;

	status = ctl_start_following(ctl, topics, monitor_event_cb);
	if (status != EX_OK)
		return status;
	return ctl_follow(ctl);
}

static const struct command commands[] = {
	{ "monitor", NULL, 0, -1, " [TOPIC...]", cmd_monitor,
	  .help =
	  "Follow events whose name matches one of the TOPICs (shell\n"
	  "patterns such as 'iap.*' or 'profile.*'; default '*'), one line\n"
	  "each: local time, event, then what it is about: for IAP events\n"
	  "the IAP's id, name, kind, availability and reason, and in an\n"
	  "identity switch replaces=ID or replaced_by=ID, in iap.changed\n"
	  "changed=MEMBER,... (what changed: nm.state, addresses, ...);\n"
	  "for the others the fields it carries as NAME=VALUE (profile,\n"
	  "snap, iap, from, to, contact, expires, reason, code, message).\n"
	  "Runs until SIGINT or SIGTERM (exit status 0) or until alrd goes\n"
	  "away (69).\n" },
};

const struct command_family monitor_family = {
	.caption = "The daemon and its IAPs",
	.commands = commands, .n_commands = ARRAY_SIZE(commands),
};
