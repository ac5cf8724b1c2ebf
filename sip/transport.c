/* UDP and TCP transports bound to an IAP (see transport.h).
 *
 * SO_BINDTODEVICE, not just bind(): with only the source address bound,
 * Linux still routes by destination through the main table, so a REGISTER
 * "from" wwan0's address would leave through wlan0's default route.  Bound
 * to the device, the socket uses that device's routes.  It needs
 * CAP_NET_RAW; without it we fail rather than send over the wrong
 * network.
 *
 * A close() from inside our own callback (the stack drops the last user
 * while handling a message) only marks the transport; the callback frees
 * it on its way out.
 *
 * ICMP errors (UDP): without IP_RECVERR an unconnected UDP socket never
 * hears of them, and a REGISTER to a closed port waits 32 s for Timer F.
 * With it, each ICMP error about a datagram we sent lands in the socket's
 * error queue (read with MSG_ERRQUEUE: the sock_extended_err, the
 * offender, the datagram's destination and its payload as quoted), and the
 * socket turns readable with POLLERR until the queue is empty.  The
 * kernel also keeps the last one as the socket's pending error, which the
 * next sendto() or recvfrom() returns once in place of doing its work:
 * an ICMP about one registrar would fail the next datagram to another.
 * So the queue is read first on every readiness, and a sendto() that fails
 * while errors are queued is one of those: they are read and the datagram
 * is sent again. */
#include "sip/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "base/log.h"
#include "base/util.h"
#include "sip/sipframe.h"

/* Bound on bytes queued on a connection that does not drain. */
#define TCP_OUT_MAX     (256 * 1024)
/* Datagrams read per readiness event, so that one busy socket cannot
 * hold the loop. */
#define UDP_READ_BURST  32
/* Bytes of an ICMP error's quote we look at: RFC 1812 §4.3.2.3 routers
 * (and Linux) quote up to 576 bytes of the IP datagram, RFC 4443 §2.4
 * ICMPv6 up to 1280: the request line and the top Via fit in either. */
#define ICMP_QUOTE_MAX  1280

struct sock_transport {
	struct sip_transport base;
	struct ev_loop *loop;
	const struct sip_transport_cbs *cbs;
	void *cb_data;
	int fd;
	ev_io rio;
	ev_io wio;
	bool connecting;
	bool dead;                      /* failed: no more I/O */
	unsigned in_cb;
	bool close_pending;
	/* TCP: RFC 5626 §4.4.1 keepalives (sock_keepalive()) */
	ev_timer ka;
	unsigned ka_interval_ms, ka_timeout_ms;
	bool ka_ping_out;               /* a ping went; waiting for any byte */
	char *out;
	size_t out_len, out_cap;
	char *in;
	size_t in_len;
};

socklen_t sip_sockaddr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
					   sizeof(struct sockaddr_in);
}

bool sip_sockaddr_same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)b)->sin6_addr,
			      16) == 0;
	return false;
}

bool sip_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (!sip_sockaddr_same_host(a, b))
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_port ==
		       ((const struct sockaddr_in *)b)->sin_port;
	return ((const struct sockaddr_in6 *)a)->sin6_port ==
	       ((const struct sockaddr_in6 *)b)->sin6_port;
}

/* ---- ICMP errors (pure) -------------------------------------------------- */

static const char *const verdict_names[_SIP_ICMP_VERDICT_MAX] = {
	[SIP_ICMP_IGNORED] = "ignored",
	[SIP_ICMP_PORT_CLOSED] = "port-closed",
	[SIP_ICMP_NO_PATH] = "no-path",
};

const char *sip_icmp_verdict_to_str(enum sip_icmp_verdict v)
{
	return (unsigned)v < _SIP_ICMP_VERDICT_MAX ? verdict_names[v] : "?";
}

/* Destination unreachable: ICMP type 3 (RFC 792, RFC 1122 §3.2.2.1,
 * RFC 1812 §5.2.7.1), ICMPv6 type 1 (RFC 4443 §3.1).  Fragmentation
 * needed (code 4), time exceeded, parameter problems and packet too big
 * say nothing about whether the registrar can be reached. */
