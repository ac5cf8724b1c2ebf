/*
 * The control socket server (daemon/control.c) over a real UNIX socket and
 * a real libev loop: pipelining after a deferred answer, answers larger
 * than max-output-queue, request-timeout, UTF-8 of every line written.
 * The test's client lives in the same loop, so nothing sleeps: the loop
 * runs until a condition holds or a deadline passes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "alr/types.h"
#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/jsonrpc.h"
#include "base/util.h"

/* A client of the server under test, driven by the same loop. */
struct tclient {
	int fd;
	ev_io rio, wio;
	char *out;                      /* bytes still to send */
	size_t out_len, out_off;
	char *in;                       /* bytes received */
	size_t in_len, in_cap;
	bool eof;
};

struct world {
	struct ev_loop *loop;
	struct config *cfg;
	struct control *ctl;
	char dir[64];
};

static struct world W;
static struct control_deferred *pending;       /* from method "defer" */
static unsigned int big_calls;

static int m_echo(void *ud, struct control_client *cl, struct json_object *params,
		  struct json_object **ret, struct jsonrpc_error *err)
{
	*ret = params ? json_object_get(params) : NULL;
	return 0;
}

static int m_defer(void *ud, struct control_client *cl, struct json_object *params,
		   struct json_object **ret, struct jsonrpc_error *err)
{
	pending = control_client_defer(cl);
	assert_non_null(pending);
	return CONTROL_DEFERRED;
}

static int m_big(void *ud, struct control_client *cl, struct json_object *params,
		 struct json_object **ret, struct jsonrpc_error *err)
{
	struct json_object *n;
	size_t len;
	char *s;

	assert_true(json_object_object_get_ex(params, "n", &n));
	len = (size_t)json_object_get_int64(n);
	s = malloc(len);
	assert_non_null(s);
	memset(s, 'a', len);
	*ret = json_object_new_object();
	json_object_object_add(*ret, "s", json_object_new_string_len(s, (int)len));
	free(s);
	big_calls++;
	return 0;
}

static int m_sub(void *ud, struct control_client *cl, struct json_object *params,
		 struct json_object **ret, struct jsonrpc_error *err)
{
	static const char *const all[] = { "*" };

	return control_client_subscribe(cl, all, 1, err);
}

static const struct control_method methods[] = {
	{ "echo", false, "", m_echo },
	{ "x", false, "", m_echo },
	{ "defer", false, "", m_defer },
	{ "big", false, "", m_big },
	{ "sub", false, "", m_sub },
};

static int setup(void **state)
{
	char path[128];

	pending = NULL;
	big_calls = 0;
	W.loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(W.loop);
	snprintf(W.dir, sizeof(W.dir), "/tmp/alrt-control-XXXXXX");
	assert_non_null(mkdtemp(W.dir));
	W.cfg = config_new_defaults();
	assert_non_null(W.cfg);
	snprintf(path, sizeof(path), "%s/alrd.sock", W.dir);
	free(W.cfg->socket_path);
	W.cfg->socket_path = strdup(path);
	return 0;
}

/* Start the server once the test has set its configuration. */
static void start(void)
{
	W.ctl = control_new(W.loop, W.cfg, methods, sizeof(methods) / sizeof(methods[0]), NULL);
	assert_non_null(W.ctl);
	assert_int_equal(control_listen(W.ctl), 0);
}

static int teardown(void **state)
{
	if (pending)
		control_deferred_reply(pending, NULL, NULL);
	pending = NULL;
	W.ctl = control_free(W.ctl);
	W.cfg = config_free(W.cfg);
	rmdir(W.dir);
	ev_loop_destroy(W.loop);
	return 0;
}

static void tclient_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tclient *t = container_of(w, struct tclient, rio);
	ssize_t n;

	if (t->in_cap - t->in_len < 65536) {
		t->in_cap = t->in_cap * 2 + 65536;
		t->in = realloc(t->in, t->in_cap);
		assert_non_null(t->in);
	}
	n = read(t->fd, t->in + t->in_len, t->in_cap - t->in_len);
	if (n > 0) {
		t->in_len += (size_t)n;
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	t->eof = true;          /* closed, or reset with data unread */
	ev_io_stop(loop, w);
}

static void tclient_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tclient *t = container_of(w, struct tclient, wio);
	ssize_t n = write(t->fd, t->out + t->out_off, t->out_len - t->out_off);

	if (n > 0)
		t->out_off += (size_t)n;
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		t->out_off = t->out_len;        /* the server is gone */
	if (t->out_off == t->out_len)
		ev_io_stop(loop, w);
}

