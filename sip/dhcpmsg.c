/* DHCP messages for SIP server discovery (see dhcpmsg.h). */
#include "sip/dhcpmsg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

/* RFC 2131 §2: the fixed BOOTP part, then the magic cookie. */
#define BOOTP_FIXED     236
#define OFF_OP          0
#define OFF_HTYPE       1
#define OFF_HLEN        2
#define OFF_XID         4
#define OFF_CIADDR      12
#define OFF_CHADDR      28
#define OFF_SNAME       44
#define OFF_FILE        108
#define OFF_OPTIONS     (BOOTP_FIXED + 4)
#define SNAME_LEN       64
#define FILE_LEN        128

#define BOOTREQUEST     1
#define BOOTREPLY       2
#define DHCPACK         5
#define DHCPINFORM      8

#define OPT_PAD         0
#define OPT_SERVER_ID   54
#define OPT_MSG_TYPE    53
#define OPT_PRL         55
#define OPT_OVERLOAD    52
#define OPT_END         255

#define DHCP6_INFORMATION_REQUEST 11
#define DHCP6_REPLY     7
#define DHCP6_OPT_CLIENTID 1
#define DHCP6_OPT_ORO   6
#define DHCP6_OPT_ELAPSED 8

/* Option 120 joined over its instances (RFC 3396): each at most 255
 * bytes, in options, file and sname; 1024 is more than any real list. */
#define SIP_OPT_MAX     1024

static const uint8_t magic[4] = { 99, 130, 83, 99 };

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void add_server(struct dhcpmsg_servers *ret, const char *s)
{
	if (ret->n == DHCPMSG_SERVERS_MAX) {
		ret->truncated = true;
		return;
	}
	memcpy(ret->v[ret->n], s, strlen(s) + 1);
	ret->n++;
}

/* ---- names (RFC 1035 §3.1) --------------------------------------------- */

/* What may stand in a label we put into a SIP URI (RFC 3261 §25.1
 * hostname: letters, digits, '-'; '_' is seen in practice).  Anything
 * else (a '>', a ';', a space) would change the Route header. */
