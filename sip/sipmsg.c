/* Building and reading the SIP messages of a registration.
 *
 * Everything that parses SIP goes through libosip2 (STYLE: no hand-written
 * SIP parsing); what is left here is choosing values and comparing them.
 * Strings handed to osip_message_set_*() are parsed by libosip2, so each
 * value we build is checked first: a user's contact parameter or extra
 * header must not be able to add a header line or end one early. */
#include "sip/sipmsg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sip/digest.h"

/* Longest value of a header we add on a user's behalf. */
#define SIPMSG_VALUE_MAX 1024

static const char *const proto_names[_SIP_PROTO_MAX] = {
	[SIP_PROTO_UDP] = "UDP",
	[SIP_PROTO_TCP] = "TCP",
	[SIP_PROTO_TLS] = "TLS",
};

static const char *const proto_params[_SIP_PROTO_MAX] = {
	[SIP_PROTO_UDP] = "udp",
	[SIP_PROTO_TCP] = "tcp",
	[SIP_PROTO_TLS] = "tls",
};

void sipmsg_library_init(void)
{
	static bool done;

	if (!done) {
		parser_init();
		done = true;
	}
}

const char *sip_proto_to_str(enum sip_proto p)
{
	if ((unsigned)p >= _SIP_PROTO_MAX)
		return "?";
	return proto_names[p];
}

const char *sip_proto_to_param(enum sip_proto p)
{
	if ((unsigned)p >= _SIP_PROTO_MAX)
		return "?";
	return proto_params[p];
}

int sip_proto_from_str(const char *s)
{
	if (!s)
		return -EINVAL;
	for (int p = 0; p < _SIP_PROTO_MAX; p++)
		if (strcasecmp(s, proto_params[p]) == 0)
			return p;
	return -EPROTONOSUPPORT;
}

/* ---- checks ------------------------------------------------------------ */

/* RFC 3261 §25.1 token characters. */
static bool is_token_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("-.!%*_+`'~", c) != NULL;
}

bool sipmsg_token_ok(const char *s)
{
	size_t n = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++, n++)
		if (!is_token_char((unsigned char)*s) || n >= SIPMSG_HOST_MAX)
			return false;
	return true;
}

static bool value_ok(const char *s, size_t max)
{
	size_t n = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++, n++) {
		unsigned char c = (unsigned char)*s;

		/* UTF-8 is allowed in header values (RFC 3261 §25.1 TEXT-UTF8),
		 * control characters never. */
		if ((c < 0x20 && c != '\t') || c == 0x7f || n >= max)
			return false;
	}
	return true;
}

bool sipmsg_value_ok(const char *s)
{
	return value_ok(s, SIPMSG_VALUE_MAX);
}

bool sipmsg_uri_ok(const char *uri)
{
	osip_uri_t *u = NULL;
	bool ok;

	if (!value_ok(uri, SIPMSG_URI_MAX) || strpbrk(uri, " \t<>\""))
		return false;
	if (osip_uri_init(&u) != 0)
		return false;
	ok = osip_uri_parse(u, uri) == 0 && u->scheme &&
	     (strcasecmp(u->scheme, "sip") == 0 || strcasecmp(u->scheme, "sips") == 0) &&
	     u->host && *u->host;
	osip_uri_free(u);
	return ok;
}

bool sipmsg_param_ok(const char *p)
{
	const char *v;

	if (!value_ok(p, SIPMSG_VALUE_MAX))
		return false;
	for (v = p; *v && *v != '='; v++)
		if (!is_token_char((unsigned char)*v))
			return false;
	if (v == p)
		return false;
	if (!*v)
		return true;
	v++;
	if (*v == '"') {
		/* quoted-string: no bare quote inside, escapes complete */
		for (v++; *v && *v != '"'; v++)
			if (*v == '\\' && !*++v)
				return false;
		return *v == '"' && v[1] == '\0';
	}
	if (!*v)
		return false;
	/* gen-value = token / host: IPv6 references too */
	for (; *v; v++)
		if (!is_token_char((unsigned char)*v) && !strchr("[]:", *v))
			return false;
	return true;
}