static struct tclient *tclient_new(bool reading)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct tclient *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(t->fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", W.cfg->socket_path);
	assert_int_equal(connect(t->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ev_io_init(&t->rio, tclient_read_cb, t->fd, EV_READ);
	ev_io_init(&t->wio, tclient_write_cb, t->fd, EV_WRITE);
	if (reading)
		ev_io_start(W.loop, &t->rio);
	return t;
}

static void tclient_free(struct tclient *t)
{
	ev_io_stop(W.loop, &t->rio);
	ev_io_stop(W.loop, &t->wio);
	close(t->fd);
	free(t->out);
	free(t->in);
	free(t);
}

static void tclient_send(struct tclient *t, const char *data, size_t len)
{
	t->out = realloc(t->out, t->out_len + len);
	assert_non_null(t->out);
	memcpy(t->out + t->out_len, data, len);
	t->out_len += len;
	ev_io_start(W.loop, &t->wio);
}

static void tclient_sendf(struct tclient *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void tclient_sendf(struct tclient *t, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	tclient_send(t, buf, (size_t)n);
}

static size_t tclient_lines(const struct tclient *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->in_len; i++)
		n += t->in[i] == '\n';
	return n;
}

/* The @i-th line received, parsed; every line must be UTF-8 JSON. */
static struct json_object *tclient_line(const struct tclient *t, size_t i)
{
	const char *p = t->in, *end = t->in + t->in_len, *nl;
	struct json_tokener *tok;
	struct json_object *o;

	for (;;) {
		nl = memchr(p, '\n', (size_t)(end - p));
		assert_non_null(nl);
		if (i-- == 0)
			break;
		p = nl + 1;
	}
	if (!jsonrpc_utf8_valid(p, (size_t)(nl - p)))
		fail_msg("line %.*s is not UTF-8", (int)(nl - p), p);
	tok = json_tokener_new();
	assert_non_null(tok);
	o = json_tokener_parse_ex(tok, p, (int)(nl - p));
	json_tokener_free(tok);
	if (!o)
		fail_msg("line %.*s is not JSON", (int)(nl - p), p);
	return o;
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	*(bool *)w->data = true;
}

/* Run the loop until @cond holds; false if @seconds pass first. */
static bool run_until(bool (*cond)(void *), void *arg, double seconds)
{
	bool expired = false;
	ev_timer t;

	ev_timer_init(&t, deadline_cb, seconds, 0.0);
	t.data = &expired;
	ev_timer_start(W.loop, &t);
	while (!cond(arg) && !expired)
		ev_run(W.loop, EVRUN_ONCE);
	ev_timer_stop(W.loop, &t);
	return cond(arg);
}

static bool have_pending(void *arg) { return pending != NULL; }
static bool is_closed(void *arg) { return ((struct tclient *)arg)->eof; }

struct want_lines {
	struct tclient *t;
	size_t n;
};

static bool has_lines(void *arg)
{
	struct want_lines *w = arg;

	return w->t->eof || tclient_lines(w->t) >= w->n;
}

static int64_t id_of(struct json_object *o)
{
	struct json_object *id;

	assert_true(json_object_object_get_ex(o, "id", &id));
	return json_object_get_int64(id);
}

/*
 * Issue 11 #4: requests pipelined behind a deferred answer.  The buffer is
 * full of complete lines when the answer goes out, and more wait in the
 * socket: the read watcher fires before the ev_idle resumer.  Every
 * request must be answered, in order.
 */
static void test_pipelined_after_deferred(void **state)
{
	enum { N = 2000 };
	struct tclient *t;
	struct want_lines w;

	W.cfg->max_request_size = 1024;
	start();
	t = tclient_new(true);
	tclient_sendf(t, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"defer\"}\n");
	for (int i = 1; i <= N; i++)
		tclient_sendf(t, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"echo\"}\n", i);
	assert_true(run_until(have_pending, NULL, 10));
	/* Let the server fill its buffer while it waits. */
	for (int i = 0; i < 20; i++)
		ev_run(W.loop, EVRUN_NOWAIT);
	assert_int_equal(tclient_lines(t), 0);
	control_deferred_reply(pending, NULL, NULL);
	pending = NULL;

	w = (struct want_lines){ t, N + 1 };
	run_until(has_lines, &w, 30);
	if (tclient_lines(t) != N + 1)
		fail_msg("%zu answers of %d (connection %s)", tclient_lines(t), N + 1,
			 t->eof ? "closed" : "open");
	for (size_t i = 0; i <= N; i++) {
		struct json_object *o = tclient_line(t, i);

		assert_int_equal(id_of(o), (int64_t)i);
		assert_true(json_object_object_get_ex(o, "result", NULL));
		json_object_put(o);
	}
	assert_false(t->eof);
	assert_int_equal(control_client_count(W.ctl), 1);
	tclient_free(t);
}

static bool big_called(void *arg) { return big_calls > 0; }

/*
 * Issue 11 #5: one answer far larger than max-output-queue reaches a
 * client that reads, and so does an event queued behind it while it is
 * still being written.
 */
static void test_large_answer_to_a_reader(void **state)
{
	enum { BIG = 2 * 1024 * 1024 };
	struct tclient *t;
	struct want_lines w;
	struct json_object *o, *res, *s;

	W.cfg->max_output_queue = 4096;
	start();
	t = tclient_new(true);
	tclient_sendf(t, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sub\"}\n");
	w = (struct want_lines){ t, 1 };
	assert_true(run_until(has_lines, &w, 10));
	/* Not reading while the answer is queued and the event comes. */
	ev_io_stop(W.loop, &t->rio);
	tclient_sendf(t, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"big\",\"params\":{\"n\":%d}}\n",
		      BIG);
	assert_true(run_until(big_called, NULL, 10));
	control_broadcast(W.ctl, "test.event", json_object_new_object());
	ev_io_start(W.loop, &t->rio);

	w = (struct want_lines){ t, 3 };
	run_until(has_lines, &w, 30);
	if (tclient_lines(t) != 3)
		fail_msg("%zu lines of 3 (connection %s)", tclient_lines(t),
			 t->eof ? "closed" : "open");
	o = tclient_line(t, 1);
	assert_int_equal(id_of(o), 2);
	assert_true(json_object_object_get_ex(o, "result", &res));
	assert_true(json_object_object_get_ex(res, "s", &s));
	assert_int_equal(json_object_get_string_len(s), BIG);
	json_object_put(o);
	o = tclient_line(t, 2);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "method")),
			    "test.event");
	json_object_put(o);
	assert_false(t->eof);
	assert_int_equal(control_client_count(W.ctl), 1);
	tclient_free(t);
}

