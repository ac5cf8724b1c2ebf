/* The registry's side toward the profile agent plugins and the SIP
 * layer, the parts that need no registry state: what a plugin sees of a
 * profile, and the URIs a binding is built with (see profile_agent.h).
 *
 * XXX issue 12 #3: the rest of the adapter (the plugin host table, binding
 * construction and the roaming engine's ops) still lives in registry.c;
 * it moves here when the registry's machine is folded into the engine
 * (docs/roaming.md, "Left"). */
#include "alr/profile_agent.h"

#include <errno.h>
#include <osipparser2/osip_parser.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sip/sipmsg.h"

/* ---- what plugins see of a profile -------------------------------------- */

static const char *transport_name(enum profile_transport t)
{
	return profile_transport_to_str(t);
}

static struct alr_param *params_info(const struct profile_params *ps)
{
	struct alr_param *v = calloc(ps->n ? ps->n : 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < ps->n; i++) {
		const struct profile_param *pp = &ps->v[i];

		v[i].name = pp->name;
		v[i].key = pp->key;
		v[i].type = (enum alr_param_type)pp->type;
		switch (pp->type) {
		case PROFILE_PARAM_INT:
			v[i].int_value = pp->value.i;
			break;
		case PROFILE_PARAM_BOOL:
			v[i].int_value = pp->value.b;
			break;
		case PROFILE_PARAM_STRING:
			v[i].string_value = pp->value.s;
			break;
		case PROFILE_PARAM_STRING_LIST:
			v[i].list = (const char *const *)pp->value.list.v;
			v[i].n_list = pp->value.list.n;
			break;
		case _PROFILE_PARAM_TYPE_MAX:
			break;
		}
	}
	return v;
}

static void server_info(struct alr_server_info *si, const struct profile_server *sv,
			const struct alr_param *params)
{
	si->uri = sv->uri;
	si->transport = transport_name(sv->transport);
	si->username = sv->digest_user;
	si->realm = sv->realm;
	si->has_password = (sv->password && *sv->password) || sv->ha1;
	si->params = params;
	si->n_params = sv->params.n;
}

void profile_agent_info_free(struct profile_agent_info *in)
{
	for (size_t i = 0; i < in->n_headers; i++)
		free(in->header_names[i]);
	free(in->header_names);
	free(in->headers);
	for (int i = 0; i < 3; i++)
		free(in->params[i]);
}

int profile_agent_info_build(struct profile_agent_info *in, const struct profile *p)
{
	memset(in, 0, sizeof(*in));
	in->params[0] = params_info(&p->params);
	in->params[1] = params_info(&p->registrar.params);
	in->params[2] = params_info(&p->outbound_proxy.params);
	in->headers = calloc(p->extra_headers.n ? p->extra_headers.n : 1, sizeof(*in->headers));
	in->header_names = calloc(p->extra_headers.n ? p->extra_headers.n : 1, sizeof(char *));
	if (!in->params[0] || !in->params[1] || !in->params[2] || !in->headers ||
	    !in->header_names)
		return -ENOMEM;
	/* "Name: value", split at the first colon (validated already). */
	for (size_t i = 0; i < p->extra_headers.n; i++) {
		const char *h = p->extra_headers.v[i];
		size_t n = strcspn(h, ":");
		const char *v = h[n] ? h + n + 1 : h + n;
		char *name = strndup(h, n);

		if (!name)
			return -ENOMEM;
		while (n && (name[n - 1] == ' ' || name[n - 1] == '\t'))
			name[--n] = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		in->header_names[in->n_headers] = name;
		in->headers[in->n_headers++] = (struct alr_header){ name, v };
	}
	in->info = (struct alr_profile_info){
		.id = p->id,
		.provider = p->provider_name,
		.profile_class = (enum alr_profile_class)p->type_class,
		.type_name = p->type_name,
		.aor = p->aor,
		.private_identity = p->private_identity,
		.discover_proxy = p->proxy_from_dhcp,
		.security_negotiation = p->security_negotiation,
		.sigcomp = p->sigcomp,
		.expires = p->expires,
		.contact_params = (const char *const *)p->contact_params.v,
		.n_contact_params = p->contact_params.n,
		.extra_headers = in->headers,
		.n_extra_headers = in->n_headers,
		.params = in->params[0],
		.n_params = p->params.n,
	};
	server_info(&in->info.registrar, &p->registrar, in->params[1]);
	server_info(&in->info.proxy, &p->outbound_proxy, in->params[2]);
	return 0;
}

/* ---- the URIs a binding is built with ----------------------------------- */

int profile_agent_uri_with_transport(const char *uri, enum profile_transport t, char **ret)
{
	osip_uri_t *u = NULL;
	osip_uri_param_t *tp = NULL;
	char *s = NULL;
	int r = 0;

	*ret = NULL;
	if ((t != PROFILE_TRANSPORT_UDP && t != PROFILE_TRANSPORT_TCP &&
	     t != PROFILE_TRANSPORT_TLS) ||
	    (t == PROFILE_TRANSPORT_TLS && strncasecmp(uri, "sips:", 5) == 0)) {
		*ret = strdup(uri);
		return *ret ? 0 : -ENOMEM;
	}
	if (osip_uri_init(&u) != 0)
		return -ENOMEM;
	if (osip_uri_parse(u, uri) != 0) {
		r = -EINVAL;
		goto out;
	}
	if (osip_uri_uparam_get_byname(u, "transport", &tp) != 0 || !tp)
		osip_uri_uparam_add(u, osip_strdup("transport"),
				    osip_strdup(t == PROFILE_TRANSPORT_TCP ? "tcp" :
						t == PROFILE_TRANSPORT_TLS ? "tls" : "udp"));
	if (osip_uri_to_str(u, &s) != 0 || !s) {
		r = -ENOMEM;
		goto out;
	}
	*ret = strdup(s);
	if (!*ret)
		r = -ENOMEM;
out:
	osip_free(s);
	osip_uri_free(u);
	return r;
}

int profile_agent_registrar_of_aor(const char *aor, char **ret)
{
	osip_uri_t *u = NULL;
	char buf[SIPMSG_URI_MAX + 1];
	int r = -EINVAL;

	*ret = NULL;
	if (!aor || osip_uri_init(&u) != 0)
		return -ENOMEM;
	if (osip_uri_parse(u, aor) == 0 && u->host && u->host[0]) {
		bool v6 = strchr(u->host, ':') && u->host[0] != '[';

		snprintf(buf, sizeof(buf), "%s:%s%s%s%s%s",
			 u->scheme && strcasecmp(u->scheme, "sips") == 0 ? "sips" : "sip",
			 v6 ? "[" : "", u->host,
			 v6 ? "]" : "", u->port ? ":" : "", u->port ? u->port : "");
		*ret = strdup(buf);
		r = *ret ? 0 : -ENOMEM;
	}
	osip_uri_free(u);
	return r;
}
