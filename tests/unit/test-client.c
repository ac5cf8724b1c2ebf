/*
 * libalr-client and alrctl against a fake daemon.
 *
 * Each test binds a listening UNIX socket in a temporary directory and
 * forks a child that accepts one connection and plays a script: it reads
 * request lines, checks them, answers, sends events.  When the test needs
 * the child to wait (a response cut in pieces, an event after a given
 * point), it writes one byte to a pipe per step.  The child checks what it
 * receives with CHECK(), which exits non-zero; fake_stop() asserts that the
 * child exited 0, so the script's checks count.  Children are always
 * reaped, in teardown too when a test failed half-way.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include <alr/client.h>

#define TIMEOUT_MS 10000

/* --- the fake daemon's side (runs in the child) --- */

struct peer {
	int fd;
	int ctl;                 /* one byte per step from the test */
	size_t len;
	char buf[64 * 1024];
};

typedef void (*script_fn)(struct peer *p);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fake daemon: %s:%d: check failed: %s\n", \
			__FILE__, __LINE__, #cond);			\
		_exit(1);						\
	}								\
} while (0)

static void peer_write(struct peer *p, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(p->fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n > 0);
		data += n;
		len -= (size_t)n;
	}
}

static void peer_send(struct peer *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void peer_send(struct peer *p, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	CHECK(n >= 0);
	peer_write(p, s, (size_t)n);
	free(s);
}

/* Read one request line; check it is JSON-RPC 2.0 and names @method. */
static struct json_object *peer_request(struct peer *p, const char *method)
{
	for (;;) {
		char *nl = memchr(p->buf, '\n', p->len);
		struct json_object *req, *v;
		ssize_t n;

		if (nl) {
			size_t len = (size_t)(nl - p->buf);

			*nl = '\0';
			req = json_tokener_parse(p->buf);
			memmove(p->buf, nl + 1, p->len - len - 1);
			p->len -= len + 1;
			CHECK(req);
			CHECK(json_object_object_get_ex(req, "jsonrpc", &v));
			CHECK(!strcmp(json_object_get_string(v), "2.0"));
			CHECK(json_object_object_get_ex(req, "id", &v));
			CHECK(json_object_is_type(v, json_type_int));
			CHECK(json_object_object_get_ex(req, "method", &v));
			if (method)
				CHECK(!strcmp(json_object_get_string(v), method));
			return req;
		}
		CHECK(p->len < sizeof(p->buf));
		n = read(p->fd, p->buf + p->len, sizeof(p->buf) - p->len);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n > 0);
		p->len += (size_t)n;
	}
}

static long long req_id(struct json_object *req)
{
	struct json_object *v;

	CHECK(json_object_object_get_ex(req, "id", &v));
	return (long long)json_object_get_int64(v);
}

/* The params of @req as compact JSON, "" when absent. */
static const char *req_params(struct json_object *req)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, "params", &v))
		return "";
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
}

static void peer_result(struct peer *p, struct json_object *req, const char *result)
{
	peer_send(p, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":%s}\n",
		  req_id(req), result);
}

static void peer_error(struct peer *p, struct json_object *req, int code,
		       const char *message)
{
	peer_send(p, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":%d,"
		  "\"message\":\"%s\"}}\n", req_id(req), code, message);
}

static void peer_event(struct peer *p, const char *method, const char *params)
{
	peer_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"%s\",\"params\":%s}\n",
		  method, params);
}

/* Wait for the test's go-ahead. */
static void peer_step(struct peer *p)
{
	char b;
	ssize_t n;

	do {
		n = read(p->ctl, &b, 1);
	} while (n < 0 && errno == EINTR);
	CHECK(n == 1);
}

/* Read (and ignore) until the client closes. */
static void peer_wait_eof(struct peer *p)
{
	char b[4096];
	ssize_t n;

	do {
		n = read(p->fd, b, sizeof(b));
	} while (n > 0 || (n < 0 && errno == EINTR));
}

/* --- the test's side --- */

struct fake {
	char dir[64];
	char path[100];         /* fits sun_path */
	pid_t pid;
	int ctl;
	bool running;
};

static struct {
	struct fake fake;
	struct alr_client *client;
} fx;

static int setup(void **state)
{
	memset(&fx, 0, sizeof(fx));
	fx.fake.ctl = -1;
	return 0;
}

/* Wait for @pid at most @timeout_ms, then kill it; return its status. */
static int reap(pid_t pid, int timeout_ms)
{
	int pfd = pidfd_open(pid, 0);
	int status = 0;

	if (pfd >= 0) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };

		if (poll(&p, 1, timeout_ms) == 0) {
			fprintf(stderr, "child %d did not end in time: killed\n", (int)pid);
			kill(pid, SIGKILL);
		}
		close(pfd);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

static void fake_cleanup(struct fake *f)
{
	if (f->ctl >= 0)
		close(f->ctl);
	f->ctl = -1;
	unlink(f->path);
	rmdir(f->dir);
}

static int teardown(void **state)
{
	alr_client_free(fx.client);
	fx.client = NULL;
	if (fx.fake.running) {
		kill(fx.fake.pid, SIGKILL);
		reap(fx.fake.pid, TIMEOUT_MS);
		fx.fake.running = false;
		fake_cleanup(&fx.fake);
	}
	return 0;
}

static void fake_start(script_fn script)
{
	struct fake *f = &fx.fake;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int lfd, ctl[2];

	snprintf(f->dir, sizeof(f->dir), "/tmp/alr-client-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/alrd.sock", f->dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(pipe2(ctl, O_CLOEXEC), 0);

	fflush(NULL);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		static struct peer p;

		close(ctl[1]);
		alarm(30);              /* never outlive a broken test */
		p.ctl = ctl[0];
		p.fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		CHECK(p.fd >= 0);
		close(lfd);
		script(&p);
		_exit(0);
	}
	close(lfd);
	close(ctl[0]);
	f->ctl = ctl[1];
	f->running = true;
}

/* Let the script go on past one peer_step(). */
static void fake_step(void)
{
	assert_int_equal(write(fx.fake.ctl, "s", 1), 1);
}

/* Wait for the script to end and check that all its checks passed. */
static void fake_stop(void)
{
	struct fake *f = &fx.fake;
	int status;

	if (f->ctl >= 0)
		close(f->ctl);
	f->ctl = -1;
	status = reap(f->pid, TIMEOUT_MS);
	f->running = false;
	fake_cleanup(f);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static struct alr_client *fake_connect(void)
{
	assert_int_equal(alr_client_connect(fx.fake.path, &fx.client), 0);
	assert_non_null(fx.client);
	return fx.client;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return json_object_get_string(v);
}

static int64_t jint(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		return -1;
	return json_object_get_int64(v);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What the callbacks saw. */
struct record {
	int n;
	char what[16][32];       /* event names, or "reply" / "error" */
	int64_t value[16];       /* params.n, result.n or error code */
	void *user_data[16];
	size_t size[16];         /* length of params.s, if any */
};

static void record_event_cb(struct alr_client *c, const char *method,
			    struct json_object *params, void *user_data)
{
	struct record *r = user_data;
	const char *s = jstr(params, "s");

	if (r->n >= 16)
		return;
	snprintf(r->what[r->n], sizeof(r->what[0]), "%s", method);
	r->value[r->n] = jint(params, "n");
	r->size[r->n] = s ? strlen(s) : 0;
	r->n++;
}

static struct record replies;

static void record_reply_cb(struct alr_client *c, struct json_object *result,
			    const struct alr_error *error, void *user_data)
{
	struct record *r = &replies;

	if (r->n >= 16)
		return;
	/* exactly one of them */
	assert_true((result == NULL) != (error == NULL));
	snprintf(r->what[r->n], sizeof(r->what[0]), "%s", result ? "reply" : "error");
	r->value[r->n] = result ? jint(result, "n") : error->code;
	r->user_data[r->n] = user_data;
	r->n++;
}

/* --- the library --- */

static void script_call_result(struct peer *p)
{
	struct json_object *req;

	req = peer_request(p, "daemon.info");
	CHECK(req_id(req) == 1);
	CHECK(!strcmp(req_params(req), ""));
	peer_result(p, req, "{\"version\":\"0.1.0\",\"pid\":42}");
	json_object_put(req);

	req = peer_request(p, "iap.get");
	CHECK(req_id(req) == 2);
	CHECK(!strcmp(req_params(req), "{\"id\":3}"));
	peer_result(p, req, "{\"iap\":{\"id\":3,\"name\":\"wlan0\"}}");
	json_object_put(req);

	/* a result the caller does not want */
	req = peer_request(p, "daemon.reload");
	CHECK(req_id(req) == 3);
	peer_result(p, req, "{\"reloaded\":true}");
	json_object_put(req);
	peer_wait_eof(p);
}

static void test_call_result(void **state)
{
	struct json_object *res = NULL, *params, *iap = NULL;
	struct alr_error e;
	struct alr_client *c;

	fake_start(script_call_result);
	c = fake_connect();
	assert_true(alr_client_fd(c) >= 0);

	assert_int_equal(alr_client_call(c, "daemon.info", NULL, TIMEOUT_MS, &res, &e), 0);
	assert_non_null(res);
	assert_string_equal(jstr(res, "version"), "0.1.0");
	assert_int_equal(jint(res, "pid"), 42);
	assert_int_equal(e.code, 0);
	json_object_put(res);

	params = json_object_new_object();
	json_object_object_add(params, "id", json_object_new_int(3));
	assert_int_equal(alr_client_call(c, "iap.get", params, TIMEOUT_MS, &res, NULL), 0);
	assert_true(json_object_object_get_ex(res, "iap", &iap));
	assert_string_equal(jstr(iap, "name"), "wlan0");
	json_object_put(res);

	assert_int_equal(alr_client_call(c, "daemon.reload", NULL, TIMEOUT_MS, NULL, NULL), 0);

	fx.client = alr_client_free(c);
	fake_stop();
}

static void script_call_error(struct peer *p)
{
	struct json_object *req;

	req = peer_request(p, "iap.get");
	peer_send(p, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-32002,"
		  "\"message\":\"no IAP with id 9\",\"data\":{\"id\":9}}}\n", req_id(req));
	json_object_put(req);
	/* no message: the library makes one up */
	req = peer_request(p, "daemon.reload");
	peer_send(p, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-32004}}\n",
		  req_id(req));
	json_object_put(req);
	peer_wait_eof(p);
}

static void test_call_error(void **state)
{
	struct json_object *res = NULL, *params;
	struct alr_error e;
	struct alr_client *c;

	fake_start(script_call_error);
	c = fake_connect();
	params = json_object_new_object();
	json_object_object_add(params, "id", json_object_new_int(9));
	assert_int_equal(alr_client_call(c, "iap.get", params, TIMEOUT_MS, &res, &e), -EPROTO);
	assert_null(res);
	assert_int_equal(e.code, ALR_ERR_NOT_FOUND);
	assert_string_equal(e.message, "no IAP with id 9");

	assert_int_equal(alr_client_call(c, "daemon.reload", NULL, TIMEOUT_MS, &res, &e), -EPROTO);
	assert_int_equal(e.code, ALR_ERR_CONFIG);
	assert_true(strlen(e.message) > 0);
	fx.client = alr_client_free(c);
	fake_stop();
}

/* Events that arrive while a blocking call waits wait for dispatch. */
static void script_events_during_call(struct peer *p)
{
	struct json_object *req = peer_request(p, "events.subscribe");
	char *all = NULL;

	CHECK(!strcmp(req_params(req), "{\"topics\":[\"iap.*\"]}"));
	/* one write: the client reads events, the response and a later
	 * event together */
	CHECK(asprintf(&all,
		       "{\"jsonrpc\":\"2.0\",\"method\":\"iap.added\",\"params\":{\"n\":1}}\n"
		       "{\"jsonrpc\":\"2.0\",\"method\":\"iap.up\",\"params\":{\"n\":2}}\n"
		       "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"topics\":[\"iap.*\"]}}\n"
		       "{\"jsonrpc\":\"2.0\",\"method\":\"iap.changed\",\"params\":{\"n\":3}}\n",
		       req_id(req)) > 0);
	peer_write(p, all, strlen(all));
	free(all);
	json_object_put(req);

	peer_step(p);
	peer_event(p, "iap.down", "{\"n\":4}");
	peer_wait_eof(p);
}

static void test_events_during_call(void **state)
{
	static const char *const topics[] = { "iap.*", NULL };
	struct record rec = { 0 };
	struct alr_error e;
	struct alr_client *c;

	fake_start(script_events_during_call);
	c = fake_connect();
	alr_client_set_event_handler(c, record_event_cb, &rec);
	assert_int_equal(alr_client_subscribe(c, topics, TIMEOUT_MS, &e), 0);
	/* nothing is delivered from inside a blocking call */
	assert_int_equal(rec.n, 0);

	/* the socket has nothing more: dispatch delivers what is queued */
	assert_int_equal(alr_client_dispatch(c), 0);
	assert_int_equal(rec.n, 3);
	assert_string_equal(rec.what[0], "iap.added");
	assert_string_equal(rec.what[1], "iap.up");
	assert_string_equal(rec.what[2], "iap.changed");
	assert_int_equal(rec.value[0], 1);
	assert_int_equal(rec.value[1], 2);
	assert_int_equal(rec.value[2], 3);

	fake_step();
	assert_int_equal(alr_client_wait(c, TIMEOUT_MS), 0);
	assert_int_equal(rec.n, 4);
	assert_string_equal(rec.what[3], "iap.down");
	assert_int_equal(rec.value[3], 4);

	fx.client = alr_client_free(c);
	fake_stop();
}

/* Replies are matched by id, in whatever order they come. */
static void script_async_out_of_order(struct peer *p)
{
	struct json_object *req[3];

	for (int i = 0; i < 3; i++) {
		req[i] = peer_request(p, "iap.get");
		CHECK(req_id(req[i]) == i + 1);
	}
	peer_result(p, req[2], "{\"n\":3}");
	peer_error(p, req[0], -32002, "no such IAP");
	peer_result(p, req[1], "{\"n\":2}");
	for (int i = 0; i < 3; i++)
		json_object_put(req[i]);
	peer_wait_eof(p);
}

static void test_async_out_of_order(void **state)
{
	int tag[3] = { 1, 2, 3 };
	struct alr_client *c;

	memset(&replies, 0, sizeof(replies));
	fake_start(script_async_out_of_order);
	c = fake_connect();
	for (int i = 0; i < 3; i++)
		assert_int_equal(alr_client_call_async(c, "iap.get", NULL,
						       record_reply_cb, &tag[i]), 0);
	/* sent, not answered yet: nothing called back */
	assert_int_equal(replies.n, 0);
	while (replies.n < 3)
		assert_int_equal(alr_client_wait(c, TIMEOUT_MS), 0);

	assert_string_equal(replies.what[0], "reply");
	assert_ptr_equal(replies.user_data[0], &tag[2]);
	assert_int_equal(replies.value[0], 3);
	assert_string_equal(replies.what[1], "error");
	assert_ptr_equal(replies.user_data[1], &tag[0]);
	assert_int_equal(replies.value[1], ALR_ERR_NOT_FOUND);
	assert_string_equal(replies.what[2], "reply");
	assert_ptr_equal(replies.user_data[2], &tag[1]);
	assert_int_equal(replies.value[2], 2);

	fx.client = alr_client_free(c);
	fake_stop();
}

/* A response cut in pieces, written one step at a time, after an empty
 * line and ending in "\r\n". */
#define SPLIT_PIECES 5

static void script_split_response(struct peer *p)
{
	struct json_object *req = peer_request(p, "daemon.info");
	char *line = NULL;
	size_t len, at = 0;

	CHECK(asprintf(&line, "\n{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":"
		       "{\"n\":77,\"text\":\"line\\nbreak\"}}\r\n", req_id(req)) > 0);
	len = strlen(line);
	for (int i = 1; i <= SPLIT_PIECES; i++) {
		size_t end = len * (size_t)i / SPLIT_PIECES;

		peer_write(p, line + at, end - at);
		at = end;
		if (i < SPLIT_PIECES)
			peer_step(p);
	}
	free(line);
	json_object_put(req);
	peer_wait_eof(p);
}

static void test_split_response(void **state)
{
	struct alr_client *c;

	memset(&replies, 0, sizeof(replies));
	fake_start(script_split_response);
	c = fake_connect();
	assert_int_equal(alr_client_call_async(c, "daemon.info", NULL,
					       record_reply_cb, NULL), 0);
	for (int i = 1; i < SPLIT_PIECES; i++) {
		/* a piece arrived: read, but nothing complete to deliver */
		assert_int_equal(alr_client_wait(c, TIMEOUT_MS), 0);
		assert_int_equal(replies.n, 0);
		fake_step();
	}
	while (replies.n == 0)
		assert_int_equal(alr_client_wait(c, TIMEOUT_MS), 0);
	assert_string_equal(replies.what[0], "reply");
	assert_int_equal(replies.value[0], 77);

	fx.client = alr_client_free(c);
	fake_stop();
}

