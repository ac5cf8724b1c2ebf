/* The iap.* events as clients see them: iap.changed only when a member of
 * the IAP object changed (daemon/iap-events.h). */
#include "daemon/iap-events.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alr/iap.h"
#include "daemon/iap-json.h"

/* What each IAP's last event showed, without the members that only an
 * identity switch carries. */
struct shown {
	unsigned int id;
	struct json_object *iap;
};

struct iap_events {
	struct shown *v;
	size_t n, cap;
};

struct iap_events *iap_events_new(void)
{
	return calloc(1, sizeof(struct iap_events));
}

struct iap_events *iap_events_free(struct iap_events *e)
{
	if (!e)
		return NULL;
	for (size_t i = 0; i < e->n; i++)
		json_object_put(e->v[i].iap);
	free(e->v);
	free(e);
	return NULL;
}

static struct shown *find(struct iap_events *e, unsigned int id)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->v[i].id == id)
			return &e->v[i];
	return NULL;
}

static void forget(struct iap_events *e, unsigned int id)
{
	struct shown *s = find(e, id);

	if (!s)
		return;
	json_object_put(s->iap);
	*s = e->v[--e->n];
}

/* Keep @o (taking a reference) as what IAP @id shows now. */
static int remember(struct iap_events *e, unsigned int id, struct json_object *o)
{
	struct shown *s = find(e, id);

	if (!s) {
		if (e->n == e->cap) {
			size_t cap = e->cap ? 2 * e->cap : 8;
			struct shown *v = realloc(e->v, cap * sizeof(*v));

			if (!v)
				return -1;
			e->v = v;
			e->cap = cap;
		}
		s = &e->v[e->n++];
		*s = (struct shown){ .id = id };
	}
	json_object_put(s->iap);
	s->iap = json_object_get(o);
	return 0;
}

/* Add to @changed the dotted path of each member of @a and @b that
 * differs; objects are compared member by member, anything else (arrays
 * included: "addresses") as a whole. */
static void diff(struct json_object *a, struct json_object *b, const char *prefix,
		 struct json_object *changed)
{
	if (json_object_is_type(a, json_type_object) && json_object_is_type(b, json_type_object)) {
		char path[256];

		json_object_object_foreach(a, key, va) {
			struct json_object *vb = NULL;

			snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
			if (!json_object_object_get_ex(b, key, &vb))
				json_object_array_add(changed, json_object_new_string(path));
			else
				diff(va, vb, path, changed);
		}
		json_object_object_foreach(b, keyb, vb2) {
			(void)vb2;
			snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", keyb);
			if (!json_object_object_get_ex(a, keyb, NULL))
				json_object_array_add(changed, json_object_new_string(path));
		}
		return;
	}
	if (!json_object_equal(a, b))
		json_object_array_add(changed, json_object_new_string(*prefix ? prefix : "iap"));
}

struct json_object *iap_events_render(struct iap_events *e, enum iap_event ev,
				      const struct iap *iap, double time)
{
	struct json_object *o = iap_to_json(iap), *shown, *params, *changed = NULL;
	struct shown *s;

	if (!o)
		return NULL;
	/* replaces and replaced_by belong to the switch, not to the IAP */
	shown = json_object_new_object();
	if (!shown) {
		json_object_put(o);
		return NULL;
	}
	json_object_object_foreach(o, key, val)
		if (strcmp(key, "replaces") != 0 && strcmp(key, "replaced_by") != 0)
			json_object_object_add(shown, key, json_object_get(val));

	s = find(e, iap->id);
	if (ev == IAP_EVENT_CHANGED && s) {
		changed = json_object_new_array();
		diff(s->iap, shown, "", changed);
		if (json_object_array_length(changed) == 0) {
			json_object_put(changed);
			json_object_put(shown);
			json_object_put(o);
			return NULL;
		}
	}
	if (ev == IAP_EVENT_REMOVED)
		forget(e, iap->id);
	else
		remember(e, iap->id, shown);
	json_object_put(shown);

	params = json_object_new_object();
	json_object_object_add(params, "time", json_object_new_double(time));
	json_object_object_add(params, "iap", o);
	if (changed)
		json_object_object_add(params, "changed", changed);
	return params;
}
