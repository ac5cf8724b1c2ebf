/* STUN Binding, only as much of RFC 5389 as a UDP flow's keepalive needs
 * (RFC 5626 §4.4.2).
 *
 * Over a UDP flow the registrar (its edge proxy) shares the SIP port with
 * STUN: alrd sends a Binding Request with no attributes (no
 * MESSAGE-INTEGRITY, no FINGERPRINT: §4.4.2's keepalive is
 * unauthenticated, RFC 5389 §10) and reads the success response for the
 * address the far end sees (XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS).  No
 * answer within the pong timeout, or a mapped address that changed (a NAT
 * on the way rebound the flow), means the flow failed: the binding
 * registers again (docs/sip.md, "Liveness").
 *
 * Pure: bytes in, bytes out; no socket, no clock. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define STUN_HEADER_LEN         20
#define STUN_TXID_LEN           12
#define STUN_MAGIC_COOKIE       0x2112A442u

enum stun_class {
	STUN_RESPONSE_SUCCESS,          /* a Binding success response */
	STUN_RESPONSE_ERROR,            /* a Binding error response */
	STUN_OTHER,                     /* STUN, but nothing a keepalive reads */
};

/* Whether @buf looks like a STUN message rather than SIP (RFC 5389 §6,
 * RFC 7983 §7: the first two bits zero, the magic cookie, a length that
 * is a multiple of 4 and matches the datagram).  A SIP message starts
 * with a letter: the two never mix. */
bool stun_is_message(const void *buf, size_t len);

/* A Binding Request with transaction id @txid into @out (at least
 * STUN_HEADER_LEN bytes).  Returns its length. */
size_t stun_binding_request(uint8_t out[STUN_HEADER_LEN], const uint8_t txid[STUN_TXID_LEN]);

/* What a STUN message @buf says: its class, its transaction id into
 * @ret_txid, and for a success response the mapped address (with port)
 * into *ret_mapped (AF_UNSPEC when it carries none we can read), for an
 * error response its code into *ret_code.  -EBADMSG when @buf is not a
 * well-formed STUN message (attributes overrun it, a bad address
 * attribute); 0 otherwise. */
int stun_parse(const void *buf, size_t len, enum stun_class *ret_class,
	       uint8_t ret_txid[STUN_TXID_LEN], struct sockaddr_storage *ret_mapped,
	       int *ret_code);
