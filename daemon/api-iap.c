/* Control methods of the IAP noun: iap.list, iap.get (docs/protocol.md,
 * "IAPs"). */
#include "daemon/api.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>

#include "alr/iap_table.h"
#include "alr/types.h"
#include "base/util.h"
#include "daemon/daemon.h"
#include "daemon/iap-json.h"
#include "daemon/jsonrpc.h"

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
	struct daemon *d = ud;
	struct json_object *id = NULL, *name = NULL;
	const struct iap *iap;
	int r;

	r = api_params_id_or_name(params, err, &id, &name);
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

static const struct control_method methods[] = {
	{ "iap.list", false, NULL, method_iap_list },
	{ "iap.get", false, NULL, method_iap_get },
};

int api_iap_register(struct control *c)
{
	return control_add_methods(c, methods, ARRAY_SIZE(methods));
}
