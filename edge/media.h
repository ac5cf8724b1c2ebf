/* The media of one call (docs/edge.md, "Media"): what the B2BUA calls with
 * each SDP it passes between the application's dialog and the network's.
 * One relay (edge/relay.h) per m= line that carries a UDP stream; each SDP
 * is rewritten (edge/sdp.h) so that each side sees only the relay.
 *
 *   application ── SDP with local_addr and the relays' local ports ──┐
 *                                                                   media
 *   network     ── SDP with net_addr and the relays' network ports ──┘
 *
 * Streams are matched by position, as offer/answer does (RFC 3264 §6, §8):
 * stream i of a new SDP keeps its relay (and so its ports) when it is the
 * same kind of m= line (the same media type) and still active; an m= line
 * that is new or changed its media type gets a new relay; one that is
 * disabled (port 0), or not over UDP (TCP/MSRP, ...: nothing to relay),
 * has none, and is written with port 0 to the other side (a rejected
 * stream, RFC 3264 §6).  Each call is all or nothing: on an error nothing
 * changed.
 *
 * Each side gets SDP from alrd as an originator of its own (RFC 3264 §8):
 * the o= username, sess-id and address of the first SDP alrd gave it stay
 * the same for the whole call, and the version goes up by one exactly
 * when the body alrd gives that side changes -- a re-INVITE that only
 * refreshes the session gets the same version, a move to another IAP a
 * new one.
 *
 * Why the API differs from the first sketch: media_from_*() return the
 * reason in *ret_why (a sentence that stays valid until the next call on
 * @m) as well as -errno; media_move_network() returns the re-offer for
 * the network (the B2BUA's re-INVITE or UPDATE needs one; only media
 * knows the last application SDP and the version); media_commit_network()
 * and media_cancel_move() are separate calls (the commit comes with the
 * far end's answer, a failure of the re-INVITE cancels); media_set_name()
 * names the call in log lines.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "edge/relay.h"
#include "edge/sdp.h"

struct media;

struct media_stream_stats {
	char media[SDP_MEDIA_MAX];      /* "audio", ... ("" without a relay) */
	uint16_t local_port;            /* 0: no relay */
	uint16_t net_port;
	struct relay_stats relay;
};

struct media_stats {
	size_t n_streams;               /* m= lines of the last SDP */
	struct media_stream_stats streams[SDP_MAX_STREAMS];
	struct relay_counters to_net, to_app;   /* the streams' sums */
};

/*
 * The media of one call: relays from @pool, the network side on @net_addr
 * (the IAP's local address, port not used) bound to interface @ifname
 * (NULL: not bound), the local side on @local_addr (127.0.0.1 or ::1).
 * No relay is open before the first SDP.  NULL with errno EINVAL or
 * ENOMEM.
 */
struct media *media_new(struct relay_pool *pool, const char *ifname,
			const struct sockaddr *net_addr, const struct sockaddr *local_addr);
/* Closes every relay.  NULL accepted; returns NULL. */
struct media *media_free(struct media *m);
/* Log lines name the call (its Call-ID, SIP_CALL_ID= in the journal) and
 * its profile (0: none).  @call_id is copied (and cut at 127 bytes). */
void media_set_name(struct media *m, unsigned int profile, const char *call_id);

/*
 * An SDP (offer or answer) from the network side, @len bytes: its streams
 * become the far end's addresses; relays are opened as needed.  *@ret
 * (malloc'ed, NUL-terminated, *@ret_len bytes) is the SDP to give the
 * application: local_addr, the relays' local ports.
 *
 * Returns 0, or -EINVAL / -EMSGSIZE (an SDP alrd cannot read or relay),
 * -ENOSPC (the relay port range is full), -ENOMEM or what opening a
 * socket fails with, with *@ret_why set.
 */
int media_from_net(struct media *m, const char *sdp, size_t len, char **ret, size_t *ret_len,
		   const char **ret_why);
/*
 * The far end's answer to a move's re-offer (media_move_network()): its
 * streams become the far end's addresses, as media_from_net(), but the
 * application is not given an SDP: what it last got stays its SDP, so
 * that the next one it gets is one version up, not two.  *@ret_changed
 * says whether the answer would change the application's media (a
 * codec or stream the far end changed): then it should be told (XXX it
 * is not yet).  As media_from_net().
 */
int media_answer_from_net(struct media *m, const char *sdp, size_t len, bool *ret_changed,
			  const char **ret_why);
/*
 * An SDP from the application: its streams become the application's
 * addresses; *@ret is the SDP for the network: net_addr and the relays'
 * network ports (the new network's during a move).  As media_from_net().
 */
int media_from_app(struct media *m, const char *sdp, size_t len, char **ret, size_t *ret_len,
		   const char **ret_why);

/*
 * Move the network side to @net_addr on @ifname: every relay opens a
 * network pair there (both pairs receive; the old one sends until the
 * commit).  *@ret is the re-offer for the far end: the application's last
 * SDP with the new address and ports, its version one up.  A pending move
 * is replaced.  -EALREADY: nothing to move yet (no SDP from the
 * application); otherwise as media_from_net(), and on an error nothing
 * changed.
 */
int media_move_network(struct media *m, const char *ifname, const struct sockaddr *net_addr,
		       char **ret, size_t *ret_len, const char **ret_why);
/* The far end took the re-offer: send from the new pairs, close the old
 * ones.  Nothing without a pending move. */
void media_commit_network(struct media *m);
/* The re-offer failed: close the new pairs, keep the old ones (the next
 * SDP to the network names them again, with a new version). */
void media_cancel_move(struct media *m);

void media_get_stats(const struct media *m, struct media_stats *ret);
