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

void jsonrpc_error_set(struct jsonrpc_error *e, int code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
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
	size_t end;

	*ret = (struct jsonrpc_request){ 0 };
	if (len > INT32_MAX) {
		jsonrpc_error_set(e, ALR_ERR_TOO_LARGE, "request too large");
		return -E2BIG;
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
		ret->id = v;
		ret->has_id = true;
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
					  "invalid request: unknown member '%.64s'", key);
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

char *jsonrpc_serialize(struct json_object *msg, size_t *ret_len)
{
	size_t len;
	const char *s = json_object_to_json_string_length(msg,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	char *out;

	if (!s)
		return NULL;
	out = malloc(len + 2);
	if (!out)
		return NULL;
	memcpy(out, s, len);
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
						  "invalid params: unknown parameter '%.64s'", key);
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
