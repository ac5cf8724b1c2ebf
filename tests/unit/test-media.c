/* The media of a call (edge/media.c) as the B2BUA will drive it, with real
 * sockets in a network namespace of its own: a softphone on this host
 * (its real SDPs: baresip naming its interface address 192.0.2.2,
 * linphone naming fd00::2 while its peer is 127.0.0.1), a far end at
 * 192.0.2.1, the IAP's address 10.0.0.2 (and 10.0.1.2 to move to), all on
 * "lo".  Checked: each side's SDP (addresses, relay ports, the origin and
 * its version), media both ways through the relays, re-INVITEs keeping
 * the relays, streams added, replaced and disabled, hold, a move of the
 * network side (re-offer, both pairs receive, commit, cancel), and errors
 * that change nothing (malformed SDP, a full port range, no SDP yet). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "edge/media.h"
#include "sdp-samples.h"

#define PORT_MIN        42000
#define PORT_MAX        42099

/* The far end's answer to baresip's offer, and its later SDPs. */
static const char FAR_ANSWER[] =
	"v=0\r\n"
	"o=far 100 200 IN IP4 192.0.2.1\r\n"
	"s=-\r\n"
	"c=IN IP4 192.0.2.1\r\n"
	"t=0 0\r\n"
	"m=audio 6000 RTP/AVP 0 101\r\n"
	"a=rtpmap:0 PCMU/8000\r\n"
	"a=rtpmap:101 telephone-event/8000\r\n"
	"a=sendrecv\r\n";
static const char FAR_ANSWER_PCMA[] =
	"v=0\r\n"
	"o=far 100 202 IN IP4 192.0.2.1\r\n"
	"s=-\r\n"
	"c=IN IP4 192.0.2.1\r\n"
	"t=0 0\r\n"
	"m=audio 6000 RTP/AVP 8 101\r\n"
	"a=rtpmap:8 PCMA/8000\r\n"
	"a=rtpmap:101 telephone-event/8000\r\n"
	"a=sendrecv\r\n";
static const char FAR_ANSWER_NEW_PORT[] =
	"v=0\r\n"
	"o=far 100 201 IN IP4 192.0.2.1\r\n"
	"s=-\r\n"
	"c=IN IP4 192.0.2.1\r\n"
	"t=0 0\r\n"
	"m=audio 6010 RTP/AVP 0 101\r\n"
	"a=rtpmap:0 PCMU/8000\r\n"
	"a=rtpmap:101 telephone-event/8000\r\n"
	"a=sendrecv\r\n";
static const char FAR_HOLD[] =
	"v=0\r\n"
	"o=far 100 202 IN IP4 192.0.2.1\r\n"
	"s=-\r\n"
	"c=IN IP4 0.0.0.0\r\n"
	"t=0 0\r\n"
	"m=audio 6010 RTP/AVP 0 101\r\n"
	"a=rtpmap:0 PCMU/8000\r\n"
	"a=rtpmap:101 telephone-event/8000\r\n"
	"a=sendonly\r\n";
/* An incoming call with audio and video, then video replaced by text, and
 * video dropped. */
static const char FAR_OFFER_AV[] =
	"v=0\r\n"
	"o=far 300 1 IN IP4 192.0.2.1\r\n"
	"s=-\r\n"
	"c=IN IP4 192.0.2.1\r\n"
	"t=0 0\r\n"
	"m=audio 7000 RTP/AVP 96 0\r\n"
	"a=rtpmap:96 opus/48000/2\r\n"
	"a=rtcp-mux\r\n"
	"m=video 7002 RTP/AVP 96\r\n"
	"a=rtpmap:96 VP8/90000\r\n"
	"a=rtcp-mux\r\n";
static const char FAR_OFFER_AT[] =
	"v=0\r\n"
	"o=far 300 2 IN IP4 192.0.2.1\r\n"
	"s=-\r\n"
	"c=IN IP4 192.0.2.1\r\n"
	"t=0 0\r\n"
	"m=audio 7000 RTP/AVP 96 0\r\n"
	"a=rtpmap:96 opus/48000/2\r\n"
	"a=rtcp-mux\r\n"
	"m=text 7004 RTP/AVP 98\r\n"
	"a=rtpmap:98 t140/1000\r\n"
	"m=message 7006 TCP/MSRP *\r\n"
	"a=path:msrp://192.0.2.1:7006/abc;tcp\r\n";
