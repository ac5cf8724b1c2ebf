/*
 * Netlink route monitor.
 *
 * Just over 1,200 lines: the libnl cache manager, the address trees kept
 * beside it and the snapshot batching are one boundary (rtnetlink).
 *
 * libnl-3's cache manager keeps two caches (route/link, route/route) up to
 * date from the rtnetlink multicast groups.  Addresses, the bulk of any
 * storm, are kept here instead: per link, a tsearch() tree keyed as the
 * kernel keys them (IPv4: local, prefix length, peer; IPv6: the address)
 * and a list in the order they came, parsed straight from the messages the
 * manager's socket reads (its NL_CB_MSG_IN callback takes them and tells
 * libnl to skip them).  libnl's route/addr cache has no hash table, so it
 * walked every address for every RTM_NEWADDR/RTM_DELADDR: in an address
 * storm that search was a third of our time.  Route messages for anything
 * but a default route are skipped the same way (an address brings one or
 * two routes of its own, which nothing here reads), and the route cache is
 * pruned to default routes after every dump.
 *
 * The change callbacks only mark an ifindex dirty; once
 * nl_cache_mngr_data_ready() has drained the socket, every dirty link gets
 * one snapshot.  A burst of N messages thus costs one snapshot per link
 * per batch, not one per message, and batches closer together than
 * NLMON_FLUSH_INTERVAL are delivered together.
 *
 * What this file relies on in libnl 3.7 (lib/cache_mngr.c, lib/cache.c,
 * lib/nl.c, lib/error.c, lib/route/route_obj.c, lib/route/addr.c):
 *
 *  - nl_recv() turns a failed recvmsg() into -nl_syserr2nlerr(errno), which
 *    maps ENOBUFS to NLE_NOMEM: a socket overrun reaches us as -NLE_NOMEM
 *    from nl_cache_mngr_data_ready().  An NLMSG_OVERRUN message gives
 *    -NLE_MSG_OVERFLOW.  Any error also ends the read loop with the rest of
 *    that datagram unparsed, so every error is taken as lost messages.
 *  - nl_cache_refill() clears a cache and dumps into the same object, which
 *    the manager keeps pointing at.  The manager fills its caches exactly
 *    that way (nl_cache_mngr_add_cache() on its private sync socket), so a
 *    refill on a socket of our own leaves it consistent.
 *  - nl_cache_resync() would avoid the clear, but it removes every object
 *    still marked after the dump, and route_update() merges an IPv6 route
 *    with a gateway into the old (still marked) object: IPv6 default routes
 *    would vanish from the cache.  Hence refill.
 *  - On NLM_F_DUMP_INTR, nl_cache_refill() restarts the dump without
 *    clearing.  Our sync socket takes NL_CB_DUMP_INTR itself, lets the
 *    dump finish, and we refill (or dump the addresses) again.
 *  - recvmsgs() calls NL_CB_MSG_IN for every message, before the manager's
 *    NL_CB_VALID, and NL_SKIP there drops the message.
 *  - The change callback (v2, nl_cache_mngr_add_cache_v2()) gets the old
 *    and the new object, so a default route replaced from one link to
 *    another dirties both links; the v1 callback only sees the new one.
 *  - nl_cache_mngr_data_ready() reads until the socket is empty.
 *
 * And one fact about the kernel: IPv4 routes are flushed without any
 * RTM_DELROUTE when their link goes down or loses its last IPv4 address
 * (fib_disable_ip() -> fib_flush(); `ip monitor route` shows nothing).
 * Kernels before 6.x also flushed routes whose preferred source was a
 * deleted address silently (fib_sync_down_addr()).  The route cache would
 * keep them, so those events make us dump the routes again at the end of
 * the batch: at most one dump per batch, and only when a default route can
 * have gone (its link lost its last IPv4 address, or the address was the
 * preferred source of a cached IPv4 default route), never for an address
 * that leaves others behind, the common case in a storm.
 *
 * XXX A default route through a nexthop object (RTA_NH_ID) carries no
 * nexthop of its own in libnl's route object, so it is attributed to no
 * link.
 */
#include "netlink/nlmon.h"

#include <errno.h>
#include <search.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include <ev.h>
#include <netlink/netlink.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/socket.h>
#include <netlink/route/link.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>

#include "base/log.h"
#include "base/util.h"

#define NLMON_DEFAULT_RCVBUF	(4 * 1024 * 1024)
/* Resyncs dump everything; during a sustained storm that would make the
 * overruns worse, so there is at most one per interval. */
#define NLMON_RESYNC_INTERVAL	1.0
/* A batch right after another one waits this long (seconds) and takes
 * whatever arrives meanwhile.  When we read faster than the kernel writes,
 * a storm comes in many small batches, each costing a pass over the caches
 * and a full address list per snapshot: 10,000 deleted addresses made 650
 * snapshots of up to 10,000 addresses.  An isolated change is still
 * delivered at once. */
#define NLMON_FLUSH_INTERVAL	0.02
/* A dump interrupted by concurrent changes is retried this many times,
 * then accepted: the events queued meanwhile bring the cache up to date. */
#define NLMON_DUMP_TRIES	3
/* Bound on the datagrams discarded before a resync dump. */
#define NLMON_DRAIN_MAX		65536

enum nlmon_cache {
	NLMON_LINKS,
	NLMON_ROUTES,
	_NLMON_CACHE_MAX,
};

static const char *const nlmon_cache_names[_NLMON_CACHE_MAX] = {
	[NLMON_LINKS] = "route/link",
	[NLMON_ROUTES] = "route/route",
};

