/* Watchlist: removal while notifying, destroy callbacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/watchlist.h"

typedef void (*int_cb)(int v, void *ud);

static struct watchlist wl;
static unsigned int ids[4];
static int calls[4];
static int destroyed[4];

static void destroy(void *ud)
{
	destroyed[(int)(intptr_t)ud]++;
}

static void cb(int v, void *ud)
{
	int me = (int)(intptr_t)ud;

	calls[me] += v;
	/* Watch 0 removes itself and watch 2 during the notification. */
	if (me == 0) {
		assert_true(watchlist_remove(&wl, ids[0]));
		assert_true(watchlist_remove(&wl, ids[2]));
	}
}

static void test_remove_while_notifying(void **state)
{
	for (int i = 0; i < 4; i++)
		ids[i] = watchlist_add(&wl, (void *)cb, (void *)(intptr_t)i, destroy);
	WATCHLIST_NOTIFY(&wl, int_cb, 1);
	assert_int_equal(calls[0], 1);
	assert_int_equal(calls[1], 1);
	assert_int_equal(calls[2], 0);         /* removed before its turn */
	assert_int_equal(calls[3], 1);
	assert_int_equal(destroyed[0], 1);
	assert_int_equal(destroyed[2], 1);
	assert_int_equal(wl.n, 2);             /* pruned after the round */
	WATCHLIST_NOTIFY(&wl, int_cb, 10);
	assert_int_equal(calls[1], 11);
	assert_int_equal(calls[3], 11);
	watchlist_clear(&wl);
	assert_int_equal(destroyed[1], 1);
	assert_int_equal(destroyed[3], 1);
	assert_int_equal(destroyed[0], 1);     /* not twice */
}

/* Watch 1 clears the whole list from inside the notification (an object
 * tearing down its observers from an event): the walk must not touch
 * freed storage (ASan), later watches are not called, each destroy runs
 * once, and the list works afterwards, also for nested notifications. */
static struct watchlist wl2;
static int calls2[4], destroyed2[4], nested;

static void destroy2(void *ud)
{
	destroyed2[(int)(intptr_t)ud]++;
}

static void cb2(int v, void *ud)
{
	int me = (int)(intptr_t)ud;

	calls2[me] += v;
	if (me == 0 && nested) {
		nested = 0;
		WATCHLIST_NOTIFY(&wl2, int_cb, 100);    /* an inner round */
	}
	if (me == 1)
		watchlist_clear(&wl2);
}

static void test_clear_while_notifying(void **state)
{
	unsigned int id;

	for (int i = 0; i < 4; i++)
		watchlist_add(&wl2, (void *)cb2, (void *)(intptr_t)i, destroy2);
	nested = 1;
	WATCHLIST_NOTIFY(&wl2, int_cb, 1);
	/* 0 ran, then (inner round) 0 and 1, which cleared: nobody else */
	assert_int_equal(calls2[0], 101);
	assert_int_equal(calls2[1], 100);
	assert_int_equal(calls2[2], 0);
	assert_int_equal(calls2[3], 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(destroyed2[i], 1);
	assert_int_equal(wl2.n, 0);
	assert_int_equal(wl2.in_notify, 0);
	/* still a working list */
	id = watchlist_add(&wl2, (void *)cb2, (void *)(intptr_t)2, destroy2);
	assert_int_not_equal(id, 0);
	WATCHLIST_NOTIFY(&wl2, int_cb, 5);
	assert_int_equal(calls2[2], 5);
	watchlist_clear(&wl2);
	assert_int_equal(destroyed2[2], 2);
	assert_null(wl2.items);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remove_while_notifying),
		cmocka_unit_test(test_clear_while_notifying),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
