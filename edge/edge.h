/*
 * The SIP edge (DESIGN §8, docs/edge.md): where local applications
 * (softphones) speak SIP to alrd, on loopback UDP and TCP sockets.
 *
 * This increment answers REGISTERs: one whose To is a profile's AOR is a
 * local registration (edge/locreg.h), answered by alrd itself and never
 * forwarded; while a profile has one, the edge is one of its users
 * (registry_enable(), as a control client's profile.enable), so alrd
 * keeps the profile registered at the network's registrar.  Who may
 * register a profile is the sending socket's owner (edge/sockdiag.h):
 * root, a member of the control groups, or a user the profile's
 * local_users names.  Local registrations are kept in the store and
 * survive a restart.  OPTIONS to alrd itself gets 200; other requests
 * go to the calls (edge/call.h) through edge_set_call_ops(), which also
 * sends requests to the applications (edge_request()).
 *
 * Requests run through libosip2's server transactions (NIST, IST) on an
 * osip_t of the edge's own, so that a retransmitted REGISTER gets the same
 * answer again rather than a second application of it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "edge/addr.h"
#include "edge/localauth.h"
#include "edge/locreg.h"
#include "sip/sip_osip.h"
#include "sip/sipmsg.h"

struct ev_loop;
struct profile;
struct registry;
struct sip_client_cbs;
struct store;
struct edge;

/* The registry user that the edge's uses of a profile are counted under.
 * Control clients are numbered from 1 up (daemon/control.c) and never
 * reach it. */
#define EDGE_REGISTRY_USER      (UINT64_C(1) << 63)

#define EDGE_MAX_LISTEN         8       /* addresses in [edge] listen */
#define EDGE_MAX_CONNECTIONS    64      /* TCP connections at once */
#define EDGE_DEFAULT_MAX_PER_PROFILE 8
#define EDGE_DEFAULT_MIN_EXPIRES 60
#define EDGE_DEFAULT_MAX_EXPIRES 3600

enum edge_event_type {
	EDGE_EVENT_LOCAL_REGISTERED,    /* a new local registration */
	EDGE_EVENT_LOCAL_UNREGISTERED,  /* removed, expired, or its profile gone */
};

struct edge_event {
	enum edge_event_type type;
	const struct locreg *reg;       /* valid during the call */
	const char *reason;             /* UNREGISTERED: "unregistered", "expired", "dropped" */
};

typedef void (*edge_event_fn)(const struct edge_event *ev, void *user_data);

struct edge_config {
	struct ev_loop *loop;
	struct registry *registry;
	struct store *store;
	/* Addresses (edge_addr_parse()), each listened on over UDP and TCP. */
	const char *const *listen;
	size_t n_listen;
	struct locreg_limits limits;
	/* Group names whose members may register any profile (as on the
	 * control socket). */
	const char *const *control_groups;
	size_t n_control_groups;
};

/* NULL with errno set. */
struct edge *edge_new(const struct edge_config *cfg);
struct edge *edge_free(struct edge *e);

/* Bind every address.  0, or a negative errno with @errbuf naming the
 * address that failed and why (nothing stays bound then). */
int edge_listen(struct edge *e, char *errbuf, size_t errsize);

void edge_set_event_handler(struct edge *e, edge_event_fn fn, void *user_data);
/* A reload: new limits (for the next REGISTERs) and control groups. */
void edge_set_limits(struct edge *e, const struct locreg_limits *limits);
void edge_set_control_groups(struct edge *e, const char *const *groups, size_t n);

/* The sockets, "udp:127.0.0.1:5062", "tcp:[::1]:5062", in order. */
size_t edge_listen_count(const struct edge *e);
const char *edge_listen_name(const struct edge *e, size_t i);

/* The local registrations of profile @profile_id (0: all). */
size_t edge_local_count(const struct edge *e, unsigned int profile_id);
const struct locreg *edge_local_at(const struct edge *e, unsigned int profile_id, size_t i);