/* One address the kernel has on a link, in the link's tree.  The key is
 * the kernel's own (inet_insert_ifa(), ipv6_add_addr()): IPv4 the local
 * address, prefix length and peer (IFA_ADDRESS); IPv6 the address alone. */
struct nlmon_ifaddr {
	unsigned char family;
	unsigned char prefixlen;
	unsigned char local[16];
	unsigned char peer[4];
	size_t slot;                    /* in the entry's addrs[] */
};

/* One per ifindex that was delivered or is dirty. */
struct nlmon_entry {
	int ifindex;
	char name[IFNAMSIZ];            /* as last delivered, for link_removed */
	bool delivered;
	bool def4;                      /* default_route4 as last delivered */
	bool def4_event;                /* an IPv4 default route via it changed in this batch */
	bool dirty;
	struct nlmon_entry *next_dirty;

	/* The link's addresses: a tree for lookups, and the array a snapshot
	 * hands out, in the order they came.  A deleted address leaves a
	 * hole (owner NULL) until the next snapshot closes the gaps: the
	 * array is walked once per snapshot, in order, instead of copied
	 * from scattered nodes (that walk was a sixth of our time in a slow
	 * storm), and a deletion costs no move. */
	void *ifaddr_tree;
	struct nlmon_addr *addrs;
	struct nlmon_ifaddr **owners;
	size_t n_slots;                 /* used, holes included */
	size_t cap_slots;
	size_t n_ifaddrs;               /* live */
	size_t n_ifaddrs4;

	/* Scratch of one nlmon_flush(); link is NULL outside it. */
	struct rtnl_link *link;
	bool route4;
	bool route6;
};

struct nlmon {
	struct ev_loop *loop;
	struct nlmon_ops ops;
	void *user_data;

	struct nl_sock *sk;             /* notifications, read by the manager */
	struct nl_sock *sync_sk;        /* our own dumps */
	struct nl_cache_mngr *mngr;
	struct nl_cache *caches[_NLMON_CACHE_MAX];

	ev_io io;
	ev_timer flush_timer;           /* a batch waiting for its interval */
	ev_timer resync_timer;          /* a resync waiting for its interval */
	ev_tstamp last_flush;
	ev_tstamp last_resync;

	bool started;
	bool need_resync;               /* messages or memory were lost */
	bool routes_stale;              /* the kernel may have flushed IPv4 routes silently */
	bool dump_intr;                 /* set by the sync socket's NL_CB_DUMP_INTR */

	void *entries;                  /* tsearch() tree of struct nlmon_entry */
	size_t n_ifaddrs;               /* over all entries */
	struct nlmon_entry *dirty_head;
	struct nlmon_entry *dirty_tail;

	struct nlmon_stats stats;
};

static int nlmon_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_INTR:
		return -EINTR;
	case NLE_BAD_SOCK:
		return -EBADF;
	case NLE_PERM:
	case NLE_NOACCESS:
		return -EPERM;
	case NLE_INVAL:
	case NLE_RANGE:
		return -EINVAL;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_NOCACHE:
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_PROTO_MISMATCH:
		return -EPROTONOSUPPORT;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	default:
		return -EIO;
	}
}

/* --- entries ------------------------------------------------------------ */

