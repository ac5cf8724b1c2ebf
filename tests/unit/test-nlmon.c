/*
 * The netlink monitor against the real kernel: the test process moves into
 * a private network namespace (it dies with the process, so nothing leaks
 * and nothing needs cleaning up), changes links, addresses and routes with
 * ip(8), and checks what nlmon delivers, waiting with deadlines.
 */
#include "netlink/nlmon.h"

#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if_arp.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include <cmocka.h>
#include <ev.h>
#include <json-c/json.h>

#define MAX_IFINDEX	1024
#define DEADLINE	10.0		/* seconds, per wait */
#define BURST		3000		/* addresses per burst */
/* RFC 2863 "up", from <linux/if.h>, which clashes with <net/if.h>. */
#define OPER_UP		6

struct seen {
	bool present;                   /* last word was link_changed */
	unsigned int changed;           /* link_changed calls */
	unsigned int removed;           /* link_removed calls */
	unsigned long seq_changed;      /* order of the last of each */
	unsigned long seq_removed;
	char removed_name[IFNAMSIZ];
	struct nlmon_link link;         /* .addrs points to addrs */
	struct nlmon_addr *addrs;
};

struct ctx {
	struct ev_loop *loop;
	struct nlmon *mon;
	struct seen seen[MAX_IFINDEX];
	unsigned long seq;
	unsigned int resynced;
	bool timed_out;
};

static bool have_ipv6;

/* --- recorder --------------------------------------------------------- */

static void on_changed(const struct nlmon_link *l, void *user_data)
{
	struct ctx *c = user_data;
	struct seen *s;

	assert_in_range(l->ifindex, 1, MAX_IFINDEX - 1);
	assert_true(l->name[0] != '\0');
	assert_true(l->n_addrs == 0 || l->addrs != NULL);
	s = &c->seen[l->ifindex];
	free(s->addrs);
	s->addrs = NULL;
	if (l->n_addrs) {
		s->addrs = calloc(l->n_addrs, sizeof(*s->addrs));
		assert_non_null(s->addrs);
		memcpy(s->addrs, l->addrs, l->n_addrs * sizeof(*s->addrs));
	}
	s->link = *l;
	s->link.addrs = s->addrs;
	s->present = true;
	s->changed++;
	s->seq_changed = ++c->seq;
}

static void on_removed(int ifindex, const char *name, void *user_data)
{
	struct ctx *c = user_data;
	struct seen *s;

	assert_in_range(ifindex, 1, MAX_IFINDEX - 1);
	s = &c->seen[ifindex];
	/* Only links that were delivered are removed. */
	assert_true(s->present);
	s->present = false;
	s->removed++;
	s->seq_removed = ++c->seq;
	snprintf(s->removed_name, sizeof(s->removed_name), "%s", name);
}

static void on_resynced(void *user_data)
{
	struct ctx *c = user_data;

	c->resynced++;
}

static const struct nlmon_ops ops = {
	.link_changed = on_changed,
	.link_removed = on_removed,
	.resynced = on_resynced,
};

/* --- helpers ------------------------------------------------------------ */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	if (r != 0)
		fail_msg("'%s' exited with %d", cmd, r);
}

static int ifindex_of(const char *name)
{
	int ifindex = (int)if_nametoindex(name);

	assert_in_range(ifindex, 1, MAX_IFINDEX - 1);
	return ifindex;
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctx *c = w->data;

	c->timed_out = true;
}

typedef bool (*pred_fn)(struct ctx *c, const void *arg);

/* Run the loop until pred holds or the deadline passes. */
static bool run_until(struct ctx *c, pred_fn pred, const void *arg)
{
	ev_timer deadline;

	ev_now_update(c->loop);
	ev_timer_init(&deadline, deadline_cb, DEADLINE, 0.);
	deadline.data = c;
	c->timed_out = false;
	ev_timer_start(c->loop, &deadline);
	while (!pred(c, arg) && !c->timed_out)
		ev_run(c->loop, EVRUN_ONCE);
	ev_timer_stop(c->loop, &deadline);
	return pred(c, arg);
}

static const struct nlmon_addr *find_addr(const struct seen *s,
					  const char *local)
{
	for (size_t i = 0; i < s->link.n_addrs; i++)
		if (strcmp(s->addrs[i].local, local) == 0)
			return &s->addrs[i];
	return NULL;
}

