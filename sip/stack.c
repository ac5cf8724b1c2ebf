/* The SIP stack on the libev loop (see stack.h).
 *
 * Over 1,200 lines: the libosip2 glue is one boundary (callbacks,
 * transactions, the batching run, transports), and the rules below refer
 * to each other.  The edge's calls added the other transaction kinds
 * (IST, ICT) and the taker; name resolution (c-ares) and REGISTER pacing
 * are the parts that could leave first.
 *
 * What libosip2 needs from us, and how we give it (osip 5.3):
 *  - It runs nothing by itself.  osip_timers_*_execute() turn due timers
 *    into events, osip_*_execute() run each transaction's event queue;
 *    osip_timers_gettimeout() says when the next timer is due.  stack_run()
 *    does them and arms one ev_timer.  Each of those walks every
 *    transaction, so with 1,000 bindings a run per message would cost
 *    O(n) per message: work is batched instead.  A message that arrives,
 *    a request a binding queued and the ev_timer only mark work (kick());
 *    one run takes it all before the loop blocks again (ev_prepare, with
 *    an ev_idle so that the loop does not block meanwhile), and runs the
 *    timers only when one is due, after the queued responses (a response
 *    read in the same loop iteration beats its retransmission timer).
 *  - osip_*_execute() iterate over a snapshot of the transaction list, so
 *    a transaction must stay allocated until the run is over: the kill
 *    callback only removes it from osip, reap() frees it later.  A
 *    transaction created from a callback is not in the snapshot: `again`
 *    makes the run go round once more.
 *  - It sends through one callback (cb_send), with a host and port it
 *    computed itself; we ignore those and use the transport and address
 *    each transaction was made with (for a NIST, where the request came
 *    from: RFC 3581 symmetric responses).
 *  - A send that returns 0 over TCP tells the NICT the request is out, so
 *    Timer E stops; over UDP Timer E retransmits (RFC 3261 §17.1.2.2).
 * Bindings learn outcomes only from here, never from inside one of their
 * own calls (binding_ops contract). */
#include "sip/stack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <ares.h>
#include <ev.h>
#include <openssl/rand.h>

#include "base/log.h"
#include "base/util.h"
#include "sip/binding.h"
#include "sip/pacer.h"
#include "sip/resolve.h"
#include "sip/sipmsg.h"
#include "sip/stun.h"
#include "sip/transport.h"

#define RESOLVE_MAX_ADDRS SIP_RESOLVE_MAX_ADDRS

struct stack_port;

struct stack_query {
	struct sip_stack *s;
	struct stack_port *port;        /* NULL once cancelled */
	int status;                     /* ARES_* */
	int proto;                      /* chosen by SRV/NAPTR; -1: addresses only */
	struct sockaddr_storage addrs[RESOLVE_MAX_ADDRS];
	size_t n;
	struct stack_query *next_done;
};

struct held {
	struct sip_transport *tp;
	unsigned n;
};

/* A UDP flow's STUN keepalive (RFC 5626 §4.4.2, sip/stun.h): a Binding
 * Request every interval; retransmitted after 0.5, 1, 2, 4 s (RFC 5389
 * §7.2.1's doubling); no answer within SIP_STACK_PONG_TIMEOUT_MS, or a
 * mapped address that changed, fails the flow.  What it learnt of the
 * flow (local socket to dest) outlives a restart after a failure. */
struct port_stun {
	ev_timer timer;
	struct sip_transport *tp;       /* holds a reference; NULL: off */
	struct sockaddr_storage dest;
	unsigned interval_ms;
	uint8_t txid[STUN_TXID_LEN];
	bool waiting;                   /* a request is out */
	uint64_t sent_at;               /* its first send (ms) */
	unsigned rto_ms;                /* until its next retransmission */
	/* the flow: */
	struct sockaddr_storage local, to;
	struct sockaddr_storage mapped; /* what the far end saw; AF_UNSPEC: not yet */
	bool answered;                  /* a response ever came */
	unsigned unanswered;            /* failures with no response ever */
	bool refused;                   /* it does not do STUN: no keepalives */
};

#define STUN_RTO_MS     500u

/* A binding's side of the stack. */
struct stack_port {
	struct sip_stack *s;
	struct binding *b;
	struct port_stun stun;
	ev_timer timer;
	struct stack_query *query;
	struct held *held;
	size_t n_held;
	struct pacer_entry pace;        /* in the REGISTER pacer's line */
	bool dead;
	struct stack_port *next;
};

/* One transaction of ours: a NICT for a binding, a NIST; for the edge's
 * calls (sip_stack_request(), sip_stack_set_taker()) also ICT and IST. */
struct stack_tx {
	struct sip_stack *s;
	uint64_t id;
	osip_transaction_t *tr;
	struct stack_port *port;        /* NICT; NULL once cancelled */
	const struct sip_client_cbs *cbs;       /* a call's request; NULL once forgotten */
	void *cb_data;
	bool taken;                     /* a server one the taker answers */
	bool invite;                    /* an IST: counted in n_invites */
	struct sip_transport *tp;       /* holds a reference */
	struct sockaddr_storage dest;
	bool server;
	unsigned sends;
	int error;                      /* the transport's, for cb_transport_error */
	int unreachable;                /* an ICMP error about it (-errno), for stack_run() */
	bool finished;                  /* outcome delivered, or cancelled */
	bool killed;                    /* removed from osip; freed by reap() */
	struct stack_tx *next;
};

struct ares_watch {
	struct sip_stack *s;
	ev_io io;
	struct ares_watch *next;
};

struct sip_stack {
	struct ev_loop *loop;
	osip_t *osip;
	ev_timer timer;                 /* osip's next timer */
	uint64_t timer_at;              /* ... on our clock (ms); UINT64_MAX: none */
	bool timers_due;                /* it fired, or a caller asks */
	ev_prepare prepare;             /* queued work, before the loop blocks */
	ev_idle idle;                   /* ... and meanwhile it must not block */
	const struct sip_transport_class *tcls;
	const struct sip_transport_class *tls_cls;      /* for SIP_PROTO_TLS */
	struct sip_tls *tls;            /* TLS contexts and sessions */
	struct sip_transport *transports;
	struct stack_port *ports;
	struct stack_tx *txs;
	uint64_t next_id;
	unsigned depth;                 /* inside one of our callbacks */
	bool running;                   /* inside stack_run() */
	bool again;
	bool freeing;
	/* Something for stack_reap(), per list. */
	bool reap_txs, reap_ports, reap_transports;
	bool unreachable_due;           /* a tx has .unreachable to deliver */
	struct stack_query *done_queries;

	ares_channel ares;
	bool ares_ok;
	ev_timer ares_timer;
	struct ares_watch *ares_watches;

	/* RFC 5626 §4.4.1 keepalives on the connections bindings open
	 * (sip_stack_set_keepalive()); 0: none. */
	unsigned keepalive_ms;

	/* REGISTER pacing: one line for every binding of the stack, let go
	 * from pace_timer as tokens come back. */
	struct pacer pacer;
	ev_timer pace_timer;
	bool pace_reported;             /* "attempts wait" logged */

	sip_request_fn on_request;
	void *on_request_data;
	sip_take_fn take;
	sip_stray_fn stray;
	void *take_data;
	unsigned n_invites;             /* ISTs alive */
	struct sip_stack_stats stats;
};

static void stack_reap(struct sip_stack *s);
static void stack_run(struct sip_stack *s);
static void stun_received(struct sip_stack *s, struct sip_transport *tp,
			  const char *buf, size_t len, const struct sockaddr *from);

/* ---- bookkeeping ------------------------------------------------------- */

static void enter(struct sip_stack *s)
{
	s->depth++;
}

static void leave(struct sip_stack *s)
{
	if (--s->depth == 0)
		stack_reap(s);
}

/* Work was queued: run it once the callbacks of this loop iteration are
 * done (see the file comment). */
static void kick(struct sip_stack *s)
{
	if (s->running) {
		s->again = true;
	} else if (!s->freeing) {
		ev_prepare_start(s->loop, &s->prepare);
		ev_idle_start(s->loop, &s->idle);
	}
}

static void tp_ref(struct sip_transport *tp)
{
	tp->refs++;
}

static void tp_unref(struct sip_stack *s, struct sip_transport *tp)
{
	if (!tp)
		return;
	if (tp->refs == 0) {
		log_err("sip: transport reference underflow");
		return;
	}
	/* Closed by reap() when nobody took it again meanwhile. */
	if (--tp->refs == 0)
		s->reap_transports = true;
}

static void kill_tx(struct sip_stack *s, struct stack_tx *tx)
{
	if (tx->killed)
		return;
	tx->killed = true;
	s->reap_txs = true;
	osip_remove_transaction(s->osip, tx->tr);
}

