/* The profile registry: profiles in memory, their registration machine,
 * the plugins' host side, restart cleanup, backup and restore (see
 * registry.h).
 *
 * XXX Over 1,200 lines because it still holds a second machine and the
 * engine's adapter; issue 12 #2/#3 fold and split it (docs/roaming.md,
 * "One profile, one machine", "Left").  The contacts are alr/contacts.c.
 *
 * Ordering rule.  Binding calls (start, move, stop, remove) can report
 * back synchronously, from inside the call.  Every path that calls one
 * holds the profile (hold()/release()): binding events that arrive
 * meanwhile are queued and handled when the outermost hold is released,
 * so a transition never runs inside another one, and each logs and
 * notifies in the order it happened.
 *
 * Deletions and the end of a restore or shutdown run from an ev_idle
 * ("housekeeping"), never from inside a binding or IAP callback, so no
 * caller up the stack holds a profile that goes away. */
#include "alr/registry.h"
#include "alr/secret.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <ev.h>
#include <net/if.h>
#include <openssl/evp.h>
#include <osipparser2/osip_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alr/contacts.h"
#include "alr/iap_table.h"
#include "alr/plugin_loader.h"
#include "alr/profile_agent.h"
#include "alr/roam.h"
#include "alr/snap.h"
#include "base/log.h"
#include "base/util.h"
#include "base/watchlist.h"
#include "policy/policy.h"
#include "sip/binding.h"
#include "sip/sipmsg.h"
#include "store/store.h"

#define STOP_TIMEOUT_DEFAULT    2.0
#define MAX_USERS               1024

_Static_assert((int)PROFILE_CLASS_IETF == (int)ALR_PROFILE_CLASS_IETF &&
	       (int)PROFILE_CLASS_IMS == (int)ALR_PROFILE_CLASS_IMS &&
	       (int)PROFILE_CLASS_OTHER == (int)ALR_PROFILE_CLASS_OTHER,
	       "profile classes and plugin classes agree");
_Static_assert((int)PROFILE_PARAM_INT == (int)ALR_PARAM_INT &&
	       (int)PROFILE_PARAM_BOOL == (int)ALR_PARAM_BOOL &&
	       (int)PROFILE_PARAM_STRING == (int)ALR_PARAM_STRING &&
	       (int)PROFILE_PARAM_STRING_LIST == (int)ALR_PARAM_STRING_LIST,
	       "parameter types agree");

static const char *const state_names[_REGISTRY_STATE_MAX] = {
	[REGISTRY_UNREGISTERED] = "UNREGISTERED",
	[REGISTRY_WAIT_FOR_IAP] = "WAIT_FOR_IAP",
	[REGISTRY_REGISTERING] = "REGISTERING",
	[REGISTRY_REGISTERED] = "REGISTERED",
	[REGISTRY_UNREGISTERING] = "UNREGISTERING",
};

static const char *const registration_names[_REGISTRY_STATE_MAX] = {
	[REGISTRY_UNREGISTERED] = "unregistered",
	[REGISTRY_WAIT_FOR_IAP] = "registering",
	[REGISTRY_REGISTERING] = "registering",
	[REGISTRY_REGISTERED] = "registered",
	[REGISTRY_UNREGISTERING] = "unregistering",
};

static const char *const phase_names[_REGISTRY_STATE_MAX] = {
	[REGISTRY_UNREGISTERED] = "unregistered",
	[REGISTRY_WAIT_FOR_IAP] = "wait-for-iap",
	[REGISTRY_REGISTERING] = "registering",
	[REGISTRY_REGISTERED] = "registered",
	[REGISTRY_UNREGISTERING] = "unregistering",
};

static const char *const reason_names[_REGISTRY_REASON_MAX] = {
	[REGISTRY_REASON_DISABLED] = "disabled",
	[REGISTRY_REASON_NETWORK_LOST] = "network-lost",
	[REGISTRY_REASON_DELETED] = "deleted",
	[REGISTRY_REASON_FORCED] = "forced",
	[REGISTRY_REASON_ERROR] = "error",
	[REGISTRY_REASON_UPDATE] = "update",
	[REGISTRY_REASON_RESTORE] = "restore",
	[REGISTRY_REASON_SHUTDOWN] = "shutdown",
	[REGISTRY_REASON_MIGRATION] = "migration",
};

static const char *const event_names[_REGISTRY_EVENT_MAX] = {
	[REGISTRY_EVENT_CREATED] = "profile.created",
	[REGISTRY_EVENT_UPDATED] = "profile.updated",
	[REGISTRY_EVENT_DESTROYED] = "profile.destroyed",
	[REGISTRY_EVENT_REGISTERED] = "profile.registered",
	[REGISTRY_EVENT_DEREGISTERED] = "profile.deregistered",
	[REGISTRY_EVENT_FORCIBLY_DISABLED] = "profile.forcibly-disabled",
	[REGISTRY_EVENT_ERROR] = "profile.error",
};

const char *registry_state_to_str(enum registry_state s)
{
	return (unsigned)s < _REGISTRY_STATE_MAX ? state_names[s] : "?";
}

const char *registry_state_to_registration(enum registry_state s)
{
	return (unsigned)s < _REGISTRY_STATE_MAX ? registration_names[s] : "?";
}

const char *registry_state_to_phase(enum registry_state s)
{
	return (unsigned)s < _REGISTRY_STATE_MAX ? phase_names[s] : "?";
}

const char *registry_reason_to_str(enum registry_reason r)
{
	return (unsigned)r < _REGISTRY_REASON_MAX ? reason_names[r] : "?";
}

const char *registry_event_to_str(enum registry_event_type t)
{
	return (unsigned)t < _REGISTRY_EVENT_MAX ? event_names[t] : "profile.unknown";
}

/* ---- objects ------------------------------------------------------------ */

struct reg_profile;

/* The plugin's handle on a profile (include/alr/plugin.h). */
struct alr_plugin_reg {
	struct reg_profile *rp;
	void *data;
	void (*destroy)(void *);
	void **scratch;
	size_t n_scratch;
};

/* What plugins read of a SIP message (XXX only what binding events carry). */
struct alr_sip_message {
	int status;
	const char *method;
	const char *contact;
	char expires[16];
};

/* A binding event, copied: handled when the profile is not held. */
struct bevent {
	unsigned int binding_id;
	enum binding_event_type type;
	enum binding_state old_state, new_state;
	enum binding_error error;
	int code;
	char reason[SIPMSG_REASON_MAX + 1];
	char contact[SIPMSG_URI_MAX + 1];
	unsigned int expires;
};

enum barrier_kind {
	BARRIER_NONE,
	BARRIER_RESTORE,
	BARRIER_SHUTDOWN,
};

struct reg_profile {
	struct registry *r;
	struct profile *p;
	enum registry_state state;
	const struct alr_plugin *plugin;        /* NULL: none serves the type */
	struct alr_plugin_reg handle;
	char contact_user[48];
	char instance[64];

	uint64_t *users;
	size_t n_users;
	bool suspended;                 /* force-disabled */
	bool failed;                    /* permanent error: wait for a change */
	bool announced;                 /* profile.registered sent */
	bool deleting;
	bool restart_after_stop;        /* a major update: a new binding next */
	bool missing_reported;          /* profile.error for a missing plugin sent */
	bool start_pending;             /* REGISTERING: start after the removals */
	enum registry_reason dereg_reason;      /* for the next profile.deregistered */
	registry_done_fn delete_done;
	void *delete_data;

	struct binding *binding;
	unsigned int binding_id;
	char *call_id;                  /* continue with these (persisted) */
	uint32_t cseq;

	unsigned int iap_id;            /* where the binding is (0: nowhere) */
	char ifname[IFNAMSIZ];
	char local[INET6_ADDRSTRLEN];
	char *contact;                  /* registered */
	unsigned int expires;

	/* Every contact alrd registered and has not seen removed, written
	 * through to the store; the stale ones (left by an earlier run, an
	 * older binding, another IAP) are removed with expires=0 when a
	 * path allows. */
	struct contacts contacts;

	bool has_error;
	int err_code;
	char err_kind[32];
	char err_message[256];

	ev_timer stop_timer;
	ev_timer roam_timer;            /* the engine's one timer for this profile */
	bool roam_enabled;              /* enabled in r->roam */
	struct roam_profile_config roam_cfg;    /* ... with this (name unset) */
	bool breaking;                  /* the break of break-before-make is out */
	bool removing_old;              /* the engine waits for roam_sip_old_removed() */
	int old_error;                  /* the first failed removal while removing_old */
	unsigned int hold;
	/* Binding events waiting for the hold to end: [q_head, q_head + q_n)
	 * of q_cap slots.  Grows; never drops one (a lost edge would put the
	 * registry and the binding out of step). */
	struct bevent *queue;
	size_t q_head, q_n, q_cap;
};

struct registry {
	struct ev_loop *loop;
	struct store *store;
	struct iap_table *iaps;
	struct plugin_loader *plugins;
	struct sip_stack *stack;
	const struct binding_ops *ops;
	void *ops_env;
	unsigned char *key;
	size_t key_len;
	double stop_timeout;
	unsigned int max_profiles;      /* 0: no limit */

	struct reg_profile **v;         /* by id */
	size_t n, cap;
	struct watchlist watches;
	unsigned int iap_watch;

	const struct policy_set *snaps;         /* borrowed: the daemon's SNAPs, or NULL */
	struct snap_iap_view *views;
	size_t n_views_cap;

	/* The roaming engine (alr/roam.h) picks each profile's IAP; the
	 * registry keeps the lifecycle (users, deregistration, stale
	 * contacts, plugins) and acts for it with the bindings. */
	struct roam *roam;
	struct policy_set *own_set;     /* the default SNAP alone, until registry_set_snaps() */
	unsigned int in_roam;           /* inside a roam_*() call: binding outcomes wait */
	bool roam_sync_pending;
	registry_roam_fn roam_fn;
	void *roam_data;

	ev_idle housekeeping;
	bool restoring;
	bool stopping;
	enum barrier_kind barrier;
	registry_done_fn barrier_done;
	void *barrier_data;
	char *restore_path;
};

static void reconcile(struct reg_profile *rp);
static void drain(struct reg_profile *rp);
static void handle_bevent(struct reg_profile *rp, const struct bevent *ev);
static void cleanup_stale(struct reg_profile *rp);
static void schedule_housekeeping(struct registry *r);
static void roam_sync(struct reg_profile *rp);
static void roam_enter(struct registry *r);
static void roam_leave(struct registry *r);
static void roam_report_registered(struct reg_profile *rp);
static void roam_report_old_removed(struct reg_profile *rp, int status, const char *reason)
{
	if (!rp->roam_enabled)
		return;
	roam_enter(rp->r);
	roam_sip_old_removed(rp->r->roam, rp->p->id, status, reason);
	roam_leave(rp->r);
}

static void roam_report_failed(struct reg_profile *rp, int status, const char *reason);
static void roam_report_deregistered(struct reg_profile *rp, int status, const char *reason);
static void roam_report_old_removed(struct reg_profile *rp, int status, const char *reason);

static void hold(struct reg_profile *rp)
{
	rp->hold++;
}

static void release(struct reg_profile *rp)
{
	if (--rp->hold == 0)
		drain(rp);
}

static const char *pname(const struct reg_profile *rp)
{
	const char *aor = rp->p->aor ? rp->p->aor : "?";

	return strncasecmp(aor, "sip:", 4) == 0 ? aor + 4 :
	       strncasecmp(aor, "sips:", 5) == 0 ? aor + 5 : aor;
}

static void emit(struct registry *r, const struct registry_event *ev)
{
	WATCHLIST_NOTIFY(&r->watches, registry_event_fn, ev);
}

static void emit_simple(struct reg_profile *rp, enum registry_event_type type)
{
	struct registry_event ev = { .type = type, .id = rp->p->id };

	emit(rp->r, &ev);
}

/* Remember the last error and tell observers (profile.error). */
static void set_error(struct reg_profile *rp, int code, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void set_error(struct reg_profile *rp, int code, const char *kind, const char *fmt, ...)
{
	struct registry_event ev = { .type = REGISTRY_EVENT_ERROR, .id = rp->p->id };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rp->err_message, sizeof(rp->err_message), fmt, ap);
	va_end(ap);
	util_strlcpy(rp->err_kind, kind, sizeof(rp->err_kind));
	rp->err_code = code;
	rp->has_error = true;
	ev.code = code;
	ev.kind = rp->err_kind;
	ev.message = rp->err_message;
	emit(rp->r, &ev);
}

/* ---- the plugin host ---------------------------------------------------- */

static void *host_scratch(struct alr_plugin_reg *reg, size_t size)
{
	void **v, *p;

	if (!reg || size > 1024 * 1024)
		return NULL;
	v = realloc(reg->scratch, (reg->n_scratch + 1) * sizeof(*v));
	if (!v)
		return NULL;
	reg->scratch = v;
	p = calloc(1, size ? size : 1);
	if (!p)
		return NULL;
	reg->scratch[reg->n_scratch++] = p;
	return p;
}

static void scratch_release(struct alr_plugin_reg *reg)
{
	for (size_t i = 0; i < reg->n_scratch; i++)
		free(reg->scratch[i]);
	free(reg->scratch);
	reg->scratch = NULL;
	reg->n_scratch = 0;
}

static void *host_get_data(struct alr_plugin_reg *reg)
{
	return reg ? reg->data : NULL;
}

