/*
 * Calls through the edge (docs/edge.md, "Calls"): alrd is a back-to-back
 * user agent between a local application (a softphone registered at the
 * edge) and the network (the profile's registrar or outbound proxy, over
 * the IAP the profile is registered on).
 *
 * Each call has two legs, two dialogs of their own (RFC 3261 §12): the
 * network leg, which the far end sees as alrd's registered contact, and
 * the application leg, which the softphone sees as alrd on loopback.  A
 * request on one leg becomes a request alrd makes on the other, never a
 * forwarded copy: Call-ID, tags, CSeq, Via, Contact and routes are each
 * leg's own, so that the network leg can later move to another IAP (the
 * next issue) without the application's dialog changing.
 *
 *  - From the network: an INVITE or MESSAGE to one of alrd's registered
 *    contacts (its user part is the profile's contact user) goes to every
 *    local registration of that profile (forked; the first 2xx wins, the
 *    others are cancelled).  No local registration: 480 at once.  A
 *    Request-URI that is not one of alrd's contacts: 404.
 *  - From an application: an INVITE or MESSAGE whose From is a profile's
 *    AOR, from a local user allowed to use that profile (as for a local
 *    registration), leaves over the profile's IAP from its registered
 *    contact; 401/407 challenges are answered with the profile's
 *    credentials, which the application never holds.
 *  - In a dialog: BYE, INFO, NOTIFY, REFER, UPDATE, re-INVITE and ACK are
 *    passed to the other leg's dialog; CANCEL ends the other leg's
 *    INVITE.
 *  - When the profile registers over another IAP (a migration or a
 *    failover), each answered call's network leg moves with it: relays
 *    open on the new IAP (edge/media.h), a re-INVITE from the new contact
 *    with the new SDP goes to the far end, and its 2xx switches the media;
 *    the application leg does not change.  A move that fails ends the
 *    call with a BYE on both legs (issue 14).
 *
 * Bounded: at most max_calls calls at once (an INVITE beyond that gets
 * 503 with Retry-After), at most CALL_MAX_FORKS local registrations rung
 * per call.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct edge;
struct registry;
struct sip_stack;

#define CALL_DEFAULT_MAX        64
#define CALL_MAX_FORKS          8

enum call_direction {
	CALL_INCOMING,                  /* from the network to an application */
	CALL_OUTGOING,                  /* from an application to the network */
	_CALL_DIRECTION_MAX,
};
const char *call_direction_to_str(enum call_direction d);

enum call_state {
	CALL_RINGING,                   /* INVITE out on the other leg, no 2xx yet */
	CALL_ANSWERED,                  /* 2xx on both legs */
	CALL_ENDED,                     /* gone after the event */
	_CALL_STATE_MAX,
};
const char *call_state_to_str(enum call_state s);

struct call_info {
	unsigned int id;
	unsigned int profile_id;
	enum call_direction direction;
	enum call_state state;
	const char *peer;               /* the far end's URI (From or To) */
	const char *ifname;             /* the network leg's IAP */
	int64_t started_us;             /* monotonic */
	int64_t answered_us;            /* 0 until answered */
	int end_code;                   /* ENDED: the final status, or 0 after a BYE */
	const char *end_reason;         /* ENDED: "bye-from-network", "cancelled", ... */
	unsigned int moves;             /* times its network side moved to another IAP */
	/* The relay's counts (edge/relay.h), all streams: packets forwarded
	 * to the far end and to the application, and dropped. */
	uint64_t media_to_net, media_to_app, media_dropped;
	const char *from_ifname;        /* a move's event: the IAP it left */
};

/* What happened: the call started (RINGING), was answered, moved its
 * network side to another IAP (the profile moved; the application saw
 * nothing), or ended. */
enum call_event_kind {
	CALL_EVENT_STARTED,
	CALL_EVENT_ANSWERED,
	CALL_EVENT_MOVED,
	CALL_EVENT_ENDED,
	_CALL_EVENT_MAX,
};

typedef void (*call_event_fn)(enum call_event_kind what, const struct call_info *call,
			      void *user_data);

struct call_config {
	struct ev_loop *loop;
	struct registry *registry;
	struct sip_stack *stack;
	struct edge *edge;
	unsigned max_calls;             /* 0: CALL_DEFAULT_MAX */
	uint16_t relay_port_min;        /* the media relay's ports (edge/relay.h); */
	uint16_t relay_port_max;        /* ... 0: RELAY_DEFAULT_PORT_* */
};

struct calls;
/* Takes the stack's and the edge's requests (sip_stack_set_taker(),
 * edge_set_call_ops()).  NULL with errno set. */
struct calls *calls_new(const struct call_config *cfg);
/* Ends every call (BYE or CANCEL on both legs, no answer waited for).
 * Returns NULL. */
struct calls *calls_free(struct calls *c);

/* Called on every state change (started: RINGING, ANSWERED, ENDED). */
void calls_set_event_handler(struct calls *c, call_event_fn fn, void *user_data);
/* A reload: new INVITEs are refused past @max (those up go on). */
void calls_set_max(struct calls *c, unsigned max);

size_t calls_count(const struct calls *c);
/* The i-th call (oldest first), valid until the next loop turn. */
int calls_get(const struct calls *c, size_t i, struct call_info *ret);