enum tri { ANY, YES, NO };

/* What a link's latest snapshot must show. */
struct want {
	int ifindex;
	unsigned int set, clear;        /* IFF_* */
	const char *addr;
	enum tri has_addr;
	const char *addr2;
	enum tri has_addr2;
	enum tri def4, def6;
	bool check_n;
	size_t n_addrs;
	bool removed;
};

static bool tri_ok(enum tri t, bool v)
{
	return t == ANY || (t == YES) == v;
}

static bool link_is(struct ctx *c, const void *arg)
{
	const struct want *w = arg;
	const struct seen *s = &c->seen[w->ifindex];

	if (w->removed)
		return !s->present && s->removed > 0;
	return s->present &&
	       (s->link.flags & w->set) == w->set &&
	       (s->link.flags & w->clear) == 0 &&
	       (!w->addr || tri_ok(w->has_addr, find_addr(s, w->addr))) &&
	       (!w->addr2 || tri_ok(w->has_addr2, find_addr(s, w->addr2))) &&
	       tri_ok(w->def4, s->link.default_route4) &&
	       tri_ok(w->def6, s->link.default_route6) &&
	       (!w->check_n || s->link.n_addrs == w->n_addrs);
}

static void wait_for(struct ctx *c, const struct want *w, const char *what)
{
	if (!run_until(c, link_is, w))
		fail_msg("timed out waiting for ifindex %d: %s", w->ifindex, what);
}

static bool resyncs_at_least(struct ctx *c, const void *arg)
{
	const unsigned long *min = arg;
	struct nlmon_stats st;

	nlmon_get_stats(c->mon, &st);
	return st.resyncs >= *min;
}

static int strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The addresses `ip -j addr show` lists on dev, sorted; NULL-terminated. */
static char **kernel_addrs(const char *dev, size_t *ret_n)
{
	struct json_object *root, *link, *info, *a, *v;
	char cmd[128], **out;
	size_t n = 0, len;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ip -j addr show dev %s", dev);
	f = popen(cmd, "r");
	assert_non_null(f);
	root = json_object_from_fd(fileno(f));
	assert_int_equal(pclose(f), 0);
	assert_non_null(root);
	assert_int_equal(json_object_array_length(root), 1);
	link = json_object_array_get_idx(root, 0);
	assert_true(json_object_object_get_ex(link, "addr_info", &info));
	len = json_object_array_length(info);
	out = calloc(len + 1, sizeof(*out));
	assert_non_null(out);
	for (size_t i = 0; i < len; i++) {
		a = json_object_array_get_idx(info, i);
		if (!json_object_object_get_ex(a, "local", &v))
			continue;
		out[n] = strdup(json_object_get_string(v));
		assert_non_null(out[n]);
		n++;
	}
	json_object_put(root);
	qsort(out, n, sizeof(*out), strcmp_p);
	*ret_n = n;
	return out;
}

static void free_strv(char **v)
{
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

/* The latest snapshot lists exactly what the kernel has. */
static void assert_addrs_match_kernel(struct ctx *c, const char *dev)
{
	const struct seen *s = &c->seen[ifindex_of(dev)];
	size_t nk, n = s->link.n_addrs;
	char **k = kernel_addrs(dev, &nk);
	char **mine = calloc(n + 1, sizeof(*mine));

	assert_non_null(mine);
	for (size_t i = 0; i < n; i++)
		mine[i] = strdup(s->addrs[i].local);
	qsort(mine, n, sizeof(*mine), strcmp_p);
	assert_int_equal(n, nk);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(mine[i], k[i]);
	free_strv(mine);
	free_strv(k);
}

/* Writes BURST /32 address lines for ip -batch on dev to f. */
static void burst_lines(FILE *f, const char *verb, const char *dev, int net)
{
	for (int i = 0; i < BURST; i++)
		fprintf(f, "addr %s 10.%d.%d.%d/32 dev %s\n", verb, net,
			i / 250, i % 250 + 1, dev);
}

/* Adds (or deletes) BURST /32 addresses on dev in one ip -batch run,
 * followed by the lines in tail (or none). */
static void burst_then(const char *verb, const char *dev, int net,
		       const char *tail)
{
	char path[] = "/tmp/test-nlmon-XXXXXX";
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	burst_lines(f, verb, dev, net);
	if (tail)
		fputs(tail, f);
	assert_int_equal(fclose(f), 0);
	sh("ip -batch %s", path);
	unlink(path);
}

static void burst(const char *verb, const char *dev, int net)
{
	burst_then(verb, dev, net, NULL);
}

/* Position of an address in the latest snapshot, -1 if absent. */
static long addr_index(const struct seen *s, const char *local)
{
	const struct nlmon_addr *a = find_addr(s, local);

	return a ? (long)(a - s->addrs) : -1;
}

/* --- fixtures ------------------------------------------------------------- */

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->loop = ev_loop_new(EVFLAG_AUTO);
	if (!c->loop) {
		free(c);
		return -1;
	}
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	c->mon = nlmon_free(c->mon);
	for (int i = 0; i < MAX_IFINDEX; i++)
		free(c->seen[i].addrs);
	ev_loop_destroy(c->loop);
	free(c);
	return 0;
}

