/* HTTP Digest authentication for SIP user agents (RFC 3261 §22.4,
 * RFC 2617, RFC 7616).
 *
 * The challenge parser is our own small tokenizer for the auth-param
 * grammar (RFC 7235 §2.1, RFC 3261 §25.1) rather than libosip2's
 * osip_www_authenticate_parse(): that one keeps the quotes in the values,
 * does not undo quoted-pairs, skips directives it does not know with a
 * "find the next comma" heuristic, needs exactly one SP after the scheme,
 * and allocates per field.  Ours reads at most `len` bytes of a buffer that
 * need not be NUL-terminated, copies into fixed-size fields, refuses
 * anything outside the grammar and never allocates, which is what the
 * fuzzer will want to hold it to.
 *
 * Hashes go through OpenSSL's EVP interface.  The parts of each hash are fed
 * to EVP_DigestUpdate() one by one instead of being joined into a buffer,
 * so the password is never copied by us; HA1 (password-equivalent for the
 * realm) is wiped with OPENSSL_cleanse() as soon as it has been used. */
#include "sip/digest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

static const char *const algorithm_table[_DIGEST_ALGORITHM_MAX] = {
	[DIGEST_ALGORITHM_MD5]          = "MD5",
	[DIGEST_ALGORITHM_MD5_SESS]     = "MD5-sess",
	[DIGEST_ALGORITHM_SHA256]       = "SHA-256",
	[DIGEST_ALGORITHM_SHA256_SESS]  = "SHA-256-sess",
};

const char *digest_algorithm_to_str(enum digest_algorithm a)
{
	if ((unsigned)a >= _DIGEST_ALGORITHM_MAX)
		return NULL;
	return algorithm_table[a];
}

int digest_algorithm_from_str(const char *s, size_t len)
{
	if (!s)
		return -EINVAL;
	for (int a = 0; a < _DIGEST_ALGORITHM_MAX; a++)
		if (strlen(algorithm_table[a]) == len &&
		    strncasecmp(algorithm_table[a], s, len) == 0)
			return a;
	return -ENOTSUP;
}

static bool algorithm_is_sess(enum digest_algorithm a)
{
	switch (a) {
	case DIGEST_ALGORITHM_MD5_SESS:
	case DIGEST_ALGORITHM_SHA256_SESS:
		return true;
	case DIGEST_ALGORITHM_MD5:
	case DIGEST_ALGORITHM_SHA256:
	case _DIGEST_ALGORITHM_MAX:
		break;
	}
	return false;
}

/* OpenSSL's fetch names. */
static const char *algorithm_evp_name(enum digest_algorithm a)
{
	switch (a) {
	case DIGEST_ALGORITHM_MD5:
	case DIGEST_ALGORITHM_MD5_SESS:
		return "MD5";
	case DIGEST_ALGORITHM_SHA256:
	case DIGEST_ALGORITHM_SHA256_SESS:
		return "SHA2-256";
	case _DIGEST_ALGORITHM_MAX:
		break;
	}
	return NULL;
}

/* ---- challenge parsing ------------------------------------------------ */

/* RFC 7230 §3.2.6 tchar, a superset of RFC 3261's token characters. */
static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

struct cursor {
	const char *p;
	const char *end;
};

/* LWS = [*WSP CRLF] 1*WSP (RFC 3261 §25.1): folded lines are whitespace. */
static void skip_lws(struct cursor *cur)
{
	while (cur->p < cur->end) {
		if (*cur->p == ' ' || *cur->p == '\t') {
			cur->p++;
		} else if (cur->end - cur->p >= 3 && cur->p[0] == '\r' &&
			   cur->p[1] == '\n' &&
			   (cur->p[2] == ' ' || cur->p[2] == '\t')) {
			cur->p += 3;
		} else {
			break;
		}
	}
}

/* A view of a value inside the input: a token, or the inside of a
 * quoted-string with its quoted-pairs still escaped. */
struct slice {
	const char *p;
	size_t len;
	bool quoted;
};

static size_t scan_token(struct cursor *cur)
{
	const char *start = cur->p;

	while (cur->p < cur->end && is_tchar((unsigned char)*cur->p))
		cur->p++;
	return (size_t)(cur->p - start);
}

/* quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE.  We refuse CR
 * and LF inside (folding within a nonce is legal but unheard of, and the
 * values are echoed into a header we build) and every other control
 * character but HTAB. */