static void stack_reap(struct sip_stack *s)
{
	struct stack_tx **ptx = &s->txs;
	struct sip_transport **ptp = &s->transports;
	struct stack_port **pp = &s->ports;

	/* Called on the way out of every callback: walk a list only when
	 * something in it died since (1,000 bindings, as many transactions). */
	while (s->reap_txs && *ptx) {
		struct stack_tx *tx = *ptx;

		if (!tx->killed) {
			ptx = &tx->next;
			continue;
		}
		*ptx = tx->next;
		if (tx->invite)
			s->n_invites--;
		osip_transaction_set_your_instance(tx->tr, NULL);
		/* free2: kill_tx() removed it from osip's lists already */
		osip_transaction_free2(tx->tr);
		tp_unref(s, tx->tp);
		free(tx);
	}
	s->reap_txs = false;
	while (s->reap_ports && *pp) {
		struct stack_port *p = *pp;

		if (!p->dead) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		free(p->held);
		free(p);
	}
	s->reap_ports = false;
	while (s->reap_transports && *ptp) {
		struct sip_transport *tp = *ptp;

		if (tp->refs > 0) {
			ptp = &tp->next;
			continue;
		}
		*ptp = tp->next;
		tp->cls->close(tp);
	}
	s->reap_transports = false;
}

/* ---- osip callbacks ---------------------------------------------------- */

static struct stack_tx *tx_of(osip_transaction_t *tr)
{
	return tr ? osip_transaction_get_your_instance(tr) : NULL;
}

static int cb_send(osip_transaction_t *tr, osip_message_t *msg, char *host,
		   int port, int out_socket)
{
	struct stack_tx *tx = tx_of(tr);
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (!tx)
		return -1;
	if (tx->killed)
		return 0;               /* forgotten: say nothing more */
	if (tx->tp->failed) {
		tx->error = tx->tp->error ? tx->tp->error : -ENOTCONN;
		return -1;
	}
	if (osip_message_to_str(msg, &buf, &len) != 0 || !buf) {
		tx->error = -ENOMEM;
		return -1;
	}
	r = tx->tp->cls->send(tx->tp, (struct sockaddr *)&tx->dest, buf, len);
	osip_free(buf);
	if (r < 0) {
		tx->error = r;
		return -1;
	}
	if (tx->server)
		tx->s->stats.responses_sent++;
	else if (tx->sends++ == 0)
		tx->s->stats.requests_sent++;
	else
		tx->s->stats.retransmissions++;
	return 0;
}

static bool port_live(const struct stack_port *p)
{
	return p && !p->dead && p->b;
}

static void cb_nict_final(int type, osip_transaction_t *tr,
			  osip_message_t *msg)
{
	struct stack_tx *tx = tx_of(tr);

	if (!tx || tx->finished || tx->killed)
		return;
	tx->finished = true;
	tx->s->stats.responses_received++;
	if (tx->cbs)
		tx->cbs->response(tx->cb_data, tx->id, msg);
	else if (port_live(tx->port))
		binding_handle_response(tx->port->b, tx->id, msg);
}

static void cb_nict_provisional(int type, osip_transaction_t *tr,
				osip_message_t *msg)
{
	struct stack_tx *tx = tx_of(tr);

	if (!tx)
		return;
	tx->s->stats.responses_received++;
	if (tx->cbs && !tx->finished && !tx->killed)
		tx->cbs->response(tx->cb_data, tx->id, msg);
}

static void cb_nict_timeout(int type, osip_transaction_t *tr,
			    osip_message_t *msg)
{
	struct stack_tx *tx = tx_of(tr);

	if (!tx || tx->finished || tx->killed)
		return;
	tx->finished = true;
	if (tx->cbs)
		tx->cbs->failed(tx->cb_data, tx->id, -ETIMEDOUT);
	else if (port_live(tx->port))
		binding_handle_request_failed(tx->port->b, tx->id, -ETIMEDOUT);
}

static void cb_transport_error(int type, osip_transaction_t *tr, int error)
{
	struct stack_tx *tx = tx_of(tr);

	if (!tx || tx->finished || tx->killed)
		return;
	tx->finished = true;
	if (tx->server) {
		log_debug("sip: cannot send a response: %s",
			  strerror(tx->error ? -tx->error : EIO));
		return;
	}
	if (tx->cbs)
		tx->cbs->failed(tx->cb_data, tx->id, tx->error ? tx->error : -EIO);
	else if (port_live(tx->port))
		binding_handle_request_failed(tx->port->b, tx->id,
					      tx->error ? tx->error : -EIO);
}

static void cb_kill(int type, osip_transaction_t *tr)
{
	struct stack_tx *tx = tx_of(tr);

	if (!tx)
		return;
	kill_tx(tx->s, tx);
}

/* A request for us: answer it from its NIST. */
/* A To tag for our answers: 16 hex digits. */
static void random_tag(char tag[static 17])
{
	unsigned char rnd[8];
	static const char hex[] = "0123456789abcdef";

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++) {
		tag[2 * i] = hex[rnd[i] >> 4];
		tag[2 * i + 1] = hex[rnd[i] & 15];
	}
	tag[16] = '\0';
}

/* What a request gets when nobody takes it: OPTIONS 200; an INVITE 480 at
 * once, never silence (issue 13: no call reaches an application through
 * alrd yet, and a caller must not wait 32 s for a 408); a CANCEL 481 (its
 * INVITE was answered already); anything else 501. */
static int default_answer(const osip_message_t *msg)
{
	if (MSG_IS_OPTIONS(msg))
		return 200;
	if (MSG_IS_INVITE(msg))
		return 480;
	if (MSG_IS_CANCEL(msg))
		return 481;
	return 501;
}

/* A request reached us: count it and build its answer, the handler's
 * (from @min_code to 699) or default_answer().  0 or -errno. */
static int answer_request(struct sip_stack *s, osip_message_t *msg, int min_code,
			  osip_message_t **ret)
{
	const char *reason;
	char tag[17];
	int code = 0;

	s->stats.requests_received++;
	if (s->on_request)
		code = s->on_request(s, msg, s->on_request_data);
	if (code < min_code || code > 699)
		code = default_answer(msg);
	reason = osip_message_get_reason(code);
	random_tag(tag);
	return sipmsg_build_response(msg, code, reason ? reason : "Unknown", tag, ret);
}

/* Offer a request to the taker (sip_stack_set_taker()).  True when it
 * took it; else a status it chose is answered through the transaction. */
static bool offer(struct sip_stack *s, struct stack_tx *tx, osip_message_t *msg)
{
	osip_message_t *resp = NULL;
	const char *reason;
	char tag[17];
	int code;

	if (!s->take)
		return false;
	/* Taken while it is offered: the taker may answer it at once. */
	tx->taken = true;
	code = s->take(s->take_data, tx->id, tx->tp, (struct sockaddr *)&tx->dest, msg);
	if (code == 0) {
		s->stats.requests_received++;
		return true;
	}
	tx->taken = false;
	if (code < 300 || code > 699)
		return false;   /* the stack's own answer */
	s->stats.requests_received++;
	reason = osip_message_get_reason(code);
	random_tag(tag);
	if (sipmsg_build_response(msg, code, reason ? reason : "Unknown", tag, &resp) < 0)
		return true;
	if (sip_tx_send(tx->tr, resp) == 0)
		s->again = true;
	return true;
}

/* An INVITE in its IST: the taker's, or 480 (as without one). */
static void cb_ist_invite(int type, osip_transaction_t *tr, osip_message_t *msg)
{
	struct stack_tx *tx = tx_of(tr);
	osip_message_t *resp = NULL;

	if (!tx || tx->killed || offer(tx->s, tx, msg))
		return;
	if (answer_request(tx->s, msg, 300, &resp) < 0)
		return;
	if (sip_tx_send(tr, resp) == 0)
		tx->s->again = true;
}

/* A request that starts a server transaction (NIST): the taker's, the
 * handler's answer, or default_answer(). */
static void cb_nist_request(int type, osip_transaction_t *tr,
			    osip_message_t *msg)
{
	struct stack_tx *tx = tx_of(tr);
	struct sip_stack *s;
	osip_message_t *resp = NULL;

	if (!tx || tx->killed)
		return;
	s = tx->s;
	if (offer(s, tx, msg))
		return;
	if (answer_request(s, msg, 200, &resp) < 0)
		return;
	if (sip_tx_send(tr, resp) == 0)
		s->again = true;
}

static const int nist_request_types[] = {
	OSIP_NIST_REGISTER_RECEIVED, OSIP_NIST_BYE_RECEIVED,
	OSIP_NIST_OPTIONS_RECEIVED, OSIP_NIST_INFO_RECEIVED,
	OSIP_NIST_CANCEL_RECEIVED, OSIP_NIST_NOTIFY_RECEIVED,
	OSIP_NIST_SUBSCRIBE_RECEIVED, OSIP_NIST_UNKNOWN_REQUEST_RECEIVED,
};

static const int ict_final_types[] = {
	OSIP_ICT_STATUS_2XX_RECEIVED, OSIP_ICT_STATUS_3XX_RECEIVED,
	OSIP_ICT_STATUS_4XX_RECEIVED, OSIP_ICT_STATUS_5XX_RECEIVED,
	OSIP_ICT_STATUS_6XX_RECEIVED,
};

