/* Calls through the edge: the back-to-back user agent (see call.h,
 * docs/edge.md "Calls").
 *
 * Both legs are dialogs of alrd's own (RFC 3261 §12).  One side of a
 * call is the UAS leg (where the INVITE came in: we answer it through the
 * stack's or the edge's server transaction), the other the UAC leg (where
 * we send our INVITE, forked to each local registration for an incoming
 * call).  Rules kept simple on purpose, each written where it is applied:
 *  - the UAC leg's 2xx is acknowledged by alrd at once (offers are early:
 *    an INVITE without SDP is refused with 488, see docs/edge.md), so the
 *    two legs' ACKs are independent;
 *  - the UAS leg's 2xx is sent again (T1 doubling to T2) until its ACK,
 *    at most 64*T1, and then the call ends with BYE on both legs;
 *  - a BYE is answered at once and sent on the other leg;
 *  - other requests in the dialog (INFO, UPDATE, NOTIFY, REFER, MESSAGE, a
 *    re-INVITE) are made again on the other leg and their final answer is
 *    given back (a re-INVITE's 2xx acknowledged there at once).
 * Over 1,200 lines: one object, the call, with its two legs and the rules
 * between them (which request on one leg makes which on the other, which
 * answer goes back, when media moves).  A split would put `struct leg`
 * and `struct call` in a header for two files that both reach into both;
 * the seams, when it grows further: the dialog/leg builder (leg_*), and
 * the move of a call (call_move() and its answers). */
#include "edge/call.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "alr/registry.h"
#include "base/log.h"
#include "base/profile.h"
#include "base/util.h"
#include "edge/edge.h"
#include "edge/media.h"
#include "edge/relay.h"
#include "sip/binding.h"
#include "sip/sipmsg.h"
#include "sip/stack.h"
#include "sip/transport.h"

#define MAX_ROUTES      8
#define MAX_PASS        8       /* requests in a dialog passed across at once */
#define T1              0.5
#define T2              4.0

static const char *const direction_names[_CALL_DIRECTION_MAX] = {
	[CALL_INCOMING] = "incoming",
	[CALL_OUTGOING] = "outgoing",
};

static const char *const state_names[_CALL_STATE_MAX] = {
	[CALL_RINGING] = "ringing",
	[CALL_ANSWERED] = "answered",
	[CALL_ENDED] = "ended",
};

const char *call_direction_to_str(enum call_direction d)
{
	return d < _CALL_DIRECTION_MAX ? direction_names[d] : "?";
}

const char *call_state_to_str(enum call_state s)
{
	return s < _CALL_STATE_MAX ? state_names[s] : "?";
}

enum leg_kind {
	LEG_NET,
	LEG_APP,
};

struct call;

/* One dialog of a call. */
struct leg {
	struct call *call;
	enum leg_kind kind;
	char *call_id;
	char local_tag[17];
	char *remote_tag;               /* NULL until known */
	osip_from_t *local_id;          /* our From in requests we make (no tag) */
	osip_from_t *remote_id;         /* their identity (no tag) */
	char *remote_target;            /* Request-URI of requests in the dialog */
	char *routes[MAX_ROUTES];       /* the route set, as Route headers go */
	size_t n_routes;
	uint32_t local_cseq;
	char contact[SIPMSG_URI_MAX];   /* ours on this leg */

	/* where: LEG_NET over the profile's transport, LEG_APP at a socket */
	struct sip_transport *tp;       /* held */
	struct sockaddr_storage dest;   /* next hop */
	struct edge_peer peer;
	struct sockaddr_storage local;  /* Via sent-by */
	enum sip_proto proto;

	/* UAS side */
	uint64_t invite_server;         /* the INVITE being answered; 0: none */
	osip_message_t *invite_req;     /* ... a copy, to build answers */
	osip_message_t *last_2xx;       /* sent again until its ACK */
	ev_timer t2xx;
	double t2xx_next, t2xx_spent;

	/* UAC side */
	osip_message_t *last_ack;       /* for a 2xx sent again */
};

/* One INVITE (or out-of-dialog MESSAGE) we sent on the UAC leg: one per
 * local registration rung. */
struct branch {
	uint64_t tx;
	osip_message_t *req;            /* a copy: CANCEL and the challenge answer */
	struct edge_peer peer;          /* LEG_APP */
	bool done;                      /* final answer, or failed */
	bool cancel_sent;
};

/* A request in the dialog passed to the other leg. */
struct pass {
	bool used;
	struct leg *from;               /* where it came in (answered there) */
	uint64_t server;
	osip_message_t *req;            /* a copy, to answer */
	uint64_t client;                /* its copy on the other leg */
};

struct call {
	struct calls *cs;
	unsigned int id;
	unsigned int profile_id;
	enum call_direction dir;
	enum call_state state;
	bool is_message;                /* an out-of-dialog MESSAGE: no events */
	bool is_subscription;           /* a SUBSCRIBE dialog pair: no events, no media */
	ev_timer expiry;                /* a subscription's: ends it unless refreshed */
	struct leg net, app;
	struct leg *uas, *uac;
	struct branch br[CALL_MAX_FORKS];
	size_t n_br;
	bool auth_tried;
	int best_code;
	osip_message_t *best_resp;
	struct pass pass[MAX_PASS];
	struct media *media;            /* the relays of the call's SDP */
	char *peer_uri;
	char ifname[IFNAMSIZ];
	int64_t started_us, answered_us;
	int end_code;
	const char *end_reason;
	/* A move of the network leg (call_move()): its re-INVITE, and
	 * another move asked for while it is out. */
	uint64_t move_tx;
	bool move_again;
	bool renewing;                  /* a subscription's new dialog is out */
	unsigned int moves, glares;
	ev_timer move_retry;            /* after a 491 (RFC 3261 §14.1) */
	bool retrying;                  /* move_retry fired: the leg already
					   follows the route, the re-INVITE is due */
	char from_ifname[IFNAMSIZ];
	bool dead;                      /* freed at the next reap */
	struct call *next;
};

struct calls {
	struct ev_loop *loop;
	struct registry *registry;
	struct sip_stack *stack;
	struct edge *edge;
	unsigned max_calls;
	struct call *calls;
	size_t n;
	unsigned int next_id;
	call_event_fn on_event;
	void *on_event_data;
	ev_idle reaper;
	struct relay_pool *pool;
	unsigned int watch;             /* the registry's events */
};

static void call_end(struct call *call, int code, const char *reason, bool bye_both);
static void send_bye(struct leg *l);
static void expiry_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void move_retry_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* ---- small helpers ------------------------------------------------------------- */

static void random_hex(char *buf, size_t bytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[16];

	if (bytes > sizeof(rnd))
		bytes = sizeof(rnd);
	if (getrandom(rnd, bytes, 0) != (ssize_t)bytes)
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < bytes; i++) {
		buf[2 * i] = hex[rnd[i] >> 4];
		buf[2 * i + 1] = hex[rnd[i] & 15];
	}
	buf[2 * bytes] = '\0';
}

static int64_t now_us(void)
{
	return (int64_t)util_now_monotonic_us();
}

static const char *tag_of(const osip_from_t *f)
{
	osip_generic_param_t *tag = NULL;

	if (!f || osip_from_get_tag((osip_from_t *)f, &tag) != 0 || !tag)
		return NULL;
	return tag->gvalue;
}

/* A copy of a From or To without its tag. */
static osip_from_t *identity_of(const osip_from_t *f)
{
	osip_from_t *copy = NULL;

	if (!f || osip_from_clone(f, &copy) != 0)
		return NULL;
	for (int pos = 0; !osip_list_eol(&copy->gen_params, pos); pos++) {
		osip_generic_param_t *p = osip_list_get(&copy->gen_params, pos);

		if (p->gname && strcasecmp(p->gname, "tag") == 0) {
			osip_list_remove(&copy->gen_params, pos);
			osip_generic_param_free(p);
			break;
		}
	}
	return copy;
}

static char *uri_string(const osip_uri_t *u)
{
	char *s = NULL, *copy;

	if (!u || osip_uri_to_str(u, &s) != 0 || !s)
		return NULL;
	copy = strdup(s);
	osip_free(s);
	return copy;
}

static char *contact_uri_of(const osip_message_t *m)
{
	osip_contact_t *c = NULL;

	if (osip_message_get_contact(m, 0, &c) < 0 || !c || !c->url)
		return NULL;
	return uri_string(c->url);
}

/* An IP literal URI's host and port as an address: where a request in
 * the dialog goes.  -EINVAL when the host is a name (then the profile's
 * proxy is the next hop). */