static void host_set_data(struct alr_plugin_reg *reg, void *data, void (*destroy)(void *))
{
	void *old;
	void (*old_destroy)(void *);

	if (!reg)
		return;
	old = reg->data;
	old_destroy = reg->destroy;
	reg->data = data;
	reg->destroy = destroy;
	if (old && old != data && old_destroy)
		old_destroy(old);
}

static int host_message_status(const struct alr_sip_message *msg)
{
	return msg ? msg->status : 0;
}

static const char *host_message_method(const struct alr_sip_message *msg)
{
	return msg ? msg->method : NULL;
}

static const char *host_message_header(const struct alr_sip_message *msg, const char *name,
				       size_t i)
{
	if (!msg || !name || i > 0)
		return NULL;
	if ((strcasecmp(name, "Contact") == 0 || strcasecmp(name, "m") == 0) && msg->contact)
		return msg->contact;
	if (strcasecmp(name, "Expires") == 0 && msg->expires[0])
		return msg->expires;
	return NULL;
}

static int host_set_registered_aors(struct alr_plugin_reg *reg, const char *const *aors, size_t n)
{
	if (!reg || !reg->rp || (n && !aors) || n > PROFILE_MAX_LIST)
		return -EINVAL;
	return profile_set_registered(reg->rp->p, aors, n, reg->rp->contact);
}

static void host_report_error(struct alr_plugin_reg *reg, int code, const char *message)
{
	if (!reg || !reg->rp)
		return;
	set_error(reg->rp, code, "plugin", "%s", message ? message : "plugin error");
}

static const struct alr_plugin_host plugin_host = {
	.api_version = ALR_PLUGIN_API_VERSION,
	.log = plugin_loader_host_log,
	.scratch = host_scratch,
	.get_data = host_get_data,
	.set_data = host_set_data,
	.message_status = host_message_status,
	.message_method = host_message_method,
	.message_header = host_message_header,
	.set_registered_aors = host_set_registered_aors,
	.report_error = host_report_error,
};

const struct alr_plugin_host *registry_plugin_host(void)
{
	return &plugin_host;
}

/* ---- validation against the running daemon ------------------------------ */

static int ctx_lookup_type(void *ud, enum profile_class cls, const char *type_name,
			   unsigned int *ret_flags)
{
	struct registry *r = ud;
	const struct alr_plugin *pl = plugin_loader_find(r->plugins, (int)cls, type_name);
	unsigned int f = 0;

	if (!pl)
		return -ENOENT;
	if (pl->capabilities & ALR_PLUGIN_NEEDS_REGISTRAR)
		f |= PROFILE_TYPE_NEEDS_REGISTRAR;
	if (pl->capabilities & ALR_PLUGIN_NEEDS_PRIVATE_IDENTITY)
		f |= PROFILE_TYPE_NEEDS_PRIVATE_IDENTITY;
	if (pl->capabilities & ALR_PLUGIN_CAN_SIGCOMP)
		f |= PROFILE_TYPE_SIGCOMP;
	if (pl->capabilities & ALR_PLUGIN_CAN_SECURITY_AGREEMENT)
		f |= PROFILE_TYPE_SECURITY_NEGOTIATION;
	*ret_flags = f;
	return 0;
}

static int ctx_plugin_validate(void *ud, const struct profile *p, struct profile_error *e)
{
	struct registry *r = ud;
	const struct alr_plugin *pl = plugin_loader_find(r->plugins, (int)p->type_class,
							 p->type_name);
	struct alr_plugin_error pe = { "", "" };
	struct profile_agent_info in;
	int ret;

	if (!pl || !pl->validate)
		return 0;
	ret = profile_agent_info_build(&in, p);
	if (ret == 0) {
		plugin_loader_call_begin(pl);
		ret = pl->validate(&in.info, &pe);
		plugin_loader_call_end();
	}
	profile_agent_info_free(&in);
	if (ret >= 0)
		return 0;
	if (e) {
		pe.field[sizeof(pe.field) - 1] = '\0';
		pe.reason[sizeof(pe.reason) - 1] = '\0';
		util_strlcpy(e->field, pe.field[0] ? pe.field : "profile", sizeof(e->field));
		util_strlcpy(e->reason, pe.reason[0] ? pe.reason : "refused by the plugin",
			     sizeof(e->reason));
	}
	return -EINVAL;
}

/* The built-in default SNAP (0), and every SNAP the daemon loaded. */
static bool ctx_snap_exists(void *ud, unsigned int snap_id)
{
	struct registry *r = ud;

	if (snap_id == POLICY_DEFAULT_ID)
		return true;
	return r->snaps && policy_set_find_by_id(r->snaps, snap_id) != NULL;
}

static bool ctx_iap_exists(void *ud, unsigned int iap_id)
{
	struct registry *r = ud;

	return iap_table_find_by_id(r->iaps, iap_id) != NULL;
}

static struct profile_validate_ctx validate_ctx(struct registry *r)
{
	return (struct profile_validate_ctx){
		.lookup_type = ctx_lookup_type,
		.plugin_validate = ctx_plugin_validate,
		.snap_exists = ctx_snap_exists,
		.iap_exists = ctx_iap_exists,
		.userdata = r,
	};
}

/* ---- profiles: identity, lookup ----------------------------------------- */

/*
 * The stable contact user part and +sip.instance (RFC 5626 §4.1) of a
 * profile: SHA-256 over the per-install key and the profile id.  Stable
 * across restarts, a restore of the same database, and IAP changes; a
 * registrar that keys bindings on the instance replaces our old contact
 * with the new one (docs/sip.md, Kamailio behaviours).
 */
static void derive_identity(struct reg_profile *rp)
{
	const struct registry *r = rp->r;
	unsigned char buf[256], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t n = 0;
	uint32_t id = rp->p->id;

	if (r->key_len && r->key_len <= 200) {
		memcpy(buf, r->key, r->key_len);
		n = r->key_len;
	}
	memcpy(buf + n, "alrd-profile", 12);
	n += 12;
	for (int i = 0; i < 4; i++)
		buf[n++] = (unsigned char)(id >> (8 * i));
	if (EVP_Digest(buf, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 32) {
		/* Cannot happen with OpenSSL's built-in SHA-256; stay stable
		 * per id all the same. */
		memset(md, 0, sizeof(md));
		for (int i = 0; i < 4; i++)
			md[i] = (unsigned char)(id >> (8 * i));
	}
	snprintf(rp->contact_user, sizeof(rp->contact_user), "alrd%u-%02x%02x%02x%02x%02x",
		 id, md[0], md[1], md[2], md[3], md[4]);
	/* RFC 9562 §5.8: a version 8 (custom) UUID from the hash. */
	md[22] = (unsigned char)((md[22] & 0x0f) | 0x80);
	md[24] = (unsigned char)((md[24] & 0x3f) | 0x80);
	snprintf(rp->instance, sizeof(rp->instance),
		 "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 md[16], md[17], md[18], md[19], md[20], md[21], md[22], md[23],
		 md[24], md[25], md[26], md[27], md[28], md[29], md[30], md[31]);
}

static struct reg_profile *find(const struct registry *r, unsigned int id)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->v[mid]->p->id == id)
			return r->v[mid];
		if (r->v[mid]->p->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int list_insert(struct registry *r, struct reg_profile *rp)
{
	size_t i;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct reg_profile **v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	for (i = r->n; i > 0 && r->v[i - 1]->p->id > rp->p->id; i--)
		r->v[i] = r->v[i - 1];
	r->v[i] = rp;
	r->n++;
	return 0;
}

static void list_remove(struct registry *r, struct reg_profile *rp)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i] == rp) {
			memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof(*r->v));
			r->n--;
			return;
		}
}

/* ---- the IAP seam ------------------------------------------------------- */

/* Family of the first hop (outbound proxy, else registrar) when it is an
 * IP literal, else AF_UNSPEC. */
static int dest_family(const struct profile *p)
{
	struct sipmsg_target t;
	const char *uri = p->outbound_proxy.uri ? p->outbound_proxy.uri : p->registrar.uri;

	if (!uri || sipmsg_target_parse(uri, &t) < 0)
		return AF_UNSPEC;
	return t.literal_family;
}

/* A usable address of @iap: of @family when given, else IPv4 first. */
static bool pick_local(const struct iap *iap, int family, char *buf, size_t size)
{
	int order[2] = { AF_INET, AF_INET6 };

	if (family == AF_INET6) {
		order[0] = AF_INET6;
		order[1] = AF_UNSPEC;
	} else if (family == AF_INET) {
		order[1] = AF_UNSPEC;
	}
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < iap->n_addrs; i++)
			if (iap->addrs[i].family == order[k] && iap_addr_usable(&iap->addrs[i])) {
				util_strlcpy(buf, iap->addrs[i].local, size);
				return true;
			}
	return false;
}

static bool has_local(const struct iap *iap, const char *local)
{
	for (size_t i = 0; i < iap->n_addrs; i++)
		if (strcmp(iap->addrs[i].local, local) == 0 && iap_addr_usable(&iap->addrs[i]))
			return true;
	return false;
}