static int scan_quoted(struct cursor *cur, struct slice *ret)
{
	cur->p++;                               /* opening DQUOTE */
	ret->p = cur->p;
	ret->quoted = true;
	while (cur->p < cur->end) {
		unsigned char c = (unsigned char)*cur->p;

		if (c == '"') {
			ret->len = (size_t)(cur->p - ret->p);
			cur->p++;
			return 0;
		}
		if (c == '\\') {
			if (cur->end - cur->p < 2)
				return -EINVAL;
			cur->p++;
			c = (unsigned char)*cur->p;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return -EINVAL;
		cur->p++;
	}
	return -EINVAL;                         /* unterminated */
}

/* Copy a value, undoing quoted-pairs.  -E2BIG when it does not fit in max
 * bytes. */
static int slice_copy(const struct slice *s, char *dst, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < s->len; i++) {
		char c = s->p[i];

		if (s->quoted && c == '\\')
			c = s->p[++i];          /* scan_quoted() checked it exists */
		if (n >= max)
			return -E2BIG;
		dst[n++] = c;
	}
	dst[n] = '\0';
	return 0;
}

/* qop-options = "qop" EQUAL LDQUOT qop-value *("," qop-value) RDQUOT.
 * Returns 1 if "auth" is offered, 0 if not, -EINVAL if malformed. */
static int qop_has_auth(const struct slice *s)
{
	char buf[256];
	bool any = false, auth = false;
	struct cursor cur;
	int r;

	r = slice_copy(s, buf, sizeof(buf) - 1);
	if (r < 0)
		return r;
	cur.p = buf;
	cur.end = buf + strlen(buf);
	for (;;) {
		const char *tok;
		size_t n;

		skip_lws(&cur);
		tok = cur.p;
		n = scan_token(&cur);
		if (n > 0) {
			any = true;
			if (n == 4 && strncasecmp(tok, "auth", 4) == 0)
				auth = true;
		}
		skip_lws(&cur);
		if (cur.p == cur.end)
			break;
		if (*cur.p != ',')
			return -EINVAL;
		cur.p++;
	}
	if (!any)
		return -EINVAL;
	return auth ? 1 : 0;
}

enum {
	SEEN_REALM     = 1 << 0,
	SEEN_NONCE     = 1 << 1,
	SEEN_OPAQUE    = 1 << 2,
	SEEN_ALGORITHM = 1 << 3,
	SEEN_QOP       = 1 << 4,
	SEEN_STALE     = 1 << 5,
};

static bool name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* RFC 7616 §3.3: "Any unrecognized directive MUST be ignored"; RFC 7235
 * §2.1: a parameter name occurs only once per challenge, so a repeated
 * directive we use is an error rather than a guess at which one counts. */
static int handle_directive(struct digest_challenge *c, unsigned *seen,
			    const char *name, size_t nlen,
			    const struct slice *v)
{
	unsigned bit;
	int r;

	if (name_is(name, nlen, "realm"))
		bit = SEEN_REALM;
	else if (name_is(name, nlen, "nonce"))
		bit = SEEN_NONCE;
	else if (name_is(name, nlen, "opaque"))
		bit = SEEN_OPAQUE;
	else if (name_is(name, nlen, "algorithm"))
		bit = SEEN_ALGORITHM;
	else if (name_is(name, nlen, "qop"))
		bit = SEEN_QOP;
	else if (name_is(name, nlen, "stale"))
		bit = SEEN_STALE;
	else
		return 0;       /* domain, charset, userhash, unknown: ignored */

	if (*seen & bit)
		return -EINVAL;
	*seen |= bit;

	switch (bit) {
	case SEEN_REALM:
		return slice_copy(v, c->realm, DIGEST_REALM_MAX);
	case SEEN_NONCE:
		return slice_copy(v, c->nonce, DIGEST_NONCE_MAX);
	case SEEN_OPAQUE:
		c->has_opaque = true;
		return slice_copy(v, c->opaque, DIGEST_OPAQUE_MAX);
	case SEEN_ALGORITHM: {
		char buf[32];

		if (slice_copy(v, buf, sizeof(buf) - 1) < 0)
			return -ENOTSUP;        /* longer than any we know */
		r = digest_algorithm_from_str(buf, strlen(buf));
		if (r < 0)
			return r;
		c->algorithm = (enum digest_algorithm)r;
		return 0;
	}
	case SEEN_QOP:
		r = qop_has_auth(v);
		if (r < 0)
			return r;
		if (r == 0)
			return -ENOTSUP;        /* auth-int only */
		c->qop_auth = true;
		return 0;
	case SEEN_STALE: {
		/* RFC 7616 §3.3: anything but TRUE (case-insensitive) is
		 * false. */
		char buf[8];

		c->stale = slice_copy(v, buf, sizeof(buf) - 1) == 0 &&
			   strcasecmp(buf, "true") == 0;
		return 0;
	}
	default:
		break;
	}
	return 0;
}