static int uri_address(const char *uri, struct sockaddr_storage *ret)
{
	struct sipmsg_target t;

	if (sipmsg_target_parse(uri, &t) < 0 || t.literal_family == AF_UNSPEC)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	if (t.literal_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ret;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(t.port);
		return inet_pton(AF_INET, t.host, &sin->sin_addr) == 1 ? 0 : -EINVAL;
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ret;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(t.port);
	return inet_pton(AF_INET6, t.host, &sin6->sin6_addr) == 1 ? 0 : -EINVAL;
}

static void set_body(osip_message_t *m, const osip_message_t *from)
{
	osip_body_t *b = NULL;
	char len[16];

	if (!from || osip_message_get_body(from, 0, &b) < 0 || !b || !b->body)
		return;
	if (from->content_type) {
		osip_content_type_free(m->content_type);
		m->content_type = NULL;
		osip_content_type_clone(from->content_type, &m->content_type);
	}
	osip_message_set_body(m, b->body, b->length);
	osip_content_length_free(m->content_length);
	m->content_length = NULL;
	snprintf(len, sizeof(len), "%zu", b->length);
	osip_message_set_content_length(m, len);
}

static bool is_sdp(const osip_message_t *m)
{
	const osip_content_type_t *ct = m->content_type;

	return ct && ct->type && ct->subtype && strcasecmp(ct->type, "application") == 0 &&
	       strcasecmp(ct->subtype, "sdp") == 0;
}

/* The body of @from for @m, a message alrd makes on leg @to of @call:
 * an SDP goes through the call's media relay (rewritten for the side it
 * goes to); anything else is copied.  0, or -errno with nothing set
 * (an SDP alrd cannot relay: logged). */
static int put_body(struct call *call, bool to_app, osip_message_t *m,
		    const osip_message_t *from)
{
	osip_body_t *b = NULL;
	const char *why = "";
	char *out = NULL, len[16];
	size_t out_len = 0;
	int r;

	if (!from || osip_message_get_body(from, 0, &b) < 0 || !b || !b->body)
		return 0;
	if (!call || !call->media || !is_sdp(from)) {
		set_body(m, from);
		return 0;
	}
	r = to_app ? media_from_net(call->media, b->body, b->length, &out, &out_len, &why) :
		     media_from_app(call->media, b->body, b->length, &out, &out_len, &why);
	if (r < 0) {
		log_notice("call %u: the %s's SDP cannot be relayed: %s", call->id,
			   to_app ? "network" : "application", why);
		return r;
	}
	osip_content_type_free(m->content_type);
	m->content_type = NULL;
	osip_content_type_clone(from->content_type, &m->content_type);
	osip_message_set_body(m, out, out_len);
	osip_content_length_free(m->content_length);
	m->content_length = NULL;
	snprintf(len, sizeof(len), "%zu", out_len);
	osip_message_set_content_length(m, len);
	free(out);
	return 0;
}

static bool has_body(const osip_message_t *m)
{
	osip_body_t *b = NULL;

	return osip_message_get_body(m, 0, &b) >= 0 && b && b->length > 0;
}

/* ---- legs ---------------------------------------------------------------------- */

static void leg_clear(struct calls *cs, struct leg *l)
{
	ev_timer_stop(cs->loop, &l->t2xx);
	free(l->call_id);
	free(l->remote_tag);
	osip_from_free(l->local_id);
	osip_from_free(l->remote_id);
	free(l->remote_target);
	for (size_t i = 0; i < l->n_routes; i++)
		free(l->routes[i]);
	osip_message_free(l->invite_req);
	osip_message_free(l->last_2xx);
	osip_message_free(l->last_ack);
	if (l->tp)
		sip_stack_transport_put(cs->stack, l->tp);
}

/* Where a request in the dialog goes next: the first route, else the
 * remote target, when it is an IP literal; else (a name) the hop already
 * set (the profile's proxy). */
static void leg_next_hop(struct leg *l)
{
	struct sockaddr_storage a;
	const char *first = l->n_routes ? l->routes[0] : l->remote_target;
	char *uri = NULL;

	if (!first || l->kind == LEG_APP)
		return;
	/* A Route header value is a name-addr: take the URI inside <>. */
	if (first[0] == '<') {
		const char *end = strchr(first, '>');

		uri = end ? strndup(first + 1, (size_t)(end - first - 1)) : NULL;
	}
	if (uri_address(uri ? uri : first, &a) == 0)
		memcpy(&l->dest, &a, sizeof(a));
	free(uri);
}

static void leg_set_routes(struct leg *l, const osip_message_t *m, bool reverse)
{
	int n = osip_list_size(&m->record_routes);

	/* The dialog's route set replaces what an initial request preloaded
	 * (RFC 3261 §12.1.2). */
	for (size_t i = 0; i < l->n_routes; i++)
		free(l->routes[i]);
	l->n_routes = 0;

	for (int i = 0; i < n && l->n_routes < MAX_ROUTES; i++) {
		osip_record_route_t *rr = osip_list_get(&m->record_routes,
							reverse ? n - 1 - i : i);
		char *s = NULL;

		if (rr && osip_record_route_to_str(rr, &s) == 0 && s) {
			l->routes[l->n_routes++] = strdup(s);
			osip_free(s);
		}
	}
	leg_next_hop(l);
}

/* A request made by us in leg @l's dialog (or its first INVITE, when
 * the remote tag is not known yet). */
static osip_message_t *leg_request(struct leg *l, const char *method, uint32_t cseq,
				   const char *branch)
{
	osip_message_t *m = NULL;
	osip_uri_t *ruri = NULL;
	char host[INET6_ADDRSTRLEN], buf[SIPMSG_URI_MAX + 128];
	uint16_t port = 0;
	bool ipv6;

	if (!l->remote_target || osip_message_init(&m) != 0)
		return NULL;
	osip_message_set_method(m, osip_strdup(method));
	osip_message_set_version(m, osip_strdup("SIP/2.0"));
	if (osip_uri_init(&ruri) != 0 || osip_uri_parse(ruri, l->remote_target) != 0) {
		osip_uri_free(ruri);
		goto fail;
	}
	osip_message_set_uri(m, ruri);
	if (sipmsg_sockaddr_host((struct sockaddr *)&l->local, host, sizeof(host), &port) < 0)
		goto fail;
	ipv6 = l->local.ss_family == AF_INET6;
	snprintf(buf, sizeof(buf), "SIP/2.0/%s %s%s%s:%u;branch=z9hG4bK%s;rport",
		 l->proto == SIP_PROTO_TCP ? "TCP" : "UDP", ipv6 ? "[" : "", host,
		 ipv6 ? "]" : "", port, branch);
	if (osip_message_set_via(m, buf) != 0)
		goto fail;
	if (osip_from_clone(l->local_id, &m->from) != 0 ||
	    osip_from_set_tag(m->from, osip_strdup(l->local_tag)) != 0 ||
	    osip_to_clone(l->remote_id, &m->to) != 0)
		goto fail;
	if (l->remote_tag)
		osip_to_set_tag(m->to, osip_strdup(l->remote_tag));
	osip_message_set_call_id(m, l->call_id);
	snprintf(buf, sizeof(buf), "%" PRIu32 " %s", cseq, method);
	osip_message_set_cseq(m, buf);
	osip_message_set_max_forwards(m, "70");
	for (size_t i = 0; i < l->n_routes; i++)
		osip_message_set_route(m, l->routes[i]);
	if (strcmp(method, "INVITE") == 0 || strcmp(method, "UPDATE") == 0 ||
	    strcmp(method, "SUBSCRIBE") == 0 || strcmp(method, "NOTIFY") == 0 ||
	    strcmp(method, "REFER") == 0) {
		snprintf(buf, sizeof(buf), "<%s>", l->contact);
		osip_message_set_contact(m, buf);
	}
	osip_message_set_user_agent(m, "alrd/" ALR_VERSION);
	osip_message_set_content_length(m, "0");
	return m;
fail:
	osip_message_free(m);
	return NULL;
}

static const struct sip_client_cbs net_cbs, app_cbs;

static int leg_send_request(struct leg *l, osip_message_t *req, uint64_t *ret_id)
{
	struct calls *cs = l->call->cs;

	if (l->kind == LEG_NET)
		return sip_stack_request(cs->stack, l->tp, (struct sockaddr *)&l->dest, req,
					 &net_cbs, cs, ret_id);
	return edge_request(cs->edge, &l->peer, req, &app_cbs, cs, ret_id);
}

static int leg_send(struct leg *l, const osip_message_t *m)
{
	struct calls *cs = l->call->cs;

	if (l->kind == LEG_NET)
		return sip_stack_send(cs->stack, l->tp, (struct sockaddr *)&l->dest, m);
	return edge_send(cs->edge, &l->peer, m);
}

static int leg_respond(struct leg *l, uint64_t server, osip_message_t *resp)
{
	struct calls *cs = l->call->cs;

	if (l->kind == LEG_NET)
		return sip_stack_respond(cs->stack, server, resp);
	return edge_respond(cs->edge, server, resp);
}

/* An answer to @req on leg @l: our To tag, and for a dialog-making one
 * our Contact and the request's Record-Route (RFC 3261 §12.1.1). */
static osip_message_t *leg_response(struct leg *l, const osip_message_t *req, int code,
				    const char *reason, const osip_message_t *body_from)
{
	osip_message_t *resp = NULL;
	char buf[SIPMSG_URI_MAX + 8];

	if (sipmsg_build_response(req, code, reason ? reason : "Unknown", l->local_tag,
				  &resp) < 0)
		return NULL;
	if (code > 100 && code < 300 && (MSG_IS_INVITE(req) || MSG_IS_SUBSCRIBE(req))) {
		snprintf(buf, sizeof(buf), "<%s>", l->contact);
		osip_message_set_contact(resp, buf);
		for (int i = 0; !osip_list_eol(&req->record_routes, i); i++) {
			osip_record_route_t *rr = osip_list_get(&req->record_routes, i), *copy = NULL;

			if (osip_record_route_clone(rr, &copy) == 0)
				osip_list_add(&resp->record_routes, copy, -1);
		}
	}
	if (put_body(l->call, l->kind == LEG_APP, resp, body_from) < 0) {
		osip_message_free(resp);
		return NULL;
	}
	return resp;
}

static void answer(struct leg *l, uint64_t server, const osip_message_t *req, int code,
		   const char *reason)
{
	osip_message_t *resp = leg_response(l, req, code, reason, NULL);

	if (resp)
		leg_respond(l, server, resp);
}

/* ---- the 2xx sent again until its ACK ------------------------------------------------ */

static void t2xx_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct leg *l = container_of(w, struct leg, t2xx);

	(void)revents;
	if (!l->last_2xx)
		return;
	l->t2xx_spent += l->t2xx_next;
	if (l->t2xx_spent >= 64 * T1) {
		log_info("call %u: no ACK for the 2xx on the %s leg; ending it", l->call->id,
			 l->kind == LEG_NET ? "network" : "application");
		call_end(l->call, 0, "no-ack", true);
		return;
	}
	leg_send(l, l->last_2xx);
	l->t2xx_next = l->t2xx_next * 2 < T2 ? l->t2xx_next * 2 : T2;
	ev_timer_set(w, l->t2xx_next, 0.);
	ev_timer_start(loop, w);
}

