/* The profile registry: the list of profiles, their users and the inputs
 * of their one machine (registry_impl.h says which half is where; the
 * engine's SIP side is alr/registry_driver.c).
 *
 * One machine.  A profile's state is the roaming engine's (alr/roam.h,
 * docs/roaming.md): the registry computes whether a profile is wanted
 * and enables or disables it there (rp_reconcile()); the driver carries
 * out the engine's SIP ops and turns the binding's outcomes into engine
 * inputs.  The engine logs each edge and emits profile.registered /
 * profile.deregistered / profile.updated, which the driver passes on
 * with the contact.
 *
 * XXX Over 1,200 lines: create, update and import validate against the
 * running daemon's plugins, SNAPs and IAPs and keep the store in step;
 * restore and shutdown wait for every profile to deregister.  A further
 * split (import and restore on their own) is noted in docs/roaming.md.
 *
 * The one re-entrancy rule: run to completion.  Every way into the
 * registry (a public call, an IAP event, a binding event, a timer, the
 * housekeeping idle) is bracketed by registry_enter()/registry_leave().
 * Binding events are queued where they arise (a binding may report from
 * inside binding_start()), and the engine's ops never call back into the
 * engine: they only act on bindings and note what is left to do.  The
 * queued events and the follow-up of a profile the engine left
 * UNREGISTERED run when the outermost registry_leave() is reached, in the
 * order they arose, each again inside the registry.
 *
 * Deletions and the end of a restore or shutdown run from an ev_idle
 * ("housekeeping"), never from inside a binding or IAP callback, so no
 * caller up the stack holds a profile that goes away. */
#include "alr/registry_impl.h"

static void rp_stopped(struct reg_profile *rp);
#include "alr/secret.h"

#include <assert.h>
#include <errno.h>
#include <ev.h>
#include <openssl/evp.h>
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

static const char *const event_names[_REGISTRY_EVENT_MAX] = {
	[REGISTRY_EVENT_CREATED] = "profile.created",
	[REGISTRY_EVENT_UPDATED] = "profile.updated",
	[REGISTRY_EVENT_DESTROYED] = "profile.destroyed",
	[REGISTRY_EVENT_REGISTERED] = "profile.registered",
	[REGISTRY_EVENT_MIGRATED] = "profile.migrated",
	[REGISTRY_EVENT_DEREGISTERED] = "profile.deregistered",
	[REGISTRY_EVENT_FORCIBLY_DISABLED] = "profile.forcibly-disabled",
	[REGISTRY_EVENT_ERROR] = "profile.error",
};

const char *registry_event_to_str(enum registry_event_type t)
{
	return (unsigned)t < _REGISTRY_EVENT_MAX ? event_names[t] : "profile.unknown";
}

void registry_enter(struct registry *r)
{
	r->depth++;
}

/* The outermost registry_leave() runs what was left to do (the rule above). */
void registry_leave(struct registry *r)
{
	bool again = true;

	assert(r->depth > 0);
	if (r->depth > 1) {
		r->depth--;
		return;
	}
	while (again) {
		again = false;
		for (size_t i = 0; i < r->n; i++) {
			struct reg_profile *rp = r->v[i];

			if (rp->q_n) {
				struct bevent ev = rp->queue[rp->q_head];

				rp->q_head = --rp->q_n ? rp->q_head + 1 : 0;
				driver_handle_bevent(rp, &ev);
				again = true;
			}
			if (rp->stopped) {
				rp->stopped = false;
				rp_stopped(rp);
				again = true;
			}
		}
	}
	r->depth--;
}

/* The engine's view of a profile (ROAM_UNREGISTERED when it has none). */
enum roam_state rp_phase(const struct reg_profile *rp)
{
	return roam_profile_state(rp->r->roam, rp->p->id);
}

enum roam_registration rp_registration(const struct reg_profile *rp)
{
	return roam_profile_registration_state(rp->r->roam, rp->p->id);
}

/* Neither in the engine nor on the way out of it. */
bool rp_idle(const struct reg_profile *rp)
{
	return !rp->in_engine && rp_phase(rp) == ROAM_UNREGISTERED;
}

const char *rp_name(const struct reg_profile *rp)
{
	const char *aor = rp->p->aor ? rp->p->aor : "?";

	return strncasecmp(aor, "sip:", 4) == 0 ? aor + 4 :
	       strncasecmp(aor, "sips:", 5) == 0 ? aor + 5 : aor;
}

