/* Control methods: the helpers every noun shares, and the registration of
 * each noun's table (daemon/api-*.c; docs/protocol.md). */
#include "daemon/api.h"

#include <errno.h>
#include <json-c/json.h>

#include "alr/registry.h"
#include "alr/types.h"
#include "base/util.h"
#include "daemon/daemon.h"
#include "daemon/jsonrpc.h"

int api_file_error(int r, const char *msg, struct jsonrpc_error *err)
{
	if (r == -EACCES || r == -EPERM)
		jsonrpc_error_set(err, ALR_ERR_PERMISSION, "permission denied: %s", msg);
	else
		jsonrpc_error_set(err, ALR_ERR_INVALID_PARAMS, "invalid params: %s", msg);
	return r;
}

/* -32003 while a restore or the shutdown runs. */
int api_refuse_busy(struct daemon *d, struct jsonrpc_error *err)
{
	const char *why;

	if (!registry_busy(d->registry, &why))
		return 0;
	jsonrpc_error_set(err, ALR_ERR_BUSY, "%s", why);
	return -EBUSY;
}

/* Params {"id": N} or {"name": "..."}: exactly one of them. */
int api_params_id_or_name(struct json_object *params, struct jsonrpc_error *err,
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

int api_register(struct control *c)
{
	int (*const nouns[])(struct control *) = {
		api_daemon_register, api_iap_register, api_snap_register,
		api_events_register, api_profile_register, api_store_register,
		api_alr_register, api_call_register,
	};
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(nouns); i++) {
		r = nouns[i](c);
		if (r < 0)
			return r;
	}
	return 0;
}