static const int nict_final_types[] = {
	OSIP_NICT_STATUS_2XX_RECEIVED, OSIP_NICT_STATUS_3XX_RECEIVED,
	OSIP_NICT_STATUS_4XX_RECEIVED, OSIP_NICT_STATUS_5XX_RECEIVED,
	OSIP_NICT_STATUS_6XX_RECEIVED,
};

static void set_callbacks(osip_t *o)
{
	osip_set_cb_send_message(o, cb_send);
	for (size_t i = 0; i < ARRAY_SIZE(nict_final_types); i++)
		osip_set_message_callback(o, nict_final_types[i], cb_nict_final);
	osip_set_message_callback(o, OSIP_NICT_STATUS_1XX_RECEIVED,
				  cb_nict_provisional);
	osip_set_message_callback(o, OSIP_NICT_STATUS_TIMEOUT, cb_nict_timeout);
	/* The same for INVITEs (the edge's calls). */
	for (size_t i = 0; i < ARRAY_SIZE(ict_final_types); i++)
		osip_set_message_callback(o, ict_final_types[i], cb_nict_final);
	osip_set_message_callback(o, OSIP_ICT_STATUS_1XX_RECEIVED, cb_nict_provisional);
	osip_set_message_callback(o, OSIP_ICT_STATUS_TIMEOUT, cb_nict_timeout);
	osip_set_message_callback(o, OSIP_IST_INVITE_RECEIVED, cb_ist_invite);
	osip_set_transport_error_callback(o, OSIP_ICT_TRANSPORT_ERROR, cb_transport_error);
	osip_set_transport_error_callback(o, OSIP_IST_TRANSPORT_ERROR, cb_transport_error);
	for (size_t i = 0; i < ARRAY_SIZE(nist_request_types); i++)
		osip_set_message_callback(o, nist_request_types[i],
					  cb_nist_request);
	osip_set_kill_transaction_callback(o, OSIP_NICT_KILL_TRANSACTION, cb_kill);
	osip_set_kill_transaction_callback(o, OSIP_NIST_KILL_TRANSACTION, cb_kill);
	osip_set_kill_transaction_callback(o, OSIP_ICT_KILL_TRANSACTION, cb_kill);
	osip_set_kill_transaction_callback(o, OSIP_IST_KILL_TRANSACTION, cb_kill);
	osip_set_transport_error_callback(o, OSIP_NICT_TRANSPORT_ERROR,
					  cb_transport_error);
	osip_set_transport_error_callback(o, OSIP_NIST_TRANSPORT_ERROR,
					  cb_transport_error);
}

/* ---- running ----------------------------------------------------------- */

static void arm_timer(struct sip_stack *s)
{
	struct timeval tv = { 0, 0 };
	double d;

	ev_timer_stop(s->loop, &s->timer);
	s->timer_at = UINT64_MAX;
	if (s->freeing)
		return;
	osip_timers_gettimeout(s->osip, &tv);
	/* With nothing to wait for, osip says "in a year". */
	if (tv.tv_sec > 30 * 86400)
		return;
	d = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
	s->timer_at = util_now_monotonic_us() / 1000u +
		      (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
	/* A timer osip finds due a hair later than its clock says. */
	if (d < 0.001)
		d = 0.001;
	ev_timer_set(&s->timer, d, 0.);
	ev_timer_start(s->loop, &s->timer);
}

static void deliver_failed_transports(struct sip_stack *s)
{
	for (struct sip_transport *tp = s->transports; tp; tp = tp->next) {
		if (!tp->failed || tp->reported)
			continue;
		tp->reported = true;
		tp_ref(tp);
		/* Its transactions fail now rather than at Timer F. */
		for (struct stack_tx *tx = s->txs; tx; tx = tx->next) {
			if (tx->tp != tp || tx->finished || tx->killed)
				continue;
			tx->finished = true;
			kill_tx(s, tx);
			if (!tx->server && port_live(tx->port))
				binding_handle_request_failed_why(tx->port->b, tx->id,
								  tp->error, tp->why);
		}
		/* And each binding holding it. */
		for (struct stack_port *p = s->ports; p; p = p->next) {
			bool holds = false;

			for (size_t i = 0; i < p->n_held && !holds; i++)
				holds = p->held[i].tp == tp;
			if (holds && port_live(p))
				binding_handle_transport_lost(p->b, tp, tp->error);
		}
		tp_unref(s, tp);
	}
}

/* Requests an ICMP error answered (tp_unreachable()): they fail now rather
 * than at Timer F. */
static void deliver_unreachable(struct sip_stack *s)
{
	if (!s->unreachable_due)
		return;
	s->unreachable_due = false;
	for (struct stack_tx *tx = s->txs; tx; tx = tx->next) {
		if (!tx->unreachable || tx->finished || tx->killed)
			continue;
		tx->finished = true;
		kill_tx(s, tx);
		if (port_live(tx->port))
			binding_handle_request_failed(tx->port->b, tx->id, tx->unreachable);
	}
}

/* What a failed lookup says, as an errno binding_handle_resolved()
 * names (docs/sip.md, "Errors"). */
static int ares_errno(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return 0;
	case ARES_ENOTFOUND:
		return -ENOENT;         /* NXDOMAIN */
	case ARES_ENODATA:
		return -ENODATA;        /* the name, but no address */
	case ARES_ETIMEOUT:
		return -ETIMEDOUT;      /* no name server answered */
	case ARES_ECONNREFUSED:
		return -ECONNREFUSED;   /* nothing listens at the name server */
	case ARES_EREFUSED:
		return -EACCES;         /* it answered REFUSED */
	case ARES_ESERVFAIL:
		return -EAGAIN;         /* it answered SERVFAIL */
	default:
		return -EHOSTUNREACH;
	}
}

static void deliver_queries(struct sip_stack *s)
{
	while (s->done_queries) {
		struct stack_query *q = s->done_queries;
		struct stack_port *p = q->port;

		s->done_queries = q->next_done;
		if (p && p->query == q && port_live(p)) {
			p->query = NULL;
			if (q->proto >= 0)
				binding_handle_targets(p->b, ares_errno(q->status),
						       (enum sip_proto)q->proto, q->addrs, q->n);
			else
				binding_handle_resolved(p->b, ares_errno(q->status), q->addrs,
							q->n);
		}
		free(q);
	}
}

static void stack_run(struct sip_stack *s)
{
	unsigned rounds = 0;

	if (s->running) {
		s->again = true;
		return;
	}
	enter(s);
	s->running = true;
	ev_prepare_stop(s->loop, &s->prepare);
	ev_idle_stop(s->loop, &s->idle);
	do {
		s->again = false;
		/* Responses that came in first, then the timers if one is
		 * due (each walks every transaction), then what they fired. */
		osip_nict_execute(s->osip);
		osip_nist_execute(s->osip);
		osip_ict_execute(s->osip);
		osip_ist_execute(s->osip);
		if (s->timers_due ||
		    util_now_monotonic_us() / 1000u >= s->timer_at) {
			s->timers_due = false;
			osip_timers_nict_execute(s->osip);
			osip_timers_nist_execute(s->osip);
			osip_timers_ict_execute(s->osip);
			osip_timers_ist_execute(s->osip);
			osip_nict_execute(s->osip);
			osip_nist_execute(s->osip);
			osip_ict_execute(s->osip);
			osip_ist_execute(s->osip);
		}
		deliver_failed_transports(s);
		deliver_unreachable(s);
		deliver_queries(s);
		/* Each round is work a callback queued; a binding that keeps
		 * queueing would be a bug, not a reason to spin forever. */
	} while (s->again && ++rounds < 64);
	s->running = false;
	if (s->again)
		kick(s);
	leave(s);
	arm_timer(s);
}

void sip_stack_run(struct sip_stack *s)
{
	if (!s)
		return;
	s->timers_due = true;
	stack_run(s);
}

void sip_stack_drop_transactions(struct sip_stack *s)
{
	if (!s || s->running)
		return;
	enter(s);
	for (struct stack_tx *tx = s->txs; tx; tx = tx->next) {
		tx->finished = true;
		tx->port = NULL;
		kill_tx(s, tx);
	}
	leave(s);
	arm_timer(s);
}

/* Due timers run with the next batch, after whatever else this loop
 * iteration reads (a response beats its retransmission timer). */
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sip_stack *s = container_of(w, struct sip_stack, timer);

	s->timers_due = true;
	kick(s);
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	stack_run(container_of(w, struct sip_stack, prepare));
}

static void idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	stack_run(container_of(w, struct sip_stack, idle));
}

/* ---- receiving --------------------------------------------------------- */

/* The client transaction a response belongs to, if it is to be believed.
 * libosip2 matches it by the top Via's branch and the CSeq method (RFC
 * 3261 §17.1.3); what it does not check is checked here:
 *  - §18.1.2: a response whose top Via sent-by is not the one we inserted
 *    is discarded (someone rewrote it, or it was never meant for us);
 *  - it comes back the way the request went: over TCP on the connection
 *    the request was sent on; over UDP on the same socket, from the
 *    address and port the request was sent to (our Via asks for rport,
 *    and RFC 3581 §4 has the server send the response from where it
 *    received the request).  A datagram from anywhere else is somebody
 *    speaking for the registrar, e.g. a local user who guessed the
 *    branch.
 * Returns NULL with *ret_why set when it is to be dropped. */
