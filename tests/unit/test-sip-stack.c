/* The stack (sip/stack.c) with a fake transport class on a real libev
 * loop: transports shared per IAP (UDP) and per registrar (TCP), responses
 * matched to their NICT and delivered, Timer E retransmissions over UDP
 * only, a failed connection reported to its transactions and to the
 * bindings holding it, requests answered from a NIST. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ev.h>

#include "base/util.h"
#include "sip/binding.h"
#include "sip/stack.h"
#include "sip/transport.h"
#include "tests/tools/contact-list.h"

/* ---- fake transports --------------------------------------------------- */

struct ftp {
	struct sip_transport base;
	const struct sip_transport_cbs *cbs;
	void *cb_data;
	int sends;
	char last[8192];
	struct sockaddr_storage last_dest;
	bool closed;
};

#define MAX_TPS 16
static struct ftp *tps[MAX_TPS];
static size_t n_tps;
static const struct sip_transport_class fake_class;

static int f_open(struct ev_loop *loop, enum sip_proto proto,
		  const char *ifname, const struct sockaddr *local,
		  const struct sockaddr *remote,
		  const struct sip_transport_peer *peer,
		  const struct sip_transport_cbs *cbs, void *cb_data,
		  struct sip_transport **ret)
{
	struct ftp *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	assert_true(n_tps < MAX_TPS);
	t->base.cls = &fake_class;
	t->base.proto = proto;
	snprintf(t->base.ifname, sizeof(t->base.ifname), "%s", ifname);
	memcpy(&t->base.local, local, sizeof(struct sockaddr_in));
	((struct sockaddr_in *)&t->base.local)->sin_port =
		htons((uint16_t)(6000 + n_tps));
	if (remote)
		memcpy(&t->base.remote, remote, sizeof(struct sockaddr_in));
	t->cbs = cbs;
	t->cb_data = cb_data;
	tps[n_tps++] = t;
	*ret = &t->base;
	return 0;
}

static int f_send(struct sip_transport *tp, const struct sockaddr *dest,
		  const char *buf, size_t len)
{
	struct ftp *t = (struct ftp *)tp;

	assert_true(len < sizeof(t->last));
	memcpy(t->last, buf, len);
	t->last[len] = '\0';
	memcpy(&t->last_dest, dest, sizeof(struct sockaddr_in));
	t->sends++;
	return 0;
}

static void f_close(struct sip_transport *tp)
{
	struct ftp *t = (struct ftp *)tp;

	t->closed = true;       /* kept for the checks; freed at the end */
}

static const struct sip_transport_class fake_class = {
	.name = "fake", .open = f_open, .send = f_send, .close = f_close,
};

/* ---- fixture ----------------------------------------------------------- */

struct world {
	struct ev_loop *loop;
	struct sip_stack *s;
	struct binding *b[4];
	struct contact_list contacts[4];        /* each binding's */
	enum binding_state last_state[4];
	enum binding_error last_error[4];
};

static void observer(struct binding *b, const struct binding_event *ev,
		     void *user_data)
{
	struct world *w = user_data;

	for (int i = 0; i < 4; i++)
		if (w->b[i] == b && ev->type == BINDING_EVENT_STATE) {
			w->last_state[i] = ev->new_state;
			w->last_error[i] = ev->error;
		}
}

static struct world *world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	n_tps = 0;
	w->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(w->loop);
	w->s = sip_stack_new(w->loop);
	assert_non_null(w->s);
	sip_stack_set_transport_class(w->s, &fake_class);
	return w;
}

static struct binding *add_binding(struct world *w, int i, const char *user,
				   const char *registrar)
{
	const struct binding_config cfg = {
		.aor = "sip:alice@example.test",
		.registrar = registrar,
		.password = "secret",
		.expires = 600,
		.contact_user = user,
	};

	w->b[i] = binding_new(w->s, &cfg);
	assert_non_null(w->b[i]);
	binding_add_observer(w->b[i], observer, w, NULL);
	binding_set_contacts(w->b[i], &contact_list_ops, &w->contacts[i]);
	return w->b[i];
}

static void world_free(struct world *w)
{
	for (int i = 0; i < 4; i++)
		binding_free(w->b[i]);
	sip_stack_free(w->s);
	ev_loop_destroy(w->loop);
	for (size_t i = 0; i < n_tps; i++) {
		assert_true(tps[i]->closed);
		free(tps[i]);
	}
	free(w);
}

/* Run the loop until nothing is ready (timers not due are left). */
static void settle(struct world *w)
{
	for (int i = 0; i < 10; i++)
		ev_run(w->loop, EVRUN_NOWAIT);
}

struct until {
	ev_prepare prepare;
	ev_timer deadline;
	struct world *w;
	bool (*done)(struct world *w, const void *arg);
	const void *arg;
};

/* Before the loop blocks, after the stack's own ev_prepare has sent what
 * its timers and callbacks queued (a lower priority runs later). */
static void until_prepare_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
	struct until *u = p->data;

	if (u->done(u->w, u->arg))
		ev_break(loop, EVBREAK_ONE);
}

