/* The registry's binding driver: the engine's SIP side for each profile
 * (registry_impl.h).  The engine (alr/roam.c) decides; the ops here carry
 * its requests out on the profile's one binding (sip/binding.h, shaped by
 * the profile's plugin), and the binding's outcomes come back as the
 * engine's roam_sip_*() inputs.  Also here: the binding's contact list,
 * which is the profile's one list (alr/contacts.h), the stale contacts'
 * removal (DESIGN §3.8), IAP events, and the plugins' host table.
 *
 * The ops run inside the engine: they act on bindings and note what is
 * left (rp->stopped, queued binding events); they never call the engine
 * (registry.c, "the one re-entrancy rule"). */
#include "alr/registry_impl.h"
#include "alr/secret.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <ev.h>
#include <net/if.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alr/iap_table.h"
#include "alr/plugin_loader.h"
#include "alr/profile_agent.h"
#include "base/log.h"
#include "base/util.h"
#include "store/store.h"

static void *host_scratch(struct alr_plugin_reg *reg, size_t size)
{
	void **v, *p;

	if (!reg || size > 1024 * 1024)
		return NULL;
	v = realloc(reg->scratch, (reg->n_scratch + 1) * sizeof(*v));
	if (!v)
		return NULL;
	reg->scratch = v;
	p = calloc(1, size ? size : 1);
	if (!p)
		return NULL;
	reg->scratch[reg->n_scratch++] = p;
	return p;
}
void driver_scratch_release(struct alr_plugin_reg *reg)
{
	for (size_t i = 0; i < reg->n_scratch; i++)
		free(reg->scratch[i]);
	free(reg->scratch);
	reg->scratch = NULL;
	reg->n_scratch = 0;
}
static void *host_get_data(struct alr_plugin_reg *reg)
{
	return reg ? reg->data : NULL;
}
void driver_host_set_data(struct alr_plugin_reg *reg, void *data, void (*destroy)(void *))
{
	void *old;
	void (*old_destroy)(void *);

	if (!reg)
		return;
	old = reg->data;
	old_destroy = reg->destroy;
	reg->data = data;
	reg->destroy = destroy;
	if (old && old != data && old_destroy)
		old_destroy(old);
}
static int host_message_status(const struct alr_sip_message *msg)
{
	return msg ? msg->status : 0;
}
static const char *host_message_method(const struct alr_sip_message *msg)
{
	return msg ? msg->method : NULL;
}
static const char *host_message_header(const struct alr_sip_message *msg, const char *name,
				       size_t i)
{
	if (!msg || !name || i > 0)
		return NULL;
	if ((strcasecmp(name, "Contact") == 0 || strcasecmp(name, "m") == 0) && msg->contact)
		return msg->contact;
	if (strcasecmp(name, "Expires") == 0 && msg->expires[0])
		return msg->expires;
	return NULL;
}
static int host_set_registered_aors(struct alr_plugin_reg *reg, const char *const *aors, size_t n)
{
	if (!reg || !reg->rp || (n && !aors) || n > PROFILE_MAX_LIST)
		return -EINVAL;
	return profile_set_registered(reg->rp->p, aors, n, reg->rp->contact);
}
static void host_report_error(struct alr_plugin_reg *reg, int code, const char *message)
{
	if (!reg || !reg->rp)
		return;
	rp_set_error(reg->rp, code, "plugin", "%s", message ? message : "plugin error");
}
static const struct alr_plugin_host plugin_host = {
	.api_version = ALR_PLUGIN_API_VERSION,
	.log = plugin_loader_host_log,
	.scratch = host_scratch,
	.get_data = host_get_data,
	.set_data = driver_host_set_data,
	.message_status = host_message_status,
	.message_method = host_message_method,
	.message_header = host_message_header,
	.set_registered_aors = host_set_registered_aors,
	.report_error = host_report_error,
};
const struct alr_plugin_host *registry_plugin_host(void)
{
	return &plugin_host;
}
static int uri_family(const char *uri)
{
	struct sipmsg_target t;

	if (!uri || sipmsg_target_parse(uri, &t) < 0)
		return AF_UNSPEC;
	return t.literal_family;
}
/* Family of the configured first hop (outbound proxy, else registrar)
 * when it is an IP literal, else AF_UNSPEC. */
static int profile_dest_family(const struct profile *p)
{
	return uri_family(p->outbound_proxy.uri ? p->outbound_proxy.uri : p->registrar.uri);
}
/* The same for the first hop in use: the binding's proxy (one a network
 * named by DHCP), else the configured one. */
int rp_dest_family(const struct reg_profile *rp)
{
	const char *proxy = binding_get_proxy(rp->binding);

	return proxy ? uri_family(proxy) : profile_dest_family(rp->p);
}
/* A usable address of @iap: of @family when given, else IPv4 first. */
bool iap_pick_local(const struct iap *iap, int family, char *buf, size_t size)
{
	int order[2] = { AF_INET, AF_INET6 };

	if (family == AF_INET6) {
		order[0] = AF_INET6;
		order[1] = AF_UNSPEC;
	} else if (family == AF_INET) {
		order[1] = AF_UNSPEC;
	}
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < iap->n_addrs; i++)
			if (iap->addrs[i].family == order[k] && iap_addr_usable(&iap->addrs[i])) {
				util_strlcpy(buf, iap->addrs[i].local, size);
				return true;
			}
	return false;
}
static bool has_local(const struct iap *iap, const char *local)
{
	for (size_t i = 0; i < iap->n_addrs; i++)
		if (strcmp(iap->addrs[i].local, local) == 0 && iap_addr_usable(&iap->addrs[i]))
			return true;
	return false;
}
/* Any available IAP with an address, for removing contacts: the best the
 * engine would register the profile over (the one IAP chooser, its
 * ranking), else any. */
static const struct iap *any_iap(struct reg_profile *rp)
{
	struct registry *r = rp->r;
	struct roam_profile_config cfg;
	char local[INET6_ADDRSTRLEN];
	const struct iap *iap;
	unsigned int id;
	size_t k = 0;

	rp_roam_config(rp, &cfg);
	while ((id = roam_next_candidate(r->roam, &cfg, &k)) != ROAM_IAP_NONE) {
		iap = iap_table_find_by_id(r->iaps, id);
		if (iap && iap_available(iap) && iap_pick_local(iap, rp_dest_family(rp), local, sizeof(local)))
			return iap;
	}
	for (size_t i = 0; i < iap_table_count(r->iaps); i++) {
		iap = iap_table_at(r->iaps, i);
		if (iap_available(iap) && iap_pick_local(iap, rp_dest_family(rp), local, sizeof(local)))
			return iap;
	}
	return NULL;
}
static unsigned int iap_id_of_ifname(struct registry *r, const char *ifname)
{
	for (size_t i = 0; ifname && i < iap_table_count(r->iaps); i++) {
		const struct iap *iap = iap_table_at(r->iaps, i);

		if (strcmp(iap->ifname, ifname) == 0)
			return iap->id;
	}
	return 0;
}
/* The interface @e was registered over, as the binding names it ("" if
 * the IAP is gone). */