/* Every IAP now, as the SNAP rules see it (r->views). */
static int build_views(struct registry *r, size_t *ret_n)
{
	size_t n = iap_table_count(r->iaps);

	if (n > r->n_views_cap) {
		struct snap_iap_view *v = realloc(r->views, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->views = v;
		r->n_views_cap = n;
	}
	for (size_t i = 0; i < n; i++) {
		const struct iap *iap = iap_table_at(r->iaps, i);

		r->views[i] = (struct snap_iap_view){
			.id = iap->id,
			.kind = iap->kind,
			.available = iap_available(iap),
			.ifname = iap->ifname,
			.conn_id = iap->nm ? iap->nm->id : NULL,
			.conn_uuid = iap->nm ? iap->nm->uuid : NULL,
			.ssid = iap->nm ? iap->nm->ssid : NULL,
			.metered = !iap->nm ? SNAP_METERED_UNKNOWN :
				   iap->nm->metered ? SNAP_METERED_YES : SNAP_METERED_NO,
			.strength = iap->nm ? iap->nm->strength : -1,
		};
	}
	*ret_n = n;
	return 0;
}

const struct snap_iap_view *registry_iap_views(struct registry *r, size_t *ret_n)
{
	if (build_views(r, ret_n) < 0)
		return NULL;
	return r->views;
}

const struct snap_ranking *registry_snap_ranking(struct registry *r, unsigned int snap_id)
{
	return roam_snap_ranking(r->roam, snap_id);
}

static void roam_config_of(const struct reg_profile *rp, struct roam_profile_config *ret);

/* Any available IAP with an address, for removing contacts: the best the
 * engine would register the profile over (the one IAP chooser, its
 * ranking), else any. */
static const struct iap *any_iap(struct reg_profile *rp)
{
	struct registry *r = rp->r;
	const struct profile *p = rp->p;
	struct roam_profile_config cfg;
	char local[INET6_ADDRSTRLEN];
	const struct iap *iap;
	unsigned int id;
	size_t k = 0;

	roam_config_of(rp, &cfg);
	while ((id = roam_next_candidate(r->roam, &cfg, &k)) != ROAM_IAP_NONE) {
		iap = iap_table_find_by_id(r->iaps, id);
		if (iap && iap_available(iap) && pick_local(iap, dest_family(p), local, sizeof(local)))
			return iap;
	}
	for (size_t i = 0; i < iap_table_count(r->iaps); i++) {
		iap = iap_table_at(r->iaps, i);
		if (iap_available(iap) && pick_local(iap, dest_family(p), local, sizeof(local)))
			return iap;
	}
	return NULL;
}

static unsigned int iap_id_of_ifname(struct registry *r, const char *ifname)
{
	for (size_t i = 0; ifname && i < iap_table_count(r->iaps); i++) {
		const struct iap *iap = iap_table_at(r->iaps, i);

		if (strcmp(iap->ifname, ifname) == 0)
			return iap->id;
	}
	return 0;
}

/* ---- contacts ----------------------------------------------------------- */

/* The binding's persistence hook: what is at the registrar, and the
 * Call-ID and CSeq a restarted alrd continues with. */
static void on_persist(struct binding *b, const struct binding_persist *pe, void *ud)
{
	struct reg_profile *rp = ud;

	if (pe->call_id && (!rp->call_id || strcmp(rp->call_id, pe->call_id) != 0)) {
		char *c = strdup(pe->call_id);

		if (c) {
			free(rp->call_id);
			rp->call_id = c;
		}
	}
	rp->cseq = pe->cseq;
	if (pe->contact) {
		if (pe->expires > 0) {
			if (contacts_registered(&rp->contacts,
						iap_id_of_ifname(rp->r, pe->ifname) ?: rp->iap_id,
						pe->contact, rp->call_id, rp->cseq,
						(int64_t)time(NULL) + pe->expires) < 0)
				log_warning("profile %u (%s): cannot record contact %s; it may "
					    "outlive a crash", rp->p->id, pname(rp), pe->contact);
		} else {
			contacts_unrecorded(&rp->contacts, pe->contact);
		}
		return;
	}
	/* Only the CSeq moved: every contact of this Call-ID follows, so
	 * that the next run starts above it. */
	contacts_set_cseq(&rp->contacts, rp->call_id, rp->cseq);
}

/* ---- bindings ----------------------------------------------------------- */

static void on_binding_event(struct binding *b, const struct binding_event *ev, void *ud)
{
	struct reg_profile *rp = ud;
	struct bevent *q;

	if (rp->q_head + rp->q_n == rp->q_cap) {
		if (rp->q_head > 0) {
			memmove(rp->queue, rp->queue + rp->q_head, rp->q_n * sizeof(*rp->queue));
			rp->q_head = 0;
		} else {
			size_t cap = rp->q_cap ? 2 * rp->q_cap : 8;
			struct bevent *v = reallocarray(rp->queue, cap, sizeof(*v));

			if (!v) {
				/* Out of memory: the binding's edge cannot be
				 * kept; say so loudly, the machines may disagree. */
				log_err("profile %u (%s): out of memory queueing a binding event",
					rp->p->id, pname(rp));
				return;
			}
			rp->queue = v;
			rp->q_cap = cap;
		}
	}
	q = &rp->queue[rp->q_head + rp->q_n];
	*q = (struct bevent){
		.binding_id = binding_get_id(b),
		.type = ev->type,
		.old_state = ev->old_state,
		.new_state = ev->new_state,
		.error = ev->error,
		.code = ev->code,
		.expires = ev->expires,
	};
	util_strlcpy(q->reason, ev->reason ? ev->reason : "", sizeof(q->reason));
	util_strlcpy(q->contact, ev->contact ? ev->contact : "", sizeof(q->contact));
	rp->q_n++;
	if (rp->hold == 0)
		drain(rp);
}

static void drain(struct reg_profile *rp)
{
	/* Inside a roam_*() call the outcomes wait: an op must not call
	 * back into the engine (roam_leave() drains). */
	while (rp->q_n && rp->hold == 0 && rp->r->in_roam == 0) {
		struct bevent ev = rp->queue[rp->q_head];

		rp->q_head = --rp->q_n ? rp->q_head + 1 : 0;
		hold(rp);
		handle_bevent(rp, &ev);
		rp->hold--;
	}
}

/* Stop using the binding: its contacts become stale (removed later), its
 * requests are forgotten. */
static void release_binding(struct reg_profile *rp)
{
	const char *uri, *ifname;

	if (!rp->binding)
		return;
	for (size_t i = 0; (uri = binding_get_known_contact(rp->binding, i, &ifname)); i++)
		contacts_mark_stale(&rp->contacts, uri,
				    iap_id_of_ifname(rp->r, ifname) ?: rp->iap_id);
	contacts_reset_pending(&rp->contacts);
	rp->binding = binding_free(rp->binding);
	rp->binding_id = 0;
}

/*
 * A binding shaped by the plugin (or, for removing old contacts of a
 * profile whose plugin is missing, with the profile's own values),
 * continuing rp->call_id and rp->cseq.  0, or a negative errno with the
 * profile's error set.
 */
static int make_binding(struct reg_profile *rp)
{
	struct registry *r = rp->r;
	const struct profile *p = rp->p;
	const struct alr_plugin *pl = rp->plugin;
	struct alr_registration reg;
	struct binding_config bc;
	struct digest_ha1 ha1;
	char *ha1_user = NULL;
	struct sipmsg_header *hdrs = NULL;
	char *registrar = NULL, *proxy = NULL, *raw = NULL;
	struct profile_agent_info in;
	int ret;

	ret = profile_agent_info_build(&in, p);
	if (ret < 0)
		goto out;
	if (p->registrar.uri)
		ret = profile_agent_uri_with_transport(p->registrar.uri, p->registrar.transport, &registrar);
	else {
		ret = profile_agent_registrar_of_aor(p->aor, &raw);
		if (ret == 0)
			ret = profile_agent_uri_with_transport(raw, p->registrar.transport, &registrar);
	}
	if (ret == 0 && p->outbound_proxy.uri)
		ret = profile_agent_uri_with_transport(p->outbound_proxy.uri, p->outbound_proxy.transport,
					 &proxy);
	if (ret < 0) {
		set_error(rp, 0, "config", "cannot make a Request-URI of the registrar");
		goto out;
	}
	reg = (struct alr_registration){
		.aor = p->aor,
		.registrar = registrar,
		.outbound_proxy = proxy,
		.instance = rp->instance,
		.expires = p->expires,
		.contact_params = in.info.contact_params,
		.n_contact_params = in.info.n_contact_params,
		.extra_headers = in.info.extra_headers,
		.n_extra_headers = in.info.n_extra_headers,
	};
	if (pl && pl->build_registration) {
		plugin_loader_call_begin(pl);
		ret = pl->build_registration(&in.info, &reg, &rp->handle);
		plugin_loader_call_end();
		if (ret < 0) {
			if (!rp->has_error || strcmp(rp->err_kind, "plugin") != 0)
				set_error(rp, 0, "plugin", "plugin %s cannot build the registration: %s",
					  pl->name, strerror(-ret));
			goto out;
		}
	}
	hdrs = calloc(reg.n_extra_headers ? reg.n_extra_headers : 1, sizeof(*hdrs));
	if (!hdrs) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < reg.n_extra_headers; i++)
		hdrs[i] = (struct sipmsg_header){ reg.extra_headers[i].name,
						  reg.extra_headers[i].value };
	bc = (struct binding_config){
		.aor = reg.aor,
		.registrar = reg.registrar,
		.outbound_proxy = reg.outbound_proxy,
		.username = p->registrar.digest_user ? p->registrar.digest_user :
			    p->private_identity,
		.realm = p->registrar.realm,
		.password = p->registrar.password && *p->registrar.password ?
			    p->registrar.password : NULL,
		.expires = reg.expires,
		.contact_user = rp->contact_user,
		.instance = reg.instance,
		.contact_params = reg.contact_params,
		.n_contact_params = reg.n_contact_params,
		.extra_headers = hdrs,
		.n_extra_headers = reg.n_extra_headers,
		.call_id = rp->call_id,
		.cseq = rp->cseq,
	};
	/* A sealed password (alr/secret.h): HA1, sent for the user it was
	 * made for. */
	if (!bc.password && p->registrar.ha1) {
		ret = secret_open(p->registrar.ha1, &ha1_user, &ha1);
		if (ret < 0) {
			set_error(rp, 0, "config", "the stored form of the registrar's password is "
				  "damaged; set the password again");
			goto out;
		}
		bc.ha1 = &ha1;
		bc.username = ha1_user;
	}
	errno = 0;
	rp->binding = r->ops ? binding_new_with_ops(r->ops, r->ops_env, &bc) :
			       binding_new(r->stack, &bc);
	if (!rp->binding) {
		ret = errno ? -errno : -ENOMEM;
		/* sip/ logged which part it refused; never the password. */
		set_error(rp, 0, "config", "the SIP engine refuses this profile's registration "
			  "(%s); see alrd's log", strerror(-ret));
		goto out;
	}
	rp->binding_id = binding_get_id(rp->binding);
	binding_add_observer(rp->binding, on_binding_event, rp, NULL);
	binding_set_persist(rp->binding, on_persist, rp);
	log_debug("profile %u (%s): binding %u for %s at %s, contact user %s", p->id, pname(rp),
		  rp->binding_id, reg.aor, reg.registrar, rp->contact_user);
	ret = 0;
out:
	OPENSSL_cleanse(&ha1, sizeof(ha1));
	free(ha1_user);
	scratch_release(&rp->handle);
	profile_agent_info_free(&in);
	free(hdrs);
	free(registrar);
	free(proxy);
	free(raw);
	return ret;
}

/* ---- plugin calls around a registration --------------------------------- */

static void plugin_message(struct reg_profile *rp, int status)
{
	struct alr_sip_message msg = {
		.status = status, .method = "REGISTER", .contact = rp->contact,
	};
	struct profile_agent_info in;

	if (!rp->plugin || !rp->plugin->handle_message || status < 100 || status > 699)
		return;
	if (status / 100 == 2 && rp->expires)
		snprintf(msg.expires, sizeof(msg.expires), "%u", rp->expires);
	if (profile_agent_info_build(&in, rp->p) == 0) {
		plugin_loader_call_begin(rp->plugin);
		rp->plugin->handle_message(&in.info, &msg, &rp->handle);
		plugin_loader_call_end();
	}
	profile_agent_info_free(&in);
	scratch_release(&rp->handle);
}

static void plugin_deregistered(struct reg_profile *rp)
{
	struct profile_agent_info in;

	if (!rp->plugin || !rp->plugin->deregistered)
		return;
	if (profile_agent_info_build(&in, rp->p) == 0) {
		plugin_loader_call_begin(rp->plugin);
		rp->plugin->deregistered(&in.info, &rp->handle);
		plugin_loader_call_end();
	}
	profile_agent_info_free(&in);
	scratch_release(&rp->handle);
}

/* ---- the machine -------------------------------------------------------- */

static void stop_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

static const char *iap_label(struct registry *r, unsigned int id, char *buf, size_t size)
{
	const struct iap *iap = iap_table_find_by_id(r->iaps, id);

	if (iap)
		snprintf(buf, size, "iap %u (%s)", id, iap->name);
	else
		snprintf(buf, size, "iap %u", id);
	return buf;
}

/*
 * The one place a profile's state changes: timers, the edge in the log,
 * then observers.  profile.deregistered goes out when a registration that
 * was announced ends (entering UNREGISTERED, REGISTERING or WAIT_FOR_IAP),
 * with rp->dereg_reason; profile.registered when REGISTERED is entered.
 */
static void registry_enter_state(struct reg_profile *rp, enum registry_state state)
{
	struct registry *r = rp->r;
	enum registry_state old = rp->state;
	struct registry_event ev = { .id = rp->p->id };
	bool deregistered = false, registered = false;
	char detail[256] = "", where[96];

	hold(rp);
	rp->state = state;
	switch (state) {
	case REGISTRY_UNREGISTERED:
		ev_timer_stop(r->loop, &rp->stop_timer);
		deregistered = rp->announced;
		free(rp->contact);
		rp->contact = NULL;
		rp->expires = 0;
		rp->iap_id = 0;
		profile_set_registered(rp->p, NULL, 0, NULL);
		break;
	case REGISTRY_WAIT_FOR_IAP:
		deregistered = rp->announced;
		rp->iap_id = 0;
		/* From UNREGISTERED this is the hand-over to the roaming
		 * engine, which picks the IAP at once (its own log line says
		 * which) or finds none (alr.no-iap). */
		snprintf(detail, sizeof(detail), old == REGISTRY_UNREGISTERED
			 ? " (enabled; the roaming engine picks the IAP)"
			 : " (no IAP to register over)");
		break;
	case REGISTRY_REGISTERING:
		deregistered = rp->announced;
		snprintf(detail, sizeof(detail), " (over %s, %s)",
			 iap_label(r, rp->iap_id, where, sizeof(where)), rp->local);
		break;
	case REGISTRY_REGISTERED:
		registered = true;
		snprintf(detail, sizeof(detail), " (over %s, expires %u)",
			 iap_label(r, rp->iap_id, where, sizeof(where)), rp->expires);
		break;
	case REGISTRY_UNREGISTERING:
		ev_timer_stop(r->loop, &rp->stop_timer);
		ev_timer_set(&rp->stop_timer, r->stop_timeout, 0.);
		ev_timer_start(r->loop, &rp->stop_timer);
		snprintf(detail, sizeof(detail), " (%s)", registry_reason_to_str(rp->dereg_reason));
		break;
	case _REGISTRY_STATE_MAX:
		assert(!"no such state");
		break;
	}
	if (deregistered && state != REGISTRY_UNREGISTERED)
		snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), "; %s",
			 registry_reason_to_str(rp->dereg_reason));
	/* entering WAIT_FOR_IAP on enable is the hand-over to the roaming
	 * engine, whose own line says what it decided */
	if (old != state)
		log_profile(old == REGISTRY_UNREGISTERED && state == REGISTRY_WAIT_FOR_IAP
			    ? LOG_DEBUG : LOG_INFO, rp->p->id, rp->iap_id,
			    "profile %u (%s): %s -> %s%s", rp->p->id, pname(rp),
			    registry_state_to_str(old), registry_state_to_str(state), detail);

	if (deregistered) {
		rp->announced = false;
		ev.type = REGISTRY_EVENT_DEREGISTERED;
		ev.reason = rp->dereg_reason;
		log_profile(LOG_NOTICE, rp->p->id, 0, "profile %u (%s): deregistered (%s)",
			    rp->p->id, pname(rp), registry_reason_to_str(rp->dereg_reason));
		emit(r, &ev);
	}
	if (registered) {
		rp->announced = true;
		ev = (struct registry_event){
			.type = REGISTRY_EVENT_REGISTERED, .id = rp->p->id, .iap_id = rp->iap_id,
			.contact = rp->contact, .expires = rp->expires,
		};
		log_profile(LOG_NOTICE, rp->p->id, rp->iap_id,
			    "profile %u (%s): registered over %s as %s", rp->p->id, pname(rp),
			    iap_label(r, rp->iap_id, where, sizeof(where)),
			    rp->contact ? rp->contact : "?");
		emit(r, &ev);
	}
	if (state == REGISTRY_UNREGISTERED)
		schedule_housekeeping(r);
	release(rp);
	roam_sync(rp);
}