static void until_deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	ev_break(loop, EVBREAK_ONE);
}

/* Run the loop, blocking between events, until done(w, arg) holds.  The
 * stack's timers are libev timers on the real clock (osip's Timer E is
 * 500 ms of it), so this waits as long as the event takes and no longer;
 * the deadline only bounds a failure.  Returns whether done(w, arg)
 * holds. */
static bool run_until(struct world *w,
		      bool (*done)(struct world *w, const void *arg),
		      const void *arg, double deadline_s)
{
	struct until u = { .w = w, .done = done, .arg = arg };

	ev_prepare_init(&u.prepare, until_prepare_cb);
	u.prepare.data = &u;
	ev_set_priority(&u.prepare, EV_MINPRI);
	ev_prepare_start(w->loop, &u.prepare);
	ev_now_update(w->loop);
	ev_timer_init(&u.deadline, until_deadline_cb, deadline_s, 0.);
	ev_timer_start(w->loop, &u.deadline);
	ev_run(w->loop, 0);
	ev_prepare_stop(w->loop, &u.prepare);
	ev_timer_stop(w->loop, &u.deadline);
	return done(w, arg);
}

/* run_until() conditions: a transport has sent n messages; the stack has
 * sent n requests (first transmissions). */
struct sends {
	const struct ftp *t;
	int n;
};

static bool has_sent(struct world *w, const void *arg)
{
	const struct sends *c = arg;

	return c->t->sends >= c->n;
}

static bool requests_sent(struct world *w, const void *arg)
{
	struct sip_stack_stats st;

	sip_stack_get_stats(w->s, &st);
	return st.requests_sent >= *(const unsigned long *)arg;
}

/* The answer to the request last sent over t with code (a 200 grants the
 * first Contact 600 s), changed by tamper when given, as bytes. */
static char *make_answer(struct ftp *t, int code, const char *reason,
			 void (*tamper)(osip_message_t *resp), size_t *ret_len)
{
	osip_message_t *req = NULL, *resp = NULL;
	osip_contact_t *c = NULL;
	char *text, *uri = NULL, extra[512] = "";
	size_t len;

	assert_int_equal(osip_message_init(&req), 0);
	assert_int_equal(osip_message_parse(req, t->last, strlen(t->last)), 0);
	assert_int_equal(sipmsg_build_response(req, code, reason, "t", &resp), 0);
	/* 200: the registrar lists what it holds, not what was removed */
	for (int pos = 0; code == 200 &&
	     osip_message_get_contact(req, pos, &c) >= 0; pos++) {
		osip_generic_param_t *p = NULL;

		if (osip_contact_param_get_byname(c, "expires", &p) == 0 && p &&
		    p->gvalue && strcmp(p->gvalue, "0") == 0)
			continue;
		assert_int_equal(osip_uri_to_str(c->url, &uri), 0);
		snprintf(extra, sizeof(extra), "<%s>;expires=600", uri);
		osip_free(uri);
		assert_int_equal(osip_message_set_contact(resp, extra), 0);
		break;
	}
	if (code == 401)
		assert_int_equal(osip_message_set_www_authenticate(resp,
			"Digest realm=\"example.test\", nonce=\"n1\", qop=\"auth\""), 0);
	if (tamper)
		tamper(resp);
	assert_int_equal(sipmsg_to_bytes(resp, &text, &len), 0);
	osip_message_free(req);
	osip_message_free(resp);
	*ret_len = len;
	return text;
}

/* Deliver it over t from where the request went. */
static void answer(struct world *w, struct ftp *t, int code, const char *reason)
{
	struct sockaddr_in from;
	size_t len;
	char *text = make_answer(t, code, reason, NULL, &len);

	memcpy(&from, &t->last_dest, sizeof(from));
	sip_stack_receive(w->s, &t->base, text, len, (struct sockaddr *)&from);
	free(text);
	settle(w);
}

/* ---- tests ------------------------------------------------------------- */

static void test_udp_shared_per_iap(void **state)
{
	struct world *w = world_new();

	add_binding(w, 0, "dev-a", "sip:10.0.9.1");
	add_binding(w, 1, "dev-b", "sip:10.0.9.2");
	add_binding(w, 2, "dev-c", "sip:10.0.9.1");
	assert_int_equal(binding_start(w->b[0], "wlan0", "10.0.1.2"), 0);
	assert_int_equal(binding_start(w->b[1], "wlan0", "10.0.1.2"), 0);
	assert_int_equal(binding_start(w->b[2], "wwan0", "10.0.2.2"), 0);
	settle(w);
	/* One UDP socket per IAP, whatever the registrar. */
	assert_int_equal(n_tps, 2);
	assert_string_equal(tps[0]->base.ifname, "wlan0");
	assert_int_equal(tps[0]->sends, 2);
	assert_string_equal(tps[1]->base.ifname, "wwan0");
	assert_int_equal(tps[1]->sends, 1);
	/* Contacts carry the shared socket's port. */
	assert_string_equal(binding_get_contact(w->b[0]), "sip:dev-a@10.0.1.2:6000");
	assert_string_equal(binding_get_contact(w->b[1]), "sip:dev-b@10.0.1.2:6000");
	world_free(w);
}