static const char *contact_ifname(const struct reg_profile *rp, const struct contact *e)
{
	const struct iap *iap = iap_table_find_by_id(rp->r->iaps, e->iap_id);

	return iap ? iap->ifname : "";
}
/* The binding's contact list (sip/binding.h) is the profile's one list:
 * what it reads are the recorded contacts, what it reports is written
 * through, with the Call-ID and CSeq a restarted alrd continues with. */
static const char *list_next(void *data, size_t *cursor, const char **ret_ifname)
{
	struct reg_profile *rp = data;
	const struct contact *e = contacts_next_held(&rp->contacts, cursor, (int64_t)time(NULL));

	if (!e)
		return NULL;
	*ret_ifname = contact_ifname(rp, e);
	return e->uri;
}
static void list_update(void *data, const struct binding_persist *pe)
{
	struct reg_profile *rp = data;

	if (pe->call_id && (!rp->call_id || strcmp(rp->call_id, pe->call_id) != 0)) {
		char *c = strdup(pe->call_id);

		if (c) {
			free(rp->call_id);
			rp->call_id = c;
		}
	}
	rp->cseq = pe->cseq;
	if (pe->contact) {
		if (pe->expires > 0) {
			if (contacts_registered(&rp->contacts,
						iap_id_of_ifname(rp->r, pe->ifname) ?: rp->iap_id,
						pe->contact, rp->call_id, rp->cseq, pe->expires,
						(int64_t)time(NULL)) < 0)
				log_warning("profile %u (%s): cannot record contact %s; it may "
					    "outlive a crash", rp->p->id, rp_name(rp), pe->contact);
		} else {
			contacts_unrecorded(&rp->contacts, pe->contact);
		}
		return;
	}
	/* Only the CSeq moved: every contact of this Call-ID follows, so
	 * that the next run starts above it.  (Nothing leaves the list
	 * here: the registry walks it around binding_remove_contact(),
	 * which sends at once; expired contacts go in contacts_expire().) */
	contacts_set_cseq(&rp->contacts, rp->call_id, rp->cseq);
}
static const struct binding_contacts driver_contacts = {
	.next = list_next,
	.update = list_update,
};
/* Queued, never handled here (the rule at the top). */
static void on_binding_event(struct binding *b, const struct binding_event *ev, void *ud)
{
	struct reg_profile *rp = ud;
	struct registry *r = rp->r;
	struct bevent *q;

	if (rp->q_head + rp->q_n == rp->q_cap) {
		if (rp->q_head > 0) {
			memmove(rp->queue, rp->queue + rp->q_head, rp->q_n * sizeof(*rp->queue));
			rp->q_head = 0;
		} else {
			size_t cap = rp->q_cap ? 2 * rp->q_cap : 8;
			struct bevent *v = reallocarray(rp->queue, cap, sizeof(*v));

			if (!v) {
				/* Out of memory: the binding's edge cannot be
				 * kept; say so loudly, the engine may disagree. */
				log_err("profile %u (%s): out of memory queueing a binding event",
					rp->p->id, rp_name(rp));
				return;
			}
			rp->queue = v;
			rp->q_cap = cap;
		}
	}
	q = &rp->queue[rp->q_head + rp->q_n];
	*q = (struct bevent){
		.binding_id = binding_get_id(b),
		.type = ev->type,
		.old_state = ev->old_state,
		.new_state = ev->new_state,
		.error = ev->error,
		.code = ev->code,
		.expires = ev->expires,
	};
	util_strlcpy(q->reason, ev->reason ? ev->reason : "", sizeof(q->reason));
	util_strlcpy(q->contact, ev->contact ? ev->contact : "", sizeof(q->contact));
	rp->q_n++;
	if (r->depth == 0) {
		registry_enter(r);
		registry_leave(r);
	}
}
/* A failure known at once, handled as the binding's own (queued). */
static void binding_failed_now(struct reg_profile *rp, int code)
{
	struct binding_event ev = {
		.type = BINDING_EVENT_STATE, .old_state = BINDING_IDLE,
		.new_state = BINDING_IDLE, .error = BINDING_ERROR_INTERNAL,
		.code = code, .reason = "cannot start the registration",
	};

	on_binding_event(rp->binding, &ev, rp);
}
/* Stop using the binding: its contacts become stale (removed later), its
 * requests are forgotten. */
void driver_release_binding(struct reg_profile *rp)
{
	if (!rp->binding)
		return;
	contacts_release(&rp->contacts, (int64_t)time(NULL));
	rp->binding = binding_free(rp->binding);
	rp->binding_id = 0;
	rp->start_pending = false;
	rp->deregistering = false;
	rp->probe_iap = 0;              /* the engine gives its probe up */
}
/*
 * A binding shaped by the plugin (or, for removing old contacts of a
 * profile whose plugin is missing, with the profile's own values),
 * continuing rp->call_id and rp->cseq.  0, or a negative errno with the
 * profile's error set.
 */
