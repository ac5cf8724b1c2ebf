/* Local users looked up off the loop (edge/userlookup.c): answers come
 * back in the loop, one per uid however often it was asked, unknown uids
 * are answered too, and freeing with lookups outstanding is clean (ASan).
 * That the loop is not held while NSS waits is test_edge.py's
 * test_nss_lookup_off_the_loop, with an NSS module that waits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <ev.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edge/userlookup.h"

#define NO_SUCH_UID ((uid_t)4000000000u)

struct seen {
	struct userlookup_user v[8];
	size_t n;
	size_t want;
	struct ev_loop *loop;
};

static void done(void *ud, const struct userlookup_user *u)
{
	struct seen *s = ud;

	if (s->n < 8)
		s->v[s->n++] = *u;
	if (s->n >= s->want)
		ev_break(s->loop, EVBREAK_ALL);
}

static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until @want answers came (or 30 s: a failure). */
static void run(struct ev_loop *loop, struct seen *s, size_t want)
{
	ev_timer t;

	s->want = want;
	ev_timer_init(&t, timeout_cb, 30., 0.);
	ev_timer_start(loop, &t);
	ev_run(loop, 0);
	ev_timer_stop(loop, &t);
}

static void test_root_and_unknown(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct seen s = { .loop = loop };
	struct userlookup *ul = userlookup_new(loop, done, &s);
	const struct userlookup_user *root = NULL, *none = NULL;

	(void)state;
	assert_non_null(ul);
	assert_int_equal(userlookup_ask(ul, 0), 0);
	assert_int_equal(userlookup_ask(ul, NO_SUCH_UID), 0);
	/* never answered from within the ask */
	assert_int_equal(s.n, 0);
	run(loop, &s, 2);
	assert_int_equal(s.n, 2);
	for (size_t i = 0; i < s.n; i++) {
		if (s.v[i].uid == 0)
			root = &s.v[i];
		else if (s.v[i].uid == NO_SUCH_UID)
			none = &s.v[i];
	}
	assert_non_null(root);
	assert_non_null(none);
	assert_true(root->known);
	assert_string_equal(root->name, "root");
	assert_true(root->n_groups >= 1);
	assert_int_equal(root->groups[0], 0);   /* the primary group first */
	assert_false(none->known);
	assert_int_equal(none->error, ENOENT);
	assert_string_equal(none->name, "");
	assert_int_equal(userlookup_pending(ul), 0);
	userlookup_free(ul);
	ev_loop_destroy(loop);
}

/* The same uid asked again before its answer reached the loop is looked
 * up once (the loop does not run between the asks: the answer, if there
 * already, waits undelivered). */
static void test_one_answer_per_uid(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct seen s = { .loop = loop };
	struct userlookup *ul = userlookup_new(loop, done, &s);
	ev_timer settle;

	(void)state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(userlookup_ask(ul, NO_SUCH_UID), 0);
	assert_int_equal(userlookup_pending(ul), 1);
	run(loop, &s, 1);
	assert_int_equal(s.n, 1);
	/* nothing more comes: run the loop a while longer */
	ev_timer_init(&settle, timeout_cb, 0.3, 0.);
	ev_timer_start(loop, &settle);
	ev_run(loop, 0);
	assert_int_equal(s.n, 1);
	/* asked after its answer: looked up again (no cache) */
	assert_int_equal(userlookup_ask(ul, NO_SUCH_UID), 0);
	run(loop, &s, 2);
	assert_int_equal(s.n, 2);
	userlookup_free(ul);
	ev_loop_destroy(loop);
}

/* The answer agrees with what NSS says in this thread. */
static void test_same_as_nss(void **state)
{
	struct userlookup_user u;
	struct passwd *pw = getpwuid(getuid());

	(void)state;
	userlookup_resolve(getuid(), &u);
	assert_int_equal(u.known, pw != NULL);
	if (pw) {
		assert_string_equal(u.name, pw->pw_name);
		assert_int_equal(u.groups[0], pw->pw_gid);
	}
}

/* Freed with lookups asked and answers not delivered: nothing leaks, the
 * worker lets go of what it shares by itself, and no callback comes. */
static void test_free_while_asked(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct seen s = { .loop = loop };
	struct userlookup *ul = userlookup_new(loop, done, &s);

	(void)state;
	for (uid_t uid = 1; uid <= 20; uid++)
		assert_int_equal(userlookup_ask(ul, uid), 0);
	userlookup_free(ul);
	ev_run(loop, EVRUN_NOWAIT);
	assert_int_equal(s.n, 0);
	ev_loop_destroy(loop);
}

/* No more than USERLOOKUP_MAX_PENDING uids wait at once. */
static void test_bounded(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct seen s = { .loop = loop };
	struct userlookup *ul = userlookup_new(loop, done, &s);
	int busy = 0;

	(void)state;
	/* answers are not delivered while the loop does not run: they stay
	 * counted until it does */
	for (uid_t uid = 1; uid <= 2 * USERLOOKUP_MAX_PENDING; uid++)
		if (userlookup_ask(ul, 100000 + uid) == -EBUSY)
			busy++;
	assert_true(busy >= USERLOOKUP_MAX_PENDING);
	assert_true(userlookup_pending(ul) <= USERLOOKUP_MAX_PENDING);
	userlookup_free(ul);
	ev_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_and_unknown),
		cmocka_unit_test(test_one_answer_per_uid),
		cmocka_unit_test(test_same_as_nss),
		cmocka_unit_test(test_free_while_asked),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
