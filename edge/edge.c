/* The SIP edge: local listeners, server transactions, and local
 * registrations (see edge.h, docs/edge.md).
 *
 * Over 1,200 lines: one I/O boundary, the sockets local applications
 * reach alrd on, with the libosip2 glue for both directions of them
 * (server transactions for what applications send, client transactions
 * for what the calls send them) and the local registrar that answers
 * REGISTER there.  The registrar's table is its own module already
 * (edge/locreg.c); the next seam is the osip glue (transactions,
 * sockets) against the local registrar's answers. */
#include "edge/edge.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alr/registry.h"
#include "base/log.h"
#include "base/util.h"
#include "edge/localauth.h"
#include "edge/sockdiag.h"
#include "edge/userlookup.h"
#include "sip/sip_osip.h"
#include "sip/sipframe.h"
#include "sip/sipmsg.h"
#include "sip/stack.h"
#include "sip/transport.h"
#include "store/store.h"

/* Server transactions not yet answered, at once; and transactions in all,
 * the answered ones included (a UDP one stays 32 s after its answer to
 * absorb retransmissions, RFC 3261 §17.2.2 Timer J: 2048 of them is 64
 * requests a second, each holding its request and its answer). */
#define EDGE_MAX_TXS            256
#define EDGE_MAX_ALL_TXS        2048
#define EDGE_MAX_OUTPUT         (256 * 1024)    /* queued on one connection */
#define EDGE_MAX_GROUPS         16
#define EDGE_UA_MAX             128
#define EDGE_NAME_MAX           64

struct edge_listener {
	struct edge *e;
	enum sip_proto proto;
	int fd;
	ev_io io;
	struct sockaddr_storage addr;
	char name[EDGE_NAME_MAX];
};

struct edge_conn {
	struct edge *e;
	struct edge_listener *l;
	int fd;
	ev_io rio, wio;
	struct sockaddr_storage peer, local;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len;
	bool dead;
	struct edge_conn *next;
};

/* One transaction of ours: a server one (NIST, IST), or a client one of a
 * call (ICT, NICT: edge_request()). */
struct edge_tx {
	struct edge *e;
	uint64_t id;
	osip_transaction_t *tr;
	bool server;
	bool taken;                     /* the calls answer it (edge_respond()) */
	bool finished;                  /* final answer sent, or outcome told */
	const struct sip_client_cbs *cbs;       /* client: NULL once forgotten */
	void *cb_data;
	enum sip_proto proto;
	struct edge_listener *l;        /* UDP: the socket it came in on */
	struct edge_conn *conn;         /* TCP: NULL once the connection went */
	struct sockaddr_storage peer;   /* where it came from */
	struct sockaddr_storage local;  /* where it arrived */
	/* Its sender, from the socket table (looked up once), and who that
	 * is, from NSS (off the loop: userlookup.h). */
	bool have_uid;
	int uid_error;                  /* sockdiag_owner_uid()'s, or 0 */
	uid_t uid;
	bool waiting;                   /* for the answer about uid */
	struct userlookup_user *user;
	bool killed;
	struct edge_tx *next;
};

struct edge {
	struct ev_loop *loop;
	struct registry *registry;
	struct store *store;
	osip_t *osip;
	ev_timer timer;                 /* osip's next timer */
	ev_timer expiry;                /* the next local registration to expire */
	ev_idle load_idle;              /* profiles whose local registrations to read */

	char **listen;
	size_t n_listen;
	struct edge_listener *ls;
	size_t n_ls;
	struct edge_conn *conns;
	size_t n_conns;
	struct edge_tx *txs;
	size_t n_txs;
	bool running, again;

	struct locreg_limits limits;
	gid_t control_gids[EDGE_MAX_GROUPS];
	size_t n_control_gids;

	struct locreg_table *table;
	/* Profiles the edge enabled in the registry (it is one of their
	 * users), and those whose stored registrations are still to be read. */
	unsigned int *using;
	size_t n_using;
	unsigned int *to_load;
	size_t n_to_load;
	unsigned int watch;

	edge_event_fn on_event;
	void *on_event_data;
	const struct edge_call_ops *call_ops;
	void *call_data;
	uint64_t next_id;
	struct edge_stats stats;
	struct localauth auth;          /* nonces of the local passwords */
	struct userlookup *users;
};

static void edge_run(struct edge *e);
static void users_done(void *user_data, const struct userlookup_user *u);
static const struct profile *find_profile(struct edge *e, const osip_uri_t *to);

/* "udp:127.0.0.1:5060", "tcp:[::1]:40000" */
static void addr_name(enum sip_proto proto, const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	uint16_t port = 0;

	if (sipmsg_sockaddr_host(sa, host, sizeof(host), &port) < 0)
		snprintf(host, sizeof(host), "?");
	snprintf(buf, size, sa->sa_family == AF_INET6 ? "%s:[%s]:%u" : "%s:%s:%u",
		 sip_proto_to_param(proto), host, port);
}

/* ---- profile use ---------------------------------------------------------- */

static ssize_t id_index(const unsigned int *v, size_t n, unsigned int id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == id)
			return (ssize_t)i;
	return -1;
}

/* The edge uses a profile exactly while it has a local registration. */
static void sync_use(struct edge *e, unsigned int id)
{
	bool want = locreg_table_count(e->table, id) > 0;
	ssize_t i = id_index(e->using, e->n_using, id);
	int r;

	if (want && i < 0) {
		unsigned int *v = realloc(e->using, (e->n_using + 1) * sizeof(*v));

		if (!v) {
			log_err("edge: profile %u: out of memory; not enabled", id);
			return;
		}
		e->using = v;
		r = registry_enable(e->registry, id, EDGE_REGISTRY_USER);
		if (r < 0) {
			log_warning("edge: profile %u: cannot enable it for its local "
				    "registrations: %s", id, strerror(-r));
			return;
		}
		e->using[e->n_using++] = id;
		log_info("edge: profile %u: in use by its local registrations", id);
	} else if (!want && i >= 0) {
		e->using[i] = e->using[--e->n_using];
		r = registry_disable(e->registry, id, EDGE_REGISTRY_USER);
		if (r < 0 && r != -ENOENT)
			log_warning("edge: profile %u: cannot end its use: %s", id, strerror(-r));
		else
			log_info("edge: profile %u: no local registration left; use ended", id);
	}
}

/* ---- the table's changes -------------------------------------------------- */

static void emit(struct edge *e, enum edge_event_type type, const struct locreg *reg,
		 const char *reason)
{
	struct edge_event ev = { .type = type, .reg = reg, .reason = reason };

	if (e->on_event)
		e->on_event(&ev, e->on_event_data);
}

static void on_change(const struct locreg *reg, enum locreg_change what, void *ud)
{
	struct edge *e = ud;
	struct store_locreg sr = {
		.profile_id = reg->profile_id, .contact = reg->contact, .call_id = reg->call_id,
		.cseq = reg->cseq, .expires_at = reg->expires_at, .uid = reg->uid,
		.user_agent = reg->user_agent, .source = reg->source,
	};
	int r = 0;

	switch (what) {
	case LOCREG_ADDED:
	case LOCREG_REFRESHED:
		r = store_locreg_upsert(e->store, &sr);
		break;
	case LOCREG_REMOVED:
	case LOCREG_EXPIRED:
		r = store_locreg_delete(e->store, reg->profile_id, reg->contact);
		if (r == -ENOENT)
			r = 0;
		break;
	case LOCREG_DROPPED:
	case _LOCREG_CHANGE_MAX:
		break;          /* the profile's rows went with it */
	}
	if (r < 0)
		log_warning("edge: profile %u: local registration %s not saved: %s; it is "
			    "lost at a restart", reg->profile_id, reg->contact, strerror(-r));
	log_info("edge: profile %u: local registration %s %s (uid %" PRIu32 ", %s, %s)",
		 reg->profile_id, reg->contact, locreg_change_to_str(what), reg->uid,
		 reg->source, reg->user_agent ? reg->user_agent : "no User-Agent");
	if (what == LOCREG_ADDED)
		emit(e, EDGE_EVENT_LOCAL_REGISTERED, reg, NULL);
	else if (what != LOCREG_REFRESHED)
		emit(e, EDGE_EVENT_LOCAL_UNREGISTERED, reg, locreg_change_to_str(what));
}

