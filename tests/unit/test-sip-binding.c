/* The binding state machine, driven through a fake transport and a fake
 * clock: every request it sends is serialized, parsed back with libosip2
 * and checked (Call-ID, CSeq, Contact, expires, credentials); every
 * response is built from the request as a registrar would; timers are
 * checked against the rules (refresh at 80-90 %, at least 5 s early;
 * exponential backoff with jitter, Retry-After). */
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

#include "sip/binding.h"
#include "sip/resolve.h"
#include "sip/digest.h"
#include "sip/pacer.h"
#include "sip/transport.h"
#include "tests/tools/contact-list.h"

#define PASSWORD "s3cret-Pa55"
#define INSTANCE "urn:uuid:00000000-0000-4000-8000-00000000abcd"
#define REGISTRAR4 "10.99.100.1"
#define WLAN_ADDR "10.99.1.2"
#define WWAN_ADDR "10.99.2.2"
#define CHALLENGE(nonce, extra) \
	"WWW-Authenticate: Digest realm=\"example.test\", nonce=\"" nonce "\", qop=\"auth\"" extra "\r\n"

/* ---- the fake adapter -------------------------------------------------- */

struct fake_tp {
	char ifname[IFNAMSIZ];
	char peer_name[256];            /* what TLS would verify */
	char ca_file[256];              /* ... against which CA */
	enum sip_proto proto;
	struct sockaddr_storage local;
	struct sockaddr_storage dest;
	int refs;
	bool dead;
};

struct sent {
	uint64_t id;
	osip_message_t *msg;
	struct fake_tp *tp;
	struct sockaddr_storage dest;
	uint64_t at;
	bool cancelled;
};

struct seen_event {
	enum binding_event_type type;
	enum binding_state old_state, new_state;
	enum binding_error error;
	int code;
	char reason[160];
	char contact[256];
	unsigned expires;
	uint64_t retry_ms;
	size_t n_contacts;
};

struct seen_persist {
	char call_id[80];
	uint32_t cseq;
	char contact[256];
	unsigned expires;
};

struct fake {
	struct binding *b;
	uint64_t now;
	bool timer_armed;
	uint64_t timer_at;
	int random_mode;                /* 0 xorshift, 1 zeros, 2 ones */
	uint32_t rnd;
	bool resolving;
	char resolve_host[256];
	enum binding_lookup lookup;
	unsigned flow_keepalive_ms;     /* the last flow_keepalive() */
	bool flow_keepalive_dest;       /* ... named the flow's far end */
	enum sip_proto lookup_proto;
	int resolve_calls;
	struct fake_tp tps[16];
	size_t n_tps;
	int transport_error;            /* next transport_get fails */
	uint16_t next_port;
	struct sent sent[64];
	size_t n_sent;
	uint64_t next_id;
	struct seen_event ev[64];
	size_t n_ev;
	struct seen_persist persisted[256];
	size_t n_persisted;
	struct contact_list contacts;   /* the binding's: it keeps none */
	bool free_in_observer;
	/* REGISTER pacing (paced_ops): a place in the_pacer's line */
	struct pacer_entry pace;
	int pace_requests;
	int pace_cancels;
};

/* The one pacer the bindings of paced_ops share, as in sip/stack.c. */
static struct pacer the_pacer;

static void *f_attach(void *env, struct binding *b)
{
	struct fake *f = env;

	f->b = b;
	return f;
}

static void f_detach(void *port)
{
	struct fake *f = port;

	f->b = NULL;
}

static uint64_t f_now(void *port)
{
	return ((struct fake *)port)->now;
}

static void f_timer_start(void *port, uint64_t at)
{
	struct fake *f = port;

	f->timer_armed = true;
	f->timer_at = at;
}

static void f_timer_stop(void *port)
{
	((struct fake *)port)->timer_armed = false;
}

static void f_random(void *port, void *buf, size_t len)
{
	struct fake *f = port;
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++) {
		if (f->random_mode == 1) {
			p[i] = 0;
		} else if (f->random_mode == 2) {
			p[i] = 0xff;
		} else {
			f->rnd ^= f->rnd << 13;
			f->rnd ^= f->rnd >> 17;
			f->rnd ^= f->rnd << 5;
			p[i] = (unsigned char)f->rnd;
		}
	}
}

static int f_resolve(void *port, const char *host, enum binding_lookup how,
		     enum sip_proto proto)
{
	struct fake *f = port;

	f->resolving = true;
	f->resolve_calls++;
	f->lookup = how;
	f->lookup_proto = proto;
	snprintf(f->resolve_host, sizeof(f->resolve_host), "%s", host);
	return 0;
}

static void f_resolve_cancel(void *port)
{
	((struct fake *)port)->resolving = false;
}

