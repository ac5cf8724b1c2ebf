/*
 * The IETF profile agent plugin: plain RFC 3261 registration.
 *
 * alrd's SIP engine does the protocol (transports, transactions, digest,
 * refresh, backoff); this plugin shapes the REGISTER of an "ietf" profile:
 *  - To/From the AOR, Request-URI the registrar (RFC 3261 §10.2), a Route
 *    to the outbound proxy (the host prepares all three);
 *  - the profile's contact parameters on our Contact; a "+sip.instance"
 *    among them replaces the one alrd would add (RFC 5626 §4.1: one
 *    instance per Contact);
 *  - the profile's extra headers;
 *  - with security negotiation on, "Security-Client: digest" and
 *    "Require"/"Proxy-Require: sec-agree" (RFC 3329 §2.3, the digest
 *    mechanism of §2.3.1 and §3.1).
 * A 2xx registers the AOR itself (no P-Associated-URI in IETF SIP).
 * Updates follow alrd's generic rule (docs/profiles.md): a minor one is a
 * re-REGISTER, a major one deregistration and registration.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "alr/plugin.h"

static const struct alr_plugin_host *host;

/* What we remember of a profile's registration, for state_report(). */
struct ietf_state {
	int last_status;
	unsigned int granted;
};

static void ietf_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void ietf_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (!host)
		return;
	va_start(ap, fmt);
	host->log(level, fmt, ap);
	va_end(ap);
}

static int ietf_init(const struct alr_plugin_host *h)
{
	if (h->api_version != ALR_PLUGIN_API_VERSION)
		return -EPROTO;
	host = h;
	return 0;
}

static void ietf_fini(void)
{
	host = NULL;
}

static void set_error(struct alr_plugin_error *err, const char *field, const char *reason)
{
	snprintf(err->field, sizeof(err->field), "%s", field);
	snprintf(err->reason, sizeof(err->reason), "%s", reason);
}

static bool is_instance_param(const char *param)
{
	static const char name[] = "+sip.instance";
	size_t n = strcspn(param, "=");

	return n == sizeof(name) - 1 && strncasecmp(param, name, n) == 0;
}

/*
 * "+sip.instance=\"<urn:uuid:...>\"" -> "urn:uuid:..." in @buf; false
 * when the value is not a quoted, bracketed URN (RFC 5626 §4.1).
 */
static bool instance_value(const char *param, char *buf, size_t size)
{
	const char *v = strchr(param, '=');
	size_t n;

	if (!v)
		return false;
	v++;
	n = strlen(v);
	if (n < 4 + 4 || v[0] != '"' || v[1] != '<' || v[n - 2] != '>' || v[n - 1] != '"')
		return false;
	v += 2;
	n -= 4;
	if (n >= size || strncasecmp(v, "urn:", 4) != 0)
		return false;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return strpbrk(buf, "\"<>\\ ;,") == NULL;
}

static int ietf_validate(const struct alr_profile_info *p, struct alr_plugin_error *err)
{
	char field[64], inst[256];

	/* sips: URIs and transport tls go over alrd's TLS transport
	 * (docs/sip.md, "TLS"); the profile's own checks already refuse a
	 * sips: URI over udp or tcp. */
	for (size_t i = 0; i < p->n_contact_params; i++) {
		if (is_instance_param(p->contact_params[i]) &&
		    !instance_value(p->contact_params[i], inst, sizeof(inst))) {
			snprintf(field, sizeof(field), "contact_params[%zu]", i);
			set_error(err, field, "+sip.instance must be \"<urn:...>\" (RFC 5626 §4.1)");
			return -EINVAL;
		}
	}
	return 0;
}

static int ietf_build_registration(const struct alr_profile_info *p,
				   struct alr_registration *reg,
				   struct alr_plugin_reg *handle)
{
	size_t n_params = 0, n_headers = 0;
	const char **params;
	struct alr_header *headers;
	char *inst;

