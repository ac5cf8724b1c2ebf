/* Control methods: what each JSON-RPC method does (docs/protocol.md). */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alr/iap_table.h"
#include "alr/plugin_loader.h"
#include "alr/registry.h"
#include "alr/roam.h"
#include "store/store.h"
#include "alr/types.h"
#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/iap-json.h"
#include "daemon/profile-json.h"
#include "daemon/profile-text.h"
#include "daemon/jsonrpc.h"
#include "base/log.h"
#include "daemon/userfile.h"
#include "base/util.h"
#include "netlink/nlmon.h"
#include "sip/stack.h"
#include "alr/snap.h"
#include "policy/policy.h"

static int refuse_busy(struct daemon *d, struct jsonrpc_error *err);

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
	if (r < 0 || (r = refuse_busy(d, err)) < 0)
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
	if (r < 0 || (r = refuse_busy(ud, err)) < 0)
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

/* Params {"id": N} or {"name": "..."}: exactly one of them. */
static int params_id_or_name(struct json_object *params, struct jsonrpc_error *err,
			     struct json_object **ret_id, struct json_object **ret_name)
{
	static const struct jsonrpc_param spec[] = {
		{ "id", json_type_int, false },
		{ "name", json_type_string, false },
	};
	int r = jsonrpc_check_params(params, spec, ARRAY_SIZE(spec), err);

	if (r < 0)
		return r;
	*ret_id = *ret_name = NULL;
	if (params) {
		json_object_object_get_ex(params, "id", ret_id);
		json_object_object_get_ex(params, "name", ret_name);
	}
	if (!!*ret_id == !!*ret_name) {
		jsonrpc_error_set(err, ALR_ERR_INVALID_PARAMS,
				  "invalid params: give exactly one of 'id' and 'name'");
		return -EINVAL;
	}
	return 0;
}

static int method_iap_get(void *ud, struct control_client *cl, struct json_object *params,
			  struct json_object **ret, struct jsonrpc_error *err)
{
	struct daemon *d = ud;
	struct json_object *id = NULL, *name = NULL;
	const struct iap *iap;
	int r;

	r = params_id_or_name(params, err, &id, &name);
	if (r < 0)
		return r;
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

/* ---- profiles (docs/protocol.md, "Profiles") ---------------------------- */

/* -32003 while a restore or the shutdown runs. */
static int refuse_busy(struct daemon *d, struct jsonrpc_error *err)
{
	const char *why;

	if (!registry_busy(d->registry, &why))
		return 0;
	jsonrpc_error_set(err, ALR_ERR_BUSY, "%s", why);
	return -EBUSY;
}

/* The "id" member: a profile id, 1..2^32-1. */
static int get_id(struct json_object *params, unsigned int *ret, struct jsonrpc_error *err)
{
	struct json_object *v;
	int64_t id;

	if (!params || !json_object_object_get_ex(params, "id", &v)) {
		jsonrpc_error_set(err, ALR_ERR_INVALID_PARAMS, "invalid params: 'id' is missing");
		return -EINVAL;
	}
	id = json_object_get_int64(v);
	if (id <= 0 || id > UINT32_MAX) {
		jsonrpc_error_set(err, ALR_ERR_INVALID_PARAMS,
				  "invalid params: id %lld is not a profile id (1 to 4294967295)",
				  (long long)id);
		return -EINVAL;
	}
	*ret = (unsigned int)id;
	return 0;
}

static int no_profile(unsigned int id, struct jsonrpc_error *err)
{
	jsonrpc_error_set(err, ALR_ERR_NOT_FOUND, "no profile with id %u", id);
	err->data = json_object_new_object();
	json_object_object_add(err->data, "id", json_object_new_int64(id));
	return -ENOENT;
}

/* A refused profile: -32602, "FIELD: REASON", data {field, reason}
 * (docs/profiles.md, "Errors"). */
static int profile_refused(int r, const struct profile_error *pe, struct jsonrpc_error *err)
{
	/* -EDQUOT: max-profiles reached, a limit like max-clients */
	if (r == -EBUSY || r == -EDQUOT) {
		jsonrpc_error_set(err, ALR_ERR_BUSY, "%s", pe->reason[0] ? pe->reason : "busy");
		return r;
	}
	if (r == -EINVAL) {
		if (pe->field[0])
			jsonrpc_error_set(err, ALR_ERR_INVALID_PARAMS, "%s: %s", pe->field, pe->reason);
		else
			jsonrpc_error_set(err, ALR_ERR_INVALID_PARAMS, "%s", pe->reason);
		err->data = json_object_new_object();
		json_object_object_add(err->data, "field", json_object_new_string(pe->field));
		json_object_object_add(err->data, "reason", json_object_new_string(pe->reason));
		return r;
	}
	jsonrpc_error_set(err, ALR_ERR_INTERNAL, "internal error: %s%s%s", strerror(-r),
			  pe->reason[0] ? ": " : "", pe->reason);
	return r;
}

static int result_profile(struct daemon *d, unsigned int id, struct json_object **ret)
{
	struct json_object *p = profile_state_to_json(d->registry, id);

	if (!p)
		return -ENOMEM;
	*ret = json_object_new_object();
	json_object_object_add(*ret, "profile", p);
	return 0;
}

static int method_profile_create(void *ud, struct control_client *cl, struct json_object *params,
				 struct json_object **ret, struct jsonrpc_error *err)
{
	static const struct jsonrpc_param spec[] = {
		{ "profile", json_type_object, true },
	};
	struct daemon *d = ud;
	struct profile_error pe = { "", "" };
	struct profile_patch patch;
	struct json_object *obj;
	unsigned int id = 0;
	int r;