static const char FAR_OFFER_A[] =
	"v=0\r\n"
	"o=far 300 3 IN IP4 192.0.2.1\r\n"
	"s=-\r\n"
	"c=IN IP4 192.0.2.1\r\n"
	"t=0 0\r\n"
	"m=audio 7000 RTP/AVP 96 0\r\n"
	"a=rtpmap:96 opus/48000/2\r\n"
	"a=rtcp-mux\r\n"
	"m=text 0 RTP/AVP 98\r\n"
	"m=message 0 TCP/MSRP *\r\n";

struct world {
	struct ev_loop *loop;
	struct relay_pool *pool;
	struct media *m;
	struct sockaddr_storage net, local;
};

static struct sockaddr_storage sa(const char *host, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };

	if (strchr(host, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, host, &in6->sin6_addr), 1);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, host, &in->sin_addr), 1);
	}
	return ss;
}

static socklen_t sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static int udp(const char *host, uint16_t port)
{
	struct sockaddr_storage a = sa(host, port);
	int fd = socket(a.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (bind(fd, (struct sockaddr *)&a, sa_len(&a)) < 0)
		fail_msg("bind %s:%u: %s", host, port, strerror(errno));
	return fd;
}

static void send_to(int fd, const char *host, uint16_t port, const char *payload)
{
	struct sockaddr_storage a = sa(host, port);

	assert_int_equal(sendto(fd, payload, strlen(payload), 0, (struct sockaddr *)&a, sa_len(&a)),
			 (ssize_t)strlen(payload));
}

struct wait {
	ev_io io;
	ev_timer deadline;
	bool ready;
};

static void wait_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	((struct wait *)w)->ready = true;
	ev_break(loop, EVBREAK_ONE);
}

static void wait_deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	ev_break(loop, EVBREAK_ONE);
}

/* Run the loop until @fd has a datagram (at most 2 s); it must be
 * @payload from @host:@port. */
static void expect_from(struct world *w, int fd, const char *payload, const char *host,
			uint16_t port)
{
	struct sockaddr_storage from, want = sa(host, port);
	socklen_t len = sizeof(from);
	struct wait wt = { .ready = false };
	char buf[2048];
	ssize_t n;

	ev_io_init(&wt.io, wait_io_cb, fd, EV_READ);
	ev_io_start(w->loop, &wt.io);
	ev_timer_init(&wt.deadline, wait_deadline_cb, 2., 0.);
	ev_now_update(w->loop);
	ev_timer_start(w->loop, &wt.deadline);
	ev_run(w->loop, 0);
	ev_io_stop(w->loop, &wt.io);
	ev_timer_stop(w->loop, &wt.deadline);
	if (!wt.ready)
		fail_msg("nothing arrived within 2 s (wanted '%s')", payload);
	n = recvfrom(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT, (struct sockaddr *)&from, &len);
	assert_true(n >= 0);
	buf[n] = '\0';
	assert_string_equal(buf, payload);
	assert_int_equal(memcmp(&from, &want, sa_len(&want)), 0);
}

/* "m=audio 42000 " -> 42000: the port of the @nth m= line of @sdp */
static uint16_t m_port(const char *sdp, int nth)
{
	const char *p = sdp;
	unsigned int port;

	for (int i = 0; i <= nth; i++) {
		p = strstr(p, "\r\nm=");
		assert_non_null(p);
		p += 4;
	}
	p = strchr(p, ' ');
	assert_non_null(p);
	assert_int_equal(sscanf(p, " %u", &port), 1);
	return (uint16_t)port;
}

static char *from_app(struct world *w, const char *sdp)
{
	const char *why = NULL;
	char *out = NULL;
	size_t len = 0;
	int r = media_from_app(w->m, sdp, strlen(sdp), &out, &len, &why);

	if (r != 0)
		fail_msg("media_from_app: %d %s", r, why);
	assert_int_equal(strlen(out), len);
	return out;
}

static char *from_net(struct world *w, const char *sdp)
{
	const char *why = NULL;
	char *out = NULL;
	size_t len = 0;
	int r = media_from_net(w->m, sdp, strlen(sdp), &out, &len, &why);

	if (r != 0)
		fail_msg("media_from_net: %d %s", r, why);
	assert_int_equal(strlen(out), len);
	return out;
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	w->loop = ev_loop_new(EVFLAG_AUTO);
	w->pool = relay_pool_new(w->loop, PORT_MIN, PORT_MAX);
	assert_non_null(w->pool);
	w->net = sa("10.0.0.2", 0);
	w->local = sa("127.0.0.1", 0);
	w->m = media_new(w->pool, "lo", (struct sockaddr *)&w->net, (struct sockaddr *)&w->local);
	assert_non_null(w->m);
	media_set_name(w->m, 1, "call-1@test");
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	media_free(w->m);
	assert_int_equal(relay_pool_free_pairs(w->pool), (PORT_MAX - PORT_MIN + 1) / 2);
	relay_pool_free(w->pool);
	ev_loop_destroy(w->loop);
	free(w);
	return 0;
}