/* Local registrations and nonces expire on the daemon's steady clock: a
 * wall clock set after start (NTP at boot) neither drops every softphone
 * at once nor keeps them past their time (util_now_steady_wall()). */
static int64_t now_wall(void)
{
	return util_now_steady_wall();
}

static void arm_expiry(struct edge *e)
{
	int64_t next = locreg_table_next_expiry(e->table), now = now_wall();

	ev_timer_stop(e->loop, &e->expiry);
	if (next == INT64_MAX)
		return;
	ev_timer_set(&e->expiry, next > now ? (double)(next - now) : 0.001, 0.);
	ev_timer_start(e->loop, &e->expiry);
}

/* Expire, then make each profile's use follow. */
static void expire_now(struct edge *e)
{
	size_t n = e->n_using;
	unsigned int *ids = n ? malloc(n * sizeof(*ids)) : NULL;

	locreg_table_expire(e->table, now_wall());
	if (ids) {
		memcpy(ids, e->using, n * sizeof(*ids));
		for (size_t i = 0; i < n; i++)
			sync_use(e, ids[i]);
		free(ids);
	}
	arm_expiry(e);
}

static void expiry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	expire_now(container_of(w, struct edge, expiry));
}

/* ---- the registry's profiles ---------------------------------------------- */

/* Read the stored local registrations of the profiles created since
 * (at start, and after a restore), outside the registry's notification. */
static void load_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct edge *e = container_of(w, struct edge, load_idle);

	ev_idle_stop(loop, w);
	while (e->n_to_load) {
		unsigned int id = e->to_load[--e->n_to_load];
		struct store_locreg *v = NULL;
		size_t n = 0;
		int r;

		if (!registry_find(e->registry, id))
			continue;
		r = store_locreg_list(e->store, id, &v, &n);
		if (r < 0) {
			log_warning("edge: profile %u: cannot read its local registrations: %s",
				    id, strerror(-r));
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			struct locreg reg = {
				.profile_id = v[i].profile_id, .contact = v[i].contact,
				.call_id = v[i].call_id, .cseq = v[i].cseq,
				.expires_at = v[i].expires_at, .uid = v[i].uid,
				.user_agent = v[i].user_agent, .source = v[i].source,
			};

			r = locreg_table_restore(e->table, &reg);
			if (r < 0 && r != -EEXIST)
				log_warning("edge: profile %u: local registration %s not restored: %s",
					    id, v[i].contact, strerror(-r));
		}
		if (n)
			log_info("edge: profile %u: %zu local registration%s read back", id, n,
				 n == 1 ? "" : "s");
		store_locregs_free(v, n);
		locreg_table_expire(e->table, now_wall());
		sync_use(e, id);
	}
	arm_expiry(e);
}

static void on_registry_event(const struct registry_event *ev, void *ud)
{
	struct edge *e = ud;
	ssize_t i;

	switch (ev->type) {
	case REGISTRY_EVENT_CREATED:
		if (id_index(e->to_load, e->n_to_load, ev->id) < 0) {
			unsigned int *v = realloc(e->to_load, (e->n_to_load + 1) * sizeof(*v));

			if (!v) {
				log_err("edge: profile %u: out of memory; its local registrations "
					"are not read", ev->id);
				return;
			}
			e->to_load = v;
			e->to_load[e->n_to_load++] = ev->id;
		}
		ev_idle_start(e->loop, &e->load_idle);
		break;
	case REGISTRY_EVENT_DESTROYED:
		/* Its use went with it; its rows too (ON DELETE CASCADE, or a
		 * restore's other file). */
		i = id_index(e->using, e->n_using, ev->id);
		if (i >= 0)
			e->using[i] = e->using[--e->n_using];
		locreg_table_drop_profile(e->table, ev->id);
		arm_expiry(e);
		break;
	case REGISTRY_EVENT_FORCIBLY_DISABLED:
		/* Every user was dropped, the edge with them: the local
		 * registrations stay, and the next new one uses it again. */
		i = id_index(e->using, e->n_using, ev->id);
		if (i >= 0)
			e->using[i] = e->using[--e->n_using];
		break;
	case REGISTRY_EVENT_UPDATED:
	case REGISTRY_EVENT_REGISTERED:
	case REGISTRY_EVENT_DEREGISTERED:
	case REGISTRY_EVENT_ERROR:
	case REGISTRY_EVENT_MIGRATED:
	case _REGISTRY_EVENT_MAX:
		break;
	}
}

/* ---- who may register ------------------------------------------------------ */

static bool aor_matches(const char *aor, const osip_uri_t *to)
{
	osip_uri_t *u = NULL;
	bool same = false;

	if (!aor || !to || !to->scheme || !to->host || osip_uri_init(&u) != 0)
		return false;
	/* RFC 3261 §10.3 step 5: the AOR is the To URI's scheme, user and
	 * host (canonical: parameters and port do not count). */
	if (osip_uri_parse(u, aor) == 0 && u->scheme && u->host &&
	    strcasecmp(u->scheme, to->scheme) == 0 && strcasecmp(u->host, to->host) == 0 &&
	    ((!u->username && !to->username) ||
	     (u->username && to->username && strcmp(u->username, to->username) == 0)))
		same = true;
	osip_uri_free(u);
	return same;
}

const struct profile *edge_find_profile(struct edge *e, const osip_uri_t *uri)
{
	return find_profile(e, uri);
}

static const struct profile *find_profile(struct edge *e, const osip_uri_t *to)
{
	for (size_t i = 0; i < registry_count(e->registry); i++) {
		const struct profile *p = registry_profile_at(e->registry, i);

		if (p && aor_matches(p->aor, to))
			return p;
	}
	return NULL;
}

static void set_control_groups(struct edge *e, const char *const *groups, size_t n)
{
	e->n_control_gids = 0;
	for (size_t i = 0; i < n && e->n_control_gids < EDGE_MAX_GROUPS; i++) {
		struct group *g = getgrnam(groups[i]);

		if (g)
			e->control_gids[e->n_control_gids++] = g->gr_gid;
	}
}

/*
 * May @uid register @p locally?  root, the control groups, local_users.
 * @u is who NSS says @uid is (userlookup.h): looked up off the loop for
 * this request; NULL when it could not be.
 */
static bool may_register(struct edge *e, uid_t uid, const struct userlookup_user *u,
			 const struct profile *p, char *who, size_t who_size)
{
	if (uid == EDGE_UID_UNKNOWN) {
		snprintf(who, who_size, "an unknown user");
		return false;
	}
	snprintf(who, who_size, "uid %u", (unsigned)uid);
	if (uid == 0)
		return true;
	if (!u || u->uid != uid || !u->known)
		return false;
	snprintf(who, who_size, "%s", u->name);
	for (size_t i = 0; i < p->local_users.n; i++)
		if (strcmp(p->local_users.v[i], u->name) == 0)
			return true;
	for (int i = 0; i < u->n_groups; i++)
		for (size_t k = 0; k < e->n_control_gids; k++)
			if (u->groups[i] == e->control_gids[k])
				return true;
	return false;
}

/* The sender of @tx from the socket table, asked once per transaction. */
static uid_t tx_uid(struct edge_tx *tx)
{
	if (!tx->have_uid) {
		tx->uid_error = sockdiag_owner_uid(tx->proto == SIP_PROTO_TCP ? IPPROTO_TCP :
						   IPPROTO_UDP, (struct sockaddr *)&tx->peer,
						   (struct sockaddr *)&tx->local, &tx->uid);
		if (tx->uid_error < 0)
			tx->uid = EDGE_UID_UNKNOWN;
		tx->have_uid = true;
	}
	return tx->uid;
}

