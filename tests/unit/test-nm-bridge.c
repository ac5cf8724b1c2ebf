/*
 * The GLib/libev bridge (nm/glib_ev.c): GLib sources of every kind fire
 * from ev_run(), ev_run() returns when GLib has nothing left, and waiting
 * costs a handful of loop iterations, not a spin.
 */
#include "nm/glib_ev.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>
#include <glib-unix.h>

/* A wait of N ms costs a few iterations (prepare, poll, check), whatever
 * N is; a spinning bridge would take thousands. */
#define MAX_ITERATIONS	12

struct fixture {
	struct ev_loop *loop;
	GMainContext *ctx;
	struct glib_ev *g;
	ev_timer watchdog;
};

struct record {
	int fired[8];
	int order[8];
	int n;
	gint64 at[8];           /* g_get_monotonic_time() of each firing */
	int repeat;             /* for a repeating source */
	int fd;
};

/* A bridge that spins never returns from ev_run(): fail instead of hang.
 * The watchdog does not keep the loop alive. */
static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	fail_msg("still in ev_run() after %.0f s (%u iterations)",
		 w->repeat, ev_iteration(loop));
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(f->loop);
	ev_timer_init(&f->watchdog, watchdog_cb, 10., 10.);
	ev_timer_start(f->loop, &f->watchdog);
	ev_unref(f->loop);
	f->ctx = g_main_context_new();
	f->g = glib_ev_new(f->loop, f->ctx);
	assert_non_null(f->g);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	glib_ev_free(f->g);
	g_main_context_unref(f->ctx);
	ev_ref(f->loop);
	ev_timer_stop(f->loop, &f->watchdog);
	ev_loop_destroy(f->loop);
	free(f);
	return 0;
}

static void note(struct record *r, int which)
{
	r->fired[which]++;
	r->at[which] = g_get_monotonic_time();
	r->order[r->n++] = which;
}

/* A source calling note(r, which) once. */
struct once {
	struct record *r;
	int which;
};

static gboolean once_note_cb(gpointer data)
{
	struct once *o = data;

	note(o->r, o->which);
	return G_SOURCE_REMOVE;
}

static GSource *attach(GMainContext *ctx, GSource *s, GSourceFunc cb,
		       gpointer data)
{
	g_source_set_callback(s, cb, data, NULL);
	g_source_attach(s, ctx);
	g_source_unref(s);
	return s;
}

/* --- tests ------------------------------------------------------------- */

static void test_nothing_to_do(void **state)
{
	struct fixture *f = *state;
	struct glib_ev_stats st;

	/* Only GLib's own wakeup descriptor: nothing keeps the loop. */
	ev_run(f->loop, 0);
	assert_int_equal(ev_iteration(f->loop), 1);
	glib_ev_get_stats(f->g, &st);
	assert_int_equal(st.n_fds, 1);
	assert_false(st.keepalive);
}

static void test_timeout_and_idle(void **state)
{
	struct fixture *f = *state;
	struct record r = { 0 };
	struct once idle = { &r, 0 }, timeout = { &r, 1 };
	gint64 t0 = g_get_monotonic_time();

	attach(f->ctx, g_timeout_source_new(60), once_note_cb, &timeout);
	attach(f->ctx, g_idle_source_new(), once_note_cb, &idle);
	ev_run(f->loop, 0);

	assert_int_equal(r.fired[0], 1);
	assert_int_equal(r.fired[1], 1);
	assert_int_equal(r.order[0], 0);        /* idle first */
	assert_int_equal(r.order[1], 1);
	assert_true(r.at[1] - t0 >= 60 * 1000);
	assert_true(r.at[1] - t0 < 2 * G_USEC_PER_SEC);
	assert_in_range(ev_iteration(f->loop), 2, MAX_ITERATIONS);
}

static gboolean repeat_cb(gpointer data)
{
	struct record *r = data;

	r->repeat++;
	return r->repeat < 5 ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* A one-shot ev_timer that expires is stopped by libev itself: the loop's
 * reference count must survive that, five times over. */
static void test_repeating_timeout(void **state)
{
	struct fixture *f = *state;
	struct record r = { 0 };
	gint64 t0 = g_get_monotonic_time();

	attach(f->ctx, g_timeout_source_new(20), repeat_cb, &r);
	ev_run(f->loop, 0);
	assert_int_equal(r.repeat, 5);
	assert_true(g_get_monotonic_time() - t0 >= 100 * 1000);
	assert_in_range(ev_iteration(f->loop), 5, 5 * 3 + 3);
}

static gboolean fd_cb(gint fd, GIOCondition cond, gpointer data)
{
	struct record *r = data;
	char c;

	assert_true(cond & G_IO_IN);
	assert_int_equal(read(fd, &c, 1), 1);
	note(r, 0);
	return G_SOURCE_REMOVE;
}

static void write_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct record *r = w->data;

	assert_int_equal(write(r->fd, "x", 1), 1);
	note(r, 1);
}