static bool label_char_ok(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/*
 * A list of names, each a sequence of labels ending in the root label.
 * With @pointers, a name may end in a compression pointer (RFC 1035
 * §4.1.4) to a label of an earlier name, its offset counted from the
 * start of the list: RFC 3361 §3.1 takes the encoding of RFC 3397 §2, and
 * dnsmasq, for one, writes "a.example.org,b.example.org" so.  A pointer
 * must point before the name it is in, and each further one before the
 * last: no loop, no forward reference.
 */
static int parse_names(const uint8_t *p, size_t len, bool pointers,
		       struct dhcpmsg_servers *ret)
{
	size_t i = 0;

	while (i < len) {
		char name[DHCPMSG_NAME_MAX + 1];
		size_t n = 0, pos = i, limit = i;
		bool jumped = false;

		for (;;) {
			uint8_t l;

			if (pos >= len)
				return -EBADMSG;        /* no terminating root label */
			l = p[pos];
			if ((l & 0xc0) == 0xc0) {
				size_t off;

				if (!pointers || pos + 1 >= len)
					return -EBADMSG;
				off = (size_t)(l & 0x3f) << 8 | p[pos + 1];
				if (off >= limit)
					return -EBADMSG;        /* forward, or a loop */
				if (!jumped)
					i = pos + 2;            /* the list goes on after it */
				jumped = true;
				limit = pos = off;
				continue;
			}
			/* 0x40 and 0x80 are reserved label types */
			if (l & 0xc0)
				return -EBADMSG;
			pos++;
			if (l == 0)
				break;
			if (l > len - pos || n + (n ? 1 : 0) + l > DHCPMSG_NAME_MAX)
				return -EBADMSG;
			if (n)
				name[n++] = '.';
			for (size_t k = 0; k < l; k++) {
				if (!label_char_ok(p[pos + k]))
					return -EBADMSG;
				name[n++] = (char)p[pos + k];
			}
			pos += l;
		}
		if (!jumped)
			i = pos;
		if (n == 0)
			return -EBADMSG;                /* the root alone names no server */
		name[n] = '\0';
		add_server(ret, name);
	}
	return 0;
}

int dhcpmsg_parse_names(const uint8_t *p, size_t len, struct dhcpmsg_servers *ret)
{
	return parse_names(p, len, false, ret);
}

/* ---- option 120 (RFC 3361 §3) ------------------------------------------ */

int dhcpmsg_parse_sip_option(const uint8_t *p, size_t len, struct dhcpmsg_servers *ret)
{
	if (len < 2)
		return -EBADMSG;        /* the encoding byte and at least one byte */
	switch (p[0]) {
	case 0:
		return parse_names(p + 1, len - 1, true, ret);
	case 1:
		/* §3.2: one or more IPv4 addresses. */
		if ((len - 1) % 4 != 0)
			return -EBADMSG;
		for (size_t i = 1; i < len; i += 4) {
			char buf[INET_ADDRSTRLEN];
			struct in_addr a;

			memcpy(&a, p + i, 4);
			if (a.s_addr == htonl(INADDR_ANY) || a.s_addr == htonl(INADDR_BROADCAST) ||
			    IN_MULTICAST(ntohl(a.s_addr)))
				continue;       /* nobody to send a REGISTER to */
			inet_ntop(AF_INET, &a, buf, sizeof(buf));
			add_server(ret, buf);
		}
		return 0;
	default:
		return -EBADMSG;
	}
}

/* ---- DHCPINFORM and DHCPACK (RFC 2131) ---------------------------------- */

int dhcpmsg_build_inform(uint8_t *buf, size_t size, uint32_t xid, const uint8_t *hw,
			 size_t hwlen, struct in_addr ciaddr)
{
	static const uint8_t opts[] = {
		OPT_MSG_TYPE, 1, DHCPINFORM,
		/* Parameter Request List: the SIP servers only. */
		OPT_PRL, 1, DHCP_OPT_SIP_SERVERS,
		OPT_END,
	};
	size_t len = OFF_OPTIONS + sizeof(opts);

	if (hwlen > 16 || (hwlen && !hw))
		return -EINVAL;
	/* RFC 1542 §3.1.1: at least 300 bytes, for BOOTP relays. */
	if (len < DHCPMSG_INFORM_MAX)
		len = DHCPMSG_INFORM_MAX;
	if (size < len)
		return -ENOBUFS;
	memset(buf, 0, len);
	buf[OFF_OP] = BOOTREQUEST;
	buf[OFF_HTYPE] = 1;             /* Ethernet (RFC 1700) */
	buf[OFF_HLEN] = (uint8_t)hwlen;
	put32(buf + OFF_XID, xid);
	/* §4.4.3: ciaddr is ours, yiaddr 0, no broadcast flag: the server
	 * answers to ciaddr by unicast. */
	memcpy(buf + OFF_CIADDR, &ciaddr, 4);
	if (hwlen)
		memcpy(buf + OFF_CHADDR, hw, hwlen);
	memcpy(buf + BOOTP_FIXED, magic, 4);
	memcpy(buf + OFF_OPTIONS, opts, sizeof(opts));
	return (int)len;
}

struct walk {
	int msg_type;
	int overload;
	bool has_server_id;
	struct in_addr server_id;
	uint8_t sip[SIP_OPT_MAX];
	size_t sip_len;
	bool sip_present;
	bool sip_too_long;
};

/* One field of options (RFC 2132 §2).  -EBADMSG when an option runs past
 * the field. */
static int walk_options(const uint8_t *p, size_t len, struct walk *w, bool top)
{
	size_t i = 0;

	while (i < len) {
		uint8_t code = p[i++], l;

		if (code == OPT_PAD)
			continue;
		if (code == OPT_END)
			return 0;
		if (i >= len)
			return -EBADMSG;
		l = p[i++];
		if (l > len - i)
			return -EBADMSG;
		switch (code) {
		case OPT_MSG_TYPE:
			if (l == 1)
				w->msg_type = p[i];
			break;
		case OPT_SERVER_ID:
			if (l == 4) {
				memcpy(&w->server_id, p + i, 4);
				w->has_server_id = true;
			}
			break;
		case OPT_OVERLOAD:
			/* Only in the options field (RFC 2132 §9.3). */
			if (top && l == 1)
				w->overload = p[i];
			break;
		case DHCP_OPT_SIP_SERVERS:
			/* RFC 3396 §7: the instances are joined in order. */
			w->sip_present = true;
			if (l > sizeof(w->sip) - w->sip_len) {
				w->sip_too_long = true;
				break;
			}
			memcpy(w->sip + w->sip_len, p + i, l);
			w->sip_len += l;
			break;
		default:
			break;
		}
		i += l;
	}
	return 0;
}

int dhcpmsg_parse_ack(const uint8_t *buf, size_t len, uint32_t xid,
		      struct dhcpmsg_answer *ret)
{
	struct walk w = { .msg_type = -1 };
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!buf || len < OFF_OPTIONS || buf[OFF_OP] != BOOTREPLY ||
	    get32(buf + OFF_XID) != xid || memcmp(buf + BOOTP_FIXED, magic, 4) != 0)
		return -ENOMSG;
	r = walk_options(buf + OFF_OPTIONS, len - OFF_OPTIONS, &w, true);
	/* RFC 3396 §7: options, then file, then sname. */
	if (r == 0 && (w.overload & 1))
		r = walk_options(buf + OFF_FILE, FILE_LEN, &w, false);
	if (r == 0 && (w.overload & 2))
		r = walk_options(buf + OFF_SNAME, SNAME_LEN, &w, false);
	if (w.msg_type != DHCPACK)
		return -ENOMSG;
	if (r < 0)
		return r;
	ret->server_id = w.server_id;
	ret->present = w.sip_present;
	if (w.sip_present && !w.sip_too_long &&
	    dhcpmsg_parse_sip_option(w.sip, w.sip_len, &ret->servers) < 0)
		ret->servers.n = 0;     /* a broken list: none of it */
	return 0;
}

