/*
 * NetworkManager monitor (libnm 1.42).
 *
 * The monitor owns a GLib main context, driven from the libev loop by
 * glib_ev, and walks through these states:
 *
 *   WAIT_BUS     no usable system bus: an inotify watch waits for its
 *                socket (and, after a failed attempt while the socket
 *                exists, a retry timer backs off from 0.25 s to 60 s)
 *   CONNECTING   g_dbus_connection_new_for_address()
 *   INIT_CLIENT  NMClient's asynchronous initialisation on that connection
 *   READY        NMClient follows NetworkManager; nm-running says whether
 *                it is there (the name owner can come and go)
 *
 * We make the bus connection ourselves, not with g_bus_get(): the shared
 * connection GLib hands out exits the process (raise(SIGTERM)) when the bus
 * goes away, and a closed one stays cached while anybody holds it.  Ours
 * has exit-on-close off; its "closed" signal takes us back to WAIT_BUS.
 *
 * Every libnm notification we listen to only schedules a refresh (an idle
 * source, so a burst of D-Bus messages yields one pass).  A refresh builds
 * a snapshot of every active connection, compares it with the last one
 * delivered per UUID, and calls the consumer for what differs; it also
 * re-targets the per-object signal handlers (active connections, their
 * first device, a Wi-Fi device's active access point).
 *
 * What this file relies on in libnm 1.42 (verified with NetworkManager
 * 1.42.4 and python3-dbusmock's template, see tests/integration):
 *
 *  - An NMClient initialises successfully when NetworkManager is not on the
 *    bus; nm-running follows the name owner (NameOwnerChanged) and all
 *    objects are dropped when the owner leaves, so a restart is seen as
 *    nm-running false, then true with new objects.
 *  - The client is bound to the thread-default main context at
 *    construction (nm_client_get_main_context()), and after the last
 *    unref its context-busy-watcher lives until libnm has finished
 *    cleaning up in that context.
 *  - Objects handed out stay valid while referenced, even after libnm
 *    dropped them from its cache.
 *  - A stopping NetworkManager unexports its devices before their active
 *    connections, so for a moment an activated connection has no device
 *    (nmmon_snap_keep_device()); NetworkManager itself exits with its bus
 *    (GLib's exit-on-close), which our own connection does not do.
 *  - NetworkManager 1.42 shows lo as an activated external connection of
 *    type "loopback"; it is skipped.
 *
 * XXX A connection active on two devices at once (multi-connect) has one
 * UUID: only its first active instance is reported.  For a VPN plugin
 * connection, iface is its parent device's interface.
 */
#include "nm/nmmon.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>
#include <NetworkManager.h>

#include "base/log.h"
#include "base/util.h"
#include "nm/glib_ev.h"
#include "nm/nmmap.h"

#define NMMON_RETRY_MIN		0.25    /* seconds */
#define NMMON_RETRY_MAX		60.0
/* nmmon_free() waits this long for cancelled operations (milliseconds). */
#define NMMON_DRAIN_TIMEOUT	2000
/* The refresh runs after everything libnm has queued at default priority. */
#define NMMON_REFRESH_PRIORITY	G_PRIORITY_DEFAULT_IDLE

enum nmmon_state {
	NMMON_IDLE,
	NMMON_WAIT_BUS,
	NMMON_CONNECTING,
	NMMON_INIT_CLIENT,
	NMMON_READY,
	NMMON_STOPPING,
	_NMMON_STATE_MAX,
};

static const char *const nmmon_state_names[_NMMON_STATE_MAX] = {
	[NMMON_IDLE] = "idle",
	[NMMON_WAIT_BUS] = "wait-bus",
	[NMMON_CONNECTING] = "connecting",
	[NMMON_INIT_CLIENT] = "init-client",
	[NMMON_READY] = "ready",
	[NMMON_STOPPING] = "stopping",
};

static const char *nmmon_state_to_str(enum nmmon_state s)
{
	return (unsigned)s < _NMMON_STATE_MAX ? nmmon_state_names[s] : "?";
}

static const char *const nmmon_conn_state_names[] = {
	[NMMON_CONN_ACTIVATING] = "activating",
	[NMMON_CONN_ACTIVATED] = "activated",
	[NMMON_CONN_DEACTIVATING] = "deactivating",
};

const char *nmmon_conn_state_to_str(enum nmmon_conn_state s)
{
	if ((unsigned)s >= ARRAY_SIZE(nmmon_conn_state_names))
		return "unknown";
	return nmmon_conn_state_names[s];
}

/* What was last delivered for one UUID; strings are g_malloc()ed. */
struct nmmon_snap {
	char *uuid;
	char *id;
	char *conn_type;
	char *device_type;
	char *iface;
	char *ssid;                     /* NULL unless Wi-Fi with an AP */
	char *bssid;
	char *modem_caps;
	int ifindex;
	int strength;
	enum nmmon_conn_state state;
	bool primary;
	bool metered;
	bool vpn;
};

