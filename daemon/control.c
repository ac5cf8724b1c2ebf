/* Control socket server: connections, framing, limits, credentials, events. */
#include "daemon/control.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "alr/types.h"
#include "daemon/config.h"
#include "daemon/jsonrpc.h"
#include "base/log.h"
#include "base/util.h"
#include "base/watchlist.h"

#define MAX_TOPICS 32
#define MAX_TOPIC_LEN 64
#define MAX_PEER_GROUPS 256
#define ACCEPT_BATCH 32
#define READ_CHUNK 65536

/* One serialized message, shared by every client it is queued for. */
struct outmsg {
	unsigned int refs;
	size_t len;
	char *data;                     /* from jsonrpc_serialize(), owned */
};

struct control_client {
	struct control *ctl;
	struct control_client *prev, *next;
	unsigned int id;                /* for log lines */
	int fd;
	ev_io rio, wio;
	ev_timer deadline;              /* request-timeout (see client_arm_deadline) */
	struct framer in;

	struct outmsg **q;              /* ring of queued messages */
	size_t q_head, q_n, q_cap;
	size_t q_off;                   /* bytes of q[q_head] already sent */
	size_t q_bytes;                 /* bytes queued, not yet sent */

	uid_t uid;
	gid_t gid;
	pid_t pid;
	bool can_control;
	bool dead;
	bool paused;                    /* a deferred answer is pending */
	bool resume;                    /* process buffered lines again */
	bool seen_request;              /* a complete request line came */
	struct json_object *cur_id;     /* the request being handled */
	bool cur_has_id;

	char *topics[MAX_TOPICS];
	size_t n_topics;
};

struct control {
	struct ev_loop *loop;
	const struct config *config;
	struct {
		const struct control_method *v;
		size_t n;
	} methods[CONTROL_MAX_METHOD_TABLES];
	size_t n_tables;
	void *user_data;

	int fd;
	ev_io lio;
	ev_timer retry;                 /* re-arm accept after EMFILE */
	ev_prepare reaper;              /* frees closed clients */
	char *bound_path;

	struct control_client *clients;
	struct control_client *dead;    /* closed, freed by the reaper */
	size_t n_clients;
	unsigned int next_client_id;

	gid_t control_gids[CONFIG_MAX_GROUPS];
	size_t n_control_gids;

	struct watchlist disconnect_watches;
	struct control_deferred *deferred;      /* answers not sent yet */
	ev_idle resumer;                /* clients whose answer went out */
};

/* An answer that comes later (control_client_defer()). */
struct control_deferred {
	struct control *ctl;
	struct control_deferred *prev, *next;
	unsigned int client_id;
	struct json_object *id;
	bool has_id;
};

/* Takes @data (malloc'ed): an answer of many megabytes is not copied
 * again.  NULL on ENOMEM, @data freed. */
static struct outmsg *outmsg_take(char *data, size_t len)
{
	struct outmsg *m = data ? malloc(sizeof(*m)) : NULL;

	if (!m) {
		free(data);
		return NULL;
	}
	m->refs = 1;
	m->len = len;
	m->data = data;
	return m;
}

static void outmsg_unref(struct outmsg *m)
{
	if (m && --m->refs == 0) {
		free(m->data);
		free(m);
	}
}

static void client_free(struct control_client *cl)
{
	framer_free(&cl->in);
	for (size_t i = 0; i < cl->q_n; i++)
		outmsg_unref(cl->q[(cl->q_head + i) % cl->q_cap]);
	free(cl->q);
	for (size_t i = 0; i < cl->n_topics; i++)
		free(cl->topics[i]);
	free(cl);
}

static void list_unlink(struct control_client **head, struct control_client *cl)
{
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		*head = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	cl->prev = cl->next = NULL;
}

static void list_push(struct control_client **head, struct control_client *cl)
{
	cl->prev = NULL;
	cl->next = *head;
	if (*head)
		(*head)->prev = cl;
	*head = cl;
}

/*
 * Close a client.  The object stays allocated until the reaper runs before
 * the loop next sleeps, because callers up the stack (a read callback, a
 * broadcast) may still hold it; they check ->dead.
 */