static bool same_addr(const struct sockaddr_storage *a,
		      const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
			      &((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

static int f_transport_get(void *port, const char *ifname,
			   const struct sockaddr *local, enum sip_proto proto,
			   const struct sockaddr *dest, const char *peer_name,
			   const char *ca_file, struct sip_transport **ret_tp,
			   struct sockaddr_storage *ret_local)
{
	struct fake *f = port;
	struct fake_tp *tp;

	if (f->transport_error) {
		int r = f->transport_error;

		f->transport_error = 0;
		return r;
	}
	/* UDP: one per (IAP, address); TCP: one per (IAP, destination). */
	for (size_t i = 0; i < f->n_tps; i++) {
		tp = &f->tps[i];
		if (!tp->dead && strcmp(tp->ifname, ifname) == 0 &&
		    tp->proto == proto && same_addr(&tp->local, local) &&
		    (proto == SIP_PROTO_UDP || same_addr(&tp->dest, dest))) {
			tp->refs++;
			*ret_tp = (struct sip_transport *)tp;
			*ret_local = tp->local;
			return 0;
		}
	}
	assert_true(f->n_tps < 16);
	tp = &f->tps[f->n_tps++];
	memset(tp, 0, sizeof(*tp));
	snprintf(tp->ifname, sizeof(tp->ifname), "%s", ifname);
	snprintf(tp->peer_name, sizeof(tp->peer_name), "%s", peer_name ? peer_name : "");
	snprintf(tp->ca_file, sizeof(tp->ca_file), "%s", ca_file ? ca_file : "");
	tp->proto = proto;
	memcpy(&tp->local, local, local->sa_family == AF_INET ?
	       sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	memcpy(&tp->dest, dest, dest->sa_family == AF_INET ?
	       sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	if (local->sa_family == AF_INET)
		((struct sockaddr_in *)&tp->local)->sin_port = htons(f->next_port++);
	else
		((struct sockaddr_in6 *)&tp->local)->sin6_port = htons(f->next_port++);
	tp->refs = 1;
	*ret_tp = (struct sip_transport *)tp;
	*ret_local = tp->local;
	return 0;
}

static void f_transport_put(void *port, struct sip_transport *t)
{
	struct fake_tp *tp = (struct fake_tp *)t;

	assert_true(tp->refs > 0);
	tp->refs--;
}

static osip_message_t *reparse(osip_message_t *m)
{
	osip_message_t *back = NULL;
	char *text;
	size_t len;

	assert_int_equal(sipmsg_to_bytes(m, &text, &len), 0);
	assert_int_equal(osip_message_init(&back), 0);
	assert_int_equal(osip_message_parse(back, text, len), 0);
	free(text);
	return back;
}

static int f_send(void *port, struct sip_transport *tp,
		  const struct sockaddr *dest, osip_message_t *req,
		  uint64_t *ret_id)
{
	struct fake *f = port;
	struct sent *s;

	assert_true(f->n_sent < 64);
	s = &f->sent[f->n_sent++];
	memset(s, 0, sizeof(*s));
	s->id = ++f->next_id;
	s->msg = reparse(req);
	osip_message_free(req);
	s->tp = (struct fake_tp *)tp;
	memcpy(&s->dest, dest, dest->sa_family == AF_INET ?
	       sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	s->at = f->now;
	*ret_id = s->id;
	return 0;
}

static void f_cancel(void *port, uint64_t id)
{
	struct fake *f = port;

	for (size_t i = 0; i < f->n_sent; i++)
		if (f->sent[i].id == id)
			f->sent[i].cancelled = true;
}

static int f_pace_request(void *port)
{
	struct fake *f = port;

	f->pace_requests++;
	assert_false(f->pace.queued);
	return pacer_acquire(&the_pacer, &f->pace, f->now) ? 0 : 1;
}

static void f_pace_cancel(void *port)
{
	struct fake *f = port;

	f->pace_cancels++;
	pacer_remove(&the_pacer, &f->pace);
}

static void f_flow_keepalive(void *port, struct sip_transport *tp,
			     const struct sockaddr *dest, unsigned interval_ms)
{
	struct fake *f = port;

	(void)tp;
	f->flow_keepalive_ms = interval_ms;
	f->flow_keepalive_dest = dest != NULL;
}

static const struct binding_ops fake_ops = {
	.flow_keepalive = f_flow_keepalive,
	.attach = f_attach,
	.detach = f_detach,
	.now_ms = f_now,
	.timer_start = f_timer_start,
	.timer_stop = f_timer_stop,
	.random = f_random,
	.resolve = f_resolve,
	.resolve_cancel = f_resolve_cancel,
	.transport_get = f_transport_get,
	.transport_put = f_transport_put,
	.send = f_send,
	.cancel = f_cancel,
};

static const struct binding_ops paced_ops = {
	.attach = f_attach,
	.detach = f_detach,
	.now_ms = f_now,
	.timer_start = f_timer_start,
	.timer_stop = f_timer_stop,
	.random = f_random,
	.resolve = f_resolve,
	.resolve_cancel = f_resolve_cancel,
	.transport_get = f_transport_get,
	.transport_put = f_transport_put,
	.send = f_send,
	.cancel = f_cancel,
	.pace_request = f_pace_request,
	.pace_cancel = f_pace_cancel,
};

static void observer(struct binding *b, const struct binding_event *ev,
		     void *user_data)
{
	struct fake *f = user_data;
	struct seen_event *s;

	assert_true(f->n_ev < 64);
	s = &f->ev[f->n_ev++];
	s->type = ev->type;
	s->old_state = ev->old_state;
	s->new_state = ev->new_state;
	s->error = ev->error;
	s->code = ev->code;
	assert_non_null(ev->reason);
	assert_null(strstr(ev->reason, PASSWORD));
	snprintf(s->reason, sizeof(s->reason), "%s", ev->reason);
	snprintf(s->contact, sizeof(s->contact), "%s",
		 ev->contact ? ev->contact : "");
	s->expires = ev->expires;
	s->retry_ms = ev->retry_ms;
	s->n_contacts = ev->n_contacts;
	if (f->free_in_observer)
		binding_free(b);
}

static void persist_cb(const struct binding_persist *p, void *user_data)
{
	struct fake *f = user_data;
	struct seen_persist *s;

	assert_true(f->n_persisted < 256);
	s = &f->persisted[f->n_persisted++];
	snprintf(s->call_id, sizeof(s->call_id), "%s", p->call_id);
	s->cseq = p->cseq;
	snprintf(s->contact, sizeof(s->contact), "%s",
		 p->contact ? p->contact : "");
	s->expires = p->expires;
}

/* ---- fixtures ---------------------------------------------------------- */

static const char *const contact_params[] = { "+sip.ice", "video" };
static const struct sipmsg_header extra_headers[] = {
	{ "P-Preferred-Identity", "<sip:alice@example.test>" },
};

static struct binding_config base_config(void)
{
	return (struct binding_config){
		.aor = "sip:alice@example.test",
		.registrar = "sip:" REGISTRAR4,
		.password = PASSWORD,
		.expires = 600,
		.contact_user = "alice-dev",
		.instance = INSTANCE,
		.contact_params = contact_params,
		.n_contact_params = 2,
		.extra_headers = extra_headers,
		.n_extra_headers = 1,
		.user_agent = "alrd-test",
	};
}

static struct fake *fake_new_ops(const struct binding_ops *ops,
				 const struct binding_config *cfg)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->now = 1000000;
	f->rnd = 0x12345678;
	f->next_port = 40000;
	assert_non_null(binding_new_with_ops(ops, f, cfg));
	assert_non_null(f->b);
	assert_int_not_equal(binding_add_observer(f->b, observer, f, NULL), 0);
	f->contacts.tap = persist_cb;
	f->contacts.tap_data = f;
	binding_set_contacts(f->b, &contact_list_ops, &f->contacts);
	return f;
}

static struct fake *fake_new_cfg(const struct binding_config *cfg)
{
	return fake_new_ops(&fake_ops, cfg);
}

static struct fake *fake_new(void)
{
	struct binding_config cfg = base_config();

	return fake_new_cfg(&cfg);
}

static void fake_free(struct fake *f)
{
	binding_free(f->b);
	for (size_t i = 0; i < f->n_sent; i++)
		osip_message_free(f->sent[i].msg);
	for (size_t i = 0; i < f->n_tps; i++)
		assert_int_equal(f->tps[i].refs, 0);
	free(f);
}

static struct sent *last(struct fake *f)
{
	assert_true(f->n_sent > 0);
	return &f->sent[f->n_sent - 1];
}

static const struct seen_event *last_event(struct fake *f)
{
	assert_true(f->n_ev > 0);
	return &f->ev[f->n_ev - 1];
}

static void expect_state(struct fake *f, enum binding_state s)
{
	if (binding_get_state(f->b) != s)
		fail_msg("state %s, expected %s",
			 binding_state_to_str(binding_get_state(f->b)),
			 binding_state_to_str(s));
}

/* ---- reading requests -------------------------------------------------- */

static const char *hdr(const osip_message_t *m, const char *lname)
{
	osip_header_t *h = NULL;

	if (osip_message_header_get_byname(m, lname, 0, &h) < 0 || !h)
		return NULL;
	return h->hvalue;
}

static unsigned cseq_of(const struct sent *s)
{
	assert_string_equal(s->msg->cseq->method, "REGISTER");
	return (unsigned)atoi(s->msg->cseq->number);
}

static const char *call_id_of(const struct sent *s)
{
	return s->msg->call_id->number;
}

static int n_contacts(const struct sent *s)
{
	return osip_list_size(&s->msg->contacts);
}

static osip_contact_t *contact_at(const struct sent *s, int i)
{
	osip_contact_t *c = NULL;

	assert_int_equal(osip_message_get_contact(s->msg, i, &c), i);
	return c;
}

static const char *contact_param(osip_contact_t *c, const char *name)
{
	osip_generic_param_t *p = NULL;

	if (osip_contact_param_get_byname(c, (char *)name, &p) != 0 || !p)
		return NULL;
	return p->gvalue ? p->gvalue : "";
}

/* The contact of ours (the one with the instance) and its URI. */
static osip_contact_t *our_contact(const struct sent *s)
{
	for (int i = 0; i < n_contacts(s); i++) {
		osip_contact_t *c = contact_at(s, i);

		if (contact_param(c, "+sip.instance"))
			return c;
	}
	return NULL;
}

static char *uri_str(const osip_uri_t *u)
{
	char *s = NULL, *copy;

	assert_int_equal(osip_uri_to_str(u, &s), 0);
	copy = strdup(s);
	osip_free(s);
	return copy;
}

static const char *unq(const char *s, char *buf, size_t size)
{
	size_t n;

	if (!s)
		return NULL;
	if (*s == '"')
		s++;
	snprintf(buf, size, "%s", s);
	n = strlen(buf);
	if (n && buf[n - 1] == '"')
		buf[n - 1] = '\0';
	return buf;
}

/* Check the Authorization header against the challenge we gave and the
 * password, and return its nc. */
static unsigned check_authorization(const struct sent *s, const char *challenge,
				    bool proxy)
{
	osip_authorization_t *a = NULL;
	struct digest_challenge c;
	struct digest_input in = { .method = "REGISTER", .username = "alice",
				   .password = PASSWORD };
	char nonce[128], uri[256], cnonce[128], resp[80], want[DIGEST_HEX_MAX];
	char *req_uri;

	if (proxy)
		assert_int_equal(osip_message_get_proxy_authorization(s->msg, 0, &a), 0);
	else
		assert_int_equal(osip_message_get_authorization(s->msg, 0, &a), 0);
	assert_non_null(a);
	assert_int_equal(digest_challenge_parse(challenge, strlen(challenge), &c), 0);
	assert_string_equal(unq(a->nonce, nonce, sizeof(nonce)), c.nonce);
	assert_int_equal(sipmsg_request_uri(s->msg, &req_uri), 0);
	assert_string_equal(unq(a->uri, uri, sizeof(uri)), req_uri);
	in.uri = uri;
	in.cnonce = unq(a->cnonce, cnonce, sizeof(cnonce));
	in.nc = (uint32_t)strtoul(a->nonce_count, NULL, 16);
	assert_int_equal(digest_compute_response(&c, &in, want), 0);
	assert_string_equal(unq(a->response, resp, sizeof(resp)), want);
	free(req_uri);
	return in.nc;
}

static bool has_authorization(const struct sent *s)
{
	osip_authorization_t *a = NULL;

	return osip_message_get_authorization(s->msg, 0, &a) == 0 && a;
}

/* ---- answering --------------------------------------------------------- */

/* A response to request s with extra header lines ("Name: v\r\n"...). */
static void respond_to(struct fake *f, struct sent *s, int code,
		       const char *reason, const char *extra)
{
	osip_message_t *resp = NULL, *back = NULL;
	char *text, *full;
	size_t len;

	assert_int_equal(sipmsg_build_response(s->msg, code, reason, "srv",
					       &resp), 0);
	assert_int_equal(sipmsg_to_bytes(resp, &text, &len), 0);
	osip_message_free(resp);
	assert_true(len > 4);
	full = malloc(len + strlen(extra ? extra : "") + 1);
	assert_non_null(full);
	memcpy(full, text, len - 2);            /* without the last CRLF */
	strcpy(full + len - 2, extra ? extra : "");
	strcat(full, "\r\n");
	free(text);
	assert_int_equal(osip_message_init(&back), 0);
	if (osip_message_parse(back, full, strlen(full)) != 0)
		fail_msg("response does not parse: %s", full);
	free(full);
	binding_handle_response(f->b, s->id, back);
	osip_message_free(back);
}

static void respond(struct fake *f, int code, const char *reason,
		    const char *extra)
{
	respond_to(f, last(f), code, reason, extra);
}

/* 200 as Kamailio sends it: every binding of the AOR with its expires and
 * a received= parameter; ours granted `expires`. */
static void grant_with(struct fake *f, unsigned expires, const char *others)
{
	struct sent *s = last(f);
	osip_contact_t *c = our_contact(s);
	char extra[2048], *uri;

	assert_non_null(c);
	uri = uri_str(c->url);
	snprintf(extra, sizeof(extra),
		 "Contact: <%s>;expires=%u;received=\"sip:192.0.2.1:5060;transport=udp\";"
		 "+sip.instance=\"<" INSTANCE ">\"\r\n%s", uri, expires,
		 others ? others : "");
	free(uri);
	respond(f, 200, "OK", extra);
}

static void grant(struct fake *f, unsigned expires)
{
	grant_with(f, expires, NULL);
}

static void fire_timer(struct fake *f)
{
	assert_true(f->timer_armed);
	assert_true(f->timer_at >= f->now);
	f->now = f->timer_at;
	f->timer_armed = false;
	binding_handle_timer(f->b);
}

/* start, challenge, answer, grant: REGISTERED with `expires` */
static void register_fully(struct fake *f, unsigned expires)
{
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	respond(f, 401, "Unauthorized", CHALLENGE("nonce-1", ""));
	grant(f, expires);
	expect_state(f, BINDING_REGISTERED);
}

/* ---- tests ------------------------------------------------------------- */

static void test_first_register(void **state)
{
	struct fake *f = fake_new();
	struct sent *s;
	osip_contact_t *c;
	osip_via_t *via;
	osip_generic_param_t *p;
	char *ruri, *curi;
	const char *callid;
	uint64_t sent_at;

	expect_state(f, BINDING_IDLE);
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	/* An IP literal needs no lookup. */
	expect_state(f, BINDING_REGISTERING);
	assert_int_equal(f->resolve_calls, 0);
	assert_int_equal(f->n_sent, 1);
	s = last(f);
	assert_string_equal(s->tp->ifname, "wlan0");
	assert_int_equal(s->tp->proto, SIP_PROTO_UDP);
	assert_int_equal(ntohs(((struct sockaddr_in *)&s->dest)->sin_port), 5060);

	assert_int_equal(sipmsg_request_uri(s->msg, &ruri), 0);
	assert_string_equal(ruri, "sip:" REGISTRAR4);
	free(ruri);
	assert_string_equal(s->msg->to->url->username, "alice");
	assert_string_equal(s->msg->from->url->username, "alice");
	assert_int_equal(osip_from_param_get_byname(s->msg->from, "tag", &p), 0);
	callid = call_id_of(s);
	assert_true(strlen(callid) >= 32);
	assert_string_equal(callid, binding_get_call_id(f->b));
	assert_int_equal(cseq_of(s), 1);
	assert_string_equal(hdr(s->msg, "expires"), "600");
	assert_string_equal(hdr(s->msg, "p-preferred-identity"), "<sip:alice@example.test>");
	assert_string_equal(hdr(s->msg, "user-agent"), "alrd-test");
	assert_int_equal(osip_list_size(&s->msg->routes), 0);
	assert_false(has_authorization(s));

	via = osip_list_get(&s->msg->vias, 0);
	assert_string_equal(via->protocol, "UDP");
	assert_string_equal(via->host, WLAN_ADDR);
	assert_string_equal(via->port, "40000");
	assert_int_equal(osip_via_param_get_byname(via, "branch", &p), 0);
	assert_memory_equal(p->gvalue, "z9hG4bK", 7);

	assert_int_equal(n_contacts(s), 1);
	c = contact_at(s, 0);
	curi = uri_str(c->url);
	assert_string_equal(curi, "sip:alice-dev@" WLAN_ADDR ":40000");
	assert_string_equal(binding_get_contact(f->b), curi);
	free(curi);
	assert_string_equal(contact_param(c, "+sip.instance"), "\"<" INSTANCE ">\"");
	/* RFC 5626: outbound supported; no reg-id until the registrar says
	 * it does outbound too (test_outbound_flow) */
	assert_null(contact_param(c, "reg-id"));
	assert_string_equal(hdr(s->msg, "supported"), "outbound");
	assert_non_null(contact_param(c, "+sip.ice"));
	assert_non_null(contact_param(c, "video"));
	assert_string_equal(contact_param(c, "expires"), "600");

	/* 401: one more request with credentials, same Call-ID, From tag,
	 * next CSeq, a new branch. */
	f->now += 30;
	respond(f, 401, "Unauthorized", CHALLENGE("nonce-1", ""));
	expect_state(f, BINDING_REGISTERING);
	assert_int_equal(f->n_sent, 2);
	s = last(f);
	assert_string_equal(call_id_of(s), callid);
	assert_int_equal(cseq_of(s), 2);
	assert_int_equal(check_authorization(s, "Digest realm=\"example.test\", "
					     "nonce=\"nonce-1\", qop=\"auth\"", false), 1);
	sent_at = s->at;

	f->now += 30;
	grant_with(f, 598, "Contact: <sip:bob@10.0.0.9>;expires=100\r\n");
	expect_state(f, BINDING_REGISTERED);
	assert_int_equal(binding_get_expires(f->b), 598);
	assert_int_equal(last_event(f)->type, BINDING_EVENT_STATE);
	assert_int_equal(last_event(f)->old_state, BINDING_REGISTERING);
	assert_int_equal(last_event(f)->new_state, BINDING_REGISTERED);
	assert_int_equal(last_event(f)->expires, 598);
	assert_string_equal(last_event(f)->contact, "sip:alice-dev@" WLAN_ADDR ":40000");
	/* Refresh between 80 % and 90 % of 598 s from when it was sent. */
	assert_true(f->timer_armed);
	assert_in_range(f->timer_at, sent_at + 478400, sent_at + 538200);
	/* Persisted: the CSeq, then the contact as granted. */
	assert_true(f->n_persisted >= 2);
	assert_string_equal(f->persisted[f->n_persisted - 1].call_id, callid);
	assert_int_equal(f->persisted[f->n_persisted - 1].cseq, 2);
	assert_string_equal(f->persisted[f->n_persisted - 1].contact,
			    "sip:alice-dev@" WLAN_ADDR ":40000");
	assert_int_equal(f->persisted[f->n_persisted - 1].expires, 598);
	fake_free(f);
}

static void test_refresh_uses_cached_challenge(void **state)
{
	struct fake *f = fake_new();
	const char *ch = "Digest realm=\"example.test\", nonce=\"nonce-1\", qop=\"auth\"";
	size_t before;

	register_fully(f, 600);
	before = f->n_sent;
	fire_timer(f);
	expect_state(f, BINDING_REGISTERING);
	/* One request, authorized in advance with the cached nonce. */
	assert_int_equal(f->n_sent, before + 1);
	assert_int_equal(cseq_of(last(f)), 3);
	assert_string_equal(call_id_of(last(f)), binding_get_call_id(f->b));
	assert_int_equal(check_authorization(last(f), ch, false), 2);
	assert_int_equal(n_contacts(last(f)), 1);
	grant(f, 600);
	expect_state(f, BINDING_REGISTERED);
	assert_int_equal(f->n_sent, before + 1);
	/* And again. */
	fire_timer(f);
	assert_int_equal(check_authorization(last(f), ch, false), 3);
	assert_int_equal(cseq_of(last(f)), 4);
	grant(f, 600);
	fake_free(f);
}

static void test_stale_nonce_retries_once(void **state)
{
	struct fake *f = fake_new();
	const char *ch2 = "Digest realm=\"example.test\", nonce=\"nonce-2\", qop=\"auth\", stale=true";
	const char *ch3 = "Digest realm=\"example.test\", nonce=\"nonce-3\", qop=\"auth\", stale=true";
	size_t before;

	register_fully(f, 600);
	fire_timer(f);
	/* The cached nonce expired: a fresh challenge, not an error. */
	respond(f, 401, "Unauthorized", CHALLENGE("nonce-2", ", stale=true"));
	expect_state(f, BINDING_REGISTERING);
	assert_int_equal(check_authorization(last(f), ch2, false), 1);
	/* stale again with the fresh nonce: once more. */
	respond(f, 401, "Unauthorized", CHALLENGE("nonce-3", ", stale=true"));
	expect_state(f, BINDING_REGISTERING);
	assert_int_equal(check_authorization(last(f), ch3, false), 1);
	before = f->n_sent;
	/* and a third time: an authentication error, no loop. */
	respond(f, 401, "Unauthorized", CHALLENGE("nonce-4", ", stale=true"));
	expect_state(f, BINDING_IDLE);
	assert_int_equal(f->n_sent, before);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_AUTH);
	assert_false(f->timer_armed);
	fake_free(f);
}

static void test_wrong_password(void **state)
{
	struct fake *f = fake_new();
	enum binding_error err;
	const char *reason;

	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	respond(f, 401, "Unauthorized", CHALLENGE("nonce-1", ""));
	assert_int_equal(f->n_sent, 2);
	respond(f, 401, "Unauthorized", CHALLENGE("nonce-5", ""));
	/* Exactly one challenge round: two REGISTERs, then a permanent
	 * error with its code and phrase. */
	assert_int_equal(f->n_sent, 2);
	expect_state(f, BINDING_IDLE);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_AUTH);
	assert_int_equal(last_event(f)->code, 401);
	assert_string_equal(last_event(f)->reason, "Unauthorized");
	assert_int_equal(binding_get_last_error(f->b, &err, &reason), 401);
	assert_int_equal(err, BINDING_ERROR_AUTH);
	assert_false(f->timer_armed);
	/* The contact never made it: nothing known, nothing to remove. */
	assert_null(contact_list_at(&f->contacts, 0, NULL));
	assert_int_equal(f->persisted[f->n_persisted - 1].expires, 0);
	fake_free(f);
}

static void test_no_password(void **state)
{
	struct binding_config cfg = base_config();
	struct fake *f;

	cfg.password = NULL;
	f = fake_new_cfg(&cfg);
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	respond(f, 401, "Unauthorized", CHALLENGE("nonce-1", ""));
	assert_int_equal(f->n_sent, 1);
	expect_state(f, BINDING_IDLE);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_AUTH);
	fake_free(f);
}

static void test_proxy_and_www_challenges(void **state)
{
	struct fake *f = fake_new();
	const char *pch = "Digest realm=\"proxy.test\", nonce=\"p-1\", qop=\"auth\", algorithm=SHA-256";
	const char *wch = "Digest realm=\"example.test\", nonce=\"w-1\", qop=\"auth\"";

	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	respond(f, 407, "Proxy Authentication Required",
		"Proxy-Authenticate: Digest realm=\"proxy.test\", nonce=\"p-1\", qop=\"auth\", algorithm=SHA-256\r\n");
	assert_int_equal(check_authorization(last(f), pch, true), 1);
	assert_false(has_authorization(last(f)));
	respond(f, 401, "Unauthorized", CHALLENGE("w-1", ""));
	assert_int_equal(check_authorization(last(f), pch, true), 2);
	assert_int_equal(check_authorization(last(f), wch, false), 1);
	grant(f, 600);
	expect_state(f, BINDING_REGISTERED);
	fake_free(f);
}

static void test_realm_mismatch(void **state)
{
	struct binding_config cfg = base_config();
	struct fake *f;

	cfg.realm = "other.test";
	f = fake_new_cfg(&cfg);
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	respond(f, 401, "Unauthorized", CHALLENGE("nonce-1", ""));
	assert_int_equal(f->n_sent, 1);
	expect_state(f, BINDING_IDLE);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_AUTH);
	fake_free(f);
}

static void test_interval_too_brief(void **state)
{
	struct fake *f = fake_new();

	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	respond(f, 423, "Interval Too Brief", "Min-Expires: 1800\r\n");
	expect_state(f, BINDING_REGISTERING);
	assert_int_equal(f->n_sent, 2);
	assert_int_equal(cseq_of(last(f)), 2);
	assert_string_equal(hdr(last(f)->msg, "expires"), "1800");
	assert_string_equal(contact_param(our_contact(last(f)), "expires"), "1800");
	grant(f, 1800);
	expect_state(f, BINDING_REGISTERED);
	/* The refresh keeps the raised value. */
	fire_timer(f);
	assert_string_equal(hdr(last(f)->msg, "expires"), "1800");
	fake_free(f);

	/* Without a usable Min-Expires: a protocol error, no loop. */
	f = fake_new();
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	respond(f, 423, "Interval Too Brief", NULL);
	expect_state(f, BINDING_IDLE);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_PROTOCOL);
	assert_int_equal(f->n_sent, 1);
	fake_free(f);

	f = fake_new();
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	respond(f, 423, "Interval Too Brief", "Min-Expires: 300\r\n");
	expect_state(f, BINDING_IDLE);
	fake_free(f);
}

