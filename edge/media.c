/* The media of one call: relays per stream and the SDP each side gets
 * (see media.h). */
#include "edge/media.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"

#define MEDIA_NAME_MAX  128

enum media_side {
	MEDIA_SIDE_APP,
	MEDIA_SIDE_NET,
};

static const char *media_side_to_str(enum media_side s)
{
	switch (s) {
	case MEDIA_SIDE_APP:
		return "application";
	case MEDIA_SIDE_NET:
		return "network";
	}
	return "?";
}

/* What alrd last gave one side (media.h: an originator of its own). */
struct media_out {
	bool started;
	struct sdp_origin origin;
	struct sockaddr_storage origin_addr;
	char *last;
	size_t last_len;
};

struct media_stream {
	struct relay *relay;            /* NULL: disabled or not relayed */
	char media[SDP_MEDIA_MAX];
};

struct media {
	struct relay_pool *pool;
	unsigned int profile;
	char name[MEDIA_NAME_MAX];
	struct sockaddr_storage local_addr;
	struct sockaddr_storage net_addr;
	char ifname[IF_NAMESIZE];
	/* a pending move */
	bool moving;
	struct sockaddr_storage next_addr;
	char next_ifname[IF_NAMESIZE];

	size_t n_streams;
	struct media_stream streams[SDP_MAX_STREAMS];
	struct media_out to_app, to_net;
	/* the application's last SDP: a move re-offers it */
	char *app_sdp;
	size_t app_sdp_len;
	char why[256];
};

static bool addr_ok(const struct sockaddr *sa)
{
	return sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
}

static void copy_addr(struct sockaddr_storage *dst, const struct sockaddr *src)
{
	memset(dst, 0, sizeof(*dst));
	memcpy(dst, src, src->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
						      sizeof(struct sockaddr_in));
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static const char *host_str(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	const void *a = ss->ss_family == AF_INET6 ?
		(const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr :
		(const void *)&((const struct sockaddr_in *)ss)->sin_addr;

	if (!inet_ntop(ss->ss_family, a, buf, (socklen_t)size))
		snprintf(buf, size, "?");
	return buf;
}

struct media *media_new(struct relay_pool *pool, const char *ifname,
			const struct sockaddr *net_addr, const struct sockaddr *local_addr)
{
	struct media *m;

	if (!pool || !addr_ok(net_addr) || !addr_ok(local_addr) ||
	    (ifname && strlen(ifname) >= IF_NAMESIZE)) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->pool = pool;
	copy_addr(&m->net_addr, net_addr);
	copy_addr(&m->local_addr, local_addr);
	if (ifname)
		util_strlcpy(m->ifname, ifname, sizeof(m->ifname));
	util_strlcpy(m->name, "?", sizeof(m->name));
	return m;
}

struct media *media_free(struct media *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n_streams; i++)
		relay_free(m->streams[i].relay);
	free(m->to_app.last);
	free(m->to_net.last);
	free(m->app_sdp);
	free(m);
	return NULL;
}

void media_set_name(struct media *m, unsigned int profile, const char *call_id)
{
	m->profile = profile;
	util_strlcpy(m->name, call_id ? call_id : "?", sizeof(m->name));
}

static int fail(struct media *m, int error, const char **ret_why, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct media *m, int error, const char **ret_why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->why, sizeof(m->why), fmt, ap);
	va_end(ap);
	*ret_why = m->why;
	return error;
}

static const char *relay_error(int error)
{
	switch (error) {
	case -ENOSPC:
		return "the relay port range is full";
	case -ENODEV:
		return "the network interface is gone";
	case -EADDRNOTAVAIL:
		return "the network address is not this host's";
	default:
		return strerror(-error);
	}
}

/* Where the application receives a component: its SDP's address when it
 * is of the local side's family; otherwise -- a name, or the other
 * family (linphone names its IPv6 address while talking to 127.0.0.1) --
 * the local side's loopback address with the SDP's port: the application
 * is on this host, and softphones bind their media sockets to the
 * wildcard.  Nothing on hold (c=0.0.0.0) or without a port. */
static void app_dest(const struct media *m, const struct sdp_stream *st, bool rtcp,
		     struct sockaddr_storage *ret)
{
	const struct sockaddr_storage *sdp = rtcp ? &st->rtcp : &st->rtp;
	uint16_t port = rtcp ? st->rtcp_port : st->port;

	memset(ret, 0, sizeof(*ret));
	if (st->hold || port == 0)
		return;
	if (sdp->ss_family == m->local_addr.ss_family) {
		*ret = *sdp;
		return;
	}
	*ret = m->local_addr;
	set_port(ret, port);
}

