/* The profile object on the control socket: struct profile <-> JSON
 * (docs/profiles.md), and the profile with its registration state. */
#include "daemon/profile-json.h"

#include <errno.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alr/registry.h"

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
	json_object_object_add(o, "ca_file", json_str_or_null(sv->ca_file));
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
	json_object_object_add(o, "local_users", strv_to_json(&p->local_users));
	json_object_object_add(o, "local_password_set",
			       json_object_new_boolean(p->local_password != NULL));
	if (include_secrets && p->local_password)
		json_object_object_add(o, "local_password",
				       json_object_new_string(p->local_password));
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
		return profile_error_set(e, field, "must be a string, not %s", json_type_desc(v));
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s))
		return profile_error_set(e, field, "contains a NUL character");
	*ret = s;
	return 0;
}

static int get_int(struct json_object *v, const char *field, int64_t min, int64_t max,
		   int64_t *ret, struct profile_error *e)
{
	int64_t i;

	if (!json_object_is_type(v, json_type_int))
		return profile_error_set(e, field, "must be an integer, not %s", json_type_desc(v));
	i = json_object_get_int64(v);
	/* json-c clamps numbers beyond int64 to its limits */
	if ((i == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX) ||
	    i < min || i > max)
		return profile_error_set(e, field, "%s is out of range (%lld to %lld)",
			    json_object_get_string(v), (long long)min, (long long)max);
	*ret = i;
	return 0;
}

static int apply_readonly(void *base, const struct member *m, const char *field,
			  struct json_object *v, struct profile_error *e)
{
	return profile_error_set(e, field, "is read-only");
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

/* A secret: "" keeps the old one, null clears.  1 when it changed. */
static int apply_secret(void *base, const struct member *m, const char *field,
			struct json_object *v, struct profile_error *e)
{
	const char *s = NULL;
	int r;

	if (v) {
		r = get_string(v, field, &s, e);
		if (r < 0)
			return r;
		if (!*s)
			return 0;
	}
	r = profile_set_string(AT(base, m, char *), s, true);
	return r < 0 ? r : 1;
}

static int apply_local_password(void *base, const struct member *m, const char *field,
				struct json_object *v, struct profile_error *e)
{
	int r = apply_secret(base, m, field, v, e);

	return r < 0 ? r : 0;
}

/* A server's password, as a secret; a new password or none also drops
 * the HA1 kept in its place (profile_seal_passwords). */
static int apply_password(void *base, const struct member *m, const char *field,
			  struct json_object *v, struct profile_error *e)
{
	struct profile_server *sv = base;
	int r = apply_secret(base, m, field, v, e);