static void start(struct ctx *c, int rcvbuf)
{
	c->mon = nlmon_new(c->loop, &ops, c, rcvbuf);
	assert_non_null(c->mon);
	assert_int_equal(nlmon_start(c->mon), 0);
	assert_int_equal(nlmon_start(c->mon), -EALREADY);
}

/* --- tests ------------------------------------------------------------------ */

static void test_free_null(void **state)
{
	assert_null(nlmon_free(NULL));
}

static void test_lifecycle(void **state)
{
	struct ctx *c = *state;
	struct nlmon_stats st;
	const struct nlmon_addr *a;
	const struct seen *s;
	int ifx, peer;

	start(c, 0);
	/* The initial dump delivers what exists, loopback included. */
	s = &c->seen[1];
	assert_true(s->present);
	assert_string_equal(s->link.name, "lo");
	assert_true(s->link.flags & IFF_LOOPBACK);
	assert_int_equal(s->link.arptype, ARPHRD_LOOPBACK);

	sh("ip link add nlt0 type veth peer name nlt0p");
	ifx = ifindex_of("nlt0");
	peer = ifindex_of("nlt0p");
	wait_for(c, &(struct want){ .ifindex = ifx, .clear = IFF_UP }, "new veth");
	s = &c->seen[ifx];
	assert_string_equal(s->link.name, "nlt0");
	assert_string_equal(s->link.type, "veth");
	assert_int_equal(s->link.arptype, ARPHRD_ETHER);
	assert_int_equal(s->link.mtu, 1500);
	assert_int_equal(strlen(s->link.mac), 17);
	wait_for(c, &(struct want){ .ifindex = peer }, "veth peer");

	sh("ip link set nlt0 up && ip link set nlt0p up");
	wait_for(c, &(struct want){ .ifindex = ifx,
		 .set = IFF_UP | IFF_RUNNING | IFF_LOWER_UP }, "carrier up");
	assert_int_equal(s->link.operstate, OPER_UP);

	sh("ip addr add 192.0.2.10/24 dev nlt0 && "
	   "ip addr add 198.51.100.7/32 scope link dev nlt0");
	wait_for(c, &(struct want){ .ifindex = ifx,
		 .addr = "192.0.2.10", .has_addr = YES,
		 .addr2 = "198.51.100.7", .has_addr2 = YES }, "addresses");
	a = find_addr(s, "192.0.2.10");
	assert_int_equal(a->family, AF_INET);
	assert_int_equal(a->prefixlen, 24);
	assert_int_equal(a->scope, RT_SCOPE_UNIVERSE);
	a = find_addr(s, "198.51.100.7");
	assert_int_equal(a->prefixlen, 32);
	assert_int_equal(a->scope, RT_SCOPE_LINK);
	assert_false(s->link.default_route4);

	sh("ip route add default via 192.0.2.1 dev nlt0");
	wait_for(c, &(struct want){ .ifindex = ifx, .def4 = YES }, "default route");
	if (have_ipv6) {
		/* A gateway route: the kind libnl merges in route_update(). */
		sh("ip -6 route add default via fe80::1 dev nlt0");
		wait_for(c, &(struct want){ .ifindex = ifx, .def6 = YES },
			 "IPv6 default route");
	}

	/* Carrier loss keeps the routes (they become linkdown). */
	sh("ip link set nlt0p down");
	wait_for(c, &(struct want){ .ifindex = ifx, .set = IFF_UP,
		 .clear = IFF_LOWER_UP | IFF_RUNNING, .def4 = YES },
		 "carrier down");
	sh("ip link set nlt0p up");
	wait_for(c, &(struct want){ .ifindex = ifx,
		 .set = IFF_UP | IFF_RUNNING | IFF_LOWER_UP }, "carrier back");

	sh("ip route del default via 192.0.2.1 dev nlt0");
	wait_for(c, &(struct want){ .ifindex = ifx, .def4 = NO }, "route deleted");
	if (have_ipv6) {
		sh("ip -6 route del default via fe80::1 dev nlt0");
		wait_for(c, &(struct want){ .ifindex = ifx, .def6 = NO },
			 "IPv6 route deleted");
	}

	/* Losing its last IPv4 address flushes the default route without
	 * any RTM_DELROUTE: nlmon must notice all the same. */
	sh("ip route add default via 192.0.2.1 dev nlt0");
	wait_for(c, &(struct want){ .ifindex = ifx, .def4 = YES }, "route again");
	sh("ip addr del 192.0.2.10/24 dev nlt0 && "
	   "ip addr del 198.51.100.7/32 dev nlt0");
	wait_for(c, &(struct want){ .ifindex = ifx,
		 .addr = "192.0.2.10", .has_addr = NO,
		 .addr2 = "198.51.100.7", .has_addr2 = NO, .def4 = NO },
		 "addresses and (silently flushed) route gone");
	sh("ip route show default dev nlt0 | grep -q . && exit 1 || exit 0");

	/* So does going administratively down. */
	sh("ip addr add 192.0.2.10/24 dev nlt0 && "
	   "ip route add default via 192.0.2.1 dev nlt0");
	wait_for(c, &(struct want){ .ifindex = ifx, .def4 = YES }, "route, third time");
	sh("ip link set nlt0 down");
	wait_for(c, &(struct want){ .ifindex = ifx, .clear = IFF_UP, .def4 = NO },
		 "admin down flushes the route");

	sh("ip link del nlt0");
	wait_for(c, &(struct want){ .ifindex = ifx, .removed = true }, "link removed");
	wait_for(c, &(struct want){ .ifindex = peer, .removed = true }, "peer removed");
	s = &c->seen[ifx];
	assert_string_equal(s->removed_name, "nlt0");
	assert_string_equal(c->seen[peer].removed_name, "nlt0p");
	assert_int_equal(s->removed, 1);
	/* A removed link gets nothing after its removal. */
	assert_true(s->seq_changed < s->seq_removed);
	assert_true(c->seen[peer].seq_changed < c->seen[peer].seq_removed);

	nlmon_get_stats(c->mon, &st);
	assert_true(st.messages > 0);
	assert_true(st.snapshots > 0);
	assert_int_equal(st.resyncs, 0);
	assert_int_equal(c->resynced, 0);
}

