/* One profile's contacts: every Contact alrd registered for it and has
 * not seen removed, with the IAP it was registered over, written through
 * to the store (DESIGN §3.8: after a crash or restart alrd removes what it
 * no longer holds).  The one list: what is recorded (the store's rows)
 * and what is to be removed (stale) are flags of the same entry, and the
 * profile's binding reads and writes this list (struct binding_contacts,
 * through alr/registry_driver.c) instead of keeping one of its own.
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
	unsigned int expires;           /* as last reported, seconds */
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

/* The registrar may hold @uri over @iap_id for @expires seconds from @now
 * (a REGISTER carrying it went out, or a 2xx granted it): recorded, and
 * written through when the row would change other than in its expiry (a
 * refresh granted as long as the last one moves the expiry in memory;
 * the CSeq's write that follows carries it).  0, or a negative errno when
 * the store did not take it (it stays recorded in memory: a later write
 * may succeed). */
int contacts_registered(struct contacts *c, unsigned int iap_id, const char *uri,
			const char *call_id, uint32_t cseq, unsigned int expires, int64_t now);
/* The registrar does not hold @uri (a 2xx said so): no longer recorded.
 * A stale entry whose removal is out stays until that is answered. */
void contacts_unrecorded(struct contacts *c, const char *uri);
/* Every recorded contact whose time ran out by @now is gone at the
 * registrar too (contacts_unrecorded()). */
void contacts_expire(struct contacts *c, int64_t now);
/* Our removal of @uri was answered 2xx: gone from the list and the store. */
void contacts_removed(struct contacts *c, const char *uri);
/* Every recorded contact of @call_id continues at @cseq (written through). */
void contacts_set_cseq(struct contacts *c, const char *call_id, uint32_t cseq);

/* @uri (registered over @iap_id) is to be removed. */
void contacts_mark_stale(struct contacts *c, const char *uri, unsigned int iap_id);
/* The binding that registered them is let go: every recorded contact
 * whose time has not run out by @now is to be removed, and no removal is
 * out. */
void contacts_release(struct contacts *c, int64_t now);
/* @uri is what the profile registers now: not stale after all. */
void contacts_unmark_stale(struct contacts *c, const char *uri);

struct contact *contacts_find(const struct contacts *c, const char *uri);
/* The first recorded, unexpired entry at *cursor or after it (0: from the
 * start), *cursor moved past it; NULL at the end. */
const struct contact *contacts_next_held(const struct contacts *c, size_t *cursor,
					 int64_t now);
size_t contacts_count_stale(const struct contacts *c);
bool contacts_any_pending(const struct contacts *c);

#endif
