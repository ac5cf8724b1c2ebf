/**
 * @file alr/client.h
 * @brief libalr-client: talk to alrd from an application.
 *
 * The library speaks the control protocol (docs/protocol.md): JSON-RPC 2.0,
 * one JSON object per line, over alrd's UNIX socket.  Values are json-c
 * objects (`struct json_object`), so link with json-c too
 * (`pkg-config --libs json-c`).
 *
 * Two ways to use it:
 *  - blocking: alr_client_call() sends a request and waits for its response;
 *    events that arrive meanwhile are queued and delivered by the next
 *    alr_client_dispatch();
 *  - event-driven: watch alr_client_fd() for readability in your own loop
 *    (poll, libev, GLib, ...) and call alr_client_dispatch() when it is
 *    readable; use alr_client_call_async() for requests.
 *
 * Callbacks run only from alr_client_dispatch() and alr_client_wait(),
 * never from alr_client_call() or alr_client_call_async(); events and
 * replies that a blocking call reads while it waits are queued and
 * delivered, in the order they arrived, by the next dispatch.  Because the
 * queued ones do not make the fd readable again, call alr_client_dispatch()
 * after a blocking call when you watch the fd in your own loop.
 *
 * From inside a callback you may: make blocking or asynchronous calls,
 * subscribe, change the event handler, dispatch or wait again (nested),
 * and free the client with alr_client_free() (it is then freed when the
 * dispatch that ran the callback returns, and no further callback runs;
 * do not touch the client after freeing it).
 *
 * A client object is not thread-safe: use it from one thread.  The library
 * has no global state, so one client per thread is fine.
 */
#ifndef ALR_CLIENT_H
#define ALR_CLIENT_H

#include <stdbool.h>
#include <alr/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct json_object;
struct alr_client;

/** An error returned by the daemon, or made up locally. */
struct alr_error {
	int code;            /**< enum alr_error_code, or 0 when there is none */
	char message[512];   /**< text a person can act on */
};

/**
 * Called for each event (JSON-RPC notification).
 * @param method  event name, e.g. "iap.down"
 * @param params  event params; borrowed, valid during the call only; NULL
 *                if the event has none
 */
typedef void (*alr_event_cb)(struct alr_client *client, const char *method,
			     struct json_object *params, void *user_data);

/**
 * Called once with the response of an asynchronous call, from
 * alr_client_dispatch() or alr_client_wait().
 * Exactly one of @p result and @p error is non-NULL (unless the daemon's
 * result is JSON null, which alrd never sends); both are borrowed.
 * When the connection is lost before the response, @p error has code
 * ALR_ERR_INTERNAL and a message saying so.
 */
typedef void (*alr_reply_cb)(struct alr_client *client,
			     struct json_object *result,
			     const struct alr_error *error, void *user_data);

/**
 * The socket path a client uses when none is given: $ALRD_SOCKET if set and
 * not empty, else ALR_DEFAULT_SOCKET_PATH (or the socket path alrd was
 * built with, when the build moved its run directory).
 */
const char *alr_client_default_socket(void);

/**
 * Connect to alrd.
 * @param path  socket path, or NULL for alr_client_default_socket()
 * @param ret   the new client
 * @return 0, or a negative errno (-ENOENT: no such socket; -ECONNREFUSED:
 *         nobody listening; -EACCES: no permission to open it)
 */
int alr_client_connect(const char *path, struct alr_client **ret);

/** Close the connection and free the client.  NULL is fine.  Pending
 * asynchronous calls are not called back.  Returns NULL.  May be called
 * from a callback: see the top of this file. */
struct alr_client *alr_client_free(struct alr_client *client);

/** The connection's file descriptor, to watch for readability (-EINVAL
 * for NULL).  It stays the same for the client's lifetime. */
int alr_client_fd(const struct alr_client *client);

/** Set the callback for events (NULL to drop them). */
void alr_client_set_event_handler(struct alr_client *client,
				  alr_event_cb cb, void *user_data);

/**
 * Call a method and wait for its response.
 * @param params      params object, or NULL; ownership is taken
 * @param timeout_ms  how long to wait, or -1 for ever
 * @param ret_result  the result (caller owns it: json_object_put()); may be
 *                    NULL if the result is not wanted
 * @param ret_error   on failure, why: the daemon's error for -EPROTO, else
 *                    code 0 (or the daemon's last word, e.g. ALR_ERR_BUSY
 *                    when it closed a connection it refused) and a message
 *                    a person can read; may be NULL
 * @return 0 on success; -EPROTO when the daemon answered with an error
 *         (see @p ret_error), or sent something that is not JSON-RPC
 *         (ret_error->code 0; the connection is then unusable);
 *         -ETIMEDOUT (a later answer is discarded); -ECONNRESET when the
 *         connection was lost; another negative errno for local failures.
 *
 * Events and asynchronous replies read meanwhile are queued for the next
 * alr_client_dispatch().  May be called from a callback.
 */
int alr_client_call(struct alr_client *client, const char *method,
		    struct json_object *params, int timeout_ms,
		    struct json_object **ret_result,
		    struct alr_error *ret_error);

/**
 * Send a request without waiting for its response; @p cb gets the
 * response from alr_client_dispatch() or alr_client_wait() (a response that
 * a blocking alr_client_call() reads meanwhile is queued for them).
 * Returns once the request is written, which is at once unless the
 * socket's buffer is full (a daemon that stopped reading).
 * @param params  params object, or NULL; ownership is taken
 * @param cb      NULL to discard the response
 * @return 0, and then @p cb runs exactly once; or a negative errno
 *         (-ECONNRESET when the connection is lost), and then it never runs
 */
int alr_client_call_async(struct alr_client *client, const char *method,
			  struct json_object *params, alr_reply_cb cb,
			  void *user_data);

/**
 * Subscribe to events whose name matches one of @p topics (shell patterns,
 * e.g. "iap.*"); NULL-terminated; NULL means every event, an empty list
 * none.  Replaces the previous subscription.  Blocking, like
 * alr_client_call(), with the same return values.
 */
int alr_client_subscribe(struct alr_client *client,
			 const char *const *topics, int timeout_ms,
			 struct alr_error *ret_error);

/**
 * Read what the socket has without blocking and deliver queued and new
 * events and responses to their callbacks.
 * @return 0 when the connection is still open, -ECONNRESET when the daemon
 *         closed it, -EPROTO when it sent something that is not JSON-RPC
 *         or a line longer than ALR_MAX_RESPONSE (the connection is then
 *         unusable), or another negative errno.  Once the connection is
 *         lost, everything read before is delivered first, then the
 *         pending asynchronous calls fail, then the error is returned (and
 *         again by every later call).
 */
int alr_client_dispatch(struct alr_client *client);

/**
 * Wait up to @p timeout_ms (-1: for ever) for something to arrive, then
 * dispatch it.  A convenience for programs without their own loop.
 * @return as alr_client_dispatch(), or -ETIMEDOUT when nothing arrived,
 *         or -EINTR when a signal interrupted the wait
 */
int alr_client_wait(struct alr_client *client, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