/* A signal handler on a libnm object we hold a reference to. */
struct nmmon_watch {
	GObject *obj;
	gulong id;
};

/* One asynchronous operation; outlives the bus session it belongs to. */
struct nmmon_op {
	struct nmmon *m;
	GCancellable *cancel;
};

struct nmmon {
	struct ev_loop *loop;
	struct nmmon_ops ops;
	void *user_data;
	enum nmmon_state state;

	GMainContext *ctx;
	struct glib_ev *bridge;
	unsigned int pending;           /* nmmon_op not yet completed */
	unsigned int busy;              /* NMClients still cleaning up */

	char *bus_address;
	char *bus_path;                 /* NULL: not a unix:path address */

	/* One bus session: from CONNECTING until back to WAIT_BUS. */
	GCancellable *cancel;
	GDBusConnection *bus;
	NMClient *client;
	GSource *refresh;

	struct nmmon_watch *watches;
	size_t n_watches;

	struct nmmon_snap *snaps;
	size_t n_snaps;
	bool running;

	/* Said once per absence, not at every retry. */
	bool said_no_bus;
	bool said_bus_error;
	bool said_not_running;

	/* WAIT_BUS */
	int inotify_fd;
	int wd;
	char *watch_dir;                /* the deepest existing directory */
	char *watch_name;               /* the component we wait for in it */
	ev_io inotify_io;
	ev_timer retry_timer;
	ev_tstamp retry_delay;          /* 0: no failure since the last success */
};

static void nmmon_enter_state(struct nmmon *m, enum nmmon_state state);
static void nmmon_schedule_refresh(struct nmmon *m);

/* --- GLib's log messages into ours --------------------------------------- */

static GLogWriterOutput nmmon_glib_writer(GLogLevelFlags level,
					  const GLogField *fields,
					  gsize n_fields, gpointer user_data)
{
	const char *domain = NULL, *message = NULL;
	int prio;

	for (gsize i = 0; i < n_fields; i++) {
		if (strcmp(fields[i].key, "GLIB_DOMAIN") == 0)
			domain = fields[i].value;
		else if (strcmp(fields[i].key, "MESSAGE") == 0)
			message = fields[i].value;
	}
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		prio = LOG_ERR;
	else if (level & G_LOG_LEVEL_WARNING)
		prio = LOG_WARNING;
	else if (level & G_LOG_LEVEL_MESSAGE)
		prio = LOG_NOTICE;
	else if (level & G_LOG_LEVEL_INFO)
		prio = LOG_INFO;
	else if (g_log_writer_default_would_drop(level, domain))
		return G_LOG_WRITER_HANDLED;
	else
		prio = LOG_DEBUG;
	if (log_enabled(prio))
		log_msg(prio, "nm: %s: %s", domain ? domain : "glib",
			message ? message : "");
	return G_LOG_WRITER_HANDLED;
}

/* GLib allows one writer per process, set before any message. */
static void nmmon_route_glib_log(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	g_log_set_writer_func(nmmon_glib_writer, NULL, NULL);
}

/* --- snapshots ------------------------------------------------------------ */

static void nmmon_snap_clear(struct nmmon_snap *s)
{
	g_free(s->uuid);
	g_free(s->id);
	g_free(s->conn_type);
	g_free(s->device_type);
	g_free(s->iface);
	g_free(s->ssid);
	g_free(s->bssid);
	g_free(s->modem_caps);
	memset(s, 0, sizeof(*s));
}

static void nmmon_snaps_free(struct nmmon_snap *snaps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		nmmon_snap_clear(&snaps[i]);
	g_free(snaps);
}

static struct nmmon_snap *nmmon_snap_find(struct nmmon_snap *snaps, size_t n,
					  const char *uuid)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(snaps[i].uuid, uuid) == 0)
			return &snaps[i];
	return NULL;
}

static bool nmmon_snap_equal(const struct nmmon_snap *a,
			     const struct nmmon_snap *b)
{
	return g_strcmp0(a->uuid, b->uuid) == 0 &&
	       g_strcmp0(a->id, b->id) == 0 &&
	       g_strcmp0(a->conn_type, b->conn_type) == 0 &&
	       g_strcmp0(a->device_type, b->device_type) == 0 &&
	       g_strcmp0(a->iface, b->iface) == 0 &&
	       g_strcmp0(a->ssid, b->ssid) == 0 &&
	       g_strcmp0(a->bssid, b->bssid) == 0 &&
	       g_strcmp0(a->modem_caps, b->modem_caps) == 0 &&
	       a->ifindex == b->ifindex && a->strength == b->strength &&
	       a->state == b->state && a->primary == b->primary &&
	       a->metered == b->metered && a->vpn == b->vpn;
}

