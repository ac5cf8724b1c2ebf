/* DHCP messages for SIP server discovery: the few we send and the parts
 * of the answers we read.  Pure: no sockets, no loop (sip/dhcp.c does the
 * I/O); every length is checked, nothing is trusted.
 *
 *  - IPv4: a DHCPINFORM (RFC 2131 §3.4, §4.4.3) asking for option 120,
 *    and the DHCPACK's option 120 (RFC 3361): encoding 0, domain names
 *    as in RFC 1035 §3.1 (plain labels: RFC 3361 names no compression,
 *    so a pointer is refused); encoding 1, IPv4 addresses.  An option
 *    split into several instances is joined first (RFC 3396).
 *  - IPv6: an Information-Request (RFC 8415 §18.2.6) asking for options
 *    21 (SIP server domain names) and 22 (SIP server IPv6 addresses,
 *    RFC 3319), and the Reply's. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHCPMSG_SERVERS_MAX     8       /* servers kept; the rest ignored */
#define DHCPMSG_NAME_MAX        253     /* RFC 1035 §2.3.4, dotted */

#define DHCP_OPT_SIP_SERVERS    120     /* RFC 3361 */
#define DHCP6_OPT_SIP_DOMAINS   21      /* RFC 3319 §3.1 */
#define DHCP6_OPT_SIP_ADDRS     22      /* RFC 3319 §3.2 */

/* The SIP servers a network offers, in its order: domain names (no
 * trailing dot) or IP literals ("192.0.2.1", "2001:db8::1"). */
struct dhcpmsg_servers {
	char v[DHCPMSG_SERVERS_MAX][DHCPMSG_NAME_MAX + 1];
	size_t n;
	bool truncated;                 /* more were offered than kept */
};

/* What an answer said.  present: the option was there (an empty or
 * unusable one counts: the network did say something). */
struct dhcpmsg_answer {
	struct dhcpmsg_servers servers;
	bool present;
	struct in_addr server_id;       /* v4: option 54, or 0.0.0.0 */
};

#define DHCPMSG_INFORM_MAX      300     /* what dhcpmsg_build_inform() needs */
#define DHCPMSG_INFO_REQ_MAX    64      /* dhcpmsg_build_info_request() */

/* A DHCPINFORM from @ciaddr (the client's configured address), hardware
 * address @hw of @hwlen bytes (<= 16; Ethernet: 6, type 1), with @xid,
 * asking for option 120.  The length written, or -ENOBUFS / -EINVAL. */
int dhcpmsg_build_inform(uint8_t *buf, size_t size, uint32_t xid, const uint8_t *hw,
			 size_t hwlen, struct in_addr ciaddr);

/* A DHCPACK (BOOTREPLY, op 2) to @xid: 0 with @ret filled; -ENOMSG when
 * it is not an answer to us (another xid, another message type, not a
 * DHCP message); -EBADMSG when it is ours but malformed (an option runs
 * past the end).  A malformed option 120 is not -EBADMSG: @ret says
 * present with no servers. */
int dhcpmsg_parse_ack(const uint8_t *buf, size_t len, uint32_t xid,
		      struct dhcpmsg_answer *ret);

/* Option 120's contents (after code and length, joined): 0, or -EBADMSG
 * (bad encoding byte, a label past the end, a compression pointer that
 * does not point back to an earlier name, a name too long, an address
 * list not a multiple of 4).  Names may end in a compression pointer
 * (RFC 3361 §3.1 with RFC 3397 §2; dnsmasq writes them).  On error @ret
 * keeps what was read before the fault. */
int dhcpmsg_parse_sip_option(const uint8_t *p, size_t len, struct dhcpmsg_servers *ret);

/* A list of RFC 1035 §3.1 names without compression (DHCPv6 option 21,
 * RFC 3319 §3.1 and RFC 8415 §10), appended to @ret.  0 or -EBADMSG. */
int dhcpmsg_parse_names(const uint8_t *p, size_t len, struct dhcpmsg_servers *ret);

/* An IPv4 datagram as an AF_PACKET SOCK_DGRAM socket reads it (from the
 * IP header on): its UDP payload.  sip/dhcp.c reads DHCPACKs off the link
 * so that another DHCP client's socket on port 68 cannot take them. */
struct dhcpmsg_udp4 {
	struct in_addr src, dst;
	uint16_t sport, dport;
	const uint8_t *payload;         /* inside the datagram */
	size_t len;
};

/* 0, or -EBADMSG: not IPv4, not UDP, a fragment, a header or length
 * past the end.  The checksums are not checked (the DHCP message is
 * checked as any other). */
int dhcpmsg_parse_udp4(const uint8_t *p, size_t len, struct dhcpmsg_udp4 *ret);

/* DHCPv6 Information-Request (msg-type 11) with the 24-bit transaction
 * id @xid, a DUID-LL of @hw (Client Identifier), Elapsed Time
 * @elapsed_cs (hundredths of a second since the first try) and the
 * Option Request Option for 21 and 22.  The length, or -ENOBUFS/-EINVAL. */
int dhcpmsg_build_info_request(uint8_t *buf, size_t size, uint32_t xid, const uint8_t *hw,
			       size_t hwlen, uint16_t elapsed_cs);

/* A DHCPv6 Reply (msg-type 7) to @xid: 0 with options 21 and 22 in
 * @ret (names first, then addresses: RFC 3361 §3 prefers names, which
 * RFC 3263 can fail over between);
 * -ENOMSG, -EBADMSG as dhcpmsg_parse_ack(). */
int dhcpmsg_parse_reply(const uint8_t *buf, size_t len, uint32_t xid,
			struct dhcpmsg_answer *ret);