/* Why the profile is being stopped, from what is going on. */
static enum registry_reason stop_reason(const struct reg_profile *rp)
{
	if (rp->r->stopping)
		return REGISTRY_REASON_SHUTDOWN;
	if (rp->r->restoring)
		return REGISTRY_REASON_RESTORE;
	if (rp->deleting)
		return REGISTRY_REASON_DELETED;
	if (rp->suspended)
		return REGISTRY_REASON_FORCED;
	if (rp->restart_after_stop)
		return REGISTRY_REASON_UPDATE;
	return REGISTRY_REASON_DISABLED;
}

static bool user_wanted(const struct reg_profile *rp)
{
	return !rp->suspended && (rp->p->auto_register || rp->n_users > 0);
}

static bool wanted(const struct reg_profile *rp)
{
	const struct registry *r = rp->r;

	return !r->stopping && !r->restoring && !rp->deleting && !rp->failed && rp->plugin &&
	       user_wanted(rp);
}

static bool stale_pending(const struct reg_profile *rp)
{
	return contacts_any_pending(&rp->contacts);
}

/* The REGISTER of go(), once the removals before it are done. */
static int start_binding(struct reg_profile *rp)
{
	rp->start_pending = false;
	return binding_start(rp->binding, rp->ifname, rp->local);
}

/* Register over @iap: start the binding, or move it there. */
static void go(struct reg_profile *rp, const struct iap *iap)
{
	char where[96];
	int ret;

	if (!rp->binding && make_binding(rp) < 0) {
		rp->failed = true;
		rp->dereg_reason = REGISTRY_REASON_ERROR;
		registry_enter_state(rp, REGISTRY_UNREGISTERED);
		return;
	}
	rp->iap_id = iap->id;
	util_strlcpy(rp->ifname, iap->ifname, sizeof(rp->ifname));
	pick_local(iap, dest_family(rp->p), rp->local, sizeof(rp->local));
	hold(rp);
	if (binding_get_state(rp->binding) == BINDING_IDLE) {
		/* What an earlier run (or binding) left is removed before
		 * registering anew (DESIGN §3.8); the REGISTER follows the
		 * last removal's outcome (on_contact_removed()).  XXX after
		 * a major update whose deregistration did not finish, the
		 * removal goes to the new AOR and registrar: the old
		 * registrar keeps the old contact until it expires. */
		for (size_t i = 0; i < rp->contacts.n; i++) {
			struct contact *s = &rp->contacts.v[i];

			if (!s->stale || s->pending ||
			    binding_remove_contact(rp->binding, s->uri, rp->ifname, rp->local) < 0)
				continue;
			s->pending = true;
			log_info("profile %u (%s): removing contact %s left at the registrar",
				 rp->p->id, pname(rp), s->uri);
		}
		rp->start_pending = true;
		ret = stale_pending(rp) ? 0 : start_binding(rp);
	} else {
		rp->start_pending = false;
		ret = binding_move(rp->binding, rp->ifname, rp->local);
	}
	if (ret < 0 && ret != -EALREADY) {
		/* Handled like the binding's own failure, after the edge. */
		struct binding_event ev = {
			.type = BINDING_EVENT_STATE, .old_state = BINDING_IDLE,
			.new_state = BINDING_IDLE, .error = BINDING_ERROR_INTERNAL,
			.code = ret, .reason = "cannot start the registration",
		};

		log_warning("profile %u (%s): cannot register over %s: %s", rp->p->id, pname(rp),
			    iap_label(rp->r, iap->id, where, sizeof(where)), strerror(-ret));
		on_binding_event(rp->binding, &ev, rp);
	}
	registry_enter_state(rp, REGISTRY_REGISTERING);
	release(rp);
}

/* Not wanted any more: deregister (bounded by the stop timer). */
static void stop(struct reg_profile *rp)
{
	rp->dereg_reason = stop_reason(rp);
	rp->start_pending = false;
	if (rp->binding && binding_get_state(rp->binding) != BINDING_IDLE) {
		hold(rp);
		binding_stop(rp->binding);
		registry_enter_state(rp, REGISTRY_UNREGISTERING);
		release(rp);
		return;
	}
	if (rp->restart_after_stop) {
		release_binding(rp);
		rp->restart_after_stop = false;
	}
	registry_enter_state(rp, REGISTRY_UNREGISTERED);
	plugin_deregistered(rp);
	cleanup_stale(rp);
}

static void report_missing_plugin(struct reg_profile *rp)
{
	char type[PROFILE_MAX_NAME + 16];

	if (rp->plugin || rp->missing_reported || !user_wanted(rp))
		return;
	rp->missing_reported = true;
	log_warning("profile %u (%s): no plugin serves type %s; it cannot register", rp->p->id,
		    pname(rp), profile_type_str(rp->p, type, sizeof(type)));
	set_error(rp, 0, "no-plugin", "no plugin serves type '%s'; the profile cannot register "
		  "(is the plugin installed in alrd's plugin-dir?)",
		  profile_type_str(rp->p, type, sizeof(type)));
}

/* Bring the profile where it should be. */
static void reconcile(struct reg_profile *rp)
{
	hold(rp);
	report_missing_plugin(rp);
	switch (rp->state) {
	case REGISTRY_UNREGISTERED:
		/* The engine registers it over the best IAP at once
		 * (roam_sync() from the edge), or it waits there. */
		if (wanted(rp))
			registry_enter_state(rp, REGISTRY_WAIT_FOR_IAP);
		else
			cleanup_stale(rp);
		break;
	case REGISTRY_WAIT_FOR_IAP:
		if (!wanted(rp))
			stop(rp);
		else
			roam_sync(rp);
		break;
	case REGISTRY_REGISTERING:
	case REGISTRY_REGISTERED:
		if (!wanted(rp))
			stop(rp);
		break;
	case REGISTRY_UNREGISTERING:
		break;
	case _REGISTRY_STATE_MAX:
		assert(!"no such state");
		break;
	}
	release(rp);
}

/* Remove the stale contacts, over the current IAP when registered, else
 * over any available one. */
static void cleanup_stale(struct reg_profile *rp)
{
	const struct iap *iap = NULL;
	const char *ifname = NULL;
	char local[INET6_ADDRSTRLEN];
	const char *current;

	if (!contacts_count_stale(&rp->contacts) || rp->r->restoring)
		return;
	if (rp->state != REGISTRY_UNREGISTERED && rp->state != REGISTRY_REGISTERED)
		return;
	if (rp->state == REGISTRY_UNREGISTERED) {
		iap = any_iap(rp);
		if (!iap)
			return;         /* again when an IAP comes up */
		ifname = iap->ifname;
		pick_local(iap, dest_family(rp->p), local, sizeof(local));
		if (!rp->binding && make_binding(rp) < 0)
			return;
	}
	current = rp->state == REGISTRY_REGISTERED ? binding_get_contact(rp->binding) : NULL;
	hold(rp);
	for (size_t i = 0; i < rp->contacts.n;) {
		struct contact *s = &rp->contacts.v[i];
		const char *via = ifname, *via_local = ifname ? local : NULL;
		char old_local[INET6_ADDRSTRLEN];
		const struct iap *old;
		int ret;

		if (!s->stale) {
			i++;
			continue;
		}
		if (current && strcmp(s->uri, current) == 0) {
			/* What we register now is not stale (it stays in the
			 * list, recorded, or leaves it). */
			bool stays = s->recorded;

			contacts_unmark_stale(&rp->contacts, s->uri);
			i += stays;
			continue;
		}
		i++;
		if (s->pending)
			continue;
		/* Over the IAP it was registered over while that is up (DESIGN
		 * §3.3), else over the current one. */
		if (rp->state == REGISTRY_REGISTERED && s->iap_id && s->iap_id != rp->iap_id &&
		    (old = iap_table_find_by_id(rp->r->iaps, s->iap_id)) && iap_available(old) &&
		    pick_local(old, dest_family(rp->p), old_local, sizeof(old_local))) {
			via = old->ifname;
			via_local = old_local;
		}
		ret = binding_remove_contact(rp->binding, s->uri, via, via_local);
		if (ret < 0) {
			log_debug("profile %u (%s): cannot remove %s now: %s", rp->p->id, pname(rp),
				  s->uri, strerror(-ret));
			continue;
		}
		/* Its outcome is queued (we hold the profile): @s stays. */
		s->pending = true;
		log_info("profile %u (%s): removing contact %s left at the registrar (via %s)",
			 rp->p->id, pname(rp), s->uri, via ? via : rp->ifname);
	}
	release(rp);
}

static void on_contact_removed(struct reg_profile *rp, const struct bevent *ev)
{
	struct contact *s = contacts_find(&rp->contacts, ev->contact);
	int ret;

	if (s && !s->stale)
		s = NULL;
	if (s && ev->error == BINDING_ERROR_NONE) {
		contacts_removed(&rp->contacts, s->uri);
	} else if (s) {
		s->pending = false;     /* tried again at the next chance */
		rp->old_error = ev->code > 0 ? ev->code : -EIO;
	}
	if (rp->removing_old && !stale_pending(rp)) {
		int status = rp->old_error;

		rp->removing_old = false;
		rp->old_error = 0;
		hold(rp);
		roam_report_old_removed(rp, status, status ? ev->reason : NULL);
		release(rp);
	}
	if (!rp->start_pending || stale_pending(rp) || rp->state != REGISTRY_REGISTERING ||
	    binding_get_state(rp->binding) != BINDING_IDLE)
		return;
	/* The removals are done (or failed: they are tried again later):
	 * now the registration. */
	ret = start_binding(rp);
	if (ret < 0) {
		struct binding_event e = {
			.type = BINDING_EVENT_STATE, .old_state = BINDING_IDLE,
			.new_state = BINDING_IDLE, .error = BINDING_ERROR_INTERNAL,
			.code = ret, .reason = "cannot start the registration",
		};

		on_binding_event(rp->binding, &e, rp);
	}
}

static void on_registered(struct reg_profile *rp, const struct bevent *ev)
{
	bool changed = !rp->contact || strcmp(rp->contact, ev->contact) != 0;
	const char *uri, *ifname;

	if (changed) {
		char *c = strdup(ev->contact);

		if (c) {
			free(rp->contact);
			rp->contact = c;
		}
	}
	rp->expires = ev->expires;
	rp->has_error = false;
	profile_set_registered(rp->p, (const char *const *)rp->p->registered_aors.v,
			       rp->p->registered_aors.n, rp->contact);
	plugin_message(rp, ev->code >= 200 && ev->code < 300 ? ev->code : 200);
	switch (rp->state) {
	case REGISTRY_WAIT_FOR_IAP:
		/* The lost IAP carried it after all (it came back). */
		rp->iap_id = iap_id_of_ifname(rp->r, binding_get_ifname(rp->binding));
		registry_enter_state(rp, REGISTRY_REGISTERED);
		break;
	case REGISTRY_REGISTERING:
		registry_enter_state(rp, REGISTRY_REGISTERED);
		break;
	case REGISTRY_REGISTERED:
		if (changed) {
			/* A new contact for the same registration (a minor
			 * update over a new socket): say so again. */
			struct registry_event e = {
				.type = REGISTRY_EVENT_REGISTERED, .id = rp->p->id,
				.iap_id = rp->iap_id, .contact = rp->contact,
				.expires = rp->expires,
			};

			emit(rp->r, &e);
		}
		break;
	case REGISTRY_UNREGISTERED:
	case REGISTRY_UNREGISTERING:
		return;
	case _REGISTRY_STATE_MAX:
		assert(!"no such state");
		return;
	}
	/* Our contacts over other IAPs (a failover) are stale now. */
	for (size_t i = 0; rp->binding &&
	     (uri = binding_get_known_contact(rp->binding, i, &ifname)); i++)
		if (strcmp(uri, ev->contact) != 0 && strcmp(ifname, rp->ifname) != 0)
			contacts_mark_stale(&rp->contacts, uri,
					    iap_id_of_ifname(rp->r, ifname) ?: rp->iap_id);
	cleanup_stale(rp);
	roam_report_registered(rp);
}

static void on_backoff(struct reg_profile *rp, const struct bevent *ev)
{
	set_error(rp, ev->code > 0 ? ev->code : 0, binding_error_to_str(ev->error),
		  "registration failed (%s%s%s); retrying", ev->reason,
		  ev->code > 0 ? ", " : "",
		  ev->code > 0 ? "SIP status" : "");
	plugin_message(rp, ev->code);
	if (rp->state == REGISTRY_REGISTERED) {
		rp->dereg_reason = REGISTRY_REASON_ERROR;
		registry_enter_state(rp, REGISTRY_REGISTERING);
	}
	roam_report_failed(rp, ev->code > 0 ? ev->code : -EIO, ev->reason);
}