static enum sip_icmp_verdict icmp_kind(const struct sip_icmp_error *e, int *ret_error)
{
	if (e->icmp6) {
		if (e->type != 1)
			return SIP_ICMP_IGNORED;
		if (e->code == 4) {             /* port unreachable */
			*ret_error = -ECONNREFUSED;
			return SIP_ICMP_PORT_CLOSED;
		}
		/* 0 no route, 1 prohibited, 2 beyond scope, 3 address
		 * unreachable, 5 source address failed policy, 6 reject
		 * route, and later ones */
		*ret_error = e->code == 0 ? -ENETUNREACH : -EHOSTUNREACH;
		return SIP_ICMP_NO_PATH;
	}
	if (e->type != 3)
		return SIP_ICMP_IGNORED;
	switch (e->code) {
	case 2:                                 /* protocol unreachable */
	case 3:                                 /* port unreachable */
		*ret_error = -ECONNREFUSED;
		return SIP_ICMP_PORT_CLOSED;
	case 4:                                 /* fragmentation needed (PMTU) */
		return SIP_ICMP_IGNORED;
	case 0:                                 /* net unreachable */
	case 6:                                 /* net unknown */
	case 9:                                 /* net prohibited */
	case 11:                                /* net unreachable for TOS */
		*ret_error = -ENETUNREACH;
		return SIP_ICMP_NO_PATH;
	default:                                /* host unreachable, unknown,
						   prohibited, ...; filtered (13) */
		*ret_error = -EHOSTUNREACH;
		return SIP_ICMP_NO_PATH;
	}
}

enum sip_icmp_verdict sip_icmp_judge(const struct sip_icmp_error *e,
				     const struct sockaddr *dest,
				     const char *branch, int *ret_error,
				     const char **ret_why)
{
	enum sip_icmp_verdict v;
	const char *why;
	int error = 0;

	if (!ret_why)
		ret_why = &why;
	*ret_why = NULL;
	*ret_error = 0;
	if (!e || !dest)
		return SIP_ICMP_IGNORED;
	v = icmp_kind(e, &error);
	if (v == SIP_ICMP_IGNORED) {
		*ret_why = "says nothing about reachability";
		return v;
	}
	if (!sip_sockaddr_equal((const struct sockaddr *)&e->dest, dest)) {
		*ret_why = "is about another destination";
		return SIP_ICMP_IGNORED;
	}
	/* The kernel matched our address and port; the branch is what an
	 * off-path forger cannot know.  A quote cut before it (a router
	 * quoting 8 bytes) proves nothing: the request times out instead. */
	if (!branch || !*branch || !e->quote ||
	    !memmem(e->quote, e->quote_len, branch, strlen(branch))) {
		*ret_why = "does not quote the request's branch";
		return SIP_ICMP_IGNORED;
	}
	if (v == SIP_ICMP_PORT_CLOSED &&
	    !sip_sockaddr_same_host((const struct sockaddr *)&e->offender, dest)) {
		/* Only the registrar's host knows what listens there. */
		*ret_why = "says port unreachable but does not come from the destination";
		return SIP_ICMP_IGNORED;
	}
	*ret_error = error;
	return v;
}

static void sock_destroy(struct sock_transport *st)
{
	ev_timer_stop(st->loop, &st->ka);
	if (st->fd >= 0) {
		ev_io_stop(st->loop, &st->rio);
		ev_io_stop(st->loop, &st->wio);
		close(st->fd);
	}
	free(st->out);
	free(st->in);
	free(st);
}

static void sock_shutdown(struct sock_transport *st)
{
	ev_timer_stop(st->loop, &st->ka);
	if (st->fd < 0)
		return;
	ev_io_stop(st->loop, &st->rio);
	ev_io_stop(st->loop, &st->wio);
	close(st->fd);
	st->fd = -1;
}

static void sock_close(struct sip_transport *tp)
{
	struct sock_transport *st = (struct sock_transport *)tp;

	if (!tp)
		return;
	if (st->in_cb) {
		sock_shutdown(st);
		st->close_pending = true;
		return;
	}
	sock_destroy(st);
}

/* Leave a callback: true if the transport was freed meanwhile. */
static bool sock_leave(struct sock_transport *st)
{
	if (--st->in_cb == 0 && st->close_pending) {
		sock_destroy(st);
		return true;
	}
	return false;
}