static void client_close(struct control_client *cl, int level, const char *why)
{
	struct control *c = cl->ctl;

	if (cl->dead)
		return;
	cl->dead = true;
	log_msg(level, "control: client %u (uid %u, pid %d): %s", cl->id,
		(unsigned)cl->uid, (int)cl->pid, why);
	ev_io_stop(c->loop, &cl->rio);
	ev_io_stop(c->loop, &cl->wio);
	ev_timer_stop(c->loop, &cl->deadline);
	close(cl->fd);
	cl->fd = -1;
	list_unlink(&c->clients, cl);
	c->n_clients--;
	list_push(&c->dead, cl);
	/* The observers (the registry: the client's uses and controls end)
	 * hear of it from the reaper, never from here: a client is closed
	 * when a write to it fails, which happens inside a broadcast, and
	 * that broadcast may come from inside the engine (profile.deregistered
	 * while a binding's answer runs): the engine must not be entered
	 * again from its own event (roam.c's run-to-completion rule). */
	ev_prepare_start(c->loop, &c->reaper);
}

static void reaper_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct control *c = container_of(w, struct control, reaper);

	while (c->dead) {
		struct control_client *cl = c->dead;

		/* Observers may broadcast (cl is off the list: not reached)
		 * or close more clients (they join c->dead: this loop). */
		WATCHLIST_NOTIFY(&c->disconnect_watches, control_disconnect_fn, cl);
		list_unlink(&c->dead, cl);
		client_free(cl);
	}
	ev_prepare_stop(loop, w);
}

/* Write as much of the queue as the socket takes.  false if closed. */
static bool client_flush(struct control_client *cl)
{
	struct control *c = cl->ctl;

	while (cl->q_n) {
		struct iovec iov[64];
		int n = 0;
		ssize_t w;

		for (size_t i = 0; i < cl->q_n && n < 64; i++, n++) {
			struct outmsg *m = cl->q[(cl->q_head + i) % cl->q_cap];
			size_t off = i == 0 ? cl->q_off : 0;

			iov[n].iov_base = m->data + off;
			iov[n].iov_len = m->len - off;
		}
		w = writev(cl->fd, iov, n);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			client_close(cl, LOG_DEBUG, errno == EPIPE ? "went away" : "write failed");
			return false;
		}
		cl->q_bytes -= (size_t)w;
		while (w > 0) {
			struct outmsg *m = cl->q[cl->q_head];
			size_t left = m->len - cl->q_off;

			if ((size_t)w < left) {
				cl->q_off += (size_t)w;
				break;
			}
			w -= (ssize_t)left;
			outmsg_unref(m);
			cl->q_head = (cl->q_head + 1) % cl->q_cap;
			cl->q_n--;
			cl->q_off = 0;
		}
	}
	if (cl->q_n)
		ev_io_start(c->loop, &cl->wio);
	else
		ev_io_stop(c->loop, &cl->wio);
	return true;
}

/* Queue a message (taking a reference) and try to send it at once. */
static bool client_queue(struct control_client *cl, struct outmsg *m)
{
	struct control *c = cl->ctl;
	size_t waiting;

	if (cl->dead)
		return false;
	/*
	 * Only the backlog counts, not the size of what comes: one answer
	 * may be far larger than max-output-queue (profile.list of
	 * thousands of profiles) and a client that reads gets it whole.
	 * The message being written is the one the client is reading, so
	 * the backlog is what waits behind it.  A client that does not read
	 * must not grow our memory or make us wait: once that passes the
	 * limit it loses its connection, others go on.
	 */
	waiting = cl->q_n ? cl->q_bytes - (cl->q[cl->q_head]->len - cl->q_off) : 0;
	if (waiting > c->config->max_output_queue) {
		char why[160];

		snprintf(why, sizeof(why), "not reading its messages: %zu bytes wait behind the "
			 "one being sent (max-output-queue %zu); disconnected", waiting,
			 c->config->max_output_queue);
		client_close(cl, LOG_NOTICE, why);
		return false;
	}
	if (cl->q_n == cl->q_cap) {
		size_t cap = cl->q_cap ? cl->q_cap * 2 : 8;
		struct outmsg **q = malloc(cap * sizeof(*q));

		if (!q) {
			client_close(cl, LOG_ERR, "out of memory");
			return false;
		}
		for (size_t i = 0; i < cl->q_n; i++)
			q[i] = cl->q[(cl->q_head + i) % cl->q_cap];
		free(cl->q);
		cl->q = q;
		cl->q_cap = cap;
		cl->q_head = 0;
	}
	m->refs++;
	cl->q[(cl->q_head + cl->q_n) % cl->q_cap] = m;
	cl->q_n++;
	cl->q_bytes += m->len;
	if (cl->q_n == 1)
		return client_flush(cl);
	return true;
}

