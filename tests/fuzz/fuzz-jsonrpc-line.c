/* libFuzzer target: arbitrary bytes from a control client.
 *
 * The real control server (daemon/control.c: framing, parsing, dispatch,
 * permissions, deferred answers, subscriptions, output queue) listens on
 * a UNIX socket in a temporary directory; each input is written by a new
 * connection, which then half-closes, and the loop runs until the server
 * has closed it.  A small method table stands in for api-*.c: "echo",
 * "check" (jsonrpc_check_params), "defer" (answered on the next turn of
 * the loop, so that later lines wait behind it), "sub" (topics from the
 * params) and "event" (a broadcast carrying the params).
 *
 * Every line the server writes must be UTF-8 and one JSON-RPC 2.0 object
 * (docs/protocol.md): abort() otherwise, so that libFuzzer reports it. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>
#include <json-c/json.h>

#include "alr/types.h"
#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/jsonrpc.h"
#include "base/log.h"

#define MAX_INPUT 65536

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static struct config cfg;
static struct control *ctl;
static char sock_path[108];
static struct control_deferred *pending[8];
static size_t n_pending;

static int m_echo(void *ud, struct control_client *cl, struct json_object *params,
		  struct json_object **ret, struct jsonrpc_error *err)
{
	*ret = params ? json_object_get(params) : NULL;
	return 0;
}

static int m_check(void *ud, struct control_client *cl, struct json_object *params,
		   struct json_object **ret, struct jsonrpc_error *err)
{
	static const struct jsonrpc_param spec[] = {
		{ "id", json_type_int, true },
		{ "name", json_type_string, false },
	};

	return jsonrpc_check_params(params, spec, 2, err);
}

static int m_defer(void *ud, struct control_client *cl, struct json_object *params,
		   struct json_object **ret, struct jsonrpc_error *err)
{
	struct control_deferred *d;

	if (n_pending == sizeof(pending) / sizeof(pending[0]))
		return -EBUSY;
	d = control_client_defer(cl);
	if (!d)
		return -ENOMEM;
	pending[n_pending++] = d;
	return CONTROL_DEFERRED;
}

static int m_sub(void *ud, struct control_client *cl, struct json_object *params,
		 struct json_object **ret, struct jsonrpc_error *err)
{
	const char *topics[40];
	struct json_object *a;
	size_t n = 0;

	if (!params || !json_object_object_get_ex(params, "topics", &a) ||
	    !json_object_is_type(a, json_type_array)) {
		topics[n++] = "*";
	} else {
		for (size_t i = 0; i < json_object_array_length(a) && n < 40; i++) {
			struct json_object *t = json_object_array_get_idx(a, i);

			if (json_object_is_type(t, json_type_string))
				topics[n++] = json_object_get_string(t);
		}
	}
	return control_client_subscribe(cl, topics, n, err);
}

static int m_event(void *ud, struct control_client *cl, struct json_object *params,
		   struct json_object **ret, struct jsonrpc_error *err)
{
	struct json_object *name;
	const char *method = "fuzz.event";

	if (params && json_object_object_get_ex(params, "name", &name) &&
	    json_object_is_type(name, json_type_string))
		method = json_object_get_string(name);
	control_broadcast(ctl, method, params ? json_object_get(params) : NULL);
	return 0;
}

static const struct control_method methods[] = {
	{ "echo", false, "reads", m_echo },
	{ "check", false, "reads", m_check },
	{ "defer", true, "changes things", m_defer },
	{ "sub", false, "observes", m_sub },
	{ "event", false, "observes", m_event },
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char dir[] = "/tmp/fuzz-jsonrpc-line-XXXXXX";

	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_ERR);
	if (!mkdtemp(dir))
		abort();
	snprintf(sock_path, sizeof(sock_path), "%s/alrd.sock", dir);
	cfg.socket_path = sock_path;
	cfg.socket_mode = 0600;
	cfg.read_access = CONFIG_READ_ALL;
	cfg.max_clients = 4;
	cfg.max_clients_per_user = 4;
	cfg.reserved_clients = 1;
	cfg.request_timeout_ms = 0;         /* no timers: inputs replay alike */
	cfg.max_request_size = 1024;        /* small: over-long lines happen */
	cfg.max_output_queue = 1 << 20;
	loop = ev_loop_new(EVFLAG_AUTO);
	ctl = loop ? control_new(loop, &cfg, methods, sizeof(methods) / sizeof(methods[0]), NULL)
		   : NULL;
	if (!ctl || control_listen(ctl) < 0)
		abort();
	return 0;
}