	r = jsonrpc_check_params(params, spec, ARRAY_SIZE(spec), err);
	if (r < 0 || (r = refuse_busy(d, err)) < 0)
		return r;
	json_object_object_get_ex(params, "profile", &obj);
	patch = profile_json_patch(obj);
	r = registry_create(d->registry, &patch, &id, &pe);
	if (r < 0)
		return profile_refused(r, &pe, err);
	log_info("control: client uid %u created profile %u", (unsigned)control_client_uid(cl), id);
	return result_profile(d, id, ret);
}

static int method_profile_update(void *ud, struct control_client *cl, struct json_object *params,
				 struct json_object **ret, struct jsonrpc_error *err)
{
	static const struct jsonrpc_param spec[] = {
		{ "id", json_type_int, true },
		{ "profile", json_type_object, true },
	};
	struct daemon *d = ud;
	struct profile_error pe = { "", "" };
	struct profile_patch patch;
	struct json_object *obj;
	unsigned int id;
	int r;

	r = jsonrpc_check_params(params, spec, ARRAY_SIZE(spec), err);
	if (r < 0 || (r = get_id(params, &id, err)) < 0 || (r = refuse_busy(d, err)) < 0)
		return r;
	json_object_object_get_ex(params, "profile", &obj);
	patch = profile_json_patch(obj);
	r = registry_update(d->registry, id, &patch, &pe);
	if (r == -ENOENT)
		return no_profile(id, err);
	if (r < 0)
		return profile_refused(r, &pe, err);
	return result_profile(d, id, ret);
}

struct pending_delete {
	struct control_deferred *reply;
	unsigned int id;
};

static void delete_done(int result, const char *message, void *ud)
{
	struct pending_delete *pd = ud;
	struct jsonrpc_error err = { 0 };
	struct json_object *res = NULL;

	if (result < 0) {
		jsonrpc_error_set(&err, result == -ECANCELED ? ALR_ERR_BUSY : ALR_ERR_INTERNAL,
				  "profile %u not deleted: %s", pd->id, message ? message : strerror(-result));
	} else {
		res = json_object_new_object();
		json_object_object_add(res, "id", json_object_new_int64(pd->id));
	}
	control_deferred_reply(pd->reply, res, &err);
	free(pd);
}

static int method_profile_delete(void *ud, struct control_client *cl, struct json_object *params,
				 struct json_object **ret, struct jsonrpc_error *err)
{
	static const struct jsonrpc_param spec[] = {
		{ "id", json_type_int, true },
	};
	struct daemon *d = ud;
	struct pending_delete *pd;
	unsigned int id;
	int r;

	r = jsonrpc_check_params(params, spec, ARRAY_SIZE(spec), err);
	if (r < 0 || (r = get_id(params, &id, err)) < 0 || (r = refuse_busy(d, err)) < 0)
		return r;
	if (!registry_find(d->registry, id))
		return no_profile(id, err);
	pd = calloc(1, sizeof(*pd));
	if (!pd)
		return -ENOMEM;
	pd->id = id;
	/* Answered once it is deregistered and gone (profile.destroyed). */
	pd->reply = control_client_defer(cl);
	if (!pd->reply) {
		free(pd);
		return -ENOMEM;
	}
	r = registry_delete(d->registry, id, delete_done, pd);
	if (r < 0) {
		struct jsonrpc_error e = { 0 };

		jsonrpc_error_set(&e, ALR_ERR_BUSY, "profile %u is being deleted already", id);
		control_deferred_reply(pd->reply, NULL, &e);
		free(pd);
	}
	return CONTROL_DEFERRED;
}

static int method_profile_get(void *ud, struct control_client *cl, struct json_object *params,
			      struct json_object **ret, struct jsonrpc_error *err)
{
	static const struct jsonrpc_param spec[] = {
		{ "id", json_type_int, true },
	};
	struct daemon *d = ud;
	unsigned int id;
	int r;

