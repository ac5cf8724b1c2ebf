/* Building and reading the SIP messages of a registration: REGISTER
 * requests, the analysis of their responses, and the few responses we
 * answer requests with.
 *
 * A pure module on top of libosip2's parser: no sockets, no event loop, no
 * logging.  Functions return 0 or a negative errno. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sip/sip_osip.h"

/* Transport protocols.  TLS is TLS over TCP (sip/transport_tls.c); a
 * "sips:" URI asks for it (RFC 3261 §26.2.2). */
enum sip_proto {
	SIP_PROTO_UDP,
	SIP_PROTO_TCP,
	SIP_PROTO_TLS,
	_SIP_PROTO_MAX,
};

/* Set up libosip2's parser tables, once per process (osip_init() does it
 * too; pure users of this module call this first). */
void sipmsg_library_init(void);

/* "UDP", "TCP", "TLS": the Via transport token (RFC 3261 §20.42). */
const char *sip_proto_to_str(enum sip_proto p);
/* "udp", "tcp", "tls": the URI transport parameter (RFC 3261 §19.1.1). */
const char *sip_proto_to_param(enum sip_proto p);
/* Case-insensitive; -EPROTONOSUPPORT for a transport we do not have. */
int sip_proto_from_str(const char *s);

/* Longest URI, header value, host name we accept or build. */
#define SIPMSG_URI_MAX     512
#define SIPMSG_HOST_MAX    255
#define SIPMSG_REASON_MAX  128

/* Where a SIP URI says to send requests (RFC 3263 §4): the host, and the
 * port and transport when the URI names them; without a port, 5060 (5061
 * over TLS) when no SRV record says otherwise. */
struct sipmsg_target {
	char host[SIPMSG_HOST_MAX + 1];  /* no brackets around IPv6 */
	uint16_t port;
	enum sip_proto proto;             /* ;transport=, UDP when absent
					     (TLS for "sips:") */
	bool sips;                        /* a "sips:" URI: TLS only */
	bool port_given;                  /* the URI names its port */
	bool proto_given;                 /* the URI has ;transport= */
	int literal_family;               /* AF_INET or AF_INET6 when host is
					     an IP literal, else AF_UNSPEC */
};

/* Parse a "sip:" or "sips:" URI into a target.
 * @retval -EINVAL           not a URI, no host, a bad port
 * @retval -EPROTONOSUPPORT  a transport we do not have, or "sips:" with
 *                           one that is not TLS (RFC 3261 §26.2.2) */
int sipmsg_target_parse(const char *uri, struct sipmsg_target *ret);

/* A header value we put into a message on a user's behalf: 1 to 1024
 * bytes, no CR, LF or other control character (UTF-8 is fine). */
bool sipmsg_value_ok(const char *s);
/* An RFC 3261 token (header names, parameter names). */
bool sipmsg_token_ok(const char *s);
/* A SIP URI (at most SIPMSG_URI_MAX bytes) that libosip2 parses, whose
 * scheme is sip or sips and which has a host. */
bool sipmsg_uri_ok(const char *uri);
/* A contact parameter: "name" or "name=value" with a token or
 * quoted-string value (RFC 3261 §20.10 contact-extension). */
bool sipmsg_param_ok(const char *p);
/* The user part we put in a Contact: unreserved characters and the
 * user-unreserved set of RFC 3261 §25.1, no escapes. */
bool sipmsg_user_ok(const char *user);

/* "sip:USER@HOST:PORT" for a local socket address, with
 * ";transport=tcp" for TCP, and "sips:USER@HOST:PORT" for TLS (RFC 3261
 * §8.1.1.8: a sips: Request-URI needs a sips: Contact; RFC 5630 §3.1.3:
 * not transport=tls); IPv6 hosts in brackets.
 * @retval -ENOBUFS   does not fit
 * @retval -EAFNOSUPPORT */
int sipmsg_contact_uri(const char *user, const struct sockaddr *local,
		       enum sip_proto proto, char *buf, size_t size);

/* Text form of an address ("10.0.0.1", "fd00::1") and its port. */
int sipmsg_sockaddr_host(const struct sockaddr *sa, char *buf, size_t size,
			 uint16_t *ret_port);

struct sipmsg_header {
	const char *name;
	const char *value;
};

/* One Contact of a REGISTER. */
struct sipmsg_contact {
	const char *uri;
	int expires;            /* ;expires=N; < 0: none */
	bool ours;              /* add +sip.instance and the contact params */
};

struct sipmsg_register {
	const char *request_uri;        /* the registrar (RFC 3261 §10.2) */
	const char *aor;                /* To and From */
	const char *from_tag;
	const char *call_id;
	uint32_t cseq;
	enum sip_proto proto;           /* Via transport */
	const char *via_host;           /* numeric, no brackets */
	uint16_t via_port;
	const char *branch;             /* starting with z9hG4bK */
	const struct sipmsg_contact *contacts;  /* none: a query (§10.2.3) */
	size_t n_contacts;
	const char *instance;           /* "urn:uuid:...", or NULL */
	unsigned reg_id;                /* RFC 5626 §4.2, with instance: ";reg-id=N"
					   on ours; 0: none */
	bool supported_outbound;        /* "Supported: outbound" (with contacts) */
	const char *const *contact_params;
	size_t n_contact_params;
	int expires;                    /* Expires header; < 0: none */
	const char *route;              /* outbound proxy URI, or NULL */
	const struct sipmsg_header *extra;
	size_t n_extra;
	const char *user_agent;         /* or NULL */
};

