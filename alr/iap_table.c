/* The IAP table: netlink snapshots in, IAP events out. */
#include "alr/iap_table.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "alr/iap_sysfs.h"
#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/util.h"
#include "daemon/watchlist.h"
#include "store/store.h"

struct iap_table {
	struct store *store;
	const struct config *config;
	char *sysfs_root;
	struct iap **iaps;              /* ordered by id */
	size_t n, cap;
	struct watchlist watches;
};

static const char *const event_names[_IAP_EVENT_MAX] = {
	[IAP_EVENT_ADDED] = "iap.added",
	[IAP_EVENT_CHANGED] = "iap.changed",
	[IAP_EVENT_UP] = "iap.up",
	[IAP_EVENT_DOWN] = "iap.down",
	[IAP_EVENT_REMOVED] = "iap.removed",
};

const char *iap_event_to_str(enum iap_event e)
{
	if ((unsigned)e >= _IAP_EVENT_MAX)
		return "iap.unknown";
	return event_names[e];
}

struct iap_table *iap_table_new(struct store *store, const struct config *config,
				const char *sysfs_root)
{
	struct iap_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->store = store;
	t->config = config;
	t->sysfs_root = strdup(sysfs_root);
	if (!t->sysfs_root) {
		free(t);
		return NULL;
	}
	return t;
}

struct iap_table *iap_table_free(struct iap_table *t)
{
	if (!t)
		return NULL;
	watchlist_clear(&t->watches);
	for (size_t i = 0; i < t->n; i++)
		iap_free(t->iaps[i]);
	free(t->iaps);
	free(t->sysfs_root);
	free(t);
	return NULL;
}

unsigned int iap_table_watch(struct iap_table *t, iap_table_cb cb, void *user_data,
			     void (*destroy)(void *))
{
	return watchlist_add(&t->watches, (void *)cb, user_data, destroy);
}

bool iap_table_unwatch(struct iap_table *t, unsigned int id)
{
	return watchlist_remove(&t->watches, id);
}

static void notify(struct iap_table *t, enum iap_event ev, const struct iap *iap)
{
	WATCHLIST_NOTIFY(&t->watches, iap_table_cb, ev, iap);
}

size_t iap_table_count(const struct iap_table *t)
{
	return t->n;
}

const struct iap *iap_table_at(const struct iap_table *t, size_t i)
{
	return i < t->n ? t->iaps[i] : NULL;
}

const struct iap *iap_table_find_by_id(const struct iap_table *t, unsigned int id)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->iaps[mid]->id == id)
			return t->iaps[mid];
		if (t->iaps[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static ssize_t index_of_ifindex(const struct iap_table *t, int ifindex)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->iaps[i]->ifindex == ifindex)
			return (ssize_t)i;
	return -1;
}

const struct iap *iap_table_find_by_ifindex(const struct iap_table *t, int ifindex)
{
	ssize_t i = index_of_ifindex(t, ifindex);

	return i < 0 ? NULL : t->iaps[i];
}

const struct iap *iap_table_find_by_name(const struct iap_table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->iaps[i]->name, name) == 0)
			return t->iaps[i];
	return NULL;
}

static int insert_sorted(struct iap_table *t, struct iap *iap)
{
	size_t pos;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct iap **v = realloc(t->iaps, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->iaps = v;
		t->cap = cap;
	}
	for (pos = t->n; pos > 0 && t->iaps[pos - 1]->id > iap->id; pos--)
		t->iaps[pos] = t->iaps[pos - 1];
	t->iaps[pos] = iap;
	t->n++;
	return 0;
}

static void remove_at(struct iap_table *t, size_t i)
{
	struct iap *iap = t->iaps[i];

	memmove(&t->iaps[i], &t->iaps[i + 1], (t->n - i - 1) * sizeof(*t->iaps));
	t->n--;
	log_info("iap %u (%s): removed", iap->id, iap->name);
	/* A link that is gone is as down as one set down: one reason for
	 * both events. */
	if (iap_available(iap)) {
		iap->reason = IAP_REASON_LINK_DOWN;
		notify(t, IAP_EVENT_DOWN, iap);
	}
	iap->reason = IAP_REASON_LINK_DOWN;
	notify(t, IAP_EVENT_REMOVED, iap);
	iap_free(iap);
}

/* The kind of an interface: configured override, else detected.
 * Returns -1 when the configuration says to ignore it. */
static int kind_for(const struct iap_table *t, const struct nlmon_link *l)
{
	const char *configured = t->config ? config_kind_for(t->config, l->name) : NULL;
	struct iap_sysfs_info info;
	struct iap_kind_hints h;

	if (configured) {
		if (strcmp(configured, "ignore") == 0)
			return -1;
		return iap_kind_from_str(configured);
	}
	iap_sysfs_read(t->sysfs_root, l->name, &info);
	h = (struct iap_kind_hints){
		.name = l->name,
		.devtype = info.devtype[0] ? info.devtype : NULL,
		.wireless = info.wireless,
		.driver = info.driver[0] ? info.driver : NULL,
		.link_type = l->type[0] ? l->type : NULL,
		.arptype = l->arptype,
	};
	return (int)iap_kind_detect(&h);
}

