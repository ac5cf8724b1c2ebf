/*
 * The ALR (application-level roaming) engine: one state machine per
 * enabled profile (DESIGN §4) and the approval rounds of its controllers
 * (DESIGN §3, points 1-7).  docs/roaming.md is the reference: the state
 * table, the events, the error codes and the timing rules.
 *
 * Pure: no sockets, no loop, no SIP objects.  The engine is told what
 * happens (IAP views, SNAP sets, controller requests, SIP outcomes, timer
 * expiries) and acts through a struct roam_ops: SIP requests for a
 * profile's one binding, one timer per profile, events for clients.  The
 * daemon's registry wires the ops to bindings, ev_timers and the control
 * socket; tests/unit/test-roam.c wires them to fakes and a fake clock.
 *
 * Ids: profiles, IAPs and clients are numbered by their owners; 0 is never
 * a valid id ("none").  SNAP ids are policy ids (0: the default SNAP).
 *
 * Re-entrancy: an op must not call back into the engine (but for
 * roam_profile_calls(), which only records).  Every roam_*()
 * input runs to completion: it applies the input, then lets every profile
 * settle (offers, registrations, deferred outcomes), then re-arms timers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alr/snap.h"
#include "policy/policy.h"

#define ROAM_IAP_NONE           0u
#define ROAM_SNAP_NONE          (-1)    /* roam_event.snap of a fixed-IAP profile */
#define ROAM_MAX_CONTROLLERS    256     /* per profile; more: -EBUSY */
#define ROAM_MAX_BLOCKED        16      /* per profile; the oldest mark goes first */
#define ROAM_MESSAGE_MAX        192     /* error messages, with the terminator */
#define ROAM_NAME_MAX           96      /* profile name kept for logs */

/** An op's result: the request went out, its outcome comes later. */
#define ROAM_OP_STARTED         0
/** An op's result: already done (nothing to send); the engine proceeds as
 * if the success outcome had come. */
#define ROAM_OP_DONE            1

/** Profile states (DESIGN §4). */
enum roam_state {
	ROAM_UNREGISTERED,
	ROAM_WAIT_FOR_IAP,
	ROAM_REGISTERING,
	ROAM_REGISTERED,
	ROAM_WAIT_FOR_PERMISSION,
	ROAM_MIGRATING,
	ROAM_UNREGISTERING_OLD,
	ROAM_UNREGISTERING,
	_ROAM_STATE_MAX,
};

/** What clients are shown as a profile's registration state (DESIGN §4). */
enum roam_registration {
	ROAM_REG_UNREGISTERED,
	ROAM_REG_REGISTERING,
	ROAM_REG_REGISTERED,
	ROAM_REG_UNREGISTERING,
	_ROAM_REG_MAX,
};

/** Events, by their method names on the control socket. */
enum roam_event_type {
	ROAM_EVENT_IAP_AVAILABLE,       /* alr.iap-available {profile, snap, iap} */
	ROAM_EVENT_MIGRATION_STARTED,   /* alr.migration-started {profile, snap, from, to} */
	ROAM_EVENT_MIGRATION_COMPLETED, /* alr.migration-completed {profile, snap, from, to} */
	ROAM_EVENT_ERROR,               /* alr.error {profile, snap, iap, code, message} */
	ROAM_EVENT_NO_IAP,              /* alr.no-iap {profile, snap} */
	ROAM_EVENT_REGISTERED,          /* profile.registered {profile, iap} */
	ROAM_EVENT_UPDATED,             /* profile.updated {profile, iap} (its IAP changed) */
	ROAM_EVENT_DEREGISTERED,        /* profile.deregistered {profile, iap, reason} */
	_ROAM_EVENT_MAX,
};

/** alr.error codes: stable numbers, stable names. */
enum roam_error {
	ROAM_ERROR_ACCESS_DENIED = 1,   /* "access-denied": the controllers disallowed the IAP */
	ROAM_ERROR_MIGRATION_FAILED = 2,        /* "migration-failed": REGISTER over the new IAP failed */
	ROAM_ERROR_REGISTRATION_FAILED = 3,     /* "registration-failed": REGISTER over the IAP failed */
	ROAM_ERROR_OFFER_WITHDRAWN = 4, /* "offer-withdrawn": the IAP on offer is no longer offered */
	ROAM_ERROR_MIGRATION_ABORTED = 5,       /* "migration-aborted": lost the current IAP or disabled mid-way */
	ROAM_ERROR_REMOVAL_FAILED = 6,  /* "removal-failed": an old contact could not be removed */
	_ROAM_ERROR_MAX,
};