static int nlmon_entry_cmp(const void *a, const void *b)
{
	const struct nlmon_entry *x = a, *y = b;

	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

static struct nlmon_entry *nlmon_entry_find(struct nlmon *m, int ifindex)
{
	struct nlmon_entry key = { .ifindex = ifindex };
	void *node = tfind(&key, &m->entries, nlmon_entry_cmp);

	return node ? *(struct nlmon_entry **)node : NULL;
}

static void nlmon_entry_clear_addrs(struct nlmon_entry *e)
{
	tdestroy(e->ifaddr_tree, free);
	e->ifaddr_tree = NULL;
	free(e->addrs);
	free(e->owners);
	e->addrs = NULL;
	e->owners = NULL;
	e->n_slots = e->cap_slots = 0;
	e->n_ifaddrs = e->n_ifaddrs4 = 0;
}

static void nlmon_entry_free(void *p)
{
	struct nlmon_entry *e = p;

	nlmon_entry_clear_addrs(e);
	free(e);
}

static void nlmon_entry_delete(struct nlmon *m, struct nlmon_entry *e)
{
	m->n_ifaddrs -= e->n_ifaddrs;
	tdelete(e, &m->entries, nlmon_entry_cmp);
	nlmon_entry_free(e);
}

static void nlmon_clear_addrs_action(const void *node, VISIT which,
				     void *closure)
{
	struct nlmon_entry *e = *(struct nlmon_entry *const *)node;

	if (which == postorder || which == leaf)
		nlmon_entry_clear_addrs(e);
}

/* Before a dump of the addresses. */
static void nlmon_clear_addrs(struct nlmon *m)
{
	twalk_r(m->entries, nlmon_clear_addrs_action, NULL);
	m->n_ifaddrs = 0;
}

static void nlmon_entry_mark(struct nlmon *m, struct nlmon_entry *e)
{
	if (e->dirty)
		return;
	e->dirty = true;
	e->next_dirty = NULL;
	if (m->dirty_tail)
		m->dirty_tail->next_dirty = e;
	else
		m->dirty_head = e;
	m->dirty_tail = e;
}

/* The entry of ifindex, made if need be; NULL (and a resync pending) when
 * memory ran out. */
static struct nlmon_entry *nlmon_entry_get(struct nlmon *m, int ifindex)
{
	struct nlmon_entry *e;
	void *node;

	if (ifindex <= 0)
		return NULL;
	e = nlmon_entry_find(m, ifindex);
	if (e)
		return e;
	e = calloc(1, sizeof(*e));
	if (e)
		e->ifindex = ifindex;
	node = e ? tsearch(e, &m->entries, nlmon_entry_cmp) : NULL;
	if (!node) {
		/* The change is lost for us: only a resync recovers. */
		free(e);
		m->need_resync = true;
		return NULL;
	}
	return e;
}

static struct nlmon_entry *nlmon_mark_dirty(struct nlmon *m, int ifindex)
{
	struct nlmon_entry *e = nlmon_entry_get(m, ifindex);

	if (e)
		nlmon_entry_mark(m, e);
	return e;
}

static void nlmon_mark_delivered_action(const void *node, VISIT which,
					void *closure)
{
	struct nlmon_entry *e = *(struct nlmon_entry *const *)node;

	if ((which == postorder || which == leaf) && e->delivered)
		nlmon_entry_mark(closure, e);
}

/* After a dump: every link in the cache, and every link we delivered
 * (those missing from the cache get link_removed). */
static void nlmon_mark_all(struct nlmon *m)
{
	struct nl_object *obj;

	for (obj = nl_cache_get_first(m->caches[NLMON_LINKS]); obj;
	     obj = nl_cache_get_next(obj))
		nlmon_mark_dirty(m, rtnl_link_get_ifindex((struct rtnl_link *)obj));
	twalk_r(m->entries, nlmon_mark_delivered_action, m);
}

/* --- change callbacks (inside nl_cache_mngr_data_ready) ------------------ */

static bool nlmon_route_is_default(struct rtnl_route *r)
{
	struct nl_addr *dst = rtnl_route_get_dst(r);

	return rtnl_route_get_table(r) == RT_TABLE_MAIN && dst &&
	       nl_addr_get_prefixlen(dst) == 0;
}

struct nlmon_nh_walk {
	struct nlmon *m;
	bool ipv4;
};

static void nlmon_mark_nexthop(struct rtnl_nexthop *nh, void *arg)
{
	struct nlmon_nh_walk *w = arg;
	struct nlmon_entry *e;

	e = nlmon_mark_dirty(w->m, rtnl_route_nh_get_ifindex(nh));
	if (e && w->ipv4)
		e->def4_event = true;
}

static void nlmon_mark_route(struct nlmon *m, struct nl_object *obj)
{
	struct rtnl_route *r = (struct rtnl_route *)obj;
	struct nlmon_nh_walk w = { .m = m };

	/* The type is not checked: a default route that turns into a
	 * blackhole must dirty its links too. */
	if (!obj || !nlmon_route_is_default(r))
		return;
	w.ipv4 = rtnl_route_get_family(r) == AF_INET;
	rtnl_route_foreach_nexthop(r, nlmon_mark_nexthop, &w);
}

static void nlmon_mark_default_routes(struct nlmon *m)
{
	struct nl_object *obj;

	for (obj = nl_cache_get_first(m->caches[NLMON_ROUTES]); obj;
	     obj = nl_cache_get_next(obj))
		nlmon_mark_route(m, obj);
}

/* An IPv4 address is gone from e.  The kernel may have flushed IPv4 routes
 * without a word (see the top of the file); only a dump tells which, and
 * it is worth one only when a default route can be among them. */
static void nlmon_ipv4_addr_gone(struct nlmon *m, struct nlmon_entry *e,
				 const struct nlmon_ifaddr *a)
{
	struct nl_object *obj;
	struct nl_addr *src;

	if (m->routes_stale || !m->caches[NLMON_ROUTES])
		return;
	/* fib_disable_ip(): every route through the link. */
	if (e->n_ifaddrs4 == 0 && (e->def4 || e->def4_event)) {
		m->routes_stale = true;
		return;
	}
	/* fib_sync_down_addr(): routes (of any link) preferring it as their
	 * source.  The cache holds default routes only: a short walk. */
	for (obj = nl_cache_get_first(m->caches[NLMON_ROUTES]); obj;
	     obj = nl_cache_get_next(obj)) {
		struct rtnl_route *r = (struct rtnl_route *)obj;

		if (rtnl_route_get_family(r) != AF_INET ||
		    !nlmon_route_is_default(r))
			continue;
		src = rtnl_route_get_pref_src(r);
		if (src && nl_addr_get_len(src) == 4 &&
		    memcmp(nl_addr_get_binary_addr(src), a->local, 4) == 0) {
			m->routes_stale = true;
			return;
		}
	}
}

static void nlmon_link_cb(struct nl_cache *cache, struct nl_object *old_obj,
			  struct nl_object *new_obj, uint64_t diff, int action,
			  void *arg)
{
	struct rtnl_link *old_link = (struct rtnl_link *)old_obj;
	struct rtnl_link *new_link = (struct rtnl_link *)new_obj;
	struct nlmon *m = arg;

	if (old_link)
		nlmon_mark_dirty(m, rtnl_link_get_ifindex(old_link));
	if (new_link)
		nlmon_mark_dirty(m, rtnl_link_get_ifindex(new_link));

	/* Going down or away flushes every IPv4 route through the link,
	 * default or not; rare enough to always dump the routes again. */
	if (action == NL_ACT_DEL ||
	    (old_link && new_link &&
	     (rtnl_link_get_flags(old_link) & IFF_UP) &&
	     !(rtnl_link_get_flags(new_link) & IFF_UP)))
		m->routes_stale = true;
}

/* --- addresses ------------------------------------------------------------ */

static int nlmon_ifaddr_cmp(const void *pa, const void *pb)
{
	const struct nlmon_ifaddr *a = pa, *b = pb;
	int r;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->family == AF_INET6)
		return memcmp(a->local, b->local, 16);
	r = memcmp(a->local, b->local, 4);
	if (r)
		return r;
	if (a->prefixlen != b->prefixlen)
		return a->prefixlen < b->prefixlen ? -1 : 1;
	return memcmp(a->peer, b->peer, 4);
}

