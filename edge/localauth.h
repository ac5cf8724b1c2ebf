/* The edge's local password (docs/edge.md, "Who may register"): HTTP
 * Digest (RFC 7616, as RFC 3261 §22.4 uses it) for local applications the
 * socket table cannot name.  Here alrd is the server: it issues nonces,
 * keeps them a bounded time and number, and checks the Authorization a
 * request carries against a profile's local password, in realm "alrd"
 * for the AOR's user name.
 *
 * A pure module: no sockets, no event loop, no logging (the caller logs,
 * never the password); the time is passed in. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sip/digest.h"
#include "sip/sip_osip.h"

#define LOCALAUTH_REALM          "alrd"
#define LOCALAUTH_MAX_NONCES     64      /* the oldest goes when a new one needs room */
#define LOCALAUTH_NONCE_LIFETIME 300     /* seconds: older is stale (RFC 7616 §3.3) */
#define LOCALAUTH_NONCE_LEN      32      /* 16 random bytes in hex */
#define LOCALAUTH_CHALLENGE_MAX  160     /* one WWW-Authenticate value */

enum localauth_verdict {
	LOCALAUTH_NONE,         /* no Digest Authorization for realm "alrd" */
	LOCALAUTH_STALE,        /* the right response, but with a nonce alrd no
				   longer keeps (expired, pushed out, from before
				   a restart) or an nc already used: challenge
				   again with stale=true */
	LOCALAUTH_WRONG,        /* another user name, or the wrong response */
	LOCALAUTH_BAD,          /* a directive missing or too long, an
				   algorithm or qop alrd did not offer */
	LOCALAUTH_OK,
	_LOCALAUTH_VERDICT_MAX,
};
const char *localauth_verdict_to_str(enum localauth_verdict v);

struct localauth_nonce {
	char value[LOCALAUTH_NONCE_LEN + 1];    /* "": a free slot */
	int64_t issued;
	uint32_t nc;                    /* the highest nc accepted with it */
};

struct localauth {
	struct localauth_nonce v[LOCALAUTH_MAX_NONCES];
};

void localauth_init(struct localauth *la);

/* A new nonce issued at @now, in the slot of a free, expired or else the
 * oldest nonce; @ret gets the NUL-terminated value.  0, -EIO (no entropy). */
int localauth_new_nonce(struct localauth *la, int64_t now,
			char ret[static LOCALAUTH_NONCE_LEN + 1]);

/* The WWW-Authenticate value (without the header name) for @nonce:
 * Digest realm="alrd", nonce="..", qop="auth", algorithm=A[, stale=true].
 * 0, -EINVAL (an algorithm other than MD5 and SHA-256), -ENOBUFS. */
int localauth_challenge(const char *nonce, enum digest_algorithm a, bool stale,
			char *buf, size_t size);

/* Check the first Digest Authorization of @req for realm "alrd" against
 * @user (the AOR's user part) and @password, at @now.  An accepted nc is
 * remembered so that the same Authorization is not taken twice. */
enum localauth_verdict localauth_check(struct localauth *la, const osip_message_t *req,
				       const char *user, const char *password, int64_t now);
