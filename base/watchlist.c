#include "base/watchlist.h"

#include <stdlib.h>

unsigned int watchlist_add(struct watchlist *wl, void *callback, void *user_data,
			   watchlist_destroy_fn destroy)
{
	if (wl->n == wl->cap) {
		size_t cap = wl->cap ? wl->cap * 2 : 4;
		struct watch *items;

		/* Not while notifying: the loop holds a pointer into items.
		 * Growing is still safe because the loop re-reads
		 * wl->items[i] each round. */
		items = realloc(wl->items, cap * sizeof(*items));
		if (!items)
			return 0;
		wl->items = items;
		wl->cap = cap;
	}
	if (++wl->next_id == 0)
		wl->next_id = 1;
	wl->items[wl->n++] = (struct watch){
		.id = wl->next_id, .callback = callback,
		.user_data = user_data, .destroy = destroy,
	};
	return wl->next_id;
}

static void watch_release(struct watch *w)
{
	watchlist_destroy_fn destroy = w->destroy;
	void *ud = w->user_data;

	w->callback = NULL;
	w->destroy = NULL;
	if (destroy)
		destroy(ud);
}

bool watchlist_remove(struct watchlist *wl, unsigned int id)
{
	for (size_t i = 0; i < wl->n; i++) {
		struct watch *w = &wl->items[i];

		if (w->id != id || !w->callback)
			continue;
		watch_release(w);
		wl->stale = true;
		watchlist_prune(wl);
		return true;
	}
	return false;
}

void watchlist_prune(struct watchlist *wl)
{
	size_t j = 0;

	if (wl->in_notify || !wl->stale)
		return;
	for (size_t i = 0; i < wl->n; i++)
		if (wl->items[i].callback)
			wl->items[j++] = wl->items[i];
	wl->n = j;
	wl->stale = false;
	if (j == 0) {
		free(wl->items);
		wl->items = NULL;
		wl->cap = 0;
	}
}

void watchlist_clear(struct watchlist *wl)
{
	/* A destroy may add or remove watches of this list: walk by index
	 * over what is there now, and let the prune below (or the end of
	 * the notification that called us) drop the released entries. */
	for (size_t i = 0; i < wl->n; i++)
		if (wl->items[i].callback)
			watch_release(&wl->items[i]);
	wl->stale = true;
	watchlist_prune(wl);
}