int driver_make_binding(struct reg_profile *rp)
{
	struct registry *r = rp->r;
	const struct profile *p = rp->p;
	const struct alr_plugin *pl = rp->plugin;
	struct alr_registration reg;
	struct binding_config bc;
	struct digest_ha1 ha1;
	char *ha1_user = NULL;
	struct sipmsg_header *hdrs = NULL;
	char *registrar = NULL, *proxy = NULL, *raw = NULL;
	struct profile_agent_info in;
	int ret;

	ret = profile_agent_info_build(&in, p);
	if (ret < 0)
		goto out;
	if (p->registrar.uri)
		ret = profile_agent_uri_with_transport(p->registrar.uri, p->registrar.transport, &registrar);
	else {
		ret = profile_agent_registrar_of_aor(p->aor, &raw);
		if (ret == 0)
			ret = profile_agent_uri_with_transport(raw, p->registrar.transport, &registrar);
	}
	if (ret == 0 && p->outbound_proxy.uri)
		ret = profile_agent_uri_with_transport(p->outbound_proxy.uri, p->outbound_proxy.transport,
					 &proxy);
	if (ret < 0) {
		rp_set_error(rp, 0, "config", "cannot make a Request-URI of the registrar");
		goto out;
	}
	reg = (struct alr_registration){
		.aor = p->aor,
		.registrar = registrar,
		.outbound_proxy = proxy,
		.instance = rp->instance,
		.expires = p->expires,
		.contact_params = in.info.contact_params,
		.n_contact_params = in.info.n_contact_params,
		.extra_headers = in.info.extra_headers,
		.n_extra_headers = in.info.n_extra_headers,
	};
	if (pl && pl->build_registration) {
		plugin_loader_call_begin(pl);
		ret = pl->build_registration(&in.info, &reg, &rp->handle);
		plugin_loader_call_end();
		if (ret < 0) {
			if (!rp->has_error || strcmp(rp->err_kind, "plugin") != 0)
				rp_set_error(rp, 0, "plugin", "plugin %s cannot build the registration: %s",
					  pl->name, strerror(-ret));
			goto out;
		}
	}
	hdrs = calloc(reg.n_extra_headers ? reg.n_extra_headers : 1, sizeof(*hdrs));
	if (!hdrs) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < reg.n_extra_headers; i++)
		hdrs[i] = (struct sipmsg_header){ reg.extra_headers[i].name,
						  reg.extra_headers[i].value };
	bc = (struct binding_config){
		.aor = reg.aor,
		.registrar = reg.registrar,
		.outbound_proxy = reg.outbound_proxy,
		.username = p->registrar.digest_user ? p->registrar.digest_user :
			    p->private_identity,
		.realm = p->registrar.realm,
		.password = p->registrar.password && *p->registrar.password ?
			    p->registrar.password : NULL,
		.expires = reg.expires,
		.contact_user = rp->contact_user,
		.instance = reg.instance,
		.contact_params = reg.contact_params,
		.n_contact_params = reg.n_contact_params,
		.extra_headers = hdrs,
		.n_extra_headers = reg.n_extra_headers,
		.call_id = rp->call_id,
		.cseq = rp->cseq,
		.check_ms = r->registration_check_ms,
		/* TLS: the first hop's (docs/sip.md, "TLS") */
		.ca_file = proxy ? p->outbound_proxy.ca_file : p->registrar.ca_file,
	};
	/* A sealed password (alr/secret.h): HA1, sent for the user it was
	 * made for. */
	if (!bc.password && p->registrar.ha1) {
		ret = secret_open(p->registrar.ha1, &ha1_user, &ha1);
		if (ret < 0) {
			rp_set_error(rp, 0, "config", "the stored form of the registrar's password is "
				  "damaged; set the password again");
			goto out;
		}
		bc.ha1 = &ha1;
		bc.username = ha1_user;
	}
	errno = 0;
	rp->binding = r->ops ? binding_new_with_ops(r->ops, r->ops_env, &bc) :
			       binding_new(r->stack, &bc);
	if (!rp->binding) {
		ret = errno ? -errno : -ENOMEM;
		/* sip/ logged which part it refused; never the password. */
		rp_set_error(rp, 0, "config", "the SIP engine refuses this profile's registration "
			  "(%s); see alrd's log", strerror(-ret));
		goto out;
	}
	rp->binding_id = binding_get_id(rp->binding);
	binding_add_observer(rp->binding, on_binding_event, rp, NULL);
	binding_set_contacts(rp->binding, &driver_contacts, rp);
	log_debug("profile %u (%s): binding %u for %s at %s, contact user %s", p->id, rp_name(rp),
		  rp->binding_id, reg.aor, reg.registrar, rp->contact_user);
	ret = 0;
out:
	OPENSSL_cleanse(&ha1, sizeof(ha1));
	free(ha1_user);
	driver_scratch_release(&rp->handle);
	profile_agent_info_free(&in);
	free(hdrs);
	free(registrar);
	free(proxy);
	free(raw);
	return ret;
}
void driver_plugin_message(struct reg_profile *rp, int status)
{
	struct alr_sip_message msg = {
		.status = status, .method = "REGISTER", .contact = rp->contact,
	};
	struct profile_agent_info in;

	if (!rp->plugin || !rp->plugin->handle_message || status < 100 || status > 699)
		return;
	if (status / 100 == 2 && rp->expires)
		snprintf(msg.expires, sizeof(msg.expires), "%u", rp->expires);
	if (profile_agent_info_build(&in, rp->p) == 0) {
		plugin_loader_call_begin(rp->plugin);
		rp->plugin->handle_message(&in.info, &msg, &rp->handle);
		plugin_loader_call_end();
	}
	profile_agent_info_free(&in);
	driver_scratch_release(&rp->handle);
}
void driver_plugin_deregistered(struct reg_profile *rp)
{
	struct profile_agent_info in;

	if (!rp->plugin || !rp->plugin->deregistered)
		return;
	if (profile_agent_info_build(&in, rp->p) == 0) {
		plugin_loader_call_begin(rp->plugin);
		rp->plugin->deregistered(&in.info, &rp->handle);
		plugin_loader_call_end();
	}
	profile_agent_info_free(&in);
	driver_scratch_release(&rp->handle);
}
static const char *iap_label(struct registry *r, unsigned int id, char *buf, size_t size)
{
	const struct iap *iap = iap_table_find_by_id(r->iaps, id);

	if (iap)
		snprintf(buf, size, "iap %u (%s)", id, iap->name);
	else
		snprintf(buf, size, "iap %u", id);
	return buf;
}
static bool stale_pending(const struct reg_profile *rp)
{
	return contacts_any_pending(&rp->contacts);
}
/* Remove the stale contacts, over the current IAP when registered, else
 * (outside the engine) over any available one. */