/* Answer the UAS leg's INVITE with a 2xx (built from @resp's code and
 * body) and keep it for retransmission. */
static void uas_answer_2xx(struct call *call, const osip_message_t *resp)
{
	struct leg *l = call->uas;
	osip_message_t *ok;

	if (!l->invite_req || !l->invite_server)
		return;
	ok = leg_response(l, l->invite_req, resp->status_code, resp->reason_phrase, resp);
	if (!ok) {
		/* The answer's SDP cannot be relayed (logged): the other leg
		 * is confirmed already, it gets a BYE; this one a 488. */
		send_bye(call->uac);
		call_end(call, 488, "media-refused", false);
		return;
	}
	osip_message_free(l->last_2xx);
	l->last_2xx = NULL;
	osip_message_clone(ok, &l->last_2xx);
	leg_respond(l, l->invite_server, ok);
	l->invite_server = 0;
	if (l->proto == SIP_PROTO_UDP && l->last_2xx) {
		l->t2xx_next = T1;
		l->t2xx_spent = 0;
		ev_timer_set(&l->t2xx, T1, 0.);
		ev_timer_start(call->cs->loop, &l->t2xx);
	}
}

/* ---- calls ---------------------------------------------------------------------- */

/* The profile's calls, for its planned moves (roam_profile_calls()). */
static void count_for_roaming(struct calls *cs, unsigned int profile)
{
	unsigned int ringing = 0, answered = 0;

	for (const struct call *call = cs->calls; call; call = call->next) {
		if (call->dead || call->is_message || call->is_subscription ||
		    call->profile_id != profile)
			continue;
		ringing += call->state == CALL_RINGING;
		answered += call->state == CALL_ANSWERED;
	}
	registry_profile_calls(cs->registry, profile, ringing, answered);
}

static void emit(struct call *call, enum call_event_kind what)
{
	struct calls *cs = call->cs;
	struct call_info info;

	if (call->is_message || call->is_subscription)
		return;
	if (what != CALL_EVENT_MOVED && call->profile_id)
		count_for_roaming(cs, call->profile_id);
	if (!cs->on_event)
		return;
	info = (struct call_info){
		.id = call->id, .profile_id = call->profile_id, .direction = call->dir,
		.state = call->state, .peer = call->peer_uri, .ifname = call->ifname,
		.started_us = call->started_us, .answered_us = call->answered_us,
		.end_code = call->end_code, .end_reason = call->end_reason,
		.moves = call->moves,
		.from_ifname = what == CALL_EVENT_MOVED ? call->from_ifname : NULL,
	};
	cs->on_event(what, &info, cs->on_event_data);
}

static void reaper_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct calls *cs = container_of(w, struct calls, reaper);
	struct call **pc = &cs->calls;

	(void)revents;
	ev_idle_stop(loop, w);
	while (*pc) {
		struct call *call = *pc;

		if (!call->dead) {
			pc = &call->next;
			continue;
		}
		*pc = call->next;
		leg_clear(cs, &call->net);
		leg_clear(cs, &call->app);
		for (size_t i = 0; i < call->n_br; i++) {
			if (!call->br[i].done)
				(call->uac->kind == LEG_NET ? sip_stack_forget(cs->stack, call->br[i].tx) :
				 edge_forget(cs->edge, call->br[i].tx));
			osip_message_free(call->br[i].req);
		}
		for (size_t i = 0; i < MAX_PASS; i++) {
			struct pass *ps = &call->pass[i];

			if (ps->used)   /* no answer for a call that is gone */
				(ps->from->kind == LEG_APP ? sip_stack_forget(cs->stack, ps->client) :
				 edge_forget(cs->edge, ps->client));
			osip_message_free(ps->req);
		}
		osip_message_free(call->best_resp);
		media_free(call->media);
		free(call->peer_uri);
		free(call);
		cs->n--;
	}
}

static struct call *call_new(struct calls *cs, unsigned int profile_id, enum call_direction dir)
{
	struct call *call = calloc(1, sizeof(*call));

	if (!call)
		return NULL;
	call->cs = cs;
	call->id = ++cs->next_id;
	call->profile_id = profile_id;
	call->dir = dir;
	call->state = CALL_RINGING;
	call->started_us = now_us();
	call->net.call = call->app.call = call;
	call->net.kind = LEG_NET;
	call->app.kind = LEG_APP;
	random_hex(call->net.local_tag, 8);
	random_hex(call->app.local_tag, 8);
	call->net.local_cseq = call->app.local_cseq = 1;
	ev_timer_init(&call->expiry, expiry_cb, 0., 0.);
	ev_timer_init(&call->move_retry, move_retry_cb, 0., 0.);
	ev_timer_init(&call->net.t2xx, t2xx_cb, T1, 0.);
	ev_timer_init(&call->app.t2xx, t2xx_cb, T1, 0.);
	call->uas = dir == CALL_INCOMING ? &call->net : &call->app;
	call->uac = dir == CALL_INCOMING ? &call->app : &call->net;
	call->next = cs->calls;
	cs->calls = call;
	cs->n++;
	return call;
}

static void cancel_branch(struct call *call, struct branch *b)
{
	osip_message_t *cancel = NULL;
	uint64_t id;

	if (b->done || b->cancel_sent || !b->req || osip_message_clone(b->req, &cancel) != 0)
		return;
	b->cancel_sent = true;
	osip_free(cancel->sip_method);
	cancel->sip_method = osip_strdup("CANCEL");
	osip_free(cancel->cseq->method);
	cancel->cseq->method = osip_strdup("CANCEL");
	osip_list_special_free(&cancel->bodies, (void (*)(void *))osip_body_free);
	osip_content_type_free(cancel->content_type);
	cancel->content_type = NULL;
	osip_list_special_free(&cancel->contacts, (void (*)(void *))osip_contact_free);
	osip_content_length_free(cancel->content_length);
	cancel->content_length = NULL;
	osip_message_set_content_length(cancel, "0");
	if (call->uac->kind == LEG_APP) {
		if (edge_request(call->cs->edge, &b->peer, cancel, &app_cbs, call->cs, &id) == 0)
			edge_forget(call->cs->edge, id);
		return;
	}
	if (leg_send_request(call->uac, cancel, &id) == 0)
		sip_stack_forget(call->cs->stack, id);
}

static void send_bye(struct leg *l)
{
	osip_message_t *bye;
	char branch[33];
	uint64_t id;

	if (!l->remote_tag || !l->remote_target)
		return;
	random_hex(branch, 12);
	bye = leg_request(l, "BYE", ++l->local_cseq, branch);
	if (!bye || leg_send_request(l, bye, &id) < 0)
		return;
	(l->kind == LEG_NET ? sip_stack_forget(l->call->cs->stack, id) :
	 edge_forget(l->call->cs->edge, id));
}

/* The call is over: each leg is ended as its state needs (an INVITE
 * being answered gets @code; ringing branches are cancelled; a confirmed
 * dialog gets a BYE when @bye_both, else only the leg the BYE did not
 * come from, which the caller ends itself). */
static void call_end(struct call *call, int code, const char *reason, bool bye_both)
{
	if (call->dead)
		return;
	for (size_t i = 0; i < call->n_br; i++)
		cancel_branch(call, &call->br[i]);
	if (call->uas->invite_server && call->uas->invite_req)
		answer(call->uas, call->uas->invite_server, call->uas->invite_req,
		       code >= 300 ? code : 487, NULL);
	call->uas->invite_server = 0;
	if (call->state == CALL_ANSWERED && bye_both) {
		send_bye(&call->net);
		send_bye(&call->app);
	}
	call->state = CALL_ENDED;
	call->end_code = code;
	call->end_reason = reason;
	if (!call->is_message)
		log_info("%s %u (profile %u, %s): ended, %s",
			 call->is_subscription ? "subscription" : "call", call->id,
			 call->profile_id, call_direction_to_str(call->dir), reason);
	ev_timer_stop(call->cs->loop, &call->expiry);
	ev_timer_stop(call->cs->loop, &call->move_retry);
	if (call->move_tx)
		sip_stack_forget(call->cs->stack, call->move_tx);
	call->move_tx = 0;
	emit(call, CALL_EVENT_ENDED);
	call->dead = true;
	ev_timer_stop(call->cs->loop, &call->net.t2xx);
	ev_timer_stop(call->cs->loop, &call->app.t2xx);
	ev_idle_start(call->cs->loop, &call->cs->reaper);
}

/* ---- finding ----------------------------------------------------------------------- */

