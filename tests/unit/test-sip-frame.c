/* sipframe: finding messages in a TCP byte stream. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sip/sipframe.h"

#define HEAD "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bKx\r\n"

struct frame_case {
	const char *name;
	const char *buf;
	size_t max;
	long r;
	size_t skip;
};

static const struct frame_case cases[] = {
	{ "no body", HEAD "Content-Length: 0\r\n\r\n", 1000, sizeof(HEAD) - 1 + 21, 0 },
	{ "body", HEAD "Content-Length: 3\r\n\r\nabcNEXT", 1000, sizeof(HEAD) - 1 + 21 + 3, 0 },
	{ "compact, spaces", HEAD "l :  3 \r\n\r\nabc", 1000, sizeof(HEAD) - 1 + 11 + 3, 0 },
	{ "case", HEAD "content-LENGTH:2\r\n\r\nab", 1000, sizeof(HEAD) - 1 + 20 + 2, 0 },
	{ "keepalives first", "\r\n\r\n\r\n" HEAD "Content-Length: 0\r\n\r\n", 1000, sizeof(HEAD) - 1 + 21, 6 },
	{ "only keepalives", "\r\n\r\n", 1000, 0, 4 },
	{ "partial head", HEAD "Content-Len", 1000, 0, 0 },
	{ "partial body", HEAD "Content-Length: 10\r\n\r\nabc", 1000, 0, 0 },
	{ "no Content-Length", HEAD "\r\n", 1000, sizeof(HEAD) - 1 + 2, 0 },
	{ "same twice", HEAD "Content-Length: 1\r\nl: 1\r\n\r\na", 1000, sizeof(HEAD) - 1 + 19 + 6 + 2 + 1, 0 },
	{ "differing twice", HEAD "Content-Length: 1\r\nl: 2\r\n\r\nab", 1000, -EBADMSG, 0 },
	{ "not a number", HEAD "Content-Length: x\r\n\r\n", 1000, -EBADMSG, 0 },
	{ "negative", HEAD "Content-Length: -1\r\n\r\n", 1000, -EBADMSG, 0 },
	{ "trailing junk", HEAD "Content-Length: 1 2\r\n\r\n", 1000, -EBADMSG, 0 },
	{ "huge", HEAD "Content-Length: 99999999999999999999999\r\n\r\n", 1000, -EMSGSIZE, 0 },
	{ "body too large", HEAD "Content-Length: 900\r\n\r\n", 200, -EMSGSIZE, 0 },
	{ "X-Content-Length is not it", HEAD "X-Content-Length: 5\r\n\r\n", 1000, sizeof(HEAD) - 1 + 23, 0 },
};

static void test_cases(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t skip = 99;
		long r = sipframe_next(cases[i].buf, strlen(cases[i].buf),
				       cases[i].max, &skip);

		if (r != cases[i].r || (r >= 0 && skip != cases[i].skip))
			fail_msg("%s: %ld skip %zu, expected %ld skip %zu",
				 cases[i].name, r, skip, cases[i].r,
				 cases[i].skip);
	}
}

static void test_head_too_long(void **state)
{
	char buf[300];
	size_t skip;

	memset(buf, 'a', sizeof(buf));
	assert_int_equal(sipframe_next(buf, sizeof(buf), 200, &skip), -EMSGSIZE);
	assert_int_equal(sipframe_next(buf, 100, 200, &skip), 0);
}

/* Byte by byte: nothing before the last byte, then the whole. */
static void test_incremental(void **state)
{
	const char *msg = HEAD "Content-Length: 4\r\n\r\nbody";
	size_t n = strlen(msg), skip;

	for (size_t i = 0; i < n; i++)
		assert_int_equal(sipframe_next(msg, i, 1000, &skip), 0);
	assert_int_equal(sipframe_next(msg, n, 1000, &skip), (long)n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_head_too_long),
		cmocka_unit_test(test_incremental),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