void driver_cleanup_stale(struct reg_profile *rp)
{
	const struct iap *iap = NULL;
	const char *ifname = NULL;
	char local[INET6_ADDRSTRLEN];
	const char *current;
	bool bound;

	if (!contacts_count_stale(&rp->contacts) || rp->r->restoring)
		return;
	bound = rp_registration(rp) == ROAM_REG_REGISTERED && rp->binding;
	if (!bound && !rp_idle(rp))
		return;
	if (!bound) {
		iap = any_iap(rp);
		if (!iap)
			return;         /* again when an IAP comes up */
		ifname = iap->ifname;
		iap_pick_local(iap, rp_dest_family(rp), local, sizeof(local));
		if (!rp->binding && driver_make_binding(rp) < 0)
			return;
	}
	current = bound ? binding_get_contact(rp->binding) : NULL;
	for (size_t i = 0; i < rp->contacts.n;) {
		struct contact *s = &rp->contacts.v[i];
		const char *via = ifname, *via_local = ifname ? local : NULL;
		char old_local[INET6_ADDRSTRLEN];
		const struct iap *old;
		int ret;

		if (!s->stale) {
			i++;
			continue;
		}
		if (current && strcmp(s->uri, current) == 0) {
			/* What we register now is not stale (it stays in the
			 * list, recorded, or leaves it). */
			bool stays = s->recorded;

			contacts_unmark_stale(&rp->contacts, s->uri);
			i += stays;
			continue;
		}
		i++;
		if (s->pending)
			continue;
		/* Over the IAP it was registered over while that is up (DESIGN
		 * §3.3), else over the current one. */
		if (bound && s->iap_id && s->iap_id != rp->iap_id &&
		    (old = iap_table_find_by_id(rp->r->iaps, s->iap_id)) && iap_available(old) &&
		    iap_pick_local(old, rp_dest_family(rp), old_local, sizeof(old_local))) {
			via = old->ifname;
			via_local = old_local;
		}
		ret = binding_remove_contact(rp->binding, s->uri, via, via_local);
		if (ret < 0) {
			log_debug("profile %u (%s): cannot remove %s now: %s", rp->p->id, rp_name(rp),
				  s->uri, strerror(-ret));
			continue;
		}
		/* Its outcome is queued (the rule at the top): @s stays. */
		s->pending = true;
		log_info("profile %u (%s): removing contact %s left at the registrar (via %s)",
			 rp->p->id, rp_name(rp), s->uri, via ? via : rp->ifname);
	}
}
/* The REGISTER of op_sip_go(), once the removals before it are done. */
static int start_binding(struct reg_profile *rp)
{
	rp->start_pending = false;
	return binding_start(rp->binding, rp->ifname, rp->local);
}
static void on_contact_removed(struct reg_profile *rp, const struct bevent *ev)
{
	struct contact *s = contacts_find(&rp->contacts, ev->contact);
	int ret;

	if (s && !s->stale)
		s = NULL;
	if (s && ev->error == BINDING_ERROR_NONE) {
		contacts_removed(&rp->contacts, s->uri);
	} else if (s) {
		s->pending = false;     /* tried again at the next chance */
		rp->old_error = ev->code > 0 ? ev->code : -EIO;
	}
	if (rp->removing_old && !stale_pending(rp)) {
		int status = rp->old_error;

		rp->removing_old = false;
		rp->old_error = 0;
		roam_sip_old_removed(rp->r->roam, rp->p->id, status, status ? ev->reason : NULL);
	}
	if (!rp->start_pending || stale_pending(rp) || !rp->binding ||
	    binding_get_state(rp->binding) != BINDING_IDLE)
		return;
	/* The removals are done (or failed: they are tried again later):
	 * now the registration. */
	ret = start_binding(rp);
	if (ret < 0)
		binding_failed_now(rp, ret);
}
static void on_registered(struct reg_profile *rp, const struct bevent *ev)
{
	enum roam_state st = rp_phase(rp);
	bool changed = !rp->contact || strcmp(rp->contact, ev->contact) != 0;

	if (changed) {
		char *c = strdup(ev->contact);

		if (c) {
			free(rp->contact);
			rp->contact = c;
		}
	}
	rp->expires = ev->expires;
	rp->has_error = false;
	profile_set_registered(rp->p, (const char *const *)rp->p->registered_aors.v,
			       rp->p->registered_aors.n, rp->contact);
	driver_plugin_message(rp, ev->code >= 200 && ev->code < 300 ? ev->code : 200);
	if (changed && rp_registration(rp) == ROAM_REG_REGISTERED && st != ROAM_MIGRATING) {
		/* A new contact for the same rp_registration (a minor update,
		 * a new address on the same IAP): say so again. */
		struct registry_event e = {
			.type = REGISTRY_EVENT_REGISTERED, .id = rp->p->id,
			.iap_id = rp->iap_id, .contact = rp->contact,
			.expires = rp->expires,
		};

		registry_emit(rp->r, &e);
	}
	/* Our contacts over other IAPs (a failover, a move) are stale now;
	 * the engine has them removed (op_sip_remove_old()), or they go
	 * below.  Those whose time ran out are gone already. */
	contacts_expire(&rp->contacts, (int64_t)time(NULL));
	for (size_t i = 0; i < rp->contacts.n; i++) {
		const struct contact *e = &rp->contacts.v[i];

		if (e->recorded && strcmp(e->uri, ev->contact) != 0 &&
		    strcmp(contact_ifname(rp, e), rp->ifname) != 0)
			contacts_mark_stale(&rp->contacts, e->uri, e->iap_id);
	}
	if (rp->in_engine)
		roam_sip_registered(rp->r->roam, rp->p->id, rp->iap_id);
	driver_cleanup_stale(rp);
}
/* No answer, an ICMP host or net unreachable, a reset connection, a name
 * that does not resolve: the network (or the way to the registrar over
 * it).  A closed port is the server's (BINDING_ERROR_SERVER: docs/sip.md,
 * "ICMP errors"), and so is a certificate we refuse (BINDING_ERROR_TLS:
 * docs/sip.md, "TLS"). */
static bool network_failure_kind(enum binding_error e)
{
	switch (e) {
	case BINDING_ERROR_TIMEOUT:
	case BINDING_ERROR_TRANSPORT:
	case BINDING_ERROR_RESOLVE:
	case BINDING_ERROR_INTERNAL:
		return true;
	case BINDING_ERROR_NONE:
	case BINDING_ERROR_AUTH:
	case BINDING_ERROR_FORBIDDEN:
	case BINDING_ERROR_NOT_FOUND:
	case BINDING_ERROR_REJECTED:
	case BINDING_ERROR_PROTOCOL:
	case BINDING_ERROR_SERVER:
	case BINDING_ERROR_REDIRECT:
	case BINDING_ERROR_TLS:         /* the server's certificate: the same
					   over every network */
	case _BINDING_ERROR_MAX:
		break;
	}
	return false;
}

/* Transport evidence against the IAP (issue 15): no answer, a socket
 * error, no address.  A name server's answer (no such name, no address,
 * refused, SERVFAIL) is the same over every network: not the IAP's. */
static bool network_failure_ev(const struct bevent *ev)
{
	if (ev->error == BINDING_ERROR_RESOLVE &&
	    (ev->code == -ENOENT || ev->code == -ENODATA || ev->code == -EACCES ||
	     ev->code == -EAGAIN))
		return false;
	return network_failure_kind(ev->error);
}

