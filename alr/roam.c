/*
 * The ALR engine (alr/roam.h, docs/roaming.md).
 *
 * Shape: every input applies itself (possibly taking one edge of one
 * profile's machine), then settle() lets every profile react to the new
 * situation until nothing moves: an IAP that became offerable, a round
 * whose answers are all in, an op that completed or failed on the spot.
 * Edges are only taken by roam_enter_state(); handlers decide the next
 * state and send the events that announce the decision before the edge
 * (DESIGN §3.3: "migration-started; the profile registers ..."), the
 * edge runs the SIP action of the new state, re-arms the profile's timer,
 * logs `old -> new` and tells the state observer last.
 *
 * One timer per profile, armed for the earliest of: the offer's deadline,
 * the moment a better IAP has been stable for stable-time, the moment
 * damping lets the next migration through, the next probe of an IAP
 * marked unreachable (docs/roaming.md, "Marks").  Nothing on the loss path
 * waits for it: loss of the current IAP is handled inside
 * roam_iaps_changed(), and the request over the next IAP leaves before it
 * returns.
 *
 * Memory: profiles, controllers and SNAP contexts are allocated when they
 * are created (enable, control, SNAP load); roam_iaps_changed() allocates
 * only when it meets more IAPs than ever before.
 *
 * Length: one file for one machine (its state table is ~60 edges, each
 * handler next to the others so the table reads top to bottom), the
 * approval rounds and the damping that feed it; over 1,200 lines for
 * that reason.  The rounds could move to their own file once the
 * registry's machine is folded in (docs/roaming.md, "Left").
 */
#include "alr/roam.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define SETTLE_MAX_PASSES       64
#define STOP_TIMEOUT_MS         2000u
/* Probes of an unreachable IAP (docs/roaming.md, "Marks"): the first
 * within 5 s of the mark, then twice as far apart each time it is not
 * answered, at most 5 min; an outcome that never comes is given up after
 * PROBE_LOST_MS (a probe that gets no answer ends at its Timer F, 32 s). */
#define PROBE_FIRST_MS          5000u
#define PROBE_CAP_MS            (5u * 60u * 1000u)
#define PROBE_LOST_MS           (2u * 60u * 1000u)

/* ---- names -------------------------------------------------------------- */

static const char *const state_names[_ROAM_STATE_MAX] = {
	[ROAM_UNREGISTERED] = "UNREGISTERED",
	[ROAM_WAIT_FOR_IAP] = "WAIT_FOR_IAP",
	[ROAM_REGISTERING] = "REGISTERING",
	[ROAM_REGISTERED] = "REGISTERED",
	[ROAM_WAIT_FOR_PERMISSION] = "WAIT_FOR_PERMISSION",
	[ROAM_MIGRATING] = "MIGRATING",
	[ROAM_UNREGISTERING_OLD] = "UNREGISTERING_OLD",
	[ROAM_UNREGISTERING] = "UNREGISTERING",
};

static const char *const registration_names[_ROAM_REG_MAX] = {
	[ROAM_REG_UNREGISTERED] = "UNREGISTERED",
	[ROAM_REG_REGISTERING] = "REGISTERING",
	[ROAM_REG_REGISTERED] = "REGISTERED",
	[ROAM_REG_UNREGISTERING] = "UNREGISTERING",
};

static const char *const phase_names[_ROAM_STATE_MAX] = {
	[ROAM_UNREGISTERED] = "unregistered",
	[ROAM_WAIT_FOR_IAP] = "wait-for-iap",
	[ROAM_REGISTERING] = "registering",
	[ROAM_REGISTERED] = "registered",
	[ROAM_WAIT_FOR_PERMISSION] = "wait-for-permission",
	[ROAM_MIGRATING] = "migrating",
	[ROAM_UNREGISTERING_OLD] = "unregistering-old",
	[ROAM_UNREGISTERING] = "unregistering",
};

static const char *const registration_wire_names[_ROAM_REG_MAX] = {
	[ROAM_REG_UNREGISTERED] = "unregistered",
	[ROAM_REG_REGISTERING] = "registering",
	[ROAM_REG_REGISTERED] = "registered",
	[ROAM_REG_UNREGISTERING] = "unregistering",
};

static const char *const event_names[_ROAM_EVENT_MAX] = {
	[ROAM_EVENT_IAP_AVAILABLE] = "alr.iap-available",
	[ROAM_EVENT_MIGRATION_STARTED] = "alr.migration-started",
	[ROAM_EVENT_MIGRATION_COMPLETED] = "alr.migration-completed",
	[ROAM_EVENT_ERROR] = "alr.error",
	[ROAM_EVENT_NO_IAP] = "alr.no-iap",
	[ROAM_EVENT_REGISTERED] = "profile.registered",
	[ROAM_EVENT_UPDATED] = "profile.updated",
	[ROAM_EVENT_DEREGISTERED] = "profile.deregistered",
};

static const char *const error_names[_ROAM_ERROR_MAX] = {
	[ROAM_ERROR_ACCESS_DENIED] = "access-denied",
	[ROAM_ERROR_MIGRATION_FAILED] = "migration-failed",
	[ROAM_ERROR_REGISTRATION_FAILED] = "registration-failed",
	[ROAM_ERROR_OFFER_WITHDRAWN] = "offer-withdrawn",
	[ROAM_ERROR_MIGRATION_ABORTED] = "migration-aborted",
	[ROAM_ERROR_REMOVAL_FAILED] = "removal-failed",
};

static const char *const reason_names[_ROAM_REASON_MAX] = {
	[ROAM_REASON_DISABLED] = "disabled",
	[ROAM_REASON_NETWORK_LOST] = "network-lost",
	[ROAM_REASON_DELETED] = "deleted",
	[ROAM_REASON_FORCED] = "forced",
	[ROAM_REASON_ERROR] = "error",
	[ROAM_REASON_UPDATE] = "update",
	[ROAM_REASON_RESTORE] = "restore",
	[ROAM_REASON_SHUTDOWN] = "shutdown",
	[ROAM_REASON_MIGRATION] = "migration",
};

const char *roam_state_to_str(enum roam_state s)
{
	return (unsigned)s < _ROAM_STATE_MAX ? state_names[s] : "unknown";
}

const char *roam_registration_to_str(enum roam_registration reg)
{
	return (unsigned)reg < _ROAM_REG_MAX ? registration_names[reg] : "unknown";
}

const char *roam_state_to_phase(enum roam_state s)
{
	return (unsigned)s < _ROAM_STATE_MAX ? phase_names[s] : "unknown";
}

const char *roam_registration_to_name(enum roam_registration reg)
{
	return (unsigned)reg < _ROAM_REG_MAX ? registration_wire_names[reg] : "unknown";
}

const char *roam_event_type_to_str(enum roam_event_type t)
{
	return (unsigned)t < _ROAM_EVENT_MAX ? event_names[t] : "unknown";
}

const char *roam_error_to_str(enum roam_error e)
{
	return (unsigned)e < _ROAM_ERROR_MAX && error_names[e] ? error_names[e] : "unknown";
}

const char *roam_reason_to_str(enum roam_reason reason)
{
	return (unsigned)reason < _ROAM_REASON_MAX ? reason_names[reason] : "unknown";
}

/* ---- objects ------------------------------------------------------------ */

/* What the engine keeps of an IAP view: the strings are the caller's. */
struct roam_view {
	unsigned int id;
	enum iap_kind kind;
	bool available;
};

/* Since when an IAP has held its place in a SNAP's order (stable-time). */
struct roam_since {
	unsigned int iap;
	unsigned int priority;
	uint64_t since_ms;
};

/* One SNAP of the current set: its ranking and stability memory. */
struct roam_snap {
	unsigned int id;
	const struct policy_snap *snap;
	struct snap_ranking *rank;
	struct roam_since *since;
	struct roam_since *next_since;
	size_t n_since;
	size_t cap;
};

struct roam_controller {
	unsigned int profile;
	unsigned int client;
	uint64_t round;                 /* the round its allow is for; 0: none */
};

/* Why an IAP is marked, strongest last: a new mark never weakens one. */
enum mark_kind {
	MARK_UNREACHABLE,               /* transport evidence: no answer, ICMP, no route;
					   cleared when the registrar answers over it */
	MARK_REFUSED,                   /* the registrar refused us over it for good */
	MARK_DISALLOWED,                /* the controllers said no */
};

/* An IAP not offered (nor preferred) until it changes, a refresh, or, for
 * an unreachable one, the registrar answering over it. */
struct roam_mark {
	unsigned int iap;
	enum mark_kind kind;
	unsigned int probes;            /* UNREACHABLE: probes not answered */
	uint64_t probe_at;              /* UNREACHABLE: the next one is due */
};

/* The SIP request a state's entry sent, for outcomes that come at once. */
enum roam_op {
	OP_NONE,
	OP_REGISTER,
	OP_MOVE,
	OP_REMOVE_OLD,
	OP_DEREGISTER,
};

struct roam_profile {
	unsigned int id;
	char name[ROAM_NAME_MAX];
	struct roam_profile_config cfg; /* .name unused */

	bool want;                      /* enabled: registered is what we want */
	bool renew;                     /* want_cfg waits for the deregistration */
	struct roam_profile_config want_cfg;

	enum roam_state state;
	unsigned int cur;               /* registered or registering over */
	bool registered;                /* profile.registered sent, not yet deregistered */

	/* The binding, as far as the engine asked: the IAP it registers over
	 * (0: idle or going idle), and whether that IAP went away since. */
	unsigned int binding_iap;
	bool binding_lost;
	bool abandoned;                 /* sip_abandon() since the last op */
	bool force_register;            /* refresh: send again even over the same IAP */

	/* Contacts other than the current one are (maybe) at the registrar. */
	bool stale;
	unsigned int old_iap;           /* the last of them was over it */
	unsigned int remove_via;        /* UNREGISTERING_OLD */
	unsigned int dereg_via;         /* UNREGISTERING */
	uint64_t stop_deadline_ms;      /* UNREGISTERING: abandoned after it */
	enum roam_reason stop_reason;   /* the profile.deregistered of a stop */

	/* A migration under way (MIGRATING, UNREGISTERING_OLD after one). */
	unsigned int from, to;
	bool bbm;                       /* break-before-make */
	bool breaking;                  /* UNREGISTERING_OLD is the "break" */

	/* The offer (WAIT_FOR_PERMISSION). */
	unsigned int offer;
	uint64_t round;
	uint64_t deadline_ms;

	/* IAPs not offered (nor preferred) until they change or a refresh. */
	struct roam_mark blocked[ROAM_MAX_BLOCKED];
	size_t n_blocked;
	/* The probe out (0: none) and when it went; the last unreachable
	 * mark a probe cleared, whose backoff goes on if the IAP fails again
	 * soon (a path that answers probes but not registrations). */
	unsigned int probing;
	uint64_t probe_sent_ms;
	struct roam_mark reprobe;
	uint64_t reprobe_until_ms;

	/* Damping: start times of the last migrations, oldest first. */
	uint64_t *history;
	size_t n_history;
	size_t cap_history;
	uint64_t held_until_ms;         /* logged once per hold */

	/* The profile's calls (roam_profile_calls()), and a better IAP that
	 * waits for them: logged once per IAP. */
	unsigned int calls_ringing, calls_answered;
	unsigned int calls_held;        /* the IAP waiting; 0: none */
	bool timeout_allowed;           /* WAIT_FOR_PERMISSION: the deadline passed
					   with on-timeout = allow; only the calls wait */

	uint64_t timer_at;              /* 0: not armed */

	/* When cur last switched identity (0: never): what the SNAP's rules
	 * see of it (connection name, SSID, ...) came or went with
	 * NetworkManager, not with the network.  Nothing is offered for
	 * stable-time after it, so that NetworkManager stopping or starting
	 * (one connection after the other) moves nobody. */
	uint64_t cur_switched_ms;

	struct {
		enum roam_op op;
		unsigned int iap;
		int result;             /* ROAM_OP_DONE or -errno */
	} pending;
};

struct roam {
	const struct roam_ops *ops;
	void *user_data;
	const struct policy_set *set;

	struct roam_snap *snaps;
	size_t n_snaps;

