/* SIP profile: the object, validation, JSON form, update classification. */
#include "alr/profile.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
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

static const char *const class_names[_PROFILE_CLASS_MAX] = {
	[PROFILE_CLASS_IETF] = "ietf",
	[PROFILE_CLASS_IMS] = "ims",
	[PROFILE_CLASS_OTHER] = "other",
};

static const char *const transport_names[_PROFILE_TRANSPORT_MAX] = {
	[PROFILE_TRANSPORT_AUTO] = "auto",
	[PROFILE_TRANSPORT_UDP] = "udp",
	[PROFILE_TRANSPORT_TCP] = "tcp",
	[PROFILE_TRANSPORT_TLS] = "tls",
};

static const char *const bearer_names[_PROFILE_BEARER_MAX] = {
	[PROFILE_BEARER_ANY] = "any",
	[PROFILE_BEARER_WIFI] = "wifi",
	[PROFILE_BEARER_CELLULAR] = "cellular",
};

static const char *const param_type_names[_PROFILE_PARAM_TYPE_MAX] = {
	[PROFILE_PARAM_INT] = "int",
	[PROFILE_PARAM_BOOL] = "bool",
	[PROFILE_PARAM_STRING] = "string",
	[PROFILE_PARAM_STRING_LIST] = "string-list",
};

static const char *const change_names[_PROFILE_CHANGE_MAX] = {
	[PROFILE_CHANGE_NONE] = "none",
	[PROFILE_CHANGE_MINOR] = "minor",
	[PROFILE_CHANGE_MAJOR] = "major",
};

static int lookup(const char *const *names, int n, const char *s)
{
	if (!s)
		return -EINVAL;
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -EINVAL;
}

const char *profile_class_to_str(enum profile_class c)
{
	return (unsigned)c < _PROFILE_CLASS_MAX ? class_names[c] : "unknown";
}

int profile_class_from_str(const char *s)
{
	return lookup(class_names, _PROFILE_CLASS_MAX, s);
}

const char *profile_transport_to_str(enum profile_transport t)
{
	return (unsigned)t < _PROFILE_TRANSPORT_MAX ? transport_names[t] : "unknown";
}

int profile_transport_from_str(const char *s)
{
	return lookup(transport_names, _PROFILE_TRANSPORT_MAX, s);
}

const char *profile_bearer_to_str(enum profile_bearer b)
{
	return (unsigned)b < _PROFILE_BEARER_MAX ? bearer_names[b] : "unknown";
}

int profile_bearer_from_str(const char *s)
{
	return lookup(bearer_names, _PROFILE_BEARER_MAX, s);
}

const char *profile_param_type_to_str(enum profile_param_type t)
{
	return (unsigned)t < _PROFILE_PARAM_TYPE_MAX ? param_type_names[t] : "unknown";
}

int profile_param_type_from_str(const char *s)
{
	return lookup(param_type_names, _PROFILE_PARAM_TYPE_MAX, s);
}

const char *profile_change_to_str(enum profile_change c)
{
	return (unsigned)c < _PROFILE_CHANGE_MAX ? change_names[c] : "unknown";
}

/* ---- memory ---------------------------------------------------------- */

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

int profile_set_string(char **slot, const char *s, bool secret)
{
	char *copy = NULL;

	if (s) {
		copy = strdup(s);
		if (!copy)
			return -ENOMEM;
	}
	if (secret)
		wipe_free(*slot);
	else
		free(*slot);
	*slot = copy;
	return 0;
}