/* A descriptor GLib watches fires when libev code writes to it. */
static void test_fd_source(void **state)
{
	struct fixture *f = *state;
	struct record r = { 0 };
	ev_timer writer;
	int p[2];
	unsigned int before;

	assert_int_equal(pipe(p), 0);
	r.fd = p[1];
	attach(f->ctx, g_unix_fd_source_new(p[0], G_IO_IN),
	       G_SOURCE_FUNC(fd_cb), &r);
	ev_timer_init(&writer, write_cb, 0.05, 0.);
	writer.data = &r;
	ev_timer_start(f->loop, &writer);

	/* The fd source alone keeps the loop alive, so ev_run returns only
	 * once it has fired and gone. */
	before = ev_iteration(f->loop);
	ev_run(f->loop, 0);
	assert_int_equal(r.fired[1], 1);
	assert_int_equal(r.fired[0], 1);
	assert_int_equal(r.order[0], 1);        /* written, then read */
	assert_in_range(ev_iteration(f->loop) - before, 2, MAX_ITERATIONS);
	close(p[0]);
	close(p[1]);
}

static gpointer adder_thread(gpointer data)
{
	struct fixture *f = ((void **)data)[0];
	struct once *o = ((void **)data)[1];

	g_usleep(50 * 1000);
	/* g_source_attach() wakes the owner of the context up. */
	attach(f->ctx, g_idle_source_new(), once_note_cb, o);
	return NULL;
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	fail_msg("the source added by another thread never fired");
}

static void stop_cb(struct ev_loop *loop, ev_check *w, int revents)
{
	struct record *r = w->data;

	if (r->fired[0])
		ev_break(loop, EVBREAK_ALL);
}

/* What GDBus's worker thread does: attach a source to our context.  The
 * wakeup descriptor must get the loop out of its poll. */
static void test_other_thread_wakes_up(void **state)
{
	struct fixture *f = *state;
	struct record r = { 0 };
	struct once o = { &r, 0 };
	void *args[2] = { f, &o };
	ev_timer deadline;
	ev_check stop;
	gint64 t0 = g_get_monotonic_time();
	GThread *t;

	ev_timer_init(&deadline, deadline_cb, 5., 0.);
	ev_timer_start(f->loop, &deadline);
	ev_check_init(&stop, stop_cb);
	stop.data = &r;
	ev_check_start(f->loop, &stop);
	t = g_thread_new("adder", adder_thread, args);
	ev_run(f->loop, 0);
	g_thread_join(t);
	ev_timer_stop(f->loop, &deadline);
	ev_check_stop(f->loop, &stop);

	assert_int_equal(r.fired[0], 1);
	assert_true(g_get_monotonic_time() - t0 < 2 * G_USEC_PER_SEC);
	assert_in_range(ev_iteration(f->loop), 1, MAX_ITERATIONS);
}

/* Idle, but with a GLib timeout far away: one poll, not a spin. */
static void test_long_wait_sleeps(void **state)
{
	struct fixture *f = *state;
	struct record r = { 0 };
	struct once o = { &r, 0 };
	struct glib_ev_stats st;

	attach(f->ctx, g_timeout_source_new(300), once_note_cb, &o);
	ev_run(f->loop, 0);
	assert_int_equal(r.fired[0], 1);
	assert_in_range(ev_iteration(f->loop), 2, 4);
	glib_ev_get_stats(f->g, &st);
	assert_in_range(st.prepares, 2, 4);
	assert_int_equal(st.dispatches, 1);
}

/* Freed with sources pending: the loop no longer waits for them. */
static void test_free_with_pending(void **state)
{
	struct fixture *f = *state;
	struct record r = { 0 };
	struct once o = { &r, 0 };

	attach(f->ctx, g_timeout_source_new(10000), once_note_cb, &o);
	ev_run(f->loop, EVRUN_NOWAIT);          /* prepared: keepalive held */
	f->g = glib_ev_free(f->g);
	ev_run(f->loop, 0);                     /* returns at once */
	assert_int_equal(r.fired[0], 0);
	/* The context is released: another owner may take it. */
	assert_true(g_main_context_acquire(f->ctx));
	g_main_context_release(f->ctx);
}

/* A context owned by another thread cannot be driven. */
static gpointer owner_thread(gpointer data)
{
	GMainContext *ctx = data;

	return GINT_TO_POINTER(g_main_context_acquire(ctx));
}

static void test_owned_elsewhere(void **state)
{
	struct fixture *f = *state;
	GMainContext *ctx = g_main_context_new();
	GThread *t = g_thread_new("owner", owner_thread, ctx);

	assert_true(GPOINTER_TO_INT(g_thread_join(t)));
	assert_null(glib_ev_new(f->loop, ctx));
	g_main_context_unref(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_nothing_to_do, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_and_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeating_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_thread_wakes_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_wait_sleeps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owned_elsewhere, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