void registry_emit(struct registry *r, const struct registry_event *ev)
{
	WATCHLIST_NOTIFY(&r->watches, registry_event_fn, ev);
}

static void rp_emit(struct reg_profile *rp, enum registry_event_type type)
{
	struct registry_event ev = { .type = type, .id = rp->p->id };

	registry_emit(rp->r, &ev);
}

/* Remember the last error and tell observers (profile.error). */
void rp_set_error(struct reg_profile *rp, int code, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

void rp_set_error(struct reg_profile *rp, int code, const char *kind, const char *fmt, ...)
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
	registry_emit(rp->r, &ev);
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

struct reg_profile *registry_lookup(const struct registry *r, unsigned int id)
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

/* Every IAP now, as the SNAP rules see it (r->views). */
int registry_build_views(struct registry *r, size_t *ret_n)
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
	if (registry_build_views(r, ret_n) < 0)
		return NULL;
	return r->views;
}

const struct snap_ranking *registry_snap_ranking(struct registry *r, unsigned int snap_id)
{
	return roam_snap_ranking(r->roam, snap_id);
}

void rp_roam_config(const struct reg_profile *rp, struct roam_profile_config *ret);

/* ---- inputs of the machine ---------------------------------------------- */

/* Why the profile is being stopped, from what is going on. */
static enum roam_reason stop_reason(const struct reg_profile *rp)
{
	if (rp->r->stopping)
		return ROAM_REASON_SHUTDOWN;
	if (rp->r->restoring)
		return ROAM_REASON_RESTORE;
	if (rp->deleting)
		return ROAM_REASON_DELETED;
	if (rp->suspended)
		return ROAM_REASON_FORCED;
	if (rp->failed)
		return ROAM_REASON_ERROR;
	if (rp->restart_after_stop)
		return ROAM_REASON_UPDATE;
	return ROAM_REASON_DISABLED;
}

static bool user_wanted(const struct reg_profile *rp)
{
	return !rp->suspended && (rp->p->auto_register || rp->n_users > 0);
}

bool rp_wanted(const struct reg_profile *rp)
{
	const struct registry *r = rp->r;

	return !r->stopping && !r->restoring && !rp->deleting && !rp->failed && rp->plugin &&
	       user_wanted(rp);
}

static void report_missing_plugin(struct reg_profile *rp)
{
	char type[PROFILE_MAX_NAME + 16];

	if (rp->plugin || rp->missing_reported || !user_wanted(rp))
		return;
	rp->missing_reported = true;
	log_warning("profile %u (%s): no plugin serves type %s; it cannot register", rp->p->id,
		    rp_name(rp), profile_type_str(rp->p, type, sizeof(type)));
	rp_set_error(rp, 0, "no-plugin", "no plugin serves type '%s'; the profile cannot register "
		  "(is the plugin installed in alrd's plugin-dir?)",
		  profile_type_str(rp->p, type, sizeof(type)));
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
void rp_roam_config(const struct reg_profile *rp, struct roam_profile_config *ret)
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
		.name = rp_name(rp),
	};
}

/*
 * Bring the engine in line with the inputs: a wanted profile is enabled
 * there (with its SNAP, fixed IAP and bearer; a new one re-registers), a
 * profile no longer wanted is disabled with the reason of its
 * profile.deregistered.  Outside the engine, the stale contacts go.
 */
void rp_reconcile(struct reg_profile *rp)
{
	struct registry *r = rp->r;
	struct roam_profile_config cfg;
	bool was;
	size_t n;
	int ret;

	assert(r->depth > 0);
	report_missing_plugin(rp);
	if (!rp_wanted(rp)) {
		if (rp->in_engine) {
			rp->in_engine = false;
			roam_profile_disable(r->roam, rp->p->id, stop_reason(rp));
		} else if (rp_idle(rp)) {
			driver_cleanup_stale(rp);
		}
		return;
	}
	rp_roam_config(rp, &cfg);
	if (rp->in_engine && cfg.snap_id == rp->roam_cfg.snap_id &&
	    cfg.iap_id == rp->roam_cfg.iap_id && cfg.bearers == rp->roam_cfg.bearers)
		return;
	/* The engine's views may be older than the table (a first
	 * profile, an IAP event being handled). */
	if (registry_build_views(r, &n) == 0)
		roam_iaps_changed(r->roam, r->views, n);
	if (rp->in_engine)
		log_info("profile %u (%s): roaming now over SNAP %u, iap %u, bearers 0x%x",
			 rp->p->id, rp_name(rp), cfg.snap_id, cfg.iap_id, cfg.bearers);
	/* In the engine from here: its ops act on the profile at once. */
	was = rp->in_engine;
	rp->in_engine = true;
	ret = roam_profile_enable(r->roam, rp->p->id, &cfg);
	if (ret < 0) {
		log_warning("profile %u (%s): cannot roam: %s", rp->p->id, rp_name(rp),
			    strerror(-ret));
		rp->in_engine = was;
		return;
	}
	rp->roam_cfg = cfg;
	rp->roam_cfg.name = NULL;
}