static struct call *find_by_tx(struct calls *cs, uint64_t id, enum leg_kind kind,
			       struct branch **ret_b, struct pass **ret_p)
{
	*ret_b = NULL;
	*ret_p = NULL;
	for (struct call *call = cs->calls; call; call = call->next) {
		if (call->dead)
			continue;
		if (kind == LEG_NET && call->move_tx == id)
			return call;    /* a move's re-INVITE: neither */
		if (call->uac->kind == kind)
			for (size_t i = 0; i < call->n_br; i++)
				if (call->br[i].tx == id) {
					*ret_b = &call->br[i];
					return call;
				}
		for (size_t i = 0; i < MAX_PASS; i++)
			if (call->pass[i].used && call->pass[i].client == id &&
			    call->pass[i].from->kind != kind) {
				*ret_p = &call->pass[i];
				return call;
			}
	}
	return NULL;
}

/* The leg of a live call whose dialog @m is in: Call-ID and our tag. */
static struct leg *find_leg(struct calls *cs, enum leg_kind kind, const osip_message_t *m,
			    bool we_are_from)
{
	const char *ours = tag_of(we_are_from ? m->from : m->to);
	const char *cid = m->call_id ? m->call_id->number : NULL;

	if (!cid)
		return NULL;
	for (struct call *call = cs->calls; call; call = call->next) {
		struct leg *l = kind == LEG_NET ? &call->net : &call->app;
		char *full = NULL;
		bool same;

		if (call->dead || !l->call_id)
			continue;
		if (osip_call_id_to_str(m->call_id, &full) != 0)
			continue;
		same = strcmp(full, l->call_id) == 0;
		osip_free(full);
		if (!same)
			continue;
		if (ours && strcmp(ours, l->local_tag) == 0)
			return l;
	}
	return NULL;
}

static struct leg *other(struct leg *l)
{
	return l == &l->call->net ? &l->call->app : &l->call->net;
}

/* ---- responses on the UAC leg --------------------------------------------------------- */

static void ack_2xx(struct call *call, struct leg *l, const osip_message_t *resp)
{
	osip_message_t *ack;
	char branch[33];

	random_hex(branch, 12);
	ack = leg_request(l, "ACK", resp->cseq && resp->cseq->number ?
			  (uint32_t)strtoul(resp->cseq->number, NULL, 10) : l->local_cseq, branch);
	if (!ack)
		return;
	leg_send(l, ack);
	osip_message_free(l->last_ack);
	l->last_ack = ack;
	(void)call;
}

/* ---- subscriptions ---- */

static void expiry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct call *call = container_of(w, struct call, expiry);

	(void)loop;
	(void)revents;
	call_end(call, 0, "expired", false);
}

static void copy_expires(osip_message_t *to, const osip_message_t *from)
{
	osip_header_t *h = NULL;

	if (osip_message_get_expires(from, 0, &h) >= 0 && h && h->hvalue)
		osip_message_set_expires(to, h->hvalue);
}

/* A subscription lasts as long as its last 2xx granted (RFC 6665
 * §4.1.2.1), and a minute more for the notifier's last NOTIFY; after
 * that the pair of dialogs is forgotten without a word (both ends have
 * let it lapse). */
static void arm_expiry(struct call *call, const osip_message_t *resp)
{
	osip_header_t *h = NULL;
	long secs = 3600;

	if (osip_message_get_expires(resp, 0, &h) >= 0 && h && h->hvalue)
		secs = strtol(h->hvalue, NULL, 10);
	if (secs < 0 || secs > 86400)
		secs = 3600;
	ev_timer_stop(call->cs->loop, &call->expiry);
	ev_timer_set(&call->expiry, (double)secs + 60., 0.);
	ev_timer_start(call->cs->loop, &call->expiry);
}

static bool subscription_terminated(const osip_message_t *notify)
{
	osip_header_t *h = NULL;

	return MSG_IS_NOTIFY(notify) &&
	       osip_message_header_get_byname(notify, "subscription-state", 0, &h) >= 0 &&
	       h && h->hvalue && strncasecmp(h->hvalue, "terminated", 10) == 0;
}

/* The ACK for a 2xx from another fork than the one that won: built in
 * the leg with that fork's tag and socket, not kept. */
static void ack_extra_2xx(struct leg *l, const struct branch *b, const osip_message_t *resp)
{
	char *tag = l->remote_tag, *target = l->remote_target;
	struct edge_peer peer = l->peer;
	osip_message_t *ack, *bye;
	char branch[33];
	uint64_t id;

	l->remote_tag = (char *)tag_of(resp->to);
	l->remote_target = contact_uri_of(resp);
	l->peer = b->peer;
	random_hex(branch, 12);
	ack = l->remote_target ? leg_request(l, "ACK", l->local_cseq, branch) : NULL;
	if (ack)
		leg_send(l, ack);
	osip_message_free(ack);
	/* ... and ended (RFC 3261 §13.2.2.4): a BYE in that dialog, with the
	 * leg's next CSeq (a CSeq skipped in the kept dialog is allowed),
	 * its answer not waited for. */
	if (l->remote_target && l->remote_tag) {
		random_hex(branch, 12);
		bye = leg_request(l, "BYE", ++l->local_cseq, branch);
		if (bye && leg_send_request(l, bye, &id) == 0)
			(l->kind == LEG_NET ? sip_stack_forget(l->call->cs->stack, id) :
			 edge_forget(l->call->cs->edge, id));
		log_info("call %u: a second answer (to tag %s) acknowledged and ended with a BYE",
			 l->call->id, l->remote_tag);
	}
	free(l->remote_target);
	l->remote_tag = tag;
	l->remote_target = target;
	l->peer = peer;
}

static bool all_done(const struct call *call)
{
	for (size_t i = 0; i < call->n_br; i++)
		if (!call->br[i].done)
			return false;
	return true;
}

/* RFC 3261 §16.7 step 6, simplified: a 6xx beats the rest, else the
 * lowest class, else the first. */
static void keep_best(struct call *call, const osip_message_t *resp)
{
	int code = resp->status_code;
	int best = call->best_code;

	if (best && !(code >= 600 && best < 600) &&
	    !(best < 600 && code / 100 < best / 100))
		return;
	call->best_code = code;
	osip_message_free(call->best_resp);
	call->best_resp = NULL;
	osip_message_clone(resp, &call->best_resp);
}

/* A 401/407 on the network leg: the same request again with the
 * profile's credentials, once. */
static bool retry_with_credentials(struct call *call, struct branch *b,
				   const osip_message_t *resp)
{
	struct binding *bd = registry_binding(call->cs->registry, call->profile_id);
	osip_message_t *req = NULL;
	char cseq[64], branch[33];
	osip_via_t *via = NULL;
	uint64_t id;

	if (call->auth_tried || !bd || call->uac->kind != LEG_NET || !b->req ||
	    osip_message_clone(b->req, &req) != 0)
		return false;
	call->auth_tried = true;
	/* §22.2: the next try is a new transaction, CSeq one up. */
	call->uac->local_cseq++;
	snprintf(cseq, sizeof(cseq), "%" PRIu32, call->uac->local_cseq);
	osip_free(req->cseq->number);
	req->cseq->number = osip_strdup(cseq);
	if (osip_message_get_via(req, 0, &via) >= 0 && via) {
		random_hex(branch, 12);
		for (int i = 0; !osip_list_eol(&via->via_params, i); i++) {
			osip_generic_param_t *p = osip_list_get(&via->via_params, i);

			if (p->gname && strcmp(p->gname, "branch") == 0) {
				osip_free(p->gvalue);
				p->gvalue = osip_malloc(strlen(branch) + 8);
				if (p->gvalue)
					sprintf(p->gvalue, "z9hG4bK%s", branch);
			}
		}
	}
	if (binding_authorize(bd, resp, req) < 0) {
		osip_message_free(req);
		return false;
	}
	osip_message_free(b->req);
	b->req = NULL;
	osip_message_clone(req, &b->req);
	if (leg_send_request(call->uac, req, &id) < 0)
		return false;
	b->tx = id;
	return true;
}

static void uac_response(struct call *call, struct branch *b, const osip_message_t *resp)
{
	struct leg *uac = call->uac;
	int code = resp->status_code;

	if (code < 200) {
		osip_message_t *prov;

		if (code == 100 || call->is_message || call->is_subscription ||
		    !call->uas->invite_server)
			return;
		prov = leg_response(call->uas, call->uas->invite_req, code, resp->reason_phrase,
				    resp);
		if (prov)
			leg_respond(call->uas, call->uas->invite_server, prov);
		return;
	}
	b->done = true;
	if (code < 300) {
		if (call->state != CALL_RINGING || call->dead) {
			/* A second fork answered too: acknowledged and ended
			 * (ack_extra_2xx()). */
			if (!call->is_message)
				ack_extra_2xx(uac, b, resp);
			return;
		}
		if (call->is_message) {
			osip_message_t *ok = leg_response(call->uas, call->uas->invite_req, code,
							  resp->reason_phrase, NULL);

			if (ok)
				leg_respond(call->uas, call->uas->invite_server, ok);
			call->uas->invite_server = 0;
			call_end(call, code, "delivered", false);
			return;
		}
		free(uac->remote_tag);
		uac->remote_tag = tag_of(resp->to) ? strdup(tag_of(resp->to)) : NULL;
		free(uac->remote_target);
		uac->remote_target = contact_uri_of(resp);
		if (uac->kind == LEG_APP)
			uac->peer = b->peer;
		leg_set_routes(uac, resp, true);
		if (call->is_subscription) {
			osip_message_t *ok = leg_response(call->uas, call->uas->invite_req, code,
							  resp->reason_phrase, NULL);

			if (ok) {
				copy_expires(ok, resp);
				leg_respond(call->uas, call->uas->invite_server, ok);
			}
			call->uas->invite_server = 0;
			call->state = CALL_ANSWERED;
			arm_expiry(call, resp);
			return;
		}
		ack_2xx(call, uac, resp);
		for (size_t i = 0; i < call->n_br; i++)
			if (&call->br[i] != b)
				cancel_branch(call, &call->br[i]);
		uas_answer_2xx(call, resp);
		call->state = CALL_ANSWERED;
		call->answered_us = now_us();
		log_info("call %u (profile %u, %s): answered", call->id, call->profile_id,
			 call_direction_to_str(call->dir));
		emit(call, CALL_EVENT_ANSWERED);
		return;
	}
	if ((code == 401 || code == 407) && retry_with_credentials(call, b, resp)) {
		b->done = false;
		return;
	}
	keep_best(call, resp);
	if (!all_done(call) || call->dead)
		return;
	if (call->uas->invite_server && call->best_resp) {
		osip_message_t *fin = leg_response(call->uas, call->uas->invite_req,
						   call->best_code, call->best_resp->reason_phrase,
						   NULL);

		if (fin)
			leg_respond(call->uas, call->uas->invite_server, fin);
		call->uas->invite_server = 0;
	}
	call_end(call, call->best_code, call->is_message ? "refused" : "not-answered", false);
}