static struct nla_policy nlmon_addr_policy[IFA_MAX + 1] = {
	[IFA_FLAGS] = { .type = NLA_U32 },
};

/* An RTM_NEWADDR/RTM_DELADDR into *ret: 1, or 0 for an address of no
 * interest (another family, no address), or a negative errno. */
static int nlmon_parse_addr(struct nlmsghdr *nlh, int *ret_ifindex,
			    struct nlmon_ifaddr *ret, struct nlmon_addr *ret_addr)
{
	struct nlattr *tb[IFA_MAX + 1], *local, *address;
	struct ifaddrmsg *ifa;
	int alen;

	if (nlmsg_parse(nlh, sizeof(*ifa), tb, IFA_MAX, nlmon_addr_policy) < 0)
		return -EBADMSG;
	ifa = nlmsg_data(nlh);
	if (ifa->ifa_family == AF_INET)
		alen = 4;
	else if (ifa->ifa_family == AF_INET6)
		alen = 16;
	else
		return 0;
	/* As libnl and ip(8): IFA_LOCAL is the address, IFA_ADDRESS the
	 * peer; without IFA_LOCAL (IPv6), IFA_ADDRESS is the address. */
	address = tb[IFA_ADDRESS];
	local = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : address;
	if (!local)
		return 0;
	if (nla_len(local) != alen || (address && nla_len(address) != alen))
		return -EBADMSG;
	if (ifa->ifa_index > INT32_MAX)
		return -EBADMSG;

	memset(ret, 0, sizeof(*ret));
	ret->family = ifa->ifa_family;
	ret->prefixlen = ifa->ifa_prefixlen;
	memcpy(ret->local, nla_data(local), alen);
	if (alen == 4 && address)
		memcpy(ret->peer, nla_data(address), 4);
	memset(ret_addr, 0, sizeof(*ret_addr));
	ret_addr->family = ifa->ifa_family;
	ret_addr->prefixlen = ifa->ifa_prefixlen;
	ret_addr->scope = ifa->ifa_scope;
	ret_addr->flags = tb[IFA_FLAGS] ? nla_get_u32(tb[IFA_FLAGS]) :
					  ifa->ifa_flags;
	if (!inet_ntop(ret->family, ret->local, ret_addr->local,
		       sizeof(ret_addr->local)))
		return -EINVAL;
	*ret_ifindex = (int)ifa->ifa_index;
	return 1;
}

static bool nlmon_addr_equal(const struct nlmon_addr *a,
			     const struct nlmon_addr *b)
{
	return a->family == b->family && a->prefixlen == b->prefixlen &&
	       a->scope == b->scope && a->flags == b->flags &&
	       strcmp(a->local, b->local) == 0;
}

static int nlmon_slots_reserve(struct nlmon_entry *e)
{
	size_t cap = e->cap_slots ? 2 * e->cap_slots : 8;
	struct nlmon_addr *addrs;
	struct nlmon_ifaddr **owners;

	if (e->n_slots < e->cap_slots)
		return 0;
	addrs = reallocarray(e->addrs, cap, sizeof(*addrs));
	if (!addrs)
		return -ENOMEM;
	e->addrs = addrs;
	owners = reallocarray(e->owners, cap, sizeof(*owners));
	if (!owners)
		return -ENOMEM;
	e->owners = owners;
	e->cap_slots = cap;
	return 0;
}

/* Add or update; true when e's addresses changed. */
static bool nlmon_ifaddr_set(struct nlmon *m, struct nlmon_entry *e,
			     const struct nlmon_ifaddr *a,
			     const struct nlmon_addr *addr)
{
	struct nlmon_ifaddr *n;
	void *node;

	node = tfind(a, &e->ifaddr_tree, nlmon_ifaddr_cmp);
	if (node) {
		n = *(struct nlmon_ifaddr **)node;
		if (nlmon_addr_equal(&e->addrs[n->slot], addr))
			return false;
		e->addrs[n->slot] = *addr;
		return true;
	}
	n = malloc(sizeof(*n));
	if (!n || nlmon_slots_reserve(e) < 0) {
		free(n);
		m->need_resync = true;
		return false;
	}
	*n = *a;
	n->slot = e->n_slots;
	if (!tsearch(n, &e->ifaddr_tree, nlmon_ifaddr_cmp)) {
		free(n);
		m->need_resync = true;
		return false;
	}
	e->addrs[n->slot] = *addr;
	e->owners[n->slot] = n;
	e->n_slots++;
	e->n_ifaddrs++;
	if (n->family == AF_INET)
		e->n_ifaddrs4++;
	m->n_ifaddrs++;
	return true;
}