static void on_backoff(struct reg_profile *rp, const struct bevent *ev)
{
	rp_set_error(rp, ev->code > 0 ? ev->code : 0, binding_error_to_str(ev->error),
		  "registration failed (%s%s%s); retrying", ev->reason,
		  ev->code > 0 ? ", " : "",
		  ev->code > 0 ? "SIP status" : "");
	driver_plugin_message(rp, ev->code);
	if (!rp->in_engine)
		return;
	/* Only transport evidence says anything about the IAP: the same
	 * registrar answers the same over every network (issue 15). */
	if (network_failure_ev(ev))
		roam_sip_failed(rp->r->roam, rp->p->id, rp->iap_id,
				ev->code ? ev->code : -EIO, ev->reason);
	else
		roam_sip_server_error(rp->r->roam, rp->p->id, rp->iap_id,
				      ev->code ? ev->code : -EIO, ev->reason);
}
/* The engine's probe (op_sip_probe()): any answer over the IAP will do, a
 * refusal or a challenge as much as the bindings; a closed port too (the
 * registrar's host answered).  No answer, an ICMP error on the way, or
 * the query given up for the binding's own REGISTER: not answered. */
static void on_query(struct reg_profile *rp, const struct bevent *ev)
{
	unsigned int iap = rp->probe_iap;

	if (!iap || !rp->in_engine)
		return;
	rp->probe_iap = 0;
	roam_sip_probed(rp->r->roam, rp->p->id, iap, !network_failure_ev(ev),
			ev->error == BINDING_ERROR_NONE ? 0 : ev->code ? ev->code : -EIO,
			ev->reason);
}
static void on_idle(struct reg_profile *rp, const struct bevent *ev)
{
	if (rp->deregistering) {
		/* The deregistration the engine asked for (a stop, or the
		 * break of break-before-make). */
		rp->deregistering = false;
		if (ev->error != BINDING_ERROR_NONE)
			log_info("profile %u (%s): deregistration incomplete (%s); the contacts "
				 "left are removed later", rp->p->id, rp_name(rp), ev->reason);
		roam_sip_deregistered(rp->r->roam, rp->p->id,
				      ev->error == BINDING_ERROR_NONE ? 0 :
				      ev->code ? ev->code : -EIO, ev->reason);
		return;
	}
	if (ev->error == BINDING_ERROR_NONE || !rp->in_engine)
		return;         /* idled on purpose: binding_abandon() */
	if (rp_phase(rp) == ROAM_MIGRATING) {
		/* A make-before-break move refused for good (e.g. 403 from
		 * the new network): the old contact is still at the
		 * registrar, so this is the migration's failure, not the
		 * profile's.  The engine names the IAP in alr.error and
		 * moves back (op_sip_go()). */
		log_info("profile %u (%s): move to iap %u refused (%s); staying",
			 rp->p->id, rp_name(rp), rp->iap_id, ev->reason);
		if (network_failure_ev(ev))
			roam_sip_failed(rp->r->roam, rp->p->id, rp->iap_id,
					ev->code ? ev->code : -EIO, ev->reason);
		else
			roam_sip_refused(rp->r->roam, rp->p->id, rp->iap_id,
					 ev->code ? ev->code : -EIO, ev->reason);
		return;
	}
	/* The binding gave up: a permanent error; not wanted until the
	 * profile changes, is enabled again, or a network comes up. */
	rp_set_error(rp, ev->code > 0 ? ev->code : 0, binding_error_to_str(ev->error),
		  "registration refused (%s); not retried until the profile changes, is "
		  "enabled again, or a network comes up", ev->reason);
	log_warning("profile %u (%s): %s", rp->p->id, rp_name(rp), rp->err_message);
	driver_plugin_message(rp, ev->code);
	rp->failed = true;
	rp_reconcile(rp);
}
void driver_handle_bevent(struct reg_profile *rp, const struct bevent *ev)
{
	if (!rp->binding || ev->binding_id != rp->binding_id)
		return;         /* from a binding we let go */
	switch (ev->type) {
	case BINDING_EVENT_CONTACT_REMOVED:
		on_contact_removed(rp, ev);
		return;
	case BINDING_EVENT_QUERY:
		on_query(rp, ev);
		return;
	case BINDING_EVENT_STATE:
		break;
	case _BINDING_EVENT_MAX:
		return;
	}
	switch (ev->new_state) {
	case BINDING_REGISTERED:
		on_registered(rp, ev);
		break;
	case BINDING_BACKOFF:
		on_backoff(rp, ev);
		break;
	case BINDING_IDLE:
		on_idle(rp, ev);
		break;
	case BINDING_RESOLVING:
	case BINDING_REGISTERING:
	case BINDING_UNREGISTERING:
	case _BINDING_STATE_MAX:
		break;
	}
}
static uint64_t op_now_ms(void *ud)
{
	struct timespec ts;

	(void)ud;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
static void op_timer_start(void *ud, unsigned int profile, uint64_t at_ms)
{
	struct registry *r = ud;
	struct reg_profile *rp = registry_lookup(r, profile);
	uint64_t now = op_now_ms(ud);

	if (!rp)
		return;
	ev_timer_stop(r->loop, &rp->roam_timer);
	/* ev timers count from the loop's cached time: bring it to @now,
	 * so that the timer does not fire before @at_ms (the engine would
	 * only arm it again). */
	ev_now_update(r->loop);
	ev_timer_set(&rp->roam_timer, at_ms > now ? (double)(at_ms - now) / 1000. : 0., 0.);
	ev_timer_start(r->loop, &rp->roam_timer);
}
static void op_timer_stop(void *ud, unsigned int profile)
{
	struct registry *r = ud;
	struct reg_profile *rp = registry_lookup(r, profile);

	if (rp)
		ev_timer_stop(r->loop, &rp->roam_timer);
}
void driver_roam_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct reg_profile *rp = container_of(w, struct reg_profile, roam_timer);
	struct registry *r = rp->r;

	(void)loop;
	(void)revents;
	registry_enter(r);
	roam_timer_fired(r->roam, rp->p->id);
	registry_leave(r);
}
static int go_with_proxy(struct registry *r, struct reg_profile *rp, const struct iap *iap,
			 const struct driver_proxies *dhcp, int family);
/* sip_register and sip_move: the binding registers over @iap_id.  While
 * it is registered elsewhere (a migration, make-before-break) the old
 * contact stays until the new one is registered (binding_move()). */
