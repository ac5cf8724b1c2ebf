/* base/util.c: the steady wall clock that local registrations expire on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "base/util.h"

/* Whole seconds of monotonic time after the anchor, added to the wall
 * clock read at the anchor; a monotonic clock behind the anchor (cannot
 * happen) stays at it. */
static void test_steady_wall_at(void **state)
{
	(void)state;
	assert_int_equal(util_steady_wall_at(1000, 5000000, 5000000), 1000);
	assert_int_equal(util_steady_wall_at(1000, 5000000, 8500000), 1003);
	assert_int_equal(util_steady_wall_at(1000, 5000000, 4000000), 1000);
	/* a day on, whatever the wall clock did meanwhile */
	assert_int_equal(util_steady_wall_at(1800000000, 0, 86400ull * 1000000u),
			 1800086400);
}

/* Read now, it is the wall clock (no step happens during a test). */
static void test_steady_wall_now(void **state)
{
	int64_t a, b, wall;

	(void)state;
	a = util_now_steady_wall();
	wall = (int64_t)time(NULL);
	b = util_now_steady_wall();
	assert_true(b >= a);
	assert_true(wall - a <= 1 && a - wall <= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steady_wall_at),
		cmocka_unit_test(test_steady_wall_now),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