/* *@ret: the body for one side from @sdp with @addr and @ports, as the
 * originator alrd is towards it (media.h); *@ret_out: @out as it will be
 * once the body is given. */
static int render(struct media *m, const struct media_out *out, const char *sdp, size_t len,
		  const struct sdp_info *info, const struct sockaddr_storage *addr,
		  const uint16_t *rtp_ports, const uint16_t *rtcp_ports, char **ret,
		  size_t *ret_len, struct media_out *ret_out, const char **ret_why)
{
	struct sdp_rewrite rw = {
		.addr = (const struct sockaddr *)addr,
		.n_streams = info->n_streams,
		.rtp_ports = rtp_ports,
		.rtcp_ports = rtcp_ports,
	};
	const char *why = NULL;
	char *text = NULL;
	size_t text_len = 0;
	int r;

	*ret_out = *out;
	if (!out->started) {
		ret_out->started = true;
		ret_out->origin = info->origin;
		ret_out->origin_addr = *addr;
	}
	rw.origin = &ret_out->origin;
	rw.origin_addr = (const struct sockaddr *)&ret_out->origin_addr;
	r = sdp_rewrite(sdp, len, &rw, &text, &text_len, &why);
	if (r == 0 && out->started && (text_len != out->last_len || memcmp(text, out->last, text_len))) {
		/* changed: one version up (RFC 3264 §8) */
		free(text);
		text = NULL;
		ret_out->origin.version++;
		r = sdp_rewrite(sdp, len, &rw, &text, &text_len, &why);
	}
	if (r < 0)
		return fail(m, r, ret_why, "%s", why);
	ret_out->last = malloc(text_len + 1);
	if (!ret_out->last) {
		free(text);
		return fail(m, -ENOMEM, ret_why, "out of memory");
	}
	memcpy(ret_out->last, text, text_len + 1);
	ret_out->last_len = text_len;
	*ret = text;
	*ret_len = text_len;
	return 0;
}

/* The network side the far end is told about: the new one during a move. */
static const struct sockaddr_storage *offered_net_addr(const struct media *m)
{
	return m->moving ? &m->next_addr : &m->net_addr;
}

static int open_relay(struct media *m, size_t i, struct relay **ret, const char **ret_why)
{
	char name[MEDIA_NAME_MAX + 16];
	int r;

	snprintf(name, sizeof(name), "%s stream %zu", m->name, i + 1);
	r = relay_new(m->pool, name, (const struct sockaddr *)&m->local_addr,
		      m->ifname[0] ? m->ifname : NULL, (const struct sockaddr *)&m->net_addr, ret);
	if (r == 0 && m->moving) {
		r = relay_move_network(*ret, m->next_ifname[0] ? m->next_ifname : NULL,
				       (const struct sockaddr *)&m->next_addr);
		if (r < 0)
			*ret = relay_free(*ret);
	}
	if (r < 0)
		return fail(m, r, ret_why, "cannot open a relay for stream %zu: %s", i + 1,
			    relay_error(r));
	return 0;
}

/* @quiet: the SDP made for the other side is not given to it (the far
 * end's answer to a move's re-offer): the relays take the addresses, but
 * what that side last got stays its current SDP, so that its next one is
 * exactly one version up (RFC 3264 §8); *@ret_changed (if not NULL) says
 * whether it would have differed. */