static osip_transaction_t *response_transaction(struct sip_stack *s,
						struct sip_transport *tp,
						osip_event_t *evt,
						const struct sockaddr *from,
						const char **ret_why)
{
	osip_transaction_t *tr;
	struct stack_tx *tx;
	osip_via_t *via = NULL;

	/* Client transactions: the bindings' NICTs, the calls' ICTs and NICTs. */
	tr = osip_transaction_find(MSG_IS_RESPONSE_FOR(evt->sip, "INVITE") ?
				   &s->osip->osip_ict_transactions :
				   &s->osip->osip_nict_transactions, evt);
	tx = tx_of(tr);
	if (!tx || tx->server || tx->killed) {
		*ret_why = "matches no transaction";
		return NULL;
	}
	if (tp != tx->tp) {
		*ret_why = "came over another transport than its request";
		return NULL;
	}
	if (tp->proto == SIP_PROTO_UDP &&
	    (!from || !sip_sockaddr_equal(from, (struct sockaddr *)&tx->dest))) {
		*ret_why = "comes from another address than its request went "
			   "to (RFC 3581 §4)";
		return NULL;
	}
	if (osip_message_get_via(evt->sip, 0, &via) < 0 || !via ||
	    !tr->topvia || !sipmsg_via_same_sent_by(via, tr->topvia)) {
		*ret_why = "has a top Via sent-by that is not ours "
			   "(RFC 3261 §18.1.2)";
		return NULL;
	}
	return tr;
}

/*
 * An INVITE nobody takes is answered statelessly, as Kamailio's sl module
 * does: one final answer per INVITE received (a retransmission gets it
 * again), no server transaction, and the ACK for it is dropped (it matches
 * nothing).  A server INVITE transaction would retransmit the answer for
 * 32 s until the ACK (RFC 3261 §17.2.1): a flood of INVITEs, or INVITEs
 * from spoofed sources, would hold a transaction each and have alrd send
 * each answer up to ten times to whoever the Via names.
 */
static void reject_invite(struct sip_stack *s, struct sip_transport *tp,
			  const struct sockaddr *from, osip_message_t *msg, int code)
{
	osip_message_t *resp = NULL;
	char *out = NULL;
	size_t len = 0;
	char tag[17];

	if (code) {
		s->stats.requests_received++;
		random_tag(tag);
		if (sipmsg_build_response(msg, code, osip_message_get_reason(code), tag,
					  &resp) < 0)
			return;
	} else if (answer_request(s, msg, 300, &resp) < 0) {
		return;
	}
	if (osip_message_to_str(resp, &out, &len) == 0 && out &&
	    tp->cls->send(tp, from, out, len) >= 0)
		s->stats.responses_sent++;
	osip_free(out);
	osip_message_free(resp);
}

void sip_stack_receive(struct sip_stack *s, struct sip_transport *tp,
		       const char *buf, size_t len, const struct sockaddr *from)
{
	osip_event_t *evt;
	osip_transaction_t *tr;
	struct stack_tx *tx;
	char host[INET6_ADDRSTRLEN];
	uint16_t port = 0;

	if (!s || !tp || !buf || s->freeing)
		return;
	enter(s);
	if (tp->proto == SIP_PROTO_UDP && stun_is_message(buf, len)) {
		stun_received(s, tp, buf, len, from);
		goto out;
	}
	evt = osip_parse(buf, len);
	if (!evt || !evt->sip || !sipmsg_has_mandatory(evt->sip) ||
	    (MSG_IS_RESPONSE(evt->sip) &&
	     (evt->sip->status_code < 100 || evt->sip->status_code > 699))) {
		s->stats.dropped++;
		log_debug("sip %s %s: malformed message (%zu bytes) dropped",
			  sip_proto_to_param(tp->proto), tp->ifname, len);
		if (evt)
			osip_event_free(evt);
		goto out;
	}
	if (MSG_IS_RESPONSE(evt->sip)) {
		const char *why = NULL;

		tr = response_transaction(s, tp, evt, from, &why);
		if (!tr && s->stray && MSG_IS_RESPONSE_FOR(evt->sip, "INVITE") &&
		    MSG_IS_STATUS_2XX(evt->sip)) {
			/* A 2xx again after its ICT ended: the dialog's. */
			s->stray(s->take_data, tp, from, evt->sip);
			osip_event_free(evt);
			goto out;
		}
		if (!tr) {
			s->stats.dropped++;
			if (sipmsg_sockaddr_host(from, host, sizeof(host),
						 &port) < 0)
				snprintf(host, sizeof(host), "?");
			log_debug("sip %s %s: %d response from %s port %u %s; "
				  "dropped", sip_proto_to_param(tp->proto),
				  tp->ifname, evt->sip->status_code, host, port,
				  why);
			osip_event_free(evt);
			goto out;
		}
		osip_transaction_add_event(tr, evt);
		kick(s);                /* with the others of this burst */
		goto out;
	}

	/* A request: RFC 3261 §18.2.1 received=, RFC 3581 rport. */
	if (sipmsg_sockaddr_host(from, host, sizeof(host), &port) == 0)
		osip_message_fix_last_via_header(evt->sip, host, port);
	if (osip_find_transaction_and_add_event(s->osip, evt) == 0) {
		kick(s);                /* a retransmission */
		goto out;
	}
	if (EVT_IS_RCV_INVITE(evt) && (!s->take || s->n_invites >= SIP_STACK_MAX_INVITES)) {
		if (s->take)
			log_debug("sip %s %s: %u INVITEs in progress; answered 503",
				  sip_proto_to_param(tp->proto), tp->ifname, s->n_invites);
		reject_invite(s, tp, from, evt->sip,
			      s->take ? 503 : 0);
		osip_event_free(evt);
		goto out;
	}
	if (EVT_IS_RCV_ACK(evt) && s->stray) {
		s->stray(s->take_data, tp, from, evt->sip);
		osip_event_free(evt);
		goto out;
	}
	if (!EVT_IS_RCV_REQUEST(evt) && !EVT_IS_RCV_INVITE(evt)) {
		/* An ACK outside a transaction (for a 2xx: alrd sends none
		 * yet), or a response to nothing. */
		s->stats.dropped++;
		log_debug("sip %s %s: %s dropped", sip_proto_to_param(tp->proto),
			  tp->ifname, evt->sip->sip_method ? evt->sip->sip_method : "?");
		osip_event_free(evt);
		goto out;
	}
	tr = osip_create_transaction(s->osip, evt);
	tx = tr ? calloc(1, sizeof(*tx)) : NULL;
	if (!tx) {
		if (tr) {
			osip_remove_transaction(s->osip, tr);
			osip_transaction_free2(tr);
		}
		osip_event_free(evt);
		goto out;
	}
	tx->s = s;
	tx->id = ++s->next_id;
	tx->tr = tr;
	tx->server = true;
	tx->invite = EVT_IS_RCV_INVITE(evt);
	if (tx->invite)
		s->n_invites++;
	tx->tp = tp;
	tp_ref(tp);
	memcpy(&tx->dest, from, sip_sockaddr_len(from));
	tx->next = s->txs;
	s->txs = tx;
	osip_transaction_set_your_instance(tr, tx);
	osip_transaction_add_event(tr, evt);
	kick(s);
out:
	leave(s);
}

static void tp_received(void *data, struct sip_transport *tp, const char *buf,
			size_t len, const struct sockaddr *from)
{
	sip_stack_receive(data, tp, buf, len, from);
}

static void tp_failed(void *data, struct sip_transport *tp, int error)
{
	struct sip_stack *s = data;

	/* Maybe from inside cb_send: told to the users from stack_run(). */
	tp->failed = true;
	tp->error = error < 0 ? error : -EIO;
	kick(s);
}

/* An ICMP error on a UDP transport: the client transactions whose
 * request it concerns (sip_icmp_judge(), docs/sip.md) fail with it at the
 * next run.  Maybe from inside cb_send: nothing is delivered from here. */