static void test_redirect(void **state)
{
	struct fake *f = fake_new();
	char *ruri;

	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	respond(f, 302, "Moved Temporarily",
		"Contact: <sip:10.99.100.3>;q=0.2, <sip:10.99.100.2:5070>;q=0.9\r\n");
	/* The higher q first, at its own address and port. */
	assert_int_equal(f->n_sent, 2);
	assert_int_equal(sipmsg_request_uri(last(f)->msg, &ruri), 0);
	assert_string_equal(ruri, "sip:10.99.100.2:5070");
	free(ruri);
	assert_int_equal(ntohs(((struct sockaddr_in *)&last(f)->dest)->sin_port), 5070);
	assert_int_equal(cseq_of(last(f)), 2);
	/* It points back at the first registrar: tried already, skipped. */
	respond(f, 301, "Moved Permanently", "Contact: <sip:" REGISTRAR4 ">\r\n");
	assert_int_equal(f->n_sent, 3);
	assert_int_equal(sipmsg_request_uri(last(f)->msg, &ruri), 0);
	assert_string_equal(ruri, "sip:10.99.100.3");
	free(ruri);
	grant(f, 600);
	expect_state(f, BINDING_REGISTERED);
	/* Refreshes go where we are registered. */
	fire_timer(f);
	assert_int_equal(sipmsg_request_uri(last(f)->msg, &ruri), 0);
	assert_string_equal(ruri, "sip:10.99.100.3");
	free(ruri);
	/* Nothing left to try: BACKOFF, then from the configured registrar. */
	respond(f, 302, "Moved Temporarily", "Contact: <sip:10.99.100.2:5070>\r\n");
	respond(f, 302, "Moved Temporarily", "Contact: <sip:10.99.100.3>\r\n");
	expect_state(f, BINDING_BACKOFF);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_REDIRECT);
	fire_timer(f);
	assert_int_equal(sipmsg_request_uri(last(f)->msg, &ruri), 0);
	assert_string_equal(ruri, "sip:" REGISTRAR4);
	free(ruri);
	fake_free(f);
}

struct permanent_case {
	int code;
	const char *reason;
	enum binding_error error;
};

static const struct permanent_case permanent_cases[] = {
	{ 403, "Forbidden", BINDING_ERROR_FORBIDDEN },
	{ 404, "Not Found", BINDING_ERROR_NOT_FOUND },
	{ 400, "Bad Request", BINDING_ERROR_REJECTED },
	{ 420, "Bad Extension", BINDING_ERROR_REJECTED },
	{ 606, "Not Acceptable", BINDING_ERROR_REJECTED },
};

static void test_permanent_errors(void **state)
{
	for (size_t i = 0; i < sizeof(permanent_cases) / sizeof(permanent_cases[0]); i++) {
		const struct permanent_case *c = &permanent_cases[i];
		struct fake *f = fake_new();

		assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
		respond(f, c->code, c->reason, NULL);
		expect_state(f, BINDING_IDLE);
		assert_int_equal(f->n_sent, 1);
		assert_false(f->timer_armed);
		assert_int_equal(last_event(f)->error, c->error);
		assert_int_equal(last_event(f)->code, c->code);
		assert_string_equal(last_event(f)->reason, c->reason);
		assert_true(binding_error_is_permanent(c->error));
		fake_free(f);
	}
}

/* The delay entered with BACKOFF, checked against [d/2, d]. */
static uint64_t check_backoff(struct fake *f, unsigned n)
{
	uint64_t d = 2000ull << (n < 20 ? n : 20), delay;

	if (d > 1800000)
		d = 1800000;
	expect_state(f, BINDING_BACKOFF);
	delay = last_event(f)->retry_ms;
	assert_true(f->timer_armed);
	assert_int_equal(f->timer_at, f->now + delay);
	if (delay < d / 2 || delay > d)
		fail_msg("backoff %u: %llu ms outside [%llu, %llu]", n,
			 (unsigned long long)delay, (unsigned long long)d / 2,
			 (unsigned long long)d);
	return delay;
}

static void test_backoff_grows_to_cap(void **state)
{
	struct fake *f = fake_new();
	uint64_t total = 0;
	unsigned cseq = 1;

	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	for (unsigned n = 0; n < 16; n++) {
		/* Each failure kind that is worth a retry. */
		switch (n % 5) {
		case 0:
			respond(f, 503, "Service Unavailable", NULL);
			assert_int_equal(last_event(f)->error, BINDING_ERROR_SERVER);
			break;
		case 1:
			respond(f, 408, "Request Timeout", NULL);
			break;
		case 2:
			respond(f, 480, "Temporarily Unavailable", NULL);
			break;
		case 3:
			binding_handle_request_failed(f->b, last(f)->id, -ETIMEDOUT);
			assert_int_equal(last_event(f)->error, BINDING_ERROR_TIMEOUT);
			assert_int_equal(last_event(f)->code, 408);
			break;
		case 4:
			binding_handle_request_failed(f->b, last(f)->id,
						      n < 8 ? -EHOSTUNREACH : -ECONNREFUSED);
			assert_int_equal(last_event(f)->error, n < 8 ?
					 BINDING_ERROR_TRANSPORT : BINDING_ERROR_SERVER);
			assert_int_equal(last_event(f)->code, n < 8 ? -EHOSTUNREACH :
					 -ECONNREFUSED);
			break;
		}
		total += check_backoff(f, n);
		fire_timer(f);
		expect_state(f, BINDING_REGISTERING);
		/* Same Call-ID, the CSeq only grows. */
		assert_int_equal(cseq_of(last(f)), ++cseq);
		assert_string_equal(call_id_of(last(f)), binding_get_call_id(f->b));
	}
	/* Not a storm: 16 attempts took more than 1.5 h, none more than
	 * 30 min apart. */
	assert_true(total > 90 * 60 * 1000ull);
	/* Success resets the backoff. */
	grant(f, 600);
	fire_timer(f);
	respond(f, 500, "Server Internal Error", NULL);
	check_backoff(f, 0);
	fake_free(f);
}

static void test_retry_after(void **state)
{
	struct fake *f = fake_new();

	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	respond(f, 503, "Service Unavailable", "Retry-After: 120 (maintenance)\r\n");
	expect_state(f, BINDING_BACKOFF);
	assert_int_equal(last_event(f)->retry_ms, 120000);
	assert_int_equal(f->timer_at, f->now + 120000);
	fake_free(f);
}

/* A Retry-After that is negative or otherwise malformed is absent (the
 * usual backoff, not a retry at once nor its leading digits); a huge one
 * waits no longer than the backoff's cap. */
struct retry_after_case {
	const char *header;
	uint64_t retry_ms;              /* 0: the usual backoff */
};

static const struct retry_after_case retry_after_cases[] = {
	{ "Retry-After: -5\r\n", 0 },
	{ "Retry-After: -99999999999\r\n", 0 },
	{ "Retry-After: 0\r\n", 0 },
	{ "Retry-After: 5abc\r\n", 0 },
	{ "Retry-After: 7.5\r\n", 0 },
	{ "Retry-After: soon\r\n", 0 },
	{ "Retry-After: 30 ;duration=60\r\n", 30000 },
	{ "Retry-After: 99999999999\r\n", 1800000 },
	{ "Retry-After: 86400\r\n", 1800000 },
};

static void test_retry_after_malformed(void **state)
{
	for (size_t i = 0; i < sizeof(retry_after_cases) / sizeof(retry_after_cases[0]); i++) {
		const struct retry_after_case *c = &retry_after_cases[i];
		struct fake *f = fake_new();

		assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
		respond(f, 503, "Service Unavailable", c->header);
		expect_state(f, BINDING_BACKOFF);
		if (c->retry_ms == 0) {
			check_backoff(f, 0);
		} else if (last_event(f)->retry_ms != c->retry_ms) {
			fail_msg("%s: retry in %llu ms, expected %llu", c->header,
				 (unsigned long long)last_event(f)->retry_ms,
				 (unsigned long long)c->retry_ms);
		}
		assert_int_equal(f->timer_at, f->now + last_event(f)->retry_ms);
		fake_free(f);
	}
}

struct refresh_case {
	unsigned granted;
	uint64_t min, max;              /* ms after the REGISTER was sent */
};

static const struct refresh_case refresh_cases[] = {
	{ 600, 480000, 540000 },        /* 80 % .. 90 % */
	{ 3600, 2880000, 3240000 },
	{ 30, 24000, 25000 },           /* 27 s would be < 5 s before */
	{ 10, 5000, 5000 },             /* 8 s would be */
	{ 6, 1000, 1000 },
	{ 4, 2000, 2000 },              /* too short for the margin: half */
};

static void test_refresh_timing(void **state)
{
	for (size_t i = 0; i < sizeof(refresh_cases) / sizeof(refresh_cases[0]); i++) {
		for (int mode = 0; mode < 3; mode++) {
			const struct refresh_case *c = &refresh_cases[i];
			struct fake *f = fake_new();
			uint64_t sent_at, at;

			assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
			sent_at = last(f)->at;
			f->now += 50;
			f->random_mode = mode;
			grant(f, c->granted);
			at = f->timer_at - sent_at;
			if (at < c->min || at > c->max)
				fail_msg("granted %u: refresh at +%llu, expected "
					 "+%llu..+%llu", c->granted,
					 (unsigned long long)at,
					 (unsigned long long)c->min,
					 (unsigned long long)c->max);
			/* the lowest random value gives the 80 % point */
			if (mode == 1 && c->granted >= 30)
				assert_int_equal(at, c->min);
			fake_free(f);
		}
	}
}