static int media_from_q(struct media *m, enum media_side from, const char *sdp, size_t len,
			char **ret, size_t *ret_len, const char **ret_why, bool quiet,
			bool *ret_changed)
{
	struct relay *fresh[SDP_MAX_STREAMS] = { NULL };
	uint16_t rtp_ports[SDP_MAX_STREAMS] = { 0 }, rtcp_ports[SDP_MAX_STREAMS] = { 0 };
	struct media_out *out = from == MEDIA_SIDE_NET ? &m->to_app : &m->to_net;
	const struct sockaddr_storage *addr;
	struct media_out next_out;
	struct sdp_info info;
	char *app_sdp = NULL;
	const char *why = NULL;
	size_t n_old = m->n_streams;
	int r;

	if (!sdp || !ret || !ret_len || !ret_why)
		return -EINVAL;
	r = sdp_read(sdp, len, &info, &why);
	if (r < 0)
		return fail(m, r, ret_why, "SDP from the %s: %s", media_side_to_str(from), why);
	if (from == MEDIA_SIDE_APP) {
		app_sdp = malloc(len + 1);
		if (!app_sdp)
			return fail(m, -ENOMEM, ret_why, "out of memory");
		memcpy(app_sdp, sdp, len);
		app_sdp[len] = '\0';
	}

	/* Open what is new first: on an error nothing changed. */
	for (size_t i = 0; i < info.n_streams; i++) {
		const struct sdp_stream *st = &info.streams[i];
		struct relay *relay = NULL;

		if (st->port == 0 || !st->udp)
			continue;
		if (i < n_old && m->streams[i].relay && strcmp(m->streams[i].media, st->media) == 0) {
			relay = m->streams[i].relay;
		} else {
			r = open_relay(m, i, &fresh[i], ret_why);
			if (r < 0)
				goto fail;
			relay = fresh[i];
		}
		rtp_ports[i] = from == MEDIA_SIDE_NET ? relay_local_port(relay) : relay_net_port(relay);
		rtcp_ports[i] = (uint16_t)(rtp_ports[i] + 1);
	}
	addr = from == MEDIA_SIDE_NET ? &m->local_addr : offered_net_addr(m);
	r = render(m, out, sdp, len, &info, addr, rtp_ports, rtcp_ports, ret, ret_len, &next_out,
		   ret_why);
	if (r < 0)
		goto fail;

	/* Commit. */
	if (ret_changed)
		*ret_changed = !out->started || out->last_len != next_out.last_len ||
			       memcmp(out->last, next_out.last, next_out.last_len) != 0;
	if (quiet) {
		free(next_out.last);
	} else {
		free(out->last);
		*out = next_out;
	}
	if (app_sdp) {
		free(m->app_sdp);
		m->app_sdp = app_sdp;
		m->app_sdp_len = len;
	}
	for (size_t i = 0; i < SDP_MAX_STREAMS; i++) {
		struct media_stream *ms = &m->streams[i];
		const struct sdp_stream *st = &info.streams[i];
		struct sockaddr_storage rtp, rtcp;

		if (i >= info.n_streams || !rtp_ports[i] || fresh[i]) {
			if (ms->relay)
				log_call(LOG_INFO, m->profile, m->name,
					 "call %s: stream %zu (%s) relay on %u/%u closed", m->name,
					 i + 1, ms->media, relay_local_port(ms->relay),
					 relay_net_port(ms->relay));
			ms->relay = relay_free(ms->relay);
			ms->media[0] = '\0';
		}
		if (i >= info.n_streams || !rtp_ports[i])
			continue;
		if (fresh[i]) {
			char host[INET6_ADDRSTRLEN];

			ms->relay = fresh[i];
			util_strlcpy(ms->media, st->media, sizeof(ms->media));
			log_call(LOG_INFO, m->profile, m->name,
				 "call %s: stream %zu (%s) relayed: application port %u, network "
				 "%s port %u%s%s", m->name, i + 1, ms->media,
				 relay_local_port(ms->relay), host_str(offered_net_addr(m), host,
									 sizeof(host)),
				 relay_net_port(ms->relay), m->ifname[0] ? " on " : "", m->ifname);
		}
		if (from == MEDIA_SIDE_NET) {
			/* relay.h decides what it trusts of these */
			relay_set_far(ms->relay, (const struct sockaddr *)&st->rtp,
				      (const struct sockaddr *)&st->rtcp);
		} else {
			app_dest(m, st, false, &rtp);
			app_dest(m, st, true, &rtcp);
			relay_set_app(ms->relay, (const struct sockaddr *)&rtp,
				      (const struct sockaddr *)&rtcp);
		}
	}
	/* streams past the new SDP's were closed above */
	m->n_streams = info.n_streams;
	return 0;
fail:
	for (size_t i = 0; i < SDP_MAX_STREAMS; i++)
		relay_free(fresh[i]);
	free(app_sdp);
	return r;
}

int media_from_net(struct media *m, const char *sdp, size_t len, char **ret, size_t *ret_len,
		   const char **ret_why)
{
	return media_from_q(m, MEDIA_SIDE_NET, sdp, len, ret, ret_len, ret_why, false, NULL);
}

int media_from_app(struct media *m, const char *sdp, size_t len, char **ret, size_t *ret_len,
		   const char **ret_why)
{
	return media_from_q(m, MEDIA_SIDE_APP, sdp, len, ret, ret_len, ret_why, false, NULL);
}

int media_answer_from_net(struct media *m, const char *sdp, size_t len, bool *ret_changed,
			  const char **ret_why)
{
	char *out = NULL;
	size_t out_len = 0;
	int r = media_from_q(m, MEDIA_SIDE_NET, sdp, len, &out, &out_len, ret_why, true,
			     ret_changed);

	free(out);
	return r;
}

