/*
 * SNAP membership and ranking: which IAPs a SNAP's rules admit, and the
 * available ones in the SNAP's order.  Pure: the caller hands in a view of
 * each IAP (from the IAP table and, when it runs, NetworkManager) and gets
 * the order back; nothing here reads a socket or arms a timer.
 *
 * Ranking runs on every IAP change, so it allocates only when it meets
 * more IAPs than ever before; the common path only sorts in place.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "alr/iap.h"
#include "policy/policy.h"

enum snap_metered {
	SNAP_METERED_UNKNOWN,           /* NetworkManager does not say */
	SNAP_METERED_NO,
	SNAP_METERED_YES,
	_SNAP_METERED_MAX,
};

const char *snap_metered_to_str(enum snap_metered m);

/*
 * What rules match on, for one IAP.  Strings are borrowed for the call.
 * NetworkManager's attributes are NULL / SNAP_METERED_UNKNOWN / -1 when it
 * does not run or does not know; a rule that states a condition on an
 * unknown attribute does not admit the IAP.
 */
struct snap_iap_view {
	unsigned int id;                /* the IAP's stable id */
	enum iap_kind kind;
	bool available;                 /* iap_available() */
	const char *ifname;             /* NULL or "": unknown */
	const char *conn_id;            /* NetworkManager connection id */
	const char *conn_uuid;
	const char *ssid;               /* nmmon's printable form */
	enum snap_metered metered;
	int strength;                   /* 0..100, -1: unknown */
};

/*
 * Does @rule admit @v?  @admitted is the rule's verdict on this IAP the
 * previous time: with min-signal S and signal-hysteresis H, an IAP is
 * admitted from strength >= S on and stays admitted until strength < S - H.
 * Availability and the SNAP's bearer filter are not looked at here.
 */
bool snap_rule_match(const struct policy_rule *rule, const struct snap_iap_view *v,
		     bool admitted);

/* One ranked IAP. */
struct snap_rank_entry {
	unsigned int iap_id;
	unsigned int priority;          /* of the best rule that admits it */
	unsigned int rule;              /* index of that rule in snap->rules */
	size_t view;                    /* index into the views of the last snap_rank() */
};

struct snap_ranking;

/* @snap is borrowed: it must outlive the ranking or be replaced with
 * snap_ranking_set_snap() first.  NULL on ENOMEM. */
struct snap_ranking *snap_ranking_new(const struct policy_snap *snap);
struct snap_ranking *snap_ranking_free(struct snap_ranking *r);

/*
 * Follow a reloaded SNAP.  Call it while the old SNAP still exists: when
 * the rules (and bearer filter) are the same, the order and the signal
 * hysteresis memory are kept; otherwise both are forgotten and the order
 * is empty until the next snap_rank().
 */
void snap_ranking_set_snap(struct snap_ranking *r, const struct policy_snap *snap);
const struct policy_snap *snap_ranking_snap(const struct snap_ranking *r);

/*
 * An identity switch (docs/networkmanager.md): IAP @old_id is now @new_id,
 * the same link.  Its place in the order and its signal hysteresis memory
 * follow the new id, so that a Wi-Fi network kept below min-signal is
 * not dropped because NetworkManager renamed it.  Never allocates.
 */
void snap_ranking_replace(struct snap_ranking *r, unsigned int old_id, unsigned int new_id);

/* Make room for @n IAPs now, so that snap_rank() need not allocate.
 * 0 or -ENOMEM. */
int snap_ranking_reserve(struct snap_ranking *r, size_t n);

/*
 * Rank @n IAPs (each id at most once): the available IAPs that pass the
 * bearer filter and that a rule admits, by the priority of the best rule
 * that admits each; IAPs of equal priority are equivalent and listed by
 * ascending id.  Updates the hysteresis memory of every IAP in @views and
 * forgets IAPs that are not in @views.
 *
 * Returns 1 when the order (ids and priorities) changed, 0 when it did
 * not, -ENOMEM (the previous order stands).  Allocates only when @n is
 * larger than ever before for this ranking.
 */
int snap_rank(struct snap_ranking *r, const struct snap_iap_view *views, size_t n);

size_t snap_ranking_count(const struct snap_ranking *r);
const struct snap_rank_entry *snap_ranking_at(const struct snap_ranking *r, size_t i);
/* The first IAP of the order, NULL when none is available. */
const struct snap_rank_entry *snap_ranking_best(const struct snap_ranking *r);
/* The entry of IAP @iap_id, NULL when it is not in the order. */
const struct snap_rank_entry *snap_ranking_find(const struct snap_ranking *r,
						unsigned int iap_id);
/* Its position in the order (0 = best), -ENOENT when not in it. */
int snap_ranking_position(const struct snap_ranking *r, unsigned int iap_id);

/*
 * Is IAP @a better than IAP @b: @a is in the order and @b is not, or @a's
 * priority is strictly better.  Equivalent IAPs are not better than each
 * other, so a profile is never moved between them.
 */
bool snap_ranking_better(const struct snap_ranking *r, unsigned int a, unsigned int b);
