/* One registration binding: one AOR at one registrar, kept alive over one
 * IAP at a time (RFC 3261 §10).
 *
 * States (DESIGN §4): IDLE, RESOLVING, REGISTERING, REGISTERED (refresh
 * timer armed), UNREGISTERING, BACKOFF (retry timer armed).  Only
 * binding_enter_state() assigns the state; it logs
 *   binding 3 (alice@example.test via wlan0): REGISTERING -> REGISTERED (expires 600)
 * and notifies observers last.
 *
 * The machine never touches a socket, a clock or libosip2's transactions
 * itself: it asks a struct binding_ops for them.  sip/stack.c provides
 * the real ones (sockets bound to the IAP, NICT transactions, ev_timers,
 * c-ares); tests/unit/test-sip-binding.c a fake transport and clock.
 *
 * Call-ID and CSeq: a binding keeps one Call-ID for its whole life, across
 * refreshes and IAP changes, and its CSeq only grows, one per request,
 * whatever the request (RFC 3261 §10.2: "the same Call-ID for all
 * registrations during a boot cycle", CSeq + 1 per REGISTER).  A move to
 * another IAP is a REGISTER of the new contact with the same Call-ID and a
 * higher CSeq; the registrar keeps the old contact, which is a different
 * binding (§10.3 step 7), until it expires or binding_remove_contact()
 * removes it, over whichever IAP is up.  (Kamailio 5.6 is the exception
 * when the contacts carry the same +sip.instance and no reg-id: it
 * replaces the old contact with the new one in the same transaction.)
 * The roaming layer therefore uses one binding object per (AOR,
 * registrar) and moves it; it does not need a second object with a copy
 * of the Call-ID, whose CSeq could then go backwards. */
#pragma once

#include "sip/digest.h"
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/watchlist.h"
#include "sip/sipmsg.h"

struct binding;
struct sip_stack;
struct sip_transport;           /* the adapter's; opaque here */

enum binding_state {
	BINDING_IDLE,
	BINDING_RESOLVING,
	BINDING_REGISTERING,
	BINDING_REGISTERED,
	BINDING_UNREGISTERING,
	BINDING_BACKOFF,
	_BINDING_STATE_MAX,
};

const char *binding_state_to_str(enum binding_state s);

/* Why a request failed.  The permanent ones leave the binding IDLE; the
 * others put it in BACKOFF. */
enum binding_error {
	BINDING_ERROR_NONE,
	BINDING_ERROR_AUTH,             /* 401/407 after fresh credentials */
	BINDING_ERROR_FORBIDDEN,        /* 403 */
	BINDING_ERROR_NOT_FOUND,        /* 404 */
	BINDING_ERROR_REJECTED,         /* another 4xx or 6xx */
	BINDING_ERROR_PROTOCOL,         /* a response we cannot act on */
	BINDING_ERROR_TIMEOUT,          /* no final response (Timer F) */
	BINDING_ERROR_TRANSPORT,        /* socket error, refused, lost */
	BINDING_ERROR_SERVER,           /* 408, 480, 5xx */
	BINDING_ERROR_RESOLVE,          /* the registrar's name */
	BINDING_ERROR_REDIRECT,         /* 3xx with nothing left to try */
	BINDING_ERROR_INTERNAL,         /* out of memory and the like */
	BINDING_ERROR_TLS,              /* the server's certificate or TLS
					   handshake refused (not the network's) */
	_BINDING_ERROR_MAX,
};

const char *binding_error_to_str(enum binding_error e);
bool binding_error_is_permanent(enum binding_error e);

