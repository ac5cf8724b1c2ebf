/* REGISTER pacing (sip/pacer.c) on a fake clock: the burst, the rate, the
 * order of the line, leaving it, rate 0, and changing the settings while
 * attempts wait. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sip/pacer.h"

#define T0 5000000u             /* any start: the clock is not from 0 */
#define N 64

struct waiter {
	struct pacer_entry e;
	int id;
	uint64_t went_at;
};

static struct waiter w[N];

static void reset(void)
{
	for (int i = 0; i < N; i++)
		w[i] = (struct waiter){ .id = i, .went_at = UINT64_MAX };
}

/* Every waiter pacer_pop() hands out at `now`, recorded; how many. */
static int run(struct pacer *p, uint64_t now)
{
	struct pacer_entry *e;
	int n = 0;

	while ((e = pacer_pop(p, now))) {
		struct waiter *x = (struct waiter *)e;   /* e comes first */

		assert_false(e->queued);
		assert_int_equal(x->went_at, UINT64_MAX);
		x->went_at = now;
		n++;
	}
	return n;
}

/* Drive the clock as the stack does: to pacer_next_ms(), then pop.  The
 * order in which the waiters went is written to order[]. */
static int drain(struct pacer *p, uint64_t *now, int *order, int max)
{
	int n = 0;

	for (;;) {
		uint64_t next = pacer_next_ms(p, *now);
		struct pacer_entry *e;

		if (next == UINT64_MAX)
			return n;
		assert_true(next >= *now);
		*now = next;
		/* At next, the first in line goes: the timer never fires
		 * for nothing. */
		e = pacer_pop(p, *now);
		assert_non_null(e);
		do {
			struct waiter *x = (struct waiter *)e;

			x->went_at = *now;
			assert_true(n < max);
			order[n++] = x->id;
		} while ((e = pacer_pop(p, *now)));
	}
}

static void test_burst_then_rate(void **state)
{
	struct pacer p;
	uint64_t now = T0;
	int order[N];

	reset();
	pacer_init(&p, 100, 5, now);        /* one every 10 ms */
	/* A full bucket: five at once. */
	for (int i = 0; i < 5; i++)
		assert_true(pacer_acquire(&p, &w[i].e, now));
	/* Then the line. */
	for (int i = 5; i < 25; i++)
		assert_false(pacer_acquire(&p, &w[i].e, now));
	assert_int_equal(pacer_next_ms(&p, now), now + 10);
	assert_int_equal(run(&p, now + 9), 0);
	assert_int_equal(drain(&p, &now, order, N), 20);
	/* 20 waiters at 100/s: the last went 200 ms later, one per 10 ms. */
	for (int i = 5; i < 25; i++)
		assert_int_equal(w[i].went_at, T0 + 10u * (unsigned)(i - 4));
	assert_int_equal(now, T0 + 200);
	assert_int_equal(pacer_next_ms(&p, now), UINT64_MAX);

	{
		struct pacer_stats st;

		pacer_get_stats(&p, &st);
		assert_int_equal(st.granted, 25);
		assert_int_equal(st.waited, 20);
		assert_int_equal(st.max_wait_ms, 200);
		assert_int_equal(st.queued, 0);
		assert_int_equal(st.max_queued, 20);
	}
}

static void test_bucket_refills_to_burst_only(void **state)
{
	struct pacer p;
	uint64_t now = T0;

	reset();
	pacer_init(&p, 50, 3, now);         /* one every 20 ms */
	for (int i = 0; i < 3; i++)
		assert_true(pacer_acquire(&p, &w[i].e, now));
	assert_false(pacer_acquire(&p, &w[3].e, now));
	pacer_remove(&p, &w[3].e);
	/* A long quiet time earns the burst, not more. */
	now += 3600 * 1000;
	for (int i = 10; i < 13; i++)
		assert_true(pacer_acquire(&p, &w[i].e, now));
	assert_false(pacer_acquire(&p, &w[13].e, now));
	/* Partial tokens count: 10 ms is half of one... */
	assert_int_equal(run(&p, now + 10), 0);
	/* ...and 10 ms more make it whole. */
	assert_int_equal(run(&p, now + 20), 1);
	assert_int_equal(w[13].went_at, now + 20);
}

static void test_fractional_rate(void **state)
{
	struct pacer p;
	uint64_t now = T0;
	int order[N];

	/* 3/s: 333.3 ms apart; rounding must not drift. */
	reset();
	pacer_init(&p, 3, 1, now);
	assert_true(pacer_acquire(&p, &w[0].e, now));
	for (int i = 1; i <= 9; i++)
		assert_false(pacer_acquire(&p, &w[i].e, now));
	assert_int_equal(drain(&p, &now, order, N), 9);
	assert_int_equal(w[3].went_at, T0 + 1000);
	assert_int_equal(w[6].went_at, T0 + 2000);
	assert_int_equal(w[9].went_at, T0 + 3000);
	/* Fast rates hand out several per millisecond, whatever the burst:
	 * the bucket holds at least one millisecond's worth. */
	reset();
	now = T0;
	pacer_init(&p, 5000, 1, now);
	for (int i = 0; i < 5; i++)
		assert_true(pacer_acquire(&p, &w[i].e, now));
	for (int i = 5; i <= 15; i++)
		assert_false(pacer_acquire(&p, &w[i].e, now));
	assert_int_equal(pacer_next_ms(&p, now), now + 1);
	assert_int_equal(run(&p, now + 1), 5);
	assert_int_equal(run(&p, now + 2), 5);
	assert_int_equal(run(&p, now + 3), 1);
}

