/* The socket transports (sip/transport.c): what sip_icmp_judge() makes of
 * an ICMP error (table-driven), and real UDP sockets on the loopback that
 * read ICMP port unreachable from their error queue, in the read path and
 * when a sendto() finds the socket's pending error. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdatomic.h>

#include "sip/transport.h"

#define BRANCH  "z9hG4bK0123456789abcdef0123456789abcdef"
#define REQUEST "REGISTER sip:10.0.9.1 SIP/2.0\r\n" \
		"Via: SIP/2.0/UDP 10.0.1.2:6000;rport;branch=" BRANCH "\r\n" \
		"Max-Forwards: 70\r\n\r\n"

static void set4(struct sockaddr_storage *ss, const char *addr, unsigned port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
}

static void set6(struct sockaddr_storage *ss, const char *addr, unsigned port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
}

/* ---- sip_icmp_judge() -------------------------------------------------- */

struct judge_case {
	const char *what;
	bool icmp6;
	int type, code;
	const char *offender;           /* NULL: unknown */
	const char *about;              /* the datagram's destination address */
	unsigned port;
	size_t quote;                   /* bytes of REQUEST quoted; ~0: all */
	enum sip_icmp_verdict want;
	int want_error;
};

#define ALL ((size_t)~0)

static const struct judge_case judge_cases[] = {
	{ "port unreachable from the registrar", false, 3, 3, "10.0.9.1", "10.0.9.1", 5060,
	  ALL, SIP_ICMP_PORT_CLOSED, -ECONNREFUSED },
	{ "protocol unreachable from the registrar", false, 3, 2, "10.0.9.1", "10.0.9.1", 5060,
	  ALL, SIP_ICMP_PORT_CLOSED, -ECONNREFUSED },
	{ "port unreachable from a router", false, 3, 3, "10.0.1.1", "10.0.9.1", 5060,
	  ALL, SIP_ICMP_IGNORED, 0 },
	{ "port unreachable, offender unknown", false, 3, 3, NULL, "10.0.9.1", 5060,
	  ALL, SIP_ICMP_IGNORED, 0 },
	{ "net unreachable from a router", false, 3, 0, "10.0.1.1", "10.0.9.1", 5060,
	  ALL, SIP_ICMP_NO_PATH, -ENETUNREACH },
	{ "host unreachable from a router", false, 3, 1, "10.0.1.1", "10.0.9.1", 5060,
	  ALL, SIP_ICMP_NO_PATH, -EHOSTUNREACH },
	{ "host unreachable, offender unknown", false, 3, 1, NULL, "10.0.9.1", 5060,
	  ALL, SIP_ICMP_NO_PATH, -EHOSTUNREACH },
	{ "administratively prohibited", false, 3, 13, "10.0.1.1", "10.0.9.1", 5060,
	  ALL, SIP_ICMP_NO_PATH, -EHOSTUNREACH },
	{ "net prohibited", false, 3, 9, "10.0.1.1", "10.0.9.1", 5060,
	  ALL, SIP_ICMP_NO_PATH, -ENETUNREACH },
	{ "fragmentation needed", false, 3, 4, "10.0.1.1", "10.0.9.1", 5060,
	  ALL, SIP_ICMP_IGNORED, 0 },
	{ "time exceeded", false, 11, 0, "10.0.1.1", "10.0.9.1", 5060,
	  ALL, SIP_ICMP_IGNORED, 0 },
	{ "parameter problem", false, 12, 0, "10.0.1.1", "10.0.9.1", 5060,
	  ALL, SIP_ICMP_IGNORED, 0 },
	{ "about another host", false, 3, 1, "10.0.1.1", "10.0.9.2", 5060,
	  ALL, SIP_ICMP_IGNORED, 0 },
	{ "about another port", false, 3, 3, "10.0.9.1", "10.0.9.1", 5061,
	  ALL, SIP_ICMP_IGNORED, 0 },
	{ "quoting 8 bytes (headers only)", false, 3, 1, "10.0.1.1", "10.0.9.1", 5060,
	  0, SIP_ICMP_IGNORED, 0 },
	{ "quote cut inside the branch", false, 3, 3, "10.0.9.1", "10.0.9.1", 5060,
	  sizeof(REQUEST) - 1 - 30, SIP_ICMP_IGNORED, 0 },
	{ "ICMPv6 port unreachable from the registrar", true, 1, 4, "fd00::9", "fd00::9", 5060,
	  ALL, SIP_ICMP_PORT_CLOSED, -ECONNREFUSED },
	{ "ICMPv6 port unreachable from a router", true, 1, 4, "fd00:1::1", "fd00::9", 5060,
	  ALL, SIP_ICMP_IGNORED, 0 },
	{ "ICMPv6 no route", true, 1, 0, "fd00:1::1", "fd00::9", 5060,
	  ALL, SIP_ICMP_NO_PATH, -ENETUNREACH },
	{ "ICMPv6 address unreachable", true, 1, 3, "fd00:1::1", "fd00::9", 5060,
	  ALL, SIP_ICMP_NO_PATH, -EHOSTUNREACH },
	{ "ICMPv6 prohibited", true, 1, 1, "fd00:1::1", "fd00::9", 5060,
	  ALL, SIP_ICMP_NO_PATH, -EHOSTUNREACH },
	{ "ICMPv6 packet too big", true, 2, 0, "fd00:1::1", "fd00::9", 5060,
	  ALL, SIP_ICMP_IGNORED, 0 },
	{ "ICMPv6 time exceeded", true, 3, 0, "fd00:1::1", "fd00::9", 5060,
	  ALL, SIP_ICMP_IGNORED, 0 },
};

