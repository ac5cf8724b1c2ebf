/* TLS over TCP with OpenSSL (see transport.h): the socket class's TCP
 * connection, bound to the IAP the same way, with a TLS client on it.
 *
 * Nothing blocks: the socket is non-blocking, and each of OpenSSL's
 * SSL_connect(), SSL_write() and SSL_read() either progresses or says
 * which readiness it waits for (SSL_ERROR_WANT_READ / _WANT_WRITE).  One
 * pump (tls_pump()) runs on either readiness: the handshake until it is
 * done, then the queued output, then what there is to read.  The read
 * watcher is always on; the write watcher only while OpenSSL waits for
 * the socket to take bytes (DESIGN: a write watcher runs only while
 * output is queued).  Anything may need the other direction (a TLS 1.3
 * key update, a session ticket), hence the one pump.  OpenSSL writes
 * with write(), not send(MSG_NOSIGNAL): the process must ignore SIGPIPE
 * (alrd does, daemon/daemon.c).
 *
 * Verification (RFC 5922 §7.2 for SIP, RFC 6125): the server's chain
 * against the peer's CA file, else the stack's, else the system's store
 * (one SSL_CTX per CA file in use), and its
 * certificate against the name the binding asked for (the URI's host,
 * sent as SNI too), with OpenSSL's own checks (SSL_set1_host(): subject
 * alternative names first, no partial wildcards).  A certificate refused
 * or a handshake that fails is the server's matter (or ours: a CA file
 * that does not load), not the network's: failed() carries SIP_TLS_E*
 * and tp->why says what in words.
 *
 * Resumption: the stack's struct sip_tls keeps the last session of each
 * server (name, port and CA file) that OpenSSL hands us (the new-session callback:
 * for TLS 1.3 the tickets come after the handshake), and offers it on
 * the next connection to that server, over whichever IAP: a migration's
 * new connection then costs one round trip less and no certificate
 * check, where the server allows it. */
#include "sip/transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/log.h"
#include "base/util.h"
#include "sip/sipframe.h"

/* Bound on bytes queued on a connection that does not drain. */
#define TLS_OUT_MAX     (256 * 1024)
/* SSL_read()s per readiness, so that one busy connection cannot hold the
 * loop (OpenSSL may hold more than the socket shows). */
#define TLS_READ_BURST  16
/* Servers whose session we keep. */
#define TLS_SESSIONS_MAX 32
/* The largest CA file we read (the system's bundle is ~200 KiB). */
#define TLS_CA_FILE_MAX (4 * 1024 * 1024)
/* A handshake that gets no answer this long after the TCP connection
 * is up: the server's host answered the connection, so the path works;
 * what listens does not speak TLS (a plain SIP port keeps the
 * ClientHello and waits for a SIP message).  Said in seconds rather than
 * at Timer F (32 s), and not against the network. */
#define TLS_HANDSHAKE_TIMEOUT_MS 5000
/* Contexts (one per CA file in use) we keep; the least recently used
 * goes (connections keep theirs: SSL_new() holds a reference). */
#define TLS_CTX_MAX     8

struct tls_session {
	char *key;                      /* "name port ca-file" */
	SSL_SESSION *sess;
	uint64_t used;                  /* for replacing the oldest */
};

/* A context: the trust of one CA file, or of the system's store. */
struct tls_ctx {
	char *ca_file;                  /* "": the system's store */
	SSL_CTX *ctx;
	uint64_t used;
};

struct sip_tls {
	char *ca_file;                  /* the stack's; NULL: the system's store */
	struct tls_ctx ctxs[TLS_CTX_MAX];       /* made as connections need them */
	struct tls_session sessions[TLS_SESSIONS_MAX];
	uint64_t clock;
	unsigned trust;                 /* which CA setting; +1 at each change */
	struct sip_tls_stats stats;
};

enum tls_phase {
	TLS_CONNECTING,                 /* TCP connect() under way */
	TLS_HANDSHAKE,
	TLS_OPEN,
};

