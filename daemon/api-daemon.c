/* Control methods of the daemon noun: daemon.info, daemon.reload,
 * daemon.set-log-level (docs/protocol.md). */
#include "daemon/backup.h"
#include "daemon/api.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <unistd.h>

#include "alr/iap_table.h"
#include "alr/plugin_loader.h"
#include "alr/registry.h"
#include "alr/types.h"
#include "base/log.h"
#include "base/util.h"
#include "daemon/daemon.h"
#include "daemon/dbus.h"
#include "daemon/jsonrpc.h"
#include "edge/edge.h"
#include "netlink/nlmon.h"
#include "sip/stack.h"

static int method_daemon_info(void *ud, struct control_client *cl, struct json_object *params,
			      struct json_object **ret, struct jsonrpc_error *err)
{
	struct daemon *d = ud;
	struct json_object *o, *nl, *caller;
	struct nlmon_stats st;
	int r;

	r = jsonrpc_check_params(params, NULL, 0, err);
	if (r < 0)
		return r;
	nlmon_get_stats(d->nlmon, &st);
	o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_string(ALR_VERSION));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "uptime",
			       json_object_new_double((double)(util_now_monotonic_us() - d->started_us) / 1e6));
	json_object_object_add(o, "config_file",
			       d->config->file ? json_object_new_string(d->config->file) : NULL);
	json_object_object_add(o, "state_dir", json_object_new_string(d->config->state_dir));
	json_object_object_add(o, "socket", json_object_new_string(d->config->socket_path));
	json_object_object_add(o, "log_level", json_object_new_string(log_level_to_str(log_get_level())));
	json_object_object_add(o, "clients", json_object_new_int64((int64_t)control_client_count(d->control)));
	json_object_object_add(o, "iaps", json_object_new_int64((int64_t)iap_table_count(d->iaps)));

	json_object_object_add(o, "profiles", json_object_new_int64((int64_t)registry_count(d->registry)));
	json_object_object_add(o, "backups", json_object_new_int64((int64_t)backup_count(d)));
	{
		struct json_object *pl = json_object_new_object(), *loaded = json_object_new_array(),
				   *failed = json_object_new_array();
		const char *dir = plugin_loader_dir(d->plugins);

		for (size_t i = 0; i < plugin_loader_count(d->plugins); i++) {
			const char *path;
			const struct alr_plugin *a = plugin_loader_at(d->plugins, i, &path);
			struct json_object *e = json_object_new_object();
			static const char *const classes[] = { "ietf", "ims", "other" };
			char type[160];

			snprintf(type, sizeof(type), "%s/%s",
				 (unsigned)a->profile_class < 3 ? classes[a->profile_class] : "?",
				 a->type_name);
			json_object_object_add(e, "name", json_object_new_string(a->name));
			json_object_object_add(e, "type", json_object_new_string(type));
			json_object_object_add(e, "file", json_object_new_string(path));
			json_object_object_add(e, "description",
					       a->description ? json_object_new_string(a->description) : NULL);
			json_object_array_add(loaded, e);
		}
		for (size_t i = 0; i < plugin_loader_failure_count(d->plugins); i++) {
			const char *reason;
			const char *file = plugin_loader_failure_at(d->plugins, i, &reason);
			struct json_object *e = json_object_new_object();

			json_object_object_add(e, "file", json_object_new_string(file));
			json_object_object_add(e, "reason", json_object_new_string(reason));
			json_object_array_add(failed, e);
		}
		json_object_object_add(pl, "dir", dir ? json_object_new_string(dir) : NULL);
		json_object_object_add(pl, "loaded", loaded);
		json_object_object_add(pl, "failed", failed);
		json_object_object_add(o, "plugins", pl);
	}

	nl = json_object_new_object();
	json_object_object_add(nl, "messages", json_object_new_int64((int64_t)st.messages));
	json_object_object_add(nl, "snapshots", json_object_new_int64((int64_t)st.snapshots));
	json_object_object_add(nl, "resyncs", json_object_new_int64((int64_t)st.resyncs));
	json_object_object_add(o, "netlink", nl);

	{
		struct json_object *sp = json_object_new_object();
		struct sip_stack_pacing pc;
		struct sip_stack_stats ss = { 0 };

		sip_stack_get_register_pacing(d->sip, &pc);
		sip_stack_get_stats(d->sip, &ss);
		json_object_object_add(sp, "requests", json_object_new_int64((int64_t)ss.requests_sent));
		json_object_object_add(sp, "retransmissions",
				       json_object_new_int64((int64_t)ss.retransmissions));
		json_object_object_add(sp, "tls_handshakes",
				       json_object_new_int64((int64_t)ss.tls_handshakes));
		json_object_object_add(sp, "tls_resumed",
				       json_object_new_int64((int64_t)ss.tls_resumed));
		json_object_object_add(sp, "tls_refused",
				       json_object_new_int64((int64_t)ss.tls_refused));
		json_object_object_add(sp, "register_rate", json_object_new_int64(pc.rate));
		json_object_object_add(sp, "register_burst", json_object_new_int64(pc.burst));
		json_object_object_add(sp, "attempts", json_object_new_int64((int64_t)pc.granted));
		json_object_object_add(sp, "attempts_waited", json_object_new_int64((int64_t)pc.waited));
		json_object_object_add(sp, "longest_wait_ms",
				       json_object_new_int64((int64_t)pc.max_wait_ms));
		json_object_object_add(sp, "waiting", json_object_new_int64((int64_t)pc.waiting));
		json_object_object_add(sp, "most_waiting",
				       json_object_new_int64((int64_t)pc.max_waiting));
		json_object_object_add(o, "sip", sp);
	}

	{
		struct json_object *eo = json_object_new_object(), *ls = json_object_new_array();
		struct edge_stats es = { 0 };

		for (size_t i = 0; i < edge_listen_count(d->edge); i++)
			json_object_array_add(ls, json_object_new_string(edge_listen_name(d->edge, i)));
		if (d->edge)
			edge_get_stats(d->edge, &es);
		json_object_object_add(eo, "enabled", json_object_new_boolean(d->edge != NULL));
		json_object_object_add(eo, "listen", ls);
		json_object_object_add(eo, "local_registrations",
				       json_object_new_int64((int64_t)edge_local_count(d->edge, 0)));
		json_object_object_add(eo, "requests", json_object_new_int64((int64_t)es.requests));
		json_object_object_add(eo, "dropped", json_object_new_int64((int64_t)es.dropped));
		json_object_object_add(eo, "connections",
				       json_object_new_int64((int64_t)es.connections));
		json_object_object_add(eo, "transactions",
				       json_object_new_int64((int64_t)es.transactions));
		json_object_object_add(eo, "user_lookups",
				       json_object_new_int64((int64_t)es.user_lookups));
		json_object_object_add(o, "edge", eo);
	}
	{
		struct json_object *db = json_object_new_object();
		struct dbus_info di;

		dbus_get_info(d->dbus, &di);
		json_object_object_add(db, "enabled", json_object_new_boolean(d->config->dbus));
		json_object_object_add(db, "connected", json_object_new_boolean(di.connected));
		json_object_object_add(db, "bus", !d->config->dbus ? NULL :
				       json_object_new_string(d->config->dbus_address ?
							      d->config->dbus_address : "system"));
		json_object_object_add(db, "name", json_object_new_string(DBUS_NAME));
		json_object_object_add(db, "clients", json_object_new_int64(di.clients));
		json_object_object_add(o, "dbus", db);
	}

	caller = json_object_new_object();
	json_object_object_add(caller, "uid", json_object_new_int64(control_client_uid(cl)));
	json_object_object_add(caller, "gid", json_object_new_int64(control_client_gid(cl)));
	json_object_object_add(caller, "pid", json_object_new_int64(control_client_pid(cl)));
	json_object_object_add(caller, "can_control",
			       json_object_new_boolean(control_client_can_control(cl)));
	json_object_object_add(o, "caller", caller);
	*ret = o;
	return 0;
}

