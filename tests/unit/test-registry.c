/* The profile registry, over real bindings (sip/binding.c) whose
 * transport is a fake: every REGISTER is parsed back and answered by a
 * small registrar model that behaves as Kamailio does where it matters
 * (bindings per AOR keyed by +sip.instance, else by URI; the same Call-ID
 * with a CSeq not above the stored one refused with 400; a 2xx listing
 * the AOR's bindings).  The IAP table is fed fake links, the store is
 * real, the plugins are the build's ietf.so and the test plugins. */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if_arp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "alr/iap_table.h"
#include "alr/plugin_loader.h"
#include "alr/registry.h"
#include "alr/roam.h"
#include "policy/policy.h"
#include "daemon/config.h"
#include "daemon/api.h"
#include "daemon/profile-json.h"
#include "base/log.h"
#include "sip/binding.h"
#include "store/store.h"
#include "backup-to.h"

#define UP_RUNNING (IFF_UP | IFF_RUNNING | IFF_LOWER_UP)
#define PASSWORD "Reg1stry-Secret"

/* ---- the fake transport and registrar ----------------------------------- */

struct fenv;

struct fport {
	struct fenv *env;
	struct binding *b;
	bool dead;
};

struct ftp {
	char ifname[IFNAMSIZ];
	struct sockaddr_storage local;
	int refs;
};

struct fsent {
	struct fport *port;
	uint64_t id;
	osip_message_t *msg;
	char ifname[IFNAMSIZ];
	bool done;
	bool cancelled;
};

struct fbind {
	char aor[128];
	char uri[256];
	char instance[128];
	char call_id[128];
	unsigned int cseq;
	unsigned int expires;
};

struct fenv {
	uint64_t now;
	uint32_t rnd;
	uint16_t next_port;
	struct fport *ports[64];
	size_t n_ports;
	struct ftp tps[32];
	size_t n_tps;
	struct fsent sent[512];
	size_t n_sent;
	uint64_t next_id;
	struct fbind reg[32];
	size_t n_reg;
	int answer;                     /* status of answers; 0: silent */
	bool per_uri;                   /* keep one binding per URI (no instance replacement) */
	int transport_error;            /* transport_get fails with this (0: works) */
};

static const char *kind_rule(const char *ifname, void *user_data)
{
	return config_kind_for(user_data, ifname);
}

static void *f_attach(void *env, struct binding *b)
{
	struct fenv *e = env;
	struct fport *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	assert_true(e->n_ports < 64);
	p->env = e;
	p->b = b;
	e->ports[e->n_ports++] = p;
	return p;
}

static void f_detach(void *port)
{
	((struct fport *)port)->dead = true;
}

static uint64_t f_now(void *port)
{
	return ((struct fport *)port)->env->now;
}

static void f_timer_start(void *port, uint64_t at) {}
static void f_timer_stop(void *port) {}

static void f_random(void *port, void *buf, size_t len)
{
	struct fenv *e = ((struct fport *)port)->env;
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++) {
		e->rnd ^= e->rnd << 13;
		e->rnd ^= e->rnd >> 17;
		e->rnd ^= e->rnd << 5;
		p[i] = (unsigned char)e->rnd;
	}
}

static int f_resolve(void *port, const char *host, enum binding_lookup how,
		     enum sip_proto proto)
{
	return -EIO;            /* the tests use IP literals */
}

static void f_resolve_cancel(void *port) {}

static int f_transport_get(void *port, const char *ifname, const struct sockaddr *local,
			   enum sip_proto proto, const struct sockaddr *dest, const char *peer_name,
			   const char *ca_file, struct sip_transport **ret_tp,
			   struct sockaddr_storage *ret_local)
{
	struct fenv *e = ((struct fport *)port)->env;
	struct ftp *tp;

	if (e->transport_error)
		return e->transport_error;
	for (size_t i = 0; i < e->n_tps; i++) {
		tp = &e->tps[i];
		if (tp->refs > 0 && strcmp(tp->ifname, ifname) == 0 &&
		    memcmp(&((struct sockaddr_in *)&tp->local)->sin_addr,
			   &((const struct sockaddr_in *)local)->sin_addr, 4) == 0) {
			tp->refs++;
			*ret_tp = (struct sip_transport *)tp;
			*ret_local = tp->local;
			return 0;
		}
	}
	assert_true(e->n_tps < 32);
	tp = &e->tps[e->n_tps++];
	memset(tp, 0, sizeof(*tp));
	snprintf(tp->ifname, sizeof(tp->ifname), "%s", ifname);
	memcpy(&tp->local, local, sizeof(struct sockaddr_in));
	((struct sockaddr_in *)&tp->local)->sin_port = htons(e->next_port++);
	tp->refs = 1;
	*ret_tp = (struct sip_transport *)tp;
	*ret_local = tp->local;
	return 0;
}