static void sock_fail(struct sock_transport *st, int error)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (st->dead)
		return;
	st->dead = true;
	sipmsg_sockaddr_host((struct sockaddr *)&st->base.remote, host,
			     sizeof(host), NULL);
	log_debug("sip %s transport %s -> %s: %s", sip_proto_to_param(st->base.proto),
		  st->base.ifname, host, strerror(-error));
	sock_shutdown(st);
	st->cbs->failed(st->cb_data, &st->base, error);
}

/* ---- UDP --------------------------------------------------------------- */

static bool only_crlf(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != '\r' && buf[i] != '\n')
			return false;
	return true;
}

/* One ICMP error from the error queue, handed up.  1 when one was read,
 * 0 when the queue is empty, -errno. */
static int udp_read_error(struct sock_transport *st)
{
	static char quote[ICMP_QUOTE_MAX];
	union {
		char buf[CMSG_SPACE(sizeof(struct sock_extended_err) +
				    sizeof(struct sockaddr_in6)) + 64];
		struct cmsghdr align;
	} control;
	struct sockaddr_storage dest = { 0 };
	struct iovec iov = { quote, sizeof(quote) };
	struct msghdr msg = {
		.msg_name = &dest, .msg_namelen = sizeof(dest),
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	struct sip_icmp_error e = { 0 };
	bool found = false;
	ssize_t n;

	n = recvmsg(st->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		struct sock_extended_err ee;
		size_t len, off_len;

		if (!((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
		      (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)))
			continue;
		len = c->cmsg_len - CMSG_LEN(0);
		if (len < sizeof(ee))
			continue;
		memcpy(&ee, CMSG_DATA(c), sizeof(ee));
		if (ee.ee_origin != SO_EE_ORIGIN_ICMP && ee.ee_origin != SO_EE_ORIGIN_ICMP6) {
			/* A local error (EMSGSIZE, ...): sendto() said so too. */
			log_debug("sip udp %s: local error %s queued", st->base.ifname,
				  strerror((int)ee.ee_errno));
			continue;
		}
		e.icmp6 = ee.ee_origin == SO_EE_ORIGIN_ICMP6;
		e.type = ee.ee_type;
		e.code = ee.ee_code;
		e.error = (int)ee.ee_errno;
		/* SO_EE_OFFENDER(): a sockaddr right after it */
		off_len = len - sizeof(ee);
		if (off_len > sizeof(e.offender))
			off_len = sizeof(e.offender);
		memcpy(&e.offender, CMSG_DATA(c) + sizeof(ee), off_len);
		if ((e.offender.ss_family == AF_INET && off_len < sizeof(struct sockaddr_in)) ||
		    (e.offender.ss_family == AF_INET6 && off_len < sizeof(struct sockaddr_in6)) ||
		    (e.offender.ss_family != AF_INET && e.offender.ss_family != AF_INET6))
			memset(&e.offender, 0, sizeof(e.offender));
		found = true;
	}
	if (!found || msg.msg_namelen < sizeof(sa_family_t) ||
	    (dest.ss_family != AF_INET && dest.ss_family != AF_INET6))
		return 1;
	memcpy(&e.dest, &dest, sizeof(dest));
	e.quote = quote;
	e.quote_len = (size_t)n;
	if (st->cbs->unreachable)
		st->cbs->unreachable(st->cb_data, &st->base, &e);
	return 1;
}

/* Empty the error queue (up to a burst): how many were read. */
static int udp_read_errors(struct sock_transport *st)
{
	int n = 0;

	while (n < UDP_READ_BURST && !st->close_pending && st->fd >= 0) {
		int r = udp_read_error(st);

		if (r <= 0) {
			if (r < 0)
				log_debug("sip udp %s: reading the error queue: %s",
					  st->base.ifname, strerror(-r));
			break;
		}
		n++;
	}
	return n;
}

static void udp_read(struct sock_transport *st)
{
	static char buf[65536];

	/* First: it also clears the pending error recvfrom() would return. */
	udp_read_errors(st);
	for (int i = 0; i < UDP_READ_BURST && !st->close_pending; i++) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n;

		n = recvfrom(st->fd, buf, sizeof(buf) - 1, MSG_TRUNC,
			     (struct sockaddr *)&from, &flen);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			/* An ICMP error that came meanwhile: it waits in
			 * the queue for the next readiness. */
			log_debug("sip udp %s: recvfrom: %m", st->base.ifname);
			continue;
		}
		if ((size_t)n >= sizeof(buf) - 1) {
			log_debug("sip udp %s: oversized datagram dropped",
				  st->base.ifname);
			continue;
		}
		/* RFC 5626 §3.5.1 keepalives, and empty datagrams */
		if (n == 0 || only_crlf(buf, (size_t)n))
			continue;
		buf[n] = '\0';
		st->cbs->received(st->cb_data, &st->base, buf, (size_t)n,
				  (struct sockaddr *)&from);
	}
}

