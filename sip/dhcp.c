/* DHCP SIP server discovery on the loop (see dhcp.h). */
#include "sip/dhcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "base/log.h"
#include "base/util.h"

#define DHCP4_CLIENT_PORT       68
#define DHCP4_SERVER_PORT       67
#define DHCP6_CLIENT_PORT       546
#define DHCP6_SERVER_PORT       547
#define RECV_MAX                1500    /* one Ethernet frame's worth */
#define RECV_BURST              8       /* datagrams read per wakeup */

/* The waits after each message (ms): after the last one, no answer. */
static const unsigned waits4[] = { 4000, 8000 };
static const unsigned waits6[] = { 1000, 2000, 4000 };

struct sip_dhcp {
	struct ev_loop *loop;
	int family;
	char ifname[IFNAMSIZ];
	unsigned ifindex;
	struct sockaddr_storage local;
	int fd;
	ev_io io;
	/* IPv4: the link itself (AF_PACKET), or -1.  Another DHCP client of
	 * the host (NetworkManager's, once bound) holds LEASE:68 with a
	 * socket connected to the server, which the kernel prefers for the
	 * unicast DHCPACK: read off the link, the answer reaches us
	 * whatever socket the kernel hands it to. */
	int pfd;
	ev_io pio;
	ev_timer timer;
	uint32_t xid;
	uint8_t hw[16];
	size_t hwlen;
	unsigned tries;
	unsigned sent;                  /* tries that left */
	int last_error;
	uint64_t started_us;
	sip_dhcp_fn fn;
	void *data;
};

static const char *const outcome_names[_SIP_DHCP_OUTCOME_MAX] = {
	[SIP_DHCP_ANSWERED] = "answered",
	[SIP_DHCP_NO_ANSWER] = "no-answer",
};

const char *sip_dhcp_outcome_to_str(enum sip_dhcp_outcome o)
{
	return (unsigned)o < _SIP_DHCP_OUTCOME_MAX ? outcome_names[o] : "?";
}

static uint32_t random32(void)
{
	uint32_t v = 0;

	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		v = (uint32_t)util_now_monotonic_us() * 2654435761u;
	return v;
}

static void stop(struct sip_dhcp *d)
{
	ev_io_stop(d->loop, &d->io);
	ev_io_stop(d->loop, &d->pio);
	ev_timer_stop(d->loop, &d->timer);
	if (d->fd >= 0)
		close(d->fd);
	if (d->pfd >= 0)
		close(d->pfd);
	d->fd = d->pfd = -1;
}

/* The outcome, once: the discovery is done after this (the callback may
 * free it). */
static void finish(struct sip_dhcp *d, struct sip_dhcp_result *res)
{
	res->family = d->family;
	res->tries = d->tries;
	res->elapsed_ms = (util_now_monotonic_us() - d->started_us) / 1000;
	stop(d);
	d->fn(d, res, d->data);
}

static void send_one(struct sip_dhcp *d)
{
	uint8_t buf[DHCPMSG_INFORM_MAX];
	struct sockaddr_storage to = { 0 };
	socklen_t tolen;
	int n;

	if (d->family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&to;

		n = dhcpmsg_build_inform(buf, sizeof(buf), d->xid, d->hw, d->hwlen,
					 ((struct sockaddr_in *)&d->local)->sin_addr);
		s->sin_family = AF_INET;
		s->sin_port = htons(DHCP4_SERVER_PORT);
		s->sin_addr.s_addr = htonl(INADDR_BROADCAST);
		tolen = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&to;
		uint64_t cs = (util_now_monotonic_us() - d->started_us) / 10000;

		n = dhcpmsg_build_info_request(buf, sizeof(buf), d->xid, d->hw, d->hwlen,
					       (uint16_t)(cs > 0xffff ? 0xffff : cs));
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(DHCP6_SERVER_PORT);
		inet_pton(AF_INET6, "ff02::1:2", &s->sin6_addr);
		s->sin6_scope_id = d->ifindex;
		tolen = sizeof(*s);
	}
	d->tries++;
	if (n < 0 || sendto(d->fd, buf, (size_t)n, 0, (struct sockaddr *)&to, tolen) < 0) {
		d->last_error = n < 0 ? n : -errno;
		log_debug("dhcp %s: cannot send (try %u): %s", d->ifname, d->tries,
			  strerror(-d->last_error));
		return;
	}
	d->sent++;
	log_debug("dhcp %s: %s sent (try %u, xid %06x)", d->ifname,
		  d->family == AF_INET ? "DHCPINFORM" : "Information-Request", d->tries, d->xid);
}

/* The next wait: RFC 2131 §4.1 ±1 s for IPv4, RFC 8415 §15 ±10 % for
 * IPv6. */
static double next_wait(struct sip_dhcp *d)
{
	unsigned base = d->family == AF_INET ? waits4[d->tries - 1] : waits6[d->tries - 1];
	unsigned spread = d->family == AF_INET ? 1000 : base / 10;
	int jitter = (int)(random32() % (2 * spread + 1)) - (int)spread;

	return (double)((int)base + jitter) / 1000.0;
}