bool sipmsg_user_ok(const char *user)
{
	size_t n = 0;

	if (!user || !*user)
		return false;
	for (const char *p = user; *p; p++, n++) {
		unsigned char c = (unsigned char)*p;

		if (n >= 128)
			return false;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9'))
			continue;
		if (!strchr("-_.!~*'()&+$", c))
			return false;
	}
	return true;
}

/* ---- addresses --------------------------------------------------------- */

int sipmsg_sockaddr_host(const struct sockaddr *sa, char *buf, size_t size,
			 uint16_t *ret_port)
{
	const void *addr;
	uint16_t port;

	if (!sa || !buf)
		return -EINVAL;
	switch (sa->sa_family) {
	case AF_INET:
		addr = &((const struct sockaddr_in *)sa)->sin_addr;
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
		break;
	case AF_INET6:
		addr = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
		break;
	default:
		return -EAFNOSUPPORT;
	}
	if (!inet_ntop(sa->sa_family, addr, buf, (socklen_t)size))
		return -ENOBUFS;
	if (ret_port)
		*ret_port = port;
	return 0;
}

int sipmsg_contact_uri(const char *user, const struct sockaddr *local,
		       enum sip_proto proto, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	uint16_t port;
	int r, n;

	if (!sipmsg_user_ok(user) || (unsigned)proto >= _SIP_PROTO_MAX)
		return -EINVAL;
	r = sipmsg_sockaddr_host(local, host, sizeof(host), &port);
	if (r < 0)
		return r;
	n = snprintf(buf, size, "%s:%s@%s%s%s:%u%s%s",
		     proto == SIP_PROTO_TLS ? "sips" : "sip", user,
		     local->sa_family == AF_INET6 ? "[" : "", host,
		     local->sa_family == AF_INET6 ? "]" : "", port,
		     proto == SIP_PROTO_TCP ? ";transport=" : "",
		     proto == SIP_PROTO_TCP ? sip_proto_to_param(proto) : "");
	if (n < 0 || (size_t)n >= size)
		return -ENOBUFS;
	return 0;
}

static int literal_family(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return AF_INET6;
	return AF_UNSPEC;
}

/* A port: 1 to 5 digits, 1..65535. */
static int parse_port(const char *s, uint16_t *ret)
{
	unsigned long v = 0;

	if (!s || !*s || strlen(s) > 5)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

int sipmsg_target_parse(const char *uri, struct sipmsg_target *ret)
{
	osip_uri_param_t *tp = NULL;
	osip_uri_t *u = NULL;
	int r = -EINVAL;

	if (!uri || !ret || !value_ok(uri, SIPMSG_URI_MAX))
		return -EINVAL;
	if (osip_uri_init(&u) != 0)
		return -ENOMEM;
	if (osip_uri_parse(u, uri) != 0 || !u->scheme || !u->host || !*u->host)
		goto out;
	if ((strcasecmp(u->scheme, "sip") != 0 && strcasecmp(u->scheme, "sips") != 0) ||
	    strlen(u->host) > SIPMSG_HOST_MAX)
		goto out;

	memset(ret, 0, sizeof(*ret));
	strcpy(ret->host, u->host);
	ret->sips = strcasecmp(u->scheme, "sips") == 0;
	ret->proto = ret->sips ? SIP_PROTO_TLS : SIP_PROTO_UDP;
	if (osip_uri_uparam_get_byname(u, "transport", &tp) == 0 && tp &&
	    tp->gvalue) {
		int p = sip_proto_from_str(tp->gvalue);

		/* "sips:...;transport=tcp" is TLS over TCP (RFC 3261
		 * §26.2.2, RFC 5630 §3.1.3); udp cannot carry it. */
		if (p == SIP_PROTO_TCP && ret->sips)
			p = SIP_PROTO_TLS;
		if (p < 0 || (ret->sips && p != SIP_PROTO_TLS)) {
			r = -EPROTONOSUPPORT;
			goto out;
		}
		ret->proto = (enum sip_proto)p;
		ret->proto_given = true;
	}
	/* RFC 3263 §4.2 without SRV */
	ret->port = ret->proto == SIP_PROTO_TLS ? 5061 : 5060;
	if (u->port && parse_port(u->port, &ret->port) < 0)
		goto out;
	ret->port_given = u->port != NULL;
	/* XXX maddr (RFC 3261 §19.1.1) is not honoured. */
	ret->literal_family = literal_family(ret->host);
	r = 0;
out:
	osip_uri_free(u);
	return r;
}

/* ---- building ---------------------------------------------------------- */

/* Headers the REGISTER builder owns; an extra header may not repeat them
 * (long and compact forms, RFC 3261 §7.3.3). */
static const char *const managed_headers[] = {
	"Via", "v", "From", "f", "To", "t", "Call-ID", "i", "CSeq",
	"Contact", "m", "Expires", "Max-Forwards", "Content-Length", "l",
	"Route", "Authorization", "Proxy-Authorization", "Content-Type", "c",
};

static bool header_is_managed(const char *name)
{
	for (size_t i = 0; i < sizeof(managed_headers) / sizeof(managed_headers[0]); i++)
		if (strcasecmp(name, managed_headers[i]) == 0)
			return true;
	return false;
}

/* A growing string for header values we assemble. */
struct sbuf {
	char buf[SIPMSG_VALUE_MAX * 2];
	size_t len;
	bool overflow;
};

static void sb_addf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sb_addf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->buf + b->len, sizeof(b->buf) - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(b->buf) - b->len) {
		b->overflow = true;
		b->buf[b->len] = '\0';
		return;
	}
	b->len += (size_t)n;
}

