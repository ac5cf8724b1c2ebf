/* The daemon: start order, signals, reload, stop order. */
#include "daemon/daemon.h"
#include "daemon/backup.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "alr/iap_table.h"
#include "alr/plugin_loader.h"
#include "alr/registry.h"
#include "alr/roam.h"
#include "daemon/control.h"
#include "daemon/api.h"
#include "daemon/dbus.h"
#include "daemon/iap-events.h"
#include "daemon/iap-json.h"
#include "edge/call.h"
#include "edge/edge.h"
#include "base/log.h"
#include "base/util.h"
#include "netlink/nlmon.h"
#include "nm/nmmon.h"
#include "policy/policy.h"
#include "sip/stack.h"
#include "store/store.h"

#define INSTALL_KEY_LEN         16
/* The registry gives each deregistration 2 s; the loop ends at the
 * latest this long after SIGTERM. */
#define STOP_DEADLINE           3.0


/* The iap-kinds section, as alr/'s IAP table asks for it. */
static const char *kind_rule(const char *ifname, void *user_data)
{
	return config_kind_for(user_data, ifname);
}

static ev_signal sig_term, sig_int, sig_hup;

static int take_lock(struct daemon *d)
{
	char path[PATH_MAX], pid[32];
	int fd, n;

	snprintf(path, sizeof(path), "%s/alrd.lock", d->config->state_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return log_errno(LOG_ERR, -errno, "cannot open lock %s: %m", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int r = -errno;

		n = (int)read(fd, pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		close(fd);
		if (r == -EWOULDBLOCK)
			return log_errno(LOG_ERR, -EBUSY,
					 "another alrd%s%s%s is using state directory %s (lock %s held); "
					 "stop it or use --state-dir",
					 pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "",
					 d->config->state_dir, path);
		return log_errno(LOG_ERR, r, "cannot lock %s: %m", path);
	}
	if (ftruncate(fd, 0) == 0) {
		n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
		if (pwrite(fd, pid, (size_t)n, 0) != n)
			log_debug("cannot write pid to %s", path);
	}
	d->lock_fd = fd;
	return 0;
}

static int make_state_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return log_errno(LOG_ERR, -errno, "cannot create state directory %s: %m", dir);
	if (stat(dir, &st) < 0)
		return log_errno(LOG_ERR, -errno, "state directory %s: %m", dir);
	if (!S_ISDIR(st.st_mode))
		return log_errno(LOG_ERR, -ENOTDIR, "state directory %s is not a directory", dir);
	return 0;
}

/*
 * The per-install key from which each profile's contact user part and
 * +sip.instance are derived (alr/registry.c): STATE-DIR/install-key, 32 hex
 * digits, made once.  Not a secret, but the identity of this device at
 * registrars: a new key means new contacts.
 */
static int install_key(const char *state_dir, unsigned char *key)
{
	char path[PATH_MAX], hex[2 * INSTALL_KEY_LEN + 2];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/install-key", state_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, hex, sizeof(hex) - 1);
		close(fd);
		if (n >= 2 * INSTALL_KEY_LEN) {
			bool ok = true;

			for (int i = 0; i < INSTALL_KEY_LEN && ok; i++) {
				unsigned int b;

				ok = sscanf(hex + 2 * i, "%2x", &b) == 1;
				key[i] = (unsigned char)b;
			}
			if (ok)
				return 0;
		}
		log_warning("%s is damaged; making a new one (the profiles' contacts change)",
			    path);
		unlink(path);
	} else if (errno != ENOENT) {
		return log_errno(LOG_ERR, -errno, "cannot read %s: %m", path);
	}
	if (getrandom(key, INSTALL_KEY_LEN, 0) != INSTALL_KEY_LEN)
		return log_errno(LOG_ERR, -errno, "getrandom: %m");
	for (int i = 0; i < INSTALL_KEY_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	hex[2 * INSTALL_KEY_LEN] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return log_errno(LOG_ERR, -errno, "cannot create %s: %m", path);
	n = write(fd, hex, 2 * INSTALL_KEY_LEN + 1);
	if (n != 2 * INSTALL_KEY_LEN + 1 || fsync(fd) < 0) {
		int r = n < 0 ? -errno : -EIO;

		close(fd);
		unlink(path);
		return log_errno(LOG_ERR, r, "cannot write %s: %m", path);
	}
	close(fd);
	log_info("made a new install key in %s", path);
	return 0;
}

static void snap_reject(struct snap_rejects *rejects, const struct policy_error *e)
{
	struct policy_error *v;

	if (!rejects)
		return;
	v = realloc(rejects->v, (rejects->n + 1) * sizeof(*v));
	if (!v)
		return;                 /* the log says it anyway */
	v[rejects->n++] = *e;
	rejects->v = v;
}

static void snap_error_cb(const struct policy_error *e, void *ud)
{
	char buf[PATH_MAX + 300];

	log_warning("snap: %s; file skipped", policy_error_to_str(e, buf, sizeof(buf)));
	snap_reject(ud, e);
}

int daemon_load_snaps(const char *dir, struct policy_set **ret,
		      struct snap_rejects *rejects)
{
	int r;

	if (rejects) {
		free(rejects->v);
		*rejects = (struct snap_rejects){ 0 };
	}
	r = policy_load_dir(dir, ret, snap_error_cb, rejects);
	if (r < 0) {
		struct policy_error e = { .line = 0 };

		snprintf(e.file, sizeof(e.file), "%s", dir);
		snprintf(e.problem, sizeof(e.problem), "cannot read the directory: %s; "
			 "the running SNAPs stay", strerror(-r));
		snap_reject(rejects, &e);
		return log_errno(LOG_ERR, r, "snap: cannot read %s: %m", dir);
	}
	log_info("snap: %zu SNAP%s loaded from %s%s", policy_set_count(*ret) - 1,
		 policy_set_count(*ret) == 2 ? "" : "s", dir,
		 r > 0 ? " (some files skipped)" : "");
	return r;
}

/* registry -> control socket events (docs/protocol.md) */
static void on_registry_event(const struct registry_event *ev, void *ud)
{
	struct daemon *d = ud;
	const char *method = registry_event_to_str(ev->type);
	struct json_object *params, *p;

	if (!d->control || !control_wants(d->control, method))
		return;
	params = json_object_new_object();
	json_object_object_add(params, "time", json_object_new_double(util_now_realtime()));
	switch (ev->type) {
	case REGISTRY_EVENT_CREATED:
	case REGISTRY_EVENT_UPDATED:
		p = api_profile_to_json(d->registry, ev->id);
		if (!p) {
			json_object_put(params);
			return;
		}
		json_object_object_add(params, "profile", p);
		break;
	case REGISTRY_EVENT_DESTROYED:
	case REGISTRY_EVENT_FORCIBLY_DISABLED:
		json_object_object_add(params, "id", json_object_new_int64(ev->id));
		break;
	case REGISTRY_EVENT_REGISTERED:
		json_object_object_add(params, "id", json_object_new_int64(ev->id));
		json_object_object_add(params, "iap_id", json_object_new_int64(ev->iap_id));
		json_object_object_add(params, "contact",
				       ev->contact ? json_object_new_string(ev->contact) : NULL);
		json_object_object_add(params, "expires", json_object_new_int64(ev->expires));
		break;
	case REGISTRY_EVENT_DEREGISTERED:
		json_object_object_add(params, "id", json_object_new_int64(ev->id));
		json_object_object_add(params, "reason",
				       json_object_new_string(roam_reason_to_str(ev->reason)));
		break;
	case REGISTRY_EVENT_ERROR:
		json_object_object_add(params, "id", json_object_new_int64(ev->id));
		json_object_object_add(params, "code", json_object_new_int(ev->code));
		json_object_object_add(params, "kind",
				       json_object_new_string(ev->kind ? ev->kind : "error"));
		json_object_object_add(params, "message",
				       json_object_new_string(ev->message ? ev->message : ""));
		break;
	case REGISTRY_EVENT_MIGRATED:
		json_object_object_add(params, "id", json_object_new_int64(ev->id));
		p = json_object_new_object();
		json_object_object_add(p, "iap_id", json_object_new_int64(ev->from_iap_id));
		json_object_object_add(p, "local", json_object_new_string(ev->from_local));
		json_object_object_add(p, "contact", json_object_new_string(ev->from_contact));
		json_object_object_add(params, "from", p);
		p = json_object_new_object();
		json_object_object_add(p, "iap_id", json_object_new_int64(ev->iap_id));
		json_object_object_add(p, "local", json_object_new_string(ev->local));
		json_object_object_add(p, "contact", json_object_new_string(ev->contact));
		json_object_object_add(params, "to", p);
		break;
	case _REGISTRY_EVENT_MAX:
		json_object_put(params);
		return;
	}
	control_broadcast(d->control, method, params);
}

/* The edge's local registrations -> control socket (docs/protocol.md). */
static void on_edge_event(const struct edge_event *ev, void *ud)
{
	struct daemon *d = ud;
	const char *method = ev->type == EDGE_EVENT_LOCAL_REGISTERED ?
			     "profile.local-registered" : "profile.local-unregistered";
	struct json_object *params;

	if (!d->control || !control_wants(d->control, method))
		return;
	params = json_object_new_object();
	json_object_object_add(params, "time", json_object_new_double(util_now_realtime()));
	json_object_object_add(params, "id", json_object_new_int64(ev->reg->profile_id));
	json_object_object_add(params, "registration", api_locreg_to_json(ev->reg));
	if (ev->reason)
		json_object_object_add(params, "reason", json_object_new_string(ev->reason));
	control_broadcast(d->control, method, params);
}

/* Calls through the edge -> call.started, call.answered, call.moved,
 * call.ended. */
static void on_call_event(enum call_event_kind what, const struct call_info *ci, void *ud)
{
	static const char *const methods[_CALL_EVENT_MAX] = {
		[CALL_EVENT_STARTED] = "call.started",
		[CALL_EVENT_ANSWERED] = "call.answered",
		[CALL_EVENT_MOVED] = "call.moved",
		[CALL_EVENT_ENDED] = "call.ended",
	};
	struct daemon *d = ud;
	const char *method = what < _CALL_EVENT_MAX ? methods[what] : NULL;
	struct json_object *params;

	if (!method || !d->control || !control_wants(d->control, method))
		return;
	params = json_object_new_object();
	json_object_object_add(params, "time", json_object_new_double(util_now_realtime()));
	json_object_object_add(params, "call", api_call_to_json(ci));
	if (what == CALL_EVENT_MOVED && ci->from_ifname)
		json_object_object_add(params, "from_interface",
				       json_object_new_string(ci->from_ifname));
	control_broadcast(d->control, method, params);
}

static void edge_limits(const struct config *c, struct locreg_limits *ret)
{
	*ret = (struct locreg_limits){
		.min_expires = c->edge_min_expires,
		.max_expires = c->edge_max_expires,
		.default_expires = c->edge_max_expires,
		.max_per_profile = c->edge_max_local_registrations,
	};
}

/* The SIP edge (docs/edge.md).  An address that cannot be bound stops
 * the start: it is configured, applications are set up to use it, and a
 * daemon that runs without it would leave them failing with nothing but a
 * log line to say why (as sshd or a web server refuses to start). */
/* [sip] tls-ca-file: a file that cannot be read is said now (its
 * connections fail, naming it, when they come). */
static void daemon_set_tls_ca_file(struct daemon *d, const char *path)
{
	if (path && access(path, R_OK) < 0)
		log_warning("sip: tls-ca-file %s: %m; TLS connections will fail", path);
	if (sip_stack_set_tls_ca_file(d->sip, path) < 0)
		log_warning("sip: tls-ca-file: out of memory");
}

static int start_edge(struct daemon *d, const struct config *c)
{
	struct edge_config ec = {
		.loop = d->loop, .registry = d->registry, .store = d->store,
		.listen = (const char *const *)c->edge_listen, .n_listen = c->n_edge_listen,
		.control_groups = (const char *const *)c->control_groups,
		.n_control_groups = c->n_control_groups,
	};
	struct call_config cc;
	char err[300];
	int r;

	if (!c->edge_enable) {
		log_info("edge: off ([edge] enable = no)");
		return 0;
	}
	edge_limits(c, &ec.limits);
	d->edge = edge_new(&ec);
	if (!d->edge)
		return log_errno(LOG_ERR, -ENOMEM, "edge: cannot create it: %m");
	edge_set_event_handler(d->edge, on_edge_event, d);
	r = edge_listen(d->edge, err, sizeof(err));
	if (r < 0)
		return log_errno(LOG_ERR, r, "edge: %s; free the port, change [edge] listen, "
				 "or set [edge] enable = no", err);
	cc = (struct call_config){
		.loop = d->loop, .registry = d->registry, .stack = d->sip, .edge = d->edge,
		.max_calls = c->edge_max_calls,
		.relay_port_min = c->edge_relay_port_min, .relay_port_max = c->edge_relay_port_max,
	};
	d->calls = calls_new(&cc);
	if (!d->calls)
		return log_errno(LOG_ERR, -ENOMEM, "edge: cannot set up calls: %m");
	calls_set_event_handler(d->calls, on_call_event, d);
	return 0;
}

/* Roaming events (docs/roaming.md, "Events") -> control socket: the
 * alr.* ones.  The engine's profile.registered, profile.deregistered and
 * profile.updated reach the daemon as the registry's events (with the
 * contact; on_registry_event()), never from here. */
struct roam_pick {
	struct daemon *d;
	const struct roam_event *ev;
};

static bool roam_pick_cb(uint64_t client_id, void *ud)
{
	const struct roam_pick *rp = ud;

	if (client_id > UINT_MAX)
		return false;
	if ((rp->ev->to & ROAM_TO_CLIENT) && rp->ev->client == client_id)
		return true;
	return (rp->ev->to & ROAM_TO_CONTROLLERS) &&
	       registry_alr_is_controller(rp->d->registry, rp->ev->profile,
					  (unsigned int)client_id);
}

static void on_roam_event(const struct roam_event *ev, void *ud)
{
	struct daemon *d = ud;
	struct roam_pick pick = { .d = d, .ev = ev };
	struct json_object *params;

	dbus_roam_event(d->dbus, ev);
	switch (ev->type) {
	case ROAM_EVENT_REGISTERED:
	case ROAM_EVENT_DEREGISTERED:
	case ROAM_EVENT_UPDATED:
	case _ROAM_EVENT_MAX:
		return;         /* the registry's events (on_registry_event()) */
	case ROAM_EVENT_IAP_AVAILABLE:
	case ROAM_EVENT_MIGRATION_STARTED:
	case ROAM_EVENT_MIGRATION_COMPLETED:
	case ROAM_EVENT_ERROR:
	case ROAM_EVENT_NO_IAP:
		break;
	}
	if (!d->control)
		return;
	params = json_object_new_object();
	json_object_object_add(params, "time", json_object_new_double(util_now_realtime()));
	json_object_object_add(params, "profile", json_object_new_int64(ev->profile));
	json_object_object_add(params, "snap", ev->snap == ROAM_SNAP_NONE ? NULL :
			       json_object_new_int64(ev->snap));
	switch (ev->type) {
	case ROAM_EVENT_IAP_AVAILABLE:
		json_object_object_add(params, "iap", json_object_new_int64(ev->iap));
		json_object_object_add(params, "round", json_object_new_int64((int64_t)ev->round));
		json_object_object_add(params, "deadline_ms",
				       json_object_new_int64((int64_t)ev->deadline_ms));
		/* The profile's calls (issue 14 item 3): a controller decides
		 * with them in view; they follow the profile if it moves. */
		{
			struct json_object *calls = json_object_new_array();
			struct call_info ci;

			for (size_t i = 0; d->calls && calls_get(d->calls, i, &ci) == 0; i++)
				if (ci.profile_id == ev->profile)
					json_object_array_add(calls, api_call_to_json(&ci));
			json_object_object_add(params, "calls", calls);
		}
		break;
	case ROAM_EVENT_MIGRATION_STARTED:
	case ROAM_EVENT_MIGRATION_COMPLETED:
		json_object_object_add(params, "from", json_object_new_int64(ev->from));
		json_object_object_add(params, "to", json_object_new_int64(ev->to_iap));
		break;
	case ROAM_EVENT_ERROR:
		json_object_object_add(params, "iap", json_object_new_int64(ev->iap));
		json_object_object_add(params, "code", json_object_new_int(ev->code));
		json_object_object_add(params, "name",
				       json_object_new_string(roam_error_to_str(ev->code)));
		json_object_object_add(params, "message",
				       json_object_new_string(ev->message ? ev->message : ""));
		if (ev->status)
			json_object_object_add(params, "status", json_object_new_int(ev->status));
		break;
	case ROAM_EVENT_NO_IAP:
	case ROAM_EVENT_REGISTERED:
	case ROAM_EVENT_UPDATED:
	case ROAM_EVENT_DEREGISTERED:
	case _ROAM_EVENT_MAX:
		break;
	}
	control_send(d->control, roam_event_type_to_str(ev->type), params,
		     (ev->to & ROAM_TO_OBSERVERS) != 0, roam_pick_cb, &pick);
}

/* A client left: the profiles it used lose a user, those it controlled a
 * controller. */
static void on_client_disconnect(struct control_client *cl, void *ud)
{
	struct daemon *d = ud;
	uint64_t id = control_client_id(cl);

	registry_release_user(d->registry, id);
	if (id <= UINT_MAX)
		registry_alr_client_gone(d->registry, (unsigned int)id);
}

/* nlmon -> IAP table */
static void on_link_changed(const struct nlmon_link *l, void *ud)
{
	struct daemon *d = ud;

	iap_table_link_changed(d->iaps, l);
}

static void on_link_removed(int ifindex, const char *name, void *ud)
{
	struct daemon *d = ud;

	iap_table_link_removed(d->iaps, ifindex, name);
}

static const struct nlmon_ops nlmon_ops = {
	.link_changed = on_link_changed,
	.link_removed = on_link_removed,
};

/* NetworkManager -> IAP table: connection names and attributes.  Netlink
 * stays the source of availability, and what the netlink socket holds
 * goes first: NetworkManager reacts to the same kernel events (a link
 * deleted), and an IAP must not switch identity for an interface that is
 * already gone. */
static void on_nm_running(bool running, void *ud)
{
	struct daemon *d = ud;

	nlmon_sync(d->nlmon);       /* the kernel's word first */
	iap_table_nm_running(d->iaps, running);
}

static void on_nm_conn_changed(const struct nmmon_conn *c, void *ud)
{
	struct daemon *d = ud;

	nlmon_sync(d->nlmon);       /* the kernel's word first */
	iap_table_nm_conn_changed(d->iaps, c);
}

static void on_nm_conn_removed(const char *uuid, void *ud)
{
	struct daemon *d = ud;

	nlmon_sync(d->nlmon);       /* the kernel's word first */
	iap_table_nm_conn_removed(d->iaps, uuid);
}

static const struct nmmon_ops nmmon_ops = {
	.running = on_nm_running,
	.conn_changed = on_nm_conn_changed,
	.conn_removed = on_nm_conn_removed,
};

/* IAP table -> control socket events */
static void on_iap_event(enum iap_event ev, const struct iap *iap, void *ud)
{
	struct daemon *d = ud;
	const char *method = iap_event_to_str(ev);
	struct json_object *params;

	/* rendered even when nobody listens: an iap.changed is compared
	 * with what the IAP's previous event showed */
	params = iap_events_render(d->iap_events, ev, iap, util_now_realtime());
	if (!params)
		return;
	if (!d->control || !control_wants(d->control, method)) {
		json_object_put(params);
		return;
	}
	control_broadcast(d->control, method, params);
}

static void shutdown_done(int result, const char *message, void *ud)
{
	struct daemon *d = ud;

	ev_timer_stop(d->loop, &d->stop_deadline);
	ev_break(d->loop, EVBREAK_ALL);
}

static void stop_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	log_notice("deregistration not finished within %.0f s; stopping anyway", STOP_DEADLINE);
	ev_break(loop, EVBREAK_ALL);
}

