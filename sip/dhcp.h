/* DHCP SIP server discovery over one IAP (RFC 3361, RFC 3319), on the
 * libev loop.
 *
 * IPv4: a DHCPINFORM (RFC 2131 §3.4) from the IAP's address, UDP port 68,
 * to 255.255.255.255:67 out of the IAP's interface (SO_BINDTODEVICE, as
 * sip/transport.c), asking for option 120; the server answers a DHCPACK
 * to that address.  NetworkManager's DHCP client does not hand option 120
 * on, hence our own question; and once bound it holds LEASE:68 itself,
 * with a socket connected to the server that the kernel prefers to ours
 * for the DHCPACK, so the answer is also read off the link (an AF_PACKET
 * socket with a filter for UDP to port 68; CAP_NET_RAW).  Waits 4 s,
 * sends again, waits 8 s (RFC 2131 §4.1: 4 s, doubling, ±1 s), then
 * gives up: two messages, no answer within ~12 s.
 *
 * IPv6: an Information-Request (RFC 8415 §18.2.6) from the interface's
 * link-local address, port 546, to All_DHCP_Relay_Agents_and_Servers
 * (ff02::1:2) port 547, asking for options 21 and 22; waits 1 s, 2 s,
 * 4 s (§15: IRT 1 s, doubling, ±10 %), sending again after the first
 * two, then gives up: three messages, ~7 s.
 *
 * Binding port 68 or 546 takes CAP_NET_BIND_SERVICE, SO_BINDTODEVICE
 * CAP_NET_RAW: alrd has both.  The answer comes once, through the
 * callback, never from inside sip_dhcp_start(); the callback may free the
 * discovery. */
#pragma once

#include <ev.h>
#include <stdint.h>

#include "sip/dhcpmsg.h"

struct sip_dhcp;

enum sip_dhcp_outcome {
	SIP_DHCP_ANSWERED,              /* a server answered (with or without servers) */
	SIP_DHCP_NO_ANSWER,             /* nobody within the retries */
	_SIP_DHCP_OUTCOME_MAX,
};

const char *sip_dhcp_outcome_to_str(enum sip_dhcp_outcome o);

struct sip_dhcp_result {
	enum sip_dhcp_outcome outcome;
	int family;                     /* AF_INET or AF_INET6 */
	const struct dhcpmsg_answer *answer;    /* ANSWERED */
	char from[INET6_ADDRSTRLEN];    /* ANSWERED: the server's address */
	unsigned tries;                 /* messages sent */
	uint64_t elapsed_ms;            /* from the first to the outcome */
	int error;                      /* NO_ANSWER: -errno when the first message
					   could not be sent (then at once), else 0 */
};

typedef void (*sip_dhcp_fn)(struct sip_dhcp *d, const struct sip_dhcp_result *res,
			    void *data);

/* Ask over interface @ifname from @local (IPv4: the IAP's address;
 * IPv6: its link-local address).  NULL with errno set when the socket
 * cannot be made (EPERM without the capabilities, EADDRINUSE, ...). */
struct sip_dhcp *sip_dhcp_start(struct ev_loop *loop, const char *ifname,
				const char *local, sip_dhcp_fn fn, void *data);
/* Stops asking; no callback after this.  Returns NULL. */
struct sip_dhcp *sip_dhcp_free(struct sip_dhcp *d);