/* Build a REGISTER (RFC 3261 §10.2).  Values are checked with the
 * predicates above; -EINVAL names nothing, so the caller checks its
 * configuration first to say what is wrong.  -ENOMEM. */
int sipmsg_build_register(const struct sipmsg_register *r,
			  osip_message_t **ret);

/* Add a header verbatim (an Authorization value must reach the wire
 * exactly as computed).  -EINVAL for a bad name or value. */
int sipmsg_add_header(osip_message_t *msg, const char *name,
		      const char *value);

/* The Request-URI as it will be sent (the digest "uri" directive,
 * RFC 7616 §3.4).  The string is malloc'ed. */
int sipmsg_request_uri(const osip_message_t *req, char **ret);

/* Serialize; *ret is malloc'ed (free()), not NUL-counted in *ret_len. */
int sipmsg_to_bytes(osip_message_t *msg, char **ret, size_t *ret_len);

/* Do two contact URIs name the same binding?  Compared as RFC 3261
 * §19.1.4 says for the parts that matter here: scheme, user, host (IP
 * literals by value), port (5060 when absent) and transport (udp when
 * absent); other parameters (a registrar's received=, our own) do not
 * count. */
bool sipmsg_uri_same_contact(const osip_uri_t *a, const osip_uri_t *b);

/* ---- responses --------------------------------------------------------- */

#define SIPMSG_CONTACTS_MAX 16

struct sipmsg_binding_info {
	char uri[SIPMSG_URI_MAX + 1];
	int expires;            /* < 0: not given */
	int q1000;              /* q * 1000; < 0: not given */
	bool ours;              /* matched our contact */
};

/* What identifies our binding in a response. */
struct sipmsg_ours {
	const char *contact_uri;        /* or NULL */
	const char *instance;           /* "urn:uuid:...", or NULL */
};

struct sipmsg_response {
	int code;
	char reason[SIPMSG_REASON_MAX + 1];     /* printable ASCII only */
	int expires_header;     /* Expires; < 0: absent or malformed */
	int our_expires;        /* expiry granted to our contact: its
				   expires parameter, else the Expires
				   header; < 0: our contact is not listed */
	int min_expires;        /* 423 Min-Expires (RFC 3261 §20.23) */
	int retry_after;        /* seconds (RFC 3261 §20.33) */
	int flow_timer;         /* Flow-Timer (RFC 5626 §4.4.1); < 0: absent */
	bool outbound;          /* Require: outbound: the registrar uses our flow */
	bool outbound_supported; /* Require or Supported lists outbound */
	struct sipmsg_binding_info contacts[SIPMSG_CONTACTS_MAX];
	size_t n_contacts;
	bool contacts_truncated;
	bool has_www_challenge;
	bool has_proxy_challenge;
};

/* Read what a registration needs from a response.  Our contact is matched
 * by URI (sipmsg_uri_same_contact()), else, when exactly one listed
 * contact carries our +sip.instance, by instance (RFC 5626 §4.1):
 * registrars add parameters (Kamailio's received=) and may rewrite
 * hosts.  -EINVAL when msg is not a response. */
int sipmsg_parse_response(const osip_message_t *msg,
			  const struct sipmsg_ours *ours,
			  struct sipmsg_response *ret);

/* The most preferred Digest challenge of the response's
 * WWW-Authenticate (proxy false) or Proxy-Authenticate headers, as a
 * header value for digest_session_update(): SHA-256 over MD5 (RFC 8760
 * §2.4), the first of equals.  *ret is malloc'ed.
 * @retval -ENOENT   no challenge
 * @retval -ENOTSUP  none we can answer */
int sipmsg_best_challenge(const osip_message_t *msg, bool proxy,
			  char **ret);

/* Is the Call-ID, CSeq, From and To of a message present, so that a
 * transaction can be matched (RFC 3261 §8.1.1)? */
bool sipmsg_has_mandatory(const osip_message_t *msg);

/* Do two Via headers carry the same sent-by (host and port)?  RFC 3261
 * §18.1.2: a response whose top Via sent-by is not the one we inserted is
 * discarded.  IP literals compare by value, names case-insensitively; an
 * absent port is 5060 (5061 over TLS, §18.2.2). */
bool sipmsg_via_same_sent_by(const osip_via_t *a, const osip_via_t *b);

/* Build a response to a request (RFC 3261 §8.2.6): Via, From, Call-ID
 * and CSeq copied, To copied with to_tag added when it has no tag. */
int sipmsg_build_response(const osip_message_t *req, int code,
			  const char *reason, const char *to_tag,
			  osip_message_t **ret);