/* The first signal deregisters the profiles while the loop keeps running
 * (bounded by STOP_DEADLINE); a second one, or the end of that, ends the
 * loop. */
static void sig_stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = ev_userdata(loop);

	if (d->stopping || !d->registry) {
		log_notice("received %s, stopping now", strsignal(w->signum));
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	log_notice("received %s, deregistering the profiles and stopping", strsignal(w->signum));
	sd_notify(0, "STOPPING=1");
	d->stopping = true;
	ev_timer_init(&d->stop_deadline, stop_deadline_cb, STOP_DEADLINE, 0.);
	ev_timer_start(loop, &d->stop_deadline);
	registry_shutdown(d->registry, shutdown_done, d);
}

static void sig_hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = ev_userdata(loop);
	struct config_error ce;
	char buf[600];

	log_notice("received SIGHUP, reloading configuration");
	if (daemon_reload(d, &ce) < 0)
		log_err("configuration not reloaded: %s; keeping the running one",
			config_error_to_str(&ce, buf, sizeof(buf)));
}

int daemon_reload(struct daemon *d, struct config_error *ret_error)
{
	const char *path = d->opts.config_file ? d->opts.config_file : ALR_DEFAULT_CONFIG;
	struct config *c;
	int r;

	sd_notify(0, "RELOADING=1");
	r = config_load(path, d->opts.config_given, &c, ret_error);
	if (r < 0) {
		sd_notify(0, "READY=1");
		return r;
	}
	config_apply_overrides(c, &d->opts.overrides);
	/* These are held open (lock, database, socket): a new value would
	 * need a restart.  Keep the running ones and say so. */
	if (strcmp(c->state_dir, d->config->state_dir) != 0) {
		log_warning("state-dir change to %s needs a restart; still using %s",
			    c->state_dir, d->config->state_dir);
		free(c->state_dir);
		c->state_dir = strdup(d->config->state_dir);
	}
	if (strcmp(c->socket_path, d->config->socket_path) != 0 ||
	    c->socket_mode != d->config->socket_mode) {
		log_warning("socket and socket-mode changes need a restart; still using %s",
			    d->config->socket_path);
		free(c->socket_path);
		c->socket_path = strdup(d->config->socket_path);
		c->socket_mode = d->config->socket_mode;
	}
	if (strcmp(c->plugin_dir, d->config->plugin_dir) != 0) {
		log_warning("plugin-dir change to %s needs a restart; still using %s",
			    c->plugin_dir, d->config->plugin_dir);
		free(c->plugin_dir);
		c->plugin_dir = strdup(d->config->plugin_dir);
	}
	if (!c->state_dir || !c->socket_path || !c->plugin_dir) {
		config_free(c);
		snprintf(ret_error->problem, sizeof(ret_error->problem), "out of memory");
		sd_notify(0, "READY=1");
		return -ENOMEM;
	}
	/* SNAPs: the new set in full, then swapped in; a directory that
	 * cannot be read keeps the running SNAPs. */
	{
		struct policy_set *set;

		if (daemon_load_snaps(c->snap_dir, &set, &d->snap_rejects) >= 0) {
			registry_set_snaps(d->registry, set);
			policy_set_free(d->snaps);
			d->snaps = set;
		}
	}
	log_set_level(c->log_level);
	sip_stack_set_register_pacing(d->sip, c->register_rate, c->register_burst);
	sip_stack_set_keepalive(d->sip, c->keepalive * 1000u);
	daemon_set_tls_ca_file(d, c->tls_ca_file);
	registry_set_max_profiles(d->registry, c->max_profiles);
	registry_set_registration_check(d->registry, c->registration_check * 1000u);
	if (c->edge_enable != d->config->edge_enable ||
	    c->n_edge_listen != d->config->n_edge_listen ||
	    c->edge_allow_non_loopback != d->config->edge_allow_non_loopback)
		log_warning("[edge] enable and listen changes need a restart");
	else
		for (size_t i = 0; i < c->n_edge_listen; i++)
			if (strcmp(c->edge_listen[i], d->config->edge_listen[i]) != 0) {
				log_warning("[edge] enable and listen changes need a restart");
				break;
			}
	/* the calls' relay pool is made at start (edge/call.c) */
	if (c->edge_relay_port_min != d->config->edge_relay_port_min ||
	    c->edge_relay_port_max != d->config->edge_relay_port_max) {
		log_warning("[edge] relay-ports change to %u-%u needs a restart; still using %u-%u",
			    c->edge_relay_port_min, c->edge_relay_port_max,
			    d->config->edge_relay_port_min, d->config->edge_relay_port_max);
		c->edge_relay_port_min = d->config->edge_relay_port_min;
		c->edge_relay_port_max = d->config->edge_relay_port_max;
	}
	if (d->edge) {
		struct locreg_limits lim;

		edge_limits(c, &lim);
		edge_set_limits(d->edge, &lim);
		edge_set_control_groups(d->edge, (const char *const *)c->control_groups,
					c->n_control_groups);
		calls_set_max(d->calls, c->edge_max_calls);
	}
	control_set_config(d->control, c);
	iap_table_set_kind_rule(d->iaps, kind_rule, (void *)c);
	config_free(d->config);
	d->config = c;
	log_info("configuration reloaded from %s", path);
	sd_notify(0, "READY=1");
	return 0;
}
static void periodic_unused_cb(struct ev_loop *loop, ev_periodic *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
}