static bool instance_ok(const char *s)
{
	/* RFC 5626 §4.1: a URN, here "urn:uuid:" and the UUID; quoted with
	 * angle brackets inside, so no quote, bracket or backslash. */
	return value_ok(s, 128) && strncasecmp(s, "urn:", 4) == 0 &&
	       !strpbrk(s, "\"<>\\ ;,");
}

static int build_contact(const struct sipmsg_register *r,
			 const struct sipmsg_contact *c, struct sbuf *b)
{
	if (!sipmsg_uri_ok(c->uri))
		return -EINVAL;
	sb_addf(b, "<%s>", c->uri);
	if (c->ours) {
		/* RFC 5626 §4.1: +sip.instance="<urn:uuid:...>" */
		if (r->instance)
			sb_addf(b, ";+sip.instance=\"<%s>\"", r->instance);
		if (r->instance && r->reg_id)
			sb_addf(b, ";reg-id=%u", r->reg_id);
		for (size_t i = 0; i < r->n_contact_params; i++)
			sb_addf(b, ";%s", r->contact_params[i]);
	}
	if (c->expires >= 0)
		sb_addf(b, ";expires=%d", c->expires);
	return b->overflow ? -E2BIG : 0;
}

static int set_route(osip_message_t *m, const char *route)
{
	osip_uri_param_t *lr = NULL;
	osip_uri_t *u = NULL;
	char *s = NULL;
	int r = -EINVAL;

	if (!sipmsg_uri_ok(route))
		return -EINVAL;
	if (osip_uri_init(&u) != 0)
		return -ENOMEM;
	if (osip_uri_parse(u, route) != 0)
		goto out;
	/* RFC 3261 §8.1.2: a pre-existing route set with a loose router. */
	if (osip_uri_uparam_get_byname(u, "lr", &lr) != 0 || !lr)
		osip_uri_uparam_add(u, osip_strdup("lr"), NULL);
	if (osip_uri_to_str(u, &s) != 0 || !s) {
		r = -ENOMEM;
		goto out;
	}
	{
		struct sbuf b = { .len = 0 };

		sb_addf(&b, "<%s>", s);
		r = b.overflow ? -E2BIG :
		    osip_message_set_route(m, b.buf) == 0 ? 0 : -EINVAL;
	}
out:
	osip_free(s);
	osip_uri_free(u);
	return r;
}

int sipmsg_add_header(osip_message_t *msg, const char *name,
		      const char *value)
{
	if (!msg || !sipmsg_token_ok(name) || !sipmsg_value_ok(value))
		return -EINVAL;
	/* osip_message_set_header() keeps the value as it is: a generic
	 * header, serialized verbatim. */
	if (osip_message_set_header(msg, name, value) != 0)
		return -ENOMEM;
	return 0;
}

