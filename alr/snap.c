/*
 * SNAP membership and ranking.  A ranking owns two pairs of arrays sized
 * for the most IAPs it has seen: the current order and a scratch one for
 * the next, the hysteresis memory and a scratch one.  snap_rank() fills
 * the scratch arrays, sorts them in place and swaps, so the common path
 * never allocates.  Insertion sort: a handful of IAPs, nearly in order
 * already (the IAP table is ordered by id), and it is stable.
 *
 * fnmatch(3) allocates only for patterns or names of 1 KiB and more in a
 * multibyte locale; interface names and connection ids are far shorter.
 */
#include "alr/snap.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

_Static_assert(POLICY_MAX_RULES <= 64, "hysteresis memory is one uint64_t per IAP");

#define RULE_BIT(i)     ((uint64_t)1 << (i))

/* Which min-signal rules admitted an IAP last time (bit per rule index).
 * Only IAPs with at least one bit set are remembered. */
struct snap_memory {
	unsigned int iap_id;
	uint64_t admitted;
};

struct snap_ranking {
	const struct policy_snap *snap;
	size_t cap;                             /* of all four arrays */
	struct snap_rank_entry *order;
	struct snap_rank_entry *next_order;
	size_t n_order;
	struct snap_memory *memory;             /* sorted by iap_id */
	struct snap_memory *next_memory;
	size_t n_memory;
};

static const char *const metered_names[_SNAP_METERED_MAX] = {
	[SNAP_METERED_UNKNOWN] = "unknown",
	[SNAP_METERED_NO] = "no",
	[SNAP_METERED_YES] = "yes",
};

const char *snap_metered_to_str(enum snap_metered m)
{
	return (unsigned)m < _SNAP_METERED_MAX ? metered_names[m] : "unknown";
}

static bool kind_in(unsigned int kinds, enum iap_kind k)
{
	return (unsigned)k < _IAP_KIND_MAX && (kinds & POLICY_KIND_BIT(k));
}

bool snap_rule_match(const struct policy_rule *rule, const struct snap_iap_view *v,
		     bool admitted)
{
	if (!kind_in(rule->kinds, v->kind))
		return false;
	if (rule->interface &&
	    (!v->ifname || !v->ifname[0] || fnmatch(rule->interface, v->ifname, 0) != 0))
		return false;
	if (rule->connection && (!v->conn_id || fnmatch(rule->connection, v->conn_id, 0) != 0))
		return false;
	if (rule->uuid && (!v->conn_uuid || strcasecmp(rule->uuid, v->conn_uuid) != 0))
		return false;
	if (rule->ssid && (!v->ssid || strcmp(rule->ssid, v->ssid) != 0))
		return false;
	switch (rule->metered) {
	case POLICY_METERED_ANY:
		break;
	case POLICY_METERED_YES:
		if (v->metered != SNAP_METERED_YES)
			return false;
		break;
	case POLICY_METERED_NO:
		if (v->metered != SNAP_METERED_NO)
			return false;
		break;
	case _POLICY_METERED_MAX:
		return false;
	}
	if (rule->min_signal >= 0) {
		/* Admit at S, keep admitting down to S - H: a signal
		 * hovering around S does not flap. */
		int threshold = rule->min_signal;

		if (admitted)
			threshold -= (int)rule->signal_hysteresis;
		if (v->strength < 0 || v->strength < threshold)
			return false;
	}
	return true;
}

struct snap_ranking *snap_ranking_new(const struct policy_snap *snap)
{
	struct snap_ranking *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->snap = snap;
	return r;
}

struct snap_ranking *snap_ranking_free(struct snap_ranking *r)
{
	if (!r)
		return NULL;
	free(r->order);
	free(r->next_order);
	free(r->memory);
	free(r->next_memory);
	free(r);
	return NULL;
}

void snap_ranking_set_snap(struct snap_ranking *r, const struct policy_snap *snap)
{
	if (!r->snap || !snap || !policy_rules_equal(r->snap, snap)) {
		r->n_order = 0;
		r->n_memory = 0;
	}
	r->snap = snap;
}

const struct policy_snap *snap_ranking_snap(const struct snap_ranking *r)
{
	return r->snap;
}

int snap_ranking_reserve(struct snap_ranking *r, size_t n)
{
	size_t cap;

	if (n <= r->cap)
		return 0;
	cap = r->cap * 2 > n ? r->cap * 2 : n;
	if (cap < 8)
		cap = 8;
	if (cap > SIZE_MAX / sizeof(struct snap_rank_entry))
		return -ENOMEM;
	/* realloc() keeps the contents; until all four succeed, r->cap is
	 * the old capacity, which each array still has. */
#define GROW(array) do {							\
		__typeof__(array) p_ = realloc((array), cap * sizeof(*(array)));	\
		if (!p_)							\
			return -ENOMEM;						\
		(array) = p_;							\
	} while (0)
	GROW(r->order);
	GROW(r->next_order);
	GROW(r->memory);
	GROW(r->next_memory);
#undef GROW
	r->cap = cap;
	return 0;
}

static uint64_t recall(const struct snap_ranking *r, unsigned int iap_id)
{
	size_t lo = 0, hi = r->n_memory;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->memory[mid].iap_id == iap_id)
			return r->memory[mid].admitted;
		if (r->memory[mid].iap_id < iap_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static bool entry_before(const struct snap_rank_entry *a, const struct snap_rank_entry *b)
{
	if (a->priority != b->priority)
		return a->priority < b->priority;
	return a->iap_id < b->iap_id;
}

static void sort_entries(struct snap_rank_entry *e, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct snap_rank_entry x = e[i];
		size_t j = i;

		for (; j > 0 && entry_before(&x, &e[j - 1]); j--)
			e[j] = e[j - 1];
		e[j] = x;
	}
}

