/*
 * libalr-client: alrd's control protocol (docs/protocol.md), JSON-RPC 2.0
 * with one JSON object per line over a UNIX stream socket.
 *
 * Everything the socket delivers goes through read_input(), which cuts it
 * into lines, and handle_line(), which turns a line into either
 *  - the answer of the blocking call that is waiting (pending->done), or
 *  - an item on the delivery queue (an event, or the reply of an
 *    asynchronous call), or
 *  - nothing (the late reply of a call that timed out).
 * Callbacks run only from deliver(), that is from alr_client_dispatch() and
 * alr_client_wait(), never while bytes are being read: so a callback may
 * make calls (blocking or not), dispatch again, or free the client, and the
 * queue is popped one item at a time so that all of that is safe.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <alr/client.h>

#define ALR_EXPORT __attribute__((visibility("default")))

/* The top CMakeLists passes the daemon's configured default (from
 * ALR_RUNDIR) so that a client built with the daemon finds it; a client
 * built alone falls back to the header's. */
#ifdef ALR_DEFAULT_SOCKET
#define CLIENT_DEFAULT_SOCKET ALR_DEFAULT_SOCKET
#else
#define CLIENT_DEFAULT_SOCKET ALR_DEFAULT_SOCKET_PATH
#endif

#define RBUF_INITIAL (16 * 1024)
/* After a huge line the buffer shrinks back to this, so that one large
 * answer does not pin 16 MiB for the client's lifetime. */
#define RBUF_KEEP    (64 * 1024)
#define READ_MIN     4096

enum pending_kind {
	PENDING_SYNC,       /* alr_client_call() waits for it */
	PENDING_ASYNC,      /* alr_client_call_async(): reply goes to cb */
	PENDING_ABANDONED,  /* nobody wants the reply any more: drop it */
};

/* What a response carried. */
struct response {
	struct json_object *msg;     /* the whole line; owns result */
	struct json_object *result;  /* borrowed from msg; NULL on error */
	bool failed;
	struct alr_error error;
};

struct pending {
	struct pending *next;
	int64_t id;
	enum pending_kind kind;
	alr_reply_cb cb;
	void *user_data;
	bool done;                   /* PENDING_SYNC: resp is filled */
	struct response resp;
};

enum item_type {
	ITEM_EVENT,
	ITEM_REPLY,
};

struct item {
	struct item *next;
	enum item_type type;
	/* ITEM_EVENT: msg owns method and params */
	struct json_object *msg;
	const char *method;
	struct json_object *params;
	/* ITEM_REPLY */
	alr_reply_cb cb;
	void *user_data;
	struct response resp;
};

struct alr_client {
	int fd;
	struct json_tokener *tok;

	/* input: bytes [0, rlen) are an incomplete line; [0, rscan) are known
	 * to hold no newline, so a long line is scanned only once */
	char *rbuf;
	size_t rlen, rcap, rscan;

	/* output: bytes [woff, wlen) are still to be written */
	char *wbuf;
	size_t wlen, wcap, woff;

	int64_t next_id;
	/* in request order, so the head is the oldest unanswered request */
	struct pending *pending, **pending_tail;
	/* events and async replies read but not yet delivered, in order */
	struct item *queue, **queue_tail;

	alr_event_cb event_cb;
	void *event_data;

	/* 0 while the connection works; else the negative errno that ended it
	 * and what to tell the user */
	int dead;
	struct alr_error dead_error;
	/* last error with id null that matched no request (the daemon's
	 * "-32003 busy" on connect): it explains a following close */
	struct alr_error stray;

	unsigned dispatch_depth;
	bool free_requested;
};

