/* alr/secret.c: passwords sealed as HA1 where the realm is known. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alr/profile.h"
#include "alr/secret.h"
#include "daemon/profile-json.h"
#include "sip/digest.h"

static struct profile *profile_from(const char *json)
{
	struct profile *p = profile_new();
	struct json_object *o = json_tokener_parse(json);
	struct profile_error e;

	assert_non_null(o);
	if (profile_apply_json(p, o, &e) != 0)
		fail_msg("%s: %s: %s", json, e.field, e.reason);
	json_object_put(o);
	return p;
}

static int apply(struct profile *p, const char *json, struct profile_error *e)
{
	struct json_object *o = json_tokener_parse(json);
	int r;

	assert_non_null(o);
	r = profile_apply_json(p, o, e);
	json_object_put(o);
	return r;
}

static void test_sealed_with_a_realm(void **state)
{
	struct profile *p = profile_from(
		"{\"aor\": \"sip:alice@example.test\", \"registrar\": {\"uri\": "
		"\"sip:example.test\", \"realm\": \"example.test\", \"password\": \"s3cret\"},"
		" \"outbound_proxy\": {\"uri\": \"sip:proxy.example.test\", \"password\": \"px\"}}");
	struct digest_ha1 want, got;
	struct profile_error e;
	char *user = NULL;

	(void)state;
	assert_true(secret_profile_unsealed(p));
	assert_int_equal(secret_seal_profile(p, &e), 0);
	assert_false(secret_profile_unsealed(p));
	/* the registrar's password is gone, its HA1 is kept for the AOR's user */
	assert_null(p->registrar.password);
	assert_non_null(p->registrar.ha1);
	assert_null(strstr(p->registrar.ha1, "s3cret"));
	assert_int_equal(secret_open(p->registrar.ha1, &user, &got), 0);
	assert_string_equal(user, "alice");
	assert_int_equal(digest_ha1_compute("alice", "example.test", "s3cret", &want), 0);
	assert_string_equal(got.md5, want.md5);
	assert_string_equal(got.sha256, want.sha256);
	free(user);
	/* no realm: any realm may challenge, the password itself is needed */
	assert_string_equal(p->outbound_proxy.password, "px");
	assert_null(p->outbound_proxy.ha1);

	/* sealing again changes nothing */
	assert_int_equal(secret_seal_profile(p, &e), 0);

	/* the realm or the user changed without a new password: refused */
	assert_int_equal(apply(p, "{\"registrar\": {\"realm\": \"other.test\"}}", &e), 0);
	assert_int_equal(secret_seal_profile(p, &e), -EINVAL);
	assert_string_equal(e.field, "registrar.password");
	assert_non_null(strstr(e.reason, "realm 'example.test'"));
	assert_int_equal(apply(p, "{\"registrar\": {\"realm\": \"example.test\", "
			 "\"digest_user\": \"bob\"}}", &e), 0);
	assert_int_equal(secret_seal_profile(p, &e), -EINVAL);
	assert_non_null(strstr(e.reason, "user 'alice'"));
	assert_int_equal(apply(p, "{\"registrar\": {\"digest_user\": null, \"realm\": null}}",
			       &e), 0);
	assert_int_equal(secret_seal_profile(p, &e), -EINVAL);

	/* ... and with one, sealed anew */
	assert_int_equal(apply(p, "{\"registrar\": {\"realm\": \"other.test\", "
			 "\"digest_user\": \"bob\", \"password\": \"n3w\"}}", &e), 0);
	assert_null(p->registrar.ha1);         /* a new password drops the old HA1 */
	assert_int_equal(secret_seal_profile(p, &e), 0);
	assert_int_equal(secret_open(p->registrar.ha1, &user, &got), 0);
	assert_string_equal(user, "bob");
	assert_int_equal(digest_ha1_compute("bob", "other.test", "n3w", &want), 0);
	assert_string_equal(got.md5, want.md5);
	free(user);

	/* clearing the password clears the HA1 too */
	assert_int_equal(apply(p, "{\"registrar\": {\"password\": null}}", &e), 0);
	assert_null(p->registrar.ha1);
	assert_null(p->registrar.password);
	profile_free(p);
}

static void test_damaged_records_refused(void **state)
{
	static const char *const bad[] = {
		"", "ha1:1\n", "ha1:2\nalice\nr\n" , "ha1:1\nalice\nr\nabc\ndef",
		"ha1:1\n\nr\n0123456789abcdef0123456789abcdef\n"
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"ha1:1\nalice\nr\n0123456789abcdef0123456789abcdef\n"
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\nextra",
	};
	struct digest_ha1 h;
	char *user;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(secret_open(bad[i], &user, &h), -EINVAL);
	assert_int_equal(secret_open("ha1:1\nalice\nr\n0123456789abcdef0123456789abcdef\n"
				     "0123456789abcdef0123456789abcdef0123456789abcdef"
				     "0123456789abcdef", &user, &h), 0);
	assert_string_equal(user, "alice");
	free(user);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sealed_with_a_realm),
		cmocka_unit_test(test_damaged_records_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
