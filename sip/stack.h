/* The SIP stack: one libosip2 instance (osip_t) and what drives it from
 * the libev loop, the transports of every IAP, and name resolution
 * (c-ares, also on the loop).
 *
 * Client transactions (NICT) carry the bindings' REGISTERs; server
 * transactions (NIST) answer requests that reach us (DESIGN §8: alrd will
 * be the device's edge proxy).  One ev_timer is armed from
 * osip_timers_gettimeout(); the timer and event queues run when it fires
 * or a message arrives; nothing polls.
 *
 * Transports belong to the stack, not to a binding: a UDP socket per
 * (interface, local address) and a TCP or TLS connection per (interface,
 * local address, registrar) are shared by every binding that asks for them,
 * and the loss of a connection is reported to each binding holding it. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sip/sip_osip.h"

struct ev_loop;
struct binding_ops;
struct sip_stack;
struct sip_transport;
struct sip_transport_class;

struct sip_stack *sip_stack_new(struct ev_loop *loop);
/* Free the bindings first.  Returns NULL. */
struct sip_stack *sip_stack_free(struct sip_stack *s);

/* What binding_new() runs on. */
const struct binding_ops *sip_stack_binding_ops(void);

struct sip_stack_stats {
	unsigned long requests_sent;     /* first transmissions */
	unsigned long retransmissions;   /* Timer E */
	unsigned long responses_received; /* matched to a client transaction */
	unsigned long requests_received;
	unsigned long responses_sent;
	unsigned long dropped;           /* malformed, or matching nothing */
	unsigned long transports_opened;
	unsigned long tls_handshakes;    /* TLS: completed */
	unsigned long tls_resumed;       /* ... of which resumed a session */
	unsigned long tls_refused;       /* certificate or handshake failed */
};

void sip_stack_get_stats(const struct sip_stack *s,
			 struct sip_stack_stats *ret);

/* REGISTER pacing (sip/pacer.h, docs/sip.md): at most `burst` attempts at
 * once, then `rate` per second (0: unlimited), for every binding of the
 * stack.  Defaults PACER_DEFAULT_RATE and PACER_DEFAULT_BURST; may change
 * at any time (reload): those waiting keep their order. */
/* Keepalives on the connections the bindings open (TCP): a double-CRLF
 * ping after @interval_ms, and the connection counts as lost when nothing
 * comes back within SIP_STACK_PONG_TIMEOUT_MS (RFC 5626 §4.4.1: 10 s);
 * the binding then registers again over a new one.  0: none (the
 * default).  Applies to open connections too. */
#define SIP_STACK_PONG_TIMEOUT_MS       10000u
/* Name lookups (c-ares): the first try's timeout and how many tries. */
#define SIP_STACK_DNS_TIMEOUT_MS        2000
#define SIP_STACK_DNS_TRIES             2
void sip_stack_set_keepalive(struct sip_stack *s, unsigned interval_ms);
/* TLS: trust the CA certificates of @path (PEM) instead of the system's
 * store; NULL or "": the system's (docs/sip.md, "TLS").  New connections
 * use it; 0 or -ENOMEM. */
int sip_stack_set_tls_ca_file(struct sip_stack *s, const char *path);
void sip_stack_set_register_pacing(struct sip_stack *s, unsigned rate,
				   unsigned burst);

struct sip_stack_pacing {
	unsigned rate;
	unsigned burst;
	unsigned long long granted;     /* attempts started */
	unsigned long long waited;      /* of which waited for their turn */
	unsigned long long max_wait_ms;
	size_t waiting;                 /* in line now */
	size_t max_waiting;
};

void sip_stack_get_register_pacing(const struct sip_stack *s,
				   struct sip_stack_pacing *ret);

/* Requests reaching us (INVITE, NOTIFY, OPTIONS, ...).  The handler
 * returns the status to answer with, 0 for the default: 200 for OPTIONS,
 * 480 for an INVITE (at once, never silence: calls do not reach
 * applications through alrd yet, docs/edge.md), 481 for a CANCEL, 501 for
 * the rest.  An INVITE is answered statelessly (one answer per INVITE,
 * no transaction: no retransmissions to a spoofed source; a handler may
 * only refuse it, 300..699). */
typedef int (*sip_request_fn)(struct sip_stack *s, const osip_message_t *req,
			      void *user_data);
