/* The RTP/RTCP relay (see relay.h for the rules: sides, pairs, latching,
 * moving the network side). */
#include "edge/relay.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <ev.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "edge/addr.h"

/* The largest UDP payload (IPv4: 65535 - 20 - 8); loopback's MTU lets an
 * application send that much. */
#define RELAY_MAX_DATAGRAM      65507
#define RELAY_NAME_MAX          64

enum relay_comp {
	RELAY_RTP,
	RELAY_RTCP,
	_RELAY_COMP_MAX,
};

static const char *relay_comp_to_str(enum relay_comp c)
{
	switch (c) {
	case RELAY_RTP:
		return "RTP";
	case RELAY_RTCP:
		return "RTCP";
	case _RELAY_COMP_MAX:
		break;
	}
	return "?";
}

struct relay_net;

struct relay_sock {
	struct relay *r;
	struct relay_net *net;          /* NULL: the local pair's */
	enum relay_comp comp;
	int fd;
	ev_io io;
};

struct relay_pair {
	uint16_t port;                  /* RTP; RTCP is port + 1; 0: not open */
	struct relay_sock sock[_RELAY_COMP_MAX];
};

/* Where a network pair sends one component, and whether that is learnt. */
struct relay_latch {
	bool done;
	struct sockaddr_storage addr;   /* the latched source, else the far end's SDP address */
};

struct relay_net {
	struct relay_pair pair;
	struct sockaddr_storage addr;
	char ifname[IF_NAMESIZE];
	struct relay_latch latch[_RELAY_COMP_MAX];
};

struct relay {
	struct relay_pool *pool;
	char name[RELAY_NAME_MAX];
	struct relay_pair local;
	struct sockaddr_storage local_addr;
	struct relay_net *net;          /* sends and receives */
	struct relay_net *next;         /* a pending move: receives only */
	struct sockaddr_storage app[_RELAY_COMP_MAX];
	struct sockaddr_storage far[_RELAY_COMP_MAX];
	struct relay_stats stats;
};

struct relay_pool {
	struct ev_loop *loop;
	uint16_t port_min;
	unsigned int n_pairs;
	unsigned int n_used;
	unsigned int next;              /* where the search for a free pair starts */
	unsigned int n_relays;
	uint8_t *used;                  /* per pair */
	/* One loop, one thread: every socket reads into these. */
	uint8_t *buf;                   /* RELAY_BATCH datagrams */
	struct mmsghdr in[RELAY_BATCH], out[RELAY_BATCH];
	struct iovec iov[RELAY_BATCH];
	struct sockaddr_storage from[RELAY_BATCH];
};

static socklen_t addr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static void copy_addr(struct sockaddr_storage *dst, const struct sockaddr *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src && src->sa_family == AF_INET)
		memcpy(dst, src, sizeof(struct sockaddr_in));
	else if (src && src->sa_family == AF_INET6)
		memcpy(dst, src, sizeof(struct sockaddr_in6));
}

static uint16_t addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

static bool same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return IN6_ARE_ADDR_EQUAL(&((const struct sockaddr_in6 *)a)->sin6_addr,
					  &((const struct sockaddr_in6 *)b)->sin6_addr);
	return false;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return same_ip(a, b) && addr_port(a) == addr_port(b);
}

/* "10.0.0.2:30000", "[2001:db8::1]:30000", "none" */
static const char *addr_to_str(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, addr_port(ss));
	} else if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, host,
			  sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, addr_port(ss));
	} else {
		snprintf(buf, size, "none");
	}
	return buf;
}

static bool ipv4_is_private(uint32_t a)
{
	return (a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 ||
	       (a & 0xffc00000) == 0x64400000 ||        /* 100.64/10, RFC 6598 */
	       (a & 0xffff0000) == 0xa9fe0000 ||        /* 169.254/16 */
	       (a & 0xfff00000) == 0xac100000 ||        /* 172.16/12 */
	       (a & 0xffff0000) == 0xc0a80000;          /* 192.168/16 */
}

/* An address the far end can be trusted to send from (relay.h): a global
 * unicast one, of @family. */
static bool far_addr_trusted(const struct sockaddr_storage *ss, int family)
{
	if (ss->ss_family != family)
		return false;
	if (ss->ss_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr);

		return !ipv4_is_private(a) && !IN_MULTICAST(a) && a != INADDR_BROADCAST;
	} else {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			uint32_t v4;

			memcpy(&v4, &a->s6_addr[12], 4);
			return !ipv4_is_private(ntohl(v4));
		}
		return !IN6_IS_ADDR_UNSPECIFIED(a) && !IN6_IS_ADDR_LOOPBACK(a) &&
		       !IN6_IS_ADDR_LINKLOCAL(a) && !IN6_IS_ADDR_MULTICAST(a) &&
		       (a->s6_addr[0] & 0xfe) != 0xfc;    /* fc00::/7, RFC 4193 */
	}
}