/* Lines far over the 64 KiB request limit: an event, then a result. */
#define HUGE_EVENT  (300 * 1024)
#define HUGE_RESULT (2 * 1024 * 1024)

static void script_huge_lines(struct peer *p)
{
	struct json_object *req = peer_request(p, "daemon.info");
	char *s = malloc(HUGE_RESULT + 1);

	CHECK(s);
	memset(s, 'a', HUGE_RESULT);
	s[HUGE_EVENT] = '\0';
	peer_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"iap.changed\","
		  "\"params\":{\"n\":1,\"s\":\"%s\"}}\n", s);
	s[HUGE_EVENT] = 'a';
	s[HUGE_RESULT] = '\0';
	peer_send(p, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"s\":\"%s\"}}\n",
		  req_id(req), s);
	free(s);
	json_object_put(req);
	peer_wait_eof(p);
}

static void test_huge_lines(void **state)
{
	struct record rec = { 0 };
	struct json_object *res = NULL;
	struct alr_client *c;

	fake_start(script_huge_lines);
	c = fake_connect();
	alr_client_set_event_handler(c, record_event_cb, &rec);
	assert_int_equal(alr_client_call(c, "daemon.info", NULL, TIMEOUT_MS, &res, NULL), 0);
	assert_int_equal(strlen(jstr(res, "s")), HUGE_RESULT);
	json_object_put(res);
	assert_int_equal(alr_client_dispatch(c), 0);
	assert_int_equal(rec.n, 1);
	assert_int_equal(rec.size[0], HUGE_EVENT);

	fx.client = alr_client_free(c);
	fake_stop();
}

/* ALR_MAX_RESPONSE bytes with the newline are accepted; one more is not. */
static const char padded_head[] = "{\"jsonrpc\":\"2.0\",\"method\":\"big\",\"params\":{\"s\":\"";
static const char padded_tail[] = "\"}}";

static void send_padded_event(struct peer *p, size_t total, bool newline)
{
	const char *head = padded_head, *tail = padded_tail;
	size_t fill = total - strlen(head) - strlen(tail) - 1;
	char *line = malloc(total);

	CHECK(line);
	memcpy(line, head, strlen(head));
	memset(line + strlen(head), 'x', fill);
	memcpy(line + strlen(head) + fill, tail, strlen(tail));
	line[total - 1] = newline ? '\n' : 'x';
	peer_write(p, line, total);
	free(line);
}

static void script_line_limit(struct peer *p)
{
	send_padded_event(p, ALR_MAX_RESPONSE, true);
	peer_step(p);
	/* no newline within the limit */
	send_padded_event(p, ALR_MAX_RESPONSE, false);
	peer_wait_eof(p);
}

static void test_line_limit(void **state)
{
	struct record rec = { 0 };
	struct alr_error e;
	struct alr_client *c;
	int r;

	fake_start(script_line_limit);
	c = fake_connect();
	alr_client_set_event_handler(c, record_event_cb, &rec);
	while (rec.n == 0)
		assert_int_equal(alr_client_wait(c, TIMEOUT_MS), 0);
	assert_string_equal(rec.what[0], "big");
	assert_int_equal(rec.size[0], ALR_MAX_RESPONSE - strlen(padded_head) -
			 strlen(padded_tail) - 1);

	fake_step();
	do {
		r = alr_client_wait(c, TIMEOUT_MS);
	} while (r == 0);
	assert_int_equal(r, -EPROTO);
	assert_int_equal(rec.n, 1);
	/* the connection is unusable from now on */
	assert_int_equal(alr_client_call(c, "daemon.info", NULL, TIMEOUT_MS, NULL, &e), -EPROTO);
	assert_int_equal(e.code, 0);
	assert_non_null(strstr(e.message, "longer than"));

	fx.client = alr_client_free(c);
	fake_stop();
}

/* The daemon goes away with requests outstanding. */
static void script_connection_lost(struct peer *p)
{
	struct json_object *a = peer_request(p, "iap.list");
	struct json_object *b = peer_request(p, "iap.list");

	peer_event(p, "iap.down", "{\"n\":9}");
	peer_result(p, a, "{\"n\":1}");
	json_object_put(a);
	json_object_put(b);
	/* and _exit() closes the connection */
}

static void test_connection_lost(void **state)
{
	struct record rec = { 0 };
	struct alr_error e;
	struct alr_client *c;
	int tag[2], r;

	memset(&replies, 0, sizeof(replies));
	fake_start(script_connection_lost);
	c = fake_connect();
	alr_client_set_event_handler(c, record_event_cb, &rec);
	assert_int_equal(alr_client_call_async(c, "iap.list", NULL, record_reply_cb, &tag[0]), 0);
	assert_int_equal(alr_client_call_async(c, "iap.list", NULL, record_reply_cb, &tag[1]), 0);
	do {
		r = alr_client_wait(c, TIMEOUT_MS);
	} while (r == 0);
	assert_int_equal(r, -ECONNRESET);

	/* what came before the end first, in order, then the failure */
	assert_int_equal(rec.n, 1);
	assert_string_equal(rec.what[0], "iap.down");
	assert_int_equal(replies.n, 2);
	assert_string_equal(replies.what[0], "reply");
	assert_ptr_equal(replies.user_data[0], &tag[0]);
	assert_string_equal(replies.what[1], "error");
	assert_ptr_equal(replies.user_data[1], &tag[1]);
	assert_int_equal(replies.value[1], ALR_ERR_INTERNAL);

	/* and it stays lost */
	assert_int_equal(alr_client_dispatch(c), -ECONNRESET);
	assert_int_equal(alr_client_call(c, "daemon.info", NULL, TIMEOUT_MS, NULL, &e), -ECONNRESET);
	assert_true(strlen(e.message) > 0);
	assert_int_equal(alr_client_call_async(c, "daemon.info", NULL, record_reply_cb, NULL),
			 -ECONNRESET);
	assert_int_equal(replies.n, 2);

	fx.client = alr_client_free(c);
	fake_stop();
}

static void script_close_on_request(struct peer *p)
{
	json_object_put(peer_request(p, "daemon.info"));
}

static void test_call_connection_lost(void **state)
{
	struct json_object *res = NULL;
	struct alr_error e;
	struct alr_client *c;

	fake_start(script_close_on_request);
	c = fake_connect();
	assert_int_equal(alr_client_call(c, "daemon.info", NULL, TIMEOUT_MS, &res, &e), -ECONNRESET);
	assert_null(res);
	assert_int_equal(e.code, 0);
	assert_string_equal(e.message, "alrd closed the connection");
	fx.client = alr_client_free(c);
	fake_stop();
}

/* A call that times out; its late answer must not be taken for the next. */
static void script_timeout(struct peer *p)
{
	struct json_object *slow = peer_request(p, "daemon.info");
	struct json_object *next = peer_request(p, "iap.list");

	peer_result(p, slow, "{\"n\":1}");
	peer_result(p, next, "{\"n\":2}");
	json_object_put(slow);
	json_object_put(next);
	peer_wait_eof(p);
}

static void test_timeout(void **state)
{
	struct json_object *res = NULL;
	struct record rec = { 0 };
	struct alr_error e;
	struct alr_client *c;
	int64_t t0, elapsed;

	fake_start(script_timeout);
	c = fake_connect();
	alr_client_set_event_handler(c, record_event_cb, &rec);
	t0 = now_ms();
	assert_int_equal(alr_client_call(c, "daemon.info", NULL, 100, &res, &e), -ETIMEDOUT);
	elapsed = now_ms() - t0;
	assert_true(elapsed >= 100);
	assert_true(elapsed < TIMEOUT_MS);
	assert_null(res);
	assert_non_null(strstr(e.message, "100 ms"));

	assert_int_equal(alr_client_call(c, "iap.list", NULL, TIMEOUT_MS, &res, NULL), 0);
	assert_int_equal(jint(res, "n"), 2);
	json_object_put(res);
	/* the late answer went nowhere */
	assert_int_equal(alr_client_dispatch(c), 0);
	assert_int_equal(rec.n, 0);

	/* nothing arrives: alr_client_wait() times out too */
	assert_int_equal(alr_client_wait(c, 50), -ETIMEDOUT);

	fx.client = alr_client_free(c);
	fake_stop();
}

/* An error with id null answers the oldest request (a line the daemon
 * could not read); with none outstanding, it explains a close. */
static void script_null_id(struct peer *p)
{
	json_object_put(peer_request(p, "daemon.info"));
	peer_send(p, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32000,"
		  "\"message\":\"request too large\"}}\n");
	peer_step(p);
	peer_send(p, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32003,"
		  "\"message\":\"too many clients\"}}\n");
}

static void test_null_id_error(void **state)
{
	struct alr_error e;
	struct alr_client *c;

	fake_start(script_null_id);
	c = fake_connect();
	assert_int_equal(alr_client_call(c, "daemon.info", NULL, TIMEOUT_MS, NULL, &e), -EPROTO);
	assert_int_equal(e.code, ALR_ERR_TOO_LARGE);
	assert_string_equal(e.message, "request too large");

	fake_step();
	while (alr_client_wait(c, TIMEOUT_MS) == 0)
		;
	assert_int_equal(alr_client_call(c, "daemon.info", NULL, TIMEOUT_MS, NULL, &e), -ECONNRESET);
	assert_int_equal(e.code, ALR_ERR_BUSY);
	assert_string_equal(e.message, "too many clients");

	fx.client = alr_client_free(c);
	fake_stop();
}

/* What is not JSON-RPC makes the connection unusable. */
static const char *bad_line;

static void script_bad_line(struct peer *p)
{
	struct json_object *req = peer_request(p, "daemon.info");

	peer_send(p, "%s\n", bad_line);
	json_object_put(req);
	peer_wait_eof(p);
}

static void test_bad_lines(void **state)
{
	static const char *const lines[] = {
		"this is not json",
		"[1,2]",
		"null",
		"42",
		"{\"jsonrpc\":\"2.0\",\"method\":\"x\"} {}",
		"{\"jsonrpc\":\"1.0\",\"method\":\"iap.up\"}",
		"{\"method\":\"iap.up\"}",
		"{\"jsonrpc\":\"2.0\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"bad\"}",
		"{\"jsonrpc\":\"2.0\",\"method\":7}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"s\":\"unterminated",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct alr_error e;
		struct alr_client *c;
		int r;

		bad_line = lines[i];
		fake_start(script_bad_line);
		c = fake_connect();
		r = alr_client_call(c, "daemon.info", NULL, TIMEOUT_MS, NULL, &e);
		if (r != -EPROTO || e.code != 0)
			fail_msg("line %zu '%s': call returned %d, code %d", i,
				 lines[i], r, e.code);
		assert_int_equal(alr_client_dispatch(c), -EPROTO);
		fx.client = alr_client_free(c);
		fake_stop();
	}
}

/* An event callback may make a blocking call. */
static void script_call_from_callback(struct peer *p)
{
	struct json_object *req = peer_request(p, "events.subscribe");

	CHECK(!strcmp(req_params(req), ""));
	peer_result(p, req, "{\"topics\":[\"*\"]}");
	json_object_put(req);
	peer_event(p, "iap.up", "{\"n\":1}");
	peer_event(p, "iap.up", "{\"n\":2}");

	for (int i = 0; i < 2; i++) {
		req = peer_request(p, "iap.get");
		/* an event between the call and its answer */
		peer_event(p, "iap.changed", "{\"n\":10}");
		peer_result(p, req, i == 0 ? "{\"n\":101}" : "{\"n\":102}");
		json_object_put(req);
	}
	peer_wait_eof(p);
}

struct nested {
	struct record rec;
	int64_t answers[4];
	int nanswers;
};

static void nested_event_cb(struct alr_client *c, const char *method,
			    struct json_object *params, void *user_data)
{
	struct nested *n = user_data;
	struct json_object *res = NULL;

	record_event_cb(c, method, params, &n->rec);
	if (strcmp(method, "iap.up") != 0)
		return;
	assert_int_equal(alr_client_call(c, "iap.get", NULL, TIMEOUT_MS, &res, NULL), 0);
	n->answers[n->nanswers++] = jint(res, "n");
	json_object_put(res);
}

static void test_call_from_callback(void **state)
{
	struct nested n = { 0 };
	struct alr_client *c;

	fake_start(script_call_from_callback);
	c = fake_connect();
	alr_client_set_event_handler(c, nested_event_cb, &n);
	assert_int_equal(alr_client_subscribe(c, NULL, TIMEOUT_MS, NULL), 0);
	while (n.rec.n < 4)
		assert_int_equal(alr_client_wait(c, TIMEOUT_MS), 0);
	assert_int_equal(n.nanswers, 2);
	assert_int_equal(n.answers[0], 101);
	assert_int_equal(n.answers[1], 102);
	/* events keep their order across the nested calls */
	assert_string_equal(n.rec.what[0], "iap.up");
	assert_int_equal(n.rec.value[0], 1);
	assert_string_equal(n.rec.what[1], "iap.up");
	assert_int_equal(n.rec.value[1], 2);
	assert_string_equal(n.rec.what[2], "iap.changed");
	assert_string_equal(n.rec.what[3], "iap.changed");

	fx.client = alr_client_free(c);
	fake_stop();
}

/* A callback may free the client; nothing is delivered after that. */
static void script_two_events(struct peer *p)
{
	/* one write: the client may be gone before a second one */
	peer_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"iap.up\",\"params\":{\"n\":1}}\n"
		  "{\"jsonrpc\":\"2.0\",\"method\":\"iap.up\",\"params\":{\"n\":2}}\n");
	peer_wait_eof(p);
}

static void free_event_cb(struct alr_client *c, const char *method,
			  struct json_object *params, void *user_data)
{
	record_event_cb(c, method, params, user_data);
	assert_null(alr_client_free(c));
}

static void test_free_in_callback(void **state)
{
	struct record rec = { 0 };
	struct alr_client *c;

	fake_start(script_two_events);
	c = fake_connect();
	alr_client_set_event_handler(c, free_event_cb, &rec);
	/* the client belongs to the callback now */
	fx.client = NULL;
	while (rec.n == 0)
		assert_int_equal(alr_client_wait(c, TIMEOUT_MS), 0);
	assert_int_equal(rec.n, 1);
	/* the fake daemon sees the connection closed */
	fake_stop();
}

static void script_subscribe_topics(struct peer *p)
{
	static const char *const want[] = {
		"{\"topics\":[\"iap.up\",\"iap.down\"]}",
		"{\"topics\":[]}",
		"",
	};

	for (size_t i = 0; i < 3; i++) {
		struct json_object *req = peer_request(p, "events.subscribe");

		CHECK(!strcmp(req_params(req), want[i]));
		peer_result(p, req, "{}");
		json_object_put(req);
	}
	peer_wait_eof(p);
}

static void test_subscribe_topics(void **state)
{
	static const char *const two[] = { "iap.up", "iap.down", NULL };
	static const char *const none[] = { NULL };
	struct alr_client *c;

	fake_start(script_subscribe_topics);
	c = fake_connect();
	assert_int_equal(alr_client_subscribe(c, two, TIMEOUT_MS, NULL), 0);
	assert_int_equal(alr_client_subscribe(c, none, TIMEOUT_MS, NULL), 0);
	assert_int_equal(alr_client_subscribe(c, NULL, TIMEOUT_MS, NULL), 0);
	fx.client = alr_client_free(c);
	fake_stop();
}

static void test_default_socket(void **state)
{
	char *saved = getenv(ALR_SOCKET_ENV) ? strdup(getenv(ALR_SOCKET_ENV)) : NULL;

	assert_int_equal(setenv(ALR_SOCKET_ENV, "/tmp/elsewhere.sock", 1), 0);
	assert_string_equal(alr_client_default_socket(), "/tmp/elsewhere.sock");
	assert_int_equal(setenv(ALR_SOCKET_ENV, "", 1), 0);
	assert_string_equal(alr_client_default_socket(), ALR_DEFAULT_SOCKET);
	assert_int_equal(unsetenv(ALR_SOCKET_ENV), 0);
	assert_string_equal(alr_client_default_socket(), ALR_DEFAULT_SOCKET);

	if (saved)
		setenv(ALR_SOCKET_ENV, saved, 1);
	free(saved);
}

