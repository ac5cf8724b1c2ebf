/* alr-sipreg: run SIP bindings (sip/binding.h) in a real loop, for the
 * integration tests and the benchmark.  A test harness, not a product.
 *
 *   alr-sipreg --aor sip:alice@example.test --registrar sip:10.99.100.1 \
 *              --user alice --password secret --iface wlan0 \
 *              --local-addr 10.99.1.2 [--expires 600] [--transport tcp] \
 *              [--proxy URI] [--realm R] [--contact-user U] \
 *              [--instance urn:uuid:...|--no-instance] [--param P]... \
 *              [--header 'Name: value']... [--call-id X] [--cseq N] \
 *              [--start] [--debug] [--next ...another binding...]
 *
 * --next starts the options of another binding, which inherits the ones
 * before it.  Commands on stdin, one per line, optionally prefixed with
 * "@N " for binding N (default 0):
 *   register [IFACE ADDR]     start (default: --iface/--local-addr)
 *   unregister                stop (deregister)
 *   move IFACE ADDR
 *   remove-contact URI [IFACE ADDR]
 *   query [IFACE ADDR]
 *   info                      state, contacts, stack counters
 *   quit
 * Each event, state change and command result is one JSON line on stdout,
 * flushed; "t" is CLOCK_MONOTONIC in milliseconds.  Logs go to stderr. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <json-c/json.h>

#include "base/log.h"
#include "base/util.h"
#include "sip/binding.h"
#include "sip/stack.h"
#include "tests/tools/contact-list.h"

#define MAX_BINDINGS 8
#define MAX_LIST 16

struct opts {
	const char *aor, *registrar, *proxy, *user, *password, *realm;
	const char *iface, *local_addr, *transport, *contact_user;
	const char *instance, *call_id;
	unsigned expires;
	uint32_t cseq;
	bool no_instance, start;
	const char *params[MAX_LIST];
	size_t n_params;
	struct sipmsg_header headers[MAX_LIST];
	char *header_bufs[MAX_LIST];
	size_t n_headers;
};

struct slot {
	int index;
	struct opts o;
	char *registrar_uri;
	struct binding *b;
	struct contact_list contacts;   /* the binding's (sip/binding.h) */
};

static struct ev_loop *loop;
static struct sip_stack *stack;
static struct slot slots[MAX_BINDINGS];
static int n_slots;
static ev_io stdin_io;
static ev_signal sigterm_w, sigint_w;
static char linebuf[4096];
static size_t linelen;

static double now_ms(void)
{
	return (double)util_now_monotonic_us() / 1000.0;
}

static void emit(struct json_object *o)
{
	json_object_object_add(o, "t", json_object_new_double(now_ms()));
	fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), stdout);
	fputc('\n', stdout);
	fflush(stdout);
	json_object_put(o);
}

static struct json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static struct json_object *event_new(const char *name, int index)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "event", json_object_new_string(name));
	if (index >= 0)
		json_object_object_add(o, "index", json_object_new_int(index));
	return o;
}

static void observer(struct binding *b, const struct binding_event *ev,
		     void *user_data)
{
	struct slot *sl = user_data;
	struct json_object *o = event_new(binding_event_type_to_str(ev->type),
					  sl->index);

	json_object_object_add(o, "id", json_object_new_int((int)binding_get_id(b)));
	json_object_object_add(o, "old", json_object_new_string(
		binding_state_to_str(ev->old_state)));
	json_object_object_add(o, "new", json_object_new_string(
		binding_state_to_str(ev->new_state)));
	json_object_object_add(o, "error", json_object_new_string(
		binding_error_to_str(ev->error)));
	json_object_object_add(o, "permanent",
		json_object_new_boolean(binding_error_is_permanent(ev->error)));
	json_object_object_add(o, "code", json_object_new_int(ev->code));
	json_object_object_add(o, "reason", json_object_new_string(ev->reason));
	json_object_object_add(o, "contact", str_or_null(ev->contact));
	json_object_object_add(o, "ifname", str_or_null(ev->ifname));
	json_object_object_add(o, "expires", json_object_new_int((int)ev->expires));
	json_object_object_add(o, "retry_ms",
			       json_object_new_int64((int64_t)ev->retry_ms));
	json_object_object_add(o, "cseq",
			       json_object_new_int64(binding_get_cseq(b)));
	if (ev->type == BINDING_EVENT_QUERY) {
		struct json_object *a = json_object_new_array();

		for (size_t i = 0; i < ev->n_contacts; i++) {
			struct json_object *c = json_object_new_object();

			json_object_object_add(c, "uri",
				json_object_new_string(ev->contacts[i].uri));
			json_object_object_add(c, "expires",
				json_object_new_int(ev->contacts[i].expires));
			json_object_array_add(a, c);
		}
		json_object_object_add(o, "contacts", a);
	}
	emit(o);
}