static bool count_is_zero(void *arg) { return control_client_count(W.ctl) == 0; }

/* A client that does not read while its backlog grows is still dropped. */
static void test_non_reader_is_dropped(void **state)
{
	struct tclient *t;
	struct want_lines w;
	char *text = malloc(65536);

	assert_non_null(text);
	memset(text, 'b', 65535);
	text[65535] = '\0';
	W.cfg->max_output_queue = 4096;
	start();
	t = tclient_new(true);
	tclient_sendf(t, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sub\"}\n");
	w = (struct want_lines){ t, 1 };
	assert_true(run_until(has_lines, &w, 10));
	ev_io_stop(W.loop, &t->rio);
	for (int i = 0; i < 200 && control_client_count(W.ctl) == 1; i++) {
		struct json_object *p = json_object_new_object();

		json_object_object_add(p, "text", json_object_new_string(text));
		control_broadcast(W.ctl, "test.event", p);
		ev_run(W.loop, EVRUN_NOWAIT);
	}
	assert_true(run_until(count_is_zero, NULL, 10));
	free(text);
	tclient_free(t);
}

/*
 * A client whose write fails inside a broadcast is closed there, but its
 * observers (the registry) hear of it only after the broadcast returned:
 * the broadcast may come from inside the engine, which must not be
 * entered again (an assertion in roam_client_gone() caught it when a test
 * client left while alrd announced a deregistration).
 */
static int gone_calls;

static void on_gone(struct control_client *cl, void *ud)
{
	gone_calls++;
}

static bool gone_seen(void *arg)
{
	return gone_calls > 0;
}

static void test_disconnect_told_after_the_broadcast(void **state)
{
	struct tclient *t;
	struct want_lines w;

	gone_calls = 0;
	start();
	assert_true(control_watch_disconnect(W.ctl, on_gone, NULL, NULL) > 0);
	t = tclient_new(true);
	tclient_sendf(t, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sub\"}\n");
	w = (struct want_lines){ t, 1 };
	assert_true(run_until(has_lines, &w, 10));
	tclient_free(t);                /* gone: the next write fails */
	control_broadcast(W.ctl, "test.event", json_object_new_object());
	control_broadcast(W.ctl, "test.event", json_object_new_object());
	assert_int_equal(control_client_count(W.ctl), 0);
	assert_int_equal(gone_calls, 0);
	assert_true(run_until(gone_seen, NULL, 10));
	assert_int_equal(gone_calls, 1);
}

