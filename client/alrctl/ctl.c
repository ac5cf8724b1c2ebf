/*
 * What every noun of alrctl shares: messages and exit statuses, the
 * connection and its calls, reading the daemon's JSON, aligned tables and
 * "key: value" lines, input files and lines.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "ctl.h"

/* --- messages, the connection and its calls --- */

struct ctl_output ctl_output;

/*
 * An error: "alrctl: MESSAGE" on stderr, or with -j one JSON object on a
 * line of its own, {"error": {"message": ..., "code": ...}}, where code is
 * alrd's JSON-RPC error code when alrd refused (@code != 0), and
 * "usage": true for a usage error (docs/alrctl.md, "JSON errors").
 */
static void vreport(int code, bool usage, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vreport(int code, bool usage, const char *fmt, va_list ap)
{
	struct json_object *o, *e;
	char *msg;

	if (!ctl_output.json_errors) {
		fputs("alrctl: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		return;
	}
	if (vasprintf(&msg, fmt, ap) < 0) {
		fputs("{\"error\":{\"message\":\"out of memory\"}}\n", stderr);
		return;
	}
	o = json_object_new_object();
	e = json_object_new_object();
	json_object_object_add(e, "message", json_object_new_string(msg));
	if (code)
		json_object_object_add(e, "code", json_object_new_int(code));
	if (usage)
		json_object_object_add(e, "usage", json_object_new_boolean(1));
	json_object_object_add(o, "error", e);
	fprintf(stderr, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	free(msg);
}

static void report(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(code, false, fmt, ap);
	va_end(ap);
}

void errorf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(0, false, fmt, ap);
	va_end(ap);
}

void oom(void)
{
	errorf("out of memory");
	exit(EX_OSERR);
}

int usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(0, true, fmt, ap);
	va_end(ap);
	if (!ctl_output.json_errors)
		fputs("Try 'alrctl --help' for more information.\n", stderr);
	return EX_USAGE;
}

/* Optimal string alignment distance: insertions, deletions,
 * substitutions and transpositions of neighbours each cost 1
 * ("stauts" is 1 from "status"). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[64][64];

	if (la >= 64 || lb >= 64)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t v = d[i - 1][j] + 1;

			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[la][lb];
}

/* Close enough to be a typo: at most 1 edit for words up to 4
 * characters, 2 up to 8, 3 beyond; a start of 3 characters or more
 * ("prof") counts as 1.  Two candidates as close: no guess. */
const char *ctl_suggest(const char *word, const char *const *cands, size_t n)
{
	size_t len = strlen(word), limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
	size_t best = SIZE_MAX;
	const char *found = NULL;
	bool tie = false;

	if (len == 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t dist = edit_distance(word, cands[i]);

		/* a prefix ("prof") is as good as one edit */
		if (dist > 1 && len >= 3 && !strncmp(cands[i], word, len))
			dist = 1;
		if (dist == 0 || dist > limit)
			continue;
		if (dist < best) {
			best = dist;
			found = cands[i];
			tie = false;
		} else if (dist == best && strcmp(found, cands[i]) != 0) {
			tie = true;
		}
	}
	return tie ? NULL : found;
}

const char *ctl_did_you_mean(const char *suggestion, char *buf, size_t size)
{
	if (!suggestion)
		return "";
	snprintf(buf, size, "; did you mean '%s'?", suggestion);
	return buf;
}

/* "iap list" field names: "ID NAME ... DEFAULT-ROUTE" */
int ctl_check_fields(const char *fields, const char *known, const char *what)
{
	const char *cands[64];
	char copy[512], one[128], hint[160];
	size_t n = 0;

	snprintf(copy, sizeof(copy), "%s", known);
	for (char *save = NULL, *w = strtok_r(copy, " ", &save); w && n < 64;
	     w = strtok_r(NULL, " ", &save))
		cands[n++] = w;
	for (const char *f = fields; *f; ) {
		size_t len = strcspn(f, ",");
		bool ok = false;

		snprintf(one, sizeof(one), "%.*s", (int)len, f);
		for (size_t i = 0; i < n && !ok; i++)
			ok = !strcasecmp(one, cands[i]);
		if (!ok) {
			char upper[128];

			for (size_t i = 0; i <= strlen(one) && i < sizeof(upper); i++)
				upper[i] = (char)toupper((unsigned char)one[i]);
			return usage_error("%s has no field '%s'%s (fields: %s)", what, one,
					   ctl_did_you_mean(ctl_suggest(upper, cands, n),
							    hint, sizeof(hint)), known);
		}
		f += len + (f[len] == ',');
	}
	return EX_OK;
}

/* The exit status for a failed library call, after saying why. */
int report_failure(int r, const struct alr_error *e)
{
	if (e->message[0])
		report(r == -EPROTO ? e->code : 0, "%s", e->message);
	else
		errorf("%s", strerror(-r));

	switch (r) {
	case -ETIMEDOUT:
		return EX_TEMPFAIL;
	case -ECONNRESET:
	case -EPIPE:
		/* closed on us, possibly saying why first */
		return e->code == ALR_ERR_BUSY ? EX_TEMPFAIL : EX_UNAVAILABLE;
	case -EPROTO:
		break;
	default:
		return EX_SOFTWARE;
	}

	switch (e->code) {
	case 0:
		return EX_PROTOCOL;       /* not an error object: garbage */
	case ALR_ERR_PERMISSION:
		return EX_NOPERM;
	case ALR_ERR_INVALID_PARAMS:
	case ALR_ERR_NOT_FOUND:
	case ALR_ERR_TOO_LARGE:
		/* too large: what we sent, an import file most likely */
		return EX_DATAERR;
	case ALR_ERR_CONFIG:
		return EX_CONFIG;
	case ALR_ERR_BUSY:
		return EX_TEMPFAIL;
	default:
		return EX_SOFTWARE;
	}
}

int ctl_connect(struct ctl *ctl)
{
	const char *path = ctl->socket ? ctl->socket : alr_client_default_socket();
	int r;

	r = alr_client_connect(path, &ctl->client);
	if (r == 0)
		return EX_OK;
	switch (r) {
	case -ENOENT:
	case -ECONNREFUSED:
	case -ENOTDIR:
		errorf("cannot connect to %s: %s (is alrd running? use -s or $%s)",
		       path, strerror(-r), ALR_SOCKET_ENV);
		return EX_UNAVAILABLE;
	case -EACCES:
	case -EPERM:
		errorf("cannot connect to %s: %s (the socket's mode and group, "
		       "socket-mode and socket-group in alrd.conf, decide who may)",
		       path, strerror(-r));
		return EX_NOPERM;
	default:
		errorf("cannot connect to %s: %s", path, strerror(-r));
		return EX_UNAVAILABLE;
	}
}

/* Call @method (taking @params), connecting first if need be; on failure
 * say why and return the exit status.  Connecting only here lets every
 * command check its arguments first: a usage error is reported as such
 * even when alrd is not running.  With @optional, an error answer (a
 * method an older alrd lacks) is no failure: *ret_result stays NULL and
 * EX_OK is returned; only a broken connection is reported. */
static int call(struct ctl *ctl, const char *method, struct json_object *params,
		struct json_object **ret_result, bool optional)
{
	struct alr_error e;
	int r;

	if (ret_result)
		*ret_result = NULL;
	if (!ctl->client) {
		int status = ctl_connect(ctl);

		if (status != EX_OK) {
			json_object_put(params);
			return status;
		}
	}
	r = alr_client_call(ctl->client, method, params, ctl->timeout_ms,
			    ret_result, &e);
	if (optional && r == -EPROTO && e.code != 0)
		return EX_OK;
	if (r < 0)
		return report_failure(r, &e);
	return EX_OK;
}

int ctl_call(struct ctl *ctl, const char *method,
	     struct json_object *params, struct json_object **ret_result)
{
	return call(ctl, method, params, ret_result, false);
}

int ctl_call_optional(struct ctl *ctl, const char *method,
		      struct json_object *params,
		      struct json_object **ret_result)
{
	return call(ctl, method, params, ret_result, true);
}

int ctl_call_show(struct ctl *ctl, const char *method,
		  struct json_object *params, struct json_object **ret_result)
{
	int status = ctl_call(ctl, method, params, ret_result);

	if (status == EX_OK && ctl->json) {
		print_json(*ret_result);
		json_object_put(*ret_result);
		*ret_result = NULL;
	}
	return status;
}

void ctl_done(struct ctl *ctl)
{
	alr_client_free(ctl->client);
	json_object_put(ctl->edit);
	if (ctl->sfd >= 0)
		close(ctl->sfd);
	if (ctl->tty >= 0)
		close(ctl->tty);
}

/* --- arguments and parameters --- */

bool is_number(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* A profile, SNAP or IAP id: digits only. */
int parse_id(const char *s, const char *what, int64_t *ret)
{
	char *end;
	long long v;

	if (!is_number(s))
		return usage_error("%s must be a number, not '%s'", what, s);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return usage_error("%s out of range: %s", what, s);
	*ret = v;
	return EX_OK;
}

struct json_object *new_object(void)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		oom();
	return o;
}

/* {"KEY": ID} */
struct json_object *id_params(const char *key, int64_t id)
{
	struct json_object *p = new_object();

	json_object_object_add(p, key, json_object_new_int64(id));
	return p;
}

/* One line, as the daemon sent it (NULL prints "null"). */
void print_json(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* --- reading the daemon's objects, tolerating anything missing --- */

struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object))
		return NULL;
	json_object_object_get_ex(o, key, &v);
	return v;
}