static void persist(const struct binding_persist *p, void *user_data)
{
	struct slot *sl = user_data;
	struct json_object *o = event_new("persist", sl->index);

	json_object_object_add(o, "call_id", json_object_new_string(p->call_id));
	json_object_object_add(o, "cseq", json_object_new_int64(p->cseq));
	json_object_object_add(o, "contact", str_or_null(p->contact));
	json_object_object_add(o, "ifname", str_or_null(p->ifname));
	json_object_object_add(o, "expires", json_object_new_int((int)p->expires));
	emit(o);
}

/* start: when the command began (the benchmark times from there). */
static void reply(const char *cmd, int index, int r, double start)
{
	struct json_object *o = event_new(r < 0 ? "error" : "ok", index);

	json_object_object_add(o, "cmd", json_object_new_string(cmd));
	json_object_object_add(o, "start", json_object_new_double(start));
	if (r < 0)
		json_object_object_add(o, "message",
				       json_object_new_string(strerror(-r)));
	emit(o);
}

static void info(struct slot *sl)
{
	struct json_object *o = event_new("info", sl->index);
	struct json_object *known = json_object_new_array();
	struct sip_stack_stats st;
	enum binding_error err = BINDING_ERROR_NONE;
	const char *reason = NULL, *ifname;
	int code;

	json_object_object_add(o, "state", json_object_new_string(
		binding_state_to_str(binding_get_state(sl->b))));
	json_object_object_add(o, "call_id",
			       json_object_new_string(binding_get_call_id(sl->b)));
	json_object_object_add(o, "cseq",
			       json_object_new_int64(binding_get_cseq(sl->b)));
	json_object_object_add(o, "contact",
			       str_or_null(binding_get_contact(sl->b)));
	json_object_object_add(o, "expires",
			       json_object_new_int((int)binding_get_expires(sl->b)));
	code = binding_get_last_error(sl->b, &err, &reason);
	json_object_object_add(o, "last_code", json_object_new_int(code));
	json_object_object_add(o, "last_error",
			       json_object_new_string(binding_error_to_str(err)));
	json_object_object_add(o, "last_reason", str_or_null(reason));
	for (size_t i = 0;;) {
		const char *uri = contact_list_next(&sl->contacts, &i, &ifname);
		struct json_object *c;

		if (!uri)
			break;
		c = json_object_new_object();
		json_object_object_add(c, "uri", json_object_new_string(uri));
		json_object_object_add(c, "ifname", json_object_new_string(ifname));
		json_object_array_add(known, c);
	}
	json_object_object_add(o, "known", known);
	sip_stack_get_stats(stack, &st);
	json_object_object_add(o, "requests_sent", json_object_new_int64((int64_t)st.requests_sent));
	json_object_object_add(o, "retransmissions", json_object_new_int64((int64_t)st.retransmissions));
	json_object_object_add(o, "responses_received", json_object_new_int64((int64_t)st.responses_received));
	json_object_object_add(o, "requests_received", json_object_new_int64((int64_t)st.requests_received));
	json_object_object_add(o, "responses_sent", json_object_new_int64((int64_t)st.responses_sent));
	json_object_object_add(o, "dropped", json_object_new_int64((int64_t)st.dropped));
	json_object_object_add(o, "transports_opened", json_object_new_int64((int64_t)st.transports_opened));
	emit(o);
}

