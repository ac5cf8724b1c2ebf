/* Profile export format: [profile] sections of "key = value" lines, read
 * with inih. */
#include "daemon/profile-text.h"

#include <errno.h>
#include <ini.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "daemon/profile-json.h"

/* ---- export ---------------------------------------------------------- */

/*
 * A value is written bare when reading it back bare gives the same string:
 * not empty, no surrounding blanks, no control characters, and not starting
 * with '"' or '[' (which announce JSON).  Anything else is a JSON string, so
 * the escaping is json-c's, not ours.
 */
static bool bare_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || s[0] == '"' || s[0] == '[' || s[0] == ' ' || s[0] == '\t' ||
	    s[len - 1] == ' ' || s[len - 1] == '\t')
		return false;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

static int write_json(FILE *f, struct json_object *o)
{
	const char *s;
	int r = 0;

	if (!o)
		return -ENOMEM;
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		r = -ENOMEM;
	else
		fputs(s, f);
	json_object_put(o);
	return r;
}

static int write_string(FILE *f, const char *s)
{
	if (bare_ok(s)) {
		fputs(s, f);
		return 0;
	}
	return write_json(f, json_object_new_string(s));
}

static int write_kv(FILE *f, const char *prefix, const char *key, const char *value)
{
	if (!value)
		return 0;
	fprintf(f, "%s%s = ", prefix, key);
	if (write_string(f, value) < 0)
		return -ENOMEM;
	fputc('\n', f);
	return 0;
}

static int write_params(FILE *f, const char *prefix, const struct profile_params *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		const struct profile_param *pp = &ps->v[i];
		struct json_object *a;

		if (pp->name)
			fprintf(f, "%sparams.%s = ", prefix, pp->name);
		else
			fprintf(f, "%sparams.#%u = ", prefix, pp->key);
		fprintf(f, "%s ", profile_param_type_to_str(pp->type));
		switch (pp->type) {
		case PROFILE_PARAM_INT:
			fprintf(f, "%lld", (long long)pp->value.i);
			break;
		case PROFILE_PARAM_BOOL:
			fputs(pp->value.b ? "true" : "false", f);
			break;
		case PROFILE_PARAM_STRING:
			/* an empty string must be visible: "" */
			if (write_string(f, pp->value.s ? pp->value.s : "") < 0)
				return -ENOMEM;
			break;
		case PROFILE_PARAM_STRING_LIST:
			a = json_object_new_array();
			for (size_t j = 0; a && j < pp->value.list.n; j++)
				json_object_array_add(a, json_object_new_string(pp->value.list.v[j]));
			if (write_json(f, a) < 0)
				return -ENOMEM;
			break;
		case _PROFILE_PARAM_TYPE_MAX:
			break;
		}
		fputc('\n', f);
	}
	return 0;
}

static int write_server(FILE *f, const char *prefix, const struct profile_server *sv,
			bool passwords)
{
	if (write_kv(f, prefix, "uri", sv->uri) < 0)
		return -ENOMEM;
	fprintf(f, "%stransport = %s\n", prefix, profile_transport_to_str(sv->transport));
	if (write_kv(f, prefix, "digest_user", sv->digest_user) < 0 ||
	    write_kv(f, prefix, "realm", sv->realm) < 0 ||
	    write_kv(f, prefix, "ca_file", sv->ca_file) < 0 ||
	    (passwords && write_kv(f, prefix, "password", sv->password) < 0) ||
	    write_params(f, prefix, &sv->params) < 0)
		return -ENOMEM;
	return 0;
}

static const char *bool_str(bool b)
{
	return b ? "true" : "false";
}