/** What a binding is configured with.  Every string is copied. */
struct binding_config {
	const char *aor;                /* To/From, "sip:alice@example.test" */
	const char *registrar;          /* Request-URI; ";transport=tcp" selects TCP,
					   "sips:" or ";transport=tls" TLS */
	const char *outbound_proxy;     /* NULL: none; else a Route <uri;lr>
					   and requests go there */
	const char *username;           /* digest user; NULL: the AOR's user */
	const char *realm;              /* NULL: answer any realm */
	const char *password;           /* NULL: no credentials */
	const struct digest_ha1 *ha1;   /* instead of password, with realm set:
					   HA1 for that realm (RFC 7616 §3.4.2) */
	unsigned expires;               /* requested; 0: 3600 */
	const char *contact_user;       /* stable user part of the Contact */
	const char *instance;           /* "urn:uuid:...", or NULL */
	const char *const *contact_params;      /* "name" or "name=value" */
	size_t n_contact_params;
	const struct sipmsg_header *extra_headers;
	size_t n_extra_headers;
	const char *call_id;            /* NULL: generate one */
	uint32_t cseq;                  /* the last CSeq used with call_id
					   (after a restart); 0 for a new one */
	const char *user_agent;         /* NULL: "alrd/VERSION" */
	/* Registered over UDP: ask the registrar for the AOR's bindings
	 * (RFC 3261 §10.2.3) this often, and register again at once when
	 * ours is not among them (the registrar restarted and forgot it).
	 * 0: never (only the refreshes).  Over TCP a lost connection says
	 * it (binding_handle_transport_lost()). */
	unsigned check_ms;
	/* TLS: the CA certificates (PEM) the server's certificate must chain
	 * to; NULL: the stack's (sip_stack_set_tls_ca_file()). */
	const char *ca_file;
};

/** One event for observers.  Pointers are valid during the call only. */
enum binding_event_type {
	BINDING_EVENT_STATE,            /* old_state -> new_state */
	BINDING_EVENT_CONTACT_REMOVED,  /* binding_remove_contact() finished */
	BINDING_EVENT_QUERY,            /* binding_query() finished */
	_BINDING_EVENT_MAX,
};

const char *binding_event_type_to_str(enum binding_event_type t);

struct binding_event {
	enum binding_event_type type;
	enum binding_state old_state;
	enum binding_state new_state;
	/* The cause: BINDING_ERROR_NONE on success; code is the SIP status
	 * (or a negative errno for local failures, 0 if none) and reason
	 * its phrase; never NULL, never a secret. */
	enum binding_error error;
	int code;
	const char *reason;
	const char *contact;            /* REGISTERED: ours; CONTACT_REMOVED: the URI */
	const char *ifname;             /* the IAP the request went over */
	unsigned expires;               /* REGISTERED: granted seconds */
	uint64_t retry_ms;              /* BACKOFF: delay before the retry */
	const struct sipmsg_binding_info *contacts;     /* QUERY: the AOR's */
	size_t n_contacts;
};

typedef void (*binding_observer_fn)(struct binding *b,
				    const struct binding_event *ev,
				    void *user_data);

/** What the binding tells its contact list: the CSeq moved (contact
 * NULL), or the registrar may hold a contact now (expires > 0: a REGISTER
 * carrying it went out, or a 2xx granted it), or holds it no more
 * (expires 0), so that a restarted daemon can remove what the registrar
 * still holds (same Call-ID, higher CSeq). */
struct binding_persist {
	const char *call_id;
	uint32_t cseq;                  /* the last one used */
	const char *contact;            /* NULL when only the CSeq moved */
	const char *ifname;             /* the IAP the contact went over */
	unsigned expires;               /* requested or granted; 0: removed */
};

/** The one list of the contacts the registrar may hold for this AOR
 * (see the file comment): its owner's (in alrd, the profile's
 * alr/contacts.c, written through to the store).  The binding keeps no
 * list of its own: it reads this one whenever it builds a request and
 * tells it what it learns. */
struct binding_contacts {
	/* The first contact at *cursor or after it (0: from the start)
	 * that the registrar may still hold, and the interface it went over
	 * ("" if not known); *cursor moves past it.  NULL at the end.  What
	 * it returns is valid until the next update(). */
	const char *(*next)(void *data, size_t *cursor, const char **ret_ifname);
	void (*update)(void *data, const struct binding_persist *p);
};

