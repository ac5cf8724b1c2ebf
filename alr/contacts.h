/* One profile's contacts: every Contact alrd registered for it and has
 * not seen removed, with the IAP it was registered over, written through
 * to the store (DESIGN §3.8: after a crash or restart alrd removes what it
 * no longer holds).  One list: what is recorded (the store's rows) and
 * what is to be removed (stale) are flags of the same entry.
 *
 * Pure bookkeeping: no SIP, no event loop.  The registry decides what is
 * stale and sends the removals. */
#ifndef ALR_CONTACTS_H
#define ALR_CONTACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

struct contact {
	char *uri;
	unsigned int iap_id;            /* registered over (0: not known) */
	char *call_id;                  /* of the REGISTER that made it */
	uint32_t cseq;
	int64_t expires_at;             /* wall clock, seconds */
	bool recorded;                  /* the registrar holds it, as far as we know (a store row) */
	bool stale;                     /* not what the profile registers now: to remove */
	bool pending;                   /* its removal is out */
};

struct contacts {
	struct store *store;            /* borrowed; NULL: memory only */
	unsigned int profile_id;
	struct contact *v;
	size_t n;
};

void contacts_init(struct contacts *c, struct store *store, unsigned int profile_id);
/* Frees the list (the store keeps its rows). */
void contacts_clear(struct contacts *c);

/* What an earlier run left: the store's unexpired rows, each stale; the
 * expired ones are deleted.  *ret_call_id and *ret_cseq: the Call-ID with the
 * highest CSeq (to continue above it), untouched when there is none.
 * Returns how many were loaded. */
size_t contacts_load(struct contacts *c, int64_t now, char **ret_call_id,
		     uint32_t *ret_cseq);

/* The registrar holds @uri over @iap_id until @expires_at: recorded and
 * written through.  0, or a negative errno when the store did not take it
 * (it stays recorded in memory: a later write may succeed). */
int contacts_registered(struct contacts *c, unsigned int iap_id, const char *uri,
			 const char *call_id, uint32_t cseq, int64_t expires_at);
/* The binding unregistered @uri itself: no longer recorded.  A stale
 * entry stays until its own removal is answered. */
void contacts_unrecorded(struct contacts *c, const char *uri);
/* Our removal of @uri was answered 2xx: gone from the list and the store. */
void contacts_removed(struct contacts *c, const char *uri);
/* Every recorded contact of @call_id continues at @cseq (written through). */
void contacts_set_cseq(struct contacts *c, const char *call_id, uint32_t cseq);

/* @uri (registered over @iap_id) is to be removed. */
void contacts_mark_stale(struct contacts *c, const char *uri, unsigned int iap_id);
/* @uri is what the profile registers now: not stale after all. */
void contacts_unmark_stale(struct contacts *c, const char *uri);
/* No removal is out (a new binding). */
void contacts_reset_pending(struct contacts *c);

struct contact *contacts_find(const struct contacts *c, const char *uri);
size_t contacts_count_stale(const struct contacts *c);
bool contacts_any_pending(const struct contacts *c);

#endif