/* Without a timerfd libev wakes up every 59.743 s (MAX_BLOCKTIME) to
 * notice jumps of the wall clock; it makes the timerfd for its first
 * ev_periodic and keeps it.  Starting and stopping one lets an idle alrd
 * sleep until a timer of its own is due (bench/idle-cost). */
static void keep_idle_asleep(struct ev_loop *loop)
{
	ev_periodic p;

	ev_periodic_init(&p, periodic_unused_cb, 0., 3600., NULL);
	ev_periodic_start(loop, &p);
	ev_periodic_stop(loop, &p);
}


/* The store's commits from netlink and SIP callbacks (IAP ids, contacts)
 * reach the disk here, STORE_SYNC_DELAY after the first of a burst, and
 * never inside the callback that made them (store/store.h,
 * "durability").  Not from an idle watcher: the loop is idle right after
 * a failover's REGISTER went out, and the checkpoint's two fsyncs (about
 * a millisecond) would then stand between the registrar's 200 OK and
 * alrd (docs/benchmarks.md, "the failover regression"). */
static void store_sync_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = container_of(w, struct daemon, store_sync);
	int r;

	(void)loop;
	(void)revents;
	r = store_sync(d->store);
	if (r < 0)
		log_warning("store: cannot write to disk: %s; retrying in %.0f ms",
			    strerror(-r), STORE_SYNC_DELAY * 1000);
}

