/*
 * alr-nmmon: the NetworkManager monitor on its own, for the integration
 * tests (tests/integration/test_nm_monitor.py) and for looking at what
 * nmmon sees on a real machine.
 *
 * Prints one JSON object per line on stdout, flushed:
 *
 *   {"event":"started"}                      after nmmon_start()
 *   {"event":"running","running":true}
 *   {"event":"conn_changed","uuid":...,"id":...,"kind":..., ...}
 *   {"event":"conn_removed","uuid":...}
 *
 * and exits 0 on SIGTERM or SIGINT.  Logs go to stderr (-v: debug).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <json-c/json.h>

#include "base/log.h"
#include "nm/nmmon.h"

static void emit(struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

	fputs(s, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	json_object_put(o);
}

static struct json_object *event(const char *name)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "event", json_object_new_string(name));
	return o;
}

static struct json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static void on_running(bool running, void *user_data)
{
	struct json_object *o = event("running");

	json_object_object_add(o, "running", json_object_new_boolean(running));
	emit(o);
}

static void on_conn_changed(const struct nmmon_conn *c, void *user_data)
{
	struct json_object *o = event("conn_changed");

	json_object_object_add(o, "uuid", str_or_null(c->uuid));
	json_object_object_add(o, "id", str_or_null(c->id));
	json_object_object_add(o, "kind", json_object_new_string(
		iap_kind_to_str(nmmon_kind_for(c->device_type, c->conn_type, c->vpn))));
	json_object_object_add(o, "conn_type", str_or_null(c->conn_type));
	json_object_object_add(o, "device_type", str_or_null(c->device_type));
	json_object_object_add(o, "iface", str_or_null(c->iface));
	json_object_object_add(o, "ifindex", json_object_new_int(c->ifindex));
	json_object_object_add(o, "state", json_object_new_string(
		nmmon_conn_state_to_str(c->state)));
	json_object_object_add(o, "primary", json_object_new_boolean(c->primary));
	json_object_object_add(o, "metered", json_object_new_boolean(c->metered));
	json_object_object_add(o, "vpn", json_object_new_boolean(c->vpn));
	json_object_object_add(o, "ssid", str_or_null(c->ssid));
	json_object_object_add(o, "bssid", str_or_null(c->bssid));
	json_object_object_add(o, "strength", json_object_new_int(c->strength));
	json_object_object_add(o, "modem_caps", str_or_null(c->modem_caps));
	emit(o);
}

static void on_conn_removed(const char *uuid, void *user_data)
{
	struct json_object *o = event("conn_removed");

	json_object_object_add(o, "uuid", json_object_new_string(uuid));
	emit(o);
}

static const struct nmmon_ops ops = {
	.running = on_running,
	.conn_changed = on_conn_changed,
	.conn_removed = on_conn_removed,
};

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_info("received %s, stopping", strsignal(w->signum));
	ev_break(loop, EVBREAK_ALL);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: alr-nmmon [-v]\n"
		   "Prints what alrd's NetworkManager monitor sees, one JSON object per line.\n"
		   "  -v, --verbose   debug logging on stderr\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ev_loop *loop;
	ev_signal sigterm, sigint;
	struct nmmon *m;
	int c, r;

	log_open("alr-nmmon", LOG_TARGET_STDERR, true);
	log_set_level(LOG_INFO);
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	loop = ev_default_loop(EVFLAG_AUTO);
	if (!loop) {
		log_err("cannot create the event loop");
		return 1;
	}
	ev_signal_init(&sigterm, on_signal, SIGTERM);
	ev_signal_init(&sigint, on_signal, SIGINT);
	ev_signal_start(loop, &sigterm);
	ev_signal_start(loop, &sigint);
	signal(SIGPIPE, SIG_IGN);

	m = nmmon_new(loop, &ops, NULL);
	if (!m) {
		log_err("cannot create the NetworkManager monitor");
		return 1;
	}
	r = nmmon_start(m);
	if (r < 0) {
		log_errno(LOG_ERR, r, "cannot start the NetworkManager monitor: %m");
		nmmon_free(m);
		return 1;
	}
	emit(event("started"));

	ev_run(loop, 0);

	nmmon_free(m);
	ev_signal_stop(loop, &sigterm);
	ev_signal_stop(loop, &sigint);
	ev_loop_destroy(loop);
	return 0;
}