/* The engine left the profile UNREGISTERED: the plugin hears of it, and
 * the inputs are looked at again (wanted again, stale contacts). */
static void rp_stopped(struct reg_profile *rp)
{
	driver_plugin_deregistered(rp);
	rp_reconcile(rp);
	registry_schedule_housekeeping(rp->r);
}

/* ---- binding outcomes -> the engine ------------------------------------- */

/* ---- the engine's ops: its SIP requests on the binding ------------------ *
 *
 * Called from inside the engine: they act on the binding and note what is
 * left to do; they never call the engine (the rule at the top). */

/* ---- IAP events --------------------------------------------------------- */

/* ---- profile objects ---------------------------------------------------- */

static struct reg_profile *rp_new(struct registry *r, struct profile *p)
{
	struct reg_profile *rp = calloc(1, sizeof(*rp));

	if (!rp)
		return NULL;
	rp->r = r;
	rp->p = p;
	rp->handle.rp = rp;
	contacts_init(&rp->contacts, r->store, p->id);
	rp->plugin = plugin_loader_find(r->plugins, (int)p->type_class, p->type_name);
	ev_timer_init(&rp->roam_timer, driver_roam_timer_cb, 0., 0.);
	derive_identity(rp);
	return rp;
}

static void rp_free(struct reg_profile *rp)
{
	if (!rp)
		return;
	ev_timer_stop(rp->r->loop, &rp->roam_timer);
	binding_free(rp->binding);
	driver_host_set_data(&rp->handle, NULL, NULL);
	driver_scratch_release(&rp->handle);
	contacts_clear(&rp->contacts);
	free(rp->queue);
	free(rp->users);
	free(rp->call_id);
	free(rp->contact);
	free(rp->told_contact);
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
			 "CSeq %u)", rp->p->id, rp_name(rp), n, n == 1 ? "" : "s",
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
	rp_emit(rp, REGISTRY_EVENT_CREATED);
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
		rp_reconcile(r->v[i]);
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
			 id, rp_name(rp), contacts_count_stale(&rp->contacts),
			 contacts_count_stale(&rp->contacts) == 1 ? "" : "s");
	list_remove(r, rp);
	log_notice("profile %u (%s) deleted", id, rp_name(rp));
	rp_free(rp);
	{
		struct registry_event ev = { .type = REGISTRY_EVENT_DESTROYED, .id = id };

		registry_emit(r, &ev);
	}
	if (done)
		done(0, NULL, data);
}