	struct roam_view *views;
	size_t n_views;
	size_t cap_views;

	struct roam_profile **profiles;
	size_t n_profiles;
	size_t cap_profiles;

	struct roam_controller *controllers;
	size_t n_controllers;
	size_t cap_controllers;

	uint64_t last_round;
	uint64_t stop_timeout_ms;
	bool busy;                      /* inside an input: ops must not re-enter */
	bool recheck;                   /* roam_profile_calls() from an op: settle again */
};

#define PFMT            "profile %u (%s)"
#define PARGS(p)        (p)->id, (p)->name

static void roam_enter_state(struct roam *r, struct roam_profile *p,
			     enum roam_state state, const char *why);

/* ---- small helpers -------------------------------------------------------- */

static uint64_t now_ms(const struct roam *r)
{
	return r->ops->now_ms(r->user_data);
}

static void put_message(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void put_message(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (!buf || size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

static struct roam_profile *find_profile(const struct roam *r, unsigned int id)
{
	for (size_t i = 0; i < r->n_profiles; i++)
		if (r->profiles[i]->id == id)
			return r->profiles[i];
	return NULL;
}

static const struct roam_view *find_view(const struct roam *r, unsigned int iap)
{
	if (iap == ROAM_IAP_NONE)
		return NULL;
	for (size_t i = 0; i < r->n_views; i++)
		if (r->views[i].id == iap)
			return &r->views[i];
	return NULL;
}

static bool available(const struct roam *r, unsigned int iap)
{
	const struct roam_view *v = find_view(r, iap);

	return v && v->available;
}

static bool fixed(const struct roam_profile *p)
{
	return p->cfg.iap_id != ROAM_IAP_NONE;
}

static struct roam_snap *snap_ctx(const struct roam *r, const struct roam_profile *p)
{
	if (fixed(p))
		return NULL;
	for (size_t i = 0; i < r->n_snaps; i++)
		if (r->snaps[i].id == p->cfg.snap_id)
			return &r->snaps[i];
	return NULL;
}

static const struct policy_snap *snap_of(const struct roam *r, const struct roam_profile *p)
{
	const struct roam_snap *s = snap_ctx(r, p);

	return s ? s->snap : NULL;
}

static bool kind_ok(const struct roam_profile *p, enum iap_kind kind)
{
	unsigned int mask = p->cfg.bearers ? p->cfg.bearers : POLICY_KINDS_ALL;

	return (unsigned)kind < _IAP_KIND_MAX && (mask & POLICY_KIND_BIT(kind));
}

/*
 * The profile's candidates, best first: the SNAP's order narrowed by the
 * profile's bearer filter, or its fixed IAP while available.  Call with
 * *i = 0, then again until it returns ROAM_IAP_NONE.
 */
static unsigned int next_candidate(const struct roam *r, const struct roam_profile *p,
				   size_t *i)
{
	const struct roam_snap *s;

	if (fixed(p)) {
		const struct roam_view *v = find_view(r, p->cfg.iap_id);

		if ((*i)++ > 0 || !v || !v->available || !kind_ok(p, v->kind))
			return ROAM_IAP_NONE;
		return v->id;
	}
	s = snap_ctx(r, p);
	if (!s)
		return ROAM_IAP_NONE;
	while (*i < snap_ranking_count(s->rank)) {
		const struct snap_rank_entry *e = snap_ranking_at(s->rank, (*i)++);
		/* e->view indexes the views of the last snap_rank(), which
		 * are r->views in the same order. */
		const struct roam_view *v = e->view < r->n_views ? &r->views[e->view] : NULL;

		if (!v || v->id != e->iap_id)
			v = find_view(r, e->iap_id);
		if (v && v->available && kind_ok(p, v->kind))
			return e->iap_id;
	}
	return ROAM_IAP_NONE;
}

static bool is_candidate(const struct roam *r, const struct roam_profile *p, unsigned int iap)
{
	size_t i = 0;
	unsigned int c;

	while ((c = next_candidate(r, p, &i)) != ROAM_IAP_NONE)
		if (c == iap)
			return true;
	return false;
}

/* Is @a better than @b for the profile (snap_ranking_better()). */
static bool better(const struct roam *r, const struct roam_profile *p,
		   unsigned int a, unsigned int b)
{
	const struct roam_snap *s = snap_ctx(r, p);

	return s && snap_ranking_better(s->rank, a, b);
}

static struct roam_mark *find_mark(const struct roam_profile *p, unsigned int iap)
{
	for (size_t i = 0; i < p->n_blocked; i++)
		if (p->blocked[i].iap == iap)
			return (struct roam_mark *)&p->blocked[i];
	return NULL;
}

static bool is_blocked(const struct roam_profile *p, unsigned int iap)
{
	return find_mark(p, iap) != NULL;
}

/* A deterministic spread in [0, range] for probe @n of profile @id over @iap:
 * profiles that failed together do not probe together (the engine has no
 * randomness of its own, and needs none to be tested). */
static uint64_t probe_spread(unsigned int id, unsigned int iap, unsigned int n, uint64_t range)
{
	uint64_t x = ((uint64_t)id << 32 | iap) ^ ((uint64_t)n * 0x9e3779b97f4a7c15ull);

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return range ? x % (range + 1) : 0;
}

/* How long after now the next probe of @m goes: in [d/2, d], d = 5 s
 * doubled per probe not answered, at most 5 min. */
static uint64_t probe_delay(const struct roam_profile *p, const struct roam_mark *m)
{
	unsigned int n = m->probes < 16 ? m->probes : 16;
	uint64_t d = (uint64_t)PROBE_FIRST_MS << n;

	if (d > PROBE_CAP_MS)
		d = PROBE_CAP_MS;
	return d / 2 + probe_spread(p->id, m->iap, n, d / 2);
}

static void block(const struct roam *r, struct roam_profile *p, unsigned int iap,
		  enum mark_kind kind)
{
	struct roam_mark *m;

	if (iap == ROAM_IAP_NONE)
		return;
	m = find_mark(p, iap);
	if (m) {
		if (kind > m->kind)
			m->kind = kind;
		return;
	}
	if (p->n_blocked == ROAM_MAX_BLOCKED) {
		/* The oldest mark goes: at worst that IAP is offered again. */
		memmove(&p->blocked[0], &p->blocked[1],
			(ROAM_MAX_BLOCKED - 1) * sizeof(p->blocked[0]));
		p->n_blocked--;
	}
	m = &p->blocked[p->n_blocked++];
	*m = (struct roam_mark){ .iap = iap, .kind = kind };
	if (kind == MARK_UNREACHABLE) {
		/* Failing again soon after a probe cleared it: the backoff
		 * goes on where it was. */
		if (p->reprobe.iap == iap && now_ms(r) < p->reprobe_until_ms)
			m->probes = p->reprobe.probes + 1;
		m->probe_at = now_ms(r) + probe_delay(p, m);
	}
}

static void unmark_at(struct roam_profile *p, size_t i)
{
	memmove(&p->blocked[i], &p->blocked[i + 1],
		(p->n_blocked - i - 1) * sizeof(p->blocked[0]));
	p->n_blocked--;
}

/* The registrar answered over @iap (a registration, its own error, a
 * probe): whatever said it could not be reached over it is wrong now. */
static void registrar_answers(struct roam_profile *p, unsigned int iap, const char *how)
{
	struct roam_mark *m = find_mark(p, iap);

	if (!m || m->kind != MARK_UNREACHABLE)
		return;
	log_info(PFMT ": the registrar answers over iap %u again (%s); it may be "
		 "offered again", PARGS(p), iap, how);
	unmark_at(p, (size_t)(m - p->blocked));
}

/* Marks go when their IAP changes: it left the profile's candidates
 * (unavailable, or no longer admitted by the SNAP). */
static void unblock_changed(const struct roam *r, struct roam_profile *p)
{
	size_t k = 0;

	for (size_t i = 0; i < p->n_blocked; i++) {
		if (is_candidate(r, p, p->blocked[i].iap))
			p->blocked[k++] = p->blocked[i];
		else
			log_debug(PFMT ": iap %u changed, may be offered again",
				  PARGS(p), p->blocked[i].iap);
	}
	p->n_blocked = k;
}

/* Where to register without asking: the best candidate not marked, else
 * the best marked one (a failover never waits while an IAP is there). */
static unsigned int registration_target(const struct roam *r, const struct roam_profile *p)
{
	size_t i = 0;
	unsigned int c, first = ROAM_IAP_NONE;

	while ((c = next_candidate(r, p, &i)) != ROAM_IAP_NONE) {
		if (!is_blocked(p, c))
			return c;
		if (first == ROAM_IAP_NONE)
			first = c;
	}
	return first;
}

static unsigned int best_unblocked(const struct roam *r, const struct roam_profile *p)
{
	size_t i = 0;
	unsigned int c;

	while ((c = next_candidate(r, p, &i)) != ROAM_IAP_NONE)
		if (!is_blocked(p, c))
			return c;
	return ROAM_IAP_NONE;
}

/* When @iap will have been in its place of the profile's SNAP for the
 * SNAP's stable-time; 0 when it is not in the order. */
static uint64_t stable_at(const struct roam *r, const struct roam_profile *p, unsigned int iap)
{
	const struct roam_snap *s = snap_ctx(r, p);

	if (!s || !s->snap)
		return 0;
	for (size_t i = 0; i < s->n_since; i++)
		if (s->since[i].iap == iap)
			return s->since[i].since_ms + s->snap->stable_time_ms;
	return 0;
}

/* Until when an identity switch of the current IAP holds offers back
 * (0: it does not). */
static uint64_t switch_settles_at(const struct roam *r, const struct roam_profile *p)
{
	const struct roam_snap *s = snap_ctx(r, p);

	if (!s || !s->snap || p->cur_switched_ms == 0)
		return 0;
	return p->cur_switched_ms + s->snap->stable_time_ms;
}

/*
 * What to offer now: the best candidate better than the current IAP that
 * has been stable for stable-time and is not marked, and not within
 * stable-time of an identity switch of the current IAP.  *ret_wake (if not
 * NULL) gets the earliest moment a better one becomes stable (0: none).
 */
static unsigned int offer_target(const struct roam *r, const struct roam_profile *p,
				 uint64_t now, uint64_t *ret_wake)
{
	size_t i = 0;
	unsigned int c, target = ROAM_IAP_NONE;
	uint64_t wake = 0, settled = switch_settles_at(r, p);

	if (!fixed(p)) {
		while ((c = next_candidate(r, p, &i)) != ROAM_IAP_NONE) {
			uint64_t at;

			/* Sorted by priority: after the first one that is not
			 * better, none is. */
			if (!better(r, p, c, p->cur))
				break;
			if (is_blocked(p, c))
				continue;
			at = stable_at(r, p, c);
			if (at < settled)
				at = settled;
			if (at <= now) {
				target = c;
				break;
			}
			if (wake == 0 || at < wake)
				wake = at;
		}
	}
	if (ret_wake)
		*ret_wake = wake;
	return target;
}

static size_t count_controllers(const struct roam *r, unsigned int profile)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_controllers; i++)
		n += r->controllers[i].profile == profile;
	return n;
}

static struct roam_controller *find_controller(const struct roam *r, unsigned int profile,
					       unsigned int client)
{
	for (size_t i = 0; i < r->n_controllers; i++)
		if (r->controllers[i].profile == profile && r->controllers[i].client == client)
			return &r->controllers[i];
	return NULL;
}

/* ---- damping -------------------------------------------------------------- */

static void history_prune(struct roam_profile *p, const struct policy_snap *s, uint64_t now)
{
	size_t k = 0;

	if (!s || s->max_migrations == POLICY_UNLIMITED) {
		p->n_history = 0;
		return;
	}
	while (k < p->n_history && p->history[k] + s->migration_window_ms <= now)
		k++;
	memmove(p->history, p->history + k, (p->n_history - k) * sizeof(*p->history));
	p->n_history -= k;
}

static int history_reserve(struct roam_profile *p, const struct policy_snap *s)
{
	uint64_t *h;

	if (!s || s->max_migrations == POLICY_UNLIMITED || p->cap_history >= s->max_migrations)
		return 0;
	h = realloc(p->history, s->max_migrations * sizeof(*h));
	if (!h)
		return -ENOMEM;
	p->history = h;
	p->cap_history = s->max_migrations;
	return 0;
}

/* 0 when a migration may start now, else when it may. */
static uint64_t damped_until(const struct roam *r, struct roam_profile *p, uint64_t now)
{
	const struct policy_snap *s = snap_of(r, p);
	size_t limit;

	history_prune(p, s, now);
	if (!s || s->max_migrations == POLICY_UNLIMITED)
		return 0;
	/* Without the memory for max-migrations entries (out of memory on a
	 * reload), the memory we have is the limit: damp more, not less. */
	limit = s->max_migrations < p->cap_history ? s->max_migrations : p->cap_history;
	if (p->n_history < limit)
		return 0;
	return p->history[p->n_history - limit] + s->migration_window_ms;
}

static void history_add(const struct roam *r, struct roam_profile *p, uint64_t now)
{
	const struct policy_snap *s = snap_of(r, p);

	history_prune(p, s, now);
	if (p->cap_history == 0 || !s || s->max_migrations == POLICY_UNLIMITED)
		return;
	if (p->n_history == p->cap_history) {
		memmove(p->history, p->history + 1, (p->n_history - 1) * sizeof(*p->history));
		p->n_history--;
	}
	p->history[p->n_history++] = now;
}

static bool status_ok(int status)
{
	return status == 0 || (status >= 200 && status < 300);
}

/* "503 Service Unavailable", "Connection timed out", the reason alone. */
static const char *describe(char *buf, size_t size, int status, const char *reason)
{
	if (!reason)
		reason = "";
	if (status > 0)
		snprintf(buf, size, "%d%s%s", status, *reason ? " " : "", reason);
	else if (status < 0 && !*reason)
		snprintf(buf, size, "%s", strerror(-status));
	else
		snprintf(buf, size, "%s", reason);
	return buf;
}

/* ---- events --------------------------------------------------------------- */

static void emit(const struct roam *r, const struct roam_profile *p, struct roam_event ev)
{
	ev.profile = p->id;
	ev.snap = fixed(p) ? ROAM_SNAP_NONE : (int)p->cfg.snap_id;
	r->ops->event(r->user_data, &ev);
}

static void emit_error(const struct roam *r, const struct roam_profile *p, unsigned int to,
		       enum roam_error code, unsigned int iap, int status,
		       const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void emit_error(const struct roam *r, const struct roam_profile *p, unsigned int to,
		       enum roam_error code, unsigned int iap, int status,
		       const char *fmt, ...)
{
	char message[ROAM_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	log_info(PFMT ": alr.error %s, iap %u: %s", PARGS(p), roam_error_to_str(code), iap,
		 message);
	emit(r, p, (struct roam_event){
		.type = ROAM_EVENT_ERROR,
		.to = to,
		.iap = iap,
		.code = code,
		.status = status,
		.message = message,
	});
}

static void emit_offer(const struct roam *r, const struct roam_profile *p, unsigned int to,
		       unsigned int client)
{
	emit(r, p, (struct roam_event){
		.type = ROAM_EVENT_IAP_AVAILABLE,
		.to = to,
		.client = client,
		.iap = p->offer,
		.round = p->round,
		.deadline_ms = p->deadline_ms,
	});
}

static void emit_deregistered(const struct roam *r, struct roam_profile *p,
			      enum roam_reason reason)
{
	if (!p->registered)
		return;
	p->registered = false;
	emit(r, p, (struct roam_event){
		.type = ROAM_EVENT_DEREGISTERED,
		.to = ROAM_TO_CONTROLLERS | ROAM_TO_OBSERVERS,
		.iap = p->cur,
		.reason = reason,
	});
}

/* ---- SIP actions (run by roam_enter_state()) ------------------------------ */

static void issue(struct roam *r, struct roam_profile *p, enum roam_op op,
		  unsigned int iap, unsigned int via)
{
	const struct roam_ops *o = r->ops;
	int res = ROAM_OP_STARTED;

	switch (op) {
	case OP_REGISTER:
		res = o->sip_register(r->user_data, p->id, iap);
		break;
	case OP_MOVE:
		res = o->sip_move(r->user_data, p->id, iap);
		break;
	case OP_REMOVE_OLD:
		res = o->sip_remove_old(r->user_data, p->id, iap, via);
		break;
	case OP_DEREGISTER:
		res = o->sip_deregister(r->user_data, p->id, via);
		break;
	case OP_NONE:
		return;
	}
	/* An outcome known now is handled once this edge is complete
	 * (settle()), never from inside it.  A later edge's op replaces it:
	 * the outcome of a request the profile has moved past is moot. */
	p->pending.op = res == ROAM_OP_STARTED ? OP_NONE : op;
	p->pending.iap = op == OP_DEREGISTER ? via : iap;
	p->pending.result = res;
}

/* Have the binding register over @iap, unless it is doing so already. */
static void ensure_binding(struct roam *r, struct roam_profile *p, unsigned int iap, bool force)
{
	enum roam_op op;

	if (!force && !p->force_register && p->binding_iap == iap && !p->binding_lost &&
	    !p->abandoned)
		return;
	op = p->binding_iap == ROAM_IAP_NONE ? OP_REGISTER : OP_MOVE;
	p->binding_iap = iap;
	p->binding_lost = false;
	p->abandoned = false;
	p->force_register = false;
	issue(r, p, op, iap, 0);
}

/* ---- probes --------------------------------------------------------------- */

/* Probes go while the profile is registered and sits still: never while
 * nothing is registered, nor in the middle of a move. */
static bool probes_allowed(const struct roam_profile *p)
{
	return p->state == ROAM_REGISTERED || p->state == ROAM_WAIT_FOR_PERMISSION;
}

/* The unreachable mark worth a probe: on the best candidate better than
 * cur that has one, whose clearing would move the profile there.  Marks
 * on IAPs no better than cur hold nothing back (failover falls back to
 * marked IAPs anyway): they are not probed. */
static struct roam_mark *probe_target(const struct roam *r, const struct roam_profile *p)
{
	size_t i = 0;
	unsigned int c;

	if (!r->ops->sip_probe || !probes_allowed(p) || fixed(p))
		return NULL;
	while ((c = next_candidate(r, p, &i)) != ROAM_IAP_NONE) {
		struct roam_mark *m;

		if (!better(r, p, c, p->cur))
			break;
		m = find_mark(p, c);
		if (m && m->kind == MARK_UNREACHABLE)
			return m;
	}
	return NULL;
}

/* When the profile's timer must wake it for a probe (0: never). */
static uint64_t probe_wake(const struct roam *r, const struct roam_profile *p)
{
	const struct roam_mark *m;

	if (p->probing != ROAM_IAP_NONE)
		return probes_allowed(p) ? p->probe_sent_ms + PROBE_LOST_MS : 0;
	m = probe_target(r, p);
	return m ? (m->probe_at ? m->probe_at : 1) : 0;
}

static void probe_not_answered(const struct roam *r, struct roam_profile *p,
			       struct roam_mark *m, const char *what)
{
	uint64_t d;

	m->probes++;
	d = probe_delay(p, m);
	m->probe_at = now_ms(r) + d;
	log_info(PFMT ": the registrar does not answer over iap %u (%s); next probe in %.1f s",
		 PARGS(p), m->iap, what, (double)d / 1000.);
}

/* Send the probe that is due, if any: an op, no edge. */
static void probe_if_due(struct roam *r, struct roam_profile *p, uint64_t now)
{
	struct roam_mark *m;
	int res;

	if (p->probing != ROAM_IAP_NONE) {
		if (now < p->probe_sent_ms + PROBE_LOST_MS)
			return;
		m = find_mark(p, p->probing);
		p->probing = ROAM_IAP_NONE;
		if (m && m->kind == MARK_UNREACHABLE)
			probe_not_answered(r, p, m, "the probe's outcome never came");
	}
	m = probe_target(r, p);
	if (!m || now < m->probe_at)
		return;
	res = r->ops->sip_probe(r->user_data, p->id, m->iap);
	if (res == ROAM_OP_STARTED) {
		log_debug(PFMT ": probing iap %u (%u not answered before)", PARGS(p), m->iap,
			  m->probes);
		p->probing = m->iap;
		p->probe_sent_ms = now;
	} else if (res == ROAM_OP_DONE) {
		registrar_answers(p, m->iap, "probe");
	} else {
		probe_not_answered(r, p, m, strerror(-res));
	}
}

/* ---- timer ---------------------------------------------------------------- */

static uint64_t min_nonzero(uint64_t a, uint64_t b)
{
	if (a == 0)
		return b;
	if (b == 0)
		return a;
	return a < b ? a : b;
}

static uint64_t next_wake(const struct roam *r, struct roam_profile *p)
{
	uint64_t now = now_ms(r), wake = 0, until;
	unsigned int target;

	switch (p->state) {
	case ROAM_WAIT_FOR_PERMISSION:
		offer_target(r, p, now, &wake);
		return min_nonzero(min_nonzero(p->timeout_allowed ? 0 : p->deadline_ms, wake),
				   probe_wake(r, p));
	case ROAM_REGISTERED:
		target = offer_target(r, p, now, &wake);
		if (target != ROAM_IAP_NONE) {
			until = damped_until(r, p, now);
			wake = min_nonzero(wake, until);
		}
		return min_nonzero(wake, probe_wake(r, p));
	case ROAM_UNREGISTERING:
		return p->stop_deadline_ms;
	case ROAM_UNREGISTERED:
	case ROAM_WAIT_FOR_IAP:
	case ROAM_REGISTERING:
	case ROAM_MIGRATING:
	case ROAM_UNREGISTERING_OLD:
		return 0;
	case _ROAM_STATE_MAX:
		break;
	}
	assert(!"bad state");
	return 0;
}

static void arm_timer(struct roam *r, struct roam_profile *p)
{
	uint64_t at = next_wake(r, p);

	if (at == p->timer_at)
		return;
	p->timer_at = at;
	if (at == 0) {
		r->ops->timer_stop(r->user_data, p->id);
	} else {
		uint64_t now = now_ms(r);

		log_debug(PFMT ": looks again in %" PRIu64 " ms", PARGS(p), at > now ? at - now : 0);
		r->ops->timer_start(r->user_data, p->id, at);
	}
}

/* ---- the one place a profile's state changes -------------------------------- */

static enum roam_registration registration_of(const struct roam_profile *p)
{
	switch (p->state) {
	case ROAM_UNREGISTERED:
		return ROAM_REG_UNREGISTERED;
	case ROAM_WAIT_FOR_IAP:         /* wanted, waiting for a network */
	case ROAM_REGISTERING:
		return ROAM_REG_REGISTERING;
	case ROAM_REGISTERED:
	case ROAM_WAIT_FOR_PERMISSION:
		return ROAM_REG_REGISTERED;
	case ROAM_MIGRATING:            /* break-before-make: not registered meanwhile */
		return p->bbm ? ROAM_REG_REGISTERING : ROAM_REG_REGISTERED;
	case ROAM_UNREGISTERING_OLD:
		return p->breaking ? ROAM_REG_REGISTERING : ROAM_REG_REGISTERED;
	case ROAM_UNREGISTERING:
		return ROAM_REG_UNREGISTERING;
	case _ROAM_STATE_MAX:
		break;
	}
	return ROAM_REG_UNREGISTERED;
}

#define TO(s)   (1u << (s))

/* The edges of docs/roaming.md; any other is a bug here. */
static const unsigned int edges[_ROAM_STATE_MAX] = {
	[ROAM_UNREGISTERED] = TO(ROAM_WAIT_FOR_IAP) | TO(ROAM_REGISTERING),
	[ROAM_WAIT_FOR_IAP] = TO(ROAM_REGISTERING) | TO(ROAM_UNREGISTERED),
	[ROAM_REGISTERING] = TO(ROAM_REGISTERING) | TO(ROAM_WAIT_FOR_IAP) | TO(ROAM_REGISTERED) |
			     TO(ROAM_UNREGISTERING_OLD) | TO(ROAM_UNREGISTERING),
	[ROAM_REGISTERED] = TO(ROAM_REGISTERING) | TO(ROAM_WAIT_FOR_IAP) |
			    TO(ROAM_WAIT_FOR_PERMISSION) | TO(ROAM_MIGRATING) |
			    TO(ROAM_UNREGISTERING_OLD) | TO(ROAM_UNREGISTERING),
	[ROAM_WAIT_FOR_PERMISSION] = TO(ROAM_WAIT_FOR_PERMISSION) | TO(ROAM_REGISTERED) |
				     TO(ROAM_MIGRATING) | TO(ROAM_UNREGISTERING_OLD) |
				     TO(ROAM_REGISTERING) | TO(ROAM_WAIT_FOR_IAP) |
				     TO(ROAM_UNREGISTERING),
	[ROAM_MIGRATING] = TO(ROAM_UNREGISTERING_OLD) | TO(ROAM_REGISTERED) | TO(ROAM_REGISTERING) |
			   TO(ROAM_WAIT_FOR_IAP) | TO(ROAM_UNREGISTERING),
	[ROAM_UNREGISTERING_OLD] = TO(ROAM_REGISTERED) | TO(ROAM_UNREGISTERING_OLD) |
				   TO(ROAM_MIGRATING) | TO(ROAM_REGISTERING) |
				   TO(ROAM_WAIT_FOR_IAP) | TO(ROAM_UNREGISTERING),
	[ROAM_UNREGISTERING] = TO(ROAM_UNREGISTERING) | TO(ROAM_UNREGISTERED),
};

static void roam_enter_state(struct roam *r, struct roam_profile *p,
			     enum roam_state state, const char *why)
{
	enum roam_state old = p->state;
	char detail[96] = "";

	if ((unsigned)old >= _ROAM_STATE_MAX || !(edges[old] & TO(state))) {
		log_err(PFMT ": impossible edge %s -> %s", PARGS(p), roam_state_to_str(old),
			roam_state_to_str(state));
		assert(!"impossible edge");
	}
	p->state = state;

	switch (state) {
	case ROAM_UNREGISTERED:
		if ((p->binding_iap != ROAM_IAP_NONE || p->binding_lost) && !p->abandoned)
			r->ops->sip_abandon(r->user_data, p->id);
		p->binding_iap = ROAM_IAP_NONE;
		p->binding_lost = false;
		p->abandoned = false;
		p->cur = ROAM_IAP_NONE;
		p->from = p->to = ROAM_IAP_NONE;
		p->offer = ROAM_IAP_NONE;
		p->bbm = p->breaking = false;
		p->pending.op = OP_NONE;
		p->stop_deadline_ms = 0;
		break;
	case ROAM_WAIT_FOR_IAP:
		/* Nothing to send over: the binding idles instead of retrying
		 * over a network that is gone (DESIGN §3.8: what it registered
		 * stays persisted and is removed once a path allows). */
		if (p->binding_iap != ROAM_IAP_NONE && !p->abandoned) {
			r->ops->sip_abandon(r->user_data, p->id);
			p->abandoned = true;
		}
		p->cur = ROAM_IAP_NONE;
		p->from = p->to = ROAM_IAP_NONE;
		p->bbm = p->breaking = false;
		break;
	case ROAM_REGISTERING:
		p->from = p->to = ROAM_IAP_NONE;
		p->bbm = p->breaking = false;
		ensure_binding(r, p, p->cur, false);
		snprintf(detail, sizeof(detail), " over iap %u", p->cur);
		break;
	case ROAM_REGISTERED:
		p->from = p->to = ROAM_IAP_NONE;
		p->bbm = p->breaking = false;
		/* After a failed move the binding is on the new IAP: take
		 * it back, so the old contact keeps being refreshed. */
		ensure_binding(r, p, p->cur, false);
		snprintf(detail, sizeof(detail), " over iap %u", p->cur);
		break;
	case ROAM_WAIT_FOR_PERMISSION:
		snprintf(detail, sizeof(detail), " (iap %u on offer, round %" PRIu64 ")",
			 p->offer, p->round);
		break;
	case ROAM_MIGRATING:
		ensure_binding(r, p, p->to, true);
		snprintf(detail, sizeof(detail), " (iap %u -> %u%s)", p->from, p->to,
			 p->bbm ? ", break-before-make" : "");
		break;
	case ROAM_UNREGISTERING_OLD:
		if (p->breaking) {
			/* Break-before-make: every contact goes first; clients
			 * see the registration end (profile.registered over
			 * the new IAP follows). */
			if (old != ROAM_UNREGISTERING_OLD)
				emit_deregistered(r, p, ROAM_REASON_MIGRATION);
			p->binding_iap = ROAM_IAP_NONE;
			p->binding_lost = false;
			issue(r, p, OP_DEREGISTER, 0, p->from);
			snprintf(detail, sizeof(detail), " (deregistering over iap %u)", p->from);
		} else {
			issue(r, p, OP_REMOVE_OLD, p->old_iap, p->remove_via);
			snprintf(detail, sizeof(detail), " (old contact of iap %u via iap %u)",
				 p->old_iap, p->remove_via);
		}
		break;
	case ROAM_UNREGISTERING:
		/* binding_iap stays until the binding is idle: leaving
		 * without the outcome abandons it (entry of UNREGISTERED). */
		p->from = p->to = ROAM_IAP_NONE;
		p->offer = ROAM_IAP_NONE;
		if (old != ROAM_UNREGISTERING)
			p->stop_deadline_ms = now_ms(r) + r->stop_timeout_ms;
		issue(r, p, OP_DEREGISTER, 0, p->dereg_via);
		snprintf(detail, sizeof(detail), " (via iap %u)", p->dereg_via);
		break;
	case _ROAM_STATE_MAX:
		assert(!"bad state");
		break;
	}

	arm_timer(r, p);
	/* ALR_PROFILE= and ALR_IAP= in the journal: the profile's story */
	log_profile(LOG_INFO, p->id, p->cur, PFMT ": %s -> %s%s%s%s", PARGS(p),
		    roam_state_to_str(old), roam_state_to_str(state), detail,
		    why ? ": " : "", why ? why : "");
	if (r->ops->state_changed)
		r->ops->state_changed(r->user_data, p->id, old, state);
}

/* ---- decisions ------------------------------------------------------------ */

/* Register over the best IAP there is, asking nobody; or wait for one. */
static void register_or_wait(struct roam *r, struct roam_profile *p, const char *why)
{
	unsigned int c = registration_target(r, p);

	if (c != ROAM_IAP_NONE) {
		p->cur = c;
		roam_enter_state(r, p, ROAM_REGISTERING, why);
		return;
	}
	emit(r, p, (struct roam_event){
		.type = ROAM_EVENT_NO_IAP,
		.to = ROAM_TO_CONTROLLERS | ROAM_TO_OBSERVERS,
	});
	roam_enter_state(r, p, ROAM_WAIT_FOR_IAP, why);
}

static void withdraw_offer(struct roam *r, struct roam_profile *p, const char *why)
{
	if (p->offer == ROAM_IAP_NONE)
		return;
	emit_error(r, p, ROAM_TO_CONTROLLERS, ROAM_ERROR_OFFER_WITHDRAWN, p->offer, 0,
		   "iap %u is no longer on offer: %s", p->offer, why);
	p->offer = ROAM_IAP_NONE;
}

/* The current IAP is gone (or the registrar cannot be reached over it):
 * no approval, no damping (DESIGN §3.5, §3.7). */
static void lose_current(struct roam *r, struct roam_profile *p, enum roam_reason reason,
			 const char *why)
{
	withdraw_offer(r, p, why);
	emit_deregistered(r, p, reason);
	p->stale = true;
	p->old_iap = p->cur;
	register_or_wait(r, p, why);
}

static void offer(struct roam *r, struct roam_profile *p, unsigned int iap)
{
	const struct policy_snap *s = snap_of(r, p);

	p->offer = iap;
	p->timeout_allowed = false;
	p->round = ++r->last_round;
	p->deadline_ms = now_ms(r) + (s ? s->approval_timeout_ms : 0);
	emit_offer(r, p, ROAM_TO_CONTROLLERS, 0);
	roam_enter_state(r, p, ROAM_WAIT_FOR_PERMISSION, NULL);
}

static void start_migration(struct roam *r, struct roam_profile *p, unsigned int to,
			    const char *why)
{
	const struct policy_snap *s = snap_of(r, p);

	history_add(r, p, now_ms(r));
	p->offer = ROAM_IAP_NONE;
	p->from = p->cur;
	p->to = to;
	p->bbm = s && s->migration == POLICY_MIGRATION_BREAK_BEFORE_MAKE;
	emit(r, p, (struct roam_event){
		.type = ROAM_EVENT_MIGRATION_STARTED,
		.to = ROAM_TO_CONTROLLERS | ROAM_TO_OBSERVERS,
		.from = p->from,
		.to_iap = p->to,
	});
	if (p->bbm) {
		p->breaking = true;
		roam_enter_state(r, p, ROAM_UNREGISTERING_OLD, why);
	} else {
		roam_enter_state(r, p, ROAM_MIGRATING, why);
	}
}

static void disallowed(struct roam *r, struct roam_profile *p, const char *why)
{
	unsigned int iap = p->offer;

	emit_error(r, p, ROAM_TO_CONTROLLERS, ROAM_ERROR_ACCESS_DENIED, iap, 0,
		   "migration to iap %u not allowed: %s", iap, why);
	block(r, p, iap, MARK_DISALLOWED);
	p->offer = ROAM_IAP_NONE;
	roam_enter_state(r, p, ROAM_REGISTERED, why);
}

/* Remove the contacts left behind: over the old IAP while it is up
 * (DESIGN §3.3), otherwise over the current one. */
static void remove_old(struct roam *r, struct roam_profile *p, const char *why)
{
	p->breaking = false;
	p->remove_via = available(r, p->old_iap) ? p->old_iap : p->cur;
	roam_enter_state(r, p, ROAM_UNREGISTERING_OLD, why);
}

static void migration_failed(struct roam *r, struct roam_profile *p, int status,
			     const char *reason, bool mark, enum mark_kind kind,
			     enum roam_reason dereg)
{
	char why[ROAM_MESSAGE_MAX], what[ROAM_MESSAGE_MAX];

	snprintf(why, sizeof(why), "migration to iap %u failed", p->to);
	emit_error(r, p, ROAM_TO_CONTROLLERS | ROAM_TO_OBSERVERS, ROAM_ERROR_MIGRATION_FAILED,
		   p->to, status, "REGISTER over iap %u failed: %s", p->to,
		   describe(what, sizeof(what), status, reason));
	if (mark)
		block(r, p, p->to, kind);
	if (!p->bbm) {
		/* Make-before-break: the old contact is still registered;
		 * the binding goes back to it (entry of REGISTERED). */
		roam_enter_state(r, p, ROAM_REGISTERED, why);
		return;
	}
	/* Break-before-make: nothing is registered any more. */
	p->bbm = false;
	emit_deregistered(r, p, dereg);
	register_or_wait(r, p, why);
}

/* Over which IAP to deregister: the binding's, the current one, or any
 * the profile may use. */
static unsigned int deregistration_via(const struct roam *r, const struct roam_profile *p)
{
	if (p->binding_iap != ROAM_IAP_NONE && !p->binding_lost && available(r, p->binding_iap))
		return p->binding_iap;
	if (available(r, p->cur))
		return p->cur;
	if (available(r, p->from))
		return p->from;
	return registration_target(r, p);
}

/* Stop (disable, or a new config): every state ends in UNREGISTERED. */
static void stop(struct roam *r, struct roam_profile *p, const char *why)
{
	unsigned int via;

	switch (p->state) {
	case ROAM_UNREGISTERED:
	case ROAM_UNREGISTERING:
		return;
	case ROAM_WAIT_FOR_IAP:
		roam_enter_state(r, p, ROAM_UNREGISTERED, why);
		return;
	case ROAM_WAIT_FOR_PERMISSION:
		withdraw_offer(r, p, why);
		break;
	case ROAM_MIGRATING:
	case ROAM_UNREGISTERING_OLD:
		if (p->to != ROAM_IAP_NONE)
			emit_error(r, p, ROAM_TO_CONTROLLERS | ROAM_TO_OBSERVERS,
				   ROAM_ERROR_MIGRATION_ABORTED, p->to, 0,
				   "migration to iap %u aborted: %s", p->to, why);
		break;
	case ROAM_REGISTERING:
	case ROAM_REGISTERED:
		break;
	case _ROAM_STATE_MAX:
		assert(!"bad state");
		return;
	}
	via = deregistration_via(r, p);
	if (via == ROAM_IAP_NONE) {
		/* Nothing to send it over: what is registered stays
		 * persisted and is removed later (DESIGN §3.8). */
		emit_deregistered(r, p, p->stop_reason);
		roam_enter_state(r, p, ROAM_UNREGISTERED, why);
		return;
	}
	p->dereg_via = via;
	roam_enter_state(r, p, ROAM_UNREGISTERING, why);
}

/* ---- SIP outcomes --------------------------------------------------------- */

static void handle_registered(struct roam *r, struct roam_profile *p, unsigned int iap)
{
	switch (p->state) {
	case ROAM_REGISTERING:
		if (iap != p->cur)
			break;
		p->registered = true;
		emit(r, p, (struct roam_event){
			.type = ROAM_EVENT_REGISTERED,
			.to = ROAM_TO_CONTROLLERS | ROAM_TO_OBSERVERS,
			.iap = iap,
		});
		if (p->stale)
			remove_old(r, p, "registered");
		else
			roam_enter_state(r, p, ROAM_REGISTERED, "registered");
		return;
	case ROAM_MIGRATING:
		if (iap != p->to)
			break;
		if (!p->registered)
			/* Break-before-make: registered again. */
			emit(r, p, (struct roam_event){
				.type = ROAM_EVENT_REGISTERED,
				.to = ROAM_TO_CONTROLLERS | ROAM_TO_OBSERVERS,
				.iap = p->to,
			});
		emit(r, p, (struct roam_event){
			.type = ROAM_EVENT_MIGRATION_COMPLETED,
			.to = ROAM_TO_CONTROLLERS | ROAM_TO_OBSERVERS,
			.from = p->from,
			.to_iap = p->to,
		});
		emit(r, p, (struct roam_event){
			.type = ROAM_EVENT_UPDATED,
			.to = ROAM_TO_CONTROLLERS | ROAM_TO_OBSERVERS,
			.iap = p->to,
		});
		p->registered = true;
		if (!p->bbm) {
			p->stale = true;
			p->old_iap = p->from;
		}
		p->cur = p->to;
		p->from = p->to = ROAM_IAP_NONE;       /* done: nothing left to abort */
		if (p->stale)
			remove_old(r, p, "migrated");
		else
			roam_enter_state(r, p, ROAM_REGISTERED, "migrated");
		return;
	case ROAM_REGISTERED:
	case ROAM_WAIT_FOR_PERMISSION:
	case ROAM_UNREGISTERING_OLD:
		if (iap == p->cur) {
			log_debug(PFMT ": registration over iap %u refreshed", PARGS(p), iap);
			return;
		}
		break;
	case ROAM_UNREGISTERED:
	case ROAM_WAIT_FOR_IAP:
	case ROAM_UNREGISTERING:
		break;
	case _ROAM_STATE_MAX:
		assert(!"bad state");
		return;
	}
	log_debug(PFMT ": registration over iap %u in %s dropped", PARGS(p), iap,
		  roam_state_to_str(p->state));
}

static void handle_register_failed(struct roam *r, struct roam_profile *p, unsigned int iap,
				   int status, const char *reason, enum mark_kind kind)
{
	char why[ROAM_MESSAGE_MAX], what[ROAM_MESSAGE_MAX];
	unsigned int c;

	describe(what, sizeof(what), status, reason);
	switch (p->state) {
	case ROAM_REGISTERING:
		if (iap != p->cur)
			break;
		emit_error(r, p, ROAM_TO_CONTROLLERS | ROAM_TO_OBSERVERS,
			   ROAM_ERROR_REGISTRATION_FAILED, iap, status,
			   "REGISTER over iap %u failed: %s", iap, what);
		block(r, p, iap, kind);
		c = best_unblocked(r, p);
		if (c != ROAM_IAP_NONE && c != iap) {
			snprintf(why, sizeof(why), "registration over iap %u failed", iap);
			p->cur = c;
			roam_enter_state(r, p, ROAM_REGISTERING, why);
		} else {
			/* Nowhere else to go: the binding retries over this
			 * IAP on its own; an IAP change or a refresh tries
			 * again elsewhere. */
			log_info(PFMT ": no other iap; the binding retries over iap %u",
				 PARGS(p), iap);
		}
		return;
	case ROAM_REGISTERED:
	case ROAM_WAIT_FOR_PERMISSION:
	case ROAM_UNREGISTERING_OLD:
		if (iap != p->cur || p->breaking)
			break;
		/* A refresh (or the move back after a failed migration)
		 * failed: the registrar does not hold us over this IAP. */
		emit_error(r, p, ROAM_TO_CONTROLLERS | ROAM_TO_OBSERVERS,
			   ROAM_ERROR_REGISTRATION_FAILED, iap, status,
			   "REGISTER over iap %u failed: %s", iap, what);
		block(r, p, iap, kind);
		snprintf(why, sizeof(why), "registration over iap %u failed", iap);
		lose_current(r, p, ROAM_REASON_ERROR, why);
		return;
	case ROAM_MIGRATING:
		if (iap != p->to)
			break;
		migration_failed(r, p, status, reason, true, kind, ROAM_REASON_ERROR);
		return;
	case ROAM_UNREGISTERED:
	case ROAM_WAIT_FOR_IAP:
	case ROAM_UNREGISTERING:
		break;
	case _ROAM_STATE_MAX:
		assert(!"bad state");
		return;
	}
	log_debug(PFMT ": failure over iap %u in %s dropped (%s)", PARGS(p), iap,
		  roam_state_to_str(p->state), what);
}


static void handle_old_removed(struct roam *r, struct roam_profile *p, int status,
			       const char *reason)
{
	char what[ROAM_MESSAGE_MAX];

	if (p->state != ROAM_UNREGISTERING_OLD || p->breaking) {
		if (status_ok(status))
			p->stale = false;
		log_debug(PFMT ": old contact outcome in %s dropped", PARGS(p),
			  roam_state_to_str(p->state));
		return;
	}
	if (status_ok(status)) {
		p->stale = false;
		roam_enter_state(r, p, ROAM_REGISTERED, "old contact removed");
		return;
	}
	if (p->remove_via != p->cur && available(r, p->cur)) {
		/* "As soon as any path allows" (DESIGN §3.5): try the
		 * current IAP. */
		p->remove_via = p->cur;
		roam_enter_state(r, p, ROAM_UNREGISTERING_OLD, "removal over the old iap failed");
		return;
	}
	emit_error(r, p, ROAM_TO_CONTROLLERS | ROAM_TO_OBSERVERS, ROAM_ERROR_REMOVAL_FAILED,
		   p->old_iap, status, "old contact of iap %u not removed: %s", p->old_iap,
		   describe(what, sizeof(what), status, reason));
	/* It expires at the registrar; sip/ keeps it persisted (DESIGN §3.8). */
	p->stale = false;
	roam_enter_state(r, p, ROAM_REGISTERED, "old contact left to expire");
}

static void handle_deregistered(struct roam *r, struct roam_profile *p, int status,
				const char *reason)
{
	switch (p->state) {
	case ROAM_UNREGISTERING_OLD:
		if (!p->breaking)
			break;
		/* The break of break-before-make is done: make. */
		p->breaking = false;
		p->stale = !status_ok(status);
		p->old_iap = p->from;
		if (p->stale)
			log_notice(PFMT ": deregistration over iap %u failed (%d %s); "
				   "removing it again after the move", PARGS(p), p->from,
				   status, reason);
		roam_enter_state(r, p, ROAM_MIGRATING, "deregistered");
		return;
	case ROAM_UNREGISTERING:
		if (!status_ok(status))
			log_notice(PFMT ": deregistration incomplete (%d %s); the rest stays "
				   "persisted", PARGS(p), status, reason);
		p->binding_iap = ROAM_IAP_NONE;
		p->binding_lost = false;
		p->stale = false;
		emit_deregistered(r, p, p->stop_reason);
		roam_enter_state(r, p, ROAM_UNREGISTERED, "deregistered");
		return;
	case ROAM_UNREGISTERED:
	case ROAM_WAIT_FOR_IAP:
	case ROAM_REGISTERING:
	case ROAM_REGISTERED:
	case ROAM_WAIT_FOR_PERMISSION:
	case ROAM_MIGRATING:
		break;
	case _ROAM_STATE_MAX:
		assert(!"bad state");
		return;
	}
	log_debug(PFMT ": deregistration outcome in %s dropped", PARGS(p),
		  roam_state_to_str(p->state));
}

/* An op's outcome that was known when it was sent. */
static bool run_pending(struct roam *r, struct roam_profile *p)
{
	enum roam_op op = p->pending.op;
	unsigned int iap = p->pending.iap;
	int res = p->pending.result;
	const char *reason = res < 0 ? "" : "nothing to send";

	if (op == OP_NONE)
		return false;
	p->pending.op = OP_NONE;
	switch (op) {
	case OP_REGISTER:
	case OP_MOVE:
		if (res > 0)
			handle_registered(r, p, iap);
		else
			handle_register_failed(r, p, iap, res, reason, MARK_UNREACHABLE);
		break;
	case OP_REMOVE_OLD:
		handle_old_removed(r, p, res > 0 ? 0 : res, reason);
		break;
	case OP_DEREGISTER:
		handle_deregistered(r, p, res > 0 ? 0 : res, reason);
		break;
	case OP_NONE:
		break;
	}
	return true;
}

/* ---- settling --------------------------------------------------------------- */

static void apply_config(struct roam *r, struct roam_profile *p)
{
	if (p->renew) {
		p->cfg = p->want_cfg;
		p->renew = false;
	}
	p->n_blocked = 0;
	p->stale = false;
	if (history_reserve(p, snap_of(r, p)) < 0)
		log_warning(PFMT ": out of memory for the migration history; "
			    "damping counts what fits", PARGS(p));
}

/* Whether all controllers allowed the offer of this round. */
static bool round_allowed(const struct roam *r, const struct roam_profile *p)
{
	for (size_t i = 0; i < r->n_controllers; i++) {
		const struct roam_controller *c = &r->controllers[i];

		if (c->profile == p->id && c->round != p->round)
			return false;
	}
	return true;
}

static size_t unanswered(const struct roam *r, const struct roam_profile *p)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_controllers; i++)
		n += r->controllers[i].profile == p->id && r->controllers[i].round != p->round;
	return n;
}

/* Whether the profile's calls hold back a planned move (roam_profile_calls(),
 * docs/roaming.md "Calls"); why, in @why. */
static bool calls_hold(const struct roam *r, const struct roam_profile *p, char *why,
		       size_t size)
{
	const struct policy_snap *s = snap_of(r, p);

	if (p->calls_ringing) {
		put_message(why, size, "%u call(s) ringing", p->calls_ringing);
		return true;
	}
	if (s && s->calls == POLICY_CALLS_DEFER && p->calls_answered) {
		put_message(why, size, "%u call(s) up, calls = defer", p->calls_answered);
		return true;
	}
	return false;
}

/* calls_hold() for a move to @iap, logged once per IAP held. */
static bool held_by_calls(const struct roam *r, struct roam_profile *p, unsigned int iap)
{
	char why[ROAM_MESSAGE_MAX];

	if (!calls_hold(r, p, why, sizeof(why))) {
		p->calls_held = ROAM_IAP_NONE;
		return false;
	}
	if (p->calls_held != iap)
		log_info(PFMT ": the move to iap %u waits: %s", PARGS(p), iap, why);
	p->calls_held = iap;
	return true;
}

/* React to the situation: returns true when an edge was taken. */
static bool evaluate(struct roam *r, struct roam_profile *p)
{
	uint64_t now = now_ms(r), until;
	unsigned int target;
	char why[ROAM_MESSAGE_MAX];

	switch (p->state) {
	case ROAM_UNREGISTERED:
		if (!p->want)
			return false;
		apply_config(r, p);
		register_or_wait(r, p, "enabled");
		return true;
	case ROAM_WAIT_FOR_IAP:
		if (registration_target(r, p) == ROAM_IAP_NONE)
			return false;
		register_or_wait(r, p, "an iap is available");
		return true;
	case ROAM_REGISTERING:
		/* Only a failure moves a registration elsewhere. */
		if (!is_blocked(p, p->cur))
			return false;
		target = best_unblocked(r, p);
		if (target == ROAM_IAP_NONE || target == p->cur)
			return false;
		snprintf(why, sizeof(why), "iap %u failed, iap %u is available", p->cur, target);
		p->cur = target;
		roam_enter_state(r, p, ROAM_REGISTERING, why);
		return true;
	case ROAM_REGISTERED:
		probe_if_due(r, p, now);
		target = offer_target(r, p, now, NULL);
		if (target == ROAM_IAP_NONE) {
			p->calls_held = ROAM_IAP_NONE;
			return false;
		}
		until = damped_until(r, p, now);
		if (until) {
			if (p->held_until_ms != until)
				log_info(PFMT ": better iap %u held back until %" PRIu64
					 " ms (max-migrations)", PARGS(p), target, until);
			p->held_until_ms = until;
			return false;
		}
		p->held_until_ms = 0;
		if (count_controllers(r, p->id) == 0) {
			/* alrd is the one controller left: its calls */
			if (held_by_calls(r, p, target))
				return false;
			snprintf(why, sizeof(why), "better iap %u, no controllers", target);
			start_migration(r, p, target, why);
		} else {
			offer(r, p, target);
		}
		return true;
	case ROAM_WAIT_FOR_PERMISSION:
		probe_if_due(r, p, now);
		target = offer_target(r, p, now, NULL);
		if (target != p->offer) {
			if (target != ROAM_IAP_NONE) {
				/* A newer offer replaces the older one; everybody
				 * is asked again. */
				offer(r, p, target);
			} else {
				withdraw_offer(r, p, "no longer a better iap");
				roam_enter_state(r, p, ROAM_REGISTERED, "offer withdrawn");
			}
			return true;
		}
		if (!p->timeout_allowed && !round_allowed(r, p))
			return false;
		if (held_by_calls(r, p, p->offer))
			return false;
		start_migration(r, p, p->offer, p->timeout_allowed ?
				"approval timed out (on-timeout = allow), calls done" : "allowed");
		return true;
	case ROAM_MIGRATING:
	case ROAM_UNREGISTERING_OLD:
	case ROAM_UNREGISTERING:
		return false;
	case _ROAM_STATE_MAX:
		break;
	}
	assert(!"bad state");
	return false;
}

static void profile_free(struct roam_profile *p)
{
	free(p->history);
	free(p);
}

static void settle(struct roam *r)
{
	size_t pass;

	for (pass = 0; pass < SETTLE_MAX_PASSES; pass++) {
		bool again = false;

		for (size_t i = 0; i < r->n_profiles; i++) {
			struct roam_profile *p = r->profiles[i];

			if (run_pending(r, p))
				again = true;
			if (evaluate(r, p))
				again = true;
		}
		if (r->recheck) {
			r->recheck = false;
			again = true;
		}
		if (!again)
			break;
	}
	if (pass == SETTLE_MAX_PASSES)
		log_err("roam: profiles did not settle after %d passes", SETTLE_MAX_PASSES);

	for (size_t i = 0; i < r->n_profiles; i++)
		arm_timer(r, r->profiles[i]);

	/* Disabled profiles that are done go. */
	for (size_t i = 0; i < r->n_profiles;) {
		struct roam_profile *p = r->profiles[i];

		if (p->state == ROAM_UNREGISTERED && !p->want) {
			if (p->timer_at)
				r->ops->timer_stop(r->user_data, p->id);
			log_debug(PFMT ": forgotten", PARGS(p));
			profile_free(p);
			r->profiles[i] = r->profiles[--r->n_profiles];
		} else {
			i++;
		}
	}
}

#define BEGIN(r) do { assert(!(r)->busy && "an op called back into the engine"); \
		(r)->busy = true; } while (0)
