/*
 * A GLib main context driven from a libev loop, in the same thread.
 *
 * Private to nm/ (libnm is the only GLib user in alrd): no header outside
 * nm/ includes this one, so GLib types stay inside the module.
 *
 * Every loop iteration, before libev blocks, the context is prepared and
 * queried: its file descriptors become ev_io watchers and its timeout an
 * ev_timer.  After libev wakes up, the context is checked and its ready
 * sources are dispatched.  libev thus sleeps exactly as long as GLib would
 * have, and no second thread or lock is involved.
 *
 * The bridge keeps the loop alive (ev_run does not return) only while GLib
 * has something to wait for besides its own wakeup descriptor: a timeout,
 * an idle source, or a file descriptor source.
 */
#pragma once

#include <stdbool.h>

#include <glib.h>

struct ev_loop;
struct glib_ev;

/* Acquire ctx (it must not be owned by another thread) and drive it from
 * loop.  NULL on failure (ctx owned elsewhere, out of memory). */
struct glib_ev *glib_ev_new(struct ev_loop *loop, GMainContext *ctx);
/* Stop driving and release the context.  Must not be called from a GLib
 * callback the bridge is dispatching.  NULL-safe; returns NULL. */
struct glib_ev *glib_ev_free(struct glib_ev *g);

struct glib_ev_stats {
	unsigned long prepares;         /* g_main_context_prepare() calls */
	unsigned long dispatches;       /* g_main_context_dispatch() calls */
	unsigned int n_fds;             /* descriptors watched now */
	bool keepalive;                 /* holding the loop alive now */
};

void glib_ev_get_stats(const struct glib_ev *g, struct glib_ev_stats *ret);
