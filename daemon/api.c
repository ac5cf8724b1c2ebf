/* Control methods: what each JSON-RPC method does (docs/protocol.md). */
#include <errno.h>
#include <json-c/json.h>
#include <string.h>
#include <unistd.h>

#include "alr/iap_table.h"
#include "alr/types.h"
#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/jsonrpc.h"
#include "daemon/log.h"
#include "daemon/util.h"
#include "netlink/nlmon.h"

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

	nl = json_object_new_object();
	json_object_object_add(nl, "messages", json_object_new_int64((int64_t)st.messages));
	json_object_object_add(nl, "snapshots", json_object_new_int64((int64_t)st.snapshots));
	json_object_object_add(nl, "resyncs", json_object_new_int64((int64_t)st.resyncs));
	json_object_object_add(o, "netlink", nl);

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

static int method_daemon_reload(void *ud, struct control_client *cl, struct json_object *params,
				struct json_object **ret, struct jsonrpc_error *err)
{
	struct daemon *d = ud;
	struct config_error ce;
	int r;

	r = jsonrpc_check_params(params, NULL, 0, err);
	if (r < 0)
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
	if (r < 0)
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

static int method_iap_list(void *ud, struct control_client *cl, struct json_object *params,
			   struct json_object **ret, struct jsonrpc_error *err)
{
	struct daemon *d = ud;
	struct json_object *a;
	int r;

	r = jsonrpc_check_params(params, NULL, 0, err);
	if (r < 0)
		return r;
	a = json_object_new_array();
	for (size_t i = 0; i < iap_table_count(d->iaps); i++)
		json_object_array_add(a, iap_to_json(iap_table_at(d->iaps, i)));
	*ret = json_object_new_object();
	json_object_object_add(*ret, "iaps", a);
	return 0;
}

static int method_iap_get(void *ud, struct control_client *cl, struct json_object *params,
			  struct json_object **ret, struct jsonrpc_error *err)
{
	static const struct jsonrpc_param spec[] = {
		{ "id", json_type_int, false },
		{ "name", json_type_string, false },
	};
	struct daemon *d = ud;
	struct json_object *id = NULL, *name = NULL;
	const struct iap *iap;
	int r;

	r = jsonrpc_check_params(params, spec, ARRAY_SIZE(spec), err);
	if (r < 0)
		return r;
	if (params) {
		json_object_object_get_ex(params, "id", &id);
		json_object_object_get_ex(params, "name", &name);
	}
	if (!!id == !!name) {
		jsonrpc_error_set(err, ALR_ERR_INVALID_PARAMS,
				  "invalid params: give exactly one of 'id' and 'name'");
		return -EINVAL;
	}
	if (id) {
		int64_t v = json_object_get_int64(id);

		iap = v > 0 && v <= UINT32_MAX ? iap_table_find_by_id(d->iaps, (unsigned int)v) : NULL;
		if (!iap) {
			jsonrpc_error_set(err, ALR_ERR_NOT_FOUND, "no IAP with id %lld",
					  (long long)v);
			return -ENOENT;
		}
	} else {
		iap = iap_table_find_by_name(d->iaps, json_object_get_string(name));
		if (!iap) {
			jsonrpc_error_set(err, ALR_ERR_NOT_FOUND, "no IAP named '%.64s'",
					  json_object_get_string(name));
			return -ENOENT;
		}
	}
	*ret = json_object_new_object();
	json_object_object_add(*ret, "iap", iap_to_json(iap));
	return 0;
}

static int method_events_subscribe(void *ud, struct control_client *cl, struct json_object *params,
				   struct json_object **ret, struct jsonrpc_error *err)
{
	static const struct jsonrpc_param spec[] = {
		{ "topics", json_type_array, false },
	};
	static const char *const all[] = { "*" };
	const char *topics[64];
	struct json_object *arr = NULL;
	size_t n;
	int r;

	r = jsonrpc_check_params(params, spec, ARRAY_SIZE(spec), err);
	if (r < 0)
		return r;
	if (params)
		json_object_object_get_ex(params, "topics", &arr);
	if (!arr) {
		r = control_client_subscribe(cl, all, 1, err);
	} else {
		n = json_object_array_length(arr);
		if (n > ARRAY_SIZE(topics)) {
			jsonrpc_error_set(err, ALR_ERR_INVALID_PARAMS,
					  "invalid params: too many topics");
			return -EINVAL;
		}
		for (size_t i = 0; i < n; i++) {
			struct json_object *t = json_object_array_get_idx(arr, i);

			if (!json_object_is_type(t, json_type_string)) {
				jsonrpc_error_set(err, ALR_ERR_INVALID_PARAMS,
						  "invalid params: topics must be strings");
				return -EINVAL;
			}
			topics[i] = json_object_get_string(t);
		}
		r = control_client_subscribe(cl, topics, n, err);
	}
	if (r < 0)
		return r;
	*ret = json_object_new_object();
	json_object_object_add(*ret, "topics", arr ? json_object_get(arr) : NULL);
	if (!arr) {
		struct json_object *a = json_object_new_array();

		json_object_array_add(a, json_object_new_string("*"));
		json_object_object_add(*ret, "topics", a);
	}
	return 0;
}

const struct control_method api_methods[] = {
	{ "daemon.info", false, NULL, method_daemon_info },
	{ "daemon.reload", true, "changes the daemon's configuration", method_daemon_reload },
	{ "daemon.set-log-level", true, "changes the daemon's log level", method_set_log_level },
	{ "iap.list", false, NULL, method_iap_list },
	{ "iap.get", false, NULL, method_iap_get },
	{ "events.subscribe", false, NULL, method_events_subscribe },
};

const size_t api_n_methods = ARRAY_SIZE(api_methods);
