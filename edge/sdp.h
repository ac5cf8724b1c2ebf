/* SDP bodies (RFC 4566) as the media relay sees them (docs/edge.md,
 * "Media"): what a body says about its streams, and the same body with the
 * relay's address and ports.  Pure: no sockets, no event loop.  libosip2's
 * SDP parser (osipparser2/sdp_message.h) reads and writes the text. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SDP_MAX_STREAMS         8               /* m= lines; more: an error */
#define SDP_MAX_LEN             (16 * 1024)     /* bytes of body */
#define SDP_MEDIA_MAX           16              /* "audio", "video", ... */
#define SDP_PROTO_MAX           32              /* "RTP/AVP", "UDP/TLS/RTP/SAVPF" */
#define SDP_ORIGIN_FIELD_MAX    128             /* o= username, sess-id */

/* One m= line. */
struct sdp_stream {
	char media[SDP_MEDIA_MAX];
	char proto[SDP_PROTO_MAX];
	/* The m= port; 0: the stream is disabled (RFC 3264 §5.1, §8.2). */
	uint16_t port;
	/* The transport runs over UDP (RTP/AVP, RTP/SAVPF, UDP/TLS/RTP/SAVPF,
	 * udp, ...), so that a UDP relay can carry it; false for TCP/... */
	bool udp;
	/* The connection address (the m= line's c=, else the session's) with
	 * the m= port.  AF_UNSPEC when it is not a unicast IP literal: a name
	 * (RFC 4566 allows an FQDN; nothing here resolves it) or the
	 * unspecified address. */
	struct sockaddr_storage rtp;
	/* Where RTCP goes: a=rtcp's port and address (RFC 3605; its address,
	 * else the stream's), else the RTP port + 1 (RFC 3550 §11).  AF_UNSPEC
	 * as above, or when port + 1 would be above 65535. */
	struct sockaddr_storage rtcp;
	uint16_t rtcp_port;             /* 0: none (see above) */
	bool has_rtcp_attr;             /* a=rtcp: was there */
	bool rtcp_mux;                  /* a=rtcp-mux (RFC 5761 §5.1.1) */
	/* c= is 0.0.0.0 or ::, the old way to put a stream on hold (RFC 3264
	 * §8.4); rtp and rtcp are AF_UNSPEC. */
	bool hold;
};

/* The o= line's fields that stay the same through a session (RFC 3264
 * §8): the originator picks them, only the version changes. */
struct sdp_origin {
	char username[SDP_ORIGIN_FIELD_MAX];
	char sess_id[SDP_ORIGIN_FIELD_MAX];
	uint64_t version;
};

struct sdp_info {
	struct sdp_origin origin;
	size_t n_streams;
	struct sdp_stream streams[SDP_MAX_STREAMS];
};

/*
 * Read an SDP body of @len bytes (not NUL-terminated; at most SDP_MAX_LEN,
 * no NUL byte, CRLF or LF line ends) into @ret.
 *
 * Returns 0, or -EINVAL (malformed, or what the relay cannot carry: a
 * multicast address, a port count "/2", more than SDP_MAX_STREAMS
 * streams), -EMSGSIZE (too long) or -ENOMEM, with @ret_why set to a
 * static sentence saying what is wrong.
 */
int sdp_read(const char *body, size_t len, struct sdp_info *ret, const char **ret_why);

/* What sdp_rewrite() puts in. */
struct sdp_rewrite {
	/* The address for every c= line and the o= line (IN IP4 or IN IP6
	 * after its family); its port is not used. */
	const struct sockaddr *addr;
	/* Port of stream i: rtp_ports[i] for its m= line, rtcp_ports[i] for
	 * its a=rtcp: (0: drop that line; rtcp_ports may be NULL, then every
	 * a=rtcp: goes).  n_streams must be the body's number of m= lines.  A
	 * stream whose m= port is 0 keeps 0 whatever is given. */
	size_t n_streams;
	const uint16_t *rtp_ports;
	const uint16_t *rtcp_ports;
	/* o= username, sess-id and version; NULL: the body's. */
	const struct sdp_origin *origin;
	/* o= address; NULL: addr.  RFC 3264 §8 keeps the whole o= line but
	 * the version through a session, also when the media moves. */
	const struct sockaddr *origin_addr;
};

/*
 * The body with @rw's address and ports: every c= line (session and media
 * level) gets @rw->addr, o= @rw->origin_addr -- but a c= with the unspecified address
 * stays unspecified (in the new family), to keep its meaning (hold,
 * RFC 3264 §8.4) --, each m= port and a=rtcp: port theirs, a=rtcp:'s
 * address @rw->addr.  ICE lines (a=candidate, a=remote-candidates,
 * a=end-of-candidates, a=ice-*) are dropped: the relay is the only address
 * now, and candidates left in would make the peer try the other side's
 * own addresses; without them the peer does not do ICE (RFC 8839).  Everything
 * else is kept (libosip2 writes the lines in RFC 4566's order with CRLF).
 *
 * *@ret is malloc'ed, NUL-terminated, @ret_len bytes.  Returns 0 or what
 * sdp_read() returns (also -EINVAL when @rw does not fit the body), with
 * @ret_why set.
 */
int sdp_rewrite(const char *body, size_t len, const struct sdp_rewrite *rw, char **ret,
		size_t *ret_len, const char **ret_why);
