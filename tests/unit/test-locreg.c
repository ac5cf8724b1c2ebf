/* The table of local registrations (edge/locreg.c): RFC 3261 §10.3 as a
 * registrar of one profile's local bindings -- add, refresh, remove,
 * Contact: *, expiry, Call-ID/CSeq ordering, limits -- and what it
 * reports; and the edge's address parsing (edge/edge.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge.h"
#include "edge/locreg.h"
#include "sip/sipmsg.h"

#define NOW 1800000000

static const struct locreg_limits LIM = {
	.min_expires = 60, .max_expires = 3600, .default_expires = 1800, .max_per_profile = 3,
};

struct seen {
	char what[32][16];
	char contact[32][64];
	size_t n;
};

static void on_change(const struct locreg *r, enum locreg_change what, void *ud)
{
	struct seen *s = ud;

	assert_true(s->n < 32);
	snprintf(s->what[s->n], sizeof(s->what[0]), "%s", locreg_change_to_str(what));
	snprintf(s->contact[s->n], sizeof(s->contact[0]), "%s", r->contact);
	s->n++;
}

struct fx {
	struct locreg_table *t;
	struct seen seen;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	sipmsg_library_init();
	f->t = locreg_table_new(on_change, &f->seen);
	assert_non_null(f->t);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	locreg_table_free(f->t);
	free(f);
	return 0;
}

/* One REGISTER: call_id, cseq, expires header, contacts "uri" or "uri;N". */
static int apply(struct fx *f, unsigned pid, const char *cid, uint32_t cseq, int64_t expires,
		 int64_t now, const char *const *contacts, size_t n, struct locreg_result *res)
{
	struct locreg_contact c[LOCREG_MAX_CONTACTS + 2];
	char uris[LOCREG_MAX_CONTACTS + 2][64];
	struct locreg_request req = {
		.call_id = cid, .cseq = cseq, .expires = expires, .uid = 1000,
		.user_agent = "test", .source = "udp:127.0.0.1:5060",
	};

	for (size_t i = 0; i < n; i++) {
		const char *semi = strchr(contacts[i], ';');

		if (strcmp(contacts[i], "*") == 0) {
			req.star = true;
			continue;
		}
		snprintf(uris[req.n_contacts], sizeof(uris[0]), "%.*s",
			 (int)(semi ? (size_t)(semi - contacts[i]) : strlen(contacts[i])), contacts[i]);
		c[req.n_contacts].uri = uris[req.n_contacts];
		c[req.n_contacts].expires = semi ? atoll(semi + 1) : -1;
		req.n_contacts++;
	}
	req.contacts = c;
	assert_int_equal(locreg_table_apply(f->t, pid, &req, &LIM, now, res), 0);
	return res->code;
}

#define A "sip:a@127.0.0.1:5060"
#define B "sip:b@127.0.0.1:5070"
#define C "sip:c@127.0.0.1:5080"
#define D "sip:d@127.0.0.1:5090"