const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	return v && json_object_is_type(v, json_type_string)
	       ? json_object_get_string(v) : NULL;
}

bool jbool(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	return v && json_object_is_type(v, json_type_boolean) &&
	       json_object_get_boolean(v);
}

/* Any scalar as text: strings as they are, null as "-". */
const char *jtext(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	if (!v)
		return "-";
	if (json_object_is_type(v, json_type_boolean))
		return json_object_get_boolean(v) ? "yes" : "no";
	return json_object_get_string(v);
}

/* An integer member; false when there is none. */
bool jint64(struct json_object *o, const char *key, int64_t *ret)
{
	struct json_object *v = jget(o, key);

	if (!v || !json_object_is_type(v, json_type_int))
		return false;
	*ret = json_object_get_int64(v);
	return true;
}

struct json_object *result_array(struct json_object *result, const char *key)
{
	struct json_object *a = jget(result, key);

	return a && json_object_is_type(a, json_type_array) ? a : NULL;
}

/* --- aligned tables --- */

void table_init(struct table *t, size_t ncols, const char *const *headers)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->cap = ncols * 8;
	t->cells = calloc(t->cap, sizeof(char *));
	if (!t->cells)
		oom();
	for (size_t i = 0; i < ncols; i++)
		table_add(t, "%s", headers[i]);
}

