/* One profile's contacts, written through to the store (see contacts.h). */
#include "alr/contacts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

void contacts_init(struct contacts *c, struct store *store, unsigned int profile_id)
{
	*c = (struct contacts){ .store = store, .profile_id = profile_id };
}

static void entry_free(struct contact *e)
{
	free(e->uri);
	free(e->call_id);
}

void contacts_clear(struct contacts *c)
{
	for (size_t i = 0; i < c->n; i++)
		entry_free(&c->v[i]);
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

static void drop(struct contacts *c, struct contact *e)
{
	size_t i = (size_t)(e - c->v);

	entry_free(e);
	memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof(*c->v));
	c->n--;
}

static struct contact *add(struct contacts *c, const char *uri)
{
	struct contact *v = realloc(c->v, (c->n + 1) * sizeof(*v)), *e;

	if (!v)
		return NULL;
	c->v = v;
	e = &v[c->n];
	*e = (struct contact){ .uri = strdup(uri) };
	if (!e->uri)
		return NULL;
	c->n++;
	return e;
}

struct contact *contacts_find(const struct contacts *c, const char *uri)
{
	for (size_t i = 0; uri && i < c->n; i++)
		if (strcmp(c->v[i].uri, uri) == 0)
			return &c->v[i];
	return NULL;
}

static void store_delete(struct contacts *c, const struct contact *e)
{
	if (c->store && e->recorded)
		store_contact_delete(c->store, c->profile_id, e->iap_id, e->uri);
}

static int store_write(struct contacts *c, const struct contact *e)
{
	struct store_contact row = {
		.profile_id = c->profile_id, .iap_id = e->iap_id, .contact = e->uri,
		.call_id = e->call_id, .cseq = e->cseq, .expires_at = e->expires_at,
	};

	if (!c->store)
		return 0;
	if (!e->iap_id)
		return -EINVAL;
	return store_contact_upsert(c->store, &row);
}

size_t contacts_load(struct contacts *c, int64_t now, char **ret_call_id, uint32_t *ret_cseq)
{
	struct store_contact *rows = NULL;
	size_t n = 0, loaded = 0;

	if (!c->store || store_contact_list(c->store, c->profile_id, &rows, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		struct contact *e;

		if (rows[i].expires_at <= now) {
			store_contact_delete(c->store, c->profile_id, rows[i].iap_id,
					     rows[i].contact);
			continue;
		}
		/* Continue the Call-ID with the highest CSeq: the next
		 * REGISTER is above what the registrar saw. */
		if (rows[i].call_id && (!*ret_call_id || rows[i].cseq > *ret_cseq)) {
			char *id = strdup(rows[i].call_id);

			if (id) {
				free(*ret_call_id);
				*ret_call_id = id;
				*ret_cseq = rows[i].cseq;
			}
		}
		if (contacts_find(c, rows[i].contact)) {
			/* The same contact under a second IAP id (an identity
			 * switch): one entry, one row. */
			store_contact_delete(c->store, c->profile_id, rows[i].iap_id,
					     rows[i].contact);
			continue;
		}
		e = add(c, rows[i].contact);
		if (!e)
			continue;
		e->iap_id = rows[i].iap_id;
		e->call_id = rows[i].call_id ? strdup(rows[i].call_id) : NULL;
		e->cseq = rows[i].cseq;
		e->expires_at = rows[i].expires_at;
		e->recorded = true;
		e->stale = true;
		loaded++;
	}
	store_contacts_free(rows, n);
	return loaded;
}

int contacts_registered(struct contacts *c, unsigned int iap_id, const char *uri,
			const char *call_id, uint32_t cseq, unsigned int expires, int64_t now)
{
	struct contact *e = contacts_find(c, uri);
	char *id;

	if (e && e->recorded && e->iap_id == iap_id && e->cseq == cseq && e->expires == expires &&
	    e->call_id && call_id && strcmp(e->call_id, call_id) == 0) {
		e->expires_at = now + expires;
		return 0;
	}
	id = call_id ? strdup(call_id) : NULL;
	if (!e) {
		e = add(c, uri);
		if (!e) {
			free(id);
			return -ENOMEM;
		}
	} else if (e->recorded && e->iap_id != iap_id) {
		/* the same contact under another IAP id (an identity switch) */
		store_delete(c, e);
	}
	e->iap_id = iap_id;
	free(e->call_id);
	e->call_id = id;
	e->cseq = cseq;
	e->expires = expires;
	e->expires_at = now + expires;
	e->recorded = true;
	return store_write(c, e);
}

/* Not recorded any more; gone unless its removal is out.  True if @e
 * was dropped. */
static bool unrecord(struct contacts *c, struct contact *e)
{
	store_delete(c, e);
	e->recorded = false;
	if (e->stale && e->pending)
		return false;
	drop(c, e);
	return true;
}

void contacts_unrecorded(struct contacts *c, const char *uri)
{
	struct contact *e = contacts_find(c, uri);

	if (e)
		unrecord(c, e);
}

void contacts_expire(struct contacts *c, int64_t now)
{
	for (size_t i = 0; i < c->n;)
		if (!c->v[i].recorded || c->v[i].expires_at > now || !unrecord(c, &c->v[i]))
			i++;
}

void contacts_removed(struct contacts *c, const char *uri)
{
	struct contact *e = contacts_find(c, uri);

	if (!e)
		return;
	store_delete(c, e);
	drop(c, e);
}

void contacts_set_cseq(struct contacts *c, const char *call_id, uint32_t cseq)
{
	for (size_t i = 0; call_id && i < c->n; i++) {
		struct contact *e = &c->v[i];

		if (!e->recorded || !e->call_id || strcmp(e->call_id, call_id) != 0)
			continue;
		e->cseq = cseq;
		store_write(c, e);
	}
}

void contacts_mark_stale(struct contacts *c, const char *uri, unsigned int iap_id)
{
	struct contact *e = contacts_find(c, uri);

	if (e && e->stale)
		return;
	if (!e) {
		e = add(c, uri);
		if (!e)
			return;
		e->iap_id = iap_id;
	} else if (!e->iap_id) {
		e->iap_id = iap_id;
	}
	e->stale = true;
	e->pending = false;
}

void contacts_unmark_stale(struct contacts *c, const char *uri)
{
	struct contact *e = contacts_find(c, uri);

	if (!e)
		return;
	e->stale = false;
	e->pending = false;
	if (!e->recorded)
		drop(c, e);
}

void contacts_release(struct contacts *c, int64_t now)
{
	contacts_expire(c, now);
	for (size_t i = 0; i < c->n; i++) {
		c->v[i].stale = c->v[i].stale || c->v[i].recorded;
		c->v[i].pending = false;
	}
}

const struct contact *contacts_next_held(const struct contacts *c, size_t *cursor,
					 int64_t now)
{
	while (*cursor < c->n) {
		const struct contact *e = &c->v[(*cursor)++];

		if (e->recorded && e->expires_at > now)
			return e;
	}
	return NULL;
}

size_t contacts_count_stale(const struct contacts *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n; i++)
		n += c->v[i].stale;
	return n;
}

bool contacts_any_pending(const struct contacts *c)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].stale && c->v[i].pending)
			return true;
	return false;
}