/* Does @tx wait for NSS before it can be decided?  Root and a sender not
 * in the socket table need no lookup; the others are asked of the worker,
 * and the request is taken up again with the answer (users_done()).
 * 1: it waits; 0: go on; -errno: it cannot be asked (answer 503). */
static int wait_for_user(struct edge *e, struct edge_tx *tx)
{
	uid_t uid = tx_uid(tx);
	int r;

	if (uid == 0 || uid == EDGE_UID_UNKNOWN || (tx->user && tx->user->uid == uid))
		return 0;
	if (!e->users && !(e->users = userlookup_new(e->loop, users_done, e)))
		return -ENOMEM;
	r = userlookup_ask(e->users, uid);
	if (r < 0) {
		log_notice("edge: cannot look up uid %u now: %s", (unsigned)uid,
			   r == -EBUSY ? "too many lookups waiting" : strerror(-r));
		return r;
	}
	tx->waiting = true;
	return 1;
}

/* ---- answering ------------------------------------------------------------- */

/* A reason phrase is TEXT-UTF8 without CR or LF (RFC 3261 §25.1). */
static void clean_text(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

static void random_tag(char tag[17])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[8];

	if (getentropy(rnd, sizeof(rnd)) != 0)
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++) {
		tag[2 * i] = hex[rnd[i] >> 4];
		tag[2 * i + 1] = hex[rnd[i] & 15];
	}
	tag[16] = '\0';
}

/* Build the response and hand it to the transaction. */
static void respond(struct edge *e, osip_transaction_t *tr, const osip_message_t *req,
		    int code, const char *reason, osip_message_t **ret_resp)
{
	char tag[17], text[512];
	osip_message_t *resp = NULL;

	snprintf(text, sizeof(text), "%s", reason);
	clean_text(text);
	random_tag(tag);
	if (sipmsg_build_response(req, code, text, tag, &resp) < 0) {
		log_debug("edge: cannot build a %d response", code);
		return;
	}
	osip_message_set_header(resp, "Server", "alrd/" ALR_VERSION);
	if (ret_resp)
		*ret_resp = resp;
	if (sip_tx_send(tr, resp) < 0) {
		if (ret_resp)
			*ret_resp = NULL;
		return;
	}
	e->again = true;
}

/* 503 with Retry-After: 1 (RFC 3261 §21.5.4): a softphone tries again. */
static void respond_busy(struct edge *e, osip_transaction_t *tr, const osip_message_t *req,
			 const char *reason)
{
	osip_message_t *resp = NULL;

	respond(e, tr, req, 503, reason, &resp);
	if (resp)
		osip_message_set_header(resp, "Retry-After", "1");
}

/* ---- the local password (localauth.h) ------------------------------------ */

/* The Authorization of @req against @p's local password, for the AOR's
 * user name. */
static enum localauth_verdict check_local_password(struct edge *e, const osip_message_t *req,
						   const struct profile *p)
{
	enum localauth_verdict v;
	osip_uri_t *u = NULL;

	if (osip_uri_init(&u) != 0)
		return LOCALAUTH_BAD;
	if (!p->aor || osip_uri_parse(u, p->aor) != 0)
		u->username = NULL;     /* (validated: not reached) */
	v = localauth_check(&e->auth, req, u->username, p->local_password, now_wall());
	osip_uri_free(u);
	return v;
}

/* 401 with a new nonce, one challenge per algorithm (RFC 3261 §22.4,
 * RFC 8760).  MD5 first: softphones that know only MD5 often answer the
 * first challenge whatever its algorithm. */
static void send_challenge(struct edge *e, osip_transaction_t *tr, const osip_message_t *req,
			   bool stale, const char *reason)
{
	static const enum digest_algorithm algs[] = {
		DIGEST_ALGORITHM_MD5, DIGEST_ALGORITHM_SHA256,
	};
	char nonce[LOCALAUTH_NONCE_LEN + 1], v[LOCALAUTH_CHALLENGE_MAX];
	osip_message_t *resp = NULL;

	if (localauth_new_nonce(&e->auth, now_wall(), nonce) < 0) {
		respond(e, tr, req, 500, "Server Internal Error (no entropy for a nonce)", NULL);
		return;
	}
	respond(e, tr, req, 401, reason, &resp);
	for (size_t i = 0; resp && i < ARRAY_SIZE(algs); i++)
		if (localauth_challenge(nonce, algs[i], stale, v, sizeof(v)) == 0)
			osip_message_set_www_authenticate(resp, v);
}

/* Parse a decimal delta-seconds; -1 when it is not one.  Larger than
 * 2^32-1 is taken as 2^32-1 (RFC 3261 §20.19 lets a registrar cap it). */
static int64_t delta_seconds(const char *s)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			v = UINT32_MAX;
	}
	return (int64_t)v;
}

struct reg_parse {
	struct locreg_contact contacts[LOCREG_MAX_CONTACTS];
	char *uris[LOCREG_MAX_CONTACTS];
	size_t n;
	bool star;
	int64_t expires;
	char *call_id;
	uint32_t cseq;
	char user_agent[EDGE_UA_MAX];
	bool has_user_agent;
};

static void reg_parse_free(struct reg_parse *rp)
{
	for (size_t i = 0; i < rp->n; i++)
		osip_free(rp->uris[i]);
	osip_free(rp->call_id);
}

/* Read what locreg needs; a status and reason when it is bad. */
static int reg_parse(const osip_message_t *req, struct reg_parse *rp, const char **why)
{
	osip_header_t *h = NULL;
	osip_contact_t *c = NULL;
	int64_t cseq;

	memset(rp, 0, sizeof(*rp));
	rp->expires = -1;
	if (osip_call_id_to_str(req->call_id, &rp->call_id) != 0 || !rp->call_id) {
		*why = "Bad Request (no Call-ID)";
		return 400;
	}
	cseq = delta_seconds(req->cseq ? req->cseq->number : NULL);
	if (cseq < 0 || cseq >= UINT32_MAX) {
		*why = "Bad Request (CSeq is not a number below 2^31)";
		return 400;
	}
	rp->cseq = (uint32_t)cseq;
	if (osip_message_get_expires(req, 0, &h) >= 0 && h) {
		rp->expires = delta_seconds(h->hvalue);
		if (rp->expires < 0) {
			*why = "Bad Request (Expires is not delta-seconds)";
			return 400;
		}
	}
	h = NULL;
	if (osip_message_get_user_agent(req, 0, &h) >= 0 && h && h->hvalue) {
		snprintf(rp->user_agent, sizeof(rp->user_agent), "%s", h->hvalue);
		clean_text(rp->user_agent);
		rp->has_user_agent = true;
	}
	for (int pos = 0; osip_message_get_contact(req, pos, &c) >= 0 && c; pos++) {
		osip_generic_param_t *ep = NULL;
		char *uri = NULL;

		if (c->displayname && strcmp(c->displayname, "*") == 0 && !c->url) {
			rp->star = true;
			continue;
		}
		if (!c->url || !c->url->scheme || !c->url->host) {
			*why = "Bad Request (a Contact is not a SIP URI)";
			return 400;
		}
		if (rp->n == LOCREG_MAX_CONTACTS) {
			*why = "Bad Request (too many Contacts)";
			return 400;
		}
		if (osip_uri_to_str(c->url, &uri) != 0 || !uri || strlen(uri) > SIPMSG_URI_MAX) {
			osip_free(uri);
			*why = "Bad Request (a Contact URI is too long)";
			return 400;
		}
		rp->uris[rp->n] = uri;
		rp->contacts[rp->n].uri = uri;
		rp->contacts[rp->n].expires = -1;
		if (osip_contact_param_get_byname(c, "expires", &ep) >= 0 && ep) {
			rp->contacts[rp->n].expires = delta_seconds(ep->gvalue);
			if (rp->contacts[rp->n].expires < 0) {
				rp->n++;
				*why = "Bad Request (a Contact's expires is not delta-seconds)";
				return 400;
			}
		}
		rp->n++;
	}
	return 0;
}