static int op_sip_go(void *ud, unsigned int profile, unsigned int iap_id)
{
	struct registry *r = ud;
	struct reg_profile *rp = registry_lookup(r, profile);
	const struct iap *iap;
	struct driver_proxies dhcp = { .n = 0 };
	int ret, family;

	if (!rp || !rp->in_engine)
		return -ESHUTDOWN;
	if (rp->failed)
		return -EIO;            /* not wanted any more: rp_reconcile() follows */
	iap = iap_table_find_by_id(r->iaps, iap_id);
	if (!iap || !iap_available(iap))
		return -ENETUNREACH;
	family = profile_dest_family(rp->p);
	rp->dhcp_wait = 0;
	if (rp->p->proxy_from_dhcp &&
	    driver_dhcp_proxy(rp, iap, &dhcp, &family) == -EINPROGRESS) {
		/* The network is asked for its proxy first: the REGISTER
		 * follows its answer (driver_go_after_dhcp()). */
		rp->dhcp_wait = iap_id;
		log_info("profile %u (%s): waiting for iap %u's DHCP answer before registering",
			 rp->p->id, rp_name(rp), iap_id);
		return ROAM_OP_STARTED;
	}
	ret = go_with_proxy(r, rp, iap, &dhcp, family);
	driver_dhcp_proxies_clear(&dhcp);
	return ret;
}
/* op_sip_go() once the proxy is known. */
static int go_with_proxy(struct registry *r, struct reg_profile *rp, const struct iap *iap,
			 const struct driver_proxies *dhcp, int family)
{
	char local[INET6_ADDRSTRLEN], where[96];
	unsigned int iap_id = iap->id;
	int ret;

	if (!iap_pick_local(iap, family, local, sizeof(local)))
		return -ENETUNREACH;
	/* XXX already registered over this IAP when it names another
	 * proxy (asked again after an address change that kept the
	 * local address): the new one is taken at the next move. */
	if (rp->binding && !rp->deregistering && rp->iap_id == iap_id &&
	    strcmp(rp->ifname, iap->ifname) == 0 && strcmp(rp->local, local) == 0 &&
	    binding_get_state(rp->binding) != BINDING_IDLE) {
		/* Already there (or on the way): the outcome comes. */
		return binding_get_state(rp->binding) == BINDING_REGISTERED ? ROAM_OP_DONE :
										 ROAM_OP_STARTED;
	}
	if (rp->deregistering && rp->binding &&
	    binding_get_state(rp->binding) == BINDING_UNREGISTERING) {
		/* The break of break-before-make is still out (its IAP
		 * went): let that binding go; what it registered is removed
		 * as stale contacts (binding_start() would answer -EBUSY). */
		driver_release_binding(rp);
	}
	rp->deregistering = false;
	if (!rp->binding && driver_make_binding(rp) < 0) {
		rp->failed = true;
		rp->stopped = true;     /* rp_reconcile() once the engine returns */
		return -EINVAL;
	}
	if (rp->p->proxy_from_dhcp &&
	    binding_set_proxies(rp->binding, (const char *const *)dhcp->v, dhcp->n) < 0)
		log_warning("profile %u (%s): the binding refuses the proxies named by DHCP "
			    "(first %s)", rp->p->id, rp_name(rp), dhcp->n ? dhcp->v[0] : "none");
	if (rp->iap_id && rp->iap_id != iap->id)
		log_info("profile %u (%s): moving from iap %u to iap %u", rp->p->id, rp_name(rp),
			 rp->iap_id, iap->id);
	rp->iap_id = iap->id;
	util_strlcpy(rp->ifname, iap->ifname, sizeof(rp->ifname));
	util_strlcpy(rp->local, local, sizeof(rp->local));
	if (binding_get_state(rp->binding) == BINDING_IDLE) {
		/* What an earlier run (or binding) left is removed before
		 * registering anew (DESIGN §3.8); the REGISTER follows the
		 * last removal's outcome (on_contact_removed()).  XXX after
		 * a major update whose deregistration did not finish, the
		 * removal goes to the new AOR and registrar: the old
		 * registrar keeps the old contact until it expires. */
		for (size_t i = 0; i < rp->contacts.n; i++) {
			struct contact *s = &rp->contacts.v[i];

			if (!s->stale || s->pending ||
			    binding_remove_contact(rp->binding, s->uri, rp->ifname, rp->local) < 0)
				continue;
			s->pending = true;
			log_info("profile %u (%s): removing contact %s left at the registrar",
				 rp->p->id, rp_name(rp), s->uri);
		}
		rp->start_pending = true;
		ret = stale_pending(rp) ? 0 : start_binding(rp);
	} else {
		rp->start_pending = false;
		ret = binding_move(rp->binding, rp->ifname, rp->local);
	}
	if (ret < 0 && ret != -EALREADY) {
		/* Handled like the binding's own failure, once the engine
		 * returns: a permanent error. */
		log_warning("profile %u (%s): cannot register over %s: %s", rp->p->id, rp_name(rp),
			    iap_label(r, iap->id, where, sizeof(where)), strerror(-ret));
		binding_failed_now(rp, ret);
	}
	return ROAM_OP_STARTED;
}
void driver_go_after_dhcp(struct reg_profile *rp, unsigned int iap_id)
{
	struct registry *r = rp->r;
	int ret = op_sip_go(r, rp->p->id, iap_id);

	if (ret >= 0 || ret == -ESHUTDOWN || ret == -EIO || ret == -EINVAL)
		return;         /* started, or the profile's own follow-up */
	/* The engine heard "started": it hears the failure now. */
	roam_sip_failed(r->roam, rp->p->id, iap_id, ret, "no local address after DHCP");
}
static int op_sip_register(void *ud, unsigned int profile, unsigned int iap)
{
	return op_sip_go(ud, profile, iap);
}
static int op_sip_move(void *ud, unsigned int profile, unsigned int iap)
{
	return op_sip_go(ud, profile, iap);
}
/* The stale contacts (on_registered() marked those over other IAPs), each
 * over the IAP it was registered over while that is up, else over the
 * current one: the engine's @via_iap is the same rule.  The engine hears
 * the outcome when the last removal is answered (on_contact_removed()). */