static void nmmon_deliver(struct nmmon *m, const struct nmmon_snap *s)
{
	struct nmmon_conn c = {
		.uuid = s->uuid,
		.id = s->id,
		.conn_type = s->conn_type,
		.device_type = s->device_type,
		.iface = s->iface,
		.ifindex = s->ifindex,
		.state = s->state,
		.primary = s->primary,
		.metered = s->metered,
		.vpn = s->vpn,
		.ssid = s->ssid,
		.bssid = s->bssid,
		.strength = s->strength,
		.modem_caps = s->modem_caps,
	};

	log_debug("nm: %s (%s): %s on %s", s->id, s->uuid,
		  nmmon_conn_state_to_str(s->state),
		  *s->iface ? s->iface : "no device");
	m->ops.conn_changed(&c, m->user_data);
}

static bool nmmon_conn_state_from_nm(NMActiveConnectionState st,
				     enum nmmon_conn_state *ret)
{
	switch (st) {
	case NM_ACTIVE_CONNECTION_STATE_ACTIVATING:
		*ret = NMMON_CONN_ACTIVATING;
		return true;
	case NM_ACTIVE_CONNECTION_STATE_ACTIVATED:
		*ret = NMMON_CONN_ACTIVATED;
		return true;
	case NM_ACTIVE_CONNECTION_STATE_DEACTIVATING:
		*ret = NMMON_CONN_DEACTIVATING;
		return true;
	case NM_ACTIVE_CONNECTION_STATE_UNKNOWN:
	case NM_ACTIVE_CONNECTION_STATE_DEACTIVATED:
		return false;
	}
	return false;           /* a state newer than libnm 1.42 */
}

static void nmmon_fill_wifi(struct nmmon_snap *s, NMDeviceWifi *wifi,
			    GPtrArray *watch)
{
	NMAccessPoint *ap = nm_device_wifi_get_active_access_point(wifi);
	char buf[NMMAP_SSID_STR_MAX];
	const char *bssid;
	GBytes *ssid;

	if (!ap)
		return;
	g_ptr_array_add(watch, ap);
	ssid = nm_access_point_get_ssid(ap);
	if (ssid) {
		gsize len;
		const void *data = g_bytes_get_data(ssid, &len);

		nmmap_ssid_to_str(data, len, buf, sizeof(buf));
		s->ssid = g_strdup(buf);
	} else {
		s->ssid = g_strdup("");     /* hidden network */
	}
	bssid = nm_access_point_get_bssid(ap);
	s->bssid = g_strdup(bssid ? bssid : "");
	s->strength = nm_access_point_get_strength(ap);
}

/* Fill s from ac; false when ac is not worth reporting. */
static bool nmmon_snap_build(struct nmmon *m, NMActiveConnection *ac,
			     NMActiveConnection *primary,
			     struct nmmon_snap *s, GPtrArray *watch)
{
	const char *uuid = nm_active_connection_get_uuid(ac);
	const char *id = nm_active_connection_get_id(ac);
	const char *type = nm_active_connection_get_connection_type(ac);
	const GPtrArray *devices = nm_active_connection_get_devices(ac);
	NMDevice *dev = devices && devices->len ? devices->pdata[0] : NULL;
	enum nmmon_conn_state state;

	/* Whatever we report or not, its changes must reach us. */
	g_ptr_array_add(watch, ac);
	if (!nmmon_conn_state_from_nm(nm_active_connection_get_state(ac),
				      &state))
		return false;
	if (!uuid || !*uuid)
		return false;
	/* NetworkManager 1.42 keeps lo up as an external connection: never
	 * an IAP (alr/ ignores loopback links too). */
	if (g_strcmp0(type, NM_SETTING_LOOPBACK_SETTING_NAME) == 0 ||
	    (dev && nm_device_get_device_type(dev) == NM_DEVICE_TYPE_LOOPBACK))
		return false;

	memset(s, 0, sizeof(*s));
	s->uuid = g_strdup(uuid);
	s->id = g_strdup(id ? id : "");
	s->conn_type = g_strdup(type ? type : "");
	s->state = state;
	s->primary = ac == primary;
	s->vpn = nm_active_connection_get_vpn(ac);
	s->strength = -1;

