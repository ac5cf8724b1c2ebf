/* Control methods of the events noun: events.subscribe (docs/protocol.md,
 * "Events"). */
#include "daemon/api.h"

#include <errno.h>
#include <json-c/json.h>

#include "alr/types.h"
#include "base/util.h"
#include "daemon/control.h"
#include "daemon/jsonrpc.h"

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

static const struct control_method methods[] = {
	{ "events.subscribe", false, NULL, method_events_subscribe },
};

int api_events_register(struct control *c)
{
	return control_add_methods(c, methods, ARRAY_SIZE(methods));
}