static void test_judge(void **state)
{
	struct sockaddr_storage dest4, dest6;

	set4(&dest4, "10.0.9.1", 5060);
	set6(&dest6, "fd00::9", 5060);
	for (size_t i = 0; i < sizeof(judge_cases) / sizeof(judge_cases[0]); i++) {
		const struct judge_case *c = &judge_cases[i];
		struct sip_icmp_error e = {
			.icmp6 = c->icmp6, .type = (uint8_t)c->type,
			.code = (uint8_t)c->code, .error = EHOSTUNREACH,
			.quote = REQUEST,
			.quote_len = c->quote == ALL ? sizeof(REQUEST) - 1 : c->quote,
		};
		const char *why = NULL;
		int error = 1;
		enum sip_icmp_verdict v;

		if (c->icmp6) {
			set6(&e.dest, c->about, c->port);
			if (c->offender)
				set6(&e.offender, c->offender, 0);
		} else {
			set4(&e.dest, c->about, c->port);
			if (c->offender)
				set4(&e.offender, c->offender, 0);
		}
		v = sip_icmp_judge(&e, (struct sockaddr *)(c->icmp6 ? &dest6 : &dest4),
				   BRANCH, &error, &why);
		if (v != c->want || error != c->want_error)
			fail_msg("%s: %s (%d), want %s (%d)", c->what, sip_icmp_verdict_to_str(v),
				 error, sip_icmp_verdict_to_str(c->want), c->want_error);
		assert_true((v == SIP_ICMP_IGNORED) == (why != NULL));
		/* Another request to the same place: its branch is not quoted. */
		v = sip_icmp_judge(&e, (struct sockaddr *)(c->icmp6 ? &dest6 : &dest4),
				   "z9hG4bKffffffffffffffffffffffffffffffff", &error, NULL);
		assert_int_equal(v, SIP_ICMP_IGNORED);
		assert_int_equal(error, 0);
	}
}

/* ---- real sockets --------------------------------------------------------- */

#define MAX_ERRS 8

struct sink {
	struct sip_icmp_error e[MAX_ERRS];
	char quote[MAX_ERRS][2048];
	size_t n;
	bool in_send;                   /* the last one came from inside send() */
	bool sending;
	struct ev_loop *loop;
};

static void s_received(void *data, struct sip_transport *tp, const char *buf,
		       size_t len, const struct sockaddr *from)
{
}

static void s_failed(void *data, struct sip_transport *tp, int error)
{
	fail_msg("transport failed: %s", strerror(-error));
}

