/* sip/dhcpmsg: the DHCP messages of SIP server discovery (RFC 2131,
 * RFC 3361, RFC 3396, RFC 8415, RFC 3319): packing, and reading what a
 * network answers, whatever it answers. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sip/dhcpmsg.h"

/* The servers as "a,b,c" ("" none). */
static void joined(const struct dhcpmsg_servers *s, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->n; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? "," : "", s->v[i]);
}

/* ---- option 120's contents ------------------------------------------- */

struct opt_case {
	const char *name;
	uint8_t data[80];
	size_t len;
	int r;
	const char *servers;
};

#define N(...) { __VA_ARGS__ }, sizeof((uint8_t[]){ __VA_ARGS__ })

static const struct opt_case opt_cases[] = {
	{ "one address", N(1, 10, 0, 0, 1), 0, "10.0.0.1" },
	{ "two addresses", N(1, 10, 0, 0, 1, 192, 0, 2, 7), 0, "10.0.0.1,192.0.2.7" },
	{ "address list not of 4", N(1, 10, 0, 0, 1, 9), -EBADMSG, "" },
	{ "unusable addresses skipped", N(1, 0, 0, 0, 0, 255, 255, 255, 255, 224, 0, 0, 1,
					  10, 1, 2, 3), 0, "10.1.2.3" },
	{ "one name", N(0, 5, 'p', 'r', 'o', 'x', 'y', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
			3, 'o', 'r', 'g', 0), 0, "proxy.example.org" },
	{ "two names", N(0, 1, 'a', 2, 'b', 'c', 0, 3, 's', '-', '1', 0), 0, "a.bc,s-1" },
	/* RFC 3397 §2 compression, as dnsmasq writes "a.ex.org,b.ex.org" */
	{ "pointer to an earlier name", N(0, 1, 'a', 2, 'e', 'x', 3, 'o', 'r', 'g', 0,
					  1, 'b', 0xc0, 2), 0, "a.ex.org,b.ex.org" },
	{ "pointer to a whole name", N(0, 1, 'a', 0, 1, 'b', 0xc0, 0), 0, "a,b.a" },
	{ "names after a pointer", N(0, 1, 'a', 0, 1, 'b', 0xc0, 0, 1, 'c', 0), 0,
	  "a,b.a,c" },
	{ "pointer, then a pointer further back", N(0, 1, 'a', 0, 1, 'b', 0xc0, 0,
						     1, 'c', 0xc0, 3), 0, "a,b.a,c.b.a" },
	{ "pointer to itself", N(0, 1, 'a', 0, 0xc0, 3), -EBADMSG, "a" },
	{ "pointer into its own name", N(0, 1, 'a', 0, 1, 'b', 0xc0, 3), -EBADMSG, "a" },
	{ "pointer forward", N(0, 0xc0, 2, 1, 'a', 0), -EBADMSG, "" },
	{ "pointer cut short", N(0, 1, 'a', 0, 0xc0), -EBADMSG, "a" },
	{ "pointer past the end", N(0, 1, 'a', 0, 0xc0, 40), -EBADMSG, "a" },
	{ "reserved label type", N(0, 0x41, 'a', 0), -EBADMSG, "" },
	{ "label past the end", N(0, 9, 'a', 'b', 0), -EBADMSG, "" },
	{ "no root label", N(0, 1, 'a'), -EBADMSG, "" },
	{ "root alone", N(0, 0), -EBADMSG, "" },
	{ "a '>' in a label", N(0, 3, 'a', '>', 'b', 0), -EBADMSG, "" },
	{ "a ';' in a label", N(0, 3, 'a', ';', 'b', 0), -EBADMSG, "" },
	{ "a NUL in a label", N(0, 3, 'a', 0, 'b', 0), -EBADMSG, "" },
	{ "encoding 2", N(2, 10, 0, 0, 1), -EBADMSG, "" },
	{ "encoding byte only", N(1), -EBADMSG, "" },
	{ "nothing", { 0 }, 0, -EBADMSG, "" },
};

static void test_sip_option(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(opt_cases) / sizeof(opt_cases[0]); i++) {
		const struct opt_case *c = &opt_cases[i];
		struct dhcpmsg_servers s = { .n = 0 };
		char got[512];
		int r = dhcpmsg_parse_sip_option(c->data, c->len, &s);

		joined(&s, got, sizeof(got));
		if (r != c->r || strcmp(got, c->servers) != 0)
			fail_msg("%s: %d \"%s\", expected %d \"%s\"", c->name, r, got, c->r,
				 c->servers);
	}
}