static bool all_unregistered(const struct registry *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (!rp_idle(r->v[i]))
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
		registry_emit(r, &ev);
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
	registry_enter(r);
	for (size_t i = 0; i < r->n;) {
		struct reg_profile *rp = r->v[i];

		if (rp->deleting && rp_idle(rp)) {
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
	registry_leave(r);
}

void registry_schedule_housekeeping(struct registry *r)
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
	r->max_profiles = cfg->max_profiles;
	r->registration_check_ms = cfg->registration_check_ms;
	if (cfg->install_key_len) {
		r->key = malloc(cfg->install_key_len);
		if (!r->key)
			goto fail;
		memcpy(r->key, cfg->install_key, cfg->install_key_len);
		r->key_len = cfg->install_key_len;
	}
	ev_idle_init(&r->housekeeping, housekeeping_cb);
	r->own_set = policy_set_new();
	r->roam = roam_new(&driver_roam_ops, r);
	if (!r->own_set || !r->roam || roam_snap_set(r->roam, r->own_set, NULL, 0) < 0)
		goto fail;
	roam_set_stop_timeout(r->roam, cfg->stop_timeout > 0 ?
				       (uint64_t)(cfg->stop_timeout * 1000.) : 0);
	r->iap_watch = iap_table_watch(r->iaps, driver_on_iap_event, r, NULL);
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
	driver_dhcp_free_all(r);
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
	int ret;

	registry_enter(r);
	ret = load_profiles(r);
	registry_leave(r);
	return ret;
}

void registry_set_max_profiles(struct registry *r, unsigned int max)
{
	r->max_profiles = max;
}

void registry_set_registration_check(struct registry *r, unsigned int ms)
{
	r->registration_check_ms = ms;
}

void registry_set_snaps(struct registry *r, const struct policy_set *set)
{
	const struct snap_iap_view *views;
	size_t n = 0;

	r->snaps = set;
	views = registry_iap_views(r, &n);
	registry_enter(r);
	if (roam_snap_set(r->roam, set ? set : r->own_set, views, views ? n : 0) < 0)
		log_warning("roam: out of memory taking the SNAPs; the old ones stay");
	registry_leave(r);
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

	if (!registry_lookup(r, id)) {
		snprintf(ret_message, ret_size, "no profile with id %u", id);
		return -ENOENT;
	}
	registry_enter(r);
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
	registry_leave(r);
	return ret;
}

void registry_profile_calls(struct registry *r, unsigned int id, unsigned int ringing,
			    unsigned int answered)
{
	roam_profile_calls(r->roam, id, ringing, answered);
}

void registry_alr_client_gone(struct registry *r, unsigned int client)
{
	registry_enter(r);
	roam_client_gone(r->roam, client);
	registry_leave(r);
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
	struct reg_profile *rp = registry_lookup(r, id);

	return rp ? rp->p : NULL;
}

enum roam_state registry_get_state(const struct registry *r, unsigned int id)
{
	return roam_profile_state(r->roam, id);
}

size_t registry_get_users(const struct registry *r, unsigned int id)
{
	struct reg_profile *rp = registry_lookup(r, id);

	return rp ? rp->n_users : 0;
}

int registry_identity(const struct registry *r, unsigned int id, const char **ret_user,
		      const char **ret_instance)
{
	struct reg_profile *rp = registry_lookup(r, id);

	if (!rp)
		return -ENOENT;
	if (ret_user)
		*ret_user = rp->contact_user;
	if (ret_instance)
		*ret_instance = rp->instance;
	return 0;
}

unsigned int registry_find_by_contact_user(const struct registry *r, const char *user)
{
	if (!r || !user)
		return 0;
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i]->contact_user, user) == 0)
			return r->v[i]->p->id;
	return 0;
}

struct binding *registry_binding(const struct registry *r, unsigned int id)
{
	struct reg_profile *rp = registry_lookup(r, id);

	return rp ? rp->binding : NULL;
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
	struct reg_profile *rp = registry_lookup(r, id);
	struct roam_profile_info info;
	bool registered;

	if (!rp)
		return -ENOENT;
	memset(ret, 0, sizeof(*ret));
	ret->profile = rp->p;
	ret->state = rp_phase(rp);
	ret->registration = roam_registration_to_name(rp_registration(rp));
	ret->phase = roam_state_to_phase(ret->state);
	registered = rp_registration(rp) == ROAM_REG_REGISTERED ||
		     rp_registration(rp) == ROAM_REG_UNREGISTERING;
	ret->iap_id = rp->iap_id;
	ret->contact = registered ? rp->contact : NULL;
	ret->expires = registered ? rp->expires : 0;
	ret->users = rp->n_users;
	ret->auto_register = rp->p->auto_register && !rp->suspended;
	ret->suspended = rp->suspended;
	if (roam_profile_get_info(r->roam, id, &info) == 0)
		ret->held_by_calls = info.held_by_calls;
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
		driver_scratch_release(&rp->handle);
	}
	ret->contact_user = rp->contact_user;
	ret->instance = rp->instance;
	binding_get_targets(rp->binding, ret->targets, sizeof(ret->targets));
	ret->proxy = binding_get_proxy(rp->binding);
	ret->proxy_iap = ret->proxy ? rp->proxy_iap : 0;
	ret->dhcp = rp->p->proxy_from_dhcp && rp->proxy_note[0] ? rp->proxy_note : NULL;
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
			rp_emit(o, REGISTRY_EVENT_UPDATED);
		}
	}
}