/* RFC 3261 §10.3: alrd is the registrar of the profile's local
 * bindings.  Steps 1-2 (domain, Require) need nothing here: the To
 * names the profile, and alrd supports no extension a REGISTER could
 * require yet. */
static void handle_register(struct edge *e, struct edge_tx *tx, const osip_message_t *req)
{
	osip_transaction_t *tr = tx->tr;
	const osip_to_t *to = osip_message_get_to(req);
	const struct profile *p;
	struct reg_parse rp;
	struct locreg_request lr;
	struct locreg_result res;
	osip_message_t *resp = NULL;
	char reason[512], who[64], source[EDGE_NAME_MAX];
	const char *why = NULL;
	uid_t uid = 0;
	bool allowed;
	int code, r;

	p = to ? find_profile(e, to->url) : NULL;
	if (!p) {
		char *uri = NULL;

		if (to && to->url)
			osip_uri_to_str(to->url, &uri);
		snprintf(reason, sizeof(reason), "Not Found (no profile has the AOR %.200s; "
			 "alrctl profile list)", uri ? uri : "?");
		osip_free(uri);
		respond(e, tr, req, 404, reason, NULL);
		return;
	}
	addr_name(tx->proto, (struct sockaddr *)&tx->peer, source, sizeof(source));
	r = wait_for_user(e, tx);
	if (r > 0)
		return;
	if (r < 0) {
		respond_busy(e, tr, req, "Service Unavailable (alrd is looking up too many "
			     "local users at once)");
		return;
	}
	uid = tx_uid(tx);
	r = tx->uid_error;
	allowed = may_register(e, uid, tx->user, p, who, sizeof(who));
	/* Not allowed by its owner: the local password, if the profile has
	 * one (docs/edge.md).  A wrong one is refused at once: the 401 was
	 * the retry. */
	if (!allowed && p->local_password) {
		enum localauth_verdict v = check_local_password(e, req, p);

		switch (v) {
		case LOCALAUTH_OK:
			log_info("edge: REGISTER for profile %u from %s (%s): local password accepted",
				 p->id, who, source);
			allowed = true;
			break;
		case LOCALAUTH_NONE:
		case LOCALAUTH_STALE:
			snprintf(reason, sizeof(reason), "Unauthorized (give profile %u's local "
				 "password: %.200s, realm alrd)", p->id,
				 p->aor + (strncmp(p->aor, "sip:", 4) ? 0 : 4));
			send_challenge(e, tr, req, v == LOCALAUTH_STALE, reason);
			return;
		case LOCALAUTH_WRONG:
		case LOCALAUTH_BAD:
			log_notice("edge: REGISTER for profile %u (%s) from %s (%s) refused: %s "
				   "local password credentials", p->id, p->aor, who, source,
				   v == LOCALAUTH_WRONG ? "wrong" : "malformed");
			snprintf(reason, sizeof(reason), "Forbidden (%s for profile %.200s: the "
				 "local password or user name is wrong)",
				 v == LOCALAUTH_WRONG ? "wrong credentials" : "unusable Authorization",
				 p->aor + (strncmp(p->aor, "sip:", 4) ? 0 : 4));
			respond(e, tr, req, 403, reason, NULL);
			return;
		case _LOCALAUTH_VERDICT_MAX:
			assert(!"a verdict localauth_check() does not return");
			return;
		}
	}
	if (!allowed && r < 0) {
		log_notice("edge: REGISTER for profile %u from %s refused: its socket is not "
			   "in this host's socket table (%s)", p->id, source, strerror(-r));
		snprintf(reason, sizeof(reason), "Forbidden (alrd cannot tell which local user "
			 "sent this from %s: only local applications may register)", source);
		respond(e, tr, req, 403, reason, NULL);
		return;
	}
	if (!allowed) {
		log_notice("edge: REGISTER for profile %u (%s) from %s refused: not root, not in "
			   "the control groups, not in its local_users", p->id, p->aor, who);
		snprintf(reason, sizeof(reason), "Forbidden (user %s may not use profile %.200s; "
			 "add it to local_users)", who, p->aor + (strncmp(p->aor, "sip:", 4) ? 0 : 4));
		respond(e, tr, req, 403, reason, NULL);
		return;
	}
	code = reg_parse(req, &rp, &why);
	if (code) {
		respond(e, tr, req, code, why, NULL);
		reg_parse_free(&rp);
		return;
	}
	lr = (struct locreg_request){
		.call_id = rp.call_id, .cseq = rp.cseq, .star = rp.star,
		.contacts = rp.contacts, .n_contacts = rp.n, .expires = rp.expires,
		.uid = (uint32_t)uid, .user_agent = rp.has_user_agent ? rp.user_agent : NULL,
		.source = source,
	};
	r = locreg_table_apply(e->table, p->id, &lr, &e->limits, now_wall(), &res);
	reg_parse_free(&rp);
	if (r < 0) {
		respond(e, tr, req, 500, "Server Internal Error (out of memory)", NULL);
		return;
	}
	if (res.code != 200) {
		log_info("edge: REGISTER for profile %u from %s: %d %s", p->id, who, res.code,
			 res.reason);
		respond(e, tr, req, res.code, res.reason, &resp);
		if (resp && res.code == 423) {
			char v[16];

			snprintf(v, sizeof(v), "%" PRIu32, res.min_expires);
			osip_message_set_header(resp, "Min-Expires", v);
		}
		return;
	}
	respond(e, tr, req, 200, "OK", &resp);
	/* §10.3 step 8: every current binding, with its expiry left. */
	for (size_t i = 0; resp; i++) {
		const struct locreg *b = locreg_table_at(e->table, p->id, i);
		char contact[SIPMSG_URI_MAX + 40];
		int64_t left;

		if (!b)
			break;
		left = b->expires_at - now_wall();
		snprintf(contact, sizeof(contact), "<%s>;expires=%" PRId64, b->contact,
			 left > 0 ? left : 0);
		osip_message_set_contact(resp, contact);
	}
	sync_use(e, p->id);
	arm_expiry(e);
}

/* ---- osip callbacks ---------------------------------------------------------- */

static struct edge_tx *tx_of(osip_transaction_t *tr)
{
	return tr ? osip_transaction_get_your_instance(tr) : NULL;
}

static int conn_send(struct edge_conn *c, const char *buf, size_t len);

static int cb_send(osip_transaction_t *tr, osip_message_t *msg, char *host, int port,
		   int out_socket)
{
	struct edge_tx *tx = tx_of(tr);
	char *buf = NULL;
	size_t len = 0;
	int r = 0;

	if (!tx || tx->killed)
		return 0;
	if (osip_message_to_str(msg, &buf, &len) != 0 || !buf)
		return -1;
	if (tx->proto == SIP_PROTO_UDP) {
		if (sendto(tx->l->fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&tx->peer,
			   sip_sockaddr_len((struct sockaddr *)&tx->peer)) < 0)
			r = -errno;
	} else {
		r = tx->conn ? conn_send(tx->conn, buf, len) : -ENOTCONN;
	}
	osip_free(buf);
	if (r < 0) {
		log_debug("edge: cannot send a %s: %s", tx->server ? "response" : "request",
			  strerror(-r));
		return -1;
	}
	if (tx->server)
		tx->e->stats.responses++;
	return 0;
}