static void store_check_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct daemon *d = container_of(w, struct daemon, store_check);

	(void)revents;
	/* Set again each time: a stopped ev_timer restarts with what was
	 * left of it, which is nothing once it has fired. */
	if (d->store && store_unsynced(d->store) && !ev_is_active(&d->store_sync)) {
		ev_timer_set(&d->store_sync, STORE_SYNC_DELAY, 0.);
		ev_timer_start(loop, &d->store_sync);
	}
}

int daemon_start(struct daemon *d, struct config *config, const struct daemon_options *opts)
{
	char path[PATH_MAX], err[512];
	int r;

	d->opts = *opts;
	d->config = config;
	d->lock_fd = -1;
	d->started_us = util_now_monotonic_us();

	/* No signal watcher may run before we own the loop, and a client
	 * that goes away mid-write must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	d->loop = ev_loop_new(EVFLAG_AUTO);
	if (!d->loop)
		return log_errno(LOG_ERR, -ENOMEM, "cannot create the event loop");
	ev_set_userdata(d->loop, d);
	keep_idle_asleep(d->loop);

	r = make_state_dir(config->state_dir);
	if (r < 0)
		return r;
	r = take_lock(d);
	if (r < 0)
		return r;

	snprintf(path, sizeof(path), "%s/alrd.db", config->state_dir);
	r = store_open(path, &d->store, err, sizeof(err));
	if (r < 0)
		return log_errno(LOG_ERR, r, "store: %s", err);
	ev_prepare_init(&d->store_check, store_check_cb);
	ev_prepare_start(d->loop, &d->store_check);
	ev_timer_init(&d->store_sync, store_sync_cb, STORE_SYNC_DELAY, 0.);

	d->iaps = iap_table_new(d->store, kind_rule, (void *)config, "/sys/class/net");
	if (!d->iaps)
		return log_errno(LOG_ERR, -ENOMEM, "out of memory");
	d->iap_events = iap_events_new();
	if (!d->iap_events)
		return log_errno(LOG_ERR, -ENOMEM, "out of memory");
	iap_table_watch(d->iaps, on_iap_event, d, NULL);

	d->nlmon = nlmon_new(d->loop, &nlmon_ops, d, config->netlink_rcvbuf);
	if (!d->nlmon)
		return log_errno(LOG_ERR, -ENOMEM, "netlink: cannot create the monitor");
	r = nlmon_start(d->nlmon);
	if (r < 0)
		return log_errno(LOG_ERR, r, "netlink: cannot start the monitor: %m");

	/* NetworkManager is optional: absent or late is normal, and the
	 * monitor never blocks; connection names arrive when it answers. */
	if (config->networkmanager) {
		d->nmmon = nmmon_new(d->loop, &nmmon_ops, d);
		if (!d->nmmon)
			return log_errno(LOG_ERR, -ENOMEM, "networkmanager: cannot create the monitor");
		r = nmmon_start(d->nmmon);
		if (r < 0)
			return log_errno(LOG_ERR, r, "networkmanager: cannot start the monitor: %m");
	}

	/* SNAP policies: bad files are logged and skipped, an unreadable
	 * directory leaves the built-in default SNAP only. */
	if (daemon_load_snaps(config->snap_dir, &d->snaps, &d->snap_rejects) < 0) {
		d->snaps = policy_set_new();
		if (!d->snaps)
			return log_errno(LOG_ERR, -ENOMEM, "out of memory");
	}

	/* Profiles: the SIP stack, the plugins, the registry.  The IAP table
	 * is complete here, so the first registrations pick a real IAP. */
	{
		unsigned char key[INSTALL_KEY_LEN];
		struct registry_config rc;

		r = install_key(config->state_dir, key);
		if (r < 0)
			return r;
		d->sip = sip_stack_new(d->loop);
		if (!d->sip)
			return log_errno(LOG_ERR, -ENOMEM, "sip: cannot create the stack");
		sip_stack_set_register_pacing(d->sip, config->register_rate,
					      config->register_burst);
		sip_stack_set_keepalive(d->sip, config->keepalive * 1000u);
		daemon_set_tls_ca_file(d, config->tls_ca_file);
		d->plugins = plugin_loader_new(registry_plugin_host());
		if (!d->plugins)
			return log_errno(LOG_ERR, -ENOMEM, "out of memory");
		/* A missing or unsafe directory is logged; alrd runs on,
		 * and profiles of the missing types report profile.error. */
		plugin_loader_load_dir(d->plugins, config->plugin_dir);
		rc = (struct registry_config){
			.loop = d->loop, .store = d->store, .iaps = d->iaps,
			.plugins = d->plugins, .stack = d->sip,
			.install_key = key, .install_key_len = sizeof(key),
			.max_profiles = config->max_profiles,
			.registration_check_ms = config->registration_check * 1000u,
		};
		d->registry = registry_new(&rc);
		explicit_bzero(key, sizeof(key));
		if (!d->registry)
			return log_errno(LOG_ERR, -ENOMEM, "out of memory");
		registry_set_snaps(d->registry, d->snaps);
		registry_watch(d->registry, on_registry_event, d, NULL);
		registry_set_roam_handler(d->registry, on_roam_event, d);
	}

	r = start_edge(d, config);
	if (r < 0)
		return r;

	/* The socket comes last: a client that can connect sees a complete
	 * IAP table. */
	d->control = control_new(d->loop, config, NULL, 0, d);
	if (!d->control || api_register(d->control) < 0)
		return log_errno(LOG_ERR, -ENOMEM, "out of memory");
	d->disconnect_watch = control_watch_disconnect(d->control, on_client_disconnect, d, NULL);
	/* D-Bus beside the socket; without a bus alrd runs on. */
	d->dbus = dbus_start(d);
	/* Caught before a client can connect: a client that stops alrd as
	 * soon as the socket accepts must not find SIGTERM's default action
	 * (the callbacks run once the loop does). */
	ev_signal_init(&sig_term, sig_stop_cb, SIGTERM);
	ev_signal_init(&sig_int, sig_stop_cb, SIGINT);
	ev_signal_init(&sig_hup, sig_hup_cb, SIGHUP);
	ev_signal_start(d->loop, &sig_term);
	ev_signal_start(d->loop, &sig_int);
	ev_signal_start(d->loop, &sig_hup);
	r = control_listen(d->control);
	if (r < 0)
		return r;

	/* Registering comes after the last step that can fail, so that a
	 * failed start leaves nothing at any registrar.  No client is served
	 * before the loop runs, so none sees the profiles half loaded. */
	r = registry_load(d->registry);
	if (r < 0)
		return r;

	log_notice("alrd %s started: %zu IAP%s, %zu profile%s, %zu plugin%s, socket %s, state %s",
		   ALR_VERSION, iap_table_count(d->iaps), iap_table_count(d->iaps) == 1 ? "" : "s",
		   registry_count(d->registry), registry_count(d->registry) == 1 ? "" : "s",
		   plugin_loader_count(d->plugins), plugin_loader_count(d->plugins) == 1 ? "" : "s",
		   config->socket_path, config->state_dir);
	sd_notifyf(0, "READY=1\nSTATUS=%zu IAP%s\nMAINPID=%d", iap_table_count(d->iaps),
		   iap_table_count(d->iaps) == 1 ? "" : "s",
		   (int)getpid());
	return 0;
}