int media_move_network(struct media *m, const char *ifname, const struct sockaddr *net_addr,
		       char **ret, size_t *ret_len, const char **ret_why)
{
	uint16_t rtp_ports[SDP_MAX_STREAMS] = { 0 }, rtcp_ports[SDP_MAX_STREAMS] = { 0 };
	struct sockaddr_storage next;
	struct media_out next_out;
	struct sdp_info info;
	const char *why = NULL;
	size_t moved = 0;
	char host[INET6_ADDRSTRLEN];
	int r;

	if (!addr_ok(net_addr) || (ifname && strlen(ifname) >= IF_NAMESIZE))
		return fail(m, -EINVAL, ret_why, "no IPv4 or IPv6 address to move to");
	if (!m->app_sdp)
		return fail(m, -EALREADY, ret_why, "no SDP from the application yet: nothing to move");
	r = sdp_read(m->app_sdp, m->app_sdp_len, &info, &why);
	if (r < 0)      /* it was read before */
		return fail(m, r, ret_why, "SDP from the application: %s", why);
	copy_addr(&next, net_addr);

	/* A pending move is replaced: relay_move_network() does that per
	 * relay; a failure part way cancels the relays already moved. */
	for (size_t i = 0; i < m->n_streams; i++) {
		struct relay *relay = m->streams[i].relay;

		if (!relay)
			continue;
		r = relay_move_network(relay, ifname, net_addr);
		if (r < 0) {
			for (size_t j = 0; j < i; j++)
				if (m->streams[j].relay)
					relay_cancel_move(m->streams[j].relay);
			m->moving = false;
			return fail(m, r, ret_why, "cannot open a relay on %s%s%s for stream %zu: %s",
				    host_str(&next, host, sizeof(host)), ifname ? " on " : "",
				    ifname ? ifname : "", i + 1, relay_error(r));
		}
		moved++;
	}
	for (size_t i = 0; i < info.n_streams && i < m->n_streams; i++) {
		if (!m->streams[i].relay)
			continue;
		rtp_ports[i] = relay_net_port(m->streams[i].relay);
		rtcp_ports[i] = (uint16_t)(rtp_ports[i] + 1);
	}
	r = render(m, &m->to_net, m->app_sdp, m->app_sdp_len, &info, &next, rtp_ports, rtcp_ports,
		   ret, ret_len, &next_out, ret_why);
	if (r < 0) {
		for (size_t i = 0; i < m->n_streams; i++)
			if (m->streams[i].relay)
				relay_cancel_move(m->streams[i].relay);
		m->moving = false;
		return r;
	}
	free(m->to_net.last);
	m->to_net = next_out;
	m->moving = true;
	m->next_addr = next;
	util_strlcpy(m->next_ifname, ifname ? ifname : "", sizeof(m->next_ifname));
	log_call(LOG_INFO, m->profile, m->name,
		 "call %s: moving %zu relayed stream(s) to %s%s%s (SDP version %ju)", m->name, moved,
		 host_str(&next, host, sizeof(host)), ifname ? " on " : "", ifname ? ifname : "",
		 (uintmax_t)m->to_net.origin.version);
	return 0;
}

void media_commit_network(struct media *m)
{
	char host[INET6_ADDRSTRLEN];

	if (!m->moving)
		return;
	for (size_t i = 0; i < m->n_streams; i++)
		if (m->streams[i].relay)
			relay_commit_network(m->streams[i].relay);
	m->net_addr = m->next_addr;
	memcpy(m->ifname, m->next_ifname, sizeof(m->ifname));
	m->moving = false;
	log_call(LOG_INFO, m->profile, m->name, "call %s: media moved to %s%s%s", m->name,
		 host_str(&m->net_addr, host, sizeof(host)), m->ifname[0] ? " on " : "", m->ifname);
}

void media_cancel_move(struct media *m)
{
	if (!m->moving)
		return;
	for (size_t i = 0; i < m->n_streams; i++)
		if (m->streams[i].relay)
			relay_cancel_move(m->streams[i].relay);
	m->moving = false;
	log_call(LOG_INFO, m->profile, m->name, "call %s: media move cancelled", m->name);
}

void media_get_stats(const struct media *m, struct media_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->n_streams = m->n_streams;
	for (size_t i = 0; i < m->n_streams; i++) {
		const struct media_stream *ms = &m->streams[i];
		struct media_stream_stats *s = &ret->streams[i];

		if (!ms->relay)
			continue;
		util_strlcpy(s->media, ms->media, sizeof(s->media));
		s->local_port = relay_local_port(ms->relay);
		s->net_port = relay_net_port(ms->relay);
		relay_get_stats(ms->relay, &s->relay);
		ret->to_net.packets += s->relay.to_net.packets;
		ret->to_net.bytes += s->relay.to_net.bytes;
		ret->to_net.dropped += s->relay.to_net.dropped;
		ret->to_app.packets += s->relay.to_app.packets;
		ret->to_app.bytes += s->relay.to_app.bytes;
		ret->to_app.dropped += s->relay.to_app.dropped;
	}
}
