/* The outbound proxy a network names by DHCP (proxy_from_dhcp; RFC 3361,
 * RFC 3319; docs/roaming.md, "DHCP discovery").
 *
 * One discovery per IAP (sip/dhcp.h), kept while the IAP stays as it
 * was: every available IAP is asked once a profile with proxy_from_dhcp
 * is about to register, and an IAP that becomes available (or changes)
 * while such a profile is in the engine is asked then, so that a failover
 * finds the answer ready.  It is dropped when the IAP goes (a carrier
 * loss, removal) or its IPv4 address changes.  The engine's REGISTER over
 * the IAP waits for the answer (at most ~12 s: sip/dhcp.h's retries);
 * then the profile registers through the servers named, in order
 * (binding_set_proxies()), or, when the network names none or does not
 * answer, through outbound_proxy.uri or to the registrar as usual.
 * Several profiles over one IAP share its answer.
 *
 * IPv4 (DHCPINFORM, option 120) when the IAP has an IPv4 address; IPv6
 * (Information-Request, options 21/22) when it has a usable global IPv6
 * address and a link-local one to ask from.  Servers named over IPv4 come
 * first; an IPv4 answer with servers ends the IAP's discovery at once. */
#include "alr/registry_impl.h"

#include <errno.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alr/profile_agent.h"
#include "base/log.h"
#include "base/util.h"
#include "sip/dhcp.h"

struct dhcp_fam {
	struct sip_dhcp *d;             /* asking */
	bool asked;                     /* started (d may be done) */
	bool done;
	enum sip_dhcp_outcome outcome;
	bool present;                   /* the option was in the answer */
	struct dhcpmsg_servers servers;
	char from[INET6_ADDRSTRLEN];
	unsigned tries;
	uint64_t elapsed_ms;
	int error;                      /* NO_ANSWER: nothing could be sent */
};

struct dhcp_iap {
	struct registry *r;
	unsigned int iap_id;
	char ifname[IFNAMSIZ];
	char local4[INET6_ADDRSTRLEN];  /* asked from ("": not over IPv4) */
	struct dhcp_fam f4, f6;
	bool finished;
	char note[200];                 /* what the network said, for people */
};

static const char *iap_text(const struct dhcp_iap *di, char *buf, size_t size)
{
	snprintf(buf, size, "iap %u (%s)", di->iap_id, di->ifname);
	return buf;
}

static struct dhcp_iap *find(struct registry *r, unsigned int iap_id)
{
	for (size_t i = 0; i < r->n_dhcp; i++)
		if (r->dhcp[i]->iap_id == iap_id)
			return r->dhcp[i];
	return NULL;
}

static void dhcp_iap_free(struct dhcp_iap *di)
{
	if (!di)
		return;
	sip_dhcp_free(di->f4.d);
	sip_dhcp_free(di->f6.d);
	free(di);
}

static void drop(struct registry *r, unsigned int iap_id)
{
	for (size_t i = 0; i < r->n_dhcp; i++) {
		if (r->dhcp[i]->iap_id != iap_id)
			continue;
		dhcp_iap_free(r->dhcp[i]);
		r->dhcp[i] = r->dhcp[--r->n_dhcp];
		return;
	}
}

void driver_dhcp_free_all(struct registry *r)
{
	for (size_t i = 0; i < r->n_dhcp; i++)
		dhcp_iap_free(r->dhcp[i]);
	free(r->dhcp);
	r->dhcp = NULL;
	r->n_dhcp = 0;
}

static void list_servers(const struct dhcpmsg_servers *s, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->n && len < size; i++) {
		int n = snprintf(buf + len, size - len, "%s%s", i ? ", " : "", s->v[i]);

		if (n < 0)
			break;
		len += (size_t)n;
	}
}

