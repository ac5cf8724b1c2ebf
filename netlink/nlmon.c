/*
 * Netlink route monitor.
 *
 * libnl-3's cache manager keeps three caches (route/link, route/addr,
 * route/route) up to date from the rtnetlink multicast groups.  Its change
 * callbacks only mark an ifindex dirty; once nl_cache_mngr_data_ready() has
 * drained the socket, every dirty link gets one snapshot, built with a
 * single pass over each cache.  A burst of N messages thus costs one pass
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
 *    clearing.  route/addr has no hash table (addr_obj_ops has no
 *    oo_keygen), so that would duplicate addresses.  Our sync socket takes
 *    NL_CB_DUMP_INTR itself, lets the dump finish, and we refill again.
 *  - Without a hash table, libnl's own nl_cache_search() walks the whole
 *    address cache for every RTM_NEWADDR/RTM_DELADDR.  Our one pass over
 *    that cache per batch therefore never changes the order of the cost.
 *  - The change callback (v2, nl_cache_mngr_add_cache_v2()) gets the old
 *    and the new object, so a default route replaced from one link to
 *    another dirties both links; the v1 callback only sees the new one.
 *  - nl_cache_mngr_data_ready() reads until the socket is empty.
 *
 * And one fact about the kernel: IPv4 routes are flushed without any
 * RTM_DELROUTE when their link goes down or loses its last IPv4 address
 * (fib_disable_ip() -> fib_flush(); `ip monitor route` shows nothing).
 * The route cache would keep them, so those events make us dump the
 * routes again at the end of the batch.
 *
 * XXX A default route through a nexthop object (RTA_NH_ID) carries no
 * nexthop of its own in libnl's route object, so it is attributed to no
 * link.  A default route whose preferred source is an address of another
 * link, flushed when that address goes, is not noticed until a resync.
 */
#include "netlink/nlmon.h"

#include <errno.h>
#include <search.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/rtnetlink.h>

#include <ev.h>
#include <netlink/netlink.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/socket.h>
#include <netlink/route/addr.h>
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
	NLMON_ADDRS,
	NLMON_ROUTES,
	_NLMON_CACHE_MAX,
};

