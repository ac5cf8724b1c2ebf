/*
 * A GLib main context driven from libev (see glib_ev.h).
 *
 * This is g_main_context_iterate() cut in two around libev's poll:
 *
 *   ev_prepare: g_main_context_prepare() + g_main_context_query(); every
 *               descriptor becomes an ev_io, the timeout an ev_timer.
 *   ev_check:   g_main_context_check() + g_main_context_dispatch().
 *
 * The check watcher has the highest priority, so it runs before any other
 * callback of the iteration, and takes our ev_io watchers off the pending
 * list itself (their callbacks never run).  When one of them fired, a
 * zero-timeout g_poll() over GLib's descriptors fills in the exact revents
 * (G_IO_HUP, G_IO_ERR, G_IO_PRI have no libev equivalent); GLib would
 * otherwise not acknowledge its own wakeup descriptor and we would spin.
 *
 * The ev_io watchers stay started from one iteration to the next as long
 * as GLib asks for the same descriptor with the same events, so an idle
 * context costs no epoll_ctl() per iteration.  They are allocated one by
 * one because libev keeps pointers to started watchers.
 *
 * What this file relies on in GLib 2.74 (glib/gmain.c):
 *
 *  - Every context polls its wakeup descriptor (priority 0) and lists it in
 *    g_main_context_query() whenever no source is ready; when a source is
 *    ready the timeout is 0.  So "a timeout >= 0, or more than one
 *    descriptor" means that GLib waits for something real, which is when we
 *    keep the loop alive.  The bridge's own watchers are ev_unref()'d.
 *  - g_main_context_prepare() may be called again without a check in
 *    between (after ev_break in another prepare watcher): it drops the
 *    previous round.
 *  - g_main_context_check() acknowledges the wakeup descriptor from the
 *    revents we give it, and bails out by itself when the set of
 *    descriptors changed since the query.
 *  - Another thread (GDBus's worker) that adds a source or completes a task
 *    for this context writes to the wakeup descriptor.
 *
 * XXX A descriptor GLib polls only for G_IO_HUP/G_IO_ERR has no libev
 * equivalent and is not watched (no such source is used by libnm).  A
 * descriptor closed and reopened under the same number with the same events
 * between two iterations is not re-registered with epoll.
 */
#include "nm/glib_ev.h"

#include <errno.h>
#include <stdlib.h>

#include <ev.h>

#include "base/log.h"
#include "base/util.h"

/* With a descriptor we could not watch (out of memory), GLib is checked at
 * least this often (milliseconds) by poll() instead. */
#define GLIB_EV_DEGRADED_TIMEOUT	1000

struct glib_ev {
	struct ev_loop *loop;
	GMainContext *ctx;

	ev_prepare prepare;
	ev_check check;
	ev_timer timer;

	ev_io **ios;                    /* ios[i] watches fds[i] */
	unsigned int n_ios;             /* allocated watchers */

	GPollFD *fds;
	unsigned int cap_fds;
	unsigned int n_fds;
	gint max_priority;

	bool timer_armed;               /* started and ev_unref()'d */
	bool prepared;                  /* a query awaits its check */
	bool keepalive;                 /* we hold an ev_ref() */
	bool degraded;                  /* some descriptor is not watched */
	struct glib_ev_stats stats;
};

/* --- watchers that do not keep the loop alive ---------------------------- */

static void glib_ev_io_start(struct glib_ev *g, ev_io *w)
{
	ev_io_start(g->loop, w);
	ev_unref(g->loop);
}

static void glib_ev_io_stop(struct glib_ev *g, ev_io *w)
{
	if (!ev_is_active(w))
		return;
	ev_ref(g->loop);
	ev_io_stop(g->loop, w);
}

/* A one-shot timer that expired was stopped by libev, which took one
 * more reference off the loop: give it back either way. */
static void glib_ev_timer_stop(struct glib_ev *g)
{
	if (!g->timer_armed)
		return;
	g->timer_armed = false;
	ev_ref(g->loop);
	ev_timer_stop(g->loop, &g->timer);
}

static void glib_ev_set_keepalive(struct glib_ev *g, bool on)
{
	if (on == g->keepalive)
		return;
	g->keepalive = on;
	if (on)
		ev_ref(g->loop);
	else
		ev_unref(g->loop);
}

/* Callbacks of watchers whose events the check callback takes itself. */
static void glib_ev_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
}

static void glib_ev_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
}

/* --- one iteration -------------------------------------------------------- */

static int glib_ev_events(gushort events)
{
	return ((events & (G_IO_IN | G_IO_PRI)) ? EV_READ : 0) |
	       ((events & G_IO_OUT) ? EV_WRITE : 0);
}

static bool glib_ev_grow_fds(struct glib_ev *g, unsigned int n)
{
	GPollFD *p = reallocarray(g->fds, n, sizeof(*p));

	if (!p)
		return false;
	g->fds = p;
	g->cap_fds = n;
	return true;
}

static bool glib_ev_grow_ios(struct glib_ev *g, unsigned int n)
{
	ev_io **p;

	if (n <= g->n_ios)
		return true;
	p = reallocarray(g->ios, n, sizeof(*p));
	if (!p)
		return false;
	g->ios = p;
	while (g->n_ios < n) {
		ev_io *w = calloc(1, sizeof(*w));

		if (!w)
			return false;
		ev_init(w, glib_ev_io_cb);
		g->ios[g->n_ios++] = w;
	}
	return true;
}