/* Remove; true when it was there. */
static bool nlmon_ifaddr_del(struct nlmon *m, struct nlmon_entry *e,
			     const struct nlmon_ifaddr *a)
{
	struct nlmon_ifaddr *n;
	void *node;

	node = tfind(a, &e->ifaddr_tree, nlmon_ifaddr_cmp);
	if (!node)
		return false;
	n = *(struct nlmon_ifaddr **)node;
	tdelete(n, &e->ifaddr_tree, nlmon_ifaddr_cmp);
	e->owners[n->slot] = NULL;
	e->n_ifaddrs--;
	if (n->family == AF_INET)
		e->n_ifaddrs4--;
	m->n_ifaddrs--;
	free(n);
	return true;
}

/* Close the holes deletions left, keeping the order. */
static void nlmon_slots_compact(struct nlmon_entry *e)
{
	size_t j = 0;

	if (e->n_slots == e->n_ifaddrs)
		return;
	for (size_t i = 0; i < e->n_slots; i++) {
		if (!e->owners[i])
			continue;
		if (i != j) {
			e->addrs[j] = e->addrs[i];
			e->owners[j] = e->owners[i];
			e->owners[j]->slot = j;
		}
		j++;
	}
	e->n_slots = j;
}

static void nlmon_handle_addr(struct nlmon *m, struct nlmsghdr *nlh,
			      bool deleted)
{
	struct nlmon_ifaddr a;
	struct nlmon_addr addr;
	struct nlmon_entry *e;
	int ifindex = 0, r;

	r = nlmon_parse_addr(nlh, &ifindex, &a, &addr);
	if (r < 0)
		log_debug("netlink: malformed address message dropped");
	if (r <= 0)
		return;
	e = nlmon_entry_get(m, ifindex);
	if (!e)
		return;
	if (!deleted) {
		if (nlmon_ifaddr_set(m, e, &a, &addr))
			nlmon_entry_mark(m, e);
		return;
	}
	if (!nlmon_ifaddr_del(m, e, &a))
		return;
	nlmon_entry_mark(m, e);
	if (a.family == AF_INET)
		nlmon_ipv4_addr_gone(m, e, &a);
}

static void nlmon_route_cb(struct nl_cache *cache, struct nl_object *old_obj,
			   struct nl_object *new_obj, uint64_t diff,
			   int action, void *arg)
{
	struct nlmon *m = arg;

	nlmon_mark_route(m, old_obj);
	nlmon_mark_route(m, new_obj);
}

static const change_func_v2_t nlmon_cache_cbs[_NLMON_CACHE_MAX] = {
	[NLMON_LINKS] = nlmon_link_cb,
	[NLMON_ROUTES] = nlmon_route_cb,
};

/* Every message the manager's socket reads passes here first.  Addresses
 * are ours; routes other than default routes are of no use to anybody
 * here, and parsing them into libnl objects would cost more than all the
 * rest. */
static int nlmon_msg_in_cb(struct nl_msg *msg, void *arg)
{
	struct nlmon *m = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct rtmsg *rtm;

	m->stats.messages++;
	switch (nlh->nlmsg_type) {
	case RTM_NEWADDR:
	case RTM_DELADDR:
		nlmon_handle_addr(m, nlh, nlh->nlmsg_type == RTM_DELADDR);
		return NL_SKIP;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		if (!nlmsg_valid_hdr(nlh, sizeof(*rtm)))
			return NL_OK;           /* libnl's parser says why */
		rtm = nlmsg_data(nlh);
		return rtm->rtm_dst_len == 0 ? NL_OK : NL_SKIP;
	default:
		return NL_OK;
	}
}

static int nlmon_dump_addr_cb(struct nl_msg *msg, void *arg)
{
	struct nlmon *m = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);

	if (nlh->nlmsg_type == RTM_NEWADDR)
		nlmon_handle_addr(m, nlh, false);
	return NL_OK;
}

static int nlmon_dump_intr_cb(struct nl_msg *msg, void *arg)
{
	struct nlmon *m = arg;

	m->dump_intr = true;
	return NL_OK;
}

/* --- snapshots ------------------------------------------------------------ */

static void nlmon_collect_link(struct nlmon *m, struct rtnl_link *l)
{
	struct nlmon_entry *e;

	/* AF_BRIDGE views of a port share its ifindex; the manager filters
	 * them, this keeps a stray one from shadowing the real link. */
	if (rtnl_link_get_family(l) != AF_UNSPEC)
		return;
	e = nlmon_entry_find(m, rtnl_link_get_ifindex(l));
	if (e && e->dirty)
		e->link = l;
}

static void nlmon_collect_nexthop(struct rtnl_nexthop *nh, void *arg)
{
	struct nlmon_nh_walk *w = arg;
	struct nlmon_entry *e;

	e = nlmon_entry_find(w->m, rtnl_route_nh_get_ifindex(nh));
	if (!e || !e->link)
		return;
	if (w->ipv4)
		e->route4 = true;
	else
		e->route6 = true;
}

static void nlmon_collect_route(struct nlmon *m, struct rtnl_route *r)
{
	struct nlmon_nh_walk w = { .m = m };
	uint8_t family = rtnl_route_get_family(r);

	if (!nlmon_route_is_default(r) || rtnl_route_get_type(r) != RTN_UNICAST)
		return;
	if (family != AF_INET && family != AF_INET6)
		return;
	w.ipv4 = family == AF_INET;
	rtnl_route_foreach_nexthop(r, nlmon_collect_nexthop, &w);
}

static void nlmon_fill_mac(struct rtnl_link *l, char *mac, size_t size)
{
	struct nl_addr *a = rtnl_link_get_addr(l);
	char buf[128];

	mac[0] = '\0';
	if (!a || nl_addr_get_len(a) == 0)
		return;
	nl_addr2str(a, buf, sizeof(buf));
	/* A truncated hardware address (InfiniBand has 20 bytes) would look
	 * like a valid shorter one: better none at all. */
	if (util_strlcpy(mac, buf, size) >= size)
		mac[0] = '\0';
}