static void s_unreachable(void *data, struct sip_transport *tp,
			  const struct sip_icmp_error *e)
{
	struct sink *k = data;
	size_t n;

	assert_true(k->n < MAX_ERRS);
	n = e->quote_len < sizeof(k->quote[0]) ? e->quote_len : sizeof(k->quote[0]);
	k->e[k->n] = *e;
	memcpy(k->quote[k->n], e->quote, n);
	k->e[k->n].quote = k->quote[k->n];
	k->e[k->n].quote_len = n;
	k->in_send = k->sending;
	k->n++;
	ev_break(k->loop, EVBREAK_ONE);
}

static const struct sip_transport_cbs sink_cbs = {
	.received = s_received,
	.failed = s_failed,
	.unreachable = s_unreachable,
};

/* A UDP port of @family's loopback that nothing listens on (now). */
static void closed_port(int family, struct sockaddr_storage *ret)
{
	socklen_t len = sizeof(*ret);
	int fd = socket(family, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	if (family == AF_INET)
		set4(ret, "127.0.0.1", 0);
	else
		set6(ret, "::1", 0);
	assert_int_equal(bind(fd, (struct sockaddr *)ret, sip_sockaddr_len((struct sockaddr *)ret)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)ret, &len), 0);
	close(fd);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	ev_break(loop, EVBREAK_ONE);
}

/* Run the loop until k holds n errors (the deadline only bounds a failure). */
static void wait_errors(struct sink *k, size_t n)
{
	ev_timer deadline;

	ev_timer_init(&deadline, deadline_cb, 5., 0.);
	ev_timer_start(k->loop, &deadline);
	while (k->n < n && ev_is_active(&deadline))
		ev_run(k->loop, EVRUN_ONCE);
	ev_timer_stop(k->loop, &deadline);
	assert_int_equal(k->n, n);
}

static void loopback_port_unreachable(int family)
{
	struct sink k = { .loop = ev_loop_new(EVFLAG_AUTO) };
	struct sockaddr_storage local, a, b;
	struct sip_transport *tp = NULL;
	int error = 0, r;

	if (family == AF_INET)
		set4(&local, "127.0.0.1", 0);
	else
		set6(&local, "::1", 0);
	r = sip_transport_socket_class.open(k.loop, SIP_PROTO_UDP, "lo",
					    (struct sockaddr *)&local, NULL, NULL, &sink_cbs, &k, &tp);
	if (r == -EADDRNOTAVAIL && family == AF_INET6) {
		ev_loop_destroy(k.loop);
		return;                 /* no IPv6 on this loopback */
	}
	if (r == -EPERM) {
		ev_loop_destroy(k.loop);
		skip();                 /* SO_BINDTODEVICE needs CAP_NET_RAW here */
	}
	assert_int_equal(r, 0);
	closed_port(family, &a);
	closed_port(family, &b);

	/* To a: the loopback answers port unreachable before sendto()
	 * returns; the socket holds it as its pending error. */
	assert_int_equal(tp->cls->send(tp, (struct sockaddr *)&a, REQUEST, sizeof(REQUEST) - 1), 0);
	/* To b: that pending error is a's, not b's: the datagram goes
	 * anyway, and a's error is read on the way. */
	k.sending = true;
	r = tp->cls->send(tp, (struct sockaddr *)&b, "x", 1);
	k.sending = false;
	assert_int_equal(r, 0);
	assert_int_equal(k.n, 1);
	assert_true(k.in_send);
	/* b's comes through the read path. */
	wait_errors(&k, 2);
	assert_false(k.in_send);

	assert_int_equal(k.e[0].icmp6, family == AF_INET6);
	assert_int_equal(k.e[0].type, family == AF_INET ? 3 : 1);
	assert_int_equal(k.e[0].code, family == AF_INET ? 3 : 4);
	assert_int_equal(k.e[0].error, ECONNREFUSED);
	assert_true(sip_sockaddr_equal((struct sockaddr *)&k.e[0].dest, (struct sockaddr *)&a));
	assert_true(sip_sockaddr_same_host((struct sockaddr *)&k.e[0].offender,
					   (struct sockaddr *)&a));
	assert_int_equal(k.e[0].quote_len, sizeof(REQUEST) - 1);
	assert_memory_equal(k.e[0].quote, REQUEST, sizeof(REQUEST) - 1);
	assert_int_equal(sip_icmp_judge(&k.e[0], (struct sockaddr *)&a, BRANCH, &error, NULL),
			 SIP_ICMP_PORT_CLOSED);
	assert_int_equal(error, -ECONNREFUSED);
	/* a's error says nothing of a request to b */
	assert_int_equal(sip_icmp_judge(&k.e[0], (struct sockaddr *)&b, BRANCH, &error, NULL),
			 SIP_ICMP_IGNORED);
	assert_true(sip_sockaddr_equal((struct sockaddr *)&k.e[1].dest, (struct sockaddr *)&b));
	assert_int_equal(k.e[1].quote_len, 1);

	tp->cls->close(tp);
	ev_loop_destroy(k.loop);
}