/* baresip calls out: its offer to the network, the far end's answer to
 * baresip, media both ways (baresip named 192.0.2.2; its sockets are
 * bound to the wildcard, as baresip's are); re-INVITEs. */
static void test_outgoing_call(void **state)
{
	struct world *w = *state;
	int app = udp("0.0.0.0", 17948), app_rtcp = udp("0.0.0.0", 17949);
	int far = udp("192.0.2.1", 6000), far_rtcp = udp("192.0.2.1", 6001);
	int far2 = udp("192.0.2.1", 6010);
	char *to_net = from_app(w, SDP_BARESIP), *to_app, *again;
	uint16_t np = m_port(to_net, 0), lp;
	struct media_stats st;

	assert_non_null(strstr(to_net, "\r\no=- 3497197909 1955310777 IN IP4 10.0.0.2\r\n"));
	assert_non_null(strstr(to_net, "\r\nc=IN IP4 10.0.0.2\r\n"));
	assert_null(strstr(to_net, "192.0.2.2"));
	assert_true(np >= PORT_MIN && np <= PORT_MAX);

	to_app = from_net(w, FAR_ANSWER);
	lp = m_port(to_app, 0);
	assert_non_null(strstr(to_app, "\r\no=far 100 200 IN IP4 127.0.0.1\r\n"));
	assert_non_null(strstr(to_app, "\r\nc=IN IP4 127.0.0.1\r\n"));
	assert_null(strstr(to_app, "192.0.2.1"));
	assert_true(lp >= PORT_MIN && lp <= PORT_MAX);
	assert_int_not_equal(lp, np);

	send_to(app, "127.0.0.1", lp, "hello far end");
	expect_from(w, far, "hello far end", "10.0.0.2", np);
	send_to(app_rtcp, "127.0.0.1", lp + 1, "rtcp to the far end");
	expect_from(w, far_rtcp, "rtcp to the far end", "10.0.0.2", np + 1);
	send_to(far, "10.0.0.2", np, "hello baresip");
	expect_from(w, app, "hello baresip", "127.0.0.1", lp);
	send_to(far_rtcp, "10.0.0.2", np + 1, "rtcp to baresip");
	expect_from(w, app_rtcp, "rtcp to baresip", "127.0.0.1", lp + 1);

	media_get_stats(w->m, &st);
	assert_int_equal(st.n_streams, 1);
	assert_string_equal(st.streams[0].media, "audio");
	assert_int_equal(st.streams[0].local_port, lp);
	assert_int_equal(st.streams[0].net_port, np);
	assert_int_equal(st.to_net.packets, 2);
	assert_int_equal(st.to_app.packets, 2);
	assert_int_equal(st.to_net.bytes, strlen("hello far end") + strlen("rtcp to the far end"));
	assert_true(st.streams[0].relay.rtp_latched);

	/* a session refresh: the same SDPs, the same answers, versions and all */
	again = from_net(w, FAR_ANSWER);
	assert_string_equal(again, to_app);
	free(again);
	again = from_app(w, SDP_BARESIP);
	assert_string_equal(again, to_net);
	free(again);

	/* the far end moves its port: the same relay; nothing changed for the
	 * application (the same SDP, the same version); media to the new port */
	again = from_net(w, FAR_ANSWER_NEW_PORT);
	assert_string_equal(again, to_app);
	free(again);
	send_to(app, "127.0.0.1", lp, "to the new port");
	expect_from(w, far2, "to the new port", "10.0.0.2", np);

	/* hold with c=0.0.0.0 (RFC 3264 §8.4): the application sees it too */
	free(to_app);
	to_app = from_net(w, FAR_HOLD);
	assert_non_null(strstr(to_app, "\r\nc=IN IP4 0.0.0.0\r\n"));
	assert_non_null(strstr(to_app, "\r\na=sendonly\r\n"));
	/* changed for the application: one version up */
	assert_non_null(strstr(to_app, "\r\no=far 100 201 IN IP4 127.0.0.1\r\n"));
	assert_int_equal(m_port(to_app, 0), lp);

	free(to_net);
	free(to_app);
	close(app);
	close(app_rtcp);
	close(far);
	close(far_rtcp);
	close(far2);
}