/* A request for the calls (edge/call.c): the sender's uid, then take(). */
static void offer(struct edge *e, struct edge_tx *tx, const osip_message_t *msg)
{
	struct edge_peer from = { .proto = tx->proto };
	const struct profile *p;
	uid_t uid = 0;
	int code;

	if (!e->call_ops) {
		respond(e, tx->tr, msg, 501, "Not Implemented (alrd routes no requests "
			"from local applications: no call handling)", NULL);
		return;
	}
	/* Who sent it, before anything else is done with it (the
	 * local password's nonce count is taken once); ACK and CANCEL
	 * are never asked who they are from (edge_may_use() is not asked). */
	if (!MSG_IS_ACK(msg) && !MSG_IS_CANCEL(msg)) {
		int r = wait_for_user(e, tx);

		if (r > 0)
			return;
		if (r < 0) {
			respond_busy(e, tx->tr, msg, "Service Unavailable (alrd is looking up "
				     "too many local users at once)");
			return;
		}
	}
	/* The local password of the profile the From names, for
	 * edge_may_use() (RFC 3261 §22.1: never ACK or CANCEL). */
	p = msg->from && !MSG_IS_ACK(msg) && !MSG_IS_CANCEL(msg) ?
	    edge_find_profile(e, msg->from->url) : NULL;
	if (p && p->local_password) {
		from.auth_profile = p->id;
		from.auth = check_local_password(e, msg, p);
	}
	uid = tx_uid(tx);
	if (uid == EDGE_UID_UNKNOWN && !from.auth_profile) {
		respond(e, tx->tr, msg, 403, "Forbidden (alrd cannot tell which local user "
			"sent this: only local applications may use alrd's profiles)", NULL);
		return;
	}
	memcpy(&from.addr, &tx->peer, sizeof(from.addr));
	from.uid = uid;
	from.user = tx->user;
	/* Taken while it is offered: the calls may answer it at once. */
	tx->taken = true;
	code = e->call_ops->take(e->call_data, tx->id, &from, msg);
	if (code == 0)
		return;
	tx->taken = false;
	if (code == 401) {
		send_challenge(e, tx->tr, msg, from.auth == LOCALAUTH_STALE,
			       "Unauthorized (give the profile's local password, realm alrd)");
		return;
	}
	respond(e, tx->tr, msg, code >= 300 && code <= 699 ? code : 500,
		osip_message_get_reason(code >= 300 && code <= 699 ? code : 500), NULL);
}

static void dispatch(struct edge_tx *tx, const osip_message_t *msg)
{
	if (MSG_IS_REGISTER(msg))
		handle_register(tx->e, tx, msg);
	else if (MSG_IS_OPTIONS(msg) &&
		 (!tx->e->call_ops || !msg->req_uri || !msg->req_uri->username))
		/* to alrd itself (a keepalive): answered here */
		respond(tx->e, tx->tr, msg, 200, "OK", NULL);
	else
		offer(tx->e, tx, msg);
}

static void cb_request(int type, osip_transaction_t *tr, osip_message_t *msg)
{
	struct edge_tx *tx = tx_of(tr);

	if (!tx || tx->killed)
		return;
	dispatch(tx, msg);
}

/* NSS answered about u->uid: the requests that waited for it go on. */
static void users_done(void *user_data, const struct userlookup_user *u)
{
	struct edge *e = user_data;

	for (struct edge_tx *tx = e->txs; tx; tx = tx->next) {
		if (tx->killed || !tx->waiting || tx->uid != u->uid)
			continue;
		tx->waiting = false;
		if (!tx->user && !(tx->user = malloc(sizeof(*tx->user)))) {
			respond(e, tx->tr, tx->tr->orig_request, 500,
				"Server Internal Error (out of memory)", NULL);
			continue;
		}
		*tx->user = *u;
		if (!u->known)
			log_info("edge: uid %u is unknown to NSS (%s)", (unsigned)u->uid,
				 strerror(u->error));
		dispatch(tx, tx->tr->orig_request);
	}
	edge_run(e);
}

/* ---- client transactions of the calls ---- */

static void cb_client_response(int type, osip_transaction_t *tr, osip_message_t *msg)
{
	struct edge_tx *tx = tx_of(tr);

	if (!tx || tx->killed || tx->finished)
		return;
	if (msg->status_code >= 200)
		tx->finished = true;
	if (tx->cbs)
		tx->cbs->response(tx->cb_data, tx->id, msg);
}

static void cb_client_timeout(int type, osip_transaction_t *tr, osip_message_t *msg)
{
	struct edge_tx *tx = tx_of(tr);

	if (!tx || tx->killed || tx->finished)
		return;
	tx->finished = true;
	if (tx->cbs)
		tx->cbs->failed(tx->cb_data, tx->id, -ETIMEDOUT);
}

static void kill_tx(struct edge *e, struct edge_tx *tx)
{
	if (tx->killed)
		return;
	tx->killed = true;
	osip_remove_transaction(e->osip, tx->tr);
}

static void cb_kill(int type, osip_transaction_t *tr)
{
	struct edge_tx *tx = tx_of(tr);

	if (tx)
		kill_tx(tx->e, tx);
}

static void cb_transport_error(int type, osip_transaction_t *tr, int error)
{
	struct edge_tx *tx = tx_of(tr);

	if (!tx)
		return;
	if (!tx->server && !tx->finished && tx->cbs) {
		tx->finished = true;
		tx->cbs->failed(tx->cb_data, tx->id, -EIO);
	}
	kill_tx(tx->e, tx);
}

static void set_callbacks(osip_t *o)
{
	static const int nist[] = {
		OSIP_NIST_REGISTER_RECEIVED, OSIP_NIST_BYE_RECEIVED,
		OSIP_NIST_OPTIONS_RECEIVED, OSIP_NIST_INFO_RECEIVED,
		OSIP_NIST_CANCEL_RECEIVED, OSIP_NIST_NOTIFY_RECEIVED,
		OSIP_NIST_SUBSCRIBE_RECEIVED, OSIP_NIST_UNKNOWN_REQUEST_RECEIVED,
	};

	osip_set_cb_send_message(o, cb_send);
	for (size_t i = 0; i < ARRAY_SIZE(nist); i++)
		osip_set_message_callback(o, nist[i], cb_request);
	static const int client[] = {
		OSIP_ICT_STATUS_1XX_RECEIVED, OSIP_ICT_STATUS_2XX_RECEIVED,
		OSIP_ICT_STATUS_3XX_RECEIVED, OSIP_ICT_STATUS_4XX_RECEIVED,
		OSIP_ICT_STATUS_5XX_RECEIVED, OSIP_ICT_STATUS_6XX_RECEIVED,
		OSIP_NICT_STATUS_1XX_RECEIVED, OSIP_NICT_STATUS_2XX_RECEIVED,
		OSIP_NICT_STATUS_3XX_RECEIVED, OSIP_NICT_STATUS_4XX_RECEIVED,
		OSIP_NICT_STATUS_5XX_RECEIVED, OSIP_NICT_STATUS_6XX_RECEIVED,
	};

	osip_set_message_callback(o, OSIP_IST_INVITE_RECEIVED, cb_request);
	for (size_t i = 0; i < ARRAY_SIZE(client); i++)
		osip_set_message_callback(o, client[i], cb_client_response);
	osip_set_message_callback(o, OSIP_ICT_STATUS_TIMEOUT, cb_client_timeout);
	osip_set_message_callback(o, OSIP_NICT_STATUS_TIMEOUT, cb_client_timeout);
	osip_set_kill_transaction_callback(o, OSIP_NIST_KILL_TRANSACTION, cb_kill);
	osip_set_kill_transaction_callback(o, OSIP_IST_KILL_TRANSACTION, cb_kill);
	osip_set_kill_transaction_callback(o, OSIP_NICT_KILL_TRANSACTION, cb_kill);
	osip_set_kill_transaction_callback(o, OSIP_ICT_KILL_TRANSACTION, cb_kill);
	osip_set_transport_error_callback(o, OSIP_NIST_TRANSPORT_ERROR, cb_transport_error);
	osip_set_transport_error_callback(o, OSIP_IST_TRANSPORT_ERROR, cb_transport_error);
	osip_set_transport_error_callback(o, OSIP_NICT_TRANSPORT_ERROR, cb_transport_error);
	osip_set_transport_error_callback(o, OSIP_ICT_TRANSPORT_ERROR, cb_transport_error);
}

/* ---- running ------------------------------------------------------------------ */