static void nlmon_deliver(struct nlmon *m, struct nlmon_entry *e)
{
	struct rtnl_link *l = e->link;
	const char *name = rtnl_link_get_name(l);
	const char *type = rtnl_link_get_type(l);
	struct nlmon_link s = {
		.ifindex = e->ifindex,
		.flags = rtnl_link_get_flags(l),
		.operstate = rtnl_link_get_operstate(l),
		.arptype = rtnl_link_get_arptype(l),
		.mtu = rtnl_link_get_mtu(l),
		.n_addrs = e->n_slots,
		.addrs = e->addrs,
		.default_route4 = e->route4,
		.default_route6 = e->route6,
	};

	util_strlcpy(s.name, name ? name : "", sizeof(s.name));
	util_strlcpy(s.type, type ? type : "", sizeof(s.type));
	nlmon_fill_mac(l, s.mac, sizeof(s.mac));

	memcpy(e->name, s.name, sizeof(e->name));
	e->delivered = true;
	e->def4 = e->route4;
	m->stats.snapshots++;
	m->ops.link_changed(&s, m->user_data);
}

/* Only default routes are of use (see nlmon_msg_in_cb()); a dump brings
 * every route of every table, one or two per address. */
static void nlmon_prune_routes(struct nlmon *m)
{
	struct nl_object *obj, *next;
	struct nl_addr *dst;

	for (obj = nl_cache_get_first(m->caches[NLMON_ROUTES]); obj;
	     obj = next) {
		next = nl_cache_get_next(obj);
		dst = rtnl_route_get_dst((struct rtnl_route *)obj);
		if (!dst || nl_addr_get_prefixlen(dst) != 0)
			nl_cache_remove(obj);
	}
}

static int nlmon_refill(struct nlmon *m, enum nlmon_cache which)
{
	int r;

	for (int i = 0; i < NLMON_DUMP_TRIES; i++) {
		m->dump_intr = false;
		r = nl_cache_refill(m->sync_sk, m->caches[which]);
		if (r < 0)
			return r;
		if (!m->dump_intr)
			break;
		log_debug("netlink: %s dump interrupted by a change, dumping again",
			  nlmon_cache_names[which]);
	}
	if (which == NLMON_ROUTES) {
		m->stats.route_dumps++;
		nlmon_prune_routes(m);
	}
	return 0;
}

/* Every address again, into the entries (their old ones dropped). */
static int nlmon_dump_addrs(struct nlmon *m)
{
	struct nl_cb *orig, *cb;
	int r;

	orig = nl_socket_get_cb(m->sync_sk);
	cb = orig ? nl_cb_clone(orig) : NULL;
	nl_cb_put(orig);
	if (!cb)
		return -NLE_NOMEM;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, nlmon_dump_addr_cb, m);
	for (int i = 0; i < NLMON_DUMP_TRIES; i++) {
		nlmon_clear_addrs(m);
		m->dump_intr = false;
		r = nl_rtgen_request(m->sync_sk, RTM_GETADDR, AF_UNSPEC,
				     NLM_F_DUMP);
		if (r >= 0)
			r = nl_recvmsgs(m->sync_sk, cb);
		if (r < 0 || !m->dump_intr)
			break;
		log_debug("netlink: address dump interrupted by a change, dumping again");
	}
	nl_cb_put(cb);
	return r < 0 ? r : 0;
}

static int nlmon_refresh_routes(struct nlmon *m)
{
	int r;

	/* Links with a default route before and after the dump. */
	nlmon_mark_default_routes(m);
	r = nlmon_refill(m, NLMON_ROUTES);
	if (r < 0)
		return r;
	nlmon_mark_default_routes(m);
	return 0;
}

/* Deliver every dirty link.  Callbacks must not call back into nlmon. */
static void nlmon_flush(struct nlmon *m)
{
	struct nlmon_entry *e, *next;
	struct nl_object *obj;
	int r;

	if (m->routes_stale) {
		m->routes_stale = false;
		r = nlmon_refresh_routes(m);
		if (r < 0) {
			log_warning("netlink: cannot dump routes: %s", nl_geterror(r));
			m->need_resync = true;
			return;
		}
	}
	if (!m->dirty_head)
		return;

	/* One pass over each cache, keeping what the dirty links need (the
	 * route cache holds default routes only). */
	for (obj = nl_cache_get_first(m->caches[NLMON_LINKS]); obj;
	     obj = nl_cache_get_next(obj))
		nlmon_collect_link(m, (struct rtnl_link *)obj);
	for (obj = nl_cache_get_first(m->caches[NLMON_ROUTES]); obj;
	     obj = nl_cache_get_next(obj))
		nlmon_collect_route(m, (struct rtnl_route *)obj);

	e = m->dirty_head;
	m->dirty_head = m->dirty_tail = NULL;
	for (; e; e = next) {
		next = e->next_dirty;
		e->next_dirty = NULL;
		e->dirty = false;
		e->def4_event = false;
		if (!e->link) {
			if (e->delivered)
				m->ops.link_removed(e->ifindex, e->name,
						    m->user_data);
			nlmon_entry_delete(m, e);
			continue;
		}
		nlmon_slots_compact(e);
		nlmon_deliver(m, e);
		e->link = NULL;
		e->route4 = e->route6 = false;
	}
}

/* --- resync --------------------------------------------------------------- */