static void set_error(struct alr_error *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_error(struct alr_error *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

static void copy_error(struct alr_error *dst, const struct alr_error *src)
{
	if (dst)
		*dst = *src;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t deadline_after(int timeout_ms)
{
	if (timeout_ms < 0)
		return -1;
	return now_ns() + (int64_t)timeout_ms * 1000000;
}

/* Milliseconds left for poll(), rounded up; -1 for no deadline. */
static int remaining_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - now_ns();
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* The connection is over: remember why (once) and return the error. */
static int client_fail(struct alr_client *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int client_fail(struct alr_client *c, int err, const char *fmt, ...)
{
	va_list ap;

	if (c->dead)
		return c->dead;
	c->dead = err;
	if (err == -ECONNRESET && c->stray.code != 0) {
		/* the daemon said why before it closed */
		c->dead_error = c->stray;
		return err;
	}
	c->dead_error.code = 0;
	va_start(ap, fmt);
	vsnprintf(c->dead_error.message, sizeof(c->dead_error.message), fmt, ap);
	va_end(ap);
	return err;
}

static void response_clear(struct response *r)
{
	json_object_put(r->msg);
	r->msg = NULL;
	r->result = NULL;
}

static void item_free(struct item *it)
{
	json_object_put(it->msg);
	response_clear(&it->resp);
	free(it);
}

static void queue_push(struct alr_client *c, struct item *it)
{
	it->next = NULL;
	*c->queue_tail = it;
	c->queue_tail = &it->next;
}

static struct item *queue_pop(struct alr_client *c)
{
	struct item *it = c->queue;

	if (!it)
		return NULL;
	c->queue = it->next;
	if (!c->queue)
		c->queue_tail = &c->queue;
	return it;
}

static struct pending *pending_new(struct alr_client *c, enum pending_kind kind,
				   alr_reply_cb cb, void *user_data)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->id = c->next_id++;
	p->kind = kind;
	p->cb = cb;
	p->user_data = user_data;
	*c->pending_tail = p;
	c->pending_tail = &p->next;
	return p;
}

/* Unlink and return the pending request with @id, or with id null the
 * oldest one (responses come in request order, docs/protocol.md). */
static struct pending *pending_take(struct alr_client *c, bool any, int64_t id)
{
	struct pending **pp, *p;

	for (pp = &c->pending; (p = *pp); pp = &p->next) {
		if (!any && p->id != id)
			continue;
		*pp = p->next;
		if (!*pp)
			c->pending_tail = pp;
		p->next = NULL;
		return p;
	}
	return NULL;
}

static void error_from_json(struct alr_error *e, struct json_object *err)
{
	struct json_object *code = NULL, *msg = NULL;

	e->code = ALR_ERR_INTERNAL;
	if (json_object_object_get_ex(err, "code", &code) &&
	    json_object_is_type(code, json_type_int))
		e->code = json_object_get_int(code);
	if (json_object_object_get_ex(err, "message", &msg) &&
	    json_object_is_type(msg, json_type_string))
		snprintf(e->message, sizeof(e->message), "%s",
			 json_object_get_string(msg));
	else
		snprintf(e->message, sizeof(e->message), "alrd error %d", e->code);
}

static int handle_response(struct alr_client *c, struct json_object *msg,
			   struct json_object *id)
{
	struct json_object *result = NULL, *err = NULL;
	bool has_result, has_error;
	struct pending *p = NULL;
	struct response resp = { 0 };
	struct item *it;

	has_result = json_object_object_get_ex(msg, "result", &result);
	has_error = json_object_object_get_ex(msg, "error", &err);
	if (has_result == has_error) {
		json_object_put(msg);
		return client_fail(c, -EPROTO, "alrd sent a response with %s",
				   has_result ? "both result and error"
					      : "neither result nor error");
	}
	if (has_error && !json_object_is_type(err, json_type_object)) {
		json_object_put(msg);
		return client_fail(c, -EPROTO, "alrd sent an error that is not an object");
	}

	if (!id) {
		/* An error about a line the daemon could not read (too large,
		 * not JSON): it answers the oldest request, or none at all
		 * when it refuses the connection (-32003). */
		if (!has_error) {
			json_object_put(msg);
			return client_fail(c, -EPROTO, "alrd sent a result with id null");
		}
		p = pending_take(c, true, 0);
		if (!p) {
			error_from_json(&c->stray, err);
			json_object_put(msg);
			return 0;
		}
	} else if (json_object_is_type(id, json_type_int)) {
		p = pending_take(c, false, json_object_get_int64(id));
	}
	if (!p) {
		/* not a request of ours, or already forgotten */
		json_object_put(msg);
		return 0;
	}

	resp.msg = msg;
	resp.failed = has_error;
	if (has_error)
		error_from_json(&resp.error, err);
	else
		resp.result = result;

	switch (p->kind) {
	case PENDING_SYNC:
		p->resp = resp;
		p->done = true;        /* the waiting call frees p */
		return 0;
	case PENDING_ASYNC:
		it = calloc(1, sizeof(*it));
		if (!it) {
			response_clear(&resp);
			free(p);
			return client_fail(c, -ENOMEM, "out of memory");
		}
		it->type = ITEM_REPLY;
		it->cb = p->cb;
		it->user_data = p->user_data;
		it->resp = resp;
		queue_push(c, it);
		free(p);
		return 0;
	case PENDING_ABANDONED:
		response_clear(&resp);
		free(p);
		return 0;
	}
	assert(false);
	return 0;
}

static int handle_event(struct alr_client *c, struct json_object *msg,
			struct json_object *method)
{
	struct json_object *params = NULL;
	struct item *it;

	if (!json_object_is_type(method, json_type_string)) {
		json_object_put(msg);
		return client_fail(c, -EPROTO, "alrd sent an event whose method is not a string");
	}
	json_object_object_get_ex(msg, "params", &params);
	it = calloc(1, sizeof(*it));
	if (!it) {
		json_object_put(msg);
		return client_fail(c, -ENOMEM, "out of memory");
	}
	it->type = ITEM_EVENT;
	it->msg = msg;
	it->method = json_object_get_string(method);
	it->params = params;
	queue_push(c, it);
	return 0;
}

static bool all_space(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

static int handle_line(struct alr_client *c, const char *line, size_t len)
{
	struct json_object *msg, *v = NULL, *method = NULL, *id = NULL;
	enum json_tokener_error jerr;
	size_t end;
	bool has_id;

	/* "Empty lines are ignored", and "\r\n" is accepted */
	if (all_space(line, len))
		return 0;

	json_tokener_reset(c->tok);
	msg = json_tokener_parse_ex(c->tok, line, (int)len);
	jerr = json_tokener_get_error(c->tok);
	if (!msg) {
		if (jerr == json_tokener_success || jerr == json_tokener_continue)
			return client_fail(c, -EPROTO, "alrd sent a line that is not a JSON object");
		return client_fail(c, -EPROTO, "alrd sent invalid JSON: %s",
				   json_tokener_error_desc(jerr));
	}
	end = json_tokener_get_parse_end(c->tok);
	if (end > len || !all_space(line + end, len - end)) {
		json_object_put(msg);
		return client_fail(c, -EPROTO, "alrd sent more than one JSON value on a line");
	}
	if (!json_object_is_type(msg, json_type_object)) {
		json_object_put(msg);
		return client_fail(c, -EPROTO, "alrd sent a line that is not a JSON object");
	}
	if (!json_object_object_get_ex(msg, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "2.0") != 0) {
		json_object_put(msg);
		return client_fail(c, -EPROTO, "alrd sent a message that is not JSON-RPC 2.0");
	}

	has_id = json_object_object_get_ex(msg, "id", &id);
	if (json_object_object_get_ex(msg, "method", &method)) {
		if (has_id) {
			/* the daemon never makes requests */
			json_object_put(msg);
			return client_fail(c, -EPROTO, "alrd sent a request");
		}
		return handle_event(c, msg, method);
	}
	if (has_id)
		return handle_response(c, msg, id);
	json_object_put(msg);
	return client_fail(c, -EPROTO, "alrd sent a message that is neither a response nor an event");
}

/* Cut the complete lines off the read buffer and handle them. */
static int process_input(struct alr_client *c)
{
	size_t start = 0;
	char *nl;
	int r = 0;

	while ((nl = memchr(c->rbuf + c->rscan, '\n', c->rlen - c->rscan))) {
		size_t end = (size_t)(nl - c->rbuf);

		r = handle_line(c, c->rbuf + start, end - start);
		start = c->rscan = end + 1;
		if (r < 0)
			break;
	}
	if (r >= 0)
		c->rscan = c->rlen;
	if (start > 0) {
		memmove(c->rbuf, c->rbuf + start, c->rlen - start);
		c->rlen -= start;
		c->rscan -= start;
	}
	if (r < 0)
		return r;
	if (c->rcap > RBUF_KEEP && c->rlen < RBUF_KEEP / 2) {
		char *p = realloc(c->rbuf, RBUF_KEEP);

		if (p) {
			c->rbuf = p;
			c->rcap = RBUF_KEEP;
		}
	}
	return 0;
}

/* Read everything the socket has now.  Errors end the connection. */
static int read_input(struct alr_client *c)
{
	for (;;) {
		ssize_t n;
		int r;

		if (c->dead)
			return c->dead;
		if (c->rcap - c->rlen < READ_MIN && c->rcap < ALR_MAX_RESPONSE) {
			size_t cap = c->rcap * 2;
			char *p;

			if (cap > ALR_MAX_RESPONSE)
				cap = ALR_MAX_RESPONSE;
			p = realloc(c->rbuf, cap);
			if (!p)
				return client_fail(c, -ENOMEM, "out of memory");
			c->rbuf = p;
			c->rcap = cap;
		}
		if (c->rlen == c->rcap)
			return client_fail(c, -EPROTO,
					   "alrd sent a line longer than %d bytes",
					   ALR_MAX_RESPONSE);

		n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == ECONNRESET)
				return client_fail(c, -ECONNRESET, "alrd closed the connection");
			return client_fail(c, -errno, "cannot read from alrd: %m");
		}
		if (n == 0)
			return client_fail(c, -ECONNRESET, "alrd closed the connection");
		c->rlen += (size_t)n;
		r = process_input(c);
		if (r < 0)
			return r;
	}
}

/* Write what the socket takes now. */
static int flush_output(struct alr_client *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EPIPE || errno == ECONNRESET) {
				/* read what it said before it left */
				read_input(c);
				return client_fail(c, -ECONNRESET, "alrd closed the connection");
			}
			return client_fail(c, -errno, "cannot write to alrd: %m");
		}
		c->woff += (size_t)n;
	}
	if (c->woff == c->wlen) {
		c->woff = c->wlen = 0;
	} else if (c->woff > c->wcap / 2) {
		memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
		c->wlen -= c->woff;
		c->woff = 0;
	}
	return 0;
}