struct tls_transport {
	struct sip_transport base;
	struct ev_loop *loop;
	const struct sip_transport_cbs *cbs;
	void *cb_data;
	struct sip_tls *tls;            /* the stack's; outlives us */
	unsigned trust;                 /* tls->trust when opened */
	char *key;                      /* the session cache's: name, port, CA */
	char *ca_file;                  /* the peer's own, or NULL */
	bool literal;                   /* peer_name is an address */
	int fd;
	SSL *ssl;
	enum tls_phase phase;
	ev_io rio;
	ev_io wio;
	ev_timer hs;                    /* TLS_HANDSHAKE_TIMEOUT_MS */
	bool want_write;                /* OpenSSL waits for the socket */
	bool dead;
	unsigned in_cb;
	bool close_pending;
	/* RFC 5626 §4.4.1 keepalives, as the TCP transport's */
	ev_timer ka;
	unsigned ka_interval_ms, ka_timeout_ms;
	bool ka_ping_out;
	char *out;
	size_t out_len, out_cap;
	char *in;
	size_t in_len;
};

/* ---- naming failures (pure) ------------------------------------------- */

static const char *ssl_reason(unsigned long err)
{
	const char *s = err ? ERR_reason_error_string(err) : NULL;

	return s ? s : "OpenSSL error";
}

int sip_tls_describe(long verify_result, unsigned long err, bool eof,
		     const char *name, char *buf, size_t size)
{
	const char *reason;

	if (verify_result == X509_V_ERR_HOSTNAME_MISMATCH ||
	    verify_result == X509_V_ERR_IP_ADDRESS_MISMATCH) {
		snprintf(buf, size, "host name mismatch: the server's certificate is not for %s",
			 name && *name ? name : "the name asked for");
		return SIP_TLS_EVERIFY;
	}
	if (verify_result != X509_V_OK) {
		snprintf(buf, size, "certificate verify failed: %s",
			 X509_verify_cert_error_string(verify_result));
		return SIP_TLS_EVERIFY;
	}
	if (eof) {
		snprintf(buf, size, "handshake failed: the server closed the connection");
		return SIP_TLS_EHANDSHAKE;
	}
	reason = err ? ERR_reason_error_string(err) : NULL;
	if (reason)
		snprintf(buf, size, "handshake failed: %s", reason);
	else if (err)
		snprintf(buf, size, "handshake failed: OpenSSL error %d", ERR_GET_REASON(err));
	else
		snprintf(buf, size, "handshake failed");
	return SIP_TLS_EHANDSHAKE;
}

/* ---- contexts and sessions -------------------------------------------- */

struct sip_tls *sip_tls_new(void)
{
	return calloc(1, sizeof(struct sip_tls));
}

static void ctxs_clear(struct sip_tls *t)
{
	for (size_t i = 0; i < TLS_CTX_MAX; i++) {
		free(t->ctxs[i].ca_file);
		SSL_CTX_free(t->ctxs[i].ctx);
		t->ctxs[i] = (struct tls_ctx){ 0 };
	}
}

static void sessions_clear(struct sip_tls *t)
{
	for (size_t i = 0; i < TLS_SESSIONS_MAX; i++) {
		free(t->sessions[i].key);
		SSL_SESSION_free(t->sessions[i].sess);
		t->sessions[i] = (struct tls_session){ 0 };
	}
}

struct sip_tls *sip_tls_free(struct sip_tls *t)
{
	if (!t)
		return NULL;
	sessions_clear(t);
	ctxs_clear(t);
	free(t->ca_file);
	free(t);
	return NULL;
}

int sip_tls_set_ca_file(struct sip_tls *t, const char *path)
{
	char *copy = NULL;

	if (!t)
		return -EINVAL;
	if (path && !*path)
		path = NULL;
	if ((!path && !t->ca_file) || (path && t->ca_file && strcmp(path, t->ca_file) == 0))
		return 0;
	if (path && !(copy = strdup(path)))
		return -ENOMEM;
	free(t->ca_file);
	t->ca_file = copy;
	/* Connections open keep theirs (SSL_new() holds a reference); new
	 * ones get a context with the new trust, and no session verified
	 * under the old one. */
	ctxs_clear(t);
	t->trust++;
	sessions_clear(t);
	return 0;
}

void sip_tls_get_stats(const struct sip_tls *t, struct sip_tls_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (t)
		*ret = t->stats;
}