static void test_granted_expiry_sources(void **state)
{
	struct fake *f;

	/* The Expires header when our contact has no parameter. */
	f = fake_new();
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	respond(f, 200, "OK", "Contact: <sip:alice-dev@" WLAN_ADDR ":40000>\r\nExpires: 300\r\n");
	expect_state(f, BINDING_REGISTERED);
	assert_int_equal(binding_get_expires(f->b), 300);
	fake_free(f);

	/* Matched by URI although the registrar added parameters and
	 * wrote the port out. */
	f = fake_new();
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	respond(f, 200, "OK", "Contact: <sip:alice-dev@10.99.1.2:40000;transport=UDP>;expires=120;received=\"sip:1.2.3.4\"\r\n");
	assert_int_equal(binding_get_expires(f->b), 120);
	fake_free(f);

	/* Other contacts listed but not ours: not registered. */
	f = fake_new();
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	respond(f, 200, "OK", "Contact: <sip:bob@10.0.0.9>;expires=100\r\n");
	expect_state(f, BINDING_BACKOFF);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_PROTOCOL);
	fake_free(f);

	/* expires=0 for ours: refused. */
	f = fake_new();
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	grant(f, 0);
	expect_state(f, BINDING_BACKOFF);
	fake_free(f);
}

/* RFC 3261 §10.2.4: a 2xx lists the AOR's bindings; without ours the
 * registration did not take.  A 200 with no Contact at all is a failure
 * (BACKOFF, then a new attempt), not REGISTERED for what we asked. */
static void test_2xx_without_our_contact(void **state)
{
	struct fake *f = fake_new();
	unsigned n;

	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	respond(f, 200, "OK", "Expires: 600\r\n");
	check_backoff(f, 0);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_PROTOCOL);
	assert_int_equal(last_event(f)->code, 200);
	assert_non_null(strstr(last_event(f)->reason, "listing no bindings"));
	assert_int_equal(binding_get_expires(f->b), 0);
	for (size_t i = 0; i < f->n_ev; i++)
		assert_int_not_equal(f->ev[i].new_state, BINDING_REGISTERED);
	/* The retry is a new REGISTER, with the usual growing backoff. */
	n = f->n_sent;
	fire_timer(f);
	assert_int_equal(f->n_sent, n + 1);
	respond(f, 200, "OK", NULL);
	check_backoff(f, 1);
	/* Once it lists ours, registered. */
	fire_timer(f);
	grant(f, 600);
	expect_state(f, BINDING_REGISTERED);
	/* A refresh answered without ours: not registered any more. */
	fire_timer(f);
	expect_state(f, BINDING_REGISTERING);
	respond(f, 200, "OK", "Contact: <sip:bob@10.0.0.9>;expires=100\r\n");
	check_backoff(f, 0);
	assert_non_null(strstr(last_event(f)->reason,
			       "without our contact among the bindings"));
	fake_free(f);
}

static void test_deregister(void **state)
{
	struct fake *f = fake_new();
	const char *ch = "Digest realm=\"example.test\", nonce=\"nonce-1\", qop=\"auth\"";
	osip_contact_t *c;
	char *uri;

	register_fully(f, 600);
	assert_int_equal(binding_stop(f->b), 0);
	expect_state(f, BINDING_UNREGISTERING);
	assert_false(f->timer_armed);
	assert_int_equal(f->n_sent, 3);
	/* RFC 3261 §10.2.2: same Call-ID, CSeq + 1, our contact with
	 * expires=0 and no instance (Kamailio matches instances first). */
	assert_int_equal(cseq_of(last(f)), 3);
	assert_string_equal(call_id_of(last(f)), binding_get_call_id(f->b));
	assert_int_equal(n_contacts(last(f)), 1);
	c = contact_at(last(f), 0);
	uri = uri_str(c->url);
	assert_string_equal(uri, "sip:alice-dev@" WLAN_ADDR ":40000");
	free(uri);
	assert_string_equal(contact_param(c, "expires"), "0");
	assert_null(contact_param(c, "+sip.instance"));
	assert_string_equal(hdr(last(f)->msg, "expires"), "0");
	assert_int_equal(check_authorization(last(f), ch, false), 2);
	respond(f, 200, "OK", NULL);
	expect_state(f, BINDING_IDLE);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_NONE);
	assert_null(contact_list_at(&f->contacts, 0, NULL));
	assert_int_equal(f->persisted[f->n_persisted - 1].expires, 0);
	/* Stopping an idle binding is nothing. */
	assert_int_equal(binding_stop(f->b), 0);
	assert_int_equal(f->n_sent, 3);
	fake_free(f);
}

static void test_stop_while_registering(void **state)
{
	struct fake *f = fake_new();

	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	assert_int_equal(binding_stop(f->b), 0);
	expect_state(f, BINDING_UNREGISTERING);
	/* One request at a time: nothing until the REGISTER has its answer. */
	assert_int_equal(f->n_sent, 1);
	grant(f, 600);
	expect_state(f, BINDING_UNREGISTERING);
	assert_int_equal(f->n_sent, 2);
	assert_string_equal(contact_param(contact_at(last(f), 0), "expires"), "0");
	assert_int_equal(cseq_of(last(f)), 2);
	respond(f, 200, "OK", NULL);
	expect_state(f, BINDING_IDLE);
	fake_free(f);

	/* A timed-out REGISTER may have registered: removed on stop. */
	f = fake_new();
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	binding_handle_request_failed(f->b, last(f)->id, -ETIMEDOUT);
	expect_state(f, BINDING_BACKOFF);
	assert_int_equal(binding_stop(f->b), 0);
	expect_state(f, BINDING_UNREGISTERING);
	assert_int_equal(f->n_sent, 2);
	assert_string_equal(contact_param(contact_at(last(f), 0), "expires"), "0");
	binding_handle_request_failed(f->b, last(f)->id, -ETIMEDOUT);
	expect_state(f, BINDING_IDLE);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_TIMEOUT);
	/* still known (and persisted) for a later cleanup */
	assert_non_null(contact_list_at(&f->contacts, 0, NULL));
	fake_free(f);
}

static void test_move_and_remove_old_contact(void **state)
{
	struct fake *f = fake_new();
	const char *ch = "Digest realm=\"example.test\", nonce=\"nonce-1\", qop=\"auth\"";
	const char *ifname;
	char old[256], *uri;
	const char *callid;
	unsigned cseq;

	register_fully(f, 600);
	snprintf(old, sizeof(old), "%s", binding_get_contact(f->b));
	callid = binding_get_call_id(f->b);
	cseq = binding_get_cseq(f->b);
	assert_int_equal(binding_move(f->b, "wwan0", WWAN_ADDR), 0);
	expect_state(f, BINDING_REGISTERING);
	/* One request with the cached challenge: one round trip. */
	assert_int_equal(f->n_sent, 3);
	assert_string_equal(last(f)->tp->ifname, "wwan0");
	assert_string_equal(call_id_of(last(f)), callid);
	assert_int_equal(cseq_of(last(f)), cseq + 1);
	assert_int_equal(check_authorization(last(f), ch, false), 2);
	/* Only the new contact: the old one is over another IAP (make
	 * before break). */
	assert_int_equal(n_contacts(last(f)), 1);
	uri = uri_str(our_contact(last(f))->url);
	assert_string_equal(uri, "sip:alice-dev@" WWAN_ADDR ":40001");
	free(uri);
	{
		char others[512];

		snprintf(others, sizeof(others), "Contact: <%s>;expires=590\r\n", old);
		grant_with(f, 600, others);
	}
	expect_state(f, BINDING_REGISTERED);
	assert_non_null(contact_list_at(&f->contacts, 1, NULL));
	assert_string_equal(contact_list_at(&f->contacts, 0, &ifname), old);
	assert_string_equal(ifname, "wlan0");

	/* Remove the old contact over the new IAP. */
	assert_int_equal(binding_remove_contact(f->b, old, "wwan0", WWAN_ADDR), 0);
	assert_int_equal(f->n_sent, 4);
	assert_string_equal(last(f)->tp->ifname, "wwan0");
	assert_int_equal(cseq_of(last(f)), cseq + 2);
	assert_string_equal(call_id_of(last(f)), callid);
	assert_int_equal(n_contacts(last(f)), 1);
	uri = uri_str(contact_at(last(f), 0)->url);
	assert_string_equal(uri, old);
	free(uri);
	assert_string_equal(contact_param(contact_at(last(f), 0), "expires"), "0");
	assert_null(contact_param(contact_at(last(f), 0), "+sip.instance"));
	respond(f, 200, "OK", NULL);
	assert_int_equal(last_event(f)->type, BINDING_EVENT_CONTACT_REMOVED);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_NONE);
	assert_string_equal(last_event(f)->contact, old);
	expect_state(f, BINDING_REGISTERED);
	assert_null(contact_list_at(&f->contacts, 1, NULL));
	fake_free(f);
}

static void test_move_replaced_by_instance(void **state)
{
	struct fake *f = fake_new();

	/* Kamailio replaces a contact with the same +sip.instance: the 2xx
	 * lists only the new one, and the old one is forgotten. */
	char old[256];

	register_fully(f, 600);
	snprintf(old, sizeof(old), "%s", binding_get_contact(f->b));
	assert_int_equal(binding_move(f->b, "wwan0", WWAN_ADDR), 0);
	grant(f, 600);
	expect_state(f, BINDING_REGISTERED);
	assert_string_equal(contact_list_at(&f->contacts, 0, NULL),
			    binding_get_contact(f->b));
	assert_null(contact_list_at(&f->contacts, 1, NULL));
	/* the hook heard that the old one is gone */
	assert_string_equal(f->persisted[f->n_persisted - 1].contact, old);
	assert_int_equal(f->persisted[f->n_persisted - 1].expires, 0);
	/* stop removes just the one */
	assert_int_equal(binding_stop(f->b), 0);
	assert_int_equal(n_contacts(last(f)), 1);
	respond(f, 200, "OK", NULL);
	expect_state(f, BINDING_IDLE);
	fake_free(f);
}

static void test_move_while_registering(void **state)
{
	struct fake *f = fake_new();

	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	assert_int_equal(binding_move(f->b, "wwan0", WWAN_ADDR), 0);
	assert_true(f->sent[0].cancelled);
	assert_int_equal(f->n_sent, 2);
	assert_string_equal(last(f)->tp->ifname, "wwan0");
	assert_int_equal(cseq_of(last(f)), 2);
	/* A late answer to the cancelled one is ignored. */
	respond_to(f, &f->sent[0], 200, "OK", NULL);
	expect_state(f, BINDING_REGISTERING);
	grant(f, 600);
	expect_state(f, BINDING_REGISTERED);
	assert_int_equal(binding_move(f->b, "wwan0", WWAN_ADDR), -EALREADY);
	fake_free(f);
}

static void test_abandon_keeps_contacts(void **state)
{
	struct fake *f = fake_new();
	char old[256], *uri;
	const char *ifname;
	size_t sent, persisted;

	(void)state;
	register_fully(f, 600);
	snprintf(old, sizeof(old), "%s", binding_get_contact(f->b));
	sent = f->n_sent;
	persisted = f->n_persisted;
	/* No IAP left: idle without a request, nothing forgotten. */
	assert_int_equal(binding_abandon(f->b), 0);
	expect_state(f, BINDING_IDLE);
	assert_int_equal(f->n_sent, sent);
	assert_false(f->timer_armed);
	assert_int_equal(f->n_persisted, persisted);
	assert_string_equal(contact_list_at(&f->contacts, 0, &ifname), old);
	assert_string_equal(ifname, "wlan0");
	assert_int_equal(binding_abandon(f->b), 0);     /* idle: nothing */
	assert_int_equal(f->n_sent, sent);

	/* Another IAP comes: a REGISTER of the new contact only, same
	 * Call-ID; the old contact is still known until removed. */
	assert_int_equal(binding_start(f->b, "wwan0", WWAN_ADDR), 0);
	assert_int_equal(f->n_sent, sent + 1);
	assert_string_equal(last(f)->tp->ifname, "wwan0");
	assert_int_equal(n_contacts(last(f)), 1);
	uri = uri_str(our_contact(last(f))->url);
	assert_string_equal(uri, "sip:alice-dev@" WWAN_ADDR ":40001");
	free(uri);
	{
		char others[512];

		snprintf(others, sizeof(others), "Contact: <%s>;expires=500\r\n", old);
		grant_with(f, 600, others);
	}
	expect_state(f, BINDING_REGISTERED);
	assert_string_equal(contact_list_at(&f->contacts, 0, &ifname), old);
	assert_string_equal(ifname, "wlan0");
	fake_free(f);
}

static void test_abandon_while_registering(void **state)
{
	struct fake *f = fake_new();

	(void)state;
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	assert_int_equal(f->n_sent, 1);
	assert_int_equal(binding_abandon(f->b), 0);
	assert_true(f->sent[0].cancelled);
	expect_state(f, BINDING_IDLE);
	/* A late answer to the cancelled one is ignored. */
	respond_to(f, &f->sent[0], 200, "OK", NULL);
	expect_state(f, BINDING_IDLE);
	/* Unregistering is not abandoned. */
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	grant(f, 600);
	assert_int_equal(binding_stop(f->b), 0);
	assert_int_equal(binding_abandon(f->b), -EBUSY);
	fake_free(f);
}

static void test_query(void **state)
{
	struct fake *f = fake_new();

	register_fully(f, 600);
	assert_int_equal(binding_query(f->b, NULL, NULL), 0);
	assert_int_equal(f->n_sent, 3);
	assert_int_equal(n_contacts(last(f)), 0);
	assert_null(hdr(last(f)->msg, "expires"));
	assert_int_equal(cseq_of(last(f)), 3);
	{
		char extra[512];

		snprintf(extra, sizeof(extra), "Contact: <%s>;expires=500, "
			 "<sip:alice-other@10.0.0.7>;expires=100\r\n",
			 binding_get_contact(f->b));
		respond(f, 200, "OK", extra);
	}
	assert_int_equal(last_event(f)->type, BINDING_EVENT_QUERY);
	assert_int_equal(last_event(f)->n_contacts, 2);
	expect_state(f, BINDING_REGISTERED);
	fake_free(f);
}