void profile_strv_clear(struct profile_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

int profile_strv_push(struct profile_strv *sv, const char *s)
{
	char **v;
	char *copy = strdup(s);

	if (!copy)
		return -ENOMEM;
	v = realloc(sv->v, (sv->n + 1) * sizeof(*v));
	if (!v) {
		free(copy);
		return -ENOMEM;
	}
	v[sv->n++] = copy;
	sv->v = v;
	return 0;
}

static int strv_copy(struct profile_strv *dst, const struct profile_strv *src)
{
	dst->v = NULL;
	dst->n = 0;
	for (size_t i = 0; i < src->n; i++)
		if (profile_strv_push(dst, src->v[i]) < 0) {
			profile_strv_clear(dst);
			return -ENOMEM;
		}
	return 0;
}

static void param_clear(struct profile_param *pp)
{
	free(pp->name);
	pp->name = NULL;
	switch (pp->type) {
	case PROFILE_PARAM_STRING:
		free(pp->value.s);
		break;
	case PROFILE_PARAM_STRING_LIST:
		profile_strv_clear(&pp->value.list);
		break;
	case PROFILE_PARAM_INT:
	case PROFILE_PARAM_BOOL:
	case _PROFILE_PARAM_TYPE_MAX:
		break;
	}
	memset(&pp->value, 0, sizeof(pp->value));
}

void profile_params_clear(struct profile_params *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		param_clear(&ps->v[i]);
	free(ps->v);
	ps->v = NULL;
	ps->n = 0;
}

struct profile_param *profile_params_add(struct profile_params *ps)
{
	struct profile_param *v = realloc(ps->v, (ps->n + 1) * sizeof(*v));

	if (!v)
		return NULL;
	ps->v = v;
	memset(&v[ps->n], 0, sizeof(v[ps->n]));
	return &v[ps->n++];
}

static int param_copy(struct profile_param *dst, const struct profile_param *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->key = src->key;
	dst->type = src->type;
	if (src->name && !(dst->name = strdup(src->name)))
		return -ENOMEM;
	switch (src->type) {
	case PROFILE_PARAM_INT:
		dst->value.i = src->value.i;
		break;
	case PROFILE_PARAM_BOOL:
		dst->value.b = src->value.b;
		break;
	case PROFILE_PARAM_STRING:
		if (src->value.s && !(dst->value.s = strdup(src->value.s)))
			return -ENOMEM;
		break;
	case PROFILE_PARAM_STRING_LIST:
		return strv_copy(&dst->value.list, &src->value.list);
	case _PROFILE_PARAM_TYPE_MAX:
		break;
	}
	return 0;
}

static int params_copy(struct profile_params *dst, const struct profile_params *src)
{
	dst->v = NULL;
	dst->n = 0;
	for (size_t i = 0; i < src->n; i++) {
		struct profile_param *pp = profile_params_add(dst);

		if (!pp || param_copy(pp, &src->v[i]) < 0) {
			profile_params_clear(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

static void server_clear(struct profile_server *sv)
{
	free(sv->uri);
	free(sv->digest_user);
	free(sv->realm);
	wipe_free(sv->password);
	wipe_free(sv->ha1);
	profile_params_clear(&sv->params);
	memset(sv, 0, sizeof(*sv));
}

static int server_copy(struct profile_server *dst, const struct profile_server *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->transport = src->transport;
	if (profile_set_string(&dst->uri, src->uri, false) < 0 ||
	    profile_set_string(&dst->digest_user, src->digest_user, false) < 0 ||
	    profile_set_string(&dst->realm, src->realm, false) < 0 ||
	    profile_set_string(&dst->password, src->password, true) < 0 ||
	    profile_set_string(&dst->ha1, src->ha1, true) < 0 ||
	    params_copy(&dst->params, &src->params) < 0)
		return -ENOMEM;
	return 0;
}

struct profile *profile_new(void)
{
	struct profile *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->type_class = PROFILE_CLASS_IETF;
	p->type_name = strdup("ietf");
	if (!p->type_name) {
		free(p);
		return NULL;
	}
	p->bearer = PROFILE_BEARER_ANY;
	p->registrar.transport = PROFILE_TRANSPORT_AUTO;
	p->outbound_proxy.transport = PROFILE_TRANSPORT_AUTO;
	p->expires = PROFILE_EXPIRES_DEFAULT;
	return p;
}

struct profile *profile_free(struct profile *p)
{
	if (!p)
		return NULL;
	free(p->provider_name);
	free(p->type_name);
	free(p->aor);
	profile_strv_clear(&p->registered_aors);
	free(p->registered_contact);
	server_clear(&p->registrar);
	server_clear(&p->outbound_proxy);
	free(p->private_identity);
	profile_strv_clear(&p->contact_params);
	profile_strv_clear(&p->extra_headers);
	profile_params_clear(&p->params);
	free(p);
	return NULL;
}

struct profile *profile_dup(const struct profile *p)
{
	struct profile *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	/* Scalars first, then every owned pointer replaced by a copy; a
	 * failure leaves only NULLs or copies, which profile_free() takes. */
	*d = *p;
	d->provider_name = d->type_name = d->aor = NULL;
	d->registered_contact = d->private_identity = NULL;
	memset(&d->registered_aors, 0, sizeof(d->registered_aors));
	memset(&d->contact_params, 0, sizeof(d->contact_params));
	memset(&d->extra_headers, 0, sizeof(d->extra_headers));
	memset(&d->params, 0, sizeof(d->params));
	memset(&d->registrar, 0, sizeof(d->registrar));
	memset(&d->outbound_proxy, 0, sizeof(d->outbound_proxy));
	if (profile_set_string(&d->provider_name, p->provider_name, false) < 0 ||
	    profile_set_string(&d->type_name, p->type_name, false) < 0 ||
	    profile_set_string(&d->aor, p->aor, false) < 0 ||
	    profile_set_string(&d->registered_contact, p->registered_contact, false) < 0 ||
	    profile_set_string(&d->private_identity, p->private_identity, false) < 0 ||
	    strv_copy(&d->registered_aors, &p->registered_aors) < 0 ||
	    strv_copy(&d->contact_params, &p->contact_params) < 0 ||
	    strv_copy(&d->extra_headers, &p->extra_headers) < 0 ||
	    params_copy(&d->params, &p->params) < 0 ||
	    server_copy(&d->registrar, &p->registrar) < 0 ||
	    server_copy(&d->outbound_proxy, &p->outbound_proxy) < 0)
		return profile_free(d);
	return d;
}

const char *profile_type_str(const struct profile *p, char *buf, size_t size)
{
	const char *cls = profile_class_to_str(p->type_class);

	if (!p->type_name || strcmp(p->type_name, cls) == 0)
		snprintf(buf, size, "%s", cls);
	else
		snprintf(buf, size, "%s/%s", cls, p->type_name);
	return buf;
}

int profile_set_registered(struct profile *p, const char *const *aors, size_t n_aors,
			   const char *contact)
{
	struct profile_strv sv = { 0 };
	char *c = NULL;

	for (size_t i = 0; i < n_aors; i++)
		if (profile_strv_push(&sv, aors[i]) < 0)
			goto nomem;
	if (profile_set_string(&c, contact, false) < 0)
		goto nomem;
	profile_strv_clear(&p->registered_aors);
	p->registered_aors = sv;
	free(p->registered_contact);
	p->registered_contact = c;
	return 0;
nomem:
	profile_strv_clear(&sv);
	return -ENOMEM;
}

const struct profile_param *profile_params_find_name(const struct profile_params *ps,
						     const char *name)
{
	for (size_t i = 0; i < ps->n; i++)
		if (ps->v[i].name && strcmp(ps->v[i].name, name) == 0)
			return &ps->v[i];
	return NULL;
}

const struct profile_param *profile_params_find_key(const struct profile_params *ps,
						    uint32_t key)
{
	for (size_t i = 0; i < ps->n; i++)
		if (!ps->v[i].name && ps->v[i].key == key)
			return &ps->v[i];
	return NULL;
}

/* ---- validation ------------------------------------------------------ */

static int fail(struct profile_error *e, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct profile_error *e, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (e) {
		util_strlcpy(e->field, field, sizeof(e->field));
		va_start(ap, fmt);
		vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

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
		return fail(e, field, "is %zu bytes long; at most %zu are allowed", len, max);
	if (!utf8_valid(s))
		return fail(e, field, "is not valid UTF-8");
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return fail(e, field, "contains a control character");
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
		return fail(e, field, "'%s' is not a valid SIP URI: it contains a space", s);
	if (osip_uri_init(&u) != 0)
		return -ENOMEM;
	if (osip_uri_parse(u, s) != 0 || !u->scheme) {
		r = fail(e, field, "'%s' is not a valid SIP URI", s);
		goto out;
	}
	if (strcasecmp(u->scheme, "sip") != 0 && strcasecmp(u->scheme, "sips") != 0) {
		r = fail(e, field, "'%s' is not a SIP URI: the scheme must be sip or sips", s);
		goto out;
	}
	ret->sips = strcasecmp(u->scheme, "sips") == 0;
	if (u->password) {
		r = fail(e, field, "'%s' carries a password; put it in the password member instead", s);
		goto out;
	}
	if (!u->host || !host_valid(u->host)) {
		r = fail(e, field, "'%s' is not a valid SIP URI: bad host", s);
		goto out;
	}
	/* osip takes "sip:@host" as a URI without a user */
	if (strchr(s, '@') && (!u->username || !*u->username)) {
		r = fail(e, field, "'%s' is not a valid SIP URI: empty user part", s);
		goto out;
	}
	ret->has_user = u->username && *u->username;
	if (u->port) {
		char *end;
		long port = strtol(u->port, &end, 10);

		if (!*u->port || *end || port < 1 || port > 65535) {
			r = fail(e, field, "'%s' is not a valid SIP URI: bad port '%s'", s, u->port);
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

static bool name_valid(const char *s)
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
		return fail(e, prefix, "has %zu parameters; at most %d are allowed", ps->n,
			    PROFILE_MAX_PARAMS);
	for (size_t i = 0; i < ps->n; i++) {
		const struct profile_param *pp = &ps->v[i];

		if (pp->name && !name_valid(pp->name)) {
			snprintf(field, sizeof(field), "%s[%zu].name", prefix, i);
			return fail(e, field, "'%.*s' is not a parameter name (1 to %d of A-Z a-z 0-9 _ . + -)",
				    PROFILE_MAX_NAME, pp->name, PROFILE_MAX_NAME);
		}
		param_field(field, sizeof(field), prefix, pp);
		for (size_t j = 0; j < i; j++) {
			const struct profile_param *q = &ps->v[j];

			if ((pp->name && q->name && strcmp(pp->name, q->name) == 0) ||
			    (!pp->name && !q->name && pp->key == q->key))
				return fail(e, field, "is given twice");
		}
		switch (pp->type) {
		case PROFILE_PARAM_INT:
		case PROFILE_PARAM_BOOL:
			break;
		case PROFILE_PARAM_STRING:
			if (!pp->value.s)
				return fail(e, field, "has no value");
			r = check_text(e, field, pp->value.s, PROFILE_MAX_STRING);
			if (r < 0)
				return r;
			break;
		case PROFILE_PARAM_STRING_LIST:
			if (pp->value.list.n > PROFILE_MAX_PARAM_ITEMS)
				return fail(e, field, "has %zu items; at most %d are allowed",
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
			return fail(e, field, "has an unknown type");
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
		return fail(e, field, "is not one of auto, udp, tcp, tls");
	if (sv->uri) {
		snprintf(field, sizeof(field), "%s.uri", name);
		r = check_sip_uri(e, field, sv->uri, &ui);
		if (r < 0)
			return r;
		if (registrar && ui.has_user)
			return fail(e, field, "'%s' has a user part; a registrar URI names only "
				    "the domain (RFC 3261 §10.2)", sv->uri);
		snprintf(field, sizeof(field), "%s.transport", name);
		if (ui.sips && (sv->transport == PROFILE_TRANSPORT_UDP ||
				sv->transport == PROFILE_TRANSPORT_TCP))
			return fail(e, field, "'%s' cannot carry the sips: URI %s, which needs TLS",
				    transport_param_name(sv->transport), sv->uri);
		if (ui.transport[0] && sv->transport != PROFILE_TRANSPORT_AUTO &&
		    strcmp(ui.transport, transport_param_name(sv->transport)) != 0)
			return fail(e, field, "'%s' contradicts transport=%s in %s",
				    transport_param_name(sv->transport), ui.transport, sv->uri);
	}
	if (sv->digest_user) {
		snprintf(field, sizeof(field), "%s.digest_user", name);
		r = check_text(e, field, sv->digest_user, PROFILE_MAX_STRING);
		if (r < 0)
			return r;
		if (!*sv->digest_user)
			return fail(e, field, "is empty");
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
		return fail(e, field, "'%s' is not a header field: expected 'Name: value'", h);
	nlen = (size_t)(colon - h);
	while (nlen > 0 && (h[nlen - 1] == ' ' || h[nlen - 1] == '\t'))
		nlen--;
	if (!is_token(h, nlen))
		return fail(e, field, "'%s' is not a header field: bad name", h);
	if (header_managed(h, nlen))
		return fail(e, field, "alrd writes %.*s itself; it cannot be an extra header",
			    (int)nlen, h);
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	if (!*v)
		return fail(e, field, "'%s' has an empty value", h);
	return 0;
}

static int validate_strv_count(const struct profile_strv *sv, const char *field,
			       struct profile_error *e)
{
	if (sv->n > PROFILE_MAX_LIST)
		return fail(e, field, "has %zu entries; at most %d are allowed", sv->n,
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
		return fail(e, "type", "has an unknown class");
	if (!p->type_name || !name_valid(p->type_name))
		return fail(e, "type", "needs a type name (1 to %d of A-Z a-z 0-9 _ . + -)",
			    PROFILE_MAX_NAME);
	profile_type_str(p, type, sizeof(type));
	if (ctx && ctx->lookup_type) {
		r = ctx->lookup_type(ctx->userdata, p->type_class, p->type_name, &caps);
		if (r == -ENOENT)
			return fail(e, "type", "no plugin serves type '%s'", type);
		if (r < 0)
			return fail(e, "type", "cannot look up type '%s': %s", type, strerror(-r));
	}

	if (p->provider_name) {
		r = check_text(e, "provider_name", p->provider_name, PROFILE_MAX_STRING);
		if (r < 0)
			return r;
	}

	/* AOR: a SIP/SIPS URI (the To of a REGISTER, RFC 3261 §10.2) */
	if (!p->aor)
		return fail(e, "aor", "is missing; a profile needs its address of record");
	r = check_sip_uri(e, "aor", p->aor, &ui);
	if (r < 0)
		return r;

	/* where to register */
	if (p->snap_id && p->iap_id)
		return fail(e, "snap_id", "SNAP %u and IAP %u are both set; a profile roams "
			    "across a SNAP or stays on one IAP, never both (set the other to null)",
			    p->snap_id, p->iap_id);
	if (p->snap_id && ctx && ctx->snap_exists && !ctx->snap_exists(ctx->userdata, p->snap_id))
		return fail(e, "snap_id", "there is no SNAP %u", p->snap_id);
	if (p->iap_id && ctx && ctx->iap_exists && !ctx->iap_exists(ctx->userdata, p->iap_id))
		return fail(e, "iap_id", "there is no IAP %u", p->iap_id);
	if ((unsigned)p->bearer >= _PROFILE_BEARER_MAX)
		return fail(e, "bearer", "is not one of any, wifi, cellular");

	/* servers */
	r = validate_server(&p->registrar, "registrar", true, e);
	if (r < 0)
		return r;
	r = validate_server(&p->outbound_proxy, "outbound_proxy", false, e);
	if (r < 0)
		return r;
	if (!p->registrar.uri && (caps & PROFILE_TYPE_NEEDS_REGISTRAR))
		return fail(e, "registrar.uri", "is missing; type '%s' needs a registrar", type);

	if (p->private_identity) {
		const char *at;

		r = check_text(e, "private_identity", p->private_identity, PROFILE_MAX_STRING);
		if (r < 0)
			return r;
		/* NAI form (RFC 4282 §2.1, 3GPP TS 23.003 §13.3): user@realm */
		at = strchr(p->private_identity, '@');
		if (strpbrk(p->private_identity, " \t") || !at || at == p->private_identity ||
		    !at[1] || strchr(at + 1, '@'))
			return fail(e, "private_identity", "'%s' is not of the form user@realm",
				    p->private_identity);
	} else if (caps & PROFILE_TYPE_NEEDS_PRIVATE_IDENTITY) {
		return fail(e, "private_identity", "is missing; type '%s' needs one", type);
	}

	/* A password needs a user name to go with it. */
	for (int i = 0; i < 2; i++) {
		const struct profile_server *sv = i ? &p->outbound_proxy : &p->registrar;

		if (sv->password && *sv->password && !sv->digest_user &&
		    !p->private_identity && !aor_has_user(p->aor))
			return fail(e, i ? "outbound_proxy.digest_user" : "registrar.digest_user",
				    "is missing: a password is set, and neither private_identity "
				    "nor the AOR has a user name");
	}

	if (p->security_negotiation && !(caps & PROFILE_TYPE_SECURITY_NEGOTIATION))
		return fail(e, "security_negotiation",
			    "type '%s' cannot negotiate security (RFC 3329)", type);
	if (p->sigcomp && !(caps & PROFILE_TYPE_SIGCOMP))
		return fail(e, "sigcomp", "type '%s' cannot do signalling compression", type);

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
			return fail(e, field, "'%s' is not a header parameter (name or name=value, "
				    "RFC 3261 §25.1)", cp);
		if (nlen == strlen("expires") && strncasecmp(cp, "expires", nlen) == 0)
			return fail(e, field, "set the expiry with the expires member");
		for (size_t j = 0; j < i; j++) {
			const char *q = p->contact_params.v[j];

			if (strcspn(q, "=") == nlen && strncasecmp(q, cp, nlen) == 0)
				return fail(e, field, "parameter '%.*s' is given twice", (int)nlen, cp);
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

	if (p->expires < PROFILE_EXPIRES_MIN || p->expires > PROFILE_EXPIRES_MAX)
		return fail(e, "expires", "%u is out of range (%d to %u seconds)", p->expires,
			    PROFILE_EXPIRES_MIN, PROFILE_EXPIRES_MAX);
	if (p->dscp > PROFILE_DSCP_MAX)
		return fail(e, "dscp", "%u is out of range (0 to %d)", p->dscp, PROFILE_DSCP_MAX);

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

/* ---- JSON out -------------------------------------------------------- */

static struct json_object *json_str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static struct json_object *strv_to_json(const struct profile_strv *sv)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; a && i < sv->n; i++)
		json_object_array_add(a, json_object_new_string(sv->v[i]));
	return a;
}

static struct json_object *params_to_json(const struct profile_params *ps)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; a && i < ps->n; i++) {
		const struct profile_param *pp = &ps->v[i];
		struct json_object *o = json_object_new_object(), *v = NULL;

		if (pp->name)
			json_object_object_add(o, "name", json_object_new_string(pp->name));
		else
			json_object_object_add(o, "key", json_object_new_int64(pp->key));
		json_object_object_add(o, "type",
				       json_object_new_string(profile_param_type_to_str(pp->type)));
		switch (pp->type) {
		case PROFILE_PARAM_INT:
			v = json_object_new_int64(pp->value.i);
			break;
		case PROFILE_PARAM_BOOL:
			v = json_object_new_boolean(pp->value.b);
			break;
		case PROFILE_PARAM_STRING:
			v = json_str_or_null(pp->value.s);
			break;
		case PROFILE_PARAM_STRING_LIST:
			v = strv_to_json(&pp->value.list);
			break;
		case _PROFILE_PARAM_TYPE_MAX:
			break;
		}
		json_object_object_add(o, "value", v);
		json_object_array_add(a, o);
	}
	return a;
}

static struct json_object *server_to_json(const struct profile_server *sv, bool secrets)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "uri", json_str_or_null(sv->uri));
	json_object_object_add(o, "transport",
			       json_object_new_string(profile_transport_to_str(sv->transport)));
	json_object_object_add(o, "digest_user", json_str_or_null(sv->digest_user));
	json_object_object_add(o, "realm", json_str_or_null(sv->realm));
	json_object_object_add(o, "password_set", json_object_new_boolean(sv->password != NULL ||
										    sv->ha1 != NULL));
	if (secrets && sv->password)
		json_object_object_add(o, "password", json_object_new_string(sv->password));
	json_object_object_add(o, "params", params_to_json(&sv->params));
	return o;
}

static struct json_object *id_or_null(unsigned int id)
{
	return id ? json_object_new_int64(id) : NULL;
}

struct json_object *profile_to_json(const struct profile *p, bool include_secrets)
{
	struct json_object *o = json_object_new_object();
	char type[PROFILE_MAX_NAME + 16];

	if (!o)
		return NULL;
	json_object_object_add(o, "id", json_object_new_int64(p->id));
	json_object_object_add(o, "provider_name", json_str_or_null(p->provider_name));
	json_object_object_add(o, "type",
			       json_object_new_string(profile_type_str(p, type, sizeof(type))));
	json_object_object_add(o, "aor", json_str_or_null(p->aor));
	json_object_object_add(o, "registered_aors", strv_to_json(&p->registered_aors));
	json_object_object_add(o, "registered_contact", json_str_or_null(p->registered_contact));
	/* the SNAP it roams across (0: the built-in default), null when it
	 * stays on one IAP */
	json_object_object_add(o, "snap_id", p->iap_id ? NULL : json_object_new_int64(p->snap_id));
	json_object_object_add(o, "iap_id", id_or_null(p->iap_id));
	json_object_object_add(o, "bearer",
			       json_object_new_string(profile_bearer_to_str(p->bearer)));
	json_object_object_add(o, "registrar", server_to_json(&p->registrar, include_secrets));
	json_object_object_add(o, "outbound_proxy",
			       server_to_json(&p->outbound_proxy, include_secrets));
	json_object_object_add(o, "proxy_from_dhcp", json_object_new_boolean(p->proxy_from_dhcp));
	json_object_object_add(o, "auto_register", json_object_new_boolean(p->auto_register));
	json_object_object_add(o, "default", json_object_new_boolean(p->is_default));
	json_object_object_add(o, "private_identity", json_str_or_null(p->private_identity));
	json_object_object_add(o, "security_negotiation",
			       json_object_new_boolean(p->security_negotiation));
	json_object_object_add(o, "sigcomp", json_object_new_boolean(p->sigcomp));
	json_object_object_add(o, "contact_params", strv_to_json(&p->contact_params));
	json_object_object_add(o, "extra_headers", strv_to_json(&p->extra_headers));
	json_object_object_add(o, "expires", json_object_new_int64(p->expires));
	json_object_object_add(o, "dscp", json_object_new_int64(p->dscp));
	json_object_object_add(o, "locked", json_object_new_boolean(p->locked));
	json_object_object_add(o, "params", params_to_json(&p->params));
	return o;
}

/* ---- JSON in --------------------------------------------------------- */

struct member;
typedef int (*apply_fn)(void *base, const struct member *m, const char *field,
			struct json_object *v, struct profile_error *e);

struct member {
	const char *name;
	apply_fn apply;
	size_t offset;
};

#define AT(base, m, type) ((type *)((char *)(base) + (m)->offset))

static const char *json_type_desc(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:    return "null";
	case json_type_boolean: return "a boolean";
	case json_type_double:  return "a fraction";
	case json_type_int:     return "an integer";
	case json_type_object:  return "an object";
	case json_type_array:   return "an array";
	case json_type_string:  return "a string";
	}
	return "unknown";
}

/* The string of @v, refusing embedded NULs. */
static int get_string(struct json_object *v, const char *field, const char **ret,
		      struct profile_error *e)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return fail(e, field, "must be a string, not %s", json_type_desc(v));
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s))
		return fail(e, field, "contains a NUL character");
	*ret = s;
	return 0;
}

static int get_int(struct json_object *v, const char *field, int64_t min, int64_t max,
		   int64_t *ret, struct profile_error *e)
{
	int64_t i;

	if (!json_object_is_type(v, json_type_int))
		return fail(e, field, "must be an integer, not %s", json_type_desc(v));
	i = json_object_get_int64(v);
	/* json-c clamps numbers beyond int64 to its limits */
	if ((i == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX) ||
	    i < min || i > max)
		return fail(e, field, "%s is out of range (%lld to %lld)",
			    json_object_get_string(v), (long long)min, (long long)max);
	*ret = i;
	return 0;
}

static int apply_readonly(void *base, const struct member *m, const char *field,
			  struct json_object *v, struct profile_error *e)
{
	return fail(e, field, "is read-only");
}

/* String: null or "" clears. */
static int apply_string(void *base, const struct member *m, const char *field,
			struct json_object *v, struct profile_error *e)
{
	const char *s = NULL;
	int r;

	if (v) {
		r = get_string(v, field, &s, e);
		if (r < 0)
			return r;
		if (!*s)
			s = NULL;
	}
	return profile_set_string(AT(base, m, char *), s, false);
}

/* Password: "" keeps the old one, null clears.  A new password or none
 * also drops the HA1 kept in its place (profile_seal_passwords). */
static int apply_password(void *base, const struct member *m, const char *field,
			  struct json_object *v, struct profile_error *e)
{
	struct profile_server *sv = base;
	const char *s = NULL;
	int r;

	if (v) {
		r = get_string(v, field, &s, e);
		if (r < 0)
			return r;
		if (!*s)
			return 0;
	}
	r = profile_set_string(&sv->ha1, NULL, true);
	return r < 0 ? r : profile_set_string(AT(base, m, char *), s, true);
}

static int apply_bool(void *base, const struct member *m, const char *field,
		      struct json_object *v, struct profile_error *e)
{
	if (!json_object_is_type(v, json_type_boolean))
		return fail(e, field, "must be true or false, not %s", json_type_desc(v));
	*AT(base, m, bool) = json_object_get_boolean(v);
	return 0;
}

/* snap_id: a SNAP id; 0 and null both mean the built-in default SNAP
 * (policy/policy.h: POLICY_DEFAULT_ID). */
static int apply_snap_id(void *base, const struct member *m, const char *field,
			 struct json_object *v, struct profile_error *e)
{
	int64_t i = 0;
	int r;

	if (v) {
		r = get_int(v, field, 0, UINT32_MAX, &i, e);
		if (r < 0)
			return r;
	}
	*AT(base, m, unsigned int) = (unsigned int)i;
	return 0;
}

/* iap_id: a stable IAP id (they start at 1), or null for none. */
static int apply_iap_id(void *base, const struct member *m, const char *field,
			struct json_object *v, struct profile_error *e)
{
	int64_t i;
	int r;

	if (!v) {
		*AT(base, m, unsigned int) = 0;
		return 0;
	}
	r = get_int(v, field, 0, UINT32_MAX, &i, e);
	if (r < 0)
		return r;
	if (i == 0)
		return fail(e, field, "0 is not an IAP id; null means none");
	*AT(base, m, unsigned int) = (unsigned int)i;
	return 0;
}

static int apply_u32(void *base, const struct member *m, const char *field,
		     struct json_object *v, struct profile_error *e)
{
	int64_t i;
	int r = get_int(v, field, 0, UINT32_MAX, &i, e);

	if (r < 0)
		return r;
	*AT(base, m, uint32_t) = (uint32_t)i;
	return 0;
}

static int apply_uint(void *base, const struct member *m, const char *field,
		      struct json_object *v, struct profile_error *e)
{
	int64_t i;
	int r = get_int(v, field, 0, UINT32_MAX, &i, e);

	if (r < 0)
		return r;
	*AT(base, m, unsigned int) = (unsigned int)i;
	return 0;
}

static int apply_enum(struct json_object *v, const char *field, int (*from_str)(const char *),
		      const char *choices, int *ret, struct profile_error *e)
{
	const char *s;
	int r = get_string(v, field, &s, e);

	if (r < 0)
		return r;
	r = from_str(s);
	if (r < 0)
		return fail(e, field, "'%s' is not one of %s", s, choices);
	*ret = r;
	return 0;
}

static int apply_bearer(void *base, const struct member *m, const char *field,
			struct json_object *v, struct profile_error *e)
{
	int b = 0, r = apply_enum(v, field, profile_bearer_from_str, "any, wifi, cellular", &b, e);

	if (r == 0)
		*AT(base, m, enum profile_bearer) = (enum profile_bearer)b;
	return r;
}

static int apply_transport(void *base, const struct member *m, const char *field,
			   struct json_object *v, struct profile_error *e)
{
	int t = 0, r = apply_enum(v, field, profile_transport_from_str, "auto, udp, tcp, tls", &t, e);

	if (r == 0)
		*AT(base, m, enum profile_transport) = (enum profile_transport)t;
	return r;
}

/* "ietf", "ims", "other/acme", "ietf/variant". */
static int apply_type(void *base, const struct member *m, const char *field,
		      struct json_object *v, struct profile_error *e)
{
	struct profile *p = base;
	char cls[16];
	const char *s, *slash, *name;
	size_t clen;
	int c, r;

	r = get_string(v, field, &s, e);
	if (r < 0)
		return r;
	slash = strchr(s, '/');
	clen = slash ? (size_t)(slash - s) : strlen(s);
	if (clen >= sizeof(cls))
		goto bad;
	memcpy(cls, s, clen);
	cls[clen] = '\0';
	c = profile_class_from_str(cls);
	if (c < 0)
		goto bad;
	name = slash ? slash + 1 : cls;
	if (!name_valid(name))
		goto bad;
	if (c == PROFILE_CLASS_OTHER && !slash)
		return fail(e, field, "'other' needs a type name, as in other/acme");
	r = profile_set_string(&p->type_name, name, false);
	if (r < 0)
		return r;
	p->type_class = (enum profile_class)c;
	return 0;
bad:
	return fail(e, field, "'%.*s' is not a profile type: ietf, ims or other/NAME "
		    "(a class, optionally /NAME)", PROFILE_MAX_NAME + 16, s);
}

static int apply_strv(void *base, const struct member *m, const char *field,
		      struct json_object *v, struct profile_error *e)
{
	struct profile_strv sv = { 0 }, *dst = AT(base, m, struct profile_strv);
	char item[112];
	size_t n;
	int r;

	if (v && !json_object_is_type(v, json_type_array))
		return fail(e, field, "must be an array of strings, not %s", json_type_desc(v));
	n = v ? json_object_array_length(v) : 0;
	if (n > PROFILE_MAX_LIST)
		return fail(e, field, "has %zu entries; at most %d are allowed", n, PROFILE_MAX_LIST);
	for (size_t i = 0; i < n; i++) {
		const char *s;

		snprintf(item, sizeof(item), "%s[%zu]", field, i);
		r = get_string(json_object_array_get_idx(v, i), item, &s, e);
		if (r == 0)
			r = profile_strv_push(&sv, s);
		if (r < 0) {
			profile_strv_clear(&sv);
			return r;
		}
	}
	profile_strv_clear(dst);
	*dst = sv;
	return 0;
}

static int param_from_json(struct profile_param *pp, struct json_object *o, const char *field,
			   struct profile_error *e)
{
	struct json_object *name = NULL, *key = NULL, *type = NULL, *value = NULL;
	bool has_value = false;
	char f[128];
	int t = -1, r;

	if (!json_object_is_type(o, json_type_object))
		return fail(e, field, "must be an object with name or key, type and value");
	json_object_object_foreach(o, k, mv) {
		if (strcmp(k, "name") == 0) {
			name = mv;
		} else if (strcmp(k, "key") == 0) {
			key = mv;
		} else if (strcmp(k, "type") == 0) {
			type = mv;
		} else if (strcmp(k, "value") == 0) {
			value = mv;
			has_value = true;
		} else {
			snprintf(f, sizeof(f), "%s.%s", field, k);
			return fail(e, f, "unknown member");
		}
	}
	if (!!name == !!key)
		return fail(e, field, "needs exactly one of name and key");
	if (name) {
		const char *s;

		snprintf(f, sizeof(f), "%s.name", field);
		r = get_string(name, f, &s, e);
		if (r < 0)
			return r;
		if (!name_valid(s))
			return fail(e, f, "'%.*s' is not a parameter name (1 to %d of A-Z a-z 0-9 _ . + -)",
				    PROFILE_MAX_NAME, s, PROFILE_MAX_NAME);
		if (!(pp->name = strdup(s)))
			return -ENOMEM;
	} else {
		int64_t num;

		snprintf(f, sizeof(f), "%s.key", field);
		r = get_int(key, f, 0, UINT32_MAX, &num, e);
		if (r < 0)
			return r;
		pp->key = (uint32_t)num;
	}
	snprintf(f, sizeof(f), "%s.value", field);
	if (!has_value || !value)
		return fail(e, f, "is missing");
	if (type) {
		char tf[128];

		snprintf(tf, sizeof(tf), "%s.type", field);
		r = apply_enum(type, tf, profile_param_type_from_str,
			       "int, bool, string, string-list", &t, e);
		if (r < 0)
			return r;
	} else {
		/* inferred from the value */
		switch (json_object_get_type(value)) {
		case json_type_int:     t = PROFILE_PARAM_INT; break;
		case json_type_boolean: t = PROFILE_PARAM_BOOL; break;
		case json_type_string:  t = PROFILE_PARAM_STRING; break;
		case json_type_array:   t = PROFILE_PARAM_STRING_LIST; break;
		case json_type_null:
		case json_type_double:
		case json_type_object:
			return fail(e, f, "must be an integer, a boolean, a string or an array "
				    "of strings, not %s", json_type_desc(value));
		}
	}
	pp->type = (enum profile_param_type)t;
	switch (pp->type) {
	case PROFILE_PARAM_INT:
		return get_int(value, f, INT64_MIN, INT64_MAX, &pp->value.i, e);
	case PROFILE_PARAM_BOOL:
		if (!json_object_is_type(value, json_type_boolean))
			return fail(e, f, "must be true or false for a bool parameter, not %s",
				    json_type_desc(value));
		pp->value.b = json_object_get_boolean(value);
		return 0;
	case PROFILE_PARAM_STRING: {
		const char *s;

		r = get_string(value, f, &s, e);
		if (r < 0)
			return r;
		return (pp->value.s = strdup(s)) ? 0 : -ENOMEM;
	}
	case PROFILE_PARAM_STRING_LIST: {
		size_t n;

		if (!json_object_is_type(value, json_type_array))
			return fail(e, f, "must be an array of strings for a string-list parameter, "
				    "not %s", json_type_desc(value));
		n = json_object_array_length(value);
		if (n > PROFILE_MAX_PARAM_ITEMS)
			return fail(e, f, "has %zu items; at most %d are allowed", n,
				    PROFILE_MAX_PARAM_ITEMS);
		for (size_t i = 0; i < n; i++) {
			char item[144];
			const char *s;

			snprintf(item, sizeof(item), "%s[%zu]", f, i);
			r = get_string(json_object_array_get_idx(value, i), item, &s, e);
			if (r == 0)
				r = profile_strv_push(&pp->value.list, s);
			if (r < 0)
				return r;
		}
		return 0;
	}
	case _PROFILE_PARAM_TYPE_MAX:
		break;
	}
	return -EINVAL;
}

static int apply_params(void *base, const struct member *m, const char *field,
			struct json_object *v, struct profile_error *e)
{
	struct profile_params ps = { 0 }, *dst = AT(base, m, struct profile_params);
	size_t n;
	int r;

	if (v && !json_object_is_type(v, json_type_array))
		return fail(e, field, "must be an array of parameter objects, not %s",
			    json_type_desc(v));
	n = v ? json_object_array_length(v) : 0;
	if (n > PROFILE_MAX_PARAMS)
		return fail(e, field, "has %zu parameters; at most %d are allowed", n,
			    PROFILE_MAX_PARAMS);
	for (size_t i = 0; i < n; i++) {
		struct profile_param *pp = profile_params_add(&ps);
		char item[112];

		if (!pp) {
			r = -ENOMEM;
			goto fail;
		}
		snprintf(item, sizeof(item), "%s[%zu]", field, i);
		r = param_from_json(pp, json_object_array_get_idx(v, i), item, e);
		if (r < 0)
			goto fail;
	}
	profile_params_clear(dst);
	*dst = ps;
	return 0;
fail:
	profile_params_clear(&ps);
	return r;
}

static int apply_members(void *base, const struct member *table, const char *prefix,
			 struct json_object *obj, struct profile_error *e);

static const struct member server_members[] = {
	{ "uri", apply_string, offsetof(struct profile_server, uri) },
	{ "transport", apply_transport, offsetof(struct profile_server, transport) },
	{ "digest_user", apply_string, offsetof(struct profile_server, digest_user) },
	{ "realm", apply_string, offsetof(struct profile_server, realm) },
	{ "password", apply_password, offsetof(struct profile_server, password) },
	{ "password_set", apply_readonly, 0 },
	{ "params", apply_params, offsetof(struct profile_server, params) },
	{ NULL, NULL, 0 },
};

/* A server object: members absent keep their value; null resets the server
 * (and forgets its password). */
static int apply_server(void *base, const struct member *m, const char *field,
			struct json_object *v, struct profile_error *e)
{
	struct profile_server *sv = AT(base, m, struct profile_server);

	if (!v) {
		server_clear(sv);
		return 0;
	}
	if (!json_object_is_type(v, json_type_object))
		return fail(e, field, "must be an object, not %s", json_type_desc(v));
	return apply_members(sv, server_members, field, v, e);
}

static const struct member profile_members[] = {
	{ "id", apply_readonly, 0 },
	{ "registered_aors", apply_readonly, 0 },
	{ "registered_contact", apply_readonly, 0 },
	{ "provider_name", apply_string, offsetof(struct profile, provider_name) },
	{ "type", apply_type, 0 },
	{ "aor", apply_string, offsetof(struct profile, aor) },
	{ "snap_id", apply_snap_id, offsetof(struct profile, snap_id) },
	{ "iap_id", apply_iap_id, offsetof(struct profile, iap_id) },
	{ "bearer", apply_bearer, offsetof(struct profile, bearer) },
	{ "registrar", apply_server, offsetof(struct profile, registrar) },
	{ "outbound_proxy", apply_server, offsetof(struct profile, outbound_proxy) },
	{ "proxy_from_dhcp", apply_bool, offsetof(struct profile, proxy_from_dhcp) },
	{ "auto_register", apply_bool, offsetof(struct profile, auto_register) },
	{ "default", apply_bool, offsetof(struct profile, is_default) },
	{ "private_identity", apply_string, offsetof(struct profile, private_identity) },
	{ "security_negotiation", apply_bool, offsetof(struct profile, security_negotiation) },
	{ "sigcomp", apply_bool, offsetof(struct profile, sigcomp) },
	{ "contact_params", apply_strv, offsetof(struct profile, contact_params) },
	{ "extra_headers", apply_strv, offsetof(struct profile, extra_headers) },
	{ "expires", apply_u32, offsetof(struct profile, expires) },
	{ "dscp", apply_uint, offsetof(struct profile, dscp) },
	{ "locked", apply_bool, offsetof(struct profile, locked) },
	{ "params", apply_params, offsetof(struct profile, params) },
	{ NULL, NULL, 0 },
};

static int apply_members(void *base, const struct member *table, const char *prefix,
			 struct json_object *obj, struct profile_error *e)
{
	json_object_object_foreach(obj, key, val) {
		const struct member *m;
		char field[96];
		int r;

		if (prefix)
			snprintf(field, sizeof(field), "%s.%s", prefix, key);
		else
			snprintf(field, sizeof(field), "%s", key);
		for (m = table; m->name; m++)
			if (strcmp(m->name, key) == 0)
				break;
		if (!m->name)
			return fail(e, field, "unknown member");
		r = m->apply(base, m, field, val, e);
		if (r < 0)
			return r;
	}
	return 0;
}

int profile_apply_json(struct profile *p, struct json_object *obj, struct profile_error *e)
{
	struct profile *work, tmp;
	int r;

	if (e)
		memset(e, 0, sizeof(*e));
	if (!json_object_is_type(obj, json_type_object))
		return fail(e, "profile", "must be an object, not %s", json_type_desc(obj));
	/* Work on a copy so that a failure halfway leaves @p as it was. */
	work = profile_dup(p);
	if (!work)
		return -ENOMEM;
	r = apply_members(work, profile_members, NULL, obj, e);
	if (r == -ENOMEM && e)
		fail(e, "profile", "out of memory");
	if (r == 0) {
		tmp = *p;
		*p = *work;
		*work = tmp;
	}
	profile_free(work);
	return r;
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
		if (!str_eq(sa[i]->uri, sb[i]->uri) || sa[i]->transport != sb[i]->transport)
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
	    a->expires != b->expires || a->dscp != b->dscp || a->locked != b->locked ||
	    !params_eq(&a->params, &b->params))
		minor = true;
	return minor ? PROFILE_CHANGE_MINOR : PROFILE_CHANGE_NONE;
}