	if (dev) {
		const char *iface = nm_device_get_ip_iface(dev);
		NMMetered metered = nm_device_get_metered(dev);
		char caps[64];

		g_ptr_array_add(watch, dev);
		if (!iface || !*iface)
			iface = nm_device_get_iface(dev);
		s->device_type = g_strdup(nmmap_device_type_to_str(
			nm_device_get_device_type(dev)));
		s->iface = g_strdup(iface ? iface : "");
		/* The monitor runs in NetworkManager's network namespace. */
		s->ifindex = iface && *iface ? (int)if_nametoindex(iface) : 0;
		s->metered = metered == NM_METERED_YES ||
			     metered == NM_METERED_GUESS_YES;
		if (NM_IS_DEVICE_WIFI(dev))
			nmmon_fill_wifi(s, NM_DEVICE_WIFI(dev), watch);
		if (NM_IS_DEVICE_MODEM(dev)) {
			nmmap_modem_caps_to_str(
				nm_device_modem_get_current_capabilities(
					NM_DEVICE_MODEM(dev)),
				caps, sizeof(caps));
			s->modem_caps = g_strdup(caps);
		}
	} else {
		s->device_type = g_strdup("");
		s->iface = g_strdup("");
	}
	if (!s->modem_caps)
		s->modem_caps = g_strdup("");
	return true;
}

/* An active connection always has its device in NetworkManager; libnm
 * shows none only while objects go away (NetworkManager unexports its
 * devices before their active connections when it stops).  Keep what we
 * knew rather than report a connection without a device just before it
 * goes. */
static void nmmon_snap_keep_device(struct nmmon_snap *s,
				   const struct nmmon_snap *old)
{
	g_free(s->device_type);
	s->device_type = g_strdup(old->device_type);
	g_free(s->iface);
	s->iface = g_strdup(old->iface);
	g_free(s->ssid);
	s->ssid = g_strdup(old->ssid);
	g_free(s->bssid);
	s->bssid = g_strdup(old->bssid);
	g_free(s->modem_caps);
	s->modem_caps = g_strdup(old->modem_caps);
	s->ifindex = old->ifindex;
	s->strength = old->strength;
	s->metered = old->metered;
}

/* --- watching libnm objects ----------------------------------------------- */

static void nmmon_notify_cb(GObject *obj, GParamSpec *pspec, gpointer data)
{
	nmmon_schedule_refresh(data);
}

/* Keep exactly one "notify" handler on each object of want. */
static void nmmon_set_watches(struct nmmon *m, GPtrArray *want)
{
	struct nmmon_watch *next = NULL;
	size_t n_next = 0;

	if (want && want->len)
		next = g_new0(struct nmmon_watch, want->len);
	for (guint i = 0; want && i < want->len; i++) {
		GObject *obj = want->pdata[i];
		struct nmmon_watch *w = NULL;
		bool dup = false;

		for (size_t j = 0; j < n_next && !dup; j++)
			dup = next[j].obj == obj;
		if (dup)
			continue;
		for (size_t j = 0; j < m->n_watches && !w; j++)
			if (m->watches[j].obj == obj)
				w = &m->watches[j];
		if (w) {
			next[n_next++] = *w;            /* moved */
			w->obj = NULL;
			continue;
		}
		next[n_next].obj = g_object_ref(obj);
		next[n_next].id = g_signal_connect(obj, "notify",
						   G_CALLBACK(nmmon_notify_cb), m);
		n_next++;
	}
	for (size_t j = 0; j < m->n_watches; j++) {
		if (!m->watches[j].obj)
			continue;
		g_signal_handler_disconnect(m->watches[j].obj,
					    m->watches[j].id);
		g_object_unref(m->watches[j].obj);
	}
	g_free(m->watches);
	m->watches = next;
	m->n_watches = n_next;
}

/* --- refresh: the only place that calls the consumer ---------------------- */