/* A response to a request passed across: answered on the leg it came in. */
static void pass_response(struct call *call, struct pass *p, const osip_message_t *resp)
{
	osip_message_t *out;

	if (resp->status_code < 200)
		return;
	if (MSG_IS_RESPONSE_FOR(resp, "INVITE") && MSG_IS_STATUS_2XX(resp))
		ack_2xx(call, other(p->from), resp);
	out = leg_response(p->from, p->req, resp->status_code, resp->reason_phrase, resp);
	if (out && MSG_IS_SUBSCRIBE(p->req))
		copy_expires(out, resp);
	if (out)
		leg_respond(p->from, p->server, out);
	if (call->is_subscription && MSG_IS_SUBSCRIBE(p->req) && MSG_IS_STATUS_2XX(resp))
		arm_expiry(call, resp);
	if (call->is_subscription && subscription_terminated(p->req)) {
		osip_message_free(p->req);
		memset(p, 0, sizeof(*p));
		call_end(call, 0, "terminated", false);
		return;
	}
	osip_message_free(p->req);
	memset(p, 0, sizeof(*p));
}

/* ---- moving a call's network leg (issue 14) ---- */

static void call_move(struct call *call);
static void subscription_send(struct call *call, bool renew);
static void subscription_move(struct call *call);
static int copy_headers(struct call *call, bool to_app, osip_message_t *to,
			const osip_message_t *from);

static void move_failed(struct call *call, int code)
{
	call->move_tx = 0;
	media_cancel_move(call->media);
	/* The old path is what the profile just left (its IAP lost, or its
	 * contact being removed): the call cannot stay there.  Never a
	 * half-call: both legs get a BYE, and the events say why. */
	log_notice("call %u (profile %u): its network side could not move to %s (%d); "
		   "ending it", call->id, call->profile_id, call->ifname, code);
	call_end(call, code, "move-failed", true);
}

static void move_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct call *call = container_of(w, struct call, move_retry);

	(void)loop;
	(void)revents;
	call->retrying = true;
	call_move(call);
	call->retrying = false;
}

static void move_response(struct call *call, const osip_message_t *resp)
{
	int code = resp->status_code;
	char *target;

	if (code < 200)
		return;
	if (call->is_subscription) {
		call->move_tx = 0;
		if (code >= 300 && !call->renewing) {
			/* The notifier does not know the dialog any more (481,
			 * a restart): a new one. */
			subscription_send(call, true);
			return;
		}
		if (code >= 300) {
			call_end(call, code, "move-failed", false);
			return;
		}
		if (call->renewing) {
			struct leg *l = &call->net;

			free(l->remote_tag);
			l->remote_tag = tag_of(resp->to) ? strdup(tag_of(resp->to)) : NULL;
			free(l->remote_target);
			l->remote_target = contact_uri_of(resp);
			leg_set_routes(l, resp, true);
			call->renewing = false;
		}
		arm_expiry(call, resp);
		call->moves++;
		if (call->move_again) {
			call->move_again = false;
			subscription_move(call);
		}
		return;
	}
	if (code >= 300) {
		call->move_tx = 0;
		if (code == 491 && ++call->glares <= 3) {
			/* Glare: the far end's re-INVITE crossed ours; again after
			 * 2.1 to 4 s (RFC 3261 §14.1, as the Call-ID's owner or
			 * not: the longer range either way). */
			unsigned int r = 0;

			getrandom(&r, sizeof(r), 0);
			media_cancel_move(call->media);
			ev_timer_set(&call->move_retry, 2.1 + (double)(r % 1900) / 1000., 0.);
			ev_timer_start(call->cs->loop, &call->move_retry);
			return;
		}
		move_failed(call, code);
		return;
	}
	call->move_tx = 0;
	/* A target refresh both ways: the far end may name a new Contact. */
	target = contact_uri_of(resp);
	if (target) {
		free(call->net.remote_target);
		call->net.remote_target = target;
	}
	ack_2xx(call, &call->net, resp);
	if (resp && has_body(resp) && is_sdp(resp)) {
		osip_body_t *b = NULL;
		const char *why = "";
		bool changed = false;

		/* The far end's answer to the re-offer: its (maybe new)
		 * addresses; the application is not asked (its media stays
		 * as it was, unless the far end changed its streams). */
		osip_message_get_body(resp, 0, &b);
		if (b && media_answer_from_net(call->media, b->body, b->length, &changed, &why) < 0)
			log_notice("call %u: the far end's answer to the move: %s", call->id, why);
		else if (changed)
			log_notice("call %u: the far end changed its streams in its answer to the "
				   "move; the application is not told (it keeps its media)", call->id);
	}
	media_commit_network(call->media);
	call->moves++;
	call->glares = 0;
	log_info("call %u (profile %u): network side moved from %s to %s", call->id,
		 call->profile_id, call->from_ifname, call->ifname);
	emit(call, CALL_EVENT_MOVED);
	if (call->move_again) {
		call->move_again = false;
		call_move(call);
	}
}

/* The profile registers somewhere else now: the network leg follows,
 * from the new contact over the new transport, with a re-INVITE carrying
 * the relays' new addresses (make-before-break for the media: the old
 * relays carry it until the far end answers). */
/* The network leg goes where the profile registers now: its transport,
 * its local address (Via) and contact; the next hop stays the route set's
 * (or the remote target, else the proxy's). */
/* The network leg's Contact: the registered one, with ;ob when the
 * registrar uses the flow as outbound (RFC 5626 §4.3: mid-dialog requests
 * then come back over this flow). */
static const char *route_contact(const struct binding_route *route, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s", route->contact, route->outbound ? ";ob" : "");
	return buf;
}

static void leg_follow(struct call *call, const struct binding_route *route)
{
	struct calls *cs = call->cs;
	struct leg *l = &call->net;

	util_strlcpy(call->from_ifname, call->ifname, sizeof(call->from_ifname));
	util_strlcpy(call->ifname, route->tp->ifname, sizeof(call->ifname));
	sip_stack_transport_hold(cs->stack, route->tp);
	sip_stack_transport_put(cs->stack, l->tp);
	l->tp = route->tp;
	l->proto = route->tp->proto;
	memcpy(&l->local, &route->tp->local, sizeof(l->local));
	route_contact(route, l->contact, sizeof(l->contact));
	if (!l->n_routes && uri_address(l->remote_target, &l->dest) < 0)
		memcpy(&l->dest, &route->dest, sizeof(l->dest));
}

/* A subscription follows the profile (issue 14 item 4): a SUBSCRIBE in
 * its dialog from the new contact (a target refresh, RFC 6665 §4.1.2.1);
 * if the notifier lost the dialog, a new one for the same application
 * dialog (subscription_renew()), so that the application never sees a
 * subscription end that it did not ask to end. */
static void subscription_send(struct call *call, bool renew)
{
	struct leg *l = &call->net;
	const osip_message_t *orig = call->uas->kind == LEG_APP ? call->app.invite_req :
				     call->net.invite_req;
	osip_message_t *req;
	char branch[33];

	if (renew) {
		char cid[33];

		/* A dialog of its own with the notifier, from scratch. */
		random_hex(cid, 16);
		free(l->call_id);
		l->call_id = strdup(cid);
		random_hex(l->local_tag, 8);
		free(l->remote_tag);
		l->remote_tag = NULL;
		free(l->remote_target);
		l->remote_target = orig && orig->req_uri ? uri_string(orig->req_uri) : NULL;
		leg_set_routes(l, orig, false);         /* clears them */
		call->renewing = true;
	}
	random_hex(branch, 12);
	req = l->call_id ? leg_request(l, "SUBSCRIBE", ++l->local_cseq, branch) : NULL;
	if (!req || (orig && copy_headers(call, false, req, orig) < 0)) {
		osip_message_free(req);
		call_end(call, 500, "move-failed", false);
		return;
	}
	log_info("subscription %u (profile %u): %s from %s", call->id, call->profile_id,
		 renew ? "made again" : "refreshed", call->ifname);
	if (leg_send_request(l, req, &call->move_tx) < 0)
		call_end(call, 503, "move-failed", false);
}

static void subscription_move(struct call *call)
{
	struct binding_route route;
	char contact[SIPMSG_URI_MAX];

	if (call->dead || call->state != CALL_ANSWERED || call->cs->edge == NULL)
		return;
	if (call->move_tx) {
		call->move_again = true;
		return;
	}
	if (binding_get_route(registry_binding(call->cs->registry, call->profile_id), &route) < 0 ||
	    (route.tp == call->net.tp &&
	     strcmp(route_contact(&route, contact, sizeof(contact)), call->net.contact) == 0))
		return;
	leg_follow(call, &route);
	subscription_send(call, false);
}