struct relay_pool *relay_pool_new(struct ev_loop *loop, uint16_t port_min, uint16_t port_max)
{
	struct relay_pool *p;

	if (!loop || (port_min & 1) || port_max <= port_min || port_min == 0) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->loop = loop;
	p->port_min = port_min;
	p->n_pairs = ((unsigned int)port_max - port_min + 1) / 2;
	p->used = calloc(p->n_pairs, 1);
	p->buf = malloc((size_t)RELAY_BATCH * RELAY_MAX_DATAGRAM);
	if (!p->used || !p->buf) {
		free(p->used);
		free(p->buf);
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < RELAY_BATCH; i++) {
		p->iov[i].iov_base = p->buf + i * RELAY_MAX_DATAGRAM;
		p->in[i].msg_hdr.msg_iov = &p->iov[i];
		p->in[i].msg_hdr.msg_iovlen = 1;
		p->in[i].msg_hdr.msg_name = &p->from[i];
	}
	return p;
}

struct relay_pool *relay_pool_free(struct relay_pool *p)
{
	if (!p)
		return NULL;
	assert(p->n_relays == 0);
	free(p->used);
	free(p->buf);
	free(p);
	return NULL;
}

unsigned int relay_pool_free_pairs(const struct relay_pool *p)
{
	return p->n_pairs - p->n_used;
}

void relay_pool_range(const struct relay_pool *p, uint16_t *ret_min, uint16_t *ret_max)
{
	*ret_min = p->port_min;
	*ret_max = (uint16_t)(p->port_min + 2 * p->n_pairs - 1);
}

static int sock_open(const struct sockaddr_storage *addr, uint16_t port, const char *ifname,
		     int *ret_fd)
{
	struct sockaddr_storage a = *addr;
	int fd, one = 1;

	if (a.ss_family == AF_INET)
		((struct sockaddr_in *)&a)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&a)->sin6_port = htons(port);
	fd = socket(a.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* an IPv6 pair is IPv6 only: the other family has pairs of its own */
	if (a.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	/* Over this IAP whatever the routing table says (as sip/transport.c
	 * binds its sockets). */
	if (ifname && *ifname &&
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&a, addr_len(&a)) < 0)
		goto fail;
	*ret_fd = fd;
	return 0;
fail:
	{
		int r = -errno;

		close(fd);
		return r;
	}
}

static void sock_cb(struct ev_loop *loop, ev_io *w, int revents);

static void pair_close(struct relay_pool *p, struct relay_pair *pair)
{
	if (pair->port == 0)
		return;
	for (int c = 0; c < _RELAY_COMP_MAX; c++) {
		ev_io_stop(p->loop, &pair->sock[c].io);
		close(pair->sock[c].fd);
		pair->sock[c].fd = -1;
	}
	p->used[(pair->port - p->port_min) / 2] = 0;
	p->n_used--;
	pair->port = 0;
}

/* The next free pair of the range on @addr (and @ifname), round robin so
 * that a port just closed is reused last (a late datagram of the last call
 * does not reach the next one).  Ports another process holds are
 * skipped. */
static int pair_open(struct relay *r, struct relay_pair *pair, struct relay_net *net,
		     const struct sockaddr_storage *addr, const char *ifname)
{
	struct relay_pool *p = r->pool;

	for (unsigned int tries = 0; tries < p->n_pairs; tries++) {
		unsigned int i = (p->next + tries) % p->n_pairs;
		uint16_t port = (uint16_t)(p->port_min + 2 * i);
		int fd[_RELAY_COMP_MAX], k;

		if (p->used[i])
			continue;
		k = sock_open(addr, port, ifname, &fd[RELAY_RTP]);
		if (k == 0) {
			k = sock_open(addr, (uint16_t)(port + 1), ifname, &fd[RELAY_RTCP]);
			if (k < 0)
				close(fd[RELAY_RTP]);
		}
		if (k == -EADDRINUSE)
			continue;
		if (k < 0)
			return k;
		p->used[i] = 1;
		p->n_used++;
		p->next = (i + 1) % p->n_pairs;
		pair->port = port;
		for (int c = 0; c < _RELAY_COMP_MAX; c++) {
			struct relay_sock *s = &pair->sock[c];

			s->r = r;
			s->net = net;
			s->comp = (enum relay_comp)c;
			s->fd = fd[c];
			ev_io_init(&s->io, sock_cb, s->fd, EV_READ);
			ev_io_start(p->loop, &s->io);
		}
		return 0;
	}
	return -ENOSPC;
}