static void on_idle(struct reg_profile *rp, const struct bevent *ev)
{
	if (rp->breaking && (rp->state == REGISTRY_REGISTERED ||
			     rp->state == REGISTRY_REGISTERING)) {
		/* The break of break-before-make is done: the engine
		 * registers over the new IAP (op_sip_go()). */
		rp->breaking = false;
		roam_report_deregistered(rp, ev->error == BINDING_ERROR_NONE ? 0 :
					 ev->code ? ev->code : -EIO, ev->reason);
		return;
	}
	rp->breaking = false;
	switch (rp->state) {
	case REGISTRY_UNREGISTERING:
		if (ev->error != BINDING_ERROR_NONE)
			log_info("profile %u (%s): deregistration incomplete (%s); the contacts "
				 "left are removed later", rp->p->id, pname(rp), ev->reason);
		if (rp->restart_after_stop) {
			release_binding(rp);
			rp->restart_after_stop = false;
		}
		registry_enter_state(rp, REGISTRY_UNREGISTERED);
		plugin_deregistered(rp);
		reconcile(rp);
		break;
	case REGISTRY_REGISTERING:
	case REGISTRY_REGISTERED:
	case REGISTRY_WAIT_FOR_IAP:
		if (ev->error == BINDING_ERROR_NONE)
			break;          /* idled on purpose: binding_abandon() */
		if (rp->state == REGISTRY_REGISTERED && rp->roam_enabled &&
		    roam_profile_state(rp->r->roam, rp->p->id) == ROAM_MIGRATING) {
			/* A make-before-break move refused for good (e.g. 403
			 * from the new network): the old contact is still at
			 * the registrar, so this is the migration's failure,
			 * not the profile's.  The engine names the IAP in
			 * alr.error and moves back (op_sip_go()). */
			log_info("profile %u (%s): move to iap %u refused (%s); staying",
				 rp->p->id, pname(rp), rp->iap_id, ev->reason);
			roam_report_failed(rp, ev->code > 0 ? ev->code : -EIO, ev->reason);
			break;
		}
		/* The binding gave up: a permanent error. */
		set_error(rp, ev->code > 0 ? ev->code : 0, binding_error_to_str(ev->error),
			  "registration refused (%s); not retried until the profile changes, is "
			  "enabled again, or a network comes up", ev->reason);
		log_warning("profile %u (%s): %s", rp->p->id, pname(rp), rp->err_message);
		plugin_message(rp, ev->code);
		rp->failed = true;
		rp->dereg_reason = REGISTRY_REASON_ERROR;
		registry_enter_state(rp, REGISTRY_UNREGISTERED);
		plugin_deregistered(rp);
		reconcile(rp);
		break;
	case REGISTRY_UNREGISTERED:
		break;
	case _REGISTRY_STATE_MAX:
		assert(!"no such state");
		break;
	}
}

static void handle_bevent(struct reg_profile *rp, const struct bevent *ev)
{
	if (!rp->binding || ev->binding_id != rp->binding_id)
		return;         /* from a binding we let go */
	switch (ev->type) {
	case BINDING_EVENT_CONTACT_REMOVED:
		on_contact_removed(rp, ev);
		return;
	case BINDING_EVENT_QUERY:
		return;
	case BINDING_EVENT_STATE:
		break;
	case _BINDING_EVENT_MAX:
		return;
	}
	switch (ev->new_state) {
	case BINDING_REGISTERED:
		on_registered(rp, ev);
		break;
	case BINDING_BACKOFF:
		on_backoff(rp, ev);
		break;
	case BINDING_IDLE:
		on_idle(rp, ev);
		break;
	case BINDING_RESOLVING:
	case BINDING_REGISTERING:
	case BINDING_UNREGISTERING:
	case _BINDING_STATE_MAX:
		break;
	}
}

/* A deregistration took too long: give up on it; the contacts it leaves
 * are stale and removed at the next chance. */
static void stop_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct reg_profile *rp = container_of(w, struct reg_profile, stop_timer);

	if (rp->state != REGISTRY_UNREGISTERING)
		return;
	log_info("profile %u (%s): deregistration not finished after %.1f s; going on",
		 rp->p->id, pname(rp), rp->r->stop_timeout);
	hold(rp);
	release_binding(rp);
	rp->restart_after_stop = false;
	registry_enter_state(rp, REGISTRY_UNREGISTERED);
	plugin_deregistered(rp);
	reconcile(rp);
	release(rp);
}

/* ---- the roaming engine's adapter (docs/roaming.md, "For the registry") - */

/* Calls into the engine nest (an op may enter a registry state that
 * enables another profile); binding outcomes wait until the outermost
 * call returns, then every profile catches up. */
static void roam_enter(struct registry *r)
{
	r->in_roam++;
}

static void roam_leave(struct registry *r)
{
	if (--r->in_roam > 0)
		return;
	while (r->roam_sync_pending) {
		r->roam_sync_pending = false;
		for (size_t i = 0; i < r->n; i++)
			roam_sync(r->v[i]);
	}
	for (size_t i = 0; i < r->n && r->in_roam == 0; i++)
		if (r->v[i]->hold == 0)
			drain(r->v[i]);
}

static unsigned int bearer_mask(enum profile_bearer b)
{
	switch (b) {
	case PROFILE_BEARER_ANY:
		return 0;
	case PROFILE_BEARER_WIFI:
		return POLICY_KIND_BIT(IAP_KIND_WIFI);
	case PROFILE_BEARER_CELLULAR:
		return POLICY_KIND_BIT(IAP_KIND_CELLULAR);
	case _PROFILE_BEARER_MAX:
		break;
	}
	return 0;
}

/* What the engine knows of the profile. */
static void roam_config_of(const struct reg_profile *rp, struct roam_profile_config *ret)
{
	const struct registry *r = rp->r;

	*ret = (struct roam_profile_config){
		/* A SNAP that is not loaded: the default one, as profile
		 * validation allows. */
		.snap_id = rp->p->iap_id || (r->snaps && policy_set_find_by_id(r->snaps,
									      rp->p->snap_id)) ?
			   rp->p->snap_id : POLICY_DEFAULT_ID,
		.iap_id = rp->p->iap_id,
		.bearers = bearer_mask(rp->p->bearer),
		.name = pname(rp),
	};
}

/* A profile is in the engine while the registry wants it registered and
 * is not deregistering it. */
static void roam_sync(struct reg_profile *rp)
{
	struct registry *r = rp->r;
	bool want = wanted(rp) && (rp->state == REGISTRY_WAIT_FOR_IAP ||
				   rp->state == REGISTRY_REGISTERING ||
				   rp->state == REGISTRY_REGISTERED);
	struct roam_profile_config cfg;
	bool changed;
	int ret;

	roam_config_of(rp, &cfg);
	if (r->in_roam) {
		r->roam_sync_pending = true;
		return;
	}
	/* A new SNAP, fixed IAP or bearer while the engine has the profile
	 * (an update while it waits for an IAP; a SNAP file removed): the
	 * engine takes it at once. */
	changed = want && rp->roam_enabled &&
		  (cfg.snap_id != rp->roam_cfg.snap_id || cfg.iap_id != rp->roam_cfg.iap_id ||
		   cfg.bearers != rp->roam_cfg.bearers);
	if (want == rp->roam_enabled && !changed)
		return;
	rp->roam_enabled = want;
	hold(rp);
	roam_enter(r);
	if (want) {
		size_t n;

		/* The engine's views may be older than the table (a first
		 * profile, an IAP event being handled). */
		if (build_views(r, &n) == 0)
			roam_iaps_changed(r->roam, r->views, n);
		if (changed)
			log_info("profile %u (%s): roaming now over SNAP %u, iap %u, bearers 0x%x",
				 rp->p->id, pname(rp), cfg.snap_id, cfg.iap_id, cfg.bearers);
		ret = roam_profile_enable(r->roam, rp->p->id, &cfg);
		if (ret < 0) {
			log_warning("profile %u (%s): cannot roam: %s", rp->p->id, pname(rp),
				    strerror(-ret));
			rp->roam_enabled = false;
		} else {
			rp->roam_cfg = cfg;
			rp->roam_cfg.name = NULL;
		}
	} else {
		roam_profile_disable(r->roam, rp->p->id);
		ev_timer_stop(r->loop, &rp->roam_timer);
	}
	roam_leave(r);
	release(rp);
}

static uint64_t op_now_ms(void *ud)
{
	struct timespec ts;

	(void)ud;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void op_timer_start(void *ud, unsigned int profile, uint64_t at_ms)
{
	struct registry *r = ud;
	struct reg_profile *rp = find(r, profile);
	uint64_t now = op_now_ms(ud);

	if (!rp)
		return;
	ev_timer_stop(r->loop, &rp->roam_timer);
	ev_timer_set(&rp->roam_timer, at_ms > now ? (double)(at_ms - now) / 1000. : 0., 0.);
	ev_timer_start(r->loop, &rp->roam_timer);
}

static void op_timer_stop(void *ud, unsigned int profile)
{
	struct registry *r = ud;
	struct reg_profile *rp = find(r, profile);

	if (rp)
		ev_timer_stop(r->loop, &rp->roam_timer);
}

static void roam_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct reg_profile *rp = container_of(w, struct reg_profile, roam_timer);
	struct registry *r = rp->r;

	(void)loop;
	(void)revents;
	hold(rp);
	roam_enter(r);
	roam_timer_fired(r->roam, rp->p->id);
	roam_leave(r);
	release(rp);
}

/* sip_register and sip_move: the binding registers over @iap_id.  The
 * registry's state follows: a move while the current IAP is still there
 * (a migration) keeps REGISTERED; otherwise (initial registration,
 * failover) it is REGISTERING. */
static int op_sip_go(void *ud, unsigned int profile, unsigned int iap_id)
{
	struct registry *r = ud;
	struct reg_profile *rp = find(r, profile);
	const struct iap *iap, *cur;
	char local[INET6_ADDRSTRLEN];
	int ret;

	if (!rp || rp->state == REGISTRY_UNREGISTERED || rp->state == REGISTRY_UNREGISTERING)
		return -ESHUTDOWN;
	iap = iap_table_find_by_id(r->iaps, iap_id);
	if (!iap || !iap_available(iap) || !pick_local(iap, dest_family(rp->p), local,
						       sizeof(local)))
		return -ENETUNREACH;
	if (rp->binding && rp->iap_id == iap_id && strcmp(rp->ifname, iap->ifname) == 0 &&
	    strcmp(rp->local, local) == 0 && binding_get_state(rp->binding) != BINDING_IDLE &&
	    (rp->state == REGISTRY_REGISTERING || rp->state == REGISTRY_REGISTERED)) {
		/* Already there (or on the way): the outcome comes. */
		if (rp->state == REGISTRY_REGISTERED &&
		    binding_get_state(rp->binding) == BINDING_REGISTERED)
			return ROAM_OP_DONE;
		return ROAM_OP_STARTED;
	}
	cur = rp->iap_id ? iap_table_find_by_id(r->iaps, rp->iap_id) : NULL;
	if (rp->state == REGISTRY_REGISTERED && rp->binding && cur && iap_available(cur) &&
	    binding_get_state(rp->binding) != BINDING_IDLE) {
		/* A migration: the old contact stays until the new one is
		 * registered (make-before-break, DESIGN §3.4). */
		ret = binding_move(rp->binding, iap->ifname, local);
		if (ret < 0 && ret != -EALREADY)
			return ret;
		log_info("profile %u (%s): moving from iap %u to iap %u", rp->p->id, pname(rp),
			 rp->iap_id, iap->id);
		rp->iap_id = iap->id;
		util_strlcpy(rp->ifname, iap->ifname, sizeof(rp->ifname));
		util_strlcpy(rp->local, local, sizeof(rp->local));
		return ROAM_OP_STARTED;
	}
	if (rp->breaking && rp->binding &&
	    binding_get_state(rp->binding) == BINDING_UNREGISTERING) {
		/* The break is still out (its IAP went): let that binding
		 * go; what it registered is removed as stale contacts
		 * (binding_start() would answer -EBUSY). */
		release_binding(rp);
	}
	rp->breaking = false;
	rp->dereg_reason = REGISTRY_REASON_NETWORK_LOST;
	go(rp, iap);
	return rp->state == REGISTRY_UNREGISTERED ? -EIO : ROAM_OP_STARTED;
}

static int op_sip_register(void *ud, unsigned int profile, unsigned int iap)
{
	return op_sip_go(ud, profile, iap);
}

static int op_sip_move(void *ud, unsigned int profile, unsigned int iap)
{
	return op_sip_go(ud, profile, iap);
}

/* The registry removes the contacts over other IAPs by itself once the
 * new one is registered (on_registered(): stale contacts, each over the
 * IAP it was registered over while that is up, else over the current
 * one; the engine's @via_iap is the same rule).  The engine hears the
 * outcome when the last removal is answered (on_contact_removed()). */
static int op_sip_remove_old(void *ud, unsigned int profile, unsigned int old_iap,
			     unsigned int via_iap)
{
	struct registry *r = ud;
	struct reg_profile *rp = find(r, profile);

	if (!rp || rp->state != REGISTRY_REGISTERED)
		return ROAM_OP_DONE;
	cleanup_stale(rp);
	if (!stale_pending(rp)) {
		log_debug("profile %u: no contact left over iap %u", profile, old_iap);
		return contacts_count_stale(&rp->contacts) ? -EAGAIN : ROAM_OP_DONE;
	}
	log_debug("profile %u: removing the old contacts (last over iap %u; new iap %u)",
		  profile, old_iap, via_iap);
	rp->removing_old = true;
	rp->old_error = 0;
	return ROAM_OP_STARTED;
}

/* The registry deregisters on its own when a profile leaves the engine
 * (stop(), bounded by the stop timer): then there is nothing to do.  A
 * profile the registry still wants is at the break of break-before-make:
 * every contact is removed (binding_stop()), then the engine registers
 * over the new IAP.  XXX binding_stop() goes over the binding's IAP, not
 * @via_iap: when that IAP is gone the break fails and the contact is
 * left to the stale cleanup. */