static struct tls_session *session_find(struct sip_tls *t, const char *key)
{
	for (size_t i = 0; i < TLS_SESSIONS_MAX; i++)
		if (t->sessions[i].key && strcmp(t->sessions[i].key, key) == 0)
			return &t->sessions[i];
	return NULL;
}

static void session_forget(struct sip_tls *t, const char *key)
{
	struct tls_session *e = session_find(t, key);

	if (!e)
		return;
	free(e->key);
	SSL_SESSION_free(e->sess);
	*e = (struct tls_session){ 0 };
}

/* OpenSSL's new-session callback: keep @sess (1: the reference is ours). */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_transport *tt = SSL_get_app_data(ssl);
	struct sip_tls *t;
	struct tls_session *e;

	if (!tt || tt->trust != tt->tls->trust)
		return 0;       /* verified under a CA setting no longer in force */
	if (!SSL_SESSION_is_resumable(sess)) {
		log_debug("sip tls %s: the server's session for %s cannot be resumed",
			  tt->base.ifname, tt->key);
		return 0;
	}
	t = tt->tls;
	e = session_find(t, tt->key);
	if (!e) {
		e = &t->sessions[0];
		for (size_t i = 0; i < TLS_SESSIONS_MAX; i++) {
			if (!t->sessions[i].key) {
				e = &t->sessions[i];
				break;
			}
			if (t->sessions[i].used < e->used)
				e = &t->sessions[i];
		}
		free(e->key);
		SSL_SESSION_free(e->sess);
		*e = (struct tls_session){ 0 };
		e->key = strdup(tt->key);
		if (!e->key)
			return 0;
	} else {
		SSL_SESSION_free(e->sess);
	}
	e->sess = sess;
	e->used = ++t->clock;
	log_debug("sip tls %s: a session to resume kept for %s", tt->base.ifname, tt->key);
	return 1;
}

/* Trust the certificates of the PEM file @path: opened once (no name
 * resolved twice), a regular file that nobody but its owner and group may
 * write (a trust anchor anyone could change would trust anyone), at most
 * TLS_CA_FILE_MAX bytes.  0, or -1 with @why set (its content is never
 * quoted). */
static int load_ca_file(SSL_CTX *ctx, const char *path, char *why, size_t size)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	STACK_OF(X509_INFO) *infos = NULL;
	BIO *bio = NULL;
	struct stat st;
	int fd, n = 0, r = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(why, size, "cannot load the CA file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, size, "cannot load the CA file %s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & S_IWOTH) {
		snprintf(why, size, "cannot load the CA file %s: anyone may write it "
			 "(chmod o-w)", path);
		goto out;
	}
	if (st.st_size > TLS_CA_FILE_MAX) {
		snprintf(why, size, "cannot load the CA file %s: larger than %d bytes", path,
			 TLS_CA_FILE_MAX);
		goto out;
	}
	bio = BIO_new_fd(fd, BIO_NOCLOSE);
	if (bio)
		infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	for (int i = 0; infos && i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *xi = sk_X509_INFO_value(infos, i);

		if (xi->x509 && X509_STORE_add_cert(store, xi->x509) == 1)
			n++;
		if (xi->crl)
			X509_STORE_add_crl(store, xi->crl);
	}
	if (n == 0) {
		unsigned long e = ERR_peek_error();

		snprintf(why, size, "cannot load the CA file %s: %s", path,
			 e ? ssl_reason(e) : "no certificate in it");
		goto out;
	}
	r = 0;
out:
	ERR_clear_error();
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	close(fd);
	return r;
}

/* The context of @ca_file (NULL: the system's store), made when a
 * connection first needs it; borrowed (SSL_new() takes a reference).
 * NULL with @why set: a file that does not load is tried again by the
 * next connection (it may have been fixed meanwhile). */