static int write_profile(FILE *f, const struct profile *p, bool passwords)
{
	char type[PROFILE_MAX_NAME + 16];

	fputs("[profile]\n", f);
	if (p->id)
		fprintf(f, "# id %u\n", p->id);
	if (write_kv(f, "", "provider_name", p->provider_name) < 0)
		return -ENOMEM;
	fprintf(f, "type = %s\n", profile_type_str(p, type, sizeof(type)));
	if (write_kv(f, "", "aor", p->aor) < 0)
		return -ENOMEM;
	if (p->snap_id)
		fprintf(f, "snap_id = %u\n", p->snap_id);
	if (p->iap_id)
		fprintf(f, "iap_id = %u\n", p->iap_id);
	fprintf(f, "bearer = %s\n", profile_bearer_to_str(p->bearer));
	if (write_server(f, "registrar.", &p->registrar, passwords) < 0 ||
	    write_server(f, "outbound_proxy.", &p->outbound_proxy, passwords) < 0)
		return -ENOMEM;
	fprintf(f, "proxy_from_dhcp = %s\n", bool_str(p->proxy_from_dhcp));
	fprintf(f, "auto_register = %s\n", bool_str(p->auto_register));
	fprintf(f, "default = %s\n", bool_str(p->is_default));
	if (write_kv(f, "", "private_identity", p->private_identity) < 0)
		return -ENOMEM;
	fprintf(f, "security_negotiation = %s\n", bool_str(p->security_negotiation));
	fprintf(f, "sigcomp = %s\n", bool_str(p->sigcomp));
	for (size_t i = 0; i < p->contact_params.n; i++)
		if (write_kv(f, "", "contact_params", p->contact_params.v[i]) < 0)
			return -ENOMEM;
	for (size_t i = 0; i < p->extra_headers.n; i++)
		if (write_kv(f, "", "extra_headers", p->extra_headers.v[i]) < 0)
			return -ENOMEM;
	fprintf(f, "expires = %u\n", p->expires);
	fprintf(f, "dscp = %u\n", p->dscp);
	fprintf(f, "locked = %s\n", bool_str(p->locked));
	for (size_t i = 0; i < p->local_users.n; i++)
		if (write_kv(f, "", "local_users", p->local_users.v[i]) < 0)
			return -ENOMEM;
	if (passwords && write_kv(f, "", "local_password", p->local_password) < 0)
		return -ENOMEM;
	return write_params(f, "", &p->params);
}

int profile_text_export(const struct profile *const *profiles, size_t n,
			bool include_passwords, char **ret_text)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	int r = 0;

	if (!f)
		return -ENOMEM;
	fprintf(f, "# alrd profiles: %zu (format: docs/profiles.md)\n", n);
	fputs(include_passwords ?
	      "# This file holds passwords: keep it private.\n" :
	      "# Passwords are not included; set them after import.\n", f);
	for (size_t i = 0; i < n && r == 0; i++) {
		fputc('\n', f);
		r = write_profile(f, profiles[i], include_passwords);
	}
	if (fclose(f) != 0 && r == 0)
		r = -ENOMEM;
	if (r < 0) {
		if (buf)
			explicit_bzero(buf, size);
		free(buf);
		return r;
	}
	*ret_text = buf;
	return 0;
}

/* ---- import ---------------------------------------------------------- */

enum key_kind {
	KEY_STRING,
	KEY_BOOL,
	KEY_INT,
	KEY_LIST,               /* repeatable: one item per line */
};

static const struct key {
	const char *name;
	enum key_kind kind;
} keys[] = {
	{ "provider_name", KEY_STRING },
	{ "type", KEY_STRING },
	{ "aor", KEY_STRING },
	{ "snap_id", KEY_INT },
	{ "iap_id", KEY_INT },
	{ "bearer", KEY_STRING },
	{ "registrar.uri", KEY_STRING },
	{ "registrar.transport", KEY_STRING },
	{ "registrar.digest_user", KEY_STRING },
	{ "registrar.realm", KEY_STRING },
	{ "registrar.ca_file", KEY_STRING },
	{ "registrar.password", KEY_STRING },
	{ "outbound_proxy.uri", KEY_STRING },
	{ "outbound_proxy.transport", KEY_STRING },
	{ "outbound_proxy.digest_user", KEY_STRING },
	{ "outbound_proxy.realm", KEY_STRING },
	{ "outbound_proxy.ca_file", KEY_STRING },
	{ "outbound_proxy.password", KEY_STRING },
	{ "proxy_from_dhcp", KEY_BOOL },
	{ "auto_register", KEY_BOOL },
	{ "default", KEY_BOOL },
	{ "private_identity", KEY_STRING },
	{ "security_negotiation", KEY_BOOL },
	{ "sigcomp", KEY_BOOL },
	{ "contact_params", KEY_LIST },
	{ "extra_headers", KEY_LIST },
	{ "expires", KEY_INT },
	{ "dscp", KEY_INT },
	{ "locked", KEY_BOOL },
	{ "local_users", KEY_LIST },
	{ "local_password", KEY_STRING },
};

static const char *const param_prefixes[] = {
	"params.", "registrar.params.", "outbound_proxy.params.",
};