static void test_tcp_per_destination(void **state)
{
	struct world *w = world_new();

	add_binding(w, 0, "dev-a", "sip:10.0.9.1;transport=tcp");
	add_binding(w, 1, "dev-b", "sip:10.0.9.1;transport=tcp");
	add_binding(w, 2, "dev-c", "sip:10.0.9.2;transport=tcp");
	for (int i = 0; i < 3; i++)
		assert_int_equal(binding_start(w->b[i], "wlan0", "10.0.1.2"), 0);
	settle(w);
	assert_int_equal(n_tps, 2);
	assert_int_equal(tps[0]->base.proto, SIP_PROTO_TCP);
	assert_int_equal(tps[0]->sends, 2);
	assert_int_equal(tps[1]->sends, 1);
	world_free(w);
}

static void test_response_matched(void **state)
{
	struct world *w = world_new();
	struct sip_stack_stats st;
	char stray[8192], *p;

	add_binding(w, 0, "dev-a", "sip:10.0.9.1");
	add_binding(w, 1, "dev-b", "sip:10.0.9.1");
	assert_int_equal(binding_start(w->b[0], "wlan0", "10.0.1.2"), 0);
	settle(w);
	assert_int_equal(binding_start(w->b[1], "wlan0", "10.0.1.2"), 0);
	settle(w);
	/* A response whose branch matches nothing is dropped. */
	memcpy(stray, tps[0]->last, sizeof(stray));
	p = strstr(stray, "branch=z9hG4bK");
	assert_non_null(p);
	p[14] = p[14] == 'a' ? 'b' : 'a';
	{
		osip_message_t *req = NULL, *resp = NULL;
		char *text;
		size_t len;

		osip_message_init(&req);
		assert_int_equal(osip_message_parse(req, stray, strlen(stray)), 0);
		assert_int_equal(sipmsg_build_response(req, 200, "OK", "t", &resp), 0);
		assert_int_equal(sipmsg_to_bytes(resp, &text, &len), 0);
		sip_stack_receive(w->s, &tps[0]->base, text, len,
				  (struct sockaddr *)&tps[0]->last_dest);
		free(text);
		osip_message_free(req);
		osip_message_free(resp);
	}
	sip_stack_receive(w->s, &tps[0]->base, "garbage\r\n\r\n", 11,
			  (struct sockaddr *)&tps[0]->last_dest);
	settle(w);
	sip_stack_get_stats(w->s, &st);
	assert_int_equal(st.dropped, 2);
	assert_int_equal(binding_get_state(w->b[1]), BINDING_REGISTERING);
	/* The right one reaches binding 1 only. */
	answer(w, tps[0], 200, "OK");
	assert_int_equal(binding_get_state(w->b[1]), BINDING_REGISTERED);
	assert_int_equal(binding_get_state(w->b[0]), BINDING_REGISTERING);
	sip_stack_get_stats(w->s, &st);
	assert_int_equal(st.responses_received, 1);
	world_free(w);
}

static void via_host_rewritten(osip_message_t *resp)
{
	osip_via_t *v = NULL;

	assert_true(osip_message_get_via(resp, 0, &v) >= 0);
	osip_free(v->host);
	v->host = osip_strdup("10.0.1.3");
}

static void via_port_rewritten(osip_message_t *resp)
{
	osip_via_t *v = NULL;

	assert_true(osip_message_get_via(resp, 0, &v) >= 0);
	osip_free(v->port);
	v->port = osip_strdup("6001");
}

static void via_port_dropped(osip_message_t *resp)
{
	osip_via_t *v = NULL;

	assert_true(osip_message_get_via(resp, 0, &v) >= 0);
	osip_free(v->port);
	v->port = NULL;         /* 5060, not ours (6000) */
}

/* Receive the 200 for what went over t last, tampered with, from
 * addr:port; then the binding must still wait. */
static void spoof(struct world *w, struct ftp *t, struct sip_transport *over,
		  void (*tamper)(osip_message_t *), const char *addr,
		  uint16_t port)
{
	struct sockaddr_in from = { .sin_family = AF_INET,
				    .sin_port = htons(port) };
	struct sip_stack_stats before, after;
	size_t len;
	char *text = make_answer(t, 200, "OK", tamper, &len);

	inet_pton(AF_INET, addr, &from.sin_addr);
	sip_stack_get_stats(w->s, &before);
	sip_stack_receive(w->s, over, text, len, (struct sockaddr *)&from);
	free(text);
	settle(w);
	sip_stack_get_stats(w->s, &after);
	assert_int_equal(after.dropped, before.dropped + 1);
	assert_int_equal(after.responses_received, before.responses_received);
}

/* RFC 3261 §18.1.2: a response that matches a transaction by branch but
 * comes from elsewhere, or whose top Via sent-by is not ours, is
 * discarded; the transaction goes on and takes the real one. */
