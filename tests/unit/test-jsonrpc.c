/* JSON-RPC framing, request parsing, params checking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alr/types.h"
#include "daemon/jsonrpc.h"

static void feed(struct framer *f, const char *s)
{
	size_t avail;
	char *space = framer_space(f, &avail);
	size_t n = strlen(s);

	assert_true(n <= avail);
	memcpy(space, s, n);
	framer_commit(f, n);
}

static void expect_line(struct framer *f, const char *want)
{
	char *line;
	size_t len;

	assert_int_equal(framer_next(f, &line, &len), FRAMER_LINE);
	assert_int_equal(len, strlen(want));
	assert_string_equal(line, want);
}

static void test_framer_lines(void **state)
{
	struct framer f;
	char *line;
	size_t len;

	assert_int_equal(framer_init(&f, 32), 0);
	feed(&f, "ab");
	assert_int_equal(framer_next(&f, &line, &len), FRAMER_NEED_MORE);
	feed(&f, "c\r\nde\nf");
	expect_line(&f, "abc");          /* CRLF accepted */
	expect_line(&f, "de");
	assert_int_equal(framer_next(&f, &line, &len), FRAMER_NEED_MORE);
	feed(&f, "\n\n");
	expect_line(&f, "f");
	expect_line(&f, "");
	assert_int_equal(framer_next(&f, &line, &len), FRAMER_NEED_MORE);
	framer_free(&f);
}

static void test_framer_too_long_then_in_sync(void **state)
{
	struct framer f;
	char *line;
	size_t len;

	assert_int_equal(framer_init(&f, 8), 0);
	feed(&f, "12345678");           /* fills the buffer: no newline */
	assert_int_equal(framer_next(&f, &line, &len), FRAMER_TOO_LONG);
	feed(&f, "9abcdef");            /* rest of the long line */
	assert_int_equal(framer_next(&f, &line, &len), FRAMER_NEED_MORE);
	feed(&f, "gh\nok\n");
	expect_line(&f, "ok");          /* next line intact */
	assert_int_equal(framer_next(&f, &line, &len), FRAMER_NEED_MORE);
	/* A line of exactly max bytes including the newline fits. */
	feed(&f, "1234567\n");
	expect_line(&f, "1234567");
	framer_free(&f);
}

struct parse_case {
	const char *line;
	int code;               /* 0: valid */
	bool id_kept;
};

static void test_parse(void **state)
{
	static const struct parse_case cases[] = {
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"iap.list\"}", 0, true },
		{ "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"a\",\"params\":{}}  ", 0, true },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"a\"}", 0, false },
		{ "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"a\",\"params\":null}", 0, true },
		{ "this is not json", ALR_ERR_PARSE, false },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,", ALR_ERR_PARSE, false },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\"} trailing", ALR_ERR_PARSE, false },
		{ "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\"}]", ALR_ERR_INVALID_REQUEST, false },
		{ "42", ALR_ERR_INVALID_REQUEST, false },
		{ "{\"id\":3,\"method\":\"a\"}", ALR_ERR_INVALID_REQUEST, true },
		{ "{\"jsonrpc\":\"1.0\",\"id\":3,\"method\":\"a\"}", ALR_ERR_INVALID_REQUEST, true },
		{ "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":7}", ALR_ERR_INVALID_REQUEST, true },
		{ "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"a\"}", ALR_ERR_INVALID_REQUEST, false },
		{ "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"a\",\"params\":[1]}", ALR_ERR_INVALID_PARAMS, true },
		{ "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"a\",\"extra\":1}", ALR_ERR_INVALID_REQUEST, true },
		{ "\xff\xfe{}", ALR_ERR_PARSE, false },
		{ "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"\xff\xfe\"}", ALR_ERR_PARSE, false },
		{ "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"a\",\"params\":{\"n\xc3(\":1}}", ALR_ERR_PARSE, false },
		{ "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"caf\xc3\xa9\"}", 0, true },
		/* json-c would cut these strings at the NUL: refused. */
		{ "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"x\\u0000y\"}", ALR_ERR_INVALID_REQUEST, true },
		{ "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"a\",\"params\":{\"p\":\"/a\\u0000b\"}}",
		  ALR_ERR_INVALID_REQUEST, true },
		{ "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"a\",\"params\":{\"k\\u0000\":1}}",
		  ALR_ERR_INVALID_REQUEST, true },
		/* An escaped backslash before "u0000" is text, not a NUL. */
		{ "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"a\\\\u0000\"}", 0, true },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jsonrpc_request req;
		struct jsonrpc_error e = { 0 };
		int r = jsonrpc_parse_request(cases[i].line, strlen(cases[i].line), &req, &e);

		if (cases[i].code == 0 && r < 0)
			fail_msg("case %zu: unexpected error %s", i, e.message);
		if (cases[i].code != 0 && (r >= 0 || e.code != cases[i].code))
			fail_msg("case %zu: got %d (%s), want %d", i, e.code, e.message, cases[i].code);
		if ((req.id != NULL || req.has_id) != cases[i].id_kept)
			fail_msg("case %zu: id kept %d", i, req.has_id);
		jsonrpc_request_done(&req);
		jsonrpc_error_done(&e);
	}
}