static void call_move(struct call *call)
{
	struct calls *cs = call->cs;
	struct binding_route route;
	char contact[SIPMSG_URI_MAX];
	struct leg *l = &call->net;
	osip_message_t *req;
	const char *why = "";
	char *sdp = NULL, branch[33], len[16];
	size_t sdp_len = 0;
	int r;

	if (call->dead || !call->media)
		return;
	if (call->move_tx) {
		call->move_again = true;        /* after the one out */
		return;
	}
	if (binding_get_route(registry_binding(cs->registry, call->profile_id), &route) < 0)
		return;
	if (!call->retrying && route.tp == l->tp &&
	    strcmp(route_contact(&route, contact, sizeof(contact)), l->contact) == 0)
		return;                         /* already there */
	if (call->state == CALL_RINGING) {
		/* An early dialog cannot move (no target refresh before the
		 * 2xx without UPDATE, which the far end may not take): it
		 * ends, cleanly on both sides.  Our INVITE is cancelled over
		 * the new IAP (its CANCEL matches by the INVITE's Via, not by
		 * where it comes from); the application gets 480. */
		if (call->uac->kind == LEG_NET)
			leg_follow(call, &route);
		log_info("call %u (profile %u): the profile moved while it rang; ending it",
			 call->id, call->profile_id);
		call_end(call, 480, "network-changed", false);
		return;
	}
	r = media_move_network(call->media, route.tp->ifname, (struct sockaddr *)&route.tp->local,
			       &sdp, &sdp_len, &why);
	if (r < 0) {
		log_notice("call %u: cannot open the media on %s: %s", call->id,
			   route.tp->ifname, why);
		call_end(call, 500, "move-failed", true);
		return;
	}
	leg_follow(call, &route);
	random_hex(branch, 12);
	req = leg_request(l, "INVITE", ++l->local_cseq, branch);
	if (!req) {
		free(sdp);
		move_failed(call, 500);
		return;
	}
	osip_message_set_content_type(req, "application/sdp");
	osip_message_set_body(req, sdp, sdp_len);
	osip_content_length_free(req->content_length);
	req->content_length = NULL;
	snprintf(len, sizeof(len), "%zu", sdp_len);
	osip_message_set_content_length(req, len);
	free(sdp);
	log_info("call %u (profile %u): moving its network side from %s to %s", call->id,
		 call->profile_id, call->from_ifname, call->ifname);
	if (leg_send_request(l, req, &call->move_tx) < 0)
		move_failed(call, 503);
}

static void on_registry_event(const struct registry_event *ev, void *ud)
{
	struct calls *cs = ud;

	/* REGISTERED after a failover, UPDATED after a migration (DESIGN
	 * §3.3); call_move() does nothing when the route did not change. */
	if (ev->type != REGISTRY_EVENT_REGISTERED && ev->type != REGISTRY_EVENT_UPDATED)
		return;
	for (struct call *call = cs->calls; call; call = call->next) {
		if (call->profile_id != ev->id || call->is_message)
			continue;
		if (call->is_subscription)
			subscription_move(call);
		else
			call_move(call);
	}
}

static void on_response(struct calls *cs, enum leg_kind kind, uint64_t id,
			const osip_message_t *resp)
{
	struct branch *b;
	struct pass *p;
	struct call *call = find_by_tx(cs, id, kind, &b, &p);

	if (!call)
		return;
	if (b)
		uac_response(call, b, resp);
	else if (p)
		pass_response(call, p, resp);
	else
		move_response(call, resp);
}

static void on_failed(struct calls *cs, enum leg_kind kind, uint64_t id, int error)
{
	struct branch *b;
	struct pass *p;
	struct call *call = find_by_tx(cs, id, kind, &b, &p);
	osip_message_t *fake = NULL;

	if (!call)
		return;
	log_info("call %u: a request on the %s leg got no answer: %s", call->id,
		 kind == LEG_NET ? "network" : "application", strerror(-error));
	/* As a 408 (RFC 3261 §8.1.3.1) from the leg that did not answer. */
	if (b && b->req && sipmsg_build_response(b->req, 408, "Request Timeout", NULL, &fake) == 0) {
		uac_response(call, b, fake);
		osip_message_free(fake);
	} else if (!b && !p) {
		move_failed(call, error == -ETIMEDOUT ? 408 : 503);
	} else if (p && p->req) {
		answer(p->from, p->server, p->req, 408, "Request Timeout");
		osip_message_free(p->req);
		memset(p, 0, sizeof(*p));
	}
}

static void net_response_cb(void *ud, uint64_t id, const osip_message_t *resp)
{
	on_response(ud, LEG_NET, id, resp);
}

static void net_failed_cb(void *ud, uint64_t id, int error)
{
	on_failed(ud, LEG_NET, id, error);
}

static void app_response_cb(void *ud, uint64_t id, const osip_message_t *resp)
{
	on_response(ud, LEG_APP, id, resp);
}

static void app_failed_cb(void *ud, uint64_t id, int error)
{
	on_failed(ud, LEG_APP, id, error);
}

static const struct sip_client_cbs net_cbs = {
	.response = net_response_cb,
	.failed = net_failed_cb,
};

static const struct sip_client_cbs app_cbs = {
	.response = app_response_cb,
	.failed = app_failed_cb,
};

/* ---- new calls ------------------------------------------------------------------------- */

/* The UAS leg from the request that made the call. */
static int uas_setup(struct leg *l, uint64_t server, const osip_message_t *req)
{
	char *cid = NULL;

	if (osip_call_id_to_str(req->call_id, &cid) != 0)
		return -ENOMEM;
	l->call_id = strdup(cid);
	osip_free(cid);
	l->remote_tag = tag_of(req->from) ? strdup(tag_of(req->from)) : NULL;
	l->remote_id = identity_of(req->from);
	l->local_id = identity_of(req->to);
	l->remote_target = contact_uri_of(req);
	l->invite_server = server;
	if (!l->call_id || !l->remote_id || !l->local_id ||
	    osip_message_clone(req, &l->invite_req) != 0)
		return -ENOMEM;
	leg_set_routes(l, req, false);
	return 0;
}

/* Copy what the other side should see of a request alrd makes again on
 * the other leg: the body (an SDP through the relay), the headers of its
 * meaning (Event and Subscription-State for SUBSCRIBE and NOTIFY, RFC
 * 6665; Refer-To for REFER, RFC 3515; Expires; Info-Package, RFC 6086),
 * Supported without 100rel (alrd does not relay reliable provisionals:
 * RFC 3262 is stripped consistently, docs/edge.md).  Never the dialog's
 * own headers (Via, Route, Contact, tags, CSeq): each leg has its own. */
static int copy_headers(struct call *call, bool to_app, osip_message_t *to,
			const osip_message_t *from)
{
	static const char *const names[] = {
		"subject", "allow", "accept", "supported", "event", "expires", "allow-events",
		"subscription-state", "refer-to", "referred-by", "info-package", "recv-info",
		"content-disposition", "priority",
	};
	osip_header_t *h = NULL;

	if (put_body(call, to_app, to, from) < 0)
		return -EPROTO;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		for (int pos = 0; (pos = osip_message_header_get_byname(from, names[i], pos, &h)) >= 0;
		     pos++) {
			char v[256];
			size_t n = 0;

			if (!h->hvalue)
				continue;
			if (strcmp(names[i], "supported") == 0) {
				/* drop 100rel from the list */
				const char *s = h->hvalue;

				while (*s) {
					const char *end = strchr(s, ',');
					size_t len = end ? (size_t)(end - s) : strlen(s);
					char tok[64];

					snprintf(tok, sizeof(tok), "%.*s", (int)len, s);
					for (char *t = tok; *t == ' '; memmove(t, t + 1, strlen(t)))
						;
					if (strncasecmp(tok, "100rel", 6) != 0 && *tok && n < sizeof(v) - 66)
						n += (size_t)snprintf(v + n, sizeof(v) - n, "%s%s",
								      n ? ", " : "", tok);
					s = end ? end + 1 : s + len;
				}
				if (n)
					osip_message_set_header(to, "Supported", v);
				continue;
			}
			osip_message_set_header(to, h->hname, h->hvalue);
		}
	return 0;
}

static int start_branch(struct call *call, const struct edge_peer *peer, const char *target,
			const char *method, const osip_message_t *orig)
{
	struct leg *l = call->uac;
	struct branch *b = &call->br[call->n_br];
	osip_message_t *req;
	char branch[33];
	int r;

	if (call->n_br >= CALL_MAX_FORKS)
		return -E2BIG;
	if (peer) {
		l->peer = *peer;
		l->proto = peer->proto;
		if (edge_local_addr(call->cs->edge, peer, &l->local) < 0)
			return -ENOTCONN;
		if (!l->contact[0])
			sipmsg_contact_uri("alrd", (struct sockaddr *)&l->local, l->proto,
					   l->contact, sizeof(l->contact));
	}
	free(l->remote_target);
	l->remote_target = strdup(target);
	random_hex(branch, 12);
	req = leg_request(l, method, l->local_cseq, branch);
	if (!req)
		return -ENOMEM;
	if (copy_headers(call, l->kind == LEG_APP, req, orig) < 0) {
		osip_message_free(req);
		return -EPROTO;
	}
	memset(b, 0, sizeof(*b));
	if (peer)
		b->peer = *peer;
	osip_message_clone(req, &b->req);
	r = leg_send_request(l, req, &b->tx);
	if (r < 0) {
		osip_message_free(b->req);
		b->req = NULL;
		return r;
	}
	call->n_br++;
	return 0;
}