static void test_connect_errors(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct alr_client *c = (void *)1;
	char dir[] = "/tmp/alr-client-test-XXXXXX", path[64], longpath[200];
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/alrd.sock", dir);
	assert_int_equal(alr_client_connect(path, &c), -ENOENT);
	assert_null(c);

	/* a socket file nobody listens on any more */
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	assert_int_equal(alr_client_connect(path, &c), -ECONNREFUSED);
	unlink(path);
	rmdir(dir);

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(alr_client_connect(longpath, &c), -ENAMETOOLONG);
	assert_int_equal(alr_client_connect(path, NULL), -EINVAL);
	assert_null(alr_client_free(NULL));
}

/* The shared library exports the API of client.h and nothing else. */
static void test_exports(void **state)
{
	const char *build = getenv("ALR_BUILD_DIR");
	char cmd[512], line[256];
	int found = 0, status;
	FILE *f;

	if (!build)
		skip();
	snprintf(cmd, sizeof(cmd),
		 "nm -D --defined-only '%s/client/libalr-client.so' 2>&1", build);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char type, name[200];

		if (sscanf(line, "%*s %c %199s", &type, name) != 2)
			fail_msg("nm: %s", line);
		if (type != 'T' && type != 'D' && type != 'B')
			continue;
		if (strncmp(name, "alr_client_", 11) != 0)
			fail_msg("unexpected export: %s", name);
		found++;
	}
	status = pclose(f);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(found, 10);
}

/* --- alrctl --- */

struct run {
	int status;              /* exit status, or -1 */
	char *out, *err;
};