static void test_response_from_elsewhere(void **state)
{
	struct world *w = world_new();

	add_binding(w, 0, "dev-a", "sip:10.0.9.1");
	add_binding(w, 1, "dev-b", "sip:10.0.9.1;transport=tcp");
	assert_int_equal(binding_start(w->b[0], "wlan0", "10.0.1.2"), 0);
	assert_int_equal(binding_start(w->b[1], "wlan0", "10.0.1.2"), 0);
	settle(w);
	assert_int_equal(n_tps, 2);
	assert_int_equal(tps[0]->base.proto, SIP_PROTO_UDP);
	assert_int_equal(tps[1]->base.proto, SIP_PROTO_TCP);

	/* UDP: another host, another port of the registrar's host */
	spoof(w, tps[0], &tps[0]->base, NULL, "10.0.1.66", 5060);
	spoof(w, tps[0], &tps[0]->base, NULL, "10.0.9.1", 5070);
	/* the sent-by rewritten: host, port, port left out */
	spoof(w, tps[0], &tps[0]->base, via_host_rewritten, "10.0.9.1", 5060);
	spoof(w, tps[0], &tps[0]->base, via_port_rewritten, "10.0.9.1", 5060);
	spoof(w, tps[0], &tps[0]->base, via_port_dropped, "10.0.9.1", 5060);
	assert_int_equal(binding_get_state(w->b[0]), BINDING_REGISTERING);

	/* TCP: the answer to what went over the connection, arriving on the
	 * UDP socket from the registrar's address; a rewritten sent-by on
	 * the connection itself */
	spoof(w, tps[1], &tps[0]->base, NULL, "10.0.9.1", 5060);
	spoof(w, tps[1], &tps[1]->base, via_host_rewritten, "10.0.9.1", 5060);
	assert_int_equal(binding_get_state(w->b[1]), BINDING_REGISTERING);

	/* The real ones are still taken. */
	answer(w, tps[0], 200, "OK");
	assert_int_equal(binding_get_state(w->b[0]), BINDING_REGISTERED);
	answer(w, tps[1], 200, "OK");
	assert_int_equal(binding_get_state(w->b[1]), BINDING_REGISTERED);
	world_free(w);
}

/* RFC 3261 §17.1.2.2: Timer E = T1 (500 ms) over UDP only.  What must
 * not happen is checked when a UDP retransmission due after it has gone:
 * the stack runs every due osip timer in one pass, so a retransmission
 * due earlier would have gone by then. */
static void test_udp_retransmits_tcp_does_not(void **state)
{
	struct world *w = world_new();
	struct sip_stack_stats st;
	struct ftp *tcp, *udp;

	add_binding(w, 0, "dev-a", "sip:10.0.9.1");
	add_binding(w, 1, "dev-b", "sip:10.0.9.1;transport=tcp");
	add_binding(w, 2, "dev-c", "sip:10.0.9.1");
	/* TCP first: a Timer E of its transaction would be due before the
	 * UDP one's. */
	assert_int_equal(binding_start(w->b[1], "wlan0", "10.0.1.2"), 0);
	settle(w);
	assert_int_equal(binding_start(w->b[0], "wlan0", "10.0.1.2"), 0);
	settle(w);
	assert_int_equal(n_tps, 2);
	tcp = tps[0];
	udp = tps[1];
	assert_int_equal(tcp->base.proto, SIP_PROTO_TCP);
	assert_int_equal(udp->base.proto, SIP_PROTO_UDP);
	assert_int_equal(tcp->sends, 1);
	assert_int_equal(udp->sends, 1);
	assert_true(run_until(w, has_sent, &(struct sends){ udp, 2 }, 5.));
	assert_int_equal(tcp->sends, 1);
	sip_stack_get_stats(w->s, &st);
	assert_int_equal(st.requests_sent, 2);
	assert_int_equal(st.retransmissions, 1);
	/* Answered: no more retransmissions.  A binding started after the
	 * answer on another UDP socket retransmits after the answered
	 * transaction would have. */
	answer(w, udp, 401, "Unauthorized");
	assert_int_equal(udp->sends, 3);        /* the one with credentials */
	answer(w, udp, 200, "OK");
	assert_int_equal(binding_get_state(w->b[0]), BINDING_REGISTERED);
	assert_int_equal(binding_start(w->b[2], "wwan0", "10.0.2.2"), 0);
	settle(w);
	assert_int_equal(n_tps, 3);
	assert_true(run_until(w, has_sent, &(struct sends){ tps[2], 2 }, 5.));
	assert_int_equal(udp->sends, 3);
	assert_int_equal(tcp->sends, 1);
	sip_stack_get_stats(w->s, &st);
	assert_int_equal(st.retransmissions, 2);
	assert_int_equal(binding_get_state(w->b[0]), BINDING_REGISTERED);
	world_free(w);
}

