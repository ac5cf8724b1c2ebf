/* The IAP table: netlink snapshots in, IAP events out. */
#include "alr/iap_table.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "alr/iap_sysfs.h"
#include "base/log.h"
#include "base/util.h"
#include "base/watchlist.h"
#include "nm/nmmon.h"
#include "store/store.h"

/* A NetworkManager connection active on an interface. */
struct nm_entry {
	int ifindex;                    /* 0: unknown, match by name */
	char iface[IFNAMSIZ];
	struct iap_nm info;
};

struct iap_table {
	struct store *store;
	iap_kind_rule_fn rule;
	void *rule_data;
	char *sysfs_root;
	struct iap **iaps;              /* ordered by id */
	size_t n, cap;
	struct nm_entry *nm;            /* active NetworkManager connections */
	size_t n_nm, cap_nm;
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

struct iap_table *iap_table_new(struct store *store, iap_kind_rule_fn rule, void *rule_data,
				const char *sysfs_root)
{
	struct iap_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->store = store;
	t->rule = rule;
	t->rule_data = rule_data;
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
	for (size_t i = 0; i < t->n_nm; i++)
		iap_nm_clear(&t->nm[i].info);
	free(t->nm);
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
	log_iap(LOG_INFO, iap->id, "iap %u (%s): removed", iap->id, iap->name);
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

/* The connection that names the interface, if any.  A VPN connection that
 * reports its parent's interface does not take it over from the parent's
 * own connection (XXX: VPN plugin connections without an interface of
 * their own are not IAPs yet). */
static const struct nm_entry *nm_for_link(const struct iap_table *t, int ifindex,
					  const char *name)
{
	const struct nm_entry *vpn = NULL;

	for (size_t i = 0; i < t->n_nm; i++) {
		const struct nm_entry *e = &t->nm[i];

		if (!(e->ifindex ? e->ifindex == ifindex : strcmp(e->iface, name) == 0))
			continue;
		if (!e->info.vpn)
			return e;
		vpn = vpn ? vpn : e;
	}
	return vpn;
}

/* What an interface should be: identity, name, kind, NetworkManager
 * connection.  -1 when configuration says to ignore it. */
struct desired {
	char identity[64];
	const char *name;
	int kind;
	const struct iap_nm *nm;
};

static int desire(const struct iap_table *t, const struct nlmon_link *l, struct desired *d)
{
	const char *configured = t->rule ? t->rule(l->name, t->rule_data) : NULL;
	const struct nm_entry *e = nm_for_link(t, l->ifindex, l->name);
	struct iap_sysfs_info info;
	struct iap_kind_hints h;

	if (configured && strcmp(configured, "ignore") == 0)
		return -1;
	if (e && e->info.uuid) {
		snprintf(d->identity, sizeof(d->identity), "nm:%s", e->info.uuid);
		d->name = e->info.id ? e->info.id : l->name;
		d->nm = &e->info;
	} else {
		snprintf(d->identity, sizeof(d->identity), "if:%s", l->name);
		d->name = l->name;
		d->nm = NULL;
	}
	/* The configuration names kinds by interface, and wins: it is how a
	 * user corrects a wrong guess, NetworkManager's included. */
	if (configured) {
		d->kind = iap_kind_from_str(configured);
		return 0;
	}
	if (d->nm) {
		d->kind = (int)(nmmon_kind_for(d->nm->device_type, d->nm->conn_type,
							   d->nm->vpn));
		if (d->kind >= 0)
			return 0;
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
	d->kind = (int)iap_kind_detect(&h);
	return 0;
}

static void log_availability(const struct iap *iap)
{
	if (iap_available(iap))
		log_iap(LOG_INFO, iap->id, "iap %u (%s): available", iap->id, iap->name);
	else
		log_iap(LOG_INFO, iap->id, "iap %u (%s): unavailable (%s)", iap->id, iap->name,
			iap_reason_to_str(iap->reason));
}

/* A new IAP for @l as @d says, not yet in the table.  NULL on failure
 * (logged). */
static struct iap *make_iap(struct iap_table *t, const struct nlmon_link *l,
			    const struct desired *d)
{
	unsigned int id;
	struct iap *iap;

	if (store_iap_id(t->store, d->identity, d->name, iap_kind_to_str(d->kind), &id) < 0) {
		/* Without a stable id the IAP would be misnamed to clients;
		 * better to leave it out and say so (store_iap_id logged why). */
		log_warning("iap %s: left out: no stable id", d->name);
		return NULL;
	}
	iap = iap_new(id, d->identity, d->name, d->kind);
	if (!iap || iap_update(iap, l) < 0 || (d->nm && !(iap->nm = iap_nm_dup(d->nm)))) {
		log_err("iap %s: out of memory", d->name);
		return iap_free(iap);
	}
	return iap;
}

static void add_link(struct iap_table *t, const struct nlmon_link *l, const struct desired *d)
{
	struct iap *iap = make_iap(t, l, d);

	if (!iap)
		return;
	if (insert_sorted(t, iap) < 0) {
		log_err("iap %s: out of memory", d->name);
		iap_free(iap);
		return;
	}
	log_iap(LOG_INFO, iap->id, "iap %u (%s): added, kind %s, interface %s (ifindex %d)%s%s",
		iap->id, iap->name, iap_kind_to_str(iap->kind), l->name, l->ifindex,
		iap->nm ? ", NetworkManager connection " : "", iap->nm ? iap->nm->uuid : "");
	log_availability(iap);
	notify(t, IAP_EVENT_ADDED, iap);
	if (iap_available(iap))
		notify(t, IAP_EVENT_UP, iap);
}

/*
 * The same interface changes identity: NetworkManager activated a
 * connection on it, or went away.  The link is what it was, so this is no
 * loss: the new IAP is announced first (with .replaces), then the old one
 * is removed (with .replaced_by) without an iap.down, so that whoever uses
 * the old IAP can carry on over the new one.
 */
static void replace_at(struct iap_table *t, size_t i, const struct nlmon_link *l,
		       const struct desired *d)
{
	struct iap *old = t->iaps[i];
	struct iap *new = make_iap(t, l, d);

	if (!new)
		return;
	memmove(&t->iaps[i], &t->iaps[i + 1], (t->n - i - 1) * sizeof(*t->iaps));
	t->n--;
	if (insert_sorted(t, new) < 0) {
		/* Cannot fail: a slot was just freed. */
		log_err("iap %s: out of memory", d->name);
		iap_free(new);
		insert_sorted(t, old);
		return;
	}
	log_iap(LOG_INFO, new->id, "iap %u (%s) is now iap %u (%s): %s", old->id, old->name,
		new->id, new->name,
		new->nm ? "NetworkManager connection active" : "no NetworkManager connection");
	new->replaces = old->id;
	old->replaced_by = new->id;
	notify(t, IAP_EVENT_ADDED, new);
	if (iap_available(new))
		notify(t, IAP_EVENT_UP, new);
	notify(t, IAP_EVENT_REMOVED, old);
	new->replaces = 0;
	iap_free(old);
}

/* Bring the IAP of @l in line with the link and what is known about it. */
static void reconcile(struct iap_table *t, const struct nlmon_link *l)
{
	ssize_t i = index_of_ifindex(t, l->ifindex);
	struct desired d;
	struct iap *iap;
	bool was_available, changed = false;
	int r;

	if (l->flags & IFF_LOOPBACK)
		return;
	r = desire(t, l, &d);
	if (i >= 0 && r < 0) {
		remove_at(t, (size_t)i);
		return;
	}
	if (r < 0)
		return;
	if (i < 0) {
		add_link(t, l, &d);
		return;
	}
	iap = t->iaps[i];
	if (strcmp(iap->identity, d.identity) != 0) {
		/* Renamed interface: another interface as far as anyone can
		 * tell.  Same interface, other identity: a switch. */
		if (strcmp(iap->ifname, l->name) == 0 && d.kind >= 0) {
			replace_at(t, (size_t)i, l, &d);
		} else {
			remove_at(t, (size_t)i);
			add_link(t, l, &d);
		}
		return;
	}

	was_available = iap_available(iap);
	r = iap_update(iap, l);
	if (r < 0) {
		log_err("iap %u (%s): out of memory updating state", iap->id, iap->name);
		return;
	}
	changed = r > 0;
	if (iap->kind != (enum iap_kind)d.kind) {
		log_info("iap %u (%s): kind %s -> %s", iap->id, iap->name,
			 iap_kind_to_str(iap->kind), iap_kind_to_str(d.kind));
		iap->kind = d.kind;
		changed = true;
	}
	if (!iap_nm_equal(iap->nm, d.nm)) {
		struct iap_nm *nm = d.nm ? iap_nm_dup(d.nm) : NULL;

		if (d.nm && !nm) {
			log_err("iap %u (%s): out of memory", iap->id, iap->name);
		} else {
			if (iap->nm) {
				iap_nm_clear(iap->nm);
				free(iap->nm);
			}
			iap->nm = nm;
			changed = true;
		}
	}
	if (strcmp(iap->name, d.name) != 0) {
		char *name = strdup(d.name);

		if (name) {
			log_info("iap %u (%s): renamed %s", iap->id, iap->name, name);
			free(iap->name);
			iap->name = name;
			changed = true;
		}
	}
	if (!changed)
		return;
	if (was_available != iap_available(iap))
		log_availability(iap);
	else
		log_debug("iap %u (%s): changed", iap->id, iap->name);
	notify(t, IAP_EVENT_CHANGED, iap);
	if (was_available != iap_available(iap))
		notify(t, iap_available(iap) ? IAP_EVENT_UP : IAP_EVENT_DOWN, iap);
}

void iap_table_link_changed(struct iap_table *t, const struct nlmon_link *l)
{
	reconcile(t, l);
}

void iap_table_link_removed(struct iap_table *t, int ifindex, const char *name)
{
	ssize_t i = index_of_ifindex(t, ifindex);

	if (i >= 0)
		remove_at(t, (size_t)i);
}

/* The snapshot an IAP was built from. */
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

/* Re-run reconcile() for the IAP on @ifindex/@name, if there is one. */
static void reconcile_iface(struct iap_table *t, int ifindex, const char *name)
{
	for (size_t i = 0; i < t->n; i++) {
		struct iap *iap = t->iaps[i];
		struct nlmon_link l;
		struct nlmon_addr *addrs;

		if (ifindex ? iap->ifindex != ifindex : strcmp(iap->ifname, name) != 0)
			continue;
		/* reconcile() may free the IAP the snapshot points into. */
		addrs = iap->n_addrs ? malloc(iap->n_addrs * sizeof(*addrs)) : NULL;
		if (iap->n_addrs && !addrs) {
			log_err("iap %u (%s): out of memory", iap->id, iap->name);
			return;
		}
		if (addrs)
			memcpy(addrs, iap->addrs, iap->n_addrs * sizeof(*addrs));
		iap_as_link(iap, &l);
		l.addrs = addrs;
		reconcile(t, &l);
		free(addrs);
		return;
	}
}

static ssize_t nm_index(const struct iap_table *t, const char *uuid)
{
	for (size_t i = 0; i < t->n_nm; i++)
		if (t->nm[i].info.uuid && strcmp(t->nm[i].info.uuid, uuid) == 0)
			return (ssize_t)i;
	return -1;
}

void iap_table_nm_conn_changed(struct iap_table *t, const struct nmmon_conn *c)
{
	ssize_t i;
	struct nm_entry *e;
	int old_ifindex = 0;
	char old_iface[IFNAMSIZ] = "";

	if (!c->uuid || !c->uuid[0] || !c->iface || !c->iface[0])
		return;
	i = nm_index(t, c->uuid);
	if (i < 0) {
		if (t->n_nm == t->cap_nm) {
			size_t cap = t->cap_nm ? t->cap_nm * 2 : 4;
			struct nm_entry *v = realloc(t->nm, cap * sizeof(*v));

			if (!v) {
				log_err("iap: out of memory for NetworkManager connection %s", c->uuid);
				return;
			}
			t->nm = v;
			t->cap_nm = cap;
		}
		i = (ssize_t)t->n_nm++;
		t->nm[i] = (struct nm_entry){ .info = { .strength = -1 } };
	} else {
		old_ifindex = t->nm[i].ifindex;
		util_strlcpy(old_iface, t->nm[i].iface, sizeof(old_iface));
	}
	e = &t->nm[i];
	if (iap_nm_set(&e->info, c) < 0) {
		log_err("iap: out of memory for NetworkManager connection %s", c->uuid);
		t->nm[i] = t->nm[--t->n_nm];
		return;
	}
	e->ifindex = c->ifindex;
	util_strlcpy(e->iface, c->iface, sizeof(e->iface));
	/* The connection moved to another interface: the old one is itself
	 * again. */
	if (old_iface[0] && (old_ifindex != e->ifindex || strcmp(old_iface, e->iface) != 0))
		reconcile_iface(t, old_ifindex, old_iface);
	reconcile_iface(t, c->ifindex, c->iface);
}

void iap_table_nm_conn_removed(struct iap_table *t, const char *uuid)
{
	ssize_t i = nm_index(t, uuid);
	int ifindex;
	char iface[IFNAMSIZ];

	if (i < 0)
		return;
	ifindex = t->nm[i].ifindex;
	util_strlcpy(iface, t->nm[i].iface, sizeof(iface));
	iap_nm_clear(&t->nm[i].info);
	t->nm[i] = t->nm[--t->n_nm];
	reconcile_iface(t, ifindex, iface);
}

void iap_table_nm_running(struct iap_table *t, bool running)
{
	/* The monitor removes each connection before it says NetworkManager
	 * went away; what is left here would be stale. */
	if (running)
		return;
	while (t->n_nm)
		iap_table_nm_conn_removed(t, t->nm[t->n_nm - 1].info.uuid);
}

void iap_table_set_kind_rule(struct iap_table *t, iap_kind_rule_fn rule, void *rule_data)
{
	t->rule = rule;
	t->rule_data = rule_data;
	/* Kind rules may have changed: apply them now rather than at the
	 * next netlink change of each link.  reconcile() may remove or
	 * replace the IAP at i, so walk by ifindex from a copy. */
	size_t n = t->n;
	int *ifindexes = n ? malloc(n * sizeof(*ifindexes)) : NULL;

	if (n && !ifindexes) {
		log_err("iap: out of memory applying the configuration");
		return;
	}
	for (size_t i = 0; i < n; i++)
		ifindexes[i] = t->iaps[i]->ifindex;
	for (size_t i = 0; i < n; i++)
		reconcile_iface(t, ifindexes[i], "");
	free(ifindexes);
}