	r = jsonrpc_check_params(params, spec, ARRAY_SIZE(spec), err);
	if (r < 0 || (r = get_id(params, &id, err)) < 0)
		return r;
	if (!registry_find(d->registry, id))
		return no_profile(id, err);
	return result_profile(d, id, ret);
}

static int method_profile_list(void *ud, struct control_client *cl, struct json_object *params,
			       struct json_object **ret, struct jsonrpc_error *err)
{
	struct daemon *d = ud;
	struct json_object *a;
	int r;

	r = jsonrpc_check_params(params, NULL, 0, err);
	if (r < 0)
		return r;
	a = json_object_new_array();
	for (size_t i = 0; i < registry_count(d->registry); i++) {
		struct json_object *p = profile_state_to_json(d->registry,
						registry_profile_at(d->registry, i)->id);

		if (p)
			json_object_array_add(a, p);
	}
	*ret = json_object_new_object();
	json_object_object_add(*ret, "profiles", a);
	return 0;
}

enum use_op {
	USE_ENABLE,
	USE_DISABLE,
	USE_FORCE_DISABLE,
	USE_SET_DEFAULT,
};

static int profile_use(void *ud, struct control_client *cl, struct json_object *params,
		       struct json_object **ret, struct jsonrpc_error *err, enum use_op op)
{
	static const struct jsonrpc_param spec[] = {
		{ "id", json_type_int, true },
	};
	struct daemon *d = ud;
	unsigned int id;
	int r = 0;

	r = jsonrpc_check_params(params, spec, ARRAY_SIZE(spec), err);
	if (r < 0 || (r = get_id(params, &id, err)) < 0 || (r = refuse_busy(d, err)) < 0)
		return r;
	if (!registry_find(d->registry, id))
		return no_profile(id, err);
	switch (op) {
	case USE_ENABLE:
		r = registry_enable(d->registry, id, control_client_id(cl));
		break;
	case USE_DISABLE:
		/* Idempotent: a client that does not use it changes nothing. */
		r = registry_disable(d->registry, id, control_client_id(cl));
		if (r == -ENOENT)
			r = 0;
		break;
	case USE_FORCE_DISABLE:
		r = registry_force_disable(d->registry, id);
		break;
	case USE_SET_DEFAULT:
		r = registry_set_default(d->registry, id);
		break;
	}
	if (r == -EBUSY) {
		jsonrpc_error_set(err, ALR_ERR_BUSY, "profile %u is being deleted", id);
		return r;
	}
	if (r == -EUSERS) {
		jsonrpc_error_set(err, ALR_ERR_BUSY, "profile %u has too many users", id);
		return r;
	}
	if (r < 0)
		return r;
	if (!registry_find(d->registry, id))
		return no_profile(id, err);
	return result_profile(d, id, ret);
}

static int method_profile_enable(void *ud, struct control_client *cl, struct json_object *params,
				 struct json_object **ret, struct jsonrpc_error *err)
{
	return profile_use(ud, cl, params, ret, err, USE_ENABLE);
}

static int method_profile_disable(void *ud, struct control_client *cl, struct json_object *params,
				  struct json_object **ret, struct jsonrpc_error *err)
{
	return profile_use(ud, cl, params, ret, err, USE_DISABLE);
}

static int method_profile_force_disable(void *ud, struct control_client *cl,
					struct json_object *params, struct json_object **ret,
					struct jsonrpc_error *err)
{
	return profile_use(ud, cl, params, ret, err, USE_FORCE_DISABLE);
}

static int method_profile_set_default(void *ud, struct control_client *cl,
				      struct json_object *params, struct json_object **ret,
				      struct jsonrpc_error *err)
{
	return profile_use(ud, cl, params, ret, err, USE_SET_DEFAULT);
}

static int method_profile_export(void *ud, struct control_client *cl, struct json_object *params,
				 struct json_object **ret, struct jsonrpc_error *err)
{
	static const struct jsonrpc_param spec[] = {
		{ "with_passwords", json_type_boolean, false },
	};
	struct daemon *d = ud;
	struct json_object *v;
	bool secrets = false;
	char *text = NULL;
	int r;