struct edge_stats {
	unsigned long requests;         /* parsed requests received */
	unsigned long responses;        /* sent (retransmissions included) */
	unsigned long dropped;          /* malformed, or not for us */
	unsigned long connections;      /* TCP connections now */
	unsigned long transactions;     /* server and client transactions now,
					   the answered ones kept for retransmissions
					   included */
	unsigned long user_lookups;     /* uids waiting for NSS (userlookup.h) */
};
void edge_get_stats(const struct edge *e, struct edge_stats *ret);

/* ---- for the edge's calls (edge/call.c) --------------------------------- */

/* The owner of a socket the kernel's socket table does not show. */
#define EDGE_UID_UNKNOWN ((uid_t)-1)

struct userlookup_user;

/* A local application's socket, as the edge reaches it. */
struct edge_peer {
	enum sip_proto proto;
	struct sockaddr_storage addr;
	uid_t uid;                      /* its owner (edge_call_ops.take), or
					   EDGE_UID_UNKNOWN */
	const struct userlookup_user *user;     /* who uid is (NSS), or NULL */
	/* What the request's Authorization proved, when the profile its From
	 * names has a local password (edge/localauth.h). */
	unsigned int auth_profile;      /* 0: none checked */
	enum localauth_verdict auth;
};

/* Requests from local applications other than REGISTER and OPTIONS go
 * to take(): 0 to take it (answer it with edge_respond(@id) from now
 * on), or a status 300..699 for the edge to answer.  Messages that match
 * no transaction (an ACK for a 2xx, a 2xx retransmitted for an INVITE
 * whose transaction ended) go to stray().  Without call ops, requests get
 * 501. */
struct edge_call_ops {
	int (*take)(void *user_data, uint64_t id, const struct edge_peer *from,
		    const osip_message_t *req);
	void (*stray)(void *user_data, const struct edge_peer *from,
		      const osip_message_t *msg);
};
void edge_set_call_ops(struct edge *e, const struct edge_call_ops *ops, void *user_data);

/* The profile whose AOR is @uri (scheme, user, host), or NULL. */
const struct profile *edge_find_profile(struct edge *e, const osip_uri_t *uri);
/* May @from use profile @p: its owner is root, in the control groups or
 * in its local_users, or its request proved the profile's local password?
 * 0 if so; else 401 (challenge it: the profile has a local password and
 * none, or an old nonce, was given) or 403.  @who names the user for a
 * reason phrase. */
int edge_may_use(struct edge *e, const struct edge_peer *from, const struct profile *p,
		 char *who, size_t who_size);
/* Where local registration @r is reached: the socket its REGISTER came
 * from (RFC 5626's flow, and always one of this host's: the edge never
 * sends to a Contact's host).  0, -EINVAL. */
int edge_peer_of(const struct locreg *r, struct edge_peer *ret);

/* Answer taken request @id (@resp consumed).  0, -ENOENT. */
int edge_respond(struct edge *e, uint64_t id, osip_message_t *resp);
/* Send @req (consumed) to @to in a client transaction; outcomes as for
 * sip_stack_request() (sip/stack.h), from the edge's run.  -ENOTCONN:
 * no socket reaches @to (its TCP connection is gone). */
int edge_request(struct edge *e, const struct edge_peer *to, osip_message_t *req,
		 const struct sip_client_cbs *cbs, void *user_data, uint64_t *ret_id);
void edge_forget(struct edge *e, uint64_t id);
/* The edge's own address on the socket that reaches @to (for Via and
 * Contact).  0, -ENOTCONN. */
int edge_local_addr(struct edge *e, const struct edge_peer *to, struct sockaddr_storage *ret);
/* Send @msg outside any transaction (an ACK for a 2xx, a 2xx again). */
int edge_send(struct edge *e, const struct edge_peer *to, const osip_message_t *msg);