static void test_deep_nesting_is_refused(void **state)
{
	char line[4096];
	size_t n = 0;
	struct jsonrpc_request req;
	struct jsonrpc_error e = { 0 };

	for (int i = 0; i < 1000; i++)
		line[n++] = '[';
	line[n] = '\0';
	assert_true(jsonrpc_parse_request(line, n, &req, &e) < 0);
	assert_int_equal(e.code, ALR_ERR_PARSE);
	jsonrpc_request_done(&req);
}

static void test_check_params(void **state)
{
	static const struct jsonrpc_param spec[] = {
		{ "id", json_type_int, true },
		{ "name", json_type_string, false },
	};
	struct jsonrpc_error e = { 0 };
	struct json_object *p;

	p = json_tokener_parse("{\"id\": 3}");
	assert_int_equal(jsonrpc_check_params(p, spec, 2, &e), 0);
	json_object_put(p);

	p = json_tokener_parse("{\"id\": \"3\"}");
	assert_true(jsonrpc_check_params(p, spec, 2, &e) < 0);
	assert_int_equal(e.code, ALR_ERR_INVALID_PARAMS);
	assert_non_null(strstr(e.message, "'id' must be an integer"));
	json_object_put(p);

	p = json_tokener_parse("{\"id\": 3, \"nmae\": \"x\"}");
	assert_true(jsonrpc_check_params(p, spec, 2, &e) < 0);
	assert_non_null(strstr(e.message, "unknown parameter 'nmae'"));
	json_object_put(p);

	assert_true(jsonrpc_check_params(NULL, spec, 2, &e) < 0);
	assert_non_null(strstr(e.message, "'id' is required"));
	assert_int_equal(jsonrpc_check_params(NULL, NULL, 0, &e), 0);
}

static void test_messages(void **state)
{
	struct jsonrpc_error e = { 0 };
	struct json_object *m;
	size_t len;
	char *s;

	jsonrpc_error_set(&e, ALR_ERR_NOT_FOUND, "no IAP with id %d", 9);
	m = jsonrpc_error_response(json_object_new_int(5), &e);
	s = jsonrpc_serialize(m, &len);
	assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32002,"
			       "\"message\":\"no IAP with id 9\"}}\n");
	assert_int_equal(len, strlen(s));
	free(s);
	json_object_put(m);

	m = jsonrpc_error_response(NULL, &e);      /* id unknown: null */
	s = jsonrpc_serialize(m, &len);
	assert_non_null(strstr(s, "\"id\":null"));
	free(s);
	json_object_put(m);

	m = jsonrpc_notification("iap.down", json_tokener_parse("{\"a\":\"x/y\"}"));
	s = jsonrpc_serialize(m, &len);
	assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"method\":\"iap.down\",\"params\":{\"a\":\"x/y\"}}\n");
	free(s);
	json_object_put(m);
}

static void check_utf8_json_line(const char *s, size_t len)
{
	struct json_object *o;

	assert_true(len > 0 && s[len - 1] == '\n');
	if (!jsonrpc_utf8_valid(s, len))
		fail_msg("not UTF-8: %s", s);
	o = json_tokener_parse(s);
	assert_non_null(o);
	json_object_put(o);
}

