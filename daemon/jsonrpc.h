/*
 * JSON-RPC 2.0 framing and message building (docs/protocol.md).  Pure: no
 * sockets.  The control server feeds bytes in and writes what comes out.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct json_object;

/* Line framer: bytes in, complete lines out, with a size limit. */
struct framer {
	char *buf;
	size_t len;             /* bytes held */
	size_t scanned;         /* bytes already searched for '\n' */
	size_t max;             /* longest line, newline included */
	bool discarding;        /* inside an over-long line */
	size_t pending;         /* bytes of the line handed out last */
};

enum framer_result {
	FRAMER_NEED_MORE,
	FRAMER_LINE,            /* *line (NUL-terminated, no newline), *len */
	FRAMER_TOO_LONG,        /* one over-long line was dropped */
};

int framer_init(struct framer *f, size_t max);
void framer_free(struct framer *f);
/* Where to read into and how much fits; 0 only when a line is pending. */
char *framer_space(struct framer *f, size_t *ret_avail);
void framer_commit(struct framer *f, size_t n);
/* The next event.  A returned line stays valid until the next call. */
enum framer_result framer_next(struct framer *f, char **ret_line, size_t *ret_len);
/* Whether part of a line is held, or an over-long one is being dropped. */
bool framer_partial(const struct framer *f);

/* A parsed request.  @root owns everything; id/params are borrowed. */
struct jsonrpc_request {
	struct json_object *root;
	struct json_object *id;         /* NULL for a notification */
	bool has_id;
	const char *method;
	struct json_object *params;     /* object or NULL */
};

struct jsonrpc_error {
	int code;
	char message[256];
	struct json_object *data;       /* owned, may be NULL */
};

/*
 * Parse one line.  0 and @ret filled, or a negative errno and @ret_error
 * filled; @ret->id is still set when the id could be read, so the error
 * response can carry it.
 */
int jsonrpc_parse_request(const char *line, size_t len, struct jsonrpc_request *ret,
			  struct jsonrpc_error *ret_error);
void jsonrpc_request_done(struct jsonrpc_request *r);

void jsonrpc_error_set(struct jsonrpc_error *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void jsonrpc_error_done(struct jsonrpc_error *e);

/* Messages (new references).  @id and @result/@data references are taken. */
struct json_object *jsonrpc_result(struct json_object *id, struct json_object *result);
struct json_object *jsonrpc_error_response(struct json_object *id, struct jsonrpc_error *e);
struct json_object *jsonrpc_notification(const char *method, struct json_object *params);

/* Compact text plus '\n', malloc'ed; NULL on ENOMEM.  Always valid UTF-8:
 * a byte of a string that is not is replaced by U+FFFD. */
char *jsonrpc_serialize(struct json_object *msg, size_t *ret_len);

/* Whether @s is well-formed UTF-8 (RFC 3629). */
bool jsonrpc_utf8_valid(const char *s, size_t len);
/* How many bytes of the NUL-terminated @s to print so that at most @max
 * are printed and no character is cut: "%.*s" with this keeps UTF-8. */
size_t jsonrpc_utf8_cut(const char *s, size_t max);

/*
 * Params checking.  Each spec entry names a member, its json_type and
 * whether it is required; unknown members are refused so typos surface.
 * 0 or -EINVAL with @e filled (code -32602, message naming the member).
 */
struct jsonrpc_param {
	const char *name;
	int type;                       /* enum json_type */
	bool required;
};

int jsonrpc_check_params(struct json_object *params, const struct jsonrpc_param *spec,
			 size_t n, struct jsonrpc_error *e);
