/* SIP transports bound to an IAP: a UDP socket per (interface, local
 * address), a TCP or TLS connection per (interface, local address, peer).
 *
 * Each socket is tied to the IAP's interface with SO_BINDTODEVICE and
 * bound to the IAP's address, so what it sends leaves over that network
 * whatever the routing table prefers.  Received bytes are framed (whole
 * datagrams; Content-Length on streams, sip/sipframe.h) and handed up
 * whole; the transport does not parse SIP.
 *
 * A transport is reached through its class, so that TLS
 * (sip/transport_tls.c) and the fuzzer's fake are more classes of the
 * same shape.  sip/stack.c owns the transports, shares them between
 * bindings and counts their users.
 *
 * A UDP socket reads ICMP errors about what it sent (IP_RECVERR,
 * IPV6_RECVERR: the socket's error queue) and hands each up as it came;
 * sip_icmp_judge() says whether one concerns a given request and what it
 * means (docs/sip.md, "ICMP errors"). */
#pragma once

#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sip/sipmsg.h"

struct ev_loop;
struct sip_transport;
struct sip_tls;

/* Longest cause in words a transport gives with failed() (tp->why). */
#define SIP_TRANSPORT_WHY_MAX 200

/* Failures of a TLS connection that are the server's (or our
 * configuration's), not the network's: failed() comes with one of these
 * and tp->why says which in words (docs/sip.md, "TLS"). */
#define SIP_TLS_EVERIFY    (-EKEYREJECTED)  /* its certificate: not trusted,
					       expired, another host name */
#define SIP_TLS_EHANDSHAKE (-EPROTO)        /* the handshake: an alert, not
					       TLS, closed in the middle */
#define SIP_TLS_ECONFIG    (-ENOKEY)        /* our CA file cannot be used */

/* Whom a connection is for, given to open(): TLS verifies the server's
 * certificate against @name and sends it as SNI (RFC 5922 §4, RFC 6066
 * §3): the host of the URI the request goes to, never its address nor
 * an SRV target; an IP literal is checked as an address, without SNI.
 * Other classes ignore it. */
struct sip_transport_peer {
	const char *name;
	const char *ca_file;            /* the profile's CA file (PEM); NULL:
					   the stack's (sip_tls_set_ca_file()) */
	struct sip_tls *tls;            /* the stack's contexts and sessions */
};

/* A UDP transport's receive buffer (bytes; the kernel doubles it for its
 * bookkeeping). */
#define SIP_UDP_RCVBUF  (1 << 20)

/* An ICMP error about a datagram we sent, as the kernel queued it (struct
 * sock_extended_err and what comes with it).  Pointers are valid during
 * the call only. */
struct sip_icmp_error {
	bool icmp6;                     /* ICMPv6 (else ICMP) */
	uint8_t type, code;
	int error;                      /* the kernel's errno for it (> 0) */
	struct sockaddr_storage dest;   /* where the datagram went: address, port */
	struct sockaddr_storage offender; /* who sent the ICMP; AF_UNSPEC: unknown */
	const char *quote;              /* the datagram's UDP payload as quoted, */
	size_t quote_len;               /* ... maybe cut short */
};

/* What an ICMP error says about one request. */
enum sip_icmp_verdict {
	SIP_ICMP_IGNORED,               /* not about it, or not about reachability */
	SIP_ICMP_PORT_CLOSED,           /* the destination itself: nothing listens */
	SIP_ICMP_NO_PATH,               /* no route, net or host unreachable, prohibited */
	_SIP_ICMP_VERDICT_MAX,
};

const char *sip_icmp_verdict_to_str(enum sip_icmp_verdict v);

/* Whether @e concerns the request sent to @dest whose top Via branch is
 * @branch, and what it says (pure; docs/sip.md, "ICMP errors"):
 *  - it is about a datagram to @dest (address and port), and it quotes
 *    that request far enough to show @branch: 128 random bits that only
 *    those on the path have seen (RFC 5927 §4.1: check what a blind
 *    attacker cannot know);
 *  - port or protocol unreachable counts only from @dest's own address
 *    (SIP_ICMP_PORT_CLOSED, *ret_error -ECONNREFUSED);
 *  - net or host unreachable, no route, administratively prohibited,
 *    from anybody on the path (SIP_ICMP_NO_PATH, *ret_error
 *    -ENETUNREACH or -EHOSTUNREACH);
 *  - anything else (fragmentation needed, time exceeded, parameter
 *    problem) says nothing about reachability: SIP_ICMP_IGNORED.
 * *ret_why (if not NULL) says why it was ignored, for a log line. */
enum sip_icmp_verdict sip_icmp_judge(const struct sip_icmp_error *e,
				     const struct sockaddr *dest,
				     const char *branch, int *ret_error,
				     const char **ret_why);