static void test_add_refresh_remove(void **state)
{
	struct fx *f = *state;
	struct locreg_result res;
	const struct locreg *r;

	assert_int_equal(apply(f, 1, "cid", 1, 600, NOW, (const char *[]){ A }, 1, &res), 200);
	assert_int_equal(locreg_table_count(f->t, 1), 1);
	r = locreg_table_at(f->t, 1, 0);
	assert_string_equal(r->contact, A);
	assert_int_equal(r->expires_at, NOW + 600);
	assert_int_equal(r->uid, 1000);
	assert_string_equal(r->user_agent, "test");
	/* A contact's own expires wins over the header; the default applies
	 * with neither. */
	assert_int_equal(apply(f, 1, "cid", 2, 600, NOW + 10, (const char *[]){ A ";120" }, 1,
			       &res), 200);
	assert_int_equal(locreg_table_at(f->t, 1, 0)->expires_at, NOW + 130);
	assert_int_equal(apply(f, 1, "cid", 3, -1, NOW + 10, (const char *[]){ B }, 1, &res), 200);
	assert_int_equal(locreg_table_at(f->t, 1, 1)->expires_at, NOW + 10 + 1800);
	/* The same contact written differently (port 5060 implied) is the
	 * same binding (RFC 3261 §19.1.4). */
	assert_int_equal(apply(f, 1, "cid", 4, 300, NOW + 20, (const char *[]){ "sip:a@127.0.0.1" },
			       1, &res), 200);
	assert_int_equal(locreg_table_count(f->t, 1), 2);
	/* Another profile's bindings are apart. */
	assert_int_equal(apply(f, 2, "x", 1, 300, NOW, (const char *[]){ A }, 1, &res), 200);
	assert_int_equal(locreg_table_count(f->t, 1), 2);
	assert_int_equal(locreg_table_count(f->t, 0), 3);
	/* expires=0 removes. */
	assert_int_equal(apply(f, 1, "cid", 5, 0, NOW + 30, (const char *[]){ A }, 1, &res), 200);
	assert_int_equal(locreg_table_count(f->t, 1), 1);
	assert_string_equal(locreg_table_at(f->t, 1, 0)->contact, B);
	/* Removing what is not there changes nothing and is fine. */
	assert_int_equal(apply(f, 1, "cid", 6, 0, NOW + 30, (const char *[]){ C }, 1, &res), 200);

	const char *want[][2] = {
		{ "added", A }, { "refreshed", A }, { "added", B }, { "refreshed", A },
		{ "added", A }, { "unregistered", A },
	};
	assert_int_equal(f->seen.n, 6);
	for (size_t i = 0; i < 6; i++) {
		assert_string_equal(f->seen.what[i], want[i][0]);
		assert_string_equal(f->seen.contact[i], want[i][1]);
	}
}

static void test_ordering(void **state)
{
	struct fx *f = *state;
	struct locreg_result res;

	assert_int_equal(apply(f, 1, "cid", 5, 600, NOW, (const char *[]){ A }, 1, &res), 200);
	/* §10.3 step 7: the same Call-ID needs a higher CSeq ... */
	assert_int_equal(apply(f, 1, "cid", 5, 600, NOW, (const char *[]){ A }, 1, &res), 400);
	assert_int_equal(apply(f, 1, "cid", 4, 0, NOW, (const char *[]){ A }, 1, &res), 400);
	assert_non_null(strstr(res.reason, "CSeq 4"));
	/* ... and a failed request changes nothing, not even its other
	 * contacts (all or nothing). */
	assert_int_equal(apply(f, 1, "cid", 3, 600, NOW, (const char *[]){ B, A }, 2, &res), 400);
	assert_int_equal(locreg_table_count(f->t, 1), 1);
	/* Another Call-ID replaces or removes whatever its CSeq. */
	assert_int_equal(apply(f, 1, "other", 1, 900, NOW, (const char *[]){ A }, 1, &res), 200);
	assert_string_equal(locreg_table_at(f->t, 1, 0)->call_id, "other");
	assert_int_equal(locreg_table_at(f->t, 1, 0)->expires_at, NOW + 900);
	assert_int_equal(apply(f, 1, "third", 1, 0, NOW, (const char *[]){ A }, 1, &res), 200);
	assert_int_equal(locreg_table_count(f->t, 1), 0);
}

static void test_star(void **state)
{
	struct fx *f = *state;
	struct locreg_result res;

	assert_int_equal(apply(f, 1, "cid", 1, 600, NOW, (const char *[]){ A, B }, 2, &res), 200);
	assert_int_equal(apply(f, 2, "cid", 1, 600, NOW, (const char *[]){ A }, 1, &res), 200);
	/* §10.2.2: "*" only with Expires: 0, and alone. */
	assert_int_equal(apply(f, 1, "cid", 2, 600, NOW, (const char *[]){ "*" }, 1, &res), 400);
	assert_int_equal(apply(f, 1, "cid", 2, -1, NOW, (const char *[]){ "*" }, 1, &res), 400);
	assert_int_equal(apply(f, 1, "cid", 2, 0, NOW, (const char *[]){ "*", C }, 2, &res), 400);
	/* Not above the stored CSeq of that Call-ID: refused. */
	assert_int_equal(apply(f, 1, "cid", 1, 0, NOW, (const char *[]){ "*" }, 1, &res), 400);
	assert_int_equal(locreg_table_count(f->t, 1), 2);
	assert_int_equal(apply(f, 1, "cid", 2, 0, NOW, (const char *[]){ "*" }, 1, &res), 200);
	assert_int_equal(locreg_table_count(f->t, 1), 0);
	assert_int_equal(locreg_table_count(f->t, 2), 1);
}