static void sort_memory(struct snap_memory *m, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct snap_memory x = m[i];
		size_t j = i;

		for (; j > 0 && x.iap_id < m[j - 1].iap_id; j--)
			m[j] = m[j - 1];
		m[j] = x;
	}
}

static bool same_order(const struct snap_rank_entry *a, size_t na,
		       const struct snap_rank_entry *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (a[i].iap_id != b[i].iap_id || a[i].priority != b[i].priority)
			return false;
	return true;
}

int snap_rank(struct snap_ranking *r, const struct snap_iap_view *views, size_t n)
{
	const struct policy_snap *s = r->snap;
	struct snap_rank_entry *tmp_order;
	struct snap_memory *tmp_memory;
	size_t n_order = 0, n_memory = 0;
	bool changed;

	if (n > r->cap && snap_ranking_reserve(r, n) < 0)
		return -ENOMEM;

	for (size_t i = 0; s && i < n; i++) {
		const struct snap_iap_view *v = &views[i];
		uint64_t before = recall(r, v->id), now = 0;
		size_t best = SIZE_MAX;

		if (!v->available || !kind_in(s->bearers, v->kind))
			continue;       /* and forget its signal history */
		/* Rules are sorted by priority: the first that admits the IAP
		 * is the best; the min-signal ones after it are still asked,
		 * to keep their memory right. */
		for (size_t j = 0; j < s->n_rules; j++) {
			const struct policy_rule *rule = &s->rules[j];
			bool signal = rule->min_signal >= 0;

			if (best != SIZE_MAX && !signal)
				continue;
			if (!snap_rule_match(rule, v, before & RULE_BIT(j)))
				continue;
			if (signal)
				now |= RULE_BIT(j);
			if (best == SIZE_MAX)
				best = j;
		}
		if (now)
			r->next_memory[n_memory++] = (struct snap_memory){ v->id, now };
		if (best != SIZE_MAX)
			r->next_order[n_order++] = (struct snap_rank_entry){
				.iap_id = v->id,
				.priority = s->rules[best].priority,
				.rule = (unsigned int)best,
				.view = i,
			};
	}
	sort_entries(r->next_order, n_order);
	sort_memory(r->next_memory, n_memory);
	changed = !same_order(r->next_order, n_order, r->order, r->n_order);

	tmp_order = r->order;
	r->order = r->next_order;
	r->next_order = tmp_order;
	r->n_order = n_order;
	tmp_memory = r->memory;
	r->memory = r->next_memory;
	r->next_memory = tmp_memory;
	r->n_memory = n_memory;
	return changed;
}

void snap_ranking_replace(struct snap_ranking *r, unsigned int old_id, unsigned int new_id)
{
	uint64_t moved = 0;
	bool have_new = false;
	size_t k = 0;

	if (old_id == new_id)
		return;
	/* The memory: old_id's bits go to new_id (merged, should new_id
	 * have some already).  Removing one entry before adding one keeps
	 * within the capacity. */
	for (size_t i = 0; i < r->n_memory; i++) {
		if (r->memory[i].iap_id == old_id)
			moved = r->memory[i].admitted;
		else
			r->memory[k++] = r->memory[i];
	}
	r->n_memory = k;
	for (size_t i = 0; moved && i < r->n_memory; i++)
		if (r->memory[i].iap_id == new_id) {
			r->memory[i].admitted |= moved;
			moved = 0;
		}
	if (moved) {
		r->memory[r->n_memory++] = (struct snap_memory){ new_id, moved };
		sort_memory(r->memory, r->n_memory);
	}

	/* The order: old_id's entry becomes new_id's, unless new_id has one
	 * (then the next snap_rank() decides). */
	for (size_t i = 0; i < r->n_order; i++)
		have_new |= r->order[i].iap_id == new_id;
	k = 0;
	for (size_t i = 0; i < r->n_order; i++) {
		struct snap_rank_entry e = r->order[i];

		if (e.iap_id == old_id) {
			if (have_new)
				continue;
			e.iap_id = new_id;
		}
		r->order[k++] = e;
	}
	r->n_order = k;
	sort_entries(r->order, r->n_order);
}

size_t snap_ranking_count(const struct snap_ranking *r)
{
	return r->n_order;
}

const struct snap_rank_entry *snap_ranking_at(const struct snap_ranking *r, size_t i)
{
	return i < r->n_order ? &r->order[i] : NULL;
}

const struct snap_rank_entry *snap_ranking_best(const struct snap_ranking *r)
{
	return snap_ranking_at(r, 0);
}

const struct snap_rank_entry *snap_ranking_find(const struct snap_ranking *r,
						unsigned int iap_id)
{
	for (size_t i = 0; i < r->n_order; i++)
		if (r->order[i].iap_id == iap_id)
			return &r->order[i];
	return NULL;
}

int snap_ranking_position(const struct snap_ranking *r, unsigned int iap_id)
{
	const struct snap_rank_entry *e = snap_ranking_find(r, iap_id);

	return e ? (int)(e - r->order) : -ENOENT;
}

bool snap_ranking_better(const struct snap_ranking *r, unsigned int a, unsigned int b)
{
	const struct snap_rank_entry *ea = snap_ranking_find(r, a);
	const struct snap_rank_entry *eb = snap_ranking_find(r, b);

	if (!ea)
		return false;
	if (!eb)
		return true;
	return ea->priority < eb->priority;
}