/* ---- TCP keepalives (RFC 5626 §4.4.1) ---- */

struct ka_sink {
	struct ev_loop *loop;
	int failed;                     /* the error; 0: not failed */
	size_t received;
};

static void ka_received(void *data, struct sip_transport *tp, const char *buf,
			size_t len, const struct sockaddr *from)
{
	((struct ka_sink *)data)->received++;
}

static void ka_failed(void *data, struct sip_transport *tp, int error)
{
	struct ka_sink *k = data;

	k->failed = error;
	ev_break(k->loop, EVBREAK_ONE);
}

static const struct sip_transport_cbs ka_cbs = {
	.received = ka_received,
	.failed = ka_failed,
};

/* Run @loop until @fd is readable or the connection failed; then read
 * what came.  The deadline only bounds a failure. */
static ssize_t ka_read(struct ka_sink *k, int fd, char *buf, size_t size)
{
	ev_timer deadline;
	ssize_t n = -1;

	ev_timer_init(&deadline, deadline_cb, 5., 0.);
	ev_timer_start(k->loop, &deadline);
	while (ev_is_active(&deadline) && !k->failed) {
		n = recv(fd, buf, size, MSG_DONTWAIT);
		if (n > 0)
			break;
		ev_run(k->loop, EVRUN_ONCE);
	}
	ev_timer_stop(k->loop, &deadline);
	return n;
}

/* A ping after the interval; a pong (CRLF, which the framer skips) keeps
 * the connection; a ping left unanswered past the timeout fails it with
 * -ETIMEDOUT. */
static void test_tcp_keepalive(void **state)
{
	struct ka_sink k = { .loop = ev_loop_new(EVFLAG_AUTO) };
	struct sockaddr_storage local, srv;
	socklen_t len = sizeof(srv);
	struct sip_transport *tp = NULL;
	char buf[64];
	ev_timer deadline;
	int lfd, cfd, r;

	set4(&local, "127.0.0.1", 0);
	set4(&srv, "127.0.0.1", 0);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&srv, sizeof(struct sockaddr_in)), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&srv, &len), 0);
	assert_int_equal(listen(lfd, 1), 0);
	r = sip_transport_socket_class.open(k.loop, SIP_PROTO_TCP, "lo",
					    (struct sockaddr *)&local, (struct sockaddr *)&srv,
					    NULL, &ka_cbs, &k, &tp);
	if (r == -EPERM) {
		close(lfd);
		ev_loop_destroy(k.loop);
		skip();                 /* SO_BINDTODEVICE needs CAP_NET_RAW here */
	}
	assert_int_equal(r, 0);
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	tp->cls->keepalive(tp, 50, 200);

	/* The first ping; the pong. */
	assert_int_equal(ka_read(&k, cfd, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "\r\n\r\n", 4);
	assert_int_equal(send(cfd, "\r\n", 2, 0), 2);
	/* The next ping comes: the pong kept the connection. */
	assert_int_equal(ka_read(&k, cfd, buf, sizeof(buf)), 4);
	assert_int_equal(k.failed, 0);
	assert_int_equal(k.received, 0);        /* a pong is not a message */
	/* Silence: failed, -ETIMEDOUT. */
	ev_timer_init(&deadline, deadline_cb, 5., 0.);
	ev_timer_start(k.loop, &deadline);
	while (!k.failed && ev_is_active(&deadline))
		ev_run(k.loop, EVRUN_ONCE);
	ev_timer_stop(k.loop, &deadline);
	assert_int_equal(k.failed, -ETIMEDOUT);

	tp->cls->close(tp);
	close(cfd);
	close(lfd);
	ev_loop_destroy(k.loop);
}

