/*
 * The profile registry: the profiles in memory, their registration
 * lifecycle and their events (DESIGN §3, §4; docs/protocol.md "Profiles").
 *
 * A profile is registered while it is wanted: it has auto-registration,
 * or at least one user (a control client that called profile.enable), and
 * it has not been force-disabled.  Each registered profile holds one SIP
 * binding (sip/binding.h) shaped by its type's plugin (include/alr/
 * plugin.h) over one IAP, chosen by the roaming engine (alr/roam.h): the
 * registry enables the profile in it and carries out its SIP requests.
 *
 * One machine: a profile's state is the engine's (alr/roam.h, the eight
 * states of docs/roaming.md).  The registry decides whether a profile is
 * wanted (auto or users, not force-disabled, not failed, not being
 * deleted, no restore or shutdown running, a plugin serves its type) and
 * enables or disables it there with the reason of its
 * profile.deregistered.  Clients see UNREGISTERED, REGISTERING
 * (WAIT_FOR_IAP included), REGISTERED and UNREGISTERING
 * (roam_profile_registration_state()).  A permanent failure (403, 404,
 * wrong credentials) leaves the profile UNREGISTERED with its error until
 * it is updated, enabled again, or a network comes up.
 *
 * What alrd registered is persisted (store_contact_*) through the
 * profile's one contact list (alr/contacts.h), which the binding reads
 * and reports to.  At start the registry reads it back: every stored
 * contact the registrar may still hold is removed (expires=0) over an
 * available IAP -- for a profile that registers again, before its new
 * REGISTER, which continues the stored Call-ID above the stored CSeq (so
 * the registrar takes it, RFC 3261 §10.3 step 7) -- (DESIGN §3.8).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alr/plugin.h"
#include "alr/profile.h"
#include "alr/roam.h"

struct ev_loop;
struct store;
struct iap;
struct iap_table;
struct plugin_loader;
struct sip_stack;
struct binding_ops;
struct registry;

enum registry_event_type {
	REGISTRY_EVENT_CREATED,
	REGISTRY_EVENT_UPDATED,
	REGISTRY_EVENT_DESTROYED,
	REGISTRY_EVENT_REGISTERED,
	REGISTRY_EVENT_DEREGISTERED,
	REGISTRY_EVENT_FORCIBLY_DISABLED,
	REGISTRY_EVENT_ERROR,
	REGISTRY_EVENT_MIGRATED,        /* after REGISTERED or UPDATED: it moved */
	_REGISTRY_EVENT_MAX,
};

/* "profile.created", ... (the control protocol's event names). */
const char *registry_event_to_str(enum registry_event_type t);

/* One event.  Pointers are valid during the call only; never a secret. */
struct registry_event {
	enum registry_event_type type;
	unsigned int id;                /* the profile */
	unsigned int iap_id;            /* REGISTERED */
	const char *contact;            /* REGISTERED */
	unsigned int expires;           /* REGISTERED: granted seconds */
	enum roam_reason reason;        /* DEREGISTERED */
	int code;                       /* ERROR: SIP status, or 0 */
	const char *kind;               /* ERROR: "authentication", "no-plugin", ... */
	const char *message;            /* ERROR: for people */
	/* MIGRATED: where the profile was registered last (announced), and
	 * where it is now: the IAP, its local address, the contact. */
	unsigned int from_iap_id;
	const char *from_local, *from_contact;
	const char *local;              /* MIGRATED (iap_id, contact: the new) */
};

typedef void (*registry_event_fn)(const struct registry_event *ev, void *user_data);

/* Called once when an asynchronous operation (delete, restore, shutdown)
 * finished: 0, or a negative errno with @message saying why. */
typedef void (*registry_done_fn)(int result, const char *message, void *user_data);

struct registry_config {
	struct ev_loop *loop;
	struct store *store;
	struct iap_table *iaps;
	struct plugin_loader *plugins;
	/* Bindings run on @stack, or (tests) on @binding_ops with @ops_env. */
	struct sip_stack *stack;
	const struct binding_ops *binding_ops;
	void *ops_env;
	/* Per-install random bytes from which each profile's stable contact
	 * user part and +sip.instance are derived (copied). */
	const unsigned char *install_key;
	size_t install_key_len;
	/* How long a deregistration may take before alrd gives up on it
	 * (the contacts it leaves are removed later); 0: 2 s. */
	double stop_timeout;
	/* At most this many profiles: profile.create and profile.import
	 * beyond it get -EDQUOT.  0: no limit. */
	unsigned int max_profiles;
	/* Bindings over UDP check every this many ms that the registrar
	 * still lists them (binding_config.check_ms); 0: never. */
	unsigned int registration_check_ms;
};

/* The plugin host table (include/alr/plugin.h) the registry serves; give
 * it to plugin_loader_new(). */
const struct alr_plugin_host *registry_plugin_host(void);