static void test_connection_loss(void **state)
{
	struct world *w = world_new();

	add_binding(w, 0, "dev-a", "sip:10.0.9.1;transport=tcp");
	add_binding(w, 1, "dev-b", "sip:10.0.9.1;transport=tcp");
	assert_int_equal(binding_start(w->b[0], "wlan0", "10.0.1.2"), 0);
	settle(w);
	answer(w, tps[0], 200, "OK");
	assert_int_equal(binding_get_state(w->b[0]), BINDING_REGISTERED);
	assert_int_equal(binding_start(w->b[1], "wlan0", "10.0.1.2"), 0);
	settle(w);
	assert_int_equal(n_tps, 1);
	assert_int_equal(tps[0]->sends, 2);
	/* The connection goes: binding 1's transaction fails at once,
	 * binding 0 (registered) hears of it and registers again over a
	 * new connection. */
	tps[0]->cbs->failed(tps[0]->cb_data, &tps[0]->base, -ECONNRESET);
	settle(w);
	assert_int_equal(binding_get_state(w->b[1]), BINDING_BACKOFF);
	assert_int_equal(w->last_error[1], BINDING_ERROR_TRANSPORT);
	assert_int_equal(binding_get_state(w->b[0]), BINDING_REGISTERING);
	assert_int_equal(n_tps, 2);
	assert_true(tps[0]->closed);
	assert_int_equal(tps[1]->sends, 1);
	/* the old contact removed in the same REGISTER */
	assert_non_null(strstr(tps[1]->last, "<sip:dev-a@10.0.1.2:6000;transport=tcp>;expires=0"));
	assert_non_null(strstr(tps[1]->last, "<sip:dev-a@10.0.1.2:6001;transport=tcp>"));
	answer(w, tps[1], 200, "OK");
	assert_int_equal(binding_get_state(w->b[0]), BINDING_REGISTERED);
	world_free(w);
}

/* An ICMP error read on t about what q sent last, as the UDP socket reads
 * it (sip/transport.c): from offender, about dest:port, quoting the first
 * quote_len bytes of the datagram (0: all of it). */
static void icmp_on(struct ftp *t, struct ftp *q, int type, int code, const char *offender,
		    const char *dest, unsigned port, size_t quote_len)
{
	struct sip_icmp_error e = { .type = (uint8_t)type, .code = (uint8_t)code,
				    .error = EHOSTUNREACH };
	struct sockaddr_in *d = (struct sockaddr_in *)&e.dest;
	struct sockaddr_in *o = (struct sockaddr_in *)&e.offender;

	d->sin_family = AF_INET;
	d->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, dest, &d->sin_addr);
	o->sin_family = AF_INET;
	inet_pton(AF_INET, offender, &o->sin_addr);
	e.quote = q->last;
	e.quote_len = quote_len ? quote_len : strlen(q->last);
	t->cbs->unreachable(t->cb_data, &t->base, &e);
}

static void icmp(struct ftp *t, int type, int code, const char *offender,
		 const char *dest, unsigned port, size_t quote_len)
{
	icmp_on(t, t, type, code, offender, dest, port, quote_len);
}

/* ICMP errors (docs/sip.md): only one about our request's destination
 * that quotes its branch counts; port unreachable only from the
 * registrar's own address, and then the request fails at once as the
 * server's error (not at Timer F, no retransmission); host unreachable
 * from a router fails it as transport evidence. */
static void test_icmp_errors(void **state)
{
	struct world *w = world_new();
	struct sip_stack_stats st;
	int code = 0;

	add_binding(w, 0, "dev-a", "sip:10.0.9.1");
	add_binding(w, 1, "dev-b", "sip:10.0.9.1");
	assert_int_equal(binding_start(w->b[0], "wlan0", "10.0.1.2"), 0);
	assert_int_equal(binding_start(w->b[1], "wwan0", "10.0.2.2"), 0);
	settle(w);
	assert_int_equal(n_tps, 2);
	assert_int_equal(tps[0]->sends, 1);
	/* Not about it, or proving nothing: ignored (counted as dropped). */
	icmp(tps[0], 3, 3, "10.0.1.1", "10.0.9.1", 5060, 0);  /* port unreachable from a router */
	icmp(tps[0], 3, 1, "10.0.1.1", "10.0.9.2", 5060, 0);  /* another host */
	icmp(tps[0], 3, 3, "10.0.9.1", "10.0.9.1", 5070, 0);  /* another port */
	icmp(tps[0], 3, 1, "10.0.1.1", "10.0.9.1", 5060, 40); /* cut before the branch */
	icmp(tps[0], 11, 0, "10.0.1.1", "10.0.9.1", 5060, 0); /* time exceeded */
	icmp(tps[0], 3, 4, "10.0.1.1", "10.0.9.1", 5060, 0);  /* fragmentation needed */
	icmp_on(tps[1], tps[0], 3, 3, "10.0.9.1", "10.0.9.1", 5060, 0); /* wlan0's, on wwan0 */
	settle(w);
	sip_stack_get_stats(w->s, &st);
	assert_int_equal(st.dropped, 7);
	assert_int_equal(binding_get_state(w->b[0]), BINDING_REGISTERING);
	assert_int_equal(binding_get_state(w->b[1]), BINDING_REGISTERING);
	/* Port unreachable from the registrar itself: nothing listens. */
	icmp(tps[0], 3, 3, "10.0.9.1", "10.0.9.1", 5060, 0);
	settle(w);
	assert_int_equal(binding_get_state(w->b[0]), BINDING_BACKOFF);
	assert_int_equal(w->last_error[0], BINDING_ERROR_SERVER);
	assert_int_equal(binding_get_last_error(w->b[0], NULL, NULL), -ECONNREFUSED);
	/* Host unreachable from a router on wwan0's path. */
	icmp(tps[1], 3, 1, "10.0.2.1", "10.0.9.1", 5060, 0);
	settle(w);
	assert_int_equal(binding_get_state(w->b[1]), BINDING_BACKOFF);
	assert_int_equal(w->last_error[1], BINDING_ERROR_TRANSPORT);
	code = binding_get_last_error(w->b[1], NULL, NULL);
	assert_int_equal(code, -EHOSTUNREACH);
	/* One datagram each: failed before any retransmission. */
	sip_stack_get_stats(w->s, &st);
	assert_int_equal(st.retransmissions, 0);
	assert_int_equal(tps[0]->sends, 1);
	assert_int_equal(tps[1]->sends, 1);
	/* Late copies of the same error find no request. */
	icmp(tps[0], 3, 3, "10.0.9.1", "10.0.9.1", 5060, 0);
	settle(w);
	sip_stack_get_stats(w->s, &st);
	assert_int_equal(st.dropped, 8);
	world_free(w);
}