int sipmsg_build_register(const struct sipmsg_register *r,
			  osip_message_t **ret)
{
	osip_message_t *m = NULL;
	osip_uri_t *ruri = NULL;
	struct sbuf b;
	int err = -EINVAL;

	if (!r || !ret)
		return -EINVAL;
	*ret = NULL;
	if (!sipmsg_uri_ok(r->request_uri) || !sipmsg_uri_ok(r->aor) ||
	    !sipmsg_token_ok(r->from_tag) || !sipmsg_value_ok(r->call_id) ||
	    strpbrk(r->call_id, " \t") || !sipmsg_token_ok(r->branch) ||
	    strncmp(r->branch, "z9hG4bK", 7) != 0 ||
	    (unsigned)r->proto >= _SIP_PROTO_MAX ||
	    literal_family(r->via_host ? r->via_host : "") == AF_UNSPEC ||
	    r->via_port == 0 || r->cseq == 0 || r->cseq > INT32_MAX ||
	    (r->instance && !instance_ok(r->instance)) ||
	    (r->user_agent && !sipmsg_value_ok(r->user_agent)))
		return -EINVAL;
	for (size_t i = 0; i < r->n_contact_params; i++)
		if (!sipmsg_param_ok(r->contact_params[i]))
			return -EINVAL;
	for (size_t i = 0; i < r->n_extra; i++)
		if (!sipmsg_token_ok(r->extra[i].name) ||
		    !sipmsg_value_ok(r->extra[i].value) ||
		    header_is_managed(r->extra[i].name))
			return -EINVAL;

	if (osip_message_init(&m) != 0)
		return -ENOMEM;
	osip_message_set_method(m, osip_strdup("REGISTER"));
	osip_message_set_version(m, osip_strdup("SIP/2.0"));
	if (!m->sip_method || !m->sip_version) {
		err = -ENOMEM;
		goto fail;
	}
	if (osip_uri_init(&ruri) != 0) {
		err = -ENOMEM;
		goto fail;
	}
	if (osip_uri_parse(ruri, r->request_uri) != 0) {
		osip_uri_free(ruri);
		goto fail;
	}
	osip_message_set_uri(m, ruri);

	/* RFC 3261 §18.1.1 sent-by, with rport (RFC 3581 §3) so that the
	 * registrar answers to where the request came from. */
	b = (struct sbuf){ .len = 0 };
	sb_addf(&b, "SIP/2.0/%s %s%s%s:%u;branch=%s;rport",
		sip_proto_to_str(r->proto),
		strchr(r->via_host, ':') ? "[" : "", r->via_host,
		strchr(r->via_host, ':') ? "]" : "", r->via_port, r->branch);
	if (b.overflow || osip_message_set_via(m, b.buf) != 0)
		goto fail;
	if (osip_message_set_max_forwards(m, "70") != 0)
		goto fail;

	b = (struct sbuf){ .len = 0 };
	sb_addf(&b, "<%s>;tag=%s", r->aor, r->from_tag);
	if (b.overflow || osip_message_set_from(m, b.buf) != 0)
		goto fail;
	b = (struct sbuf){ .len = 0 };
	sb_addf(&b, "<%s>", r->aor);
	if (b.overflow || osip_message_set_to(m, b.buf) != 0)
		goto fail;
	if (osip_message_set_call_id(m, r->call_id) != 0)
		goto fail;
	b = (struct sbuf){ .len = 0 };
	sb_addf(&b, "%u REGISTER", (unsigned)r->cseq);
	if (osip_message_set_cseq(m, b.buf) != 0)
		goto fail;

	for (size_t i = 0; i < r->n_contacts; i++) {
		b = (struct sbuf){ .len = 0 };
		err = build_contact(r, &r->contacts[i], &b);
		if (err < 0)
			goto fail;
		err = -EINVAL;
		if (osip_message_set_contact(m, b.buf) != 0)
			goto fail;
	}
	if (r->expires >= 0) {
		b = (struct sbuf){ .len = 0 };
		sb_addf(&b, "%d", r->expires);
		if (osip_message_set_expires(m, b.buf) != 0)
			goto fail;
	}
	if (r->route) {
		err = set_route(m, r->route);
		if (err < 0)
			goto fail;
		err = -EINVAL;
	}
	for (size_t i = 0; i < r->n_extra; i++)
		if (osip_message_set_header(m, r->extra[i].name,
					    r->extra[i].value) != 0)
			goto fail;
	if (r->user_agent &&
	    osip_message_set_user_agent(m, r->user_agent) != 0)
		goto fail;
	if (r->supported_outbound && r->n_contacts &&
	    osip_message_set_header(m, "Supported", "outbound") != 0)
		goto fail;
	if (osip_message_set_content_length(m, "0") != 0)
		goto fail;
	*ret = m;
	return 0;
fail:
	osip_message_free(m);
	return err;
}