static void tp_unreachable(void *data, struct sip_transport *tp,
			   const struct sip_icmp_error *e)
{
	struct sip_stack *s = data;
	char from[INET6_ADDRSTRLEN] = "?", about[INET6_ADDRSTRLEN] = "?";
	const char *why = "matches no request";
	enum sip_icmp_verdict v = SIP_ICMP_IGNORED;
	uint16_t port = 0;

	for (struct stack_tx *tx = s->txs; tx; tx = tx->next) {
		osip_generic_param_t *branch = NULL;
		const char *w = NULL;
		int error = 0;

		if (tx->tp != tp || tx->server || tx->finished || tx->killed ||
		    tx->unreachable || !tx->tr->topvia ||
		    osip_via_param_get_byname(tx->tr->topvia, "branch", &branch) != 0 ||
		    !branch || !branch->gvalue)
			continue;
		v = sip_icmp_judge(e, (struct sockaddr *)&tx->dest, branch->gvalue,
				   &error, &w);
		if (v == SIP_ICMP_IGNORED) {
			why = w;
			continue;
		}
		tx->unreachable = error;
		s->unreachable_due = true;
		break;                  /* a branch is one transaction's */
	}
	if (e->offender.ss_family == AF_UNSPEC ||
	    sipmsg_sockaddr_host((struct sockaddr *)&e->offender, from, sizeof(from), NULL) < 0)
		snprintf(from, sizeof(from), "?");
	sipmsg_sockaddr_host((struct sockaddr *)&e->dest, about, sizeof(about), &port);
	if (v == SIP_ICMP_IGNORED) {
		s->stats.dropped++;
		log_debug("sip udp %s: ICMP%s type %u code %u from %s about %s port %u "
			  "ignored: %s", tp->ifname, e->icmp6 ? "v6" : "", e->type, e->code,
			  from, about, port, why);
		return;
	}
	log_debug("sip udp %s: ICMP%s type %u code %u from %s about %s port %u: %s, "
		  "its request fails", tp->ifname, e->icmp6 ? "v6" : "", e->type, e->code,
		  from, about, port, sip_icmp_verdict_to_str(v));
	kick(s);
}

static const struct sip_transport_cbs tp_cbs = {
	.received = tp_received,
	.failed = tp_failed,
	.unreachable = tp_unreachable,
};

/* ---- c-ares on the loop ------------------------------------------------ */

static void ares_arm(struct sip_stack *s)
{
	struct timeval tv, *t;

	ev_timer_stop(s->loop, &s->ares_timer);
	if (!s->ares_ok || s->freeing)
		return;
	t = ares_timeout(s->ares, NULL, &tv);
	if (!t)
		return;
	ev_timer_set(&s->ares_timer,
		     (double)t->tv_sec + (double)t->tv_usec / 1e6, 0.);
	ev_timer_start(s->loop, &s->ares_timer);
}