static void test_route_moves(void **state)
{
	struct ctx *c = *state;
	int r0, r1;

	start(c, 0);
	sh("ip link add nlr0 type veth peer name nlr0p && "
	   "ip link add nlr1 type veth peer name nlr1p");
	/* Without IPv6 chatter, nothing but the route change itself can
	 * dirty a link below. */
	if (have_ipv6)
		sh("for i in nlr0 nlr0p nlr1 nlr1p; do "
		   "echo 1 >/proc/sys/net/ipv6/conf/$i/disable_ipv6; done");
	sh("ip link set nlr0p up && ip link set nlr1p up && "
	   "ip link set nlr0 up && ip link set nlr1 up && "
	   "ip addr add 203.0.113.1/28 dev nlr0 && "
	   "ip addr add 203.0.113.17/28 dev nlr1 && "
	   "ip route add default via 203.0.113.2 dev nlr0");
	r0 = ifindex_of("nlr0");
	r1 = ifindex_of("nlr1");
	wait_for(c, &(struct want){ .ifindex = r0, .def4 = YES }, "route via nlr0");
	wait_for(c, &(struct want){ .ifindex = r1, .def4 = NO }, "nlr1 seen");

	/* The replaced route has the same key in the cache, so only the
	 * old object tells that nlr0 lost it; one message, one batch. */
	sh("ip route replace default via 203.0.113.18 dev nlr1");
	wait_for(c, &(struct want){ .ifindex = r1, .def4 = YES }, "route via nlr1");
	assert_false(c->seen[r0].link.default_route4);

	sh("ip route replace default nexthop via 203.0.113.2 dev nlr0 "
	   "nexthop via 203.0.113.18 dev nlr1");
	wait_for(c, &(struct want){ .ifindex = r0, .def4 = YES }, "ECMP nlr0");
	assert_true(c->seen[r1].link.default_route4);

	sh("ip route del default");
	wait_for(c, &(struct want){ .ifindex = r0, .def4 = NO }, "ECMP gone nlr0");
	assert_false(c->seen[r1].link.default_route4);
}