int sipmsg_request_uri(const osip_message_t *req, char **ret)
{
	char *s = NULL;

	if (!req || !req->req_uri || !ret)
		return -EINVAL;
	if (osip_uri_to_str(req->req_uri, &s) != 0 || !s)
		return -ENOMEM;
	*ret = strdup(s);
	osip_free(s);
	return *ret ? 0 : -ENOMEM;
}

int sipmsg_to_bytes(osip_message_t *msg, char **ret, size_t *ret_len)
{
	char *s = NULL;
	size_t len = 0;

	if (!msg || !ret || !ret_len)
		return -EINVAL;
	if (osip_message_to_str(msg, &s, &len) != 0 || !s)
		return -ENOMEM;
	*ret = malloc(len + 1);
	if (!*ret) {
		osip_free(s);
		return -ENOMEM;
	}
	memcpy(*ret, s, len);
	(*ret)[len] = '\0';
	*ret_len = len;
	osip_free(s);
	return 0;
}

/* ---- comparing --------------------------------------------------------- */

static bool host_equal(const char *a, const char *b)
{
	unsigned char x[16], y[16];
	int fa, fb;

	if (!a || !b)
		return false;
	fa = literal_family(a);
	fb = literal_family(b);
	if (fa != fb)
		return false;
	if (fa == AF_UNSPEC)
		return strcasecmp(a, b) == 0;
	if (inet_pton(fa, a, x) != 1 || inet_pton(fb, b, y) != 1)
		return false;
	return memcmp(x, y, fa == AF_INET ? 4 : 16) == 0;
}

static unsigned uri_port(const osip_uri_t *u)
{
	uint16_t port;

	if (!u->port)
		return 5060;
	if (parse_port(u->port, &port) < 0)
		return 0;               /* never equal to a valid port */
	return port;
}

static const char *uri_transport(const osip_uri_t *u)
{
	osip_uri_param_t *p = NULL;

	if (osip_uri_param_get_byname((osip_list_t *)&u->url_params,
				      "transport", &p) == 0 && p && p->gvalue)
		return p->gvalue;
	return "udp";
}

bool sipmsg_uri_same_contact(const osip_uri_t *a, const osip_uri_t *b)
{
	const char *ua, *ub;

	if (!a || !b || !a->scheme || !b->scheme)
		return false;
	if (strcasecmp(a->scheme, b->scheme) != 0)
		return false;
	/* RFC 3261 §19.1.4: the user part is case-sensitive. */
	ua = a->username ? a->username : "";
	ub = b->username ? b->username : "";
	if (strcmp(ua, ub) != 0)
		return false;
	if (!host_equal(a->host, b->host))
		return false;
	if (uri_port(a) != uri_port(b) || uri_port(a) == 0)
		return false;
	return strcasecmp(uri_transport(a), uri_transport(b)) == 0;
}

/* ---- reading responses ------------------------------------------------- */

/* A delta-seconds value (RFC 3261 §25.1: 1*DIGIT) at the start of s,
 * clamped to INT32_MAX; -1 if s does not start with a digit. */
static int parse_delta(const char *s)
{
	long long v = 0;

	if (!s)
		return -1;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++)
		if ((v = v * 10 + (*s - '0')) > INT32_MAX)
			v = INT32_MAX;
	return (int)v;
}