static char *slurp(FILE *f)
{
	char *s;
	long len;

	fflush(f);
	len = ftell(f);
	assert_true(len >= 0);
	s = calloc(1, (size_t)len + 1);
	assert_non_null(s);
	rewind(f);
	if (len > 0)
		assert_int_equal(fread(s, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	return s;
}

static const char *alrctl_path(void)
{
	static char path[512];
	const char *build = getenv("ALR_BUILD_DIR");

	if (!build)
		return NULL;
	snprintf(path, sizeof(path), "%s/client/alrctl", build);
	return access(path, X_OK) == 0 ? path : NULL;
}

/* alrctl's standard input when not -1 (else the test's); for the
 * password, and profile import - */
static int spawn_stdin = -1;
/* alrctl's controlling terminal (its /dev/tty) when not NULL */
static const char *spawn_tty;

/* Start alrctl with @args (NULL-terminated) and $ALRD_SOCKET = @socket,
 * its stdout to @out_fd, stderr to @err_fd. */
static pid_t spawn_alrctl(const char *socket, const char *const *args,
			  int out_fd, int err_fd)
{
	const char *path = alrctl_path();
	const char *argv[48] = { "alrctl" };
	size_t n = 1;
	pid_t pid;

	if (!path)
		skip();
	for (; *args && n < 47; args++)
		argv[n++] = *args;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (spawn_tty) {
			/* a session leader's first terminal becomes its own */
			int tty;

			setsid();
			tty = open(spawn_tty, O_RDWR);
			if (tty < 0)
				_exit(126);
			dup2(tty, STDIN_FILENO);
		}
		if (spawn_stdin >= 0)
			dup2(spawn_stdin, STDIN_FILENO);
		dup2(out_fd, STDOUT_FILENO);
		dup2(err_fd, STDERR_FILENO);
		if (socket)
			setenv(ALR_SOCKET_ENV, socket, 1);
		else
			unsetenv(ALR_SOCKET_ENV);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static struct run run_alrctl(const char *socket, const char *const *args)
{
	FILE *out = tmpfile(), *err = tmpfile();
	struct run r;
	pid_t pid;
	int status;

	assert_non_null(out);
	assert_non_null(err);
	pid = spawn_alrctl(socket, args, fileno(out), fileno(err));
	status = reap(pid, TIMEOUT_MS);
	fseek(out, 0, SEEK_END);
	fseek(err, 0, SEEK_END);
	r.out = slurp(out);
	r.err = slurp(err);
	r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return r;
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static void test_alrctl_no_daemon(void **state)
{
	static const char *const args[] = { "status", NULL };
	static const char *const args_s[] = { "-s", "/nonexistent/alrd.sock", "iap", "list", NULL };
	struct run r;

	r = run_alrctl("/nonexistent/alrd.sock", args);
	assert_int_equal(r.status, EX_UNAVAILABLE);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err,
		"alrctl: cannot connect to /nonexistent/alrd.sock: No such file or "
		"directory (is alrd running? use -s or $ALRD_SOCKET)\n");
	run_free(&r);

	/* -s wins over the environment */
	r = run_alrctl("/also/nonexistent", args_s);
	assert_int_equal(r.status, EX_UNAVAILABLE);
	assert_non_null(strstr(r.err, "/nonexistent/alrd.sock"));
	run_free(&r);
}

static void test_alrctl_command_line(void **state)
{
	static const struct {
		const char *args[8];
		int status;
		const char *out;         /* substring of stdout, or NULL */
	} rows[] = {
		{ { "--help" }, EX_OK, "SYNOPSIS" },
		{ { "-h" }, EX_OK, "EXIT STATUS" },
		{ { "--version" }, EX_OK, "alrctl " ALR_VERSION "\n" },
		{ { "--bogus" }, EX_USAGE, NULL },
		{ { "-x", "status" }, EX_USAGE, NULL },
		{ { NULL }, EX_USAGE, NULL },
		{ { "frobnicate" }, EX_USAGE, NULL },
		{ { "iap" }, EX_USAGE, NULL },
		{ { "iap", "delete" }, EX_USAGE, NULL },
		{ { "iap", "show" }, EX_USAGE, NULL },
		{ { "iap", "show", "1", "2" }, EX_USAGE, NULL },
		{ { "status", "extra" }, EX_USAGE, NULL },
		{ { "log-level" }, EX_USAGE, NULL },
		{ { "call" }, EX_USAGE, NULL },
		{ { "-w", "soon", "status" }, EX_USAGE, NULL },
		{ { "-w", "-5", "status" }, EX_USAGE, NULL },
		{ { "-s" }, EX_USAGE, NULL },
		{ { "call", "daemon.info", "{not json" }, EX_USAGE, NULL },
		{ { "iap", "show", "99999999999" }, EX_USAGE, NULL },
		/* arguments are fine: only then the missing daemon */
		{ { "call", "daemon.info", "{}" }, EX_UNAVAILABLE, NULL },
		{ { "monitor", "iap.*" }, EX_UNAVAILABLE, NULL },
		{ { "--help" }, EX_OK, "profile add [PROFILE OPTIONS]" },
		{ { "profile" }, EX_USAGE, NULL },
		{ { "profile", "frob" }, EX_USAGE, NULL },
		{ { "profile", "show" }, EX_USAGE, NULL },
		{ { "profile", "show", "alice" }, EX_USAGE, NULL },
		{ { "profile", "show", "99999999999999999999" }, EX_USAGE, NULL },
		{ { "profile", "set", "3" }, EX_USAGE, NULL },
		{ { "profile", "add", "--json", "p.json" }, EX_USAGE, NULL },
		{ { "profile", "add", "--snap", "1", "--iap", "2" }, EX_USAGE, NULL },
		{ { "profile", "add", "--expires", "soon" }, EX_USAGE, NULL },
		{ { "profile", "add", "--no-headers", "--header", "X: y" }, EX_USAGE, NULL },
		{ { "profile", "set", "3", "--local-user", "a", "--no-local-users" }, EX_USAGE, NULL },
		{ { "profile", "export", "a", "b" }, EX_USAGE, NULL },
		{ { "profile", "rm", "--with-passwords", "3" }, EX_USAGE, NULL },
		{ { "iap", "list", "--aor", "x" }, EX_USAGE, NULL },
		{ { "alr", "control", "3" }, EX_USAGE, NULL },
		{ { "alr", "control", "3", "--allow", "--deny" }, EX_USAGE, NULL },
		{ { "backup" }, EX_USAGE, NULL },
		{ { "backup", "" }, EX_USAGE, NULL },
		{ { "snap" }, EX_USAGE, NULL },
		{ { "profile", "add", "-h" }, EX_OK, "PROFILE OPTIONS" },
		/* help: whole, per noun, per command, and after a noun */
		{ { "help" }, EX_OK, "\nCOMMANDS\n" },
		{ { "help", "profile" }, EX_OK, "alrctl profile import FILE|-\n" },
		{ { "help", "profile", "add" }, EX_OK, "PROFILE OPTIONS" },
		{ { "profile", "--help" }, EX_OK, "alrctl profile export" },
		{ { "alr", "-h" }, EX_OK, "alrctl alr refresh PROFILE" },
		{ { "iap", "list", "--help" }, EX_OK, "Fields (-f): ID NAME" },
		{ { "help", "frob" }, EX_USAGE, NULL },
		{ { "help", "profile", "frob" }, EX_USAGE, NULL },
		{ { "help", "a", "b", "c" }, EX_USAGE, NULL },
		/* fields are checked before connecting */
		{ { "-f", "name", "reload" }, EX_USAGE, NULL },
		{ { "-f", "bogus", "iap", "list" }, EX_USAGE, NULL },
		{ { "-f", "", "iap", "list" }, EX_USAGE, NULL },
		{ { "-f", "id,,name", "iap", "list" }, EX_USAGE, NULL },
		{ { "-f", "Default-Route,id", "iap", "list" }, EX_UNAVAILABLE, NULL },
		{ { "-t", "profile", "list", "-f", "aor" }, EX_UNAVAILABLE, NULL },
		{ { "-f", "anything", "profile", "show", "3" }, EX_UNAVAILABLE, NULL },
		/* arguments are fine: only then the missing daemon */
		{ { "profile", "list" }, EX_UNAVAILABLE, NULL },
		{ { "profile", "show", "3", "-j" }, EX_UNAVAILABLE, NULL },
		{ { "alr", "control", "--allow", "3" }, EX_UNAVAILABLE, NULL },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct run r = run_alrctl("/nonexistent/alrd.sock", rows[i].args);

		if (r.status != rows[i].status)
			fail_msg("row %zu (%s): exit status %d, want %d; stderr: %s",
				 i, rows[i].args[0] ? rows[i].args[0] : "", r.status,
				 rows[i].status, r.err);
		if (rows[i].out && !strstr(r.out, rows[i].out))
			fail_msg("row %zu: stdout lacks '%s'", i, rows[i].out);
		if (rows[i].status == EX_USAGE)
			assert_true(!strncmp(r.err, "alrctl: ", 8) ||
				    /* -j, --json: the error is JSON too */
				    !strncmp(r.err, "{\"error\":", 9));
		run_free(&r);
	}
}

/* Typos get a suggestion by edit distance against the table; with -j an
 * error is a JSON object on stderr, with the same exit status. */
static void test_alrctl_suggestions_and_json_errors(void **state)
{
	static const struct {
		const char *args[6];
		const char *err;         /* stderr, whole */
	} rows[] = {
		{ { "stauts" }, "alrctl: unknown command 'stauts'; did you mean 'status'?\n"
		  "Try 'alrctl --help' for more information.\n" },
		{ { "porfile", "list" }, "alrctl: unknown command 'porfile'; did you mean "
		  "'profile'?\nTry 'alrctl --help' for more information.\n" },
		{ { "prof" }, "alrctl: unknown command 'prof'; did you mean 'profile'?\n"
		  "Try 'alrctl --help' for more information.\n" },
		{ { "profile", "lst" }, "alrctl: unknown command 'profile lst'; did you mean "
		  "'profile list'?\nTry 'alrctl --help' for more information.\n" },
		{ { "iap", "list", "--jsno" }, "alrctl: invalid option '--jsno'; did you mean "
		  "'--json'?\nTry 'alrctl --help' for more information.\n" },
		{ { "profile", "add", "--registar", "x" }, "alrctl: invalid option "
		  "'--registar'; did you mean '--registrar'?\n"
		  "Try 'alrctl --help' for more information.\n" },
		{ { "-f", "stat", "iap", "list" }, "alrctl: iap list has no field 'stat'; did "
		  "you mean 'STATE'? (fields: ID NAME INTERFACE KIND STATE REASON SSID SIGNAL "
		  "METERED ADDRESSES DEFAULT-ROUTE)\nTry 'alrctl --help' for more "
		  "information.\n" },
		{ { "help", "snpa" }, "alrctl: unknown command 'snpa'; did you mean 'snap'?\n"
		  "Try 'alrctl --help' for more information.\n" },
		/* nothing close: no guess */
		{ { "xyzzy" }, "alrctl: unknown command 'xyzzy'\n"
		  "Try 'alrctl --help' for more information.\n" },
		/* -j, before or after: JSON, no "Try" line */
		{ { "-j", "stauts" }, "{\"error\":{\"message\":\"unknown command 'stauts'; "
		  "did you mean 'status'?\",\"usage\":true}}\n" },
		{ { "profile", "lst", "--json" }, "{\"error\":{\"message\":\"unknown command "
		  "'profile lst'; did you mean 'profile list'?\",\"usage\":true}}\n" },
		{ { "-j", "status" }, "{\"error\":{\"message\":\"cannot connect to "
		  "/nonexistent/alrd.sock: No such file or directory (is alrd running? use -s "
		  "or $ALRD_SOCKET)\"}}\n" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct run r = run_alrctl("/nonexistent/alrd.sock", rows[i].args);

		if (strcmp(r.err, rows[i].err))
			fail_msg("row %zu (%s): stderr '%s', want '%s'", i, rows[i].args[0],
				 r.err, rows[i].err);
		assert_int_equal(r.status, strstr(rows[i].err, "cannot connect")
				 ? EX_UNAVAILABLE : EX_USAGE);
		assert_string_equal(r.out, "");
		run_free(&r);
	}
}

static const char iap_list_result[] =
	"{\"iaps\":["
	"{\"id\":1,\"identity\":\"if:eth0\",\"name\":\"eth0\",\"kind\":\"ethernet\","
	"\"interface\":\"eth0\",\"ifindex\":2,\"available\":true,\"reason\":null,"
	"\"link\":{\"up\":true,\"running\":true,\"lower_up\":true,\"operstate\":\"up\","
	"\"mtu\":1500,\"mac\":\"02:00:00:00:00:01\",\"type\":\"veth\"},"
	"\"addresses\":["
	"{\"address\":\"10.0.0.2\",\"prefix\":24,\"family\":\"ipv4\",\"scope\":\"global\","
	"\"usable\":true,\"flags\":[\"permanent\"]},"
	"{\"address\":\"fd00::2\",\"prefix\":64,\"family\":\"ipv6\",\"scope\":\"global\","
	"\"usable\":true,\"flags\":[\"permanent\",\"noprefixroute\"]},"
	"{\"address\":\"fe80::1\",\"prefix\":64,\"family\":\"ipv6\",\"scope\":\"link\","
	"\"usable\":false,\"flags\":[\"permanent\"]}],"
	"\"default_route\":{\"ipv4\":true,\"ipv6\":true}},"
	"{\"id\":12,\"identity\":\"if:wlan0\",\"name\":\"wlan0\",\"kind\":\"wifi\","
	"\"interface\":\"wlan0\",\"ifindex\":5,\"available\":false,\"reason\":\"no-carrier\","
	"\"link\":{\"up\":true,\"running\":false,\"lower_up\":false,\"operstate\":\"down\","
	"\"mtu\":1500,\"mac\":\"02:00:00:00:00:02\",\"type\":\"wlan\"},"
	"\"addresses\":[],\"default_route\":{\"ipv4\":false,\"ipv6\":false}}]}";

/* The same two IAPs and two NetworkManager connections: a Wi-Fi one with
 * its access point, a metered modem without a signal. */
#define IAP_NM_WIFI \
	"{\"id\":14,\"identity\":\"nm:6f1c2a4e-0d4b-4a43-9a53-2f1e4b7c9d10\"," \
	"\"name\":\"HomeNet\",\"kind\":\"wifi\",\"interface\":\"wlan1\",\"ifindex\":7," \
	"\"available\":true,\"reason\":null," \
	"\"link\":{\"up\":true,\"running\":true,\"lower_up\":true,\"operstate\":\"up\"," \
	"\"mtu\":1500,\"mac\":\"02:00:00:00:00:03\",\"type\":\"\"}," \
	"\"addresses\":[{\"address\":\"192.168.1.20\",\"prefix\":24,\"family\":\"ipv4\"," \
	"\"scope\":\"global\",\"usable\":true,\"flags\":[]}]," \
	"\"default_route\":{\"ipv4\":true,\"ipv6\":false}," \
	"\"nm\":{\"uuid\":\"6f1c2a4e-0d4b-4a43-9a53-2f1e4b7c9d10\",\"connection\":\"HomeNet\"," \
	"\"type\":\"802-11-wireless\",\"device_type\":\"wifi\",\"state\":\"activated\"," \
	"\"primary\":true,\"metered\":false,\"vpn\":false,\"ssid\":\"HomeNet 5G\"," \
	"\"bssid\":\"00:11:22:33:44:55\",\"strength\":82,\"modem_caps\":null}}"

static const char iap_list_nm_result[] =
	"{\"iaps\":["
	"{\"id\":1,\"identity\":\"if:eth0\",\"name\":\"eth0\",\"kind\":\"ethernet\","
	"\"interface\":\"eth0\",\"ifindex\":2,\"available\":true,\"reason\":null,"
	"\"addresses\":[{\"address\":\"10.0.0.2\",\"prefix\":24,\"family\":\"ipv4\","
	"\"scope\":\"global\",\"usable\":true,\"flags\":[\"permanent\"]}],"
	"\"default_route\":{\"ipv4\":true,\"ipv6\":false},\"nm\":null},"
	IAP_NM_WIFI ","
	"{\"id\":15,\"identity\":\"nm:0b6c8f2d-93a1-4f7e-8d7c-5a4e3b2c1d0f\","
	"\"name\":\"Mobile\",\"kind\":\"cellular\",\"interface\":\"wwan0\",\"ifindex\":8,"
	"\"available\":false,\"reason\":\"no-address\",\"addresses\":[],"
	"\"default_route\":{\"ipv4\":false,\"ipv6\":false},"
	"\"nm\":{\"uuid\":\"0b6c8f2d-93a1-4f7e-8d7c-5a4e3b2c1d0f\",\"connection\":\"Mobile\","
	"\"type\":\"gsm\",\"device_type\":\"modem\",\"state\":\"activating\","
	"\"primary\":false,\"metered\":true,\"vpn\":false,\"ssid\":null,\"bssid\":null,"
	"\"strength\":null,\"modem_caps\":\"gsm-umts,lte\"}}]}";

/* One answer per run of alrctl: the method it must call, and a result or
 * an error. */
static struct {
	const char *method;
	const char *params;      /* what alrctl must send, compact JSON */
	const char *result;      /* NULL: answer with error */
	int error;
} answer;

static void script_answer_once(struct peer *p)
{
	struct json_object *req = peer_request(p, answer.method);

	if (answer.params)
		CHECK(!strcmp(req_params(req), answer.params));
	if (answer.result)
		peer_result(p, req, answer.result);
	else if (answer.error)
		peer_send(p, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":%d,"
			  "\"message\":\"boom %d\"}}\n", req_id(req), answer.error,
			  answer.error);
	/* else: never answer */
	json_object_put(req);
	peer_wait_eof(p);
}

static void test_alrctl_iap_list(void **state)
{
	static const char *const args[] = { "iap", "list", NULL };
	static const char *const args_json[] = { "-j", "iap", "list", NULL };
	struct run r;

	answer.method = "iap.list";
	answer.params = "";
	answer.result = iap_list_result;
	if (!alrctl_path())
		skip();

	fake_start(script_answer_once);
	r = run_alrctl(fx.fake.path, args);
	fake_stop();
	assert_int_equal(r.status, EX_OK);
	assert_string_equal(r.err, "");
	assert_string_equal(r.out,
		"ID  NAME   INTERFACE  KIND      STATE  REASON      SSID  SIGNAL  "
		"METERED  ADDRESSES               DEFAULT ROUTE\n"
		"1   eth0   eth0       ethernet  up     -           -     -       "
		"-        10.0.0.2/24,fd00::2/64  ipv4,ipv6\n"
		"12  wlan0  wlan0      wifi      down   no-carrier  -     -       "
		"-        -                       -\n");
	run_free(&r);

	/* NetworkManager connections: named by the connection, with the
	 * access point's SSID and signal and the device's metering. */
	answer.result = iap_list_nm_result;
	fake_start(script_answer_once);
	r = run_alrctl(fx.fake.path, args);
	fake_stop();
	assert_int_equal(r.status, EX_OK);
	assert_string_equal(r.err, "");
	assert_string_equal(r.out,
		"ID  NAME     INTERFACE  KIND      STATE  REASON      SSID        SIGNAL  "
		"METERED  ADDRESSES        DEFAULT ROUTE\n"
		"1   eth0     eth0       ethernet  up     -           -           -       "
		"-        10.0.0.2/24      ipv4\n"
		"14  HomeNet  wlan1      wifi      up     -           HomeNet 5G  82%     "
		"no       192.168.1.20/24  ipv4\n"
		"15  Mobile   wwan0      cellular  down   no-address  -           -       "
		"yes      -                -\n");
	run_free(&r);
	answer.result = iap_list_result;

	fake_start(script_answer_once);
	r = run_alrctl(fx.fake.path, args_json);
	fake_stop();
	assert_int_equal(r.status, EX_OK);
	{
		struct json_object *want = json_tokener_parse(iap_list_result);
		struct json_object *got = json_tokener_parse(r.out);

		assert_non_null(got);
		assert_true(json_object_equal(want, got));
		/* one line */
		assert_ptr_equal(strchr(r.out, '\n'), r.out + strlen(r.out) - 1);
		json_object_put(want);
		json_object_put(got);
	}
	run_free(&r);
}

static void test_alrctl_iap_show(void **state)
{
	static const char *const args[] = { "iap", "show", "eth0", NULL };
	struct run r;
	char *result;

	if (!alrctl_path())
		skip();
	/* the first IAP of the list, as iap.get answers it */
	{
		const char *first = iap_list_result + strlen("{\"iaps\":[");
		const char *end = strstr(iap_list_result, ",{\"id\":12");

		assert_true(asprintf(&result, "{\"iap\":%.*s}",
				     (int)(end - first), first) > 0);
	}
	answer.method = "iap.get";
	answer.params = "{\"name\":\"eth0\"}";
	answer.result = result;
	fake_start(script_answer_once);
	r = run_alrctl(fx.fake.path, args);
	fake_stop();
	free(result);
	assert_int_equal(r.status, EX_OK);
	assert_string_equal(r.out,
		"id:                 1\n"
		"identity:           if:eth0\n"
		"name:               eth0\n"
		"kind:               ethernet\n"
		"interface:          eth0\n"
		"ifindex:            2\n"
		"available:          yes\n"
		"reason:             -\n"
		"link.up:            yes\n"
		"link.running:       yes\n"
		"link.lower_up:      yes\n"
		"link.operstate:     up\n"
		"link.mtu:           1500\n"
		"link.mac:           02:00:00:00:00:01\n"
		"link.type:          veth\n"
		"default_route.ipv4: yes\n"
		"default_route.ipv6: yes\n"
		"addresses:          3\n"
		"    ADDRESS      FAMILY  SCOPE   USABLE  FLAGS\n"
		"    10.0.0.2/24  ipv4    global  yes     permanent\n"
		"    fd00::2/64   ipv6    global  yes     permanent,noprefixroute\n"
		"    fe80::1/64   ipv6    link    no      permanent\n");
	run_free(&r);
}

static void test_alrctl_iap_show_nm(void **state)
{
	static const char *const args[] = { "iap", "show", "HomeNet", NULL };
	struct run r;

	if (!alrctl_path())
		skip();
	answer.method = "iap.get";
	answer.params = "{\"name\":\"HomeNet\"}";
	answer.result = "{\"iap\":" IAP_NM_WIFI "}";
	fake_start(script_answer_once);
	r = run_alrctl(fx.fake.path, args);
	fake_stop();
	assert_int_equal(r.status, EX_OK);
	assert_string_equal(r.err, "");
	assert_string_equal(r.out,
		"id:                 14\n"
		"identity:           nm:6f1c2a4e-0d4b-4a43-9a53-2f1e4b7c9d10\n"
		"name:               HomeNet\n"
		"kind:               wifi\n"
		"interface:          wlan1\n"
		"ifindex:            7\n"
		"available:          yes\n"
		"reason:             -\n"
		"link.up:            yes\n"
		"link.running:       yes\n"
		"link.lower_up:      yes\n"
		"link.operstate:     up\n"
		"link.mtu:           1500\n"
		"link.mac:           02:00:00:00:00:03\n"
		"link.type:          \n"
		"default_route.ipv4: yes\n"
		"default_route.ipv6: no\n"
		"nm.uuid:            6f1c2a4e-0d4b-4a43-9a53-2f1e4b7c9d10\n"
		"nm.connection:      HomeNet\n"
		"nm.type:            802-11-wireless\n"
		"nm.device_type:     wifi\n"
		"nm.state:           activated\n"
		"nm.primary:         yes\n"
		"nm.metered:         no\n"
		"nm.vpn:             no\n"
		"nm.ssid:            HomeNet 5G\n"
		"nm.bssid:           00:11:22:33:44:55\n"
		"nm.strength:        82\n"
		"nm.modem_caps:      -\n"
		"addresses:          1\n"
		"    ADDRESS          FAMILY  SCOPE   USABLE  FLAGS\n"
		"    192.168.1.20/24  ipv4    global  yes     -\n");
	run_free(&r);
}

/* The daemon's errors become sysexits codes and "alrctl: MESSAGE". */
static void test_alrctl_errors(void **state)
{
	static const struct {
		const char *args[4];
		const char *method;
		const char *params;
		int error;
		int status;
	} rows[] = {
		{ { "iap", "show", "9" }, "iap.get", "{\"id\":9}", -32002, EX_DATAERR },
		{ { "log-level", "loud" }, "daemon.set-log-level", "{\"level\":\"loud\"}",
		  -32602, EX_DATAERR },
		{ { "reload" }, "daemon.reload", "", -32001, EX_NOPERM },
		{ { "reload" }, "daemon.reload", "", -32004, EX_CONFIG },
		{ { "status" }, "daemon.info", "", -32603, EX_SOFTWARE },
		{ { "call", "x.y", "{\"a\":[1]}" }, "x.y", "{\"a\":[1]}", -32601, EX_SOFTWARE },
		{ { "monitor" }, "events.subscribe", "{\"topics\":[\"*\"]}", -32003, EX_TEMPFAIL },
		{ { "-w", "100", "status" }, "daemon.info", "", 0, EX_TEMPFAIL },
	};

	if (!alrctl_path())
		skip();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char want[64];
		struct run r;

		answer.method = rows[i].method;
		answer.params = rows[i].params;
		answer.result = NULL;
		answer.error = rows[i].error;
		fake_start(script_answer_once);
		r = run_alrctl(fx.fake.path, rows[i].args);
		fake_stop();
		if (r.status != rows[i].status)
			fail_msg("row %zu: exit status %d, want %d; stderr: %s", i,
				 r.status, rows[i].status, r.err);
		if (rows[i].error)
			snprintf(want, sizeof(want), "alrctl: boom %d\n", rows[i].error);
		else
			snprintf(want, sizeof(want), "alrctl: no answer from alrd within 100 ms\n");
		assert_string_equal(r.err, want);
		assert_string_equal(r.out, "");
		run_free(&r);
	}
}

/* With -j: alrd's error as a JSON object with its code, the same status. */
static void test_alrctl_json_errors(void **state)
{
	static const char *const args[] = { "-j", "reload", NULL };
	struct run r;

	if (!alrctl_path())
		skip();
	answer.method = "daemon.reload";
	answer.params = "";
	answer.result = NULL;
	answer.error = -32004;
	fake_start(script_answer_once);
	r = run_alrctl(fx.fake.path, args);
	fake_stop();
	assert_int_equal(r.status, EX_CONFIG);
	assert_string_equal(r.err, "{\"error\":{\"message\":\"boom -32004\",\"code\":-32004}}\n");
	assert_string_equal(r.out, "");
	run_free(&r);
}

/* A SNAP file alrd rejected fails the reload (EX_CONFIG), named. */
static void test_alrctl_reload_rejected(void **state)
{
#define REJECTED_RESULT \
		"{\"reloaded\":true,\"rejected\":[" \
		"{\"file\":\"/etc/alrd/snap.d/20-bad.conf\",\"line\":4," \
		"\"problem\":\"unknown key 'stabel-time'\"}," \
		"{\"file\":\"/etc/alrd/snap.d/30-open.conf\",\"line\":null," \
		"\"problem\":\"writable by others\"}]}"
	static const char result[] = REJECTED_RESULT;
	static const struct {
		const char *args[3];
		const char *result;
		int status;
		const char *out, *err;
	} rows[] = {
		{ { "reload" }, result, EX_CONFIG,
		  "configuration reloaded, but 2 SNAP files rejected: their SNAPs are not "
		  "in force\n",
		  "alrctl: /etc/alrd/snap.d/20-bad.conf:4: unknown key 'stabel-time'; file "
		  "rejected\n"
		  "alrctl: /etc/alrd/snap.d/30-open.conf: writable by others; file rejected\n" },
		{ { "-j", "reload" }, result, EX_CONFIG, REJECTED_RESULT "\n",
		  "{\"error\":{\"message\":\"/etc/alrd/snap.d/20-bad.conf:4: unknown key "
		  "'stabel-time'; file rejected\"}}\n"
		  "{\"error\":{\"message\":\"/etc/alrd/snap.d/30-open.conf: writable by "
		  "others; file rejected\"}}\n" },
		{ { "reload" }, "{\"reloaded\":true,\"rejected\":[]}", EX_OK,
		  "configuration reloaded\n", "" },
	};

	if (!alrctl_path())
		skip();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct run r;

		answer.method = "daemon.reload";
		answer.params = "";
		answer.result = rows[i].result;
		fake_start(script_answer_once);
		r = run_alrctl(fx.fake.path, rows[i].args);
		fake_stop();
		assert_int_equal(r.status, rows[i].status);
		/* -j: the result itself on stdout */
		assert_string_equal(r.out, rows[i].out);
		assert_string_equal(r.err, rows[i].err);
		run_free(&r);
	}
}

/* -t and -f: nmcli's terse form, ':' and '\\' escaped; columns chosen. */
static void test_alrctl_terse_and_fields(void **state)
{
	static const struct {
		const char *args[8];
		const char *method, *params;
		int status;
		const char *out;
	} rows[] = {
		{ { "-t", "iap", "list" }, "iap.list", "", EX_OK,
		  "1:eth0:eth0:ethernet:up:-:-:-:-:10.0.0.2/24,fd00\\:\\:2/64:ipv4,ipv6\n"
		  "12:wlan0:wlan0:wifi:down:no-carrier:-:-:-:-:-\n" },
		{ { "iap", "list", "-t", "-f", "name,ADDRESSES" }, "iap.list", "", EX_OK,
		  "eth0:10.0.0.2/24,fd00\\:\\:2/64\nwlan0:-\n" },
		{ { "-f", "state,id,default-route", "iap", "list" }, "iap.list", "", EX_OK,
		  "STATE  ID  DEFAULT ROUTE\nup     1   ipv4,ipv6\ndown   12  -\n" },
		{ { "-t", "-f", "link.mac,link.mtu,addresses", "iap", "show", "eth0" },
		  "iap.get", "{\"name\":\"eth0\"}", EX_OK,
		  "link.mtu:1500\n"
		  "link.mac:02\\:00\\:00\\:00\\:00\\:01\n"
		  "addresses[0]:10.0.0.2/24 ipv4 global usable permanent\n"
		  "addresses[1]:fd00\\:\\:2/64 ipv6 global usable permanent,noprefixroute\n"
		  "addresses[2]:fe80\\:\\:1/64 ipv6 link unusable permanent\n" },
		{ { "-f", "link", "iap", "show", "eth0" }, "iap.get", "{\"name\":\"eth0\"}",
		  EX_OK,
		  "link.up:        yes\n"
		  "link.running:   yes\n"
		  "link.lower_up:  yes\n"
		  "link.operstate: up\n"
		  "link.mtu:       1500\n"
		  "link.mac:       02:00:00:00:00:01\n"
		  "link.type:      veth\n" },
		{ { "-f", "nosuch", "iap", "show", "eth0" }, "iap.get", "{\"name\":\"eth0\"}",
		  EX_USAGE, "" },
	};
	char *get;

	if (!alrctl_path())
		skip();
	{
		const char *first = iap_list_result + strlen("{\"iaps\":[");
		const char *end = strstr(iap_list_result, ",{\"id\":12");

		assert_true(asprintf(&get, "{\"iap\":%.*s}", (int)(end - first), first) > 0);
	}
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct run r;

		answer.method = rows[i].method;
		answer.params = rows[i].params;
		answer.result = !strcmp(rows[i].method, "iap.get") ? get : iap_list_result;
		fake_start(script_answer_once);
		r = run_alrctl(fx.fake.path, rows[i].args);
		fake_stop();
		if (r.status != rows[i].status || strcmp(r.out, rows[i].out) != 0)
			fail_msg("row %zu: exit status %d, stdout '%s' want '%s', stderr '%s'",
				 i, r.status, r.out, rows[i].out, r.err);
		run_free(&r);
	}
	free(get);
}

static void test_alrctl_simple_commands(void **state)
{
	static const struct {
		const char *args[4];
		const char *method;
		const char *params;
		const char *result;
		const char *out;
	} rows[] = {
		{ { "reload" }, "daemon.reload", "", "{\"reloaded\":true}",
		  "configuration reloaded\n" },
		{ { "-j", "reload" }, "daemon.reload", "", "{\"reloaded\":true}",
		  "{\"reloaded\":true}\n" },
		{ { "log-level", "debug" }, "daemon.set-log-level", "{\"level\":\"debug\"}",
		  "{\"level\":\"debug\",\"previous\":\"info\"}",
		  "log level: debug (was info)\n" },
		{ { "call", "-j", "daemon.info" }, "daemon.info", "", "{\"pid\":1}",
		  "{\"pid\":1}\n" },
		{ { "call", "iap.get", "{\"id\": 3}" }, "iap.get", "{\"id\":3}", "{\"n\":[1]}",
		  "{\n  \"n\": [\n    1\n  ]\n}\n" },
	};

	if (!alrctl_path())
		skip();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct run r;

		answer.method = rows[i].method;
		answer.params = rows[i].params;
		answer.result = rows[i].result;
		fake_start(script_answer_once);
		r = run_alrctl(fx.fake.path, rows[i].args);
		fake_stop();
		if (r.status != EX_OK || strcmp(r.out, rows[i].out) != 0)
			fail_msg("row %zu: exit status %d, stdout '%s', stderr '%s'",
				 i, r.status, r.out, r.err);
		run_free(&r);
	}
}