static void probe(struct world *w, const char *method, const char *branch)
{
	struct sockaddr_in from = { .sin_family = AF_INET, .sin_port = htons(5099) };
	char text[1024];
	int n;

	inet_pton(AF_INET, "10.0.9.1", &from.sin_addr);
	n = snprintf(text, sizeof(text),
		     "%s sip:dev-a@10.0.1.2:6000 SIP/2.0\r\n"
		     "Via: SIP/2.0/UDP 10.0.9.1:5099;branch=%s\r\n"
		     "From: <sip:probe@example.test>;tag=p\r\n"
		     "To: <sip:dev-a@10.0.1.2>\r\n"
		     "Call-ID: probe-%s\r\nCSeq: 1 %s\r\n"
		     "Content-Length: 0\r\n\r\n", method, branch, branch, method);
	sip_stack_receive(w->s, &tps[0]->base, text, (size_t)n,
			  (struct sockaddr *)&from);
	settle(w);
}

static void test_requests_answered(void **state)
{
	struct world *w = world_new();
	struct sip_stack_stats st;
	int sends;

	add_binding(w, 0, "dev-a", "sip:10.0.9.1");
	assert_int_equal(binding_start(w->b[0], "wlan0", "10.0.1.2"), 0);
	settle(w);
	sends = tps[0]->sends;
	probe(w, "OPTIONS", "z9hG4bKo1");
	assert_int_equal(tps[0]->sends, sends + 1);
	assert_memory_equal(tps[0]->last, "SIP/2.0 200 OK\r\n", 16);
	assert_non_null(strstr(tps[0]->last, "CSeq: 1 OPTIONS"));
	/* answered to where it came from */
	assert_int_equal(((struct sockaddr_in *)&tps[0]->last_dest)->sin_addr.s_addr,
			 inet_addr("10.0.9.1"));
	assert_int_equal(ntohs(((struct sockaddr_in *)&tps[0]->last_dest)->sin_port), 5099);
	/* A retransmission gets the same answer from the NIST. */
	probe(w, "OPTIONS", "z9hG4bKo1");
	assert_int_equal(tps[0]->sends, sends + 2);
	probe(w, "NOTIFY", "z9hG4bKn1");
	assert_memory_equal(tps[0]->last, "SIP/2.0 501 ", 12);
	sip_stack_get_stats(w->s, &st);
	assert_int_equal(st.requests_received, 2);
	assert_int_equal(st.responses_sent, 3);

	/* An INVITE: 480 at once, never silence (no call reaches an
	 * application through alrd yet), answered statelessly: its
	 * retransmission gets the answer again, the ACK gets nothing, and
	 * nothing is retransmitted by alrd (no server INVITE transaction:
	 * a flood or a spoofed source gets one answer per INVITE). */
	sends = tps[0]->sends;
	probe(w, "INVITE", "z9hG4bKi1");
	assert_int_equal(tps[0]->sends, sends + 1);
	assert_memory_equal(tps[0]->last, "SIP/2.0 480 ", 12);
	assert_non_null(strstr(tps[0]->last, "CSeq: 1 INVITE"));
	probe(w, "INVITE", "z9hG4bKi1");
	assert_int_equal(tps[0]->sends, sends + 2);
	assert_memory_equal(tps[0]->last, "SIP/2.0 480 ", 12);
	probe(w, "ACK", "z9hG4bKi1");
	assert_int_equal(tps[0]->sends, sends + 2);
	/* Stateless: the retransmission was a request of its own (a server
	 * transaction would have absorbed it: 3). */
	sip_stack_get_stats(w->s, &st);
	assert_int_equal(st.requests_received, 4);
	/* A CANCEL for it: 481, the INVITE is answered already. */
	probe(w, "CANCEL", "z9hG4bKi1");
	assert_memory_equal(tps[0]->last, "SIP/2.0 481 ", 12);
	world_free(w);
}