int digest_challenge_parse(const char *value, size_t len,
			   struct digest_challenge *ret)
{
	struct digest_challenge c;
	struct cursor cur;
	unsigned seen = 0;
	const char *scheme;
	size_t n;
	int r;

	if (!value || !ret)
		return -EINVAL;
	if (len > DIGEST_INPUT_MAX)
		return -E2BIG;

	memset(&c, 0, sizeof(c));
	c.algorithm = DIGEST_ALGORITHM_MD5;     /* RFC 7616 §3.3: absent = MD5 */
	cur.p = value;
	cur.end = value + len;

	/* challenge = "Digest" LWS digest-cln *(COMMA digest-cln) */
	skip_lws(&cur);
	scheme = cur.p;
	n = scan_token(&cur);
	if (n == 0)
		return -EINVAL;
	if (!name_is(scheme, n, "Digest"))
		return -ENOTSUP;
	if (cur.p < cur.end && *cur.p != ' ' && *cur.p != '\t' &&
	    *cur.p != '\r')
		return -EINVAL;

	for (;;) {
		const char *name;
		size_t nlen;
		struct slice v;

		skip_lws(&cur);
		if (cur.p == cur.end)
			break;
		if (*cur.p == ',') {            /* empty list elements are legal */
			cur.p++;
			continue;
		}
		name = cur.p;
		nlen = scan_token(&cur);
		if (nlen == 0)
			return -EINVAL;
		skip_lws(&cur);
		/* A bare token here is a token68 or a second challenge, neither
		 * of which a SIP Digest challenge may carry. */
		if (cur.p == cur.end || *cur.p != '=')
			return -EINVAL;
		cur.p++;
		skip_lws(&cur);
		if (cur.p < cur.end && *cur.p == '"') {
			r = scan_quoted(&cur, &v);
			if (r < 0)
				return r;
		} else {
			v.p = cur.p;
			v.quoted = false;
			v.len = scan_token(&cur);
			if (v.len == 0)
				return -EINVAL;
		}
		skip_lws(&cur);
		if (cur.p < cur.end && *cur.p != ',')
			return -EINVAL;

		r = handle_directive(&c, &seen, name, nlen, &v);
		if (r < 0)
			return r;
	}

	if (!(seen & SEEN_REALM) || !(seen & SEEN_NONCE) || c.nonce[0] == '\0')
		return -EINVAL;
	/* RFC 2617 §3.2.2.2 puts the cnonce into A1 for -sess but forbids
	 * sending one without qop; RFC 7616 always has qop.  Rather than guess
	 * what the server computes, decline. */
	if (algorithm_is_sess(c.algorithm) && !c.qop_auth)
		return -ENOTSUP;

	*ret = c;
	return 0;
}

/* ---- response --------------------------------------------------------- */

/* H(parts[0] ":" parts[1] ":" ...) in lowercase hex (RFC 7616 §3.4.1). */
static int hash_hex(const EVP_MD *md, const char *const *parts, size_t n,
		    char ret_hex[static DIGEST_HEX_MAX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char bin[EVP_MAX_MD_SIZE];
	unsigned int binlen = 0;
	EVP_MD_CTX *ctx;
	int r = -EIO;

	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex2(ctx, md, NULL) != 1)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && EVP_DigestUpdate(ctx, ":", 1) != 1)
			goto out;
		if (EVP_DigestUpdate(ctx, parts[i], strlen(parts[i])) != 1)
			goto out;
	}
	if (EVP_DigestFinal_ex(ctx, bin, &binlen) != 1)
		goto out;
	if ((size_t)binlen * 2 >= DIGEST_HEX_MAX)
		goto out;
	for (unsigned int i = 0; i < binlen; i++) {
		ret_hex[2 * i] = hex[bin[i] >> 4];
		ret_hex[2 * i + 1] = hex[bin[i] & 0x0f];
	}
	ret_hex[2 * binlen] = '\0';
	r = 0;
out:
	OPENSSL_cleanse(bin, sizeof(bin));
	/* The provider's freectx clears the context, which held password
	 * bytes while HA1 was computed. */
	EVP_MD_CTX_free(ctx);
	return r;
}