/** Why a registration that was announced ended (profile.deregistered
 * "reason", docs/protocol.md).  The input that stops a profile names it
 * (roam_profile_disable()); the engine's own edges use network-lost,
 * error and migration. */
enum roam_reason {
	ROAM_REASON_DISABLED,           /* "disabled": its last user left, auto-registration off */
	ROAM_REASON_NETWORK_LOST,       /* "network-lost": its IAP went away */
	ROAM_REASON_DELETED,            /* "deleted" */
	ROAM_REASON_FORCED,             /* "forced": profile.force-disable */
	ROAM_REASON_ERROR,              /* "error": the registrar refused or a refresh failed */
	ROAM_REASON_UPDATE,             /* "update": a major update, registered anew */
	ROAM_REASON_RESTORE,            /* "restore": store.restore */
	ROAM_REASON_SHUTDOWN,           /* "shutdown": alrd stops */
	ROAM_REASON_MIGRATION,          /* "migration": the break of break-before-make */
	_ROAM_REASON_MAX,
};

/** Who an event is for (a mask).  The daemon sends it once to every
 * client that is in any of the groups. */
enum {
	ROAM_TO_CONTROLLERS = 1u << 0,  /* every controller of the profile (roam_is_controller()) */
	ROAM_TO_OBSERVERS = 1u << 1,    /* every client subscribed to the event's name */
	ROAM_TO_CLIENT = 1u << 2,       /* roam_event.client only */
};

const char *roam_state_to_str(enum roam_state s);               /* "WAIT_FOR_PERMISSION" */
const char *roam_registration_to_str(enum roam_registration r); /* "REGISTERED" */
const char *roam_event_type_to_str(enum roam_event_type t);     /* "alr.iap-available" */
const char *roam_error_to_str(enum roam_error e);               /* "access-denied" */
const char *roam_reason_to_str(enum roam_reason r);             /* "network-lost" */
/* As the control protocol shows them (docs/protocol.md, a profile's
 * "state"): "wait-for-permission", and "registered", ... */
const char *roam_state_to_phase(enum roam_state s);
const char *roam_registration_to_name(enum roam_registration r);

/** One event.  Pointers are valid during the call only; fields that the
 * type does not carry are 0 / NULL. */
struct roam_event {
	enum roam_event_type type;
	unsigned int to;                /* ROAM_TO_* mask */
	unsigned int client;            /* ROAM_TO_CLIENT: the client */
	unsigned int profile;
	int snap;                       /* ROAM_SNAP_NONE: fixed to an IAP */
	unsigned int iap;               /* IAP_AVAILABLE, ERROR, REGISTERED, UPDATED,
					   DEREGISTERED (the IAP it was registered over) */
	unsigned int from, to_iap;      /* MIGRATION_* */
	uint64_t round;                 /* IAP_AVAILABLE: the offer's number */
	uint64_t deadline_ms;           /* IAP_AVAILABLE: answers are due by then */
	enum roam_error code;           /* ERROR */
	int status;                     /* ERROR: SIP status or -errno behind it, 0: none */
	const char *message;            /* ERROR: for people; never a secret */
	enum roam_reason reason;        /* DEREGISTERED */
};

/**
 * What the engine needs.  Every op gets the user_data of roam_new().  The
 * SIP ops act on the profile's one binding (sip/binding.h: one object per
 * profile, same Call-ID, growing CSeq).  They return ROAM_OP_STARTED (the
 * outcome comes later through roam_sip_*()), ROAM_OP_DONE (nothing needed
 * sending: success now) or a negative errno (nothing was sent: failure
 * now).  An immediate outcome is handled after the current transition,
 * never inside it.
 */
struct roam_ops {
	/** Monotonic milliseconds. */
	uint64_t (*now_ms)(void *user_data);
	/** The profile's one timer: (re)arm for at_ms; on expiry call
	 * roam_timer_fired(). */
	void (*timer_start)(void *user_data, unsigned int profile, uint64_t at_ms);
	void (*timer_stop)(void *user_data, unsigned int profile);

