/* RFC 3263 lookups on c-ares (see resolve.h).  One struct lookup per
 * question chain; it asks one question at a time and frees itself after
 * the answer is given. */
#include "sip/resolve.h"

#include <arpa/nameser.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"

struct lookup {
	ares_channel ch;
	sip_resolve_fn fn;
	void *data;
	char host[SIPMSG_HOST_MAX + 1];
	int proto;                      /* chosen by SRV/NAPTR; -1: none yet */
	bool sips;                      /* a sips: URI: TLS only */
	bool tcp_next;                  /* NAPTR found nothing: SRV UDP, then TCP */

	/* SRV targets in the order to try, and the one being looked up. */
	struct {
		char *name;
		uint16_t port;
	} t[SIP_RESOLVE_MAX_TARGETS];
	size_t nt, it;

	struct sockaddr_storage addrs[SIP_RESOLVE_MAX_ADDRS];
	size_t n;
	int status;
};

static void finish(struct lookup *l, int status, int proto)
{
	l->fn(l->data, status, proto, l->addrs, l->n);
	for (size_t i = 0; i < l->nt; i++)
		free(l->t[i].name);
	free(l);
}

/* ---- the host's own addresses ---------------------------------------- */

static void add_addrs(struct lookup *l, const struct ares_addrinfo *res, uint16_t port)
{
	for (const struct ares_addrinfo_node *n = res ? res->nodes : NULL;
	     n && l->n < SIP_RESOLVE_MAX_ADDRS; n = n->ai_next) {
		struct sockaddr_storage *d = &l->addrs[l->n];

		if ((n->ai_family != AF_INET && n->ai_family != AF_INET6) ||
		    (size_t)n->ai_addrlen > sizeof(*d))
			continue;
		memset(d, 0, sizeof(*d));
		memcpy(d, n->ai_addr, n->ai_addrlen);
		if (d->ss_family == AF_INET)
			((struct sockaddr_in *)d)->sin_port = htons(port);
		else
			((struct sockaddr_in6 *)d)->sin6_port = htons(port);
		l->n++;
	}
}

static void host_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct lookup *l = arg;

	(void)timeouts;
	if (status == ARES_SUCCESS)
		add_addrs(l, res, 0);
	ares_freeaddrinfo(res);
	/* The host's own addresses: the URI's port; over UDP when NAPTR
	 * and SRV said nothing (RFC 3263 §4.1), else the URI's transport. */
	finish(l, status, -1);
}

static void ask_host(struct lookup *l)
{
	struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC };

	ares_getaddrinfo(l->ch, l->host, NULL, &hints, host_cb, l);
}

/* The name server did not answer (or is not there): the hosts file may
 * still know the name (what a plain lookup would have found first); if
 * not, the lookup fails with @status, without asking the silent server
 * again.  A channel of its own that reads files only answers at once,
 * from inside ares_getaddrinfo(). */
static void files_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	(void)timeouts;
	if (status == ARES_SUCCESS)
		add_addrs(arg, res, 0);
	ares_freeaddrinfo(res);
}

static void hosts_or_fail(struct lookup *l, int status)
{
	struct ares_options o = { .lookups = (char *)"f" };
	struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC };
	ares_channel files;

	if (ares_init_options(&files, &o, ARES_OPT_LOOKUPS) == ARES_SUCCESS) {
		ares_getaddrinfo(files, l->host, NULL, &hints, files_cb, l);
		ares_destroy(files);
	}
	finish(l, l->n ? ARES_SUCCESS : status, -1);
}

/* ---- SRV --------------------------------------------------------------- */

static void target_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res);

static void ask_target(struct lookup *l)
{
	struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC };

	ares_getaddrinfo(l->ch, l->t[l->it].name, NULL, &hints, target_cb, l);
}

static void target_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct lookup *l = arg;

	(void)timeouts;
	if (status == ARES_EDESTRUCTION) {
		ares_freeaddrinfo(res);
		finish(l, status, l->proto);
		return;
	}
	if (status == ARES_SUCCESS)
		add_addrs(l, res, l->t[l->it].port);
	else
		log_debug("sip: SRV target %s of %s: %s", l->t[l->it].name, l->host,
			  ares_strerror(status));
	ares_freeaddrinfo(res);
	l->status = status;
	if (++l->it < l->nt && l->n < SIP_RESOLVE_MAX_ADDRS) {
		ask_target(l);
		return;
	}
	finish(l, l->n ? ARES_SUCCESS : l->status, l->proto);
}