static void nmmon_refresh(struct nmmon *m)
{
	bool running = m->client && nm_client_get_nm_running(m->client);
	struct nmmon_snap *next = NULL, *old;
	size_t n_next = 0;
	GPtrArray *watch = g_ptr_array_new();

	if (running) {
		const GPtrArray *acs =
			nm_client_get_active_connections(m->client);
		NMActiveConnection *primary =
			nm_client_get_primary_connection(m->client);

		if (acs && acs->len)
			next = g_new0(struct nmmon_snap, acs->len);
		for (guint i = 0; acs && i < acs->len; i++) {
			struct nmmon_snap *s = &next[n_next];

			if (!nmmon_snap_build(m, acs->pdata[i], primary, s,
					      watch))
				continue;
			if (nmmon_snap_find(next, n_next, s->uuid)) {
				log_debug("nm: %s (%s) is active twice; reporting the first",
					  s->id, s->uuid);
				nmmon_snap_clear(s);
				continue;
			}
			old = nmmon_snap_find(m->snaps, m->n_snaps, s->uuid);
			if (!*s->device_type && old && *old->device_type)
				nmmon_snap_keep_device(s, old);
			n_next++;
		}
	}
	nmmon_set_watches(m, watch);
	g_ptr_array_unref(watch);

	if (running && !m->running) {
		const char *version = nm_client_get_version(m->client);

		m->running = true;
		m->said_not_running = false;
		log_info("nm: NetworkManager %s is running",
			 version ? version : "(unknown version)");
		m->ops.running(true, m->user_data);
	}
	/* Removals first: an IAP that goes makes room before one comes. */
	for (size_t i = 0; i < m->n_snaps; i++) {
		if (nmmon_snap_find(next, n_next, m->snaps[i].uuid))
			continue;
		log_debug("nm: %s (%s): gone", m->snaps[i].id,
			  m->snaps[i].uuid);
		m->ops.conn_removed(m->snaps[i].uuid, m->user_data);
	}
	for (size_t i = 0; i < n_next; i++) {
		old = nmmon_snap_find(m->snaps, m->n_snaps, next[i].uuid);
		if (!old || !nmmon_snap_equal(old, &next[i]))
			nmmon_deliver(m, &next[i]);
	}
	nmmon_snaps_free(m->snaps, m->n_snaps);
	m->snaps = next;
	m->n_snaps = n_next;

	if (!running && m->running) {
		m->running = false;
		log_info("nm: NetworkManager stopped");
		m->ops.running(false, m->user_data);
	} else if (!running && m->client && !m->said_not_running) {
		m->said_not_running = true;
		log_info("nm: NetworkManager is not running");
	}
}

static gboolean nmmon_refresh_cb(gpointer data)
{
	struct nmmon *m = data;

	g_clear_pointer(&m->refresh, g_source_unref);
	nmmon_refresh(m);
	return G_SOURCE_REMOVE;
}

static void nmmon_schedule_refresh(struct nmmon *m)
{
	if (m->refresh || m->state == NMMON_STOPPING)
		return;
	m->refresh = g_idle_source_new();
	g_source_set_priority(m->refresh, NMMON_REFRESH_PRIORITY);
	g_source_set_callback(m->refresh, nmmon_refresh_cb, m, NULL);
	g_source_attach(m->refresh, m->ctx);
}

static void nmmon_cancel_refresh(struct nmmon *m)
{
	if (!m->refresh)
		return;
	g_source_destroy(m->refresh);
	g_clear_pointer(&m->refresh, g_source_unref);
}

static void nmmon_client_signal_cb(NMClient *client, NMActiveConnection *ac,
				   gpointer data)
{
	nmmon_schedule_refresh(data);
}

/* --- async operations ------------------------------------------------------ */

static struct nmmon_op *nmmon_op_new(struct nmmon *m)
{
	struct nmmon_op *op = g_new0(struct nmmon_op, 1);

	op->m = m;
	op->cancel = g_object_ref(m->cancel);
	m->pending++;
	return op;
}

/* Frees op; false when its session is over (the result is to be dropped). */
static bool nmmon_op_done(struct nmmon_op *op, struct nmmon **ret_m)
{
	bool live = !g_cancellable_is_cancelled(op->cancel);

	*ret_m = op->m;
	op->m->pending--;
	g_object_unref(op->cancel);
	g_free(op);
	return live;
}

static void nmmon_busy_gone_cb(gpointer data, GObject *where_the_object_was)
{
	struct nmmon *m = data;

	m->busy--;
}

/* End the bus session; the consumer hears about it at the next refresh. */
static void nmmon_drop_session(struct nmmon *m)
{
	if (m->cancel) {
		g_cancellable_cancel(m->cancel);
		g_clear_object(&m->cancel);
	}
	nmmon_set_watches(m, NULL);
	if (m->client) {
		GObject *busy = nm_client_get_context_busy_watcher(m->client);

		g_signal_handlers_disconnect_by_data(m->client, m);
		if (busy) {
			g_object_weak_ref(busy, nmmon_busy_gone_cb, m);
			m->busy++;
		}
		g_clear_object(&m->client);
	}
	if (m->bus) {
		g_signal_handlers_disconnect_by_data(m->bus, m);
		g_clear_object(&m->bus);
	}
}

/* --- WAIT_BUS: the socket, inotify and the retry timer --------------------- */

static bool nmmon_bus_socket_exists(struct nmmon *m)
{
	struct stat st;

	return !m->bus_path || stat(m->bus_path, &st) == 0;
}

static void nmmon_unwatch_bus(struct nmmon *m)
{
	if (m->inotify_fd >= 0) {
		ev_io_stop(m->loop, &m->inotify_io);
		close(m->inotify_fd);
		m->inotify_fd = -1;
	}
	m->wd = -1;
	g_clear_pointer(&m->watch_dir, g_free);
	g_clear_pointer(&m->watch_name, g_free);
}

/* Watch the deepest existing directory on the way to the socket for the
 * next component.  Returns 1 when that component, a directory, appeared
 * meanwhile (call again), 0 when watching, negative errno on failure. */