	/** Register over iap; the binding is idle (binding_start()).
	 * Outcome: roam_sip_registered() / roam_sip_failed(). */
	int (*sip_register)(void *user_data, unsigned int profile, unsigned int iap);
	/** Register the contact over iap, keeping the contacts registered
	 * over other IAPs (binding_move()).  iap may be the binding's IAP
	 * (it came back): then register again over it now.
	 * Outcome: roam_sip_registered() / roam_sip_failed(). */
	int (*sip_move)(void *user_data, unsigned int profile, unsigned int iap);
	/** Remove every contact the binding registered except the current
	 * one (old_iap: the IAP of the last of them, for logs), by a
	 * REGISTER with expires=0 over via_iap (binding_remove_contact()).
	 * Outcome: roam_sip_old_removed(). */
	int (*sip_remove_old)(void *user_data, unsigned int profile,
			      unsigned int old_iap, unsigned int via_iap);
	/** Remove every contact of the binding over via_iap, then idle
	 * (binding_stop()).  Outcome: roam_sip_deregistered(). */
	int (*sip_deregister)(void *user_data, unsigned int profile, unsigned int via_iap);
	/** No IAP left to send anything over: idle the binding without a
	 * request; what it registered stays persisted for later removal
	 * (DESIGN §3.8).  No outcome. */
	void (*sip_abandon)(void *user_data, unsigned int profile);
	/** Optional (NULL: no probes).  Does the registrar answer over iap,
	 * an IAP marked unreachable while the profile is registered over
	 * another?  One request over iap that changes nothing at the
	 * registrar (binding_query()).  Outcome: roam_sip_probed().  While a
	 * probe is out the engine sends no other; the binding's own
	 * requests go first (a refresh cancels it). */
	int (*sip_probe)(void *user_data, unsigned int profile, unsigned int iap);

	/** An event for clients (see enum roam_event_type and the mask). */
	void (*event)(void *user_data, const struct roam_event *ev);
	/** Optional: called last on every edge, after the events of the
	 * decision and the actions of the new state. */
	void (*state_changed)(void *user_data, unsigned int profile,
			      enum roam_state old_state, enum roam_state new_state);
};

/** How a profile roams.  Exactly one of snap_id (iap_id 0) or iap_id. */
struct roam_profile_config {
	unsigned int snap_id;           /* the SNAP to roam across (0: default) */
	unsigned int iap_id;            /* != 0: fixed to this IAP, no roaming */
	unsigned int bearers;           /* POLICY_KIND_BIT() mask the profile admits;
					   0: any (profile bearer "any") */
	const char *name;               /* for log lines ("alice@example.org"); copied, may be NULL */
};

/** A snapshot for `alrctl profile show`. */
struct roam_profile_info {
	enum roam_state state;
	enum roam_registration registration;
	unsigned int iap;               /* registered or registering over; 0: none */
	unsigned int offered_iap;       /* WAIT_FOR_PERMISSION */
	uint64_t round;
	uint64_t deadline_ms;
	unsigned int from, to;          /* a migration under way (MIGRATING, or the
					   break of break-before-make) */
	bool break_before_make;         /* the migration under way */
	size_t n_controllers;
	size_t n_blocked;               /* IAPs not offered until they change or a refresh */
	unsigned int probing;           /* a probe is out over this IAP; 0: none */
	unsigned int migrations_in_window;
	uint64_t damped_until_ms;       /* 0: not held back */
	unsigned int calls_ringing;     /* roam_profile_calls() */
	unsigned int calls_answered;
	bool held_by_calls;             /* a better IAP waits for them */
};

struct roam;

/** NULL on ENOMEM.  ops and user_data are borrowed for the engine's life. */
struct roam *roam_new(const struct roam_ops *ops, void *user_data);
/** Stops nothing at the registrar (disable profiles first).  Returns NULL. */
struct roam *roam_free(struct roam *r);

/* ---- inputs: world ---------------------------------------------------- */

/**
 * The SNAPs, at start and on every reload.  @set is borrowed until the
 * next call or roam_free(): call this before freeing the previous set
 * (rankings follow the SNAPs while both exist, see snap_ranking_set_snap()).
 * @views are the IAPs now (as for roam_iaps_changed()).  Profiles on
 * changed SNAPs are re-evaluated at once.  0 or -ENOMEM (the old SNAPs
 * stay; call again).
 */