static void test_limits(void **state)
{
	struct fx *f = *state;
	struct locreg_result res;

	/* Too brief: 423 with our minimum; 0 is a removal, not brief. */
	assert_int_equal(apply(f, 1, "cid", 1, 59, NOW, (const char *[]){ A }, 1, &res), 423);
	assert_int_equal(res.min_expires, 60);
	assert_int_equal(apply(f, 1, "cid", 2, 10, NOW, (const char *[]){ A ";60" }, 1, &res), 200);
	/* Longer than the maximum: the maximum. */
	assert_int_equal(apply(f, 1, "cid", 3, 99999, NOW, (const char *[]){ A }, 1, &res), 200);
	assert_int_equal(locreg_table_at(f->t, 1, 0)->expires_at, NOW + 3600);
	/* At most 3 per profile: a fourth is refused, and the request with
	 * it does nothing at all. */
	assert_int_equal(apply(f, 1, "cid", 4, 600, NOW, (const char *[]){ B, C }, 2, &res), 200);
	assert_int_equal(apply(f, 1, "cid", 5, 600, NOW, (const char *[]){ A ";100", D }, 2, &res),
			 503);
	assert_non_null(strstr(res.reason, "at most 3"));
	assert_int_equal(locreg_table_at(f->t, 1, 0)->expires_at, NOW + 3600);
	/* Room made in the same request counts. */
	assert_int_equal(apply(f, 1, "cid", 6, 600, NOW, (const char *[]){ A ";0", D }, 2, &res),
			 200);
	assert_int_equal(locreg_table_count(f->t, 1), 3);
	/* Refreshing at the limit is fine; another profile has its own. */
	assert_int_equal(apply(f, 1, "cid", 7, 600, NOW, (const char *[]){ B }, 1, &res), 200);
	assert_int_equal(apply(f, 2, "cid", 1, 600, NOW, (const char *[]){ A }, 1, &res), 200);
	/* The same contact twice in one request. */
	assert_int_equal(apply(f, 2, "cid", 2, 600, NOW, (const char *[]){ C, C }, 2, &res), 400);
}

static void test_expire_and_restore(void **state)
{
	struct fx *f = *state;
	struct locreg_result res;
	struct locreg stored = {
		.profile_id = 3, .contact = C, .call_id = "old", .cseq = 9,
		.expires_at = NOW + 50, .uid = 7, .user_agent = NULL, .source = "tcp:[::1]:4000",
	};

	assert_int_equal(locreg_table_next_expiry(f->t), INT64_MAX);
	assert_int_equal(apply(f, 1, "cid", 1, 100, NOW, (const char *[]){ A }, 1, &res), 200);
	assert_int_equal(apply(f, 1, "cid", 2, 200, NOW, (const char *[]){ B }, 1, &res), 200);
	assert_int_equal(locreg_table_restore(f->t, &stored), 0);
	assert_int_equal(locreg_table_restore(f->t, &stored), -EEXIST);
	f->seen.n = 0;
	assert_int_equal(locreg_table_next_expiry(f->t), NOW + 50);
	locreg_table_expire(f->t, NOW + 100);
	assert_int_equal(f->seen.n, 2);
	assert_string_equal(f->seen.what[0], "expired");
	assert_int_equal(locreg_table_count(f->t, 0), 1);
	assert_int_equal(locreg_table_next_expiry(f->t), NOW + 200);
	/* A restored binding keeps its CSeq: its Call-ID must go above it. */
	assert_int_equal(locreg_table_restore(f->t, &stored), 0);
	assert_int_equal(apply(f, 3, "old", 9, 100, NOW, (const char *[]){ C }, 1, &res), 400);
	assert_int_equal(apply(f, 3, "old", 10, 100, NOW, (const char *[]){ C }, 1, &res), 200);
	f->seen.n = 0;
	locreg_table_drop_profile(f->t, 3);
	assert_int_equal(f->seen.n, 1);
	assert_string_equal(f->seen.what[0], "dropped");
	assert_int_equal(locreg_table_count(f->t, 3), 0);
}

