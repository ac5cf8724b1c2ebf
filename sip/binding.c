/* The binding state machine (see binding.h).
 *
 * Requests go out one at a time (RFC 3261 §10.2: no new REGISTER before
 * the previous one has a final response or timed out).  Two kinds share
 * that one slot:
 *   - the machine's own REGISTER / de-REGISTER ("main"), which is what the
 *     state says we are doing;
 *   - queued side requests: removing a contact (binding_remove_contact())
 *     and asking for the AOR's bindings (binding_query()), which do not
 *     change the state and report through their own events.
 * dispatch() picks what goes next: the main request first, then the
 * queue.  Every entry point ends with dispatch(), after any transition, so
 * a transition never happens inside another one's notification.
 *
 * One contact list.  The contacts the registrar may hold for us live in
 * one list, its owner's (struct binding_contacts: in alrd the profile's
 * alr/contacts.c, written through to the store, DESIGN §3.8); the binding
 * keeps only its current contact.  It reads the list whenever it builds a
 * request (the de-REGISTER names every contact in it; a REGISTER names
 * the older ones over the same IAP) and tells it what it learns: a
 * contact is in it from the moment a REGISTER carrying it is sent until
 * the registrar says it is gone (a 2xx that lists the AOR's bindings
 * without it, a successful removal or de-REGISTER); the owner leaves out
 * what has expired.  Why read rather than be handed the contacts (e.g. by
 * binding_stop()): requests are built at moments the owner does not
 * choose (a resend after a 401/407, a refresh over a new TCP connection
 * that takes the old contact with it, a de-REGISTER that waits for the
 * REGISTER in flight), so a list handed over earlier would be a copy
 * that can fall out of step by then.
 *
 * Over 1,200 lines: one object, its machine and the one request slot its
 * side requests share; splitting the REGISTER builder from the machine
 * would put the slot's rules in two files. */
#include "sip/binding.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "base/util.h"
#include "sip/digest.h"
#include "sip/stack.h"
#include "sip/transport.h"

#define DEFAULT_EXPIRES         3600u
/* RFC 3261 §10.2.1 does not say when to refresh; half-way is common, we
 * refresh between 80 % and 90 % of the granted time, but at the latest
 * this long before it runs out. */
#define REFRESH_MARGIN_MS       5000u
#define BACKOFF_BASE_MS         2000u
#define BACKOFF_CAP_MS          (30u * 60u * 1000u)
/* A Retry-After longer than our longest backoff is not waited out: one
 * response must not park a binding for a day (RFC 3261 §20.33 leaves
 * the client free to try earlier). */
#define RETRY_AFTER_MAX         (BACKOFF_CAP_MS / 1000u)
#define MAX_423                 3
#define MAX_AUTH_ROUNDS         3
#define REDIRECT_MAX            8
#define AUX_MAX                 16
#define DEST_MAX                8       /* addresses of a name (sip/stack.c gets as many) */
#define AUTH_VALUE_MAX          2048

static const char *const state_names[_BINDING_STATE_MAX] = {
	[BINDING_IDLE] = "IDLE",
	[BINDING_RESOLVING] = "RESOLVING",
	[BINDING_REGISTERING] = "REGISTERING",
	[BINDING_REGISTERED] = "REGISTERED",
	[BINDING_UNREGISTERING] = "UNREGISTERING",
	[BINDING_BACKOFF] = "BACKOFF",
};

static const char *const error_names[_BINDING_ERROR_MAX] = {
	[BINDING_ERROR_NONE] = "none",
	[BINDING_ERROR_AUTH] = "authentication",
	[BINDING_ERROR_FORBIDDEN] = "forbidden",
	[BINDING_ERROR_NOT_FOUND] = "not-found",
	[BINDING_ERROR_REJECTED] = "rejected",
	[BINDING_ERROR_PROTOCOL] = "protocol",
	[BINDING_ERROR_TIMEOUT] = "timeout",
	[BINDING_ERROR_TRANSPORT] = "transport",
	[BINDING_ERROR_SERVER] = "server",
	[BINDING_ERROR_RESOLVE] = "resolve",
	[BINDING_ERROR_REDIRECT] = "redirect",
	[BINDING_ERROR_INTERNAL] = "internal",
	[BINDING_ERROR_TLS] = "tls",
};

static const char *const event_names[_BINDING_EVENT_MAX] = {
	[BINDING_EVENT_STATE] = "state",
	[BINDING_EVENT_CONTACT_REMOVED] = "contact-removed",
	[BINDING_EVENT_QUERY] = "query",
};

const char *binding_state_to_str(enum binding_state s)
{
	if ((unsigned)s >= _BINDING_STATE_MAX)
		return "?";
	return state_names[s];
}

const char *binding_error_to_str(enum binding_error e)
{
	if ((unsigned)e >= _BINDING_ERROR_MAX)
		return "?";
	return error_names[e];
}

const char *binding_event_type_to_str(enum binding_event_type t)
{
	if ((unsigned)t >= _BINDING_EVENT_MAX)
		return "?";
	return event_names[t];
}

bool binding_error_is_permanent(enum binding_error e)
{
	switch (e) {
	case BINDING_ERROR_AUTH:
	case BINDING_ERROR_FORBIDDEN:
	case BINDING_ERROR_NOT_FOUND:
	case BINDING_ERROR_REJECTED:
	case BINDING_ERROR_PROTOCOL:
	case BINDING_ERROR_INTERNAL:
		return true;
	case BINDING_ERROR_NONE:
	case BINDING_ERROR_TIMEOUT:
	case BINDING_ERROR_TRANSPORT:
	case BINDING_ERROR_SERVER:
	case BINDING_ERROR_RESOLVE:
	case BINDING_ERROR_REDIRECT:
	case BINDING_ERROR_TLS:
	case _BINDING_ERROR_MAX:
		break;
	}
	return false;
}

enum op_kind {
	OP_REGISTER,            /* main: our contact */
	OP_UNREGISTER,          /* main: every contact of the list, expires=0 */
	OP_REMOVE,              /* side: one contact, expires=0 */
	OP_QUERY,               /* side: no Contact */
};

enum main_want {
	MAIN_NONE,
	MAIN_REGISTER,
	MAIN_UNREGISTER,
};

/* One request's dealings with challenges (RFC 3261 §22.2).  "fresh": the
 * credentials we send were computed from a challenge that answered this
 * very operation, so another challenge means they are wrong. */
struct auth_round {
	bool www_fresh;
	bool proxy_fresh;
	bool stale_retried;
	unsigned rounds;
};

struct aux_op {
	struct aux_op *next;
	enum op_kind kind;
	char *contact;                  /* OP_REMOVE */
	bool check;                     /* OP_QUERY of the binding's own check:
					   no event, the binding acts on it */
	bool plain;                     /* OP_REMOVE of our contact as registered
					   before the registrar showed outbound
					   (instance, no reg-id): no event, the
					   contact stays ours (with a reg-id) */
	char ifname[IFNAMSIZ];
	struct sockaddr_storage local;
	struct auth_round auth;
};

struct tx {
	bool active;
	uint64_t id;
	enum op_kind kind;
	struct aux_op *aux;             /* side requests: owned while in flight */
	struct sip_transport *tp;       /* side requests: put when done */
	char ifname[IFNAMSIZ];
	uint64_t sent_at;
};

struct cause {
	enum binding_error error;
	int code;
	const char *reason;
};

static const struct cause no_cause = { BINDING_ERROR_NONE, 0, "" };

struct binding {
	unsigned id;
	enum binding_state state;
	char *name;                     /* the AOR without "sip:", for logs */

	/* configuration */
	char *aor;
	char *registrar;
	char *proxy;                    /* in use: proxy_cfg or proxies[i_proxy] */
	char *proxy_cfg;
	/* binding_set_proxies(): the servers a network named, tried in
	 * order within an attempt (n_proxies 0: proxy_cfg alone). */
	char *proxies[BINDING_PROXIES_MAX];
	size_t n_proxies, i_proxy;
	bool proxy_changed;             /* the next move resolves anew */
	char *username;
	char *realm;
	char *password;
	struct digest_ha1 ha1;          /* used when password is NULL */
	bool has_ha1;
	char *contact_user;
	char *instance;
	char *user_agent;
	char *ca_file;                  /* TLS: the configuration's, or NULL */
	char **contact_params;
	size_t n_contact_params;
	struct sipmsg_header *extra;
	size_t n_extra;
	unsigned expires_cfg;

	const struct binding_ops *ops;
	void *port;
	struct watchlist observers;
	const struct binding_contacts *list;
	void *list_data;

	char *call_id;
	char from_tag[17];
	uint32_t cseq;

	/* Where requests go: the Request-URI (registrar or a redirect) and
	 * the host that is resolved (the outbound proxy, else that URI). */
	char *target;
	struct sipmsg_target dest_target;
	struct sockaddr_storage dest4, dest6;
	bool have4, have6;
	bool resolved;                  /* have4/have6 are the answer */
	bool srv;                       /* ... from SRV: ports and transport its own */
	/* Every address of the name, in the resolver's order (ports set):
	 * a closed port moves on to the next one of the family (next_dest()). */
	struct sockaddr_storage dests[DEST_MAX];
	size_t n_dests;
	bool resolving;
	char *redirects[REDIRECT_MAX];  /* 3xx contacts not tried yet */
	size_t n_redirects;
	char *tried[REDIRECT_MAX + 1];  /* targets tried in this attempt */
	size_t n_tried;

	/* the IAP and what we register over it */
	bool has_iap;
	char ifname[IFNAMSIZ];
	struct sockaddr_storage local;  /* port 0 */
	struct sip_transport *tp;
	struct sockaddr_storage tp_local;
	char *contact;
	bool confirmed;                 /* a 2xx granted or listed it */
	unsigned expires_req;           /* raised by 423 */
	unsigned granted;
	uint64_t registered_at;         /* when the REGISTER granted was sent */
	/* REGISTERED: when the refresh is due, and the next check that the
	 * registrar still lists us (binding_config.check_ms; 0: none). */
	uint64_t refresh_at, check_at;
	unsigned check_ms;
	bool registrar_outbound;        /* a 2xx listed outbound: reg-ids on */
	const struct sip_transport *flow_tp;    /* the flow kept alive last, for the log */
	bool flow_outbound;             /* the last 2xx over tp said Require: outbound */
	char *plain_contact;            /* granted without a reg-id before the registrar
					   showed outbound: removed after the refresh */
	uint64_t backoff_ms;            /* the delay BACKOFF was entered with */

	enum main_want main_want;
	/* REGISTER pacing (binding_ops.pace_request): this attempt has its
	 * turn; waiting for it. */
	bool paced;
	bool pace_waiting;
	struct auth_round auth;
	unsigned n_423;
	unsigned backoff_n;
	int retry_after;
	struct digest_session www;
	struct digest_session proxy_auth;

	struct tx tx;
	struct aux_op *aux_head, *aux_tail;
	size_t n_aux;

	/* RFC 3608: the Service-Route of the last 2xx to a REGISTER, the
	 * route the edge's calls preload (binding_get_route()). */
	char *service_route[BINDING_SERVICE_ROUTE_MAX];
	size_t n_service_route;

	enum binding_error last_error;
	int last_code;
	char last_reason[SIPMSG_REASON_MAX + 1];

	unsigned busy;                  /* inside an entry point */
	bool dying;                     /* binding_free() called meanwhile */
};

static unsigned next_binding_id;

static void dispatch(struct binding *b);
static void arm_registered(struct binding *b);
static void release_transport(struct binding *b);
static void binding_destroy(struct binding *b);
static void clear_service_route(struct binding *b);
static void keep_service_route(struct binding *b, const osip_message_t *resp);

/* ---- small helpers ----------------------------------------------------- */

static void hold(struct binding *b)
{
	b->busy++;
}

static void unhold(struct binding *b)
{
	if (--b->busy == 0 && b->dying)
		binding_destroy(b);
}

static uint64_t now_ms(struct binding *b)
{
	return b->ops->now_ms(b->port);
}

static uint32_t random32(struct binding *b)
{
	uint32_t v = 0;

	b->ops->random(b->port, &v, sizeof(v));
	return v;
}

static void random_hex(struct binding *b, char *buf, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[32];

	if (nbytes > sizeof(rnd))
		nbytes = sizeof(rnd);
	b->ops->random(b->port, rnd, nbytes);
	for (size_t i = 0; i < nbytes; i++) {
		buf[2 * i] = hex[rnd[i] >> 4];
		buf[2 * i + 1] = hex[rnd[i] & 0x0f];
	}
	buf[2 * nbytes] = '\0';
}

