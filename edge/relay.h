/* The RTP/RTCP relay (docs/edge.md, "Media"): media anchoring for the
 * B2BUA's calls, on the daemon's libev loop.
 *
 * A relay carries one media stream (one m= line) between two sides:
 *
 *   application ──► local pair (loopback) ═══ network pair (an IAP) ──► far end
 *
 * Each side is a *pair* of UDP sockets, RTP on an even port and RTCP on the
 * next odd one (RFC 3550 §11), both ports from the pool's range.  What
 * arrives on the local RTP socket leaves from the network RTP socket, and
 * so on: socket to socket, so RTCP multiplexed on the RTP port (rtcp-mux,
 * RFC 5761) is carried as it comes, with nothing to negotiate here.
 *
 * The local pair is bound to the loopback address (127.0.0.1 or ::1) and
 * accepts only datagrams from loopback, or from the application's own
 * address (an application whose socket is bound to an interface address
 * sends from it, even to 127.0.0.1); anything else is counted as dropped.
 * It sends to the application's address from its SDP (relay_set_app());
 * it does not latch: any local process can reach a loopback port, and
 * latching would let one steal the far end's media.
 *
 * The network pair is bound to an IAP's local address, and to its
 * interface (SO_BINDTODEVICE) so that its datagrams leave over that IAP
 * whatever the routing table says.  It sends to the far end's address from
 * its SDP (relay_set_far()) until it *latches* (symmetric RTP, as
 * rtpengine and siproxd do; RFC 7362):
 *
 *  - the far end's SDP address is *trusted* when it is a global unicast
 *    address of the pair's family; then only datagrams from that IP
 *    address count, and the first one latches the pair onto its source
 *    (IP and port: the far end may send from another port than the one it
 *    announced, or a firewall may rewrite the port);
 *  - otherwise -- no address (a host name, the unspecified address of a
 *    hold, none given yet), the other family, or a private one (RFC 1918,
 *    100.64/10, fc00::/7, link-local: the far end is likely behind a NAT
 *    and announced its inside address) -- the first datagram from anywhere
 *    latches;
 *  - once latched, the pair sends to that source and accepts datagrams
 *    from it only; others are dropped.  RTP and RTCP latch separately.
 *    A new SDP address from the far end (relay_set_far() with another
 *    address) starts over.
 *
 * The trade-off (RFC 7362 §5): whoever sends first wins the latch.  With a
 * trusted address an attacker has to spoof the far end's IP address; with
 * an untrusted one any host that learns the port (30000-30999 by
 * default) and sends before the far end receives the call's media until
 * the next SDP.  rtpengine's default ("delayed" learning) makes the same
 * bet; "strict source" there is the trusted case here.
 *
 * Moving the network side (the next issue, a call moving to another IAP):
 * relay_move_network() opens a second network pair on another address
 * and interface; both receive (the far end switches when it reads the
 * re-INVITE's SDP, datagrams in flight reach the old pair); the old one
 * sends until relay_commit_network() makes the new pair the only one and
 * closes the old; relay_cancel_move() closes the new one instead.
 *
 * Bounded: the pool's port range is the limit on relays (each holds two
 * pairs, three during a move); a socket is read at most RELAY_BATCH
 * datagrams per loop turn (one recvmmsg()).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct ev_loop;

#define RELAY_DEFAULT_PORT_MIN  30000
#define RELAY_DEFAULT_PORT_MAX  30999
#define RELAY_BATCH             16      /* datagrams per socket per loop turn */

struct relay_pool;
struct relay;

/* One direction of a relay, RTP and RTCP together. */
struct relay_counters {
	uint64_t packets;               /* forwarded */
	uint64_t bytes;                 /* of the datagrams forwarded (UDP payload) */
	uint64_t dropped;               /* from a source not accepted, no destination yet, or not sent */
};

struct relay_stats {
	struct relay_counters to_net;   /* application -> far end */
	struct relay_counters to_app;   /* far end -> application */
	bool rtp_latched, rtcp_latched; /* the sending network pair's */
};

/*
 * A pool of ports [@port_min, @port_max] on @loop: @port_min even,
 * @port_max odd (or the last even port goes unused), at least one pair.
 * NULL with errno EINVAL (a bad range) or ENOMEM.  Ports another process
 * holds are skipped when a pair is opened.
 */
struct relay_pool *relay_pool_new(struct ev_loop *loop, uint16_t port_min, uint16_t port_max);
/* Every relay must have been freed.  NULL accepted; returns NULL. */
struct relay_pool *relay_pool_free(struct relay_pool *p);
/* Port pairs not held by a relay of this pool. */
unsigned int relay_pool_free_pairs(const struct relay_pool *p);
void relay_pool_range(const struct relay_pool *p, uint16_t *ret_min, uint16_t *ret_max);

/*
 * A relay with its local pair on @local_addr (a loopback address; port not
 * used) and its network pair on @net_addr, bound to interface @ifname
 * (NULL: no SO_BINDTODEVICE).  @name (may be NULL) names it in log lines.
 * Neither side has a destination yet.
 *
 * Returns 0, or -ENOSPC (no free pair in the pool's range), -ENODEV (no
 * such interface), -EADDRNOTAVAIL (@net_addr is not this host's), -EPERM,
 * -EINVAL or what socket() and bind() fail with.
 */
int relay_new(struct relay_pool *p, const char *name, const struct sockaddr *local_addr,
	      const char *ifname, const struct sockaddr *net_addr, struct relay **ret);
/* Closes its sockets and gives its ports back.  NULL accepted; returns NULL. */
struct relay *relay_free(struct relay *r);

/* The local pair's RTP port (RTCP: + 1), what the application is told. */
uint16_t relay_local_port(const struct relay *r);
/* The network pair's RTP port (RTCP: + 1), what the far end is told: the
 * new pair's while a move is pending. */
uint16_t relay_net_port(const struct relay *r);

/* Where the application receives RTP and RTCP (from its SDP); NULL or
 * AF_UNSPEC: not known (datagrams for it are dropped). */
void relay_set_app(struct relay *r, const struct sockaddr *rtp, const struct sockaddr *rtcp);
/* Where the far end receives RTP and RTCP (from its SDP); NULL or
 * AF_UNSPEC: not known.  A changed address starts latching over (see
 * above); the same one keeps the latch. */
void relay_set_far(struct relay *r, const struct sockaddr *rtp, const struct sockaddr *rtcp);

/*
 * Open a network pair on @net_addr and @ifname beside the current one
 * (see above).  A pending move is replaced.  Returns 0 or what relay_new()
 * returns; on error nothing changed.
 */
int relay_move_network(struct relay *r, const char *ifname, const struct sockaddr *net_addr);
/* Send from the new pair and close the old one; nothing without a move. */
void relay_commit_network(struct relay *r);
/* Close the new pair; nothing without a move. */
void relay_cancel_move(struct relay *r);
bool relay_move_pending(const struct relay *r);

void relay_get_stats(const struct relay *r, struct relay_stats *ret);