int daemon_run(struct daemon *d)
{
	ev_run(d->loop, 0);
	return 0;
}

void daemon_stop(struct daemon *d)
{
	if (!d->stopping)
		sd_notify(0, "STOPPING=1");
	if (d->loop) {
		ev_signal_stop(d->loop, &sig_term);
		ev_signal_stop(d->loop, &sig_int);
		ev_signal_stop(d->loop, &sig_hup);
		ev_timer_stop(d->loop, &d->stop_deadline);
		ev_prepare_stop(d->loop, &d->store_check);
		ev_timer_stop(d->loop, &d->store_sync);
	}
	/* Clients leaving now must not reach the registry; the registry's
	 * pending answers go out while the control server still exists. */
	if (d->control && d->disconnect_watch)
		control_unwatch_disconnect(d->control, d->disconnect_watch);
	backup_cancel_all(d);
	d->calls = calls_free(d->calls);
	d->edge = edge_free(d->edge);
	d->dbus = dbus_free(d->dbus);
	d->registry = registry_free(d->registry);
	d->snaps = policy_set_free(d->snaps);
	free(d->snap_rejects.v);
	d->snap_rejects = (struct snap_rejects){ 0 };
	d->plugins = plugin_loader_free(d->plugins);
	d->sip = sip_stack_free(d->sip);
	d->control = control_free(d->control);
	d->nmmon = nmmon_free(d->nmmon);
	d->nlmon = nlmon_free(d->nlmon);
	d->iaps = iap_table_free(d->iaps);
	d->iap_events = iap_events_free(d->iap_events);
	d->store = store_close(d->store);
	if (d->lock_fd >= 0) {
		/* The lock file stays (its pid is stale but harmless); only
		 * the lock goes, with the descriptor. */
		close(d->lock_fd);
		d->lock_fd = -1;
	}
	if (d->loop) {
		ev_loop_destroy(d->loop);
		d->loop = NULL;
	}
	d->config = config_free(d->config);
	log_notice("alrd stopped");
}