static void script_status(struct peer *p)
{
	struct json_object *req = peer_request(p, "daemon.info");

	peer_result(p, req,
		    "{\"version\":\"0.1.0\",\"pid\":1234,\"uptime\":7384.5,"
		    "\"config_file\":\"/etc/alrd/alrd.conf\",\"state_dir\":\"/var/lib/alrd\","
		    "\"socket\":\"/run/alrd/alrd.sock\",\"log_level\":\"info\","
		    "\"clients\":2,\"iaps\":2,"
		    "\"netlink\":{\"messages\":120,\"snapshots\":40,\"resyncs\":0},"
		    "\"caller\":{\"uid\":0,\"gid\":0,\"pid\":4242,\"can_control\":true}}");
	json_object_put(req);
	req = peer_request(p, "iap.list");
	peer_result(p, req, iap_list_result);
	json_object_put(req);
	peer_wait_eof(p);
}

static void test_alrctl_status(void **state)
{
	static const char *const args[] = { "status", NULL };
	struct run r;

	if (!alrctl_path())
		skip();
	fake_start(script_status);
	r = run_alrctl(fx.fake.path, args);
	fake_stop();
	assert_int_equal(r.status, EX_OK);
	assert_string_equal(r.out,
		"version:    0.1.0\n"
		"pid:        1234\n"
		"uptime:     2h 03m 04s\n"
		"socket:     /run/alrd/alrd.sock\n"
		"config:     /etc/alrd/alrd.conf\n"
		"state dir:  /var/lib/alrd\n"
		"log level:  info\n"
		"clients:    2\n"
		"you:        uid 0, may control\n"
		"netlink:    120 messages, 40 snapshots, 0 resyncs\n"
		"IAPs:       2 (1 up)\n"
		"\n"
		"    ID  NAME   KIND      STATE  REASON\n"
		"    1   eth0   ethernet  up     -\n"
		"    12  wlan0  wifi      down   no-carrier\n");
	run_free(&r);
}

#define EVENT_TIME 1763728200

static void script_monitor(struct peer *p)
{
	struct json_object *req = peer_request(p, "events.subscribe");

	CHECK(!strcmp(req_params(req), "{\"topics\":[\"iap.*\"]}"));
	peer_result(p, req, "{\"topics\":[\"iap.*\"]}");
	json_object_put(req);
	peer_event(p, "iap.down",
		   "{\"time\":1763728200.123456,\"iap\":{\"id\":3,\"name\":\"wlan0\","
		   "\"kind\":\"wifi\",\"available\":false,\"reason\":\"no-carrier\"}}");
	peer_event(p, "iap.up",
		   "{\"time\":1763728201.5,\"iap\":{\"id\":3,\"name\":\"wlan0\","
		   "\"kind\":\"wifi\",\"available\":true,\"reason\":null}}");
	/* NetworkManager activates a connection on wlan0: an identity switch */
	peer_event(p, "iap.added",
		   "{\"time\":1763728201.75,\"iap\":{\"id\":14,\"name\":\"HomeNet\","
		   "\"kind\":\"wifi\",\"available\":true,\"reason\":null,\"replaces\":3}}");
	peer_event(p, "iap.removed",
		   "{\"time\":1763728201.75,\"iap\":{\"id\":3,\"name\":\"wlan0\","
		   "\"kind\":\"wifi\",\"available\":true,\"reason\":null,\"replaced_by\":14}}");
	peer_step(p);
	/* and the daemon goes away */
}

/* Read from @fd until @n lines arrived or the deadline passed. */
static char *read_lines(int fd, int n)
{
	static char buf[4096];
	size_t len = 0;
	int64_t deadline = now_ms() + TIMEOUT_MS;
	int lines = 0;

	while (lines < n && len < sizeof(buf) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, (int)(deadline - now_ms())) <= 0)
			break;
		r = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			lines += buf[len + i] == '\n';
		len += (size_t)r;
	}
	buf[len] = '\0';
	return buf;
}

static void test_alrctl_monitor(void **state)
{
	static const char *const args[] = { "monitor", "iap.*", NULL };
	static const char *const args_json[] = { "-j", "monitor", "iap.*", NULL };
	FILE *err = tmpfile();
	char want[512], hms[16];
	struct tm tm;
	time_t t = EVENT_TIME;
	int out[2], status;
	pid_t pid;
	char *lines;

	if (!alrctl_path())
		skip();
	localtime_r(&t, &tm);
	strftime(hms, sizeof(hms), "%H:%M:%S", &tm);

	/* SIGINT ends it with 0 */
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	fake_start(script_monitor);
	pid = spawn_alrctl(fx.fake.path, args, out[1], fileno(err));
	close(out[1]);
	lines = read_lines(out[0], 4);
	snprintf(want, sizeof(want),
		 "%s.123 iap.down    3 wlan0 wifi unavailable (no-carrier)\n", hms);
	/* the second event is a second later */
	tm.tm_sec += 1;
	t = mktime(&tm);
	localtime_r(&t, &tm);
	strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
	snprintf(want + strlen(want), sizeof(want) - strlen(want),
		 "%s.500 iap.up      3 wlan0 wifi available\n"
		 "%s.750 iap.added   14 HomeNet wifi available replaces=3\n"
		 "%s.750 iap.removed 3 wlan0 wifi available replaced_by=14\n",
		 hms, hms, hms);
	kill(pid, SIGINT);
	status = reap(pid, TIMEOUT_MS);
	close(out[0]);
	fake_step();
	fake_stop();
	assert_string_equal(lines, want);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), EX_OK);
	fclose(err);

	/* -j: the events as JSON, then EX_UNAVAILABLE when alrd goes away */
	err = tmpfile();
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	fake_start(script_monitor);
	pid = spawn_alrctl(fx.fake.path, args_json, out[1], fileno(err));
	close(out[1]);
	lines = read_lines(out[0], 2);
	fake_step();
	status = reap(pid, TIMEOUT_MS);
	close(out[0]);
	fake_stop();
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), EX_UNAVAILABLE);
	assert_non_null(strstr(lines, "{\"jsonrpc\":\"2.0\",\"method\":\"iap.down\","
			       "\"params\":{\"time\":1763728200.12345"));
	assert_non_null(strstr(lines, "\n{\"jsonrpc\":\"2.0\",\"method\":\"iap.up\","));
	fseek(err, 0, SEEK_END);
	lines = slurp(err);
	/* -j: the error is JSON too */
	assert_string_equal(lines, "{\"error\":{\"message\":\"alrd closed the connection\"}}\n");
	free(lines);
}

/* --- alrctl: profiles, the store, SNAPs, roaming control --- */

/* A fake daemon answering a sequence of requests. */
struct exchange {
	const char *method;
	const char *params;      /* what alrctl must send, compared as JSON
				  * values; "": no params; NULL: unchecked */
	const char *result;      /* NULL: answer with the error below */
	int error;
	const char *message;
};

#define MAX_EXCHANGES 8
static struct exchange exchanges[MAX_EXCHANGES];

static void set_exchanges(const struct exchange *x, size_t n)
{
	assert_true(n < MAX_EXCHANGES);
	memset(exchanges, 0, sizeof(exchanges));
	memcpy(exchanges, x, n * sizeof(*x));
}

static bool params_match(struct json_object *req, const char *want)
{
	struct json_object *got = NULL, *w;
	bool ok;

	json_object_object_get_ex(req, "params", &got);
	if (!*want) {
		ok = got == NULL;
	} else {
		w = json_tokener_parse(want);
		CHECK(w);
		ok = json_object_equal(w, got);
		json_object_put(w);
	}
	if (!ok)
		fprintf(stderr, "fake daemon: params %s\n             want   %s\n",
			req_params(req), want);
	return ok;
}

static void peer_error_message(struct peer *p, struct json_object *req, int code,
			       const char *message)
{
	struct json_object *m = json_object_new_string(message);

	peer_send(p, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":%d,"
		  "\"message\":%s}}\n", req_id(req), code,
		  json_object_to_json_string(m));
	json_object_put(m);
}

static void script_exchanges(struct peer *p)
{
	for (size_t i = 0; i < MAX_EXCHANGES && exchanges[i].method; i++) {
		const struct exchange *x = &exchanges[i];
		struct json_object *req = peer_request(p, NULL), *m = NULL;

		json_object_object_get_ex(req, "method", &m);
		if (strcmp(json_object_get_string(m), x->method) != 0)
			fprintf(stderr, "fake daemon: method %s, want %s\n",
				json_object_get_string(m), x->method);
		CHECK(!strcmp(json_object_get_string(m), x->method));
		if (x->params)
			CHECK(params_match(req, x->params));
		if (x->result)
			peer_result(p, req, x->result);
		else
			peer_error_message(p, req, x->error, x->message);
		json_object_put(req);
	}
	peer_wait_eof(p);
}

/* Run alrctl against the exchanges, with @input on its standard input
 * (NULL: none). */
static struct run run_exchanges(const char *const *args, const char *input)
{
	FILE *in = NULL;
	struct run r;

	if (input) {
		in = tmpfile();
		assert_non_null(in);
		fputs(input, in);
		fflush(in);
		rewind(in);
		spawn_stdin = fileno(in);
	}
	fake_start(script_exchanges);
	r = run_alrctl(fx.fake.path, args);
	fake_stop();
	spawn_stdin = -1;
	if (in)
		fclose(in);
	return r;
}

static char *write_temp(const char *content)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/alrctl-test-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

static void test_alrctl_profile_add(void **state)
{
	static const char *const args[] = {
		"profile", "add", "--name", "Example Voice",
		"--aor", "sip:alice@example.org", "--registrar", "sip:example.org",
		"--transport", "tls", "--user", "alice", "--realm", "example.org",
		"--password-stdin", "--snap", "laptop", "--bearer", "wifi", "--auto",
		"--expires", "1800", "--contact-param", "audio",
		"--contact-param",
		"+sip.instance=\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\"",
		"--header", "User-Agent: alrd", "--impi", "alice@example.org",
		"--no-sec-agree", "--sigcomp", "--dscp", "24",
		"--proxy", "sips:proxy.example.org;lr", "--proxy-transport", "auto",
		NULL,
	};
	static const struct exchange x[] = {
		{ "snap.get", "{\"name\":\"laptop\"}",
		  "{\"snap\":{\"id\":2,\"name\":\"laptop\"}}", 0, NULL },
		{ "profile.create",
		  "{\"profile\":{\"provider_name\":\"Example Voice\","
		  "\"aor\":\"sip:alice@example.org\","
		  "\"registrar\":{\"uri\":\"sip:example.org\",\"transport\":\"tls\","
		  "\"digest_user\":\"alice\",\"realm\":\"example.org\","
		  "\"password\":\"s3cret pass\"},"
		  "\"outbound_proxy\":{\"uri\":\"sips:proxy.example.org;lr\","
		  "\"transport\":\"auto\"},"
		  "\"bearer\":\"wifi\",\"auto_register\":true,\"expires\":1800,"
		  "\"contact_params\":[\"audio\",\"+sip.instance=\\\"<urn:uuid:"
		  "f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\\\"\"],"
		  "\"extra_headers\":[\"User-Agent: alrd\"],"
		  "\"private_identity\":\"alice@example.org\","
		  "\"security_negotiation\":false,\"sigcomp\":true,\"dscp\":24,"
		  "\"snap_id\":2,\"iap_id\":null}}",
		  "{\"profile\":{\"id\":4,\"aor\":\"sip:alice@example.org\"}}", 0, NULL },
	};
	struct run r;

	if (!alrctl_path())
		skip();
	set_exchanges(x, 2);
	/* one line, CRLF and all; what follows it is not read */
	r = run_exchanges(args, "s3cret pass\r\nnext line\n");
	if (r.status != EX_OK)
		fail_msg("exit status %d; stderr: %s", r.status, r.err);
	assert_string_equal(r.out, "created profile 4 (sip:alice@example.org)\n");
	assert_string_equal(r.err, "");
	run_free(&r);
}

static void test_alrctl_profile_set(void **state)
{
	static const char json[] =
		"{\"aor\": \"sip:bob@example.org\",\n"
		" \"registrar\": {\"uri\": \"sip:example.org\", \"transport\": \"udp\"},\n"
		" \"expires\": 600}\n";
	const char *file = write_temp(json);
	const struct {
		const char *args[12];
		struct exchange x[2];
		const char *out;
		const char *input;      /* standard input, or NULL */
	} rows[] = {
		{ { "profile", "set", "3", "--iap", "5", "--no-password", "--realm", "",
		    "--no-auto", "--no-headers" },
		  { { "profile.update",
		      "{\"id\":3,\"profile\":{\"registrar\":{\"realm\":\"\",\"password\":null},"
		      "\"auto_register\":false,\"extra_headers\":[],"
		      "\"snap_id\":null,\"iap_id\":5}}",
		      "{\"profile\":{\"id\":3}}", 0, NULL } },
		  "updated profile 3\n", NULL },
		/* the options over the file, servers member by member */
		{ { "profile", "set", "3", "--from-json", file, "--transport", "tls",
		    "--snap", "default", "--name", "" },
		  { { "profile.update",
		      "{\"id\":3,\"profile\":{\"aor\":\"sip:bob@example.org\","
		      "\"registrar\":{\"uri\":\"sip:example.org\",\"transport\":\"tls\"},"
		      "\"expires\":600,\"provider_name\":\"\",\"snap_id\":0,\"iap_id\":null}}",
		      "{\"profile\":{\"id\":3}}", 0, NULL } },
		  "updated profile 3\n", NULL },
		/* the users whose softphones may register it (docs/edge.md) */
		{ { "profile", "set", "3", "--local-user", "alice", "--local-user", "bob" },
		  { { "profile.update",
		      "{\"id\":3,\"profile\":{\"local_users\":[\"alice\",\"bob\"]}}",
		      "{\"profile\":{\"id\":3}}", 0, NULL } },
		  "updated profile 3\n", NULL },
		{ { "profile", "set", "3", "--no-local-users" },
		  { { "profile.update",
		      "{\"id\":3,\"profile\":{\"local_users\":[]}}",
		      "{\"profile\":{\"id\":3}}", 0, NULL } },
		  "updated profile 3\n", NULL },
		{ { "profile", "set", "3", "--no-local-password" },
		  { { "profile.update",
		      "{\"id\":3,\"profile\":{\"local_password\":null}}",
		      "{\"profile\":{\"id\":3}}", 0, NULL } },
		  "updated profile 3\n", NULL },
		{ { "profile", "set", "3", "--local-password-stdin" },
		  { { "profile.update",
		      "{\"id\":3,\"profile\":{\"local_password\":\"loc pass\"}}",
		      "{\"profile\":{\"id\":3}}", 0, NULL } },
		  "updated profile 3\n", "loc pass\n" },
		/* an IAP by name */
		{ { "-j", "profile", "set", "3", "--iap", "wlan0" },
		  { { "iap.get", "{\"name\":\"wlan0\"}", "{\"iap\":{\"id\":12}}", 0, NULL },
		    { "profile.update",
		      "{\"id\":3,\"profile\":{\"snap_id\":null,\"iap_id\":12}}",
		      "{\"profile\":{\"id\":3}}", 0, NULL } },
		  "{\"profile\":{\"id\":3}}\n", NULL },
	};

	if (!alrctl_path())
		skip();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct run r;

		set_exchanges(rows[i].x, rows[i].x[1].method ? 2 : 1);
		r = run_exchanges(rows[i].args, rows[i].input);
		if (r.status != EX_OK || strcmp(r.out, rows[i].out) != 0)
			fail_msg("row %zu: exit status %d, stdout '%s', stderr '%s'",
				 i, r.status, r.out, r.err);
		run_free(&r);
	}
	unlink(file);
}