static void test_burst(void **state)
{
	struct ctx *c = *state;
	struct nlmon_stats before, after;
	unsigned int changed;
	int ifx;

	/* Down, so that no IPv6 link-local address comes and goes. */
	sh("ip link add nlb0 type veth peer name nlb0p");
	ifx = ifindex_of("nlb0");
	start(c, 0);
	assert_true(c->seen[ifx].present);
	nlmon_get_stats(c->mon, &before);
	changed = c->seen[ifx].changed;

	/* Everything is queued before the loop runs: one batch. */
	burst("add", "nlb0", 77);
	wait_for(c, &(struct want){ .ifindex = ifx, .check_n = true,
		 .n_addrs = BURST }, "burst of addresses");
	assert_addrs_match_kernel(c, "nlb0");
	nlmon_get_stats(c->mon, &after);
	assert_int_equal(after.resyncs, 0);
	assert_true(after.messages - before.messages >= BURST);
	assert_true(c->seen[ifx].changed - changed <= 3);

	sh("ip addr flush dev nlb0");
	wait_for(c, &(struct want){ .ifindex = ifx, .check_n = true,
		 .n_addrs = 0 }, "addresses flushed");
	assert_addrs_match_kernel(c, "nlb0");
	nlmon_get_stats(c->mon, &after);
	assert_int_equal(after.resyncs, 0);
}

static void test_overrun(void **state)
{
	struct ctx *c = *state;
	struct nlmon_stats st;
	unsigned long want_resyncs;
	size_t nk;
	int ifx, gone, gone_peer;

	sh("ip link add nlo0 type veth peer name nlo0p && "
	   "ip link add nlo1 type veth peer name nlo1p");
	ifx = ifindex_of("nlo0");
	gone = ifindex_of("nlo1");
	gone_peer = ifindex_of("nlo1p");
	/* The kernel doubles this and rounds it up to its minimum: a few
	 * messages at most fit. */
	start(c, 1024);
	assert_true(c->seen[ifx].present);
	assert_true(c->seen[gone].present);

	/* Not running the loop: the socket overflows.  A link vanishes in
	 * the lost messages too. */
	burst("add", "nlo0", 78);
	sh("ip link del nlo1");
	free_strv(kernel_addrs("nlo0", &nk));
	assert_int_equal(nk, BURST);

	want_resyncs = 1;
	if (!run_until(c, resyncs_at_least, &want_resyncs))
		fail_msg("no resync after an overrun");
	wait_for(c, &(struct want){ .ifindex = ifx, .check_n = true,
		 .n_addrs = BURST }, "addresses after resync");
	wait_for(c, &(struct want){ .ifindex = gone, .removed = true },
		 "link deleted during the overrun");
	wait_for(c, &(struct want){ .ifindex = gone_peer, .removed = true },
		 "its peer");
	assert_string_equal(c->seen[gone].removed_name, "nlo1");
	assert_string_equal(c->seen[gone_peer].removed_name, "nlo1p");
	assert_true(c->seen[gone].seq_changed < c->seen[gone].seq_removed);
	assert_addrs_match_kernel(c, "nlo0");
	assert_true(c->resynced >= 1);

	/* And the other way round, within the resync rate limit. */
	sh("ip addr flush dev nlo0");
	want_resyncs = 2;
	if (!run_until(c, resyncs_at_least, &want_resyncs))
		fail_msg("no second resync");
	wait_for(c, &(struct want){ .ifindex = ifx, .check_n = true,
		 .n_addrs = 0 }, "addresses gone after resync");
	assert_addrs_match_kernel(c, "nlo0");
	nlmon_get_stats(c->mon, &st);
	assert_true(st.resyncs >= 2);
}