	r = jsonrpc_check_params(params, spec, ARRAY_SIZE(spec), err);
	if (r < 0)
		return r;
	if (params && json_object_object_get_ex(params, "with_passwords", &v))
		secrets = json_object_get_boolean(v);
	if (secrets && !control_client_can_control(cl)) {
		jsonrpc_error_set(err, ALR_ERR_PERMISSION,
				  "permission denied: profile.export with passwords needs root or "
				  "membership in a control group; export without them instead");
		err->data = json_object_new_object();
		json_object_object_add(err->data, "needed", json_object_new_string("control"));
		return -EPERM;
	}
	r = profile_text_registry_export(d->registry, secrets, &text);
	if (r < 0)
		return r;
	*ret = json_object_new_object();
	json_object_object_add(*ret, "text", json_object_new_string(text));
	if (secrets) {
		explicit_bzero(text, strlen(text));
		log_notice("control: client uid %u exported the profiles with their passwords",
			   (unsigned)control_client_uid(cl));
	}
	free(text);
	return 0;
}

static int method_profile_import(void *ud, struct control_client *cl, struct json_object *params,
				 struct json_object **ret, struct jsonrpc_error *err)
{
	static const struct jsonrpc_param spec[] = {
		{ "text", json_type_string, true },
	};
	struct daemon *d = ud;
	struct json_object *v, *a;
	unsigned int *ids = NULL;
	size_t n = 0;
	char msg[512] = "";
	int r;

	r = jsonrpc_check_params(params, spec, ARRAY_SIZE(spec), err);
	if (r < 0 || (r = refuse_busy(d, err)) < 0)
		return r;
	json_object_object_get_ex(params, "text", &v);
	r = profile_text_registry_import(d->registry, json_object_get_string(v),
			    (size_t)json_object_get_string_len(v), &ids, &n, msg, sizeof(msg));
	if (r == -EINVAL) {
		jsonrpc_error_set(err, ALR_ERR_INVALID_PARAMS, "nothing imported: %s", msg);
		return r;
	}
	if (r == -EBUSY || r == -EDQUOT) {
		jsonrpc_error_set(err, ALR_ERR_BUSY, "%s", msg);
		return r;
	}
	if (r < 0) {
		jsonrpc_error_set(err, ALR_ERR_INTERNAL, "nothing imported: %s", msg);
		return r;
	}
	a = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_int64(ids[i]));
	free(ids);
	*ret = json_object_new_object();
	json_object_object_add(*ret, "created", a);
	return 0;
}

/* ---- store.backup, store.restore ----------------------------------------- */

/*
 * Paths given by clients are opened with the client's own rights
 * (daemon/userfile.h, docs/security.md): the kernel resolves each name
 * once, as the caller, and alrd works on the descriptors from then on.
 * A backup is created by the caller's identity, so it is the caller's file
 * from the start; a restore reads only what the caller could read, through
 * a private copy in the state directory that nobody else can change.
 */
static int client_cred(struct control_client *cl, struct userfile_cred *ret,
		       struct jsonrpc_error *err)
{
	int n;

	ret->uid = control_client_uid(cl);
	ret->gid = control_client_gid(cl);
	ret->n_groups = 0;
	if (ret->uid == 0)
		return 0;
	n = control_client_groups(cl, ret->groups, USERFILE_MAX_GROUPS);
	if (n < 0) {
		/* fewer rights, never more: a caller in over 64 groups is
		 * refused rather than acting with some of them */
		jsonrpc_error_set(err, ALR_ERR_PERMISSION, "permission denied: alrd cannot tell "
				  "your groups (%s); it acts on files with your rights only",
				  strerror(-n));
		return -EPERM;
	}
	ret->n_groups = (size_t)n;
	return 0;
}

/* A userfile error: what the caller's own open() would have said. */
static int file_error(int r, const char *msg, struct jsonrpc_error *err)
{
	if (r == -EACCES || r == -EPERM)
		jsonrpc_error_set(err, ALR_ERR_PERMISSION, "permission denied: %s", msg);
	else
		jsonrpc_error_set(err, ALR_ERR_INVALID_PARAMS, "invalid params: %s", msg);
	return r;
}