static SSL_CTX *tls_ctx(struct sip_tls *t, const char *ca_file, char *why, size_t size)
{
	const char *key = ca_file ? ca_file : "";
	struct tls_ctx *slot = NULL;
	char *copy;
	SSL_CTX *ctx;

	for (size_t i = 0; i < TLS_CTX_MAX; i++) {
		struct tls_ctx *c = &t->ctxs[i];

		if (c->ca_file && strcmp(c->ca_file, key) == 0) {
			c->used = ++t->clock;
			return c->ctx;
		}
		/* a free one, else the least recently used */
		if (!slot || (slot->ca_file && (!c->ca_file || c->used < slot->used)))
			slot = c;
	}
	copy = strdup(key);
	if (!copy) {
		snprintf(why, size, "out of memory");
		return NULL;
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		snprintf(why, size, "cannot make a TLS context: %s", ssl_reason(ERR_get_error()));
		free(copy);
		return NULL;
	}
	/* RFC 8996: nothing older than TLS 1.2 */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (ca_file ? load_ca_file(ctx, ca_file, why, size) < 0 :
		      SSL_CTX_set_default_verify_paths(ctx) != 1) {
		if (!ca_file)
			snprintf(why, size, "cannot load the CA certificates of the system: %s",
				 ssl_reason(ERR_get_error()));
		ERR_clear_error();
		SSL_CTX_free(ctx);
		free(copy);
		return NULL;
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
				       SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
	free(slot->ca_file);
	SSL_CTX_free(slot->ctx);
	*slot = (struct tls_ctx){ copy, ctx, ++t->clock };
	return ctx;
}

/* ---- the connection --------------------------------------------------- */

static void tls_shutdown(struct tls_transport *tt)
{
	ev_timer_stop(tt->loop, &tt->ka);
	ev_timer_stop(tt->loop, &tt->hs);
	if (tt->ssl) {
		SSL_set_app_data(tt->ssl, NULL);
		if (tt->phase == TLS_OPEN && !tt->dead)
			SSL_shutdown(tt->ssl);  /* close_notify, once, no wait */
		SSL_free(tt->ssl);
		tt->ssl = NULL;
	}
	if (tt->fd >= 0) {
		ev_io_stop(tt->loop, &tt->rio);
		ev_io_stop(tt->loop, &tt->wio);
		close(tt->fd);
		tt->fd = -1;
	}
	ERR_clear_error();
}

static void tls_destroy(struct tls_transport *tt)
{
	tls_shutdown(tt);
	free(tt->out);
	free(tt->in);
	free(tt->key);
	free(tt->ca_file);
	free(tt);
}

static void tls_close(struct sip_transport *tp)
{
	struct tls_transport *tt = (struct tls_transport *)tp;

	if (!tp)
		return;
	if (tt->in_cb) {
		tls_shutdown(tt);
		tt->close_pending = true;
		return;
	}
	tls_destroy(tt);
}

static bool tls_leave(struct tls_transport *tt)
{
	if (--tt->in_cb == 0 && tt->close_pending) {
		tls_destroy(tt);
		return true;
	}
	return false;
}

static const char *tls_peer(const struct tls_transport *tt, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;

	sipmsg_sockaddr_host((const struct sockaddr *)&tt->base.remote, host, sizeof(host),
			     &port);
	snprintf(buf, size, "%s -> %s%s%s:%u (%s)", tt->base.ifname,
		 tt->base.remote.ss_family == AF_INET6 ? "[" : "", host,
		 tt->base.remote.ss_family == AF_INET6 ? "]" : "", port, tt->base.peer_name);
	return buf;
}

/* @why: the cause in words (NULL: the errno says it). */
static void tls_fail(struct tls_transport *tt, int error, const char *why)
{
	char peer[SIPMSG_HOST_MAX + 96];

	if (tt->dead)
		return;
	tt->dead = true;
	util_strlcpy(tt->base.why, why ? why : "", sizeof(tt->base.why));
	if (why)
		log_info("sip tls %s: %s", tls_peer(tt, peer, sizeof(peer)), why);
	else
		log_debug("sip tls %s: %s", tls_peer(tt, peer, sizeof(peer)), strerror(-error));
	if (error == SIP_TLS_EVERIFY || error == SIP_TLS_EHANDSHAKE || error == SIP_TLS_ECONFIG) {
		tt->tls->stats.refused++;
		/* a session the server no longer takes, or never should have */
		session_forget(tt->tls, tt->key);
	}
	tls_shutdown(tt);
	tt->cbs->failed(tt->cb_data, &tt->base, error);
}

static void tls_arm(struct tls_transport *tt)
{
	if (tt->fd < 0)
		return;
	if (tt->want_write)
		ev_io_start(tt->loop, &tt->wio);
	else
		ev_io_stop(tt->loop, &tt->wio);
}

/* What a failed SSL_*() call means: 1 to wait (want_write set as
 * needed), else the transport failed. */
static int ssl_wait_or_fail(struct tls_transport *tt, int ret, bool handshake)
{
	int e = SSL_get_error(tt->ssl, ret);
	char why[SIP_TRANSPORT_WHY_MAX];
	int error;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return 1;
	case SSL_ERROR_WANT_WRITE:
		tt->want_write = true;
		return 1;
	case SSL_ERROR_ZERO_RETURN:
		if (handshake) {
			error = sip_tls_describe(X509_V_OK, 0, true, tt->base.peer_name, why,
						 sizeof(why));
			tls_fail(tt, error, why);
		} else {
			tls_fail(tt, -ECONNRESET, NULL);
		}
		return 0;
	case SSL_ERROR_SYSCALL:
		error = errno;
		if (ERR_peek_error() == 0 && (ret == 0 || error == 0)) {
			/* EOF: the server hung up */
			if (handshake) {
				error = sip_tls_describe(X509_V_OK, 0, true, tt->base.peer_name,
							 why, sizeof(why));
				tls_fail(tt, error, why);
			} else {
				tls_fail(tt, -ECONNRESET, NULL);
			}
			return 0;
		}
		if (error == EAGAIN || error == EINTR)
			return 1;
		/* reset, unreachable: the network's, as over TCP */
		tls_fail(tt, error ? -error : -ECONNRESET, NULL);
		return 0;
	case SSL_ERROR_SSL:
	default:
		if (handshake) {
			error = sip_tls_describe(SSL_get_verify_result(tt->ssl), ERR_peek_error(),
						 false, tt->base.peer_name, why, sizeof(why));
			tls_fail(tt, error, why);
		} else {
			/* A bad record on an open connection: it is gone, as a
			 * reset TCP connection (register again over a new one). */
			log_debug("sip tls %s: %s", tt->base.ifname,
				  ssl_reason(ERR_peek_error()));
			tls_fail(tt, -ECONNRESET, NULL);
		}
		return 0;
	}
}