/* Which line set which field, to put a line number on a validation error. */
struct origin {
	char path[96];
	unsigned int line;
};

struct section {
	unsigned int line;              /* of the [profile] header */
	struct json_object *obj;
	struct origin *origins;
	size_t n_origins;
	unsigned int default_line;      /* "default = true", 0 if not */
};

static int text_fail(struct profile_text_error *e, unsigned int line, const char *field,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int text_fail(struct profile_text_error *e, unsigned int line, const char *field,
		     const char *fmt, ...)
{
	va_list ap;

	e->line = line;
	util_strlcpy(e->field, field ? field : "", sizeof(e->field));
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static void section_reset(struct section *s)
{
	json_object_put(s->obj);
	free(s->origins);
	memset(s, 0, sizeof(*s));
}

static int add_origin(struct section *s, const char *path, unsigned int line)
{
	struct origin *o = realloc(s->origins, (s->n_origins + 1) * sizeof(*o));

	if (!o)
		return -ENOMEM;
	s->origins = o;
	util_strlcpy(o[s->n_origins].path, path, sizeof(o->path));
	o[s->n_origins++].line = line;
	return 0;
}

/* The line of the longest recorded path that @field starts with, at a
 * '.' or '[' boundary; the section's line when none. */
static unsigned int origin_line(const struct section *s, const char *field)
{
	unsigned int line = s->line;
	size_t best = 0;

	for (size_t i = 0; i < s->n_origins; i++) {
		const char *p = s->origins[i].path;
		size_t len = strlen(p);

		if (strncmp(field, p, len) == 0 &&
		    (field[len] == '\0' || field[len] == '.' || field[len] == '[') && len > best) {
			best = len;
			line = s->origins[i].line;
		}
	}
	return line;
}

static const struct origin *find_origin(const struct section *s, const char *path)
{
	for (size_t i = 0; i < s->n_origins; i++)
		if (strcmp(s->origins[i].path, path) == 0)
			return &s->origins[i];
	return NULL;
}

/* A JSON value that must span the whole of @v: a string or an array. */
static struct json_object *parse_json_value(const char *v, enum json_type want)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;
	size_t len = strlen(v);

	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, v, (int)len);
	if (o && (json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, want))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* A string value: "JSON string", or the bare text.  NULL with *bad set
 * when a quoted value does not parse. */
static struct json_object *parse_string(const char *v, bool *bad)
{
	*bad = false;
	if (v[0] == '"') {
		struct json_object *o = parse_json_value(v, json_type_string);

		*bad = !o;
		return o;
	}
	return json_object_new_string(v);
}

static bool parse_int(const char *v, long long *ret)
{
	char *end;

	if (!*v)
		return false;
	errno = 0;
	*ret = strtoll(v, &end, 10);
	return !*end && errno == 0;
}

static bool parse_bool(const char *v, bool *ret)
{
	if (strcmp(v, "true") == 0)
		*ret = true;
	else if (strcmp(v, "false") == 0)
		*ret = false;
	else
		return false;
	return true;
}

/* The object at @path's parent ("registrar" for "registrar.uri"),
 * created on first use.  *@ret_leaf points at the last component. */
static struct json_object *parent_of(struct json_object *root, const char *path,
				     const char **ret_leaf)
{
	const char *dot = strchr(path, '.');
	struct json_object *sub;
	char name[32];

	if (!dot) {
		*ret_leaf = path;
		return root;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(dot - path), path);
	if (!json_object_object_get_ex(root, name, &sub)) {
		sub = json_object_new_object();
		if (!sub || json_object_object_add(root, name, sub) < 0)
			return NULL;
	}
	*ret_leaf = dot + 1;
	return sub;
}

static struct json_object *array_at(struct json_object *root, const char *path)
{
	const char *leaf;
	struct json_object *parent = parent_of(root, path, &leaf), *a;

	if (!parent)
		return NULL;
	if (!json_object_object_get_ex(parent, leaf, &a)) {
		a = json_object_new_array();
		if (!a || json_object_object_add(parent, leaf, a) < 0)
			return NULL;
	}
	return a;
}

static int import_param(struct section *s, const char *prefix, const char *key,
			const char *value, unsigned int line, struct profile_text_error *e)
{
	const char *id = key + strlen(prefix);
	char path[96], idx_path[112];
	struct json_object *o, *a, *v = NULL;
	const char *sp = strpbrk(value, " \t");
	char type[16];
	const char *rest;
	bool bad;
	long long ll;
	bool b;
	int t;

	/* "registrar.params.x" -> the array "registrar.params" */
	snprintf(path, sizeof(path), "%.*s", (int)(strlen(prefix) - 1), prefix);
	snprintf(type, sizeof(type), "%.*s", sp ? (int)(sp - value) : (int)strlen(value), value);
	t = profile_param_type_from_str(type);
	if (t < 0)
		return text_fail(e, line, key, "%s: '%s' is not a parameter type: expected "
				 "int, bool, string or string-list, then the value", key, type);
	rest = sp ? sp + strspn(sp, " \t") : "";
	switch ((enum profile_param_type)t) {
	case PROFILE_PARAM_INT:
		if (!parse_int(rest, &ll))
			return text_fail(e, line, key, "%s: '%s' is not an integer", key, rest);
		v = json_object_new_int64(ll);
		break;
	case PROFILE_PARAM_BOOL:
		if (!parse_bool(rest, &b))
			return text_fail(e, line, key, "%s: '%s' is not true or false", key, rest);
		v = json_object_new_boolean(b);
		break;
	case PROFILE_PARAM_STRING:
		v = parse_string(rest, &bad);
		if (bad)
			return text_fail(e, line, key, "%s: bad quoted string", key);
		break;
	case PROFILE_PARAM_STRING_LIST:
		v = parse_json_value(rest, json_type_array);
		if (!v)
			return text_fail(e, line, key, "%s: expected a JSON array of strings, "
					 "as in [\"a\", \"b\"]", key);
		break;
	case _PROFILE_PARAM_TYPE_MAX:
		break;
	}
	if (!v)
		return -ENOMEM;
	o = json_object_new_object();
	a = array_at(s->obj, path);
	if (!o || !a) {
		json_object_put(o);
		json_object_put(v);
		return -ENOMEM;
	}
	if (id[0] == '#') {
		if (!parse_int(id + 1, &ll) || ll < 0 || ll > UINT32_MAX) {
			json_object_put(o);
			json_object_put(v);
			return text_fail(e, line, key, "%s: '%s' is not a numeric key (0 to %u)",
					 key, id + 1, UINT32_MAX);
		}
		json_object_object_add(o, "key", json_object_new_int64(ll));
	} else {
		json_object_object_add(o, "name", json_object_new_string(id));
	}
	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "value", v);
	snprintf(idx_path, sizeof(idx_path), "%s[%zu]", path, json_object_array_length(a));
	json_object_array_add(a, o);
	if (add_origin(s, idx_path, line) < 0 || add_origin(s, key, line) < 0)
		return -ENOMEM;
	return 0;
}

