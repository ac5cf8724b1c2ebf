/*
 * The D-Bus interface (docs/dbus.md), in the style of NetworkManager and
 * ConnMan: org.alrd.Roaming1 with one object per IAP, profile and SNAP
 * under /org/alrd/Roaming1, an ObjectManager at the root, properties with
 * PropertiesChanged, and the controller role as methods of a profile.
 *
 * sd-bus in libev: an ev_io on the bus's fd with the events sd-bus asks
 * for, an ev_timer for its next timeout, both set again by an ev_prepare
 * before the loop sleeps (after whatever the turn queued for sending).
 * Nothing waits for the bus: the name, the matches and the callers'
 * credentials are asked for with asynchronous calls.
 *
 * Who may change things: root and the control groups, as on the socket
 * (daemon/control.c).  The caller's uid and groups come from the bus
 * (GetConnectionCredentials, which dbus-daemon takes from SO_PEERCRED and
 * SO_PEERGROUPS when the caller connects), asked once per caller; a
 * method that changes something waits for that answer.
 *
 * Over 1,200 lines: one boundary (the bus), whose three object kinds share
 * the vtable plumbing, the credential round trip and the signal mapping;
 * the seam, when it grows, is one file per object kind as the control
 * socket's api-*.c are.
 */
#include "daemon/dbus.h"

#include <errno.h>
#include <ev.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "alr/iap.h"
#include "alr/iap_table.h"
#include "alr/registry.h"
#include "alr/roam.h"
#include "alr/snap.h"
#include "base/log.h"
#include "base/util.h"
#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/daemon.h"
#include "nm/nmmon.h"
#include "policy/policy.h"

#define IFACE_DAEMON            DBUS_NAME
#define IFACE_IAP               DBUS_NAME ".IAP"
#define IFACE_PROFILE           DBUS_NAME ".Profile"
#define IFACE_SNAP              DBUS_NAME ".SNAP"
#define PATH_IAP                DBUS_PATH "/IAP"
#define PATH_PROFILE            DBUS_PATH "/Profile"
#define PATH_SNAP               DBUS_PATH "/SNAP"

#define ERR_BUSY                DBUS_NAME ".Error.Busy"
#define ERR_NOT_FOUND           DBUS_NAME ".Error.NotFound"
#define ERR_CONFIG              DBUS_NAME ".Error.Config"
#define ERR_FAILED              DBUS_NAME ".Error.Failed"

#define SYSTEM_BUS_DEFAULT      "unix:path=/run/dbus/system_bus_socket"
/* Messages handled in one loop turn; the rest in the next ones. */
#define PROCESS_BATCH           64

/* A bus that is not there (yet, or any more) is tried again after 1 s,
 * then twice as long each time, up to 30 s: dbus-daemon restarted comes
 * back within a second or two, a machine without a bus costs one connect()
 * every 30 s. */
#define RETRY_FIRST_S           1.
#define RETRY_MAX_S             30.
/* Calls of one caller waiting for its credentials. */
#define PEER_MAX_QUEUE          32

struct alr_dbus;
struct dbus_peer;

/* A method that changes something, run once the caller may. */
typedef int (*dbus_run_fn)(struct alr_dbus *b, struct dbus_peer *p, sd_bus_message *m,
			   sd_bus_error *err);

enum peer_state {
	PEER_ASKING,            /* GetConnectionCredentials sent */
	PEER_KNOWN,
	PEER_GONE,              /* left the bus; freed by the reaper */
};

/*
 * A caller of the changing methods, by its unique name.  Its id is the
 * registry's user and controller key: it counts down from UINT_MAX while
 * the control socket's client ids count up from 1 (docs/dbus.md,
 * "Controllers").
 */
struct dbus_peer {
	struct dbus_peer *next;
	struct alr_dbus *b;
	char *name;
	unsigned int id;
	enum peer_state state;
	bool can_control;
	uid_t uid;
	sd_bus_slot *match;             /* NameOwnerChanged for it */
	sd_bus_slot *owner_call;        /* GetNameOwner: still there? */
	sd_bus_slot *creds_call;        /* GetConnectionCredentials */
	size_t n_queue;
	struct {
		sd_bus_message *m;
		dbus_run_fn run;
	} queue[PEER_MAX_QUEUE];
};

struct alr_dbus {
	struct daemon *d;
	struct ev_loop *loop;
	sd_bus *bus;
	char *address;
	bool owned;                     /* DBUS_NAME is ours */
	bool closing;                   /* the connection is to be dropped */
	bool refused;                   /* the bus gave DBUS_NAME to another: no retry */
	bool stopping;                  /* dbus_free(): no retry */
	double retry_s;                 /* the next wait before connecting again */
	unsigned int attempts;          /* failed connects since the bus was lost */

	ev_io io;
	ev_timer timer;
	ev_prepare prepare;
	ev_idle more;                   /* messages left after a batch */
	ev_timer retry;                 /* connect again */

	unsigned int registry_watch;
	unsigned int iap_watch;

	struct dbus_peer *peers;
	size_t n_peers;
	unsigned int next_peer_id;

	/* The SNAP set the objects show (a reload swaps it) and its ids. */
	const struct policy_set *snaps;
	unsigned int *snap_ids;
	size_t n_snap_ids;

	/* An object whose InterfacesRemoved is being sent: found still. */
	const char *removing;
};

/* ---- paths ------------------------------------------------------------ */

int dbus_path_to_id(const char *prefix, const char *path, unsigned int *ret_id)
{
	size_t n = strlen(prefix);
	unsigned long long v = 0;
	const char *s;

	if (strncmp(path, prefix, n) != 0 || path[n] != '/')
		return -EINVAL;
	s = path + n + 1;
	if (!*s || (s[0] == '0' && s[1]) || strlen(s) > 10)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long long)(*s - '0');
	}
	if (v > UINT_MAX)
		return -EINVAL;
	*ret_id = (unsigned int)v;
	return 0;
}

static void path_of(char *buf, size_t size, const char *prefix, unsigned int id)
{
	snprintf(buf, size, "%s/%u", prefix, id);
}

/* ---- objects: lookup and enumeration ---------------------------------- */

static const struct iap *iap_of_path(struct alr_dbus *b, const char *path)
{
	unsigned int id;

	if (dbus_path_to_id(PATH_IAP, path, &id) < 0)
		return NULL;
	return iap_table_find_by_id(b->d->iaps, id);
}

static const struct policy_snap *snap_of_path(struct alr_dbus *b, const char *path)
{
	unsigned int id;

	if (dbus_path_to_id(PATH_SNAP, path, &id) < 0)
		return NULL;
	return policy_set_find_by_id(b->d->snaps, id);
}

static bool profile_of_path(struct alr_dbus *b, const char *path, unsigned int *ret_id)
{
	unsigned int id;

	if (dbus_path_to_id(PATH_PROFILE, path, &id) < 0 || !registry_find(b->d->registry, id))
		return false;
	*ret_id = id;
	return true;
}

static bool removing(struct alr_dbus *b, const char *path)
{
	return b->removing && strcmp(b->removing, path) == 0;
}

static int find_iap(sd_bus *bus, const char *path, const char *iface, void *ud, void **found,
		    sd_bus_error *err)
{
	struct alr_dbus *b = ud;

	if (!iap_of_path(b, path) && !removing(b, path))
		return 0;
	*found = b;
	return 1;
}

static int find_profile(sd_bus *bus, const char *path, const char *iface, void *ud,
			void **found, sd_bus_error *err)
{
	struct alr_dbus *b = ud;
	unsigned int id;

	if (!profile_of_path(b, path, &id) && !removing(b, path))
		return 0;
	*found = b;
	return 1;
}