static int udp_send(struct sock_transport *st, const struct sockaddr *dest,
		    const char *buf, size_t len)
{
	ssize_t n;
	int err;

	n = sendto(st->fd, buf, len, MSG_NOSIGNAL, dest, sip_sockaddr_len(dest));
	err = n < 0 ? errno : 0;
	if (err && err != EAGAIN && err != ENOBUFS && udp_read_errors(st) > 0 &&
	    !st->close_pending) {
		/* The socket's pending error, an ICMP error about an
		 * earlier datagram (see the top): this one was not sent. */
		n = sendto(st->fd, buf, len, MSG_NOSIGNAL, dest,
			   sip_sockaddr_len(dest));
		err = n < 0 ? errno : 0;
	}
	/* A full socket buffer loses the datagram as the network could;
	 * the transaction retransmits. */
	if (err == EAGAIN || err == ENOBUFS)
		return 0;
	return -err;
}

/* ---- TCP --------------------------------------------------------------- */

static void tcp_flush(struct sock_transport *st)
{
	while (st->out_len > 0) {
		ssize_t n = send(st->fd, st->out, st->out_len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			sock_fail(st, -errno);
			return;
		}
		memmove(st->out, st->out + n, st->out_len - (size_t)n);
		st->out_len -= (size_t)n;
	}
	if (st->out_len > 0)
		ev_io_start(st->loop, &st->wio);
	else
		ev_io_stop(st->loop, &st->wio);
}

static void tcp_read(struct sock_transport *st)
{
	ssize_t n;

	if (!st->in) {
		st->in = malloc(SIPFRAME_MAX + 1);
		if (!st->in) {
			sock_fail(st, -ENOMEM);
			return;
		}
	}
	n = recv(st->fd, st->in + st->in_len, SIPFRAME_MAX - st->in_len, 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			sock_fail(st, -errno);
		return;
	}
	if (n == 0) {
		sock_fail(st, -ECONNRESET);
		return;
	}
	if (st->ka_ping_out) {
		/* The pong (or anything: the peer is there). */
		st->ka_ping_out = false;
		ev_timer_stop(st->loop, &st->ka);
		ev_timer_set(&st->ka, st->ka_interval_ms / 1000., 0.);
		ev_timer_start(st->loop, &st->ka);
	}
	st->in_len += (size_t)n;
	while (!st->dead && !st->close_pending) {
		size_t skip = 0;
		long msg = sipframe_next(st->in, st->in_len, SIPFRAME_MAX, &skip);

		if (msg < 0) {
			/* The stream cannot be resynchronized. */
			log_debug("sip tcp %s: unframeable stream (%s), closing",
				  st->base.ifname, strerror((int)-msg));
			sock_fail(st, -EPROTO);
			return;
		}
		if (msg == 0) {
			if (skip) {
				memmove(st->in, st->in + skip, st->in_len - skip);
				st->in_len -= skip;
			}
			return;
		}
		{
			char save = st->in[skip + (size_t)msg];

			st->in[skip + (size_t)msg] = '\0';
			st->cbs->received(st->cb_data, &st->base, st->in + skip,
					  (size_t)msg,
					  (struct sockaddr *)&st->base.remote);
			if (st->close_pending)
				return;
			st->in[skip + (size_t)msg] = save;
		}
		memmove(st->in, st->in + skip + (size_t)msg,
			st->in_len - skip - (size_t)msg);
		st->in_len -= skip + (size_t)msg;
	}
}