static int nmmon_watch_step(struct nmmon *m)
{
	char *sockdir = g_path_get_dirname(m->bus_path);
	char *dir = g_strdup(sockdir);
	char *name = g_path_get_basename(m->bus_path);
	struct stat st;
	bool deeper;
	int r = 0;

	while (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		char *up = g_path_get_dirname(dir);

		if (strcmp(up, dir) == 0) {      /* "/" or "." */
			g_free(up);
			break;
		}
		g_free(name);
		name = g_path_get_basename(dir);
		g_free(dir);
		dir = up;
	}
	deeper = strcmp(dir, sockdir) != 0;
	g_free(sockdir);

	if (m->inotify_fd < 0) {
		m->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (m->inotify_fd < 0) {
			r = -errno;
			goto out;
		}
		ev_io_set(&m->inotify_io, m->inotify_fd, EV_READ);
		ev_io_start(m->loop, &m->inotify_io);
	}
	if (m->wd < 0 || g_strcmp0(dir, m->watch_dir) != 0) {
		/* IN_ATTRIB: dbus-daemon chmods its socket after bind(). */
		int wd = inotify_add_watch(m->inotify_fd, dir,
					   IN_CREATE | IN_MOVED_TO | IN_ATTRIB |
					   IN_DELETE_SELF | IN_MOVE_SELF |
					   IN_ONLYDIR);

		if (wd < 0) {
			r = -errno;
			goto out;
		}
		if (m->wd >= 0 && m->wd != wd)
			inotify_rm_watch(m->inotify_fd, m->wd);
		m->wd = wd;
		log_debug("nm: watching %s for %s", dir, name);
	}
	g_free(m->watch_dir);
	m->watch_dir = g_steal_pointer(&dir);
	g_free(m->watch_name);
	m->watch_name = g_steal_pointer(&name);

	/* Watch first, then look: nothing created in between is missed. */
	if (deeper) {
		char *next = g_build_filename(m->watch_dir, m->watch_name, NULL);

		if (stat(next, &st) == 0 && S_ISDIR(st.st_mode))
			r = 1;
		g_free(next);
	}
out:
	g_free(dir);
	g_free(name);
	return r;
}

/* 0, or negative errno when inotify cannot be used. */
static int nmmon_watch_bus(struct nmmon *m)
{
	int r = 0;

	/* Bounded by the depth of the path. */
	for (int i = 0; i < PATH_MAX / 2; i++) {
		r = nmmon_watch_step(m);
		if (r <= 0)
			break;
	}
	if (r < 0)
		nmmon_unwatch_bus(m);
	return r < 0 ? r : 0;
}

static void nmmon_arm_retry(struct nmmon *m, ev_tstamp delay)
{
	ev_timer_stop(m->loop, &m->retry_timer);
	ev_timer_set(&m->retry_timer, delay, 0.);
	ev_timer_start(m->loop, &m->retry_timer);
}

/* In WAIT_BUS: connect if the socket is there, else wait for it. */
static void nmmon_check_bus(struct nmmon *m)
{
	int r = 0;

	if (m->state != NMMON_WAIT_BUS)
		return;
	if (m->bus_path) {
		r = nmmon_watch_bus(m);
		if (r < 0) {
			/* Without inotify, the retry timer does the job. */
			log_warning("nm: cannot watch for the system bus at %s: %s",
				    m->bus_path, strerror(-r));
			nmmon_arm_retry(m, NMMON_RETRY_MAX);
		}
	}
	if (nmmon_bus_socket_exists(m)) {
		nmmon_enter_state(m, NMMON_CONNECTING);
		return;
	}
	if (!m->said_no_bus) {
		m->said_no_bus = true;
		log_info("nm: no system bus at %s yet, waiting for it",
			 m->bus_path);
	}
}

static void nmmon_inotify_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct nmmon *m = container_of(w, struct nmmon, inotify_io);
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool relevant = false;

	for (;;) {
		ssize_t n = read(m->inotify_fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				relevant = true;
			} else if (ev->wd != m->wd) {
				continue;       /* a watch we replaced */
			} else if (ev->mask & (IN_IGNORED | IN_DELETE_SELF |
					       IN_MOVE_SELF)) {
				if (ev->mask & IN_IGNORED)
					m->wd = -1;
				relevant = true;
			} else if (ev->len && m->watch_name &&
				   strcmp(ev->name, m->watch_name) == 0) {
				relevant = true;
			}
		}
	}
	if (relevant)
		nmmon_check_bus(m);
}

static void nmmon_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct nmmon *m = container_of(w, struct nmmon, retry_timer);

	nmmon_check_bus(m);
}