static void tls_handshake(struct tls_transport *tt)
{
	char peer[SIPMSG_HOST_MAX + 96];
	int r;

	ERR_clear_error();
	r = SSL_connect(tt->ssl);
	if (r <= 0) {
		ssl_wait_or_fail(tt, r, true);
		return;
	}
	tt->phase = TLS_OPEN;
	ev_timer_stop(tt->loop, &tt->hs);
	tt->tls->stats.handshakes++;
	if (SSL_session_reused(tt->ssl))
		tt->tls->stats.resumed++;
	log_info("sip tls %s: %s, %s, %s", tls_peer(tt, peer, sizeof(peer)),
		 SSL_get_version(tt->ssl), SSL_get_cipher_name(tt->ssl),
		 SSL_session_reused(tt->ssl) ? "session resumed" : "certificate verified");
}

static void tls_flush(struct tls_transport *tt)
{
	while (tt->out_len > 0 && !tt->dead) {
		int n;

		ERR_clear_error();
		n = SSL_write(tt->ssl, tt->out, tt->out_len > INT32_MAX ? INT32_MAX :
			      (int)tt->out_len);
		if (n <= 0) {
			ssl_wait_or_fail(tt, n, false);
			return;
		}
		memmove(tt->out, tt->out + n, tt->out_len - (size_t)n);
		tt->out_len -= (size_t)n;
	}
}

/* Whole messages out of the input buffer; false when the transport went
 * (failed, or closed by a callback). */