static void client_send(struct control_client *cl, struct json_object *msg)
{
	size_t len = 0;
	char *text = jsonrpc_serialize(msg, &len);
	struct outmsg *m;

	json_object_put(msg);
	m = outmsg_take(text, len);
	if (!m) {
		client_close(cl, LOG_ERR, "out of memory");
		return;
	}
	client_queue(cl, m);
	outmsg_unref(m);
}

static void send_error(struct control_client *cl, struct json_object *id,
		       struct jsonrpc_error *e)
{
	client_send(cl, jsonrpc_error_response(json_object_get(id), e));
	jsonrpc_error_done(e);
}

static const struct control_method *find_method(const struct control *c, const char *name)
{
	for (size_t t = 0; t < c->n_tables; t++)
		for (size_t i = 0; i < c->methods[t].n; i++)
			if (strcmp(c->methods[t].v[i].name, name) == 0)
				return &c->methods[t].v[i];
	return NULL;
}

static void permission_error(const struct control *c, const char *method,
			     const char *what, struct jsonrpc_error *e)
{
	char groups[256] = "";
	size_t off = 0;

	for (size_t i = 0; i < c->config->n_control_groups && off < sizeof(groups); i++)
		off += (size_t)snprintf(groups + off, sizeof(groups) - off, "%s%s",
					i ? ", " : "", c->config->control_groups[i]);
	jsonrpc_error_set(e, ALR_ERR_PERMISSION,
			  "permission denied: %s %s; it needs root or membership in one of the groups: %s",
			  method, what, groups[0] ? groups : "(none configured)");
	e->data = json_object_new_object();
	json_object_object_add(e->data, "needed", json_object_new_string("control"));
}

static void handle_line(struct control_client *cl, const char *line, size_t len)
{
	struct control *c = cl->ctl;
	struct jsonrpc_request req;
	struct jsonrpc_error err = { 0 };
	const struct control_method *m;
	struct json_object *result = NULL;
	int r;

	if (strspn(line, " \t") == len)
		return;         /* empty lines are keep-alives */
	cl->seen_request = true;

	r = jsonrpc_parse_request(line, len, &req, &err);
	if (r < 0) {
		/* JSON-RPC 2.0 §5: parse errors and invalid requests are
		 * answered with the id if it could be read, else null. */
		log_debug("control: client %u: %s", cl->id, err.message);
		send_error(cl, req.id, &err);
		jsonrpc_request_done(&req);
		return;
	}

	m = find_method(c, req.method);
	if (!m) {
		size_t cut = jsonrpc_utf8_cut(req.method, 64);

		jsonrpc_error_set(&err, ALR_ERR_METHOD_NOT_FOUND, "unknown method '%.*s%s'",
				  (int)cut, req.method, req.method[cut] ? "..." : "");
		err.data = json_object_new_object();
		json_object_object_add(err.data, "method", json_object_new_string(req.method));
	} else if (!cl->can_control &&
		   (m->write || c->config->read_access == CONFIG_READ_CONTROL)) {
		permission_error(c, m->name, m->write ? m->what : "is limited to controllers",
				 &err);
		log_info("control: client %u (uid %u): %s refused: no permission",
			 cl->id, (unsigned)cl->uid, m->name);
	} else {
		log_debug("control: client %u: %s", cl->id, m->name);
		cl->cur_id = req.id;
		cl->cur_has_id = req.has_id;
		r = m->fn(c->user_data, cl, req.params, &result, &err);
		cl->cur_id = NULL;
		if (r == CONTROL_DEFERRED && !err.code) {
			json_object_put(result);
			jsonrpc_request_done(&req);
			return;
		}
		if (r >= 0 && !err.code) {
			if (req.has_id && !cl->dead)
				client_send(cl, jsonrpc_result(json_object_get(req.id), result));
			else
				json_object_put(result);
			jsonrpc_request_done(&req);
			return;
		}
		json_object_put(result);
		if (!err.code)
			jsonrpc_error_set(&err, ALR_ERR_INTERNAL, "internal error: %s",
					  strerror(r < 0 ? -r : EIO));
	}
	if (req.has_id && !cl->dead)
		send_error(cl, req.id, &err);
	else
		jsonrpc_error_done(&err);
	jsonrpc_request_done(&req);
}