/* Issue 11 #6: what alrd writes is UTF-8 whatever it echoes. */
static void test_utf8_out(void **state)
{
	struct jsonrpc_request req;
	struct jsonrpc_error e = { 0 };
	struct json_object *m;
	char line[1024], name[256];
	size_t n = 0, len;
	char *s;

	/* An unknown member of 40 two-byte characters: cut at 64 bytes,
	 * on a character boundary. */
	for (int i = 0; i < 40; i++, n += 2)
		memcpy(name + n, "\xc3\xa9", 2);
	name[n] = '\0';
	/* Shifted by one byte, so that byte 64 falls inside a character. */
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",\"x%s\":1}", name);
	assert_true(jsonrpc_parse_request(line, strlen(line), &req, &e) < 0);
	assert_int_equal(e.code, ALR_ERR_INVALID_REQUEST);
	assert_true(jsonrpc_utf8_valid(e.message, strlen(e.message)));
	assert_non_null(strstr(e.message, "...'"));
	m = jsonrpc_error_response(json_object_get(req.id), &e);
	s = jsonrpc_serialize(m, &len);
	check_utf8_json_line(s, len);
	free(s);
	json_object_put(m);
	jsonrpc_request_done(&req);

	/* A message cut by its buffer does not end inside a character. */
	memset(line, 0, sizeof(line));
	for (n = 0; n < 600; n += 3)
		memcpy(line + n, "\xe2\x82\xac", 3);
	jsonrpc_error_set(&e, 1, "x%s", line);
	assert_true(jsonrpc_utf8_valid(e.message, strlen(e.message)));

	/* A string that is not UTF-8 (an SSID, say) is replaced on output. */
	m = jsonrpc_notification("iap.changed", json_object_new_object());
	json_object_object_add(json_object_object_get(m, "params"), "ssid",
			       json_object_new_string("caf\xe9 \xc3"));
	s = jsonrpc_serialize(m, &len);
	check_utf8_json_line(s, len);
	assert_non_null(strstr(s, "caf\xef\xbf\xbd \xef\xbf\xbd\""));
	free(s);
	json_object_put(m);

	assert_int_equal(jsonrpc_utf8_cut("ab\xc3\xa9", 3), 2);
	assert_int_equal(jsonrpc_utf8_cut("ab\xc3\xa9", 4), 4);
	assert_false(jsonrpc_utf8_valid("\xed\xa0\x80", 3));    /* a surrogate */
	assert_false(jsonrpc_utf8_valid("\xc0\xaf", 2));         /* overlong */
	assert_true(jsonrpc_utf8_valid("\xf0\x9f\x98\x80", 4));
}

/* Found by fuzz-jsonrpc-line: json-c takes the id 09e and wrote it back as
 * 09, which is not JSON.  Every answer must parse strictly. */
static void test_id_echoed_as_json(void **state)
{
	static const char *const lines[] = {
		"{\"jsonrpc\":\".0\",\"id\":09e,\"method\":\"x\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":1.50000,\"method\":\"x\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":007,\"method\":\"x\"}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct jsonrpc_request req = { 0 };
		struct jsonrpc_error e = { 0 };
		struct json_tokener *tok = json_tokener_new();
		struct json_object *msg, *back;
		const char *text;

		jsonrpc_parse_request(lines[i], strlen(lines[i]), &req, &e);
		if (!req.id) {
			jsonrpc_error_done(&e);
			jsonrpc_request_done(&req);
			json_tokener_free(tok);
			continue;
		}
		if (!e.code)
			jsonrpc_error_set(&e, ALR_ERR_INVALID_REQUEST, "x");
		msg = jsonrpc_error_response(json_object_get(req.id), &e);
		text = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN);
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
		back = json_tokener_parse_ex(tok, text, (int)strlen(text));
		if (!back)
			fail_msg("not JSON: %s", text);
		json_object_put(back);
		json_object_put(msg);
		json_tokener_free(tok);
		jsonrpc_request_done(&req);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_echoed_as_json),
		cmocka_unit_test(test_framer_lines),
		cmocka_unit_test(test_framer_too_long_then_in_sync),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_deep_nesting_is_refused),
		cmocka_unit_test(test_check_params),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_utf8_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
