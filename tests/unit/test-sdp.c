/* SDP for the media relay (edge/sdp.c): reading the streams of real
 * softphones' bodies (baresip, baresip with ICE, linphone over IPv6 and
 * with rtcp-mux and video), rewriting them (addresses, ports, a=rtcp:, ICE
 * lines dropped, hold kept, the origin), and refusing malformed or
 * unrelayable bodies with a reason, without crashing on any prefix or
 * corruption of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/sdp.h"
#include "sdp-samples.h"

static struct sockaddr_storage addr4(const char *s, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;

	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, s, &in->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage addr6(const char *s, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, s, &in6->sin6_addr), 1);
	return ss;
}

/* "192.0.2.2:17948", "[fd00::2]:7078", "-" for AF_UNSPEC */
static const char *addr_str(const struct sockaddr_storage *ss)
{
	static char buf[4][64];
	static int n;
	char host[INET6_ADDRSTRLEN];
	char *b = buf[n++ % 4];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(b, 64, "%s:%u", host, ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(b, 64, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(b, 64, "-");
	}
	return b;
}

static void read_ok(const char *body, struct sdp_info *info)
{
	const char *why = NULL;
	int r = sdp_read(body, strlen(body), info, &why);

	if (r != 0)
		fail_msg("sdp_read: %d %s", r, why);
}

static char *rewrite_ok(const char *body, const struct sdp_rewrite *rw)
{
	const char *why = NULL;
	char *out = NULL;
	size_t len = 0;
	int r = sdp_rewrite(body, strlen(body), rw, &out, &len, &why);

	if (r != 0)
		fail_msg("sdp_rewrite: %d %s", r, why);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	return out;
}

static void test_read_baresip(void **state)
{
	struct sdp_info info;

	read_ok(SDP_BARESIP, &info);
	assert_string_equal(info.origin.username, "-");
	assert_string_equal(info.origin.sess_id, "3497197909");
	assert_true(info.origin.version == 1955310777ULL);
	assert_int_equal(info.n_streams, 1);
	assert_string_equal(info.streams[0].media, "audio");
	assert_string_equal(info.streams[0].proto, "RTP/AVP");
	assert_true(info.streams[0].udp);
	assert_int_equal(info.streams[0].port, 17948);
	assert_string_equal(addr_str(&info.streams[0].rtp), "192.0.2.2:17948");
	/* no a=rtcp: RTP port + 1 */
	assert_string_equal(addr_str(&info.streams[0].rtcp), "192.0.2.2:17949");
	assert_int_equal(info.streams[0].rtcp_port, 17949);
	assert_false(info.streams[0].has_rtcp_attr);
	assert_false(info.streams[0].rtcp_mux);
	assert_false(info.streams[0].hold);
}

static void test_read_ice_rtcp_attr(void **state)
{
	struct sdp_info info;

	read_ok(SDP_BARESIP_ICE, &info);
	assert_int_equal(info.n_streams, 1);
	assert_string_equal(addr_str(&info.streams[0].rtp), "192.0.2.2:7954");
	assert_true(info.streams[0].has_rtcp_attr);
	assert_string_equal(addr_str(&info.streams[0].rtcp), "192.0.2.2:7955");
}

static void test_read_linphone(void **state)
{
	struct sdp_info info;

	read_ok(SDP_LINPHONE_IPV6, &info);
	assert_string_equal(info.origin.username, "linphone");
	assert_int_equal(info.n_streams, 1);
	assert_string_equal(addr_str(&info.streams[0].rtp), "[fd00::2]:7078");
	assert_string_equal(addr_str(&info.streams[0].rtcp), "[fd00::2]:7079");
	assert_false(info.streams[0].rtcp_mux);

	read_ok(SDP_LINPHONE_MUX, &info);
	assert_int_equal(info.n_streams, 2);
	assert_string_equal(info.streams[0].media, "audio");
	assert_string_equal(info.streams[1].media, "video");
	assert_string_equal(addr_str(&info.streams[1].rtp), "[fd00::2]:9078");
	assert_true(info.streams[0].rtcp_mux);
	assert_true(info.streams[1].rtcp_mux);
}

/* The whole body, line by line: only o=, c= and the m= port changed. */
static void test_rewrite_baresip(void **state)
{
	struct sockaddr_storage a = addr4("10.0.0.7", 0);
	const uint16_t rtp[] = { 30000 }, rtcp[] = { 30001 };
	struct sdp_rewrite rw = {
		.addr = (struct sockaddr *)&a, .n_streams = 1,
		.rtp_ports = rtp, .rtcp_ports = rtcp,
	};
	char *out = rewrite_ok(SDP_BARESIP, &rw);

	assert_string_equal(out,
		"v=0\r\n"
		"o=- 3497197909 1955310777 IN IP4 10.0.0.7\r\n"
		"s=-\r\n"
		"c=IN IP4 10.0.0.7\r\n"
		"t=0 0\r\n"
		"a=tool:baresip 1.0.0\r\n"
		"m=audio 30000 RTP/AVP 0 8 96 9 101\r\n"
		"a=rtpmap:0 PCMU/8000\r\n"
		"a=rtpmap:8 PCMA/8000\r\n"
		"a=rtpmap:96 opus/48000/2\r\n"
		"a=fmtp:96 stereo=1;sprop-stereo=1\r\n"
		"a=rtpmap:9 G722/8000\r\n"
		"a=rtpmap:101 telephone-event/8000\r\n"
		"a=fmtp:101 0-15\r\n"
		"a=sendrecv\r\n"
		"a=label:1\r\n"
		"a=rtcp-rsize\r\n"
		"a=ssrc:4191657369 cname:sip:alice@127.0.0.1\r\n"
		"a=minptime:20\r\n"
		"a=ptime:20\r\n");
	free(out);
}

static void test_rewrite_ice(void **state)
{
	struct sockaddr_storage a = addr4("10.0.0.7", 0);
	const uint16_t rtp[] = { 30010 }, rtcp[] = { 30011 };
	struct sdp_rewrite rw = {
		.addr = (struct sockaddr *)&a, .n_streams = 1,
		.rtp_ports = rtp, .rtcp_ports = rtcp,
	};
	struct sdp_info info;
	char *out = rewrite_ok(SDP_BARESIP_ICE, &rw);

	assert_null(strstr(out, "a=candidate"));
	assert_null(strstr(out, "a=ice-"));
	assert_null(strstr(out, "192.0.2.2"));
	assert_null(strstr(out, "fd00::2"));
	assert_non_null(strstr(out, "\r\nm=audio 30010 RTP/AVP 0 8 96 9 101\r\nc=IN IP4 10.0.0.7\r\n"));
	assert_non_null(strstr(out, "\r\na=rtcp:30011 IN IP4 10.0.0.7\r\n"));
	/* the rest stays */
	assert_non_null(strstr(out, "\r\na=fmtp:96 stereo=1;sprop-stereo=1\r\n"));
	assert_non_null(strstr(out, "\r\na=ssrc:234160955 cname:sip:alice@[::1]\r\n"));
	read_ok(out, &info);
	assert_string_equal(addr_str(&info.streams[0].rtp), "10.0.0.7:30010");
	assert_string_equal(addr_str(&info.streams[0].rtcp), "10.0.0.7:30011");
	free(out);

	/* no RTCP port: the a=rtcp: line goes (RTP + 1 is implied) */
	rw.rtcp_ports = NULL;
	out = rewrite_ok(SDP_BARESIP_ICE, &rw);
	assert_null(strstr(out, "a=rtcp:"));
	assert_non_null(strstr(out, "a=rtcp-rsize"));
	free(out);
}

/* IPv6 to IPv4 and to IPv6: the address type follows the address. */
static void test_rewrite_families(void **state)
{
	struct sockaddr_storage a4 = addr4("127.0.0.1", 0), a6 = addr6("::1", 0);
	const uint16_t rtp[] = { 30100, 30102 }, rtcp[] = { 30101, 30103 };
	struct sdp_rewrite rw = {
		.addr = (struct sockaddr *)&a4, .n_streams = 2,
		.rtp_ports = rtp, .rtcp_ports = rtcp,
	};
	struct sdp_info info;
	char *out = rewrite_ok(SDP_LINPHONE_MUX, &rw);

	assert_non_null(strstr(out, "\r\no=linphone 2106 3609 IN IP4 127.0.0.1\r\n"));
	assert_non_null(strstr(out, "\r\nc=IN IP4 127.0.0.1\r\n"));
	assert_null(strstr(out, "IP6"));
	assert_non_null(strstr(out, "\r\nm=audio 30100 RTP/AVP 96 97 98 0 8 18 99 100 101\r\n"));
	assert_non_null(strstr(out, "\r\nm=video 30102 RTP/AVP 96\r\n"));
	read_ok(out, &info);
	assert_int_equal(info.n_streams, 2);
	assert_true(info.streams[0].rtcp_mux);
	assert_true(info.streams[1].rtcp_mux);
	assert_string_equal(addr_str(&info.streams[1].rtp), "127.0.0.1:30102");
	free(out);

	rw.addr = (struct sockaddr *)&a6;
	rw.n_streams = 1;
	out = rewrite_ok(SDP_BARESIP, &rw);
	assert_non_null(strstr(out, "\r\no=- 3497197909 1955310777 IN IP6 ::1\r\n"));
	assert_non_null(strstr(out, "\r\nc=IN IP6 ::1\r\n"));
	read_ok(out, &info);
	assert_string_equal(addr_str(&info.streams[0].rtp), "[::1]:30100");
	free(out);
}

static void test_rewrite_origin(void **state)
{
	struct sockaddr_storage a = addr4("10.0.0.7", 0);
	const uint16_t rtp[] = { 30000 };
	const struct sdp_origin o = { .username = "alrd", .sess_id = "42", .version = 7 };
	struct sdp_rewrite rw = {
		.addr = (struct sockaddr *)&a, .n_streams = 1, .rtp_ports = rtp, .origin = &o,
	};
	char *out = rewrite_ok(SDP_BARESIP, &rw);

	assert_non_null(strstr(out, "\r\no=alrd 42 7 IN IP4 10.0.0.7\r\n"));
	free(out);

	/* the origin's own address (the session's first), another family */
	struct sockaddr_storage first = addr6("2001:db8::9", 0);

	rw.origin_addr = (struct sockaddr *)&first;
	out = rewrite_ok(SDP_BARESIP, &rw);
	assert_non_null(strstr(out, "\r\no=alrd 42 7 IN IP6 2001:db8::9\r\n"));
	assert_non_null(strstr(out, "\r\nc=IN IP4 10.0.0.7\r\n"));
	free(out);
}

/* A disabled stream (port 0) stays disabled, with its own lines; a port
 * of 0 given for an active stream disables it (and drops its a=rtcp:). */
static void test_rewrite_disabled(void **state)
{
	static const char body[] =
		"v=0\r\n"
		"o=- 1 2 IN IP4 192.0.2.2\r\n"
		"s=-\r\n"
		"c=IN IP4 192.0.2.2\r\n"
		"t=0 0\r\n"
		"m=audio 4000 RTP/AVP 0\r\n"
		"a=rtcp:4001\r\n"
		"m=video 0 RTP/AVP 96\r\n"
		"a=rtpmap:96 VP8/90000\r\n"
		"m=audio 4002 RTP/AVP 0\r\n"
		"a=rtcp:4003\r\n";
	struct sockaddr_storage a = addr4("10.0.0.7", 0);
	const uint16_t rtp[] = { 0, 30002, 30004 }, rtcp[] = { 0, 30003, 30005 };
	struct sdp_rewrite rw = {
		.addr = (struct sockaddr *)&a, .n_streams = 3,
		.rtp_ports = rtp, .rtcp_ports = rtcp,
	};
	struct sdp_info info;
	char *out;

	read_ok(body, &info);
	assert_int_equal(info.n_streams, 3);
	assert_int_equal(info.streams[1].port, 0);
	out = rewrite_ok(body, &rw);
	assert_non_null(strstr(out, "\r\nm=audio 0 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n"
				    "a=rtpmap:96 VP8/90000\r\nm=audio 30004 RTP/AVP 0\r\n"
				    "a=rtcp:30005\r\n"));
	assert_null(strstr(out, "a=rtcp:4001"));
	free(out);
}

/* c=0.0.0.0 (RFC 3264 §8.4 hold) stays unspecified, in the new family;
 * a stream's own c= wins over the session's. */
static void test_hold(void **state)
{
	static const char body[] =
		"v=0\r\n"
		"o=- 1 3 IN IP4 192.0.2.2\r\n"
		"s=-\r\n"
		"c=IN IP4 0.0.0.0\r\n"
		"t=0 0\r\n"
		"m=audio 4000 RTP/AVP 0\r\n"
		"m=audio 4002 RTP/AVP 0\r\n"
		"c=IN IP4 192.0.2.9\r\n";
	struct sockaddr_storage a = addr6("2001:db8::1", 0);
	const uint16_t rtp[] = { 30000, 30002 };
	struct sdp_rewrite rw = { .addr = (struct sockaddr *)&a, .n_streams = 2, .rtp_ports = rtp };
	struct sdp_info info;
	char *out;

	read_ok(body, &info);
	assert_true(info.streams[0].hold);
	assert_int_equal(info.streams[0].rtp.ss_family, AF_UNSPEC);
	assert_int_equal(info.streams[0].port, 4000);
	assert_false(info.streams[1].hold);
	assert_string_equal(addr_str(&info.streams[1].rtp), "192.0.2.9:4002");

	out = rewrite_ok(body, &rw);
	assert_non_null(strstr(out, "\r\nc=IN IP6 ::\r\n"));
	assert_non_null(strstr(out, "\r\nm=audio 30002 RTP/AVP 0\r\nc=IN IP6 2001:db8::1\r\n"));
	assert_non_null(strstr(out, "\r\no=- 1 3 IN IP6 2001:db8::1\r\n"));
	free(out);
}

/* RFC 5761 §5.1.3: an a=rtcp: naming the RTP port itself (rtcp-mux with a
 * fallback) names the new RTP port. */
static void test_rtcp_attr_mux_port(void **state)
{
	static const char body[] =
		"v=0\r\n"
		"o=- 1 2 IN IP4 192.0.2.2\r\n"
		"s=-\r\n"
		"c=IN IP4 192.0.2.2\r\n"
		"t=0 0\r\n"
		"m=audio 4000 RTP/AVP 0\r\n"
		"a=rtcp:4000\r\n"
		"a=rtcp-mux\r\n";
	struct sockaddr_storage a = addr4("10.0.0.7", 0);
	const uint16_t rtp[] = { 30000 }, rtcp[] = { 30001 };
	struct sdp_rewrite rw = {
		.addr = (struct sockaddr *)&a, .n_streams = 1, .rtp_ports = rtp, .rtcp_ports = rtcp,
	};
	struct sdp_info info;
	char *out;

	read_ok(body, &info);
	assert_true(info.streams[0].rtcp_mux);
	assert_int_equal(info.streams[0].rtcp_port, 4000);
	out = rewrite_ok(body, &rw);
	assert_non_null(strstr(out, "\r\na=rtcp:30000\r\na=rtcp-mux\r\n"));
	free(out);
}

/* Accepted variations: LF line ends, no line end at the end, a host name
 * in c= (AF_UNSPEC: the relay learns the address), a TCP stream (not
 * UDP), exactly 8 streams. */
static void test_variations(void **state)
{
	static const char lf[] =
		"v=0\no=- 1 2 IN IP4 192.0.2.2\ns=-\nc=IN IP4 192.0.2.2\nt=0 0\n"
		"m=audio 4000 RTP/AVP 0";
	static const char name[] =
		"v=0\r\no=- 1 2 IN IP4 192.0.2.2\r\ns=-\r\nc=IN IP4 media.example.test\r\n"
		"t=0 0\r\nm=audio 4000 RTP/SAVPF 0\r\nm=message 4010 TCP/MSRP *\r\n";
	char eight[1024];
	struct sdp_info info;
	size_t n;

	read_ok(lf, &info);
	assert_string_equal(addr_str(&info.streams[0].rtp), "192.0.2.2:4000");

	read_ok(name, &info);
	assert_int_equal(info.streams[0].rtp.ss_family, AF_UNSPEC);
	assert_int_equal(info.streams[0].port, 4000);
	assert_true(info.streams[0].udp);
	assert_false(info.streams[0].hold);
	assert_false(info.streams[1].udp);

	n = (size_t)snprintf(eight, sizeof(eight),
			     "v=0\r\no=- 1 2 IN IP4 192.0.2.2\r\ns=-\r\nc=IN IP4 192.0.2.2\r\nt=0 0\r\n");
	for (int i = 0; i < SDP_MAX_STREAMS; i++)
		n += (size_t)snprintf(eight + n, sizeof(eight) - n, "m=audio %d RTP/AVP 0\r\n",
				      4000 + 2 * i);
	read_ok(eight, &info);
	assert_int_equal(info.n_streams, SDP_MAX_STREAMS);
	assert_string_equal(addr_str(&info.streams[7].rtp), "192.0.2.2:4014");
}

#define HDR "v=0\r\no=- 1 2 IN IP4 192.0.2.2\r\ns=-\r\n"
#define C "c=IN IP4 192.0.2.2\r\n"
#define T "t=0 0\r\n"
#define M "m=audio 4000 RTP/AVP 0\r\n"

static void test_malformed(void **state)
{
	static const struct {
		const char *body;
		int error;
		const char *why;        /* a word the reason has */
	} cases[] = {
		{ "", -EINVAL, "empty" },
		{ "\r\n\r\n", -EINVAL, "empty" },
		{ "hello world", -EINVAL, "not valid SDP" },
		{ "v=0\r\n", -EINVAL, "not valid SDP" },
		{ HDR T C M, -EINVAL, "not valid SDP" },        /* c= after t= */
		{ HDR C T "x=1\r\n" M, -EINVAL, "not valid SDP" },
		{ "v=1\r\no=- 1 2 IN IP4 192.0.2.2\r\ns=-\r\n" C T M, -EINVAL, "v=" },
		{ HDR C T "\r\n" M, -EINVAL, "empty line" },    /* would lose the m= */
		{ HDR C T "m=audio\r\n", -EINVAL, "not valid SDP" },
		{ HDR C T "m=audio abc RTP/AVP 0\r\n", -EINVAL, "port" },
		{ HDR C T "m=audio -5 RTP/AVP 0\r\n", -EINVAL, "port" },
		{ HDR C T "m=audio 70000 RTP/AVP 0\r\n", -EINVAL, "port" },
		{ HDR C T "m=audio 4000/2 RTP/AVP 0\r\n", -EINVAL, "port count" },
		{ HDR T M, -EINVAL, "c= line" },
		{ HDR "c=IN IP4 224.2.1.1/127\r\n" T M, -EINVAL, "multicast" },
		{ HDR "c=IN IP4 239.1.1.1\r\n" T M, -EINVAL, "multicast" },
		{ HDR "c=IN IP6 ff02::1\r\n" T M, -EINVAL, "multicast" },
		{ HDR T M "c=IN IP4 192.0.2.2\r\nc=IN IP4 192.0.2.3\r\n", -EINVAL, "more than one c=" },
		{ HDR "c=IN IP4 1.2.3.999\r\n" T M, -EINVAL, "neither" },
		{ HDR "c=IN IP4 ::1\r\n" T M, -EINVAL, "neither" },
		{ HDR "c=IN IP6 10.0.0.1\r\n" T M, -EINVAL, "neither" },
		{ HDR "c=IN IPX 10.0.0.1\r\n" T M, -EINVAL, "IN IP4" },
		{ HDR "c=ATM NSAP 47.0005\r\n" T M, -EINVAL, "IN IP4" },
		{ HDR C T M "a=rtcp:abc\r\n", -EINVAL, "a=rtcp" },
		{ HDR C T M "a=rtcp:0\r\n", -EINVAL, "a=rtcp" },
		{ HDR C T M "a=rtcp:4001 IN IP4\r\n", -EINVAL, "a=rtcp" },
		{ HDR C T M "a=rtcp:4001 IN IP4 10.0.0.1 x\r\n", -EINVAL, "a=rtcp" },
		{ HDR C T M "a=rtcp:4001\r\na=rtcp:4003\r\n", -EINVAL, "two a=rtcp" },
		{ "v=0\r\no=- 1 two IN IP4 192.0.2.2\r\ns=-\r\n" C T M, -EINVAL, "sess-version" },
		{ "v=0\r\no=- 1 99999999999999999999 IN IP4 192.0.2.2\r\ns=-\r\n" C T M, -EINVAL,
		  "sess-version" },
		{ HDR C T M "a=x\0y\r\n", -EINVAL, "NUL" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* the NUL case's length runs past its NUL */
		size_t len = strlen(cases[i].body);
		struct sdp_info info;
		const char *why = NULL;
		int r;

		if (strstr(cases[i].why, "NUL"))
			len += 4;
		r = sdp_read(cases[i].body, len, &info, &why);
		if (r != cases[i].error || !why || !strstr(why, cases[i].why))
			fail_msg("case %zu: %d (%s), wanted %d with '%s'", i, r, why ? why : "no reason",
				 cases[i].error, cases[i].why);
	}
}

static void test_limits(void **state)
{
	char body[20000];
	struct sdp_info info;
	const char *why = NULL;
	char *out = NULL;
	size_t n, len;
	struct sockaddr_storage a = addr4("10.0.0.7", 0);
	const uint16_t rtp[] = { 30000, 30002 };
	struct sdp_rewrite rw = { .addr = (struct sockaddr *)&a, .n_streams = 2, .rtp_ports = rtp };

	/* 9 streams */
	n = (size_t)snprintf(body, sizeof(body), HDR C T);
	for (int i = 0; i < SDP_MAX_STREAMS + 1; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "m=audio %d RTP/AVP 0\r\n",
				      4000 + 2 * i);
	assert_int_equal(sdp_read(body, n, &info, &why), -EINVAL);
	assert_non_null(strstr(why, "more than 8 m= lines"));

	/* 16 KiB + 1 */
	n = (size_t)snprintf(body, sizeof(body), HDR C T M);
	while (n <= SDP_MAX_LEN)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "a=x-padding:0123456789\r\n");
	why = NULL;
	assert_int_equal(sdp_read(body, n, &info, &why), -EMSGSIZE);
	assert_non_null(strstr(why, "16 KiB"));
	assert_int_equal(sdp_rewrite(body, n, &rw, &out, &len, &why), -EMSGSIZE);
	assert_null(out);

	/* the rewrite must fit the body: 2 ports for 1 stream */
	why = NULL;
	assert_int_equal(sdp_rewrite(SDP_BARESIP, strlen(SDP_BARESIP), &rw, &out, &len, &why),
			 -EINVAL);
	assert_non_null(strstr(why, "ports"));
	assert_null(out);
	rw.n_streams = 1;
	rw.addr = NULL;
	assert_int_equal(sdp_rewrite(SDP_BARESIP, strlen(SDP_BARESIP), &rw, &out, &len, &why),
			 -EINVAL);
	assert_null(out);
}

/* Every prefix and a few thousand corruptions of the real bodies: an
 * answer each time (0, or an error with its reason), never a crash
 * (ASan and UBSan watch this test). */
static void test_robust(void **state)
{
	const char *bodies[] = { SDP_BARESIP, SDP_BARESIP_ICE, SDP_LINPHONE_IPV6, SDP_LINPHONE_MUX };
	static const char junk[] = "\r\n =:/0aZ \x80\xff-";
	struct sockaddr_storage a = addr4("10.0.0.7", 0);
	uint16_t rtp[SDP_MAX_STREAMS] = { 30000, 30002, 30004, 30006, 30008, 30010, 30012, 30014 };
	unsigned int seed = 1;
	char buf[2048];

	for (size_t b = 0; b < sizeof(bodies) / sizeof(bodies[0]); b++) {
		size_t len = strlen(bodies[b]);

		for (size_t cut = 0; cut <= len; cut++) {
			struct sdp_info info;
			const char *why = NULL;
			int r = sdp_read(bodies[b], cut, &info, &why);

			assert_true(r == 0 || (r < 0 && why));
		}
		for (int k = 0; k < 1000; k++) {
			struct sdp_info info;
			const char *why = NULL;
			char *out = NULL;
			size_t out_len;
			int r;

			memcpy(buf, bodies[b], len);
			for (int flips = 1 + k % 4; flips; flips--) {
				seed = seed * 1103515245 + 12345;
				buf[(seed >> 8) % len] = junk[(seed >> 20) % (sizeof(junk) - 1)];
			}
			r = sdp_read(buf, len, &info, &why);
			assert_true(r == 0 || (r < 0 && why));
			if (r < 0)
				continue;
			struct sdp_rewrite rw = {
				.addr = (struct sockaddr *)&a, .n_streams = info.n_streams,
				.rtp_ports = rtp, .rtcp_ports = rtp,
			};
			r = sdp_rewrite(buf, len, &rw, &out, &out_len, &why);
			assert_int_equal(r, 0);
			/* what we write, we read back with our ports */
			r = sdp_read(out, out_len, &info, &why);
			assert_int_equal(r, 0);
			for (size_t i = 0; i < info.n_streams; i++)
				assert_true(info.streams[i].port == 0 || info.streams[i].port == rtp[i]);
			free(out);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_baresip),
		cmocka_unit_test(test_read_ice_rtcp_attr),
		cmocka_unit_test(test_read_linphone),
		cmocka_unit_test(test_rewrite_baresip),
		cmocka_unit_test(test_rewrite_ice),
		cmocka_unit_test(test_rewrite_families),
		cmocka_unit_test(test_rewrite_origin),
		cmocka_unit_test(test_rewrite_disabled),
		cmocka_unit_test(test_hold),
		cmocka_unit_test(test_rtcp_attr_mux_port),
		cmocka_unit_test(test_variations),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_robust),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