static void client_process(struct control_client *cl);

static void client_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control_client *cl = container_of(w, struct control_client, rio);
	size_t avail;
	char *space;
	ssize_t n;

	space = framer_space(&cl->in, &avail);
	if (avail == 0 && !cl->paused) {
		/* A full buffer of complete lines that waited for a deferred
		 * answer: the answer went out and this watcher fired before
		 * the resumer.  Handle them now, in order, then read on. */
		client_process(cl);
		if (cl->dead)
			return;
		space = framer_space(&cl->in, &avail);
	}
	if (avail == 0) {
		/* Waiting for a deferred answer with a full buffer (again):
		 * stop reading until it is sent. */
		ev_io_stop(loop, w);
		return;
	}
	if (avail > READ_CHUNK)
		avail = READ_CHUNK;
	n = read(cl->fd, space, avail);
	if (n == 0) {
		client_close(cl, LOG_DEBUG, "disconnected");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			client_close(cl, LOG_DEBUG, "read failed");
		return;
	}
	framer_commit(&cl->in, (size_t)n);
	client_process(cl);
}

/*
 * request-timeout.  "Idle" is not "quiet": a monitor or a controller may
 * say nothing for days and must keep its connection.  What holds a slot
 * for nothing is a line that never ends (the deadline runs from the
 * connection's last complete line while part of the next one waits) and,
 * for a client that may not control, a connection that never sends a
 * request (the deadline runs from connecting, like sshd's LoginGraceTime;
 * clients that may control are exempt because libalr-client connects
 * before its first call).  While a deferred answer is pending the client
 * waits for us, not we for it: no deadline.
 */
static void client_arm_deadline(struct control_client *cl, bool progress)
{
	struct control *c = cl->ctl;
	double t = c->config->request_timeout_ms / 1000.0;
	bool want, restart;

	if (cl->dead)
		return;
	if (t <= 0 || cl->paused) {
		want = restart = false;
	} else if (!cl->seen_request && !cl->can_control) {
		/* From connecting, whatever comes: empty lines do not
		 * extend it. */
		want = true;
		restart = false;
	} else {
		want = framer_partial(&cl->in);
		restart = progress;
	}
	if (!want) {
		ev_timer_stop(c->loop, &cl->deadline);
		return;
	}
	if (restart || !ev_is_active(&cl->deadline)) {
		cl->deadline.repeat = t;
		ev_timer_again(c->loop, &cl->deadline);
	}
}

static void client_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct control_client *cl = container_of(w, struct control_client, deadline);
	unsigned int secs = cl->ctl->config->request_timeout_ms / 1000;
	char why[128];

	if (cl->seen_request)
		snprintf(why, sizeof(why), "request line unfinished for %u s (request-timeout); "
			 "disconnected", secs);
	else
		snprintf(why, sizeof(why), "no request within %u s of connecting (request-timeout); "
			 "disconnected", secs);
	client_close(cl, LOG_NOTICE, why);
}

