/* Control methods of the SNAP noun: snap.list, snap.get (docs/protocol.md,
 * "SNAPs"). */
#include "daemon/api.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>

#include "alr/registry.h"
#include "alr/snap.h"
#include "alr/types.h"
#include "base/util.h"
#include "daemon/daemon.h"
#include "daemon/jsonrpc.h"
#include "policy/policy.h"

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
	json_object_object_add(o, "calls", json_object_new_string(policy_calls_to_str(s->calls)));
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

	r = api_params_id_or_name(params, err, &id, &name);
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

static const struct control_method methods[] = {
	{ "snap.list", false, NULL, method_snap_list },
	{ "snap.get", false, NULL, method_snap_get },
};

int api_snap_register(struct control *c)
{
	return control_add_methods(c, methods, ARRAY_SIZE(methods));
}