static const char *const nlmon_cache_names[_NLMON_CACHE_MAX] = {
	[NLMON_LINKS] = "route/link",
	[NLMON_ADDRS] = "route/addr",
	[NLMON_ROUTES] = "route/route",
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

	/* Scratch of one nlmon_flush(); link is NULL outside it. */
	struct rtnl_link *link;
	struct nlmon_addr *addrs;
	size_t n_addrs;
	size_t cap_addrs;
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

static void nlmon_entry_free(void *p)
{
	struct nlmon_entry *e = p;

	free(e->addrs);
	free(e);
}

static void nlmon_entry_delete(struct nlmon *m, struct nlmon_entry *e)
{
	tdelete(e, &m->entries, nlmon_entry_cmp);
	nlmon_entry_free(e);
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

static struct nlmon_entry *nlmon_mark_dirty(struct nlmon *m, int ifindex)
{
	struct nlmon_entry *e;
	void *node;

	if (ifindex <= 0)
		return NULL;
	e = nlmon_entry_find(m, ifindex);
	if (!e) {
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
	}
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

/* The kernel flushes IPv4 routes silently; only a dump tells which. */
static void nlmon_ipv4_routes_maybe_flushed(struct nlmon *m,
					    struct nlmon_entry *e)
{
	if (e && (e->def4 || e->def4_event))
		m->routes_stale = true;
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

static void nlmon_addr_cb(struct nl_cache *cache, struct nl_object *old_obj,
			  struct nl_object *new_obj, uint64_t diff, int action,
			  void *arg)
{
	struct rtnl_addr *old_addr = (struct rtnl_addr *)old_obj;
	struct rtnl_addr *new_addr = (struct rtnl_addr *)new_obj;
	struct nlmon *m = arg;
	struct nlmon_entry *e;

	if (old_addr) {
		e = nlmon_mark_dirty(m, rtnl_addr_get_ifindex(old_addr));
		/* Address storms are common, so only when it matters to us:
		 * a lost IPv4 address may take the default route with it. */
		if (action == NL_ACT_DEL &&
		    rtnl_addr_get_family(old_addr) == AF_INET)
			nlmon_ipv4_routes_maybe_flushed(m, e);
	}
	if (new_addr)
		nlmon_mark_dirty(m, rtnl_addr_get_ifindex(new_addr));
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
	[NLMON_ADDRS] = nlmon_addr_cb,
	[NLMON_ROUTES] = nlmon_route_cb,
};

static int nlmon_msg_in_cb(struct nl_msg *msg, void *arg)
{
	struct nlmon *m = arg;

	m->stats.messages++;
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

static void nlmon_collect_addr(struct nlmon *m, struct rtnl_addr *a)
{
	struct nl_addr *local = rtnl_addr_get_local(a);
	int family = rtnl_addr_get_family(a);
	struct nlmon_entry *e;
	struct nlmon_addr *na;
	unsigned int len;

	e = nlmon_entry_find(m, rtnl_addr_get_ifindex(a));
	if (!e || !e->link || !local)
		return;
	len = nl_addr_get_len(local);
	if (!((family == AF_INET && len == 4) ||
	      (family == AF_INET6 && len == 16))) {
		log_debug("netlink: ignoring address of family %d, length %u on ifindex %d",
			  family, len, e->ifindex);
		return;
	}
	if (e->n_addrs == e->cap_addrs) {
		size_t cap = e->cap_addrs ? 2 * e->cap_addrs : 4;
		struct nlmon_addr *p = reallocarray(e->addrs, cap, sizeof(*p));

		if (!p) {
			m->need_resync = true;
			return;
		}
		e->addrs = p;
		e->cap_addrs = cap;
	}
	na = &e->addrs[e->n_addrs];
	memset(na, 0, sizeof(*na));
	na->family = family;
	na->prefixlen = (unsigned char)rtnl_addr_get_prefixlen(a);
	na->scope = (unsigned char)rtnl_addr_get_scope(a);
	na->flags = rtnl_addr_get_flags(a);
	if (!inet_ntop(family, nl_addr_get_binary_addr(local), na->local,
		       sizeof(na->local)))
		return;
	e->n_addrs++;
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
		.n_addrs = e->n_addrs,
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

static int nlmon_refill(struct nlmon *m, enum nlmon_cache which)
{
	int r;

	for (int i = 0; i < NLMON_DUMP_TRIES; i++) {
		m->dump_intr = false;
		r = nl_cache_refill(m->sync_sk, m->caches[which]);
		if (r < 0)
			return r;
		if (!m->dump_intr)
			return 0;
		log_debug("netlink: %s dump interrupted by a change, dumping again",
			  nlmon_cache_names[which]);
	}
	return 0;
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

	/* One pass over each cache, keeping what the dirty links need. */
	for (obj = nl_cache_get_first(m->caches[NLMON_LINKS]); obj;
	     obj = nl_cache_get_next(obj))
		nlmon_collect_link(m, (struct rtnl_link *)obj);
	for (obj = nl_cache_get_first(m->caches[NLMON_ADDRS]); obj;
	     obj = nl_cache_get_next(obj))
		nlmon_collect_addr(m, (struct rtnl_addr *)obj);
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
		nlmon_deliver(m, e);
		e->link = NULL;
		e->route4 = e->route6 = false;
		/* Snapshots are rare next to the time between them. */
		free(e->addrs);
		e->addrs = NULL;
		e->n_addrs = e->cap_addrs = 0;
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
	for (int i = 0; i < _NLMON_CACHE_MAX; i++) {
		r = nlmon_refill(m, i);
		if (r < 0)
			return r;
	}
	m->need_resync = false;
	m->routes_stale = false;
	nlmon_mark_all(m);
	m->stats.resyncs++;
	log_info("netlink: resynchronised: %d links, %d addresses, %d routes",
		 nl_cache_nitems(m->caches[NLMON_LINKS]),
		 nl_cache_nitems(m->caches[NLMON_ADDRS]),
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
	if (ev_is_active(&m->resync_timer))
		return;
	if (!m->need_resync && (m->dirty_head || m->routes_stale)) {
		wait = m->last_flush + NLMON_FLUSH_INTERVAL - ev_now(m->loop);
		if (wait > 0.) {
			if (!ev_is_active(&m->flush_timer)) {
				ev_timer_set(&m->flush_timer, wait, 0.);
				ev_timer_start(m->loop, &m->flush_timer);
			}
			return;
		}
		ev_timer_stop(m->loop, &m->flush_timer);
		m->last_flush = ev_now(m->loop);
		nlmon_flush(m);
	}
	if (m->need_resync)
		nlmon_schedule_resync(m);
}

static void nlmon_flush_timer_cb(struct ev_loop *loop, ev_timer *w,
				 int revents)
{
	struct nlmon *m = container_of(w, struct nlmon, flush_timer);

	nlmon_process(m);
}

static void nlmon_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct nlmon *m = container_of(w, struct nlmon, io);
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
	 * racing with the dump wait in the socket and are applied later. */
	for (int i = 0; i < _NLMON_CACHE_MAX; i++) {
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
	m->started = true;

	nlmon_mark_all(m);
	m->last_flush = ev_now(m->loop);
	nlmon_flush(m);
	log_info("netlink: monitoring %d links, %d addresses, %d routes",
		 nl_cache_nitems(m->caches[NLMON_LINKS]),
		 nl_cache_nitems(m->caches[NLMON_ADDRS]),
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
