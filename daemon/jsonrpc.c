/* JSON-RPC 2.0 over newline-delimited JSON: framing, parsing, building. */
#include "daemon/jsonrpc.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alr/types.h"

int framer_init(struct framer *f, size_t max)
{
	*f = (struct framer){ .max = max };
	f->buf = malloc(max + 1);           /* + NUL */
	return f->buf ? 0 : -ENOMEM;
}

void framer_free(struct framer *f)
{
	free(f->buf);
	*f = (struct framer){ 0 };
}

/* The line handed out last stays in place until the next call, so the
 * caller's pointer is valid without a copy; drop it now. */
static void settle(struct framer *f)
{
	if (!f->pending)
		return;
	memmove(f->buf, f->buf + f->pending, f->len - f->pending);
	f->len -= f->pending;
	f->pending = 0;
	f->scanned = 0;
}

char *framer_space(struct framer *f, size_t *ret_avail)
{
	settle(f);
	*ret_avail = f->max - f->len;
	return f->buf + f->len;
}

void framer_commit(struct framer *f, size_t n)
{
	f->len += n;
}

enum framer_result framer_next(struct framer *f, char **ret_line, size_t *ret_len)
{
	char *nl;
	size_t n;

	settle(f);
	for (;;) {
		nl = memchr(f->buf + f->scanned, '\n', f->len - f->scanned);
		if (!f->discarding)
			break;
		if (!nl) {
			f->len = 0;
			f->scanned = 0;
			return FRAMER_NEED_MORE;
		}
		f->pending = (size_t)(nl - f->buf) + 1;
		f->discarding = false;
		settle(f);
	}
	if (!nl) {
		f->scanned = f->len;
		if (f->len == f->max) {
			/* Full without a newline: this line is over the limit.
			 * Drop what we have and the rest of it as it comes. */
			f->discarding = true;
			f->len = 0;
			f->scanned = 0;
			return FRAMER_TOO_LONG;
		}
		return FRAMER_NEED_MORE;
	}
	n = (size_t)(nl - f->buf);
	f->pending = n + 1;
	if (n > 0 && f->buf[n - 1] == '\r')
		n--;
	f->buf[n] = '\0';
	*ret_line = f->buf;
	*ret_len = n;
	return FRAMER_LINE;
}

/*
 * The length (1..4) of the well-formed UTF-8 sequence at @s (RFC 3629 §4:
 * no overlong forms, no surrogates, nothing above U+10FFFF), or 0.
 */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0;
	if (c < 0xe0)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c < 0xf0) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
			return 0;
		return 3;
	}
	if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
	    (s[3] & 0xc0) != 0x80)
		return 0;
	if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
		return 0;
	return 4;
}

bool jsonrpc_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0, n; i < len; i += n) {
		n = utf8_seq(p + i, len - i);
		if (!n)
			return false;
	}
	return true;
}

size_t jsonrpc_utf8_cut(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0;

	while (i < len) {
		size_t n = utf8_seq(p + i, len - i);

		if (!n)
			n = 1;          /* replaced on the way out */
		if (i + n > max)
			break;
		i += n;
	}
	return i;
}

bool framer_partial(const struct framer *f)
{
	return f->discarding || f->len > f->pending;
}

void jsonrpc_error_set(struct jsonrpc_error *e, int code, const char *fmt, ...)
{
	va_list ap;
	size_t n, i;
	int r;

	e->code = code;
	va_start(ap, fmt);
	r = vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	if (r < (int)sizeof(e->message))
		return;
	/* Cut short: drop a character the cut split, if any. */
	n = strlen(e->message);
	for (i = n; i > 0 && n - i < 3 && ((unsigned char)e->message[i - 1] & 0xc0) == 0x80; i--)
		;
	if (i > 0 && (unsigned char)e->message[i - 1] >= 0xc0 &&
	    utf8_seq((const unsigned char *)e->message + i - 1, n - i + 1) == 0)
		e->message[i - 1] = '\0';
}

void jsonrpc_error_done(struct jsonrpc_error *e)
{
	json_object_put(e->data);
	e->data = NULL;
}

void jsonrpc_request_done(struct jsonrpc_request *r)
{
	json_object_put(r->root);
	*r = (struct jsonrpc_request){ 0 };
}

/*
 * Whether a string of the (valid) JSON text holds the escape \u0000.
 * json-c hands member names and strings out as C strings, cut at the NUL:
 * "x\u0000y" would run method "x", a path would lose its tail.
 */
static bool has_nul_escape(const char *s, size_t len)
{
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		if (!in_string) {
			in_string = s[i] == '"';
			continue;
		}
		if (s[i] == '"') {
			in_string = false;
			continue;
		}
		if (s[i] != '\\' || ++i >= len)
			continue;
		if (s[i] == 'u' && len - i > 4 && memcmp(s + i + 1, "0000", 4) == 0)
			return true;
	}
	return false;
}