/*
 * A password is never taken from the command line, and nothing is sent
 * when the command line or the password is wrong: alrctl must not even
 * connect.  A listening socket nobody accepts on tells.
 */
static void test_alrctl_password_refused(void **state)
{
	const char *bad_json = write_temp("[1, 2]");
	const struct {
		const char *args[8];
		const char *input;
		int status;
		const char *err;         /* substring of stderr */
	} rows[] = {
		{ { "profile", "add", "--aor", "sip:a@example.org", "--password=hunter2" },
		  NULL, EX_USAGE, "use --password-stdin or --password-prompt" },
		{ { "profile", "add", "--password", "hunter2" },
		  NULL, EX_USAGE, "--password is refused" },
		{ { "profile", "set", "3", "--password=hunter2" },
		  NULL, EX_USAGE, "--password is refused" },
		{ { "profile", "set", "3", "--password-stdin=hunter2" },
		  NULL, EX_USAGE, "'--password-stdin' takes no value" },
		{ { "profile", "add", "--passw=hunter2" },
		  NULL, EX_USAGE, "invalid option '--passw'" },
		{ { "profile", "add", "--aor", "sip:a@example.org", "--password-stdin" },
		  "", EX_DATAERR, "standard input is empty" },
		{ { "profile", "add", "--aor", "sip:a@example.org", "--password-stdin" },
		  "\n", EX_DATAERR, "the password is empty" },
		{ { "profile", "add", "--password-stdin", "--from-json", "-" },
		  "{}\n", EX_USAGE, "cannot both read standard input" },
		{ { "profile", "add", "--password-stdin", "--password-prompt" },
		  NULL, EX_USAGE, "exclude each other" },
		{ { "profile", "set", "3", "--local-password=hunter2" },
		  NULL, EX_USAGE, "--local-password is refused" },
		{ { "profile", "set", "3", "--local-password", "hunter2" },
		  NULL, EX_USAGE, "use --local-password-stdin or --local-password-prompt" },
		{ { "profile", "set", "3", "--local-password-stdin", "--no-local-password" },
		  NULL, EX_USAGE, "exclude each other" },
		{ { "profile", "set", "3", "--local-password-stdin", "--password-stdin" },
		  "a\nb\n", EX_USAGE, "cannot share standard input" },
		{ { "profile", "set", "3", "--local-password-stdin" },
		  "\n", EX_DATAERR, "--no-local-password removes a password" },
		{ { "profile", "add", "--from-json", bad_json },
		  NULL, EX_DATAERR, "a profile is a JSON object, not array" },
		{ { "profile", "add", "--from-json", "/nonexistent/p.json" },
		  NULL, EX_NOINPUT, "cannot open /nonexistent/p.json" },
		{ { "profile", "add", "--from-json", "-" },
		  "{\"aor\": ", EX_DATAERR, "standard input: not valid JSON" },
		{ { "profile", "add", "--from-json", "-" },
		  "{} {}", EX_DATAERR, "more than one JSON value" },
	};
	char dir[] = "/tmp/alrctl-test-XXXXXX", path[64];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int lfd;

	if (!alrctl_path())
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/alrd.sock", dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 4), 0);

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		FILE *in = NULL;
		struct run r;
		int fd;

		if (rows[i].input) {
			in = tmpfile();
			fputs(rows[i].input, in);
			fflush(in);
			rewind(in);
			spawn_stdin = fileno(in);
		}
		r = run_alrctl(path, rows[i].args);
		spawn_stdin = -1;
		if (in)
			fclose(in);
		if (r.status != rows[i].status || !strstr(r.err, rows[i].err))
			fail_msg("row %zu: exit status %d, want %d; stderr: %s", i,
				 r.status, rows[i].status, r.err);
		assert_null(strstr(r.err, "hunter2"));
		assert_string_equal(r.out, "");
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			fail_msg("row %zu: alrctl connected", i);
		assert_int_equal(errno, EAGAIN);
		run_free(&r);
	}
	close(lfd);
	unlink(path);
	rmdir(dir);
	unlink(bad_json);
}

static const char profiles_result[] =
	"{\"profiles\":["
	"{\"id\":3,\"provider_name\":\"Example Voice\",\"type\":\"ietf\","
	"\"aor\":\"sip:alice@example.org\",\"snap_id\":2,\"iap_id\":null,"
	"\"auto_register\":true,\"default\":true,"
	"\"state\":{\"registration\":\"registered\",\"iap_id\":7,"
	"\"contact\":\"<sip:alice@10.0.0.2:5060>\",\"users\":1,\"auto\":true,"
	"\"error\":null,\"plugin\":\"ietf\",\"report\":null}},"
	"{\"id\":4,\"provider_name\":null,\"type\":\"ims\","
	"\"aor\":\"sip:bob@ims.example.net\",\"snap_id\":null,\"iap_id\":5,"
	"\"auto_register\":false,\"default\":false,"
	"\"state\":{\"registration\":\"unregistered\",\"iap_id\":null,"
	"\"contact\":null,\"users\":0,\"auto\":false,"
	"\"error\":{\"code\":403,\"message\":\"Forbidden by registrar\"},"
	"\"plugin\":\"ims\",\"report\":null}},"
	"{\"id\":5,\"provider_name\":\"Lab\",\"type\":\"ietf\","
	"\"aor\":\"sip:lab@example.org\",\"snap_id\":0,\"iap_id\":null,"
	"\"auto_register\":false,\"default\":false,"
	"\"state\":{\"registration\":\"registering\",\"iap_id\":1,"
	"\"contact\":null,\"users\":1,\"auto\":false,\"error\":null,"
	"\"plugin\":\"ietf\",\"report\":null}}]}";

static void test_alrctl_profile_list(void **state)
{
	static const char *const args[] = { "profile", "list", NULL };
	static const char *const args_json[] = { "profile", "list", "-j", NULL };
	const struct exchange with_names[] = {
		{ "profile.list", "", profiles_result, 0, NULL },
		{ "snap.list", "", "{\"snaps\":[{\"id\":0,\"name\":\"default\"},"
		  "{\"id\":2,\"name\":\"laptop\"}]}", 0, NULL },
	};
	/* an alrd without snap.list: the ids do */
	const struct exchange without_names[] = {
		{ "profile.list", "", profiles_result, 0, NULL },
		{ "snap.list", "", NULL, -32601, "unknown method 'snap.list'" },
	};
	struct run r;

	if (!alrctl_path())
		skip();
	set_exchanges(with_names, 2);
	r = run_exchanges(args, NULL);
	assert_int_equal(r.status, EX_OK);
	assert_string_equal(r.err, "");
	assert_string_equal(r.out,
		"ID  NAME           TYPE  AOR                      WHERE         AUTO  "
		"STATE         IAP  CONTACT\n"
		"3*  Example Voice  ietf  sip:alice@example.org    snap:laptop   yes   "
		"registered    7    <sip:alice@10.0.0.2:5060>\n"
		"4   -              ims   sip:bob@ims.example.net  iap:5         no    "
		"unregistered  -    -\n"
		"5   Lab            ietf  sip:lab@example.org      snap:default  no    "
		"registering   1    -\n"
		"\n"
		"profile 4: Forbidden by registrar (403)\n");
	run_free(&r);

	set_exchanges(without_names, 2);
	r = run_exchanges(args, NULL);
	assert_int_equal(r.status, EX_OK);
	assert_string_equal(r.err, "");
	assert_non_null(strstr(r.out, "\n3*  Example Voice  ietf  sip:alice@example.org"
			       "    snap:2        yes"));
	run_free(&r);

	/* -j: the daemon's answer, and nothing else asked */
	set_exchanges(with_names, 1);
	r = run_exchanges(args_json, NULL);
	assert_int_equal(r.status, EX_OK);
	{
		struct json_object *want = json_tokener_parse(profiles_result);
		struct json_object *got = json_tokener_parse(r.out);

		assert_true(json_object_equal(want, got));
		json_object_put(want);
		json_object_put(got);
	}
	run_free(&r);
}

static void test_alrctl_profile_show(void **state)
{
	static const char *const args[] = { "profile", "show", "3", NULL };
	const struct exchange x[] = {
		{ "profile.get", "{\"id\":3}",
		  "{\"profile\":{\"id\":3,\"provider_name\":\"Example Voice\","
		  "\"type\":\"ietf\",\"aor\":\"sip:alice@example.org\","
		  "\"registered_aors\":[],\"registered_contact\":null,"
		  "\"snap_id\":2,\"iap_id\":null,\"bearer\":\"wifi\","
		  "\"registrar\":{\"uri\":\"sip:example.org\",\"transport\":\"tls\","
		  "\"digest_user\":\"alice\",\"realm\":\"example.org\","
		  "\"password_set\":true,"
		  "\"params\":[{\"name\":\"retry\",\"type\":\"int\",\"value\":30}]},"
		  "\"outbound_proxy\":{\"uri\":null,\"transport\":\"auto\","
		  "\"digest_user\":null,\"realm\":null,\"password_set\":false,"
		  "\"params\":[]},"
		  "\"auto_register\":true,\"default\":true,"
		  "\"contact_params\":[\"+sip.instance=\\\"<urn:uuid:1>\\\"\",\"audio\"],"
		  "\"extra_headers\":[\"User-Agent: alrd, 1.0\"],"
		  "\"expires\":1800,"
		  "\"params\":[{\"name\":\"codecs\",\"type\":\"string-list\","
		  "\"value\":[\"opus\",\"G.722\"]},"
		  "{\"key\":17,\"type\":\"bool\",\"value\":true},"
		  "{\"name\":\"note\",\"type\":\"string\",\"value\":\" padded \"}],"
		  "\"state\":{\"registration\":\"registered\",\"iap_id\":7,"
		  "\"contact\":\"<sip:alice@10.0.0.2:5060>\",\"users\":2,\"auto\":true,"
		  "\"error\":null,\"plugin\":\"ietf\","
		  "\"report\":{\"expires\":1750}}}}", 0, NULL },
	};
	struct run r;

	if (!alrctl_path())
		skip();
	set_exchanges(x, 1);
	r = run_exchanges(args, NULL);
	assert_int_equal(r.status, EX_OK);
	assert_string_equal(r.err, "");
	assert_string_equal(r.out,
		"id:                         3\n"
		"provider_name:              Example Voice\n"
		"type:                       ietf\n"
		"aor:                        sip:alice@example.org\n"
		"registered_aors:            -\n"
		"registered_contact:         -\n"
		"snap_id:                    2\n"
		"iap_id:                     -\n"
		"bearer:                     wifi\n"
		"registrar.uri:              sip:example.org\n"
		"registrar.transport:        tls\n"
		"registrar.digest_user:      alice\n"
		"registrar.realm:            example.org\n"
		"registrar.password:         (set)\n"
		"registrar.params.retry:     int 30\n"
		"outbound_proxy.uri:         -\n"
		"outbound_proxy.transport:   auto\n"
		"outbound_proxy.digest_user: -\n"
		"outbound_proxy.realm:       -\n"
		"outbound_proxy.password:    (not set)\n"
		"outbound_proxy.params:      -\n"
		"auto_register:              yes\n"
		"default:                    yes\n"
		"contact_params[0]:          +sip.instance=\"<urn:uuid:1>\"\n"
		"contact_params[1]:          audio\n"
		"extra_headers[0]:           User-Agent: alrd, 1.0\n"
		"expires:                    1800\n"
		"params.codecs:              string-list [\"opus\",\"G.722\"]\n"
		"params.#17:                 bool true\n"
		"params.note:                string \" padded \"\n"
		"state.registration:         registered\n"
		"state.iap_id:               7\n"
		"state.contact:              <sip:alice@10.0.0.2:5060>\n"
		"state.users:                2\n"
		"state.auto:                 yes\n"
		"state.error:                -\n"
		"state.plugin:               ietf\n"
		"state.report.expires:       1750\n");
	run_free(&r);
}

/* The daemon's refusals: its message as it is, and the exit status. */
static void test_alrctl_profile_errors(void **state)
{
	const char *import = write_temp("[profile]\nregistrar.uri = sip:\n");
	const struct {
		const char *args[8];
		struct exchange x;
		int status;
	} rows[] = {
		{ { "profile", "add", "--aor", "sip:alice@example.org", "--registrar", "sip:" },
		  { "profile.create", NULL, NULL, -32602,
		    "registrar.uri: 'sip:' is not a valid SIP URI" }, EX_DATAERR },
		{ { "profile", "show", "9" },
		  { "profile.get", "{\"id\":9}", NULL, -32002, "no profile with id 9" },
		  EX_DATAERR },
		{ { "profile", "rm", "3" },
		  { "profile.delete", "{\"id\":3}", NULL, -32001,
		    "permission denied: profile.delete changes the daemon" }, EX_NOPERM },
		{ { "profile", "import", import },
		  { "profile.import", NULL, NULL, -32602,
		    "line 2: registrar.uri: 'sip:' is not a valid SIP URI" }, EX_DATAERR },
		{ { "profile", "import", import },
		  { "profile.import", NULL, NULL, -32000, "request too large" }, EX_DATAERR },
		{ { "restore", "/var/backups/x.db" },
		  { "store.restore", NULL, NULL, -32603, "restore failed: see the log" },
		  EX_SOFTWARE },
		{ { "snap", "show", "laptop" },
		  { "snap.get", "{\"name\":\"laptop\"}", NULL, -32601,
		    "unknown method 'snap.get'" }, EX_SOFTWARE },
		{ { "alr", "refresh", "3" },
		  { "alr.refresh", "{\"profile\":3}", NULL, -32003, "busy" }, EX_TEMPFAIL },
	};

	if (!alrctl_path())
		skip();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char want[256];
		struct run r;

		set_exchanges(&rows[i].x, 1);
		r = run_exchanges(rows[i].args, NULL);
		snprintf(want, sizeof(want), "alrctl: %s\n", rows[i].x.message);
		if (r.status != rows[i].status || strcmp(r.err, want) != 0)
			fail_msg("row %zu: exit status %d, want %d; stderr: %s", i,
				 r.status, rows[i].status, r.err);
		assert_string_equal(r.out, "");
		run_free(&r);
	}
	unlink(import);
}

static void test_alrctl_profile_commands(void **state)
{
	const char *import = write_temp("[profile]\naor = sip:a@example.org\n\n"
					 "[profile]\naor = sip:b@example.org\n");
	char cwd[512], backup_params[600], backup_out[600];
	const struct {
		const char *args[8];
		struct exchange x[2];
		const char *out;
	} rows[] = {
		{ { "profile", "rm", "3" },
		  { { "profile.delete", "{\"id\":3}", "{}", 0, NULL } },
		  "deleted profile 3\n" },
		{ { "profile", "disable", "3" },
		  { { "profile.disable", "{\"id\":3}", "{}", 0, NULL } },
		  "disabled profile 3\n" },
		{ { "profile", "force-disable", "3" },
		  { { "profile.force-disable", "{\"id\":3}", "{}", 0, NULL } },
		  "force-disabled profile 3\n" },
		{ { "profile", "default", "3" },
		  { { "profile.set-default", "{\"id\":3}", "{}", 0, NULL } },
		  "profile 3 is the default profile\n" },
		{ { "-j", "profile", "default", "3" },
		  { { "profile.set-default", "{\"id\":3}", "{\"id\":3}", 0, NULL } },
		  "{\"id\":3}\n" },
		{ { "profile", "import", import },
		  { { "profile.import",
		      "{\"text\":\"[profile]\\naor = sip:a@example.org\\n\\n"
		      "[profile]\\naor = sip:b@example.org\\n\"}",
		      "{\"created\":[6,7]}", 0, NULL } },
		  "imported 2 profiles: 6, 7\n" },
		{ { "alr", "refresh", "3" },
		  { { "alr.refresh", "{\"profile\":3}", "{}", 0, NULL } },
		  "refreshed profile 3: IAPs refused or failed before may be offered again\n" },
		{ { "backup", "./b.db" },
		  { { "store.backup", backup_params, backup_params, 0, NULL } },
		  backup_out },
		{ { "backup", "--with-passwords", "/b.db" },
		  { { "store.backup", "{\"path\":\"/b.db\",\"secrets\":true}",
		      "{\"path\":\"/b.db\",\"secrets\":true}", 0, NULL } },
		  "backup written to /b.db, passwords included\n" },
		{ { "restore", "/var/backups/alrd.db" },
		  { { "store.restore", "{\"path\":\"/var/backups/alrd.db\"}", "{}", 0, NULL } },
		  "store restored from /var/backups/alrd.db\n" },
	};

	if (!alrctl_path())
		skip();
	/* a relative path is alrctl's, made absolute: alrd has its own cwd */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(backup_params, sizeof(backup_params), "{\"path\":\"%s/b.db\"}", cwd);
	snprintf(backup_out, sizeof(backup_out), "backup written to %s/b.db\n", cwd);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct run r;

		set_exchanges(rows[i].x, rows[i].x[1].method ? 2 : 1);
		r = run_exchanges(rows[i].args, NULL);
		if (r.status != EX_OK || strcmp(r.out, rows[i].out) != 0)
			fail_msg("row %zu: exit status %d, stdout '%s', stderr '%s'",
				 i, r.status, r.out, r.err);
		run_free(&r);
	}
	unlink(import);
}

