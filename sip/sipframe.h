/* Framing SIP messages on a stream transport (RFC 3261 §18.3): a message
 * is its header block up to the empty line, then Content-Length bytes of
 * body.  A pure module: the TCP transport and the fuzzer feed it bytes. */
#pragma once

#include <stddef.h>

/* The longest message we accept on a stream; a peer that sends more is
 * dropped (the stream cannot be resynchronized). */
#define SIPFRAME_MAX 65535

/* Look at the start of a stream buffer.
 *   *ret_skip: leading CRLFs to discard first (RFC 5626 §3.5.1 keepalives;
 *              RFC 3261 §7.5 allows empty lines before a message)
 * Returns the length of the complete message that follows them, 0 when
 * more bytes are needed, or
 * @retval -EMSGSIZE  the header block or the message is longer than max
 * @retval -EBADMSG   a malformed or repeated, differing Content-Length */
long sipframe_next(const char *buf, size_t len, size_t max, size_t *ret_skip);
