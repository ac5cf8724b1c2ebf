/* Where to send a SIP request for a host name (RFC 3263 §4.1-4.2), on a
 * c-ares channel:
 *
 *  - BINDING_LOOKUP_ADDRESS: A and AAAA of the host (/etc/hosts first);
 *  - BINDING_LOOKUP_SRV: the SRV records _sip._udp.HOST, _sip._tcp.HOST
 *    or _sips._tcp.HOST (TLS) of the given transport, ordered by priority
 *    and, within a priority, by weight (RFC 2782's random selection),
 *    each target's addresses in turn with the record's port; without
 *    records, as ADDRESS;
 *  - BINDING_LOOKUP_NAPTR: the NAPTR records of the host pick the
 *    transport (flag "s", services SIP+D2U, SIP+D2T and SIPS+D2T, by
 *    order then preference; the replacement is the SRV name); without
 *    NAPTR records, SRV for UDP, then for TCP; without those, as ADDRESS
 *    over UDP.  With proto SIP_PROTO_TLS (a sips: URI, RFC 3263 §4.1)
 *    only SIPS+D2T counts, then _sips._tcp, then ADDRESS over TLS.
 *
 * The answer comes once, through the callback, from inside a c-ares
 * callback (the caller queues it if it must not act there).  A lookup
 * cannot be cancelled: the caller drops a late answer.  Destroying the
 * channel answers every lookup under way with ARES_EDESTRUCTION. */
#pragma once

#include <ares.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "sip/binding.h"
#include "sip/sipmsg.h"

#define SIP_RESOLVE_MAX_ADDRS   8       /* addresses kept, over every target */
#define SIP_RESOLVE_MAX_TARGETS 8       /* SRV targets looked at */

/* @status: ARES_SUCCESS or the c-ares error of the last question that
 * decided it.  @proto: the transport the SRV or NAPTR records chose, or
 * -1 when the addresses are the host's own (ports 0: the URI's port,
 * 5060 without one).  Pointers are valid during the call only. */
typedef void (*sip_resolve_fn)(void *data, int status, int proto,
			       const struct sockaddr_storage *addrs, size_t n);

/* 0, or -ENOMEM (nothing started, @fn never called). */
int sip_resolve_start(ares_channel ch, const char *host, enum binding_lookup how,
		      enum sip_proto proto, sip_resolve_fn fn, void *data);

/* RFC 3263 §4.1: the transport a NAPTR record's flags and service
 * select (SIP_PROTO_*), or -1 when the record is not for us; @sips: the
 * URI is a sips: one (SIPS+D2T only).  Pure. */
int sip_resolve_naptr_service(const char *flags, const char *service, bool sips);
/* The SRV name of @proto for @host: "_sip._udp.HOST", "_sip._tcp.HOST",
 * "_sips._tcp.HOST".  0 or -ENOBUFS. */
int sip_resolve_srv_name(enum sip_proto proto, const char *host, char *buf, size_t size);

/* For tests: RFC 2782's order of @n records (priority ascending; within
 * a priority, a weighted random pick at each step, weight 0 last among
 * equals), using @rnd (uniform in [0, bound)).  Reorders @prio, @weight
 * and @idx together; @idx ends as the records' original indexes. */
void sip_resolve_srv_order(unsigned *prio, unsigned *weight, size_t *idx, size_t n,
			   unsigned (*rnd)(void *ctx, unsigned bound), void *ctx);