static bool tls_frame(struct tls_transport *tt)
{
	while (!tt->dead && !tt->close_pending) {
		size_t skip = 0;
		long msg = sipframe_next(tt->in, tt->in_len, SIPFRAME_MAX, &skip);

		if (msg < 0) {
			log_debug("sip tls %s: unframeable stream (%s), closing",
				  tt->base.ifname, strerror((int)-msg));
			tls_fail(tt, -EPROTO, NULL);
			return false;
		}
		if (msg == 0) {
			if (skip) {
				memmove(tt->in, tt->in + skip, tt->in_len - skip);
				tt->in_len -= skip;
			}
			return true;
		}
		{
			char save = tt->in[skip + (size_t)msg];

			tt->in[skip + (size_t)msg] = '\0';
			tt->cbs->received(tt->cb_data, &tt->base, tt->in + skip, (size_t)msg,
					  (struct sockaddr *)&tt->base.remote);
			if (tt->close_pending)
				return false;
			tt->in[skip + (size_t)msg] = save;
		}
		memmove(tt->in, tt->in + skip + (size_t)msg, tt->in_len - skip - (size_t)msg);
		tt->in_len -= skip + (size_t)msg;
	}
	return false;
}

static void tls_read(struct tls_transport *tt)
{
	if (!tt->in) {
		tt->in = malloc(SIPFRAME_MAX + 1);
		if (!tt->in) {
			tls_fail(tt, -ENOMEM, NULL);
			return;
		}
	}
	for (int i = 0; i < TLS_READ_BURST && !tt->dead && !tt->close_pending; i++) {
		int n;

		ERR_clear_error();
		n = SSL_read(tt->ssl, tt->in + tt->in_len, (int)(SIPFRAME_MAX - tt->in_len));
		if (n <= 0) {
			ssl_wait_or_fail(tt, n, false);
			return;
		}
		if (tt->ka_ping_out) {
			/* the pong, or anything: the server is there */
			tt->ka_ping_out = false;
			ev_timer_stop(tt->loop, &tt->ka);
			ev_timer_set(&tt->ka, tt->ka_interval_ms / 1000., 0.);
			ev_timer_start(tt->loop, &tt->ka);
		}
		tt->in_len += (size_t)n;
		if (!tls_frame(tt))
			return;
	}
	/* More may wait inside OpenSSL, which the socket does not show. */
	if (SSL_pending(tt->ssl) > 0)
		ev_feed_event(tt->loop, &tt->rio, EV_READ);
}

/* Whatever the readiness: the handshake, the output, the input. */
static void tls_pump(struct tls_transport *tt)
{
	tt->want_write = false;
	if (tt->phase == TLS_HANDSHAKE)
		tls_handshake(tt);
	if (tt->phase == TLS_OPEN && !tt->dead)
		tls_flush(tt);
	if (tt->phase == TLS_OPEN && !tt->dead && !tt->close_pending)
		tls_read(tt);
	if (!tt->dead && !tt->close_pending)
		tls_arm(tt);
}

/* The TCP connection is up (or refused): start the handshake. */
static void tls_connected(struct tls_transport *tt)
{
	char why[SIP_TRANSPORT_WHY_MAX];
	struct tls_session *e;
	SSL_CTX *ctx;
	int err = 0;
	socklen_t elen = sizeof(err);

	if (getsockopt(tt->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		err = errno;
	if (err) {
		tls_fail(tt, -err, NULL);
		return;
	}
	/* the peer's own CA file, else the stack's, else the system's */
	ctx = tls_ctx(tt->tls, tt->ca_file ? tt->ca_file : tt->tls->ca_file, why, sizeof(why));
	if (!ctx) {
		tls_fail(tt, SIP_TLS_ECONFIG, why);
		return;
	}
	tt->ssl = SSL_new(ctx);
	if (!tt->ssl || SSL_set_fd(tt->ssl, tt->fd) != 1) {
		tls_fail(tt, -ENOMEM, NULL);
		return;
	}
	SSL_set_app_data(tt->ssl, tt);
	if (tt->literal) {
		/* RFC 6066 §3: no SNI for an address; the certificate must
		 * list it (an iPAddress SAN) */
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tt->ssl), tt->base.peer_name);
	} else {
		SSL_set_hostflags(tt->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set1_host(tt->ssl, tt->base.peer_name) != 1 ||
		    SSL_set_tlsext_host_name(tt->ssl, tt->base.peer_name) != 1) {
			tls_fail(tt, -ENOMEM, NULL);
			return;
		}
	}
	e = session_find(tt->tls, tt->key);
	if (e && e->sess) {
		SSL_set_session(tt->ssl, e->sess);
		e->used = ++tt->tls->clock;
		log_debug("sip tls %s: offering the session of %s", tt->base.ifname, tt->key);
	}
	tt->phase = TLS_HANDSHAKE;
	ev_timer_set(&tt->hs, TLS_HANDSHAKE_TIMEOUT_MS / 1000., 0.);
	ev_timer_start(tt->loop, &tt->hs);
	tls_pump(tt);
}