static void net_reset_latch(struct relay *r, struct relay_net *n)
{
	for (int c = 0; c < _RELAY_COMP_MAX; c++) {
		n->latch[c].done = false;
		n->latch[c].addr = r->far[c];
	}
}

static int net_open(struct relay *r, const char *ifname, const struct sockaddr *addr,
		    struct relay_net **ret)
{
	struct relay_net *n;
	int k;

	if (!addr || (addr->sa_family != AF_INET && addr->sa_family != AF_INET6) ||
	    (ifname && strlen(ifname) >= IF_NAMESIZE))
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	copy_addr(&n->addr, addr);
	if (ifname)
		util_strlcpy(n->ifname, ifname, sizeof(n->ifname));
	k = pair_open(r, &n->pair, n, &n->addr, ifname);
	if (k < 0) {
		free(n);
		return k;
	}
	net_reset_latch(r, n);
	*ret = n;
	return 0;
}

static struct relay_net *net_close(struct relay *r, struct relay_net *n)
{
	if (!n)
		return NULL;
	pair_close(r->pool, &n->pair);
	free(n);
	return NULL;
}

int relay_new(struct relay_pool *p, const char *name, const struct sockaddr *local_addr,
	      const char *ifname, const struct sockaddr *net_addr, struct relay **ret)
{
	char a[INET6_ADDRSTRLEN + 8], b[INET6_ADDRSTRLEN + 8];
	struct relay *r;
	int k;

	if (!p || !local_addr || !ret ||
	    (local_addr->sa_family != AF_INET && local_addr->sa_family != AF_INET6))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->pool = p;
	util_strlcpy(r->name, name ? name : "?", sizeof(r->name));
	copy_addr(&r->local_addr, local_addr);
	k = pair_open(r, &r->local, NULL, &r->local_addr, NULL);
	if (k == 0) {
		k = net_open(r, ifname, net_addr, &r->net);
		if (k < 0)
			pair_close(p, &r->local);
	}
	if (k < 0) {
		free(r);
		return k;
	}
	p->n_relays++;
	log_debug("relay %s: local %s, network %s%s%s", r->name,
		  addr_to_str(&r->local_addr, a, sizeof(a)), addr_to_str(&r->net->addr, b, sizeof(b)),
		  r->net->ifname[0] ? " on " : "", r->net->ifname);
	*ret = r;
	return 0;
}

struct relay *relay_free(struct relay *r)
{
	if (!r)
		return NULL;
	pair_close(r->pool, &r->local);
	net_close(r, r->net);
	net_close(r, r->next);
	r->pool->n_relays--;
	free(r);
	return NULL;
}

uint16_t relay_local_port(const struct relay *r)
{
	return r->local.port;
}

uint16_t relay_net_port(const struct relay *r)
{
	return r->next ? r->next->pair.port : r->net->pair.port;
}

void relay_set_app(struct relay *r, const struct sockaddr *rtp, const struct sockaddr *rtcp)
{
	copy_addr(&r->app[RELAY_RTP], rtp);
	copy_addr(&r->app[RELAY_RTCP], rtcp);
}

void relay_set_far(struct relay *r, const struct sockaddr *rtp, const struct sockaddr *rtcp)
{
	struct sockaddr_storage a[_RELAY_COMP_MAX];

	copy_addr(&a[RELAY_RTP], rtp);
	copy_addr(&a[RELAY_RTCP], rtcp);
	for (int c = 0; c < _RELAY_COMP_MAX; c++) {
		struct relay_net *nets[] = { r->net, r->next };

		if (a[c].ss_family == r->far[c].ss_family &&
		    (a[c].ss_family == AF_UNSPEC || same_addr(&a[c], &r->far[c])))
			continue;       /* a refresh: keep what was learnt */
		r->far[c] = a[c];
		for (size_t i = 0; i < ARRAY_SIZE(nets); i++) {
			if (!nets[i])
				continue;
			nets[i]->latch[c].done = false;
			nets[i]->latch[c].addr = a[c];
		}
	}
}

int relay_move_network(struct relay *r, const char *ifname, const struct sockaddr *net_addr)
{
	char a[INET6_ADDRSTRLEN + 8];
	struct relay_net *n;
	int k;

	k = net_open(r, ifname, net_addr, &n);
	if (k < 0)
		return k;
	net_close(r, r->next);
	r->next = n;
	log_debug("relay %s: moving to %s%s%s", r->name, addr_to_str(&n->addr, a, sizeof(a)),
		  n->ifname[0] ? " on " : "", n->ifname);
	return 0;
}

