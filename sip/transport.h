/* SIP transports bound to an IAP: a UDP socket per (interface, local
 * address), a TCP connection per (interface, local address, peer).
 *
 * Each socket is tied to the IAP's interface with SO_BINDTODEVICE and
 * bound to the IAP's address, so what it sends leaves over that network
 * whatever the routing table prefers.  Received bytes are framed (whole
 * datagrams; Content-Length on streams, sip/sipframe.h) and handed up
 * whole; the transport does not parse SIP.
 *
 * A transport is reached through its class, so that TLS (later) and the
 * fuzzer's fake are more classes of the same shape.  sip/stack.c owns the
 * transports, shares them between bindings and counts their users. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "sip/sipmsg.h"

struct ev_loop;
struct sip_transport;

struct sip_transport_cbs {
	/* One whole message (a datagram, or one framed from the stream). */
	void (*received)(void *data, struct sip_transport *tp,
			 const char *buf, size_t len,
			 const struct sockaddr *from);
	/* The transport cannot carry anything any more (connection refused,
	 * reset, closed by the peer, a stream we cannot frame).  Called once;
	 * the transport stays allocated until closed. */
	void (*failed)(void *data, struct sip_transport *tp, int error);
};

struct sip_transport_class {
	const char *name;
	/* Open a transport; for TCP start connecting to remote.  ret->local
	 * holds the bound address and port when this returns. */
	int (*open)(struct ev_loop *loop, enum sip_proto proto,
		    const char *ifname, const struct sockaddr *local,
		    const struct sockaddr *remote,
		    const struct sip_transport_cbs *cbs, void *cb_data,
		    struct sip_transport **ret);
	/* Queue one message.  0 when sent or queued, or a negative errno
	 * (-ENOBUFS when too much is queued, the socket's error). */
	int (*send)(struct sip_transport *tp, const struct sockaddr *dest,
		    const char *buf, size_t len);
	/* Close and free; safe from inside the transport's callbacks. */
	void (*close)(struct sip_transport *tp);
};

/* What every class's transport starts with. */
struct sip_transport {
	const struct sip_transport_class *cls;
	enum sip_proto proto;
	char ifname[IFNAMSIZ];
	struct sockaddr_storage local;  /* with the port */
	struct sockaddr_storage remote; /* streams: the peer */

	/* kept by sip/stack.c */
	unsigned refs;
	bool failed;                    /* no new users */
	bool reported;                  /* its users were told */
	int error;
	struct sip_transport *next;
};

/* Sockets (UDP, TCP). */
extern const struct sip_transport_class sip_transport_socket_class;

/* sizeof the address for its family */
socklen_t sip_sockaddr_len(const struct sockaddr *sa);
/* Same family, address and port. */
bool sip_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b);
/* Same family and address, ports ignored. */
bool sip_sockaddr_same_host(const struct sockaddr *a,
			    const struct sockaddr *b);
