/* The registry's side toward the profile agent plugins and the SIP layer
 * (issue 12 #3: "the adapter between the engine and the plugins/SIP layer
 * is its own file").  So far the parts that need no registry state. */
#ifndef ALR_PROFILE_AGENT_H
#define ALR_PROFILE_AGENT_H

#include <stddef.h>

#include "alr/plugin.h"
#include "alr/profile.h"

/* What a plugin sees of a profile: .info, pointing into the profile and
 * into the arrays here; valid while both live. */
struct profile_agent_info {
	struct alr_profile_info info;
	struct alr_header *headers;
	char **header_names;
	size_t n_headers;
	struct alr_param *params[3];
};

/* 0 or -ENOMEM; profile_agent_info_free() in both cases. */
int profile_agent_info_build(struct profile_agent_info *in, const struct profile *p);
void profile_agent_info_free(struct profile_agent_info *in);

/* @uri with ";transport=udp|tcp|tls" added when @t says so and @uri names
 * no transport (RFC 3261 §19.1.1; a sips: URI is TLS already and stays
 * as it is).  0 or a negative errno; *ret malloc'ed. */
int profile_agent_uri_with_transport(const char *uri, enum profile_transport t, char **ret);
/* RFC 3261 §10.2.6: without a configured registrar, the AOR's domain
 * ("sip:host[:port]", IPv6 in brackets; "sips:" for a sips: AOR).  0 or a negative errno; *ret
 * malloc'ed. */
int profile_agent_registrar_of_aor(const char *aor, char **ret);

#endif