static void test_udp_reads_icmp_errors(void **state)
{
	loopback_port_unreachable(AF_INET);
}

static void test_udp6_reads_icmp_errors(void **state)
{
	loopback_port_unreachable(AF_INET6);
}

/* TLS failures in words (docs/sip.md, "TLS"): what profile.error shows. */
static void test_tls_describe(void **state)
{
	char buf[SIP_TRANSPORT_WHY_MAX];

	(void)state;
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
	assert_int_equal(sip_tls_describe(X509_V_ERR_HOSTNAME_MISMATCH, 0, false,
					  "registrar.example.test", buf, sizeof(buf)),
			 SIP_TLS_EVERIFY);
	assert_string_equal(buf, "host name mismatch: the server's certificate is not for "
			    "registrar.example.test");
	assert_int_equal(sip_tls_describe(X509_V_ERR_IP_ADDRESS_MISMATCH, 0, false, "10.0.0.1",
					  buf, sizeof(buf)), SIP_TLS_EVERIFY);
	assert_non_null(strstr(buf, "host name mismatch"));
	assert_int_equal(sip_tls_describe(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 0, false,
					  "r", buf, sizeof(buf)), SIP_TLS_EVERIFY);
	assert_string_equal(buf, "certificate verify failed: unable to get local issuer certificate");
	assert_int_equal(sip_tls_describe(X509_V_ERR_CERT_HAS_EXPIRED, 0, false, "r",
					  buf, sizeof(buf)), SIP_TLS_EVERIFY);
	assert_string_equal(buf, "certificate verify failed: certificate has expired");
	assert_int_equal(sip_tls_describe(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, 0, false, "r",
					  buf, sizeof(buf)), SIP_TLS_EVERIFY);
	assert_string_equal(buf, "certificate verify failed: self-signed certificate");
	/* not TLS at all at the other end (a SIP server on 5061 over TCP) */
	assert_int_equal(sip_tls_describe(X509_V_OK, ERR_PACK(ERR_LIB_SSL, 0,
							      SSL_R_WRONG_VERSION_NUMBER),
					  false, "r", buf, sizeof(buf)), SIP_TLS_EHANDSHAKE);
	assert_string_equal(buf, "handshake failed: wrong version number");
	assert_int_equal(sip_tls_describe(X509_V_OK, 0, true, "r", buf, sizeof(buf)),
			 SIP_TLS_EHANDSHAKE);
	assert_string_equal(buf, "handshake failed: the server closed the connection");
	assert_int_equal(sip_tls_describe(X509_V_OK, 0, false, "r", buf, sizeof(buf)),
			 SIP_TLS_EHANDSHAKE);
	assert_string_equal(buf, "handshake failed");
	/* cut, never overrun */
	assert_int_equal(sip_tls_describe(X509_V_ERR_CERT_HAS_EXPIRED, 0, false, "r", buf, 12),
			 SIP_TLS_EVERIFY);
	assert_int_equal(strlen(buf), 11);
}