/*
 * Issue 11 #3: request-timeout.  A line that never ends is cut; a client
 * that subscribed and stays quiet longer than that is not.
 */
static void test_request_timeout(void **state)
{
	struct tclient *quiet, *partial;
	struct want_lines w;
	struct json_object *o;

	W.cfg->request_timeout_ms = 300;
	start();
	quiet = tclient_new(true);
	tclient_sendf(quiet, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sub\"}\n");
	w = (struct want_lines){ quiet, 1 };
	assert_true(run_until(has_lines, &w, 10));

	partial = tclient_new(true);
	tclient_sendf(partial, "{\"jsonrpc\":\"2.0\",\"id\":1,\"met");
	if (!run_until(is_closed, partial, 20))
		fail_msg("a connection with an unfinished line was kept");
	assert_int_equal(control_client_count(W.ctl), 1);

	/* The quiet one was quiet longer, and still works. */
	tclient_sendf(quiet, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\"}\n");
	w = (struct want_lines){ quiet, 2 };
	assert_true(run_until(has_lines, &w, 10));
	assert_false(quiet->eof);
	o = tclient_line(quiet, 1);
	assert_int_equal(id_of(o), 2);
	json_object_put(o);
	tclient_free(partial);
	tclient_free(quiet);
}

static const char *error_message(struct json_object *o, int *ret_code)
{
	struct json_object *e;

	assert_true(json_object_object_get_ex(o, "error", &e));
	*ret_code = json_object_get_int(json_object_object_get(e, "code"));
	return json_object_get_string(json_object_object_get(e, "message"));
}

/*
 * Issue 11 #6: every line written is UTF-8 JSON, and a NUL inside a
 * string is refused rather than cutting the string.
 */
static void test_answers_are_utf8(void **state)
{
	struct tclient *t;
	struct want_lines w;
	struct json_object *o;
	char name[256];
	size_t n = 0;
	int code;

	start();
	t = tclient_new(true);
	/* A method name whose 64th byte is inside "é". */
	memset(name, 'm', 63);
	n = 63;
	for (int i = 0; i < 20; i++) {
		memcpy(name + n, "\xc3\xa9", 2);
		n += 2;
	}
	name[n] = '\0';
	tclient_sendf(t, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\"}\n", name);
	/* A member name of 150 bytes of "€". */
	n = 0;
	for (int i = 0; i < 50; i++) {
		memcpy(name + n, "\xe2\x82\xac", 3);
		n += 3;
	}
	name[n] = '\0';
	tclient_sendf(t, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\",\"%s\":1}\n", name);
	tclient_sendf(t, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"x\\u0000y\"}\n");
	tclient_sendf(t, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"echo\","
		      "\"params\":{\"path\":\"/tmp/a\\u0000/etc\"}}\n");
	w = (struct want_lines){ t, 4 };
	assert_true(run_until(has_lines, &w, 10));

	o = tclient_line(t, 0);         /* checks UTF-8 */
	assert_int_equal(id_of(o), 1);
	error_message(o, &code);
	assert_int_equal(code, ALR_ERR_METHOD_NOT_FOUND);
	json_object_put(o);

	o = tclient_line(t, 1);
	assert_int_equal(id_of(o), 2);
	assert_non_null(strstr(error_message(o, &code), "unknown member"));
	assert_int_equal(code, ALR_ERR_INVALID_REQUEST);
	json_object_put(o);

	for (int i = 2; i < 4; i++) {
		o = tclient_line(t, (size_t)i);
		assert_int_equal(id_of(o), i + 1);
		if (!json_object_object_get_ex(o, "error", NULL))
			fail_msg("a string with \\u0000 was taken: %s",
				 json_object_to_json_string(o));
		error_message(o, &code);
		assert_int_equal(code, ALR_ERR_INVALID_REQUEST);
		json_object_put(o);
	}
	assert_false(t->eof);
	tclient_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pipelined_after_deferred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_answer_to_a_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_reader_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answers_are_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_told_after_the_broadcast, setup,
						teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