static void test_alrctl_profile_export(void **state)
{
	static const char text[] =
		"# alrd profiles: 1 (format: docs/profiles.md)\n\n[profile]\n# id 3\n"
		"aor = sip:alice@example.org\nregistrar.password = s3cret\n";
	char dir[] = "/tmp/alrctl-test-XXXXXX", file[128], *result, *got;
	const char *args_file[] = { "profile", "export", "--with-passwords", file, NULL };
	static const char *const args_stdout[] = { "profile", "export", NULL };
	struct json_object *t = json_object_new_string(text);
	struct stat st;
	struct run r;
	FILE *f;

	if (!alrctl_path())
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/profiles.txt", dir);
	assert_true(asprintf(&result, "{\"text\":%s}", json_object_to_json_string(t)) > 0);
	json_object_put(t);

	/* an older file is replaced, and with passwords it is private */
	f = fopen(file, "w");
	assert_non_null(f);
	fputs("old content, longer than the new one ...............................\n"
	      "..........................................................\n", f);
	fclose(f);
	chmod(file, 0644);
	{
		const struct exchange x = {
			"profile.export", "{\"with_passwords\":true}", result, 0, NULL,
		};

		set_exchanges(&x, 1);
	}
	r = run_exchanges(args_file, NULL);
	assert_int_equal(r.status, EX_OK);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, "");
	run_free(&r);
	f = fopen(file, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	got = slurp(f);
	assert_string_equal(got, text);
	free(got);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	unlink(file);

	/* standard output, without passwords asked */
	{
		const struct exchange x = { "profile.export", "", result, 0, NULL };

		set_exchanges(&x, 1);
	}
	r = run_exchanges(args_stdout, NULL);
	assert_int_equal(r.status, EX_OK);
	assert_string_equal(r.out, text);
	run_free(&r);
	free(result);
	rmdir(dir);
}

static void test_alrctl_snaps(void **state)
{
	static const char *const args_list[] = { "snap", "list", NULL };
	static const char *const args_show[] = { "snap", "show", "2", NULL };
	static const char snaps[] =
		"{\"snaps\":["
		"{\"id\":0,\"name\":\"default\",\"file\":null,"
		"\"stable_time_ms\":2000,\"approval_timeout_ms\":10000,"
		"\"on_timeout\":\"allow\",\"migration\":\"make-before-break\","
		"\"max_migrations\":\"3/1m\",\"bearer\":[\"any\"],"
		"\"rules\":[{\"priority\":10,\"kind\":[\"ethernet\"]},"
		"{\"priority\":20,\"kind\":[\"wifi\"]},{\"priority\":30,\"kind\":[\"cellular\"]},"
		"{\"priority\":40,\"kind\":[\"other\"]},{\"priority\":50,\"kind\":[\"vpn\"]}],"
		"\"ranking\":[1,12]},"
		"{\"id\":2,\"name\":\"handheld\",\"file\":\"/etc/alrd/snap.d/20-handheld.conf\","
		"\"stable_time_ms\":3000,\"approval_timeout_ms\":1500,"
		"\"on_timeout\":\"disallow\",\"migration\":\"break-before-make\","
		"\"max_migrations\":\"4/2m\",\"bearer\":[\"any\"],"
		"\"rules\":[{\"priority\":10,\"kind\":[\"wifi\"],\"interface\":null,"
		"\"min_signal\":30,\"signal_hysteresis\":10},"
		"{\"priority\":20,\"kind\":[\"cellular\"],\"connection\":\"Mobile data\"}],"
		"\"ranking\":[]}]}";
	const struct exchange list = { "snap.list", "", snaps, 0, NULL };
	struct exchange show = { "snap.get", "{\"id\":2}", NULL, 0, NULL };
	const char *second = strstr(snaps, "{\"id\":2,");
	char *one;
	struct run r;

	if (!alrctl_path())
		skip();
	set_exchanges(&list, 1);
	r = run_exchanges(args_list, NULL);
	assert_int_equal(r.status, EX_OK);
	assert_string_equal(r.out,
		"ID  NAME      MIGRATION          STABLE  TIMEOUT/ON-TIMEOUT  RULES  RANKING\n"
		"0   default   make-before-break  2s      10s/allow           5      1,12\n"
		"2   handheld  break-before-make  3s      1500ms/disallow     2      -\n");
	run_free(&r);

	assert_true(asprintf(&one, "{\"snap\":%.*s}", (int)(strlen(second) - 2),
			     second) > 0);
	show.result = one;
	set_exchanges(&show, 1);
	r = run_exchanges(args_show, NULL);
	free(one);
	assert_int_equal(r.status, EX_OK);
	assert_string_equal(r.out,
		"id:                         2\n"
		"name:                       handheld\n"
		"file:                       /etc/alrd/snap.d/20-handheld.conf\n"
		"stable_time_ms:             3000\n"
		"approval_timeout_ms:        1500\n"
		"on_timeout:                 disallow\n"
		"migration:                  break-before-make\n"
		"max_migrations:             4/2m\n"
		"bearer[0]:                  any\n"
		"rules[0].priority:          10\n"
		"rules[0].kind[0]:           wifi\n"
		"rules[0].interface:         -\n"
		"rules[0].min_signal:        30\n"
		"rules[0].signal_hysteresis: 10\n"
		"rules[1].priority:          20\n"
		"rules[1].kind[0]:           cellular\n"
		"rules[1].connection:        Mobile data\n"
		"ranking:                    -\n");
	run_free(&r);
}

/* HH:MM:SS of EVENT_TIME + @plus seconds, local time. */
static const char *event_hms(int plus)
{
	static char hms[16];
	time_t t = EVENT_TIME + plus;
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
	return hms;
}

/* Spawn alrctl, read @n lines of its output, then SIGINT it; returns the
 * lines (static), its exit status and its stderr (the caller frees it). */
static char *follow_alrctl(const char *const *args, int n, int *ret_status,
			   char **ret_err)
{
	FILE *err = tmpfile();
	int out[2];
	char *lines;
	pid_t pid;

	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	pid = spawn_alrctl(fx.fake.path, args, out[1], fileno(err));
	close(out[1]);
	lines = read_lines(out[0], n);
	kill(pid, SIGINT);
	*ret_status = reap(pid, TIMEOUT_MS);
	close(out[0]);
	fseek(err, 0, SEEK_END);
	*ret_err = slurp(err);
	return lines;
}

static void script_monitor_profiles(struct peer *p)
{
	struct json_object *req = peer_request(p, "events.subscribe");

	peer_result(p, req, "{\"topics\":[\"*\"]}");
	json_object_put(req);
	peer_event(p, "profile.registered",
		   "{\"time\":1763728200.5,\"id\":3,\"iap_id\":7,"
		   "\"contact\":\"<sip:alice@10.0.0.2:5060;ob>\",\"expires\":3600}");
	peer_event(p, "profile.error",
		   "{\"time\":1763728201,\"id\":3,\"code\":403,\"message\":\"Forbidden\"}");
	peer_event(p, "alr.iap-available",
		   "{\"time\":1763728202,\"profile\":3,\"snap\":2,"
		   "\"iap\":{\"id\":12,\"name\":\"wlan0\",\"kind\":\"wifi\"}}");
	peer_event(p, "profile.updated",
		   "{\"time\":1763728203,\"profile\":{\"id\":3,\"aor\":\"sip:alice@example.org\","
		   "\"state\":{\"registration\":\"registering\"}}}");
	peer_event(p, "profile.deregistered",
		   "{\"time\":1763728204,\"id\":3,\"reason\":\"network lost\"}");
	peer_event(p, "alr.error",
		   "{\"time\":1763728205,\"profile\":3,\"iap\":12,"
		   "\"error\":{\"code\":-1,\"message\":\"access denied\"}}");
	peer_event(p, "snap.frobnicated", "{\"time\":1763728206,\"what\":[1]}");
	peer_event(p, "alr.migration-started",
		   "{\"time\":1763728207,\"profile\":3,\"from\":1,\"to\":12}");
	peer_wait_eof(p);
}

/* Events alrctl does not special-case show their usual fields. */
static void test_alrctl_monitor_profiles(void **state)
{
	static const char *const args[] = { "monitor", NULL };
	char want[2048], *err;
	int status;
	char *lines;

	if (!alrctl_path())
		skip();
	fake_start(script_monitor_profiles);
	lines = follow_alrctl(args, 8, &status, &err);
	fake_stop();
	assert_string_equal(err, "");
	free(err);
	snprintf(want, sizeof(want), "%s.500 profile.registered profile=3 iap=7 "
		 "contact=<sip:alice@10.0.0.2:5060;ob> expires=3600\n", event_hms(0));
	snprintf(want + strlen(want), sizeof(want) - strlen(want),
		 "%s.000 profile.error profile=3 code=403 message=Forbidden\n", event_hms(1));
	snprintf(want + strlen(want), sizeof(want) - strlen(want),
		 "%s.000 alr.iap-available profile=3 snap=2 iap=12 (wlan0)\n", event_hms(2));
	snprintf(want + strlen(want), sizeof(want) - strlen(want),
		 "%s.000 profile.updated profile=3 (sip:alice@example.org) "
		 "state=registering\n", event_hms(3));
	snprintf(want + strlen(want), sizeof(want) - strlen(want),
		 "%s.000 profile.deregistered profile=3 reason=\"network lost\"\n",
		 event_hms(4));
	snprintf(want + strlen(want), sizeof(want) - strlen(want),
		 "%s.000 alr.error   profile=3 iap=12 code=-1 message=\"access denied\"\n",
		 event_hms(5));
	snprintf(want + strlen(want), sizeof(want) - strlen(want),
		 "%s.000 snap.frobnicated {\"time\":1763728206,\"what\":[1]}\n",
		 event_hms(6));
	snprintf(want + strlen(want), sizeof(want) - strlen(want),
		 "%s.000 alr.migration-started profile=3 from=1 to=12\n", event_hms(7));
	assert_string_equal(lines, want);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), EX_OK);
}

static const char enabled_profile[] =
	"{\"profile\":{\"id\":3,\"aor\":\"sip:alice@example.org\","
	"\"state\":{\"registration\":\"registering\",\"iap_id\":null}}}";

static void script_enable(struct peer *p)
{
	struct json_object *req = peer_request(p, "events.subscribe");

	CHECK(params_match(req, "{\"topics\":[\"profile.*\",\"alr.*\"]}"));
	peer_result(p, req, "{\"topics\":[\"profile.*\",\"alr.*\"]}");
	json_object_put(req);
	req = peer_request(p, "profile.enable");
	CHECK(params_match(req, "{\"id\":3}"));
	peer_result(p, req, enabled_profile);
	json_object_put(req);
	/* another profile's, then ours */
	peer_event(p, "profile.registered",
		   "{\"time\":1763728200,\"id\":4,\"iap_id\":1,\"contact\":\"<sip:b@h>\","
		   "\"expires\":60}");
	peer_event(p, "profile.error",
		   "{\"time\":1763728200,\"id\":3,\"code\":408,\"message\":\"Request Timeout\"}");
	peer_event(p, "profile.registered",
		   "{\"time\":1763728201,\"id\":3,\"iap_id\":7,\"contact\":\"<sip:a@h>\","
		   "\"expires\":60}");
	/* the use lasts as long as the connection: the client closes it */
	peer_wait_eof(p);
}

static void test_alrctl_profile_enable(void **state)
{
	static const char *const args[] = { "profile", "enable", "3", NULL };
	static const char *const args_until[] = {
		"profile", "enable", "--until-registered", "3", NULL,
	};
	char want[512], *err;
	int status;
	char *lines;

	if (!alrctl_path())
		skip();
	fake_start(script_enable);
	lines = follow_alrctl(args, 3, &status, &err);
	fake_stop();
	assert_string_equal(err, "");
	free(err);
	snprintf(want, sizeof(want),
		 "enabled profile 3 (sip:alice@example.org): registering; holding it "
		 "until interrupted\n"
		 "%s.000 profile.error profile=3 code=408 message=\"Request Timeout\"\n",
		 event_hms(0));
	snprintf(want + strlen(want), sizeof(want) - strlen(want),
		 "%s.000 profile.registered profile=3 iap=7 contact=<sip:a@h> expires=60\n",
		 event_hms(1));
	assert_string_equal(lines, want);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), EX_OK);

	/* one line once registered; the error went to stderr */
	fake_start(script_enable);
	lines = follow_alrctl(args_until, 1, &status, &err);
	fake_stop();
	assert_string_equal(lines, "profile 3 registered over iap 7: <sip:a@h>\n");
	assert_string_equal(err, "alrctl: profile 3: Request Timeout (408)\n");
	free(err);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), EX_OK);
}

static void script_enable_forced(struct peer *p)
{
	struct json_object *req = peer_request(p, "events.subscribe");

	peer_result(p, req, "{\"topics\":[\"profile.*\",\"alr.*\"]}");
	json_object_put(req);
	req = peer_request(p, "profile.enable");
	/* already registered, and no profile in the answer */
	peer_result(p, req, "{}");
	json_object_put(req);
	req = peer_request(p, "profile.get");
	CHECK(params_match(req, "{\"id\":3}"));
	peer_result(p, req, "{\"profile\":{\"id\":3,\"state\":{\"registration\":"
		    "\"registered\",\"iap_id\":7,\"contact\":\"<sip:a@h>\"}}}");
	json_object_put(req);
	peer_step(p);
	peer_event(p, "profile.forcibly-disabled", "{\"time\":1763728200,\"id\":3}");
	peer_wait_eof(p);
}

/* Disabled by force: alrctl says so and ends with 69, by itself. */
static void test_alrctl_profile_enable_forced(void **state)
{
	static const char *const args[] = {
		"-j", "profile", "enable", "--until-registered", "3", NULL,
	};
	FILE *err = tmpfile();
	int out[2], status;
	char *lines, *e;
	pid_t pid;

	if (!alrctl_path())
		skip();
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	fake_start(script_enable_forced);
	pid = spawn_alrctl(fx.fake.path, args, out[1], fileno(err));
	close(out[1]);
	lines = read_lines(out[0], 1);
	assert_string_equal(lines, "{\"id\":3,\"registration\":\"registered\","
			    "\"iap_id\":7,\"contact\":\"<sip:a@h>\"}\n");
	fake_step();
	status = reap(pid, TIMEOUT_MS);
	close(out[0]);
	fake_stop();
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), EX_UNAVAILABLE);
	fseek(err, 0, SEEK_END);
	e = slurp(err);
	assert_string_equal(e, "{\"error\":{\"message\":\"profile 3 was disabled by force: "
			    "every use of it ended\"}}\n");
	free(e);
}

/* What the controller must answer to the offer for profile 3, and
 * whether it asks for a refresh first. */
static const char *control_want;
static bool control_refresh;

static void script_control(struct peer *p)
{
	struct json_object *req = peer_request(p, "events.subscribe");

	CHECK(params_match(req, "{\"topics\":[\"alr.*\",\"profile.*\"]}"));
	peer_result(p, req, "{\"topics\":[\"alr.*\",\"profile.*\"]}");
	json_object_put(req);
	req = peer_request(p, "alr.control");
	CHECK(params_match(req, "{\"profile\":3}"));
	peer_result(p, req, "{}");
	json_object_put(req);
	if (control_refresh) {
		/* refused: alrctl says so and goes on */
		req = peer_request(p, "alr.refresh");
		CHECK(params_match(req, "{\"profile\":3}"));
		peer_error_message(p, req, -32002, "profile 3 is not enabled");
		json_object_put(req);
	}
	/* another profile's offer is none of its business */
	peer_event(p, "alr.iap-available",
		   "{\"time\":1763728200,\"profile\":4,\"snap\":2,\"iap\":9}");
	peer_event(p, "alr.iap-available",
		   "{\"time\":1763728201,\"profile\":3,\"snap\":2,"
		   "\"iap\":{\"id\":7,\"name\":\"HomeNet\",\"kind\":\"wifi\"}}");
	req = peer_request(p, control_want);
	CHECK(params_match(req, "{\"profile\":3,\"iap\":7}"));
	peer_result(p, req, "{}");
	json_object_put(req);
	peer_wait_eof(p);
}