static const char *iap_name(const struct binding *b)
{
	return b->has_iap ? b->ifname : "-";
}

static int parse_local(const char *addr, struct sockaddr_storage *ret)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ret;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ret;

	memset(ret, 0, sizeof(*ret));
	if (!addr)
		return -EINVAL;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return 0;
	}
	memset(ret, 0, sizeof(*ret));
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

static bool sockaddr_equal(const struct sockaddr_storage *a,
			   const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
			      &((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

static uint16_t port_of(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port :
	       a->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port : 0;
}

static int set_str(char **dst, const char *src)
{
	char *s = NULL;

	if (src && !(s = strdup(src)))
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static void set_last_error(struct binding *b, const struct cause *c)
{
	b->last_error = c->error;
	b->last_code = c->code;
	util_strlcpy(b->last_reason, c->reason ? c->reason : "",
		     sizeof(b->last_reason));
}

/* "401 Unauthorized", "timeout", ... for logs. */
static void format_cause(char *buf, size_t size, const struct cause *c)
{
	if (c->code > 0)
		snprintf(buf, size, "%s: %d %s", binding_error_to_str(c->error),
			 c->code, c->reason);
	else
		snprintf(buf, size, "%s: %s", binding_error_to_str(c->error),
			 c->reason);
}

static enum binding_error classify(int code)
{
	if (code == 401 || code == 407)
		return BINDING_ERROR_AUTH;
	if (code == 403)
		return BINDING_ERROR_FORBIDDEN;
	if (code == 404)
		return BINDING_ERROR_NOT_FOUND;
	if (code == 408 || code == 480 || (code >= 500 && code < 600))
		return BINDING_ERROR_SERVER;
	if (code >= 300 && code < 400)
		return BINDING_ERROR_REDIRECT;
	return BINDING_ERROR_REJECTED;
}

/* A request that got no response.  Only a closed port is the server's
 * (docs/sip.md, "ICMP errors"): the registrar's host answered that
 * nothing listens, so the network carried the request (as for a 503
 * without Retry-After); and so is a TLS server whose certificate or
 * handshake we refuse (docs/sip.md, "TLS"): @why names the cause.  The
 * rest is transport evidence against the IAP. */
static struct cause failure_cause(int error, char *buf, size_t size);

static struct cause failure_cause_why(int error, const char *why, char *buf, size_t size)
{
	if ((error == SIP_TLS_EVERIFY || error == SIP_TLS_EHANDSHAKE ||
	     error == SIP_TLS_ECONFIG) && why && *why) {
		snprintf(buf, size, "%s", why);
		return (struct cause){ BINDING_ERROR_TLS, error, buf };
	}
	return failure_cause(error, buf, size);
}

static struct cause failure_cause(int error, char *buf, size_t size)
{
	/* RFC 3261 §8.1.3.1: a transaction timeout is taken as a 408. */
	if (error == -ETIMEDOUT)
		return (struct cause){ BINDING_ERROR_TIMEOUT, 408,
				       "Request Timeout (no response)" };
	/* ICMP port unreachable from the registrar's address (UDP), a
	 * connection refused (TCP) */
	if (error == -ECONNREFUSED)
		return (struct cause){ BINDING_ERROR_SERVER, error,
				       "Connection refused (nothing listens at the registrar's port)" };
	snprintf(buf, size, "%s", strerror(error < 0 ? -error : error));
	return (struct cause){ BINDING_ERROR_TRANSPORT, error, buf };
}

/* ---- the contact list (its owner's; see the file comment) ------------- */

/* The CSeq moved (contact NULL), or the registrar may hold contact for
 * expires seconds now, or no more (0). */
static void list_update(struct binding *b, const char *contact,
			const char *ifname, unsigned expires)
{
	struct binding_persist p = {
		.call_id = b->call_id,
		.cseq = b->cseq,
		.contact = contact,
		.ifname = ifname,
		.expires = expires,
	};

	if (b->list)
		b->list->update(b->list_data, &p);
}

static const char *list_next(struct binding *b, size_t *cursor,
			     const char **ret_ifname)
{
	return b->list ? b->list->next(b->list_data, cursor, ret_ifname) : NULL;
}

/* URIs compared as contacts (a 2xx's Contacts, or one), parsed once. */
struct uris {
	osip_uri_t *v[SIPMSG_CONTACTS_MAX];
	size_t n;
};

static void uris_add(struct uris *l, const char *uri)
{
	osip_uri_t *u = NULL;

	if (l->n < SIPMSG_CONTACTS_MAX && osip_uri_init(&u) == 0 &&
	    osip_uri_parse(u, uri) == 0)
		l->v[l->n++] = u;
	else
		osip_uri_free(u);
}

static bool uris_have(const struct uris *l, const char *uri)
{
	osip_uri_t *k = NULL;
	bool found = false;

	if (l->n > 0 && osip_uri_init(&k) == 0 && osip_uri_parse(k, uri) == 0)
		for (size_t j = 0; j < l->n && !found; j++)
			found = sipmsg_uri_same_contact(k, l->v[j]);
	osip_uri_free(k);
	return found;
}

static void uris_free(struct uris *l)
{
	for (size_t j = 0; j < l->n; j++)
		osip_uri_free(l->v[j]);
}

/* The registrar holds none of the list's contacts that are among l
 * (among = true) or that are not (false).  Collected first and told
 * after the walk: an update may change the list under the cursor. */
static void list_drop(struct binding *b, const struct uris *l, bool among)
{
	struct { char *uri; char ifname[IFNAMSIZ]; } *v = NULL;
	const char *uri, *ifname;
	size_t cursor = 0, n = 0, max = 0;

	while (list_next(b, &cursor, &ifname))
		max++;
	if (max == 0 || !(v = calloc(max, sizeof(*v))))
		return;
	for (cursor = 0; n < max && (uri = list_next(b, &cursor, &ifname));)
		if (uris_have(l, uri) == among && (v[n].uri = strdup(uri)))
			util_strlcpy(v[n++].ifname, ifname, sizeof(v->ifname));
	for (size_t i = 0; i < n; i++) {
		if (b->contact && strcmp(v[i].uri, b->contact) == 0)
			b->confirmed = false;
		log_debug("binding %u (%s): contact %s is gone", b->id,
			  b->name, v[i].uri);
		list_update(b, v[i].uri, v[i].ifname, 0);
		free(v[i].uri);
	}
	free(v);
}

/* The registrar does not hold uri (its removal was answered 2xx). */
static void drop_contact(struct binding *b, const char *uri)
{
	struct uris one = { .n = 0 };

	uris_add(&one, uri);
	if (one.n > 0)
		list_drop(b, &one, true);
	uris_free(&one);
}

/* A REGISTER for our contact failed with a final response: the registrar
 * changed nothing (RFC 3261 §10.3), so a contact it never confirmed is
 * not there. */
static void drop_unconfirmed(struct binding *b)
{
	if (b->contact && !b->confirmed)
		drop_contact(b, b->contact);
}

/* A 2xx listed the AOR's bindings (RFC 3261 §10.3 step 8): the list's
 * contacts it does not name are gone; ours, named, is confirmed.  (The
 * times it lists are not kept: the list has what was granted, and the
 * removal of one that expired meanwhile costs the registrar nothing.) */
static void reconcile(struct binding *b, const struct sipmsg_response *pr)
{
	struct uris listed = { .n = 0 };

	if (pr->contacts_truncated)
		return;
	for (size_t j = 0; j < pr->n_contacts; j++)
		uris_add(&listed, pr->contacts[j].uri);
	if (b->contact && uris_have(&listed, b->contact))
		b->confirmed = true;
	list_drop(b, &listed, false);
	uris_free(&listed);
}

/* ---- where requests go ------------------------------------------------- */

/* The Request-URI changed (start, redirect, back from a redirect):
 * recompute what to resolve.  IP literals need no lookup. */
static int target_changed(struct binding *b)
{
	const char *uri = b->proxy ? b->proxy : b->target;
	int r;

	r = sipmsg_target_parse(uri, &b->dest_target);
	if (r < 0)
		return r;
	b->have4 = b->have6 = false;
	b->resolved = false;
	b->n_dests = 0;
	if (b->resolving) {
		b->ops->resolve_cancel(b->port);
		b->resolving = false;
	}
	if (b->dest_target.literal_family != AF_UNSPEC) {
		struct sockaddr_storage ss;

		parse_local(b->dest_target.host, &ss);
		if (ss.ss_family == AF_INET) {
			((struct sockaddr_in *)&ss)->sin_port =
				htons(b->dest_target.port);
			b->dest4 = ss;
			b->have4 = true;
		} else {
			((struct sockaddr_in6 *)&ss)->sin6_port =
				htons(b->dest_target.port);
			b->dest6 = ss;
			b->have6 = true;
		}
		b->resolved = true;
	}
	return 0;
}

static bool have_dest(const struct binding *b, int family,
		      struct sockaddr_storage *ret)
{
	if (family == AF_INET && b->have4) {
		if (ret)
			*ret = b->dest4;
		return true;
	}
	if (family == AF_INET6 && b->have6) {
		if (ret)
			*ret = b->dest6;
		return true;
	}
	return false;
}

/* Nothing listens at the current address of the IAP's family: on to the
 * next address of the name with that family (RFC 3263 §4.3: try the
 * addresses in turn; without SRV, those of the A/AAAA answer).  False
 * when it was the last. */
static bool next_dest(struct binding *b)
{
	int family = b->local.ss_family;
	struct sockaddr_storage *cur = family == AF_INET ? &b->dest4 : &b->dest6;
	bool past = false;

	for (size_t i = 0; i < b->n_dests; i++) {
		if (b->dests[i].ss_family != family)
			continue;
		if (past) {
			*cur = b->dests[i];
			return true;
		}
		past = sockaddr_equal(&b->dests[i], cur) && port_of(&b->dests[i]) == port_of(cur);
	}
	return false;
}

/* Nothing more to try of the current proxy: on to the next server the
 * network named (RFC 3361 §3.1: in the order listed), in this attempt.
 * False when it was the last (or there is no list). */
static bool next_proxy(struct binding *b, const char *why)
{
	bool udp = b->dest_target.proto == SIP_PROTO_UDP;

	if (b->i_proxy + 1 >= b->n_proxies)
		return false;
	if (set_str(&b->proxy, b->proxies[b->i_proxy + 1]) < 0)
		return false;
	b->i_proxy++;
	log_info("binding %u (%s via %s): %s; trying the next proxy the network named, %s",
		 b->id, b->name, iap_name(b), why, b->proxy);
	if (target_changed(b) < 0)
		return false;
	digest_session_reset(&b->proxy_auth);
	/* UDP: the IAP's one socket (the contact's port) serves any peer;
	 * a connection is per peer. */
	if (!udp || b->dest_target.proto != SIP_PROTO_UDP)
		release_transport(b);
	return true;
}

/* A new attempt after a failed one starts again from the first proxy of
 * the list. */
static void first_proxy(struct binding *b)
{
	if (b->i_proxy == 0 || b->n_proxies == 0 || set_str(&b->proxy, b->proxies[0]) < 0)
		return;
	b->i_proxy = 0;
	target_changed(b);
	digest_session_reset(&b->proxy_auth);
}

static bool has_next_proxy(const struct binding *b)
{
	return b->i_proxy + 1 < b->n_proxies;
}

static void start_resolve(struct binding *b)
{
	int r;

	if (b->resolving || b->resolved)
		return;
	r = b->ops->resolve(b->port, b->dest_target.host,
			    b->dest_target.port_given ? BINDING_LOOKUP_ADDRESS :
			    b->dest_target.proto_given ? BINDING_LOOKUP_SRV : BINDING_LOOKUP_NAPTR,
			    b->dest_target.proto);
	if (r < 0) {
		/* Taken as an empty answer: whoever waits fails. */
		log_warning("binding %u (%s): cannot resolve %s: %s", b->id,
			    b->name, b->dest_target.host, strerror(-r));
		b->resolved = true;
		return;
	}
	b->resolving = true;
}

static void redirects_clear(struct binding *b)
{
	for (size_t i = 0; i < b->n_redirects; i++)
		free(b->redirects[i]);
	for (size_t i = 0; i < b->n_tried; i++)
		free(b->tried[i]);
	b->n_redirects = b->n_tried = 0;
}

static void release_transport(struct binding *b)
{
	if (b->tp) {
		b->ops->transport_put(b->port, b->tp);
		b->tp = NULL;
	}
	b->flow_tp = NULL;
	b->flow_outbound = false;
}

/* ---- the state machine ------------------------------------------------- */

static uint64_t refresh_delay_ms(struct binding *b, unsigned granted)
{
	uint64_t g = (uint64_t)granted * 1000u, lo, hi, t;

	if (g <= REFRESH_MARGIN_MS)
		return g / 2;
	lo = g * 8 / 10;
	hi = g * 9 / 10;
	t = lo + random32(b) % (hi - lo + 1);
	if (t > g - REFRESH_MARGIN_MS)
		t = g - REFRESH_MARGIN_MS;
	return t;
}

/* Exponential, with jitter in [d/2, d]: 1-2 s, 2-4 s, 4-8 s, ... up to
 * 30 min; never earlier than a Retry-After (RFC 3261 §20.33), which is
 * bounded by the same 30 min. */
static uint64_t backoff_delay_ms(struct binding *b)
{
	unsigned n = b->backoff_n < 20 ? b->backoff_n : 20;
	uint64_t d = (uint64_t)BACKOFF_BASE_MS << n, delay;

	if (d > BACKOFF_CAP_MS)
		d = BACKOFF_CAP_MS;
	delay = d / 2 + random32(b) % (d / 2 + 1);
	if (b->retry_after > 0) {
		uint64_t ra = (uint64_t)((unsigned)b->retry_after <
					 RETRY_AFTER_MAX ? (unsigned)b->retry_after :
					 RETRY_AFTER_MAX) * 1000u;

		if (ra > delay)
			delay = ra;
	}
	return delay;
}

static void notify(struct binding *b, const struct binding_event *ev)
{
	hold(b);
	WATCHLIST_NOTIFY(&b->observers, binding_observer_fn, b, ev);
	unhold(b);
}

/* Give up a place in the pacer's line (stopped, moved, gone). */
static void pace_leave(struct binding *b)
{
	if (b->pace_waiting && b->ops->pace_cancel)
		b->ops->pace_cancel(b->port);
	b->pace_waiting = false;
}

/* Must the attempt's first REGISTER wait for its turn?  Asked once per
 * attempt (begin_attempt() resets it): the answer to a challenge, a 423
 * retry or a redirect belongs to the attempt and goes at once. */
static bool pace_wait(struct binding *b)
{
	if (b->main_want != MAIN_REGISTER || b->paced)
		return false;
	if (b->pace_waiting)
		return true;
	if (b->ops->pace_request && b->ops->pace_request(b->port) > 0) {
		b->pace_waiting = true;
		log_debug("binding %u (%s via %s): REGISTER waits for its turn",
			  b->id, b->name, iap_name(b));
		return true;
	}
	b->paced = true;
	return false;
}

static void binding_enter_state(struct binding *b, enum binding_state state,
				const struct cause *cause)
{
	enum binding_state old = b->state;
	struct binding_event ev = {
		.type = BINDING_EVENT_STATE,
		.old_state = old,
		.new_state = state,
		.error = cause->error,
		.code = cause->code,
		.reason = cause->reason ? cause->reason : "",
		.ifname = b->has_iap ? b->ifname : NULL,
	};
	char detail[SIPMSG_HOST_MAX + SIPMSG_REASON_MAX + 96] = "";
	char why[SIPMSG_REASON_MAX + 48];

	b->state = state;
	if (cause->error != BINDING_ERROR_NONE)
		set_last_error(b, cause);
	if (state != BINDING_REGISTERING && state != BINDING_RESOLVING)
		pace_leave(b);

	switch (state) {
	case BINDING_IDLE:
		b->ops->timer_stop(b->port);
		if (b->resolving)
			b->ops->resolve_cancel(b->port);
		b->resolving = false;
		b->main_want = MAIN_NONE;
		b->granted = 0;
		release_transport(b);
		if (cause->error != BINDING_ERROR_NONE) {
			format_cause(why, sizeof(why), cause);
			snprintf(detail, sizeof(detail), " (%s)", why);
		}
		break;
	case BINDING_RESOLVING:
		b->ops->timer_stop(b->port);
		b->main_want = MAIN_REGISTER;
		start_resolve(b);
		snprintf(detail, sizeof(detail), " (%s)", b->dest_target.host);
		break;
	case BINDING_REGISTERING:
		b->ops->timer_stop(b->port);
		b->main_want = MAIN_REGISTER;
		break;
	case BINDING_REGISTERED:
		b->main_want = MAIN_NONE;
		b->backoff_n = 0;
		b->refresh_at = b->registered_at + refresh_delay_ms(b, b->granted);
		b->check_at = b->check_ms && b->dest_target.proto == SIP_PROTO_UDP ?
			      now_ms(b) + b->check_ms : 0;
		arm_registered(b);
		ev.contact = b->contact;
		ev.expires = b->granted;
		snprintf(detail, sizeof(detail), " (expires %u)", b->granted);
		break;
	case BINDING_UNREGISTERING:
		b->ops->timer_stop(b->port);
		b->main_want = MAIN_UNREGISTER;
		break;
	case BINDING_BACKOFF:
		b->main_want = MAIN_NONE;
		b->granted = 0;
		release_transport(b);
		first_proxy(b);
		b->backoff_ms = backoff_delay_ms(b);
		b->backoff_n++;
		b->ops->timer_start(b->port, now_ms(b) + b->backoff_ms);
		ev.retry_ms = b->backoff_ms;
		format_cause(why, sizeof(why), cause);
		snprintf(detail, sizeof(detail), " (retry in %.1f s; %s)",
			 (double)b->backoff_ms / 1000.0, why);
		break;
	case _BINDING_STATE_MAX:
		break;
	}

	if (cause->error != BINDING_ERROR_NONE &&
	    binding_error_is_permanent(cause->error))
		log_call(LOG_WARNING, 0, b->call_id, "binding %u (%s via %s): %s -> %s%s",
			 b->id, b->name, iap_name(b), binding_state_to_str(old),
			 binding_state_to_str(state), detail);
	else
		log_call(LOG_INFO, 0, b->call_id, "binding %u (%s via %s): %s -> %s%s",
			 b->id, b->name, iap_name(b), binding_state_to_str(old),
			 binding_state_to_str(state), detail);
	notify(b, &ev);
}

/* Begin registering (again): a refresh, a retry, a move, a start. */
static void begin_attempt(struct binding *b)
{
	pace_leave(b);
	b->paced = false;
	b->auth = (struct auth_round){ 0 };
	b->n_423 = 0;
	b->retry_after = -1;
	if (!have_dest(b, b->local.ss_family, NULL) && !b->resolved) {
		if (b->state != BINDING_RESOLVING)
			binding_enter_state(b, BINDING_RESOLVING, &no_cause);
		else
			start_resolve(b);
		return;
	}
	if (b->state == BINDING_REGISTERING)
		b->main_want = MAIN_REGISTER;   /* e.g. a redirect: no edge */
	else
		binding_enter_state(b, BINDING_REGISTERING, &no_cause);
}

/* REGISTERED: the one timer for the refresh or the check before it. */
static void arm_registered(struct binding *b)
{
	uint64_t at = b->refresh_at;

	if (b->check_at && b->check_at < at)
		at = b->check_at;
	b->ops->timer_start(b->port, at);
}

static int queue_check(struct binding *b);
static int queue_aux_op(struct binding *b, enum op_kind kind, const char *contact,
			const char *ifname, const char *local_addr, bool check, bool plain);

/* The check is due: ask the registrar over the binding's own IAP, then
 * again check_ms later (a check that finds nothing wrong costs one
 * REGISTER without Contact and its answer, two with a challenge). */
static void start_check(struct binding *b)
{
	int r = queue_check(b);

	if (r < 0)
		log_debug("binding %u (%s via %s): cannot check the registration: %s",
			  b->id, b->name, iap_name(b), strerror(-r));
	b->check_at = now_ms(b) + b->check_ms;
	arm_registered(b);
}

/* The answer to a check (@pr NULL: none came, or an error: the refresh
 * and the transport say what the network does; nothing is concluded). */
static void check_done(struct binding *b, const struct sipmsg_response *pr,
		       const struct cause *c)
{
	if (!pr && c && c->code == -ECONNREFUSED && b->state == BINDING_REGISTERED) {
		/* Nothing listens where the registrar was (ICMP port
		 * unreachable from its own address): it is gone, not the
		 * network.  Registering again tries it, then the next target
		 * of the name (RFC 3263 §4.3). */
		log_notice("binding %u (%s via %s): nothing listens at the registrar's port any "
			   "more; registering again", b->id, b->name, iap_name(b));
		begin_attempt(b);
		return;
	}
	/* sipmsg_parse_response() found ours among the listed (our_expires
	 * >= 0) as it does for a REGISTER's 2xx. */
	if (!pr || b->state != BINDING_REGISTERED || pr->contacts_truncated || !b->contact ||
	    pr->our_expires >= 0)
		return;
	log_notice("binding %u (%s via %s): the registrar no longer lists %s (restarted?); "
		   "registering again", b->id, b->name, iap_name(b), b->contact);
	begin_attempt(b);
}

static void fail_main(struct binding *b, const struct cause *c)
{
	switch (b->state) {
	case BINDING_REGISTERING:
	case BINDING_RESOLVING:
		if (binding_error_is_permanent(c->error))
			binding_enter_state(b, BINDING_IDLE, c);
		else
			binding_enter_state(b, BINDING_BACKOFF, c);
		break;
	case BINDING_UNREGISTERING:
		/* Whatever is left stays in the list for later. */
		binding_enter_state(b, BINDING_IDLE, c);
		break;
	case BINDING_IDLE:
	case BINDING_REGISTERED:
	case BINDING_BACKOFF:
		b->main_want = MAIN_NONE;
		break;
	case _BINDING_STATE_MAX:
		break;
	}
}

/* ---- building and sending ---------------------------------------------- */

static int add_credentials(struct binding *b, osip_message_t *req)
{
	struct digest_session *sessions[2] = { &b->www, &b->proxy_auth };
	static const char *const headers[2] = { "Authorization",
						"Proxy-Authorization" };
	struct digest_input in = { .method = "REGISTER" };
	char *uri = NULL, value[AUTH_VALUE_MAX];
	int r = 0;

	if (!b->password && !b->has_ha1)
		return 0;
	if (!b->www.has_challenge && !b->proxy_auth.has_challenge)
		return 0;
	r = sipmsg_request_uri(req, &uri);
	if (r < 0)
		return r;
	in.uri = uri;
	in.username = b->username;
	in.password = b->password;
	in.ha1 = b->has_ha1 ? &b->ha1 : NULL;
	for (int i = 0; i < 2 && r == 0; i++) {
		if (!sessions[i]->has_challenge)
			continue;
		r = digest_session_authorize(sessions[i], &in, value,
					     sizeof(value));
		if (r == -EOVERFLOW) {
			/* nc exhausted: go without, a new nonce follows */
			digest_session_reset(sessions[i]);
			r = 0;
			continue;
		}
		if (r == 0)
			r = sipmsg_add_header(req, headers[i], value);
	}
	free(uri);
	return r;
}

/* Build a REGISTER for the given contacts over transport tp (whose local
 * address is `local`), authorize it with what we hold, and send it. */
/* RFC 5626 §4.2: one flow per IAP, so a reg-id per interface (stable:
 * ... once the registrar said it does outbound (Supported or Require in a
 * 2xx): a registrar that does not, Kamailio 5.6 with outbound_mode 0 for
 * one, still keeps the contacts of one instance with different reg-ids
 * apart, and the flows would stay side by side until removed; without a
 * reg-id it replaces the contact of the same instance at once, as alrd
 * has relied on (docs/sip.md, "Outbound").  So: 
 * the same IAP re-registers the same flow; another one is another flow,
 * which a registrar that supports outbound keeps beside the first: true
 * make-before-break).  1..9999, from the name. */
static unsigned reg_id_of(const struct binding *b)
{
	uint32_t h = 2166136261u;

	if (!b->instance || !b->has_iap || !b->registrar_outbound)
		return 0;
	for (const char *p = b->ifname; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return 1 + h % 9999;
}

static int send_register(struct binding *b, struct sip_transport *tp,
			 const struct sockaddr_storage *local,
			 const struct sockaddr_storage *dest,
			 const struct sipmsg_contact *contacts, size_t n,
			 int expires, bool plain, uint64_t *ret_id)
{
	char via_host[INET6_ADDRSTRLEN], branch[7 + 32 + 1];
	uint16_t via_port = 0;
	osip_message_t *req = NULL;
	struct sipmsg_register rq;
	int r;

	r = sipmsg_sockaddr_host((const struct sockaddr *)local, via_host,
				 sizeof(via_host), &via_port);
	if (r < 0)
		return r;
	/* RFC 3261 §8.1.1.7: the magic cookie, then 128 random bits. */
	memcpy(branch, "z9hG4bK", 7);
	random_hex(b, branch + 7, 16);
	if (b->cseq >= INT32_MAX)
		return -EOVERFLOW;      /* RFC 3261 §8.1.1.5: < 2**31 */
	rq = (struct sipmsg_register){
		.request_uri = b->target,
		.aor = b->aor,
		.from_tag = b->from_tag,
		.call_id = b->call_id,
		.cseq = b->cseq + 1,
		.proto = b->dest_target.proto,
		.via_host = via_host,
		.via_port = via_port,
		.branch = branch,
		.contacts = contacts,
		.n_contacts = n,
		.instance = b->instance,
		.reg_id = plain ? 0 : reg_id_of(b),
		.supported_outbound = b->instance != NULL,
		.contact_params = (const char *const *)b->contact_params,
		.n_contact_params = b->n_contact_params,
		.expires = expires,
		.route = b->proxy,
		.extra = b->extra,
		.n_extra = b->n_extra,
		.user_agent = b->user_agent,
	};
	r = sipmsg_build_register(&rq, &req);
	if (r < 0)
		return r;
	r = add_credentials(b, req);
	if (r < 0) {
		osip_message_free(req);
		return r;
	}
	/* The CSeq is spent whether or not the send works. */
	b->cseq++;
	list_update(b, NULL, NULL, 0);
	return b->ops->send(b->port, tp, (const struct sockaddr *)dest, req,
			    ret_id);
}

static void send_main(struct binding *b)
{
	struct sipmsg_contact *contacts = NULL;
	struct sockaddr_storage dest;
	char contact[SIPMSG_URI_MAX + 1], errbuf[64];
	const char *uri, *ifname;
	size_t n = 0, max = 1, cursor = 0;
	uint64_t id = 0;
	int expires, r;

	have_dest(b, b->local.ss_family, &dest);
	if (!b->tp) {
		r = b->ops->transport_get(b->port, b->ifname,
					  (const struct sockaddr *)&b->local,
					  b->dest_target.proto,
					  (const struct sockaddr *)&dest,
					  b->dest_target.host, b->ca_file,
					  &b->tp, &b->tp_local);
		if (r < 0) {
			struct cause c = failure_cause(r, errbuf, sizeof(errbuf));

			b->tp = NULL;
			fail_main(b, &c);
			return;
		}
	}

	/* The list's URIs go into the request as they are: they hold until
	 * send_register() tells the list the new CSeq, after building it. */
	while (list_next(b, &cursor, &ifname))
		max++;
	contacts = calloc(max, sizeof(*contacts));
	if (!contacts)
		goto internal;
	cursor = 0;
	if (b->main_want == MAIN_REGISTER) {
		r = sipmsg_contact_uri(b->contact_user,
				       (const struct sockaddr *)&b->tp_local,
				       b->dest_target.proto, contact,
				       sizeof(contact));
		if (r < 0)
			goto internal;
		if (!b->contact || strcmp(b->contact, contact) != 0) {
			if (set_str(&b->contact, contact) < 0)
				goto internal;
			b->confirmed = false;
		}
		/* Our older contacts over this same IAP (an earlier socket
		 * or connection) are stale for sure: removed in the same
		 * request, without the instance (Kamailio would match the
		 * instance and remove the new one). */
		while (n + 1 < max && (uri = list_next(b, &cursor, &ifname)))
			if (strcmp(ifname, b->ifname) == 0 &&
			    strcmp(uri, b->contact) != 0)
				contacts[n++] = (struct sipmsg_contact){
					uri, 0, false };
		contacts[n++] = (struct sipmsg_contact){
			b->contact, (int)b->expires_req, true };
		expires = (int)b->expires_req;
	} else {
		while (n < max && (uri = list_next(b, &cursor, &ifname)))
			contacts[n++] = (struct sipmsg_contact){ uri, 0, false };
		if (n == 0) {
			/* Nothing of ours is left at the registrar. */
			free(contacts);
			binding_enter_state(b, BINDING_IDLE, &no_cause);
			return;
		}
		expires = 0;
	}

	r = send_register(b, b->tp, &b->tp_local, &dest, contacts, n,
			  expires, false, &id);
	free(contacts);
	contacts = NULL;
	if (r < 0) {
		struct cause c = failure_cause(r, errbuf, sizeof(errbuf));

		if (r == -EINVAL || r == -ENOMEM || r == -EOVERFLOW)
			goto internal;
		fail_main(b, &c);
		return;
	}
	b->tx = (struct tx){
		.active = true,
		.id = id,
		.kind = b->main_want == MAIN_REGISTER ? OP_REGISTER :
							OP_UNREGISTER,
		.sent_at = now_ms(b),
	};
	util_strlcpy(b->tx.ifname, b->ifname, sizeof(b->tx.ifname));
	/* In the list from now on: a lost response may still have
	 * registered it. */
	if (b->main_want == MAIN_REGISTER)
		list_update(b, b->contact, b->ifname, b->expires_req);
	log_debug("binding %u (%s via %s): REGISTER CSeq %u sent (%s)",
		  b->id, b->name, b->ifname, b->cseq,
		  b->main_want == MAIN_REGISTER ? "register" : "unregister");
	return;
internal:
	free(contacts);
	{
		struct cause c = { BINDING_ERROR_INTERNAL, -ENOMEM,
				   "cannot build the request" };

		fail_main(b, &c);
	}
}

static void aux_free(struct aux_op *op)
{
	if (!op)
		return;
	free(op->contact);
	free(op);
}

static void aux_report(struct binding *b, struct aux_op *op,
		       const struct cause *c, const struct sipmsg_response *pr)
{
	struct binding_event ev = {
		.type = op->kind == OP_REMOVE ? BINDING_EVENT_CONTACT_REMOVED :
						BINDING_EVENT_QUERY,
		.old_state = b->state,
		.new_state = b->state,
		.error = c->error,
		.code = c->code,
		.reason = c->reason ? c->reason : "",
		.contact = op->contact,
		.ifname = op->ifname,
		.contacts = pr ? pr->contacts : NULL,
		.n_contacts = pr ? pr->n_contacts : 0,
	};
	char why[SIPMSG_REASON_MAX + 48];

	if (op->check) {
		if (c->error != BINDING_ERROR_NONE) {
			format_cause(why, sizeof(why), c);
			log_debug("binding %u (%s via %s): check not answered (%s)", b->id,
				  b->name, op->ifname, why);
		}
		check_done(b, c->error == BINDING_ERROR_NONE ? pr : NULL, c);
		return;
	}
	if (op->plain) {
		format_cause(why, sizeof(why), c);
		if (c->error == BINDING_ERROR_NONE)
			log_info("binding %u (%s via %s): its contact without a reg-id removed; "
				 "the one with it stays", b->id, b->name, op->ifname);
		else
			log_warning("binding %u (%s via %s): removing its contact without a "
				    "reg-id failed (%s); it expires by itself", b->id, b->name,
				    op->ifname, why);
		return;
	}
	if (c->error == BINDING_ERROR_NONE) {
		if (op->kind == OP_REMOVE)
			log_info("binding %u (%s via %s): contact %s removed",
				 b->id, b->name, op->ifname, op->contact);
		else
			log_info("binding %u (%s via %s): %zu binding(s) at "
				 "the registrar", b->id, b->name, op->ifname,
				 ev.n_contacts);
	} else if (op->kind == OP_REMOVE) {
		format_cause(why, sizeof(why), c);
		log_warning("binding %u (%s via %s): removing a contact failed (%s)",
			    b->id, b->name, op->ifname, why);
	} else {
		/* Who asked (the roaming engine's probe) says what it makes
		 * of it. */
		format_cause(why, sizeof(why), c);
		log_debug("binding %u (%s via %s): query failed (%s)", b->id, b->name,
			  op->ifname, why);
	}
	notify(b, &ev);
}

static void aux_fail(struct binding *b, struct aux_op *op,
		     const struct cause *c)
{
	aux_report(b, op, c, NULL);
	aux_free(op);
}

static void send_aux(struct binding *b, struct aux_op *op)
{
	struct sockaddr_storage dest, local;
	struct sip_transport *tp = NULL;
	struct sipmsg_contact contact;
	char errbuf[64];
	uint64_t id = 0;
	int r;

	have_dest(b, op->local.ss_family, &dest);
	r = b->ops->transport_get(b->port, op->ifname,
				  (const struct sockaddr *)&op->local,
				  b->dest_target.proto,
				  (const struct sockaddr *)&dest, b->dest_target.host,
				  b->ca_file, &tp, &local);
	if (r < 0) {
		struct cause c = failure_cause(r, errbuf, sizeof(errbuf));

		aux_fail(b, op, &c);
		return;
	}
	contact = (struct sipmsg_contact){ op->contact, 0, op->plain };
	r = send_register(b, tp, &local, &dest, &contact,
			  op->kind == OP_REMOVE ? 1 : 0, -1, op->plain, &id);
	if (r < 0) {
		struct cause c = failure_cause(r, errbuf, sizeof(errbuf));

		b->ops->transport_put(b->port, tp);
		aux_fail(b, op, &c);
		return;
	}
	b->tx = (struct tx){
		.active = true,
		.id = id,
		.kind = op->kind,
		.aux = op,
		.tp = tp,
		.sent_at = now_ms(b),
	};
	util_strlcpy(b->tx.ifname, op->ifname, sizeof(b->tx.ifname));
}

/* A query in flight over another IAP gives way to the binding's own
 * request: one over an IAP that does not answer (the roaming engine's
 * probe, alr/roam.c) would hold the one slot until its Timer F (32 s), and
 * a refresh or a deregistration must not wait that long.  Its event says
 * it was cancelled.  (A query over the binding's own IAP is as quick as
 * the REGISTER would be: that one is waited for.) */
static void yield_query(struct binding *b)
{
	static const struct cause c = { BINDING_ERROR_INTERNAL, -ECANCELED,
					"cancelled: the registration goes first" };
	struct tx tx = b->tx;

	b->ops->cancel(b->port, tx.id);
	b->tx.active = false;
	b->ops->transport_put(b->port, tx.tp);
	aux_fail(b, tx.aux, &c);
}

static void dispatch(struct binding *b)
{
	if (b->dying)
		return;
	if (b->tx.active && b->tx.kind == OP_QUERY && b->main_want != MAIN_NONE &&
	    b->has_iap && strcmp(b->tx.ifname, b->ifname) != 0 &&
	    !b->pace_waiting && have_dest(b, b->local.ss_family, NULL))
		yield_query(b);
	while (!b->tx.active && !b->dying) {
		/* A REGISTER waiting for its turn lets side requests go. */
		if (b->main_want != MAIN_NONE &&
		    !(have_dest(b, b->local.ss_family, NULL) && pace_wait(b))) {
			if (have_dest(b, b->local.ss_family, NULL)) {
				send_main(b);
				continue;
			}
			if (!b->resolved) {
				start_resolve(b);
				if (!b->resolved)
					return;         /* waiting */
			}
			{
				struct cause c = { BINDING_ERROR_RESOLVE, 0,
						   "no address of the IAP's family" };

				fail_main(b, &c);
			}
			continue;
		}
		if (b->aux_head) {
			struct aux_op *op = b->aux_head;

			if (!have_dest(b, op->local.ss_family, NULL)) {
				if (!b->resolved) {
					start_resolve(b);
					if (!b->resolved)
						return;
				}
				b->aux_head = op->next;
				if (!b->aux_head)
					b->aux_tail = NULL;
				b->n_aux--;
				{
					struct cause c = { BINDING_ERROR_RESOLVE, 0,
							   "no address of the IAP's family" };

					aux_fail(b, op, &c);
				}
				continue;
			}
			b->aux_head = op->next;
			if (!b->aux_head)
				b->aux_tail = NULL;
			b->n_aux--;
			op->next = NULL;
			send_aux(b, op);
			continue;
		}
		return;
	}
}

/* ---- responses --------------------------------------------------------- */

/* A 401 or 407: keep the challenge and say whether to send again (1), or
 * why not (< 0, *ret_cause filled).  RFC 7616 §3.3 stale=true: the
 * credentials were right but the nonce old; we retry once more. */
static int on_challenge(struct binding *b, const osip_message_t *resp,
			struct auth_round *round, const struct sipmsg_response *pr,
			struct cause *ret_cause, char *buf, size_t size)
{
	bool proxy = pr->code == 407;
	struct digest_session *s = proxy ? &b->proxy_auth : &b->www;
	bool *fresh = proxy ? &round->proxy_fresh : &round->www_fresh;
	struct digest_challenge c;
	char *value = NULL;
	int r;

	*ret_cause = (struct cause){ BINDING_ERROR_AUTH, pr->code, pr->reason };
	if (!b->password && !b->has_ha1) {
		snprintf(buf, size, "%d %s (no credentials configured)",
			 pr->code, pr->reason);
		ret_cause->reason = buf;
		return -EACCES;
	}
	r = sipmsg_best_challenge(resp, proxy, &value);
	if (r < 0 || digest_challenge_parse(value, strlen(value), &c) < 0) {
		free(value);
		snprintf(buf, size, "%s (no challenge we can answer)",
			 pr->reason);
		ret_cause->reason = buf;
		return -ENOTSUP;
	}
	if (b->realm && strcmp(c.realm, b->realm) != 0) {
		free(value);
		snprintf(buf, size, "%s (realm is not the configured one)",
			 pr->reason);
		ret_cause->reason = buf;
		return -EACCES;
	}
	if (*fresh && (!c.stale || round->stale_retried)) {
		/* RFC 3261 §22.2: the same credentials again would be
		 * refused again. */
		free(value);
		digest_session_reset(s);
		return -EACCES;
	}
	if (*fresh)
		round->stale_retried = true;
	if (++round->rounds > MAX_AUTH_ROUNDS) {
		free(value);
		return -ELOOP;
	}
	r = digest_session_update(s, value, strlen(value));
	free(value);
	if (r < 0)
		return r;
	*fresh = true;
	return 1;
}

static void on_redirect(struct binding *b, const struct sipmsg_response *pr)
{
	int order[SIPMSG_CONTACTS_MAX];
	size_t n = 0;

	if (b->n_tried < REDIRECT_MAX + 1 && b->target) {
		char *t = strdup(b->target);

		if (t)
			b->tried[b->n_tried++] = t;
	}
	/* RFC 3261 §8.1.3.4: in order of q, highest first; each once. */
	for (size_t i = 0; i < pr->n_contacts; i++)
		order[n++] = (int)i;
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 &&
		     pr->contacts[order[j]].q1000 > pr->contacts[order[j - 1]].q1000; j--) {
			int t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (size_t i = 0; i < n && b->n_redirects < REDIRECT_MAX; i++) {
		const char *uri = pr->contacts[order[i]].uri;
		struct sipmsg_target t;
		bool seen = false;
		char *copy;

		if (sipmsg_target_parse(uri, &t) < 0 || !sipmsg_uri_ok(uri))
			continue;
		for (size_t j = 0; j < b->n_tried && !seen; j++)
			seen = strcmp(b->tried[j], uri) == 0;
		for (size_t j = 0; j < b->n_redirects && !seen; j++)
			seen = strcmp(b->redirects[j], uri) == 0;
		if (seen || !(copy = strdup(uri)))
			continue;
		b->redirects[b->n_redirects++] = copy;
	}
	if (b->n_redirects == 0 || b->n_tried > REDIRECT_MAX) {
		struct cause c = { BINDING_ERROR_REDIRECT, pr->code,
				   pr->reason };

		binding_enter_state(b, BINDING_BACKOFF, &c);
		return;
	}
	free(b->target);
	b->target = b->redirects[0];
	memmove(&b->redirects[0], &b->redirects[1],
		--b->n_redirects * sizeof(b->redirects[0]));
	log_info("binding %u (%s via %s): %d redirects to %s", b->id,
		 b->name, iap_name(b), pr->code, b->target);
	release_transport(b);
	target_changed(b);
	/* RESOLVING for a name, else straight on. */
	if (!have_dest(b, b->local.ss_family, NULL) && !b->resolved)
		binding_enter_state(b, BINDING_RESOLVING, &no_cause);
	else
		b->main_want = MAIN_REGISTER;
}

/* RFC 5626 §4.4: the registrar uses this flow (Require: outbound); keep
 * it alive between 80 and 100 % of its Flow-Timer, over this flow only
 * (the standby IAPs have none): a stream by pings, UDP by STUN.  Without
 * a Flow-Timer a stream keeps [sip] keepalive's pace (sip/stack.h) and a
 * UDP flow takes §4.4.1's 95 to 120 s.  A 2xx without outbound over UDP
 * stops STUN: a registrar that does not do outbound need not answer it. */
static void flow_keepalive(struct binding *b, const struct sipmsg_response *pr)
{
	bool udp = b->dest_target.proto == SIP_PROTO_UDP;
	struct sockaddr_storage dest;
	uint64_t ms;

	if (!b->ops->flow_keepalive || !b->tp || !have_dest(b, b->local.ss_family, &dest))
		return;
	if (!pr->outbound || (pr->flow_timer <= 0 && !udp)) {
		if (udp)
			b->ops->flow_keepalive(b->port, b->tp, (const struct sockaddr *)&dest, 0);
		return;
	}
	if (pr->flow_timer > 0) {
		ms = (uint64_t)pr->flow_timer * 1000u;
		ms = ms * 8 / 10 + random32(b) % (ms / 5 + 1);
	} else {
		ms = 95000u + random32(b) % 25001u;
	}
	if (b->flow_tp != b->tp) {
		if (pr->flow_timer > 0)
			log_info("binding %u (%s via %s): the registrar uses this flow (outbound), "
				 "Flow-Timer %d s: a %s keepalive every %.1f s", b->id, b->name,
				 iap_name(b), pr->flow_timer, udp ? "STUN" : "CRLF",
				 (double)ms / 1000.);
		else
			log_info("binding %u (%s via %s): the registrar uses this flow (outbound), "
				 "no Flow-Timer: a STUN keepalive every %.1f s", b->id, b->name,
				 iap_name(b), (double)ms / 1000.);
	}
	b->flow_tp = b->tp;
	b->ops->flow_keepalive(b->port, b->tp, (const struct sockaddr *)&dest, (unsigned)ms);
}

static void on_registered(struct binding *b, const struct tx *tx,
			  const struct sipmsg_response *pr)
{
	int granted = pr->our_expires;
	char buf[SIPMSG_REASON_MAX + 64];
	bool upgrade = false;

	if (granted < 0) {
		/* RFC 3261 §10.2.4, §10.3 step 8: the 2xx lists the AOR's
		 * current bindings.  Ours not among them (or none listed at
		 * all) means the registration did not take, whatever the
		 * status line says: retry as after any failure. */
		struct cause c = { BINDING_ERROR_PROTOCOL, pr->code, buf };

		snprintf(buf, sizeof(buf), "%s %s", pr->reason,
			 pr->n_contacts > 0 || pr->contacts_truncated ?
			 "without our contact among the bindings it lists" :
			 "listing no bindings, so not ours");
		binding_enter_state(b, BINDING_BACKOFF, &c);
		return;
	}
	if (granted == INT_MAX)
		granted = (int)b->expires_req;
	if (granted == 0) {
		struct cause c = { BINDING_ERROR_PROTOCOL, pr->code, buf };

		snprintf(buf, sizeof(buf), "%s (expires=0 for our contact)",
			 pr->reason);
		binding_enter_state(b, BINDING_BACKOFF, &c);
		return;
	}
	reconcile(b, pr);
	if (pr->outbound_supported && !b->registrar_outbound) {
		log_info("binding %u (%s): the registrar does outbound (RFC 5626): "
			 "a reg-id per IAP from now on", b->id, b->name);
		b->registrar_outbound = true;
		/* What it granted went without a reg-id: a flow of its own
		 * beside the one a refresh with a reg-id makes (RFC 5626
		 * §6), two bindings of one contact (calls forked to it
		 * twice).  So: refresh with it now, then remove the one
		 * without (the instance alone matches it at Kamailio). */
		upgrade = b->instance && b->has_iap;
	}
	b->flow_outbound = pr->outbound;
	flow_keepalive(b, pr);
	b->granted = (unsigned)granted;
	b->registered_at = tx->sent_at;
	b->confirmed = true;
	if (b->granted != b->expires_req)       /* else as told when sent */
		list_update(b, b->contact, b->ifname, b->granted);
	b->auth = (struct auth_round){ 0 };
	b->n_423 = 0;
	b->retry_after = -1;
	redirects_clear(b);
	binding_enter_state(b, BINDING_REGISTERED, &no_cause);
	if (upgrade) {
		if (set_str(&b->plain_contact, b->contact) == 0) {
			b->refresh_at = now_ms(b);
			arm_registered(b);
		}
	} else if (b->plain_contact) {
		if (strcmp(b->plain_contact, b->contact) == 0 && reg_id_of(b) != 0 &&
		    queue_aux_op(b, OP_REMOVE, b->plain_contact, NULL, NULL, false, true) < 0)
			log_warning("binding %u (%s via %s): cannot remove its contact without a "
				    "reg-id; it expires by itself", b->id, b->name, iap_name(b));
		free(b->plain_contact);
		b->plain_contact = NULL;
	}
}

static void handle_register_response(struct binding *b, const struct tx *tx,
				     const osip_message_t *resp,
				     const struct sipmsg_response *pr)
{
	struct cause c = { classify(pr->code), pr->code, pr->reason };
	char buf[SIPMSG_REASON_MAX + 64];
	int r;

	if (b->state != BINDING_REGISTERING) {
		/* It finished after binding_stop() or a move: only what it
		 * did at the registrar counts. */
		if (pr->code < 300) {
			if (pr->our_expires >= 0)
				reconcile(b, pr);
		} else {
			drop_unconfirmed(b);
		}
		return;
	}
	if (pr->code < 300) {
		on_registered(b, tx, pr);
		return;
	}

	switch (pr->code) {
	case 401:
	case 407:
		r = on_challenge(b, resp, &b->auth, pr, &c, buf, sizeof(buf));
		if (r > 0)
			return;         /* dispatch() sends it again */
		drop_unconfirmed(b);
		binding_enter_state(b, BINDING_IDLE, &c);
		return;
	case 423:
		/* RFC 3261 §10.2.8: retry with at least Min-Expires. */
		if (pr->min_expires > 0 && (unsigned)pr->min_expires > b->expires_req &&
		    b->n_423 < MAX_423) {
			log_info("binding %u (%s via %s): 423, expires %u -> %d",
				 b->id, b->name, iap_name(b), b->expires_req,
				 pr->min_expires);
			b->expires_req = (unsigned)pr->min_expires;
			b->n_423++;
			return;
		}
		drop_unconfirmed(b);
		c.error = BINDING_ERROR_PROTOCOL;
		snprintf(buf, sizeof(buf), "%s (no usable Min-Expires)",
			 pr->reason);
		c.reason = buf;
		binding_enter_state(b, BINDING_IDLE, &c);
		return;
	default:
		break;
	}
	drop_unconfirmed(b);
	if (pr->code >= 300 && pr->code < 400) {
		on_redirect(b, pr);
		return;
	}
	if (pr->code == 503 && next_dest(b)) {
		/* RFC 3263 §4.3: the next server of the list, in this
		 * attempt; the last one's 503 is the answer. */
		log_info("binding %u (%s via %s): 503 from one server of %s; trying the next",
			 b->id, b->name, iap_name(b), b->dest_target.host);
		if (b->dest_target.proto != SIP_PROTO_UDP)
			release_transport(b);
		b->main_want = MAIN_REGISTER;
		return;
	}
	if (pr->code == 503 && next_proxy(b, "503 from the proxy")) {
		b->main_want = MAIN_REGISTER;
		return;
	}
	if (pr->retry_after > 0)
		b->retry_after = pr->retry_after;
	if (binding_error_is_permanent(c.error))
		binding_enter_state(b, BINDING_IDLE, &c);
	else
		binding_enter_state(b, BINDING_BACKOFF, &c);
}

static void handle_unregister_response(struct binding *b,
				       const osip_message_t *resp,
				       const struct sipmsg_response *pr)
{
	struct cause c = { classify(pr->code), pr->code, pr->reason };
	char buf[SIPMSG_REASON_MAX + 64];

	if (b->state != BINDING_UNREGISTERING)
		return;
	if (pr->code < 300) {
		/* Everything we listed is gone. */
		list_drop(b, &(struct uris){ .n = 0 }, false);
		binding_enter_state(b, BINDING_IDLE, &no_cause);
		return;
	}
	if ((pr->code == 401 || pr->code == 407) &&
	    on_challenge(b, resp, &b->auth, pr, &c, buf, sizeof(buf)) > 0)
		return;
	binding_enter_state(b, BINDING_IDLE, &c);
}

static void handle_aux_response(struct binding *b, const struct tx *tx,
				const osip_message_t *resp,
				const struct sipmsg_response *pr)
{
	struct aux_op *op = tx->aux;
	struct cause c = { classify(pr->code), pr->code, pr->reason };
	char buf[SIPMSG_REASON_MAX + 64];

	b->ops->transport_put(b->port, tx->tp);
	if ((pr->code == 401 || pr->code == 407) &&
	    on_challenge(b, resp, &op->auth, pr, &c, buf, sizeof(buf)) > 0) {
		/* Again, first in line. */
		op->next = b->aux_head;
		b->aux_head = op;
		if (!b->aux_tail)
			b->aux_tail = op;
		b->n_aux++;
		return;
	}
	if (pr->code >= 300) {
		aux_fail(b, op, &c);
		return;
	}
	if (op->plain)
		;                       /* the contact is ours still */
	else if (op->kind == OP_REMOVE)
		drop_contact(b, op->contact);
	else
		reconcile(b, pr);
	aux_report(b, op, &no_cause, pr);
	aux_free(op);
}

void binding_handle_response(struct binding *b, uint64_t id,
			     const osip_message_t *resp)
{
	struct sipmsg_ours ours;
	struct sipmsg_response pr;
	struct tx tx;
	bool mine;

	if (!b || !resp)
		return;
	hold(b);
	if (b->dying || !b->tx.active || b->tx.id != id) {
		log_debug("binding %u: response to a forgotten request dropped",
			  b->id);
		goto out;
	}
	mine = b->tx.kind == OP_REGISTER ||
	       (b->tx.kind == OP_QUERY && b->tx.aux && b->tx.aux->check);
	ours = (struct sipmsg_ours){
		.contact_uri = mine ? b->contact : NULL,
		.instance = mine ? b->instance : NULL,
	};
	if (sipmsg_parse_response(resp, &ours, &pr) < 0) {
		log_debug("binding %u (%s): malformed response dropped", b->id,
			  b->name);
		goto out;
	}
	if (pr.code < 200)
		goto out;               /* provisional: the transaction waits */
	tx = b->tx;
	b->tx.active = false;
	log_debug("binding %u (%s via %s): %d %s for CSeq %u", b->id, b->name,
		  tx.ifname, pr.code, pr.reason, b->cseq);
	switch (tx.kind) {
	case OP_REGISTER:
		if (pr.code >= 200 && pr.code < 300)
			keep_service_route(b, resp);
		handle_register_response(b, &tx, resp, &pr);
		break;
	case OP_UNREGISTER:
		handle_unregister_response(b, resp, &pr);
		break;
	case OP_REMOVE:
	case OP_QUERY:
		handle_aux_response(b, &tx, resp, &pr);
		break;
	}
	dispatch(b);
out:
	unhold(b);
}

void binding_handle_request_failed(struct binding *b, uint64_t id, int error)
{
	binding_handle_request_failed_why(b, id, error, NULL);
}

void binding_handle_request_failed_why(struct binding *b, uint64_t id, int error,
				       const char *why)
{
	char errbuf[256];
	struct cause c;
	struct tx tx;

	if (!b)
		return;
	hold(b);
	if (b->dying || !b->tx.active || b->tx.id != id)
		goto out;
	tx = b->tx;
	b->tx.active = false;
	c = failure_cause_why(error, why, errbuf, sizeof(errbuf));
	switch (tx.kind) {
	case OP_REGISTER:
		if (b->state != BINDING_REGISTERING)
			break;
		if (error == -ECONNREFUSED || c.error == BINDING_ERROR_TLS ||
		    (error == -ETIMEDOUT && (b->srv || has_next_proxy(b)))) {
			/* It reached no registrar (or, of SRV targets or the
			 * proxies a network named, this one did not answer:
			 * RFC 3263 §4.3), or not one it may trust: nothing
			 * was registered.  A silent address of a plain name
			 * is the network's (docs/sip.md, "Name lookups"). */
			drop_unconfirmed(b);
			if (next_dest(b)) {
				/* Part of this attempt, like a redirect: at
				 * once, without a turn of the pacer. */
				log_info("binding %u (%s via %s): %s; trying the next address "
					 "of %s", b->id, b->name, iap_name(b), c.reason,
					 b->dest_target.host);
				if (b->dest_target.proto != SIP_PROTO_UDP)
					release_transport(b);   /* a connection per peer */
				b->main_want = MAIN_REGISTER;
				break;
			}
			if (next_proxy(b, c.reason)) {
				b->main_want = MAIN_REGISTER;
				break;
			}
		}
		binding_enter_state(b, BINDING_BACKOFF, &c);
		break;
	case OP_UNREGISTER:
		if (b->state == BINDING_UNREGISTERING)
			binding_enter_state(b, BINDING_IDLE, &c);
		break;
	case OP_REMOVE:
	case OP_QUERY:
		b->ops->transport_put(b->port, tx.tp);
		aux_fail(b, tx.aux, &c);
		break;
	}
	dispatch(b);
out:
	unhold(b);
}

/* For people: why a name did not resolve (sip/stack.c's errnos). */
static const char *lookup_error(int error)
{
	switch (error) {
	case 0:
		return "no address of the IAP's family";
	case -ENOENT:
		return "no such name (NXDOMAIN)";
	case -ENODATA:
		return "the name has no address (no A or AAAA record)";
	case -ETIMEDOUT:
		return "no answer from the name server";
	case -ECONNREFUSED:
		return "the name server's port is closed";
	case -EACCES:
		return "the name server refused the query";
	case -EAGAIN:
		return "the name server failed (SERVFAIL)";
	default:
		return "lookup failed";
	}
}

/* The answer of a lookup: @proto < 0 and ports from the URI (A/AAAA),
 * or the SRV targets' own (binding_handle_targets()). */
static void resolved(struct binding *b, int error, int proto,
		     const struct sockaddr_storage *addrs, size_t n)
{
	if (!b)
		return;
	hold(b);
	if (b->dying || !b->resolving)
		goto out;
	b->resolving = false;
	b->resolved = true;
	b->have4 = b->have6 = false;
	b->n_dests = 0;
	b->srv = proto >= 0 && error >= 0 && n > 0;
	if (b->srv)
		b->dest_target.proto = (enum sip_proto)proto;
	for (size_t i = 0; error >= 0 && i < n && b->n_dests < DEST_MAX; i++) {
		struct sockaddr_storage *d = &b->dests[b->n_dests];

		if (addrs[i].ss_family == AF_INET) {
			memcpy(d, &addrs[i], sizeof(struct sockaddr_in));
			if (!b->srv)
				((struct sockaddr_in *)d)->sin_port = htons(b->dest_target.port);
		} else if (addrs[i].ss_family == AF_INET6) {
			memcpy(d, &addrs[i], sizeof(struct sockaddr_in6));
			if (!b->srv)
				((struct sockaddr_in6 *)d)->sin6_port = htons(b->dest_target.port);
		} else {
			continue;
		}
		b->n_dests++;
		if (d->ss_family == AF_INET && !b->have4) {
			b->dest4 = *d;
			b->have4 = true;
		} else if (d->ss_family == AF_INET6 && !b->have6) {
			b->dest6 = *d;
			b->have6 = true;
		}
	}
	if (b->state == BINDING_RESOLVING) {
		char buf[SIPMSG_HOST_MAX + 64];
		struct cause c = { BINDING_ERROR_RESOLVE, error < 0 ? error : 0, buf };

		snprintf(buf, sizeof(buf), "cannot resolve %s: %s", b->dest_target.host,
			 lookup_error(error));
		/* A proxy the network named whose name does not resolve: the
		 * next one it named, within this attempt, as for one that
		 * refuses or stays silent (RFC 3361 §3.1: in order). */
		while (!have_dest(b, b->local.ss_family, NULL) && next_proxy(b, buf)) {
			if (have_dest(b, b->local.ss_family, NULL))
				break;
			start_resolve(b);
			if (b->resolving)
				goto wait;      /* its answer comes here again */
			snprintf(buf, sizeof(buf), "cannot resolve %s", b->dest_target.host);
		}
		if (have_dest(b, b->local.ss_family, NULL))
			binding_enter_state(b, BINDING_REGISTERING, &no_cause);
		else
			binding_enter_state(b, BINDING_BACKOFF, &c);
	}
wait:
	dispatch(b);
out:
	unhold(b);
}

void binding_handle_resolved(struct binding *b, int error,
			     const struct sockaddr_storage *addrs, size_t n)
{
	resolved(b, error, -1, addrs, n);
}

void binding_handle_targets(struct binding *b, int error, enum sip_proto proto,
			    const struct sockaddr_storage *addrs, size_t n)
{
	resolved(b, error, (int)proto, addrs, n);
}

void binding_handle_timer(struct binding *b)
{
	if (!b)
		return;
	hold(b);
	if (b->dying)
		goto out;
	switch (b->state) {
	case BINDING_REGISTERED:
		if (b->check_at && now_ms(b) >= b->check_at && now_ms(b) < b->refresh_at)
			start_check(b);
		else
			begin_attempt(b);       /* the refresh */
		break;
	case BINDING_BACKOFF:
		/* Start over from the configured registrar, and look its
		 * name up again. */
		redirects_clear(b);
		if (set_str(&b->target, b->registrar) < 0) {
			struct cause c = { BINDING_ERROR_INTERNAL, -ENOMEM,
					   "out of memory" };

			binding_enter_state(b, BINDING_IDLE, &c);
			break;
		}
		target_changed(b);
		begin_attempt(b);
		break;
	case BINDING_IDLE:
	case BINDING_RESOLVING:
	case BINDING_REGISTERING:
	case BINDING_UNREGISTERING:
		log_debug("binding %u: stale timer in %s", b->id,
			  binding_state_to_str(b->state));
		break;
	case _BINDING_STATE_MAX:
		break;
	}
	dispatch(b);
out:
	unhold(b);
}

void binding_handle_transport_lost(struct binding *b, struct sip_transport *tp,
				   int error)
{
	bool udp;

	if (!b || !tp)
		return;
	hold(b);
	if (b->dying || tp != b->tp)
		goto out;
	udp = b->dest_target.proto == SIP_PROTO_UDP;
	release_transport(b);           /* @tp may be gone after it */
	if (b->state == BINDING_REGISTERED) {
		/* The registrar can no longer reach us over it (RFC 5626
		 * §4.4, §4.5): register again over a new one (over UDP the
		 * same socket: a NAT on the way maps it afresh). */
		log_info("binding %u (%s via %s): %s (%s), registering again", b->id,
			 b->name, iap_name(b),
			 udp ? "the flow failed" : "connection lost",
			 strerror(error < 0 ? -error : error));
		begin_attempt(b);
	}
	dispatch(b);
out:
	unhold(b);
}

void binding_handle_paced(struct binding *b)
{
	if (!b)
		return;
	hold(b);
	if (b->dying || !b->pace_waiting)
		goto out;
	b->pace_waiting = false;
	b->paced = true;
	dispatch(b);
out:
	unhold(b);
}

/* ---- public API -------------------------------------------------------- */

static int check_config(const struct binding_config *cfg, const char **ret_what)
{
	struct sipmsg_target t;

	*ret_what = "aor";
	if (!cfg->aor || !sipmsg_uri_ok(cfg->aor))
		return -EINVAL;
	*ret_what = "registrar";
	if (!cfg->registrar || !sipmsg_uri_ok(cfg->registrar) ||
	    sipmsg_target_parse(cfg->registrar, &t) < 0)
		return -EINVAL;
	*ret_what = "outbound proxy";
	if (cfg->outbound_proxy && (!sipmsg_uri_ok(cfg->outbound_proxy) ||
	    sipmsg_target_parse(cfg->outbound_proxy, &t) < 0))
		return -EINVAL;
	*ret_what = "contact user";
	if (!sipmsg_user_ok(cfg->contact_user))
		return -EINVAL;
	*ret_what = "username";
	if (cfg->username && (!sipmsg_value_ok(cfg->username) ||
			      strpbrk(cfg->username, "\"\\")))
		return -EINVAL;
	*ret_what = "realm";
	if (cfg->realm && !sipmsg_value_ok(cfg->realm))
		return -EINVAL;
	*ret_what = "call-id";
	if (cfg->call_id && (!sipmsg_value_ok(cfg->call_id) ||
			     strpbrk(cfg->call_id, " \t")))
		return -EINVAL;
	*ret_what = "cseq";
	if (cfg->cseq >= INT32_MAX)
		return -EINVAL;
	*ret_what = "contact parameter";
	for (size_t i = 0; i < cfg->n_contact_params; i++)
		if (!sipmsg_param_ok(cfg->contact_params[i]))
			return -EINVAL;
	*ret_what = "extra header";
	for (size_t i = 0; i < cfg->n_extra_headers; i++)
		if (!sipmsg_token_ok(cfg->extra_headers[i].name) ||
		    !sipmsg_value_ok(cfg->extra_headers[i].value))
			return -EINVAL;
	*ret_what = "user agent";
	if (cfg->user_agent && !sipmsg_value_ok(cfg->user_agent))
		return -EINVAL;
	return 0;
}

/* Build one REGISTER with the configuration, to let the builder refuse
 * what the individual checks let through (a managed extra header, a bad
 * instance). */
static int trial_build(struct binding *b)
{
	const struct sipmsg_contact c = { "sip:x@192.0.2.1", 1, true };
	const struct sipmsg_register rq = {
		.request_uri = b->target, .aor = b->aor,
		.from_tag = b->from_tag, .call_id = b->call_id, .cseq = 1,
		.proto = SIP_PROTO_UDP, .via_host = "192.0.2.1",
		.via_port = 5060, .branch = "z9hG4bKtrial",
		.contacts = &c, .n_contacts = 1, .instance = b->instance,
		.contact_params = (const char *const *)b->contact_params,
		.n_contact_params = b->n_contact_params, .expires = 1,
		.route = b->proxy, .extra = b->extra, .n_extra = b->n_extra,
		.user_agent = b->user_agent,
	};
	osip_message_t *m = NULL;
	int r = sipmsg_build_register(&rq, &m);

	osip_message_free(m);
	return r;
}

struct binding *binding_new(struct sip_stack *stack,
			    const struct binding_config *cfg)
{
	if (!stack) {
		errno = EINVAL;
		return NULL;
	}
	return binding_new_with_ops(sip_stack_binding_ops(), stack, cfg);
}

struct binding *binding_new_with_ops(const struct binding_ops *ops,
				     void *env,
				     const struct binding_config *cfg)
{
	struct binding *b;
	const char *what = "";
	osip_uri_t *aor = NULL;
	char hex[65];
	int r;

	sipmsg_library_init();
	if (!ops || !cfg) {
		errno = EINVAL;
		return NULL;
	}
	r = check_config(cfg, &what);
	if (r < 0) {
		log_err("sip binding: invalid %s", what);
		errno = -r;
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->id = ++next_binding_id;
	b->state = BINDING_IDLE;
	b->ops = ops;
	b->retry_after = -1;
	b->last_reason[0] = '\0';
	b->expires_cfg = cfg->expires ? cfg->expires : DEFAULT_EXPIRES;
	b->check_ms = cfg->check_ms;
	if (b->expires_cfg > INT32_MAX)
		b->expires_cfg = INT32_MAX;
	b->expires_req = b->expires_cfg;
	b->cseq = cfg->cseq;

	if (set_str(&b->aor, cfg->aor) < 0 ||
	    set_str(&b->registrar, cfg->registrar) < 0 ||
	    set_str(&b->target, cfg->registrar) < 0 ||
	    set_str(&b->proxy, cfg->outbound_proxy) < 0 ||
	    set_str(&b->proxy_cfg, cfg->outbound_proxy) < 0 ||
	    set_str(&b->realm, cfg->realm) < 0 ||
	    set_str(&b->password, cfg->password) < 0 ||
	    set_str(&b->contact_user, cfg->contact_user) < 0 ||
	    set_str(&b->instance, cfg->instance) < 0 ||
	    set_str(&b->user_agent, cfg->user_agent ? cfg->user_agent :
				    "alrd/" ALR_VERSION) < 0 ||
	    set_str(&b->ca_file, cfg->ca_file) < 0 ||
	    set_str(&b->name, strncasecmp(cfg->aor, "sip:", 4) == 0 ? cfg->aor + 4 :
			      strncasecmp(cfg->aor, "sips:", 5) == 0 ? cfg->aor + 5 :
			      cfg->aor) < 0)
		goto nomem;
	if (!cfg->password && cfg->ha1 && cfg->realm) {
		b->ha1 = *cfg->ha1;
		b->has_ha1 = true;
	}
	if (cfg->username) {
		if (set_str(&b->username, cfg->username) < 0)
			goto nomem;
	} else {
		if (osip_uri_init(&aor) != 0)
			goto nomem;
		if (osip_uri_parse(aor, cfg->aor) == 0 && aor->username &&
		    set_str(&b->username, aor->username) < 0) {
			osip_uri_free(aor);
			goto nomem;
		}
		osip_uri_free(aor);
		if (!b->username && (b->password || b->has_ha1)) {
			log_err("sip binding %s: no username, and the AOR has "
				"no user part", b->name);
			errno = EINVAL;
			goto fail;
		}
	}
	if (cfg->n_contact_params) {
		b->contact_params = calloc(cfg->n_contact_params, sizeof(char *));
		if (!b->contact_params)
			goto nomem;
		for (size_t i = 0; i < cfg->n_contact_params; i++) {
			if (set_str(&b->contact_params[i], cfg->contact_params[i]) < 0)
				goto nomem;
			b->n_contact_params++;
		}
	}
	if (cfg->n_extra_headers) {
		b->extra = calloc(cfg->n_extra_headers, sizeof(*b->extra));
		if (!b->extra)
			goto nomem;
		for (size_t i = 0; i < cfg->n_extra_headers; i++) {
			char *name = NULL, *value = NULL;

			if (set_str(&name, cfg->extra_headers[i].name) < 0 ||
			    set_str(&value, cfg->extra_headers[i].value) < 0) {
				free(name);
				goto nomem;
			}
			b->extra[i] = (struct sipmsg_header){ name, value };
			b->n_extra++;
		}
	}

	b->port = ops->attach(env, b);
	if (!b->port)
		goto nomem;
	random_hex(b, b->from_tag, 8);
	if (cfg->call_id) {
		if (set_str(&b->call_id, cfg->call_id) < 0)
			goto nomem;
	} else {
		/* RFC 3261 §8.1.1.4: globally unique; 128 random bits. */
		random_hex(b, hex, 16);
		if (set_str(&b->call_id, hex) < 0)
			goto nomem;
	}
	r = target_changed(b);
	if (r == 0)
		r = trial_build(b);
	if (r < 0) {
		log_err("sip binding %s: invalid configuration (instance, "
			"extra headers or contact parameters)", b->name);
		errno = -r;
		goto fail;
	}
	log_debug("binding %u (%s): created, Call-ID %s, registrar %s", b->id,
		  b->name, b->call_id, b->registrar);
	return b;
nomem:
	errno = ENOMEM;
fail:
	r = errno;
	binding_destroy(b);
	errno = r;
	return NULL;
}

static void binding_destroy(struct binding *b)
{
	if (b->port) {
		if (b->tx.active) {
			b->ops->cancel(b->port, b->tx.id);
			if (b->tx.tp)
				b->ops->transport_put(b->port, b->tx.tp);
			aux_free(b->tx.aux);
		}
		if (b->resolving)
			b->ops->resolve_cancel(b->port);
		pace_leave(b);
		b->ops->timer_stop(b->port);
		release_transport(b);
		b->ops->detach(b->port);
	}
	while (b->aux_head) {
		struct aux_op *op = b->aux_head;

		b->aux_head = op->next;
		aux_free(op);
	}
	redirects_clear(b);
	clear_service_route(b);
	watchlist_clear(&b->observers);
	digest_session_reset(&b->www);
	digest_session_reset(&b->proxy_auth);
	OPENSSL_cleanse(&b->ha1, sizeof(b->ha1));
	if (b->password) {
		explicit_bzero(b->password, strlen(b->password));
		free(b->password);
	}
	for (size_t i = 0; i < b->n_contact_params; i++)
		free(b->contact_params[i]);
	free(b->contact_params);
	for (size_t i = 0; i < b->n_extra; i++) {
		free((char *)b->extra[i].name);
		free((char *)b->extra[i].value);
	}
	free(b->extra);
	free(b->name);
	free(b->aor);
	free(b->registrar);
	free(b->target);
	free(b->proxy);
	free(b->proxy_cfg);
	for (size_t i = 0; i < b->n_proxies; i++)
		free(b->proxies[i]);
	free(b->username);
	free(b->realm);
	free(b->contact_user);
	free(b->instance);
	free(b->user_agent);
	free(b->ca_file);
	free(b->call_id);
	free(b->contact);
	free(b->plain_contact);
	free(b);
}

struct binding *binding_free(struct binding *b)
{
	if (!b)
		return NULL;
	if (b->busy) {
		b->dying = true;
		return NULL;
	}
	binding_destroy(b);
	return NULL;
}

unsigned binding_get_id(const struct binding *b)
{
	return b ? b->id : 0;
}

enum binding_state binding_get_state(const struct binding *b)
{
	return b ? b->state : BINDING_IDLE;
}

const char *binding_get_call_id(const struct binding *b)
{
	return b ? b->call_id : NULL;
}

uint32_t binding_get_cseq(const struct binding *b)
{
	return b ? b->cseq : 0;
}

const char *binding_get_contact(const struct binding *b)
{
	return b ? b->contact : NULL;
}

const char *binding_get_ifname(const struct binding *b)
{
	return b && b->has_iap ? b->ifname : NULL;
}

void binding_get_targets(const struct binding *b, char *buf, size_t size)
{
	size_t len = 0;

	if (!size)
		return;
	buf[0] = '\0';
	for (size_t i = 0; b && i < b->n_dests && len < size; i++) {
		char host[INET6_ADDRSTRLEN] = "?";
		uint16_t port = 0;
		const struct sockaddr_storage *d = &b->dests[i];
		const struct sockaddr_storage *cur = d->ss_family == AF_INET ? &b->dest4 : &b->dest6;
		bool in_use = (d->ss_family == AF_INET ? b->have4 : b->have6) &&
			      sockaddr_equal(d, cur) && port_of(d) == port_of(cur);
		int r;

		sipmsg_sockaddr_host((const struct sockaddr *)d, host, sizeof(host), &port);
		r = snprintf(buf + len, size - len, "%s%s%s %s%s%s:%u", i ? ", " : "",
			     in_use ? "*" : "", sip_proto_to_param(b->dest_target.proto),
			     d->ss_family == AF_INET6 ? "[" : "", host,
			     d->ss_family == AF_INET6 ? "]" : "", port);
		if (r < 0)
			break;
		len += (size_t)r;
	}
}

unsigned binding_get_expires(const struct binding *b)
{
	return b && b->state == BINDING_REGISTERED ? b->granted : 0;
}

int binding_get_last_error(const struct binding *b,
			   enum binding_error *ret_error,
			   const char **ret_reason)
{
	if (!b)
		return 0;
	if (ret_error)
		*ret_error = b->last_error;
	if (ret_reason)
		*ret_reason = b->last_reason;
	return b->last_code;
}

unsigned binding_add_observer(struct binding *b, binding_observer_fn fn,
			      void *user_data, watchlist_destroy_fn destroy)
{
	if (!b || !fn)
		return 0;
	return watchlist_add(&b->observers, (void *)fn, user_data, destroy);
}

bool binding_remove_observer(struct binding *b, unsigned id)
{
	return b && watchlist_remove(&b->observers, id);
}

void binding_set_contacts(struct binding *b, const struct binding_contacts *list,
			  void *data)
{
	if (!b)
		return;
	b->list = list;
	b->list_data = data;
}

static int set_iap(struct binding *b, const char *ifname,
		   const char *local_addr)
{
	struct sockaddr_storage local;

	if (!ifname || !*ifname || strlen(ifname) >= IFNAMSIZ ||
	    parse_local(local_addr, &local) < 0)
		return -EINVAL;
	util_strlcpy(b->ifname, ifname, sizeof(b->ifname));
	b->local = local;
	b->has_iap = true;
	return 0;
}

int binding_start(struct binding *b, const char *ifname,
		  const char *local_addr)
{
	int r;

	if (!b || b->dying)
		return -EINVAL;
	if (b->state == BINDING_UNREGISTERING)
		return -EBUSY;
	if (b->state != BINDING_IDLE)
		return -EALREADY;
	hold(b);
	r = set_iap(b, ifname, local_addr);
	if (r < 0)
		goto out;
	redirects_clear(b);
	r = set_str(&b->target, b->registrar);
	if (r < 0)
		goto out;
	b->proxy_changed = false;
	r = target_changed(b);
	if (r < 0)
		goto out;
	b->backoff_n = 0;
	b->expires_req = b->expires_cfg;
	begin_attempt(b);
	dispatch(b);
out:
	unhold(b);
	return r;
}

int binding_move(struct binding *b, const char *ifname,
		 const char *local_addr)
{
	struct sockaddr_storage local;
	int r = 0;

	if (!b || b->dying)
		return -EINVAL;
	if (b->state == BINDING_IDLE)
		return binding_start(b, ifname, local_addr);
	if (b->state == BINDING_UNREGISTERING)
		return -EBUSY;
	if (!ifname || parse_local(local_addr, &local) < 0)
		return -EINVAL;
	if (b->has_iap && strcmp(ifname, b->ifname) == 0 &&
	    sockaddr_equal(&local, &b->local))
		return -EALREADY;
	hold(b);
	if (b->tx.active && b->tx.kind == OP_REGISTER) {
		/* Its contact stays in the list: it may have been
		 * registered. */
		b->ops->cancel(b->port, b->tx.id);
		b->tx.active = false;
	}
	log_info("binding %u (%s): moving from %s to %s", b->id, b->name,
		 iap_name(b), ifname);
	release_transport(b);
	r = set_iap(b, ifname, local_addr);
	if (r < 0)
		goto out;
	if (b->proxy_changed) {
		/* Another first hop over the new IAP (its DHCP-named
		 * proxy): resolved anew, challenges of the old one
		 * forgotten. */
		r = target_changed(b);
		if (r < 0)
			goto out;
		digest_session_reset(&b->proxy_auth);
		b->proxy_changed = false;
	}
	b->backoff_n = 0;
	begin_attempt(b);
	dispatch(b);
out:
	unhold(b);
	return r;
}

int binding_stop(struct binding *b)
{
	const char *ifname;
	size_t cursor = 0;

	if (!b || b->dying)
		return -EINVAL;
	hold(b);
	switch (b->state) {
	case BINDING_IDLE:
	case BINDING_UNREGISTERING:
		break;
	case BINDING_RESOLVING:
	case BINDING_REGISTERING:
	case BINDING_REGISTERED:
	case BINDING_BACKOFF:
		if (!list_next(b, &cursor, &ifname) &&
		    !(b->tx.active && b->tx.kind == OP_REGISTER))
			binding_enter_state(b, BINDING_IDLE, &no_cause);
		else
			binding_enter_state(b, BINDING_UNREGISTERING, &no_cause);
		break;
	case _BINDING_STATE_MAX:
		break;
	}
	dispatch(b);
	unhold(b);
	return 0;
}

/* No IAP left to send over (DESIGN §3.8): idle without a request.  The
 * contacts stay in the list: they are removed once a path
 * allows, like those left by a failover. */
int binding_abandon(struct binding *b)
{
	static const struct cause no_network = { BINDING_ERROR_NONE, 0, "no network" };

	if (!b || b->dying)
		return -EINVAL;
	if (b->state == BINDING_UNREGISTERING)
		return -EBUSY;
	if (b->state == BINDING_IDLE)
		return 0;
	hold(b);
	if (b->tx.active && b->tx.kind == OP_REGISTER) {
		/* Its contact stays in the list: it may have been
		 * registered. */
		b->ops->cancel(b->port, b->tx.id);
		b->tx.active = false;
	}
	binding_enter_state(b, BINDING_IDLE, &no_network);
	unhold(b);
	return 0;
}

static int queue_aux_op(struct binding *b, enum op_kind kind, const char *contact,
			const char *ifname, const char *local_addr, bool check, bool plain)
{
	struct aux_op *op;

	if (!b || b->dying)
		return -EINVAL;
	if (b->n_aux >= AUX_MAX)
		return -ENOBUFS;
	op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->kind = kind;
	op->check = check;
	op->plain = plain;
	if (contact && !(op->contact = strdup(contact))) {
		free(op);
		return -ENOMEM;
	}
	if (ifname) {
		if (strlen(ifname) >= IFNAMSIZ || !*ifname ||
		    parse_local(local_addr, &op->local) < 0) {
			aux_free(op);
			return -EINVAL;
		}
		util_strlcpy(op->ifname, ifname, sizeof(op->ifname));
	} else {
		if (!b->has_iap) {
			aux_free(op);
			return -ENOTCONN;
		}
		util_strlcpy(op->ifname, b->ifname, sizeof(op->ifname));
		op->local = b->local;
	}
	if (b->aux_tail)
		b->aux_tail->next = op;
	else
		b->aux_head = op;
	b->aux_tail = op;
	b->n_aux++;
	hold(b);
	dispatch(b);
	unhold(b);
	return 0;
}

static int queue_aux(struct binding *b, enum op_kind kind, const char *contact,
		     const char *ifname, const char *local_addr, bool check)
{
	return queue_aux_op(b, kind, contact, ifname, local_addr, check, false);
}

static int queue_check(struct binding *b)
{
	/* One at a time: a check still queued or out is enough. */
	for (const struct aux_op *op = b->aux_head; op; op = op->next)
		if (op->check)
			return -EALREADY;
	if (b->tx.active && b->tx.aux && b->tx.aux->check)
		return -EALREADY;
	return queue_aux(b, OP_QUERY, NULL, NULL, NULL, true);
}

int binding_remove_contact(struct binding *b, const char *contact_uri,
			   const char *ifname, const char *local_addr)
{
	if (!contact_uri || !sipmsg_uri_ok(contact_uri))
		return -EINVAL;
	return queue_aux(b, OP_REMOVE, contact_uri, ifname, local_addr, false);
}

int binding_query(struct binding *b, const char *ifname,
		  const char *local_addr)
{
	return queue_aux(b, OP_QUERY, NULL, ifname, local_addr, false);
}

/* ---- for the edge's calls ------------------------------------------------ */

static void clear_service_route(struct binding *b)
{
	for (size_t i = 0; i < b->n_service_route; i++)
		free(b->service_route[i]);
	b->n_service_route = 0;
}

/* RFC 3608 §6: each 2xx to a REGISTER replaces the Service-Route; its
 * values (name-addrs, maybe several per header) in order. */
static void keep_service_route(struct binding *b, const osip_message_t *resp)
{
	osip_header_t *h = NULL;

	clear_service_route(b);
	for (int pos = 0; (pos = osip_message_header_get_byname(resp, "service-route", pos,
								  &h)) >= 0; pos++) {
		const char *s = h && h->hvalue ? h->hvalue : "";

		while (*s && b->n_service_route < BINDING_SERVICE_ROUTE_MAX) {
			const char *end = strchr(s, '>');
			size_t len;

			while (*s == ' ' || *s == ',')
				s++;
			if (*s != '<' || !end)
				break;
			len = (size_t)(end - s) + 1;
			/* The parameters after '>' belong to the value too. */
			while (s[len] && s[len] != ',')
				len++;
			b->service_route[b->n_service_route] = strndup(s, len);
			if (!b->service_route[b->n_service_route])
				break;
			b->n_service_route++;
			s += len;
		}
	}
}

int binding_set_proxies(struct binding *b, const char *const *uris, size_t n)
{
	char *v[BINDING_PROXIES_MAX] = { NULL };
	struct sipmsg_target t;
	const char *want;
	bool same;

	if (!b || b->dying || (n && !uris))
		return -EINVAL;
	if (n > BINDING_PROXIES_MAX)
		n = BINDING_PROXIES_MAX;
	for (size_t i = 0; i < n; i++)
		if (!uris[i] || !sipmsg_uri_ok(uris[i]) || sipmsg_target_parse(uris[i], &t) < 0)
			return -EINVAL;
	same = n == b->n_proxies;
	for (size_t i = 0; same && i < n; i++)
		same = strcmp(uris[i], b->proxies[i]) == 0;
	if (same)
		return 0;
	for (size_t i = 0; i < n; i++) {
		v[i] = strdup(uris[i]);
		if (!v[i]) {
			for (size_t k = 0; k < i; k++)
				free(v[k]);
			return -ENOMEM;
		}
	}
	want = n ? v[0] : b->proxy_cfg;
	if (set_str(&b->proxy, want) < 0) {
		for (size_t k = 0; k < n; k++)
			free(v[k]);
		return -ENOMEM;
	}
	for (size_t i = 0; i < b->n_proxies; i++)
		free(b->proxies[i]);
	memcpy(b->proxies, v, sizeof(v));
	b->n_proxies = n;
	b->i_proxy = 0;
	log_info("binding %u (%s): outbound proxy now %s%s", b->id, b->name,
		 b->proxy ? b->proxy : "none", n > 1 ? " (then the others named)" : "");
	b->proxy_changed = true;
	if (b->state == BINDING_IDLE && !b->dying) {
		/* Nothing under way: the removals of old contacts that come
		 * before the next start go the new way too, Route and
		 * destination alike. */
		hold(b);
		if (target_changed(b) == 0)
			b->proxy_changed = false;
		digest_session_reset(&b->proxy_auth);
		unhold(b);
	}
	return 1;
}

int binding_set_proxy(struct binding *b, const char *uri)
{
	return binding_set_proxies(b, uri ? &uri : NULL, uri ? 1 : 0);
}

size_t binding_get_proxies(const struct binding *b, const char *const **ret)
{
	*ret = b ? (const char *const *)b->proxies : NULL;
	return b ? b->n_proxies : 0;
}

const char *binding_get_proxy(const struct binding *b)
{
	return b ? b->proxy : NULL;
}

int binding_get_route(const struct binding *b, struct binding_route *ret)
{
	if (!b || !ret)
		return -EINVAL;
	if (b->state != BINDING_REGISTERED || !b->tp || !b->contact ||
	    !have_dest(b, b->tp_local.ss_family, &ret->dest))
		return -ENOTCONN;
	ret->tp = b->tp;
	ret->contact = b->contact;
	ret->outbound = b->flow_outbound;
	ret->aor = b->aor;
	ret->ifname = b->ifname;
	ret->proxy = b->proxy;
	ret->service_route = (const char *const *)b->service_route;
	ret->n_service_route = b->n_service_route;
	return 0;
}

int binding_authorize(const struct binding *b, const osip_message_t *challenge,
		      osip_message_t *req)
{
	bool proxy = challenge->status_code == 407;
	struct digest_session session = { 0 };
	struct digest_input in = { 0 };
	char *value = NULL, *uri = NULL, buf[AUTH_VALUE_MAX];
	int r;

	if (!b->password && !b->has_ha1)
		return -EACCES;
	r = sipmsg_best_challenge(challenge, proxy, &value);
	if (r < 0 || !value)
		return -ENOTSUP;
	r = digest_session_update(&session, value, strlen(value));
	free(value);
	if (r < 0)
		return -ENOTSUP;
	if (b->realm && strcmp(session.challenge.realm, b->realm) != 0)
		return -EACCES;
	r = sipmsg_request_uri(req, &uri);
	if (r < 0)
		return r;
	in.method = req->sip_method;
	in.uri = uri;
	in.username = b->username;
	in.password = b->password;
	in.ha1 = b->has_ha1 ? &b->ha1 : NULL;
	r = digest_session_authorize(&session, &in, buf, sizeof(buf));
	free(uri);
	if (r < 0)
		return r == -ENOENT ? -ENOTSUP : r;
	return sipmsg_add_header(req, proxy ? "Proxy-Authorization" : "Authorization", buf);
}