/* ---- the edge's calls: taker, strays, client INVITEs ---- */

struct taker {
	int code;                       /* what take() returns */
	uint64_t id;
	char method[16];
	int taken, strays;
	char stray_first[32];
	int responses, failures;
	int last_status;
};

static int take_cb(void *ud, uint64_t id, struct sip_transport *tp,
		   const struct sockaddr *from, const osip_message_t *req)
{
	struct taker *t = ud;

	t->taken++;
	t->id = id;
	snprintf(t->method, sizeof(t->method), "%s", req->sip_method);
	return t->code;
}

static void stray_cb(void *ud, struct sip_transport *tp, const struct sockaddr *from,
		     const osip_message_t *m)
{
	struct taker *t = ud;

	t->strays++;
	snprintf(t->stray_first, sizeof(t->stray_first), "%s",
		 MSG_IS_REQUEST(m) ? m->sip_method : "response");
}

static void c_response(void *ud, uint64_t id, const osip_message_t *resp)
{
	struct taker *t = ud;

	t->responses++;
	t->last_status = resp->status_code;
}

static void c_failed(void *ud, uint64_t id, int error)
{
	((struct taker *)ud)->failures++;
}

static const struct sip_client_cbs c_cbs = { .response = c_response, .failed = c_failed };

static void test_taker_and_client_invites(void **state)
{
	struct world *w = world_new();
	struct taker t = { .code = 0 };
	struct sockaddr_in far = { .sin_family = AF_INET, .sin_port = htons(5099) };
	osip_message_t *resp = NULL, *req = NULL;
	uint64_t id = 0;
	char text[1024];
	int sends, n;

	add_binding(w, 0, "dev-a", "sip:10.0.9.1");
	assert_int_equal(binding_start(w->b[0], "wlan0", "10.0.1.2"), 0);
	settle(w);
	sip_stack_set_taker(w->s, take_cb, stray_cb, &t);

	/* An INVITE is offered and taken: no answer until the taker gives
	 * one; a retransmission is absorbed by the IST, not offered again. */
	sends = tps[0]->sends;
	probe(w, "INVITE", "z9hG4bKt1");
	assert_int_equal(t.taken, 1);
	assert_string_equal(t.method, "INVITE");
	assert_int_equal(tps[0]->sends, sends);
	probe(w, "INVITE", "z9hG4bKt1");
	assert_int_equal(t.taken, 1);
	/* The taker's 180 and 200 go out through the transaction. */
	n = snprintf(text, sizeof(text),
		     "INVITE sip:dev-a@10.0.1.2:6000 SIP/2.0\r\n"
		     "Via: SIP/2.0/UDP 10.0.9.1:5099;branch=z9hG4bKt1\r\n"
		     "From: <sip:probe@example.test>;tag=p\r\n"
		     "To: <sip:dev-a@10.0.1.2>\r\n"
		     "Call-ID: probe-z9hG4bKt1\r\nCSeq: 1 INVITE\r\n"
		     "Content-Length: 0\r\n\r\n");
	assert_int_equal(osip_message_init(&req), 0);
	assert_int_equal(osip_message_parse(req, text, (size_t)n), 0);
	assert_int_equal(sipmsg_build_response(req, 180, "Ringing", "ourtag", &resp), 0);
	assert_int_equal(sip_stack_respond(w->s, t.id, resp), 0);
	settle(w);
	assert_memory_equal(tps[0]->last, "SIP/2.0 180 ", 12);
	assert_int_equal(sipmsg_build_response(req, 200, "OK", "ourtag", &resp), 0);
	assert_int_equal(sip_stack_respond(w->s, t.id, resp), 0);
	settle(w);
	assert_memory_equal(tps[0]->last, "SIP/2.0 200 ", 12);
	/* Answered: the id is spent. */
	assert_int_equal(sipmsg_build_response(req, 200, "OK", "ourtag", &resp), 0);
	assert_int_equal(sip_stack_respond(w->s, t.id, resp), -ENOENT);
	osip_message_free(req);
	/* The ACK for the 2xx matches no transaction: the dialog's (a stray). */
	probe(w, "ACK", "z9hG4bKt2");
	assert_int_equal(t.strays, 1);
	assert_string_equal(t.stray_first, "ACK");

	/* A taker's refusal is answered by the stack. */
	t.code = 486;
	probe(w, "INVITE", "z9hG4bKt3");
	assert_memory_equal(tps[0]->last, "SIP/2.0 486 ", 12);

	/* A client INVITE: an ICT; its 2xx reaches the caller once, and the
	 * same 2xx again (the ICT is gone) is a stray, for the dialog to ACK. */
	inet_pton(AF_INET, "10.0.9.1", &far.sin_addr);
	n = snprintf(text, sizeof(text),
		     "INVITE sip:bob@10.0.9.1:5099 SIP/2.0\r\n"
		     "Via: SIP/2.0/UDP 10.0.1.2:6000;branch=z9hG4bKc1;rport\r\n"
		     "From: <sip:dev-a@example.test>;tag=ours\r\n"
		     "To: <sip:bob@example.test>\r\n"
		     "Call-ID: out-1\r\nCSeq: 1 INVITE\r\n"
		     "Content-Length: 0\r\n\r\n");
	assert_int_equal(osip_message_init(&req), 0);
	assert_int_equal(osip_message_parse(req, text, (size_t)n), 0);
	sends = tps[0]->sends;
	assert_int_equal(sip_stack_request(w->s, &tps[0]->base, (struct sockaddr *)&far, req,
					   &c_cbs, &t, &id), 0);
	settle(w);
	assert_int_equal(tps[0]->sends, sends + 1);
	assert_memory_equal(tps[0]->last, "INVITE sip:bob@", 15);
	n = snprintf(text, sizeof(text),
		     "SIP/2.0 200 OK\r\n"
		     "Via: SIP/2.0/UDP 10.0.1.2:6000;branch=z9hG4bKc1;rport\r\n"
		     "From: <sip:dev-a@example.test>;tag=ours\r\n"
		     "To: <sip:bob@example.test>;tag=theirs\r\n"
		     "Call-ID: out-1\r\nCSeq: 1 INVITE\r\n"
		     "Content-Length: 0\r\n\r\n");
	sip_stack_receive(w->s, &tps[0]->base, text, (size_t)n, (struct sockaddr *)&far);
	settle(w);
	assert_int_equal(t.responses, 1);
	assert_int_equal(t.last_status, 200);
	t.strays = 0;
	sip_stack_receive(w->s, &tps[0]->base, text, (size_t)n, (struct sockaddr *)&far);
	settle(w);
	assert_int_equal(t.responses, 1);
	assert_int_equal(t.strays, 1);
	assert_string_equal(t.stray_first, "response");
	assert_int_equal(t.failures, 0);
	sip_stack_set_taker(w->s, NULL, NULL, NULL);
	world_free(w);
}