static int tcp_send(struct sock_transport *st, const char *buf, size_t len)
{
	if (st->out_len + len > TCP_OUT_MAX)
		return -ENOBUFS;
	if (st->out_cap < st->out_len + len) {
		size_t cap = st->out_cap ? st->out_cap : 4096;
		char *p;

		while (cap < st->out_len + len)
			cap *= 2;
		p = realloc(st->out, cap);
		if (!p)
			return -ENOMEM;
		st->out = p;
		st->out_cap = cap;
	}
	memcpy(st->out + st->out_len, buf, len);
	st->out_len += len;
	if (!st->connecting)
		tcp_flush(st);
	return 0;
}

static void tcp_connected(struct sock_transport *st)
{
	int err = 0;
	socklen_t elen = sizeof(err);

	if (getsockopt(st->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		err = errno;
	if (err) {
		sock_fail(st, -err);
		return;
	}
	st->connecting = false;
	tcp_flush(st);
}

/* ---- both -------------------------------------------------------------- */

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sock_transport *st = container_of(w, struct sock_transport, rio);

	st->in_cb++;
	if (st->base.proto == SIP_PROTO_UDP)
		udp_read(st);
	else
		tcp_read(st);
	sock_leave(st);
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sock_transport *st = container_of(w, struct sock_transport, wio);

	st->in_cb++;
	if (st->connecting)
		tcp_connected(st);
	else
		tcp_flush(st);
	sock_leave(st);
}

/* The keepalive timer: time for a ping, or its pong is late. */
static void ka_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sock_transport *st = container_of(w, struct sock_transport, ka);
	static const char ping[] = "\r\n\r\n";
	char host[INET6_ADDRSTRLEN] = "?";
	int r;

	(void)loop;
	(void)revents;
	if (st->dead || st->fd < 0)
		return;
	st->in_cb++;
	if (st->ka_ping_out) {
		sipmsg_sockaddr_host((struct sockaddr *)&st->base.remote, host, sizeof(host),
				     NULL);
		log_info("sip tcp %s -> %s: no answer to a keepalive in %.1f s: "
			 "the connection is dead", st->base.ifname, host,
			 st->ka_timeout_ms / 1000.);
		sock_fail(st, -ETIMEDOUT);
	} else if (!st->connecting && (r = tcp_send(st, ping, sizeof(ping) - 1)) < 0) {
		sock_fail(st, r);
	} else {
		/* Still connecting: the connect's own timeout judges it. */
		st->ka_ping_out = !st->connecting;
		ev_timer_set(&st->ka, (st->connecting ? st->ka_interval_ms :
				       st->ka_timeout_ms) / 1000., 0.);
		ev_timer_start(st->loop, &st->ka);
	}
	sock_leave(st);
}

static void sock_keepalive(struct sip_transport *tp, unsigned interval_ms,
			   unsigned timeout_ms)
{
	struct sock_transport *st = (struct sock_transport *)tp;

	if (!tp || tp->proto == SIP_PROTO_UDP)
		return;
	ev_timer_stop(st->loop, &st->ka);
	st->ka_ping_out = false;
	st->ka_interval_ms = interval_ms;
	st->ka_timeout_ms = timeout_ms ? timeout_ms : 10000;
	if (!interval_ms || st->dead || st->fd < 0)
		return;
	ev_timer_set(&st->ka, interval_ms / 1000., 0.);
	ev_timer_start(st->loop, &st->ka);
}

static int sock_send(struct sip_transport *tp, const struct sockaddr *dest,
		     const char *buf, size_t len)
{
	struct sock_transport *st = (struct sock_transport *)tp;
	int r;

	if (st->dead || st->fd < 0)
		return -ENOTCONN;
	st->in_cb++;
	if (tp->proto == SIP_PROTO_UDP)
		r = udp_send(st, dest, buf, len);
	else
		r = tcp_send(st, buf, len);
	if (st->dead && r == 0)
		r = -ECONNRESET;
	sock_leave(st);
	return r;
}

int sip_transport_bound_socket(int type, const char *ifname,
			       const struct sockaddr *local,
			       struct sockaddr_storage *ret_local)
{
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(*ret_local);
	int fd, r;