static void reap(struct edge *e)
{
	struct edge_tx **ptx = &e->txs;
	struct edge_conn **pc = &e->conns;

	while (*ptx) {
		struct edge_tx *tx = *ptx;

		if (!tx->killed) {
			ptx = &tx->next;
			continue;
		}
		*ptx = tx->next;
		osip_transaction_set_your_instance(tx->tr, NULL);
		osip_transaction_free2(tx->tr);
		e->n_txs--;
		free(tx->user);
		free(tx);
	}
	while (*pc) {
		struct edge_conn *c = *pc;

		if (!c->dead) {
			pc = &c->next;
			continue;
		}
		*pc = c->next;
		free(c->in);
		free(c->out);
		free(c);
	}
}

static void arm_timer(struct edge *e)
{
	struct timeval tv = { 0, 0 };
	double d;

	ev_timer_stop(e->loop, &e->timer);
	osip_timers_gettimeout(e->osip, &tv);
	if (tv.tv_sec > 30 * 86400)
		return;                 /* nothing to wait for */
	d = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
	ev_timer_set(&e->timer, d < 0.001 ? 0.001 : d, 0.);
	ev_timer_start(e->loop, &e->timer);
}

/* Run the transactions until nothing is queued.  osip_*_execute() walk a
 * snapshot of the list, so a killed transaction is freed after (reap()). */
static void edge_run(struct edge *e)
{
	unsigned rounds = 0;

	if (e->running) {
		e->again = true;
		return;
	}
	e->running = true;
	do {
		e->again = false;
		osip_nict_execute(e->osip);
		osip_ict_execute(e->osip);
		osip_nist_execute(e->osip);
		osip_ist_execute(e->osip);
		osip_timers_nict_execute(e->osip);
		osip_timers_ict_execute(e->osip);
		osip_timers_nist_execute(e->osip);
		osip_timers_ist_execute(e->osip);
		osip_nict_execute(e->osip);
		osip_ict_execute(e->osip);
		osip_nist_execute(e->osip);
		osip_ist_execute(e->osip);
	} while (e->again && ++rounds < 16);
	e->running = false;
	reap(e);
	arm_timer(e);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	edge_run(container_of(w, struct edge, timer));
}

/* ---- receiving ------------------------------------------------------------------ */

/* A response from a local application: to one of the calls' client
 * transactions, from the socket its request went to; a 2xx to an INVITE
 * whose transaction ended is the dialog's (stray()). */
static void receive_response(struct edge *e, enum sip_proto proto, struct edge_conn *c,
			     osip_event_t *evt, const struct sockaddr *from)
{
	bool invite = MSG_IS_RESPONSE_FOR(evt->sip, "INVITE");
	osip_transaction_t *tr = osip_transaction_find(invite ? &e->osip->osip_ict_transactions :
						       &e->osip->osip_nict_transactions, evt);
	struct edge_tx *tx = tx_of(tr);

	if (tx && !tx->server && !tx->killed && tx->proto == proto &&
	    (proto == SIP_PROTO_UDP ? sip_sockaddr_equal(from, (struct sockaddr *)&tx->peer) :
	     tx->conn == c)) {
		osip_transaction_add_event(tr, evt);
		edge_run(e);
		return;
	}
	if (!tx && invite && MSG_IS_STATUS_2XX(evt->sip) && e->call_ops) {
		struct edge_peer peer = { .proto = proto };

		memcpy(&peer.addr, from, sip_sockaddr_len(from));
		e->call_ops->stray(e->call_data, &peer, evt->sip);
	} else {
		e->stats.dropped++;
		log_debug("edge: a %d response from a local application matches no request; "
			  "dropped", evt->sip->status_code);
	}
	osip_event_free(evt);
}

/* Server transactions still to be answered (those answered only wait to
 * absorb retransmissions, and count against EDGE_MAX_ALL_TXS alone). */
static size_t open_server_txs(const struct edge *e)
{
	size_t n = 0;

	for (const struct edge_tx *tx = e->txs; tx; tx = tx->next) {
		int st;

		if (!tx->server || tx->killed)
			continue;
		st = tx->tr->state;
		if (st == NIST_TRYING || st == NIST_PROCEEDING || st == IST_PRE_PROCEEDING ||
		    st == IST_PROCEEDING)
			n++;
	}
	return n;
}

static void receive(struct edge *e, enum sip_proto proto, struct edge_listener *l,
		    struct edge_conn *c, const char *buf, size_t len,
		    const struct sockaddr *from, const struct sockaddr *local)
{
	osip_event_t *evt = osip_parse(buf, len);
	osip_transaction_t *tr;
	struct edge_tx *tx;
	char host[INET6_ADDRSTRLEN];
	uint16_t port = 0;

	if (evt && evt->sip && MSG_IS_RESPONSE(evt->sip) && sipmsg_has_mandatory(evt->sip) &&
	    osip_list_size(&evt->sip->vias) && evt->sip->status_code >= 100 &&
	    evt->sip->status_code <= 699) {
		receive_response(e, proto, c, evt, from);
		return;
	}
	if (!evt || !evt->sip || !MSG_IS_REQUEST(evt->sip) || !sipmsg_has_mandatory(evt->sip) ||
	    !osip_list_size(&evt->sip->vias)) {
		/* Garbage, or a request that cannot be answered (no Via,
		 * Call-ID, CSeq, From, To). */
		e->stats.dropped++;
		log_debug("edge: %zu bytes from a local application dropped: not a request "
			  "alrd can answer", len);
		if (evt)
			osip_event_free(evt);
		return;
	}
	e->stats.requests++;
	/* RFC 3261 §18.2.1 received=, RFC 3581 rport. */
	if (sipmsg_sockaddr_host(from, host, sizeof(host), &port) == 0)
		osip_message_fix_last_via_header(evt->sip, host, port);
	if (osip_find_transaction_and_add_event(e->osip, evt) == 0) {
		edge_run(e);            /* a retransmission, or an ACK */
		return;
	}
	if (MSG_IS_ACK(evt->sip) && e->call_ops) {
		/* An ACK for a 2xx: the dialog's. */
		struct edge_peer peer = { .proto = proto };

		memcpy(&peer.addr, from, sip_sockaddr_len(from));
		e->call_ops->stray(e->call_data, &peer, evt->sip);
		osip_event_free(evt);
		return;
	}
	if (MSG_IS_ACK(evt->sip) || e->n_txs >= EDGE_MAX_ALL_TXS ||
	    open_server_txs(e) >= EDGE_MAX_TXS) {
		/* ACK for a 2xx nobody sent, or too much at once: the
		 * sender retransmits. */
		e->stats.dropped++;
		osip_event_free(evt);
		return;
	}
	tr = osip_create_transaction(e->osip, evt);
	tx = tr ? calloc(1, sizeof(*tx)) : NULL;
	if (!tx) {
		if (tr) {
			osip_remove_transaction(e->osip, tr);
			osip_transaction_free2(tr);
		}
		osip_event_free(evt);
		return;
	}
	tx->e = e;
	tx->id = ++e->next_id;
	tx->server = true;
	tx->tr = tr;
	tx->proto = proto;
	tx->l = l;
	tx->conn = c;
	memcpy(&tx->peer, from, sip_sockaddr_len(from));
	memcpy(&tx->local, local, sip_sockaddr_len(local));
	tx->next = e->txs;
	e->txs = tx;
	e->n_txs++;
	osip_transaction_set_your_instance(tr, tx);
	osip_transaction_add_event(tr, evt);
	edge_run(e);
}

static void udp_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct edge_listener *l = container_of(w, struct edge_listener, io);
	char buf[65536];

	/* A few datagrams per wake-up: a flood cannot hold the loop. */
	for (int i = 0; i < 32; i++) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(l->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT,
				     (struct sockaddr *)&from, &flen);

		if (n < 0)
			return;
		if (n == 0)
			continue;
		receive(l->e, SIP_PROTO_UDP, l, NULL, buf, (size_t)n, (struct sockaddr *)&from,
			(struct sockaddr *)&l->addr);
	}
}