/* Add a cell to the current row; a new row starts after ncols cells. */
void table_add(struct table *t, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	if (t->ncells == t->cap) {
		char **p = realloc(t->cells, 2 * t->cap * sizeof(char *));

		if (!p)
			oom();
		t->cells = p;
		t->cap *= 2;
	}
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	t->cells[t->ncells++] = s;
}

char *terse_escape(const char *s)
{
	char *out = malloc(2 * strlen(s) + 1), *p = out;

	if (!out)
		oom();
	for (; *s; s++) {
		if (*s == ':' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	*p = '\0';
	return out;
}

/* A header as a field name: blanks as '-' ("DEFAULT-ROUTE"). */
static bool field_is(const char *header, const char *field, size_t len)
{
	size_t i;

	for (i = 0; i < len && header[i]; i++) {
		char h = header[i] == ' ' ? '-' : header[i];

		if (toupper((unsigned char)h) != toupper((unsigned char)field[i]))
			return false;
	}
	return i == len && !header[i];
}

void table_print(struct table *t, const char *indent)
{
	size_t ncells = t->ncells, nrows = t->ncols ? ncells / t->ncols : 0;
	size_t width[16] = { 0 }, cols[16], n = 0;

	/* the columns shown, in order */
	if (ctl_output.fields) {
		for (const char *f = ctl_output.fields; *f && n < 16; ) {
			size_t len = strcspn(f, ",");

			for (size_t c = 0; c < t->ncols; c++)
				if (field_is(t->cells[c], f, len)) {
					cols[n++] = c;
					break;
				}
			f += len + (f[len] == ',');
		}
	} else {
		for (size_t c = 0; c < t->ncols && c < 16; c++)
			cols[n++] = c;
	}
	if (ctl_output.terse) {
		for (size_t r = 1; r < nrows; r++)
			for (size_t k = 0; k < n; k++) {
				char *cell = terse_escape(t->cells[r * t->ncols + cols[k]]);

				printf("%s%s", cell, k + 1 < n ? ":" : "\n");
				free(cell);
			}
		return;
	}
	for (size_t r = 0; r < nrows; r++)
		for (size_t k = 0; k < n; k++) {
			size_t len = strlen(t->cells[r * t->ncols + cols[k]]);

			if (len > width[k])
				width[k] = len;
		}
	for (size_t r = 0; r < nrows; r++) {
		fputs(indent, stdout);
		for (size_t k = 0; k < n; k++) {
			const char *cell = t->cells[r * t->ncols + cols[k]];

			if (k + 1 == n)
				printf("%s\n", cell);
			else
				printf("%-*s  ", (int)width[k], cell);
		}
	}
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* --- "key: value" lines --- */

void kv_add(struct kvlist *l, const char *key, const char *value)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 32;
		struct kv *p = realloc(l->v, cap * sizeof(*p));

		if (!p)
			oom();
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n].key = strdup(key);
	l->v[l->n].value = strdup(value);
	if (!l->v[l->n].key || !l->v[l->n].value)
		oom();
	l->n++;
}

bool kv_add_scalar(struct kvlist *l, const char *key, struct json_object *val)
{
	switch (json_object_get_type(val)) {
	case json_type_null:
		kv_add(l, key, "-");
		return true;
	case json_type_boolean:
		kv_add(l, key, json_object_get_boolean(val) ? "yes" : "no");
		return true;
	case json_type_int:
	case json_type_double:
	case json_type_string:
		kv_add(l, key, json_object_get_string(val));
		return true;
	case json_type_object:
	case json_type_array:
		break;
	}
	return false;
}

/* Whether -f selects @key: named, or under a name ("registrar" selects
 * registrar.uri and registrar.params[0]). */
static bool kv_selected(const char *key)
{
	if (!ctl_output.fields)
		return true;
	for (const char *f = ctl_output.fields; *f; ) {
		size_t len = strcspn(f, ",");

		if (!strncasecmp(key, f, len) && (key[len] == '\0' || key[len] == '.' ||
						  key[len] == '['))
			return true;
		f += len + (f[len] == ',');
	}
	return false;
}

/* "key: value" lines, the values aligned (-t: KEY:VALUE); frees the list.
 * A field of -f that selects nothing is a usage error. */
int kv_print(struct kvlist *l)
{
	size_t width = 0;
	int status = EX_OK;

	for (const char *f = ctl_output.fields; f && *f; ) {
		size_t len = strcspn(f, ",");
		bool found = false;

		for (size_t i = 0; i < l->n && !found; i++)
			found = !strncasecmp(l->v[i].key, f, len) &&
				(l->v[i].key[len] == '\0' || l->v[i].key[len] == '.' ||
				 l->v[i].key[len] == '[');
		if (!found && status == EX_OK)
			status = usage_error("no field '%.*s' in the answer", (int)len, f);
		f += len + (f[len] == ',');
	}
	for (size_t i = 0; i < l->n; i++)
		if (kv_selected(l->v[i].key) && strlen(l->v[i].key) > width)
			width = strlen(l->v[i].key);
	for (size_t i = 0; i < l->n; i++) {
		if (status == EX_OK && kv_selected(l->v[i].key)) {
			if (ctl_output.terse) {
				char *k = terse_escape(l->v[i].key), *v = terse_escape(l->v[i].value);

				printf("%s:%s\n", k, v);
				free(k);
				free(v);
			} else {
				printf("%s:%*s %s\n", l->v[i].key,
				       (int)(width - strlen(l->v[i].key)), "", l->v[i].value);
			}
		}
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
	return status;
}

/* Text of an export-format value (docs/profiles.md): bare, or a JSON
 * string when blanks at either end, quotes or brackets would be lost. */
static bool export_needs_quotes(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' ||
	    s[len - 1] == '\t' || s[0] == '"' || s[0] == '[')
		return true;
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return true;
	return false;
}

/* Extension parameters as the export format writes them: one line each,
 * "params.NAME: TYPE VALUE" (or params.#KEY). */
static void kv_params(struct kvlist *l, const char *name, struct json_object *params)
{
	size_t n = json_object_array_length(params);

	if (n == 0) {
		kv_add(l, name, "-");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(params, i);
		struct json_object *v = jget(p, "value");
		const char *pname = jstr(p, "name"), *type = jstr(p, "type");
		const char *text;
		char key[1088], *value;      /* name (< 512) and more */
		int64_t num;

		if (pname)
			snprintf(key, sizeof(key), "%s.%s", name, pname);
		else if (jint64(p, "key", &num))
			snprintf(key, sizeof(key), "%s.#%" PRId64, name, num);
		else
			snprintf(key, sizeof(key), "%s[%zu]", name, i);
		if (json_object_is_type(v, json_type_string) &&
		    !export_needs_quotes(json_object_get_string(v)))
			text = json_object_get_string(v);
		else
			text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE);
		if (asprintf(&value, "%s%s%s", type ? type : "", type ? " " : "", text) < 0)
			oom();
		kv_add(l, key, value);
		free(value);
	}
}

