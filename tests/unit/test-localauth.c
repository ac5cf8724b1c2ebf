/* The edge's local password (edge/localauth.c): nonces issued, kept a
 * bounded time and number, and the check of an Authorization against a
 * profile's local password (RFC 7616 as RFC 3261 §22.4 uses it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/localauth.h"
#include "sip/digest.h"

#define NOW 1800000000
#define PASSWORD "s3cret"
#define FIXED_NONCE "00112233445566778899aabbccddeeff"

static osip_message_t *request(const char *method, const char *authorization)
{
	char text[2048];
	osip_message_t *m = NULL;

	snprintf(text, sizeof(text),
		 "%s sip:example.org SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
		 "From: <sip:alice@example.org>;tag=1\r\n"
		 "To: <sip:alice@example.org>\r\n"
		 "Call-ID: c1\r\n"
		 "CSeq: 1 %s\r\n"
		 "%s%s%s"
		 "Content-Length: 0\r\n\r\n",
		 method, method, authorization ? "Authorization: " : "",
		 authorization ? authorization : "", authorization ? "\r\n" : "");
	assert_int_equal(osip_message_init(&m), 0);
	assert_int_equal(osip_message_parse(m, text, strlen(text)), 0);
	return m;
}

/* What a softphone answers to @nonce (sip/digest.c, checked against the
 * RFCs' vectors in test-digest). */
static void answer(const char *nonce, enum digest_algorithm a, const char *user,
		   const char *password, uint32_t nc, char *buf, size_t size)
{
	char challenge[LOCALAUTH_CHALLENGE_MAX];
	struct digest_challenge c;
	struct digest_input in = {
		.method = "REGISTER", .uri = "sip:example.org", .username = user,
		.password = password, .cnonce = "0a4f113b", .nc = nc,
	};

	assert_int_equal(localauth_challenge(nonce, a, false, challenge, sizeof(challenge)), 0);
	assert_int_equal(digest_challenge_parse(challenge, strlen(challenge), &c), 0);
	assert_int_equal(digest_build_authorization(&c, &in, buf, size), 0);
}

static enum localauth_verdict check(struct localauth *la, const char *auth, int64_t now)
{
	osip_message_t *m = request("REGISTER", auth);
	enum localauth_verdict v = localauth_check(la, m, "alice", PASSWORD, now);

	osip_message_free(m);
	return v;
}

static void test_challenge(void **state)
{
	char buf[LOCALAUTH_CHALLENGE_MAX], small[20];
	struct digest_challenge c;

	assert_int_equal(localauth_challenge(FIXED_NONCE, DIGEST_ALGORITHM_MD5, false, buf,
					     sizeof(buf)), 0);
	assert_string_equal(buf, "Digest realm=\"alrd\", nonce=\"" FIXED_NONCE "\", "
			    "qop=\"auth\", algorithm=MD5");
	assert_int_equal(localauth_challenge(FIXED_NONCE, DIGEST_ALGORITHM_SHA256, true, buf,
					     sizeof(buf)), 0);
	assert_int_equal(digest_challenge_parse(buf, strlen(buf), &c), 0);
	assert_int_equal(c.algorithm, DIGEST_ALGORITHM_SHA256);
	assert_true(c.qop_auth && c.stale);
	assert_string_equal(c.realm, "alrd");
	assert_int_equal(localauth_challenge(FIXED_NONCE, DIGEST_ALGORITHM_MD5_SESS, false, buf,
					     sizeof(buf)), -EINVAL);
	assert_int_equal(localauth_challenge(FIXED_NONCE, DIGEST_ALGORITHM_MD5, false, small,
					     sizeof(small)), -ENOBUFS);
	assert_string_equal(small, "");
}

