/* SIP profile: validation and update classification (the object is
 * base/profile.c). */
#include "alr/profile.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* <osipparser2/osip_uri.h> needs struct timeval and time_t first (see
 * sip/sip_osip.h). */
#include <sys/time.h>
#include <time.h>
#include <osipparser2/osip_uri.h>

#include "base/util.h"

static const char *const change_names[_PROFILE_CHANGE_MAX] = {
	[PROFILE_CHANGE_NONE] = "none",
	[PROFILE_CHANGE_MINOR] = "minor",
	[PROFILE_CHANGE_MAJOR] = "major",
};

const char *profile_change_to_str(enum profile_change c)
{
	return (unsigned)c < _PROFILE_CHANGE_MAX ? change_names[c] : "unknown";
}

/* ---- validation ------------------------------------------------------ */

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF. */
static bool utf8_valid(const char *s)
{
	const unsigned char *c = (const unsigned char *)s;

	while (*c) {
		unsigned int cp, n;

		if (*c < 0x80) {
			c++;
			continue;
		}
		if (*c >= 0xc2 && *c <= 0xdf) {
			n = 1;
			cp = *c & 0x1f;
		} else if ((*c & 0xf0) == 0xe0) {
			n = 2;
			cp = *c & 0x0f;
		} else if (*c >= 0xf0 && *c <= 0xf4) {
			n = 3;
			cp = *c & 0x07;
		} else {
			return false;
		}
		c++;
		for (unsigned int i = 0; i < n; i++) {
			/* a NUL terminator fails this test, so no overrun */
			if ((c[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (c[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		c += n;
	}
	return true;
}

/* Printable UTF-8 text of at most @max bytes.  Never quotes the value:
 * it may be a password. */
static int check_text(struct profile_error *e, const char *field, const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len > max)
		return profile_error_set(e, field, "is %zu bytes long; at most %zu are allowed", len, max);
	if (!utf8_valid(s))
		return profile_error_set(e, field, "is not valid UTF-8");
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return profile_error_set(e, field, "contains a control character");
	return 0;
}

/* RFC 3261 §25.1 token characters. */
static bool is_token_char(unsigned char c)
{
	return isalnum(c) || strchr("-.!%*_+`'~", c) != NULL;
}

static bool is_token(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!s[i] || !is_token_char((unsigned char)s[i]))
			return false;
	return true;
}

/* RFC 3261 §25.1 hostname, IPv4address or IPv6 (osip strips brackets). */
static bool host_valid(const char *h)
{
	unsigned char buf[16];
	size_t label = 0;
	bool dash_end = false, all_digits_dots = true;

	if (!*h)
		return false;
	if (strchr(h, ':'))
		return inet_pton(AF_INET6, h, buf) == 1;
	for (const char *c = h; *c; c++) {
		if (!isdigit((unsigned char)*c) && *c != '.')
			all_digits_dots = false;
		if (*c == '.') {
			if (label == 0 || dash_end)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*c) && *c != '-')
			return false;
		if (label == 0 && *c == '-')
			return false;
		dash_end = *c == '-';
		label++;
	}
	if (dash_end)
		return false;
	/* digits and dots only: an IPv4 address or nothing (a toplabel
	 * starts with a letter) */
	if (all_digits_dots)
		return inet_pton(AF_INET, h, buf) == 1;
	return true;
}

struct uri_info {
	bool sips;
	bool has_user;
	char transport[16];             /* the transport= parameter, lowercase */
};

/*
 * A SIP or SIPS URI as libosip2 parses it, plus what osip lets through:
 * whitespace, an empty user, a password, a bad host or port.
 */
static int check_sip_uri(struct profile_error *e, const char *field, const char *s,
			 struct uri_info *ret)
{
	osip_uri_t *u = NULL;
	osip_uri_param_t *tp = NULL;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	r = check_text(e, field, s, PROFILE_MAX_STRING);
	if (r < 0)
		return r;
	if (strpbrk(s, " \t"))
		return profile_error_set(e, field, "'%s' is not a valid SIP URI: it contains a space", s);
	if (osip_uri_init(&u) != 0)
		return -ENOMEM;
	if (osip_uri_parse(u, s) != 0 || !u->scheme) {
		r = profile_error_set(e, field, "'%s' is not a valid SIP URI", s);
		goto out;
	}
	if (strcasecmp(u->scheme, "sip") != 0 && strcasecmp(u->scheme, "sips") != 0) {
		r = profile_error_set(e, field, "'%s' is not a SIP URI: the scheme must be sip or sips", s);
		goto out;
	}
	ret->sips = strcasecmp(u->scheme, "sips") == 0;
	if (u->password) {
		r = profile_error_set(e, field, "'%s' carries a password; put it in the password member instead", s);
		goto out;
	}
	if (!u->host || !host_valid(u->host)) {
		r = profile_error_set(e, field, "'%s' is not a valid SIP URI: bad host", s);
		goto out;
	}
	/* osip takes "sip:@host" as a URI without a user */
	if (strchr(s, '@') && (!u->username || !*u->username)) {
		r = profile_error_set(e, field, "'%s' is not a valid SIP URI: empty user part", s);
		goto out;
	}
	ret->has_user = u->username && *u->username;
	if (u->port) {
		char *end;
		long port = strtol(u->port, &end, 10);

		if (!*u->port || *end || port < 1 || port > 65535) {
			r = profile_error_set(e, field, "'%s' is not a valid SIP URI: bad port '%s'", s, u->port);
			goto out;
		}
	}
	if (osip_uri_param_get_byname(&u->url_params, "transport", &tp) == 0 && tp &&
	    tp->gvalue) {
		util_strlcpy(ret->transport, tp->gvalue, sizeof(ret->transport));
		for (char *c = ret->transport; *c; c++)
			*c = (char)tolower((unsigned char)*c);
	}
out:
	osip_uri_free(u);
	return r;
}

/* RFC 3261 §25.1 generic-param: token [ "=" ( token / host / quoted-string ) ]. */
static bool generic_param_valid(const char *s)
{
	const char *eq = strchr(s, '=');
	size_t nlen = eq ? (size_t)(eq - s) : strlen(s);
	const char *v;
	size_t vlen;

	if (!is_token(s, nlen))
		return false;
	if (!eq)
		return true;
	v = eq + 1;
	vlen = strlen(v);
	if (vlen == 0)
		return false;
	if (v[0] == '"') {
		/* quoted-string: qdtext or quoted-pair, closed at the end */
		size_t i;

		for (i = 1; i < vlen; i++) {
			if (v[i] == '\\') {
				if (++i >= vlen)
					return false;
				continue;
			}
			if (v[i] == '"')
				break;
		}
		return i == vlen - 1;
	}
	if (v[0] == '[') {
		char buf[64];
		unsigned char addr[16];

		if (v[vlen - 1] != ']' || vlen - 2 >= sizeof(buf))
			return false;
		memcpy(buf, v + 1, vlen - 2);
		buf[vlen - 2] = '\0';
		return inet_pton(AF_INET6, buf, addr) == 1;
	}
	return is_token(v, vlen);
}

bool profile_name_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > PROFILE_MAX_NAME)
		return false;
	for (const char *c = s; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("_.+-", *c))
			return false;
	return true;
}

static void param_field(char *buf, size_t size, const char *prefix,
			const struct profile_param *pp)
{
	if (pp->name)
		snprintf(buf, size, "%s.%s", prefix, pp->name);
	else
		snprintf(buf, size, "%s.#%u", prefix, pp->key);
}

static int validate_params(const struct profile_params *ps, const char *prefix,
			   struct profile_error *e)
{
	char field[96];
	int r;

	if (ps->n > PROFILE_MAX_PARAMS)
		return profile_error_set(e, prefix, "has %zu parameters; at most %d are allowed", ps->n,
			    PROFILE_MAX_PARAMS);
	for (size_t i = 0; i < ps->n; i++) {
		const struct profile_param *pp = &ps->v[i];

		if (pp->name && !profile_name_valid(pp->name)) {
			snprintf(field, sizeof(field), "%s[%zu].name", prefix, i);
			return profile_error_set(e, field, "'%.*s' is not a parameter name (1 to %d of A-Z a-z 0-9 _ . + -)",
				    PROFILE_MAX_NAME, pp->name, PROFILE_MAX_NAME);
		}
		param_field(field, sizeof(field), prefix, pp);
		for (size_t j = 0; j < i; j++) {
			const struct profile_param *q = &ps->v[j];

			if ((pp->name && q->name && strcmp(pp->name, q->name) == 0) ||
			    (!pp->name && !q->name && pp->key == q->key))
				return profile_error_set(e, field, "is given twice");
		}
		switch (pp->type) {
		case PROFILE_PARAM_INT:
		case PROFILE_PARAM_BOOL:
			break;
		case PROFILE_PARAM_STRING:
			if (!pp->value.s)
				return profile_error_set(e, field, "has no value");
			r = check_text(e, field, pp->value.s, PROFILE_MAX_STRING);
			if (r < 0)
				return r;
			break;
		case PROFILE_PARAM_STRING_LIST:
			if (pp->value.list.n > PROFILE_MAX_PARAM_ITEMS)
				return profile_error_set(e, field, "has %zu items; at most %d are allowed",
					    pp->value.list.n, PROFILE_MAX_PARAM_ITEMS);
			for (size_t j = 0; j < pp->value.list.n; j++) {
				char item[128];

				snprintf(item, sizeof(item), "%s[%zu]", field, j);
				r = check_text(e, item, pp->value.list.v[j], PROFILE_MAX_STRING);
				if (r < 0)
					return r;
			}
			break;
		case _PROFILE_PARAM_TYPE_MAX:
			return profile_error_set(e, field, "has an unknown type");
		}
	}
	return 0;
}

static const char *transport_param_name(enum profile_transport t)
{
	return profile_transport_to_str(t);
}

static int validate_server(const struct profile_server *sv, const char *name,
			   bool registrar, struct profile_error *e)
{
	char field[64];
	struct uri_info ui;
	int r;

	snprintf(field, sizeof(field), "%s.transport", name);
	if ((unsigned)sv->transport >= _PROFILE_TRANSPORT_MAX)
		return profile_error_set(e, field, "is not one of auto, udp, tcp, tls");
	if (sv->uri) {
		snprintf(field, sizeof(field), "%s.uri", name);
		r = check_sip_uri(e, field, sv->uri, &ui);
		if (r < 0)
			return r;
		if (registrar && ui.has_user)
			return profile_error_set(e, field, "'%s' has a user part; a registrar URI names only "
				    "the domain (RFC 3261 §10.2)", sv->uri);
		snprintf(field, sizeof(field), "%s.transport", name);
		if (ui.sips && (sv->transport == PROFILE_TRANSPORT_UDP ||
				sv->transport == PROFILE_TRANSPORT_TCP))
			return profile_error_set(e, field, "'%s' cannot carry the sips: URI %s, which needs TLS",
				    transport_param_name(sv->transport), sv->uri);
		if (ui.transport[0] && sv->transport != PROFILE_TRANSPORT_AUTO &&
		    strcmp(ui.transport, transport_param_name(sv->transport)) != 0)
			return profile_error_set(e, field, "'%s' contradicts transport=%s in %s",
				    transport_param_name(sv->transport), ui.transport, sv->uri);
	}
	if (sv->digest_user) {
		snprintf(field, sizeof(field), "%s.digest_user", name);
		r = check_text(e, field, sv->digest_user, PROFILE_MAX_STRING);
		if (r < 0)
			return r;
		if (!*sv->digest_user)
			return profile_error_set(e, field, "is empty");
	}
	if (sv->realm) {
		snprintf(field, sizeof(field), "%s.realm", name);
		r = check_text(e, field, sv->realm, PROFILE_MAX_STRING);
		if (r < 0)
			return r;
	}
	if (sv->password) {
		snprintf(field, sizeof(field), "%s.password", name);
		r = check_text(e, field, sv->password, PROFILE_MAX_STRING);
		if (r < 0)
			return r;
	}
	if (sv->ca_file) {
		/* Read by the daemon when a TLS connection starts (docs/sip.md,
		 * "TLS"); a file that is not there then fails it, named. */
		snprintf(field, sizeof(field), "%s.ca_file", name);
		r = check_text(e, field, sv->ca_file, PROFILE_MAX_STRING);
		if (r < 0)
			return r;
		if (sv->ca_file[0] != '/')
			return profile_error_set(e, field, "'%s' is not an absolute path",
						 sv->ca_file);
	}
	snprintf(field, sizeof(field), "%s.params", name);
	return validate_params(&sv->params, field, e);
}

/* Header fields alrd writes itself, with their compact forms
 * (RFC 3261 §7.3.3, §20; RFC 3329 §2.3.1). */
static bool header_managed(const char *name, size_t len)
{
	static const char *const managed[] = {
		"via", "v", "from", "f", "to", "t", "call-id", "i", "cseq",
		"contact", "m", "expires", "max-forwards", "content-length", "l",
		"content-type", "c", "authorization", "proxy-authorization",
		"route", "security-client", "security-verify", NULL,
	};

	for (const char *const *m = managed; *m; m++)
		if (strlen(*m) == len && strncasecmp(name, *m, len) == 0)
			return true;
	return false;
}

static int validate_header(const char *h, const char *field, struct profile_error *e)
{
	const char *colon = strchr(h, ':');
	size_t nlen;
	const char *v;
	int r;

	r = check_text(e, field, h, PROFILE_MAX_STRING);
	if (r < 0)
		return r;
	if (!colon)
		return profile_error_set(e, field, "'%s' is not a header field: expected 'Name: value'", h);
	nlen = (size_t)(colon - h);
	while (nlen > 0 && (h[nlen - 1] == ' ' || h[nlen - 1] == '\t'))
		nlen--;
	if (!is_token(h, nlen))
		return profile_error_set(e, field, "'%s' is not a header field: bad name", h);
	if (header_managed(h, nlen))
		return profile_error_set(e, field, "alrd writes %.*s itself; it cannot be an extra header",
			    (int)nlen, h);
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	if (!*v)
		return profile_error_set(e, field, "'%s' has an empty value", h);
	return 0;
}

static int validate_strv_count(const struct profile_strv *sv, const char *field,
			       struct profile_error *e)
{
	if (sv->n > PROFILE_MAX_LIST)
		return profile_error_set(e, field, "has %zu entries; at most %d are allowed", sv->n,
			    PROFILE_MAX_LIST);
	return 0;
}

static bool aor_has_user(const char *aor)
{
	osip_uri_t *u = NULL;
	bool has = false;

	if (!aor || osip_uri_init(&u) != 0)
		return false;
	if (osip_uri_parse(u, aor) == 0)
		has = u->username && *u->username;
	osip_uri_free(u);
	return has;
}

int profile_validate(const struct profile *p, const struct profile_validate_ctx *ctx,
		     struct profile_error *e)
{
	char type[PROFILE_MAX_NAME + 16];
	/* without a plugin lookup: needs nothing, can do everything */
	unsigned int caps = PROFILE_TYPE_SIGCOMP | PROFILE_TYPE_SECURITY_NEGOTIATION;
	struct uri_info ui;
	char field[64];
	int r;

	if (e)
		memset(e, 0, sizeof(*e));

	/* type */
	if ((unsigned)p->type_class >= _PROFILE_CLASS_MAX)
		return profile_error_set(e, "type", "has an unknown class");
	if (!p->type_name || !profile_name_valid(p->type_name))
		return profile_error_set(e, "type", "needs a type name (1 to %d of A-Z a-z 0-9 _ . + -)",
			    PROFILE_MAX_NAME);
	profile_type_str(p, type, sizeof(type));
	if (ctx && ctx->lookup_type) {
		r = ctx->lookup_type(ctx->userdata, p->type_class, p->type_name, &caps);
		if (r == -ENOENT)
			return profile_error_set(e, "type", "no plugin serves type '%s'", type);
		if (r < 0)
			return profile_error_set(e, "type", "cannot look up type '%s': %s", type, strerror(-r));
	}

	if (p->provider_name) {
		r = check_text(e, "provider_name", p->provider_name, PROFILE_MAX_STRING);
		if (r < 0)
			return r;
	}

	/* AOR: a SIP/SIPS URI (the To of a REGISTER, RFC 3261 §10.2) */
	if (!p->aor)
		return profile_error_set(e, "aor", "is missing; a profile needs its address of record");
	r = check_sip_uri(e, "aor", p->aor, &ui);
	if (r < 0)
		return r;

	/* where to register */
	if (p->snap_id && p->iap_id)
		return profile_error_set(e, "snap_id", "SNAP %u and IAP %u are both set; a profile roams "
			    "across a SNAP or stays on one IAP, never both (set the other to null)",
			    p->snap_id, p->iap_id);
	if (p->snap_id && ctx && ctx->snap_exists && !ctx->snap_exists(ctx->userdata, p->snap_id))
		return profile_error_set(e, "snap_id", "there is no SNAP %u", p->snap_id);
	if (p->iap_id && ctx && ctx->iap_exists && !ctx->iap_exists(ctx->userdata, p->iap_id))
		return profile_error_set(e, "iap_id", "there is no IAP %u", p->iap_id);
	if ((unsigned)p->bearer >= _PROFILE_BEARER_MAX)
		return profile_error_set(e, "bearer", "is not one of any, wifi, cellular");

	/* servers */
	r = validate_server(&p->registrar, "registrar", true, e);
	if (r < 0)
		return r;
	r = validate_server(&p->outbound_proxy, "outbound_proxy", false, e);
	if (r < 0)
		return r;
	if (!p->registrar.uri && (caps & PROFILE_TYPE_NEEDS_REGISTRAR))
		return profile_error_set(e, "registrar.uri", "is missing; type '%s' needs a registrar", type);

	if (p->private_identity) {
		const char *at;

		r = check_text(e, "private_identity", p->private_identity, PROFILE_MAX_STRING);
		if (r < 0)
			return r;
		/* NAI form (RFC 4282 §2.1, 3GPP TS 23.003 §13.3): user@realm */
		at = strchr(p->private_identity, '@');
		if (strpbrk(p->private_identity, " \t") || !at || at == p->private_identity ||
		    !at[1] || strchr(at + 1, '@'))
			return profile_error_set(e, "private_identity", "'%s' is not of the form user@realm",
				    p->private_identity);
	} else if (caps & PROFILE_TYPE_NEEDS_PRIVATE_IDENTITY) {
		return profile_error_set(e, "private_identity", "is missing; type '%s' needs one", type);
	}

	/* A password needs a user name to go with it. */
	for (int i = 0; i < 2; i++) {
		const struct profile_server *sv = i ? &p->outbound_proxy : &p->registrar;

		if (sv->password && *sv->password && !sv->digest_user &&
		    !p->private_identity && !aor_has_user(p->aor))
			return profile_error_set(e, i ? "outbound_proxy.digest_user" : "registrar.digest_user",
				    "is missing: a password is set, and neither private_identity "
				    "nor the AOR has a user name");
	}

	if (p->security_negotiation && !(caps & PROFILE_TYPE_SECURITY_NEGOTIATION))
		return profile_error_set(e, "security_negotiation",
			    "type '%s' cannot negotiate security (RFC 3329)", type);
	if (p->sigcomp && !(caps & PROFILE_TYPE_SIGCOMP))
		return profile_error_set(e, "sigcomp", "type '%s' cannot do signalling compression", type);

	r = validate_strv_count(&p->contact_params, "contact_params", e);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p->contact_params.n; i++) {
		const char *cp = p->contact_params.v[i];
		size_t nlen = strcspn(cp, "=");

		snprintf(field, sizeof(field), "contact_params[%zu]", i);
		r = check_text(e, field, cp, PROFILE_MAX_STRING);
		if (r < 0)
			return r;
		if (!generic_param_valid(cp))
			return profile_error_set(e, field, "'%s' is not a header parameter (name or name=value, "
				    "RFC 3261 §25.1)", cp);
		if (nlen == strlen("expires") && strncasecmp(cp, "expires", nlen) == 0)
			return profile_error_set(e, field, "set the expiry with the expires member");
		for (size_t j = 0; j < i; j++) {
			const char *q = p->contact_params.v[j];

			if (strcspn(q, "=") == nlen && strncasecmp(q, cp, nlen) == 0)
				return profile_error_set(e, field, "parameter '%.*s' is given twice", (int)nlen, cp);
		}
	}

	r = validate_strv_count(&p->extra_headers, "extra_headers", e);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p->extra_headers.n; i++) {
		snprintf(field, sizeof(field), "extra_headers[%zu]", i);
		r = validate_header(p->extra_headers.v[i], field, e);
		if (r < 0)
			return r;
	}

	/* User names as useradd(8) makes them (a trailing $ for Samba's
	 * machine accounts); they need not exist yet (docs/profiles.md). */
	r = validate_strv_count(&p->local_users, "local_users", e);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p->local_users.n; i++) {
		const char *u = p->local_users.v[i];
		size_t len = strlen(u), ok = strspn(u, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
						   "abcdefghijklmnopqrstuvwxyz0123456789._-");

		snprintf(field, sizeof(field), "local_users[%zu]", i);
		if (len == 0 || len > 32 || u[0] == '-' ||
		    !(ok == len || (ok == len - 1 && u[len - 1] == '$')))
			return profile_error_set(e, field, "'%.64s' is not a user name (1 to 32 of "
				    "A-Z a-z 0-9 . _ -, not starting with -)", u);
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->local_users.v[j], u) == 0)
				return profile_error_set(e, field, "user '%s' is given twice", u);
	}

	if (p->local_password) {
		r = check_text(e, "local_password", p->local_password, PROFILE_MAX_STRING);
		if (r < 0)
			return r;
	}

	if (p->expires < PROFILE_EXPIRES_MIN || p->expires > PROFILE_EXPIRES_MAX)
		return profile_error_set(e, "expires", "%u is out of range (%d to %u seconds)", p->expires,
			    PROFILE_EXPIRES_MIN, PROFILE_EXPIRES_MAX);
	if (p->dscp > PROFILE_DSCP_MAX)
		return profile_error_set(e, "dscp", "%u is out of range (0 to %d)", p->dscp, PROFILE_DSCP_MAX);

	r = validate_params(&p->params, "params", e);
	if (r < 0)
		return r;

	if (ctx && ctx->plugin_validate) {
		r = ctx->plugin_validate(ctx->userdata, p, e);
		if (r < 0)
			return r;
	}
	return 0;
}