int roam_snap_set(struct roam *r, const struct policy_set *set,
		  const struct snap_iap_view *views, size_t n);

/**
 * Every IAP now, after every IAP event (each id once; strings borrowed for
 * the call).  Loss of a profile's IAP is handled inside this call: the
 * next registration request goes out before it returns.  Allocates only
 * when it meets more IAPs than ever before.  0, -EINVAL or -ENOMEM
 * (nothing changed).
 */
int roam_iaps_changed(struct roam *r, const struct snap_iap_view *views, size_t n);

/**
 * An identity switch (iap.added with iap->replaces): @old_id is now
 * @new_id, the same network.  Call it before roam_iaps_changed() of that
 * event: profiles, offers and marks carry over; nothing is deregistered
 * or offered.
 */
void roam_iap_replaced(struct roam *r, unsigned int old_id, unsigned int new_id);

/**
 * Want the profile registered: over the best IAP of its SNAP (or its
 * fixed IAP) at once, asking nobody.  Enabling an enabled profile with a
 * different config deregisters it and registers it anew.
 * 0, -EINVAL (profile 0), -ENOMEM.
 */
int roam_profile_enable(struct roam *r, unsigned int profile,
			const struct roam_profile_config *config);
/** Deregister and forget the profile; @reason goes into its
 * profile.deregistered.  The deregistration is bounded by the stop
 * timeout (roam_set_stop_timeout()): after it the binding is abandoned
 * (what it registered stays persisted, DESIGN §3.8).  0, -ENOENT (not
 * enabled). */
int roam_profile_disable(struct roam *r, unsigned int profile, enum roam_reason reason);
/** How long UNREGISTERING may wait for the deregistration's outcome
 * (default 2000 ms; 0 keeps the default). */
void roam_set_stop_timeout(struct roam *r, uint64_t ms);

/* ---- inputs: controllers (alr.control, alr.allow, ...) -------------------
 *
 * Each returns 0 or a negative errno with ret_message (if not NULL, of
 * ret_size bytes) saying what to do:
 *   -ENOENT  the profile is not enabled
 *   -EPERM   the client is not a controller of the profile
 *   -EINVAL  no offer is pending, or the IAP is not the one on offer
 *   -EBUSY   ROAM_MAX_CONTROLLERS reached
 * The controller list is the engine's, independent of enabling: a client
 * may control a profile before it is enabled (the registry checks that
 * the profile exists). */

int roam_control(struct roam *r, unsigned int profile, unsigned int client,
		 char *ret_message, size_t ret_size);
/** The client no longer controls the profile (pending answers re-evaluated). */
int roam_release(struct roam *r, unsigned int profile, unsigned int client,
		 char *ret_message, size_t ret_size);
/** The client disconnected: dropped from every round, which are
 * re-evaluated at once. */
void roam_client_gone(struct roam *r, unsigned int client);
int roam_allow(struct roam *r, unsigned int profile, unsigned int iap,
	       unsigned int client, char *ret_message, size_t ret_size);
int roam_disallow(struct roam *r, unsigned int profile, unsigned int iap,
		  unsigned int client, char *ret_message, size_t ret_size);
/** Forget which IAPs were disallowed or failed and look again; the offer
 * on the table (if any) is sent to the client again.  Only a controller
 * may refresh a profile that has controllers. */
int roam_refresh(struct roam *r, unsigned int profile, unsigned int client,
		 char *ret_message, size_t ret_size);

/* ---- inputs: SIP outcomes and the timer (from the adapter) --------------
 *
 * Outcomes that do not fit the profile's state (late, for another IAP,
 * for an unknown profile) are logged at debug and dropped. */

/** A REGISTER over iap got its 2xx (also a later refresh). */
void roam_sip_registered(struct roam *r, unsigned int profile, unsigned int iap);
/** A REGISTER over iap failed for want of the network (no answer, ICMP
 * host or net unreachable, reset, DNS, no local address): status is the
 * SIP status the binding made of it or -errno; the binding retries on its
 * own if it can.  The IAP is marked unreachable: not offered nor preferred
 * until it changes, a refresh, or the registrar answers over it again (a
 * registration, a server error, a probe: docs/roaming.md, "Marks"). */