static size_t n_waits(const struct sip_dhcp *d)
{
	return d->family == AF_INET ? sizeof(waits4) / sizeof(waits4[0]) :
				      sizeof(waits6) / sizeof(waits6[0]);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sip_dhcp *d = container_of(w, struct sip_dhcp, timer);
	struct sip_dhcp_result res = { .outcome = SIP_DHCP_NO_ANSWER };

	(void)loop;
	(void)revents;
	/* Nothing could be sent at all (an interface without broadcast, no
	 * route): no answer can come, say so now rather than in 12 s. */
	if (d->tries >= n_waits(d) || d->sent == 0) {
		res.error = d->sent ? 0 : d->last_error;
		finish(d, &res);
		return;
	}
	send_one(d);
	ev_timer_set(&d->timer, next_wait(d), 0.);
	ev_timer_start(d->loop, &d->timer);
}

/* One datagram from a DHCP server: true when it was the answer (then
 * the discovery is done and may be gone). */
static bool handle_datagram(struct sip_dhcp *d, const uint8_t *buf, size_t n,
			    const char *from, uint16_t port)
{
	struct dhcpmsg_answer answer;
	struct sip_dhcp_result res = { .outcome = SIP_DHCP_ANSWERED, .answer = &answer };
	int r;

	if (port != (d->family == AF_INET ? DHCP4_SERVER_PORT : DHCP6_SERVER_PORT))
		return false;
	r = d->family == AF_INET ? dhcpmsg_parse_ack(buf, n, d->xid, &answer) :
				   dhcpmsg_parse_reply(buf, n, d->xid, &answer);
	if (r < 0) {
		if (r != -ENOMSG)
			log_debug("dhcp %s: dropped %zu malformed bytes from %s", d->ifname, n, from);
		return false;
	}
	util_strlcpy(res.from, from, sizeof(res.from));
	finish(d, &res);
	return true;
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sip_dhcp *d = container_of(w, struct sip_dhcp, io);

	(void)loop;
	(void)revents;
	for (int k = 0; k < RECV_BURST; k++) {
		uint8_t buf[RECV_MAX];
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof(from);
		char text[INET6_ADDRSTRLEN] = "?";
		uint16_t port = 0;
		ssize_t n;

		n = recvfrom(d->fd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
		if (n < 0)
			return;         /* EAGAIN, or an error the timer outlives */
		if ((size_t)n > sizeof(buf))
			continue;       /* larger than we read: not for us */
		if (from.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&from)->sin_addr, text,
				  sizeof(text));
			port = ntohs(((struct sockaddr_in *)&from)->sin_port);
		} else if (from.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&from)->sin6_addr, text,
				  sizeof(text));
			port = ntohs(((struct sockaddr_in6 *)&from)->sin6_port);
		}
		if (handle_datagram(d, buf, (size_t)n, text, port))
			return;
	}
}

/* The link's UDP datagrams to port 68 (the filter's): ours are those to
 * our address (or broadcast) from port 67. */
static void packet_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sip_dhcp *d = container_of(w, struct sip_dhcp, pio);
	struct in_addr ours = ((struct sockaddr_in *)&d->local)->sin_addr;

	(void)loop;
	(void)revents;
	for (int k = 0; k < RECV_BURST; k++) {
		uint8_t buf[RECV_MAX + 60 + 8];
		struct sockaddr_ll ll;
		socklen_t lllen = sizeof(ll);
		struct dhcpmsg_udp4 u;
		char text[INET_ADDRSTRLEN];
		ssize_t n;

		n = recvfrom(d->pfd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&ll, &lllen);
		if (n < 0)
			return;
		if ((size_t)n > sizeof(buf) || ll.sll_pkttype == PACKET_OUTGOING ||
		    dhcpmsg_parse_udp4(buf, (size_t)n, &u) < 0 ||
		    u.dport != DHCP4_CLIENT_PORT ||
		    (u.dst.s_addr != ours.s_addr && u.dst.s_addr != htonl(INADDR_BROADCAST)))
			continue;
		inet_ntop(AF_INET, &u.src, text, sizeof(text));
		if (handle_datagram(d, u.payload, u.len, text, u.sport))
			return;
	}
}

/* IPv4 UDP datagrams to port 68, not fragments, off the interface
 * (cBPF over the IP header: an AF_PACKET SOCK_DGRAM socket reads from
 * there).  -errno when the socket cannot be had (no CAP_NET_RAW): then
 * the UDP socket alone listens. */