static int op_sip_deregister(void *ud, unsigned int profile, unsigned int via_iap)
{
	struct registry *r = ud;
	struct reg_profile *rp = find(r, profile);
	int ret;

	if (!rp || !rp->binding || !wanted(rp) ||
	    (rp->state != REGISTRY_REGISTERED && rp->state != REGISTRY_REGISTERING) ||
	    binding_get_state(rp->binding) == BINDING_IDLE) {
		log_debug("profile %u: deregistration left to the registry", profile);
		return ROAM_OP_DONE;
	}
	ret = binding_stop(rp->binding);
	if (ret < 0)
		return ret;
	log_info("profile %u (%s): break-before-make: removing the contact over iap %u first",
		 rp->p->id, pname(rp), via_iap);
	rp->breaking = true;
	/* Unregistered from now until the make (DESIGN §4): clients see
	 * profile.deregistered (migration), then profile.registered. */
	if (rp->state == REGISTRY_REGISTERED) {
		rp->dereg_reason = REGISTRY_REASON_MIGRATION;
		registry_enter_state(rp, REGISTRY_REGISTERING);
	}
	return ROAM_OP_STARTED;
}

/* No IAP left: the binding idles without a request instead of retrying
 * over a network that is gone; its contacts stay known and persisted and
 * are removed after the next registration (on_registered()). */
static void op_sip_abandon(void *ud, unsigned int profile)
{
	struct registry *r = ud;
	struct reg_profile *rp = find(r, profile);

	if (!rp || !rp->binding || binding_get_state(rp->binding) == BINDING_IDLE)
		return;
	if (binding_abandon(rp->binding) < 0)
		return;         /* unregistering: that ends by itself */
	rp->start_pending = false;
	log_info("profile %u (%s): no IAP left; the binding idles until one comes", rp->p->id,
		 pname(rp));
}

static void op_event(void *ud, const struct roam_event *ev)
{
	struct registry *r = ud;

	if (r->roam_fn)
		r->roam_fn(ev, r->roam_data);
}

static void op_state_changed(void *ud, unsigned int profile, enum roam_state old_state,
			     enum roam_state new_state)
{
	struct registry *r = ud;
	struct reg_profile *rp = find(r, profile);

	(void)old_state;
	if (!rp || new_state != ROAM_WAIT_FOR_IAP)
		return;
	if (rp->state == REGISTRY_REGISTERING || rp->state == REGISTRY_REGISTERED) {
		rp->dereg_reason = REGISTRY_REASON_NETWORK_LOST;
		registry_enter_state(rp, REGISTRY_WAIT_FOR_IAP);
	}
}

static const struct roam_ops roam_ops = {
	.now_ms = op_now_ms,
	.timer_start = op_timer_start,
	.timer_stop = op_timer_stop,
	.sip_register = op_sip_register,
	.sip_move = op_sip_move,
	.sip_remove_old = op_sip_remove_old,
	.sip_deregister = op_sip_deregister,
	.sip_abandon = op_sip_abandon,
	.event = op_event,
	.state_changed = op_state_changed,
};

/* Binding outcomes, for the engine (after the registry handled them). */
static void roam_report_registered(struct reg_profile *rp)
{
	if (!rp->roam_enabled)
		return;
	roam_enter(rp->r);
	roam_sip_registered(rp->r->roam, rp->p->id, rp->iap_id);
	roam_leave(rp->r);
}

static void roam_report_deregistered(struct reg_profile *rp, int status, const char *reason)
{
	if (!rp->roam_enabled)
		return;
	roam_enter(rp->r);
	roam_sip_deregistered(rp->r->roam, rp->p->id, status, reason);
	roam_leave(rp->r);
}

static void roam_report_failed(struct reg_profile *rp, int status, const char *reason)
{
	if (!rp->roam_enabled)
		return;
	roam_enter(rp->r);
	roam_sip_failed(rp->r->roam, rp->p->id, rp->iap_id, status, reason);
	roam_leave(rp->r);
}

/* Every IAP now for the engine, without @skip (the old IAP of an identity
 * switch while both are in the table). */
static void roam_feed_iaps(struct registry *r, unsigned int skip)
{
	size_t n, k = 0;

	if (build_views(r, &n) < 0) {
		log_warning("roam: out of memory building the IAP views");
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (r->views[i].id != skip)
			r->views[k++] = r->views[i];
	roam_enter(r);
	if (roam_iaps_changed(r->roam, r->views, k) < 0)
		log_warning("roam: cannot take the IAP views");
	roam_leave(r);
}

/* ---- IAP events --------------------------------------------------------- */

static void on_iap_event(enum iap_event event, const struct iap *iap, void *ud)
{
	struct registry *r = ud;

	if (event == IAP_EVENT_ADDED && iap->replaces) {
		/* An identity switch: the same link under a new id; nothing
		 * moves (docs/roaming.md, "Identity switches"). */
		for (size_t i = 0; i < r->n; i++)
			if (r->v[i]->iap_id == iap->replaces) {
				log_info("profile %u (%s): now over iap %u (same interface %s)",
					 r->v[i]->p->id, pname(r->v[i]), iap->id, iap->ifname);
				r->v[i]->iap_id = iap->id;
			}
		roam_enter(r);
		roam_iap_replaced(r->roam, iap->replaces, iap->id);
		roam_leave(r);
	}
	/* The old IAP of an identity switch leaves the views at once.  A
	 * lost IAP fails over inside this call. */
	roam_feed_iaps(r, iap->replaces ? iap->replaces : iap->replaced_by ? iap->id : 0);
	for (size_t i = 0; i < r->n; i++) {
		struct reg_profile *rp = r->v[i];

		hold(rp);
		switch (rp->state) {
		case REGISTRY_REGISTERING:
		case REGISTRY_REGISTERED:
			/* A loss is the engine's (roam_iaps_changed() below);
			 * a new address on the same IAP registers again. */
			if (rp->iap_id == iap->id && iap_available(iap) &&
			    !has_local(iap, rp->local)) {
				rp->dereg_reason = REGISTRY_REASON_NETWORK_LOST;
				roam_enter(r);
				go(rp, iap);
				roam_leave(r);
			}
			break;
		case REGISTRY_WAIT_FOR_IAP:
			break;
		case REGISTRY_UNREGISTERED:
			if (event == IAP_EVENT_UP) {
				/* A new network: a permanent error may not
				 * hold there; leftovers may now be removed. */
				rp->failed = false;
				reconcile(rp);
			}
			break;
		case REGISTRY_UNREGISTERING:
			break;
		case _REGISTRY_STATE_MAX:
			assert(!"no such state");
			break;
		}
		release(rp);
	}
}

/* ---- profile objects ---------------------------------------------------- */

static struct reg_profile *rp_new(struct registry *r, struct profile *p)
{
	struct reg_profile *rp = calloc(1, sizeof(*rp));

	if (!rp)
		return NULL;
	rp->r = r;
	rp->p = p;
	rp->state = REGISTRY_UNREGISTERED;
	rp->handle.rp = rp;
	contacts_init(&rp->contacts, r->store, p->id);
	rp->plugin = plugin_loader_find(r->plugins, (int)p->type_class, p->type_name);
	ev_timer_init(&rp->stop_timer, stop_timer_cb, r->stop_timeout, 0.);
	ev_timer_init(&rp->roam_timer, roam_timer_cb, 0., 0.);
	derive_identity(rp);
	return rp;
}

static void rp_free(struct reg_profile *rp)
{
	if (!rp)
		return;
	ev_timer_stop(rp->r->loop, &rp->stop_timer);
	ev_timer_stop(rp->r->loop, &rp->roam_timer);
	binding_free(rp->binding);
	host_set_data(&rp->handle, NULL, NULL);
	scratch_release(&rp->handle);
	contacts_clear(&rp->contacts);
	free(rp->queue);
	free(rp->users);
	free(rp->call_id);
	free(rp->contact);
	profile_free(rp->p);
	free(rp);
}

/* What an earlier run left: the rows of registered_contact.  Expired ones
 * are gone at the registrar already. */
static void load_contacts(struct reg_profile *rp)
{
	size_t n = contacts_load(&rp->contacts, (int64_t)time(NULL), &rp->call_id, &rp->cseq);

	if (n)
		log_info("profile %u (%s): %zu contact%s of an earlier run to clean up (Call-ID %s, "
			 "CSeq %u)", rp->p->id, pname(rp), n, n == 1 ? "" : "s",
			 rp->call_id ? rp->call_id : "?", rp->cseq);
}

static int load_one(struct profile *p, void *ud)
{
	struct registry *r = ud;
	struct reg_profile *rp;

	/* The registration state is the running daemon's, not the store's. */
	profile_set_registered(p, NULL, 0, NULL);
	/* Passwords stored before HA1 was (schema 2, or a restored backup):
	 * sealed now, and the clear text replaced in the store. */
	if (secret_profile_unsealed(p)) {
		struct profile_error pe;

		if (secret_seal_profile(p, &pe) == 0 && !secret_profile_unsealed(p) &&
		    store_profile_update(r->store, p) == 0)
			log_info("profile %u: password stored as HA1 for its realm", p->id);
	}
	rp = rp_new(r, p);
	if (!rp) {
		profile_free(p);
		return -ENOMEM;
	}
	if (list_insert(r, rp) < 0) {
		rp_free(rp);
		return -ENOMEM;
	}
	load_contacts(rp);
	emit_simple(rp, REGISTRY_EVENT_CREATED);
	return 0;
}

static int load_profiles(struct registry *r)
{
	int ret = store_profile_load_all(r->store, load_one, r);

	if (ret < 0)
		return log_errno(LOG_ERR, ret, "cannot load the profiles: %m");
	log_info("%zu profile%s loaded", r->n, r->n == 1 ? "" : "s");
	/* A lowered limit never drops a stored profile. */
	if (r->max_profiles && r->n > r->max_profiles)
		log_warning("%zu profiles are more than max-profiles (%u): they are all kept, "
			    "but no profile can be created until fewer remain", r->n,
			    r->max_profiles);
	for (size_t i = 0; i < r->n; i++)
		reconcile(r->v[i]);
	return 0;
}

/* ---- housekeeping: deletions, restore, shutdown ------------------------- */

static void finish_delete(struct registry *r, struct reg_profile *rp)
{
	unsigned int id = rp->p->id;
	registry_done_fn done = rp->delete_done;
	void *data = rp->delete_data;
	int ret;

	ret = store_profile_delete(r->store, id);
	if (ret < 0 && ret != -ENOENT) {
		/* It stays, unregistered; the client is told. */
		rp->deleting = false;
		if (done)
			done(ret, "the store could not delete the profile; see alrd's log", data);
		return;
	}
	if (contacts_count_stale(&rp->contacts))
		/* XXX their removal would need the profile; they expire. */
		log_info("profile %u (%s): %zu contact%s left at the registrar until it expires",
			 id, pname(rp), contacts_count_stale(&rp->contacts),
			 contacts_count_stale(&rp->contacts) == 1 ? "" : "s");
	list_remove(r, rp);
	log_notice("profile %u (%s) deleted", id, pname(rp));
	rp_free(rp);
	{
		struct registry_event ev = { .type = REGISTRY_EVENT_DESTROYED, .id = id };

		emit(r, &ev);
	}
	if (done)
		done(0, NULL, data);
}

static bool all_unregistered(const struct registry *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i]->state != REGISTRY_UNREGISTERED)
			return false;
	return true;
}

static void destroy_all(struct registry *r)
{
	while (r->n) {
		struct reg_profile *rp = r->v[r->n - 1];
		struct registry_event ev = { .type = REGISTRY_EVENT_DESTROYED, .id = rp->p->id };

		r->n--;
		if (rp->deleting && rp->delete_done)
			rp->delete_done(-ECANCELED, "a restore replaced the profiles", rp->delete_data);
		rp_free(rp);
		emit(r, &ev);
	}
}

static void finish_restore(struct registry *r)
{
	registry_done_fn done = r->barrier_done;
	void *data = r->barrier_data;
	char err[512] = "";
	int ret;

	r->barrier = BARRIER_NONE;
	destroy_all(r);
	ret = store_restore(r->store, r->restore_path, err, sizeof(err));
	if (ret < 0)
		log_err("restore from %s failed: %s; the profiles as they were are loaded again",
			r->restore_path, err);
	else
		log_notice("store restored from %s", r->restore_path);
	r->restoring = false;
	free(r->restore_path);
	r->restore_path = NULL;
	load_profiles(r);
	if (done)
		done(ret, ret < 0 ? err : NULL, data);
}

static void housekeeping_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct registry *r = container_of(w, struct registry, housekeeping);

	ev_idle_stop(loop, w);
	for (size_t i = 0; i < r->n;) {
		struct reg_profile *rp = r->v[i];

		if (rp->deleting && rp->state == REGISTRY_UNREGISTERED && rp->hold == 0) {
			finish_delete(r, rp);
			i = 0;          /* the list changed */
			continue;
		}
		i++;
	}
	if (r->barrier != BARRIER_NONE && all_unregistered(r)) {
		if (r->barrier == BARRIER_RESTORE) {
			finish_restore(r);
		} else {
			registry_done_fn done = r->barrier_done;

			r->barrier = BARRIER_NONE;
			log_info("every profile is deregistered");
			if (done)
				done(0, NULL, r->barrier_data);
		}
	}
}

static void schedule_housekeeping(struct registry *r)
{
	ev_idle_start(r->loop, &r->housekeeping);
}