/* Pacing: the stack holds one line for all its bindings and lets them go
 * from its own timer; a binding freed while waiting leaves the line; a
 * new setting applies to those waiting. */
static void test_register_pacing(void **state)
{
	struct world *w = world_new();
	struct sip_stack_stats st;
	struct sip_stack_pacing pc;
	uint64_t t0, waited_us;

	sip_stack_set_register_pacing(w->s, 20, 1);     /* one per 50 ms */
	for (int i = 0; i < 4; i++)
		add_binding(w, i, i % 2 ? "dev-b" : "dev-a", "sip:10.0.9.1");
	t0 = util_now_monotonic_us();
	for (int i = 0; i < 4; i++)
		assert_int_equal(binding_start(w->b[i], "wlan0", "10.0.1.2"), 0);
	settle(w);
	sip_stack_get_stats(w->s, &st);
	assert_int_equal(st.requests_sent, 1);
	sip_stack_get_register_pacing(w->s, &pc);
	assert_int_equal(pc.rate, 20);
	assert_int_equal(pc.waiting, 3);
	/* Freed while waiting: out of the line. */
	w->b[3] = binding_free(w->b[3]);
	sip_stack_get_register_pacing(w->s, &pc);
	assert_int_equal(pc.waiting, 2);
	/* The second goes a token later (50 ms), not before. */
	assert_true(run_until(w, requests_sent, &(unsigned long){ 2 }, 5.));
	waited_us = util_now_monotonic_us() - t0;
	sip_stack_get_stats(w->s, &st);
	assert_int_equal(st.requests_sent, 2);
	assert_true(waited_us >= 49000);
	/* Unlimited now: the last one goes at once. */
	sip_stack_set_register_pacing(w->s, 0, 1);
	settle(w);
	sip_stack_get_stats(w->s, &st);
	assert_int_equal(st.requests_sent, 3);
	sip_stack_get_register_pacing(w->s, &pc);
	assert_int_equal(pc.rate, 0);
	assert_int_equal(pc.granted, 3);
	assert_int_equal(pc.waited, 2);
	assert_int_equal(pc.waiting, 0);
	assert_int_equal(pc.max_waiting, 3);
	world_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp_shared_per_iap),
		cmocka_unit_test(test_tcp_per_destination),
		cmocka_unit_test(test_response_matched),
		cmocka_unit_test(test_response_from_elsewhere),
		cmocka_unit_test(test_udp_retransmits_tcp_does_not),
		cmocka_unit_test(test_connection_loss),
		cmocka_unit_test(test_icmp_errors),
		cmocka_unit_test(test_requests_answered),
		cmocka_unit_test(test_register_pacing),
		cmocka_unit_test(test_taker_and_client_invites),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
