/* alr/profile_agent.c: the URIs a binding is built with and what a
 * plugin sees of a profile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alr/profile_agent.h"

static void test_registrar_of_aor(void **state)
{
	static const struct {
		const char *aor, *want;
		int ret;
	} cases[] = {
		{ "sip:alice@example.org", "sip:example.org", 0 },
		{ "sip:alice@example.org:5080", "sip:example.org:5080", 0 },
		{ "sips:alice@10.0.0.1", "sips:10.0.0.1", 0 },
		{ "sip:alice@[2001:db8::1]:5060", "sip:[2001:db8::1]:5060", 0 },
		{ "not a uri", NULL, -EINVAL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = NULL;

		assert_int_equal(profile_agent_registrar_of_aor(cases[i].aor, &got), cases[i].ret);
		if (cases[i].want)
			assert_string_equal(got, cases[i].want);
		else
			assert_null(got);
		free(got);
	}
}

static void test_uri_with_transport(void **state)
{
	static const struct {
		const char *uri;
		enum profile_transport t;
		const char *want;
	} cases[] = {
		{ "sip:example.org", PROFILE_TRANSPORT_UDP, "sip:example.org;transport=udp" },
		{ "sip:example.org", PROFILE_TRANSPORT_TCP, "sip:example.org;transport=tcp" },
		{ "sip:example.org;transport=tcp", PROFILE_TRANSPORT_UDP,
		  "sip:example.org;transport=tcp" },
		{ "sip:example.org", PROFILE_TRANSPORT_AUTO, "sip:example.org" },
		{ "sip:example.org", PROFILE_TRANSPORT_TLS, "sip:example.org;transport=tls" },
		{ "sips:example.org", PROFILE_TRANSPORT_TLS, "sips:example.org" },
		{ "sips:example.org", PROFILE_TRANSPORT_AUTO, "sips:example.org" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = NULL;

		assert_int_equal(profile_agent_uri_with_transport(cases[i].uri, cases[i].t, &got), 0);
		assert_string_equal(got, cases[i].want);
		free(got);
	}
}

static void test_info_headers(void **state)
{
	struct profile *p = profile_new();
	struct profile_agent_info in;
	char *hdrs[] = { "X-One:  a b", "X-Two\t: c" };

	p->aor = strdup("sip:alice@example.org");
	p->extra_headers.v = hdrs;
	p->extra_headers.n = 2;
	assert_int_equal(profile_agent_info_build(&in, p), 0);
	assert_string_equal(in.info.aor, "sip:alice@example.org");
	assert_int_equal(in.info.n_extra_headers, 2);
	assert_string_equal(in.info.extra_headers[0].name, "X-One");
	assert_string_equal(in.info.extra_headers[0].value, "a b");
	assert_string_equal(in.info.extra_headers[1].name, "X-Two");
	assert_string_equal(in.info.extra_headers[1].value, "c");
	profile_agent_info_free(&in);
	p->extra_headers.v = NULL;
	p->extra_headers.n = 0;
	profile_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registrar_of_aor),
		cmocka_unit_test(test_uri_with_transport),
		cmocka_unit_test(test_info_headers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