/* A bus or client attempt failed: back to WAIT_BUS, retrying later. */
static void nmmon_failed(struct nmmon *m)
{
	m->retry_delay = m->retry_delay > 0. ?
		MIN(m->retry_delay * 2, NMMON_RETRY_MAX) : NMMON_RETRY_MIN;
	nmmon_enter_state(m, NMMON_WAIT_BUS);
	/* A socket that appears (again) is tried at once, one that stays
	 * after the timer. */
	if (m->bus_path && nmmon_watch_bus(m) < 0)
		m->retry_delay = NMMON_RETRY_MAX;
	nmmon_arm_retry(m, m->retry_delay);
}

/* --- CONNECTING and INIT_CLIENT --------------------------------------------- */

static void nmmon_bus_closed_cb(GDBusConnection *bus, gboolean remote_vanished,
				GError *error, gpointer data)
{
	struct nmmon *m = data;

	log_info("nm: lost the system bus%s%s", error ? ": " : "",
		 error ? error->message : "");
	nmmon_failed(m);
}

static void nmmon_client_ready_cb(GObject *source, GAsyncResult *res,
				  gpointer data)
{
	GError *error = NULL;
	GObject *obj = g_async_initable_new_finish(G_ASYNC_INITABLE(source),
						   res, &error);
	struct nmmon *m;

	if (!nmmon_op_done(data, &m)) {
		g_clear_object(&obj);
		g_clear_error(&error);
		return;
	}
	if (!obj) {
		log_warning("nm: cannot follow NetworkManager: %s",
			    error->message);
		g_error_free(error);
		nmmon_failed(m);
		return;
	}
	m->client = NM_CLIENT(obj);
	nmmon_enter_state(m, NMMON_READY);
}

static void nmmon_bus_ready_cb(GObject *source, GAsyncResult *res,
			       gpointer data)
{
	GError *error = NULL;
	GDBusConnection *bus = g_dbus_connection_new_for_address_finish(res,
									&error);
	struct nmmon *m;

	if (!nmmon_op_done(data, &m)) {
		g_clear_object(&bus);
		g_clear_error(&error);
		return;
	}
	if (!bus) {
		if (!m->said_bus_error) {
			m->said_bus_error = true;
			log_info("nm: cannot connect to the system bus (%s): %s; will retry",
				 m->bus_address, error->message);
		} else {
			log_debug("nm: cannot connect to the system bus: %s",
				  error->message);
		}
		g_error_free(error);
		nmmon_failed(m);
		return;
	}
	m->bus = bus;
	nmmon_enter_state(m, NMMON_INIT_CLIENT);
}

static void nmmon_start_connect(struct nmmon *m)
{
	m->cancel = g_cancellable_new();
	/* Push: the connection emits "closed" in the context it was made in. */
	g_main_context_push_thread_default(m->ctx);
	g_dbus_connection_new_for_address(m->bus_address,
		G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
		G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
		NULL, m->cancel, nmmon_bus_ready_cb, nmmon_op_new(m));
	g_main_context_pop_thread_default(m->ctx);
}

static void nmmon_start_client(struct nmmon *m)
{
	g_dbus_connection_set_exit_on_close(m->bus, FALSE);
	g_signal_connect(m->bus, "closed", G_CALLBACK(nmmon_bus_closed_cb), m);

	/* The client binds to the thread-default context. */
	g_main_context_push_thread_default(m->ctx);
	g_async_initable_new_async(NM_TYPE_CLIENT, G_PRIORITY_DEFAULT,
		m->cancel, nmmon_client_ready_cb, nmmon_op_new(m),
		NM_CLIENT_DBUS_CONNECTION, m->bus,
		NM_CLIENT_INSTANCE_FLAGS,
		(guint)NM_CLIENT_INSTANCE_FLAGS_NO_AUTO_FETCH_PERMISSIONS,
		NULL);
	g_main_context_pop_thread_default(m->ctx);
}

static void nmmon_client_ready(struct nmmon *m)
{
	m->retry_delay = 0.;
	m->said_no_bus = false;
	m->said_bus_error = false;
	ev_timer_stop(m->loop, &m->retry_timer);
	g_signal_connect(m->client, "notify::" NM_CLIENT_NM_RUNNING,
			 G_CALLBACK(nmmon_notify_cb), m);
	g_signal_connect(m->client, "notify::" NM_CLIENT_ACTIVE_CONNECTIONS,
			 G_CALLBACK(nmmon_notify_cb), m);
	g_signal_connect(m->client, "notify::" NM_CLIENT_PRIMARY_CONNECTION,
			 G_CALLBACK(nmmon_notify_cb), m);
	g_signal_connect(m->client, NM_CLIENT_ACTIVE_CONNECTION_ADDED,
			 G_CALLBACK(nmmon_client_signal_cb), m);
	g_signal_connect(m->client, NM_CLIENT_ACTIVE_CONNECTION_REMOVED,
			 G_CALLBACK(nmmon_client_signal_cb), m);
	nmmon_schedule_refresh(m);
}