static void show_value(struct kvlist *l, const char *name, struct json_object *val,
		       bool profile)
{
	if (kv_add_scalar(l, name, val))
		return;
	switch (json_object_get_type(val)) {
	case json_type_null:
	case json_type_boolean:
	case json_type_int:
	case json_type_double:
	case json_type_string:
		break;                  /* kv_add_scalar() added them */
	case json_type_object: {
		char sub[520];

		if (json_object_object_length(val) == 0) {
			kv_add(l, name, "-");
			break;
		}
		snprintf(sub, sizeof(sub), "%s.", name);
		show_flatten(l, sub, val, profile);
		break;
	}
	case json_type_array: {
		size_t n = json_object_array_length(val);
		bool numbers = true;

		if (n == 0) {
			kv_add(l, name, "-");
			break;
		}
		for (size_t i = 0; i < n; i++) {
			enum json_type t = json_object_get_type(json_object_array_get_idx(val, i));

			if (t != json_type_int && t != json_type_double &&
			    t != json_type_boolean)
				numbers = false;
		}
		if (numbers) {
			/* ids, a ranking: one line */
			char *out = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&out, &len);

			if (!f)
				oom();
			for (size_t i = 0; i < n; i++)
				fprintf(f, "%s%s", i ? ", " : "",
					json_object_get_string(json_object_array_get_idx(val, i)));
			fclose(f);
			if (!out)
				oom();
			kv_add(l, name, out);
			free(out);
			break;
		}
		/* strings may hold anything, commas included: one line each */
		for (size_t i = 0; i < n; i++) {
			char item[520];

			snprintf(item, sizeof(item), "%s[%zu]", name, i);
			show_value(l, item, json_object_array_get_idx(val, i), profile);
		}
		break;
	}
	}
}