#define END(r) do { settle(r); (r)->busy = false; } while (0)

/* ---- lifecycle ------------------------------------------------------------ */

struct roam *roam_new(const struct roam_ops *ops, void *user_data)
{
	struct roam *r;

	if (!ops || !ops->now_ms || !ops->timer_start || !ops->timer_stop ||
	    !ops->sip_register || !ops->sip_move || !ops->sip_remove_old ||
	    !ops->sip_deregister || !ops->sip_abandon || !ops->event)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->ops = ops;
	r->user_data = user_data;
	r->stop_timeout_ms = STOP_TIMEOUT_MS;
	return r;
}

void roam_set_stop_timeout(struct roam *r, uint64_t ms)
{
	r->stop_timeout_ms = ms ? ms : STOP_TIMEOUT_MS;
}

static void snap_ctx_clear(struct roam_snap *s)
{
	snap_ranking_free(s->rank);
	free(s->since);
	free(s->next_since);
}

struct roam *roam_free(struct roam *r)
{
	if (!r)
		return NULL;
	for (size_t i = 0; i < r->n_profiles; i++)
		profile_free(r->profiles[i]);
	free(r->profiles);
	for (size_t i = 0; i < r->n_snaps; i++)
		snap_ctx_clear(&r->snaps[i]);
	free(r->snaps);
	free(r->views);
	free(r->controllers);
	free(r);
	return NULL;
}