static void test_alrctl_alr_control(void **state)
{
	static const struct {
		const char *args[6];
		const char *method;
		bool refresh;
	} rows[] = {
		{ { "alr", "control", "3", "--allow" }, "alr.allow", false },
		{ { "alr", "control", "--deny", "3", "--refresh" }, "alr.disallow", true },
	};

	if (!alrctl_path())
		skip();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char want[512], *err;
		int status;
		char *lines;

		control_want = rows[i].method;
		control_refresh = rows[i].refresh;
		fake_start(script_control);
		lines = follow_alrctl(rows[i].args, 3, &status, &err);
		fake_stop();
		assert_string_equal(err, rows[i].refresh
				    ? "alrctl: profile 3 is not enabled\n" : "");
		free(err);
		snprintf(want, sizeof(want), "controlling profile 3: %s; until "
			 "interrupted\n%s.000 alr.iap-available profile=3 snap=2 "
			 "iap=7 (HomeNet)\n",
			 i == 0 ? "allowing every migration" : "refusing every migration",
			 event_hms(1));
		if (strncmp(lines, want, strlen(want)) != 0)
			fail_msg("row %zu: output\n%s\nwant it to start with\n%s", i, lines, want);
		/* then the answer given, at the local time */
		assert_non_null(strstr(lines + strlen(want), rows[i].method));
		assert_non_null(strstr(lines + strlen(want), " profile=3 iap=7\n"));
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), EX_OK);
	}
}

/* --- on a terminal: --password-prompt and alr control --ask --- */

struct pty {
	int master;
	char slave[64];
};

static void pty_open(struct pty *t)
{
	t->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(t->master >= 0);
	assert_int_equal(grantpt(t->master), 0);
	assert_int_equal(unlockpt(t->master), 0);
	assert_int_equal(ptsname_r(t->master, t->slave, sizeof(t->slave)), 0);
}

/* Read what alrctl writes on its terminal until @want shows (static). */
static const char *pty_expect(struct pty *t, const char *want)
{
	static char buf[4096];
	size_t len = 0;
	int64_t deadline = now_ms() + TIMEOUT_MS;

	buf[0] = '\0';
	while (!strstr(buf, want) && len < sizeof(buf) - 1) {
		struct pollfd p = { .fd = t->master, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, (int)(deadline - now_ms())) <= 0)
			break;
		n = read(t->master, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
	}
	return buf;
}

/* Whatever is left once the terminal's last user is gone. */
static const char *pty_drain(struct pty *t)
{
	static char buf[4096];
	size_t len = 0;

	for (;;) {
		struct pollfd p = { .fd = t->master, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 0) <= 0)
			break;
		n = read(t->master, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

static void test_alrctl_password_prompt(void **state)
{
	static const char *const args[] = {
		"profile", "add", "--aor", "sip:alice@example.org", "--password-prompt", NULL,
	};
	static const struct exchange x[] = {
		{ "profile.create",
		  "{\"profile\":{\"aor\":\"sip:alice@example.org\","
		  "\"registrar\":{\"password\":\"typed secret\"}}}",
		  "{\"profile\":{\"id\":4,\"aor\":\"sip:alice@example.org\"}}", 0, NULL },
	};
	FILE *out = tmpfile(), *err = tmpfile();
	struct pty t;
	const char *seen;
	char *o;
	int status;
	pid_t pid;

	if (!alrctl_path())
		skip();
	pty_open(&t);
	set_exchanges(x, 1);
	fake_start(script_exchanges);
	spawn_tty = t.slave;
	pid = spawn_alrctl(fx.fake.path, args, fileno(out), fileno(err));
	spawn_tty = NULL;
	seen = pty_expect(&t, "Password for sip:alice@example.org: ");
	assert_non_null(strstr(seen, "Password for sip:alice@example.org: "));
	assert_int_equal(write(t.master, "typed secret\n", 13), 13);
	status = reap(pid, TIMEOUT_MS);
	fake_stop();
	/* not echoed: only the newline came back */
	seen = pty_drain(&t);
	assert_null(strstr(seen, "typed"));
	close(t.master);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), EX_OK);
	fseek(out, 0, SEEK_END);
	o = slurp(out);
	assert_string_equal(o, "created profile 4 (sip:alice@example.org)\n");
	free(o);
	fclose(err);
}

static void test_alrctl_alr_control_ask(void **state)
{
	static const char *const args[] = { "alr", "control", "3", "--ask", NULL };
	FILE *err = tmpfile();
	int out[2], status;
	struct pty t;
	const char *seen;
	char *lines;
	pid_t pid;

	if (!alrctl_path())
		skip();
	pty_open(&t);
	control_want = "alr.allow";
	control_refresh = false;
	fake_start(script_control);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	spawn_tty = t.slave;
	pid = spawn_alrctl(fx.fake.path, args, out[1], fileno(err));
	spawn_tty = NULL;
	close(out[1]);
	seen = pty_expect(&t, "[y/N] ");
	assert_non_null(strstr(seen, "allow migration of profile 3 to IAP 7 (HomeNet)? "
			       "[y/N] "));
	/* profile 4's offer was not asked about */
	assert_null(strstr(seen, "IAP 9"));
	assert_int_equal(write(t.master, "y\n", 2), 2);
	lines = read_lines(out[0], 3);
	assert_non_null(strstr(lines, "alr.allow   profile=3 iap=7\n"));
	kill(pid, SIGINT);
	status = reap(pid, TIMEOUT_MS);
	close(out[0]);
	fake_stop();
	close(t.master);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), EX_OK);
	fclose(err);
}

/* --- the table of commands: help, usage messages, completion --- */

/* Every command of alrctl's table, in the order of the help. */
static const char *const alrctl_commands[] = {
	"status", "iap list", "iap show", "monitor", "reload", "log-level",
	"call", "profile list", "profile show", "profile add", "profile set",
	"profile rm", "profile enable", "profile disable",
	"profile force-disable", "profile default", "profile export",
	"profile import", "backup", "restore", "snap list", "snap show",
	"alr control", "alr refresh", "calls", "help", "completion bash",
};

/* The help's line for @cmd: "    CMD ARGS", without the indent and the
 * newline; NULL when the help has none. */
static char *help_synopsis(const char *help, const char *cmd)
{
	size_t len = strlen(cmd);

	for (const char *p = strstr(help, "\n    "); p; p = strstr(p + 1, "\n    ")) {
		const char *line = p + 5;

		if (!strncmp(line, cmd, len) && (line[len] == ' ' || line[len] == '\n'))
			return strndup(line, strcspn(line, "\n"));
	}
	return NULL;
}

static void test_alrctl_help_lists_table(void **state)
{
	static const char *const help_args[] = { "--help", NULL };
	struct run help, r;
	const char *commands, *end;
	size_t lines = 0;

	help = run_alrctl("/nonexistent/alrd.sock", help_args);
	assert_int_equal(help.status, EX_OK);
	commands = strstr(help.out, "\nCOMMANDS\n");
	end = strstr(help.out, "\nPROFILE OPTIONS");
	assert_non_null(commands);
	assert_non_null(end);

	/* the help lists every command, and nothing else, in the table's order */
	for (const char *p = strstr(commands, "\n    "); p && p < end;
	     p = strstr(p + 1, "\n    ")) {
		const char *line = p + 5;

		if (*line == ' ')
			continue;          /* a paragraph's line */
		if (lines >= sizeof(alrctl_commands) / sizeof(alrctl_commands[0]))
			fail_msg("help lists more commands than the table: %.40s", line);
		if (strncmp(line, alrctl_commands[lines], strlen(alrctl_commands[lines])))
			fail_msg("help's command %zu is '%.40s', want '%s'", lines,
				 line, alrctl_commands[lines]);
		lines++;
	}
	assert_int_equal(lines, sizeof(alrctl_commands) / sizeof(alrctl_commands[0]));

	/* each usage message is the help's synopsis line */
	for (size_t i = 0; i < sizeof(alrctl_commands) / sizeof(alrctl_commands[0]); i++) {
		const char *args[12] = { NULL };
		char words[64], *synopsis = help_synopsis(help.out, alrctl_commands[i]);
		char want[256];
		size_t n = 0;

		assert_non_null(synopsis);
		if (!strcmp(alrctl_commands[i], "monitor")) {
			free(synopsis);         /* takes any number of topics */
			continue;
		}
		snprintf(words, sizeof(words), "%s", alrctl_commands[i]);
		args[n++] = strtok(words, " ");
		if ((args[n] = strtok(NULL, " ")))
			n++;
		for (int k = 0; k < 5; k++)
			args[n++] = "x";
		r = run_alrctl("/nonexistent/alrd.sock", args);
		snprintf(want, sizeof(want), "alrctl: wrong number of arguments; usage: "
			 "alrctl %s\nTry 'alrctl --help' for more information.\n", synopsis);
		if (r.status != EX_USAGE || strcmp(r.err, want))
			fail_msg("%s x x x x x: exit %d, stderr '%s', want '%s'",
				 alrctl_commands[i], r.status, r.err, want);
		run_free(&r);
		free(synopsis);
	}
	run_free(&help);
}

/* Source @script in a bash without start-up files, then run @cmds; what
 * it printed.  NULL without bash. */
static char *run_bash(const char *script, const char *cmds)
{
	char path[] = "/tmp/test-client-bash-XXXXXX";
	FILE *out = tmpfile(), *f;
	pid_t pid;
	int fd, status;
	char *s;

	if (access("/bin/bash", X_OK) != 0)
		return NULL;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_non_null(out);
	fprintf(f, "%s\n%s", script, cmds);
	fclose(f);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fileno(out), STDOUT_FILENO);
		execl("/bin/bash", "bash", "--norc", "--noprofile", path, (char *)NULL);
		_exit(127);
	}
	status = reap(pid, TIMEOUT_MS);
	unlink(path);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fseek(out, 0, SEEK_END);
	s = slurp(out);
	return s;
}

static void test_alrctl_completion(void **state)
{
	static const char *const args[] = { "completion", "bash", NULL };
	static const char *const args_extra[] = { "completion", "bash", "zsh", NULL };
	static const char *const args_noun[] = { "completion", NULL };
	static const struct {
		const char *words;       /* after "alrctl", the last one completed */
		const char *want;        /* COMPREPLY, blank-separated */
	} rows[] = {
		{ "''", "status iap monitor reload log-level call profile backup "
		  "restore snap alr calls help completion" },
		{ "help ''", "status iap monitor reload log-level call profile backup "
		  "restore snap alr calls help completion" },
		{ "help profile e", "enable export" },
		{ "-t iap l", "list" },
		{ "iap list -f N", "NAME" },
		{ "iap list --fields ID,S", "ID,STATE ID,SSID ID,SIGNAL" },
		{ "-f ''", "" },
		{ "pro", "profile" },
		{ "profile ''", "list show add set rm enable disable force-disable "
		  "default export import" },
		{ "-j profile s", "show set" },
		{ "-s /run/x.sock ia", "iap" },
		{ "-w 100 snap ''", "list show" },
		{ "--ver", "--version" },
		{ "profile add --from", "--from-json" },
		/* --password exists only to be refused: not offered */
		{ "profile add --pass", "--password-stdin --password-prompt" },
		{ "profile set 3 --no-h", "--no-headers" },
		{ "profile set 3 --local-p", "--local-password-stdin --local-password-prompt" },
		{ "profile add --name ''", "" },
		{ "profile enable --u", "--until-registered" },
		{ "log-level d", "debug" },
		{ "alr control 3 --a", "--allow --ask" },
		{ "profile export --with", "--with-passwords" },
		{ "backup --p", "--passwords" },
		{ "iap list --js", "--json" },
		{ "iap show ''", "" },
		{ "completion ''", "bash" },
		{ "frobnicate ''", "" },
		/* file names: $DIR is a directory holding "alpha" */
		{ "backup $DIR/al", "DIR/alpha" },
		{ "profile import $DIR/a", "DIR/alpha" },
		{ "profile add --from-json $DIR/al", "DIR/alpha" },
		{ "-s $DIR/al", "DIR/alpha" },
	};
	char dir[] = "/tmp/test-client-comp-XXXXXX", file[64];
	char *cmds = NULL, *got, *want = NULL, *script;
	size_t cmds_len = 0, want_len = 0;
	FILE *c, *w;
	struct run r;
	int fd;

	r = run_alrctl(NULL, args);
	assert_int_equal(r.status, EX_OK);
	assert_string_equal(r.err, "");
	assert_non_null(strstr(r.out, "\ncomplete -F _alrctl alrctl\n"));
	script = r.out;
	r.out = NULL;
	run_free(&r);

	/* a subcommand like any other: checked the same way */
	r = run_alrctl(NULL, args_extra);
	assert_int_equal(r.status, EX_USAGE);
	run_free(&r);
	r = run_alrctl(NULL, args_noun);
	assert_int_equal(r.status, EX_USAGE);
	assert_string_equal(r.err, "alrctl: 'completion' needs a subcommand (bash)\n"
			    "Try 'alrctl --help' for more information.\n");
	run_free(&r);

	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/alpha", dir);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);

	c = open_memstream(&cmds, &cmds_len);
	w = open_memstream(&want, &want_len);
	assert_non_null(c);
	assert_non_null(w);
	fprintf(c, "DIR=%s\n"
		"t() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); COMPREPLY=();"
		" _alrctl; echo \"${COMPREPLY[*]}\"; }\n", dir);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *p;

		fprintf(c, "t alrctl %s\n", rows[i].words);
		/* the answer's DIR: the directory */
		for (p = rows[i].want; *p; p++) {
			if (!strncmp(p, "DIR", 3)) {
				fputs(dir, w);
				p += 2;
			} else {
				fputc(*p, w);
			}
		}
		fputc('\n', w);
	}
	fclose(c);
	fclose(w);
	got = run_bash(script, cmds);
	if (!got) {
		free(script);
		free(cmds);
		free(want);
		skip();
	}
	if (strcmp(got, want)) {
		/* the first row that differs */
		const char *g = got, *x = want;

		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			size_t gl = strcspn(g, "\n"), xl = strcspn(x, "\n");

			if (gl != xl || strncmp(g, x, gl))
				fail_msg("alrctl %s: completed '%.*s', want '%.*s'",
					 rows[i].words, (int)gl, g, (int)xl, x);
			g += gl + (g[gl] == '\n');
			x += xl + (x[xl] == '\n');
		}
		fail_msg("completion output:\n%s\nwant:\n%s", got, want);
	}
	unlink(file);
	rmdir(dir);
	free(got);
	free(script);
	free(cmds);
	free(want);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_call_result),
		T(test_call_error),
		T(test_events_during_call),
		T(test_async_out_of_order),
		T(test_split_response),
		T(test_huge_lines),
		T(test_line_limit),
		T(test_connection_lost),
		T(test_call_connection_lost),
		T(test_timeout),
		T(test_null_id_error),
		T(test_bad_lines),
		T(test_call_from_callback),
		T(test_free_in_callback),
		T(test_subscribe_topics),
		T(test_default_socket),
		T(test_connect_errors),
		T(test_exports),
		T(test_alrctl_no_daemon),
		T(test_alrctl_command_line),
		T(test_alrctl_json_errors),
		T(test_alrctl_reload_rejected),
		T(test_alrctl_terse_and_fields),
		T(test_alrctl_suggestions_and_json_errors),
		T(test_alrctl_iap_list),
		T(test_alrctl_iap_show),
		T(test_alrctl_iap_show_nm),
		T(test_alrctl_errors),
		T(test_alrctl_simple_commands),
		T(test_alrctl_status),
		T(test_alrctl_monitor),
		T(test_alrctl_profile_add),
		T(test_alrctl_profile_set),
		T(test_alrctl_password_refused),
		T(test_alrctl_profile_list),
		T(test_alrctl_profile_show),
		T(test_alrctl_profile_errors),
		T(test_alrctl_profile_commands),
		T(test_alrctl_profile_export),
		T(test_alrctl_snaps),
		T(test_alrctl_monitor_profiles),
		T(test_alrctl_profile_enable),
		T(test_alrctl_profile_enable_forced),
		T(test_alrctl_alr_control),
		T(test_alrctl_password_prompt),
		T(test_alrctl_alr_control_ask),
		T(test_alrctl_help_lists_table),
		T(test_alrctl_completion),
	};

	/* a write to a fake daemon that already left must not kill us */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