static int method_store_backup(void *ud, struct control_client *cl, struct json_object *params,
			       struct json_object **ret, struct jsonrpc_error *err)
{
	static const struct jsonrpc_param spec[] = {
		{ "path", json_type_string, true },
		{ "secrets", json_type_boolean, false },
	};
	struct daemon *d = ud;
	struct userfile_cred cred;
	struct userfile_new nf;
	struct json_object *v;
	const char *path;
	bool secrets = false;
	char msg[512] = "";
	int r;

	r = jsonrpc_check_params(params, spec, ARRAY_SIZE(spec), err);
	if (r < 0 || (r = refuse_busy(d, err)) < 0 || (r = client_cred(cl, &cred, err)) < 0)
		return r;
	json_object_object_get_ex(params, "path", &v);
	path = json_object_get_string(v);
	if (json_object_object_get_ex(params, "secrets", &v))
		secrets = json_object_get_boolean(v);
	r = userfile_create(&cred, path, &nf, msg, sizeof(msg));
	if (r < 0)
		return file_error(r, msg, err);
	r = store_backup_fd(d->store, nf.fd, secrets, msg, sizeof(msg));
	if (r < 0) {
		userfile_abort(&cred, &nf);
		jsonrpc_error_set(err, ALR_ERR_INTERNAL, "backup failed: %s", msg);
		return r;
	}
	r = userfile_commit(&cred, &nf, msg, sizeof(msg));
	if (r < 0)
		return file_error(r, msg, err);
	log_notice("control: client uid %u backed the store up to %s%s",
		   (unsigned)cred.uid, path, secrets ? " with its secrets" : "");
	*ret = json_object_new_object();
	json_object_object_add(*ret, "path", json_object_new_string(path));
	json_object_object_add(*ret, "secrets", json_object_new_boolean(secrets));
	return 0;
}

struct pending_restore {
	struct daemon *d;
	struct control_deferred *reply;
	char *path;
	char copy[PATH_MAX];            /* the private copy that is restored */
};

static void pending_restore_free(struct pending_restore *pr)
{
	if (pr->copy[0])
		store_remove_copy(pr->copy);
	free(pr->path);
	free(pr);
}

/* Messages about the private copy, in the client's words: "the file"
 * for the copy's name, which means nothing to the client. */
static const char *copy_message(char *msg, size_t size, const char *copy)
{
	size_t clen = strlen(copy);
	char *p;

	while (clen && (p = strstr(msg, copy))) {
		size_t tail = strlen(p + clen);

		if ((size_t)(p - msg) + 8 + tail >= size)
			break;
		memmove(p + 8, p + clen, tail + 1);
		memcpy(p, "the file", 8);
	}
	return msg;
}

static void restore_done(int result, const char *message, void *ud)
{
	struct pending_restore *pr = ud;
	struct jsonrpc_error err = { 0 };
	struct json_object *res = NULL;

	char msg[512];

	if (result < 0) {
		snprintf(msg, sizeof(msg), "%s", message ? message : strerror(-result));
		jsonrpc_error_set(&err, ALR_ERR_INTERNAL, "restore from %.200s failed: %s; the "
				  "profiles as they were are loaded again", pr->path,
				  copy_message(msg, sizeof(msg), pr->copy));
	} else {
		res = json_object_new_object();
		json_object_object_add(res, "path", json_object_new_string(pr->path));
		json_object_object_add(res, "profiles",
				       json_object_new_int64((int64_t)registry_count(pr->d->registry)));
	}
	control_deferred_reply(pr->reply, res, &err);
	pending_restore_free(pr);
}

static int method_store_restore(void *ud, struct control_client *cl, struct json_object *params,
				struct json_object **ret, struct jsonrpc_error *err)
{
	static const struct jsonrpc_param spec[] = {
		{ "path", json_type_string, true },
	};
	struct daemon *d = ud;
	struct userfile_cred cred;
	struct pending_restore *pr;
	struct json_object *v;
	const char *path;
	char msg[512] = "";
	int r, fd;

