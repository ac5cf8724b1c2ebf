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
 * A client object is not thread-safe: use it from one thread.
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
 * @param params  event params; borrowed, valid during the call only
 */
typedef void (*alr_event_cb)(struct alr_client *client, const char *method,
			     struct json_object *params, void *user_data);

/**
 * Called once with the response of an asynchronous call.
 * Exactly one of @p result and @p error is non-NULL; both are borrowed.
 * When the connection is lost before the response, @p error has code
 * ALR_ERR_INTERNAL and a message saying so.
 */
typedef void (*alr_reply_cb)(struct alr_client *client,
			     struct json_object *result,
			     const struct alr_error *error, void *user_data);

/**
 * The socket path a client uses when none is given: $ALRD_SOCKET if set and
 * not empty, else ALR_DEFAULT_SOCKET_PATH.
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
 * asynchronous calls are not called back.  Returns NULL. */
struct alr_client *alr_client_free(struct alr_client *client);

/** The connection's file descriptor, to watch for readability. */
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
 * @param ret_error   filled when the daemon answers with an error; may be NULL
 * @return 0 on success; -EPROTO when the daemon answered with an error
 *         (see @p ret_error); -ETIMEDOUT; -ECONNRESET when the connection
 *         was lost; another negative errno for local failures.
 */
int alr_client_call(struct alr_client *client, const char *method,
		    struct json_object *params, int timeout_ms,
		    struct json_object **ret_result,
		    struct alr_error *ret_error);

/**
 * Send a request without waiting; @p cb gets the response from
 * alr_client_dispatch() (or from a later alr_client_call() that reads it).
 * @param params  params object, or NULL; ownership is taken
 * @return 0 or a negative errno
 */
int alr_client_call_async(struct alr_client *client, const char *method,
			  struct json_object *params, alr_reply_cb cb,
			  void *user_data);

/**
 * Subscribe to events whose name matches one of @p topics (shell patterns,
 * e.g. "iap.*"); NULL-terminated; NULL means every event.  Blocking, like
 * alr_client_call().
 */
int alr_client_subscribe(struct alr_client *client,
			 const char *const *topics, int timeout_ms,
			 struct alr_error *ret_error);

/**
 * Read what the socket has without blocking and deliver queued and new
 * events and responses to their callbacks.
 * @return 0 when the connection is still open, -ECONNRESET when the daemon
 *         closed it, -EPROTO when it sent something that is not JSON-RPC
 *         (the connection is then unusable), or another negative errno.
 */
int alr_client_dispatch(struct alr_client *client);

/**
 * Wait up to @p timeout_ms (-1: for ever) for something to arrive, then
 * dispatch it.  A convenience for programs without their own loop.
 * @return as alr_client_dispatch(), or -ETIMEDOUT when nothing arrived
 */
int alr_client_wait(struct alr_client *client, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