/* A vector computed apart (Python's hashlib): H(H(A1):nonce:nc:cnonce:auth:H(A2)). */
static void test_known_vector(void **state)
{
	struct localauth la;

	localauth_init(&la);
	snprintf(la.v[0].value, sizeof(la.v[0].value), FIXED_NONCE);
	la.v[0].issued = NOW;
	assert_int_equal(check(&la, "Digest username=\"alice\", realm=\"alrd\", nonce=\""
			       FIXED_NONCE "\", uri=\"sip:example.org\", "
			       "response=\"d9778b7fb64bb5e8f6d12869d2493322\", algorithm=MD5, "
			       "cnonce=\"0a4f113b\", qop=auth, nc=00000001", NOW + 1),
			 LOCALAUTH_OK);
	/* one bit off */
	assert_int_equal(check(&la, "Digest username=\"alice\", realm=\"alrd\", nonce=\""
			       FIXED_NONCE "\", uri=\"sip:example.org\", "
			       "response=\"d9778b7fb64bb5e8f6d12869d2493323\", algorithm=MD5, "
			       "cnonce=\"0a4f113b\", qop=auth, nc=00000002", NOW + 1),
			 LOCALAUTH_WRONG);
}

static void test_verdicts(void **state)
{
	struct localauth la;
	char nonce[LOCALAUTH_NONCE_LEN + 1], auth[1024];
	static const struct {
		const char *what;
		enum digest_algorithm alg;
		const char *user, *password;
		uint32_t nc;
		int64_t at;
		enum localauth_verdict want;
	} rows[] = {
		{ "right, MD5", DIGEST_ALGORITHM_MD5, "alice", PASSWORD, 1, NOW, LOCALAUTH_OK },
		{ "the same nc again", DIGEST_ALGORITHM_MD5, "alice", PASSWORD, 1, NOW, LOCALAUTH_STALE },
		{ "the next nc", DIGEST_ALGORITHM_MD5, "alice", PASSWORD, 2, NOW + 10, LOCALAUTH_OK },
		{ "right, SHA-256", DIGEST_ALGORITHM_SHA256, "alice", PASSWORD, 3, NOW, LOCALAUTH_OK },
		{ "wrong password", DIGEST_ALGORITHM_MD5, "alice", "secret", 4, NOW, LOCALAUTH_WRONG },
		{ "wrong user", DIGEST_ALGORITHM_MD5, "bob", PASSWORD, 5, NOW, LOCALAUTH_WRONG },
		{ "empty password", DIGEST_ALGORITHM_MD5, "alice", "", 6, NOW, LOCALAUTH_WRONG },
		{ "right, but expired", DIGEST_ALGORITHM_MD5, "alice", PASSWORD, 7,
		  NOW + LOCALAUTH_NONCE_LIFETIME, LOCALAUTH_STALE },
		{ "wrong and expired", DIGEST_ALGORITHM_MD5, "alice", "x", 8,
		  NOW + LOCALAUTH_NONCE_LIFETIME, LOCALAUTH_WRONG },
	};

	localauth_init(&la);
	assert_int_equal(localauth_new_nonce(&la, NOW, nonce), 0);
	assert_int_equal(strlen(nonce), LOCALAUTH_NONCE_LEN);
	assert_int_equal(check(&la, NULL, NOW), LOCALAUTH_NONE);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		answer(nonce, rows[i].alg, rows[i].user, rows[i].password, rows[i].nc, auth,
		       sizeof(auth));
		if (check(&la, auth, rows[i].at) != rows[i].want)
			fail_msg("%s: got %s, want %s", rows[i].what,
				 localauth_verdict_to_str(check(&la, auth, rows[i].at)),
				 localauth_verdict_to_str(rows[i].want));
	}
	/* a nonce alrd never issued (or forgot), with the right response */
	answer("ffeeddccbbaa99887766554433221100", DIGEST_ALGORITHM_MD5, "alice", PASSWORD, 1,
	       auth, sizeof(auth));
	assert_int_equal(check(&la, auth, NOW), LOCALAUTH_STALE);
}