int digest_ha1_compute(const char *username, const char *realm, const char *password,
		       struct digest_ha1 *ret)
{
	const char *const parts[3] = { username, realm, password };
	EVP_MD *md;
	int r;

	if (!username || !realm || !password || !ret)
		return -EINVAL;
	md = EVP_MD_fetch(NULL, "MD5", NULL);
	if (!md)
		return -ENOTSUP;
	r = hash_hex(md, parts, 3, ret->md5);
	EVP_MD_free(md);
	if (r < 0)
		return r;
	md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!md)
		return -ENOTSUP;
	r = hash_hex(md, parts, 3, ret->sha256);
	EVP_MD_free(md);
	if (r < 0)
		OPENSSL_cleanse(ret, sizeof(*ret));
	return r;
}

/* The stored HA1 that answers @a, or NULL. */
static const char *ha1_for(const struct digest_ha1 *h, enum digest_algorithm a)
{
	switch (a) {
	case DIGEST_ALGORITHM_MD5:
	case DIGEST_ALGORITHM_MD5_SESS:
		return h->md5[0] ? h->md5 : NULL;
	case DIGEST_ALGORITHM_SHA256:
	case DIGEST_ALGORITHM_SHA256_SESS:
		return h->sha256[0] ? h->sha256 : NULL;
	case _DIGEST_ALGORITHM_MAX:
		break;
	}
	return NULL;
}

int digest_compute_response(const struct digest_challenge *c,
			    const struct digest_input *in,
			    char ret_response[static DIGEST_HEX_MAX])
{
	char ha1[DIGEST_HEX_MAX], ha2[DIGEST_HEX_MAX], nc[9];
	const char *evp_name;
	EVP_MD *md;
	int r;

	if (!c || !in || !in->method || !in->uri || !in->username ||
	    (!in->password && !in->ha1))
		return -EINVAL;
	if (!in->password && !ha1_for(in->ha1, c->algorithm))
		return -EINVAL;
	if (c->qop_auth && (!in->cnonce || in->nc == 0))
		return -EINVAL;
	if (algorithm_is_sess(c->algorithm) && !c->qop_auth)
		return -ENOTSUP;
	evp_name = algorithm_evp_name(c->algorithm);
	if (!evp_name)
		return -EINVAL;
	md = EVP_MD_fetch(NULL, evp_name, NULL);
	if (!md)
		return -ENOTSUP;

	/* RFC 7616 §3.4.2: A1 = username ":" realm ":" passwd, and for -sess
	 * H(that) ":" nonce ":" cnonce. */
	if (in->password) {
		r = hash_hex(md, (const char *const[]){ in->username, c->realm,
							 in->password }, 3, ha1);
		if (r < 0)
			goto out;
	} else {
		snprintf(ha1, sizeof(ha1), "%s", ha1_for(in->ha1, c->algorithm));
	}
	if (algorithm_is_sess(c->algorithm)) {
		r = hash_hex(md, (const char *const[]){ ha1, c->nonce,
							 in->cnonce }, 3, ha1);
		if (r < 0)
			goto out;
	}
	/* RFC 7616 §3.4.3: A2 = Method ":" request-uri for qop=auth. */
	r = hash_hex(md, (const char *const[]){ in->method, in->uri }, 2, ha2);
	if (r < 0)
		goto out;
	if (c->qop_auth) {
		snprintf(nc, sizeof(nc), "%08x", (unsigned)in->nc);
		r = hash_hex(md, (const char *const[]){ ha1, c->nonce, nc,
							 in->cnonce, "auth",
							 ha2 }, 6, ret_response);
	} else {
		/* RFC 2617 §3.2.2.1, compatibility with RFC 2069. */
		r = hash_hex(md, (const char *const[]){ ha1, c->nonce, ha2 },
			     3, ret_response);
	}
out:
	OPENSSL_cleanse(ha1, sizeof(ha1));
	EVP_MD_free(md);
	return r;
}

/* ---- header ----------------------------------------------------------- */

/* Values we put between quotes on behalf of the user: no quote, no
 * backslash, no control character, so nothing can end the quoted-string
 * or the header line early. */
static bool field_is_safe(const char *s)
{
	if (!s || *s == '\0')
		return false;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\' || ch < 0x20 || ch == 0x7f)
			return false;
	}
	return true;
}

static bool is_token(const char *s)
{
	if (!s || *s == '\0')
		return false;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return false;
	return true;
}

struct out {
	char *buf;
	size_t size;
	size_t len;
	bool overflow;
};