static int append_output(struct alr_client *c, const char *s, size_t len)
{
	if (c->wcap - c->wlen < len) {
		size_t cap = c->wcap ? c->wcap : 4096;
		char *p;

		while (cap - c->wlen < len) {
			if (cap > SIZE_MAX / 2)
				return -ENOMEM;
			cap *= 2;
		}
		p = realloc(c->wbuf, cap);
		if (!p)
			return -ENOMEM;
		c->wbuf = p;
		c->wcap = cap;
	}
	memcpy(c->wbuf + c->wlen, s, len);
	c->wlen += len;
	return 0;
}

/* Serialise a request into the output buffer.  Takes @params. */
static int queue_request(struct alr_client *c, int64_t id, const char *method,
			 struct json_object *params)
{
	struct json_object *req = json_object_new_object();
	const char *s;
	size_t len;
	int r = -ENOMEM;

	if (!req) {
		json_object_put(params);
		return -ENOMEM;
	}
	if (json_object_object_add(req, "jsonrpc", json_object_new_string("2.0")) < 0 ||
	    json_object_object_add(req, "id", json_object_new_int64(id)) < 0 ||
	    json_object_object_add(req, "method", json_object_new_string(method)) < 0) {
		json_object_put(params);
		goto out;
	}
	if (params && json_object_object_add(req, "params", params) < 0) {
		json_object_put(params);
		goto out;
	}
	/* PLAIN: no newline inside; json-c escapes those in strings */
	s = json_object_to_json_string_length(req, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (!s)
		goto out;
	r = append_output(c, s, len);
	if (r == 0)
		r = append_output(c, "\n", 1);
out:
	json_object_put(req);
	return r;
}

/*
 * Block until @p is answered (or, with @p NULL, until the output buffer is
 * written), the connection ends or @deadline passes.  Reads while it waits
 * so that a daemon writing to us never deadlocks with us writing to it;
 * what it reads is queued.  Never runs a callback.
 */
static int wait_for(struct alr_client *c, const struct pending *p, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd;
		int r, tmo;

		if (c->wlen > 0 && !c->dead)
			flush_output(c);
		if (p ? p->done : c->wlen == 0)
			return 0;
		if (c->dead)
			return c->dead;
		tmo = remaining_ms(deadline);
		if (tmo == 0)
			return -ETIMEDOUT;

		pfd.fd = c->fd;
		pfd.events = POLLIN | (c->wlen > 0 ? POLLOUT : 0);
		pfd.revents = 0;
		r = poll(&pfd, 1, tmo);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd.revents & POLLNVAL)
			return -EBADF;
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
			read_input(c);
	}
}