/* ---- public: lifecycle -------------------------------------------------- */

struct registry *registry_new(const struct registry_config *cfg)
{
	struct registry *r;

	if (!cfg || !cfg->loop || !cfg->store || !cfg->iaps || (!cfg->stack && !cfg->binding_ops)) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->loop = cfg->loop;
	r->store = cfg->store;
	/* every profile it loads must be one profile.create would take */
	store_set_profile_check(r->store, profile_check);
	r->iaps = cfg->iaps;
	r->plugins = cfg->plugins;
	r->stack = cfg->stack;
	r->ops = cfg->binding_ops;
	r->ops_env = cfg->ops_env;
	r->stop_timeout = cfg->stop_timeout > 0 ? cfg->stop_timeout : STOP_TIMEOUT_DEFAULT;
	r->max_profiles = cfg->max_profiles;
	if (cfg->install_key_len) {
		r->key = malloc(cfg->install_key_len);
		if (!r->key)
			goto fail;
		memcpy(r->key, cfg->install_key, cfg->install_key_len);
		r->key_len = cfg->install_key_len;
	}
	ev_idle_init(&r->housekeeping, housekeeping_cb);
	r->own_set = policy_set_new();
	r->roam = roam_new(&roam_ops, r);
	if (!r->own_set || !r->roam || roam_snap_set(r->roam, r->own_set, NULL, 0) < 0)
		goto fail;
	r->iap_watch = iap_table_watch(r->iaps, on_iap_event, r, NULL);
	if (!r->iap_watch)
		goto fail;
	return r;
fail:
	registry_free(r);
	errno = ENOMEM;
	return NULL;
}

struct registry *registry_free(struct registry *r)
{
	if (!r)
		return NULL;
	if (r->iap_watch)
		iap_table_unwatch(r->iaps, r->iap_watch);
	ev_idle_stop(r->loop, &r->housekeeping);
	r->roam = roam_free(r->roam);
	for (size_t i = 0; i < r->n; i++) {
		struct reg_profile *rp = r->v[i];

		if (rp->deleting && rp->delete_done)
			rp->delete_done(-ECANCELED, "alrd is stopping", rp->delete_data);
		rp_free(rp);
	}
	free(r->v);
	if (r->barrier != BARRIER_NONE && r->barrier_done)
		r->barrier_done(-ECANCELED, "alrd is stopping", r->barrier_data);
	watchlist_clear(&r->watches);
	free(r->views);
	policy_set_free(r->own_set);
	if (r->key) {
		explicit_bzero(r->key, r->key_len);
		free(r->key);
	}
	free(r->restore_path);
	free(r);
	return NULL;
}

int registry_load(struct registry *r)
{
	return load_profiles(r);
}

void registry_set_max_profiles(struct registry *r, unsigned int max)
{
	r->max_profiles = max;
}

void registry_set_snaps(struct registry *r, const struct policy_set *set)
{
	const struct snap_iap_view *views;
	size_t n = 0;

	r->snaps = set;
	views = registry_iap_views(r, &n);
	roam_enter(r);
	if (roam_snap_set(r->roam, set ? set : r->own_set, views, views ? n : 0) < 0)
		log_warning("roam: out of memory taking the SNAPs; the old ones stay");
	roam_leave(r);
}

void registry_set_roam_handler(struct registry *r, registry_roam_fn fn, void *user_data)
{
	r->roam_fn = fn;
	r->roam_data = user_data;
}

int registry_alr(struct registry *r, enum registry_alr_op op, unsigned int id,
		 unsigned int iap, unsigned int client, char *ret_message, size_t ret_size)
{
	int ret = -EINVAL;

	if (!find(r, id)) {
		snprintf(ret_message, ret_size, "no profile with id %u", id);
		return -ENOENT;
	}
	roam_enter(r);
	switch (op) {
	case REGISTRY_ALR_CONTROL:
		ret = roam_control(r->roam, id, client, ret_message, ret_size);
		break;
	case REGISTRY_ALR_RELEASE:
		ret = roam_release(r->roam, id, client, ret_message, ret_size);
		break;
	case REGISTRY_ALR_ALLOW:
		ret = roam_allow(r->roam, id, iap, client, ret_message, ret_size);
		break;
	case REGISTRY_ALR_DISALLOW:
		ret = roam_disallow(r->roam, id, iap, client, ret_message, ret_size);
		break;
	case REGISTRY_ALR_REFRESH:
		ret = roam_refresh(r->roam, id, client, ret_message, ret_size);
		break;
	}
	roam_leave(r);
	return ret;
}

void registry_alr_client_gone(struct registry *r, unsigned int client)
{
	roam_enter(r);
	roam_client_gone(r->roam, client);
	roam_leave(r);
}

bool registry_alr_is_controller(const struct registry *r, unsigned int id, unsigned int client)
{
	return roam_is_controller(r->roam, id, client);
}

unsigned int registry_watch(struct registry *r, registry_event_fn fn, void *user_data,
			    void (*destroy)(void *))
{
	return watchlist_add(&r->watches, (void *)fn, user_data, destroy);
}

bool registry_unwatch(struct registry *r, unsigned int id)
{
	return watchlist_remove(&r->watches, id);
}

/* ---- public: reading ---------------------------------------------------- */

size_t registry_count(const struct registry *r)
{
	return r->n;
}

const struct profile *registry_profile_at(const struct registry *r, size_t i)
{
	return i < r->n ? r->v[i]->p : NULL;
}

const struct profile *registry_find(const struct registry *r, unsigned int id)
{
	struct reg_profile *rp = find(r, id);

	return rp ? rp->p : NULL;
}

enum registry_state registry_get_state(const struct registry *r, unsigned int id)
{
	struct reg_profile *rp = find(r, id);

	return rp ? rp->state : REGISTRY_UNREGISTERED;
}

size_t registry_get_users(const struct registry *r, unsigned int id)
{
	struct reg_profile *rp = find(r, id);

	return rp ? rp->n_users : 0;
}

int registry_identity(const struct registry *r, unsigned int id, const char **ret_user,
		      const char **ret_instance)
{
	struct reg_profile *rp = find(r, id);

	if (!rp)
		return -ENOENT;
	if (ret_user)
		*ret_user = rp->contact_user;
	if (ret_instance)
		*ret_instance = rp->instance;
	return 0;
}

bool registry_busy(const struct registry *r, const char **ret_why)
{
	if (r->restoring) {
		if (ret_why)
			*ret_why = "restore in progress: changes are refused until it finishes";
		return true;
	}
	if (r->stopping) {
		if (ret_why)
			*ret_why = "alrd is stopping: changes are refused";
		return true;
	}
	return false;
}

int registry_profile_status(struct registry *r, unsigned int id,
			    struct registry_profile_status *ret)
{
	struct reg_profile *rp = find(r, id);
	bool registered;

	if (!rp)
		return -ENOENT;
	memset(ret, 0, sizeof(*ret));
	registered = rp->state == REGISTRY_REGISTERED || rp->state == REGISTRY_UNREGISTERING;
	ret->profile = rp->p;
	ret->state = rp->state;
	ret->registration = registry_state_to_registration(rp->state);
	ret->phase = registry_state_to_phase(rp->state);
	ret->iap_id = rp->iap_id;
	ret->contact = registered ? rp->contact : NULL;
	ret->expires = registered ? rp->expires : 0;
	ret->users = rp->n_users;
	ret->auto_register = rp->p->auto_register && !rp->suspended;
	ret->suspended = rp->suspended;
	ret->has_error = rp->has_error;
	ret->err_code = rp->err_code;
	ret->err_kind = rp->err_kind;
	ret->err_message = rp->err_message;
	ret->plugin = rp->plugin ? rp->plugin->name : NULL;
	if (rp->plugin && rp->plugin->state_report) {
		struct profile_agent_info in;

		if (profile_agent_info_build(&in, rp->p) == 0) {
			plugin_loader_call_begin(rp->plugin);
			rp->plugin->state_report(&in.info, &rp->handle, ret->report,
						 sizeof(ret->report));
			plugin_loader_call_end();
			ret->report[sizeof(ret->report) - 1] = '\0';
		}
		profile_agent_info_free(&in);
		scratch_release(&rp->handle);
	}
	ret->contact_user = rp->contact_user;
	ret->instance = rp->instance;
	return 0;
}

/* ---- public: changing --------------------------------------------------- */

static int refuse_busy(const struct registry *r, struct profile_error *err)
{
	const char *why;

	if (!registry_busy(r, &why))
		return 0;
	if (err) {
		util_strlcpy(err->field, "", sizeof(err->field));
		util_strlcpy(err->reason, why, sizeof(err->reason));
	}
	return -EBUSY;
}

static void err_set(struct profile_error *err, const char *field, const char *reason)
{
	if (!err)
		return;
	util_strlcpy(err->field, field, sizeof(err->field));
	util_strlcpy(err->reason, reason, sizeof(err->reason));
}

/*
 * Every profile costs memory, a row and, once enabled, registrations: a
 * client allowed to create profiles must not be able to fill the
 * daemon (100,000 profiles took 1.19 GB).  0 or -EDQUOT with a message;
 * checked before anything is stored, so a refusal changes nothing.
 */
static int check_room(const struct registry *r, size_t adding, bool import, char *buf,
		      size_t size)
{
	if (!r->max_profiles || r->n + adding <= r->max_profiles)
		return 0;
	if (!import)
		snprintf(buf, size, "%zu profiles already, as many as max-profiles (%u) allows; "
			 "delete one first, or raise max-profiles in alrd.conf", r->n,
			 r->max_profiles);
	else
		snprintf(buf, size, "%zu profiles and %zu more would be over max-profiles (%u); "
			 "nothing was imported", r->n, adding, r->max_profiles);
	return -EDQUOT;
}

/* Another profile lost the default flag (the store cleared it). */
static void drop_other_defaults(struct registry *r, unsigned int keep)
{
	for (size_t i = 0; i < r->n; i++) {
		struct reg_profile *o = r->v[i];

		if (o->p->id != keep && o->p->is_default) {
			o->p->is_default = false;
			emit_simple(o, REGISTRY_EVENT_UPDATED);
		}
	}
}

int registry_create(struct registry *r, const struct profile_patch *patch,
		    unsigned int *ret_id, struct profile_error *err)
{
	struct profile_validate_ctx ctx = validate_ctx(r);
	const struct alr_plugin *pl;
	struct profile *p, *q;
	struct reg_profile *rp;
	int ret;

	ret = refuse_busy(r, err);
	if (ret < 0)
		return ret;
	{
		char why[sizeof(err->reason)];

		ret = check_room(r, 1, false, why, sizeof(why));
		if (ret < 0) {
			err_set(err, "", why);
			return ret;
		}
	}
	p = profile_new();
	if (!p)
		return -ENOMEM;
	ret = patch->apply(p, patch->data, err);
	if (ret < 0)
		goto fail;
	/* The plugin's defaults come before what the client said: apply
	 * the patch again over them. */
	pl = plugin_loader_find(r->plugins, (int)p->type_class, p->type_name);
	if (pl && pl->defaults) {
		struct alr_profile_defaults d = {
			.expires = PROFILE_EXPIRES_DEFAULT,
			.security_negotiation = false,
			.sigcomp = false,
		};

		plugin_loader_call_begin(pl);
		pl->defaults(&d);
		plugin_loader_call_end();
		q = profile_new();
		if (!q) {
			ret = -ENOMEM;
			goto fail;
		}
		q->expires = d.expires;
		q->security_negotiation = d.security_negotiation;
		q->sigcomp = d.sigcomp;
		ret = patch->apply(q, patch->data, err);
		if (ret < 0) {
			profile_free(q);
			goto fail;
		}
		profile_free(p);
		p = q;
	}
	ret = profile_validate(p, &ctx, err);
	if (ret == 0)
		ret = secret_seal_profile(p, err);
	if (ret < 0)
		goto fail;
	ret = store_profile_insert(r->store, p);
	if (ret < 0) {
		err_set(err, "profile", "the store could not save it; see alrd's log");
		goto fail;
	}
	rp = rp_new(r, p);
	if (!rp || list_insert(r, rp) < 0) {
		store_profile_delete(r->store, p->id);
		if (rp)
			rp_free(rp);
		else
			profile_free(p);
		return -ENOMEM;
	}
	log_notice("profile %u (%s) created", p->id, pname(rp));
	if (p->is_default)
		drop_other_defaults(r, p->id);
	emit_simple(rp, REGISTRY_EVENT_CREATED);
	if (ret_id)
		*ret_id = p->id;
	reconcile(rp);
	return 0;
fail:
	profile_free(p);
	return ret;
}

static enum profile_change classify(struct reg_profile *rp, const struct profile *old,
				    const struct profile *new_)
{
	enum profile_change c = profile_diff(old, new_);
	const struct alr_plugin *pl = rp->plugin;

	if (c != PROFILE_CHANGE_MAJOR && pl && pl->classify_update) {
		struct profile_agent_info a, b;
		enum alr_update_kind k = ALR_UPDATE_NONE;

		if (profile_agent_info_build(&a, old) == 0 && profile_agent_info_build(&b, new_) == 0) {
			plugin_loader_call_begin(pl);
			k = pl->classify_update(&a.info, &b.info);
			plugin_loader_call_end();
		}
		profile_agent_info_free(&a);
		profile_agent_info_free(&b);
		if (k == ALR_UPDATE_MAJOR)
			c = PROFILE_CHANGE_MAJOR;
		else if (k == ALR_UPDATE_MINOR && c == PROFILE_CHANGE_NONE)
			c = PROFILE_CHANGE_MINOR;
	}
	return c;
}

