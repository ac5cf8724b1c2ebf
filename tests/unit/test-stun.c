/* sip/stun.c: the Binding Request alrd sends and the responses it reads
 * (RFC 5389; the vectors of RFC 5769 §2.2 and §2.3 for the responses). */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "sip/stun.h"

static const uint8_t TXID[STUN_TXID_LEN] = {
	0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
};

/* RFC 5769 §2.2: an IPv4 response, 192.0.2.1 port 32853 (its SOFTWARE,
 * MESSAGE-INTEGRITY and FINGERPRINT attributes are skipped unread). */
static const uint8_t RESPONSE4[] = {
	0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42,
	0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
	0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
	0x74, 0x6f, 0x72, 0x20,
	0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
	0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,
	0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7,
	0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

/* RFC 5769 §2.3: IPv6, 2001:db8:1234:5678:11:2233:4455:6677 port 32853. */
static const uint8_t RESPONSE6[] = {
	0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42,
	0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
	0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
	0x74, 0x6f, 0x72, 0x20,
	0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
	0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
	0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1,
	0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41,
	0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
};

static void test_request(void **state)
{
	uint8_t out[STUN_HEADER_LEN];
	static const uint8_t want[STUN_HEADER_LEN] = {
		0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42,
		0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
	};

	(void)state;
	assert_int_equal(stun_binding_request(out, TXID), STUN_HEADER_LEN);
	assert_memory_equal(out, want, sizeof(want));
	assert_true(stun_is_message(out, sizeof(out)));
}

static void test_response_ipv4(void **state)
{
	struct sockaddr_storage mapped;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&mapped;
	uint8_t txid[STUN_TXID_LEN];
	enum stun_class cls;
	int code = -1;

	(void)state;
	assert_true(stun_is_message(RESPONSE4, sizeof(RESPONSE4)));
	assert_int_equal(stun_parse(RESPONSE4, sizeof(RESPONSE4), &cls, txid, &mapped, &code), 0);
	assert_int_equal(cls, STUN_RESPONSE_SUCCESS);
	assert_memory_equal(txid, TXID, sizeof(TXID));
	assert_int_equal(mapped.ss_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 32853);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0xc0000201);
	assert_int_equal(code, 0);
}

static void test_response_ipv6(void **state)
{
	struct sockaddr_storage mapped;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&mapped;
	struct in6_addr want;
	uint8_t txid[STUN_TXID_LEN];
	enum stun_class cls;
	int code;

	(void)state;
	assert_int_equal(inet_pton(AF_INET6, "2001:db8:1234:5678:11:2233:4455:6677", &want), 1);
	assert_int_equal(stun_parse(RESPONSE6, sizeof(RESPONSE6), &cls, txid, &mapped, &code), 0);
	assert_int_equal(cls, STUN_RESPONSE_SUCCESS);
	assert_int_equal(mapped.ss_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 32853);
	assert_memory_equal(&sin6->sin6_addr, &want, sizeof(want));
}

/* MAPPED-ADDRESS alone (an RFC 3489 server) is read as it is. */
static void test_plain_mapped_address(void **state)
{
	static const uint8_t msg[] = {
		0x01, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42,
		0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
		0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x13, 0xc4, 10, 99, 1, 2,
	};
	struct sockaddr_storage mapped;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&mapped;
	uint8_t txid[STUN_TXID_LEN];
	enum stun_class cls;
	int code;

	(void)state;
	assert_int_equal(stun_parse(msg, sizeof(msg), &cls, txid, &mapped, &code), 0);
	assert_int_equal(mapped.ss_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 5060);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x0a630102);
}

static void test_error_response(void **state)
{
	static const uint8_t msg[] = {
		0x01, 0x11, 0x00, 0x10, 0x21, 0x12, 0xa4, 0x42,
		0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
		0x00, 0x09, 0x00, 0x0b, 0x00, 0x00, 0x04, 0x14, 'B', 'a', 'd', ' ',
		'R', 'e', 'q', 0x00,
	};
	struct sockaddr_storage mapped;
	uint8_t txid[STUN_TXID_LEN];
	enum stun_class cls;
	int code;

	(void)state;
	assert_int_equal(stun_parse(msg, sizeof(msg), &cls, txid, &mapped, &code), 0);
	assert_int_equal(cls, STUN_RESPONSE_ERROR);
	assert_int_equal(code, 420);
	assert_int_equal(mapped.ss_family, AF_UNSPEC);
}

/* SIP, short or overrun messages, bad address attributes: refused. */
static void test_refused(void **state)
{
	static const char sip[] = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1\r\n\r\n";
	uint8_t msg[sizeof(RESPONSE4)], out[STUN_HEADER_LEN];
	struct sockaddr_storage mapped;
	uint8_t txid[STUN_TXID_LEN];
	enum stun_class cls;
	int code;

	(void)state;
	assert_false(stun_is_message(sip, sizeof(sip) - 1));
	assert_false(stun_is_message(RESPONSE4, 19));
	assert_int_equal(stun_parse(sip, sizeof(sip) - 1, &cls, txid, &mapped, &code), -EBADMSG);
	/* the header's length does not match the datagram */
	assert_false(stun_is_message(RESPONSE4, sizeof(RESPONSE4) - 4));
	/* an attribute overruns the message */
	memcpy(msg, RESPONSE4, sizeof(msg));
	msg[22] = 0x00;
	msg[23] = 0x80;
	assert_int_equal(stun_parse(msg, sizeof(msg), &cls, txid, &mapped, &code), -EBADMSG);
	/* XOR-MAPPED-ADDRESS of an unknown family, or a wrong length */
	memcpy(msg, RESPONSE4, sizeof(msg));
	msg[41] = 0x03;
	assert_int_equal(stun_parse(msg, sizeof(msg), &cls, txid, &mapped, &code), -EBADMSG);
	memcpy(msg, RESPONSE4, sizeof(msg));
	msg[39] = 0x07;
	assert_int_equal(stun_parse(msg, sizeof(msg), &cls, txid, &mapped, &code), -EBADMSG);
	/* a request is STUN, but nothing a keepalive reads */
	stun_binding_request(out, TXID);
	assert_int_equal(stun_parse(out, sizeof(out), &cls, txid, &mapped, &code), 0);
	assert_int_equal(cls, STUN_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_response_ipv4),
		cmocka_unit_test(test_response_ipv6),
		cmocka_unit_test(test_plain_mapped_address),
		cmocka_unit_test(test_error_response),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