/* An incoming call with audio and video to linphone (rtcp-mux; it names
 * fd00::2 but is reached on 127.0.0.1); then video replaced by text and
 * an MSRP stream (TCP: not relayed), then only audio. */
static void test_incoming_call(void **state)
{
	struct world *w = *state;
	int far_a = udp("192.0.2.1", 7000), far_v = udp("192.0.2.1", 7002);
	int app_a = udp("127.0.0.1", 7078), app_v = udp("127.0.0.1", 9078);
	char *to_app = from_net(w, FAR_OFFER_AV), *to_net, *o2, *o3;
	uint16_t lpa = m_port(to_app, 0), lpv = m_port(to_app, 1), npa, npv;
	struct media_stats st;

	assert_non_null(strstr(to_app, "\r\nm=video "));
	assert_int_not_equal(lpa, lpv);
	to_net = from_app(w, SDP_LINPHONE_MUX);
	npa = m_port(to_net, 0);
	npv = m_port(to_net, 1);
	/* linphone's origin, the IAP's address in the IPv4 family */
	assert_non_null(strstr(to_net, "\r\no=linphone 2106 3609 IN IP4 10.0.0.2\r\n"));
	assert_non_null(strstr(to_net, "\r\nc=IN IP4 10.0.0.2\r\n"));
	assert_null(strstr(to_net, "IP6"));
	assert_non_null(strstr(to_net, "\r\na=rtcp-mux\r\n"));

	send_to(far_v, "10.0.0.2", npv, "video frame");
	expect_from(w, app_v, "video frame", "127.0.0.1", lpv);
	send_to(app_a, "127.0.0.1", lpa, "audio from linphone");
	expect_from(w, far_a, "audio from linphone", "10.0.0.2", npa);
	send_to(app_a, "127.0.0.1", lpa, "\x80\xc8 muxed rtcp");
	expect_from(w, far_a, "\x80\xc8 muxed rtcp", "10.0.0.2", npa);

	/* video becomes text at position 2: a new relay there; MSRP gets none */
	o2 = from_net(w, FAR_OFFER_AT);
	assert_int_equal(m_port(o2, 0), lpa);
	assert_true(m_port(o2, 1) != lpv && m_port(o2, 1) != 0);
	assert_int_equal(m_port(o2, 2), 0);
	media_get_stats(w->m, &st);
	assert_int_equal(st.n_streams, 3);
	assert_string_equal(st.streams[1].media, "text");
	assert_int_equal(st.streams[2].local_port, 0);

	/* back to audio only: the others closed, their ports free */
	o3 = from_net(w, FAR_OFFER_A);
	assert_int_equal(m_port(o3, 0), lpa);
	assert_int_equal(m_port(o3, 1), 0);
	media_get_stats(w->m, &st);
	assert_int_equal(st.streams[1].local_port, 0);
	assert_int_equal(relay_pool_free_pairs(w->pool), (PORT_MAX - PORT_MIN + 1) / 2 - 2);
	/* audio kept flowing through it all */
	send_to(far_a, "10.0.0.2", npa, "still here");
	expect_from(w, app_a, "still here", "127.0.0.1", lpa);

	free(to_app);
	free(to_net);
	free(o2);
	free(o3);
	close(far_a);
	close(far_v);
	close(app_a);
	close(app_v);
}

/* The call's network side moves from 10.0.0.2 to 10.0.1.2: the re-offer,
 * both pairs receiving, the commit; a second move cancelled. */