	r = jsonrpc_check_params(params, spec, ARRAY_SIZE(spec), err);
	if (r < 0 || (r = refuse_busy(d, err)) < 0 || (r = client_cred(cl, &cred, err)) < 0)
		return r;
	json_object_object_get_ex(params, "path", &v);
	path = json_object_get_string(v);
	r = userfile_open_read(&cred, path, &fd, msg, sizeof(msg));
	if (r < 0)
		return file_error(r, msg, err);
	pr = calloc(1, sizeof(*pr));
	if (!pr || !(pr->path = strdup(path))) {
		free(pr);
		close(fd);
		return -ENOMEM;
	}
	r = store_receive_fd(d->store, fd, pr->copy, sizeof(pr->copy), msg, sizeof(msg));
	close(fd);
	if (r < 0) {
		pr->copy[0] = '\0';
		pending_restore_free(pr);
		jsonrpc_error_set(err, r == -EFBIG ? ALR_ERR_INVALID_PARAMS : ALR_ERR_INTERNAL,
				  "%s%.200s: %s", r == -EFBIG ? "invalid params: " : "", path, msg);
		return r;
	}
	pr->d = d;
	pr->reply = control_client_defer(cl);
	if (!pr->reply) {
		pending_restore_free(pr);
		return -ENOMEM;
	}
	r = registry_restore(d->registry, pr->copy, restore_done, pr, msg, sizeof(msg));
	if (r < 0) {
		struct jsonrpc_error e = { 0 };

		/* the messages name the private copy: say the client's path */
		jsonrpc_error_set(&e, r == -EBUSY ? ALR_ERR_BUSY : ALR_ERR_INVALID_PARAMS,
				  "%s%.200s: %s", r == -EBUSY ? "" : "invalid params: ",
				  path, r == -EBUSY ? msg : copy_message(msg, sizeof(msg), pr->copy));
		control_deferred_reply(pr->reply, NULL, &e);
		pending_restore_free(pr);
		return CONTROL_DEFERRED;
	}
	log_notice("control: client uid %u restores the store from %s",
		   (unsigned)control_client_uid(cl), path);
	return CONTROL_DEFERRED;
}

/* ---- SNAPs (docs/protocol.md, "SNAPs") ----------------------------------- */

static struct json_object *kinds_to_json(unsigned int kinds)
{
	struct json_object *a = json_object_new_array();

	for (int k = 0; k < _IAP_KIND_MAX; k++)
		if (kinds & POLICY_KIND_BIT(k))
			json_object_array_add(a, json_object_new_string(iap_kind_to_str(k)));
	return a;
}

static struct json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

/* The SNAP object: its settings, its rules, and the available IAPs in
 * its order now (best first). */
static struct json_object *snap_to_json(struct daemon *d, const struct policy_snap *s)
{
	struct json_object *o = json_object_new_object(), *rules = json_object_new_array(),
			   *ranking = json_object_new_array();
	const struct snap_iap_view *views;
	const struct snap_ranking *engine;
	struct snap_ranking *rk;
	size_t n;

	json_object_object_add(o, "id", json_object_new_int64(s->id));
	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "file", str_or_null(s->file));
	json_object_object_add(o, "stable_time_ms", json_object_new_int64(s->stable_time_ms));
	json_object_object_add(o, "approval_timeout_ms",
			       json_object_new_int64(s->approval_timeout_ms));
	json_object_object_add(o, "on_timeout",
			       json_object_new_string(policy_on_timeout_to_str(s->on_timeout)));
	json_object_object_add(o, "migration",
			       json_object_new_string(policy_migration_to_str(s->migration)));
	json_object_object_add(o, "max_migrations", json_object_new_int64(s->max_migrations));
	json_object_object_add(o, "migration_window_ms",
			       json_object_new_int64(s->migration_window_ms));
	json_object_object_add(o, "bearers", kinds_to_json(s->bearers));
	for (size_t i = 0; i < s->n_rules; i++) {
		const struct policy_rule *ru = &s->rules[i];
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "priority", json_object_new_int64(ru->priority));
		json_object_object_add(e, "kinds", kinds_to_json(ru->kinds));
		json_object_object_add(e, "interface", str_or_null(ru->interface));
		json_object_object_add(e, "connection", str_or_null(ru->connection));
		json_object_object_add(e, "uuid", str_or_null(ru->uuid));
		json_object_object_add(e, "ssid", str_or_null(ru->ssid));
		json_object_object_add(e, "metered",
				       json_object_new_string(policy_metered_to_str(ru->metered)));
		json_object_object_add(e, "min_signal",
				       ru->min_signal < 0 ? NULL : json_object_new_int(ru->min_signal));
		json_object_object_add(e, "signal_hysteresis",
				       json_object_new_int64(ru->signal_hysteresis));
		json_object_array_add(rules, e);
	}
	json_object_object_add(o, "rules", rules);
	/* The engine's own order, which remembers which IAPs a min-signal
	 * rule admitted (signal hysteresis): a fresh ranking would leave out
	 * a Wi-Fi network that is still admitted, and that the profiles on
	 * the SNAP still use, below min-signal.  A fresh one only when the
	 * engine does not have the SNAP (it always should). */
	engine = registry_snap_ranking(d->registry, s->id);
	if (engine && snap_ranking_snap(engine) == s) {
		for (size_t i = 0; i < snap_ranking_count(engine); i++)
			json_object_array_add(ranking, json_object_new_int64(
				snap_ranking_at(engine, i)->iap_id));
	} else {
		views = registry_iap_views(d->registry, &n);
		rk = views ? snap_ranking_new(s) : NULL;
		if (rk && snap_rank(rk, views, n) >= 0)
			for (size_t i = 0; i < snap_ranking_count(rk); i++)
				json_object_array_add(ranking, json_object_new_int64(
					snap_ranking_at(rk, i)->iap_id));
		snap_ranking_free(rk);
	}
	json_object_object_add(o, "ranking", ranking);
	return o;
}

