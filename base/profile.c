/* The SIP profile object: enums, memory, copies (base/profile.h). */
#include "base/profile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void profile_server_clear(struct profile_server *sv)
{
	free(sv->uri);
	free(sv->digest_user);
	free(sv->realm);
	free(sv->ca_file);
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
	    profile_set_string(&dst->ca_file, src->ca_file, false) < 0 ||
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
	profile_server_clear(&p->registrar);
	profile_server_clear(&p->outbound_proxy);
	free(p->private_identity);
	profile_strv_clear(&p->contact_params);
	profile_strv_clear(&p->extra_headers);
	profile_strv_clear(&p->local_users);
	wipe_free(p->local_password);
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
	d->registered_contact = d->private_identity = d->local_password = NULL;
	memset(&d->registered_aors, 0, sizeof(d->registered_aors));
	memset(&d->contact_params, 0, sizeof(d->contact_params));
	memset(&d->extra_headers, 0, sizeof(d->extra_headers));
	memset(&d->local_users, 0, sizeof(d->local_users));
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
	    strv_copy(&d->local_users, &p->local_users) < 0 ||
	    profile_set_string(&d->local_password, p->local_password, true) < 0 ||
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

int profile_error_set(struct profile_error *e, const char *field, const char *fmt, ...)
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