int dhcpmsg_parse_udp4(const uint8_t *p, size_t len, struct dhcpmsg_udp4 *ret)
{
	size_t ihl, total, ulen;

	memset(ret, 0, sizeof(*ret));
	/* RFC 791 §3.1: version 4, IHL in words (at least 5). */
	if (!p || len < 20 || p[0] >> 4 != 4)
		return -EBADMSG;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	total = get16(p + 2);
	if (ihl < 20 || total < ihl || total > len || p[9] != 17 /* UDP */ ||
	    (get16(p + 6) & 0x3fff) != 0 /* MF or an offset: a fragment */)
		return -EBADMSG;
	/* RFC 768: the UDP header and its length. */
	if (total - ihl < 8)
		return -EBADMSG;
	ulen = get16(p + ihl + 4);
	if (ulen < 8 || ulen > total - ihl)
		return -EBADMSG;
	memcpy(&ret->src, p + 12, 4);
	memcpy(&ret->dst, p + 16, 4);
	ret->sport = get16(p + ihl);
	ret->dport = get16(p + ihl + 2);
	ret->payload = p + ihl + 8;
	ret->len = ulen - 8;
	return 0;
}

/* ---- DHCPv6 (RFC 8415, RFC 3319) ---------------------------------------- */

int dhcpmsg_build_info_request(uint8_t *buf, size_t size, uint32_t xid, const uint8_t *hw,
			       size_t hwlen, uint16_t elapsed_cs)
{
	size_t n = 0;

	if (hwlen > 16 || (hwlen && !hw))
		return -EINVAL;
	if (size < 4 + (hwlen ? 8 + hwlen : 0) + 8 + 6)
		return -ENOBUFS;
	buf[n++] = DHCP6_INFORMATION_REQUEST;
	buf[n++] = (uint8_t)(xid >> 16);
	buf[n++] = (uint8_t)(xid >> 8);
	buf[n++] = (uint8_t)xid;
	if (hwlen) {
		/* §11.4 DUID-LL: type 3, hardware type 1 (Ethernet). */
		put16(buf + n, DHCP6_OPT_CLIENTID);
		put16(buf + n + 2, (uint16_t)(4 + hwlen));
		put16(buf + n + 4, 3);
		put16(buf + n + 6, 1);
		memcpy(buf + n + 8, hw, hwlen);
		n += 8 + hwlen;
	}
	/* §21.7 Option Request: the SIP server options only. */
	put16(buf + n, DHCP6_OPT_ORO);
	put16(buf + n + 2, 4);
	put16(buf + n + 4, DHCP6_OPT_SIP_DOMAINS);
	put16(buf + n + 6, DHCP6_OPT_SIP_ADDRS);
	n += 8;
	/* §21.9 Elapsed Time: MUST be in every message of an exchange. */
	put16(buf + n, DHCP6_OPT_ELAPSED);
	put16(buf + n + 2, 2);
	put16(buf + n + 4, elapsed_cs);
	n += 6;
	return (int)n;
}

int dhcpmsg_parse_reply(const uint8_t *buf, size_t len, uint32_t xid,
			struct dhcpmsg_answer *ret)
{
	const uint8_t *names = NULL, *addrs = NULL;
	size_t names_len = 0, addrs_len = 0, i = 4;

	memset(ret, 0, sizeof(*ret));
	if (!buf || len < 4 || buf[0] != DHCP6_REPLY ||
	    ((uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3]) != (xid & 0xffffff))
		return -ENOMSG;
	while (i < len) {
		uint16_t code, l;

		if (len - i < 4)
			return -EBADMSG;
		code = get16(buf + i);
		l = get16(buf + i + 2);
		i += 4;
		if (l > len - i)
			return -EBADMSG;
		if (code == DHCP6_OPT_SIP_DOMAINS && !names) {
			names = buf + i;
			names_len = l;
		} else if (code == DHCP6_OPT_SIP_ADDRS && !addrs) {
			addrs = buf + i;
			addrs_len = l;
		}
		i += l;
	}
	ret->present = names || addrs;
	if (names && dhcpmsg_parse_names(names, names_len, &ret->servers) < 0)
		ret->servers.n = 0;     /* a broken list: none of it */
	/* RFC 3319 §3.2: a multiple of 16 bytes. */
	if (addrs && addrs_len % 16 == 0) {
		for (size_t k = 0; k < addrs_len; k += 16) {
			char text[INET6_ADDRSTRLEN];
			struct in6_addr a;

			memcpy(&a, addrs + k, 16);
			if (IN6_IS_ADDR_UNSPECIFIED(&a) || IN6_IS_ADDR_MULTICAST(&a))
				continue;
			inet_ntop(AF_INET6, &a, text, sizeof(text));
			add_server(&ret->servers, text);
		}
	}
	return 0;
}
