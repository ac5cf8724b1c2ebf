/* The edge's local password: nonces and the check (localauth.h). */
#include "edge/localauth.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *const verdict_str[_LOCALAUTH_VERDICT_MAX] = {
	[LOCALAUTH_NONE] = "none",
	[LOCALAUTH_STALE] = "stale",
	[LOCALAUTH_WRONG] = "wrong",
	[LOCALAUTH_BAD] = "bad",
	[LOCALAUTH_OK] = "ok",
};

const char *localauth_verdict_to_str(enum localauth_verdict v)
{
	return v < _LOCALAUTH_VERDICT_MAX ? verdict_str[v] : "?";
}

void localauth_init(struct localauth *la)
{
	memset(la, 0, sizeof(*la));
}

static bool nonce_fresh(const struct localauth_nonce *n, int64_t now)
{
	return n->value[0] && now >= n->issued && now - n->issued < LOCALAUTH_NONCE_LIFETIME;
}

int localauth_new_nonce(struct localauth *la, int64_t now,
			char ret[static LOCALAUTH_NONCE_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	struct localauth_nonce *slot = &la->v[0];
	unsigned char rnd[LOCALAUTH_NONCE_LEN / 2];

	if (getentropy(rnd, sizeof(rnd)) != 0)
		return -EIO;
	/* A free or expired slot, else the oldest nonce: a flood of
	 * challenges costs the others a stale=true retry, never memory. */
	for (size_t i = 0; i < LOCALAUTH_MAX_NONCES; i++) {
		struct localauth_nonce *n = &la->v[i];

		if (!nonce_fresh(n, now)) {
			slot = n;
			break;
		}
		if (n->issued < slot->issued)
			slot = n;
	}
	for (size_t i = 0; i < sizeof(rnd); i++) {
		slot->value[2 * i] = hex[rnd[i] >> 4];
		slot->value[2 * i + 1] = hex[rnd[i] & 15];
	}
	slot->value[LOCALAUTH_NONCE_LEN] = '\0';
	slot->issued = now;
	slot->nc = 0;
	memcpy(ret, slot->value, LOCALAUTH_NONCE_LEN + 1);
	return 0;
}

int localauth_challenge(const char *nonce, enum digest_algorithm a, bool stale,
			char *buf, size_t size)
{
	int n;

	if (a != DIGEST_ALGORITHM_MD5 && a != DIGEST_ALGORITHM_SHA256)
		return -EINVAL;
	n = snprintf(buf, size, "Digest realm=\"%s\", nonce=\"%s\", qop=\"auth\", algorithm=%s%s",
		     LOCALAUTH_REALM, nonce, digest_algorithm_to_str(a), stale ? ", stale=true" : "");
	if (n < 0 || (size_t)n >= size) {
		if (size)
			buf[0] = '\0';
		return -ENOBUFS;
	}
	return 0;
}

/* A directive's value without its quotes (osip keeps quoted-strings as
 * written); NULL stays "" and is told apart by the caller.  -E2BIG when
 * longer than @size allows. */
static int unquote(const char *s, char *out, size_t size)
{
	size_t len = s ? strlen(s) : 0;

	if (len >= size)
		return -E2BIG;
	memcpy(out, s ? s : "", len + 1);
	if (len >= 2 && out[0] == '"' && out[len - 1] == '"')
		osip_dequote(out);
	return 0;
}

static const osip_authorization_t *find_ours(const osip_message_t *req)
{
	osip_authorization_t *a = NULL;
	char realm[DIGEST_REALM_MAX + 1];

	for (int pos = 0; osip_message_get_authorization(req, pos, &a) >= 0 && a; pos++)
		if (a->auth_type && strcasecmp(a->auth_type, "Digest") == 0 &&
		    unquote(a->realm, realm, sizeof(realm)) == 0 &&
		    strcmp(realm, LOCALAUTH_REALM) == 0)
			return a;
	return NULL;
}

static struct localauth_nonce *find_nonce(struct localauth *la, const char *value)
{
	for (size_t i = 0; i < LOCALAUTH_MAX_NONCES; i++)
		if (la->v[i].value[0] && strcmp(la->v[i].value, value) == 0)
			return &la->v[i];
	return NULL;
}

/* An 8-digit hex nonce count (RFC 7616 §3.4); 0 when it is not one. */
static uint32_t parse_nc(const char *s)
{
	char *end;
	unsigned long v;

	if (strlen(s) != 8 || strspn(s, "0123456789abcdefABCDEF") != 8)
		return 0;
	v = strtoul(s, &end, 16);
	return *end ? 0 : (uint32_t)v;
}

/*
 * RFC 7616 §3.4: the expected response, computed with the client's own
 * nonce, tells a wrong password (403) from an old nonce (401 stale=true)
 * whatever became of the nonce.
 * XXX the uri directive is not compared with the Request-URI (§3.4.6):
 * softphones and libosip2 write the same URI differently; the nonce count
 * keeps one Authorization from being taken twice.
 */
enum localauth_verdict localauth_check(struct localauth *la, const osip_message_t *req,
				       const char *user, const char *password, int64_t now)
{
	const osip_authorization_t *a = find_ours(req);
	struct digest_challenge c = { .algorithm = DIGEST_ALGORITHM_MD5 };
	char username[256], uri[1024], response[DIGEST_HEX_MAX + 2], cnonce[256];
	char qop[32], nc_text[16], algorithm[32], expected[DIGEST_HEX_MAX];
	struct localauth_nonce *n;
	struct digest_input in;
	uint32_t nc = 0;
	int r;

	if (!a)
		return LOCALAUTH_NONE;
	snprintf(c.realm, sizeof(c.realm), "%s", LOCALAUTH_REALM);
	if (unquote(a->username, username, sizeof(username)) < 0 ||
	    unquote(a->nonce, c.nonce, sizeof(c.nonce)) < 0 ||
	    unquote(a->uri, uri, sizeof(uri)) < 0 ||
	    unquote(a->response, response, sizeof(response)) < 0 ||
	    unquote(a->cnonce, cnonce, sizeof(cnonce)) < 0 ||
	    unquote(a->message_qop, qop, sizeof(qop)) < 0 ||
	    unquote(a->nonce_count, nc_text, sizeof(nc_text)) < 0 ||
	    unquote(a->algorithm, algorithm, sizeof(algorithm)) < 0)
		return LOCALAUTH_BAD;
	if (!*username || !*c.nonce || !*uri || !*response || !req->sip_method)
		return LOCALAUTH_BAD;
	if (*algorithm) {
		r = digest_algorithm_from_str(algorithm, strlen(algorithm));
		if (r != DIGEST_ALGORITHM_MD5 && r != DIGEST_ALGORITHM_SHA256)
			return LOCALAUTH_BAD;
		c.algorithm = (enum digest_algorithm)r;
	}
	/* qop="auth" is offered; RFC 2617's answer without qop is taken too */
	if (*qop) {
		if (strcasecmp(qop, "auth") != 0 || !*cnonce)
			return LOCALAUTH_BAD;
		nc = parse_nc(nc_text);
		if (!nc)
			return LOCALAUTH_BAD;
		c.qop_auth = true;
	}
	if (!user || strcmp(username, user) != 0)
		return LOCALAUTH_WRONG;

	in = (struct digest_input){
		.method = req->sip_method, .uri = uri, .username = username,
		.password = password, .cnonce = c.qop_auth ? cnonce : NULL, .nc = nc,
	};
	if (digest_compute_response(&c, &in, expected) < 0)
		return LOCALAUTH_BAD;
	r = strlen(response) == strlen(expected) &&
	    CRYPTO_memcmp(response, expected, strlen(expected)) == 0;
	explicit_bzero(expected, sizeof(expected));
	if (!r)
		return LOCALAUTH_WRONG;

	n = find_nonce(la, c.nonce);
	if (!n || !nonce_fresh(n, now))
		return LOCALAUTH_STALE;
	/* without qop there is no count: the nonce serves once */
	if (nc ? nc <= n->nc : n->nc != 0)
		return LOCALAUTH_STALE;
	n->nc = nc ? nc : UINT32_MAX;
	return LOCALAUTH_OK;
}
