/* HTTP Digest authentication for SIP user agents (RFC 3261 §22.4,
 * RFC 2617, RFC 7616): parse a WWW-Authenticate / Proxy-Authenticate
 * challenge, compute the response and build the Authorization /
 * Proxy-Authorization header value.
 *
 * A pure module: no sockets, no event loop, no logging (the caller logs,
 * and never the password).  Functions return 0 or a negative errno. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on what a challenge may carry.  A longer value is refused with
 * -E2BIG: nonces seen in the wild (Kamailio, Asterisk, IMS AKA) are well
 * under 100 characters. */
#define DIGEST_REALM_MAX   256      /* bytes, without the terminating NUL */
#define DIGEST_NONCE_MAX   512
#define DIGEST_OPAQUE_MAX  512
#define DIGEST_INPUT_MAX   8192     /* a whole challenge header value */

/* Hex digest: SHA-256 is 64 characters; room for the NUL. */
#define DIGEST_HEX_MAX     65

/* A cnonce we generate: 16 random bytes in hex. */
#define DIGEST_CNONCE_LEN  32

enum digest_algorithm {
	DIGEST_ALGORITHM_MD5,
	DIGEST_ALGORITHM_MD5_SESS,
	DIGEST_ALGORITHM_SHA256,
	DIGEST_ALGORITHM_SHA256_SESS,
	_DIGEST_ALGORITHM_MAX,
};

/** The token as written on the wire ("MD5", "SHA-256-sess", ...). */
const char *digest_algorithm_to_str(enum digest_algorithm a);
/** Case-insensitive; -ENOTSUP for an algorithm we do not implement. */
int digest_algorithm_from_str(const char *s, size_t len);

/** One parsed Digest challenge; all strings are unquoted and
 * NUL-terminated. */
struct digest_challenge {
	enum digest_algorithm algorithm;  /* MD5 when the challenge names none */
	bool qop_auth;                    /* qop offered, and it includes "auth" */
	bool stale;                       /* stale=TRUE (RFC 7616 §3.3) */
	bool has_opaque;                  /* opaque present, maybe empty */
	char realm[DIGEST_REALM_MAX + 1];
	char nonce[DIGEST_NONCE_MAX + 1];
	char opaque[DIGEST_OPAQUE_MAX + 1];
};

/** Parse the value of a WWW-Authenticate or Proxy-Authenticate header
 * (without the header name), e.g. `Digest realm="x", nonce="y", qop="auth"`.
 * `value` need not be NUL-terminated; `len` bytes are read, no more.
 *
 * @retval 0        parsed into *ret (fully overwritten)
 * @retval -EINVAL  malformed, or realm or nonce missing, or a directive
 *                  repeated
 * @retval -E2BIG   the value, realm, nonce or opaque is longer than allowed
 * @retval -ENOTSUP not a Digest challenge, an unknown algorithm, qop offered
 *                  without "auth" (we do not do "auth-int"), or a -sess
 *                  algorithm without qop (RFC 2617's cnonce rules make it
 *                  ambiguous)
 * *ret is undefined on error. */
int digest_challenge_parse(const char *value, size_t len,
			   struct digest_challenge *ret);

/** HA1 = H(username ":" realm ":" password) for each hash we implement
 * (RFC 7616 §3.4.2): what a client needs to answer a challenge of one
 * realm, so that the password itself need not be kept.  Still a secret:
 * it answers that realm's challenges as the password does. */
struct digest_ha1 {
	char md5[DIGEST_HEX_MAX];
	char sha256[DIGEST_HEX_MAX];
};

/** Compute @ret for @username in @realm.
 * @retval -EINVAL a missing field; -ENOTSUP, -EIO as for hashing */
int digest_ha1_compute(const char *username, const char *realm, const char *password,
		       struct digest_ha1 *ret);

/** What one request contributes to the response. */
struct digest_input {
	const char *method;     /* "REGISTER"; a SIP token */
	const char *uri;        /* the Request-URI exactly as sent */
	const char *username;
	const char *password;   /* any bytes; never copied into output */
	const char *cnonce;     /* NULL: 16 random bytes in hex (RAND_bytes) */
	uint32_t nc;            /* nonce count, used only with qop; >= 1 */
	const struct digest_ha1 *ha1;   /* instead of password: HA1 for the
					   challenge's realm (the caller checks
					   that the realm is the one HA1 is for) */
};

/** Compute the hex `response` directive (RFC 7616 §3.4.1; RFC 2617 §3.2.2.1
 * without qop).  in->cnonce must be set when the challenge has qop.
 * @retval -EINVAL   a missing field or nc 0 with qop
 * @retval -ENOTSUP  the hash is not available (e.g. MD5 under FIPS), or a
 *                   -sess algorithm without qop
 * @retval -ENOMEM
 * @retval -EIO      OpenSSL failed */
int digest_compute_response(const struct digest_challenge *c,
			    const struct digest_input *in,
			    char ret_response[static DIGEST_HEX_MAX]);

/** Build the Authorization / Proxy-Authorization header value (without the
 * header name) into ret_buf:
 *   Digest username="..", realm="..", nonce="..", uri="..", response="..",
 *   algorithm=.., cnonce="..", opaque="..", qop=auth, nc=00000001
 * cnonce, qop and nc only with qop; opaque only if the challenge had one.
 * @retval -EINVAL   username, uri, method or cnonce empty or containing a
 *                   quote, backslash, CR, LF or another control character
 * @retval -ENOBUFS  ret_buf too small (ret_buf is then "")
 * @retval -EIO      RAND_bytes() failed
 * and the errors of digest_compute_response(). */
int digest_build_authorization(const struct digest_challenge *c,
			       const struct digest_input *in,
			       char *ret_buf, size_t size);

/** The last challenge of one protection space (one realm at one registrar
 * or proxy) and the nonce count used with it, so that a REGISTER refresh can
 * be authorized in advance with the cached nonce (RFC 3261 §22.3; RFC 7616
 * §3.4: nc counts the requests sent with one nonce).  Keep one per header
 * kind: the caller knows whether it came from a 401 or a 407. */
struct digest_session {
	struct digest_challenge challenge;
	bool has_challenge;
	uint32_t nc;            /* last nc sent with challenge.nonce; 0: none */
};

/** Forget the challenge. */
void digest_session_reset(struct digest_session *s);

/** Parse a new challenge and keep it.  nc restarts when the nonce changes
 * and continues when the server repeats the nonce.  On error the session
 * is left as it was.  Errors are those of digest_challenge_parse(). */
int digest_session_update(struct digest_session *s, const char *value,
			  size_t len);

/** Authorize one request with the kept challenge: increments nc (with qop)
 * and builds the header value as digest_build_authorization() does;
 * in->nc is ignored.  The nc is consumed only on success.
 * @retval -ENOENT    no challenge kept yet
 * @retval -EOVERFLOW the nonce count is exhausted: wait for a new nonce
 * and the errors of digest_build_authorization(). */
int digest_session_authorize(struct digest_session *s,
			     const struct digest_input *in,
			     char *ret_buf, size_t size);