/* [sip] registration-check: over UDP, a REGISTER without Contact every
 * check_ms while registered; when the registrar no longer lists our
 * contact (it restarted), a REGISTER at once; observers see no query
 * events of it, and nothing is checked over TCP or when check_ms is 0. */
static void test_registration_check(void **state)
{
	struct binding_config cfg = base_config();
	struct fake *f;
	size_t n, ev;
	uint64_t t0;

	cfg.check_ms = 25000;
	f = fake_new_cfg(&cfg);
	register_fully(f, 600);
	t0 = f->now;
	/* The check comes before the refresh (480-540 s). */
	assert_true(f->timer_armed);
	assert_int_equal(f->timer_at, t0 + 25000);
	n = f->n_sent;
	ev = f->n_ev;
	fire_timer(f);
	assert_int_equal(f->n_sent, n + 1);
	assert_int_equal(n_contacts(last(f)), 0);
	assert_true(has_authorization(last(f)));
	{
		char extra[512];

		/* Still listed (with Kamailio's received=): nothing more. */
		snprintf(extra, sizeof(extra), "Contact: <%s>;expires=575;"
			 "received=\"sip:192.0.2.1:5060\"\r\n", binding_get_contact(f->b));
		respond(f, 200, "OK", extra);
	}
	assert_int_equal(f->n_sent, n + 1);
	assert_int_equal(f->n_ev, ev);
	expect_state(f, BINDING_REGISTERED);
	assert_int_equal(f->timer_at, t0 + 50000);

	/* The registrar restarted: it lists nobody.  REGISTER at once. */
	fire_timer(f);
	assert_int_equal(f->n_sent, n + 2);
	respond(f, 200, "OK", NULL);
	assert_int_equal(f->n_sent, n + 3);
	expect_state(f, BINDING_REGISTERING);
	assert_int_equal(n_contacts(last(f)), 1);
	grant(f, 600);
	expect_state(f, BINDING_REGISTERED);
	/* Only state events: the checks are the binding's own. */
	for (size_t i = ev; i < f->n_ev; i++)
		assert_int_equal(f->ev[i].type, BINDING_EVENT_STATE);

	/* A check that is not answered concludes nothing. */
	assert_int_equal(f->timer_at, f->now + 25000);
	fire_timer(f);
	n = f->n_sent;
	binding_handle_request_failed(f->b, last(f)->id, -ETIMEDOUT);
	assert_int_equal(f->n_sent, n);
	expect_state(f, BINDING_REGISTERED);
	assert_int_equal(f->timer_at, f->now + 25000);

	/* One refused (ICMP port unreachable from the registrar: nothing
	 * listens there any more): REGISTER at once, which tries the next
	 * target when refused too. */
	fire_timer(f);
	n = f->n_sent;
	binding_handle_request_failed(f->b, last(f)->id, -ECONNREFUSED);
	assert_int_equal(f->n_sent, n + 1);
	expect_state(f, BINDING_REGISTERING);
	assert_int_equal(n_contacts(last(f)), 1);
	fake_free(f);

	/* check_ms 0: the refresh is the only timer. */
	cfg.check_ms = 0;
	f = fake_new_cfg(&cfg);
	register_fully(f, 600);
	assert_true(f->timer_at >= f->now + 480000);
	fake_free(f);

	/* TCP: the connection says it; no checks. */
	cfg.check_ms = 25000;
	cfg.registrar = "sip:" REGISTRAR4 ";transport=tcp";
	f = fake_new_cfg(&cfg);
	register_fully(f, 600);
	assert_true(f->timer_at >= f->now + 480000);
	fake_free(f);
}

/* The contact granted without a reg-id is removed once the refresh with
 * one is granted: the instance, no reg-id, expires=0 (RFC 5626 §6: a
 * flow of its own at the registrar).  Answered here. */
static void expect_plain_removal(struct fake *f)
{
	osip_contact_t *c = our_contact(last(f));

	assert_non_null(c);
	assert_null(contact_param(c, "reg-id"));
	assert_string_equal(contact_param(c, "expires"), "0");
	respond(f, 200, "OK", NULL);
}

/* RFC 5626: a registrar that answers Require: outbound and Flow-Timer
 * makes the binding keep its flow alive at 80-100 % of that (TCP by
 * pings, UDP by STUN); without Require: outbound nothing is asked of the
 * transport.  The reg-id is the IAP's: the same over the same interface,
 * another over another.  The first 2xx that shows outbound is followed
 * at once by a refresh with the reg-id and the removal of the contact
 * without one. */
static void test_outbound_flow(void **state)
{
	struct binding_config cfg = base_config();
	struct fake *f;
	char id1[16], id2[16];

	cfg.registrar = "sip:" REGISTRAR4 ";transport=tcp";
	f = fake_new_cfg(&cfg);
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	respond(f, 401, "Unauthorized", CHALLENGE("nonce-1", ""));
	assert_null(contact_param(our_contact(last(f)), "reg-id"));
	grant_with(f, 600, "Require: outbound\r\nFlow-Timer: 30\r\n");
	expect_state(f, BINDING_REGISTERED);
	assert_true(f->flow_keepalive_ms >= 24000 && f->flow_keepalive_ms <= 30000);
	/* the registrar does outbound: the refresh, at once, names this
	 * IAP's flow */
	assert_true(f->timer_armed);
	assert_true(f->timer_at == f->now);
	fire_timer(f);
	assert_non_null(contact_param(our_contact(last(f)), "reg-id"));
	snprintf(id1, sizeof(id1), "%s", contact_param(our_contact(last(f)), "reg-id"));
	assert_true(atoi(id1) >= 1 && atoi(id1) <= 9999);
	grant_with(f, 600, "Require: outbound\r\nFlow-Timer: 30\r\n");
	expect_plain_removal(f);
	expect_state(f, BINDING_REGISTERED);
	assert_true(f->timer_at >= f->now + 480000);
	/* the next refresh keeps the reg-id, and removes nothing */
	fire_timer(f);
	assert_string_equal(contact_param(our_contact(last(f)), "reg-id"), id1);
	grant_with(f, 600, "Require: outbound\r\nFlow-Timer: 30\r\n");
	assert_true(f->timer_at >= f->now + 480000);
	/* the move: another flow, another reg-id */
	assert_int_equal(binding_move(f->b, "wwan0", WWAN_ADDR), 0);
	snprintf(id2, sizeof(id2), "%s", contact_param(our_contact(last(f)), "reg-id"));
	assert_string_not_equal(id1, id2);
	fake_free(f);

	/* no outbound in the 2xx: the Flow-Timer alone asks nothing, and
	 * the refresh has no reg-id */
	f = fake_new_cfg(&cfg);
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	respond(f, 401, "Unauthorized", CHALLENGE("nonce-1", ""));
	grant_with(f, 600, "Flow-Timer: 30\r\n");
	expect_state(f, BINDING_REGISTERED);
	assert_int_equal(f->flow_keepalive_ms, 0);
	assert_true(f->timer_at >= f->now + 480000);
	fire_timer(f);
	assert_null(contact_param(our_contact(last(f)), "reg-id"));
	fake_free(f);

	/* UDP, Supported: outbound without Require: no STUN (the
	 * registration check keeps it); the reg-id comes as over TCP */
	cfg.registrar = "sip:" REGISTRAR4;
	f = fake_new_cfg(&cfg);
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	respond(f, 401, "Unauthorized", CHALLENGE("nonce-1", ""));
	grant_with(f, 600, "Supported: outbound\r\nFlow-Timer: 30\r\n");
	assert_int_equal(f->flow_keepalive_ms, 0);
	fire_timer(f);
	assert_string_equal(contact_param(our_contact(last(f)), "reg-id"), id1);
	/* UDP with Require: outbound: STUN at 80-100 % of the Flow-Timer,
	 * to the flow's far end; a 2xx without it again stops them */
	grant_with(f, 600, "Require: outbound\r\nFlow-Timer: 30\r\n");
	assert_true(f->flow_keepalive_ms >= 24000 && f->flow_keepalive_ms <= 30000);
	assert_true(f->flow_keepalive_dest);
	expect_plain_removal(f);
	fire_timer(f);
	grant_with(f, 600, "Supported: outbound\r\n");
	assert_int_equal(f->flow_keepalive_ms, 0);
	/* ... and without a Flow-Timer, RFC 5626 §4.4.1's 95-120 s */
	fire_timer(f);
	grant_with(f, 600, "Require: outbound\r\n");
	assert_true(f->flow_keepalive_ms >= 95000 && f->flow_keepalive_ms <= 120000);
	fake_free(f);
}

static const struct sockaddr_in *dest4_of(const struct sent *s)
{
	assert_int_equal(s->dest.ss_family, AF_INET);
	return (const struct sockaddr_in *)&s->dest;
}

/* A closed port (ICMP port unreachable from the registrar's address, a
 * refused connection: -ECONNREFUSED) is the server's error: the next
 * address of the name at once, within the attempt; after the last,
 * BACKOFF as for a 503 without Retry-After.  An ICMP host unreachable
 * (-EHOSTUNREACH) is transport evidence: BACKOFF, no next address. */
/* RFC 3263: what is looked up follows the URI (a port: addresses only; a
 * transport: SRV of it; a bare name: NAPTR); SRV targets come with their
 * ports and transport, and the next one is tried within the attempt on a
 * 503 and on no answer. */
static void set_target(struct sockaddr_storage *ss, const char *addr, unsigned port)
{
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	inet_pton(AF_INET, addr, &a->sin_addr);
}

static void test_srv_targets(void **state)
{
	static const struct { const char *uri; enum binding_lookup how; enum sip_proto proto; }
	kinds[] = {
		{ "sip:registrar.example.test", BINDING_LOOKUP_NAPTR, SIP_PROTO_UDP },
		{ "sip:registrar.example.test;transport=tcp", BINDING_LOOKUP_SRV, SIP_PROTO_TCP },
		{ "sip:registrar.example.test;transport=udp", BINDING_LOOKUP_SRV, SIP_PROTO_UDP },
		{ "sip:registrar.example.test:5070", BINDING_LOOKUP_ADDRESS, SIP_PROTO_UDP },
	};
	struct binding_config cfg = base_config();
	struct sockaddr_storage t[3];
	struct fake *f;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		cfg.registrar = kinds[i].uri;
		f = fake_new_cfg(&cfg);
		assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
		assert_true(f->resolving);
		assert_string_equal(f->resolve_host, "registrar.example.test");
		assert_int_equal(f->lookup, kinds[i].how);
		assert_int_equal(f->lookup_proto, kinds[i].proto);
		fake_free(f);
	}

	/* NAPTR chose TCP; three targets in SRV order. */
	cfg.registrar = "sip:registrar.example.test";
	f = fake_new_cfg(&cfg);
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	set_target(&t[0], "10.99.100.2", 5070);
	set_target(&t[1], "10.99.100.3", 5080);
	set_target(&t[2], "10.99.100.3", 5090);
	binding_handle_targets(f->b, 0, SIP_PROTO_TCP, t, 3);
	expect_state(f, BINDING_REGISTERING);
	assert_int_equal(last(f)->tp->proto, SIP_PROTO_TCP);
	assert_int_equal(ntohs(dest4_of(last(f))->sin_port), 5070);
	{
		char *u = uri_str(our_contact(last(f))->url);

		assert_non_null(strstr(u, "transport=tcp"));
		free(u);
	}
	/* 503 from the first: the second, at once, no edge. */
	respond(f, 503, "Service Unavailable", NULL);
	expect_state(f, BINDING_REGISTERING);
	assert_int_equal(ntohs(dest4_of(last(f))->sin_port), 5080);
	/* No answer from the second (a SRV target): the third (same
	 * address, another port). */
	binding_handle_request_failed(f->b, last(f)->id, -ETIMEDOUT);
	expect_state(f, BINDING_REGISTERING);
	assert_int_equal(ntohs(dest4_of(last(f))->sin_port), 5090);
	assert_int_equal(dest4_of(last(f))->sin_addr.s_addr,
			 ((struct sockaddr_in *)&t[2])->sin_addr.s_addr);
	/* It answers. */
	respond(f, 401, "Unauthorized", CHALLENGE("nonce-1", ""));
	grant(f, 600);
	expect_state(f, BINDING_REGISTERED);
	fake_free(f);

	/* Of a plain name's addresses, no answer is the network's: BACKOFF
	 * at once, no next address. */
	cfg.registrar = "sip:registrar.example.test:5060";
	f = fake_new_cfg(&cfg);
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	binding_handle_resolved(f->b, 0, t, 2);
	binding_handle_request_failed(f->b, last(f)->id, -ETIMEDOUT);
	expect_state(f, BINDING_BACKOFF);
	fake_free(f);
}

static unsigned fixed_rnd(void *ctx, unsigned bound)
{
	unsigned *v = ctx;

	return *v < bound ? *v : bound - 1;
}

/* RFC 2782: priority first; within one, the weighted pick. */
static void test_srv_order(void **state)
{
	unsigned prio[] = { 20, 10, 10, 30, 10 };
	unsigned weight[] = { 5, 0, 60, 1, 40 };
	size_t idx[5];
	unsigned pick = 0;

	/* pick 0: the zero-weight record first among priority 10 */
	sip_resolve_srv_order(prio, weight, idx, 5, fixed_rnd, &pick);
	assert_int_equal(idx[0], 1);
	assert_true((idx[1] == 2 && idx[2] == 4) || (idx[1] == 4 && idx[2] == 2));
	assert_int_equal(idx[3], 0);
	assert_int_equal(idx[4], 3);
	assert_int_equal(prio[0], 10);
	assert_int_equal(prio[4], 30);

	/* the largest pick: the last by running sum (before the zero one) */
	{
		unsigned p2[] = { 10, 10, 10 }, w2[] = { 0, 60, 40 };
		size_t i2[3];
		unsigned big = 1000;

		sip_resolve_srv_order(p2, w2, i2, 3, fixed_rnd, &big);
		assert_int_equal(i2[0], 2);     /* running sum 0, 60, 100: 100 picks the 40 */
	}
}