/* Handle the complete lines buffered, until one is deferred. */
static void client_process(struct control_client *cl)
{
	struct jsonrpc_error err = { 0 };
	bool progress = false;
	size_t len;
	char *line;

	while (!cl->dead && !cl->paused) {
		enum framer_result fr = framer_next(&cl->in, &line, &len);

		if (fr == FRAMER_NEED_MORE)
			break;
		progress = true;
		switch (fr) {
		case FRAMER_NEED_MORE:
			break;          /* left the loop above */
		case FRAMER_LINE:
			handle_line(cl, line, len);
			break;
		case FRAMER_TOO_LONG:
			/* The rest of the line is discarded as it arrives, so
			 * the stream stays in sync and the client usable. */
			jsonrpc_error_set(&err, ALR_ERR_TOO_LARGE,
					  "request too large: a line may be at most %zu bytes",
					  cl->ctl->config->max_request_size);
			log_info("control: client %u: request over %zu bytes discarded",
				 cl->id, cl->ctl->config->max_request_size);
			send_error(cl, NULL, &err);
			break;
		}
	}
	client_arm_deadline(cl, progress);
}

static void client_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control_client *cl = container_of(w, struct control_client, wio);

	client_flush(cl);
}

static bool gid_is_control(const struct control *c, gid_t gid)
{
	for (size_t i = 0; i < c->n_control_gids; i++)
		if (c->control_gids[i] == gid)
			return true;
	return false;
}

bool control_gid_is_control(const struct control *c, gid_t gid)
{
	return c && gid_is_control(c, gid);
}

static bool peer_can_control(const struct control *c, int fd, const struct ucred *cred)
{
	gid_t groups[MAX_PEER_GROUPS];
	socklen_t len = sizeof(groups);

	if (cred->uid == 0 || gid_is_control(c, cred->gid))
		return true;
	/* SO_PEERGROUPS: the peer's supplementary groups when it connected,
	 * straight from the kernel (no NSS lookup that could block). */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
		log_debug("control: SO_PEERGROUPS: %m");
		return false;
	}
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (gid_is_control(c, groups[i]))
			return true;
	return false;
}

static void refuse_busy(int fd, const char *why)
{
	struct jsonrpc_error e = { 0 };
	struct json_object *msg;
	size_t len;
	char *text;

	jsonrpc_error_set(&e, ALR_ERR_BUSY, "%s; try later", why);
	msg = jsonrpc_error_response(NULL, &e);
	text = jsonrpc_serialize(msg, &len);
	json_object_put(msg);
	if (text) {
		/* Best effort on a fresh non-blocking socket: fits the buffer. */
		ssize_t w = write(fd, text, len);

		(void)w;
		free(text);
	}
	close(fd);
}

/*
 * Whether a new connection fits the limits; -EBUSY with @why if not.
 * max-clients bounds everyone.  One user (root excepted) holds at most
 * max-clients-per-user of them, and the last reserved-clients slots (at
 * most half) are kept for root and the control groups, so that others
 * together cannot lock them out (dbus-daemon's max_connections_per_user,
 * PostgreSQL's superuser_reserved_connections).
 */
static int admit(const struct control *c, const struct ucred *cred, bool can_control,
		 char *why, size_t size)
{
	const struct config *cfg = c->config;
	unsigned int reserved = cfg->reserved_clients;
	size_t mine = 0;

	if (reserved > cfg->max_clients / 2)
		reserved = cfg->max_clients / 2;
	if (c->n_clients >= cfg->max_clients) {
		snprintf(why, size, "too many clients: %u already (max-clients)", cfg->max_clients);
		return -EBUSY;
	}
	if (!can_control && c->n_clients >= cfg->max_clients - reserved) {
		snprintf(why, size, "too many clients: the last %u of %u connections are kept for "
			 "root and the control groups (reserved-clients)", reserved, cfg->max_clients);
		return -EBUSY;
	}
	if (cred->uid == 0)
		return 0;
	for (const struct control_client *cl = c->clients; cl; cl = cl->next)
		if (cl->uid == cred->uid)
			mine++;
	if (mine >= cfg->max_clients_per_user) {
		snprintf(why, size, "too many connections from uid %u: %u already "
			 "(max-clients-per-user)", (unsigned)cred->uid, cfg->max_clients_per_user);
		return -EBUSY;
	}
	return 0;
}