static int method_snap_list(void *ud, struct control_client *cl, struct json_object *params,
			    struct json_object **ret, struct jsonrpc_error *err)
{
	struct daemon *d = ud;
	struct json_object *a;
	int r;

	r = jsonrpc_check_params(params, NULL, 0, err);
	if (r < 0)
		return r;
	a = json_object_new_array();
	for (size_t i = 0; i < policy_set_count(d->snaps); i++)
		json_object_array_add(a, snap_to_json(d, policy_set_at(d->snaps, i)));
	*ret = json_object_new_object();
	json_object_object_add(*ret, "snaps", a);
	return 0;
}

static int method_snap_get(void *ud, struct control_client *cl, struct json_object *params,
			   struct json_object **ret, struct jsonrpc_error *err)
{
	struct daemon *d = ud;
	struct json_object *id = NULL, *name = NULL;
	const struct policy_snap *s;
	int r;

	r = params_id_or_name(params, err, &id, &name);
	if (r < 0)
		return r;
	if (id) {
		int64_t v = json_object_get_int64(id);

		s = v >= 0 && v <= UINT32_MAX ? policy_set_find_by_id(d->snaps, (unsigned int)v) : NULL;
		if (!s) {
			jsonrpc_error_set(err, ALR_ERR_NOT_FOUND, "no SNAP with id %lld",
					  (long long)v);
			return -ENOENT;
		}
	} else {
		s = policy_set_find_by_name(d->snaps, json_object_get_string(name));
		if (!s) {
			jsonrpc_error_set(err, ALR_ERR_NOT_FOUND, "no SNAP named '%.64s'",
					  json_object_get_string(name));
			return -ENOENT;
		}
	}
	*ret = json_object_new_object();
	json_object_object_add(*ret, "snap", snap_to_json(d, s));
	return 0;
}

/* ---- roaming controllers (docs/roaming.md, "Controller requests") ------ */

/* A member that names an object by id, 1..2^32-1. */
static int get_uint(struct json_object *params, const char *name, unsigned int *ret,
		    struct jsonrpc_error *err)
{
	struct json_object *v;
	int64_t id;

	if (!params || !json_object_object_get_ex(params, name, &v)) {
		jsonrpc_error_set(err, ALR_ERR_INVALID_PARAMS, "invalid params: '%s' is missing",
				  name);
		return -EINVAL;
	}
	id = json_object_get_int64(v);
	if (id <= 0 || id > UINT32_MAX) {
		jsonrpc_error_set(err, ALR_ERR_INVALID_PARAMS,
				  "invalid params: %s %lld is not an id (1 to 4294967295)", name,
				  (long long)id);
		return -EINVAL;
	}
	*ret = (unsigned int)id;
	return 0;
}

static int alr_request(void *ud, struct control_client *cl, struct json_object *params,
		       struct json_object **ret, struct jsonrpc_error *err,
		       enum registry_alr_op op)
{
	static const struct jsonrpc_param spec_profile[] = {
		{ "profile", json_type_int, true },
	};
	static const struct jsonrpc_param spec_iap[] = {
		{ "profile", json_type_int, true },
		{ "iap", json_type_int, true },
	};
	struct daemon *d = ud;
	bool with_iap = op == REGISTRY_ALR_ALLOW || op == REGISTRY_ALR_DISALLOW;
	uint64_t client = control_client_id(cl);
	unsigned int profile, iap = 0;
	char message[ROAM_MESSAGE_MAX] = "";
	int r;