	/* Contact parameters: ours, with a configured instance taken out
	 * of the list and made the instance. */
	params = host->scratch(handle, (p->n_contact_params + 1) * sizeof(*params));
	inst = host->scratch(handle, 256);
	if (!params || !inst)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_contact_params; i++) {
		if (is_instance_param(p->contact_params[i])) {
			if (instance_value(p->contact_params[i], inst, 256))
				reg->instance = inst;
			continue;
		}
		params[n_params++] = p->contact_params[i];
	}
	reg->contact_params = params;
	reg->n_contact_params = n_params;

	/* Extra headers, then RFC 3329 §2.3: the client lists the
	 * mechanisms it supports and requires the extension. */
	headers = host->scratch(handle, (p->n_extra_headers + 3) * sizeof(*headers));
	if (!headers)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_extra_headers; i++)
		headers[n_headers++] = p->extra_headers[i];
	if (p->security_negotiation) {
		headers[n_headers++] = (struct alr_header){ "Security-Client", "digest" };
		headers[n_headers++] = (struct alr_header){ "Require", "sec-agree" };
		headers[n_headers++] = (struct alr_header){ "Proxy-Require", "sec-agree" };
	}
	reg->extra_headers = headers;
	reg->n_extra_headers = n_headers;
	reg->expires = p->expires;
	ietf_log(LOG_DEBUG, "profile %u: REGISTER for %s at %s%s%s", p->id, reg->aor,
		 reg->registrar, reg->outbound_proxy ? " via " : "",
		 reg->outbound_proxy ? reg->outbound_proxy : "");
	return 0;
}

static struct ietf_state *state_of(struct alr_plugin_reg *handle)
{
	struct ietf_state *st = host->get_data(handle);

	if (!st) {
		st = calloc(1, sizeof(*st));
		if (st)
			host->set_data(handle, st, free);
	}
	return st;
}

static void ietf_handle_message(const struct alr_profile_info *p,
				const struct alr_sip_message *msg,
				struct alr_plugin_reg *handle)
{
	struct ietf_state *st = state_of(handle);
	int status = host->message_status(msg);
	const char *expires;

	if (status == 0)
		return;         /* requests: nothing for IETF profiles yet */
	if (st) {
		st->last_status = status;
		expires = host->message_header(msg, "Expires", 0);
		st->granted = status / 100 == 2 && expires ? (unsigned int)strtoul(expires, NULL, 10) : 0;
	}
	/* RFC 3261 §10.3: a 2xx registers the AOR of the To header. */
	if (status / 100 == 2 && p->aor)
		host->set_registered_aors(handle, &p->aor, 1);
}

static void ietf_deregistered(const struct alr_profile_info *p, struct alr_plugin_reg *handle)
{
	struct ietf_state *st = host->get_data(handle);

	if (st)
		st->granted = 0;
	host->set_registered_aors(handle, NULL, 0);
}

static void ietf_state_report(const struct alr_profile_info *p, struct alr_plugin_reg *handle,
			      char *buf, size_t size)
{
	struct ietf_state *st = host->get_data(handle);
	char last[64] = "no response yet";

	if (st && st->last_status && st->granted)
		snprintf(last, sizeof(last), "last response %d, %u s granted",
			 st->last_status, st->granted);
	else if (st && st->last_status)
		snprintf(last, sizeof(last), "last response %d", st->last_status);
	snprintf(buf, size, "RFC 3261 registration of %s; %s%s", p->aor ? p->aor : "?", last,
		 p->security_negotiation ? "; Security-Client: digest" : "");
}

ALR_PLUGIN_EXPORT = {
	.api_version = ALR_PLUGIN_API_VERSION,
	.name = "ietf",
	.profile_class = ALR_PROFILE_CLASS_IETF,
	.type_name = "ietf",
	.description = "RFC 3261 registration",
	.capabilities = ALR_PLUGIN_CAN_SECURITY_AGREEMENT,
	.init = ietf_init,
	.fini = ietf_fini,
	.validate = ietf_validate,
	.build_registration = ietf_build_registration,
	.handle_message = ietf_handle_message,
	.deregistered = ietf_deregistered,
	.state_report = ietf_state_report,
};