static void f_transport_put(void *port, struct sip_transport *t)
{
	struct ftp *tp = (struct ftp *)t;

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

static int f_send(void *port, struct sip_transport *tp, const struct sockaddr *dest,
		  osip_message_t *req, uint64_t *ret_id)
{
	struct fport *p = port;
	struct fenv *e = p->env;
	struct fsent *s;

	assert_true(e->n_sent < 512);
	s = &e->sent[e->n_sent++];
	memset(s, 0, sizeof(*s));
	s->port = p;
	s->id = ++e->next_id;
	s->msg = reparse(req);
	osip_message_free(req);
	snprintf(s->ifname, sizeof(s->ifname), "%s", ((struct ftp *)tp)->ifname);
	*ret_id = s->id;
	return 0;
}

static void f_cancel(void *port, uint64_t id)
{
	struct fenv *e = ((struct fport *)port)->env;

	for (size_t i = 0; i < e->n_sent; i++)
		if (e->sent[i].id == id)
			e->sent[i].cancelled = true;
}

static const struct binding_ops fake_ops = {
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

static char *uri_str(const osip_uri_t *u)
{
	char *s = NULL, *copy;

	assert_int_equal(osip_uri_to_str(u, &s), 0);
	copy = strdup(s);
	osip_free(s);
	return copy;
}

static const char *cparam(osip_contact_t *c, const char *name)
{
	osip_generic_param_t *p = NULL;

	if (osip_contact_param_get_byname(c, (char *)name, &p) != 0 || !p)
		return NULL;
	return p->gvalue ? p->gvalue : "";
}

static const char *header(const osip_message_t *m, const char *lname)
{
	osip_header_t *h = NULL;

	if (osip_message_header_get_byname(m, lname, 0, &h) < 0 || !h)
		return NULL;
	return h->hvalue;
}

/* The registrar's side of one REGISTER: its status and, for a 2xx, the
 * AOR's bindings in @contacts. */
static int registrar_apply(struct fenv *e, const osip_message_t *req, char *contacts,
			   size_t size)
{
	char *aor = uri_str(req->to->url);
	const char *call_id = req->call_id->number;
	unsigned int cseq = (unsigned int)atoi(req->cseq->number);
	const char *hexp = header(req, "expires");
	size_t off = 0;

	/* RFC 3261 §10.3 step 7, as Kamailio does it: the same Call-ID
	 * with a CSeq not above the stored one is refused. */
	for (size_t i = 0; i < e->n_reg; i++)
		if (strcmp(e->reg[i].aor, aor) == 0 && strcmp(e->reg[i].call_id, call_id) == 0 &&
		    cseq <= e->reg[i].cseq) {
			free(aor);
			return 400;
		}
	for (int k = 0; k < osip_list_size(&req->contacts); k++) {
		osip_contact_t *c = NULL;
		const char *ce, *inst;
		char *uri;
		unsigned int exp;
		struct fbind *b = NULL;

		osip_message_get_contact(req, k, &c);
		uri = uri_str(c->url);
		ce = cparam(c, "expires");
		exp = (unsigned int)atoi(ce ? ce : hexp ? hexp : "3600");
		inst = cparam(c, "+sip.instance");
		for (size_t i = 0; i < e->n_reg && !b; i++) {
			if (strcmp(e->reg[i].aor, aor) != 0)
				continue;
			/* Kamailio: a removal names the URI; a registration
			 * with an instance replaces the instance's binding. */
			if (exp && inst && !e->per_uri && strcmp(e->reg[i].instance, inst) == 0)
				b = &e->reg[i];
			else if (strcmp(e->reg[i].uri, uri) == 0)
				b = &e->reg[i];
		}
		if (exp == 0) {
			if (b)
				*b = e->reg[--e->n_reg];
			free(uri);
			continue;
		}
		if (!b) {
			assert_true(e->n_reg < 32);
			b = &e->reg[e->n_reg++];
			memset(b, 0, sizeof(*b));
		}
		snprintf(b->aor, sizeof(b->aor), "%s", aor);
		snprintf(b->uri, sizeof(b->uri), "%s", uri);
		snprintf(b->instance, sizeof(b->instance), "%s", inst ? inst : "");
		snprintf(b->call_id, sizeof(b->call_id), "%s", call_id);
		b->cseq = cseq;
		b->expires = exp;
		free(uri);
	}
	contacts[0] = '\0';
	for (size_t i = 0; i < e->n_reg; i++)
		if (strcmp(e->reg[i].aor, aor) == 0)
			off += (size_t)snprintf(contacts + off, size - off,
						"Contact: <%s>;expires=%u\r\n", e->reg[i].uri,
						e->reg[i].expires);
	free(aor);
	return 200;
}

static void answer(struct fenv *e, struct fsent *s, int code)
{
	osip_message_t *resp = NULL, *back = NULL;
	char contacts[4096] = "", *text, *full;
	size_t len;

	if (code == 200)
		code = registrar_apply(e, s->msg, contacts, sizeof(contacts));
	assert_int_equal(sipmsg_build_response(s->msg, code, code == 200 ? "OK" :
					       code == 400 ? "Bad Request" : "Forbidden",
					       "srv", &resp), 0);
	assert_int_equal(sipmsg_to_bytes(resp, &text, &len), 0);
	osip_message_free(resp);
	full = malloc(len + strlen(contacts) + 1);
	assert_non_null(full);
	memcpy(full, text, len - 2);
	strcpy(full + len - 2, contacts);
	strcat(full, "\r\n");
	free(text);
	assert_int_equal(osip_message_init(&back), 0);
	assert_int_equal(osip_message_parse(back, full, strlen(full)), 0);
	free(full);
	s->done = true;
	binding_handle_response(s->port->b, s->id, back);
	osip_message_free(back);
}

static size_t registrar_count(const struct fenv *e, const char *aor)
{
	size_t n = 0;

	for (size_t i = 0; i < e->n_reg; i++)
		if (strcmp(e->reg[i].aor, aor) == 0)
			n++;
	return n;
}

static const struct fbind *registrar_get(const struct fenv *e, const char *aor)
{
	for (size_t i = 0; i < e->n_reg; i++)
		if (strcmp(e->reg[i].aor, aor) == 0)
			return &e->reg[i];
	return NULL;
}

/* ---- the world ----------------------------------------------------------- */

struct world {
	char dir[64];
	char db[128];
	char plugdir[128];
	struct ev_loop *loop;
	struct store *store;
	struct config *config;
	struct iap_table *iaps;
	struct plugin_loader *plugins;
	struct registry *r;
	struct fenv env;
	struct nlmon_addr a1, a2;
	struct nlmon_link wlan, wwan;
	char ev[256][200];
	size_t n_ev;
	int done_calls;
	int done_result;
	double stop_timeout;
	struct policy_set *snaps;       /* use_snaps() */
};

static void record(const struct registry_event *ev, void *ud)
{
	struct world *w = ud;
	char *s;

	assert_true(w->n_ev < 256);
	s = w->ev[w->n_ev++];
	switch (ev->type) {
	case REGISTRY_EVENT_REGISTERED:
		snprintf(s, 200, "registered %u iap=%u", ev->id, ev->iap_id);
		assert_non_null(ev->contact);
		break;
	case REGISTRY_EVENT_DEREGISTERED:
		snprintf(s, 200, "deregistered %u %s", ev->id, roam_reason_to_str(ev->reason));
		break;
	case REGISTRY_EVENT_ERROR:
		assert_null(strstr(ev->message, PASSWORD));
		snprintf(s, 200, "error %u %d %s", ev->id, ev->code, ev->kind);
		break;
	case REGISTRY_EVENT_MIGRATED:
		assert_non_null(ev->from_contact);
		assert_non_null(ev->contact);
		snprintf(s, 200, "migrated %u iap=%u->%u", ev->id, ev->from_iap_id, ev->iap_id);
		break;
	case REGISTRY_EVENT_CREATED:
	case REGISTRY_EVENT_UPDATED:
	case REGISTRY_EVENT_DESTROYED:
	case REGISTRY_EVENT_FORCIBLY_DISABLED:
	case _REGISTRY_EVENT_MAX:
		snprintf(s, 200, "%s %u", registry_event_to_str(ev->type) + 8, ev->id);
		break;
	}
}

static bool seen(struct world *w, const char *what)
{
	for (size_t i = 0; i < w->n_ev; i++)
		if (strcmp(w->ev[i], what) == 0)
			return true;
	return false;
}

static void expect_seen(struct world *w, const char *what)
{
	if (!seen(w, what)) {
		for (size_t i = 0; i < w->n_ev; i++)
			print_message("  event: %s\n", w->ev[i]);
		fail_msg("no event '%s'", what);
	}
}

/* Answer everything outstanding (answers may cause more requests), then
 * let the registry's housekeeping run. */
static void pump(struct world *w)
{
	bool again = true;

	while (again) {
		size_t before = w->env.n_sent;

		again = false;
		for (size_t i = 0; i < w->env.n_sent; i++) {
			struct fsent *s = &w->env.sent[i];

			if (s->done || s->cancelled || s->port->dead || !w->env.answer)
				continue;
			answer(&w->env, s, w->env.answer);
			again = true;
		}
		for (int i = 0; i < 4; i++)
			ev_run(w->loop, EVRUN_NOWAIT);
		if (w->env.n_sent != before)
			again = true;
	}
}

static struct fsent *last_sent(struct world *w)
{
	assert_true(w->env.n_sent > 0);
	return &w->env.sent[w->env.n_sent - 1];
}

static void copy_plugin(const char *from, const char *dir, const char *name)
{
	char to[256], buf[65536];
	ssize_t n;
	int in, out;

	snprintf(to, sizeof(to), "%s/%s", dir, name);
	in = open(from, O_RDONLY);
	if (in < 0)
		fail_msg("%s: %s (build the plugins; ALR_BUILD_DIR?)", from, strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
}

struct roam_event;
static void roam_record(const struct roam_event *ev, void *ud);

static void registry_up(struct world *w)
{
	static const unsigned char key[16] = "0123456789abcdef";
	struct registry_config rc = {
		.loop = w->loop, .store = w->store, .iaps = w->iaps, .plugins = w->plugins,
		.binding_ops = &fake_ops, .ops_env = &w->env,
		.install_key = key, .install_key_len = sizeof(key),
		.stop_timeout = w->stop_timeout,
	};

	w->r = registry_new(&rc);
	assert_non_null(w->r);
	assert_int_not_equal(registry_watch(w->r, record, w, NULL), 0);
	registry_set_roam_handler(w->r, roam_record, w);
	assert_int_equal(registry_load(w->r), 0);
	pump(w);
}

/* Roaming events, as "alr.iap-available 1 iap=1 to=C" (to: C
 * controllers, O observers, one client's id). */
static void roam_record(const struct roam_event *ev, void *ud)
{
	struct world *w = ud;
	char to[32];

	assert_true(w->n_ev < 256);
	if (ev->to & ROAM_TO_CLIENT)
		snprintf(to, sizeof(to), "%u", ev->client);
	else
		snprintf(to, sizeof(to), "%s%s", ev->to & ROAM_TO_CONTROLLERS ? "C" : "",
			 ev->to & ROAM_TO_OBSERVERS ? "O" : "");
	switch (ev->type) {
	case ROAM_EVENT_MIGRATION_STARTED:
	case ROAM_EVENT_MIGRATION_COMPLETED:
		snprintf(w->ev[w->n_ev++], 200, "%s %u %u->%u to=%s",
			 roam_event_type_to_str(ev->type), ev->profile, ev->from, ev->to_iap, to);
		break;
	case ROAM_EVENT_ERROR:
		snprintf(w->ev[w->n_ev++], 200, "alr.error %u %s iap=%u to=%s", ev->profile,
			 roam_error_to_str(ev->code), ev->iap, to);
		break;
	case ROAM_EVENT_IAP_AVAILABLE:
	case ROAM_EVENT_NO_IAP:
	case ROAM_EVENT_REGISTERED:
	case ROAM_EVENT_UPDATED:
	case ROAM_EVENT_DEREGISTERED:
	case _ROAM_EVENT_MAX:
		snprintf(w->ev[w->n_ev++], 200, "%s %u iap=%u to=%s",
			 roam_event_type_to_str(ev->type), ev->profile, ev->iap, to);
		break;
	}
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	const char *build = getenv("ALR_BUILD_DIR");
	struct config_error ce;
	char conf[128], src[512], err[256];
	FILE *f;

	assert_non_null(w);
	build = build ? build : "build";
	strcpy(w->dir, "/tmp/alrd-test-registry-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(w->db, sizeof(w->db), "%s/alrd.db", w->dir);
	snprintf(w->plugdir, sizeof(w->plugdir), "%s/plugins", w->dir);
	assert_int_equal(mkdir(w->plugdir, 0755), 0);
	snprintf(src, sizeof(src), "%s/plugins/ietf.so", build);
	copy_plugin(src, w->plugdir, "ietf.so");
	snprintf(src, sizeof(src), "%s/tests/plugins/good.so", build);
	copy_plugin(src, w->plugdir, "good.so");
	snprintf(src, sizeof(src), "%s/tests/plugins/picky.so", build);
	copy_plugin(src, w->plugdir, "picky.so");

	snprintf(conf, sizeof(conf), "%s/alrd.conf", w->dir);
	f = fopen(conf, "w");
	fputs("[iap-kinds]\nwlan* = wifi\nwwan* = cellular\n", f);
	fclose(f);
	assert_int_equal(config_load(conf, true, &w->config, &ce), 0);
	assert_int_equal(store_open(w->db, &w->store, err, sizeof(err)), 0);
	w->iaps = iap_table_new(w->store, kind_rule, w->config, "/nonexistent-sysfs");
	assert_non_null(w->iaps);
	w->a1 = (struct nlmon_addr){ AF_INET, 24, RT_SCOPE_UNIVERSE, IFA_F_PERMANENT, "10.99.1.2" };
	w->a2 = (struct nlmon_addr){ AF_INET, 24, RT_SCOPE_UNIVERSE, IFA_F_PERMANENT, "10.99.2.2" };
	w->wlan = (struct nlmon_link){ .ifindex = 5, .name = "wlan0", .flags = UP_RUNNING,
				       .arptype = ARPHRD_ETHER, .type = "veth", .n_addrs = 1,
				       .addrs = &w->a1, .default_route4 = true };
	w->wwan = (struct nlmon_link){ .ifindex = 6, .name = "wwan0", .flags = UP_RUNNING,
				       .arptype = ARPHRD_ETHER, .type = "veth", .n_addrs = 1,
				       .addrs = &w->a2, .default_route4 = true };
	iap_table_link_changed(w->iaps, &w->wlan);
	iap_table_link_changed(w->iaps, &w->wwan);
	assert_int_equal(iap_table_find_by_name(w->iaps, "wlan0")->id, 1);
	assert_int_equal(iap_table_find_by_name(w->iaps, "wwan0")->id, 2);

	w->plugins = plugin_loader_new(registry_plugin_host());
	assert_int_equal(plugin_loader_load_dir(w->plugins, w->plugdir), 3);
	w->loop = ev_loop_new(EVFLAG_AUTO);
	w->env.rnd = 0x2468ace1;
	w->env.next_port = 40000;
	w->env.now = 1000000;
	w->env.answer = 200;
	w->stop_timeout = 0.05;
	registry_up(w);
	*state = w;
	return 0;
}

static void env_clear(struct fenv *e)
{
	for (size_t i = 0; i < e->n_sent; i++)
		osip_message_free(e->sent[i].msg);
	e->n_sent = 0;
	for (size_t i = 0; i < e->n_ports; i++)
		free(e->ports[i]);
	e->n_ports = 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	char cmd[128];

	if (w->snaps) {
		/* The reload order: no set, then free the old one. */
		registry_set_snaps(w->r, NULL);
		policy_set_free(w->snaps);
	}
	registry_free(w->r);
	plugin_loader_free(w->plugins);
	for (size_t i = 0; i < w->env.n_tps; i++)
		assert_int_equal(w->env.tps[i].refs, 0);
	env_clear(&w->env);
	iap_table_free(w->iaps);
	store_close(w->store);
	config_free(w->config);
	ev_loop_destroy(w->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
	assert_int_equal(system(cmd), 0);
	free(w);
	return 0;
}

static unsigned int create(struct world *w, const char *json)
{
	struct json_object *o = json_tokener_parse(json);
	struct profile_patch patch;
	struct profile_error pe = { "", "" };
	unsigned int id = 0;
	int r;

	assert_non_null(o);
	patch = profile_json_patch(o);
	r = registry_create(w->r, &patch, &id, &pe);
	json_object_put(o);
	if (r < 0)
		fail_msg("create: %d %s: %s", r, pe.field, pe.reason);
	return id;
}

static int create_err(struct world *w, const char *json, struct profile_error *pe)
{
	struct json_object *o = json_tokener_parse(json);
	struct profile_patch patch;
	unsigned int id = 0;
	int r;

	assert_non_null(o);
	patch = profile_json_patch(o);
	r = registry_create(w->r, &patch, &id, pe);
	json_object_put(o);
	return r;
}

static void update(struct world *w, unsigned int id, const char *json)
{
	struct json_object *o = json_tokener_parse(json);
	struct profile_patch patch;
	struct profile_error pe = { "", "" };
	int r;

	assert_non_null(o);
	patch = profile_json_patch(o);
	r = registry_update(w->r, id, &patch, &pe);
	json_object_put(o);
	if (r < 0)
		fail_msg("update: %d %s: %s", r, pe.field, pe.reason);
}

#define ALICE "{\"aor\": \"sip:alice@example.test\", \"registrar\": {\"uri\": " \
	"\"sip:10.99.100.1\", \"password\": \"" PASSWORD "\"}, \"expires\": 600"
#define AOR_ALICE "sip:alice@example.test"

static void expect_state(struct world *w, unsigned int id, enum roam_state s)
{
	enum roam_state got = registry_get_state(w->r, id);

	if (got != s)
		fail_msg("profile %u is %s, expected %s", id, roam_state_to_str(got),
			 roam_state_to_str(s));
}

static const char *contact_uri_of(const struct fsent *s, char *buf, size_t size)
{
	osip_contact_t *c = NULL;
	char *u;

	if (osip_message_get_contact(s->msg, 0, &c) < 0 || !c)
		return NULL;
	u = uri_str(c->url);
	snprintf(buf, size, "%s", u);
	free(u);
	return buf;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_auto_profile_registers(void **state)
{
	struct world *w = *state;
	struct store_contact *rows;
	const char *user, *instance;
	struct fsent *s;
	osip_contact_t *c = NULL;
	char *ruri, buf[300];
	size_t n;
	unsigned int id = create(w, ALICE ", \"auto_register\": true}");

	/* The IETF plugin's REGISTER, over Wi-Fi (preferred by the default
	 * SNAP), with the profile's stable identity. */
	assert_int_equal(w->env.n_sent, 1);
	s = last_sent(w);
	assert_string_equal(s->ifname, "wlan0");
	ruri = uri_str(s->msg->req_uri);
	assert_string_equal(ruri, "sip:10.99.100.1");
	free(ruri);
	assert_int_equal(registry_identity(w->r, id, &user, &instance), 0);
	assert_int_equal(osip_message_get_contact(s->msg, 0, &c), 0);
	assert_string_equal(c->url->username, user);
	assert_non_null(cparam(c, "+sip.instance"));
	snprintf(buf, sizeof(buf), "\"<%s>\"", instance);
	assert_string_equal(cparam(c, "+sip.instance"), buf);
	assert_string_equal(header(s->msg, "expires"), "600");
	expect_state(w, id, ROAM_REGISTERING);
	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	expect_seen(w, "created 1");
	expect_seen(w, "registered 1 iap=1");
	assert_int_equal(registrar_count(&w->env, AOR_ALICE), 1);

	/* What a crash would leave is in the store. */
	assert_int_equal(store_contact_list(w->store, id, &rows, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].contact, contact_uri_of(s, buf, sizeof(buf)));
	assert_string_equal(rows[0].call_id, s->msg->call_id->number);
	assert_int_equal(rows[0].iap_id, 1);
	assert_int_equal(rows[0].cseq, 1);
	store_contacts_free(rows, n);

	/* The JSON state, without the password. */
	{
		struct json_object *o = api_profile_to_json(w->r, id), *st, *v;
		const char *text = json_object_to_json_string(o);

		assert_null(strstr(text, PASSWORD));
		assert_true(json_object_object_get_ex(o, "state", &st));
		json_object_object_get_ex(st, "registration", &v);
		assert_string_equal(json_object_get_string(v), "registered");
		json_object_object_get_ex(st, "plugin", &v);
		assert_string_equal(json_object_get_string(v), "ietf");
		json_object_object_get_ex(st, "report", &v);
		assert_non_null(strstr(json_object_get_string(v), "last response 200"));
		json_object_put(o);
	}
	/* The IETF plugin set the registered AOR. */
	assert_int_equal(registry_find(w->r, id)->registered_aors.n, 1);
	assert_string_equal(registry_find(w->r, id)->registered_aors.v[0], AOR_ALICE);
}

static void test_users(void **state)
{
	struct world *w = *state;
	unsigned int id = create(w, ALICE "}");
	struct store_contact *rows;
	size_t n;

	pump(w);
	assert_int_equal(w->env.n_sent, 0);
	expect_state(w, id, ROAM_UNREGISTERED);
	assert_int_equal(registry_enable(w->r, id, 7), 0);
	assert_int_equal(registry_enable(w->r, id, 7), 0);     /* once */
	assert_int_equal(registry_enable(w->r, id, 8), 0);
	assert_int_equal(registry_get_users(w->r, id), 2);
	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	registry_release_user(w->r, 7);
	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	assert_int_equal(registry_disable(w->r, id, 7), -ENOENT);
	assert_int_equal(registry_disable(w->r, id, 8), 0);
	/* A de-REGISTER of our contact, then unregistered. */
	assert_string_equal(header(last_sent(w)->msg, "expires"), "0");
	expect_state(w, id, ROAM_UNREGISTERING);
	pump(w);
	expect_state(w, id, ROAM_UNREGISTERED);
	expect_seen(w, "deregistered 1 disabled");
	assert_int_equal(registrar_count(&w->env, AOR_ALICE), 0);
	assert_int_equal(store_contact_list(w->store, id, &rows, &n), 0);
	assert_int_equal(n, 0);
	store_contacts_free(rows, n);

	/* Force-disable: users dropped, stays off until enabled again. */
	assert_int_equal(registry_enable(w->r, id, 9), 0);
	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	assert_int_equal(registry_force_disable(w->r, id), 0);
	pump(w);
	expect_seen(w, "forcibly-disabled 1");
	expect_seen(w, "deregistered 1 forced");
	expect_state(w, id, ROAM_UNREGISTERED);
	assert_int_equal(registry_get_users(w->r, id), 0);
	update(w, id, "{\"auto_register\": true}");
	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	assert_int_equal(registry_force_disable(w->r, id), 0);
	pump(w);
	expect_state(w, id, ROAM_UNREGISTERED);     /* auto, but forced off */
	assert_int_equal(registry_enable(w->r, id, 10), 0);
	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	assert_int_equal(registry_enable(w->r, 99, 10), -ENOENT);
}

static void test_failover_and_wait_for_iap(void **state)
{
	struct world *w = *state;
	unsigned int id = create(w, ALICE ", \"auto_register\": true}");

	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	assert_false(seen(w, "migrated 1 iap=0->1"));
	w->n_ev = 0;
	/* Wi-Fi loses carrier: deregistered (network lost), over cellular. */
	w->wlan.flags = IFF_UP;
	iap_table_link_changed(w->iaps, &w->wlan);
	assert_string_equal(last_sent(w)->ifname, "wwan0");
	expect_state(w, id, ROAM_REGISTERING);
	expect_seen(w, "deregistered 1 network-lost");
	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	expect_seen(w, "registered 1 iap=2");
	/* ... and where from, for applications with a SIP stack of their own
	 * (profile.migrated, issue 14 item 5); never at the first
	 * registration, which moved nothing. */
	expect_seen(w, "migrated 1 iap=1->2");
	/* Same instance: the registrar replaced the binding. */
	assert_int_equal(registrar_count(&w->env, AOR_ALICE), 1);
	assert_non_null(strstr(registrar_get(&w->env, AOR_ALICE)->uri, "10.99.2.2"));

	/* Cellular goes too: waiting for an IAP. */
	w->wwan.flags = IFF_UP;
	iap_table_link_changed(w->iaps, &w->wwan);
	expect_state(w, id, ROAM_WAIT_FOR_IAP);
	/* Wi-Fi back: registered over it (binding moved, same Call-ID). */
	w->wlan.flags = UP_RUNNING;
	iap_table_link_changed(w->iaps, &w->wlan);
	expect_state(w, id, ROAM_REGISTERING);
	assert_string_equal(last_sent(w)->ifname, "wlan0");
	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	assert_int_equal(registrar_count(&w->env, AOR_ALICE), 1);

	/* A fixed IAP that is down: wait for it, ignoring the other one. */
	update(w, id, "{\"iap_id\": 2}");
	pump(w);
	expect_state(w, id, ROAM_WAIT_FOR_IAP);
	expect_seen(w, "deregistered 1 update");
	assert_int_equal(registrar_count(&w->env, AOR_ALICE), 0);
	w->wwan.flags = UP_RUNNING;
	iap_table_link_changed(w->iaps, &w->wwan);
	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	assert_string_equal(last_sent(w)->ifname, "wwan0");
}

static void test_updates(void **state)
{
	struct world *w = *state;
	unsigned int id = create(w, ALICE ", \"auto_register\": true}");
	char call_id[128], contact[300], c2[300];
	unsigned int cseq;
	struct fsent *s;

	pump(w);
	s = last_sent(w);
	snprintf(call_id, sizeof(call_id), "%s", s->msg->call_id->number);
	cseq = (unsigned int)atoi(s->msg->cseq->number);
	contact_uri_of(s, contact, sizeof(contact));

	/* Minor: a re-REGISTER, same Call-ID, next CSeq, same contact. */
	w->n_ev = 0;
	update(w, id, "{\"expires\": 300, \"contact_params\": [\"audio\"]}");
	s = last_sent(w);
	assert_string_equal(s->msg->call_id->number, call_id);
	assert_int_equal(atoi(s->msg->cseq->number), cseq + 1);
	assert_string_equal(header(s->msg, "expires"), "300");
	assert_string_equal(contact_uri_of(s, c2, sizeof(c2)), contact);
	expect_state(w, id, ROAM_REGISTERED);
	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	assert_false(seen(w, "deregistered 1 update"));
	assert_int_equal(registrar_count(&w->env, AOR_ALICE), 1);
	assert_int_equal(registrar_get(&w->env, AOR_ALICE)->expires, 300);

	/* Major: deregistration of the old, registration at the new. */
	w->n_ev = 0;
	update(w, id, "{\"registrar\": {\"uri\": \"sip:10.99.100.2\"}}");
	assert_string_equal(header(last_sent(w)->msg, "expires"), "0");
	expect_state(w, id, ROAM_UNREGISTERING);
	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	expect_seen(w, "updated 1");
	expect_seen(w, "deregistered 1 update");
	expect_seen(w, "registered 1 iap=1");
	{
		char *ruri = uri_str(last_sent(w)->msg->req_uri);

		assert_string_equal(ruri, "sip:10.99.100.2");
		free(ruri);
	}
	assert_int_equal(registrar_count(&w->env, AOR_ALICE), 1);

	/* Nothing the registrar sees: no request. */
	{
		size_t n = w->env.n_sent;

		update(w, id, "{\"locked\": true}");
		pump(w);
		assert_int_equal(w->env.n_sent, n + 1);     /* locked is minor */
		update(w, id, "{\"locked\": true}");
		pump(w);
		assert_int_equal(w->env.n_sent, n + 1);     /* no change */
	}

	/* Turning auto-registration off: deregistered (disabled). */
	w->n_ev = 0;
	update(w, id, "{\"auto_register\": false}");
	pump(w);
	expect_state(w, id, ROAM_UNREGISTERED);
	expect_seen(w, "deregistered 1 disabled");
}

/* A plugin may make a minor change major (the test plugin: expires). */
static void test_plugin_classify_and_shape(void **state)
{
	struct world *w = *state;
	unsigned int id = create(w, "{\"type\": \"other/test\", \"aor\": "
				    "\"sip:carol@example.test\", \"registrar\": {\"uri\": "
				    "\"sip:10.99.100.1\"}, \"auto_register\": true}");

	/* Its defaults (expires 1234) and its header. */
	assert_int_equal(registry_find(w->r, id)->expires, 1234);
	assert_string_equal(header(last_sent(w)->msg, "x-test-plugin"), "good");
	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	/* handle_message set its AORs */
	assert_int_equal(registry_find(w->r, id)->registered_aors.n, 2);
	w->n_ev = 0;
	update(w, id, "{\"expires\": 900}");
	assert_string_equal(header(last_sent(w)->msg, "expires"), "0");
	pump(w);
	expect_seen(w, "deregistered 1 update");
	expect_state(w, id, ROAM_REGISTERED);
}

static void test_permanent_error(void **state)
{
	struct world *w = *state;
	unsigned int id;
	size_t n;

	w->env.answer = 403;
	id = create(w, ALICE ", \"auto_register\": true}");
	pump(w);
	expect_state(w, id, ROAM_UNREGISTERED);
	expect_seen(w, "error 1 403 forbidden");
	/* Not retried by itself... */
	n = w->env.n_sent;
	pump(w);
	assert_int_equal(w->env.n_sent, n);
	/* ...but after an update (or a new network). */
	w->env.answer = 200;
	update(w, id, "{\"provider_name\": \"fixed\"}");
	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	{
		struct json_object *o = api_profile_to_json(w->r, id), *st, *e;

		json_object_object_get_ex(o, "state", &st);
		json_object_object_get_ex(st, "error", &e);
		assert_null(e);
		json_object_put(o);
	}
}

/* A crash: the registry goes without deregistering; the registrar keeps
 * what it had.  The next start continues the Call-ID above the stored
 * CSeq and removes what is not wanted any more. */
static void test_restart_cleanup(void **state)
{
	struct world *w = *state;
	unsigned int a = create(w, ALICE ", \"auto_register\": true}");
	unsigned int b = create(w, "{\"aor\": \"sip:bob@example.test\", \"registrar\": "
				   "{\"uri\": \"sip:10.99.100.1\"}}");
	char call_id[128], old[300];
	unsigned int cseq;

	assert_int_equal(registry_enable(w->r, b, 1), 0);
	pump(w);
	expect_state(w, a, ROAM_REGISTERED);
	expect_state(w, b, ROAM_REGISTERED);
	snprintf(call_id, sizeof(call_id), "%s", registrar_get(&w->env, AOR_ALICE)->call_id);
	cseq = registrar_get(&w->env, AOR_ALICE)->cseq;
	snprintf(old, sizeof(old), "%s", registrar_get(&w->env, AOR_ALICE)->uri);
	assert_int_equal(registrar_count(&w->env, "sip:bob@example.test"), 1);

	for (int round = 0; round < 3; round++) {
		/* crash */
		w->r = registry_free(w->r);
		w->n_ev = 0;
		registry_up(w);
		expect_state(w, a, ROAM_REGISTERED);
		expect_state(w, b, ROAM_UNREGISTERED);
		/* one binding, same Call-ID, a higher CSeq, a new contact */
		assert_int_equal(registrar_count(&w->env, AOR_ALICE), 1);
		assert_string_equal(registrar_get(&w->env, AOR_ALICE)->call_id, call_id);
		assert_true(registrar_get(&w->env, AOR_ALICE)->cseq > cseq);
		assert_string_not_equal(registrar_get(&w->env, AOR_ALICE)->uri, old);
		cseq = registrar_get(&w->env, AOR_ALICE)->cseq;
		snprintf(old, sizeof(old), "%s", registrar_get(&w->env, AOR_ALICE)->uri);
		/* bob is not wanted now: its contact was removed */
		assert_int_equal(registrar_count(&w->env, "sip:bob@example.test"), 0);
		{
			struct store_contact *rows;
			size_t n;

			assert_int_equal(store_contact_list(w->store, b, &rows, &n), 0);
			assert_int_equal(n, 0);
			store_contacts_free(rows, n);
			assert_int_equal(store_contact_list(w->store, a, &rows, &n), 0);
			assert_int_equal(n, 1);
			assert_string_equal(rows[0].contact, old);
			store_contacts_free(rows, n);
		}
		assert_int_equal(registry_enable(w->r, b, 1), 0);
		pump(w);
		assert_int_equal(registrar_count(&w->env, "sip:bob@example.test"), 1);
	}
}

static void test_missing_plugin(void **state)
{
	struct world *w = *state;
	unsigned int id = create(w, "{\"type\": \"other/test\", \"aor\": "
				    "\"sip:carol@example.test\", \"registrar\": {\"uri\": "
				    "\"sip:10.99.100.1\"}, \"auto_register\": true}");
	struct json_object *o, *st, *v;

	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	/* Restart with only ietf.so: the profile is kept, cannot register. */
	w->r = registry_free(w->r);
	plugin_loader_free(w->plugins);
	{
		char p[200];

		snprintf(p, sizeof(p), "%s/good.so", w->plugdir);
		assert_int_equal(unlink(p), 0);
	}
	w->plugins = plugin_loader_new(registry_plugin_host());
	assert_int_equal(plugin_loader_load_dir(w->plugins, w->plugdir), 2);
	w->n_ev = 0;
	registry_up(w);
	assert_non_null(registry_find(w->r, id));
	expect_state(w, id, ROAM_UNREGISTERED);
	expect_seen(w, "error 1 0 no-plugin");
	/* its contact (left by the "crash") was removed all the same */
	assert_int_equal(registrar_count(&w->env, "sip:carol@example.test"), 0);
	o = api_profile_to_json(w->r, id);
	json_object_object_get_ex(o, "state", &st);
	json_object_object_get_ex(st, "plugin", &v);
	assert_null(v);
	json_object_put(o);
}

static void done_cb(int result, const char *message, void *ud)
{
	struct world *w = ud;

	w->done_calls++;
	w->done_result = result;
}

static void test_delete_shutdown(void **state)
{
	struct world *w = *state;
	unsigned int a = create(w, ALICE ", \"auto_register\": true}");
	unsigned int b = create(w, "{\"aor\": \"sip:bob@example.test\", \"registrar\": "
				   "{\"uri\": \"sip:10.99.100.1\"}, \"auto_register\": true}");
	struct profile *p = NULL;

	pump(w);
	assert_int_equal(registry_delete(w->r, a, done_cb, w), 0);
	assert_int_equal(registry_delete(w->r, a, done_cb, w), -EBUSY);
	pump(w);
	assert_int_equal(w->done_calls, 1);
	assert_int_equal(w->done_result, 0);
	expect_seen(w, "deregistered 1 deleted");
	expect_seen(w, "destroyed 1");
	assert_null(registry_find(w->r, a));
	assert_int_equal(store_profile_get(w->store, a, &p), -ENOENT);
	assert_int_equal(registrar_count(&w->env, AOR_ALICE), 0);

	/* Shutdown with a registrar that does not answer: bounded. */
	w->env.answer = 0;
	w->done_calls = 0;
	registry_shutdown(w->r, done_cb, w);
	expect_state(w, b, ROAM_UNREGISTERING);
	assert_true(registry_busy(w->r, NULL));
	for (int i = 0; i < 100 && !w->done_calls; i++)
		ev_run(w->loop, EVRUN_ONCE);
	assert_int_equal(w->done_calls, 1);
	expect_state(w, b, ROAM_UNREGISTERED);
	expect_seen(w, "deregistered 2 shutdown");
	/* The contact stays recorded: the next start removes it. */
	{
		struct store_contact *rows;
		size_t n;

		assert_int_equal(store_contact_list(w->store, b, &rows, &n), 0);
		assert_int_equal(n, 1);
		store_contacts_free(rows, n);
	}
	assert_int_equal(registry_enable(w->r, b, 1), -EBUSY);
}

static void test_backup_restore(void **state)
{
	struct world *w = *state;
	unsigned int a = create(w, ALICE ", \"auto_register\": true}");
	char path[128], err[256];

	pump(w);
	snprintf(path, sizeof(path), "%s/backup.db", w->dir);
	assert_int_equal(backup_to(w->store, path, true, err, sizeof(err)), 0);
	assert_int_equal(registry_delete(w->r, a, NULL, NULL), 0);
	pump(w);
	assert_int_equal(registry_count(w->r), 0);
	assert_int_equal(registrar_count(&w->env, AOR_ALICE), 0);
	w->n_ev = 0;
	assert_int_equal(registry_restore(w->r, "/nonexistent.db", done_cb, w, err,
					  sizeof(err)), -ENOENT);
	assert_int_equal(registry_restore(w->r, path, done_cb, w, err, sizeof(err)), 0);
	{
		struct profile_error pe;

		assert_int_equal(create_err(w, ALICE "}", &pe), -EBUSY);
		assert_non_null(strstr(pe.reason, "restore in progress"));
	}
	pump(w);
	assert_int_equal(w->done_calls, 1);
	assert_int_equal(w->done_result, 0);
	expect_seen(w, "created 1");
	expect_seen(w, "registered 1 iap=1");
	assert_int_equal(registrar_count(&w->env, AOR_ALICE), 1);
	assert_false(registry_busy(w->r, NULL));

	/* A restore while registered: deregistered (restore), destroyed,
	 * created, registered again. */
	w->n_ev = 0;
	w->done_calls = 0;
	assert_int_equal(registry_restore(w->r, path, done_cb, w, err, sizeof(err)), 0);
	pump(w);
	assert_int_equal(w->done_calls, 1);
	expect_seen(w, "deregistered 1 restore");
	expect_seen(w, "destroyed 1");
	expect_seen(w, "created 1");
	expect_seen(w, "registered 1 iap=1");
	assert_int_equal(registrar_count(&w->env, AOR_ALICE), 1);
}

static void test_validation_and_defaults(void **state)
{
	struct world *w = *state;
	struct profile_error pe;
	unsigned int a, b;
	char *text = NULL;
	unsigned int *ids = NULL;
	size_t n = 0;
	char err[256];

	/* A plugin whose validation fails. */
	assert_int_equal(create_err(w, "{\"type\": \"other/picky\", \"aor\": "
				       "\"sip:a@example.test\"}", &pe), -EINVAL);
	assert_string_equal(pe.field, "params.picky");
	/* The test plugin's own check, and its capabilities. */
	assert_int_equal(create_err(w, "{\"type\": \"other/test\", \"aor\": "
				       "\"sip:a@example.test\", \"provider_name\": \"refuse-me\", "
				       "\"registrar\": {\"uri\": \"sip:10.99.100.1\"}}", &pe), -EINVAL);
	assert_string_equal(pe.field, "provider_name");
	assert_int_equal(create_err(w, "{\"type\": \"other/test\", \"aor\": "
				       "\"sip:a@example.test\"}", &pe), -EINVAL);
	assert_string_equal(pe.field, "registrar.uri");
	/* No plugin for the type. */
	assert_int_equal(create_err(w, "{\"type\": \"other/zeta\", \"aor\": "
				       "\"sip:a@example.test\"}", &pe), -EINVAL);
	assert_string_equal(pe.field, "type");
	/* TLS is there (sips: and transport tls), but a sips: URI does not
	 * go over tcp; sigcomp is not the IETF plugin's thing. */
	assert_int_equal(create_err(w, "{\"aor\": \"sip:alice@example.test\", \"registrar\": "
				       "{\"uri\": \"sips:10.99.100.1\", \"transport\": \"tcp\"}}", &pe),
			 -EINVAL);
	assert_string_equal(pe.field, "registrar.transport");
	assert_int_equal(create_err(w, ALICE ", \"sigcomp\": true}", &pe), -EINVAL);
	assert_string_equal(pe.field, "sigcomp");
	/* Only SNAP 0 exists; IAPs by id. */
	assert_int_equal(create_err(w, ALICE ", \"snap_id\": 3}", &pe), -EINVAL);
	assert_string_equal(pe.field, "snap_id");
	assert_int_equal(create_err(w, ALICE ", \"iap_id\": 77}", &pe), -EINVAL);
	assert_string_equal(pe.field, "iap_id");
	assert_int_equal(registry_count(w->r), 0);

	/* Security agreement and the configured instance, shaped by the
	 * IETF plugin; TCP from the transport. */
	a = create(w, "{\"aor\": \"sip:alice@example.test\", \"registrar\": {\"uri\": "
		      "\"sip:10.99.100.1\", \"transport\": \"tcp\", \"password\": \"" PASSWORD "\"}, "
		      "\"auto_register\": true, \"security_negotiation\": true, \"contact_params\": "
		      "[\"+sip.instance=\\\"<urn:uuid:00000000-0000-4000-8000-000000000001>\\\"\", "
		      "\"audio\"], \"extra_headers\": [\"X-Extra: 1\"]}");
	{
		struct fsent *s = last_sent(w);
		osip_contact_t *c = NULL;
		char *ruri = uri_str(s->msg->req_uri);

		assert_string_equal(ruri, "sip:10.99.100.1;transport=tcp");
		free(ruri);
		assert_string_equal(header(s->msg, "security-client"), "digest");
		assert_string_equal(header(s->msg, "require"), "sec-agree");
		assert_string_equal(header(s->msg, "x-extra"), "1");
		osip_message_get_contact(s->msg, 0, &c);
		assert_string_equal(cparam(c, "+sip.instance"),
				    "\"<urn:uuid:00000000-0000-4000-8000-000000000001>\"");
		assert_non_null(cparam(c, "audio"));
	}

	/* Default flag, export and import (all or nothing). */
	b = create(w, "{\"aor\": \"sip:bob@example.test\", \"default\": true}");
	assert_true(registry_find(w->r, b)->is_default);
	assert_int_equal(registry_set_default(w->r, a), 0);
	assert_true(registry_find(w->r, a)->is_default);
	assert_false(registry_find(w->r, b)->is_default);
	expect_seen(w, "updated 2");
	assert_int_equal(api_profile_export(w->r, false, &text), 0);
	assert_null(strstr(text, PASSWORD));
	free(text);
	assert_int_equal(api_profile_export(w->r, true, &text), 0);
	assert_non_null(strstr(text, PASSWORD));
	assert_int_equal(api_profile_import(w->r, text, strlen(text), &ids, &n, err, sizeof(err)), 0);
	assert_true(n >= 2);
	assert_int_equal(registry_count(w->r), 4);
	assert_true(registry_find(w->r, ids[0])->is_default);
	assert_false(registry_find(w->r, a)->is_default);
	free(ids);
	ids = NULL;
	explicit_bzero(text, strlen(text));
	free(text);
	assert_int_equal(api_profile_import(w->r, "[profile]\naor = sip:x@example.test\n"
					 "[profile]\naor = bad\n", 50, &ids, &n, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "line"));
	assert_int_equal(registry_count(w->r), 4);
}

/* Issue 11: max-profiles.  Create and import beyond it get -EDQUOT and
 * change nothing (store included); a lower limit drops nothing. */
static void test_max_profiles(void **state)
{
	struct world *w = *state;
	struct profile_error pe;
	unsigned int a, *ids = NULL;
	size_t n = 0;
	char err[256], *text = NULL;

	registry_set_max_profiles(w->r, 2);
	a = create(w, "{\"aor\": \"sip:a@example.test\"}");
	assert_int_equal(api_profile_export(w->r, false, &text), 0);
	create(w, "{\"aor\": \"sip:b@example.test\"}");
	assert_int_equal(create_err(w, "{\"aor\": \"sip:c@example.test\"}", &pe), -EDQUOT);
	assert_string_equal(pe.field, "");
	assert_non_null(strstr(pe.reason, "max-profiles (2)"));
	assert_int_equal(api_profile_import(w->r, text, strlen(text), &ids, &n, err, sizeof(err)),
			 -EDQUOT);
	assert_non_null(strstr(err, "nothing was imported"));
	assert_int_equal(registry_count(w->r), 2);

	/* room again after a delete */
	assert_int_equal(registry_delete(w->r, a, NULL, NULL), 0);
	pump(w);
	assert_int_equal(registry_count(w->r), 1);
	assert_int_equal(api_profile_import(w->r, text, strlen(text), &ids, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	free(ids);
	assert_int_equal(registry_count(w->r), 2);

	/* lowered under the count: everything stays, nothing new */
	registry_set_max_profiles(w->r, 1);
	assert_int_equal(registry_count(w->r), 2);
	assert_int_equal(create_err(w, "{\"aor\": \"sip:c@example.test\"}", &pe), -EDQUOT);
	/* 0: no limit */
	registry_set_max_profiles(w->r, 0);
	create(w, "{\"aor\": \"sip:c@example.test\"}");
	assert_int_equal(registry_count(w->r), 3);
	free(text);
}

/* SNAPs the daemon loaded: their ids become valid for profiles, and a
 * profile registers over the best IAP of its own SNAP. */
/* The daemon's SNAPs: one policy file text each (NULL-terminated); freed
 * by teardown(). */
static void use_snaps(struct world *w, const char *const *texts)
{
	struct policy_error pe;

	assert_null(w->snaps);
	w->snaps = policy_set_new();
	assert_non_null(w->snaps);
	for (; *texts; texts++) {
		struct policy_snap *snap = NULL;

		assert_int_equal(policy_parse_string("test.conf", *texts, strlen(*texts), &snap,
						     &pe), 0);
		assert_int_equal(policy_set_add(w->snaps, snap, &pe), 0);
	}
	registry_set_snaps(w->r, w->snaps);
}

static void test_snaps(void **state)
{
	static const char cell_first[] =
		"[snap]\nid = 6\nname = cellfirst\n\n"
		"[rule]\npriority = 10\nkind = cellular\n\n"
		"[rule]\npriority = 20\nkind = wifi\n";
	struct world *w = *state;
	struct profile_error pe;
	const struct snap_iap_view *views;
	unsigned int id;
	size_t n = 0;

	assert_int_equal(create_err(w, ALICE ", \"snap_id\": 6}", &pe), -EINVAL);
	assert_string_equal(pe.field, "snap_id");
	use_snaps(w, (const char *const[]){ cell_first, NULL });

	views = registry_iap_views(w->r, &n);
	assert_non_null(views);
	assert_true(n >= 2);

	id = create(w, ALICE ", \"snap_id\": 6, \"auto_register\": true}");
	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	assert_non_null(strstr(registrar_get(&w->env, AOR_ALICE)->uri, "10.99.2.2"));
}

/* The roaming engine through the registry: an offer to the controller,
 * a disallow, a refresh, an allow and the migration (make-before-break),
 * checked at the fake registrar. */
/* A registrar's 503 is not the network's failure (issue 15): the profile
 * stays on the Wi-Fi it registers over, no alr.error names the IAP, and
 * nothing goes over cellular; when the registrar answers, it registers
 * there.  Before, the 503 marked the Wi-Fi failed and the profile moved to
 * cellular (and stayed there). */
static void test_server_error_keeps_the_iap(void **state)
{
	static const char wifi_first[] =
		"[snap]\nid = 5\nname = mobile\nstable-time = 0\n\n"
		"[rule]\npriority = 10\nkind = wifi\n\n"
		"[rule]\npriority = 20\nkind = cellular\n";
	struct world *w = *state;
	unsigned int id;

	use_snaps(w, (const char *const[]){ wifi_first, NULL });
	w->env.answer = 503;
	id = create(w, ALICE ", \"snap_id\": 5, \"auto_register\": true}");
	pump(w);
	expect_state(w, id, ROAM_REGISTERING);
	assert_true(w->env.n_sent > 0);
	for (size_t i = 0; i < w->n_ev; i++)
		if (strncmp(w->ev[i], "alr.error", 9) == 0)
			fail_msg("a server error named the IAP: %s", w->ev[i]);
	for (size_t i = 0; i < w->env.n_sent; i++)
		assert_string_equal(w->env.sent[i].ifname, "wlan0");
	expect_seen(w, "error 1 503 server");
}

static void test_roaming_controllers(void **state)
{
	static const char wifi_first[] =
		"[snap]\nid = 5\nname = mobile\nstable-time = 0\napproval-timeout = 1h\n\n"
		"[rule]\npriority = 10\nkind = wifi\n\n"
		"[rule]\npriority = 20\nkind = cellular\n";
	struct world *w = *state;
	char msg[ROAM_MESSAGE_MAX];
	unsigned int id;

	use_snaps(w, (const char *const[]){ wifi_first, NULL });

	/* Wi-Fi without carrier: registered over cellular. */
	w->wlan.flags = IFF_UP;
	iap_table_link_changed(w->iaps, &w->wlan);
	id = create(w, ALICE ", \"snap_id\": 5, \"auto_register\": true}");
	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	expect_seen(w, "registered 1 iap=2");

	/* Requests: unknown profile, no offer, not a controller. */
	assert_int_equal(registry_alr(w->r, REGISTRY_ALR_CONTROL, 99, 0, 7, msg, sizeof(msg)),
			 -ENOENT);
	assert_int_equal(registry_alr(w->r, REGISTRY_ALR_CONTROL, id, 0, 7, msg, sizeof(msg)), 0);
	assert_true(registry_alr_is_controller(w->r, id, 7));
	assert_int_equal(registry_alr(w->r, REGISTRY_ALR_ALLOW, id, 1, 7, msg, sizeof(msg)),
			 -EINVAL);
	assert_int_equal(registry_alr(w->r, REGISTRY_ALR_ALLOW, id, 1, 8, msg, sizeof(msg)),
			 -EPERM);

	/* Wi-Fi back: offered to the controller, nothing moves. */
	w->n_ev = 0;
	w->wlan.flags = UP_RUNNING;
	iap_table_link_changed(w->iaps, &w->wlan);
	pump(w);
	expect_seen(w, "alr.iap-available 1 iap=1 to=C");
	assert_int_equal(registry_alr(w->r, REGISTRY_ALR_ALLOW, id, 2, 7, msg, sizeof(msg)),
			 -EINVAL);

	/* Disallowed: stays over cellular. */
	assert_int_equal(registry_alr(w->r, REGISTRY_ALR_DISALLOW, id, 1, 7, msg, sizeof(msg)), 0);
	pump(w);
	expect_seen(w, "alr.error 1 access-denied iap=1 to=C");
	expect_state(w, id, ROAM_REGISTERED);
	assert_int_equal(registrar_count(&w->env, AOR_ALICE), 1);
	assert_non_null(strstr(registrar_get(&w->env, AOR_ALICE)->uri, "10.99.2.2"));

	/* A refresh offers it again; allowed: the binding moves, the old
	 * contact goes. */
	w->n_ev = 0;
	assert_int_equal(registry_alr(w->r, REGISTRY_ALR_REFRESH, id, 0, 7, msg, sizeof(msg)), 0);
	pump(w);
	expect_seen(w, "alr.iap-available 1 iap=1 to=C");
	assert_int_equal(registry_alr(w->r, REGISTRY_ALR_ALLOW, id, 1, 7, msg, sizeof(msg)), 0);
	expect_seen(w, "alr.migration-started 1 2->1 to=CO");
	assert_string_equal(last_sent(w)->ifname, "wlan0");
	pump(w);
	expect_seen(w, "alr.migration-completed 1 2->1 to=CO");
	/* One event for the edge: profile.updated (its IAP changed,
	 * DESIGN §3.3), no second profile.registered. */
	expect_seen(w, "updated 1");
	assert_false(seen(w, "registered 1 iap=1"));
	expect_state(w, id, ROAM_REGISTERED);
	assert_int_equal(registrar_count(&w->env, AOR_ALICE), 1);
	assert_non_null(strstr(registrar_get(&w->env, AOR_ALICE)->uri, "10.99.1.2"));

	/* A client that goes away controls nothing. */
	registry_alr_client_gone(w->r, 7);
	assert_false(registry_alr_is_controller(w->r, id, 7));
	assert_int_equal(registry_alr(w->r, REGISTRY_ALR_RELEASE, id, 0, 7, msg, sizeof(msg)),
			 -EPERM);
}

/* The last REGISTER sent from @mark on that removes a contact. */
static const struct fsent *last_removal(const struct world *w, size_t mark)
{
	const struct fsent *found = NULL;

	for (size_t i = mark; i < w->env.n_sent; i++) {
		osip_contact_t *c = NULL;
		const char *exp;

		if (osip_message_get_contact(w->env.sent[i].msg, 0, &c) < 0 || !c)
			continue;
		exp = cparam(c, "expires");
		if (exp && strcmp(exp, "0") == 0)
			found = &w->env.sent[i];
	}
	return found;
}

/* A registrar that keeps both contacts of a move (one binding per URI, as
 * with RFC 5626 reg-ids): after a make-before-break migration the old
 * contact is removed over the old IAP while that is up (DESIGN §3.3);
 * after a failover, over the new one. */
static void test_old_contact_removed_over_old_iap(void **state)
{
	static const char wifi_first[] =
		"[snap]\nid = 5\nname = mobile\nstable-time = 0\n\n"
		"[rule]\npriority = 10\nkind = wifi\n\n"
		"[rule]\npriority = 20\nkind = cellular\n";
	struct world *w = *state;
	const struct fsent *removal = NULL;
	unsigned int id;
	size_t mark;

	w->env.per_uri = true;
	use_snaps(w, (const char *const[]){ wifi_first, NULL });

	w->wlan.flags = IFF_UP;
	iap_table_link_changed(w->iaps, &w->wlan);
	id = create(w, ALICE ", \"snap_id\": 5, \"auto_register\": true}");
	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	assert_int_equal(registrar_count(&w->env, AOR_ALICE), 1);

	/* Wi-Fi back, no controllers: migrates at once. */
	w->n_ev = 0;
	mark = w->env.n_sent;
	w->wlan.flags = UP_RUNNING;
	iap_table_link_changed(w->iaps, &w->wlan);
	pump(w);
	expect_seen(w, "alr.migration-completed 1 2->1 to=CO");
	expect_state(w, id, ROAM_REGISTERED);
	removal = last_removal(w, mark);
	assert_non_null(removal);
	assert_string_equal(removal->ifname, "wwan0");
	assert_int_equal(registrar_count(&w->env, AOR_ALICE), 1);
	assert_non_null(strstr(registrar_get(&w->env, AOR_ALICE)->uri, "10.99.1.2"));

	/* Wi-Fi lost: the failover registers over cellular and the Wi-Fi
	 * contact goes over cellular (its own IAP is down). */
	mark = w->env.n_sent;
	w->wlan.flags = IFF_UP;
	iap_table_link_changed(w->iaps, &w->wlan);
	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	removal = last_removal(w, mark);
	assert_non_null(removal);
	assert_string_equal(removal->ifname, "wwan0");
	assert_int_equal(registrar_count(&w->env, AOR_ALICE), 1);
	assert_non_null(strstr(registrar_get(&w->env, AOR_ALICE)->uri, "10.99.2.2"));
}

/* A new SNAP while the profile waits for an IAP reaches the engine at
 * once: it registers over the new SNAP's IAP without anything else
 * happening. */
static void test_snap_change_while_waiting(void **state)
{
	static const char wifi_only[] =
		"[snap]\nid = 7\nname = wifionly\n\n[rule]\npriority = 10\nkind = wifi\n";
	static const char cell_only[] =
		"[snap]\nid = 8\nname = cellonly\n\n[rule]\npriority = 10\nkind = cellular\n";
	struct world *w = *state;
	unsigned int id;

	use_snaps(w, (const char *const[]){ wifi_only, cell_only, NULL });

	w->wlan.flags = IFF_UP;
	iap_table_link_changed(w->iaps, &w->wlan);
	id = create(w, ALICE ", \"snap_id\": 7, \"auto_register\": true}");
	pump(w);
	expect_state(w, id, ROAM_WAIT_FOR_IAP);
	assert_int_equal(w->env.n_sent, 0);
	update(w, id, "{\"snap_id\": 8}");
	pump(w);
	expect_state(w, id, ROAM_REGISTERED);
	assert_string_equal(last_sent(w)->ifname, "wwan0");
	assert_int_equal(registrar_count(&w->env, AOR_ALICE), 1);
}

/* Binding outcomes that arrive while the profile is held are all
 * handled, however many: here 20 removals of contacts left by an earlier
 * run fail at once (no transport) inside one cleanup.  Each is tried
 * again at the next chance and, the transport back, removed: none is
 * forgotten as "pending" (issue 12: the 16-slot queue dropped the
 * oldest). */
static void test_many_outcomes_while_held(void **state)
{
	struct world *w = *state;
	unsigned int b = create(w, "{\"aor\": \"sip:bob@example.test\", \"registrar\": "
				   "{\"uri\": \"sip:10.99.100.1\"}}");
	struct store_contact *rows;
	size_t n;

	w->r = registry_free(w->r);
	for (int i = 0; i < 20; i++) {
		char uri[64];
		struct store_contact c = {
			.profile_id = b, .iap_id = 1, .contact = uri, .call_id = "old-call",
			.cseq = 1, .expires_at = time(NULL) + 3600,
		};

		snprintf(uri, sizeof(uri), "sip:old%d@10.99.1.2:5060", i);
		assert_int_equal(store_contact_upsert(w->store, &c), 0);
	}
	w->env.transport_error = -ENETUNREACH;
	registry_up(w);
	assert_int_equal(w->env.n_sent, 0);
	assert_int_equal(store_contact_list(w->store, b, &rows, &n), 0);
	assert_int_equal(n, 20);
	store_contacts_free(rows, n);

	/* The transport is back: the next chance (a registration) removes
	 * every one of them. */
	w->env.transport_error = 0;
	assert_int_equal(registry_enable(w->r, b, 1), 0);
	pump(w);
	expect_state(w, b, ROAM_REGISTERED);
	assert_int_equal(registrar_count(&w->env, "sip:bob@example.test"), 1);
	assert_int_equal(store_contact_list(w->store, b, &rows, &n), 0);
	if (n != 1) {
		for (size_t i = 0; i < n; i++)
			print_message("  left: %s\n", rows[i].contact);
		fail_msg("%zu contacts stored, expected only the registered one", n);
	}
	assert_null(strstr(rows[0].contact, "sip:old"));
	store_contacts_free(rows, n);
}

/* The registrar never answers @s: Timer F fires (RFC 3261 §17.1.2.2). */
static void time_out(struct world *w, struct fsent *s)
{
	s->done = true;
	binding_handle_request_failed(s->port->b, s->id, -ETIMEDOUT);
	for (int i = 0; i < 4; i++)
		ev_run(w->loop, EVRUN_NOWAIT);
}

/* The one request out and not answered. */
static struct fsent *outstanding(struct world *w)
{
	struct fsent *found = NULL;

	for (size_t i = 0; i < w->env.n_sent; i++) {
		struct fsent *s = &w->env.sent[i];

		if (!s->done && !s->cancelled && !s->port->dead) {
			assert_null(found);
			found = s;
		}
	}
	assert_non_null(found);
	return found;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The contacts a request removes (expires=0), sorted, "; " between. */
static void removed_by(const struct fsent *s, char *buf, size_t size)
{
	char *v[8];
	size_t n = 0, off = 0;

	for (int k = 0; k < osip_list_size(&s->msg->contacts); k++) {
		osip_contact_t *c = NULL;
		const char *exp;

		osip_message_get_contact(s->msg, k, &c);
		exp = cparam(c, "expires");
		if (exp && strcmp(exp, "0") == 0 && n < 8)
			v[n++] = uri_str(c->url);
	}
	qsort(v, n, sizeof(v[0]), cmp_str);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? "; " : "", v[i]);
		free(v[i]);
	}
}

/* The store's contacts of @id, sorted, "; " between. */
static void stored(struct world *w, unsigned int id, char *buf, size_t size)
{
	struct store_contact *rows;
	char *v[8];
	size_t n, off = 0;

	assert_int_equal(store_contact_list(w->store, id, &rows, &n), 0);
	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++)
		v[i] = rows[i].contact;
	qsort(v, n, sizeof(v[0]), cmp_str);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? "; " : "", v[i]);
	store_contacts_free(rows, n);
}

/* One contact list: the de-REGISTER names exactly the contacts the
 * profile's list records (the store's rows), here the one registered now
 * and one an earlier run left whose removals timed out.  With a second
 * list in the binding (what it registered itself), the de-REGISTER named
 * only the current contact and the old one stayed at the registrar. */
static void test_deregister_covers_the_list(void **state)
{
	static const char old[] = "sip:old@10.99.2.2:5070";
	struct world *w = *state;
	unsigned int b = create(w, "{\"aor\": \"sip:bob@example.test\", \"registrar\": "
				   "{\"uri\": \"sip:10.99.100.1\"}}");
	struct store_contact row = {
		.profile_id = b, .iap_id = 2, .contact = (char *)old, .call_id = "old-call",
		.cseq = 1, .expires_at = time(NULL) + 3600,
	};
	struct fbind *at = &w->env.reg[w->env.n_reg++];
	struct fsent *s;
	char want[600], got[600];

	/* An earlier run registered old over cellular and crashed. */
	w->r = registry_free(w->r);
	assert_int_equal(store_contact_upsert(w->store, &row), 0);
	*at = (struct fbind){ .cseq = 1, .expires = 3600 };
	snprintf(at->aor, sizeof(at->aor), "sip:bob@example.test");
	snprintf(at->uri, sizeof(at->uri), "%s", old);
	snprintf(at->call_id, sizeof(at->call_id), "old-call");

	/* A lossy path: its removals time out, at start and before the
	 * registration; the REGISTER gets through. */
	w->env.answer = 0;
	registry_up(w);
	s = outstanding(w);
	removed_by(s, got, sizeof(got));
	assert_string_equal(got, old);
	time_out(w, s);
	assert_int_equal(registry_enable(w->r, b, 1), 0);
	pump(w);
	s = outstanding(w);
	removed_by(s, got, sizeof(got));
	assert_string_equal(got, old);
	time_out(w, s);
	s = outstanding(w);
	assert_string_equal(header(s->msg, "expires"), "3600");
	answer(&w->env, s, 200);
	pump(w);
	expect_state(w, b, ROAM_REGISTERED);
	assert_int_equal(registrar_count(&w->env, "sip:bob@example.test"), 2);
	/* registered: old's removal goes out again, and is lost too */
	s = outstanding(w);
	removed_by(s, got, sizeof(got));
	assert_string_equal(got, old);

	/* Stopped: the de-REGISTER (after that removal's outcome) names
	 * every contact of the list, which are the store's rows. */
	assert_int_equal(registry_disable(w->r, b, 1), 0);
	pump(w);
	time_out(w, s);
	s = outstanding(w);
	assert_string_equal(header(s->msg, "expires"), "0");
	stored(w, b, want, sizeof(want));
	assert_non_null(strstr(want, old));
	assert_non_null(strchr(want, ';'));     /* and the current one */
	removed_by(s, got, sizeof(got));
	assert_string_equal(got, want);
	answer(&w->env, s, 200);
	stored(w, b, got, sizeof(got));
	assert_string_equal(got, "");
	w->env.answer = 200;
	pump(w);
	expect_state(w, b, ROAM_UNREGISTERED);
	assert_int_equal(registrar_count(&w->env, "sip:bob@example.test"), 0);
	stored(w, b, got, sizeof(got));
	assert_string_equal(got, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_auto_profile_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failover_and_wait_for_iap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_updates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plugin_classify_and_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_permanent_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_cleanup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_plugin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validation_and_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_profiles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_error_keeps_the_iap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roaming_controllers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_contact_removed_over_old_iap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_snap_change_while_waiting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_outcomes_while_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deregister_covers_the_list, setup, teardown),
	};

	log_open("test-registry", LOG_TARGET_STDERR, true);
	log_set_level(getenv("ALR_TEST_DEBUG") ? LOG_DEBUG : LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
