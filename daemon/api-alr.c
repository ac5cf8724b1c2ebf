/* Control methods of the roaming controllers: alr.control, alr.release,
 * alr.allow, alr.disallow, alr.refresh (docs/roaming.md). */
#include "daemon/api.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "alr/registry.h"
#include "alr/roam.h"
#include "alr/types.h"
#include "base/util.h"
#include "daemon/daemon.h"
#include "daemon/jsonrpc.h"

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

static const struct control_method methods[] = {
	{ "alr.control", true, "controls roaming", method_alr_control },
	{ "alr.release", true, "controls roaming", method_alr_release },
	{ "alr.allow", true, "controls roaming", method_alr_allow },
	{ "alr.disallow", true, "controls roaming", method_alr_disallow },
	{ "alr.refresh", true, "controls roaming", method_alr_refresh },
};

int api_alr_register(struct control *c)
{
	return control_add_methods(c, methods, ARRAY_SIZE(methods));
}