struct sip_transport_cbs {
	/* One whole message (a datagram, or one framed from the stream). */
	void (*received)(void *data, struct sip_transport *tp,
			 const char *buf, size_t len,
			 const struct sockaddr *from);
	/* The transport cannot carry anything any more (connection refused,
	 * reset, closed by the peer, a stream we cannot frame).  Called once;
	 * the transport stays allocated until closed. */
	void (*failed)(void *data, struct sip_transport *tp, int error);
	/* UDP: an ICMP error about a datagram we sent (optional).  May be
	 * called from inside send(): take note, act later. */
	void (*unreachable)(void *data, struct sip_transport *tp,
			    const struct sip_icmp_error *e);
};

struct sip_transport_class {
	const char *name;
	/* Open a transport; for TCP and TLS start connecting to remote
	 * (@peer: whom TLS must reach; NULL for the others).  ret->local
	 * holds the bound address and port when this returns. */
	int (*open)(struct ev_loop *loop, enum sip_proto proto,
		    const char *ifname, const struct sockaddr *local,
		    const struct sockaddr *remote,
		    const struct sip_transport_peer *peer,
		    const struct sip_transport_cbs *cbs, void *cb_data,
		    struct sip_transport **ret);
	/* Queue one message.  0 when sent or queued, or a negative errno
	 * (-ENOBUFS when too much is queued, the socket's error). */
	int (*send)(struct sip_transport *tp, const struct sockaddr *dest,
		    const char *buf, size_t len);
	/* Close and free; safe from inside the transport's callbacks. */
	void (*close)(struct sip_transport *tp);
	/* Optional (NULL: none).  Streams: after @interval_ms without a
	 * keepalive out, send a double CRLF ping (RFC 5626 §4.4.1); when no
	 * byte comes back within @timeout_ms the connection is dead: failed()
	 * with -ETIMEDOUT.  0 stops them.  Datagrams: ignored. */
	void (*keepalive)(struct sip_transport *tp, unsigned interval_ms,
			  unsigned timeout_ms);
};

/* What every class's transport starts with. */
struct sip_transport {
	const struct sip_transport_class *cls;
	enum sip_proto proto;
	char ifname[IFNAMSIZ];
	struct sockaddr_storage local;  /* with the port */
	struct sockaddr_storage remote; /* streams: the peer */
	/* TLS: the name its certificate was checked against (the class
	 * fills it in); "" for the others */
	char peer_name[SIPMSG_HOST_MAX + 1];
	const char *peer_ca_file;       /* TLS: the peer's CA file, or NULL */
	/* failed(): the cause in words, when the errno does not say it all
	 * (SIP_TLS_E*: "certificate verify failed: certificate has
	 * expired"); "" otherwise */
	char why[SIP_TRANSPORT_WHY_MAX];

	/* kept by sip/stack.c */
	unsigned refs;
	bool failed;                    /* no new users */
	bool reported;                  /* its users were told */
	int error;
	struct sip_transport *next;
};

/* Sockets (UDP, TCP). */
extern const struct sip_transport_class sip_transport_socket_class;
/* TLS over TCP with OpenSSL (sip/transport_tls.c). */
extern const struct sip_transport_class sip_transport_tls_class;

/* A non-blocking socket of @type tied to @ifname (SO_BINDTODEVICE) and
 * bound to @local's address (any port); *ret_local: where it is bound.
 * The fd, or a negative errno.  For the classes. */
int sip_transport_bound_socket(int type, const char *ifname,
			       const struct sockaddr *local,
			       struct sockaddr_storage *ret_local);

/* The TLS contexts of a stack: an SSL_CTX per CA file in use (made at
 * the first connection that needs it), the stack's CA file, and the
 * sessions to resume, one per server (name, port and CA file), kept
 * across connections and IAPs. */
struct sip_tls *sip_tls_new(void);
struct sip_tls *sip_tls_free(struct sip_tls *t);
/* Trust the certificates of @path (PEM) instead of the system's store
 * (NULL or "": the system's) for peers without a CA file of their own.
 * Applies to new connections; 0 or -ENOMEM (an unusable file fails those
 * connections, SIP_TLS_ECONFIG). */
int sip_tls_set_ca_file(struct sip_tls *t, const char *path);
struct sip_tls_stats {
	unsigned long handshakes;       /* completed */
	unsigned long resumed;          /* of which resumed a session */
	unsigned long refused;          /* verification or handshake failed */
};
void sip_tls_get_stats(const struct sip_tls *t, struct sip_tls_stats *ret);

/* The cause of a failed handshake in words (pure, for the TLS class and
 * its tests): @verify_result is SSL_get_verify_result()'s, @err the
 * first error of OpenSSL's queue (0: none), @eof the server closed the
 * connection.  Writes "host name mismatch: ...", "certificate verify
 * failed: <X509 reason>" or "handshake failed: <reason>" to @buf and
 * returns SIP_TLS_EVERIFY or SIP_TLS_EHANDSHAKE. */
int sip_tls_describe(long verify_result, unsigned long err, bool eof,
		     const char *name, char *buf, size_t size);

/* sizeof the address for its family */
socklen_t sip_sockaddr_len(const struct sockaddr *sa);
/* Same family, address and port. */
bool sip_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b);
/* Same family and address, ports ignored. */
bool sip_sockaddr_same_host(const struct sockaddr *a,
			    const struct sockaddr *b);