/* One line the server wrote: UTF-8, one JSON-RPC 2.0 response or event. */
static void check_line(const char *s, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o, *v;
	bool is_response, is_event;

	if (!jsonrpc_utf8_valid(s, len)) {
		fprintf(stderr, "not UTF-8: %.*s\n", (int)len, s);
		abort();
	}
	tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, s, (int)len);
	if (!o || json_tokener_get_parse_end(tok) != len) {
		fprintf(stderr, "not one JSON value: %.*s\n", (int)len, s);
		abort();
	}
	json_tokener_free(tok);
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "jsonrpc", &v) ||
	    strcmp(json_object_get_string(v), "2.0") != 0) {
		fprintf(stderr, "not JSON-RPC 2.0: %.*s\n", (int)len, s);
		abort();
	}
	is_response = json_object_object_get_ex(o, "id", NULL) &&
		      (json_object_object_get_ex(o, "result", NULL) !=
		       json_object_object_get_ex(o, "error", NULL));
	is_event = !json_object_object_get_ex(o, "id", NULL) &&
		   json_object_object_get_ex(o, "method", NULL);
	if (!is_response && !is_event) {
		fprintf(stderr, "neither a response nor an event: %.*s\n", (int)len, s);
		abort();
	}
	json_object_put(o);
}

static void answer_deferred(void)
{
	for (size_t i = 0; i < n_pending; i++) {
		struct json_object *r = json_object_new_object();

		json_object_object_add(r, "deferred", json_object_new_int((int)i));
		control_deferred_reply(pending[i], r, NULL);
	}
	n_pending = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static char out[4 * 1024 * 1024];
	size_t out_len = 0, sent = 0, start;
	bool eof = false;
	int fd;

	if (size > MAX_INPUT)
		return 0;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		abort();
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();

	/* Until the server closes: write the input, then half-close; read
	 * what comes back; answer deferred requests a turn later. */
	for (int turns = 0; !eof; turns++) {
		ssize_t n;

		if (turns > 100000)
			abort();            /* the server stopped making progress */
		if (sent < size) {
			n = write(fd, data + sent, size - sent);
			if (n > 0)
				sent += (size_t)n;
			if (sent == size)
				shutdown(fd, SHUT_WR);
		} else if (size == 0 && turns == 0) {
			shutdown(fd, SHUT_WR);
		}
		ev_run(loop, EVRUN_NOWAIT);
		answer_deferred();
		for (;;) {
			if (out_len == sizeof(out))
				out_len = 0;        /* checked below as it comes */
			n = read(fd, out + out_len, sizeof(out) - out_len);
			if (n > 0) {
				out_len += (size_t)n;
				continue;
			}
			if (n == 0 || (errno != EAGAIN && errno != EINTR))
				eof = true;
			break;
		}
		/* Check the complete lines, keep a partial one. */
		start = 0;
		for (char *nl; (nl = memchr(out + start, '\n', out_len - start));
		     start = (size_t)(nl - out) + 1)
			check_line(out + start, (size_t)(nl - out) - start);
		memmove(out, out + start, out_len - start);
		out_len -= start;
	}
	if (out_len) {
		fprintf(stderr, "a line without its newline: %.*s\n", (int)out_len, out);
		abort();
	}
	close(fd);
	/* Let the reaper free the closed client before the next input. */
	ev_run(loop, EVRUN_NOWAIT);
	answer_deferred();
	return 0;
}