/* Every member of @o, in alrd's order.  In a profile, passwords (the
 * servers', the local one) show only whether one is set, and extension parameters as TYPE VALUE. */
void show_flatten(struct kvlist *l, const char *prefix,
		  struct json_object *o, bool profile)
{
	json_object_object_foreach(o, key, val) {
		char name[512];

		if ((!strcmp(key, "password_set") && *prefix) ||
		    (profile && !strcmp(key, "local_password_set"))) {
			snprintf(name, sizeof(name), "%s%.*s", prefix, (int)(strlen(key) - 4), key);
			kv_add(l, name, jbool(o, key) ? "(set)" : "(not set)");
			continue;
		}
		snprintf(name, sizeof(name), "%s%s", prefix, key);
		if (!strcmp(key, "password") || !strcmp(key, "local_password")) {
			/* alrd never sends one; should it, it is not shown */
			kv_add(l, name, val ? "(set)" : "(not set)");
			continue;
		}
		if (profile && !strcmp(key, "params") &&
		    json_object_is_type(val, json_type_array)) {
			kv_params(l, name, val);
			continue;
		}
		show_value(l, name, val, profile);
	}
}

/* --- input --- */

bool write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

/*
 * Read one line from @fd into @buf (without its "\n" or "\r\n"), a byte at
 * a time: nothing after the line is consumed, and no copy of a password
 * stays behind in a stdio buffer.  With @sfd >= 0, gives up when @sfd (a
 * signalfd) becomes readable.  Returns the length; -ENODATA at the end of
 * the input before any byte; -EMSGSIZE when the line does not fit; -EINTR
 * for a signal; or another negative errno.
 */