/* The IAP's answer is known: say once what the network said. */
static void conclude(struct dhcp_iap *di)
{
	char who[64], list[96];
	const struct dhcp_fam *f = di->f4.servers.n ? &di->f4 : &di->f6;
	const char *what = f == &di->f4 ? "option 120" : "options 21/22";

	di->finished = true;
	di->f6.d = sip_dhcp_free(di->f6.d);     /* IPv4 named servers: enough */
	iap_text(di, who, sizeof(who));
	if (f->servers.n) {
		list_servers(&f->servers, list, sizeof(list));
		snprintf(di->note, sizeof(di->note), "DHCP server %s named %s (%s)", f->from,
			 list, what);
		log_iap(LOG_NOTICE, di->iap_id, "%s: the DHCP server %s names SIP server%s %s (%s)%s",
			who, f->from, f->servers.n > 1 ? "s" : "", list, what,
			f->servers.truncated ? "; more were offered than alrd keeps" : "");
	} else if ((di->f4.asked && di->f4.outcome == SIP_DHCP_ANSWERED) ||
		   (di->f6.asked && di->f6.outcome == SIP_DHCP_ANSWERED)) {
		f = di->f4.asked && di->f4.outcome == SIP_DHCP_ANSWERED ? &di->f4 : &di->f6;
		snprintf(di->note, sizeof(di->note), "DHCP server %s named no SIP server (%s)",
			 f->from, f->present ? "the option is unusable" :
			 f == &di->f4 ? "no option 120" : "no option 21 or 22");
		log_iap(LOG_NOTICE, di->iap_id, "%s: %s", who, di->note);
	} else if (di->f4.asked || di->f6.asked) {
		f = di->f4.asked ? &di->f4 : &di->f6;
		if (f->error)
			snprintf(di->note, sizeof(di->note), "cannot send a %s over %s: %s",
				 f == &di->f4 ? "DHCPINFORM" : "DHCPv6 Information-Request",
				 di->ifname, strerror(-f->error));
		else
			snprintf(di->note, sizeof(di->note),
				 "no DHCP server answered (%u %s in %.1f s)", f->tries,
				 f == &di->f4 ? "DHCPINFORMs" : "Information-Requests",
				 (double)f->elapsed_ms / 1000.0);
		log_iap(LOG_WARNING, di->iap_id, "%s: %s", who, di->note);
	} else {
		snprintf(di->note, sizeof(di->note), "could not ask by DHCP (see the log)");
	}
}

/* Wake the profiles whose REGISTER waits for this IAP. */
static void wake(struct registry *r, unsigned int iap_id)
{
	registry_enter(r);
	for (size_t i = 0; i < r->n; i++) {
		struct reg_profile *rp = r->v[i];

		if (rp->dhcp_wait != iap_id)
			continue;
		rp->dhcp_wait = 0;
		if (rp->in_engine)
			driver_go_after_dhcp(rp, iap_id);
	}
	registry_leave(r);
}

static bool ready(const struct dhcp_iap *di)
{
	if (di->f4.asked && !di->f4.done)
		return false;
	return di->f4.servers.n > 0 || !di->f6.asked || di->f6.done;
}

static void on_answer(struct sip_dhcp *d, const struct sip_dhcp_result *res, void *data)
{
	struct dhcp_iap *di = data;
	struct dhcp_fam *f = res->family == AF_INET ? &di->f4 : &di->f6;
	char who[64];

	(void)d;
	f->d = sip_dhcp_free(f->d);
	f->done = true;
	f->outcome = res->outcome;
	f->tries = res->tries;
	f->elapsed_ms = res->elapsed_ms;
	f->error = res->error;
	if (res->outcome == SIP_DHCP_ANSWERED) {
		f->present = res->answer->present;
		f->servers = res->answer->servers;
		util_strlcpy(f->from, res->from, sizeof(f->from));
	}
	log_debug("%s: DHCP%s %s after %u tries, %.1f s", iap_text(di, who, sizeof(who)),
		  res->family == AF_INET ? "v4" : "v6", sip_dhcp_outcome_to_str(res->outcome),
		  res->tries, (double)res->elapsed_ms / 1000.0);
	if (di->finished || !ready(di))
		return;
	conclude(di);
	wake(di->r, di->iap_id);
}

/* The link-local IPv6 address to ask from, when the IAP could register
 * over IPv6 at all (a usable global address). */
static bool pick_link_local(const struct iap *iap, char *buf, size_t size)
{
	bool global = false;
	const char *ll = NULL;

	for (size_t i = 0; i < iap->n_addrs; i++) {
		const struct nlmon_addr *a = &iap->addrs[i];

		if (a->family != AF_INET6)
			continue;
		if (iap_addr_usable(a))
			global = true;
		else if (a->scope == RT_SCOPE_LINK && !ll &&
			 !(a->flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)))
			ll = a->local;
	}
	if (!global || !ll)
		return false;
	util_strlcpy(buf, ll, size);
	return true;
}