/** How a host name is looked up (RFC 3263 §4): a URI with a port names
 * its addresses only; a URI with a transport but no port, the SRV
 * records of that transport; a bare name, NAPTR first (which transport),
 * then SRV; each falls back to A/AAAA with port 5060 when the records
 * are not there. */
enum binding_lookup {
	BINDING_LOOKUP_ADDRESS,         /* A/AAAA */
	BINDING_LOOKUP_SRV,             /* _sip._PROTO.HOST, else A/AAAA */
	BINDING_LOOKUP_NAPTR,           /* NAPTR, else SRV (UDP, then TCP), else A/AAAA */
};

/** The services the machine needs (see the file comment).  Times are
 * milliseconds on a monotonic clock.  `port` is what attach() returned
 * for this binding. */
struct binding_ops {
	void *(*attach)(void *env, struct binding *b);  /* NULL on ENOMEM */
	void (*detach)(void *port);
	uint64_t (*now_ms)(void *port);
	/* The binding's one timer: (re)armed for at_ms; on expiry the
	 * adapter calls binding_handle_timer(). */
	void (*timer_start)(void *port, uint64_t at_ms);
	void (*timer_stop)(void *port);
	void (*random)(void *port, void *buf, size_t len);
	/* Find where to send for a host name (RFC 3263 §4.1-4.2, @how);
	 * the answer comes through binding_handle_resolved() (A/AAAA) or
	 * binding_handle_targets() (SRV: ports and transport found), never
	 * from inside this call.  A new call replaces a pending one. */
	int (*resolve)(void *port, const char *host, enum binding_lookup how,
		       enum sip_proto proto);
	void (*resolve_cancel)(void *port);
	/* A transport to dest over the IAP (ifname, local address), shared
	 * with other bindings: *ret_local is the address and port our
	 * messages leave from (Via, Contact).  @peer_name: the host of the
	 * URI requests go to, which TLS verifies the server's certificate
	 * against (RFC 5922 §4); @ca_file: the configuration's (NULL: the
	 * stack's).  Each get is paired with a put. */
	int (*transport_get)(void *port, const char *ifname,
			     const struct sockaddr *local, enum sip_proto proto,
			     const struct sockaddr *dest, const char *peer_name,
			     const char *ca_file, struct sip_transport **ret_tp,
			     struct sockaddr_storage *ret_local);
	void (*transport_put)(void *port, struct sip_transport *tp);
	/* Start a non-INVITE client transaction for req (ownership passes,
	 * also on error); the outcome comes through
	 * binding_handle_response() or binding_handle_request_failed() with
	 * *ret_id, never from inside this call. */
	int (*send)(void *port, struct sip_transport *tp,
		    const struct sockaddr *dest, osip_message_t *req,
		    uint64_t *ret_id);
	/* Forget a transaction: no outcome will be delivered. */
	void (*cancel)(void *port, uint64_t id);
	/* REGISTER pacing (sip/pacer.h), optional (NULL: never wait).  Asked
	 * before the first REGISTER of an attempt: 0, send now; 1, wait
	 * until the adapter calls binding_handle_paced(), never from inside
	 * this call.  pace_cancel() gives up the place in line. */
	int (*pace_request)(void *port);
	void (*pace_cancel)(void *port);
	/* Optional (NULL: none).  The registrar uses the flow over @tp to
	 * @dest as the binding's (RFC 5626: Require: outbound) and asks for
	 * a keepalive at least every @interval_ms (its Flow-Timer, less a
	 * margin): keep it alive so, a stream by double-CRLF pings, a UDP
	 * flow by STUN (sip/stun.h).  0 over UDP: the registrar no longer
	 * does outbound; no STUN.  A flow found dead is told as
	 * binding_handle_transport_lost(). */
	void (*flow_keepalive)(void *port, struct sip_transport *tp,
			       const struct sockaddr *dest, unsigned interval_ms);
};

