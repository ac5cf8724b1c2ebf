/*
 * The control socket server: JSON-RPC 2.0 over a UNIX stream socket
 * (docs/protocol.md).  It owns connections, framing, limits, peer
 * credentials and event fan-out; what methods do is in api-*.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ev_loop;
struct json_object;
struct config;
struct control;
struct control_client;
struct jsonrpc_error;

/*
 * A method handler.  Returns 0 with *ret_result set (NULL means {}), or a
 * negative errno with @err filled, or CONTROL_DEFERRED after
 * control_client_defer(): the response follows later.
 */
#define CONTROL_DEFERRED 1

typedef int (*control_method_fn)(void *user_data, struct control_client *client,
				 struct json_object *params,
				 struct json_object **ret_result,
				 struct jsonrpc_error *err);

struct control_method {
	const char *name;
	bool write;                     /* needs permission to control */
	const char *what;               /* "changes the daemon", for messages */
	control_method_fn fn;
};

/* @methods (may be NULL with @n_methods 0) is borrowed and must outlive
 * the server (a static table). */
struct control *control_new(struct ev_loop *loop, const struct config *config,
			    const struct control_method *methods, size_t n_methods,
			    void *user_data);
/* One more table of methods, borrowed like control_new()'s (each noun of
 * daemon/api-*.c registers its own).  0, or -ENOSPC beyond
 * CONTROL_MAX_METHOD_TABLES. */
#define CONTROL_MAX_METHOD_TABLES 16
int control_add_methods(struct control *c, const struct control_method *methods, size_t n);
struct control *control_free(struct control *c);

/* Create, bind and listen on the configured socket.  0 or negative errno,
 * logged once here. */
int control_listen(struct control *c);

/* New limits and groups after a reload (socket path and mode stay). */
int control_set_config(struct control *c, const struct config *config);

/* Send an event to every client subscribed to @method.  Takes @params. */
void control_broadcast(struct control *c, const char *method, struct json_object *params);
/* Send an event to every client @pick selects (by control_client_id())
 * and, when @observers, to every client subscribed to @method; each gets
 * it once.  Takes @params. */
typedef bool (*control_pick_fn)(uint64_t client_id, void *user_data);
void control_send(struct control *c, const char *method, struct json_object *params,
		  bool observers, control_pick_fn pick, void *user_data);
/* Whether any client would receive @method (skip building params if not). */
bool control_wants(const struct control *c, const char *method);

size_t control_client_count(const struct control *c);

/* Per-client accessors for method handlers. */
uid_t control_client_uid(const struct control_client *cl);
gid_t control_client_gid(const struct control_client *cl);
pid_t control_client_pid(const struct control_client *cl);
/* The client's supplementary groups as the kernel recorded them at
 * connect (SO_PEERGROUPS): their number, at most @max in @ret; or a
 * negative errno (-ERANGE: more than @max). */
int control_client_groups(const struct control_client *cl, gid_t *ret, size_t max);
bool control_client_can_control(const struct control_client *cl);
/* Whether @gid is one of control-groups (as resolved at the last start or
 * reload): the D-Bus interface's check is the socket's (daemon/dbus.c). */
bool control_gid_is_control(const struct control *c, gid_t gid);
/* A number that identifies the client for the daemon's life (never 0,
 * never reused). */
uint64_t control_client_id(const struct control_client *cl);

/*
 * Answer later (an operation that takes a while: deleting, restoring).
 * Only from inside a method handler, which then returns CONTROL_DEFERRED.
 * The client's next requests wait until the answer is sent, so responses
 * stay in request order.  NULL on ENOMEM (answer at once instead).
 */
struct control_deferred;
struct control_deferred *control_client_defer(struct control_client *cl);
/* Send the answer: @result (taken; NULL means {}) when @err is NULL or has
 * no code, else the error (consumed).  Frees @d.  When the client is gone,
 * nothing is sent.  Must be called once for each deferral, before
 * control_free(). */
void control_deferred_reply(struct control_deferred *d, struct json_object *result,
			    struct jsonrpc_error *err);

/* Observers of disconnecting clients (their uses of profiles end).  Called
 * once per client, after it left the client list. */
typedef void (*control_disconnect_fn)(struct control_client *cl, void *user_data);
unsigned int control_watch_disconnect(struct control *c, control_disconnect_fn fn,
				      void *user_data, void (*destroy)(void *));
bool control_unwatch_disconnect(struct control *c, unsigned int id);

/* Replace the client's subscription (patterns copied).  0, or -EINVAL with
 * @err filled when a pattern breaks the limits. */
int control_client_subscribe(struct control_client *cl, const char *const *topics,
			     size_t n, struct jsonrpc_error *err);