static void accept_one(struct control *c, int fd)
{
	struct control_client *cl;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	bool can_control;
	char why[160];
	int r;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_errno(LOG_WARNING, -errno, "control: SO_PEERCRED: %m");
		close(fd);
		return;
	}
	can_control = peer_can_control(c, fd, &cred);
	r = admit(c, &cred, can_control, why, sizeof(why));
	if (r < 0) {
		log_notice("control: connection from uid %u pid %d refused: %s",
			   (unsigned)cred.uid, (int)cred.pid, why);
		refuse_busy(fd, why);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl || framer_init(&cl->in, c->config->max_request_size) < 0) {
		log_err("control: out of memory accepting a client");
		free(cl);
		close(fd);
		return;
	}
	cl->ctl = c;
	cl->fd = fd;
	cl->id = ++c->next_client_id;
	cl->uid = cred.uid;
	cl->gid = cred.gid;
	cl->pid = cred.pid;
	cl->can_control = can_control;
	ev_io_init(&cl->rio, client_read_cb, fd, EV_READ);
	ev_io_init(&cl->wio, client_write_cb, fd, EV_WRITE);
	ev_init(&cl->deadline, client_deadline_cb);
	ev_io_start(c->loop, &cl->rio);
	list_push(&c->clients, cl);
	c->n_clients++;
	client_arm_deadline(cl, false);
	log_debug("control: client %u connected (uid %u, gid %u, pid %d, %s)", cl->id,
		  (unsigned)cl->uid, (unsigned)cl->gid, (int)cl->pid,
		  cl->can_control ? "may control" : "read-only");
}

static void listen_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control *c = container_of(w, struct control, lio);

	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			accept_one(c, fd);
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* The pending connection would wake us again at once:
			 * pause accepting for a second instead of spinning. */
			log_errno(LOG_WARNING, -errno, "control: accept: %m; pausing for 1 s");
			ev_io_stop(loop, &c->lio);
			ev_timer_start(loop, &c->retry);
			return;
		}
		log_errno(LOG_WARNING, -errno, "control: accept: %m");
		return;
	}
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct control *c = container_of(w, struct control, retry);

	ev_io_start(loop, &c->lio);
}

static int resolve_groups(struct control *c, const struct config *config)
{
	c->n_control_gids = 0;
	for (size_t i = 0; i < config->n_control_groups; i++) {
		struct group *g = getgrnam(config->control_groups[i]);

		if (!g) {
			log_info("control: control group '%s' does not exist; ignored",
				 config->control_groups[i]);
			continue;
		}
		c->control_gids[c->n_control_gids++] = g->gr_gid;
	}
	return 0;
}

static void resumer_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct control *c = container_of(w, struct control, resumer);
	struct control_client *cl;

	ev_idle_stop(loop, w);
	/* Handling a line may close other clients (a broadcast to one that
	 * does not read): look for the next one from the head each time. */
	for (;;) {
		for (cl = c->clients; cl && !cl->resume; cl = cl->next)
			;
		if (!cl)
			break;
		cl->resume = false;
		client_process(cl);
	}
}

struct control *control_new(struct ev_loop *loop, const struct config *config,
			    const struct control_method *methods, size_t n_methods,
			    void *user_data)
{
	struct control *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->loop = loop;
	c->config = config;
	if (n_methods)
		control_add_methods(c, methods, n_methods);
	c->user_data = user_data;
	c->fd = -1;
	ev_timer_init(&c->retry, retry_cb, 1.0, 0.0);
	ev_prepare_init(&c->reaper, reaper_cb);
	ev_idle_init(&c->resumer, resumer_cb);
	resolve_groups(c, config);
	return c;
}

int control_add_methods(struct control *c, const struct control_method *methods, size_t n)
{
	if (c->n_tables == CONTROL_MAX_METHOD_TABLES)
		return -ENOSPC;
	c->methods[c->n_tables].v = methods;
	c->methods[c->n_tables++].n = n;
	return 0;
}

struct control *control_free(struct control *c)
{
	if (!c)
		return NULL;
	/* Nobody is told about these closes any more. */
	watchlist_clear(&c->disconnect_watches);
	while (c->clients)
		client_close(c->clients, LOG_DEBUG, "daemon stopping");
	reaper_cb(c->loop, &c->reaper, 0);
	while (c->deferred) {
		struct control_deferred *d = c->deferred;

		c->deferred = d->next;
		json_object_put(d->id);
		free(d);
	}
	ev_idle_stop(c->loop, &c->resumer);
	ev_timer_stop(c->loop, &c->retry);
	if (c->fd >= 0) {
		ev_io_stop(c->loop, &c->lio);
		close(c->fd);
	}
	if (c->bound_path) {
		unlink(c->bound_path);
		free(c->bound_path);
	}
	free(c);
	return NULL;
}