static void out_raw(struct out *o, const char *s, size_t n)
{
	if (o->overflow || o->size - o->len <= n) {
		o->overflow = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void out_str(struct out *o, const char *s)
{
	out_raw(o, s, strlen(s));
}

/* name="value", escaping '"' and '\' (RFC 3261 §25.1 quoted-pair): the
 * server's realm, nonce and opaque go back exactly as they came. */
static void out_quoted(struct out *o, const char *name, const char *value)
{
	out_str(o, ", ");
	out_str(o, name);
	out_str(o, "=\"");
	for (const char *p = value; *p; p++) {
		if (*p == '"' || *p == '\\')
			out_raw(o, "\\", 1);
		out_raw(o, p, 1);
	}
	out_str(o, "\"");
}

int digest_build_authorization(const struct digest_challenge *c,
			       const struct digest_input *in,
			       char *ret_buf, size_t size)
{
	char response[DIGEST_HEX_MAX], cnonce[DIGEST_CNONCE_LEN + 1], nc[9];
	struct digest_input input;
	struct out o = { .buf = ret_buf, .size = size };
	int r;

	if (!c || !in || !ret_buf || size == 0)
		return -EINVAL;
	ret_buf[0] = '\0';
	if (!field_is_safe(in->username) || !field_is_safe(in->uri) ||
	    !is_token(in->method) || (!in->password && !in->ha1))
		return -EINVAL;
	if (in->cnonce && !field_is_safe(in->cnonce))
		return -EINVAL;

	input = *in;
	if (c->qop_auth && !input.cnonce) {
		unsigned char rnd[DIGEST_CNONCE_LEN / 2];
		static const char hex[] = "0123456789abcdef";

		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return -EIO;
		for (size_t i = 0; i < sizeof(rnd); i++) {
			cnonce[2 * i] = hex[rnd[i] >> 4];
			cnonce[2 * i + 1] = hex[rnd[i] & 0x0f];
		}
		cnonce[DIGEST_CNONCE_LEN] = '\0';
		input.cnonce = cnonce;
	}

	r = digest_compute_response(c, &input, response);
	if (r < 0)
		return r;

	/* RFC 3261 §22.4 / RFC 7616 §3.4: directive order is free; this one
	 * follows the RFC examples. */
	out_str(&o, "Digest username=\"");
	out_str(&o, input.username);
	out_str(&o, "\"");
	out_quoted(&o, "realm", c->realm);
	out_quoted(&o, "nonce", c->nonce);
	out_quoted(&o, "uri", input.uri);
	out_quoted(&o, "response", response);
	out_str(&o, ", algorithm=");
	out_str(&o, digest_algorithm_to_str(c->algorithm));
	if (c->qop_auth)
		out_quoted(&o, "cnonce", input.cnonce);
	if (c->has_opaque)
		out_quoted(&o, "opaque", c->opaque);
	if (c->qop_auth) {
		snprintf(nc, sizeof(nc), "%08x", (unsigned)input.nc);
		out_str(&o, ", qop=auth, nc=");
		out_str(&o, nc);
	}
	if (o.overflow) {
		ret_buf[0] = '\0';
		return -ENOBUFS;
	}
	return 0;
}

/* ---- session ---------------------------------------------------------- */

void digest_session_reset(struct digest_session *s)
{
	if (!s)
		return;
	memset(s, 0, sizeof(*s));
}

int digest_session_update(struct digest_session *s, const char *value,
			  size_t len)
{
	struct digest_challenge c;
	int r;

	if (!s)
		return -EINVAL;
	r = digest_challenge_parse(value, len, &c);
	if (r < 0)
		return r;
	if (!s->has_challenge || strcmp(s->challenge.nonce, c.nonce) != 0 ||
	    strcmp(s->challenge.realm, c.realm) != 0)
		s->nc = 0;
	s->challenge = c;
	s->has_challenge = true;
	return 0;
}

int digest_session_authorize(struct digest_session *s,
			     const struct digest_input *in,
			     char *ret_buf, size_t size)
{
	struct digest_input input;
	int r;

	if (!s || !in)
		return -EINVAL;
	if (!s->has_challenge)
		return -ENOENT;
	input = *in;
	if (s->challenge.qop_auth) {
		if (s->nc == UINT32_MAX)
			return -EOVERFLOW;
		input.nc = s->nc + 1;
	}
	r = digest_build_authorization(&s->challenge, &input, ret_buf, size);
	if (r < 0)
		return r;
	if (s->challenge.qop_auth)
		s->nc++;
	return 0;
}