	r = jsonrpc_check_params(params, with_iap ? spec_iap : spec_profile,
				 with_iap ? ARRAY_SIZE(spec_iap) : ARRAY_SIZE(spec_profile), err);
	if (r < 0 || (r = get_uint(params, "profile", &profile, err)) < 0 ||
	    (with_iap && (r = get_uint(params, "iap", &iap, err)) < 0))
		return r;
	if (client == 0 || client > UINT_MAX) {
		jsonrpc_error_set(err, ALR_ERR_INTERNAL, "internal error: client id %llu",
				  (unsigned long long)client);
		return -ERANGE;
	}
	r = registry_alr(d->registry, op, profile, iap, (unsigned int)client, message,
			 sizeof(message));
	switch (r) {
	case 0:
		*ret = json_object_new_object();
		json_object_object_add(*ret, "profile", json_object_new_int64(profile));
		return 0;
	case -ENOENT:
		jsonrpc_error_set(err, ALR_ERR_NOT_FOUND, "%s", message);
		err->data = json_object_new_object();
		json_object_object_add(err->data, "profile", json_object_new_int64(profile));
		return r;
	case -EPERM:
		jsonrpc_error_set(err, ALR_ERR_PERMISSION, "%s", message);
		return r;
	case -EINVAL:
		jsonrpc_error_set(err, ALR_ERR_INVALID_PARAMS, "%s", message);
		return r;
	case -EBUSY:
		jsonrpc_error_set(err, ALR_ERR_BUSY, "%s", message);
		return r;
	default:
		jsonrpc_error_set(err, ALR_ERR_INTERNAL, "internal error: %s", strerror(-r));
		return r;
	}
}

static int method_alr_control(void *ud, struct control_client *cl, struct json_object *params,
			      struct json_object **ret, struct jsonrpc_error *err)
{
	return alr_request(ud, cl, params, ret, err, REGISTRY_ALR_CONTROL);
}

static int method_alr_release(void *ud, struct control_client *cl, struct json_object *params,
			      struct json_object **ret, struct jsonrpc_error *err)
{
	return alr_request(ud, cl, params, ret, err, REGISTRY_ALR_RELEASE);
}

static int method_alr_allow(void *ud, struct control_client *cl, struct json_object *params,
			    struct json_object **ret, struct jsonrpc_error *err)
{
	return alr_request(ud, cl, params, ret, err, REGISTRY_ALR_ALLOW);
}

static int method_alr_disallow(void *ud, struct control_client *cl, struct json_object *params,
			       struct json_object **ret, struct jsonrpc_error *err)
{
	return alr_request(ud, cl, params, ret, err, REGISTRY_ALR_DISALLOW);
}

static int method_alr_refresh(void *ud, struct control_client *cl, struct json_object *params,
			      struct json_object **ret, struct jsonrpc_error *err)
{
	return alr_request(ud, cl, params, ret, err, REGISTRY_ALR_REFRESH);
}

const struct control_method api_methods[] = {
	{ "daemon.info", false, NULL, method_daemon_info },
	{ "daemon.reload", true, "changes the daemon's configuration", method_daemon_reload },
	{ "daemon.set-log-level", true, "changes the daemon's log level", method_set_log_level },
	{ "iap.list", false, NULL, method_iap_list },
	{ "iap.get", false, NULL, method_iap_get },
	{ "snap.list", false, NULL, method_snap_list },
	{ "snap.get", false, NULL, method_snap_get },
	{ "events.subscribe", false, NULL, method_events_subscribe },
	{ "profile.create", true, "changes the profiles", method_profile_create },
	{ "profile.update", true, "changes the profiles", method_profile_update },
	{ "profile.delete", true, "changes the profiles", method_profile_delete },
	{ "profile.get", false, NULL, method_profile_get },
	{ "profile.list", false, NULL, method_profile_list },
	{ "profile.enable", true, "registers profiles", method_profile_enable },
	{ "profile.disable", true, "deregisters profiles", method_profile_disable },
	{ "profile.force-disable", true, "deregisters profiles", method_profile_force_disable },
	{ "profile.set-default", true, "changes the profiles", method_profile_set_default },
	{ "profile.export", false, NULL, method_profile_export },
	{ "profile.import", true, "changes the profiles", method_profile_import },
	{ "store.backup", true, "writes a copy of the store", method_store_backup },
	{ "store.restore", true, "replaces the store", method_store_restore },
	{ "alr.control", true, "controls roaming", method_alr_control },
	{ "alr.release", true, "controls roaming", method_alr_release },
	{ "alr.allow", true, "controls roaming", method_alr_allow },
	{ "alr.disallow", true, "controls roaming", method_alr_disallow },
	{ "alr.refresh", true, "controls roaming", method_alr_refresh },
};

const size_t api_n_methods = ARRAY_SIZE(api_methods);
