/**
 * @file alr/types.h
 * @brief Types shared by alrd, its client library and its plugins.
 */
#ifndef ALR_TYPES_H
#define ALR_TYPES_H

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Stable error codes carried in JSON-RPC error objects.  The first five
 * are JSON-RPC 2.0's own; the rest are alrd's (docs/protocol.md).
 */
enum alr_error_code {
	ALR_ERR_PARSE            = -32700, /**< malformed JSON */
	ALR_ERR_INVALID_REQUEST  = -32600, /**< not a JSON-RPC 2.0 request object */
	ALR_ERR_METHOD_NOT_FOUND = -32601, /**< unknown method */
	ALR_ERR_INVALID_PARAMS   = -32602, /**< wrong, missing or extra params */
	ALR_ERR_INTERNAL         = -32603, /**< the daemon failed; see its log */
	ALR_ERR_TOO_LARGE        = -32000, /**< request line over the size limit */
	ALR_ERR_PERMISSION       = -32001, /**< caller may not do this */
	ALR_ERR_NOT_FOUND        = -32002, /**< no such object */
	ALR_ERR_BUSY             = -32003, /**< a limit was reached (clients, queue, profiles) */
	ALR_ERR_CONFIG           = -32004, /**< configuration is invalid */
};

/** Default control socket path. */
#define ALR_DEFAULT_SOCKET_PATH "/run/alrd/alrd.sock"
/** Environment variable naming the control socket. */
#define ALR_SOCKET_ENV "ALRD_SOCKET"
/** Default limit of one request line (client to daemon), newline included. */
#define ALR_MAX_REQUEST (64 * 1024)
/** Largest response or event line a client must accept. */
#define ALR_MAX_RESPONSE (16 * 1024 * 1024)

#ifdef __cplusplus
}
#endif
#endif
