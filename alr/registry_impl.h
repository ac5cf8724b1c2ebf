/* Private to alr/registry.c and alr/registry_driver.c: the registry's
 * objects and what the two files call of each other.  Nothing else
 * includes it (the public API is alr/registry.h).
 *
 * registry.c is the list: profiles by id, their users and the inputs of
 * the one machine (whether a profile is wanted, rp_reconcile()), create,
 * update, delete, import, restore, shutdown.  registry_driver.c is the
 * engine's SIP side: the profile's binding (shaped by its plugin), the
 * engine's ops on it, the binding's outcomes as engine inputs, the stale
 * contacts, IAP events, and the plugins' host table. */
#pragma once

#include <ev.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alr/contacts.h"
#include "alr/iap_table.h"
#include "alr/registry.h"
#include "alr/roam.h"
#include "base/watchlist.h"
#include "sip/binding.h"
#include "sip/sipmsg.h"

struct iap;
struct snap_iap_view;

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

/* A binding event, copied: handled at the outermost registry_leave(). */
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
	const struct alr_plugin *plugin;        /* NULL: none serves the type */
	struct alr_plugin_reg handle;
	char contact_user[48];
	char instance[64];

	/* Inputs of rp_wanted() beside the profile's auto_register. */
	uint64_t *users;
	size_t n_users;
	bool suspended;                 /* force-disabled */
	bool failed;                    /* permanent error: wait for a change */
	bool deleting;
	registry_done_fn delete_done;
	void *delete_data;

	bool missing_reported;          /* profile.error for a missing plugin sent */
	bool in_engine;                 /* enabled in the engine (wanted there) */
	struct roam_profile_config roam_cfg;    /* ... with this (name unset) */
	bool restart_after_stop;        /* a new binding once the engine stopped it */
	bool stopped;                   /* the engine left it UNREGISTERED: follow-up due */

	struct binding *binding;
	unsigned int binding_id;
	char *call_id;                  /* continue with these (persisted) */
	uint32_t cseq;
	bool start_pending;             /* the REGISTER waits for the removals */
	bool deregistering;             /* binding_stop() for the engine is out */
	bool removing_old;              /* the engine waits for roam_sip_old_removed() */
	int old_error;                  /* the first failed removal while removing_old */
	unsigned int probe_iap;         /* a query for the engine's probe is out over it */

	/* proxy_from_dhcp (alr/registry_dhcp.c): the IAP whose discovery
	 * the engine's REGISTER waits for (0: none), and where the proxy
	 * in use came from, for the state. */
	unsigned int dhcp_wait;
	unsigned int proxy_iap;         /* learned over it by DHCP; 0: not */
	char proxy_note[288];           /* "": nothing to say */

	unsigned int iap_id;            /* where the binding is (0: nowhere) */
	char ifname[IFNAMSIZ];
	char local[INET6_ADDRSTRLEN];
	char *contact;                  /* registered */
	unsigned int expires;
	/* Where clients were last told it is registered (profile.migrated
	 * says from where to where when that changes). */
	unsigned int told_iap;
	char told_local[INET6_ADDRSTRLEN];
	char *told_contact;

	/* Every contact alrd registered and has not seen removed, written
	 * through to the store; the stale ones (left by an earlier run, an
	 * older binding, another IAP) are removed with expires=0 when a
	 * path allows. */
	struct contacts contacts;

	bool has_error;
	int err_code;
	char err_kind[32];
	char err_message[256];

	ev_timer roam_timer;            /* the engine's one timer for this profile */
	/* Binding events waiting for the outermost registry_leave(): [q_head, q_head
	 * + q_n) of q_cap slots.  Grows; never drops one (a lost edge would
	 * put the engine and the binding out of step). */
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
	unsigned int max_profiles;      /* 0: no limit */
	unsigned int registration_check_ms;     /* binding_config.check_ms */

	struct reg_profile **v;         /* by id */
	size_t n, cap;
	struct watchlist watches;
	unsigned int iap_watch;

	const struct policy_set *snaps;         /* borrowed: the daemon's SNAPs, or NULL */
	struct snap_iap_view *views;
	size_t n_views_cap;

	/* The one machine (alr/roam.h): each wanted profile's state. */
	struct roam *roam;
	struct policy_set *own_set;     /* the default SNAP alone, until registry_set_snaps() */
	unsigned int depth;             /* registry_enter()/registry_leave() nesting */
	registry_roam_fn roam_fn;
	void *roam_data;

	/* DHCP SIP server discovery, per IAP (alr/registry_dhcp.c). */
	struct dhcp_iap **dhcp;
	size_t n_dhcp;

	ev_idle housekeeping;
	bool restoring;
	bool stopping;
	enum barrier_kind barrier;
	registry_done_fn barrier_done;
	void *barrier_data;
	char *restore_path;
};

