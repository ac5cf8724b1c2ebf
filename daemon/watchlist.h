/*
 * Observer lists (after ell's watchlist): add returns an id, remove by id is
 * safe from inside a notification (the entry is marked stale and pruned
 * once the outermost notification finishes).
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
	bool stale;
};

unsigned int watchlist_add(struct watchlist *wl, void *callback, void *user_data,
			   watchlist_destroy_fn destroy);   /* 0 on ENOMEM */
bool watchlist_remove(struct watchlist *wl, unsigned int id);
void watchlist_clear(struct watchlist *wl);
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
		if (--wl__->in_notify == 0)                                  \
			watchlist_prune(wl__);                               \
	} while (0)