	if (!ifname || strlen(ifname) >= IFNAMSIZ || !local ||
	    (local->sa_family != AF_INET && local->sa_family != AF_INET6))
		return -EINVAL;
	fd = socket(local->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
		       (socklen_t)strlen(ifname) + 1) < 0) {
		r = -errno;             /* the binding reports it */
		goto fail;
	}
	memset(&bound, 0, sizeof(bound));
	memcpy(&bound, local, sip_sockaddr_len(local));
	if (bound.ss_family == AF_INET)
		((struct sockaddr_in *)&bound)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&bound)->sin6_port = 0;
	if (bind(fd, (struct sockaddr *)&bound,
		 sip_sockaddr_len((struct sockaddr *)&bound)) < 0) {
		r = -errno;
		goto fail;
	}
	if (getsockname(fd, (struct sockaddr *)ret_local, &blen) < 0) {
		r = -errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return r;
}

static int sock_open(struct ev_loop *loop, enum sip_proto proto,
		     const char *ifname, const struct sockaddr *local,
		     const struct sockaddr *remote,
		     const struct sip_transport_peer *peer,
		     const struct sip_transport_cbs *cbs, void *cb_data,
		     struct sip_transport **ret)
{
	struct sock_transport *st;
	int type = proto == SIP_PROTO_UDP ? SOCK_DGRAM : SOCK_STREAM;
	int r;

	(void)peer;
	if (!ifname || strlen(ifname) >= IFNAMSIZ || !local ||
	    (proto == SIP_PROTO_TCP && !remote) ||
	    (proto != SIP_PROTO_UDP && proto != SIP_PROTO_TCP))
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->base.cls = &sip_transport_socket_class;
	st->base.proto = proto;
	util_strlcpy(st->base.ifname, ifname, sizeof(st->base.ifname));
	st->loop = loop;
	st->cbs = cbs;
	st->cb_data = cb_data;
	ev_timer_init(&st->ka, ka_cb, 0., 0.);
	st->fd = sip_transport_bound_socket(type, ifname, local, &st->base.local);
	if (st->fd < 0) {
		r = st->fd;
		goto fail;
	}
	if (proto == SIP_PROTO_UDP) {
		int one = 1, rcvbuf = SIP_UDP_RCVBUF;

		/* A burst of answers (100 calls' 200s after a move, 1,000
		 * profiles' REGISTER 200s) is larger than the default 208 KiB
		 * of buffer, and what does not fit is lost, to come back only
		 * as retransmissions (bench/call-move).  SO_RCVBUFFORCE as
		 * root, else what net.core.rmem_max allows. */
		if (setsockopt(st->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
			setsockopt(st->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));

		/* ICMP errors into the error queue (see the top); without
		 * them a closed port is 32 s of silence, no worse. */
		if ((local->sa_family == AF_INET6 ?
		     setsockopt(st->fd, SOL_IPV6, IPV6_RECVERR, &one, sizeof(one)) :
		     setsockopt(st->fd, SOL_IP, IP_RECVERR, &one, sizeof(one))) < 0)
			log_debug("sip udp %s: IP_RECVERR: %m", ifname);
	}
	if (proto == SIP_PROTO_TCP) {
		int one = 1;

		memcpy(&st->base.remote, remote, sip_sockaddr_len(remote));
		setsockopt(st->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(st->fd, remote, sip_sockaddr_len(remote)) < 0) {
			if (errno != EINPROGRESS) {
				r = -errno;
				goto fail;
			}
			st->connecting = true;
		}
	}
	ev_io_init(&st->rio, read_cb, st->fd, EV_READ);
	ev_io_init(&st->wio, write_cb, st->fd, EV_WRITE);
	ev_io_start(loop, &st->rio);
	if (st->connecting)
		ev_io_start(loop, &st->wio);
	*ret = &st->base;
	return 0;
fail:
	if (st->fd >= 0)
		close(st->fd);
	free(st);
	return r;
}

const struct sip_transport_class sip_transport_socket_class = {
	.name = "socket",
	.open = sock_open,
	.send = sock_send,
	.close = sock_close,
	.keepalive = sock_keepalive,
};