/* RFC 3263 §4.1 for sips: and TLS: the NAPTR services and SRV names. */
static void test_resolve_tls_names(void **state)
{
	char name[64];

	assert_int_equal(sip_resolve_naptr_service("s", "SIPS+D2T", true), SIP_PROTO_TLS);
	assert_int_equal(sip_resolve_naptr_service("S", "sips+d2t", false), SIP_PROTO_TLS);
	assert_int_equal(sip_resolve_naptr_service("s", "SIP+D2T", true), -1);
	assert_int_equal(sip_resolve_naptr_service("s", "SIP+D2U", true), -1);
	assert_int_equal(sip_resolve_naptr_service("s", "SIP+D2U", false), SIP_PROTO_UDP);
	assert_int_equal(sip_resolve_naptr_service("s", "SIP+D2T", false), SIP_PROTO_TCP);
	assert_int_equal(sip_resolve_naptr_service("s", "SIPS+D2S", true), -1);
	assert_int_equal(sip_resolve_naptr_service("a", "SIPS+D2T", true), -1);
	assert_int_equal(sip_resolve_naptr_service(NULL, "SIPS+D2T", true), -1);
	assert_int_equal(sip_resolve_srv_name(SIP_PROTO_TLS, "example.test", name, sizeof(name)), 0);
	assert_string_equal(name, "_sips._tcp.example.test");
	assert_int_equal(sip_resolve_srv_name(SIP_PROTO_TCP, "example.test", name, sizeof(name)), 0);
	assert_string_equal(name, "_sip._tcp.example.test");
	assert_int_equal(sip_resolve_srv_name(SIP_PROTO_UDP, "example.test", name, sizeof(name)), 0);
	assert_string_equal(name, "_sip._udp.example.test");
	assert_int_equal(sip_resolve_srv_name(SIP_PROTO_TLS, "example.test", name, 10), -ENOBUFS);
}

/* A sips: registrar: the lookup is NAPTR for TLS only, the connection is
 * TLS to the URI's host (what the certificate must name, not the
 * address), the Contact a sips: one.  A certificate the transport
 * refuses is BINDING_ERROR_TLS with the transport's words, and BACKOFF:
 * not permanent, and not the network's (alr/ keeps the IAP). */
static void test_tls_target_and_refusal(void **state)
{
	struct binding_config cfg = base_config();
	struct sockaddr_storage addrs[1] = { { 0 } };
	struct sockaddr_in *a = (struct sockaddr_in *)&addrs[0];
	const char *why = "certificate verify failed: unable to get local issuer certificate";
	struct fake *f;

	cfg.registrar = "sips:registrar.example.test";
	cfg.ca_file = "/etc/alrd/provider-ca.pem";
	a->sin_family = AF_INET;
	inet_pton(AF_INET, "10.99.100.9", &a->sin_addr);
	f = fake_new_cfg(&cfg);
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	assert_int_equal(f->lookup, BINDING_LOOKUP_NAPTR);
	assert_int_equal(f->lookup_proto, SIP_PROTO_TLS);
	assert_string_equal(f->resolve_host, "registrar.example.test");
	binding_handle_resolved(f->b, 0, addrs, 1);
	expect_state(f, BINDING_REGISTERING);
	assert_int_equal(f->n_sent, 1);
	assert_int_equal(last(f)->tp->proto, SIP_PROTO_TLS);
	assert_string_equal(last(f)->tp->peer_name, "registrar.example.test");
	assert_string_equal(last(f)->tp->ca_file, "/etc/alrd/provider-ca.pem");
	assert_int_equal(ntohs(dest4_of(last(f))->sin_port), 5061);
	assert_string_equal(contact_at(last(f), 0)->url->scheme, "sips");
	binding_handle_request_failed_why(f->b, last(f)->id, SIP_TLS_EVERIFY, why);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_TLS);
	assert_int_equal(last_event(f)->code, SIP_TLS_EVERIFY);
	assert_string_equal(last_event(f)->reason, why);
	assert_false(binding_error_is_permanent(BINDING_ERROR_TLS));
	check_backoff(f, 0);
	/* Without words the errno is only a transport error. */
	fire_timer(f);
	binding_handle_resolved(f->b, 0, addrs, 1);
	expect_state(f, BINDING_REGISTERING);
	binding_handle_request_failed_why(f->b, last(f)->id, SIP_TLS_EVERIFY, NULL);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_TRANSPORT);
	fake_free(f);
}

static void test_closed_port_tries_the_next_address(void **state)
{
	struct binding_config cfg = base_config();
	struct sockaddr_storage addrs[3] = { { 0 } };
	struct sockaddr_in *a = (struct sockaddr_in *)&addrs[0];
	struct sockaddr_in6 *b6 = (struct sockaddr_in6 *)&addrs[1];
	struct sockaddr_in *c = (struct sockaddr_in *)&addrs[2];
	struct fake *f;
	size_t sent;

	cfg.registrar = "sip:registrar.example.test";
	a->sin_family = AF_INET;
	inet_pton(AF_INET, "10.99.100.9", &a->sin_addr);
	b6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "fd00::9", &b6->sin6_addr);
	c->sin_family = AF_INET;
	inet_pton(AF_INET, "10.99.100.8", &c->sin_addr);

	f = fake_new_cfg(&cfg);
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	binding_handle_resolved(f->b, 0, addrs, 3);
	expect_state(f, BINDING_REGISTERING);
	assert_int_equal(f->n_sent, 1);
	assert_int_equal(dest4_of(last(f))->sin_addr.s_addr, a->sin_addr.s_addr);
	assert_non_null(contact_list_at(&f->contacts, 0, NULL));
	/* Nothing listens at the first: the next IPv4 address, at once,
	 * with no edge (still this attempt); the contact it never
	 * registered is forgotten. */
	sent = f->n_ev;
	binding_handle_request_failed(f->b, last(f)->id, -ECONNREFUSED);
	assert_int_equal(f->n_ev, sent);
	expect_state(f, BINDING_REGISTERING);
	assert_int_equal(f->n_sent, 2);
	assert_int_equal(dest4_of(last(f))->sin_addr.s_addr, c->sin_addr.s_addr);
	assert_int_equal(ntohs(dest4_of(last(f))->sin_port), 5060);
	assert_int_equal(cseq_of(last(f)), cseq_of(&f->sent[0]) + 1);
	/* Nor at the last: BACKOFF, the server's error, the usual delay. */
	binding_handle_request_failed(f->b, last(f)->id, -ECONNREFUSED);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_SERVER);
	assert_int_equal(last_event(f)->code, -ECONNREFUSED);
	check_backoff(f, 0);
	assert_int_equal(f->n_sent, 2);
	assert_null(contact_list_at(&f->contacts, 0, NULL));
	/* The retry looks the name up again and starts from the first. */
	fire_timer(f);
	expect_state(f, BINDING_RESOLVING);
	binding_handle_resolved(f->b, 0, addrs, 3);
	assert_int_equal(f->n_sent, 3);
	assert_int_equal(dest4_of(last(f))->sin_addr.s_addr, a->sin_addr.s_addr);
	/* Host unreachable: the IAP's path, not the server: no next address. */
	binding_handle_request_failed(f->b, last(f)->id, -EHOSTUNREACH);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_TRANSPORT);
	assert_int_equal(last_event(f)->code, -EHOSTUNREACH);
	expect_state(f, BINDING_BACKOFF);
	assert_int_equal(f->n_sent, 3);
	fake_free(f);

	/* An IP literal has no other address: BACKOFF at once. */
	f = fake_new();
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	binding_handle_request_failed(f->b, last(f)->id, -ECONNREFUSED);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_SERVER);
	check_backoff(f, 0);
	assert_int_equal(f->n_sent, 1);
	fake_free(f);
}

/* A query out over another IAP (the roaming engine's probe) gives way to
 * the binding's own REGISTER: cancelled, its event says so, the refresh
 * goes at once instead of after the query's Timer F.  (Over the binding's
 * own IAP the REGISTER waits for it:
 * test_pacing_deregistration_and_side_requests_do_not_wait.) */
static void test_query_gives_way_to_the_refresh(void **state)
{
	struct fake *f = fake_new();
	struct sent *q;

	register_fully(f, 600);
	assert_int_equal(binding_query(f->b, "wwan0", WWAN_ADDR), 0);
	q = last(f);
	assert_int_equal(n_contacts(q), 0);
	/* Nothing comes back over wwan0; the refresh is due. */
	fire_timer(f);
	assert_true(q->cancelled);
	assert_int_equal(last_event(f)->type, BINDING_EVENT_QUERY);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_INTERNAL);
	assert_int_equal(last_event(f)->code, -ECANCELED);
	assert_int_equal(f->ev[f->n_ev - 2].type, BINDING_EVENT_STATE);
	assert_int_equal(f->ev[f->n_ev - 2].new_state, BINDING_REGISTERING);
	assert_int_equal(binding_get_state(f->b), BINDING_REGISTERING);
	assert_true(last(f) != q);
	assert_int_equal(n_contacts(last(f)), 1);
	assert_int_equal(q->tp->refs, 0);
	/* A query while registered waits for nothing and is not cancelled. */
	grant(f, 600);
	assert_int_equal(binding_query(f->b, "wwan0", WWAN_ADDR), 0);
	q = last(f);
	respond(f, 200, "OK", NULL);
	assert_false(q->cancelled);
	assert_int_equal(last_event(f)->type, BINDING_EVENT_QUERY);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_NONE);
	fake_free(f);
}

static void test_one_request_at_a_time(void **state)
{
	struct fake *f = fake_new();

	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	assert_int_equal(binding_query(f->b, NULL, NULL), 0);
	assert_int_equal(binding_remove_contact(f->b, "sip:alice-dev@10.99.3.3:5060",
						"wwan0", WWAN_ADDR), 0);
	assert_int_equal(f->n_sent, 1);
	/* The machine's own retry goes first. */
	respond(f, 401, "Unauthorized", CHALLENGE("nonce-1", ""));
	assert_int_equal(f->n_sent, 2);
	assert_int_equal(n_contacts(last(f)), 1);
	grant(f, 600);
	/* then the query, then the removal */
	assert_int_equal(f->n_sent, 3);
	assert_int_equal(n_contacts(last(f)), 0);
	respond(f, 200, "OK", NULL);
	assert_int_equal(last_event(f)->type, BINDING_EVENT_QUERY);
	assert_int_equal(last_event(f)->n_contacts, 0);
	/* the registrar says it holds nothing: we believe it */
	assert_null(contact_list_at(&f->contacts, 0, NULL));
	assert_int_equal(f->n_sent, 4);
	assert_string_equal(last(f)->tp->ifname, "wwan0");
	assert_int_equal(cseq_of(last(f)), 4);
	binding_handle_request_failed(f->b, last(f)->id, -ETIMEDOUT);
	assert_int_equal(last_event(f)->type, BINDING_EVENT_CONTACT_REMOVED);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_TIMEOUT);
	expect_state(f, BINDING_REGISTERED);
	/* Bad arguments. */
	assert_int_equal(binding_remove_contact(f->b, "not a uri", NULL, NULL), -EINVAL);
	assert_int_equal(binding_query(f->b, "wwan0", "not-an-address"), -EINVAL);
	fake_free(f);
}

static void test_tcp_connection_lost(void **state)
{
	struct binding_config cfg = base_config();
	struct fake *f;
	char old[256], *uri;
	struct fake_tp *tp;

	cfg.registrar = "sip:" REGISTRAR4 ";transport=tcp";
	f = fake_new_cfg(&cfg);
	register_fully(f, 600);
	assert_int_equal(last(f)->tp->proto, SIP_PROTO_TCP);
	assert_string_equal(((osip_via_t *)osip_list_get(&last(f)->msg->vias, 0))->protocol, "TCP");
	snprintf(old, sizeof(old), "%s", binding_get_contact(f->b));
	assert_string_equal(old, "sip:alice-dev@" WLAN_ADDR ":40000;transport=tcp");
	/* The connection goes: a new one, a new contact, the old contact
	 * removed in the same REGISTER. */
	tp = last(f)->tp;
	tp->dead = true;
	binding_handle_transport_lost(f->b, (struct sip_transport *)tp, -ECONNRESET);
	expect_state(f, BINDING_REGISTERING);
	assert_int_equal(f->n_sent, 3);
	assert_true(last(f)->tp != tp);
	assert_int_equal(n_contacts(last(f)), 2);
	uri = uri_str(contact_at(last(f), 0)->url);
	assert_string_equal(uri, old);
	free(uri);
	assert_string_equal(contact_param(contact_at(last(f), 0), "expires"), "0");
	uri = uri_str(contact_at(last(f), 1)->url);
	assert_string_equal(uri, "sip:alice-dev@" WLAN_ADDR ":40001;transport=tcp");
	free(uri);
	grant(f, 600);
	expect_state(f, BINDING_REGISTERED);
	assert_null(contact_list_at(&f->contacts, 1, NULL));
	fake_free(f);
}

/* The binding keeps no list of its own: its de-REGISTER names what its
 * owner's list holds at that moment, a contact the owner has from
 * elsewhere (an earlier run) included, and a contact the owner dropped
 * (its removal answered elsewhere) is not sent again. */