static int do_create(struct registry *r, const struct profile_patch *patch,
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
	log_notice("profile %u (%s) created", p->id, rp_name(rp));
	if (p->is_default)
		drop_other_defaults(r, p->id);
	rp_emit(rp, REGISTRY_EVENT_CREATED);
	if (ret_id)
		*ret_id = p->id;
	rp_reconcile(rp);
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

static int do_update(struct registry *r, unsigned int id, const struct profile_patch *patch,
		    struct profile_error *err)
{
	struct profile_validate_ctx ctx = validate_ctx(r);
	struct reg_profile *rp = registry_lookup(r, id);
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
	old = rp->p;
	rp->p = p;
	rp->plugin = plugin_loader_find(r->plugins, (int)p->type_class, p->type_name);
	rp->suspended = false;
	rp->failed = false;
	rp->missing_reported = false;
	log_notice("profile %u (%s) updated (%s change)", id, rp_name(rp),
		   profile_change_to_str(change));
	if (p->is_default && !old->is_default)
		drop_other_defaults(r, id);
	/* the registration state carries over */
	profile_set_registered(p, (const char *const *)old->registered_aors.v,
			       old->registered_aors.n, rp->contact);
	profile_free(old);
	rp_emit(rp, REGISTRY_EVENT_UPDATED);

	switch (rp_phase(rp)) {
	case ROAM_UNREGISTERED:
	case ROAM_WAIT_FOR_IAP:
		/* The next binding takes the new values; what the old one
		 * may have left (a registration over a lost IAP) is stale. */
		if (change != PROFILE_CHANGE_NONE)
			driver_release_binding(rp);
		break;
	case ROAM_UNREGISTERING:
		if (change != PROFILE_CHANGE_NONE)
			rp->restart_after_stop = true;
		break;
	case ROAM_REGISTERING:
	case ROAM_REGISTERED:
	case ROAM_WAIT_FOR_PERMISSION:
	case ROAM_MIGRATING:
	case ROAM_UNREGISTERING_OLD:
		if (change == PROFILE_CHANGE_MAJOR) {
			/* Deregistered (reason update), then registered anew
			 * with a new binding (op_state_changed()). */
			rp->restart_after_stop = true;
			if (rp->in_engine) {
				rp->in_engine = false;
				roam_profile_disable(r->roam, id, ROAM_REASON_UPDATE);
			}
		} else if (change == PROFILE_CHANGE_MINOR && rp_wanted(rp) && rp->binding &&
			   !rp->deregistering) {
			driver_reregister(rp);
		}
		break;
	case _ROAM_STATE_MAX:
		assert(!"no such state");
		break;
	}
	rp_reconcile(rp);
	return 0;
}

static int do_delete(struct registry *r, unsigned int id, registry_done_fn done, void *user_data)
{
	struct reg_profile *rp = registry_lookup(r, id);

	if (!rp)
		return -ENOENT;
	if (registry_busy(r, NULL) || rp->deleting)
		return -EBUSY;
	rp->deleting = true;
	rp->delete_done = done;
	rp->delete_data = user_data;
	log_info("profile %u (%s): deleting", id, rp_name(rp));
	rp_reconcile(rp);
	registry_schedule_housekeeping(r);
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

static int do_enable(struct registry *r, unsigned int id, uint64_t user)
{
	struct reg_profile *rp = registry_lookup(r, id);

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
		log_info("profile %u (%s): enabled by user %llu (%zu user%s)", id, rp_name(rp),
			 (unsigned long long)user, rp->n_users, rp->n_users == 1 ? "" : "s");
	}
	rp->suspended = false;
	rp->failed = false;
	rp->missing_reported = false;
	rp_reconcile(rp);
	return 0;
}

static void drop_user(struct reg_profile *rp, size_t i)
{
	rp->users[i] = rp->users[--rp->n_users];
	log_info("profile %u (%s): a user left (%zu left)", rp->p->id, rp_name(rp), rp->n_users);
}

static int do_disable(struct registry *r, unsigned int id, uint64_t user)
{
	struct reg_profile *rp = registry_lookup(r, id);
	size_t i;

	if (!rp)
		return -ENOENT;
	if (registry_busy(r, NULL))
		return -EBUSY;
	if (!has_user(rp, user, &i))
		return -ENOENT;
	drop_user(rp, i);
	rp_reconcile(rp);
	return 0;
}

static void do_release_user(struct registry *r, uint64_t user)
{
	for (size_t k = 0; k < r->n; k++) {
		struct reg_profile *rp = r->v[k];
		size_t i;

		if (!has_user(rp, user, &i))
			continue;
		drop_user(rp, i);
		rp_reconcile(rp);
	}
}

static int do_force_disable(struct registry *r, unsigned int id)
{
	struct reg_profile *rp = registry_lookup(r, id);

	if (!rp)
		return -ENOENT;
	if (registry_busy(r, NULL))
		return -EBUSY;
	rp->n_users = 0;
	rp->suspended = true;
	log_notice("profile %u (%s): forcibly disabled", id, rp_name(rp));
	rp_emit(rp, REGISTRY_EVENT_FORCIBLY_DISABLED);
	rp_reconcile(rp);
	return 0;
}

int registry_set_default(struct registry *r, unsigned int id)
{
	struct reg_profile *rp = registry_lookup(r, id);
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
	log_info("profile %u (%s) is the default", id, rp_name(rp));
	drop_other_defaults(r, id);
	rp_emit(rp, REGISTRY_EVENT_UPDATED);
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

static int do_import(struct registry *r, struct profile **ps, size_t n, unsigned int **ret_ids,
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
		log_notice("profile %u (%s) imported", rps[i]->p->id, rp_name(rps[i]));
		if (rps[i]->p->is_default)
			drop_other_defaults(r, rps[i]->p->id);
		rp_emit(rps[i], REGISTRY_EVENT_CREATED);
	}
	for (size_t i = 0; i < n; i++)
		rp_reconcile(rps[i]);
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

static int do_restore(struct registry *r, const char *path, registry_done_fn done,
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
		rp_reconcile(r->v[i]);
	registry_schedule_housekeeping(r);
	return 0;
}

static void do_shutdown(struct registry *r, registry_done_fn done, void *user_data)
{
	if (r->barrier == BARRIER_RESTORE && r->barrier_done)
		r->barrier_done(-ECANCELED, "alrd is stopping", r->barrier_data);
	r->stopping = true;
	r->restoring = false;
	r->barrier = BARRIER_SHUTDOWN;
	r->barrier_done = done;
	r->barrier_data = user_data;
	for (size_t i = 0; i < r->n; i++)
		rp_reconcile(r->v[i]);
	registry_schedule_housekeeping(r);
}

/* ---- public: the changing calls, each inside the registry (the rule at
 * the top) ---------------------------------------------------------------- */

int registry_create(struct registry *r, const struct profile_patch *patch,
		    unsigned int *ret_id, struct profile_error *err)
{
	int ret;

	registry_enter(r);
	ret = do_create(r, patch, ret_id, err);
	registry_leave(r);
	return ret;
}

int registry_update(struct registry *r, unsigned int id, const struct profile_patch *patch,
		    struct profile_error *err)
{
	int ret;

	registry_enter(r);
	ret = do_update(r, id, patch, err);
	registry_leave(r);
	return ret;
}

int registry_delete(struct registry *r, unsigned int id, registry_done_fn done, void *user_data)
{
	int ret;

	registry_enter(r);
	ret = do_delete(r, id, done, user_data);
	registry_leave(r);
	return ret;
}

int registry_enable(struct registry *r, unsigned int id, uint64_t user)
{
	int ret;

	registry_enter(r);
	ret = do_enable(r, id, user);
	registry_leave(r);
	return ret;
}

int registry_disable(struct registry *r, unsigned int id, uint64_t user)
{
	int ret;

	registry_enter(r);
	ret = do_disable(r, id, user);
	registry_leave(r);
	return ret;
}

void registry_release_user(struct registry *r, uint64_t user)
{
	registry_enter(r);
	do_release_user(r, user);
	registry_leave(r);
}

int registry_force_disable(struct registry *r, unsigned int id)
{
	int ret;

	registry_enter(r);
	ret = do_force_disable(r, id);
	registry_leave(r);
	return ret;
}

int registry_import(struct registry *r, struct profile **ps, size_t n, unsigned int **ret_ids,
		    char *errbuf, size_t errsize)
{
	int ret;

	registry_enter(r);
	ret = do_import(r, ps, n, ret_ids, errbuf, errsize);
	registry_leave(r);
	return ret;
}

int registry_restore(struct registry *r, const char *path, registry_done_fn done,
		     void *user_data, char *errbuf, size_t errsize)
{
	int ret;

	registry_enter(r);
	ret = do_restore(r, path, done, user_data, errbuf, errsize);
	registry_leave(r);
	return ret;
}

void registry_shutdown(struct registry *r, registry_done_fn done, void *user_data)
{
	registry_enter(r);
	do_shutdown(r, done, user_data);
	registry_leave(r);
}