	if (r <= 0)
		return r;
	r = profile_set_string(&sv->ha1, NULL, true);
	return r < 0 ? r : 0;
}

static int apply_bool(void *base, const struct member *m, const char *field,
		      struct json_object *v, struct profile_error *e)
{
	if (!json_object_is_type(v, json_type_boolean))
		return profile_error_set(e, field, "must be true or false, not %s", json_type_desc(v));
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
		return profile_error_set(e, field, "0 is not an IAP id; null means none");
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
		return profile_error_set(e, field, "'%s' is not one of %s", s, choices);
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
	if (!profile_name_valid(name))
		goto bad;
	if (c == PROFILE_CLASS_OTHER && !slash)
		return profile_error_set(e, field, "'other' needs a type name, as in other/acme");
	r = profile_set_string(&p->type_name, name, false);
	if (r < 0)
		return r;
	p->type_class = (enum profile_class)c;
	return 0;
bad:
	return profile_error_set(e, field, "'%.*s' is not a profile type: ietf, ims or other/NAME "
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
		return profile_error_set(e, field, "must be an array of strings, not %s", json_type_desc(v));
	n = v ? json_object_array_length(v) : 0;
	if (n > PROFILE_MAX_LIST)
		return profile_error_set(e, field, "has %zu entries; at most %d are allowed", n, PROFILE_MAX_LIST);
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
		return profile_error_set(e, field, "must be an object with name or key, type and value");
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
			return profile_error_set(e, f, "unknown member");
		}
	}
	if (!!name == !!key)
		return profile_error_set(e, field, "needs exactly one of name and key");
	if (name) {
		const char *s;

		snprintf(f, sizeof(f), "%s.name", field);
		r = get_string(name, f, &s, e);
		if (r < 0)
			return r;
		if (!profile_name_valid(s))
			return profile_error_set(e, f, "'%.*s' is not a parameter name (1 to %d of A-Z a-z 0-9 _ . + -)",
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
		return profile_error_set(e, f, "is missing");
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
			return profile_error_set(e, f, "must be an integer, a boolean, a string or an array "
				    "of strings, not %s", json_type_desc(value));
		}
	}
	pp->type = (enum profile_param_type)t;
	switch (pp->type) {
	case PROFILE_PARAM_INT:
		return get_int(value, f, INT64_MIN, INT64_MAX, &pp->value.i, e);
	case PROFILE_PARAM_BOOL:
		if (!json_object_is_type(value, json_type_boolean))
			return profile_error_set(e, f, "must be true or false for a bool parameter, not %s",
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
			return profile_error_set(e, f, "must be an array of strings for a string-list parameter, "
				    "not %s", json_type_desc(value));
		n = json_object_array_length(value);
		if (n > PROFILE_MAX_PARAM_ITEMS)
			return profile_error_set(e, f, "has %zu items; at most %d are allowed", n,
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
		return profile_error_set(e, field, "must be an array of parameter objects, not %s",
			    json_type_desc(v));
	n = v ? json_object_array_length(v) : 0;
	if (n > PROFILE_MAX_PARAMS)
		return profile_error_set(e, field, "has %zu parameters; at most %d are allowed", n,
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
	{ "ca_file", apply_string, offsetof(struct profile_server, ca_file) },
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
		profile_server_clear(sv);
		return 0;
	}
	if (!json_object_is_type(v, json_type_object))
		return profile_error_set(e, field, "must be an object, not %s", json_type_desc(v));
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
	{ "local_users", apply_strv, offsetof(struct profile, local_users) },
	{ "local_password", apply_local_password, offsetof(struct profile, local_password) },
	{ "local_password_set", apply_readonly, 0 },
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
			return profile_error_set(e, field, "unknown member");
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
		return profile_error_set(e, "profile", "must be an object, not %s", json_type_desc(obj));
	/* Work on a copy so that a failure halfway leaves @p as it was. */
	work = profile_dup(p);
	if (!work)
		return -ENOMEM;
	r = apply_members(work, profile_members, NULL, obj, e);
	if (r == -ENOMEM && e)
		profile_error_set(e, "profile", "out of memory");
	if (r == 0) {
		tmp = *p;
		*p = *work;
		*work = tmp;
	}
	profile_free(work);
	return r;
}

static int apply_patch(struct profile *p, const void *data, struct profile_error *e)
{
	/* json-c's accessors take a non-const object; none of them changes it */
	return profile_apply_json(p, (struct json_object *)data, e);
}

struct profile_patch profile_json_patch(struct json_object *obj)
{
	return (struct profile_patch){ .apply = apply_patch, .data = obj };
}

/* ---- the profile with its state (docs/protocol.md) -------------------- */

struct json_object *profile_status_to_json(const struct registry_profile_status *st)
{
	struct json_object *o = profile_to_json(st->profile, false);
	struct json_object *so = json_object_new_object(), *err = NULL;

	if (!o || !so) {
		json_object_put(o);
		json_object_put(so);
		return NULL;
	}
	json_object_object_add(so, "registration", json_object_new_string(st->registration));
	json_object_object_add(so, "phase", json_object_new_string(st->phase));
	json_object_object_add(so, "iap_id", st->iap_id ? json_object_new_int64(st->iap_id) : NULL);
	json_object_object_add(so, "contact", json_str_or_null(st->contact));
	json_object_object_add(so, "expires", st->expires ? json_object_new_int64(st->expires) : NULL);
	json_object_object_add(so, "users", json_object_new_int64((int64_t)st->users));
	json_object_object_add(so, "auto", json_object_new_boolean(st->auto_register));
	json_object_object_add(so, "suspended", json_object_new_boolean(st->suspended));
	json_object_object_add(so, "waiting_for_calls", json_object_new_boolean(st->held_by_calls));
	if (st->has_error) {
		err = json_object_new_object();
		json_object_object_add(err, "code", json_object_new_int(st->err_code));
		json_object_object_add(err, "kind", json_object_new_string(st->err_kind));
		json_object_object_add(err, "message", json_object_new_string(st->err_message));
	}
	json_object_object_add(so, "error", err);
	json_object_object_add(so, "plugin", json_str_or_null(st->plugin));
	json_object_object_add(so, "report", st->report[0] ? json_object_new_string(st->report) : NULL);
	json_object_object_add(so, "contact_user", json_object_new_string(st->contact_user));
	json_object_object_add(so, "instance", json_object_new_string(st->instance));
	json_object_object_add(so, "targets", st->targets[0] ?
			       json_object_new_string(st->targets) : NULL);
	json_object_object_add(so, "proxy", json_str_or_null(st->proxy));
	json_object_object_add(so, "proxy_from", st->proxy ?
			       json_object_new_string(st->proxy_iap ? "dhcp" : "configuration") : NULL);
	json_object_object_add(so, "proxy_iap_id", st->proxy_iap ?
			       json_object_new_int64(st->proxy_iap) : NULL);
	json_object_object_add(so, "dhcp", json_str_or_null(st->dhcp));
	json_object_object_add(o, "state", so);
	return o;
}