int profile_check(const struct profile *p, struct profile_error *e)
{
	return profile_validate(p, NULL, e);
}

/* ---- classification -------------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool strv_eq(const struct profile_strv *a, const struct profile_strv *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!str_eq(a->v[i], b->v[i]))
			return false;
	return true;
}

static bool param_eq(const struct profile_param *a, const struct profile_param *b)
{
	if (!str_eq(a->name, b->name) || (!a->name && a->key != b->key) || a->type != b->type)
		return false;
	switch (a->type) {
	case PROFILE_PARAM_INT:
		return a->value.i == b->value.i;
	case PROFILE_PARAM_BOOL:
		return a->value.b == b->value.b;
	case PROFILE_PARAM_STRING:
		return str_eq(a->value.s, b->value.s);
	case PROFILE_PARAM_STRING_LIST:
		return strv_eq(&a->value.list, &b->value.list);
	case _PROFILE_PARAM_TYPE_MAX:
		break;
	}
	return true;
}

static bool params_eq(const struct profile_params *a, const struct profile_params *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!param_eq(&a->v[i], &b->v[i]))
			return false;
	return true;
}

/*
 * MAJOR: what names the binding or the path to it -- the identity (type,
 * AOR, private identity), the network (SNAP, IAP, bearer), the servers and
 * transports, and what the first REGISTER negotiates (RFC 3329 security,
 * SigComp).  MINOR: what a re-REGISTER of the same binding carries or what
 * alrd alone uses.  Credentials are MINOR: the re-REGISTER answers the
 * next challenge with them, while a deregistration with the old ones might
 * be refused.
 */
