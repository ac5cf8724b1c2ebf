/* Control methods of the profile noun: profile.create ... profile.import
 * (docs/protocol.md, "Profiles"). */
#include "daemon/api.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alr/registry.h"
#include "alr/types.h"
#include "base/log.h"
#include "base/util.h"
#include "daemon/daemon.h"
#include "daemon/jsonrpc.h"
#include "daemon/profile-json.h"
#include "daemon/profile-text.h"
#include "edge/edge.h"

/* ---- the profile object with its state, export and import ------------- */

struct json_object *api_profile_to_json(struct registry *r, unsigned int id)
{
	struct registry_profile_status st;

	if (registry_profile_status(r, id, &st) < 0)
		return NULL;
	return profile_status_to_json(&st);
}

int api_profile_export(struct registry *r, bool with_passwords, char **ret_text)
{
	size_t n = registry_count(r);
	const struct profile **v = calloc(n ? n : 1, sizeof(*v));
	int ret;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		v[i] = registry_profile_at(r, i);
	ret = profile_text_export(v, n, with_passwords, ret_text);
	free(v);
	return ret;
}

int api_profile_import(struct registry *r, const char *text, size_t len,
		       unsigned int **ret_ids, size_t *ret_n, char *errbuf,
		       size_t errsize)
{
	struct profile_validate_ctx ctx = registry_validate_ctx(r);
	struct profile_text_error te;
	struct profile **ps = NULL;
	const char *why;
	size_t n = 0;
	int ret;

	/* before the parse, as the registry would: a restore may be running */
	if (registry_busy(r, &why)) {
		snprintf(errbuf, errsize, "%s", why);
		return -EBUSY;
	}
	ret = profile_text_import(text, len, &ctx, &ps, &n, &te);
	if (ret < 0) {
		if (ret == -ENOMEM)
			snprintf(errbuf, errsize, "out of memory");
		else if (te.line)
			snprintf(errbuf, errsize, "line %u: %s", te.line, te.message);
		else
			snprintf(errbuf, errsize, "%s", te.message);
		return ret;
	}
	ret = registry_import(r, ps, n, ret_ids, errbuf, errsize);
	if (ret == 0)
		*ret_n = n;
	return ret;
}

/* ---- methods ---------------------------------------------------------- */

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

struct json_object *api_locreg_to_json(const struct locreg *reg)
{
	struct json_object *o = json_object_new_object();
	int64_t left = reg->expires_at - util_now_steady_wall();

	json_object_object_add(o, "contact", json_object_new_string(reg->contact));
	json_object_object_add(o, "user_agent",
			       reg->user_agent ? json_object_new_string(reg->user_agent) : NULL);
	json_object_object_add(o, "uid", json_object_new_int64(reg->uid));
	json_object_object_add(o, "source", json_object_new_string(reg->source));
	json_object_object_add(o, "expires_at", json_object_new_int64(reg->expires_at));
	json_object_object_add(o, "expires", json_object_new_int64(left > 0 ? left : 0));
	return o;
}

static int result_profile(struct daemon *d, unsigned int id, struct json_object **ret)
{
	struct json_object *p = api_profile_to_json(d->registry, id), *st, *a;

	if (!p)
		return -ENOMEM;
	/* The local registrations at the edge (docs/edge.md), in its state. */
	if (json_object_object_get_ex(p, "state", &st)) {
		a = json_object_new_array();
		for (size_t i = 0; i < edge_local_count(d->edge, id); i++)
			json_object_array_add(a, api_locreg_to_json(edge_local_at(d->edge, id, i)));
		json_object_object_add(st, "local_registrations", a);
	}
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
	if (r < 0 || (r = api_refuse_busy(d, err)) < 0)
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
	if (r < 0 || (r = get_id(params, &id, err)) < 0 || (r = api_refuse_busy(d, err)) < 0)
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
	if (r < 0 || (r = get_id(params, &id, err)) < 0 || (r = api_refuse_busy(d, err)) < 0)
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
		struct json_object *p = api_profile_to_json(d->registry,
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
	if (r < 0 || (r = get_id(params, &id, err)) < 0 || (r = api_refuse_busy(d, err)) < 0)
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
	r = api_profile_export(d->registry, secrets, &text);
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
	if (r < 0 || (r = api_refuse_busy(d, err)) < 0)
		return r;
	json_object_object_get_ex(params, "text", &v);
	r = api_profile_import(d->registry, json_object_get_string(v),
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

static const struct control_method methods[] = {
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
};

int api_profile_register(struct control *c)
{
	return control_add_methods(c, methods, ARRAY_SIZE(methods));
}
