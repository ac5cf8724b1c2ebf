/* Watchlist: removal while notifying, destroy callbacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/watchlist.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remove_while_notifying),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