static void ares_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ares_watch *aw = container_of(w, struct ares_watch, io);
	struct sip_stack *s = aw->s;
	int fd = w->fd;

	/* May close the socket and free aw. */
	ares_process_fd(s->ares, (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
			(revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	ares_arm(s);
}

static void ares_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sip_stack *s = container_of(w, struct sip_stack, ares_timer);

	ares_process_fd(s->ares, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	ares_arm(s);
}

static void ares_sock_cb(void *data, ares_socket_t fd, int readable,
			 int writable)
{
	struct sip_stack *s = data;
	struct ares_watch **pw = &s->ares_watches, *w;

	while (*pw && (*pw)->io.fd != fd)
		pw = &(*pw)->next;
	w = *pw;
	if (!readable && !writable) {
		if (w) {
			ev_io_stop(s->loop, &w->io);
			*pw = w->next;
			free(w);
		}
		return;
	}
	if (!w) {
		w = calloc(1, sizeof(*w));
		if (!w)
			return;         /* the query times out */
		w->s = s;
		ev_io_init(&w->io, ares_io_cb, fd, 0);
		w->next = s->ares_watches;
		s->ares_watches = w;
	}
	ev_io_stop(s->loop, &w->io);
	ev_io_set(&w->io, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
	ev_io_start(s->loop, &w->io);
}

static void resolve_cb(void *arg, int status, int proto,
		       const struct sockaddr_storage *addrs, size_t n)
{
	struct stack_query *q = arg;
	struct sip_stack *s = q->s;

	if (s->freeing || !q->port) {
		free(q);
		return;
	}
	q->status = status;
	q->proto = proto;
	q->n = n < RESOLVE_MAX_ADDRS ? n : RESOLVE_MAX_ADDRS;
	memcpy(q->addrs, addrs, q->n * sizeof(addrs[0]));
	/* Delivered from stack_run(): this may be inside resolve(). */
	q->next_done = s->done_queries;
	s->done_queries = q;
	kick(s);
}

/* ---- STUN keepalives of UDP flows (struct port_stun) -------------------- */

static uint64_t op_now(void *port);

static void stun_arm(struct stack_port *p, unsigned ms)
{
	struct ev_loop *loop = p->s->loop;

	ev_timer_stop(loop, &p->stun.timer);
	ev_now_update(loop);
	ev_timer_set(&p->stun.timer, (double)ms / 1000., 0.);
	ev_timer_start(loop, &p->stun.timer);
}

static void stun_stop(struct stack_port *p)
{
	struct port_stun *st = &p->stun;

	ev_timer_stop(p->s->loop, &st->timer);
	if (st->tp)
		tp_unref(p->s, st->tp);
	st->tp = NULL;
	st->waiting = false;
}

static const char *addr_str(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	uint16_t port = 0;

	if (sipmsg_sockaddr_host((const struct sockaddr *)ss, host, sizeof(host), &port) < 0)
		snprintf(buf, size, "?");
	else if (ss->ss_family == AF_INET6)
		snprintf(buf, size, "[%s]:%u", host, port);
	else
		snprintf(buf, size, "%s:%u", host, port);
	return buf;
}

/* The flow failed: the binding registers again (and asks again). */
static void stun_flow_failed(struct stack_port *p, int error)
{
	struct sip_transport *tp = p->stun.tp;

	tp_ref(tp);
	stun_stop(p);
	if (port_live(p))
		binding_handle_transport_lost(p->b, tp, error);
	tp_unref(p->s, tp);
}

static void stun_send(struct stack_port *p)
{
	struct port_stun *st = &p->stun;
	uint8_t req[STUN_HEADER_LEN];
	size_t n = stun_binding_request(req, st->txid);
	int r = st->tp->cls->send(st->tp, (const struct sockaddr *)&st->dest, (const char *)req, n);

	if (r < 0)
		log_debug("sip udp %s: STUN keepalive not sent: %s", st->tp->ifname, strerror(-r));
}

static void stun_due(struct stack_port *p)
{
	struct port_stun *st = &p->stun;
	uint64_t now = op_now(p), elapsed;
	char to[INET6_ADDRSTRLEN + 8];

	if (!st->tp)
		return;
	if (!st->waiting) {
		if (RAND_bytes(st->txid, sizeof(st->txid)) != 1 &&
		    getrandom(st->txid, sizeof(st->txid), 0) != (ssize_t)sizeof(st->txid))
			st->txid[0]++;          /* XXX no randomness: at least another id */
		st->waiting = true;
		st->sent_at = now;
		st->rto_ms = STUN_RTO_MS;
		stun_send(p);
		stun_arm(p, st->rto_ms);
		return;
	}
	elapsed = now - st->sent_at;
	if (elapsed < SIP_STACK_PONG_TIMEOUT_MS) {
		stun_send(p);
		st->rto_ms *= 2;
		stun_arm(p, (unsigned)(st->rto_ms < SIP_STACK_PONG_TIMEOUT_MS - elapsed ?
				       st->rto_ms : SIP_STACK_PONG_TIMEOUT_MS - elapsed));
		return;
	}
	addr_str(&st->dest, to, sizeof(to));
	if (!st->answered && ++st->unanswered >= 2) {
		/* Twice no answer at all, while its REGISTERs are answered:
		 * it does not do STUN, whatever its Require: outbound says. */
		log_warning("sip udp %s: %s answers no STUN keepalive (RFC 5626 §4.4.2); "
			    "none over this flow any more", st->tp->ifname, to);
		st->refused = true;
		stun_stop(p);
		return;
	}
	log_info("sip udp %s: no answer to a STUN keepalive to %s within %u s: the flow failed",
		 st->tp->ifname, to, SIP_STACK_PONG_TIMEOUT_MS / 1000u);
	stun_flow_failed(p, -ETIMEDOUT);
}

static void stun_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct stack_port *p = container_of(w, struct stack_port, stun.timer);
	struct sip_stack *s = p->s;

	(void)loop;
	(void)revents;
	enter(s);
	if (port_live(p))
		stun_due(p);
	leave(s);
}

/* Keep @tp's flow to @dest alive by STUN every @interval_ms (0: stop). */
static void stun_start(struct stack_port *p, struct sip_transport *tp,
		       const struct sockaddr *dest, unsigned interval_ms)
{
	struct port_stun *st = &p->stun;

	if (interval_ms == 0 || !dest) {
		stun_stop(p);
		return;
	}
	if (!sip_sockaddr_equal((const struct sockaddr *)&st->local,
				(const struct sockaddr *)&tp->local) ||
	    !sip_sockaddr_equal((const struct sockaddr *)&st->to, dest)) {
		/* another flow: nothing learnt holds */
		memcpy(&st->local, &tp->local, sizeof(st->local));
		memset(&st->to, 0, sizeof(st->to));
		memcpy(&st->to, dest, sip_sockaddr_len(dest));
		st->mapped.ss_family = AF_UNSPEC;
		st->answered = st->refused = false;
		st->unanswered = 0;
	}
	if (st->refused)
		return;
	st->interval_ms = interval_ms;
	if (st->tp == tp && sip_sockaddr_equal((const struct sockaddr *)&st->dest, dest)) {
		if (!st->waiting)
			stun_arm(p, interval_ms);
		return;
	}
	stun_stop(p);
	st->tp = tp;
	tp_ref(tp);
	memset(&st->dest, 0, sizeof(st->dest));
	memcpy(&st->dest, dest, sip_sockaddr_len(dest));
	stun_arm(p, interval_ms);
}

static void stun_received(struct sip_stack *s, struct sip_transport *tp,
			  const char *buf, size_t len, const struct sockaddr *from)
{
	struct sockaddr_storage mapped;
	uint8_t txid[STUN_TXID_LEN];
	enum stun_class cls;
	struct stack_port *p;
	struct port_stun *st;
	char was[INET6_ADDRSTRLEN + 8], now[INET6_ADDRSTRLEN + 8];
	int code;

	if (stun_parse(buf, len, &cls, txid, &mapped, &code) < 0 || cls == STUN_OTHER) {
		s->stats.dropped++;
		log_debug("sip udp %s: STUN message (%zu bytes) dropped: %s", tp->ifname, len,
			  cls == STUN_OTHER ? "not a Binding response" : "malformed");
		return;
	}
	for (p = s->ports; p; p = p->next)
		if (port_live(p) && p->stun.tp == tp && p->stun.waiting &&
		    memcmp(p->stun.txid, txid, sizeof(txid)) == 0 &&
		    sip_sockaddr_equal(from, (const struct sockaddr *)&p->stun.dest))
			break;
	if (!p) {
		s->stats.dropped++;
		log_debug("sip udp %s: STUN response for no keepalive of ours dropped", tp->ifname);
		return;
	}
	st = &p->stun;
	st->waiting = false;
	addr_str(&st->dest, was, sizeof(was));
	if (cls == STUN_RESPONSE_ERROR) {
		log_warning("sip udp %s: %s answers STUN keepalives with error %d; "
			    "none over this flow any more", tp->ifname, was, code);
		st->refused = true;
		stun_stop(p);
		return;
	}
	st->answered = true;
	st->unanswered = 0;
	if (mapped.ss_family != AF_UNSPEC && st->mapped.ss_family != AF_UNSPEC &&
	    !sip_sockaddr_equal((const struct sockaddr *)&mapped,
				(const struct sockaddr *)&st->mapped)) {
		addr_str(&st->mapped, was, sizeof(was));
		addr_str(&mapped, now, sizeof(now));
		/* RFC 5626 §4.4.2: a NAT on the way rebound it. */
		log_info("sip udp %s: the far end sees this flow as %s now, was %s: the flow failed",
			 tp->ifname, now, was);
		st->mapped = mapped;
		stun_flow_failed(p, -ECONNRESET);
		return;
	}
	if (mapped.ss_family != AF_UNSPEC && st->mapped.ss_family == AF_UNSPEC) {
		st->mapped = mapped;
		log_debug("sip udp %s: STUN: %s sees this flow as %s", tp->ifname, was,
			  addr_str(&mapped, now, sizeof(now)));
	}
	stun_arm(p, st->interval_ms);
}

/* ---- binding_ops ------------------------------------------------------- */

static void port_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct stack_port *p = container_of(w, struct stack_port, timer);
	struct sip_stack *s = p->s;

	enter(s);
	if (port_live(p))
		binding_handle_timer(p->b);
	leave(s);
}

static void *op_attach(void *env, struct binding *b)
{
	struct sip_stack *s = env;
	struct stack_port *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->s = s;
	p->b = b;
	ev_timer_init(&p->timer, port_timer_cb, 0., 0.);
	ev_timer_init(&p->stun.timer, stun_timer_cb, 0., 0.);
	p->next = s->ports;
	s->ports = p;
	return p;
}

static void op_detach(void *port)
{
	struct stack_port *p = port;
	struct sip_stack *s = p->s;

	ev_timer_stop(s->loop, &p->timer);
	stun_stop(p);
	pacer_remove(&s->pacer, &p->pace);
	if (p->query) {
		p->query->port = NULL;
		p->query = NULL;
	}
	/* Its transactions go too, also those only absorbing
	 * retransmissions until Timer K: a late 2xx then matches nothing
	 * and is dropped. */
	for (struct stack_tx *tx = s->txs; tx; tx = tx->next)
		if (tx->port == p) {
			tx->port = NULL;
			tx->finished = true;
			kill_tx(s, tx);
		}
	for (size_t i = 0; i < p->n_held; i++)
		while (p->held[i].n--)
			tp_unref(s, p->held[i].tp);
	p->n_held = 0;
	p->b = NULL;
	p->dead = true;
	s->reap_ports = true;
	if (s->depth == 0)
		stack_reap(s);
}

static uint64_t op_now(void *port)
{
	return util_now_monotonic_us() / 1000u;
}

static void op_timer_start(void *port, uint64_t at)
{
	struct stack_port *p = port;
	struct ev_loop *loop = p->s->loop;
	uint64_t now = op_now(port);

	ev_timer_stop(loop, &p->timer);
	/* ev timers count from the loop's cached time. */
	ev_now_update(loop);
	ev_timer_set(&p->timer, at > now ? (double)(at - now) / 1000.0 : 0., 0.);
	ev_timer_start(loop, &p->timer);
}

static void op_timer_stop(void *port)
{
	struct stack_port *p = port;

	ev_timer_stop(p->s->loop, &p->timer);
}

static void op_random(void *port, void *buf, size_t len)
{
	if (RAND_bytes(buf, (int)len) != 1 &&
	    getrandom(buf, len, 0) != (ssize_t)len)
		memset(buf, 0, len);    /* XXX no randomness: tags collide */
}

static void op_resolve_cancel(void *port)
{
	struct stack_port *p = port;

	if (p->query) {
		p->query->port = NULL;
		p->query = NULL;
	}
}

static void op_flow_keepalive(void *port, struct sip_transport *tp,
			      const struct sockaddr *dest, unsigned interval_ms)
{
	if (!tp)
		return;
	if (tp->proto == SIP_PROTO_UDP)
		stun_start(port, tp, dest, interval_ms);
	else if (tp->cls->keepalive)
		tp->cls->keepalive(tp, interval_ms, SIP_STACK_PONG_TIMEOUT_MS);
}

static int op_resolve(void *port, const char *host, enum binding_lookup how,
		      enum sip_proto proto)
{
	struct stack_port *p = port;
	struct sip_stack *s = p->s;
	struct stack_query *q;
	int r;

	op_resolve_cancel(port);
	if (!s->ares_ok)
		return -EIO;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->s = s;
	q->port = p;
	p->query = q;
	/* RFC 3263 (sip/resolve.h); /etc/hosts first for addresses. */
	r = sip_resolve_start(s->ares, host, how, proto, resolve_cb, q);
	if (r < 0) {
		p->query = NULL;
		free(q);
		return r;
	}
	ares_arm(s);
	return 0;
}

static int port_hold(struct stack_port *p, struct sip_transport *tp)
{
	struct held *h;

	for (size_t i = 0; i < p->n_held; i++)
		if (p->held[i].tp == tp) {
			p->held[i].n++;
			return 0;
		}
	h = realloc(p->held, (p->n_held + 1) * sizeof(*h));
	if (!h)
		return -ENOMEM;
	p->held = h;
	p->held[p->n_held++] = (struct held){ tp, 1 };
	return 0;
}

static bool port_holds(const struct stack_port *p, const struct sip_transport *tp)
{
	for (size_t i = 0; i < p->n_held; i++)
		if (p->held[i].tp == tp)
			return true;
	return false;
}

static void port_unhold(struct stack_port *p, struct sip_transport *tp)
{
	for (size_t i = 0; i < p->n_held; i++)
		if (p->held[i].tp == tp) {
			if (--p->held[i].n == 0)
				p->held[i] = p->held[--p->n_held];
			return;
		}
}

static int op_transport_get(void *port, const char *ifname,
			    const struct sockaddr *local, enum sip_proto proto,
			    const struct sockaddr *dest, const char *peer_name,
			    const char *ca_file, struct sip_transport **ret_tp,
			    struct sockaddr_storage *ret_local)
{
	struct stack_port *p = port;
	struct sip_stack *s = p->s;
	struct sip_transport *tp;
	struct sip_transport_peer peer = { peer_name, ca_file, s->tls };
	int r;

	/* A TLS connection is shared only by bindings that want the
	 * server it was verified to be, with the same trust. */
	for (tp = s->transports; tp; tp = tp->next)
		if (!tp->failed && tp->proto == proto &&
		    strcmp(tp->ifname, ifname) == 0 &&
		    sip_sockaddr_same_host((struct sockaddr *)&tp->local, local) &&
		    (proto == SIP_PROTO_UDP ||
		     sip_sockaddr_equal((struct sockaddr *)&tp->remote, dest)) &&
		    (proto != SIP_PROTO_TLS ||
		     (peer_name && strcasecmp(tp->peer_name, peer_name) == 0 &&
		      (!tp->peer_ca_file == !ca_file) &&
		      (!ca_file || strcmp(tp->peer_ca_file, ca_file) == 0))))
			break;
	if (!tp) {
		const struct sip_transport_class *cls =
			proto == SIP_PROTO_TLS ? s->tls_cls : s->tcls;

		r = cls->open(s->loop, proto, ifname, local,
			      proto == SIP_PROTO_UDP ? NULL : dest,
			      proto == SIP_PROTO_TLS ? &peer : NULL, &tp_cbs, s, &tp);
		if (r < 0) {
			/* The binding logs its BACKOFF with this error. */
			log_debug("sip %s transport over %s: %s",
				  sip_proto_to_param(proto), ifname,
				  strerror(-r));
			return r;
		}
		tp->refs = 0;
		tp->failed = tp->reported = false;
		tp->error = 0;
		if (proto != SIP_PROTO_UDP && s->keepalive_ms && tp->cls->keepalive)
			tp->cls->keepalive(tp, s->keepalive_ms, SIP_STACK_PONG_TIMEOUT_MS);
		tp->next = s->transports;
		s->transports = tp;
		s->stats.transports_opened++;
		{
			char host[INET6_ADDRSTRLEN] = "?";
			uint16_t lport = 0;

			sipmsg_sockaddr_host((struct sockaddr *)&tp->local, host,
					     sizeof(host), &lport);
			log_debug("sip %s transport over %s from %s port %u",
				  sip_proto_to_param(proto), ifname, host, lport);
		}
	}
	r = port_hold(p, tp);
	if (r < 0)
		return r;
	tp_ref(tp);
	*ret_tp = tp;
	memset(ret_local, 0, sizeof(*ret_local));
	memcpy(ret_local, &tp->local, sip_sockaddr_len((struct sockaddr *)&tp->local));
	return 0;
}

static void op_transport_put(void *port, struct sip_transport *tp)
{
	struct stack_port *p = port;

	if (!tp)
		return;
	port_unhold(p, tp);
	if (p->stun.tp == tp && !port_holds(p, tp))
		stun_stop(p);           /* the binding left the flow */
	tp_unref(p->s, tp);
	if (p->s->depth == 0)
		stack_reap(p->s);
}

/* A client transaction for a binding (@port) or a call (@cbs): an ICT
 * for an INVITE, else a NICT.  @req is consumed. */
static int start_client(struct sip_stack *s, struct sip_transport *tp,
			const struct sockaddr *dest, osip_message_t *req,
			struct stack_port *port, const struct sip_client_cbs *cbs,
			void *cb_data, uint64_t *ret_id)
{
	osip_transaction_t *tr = NULL;
	struct stack_tx *tx;

	tx = calloc(1, sizeof(*tx));
	if (!tx) {
		osip_message_free(req);
		return -ENOMEM;
	}
	if (sip_tx_client_new(s->osip, req, &tr) < 0) {
		free(tx);
		return -ENOMEM;
	}
	tx->s = s;
	tx->id = ++s->next_id;
	tx->tr = tr;
	tx->port = port;
	tx->cbs = cbs;
	tx->cb_data = cb_data;
	tx->tp = tp;
	tp_ref(tp);
	memcpy(&tx->dest, dest, sip_sockaddr_len(dest));
	tx->next = s->txs;
	s->txs = tx;
	osip_transaction_set_your_instance(tr, tx);
	if (ret_id)
		*ret_id = tx->id;
	kick(s);
	return 0;
}

static int op_send(void *port, struct sip_transport *tp,
		   const struct sockaddr *dest, osip_message_t *req,
		   uint64_t *ret_id)
{
	struct stack_port *p = port;

	return start_client(p->s, tp, dest, req, p, NULL, NULL, ret_id);
}

static void op_cancel(void *port, uint64_t id)
{
	struct stack_port *p = port;
	struct sip_stack *s = p->s;

	for (struct stack_tx *tx = s->txs; tx; tx = tx->next)
		if (tx->id == id && !tx->server) {
			tx->finished = true;
			tx->port = NULL;
			kill_tx(s, tx);
			break;
		}
	if (s->depth == 0)
		stack_reap(s);
}

/* ---- REGISTER pacing ----------------------------------------------------- */

/* Arm pace_timer for the first in line (stopped when nobody waits). */
static void pace_arm(struct sip_stack *s)
{
	uint64_t now, next;

	ev_timer_stop(s->loop, &s->pace_timer);
	if (s->freeing)
		return;
	now = op_now(NULL);
	next = pacer_next_ms(&s->pacer, now);
	if (next == UINT64_MAX)
		return;
	ev_now_update(s->loop);
	ev_timer_set(&s->pace_timer, (double)(next - now) / 1000.0, 0.);
	ev_timer_start(s->loop, &s->pace_timer);
}

static void pace_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sip_stack *s = container_of(w, struct sip_stack, pace_timer);
	uint64_t now = op_now(NULL);
	struct pacer_entry *e;

	enter(s);
	/* One at a time: a binding let go may free others, which leave the
	 * line (op_detach) before we look at it again. */
	while ((e = pacer_pop(&s->pacer, now))) {
		struct stack_port *p = container_of(e, struct stack_port, pace);

		if (port_live(p))
			binding_handle_paced(p->b);
	}
	leave(s);
	if (!s->pacer.head && s->pace_reported) {
		struct pacer_stats st;

		pacer_get_stats(&s->pacer, &st);
		log_info("sip: REGISTER pacing: nobody waits any more (%llu "
			 "attempts waited so far, longest %llu ms)",
			 (unsigned long long)st.waited,
			 (unsigned long long)st.max_wait_ms);
		s->pace_reported = false;
	}
	pace_arm(s);
}