/* [{"file", "line", "problem"}]: the SNAP files the reload skipped */
static struct json_object *api_snap_rejects_to_json(const struct snap_rejects *rejects)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < rejects->n; i++) {
		const struct policy_error *e = &rejects->v[i];
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "file", json_object_new_string(e->file));
		json_object_object_add(o, "line", e->line ? json_object_new_int64(e->line) : NULL);
		json_object_object_add(o, "problem", json_object_new_string(e->problem));
		json_object_array_add(a, o);
	}
	return a;
}

static int method_daemon_reload(void *ud, struct control_client *cl, struct json_object *params,
				struct json_object **ret, struct jsonrpc_error *err)
{
	struct daemon *d = ud;
	struct config_error ce;
	int r;

	r = jsonrpc_check_params(params, NULL, 0, err);
	if (r < 0 || (r = api_refuse_busy(d, err)) < 0)
		return r;
	r = daemon_reload(d, &ce);
	if (r < 0) {
		char buf[600];

		jsonrpc_error_set(err, ALR_ERR_CONFIG, "configuration not reloaded: %s",
				  config_error_to_str(&ce, buf, sizeof(buf)));
		err->data = json_object_new_object();
		json_object_object_add(err->data, "file", json_object_new_string(ce.file));
		json_object_object_add(err->data, "line", json_object_new_int(ce.line));
		json_object_object_add(err->data, "problem", json_object_new_string(ce.problem));
		return r;
	}
	*ret = json_object_new_object();
	json_object_object_add(*ret, "reloaded", json_object_new_boolean(1));
	json_object_object_add(*ret, "rejected", api_snap_rejects_to_json(&d->snap_rejects));
	return 0;
}

static int method_set_log_level(void *ud, struct control_client *cl, struct json_object *params,
				struct json_object **ret, struct jsonrpc_error *err)
{
	static const struct jsonrpc_param spec[] = {
		{ "level", json_type_string, true },
	};
	struct json_object *v;
	int level, previous, r;

	r = jsonrpc_check_params(params, spec, ARRAY_SIZE(spec), err);
	if (r < 0 || (r = api_refuse_busy(ud, err)) < 0)
		return r;
	json_object_object_get_ex(params, "level", &v);
	level = log_level_from_str(json_object_get_string(v));
	if (level < 0) {
		jsonrpc_error_set(err, ALR_ERR_INVALID_PARAMS,
				  "invalid params: level '%.32s' is not one of error, warning, notice, info, debug",
				  json_object_get_string(v));
		return -EINVAL;
	}
	previous = log_get_level();
	log_set_level(level);
	log_notice("log level %s -> %s (by uid %u)", log_level_to_str(previous),
		   log_level_to_str(level), (unsigned)control_client_uid(cl));
	*ret = json_object_new_object();
	json_object_object_add(*ret, "level", json_object_new_string(log_level_to_str(level)));
	json_object_object_add(*ret, "previous", json_object_new_string(log_level_to_str(previous)));
	return 0;
}

static const struct control_method methods[] = {
	{ "daemon.info", false, NULL, method_daemon_info },
	{ "daemon.reload", true, "changes the daemon's configuration", method_daemon_reload },
	{ "daemon.set-log-level", true, "changes the daemon's log level", method_set_log_level },
};

int api_daemon_register(struct control *c)
{
	return control_add_methods(c, methods, ARRAY_SIZE(methods));
}