static unsigned rnd_uniform(void *ctx, unsigned bound)
{
	(void)ctx;
	return bound ? arc4random_uniform(bound) : 0;
}

void sip_resolve_srv_order(unsigned *prio, unsigned *weight, size_t *idx, size_t n,
			   unsigned (*rnd)(void *ctx, unsigned bound), void *ctx)
{
	/* Selection sort by priority; within the run of one priority, RFC
	 * 2782's pick: a random number in [0, sum of weights], the first
	 * record whose running sum reaches it (weight 0 first in the list so
	 * that it is picked only when the number is 0 or nothing else is
	 * left). */
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	for (size_t start = 0; start < n;) {
		size_t end = start, best = start;
		unsigned p;

		for (size_t j = start; j < n; j++)
			if (prio[j] < prio[best])
				best = j;
		p = prio[best];
		/* gather the records of priority p at [start, end) */
		for (size_t j = start; j < n; j++)
			if (prio[j] == p) {
				unsigned tp = prio[end], tw = weight[end];
				size_t ti = idx[end];

				prio[end] = prio[j], weight[end] = weight[j], idx[end] = idx[j];
				prio[j] = tp, weight[j] = tw, idx[j] = ti;
				end++;
			}
		for (size_t k = start; k < end; k++) {
			unsigned long sum = 0, pick, run = 0;
			size_t chosen = k;

			/* zero weights first */
			for (size_t j = k; j < end; j++)
				if (weight[j] == 0 && j != k) {
					unsigned tw = weight[k];
					size_t ti = idx[k];

					weight[k] = weight[j], idx[k] = idx[j];
					weight[j] = tw, idx[j] = ti;
					break;
				}
			for (size_t j = k; j < end; j++)
				sum += weight[j];
			pick = rnd(ctx, (unsigned)(sum + 1 > 0xffffffffUL ? 0xffffffffUL : sum + 1));
			for (size_t j = k; j < end; j++) {
				run += weight[j];
				if (run >= pick) {
					chosen = j;
					break;
				}
			}
			{
				unsigned tw = weight[k];
				size_t ti = idx[k];

				weight[k] = weight[chosen], idx[k] = idx[chosen];
				weight[chosen] = tw, idx[chosen] = ti;
			}
		}
		start = end;
	}
}

static void ask_srv(struct lookup *l, const char *name, int proto);

static void srv_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct lookup *l = arg;
	struct ares_srv_reply *srv = NULL;
	unsigned prio[SIP_RESOLVE_MAX_TARGETS], weight[SIP_RESOLVE_MAX_TARGETS];
	size_t idx[SIP_RESOLVE_MAX_TARGETS];
	const struct ares_srv_reply *rec[SIP_RESOLVE_MAX_TARGETS];
	size_t n = 0;

	(void)timeouts;
	if (status == ARES_EDESTRUCTION) {
		finish(l, status, -1);
		return;
	}
	if (status == ARES_SUCCESS)
		status = ares_parse_srv_reply(abuf, alen, &srv);
	for (const struct ares_srv_reply *r = srv; r && n < SIP_RESOLVE_MAX_TARGETS; r = r->next)
		/* "." as the target: the service is decidedly not there */
		if (r->host && r->host[0] && strcmp(r->host, ".") != 0 && r->port)
			rec[n] = r, prio[n] = r->priority, weight[n] = r->weight, n++;
	if (n == 0) {
		ares_free_data(srv);
		if (status == ARES_ETIMEOUT || status == ARES_ECONNREFUSED) {
			/* the name server is not there: say so */
			hosts_or_fail(l, status);
			return;
		}
		if (l->tcp_next) {
			l->tcp_next = false;
			{
				char name[SIPMSG_HOST_MAX + 16];

				sip_resolve_srv_name(SIP_PROTO_TCP, l->host, name, sizeof(name));
				ask_srv(l, name, SIP_PROTO_TCP);
			}
			return;
		}
		l->proto = -1;
		ask_host(l);
		return;
	}
	sip_resolve_srv_order(prio, weight, idx, n, rnd_uniform, NULL);
	for (size_t i = 0; i < n; i++) {
		l->t[i].name = strdup(rec[idx[i]]->host);
		l->t[i].port = rec[idx[i]]->port;
		if (!l->t[i].name) {
			l->nt = i;
			ares_free_data(srv);
			finish(l, ARES_ENOMEM, -1);
			return;
		}
	}
	l->nt = n;
	ares_free_data(srv);
	l->it = 0;
	ask_target(l);
}