static int op_sip_remove_old(void *ud, unsigned int profile, unsigned int old_iap,
			     unsigned int via_iap)
{
	struct registry *r = ud;
	struct reg_profile *rp = registry_lookup(r, profile);

	if (!rp || !rp->binding)
		return ROAM_OP_DONE;
	driver_cleanup_stale(rp);
	if (!stale_pending(rp)) {
		log_debug("profile %u: no contact left over iap %u", profile, old_iap);
		return contacts_count_stale(&rp->contacts) ? -EAGAIN : ROAM_OP_DONE;
	}
	log_debug("profile %u: removing the old contacts (last over iap %u; new iap %u)",
		  profile, old_iap, via_iap);
	rp->removing_old = true;
	rp->old_error = 0;
	return ROAM_OP_STARTED;
}
/* Every contact of the binding is removed, then it idles (binding_stop()):
 * a stop, or the break of break-before-make.  XXX binding_stop() goes over
 * the binding's IAP, not @via_iap: when that IAP is gone the deregistration
 * fails and the contact is left to the stale cleanup. */
static int op_sip_deregister(void *ud, unsigned int profile, unsigned int via_iap)
{
	struct registry *r = ud;
	struct reg_profile *rp = registry_lookup(r, profile);
	int ret;

	if (rp)
		rp->dhcp_wait = 0;
	if (!rp || !rp->binding || binding_get_state(rp->binding) == BINDING_IDLE)
		return ROAM_OP_DONE;
	if (rp->deregistering)
		return ROAM_OP_STARTED;         /* out already; its outcome comes */
	ret = binding_stop(rp->binding);
	if (ret < 0)
		return ret;
	rp->deregistering = true;
	rp->start_pending = false;
	log_info("profile %u (%s): deregistering (contact over iap %u)", rp->p->id, rp_name(rp),
		 via_iap);
	return ROAM_OP_STARTED;
}
/* Does the registrar answer over @iap_id?  A query (a REGISTER without
 * Contact, RFC 3261 §10.2.3: it changes nothing at the registrar) over
 * that IAP, beside the registration; its outcome is on_query()'s. */
static int op_sip_probe(void *ud, unsigned int profile, unsigned int iap_id)
{
	struct registry *r = ud;
	struct reg_profile *rp = registry_lookup(r, profile);
	char local[INET6_ADDRSTRLEN];
	const struct iap *iap;
	int ret;

	if (!rp || !rp->in_engine || !rp->binding)
		return -ESHUTDOWN;
	iap = iap_table_find_by_id(r->iaps, iap_id);
	if (!iap || !iap_available(iap) || !iap_pick_local(iap, rp_dest_family(rp), local,
						       sizeof(local)))
		return -ENETUNREACH;
	ret = binding_query(rp->binding, iap->ifname, local);
	if (ret < 0)
		return ret;
	rp->probe_iap = iap_id;
	log_debug("profile %u (%s): does the registrar answer over iap %u?", rp->p->id,
		  rp_name(rp), iap_id);
	return ROAM_OP_STARTED;
}
/* No IAP left (or the stop timeout): the binding idles without a request
 * instead of retrying over a network that is gone; its contacts stay
 * in the list (and the store) and are removed after the next registration
 * (on_registered()).  A deregistration still out ends by itself, or is
 * let go when the engine leaves the profile (op_state_changed()). */
static void op_sip_abandon(void *ud, unsigned int profile)
{
	struct registry *r = ud;
	struct reg_profile *rp = registry_lookup(r, profile);

	if (rp)
		rp->dhcp_wait = 0;
	if (!rp || !rp->binding || binding_get_state(rp->binding) == BINDING_IDLE)
		return;
	if (binding_abandon(rp->binding) < 0)
		return;
	rp->start_pending = false;
	log_info("profile %u (%s): no IAP left; the binding idles until one comes", rp->p->id,
		 rp_name(rp));
}
/* profile.migrated (issue 14 item 5): applications that run their own
 * SIP stack and only observe alrd learn the old and new local address and
 * contact, to send their own target refresh.  Told once the profile is
 * registered somewhere else than clients were last told (after a
 * failover's REGISTERED or a migration's UPDATED). */
static void tell_where(struct registry *r, struct reg_profile *rp)
{
	struct registry_event e = { .type = REGISTRY_EVENT_MIGRATED, .id = rp->p->id };
	char *copy;

	if (!rp->contact || !rp->iap_id)
		return;
	if (rp->told_contact && rp->told_iap == rp->iap_id &&
	    strcmp(rp->told_contact, rp->contact) == 0)
		return;
	copy = strdup(rp->contact);
	if (!copy)
		return;
	if (rp->told_contact) {
		e.from_iap_id = rp->told_iap;
		e.from_local = rp->told_local;
		e.from_contact = rp->told_contact;
		e.iap_id = rp->iap_id;
		e.local = rp->local;
		e.contact = rp->contact;
		registry_emit(r, &e);
	}
	free(rp->told_contact);
	rp->told_contact = copy;
	rp->told_iap = rp->iap_id;
	util_strlcpy(rp->told_local, rp->local, sizeof(rp->told_local));
}

/* The engine's events: its profile.* ones become the registry's (with
 * the contact), the alr.* ones go to the daemon's handler. */
static void op_event(void *ud, const struct roam_event *ev)
{
	struct registry *r = ud;
	struct reg_profile *rp = registry_lookup(r, ev->profile);
	struct registry_event e = { .id = ev->profile };
	char where[96];

	switch (ev->type) {
	case ROAM_EVENT_REGISTERED:
		if (!rp)
			return;
		e.type = REGISTRY_EVENT_REGISTERED;
		e.iap_id = ev->iap;
		e.contact = rp->contact;
		e.expires = rp->expires;
		log_profile(LOG_NOTICE, rp->p->id, ev->iap,
			    "profile %u (%s): registered over %s as %s", rp->p->id, rp_name(rp),
			    iap_label(r, ev->iap, where, sizeof(where)),
			    rp->contact ? rp->contact : "?");
		registry_emit(r, &e);
		tell_where(r, rp);
		return;
	case ROAM_EVENT_DEREGISTERED:
		e.type = REGISTRY_EVENT_DEREGISTERED;
		e.reason = ev->reason;
		log_profile(LOG_NOTICE, ev->profile, ev->iap, "profile %u (%s): deregistered (%s)",
			    ev->profile, rp ? rp_name(rp) : "?", roam_reason_to_str(ev->reason));
		registry_emit(r, &e);
		return;
	case ROAM_EVENT_UPDATED:
		/* Its IAP changed (a migration, DESIGN §3.3). */
		e.type = REGISTRY_EVENT_UPDATED;
		registry_emit(r, &e);
		if (rp)
			tell_where(r, rp);
		return;
	case ROAM_EVENT_IAP_AVAILABLE:
	case ROAM_EVENT_MIGRATION_STARTED:
	case ROAM_EVENT_MIGRATION_COMPLETED:
	case ROAM_EVENT_ERROR:
	case ROAM_EVENT_NO_IAP:
	case _ROAM_EVENT_MAX:
		break;
	}
	if (r->roam_fn)
		r->roam_fn(ev, r->roam_data);
}
/* What an edge means for the binding and the profile's registered view. */
static void op_state_changed(void *ud, unsigned int profile, enum roam_state old_state,
			     enum roam_state new_state)
{
	struct registry *r = ud;
	struct reg_profile *rp = registry_lookup(r, profile);