static int header_delta(const osip_message_t *m, const char *lname,
			bool whole)
{
	osip_header_t *h = NULL;
	int v;

	if (osip_message_header_get_byname(m, lname, 0, &h) < 0 || !h ||
	    !h->hvalue)
		return -1;
	v = parse_delta(h->hvalue);
	if (v >= 0) {
		/* Expires and Min-Expires are exactly delta-seconds; a
		 * Retry-After may go on with a comment or parameters (RFC
		 * 3261 §20.33), nothing else: "5abc" or "5.5" is malformed
		 * and taken as absent, not as 5. */
		const char *p = h->hvalue;

		while (*p == ' ' || *p == '\t')
			p++;
		while (*p >= '0' && *p <= '9')
			p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p && (whole || (*p != '(' && *p != ';')))
			return -1;
	}
	return v;
}

/* "1", "0.5", "0.125" -> 1000, 500, 125; -1 if malformed. */
static int parse_q(const char *s)
{
	int v, frac = 0, digits = 0;

	if (!s || (*s != '0' && *s != '1'))
		return -1;
	v = (*s++ - '0') * 1000;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9' && digits < 3; s++, digits++)
			frac = frac * 10 + (*s - '0');
		while (digits < 3) {
			frac *= 10;
			digits++;
		}
	}
	if (*s || v + frac > 1000)
		return -1;
	return v + frac;
}