/* ---- world ---------------------------------------------------------------- */

static int since_reserve(struct roam_snap *s, size_t n)
{
	struct roam_since *a, *b;

	if (n <= s->cap)
		return 0;
	a = realloc(s->since, n * sizeof(*a));
	if (!a)
		return -ENOMEM;
	s->since = a;
	b = realloc(s->next_since, n * sizeof(*b));
	if (!b)
		return -ENOMEM;
	s->next_since = b;
	s->cap = n;
	return 0;
}

/* Make room for @n IAPs everywhere, so that nothing below can fail. */
static int reserve_views(struct roam *r, size_t n)
{
	if (n > r->cap_views) {
		size_t cap = n < 8 ? 8 : n;
		struct roam_view *v = realloc(r->views, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->views = v;
		r->cap_views = cap;
	}
	for (size_t i = 0; i < r->n_snaps; i++) {
		if (snap_ranking_reserve(r->snaps[i].rank, r->cap_views) < 0 ||
		    since_reserve(&r->snaps[i], r->cap_views) < 0)
			return -ENOMEM;
	}
	return 0;
}

static void rank_snap(struct roam_snap *s, const struct snap_iap_view *views, size_t n,
		      uint64_t now, bool reload)
{
	size_t count, k = 0;
	struct roam_since *tmp;

	if (snap_rank(s->rank, views, n) < 0)
		return;         /* cannot happen: reserved */
	count = snap_ranking_count(s->rank);
	for (size_t i = 0; i < count && k < s->cap; i++) {
		const struct snap_rank_entry *e = snap_ranking_at(s->rank, i);
		uint64_t since = now;

		/* Stable-time counts from when the IAP took this place in
		 * the order; leaving it, or moving (its signal), starts over.
		 * A reload moves IAPs without any of them flapping. */
		for (size_t j = 0; j < s->n_since; j++)
			if (s->since[j].iap == e->iap_id &&
			    (reload || s->since[j].priority == e->priority)) {
				since = s->since[j].since_ms;
				break;
			}
		s->next_since[k++] = (struct roam_since){ e->iap_id, e->priority, since };
	}
	tmp = s->since;
	s->since = s->next_since;
	s->next_since = tmp;
	s->n_since = k;
}

/* The profile's IAPs after a change of the world: loss is handled here,
 * at once, before anything else (DESIGN §3.5, §3.7). */
static void check_losses(struct roam *r, struct roam_profile *p)
{
	char why[ROAM_MESSAGE_MAX];

	if (p->binding_iap != ROAM_IAP_NONE && !available(r, p->binding_iap))
		p->binding_lost = true;
	unblock_changed(r, p);

	switch (p->state) {
	case ROAM_UNREGISTERED:
	case ROAM_WAIT_FOR_IAP:
		return;
	case ROAM_REGISTERING:
		if (available(r, p->cur))
			return;
		snprintf(why, sizeof(why), "iap %u lost", p->cur);
		register_or_wait(r, p, why);
		return;
	case ROAM_REGISTERED:
	case ROAM_WAIT_FOR_PERMISSION:
		if (available(r, p->cur))
			return;
		snprintf(why, sizeof(why), "iap %u lost", p->cur);
		lose_current(r, p, ROAM_REASON_NETWORK_LOST, why);
		return;
	case ROAM_UNREGISTERING_OLD:
		if (p->breaking) {
			if (!available(r, p->to)) {
				migration_failed(r, p, 0, "the iap was lost", false,
						 MARK_UNREACHABLE, ROAM_REASON_NETWORK_LOST);
			} else if (!available(r, p->from)) {
				/* The break cannot finish over a lost IAP; the
				 * make must not wait for it. */
				p->breaking = false;
				p->stale = true;
				p->old_iap = p->from;
				roam_enter_state(r, p, ROAM_MIGRATING, "old iap lost while deregistering");
			}
			return;
		}
		if (!available(r, p->cur)) {
			snprintf(why, sizeof(why), "iap %u lost", p->cur);
			lose_current(r, p, ROAM_REASON_NETWORK_LOST, why);
		} else if (p->remove_via != p->cur && !available(r, p->remove_via)) {
			p->remove_via = p->cur;
			roam_enter_state(r, p, ROAM_UNREGISTERING_OLD, "old iap lost");
		}
		return;
	case ROAM_MIGRATING:
		if (!p->bbm && !available(r, p->from)) {
			/* The registration over the new IAP goes on, as a
			 * failover: no migration any more. */
			snprintf(why, sizeof(why), "iap %u lost", p->from);
			emit_error(r, p, ROAM_TO_CONTROLLERS | ROAM_TO_OBSERVERS,
				   ROAM_ERROR_MIGRATION_ABORTED, p->to, 0,
				   "migration to iap %u aborted: iap %u lost", p->to, p->from);
			p->cur = p->from;
			lose_current(r, p, ROAM_REASON_NETWORK_LOST, why);
		} else if (!available(r, p->to)) {
			migration_failed(r, p, 0, "the iap was lost", false,
					 MARK_UNREACHABLE, ROAM_REASON_NETWORK_LOST);
		}
		return;
	case ROAM_UNREGISTERING:
		if (available(r, p->dereg_via))
			return;
		p->dereg_via = deregistration_via(r, p);
		if (p->dereg_via != ROAM_IAP_NONE) {
			roam_enter_state(r, p, ROAM_UNREGISTERING, "iap lost while deregistering");
		} else {
			emit_deregistered(r, p, p->stop_reason);
			roam_enter_state(r, p, ROAM_UNREGISTERED, "no iap left to deregister over");
		}
		return;
	case _ROAM_STATE_MAX:
		break;
	}
	assert(!"bad state");
}

static int update_world(struct roam *r, const struct snap_iap_view *views, size_t n,
			bool reload)
{
	uint64_t now;
	int ret;

	if (n > 0 && !views)
		return -EINVAL;
	ret = reserve_views(r, n);
	if (ret < 0)
		return ret;
	now = now_ms(r);
	for (size_t i = 0; i < n; i++)
		r->views[i] = (struct roam_view){ views[i].id, views[i].kind, views[i].available };
	r->n_views = n;
	for (size_t i = 0; i < r->n_snaps; i++)
		rank_snap(&r->snaps[i], views, n, now, reload);
	for (size_t i = 0; i < r->n_profiles; i++)
		check_losses(r, r->profiles[i]);
	return 0;
}

int roam_iaps_changed(struct roam *r, const struct snap_iap_view *views, size_t n)
{
	int ret;

	BEGIN(r);
	ret = update_world(r, views, n, false);
	if (ret < 0)
		log_err("roam: cannot follow the IAPs: %s", strerror(-ret));
	END(r);
	return ret;
}

int roam_snap_set(struct roam *r, const struct policy_set *set,
		  const struct snap_iap_view *views, size_t n)
{
	size_t count = set ? policy_set_count(set) : 0;
	struct roam_snap *snaps;
	int ret = 0;

	BEGIN(r);
	snaps = calloc(count ? count : 1, sizeof(*snaps));
	if (!snaps) {
		ret = -ENOMEM;
		goto out;
	}
	/* Allocate everything first: on failure the old SNAPs stay. */
	for (size_t i = 0; i < count; i++) {
		const struct policy_snap *s = policy_set_at(set, i);
		bool reused = false;

		snaps[i].id = s->id;
		snaps[i].snap = s;
		for (size_t j = 0; j < r->n_snaps; j++)
			reused |= r->snaps[j].id == s->id && r->snaps[j].rank;
		if (reused)
			continue;
		snaps[i].rank = snap_ranking_new(s);
		if (!snaps[i].rank || snap_ranking_reserve(snaps[i].rank, r->cap_views) < 0 ||
		    since_reserve(&snaps[i], r->cap_views) < 0) {
			for (size_t k = 0; k <= i; k++)
				snap_ctx_clear(&snaps[k]);
			free(snaps);
			ret = -ENOMEM;
			goto out;
		}
	}
	/* Take over the contexts of SNAPs that stay (their stability
	 * memory, and the ranking's hysteresis when the rules are equal). */
	for (size_t i = 0; i < count; i++) {
		for (size_t j = 0; j < r->n_snaps; j++) {
			struct roam_snap *old = &r->snaps[j];

			if (old->id != snaps[i].id || !old->rank)
				continue;
			if (!policy_snap_equal(old->snap, snaps[i].snap))
				log_info("roam: SNAP %u (%s) changed; its profiles are "
					 "evaluated again", snaps[i].id, snaps[i].snap->name);
			snap_ranking_set_snap(old->rank, snaps[i].snap);
			snaps[i].rank = old->rank;
			snaps[i].since = old->since;
			snaps[i].next_since = old->next_since;
			snaps[i].n_since = old->n_since;
			snaps[i].cap = old->cap;
			*old = (struct roam_snap){ 0 };
		}
	}
	for (size_t j = 0; j < r->n_snaps; j++)
		snap_ctx_clear(&r->snaps[j]);
	free(r->snaps);
	r->snaps = snaps;
	r->n_snaps = count;
	r->set = set;

	for (size_t i = 0; i < r->n_profiles; i++) {
		struct roam_profile *p = r->profiles[i];

		if (!fixed(p) && !snap_of(r, p))
			log_warning(PFMT ": SNAP %u is not loaded; no IAP to roam across",
				    PARGS(p), p->cfg.snap_id);
		if (history_reserve(p, snap_of(r, p)) < 0)
			log_warning(PFMT ": out of memory for the migration history; "
				    "damping counts what fits", PARGS(p));
	}
	ret = update_world(r, views, n, true);
out:
	if (ret < 0)
		log_err("roam: cannot take the SNAPs: %s", strerror(-ret));
	END(r);
	return ret;
}

static void remap(unsigned int *id, unsigned int old_id, unsigned int new_id)
{
	if (*id == old_id)
		*id = new_id;
}

void roam_iap_replaced(struct roam *r, unsigned int old_id, unsigned int new_id)
{
	if (old_id == ROAM_IAP_NONE || new_id == ROAM_IAP_NONE || old_id == new_id)
		return;
	BEGIN(r);
	for (size_t i = 0; i < r->n_views; i++)
		remap(&r->views[i].id, old_id, new_id);
	for (size_t i = 0; i < r->n_snaps; i++) {
		for (size_t j = 0; j < r->snaps[i].n_since; j++)
			remap(&r->snaps[i].since[j].iap, old_id, new_id);
		if (r->snaps[i].rank)
			snap_ranking_replace(r->snaps[i].rank, old_id, new_id);
	}
	for (size_t i = 0; i < r->n_profiles; i++) {
		struct roam_profile *p = r->profiles[i];

		if (p->cfg.iap_id == old_id || p->cur == old_id || p->binding_iap == old_id)
			log_info(PFMT ": iap %u is now iap %u, the same network", PARGS(p),
				 old_id, new_id);
		if (p->cur == old_id)
			p->cur_switched_ms = now_ms(r);
		remap(&p->cfg.iap_id, old_id, new_id);
		remap(&p->want_cfg.iap_id, old_id, new_id);
		remap(&p->cur, old_id, new_id);
		remap(&p->binding_iap, old_id, new_id);
		remap(&p->old_iap, old_id, new_id);
		remap(&p->remove_via, old_id, new_id);
		remap(&p->dereg_via, old_id, new_id);
		remap(&p->from, old_id, new_id);
		remap(&p->to, old_id, new_id);
		remap(&p->offer, old_id, new_id);
		remap(&p->pending.iap, old_id, new_id);
		remap(&p->probing, old_id, new_id);
		remap(&p->reprobe.iap, old_id, new_id);
		for (size_t j = 0; j < p->n_blocked; j++)
			remap(&p->blocked[j].iap, old_id, new_id);
	}
	/* No settle here: the views of the switch follow at once. */
	r->busy = false;
}

/* ---- profiles ------------------------------------------------------------- */

static bool same_config(const struct roam_profile_config *a, const struct roam_profile_config *b)
{
	unsigned int ma = a->bearers ? a->bearers : POLICY_KINDS_ALL;
	unsigned int mb = b->bearers ? b->bearers : POLICY_KINDS_ALL;

	if (a->iap_id != b->iap_id || ma != mb)
		return false;
	return a->iap_id != ROAM_IAP_NONE || a->snap_id == b->snap_id;
}

int roam_profile_enable(struct roam *r, unsigned int profile,
			const struct roam_profile_config *config)
{
	struct roam_profile *p;
	struct roam_profile_config cfg;

	if (profile == 0 || !config)
		return -EINVAL;
	cfg = *config;
	cfg.name = NULL;
	BEGIN(r);
	p = find_profile(r, profile);
	if (p) {
		if (config->name && *config->name)
			snprintf(p->name, sizeof(p->name), "%s", config->name);
		if (p->state == ROAM_UNREGISTERING || !same_config(&p->cfg, &cfg)) {
			/* Deregister, then register anew with it. */
			p->want = true;
			p->renew = true;
			p->want_cfg = cfg;
			if (p->state != ROAM_UNREGISTERING)
				p->stop_reason = ROAM_REASON_UPDATE;
			stop(r, p, "configuration changed");
		} else {
			p->want = true;
		}
		END(r);
		return 0;
	}
	if (r->n_profiles == r->cap_profiles) {
		size_t cap = r->cap_profiles ? 2 * r->cap_profiles : 8;
		struct roam_profile **v = realloc(r->profiles, cap * sizeof(*v));

		if (!v) {
			r->busy = false;
			return -ENOMEM;
		}
		r->profiles = v;
		r->cap_profiles = cap;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		r->busy = false;
		return -ENOMEM;
	}
	p->id = profile;
	snprintf(p->name, sizeof(p->name), "%s", config->name && *config->name ? config->name : "-");
	p->cfg = cfg;
	p->state = ROAM_UNREGISTERED;
	p->want = true;
	if (history_reserve(p, snap_of(r, p)) < 0) {
		free(p);
		r->busy = false;
		return -ENOMEM;
	}
	if (!fixed(p) && !snap_of(r, p))
		log_warning(PFMT ": SNAP %u is not loaded; no IAP to roam across", PARGS(p),
			    p->cfg.snap_id);
	r->profiles[r->n_profiles++] = p;
	END(r);
	return 0;
}

int roam_profile_disable(struct roam *r, unsigned int profile, enum roam_reason reason)
{
	struct roam_profile *p;

	BEGIN(r);
	p = find_profile(r, profile);
	if (!p || !p->want) {
		r->busy = false;
		return -ENOENT;
	}
	p->want = false;
	p->renew = false;
	if (p->state != ROAM_UNREGISTERING)
		p->stop_reason = reason;
	stop(r, p, roam_reason_to_str(reason));
	END(r);
	return 0;
}

/* ---- controllers ---------------------------------------------------------- */

int roam_control(struct roam *r, unsigned int profile, unsigned int client,
		 char *ret_message, size_t ret_size)
{
	struct roam_profile *p;
	struct roam_controller *c;

	if (profile == 0 || client == 0) {
		put_message(ret_message, ret_size, "profile and client ids start at 1");
		return -EINVAL;
	}
	if (find_controller(r, profile, client))
		return 0;
	if (count_controllers(r, profile) >= ROAM_MAX_CONTROLLERS) {
		put_message(ret_message, ret_size,
			    "profile %u has %d controllers already, the most there may be",
			    profile, ROAM_MAX_CONTROLLERS);
		return -EBUSY;
	}
	if (r->n_controllers == r->cap_controllers) {
		size_t cap = r->cap_controllers ? 2 * r->cap_controllers : 8;
		struct roam_controller *v = realloc(r->controllers, cap * sizeof(*v));

		if (!v) {
			put_message(ret_message, ret_size, "out of memory");
			return -ENOMEM;
		}
		r->controllers = v;
		r->cap_controllers = cap;
	}
	BEGIN(r);
	c = &r->controllers[r->n_controllers++];
	*c = (struct roam_controller){ .profile = profile, .client = client };
	p = find_profile(r, profile);
	log_info("roam: client %u controls profile %u", client, profile);
	if (p && p->state == ROAM_WAIT_FOR_PERMISSION)
		emit_offer(r, p, ROAM_TO_CLIENT, client);   /* it must answer too */
	END(r);
	return 0;
}

static void drop_controller(struct roam *r, size_t i)
{
	r->controllers[i] = r->controllers[--r->n_controllers];
}

int roam_release(struct roam *r, unsigned int profile, unsigned int client,
		 char *ret_message, size_t ret_size)
{
	BEGIN(r);
	for (size_t i = 0; i < r->n_controllers; i++) {
		if (r->controllers[i].profile == profile && r->controllers[i].client == client) {
			drop_controller(r, i);
			log_info("roam: client %u no longer controls profile %u", client, profile);
			END(r);
			return 0;
		}
	}
	r->busy = false;
	put_message(ret_message, ret_size, "client %u is not a controller of profile %u",
		    client, profile);
	return -EPERM;
}

void roam_client_gone(struct roam *r, unsigned int client)
{
	BEGIN(r);
	for (size_t i = 0; i < r->n_controllers;) {
		if (r->controllers[i].client == client) {
			log_info("roam: client %u gone; no longer controls profile %u", client,
				 r->controllers[i].profile);
			drop_controller(r, i);
		} else {
			i++;
		}
	}
	/* settle() re-evaluates the rounds it was part of, at once. */
	END(r);
}

/* The checks shared by allow and disallow. */
static int check_answer(const struct roam *r, unsigned int profile, unsigned int iap,
			unsigned int client, struct roam_profile **ret_p,
			struct roam_controller **ret_c, char *ret_message, size_t ret_size)
{
	struct roam_profile *p = find_profile(r, profile);
	struct roam_controller *c = find_controller(r, profile, client);

	if (!p || !p->want) {
		put_message(ret_message, ret_size, "profile %u is not enabled", profile);
		return -ENOENT;
	}
	if (!c) {
		put_message(ret_message, ret_size,
			    "client %u is not a controller of profile %u (alr.control first)",
			    client, profile);
		return -EPERM;
	}
	if (p->state != ROAM_WAIT_FOR_PERMISSION) {
		put_message(ret_message, ret_size, "no iap is on offer for profile %u", profile);
		return -EINVAL;
	}
	if (iap != p->offer) {
		put_message(ret_message, ret_size,
			    "iap %u is not on offer for profile %u; iap %u is", iap, profile,
			    p->offer);
		return -EINVAL;
	}
	*ret_p = p;
	*ret_c = c;
	return 0;
}

int roam_allow(struct roam *r, unsigned int profile, unsigned int iap,
	       unsigned int client, char *ret_message, size_t ret_size)
{
	struct roam_profile *p;
	struct roam_controller *c;
	int ret = check_answer(r, profile, iap, client, &p, &c, ret_message, ret_size);

	if (ret < 0)
		return ret;
	BEGIN(r);
	c->round = p->round;
	log_info(PFMT ": client %u allows iap %u (round %" PRIu64 ")", PARGS(p), client, iap,
		 p->round);
	/* settle() starts the migration once everybody has allowed. */
	END(r);
	return 0;
}

int roam_disallow(struct roam *r, unsigned int profile, unsigned int iap,
		  unsigned int client, char *ret_message, size_t ret_size)
{
	struct roam_profile *p;
	struct roam_controller *c;
	char why[64];
	int ret = check_answer(r, profile, iap, client, &p, &c, ret_message, ret_size);

	if (ret < 0)
		return ret;
	BEGIN(r);
	/* One disallow decides. */
	snprintf(why, sizeof(why), "disallowed by client %u", client);
	disallowed(r, p, why);
	END(r);
	return 0;
}

int roam_refresh(struct roam *r, unsigned int profile, unsigned int client,
		 char *ret_message, size_t ret_size)
{
	struct roam_profile *p = find_profile(r, profile);

	if (!p || !p->want) {
		put_message(ret_message, ret_size, "profile %u is not enabled", profile);
		return -ENOENT;
	}
	if (count_controllers(r, profile) > 0 && !find_controller(r, profile, client)) {
		put_message(ret_message, ret_size,
			    "client %u is not a controller of profile %u (alr.control first)",
			    client, profile);
		return -EPERM;
	}
	BEGIN(r);
	log_info(PFMT ": refresh by client %u: %zu iap(s) may be offered again", PARGS(p),
		 client, p->n_blocked);
	p->n_blocked = 0;
	switch (p->state) {
	case ROAM_WAIT_FOR_PERMISSION:
		if (find_controller(r, profile, client))
			emit_offer(r, p, ROAM_TO_CLIENT, client);
		break;
	case ROAM_REGISTERING:
		/* Try again now, over the best IAP there is. */
		p->cur = registration_target(r, p);
		if (p->cur != ROAM_IAP_NONE) {
			p->force_register = true;
			roam_enter_state(r, p, ROAM_REGISTERING, "refresh");
		} else {
			register_or_wait(r, p, "refresh");
		}
		break;
	case ROAM_UNREGISTERED:
	case ROAM_WAIT_FOR_IAP:
	case ROAM_REGISTERED:
	case ROAM_MIGRATING:
	case ROAM_UNREGISTERING_OLD:
	case ROAM_UNREGISTERING:
		break;
	case _ROAM_STATE_MAX:
		assert(!"bad state");
		break;
	}
	END(r);
	return 0;
}

/* ---- SIP and timer inputs --------------------------------------------------- */

static struct roam_profile *input_profile(struct roam *r, unsigned int profile, const char *what)
{
	struct roam_profile *p = find_profile(r, profile);

	if (!p)
		log_debug("roam: %s for unknown profile %u dropped", what, profile);
	return p;
}

void roam_sip_registered(struct roam *r, unsigned int profile, unsigned int iap)
{
	struct roam_profile *p;

	BEGIN(r);
	p = input_profile(r, profile, "registration");
	if (p) {
		p->pending.op = OP_NONE;
		registrar_answers(p, iap, "registered");
		if (p->reprobe.iap == iap)
			p->reprobe_until_ms = 0;        /* success resets the backoff */
		handle_registered(r, p, iap);
	}
	END(r);
}

/* The registrar's own error over iap: the network is fine (see roam.h). */
static void handle_server_error(struct roam *r, struct roam_profile *p, unsigned int iap,
				int status, const char *reason)
{
	char what[ROAM_MESSAGE_MAX];

	/* Also in a migration: the same registrar would answer the move
	 * back the same, and failing the move would offer it again at once;
	 * the binding retries it after Retry-After, the old contact still
	 * registered (make-before-break). */
	describe(what, sizeof(what), status, reason);
	log_info(PFMT ": the registrar answered %s over iap %u in %s: a server error, not the "
		 "network's; staying (the binding retries)", PARGS(p), what, iap,
		 roam_state_to_str(p->state));
	registrar_answers(p, iap, what);
}

void roam_sip_server_error(struct roam *r, unsigned int profile, unsigned int iap,
			   int status, const char *reason)
{
	struct roam_profile *p;

	BEGIN(r);
	p = input_profile(r, profile, "server error");
	if (p) {
		p->pending.op = OP_NONE;
		handle_server_error(r, p, iap, status, reason ? reason : "");
	}
	END(r);
}

void roam_sip_failed(struct roam *r, unsigned int profile, unsigned int iap,
		     int status, const char *reason)
{
	struct roam_profile *p;

	BEGIN(r);
	p = input_profile(r, profile, "registration failure");
	if (p) {
		p->pending.op = OP_NONE;
		handle_register_failed(r, p, iap, status, reason ? reason : "",
				       MARK_UNREACHABLE);
	}
	END(r);
}

void roam_sip_refused(struct roam *r, unsigned int profile, unsigned int iap,
		      int status, const char *reason)
{
	struct roam_profile *p;

	BEGIN(r);
	p = input_profile(r, profile, "registration refusal");
	if (p) {
		p->pending.op = OP_NONE;
		handle_register_failed(r, p, iap, status, reason ? reason : "", MARK_REFUSED);
	}
	END(r);
}

/* A probe's outcome (roam_ops.sip_probe). */
static void handle_probed(struct roam *r, struct roam_profile *p, unsigned int iap,
			  bool answered, int status, const char *reason)
{
	struct roam_mark *m = find_mark(p, iap);
	char what[ROAM_MESSAGE_MAX];

	describe(what, sizeof(what), status, reason);
	if (!m || m->kind != MARK_UNREACHABLE) {
		log_debug(PFMT ": probe over iap %u (%s) for no mark any more", PARGS(p), iap,
			  answered ? "answered" : what);
		return;
	}
	if (!answered) {
		probe_not_answered(r, p, m, what);
		return;
	}
	p->reprobe = *m;
	p->reprobe_until_ms = now_ms(r) + PROBE_CAP_MS;
	registrar_answers(p, iap, *what ? what : "a probe answered");
}

void roam_sip_probed(struct roam *r, unsigned int profile, unsigned int iap, bool answered,
		     int status, const char *reason)
{
	struct roam_profile *p;

	BEGIN(r);
	p = input_profile(r, profile, "probe");
	if (p) {
		if (p->probing == iap)
			p->probing = ROAM_IAP_NONE;
		handle_probed(r, p, iap, answered, status, reason ? reason : "");
	}
	END(r);
}

void roam_sip_old_removed(struct roam *r, unsigned int profile, int status,
			  const char *reason)
{
	struct roam_profile *p;

	BEGIN(r);
	p = input_profile(r, profile, "old contact removal");
	if (p) {
		p->pending.op = OP_NONE;
		handle_old_removed(r, p, status, reason ? reason : "");
	}
	END(r);
}

void roam_sip_deregistered(struct roam *r, unsigned int profile, int status,
			   const char *reason)
{
	struct roam_profile *p;

	BEGIN(r);
	p = input_profile(r, profile, "deregistration");
	if (p) {
		p->pending.op = OP_NONE;
		handle_deregistered(r, p, status, reason ? reason : "");
	}
	END(r);
}

void roam_timer_fired(struct roam *r, unsigned int profile)
{
	struct roam_profile *p;
	const struct policy_snap *s;
	uint64_t now;

	BEGIN(r);
	p = input_profile(r, profile, "timer");
	if (!p)
		goto out;
	p->timer_at = 0;                /* the adapter's timer is one-shot */
	now = now_ms(r);
	if (p->state == ROAM_UNREGISTERING && p->stop_deadline_ms && now >= p->stop_deadline_ms) {
		/* Entry of UNREGISTERED abandons the binding: what it
		 * registered stays persisted, removed at the next chance. */
		log_info(PFMT ": deregistration not finished after %.1f s; going on", PARGS(p),
			 (double)r->stop_timeout_ms / 1000.);
		emit_deregistered(r, p, p->stop_reason);
		roam_enter_state(r, p, ROAM_UNREGISTERED, "stop timeout");
		goto out;
	}
	if (p->state != ROAM_WAIT_FOR_PERMISSION || now < p->deadline_ms || p->timeout_allowed)
		goto out;               /* a wake-up: settle() looks again */
	s = snap_of(r, p);
	if (!s || s->on_timeout == POLICY_ON_TIMEOUT_ALLOW) {
		log_info(PFMT ": %zu controller(s) did not answer by the deadline; "
			 "on-timeout allows", PARGS(p), unanswered(r, p));
		/* Who did not answer allows: the round is decided, but for
		 * alrd's own answer (its calls), which has no deadline. */
		p->timeout_allowed = true;
		if (!held_by_calls(r, p, p->offer))
			start_migration(r, p, p->offer, "approval timed out (on-timeout = allow)");
	} else {
		disallowed(r, p, "no answer in time (on-timeout = disallow)");
	}
out:
	END(r);
}

void roam_profile_calls(struct roam *r, unsigned int profile, unsigned int ringing,
			unsigned int answered)
{
	struct roam_profile *p = find_profile(r, profile);
	bool inside = r->busy;

	if (!p || (p->calls_ringing == ringing && p->calls_answered == answered))
		return;
	log_debug(PFMT ": calls: %u ringing, %u answered", PARGS(p), ringing, answered);
	p->calls_ringing = ringing;
	p->calls_answered = answered;
	if (inside) {
		/* From an op (a call ended as the profile moved): the input
		 * under way looks again before it returns. */
		r->recheck = true;
		return;
	}
	BEGIN(r);
	END(r);
}

/* ---- queries -------------------------------------------------------------- */

enum roam_state roam_profile_state(const struct roam *r, unsigned int profile)
{
	const struct roam_profile *p = find_profile(r, profile);

	return p ? p->state : ROAM_UNREGISTERED;
}

enum roam_registration roam_profile_registration_state(const struct roam *r,
						       unsigned int profile)
{
	const struct roam_profile *p = find_profile(r, profile);

	return p ? registration_of(p) : ROAM_REG_UNREGISTERED;
}

int roam_profile_get_info(const struct roam *r, unsigned int profile,
			  struct roam_profile_info *ret)
{
	struct roam_profile *p = find_profile(r, profile);
	const struct policy_snap *s;
	uint64_t now;

	if (!p)
		return -ENOENT;
	s = snap_of(r, p);
	now = now_ms(r);
	history_prune(p, s, now);
	*ret = (struct roam_profile_info){
		.state = p->state,
		.registration = registration_of(p),
		.iap = p->cur,
		.offered_iap = p->offer,
		.round = p->state == ROAM_WAIT_FOR_PERMISSION ? p->round : 0,
		.deadline_ms = p->state == ROAM_WAIT_FOR_PERMISSION ? p->deadline_ms : 0,
		.from = p->from,
		.to = p->to,
		.break_before_make = p->bbm,
		.n_controllers = count_controllers(r, profile),
		.n_blocked = p->n_blocked,
		.probing = p->probing,
		.migrations_in_window = (unsigned int)p->n_history,
		.damped_until_ms = p->held_until_ms > now ? p->held_until_ms : 0,
		.calls_ringing = p->calls_ringing,
		.calls_answered = p->calls_answered,
		.held_by_calls = p->calls_held != ROAM_IAP_NONE &&
				 (p->state == ROAM_REGISTERED ||
				  p->state == ROAM_WAIT_FOR_PERMISSION) &&
				 calls_hold(r, p, NULL, 0),
	};
	return 0;
}

const struct snap_ranking *roam_snap_ranking(const struct roam *r, unsigned int snap_id)
{
	for (size_t i = 0; i < r->n_snaps; i++)
		if (r->snaps[i].id == snap_id)
			return r->snaps[i].rank;
	return NULL;
}

unsigned int roam_next_candidate(const struct roam *r, const struct roam_profile_config *cfg,
				 size_t *i)
{
	struct roam_profile p = { .cfg = *cfg };

	return next_candidate(r, &p, i);
}

bool roam_is_controller(const struct roam *r, unsigned int profile, unsigned int client)
{
	return find_controller(r, profile, client) != NULL;
}