	(void)old_state;
	if (!rp)
		return;
	if (new_state == ROAM_UNREGISTERED || new_state == ROAM_WAIT_FOR_IAP)
		rp->dhcp_wait = 0;
	switch (new_state) {
	case ROAM_UNREGISTERED:
		/* A major update needs a new binding; a deregistration the
		 * stop timeout gave up on is let go (its contacts stale). */
		if (rp->binding && (rp->restart_after_stop ||
				    binding_get_state(rp->binding) == BINDING_UNREGISTERING))
			driver_release_binding(rp);
		rp->restart_after_stop = false;
		rp->deregistering = false;
		rp->start_pending = false;
		rp->removing_old = false;
		free(rp->contact);
		rp->contact = NULL;
		rp->expires = 0;
		rp->iap_id = 0;
		profile_set_registered(rp->p, NULL, 0, NULL);
		rp->stopped = true;
		break;
	case ROAM_WAIT_FOR_IAP:
		rp->iap_id = 0;
		rp->start_pending = false;
		break;
	case ROAM_REGISTERING:
	case ROAM_REGISTERED:
	case ROAM_WAIT_FOR_PERMISSION:
	case ROAM_MIGRATING:
	case ROAM_UNREGISTERING_OLD:
	case ROAM_UNREGISTERING:
	case _ROAM_STATE_MAX:
		break;
	}
}
const struct roam_ops driver_roam_ops = {
	.now_ms = op_now_ms,
	.timer_start = op_timer_start,
	.timer_stop = op_timer_stop,
	.sip_register = op_sip_register,
	.sip_move = op_sip_move,
	.sip_remove_old = op_sip_remove_old,
	.sip_deregister = op_sip_deregister,
	.sip_abandon = op_sip_abandon,
	.sip_probe = op_sip_probe,
	.event = op_event,
	.state_changed = op_state_changed,
};
/* Every IAP now for the engine, without @skip (the old IAP of an identity
 * switch while both are in the table). */
static void roam_feed_iaps(struct registry *r, unsigned int skip)
{
	size_t n, k = 0;

	if (registry_build_views(r, &n) < 0) {
		log_warning("roam: out of memory building the IAP views");
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (r->views[i].id != skip)
			r->views[k++] = r->views[i];
	if (roam_iaps_changed(r->roam, r->views, k) < 0)
		log_warning("roam: cannot take the IAP views");
}
void driver_on_iap_event(enum iap_event event, const struct iap *iap, void *ud)
{
	struct registry *r = ud;

	registry_enter(r);
	if (event == IAP_EVENT_ADDED && iap->replaces) {
		/* An identity switch: the same link under a new id; nothing
		 * moves (docs/roaming.md, "Identity switches"). */
		for (size_t i = 0; i < r->n; i++)
			if (r->v[i]->iap_id == iap->replaces) {
				log_info("profile %u (%s): now over iap %u (same interface %s)",
					 r->v[i]->p->id, rp_name(r->v[i]), iap->id, iap->ifname);
				r->v[i]->iap_id = iap->id;
			}
		roam_iap_replaced(r->roam, iap->replaces, iap->id);
	}
	driver_dhcp_iap_event(r, event, iap);
	/* The old IAP of an identity switch leaves the views at once.  A
	 * lost IAP fails over inside this call. */
	roam_feed_iaps(r, iap->replaces ? iap->replaces : iap->replaced_by ? iap->id : 0);
	driver_dhcp_prefetch(r);
	for (size_t i = 0; i < r->n; i++) {
		struct reg_profile *rp = r->v[i];
		enum roam_registration reg = rp_registration(rp);
		int ret;

		if (rp->in_engine && rp->binding && !rp->deregistering && rp->iap_id == iap->id &&
		    (reg == ROAM_REG_REGISTERING || reg == ROAM_REG_REGISTERED) &&
		    iap_available(iap) && !has_local(iap, rp->local) &&
		    binding_get_state(rp->binding) != BINDING_IDLE) {
			/* A new address on the same IAP: register again from
			 * it (a loss is the engine's, above). */
			iap_pick_local(iap, rp_dest_family(rp), rp->local, sizeof(rp->local));
			log_info("profile %u (%s): new address %s on iap %u; registering again",
				 rp->p->id, rp_name(rp), rp->local, iap->id);
			ret = binding_move(rp->binding, rp->ifname, rp->local);
			if (ret < 0 && ret != -EALREADY)
				binding_failed_now(rp, ret);
		} else if (rp_idle(rp) && event == IAP_EVENT_UP) {
			/* A new network: a permanent error may not hold
			 * there; leftovers may now be removed. */
			rp->failed = false;
			rp_reconcile(rp);
		}
	}
	registry_leave(r);
}
/* A minor update of a registered profile: a re-REGISTER with the new
 * values, same Call-ID, next CSeq, same socket (so the same contact). */
void driver_reregister(struct reg_profile *rp)
{
	struct binding *old = rp->binding;
	unsigned int old_id = rp->binding_id;
	int ret;

	rp->binding = NULL;
	rp->start_pending = false;
	if (driver_make_binding(rp) < 0) {
		/* Keep what runs; the error is reported. */
		rp->binding = old;
		rp->binding_id = old_id;
		return;
	}
	/* The proxy the IAP's network named stays (DHCP is not asked again
	 * for a re-REGISTER over the same IAP). */
	if (rp->p->proxy_from_dhcp) {
		const char *const *v;
		size_t n = binding_get_proxies(old, &v);

		binding_set_proxies(rp->binding, v, n);
	}
	ret = binding_start(rp->binding, rp->ifname, rp->local);
	if (ret < 0)
		log_warning("profile %u (%s): re-REGISTER failed to start: %s", rp->p->id,
			    rp_name(rp), strerror(-ret));
	/* What the old binding registered and the new one does not is
	 * removed once the new one is registered. */
	contacts_release(&rp->contacts, (int64_t)time(NULL));
	binding_free(old);
	rp->probe_iap = 0;              /* its query went with it */
	log_info("profile %u (%s): minor update, registering again (binding %u)", rp->p->id,
		 rp_name(rp), rp->binding_id);
	if (ret < 0)
		binding_failed_now(rp, ret);
}