/* ---- registry.c --------------------------------------------------------- */

/* The one re-entrancy rule (registry.c, at the top): every way into the
 * registry is bracketed by these; the outermost leave runs the queued
 * binding events and the follow-up of stopped profiles. */
void registry_enter(struct registry *r);
void registry_leave(struct registry *r);
struct reg_profile *registry_lookup(const struct registry *r, unsigned int id);
void registry_emit(struct registry *r, const struct registry_event *ev);
void registry_schedule_housekeeping(struct registry *r);
/* The IAP table as the engine sees it, in r->views; 0 or -ENOMEM. */
int registry_build_views(struct registry *r, size_t *ret_n);

const char *rp_name(const struct reg_profile *rp);
/* The engine's view of a profile (ROAM_UNREGISTERED when it has none). */
enum roam_state rp_phase(const struct reg_profile *rp);
enum roam_registration rp_registration(const struct reg_profile *rp);
/* Neither in the engine nor on the way out of it. */
bool rp_idle(const struct reg_profile *rp);
bool rp_wanted(const struct reg_profile *rp);
/* Bring the engine in line with the inputs (inside the registry only). */
void rp_reconcile(struct reg_profile *rp);
void rp_roam_config(const struct reg_profile *rp, struct roam_profile_config *ret);
/* Remember the last error and tell observers (profile.error). */
void rp_set_error(struct reg_profile *rp, int code, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---- registry_driver.c -------------------------------------------------- */

extern const struct roam_ops driver_roam_ops;

/* A binding shaped by the plugin; 0 or a negative errno with the
 * profile's error set. */
int driver_make_binding(struct reg_profile *rp);
/* Stop using the binding: its contacts become stale (removed later). */
void driver_release_binding(struct reg_profile *rp);
/* A minor update: a re-REGISTER with the new values, same socket. */
void driver_reregister(struct reg_profile *rp);
/* Remove the stale contacts where a path allows. */
void driver_cleanup_stale(struct reg_profile *rp);
/* A queued binding event, at the outermost registry_leave(). */
void driver_handle_bevent(struct reg_profile *rp, const struct bevent *ev);
void driver_plugin_message(struct reg_profile *rp, int status);
void driver_plugin_deregistered(struct reg_profile *rp);
void driver_roam_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
void driver_on_iap_event(enum iap_event event, const struct iap *iap, void *ud);
void driver_scratch_release(struct alr_plugin_reg *reg);
void driver_host_set_data(struct alr_plugin_reg *reg, void *data, void (*destroy)(void *));
/* The destination family of the profile's first hop in use (AF_INET6
 * for a bracketed host, else AF_UNSPEC) and an address of @iap in it. */
int rp_dest_family(const struct reg_profile *rp);
bool iap_pick_local(const struct iap *iap, int family, char *buf, size_t size);

/* ---- registry_dhcp.c ---------------------------------------------------- */

struct dhcp_iap;
struct driver_proxies {
	char *v[BINDING_PROXIES_MAX];   /* malloc'ed URIs */
	size_t n;
};
void driver_dhcp_proxies_clear(struct driver_proxies *p);
/* The outbound proxies for @rp over @iap (proxy_from_dhcp): 0 with @ret
 * the URIs of the servers the network named, in its order, or none (the
 * network named none: the configured proxy, or the usual resolution),
 * and *ret_family the local address family the first asks for
 * (unchanged for a name); -EINPROGRESS while the network is asked
 * (driver_go_after_dhcp() follows). */
int driver_dhcp_proxy(struct reg_profile *rp, const struct iap *iap,
		      struct driver_proxies *ret, int *ret_family);
/* An IAP event, before the engine hears it: the discovery of an IAP gone
 * or changed is dropped. */
void driver_dhcp_iap_event(struct registry *r, enum iap_event event, const struct iap *iap);
/* After the engine heard it: every IAP a profile with proxy_from_dhcp may
 * use is asked, if it has not been. */
void driver_dhcp_prefetch(struct registry *r);
void driver_dhcp_free_all(struct registry *r);
/* registry_driver.c: the engine's REGISTER over @iap_id again, once its
 * discovery finished. */
void driver_go_after_dhcp(struct reg_profile *rp, unsigned int iap_id);