static int import_line(struct section *s, const char *key, const char *value,
		       unsigned int line, struct profile_text_error *e)
{
	const struct key *k = NULL;
	const struct origin *prev;
	struct json_object *v = NULL, *parent;
	const char *leaf;
	long long ll;
	bool b, bad;

	for (size_t i = 0; i < ARRAY_SIZE(param_prefixes); i++)
		if (strncmp(key, param_prefixes[i], strlen(param_prefixes[i])) == 0) {
			prev = find_origin(s, key);
			if (prev)
				return text_fail(e, line, key, "%s is given twice (first on line %u)",
						 key, prev->line);
			return import_param(s, param_prefixes[i], key, value, line, e);
		}
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strcmp(keys[i].name, key) == 0)
			k = &keys[i];
	if (!k)
		return text_fail(e, line, key, "unknown key '%s'", key);
	if (k->kind != KEY_LIST) {
		prev = find_origin(s, key);
		if (prev)
			return text_fail(e, line, key, "%s is given twice (first on line %u)",
					 key, prev->line);
	}
	switch (k->kind) {
	case KEY_STRING:
	case KEY_LIST:
		if (!*value && k->kind == KEY_STRING)
			break;          /* empty: not set */
		v = parse_string(value, &bad);
		if (bad)
			return text_fail(e, line, key, "%s: bad quoted string", key);
		if (!v)
			return -ENOMEM;
		break;
	case KEY_BOOL:
		if (!parse_bool(value, &b))
			return text_fail(e, line, key, "%s: '%s' is not true or false", key, value);
		v = json_object_new_boolean(b);
		if (!v)
			return -ENOMEM;
		if (b && strcmp(key, "default") == 0)
			s->default_line = line;
		break;
	case KEY_INT:
		if (!parse_int(value, &ll))
			return text_fail(e, line, key, "%s: '%s' is not an integer", key, value);
		v = json_object_new_int64(ll);
		if (!v)
			return -ENOMEM;
		break;
	}
	if (k->kind == KEY_LIST) {
		struct json_object *a = array_at(s->obj, key);
		char path[112];

		if (!a) {
			json_object_put(v);
			return -ENOMEM;
		}
		snprintf(path, sizeof(path), "%s[%zu]", key, json_object_array_length(a));
		json_object_array_add(a, v);
		return add_origin(s, path, line);
	}
	parent = parent_of(s->obj, key, &leaf);
	if (!parent || json_object_object_add(parent, leaf, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return add_origin(s, key, line);
}

/* Turn a finished section into a profile: apply, then validate. */
static int finish_section(struct section *s, const struct profile_validate_ctx *ctx,
			  struct profile **ret, struct profile_text_error *e)
{
	struct profile_error pe;
	struct profile *p = profile_new();
	int r;

	if (!p)
		return -ENOMEM;
	r = profile_apply_json(p, s->obj, &pe);
	if (r == 0)
		r = profile_validate(p, ctx, &pe);
	if (r == -EINVAL) {
		profile_free(p);
		return text_fail(e, origin_line(s, pe.field), pe.field, "%s: %s", pe.field,
				 pe.reason);
	}
	if (r < 0) {
		profile_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

void profile_text_free(struct profile **profiles, size_t n)
{
	if (!profiles)
		return;
	for (size_t i = 0; i < n; i++)
		profile_free(profiles[i]);
	free(profiles);
}

/*
 * The text is parsed by inih (ini_parse_stream(), as alrd.conf is in
 * daemon/config.c), fed one line at a time by import_read_line(), which
 * does what Debian's build of inih cannot be asked to:
 *  - number the lines (its handler gets no line number) and refuse a NUL;
 *  - drop leading blanks, or an indented line would be taken for the
 *    continuation of the previous value;
 *  - keep the line as read: inih's buffer holds 200 bytes and ends a value
 *    at " ;" (an inline comment), while a value here may be a kilobyte of
 *    JSON holding anything.  The handler takes the value from where inih
 *    found it to the end of the line as read;
 *  - close a profile where the next [profile] begins: inih calls the
 *    handler for keys only, and every section has the same name.
 */
struct import {
	const char *pos, *end;          /* what is left of the text */
	unsigned int line;
	char *copy;                     /* the line as read (may hold a password) */
	size_t copy_len;
	const char *raw;                /* in @copy, blanks trimmed */
	const char *buf;                /* the same line in inih's buffer */
	bool key_line;                  /* inih must call the handler for it */
	bool handled;
	int r;                          /* the first error: parsing stops */
	struct profile_text_error *e;
	const struct profile_validate_ctx *ctx;
	struct section sec;
	bool in_section;
	unsigned int default_line;      /* of the default profile so far */
	struct profile **out;
	size_t n;
};

static int close_section(struct import *im)
{
	struct profile **v;
	int r;

	if (im->sec.default_line) {
		if (im->default_line)
			return text_fail(im->e, im->sec.default_line, "default",
					 "default: only one profile may be the default "
					 "(another is, on line %u)", im->default_line);
		im->default_line = im->sec.default_line;
	}
	v = realloc(im->out, (im->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	im->out = v;
	r = finish_section(&im->sec, im->ctx, &im->out[im->n], im->e);
	if (r < 0)
		return r;
	im->n++;
	section_reset(&im->sec);
	im->in_section = false;
	return 0;
}

static int open_section(struct import *im)
{
	int r;

	if (strcmp(im->raw, "[profile]") != 0)
		return text_fail(im->e, im->line, NULL, "unknown section '%s'; expected [profile]",
				 im->raw);
	if (im->in_section) {
		r = close_section(im);
		if (r < 0)
			return r;
	}
	if (im->n >= PROFILE_TEXT_MAX_PROFILES)
		return text_fail(im->e, im->line, NULL, "more than %d profiles",
				 PROFILE_TEXT_MAX_PROFILES);
	im->sec.line = im->line;
	im->sec.obj = json_object_new_object();
	if (!im->sec.obj)
		return -ENOMEM;
	im->in_section = true;
	return 0;
}

static void wipe_copy(struct import *im)
{
	if (im->copy) {
		explicit_bzero(im->copy, im->copy_len);
		free(im->copy);
	}
	im->copy = NULL;
	im->raw = NULL;
}

static char *import_read_line(char *str, int num, void *stream)
{
	struct import *im = stream;
	const char *nl;
	char *s, *end;
	size_t len;

	/* a line inih should have handed on: no '=' in it */
	if (im->r == 0 && im->key_line && !im->handled)
		im->r = text_fail(im->e, im->line, NULL, "expected 'key = value' or [profile]");
	im->key_line = false;
	if (im->r == 0 && im->pos >= im->end && im->in_section)
		im->r = close_section(im);
	if (im->r == 0 && im->pos < im->end && num < 4)
		im->r = text_fail(im->e, im->line, NULL, "inih's line buffer is too small");
	if (im->r < 0 || im->pos >= im->end) {
		if (num > 0)
			explicit_bzero(str, (size_t)num);
		return NULL;
	}
	nl = memchr(im->pos, '\n', (size_t)(im->end - im->pos));
	len = nl ? (size_t)(nl - im->pos) : (size_t)(im->end - im->pos);
	im->line++;
	if (memchr(im->pos, '\0', len)) {
		im->r = text_fail(im->e, im->line, NULL, "line %u holds a NUL byte", im->line);
		return NULL;
	}
	wipe_copy(im);
	im->copy = strndup(im->pos, len);
	im->copy_len = len;
	if (!im->copy) {
		im->r = -ENOMEM;
		return NULL;
	}
	im->pos += len + (nl ? 1 : 0);
	s = im->copy;
	if (im->line == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;         /* a UTF-8 byte order mark, which inih skips too */
	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	im->raw = s;
	if (*s == '[') {
		im->r = open_section(im);
		if (im->r < 0)
			return NULL;
	} else if (*s && *s != '#' && *s != ';') {
		im->key_line = true;
		im->handled = false;
	}
	/* What fits: the key and where its value starts are all inih must
	 * find (room for "\r\n\0", as daemon/config.c leaves). */
	len = (size_t)(end - s);
	if (len > (size_t)num - 3)
		len = (size_t)num - 3;
	memcpy(str, s, len);
	str[len] = '\0';
	im->buf = str;
	return str;
}

static int import_handler(void *user, const char *section, const char *key, const char *value)
{
	struct import *im = user;
	size_t off, k;

	im->handled = true;
	if (im->r < 0)
		return 0;
	if (!key || !value)
		return 1;       /* a section alone (not in Debian's build) */
	off = (size_t)(value - im->buf);
	if (value < im->buf || off > strlen(im->raw)) {
		im->r = text_fail(im->e, im->line, key, "%s: cannot read the value", key);
		return 0;
	}
	/* inih also splits at ':', the format at '=' only */
	for (k = off; k > 0 && (im->raw[k - 1] == ' ' || im->raw[k - 1] == '\t'); k--)
		;
	if (k == 0 || im->raw[k - 1] != '=') {
		im->r = text_fail(im->e, im->line, NULL, "expected 'key = value' or [profile]");
		return 0;
	}
	if (!im->in_section) {
		im->r = text_fail(im->e, im->line, key, "'%s' comes before the first [profile]", key);
		return 0;
	}
	im->r = import_line(&im->sec, key, im->raw + off, im->line, im->e);
	return im->r == 0;
}

int profile_text_import(const char *text, size_t len, const struct profile_validate_ctx *ctx,
			struct profile ***ret_profiles, size_t *ret_n,
			struct profile_text_error *e)
{
	struct import im = {
		.pos = text, .end = text + len, .e = e, .ctx = ctx,
	};
	int r;

	memset(e, 0, sizeof(*e));
	r = ini_parse_stream(import_read_line, &im, import_handler, &im);
	/* inih stopped on a line of its own accord (a build that stops at
	 * the first error), or could not allocate */
	if (im.r == 0 && r > 0)
		im.r = text_fail(e, (unsigned int)r, NULL, "expected 'key = value' or [profile]");
	else if (im.r == 0 && r < 0)
		im.r = -ENOMEM;
	wipe_copy(&im);
	section_reset(&im.sec);
	if (im.r < 0) {
		profile_text_free(im.out, im.n);
		if (im.r == -ENOMEM && !e->message[0])
			text_fail(e, im.line, NULL, "out of memory");
		return im.r;
	}
	*ret_profiles = im.out;
	*ret_n = im.n;
	return 0;
}