static void conn_close(struct edge_conn *c)
{
	struct edge *e = c->e;

	if (c->dead)
		return;
	c->dead = true;
	ev_io_stop(e->loop, &c->rio);
	ev_io_stop(e->loop, &c->wio);
	close(c->fd);
	c->fd = -1;
	e->n_conns--;
	/* Freed by the next reap(): a caller up the stack may hold it. */
	for (struct edge_tx *tx = e->txs; tx; tx = tx->next)
		if (tx->conn == c)
			tx->conn = NULL;
}

static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct edge_conn *c = container_of(w, struct edge_conn, wio);
	ssize_t n = send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	memmove(c->out, c->out + n, c->out_len - (size_t)n);
	c->out_len -= (size_t)n;
	if (c->out_len == 0)
		ev_io_stop(loop, &c->wio);
}

static int conn_send(struct edge_conn *c, const char *buf, size_t len)
{
	ssize_t n = 0;
	char *out;

	if (c->dead)
		return -ENOTCONN;
	if (c->out_len == 0) {
		n = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n < 0)
			n = 0;
		if ((size_t)n == len)
			return 0;
	}
	/* A reader that does not read is not served forever. */
	if (c->out_len + len - (size_t)n > EDGE_MAX_OUTPUT)
		return -ENOBUFS;
	out = realloc(c->out, c->out_len + len - (size_t)n);
	if (!out)
		return -ENOMEM;
	memcpy(out + c->out_len, buf + n, len - (size_t)n);
	c->out = out;
	c->out_len += len - (size_t)n;
	ev_io_start(c->e->loop, &c->wio);
	return 0;
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct edge_conn *c = container_of(w, struct edge_conn, rio);
	struct edge *e = c->e;
	ssize_t n;

	if (c->in_cap - c->in_len < 4096) {
		size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
		char *in;

		if (cap > SIPFRAME_MAX + 4096)
			cap = SIPFRAME_MAX + 4096;
		if (cap <= c->in_len) {
			conn_close(c);  /* cannot be: framing bounds it */
			return;
		}
		in = realloc(c->in, cap);
		if (!in) {
			conn_close(c);
			return;
		}
		c->in = in;
		c->in_cap = cap;
	}
	n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->in_len += (size_t)n;
	for (;;) {
		size_t skip = 0;
		long m = sipframe_next(c->in, c->in_len, SIPFRAME_MAX, &skip);

		if (m < 0) {
			log_debug("edge: TCP stream from a local application cannot be framed "
				  "(%s); closed", strerror((int)-m));
			e->stats.dropped++;
			conn_close(c);
			return;
		}
		if (skip) {
			memmove(c->in, c->in + skip, c->in_len - skip);
			c->in_len -= skip;
		}
		if (m == 0)
			break;
		receive(e, SIP_PROTO_TCP, c->l, c, c->in, (size_t)m, (struct sockaddr *)&c->peer,
			(struct sockaddr *)&c->local);
		if (c->dead)
			return;
		memmove(c->in, c->in + m, c->in_len - (size_t)m);
		c->in_len -= (size_t)m;
	}
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct edge_listener *l = container_of(w, struct edge_listener, io);
	struct edge *e = l->e;
	struct sockaddr_storage peer, local;
	socklen_t plen = sizeof(peer), llen = sizeof(local);
	struct edge_conn *c;
	int fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (e->n_conns >= EDGE_MAX_CONNECTIONS ||
	    getsockname(fd, (struct sockaddr *)&local, &llen) < 0 ||
	    !(c = calloc(1, sizeof(*c)))) {
		log_debug("edge: TCP connection on %s refused (%zu open)", l->name, e->n_conns);
		close(fd);
		return;
	}
	c->e = e;
	c->l = l;
	c->fd = fd;
	c->peer = peer;
	c->local = local;
	ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
	ev_io_start(loop, &c->rio);
	c->next = e->conns;
	e->conns = c;
	e->n_conns++;
}

/* ---- listening ---------------------------------------------------------------------- */

static int open_listener(struct edge *e, struct edge_listener *l, char *errbuf, size_t errsize)
{
	int one = 1, fd;

	fd = socket(l->addr.ss_family, (l->proto == SIP_PROTO_UDP ? SOCK_DGRAM : SOCK_STREAM) |
		    SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (l->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (l->proto == SIP_PROTO_TCP)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&l->addr, sip_sockaddr_len((struct sockaddr *)&l->addr)) < 0)
		goto fail;
	if (l->proto == SIP_PROTO_TCP && listen(fd, 16) < 0)
		goto fail;
	l->fd = fd;
	ev_io_init(&l->io, l->proto == SIP_PROTO_UDP ? udp_cb : accept_cb, fd, EV_READ);
	ev_io_start(e->loop, &l->io);
	return 0;
fail:
	{
		int r = -errno;

		if (fd >= 0)
			close(fd);
		snprintf(errbuf, errsize, "cannot listen on %s: %s", l->name, strerror(-r));
		return r;
	}
}

static void close_listeners(struct edge *e)
{
	for (size_t i = 0; i < e->n_ls; i++) {
		ev_io_stop(e->loop, &e->ls[i].io);
		if (e->ls[i].fd >= 0)
			close(e->ls[i].fd);
	}
	free(e->ls);
	e->ls = NULL;
	e->n_ls = 0;
}