static void test_move(void **state)
{
	struct world *w = *state;
	struct sockaddr_storage cell = sa("10.0.1.2", 0), bad = sa("203.0.113.9", 0);
	int app = udp("0.0.0.0", 17948);
	int far = udp("192.0.2.1", 6000);
	char *to_net, *to_app, *reoffer = NULL, *answer;
	const char *why = NULL;
	size_t len;
	uint16_t np, lp, np2;
	unsigned int pairs;
	struct media_stats st;

	assert_int_equal(media_move_network(w->m, "lo", (struct sockaddr *)&cell, &reoffer, &len, &why),
			 -EALREADY);
	assert_non_null(why);

	to_net = from_app(w, SDP_BARESIP);
	to_app = from_net(w, FAR_ANSWER);
	np = m_port(to_net, 0);
	lp = m_port(to_app, 0);
	send_to(far, "10.0.0.2", np, "over wifi");
	expect_from(w, app, "over wifi", "127.0.0.1", lp);
	pairs = relay_pool_free_pairs(w->pool);

	/* an address that is not ours: nothing changes */
	assert_int_equal(media_move_network(w->m, "lo", (struct sockaddr *)&bad, &reoffer, &len, &why),
			 -EADDRNOTAVAIL);
	assert_non_null(strstr(why, "not this host's"));
	assert_int_equal(relay_pool_free_pairs(w->pool), pairs);

	assert_int_equal(media_move_network(w->m, "lo", (struct sockaddr *)&cell, &reoffer, &len, &why),
			 0);
	np2 = m_port(reoffer, 0);
	assert_int_not_equal(np2, np);
	/* the new address in c=, the origin as before but one version up */
	assert_non_null(strstr(reoffer, "\r\nc=IN IP4 10.0.1.2\r\n"));
	assert_non_null(strstr(reoffer, "\r\no=- 3497197909 1955310778 IN IP4 10.0.0.2\r\n"));
	assert_int_equal(relay_pool_free_pairs(w->pool), pairs - 1);

	/* both receive; the old one sends */
	send_to(far, "10.0.0.2", np, "late over wifi");
	expect_from(w, app, "late over wifi", "127.0.0.1", lp);
	send_to(far, "10.0.1.2", np2, "early over cellular");
	expect_from(w, app, "early over cellular", "127.0.0.1", lp);
	send_to(app, "127.0.0.1", lp, "still out over wifi");
	expect_from(w, far, "still out over wifi", "10.0.0.2", np);

	/* the far end's answer (media_answer_from_net(), as the B2BUA
	 * does): nothing new for the application */
	{
		bool changed = true;

		assert_int_equal(media_answer_from_net(w->m, FAR_ANSWER, strlen(FAR_ANSWER),
						       &changed, &why), 0);
		assert_false(changed);
	}
	answer = from_net(w, FAR_ANSWER);
	assert_string_equal(answer, to_app);
	free(answer);
	media_commit_network(w->m);
	assert_int_equal(relay_pool_free_pairs(w->pool), pairs);
	send_to(app, "127.0.0.1", lp, "out over cellular");
	expect_from(w, far, "out over cellular", "10.0.1.2", np2);
	media_get_stats(w->m, &st);
	assert_int_equal(st.streams[0].net_port, np2);
	assert_int_equal(st.to_app.packets, 3);         /* counters survive the move */

	/* the application's next re-INVITE names the new side, no new version */
	free(to_net);
	to_net = from_app(w, SDP_BARESIP);
	assert_string_equal(to_net, reoffer);

	/* a move cancelled: the new pairs closed, the next SDP names the
	 * current side again with a new version */
	free(reoffer);
	reoffer = NULL;
	assert_int_equal(media_move_network(w->m, "lo", (struct sockaddr *)&w->net, &reoffer, &len,
					    &why), 0);
	assert_non_null(strstr(reoffer, "\r\nc=IN IP4 10.0.0.2\r\n"));
	assert_non_null(strstr(reoffer, " 1955310779 IN IP4 10.0.0.2\r\n"));
	media_cancel_move(w->m);
	assert_int_equal(relay_pool_free_pairs(w->pool), pairs);
	free(to_net);
	to_net = from_app(w, SDP_BARESIP);
	assert_non_null(strstr(to_net, "\r\nc=IN IP4 10.0.1.2\r\n"));
	assert_non_null(strstr(to_net, " 1955310780 IN IP4 10.0.0.2\r\n"));
	assert_int_equal(m_port(to_net, 0), np2);
	send_to(app, "127.0.0.1", lp, "cellular still");
	expect_from(w, far, "cellular still", "10.0.1.2", np2);

	free(reoffer);
	free(to_net);
	free(to_app);
	close(app);
	close(far);
}

/* The origin version of an SDP ("o=USER SESSION VERSION ..."). */
static unsigned long long sdp_version(const char *sdp)
{
	const char *o = strstr(sdp, "\r\no=");
	unsigned long long sess = 0, ver = 0;
	char user[64];

	assert_non_null(o);
	assert_int_equal(sscanf(o + 4, "%63s %llu %llu", user, &sess, &ver), 3);
	return ver;
}