/* What is queued predates the dump we are about to do: replaying it after
 * the dump would move the model back in time until the queue is read. */
static void nlmon_drain(struct nlmon *m)
{
	int fd = nl_cache_mngr_get_fd(m->mngr);

	for (int i = 0; i < NLMON_DRAIN_MAX; i++) {
		if (recv(fd, NULL, 0, MSG_DONTWAIT | MSG_TRUNC) >= 0)
			continue;
		if (errno != EINTR && errno != ENOBUFS)
			break;
	}
}

static int nlmon_resync(struct nlmon *m)
{
	int r;

	m->last_resync = m->last_flush = ev_now(m->loop);
	nlmon_drain(m);
	r = nlmon_refill(m, NLMON_LINKS);
	if (r >= 0)
		r = nlmon_dump_addrs(m);
	if (r >= 0)
		r = nlmon_refill(m, NLMON_ROUTES);
	if (r < 0)
		return r;
	m->need_resync = false;
	m->routes_stale = false;
	nlmon_mark_all(m);
	m->stats.resyncs++;
	log_info("netlink: resynchronised: %d links, %zu addresses, %d default routes",
		 nl_cache_nitems(m->caches[NLMON_LINKS]), m->n_ifaddrs,
		 nl_cache_nitems(m->caches[NLMON_ROUTES]));
	nlmon_flush(m);
	if (m->ops.resynced)
		m->ops.resynced(m->user_data);
	return 0;
}

static void nlmon_schedule_resync(struct nlmon *m)
{
	ev_tstamp wait = 0.;
	int r;

	if (ev_is_active(&m->resync_timer))
		return;
	if (m->last_resync > 0.)
		wait = m->last_resync + NLMON_RESYNC_INTERVAL - ev_now(m->loop);
	if (wait <= 0.) {
		r = nlmon_resync(m);
		if (r >= 0 && !m->need_resync)
			return;
		if (r < 0)
			log_warning("netlink: resync failed, retrying: %s",
				    nl_geterror(r));
		wait = NLMON_RESYNC_INTERVAL;
	}
	ev_timer_set(&m->resync_timer, wait, 0.);
	ev_timer_start(m->loop, &m->resync_timer);
}

static void nlmon_resync_timer_cb(struct ev_loop *loop, ev_timer *w,
				  int revents)
{
	struct nlmon *m = container_of(w, struct nlmon, resync_timer);

	nlmon_schedule_resync(m);
}

/* After a batch of messages: deliver now, later, or resync. */
static void nlmon_process(struct nlmon *m)
{
	ev_tstamp wait;

	/* While a resync waits, events still update the caches but nothing
	 * is delivered: the resync delivers every link anyway. */
	if (ev_is_active(&m->resync_timer)) {
		ev_io_start(m->loop, &m->io);
		return;
	}
	if (!m->need_resync && (m->dirty_head || m->routes_stale)) {
		wait = m->last_flush + NLMON_FLUSH_INTERVAL - ev_now(m->loop);
		if (wait > 0.) {
			if (!ev_is_active(&m->flush_timer)) {
				ev_timer_set(&m->flush_timer, wait, 0.);
				ev_timer_start(m->loop, &m->flush_timer);
			}
			/* Nothing is delivered before the timer anyway: let
			 * the rest of the burst queue up in the socket (4 MiB
			 * hold thousands of messages) and read it all then.
			 * Otherwise a storm that we read faster than the
			 * kernel writes wakes us for every message, and the
			 * wakeups cost more than the messages. */
			ev_io_stop(m->loop, &m->io);
			return;
		}
		ev_timer_stop(m->loop, &m->flush_timer);
		m->last_flush = ev_now(m->loop);
		nlmon_flush(m);
	}
	ev_io_start(m->loop, &m->io);
	if (m->need_resync)
		nlmon_schedule_resync(m);
}

/* Read until the socket is empty. */
static void nlmon_read(struct nlmon *m)
{
	int r;

	r = nl_cache_mngr_data_ready(m->mngr);
	if (r < 0) {
		if (ev_is_active(&m->resync_timer))
			log_debug("netlink: %s while a resync is pending",
				  nl_geterror(r));
		else if (r == -NLE_NOMEM)
			log_warning("netlink: receive buffer overrun, resynchronising");
		else
			log_warning("netlink: %s, resynchronising",
				    nl_geterror(r));
		m->need_resync = true;
	}
}

void nlmon_sync(struct nlmon *m)
{
	if (!m || !m->started || ev_is_active(&m->resync_timer))
		return;
	nlmon_read(m);
	/* as nlmon_process(), without waiting for the interval */
	if (!m->need_resync && (m->dirty_head || m->routes_stale)) {
		ev_timer_stop(m->loop, &m->flush_timer);
		m->last_flush = ev_now(m->loop);
		nlmon_flush(m);
	}
	ev_io_start(m->loop, &m->io);
	if (m->need_resync)
		nlmon_schedule_resync(m);
}

static void nlmon_flush_timer_cb(struct ev_loop *loop, ev_timer *w,
				 int revents)
{
	struct nlmon *m = container_of(w, struct nlmon, flush_timer);

	nlmon_read(m);
	nlmon_process(m);
}

static void nlmon_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct nlmon *m = container_of(w, struct nlmon, io);

	nlmon_read(m);
	nlmon_process(m);
}

/* --- lifecycle ------------------------------------------------------------ */