static void test_fifo_nobody_overtakes(void **state)
{
	struct pacer p;
	uint64_t now = T0;
	int order[N], n;

	reset();
	pacer_init(&p, 1000, 1, now);
	assert_true(pacer_acquire(&p, &w[0].e, now));
	for (int i = 1; i <= 5; i++)
		assert_false(pacer_acquire(&p, &w[i].e, now));
	/* A token is there again, but the line is first: a newcomer waits
	 * behind it. */
	now += 1;
	assert_false(pacer_acquire(&p, &w[6].e, now));
	n = drain(&p, &now, order, N);
	assert_int_equal(n, 6);
	for (int i = 0; i < n; i++)
		assert_int_equal(order[i], i + 1);
}

static void test_leaving_the_line(void **state)
{
	struct pacer p;
	uint64_t now = T0;
	int order[N], n;

	reset();
	pacer_init(&p, 10, 1, now);
	assert_true(pacer_acquire(&p, &w[0].e, now));
	for (int i = 1; i <= 6; i++)
		assert_false(pacer_acquire(&p, &w[i].e, now));
	/* The first, one in the middle and the last leave. */
	pacer_remove(&p, &w[1].e);
	pacer_remove(&p, &w[4].e);
	pacer_remove(&p, &w[6].e);
	assert_false(w[4].e.queued);
	/* Twice, or never queued: harmless. */
	pacer_remove(&p, &w[4].e);
	pacer_remove(&p, &w[20].e);
	pacer_remove(&p, NULL);
	/* Leaving gives no token back: the second goes at 100 ms. */
	assert_int_equal(pacer_next_ms(&p, now), now + 100);
	n = drain(&p, &now, order, N);
	assert_int_equal(n, 3);
	assert_int_equal(order[0], 2);
	assert_int_equal(order[1], 3);
	assert_int_equal(order[2], 5);
	assert_int_equal(w[2].went_at, T0 + 100);
	assert_int_equal(w[5].went_at, T0 + 300);
	/* Everybody leaves: nothing to wait for. */
	reset();
	assert_false(pacer_acquire(&p, &w[7].e, now));
	pacer_remove(&p, &w[7].e);
	assert_int_equal(pacer_next_ms(&p, now), UINT64_MAX);
	assert_null(pacer_pop(&p, now + 100000));
	/* A waiter that left may join again, at the end. */
	assert_true(pacer_acquire(&p, &w[7].e, now + 100000));
}

static void test_rate_zero_is_unlimited(void **state)
{
	struct pacer p;
	uint64_t now = T0;

	reset();
	pacer_init(&p, 0, 1, now);
	for (int i = 0; i < N; i++)
		assert_true(pacer_acquire(&p, &w[i].e, now));
	assert_int_equal(pacer_next_ms(&p, now), UINT64_MAX);
}

static void test_reconfigure_while_waiting(void **state)
{
	struct pacer p;
	uint64_t now = T0;
	int order[N], n;

	reset();
	pacer_init(&p, 10, 2, now);
	for (int i = 0; i < 2; i++)
		assert_true(pacer_acquire(&p, &w[i].e, now));
	for (int i = 2; i < 8; i++)
		assert_false(pacer_acquire(&p, &w[i].e, now));
	/* A faster rate: the line keeps its order, tokens come sooner. */
	now += 50;                      /* half a token at 10/s */
	pacer_configure(&p, 100, 2, now);
	assert_int_equal(pacer_next_ms(&p, now), now + 5);
	assert_int_equal(run(&p, now + 5), 1);
	assert_int_equal(w[2].went_at, now + 5);
	/* Unlimited: everybody left goes at once, in order. */
	pacer_configure(&p, 0, 2, now + 6);
	assert_int_equal(pacer_next_ms(&p, now + 6), now + 6);
	now += 6;
	n = drain(&p, &now, order, N);
	assert_int_equal(n, 5);
	for (int i = 0; i < n; i++)
		assert_int_equal(order[i], i + 3);
	/* Back to a rate: a full bucket, then the rate. */
	pacer_configure(&p, 10, 3, now);
	for (int i = 10; i < 13; i++)
		assert_true(pacer_acquire(&p, &w[i].e, now));
	assert_false(pacer_acquire(&p, &w[13].e, now));
	/* A smaller burst takes away what is above it. */
	reset();
	now = T0;
	pacer_init(&p, 10, 50, now);
	pacer_configure(&p, 10, 2, now);
	assert_true(pacer_acquire(&p, &w[0].e, now));
	assert_true(pacer_acquire(&p, &w[1].e, now));
	assert_false(pacer_acquire(&p, &w[2].e, now));
}

static void test_limits_clamped(void **state)
{
	struct pacer p;

	pacer_init(&p, PACER_RATE_MAX + 1, 0, T0);
	assert_int_equal(p.rate, PACER_RATE_MAX);
	assert_int_equal(p.burst, 1);
	pacer_configure(&p, 7, PACER_BURST_MAX + 1, T0);
	assert_int_equal(p.rate, 7);
	assert_int_equal(p.burst, PACER_BURST_MAX);
	/* The defaults never make a handful of profiles wait. */
	reset();
	pacer_init(&p, PACER_DEFAULT_RATE, PACER_DEFAULT_BURST, T0);
	for (int i = 0; i < 20; i++)
		assert_true(pacer_acquire(&p, &w[i].e, T0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_bucket_refills_to_burst_only),
		cmocka_unit_test(test_fractional_rate),
		cmocka_unit_test(test_fifo_nobody_overtakes),
		cmocka_unit_test(test_leaving_the_line),
		cmocka_unit_test(test_rate_zero_is_unlimited),
		cmocka_unit_test(test_reconfigure_while_waiting),
		cmocka_unit_test(test_limits_clamped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