struct registry *registry_new(const struct registry_config *cfg);
/* Frees every profile and binding without deregistering (call
 * registry_shutdown() first for that).  Returns NULL. */
struct registry *registry_free(struct registry *r);

/*
 * Load the profiles from the store (profile.created each), clean up the
 * contacts left at registrars by an earlier run, and register what is
 * wanted.  0 or negative errno (logged).
 */
int registry_load(struct registry *r);

/* The SNAPs profiles may name (policy/policy.h), borrowed until the next
 * call: call it with the new set before freeing the old one. */
struct policy_set;
void registry_set_snaps(struct registry *r, const struct policy_set *set);

/* A new limit (reload); 0: none.  Profiles beyond it stay: only new ones
 * are refused. */
void registry_set_max_profiles(struct registry *r, unsigned int max);
/* A reload: bindings made from now on check this often (0: never). */
void registry_set_registration_check(struct registry *r, unsigned int ms);

unsigned int registry_watch(struct registry *r, registry_event_fn fn, void *user_data,
			    void (*destroy)(void *));
bool registry_unwatch(struct registry *r, unsigned int id);

/* ---- reading ---------------------------------------------------------- */

size_t registry_count(const struct registry *r);
/* The i-th profile in id order, or NULL. */
const struct profile *registry_profile_at(const struct registry *r, size_t i);
const struct profile *registry_find(const struct registry *r, unsigned int id);
/* The engine's state of profile @id (ROAM_UNREGISTERED: none, or not
 * wanted and done). */
enum roam_state registry_get_state(const struct registry *r, unsigned int id);
size_t registry_get_users(const struct registry *r, unsigned int id);
#define REGISTRY_REPORT_MAX 512

/* What a client sees of profile @id beside the profile itself: the
 * read-only "state" of docs/protocol.md (daemon/profile-json.h writes it).
 * Pointers are borrowed until the next registry call. */
struct registry_profile_status {
	const struct profile *profile;
	enum roam_state state;          /* the engine's (the one machine) */
	const char *registration;       /* roam_registration_to_name() */
	const char *phase;              /* roam_state_to_phase() */
	unsigned int iap_id;            /* where the binding is; 0: nowhere */
	const char *contact;            /* NULL unless registered */
	unsigned int expires;           /* 0 unless registered */
	size_t users;
	bool auto_register;             /* auto_register and not suspended */
	bool suspended;                 /* force-disabled */
	bool held_by_calls;             /* a better IAP waits for its calls */
	bool has_error;                 /* then the last error: */
	int err_code;
	const char *err_kind;
	const char *err_message;
	const char *plugin;             /* the serving plugin's name; NULL: none */
	char report[REGISTRY_REPORT_MAX];       /* the plugin's state report; "": none */
	const char *contact_user;
	const char *instance;
	char targets[256];              /* binding_get_targets(); "": none */
	const char *proxy;              /* the outbound proxy in use, or NULL */
	unsigned int proxy_iap;         /* named by DHCP over it; 0: configured */
	const char *dhcp;               /* what DHCP said (proxy_from_dhcp), or NULL */
};
/* 0, or -ENOENT if there is no profile @id. */
int registry_profile_status(struct registry *r, unsigned int id,
			    struct registry_profile_status *ret);
/* The stable contact user part and instance URN of profile @id. */
int registry_identity(const struct registry *r, unsigned int id, const char **ret_user,
		      const char **ret_instance);

/* The profile whose contact user part is @user (registry_identity()):
 * requests that reach alrd's contacts are routed by it.  0: none. */
unsigned int registry_find_by_contact_user(const struct registry *r, const char *user);
/* Profile @id's binding (its dialogs go where it registers:
 * binding_get_route(), binding_authorize()), or NULL. */
struct binding *registry_binding(const struct registry *r, unsigned int id);

/* A restore or shutdown is running: changes are refused. */
bool registry_busy(const struct registry *r, const char **ret_why);

/* ---- changing --------------------------------------------------------- */

/* Errors of the changing functions: -EINVAL with @err naming the field
 * (profile_error), -ENOENT (no such profile), -EBUSY (restore or shutdown
 * running; @err says which), -EDQUOT (create and import: max_profiles
 * reached; @err says so), -ENOMEM, -EIO (the store failed; logged). */

/* Create from a client's profile (alr/profile.h, struct profile_patch):
 * the plugin's defaults, then @patch, validated with the running daemon's
 * plugins, SNAPs and IAPs.  *@ret_id set on success. */
int registry_create(struct registry *r, const struct profile_patch *patch,
		    unsigned int *ret_id, struct profile_error *err);
/* Apply a partial change.  A registered profile is registered again per
 * the update's class (minor: re-REGISTER; major: deregister, then
 * register). */
int registry_update(struct registry *r, unsigned int id, const struct profile_patch *patch,
		    struct profile_error *err);