static void quit(void)
{
	for (int i = 0; i < n_slots; i++)
		slots[i].b = binding_free(slots[i].b);
	ev_io_stop(loop, &stdin_io);
	ev_signal_stop(loop, &sigterm_w);
	ev_signal_stop(loop, &sigint_w);
	ev_break(loop, EVBREAK_ALL);
}

static void command(char *line)
{
	char *argv[8] = { NULL };
	int argc = 0, index = 0, r;
	struct slot *sl;
	char *save = NULL;
	double start = now_ms();

	for (char *tok = strtok_r(line, " \t\r", &save); tok && argc < 8;
	     tok = strtok_r(NULL, " \t\r", &save))
		argv[argc++] = tok;
	if (argc == 0)
		return;
	if (argv[0][0] == '@') {
		index = atoi(argv[0] + 1);
		memmove(argv, argv + 1, sizeof(argv) - sizeof(argv[0]));
		argc--;
		if (argc == 0)
			return;
	}
	if (strcmp(argv[0], "quit") == 0) {
		reply("quit", -1, 0, start);
		quit();
		return;
	}
	if (index < 0 || index >= n_slots) {
		reply(argv[0], index, -ENOENT, start);
		return;
	}
	sl = &slots[index];
	if (strcmp(argv[0], "register") == 0) {
		r = binding_start(sl->b, argc >= 3 ? argv[1] : sl->o.iface,
				  argc >= 3 ? argv[2] : sl->o.local_addr);
	} else if (strcmp(argv[0], "unregister") == 0) {
		r = binding_stop(sl->b);
	} else if (strcmp(argv[0], "move") == 0 && argc >= 3) {
		r = binding_move(sl->b, argv[1], argv[2]);
	} else if (strcmp(argv[0], "remove-contact") == 0 && argc >= 2) {
		r = binding_remove_contact(sl->b, argv[1],
					   argc >= 4 ? argv[2] : NULL,
					   argc >= 4 ? argv[3] : NULL);
	} else if (strcmp(argv[0], "query") == 0) {
		r = binding_query(sl->b, argc >= 3 ? argv[1] : NULL,
				  argc >= 3 ? argv[2] : NULL);
	} else if (strcmp(argv[0], "info") == 0) {
		info(sl);
		return;
	} else {
		r = -EINVAL;
	}
	reply(argv[0], index, r, start);
}

static void stdin_cb(struct ev_loop *l, ev_io *w, int revents)
{
	ssize_t n = read(w->fd, linebuf + linelen, sizeof(linebuf) - 1 - linelen);
	char *nl;

	if (n <= 0) {
		if (n < 0 && errno == EINTR)
			return;
		quit();
		return;
	}
	linelen += (size_t)n;
	linebuf[linelen] = '\0';
	while ((nl = strchr(linebuf, '\n'))) {
		*nl = '\0';
		command(linebuf);
		if (!ev_is_active(&stdin_io))
			return;
		memmove(linebuf, nl + 1, linelen - (size_t)(nl + 1 - linebuf) + 1);
		linelen -= (size_t)(nl + 1 - linebuf);
	}
	if (linelen == sizeof(linebuf) - 1)
		linelen = 0;            /* an overlong line: dropped */
}

static void signal_cb(struct ev_loop *l, ev_signal *w, int revents)
{
	quit();
}

static void usage(void)
{
	fprintf(stderr, "usage: alr-sipreg --aor URI --registrar URI --iface IF "
		"--local-addr ADDR [options] (see the source)\n");
	exit(2);
}

enum {
	OPT_AOR = 1000, OPT_REGISTRAR, OPT_PROXY, OPT_USER, OPT_PASSWORD,
	OPT_REALM, OPT_IFACE, OPT_LOCAL, OPT_EXPIRES, OPT_TRANSPORT,
	OPT_CONTACT_USER, OPT_INSTANCE, OPT_NO_INSTANCE, OPT_PARAM,
	OPT_HEADER, OPT_CALL_ID, OPT_CSEQ, OPT_START, OPT_DEBUG, OPT_NEXT,
};