static void test_many_servers_kept_bounded(void **state)
{
	uint8_t opt[1 + 4 * 20];
	struct dhcpmsg_servers s = { .n = 0 };

	(void)state;
	opt[0] = 1;
	for (int i = 0; i < 20; i++) {
		opt[1 + 4 * i] = 10;
		opt[2 + 4 * i] = 0;
		opt[3 + 4 * i] = 0;
		opt[4 + 4 * i] = (uint8_t)(i + 1);
	}
	assert_int_equal(dhcpmsg_parse_sip_option(opt, sizeof(opt), &s), 0);
	assert_int_equal(s.n, DHCPMSG_SERVERS_MAX);
	assert_true(s.truncated);
	assert_string_equal(s.v[0], "10.0.0.1");
	assert_string_equal(s.v[DHCPMSG_SERVERS_MAX - 1], "10.0.0.8");
}

static void test_names_length_limits(void **state)
{
	/* 4 labels of 63: 255 bytes dotted, over RFC 1035's 253. */
	uint8_t opt[1 + 4 * 64 + 1], ok[1 + 3 * 64 + 1];
	struct dhcpmsg_servers s = { .n = 0 };
	size_t n = 0;

	(void)state;
	opt[n++] = 0;
	for (int k = 0; k < 4; k++) {
		opt[n++] = 63;
		memset(opt + n, 'a', 63);
		n += 63;
	}
	opt[n++] = 0;
	assert_int_equal(dhcpmsg_parse_sip_option(opt, n, &s), -EBADMSG);
	assert_int_equal(s.n, 0);

	n = 0;
	ok[n++] = 0;
	for (int k = 0; k < 3; k++) {
		ok[n++] = 63;
		memset(ok + n, 'b', 63);
		n += 63;
	}
	ok[n++] = 0;
	assert_int_equal(dhcpmsg_parse_sip_option(ok, n, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(strlen(s.v[0]), 3 * 63 + 2);
}

/* ---- DHCPINFORM and DHCPACK ----------------------------------------- */

static void test_inform(void **state)
{
	static const uint8_t hw[6] = { 2, 0, 0, 0, 0, 1 };
	uint8_t buf[DHCPMSG_INFORM_MAX];
	struct in_addr ci;
	int n;

	(void)state;
	inet_pton(AF_INET, "10.99.1.2", &ci);
	n = dhcpmsg_build_inform(buf, sizeof(buf), 0x01020304, hw, 6, ci);
	assert_int_equal(n, 300);
	assert_int_equal(buf[0], 1);                    /* BOOTREQUEST */
	assert_int_equal(buf[1], 1);
	assert_int_equal(buf[2], 6);
	assert_memory_equal(buf + 4, ((uint8_t[]){ 1, 2, 3, 4 }), 4);
	assert_memory_equal(buf + 10, ((uint8_t[]){ 0, 0 }), 2);   /* no broadcast flag */
	assert_memory_equal(buf + 12, &ci, 4);          /* ciaddr */
	assert_memory_equal(buf + 16, ((uint8_t[]){ 0, 0, 0, 0 }), 4);
	assert_memory_equal(buf + 28, hw, 6);
	assert_memory_equal(buf + 236, ((uint8_t[]){ 99, 130, 83, 99 }), 4);
	/* message type 8 (DHCPINFORM), PRL with 120, end */
	assert_memory_equal(buf + 240, ((uint8_t[]){ 53, 1, 8, 55, 1, 120, 255 }), 7);

	assert_int_equal(dhcpmsg_build_inform(buf, 299, 1, hw, 6, ci), -ENOBUFS);
	assert_int_equal(dhcpmsg_build_inform(buf, sizeof(buf), 1, hw, 17, ci), -EINVAL);
}

/* A DHCPACK to xid 0x0a0b0c0d with @opts after the cookie. */
static size_t ack(uint8_t *buf, size_t size, const uint8_t *opts, size_t n)
{
	memset(buf, 0, size);
	buf[0] = 2;
	buf[1] = 1;
	buf[2] = 6;
	memcpy(buf + 4, ((uint8_t[]){ 0x0a, 0x0b, 0x0c, 0x0d }), 4);
	memcpy(buf + 236, ((uint8_t[]){ 99, 130, 83, 99 }), 4);
	memcpy(buf + 240, opts, n);
	return 240 + n;
}

static void test_ack(void **state)
{
	static const uint8_t with[] = { 53, 1, 5, 54, 4, 10, 99, 1, 1,
					120, 5, 1, 10, 99, 101, 1, 255 };
	static const uint8_t without[] = { 53, 1, 5, 1, 4, 255, 255, 255, 0, 255 };
	/* RFC 3396: one option in two instances, joined before reading. */
	static const uint8_t split[] = { 53, 1, 5, 120, 3, 0, 1, 'a', 120, 3, 1, 'b', 0, 255 };
	static const uint8_t nak[] = { 53, 1, 6, 120, 5, 1, 10, 0, 0, 1, 255 };
	static const uint8_t past_end[] = { 53, 1, 5, 120, 40, 1, 10, 0, 0, 1 };
	static const uint8_t bad_120[] = { 53, 1, 5, 120, 3, 0, 0xc0, 4, 255 };
	static const uint8_t no_type[] = { 120, 5, 1, 10, 0, 0, 1, 255 };
	uint8_t buf[600];
	struct dhcpmsg_answer a;
	char got[256];
	size_t n;

	(void)state;
	n = ack(buf, sizeof(buf), with, sizeof(with));
	assert_int_equal(dhcpmsg_parse_ack(buf, n, 0x0a0b0c0d, &a), 0);
	assert_true(a.present);
	joined(&a.servers, got, sizeof(got));
	assert_string_equal(got, "10.99.101.1");
	inet_ntop(AF_INET, &a.server_id, got, sizeof(got));
	assert_string_equal(got, "10.99.1.1");
	/* another transaction, or cut before the options */
	assert_int_equal(dhcpmsg_parse_ack(buf, n, 0x0a0b0c0e, &a), -ENOMSG);
	assert_int_equal(dhcpmsg_parse_ack(buf, 239, 0x0a0b0c0d, &a), -ENOMSG);
	buf[0] = 1;
	assert_int_equal(dhcpmsg_parse_ack(buf, n, 0x0a0b0c0d, &a), -ENOMSG);

	n = ack(buf, sizeof(buf), without, sizeof(without));
	assert_int_equal(dhcpmsg_parse_ack(buf, n, 0x0a0b0c0d, &a), 0);
	assert_false(a.present);
	assert_int_equal(a.servers.n, 0);

	n = ack(buf, sizeof(buf), split, sizeof(split));
	assert_int_equal(dhcpmsg_parse_ack(buf, n, 0x0a0b0c0d, &a), 0);
	joined(&a.servers, got, sizeof(got));
	assert_string_equal(got, "a.b");

	n = ack(buf, sizeof(buf), nak, sizeof(nak));
	assert_int_equal(dhcpmsg_parse_ack(buf, n, 0x0a0b0c0d, &a), -ENOMSG);

	n = ack(buf, sizeof(buf), past_end, sizeof(past_end));
	assert_int_equal(dhcpmsg_parse_ack(buf, n, 0x0a0b0c0d, &a), -EBADMSG);

	/* A broken option 120: said, but nothing usable. */
	n = ack(buf, sizeof(buf), bad_120, sizeof(bad_120));
	assert_int_equal(dhcpmsg_parse_ack(buf, n, 0x0a0b0c0d, &a), 0);
	assert_true(a.present);
	assert_int_equal(a.servers.n, 0);

	n = ack(buf, sizeof(buf), no_type, sizeof(no_type));
	assert_int_equal(dhcpmsg_parse_ack(buf, n, 0x0a0b0c0d, &a), -ENOMSG);
}

static void test_ack_overload(void **state)
{
	/* Option 52 = 3: more options in file (first), then sname. */
	static const uint8_t opts[] = { 53, 1, 5, 52, 1, 3, 120, 2, 1, 10, 255 };
	uint8_t buf[600];
	struct dhcpmsg_answer a;
	size_t n;

	(void)state;
	n = ack(buf, sizeof(buf), opts, sizeof(opts));
	memcpy(buf + 108, ((uint8_t[]){ 120, 2, 0, 0, 255 }), 5);     /* file */
	memcpy(buf + 44, ((uint8_t[]){ 120, 1, 1, 255 }), 4);         /* sname */
	assert_int_equal(dhcpmsg_parse_ack(buf, n, 0x0a0b0c0d, &a), 0);
	assert_int_equal(a.servers.n, 1);
	assert_string_equal(a.servers.v[0], "10.0.0.1");

	/* An option in sname that runs past its 64 bytes. */
	memcpy(buf + 44, ((uint8_t[]){ 120, 200 }), 2);
	assert_int_equal(dhcpmsg_parse_ack(buf, n, 0x0a0b0c0d, &a), -EBADMSG);
}

static void test_ack_option_too_long_ignored(void **state)
{
	/* Five instances of 255 bytes: more than alrd joins (1024). */
	uint8_t opts[3 + 5 * 257 + 1], buf[240 + sizeof(opts)];
	struct dhcpmsg_answer a;
	size_t n = 0;

	(void)state;
	opts[n++] = 53;
	opts[n++] = 1;
	opts[n++] = 5;
	for (int k = 0; k < 5; k++) {
		opts[n++] = 120;
		opts[n++] = 255;
		memset(opts + n, 1, 255);
		n += 255;
	}
	opts[n++] = 255;
	n = ack(buf, sizeof(buf), opts, n);
	assert_int_equal(dhcpmsg_parse_ack(buf, n, 0x0a0b0c0d, &a), 0);
	assert_true(a.present);
	assert_int_equal(a.servers.n, 0);
}

/* ---- IPv4/UDP off the link ------------------------------------------- */

static void test_udp4(void **state)
{
	/* 10.99.1.1:67 -> 10.99.1.2:68, IHL 5, 3 bytes of payload */
	static const uint8_t dgram[] = {
		0x45, 0, 0, 31, 0, 0, 0x40, 0, 64, 17, 0, 0,
		10, 99, 1, 1, 10, 99, 1, 2,
		0, 67, 0, 68, 0, 11, 0, 0,
		'a', 'b', 'c',
	};
	uint8_t buf[64];
	struct dhcpmsg_udp4 u;
	char text[INET_ADDRSTRLEN];

	(void)state;
	assert_int_equal(dhcpmsg_parse_udp4(dgram, sizeof(dgram), &u), 0);
	assert_int_equal(u.sport, 67);
	assert_int_equal(u.dport, 68);
	inet_ntop(AF_INET, &u.src, text, sizeof(text));
	assert_string_equal(text, "10.99.1.1");
	inet_ntop(AF_INET, &u.dst, text, sizeof(text));
	assert_string_equal(text, "10.99.1.2");
	assert_int_equal(u.len, 3);
	assert_memory_equal(u.payload, "abc", 3);
	/* Ethernet padding after the datagram is not payload. */
	memcpy(buf, dgram, sizeof(dgram));
	memset(buf + sizeof(dgram), 0xee, 10);
	assert_int_equal(dhcpmsg_parse_udp4(buf, sizeof(dgram) + 10, &u), 0);
	assert_int_equal(u.len, 3);
	/* every cut: refused, never read past */
	for (size_t n = 0; n < sizeof(dgram); n++)
		assert_int_equal(dhcpmsg_parse_udp4(dgram, n, &u), -EBADMSG);

	memcpy(buf, dgram, sizeof(dgram));
	buf[0] = 0x65;                                  /* IPv6's version */
	assert_int_equal(dhcpmsg_parse_udp4(buf, sizeof(dgram), &u), -EBADMSG);
	memcpy(buf, dgram, sizeof(dgram));
	buf[0] = 0x44;                                  /* IHL 4 */
	assert_int_equal(dhcpmsg_parse_udp4(buf, sizeof(dgram), &u), -EBADMSG);
	memcpy(buf, dgram, sizeof(dgram));
	buf[0] = 0x4f;                                  /* IHL past the datagram */
	assert_int_equal(dhcpmsg_parse_udp4(buf, sizeof(dgram), &u), -EBADMSG);
	memcpy(buf, dgram, sizeof(dgram));
	buf[9] = 6;                                     /* TCP */
	assert_int_equal(dhcpmsg_parse_udp4(buf, sizeof(dgram), &u), -EBADMSG);
	memcpy(buf, dgram, sizeof(dgram));
	buf[6] = 0x20;                                  /* more fragments */
	assert_int_equal(dhcpmsg_parse_udp4(buf, sizeof(dgram), &u), -EBADMSG);
	memcpy(buf, dgram, sizeof(dgram));
	buf[7] = 1;                                     /* an offset */
	assert_int_equal(dhcpmsg_parse_udp4(buf, sizeof(dgram), &u), -EBADMSG);
	memcpy(buf, dgram, sizeof(dgram));
	buf[25] = 7;                                    /* UDP length < 8 */
	assert_int_equal(dhcpmsg_parse_udp4(buf, sizeof(dgram), &u), -EBADMSG);
	memcpy(buf, dgram, sizeof(dgram));
	buf[25] = 12;                                   /* past the IP length */
	assert_int_equal(dhcpmsg_parse_udp4(buf, sizeof(dgram), &u), -EBADMSG);
}

/* ---- DHCPv6 ---------------------------------------------------------- */

static void test_info_request(void **state)
{
	static const uint8_t hw[6] = { 2, 0, 0, 0, 0, 1 };
	static const uint8_t want[] = {
		11, 0x12, 0x34, 0x56,
		0, 1, 0, 10, 0, 3, 0, 1, 2, 0, 0, 0, 0, 1,      /* DUID-LL */
		0, 6, 0, 4, 0, 21, 0, 22,                       /* ORO */
		0, 8, 0, 2, 0, 150,                             /* elapsed 1.5 s */
	};
	uint8_t buf[DHCPMSG_INFO_REQ_MAX];
	int n;

	(void)state;
	n = dhcpmsg_build_info_request(buf, sizeof(buf), 0xff123456, hw, 6, 150);
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(dhcpmsg_build_info_request(buf, 20, 1, hw, 6, 0), -ENOBUFS);
}

static void test_reply(void **state)
{
	static const uint8_t reply[] = {
		7, 0x12, 0x34, 0x56,
		0, 13, 0, 2, 0, 0,                              /* status: success */
		0, 22, 0, 32,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		0, 21, 0, 9, 5, 'p', 'r', 'o', 'x', 'y', 1, 'n', 0,
	};
	static const uint8_t past_end[] = { 7, 0, 0, 1, 0, 21, 0, 9, 1, 'a', 0 };
	static const uint8_t odd_addrs[] = { 7, 0, 0, 1, 0, 22, 0, 3, 1, 2, 3 };
	/* RFC 8415 §10: no compression in DHCPv6 (option 120 may have it) */
	static const uint8_t pointer[] = { 7, 0, 0, 1, 0, 21, 0, 7, 1, 'a', 0, 1, 'b', 0xc0, 0 };
	uint8_t buf[sizeof(reply)];
	struct dhcpmsg_answer a;
	char got[256];

	(void)state;
	assert_int_equal(dhcpmsg_parse_reply(reply, sizeof(reply), 0x123456, &a), 0);
	assert_true(a.present);
	joined(&a.servers, got, sizeof(got));
	/* names first; a multicast address is nobody to register with */
	assert_string_equal(got, "proxy.n,2001:db8::1");
	assert_int_equal(dhcpmsg_parse_reply(reply, sizeof(reply), 0x123457, &a), -ENOMSG);
	memcpy(buf, reply, sizeof(reply));
	buf[0] = 2;                                     /* an Advertise */
	assert_int_equal(dhcpmsg_parse_reply(buf, sizeof(buf), 0x123456, &a), -ENOMSG);
	/* every cut of it: never past the end */
	for (size_t n = 0; n < sizeof(reply); n++) {
		int r = dhcpmsg_parse_reply(reply, n, 0x123456, &a);

		assert_true(r == 0 || r == -EBADMSG || r == -ENOMSG);
	}
	assert_int_equal(dhcpmsg_parse_reply(past_end, sizeof(past_end), 1, &a), -EBADMSG);
	assert_int_equal(dhcpmsg_parse_reply(pointer, sizeof(pointer), 1, &a), 0);
	assert_true(a.present);
	assert_int_equal(a.servers.n, 0);               /* a broken list: none of it */
	assert_int_equal(dhcpmsg_parse_reply(odd_addrs, sizeof(odd_addrs), 1, &a), 0);
	assert_true(a.present);
	assert_int_equal(a.servers.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sip_option),
		cmocka_unit_test(test_many_servers_kept_bounded),
		cmocka_unit_test(test_names_length_limits),
		cmocka_unit_test(test_inform),
		cmocka_unit_test(test_ack),
		cmocka_unit_test(test_ack_overload),
		cmocka_unit_test(test_ack_option_too_long_ignored),
		cmocka_unit_test(test_udp4),
		cmocka_unit_test(test_info_request),
		cmocka_unit_test(test_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