static int open_packet_socket(struct sip_dhcp *d)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD + BPF_B + BPF_ABS, 9),                  /* protocol */
		BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, IPPROTO_UDP, 0, 5),
		BPF_STMT(BPF_LD + BPF_H + BPF_ABS, 6),                  /* flags, offset */
		BPF_JUMP(BPF_JMP + BPF_JSET + BPF_K, 0x3fff, 3, 0),
		BPF_STMT(BPF_LDX + BPF_B + BPF_MSH, 0),                 /* X <- IHL * 4 */
		BPF_STMT(BPF_LD + BPF_H + BPF_IND, 2),                  /* UDP dst port */
		BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, DHCP4_CLIENT_PORT, 1, 0),
		BPF_STMT(BPF_RET + BPF_K, 0),
		BPF_STMT(BPF_RET + BPF_K, 0xffff),
	};
	struct sock_fprog prog = {
		.len = sizeof(filter) / sizeof(filter[0]), .filter = filter,
	};
	struct sockaddr_ll ll = {
		.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP),
		.sll_ifindex = (int)d->ifindex,
	};
	int fd;

	/* Protocol 0 until the filter is on: nothing queues unfiltered. */
	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ||
	    bind(fd, (struct sockaddr *)&ll, sizeof(ll)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	d->pfd = fd;
	return 0;
}

static int open_socket(struct sip_dhcp *d)
{
	struct sockaddr_storage bound = d->local;
	struct ifreq ifr;
	int one = 1, fd;

	fd = socket(d->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	d->fd = fd;
	/* Another DHCP client of the host may hold the port on the wildcard
	 * address; ours is bound to the IAP's address, the more specific. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, d->ifname,
		       (socklen_t)strlen(d->ifname) + 1) < 0)
		return -errno;
	if (d->family == AF_INET) {
		if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0)
			return -errno;
		((struct sockaddr_in *)&bound)->sin_port = htons(DHCP4_CLIENT_PORT);
	} else {
		int ifindex = (int)d->ifindex;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) < 0)
			return -errno;
		((struct sockaddr_in6 *)&bound)->sin6_port = htons(DHCP6_CLIENT_PORT);
		((struct sockaddr_in6 *)&bound)->sin6_scope_id = d->ifindex;
	}
	if (bind(fd, (struct sockaddr *)&bound, d->family == AF_INET ?
		 sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) < 0)
		return -errno;
	/* chaddr and the DUID: the interface's hardware address, when it
	 * has one of Ethernet's size (a raw-IP modem has none). */
	memset(&ifr, 0, sizeof(ifr));
	util_strlcpy(ifr.ifr_name, d->ifname, sizeof(ifr.ifr_name));
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0 && ifr.ifr_hwaddr.sa_family == 1 /* ARPHRD_ETHER */) {
		memcpy(d->hw, ifr.ifr_hwaddr.sa_data, 6);
		d->hwlen = 6;
	}
	return 0;
}

struct sip_dhcp *sip_dhcp_start(struct ev_loop *loop, const char *ifname,
				const char *local, sip_dhcp_fn fn, void *data)
{
	struct sip_dhcp *d;
	int r;

	if (!loop || !ifname || !*ifname || strlen(ifname) >= IFNAMSIZ || !local || !fn) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->loop = loop;
	d->fd = d->pfd = -1;
	d->fn = fn;
	d->data = data;
	util_strlcpy(d->ifname, ifname, sizeof(d->ifname));
	d->ifindex = if_nametoindex(ifname);
	if (inet_pton(AF_INET, local, &((struct sockaddr_in *)&d->local)->sin_addr) == 1) {
		d->family = AF_INET;
	} else if (inet_pton(AF_INET6, local, &((struct sockaddr_in6 *)&d->local)->sin6_addr) == 1) {
		d->family = AF_INET6;
	} else {
		free(d);
		errno = EINVAL;
		return NULL;
	}
	d->local.ss_family = (sa_family_t)d->family;
	if (!d->ifindex) {
		r = -ENODEV;
		goto fail;
	}
	r = open_socket(d);
	if (r < 0)
		goto fail;
	d->xid = random32();
	if (d->family == AF_INET6)
		d->xid &= 0xffffff;
	d->started_us = util_now_monotonic_us();
	ev_io_init(&d->io, io_cb, d->fd, EV_READ);
	ev_io_start(loop, &d->io);
	if (d->family == AF_INET) {
		r = open_packet_socket(d);
		if (r < 0)
			log_debug("dhcp %s: cannot read the link (%s); another DHCP client's "
				  "socket may take the answer", d->ifname, strerror(-r));
		else {
			ev_io_init(&d->pio, packet_cb, d->pfd, EV_READ);
			ev_io_start(loop, &d->pio);
		}
	}
	send_one(d);
	ev_timer_init(&d->timer, timer_cb, d->sent ? next_wait(d) : 0., 0.);
	ev_timer_start(loop, &d->timer);
	return d;
fail:
	if (d->fd >= 0)
		close(d->fd);
	if (d->pfd >= 0)
		close(d->pfd);
	free(d);
	errno = -r;
	return NULL;
}

struct sip_dhcp *sip_dhcp_free(struct sip_dhcp *d)
{
	if (!d)
		return NULL;
	stop(d);
	free(d);
	return NULL;
}