ALR_EXPORT const char *alr_client_default_socket(void)
{
	const char *s = getenv(ALR_SOCKET_ENV);

	return s && *s ? s : CLIENT_DEFAULT_SOCKET;
}

ALR_EXPORT int alr_client_connect(const char *path, struct alr_client **ret)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct alr_client *c;
	int fd, r;

	if (!ret)
		return -EINVAL;
	*ret = NULL;
	if (!path)
		path = alr_client_default_socket();
	if (!*path)
		return -EINVAL;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);

	/* Blocking connect: a non-blocking one fails with EAGAIN when the
	 * daemon's listen backlog is full, where this one waits for room. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	do {
		r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = -errno;
		close(fd);
		return r;
	}

	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->next_id = 1;
	c->pending_tail = &c->pending;
	c->queue_tail = &c->queue;
	c->tok = json_tokener_new();
	c->rbuf = malloc(RBUF_INITIAL);
	c->rcap = RBUF_INITIAL;
	if (!c->tok || !c->rbuf) {
		alr_client_free(c);
		return -ENOMEM;
	}
	/* Non-blocking from here on: nothing may wait but poll(). */
	r = fcntl(fd, F_GETFL);
	if (r < 0 || fcntl(fd, F_SETFL, r | O_NONBLOCK) < 0) {
		r = -errno;
		alr_client_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

static void client_destroy(struct alr_client *c)
{
	struct pending *p;
	struct item *it;

	while ((it = queue_pop(c)))
		item_free(it);
	while ((p = c->pending)) {
		c->pending = p->next;
		response_clear(&p->resp);
		free(p);
	}
	if (c->tok)
		json_tokener_free(c->tok);
	if (c->fd >= 0)
		close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	free(c);
}

ALR_EXPORT struct alr_client *alr_client_free(struct alr_client *client)
{
	if (!client)
		return NULL;
	if (client->dispatch_depth > 0) {
		/* called from a callback: the dispatch that runs it frees the
		 * client when it unwinds, and delivers nothing more */
		client->free_requested = true;
		return NULL;
	}
	client_destroy(client);
	return NULL;
}

ALR_EXPORT int alr_client_fd(const struct alr_client *client)
{
	return client ? client->fd : -EINVAL;
}

ALR_EXPORT void alr_client_set_event_handler(struct alr_client *client,
					     alr_event_cb cb, void *user_data)
{
	if (!client)
		return;
	client->event_cb = cb;
	client->event_data = user_data;
}

ALR_EXPORT int alr_client_call(struct alr_client *client, const char *method,
			       struct json_object *params, int timeout_ms,
			       struct json_object **ret_result,
			       struct alr_error *ret_error)
{
	struct pending *p;
	int64_t deadline;
	int r;

	if (ret_result)
		*ret_result = NULL;
	if (ret_error)
		memset(ret_error, 0, sizeof(*ret_error));
	if (!client || !method || client->free_requested) {
		json_object_put(params);
		set_error(ret_error, 0, "invalid argument");
		return -EINVAL;
	}
	if (client->dead) {
		json_object_put(params);
		copy_error(ret_error, &client->dead_error);
		return client->dead;
	}

	deadline = deadline_after(timeout_ms);
	p = pending_new(client, PENDING_SYNC, NULL, NULL);
	if (!p) {
		json_object_put(params);
		set_error(ret_error, 0, "out of memory");
		return -ENOMEM;
	}
	r = queue_request(client, p->id, method, params);
	if (r < 0) {
		free(pending_take(client, false, p->id));
		set_error(ret_error, 0, "out of memory");
		return r;
	}

	r = wait_for(client, p, deadline);
	if (p->done) {
		/* p was unlinked when its response arrived */
		if (p->resp.failed) {
			copy_error(ret_error, &p->resp.error);
			r = -EPROTO;
		} else {
			if (ret_result)
				*ret_result = json_object_get(p->resp.result);
			r = 0;
		}
		response_clear(&p->resp);
		free(p);
		return r;
	}
	if (client->dead) {
		free(pending_take(client, false, p->id));
		copy_error(ret_error, &client->dead_error);
		return client->dead;
	}
	/* Timed out (or poll failed): the answer may still come; drop it
	 * then.  The rest of the request, if any, is written later. */
	p->kind = PENDING_ABANDONED;
	if (r == -ETIMEDOUT)
		set_error(ret_error, 0, "no answer from alrd within %d ms", timeout_ms);
	else
		set_error(ret_error, 0, "cannot wait for alrd: %s", strerror(-r));
	return r;
}

ALR_EXPORT int alr_client_call_async(struct alr_client *client, const char *method,
				     struct json_object *params, alr_reply_cb cb,
				     void *user_data)
{
	struct pending *p;
	int64_t id;
	int r;

	if (!client || !method || client->free_requested) {
		json_object_put(params);
		return -EINVAL;
	}
	if (client->dead) {
		json_object_put(params);
		return client->dead;
	}
	p = pending_new(client, cb ? PENDING_ASYNC : PENDING_ABANDONED, cb, user_data);
	if (!p) {
		json_object_put(params);
		return -ENOMEM;
	}
	id = p->id;
	r = queue_request(client, id, method, params);
	if (r < 0) {
		free(pending_take(client, false, id));
		return r;
	}
	r = wait_for(client, NULL, -1);
	if (r < 0) {
		/* Not sent: the callback must not run.  Unless something
		 * already answered it (an id-null error), in which case it is
		 * queued and the callback will run. */
		p = pending_take(client, false, id);
		if (!p)
			return 0;
		free(p);
		return r;
	}
	return 0;
}

ALR_EXPORT int alr_client_subscribe(struct alr_client *client,
				    const char *const *topics, int timeout_ms,
				    struct alr_error *ret_error)
{
	struct json_object *params = NULL, *arr;

	if (topics) {
		params = json_object_new_object();
		arr = json_object_new_array();
		if (!params || !arr || json_object_object_add(params, "topics", arr) < 0) {
			json_object_put(params);
			json_object_put(arr);
			if (ret_error)
				set_error(ret_error, 0, "out of memory");
			return -ENOMEM;
		}
		for (; *topics; topics++) {
			struct json_object *t = json_object_new_string(*topics);

			if (!t || json_object_array_add(arr, t) < 0) {
				json_object_put(t);
				json_object_put(params);
				if (ret_error)
					set_error(ret_error, 0, "out of memory");
				return -ENOMEM;
			}
		}
	}
	/* no params: the daemon subscribes to "*" */
	return alr_client_call(client, "events.subscribe", params, timeout_ms,
			       NULL, ret_error);
}

/* A lost connection fails the asynchronous calls still waiting. */
static void fail_pending(struct alr_client *c)
{
	struct pending *p;

	while (!c->free_requested && (p = pending_take(c, true, 0))) {
		/* a blocking call never waits while callbacks run */
		assert(p->kind != PENDING_SYNC);
		if (p->kind == PENDING_ASYNC) {
			struct alr_error e;

			set_error(&e, ALR_ERR_INTERNAL, "connection to alrd lost: %s",
				  c->dead_error.message);
			p->cb(c, NULL, &e, p->user_data);
		}
		free(p);
	}
}

/* Run the callbacks of everything queued, oldest first.  One item at a
 * time, so that a callback may call, dispatch or free the client. */
static int deliver(struct alr_client *c)
{
	struct item *it;
	int r;

	c->dispatch_depth++;
	while (!c->free_requested && (it = queue_pop(c))) {
		switch (it->type) {
		case ITEM_EVENT:
			if (c->event_cb)
				c->event_cb(c, it->method, it->params, c->event_data);
			break;
		case ITEM_REPLY:
			it->cb(c, it->resp.failed ? NULL : it->resp.result,
			       it->resp.failed ? &it->resp.error : NULL,
			       it->user_data);
			break;
		}
		item_free(it);
	}
	if (c->dead && !c->free_requested)
		fail_pending(c);
	r = c->dead;
	if (--c->dispatch_depth == 0 && c->free_requested)
		client_destroy(c);
	return r;
}

ALR_EXPORT int alr_client_dispatch(struct alr_client *client)
{
	if (!client)
		return -EINVAL;
	if (!client->dead && client->wlen > 0)
		flush_output(client);
	if (!client->dead)
		read_input(client);
	return deliver(client);
}

ALR_EXPORT int alr_client_wait(struct alr_client *client, int timeout_ms)
{
	struct pollfd pfd;
	int r;

	if (!client)
		return -EINVAL;
	/* what is already here needs no waiting */
	if (client->queue || client->dead)
		return alr_client_dispatch(client);
	pfd.fd = client->fd;
	pfd.events = POLLIN | (client->wlen > 0 ? POLLOUT : 0);
	pfd.revents = 0;
	r = poll(&pfd, 1, timeout_ms < 0 ? -1 : timeout_ms);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	return alr_client_dispatch(client);
}