static const struct option longopts[] = {
	{ "aor", required_argument, NULL, OPT_AOR },
	{ "registrar", required_argument, NULL, OPT_REGISTRAR },
	{ "proxy", required_argument, NULL, OPT_PROXY },
	{ "user", required_argument, NULL, OPT_USER },
	{ "password", required_argument, NULL, OPT_PASSWORD },
	{ "realm", required_argument, NULL, OPT_REALM },
	{ "iface", required_argument, NULL, OPT_IFACE },
	{ "local-addr", required_argument, NULL, OPT_LOCAL },
	{ "expires", required_argument, NULL, OPT_EXPIRES },
	{ "transport", required_argument, NULL, OPT_TRANSPORT },
	{ "contact-user", required_argument, NULL, OPT_CONTACT_USER },
	{ "instance", required_argument, NULL, OPT_INSTANCE },
	{ "no-instance", no_argument, NULL, OPT_NO_INSTANCE },
	{ "param", required_argument, NULL, OPT_PARAM },
	{ "header", required_argument, NULL, OPT_HEADER },
	{ "call-id", required_argument, NULL, OPT_CALL_ID },
	{ "cseq", required_argument, NULL, OPT_CSEQ },
	{ "start", no_argument, NULL, OPT_START },
	{ "debug", no_argument, NULL, OPT_DEBUG },
	{ "next", no_argument, NULL, OPT_NEXT },
	{ NULL, 0, NULL, 0 },
};

static void parse_args(int argc, char **argv)
{
	struct opts *o;
	int c;

	n_slots = 1;
	o = &slots[0].o;
	o->expires = 600;
	o->contact_user = "alrd";
	o->instance = "urn:uuid:9a0c3b7e-5d1f-4c8a-9e2b-1f6d3c5a7b90";
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_AOR: o->aor = optarg; break;
		case OPT_REGISTRAR: o->registrar = optarg; break;
		case OPT_PROXY: o->proxy = optarg; break;
		case OPT_USER: o->user = optarg; break;
		case OPT_PASSWORD: o->password = optarg; break;
		case OPT_REALM: o->realm = optarg; break;
		case OPT_IFACE: o->iface = optarg; break;
		case OPT_LOCAL: o->local_addr = optarg; break;
		case OPT_EXPIRES: o->expires = (unsigned)strtoul(optarg, NULL, 10); break;
		case OPT_TRANSPORT: o->transport = optarg; break;
		case OPT_CONTACT_USER: o->contact_user = optarg; break;
		case OPT_INSTANCE: o->instance = optarg; o->no_instance = false; break;
		case OPT_NO_INSTANCE: o->no_instance = true; break;
		case OPT_PARAM:
			if (o->n_params < MAX_LIST)
				o->params[o->n_params++] = optarg;
			break;
		case OPT_HEADER: {
			char *copy, *colon;

			if (o->n_headers >= MAX_LIST)
				break;
			copy = strdup(optarg);
			colon = copy ? strchr(copy, ':') : NULL;
			if (!colon)
				usage();
			*colon++ = '\0';
			while (*colon == ' ')
				colon++;
			o->header_bufs[o->n_headers] = copy;
			o->headers[o->n_headers++] = (struct sipmsg_header){ copy, colon };
			break;
		}
		case OPT_CALL_ID: o->call_id = optarg; break;
		case OPT_CSEQ: o->cseq = (uint32_t)strtoul(optarg, NULL, 10); break;
		case OPT_START: o->start = true; break;
		case OPT_DEBUG: log_set_level(LOG_DEBUG); break;
		case OPT_NEXT:
			if (n_slots == MAX_BINDINGS)
				usage();
			slots[n_slots].o = *o;
			/* header strings stay owned by the first */
			memset(slots[n_slots].o.header_bufs, 0,
			       sizeof(slots[n_slots].o.header_bufs));
			o = &slots[n_slots++].o;
			o->call_id = NULL;
			o->cseq = 0;
			break;
		default:
			usage();
		}
	}
	for (int i = 0; i < n_slots; i++)
		if (!slots[i].o.aor || !slots[i].o.registrar)
			usage();
}