static bool valid_id(struct json_object *id)
{
	/* JSON-RPC 2.0 §4: String, Number, or Null. */
	switch (json_object_get_type(id)) {
	case json_type_null:
	case json_type_int:
	case json_type_double:
	case json_type_string:
		return true;
	case json_type_boolean:
	case json_type_object:
	case json_type_array:
		return false;
	}
	return false;
}

int jsonrpc_parse_request(const char *line, size_t len, struct jsonrpc_request *ret,
			  struct jsonrpc_error *e)
{
	struct json_tokener *tok;
	struct json_object *root, *v;
	enum json_tokener_error jerr;
	const char *nul;
	size_t end;

	*ret = (struct jsonrpc_request){ 0 };
	if (len > INT32_MAX) {
		jsonrpc_error_set(e, ALR_ERR_TOO_LARGE, "request too large");
		return -E2BIG;
	}
	nul = memchr(line, '\0', len);
	if (nul) {
		/* JSON has no raw NUL; json-c would stop reading there. */
		jsonrpc_error_set(e, ALR_ERR_PARSE, "parse error: NUL byte at byte %zu",
				  (size_t)(nul - line));
		return -EBADMSG;
	}
	tok = json_tokener_new_ex(64);      /* nesting limit */
	if (!tok) {
		jsonrpc_error_set(e, ALR_ERR_INTERNAL, "out of memory");
		return -ENOMEM;
	}
	/* The protocol is UTF-8: invalid bytes would otherwise be echoed
	 * back in error messages and break the client's decoder. */
	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, line, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (!root && jerr == json_tokener_continue) {
		/* A bare number ("42") waits for more digits: end it. */
		root = json_tokener_parse_ex(tok, " ", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	if (!root || jerr != json_tokener_success) {
		if (jerr == json_tokener_continue || jerr == json_tokener_success)
			jsonrpc_error_set(e, ALR_ERR_PARSE,
					  "parse error: unexpected end of input at byte %zu", len);
		else
			jsonrpc_error_set(e, ALR_ERR_PARSE, "parse error: %s at byte %zu",
					  json_tokener_error_desc(jerr), end);
		json_object_put(root);
		json_tokener_free(tok);
		return -EBADMSG;
	}
	if (end < len && strspn(line + end, " \t") != len - end) {
		jsonrpc_error_set(e, ALR_ERR_PARSE,
				  "parse error: unexpected data after the JSON value at byte %zu", end);
		json_object_put(root);
		json_tokener_free(tok);
		return -EBADMSG;
	}
	json_tokener_free(tok);
	ret->root = root;

	if (json_object_is_type(root, json_type_array)) {
		jsonrpc_error_set(e, ALR_ERR_INVALID_REQUEST,
				  "invalid request: batch requests (arrays) are not supported");
		return -EINVAL;
	}
	if (!json_object_is_type(root, json_type_object)) {
		jsonrpc_error_set(e, ALR_ERR_INVALID_REQUEST,
				  "invalid request: expected a JSON object");
		return -EINVAL;
	}
	if (json_object_object_get_ex(root, "id", &v)) {
		if (!valid_id(v)) {
			jsonrpc_error_set(e, ALR_ERR_INVALID_REQUEST,
					  "invalid request: 'id' must be a number, a string or null");
			return -EINVAL;
		}
		/* json-c writes a number back as it was read, and it reads
		 * some things that are not JSON ("09e" comes back as "09"):
		 * echo the id as the number it is (found by
		 * fuzz-jsonrpc-line). */
		if (json_object_is_type(v, json_type_double) ||
		    json_object_is_type(v, json_type_int))
			json_object_set_serializer(v, NULL, NULL, NULL);
		ret->id = v;
		ret->has_id = true;
	}
	if (has_nul_escape(line, len)) {
		jsonrpc_error_set(e, ALR_ERR_INVALID_REQUEST,
				  "invalid request: a string holds \\u0000 (NUL), which alrd does not accept");
		return -EINVAL;
	}
	if (!json_object_object_get_ex(root, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "2.0") != 0) {
		jsonrpc_error_set(e, ALR_ERR_INVALID_REQUEST,
				  "invalid request: \"jsonrpc\": \"2.0\" is missing");
		return -EINVAL;
	}
	if (!json_object_object_get_ex(root, "method", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		jsonrpc_error_set(e, ALR_ERR_INVALID_REQUEST,
				  "invalid request: 'method' must be a string");
		return -EINVAL;
	}
	ret->method = json_object_get_string(v);
	if (json_object_object_get_ex(root, "params", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_object)) {
			jsonrpc_error_set(e, ALR_ERR_INVALID_PARAMS,
					  "invalid params: 'params' must be an object");
			return -EINVAL;
		}
		ret->params = v;
	}
	json_object_object_foreach(root, key, val) {
		(void)val;
		if (strcmp(key, "jsonrpc") && strcmp(key, "id") && strcmp(key, "method") &&
		    strcmp(key, "params")) {
			jsonrpc_error_set(e, ALR_ERR_INVALID_REQUEST,
					  "invalid request: unknown member '%.*s%s'",
					  (int)jsonrpc_utf8_cut(key, 64), key,
					  key[jsonrpc_utf8_cut(key, 64)] ? "..." : "");
			return -EINVAL;
		}
	}
	return 0;
}

static struct json_object *envelope(struct json_object *id)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(o, "id", id);
	return o;
}

struct json_object *jsonrpc_result(struct json_object *id, struct json_object *result)
{
	struct json_object *o = envelope(id);