static void test_one_list(void **state)
{
	static const char other[] = "sip:alice-dev@10.99.3.3:5060";
	struct fake *f = fake_new();
	const struct binding_persist from_before = {
		.contact = other, .ifname = "eth0", .expires = 300,
	};
	struct binding_persist dropped = { .expires = 0 };
	char ours[256], *uri;

	(void)state;
	register_fully(f, 600);
	snprintf(ours, sizeof(ours), "%s", binding_get_contact(f->b));
	contact_list_update(&f->contacts, &from_before);
	assert_int_equal(binding_stop(f->b), 0);
	assert_int_equal(n_contacts(last(f)), 2);
	uri = uri_str(contact_at(last(f), 0)->url);
	assert_string_equal(uri, ours);
	free(uri);
	uri = uri_str(contact_at(last(f), 1)->url);
	assert_string_equal(uri, other);
	free(uri);
	respond(f, 200, "OK", NULL);
	expect_state(f, BINDING_IDLE);
	assert_null(contact_list_at(&f->contacts, 0, NULL));

	/* Registered again; the owner drops our contact: nothing to send. */
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	grant(f, 600);
	expect_state(f, BINDING_REGISTERED);
	dropped.contact = ours;
	contact_list_update(&f->contacts, &dropped);
	assert_int_equal(binding_stop(f->b), 0);
	expect_state(f, BINDING_IDLE);
	assert_int_equal(cseq_of(last(f)), binding_get_cseq(f->b));
	assert_string_not_equal(hdr(last(f)->msg, "expires"), "0");
	fake_free(f);
}

static void test_resolving(void **state)
{
	struct binding_config cfg = base_config();
	struct sockaddr_storage addrs[2] = { { 0 } };
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addrs[0];
	struct sockaddr_in *a4 = (struct sockaddr_in *)&addrs[1];
	struct fake *f;

	cfg.registrar = "sip:registrar.example.test";
	f = fake_new_cfg(&cfg);
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	expect_state(f, BINDING_RESOLVING);
	assert_string_equal(f->resolve_host, "registrar.example.test");
	assert_int_equal(f->n_sent, 0);
	/* The lookup fails: backoff, then look up again. */
	binding_handle_resolved(f->b, -EHOSTUNREACH, NULL, 0);
	expect_state(f, BINDING_BACKOFF);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_RESOLVE);
	fire_timer(f);
	expect_state(f, BINDING_RESOLVING);
	assert_int_equal(f->resolve_calls, 2);
	/* Only IPv6 for an IPv4 IAP: no use. */
	a6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "fd00::1", &a6->sin6_addr);
	binding_handle_resolved(f->b, 0, addrs, 1);
	expect_state(f, BINDING_BACKOFF);
	fire_timer(f);
	a4->sin_family = AF_INET;
	inet_pton(AF_INET, "10.99.100.9", &a4->sin_addr);
	binding_handle_resolved(f->b, 0, addrs, 2);
	expect_state(f, BINDING_REGISTERING);
	assert_int_equal(f->n_sent, 1);
	assert_int_equal(((struct sockaddr_in *)&last(f)->dest)->sin_addr.s_addr,
			 a4->sin_addr.s_addr);
	assert_int_equal(ntohs(((struct sockaddr_in *)&last(f)->dest)->sin_port), 5060);
	/* A refresh does not look up again. */
	grant(f, 600);
	fire_timer(f);
	assert_int_equal(f->resolve_calls, 3);
	expect_state(f, BINDING_REGISTERING);
	/* Stopping while resolving with nothing registered: IDLE at once. */
	fake_free(f);

	f = fake_new_cfg(&cfg);
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	assert_int_equal(binding_stop(f->b), 0);
	expect_state(f, BINDING_IDLE);
	assert_false(f->resolving);
	fake_free(f);
}

static void test_outbound_proxy(void **state)
{
	struct binding_config cfg = base_config();
	osip_route_t *route = NULL;
	struct fake *f;
	char *ruri;

	cfg.registrar = "sip:example.test";
	cfg.outbound_proxy = "sip:10.99.100.5:5080";
	f = fake_new_cfg(&cfg);
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	/* The proxy is a literal: no lookup of example.test. */
	expect_state(f, BINDING_REGISTERING);
	assert_int_equal(sipmsg_request_uri(last(f)->msg, &ruri), 0);
	assert_string_equal(ruri, "sip:example.test");
	free(ruri);
	assert_int_equal(osip_message_get_route(last(f)->msg, 0, &route), 0);
	assert_string_equal(route->url->host, "10.99.100.5");
	assert_int_equal(ntohs(((struct sockaddr_in *)&last(f)->dest)->sin_port), 5080);
	fake_free(f);
}

/* The proxy a network named by DHCP (binding_set_proxy()): taken at the
 * next start or move, resolved anew, the Route follows; NULL goes back to
 * the configured one. */
static void test_proxy_per_iap(void **state)
{
	struct binding_config cfg = base_config();
	struct sockaddr_storage addrs[1] = { { 0 } };
	struct sockaddr_in *a4 = (struct sockaddr_in *)&addrs[0];
	osip_route_t *route = NULL;
	struct fake *f;

	cfg.outbound_proxy = "sip:10.99.100.5:5080";
	f = fake_new_cfg(&cfg);
	assert_string_equal(binding_get_proxy(f->b), "sip:10.99.100.5:5080");
	assert_int_equal(binding_set_proxy(f->b, "sip:10.99.101.1"), 1);
	assert_int_equal(binding_set_proxy(f->b, "sip:10.99.101.1"), 0);
	assert_int_equal(binding_set_proxy(f->b, "sip:a b"), -EINVAL);
	assert_string_equal(binding_get_proxy(f->b), "sip:10.99.101.1");
	register_fully(f, 600);
	assert_int_equal(osip_message_get_route(last(f)->msg, 0, &route), 0);
	assert_string_equal(route->url->host, "10.99.101.1");
	assert_true(same_addr(&last(f)->dest, (struct sockaddr *)&(struct sockaddr_in){
		.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a636501) }));
	assert_int_equal(ntohs(((struct sockaddr_in *)&last(f)->dest)->sin_port), 5060);

	/* Cellular names its proxy by name: looked up on the move. */
	assert_int_equal(binding_set_proxy(f->b, "sip:proxy.cell.test"), 1);
	assert_int_equal(f->resolve_calls, 0);
	assert_int_equal(binding_move(f->b, "wwan0", WWAN_ADDR), 0);
	expect_state(f, BINDING_RESOLVING);
	assert_string_equal(f->resolve_host, "proxy.cell.test");
	a4->sin_family = AF_INET;
	inet_pton(AF_INET, "10.99.102.1", &a4->sin_addr);
	a4->sin_port = htons(5060);
	binding_handle_resolved(f->b, 0, addrs, 1);
	expect_state(f, BINDING_REGISTERING);
	assert_string_equal(last(f)->tp->ifname, "wwan0");
	assert_true(same_addr(&last(f)->dest, (struct sockaddr *)a4));
	assert_int_equal(osip_message_get_route(last(f)->msg, 0, &route), 0);
	assert_string_equal(route->url->host, "proxy.cell.test");
	grant(f, 600);
	expect_state(f, BINDING_REGISTERED);

	/* None named on the next network: the configured proxy again. */
	assert_int_equal(binding_set_proxy(f->b, NULL), 1);
	assert_string_equal(binding_get_proxy(f->b), "sip:10.99.100.5:5080");
	assert_int_equal(binding_move(f->b, "wlan0", WLAN_ADDR), 0);
	expect_state(f, BINDING_REGISTERING);
	assert_int_equal(osip_message_get_route(last(f)->msg, 0, &route), 0);
	assert_string_equal(route->url->host, "10.99.100.5");
	assert_int_equal(ntohs(((struct sockaddr_in *)&last(f)->dest)->sin_port), 5080);

	/* The network went (IDLE): the next one's proxy is set before the
	 * old contact's removal, which goes its way, Route and destination
	 * alike. */
	assert_int_equal(binding_abandon(f->b), 0);
	expect_state(f, BINDING_IDLE);
	assert_int_equal(binding_set_proxy(f->b, "sip:10.99.102.7"), 1);
	assert_int_equal(binding_remove_contact(f->b, "sip:alice-dev@10.99.1.2:40000",
						"wwan0", WWAN_ADDR), 0);
	assert_int_equal(osip_message_get_route(last(f)->msg, 0, &route), 0);
	assert_string_equal(route->url->host, "10.99.102.7");
	assert_true(same_addr(&last(f)->dest, (struct sockaddr *)&(struct sockaddr_in){
		.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a636607) }));
	fake_free(f);
}

static const char *route_host(struct fake *f)
{
	osip_route_t *route = NULL;

	assert_int_equal(osip_message_get_route(last(f)->msg, 0, &route), 0);
	return route->url->host;
}

static const char *dest_host(struct fake *f)
{
	static char buf[INET6_ADDRSTRLEN];

	inet_ntop(AF_INET, &((struct sockaddr_in *)&last(f)->dest)->sin_addr, buf, sizeof(buf));
	return buf;
}

/* The servers a network named, in order (RFC 3361 §3.1): a closed port,
 * a 503 or, with another left, silence moves on to the next within the
 * attempt; the attempt after a failed one starts from the first. */
static void test_proxy_list_failover(void **state)
{
	static const char *const three[] = { "sip:10.99.101.1", "sip:10.99.101.2",
					     "sip:10.99.101.3" };
	static const char *const bad[] = { "sip:10.99.101.1", "sip:a b" };
	struct fake *f = fake_new();
	const char *const *v;

	assert_int_equal(binding_set_proxies(f->b, bad, 2), -EINVAL);
	assert_int_equal(binding_set_proxies(f->b, three, 3), 1);
	assert_int_equal(binding_set_proxies(f->b, three, 3), 0);
	assert_int_equal(binding_get_proxies(f->b, &v), 3);
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	expect_state(f, BINDING_REGISTERING);
	assert_string_equal(dest_host(f), "10.99.101.1");
	assert_string_equal(route_host(f), "10.99.101.1");
	/* A closed port: the second, at once, same state. */
	binding_handle_request_failed(f->b, last(f)->id, -ECONNREFUSED);
	expect_state(f, BINDING_REGISTERING);
	assert_string_equal(dest_host(f), "10.99.101.2");
	assert_string_equal(route_host(f), "10.99.101.2");
	/* A 503: the third. */
	respond(f, 503, "Service Unavailable", NULL);
	expect_state(f, BINDING_REGISTERING);
	assert_string_equal(dest_host(f), "10.99.101.3");
	assert_string_equal(binding_get_proxy(f->b), "sip:10.99.101.3");
	/* Silence of the last: the attempt fails (the network's, as for
	 * any plain proxy), and the retry starts from the first. */
	binding_handle_request_failed(f->b, last(f)->id, -ETIMEDOUT);
	expect_state(f, BINDING_BACKOFF);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_TIMEOUT);
	assert_string_equal(binding_get_proxy(f->b), "sip:10.99.101.1");
	fire_timer(f);
	expect_state(f, BINDING_REGISTERING);
	assert_string_equal(dest_host(f), "10.99.101.1");
	/* Silence with another left: the next one. */
	binding_handle_request_failed(f->b, last(f)->id, -ETIMEDOUT);
	expect_state(f, BINDING_REGISTERING);
	assert_string_equal(dest_host(f), "10.99.101.2");
	respond(f, 401, "Unauthorized", CHALLENGE("nonce-1", ""));
	grant(f, 600);
	expect_state(f, BINDING_REGISTERED);
	/* The refresh goes where it registered. */
	fire_timer(f);
	assert_string_equal(dest_host(f), "10.99.101.2");
	fake_free(f);
}

static void test_restart_call_id_and_cseq(void **state)
{
	struct binding_config cfg = base_config();
	struct fake *f;

	cfg.call_id = "persisted-call-id@host";
	cfg.cseq = 41;
	f = fake_new_cfg(&cfg);
	/* Cleanup after a restart: remove what the registrar holds, with
	 * the old Call-ID and a higher CSeq, without registering. */
	assert_int_equal(binding_remove_contact(f->b, "sip:alice-dev@10.99.1.2:40000",
						"wwan0", WWAN_ADDR), 0);
	expect_state(f, BINDING_IDLE);
	assert_int_equal(f->n_sent, 1);
	assert_string_equal(call_id_of(last(f)), "persisted-call-id");
	assert_string_equal(last(f)->msg->call_id->host, "host");
	assert_int_equal(cseq_of(last(f)), 42);
	respond(f, 401, "Unauthorized", CHALLENGE("nonce-1", ""));
	assert_int_equal(cseq_of(last(f)), 43);
	respond(f, 200, "OK", NULL);
	assert_int_equal(last_event(f)->type, BINDING_EVENT_CONTACT_REMOVED);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_NONE);
	assert_int_equal(binding_get_cseq(f->b), 43);
	fake_free(f);
}

static void test_transport_error_on_send(void **state)
{
	struct fake *f = fake_new();

	f->transport_error = -ENODEV;
	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	expect_state(f, BINDING_BACKOFF);
	assert_int_equal(last_event(f)->error, BINDING_ERROR_TRANSPORT);
	assert_int_equal(last_event(f)->code, -ENODEV);
	assert_int_equal(f->n_sent, 0);
	fire_timer(f);
	expect_state(f, BINDING_REGISTERING);
	assert_int_equal(f->n_sent, 1);
	fake_free(f);
}