static void test_malformed(void **state)
{
	struct localauth la;
	char nonce[LOCALAUTH_NONCE_LEN + 1], auth[1200];
	/* each row: what comes before the nonce, and after it */
	static const char *const bad[][2] = {
		/* response missing */
		{ "Digest username=\"alice\", realm=\"alrd\", nonce=\"",
		  "\", uri=\"sip:example.org\"" },
		/* an algorithm not offered */
		{ "Digest username=\"alice\", realm=\"alrd\", nonce=\"",
		  "\", uri=\"sip:example.org\", response=\"00\", algorithm=MD5-sess, "
		  "cnonce=\"a\", qop=auth, nc=00000001" },
		/* auth-int */
		{ "Digest username=\"alice\", realm=\"alrd\", nonce=\"",
		  "\", uri=\"sip:example.org\", response=\"00\", cnonce=\"a\", qop=auth-int, "
		  "nc=00000001" },
		/* qop without a count */
		{ "Digest username=\"alice\", realm=\"alrd\", nonce=\"",
		  "\", uri=\"sip:example.org\", response=\"00\", cnonce=\"a\", qop=auth" },
		/* a count that is not 8 hex digits */
		{ "Digest username=\"alice\", realm=\"alrd\", nonce=\"",
		  "\", uri=\"sip:example.org\", response=\"00\", cnonce=\"a\", qop=auth, nc=1" },
	};

	localauth_init(&la);
	assert_int_equal(localauth_new_nonce(&la, NOW, nonce), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(auth, sizeof(auth), "%s%s%s", bad[i][0], nonce, bad[i][1]);
		if (check(&la, auth, NOW) != LOCALAUTH_BAD)
			fail_msg("row %zu: got %s", i, localauth_verdict_to_str(check(&la, auth, NOW)));
	}
	/* another realm's credentials are not ours to check */
	snprintf(auth, sizeof(auth), "Digest username=\"alice\", realm=\"example.org\", "
		 "nonce=\"%s\", uri=\"sip:example.org\", response=\"00\"", nonce);
	assert_int_equal(check(&la, auth, NOW), LOCALAUTH_NONE);
}

/* At most LOCALAUTH_MAX_NONCES: the oldest goes first, an expired slot
 * is taken before a fresh one. */
static void test_nonces_bounded(void **state)
{
	struct localauth la;
	char first[LOCALAUTH_NONCE_LEN + 1], second[LOCALAUTH_NONCE_LEN + 1];
	char n[LOCALAUTH_NONCE_LEN + 1], auth[1024];

	localauth_init(&la);
	assert_int_equal(localauth_new_nonce(&la, NOW, first), 0);
	assert_int_equal(localauth_new_nonce(&la, NOW + 1, second), 0);
	assert_string_not_equal(first, second);
	for (int i = 2; i < LOCALAUTH_MAX_NONCES; i++)
		assert_int_equal(localauth_new_nonce(&la, NOW + 2, n), 0);
	/* full: the next one pushes out the oldest, @first */
	assert_int_equal(localauth_new_nonce(&la, NOW + 3, n), 0);
	answer(first, DIGEST_ALGORITHM_MD5, "alice", PASSWORD, 1, auth, sizeof(auth));
	assert_int_equal(check(&la, auth, NOW + 3), LOCALAUTH_STALE);
	answer(second, DIGEST_ALGORITHM_MD5, "alice", PASSWORD, 1, auth, sizeof(auth));
	assert_int_equal(check(&la, auth, NOW + 3), LOCALAUTH_OK);
	for (size_t i = 0; i < LOCALAUTH_MAX_NONCES; i++)
		assert_int_equal(strlen(la.v[i].value), LOCALAUTH_NONCE_LEN);
}

/* Without qop (RFC 2617 §3.2.2.1): the nonce serves once. */
static void test_without_qop(void **state)
{
	struct localauth la;
	struct digest_challenge c = { .algorithm = DIGEST_ALGORITHM_MD5 };
	struct digest_input in = {
		.method = "REGISTER", .uri = "sip:example.org", .username = "alice",
		.password = PASSWORD,
	};
	char nonce[LOCALAUTH_NONCE_LEN + 1], auth[1024];

	localauth_init(&la);
	assert_int_equal(localauth_new_nonce(&la, NOW, nonce), 0);
	snprintf(c.realm, sizeof(c.realm), "alrd");
	snprintf(c.nonce, sizeof(c.nonce), "%s", nonce);
	assert_int_equal(digest_build_authorization(&c, &in, auth, sizeof(auth)), 0);
	assert_int_equal(check(&la, auth, NOW), LOCALAUTH_OK);
	assert_int_equal(check(&la, auth, NOW), LOCALAUTH_STALE);
}

static int setup(void **state)
{
	return parser_init() == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_challenge),
		cmocka_unit_test(test_known_vector),
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_nonces_bounded),
		cmocka_unit_test(test_without_qop),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
