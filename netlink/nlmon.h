/*
 * Netlink route monitor: the only code that reads rtnetlink.
 *
 * It keeps libnl-3 caches of links and default routes and a table of its
 * own of every link's addresses, and turns every change into one typed
 * snapshot per affected link ("struct nlmon_link"), delivered after all
 * queued messages have been read (so a burst of events produces one
 * snapshot per link, not one per message).  A socket overrun
 * (ENOBUFS) triggers a full resync: caches are dumped again and every link
 * is delivered again, so the consumer's model equals the kernel's.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>

/* <net/if.h> (glibc) lacks these; <linux/if.h> clashes with it. */
#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif
#ifndef IFF_DORMANT
#define IFF_DORMANT 0x20000
#endif

struct ev_loop;
struct nlmon;

struct nlmon_addr {
	int family;                        /* AF_INET or AF_INET6 */
	unsigned char prefixlen;
	unsigned char scope;               /* RT_SCOPE_* */
	unsigned int flags;                /* IFA_F_* (extended flags included) */
	char local[INET6_ADDRSTRLEN];      /* text form, no prefix */
};

struct nlmon_link {
	int ifindex;
	char name[IFNAMSIZ];
	unsigned int flags;                /* IFF_* including IFF_LOWER_UP */
	unsigned char operstate;           /* IF_OPER_* */
	unsigned int arptype;              /* ARPHRD_* */
	unsigned int mtu;
	char type[32];                     /* rtnl link kind ("veth", "tun", "wireguard"), "" if none */
	char mac[32];                      /* "aa:bb:..", "" if none */
	size_t n_addrs;
	const struct nlmon_addr *addrs;    /* valid only during the callback */
	bool default_route4;               /* a default route (main table) leaves through this link */
	bool default_route6;
};

struct nlmon_ops {
	/* A link appeared or something about it changed (flags, addresses,
	 * routes).  Also called for every link after the initial dump and
	 * after a resync. */
	void (*link_changed)(const struct nlmon_link *link, void *user_data);
	/* A link is gone. */
	void (*link_removed)(int ifindex, const char *name, void *user_data);
	/* A resync after an overrun has completed (may be NULL). */
	void (*resynced)(void *user_data);
	/* Callbacks run from the monitor's own watchers and must not call
	 * nlmon_start() or nlmon_free(). */
};

struct nlmon_stats {
	unsigned long messages;            /* netlink messages processed */
	unsigned long snapshots;           /* link_changed calls */
	unsigned long resyncs;             /* overruns recovered from */
	unsigned long route_dumps;         /* route tables dumped (start, resyncs, silent flushes) */
};

/* rcvbuf: socket receive buffer in bytes, 0 for the default (4 MiB).
 * Beyond net.core.rmem_max it takes CAP_NET_ADMIN (SO_RCVBUFFORCE). */
struct nlmon *nlmon_new(struct ev_loop *loop, const struct nlmon_ops *ops,
			void *user_data, int rcvbuf);
/* Dump everything and start following events.  Calls link_changed for
 * every link before it returns.  0 or negative errno. */
int nlmon_start(struct nlmon *m);
struct nlmon *nlmon_free(struct nlmon *m);
/*
 * Deliver now what the socket holds and what waits for the batch
 * interval.  For news derived from the kernel's by another process
 * (NetworkManager deactivating a connection because its link went away):
 * the kernel multicast the same event to us before that process could
 * react, so syncing first puts the kernel's word before the derived one.
 * Nothing happens before nlmon_start() or while a resync waits.  Must not
 * be called from the monitor's own callbacks.
 */
void nlmon_sync(struct nlmon *m);
void nlmon_get_stats(const struct nlmon *m, struct nlmon_stats *ret);
