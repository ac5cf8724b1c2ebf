/* The owner of a local socket, from the kernel's socket table (see
 * sockdiag.h).
 *
 * By hand rather than with libnl-idiag-3: that library only dumps every
 * socket of a family (NLM_F_DUMP), while one exact lookup by the 4-tuple
 * is what a REGISTER needs; the request is one fixed struct and the
 * answer one message. */
#include "edge/sockdiag.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put_addr(__be32 dst[4], __be16 *port, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		memcpy(dst, &in->sin_addr, 4);
		*port = in->sin_port;
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		memcpy(dst, &in6->sin6_addr, 16);
		*port = in6->sin6_port;
	}
}

/* One exact lookup; 0 with *ret_uid, or a negative errno.  @local and
 * @remote as the kernel names them in inet_diag_sockid. */
static int lookup(int fd, int family, int proto, const struct sockaddr *src,
		  const struct sockaddr *dst, const struct sockaddr *want_local, uid_t *ret_uid)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = {
			.nlmsg_len = sizeof(msg),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST,
			.nlmsg_seq = 1,
		},
		.req = {
			.sdiag_family = (__u8)family,
			.sdiag_protocol = (__u8)proto,
			.idiag_states = ~0u,
			.id.idiag_cookie = { INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE },
		},
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	union {
		struct nlmsghdr nlh;
		char buf[8192];
	} reply;
	__be32 want[4] = { 0 };
	__be16 want_port = 0;
	ssize_t n;

	put_addr(msg.req.id.idiag_src, &msg.req.id.idiag_sport, src);
	put_addr(msg.req.id.idiag_dst, &msg.req.id.idiag_dport, dst);
	if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	/* The kernel answered while sendto() ran (sock_diag is synchronous):
	 * MSG_DONTWAIT only guards against a kernel that did not. */
	n = recv(fd, &reply, sizeof(reply), MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	if ((size_t)n < sizeof(struct nlmsghdr) || !NLMSG_OK(&reply.nlh, (size_t)n))
		return -EBADMSG;
	if (reply.nlh.nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(&reply.nlh);

		if (reply.nlh.nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
			return -EBADMSG;
		return e->error ? e->error : -ENOENT;
	}
	if (reply.nlh.nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    reply.nlh.nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
		return -EBADMSG;
	{
		const struct inet_diag_msg *m = NLMSG_DATA(&reply.nlh);
		size_t alen = family == AF_INET ? 4 : 16;

		/* The kernel's lookup scores wildcard matches too: make sure
		 * the socket found is bound where the request came from (its
		 * port; its address unless it is a wildcard), never ours. */
		put_addr(want, &want_port, want_local);
		if (m->id.idiag_sport != want_port)
			return -ENOENT;
		if (memcmp(m->id.idiag_src, want, alen) != 0) {
			static const __be32 any[4];

			if (memcmp(m->id.idiag_src, any, alen) != 0)
				return -ENOENT;
		}
		*ret_uid = m->idiag_uid;
	}
	return 0;
}

int sockdiag_owner_uid(int proto, const struct sockaddr *peer, const struct sockaddr *ours,
		       uid_t *ret_uid)
{
	int fd, r;

	if (!peer || !ours || !ret_uid || peer->sa_family != ours->sa_family ||
	    (peer->sa_family != AF_INET && peer->sa_family != AF_INET6))
		return -EAFNOSUPPORT;
	if (proto != IPPROTO_UDP && proto != IPPROTO_TCP)
		return -EPROTONOSUPPORT;
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	/*
	 * The peer's socket has local address @peer and, connected, remote
	 * @ours.  TCP's exact lookup takes idiag_src as the socket's local
	 * side; UDP's passes src and dst to the receive-path lookup the
	 * other way round ("swapped for historical reasons", udp_diag.c).
	 */
	if (proto == IPPROTO_TCP)
		r = lookup(fd, peer->sa_family, proto, peer, ours, peer, ret_uid);
	else
		r = lookup(fd, peer->sa_family, proto, ours, peer, peer, ret_uid);
	close(fd);
	return r;
}