static void nlmon_set_rcvbuf(struct nlmon *m, int rcvbuf)
{
	int fd = nl_socket_get_fd(m->sk);
	socklen_t len = sizeof(int);
	int r, got = 0;

	r = nl_socket_set_buffer_size(m->sk, rcvbuf, 0);
	if (r < 0)
		log_warning("netlink: cannot set receive buffer to %d: %s",
			    rcvbuf, nl_geterror(r));
	/* SO_RCVBUF stops at net.core.rmem_max; with CAP_NET_ADMIN,
	 * SO_RCVBUFFORCE does not, and address bursts need the room. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)) < 0 && errno != EPERM)
		log_errno(LOG_DEBUG, -errno, "netlink: SO_RCVBUFFORCE: %m");
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0)
		log_debug("netlink: receive buffer %d bytes (asked %d)",
			  got, rcvbuf);
}

struct nlmon *nlmon_new(struct ev_loop *loop, const struct nlmon_ops *ops,
			void *user_data, int rcvbuf)
{
	struct nlmon *m;
	int r;

	if (!loop || !ops || !ops->link_changed || !ops->link_removed ||
	    rcvbuf < 0)
		return NULL;

	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->loop = loop;
	m->ops = *ops;
	m->user_data = user_data;
	ev_init(&m->io, nlmon_io_cb);
	ev_init(&m->flush_timer, nlmon_flush_timer_cb);
	ev_init(&m->resync_timer, nlmon_resync_timer_cb);

	m->sk = nl_socket_alloc();
	m->sync_sk = nl_socket_alloc();
	if (!m->sk || !m->sync_sk) {
		log_err("netlink: cannot allocate sockets");
		return nlmon_free(m);
	}
	r = nl_cache_mngr_alloc(m->sk, NETLINK_ROUTE, NL_AUTO_PROVIDE,
				&m->mngr);
	if (r < 0) {
		log_err("netlink: cannot create cache manager: %s",
			nl_geterror(r));
		return nlmon_free(m);
	}
	nl_socket_modify_cb(m->sk, NL_CB_MSG_IN, NL_CB_CUSTOM,
			    nlmon_msg_in_cb, m);
	nlmon_set_rcvbuf(m, rcvbuf ? rcvbuf : NLMON_DEFAULT_RCVBUF);

	r = nl_connect(m->sync_sk, NETLINK_ROUTE);
	if (r < 0) {
		log_err("netlink: cannot open dump socket: %s", nl_geterror(r));
		return nlmon_free(m);
	}
	nl_socket_modify_cb(m->sync_sk, NL_CB_DUMP_INTR, NL_CB_CUSTOM,
			    nlmon_dump_intr_cb, m);

	ev_io_set(&m->io, nl_cache_mngr_get_fd(m->mngr), EV_READ);
	return m;
}

int nlmon_start(struct nlmon *m)
{
	struct nl_cache *c;
	int r;

	if (m->started)
		return -EALREADY;

	/* Each add subscribes to the cache's groups, then dumps: events
	 * racing with the dump wait in the socket and are applied later.
	 * Addresses (ours) come between links and routes, as before. */
	for (int i = 0; i < _NLMON_CACHE_MAX; i++) {
		if (i == NLMON_ROUTES) {
			r = nl_socket_add_memberships(m->sk, RTNLGRP_IPV4_IFADDR,
						      RTNLGRP_IPV6_IFADDR, 0);
			if (r >= 0)
				r = nlmon_dump_addrs(m);
			if (r < 0) {
				log_debug("netlink: cannot dump addresses: %s",
					  nl_geterror(r));
				return nlmon_errno(r);
			}
		}
		/* The caller logs the error; libnl's words go to debug. */
		r = nl_cache_alloc_name(nlmon_cache_names[i], &c);
		if (r < 0) {
			log_debug("netlink: no %s cache type (is libnl-route-3 linked?): %s",
				  nlmon_cache_names[i], nl_geterror(r));
			return nlmon_errno(r);
		}
		r = nl_cache_mngr_add_cache_v2(m->mngr, c, nlmon_cache_cbs[i], m);
		if (r < 0) {
			nl_cache_free(c);
			log_debug("netlink: cannot dump %s: %s",
				  nlmon_cache_names[i], nl_geterror(r));
			return nlmon_errno(r);
		}
		m->caches[i] = c;
	}
	nlmon_prune_routes(m);
	m->started = true;

	nlmon_mark_all(m);
	m->last_flush = ev_now(m->loop);
	nlmon_flush(m);
	log_info("netlink: monitoring %d links, %zu addresses, %d default routes",
		 nl_cache_nitems(m->caches[NLMON_LINKS]), m->n_ifaddrs,
		 nl_cache_nitems(m->caches[NLMON_ROUTES]));

	ev_io_start(m->loop, &m->io);
	/* Only on allocation failure during the first delivery. */
	if (m->need_resync)
		nlmon_schedule_resync(m);
	return 0;
}

struct nlmon *nlmon_free(struct nlmon *m)
{
	if (!m)
		return NULL;

	ev_io_stop(m->loop, &m->io);
	ev_timer_stop(m->loop, &m->flush_timer);
	ev_timer_stop(m->loop, &m->resync_timer);
	/* Frees the managed caches and closes, but does not free, the
	 * socket we handed it. */
	nl_cache_mngr_free(m->mngr);
	nl_socket_free(m->sk);
	nl_socket_free(m->sync_sk);
	tdestroy(m->entries, nlmon_entry_free);
	free(m);
	return NULL;
}

void nlmon_get_stats(const struct nlmon *m, struct nlmon_stats *ret)
{
	*ret = m->stats;
}