static void test_bad_requests(void **state)
{
	struct fx *f = *state;
	struct locreg_result res;
	struct locreg_contact many[LOCREG_MAX_CONTACTS + 1];
	char uris[LOCREG_MAX_CONTACTS + 1][40];
	struct locreg_request req = { .call_id = "c", .cseq = 1, .expires = 600, .source = "x" };

	for (size_t i = 0; i <= LOCREG_MAX_CONTACTS; i++) {
		snprintf(uris[i], sizeof(uris[i]), "sip:u%zu@127.0.0.1", i);
		many[i] = (struct locreg_contact){ .uri = uris[i], .expires = -1 };
	}
	req.contacts = many;
	req.n_contacts = LOCREG_MAX_CONTACTS + 1;
	assert_int_equal(locreg_table_apply(f->t, 1, &req, &LIM, NOW, &res), 0);
	assert_int_equal(res.code, 400);
	assert_int_equal(locreg_table_apply(NULL, 1, &req, &LIM, NOW, &res), -EINVAL);
	req.call_id = NULL;
	assert_int_equal(locreg_table_apply(f->t, 1, &req, &LIM, NOW, &res), -EINVAL);
	/* A query (no Contact) lists and changes nothing. */
	req.call_id = "c";
	req.n_contacts = 0;
	assert_int_equal(locreg_table_apply(f->t, 1, &req, &LIM, NOW, &res), 0);
	assert_int_equal(res.code, 200);
	assert_int_equal(f->seen.n, 0);
}

static void test_edge_addr(void **state)
{
	static const struct {
		const char *s;
		int family;
		const char *host;
		unsigned port;
		bool loopback;
	} ok[] = {
		{ "127.0.0.1:5062", AF_INET, "127.0.0.1", 5062, true },
		{ "127.3.4.5", AF_INET, "127.3.4.5", 5062, true },
		{ "[::1]:5070", AF_INET6, "::1", 5070, true },
		{ "[::1]", AF_INET6, "::1", 5062, true },
		{ "10.0.0.1:5062", AF_INET, "10.0.0.1", 5062, false },
		{ "[fd00::1]:1", AF_INET6, "fd00::1", 1, false },
		{ "[::ffff:127.0.0.1]:9", AF_INET6, "::ffff:127.0.0.1", 9, true },
	};
	static const char *const bad[] = {
		"", "localhost:5062", "::1:5062", "[::1", "[::1]x", "127.0.0.1:", "127.0.0.1:0",
		"127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+5", "[]:5", "1.2.3:5", "[127.0.0.1]:5",
	};
	struct sockaddr_storage ss;
	char host[64];
	uint16_t port;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(edge_addr_parse(ok[i].s, &ss), 0);
		assert_int_equal(ss.ss_family, ok[i].family);
		assert_int_equal(sipmsg_sockaddr_host((struct sockaddr *)&ss, host, sizeof(host),
						      &port), 0);
		assert_string_equal(host, ok[i].host);
		assert_int_equal(port, ok[i].port);
		assert_int_equal(edge_addr_is_loopback((struct sockaddr *)&ss), ok[i].loopback);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (edge_addr_parse(bad[i], &ss) != -EINVAL)
			fail_msg("'%s' taken", bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_refresh_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ordering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_star, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expire_and_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test(test_edge_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