static int op_pace_request(void *port)
{
	struct stack_port *p = port;
	struct sip_stack *s = p->s;

	if (pacer_acquire(&s->pacer, &p->pace, op_now(NULL)))
		return 0;
	if (!s->pace_reported) {
		log_info("sip: REGISTER pacing: attempts wait for their turn "
			 "(register-rate %u/s, register-burst %u)",
			 s->pacer.rate, s->pacer.burst);
		s->pace_reported = true;
	}
	/* Those in line already keep the timer armed for the first. */
	if (!ev_is_active(&s->pace_timer))
		pace_arm(s);
	return 1;
}

static void op_pace_cancel(void *port)
{
	struct stack_port *p = port;

	/* The timer may fire for nobody; it re-arms itself. */
	pacer_remove(&p->s->pacer, &p->pace);
}

void sip_stack_set_keepalive(struct sip_stack *s, unsigned interval_ms)
{
	if (!s || s->keepalive_ms == interval_ms)
		return;
	s->keepalive_ms = interval_ms;
	for (struct sip_transport *tp = s->transports; tp; tp = tp->next)
		if (tp->proto != SIP_PROTO_UDP && !tp->failed && tp->cls->keepalive)
			tp->cls->keepalive(tp, interval_ms, SIP_STACK_PONG_TIMEOUT_MS);
}

void sip_stack_set_register_pacing(struct sip_stack *s, unsigned rate,
				   unsigned burst)
{
	if (!s)
		return;
	if (s->pacer.rate != rate || s->pacer.burst != burst)
		log_info("sip: REGISTER pacing: register-rate %u/s%s, "
			 "register-burst %u", rate, rate ? "" : " (unlimited)",
			 burst);
	pacer_configure(&s->pacer, rate, burst, op_now(NULL));
	pace_arm(s);
}

void sip_stack_get_register_pacing(const struct sip_stack *s,
				   struct sip_stack_pacing *ret)
{
	struct pacer_stats st;

	memset(ret, 0, sizeof(*ret));
	if (!s)
		return;
	pacer_get_stats(&s->pacer, &st);
	ret->rate = s->pacer.rate;
	ret->burst = s->pacer.burst;
	ret->granted = st.granted;
	ret->waited = st.waited;
	ret->max_wait_ms = st.max_wait_ms;
	ret->waiting = st.queued;
	ret->max_waiting = st.max_queued;
}

static const struct binding_ops stack_ops = {
	.attach = op_attach,
	.detach = op_detach,
	.now_ms = op_now,
	.timer_start = op_timer_start,
	.timer_stop = op_timer_stop,
	.random = op_random,
	.resolve = op_resolve,
	.flow_keepalive = op_flow_keepalive,
	.resolve_cancel = op_resolve_cancel,
	.transport_get = op_transport_get,
	.transport_put = op_transport_put,
	.send = op_send,
	.cancel = op_cancel,
	.pace_request = op_pace_request,
	.pace_cancel = op_pace_cancel,
};

const struct binding_ops *sip_stack_binding_ops(void)
{
	return &stack_ops;
}

/* ---- life -------------------------------------------------------------- */

/* libosip2 prints its complaints (a message it cannot parse) to stdout
 * unless told otherwise; what comes from the network is a debug matter
 * for us (STYLE), and stdout may not be ours to write to. */