int control_set_config(struct control *c, const struct config *config)
{
	c->config = config;
	return resolve_groups(c, config);
}

/* If something answers on @path, another daemon owns it. */
static int check_stale_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return log_errno(LOG_ERR, -EEXIST,
				 "control: %s exists and is not a socket; not touching it", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	util_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0)
		return log_errno(LOG_ERR, -EADDRINUSE,
				 "control: another alrd is listening on %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return log_errno(LOG_ERR, -errno, "control: cannot remove stale socket %s: %m", path);
	log_info("control: removed stale socket %s", path);
	return 0;
}

static int make_parent_dir(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	util_strlcpy(dir, path, sizeof(dir));
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return log_errno(LOG_ERR, -errno, "control: cannot create %s: %m", dir);
	return 0;
}

int control_listen(struct control *c)
{
	const char *path = c->config->socket_path;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	gid_t gid = (gid_t)-1;
	mode_t old_umask;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return log_errno(LOG_ERR, -ENAMETOOLONG, "control: socket path %s is too long", path);
	util_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));

	if (c->config->socket_group) {
		struct group *g = getgrnam(c->config->socket_group);

		if (!g)
			return log_errno(LOG_ERR, -ENOENT, "control: socket-group '%s' does not exist",
					 c->config->socket_group);
		gid = g->gr_gid;
	} else {
		struct group *g = getgrnam("alrd");

		if (g)
			gid = g->gr_gid;
	}

	r = make_parent_dir(path);
	if (r < 0)
		return r;
	r = check_stale_socket(path);
	if (r < 0)
		return r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_errno(LOG_ERR, -errno, "control: socket: %m");
	/* No moment with looser permissions than configured. */
	old_umask = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_umask);
	if (r < 0) {
		r = log_errno(LOG_ERR, -errno, "control: cannot bind %s: %m", path);
		close(fd);
		return r;
	}
	if ((gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0) ||
	    chmod(path, c->config->socket_mode) < 0) {
		r = log_errno(LOG_ERR, -errno, "control: cannot set owner/mode of %s: %m", path);
		close(fd);
		unlink(path);
		return r;
	}
	if (listen(fd, 64) < 0) {
		r = log_errno(LOG_ERR, -errno, "control: listen on %s: %m", path);
		close(fd);
		unlink(path);
		return r;
	}
	c->fd = fd;
	c->bound_path = strdup(path);
	ev_io_init(&c->lio, listen_cb, fd, EV_READ);
	ev_io_start(c->loop, &c->lio);
	log_info("control: listening on %s (mode %04o)", path, c->config->socket_mode);
	return 0;
}

static bool client_wants(const struct control_client *cl, const char *method)
{
	for (size_t i = 0; i < cl->n_topics; i++)
		if (fnmatch(cl->topics[i], method, 0) == 0)
			return true;
	return false;
}

bool control_wants(const struct control *c, const char *method)
{
	for (const struct control_client *cl = c->clients; cl; cl = cl->next)
		if (client_wants(cl, method))
			return true;
	return false;
}

void control_broadcast(struct control *c, const char *method, struct json_object *params)
{
	if (!control_wants(c, method)) {
		json_object_put(params);
		return;
	}
	control_send(c, method, params, true, NULL, NULL);
}

void control_send(struct control *c, const char *method, struct json_object *params,
		  bool observers, control_pick_fn pick, void *user_data)
{
	struct json_object *msg = jsonrpc_notification(method, params);
	struct control_client *cl, *next;
	struct outmsg *m;
	size_t len = 0;
	char *text;

	text = jsonrpc_serialize(msg, &len);
	json_object_put(msg);
	m = outmsg_take(text, len);
	if (!m) {
		log_err("control: out of memory sending %s", method);
		return;
	}
	/* client_queue may close a client, which unlinks it: take next first. */
	for (cl = c->clients; cl; cl = next) {
		next = cl->next;
		if ((observers && client_wants(cl, method)) || (pick && pick(cl->id, user_data)))
			client_queue(cl, m);
	}
	outmsg_unref(m);
}