/** A binding over the real stack (sip/stack.h). */
struct binding *binding_new(struct sip_stack *stack,
			    const struct binding_config *cfg);
/** A binding over other services (tests). */
struct binding *binding_new_with_ops(const struct binding_ops *ops,
				     void *env,
				     const struct binding_config *cfg);
/** Stops nothing at the registrar (call binding_stop() first); safe
 * from inside an observer.  Returns NULL. */
struct binding *binding_free(struct binding *b);

unsigned binding_get_id(const struct binding *b);
enum binding_state binding_get_state(const struct binding *b);
const char *binding_get_call_id(const struct binding *b);
uint32_t binding_get_cseq(const struct binding *b);
/** The contact being registered or registered now, or NULL. */
const char *binding_get_contact(const struct binding *b);
/** The IAP's interface, or NULL before binding_start(). */
const char *binding_get_ifname(const struct binding *b);
/** Where requests go, in the order they are tried (RFC 3263: the SRV
 * targets, or the name's addresses), as "udp 10.0.0.1:5060" lines
 * separated by ", "; the one in use first marked "*".  "" before a
 * lookup.  Cut at @size. */
void binding_get_targets(const struct binding *b, char *buf, size_t size);
/** Seconds granted by the last 2xx (0 when not registered). */
unsigned binding_get_expires(const struct binding *b);
/** The last failure: returns its code (SIP status or -errno, 0: none);
 * error and reason may be NULL. */
int binding_get_last_error(const struct binding *b,
			   enum binding_error *ret_error,
			   const char **ret_reason);

unsigned binding_add_observer(struct binding *b, binding_observer_fn fn,
			      void *user_data, watchlist_destroy_fn destroy);
bool binding_remove_observer(struct binding *b, unsigned id);
/** The contact list (struct binding_contacts, borrowed; data its
 * argument).  Without one the binding registers, but has nothing to
 * unregister. */
void binding_set_contacts(struct binding *b, const struct binding_contacts *list,
			  void *data);

/** Register over the IAP (interface ifname, source address local_addr,
 * an IP literal of the family to use).
 * @retval -EALREADY  already started (use binding_move())
 * @retval -EBUSY     unregistering
 * @retval -EINVAL */
int binding_start(struct binding *b, const char *ifname,
		  const char *local_addr);
/** Register the contact over another IAP: same Call-ID, next CSeq; the
 * old contact stays at the registrar (see the file comment).  From IDLE
 * it is binding_start(). */
int binding_move(struct binding *b, const char *ifname,
		 const char *local_addr);
/** The outbound proxies from the next binding_start() or binding_move()
 * on: those the IAP's network named by DHCP (RFC 3361), tried in order
 * within an attempt when one refuses (a closed port, 503) or, with
 * another left, stays silent; a new attempt after a failed one starts
 * from the first again.  n 0: the configuration's proxy again.  At most
 * BINDING_PROXIES_MAX are kept.  Requests under way keep theirs.  1
 * changed, 0 the same, -EINVAL (not a URI), -ENOMEM. */
#define BINDING_PROXIES_MAX 8
int binding_set_proxies(struct binding *b, const char *const *uris, size_t n);
/** binding_set_proxies() with one URI, or none (NULL). */
int binding_set_proxy(struct binding *b, const char *uri);
/** The list binding_set_proxies() gave (0: none, the configuration's). */
size_t binding_get_proxies(const struct binding *b, const char *const **ret);
/** The outbound proxy in use (or to be used from the next move), or NULL. */
const char *binding_get_proxy(const struct binding *b);
/** Deregister (RFC 3261 §10.2.2: every contact of the list with
 * expires=0, same Call-ID, next CSeq), then IDLE.  0 also when there was
 * nothing to remove. */
int binding_stop(struct binding *b);
/** No IAP left to send anything over: IDLE at once, without a request
 * (a REGISTER in flight is cancelled).  The contacts registered so far
 * stay in the list for a later removal; the binding registers again
 * with binding_start().  0 (also when idle),
 * -EBUSY (unregistering), -EINVAL. */