/* --- the state machine ------------------------------------------------------ */

static void nmmon_enter_state(struct nmmon *m, enum nmmon_state state)
{
	enum nmmon_state old = m->state;

	m->state = state;
	log_debug("nm: %s -> %s", nmmon_state_to_str(old),
		  nmmon_state_to_str(state));

	switch (state) {
	case NMMON_IDLE:
		break;
	case NMMON_WAIT_BUS:
		nmmon_drop_session(m);
		/* Tells the consumer, if NetworkManager was running. */
		nmmon_cancel_refresh(m);
		nmmon_refresh(m);
		break;
	case NMMON_CONNECTING:
		ev_timer_stop(m->loop, &m->retry_timer);
		nmmon_start_connect(m);
		break;
	case NMMON_INIT_CLIENT:
		nmmon_unwatch_bus(m);
		nmmon_start_client(m);
		break;
	case NMMON_READY:
		nmmon_client_ready(m);
		break;
	case NMMON_STOPPING:
		ev_timer_stop(m->loop, &m->retry_timer);
		nmmon_unwatch_bus(m);
		nmmon_cancel_refresh(m);
		nmmon_drop_session(m);
		break;
	case _NMMON_STATE_MAX:
		assert(0);
		break;
	}
}

/* --- lifecycle ---------------------------------------------------------------- */

struct nmmon *nmmon_new(struct ev_loop *loop, const struct nmmon_ops *ops,
			void *user_data)
{
	struct nmmon *m;

	if (!loop || !ops || !ops->running || !ops->conn_changed ||
	    !ops->conn_removed)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->loop = loop;
	m->ops = *ops;
	m->user_data = user_data;
	m->state = NMMON_IDLE;
	m->inotify_fd = -1;
	m->wd = -1;
	ev_init(&m->inotify_io, nmmon_inotify_cb);
	ev_init(&m->retry_timer, nmmon_retry_cb);

	nmmon_route_glib_log();
	m->ctx = g_main_context_new();
	m->bridge = glib_ev_new(loop, m->ctx);
	if (!m->bridge) {
		log_err("nm: cannot drive a GLib main context from the loop");
		g_main_context_unref(m->ctx);
		free(m);
		return NULL;
	}
	return m;
}

int nmmon_start(struct nmmon *m)
{
	GError *error = NULL;

	if (m->state != NMMON_IDLE)
		return -EALREADY;
	/* $DBUS_SYSTEM_BUS_ADDRESS or GLib's default; reads no file. */
	m->bus_address = g_dbus_address_get_for_bus_sync(G_BUS_TYPE_SYSTEM,
							 NULL, &error);
	if (!m->bus_address) {
		log_debug("nm: no system bus address: %s", error->message);
		g_error_free(error);
		return -EINVAL;
	}
	m->bus_path = nmmap_bus_socket_path(m->bus_address);
	if (!m->bus_path)
		log_info("nm: system bus address %s is not a socket path: retrying every %.0f s while it fails",
			 m->bus_address, NMMON_RETRY_MAX);
	nmmon_enter_state(m, NMMON_WAIT_BUS);
	nmmon_check_bus(m);
	return 0;
}

static gboolean nmmon_drain_timeout_cb(gpointer data)
{
	bool *expired = data;

	*expired = true;
	return G_SOURCE_REMOVE;
}

struct nmmon *nmmon_free(struct nmmon *m)
{
	bool expired = false;
	GSource *timeout;

	if (!m)
		return NULL;
	nmmon_enter_state(m, NMMON_STOPPING);

	/* Cancelled operations and a disposed NMClient still complete in our
	 * context: iterate it until they have, or give up and leak. */
	timeout = g_timeout_source_new(NMMON_DRAIN_TIMEOUT);
	g_source_set_callback(timeout, nmmon_drain_timeout_cb, &expired, NULL);
	g_source_attach(timeout, m->ctx);
	while ((m->pending || m->busy) && !expired)
		g_main_context_iteration(m->ctx, TRUE);
	g_source_destroy(timeout);
	g_source_unref(timeout);
	if (m->pending || m->busy) {
		log_warning("nm: %u operations still pending at exit", m->pending + m->busy);
		m->bridge = glib_ev_free(m->bridge);
		return NULL;    /* their callbacks still point at m */
	}

	m->bridge = glib_ev_free(m->bridge);
	g_main_context_unref(m->ctx);
	nmmon_snaps_free(m->snaps, m->n_snaps);
	g_free(m->bus_address);
	free(m->bus_path);
	free(m);
	return NULL;
}

bool nmmon_running(const struct nmmon *m)
{
	return m && m->running;
}