enum profile_change profile_diff(const struct profile *a, const struct profile *b)
{
	const struct profile_server *sa[2] = { &a->registrar, &a->outbound_proxy };
	const struct profile_server *sb[2] = { &b->registrar, &b->outbound_proxy };
	bool minor = false;

	if (a->type_class != b->type_class || !str_eq(a->type_name, b->type_name) ||
	    !str_eq(a->aor, b->aor) || !str_eq(a->private_identity, b->private_identity) ||
	    a->snap_id != b->snap_id || a->iap_id != b->iap_id || a->bearer != b->bearer ||
	    a->proxy_from_dhcp != b->proxy_from_dhcp ||
	    a->security_negotiation != b->security_negotiation || a->sigcomp != b->sigcomp)
		return PROFILE_CHANGE_MAJOR;
	for (int i = 0; i < 2; i++) {
		if (!str_eq(sa[i]->uri, sb[i]->uri) || sa[i]->transport != sb[i]->transport ||
		    !str_eq(sa[i]->ca_file, sb[i]->ca_file))
			return PROFILE_CHANGE_MAJOR;
		if (!str_eq(sa[i]->digest_user, sb[i]->digest_user) ||
		    !str_eq(sa[i]->realm, sb[i]->realm) ||
		    !str_eq(sa[i]->password, sb[i]->password) ||
		    !str_eq(sa[i]->ha1, sb[i]->ha1) ||
		    !params_eq(&sa[i]->params, &sb[i]->params))
			minor = true;
	}
	if (!str_eq(a->provider_name, b->provider_name) ||
	    a->auto_register != b->auto_register || a->is_default != b->is_default ||
	    !strv_eq(&a->contact_params, &b->contact_params) ||
	    !strv_eq(&a->extra_headers, &b->extra_headers) ||
	    !strv_eq(&a->local_users, &b->local_users) ||
	    !str_eq(a->local_password, b->local_password) ||
	    a->expires != b->expires || a->dscp != b->dscp || a->locked != b->locked ||
	    !params_eq(&a->params, &b->params))
		minor = true;
	return minor ? PROFILE_CHANGE_MINOR : PROFILE_CHANGE_NONE;
}