static void osip_trace_cb(const char *fi, int li, osip_trace_level_t level,
			  const char *chfr, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void osip_trace_cb(const char *fi, int li, osip_trace_level_t level,
			  const char *chfr, va_list ap)
{
	char buf[256];
	size_t n;

	if (!log_enabled(LOG_DEBUG))
		return;
	vsnprintf(buf, sizeof(buf), chfr, ap);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_debug("osip (%s:%d): %s", fi ? fi : "?", li, buf);
}

struct sip_stack *sip_stack_new(struct ev_loop *loop)
{
	struct ares_options opts = { 0 };
	struct sip_stack *s;
	static bool ares_initialized;   /* and osip's traces */
	int r;

	if (!loop) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->loop = loop;
	s->tcls = &sip_transport_socket_class;
	s->tls_cls = &sip_transport_tls_class;
	s->tls = sip_tls_new();
	if (!s->tls || osip_init(&s->osip) != 0) {
		sip_tls_free(s->tls);
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	osip_set_application_context(s->osip, s);
	set_callbacks(s->osip);
	sipmsg_library_init();
	ev_timer_init(&s->timer, timer_cb, 0., 0.);
	s->timer_at = UINT64_MAX;
	ev_prepare_init(&s->prepare, prepare_cb);
	ev_idle_init(&s->idle, idle_cb);
	ev_timer_init(&s->ares_timer, ares_timer_cb, 0., 0.);
	ev_timer_init(&s->pace_timer, pace_timer_cb, 0., 0.);
	pacer_init(&s->pacer, PACER_DEFAULT_RATE, PACER_DEFAULT_BURST,
		   op_now(NULL));

	if (!ares_initialized) {
		ares_library_init(ARES_LIB_INIT_ALL);
		/* fatal, bug and error only: levels below OSIP_WARNING */
		osip_trace_initialize_func(OSIP_WARNING, osip_trace_cb);
		ares_initialized = true;
	}
	opts.sock_state_cb = ares_sock_cb;
	opts.sock_state_cb_data = s;
	/* A name server that does not answer is said within 6 s (2 s, then
	 * 4 s), not c-ares's 75 s (5 s, 4 tries, doubling). */
	opts.timeout = SIP_STACK_DNS_TIMEOUT_MS;
	opts.tries = SIP_STACK_DNS_TRIES;
	r = ares_init_options(&s->ares, &opts, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS |
			      ARES_OPT_TRIES);
	if (r == ARES_SUCCESS)
		s->ares_ok = true;
	else
		log_warning("sip: name resolution unavailable: %s",
			    ares_strerror(r));
	return s;
}

struct sip_stack *sip_stack_free(struct sip_stack *s)
{
	if (!s)
		return NULL;
	for (struct stack_port *p = s->ports; p; p = p->next)
		if (!p->dead)
			log_err("sip: stack freed with binding %u still attached",
				binding_get_id(p->b));
	s->freeing = true;
	ev_prepare_stop(s->loop, &s->prepare);
	ev_idle_stop(s->loop, &s->idle);
	ev_timer_stop(s->loop, &s->timer);
	ev_timer_stop(s->loop, &s->ares_timer);
	ev_timer_stop(s->loop, &s->pace_timer);
	if (s->ares_ok)
		ares_destroy(s->ares);  /* cancels queries: ares_cb frees them */
	while (s->ares_watches) {
		struct ares_watch *w = s->ares_watches;

		s->ares_watches = w->next;
		ev_io_stop(s->loop, &w->io);
		free(w);
	}
	while (s->done_queries) {
		struct stack_query *q = s->done_queries;

		s->done_queries = q->next_done;
		free(q);
	}
	for (struct stack_tx *tx = s->txs; tx; tx = tx->next)
		kill_tx(s, tx);
	stack_reap(s);
	/* Bindings hold none now: whatever is left had no users. */
	while (s->transports) {
		struct sip_transport *tp = s->transports;

		s->transports = tp->next;
		tp->cls->close(tp);
	}
	while (s->ports) {
		struct stack_port *p = s->ports;

		s->ports = p->next;
		ev_timer_stop(s->loop, &p->timer);
		free(p->held);
		free(p);
	}
	osip_release(s->osip);
	/* after the transports: they borrow it */
	sip_tls_free(s->tls);
	free(s);
	return NULL;
}

void sip_stack_get_stats(const struct sip_stack *s, struct sip_stack_stats *ret)
{
	struct sip_tls_stats ts;

	if (!s || !ret)
		return;
	*ret = s->stats;
	sip_tls_get_stats(s->tls, &ts);
	ret->tls_handshakes = ts.handshakes;
	ret->tls_resumed = ts.resumed;
	ret->tls_refused = ts.refused;
}

int sip_stack_set_tls_ca_file(struct sip_stack *s, const char *path)
{
	if (!s)
		return -EINVAL;
	return sip_tls_set_ca_file(s->tls, path);
}

void sip_stack_set_request_handler(struct sip_stack *s, sip_request_fn fn,
				   void *user_data)
{
	if (!s)
		return;
	s->on_request = fn;
	s->on_request_data = user_data;
}

void sip_stack_set_transport_class(struct sip_stack *s,
				   const struct sip_transport_class *cls)
{
	if (s && cls)
		s->tcls = s->tls_cls = cls;
}

/* ---- requests for the edge's calls -------------------------------------- */

void sip_stack_set_taker(struct sip_stack *s, sip_take_fn take, sip_stray_fn stray,
			 void *user_data)
{
	if (!s)
		return;
	s->take = take;
	s->stray = stray;
	s->take_data = user_data;
}

static struct stack_tx *find_tx(struct sip_stack *s, uint64_t id, bool server)
{
	for (struct stack_tx *tx = s->txs; tx; tx = tx->next)
		if (tx->id == id && tx->server == server && !tx->killed)
			return tx;
	return NULL;
}

int sip_stack_respond(struct sip_stack *s, uint64_t id, osip_message_t *resp)
{
	struct stack_tx *tx = s ? find_tx(s, id, true) : NULL;

	if (!tx || !tx->taken || tx->finished) {
		osip_message_free(resp);
		return -ENOENT;
	}
	if (resp->status_code >= 200)
		tx->finished = true;
	if (sip_tx_send(tx->tr, resp) < 0)
		return -ENOMEM;
	kick(s);
	return 0;
}

int sip_stack_request(struct sip_stack *s, struct sip_transport *tp, const struct sockaddr *dest,
		      osip_message_t *req, const struct sip_client_cbs *cbs, void *user_data,
		      uint64_t *ret_id)
{
	if (!s || !tp || !dest || !req || !cbs || tp->failed) {
		osip_message_free(req);
		return tp && tp->failed ? (tp->error ? tp->error : -ENOTCONN) : -EINVAL;
	}
	return start_client(s, tp, dest, req, NULL, cbs, user_data, ret_id);
}

void sip_stack_forget(struct sip_stack *s, uint64_t id)
{
	struct stack_tx *tx = s ? find_tx(s, id, false) : NULL;

	/* Its transaction runs on (an INVITE's ACK, retransmissions) and
	 * ends by itself; nobody hears of it. */
	if (tx)
		tx->cbs = NULL;
}

int sip_stack_send(struct sip_stack *s, struct sip_transport *tp, const struct sockaddr *dest,
		   const osip_message_t *msg)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (!s || !tp || !dest || !msg)
		return -EINVAL;
	if (tp->failed)
		return tp->error ? tp->error : -ENOTCONN;
	if (osip_message_to_str((osip_message_t *)msg, &buf, &len) != 0 || !buf)
		return -ENOMEM;
	r = tp->cls->send(tp, dest, buf, len);
	osip_free(buf);
	if (r >= 0)
		s->stats.requests_sent += MSG_IS_REQUEST(msg) ? 1 : 0;
	return r < 0 ? r : 0;
}

void sip_stack_transport_hold(struct sip_stack *s, struct sip_transport *tp)
{
	if (s && tp)
		tp_ref(tp);
}

void sip_stack_transport_put(struct sip_stack *s, struct sip_transport *tp)
{
	if (!s || !tp)
		return;
	tp_unref(s, tp);
	if (s->depth == 0)
		stack_reap(s);
}

/* ---- libosip2 transactions, for the stack and the edge ------------------ */

int sip_tx_send(osip_transaction_t *tr, osip_message_t *msg)
{
	osip_event_t *evt = osip_new_outgoing_sipmessage(msg);

	if (!evt) {
		osip_message_free(msg);
		return -ENOMEM;
	}
	evt->transactionid = tr->transactionid;
	osip_transaction_add_event(tr, evt);
	return 0;
}

int sip_tx_client_new(osip_t *osip, osip_message_t *req, osip_transaction_t **ret)
{
	osip_transaction_t *tr = NULL;
	osip_event_t *evt;

	if (osip_transaction_init(&tr, MSG_IS_INVITE(req) ? ICT : NICT, osip, req) != 0) {
		osip_message_free(req);
		return -ENOMEM;
	}
	evt = osip_new_outgoing_sipmessage(req);
	if (!evt) {
		osip_remove_transaction(osip, tr);
		osip_transaction_free2(tr);
		osip_message_free(req);
		return -ENOMEM;
	}
	evt->transactionid = tr->transactionid;
	osip_transaction_add_event(tr, evt);
	*ret = tr;
	return 0;
}