/* Make ios[i] watch fds[i], touching only what changed. */
static void glib_ev_sync_ios(struct glib_ev *g)
{
	unsigned int i;

	if (!glib_ev_grow_ios(g, g->n_fds))
		g->degraded = true;
	for (i = 0; i < g->n_fds && i < g->n_ios; i++) {
		ev_io *w = g->ios[i];
		int events = glib_ev_events(g->fds[i].events);

		if (ev_is_active(w) && w->fd == g->fds[i].fd &&
		    (w->events & (EV_READ | EV_WRITE)) == events)
			continue;
		glib_ev_io_stop(g, w);
		if (!events)
			continue;
		ev_io_set(w, g->fds[i].fd, events);
		glib_ev_io_start(g, w);
	}
	for (; i < g->n_ios; i++)
		glib_ev_io_stop(g, g->ios[i]);
}

static void glib_ev_prepare_cb(struct ev_loop *loop, ev_prepare *w,
			       int revents)
{
	struct glib_ev *g = container_of(w, struct glib_ev, prepare);
	gint timeout = -1;
	int n;

	g->stats.prepares++;
	g->degraded = false;
	g_main_context_prepare(g->ctx, &g->max_priority);
	for (;;) {
		n = g_main_context_query(g->ctx, g->max_priority, &timeout,
					 g->fds, (gint)g->cap_fds);
		if (n <= (int)g->cap_fds)
			break;
		if (!glib_ev_grow_fds(g, (unsigned int)n)) {
			/* The first cap_fds are filled in: go on with them. */
			n = (int)g->cap_fds;
			g->degraded = true;
			break;
		}
	}
	g->n_fds = n > 0 ? (unsigned int)n : 0;
	glib_ev_sync_ios(g);

	if (g->degraded) {
		log_debug("glib: cannot watch all of %u descriptors", g->n_fds);
		if (timeout < 0 || timeout > GLIB_EV_DEGRADED_TIMEOUT)
			timeout = GLIB_EV_DEGRADED_TIMEOUT;
	}

	glib_ev_timer_stop(g);
	if (timeout >= 0) {
		/* ev_now() is as old as the last poll: callbacks ran since,
		 * and a timer based on it would fire before GLib's. */
		if (timeout > 0)
			ev_now_update(loop);
		ev_timer_set(&g->timer, timeout / 1000., 0.);
		ev_timer_start(loop, &g->timer);
		ev_unref(loop);
		g->timer_armed = true;
	}
	glib_ev_set_keepalive(g, timeout >= 0 || g->n_fds > 1);
	g->stats.n_fds = g->n_fds;
	g->stats.keepalive = g->keepalive;
	g->prepared = true;
}

static void glib_ev_check_cb(struct ev_loop *loop, ev_check *w, int revents)
{
	struct glib_ev *g = container_of(w, struct glib_ev, check);
	bool fired = g->degraded;

	/* Before ev_run() looks at the reference count again. */
	if (!ev_is_active(&g->timer))
		glib_ev_timer_stop(g);
	if (!g->prepared)
		return;
	g->prepared = false;

	ev_clear_pending(loop, &g->timer);
	for (unsigned int i = 0; i < g->n_fds && i < g->n_ios; i++)
		if (ev_clear_pending(loop, g->ios[i]))
			fired = true;
	/* g_main_context_query() zeroed every revents. */
	if (fired && g_poll(g->fds, g->n_fds, 0) < 0) {
		/* EINTR (a signal) or ENOMEM: nothing is lost, the
		 * descriptors are still ready at the next iteration. */
		for (unsigned int i = 0; i < g->n_fds; i++)
			g->fds[i].revents = 0;
	}
	if (g_main_context_check(g->ctx, g->max_priority, g->fds,
				 (gint)g->n_fds)) {
		g->stats.dispatches++;
		g_main_context_dispatch(g->ctx);
	}
}

/* --- lifecycle ------------------------------------------------------------ */

struct glib_ev *glib_ev_new(struct ev_loop *loop, GMainContext *ctx)
{
	struct glib_ev *g;

	if (!loop || !ctx)
		return NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	if (!glib_ev_grow_fds(g, 8)) {
		free(g);
		return NULL;
	}
	if (!g_main_context_acquire(ctx)) {
		log_debug("glib: main context is owned by another thread");
		free(g->fds);
		free(g);
		return NULL;
	}
	g->loop = loop;
	g->ctx = g_main_context_ref(ctx);

	ev_prepare_init(&g->prepare, glib_ev_prepare_cb);
	ev_check_init(&g->check, glib_ev_check_cb);
	ev_init(&g->timer, glib_ev_timer_cb);
	/* Before every other callback of the iteration: see the top. */
	ev_set_priority(&g->check, EV_MAXPRI);

	ev_prepare_start(loop, &g->prepare);
	ev_unref(loop);
	ev_check_start(loop, &g->check);
	ev_unref(loop);
	return g;
}

struct glib_ev *glib_ev_free(struct glib_ev *g)
{
	if (!g)
		return NULL;

	ev_ref(g->loop);
	ev_prepare_stop(g->loop, &g->prepare);
	ev_ref(g->loop);
	ev_check_stop(g->loop, &g->check);
	glib_ev_timer_stop(g);
	for (unsigned int i = 0; i < g->n_ios; i++) {
		glib_ev_io_stop(g, g->ios[i]);
		free(g->ios[i]);
	}
	glib_ev_set_keepalive(g, false);
	free(g->ios);
	free(g->fds);
	g_main_context_release(g->ctx);
	g_main_context_unref(g->ctx);
	free(g);
	return NULL;
}

void glib_ev_get_stats(const struct glib_ev *g, struct glib_ev_stats *ret)
{
	*ret = g->stats;
}