void relay_commit_network(struct relay *r)
{
	if (!r->next)
		return;
	net_close(r, r->net);
	r->net = r->next;
	r->next = NULL;
}

void relay_cancel_move(struct relay *r)
{
	r->next = net_close(r, r->next);
}

bool relay_move_pending(const struct relay *r)
{
	return r->next != NULL;
}

void relay_get_stats(const struct relay *r, struct relay_stats *ret)
{
	*ret = r->stats;
	ret->rtp_latched = r->net->latch[RELAY_RTP].done;
	ret->rtcp_latched = r->net->latch[RELAY_RTCP].done;
}

/* Whether the far end may send @from to network pair @n (relay.h's
 * latching rule); latches when it is the first. */
static bool far_accept(struct relay *r, struct relay_net *n, enum relay_comp c,
		       const struct sockaddr_storage *from)
{
	struct relay_latch *l = &n->latch[c];
	char a[INET6_ADDRSTRLEN + 8];

	if (l->done)
		return same_addr(&l->addr, from);
	if (far_addr_trusted(&r->far[c], n->addr.ss_family) && !same_ip(&r->far[c], from))
		return false;
	l->addr = *from;
	l->done = true;
	log_info("relay %s: %s from the far end latched to %s (on %u)", r->name,
		 relay_comp_to_str(c), addr_to_str(from, a, sizeof(a)),
		 (unsigned int)(n->pair.port + c));
	return true;
}

/* Whether the local pair takes a datagram from @from (relay.h). */
static bool app_accept(const struct relay *r, const struct sockaddr_storage *from)
{
	return edge_addr_is_loopback((const struct sockaddr *)from) ||
	       same_ip(from, &r->app[RELAY_RTP]) || same_ip(from, &r->app[RELAY_RTCP]);
}

/* Send the first @n datagrams of the pool's batch whose @ok is set from
 * @fd to @to; counts them in @cnt. */
static void send_batch(struct relay_pool *p, int fd, const struct sockaddr_storage *to,
		       const bool *ok, int n, struct relay_counters *cnt)
{
	unsigned int k = 0;
	int sent = 0;

	for (int i = 0; i < n; i++) {
		if (!ok[i]) {
			cnt->dropped++;
			continue;
		}
		p->out[k].msg_hdr = (struct msghdr){
			.msg_name = (void *)to,
			.msg_namelen = addr_len(to),
			.msg_iov = &p->iov[i],
			.msg_iovlen = 1,
		};
		p->iov[i].iov_len = p->in[i].msg_len;
		k++;
	}
	if (k == 0)
		return;
	/* A full socket buffer (EAGAIN) or a route gone loses what is left
	 * of the batch: media is late anyway, UDP never promised more. */
	sent = sendmmsg(fd, p->out, k, MSG_DONTWAIT);
	if (sent < 0)
		sent = 0;
	for (int i = 0; i < sent; i++) {
		cnt->packets++;
		cnt->bytes += p->out[i].msg_hdr.msg_iov->iov_len;
	}
	cnt->dropped += k - (unsigned int)sent;
}

static void sock_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct relay_sock *s = container_of(w, struct relay_sock, io);
	struct relay *r = s->r;
	struct relay_pool *p = r->pool;
	const struct sockaddr_storage *to;
	struct relay_counters *cnt;
	bool ok[RELAY_BATCH];
	int n, fd;

	for (int i = 0; i < RELAY_BATCH; i++) {
		p->iov[i].iov_len = RELAY_MAX_DATAGRAM;
		p->in[i].msg_hdr.msg_namelen = sizeof(p->from[i]);
	}
	n = recvmmsg(s->fd, p->in, RELAY_BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return;         /* EAGAIN, or an error queued for an earlier send */
	if (!s->net) {
		/* application -> far end, from the sending network pair */
		cnt = &r->stats.to_net;
		for (int i = 0; i < n; i++)
			ok[i] = app_accept(r, &p->from[i]);
		to = &r->net->latch[s->comp].addr;
		fd = r->net->pair.sock[s->comp].fd;
		if (to->ss_family != r->net->addr.ss_family)
			memset(ok, 0, sizeof(ok));
	} else {
		/* far end -> application, from either network pair */
		cnt = &r->stats.to_app;
		for (int i = 0; i < n; i++)
			ok[i] = far_accept(r, s->net, s->comp, &p->from[i]);
		to = &r->app[s->comp];
		fd = r->local.sock[s->comp].fd;
		if (to->ss_family != r->local_addr.ss_family)
			memset(ok, 0, sizeof(ok));
	}
	send_batch(p, fd, to, ok, n, cnt);
}