/* A storm of addresses on a link that keeps its default route: the
 * kernel flushes nothing, and nlmon must not dump the routes for every
 * deleted address (it did, once per batch: most of its time). */
static void test_addr_storm_default_route(void **state)
{
	struct ctx *c = *state;
	struct nlmon_stats before, after;
	int ifx;

	sh("ip link add nls0 type veth peer name nls0p && "
	   "ip link set nls0p up && ip link set nls0 up && "
	   "ip addr add 192.0.2.10/24 dev nls0 && "
	   "ip route add default via 192.0.2.1 dev nls0");
	ifx = ifindex_of("nls0");
	start(c, 0);
	wait_for(c, &(struct want){ .ifindex = ifx, .def4 = YES,
		 .addr = "192.0.2.10", .has_addr = YES }, "link with a route");
	nlmon_get_stats(c->mon, &before);

	burst("add", "nls0", 79);
	wait_for(c, &(struct want){ .ifindex = ifx, .def4 = YES,
		 .addr = "10.79.0.1", .has_addr = YES,
		 .addr2 = "10.79.11.250", .has_addr2 = YES }, "burst added");
	burst("del", "nls0", 79);
	wait_for(c, &(struct want){ .ifindex = ifx, .def4 = YES,
		 .addr = "10.79.0.1", .has_addr = NO,
		 .addr2 = "10.79.11.250", .has_addr2 = NO }, "burst deleted");
	assert_addrs_match_kernel(c, "nls0");
	nlmon_get_stats(c->mon, &after);
	assert_int_equal(after.resyncs, before.resyncs);
	/* No address here takes the route with it: no dump. */
	assert_int_equal(after.route_dumps, before.route_dumps);

	/* The same storm ending with the last IPv4 address: the kernel
	 * flushes the route without a word and nlmon must notice, with
	 * one dump for the whole batch, not one per deleted address. */
	burst_then("add", "nls0", 79, NULL);
	wait_for(c, &(struct want){ .ifindex = ifx, .def4 = YES,
		 .addr = "10.79.11.250", .has_addr = YES }, "burst again");
	nlmon_get_stats(c->mon, &before);
	burst_then("del", "nls0", 79, "addr del 192.0.2.10/24 dev nls0\n");
	wait_for(c, &(struct want){ .ifindex = ifx, .def4 = NO,
		 .addr = "192.0.2.10", .has_addr = NO,
		 .addr2 = "10.79.11.250", .has_addr2 = NO },
		 "last address and (silently flushed) route gone");
	sh("ip route show default dev nls0 | grep -q . && exit 1 || exit 0");
	assert_addrs_match_kernel(c, "nls0");
	nlmon_get_stats(c->mon, &after);
	assert_true(after.route_dumps > before.route_dumps);
	assert_int_equal(after.resyncs, before.resyncs);
}

/* A default route that prefers an address of another link as its source
 * goes when that address goes (fib_sync_down_addr(); older kernels said
 * nothing).  Both links keep other IPv4 addresses. */
static void test_prefsrc_route(void **state)
{
	struct ctx *c = *state;
	int a, b;

	sh("ip link add nlp0 type veth peer name nlp0p && "
	   "ip link add nlp1 type veth peer name nlp1p && "
	   "ip link set nlp0p up && ip link set nlp0 up && "
	   "ip link set nlp1p up && ip link set nlp1 up && "
	   "ip addr add 192.0.2.10/24 dev nlp0 && "
	   "ip addr add 198.51.100.10/24 dev nlp1 && "
	   "ip addr add 198.51.100.11/24 dev nlp1 && "
	   "ip route add default via 192.0.2.1 dev nlp0 src 198.51.100.11");
	a = ifindex_of("nlp0");
	b = ifindex_of("nlp1");
	start(c, 0);
	wait_for(c, &(struct want){ .ifindex = a, .def4 = YES }, "route via nlp0");
	wait_for(c, &(struct want){ .ifindex = b,
		 .addr = "198.51.100.11", .has_addr = YES }, "its source");

	sh("ip addr del 198.51.100.11/24 dev nlp1");
	wait_for(c, &(struct want){ .ifindex = a, .def4 = NO,
		 .addr = "192.0.2.10", .has_addr = YES },
		 "route gone with its preferred source");
	sh("ip route show default dev nlp0 | grep -q . && exit 1 || exit 0");
}