/* Deregister, then delete.  @done is called once it is gone (possibly
 * before this returns).  -ENOENT, -EBUSY (already being deleted). */
int registry_delete(struct registry *r, unsigned int id, registry_done_fn done,
		    void *user_data);

/* Users: @user is any key that identifies one (a control client id).
 * Enabling twice counts once.  Enabling lifts a force-disable. */
int registry_enable(struct registry *r, unsigned int id, uint64_t user);
/* -ENOENT also when @user does not use the profile. */
int registry_disable(struct registry *r, unsigned int id, uint64_t user);
/* A user went away: its uses end. */
void registry_release_user(struct registry *r, uint64_t user);
/* Deregister now, drop every user, and keep auto-registration off until
 * the profile is enabled or updated (or alrd restarts). */
int registry_force_disable(struct registry *r, unsigned int id);
/* Make @id the default profile (the others lose the flag). */
int registry_set_default(struct registry *r, unsigned int id);

/* The checks of create and update against the running daemon (plugins,
 * SNAPs, IAPs), for profile_validate() of profiles read elsewhere (an
 * import).  Valid until the registry changes. */
struct profile_validate_ctx registry_validate_ctx(struct registry *r);
/* Import @n profiles (profile_new()s validated with
 * registry_validate_ctx(); export and import text: daemon/profile-text.h):
 * all created, or none.  Takes @ps (malloc'ed) and the profiles in it,
 * whatever the result.  *@ret_ids (malloc'ed, @n of them) are the new
 * ids; errors as above with @errbuf filled. */
int registry_import(struct registry *r, struct profile **ps, size_t n, unsigned int **ret_ids,
		    char *errbuf, size_t errsize);

/*
 * Replace the store's content with the database at @path (store_restore()):
 * the file is checked first; then every profile is deregistered (reason
 * restore) and destroyed, the store swapped, the profiles loaded
 * (profile.created) and the wanted ones registered.  Changes are refused
 * meanwhile (registry_busy()).  0 when started (@done follows), or a
 * negative errno with @errbuf filled and nothing changed.
 */
int registry_restore(struct registry *r, const char *path, registry_done_fn done,
		     void *user_data, char *errbuf, size_t errsize);

/* Deregister everything (reason shutdown), each for at most the stop
 * timeout; @done once all are unregistered. */
void registry_shutdown(struct registry *r, registry_done_fn done, void *user_data);

/* ---- roaming (alr/roam.h, docs/roaming.md) ----------------------------- */

/*
 * The registry owns one roaming engine: every registered profile is
 * enabled in it (its SNAP, or its fixed IAP, and its bearer), and the
 * engine chooses the IAP a profile registers over, offers better ones to
 * the profile's controllers and migrates it.  Its events (alr.*,
 * profile.updated; profile.registered and profile.deregistered come from
 * the registry's own events) go to @fn.
 */
struct roam_event;
typedef void (*registry_roam_fn)(const struct roam_event *ev, void *user_data);
void registry_set_roam_handler(struct registry *r, registry_roam_fn fn, void *user_data);

enum registry_alr_op {
	REGISTRY_ALR_CONTROL,
	REGISTRY_ALR_RELEASE,
	REGISTRY_ALR_ALLOW,
	REGISTRY_ALR_DISALLOW,
	REGISTRY_ALR_REFRESH,
};

/* A controller request (alr.control, ...) of client @client (not 0) for
 * profile @id (@iap: ALLOW and DISALLOW).  0, -ENOENT (no such profile,
 * or not enabled), -EPERM, -EINVAL, -EBUSY with @ret_message saying what
 * to do (roam_control() and the others). */
int registry_alr(struct registry *r, enum registry_alr_op op, unsigned int id,
		 unsigned int iap, unsigned int client, char *ret_message, size_t ret_size);
/* The client disconnected: it controls nothing any more. */
void registry_alr_client_gone(struct registry *r, unsigned int client);
bool registry_alr_is_controller(const struct registry *r, unsigned int id,
				unsigned int client);
/* Profile @id's calls through the edge now (edge/call.c, on each change):
 * its planned moves wait for them (roam_profile_calls()). */
void registry_profile_calls(struct registry *r, unsigned int id, unsigned int ringing,
			    unsigned int answered);

/* ---- the IAP seam ----------------------------------------------------- */

/* Every IAP now as SNAP rules see it (alr/snap.h), valid until the next
 * registry call; NULL on ENOMEM. */
struct snap_iap_view;
const struct snap_iap_view *registry_iap_views(struct registry *r, size_t *ret_n);

/* The roaming engine's order of SNAP @snap_id now, with the signal
 * hysteresis its profiles roam by (roam_snap_ranking()); NULL when the
 * engine has no such SNAP.  Valid until the next registry call. */
struct snap_ranking;
const struct snap_ranking *registry_snap_ranking(struct registry *r, unsigned int snap_id);
