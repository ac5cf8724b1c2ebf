/* Control methods of the call noun: call.list (docs/protocol.md,
 * "Calls"), and the call.* events' object. */
#include "daemon/api.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>

#include "alr/types.h"
#include "base/util.h"
#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/jsonrpc.h"
#include "edge/call.h"

struct json_object *api_call_to_json(const struct call_info *ci)
{
	struct json_object *o = json_object_new_object();
	int64_t now = (int64_t)util_now_monotonic_us();

	json_object_object_add(o, "id", json_object_new_int64(ci->id));
	json_object_object_add(o, "profile", json_object_new_int64(ci->profile_id));
	json_object_object_add(o, "direction",
			       json_object_new_string(call_direction_to_str(ci->direction)));
	json_object_object_add(o, "state", json_object_new_string(call_state_to_str(ci->state)));
	json_object_object_add(o, "peer", ci->peer ? json_object_new_string(ci->peer) : NULL);
	json_object_object_add(o, "interface",
			       ci->ifname && ci->ifname[0] ? json_object_new_string(ci->ifname) :
			       NULL);
	json_object_object_add(o, "moves", json_object_new_int64(ci->moves));
	{
		struct json_object *m = json_object_new_object();

		json_object_object_add(m, "to_network",
				       json_object_new_int64((int64_t)ci->media_to_net));
		json_object_object_add(m, "to_application",
				       json_object_new_int64((int64_t)ci->media_to_app));
		json_object_object_add(m, "dropped",
				       json_object_new_int64((int64_t)ci->media_dropped));
		json_object_object_add(o, "media_packets", m);
	}
	json_object_object_add(o, "duration_ms",
			       json_object_new_int64((now - ci->started_us) / 1000));
	json_object_object_add(o, "answered_ms_ago",
			       ci->answered_us ?
			       json_object_new_int64((now - ci->answered_us) / 1000) : NULL);
	if (ci->state == CALL_ENDED) {
		json_object_object_add(o, "end_code", json_object_new_int(ci->end_code));
		json_object_object_add(o, "end_reason", ci->end_reason ?
				       json_object_new_string(ci->end_reason) : NULL);
	}
	return o;
}

static int method_call_list(void *ud, struct control_client *cl, struct json_object *params,
			    struct json_object **ret, struct jsonrpc_error *err)
{
	static const struct jsonrpc_param spec[] = {
		{ "profile", json_type_int, false },
	};
	struct daemon *d = ud;
	struct json_object *a, *pv = NULL;
	int64_t profile = -1;
	struct call_info ci;
	int r;

	(void)cl;
	r = jsonrpc_check_params(params, spec, ARRAY_SIZE(spec), err);
	if (r < 0)
		return r;
	if (params && json_object_object_get_ex(params, "profile", &pv)) {
		profile = json_object_get_int64(pv);
		if (profile < 1 || profile > UINT32_MAX) {
			jsonrpc_error_set(err, ALR_ERR_INVALID_PARAMS,
					  "invalid params: 'profile' must be a profile id "
					  "(1 to 4294967295)");
			return -EINVAL;
		}
	}
	a = json_object_new_array();
	for (size_t i = 0; d->calls && calls_get(d->calls, i, &ci) == 0; i++)
		if (profile < 0 || ci.profile_id == (unsigned int)profile)
			json_object_array_add(a, api_call_to_json(&ci));
	*ret = json_object_new_object();
	json_object_object_add(*ret, "calls", a);
	return 0;
}

static const struct control_method methods[] = {
	{ "call.list", false, NULL, method_call_list },
};

int api_call_register(struct control *c)
{
	return control_add_methods(c, methods, ARRAY_SIZE(methods));
}