struct want_flag {
	int ifindex;
	const char *addr;
	unsigned int flag;
};

static bool addr_has_flag(struct ctx *c, const void *arg)
{
	const struct want_flag *w = arg;
	const struct nlmon_addr *a = find_addr(&c->seen[w->ifindex], w->addr);

	return c->seen[w->ifindex].present && a && (a->flags & w->flag);
}

/* Addresses are keyed as the kernel keys them, and delivered in the order
 * they came (the registry takes the first usable one). */
static void test_addr_keys_and_order(void **state)
{
	struct ctx *c = *state;
	const struct seen *s;
	int ifx;

	sh("ip link add nlk0 type veth peer name nlk0p");
	ifx = ifindex_of("nlk0");
	if (have_ipv6)
		sh("echo 1 >/proc/sys/net/ipv6/conf/nlk0/disable_ipv6");
	start(c, 0);
	sh("ip addr add 203.0.113.20/24 dev nlk0 && "
	   "ip addr add 192.0.2.5/24 dev nlk0 && "
	   "ip addr add 198.51.100.1 peer 198.51.100.2 dev nlk0 && "
	   "ip addr add 198.51.100.1 peer 198.51.100.3 dev nlk0 && "
	   "ip addr add 192.0.2.5/32 dev nlk0");
	wait_for(c, &(struct want){ .ifindex = ifx, .check_n = true,
		 .n_addrs = 5 }, "five addresses");
	s = &c->seen[ifx];
	assert_true(addr_index(s, "203.0.113.20") < addr_index(s, "192.0.2.5"));
	assert_true(addr_index(s, "192.0.2.5") < addr_index(s, "198.51.100.1"));

	/* Same local address, other peer or other prefix: others. */
	sh("ip addr del 198.51.100.1 peer 198.51.100.2 dev nlk0 && "
	   "ip addr del 192.0.2.5/24 dev nlk0");
	wait_for(c, &(struct want){ .ifindex = ifx, .check_n = true,
		 .n_addrs = 3, .addr = "198.51.100.1", .has_addr = YES,
		 .addr2 = "192.0.2.5", .has_addr2 = YES }, "two deleted");
	assert_int_equal(find_addr(s, "192.0.2.5")->prefixlen, 32);
	assert_addrs_match_kernel(c, "nlk0");

	if (!have_ipv6)
		return;
	/* IPv6: one address whatever the prefix; a change of flags is an
	 * update, not a second address. */
	sh("echo 0 >/proc/sys/net/ipv6/conf/nlk0/disable_ipv6 && "
	   "ip addr add 2001:db8::1/64 dev nlk0 nodad");
	wait_for(c, &(struct want){ .ifindex = ifx,
		 .addr = "2001:db8::1", .has_addr = YES }, "IPv6 address");
	sh("ip addr change 2001:db8::1/64 dev nlk0 nodad preferred_lft 0");
	if (!run_until(c, addr_has_flag, &(struct want_flag){ .ifindex = ifx,
		       .addr = "2001:db8::1", .flag = IFA_F_DEPRECATED }))
		fail_msg("timed out waiting for the IPv6 address to be deprecated");
	assert_int_equal(s->link.n_addrs, 4);
	assert_addrs_match_kernel(c, "nlk0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_null),
		cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_moves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overrun, setup, teardown),
		cmocka_unit_test_setup_teardown(test_addr_storm_default_route,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefsrc_route, setup, teardown),
		cmocka_unit_test_setup_teardown(test_addr_keys_and_order, setup,
						teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test-nlmon: needs root, skipped\n");
		return 77;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test-nlmon: unshare(CLONE_NEWNET): %m, skipped\n");
		return 77;
	}
	if (system("ip link set lo up") != 0) {
		fprintf(stderr, "test-nlmon: no working ip(8), skipped\n");
		return 77;
	}
	have_ipv6 = access("/proc/sys/net/ipv6", F_OK) == 0;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
