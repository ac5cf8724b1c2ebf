/*
 * Observer lists (after ell's watchlist): add returns an id; remove by id
 * and clear are safe from inside a notification: the entries are released
 * at once (their destroy runs, they are not called again) but stay in the
 * array, marked, until the outermost notification finishes and prunes
 * them (ell's pending-destroy).  Freeing the struct that holds the list
 * from inside its own notification is not safe (the caller's object must
 * defer that, as ell's owners do).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef void (*watchlist_destroy_fn)(void *user_data);

struct watch {
	unsigned int id;
	void *callback;                 /* NULL once removed */
	void *user_data;
	watchlist_destroy_fn destroy;
};

struct watchlist {
	struct watch *items;
	size_t n, cap;
	unsigned int next_id;
	unsigned int in_notify;
	bool stale;                     /* released entries wait for a prune */
};

unsigned int watchlist_add(struct watchlist *wl, void *callback, void *user_data,
			   watchlist_destroy_fn destroy);   /* 0 on ENOMEM */
bool watchlist_remove(struct watchlist *wl, unsigned int id);
/* Release every watch; from inside a notification the storage is freed
 * when the notification ends. */
void watchlist_clear(struct watchlist *wl);
/* Drop released entries (not while notifying); frees the storage of an
 * empty list. */
void watchlist_prune(struct watchlist *wl);

/* Call every live watch as ((type)callback)(args..., user_data). */
#define WATCHLIST_NOTIFY(wl, type, ...)                                      \
	do {                                                                 \
		struct watchlist *wl__ = (wl);                               \
		size_t n__ = wl__->n;                                        \
		wl__->in_notify++;                                           \
		for (size_t i__ = 0; i__ < n__; i__++) {                     \
			struct watch *w__ = &wl__->items[i__];               \
			if (!w__->callback)                                  \
				continue;                                    \
			((type)w__->callback)(__VA_ARGS__, w__->user_data);  \
		}                                                            \
		if (--wl__->in_notify == 0 && wl__->stale)                   \
			watchlist_prune(wl__);                               \
	} while (0)