static void log_availability(const struct iap *iap)
{
	if (iap_available(iap))
		log_info("iap %u (%s): available", iap->id, iap->name);
	else
		log_info("iap %u (%s): unavailable (%s)", iap->id, iap->name,
			 iap_reason_to_str(iap->reason));
}

static void add_link(struct iap_table *t, const struct nlmon_link *l, int kind)
{
	char identity[8 + IFNAMSIZ];
	unsigned int id;
	struct iap *iap;

	snprintf(identity, sizeof(identity), "if:%s", l->name);
	if (store_iap_id(t->store, identity, l->name, iap_kind_to_str(kind), &id) < 0) {
		/* Without a stable id the IAP would be misnamed to clients;
		 * better to leave it out and say so (store_iap_id logged why). */
		log_warning("iap %s: left out: no stable id", l->name);
		return;
	}
	iap = iap_new(id, identity, l->name, kind);
	if (!iap || iap_update(iap, l) < 0 || insert_sorted(t, iap) < 0) {
		log_err("iap %s: out of memory", l->name);
		iap_free(iap);
		return;
	}
	log_info("iap %u (%s): added, kind %s, interface %s (ifindex %d)", id,
		 iap->name, iap_kind_to_str(kind), l->name, l->ifindex);
	log_availability(iap);
	notify(t, IAP_EVENT_ADDED, iap);
	if (iap_available(iap))
		notify(t, IAP_EVENT_UP, iap);
}

void iap_table_link_changed(struct iap_table *t, const struct nlmon_link *l)
{
	ssize_t i = index_of_ifindex(t, l->ifindex);
	struct iap *iap;
	bool was_available;
	int kind, r;

	if (l->flags & IFF_LOOPBACK)
		return;
	kind = kind_for(t, l);

	/* A renamed interface is another identity: the old IAP goes, a new
	 * one comes.  An interface now ignored by configuration just goes. */
	if (i >= 0 && (kind < 0 || strcmp(t->iaps[i]->ifname, l->name) != 0)) {
		remove_at(t, (size_t)i);
		i = -1;
	}
	if (kind < 0)
		return;
	if (i < 0) {
		add_link(t, l, kind);
		return;
	}

	iap = t->iaps[i];
	was_available = iap_available(iap);
	r = iap_update(iap, l);
	if (r < 0) {
		log_err("iap %u (%s): out of memory updating state", iap->id, iap->name);
		return;
	}
	if (iap->kind != (enum iap_kind)kind) {
		log_info("iap %u (%s): kind %s -> %s", iap->id, iap->name,
			 iap_kind_to_str(iap->kind), iap_kind_to_str(kind));
		iap->kind = kind;
		r = 1;
	}
	if (!r)
		return;
	if (was_available != iap_available(iap))
		log_availability(iap);
	else
		log_debug("iap %u (%s): changed", iap->id, iap->name);
	notify(t, IAP_EVENT_CHANGED, iap);
	if (was_available != iap_available(iap))
		notify(t, iap_available(iap) ? IAP_EVENT_UP : IAP_EVENT_DOWN, iap);
}

void iap_table_link_removed(struct iap_table *t, int ifindex, const char *name)
{
	ssize_t i = index_of_ifindex(t, ifindex);

	if (i >= 0)
		remove_at(t, (size_t)i);
}

/* The snapshot an IAP was built from, enough to re-run kind_for(). */
static void iap_as_link(const struct iap *iap, struct nlmon_link *l)
{
	*l = (struct nlmon_link){
		.ifindex = iap->ifindex, .flags = iap->flags, .operstate = iap->operstate,
		.arptype = iap->arptype, .mtu = iap->mtu, .n_addrs = iap->n_addrs,
		.addrs = iap->addrs, .default_route4 = iap->default_route4,
		.default_route6 = iap->default_route6,
	};
	util_strlcpy(l->name, iap->ifname, sizeof(l->name));
	util_strlcpy(l->type, iap->link_type, sizeof(l->type));
	util_strlcpy(l->mac, iap->mac, sizeof(l->mac));
}

void iap_table_set_config(struct iap_table *t, const struct config *config)
{
	t->config = config;
	/* Kind rules may have changed: apply them now rather than at the
	 * next netlink change of each link. */
	for (size_t i = 0; i < t->n;) {
		struct iap *iap = t->iaps[i];
		struct nlmon_link l;
		int kind;

		iap_as_link(iap, &l);
		kind = kind_for(t, &l);
		if (kind < 0) {
			remove_at(t, i);
			continue;
		}
		if (iap->kind != (enum iap_kind)kind) {
			log_info("iap %u (%s): kind %s -> %s", iap->id, iap->name,
				 iap_kind_to_str(iap->kind), iap_kind_to_str(kind));
			iap->kind = kind;
			notify(t, IAP_EVENT_CHANGED, iap);
		}
		i++;
	}
}
