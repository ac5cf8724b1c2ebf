/* libFuzzer target: arbitrary bytes as a network's answer to alrd's DHCP
 * SIP server discovery (sip/dhcpmsg.c): as a DHCPACK (its xid taken from
 * the input, so that the options are read), as a DHCPv6 Reply, as the
 * contents of option 120, and as an IPv4/UDP datagram read off the link
 * (whose payload is then read as a DHCPACK).  Whatever is read must be a server alrd can put
 * in a URI: not empty, at most 253 bytes, letters, digits, '-', '_' and
 * '.' (a name) or an IP literal; never more than DHCPMSG_SERVERS_MAX.
 * Anything else -- a crash, a sanitizer report, a property broken -- is
 * a finding. */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/dhcpmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct dhcpmsg_servers *s)
{
	if (s->n > DHCPMSG_SERVERS_MAX)
		abort();
	for (size_t i = 0; i < s->n; i++) {
		const char *v = s->v[i];
		size_t n = strnlen(v, sizeof(s->v[i]));
		struct in6_addr a6;
		struct in_addr a4;

		if (n == 0 || n > DHCPMSG_NAME_MAX)
			abort();
		if (inet_pton(AF_INET, v, &a4) == 1 || inet_pton(AF_INET6, v, &a6) == 1)
			continue;
		if (strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			   "0123456789-_.") != n || v[0] == '.' || v[n - 1] == '.' ||
		    strstr(v, ".."))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dhcpmsg_answer a;
	struct dhcpmsg_servers s = { .n = 0 };
	uint32_t xid = 0;

	if (size >= 8)
		xid = (uint32_t)data[4] << 24 | (uint32_t)data[5] << 16 |
		      (uint32_t)data[6] << 8 | data[7];
	if (dhcpmsg_parse_ack(data, size, xid, &a) == 0)
		check(&a.servers);
	if (size >= 4)
		xid = (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3];
	if (dhcpmsg_parse_reply(data, size, xid, &a) == 0)
		check(&a.servers);
	dhcpmsg_parse_sip_option(data, size, &s);
	check(&s);
	/* As a datagram off the link: the payload lies inside the input,
	 * and is read as a DHCPACK in turn. */
	{
		struct dhcpmsg_udp4 u;

		if (dhcpmsg_parse_udp4(data, size, &u) == 0) {
			if (u.payload < data || u.payload + u.len > data + size)
				abort();
			if (u.len >= 8 && dhcpmsg_parse_ack(u.payload, u.len,
							    (uint32_t)u.payload[4] << 24 |
							    (uint32_t)u.payload[5] << 16 |
							    (uint32_t)u.payload[6] << 8 |
							    u.payload[7], &a) == 0)
				check(&a.servers);
		}
	}
	return 0;
}