static void test_free_inside_observer(void **state)
{
	struct fake *f = fake_new();

	assert_int_equal(binding_start(f->b, "wlan0", WLAN_ADDR), 0);
	f->free_in_observer = true;
	respond(f, 403, "Forbidden", NULL);
	/* freed once the notification was over */
	assert_null(f->b);
	for (size_t i = 0; i < f->n_sent; i++)
		osip_message_free(f->sent[i].msg);
	free(f);
}

static void test_bad_config(void **state)
{
	struct binding_config cfg;
	struct fake f = { 0 };
	static const struct sipmsg_header managed[] = { { "Contact", "<sip:x@y>" } };
	static const char *const bad_param[] = { "a=\"b" };

	cfg = base_config(); cfg.aor = "alice";
	assert_null(binding_new_with_ops(&fake_ops, &f, &cfg));
	cfg = base_config(); cfg.registrar = "sips:example.test;transport=udp";
	assert_null(binding_new_with_ops(&fake_ops, &f, &cfg));
	cfg = base_config(); cfg.contact_user = "a b";
	assert_null(binding_new_with_ops(&fake_ops, &f, &cfg));
	cfg = base_config(); cfg.extra_headers = managed; cfg.n_extra_headers = 1;
	assert_null(binding_new_with_ops(&fake_ops, &f, &cfg));
	cfg = base_config(); cfg.contact_params = bad_param; cfg.n_contact_params = 1;
	assert_null(binding_new_with_ops(&fake_ops, &f, &cfg));
	cfg = base_config(); cfg.instance = "uuid:\"x\"";
	assert_null(binding_new_with_ops(&fake_ops, &f, &cfg));
	cfg = base_config(); cfg.call_id = "a b";
	assert_null(binding_new_with_ops(&fake_ops, &f, &cfg));
	cfg = base_config(); cfg.aor = "sip:example.test";    /* no user */
	assert_null(binding_new_with_ops(&fake_ops, &f, &cfg));
	assert_null(f.b);
}


/* ---- REGISTER pacing --------------------------------------------------- */

#define PACED 4

/* PACED bindings sharing the_pacer (rate/s, burst), one clock. */
static void paced_new(struct fake **f, unsigned rate, unsigned burst)
{
	struct binding_config cfg = base_config();

	pacer_init(&the_pacer, rate, burst, 1000000);
	for (int i = 0; i < PACED; i++)
		f[i] = fake_new_ops(&paced_ops, &cfg);
}

static void paced_free(struct fake **f)
{
	for (int i = 0; i < PACED; i++) {
		if (f[i])
			fake_free(f[i]);
		f[i] = NULL;
	}
	assert_null(the_pacer.head);
}

static void paced_clock(struct fake **f, uint64_t now)
{
	for (int i = 0; i < PACED; i++)
		if (f[i])
			f[i]->now = now;
}

/* What sip/stack.c's pace timer does at `now`; returns how many went. */
static int paced_run(struct fake **f, uint64_t now)
{
	struct pacer_entry *e;
	int n = 0;

	paced_clock(f, now);
	while ((e = pacer_pop(&the_pacer, now))) {
		struct fake *x = (struct fake *)((char *)e - offsetof(struct fake, pace));

		binding_handle_paced(x->b);
		n++;
	}
	return n;
}

static void test_pacing_first_register_waits_challenge_does_not(void **state)
{
	struct fake *f[PACED];

	paced_new(f, 10, 1);            /* one at once, then one per 100 ms */
	assert_int_equal(binding_start(f[0]->b, "wlan0", WLAN_ADDR), 0);
	assert_int_equal(f[0]->n_sent, 1);
	assert_int_equal(binding_start(f[1]->b, "wlan0", WLAN_ADDR), 0);
	assert_int_equal(binding_start(f[2]->b, "wlan0", WLAN_ADDR), 0);
	/* Waiting is REGISTERING, without a request. */
	expect_state(f[1], BINDING_REGISTERING);
	assert_int_equal(f[1]->n_sent, 0);
	assert_int_equal(f[2]->n_sent, 0);
	assert_true(f[1]->pace.queued);
	/* The answer to a challenge belongs to the attempt: at once. */
	respond(f[0], 401, "Unauthorized", CHALLENGE("nonce-1", ""));
	assert_int_equal(f[0]->n_sent, 2);
	assert_int_equal(f[0]->pace_requests, 1);
	/* In order, one per 100 ms. */
	assert_int_equal(paced_run(f, 1000099), 0);
	assert_int_equal(paced_run(f, 1000100), 1);
	assert_int_equal(f[1]->n_sent, 1);
	assert_int_equal(f[2]->n_sent, 0);
	assert_int_equal(cseq_of(last(f[1])), 1);
	respond(f[1], 401, "Unauthorized", CHALLENGE("nonce-2", ""));
	assert_int_equal(f[1]->n_sent, 2);
	grant(f[1], 600);
	expect_state(f[1], BINDING_REGISTERED);
	assert_int_equal(paced_run(f, 1000200), 1);
	assert_int_equal(f[2]->n_sent, 1);
	/* A 423 retry belongs to the attempt too. */
	respond(f[2], 423, "Interval Too Brief", "Min-Expires: 900\r\n");
	assert_int_equal(f[2]->n_sent, 2);
	assert_int_equal(f[2]->pace_requests, 1);
	assert_int_equal(f[2]->pace_cancels, 0);
	grant(f[2], 900);
	paced_free(f);
}

static void test_pacing_refresh_and_retry_wait(void **state)
{
	struct fake *f[PACED];
	size_t before;

	paced_new(f, 1, 1);             /* one per second */
	register_fully(f[0], 600);
	assert_int_equal(f[0]->pace_requests, 1);
	/* The refresh is a new attempt: it waits for a token (none: the
	 * bucket refills at 1/s and the clock has not moved). */
	before = f[0]->n_sent;
	f[0]->timer_at = f[0]->now;
	fire_timer(f[0]);
	expect_state(f[0], BINDING_REGISTERING);
	assert_int_equal(f[0]->n_sent, before);
	assert_int_equal(f[0]->pace_requests, 2);
	assert_int_equal(paced_run(f, 1001000), 1);
	assert_int_equal(f[0]->n_sent, before + 1);
	/* Pre-authorised with the cached nonce: one request. */
	assert_true(has_authorization(last(f[0])));
	/* A retry after BACKOFF is a new attempt as well. */
	respond(f[0], 503, "Service Unavailable", NULL);
	expect_state(f[0], BINDING_BACKOFF);
	before = f[0]->n_sent;
	fire_timer(f[0]);               /* at least a second later: a token */
	assert_int_equal(f[0]->pace_requests, 3);
	assert_int_equal(f[0]->n_sent, before + 1);
	paced_free(f);
}

static void test_pacing_deregistration_and_side_requests_do_not_wait(void **state)
{
	struct fake *f[PACED];

	paced_new(f, 1, 1);
	register_fully(f[0], 600);
	/* No token left; a second binding waits for its REGISTER... */
	assert_int_equal(binding_start(f[1]->b, "wlan0", WLAN_ADDR), 0);
	assert_int_equal(f[1]->n_sent, 0);
	/* ...while its query goes (one request at a time still holds). */
	assert_int_equal(binding_query(f[1]->b, NULL, NULL), 0);
	assert_int_equal(f[1]->n_sent, 1);
	assert_int_equal(n_contacts(last(f[1])), 0);
	/* Its turn comes while the query is out: the REGISTER follows the
	 * query's answer. */
	assert_int_equal(paced_run(f, 1001000), 1);
	assert_int_equal(f[1]->n_sent, 1);
	respond(f[1], 200, "OK", NULL);
	assert_int_equal(last_event(f[1])->type, BINDING_EVENT_QUERY);
	assert_int_equal(f[1]->n_sent, 2);
	assert_non_null(our_contact(last(f[1])));
	/* A deregistration and a removal never wait. */
	assert_int_equal(binding_remove_contact(f[0]->b, "sip:alice-dev@10.0.0.7",
						NULL, NULL), 0);
	assert_int_equal(f[0]->n_sent, 3);
	respond(f[0], 200, "OK", NULL);
	assert_int_equal(binding_stop(f[0]->b), 0);
	expect_state(f[0], BINDING_UNREGISTERING);
	assert_int_equal(f[0]->n_sent, 4);
	assert_string_equal(hdr(last(f[0])->msg, "expires"), "0");
	assert_int_equal(f[0]->pace_requests, 1);
	paced_free(f);
}

static void test_pacing_stop_move_free_leave_the_line(void **state)
{
	struct fake *f[PACED];

	paced_new(f, 10, 1);
	assert_int_equal(binding_start(f[0]->b, "wlan0", WLAN_ADDR), 0);
	for (int i = 1; i < PACED; i++)
		assert_int_equal(binding_start(f[i]->b, "wlan0", WLAN_ADDR), 0);
	for (int i = 1; i < PACED; i++)
		assert_true(f[i]->pace.queued);
	/* Stopped while waiting: nothing was sent, nothing to remove. */
	assert_int_equal(binding_stop(f[1]->b), 0);
	expect_state(f[1], BINDING_IDLE);
	assert_false(f[1]->pace.queued);
	assert_int_equal(f[1]->pace_cancels, 1);
	assert_int_equal(f[1]->n_sent, 0);
	/* Moved while waiting: to the end of the line, for the new IAP. */
	assert_int_equal(binding_move(f[2]->b, "wwan0", WWAN_ADDR), 0);
	assert_true(f[2]->pace.queued);
	assert_int_equal(f[2]->pace_requests, 2);
	assert_int_equal(f[2]->n_sent, 0);
	/* Order now: 3, then 2. */
	assert_int_equal(paced_run(f, 1000100), 1);
	assert_int_equal(f[3]->n_sent, 1);
	assert_int_equal(f[2]->n_sent, 0);
	assert_int_equal(paced_run(f, 1000200), 1);
	assert_int_equal(f[2]->n_sent, 1);
	assert_string_equal(last(f[2])->tp->ifname, "wwan0");
	/* Freed while waiting: it leaves the line. */
	assert_int_equal(binding_start(f[1]->b, "wlan0", WLAN_ADDR), 0);
	assert_true(f[1]->pace.queued);
	binding_free(f[1]->b);
	assert_false(f[1]->pace.queued);
	assert_null(the_pacer.head);
	f[1]->b = NULL;
	fake_free(f[1]);
	f[1] = NULL;
	paced_free(f);
}

static void test_pacing_failed_attempt_leaves_the_line(void **state)
{
	struct fake *f[PACED];

	/* A binding waiting for its turn that goes IDLE or BACKOFF for
	 * another reason (here: stopped after a move left a contact) gives
	 * its place up. */
	paced_new(f, 1, 1);
	register_fully(f[0], 600);
	assert_int_equal(binding_move(f[0]->b, "wwan0", WWAN_ADDR), 0);
	assert_true(f[0]->pace.queued);
	assert_int_equal(binding_stop(f[0]->b), 0);
	expect_state(f[0], BINDING_UNREGISTERING);
	assert_false(f[0]->pace.queued);
	/* The deregistration of the wlan0 contact went at once. */
	assert_string_equal(hdr(last(f[0])->msg, "expires"), "0");
	respond(f[0], 200, "OK", NULL);
	expect_state(f[0], BINDING_IDLE);
	/* A token that comes later finds nobody. */
	assert_int_equal(paced_run(f, 1001000), 0);
	paced_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_register),
		cmocka_unit_test(test_refresh_uses_cached_challenge),
		cmocka_unit_test(test_stale_nonce_retries_once),
		cmocka_unit_test(test_wrong_password),
		cmocka_unit_test(test_no_password),
		cmocka_unit_test(test_proxy_and_www_challenges),
		cmocka_unit_test(test_realm_mismatch),
		cmocka_unit_test(test_interval_too_brief),
		cmocka_unit_test(test_redirect),
		cmocka_unit_test(test_permanent_errors),
		cmocka_unit_test(test_backoff_grows_to_cap),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_retry_after_malformed),
		cmocka_unit_test(test_2xx_without_our_contact),
		cmocka_unit_test(test_refresh_timing),
		cmocka_unit_test(test_granted_expiry_sources),
		cmocka_unit_test(test_deregister),
		cmocka_unit_test(test_stop_while_registering),
		cmocka_unit_test(test_move_and_remove_old_contact),
		cmocka_unit_test(test_move_replaced_by_instance),
		cmocka_unit_test(test_move_while_registering),
		cmocka_unit_test(test_abandon_keeps_contacts),
		cmocka_unit_test(test_abandon_while_registering),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_registration_check),
		cmocka_unit_test(test_srv_targets),
		cmocka_unit_test(test_outbound_flow),
		cmocka_unit_test(test_srv_order),
		cmocka_unit_test(test_resolve_tls_names),
		cmocka_unit_test(test_tls_target_and_refusal),
		cmocka_unit_test(test_closed_port_tries_the_next_address),
		cmocka_unit_test(test_query_gives_way_to_the_refresh),
		cmocka_unit_test(test_one_request_at_a_time),
		cmocka_unit_test(test_tcp_connection_lost),
		cmocka_unit_test(test_one_list),
		cmocka_unit_test(test_resolving),
		cmocka_unit_test(test_outbound_proxy),
		cmocka_unit_test(test_proxy_per_iap),
		cmocka_unit_test(test_proxy_list_failover),
		cmocka_unit_test(test_restart_call_id_and_cseq),
		cmocka_unit_test(test_transport_error_on_send),
		cmocka_unit_test(test_free_inside_observer),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_pacing_first_register_waits_challenge_does_not),
		cmocka_unit_test(test_pacing_refresh_and_retry_wait),
		cmocka_unit_test(test_pacing_deregistration_and_side_requests_do_not_wait),
		cmocka_unit_test(test_pacing_stop_move_free_leave_the_line),
		cmocka_unit_test(test_pacing_failed_attempt_leaves_the_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