int edge_listen(struct edge *e, char *errbuf, size_t errsize)
{
	int r;

	close_listeners(e);
	e->ls = calloc(2 * e->n_listen + 1, sizeof(*e->ls));
	if (!e->ls) {
		snprintf(errbuf, errsize, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < e->n_listen; i++)
		for (int p = 0; p < 2; p++) {
			struct edge_listener *l = &e->ls[e->n_ls];

			l->e = e;
			l->fd = -1;
			l->proto = p ? SIP_PROTO_TCP : SIP_PROTO_UDP;
			if (edge_addr_parse(e->listen[i], &l->addr) < 0) {
				snprintf(errbuf, errsize, "'%s' is not an address:port", e->listen[i]);
				close_listeners(e);
				return -EINVAL;
			}
			addr_name(l->proto, (struct sockaddr *)&l->addr, l->name, sizeof(l->name));
			e->n_ls++;
			r = open_listener(e, l, errbuf, errsize);
			if (r < 0) {
				close_listeners(e);
				return r;
			}
			log_info("edge: listening on %s", l->name);
		}
	return 0;
}

/* ---- life ------------------------------------------------------------------------ */

struct edge *edge_new(const struct edge_config *cfg)
{
	struct edge *e;

	if (!cfg || !cfg->loop || !cfg->registry || !cfg->store) {
		errno = EINVAL;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->loop = cfg->loop;
	e->registry = cfg->registry;
	e->store = cfg->store;
	e->limits = cfg->limits;
	e->table = locreg_table_new(on_change, e);
	e->listen = calloc(cfg->n_listen + 1, sizeof(*e->listen));
	if (!e->table || !e->listen || osip_init(&e->osip) != 0) {
		e->osip = NULL;
		errno = ENOMEM;
		return edge_free(e);
	}
	for (size_t i = 0; i < cfg->n_listen; i++) {
		e->listen[i] = strdup(cfg->listen[i]);
		if (!e->listen[i]) {
			errno = ENOMEM;
			return edge_free(e);
		}
		e->n_listen++;
	}
	osip_set_application_context(e->osip, e);
	set_callbacks(e->osip);
	set_control_groups(e, cfg->control_groups, cfg->n_control_groups);
	ev_timer_init(&e->timer, timer_cb, 0., 0.);
	ev_timer_init(&e->expiry, expiry_cb, 0., 0.);
	ev_idle_init(&e->load_idle, load_idle_cb);
	e->watch = registry_watch(e->registry, on_registry_event, e, NULL);
	return e;
}

struct edge *edge_free(struct edge *e)
{
	if (!e)
		return NULL;
	if (e->watch)
		registry_unwatch(e->registry, e->watch);
	ev_timer_stop(e->loop, &e->timer);
	ev_timer_stop(e->loop, &e->expiry);
	ev_idle_stop(e->loop, &e->load_idle);
	close_listeners(e);
	for (struct edge_conn *c = e->conns; c; c = c->next)
		if (!c->dead) {
			ev_io_stop(e->loop, &c->rio);
			ev_io_stop(e->loop, &c->wio);
			close(c->fd);
			c->dead = true;
		}
	for (struct edge_tx *tx = e->txs; tx; tx = tx->next)
		if (!tx->killed) {
			tx->killed = true;
			osip_remove_transaction(e->osip, tx->tr);
		}
	reap(e);
	userlookup_free(e->users);
	if (e->osip)
		osip_release(e->osip);
	for (size_t i = 0; i < e->n_listen; i++)
		free(e->listen[i]);
	free(e->listen);
	free(e->using);
	free(e->to_load);
	locreg_table_free(e->table);
	free(e);
	return NULL;
}

void edge_set_event_handler(struct edge *e, edge_event_fn fn, void *user_data)
{
	e->on_event = fn;
	e->on_event_data = user_data;
}

void edge_set_limits(struct edge *e, const struct locreg_limits *limits)
{
	e->limits = *limits;
}

void edge_set_control_groups(struct edge *e, const char *const *groups, size_t n)
{
	set_control_groups(e, groups, n);
}

size_t edge_listen_count(const struct edge *e)
{
	return e ? e->n_ls : 0;
}

const char *edge_listen_name(const struct edge *e, size_t i)
{
	return e && i < e->n_ls ? e->ls[i].name : NULL;
}

size_t edge_local_count(const struct edge *e, unsigned int profile_id)
{
	return e ? locreg_table_count(e->table, profile_id) : 0;
}

const struct locreg *edge_local_at(const struct edge *e, unsigned int profile_id, size_t i)
{
	return e ? locreg_table_at(e->table, profile_id, i) : NULL;
}

void edge_get_stats(const struct edge *e, struct edge_stats *ret)
{
	*ret = e->stats;
	ret->connections = e->n_conns;
	ret->transactions = e->n_txs;
	ret->user_lookups = e->users ? userlookup_pending(e->users) : 0;
}

/* ---- for the edge's calls --------------------------------------------------------- */

void edge_set_call_ops(struct edge *e, const struct edge_call_ops *ops, void *user_data)
{
	if (!e)
		return;
	e->call_ops = ops;
	e->call_data = user_data;
}

int edge_may_use(struct edge *e, const struct edge_peer *from, const struct profile *p,
		 char *who, size_t who_size)
{
	if (may_register(e, from->uid, from->user, p, who, who_size))
		return 0;
	if (!p->local_password)
		return 403;
	if (from->auth_profile != p->id)
		return 401;
	switch (from->auth) {
	case LOCALAUTH_OK:
		return 0;
	case LOCALAUTH_NONE:
	case LOCALAUTH_STALE:
		return 401;
	case LOCALAUTH_WRONG:
	case LOCALAUTH_BAD:
	case _LOCALAUTH_VERDICT_MAX:
		break;
	}
	return 403;
}

int edge_peer_of(const struct locreg *r, struct edge_peer *ret)
{
	const char *s = r ? r->source : NULL;

	if (!s || !ret)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	if (strncmp(s, "udp:", 4) == 0)
		ret->proto = SIP_PROTO_UDP;
	else if (strncmp(s, "tcp:", 4) == 0)
		ret->proto = SIP_PROTO_TCP;
	else
		return -EINVAL;
	ret->uid = r->uid;
	return edge_addr_parse(s + 4, &ret->addr) < 0 ? -EINVAL : 0;
}

static struct edge_tx *find_tx(struct edge *e, uint64_t id, bool server)
{
	for (struct edge_tx *tx = e->txs; tx; tx = tx->next)
		if (tx->id == id && tx->server == server && !tx->killed)
			return tx;
	return NULL;
}

int edge_respond(struct edge *e, uint64_t id, osip_message_t *resp)
{
	struct edge_tx *tx = e ? find_tx(e, id, true) : NULL;

	if (!tx || !tx->taken || tx->finished) {
		osip_message_free(resp);
		return -ENOENT;
	}
	if (resp->status_code >= 200)
		tx->finished = true;
	osip_message_set_header(resp, "Server", "alrd/" ALR_VERSION);
	if (sip_tx_send(tx->tr, resp) < 0)
		return -ENOMEM;
	edge_run(e);
	return 0;
}

/* The socket that reaches @to: a UDP listener of its family, or its TCP
 * connection (still open). */
static int peer_socket(struct edge *e, const struct edge_peer *to, struct edge_listener **ret_l,
		       struct edge_conn **ret_c)
{
	*ret_l = NULL;
	*ret_c = NULL;
	if (to->proto == SIP_PROTO_TCP) {
		for (struct edge_conn *c = e->conns; c; c = c->next)
			if (!c->dead && sip_sockaddr_equal((struct sockaddr *)&c->peer,
							   (struct sockaddr *)&to->addr)) {
				*ret_c = c;
				*ret_l = c->l;
				return 0;
			}
		return -ENOTCONN;
	}
	for (size_t i = 0; i < e->n_ls; i++)
		if (e->ls[i].proto == SIP_PROTO_UDP && e->ls[i].fd >= 0 &&
		    e->ls[i].addr.ss_family == to->addr.ss_family) {
			*ret_l = &e->ls[i];
			return 0;
		}
	return -ENOTCONN;
}

int edge_local_addr(struct edge *e, const struct edge_peer *to, struct sockaddr_storage *ret)
{
	struct edge_listener *l;
	struct edge_conn *c;
	int r = e && to && ret ? peer_socket(e, to, &l, &c) : -EINVAL;

	if (r < 0)
		return r;
	memcpy(ret, c ? &c->local : &l->addr, sizeof(*ret));
	return 0;
}

int edge_request(struct edge *e, const struct edge_peer *to, osip_message_t *req,
		 const struct sip_client_cbs *cbs, void *user_data, uint64_t *ret_id)
{
	osip_transaction_t *tr = NULL;
	struct edge_listener *l;
	struct edge_conn *c;
	struct edge_tx *tx;
	int r;

	if (!e || !to || !req || !cbs) {
		osip_message_free(req);
		return -EINVAL;
	}
	r = peer_socket(e, to, &l, &c);
	if (r < 0) {
		osip_message_free(req);
		return r;
	}
	tx = calloc(1, sizeof(*tx));
	if (!tx) {
		osip_message_free(req);
		return -ENOMEM;
	}
	if (sip_tx_client_new(e->osip, req, &tr) < 0) {
		free(tx);
		return -ENOMEM;
	}
	tx->e = e;
	tx->id = ++e->next_id;
	tx->tr = tr;
	tx->cbs = cbs;
	tx->cb_data = user_data;
	tx->proto = to->proto;
	tx->l = l;
	tx->conn = c;
	memcpy(&tx->peer, &to->addr, sizeof(tx->peer));
	if (l)
		memcpy(&tx->local, &l->addr, sizeof(tx->local));
	tx->next = e->txs;
	e->txs = tx;
	e->n_txs++;
	osip_transaction_set_your_instance(tr, tx);
	if (ret_id)
		*ret_id = tx->id;
	edge_run(e);
	return 0;
}

void edge_forget(struct edge *e, uint64_t id)
{
	struct edge_tx *tx = e ? find_tx(e, id, false) : NULL;

	if (tx)
		tx->cbs = NULL;
}

int edge_send(struct edge *e, const struct edge_peer *to, const osip_message_t *msg)
{
	struct edge_listener *l;
	struct edge_conn *c;
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (!e || !to || !msg)
		return -EINVAL;
	r = peer_socket(e, to, &l, &c);
	if (r < 0)
		return r;
	if (osip_message_to_str((osip_message_t *)msg, &buf, &len) != 0 || !buf)
		return -ENOMEM;
	if (c)
		r = conn_send(c, buf, len);
	else if (sendto(l->fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&to->addr,
			sip_sockaddr_len((struct sockaddr *)&to->addr)) < 0)
		r = -errno;
	osip_free(buf);
	return r;
}