int main(int argc, char **argv)
{
	int rc = 0;

	log_open("alr-sipreg", LOG_TARGET_STDERR, true);
	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	loop = ev_loop_new(EVFLAG_AUTO);
	stack = loop ? sip_stack_new(loop) : NULL;
	if (!stack) {
		fprintf(stderr, "alr-sipreg: cannot set up: %m\n");
		return 1;
	}
	for (int i = 0; i < n_slots; i++) {
		struct slot *sl = &slots[i];
		struct opts *o = &sl->o;
		struct binding_config cfg;
		size_t n;

		sl->index = i;
		n = strlen(o->registrar) + 32;
		sl->registrar_uri = malloc(n);
		if (!sl->registrar_uri)
			return 1;
		if (o->transport && !strstr(o->registrar, ";transport="))
			snprintf(sl->registrar_uri, n, "%s;transport=%s",
				 o->registrar, o->transport);
		else
			snprintf(sl->registrar_uri, n, "%s", o->registrar);
		cfg = (struct binding_config){
			.aor = o->aor,
			.registrar = sl->registrar_uri,
			.outbound_proxy = o->proxy,
			.username = o->user,
			.realm = o->realm,
			.password = o->password,
			.expires = o->expires,
			.contact_user = o->contact_user,
			.instance = o->no_instance ? NULL : o->instance,
			.contact_params = o->params,
			.n_contact_params = o->n_params,
			.extra_headers = o->headers,
			.n_extra_headers = o->n_headers,
			.call_id = o->call_id,
			.cseq = o->cseq,
			.user_agent = "alr-sipreg",
		};
		sl->b = binding_new(stack, &cfg);
		if (!sl->b) {
			fprintf(stderr, "alr-sipreg: binding %d: %m\n", i);
			return 2;
		}
		binding_add_observer(sl->b, observer, sl, NULL);
		sl->contacts.tap = persist;
		sl->contacts.tap_data = sl;
		binding_set_contacts(sl->b, &contact_list_ops, &sl->contacts);
	}
	{
		struct json_object *o = event_new("ready", -1);
		struct json_object *a = json_object_new_array();

		for (int i = 0; i < n_slots; i++) {
			struct json_object *b = json_object_new_object();

			json_object_object_add(b, "index", json_object_new_int(i));
			json_object_object_add(b, "id", json_object_new_int(
				(int)binding_get_id(slots[i].b)));
			json_object_object_add(b, "call_id", json_object_new_string(
				binding_get_call_id(slots[i].b)));
			json_object_array_add(a, b);
		}
		json_object_object_add(o, "bindings", a);
		emit(o);
	}
	for (int i = 0; i < n_slots; i++)
		if (slots[i].o.start)
			reply("register", i, binding_start(slots[i].b,
				slots[i].o.iface, slots[i].o.local_addr), now_ms());

	ev_io_init(&stdin_io, stdin_cb, STDIN_FILENO, EV_READ);
	ev_io_start(loop, &stdin_io);
	ev_signal_init(&sigterm_w, signal_cb, SIGTERM);
	ev_signal_start(loop, &sigterm_w);
	ev_signal_init(&sigint_w, signal_cb, SIGINT);
	ev_signal_start(loop, &sigint_w);
	ev_run(loop, 0);

	for (int i = 0; i < n_slots; i++) {
		slots[i].b = binding_free(slots[i].b);
		free(slots[i].registrar_uri);
		for (size_t j = 0; j < slots[i].o.n_headers; j++)
			free(slots[i].o.header_bufs[j]);
	}
	sip_stack_free(stack);
	ev_loop_destroy(loop);
	{
		struct json_object *o = event_new("bye", -1);

		emit(o);
	}
	log_close();
	return rc;
}