void sip_stack_set_request_handler(struct sip_stack *s, sip_request_fn fn,
				   void *user_data);

/* ---- requests for the edge's calls (edge/call.c) ------------------------ */

/* A request that reached alrd over an IAP, offered to the edge before
 * anyone else: return 0 to take it (from then on it is answered only
 * through sip_stack_respond() with @id, which stays valid until its final
 * answer is sent), or a status 300..699 for the stack to answer with.
 * An INVITE offered here runs in a server INVITE transaction (IST); at
 * most SIP_STACK_MAX_INVITES at once, more get a stateless 503.  A
 * CANCEL is offered too: its INVITE is the taker's to end with 487. */
#define SIP_STACK_MAX_INVITES 256
typedef int (*sip_take_fn)(void *user_data, uint64_t id, struct sip_transport *tp,
			   const struct sockaddr *from, const osip_message_t *req);
/* A message that matches no transaction and that only a dialog can
 * place: an ACK (for a 2xx), a 2xx retransmitted after its INVITE
 * transaction ended (RFC 3261 §13.2.2.4: ACK it again). */
typedef void (*sip_stray_fn)(void *user_data, struct sip_transport *tp,
			     const struct sockaddr *from, const osip_message_t *msg);
void sip_stack_set_taker(struct sip_stack *s, sip_take_fn take, sip_stray_fn stray,
			 void *user_data);
/* Answer taken request @id with @resp (consumed, even on error): a 1xx,
 * or the final answer.  0, -ENOENT (no such request, or answered). */
int sip_stack_respond(struct sip_stack *s, uint64_t id, osip_message_t *resp);

/* A request of the edge's calls, sent over @tp to @dest in a client
 * transaction (ICT for an INVITE, NICT otherwise).  Outcomes come from
 * the stack's run, never from inside sip_stack_request(). */
struct sip_client_cbs {
	/* Each response: provisional ones, then one final (a non-2xx to an
	 * INVITE is acknowledged by the transaction; a 2xx is the caller's
	 * to ACK, sip_stack_send()). */
	void (*response)(void *user_data, uint64_t id, const osip_message_t *resp);
	/* No final response: -ETIMEDOUT (Timer B/F), or the transport's error. */
	void (*failed)(void *user_data, uint64_t id, int error);
};
/* @req is consumed.  0 with *ret_id, or -errno. */
int sip_stack_request(struct sip_stack *s, struct sip_transport *tp, const struct sockaddr *dest,
		      osip_message_t *req, const struct sip_client_cbs *cbs, void *user_data,
		      uint64_t *ret_id);
/* No more callbacks for request @id (its transaction runs out by itself). */
void sip_stack_forget(struct sip_stack *s, uint64_t id);
/* Send @msg outside any transaction: an ACK for a 2xx, a 2xx sent again. */
int sip_stack_send(struct sip_stack *s, struct sip_transport *tp, const struct sockaddr *dest,
		   const osip_message_t *msg);
/* Keep @tp open while a dialog uses it (as a binding's hold does). */
void sip_stack_transport_hold(struct sip_stack *s, struct sip_transport *tp);
void sip_stack_transport_put(struct sip_stack *s, struct sip_transport *tp);

/* ---- libosip2 transactions, for the stack and the edge ------------------ */

/* Give transaction @tr @msg (consumed) to send at its next run.  0, or
 * -ENOMEM (@msg freed). */
int sip_tx_send(osip_transaction_t *tr, osip_message_t *msg);
/* A client transaction of @osip for @req (consumed, also on error): an
 * ICT for an INVITE, else a NICT, with @req queued as its first message.
 * 0 or -ENOMEM. */
int sip_tx_client_new(osip_t *osip, osip_message_t *req, osip_transaction_t **ret);

/* ---- for tests and the fuzzer ------------------------------------------ */

/* Make transports with another class (before any binding starts). */
void sip_stack_set_transport_class(struct sip_stack *s,
				   const struct sip_transport_class *cls);
/* Bytes received on a transport, as its class delivers them. */
void sip_stack_receive(struct sip_stack *s, struct sip_transport *tp,
		       const char *buf, size_t len,
		       const struct sockaddr *from);
/* Run due timers and queued events now. */
void sip_stack_run(struct sip_stack *s);
/* Forget every transaction now, as if all their timers had run out
 * (bindings get no outcome: free them first). */
void sip_stack_drop_transactions(struct sip_stack *s);