static void ask_srv(struct lookup *l, const char *name, int proto)
{
	l->proto = proto;
	ares_query(l->ch, name, C_IN, T_SRV, srv_cb, l);
}

/* ---- NAPTR ------------------------------------------------------------- */

int sip_resolve_naptr_service(const char *flags, const char *service, bool sips)
{
	if (!flags || strcasecmp(flags, "s") != 0 || !service)
		return -1;
	/* RFC 3263 §4.1: a sips: URI takes the SIPS services only; a sip:
	 * URI any we speak, TLS included. */
	if (strcasecmp(service, "SIPS+D2T") == 0)
		return SIP_PROTO_TLS;
	if (sips)
		return -1;
	if (strcasecmp(service, "SIP+D2U") == 0)
		return SIP_PROTO_UDP;
	if (strcasecmp(service, "SIP+D2T") == 0)
		return SIP_PROTO_TCP;
	return -1;      /* SIP+D2S, SIPS+D2S (SCTP), ...: not ours */
}

int sip_resolve_srv_name(enum sip_proto proto, const char *host, char *buf, size_t size)
{
	/* RFC 3263 §4.1: TLS is "_sips._tcp" */
	int n = snprintf(buf, size, "%s.%s", proto == SIP_PROTO_TLS ? "_sips._tcp" :
					    proto == SIP_PROTO_TCP ? "_sip._tcp" : "_sip._udp",
			 host);

	return n < 0 || (size_t)n >= size ? -ENOBUFS : 0;
}

static int naptr_proto(const struct lookup *l, const struct ares_naptr_reply *r)
{
	if (!r->replacement || !r->replacement[0])
		return -1;
	return sip_resolve_naptr_service((const char *)r->flags, (const char *)r->service,
					 l->sips);
}

static void naptr_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct lookup *l = arg;
	struct ares_naptr_reply *naptr = NULL;
	const struct ares_naptr_reply *best = NULL;
	char name[SIPMSG_HOST_MAX + 16];

	(void)timeouts;
	if (status == ARES_EDESTRUCTION) {
		finish(l, status, -1);
		return;
	}
	if (status == ARES_ETIMEOUT || status == ARES_ECONNREFUSED) {
		hosts_or_fail(l, status);
		return;
	}
	if (status == ARES_SUCCESS && ares_parse_naptr_reply(abuf, alen, &naptr) == ARES_SUCCESS)
		for (const struct ares_naptr_reply *r = naptr; r; r = r->next)
			if (naptr_proto(l, r) >= 0 &&
			    (!best || r->order < best->order ||
			     (r->order == best->order && r->preference < best->preference)))
				best = r;
	if (best) {
		int proto = naptr_proto(l, best);

		snprintf(name, sizeof(name), "%s", best->replacement);
		ares_free_data(naptr);
		log_debug("sip: NAPTR of %s: %s over %s", l->host, name,
			  sip_proto_to_param(proto));
		ask_srv(l, name, proto);
		return;
	}
	ares_free_data(naptr);
	/* RFC 3263 §4.1: no NAPTR, SRV for each transport we have; for a
	 * sips: URI, TLS's only. */
	if (l->sips) {
		sip_resolve_srv_name(SIP_PROTO_TLS, l->host, name, sizeof(name));
		ask_srv(l, name, SIP_PROTO_TLS);
		return;
	}
	l->tcp_next = true;
	sip_resolve_srv_name(SIP_PROTO_UDP, l->host, name, sizeof(name));
	ask_srv(l, name, SIP_PROTO_UDP);
}

int sip_resolve_start(ares_channel ch, const char *host, enum binding_lookup how,
		      enum sip_proto proto, sip_resolve_fn fn, void *data)
{
	struct lookup *l = calloc(1, sizeof(*l));
	char name[SIPMSG_HOST_MAX + 16];

	if (!l)
		return -ENOMEM;
	l->ch = ch;
	l->fn = fn;
	l->data = data;
	l->proto = -1;
	l->sips = proto == SIP_PROTO_TLS;
	snprintf(l->host, sizeof(l->host), "%s", host);
	switch (how) {
	case BINDING_LOOKUP_SRV:
		sip_resolve_srv_name(proto, l->host, name, sizeof(name));
		ask_srv(l, name, proto);
		break;
	case BINDING_LOOKUP_NAPTR:
		ares_query(ch, l->host, C_IN, T_NAPTR, naptr_cb, l);
		break;
	case BINDING_LOOKUP_ADDRESS:
	default:
		ask_host(l);
		break;
	}
	return 0;
}