/* A request out of a dialog goes through the outbound proxy, then the
 * registrar's Service-Route (RFC 3608 §6), as Route headers; the next
 * hop stays the address the binding sends to (the proxy's or the
 * registrar's). */
static void preload_routes(struct leg *l, const struct binding_route *route)
{
	char buf[SIPMSG_URI_MAX + 8];

	if (route->proxy && l->n_routes < MAX_ROUTES) {
		snprintf(buf, sizeof(buf), "<%s;lr>", route->proxy);
		l->routes[l->n_routes] = strdup(buf);
		l->n_routes += l->routes[l->n_routes] != NULL;
	}
	for (size_t i = 0; i < route->n_service_route && l->n_routes < MAX_ROUTES; i++) {
		l->routes[l->n_routes] = strdup(route->service_route[i]);
		l->n_routes += l->routes[l->n_routes] != NULL;
	}
}

/* The call's relays: the network side on the IAP's address and
 * interface (@tp's), the application's on loopback of @family. */
static struct media *new_media(struct calls *cs, struct call *call, struct sip_transport *tp,
			       int family)
{
	struct sockaddr_storage lo = { .ss_family = (sa_family_t)family };
	struct media *m;

	if (family == AF_INET6)
		((struct sockaddr_in6 *)&lo)->sin6_addr = in6addr_loopback;
	else
		((struct sockaddr_in *)&lo)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	m = media_new(cs->pool, tp->ifname, (struct sockaddr *)&tp->local, (struct sockaddr *)&lo);
	if (m)
		media_set_name(m, call->profile_id, call->net.call_id);
	return m;
}

/* An INVITE or MESSAGE from the network to one of alrd's contacts. */
static int take_from_network(struct calls *cs, uint64_t id, struct sip_transport *tp,
			     const struct sockaddr *from, const osip_message_t *req)
{
	const char *user = req->req_uri ? req->req_uri->username : NULL;
	unsigned int pid = user ? registry_find_by_contact_user(cs->registry, user) : 0;
	const struct profile *p = pid ? registry_find(cs->registry, pid) : NULL;
	size_t n = p ? edge_local_count(cs->edge, pid) : 0;
	bool invite = MSG_IS_INVITE(req), message = !invite && !MSG_IS_SUBSCRIBE(req);
	struct binding_route route;
	struct call *call;
	int err = 0, code;

	if (!p)
		return 404;     /* not one of alrd's contacts: never relayed on */
	if (n == 0) {
		log_info("profile %u (%s): %s from the network: no local registration; 480",
			 pid, p->aor, req->sip_method);
		return 480;
	}
	if (!message && cs->n >= cs->max_calls) {
		log_debug("profile %u: %s refused: %zu calls at once", pid, req->sip_method,
			  cs->n);
		return 503;
	}
	if (invite && !has_body(req))
		return 488;     /* offerless INVITE: not relayed (docs/edge.md) */
	call = call_new(cs, pid, CALL_INCOMING);
	if (!call)
		return 500;
	call->is_message = message;
	call->is_subscription = MSG_IS_SUBSCRIBE(req);
	call->net.tp = tp;
	sip_stack_transport_hold(cs->stack, tp);
	call->net.proto = tp->proto;
	memcpy(&call->net.local, &tp->local, sizeof(call->net.local));
	memcpy(&call->net.dest, from, sip_sockaddr_len(from));
	if (binding_get_route(registry_binding(cs->registry, pid), &route) == 0) {
		route_contact(&route, call->net.contact, sizeof(call->net.contact));
		memcpy(&call->net.dest, &route.dest, sizeof(call->net.dest));
	}
	util_strlcpy(call->ifname, tp->ifname, sizeof(call->ifname));
	if (uas_setup(&call->net, id, req) < 0)
		goto fail;
	if (invite && !(call->media = new_media(cs, call, tp, AF_INET)))
		goto fail;
	call->peer_uri = uri_string(req->from->url);
	/* The application leg: a dialog of its own. */
	{
		char cid[33];
		char aor[SIPMSG_URI_MAX + 2];

		random_hex(cid, 16);
		call->app.call_id = strdup(cid);
		call->app.local_id = identity_of(req->from);
		snprintf(aor, sizeof(aor), "<%s>", p->aor);
		if (osip_from_init(&call->app.remote_id) == 0 &&
		    osip_from_parse(call->app.remote_id, aor) != 0) {
			osip_from_free(call->app.remote_id);
			call->app.remote_id = NULL;
		}
		if (!call->app.call_id || !call->app.local_id || !call->app.remote_id)
			goto fail;
	}
	for (size_t i = 0; i < n && i < CALL_MAX_FORKS; i++) {
		const struct locreg *r = edge_local_at(cs->edge, pid, i);
		struct edge_peer peer;

		if (r && edge_peer_of(r, &peer) == 0 &&
		    (err = start_branch(call, &peer, r->contact, req->sip_method, req)) < 0)
			log_info("call %u: cannot ring %s: %s", call->id, r->contact,
				 strerror(-err));
	}
	if (call->n_br == 0 && err == -EPROTO) {
		code = 488;     /* an SDP the relay cannot take (logged) */
		goto refuse;
	}
	if (call->n_br == 0)
		goto fail_480;
	if (invite) {
		osip_message_t *trying = leg_response(&call->net, req, 100, "Trying", NULL);

		if (trying)
			leg_respond(&call->net, id, trying);
		log_info("call %u (profile %u, incoming from %s over %s): ringing %zu local "
			 "registration%s", call->id, pid, call->peer_uri ? call->peer_uri : "?",
			 call->ifname, call->n_br, call->n_br == 1 ? "" : "s");
		emit(call, CALL_EVENT_STARTED);
	}
	return 0;
fail_480:
	code = 480;
refuse:
	call->net.invite_server = 0;
	call->dead = true;
	ev_idle_start(cs->loop, &cs->reaper);
	return code;
fail:
	call->net.invite_server = 0;
	call->dead = true;
	ev_idle_start(cs->loop, &cs->reaper);
	return 500;
}

/* An INVITE or MESSAGE from a local application: out over its profile. */
static int take_from_app(struct calls *cs, uint64_t id, const struct edge_peer *from,
			 const osip_message_t *req)
{
	const struct profile *p = req->from ? edge_find_profile(cs->edge, req->from->url) : NULL;
	bool invite = MSG_IS_INVITE(req), message = !invite && !MSG_IS_SUBSCRIBE(req);
	struct binding_route route;
	struct call *call;
	char who[64];
	int code;

	if (!p)
		return 403;
	code = edge_may_use(cs->edge, from, p, who, sizeof(who));
	if (code == 401) {
		log_info("edge: %s from %s for profile %u: challenged for its local password",
			 req->sip_method, who, p->id);
		return 401;
	}
	if (code) {
		log_notice("edge: %s from %s for profile %u refused: may not use it",
			   req->sip_method, who, p->id);
		return 403;
	}
	if (binding_get_route(registry_binding(cs->registry, p->id), &route) < 0) {
		log_info("profile %u (%s): %s from %s: not registered over any network; 480",
			 p->id, p->aor, req->sip_method, who);
		return 480;
	}
	if (!message && cs->n >= cs->max_calls)
		return 503;
	if (invite && !has_body(req))
		return 488;
	call = call_new(cs, p->id, CALL_OUTGOING);
	if (!call)
		return 500;
	call->is_message = message;
	call->is_subscription = MSG_IS_SUBSCRIBE(req);
	call->app.peer = *from;
	call->app.proto = from->proto;
	if (edge_local_addr(cs->edge, from, &call->app.local) < 0)
		goto fail;
	sipmsg_contact_uri("alrd", (struct sockaddr *)&call->app.local, call->app.proto,
			   call->app.contact, sizeof(call->app.contact));
	if (uas_setup(&call->app, id, req) < 0)
		goto fail;
	call->peer_uri = req->to ? uri_string(req->to->url) : NULL;
	/* The network leg: from the profile's registered contact. */
	{
		char cid[33];

		random_hex(cid, 16);
		call->net.call_id = strdup(cid);
		call->net.local_id = identity_of(req->from);
		call->net.remote_id = identity_of(req->to);
		call->net.tp = route.tp;
		sip_stack_transport_hold(cs->stack, route.tp);
		call->net.proto = route.tp->proto;
		memcpy(&call->net.local, &route.tp->local, sizeof(call->net.local));
		memcpy(&call->net.dest, &route.dest, sizeof(call->net.dest));
		route_contact(&route, call->net.contact, sizeof(call->net.contact));
		util_strlcpy(call->ifname, route.ifname, sizeof(call->ifname));
		if (!call->net.call_id || !call->net.local_id || !call->net.remote_id)
			goto fail;
		preload_routes(&call->net, &route);
		if (invite && !(call->media = new_media(cs, call, route.tp,
							 from->addr.ss_family)))
			goto fail;
	}
	{
		char *target = uri_string(req->req_uri);
		int r = target ? start_branch(call, NULL, target, req->sip_method, req) : -ENOMEM;

		free(target);
		if (r == -EPROTO) {
			call->app.invite_server = 0;
			call->dead = true;
			ev_idle_start(cs->loop, &cs->reaper);
			return 488;
		}
		if (r < 0)
			goto fail;
	}
	if (invite) {
		osip_message_t *trying = leg_response(&call->app, req, 100, "Trying", NULL);

		if (trying)
			leg_respond(&call->app, id, trying);
		log_info("call %u (profile %u, outgoing to %s over %s): calling", call->id,
			 p->id, call->peer_uri ? call->peer_uri : "?", call->ifname);
		emit(call, CALL_EVENT_STARTED);
	}
	return 0;
fail:
	call->app.invite_server = 0;
	call->dead = true;
	ev_idle_start(cs->loop, &cs->reaper);
	return 500;
}