size_t control_client_count(const struct control *c)
{
	return c->n_clients;
}

uid_t control_client_uid(const struct control_client *cl) { return cl->uid; }
gid_t control_client_gid(const struct control_client *cl) { return cl->gid; }

int control_client_groups(const struct control_client *cl, gid_t *ret, size_t max)
{
	socklen_t len = (socklen_t)(max * sizeof(gid_t));

	if (getsockopt(cl->fd, SOL_SOCKET, SO_PEERGROUPS, ret, &len) < 0)
		return -errno;
	return (int)(len / sizeof(gid_t));
}
pid_t control_client_pid(const struct control_client *cl) { return cl->pid; }
bool control_client_can_control(const struct control_client *cl) { return cl->can_control; }

int control_client_subscribe(struct control_client *cl, const char *const *topics,
			     size_t n, struct jsonrpc_error *err)
{
	char *copy[MAX_TOPICS];

	if (n > MAX_TOPICS) {
		jsonrpc_error_set(err, ALR_ERR_INVALID_PARAMS,
				  "invalid params: at most %d topics", MAX_TOPICS);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (strlen(topics[i]) > MAX_TOPIC_LEN || !topics[i][0]) {
			jsonrpc_error_set(err, ALR_ERR_INVALID_PARAMS,
					  "invalid params: a topic must be 1 to %d bytes",
					  MAX_TOPIC_LEN);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < n; i++) {
		copy[i] = strdup(topics[i]);
		if (!copy[i]) {
			while (i--)
				free(copy[i]);
			jsonrpc_error_set(err, ALR_ERR_INTERNAL, "out of memory");
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < cl->n_topics; i++)
		free(cl->topics[i]);
	memcpy(cl->topics, copy, n * sizeof(*copy));
	cl->n_topics = n;
	return 0;
}

uint64_t control_client_id(const struct control_client *cl)
{
	return cl->id;
}

struct control_deferred *control_client_defer(struct control_client *cl)
{
	struct control *c = cl->ctl;
	struct control_deferred *d;

	if (cl->dead || cl->paused)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->ctl = c;
	d->client_id = cl->id;
	d->id = json_object_get(cl->cur_id);
	d->has_id = cl->cur_has_id;
	d->next = c->deferred;
	if (c->deferred)
		c->deferred->prev = d;
	c->deferred = d;
	/* Later requests wait for this answer: responses keep their order.
	 * Reading goes on (to see the client leave) until the buffer is
	 * full. */
	cl->paused = true;
	return d;
}

void control_deferred_reply(struct control_deferred *d, struct json_object *result,
			    struct jsonrpc_error *err)
{
	struct control *c;
	struct control_client *cl;

	if (!d) {
		json_object_put(result);
		if (err)
			jsonrpc_error_done(err);
		return;
	}
	c = d->ctl;
	if (d->prev)
		d->prev->next = d->next;
	else
		c->deferred = d->next;
	if (d->next)
		d->next->prev = d->prev;
	for (cl = c->clients; cl && cl->id != d->client_id; cl = cl->next)
		;
	if (cl && !cl->dead && d->has_id) {
		if (err && err->code) {
			json_object_put(result);
			send_error(cl, d->id, err);
		} else {
			client_send(cl, jsonrpc_result(json_object_get(d->id), result));
		}
	} else {
		json_object_put(result);
		if (err)
			jsonrpc_error_done(err);
	}
	if (cl && !cl->dead) {
		cl->paused = false;
		ev_io_start(c->loop, &cl->rio);
		/* Lines that arrived meanwhile are in the framer already. */
		cl->resume = true;
		ev_idle_start(c->loop, &c->resumer);
	}
	json_object_put(d->id);
	free(d);
}

unsigned int control_watch_disconnect(struct control *c, control_disconnect_fn fn,
				      void *user_data, void (*destroy)(void *))
{
	return watchlist_add(&c->disconnect_watches, (void *)fn, user_data, destroy);
}

bool control_unwatch_disconnect(struct control *c, unsigned int id)
{
	return watchlist_remove(&c->disconnect_watches, id);
}