void roam_sip_failed(struct roam *r, unsigned int profile, unsigned int iap,
		     int status, const char *reason);
/** The registrar refused a REGISTER over iap for good (403 to that
 * network's address, ...): the network carried it, but the registrar will
 * not take us over it.  As roam_sip_failed(), with a mark that only a
 * change of the IAP or a refresh clears (no probes). */
void roam_sip_refused(struct roam *r, unsigned int profile, unsigned int iap,
		      int status, const char *reason);
/** A probe over iap (roam_ops.sip_probe) finished: answered when any
 * answer came back over it (a SIP response, or the registrar's host saying
 * its port is closed), else status and reason say what happened. */
void roam_sip_probed(struct roam *r, unsigned int profile, unsigned int iap, bool answered,
		     int status, const char *reason);
/** The registrar answered a REGISTER over iap with an error (5xx, 6xx, a
 * 4xx that is not final, 408 from the server), or its host said that
 * nothing listens at its port (ICMP port unreachable from its address, a
 * refused connection): the network carried it, so nothing bad about the
 * IAP is learnt, and an unreachable mark on it goes.  The binding honours
 * Retry-After and retries over the same IAP; the engine stays where it is
 * (no alr.error for the IAP, no mark, no move; a migration goes on when
 * the registrar answers again).
 * Transport evidence (no answer, ICMP host or net unreachable, reset, DNS)
 * is roam_sip_failed(). */
void roam_sip_server_error(struct roam *r, unsigned int profile, unsigned int iap,
			   int status, const char *reason);
/** sip_remove_old finished: status 0 (or 2xx) removed, else why not. */
void roam_sip_old_removed(struct roam *r, unsigned int profile, int status,
			  const char *reason);
/** sip_deregister finished: the binding is idle; status 0 (or 2xx) when
 * every contact was removed, else what is left is persisted. */
void roam_sip_deregistered(struct roam *r, unsigned int profile, int status,
			   const char *reason);
void roam_timer_fired(struct roam *r, unsigned int profile);

/* ---- input: the profile's calls (edge/call.h) ---------------------------
 *
 * How many calls through the edge the profile has now: @ringing (an
 * INVITE out, no 2xx yet: an early dialog) and @answered.  A planned
 * migration waits while any call rings (an early dialog cannot be moved,
 * docs/edge.md "Moves"), and, on a SNAP with calls = defer, while any call
 * is up at all: alrd is then one more controller of the move, whose
 * answer comes when the calls are done (docs/roaming.md, "Calls").  The
 * offer still goes to the controllers (they see the calls); the approval
 * timeout is theirs, not alrd's.  Losing the current IAP never waits.
 * A profile that is not enabled: ignored.  The one input an op may call
 * (calls end as their profile moves): it is then taken into account before
 * the input under way returns. */
void roam_profile_calls(struct roam *r, unsigned int profile, unsigned int ringing,
			unsigned int answered);

/* ---- queries ------------------------------------------------------------ */

/** ROAM_UNREGISTERED for a profile that is not enabled. */
enum roam_state roam_profile_state(const struct roam *r, unsigned int profile);
enum roam_registration roam_profile_registration_state(const struct roam *r,
						       unsigned int profile);
/** 0 or -ENOENT. */
int roam_profile_get_info(const struct roam *r, unsigned int profile,
			  struct roam_profile_info *ret);
bool roam_is_controller(const struct roam *r, unsigned int profile,
			unsigned int client);
/** The engine's own order of SNAP @snap_id for the IAPs of the last input,
 * signal hysteresis included (what its profiles roam by); NULL when no
 * SNAP of that id is loaded.  Valid until the next input. */
const struct snap_ranking *roam_snap_ranking(const struct roam *r, unsigned int snap_id);
/** The IAPs a profile configured as @cfg registers over, best first, as
 * the engine chooses them (its SNAP's order narrowed by the bearer filter,
 * or its fixed IAP while available), by the last input: the one IAP
 * chooser.  Call with *i = 0, then again until it returns ROAM_IAP_NONE.
 * The profile need not be enabled. */
unsigned int roam_next_candidate(const struct roam *r, const struct roam_profile_config *cfg,
				 size_t *i);