static int find_snap(sd_bus *bus, const char *path, const char *iface, void *ud, void **found,
		     sd_bus_error *err)
{
	struct alr_dbus *b = ud;

	if (!snap_of_path(b, path) && !removing(b, path))
		return 0;
	*found = b;
	return 1;
}

/* A NULL-terminated list of @n paths PREFIX/ID, ids from @id_at. */
static int paths_of(const char *prefix, size_t n, unsigned int (*id_at)(struct alr_dbus *, size_t),
		    struct alr_dbus *b, char ***ret)
{
	char **v = calloc(n + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (asprintf(&v[i], "%s/%u", prefix, id_at(b, i)) < 0) {
			for (size_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return -ENOMEM;
		}
	}
	*ret = v;
	return 0;
}

static unsigned int iap_id_at(struct alr_dbus *b, size_t i)
{
	return iap_table_at(b->d->iaps, i)->id;
}

static unsigned int profile_id_at(struct alr_dbus *b, size_t i)
{
	return registry_profile_at(b->d->registry, i)->id;
}

static unsigned int snap_id_at(struct alr_dbus *b, size_t i)
{
	return policy_set_at(b->d->snaps, i)->id;
}

static int enum_iaps(sd_bus *bus, const char *prefix, void *ud, char ***ret, sd_bus_error *err)
{
	struct alr_dbus *b = ud;

	return paths_of(PATH_IAP, iap_table_count(b->d->iaps), iap_id_at, b, ret);
}

static int enum_profiles(sd_bus *bus, const char *prefix, void *ud, char ***ret,
			 sd_bus_error *err)
{
	struct alr_dbus *b = ud;

	return paths_of(PATH_PROFILE, registry_count(b->d->registry), profile_id_at, b, ret);
}

static int enum_snaps(sd_bus *bus, const char *prefix, void *ud, char ***ret, sd_bus_error *err)
{
	struct alr_dbus *b = ud;

	return paths_of(PATH_SNAP, policy_set_count(b->d->snaps), snap_id_at, b, ret);
}

/* ---- properties ------------------------------------------------------- */

static const char *str(const char *s)
{
	return s ? s : "";
}

static int gone(sd_bus_error *err, const char *path)
{
	return sd_bus_error_setf(err, SD_BUS_ERROR_UNKNOWN_OBJECT, "no object %s", path);
}

static const char *scope_to_str(unsigned char scope)
{
	switch (scope) {
	case 0:   return "global";      /* RT_SCOPE_UNIVERSE */
	case 200: return "site";
	case 253: return "link";
	case 254: return "host";
	case 255: return "nowhere";
	}
	return "other";
}

static int get_iap(sd_bus *bus, const char *path, const char *iface, const char *prop,
		   sd_bus_message *reply, void *ud, sd_bus_error *err)
{
	struct alr_dbus *b = ud;
	const struct iap *iap = iap_of_path(b, path);
	const struct iap_nm *nm;
	int r;

	if (!iap)
		return gone(err, path);
	nm = iap->nm;
	if (!strcmp(prop, "Id"))
		return sd_bus_message_append(reply, "u", iap->id);
	if (!strcmp(prop, "Identity"))
		return sd_bus_message_append(reply, "s", str(iap->identity));
	if (!strcmp(prop, "Name"))
		return sd_bus_message_append(reply, "s", str(iap->name));
	if (!strcmp(prop, "Kind"))
		return sd_bus_message_append(reply, "s", iap_kind_to_str(iap->kind));
	if (!strcmp(prop, "Interface"))
		return sd_bus_message_append(reply, "s", iap->ifname);
	if (!strcmp(prop, "Ifindex"))
		return sd_bus_message_append(reply, "i", iap->ifindex);
	if (!strcmp(prop, "Available"))
		return sd_bus_message_append(reply, "b", iap_available(iap));
	if (!strcmp(prop, "Reason"))
		return sd_bus_message_append(reply, "s", str(iap_reason_to_str(iap->reason)));
	if (!strcmp(prop, "MTU"))
		return sd_bus_message_append(reply, "u", iap->mtu);
	if (!strcmp(prop, "MAC"))
		return sd_bus_message_append(reply, "s", iap->mac);
	if (!strcmp(prop, "DefaultRoute4"))
		return sd_bus_message_append(reply, "b", iap->default_route4);
	if (!strcmp(prop, "DefaultRoute6"))
		return sd_bus_message_append(reply, "b", iap->default_route6);
	if (!strcmp(prop, "Addresses")) {
		r = sd_bus_message_open_container(reply, 'a', "(syssb)");
		for (size_t i = 0; r >= 0 && i < iap->n_addrs; i++) {
			const struct nlmon_addr *a = &iap->addrs[i];

			r = sd_bus_message_append(reply, "(syssb)", a->local, a->prefixlen,
						  a->family == AF_INET6 ? "ipv6" : "ipv4",
						  scope_to_str(a->scope), iap_addr_usable(a));
		}
		return r < 0 ? r : sd_bus_message_close_container(reply);
	}
	if (!strcmp(prop, "NMUUID"))
		return sd_bus_message_append(reply, "s", nm ? str(nm->uuid) : "");
	if (!strcmp(prop, "NMConnection"))
		return sd_bus_message_append(reply, "s", nm ? str(nm->id) : "");
	if (!strcmp(prop, "NMState"))
		return sd_bus_message_append(reply, "s",
					     nm ? nmmon_conn_state_to_str(nm->state) : "");
	if (!strcmp(prop, "Metered"))
		return sd_bus_message_append(reply, "b", nm ? nm->metered : false);
	if (!strcmp(prop, "SSID"))
		return sd_bus_message_append(reply, "s", nm ? str(nm->ssid) : "");
	if (!strcmp(prop, "Strength"))
		return sd_bus_message_append(reply, "i", nm ? nm->strength : -1);
	return sd_bus_error_setf(err, SD_BUS_ERROR_UNKNOWN_PROPERTY, "no property %s", prop);
}

static int get_profile(sd_bus *bus, const char *path, const char *iface, const char *prop,
		       sd_bus_message *reply, void *ud, sd_bus_error *err)
{
	struct alr_dbus *b = ud;
	struct registry_profile_status st;
	const struct profile *p;
	unsigned int id;

	if (!profile_of_path(b, path, &id) ||
	    registry_profile_status(b->d->registry, id, &st) < 0)
		return gone(err, path);
	p = st.profile;
	if (!strcmp(prop, "Id"))
		return sd_bus_message_append(reply, "u", id);
	if (!strcmp(prop, "AOR"))
		return sd_bus_message_append(reply, "s", str(p->aor));
	if (!strcmp(prop, "ProviderName"))
		return sd_bus_message_append(reply, "s", str(p->provider_name));
	if (!strcmp(prop, "Type"))
		return sd_bus_message_append(reply, "s", str(p->type_name));
	if (!strcmp(prop, "Default"))
		return sd_bus_message_append(reply, "b", p->is_default);
	if (!strcmp(prop, "SNAP"))
		return sd_bus_message_append(reply, "u", p->snap_id);
	if (!strcmp(prop, "FixedIAP"))
		return sd_bus_message_append(reply, "u", p->iap_id);
	if (!strcmp(prop, "AutoRegister"))
		return sd_bus_message_append(reply, "b", st.auto_register);
	if (!strcmp(prop, "Registration"))
		return sd_bus_message_append(reply, "s", str(st.registration));
	if (!strcmp(prop, "Phase"))
		return sd_bus_message_append(reply, "s", str(st.phase));
	if (!strcmp(prop, "IAP"))
		return sd_bus_message_append(reply, "u", st.iap_id);
	if (!strcmp(prop, "Contact"))
		return sd_bus_message_append(reply, "s", str(st.contact));
	if (!strcmp(prop, "Expires"))
		return sd_bus_message_append(reply, "u", st.expires);
	if (!strcmp(prop, "Users"))
		return sd_bus_message_append(reply, "u", (uint32_t)st.users);
	if (!strcmp(prop, "Suspended"))
		return sd_bus_message_append(reply, "b", st.suspended);
	if (!strcmp(prop, "Plugin"))
		return sd_bus_message_append(reply, "s", str(st.plugin));
	if (!strcmp(prop, "Error"))
		return sd_bus_message_append(reply, "(iss)", st.has_error ? st.err_code : 0,
					     st.has_error ? str(st.err_kind) : "",
					     st.has_error ? str(st.err_message) : "");
	return sd_bus_error_setf(err, SD_BUS_ERROR_UNKNOWN_PROPERTY, "no property %s", prop);
}

static int append_kinds(sd_bus_message *reply, unsigned int kinds)
{
	int r = sd_bus_message_open_container(reply, 'a', "s");

	for (int k = 0; r >= 0 && k < _IAP_KIND_MAX; k++)
		if (kinds & POLICY_KIND_BIT(k))
			r = sd_bus_message_append(reply, "s", iap_kind_to_str(k));
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

/* The SNAP's available IAPs, best first: the engine's order, as snap.get
 * shows it (daemon/api-snap.c). */
static int append_ranking(struct alr_dbus *b, sd_bus_message *reply, const struct policy_snap *s)
{
	const struct snap_ranking *engine = registry_snap_ranking(b->d->registry, s->id);
	const struct snap_iap_view *views;
	struct snap_ranking *rk = NULL;
	size_t n;
	int r = sd_bus_message_open_container(reply, 'a', "u");

	if (engine && snap_ranking_snap(engine) == s) {
		for (size_t i = 0; r >= 0 && i < snap_ranking_count(engine); i++)
			r = sd_bus_message_append(reply, "u", snap_ranking_at(engine, i)->iap_id);
	} else {
		views = registry_iap_views(b->d->registry, &n);
		rk = views ? snap_ranking_new(s) : NULL;
		if (rk && snap_rank(rk, views, n) >= 0)
			for (size_t i = 0; r >= 0 && i < snap_ranking_count(rk); i++)
				r = sd_bus_message_append(reply, "u", snap_ranking_at(rk, i)->iap_id);
		snap_ranking_free(rk);
	}
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

static int get_snap(sd_bus *bus, const char *path, const char *iface, const char *prop,
		    sd_bus_message *reply, void *ud, sd_bus_error *err)
{
	struct alr_dbus *b = ud;
	const struct policy_snap *s = snap_of_path(b, path);

	if (!s)
		return gone(err, path);
	if (!strcmp(prop, "Id"))
		return sd_bus_message_append(reply, "u", s->id);
	if (!strcmp(prop, "Name"))
		return sd_bus_message_append(reply, "s", str(s->name));
	if (!strcmp(prop, "File"))
		return sd_bus_message_append(reply, "s", str(s->file));
	if (!strcmp(prop, "StableTimeMs"))
		return sd_bus_message_append(reply, "u", s->stable_time_ms);
	if (!strcmp(prop, "ApprovalTimeoutMs"))
		return sd_bus_message_append(reply, "u", s->approval_timeout_ms);
	if (!strcmp(prop, "OnTimeout"))
		return sd_bus_message_append(reply, "s", policy_on_timeout_to_str(s->on_timeout));
	if (!strcmp(prop, "Migration"))
		return sd_bus_message_append(reply, "s", policy_migration_to_str(s->migration));
	if (!strcmp(prop, "Calls"))
		return sd_bus_message_append(reply, "s", policy_calls_to_str(s->calls));
	if (!strcmp(prop, "MaxMigrations"))
		return sd_bus_message_append(reply, "u", s->max_migrations);
	if (!strcmp(prop, "MigrationWindowMs"))
		return sd_bus_message_append(reply, "u", s->migration_window_ms);
	if (!strcmp(prop, "Bearers"))
		return append_kinds(reply, s->bearers);
	if (!strcmp(prop, "Ranking"))
		return append_ranking(b, reply, s);
	return sd_bus_error_setf(err, SD_BUS_ERROR_UNKNOWN_PROPERTY, "no property %s", prop);
}

static int get_daemon(sd_bus *bus, const char *path, const char *iface, const char *prop,
		      sd_bus_message *reply, void *ud, sd_bus_error *err)
{
	struct alr_dbus *b = ud;
	const struct config *c = b->d->config;

	if (!strcmp(prop, "Version"))
		return sd_bus_message_append(reply, "s", ALR_VERSION);
	if (!strcmp(prop, "Pid"))
		return sd_bus_message_append(reply, "u", (uint32_t)getpid());
	if (!strcmp(prop, "ConfigFile"))
		return sd_bus_message_append(reply, "s", str(c->file));
	if (!strcmp(prop, "StateDir"))
		return sd_bus_message_append(reply, "s", str(c->state_dir));
	if (!strcmp(prop, "Socket"))
		return sd_bus_message_append(reply, "s", str(c->socket_path));
	if (!strcmp(prop, "LogLevel"))
		return sd_bus_message_append(reply, "s", log_level_to_str(log_get_level()));
	return sd_bus_error_setf(err, SD_BUS_ERROR_UNKNOWN_PROPERTY, "no property %s", prop);
}

/* ---- callers: credentials, the queue of their calls, leaving ---------- */

static struct dbus_peer *peer_find(struct alr_dbus *b, const char *name)
{
	for (struct dbus_peer *p = b->peers; p; p = p->next)
		if (p->state != PEER_GONE && strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

/* Its uses of profiles and its controls end, as for a socket client
 * that disconnects (daemon.c, on_client_disconnect()); the reaper frees
 * it. */
static void peer_gone(struct dbus_peer *p, const char *why)
{
	struct alr_dbus *b = p->b;

	if (p->state == PEER_GONE)
		return;
	log_debug("dbus: client %s (id %u): %s", p->name, p->id, why);
	p->state = PEER_GONE;
	if (b->d->registry) {
		registry_release_user(b->d->registry, p->id);
		registry_alr_client_gone(b->d->registry, p->id);
	}
}

static void peer_free(struct dbus_peer *p)
{
	sd_bus_slot_unref(p->match);
	sd_bus_slot_unref(p->owner_call);
	sd_bus_slot_unref(p->creds_call);
	for (size_t i = 0; i < p->n_queue; i++)
		sd_bus_message_unref(p->queue[i].m);
	free(p->name);
	free(p);
}

/* Frees the callers that left (never from inside one of their
 * callbacks). */
static void reap_peers(struct alr_dbus *b)
{
	struct dbus_peer **pp = &b->peers;

	while (*pp) {
		struct dbus_peer *p = *pp;

		if (p->state != PEER_GONE) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		b->n_peers--;
		peer_free(p);
	}
}

static int reply_error(sd_bus_message *m, sd_bus_error *err)
{
	int r;

	if (!sd_bus_error_is_set(err))
		sd_bus_error_set(err, ERR_FAILED, "failed");
	r = sd_bus_reply_method_error(m, err);
	sd_bus_error_free(err);
	return r;
}

static void permission_error(struct alr_dbus *b, sd_bus_message *m, sd_bus_error *err)
{
	const struct config *c = b->d->config;
	char groups[256] = "";
	size_t off = 0;

	for (size_t i = 0; i < c->n_control_groups && off < sizeof(groups); i++)
		off += (size_t)snprintf(groups + off, sizeof(groups) - off, "%s%s",
					i ? ", " : "", c->control_groups[i]);
	sd_bus_error_setf(err, SD_BUS_ERROR_ACCESS_DENIED,
			  "permission denied: %s.%s changes things; it needs root or membership "
			  "in one of the groups: %s", sd_bus_message_get_interface(m),
			  sd_bus_message_get_member(m), groups[0] ? groups : "(none configured)");
}

/* Run (or refuse) one call of @p, whose credentials are known; the
 * method answers it. */
static void run_call(struct dbus_peer *p, sd_bus_message *m, dbus_run_fn run)
{
	struct alr_dbus *b = p->b;
	sd_bus_error err = SD_BUS_ERROR_NULL;
	const char *why;
	int r;

	if (!p->can_control) {
		log_info("dbus: client %s (uid %u): %s refused: no permission", p->name,
			 (unsigned)p->uid, sd_bus_message_get_member(m));
		permission_error(b, m, &err);
		r = reply_error(m, &err);
	} else if (registry_busy(b->d->registry, &why)) {
		sd_bus_error_set(&err, ERR_BUSY, why);
		r = reply_error(m, &err);
	} else {
		log_debug("dbus: client %s (id %u): %s %s", p->name, p->id,
			  sd_bus_message_get_member(m), sd_bus_message_get_path(m));
		r = run(b, p, m, &err);
		if (r < 0 || sd_bus_error_is_set(&err))
			r = reply_error(m, &err);
	}
	if (r < 0)
		log_debug("dbus: cannot answer %s: %s", p->name, strerror(-r));
}

/* GetConnectionCredentials' answer: a{sv} with UnixUserID and (dbus
 * 1.14) UnixGroupIDs, the caller's groups when it connected. */
static int on_creds(sd_bus_message *reply, void *ud, sd_bus_error *ret_error)
{
	struct dbus_peer *p = ud;
	struct alr_dbus *b = p->b;
	bool have_uid = false, member = false;
	const char *key;
	int r;

	p->creds_call = sd_bus_slot_unref(p->creds_call);
	if (p->state == PEER_GONE)
		return 0;       /* left in the meantime: its calls go unanswered */
	if (sd_bus_message_is_method_error(reply, NULL)) {
		peer_gone(p, "no credentials (gone)");
		return 0;
	}
	r = sd_bus_message_enter_container(reply, 'a', "{sv}");
	while (r > 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
		r = sd_bus_message_read(reply, "s", &key);
		if (r >= 0 && strcmp(key, "UnixUserID") == 0) {
			uint32_t uid;

			r = sd_bus_message_read(reply, "v", "u", &uid);
			if (r >= 0) {
				p->uid = uid;
				have_uid = true;
			}
		} else if (r >= 0 && strcmp(key, "UnixGroupIDs") == 0) {
			const void *gids;
			size_t size = 0;

			r = sd_bus_message_enter_container(reply, 'v', "au");
			if (r >= 0)
				r = sd_bus_message_read_array(reply, 'u', &gids, &size);
			for (size_t i = 0; r >= 0 && i < size / sizeof(uint32_t); i++)
				if (control_gid_is_control(b->d->control,
							   (gid_t)((const uint32_t *)gids)[i]))
					member = true;
			if (r >= 0)
				r = sd_bus_message_exit_container(reply);
		} else if (r >= 0) {
			r = sd_bus_message_skip(reply, "v");
		}
		if (r >= 0)
			r = sd_bus_message_exit_container(reply);
	}
	if (r < 0 || !have_uid) {
		/* Without an uid nobody is trusted to change anything. */
		log_notice("dbus: cannot read the credentials of %s: %s", p->name,
			   r < 0 ? strerror(-r) : "no UnixUserID");
		p->can_control = false;
	} else {
		p->can_control = p->uid == 0 || member;
	}
	p->state = PEER_KNOWN;
	log_debug("dbus: client %s is uid %u, %s (id %u)", p->name, (unsigned)p->uid,
		  p->can_control ? "may control" : "read-only", p->id);
	for (size_t i = 0; i < p->n_queue; i++) {
		sd_bus_message *m = p->queue[i].m;

		p->queue[i].m = NULL;
		if (p->state == PEER_KNOWN)
			run_call(p, m, p->queue[i].run);
		sd_bus_message_unref(m);
	}
	p->n_queue = 0;
	/* A caller that may not change anything holds nothing: no reason
	 * to keep it (nor to let callers fill the table). */
	if (!p->can_control)
		peer_gone(p, "read-only");
	return 0;
}

static int on_owner_changed(sd_bus_message *m, void *ud, sd_bus_error *ret_error)
{
	struct dbus_peer *p = ud;
	const char *name, *old_owner, *new_owner;

	if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
		return 0;
	if (strcmp(name, p->name) == 0 && !new_owner[0])
		peer_gone(p, "left the bus");
	return 0;
}

/* The match is in place before this answer (the bus handles our
 * messages in order): an error here means the caller left before. */
static int on_owner_check(sd_bus_message *reply, void *ud, sd_bus_error *ret_error)
{
	struct dbus_peer *p = ud;

	p->owner_call = sd_bus_slot_unref(p->owner_call);
	if (sd_bus_message_is_method_error(reply, NULL))
		peer_gone(p, "left the bus before it was watched");
	return 0;
}

static struct dbus_peer *peer_new(struct alr_dbus *b, const char *name, sd_bus_error *err)
{
	struct dbus_peer *p;
	char match[512];
	int r;

	if (b->n_peers >= DBUS_MAX_PEERS) {
		sd_bus_error_setf(err, ERR_BUSY, "too many D-Bus clients: %u already",
				  DBUS_MAX_PEERS);
		return NULL;
	}
	if (strlen(name) > 255) {
		sd_bus_error_set(err, SD_BUS_ERROR_INVALID_ARGS, "sender name too long");
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->name = strdup(name))) {
		free(p);
		sd_bus_error_set(err, SD_BUS_ERROR_NO_MEMORY, "out of memory");
		return NULL;
	}
	p->b = b;
	p->id = b->next_peer_id--;
	p->state = PEER_ASKING;
	snprintf(match, sizeof(match), "type='signal',sender='org.freedesktop.DBus',"
		 "path='/org/freedesktop/DBus',interface='org.freedesktop.DBus',"
		 "member='NameOwnerChanged',arg0='%s'", name);
	r = sd_bus_add_match_async(b->bus, &p->match, match, on_owner_changed, NULL, p);
	if (r >= 0)
		r = sd_bus_call_method_async(b->bus, &p->owner_call, "org.freedesktop.DBus",
					     "/org/freedesktop/DBus", "org.freedesktop.DBus",
					     "GetNameOwner", on_owner_check, p, "s", name);
	if (r >= 0)
		r = sd_bus_call_method_async(b->bus, &p->creds_call, "org.freedesktop.DBus",
					     "/org/freedesktop/DBus", "org.freedesktop.DBus",
					     "GetConnectionCredentials", on_creds, p, "s", name);
	if (r < 0) {
		peer_free(p);
		sd_bus_error_setf(err, ERR_FAILED, "cannot ask the bus about %s: %s", name,
				  strerror(-r));
		return NULL;
	}
	p->next = b->peers;
	b->peers = p;
	b->n_peers++;
	return p;
}

/* A method that changes something: run now when the caller is known,
 * else once the bus said who it is.  Returns 1 (answered or to be). */
static int defer(sd_bus_message *m, void *ud, dbus_run_fn run, sd_bus_error *err)
{
	struct alr_dbus *b = ud;
	const char *sender = sd_bus_message_get_sender(m);
	struct dbus_peer *p;

	if (!sender)
		return sd_bus_error_set(err, SD_BUS_ERROR_ACCESS_DENIED, "no sender");
	p = peer_find(b, sender);
	if (!p && !(p = peer_new(b, sender, err)))
		return -EBUSY;
	if (p->state == PEER_KNOWN) {
		run_call(p, m, run);
		return 1;
	}
	if (p->n_queue == PEER_MAX_QUEUE)
		return sd_bus_error_setf(err, ERR_BUSY, "more than %d calls waiting",
					 PEER_MAX_QUEUE);
	p->queue[p->n_queue].m = sd_bus_message_ref(m);
	p->queue[p->n_queue++].run = run;
	return 1;
}

/* ---- methods ---------------------------------------------------------- */

static int run_reload(struct alr_dbus *b, struct dbus_peer *p, sd_bus_message *m,
		      sd_bus_error *err)
{
	const struct snap_rejects *rj = &b->d->snap_rejects;
	struct config_error ce;
	sd_bus_message *reply = NULL;
	char buf[600];
	int r;

	log_notice("dbus: reload asked by %s (uid %u)", p->name, (unsigned)p->uid);
	if (daemon_reload(b->d, &ce) < 0)
		return sd_bus_error_setf(err, ERR_CONFIG, "configuration not reloaded: %s",
					 config_error_to_str(&ce, buf, sizeof(buf)));
	r = sd_bus_message_new_method_return(m, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', "(sus)");
	for (size_t i = 0; r >= 0 && i < rj->n; i++)
		r = sd_bus_message_append(reply, "(sus)", rj->v[i].file, rj->v[i].line,
					  rj->v[i].problem);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	return r;
}

static int method_reload(sd_bus_message *m, void *ud, sd_bus_error *err)
{
	return defer(m, ud, run_reload, err);
}

static int profile_id(struct alr_dbus *b, sd_bus_message *m, unsigned int *ret,
		      sd_bus_error *err)
{
	const char *path = sd_bus_message_get_path(m);

	if (!profile_of_path(b, path, ret))
		return sd_bus_error_setf(err, SD_BUS_ERROR_UNKNOWN_OBJECT, "no profile %s", path);
	return 0;
}

static int run_use(struct alr_dbus *b, struct dbus_peer *p, sd_bus_message *m,
		   sd_bus_error *err, bool enable)
{
	unsigned int id = 0;
	int r = profile_id(b, m, &id, err);

	if (r < 0)
		return r;
	r = enable ? registry_enable(b->d->registry, id, p->id)
		   : registry_disable(b->d->registry, id, p->id);
	if (r == -ENOENT && !enable)
		r = 0;          /* idempotent, as profile.disable */
	if (r == -EBUSY)
		return sd_bus_error_setf(err, ERR_BUSY, "profile %u is being deleted", id);
	if (r == -EUSERS)
		return sd_bus_error_setf(err, ERR_BUSY, "profile %u has too many users", id);
	if (r < 0)
		return sd_bus_error_setf(err, ERR_FAILED, "profile %u: %s", id, strerror(-r));
	return sd_bus_reply_method_return(m, NULL);
}

static int run_enable(struct alr_dbus *b, struct dbus_peer *p, sd_bus_message *m,
		      sd_bus_error *err)
{
	return run_use(b, p, m, err, true);
}

static int run_disable(struct alr_dbus *b, struct dbus_peer *p, sd_bus_message *m,
		       sd_bus_error *err)
{
	return run_use(b, p, m, err, false);
}

/* The controller requests (docs/roaming.md): registry_alr() as the
 * socket's alr.* methods call it (daemon/api-alr.c), the caller's id
 * being its peer id. */
static int run_alr(struct alr_dbus *b, struct dbus_peer *p, sd_bus_message *m,
		   sd_bus_error *err, enum registry_alr_op op)
{
	char message[ROAM_MESSAGE_MAX] = "";
	unsigned int id = 0;
	uint32_t iap = 0;
	int r = profile_id(b, m, &id, err);

	if (r < 0)
		return r;
	if (op == REGISTRY_ALR_ALLOW || op == REGISTRY_ALR_DISALLOW) {
		r = sd_bus_message_read(m, "u", &iap);
		if (r < 0)
			return sd_bus_error_set(err, SD_BUS_ERROR_INVALID_ARGS,
						"expected the IAP's id (u)");
		if (iap == 0)
			return sd_bus_error_set(err, SD_BUS_ERROR_INVALID_ARGS,
						"iap 0 is not an id (1 to 4294967295)");
	}
	r = registry_alr(b->d->registry, op, id, iap, p->id, message, sizeof(message));
	switch (r) {
	case 0:
		return sd_bus_reply_method_return(m, NULL);
	case -ENOENT:
		return sd_bus_error_set(err, ERR_NOT_FOUND, message);
	case -EPERM:
		return sd_bus_error_set(err, SD_BUS_ERROR_ACCESS_DENIED, message);
	case -EINVAL:
		return sd_bus_error_set(err, SD_BUS_ERROR_INVALID_ARGS, message);
	case -EBUSY:
		return sd_bus_error_set(err, ERR_BUSY, message);
	default:
		return sd_bus_error_setf(err, ERR_FAILED, "internal error: %s", strerror(-r));
	}
}

#define ALR_RUN(name, op)                                                               \
	static int run_##name(struct alr_dbus *b, struct dbus_peer *p, sd_bus_message *m, \
			      sd_bus_error *err)                                        \
	{                                                                               \
		return run_alr(b, p, m, err, op);                                       \
	}                                                                               \
	static int method_##name(sd_bus_message *m, void *ud, sd_bus_error *err)        \
	{                                                                               \
		return defer(m, ud, run_##name, err);                                   \
	}

ALR_RUN(control, REGISTRY_ALR_CONTROL)
ALR_RUN(release, REGISTRY_ALR_RELEASE)
ALR_RUN(allow, REGISTRY_ALR_ALLOW)
ALR_RUN(disallow, REGISTRY_ALR_DISALLOW)
ALR_RUN(refresh, REGISTRY_ALR_REFRESH)

static int method_enable(sd_bus_message *m, void *ud, sd_bus_error *err)
{
	return defer(m, ud, run_enable, err);
}

static int method_disable(sd_bus_message *m, void *ud, sd_bus_error *err)
{
	return defer(m, ud, run_disable, err);
}

/* ---- the interfaces --------------------------------------------------- */

#define PROP(name, sig, get, flags) SD_BUS_PROPERTY(name, sig, get, 0, flags)
#define CHANGES SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST

static const sd_bus_vtable daemon_vtable[] = {
	SD_BUS_VTABLE_START(0),
	PROP("Version", "s", get_daemon, CONST),
	PROP("Pid", "u", get_daemon, CONST),
	PROP("ConfigFile", "s", get_daemon, CONST),
	PROP("StateDir", "s", get_daemon, CONST),
	PROP("Socket", "s", get_daemon, CONST),
	PROP("LogLevel", "s", get_daemon, 0),
	SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS,
				SD_BUS_RESULT("a(sus)", rejected), method_reload,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_VTABLE_END,
};

static const sd_bus_vtable iap_vtable[] = {
	SD_BUS_VTABLE_START(0),
	PROP("Id", "u", get_iap, CONST),
	PROP("Identity", "s", get_iap, CHANGES),
	PROP("Name", "s", get_iap, CHANGES),
	PROP("Kind", "s", get_iap, CHANGES),
	PROP("Interface", "s", get_iap, CHANGES),
	PROP("Ifindex", "i", get_iap, CHANGES),
	PROP("Available", "b", get_iap, CHANGES),
	PROP("Reason", "s", get_iap, CHANGES),
	PROP("MTU", "u", get_iap, CHANGES),
	PROP("MAC", "s", get_iap, CHANGES),
	PROP("Addresses", "a(syssb)", get_iap, CHANGES),
	PROP("DefaultRoute4", "b", get_iap, CHANGES),
	PROP("DefaultRoute6", "b", get_iap, CHANGES),
	PROP("NMUUID", "s", get_iap, CHANGES),
	PROP("NMConnection", "s", get_iap, CHANGES),
	PROP("NMState", "s", get_iap, CHANGES),
	PROP("Metered", "b", get_iap, CHANGES),
	PROP("SSID", "s", get_iap, CHANGES),
	PROP("Strength", "i", get_iap, CHANGES),
	SD_BUS_VTABLE_END,
};

static const sd_bus_vtable profile_vtable[] = {
	SD_BUS_VTABLE_START(0),
	PROP("Id", "u", get_profile, CONST),
	PROP("AOR", "s", get_profile, CHANGES),
	PROP("ProviderName", "s", get_profile, CHANGES),
	PROP("Type", "s", get_profile, CHANGES),
	PROP("Default", "b", get_profile, CHANGES),
	PROP("SNAP", "u", get_profile, CHANGES),
	PROP("FixedIAP", "u", get_profile, CHANGES),
	PROP("AutoRegister", "b", get_profile, CHANGES),
	PROP("Registration", "s", get_profile, CHANGES),
	PROP("Phase", "s", get_profile, CHANGES),
	PROP("IAP", "u", get_profile, CHANGES),
	PROP("Contact", "s", get_profile, CHANGES),
	PROP("Expires", "u", get_profile, CHANGES),
	PROP("Users", "u", get_profile, 0),     /* profile.enable sends no event */
	PROP("Suspended", "b", get_profile, CHANGES),
	PROP("Plugin", "s", get_profile, CHANGES),
	PROP("Error", "(iss)", get_profile, CHANGES),
	SD_BUS_METHOD("Enable", "", "", method_enable, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD("Disable", "", "", method_disable, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD("Control", "", "", method_control, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD("Release", "", "", method_release, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Allow", SD_BUS_ARGS("u", iap), SD_BUS_NO_RESULT,
				method_allow, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Disallow", SD_BUS_ARGS("u", iap), SD_BUS_NO_RESULT,
				method_disallow, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD("Refresh", "", "", method_refresh, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_SIGNAL_WITH_ARGS("IAPAvailable",
				SD_BUS_ARGS("i", snap, "u", iap, "t", round, "t", deadline_ms), 0),
	SD_BUS_SIGNAL_WITH_ARGS("MigrationStarted",
				SD_BUS_ARGS("i", snap, "u", from, "u", to), 0),
	SD_BUS_SIGNAL_WITH_ARGS("MigrationCompleted",
				SD_BUS_ARGS("i", snap, "u", from, "u", to), 0),
	SD_BUS_SIGNAL_WITH_ARGS("Error",
				SD_BUS_ARGS("i", snap, "u", iap, "u", code, "s", name,
					    "s", message, "i", status), 0),
	SD_BUS_SIGNAL_WITH_ARGS("NoIAP", SD_BUS_ARGS("i", snap), 0),
	SD_BUS_VTABLE_END,
};

static const sd_bus_vtable snap_vtable[] = {
	SD_BUS_VTABLE_START(0),
	PROP("Id", "u", get_snap, CONST),
	PROP("Name", "s", get_snap, CHANGES),
	PROP("File", "s", get_snap, CHANGES),
	PROP("StableTimeMs", "u", get_snap, CHANGES),
	PROP("ApprovalTimeoutMs", "u", get_snap, CHANGES),
	PROP("OnTimeout", "s", get_snap, CHANGES),
	PROP("Migration", "s", get_snap, CHANGES),
	PROP("Calls", "s", get_snap, CHANGES),
	PROP("MaxMigrations", "u", get_snap, CHANGES),
	PROP("MigrationWindowMs", "u", get_snap, CHANGES),
	PROP("Bearers", "as", get_snap, CHANGES),
	PROP("Ranking", "au", get_snap, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
	SD_BUS_VTABLE_END,
};

/* ---- signals from the daemon's events --------------------------------- */

static void emit_added(struct alr_dbus *b, const char *prefix, unsigned int id)
{
	char path[128];
	int r;

	if (!b->owned)
		return;
	path_of(path, sizeof(path), prefix, id);
	r = sd_bus_emit_object_added(b->bus, path);
	if (r < 0)
		log_debug("dbus: InterfacesAdded %s: %s", path, strerror(-r));
}

static void emit_removed(struct alr_dbus *b, const char *prefix, unsigned int id)
{
	char path[128];
	int r;

	if (!b->owned)
		return;
	path_of(path, sizeof(path), prefix, id);
	b->removing = path;
	r = sd_bus_emit_object_removed(b->bus, path);
	b->removing = NULL;
	if (r < 0)
		log_debug("dbus: InterfacesRemoved %s: %s", path, strerror(-r));
}

/* Every property that emits changes, with its value now. */
static void emit_changed(struct alr_dbus *b, const char *prefix, const char *iface,
			 unsigned int id)
{
	char path[128];
	int r;

	if (!b->owned)
		return;
	path_of(path, sizeof(path), prefix, id);
	r = sd_bus_emit_properties_changed_strv(b->bus, path, iface, NULL);
	if (r < 0)
		log_debug("dbus: PropertiesChanged %s: %s", path, strerror(-r));
}

/* The SNAPs' rankings follow the IAPs: invalidated. */
static void emit_rankings(struct alr_dbus *b)
{
	char path[128];

	if (!b->owned)
		return;
	for (size_t i = 0; i < policy_set_count(b->d->snaps); i++) {
		path_of(path, sizeof(path), PATH_SNAP, policy_set_at(b->d->snaps, i)->id);
		sd_bus_emit_properties_changed(b->bus, path, IFACE_SNAP, "Ranking", NULL);
	}
}

static void on_iap_event(enum iap_event ev, const struct iap *iap, void *ud)
{
	struct alr_dbus *b = ud;

	switch (ev) {
	case IAP_EVENT_ADDED:
		emit_added(b, PATH_IAP, iap->id);
		break;
	case IAP_EVENT_CHANGED:
		emit_changed(b, PATH_IAP, IFACE_IAP, iap->id);
		break;
	case IAP_EVENT_UP:
	case IAP_EVENT_DOWN:
		emit_rankings(b);
		break;
	case IAP_EVENT_REMOVED:
		emit_removed(b, PATH_IAP, iap->id);
		emit_rankings(b);
		break;
	case _IAP_EVENT_MAX:
		break;
	}
}

static void on_registry_event(const struct registry_event *ev, void *ud)
{
	struct alr_dbus *b = ud;

	switch (ev->type) {
	case REGISTRY_EVENT_CREATED:
		emit_added(b, PATH_PROFILE, ev->id);
		break;
	case REGISTRY_EVENT_DESTROYED:
		emit_removed(b, PATH_PROFILE, ev->id);
		break;
	case REGISTRY_EVENT_UPDATED:
	case REGISTRY_EVENT_REGISTERED:
	case REGISTRY_EVENT_DEREGISTERED:
	case REGISTRY_EVENT_FORCIBLY_DISABLED:
	case REGISTRY_EVENT_ERROR:
	case REGISTRY_EVENT_MIGRATED:
		emit_changed(b, PATH_PROFILE, IFACE_PROFILE, ev->id);
		break;
	case _REGISTRY_EVENT_MAX:
		break;
	}
}

static bool peer_wants(struct alr_dbus *b, const struct dbus_peer *p, const struct roam_event *ev)
{
	if (p->state != PEER_KNOWN)
		return false;
	if ((ev->to & ROAM_TO_CLIENT) && ev->client == p->id)
		return true;
	return (ev->to & ROAM_TO_CONTROLLERS) &&
	       registry_alr_is_controller(b->d->registry, ev->profile, p->id);
}

static int roam_signal(struct alr_dbus *b, const struct roam_event *ev, const char *path,
		       const char *destination)
{
	sd_bus_message *m = NULL;
	int snap = ev->snap == ROAM_SNAP_NONE ? -1 : ev->snap;
	int r = -EINVAL;

	switch (ev->type) {
	case ROAM_EVENT_IAP_AVAILABLE:
		r = sd_bus_message_new_signal(b->bus, &m, path, IFACE_PROFILE, "IAPAvailable");
		if (r >= 0)
			r = sd_bus_message_append(m, "iutt", snap, ev->iap, ev->round,
						  ev->deadline_ms);
		break;
	case ROAM_EVENT_MIGRATION_STARTED:
	case ROAM_EVENT_MIGRATION_COMPLETED:
		r = sd_bus_message_new_signal(b->bus, &m, path, IFACE_PROFILE,
					      ev->type == ROAM_EVENT_MIGRATION_STARTED ?
					      "MigrationStarted" : "MigrationCompleted");
		if (r >= 0)
			r = sd_bus_message_append(m, "iuu", snap, ev->from, ev->to_iap);
		break;
	case ROAM_EVENT_ERROR:
		r = sd_bus_message_new_signal(b->bus, &m, path, IFACE_PROFILE, "Error");
		if (r >= 0)
			r = sd_bus_message_append(m, "iuussi", snap, ev->iap, (uint32_t)ev->code,
						  roam_error_to_str(ev->code), str(ev->message),
						  ev->status);
		break;
	case ROAM_EVENT_NO_IAP:
		r = sd_bus_message_new_signal(b->bus, &m, path, IFACE_PROFILE, "NoIAP");
		if (r >= 0)
			r = sd_bus_message_append(m, "i", snap);
		break;
	case ROAM_EVENT_REGISTERED:
	case ROAM_EVENT_DEREGISTERED:
	case ROAM_EVENT_UPDATED:
	case _ROAM_EVENT_MAX:
		return 0;
	}
	if (r >= 0 && destination)
		r = sd_bus_message_set_destination(m, destination);
	if (r >= 0)
		r = sd_bus_send(b->bus, m, NULL);
	sd_bus_message_unref(m);
	return r;
}

void dbus_roam_event(struct alr_dbus *b, const struct roam_event *ev)
{
	char path[128];
	int r = 0;

	if (!b || !b->owned)
		return;
	path_of(path, sizeof(path), PATH_PROFILE, ev->profile);
	switch (ev->type) {
	case ROAM_EVENT_REGISTERED:
	case ROAM_EVENT_DEREGISTERED:
	case _ROAM_EVENT_MAX:
		return;         /* the registry's events */
	case ROAM_EVENT_UPDATED:
		emit_changed(b, PATH_PROFILE, IFACE_PROFILE, ev->profile);
		return;
	case ROAM_EVENT_IAP_AVAILABLE:
	case ROAM_EVENT_MIGRATION_STARTED:
	case ROAM_EVENT_MIGRATION_COMPLETED:
	case ROAM_EVENT_ERROR:
	case ROAM_EVENT_NO_IAP:
		break;
	}
	/* The phase moved (wait-for-permission, migrating, ...). */
	emit_changed(b, PATH_PROFILE, IFACE_PROFILE, ev->profile);
	if (ev->to & ROAM_TO_OBSERVERS) {
		/* for everyone: the controllers get it too */
		r = roam_signal(b, ev, path, NULL);
	} else {
		for (struct dbus_peer *p = b->peers; p && r >= 0; p = p->next)
			if (peer_wants(b, p, ev))
				r = roam_signal(b, ev, path, p->name);
	}
	if (r < 0)
		log_debug("dbus: %s signal for profile %u: %s", roam_event_type_to_str(ev->type),
			  ev->profile, strerror(-r));
}

/* A reload swaps the SNAP set: objects for the new SNAPs, away with the
 * old ones, the others changed. */
static void check_snaps(struct alr_dbus *b)
{
	const struct policy_set *set = b->d->snaps;
	size_t n = policy_set_count(set);
	unsigned int *ids;

	if (set == b->snaps)
		return;
	ids = calloc(n ? n : 1, sizeof(*ids));
	if (!ids)
		return;         /* next turn */
	for (size_t i = 0; i < n; i++)
		ids[i] = policy_set_at(set, i)->id;
	if (b->snaps) {
		for (size_t i = 0; i < b->n_snap_ids; i++)
			if (!policy_set_find_by_id(set, b->snap_ids[i]))
				emit_removed(b, PATH_SNAP, b->snap_ids[i]);
		for (size_t i = 0; i < n; i++) {
			bool known = false;

			for (size_t j = 0; j < b->n_snap_ids && !known; j++)
				known = b->snap_ids[j] == ids[i];
			if (known)
				emit_changed(b, PATH_SNAP, IFACE_SNAP, ids[i]);
			else
				emit_added(b, PATH_SNAP, ids[i]);
		}
	}
	free(b->snap_ids);
	b->snap_ids = ids;
	b->n_snap_ids = n;
	b->snaps = set;
}

/* ---- the connection in the loop --------------------------------------- */

static void close_bus(struct alr_dbus *b)
{
	if (!b->bus)
		return;
	ev_io_stop(b->loop, &b->io);
	ev_timer_stop(b->loop, &b->timer);
	ev_idle_stop(b->loop, &b->more);
	for (struct dbus_peer *p = b->peers; p; p = p->next)
		peer_gone(p, "the bus connection closed");
	reap_peers(b);
	b->owned = false;
	/* not sd_bus_flush_close_unref(): flushing could wait for the bus */
	sd_bus_close_unref(b->bus);
	b->bus = NULL;
	if (!b->stopping && !b->refused) {
		ev_timer_set(&b->retry, b->retry_s, 0.);
		ev_timer_start(b->loop, &b->retry);
	}
}

static void process(struct alr_dbus *b)
{
	int r;

	for (int i = 0; i < PROCESS_BATCH; i++) {
		r = sd_bus_process(b->bus, NULL);
		if (r < 0) {
			log_notice("dbus: the connection to the bus closed (%s); alrd goes on "
				   "without D-Bus and connects again when the bus is back",
				   strerror(-r));
			b->closing = true;
			return;
		}
		if (r == 0 || b->closing) {
			ev_idle_stop(b->loop, &b->more);
			return;
		}
	}
	ev_idle_start(b->loop, &b->more);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	process(container_of(w, struct alr_dbus, io));
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	process(container_of(w, struct alr_dbus, timer));
}

static void more_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	process(container_of(w, struct alr_dbus, more));
}

/* Before the loop sleeps: what sd-bus waits for now (it may have queued
 * messages in this turn), and the callers that left. */
static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct alr_dbus *b = container_of(w, struct alr_dbus, prepare);
	uint64_t until;
	int fd, events;

	if (b->closing) {
		b->closing = false;
		close_bus(b);
	}
	if (!b->bus)
		return;
	reap_peers(b);
	check_snaps(b);
	fd = sd_bus_get_fd(b->bus);
	events = sd_bus_get_events(b->bus);
	if (fd < 0 || events < 0) {
		log_notice("dbus: the connection to the bus failed (%s); alrd goes on "
			   "without D-Bus and connects again when the bus is back",
			   strerror(-(fd < 0 ? fd : events)));
		close_bus(b);
		return;
	}
	events = ((events & POLLIN) ? EV_READ : 0) | ((events & POLLOUT) ? EV_WRITE : 0);
	if (b->io.fd != fd || (b->io.events & (EV_READ | EV_WRITE)) != events ||
	    !ev_is_active(&b->io)) {
		ev_io_stop(loop, &b->io);
		ev_io_set(&b->io, fd, events);
		if (events)
			ev_io_start(loop, &b->io);
	}
	ev_timer_stop(loop, &b->timer);
	if (sd_bus_get_timeout(b->bus, &until) >= 0 && until != UINT64_MAX) {
		uint64_t now = util_now_monotonic_us();

		ev_timer_set(&b->timer, until > now ? (double)(until - now) / 1e6 : 0., 0.);
		ev_timer_start(loop, &b->timer);
	}
}

static int on_name(sd_bus_message *reply, void *ud, sd_bus_error *ret_error)
{
	struct alr_dbus *b = ud;
	const sd_bus_error *e = sd_bus_message_get_error(reply);

	if (e) {
		log_notice("dbus: cannot own %s on %s: %s; alrd goes on without D-Bus",
			   DBUS_NAME, b->address ? b->address : "the system bus",
			   e->message ? e->message : e->name);
		b->refused = true;
		b->closing = true;
		return 0;
	}
	b->owned = true;
	b->retry_s = RETRY_FIRST_S;
	b->attempts = 0;
	log_info("dbus: %s on %s", DBUS_NAME, b->address ? b->address : "the system bus");
	return 0;
}

static int add_objects(struct alr_dbus *b)
{
	sd_bus *bus = b->bus;
	int r;

	r = sd_bus_add_object_vtable(bus, NULL, DBUS_PATH, IFACE_DAEMON, daemon_vtable, b);
	if (r >= 0)
		r = sd_bus_add_object_manager(bus, NULL, DBUS_PATH);
	if (r >= 0)
		r = sd_bus_add_fallback_vtable(bus, NULL, PATH_IAP, IFACE_IAP, iap_vtable,
					       find_iap, b);
	if (r >= 0)
		r = sd_bus_add_node_enumerator(bus, NULL, PATH_IAP, enum_iaps, b);
	if (r >= 0)
		r = sd_bus_add_fallback_vtable(bus, NULL, PATH_PROFILE, IFACE_PROFILE,
					       profile_vtable, find_profile, b);
	if (r >= 0)
		r = sd_bus_add_node_enumerator(bus, NULL, PATH_PROFILE, enum_profiles, b);
	if (r >= 0)
		r = sd_bus_add_fallback_vtable(bus, NULL, PATH_SNAP, IFACE_SNAP, snap_vtable,
					       find_snap, b);
	if (r >= 0)
		r = sd_bus_add_node_enumerator(bus, NULL, PATH_SNAP, enum_snaps, b);
	return r;
}

/* Connects and asks for DBUS_NAME (answered in on_name()); the objects are
 * in place before the name is ours.  The connect itself does not wait: the
 * authentication runs in the loop. */
static int open_bus(struct alr_dbus *b, const char *address)
{
	int r;

	r = sd_bus_new(&b->bus);
	if (r >= 0)
		r = sd_bus_set_address(b->bus, address);
	if (r >= 0)
		r = sd_bus_set_bus_client(b->bus, 1);
	if (r >= 0)
		r = sd_bus_set_description(b->bus, "alrd");
	if (r >= 0)
		r = sd_bus_start(b->bus);
	if (r < 0)
		goto fail;
	r = add_objects(b);
	if (r >= 0)
		r = sd_bus_request_name_async(b->bus, NULL, DBUS_NAME, 0, on_name, b);
	if (r < 0) {
		log_err("dbus: cannot set up the objects: %s; alrd goes on without D-Bus",
			strerror(-r));
		b->refused = true;      /* no better next time */
	}
fail:
	if (r < 0) {
		sd_bus_close_unref(b->bus);
		b->bus = NULL;
	}
	return r;
}

static const char *bus_address(const struct alr_dbus *b)
{
	const char *address;

	/* The system bus as sd_bus_open_system() finds it, without its
	 * blocking start. */
	address = b->address ? b->address : getenv("DBUS_SYSTEM_BUS_ADDRESS");
	return address ? address : SYSTEM_BUS_DEFAULT;
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct alr_dbus *b = container_of(w, struct alr_dbus, retry);
	const char *address = bus_address(b);
	int r;

	r = open_bus(b, address);
	if (r >= 0) {
		log_info("dbus: connected to %s after %u attempt%s", address,
			 b->attempts + 1, b->attempts ? "s" : "");
		return;         /* prepare_cb() watches it from now */
	}
	if (b->refused)
		return;
	b->attempts++;
	b->retry_s = b->retry_s * 2 < RETRY_MAX_S ? b->retry_s * 2 : RETRY_MAX_S;
	log_debug("dbus: still no bus at %s (%s); next attempt in %.0f s", address,
		  strerror(-r), b->retry_s);
	ev_timer_set(&b->retry, b->retry_s, 0.);
	ev_timer_start(loop, &b->retry);
}

struct alr_dbus *dbus_start(struct daemon *d)
{
	const struct config *c = d->config;
	struct alr_dbus *b;
	const char *address;
	int r;

	if (!c->dbus)
		return NULL;
	b = calloc(1, sizeof(*b));
	if (!b) {
		log_err("dbus: out of memory");
		return NULL;
	}
	b->d = d;
	b->loop = d->loop;
	b->next_peer_id = DBUS_PEER_FIRST_ID;
	b->retry_s = RETRY_FIRST_S;
	if (c->dbus_address && !(b->address = strdup(c->dbus_address))) {
		free(b);
		log_err("dbus: out of memory");
		return NULL;
	}
	ev_io_init(&b->io, io_cb, -1, 0);
	ev_init(&b->timer, timer_cb);
	ev_init(&b->retry, retry_cb);
	ev_idle_init(&b->more, more_cb);
	ev_prepare_init(&b->prepare, prepare_cb);
	address = bus_address(b);
	r = open_bus(b, address);
	if (r < 0 && b->refused)
		return dbus_free(b);
	check_snaps(b);         /* the ids of the SNAPs shown now */
	b->registry_watch = registry_watch(d->registry, on_registry_event, b, NULL);
	b->iap_watch = iap_table_watch(d->iaps, on_iap_event, b, NULL);
	ev_prepare_start(b->loop, &b->prepare);
	if (r < 0) {
		log_notice("dbus: no bus at %s (%s); alrd goes on without D-Bus and "
			   "connects when the bus is there", address, strerror(-r));
		ev_timer_set(&b->retry, b->retry_s, 0.);
		ev_timer_start(b->loop, &b->retry);
	}
	return b;
}

struct alr_dbus *dbus_free(struct alr_dbus *b)
{
	if (!b)
		return NULL;
	if (b->registry_watch && b->d->registry)
		registry_unwatch(b->d->registry, b->registry_watch);
	if (b->iap_watch && b->d->iaps)
		iap_table_unwatch(b->d->iaps, b->iap_watch);
	b->stopping = true;
	ev_prepare_stop(b->loop, &b->prepare);
	ev_timer_stop(b->loop, &b->retry);
	close_bus(b);
	free(b->snap_ids);
	free(b->address);
	free(b);
	return NULL;
}

void dbus_get_info(const struct alr_dbus *b, struct dbus_info *ret)
{
	*ret = (struct dbus_info){
		.connected = b && b->bus && b->owned,
		.bus = b ? (b->address ? b->address : "system") : NULL,
		.clients = b ? (unsigned int)b->n_peers : 0,
	};
}