/* ---- requests in a dialog ------------------------------------------------------------- */

static int take_in_dialog(struct calls *cs, enum leg_kind kind, uint64_t id,
			  const osip_message_t *req)
{
	struct leg *l = find_leg(cs, kind, req, false);
	struct call *call = l ? l->call : NULL;
	struct leg *o;
	osip_message_t *out;
	char branch[33];
	struct pass *p = NULL;

	if (!l)
		return 481;
	o = other(l);
	if (MSG_IS_BYE(req)) {
		answer(l, id, req, 200, "OK");
		/* The BYE came in on @l: that dialog is over; end the other. */
		if (l->remote_tag)
			send_bye(o);
		free(l->remote_tag);
		l->remote_tag = NULL;   /* no BYE back */
		call_end(call, 0, kind == LEG_NET ? "bye-from-network" : "bye-from-application",
			 false);
		return 0;
	}
	if (call->is_subscription && MSG_IS_NOTIFY(req) && !l->remote_tag) {
		/* RFC 6665 §4.1.2.4: a NOTIFY may come before the 2xx to the
		 * SUBSCRIBE; it makes the dialog. */
		l->remote_tag = tag_of(req->from) ? strdup(tag_of(req->from)) : NULL;
		free(l->remote_target);
		l->remote_target = contact_uri_of(req);
		leg_set_routes(l, req, true);
	}
	if ((call->state != CALL_ANSWERED && !call->is_subscription) || !o->remote_tag ||
	    !l->remote_tag)
		return 491;             /* §14.1: the other side is not ready */
	for (size_t i = 0; i < MAX_PASS && !p; i++)
		if (!call->pass[i].used)
			p = &call->pass[i];
	if (!p)
		return 500;
	random_hex(branch, 12);
	out = leg_request(o, req->sip_method, ++o->local_cseq, branch);
	if (!out)
		return 500;
	if (copy_headers(call, o->kind == LEG_APP, out, req) < 0) {
		osip_message_free(out);
		return 488;
	}
	memset(p, 0, sizeof(*p));
	p->used = true;
	p->from = l;
	p->server = id;
	if (osip_message_clone(req, &p->req) != 0 || leg_send_request(o, out, &p->client) < 0) {
		osip_message_free(p->req);
		memset(p, 0, sizeof(*p));
		return 500;
	}
	return 0;
}

static int take_cancel(struct calls *cs, enum leg_kind kind, uint64_t id,
		       const osip_message_t *req)
{
	for (struct call *call = cs->calls; call; call = call->next) {
		struct leg *l = call->uas;
		char *cid = NULL;
		bool same;

		if (call->dead || l->kind != kind || !l->invite_server || !l->invite_req ||
		    osip_call_id_to_str(req->call_id, &cid) != 0)
			continue;
		same = strcmp(cid, l->call_id) == 0 &&
		       strcmp(req->cseq->number, l->invite_req->cseq->number) == 0;
		osip_free(cid);
		if (!same)
			continue;
		answer(l, id, req, 200, "OK");
		call_end(call, 487, "cancelled", false);
		return 0;
	}
	return 481;
}

static int take(struct calls *cs, enum leg_kind kind, uint64_t id, const osip_message_t *req,
		const struct sockaddr *from, struct sip_transport *tp,
		const struct edge_peer *peer)
{
	if (MSG_IS_CANCEL(req))
		return take_cancel(cs, kind, id, req);
	if (tag_of(req->to))
		return take_in_dialog(cs, kind, id, req);
	if (MSG_IS_BYE(req) || MSG_IS_PRACK(req) || MSG_IS_UPDATE(req))
		return 481;     /* only in a dialog (§15, RFC 3262, RFC 3311) */
	/* From the network: calls, subscriptions, messages and unsolicited
	 * NOTIFYs (message-summary, RFC 3842) for the applications; OPTIONS
	 * is the stack's to answer.  From an application: anything else out
	 * of a dialog (OPTIONS to a user, PUBLISH, REFER, ...) goes out as
	 * MESSAGE does, one transaction made again on the network leg. */
	if (kind == LEG_NET && !MSG_IS_INVITE(req) && !MSG_IS_MESSAGE(req) &&
	    !MSG_IS_SUBSCRIBE(req) && !MSG_IS_NOTIFY(req))
		return 0x7fff;  /* the stack's default answer */
	return kind == LEG_NET ? take_from_network(cs, id, tp, from, req) :
				 take_from_app(cs, id, peer, req);
}

static int net_take_cb(void *ud, uint64_t id, struct sip_transport *tp,
		       const struct sockaddr *from, const osip_message_t *req)
{
	int r = take(ud, LEG_NET, id, req, from, tp, NULL);

	return r == 0x7fff ? -1 : r;
}

static int app_take_cb(void *ud, uint64_t id, const struct edge_peer *from,
		       const osip_message_t *req)
{
	return take(ud, LEG_APP, id, req, NULL, NULL, from);
}

/* An ACK for our 2xx, or a 2xx sent again. */
static void stray(struct calls *cs, enum leg_kind kind, const osip_message_t *m)
{
	struct leg *l;

	if (MSG_IS_ACK(m)) {
		l = find_leg(cs, kind, m, false);
		if (l && l->last_2xx) {
			ev_timer_stop(cs->loop, &l->t2xx);
			osip_message_free(l->last_2xx);
			l->last_2xx = NULL;
		}
		return;
	}
	l = find_leg(cs, kind, m, true);
	if (l && l->last_ack)
		leg_send(l, l->last_ack);
}

static void net_stray_cb(void *ud, struct sip_transport *tp, const struct sockaddr *from,
			 const osip_message_t *m)
{
	(void)tp;
	(void)from;
	stray(ud, LEG_NET, m);
}

static void app_stray_cb(void *ud, const struct edge_peer *from, const osip_message_t *m)
{
	(void)from;
	stray(ud, LEG_APP, m);
}

static const struct edge_call_ops edge_ops = {
	.take = app_take_cb,
	.stray = app_stray_cb,
};

/* ---- life ------------------------------------------------------------------------------ */

struct calls *calls_new(const struct call_config *cfg)
{
	struct calls *cs;

	if (!cfg || !cfg->loop || !cfg->registry || !cfg->stack || !cfg->edge) {
		errno = EINVAL;
		return NULL;
	}
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return NULL;
	cs->loop = cfg->loop;
	cs->registry = cfg->registry;
	cs->stack = cfg->stack;
	cs->edge = cfg->edge;
	cs->max_calls = cfg->max_calls ? cfg->max_calls : CALL_DEFAULT_MAX;
	cs->pool = relay_pool_new(cfg->loop, cfg->relay_port_min ? cfg->relay_port_min :
				  RELAY_DEFAULT_PORT_MIN,
				  cfg->relay_port_max ? cfg->relay_port_max : RELAY_DEFAULT_PORT_MAX);
	if (!cs->pool) {
		free(cs);
		return NULL;
	}
	ev_idle_init(&cs->reaper, reaper_cb);
	sip_stack_set_taker(cs->stack, net_take_cb, net_stray_cb, cs);
	edge_set_call_ops(cs->edge, &edge_ops, cs);
	cs->watch = registry_watch(cs->registry, on_registry_event, cs, NULL);
	return cs;
}

struct calls *calls_free(struct calls *cs)
{
	if (!cs)
		return NULL;
	for (struct call *call = cs->calls; call; call = call->next)
		call_end(call, 503, "shutdown", true);
	sip_stack_set_taker(cs->stack, NULL, NULL, NULL);
	edge_set_call_ops(cs->edge, NULL, NULL);
	if (cs->watch)
		registry_unwatch(cs->registry, cs->watch);
	reaper_cb(cs->loop, &cs->reaper, 0);
	relay_pool_free(cs->pool);
	free(cs);
	return NULL;
}

void calls_set_event_handler(struct calls *cs, call_event_fn fn, void *user_data)
{
	if (!cs)
		return;
	cs->on_event = fn;
	cs->on_event_data = user_data;
}

void calls_set_max(struct calls *cs, unsigned max)
{
	if (cs)
		cs->max_calls = max ? max : CALL_DEFAULT_MAX;
}

size_t calls_count(const struct calls *cs)
{
	size_t n = 0;

	for (const struct call *call = cs ? cs->calls : NULL; call; call = call->next)
		n += !call->dead && !call->is_message && !call->is_subscription;
	return n;
}

int calls_get(const struct calls *cs, size_t i, struct call_info *ret)
{
	for (const struct call *call = cs ? cs->calls : NULL; call; call = call->next) {
		if (call->dead || call->is_message || call->is_subscription)
			continue;
		if (i-- > 0)
			continue;
		*ret = (struct call_info){
			.id = call->id, .profile_id = call->profile_id, .direction = call->dir,
			.state = call->state, .peer = call->peer_uri, .ifname = call->ifname,
			.started_us = call->started_us, .answered_us = call->answered_us,
			.moves = call->moves,
		};
		if (call->media) {
			struct media_stats st;

			media_get_stats(call->media, &st);
			ret->media_to_net = st.to_net.packets;
			ret->media_to_app = st.to_app.packets;
			ret->media_dropped = st.to_net.dropped + st.to_app.dropped;
		}
		return 0;
	}
	return -ENOENT;
}