static void tls_hs_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tls_transport *tt = container_of(w, struct tls_transport, hs);
	char why[SIP_TRANSPORT_WHY_MAX];

	(void)loop;
	(void)revents;
	if (tt->dead || tt->phase != TLS_HANDSHAKE)
		return;
	snprintf(why, sizeof(why), "handshake failed: no answer from the server in %u s "
		 "(is it a TLS port?)", TLS_HANDSHAKE_TIMEOUT_MS / 1000);
	tt->in_cb++;
	tls_fail(tt, SIP_TLS_EHANDSHAKE, why);
	tls_leave(tt);
}

static void tls_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tls_transport *tt = container_of(w, struct tls_transport, rio);

	(void)loop;
	(void)revents;
	if (tt->dead || tt->phase == TLS_CONNECTING)
		return;
	tt->in_cb++;
	tls_pump(tt);
	tls_leave(tt);
}

static void tls_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tls_transport *tt = container_of(w, struct tls_transport, wio);

	(void)loop;
	(void)revents;
	if (tt->dead)
		return;
	tt->in_cb++;
	if (tt->phase == TLS_CONNECTING)
		tls_connected(tt);
	else
		tls_pump(tt);
	tls_leave(tt);
}

static int tls_queue(struct tls_transport *tt, const char *buf, size_t len)
{
	if (tt->out_len + len > TLS_OUT_MAX)
		return -ENOBUFS;
	if (tt->out_cap < tt->out_len + len) {
		size_t cap = tt->out_cap ? tt->out_cap : 4096;
		char *p;

		while (cap < tt->out_len + len)
			cap *= 2;
		p = realloc(tt->out, cap);
		if (!p)
			return -ENOMEM;
		tt->out = p;
		tt->out_cap = cap;
	}
	memcpy(tt->out + tt->out_len, buf, len);
	tt->out_len += len;
	return 0;
}

static int tls_send(struct sip_transport *tp, const struct sockaddr *dest,
		    const char *buf, size_t len)
{
	struct tls_transport *tt = (struct tls_transport *)tp;
	int r;

	(void)dest;
	if (tt->dead || tt->fd < 0)
		return -ENOTCONN;
	r = tls_queue(tt, buf, len);
	if (r < 0)
		return r;
	if (tt->phase != TLS_OPEN)
		return 0;               /* goes when the handshake is done */
	tt->in_cb++;
	tls_pump(tt);
	r = tt->dead ? -ECONNRESET : 0;
	tls_leave(tt);
	return r;
}

static void tls_ka_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tls_transport *tt = container_of(w, struct tls_transport, ka);
	static const char ping[] = "\r\n\r\n";
	char peer[SIPMSG_HOST_MAX + 96];
	bool open;

	(void)loop;
	(void)revents;
	if (tt->dead || tt->fd < 0)
		return;
	tt->in_cb++;
	open = tt->phase == TLS_OPEN;
	if (tt->ka_ping_out) {
		log_info("sip tls %s: no answer to a keepalive in %.1f s: the connection is dead",
			 tls_peer(tt, peer, sizeof(peer)), tt->ka_timeout_ms / 1000.);
		tls_fail(tt, -ETIMEDOUT, NULL);
	} else if (open && tls_queue(tt, ping, sizeof(ping) - 1) < 0) {
		tls_fail(tt, -ENOBUFS, NULL);
	} else {
		if (open)
			tls_pump(tt);
		if (!tt->dead && !tt->close_pending) {
			/* Not open yet: the handshake's own limits judge it. */
			tt->ka_ping_out = open;
			ev_timer_set(&tt->ka, (open ? tt->ka_timeout_ms : tt->ka_interval_ms) /
				     1000., 0.);
			ev_timer_start(tt->loop, &tt->ka);
		}
	}
	tls_leave(tt);
}