/* The TLS class refuses what it cannot use, before any socket. */
static void test_tls_open_checks(void **state)
{
	struct sockaddr_in local = { .sin_family = AF_INET }, remote = { .sin_family = AF_INET };
	struct sip_tls *tls = sip_tls_new();
	struct sip_transport_peer peer = { "", NULL, tls };
	struct sip_transport *tp = NULL;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

	(void)state;
	assert_non_null(tls);
	inet_pton(AF_INET, "127.0.0.1", &local.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
	remote.sin_port = htons(5061);
	assert_int_equal(sip_transport_tls_class.open(loop, SIP_PROTO_TLS, "lo",
						      (struct sockaddr *)&local,
						      (struct sockaddr *)&remote, &peer,
						      &sink_cbs, NULL, &tp), -EINVAL);
	assert_int_equal(sip_transport_tls_class.open(loop, SIP_PROTO_TLS, "lo",
						      (struct sockaddr *)&local,
						      (struct sockaddr *)&remote, NULL,
						      &sink_cbs, NULL, &tp), -EINVAL);
	peer.name = "registrar.example.test";
	assert_int_equal(sip_transport_tls_class.open(loop, SIP_PROTO_TCP, "lo",
						      (struct sockaddr *)&local,
						      (struct sockaddr *)&remote, &peer,
						      &sink_cbs, NULL, &tp), -EINVAL);
	assert_null(tp);
	assert_int_equal(sip_tls_set_ca_file(tls, "/nonexistent/ca.pem"), 0);
	assert_int_equal(sip_tls_set_ca_file(tls, ""), 0);
	sip_tls_free(tls);
	ev_loop_destroy(loop);
}

/* ---- the TLS class against a server on the loopback ------------------- */

#define TLS_NAME  "registrar.test"
#define OPTIONS   "OPTIONS sip:alrd@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n"
#define BULK      100000        /* bytes the client sends: several records */

struct tls_server {
	int lfd;
	SSL_CTX *ctx;
	atomic_size_t got;      /* bytes read from the client */
	bool handshake_ok;
};

/* A self-signed certificate for TLS_NAME (its own trust anchor). */
static X509 *make_cert(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *n;
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)TLS_NAME, -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:" TLS_NAME);
	assert_non_null(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

/* One connection: the handshake; three messages (two in one record, one
 * in two); then read what the client sends until it closes. */
static void *tls_server_run(void *arg)
{
	struct tls_server *sv = arg;
	char buf[16384];
	SSL *ssl;
	int fd, n;

	fd = accept(sv->lfd, NULL, NULL);
	if (fd < 0)
		goto out;
	ssl = SSL_new(sv->ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1) {
		sv->handshake_ok = true;
		SSL_write(ssl, OPTIONS OPTIONS, (int)strlen(OPTIONS OPTIONS));
		SSL_write(ssl, OPTIONS, 20);
		SSL_write(ssl, OPTIONS + 20, (int)strlen(OPTIONS) - 20);
		/* until the client closes (it closes first: a close_notify
		 * of ours would race with its send) */
		while ((n = SSL_read(ssl, buf, sizeof(buf))) > 0)
			atomic_fetch_add(&sv->got, (size_t)n);
	}
	SSL_free(ssl);
	close(fd);
out:
	return NULL;
}

struct tls_sink {
	struct ev_loop *loop;
	int received;
	int failed;
	char why[SIP_TRANSPORT_WHY_MAX];
};

static void t_received(void *data, struct sip_transport *tp, const char *buf, size_t len,
		       const struct sockaddr *from)
{
	struct tls_sink *k = data;

	assert_int_equal(len, strlen(OPTIONS));
	assert_memory_equal(buf, OPTIONS, len);
	k->received++;
}

static void t_failed(void *data, struct sip_transport *tp, int error)
{
	struct tls_sink *k = data;

	k->failed = error;
	snprintf(k->why, sizeof(k->why), "%s", tp->why);
}

static const struct sip_transport_cbs tls_cbs = {
	.received = t_received,
	.failed = t_failed,
};

static bool run_until(struct tls_sink *k, bool (*cond)(struct tls_sink *, void *), void *arg)
{
	ev_timer deadline;

	ev_timer_init(&deadline, deadline_cb, 5., 0.);
	ev_timer_start(k->loop, &deadline);
	while (!cond(k, arg) && ev_is_active(&deadline))
		ev_run(k->loop, EVRUN_ONCE);
	ev_timer_stop(k->loop, &deadline);
	return cond(k, arg);
}

static bool three_received(struct tls_sink *k, void *arg)
{
	return k->received >= 3 || k->failed;
}

static bool server_got_bulk(struct tls_sink *k, void *arg)
{
	return atomic_load(&((struct tls_server *)arg)->got) >= BULK || k->failed;
}

static bool has_failed(struct tls_sink *k, void *arg)
{
	return k->failed != 0;
}

/* The real class over the loopback: handshake and verification against
 * a CA file, messages framed across and within records, a bulk send that
 * takes several writes, the counters; then the same server for another
 * name: refused, "host name mismatch", SIP_TLS_EVERIFY. */
static void test_tls_loopback(void **state)
{
	struct tls_sink k = { .loop = ev_loop_new(EVFLAG_AUTO) };
	struct tls_server sv = { .lfd = -1 };
	struct sockaddr_storage local, srv;
	socklen_t len = sizeof(srv);
	struct sip_tls *tls = sip_tls_new();
	struct sip_transport_peer peer = { TLS_NAME, NULL, tls };
	struct sip_transport *tp = NULL;
	struct sip_tls_stats st;
	char ca_path[] = "/tmp/alrt-tls-ca-XXXXXX";
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert;
	pthread_t th;
	FILE *f;
	char *bulk;
	int fd, r;

	(void)state;
	assert_non_null(key);
	cert = make_cert(key);
	fd = mkstemp(ca_path);
	assert_true(fd >= 0);
	fchmod(fd, 0644);
	f = fdopen(fd, "w");
	assert_non_null(f);
	PEM_write_X509(f, cert);
	fclose(f);
	assert_int_equal(sip_tls_set_ca_file(tls, ca_path), 0);

	sv.ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(sv.ctx);
	assert_int_equal(SSL_CTX_use_certificate(sv.ctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(sv.ctx, key), 1);
	set4(&local, "127.0.0.1", 0);
	set4(&srv, "127.0.0.1", 0);
	sv.lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(sv.lfd >= 0);
	assert_int_equal(bind(sv.lfd, (struct sockaddr *)&srv, sizeof(struct sockaddr_in)), 0);
	assert_int_equal(getsockname(sv.lfd, (struct sockaddr *)&srv, &len), 0);
	assert_int_equal(listen(sv.lfd, 2), 0);

	r = sip_transport_tls_class.open(k.loop, SIP_PROTO_TLS, "lo", (struct sockaddr *)&local,
					 (struct sockaddr *)&srv, &peer, &tls_cbs, &k, &tp);
	if (r == -EPERM) {
		close(sv.lfd);
		unlink(ca_path);
		skip();                 /* SO_BINDTODEVICE needs CAP_NET_RAW here */
	}
	assert_int_equal(r, 0);
	assert_int_equal(pthread_create(&th, NULL, tls_server_run, &sv), 0);
	assert_true(run_until(&k, three_received, NULL));
	assert_int_equal(k.failed, 0);
	assert_int_equal(k.received, 3);
	assert_true(sv.handshake_ok);
	bulk = malloc(BULK);
	assert_non_null(bulk);
	memset(bulk, 'x', BULK);
	assert_int_equal(tp->cls->send(tp, NULL, bulk, BULK), 0);
	free(bulk);
	assert_true(run_until(&k, server_got_bulk, &sv));
	assert_int_equal(k.failed, 0);
	tp->cls->close(tp);
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&sv.got), BULK);
	sip_tls_get_stats(tls, &st);
	assert_int_equal(st.handshakes, 1);
	assert_int_equal(st.refused, 0);

	/* The same server, for a name its certificate does not carry. */
	sv.handshake_ok = false;
	peer.name = "other.test";
	k.received = 0;
	assert_int_equal(sip_transport_tls_class.open(k.loop, SIP_PROTO_TLS, "lo",
						      (struct sockaddr *)&local,
						      (struct sockaddr *)&srv, &peer, &tls_cbs,
						      &k, &tp), 0);
	assert_int_equal(pthread_create(&th, NULL, tls_server_run, &sv), 0);
	assert_true(run_until(&k, has_failed, NULL));
	assert_int_equal(k.failed, SIP_TLS_EVERIFY);
	assert_non_null(strstr(k.why, "host name mismatch"));
	assert_non_null(strstr(k.why, "other.test"));
	tp->cls->close(tp);
	pthread_join(th, NULL);
	assert_false(sv.handshake_ok);
	sip_tls_get_stats(tls, &st);
	assert_int_equal(st.refused, 1);

	close(sv.lfd);
	unlink(ca_path);
	SSL_CTX_free(sv.ctx);
	X509_free(cert);
	EVP_PKEY_free(key);
	sip_tls_free(tls);
	ev_loop_destroy(k.loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_judge),
		cmocka_unit_test(test_tls_describe),
		cmocka_unit_test(test_tls_open_checks),
		cmocka_unit_test(test_tls_loopback),
		cmocka_unit_test(test_udp_reads_icmp_errors),
		cmocka_unit_test(test_udp6_reads_icmp_errors),
		cmocka_unit_test(test_tcp_keepalive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