static void start_fam(struct dhcp_iap *di, struct dhcp_fam *f, const char *local)
{
	struct registry *r = di->r;
	char who[64];

	iap_text(di, who, sizeof(who));
	f->d = sip_dhcp_start(r->loop, di->ifname, local, on_answer, di);
	if (!f->d) {
		int e = errno;

		log_iap(LOG_WARNING, di->iap_id, "%s: cannot ask by DHCP from %s: %s", who,
			local, strerror(e));
		return;
	}
	f->asked = true;
	log_iap(LOG_INFO, di->iap_id, "%s: asking the network for its SIP servers by DHCP%s from %s",
		who,
		f == &di->f4 ? " (DHCPINFORM, option 120)" : "v6 (Information-Request, options 21/22)",
		local);
}

static struct dhcp_iap *start(struct registry *r, const struct iap *iap)
{
	struct dhcp_iap *di, **v;
	char local6[INET6_ADDRSTRLEN];

	v = reallocarray(r->dhcp, r->n_dhcp + 1, sizeof(*v));
	if (!v)
		return NULL;
	r->dhcp = v;
	di = calloc(1, sizeof(*di));
	if (!di)
		return NULL;
	di->r = r;
	di->iap_id = iap->id;
	util_strlcpy(di->ifname, iap->ifname, sizeof(di->ifname));
	r->dhcp[r->n_dhcp++] = di;
	if (iap_pick_local(iap, AF_INET, di->local4, sizeof(di->local4)))
		start_fam(di, &di->f4, di->local4);
	if (pick_link_local(iap, local6, sizeof(local6)))
		start_fam(di, &di->f6, local6);
	if (!di->f4.asked && !di->f6.asked)
		conclude(di);   /* nothing to ask from: the fallback */
	return di;
}

/* May a profile with proxy_from_dhcp register over @iap_id (a candidate
 * of its SNAP, as the engine chooses)?  Networks no such profile uses are
 * not asked. */
static bool anyone_wants(const struct registry *r, unsigned int iap_id)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct reg_profile *rp = r->v[i];
		struct roam_profile_config cfg;
		unsigned int id;
		size_t k = 0;

		if (!rp->in_engine || !rp->p->proxy_from_dhcp)
			continue;
		rp_roam_config(rp, &cfg);
		while ((id = roam_next_candidate(r->roam, &cfg, &k)) != ROAM_IAP_NONE)
			if (id == iap_id)
				return true;
	}
	return false;
}

/* Every available IAP a profile with proxy_from_dhcp may use and not
 * asked yet is asked now, so that a failover or a migration to it finds
 * its answer ready (a network without a DHCP server would otherwise hold
 * the move for ~12 s). */
void driver_dhcp_prefetch(struct registry *r)
{
	bool any = false;

	/* Most daemons have no such profile: one pass over the profiles. */
	for (size_t i = 0; i < r->n && !any; i++)
		any = r->v[i]->in_engine && r->v[i]->p->proxy_from_dhcp;
	if (!any)
		return;
	for (size_t i = 0; i < iap_table_count(r->iaps); i++) {
		const struct iap *iap = iap_table_at(r->iaps, i);

		if (iap_available(iap) && !iap->replaced_by && !find(r, iap->id) &&
		    anyone_wants(r, iap->id))
			start(r, iap);
	}
}

/* A server of the list as the proxy's URI, with the profile's transport. */
static int server_uri(const struct reg_profile *rp, const char *server, char **ret,
		      int *ret_family)
{
	struct in6_addr a6;
	struct in_addr a4;
	char uri[DHCPMSG_NAME_MAX + 16];

	if (inet_pton(AF_INET6, server, &a6) == 1) {
		snprintf(uri, sizeof(uri), "sip:[%s]", server);
		*ret_family = AF_INET6;
	} else {
		snprintf(uri, sizeof(uri), "sip:%s", server);
		if (inet_pton(AF_INET, server, &a4) == 1)
			*ret_family = AF_INET;
	}
	return profile_agent_uri_with_transport(uri, rp->p->outbound_proxy.transport, ret);
}

void driver_dhcp_proxies_clear(struct driver_proxies *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	p->n = 0;
}