ssize_t read_line_fd(int fd, int sfd, char *buf, size_t size)
{
	size_t len = 0;

	for (;;) {
		ssize_t n;
		char c;

		if (sfd >= 0) {
			struct pollfd pfd[2] = {
				{ .fd = fd, .events = POLLIN },
				{ .fd = sfd, .events = POLLIN },
			};

			if (poll(pfd, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			if (pfd[1].revents)
				return -EINTR;
		}
		n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			if (len == 0)
				return -ENODATA;
			break;
		}
		if (c == '\n')
			break;
		if (len + 1 >= size)
			return -EMSGSIZE;
		buf[len++] = c;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return (ssize_t)len;
}

/*
 * Read @path ("-": standard input) whole, for a request.  Text only: a NUL
 * byte would end the string alrd receives.  The caller wipes and frees
 * *ret (an import file may hold passwords).
 */
int read_input_file(const char *path, char **ret, size_t *ret_len)
{
	bool is_stdin = !strcmp(path, "-");
	const char *name = is_stdin ? "standard input" : path;
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	int fd;

	if (!buf)
		oom();
	fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		errorf("cannot open %s: %s", path, strerror(errno));
		free(buf);
		return EX_NOINPUT;
	}
	for (;;) {
		ssize_t n;

		if (len + 1 == cap) {
			char *p;

			if (cap >= INPUT_FILE_MAX) {
				errorf("%s is larger than %d bytes", name, INPUT_FILE_MAX);
				explicit_bzero(buf, len);
				free(buf);
				if (!is_stdin)
					close(fd);
				return EX_DATAERR;
			}
			p = malloc(2 * cap);
			if (!p)
				oom();
			/* no realloc: the old buffer is wiped before it goes */
			memcpy(p, buf, len);
			explicit_bzero(buf, len);
			free(buf);
			buf = p;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			errorf("cannot read %s: %s", name, strerror(errno));
			explicit_bzero(buf, len);
			free(buf);
			if (!is_stdin)
				close(fd);
			return EX_NOINPUT;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (!is_stdin)
		close(fd);
	buf[len] = '\0';
	if (memchr(buf, '\0', len)) {
		errorf("%s holds a NUL byte: not a text file", name);
		explicit_bzero(buf, len);
		free(buf);
		return EX_DATAERR;
	}
	*ret = buf;
	*ret_len = len;
	return EX_OK;
}

/* --- --with-passwords: profile export and backup --- */

const struct option with_passwords_options[] = {
	{ "with-passwords", no_argument, NULL, OPT_WITH_PASSWORDS },
	{ "passwords",      no_argument, NULL, OPT_WITH_PASSWORDS },
	{ NULL, 0, NULL, 0 },
};

int with_passwords_option(struct ctl *ctl, int opt, const char *arg)
{
	ctl->with_passwords = true;
	return EX_OK;
}