/* A minor update of a registered profile: a re-REGISTER with the new
 * values, same Call-ID, next CSeq, same socket (so the same contact). */
static void reregister(struct reg_profile *rp)
{
	struct binding *old = rp->binding;
	unsigned int old_id = rp->binding_id;
	const char *uri, *ifname;
	int ret;

	rp->binding = NULL;
	rp->start_pending = false;
	if (make_binding(rp) < 0) {
		/* Keep what runs; the error is reported. */
		rp->binding = old;
		rp->binding_id = old_id;
		return;
	}
	hold(rp);
	ret = binding_start(rp->binding, rp->ifname, rp->local);
	if (ret < 0)
		log_warning("profile %u (%s): re-REGISTER failed to start: %s", rp->p->id,
			    pname(rp), strerror(-ret));
	/* What the old binding registered and the new one does not is
	 * removed once the new one is registered. */
	for (size_t i = 0; (uri = binding_get_known_contact(old, i, &ifname)); i++)
		contacts_mark_stale(&rp->contacts, uri,
				    iap_id_of_ifname(rp->r, ifname) ?: rp->iap_id);
	contacts_reset_pending(&rp->contacts);
	binding_free(old);
	log_info("profile %u (%s): minor update, registering again (binding %u)", rp->p->id,
		 pname(rp), rp->binding_id);
	if (ret < 0) {
		struct binding_event ev = {
			.type = BINDING_EVENT_STATE, .new_state = BINDING_IDLE,
			.error = BINDING_ERROR_INTERNAL, .code = ret,
			.reason = "cannot start the registration",
		};

		on_binding_event(rp->binding, &ev, rp);
	}
	release(rp);
}

int registry_update(struct registry *r, unsigned int id, const struct profile_patch *patch,
		    struct profile_error *err)
{
	struct profile_validate_ctx ctx = validate_ctx(r);
	struct reg_profile *rp = find(r, id);
	struct profile *old, *p;
	enum profile_change change;
	int ret;

	if (!rp)
		return -ENOENT;
	ret = refuse_busy(r, err);
	if (ret < 0)
		return ret;
	if (rp->deleting) {
		err_set(err, "id", "the profile is being deleted");
		return -EBUSY;
	}
	p = profile_dup(rp->p);
	if (!p)
		return -ENOMEM;
	ret = patch->apply(p, patch->data, err);
	if (ret == 0)
		ret = profile_validate(p, &ctx, err);
	if (ret == 0)
		ret = secret_seal_profile(p, err);
	if (ret < 0) {
		profile_free(p);
		return ret;
	}
	change = classify(rp, rp->p, p);
	ret = store_profile_update(r->store, p);
	if (ret < 0) {
		profile_free(p);
		err_set(err, "profile", "the store could not save it; see alrd's log");
		return ret == -ENOENT ? -EIO : ret;
	}
	hold(rp);
	old = rp->p;
	rp->p = p;
	rp->plugin = plugin_loader_find(r->plugins, (int)p->type_class, p->type_name);
	rp->suspended = false;
	rp->failed = false;
	rp->missing_reported = false;
	log_notice("profile %u (%s) updated (%s change)", id, pname(rp),
		   profile_change_to_str(change));
	if (p->is_default && !old->is_default)
		drop_other_defaults(r, id);
	/* the registration state carries over */
	profile_set_registered(p, (const char *const *)old->registered_aors.v,
			       old->registered_aors.n, rp->contact);
	profile_free(old);
	emit_simple(rp, REGISTRY_EVENT_UPDATED);

	switch (rp->state) {
	case REGISTRY_REGISTERING:
	case REGISTRY_REGISTERED:
		if (change == PROFILE_CHANGE_MAJOR) {
			rp->restart_after_stop = true;
			stop(rp);
		} else if (change == PROFILE_CHANGE_MINOR && wanted(rp)) {
			reregister(rp);
		}
		break;
	case REGISTRY_WAIT_FOR_IAP:
	case REGISTRY_UNREGISTERED:
		/* The next binding takes the new values; what the old one
		 * may have left (a registration over a lost IAP) is stale. */
		if (change != PROFILE_CHANGE_NONE)
			release_binding(rp);
		break;
	case REGISTRY_UNREGISTERING:
		if (change != PROFILE_CHANGE_NONE)
			rp->restart_after_stop = true;
		break;
	case _REGISTRY_STATE_MAX:
		assert(!"no such state");
		break;
	}
	reconcile(rp);
	release(rp);
	return 0;
}

int registry_delete(struct registry *r, unsigned int id, registry_done_fn done, void *user_data)
{
	struct reg_profile *rp = find(r, id);

	if (!rp)
		return -ENOENT;
	if (registry_busy(r, NULL) || rp->deleting)
		return -EBUSY;
	rp->deleting = true;
	rp->delete_done = done;
	rp->delete_data = user_data;
	log_info("profile %u (%s): deleting", id, pname(rp));
	reconcile(rp);
	schedule_housekeeping(r);
	return 0;
}

static bool has_user(const struct reg_profile *rp, uint64_t user, size_t *ret_i)
{
	for (size_t i = 0; i < rp->n_users; i++)
		if (rp->users[i] == user) {
			if (ret_i)
				*ret_i = i;
			return true;
		}
	return false;
}

int registry_enable(struct registry *r, unsigned int id, uint64_t user)
{
	struct reg_profile *rp = find(r, id);

	if (!rp)
		return -ENOENT;
	if (registry_busy(r, NULL) || rp->deleting)
		return -EBUSY;
	if (!has_user(rp, user, NULL)) {
		uint64_t *v;

		if (rp->n_users >= MAX_USERS)
			return -EUSERS;
		v = realloc(rp->users, (rp->n_users + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		rp->users = v;
		v[rp->n_users++] = user;
		log_info("profile %u (%s): enabled by user %llu (%zu user%s)", id, pname(rp),
			 (unsigned long long)user, rp->n_users, rp->n_users == 1 ? "" : "s");
	}
	rp->suspended = false;
	rp->failed = false;
	rp->missing_reported = false;
	reconcile(rp);
	return 0;
}

static void drop_user(struct reg_profile *rp, size_t i)
{
	rp->users[i] = rp->users[--rp->n_users];
	log_info("profile %u (%s): a user left (%zu left)", rp->p->id, pname(rp), rp->n_users);
}

int registry_disable(struct registry *r, unsigned int id, uint64_t user)
{
	struct reg_profile *rp = find(r, id);
	size_t i;

	if (!rp)
		return -ENOENT;
	if (registry_busy(r, NULL))
		return -EBUSY;
	if (!has_user(rp, user, &i))
		return -ENOENT;
	drop_user(rp, i);
	reconcile(rp);
	return 0;
}

void registry_release_user(struct registry *r, uint64_t user)
{
	for (size_t k = 0; k < r->n; k++) {
		struct reg_profile *rp = r->v[k];
		size_t i;

		if (!has_user(rp, user, &i))
			continue;
		drop_user(rp, i);
		reconcile(rp);
	}
}

int registry_force_disable(struct registry *r, unsigned int id)
{
	struct reg_profile *rp = find(r, id);

	if (!rp)
		return -ENOENT;
	if (registry_busy(r, NULL))
		return -EBUSY;
	hold(rp);
	rp->n_users = 0;
	rp->suspended = true;
	log_notice("profile %u (%s): forcibly disabled", id, pname(rp));
	emit_simple(rp, REGISTRY_EVENT_FORCIBLY_DISABLED);
	reconcile(rp);
	release(rp);
	return 0;
}

int registry_set_default(struct registry *r, unsigned int id)
{
	struct reg_profile *rp = find(r, id);
	int ret;

	if (!rp)
		return -ENOENT;
	if (registry_busy(r, NULL))
		return -EBUSY;
	if (rp->p->is_default)
		return 0;
	ret = store_set_default_profile(r->store, id);
	if (ret < 0)
		return ret == -ENOENT ? -EIO : ret;
	rp->p->is_default = true;
	log_info("profile %u (%s) is the default", id, pname(rp));
	drop_other_defaults(r, id);
	emit_simple(rp, REGISTRY_EVENT_UPDATED);
	return 0;
}

static void free_profiles(struct profile **ps, size_t n)
{
	for (size_t i = 0; ps && i < n; i++)
		profile_free(ps[i]);
	free(ps);
}

struct profile_validate_ctx registry_validate_ctx(struct registry *r)
{
	return validate_ctx(r);
}

int registry_import(struct registry *r, struct profile **ps, size_t n, unsigned int **ret_ids,
		    char *errbuf, size_t errsize)
{
	struct reg_profile **rps = NULL;
	unsigned int *ids = NULL, old_default = 0;
	size_t done = 0;
	int ret;

	if (registry_busy(r, NULL)) {
		snprintf(errbuf, errsize, "%s", r->restoring ?
			 "restore in progress: changes are refused until it finishes" :
			 "alrd is stopping: changes are refused");
		free_profiles(ps, n);
		return -EBUSY;
	}
	ret = check_room(r, n, true, errbuf, errsize);
	if (ret < 0) {
		free_profiles(ps, n);
		return ret;
	}
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i]->p->is_default)
			old_default = r->v[i]->p->id;
	ids = calloc(n ? n : 1, sizeof(*ids));
	rps = calloc(n ? n : 1, sizeof(*rps));
	if (!ids || !rps) {
		ret = -ENOMEM;
		snprintf(errbuf, errsize, "out of memory");
		goto undo;
	}
	for (size_t i = 0; i < n; i++) {
		struct profile_error pe;

		ret = secret_seal_profile(ps[i], &pe);
		if (ret < 0) {
			snprintf(errbuf, errsize, "profile %zu of %zu: %s: %s; nothing was imported",
				 i + 1, n, pe.field, pe.reason);
			goto undo;
		}
	}
	/* All or nothing: insert each; on a failure delete what went in. */
	for (done = 0; done < n; done++) {
		ret = store_profile_insert(r->store, ps[done]);
		if (ret < 0) {
			snprintf(errbuf, errsize, "profile %zu of %zu: the store could not save it; "
				 "nothing was imported", done + 1, n);
			goto undo;
		}
		ids[done] = ps[done]->id;
	}
	for (size_t i = 0; i < n; i++) {
		rps[i] = rp_new(r, ps[i]);
		if (!rps[i]) {
			ret = -ENOMEM;
			snprintf(errbuf, errsize, "out of memory; nothing was imported");
			goto undo;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (list_insert(r, rps[i]) < 0) {
			/* Unwind the ones already in the list. */
			for (size_t j = 0; j < i; j++)
				list_remove(r, rps[j]);
			ret = -ENOMEM;
			snprintf(errbuf, errsize, "out of memory; nothing was imported");
			goto undo;
		}
	}
	for (size_t i = 0; i < n; i++) {
		log_notice("profile %u (%s) imported", rps[i]->p->id, pname(rps[i]));
		if (rps[i]->p->is_default)
			drop_other_defaults(r, rps[i]->p->id);
		emit_simple(rps[i], REGISTRY_EVENT_CREATED);
	}
	for (size_t i = 0; i < n; i++)
		reconcile(rps[i]);
	free(rps);
	free(ps);
	*ret_ids = ids;
	return 0;
undo:
	for (size_t i = 0; i < done; i++)
		store_profile_delete(r->store, ids[i]);
	if (old_default)
		store_set_default_profile(r->store, old_default);
	for (size_t i = 0; rps && i < n; i++) {
		if (rps[i]) {
			rp_free(rps[i]);
			ps[i] = NULL;
		}
	}
	free(rps);
	free(ids);
	free_profiles(ps, n);
	return ret;
}

int registry_restore(struct registry *r, const char *path, registry_done_fn done,
		     void *user_data, char *errbuf, size_t errsize)
{
	int ret;

	if (registry_busy(r, NULL)) {
		snprintf(errbuf, errsize, "%s", r->restoring ?
			 "restore in progress: changes are refused until it finishes" :
			 "alrd is stopping");
		return -EBUSY;
	}
	/* Check first: a bad file must not cost the registrations. */
	ret = store_validate_file(path, errbuf, errsize);
	if (ret < 0)
		return ret;
	r->restore_path = strdup(path);
	if (!r->restore_path) {
		snprintf(errbuf, errsize, "out of memory");
		return -ENOMEM;
	}
	log_notice("restoring the store from %s: deregistering every profile", path);
	r->restoring = true;
	r->barrier = BARRIER_RESTORE;
	r->barrier_done = done;
	r->barrier_data = user_data;
	for (size_t i = 0; i < r->n; i++)
		reconcile(r->v[i]);
	schedule_housekeeping(r);
	return 0;
}

void registry_shutdown(struct registry *r, registry_done_fn done, void *user_data)
{
	if (r->barrier == BARRIER_RESTORE && r->barrier_done)
		r->barrier_done(-ECANCELED, "alrd is stopping", r->barrier_data);
	r->stopping = true;
	r->restoring = false;
	r->barrier = BARRIER_SHUTDOWN;
	r->barrier_done = done;
	r->barrier_data = user_data;
	for (size_t i = 0; i < r->n; i++)
		reconcile(r->v[i]);
	schedule_housekeeping(r);
}