	json_object_object_add(o, "result", result ? result : json_object_new_object());
	return o;
}

struct json_object *jsonrpc_error_response(struct json_object *id, struct jsonrpc_error *e)
{
	struct json_object *o = envelope(id);
	struct json_object *err = json_object_new_object();

	json_object_object_add(err, "code", json_object_new_int(e->code));
	json_object_object_add(err, "message", json_object_new_string(e->message));
	if (e->data) {
		json_object_object_add(err, "data", e->data);
		e->data = NULL;
	}
	json_object_object_add(o, "error", err);
	return o;
}

struct json_object *jsonrpc_notification(const char *method, struct json_object *params)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(o, "method", json_object_new_string(method));
	json_object_object_add(o, "params", params ? params : json_object_new_object());
	return o;
}

/*
 * Copy @s, each byte that is not part of a well-formed UTF-8 sequence
 * replaced by U+FFFD.  JSON's structure is ASCII, so such bytes can only
 * be inside strings, where U+FFFD keeps the text valid JSON.
 */
static char *utf8_sanitize(const char *s, size_t len, size_t *ret_len)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = malloc(len * 3 + 2), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0, n; i < len; i += n) {
		n = utf8_seq(p + i, len - i);
		if (n) {
			memcpy(o, s + i, n);
			o += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			n = 1;
		}
	}
	*ret_len = (size_t)(o - out);
	return out;
}

char *jsonrpc_serialize(struct json_object *msg, size_t *ret_len)
{
	size_t len;
	const char *s = json_object_to_json_string_length(msg,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	char *out;

	if (!s)
		return NULL;
	if (jsonrpc_utf8_valid(s, len)) {
		out = malloc(len + 2);
		if (!out)
			return NULL;
		memcpy(out, s, len);
	} else {
		/* Every line must be UTF-8 (docs/protocol.md), whatever a
		 * string came from: an SSID, a file, a truncated message. */
		out = utf8_sanitize(s, len, &len);
		if (!out)
			return NULL;
	}
	out[len] = '\n';
	out[len + 1] = '\0';
	*ret_len = len + 1;
	return out;
}

static const char *type_name(int t)
{
	switch (t) {
	case json_type_null:    return "null";
	case json_type_boolean: return "a boolean";
	case json_type_double:  return "a number";
	case json_type_int:     return "an integer";
	case json_type_object:  return "an object";
	case json_type_array:   return "an array";
	case json_type_string:  return "a string";
	}
	return "unknown";
}

int jsonrpc_check_params(struct json_object *params, const struct jsonrpc_param *spec,
			 size_t n, struct jsonrpc_error *e)
{
	if (params) {
		json_object_object_foreach(params, key, val) {
			size_t i;

			for (i = 0; i < n; i++)
				if (strcmp(key, spec[i].name) == 0)
					break;
			if (i == n) {
				jsonrpc_error_set(e, ALR_ERR_INVALID_PARAMS,
						  "invalid params: unknown parameter '%.*s%s'",
						  (int)jsonrpc_utf8_cut(key, 64), key,
						  key[jsonrpc_utf8_cut(key, 64)] ? "..." : "");
				return -EINVAL;
			}
			if (!json_object_is_type(val, spec[i].type)) {
				jsonrpc_error_set(e, ALR_ERR_INVALID_PARAMS,
						  "invalid params: '%s' must be %s",
						  spec[i].name, type_name(spec[i].type));
				return -EINVAL;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (spec[i].required &&
		    !(params && json_object_object_get_ex(params, spec[i].name, NULL))) {
			jsonrpc_error_set(e, ALR_ERR_INVALID_PARAMS,
					  "invalid params: '%s' is required", spec[i].name);
			return -EINVAL;
		}
	}
	return 0;
}