static void copy_printable(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	for (; src && *src && n + 1 < size; src++) {
		unsigned char c = (unsigned char)*src;

		dst[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dst[n] = '\0';
}

/* The instance value without quotes and angle brackets:
 * "\"<urn:uuid:x>\"" -> "urn:uuid:x". */
static bool instance_equal(const char *param, const char *ours)
{
	size_t n;

	if (!param || !ours)
		return false;
	if (*param == '"')
		param++;
	if (*param == '<')
		param++;
	n = strlen(ours);
	if (strncasecmp(param, ours, n) != 0)
		return false;
	param += n;
	if (*param == '>')
		param++;
	if (*param == '"')
		param++;
	return *param == '\0';
}

/* Whether a header @name (Require, Supported) of @msg lists @tag. */
static bool has_option_tag(const osip_message_t *msg, const char *name, const char *tag)
{
	size_t n = strlen(tag);
	osip_header_t *h = NULL;
	int pos = 0;

	while ((pos = osip_message_header_get_byname(msg, name, pos, &h)) >= 0 && h) {
		for (const char *p = h->hvalue; p && *p; p += strcspn(p, ",")) {
			p += strspn(p, " \t,");
			if (strncasecmp(p, tag, n) == 0 && (p[n] == '\0' || strchr(" \t,", p[n])))
				return true;
		}
		pos++;
	}
	return false;
}

int sipmsg_parse_response(const osip_message_t *msg,
			  const struct sipmsg_ours *ours,
			  struct sipmsg_response *ret)
{
	osip_uri_t *our_uri = NULL;
	int by_uri = -1, by_instance = -1, n_instance = 0;
	osip_contact_t *c;

	if (!msg || !ret || !MSG_IS_RESPONSE(msg) || msg->status_code < 100 ||
	    msg->status_code > 699)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	ret->code = msg->status_code;
	copy_printable(ret->reason, sizeof(ret->reason), msg->reason_phrase);
	ret->expires_header = header_delta(msg, "expires", true);
	ret->min_expires = header_delta(msg, "min-expires", true);
	/* Retry-After: delta-seconds [comment] *( SEMI retry-param ) */
	ret->retry_after = header_delta(msg, "retry-after", false);
	ret->flow_timer = header_delta(msg, "flow-timer", true);
	ret->outbound = has_option_tag(msg, "require", "outbound");
	ret->outbound_supported = ret->outbound || has_option_tag(msg, "supported", "outbound");
	ret->our_expires = -1;
	ret->has_www_challenge = osip_list_size(&msg->www_authenticates) > 0;
	ret->has_proxy_challenge =
		osip_list_size(&msg->proxy_authenticates) > 0;

	if (ours && ours->contact_uri) {
		if (osip_uri_init(&our_uri) != 0)
			return -ENOMEM;
		if (osip_uri_parse(our_uri, ours->contact_uri) != 0) {
			osip_uri_free(our_uri);
			our_uri = NULL;
		}
	}

	for (int pos = 0; osip_message_get_contact(msg, pos, &c) >= 0; pos++) {
		struct sipmsg_binding_info *bi;
		osip_generic_param_t *p = NULL;
		char *s = NULL;

		if (!c || !c->url)
			continue;       /* "*" or unparsable */
		if (ret->n_contacts == SIPMSG_CONTACTS_MAX) {
			ret->contacts_truncated = true;
			break;
		}
		bi = &ret->contacts[ret->n_contacts];
		bi->expires = -1;
		bi->q1000 = -1;
		if (osip_uri_to_str(c->url, &s) != 0 || !s ||
		    strlen(s) > SIPMSG_URI_MAX) {
			osip_free(s);
			continue;
		}
		copy_printable(bi->uri, sizeof(bi->uri), s);
		osip_free(s);
		if (osip_contact_param_get_byname(c, "expires", &p) == 0 && p)
			bi->expires = parse_delta(p->gvalue);
		p = NULL;
		if (osip_contact_param_get_byname(c, "q", &p) == 0 && p)
			bi->q1000 = parse_q(p->gvalue);
		if (our_uri && by_uri < 0 &&
		    sipmsg_uri_same_contact(our_uri, c->url))
			by_uri = (int)ret->n_contacts;
		p = NULL;
		if (ours && ours->instance &&
		    osip_contact_param_get_byname(c, "+sip.instance", &p) == 0 &&
		    p && instance_equal(p->gvalue, ours->instance)) {
			by_instance = (int)ret->n_contacts;
			n_instance++;
		}
		ret->n_contacts++;
	}
	osip_uri_free(our_uri);

	if (by_uri < 0 && n_instance == 1)
		by_uri = by_instance;
	if (by_uri >= 0) {
		struct sipmsg_binding_info *bi = &ret->contacts[by_uri];

		bi->ours = true;
		/* RFC 3261 §10.2.4: the expires parameter, else the Expires
		 * header field. */
		ret->our_expires = bi->expires >= 0 ? bi->expires :
				   ret->expires_header;
		if (ret->our_expires < 0)
			ret->our_expires = INT_MAX;     /* listed, no expiry */
	}
	return 0;
}

static int challenge_rank(const struct digest_challenge *c)
{
	switch (c->algorithm) {
	case DIGEST_ALGORITHM_SHA256:
	case DIGEST_ALGORITHM_SHA256_SESS:
		return 2;
	case DIGEST_ALGORITHM_MD5:
	case DIGEST_ALGORITHM_MD5_SESS:
		return 1;
	case _DIGEST_ALGORITHM_MAX:
		break;
	}
	return 0;
}

int sipmsg_best_challenge(const osip_message_t *msg, bool proxy, char **ret)
{
	const osip_list_t *list;
	char *best = NULL;
	int best_rank = 0, seen = 0;

	if (!msg || !ret)
		return -EINVAL;
	list = proxy ? &msg->proxy_authenticates : &msg->www_authenticates;
	for (int pos = 0; !osip_list_eol(list, pos); pos++) {
		osip_www_authenticate_t *w = osip_list_get(list, pos);
		struct digest_challenge c;
		char *s = NULL;
		int rank;

		seen++;
		if (!w || osip_www_authenticate_to_str(w, &s) != 0 || !s)
			continue;
		if (digest_challenge_parse(s, strlen(s), &c) == 0 &&
		    (rank = challenge_rank(&c)) > best_rank) {
			free(best);
			best = strdup(s);
			if (!best) {
				osip_free(s);
				return -ENOMEM;
			}
			best_rank = rank;
		}
		osip_free(s);
	}
	if (!best)
		return seen ? -ENOTSUP : -ENOENT;
	*ret = best;
	return 0;
}

bool sipmsg_has_mandatory(const osip_message_t *msg)
{
	return msg && msg->call_id && msg->call_id->number &&
	       msg->cseq && msg->cseq->method && msg->cseq->number &&
	       msg->from && msg->to && osip_list_size(&msg->vias) > 0;
}

/* A Via host as osip stores it, without the brackets of an IPv6
 * reference, into buf; false when too long. */
static bool via_host_plain(const char *host, char *buf, size_t size)
{
	size_t n;

	if (!host)
		return false;
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n == 0 || n >= size)
		return false;
	memcpy(buf, host, n);
	buf[n] = '\0';
	return true;
}

static bool via_port(osip_via_t *v, uint16_t *ret)
{
	const char *proto = via_get_protocol(v);
	const char *port = via_get_port(v);

	if (!port || !*port) {
		*ret = proto && strcasecmp(proto, "TLS") == 0 ? 5061 : 5060;
		return true;
	}
	return parse_port(port, ret) == 0;
}

bool sipmsg_via_same_sent_by(const osip_via_t *a, const osip_via_t *b)
{
	/* osip's getters take no const; they only read. */
	osip_via_t *va = (osip_via_t *)a, *vb = (osip_via_t *)b;
	char ha[SIPMSG_HOST_MAX + 1], hb[SIPMSG_HOST_MAX + 1];
	unsigned char aa[sizeof(struct in6_addr)], ab[sizeof(struct in6_addr)];
	uint16_t pa, pb;
	int fa, fb;

	if (!a || !b || !via_host_plain(via_get_host(va), ha, sizeof(ha)) ||
	    !via_host_plain(via_get_host(vb), hb, sizeof(hb)) ||
	    !via_port(va, &pa) || !via_port(vb, &pb) || pa != pb)
		return false;
	fa = literal_family(ha);
	fb = literal_family(hb);
	if (fa != fb)
		return false;
	if (fa == AF_UNSPEC)
		return strcasecmp(ha, hb) == 0;
	/* "2001:db8::1" and "2001:DB8:0::1" are one address. */
	return inet_pton(fa, ha, aa) == 1 && inet_pton(fb, hb, ab) == 1 &&
	       memcmp(aa, ab, fa == AF_INET ? 4 : 16) == 0;
}

/* Whether @m, written out, parses again. */
static bool reads_back(osip_message_t *m)
{
	osip_message_t *again = NULL;
	char *text = NULL;
	size_t len = 0;
	bool ok;

	if (osip_message_to_str(m, &text, &len) != 0 || !text)
		return false;
	ok = osip_message_init(&again) == 0 && osip_message_parse(again, text, len) == 0;
	osip_message_free(again);
	osip_free(text);
	return ok;
}

int sipmsg_build_response(const osip_message_t *req, int code,
			  const char *reason, const char *to_tag,
			  osip_message_t **ret)
{
	osip_generic_param_t *tag = NULL;
	osip_message_t *m = NULL;

	if (!req || !ret || !MSG_IS_REQUEST(req) || code < 100 ||
	    code > 699 || !reason || !sipmsg_has_mandatory(req))
		return -EINVAL;
	if (osip_message_init(&m) != 0)
		return -ENOMEM;
	osip_message_set_version(m, osip_strdup("SIP/2.0"));
	osip_message_set_status_code(m, code);
	osip_message_set_reason_phrase(m, osip_strdup(reason));
	for (int pos = 0; !osip_list_eol(&req->vias, pos); pos++) {
		osip_via_t *v = osip_list_get(&req->vias, pos), *copy = NULL;

		if (osip_via_clone(v, &copy) != 0 ||
		    osip_list_add(&m->vias, copy, -1) < 0) {
			osip_via_free(copy);
			goto nomem;
		}
	}
	if (osip_from_clone(req->from, &m->from) != 0 ||
	    osip_to_clone(req->to, &m->to) != 0 ||
	    osip_call_id_clone(req->call_id, &m->call_id) != 0 ||
	    osip_cseq_clone(req->cseq, &m->cseq) != 0)
		goto nomem;
	if (to_tag && code > 100 &&
	    (osip_to_get_tag(m->to, &tag) != 0 || !tag))
		osip_to_set_tag(m->to, osip_strdup(to_tag));
	if (osip_message_set_content_length(m, "0") != 0)
		goto nomem;
	/* What we echo must read back: libosip2 accepts some header values
	 * it then writes in a form it refuses (fuzz-sip-request found a To
	 * URI coming back as "<sip:u@[host:portjunk]:>").  Such a request
	 * gets no answer rather than one nobody can parse (RFC 3261 §8.2
	 * would want a 400, which has to echo the same headers). */
	if (!reads_back(m)) {
		osip_message_free(m);
		return -EBADMSG;
	}
	*ret = m;
	return 0;
nomem:
	osip_message_free(m);
	return -ENOMEM;
}