int binding_abandon(struct binding *b);
/** Remove one contact, e.g. one registered over an IAP that is gone, by a
 * REGISTER sent over the given IAP (NULL ifname: the current one).  The
 * outcome is a BINDING_EVENT_CONTACT_REMOVED. */
int binding_remove_contact(struct binding *b, const char *contact_uri,
			   const char *ifname, const char *local_addr);
/** Ask for the AOR's bindings (RFC 3261 §10.2.3: a REGISTER without
 * Contact) over the given IAP (NULL: the current one).  The answer is a
 * BINDING_EVENT_QUERY. */
int binding_query(struct binding *b, const char *ifname,
		  const char *local_addr);

/* ---- called by the adapter (sip/stack.c, tests) ----------------------- */

void binding_handle_timer(struct binding *b);
/* error < 0: the lookup failed; else n addresses (port not set). */
void binding_handle_resolved(struct binding *b, int error,
			     const struct sockaddr_storage *addrs, size_t n);
/* The same from SRV (and NAPTR) records: the targets' addresses in the
 * order to try (RFC 2782: priority, then weight), ports set, all over
 * @proto.  A failure of one (no answer, 503, a closed port) moves on to
 * the next within the attempt. */
void binding_handle_targets(struct binding *b, int error, enum sip_proto proto,
			    const struct sockaddr_storage *addrs, size_t n);
/* resp is borrowed for the call. */
void binding_handle_response(struct binding *b, uint64_t id,
			     const osip_message_t *resp);
/* -ETIMEDOUT (Timer F), or the transport's errno. */
void binding_handle_request_failed(struct binding *b, uint64_t id,
				   int error);
/* The same with the transport's cause in words (struct sip_transport's
 * why; NULL or "": none): a TLS failure (SIP_TLS_E*) is then
 * BINDING_ERROR_TLS with @why as its reason. */
void binding_handle_request_failed_why(struct binding *b, uint64_t id, int error,
				       const char *why);
/* A transport this binding holds is gone (a TCP connection closed). */
void binding_handle_transport_lost(struct binding *b,
				   struct sip_transport *tp, int error);
/* Its turn came after pace_request() answered 1. */
void binding_handle_paced(struct binding *b);

/* ---- for the edge's calls (edge/call.c) --------------------------------- */

/** Where requests of the profile's dialogs go now: over the transport the
 * binding registers with (so that the far end sees the registered
 * contact's address), to the registrar or outbound proxy it registers
 * through.  Borrowed until the binding changes state.
 * @retval -ENOTCONN not registered over an IAP now */
#define BINDING_SERVICE_ROUTE_MAX 8
struct binding_route {
	struct sip_transport *tp;
	struct sockaddr_storage dest;
	const char *contact;            /* registered, as sent */
	bool outbound;                  /* the registrar uses this flow (Require:
					   outbound): dialogs' Contacts get ;ob
					   (RFC 5626 §4.3) */
	const char *aor;
	const char *ifname;
	const char *proxy;              /* the outbound proxy's URI, or NULL */
	/* RFC 3608: the registrar's Service-Route of the last 2xx, to
	 * preload (after the outbound proxy) on requests out of a dialog. */
	const char *const *service_route;
	size_t n_service_route;
};
int binding_get_route(const struct binding *b, struct binding_route *ret);
/** Answer the challenge of @challenge (a 401 or 407 to an earlier @req of
 * a dialog) with the profile's credentials: the Authorization or
 * Proxy-Authorization header is added to @req (the next try, its CSeq
 * already raised).  The binding's own REGISTER challenges are not touched.
 * 0, -EACCES (no credentials, or a realm not the configured one),
 * -ENOTSUP (no challenge we can answer), -ENOMEM. */
int binding_authorize(const struct binding *b, const osip_message_t *challenge,
		      osip_message_t *req);