static void tls_keepalive(struct sip_transport *tp, unsigned interval_ms, unsigned timeout_ms)
{
	struct tls_transport *tt = (struct tls_transport *)tp;

	if (!tp)
		return;
	ev_timer_stop(tt->loop, &tt->ka);
	tt->ka_ping_out = false;
	tt->ka_interval_ms = interval_ms;
	tt->ka_timeout_ms = timeout_ms ? timeout_ms : 10000;
	if (!interval_ms || tt->dead || tt->fd < 0)
		return;
	ev_timer_set(&tt->ka, interval_ms / 1000., 0.);
	ev_timer_start(tt->loop, &tt->ka);
}

static int tls_open(struct ev_loop *loop, enum sip_proto proto, const char *ifname,
		    const struct sockaddr *local, const struct sockaddr *remote,
		    const struct sip_transport_peer *peer,
		    const struct sip_transport_cbs *cbs, void *cb_data,
		    struct sip_transport **ret)
{
	struct tls_transport *tt;
	struct in6_addr a6;
	uint16_t port = 0;
	char host[INET6_ADDRSTRLEN];
	int one = 1, r;

	if (proto != SIP_PROTO_TLS || !remote || !peer || !peer->tls || !peer->name ||
	    !*peer->name || strlen(peer->name) > SIPMSG_HOST_MAX ||
	    (remote->sa_family != AF_INET && remote->sa_family != AF_INET6))
		return -EINVAL;
	tt = calloc(1, sizeof(*tt));
	if (!tt)
		return -ENOMEM;
	tt->base.cls = &sip_transport_tls_class;
	tt->base.proto = proto;
	util_strlcpy(tt->base.ifname, ifname, sizeof(tt->base.ifname));
	util_strlcpy(tt->base.peer_name, peer->name, sizeof(tt->base.peer_name));
	tt->literal = inet_pton(AF_INET, peer->name, &a6) == 1 ||
		      inet_pton(AF_INET6, peer->name, &a6) == 1;
	sipmsg_sockaddr_host(remote, host, sizeof(host), &port);
	/* A session is resumed only with the trust it was verified under. */
	if (asprintf(&tt->key, "%s %u %s", peer->name, port,
		     peer->ca_file ? peer->ca_file : "") < 0)
		tt->key = NULL;
	tt->ca_file = peer->ca_file ? strdup(peer->ca_file) : NULL;
	tt->base.peer_ca_file = tt->ca_file;
	if (!tt->key || (peer->ca_file && !tt->ca_file)) {
		r = -ENOMEM;
		goto fail;
	}
	tt->loop = loop;
	tt->cbs = cbs;
	tt->cb_data = cb_data;
	tt->tls = peer->tls;
	tt->trust = peer->tls->trust;
	ev_timer_init(&tt->ka, tls_ka_cb, 0., 0.);
	ev_timer_init(&tt->hs, tls_hs_cb, 0., 0.);
	tt->fd = sip_transport_bound_socket(SOCK_STREAM, ifname, local, &tt->base.local);
	if (tt->fd < 0) {
		r = tt->fd;
		goto fail;
	}
	memcpy(&tt->base.remote, remote, sip_sockaddr_len(remote));
	setsockopt(tt->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(tt->fd, remote, sip_sockaddr_len(remote)) < 0 && errno != EINPROGRESS) {
		r = -errno;
		close(tt->fd);
		goto fail;
	}
	/* Connected at once or not, the handshake starts from the loop:
	 * outcomes never come from inside open(). */
	tt->phase = TLS_CONNECTING;
	tt->want_write = true;
	ev_io_init(&tt->rio, tls_read_cb, tt->fd, EV_READ);
	ev_io_init(&tt->wio, tls_write_cb, tt->fd, EV_WRITE);
	ev_io_start(loop, &tt->rio);
	ev_io_start(loop, &tt->wio);
	*ret = &tt->base;
	return 0;
fail:
	free(tt->key);
	free(tt->ca_file);
	free(tt);
	return r;
}

const struct sip_transport_class sip_transport_tls_class = {
	.name = "tls",
	.open = tls_open,
	.send = tls_send,
	.close = tls_close,
	.keepalive = tls_keepalive,
};