int driver_dhcp_proxy(struct reg_profile *rp, const struct iap *iap,
		      struct driver_proxies *ret, int *ret_family)
{
	struct registry *r = rp->r;
	struct dhcp_iap *di;
	const struct dhcpmsg_servers *s;
	const char *fallback = rp->p->outbound_proxy.uri;

	ret->n = 0;
	driver_dhcp_prefetch(r);
	di = find(r, iap->id);
	if (!di) {
		di = start(r, iap);
		if (!di) {
			snprintf(rp->proxy_note, sizeof(rp->proxy_note),
				 "out of memory asking iap %u by DHCP", iap->id);
			rp->proxy_iap = 0;
			return 0;
		}
	}
	if (!di->finished)
		return -EINPROGRESS;
	s = di->f4.servers.n ? &di->f4.servers : &di->f6.servers;
	/* RFC 3361 §3.1: in the order listed; the binding moves on to the
	 * next when one refuses or stays silent.  A name too long for a URI
	 * with the transport is left out. */
	for (size_t i = 0; i < s->n && ret->n < BINDING_PROXIES_MAX; i++) {
		int family = *ret_family;

		if (server_uri(rp, s->v[i], &ret->v[ret->n], &family) < 0)
			continue;
		if (ret->n++ == 0)
			*ret_family = family;
	}
	if (ret->n) {
		const char *in_use = binding_get_proxy(rp->binding);

		rp->proxy_iap = iap->id;
		snprintf(rp->proxy_note, sizeof(rp->proxy_note), "iap %u: %s", iap->id, di->note);
		if (rp->iap_id != iap->id || !in_use || strcmp(in_use, ret->v[0]) != 0)
			log_profile(LOG_NOTICE, rp->p->id, iap->id,
				    "profile %u (%s): outbound proxy %s%s, named by DHCP over iap %u (%s)",
				    rp->p->id, rp_name(rp), ret->v[0],
				    ret->n > 1 ? " (then the others named)" : "", iap->id, di->ifname);
		return 0;
	}
	rp->proxy_iap = 0;
	snprintf(rp->proxy_note, sizeof(rp->proxy_note), "iap %u: %s; %s", iap->id, di->note,
		 fallback ? "using outbound_proxy.uri" : "no outbound proxy");
	log_profile(LOG_NOTICE, rp->p->id, iap->id, "profile %u (%s): iap %u (%s): %s; %s%s",
		    rp->p->id, rp_name(rp), iap->id, di->ifname, di->note,
		    fallback ? "using outbound_proxy.uri " : "registering without an outbound proxy",
		    fallback ? fallback : "");
	/* Observers hear it too (profile.error kind dhcp); the registration
	 * goes on, and its success clears the state's error. */
	rp_set_error(rp, 0, "dhcp", "%s", rp->proxy_note);
	return 0;
}

void driver_dhcp_iap_event(struct registry *r, enum iap_event event, const struct iap *iap)
{
	struct dhcp_iap *di = find(r, iap->id);
	char who[64];
	bool same;

	if (!di)
		return;
	same = event != IAP_EVENT_REMOVED && iap_available(iap) &&
	       strcmp(di->ifname, iap->ifname) == 0;
	if (same) {
		/* The IPv4 address asked from (or none) is still the one. */
		char now[INET6_ADDRSTRLEN] = "";

		iap_pick_local(iap, AF_INET, now, sizeof(now));
		same = strcmp(now, di->local4) == 0;
	}
	if (same)
		return;
	/* Gone, or another address: what the network said may not hold; asked
	 * again when a profile needs it.  A REGISTER waiting for it is the
	 * engine's to move (a loss) or is asked again below. */
	log_iap(LOG_INFO, iap->id, "%s: the DHCP answer is dropped (%s)",
		iap_text(di, who, sizeof(who)),
		event == IAP_EVENT_REMOVED || !iap_available(iap) ? "the IAP went" :
		"its address changed");
	drop(r, iap->id);
	if (event != IAP_EVENT_REMOVED && iap_available(iap)) {
		bool waited = false;

		for (size_t i = 0; i < r->n; i++)
			waited |= r->v[i]->dhcp_wait == iap->id;
		if (waited) {
			di = start(r, iap);
			if (!di || di->finished)
				wake(r, iap->id);
		}
	}
}
