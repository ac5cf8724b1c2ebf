/* The RTP/RTCP relay (edge/relay.c) with real UDP sockets, in a network
 * namespace of its own: a fake application on 127.0.0.1 (or ::1) and a
 * fake far end; the relay's network side on 127.0.0.2 (or 2001:db8::2)
 * bound to "lo".  Datagrams go both ways, RTP and RTCP, with their
 * payload intact and the relay's ports as their source; latching (a
 * trusted far end's address, an untrusted one, a new SDP address); only
 * loopback on the local side; no destination yet; the pool's limits and
 * errors; moving the network side (both pairs receive, the old one sends
 * until the commit, then it is closed) and cancelling a move.
 *
 * That a datagram was *not* forwarded is checked without waiting for
 * nothing: another datagram sent after it on the same path must be the
 * first to arrive (the relay reads and sends in order). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "edge/relay.h"

#define PORT_MIN        40000
#define PORT_MAX        40099

struct world {
	struct ev_loop *loop;
	struct relay_pool *pool;
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

/* A fake endpoint's socket on @host (port 0: any); *@ret its address. */
static int udp(const char *host, uint16_t port, struct sockaddr_storage *ret)
{
	struct sockaddr_storage a = sa(host, port);
	socklen_t len = sizeof(a);
	int fd = socket(a.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (bind(fd, (struct sockaddr *)&a, sa_len(&a)) < 0)
		fail_msg("bind %s:%u: %s", host, port, strerror(errno));
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	if (ret)
		*ret = a;
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

/* Run the loop (the relay forwards in it) until @fd can be read, at most
 * 2 s; then read one datagram and compare it with @payload.  *@ret_from
 * (may be NULL): its source. */
static void expect(struct world *w, int fd, const char *payload, struct sockaddr_storage *ret_from)
{
	struct wait wt = { .ready = false };
	struct sockaddr_storage from;
	socklen_t len = sizeof(from);
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
	if (ret_from)
		*ret_from = from;
}

struct until_dropped {
	ev_prepare prepare;
	ev_timer deadline;
	struct relay *r;
	uint64_t to_net, to_app;
};

static bool dropped_reached(const struct until_dropped *u)
{
	struct relay_stats st;

	relay_get_stats(u->r, &st);
	return st.to_net.dropped >= u->to_net && st.to_app.dropped >= u->to_app;
}

static void until_dropped_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
	if (dropped_reached(p->data))
		ev_break(loop, EVBREAK_ONE);
}

/* Run the loop until the relay has dropped @to_net datagrams from the
 * application and @to_app from the far end (at most 2 s): what was sent
 * before has been handled. */
static void wait_dropped(struct world *w, struct relay *r, uint64_t to_net, uint64_t to_app)
{
	struct until_dropped u = { .r = r, .to_net = to_net, .to_app = to_app };

	ev_prepare_init(&u.prepare, until_dropped_cb);
	u.prepare.data = &u;
	ev_prepare_start(w->loop, &u.prepare);
	ev_timer_init(&u.deadline, wait_deadline_cb, 2., 0.);
	ev_now_update(w->loop);
	ev_timer_start(w->loop, &u.deadline);
	ev_run(w->loop, 0);
	ev_prepare_stop(w->loop, &u.prepare);
	ev_timer_stop(w->loop, &u.deadline);
	if (!dropped_reached(&u))
		fail_msg("the relay did not drop %ju + %ju datagrams within 2 s", (uintmax_t)to_net,
			 (uintmax_t)to_app);
}

static void expect_from(struct world *w, int fd, const char *payload, const char *host,
			uint16_t port)
{
	struct sockaddr_storage from, want = sa(host, port);

	expect(w, fd, payload, &from);
	assert_int_equal(from.ss_family, want.ss_family);
	assert_int_equal(memcmp(&from, &want, sa_len(&want)), 0);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	w->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(w->loop);
	w->pool = relay_pool_new(w->loop, PORT_MIN, PORT_MAX);
	assert_non_null(w->pool);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	assert_int_equal(relay_pool_free_pairs(w->pool), (PORT_MAX - PORT_MIN + 1) / 2);
	relay_pool_free(w->pool);
	ev_loop_destroy(w->loop);
	free(w);
	return 0;
}

static struct relay *new_relay(struct world *w, const char *local, const char *net)
{
	struct sockaddr_storage l = sa(local, 0), n = sa(net, 0);
	struct relay *r = NULL;
	int k = relay_new(w->pool, "test", (struct sockaddr *)&l, "lo", (struct sockaddr *)&n, &r);

	if (k < 0)
		fail_msg("relay_new: %s", strerror(-k));
	assert_non_null(r);
	return r;
}

/* Both ways, RTP and RTCP, and RTCP multiplexed on the RTP port: the
 * payload intact, the relay's own ports as the source, the counters. */
static void forward(struct world *w, const char *local, const char *net, const char *app_host,
		    const char *far_host)
{
	struct sockaddr_storage app_rtp, app_rtcp, far_rtp, far_rtcp;
	int app[2] = { udp(app_host, 0, &app_rtp), udp(app_host, 0, &app_rtcp) };
	int far[2] = { udp(far_host, 0, &far_rtp), udp(far_host, 0, &far_rtcp) };
	struct relay *r = new_relay(w, local, net);
	uint16_t lp = relay_local_port(r), np = relay_net_port(r);
	struct relay_stats st;

	assert_true(lp >= PORT_MIN && lp < PORT_MAX && lp % 2 == 0);
	assert_true(np >= PORT_MIN && np < PORT_MAX && np % 2 == 0);
	assert_int_not_equal(lp, np);
	relay_set_app(r, (struct sockaddr *)&app_rtp, (struct sockaddr *)&app_rtcp);
	relay_set_far(r, (struct sockaddr *)&far_rtp, (struct sockaddr *)&far_rtcp);

	send_to(app[0], local, lp, "rtp from the app");
	expect_from(w, far[0], "rtp from the app", net, np);
	send_to(app[1], local, lp + 1, "rtcp from the app");
	expect_from(w, far[1], "rtcp from the app", net, np + 1);
	send_to(far[0], net, np, "rtp from the far end");
	expect_from(w, app[0], "rtp from the far end", local, lp);
	send_to(far[1], net, np + 1, "rtcp from the far end");
	expect_from(w, app[1], "rtcp from the far end", local, lp + 1);
	/* rtcp-mux (RFC 5761): RTCP on the RTP port stays on the RTP ports */
	send_to(app[0], local, lp, "\x80\xc8 muxed rtcp");
	expect_from(w, far[0], "\x80\xc8 muxed rtcp", net, np);
	send_to(far[0], net, np, "\x80\xc9 muxed rtcp back");
	expect_from(w, app[0], "\x80\xc9 muxed rtcp back", local, lp);

	relay_get_stats(r, &st);
	assert_int_equal(st.to_net.packets, 3);
	assert_int_equal(st.to_net.bytes, strlen("rtp from the app") + strlen("rtcp from the app") +
					   strlen("\x80\xc8 muxed rtcp"));
	assert_int_equal(st.to_app.packets, 3);
	assert_int_equal(st.to_app.bytes, strlen("rtp from the far end") +
					   strlen("rtcp from the far end") +
					   strlen("\x80\xc9 muxed rtcp back"));
	assert_int_equal(st.to_net.dropped, 0);
	assert_int_equal(st.to_app.dropped, 0);
	assert_true(st.rtp_latched);
	assert_true(st.rtcp_latched);
	relay_free(r);
	for (int i = 0; i < 2; i++) {
		close(app[i]);
		close(far[i]);
	}
}

static void test_forward_ipv4(void **state)
{
	forward(*state, "127.0.0.1", "127.0.0.2", "127.0.0.1", "127.0.0.5");
	/* a trusted (global) far end address */
	forward(*state, "127.0.0.1", "127.0.0.2", "127.0.0.1", "192.0.2.1");
}

static void test_forward_ipv6(void **state)
{
	forward(*state, "::1", "2001:db8::2", "::1", "2001:db8::5");
	/* an IPv4 application, an IPv6 network, and the other way round */
	forward(*state, "127.0.0.1", "2001:db8::2", "127.0.0.1", "2001:db8::5");
	forward(*state, "::1", "127.0.0.2", "::1", "192.0.2.1");
}

/* The far end's SDP names 192.0.2.1 (global: trusted); it sends from
 * another port than it announced.  A spoofer at another address is
 * dropped before and after; the first datagram from 192.0.2.1 latches
 * its port, and afterwards only that source counts. */
static void test_latch_trusted(void **state)
{
	struct world *w = *state;
	struct sockaddr_storage app_a, far_sdp, far_real, spoof_a, rtcp = { 0 };
	int app = udp("127.0.0.1", 0, &app_a);
	int far_announced = udp("192.0.2.1", 0, &far_sdp);
	int far = udp("192.0.2.1", 0, &far_real);
	int spoofer = udp("198.51.100.1", 0, &spoof_a);
	struct relay *r = new_relay(w, "127.0.0.1", "127.0.0.2");
	uint16_t lp = relay_local_port(r), np = relay_net_port(r);
	struct relay_stats st;

	relay_set_app(r, (struct sockaddr *)&app_a, NULL);
	relay_set_far(r, (struct sockaddr *)&far_sdp, (struct sockaddr *)&rtcp);

	/* before latching: to the SDP's address */
	send_to(app, "127.0.0.1", lp, "hello sdp address");
	expect_from(w, far_announced, "hello sdp address", "127.0.0.2", np);

	send_to(spoofer, "127.0.0.2", np, "spoofed");
	send_to(far, "127.0.0.2", np, "genuine");
	expect(w, app, "genuine", NULL);        /* not "spoofed" */
	relay_get_stats(r, &st);
	assert_true(st.rtp_latched);
	assert_false(st.rtcp_latched);
	assert_int_equal(st.to_app.dropped, 1);

	/* latched: to where the far end sends from */
	send_to(app, "127.0.0.1", lp, "to the latched port");
	expect_from(w, far, "to the latched port", "127.0.0.2", np);

	/* only the latched source now: not the spoofer, not the far end's
	 * other port */
	send_to(spoofer, "127.0.0.2", np, "spoofed again");
	send_to(far_announced, "127.0.0.2", np, "other port");
	send_to(far, "127.0.0.2", np, "genuine again");
	expect(w, app, "genuine again", NULL);
	relay_get_stats(r, &st);
	assert_int_equal(st.to_app.dropped, 3);
	assert_int_equal(st.to_app.packets, 2);

	/* the same SDP again (a session refresh) keeps the latch */
	relay_set_far(r, (struct sockaddr *)&far_sdp, (struct sockaddr *)&rtcp);
	send_to(app, "127.0.0.1", lp, "still latched");
	expect_from(w, far, "still latched", "127.0.0.2", np);

	relay_free(r);
	close(app);
	close(far_announced);
	close(far);
	close(spoofer);
}

/* The far end's SDP names a private address (its NAT's inside): the first
 * datagram from anywhere latches; then others are dropped.  A new SDP
 * address starts over. */
static void test_latch_untrusted(void **state)
{
	struct world *w = *state;
	struct sockaddr_storage app_a, nat_a, other_a, inside = sa("10.1.2.3", 5004), far2_a;
	int app = udp("127.0.0.1", 0, &app_a);
	int nat = udp("198.51.100.1", 0, &nat_a);
	int other = udp("192.0.2.1", 0, &other_a);
	int far2 = udp("192.0.2.1", 0, &far2_a);
	struct relay *r = new_relay(w, "127.0.0.1", "127.0.0.2");
	uint16_t lp = relay_local_port(r), np = relay_net_port(r);
	struct relay_stats st;

	relay_set_app(r, (struct sockaddr *)&app_a, NULL);
	relay_set_far(r, (struct sockaddr *)&inside, NULL);

	send_to(nat, "127.0.0.2", np, "through the nat");
	expect(w, app, "through the nat", NULL);
	send_to(app, "127.0.0.1", lp, "back through the nat");
	expect_from(w, nat, "back through the nat", "127.0.0.2", np);
	send_to(other, "127.0.0.2", np, "late");
	send_to(nat, "127.0.0.2", np, "nat again");
	expect(w, app, "nat again", NULL);
	relay_get_stats(r, &st);
	assert_int_equal(st.to_app.dropped, 1);

	/* a re-INVITE with a new (trusted) address: only it now */
	relay_set_far(r, (struct sockaddr *)&far2_a, NULL);
	relay_get_stats(r, &st);
	assert_false(st.rtp_latched);
	send_to(app, "127.0.0.1", lp, "to the new sdp address");
	expect_from(w, far2, "to the new sdp address", "127.0.0.2", np);
	send_to(nat, "127.0.0.2", np, "old nat");
	send_to(far2, "127.0.0.2", np, "new far end");
	expect(w, app, "new far end", NULL);

	/* no SDP address at all (hold, a host name): latches on anything */
	relay_set_far(r, NULL, NULL);
	send_to(app, "127.0.0.1", lp, "nowhere to go");
	wait_dropped(w, r, 1, 2);
	send_to(other, "127.0.0.2", np, "anyone");
	expect(w, app, "anyone", NULL);
	send_to(app, "127.0.0.1", lp, "to anyone");
	expect_from(w, other, "to anyone", "127.0.0.2", np);
	relay_get_stats(r, &st);
	assert_int_equal(st.to_net.dropped, 1);         /* "nowhere to go" */

	relay_free(r);
	close(app);
	close(nat);
	close(other);
	close(far2);
}

/* The local side: only loopback sources; nothing to send to before the
 * SDPs. */
static void test_local_side(void **state)
{
	struct world *w = *state;
	struct sockaddr_storage app_a, far_a;
	int app = udp("127.0.0.1", 0, &app_a);
	int app_other = udp("127.0.0.9", 0, NULL);
	int outsider = udp("192.0.2.1", 0, NULL);       /* this host's, but not loopback */
	int far = udp("127.0.0.5", 0, &far_a);
	struct sockaddr_storage bound_a;
	int bound = udp("198.51.100.1", 0, &bound_a);
	struct relay *r = new_relay(w, "127.0.0.1", "127.0.0.2");
	uint16_t lp = relay_local_port(r), np = relay_net_port(r);
	struct relay_stats st;

	/* no destinations yet: dropped both ways (the far end's datagram
	 * latches the network side, there being no SDP address) */
	send_to(app, "127.0.0.1", lp, "too early");
	wait_dropped(w, r, 1, 0);
	send_to(far, "127.0.0.2", np, "too early too");
	wait_dropped(w, r, 1, 1);
	relay_set_app(r, (struct sockaddr *)&app_a, NULL);
	relay_set_far(r, (struct sockaddr *)&far_a, NULL);
	send_to(far, "127.0.0.2", np, "now");
	expect(w, app, "now", NULL);
	send_to(app, "127.0.0.1", lp, "now too");
	expect(w, far, "now too", NULL);

	send_to(outsider, "127.0.0.1", lp, "not from loopback");
	send_to(app_other, "127.0.0.1", lp, "from loopback");  /* any loopback port counts */
	expect(w, far, "from loopback", NULL);
	relay_get_stats(r, &st);
	assert_int_equal(st.to_net.dropped, 2);
	assert_int_equal(st.to_net.packets, 2);
	assert_int_equal(st.to_app.dropped, 1);
	assert_int_equal(st.to_app.packets, 1);

	/* an application bound to an interface address (198.51.100.1) sends
	 * from it: that address counts, others still do not */
	relay_set_app(r, (struct sockaddr *)&bound_a, NULL);
	send_to(outsider, "127.0.0.1", lp, "still not");
	send_to(bound, "127.0.0.1", lp, "from the app's address");
	expect(w, far, "from the app's address", NULL);
	send_to(far, "127.0.0.2", np, "to the app's address");
	expect_from(w, bound, "to the app's address", "127.0.0.1", lp);
	relay_get_stats(r, &st);
	assert_int_equal(st.to_net.dropped, 3);

	relay_free(r);
	close(app);
	close(app_other);
	close(outsider);
	close(far);
	close(bound);
}

/* Two pairs per relay; a full pool says so; ports another process holds
 * are skipped; errors give every port back. */
static void test_pool(void **state)
{
	struct world *w = *state;
	struct relay_pool *p = relay_pool_new(w->loop, 41000, 41005);
	struct sockaddr_storage l = sa("127.0.0.1", 0), n = sa("127.0.0.2", 0);
	struct sockaddr_storage away = sa("203.0.113.9", 0);
	struct relay *r = NULL, *r2 = NULL;
	uint16_t lo, hi;
	int taken;

	assert_non_null(p);
	relay_pool_range(p, &lo, &hi);
	assert_int_equal(lo, 41000);
	assert_int_equal(hi, 41005);
	assert_int_equal(relay_pool_free_pairs(p), 3);

	/* someone else has 127.0.0.1:41000 */
	taken = udp("127.0.0.1", 41000, NULL);
	assert_int_equal(relay_new(p, "a", (struct sockaddr *)&l, "lo", (struct sockaddr *)&n, &r), 0);
	assert_int_equal(relay_local_port(r), 41002);
	assert_int_equal(relay_net_port(r), 41004);
	assert_int_equal(relay_pool_free_pairs(p), 1);
	assert_int_equal(relay_new(p, "b", (struct sockaddr *)&l, "lo", (struct sockaddr *)&n, &r2),
			 -ENOSPC);
	assert_null(r2);
	assert_int_equal(relay_pool_free_pairs(p), 1);
	close(taken);
	r = relay_free(r);
	assert_int_equal(relay_pool_free_pairs(p), 3);

	/* errors leave nothing behind */
	assert_int_equal(relay_new(p, "c", (struct sockaddr *)&l, "nosuchif0", (struct sockaddr *)&n,
				   &r), -ENODEV);
	assert_int_equal(relay_new(p, "d", (struct sockaddr *)&l, "lo", (struct sockaddr *)&away, &r),
			 -EADDRNOTAVAIL);
	assert_int_equal(relay_new(p, "e", (struct sockaddr *)&l, "lo", NULL, &r), -EINVAL);
	assert_null(r);
	assert_int_equal(relay_pool_free_pairs(p), 3);
	relay_pool_free(p);

	/* a bad range */
	errno = 0;
	assert_null(relay_pool_new(w->loop, 41001, 41005));
	assert_int_equal(errno, EINVAL);
	assert_null(relay_pool_new(w->loop, 41000, 41000));
	assert_null(relay_pool_new(w->loop, 41002, 41000));
	relay_pool_free(NULL);
	relay_free(NULL);
}

/* Moving the network side to 127.0.0.3: both pairs receive, the old one
 * sends until the commit; then the new one sends and the old one's ports
 * are free.  A cancelled move closes the new pair. */
static void test_move_network(void **state)
{
	struct world *w = *state;
	struct sockaddr_storage app_a, far_a, new_addr = sa("127.0.0.3", 0), bad = sa("203.0.113.9", 0);
	int app = udp("127.0.0.1", 0, &app_a);
	int far = udp("127.0.0.5", 0, &far_a);
	struct relay *r = new_relay(w, "127.0.0.1", "127.0.0.2");
	uint16_t lp = relay_local_port(r), old = relay_net_port(r), np, cancelled;
	unsigned int free_pairs = relay_pool_free_pairs(w->pool);
	struct relay_stats st;
	int fd;

	relay_set_app(r, (struct sockaddr *)&app_a, NULL);
	relay_set_far(r, (struct sockaddr *)&far_a, NULL);
	send_to(far, "127.0.0.2", old, "before");
	expect(w, app, "before", NULL);

	/* a failed move changes nothing */
	assert_int_equal(relay_move_network(r, "lo", (struct sockaddr *)&bad), -EADDRNOTAVAIL);
	assert_false(relay_move_pending(r));
	assert_int_equal(relay_net_port(r), old);
	assert_int_equal(relay_pool_free_pairs(w->pool), free_pairs);

	/* cancelled */
	assert_int_equal(relay_move_network(r, "lo", (struct sockaddr *)&new_addr), 0);
	cancelled = relay_net_port(r);
	assert_int_not_equal(cancelled, old);
	relay_cancel_move(r);
	assert_false(relay_move_pending(r));
	assert_int_equal(relay_net_port(r), old);
	assert_int_equal(relay_pool_free_pairs(w->pool), free_pairs);
	fd = udp("127.0.0.3", cancelled, NULL);         /* closed: it can be bound */
	close(fd);

	assert_int_equal(relay_move_network(r, "lo", (struct sockaddr *)&new_addr), 0);
	assert_true(relay_move_pending(r));
	np = relay_net_port(r);
	assert_int_not_equal(np, old);
	assert_int_equal(relay_local_port(r), lp);
	assert_int_equal(relay_pool_free_pairs(w->pool), free_pairs - 1);

	/* both receive; the old one still sends */
	send_to(far, "127.0.0.2", old, "to the old pair");
	expect(w, app, "to the old pair", NULL);
	send_to(far, "127.0.0.3", np, "to the new pair");
	expect(w, app, "to the new pair", NULL);
	send_to(app, "127.0.0.1", lp, "out of the old pair");
	expect_from(w, far, "out of the old pair", "127.0.0.2", old);

	relay_commit_network(r);
	assert_false(relay_move_pending(r));
	assert_int_equal(relay_net_port(r), np);
	assert_int_equal(relay_pool_free_pairs(w->pool), free_pairs);
	send_to(app, "127.0.0.1", lp, "out of the new pair");
	expect_from(w, far, "out of the new pair", "127.0.0.3", np);
	fd = udp("127.0.0.2", old, NULL);               /* the old pair is closed */
	close(fd);
	fd = udp("127.0.0.2", old + 1, NULL);
	close(fd);
	relay_get_stats(r, &st);
	assert_true(st.rtp_latched);    /* the new pair's, from "to the new pair" */
	assert_int_equal(st.to_app.packets, 3);
	relay_commit_network(r);        /* nothing pending: nothing happens */
	assert_int_equal(relay_net_port(r), np);

	relay_free(r);
	close(app);
	close(far);
}

/* A burst larger than one read (RELAY_BATCH) arrives whole and in order. */
static void test_burst(void **state)
{
	struct world *w = *state;
	struct sockaddr_storage app_a, far_a;
	int app = udp("127.0.0.1", 0, &app_a);
	int far = udp("127.0.0.5", 0, &far_a);
	struct relay *r = new_relay(w, "127.0.0.1", "127.0.0.2");
	uint16_t lp = relay_local_port(r);
	struct relay_stats st;
	char buf[32];

	relay_set_app(r, (struct sockaddr *)&app_a, NULL);
	relay_set_far(r, (struct sockaddr *)&far_a, NULL);
	for (int i = 0; i < 3 * RELAY_BATCH + 1; i++) {
		snprintf(buf, sizeof(buf), "packet %d", i);
		send_to(app, "127.0.0.1", lp, buf);
	}
	for (int i = 0; i < 3 * RELAY_BATCH + 1; i++) {
		snprintf(buf, sizeof(buf), "packet %d", i);
		expect(w, far, buf, NULL);
	}
	relay_get_stats(r, &st);
	assert_int_equal(st.to_net.packets, 3 * RELAY_BATCH + 1);
	relay_free(r);
	close(app);
	close(far);
}

/* IPv6 addresses become local (their routes in the local table) a moment
 * after `ip addr add` returns, even with nodad (the kernel finishes in a
 * work queue): until then a datagram to one is dropped on the way in.  So
 * wait for one from 2001:db8::2 to reach 2001:db8::5, at most 5 s. */
static bool ipv6_ready(void)
{
	struct sockaddr_storage to, from = sa("2001:db8::2", 0);
	int rx, tx;
	bool ok = false;

	to = sa("2001:db8::5", 0);
	rx = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	tx = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (rx < 0 || tx < 0 || bind(rx, (struct sockaddr *)&to, sa_len(&to)) < 0 ||
	    bind(tx, (struct sockaddr *)&from, sa_len(&from)) < 0)
		goto out;
	{
		socklen_t len = sizeof(to);

		getsockname(rx, (struct sockaddr *)&to, &len);
	}
	for (int i = 0; i < 500 && !ok; i++) {
		struct pollfd pfd = { .fd = rx, .events = POLLIN };

		sendto(tx, "x", 1, 0, (struct sockaddr *)&to, sa_len(&to));
		ok = poll(&pfd, 1, 10) == 1;
	}
out:
	if (rx >= 0)
		close(rx);
	if (tx >= 0)
		close(tx);
	return ok;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_forward_ipv4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward_ipv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_latch_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_latch_untrusted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_side, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_network, setup, teardown),
		cmocka_unit_test_setup_teardown(test_burst, setup, teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test-relay: needs root (a network namespace), skipped\n");
		return 77;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test-relay: unshare(CLONE_NEWNET): %m, skipped\n");
		return 77;
	}
	/* loopback, and this host's "global" addresses on it: the far end's
	 * (192.0.2.1, 2001:db8::5), a spoofer's (198.51.100.1), the network
	 * side's IPv6 one (2001:db8::2) */
	if (system("ip link set lo up && ip addr add 192.0.2.1/32 dev lo && "
		   "ip addr add 198.51.100.1/32 dev lo && "
		   "ip addr add 2001:db8::2/128 dev lo nodad && "
		   "ip addr add 2001:db8::5/128 dev lo nodad") != 0) {
		fprintf(stderr, "test-relay: no working ip(8) or IPv6, skipped\n");
		return 77;
	}
	if (!ipv6_ready()) {
		fprintf(stderr, "test-relay: 2001:db8::5 never became reachable, skipped\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