/* A far end that changes its codec in its answer to a move: the
 * application is not given that SDP (media_answer_from_net() says it
 * would change), so what it got last stays its SDP: the next one it gets
 * is the same version when nothing changed for it, one up when
 * something did -- never a skipped version (RFC 3264 §8). */
static void test_move_answer_changed(void **state)
{
	struct world *w = *state;
	struct sockaddr_storage cell = sa("10.0.1.2", 0);
	char *to_net, *to_app, *reoffer = NULL, *later;
	const char *why = NULL;
	bool changed = false;
	size_t len;

	to_net = from_app(w, SDP_BARESIP);
	to_app = from_net(w, FAR_ANSWER);
	assert_int_equal(media_move_network(w->m, "lo", (struct sockaddr *)&cell, &reoffer, &len,
					    &why), 0);
	assert_int_equal(media_answer_from_net(w->m, FAR_ANSWER_PCMA, strlen(FAR_ANSWER_PCMA),
					       &changed, &why), 0);
	assert_true(changed);
	media_commit_network(w->m);
	/* the far end's next offer is the streams the application has:
	 * the same SDP, the same version (it never got the PCMA one) */
	later = from_net(w, FAR_ANSWER);
	assert_int_equal(sdp_version(later), sdp_version(to_app));
	assert_string_equal(later, to_app);
	free(later);
	/* then PCMA again: new to the application, one version up */
	later = from_net(w, FAR_ANSWER_PCMA);
	assert_non_null(strstr(later, "PCMA"));
	assert_int_equal(sdp_version(later), sdp_version(to_app) + 1);
	free(later);
	free(reoffer);
	free(to_net);
	free(to_app);
}

/* Errors change nothing: a malformed SDP, a port range too small for the
 * streams asked for. */
static void test_errors(void **state)
{
	struct world *w = *state;
	static const char three[] =
		"v=0\r\no=- 1 1 IN IP4 192.0.2.2\r\ns=-\r\nc=IN IP4 192.0.2.2\r\nt=0 0\r\n"
		"m=audio 4000 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 0\r\nm=audio 4004 RTP/AVP 0\r\n";
	struct relay_pool *small = relay_pool_new(w->loop, 43000, 43007);   /* 4 pairs: 2 relays */
	struct media *m = media_new(small, "lo", (struct sockaddr *)&w->net,
				    (struct sockaddr *)&w->local);
	char *out = NULL, *first;
	const char *why = NULL;
	size_t len;

	assert_non_null(m);
	assert_int_equal(media_from_app(m, "v=0\r\ngarbage", 12, &out, &len, &why), -EINVAL);
	assert_null(out);
	assert_non_null(strstr(why, "SDP from the application: "));

	assert_int_equal(media_from_app(m, SDP_BARESIP, strlen(SDP_BARESIP), &out, &len, &why), 0);
	first = out;
	out = NULL;
	assert_int_equal(relay_pool_free_pairs(small), 2);
	/* three streams need three relays: the one there and two more */
	assert_int_equal(media_from_app(m, three, strlen(three), &out, &len, &why), -ENOSPC);
	assert_null(out);
	assert_non_null(strstr(why, "port range is full"));
	assert_int_equal(relay_pool_free_pairs(small), 2);
	/* the call is as it was: the same SDP gives the same answer */
	assert_int_equal(media_from_app(m, SDP_BARESIP, strlen(SDP_BARESIP), &out, &len, &why), 0);
	assert_string_equal(out, first);
	free(out);
	free(first);

	/* bad arguments */
	errno = 0;
	assert_null(media_new(small, "lo", NULL, (struct sockaddr *)&w->local));
	assert_int_equal(errno, EINVAL);
	media_free(NULL);

	media_free(m);
	assert_int_equal(relay_pool_free_pairs(small), 4);
	relay_pool_free(small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_outgoing_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incoming_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_answer_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test-media: needs root (a network namespace), skipped\n");
		return 77;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test-media: unshare(CLONE_NEWNET): %m, skipped\n");
		return 77;
	}
	/* the far end, baresip's interface address, the IAPs' addresses */
	if (system("ip link set lo up && ip addr add 192.0.2.1/32 dev lo && "
		   "ip addr add 192.0.2.2/32 dev lo && ip addr add 10.0.0.2/32 dev lo && "
		   "ip addr add 10.0.1.2/32 dev lo") != 0) {
		fprintf(stderr, "test-media: no working ip(8), skipped\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
