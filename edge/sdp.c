/* SDP bodies for the media relay (see sdp.h, docs/edge.md "Media"):
 * libosip2 parses and prints; this file checks what it parsed and changes
 * the addresses, ports and ICE lines, nothing else. */
#include "edge/sdp.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <osipparser2/osip_port.h>
#include <osipparser2/sdp_message.h>

#include "base/util.h"

/* A NUL-terminated copy of @body for libosip2, ending in one CRLF, after
 * the checks its parser does not make.  *@ret_m_lines: how many lines
 * start with "m=", to compare with what libosip2 found. */
static int copy_body(const char *body, size_t len, char **ret, size_t *ret_m_lines,
		     const char **ret_why)
{
	size_t m_lines = 0;
	char *text;

	if (len > SDP_MAX_LEN) {
		*ret_why = "the SDP body is longer than 16 KiB";
		return -EMSGSIZE;
	}
	if (len && memchr(body, '\0', len)) {
		*ret_why = "the SDP body holds a NUL byte";
		return -EINVAL;
	}
	/* Blank lines at the end are nothing; the parser wants a line end
	 * after the last line, which some bodies lack. */
	while (len && (body[len - 1] == '\n' || body[len - 1] == '\r'))
		len--;
	if (len == 0) {
		*ret_why = "the SDP body is empty";
		return -EINVAL;
	}
	for (size_t i = 0; i < len;) {
		const char *nl;

		/* i is the start of a line */
		if (body[i] == '\n' || (body[i] == '\r' && i + 1 < len && body[i + 1] == '\n')) {
			/* libosip2 stops at an empty line and would silently
			 * drop what follows it */
			*ret_why = "the SDP body has an empty line before its end";
			return -EINVAL;
		}
		if (len - i >= 2 && body[i] == 'm' && body[i + 1] == '=')
			m_lines++;
		nl = memchr(body + i, '\n', len - i);
		if (!nl)
			break;
		i = (size_t)(nl - body) + 1;
	}
	text = malloc(len + 3);
	if (!text) {
		*ret_why = "out of memory";
		return -ENOMEM;
	}
	memcpy(text, body, len);
	memcpy(text + len, "\r\n", 3);
	*ret = text;
	*ret_m_lines = m_lines;
	return 0;
}

static int parse(const char *body, size_t len, sdp_message_t **ret, const char **ret_why)
{
	sdp_message_t *sdp = NULL;
	size_t m_lines = 0;
	char *text = NULL;
	int r;

	r = copy_body(body, len, &text, &m_lines, ret_why);
	if (r < 0)
		return r;
	if (m_lines > SDP_MAX_STREAMS) {
		free(text);
		*ret_why = "the SDP body has more than 8 m= lines";
		return -EINVAL;
	}
	if (sdp_message_init(&sdp) != 0) {
		free(text);
		*ret_why = "out of memory";
		return -ENOMEM;
	}
	r = sdp_message_parse(sdp, text);
	free(text);
	if (r != 0) {
		sdp_message_free(sdp);
		*ret_why = "the SDP body is not valid SDP (RFC 4566 §5: lines v o s [i u e p c b] t "
			   "[r z k a] then m= sections, in that order)";
		return -EINVAL;
	}
	if ((size_t)osip_list_size(&sdp->m_medias) != m_lines) {
		sdp_message_free(sdp);
		*ret_why = "the SDP body has m= lines that do not parse";
		return -EINVAL;
	}
	if (!sdp->v_version || strcmp(sdp->v_version, "0") != 0) {
		sdp_message_free(sdp);
		*ret_why = "the SDP body's v= is not 0";
		return -EINVAL;
	}
	*ret = sdp;
	return 0;
}

/* 0 to 65535, digits only. */
static bool parse_port(const char *s, uint16_t *ret)
{
	unsigned long v = 0;
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++) {
		if (!isdigit((unsigned char)s[n]) || n == 5)
			return false;
		v = v * 10 + (unsigned long)(s[n] - '0');
	}
	if (n == 0 || v > 65535)
		return false;
	*ret = (uint16_t)v;
	return true;
}

/* A host name as RFC 4566 §9 allows it in c= (letters, digits, '-', '.',
 * with a letter somewhere: "1.2.3.999" is a broken address, not a name). */
static bool is_name(const char *s)
{
	size_t n = strlen(s);
	bool letter = false;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (isalpha((unsigned char)s[i]))
			letter = true;
		else if (!isdigit((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
			return false;
	}
	return letter;
}

static bool is_unspecified(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
	return false;
}

static bool is_multicast(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return IN_MULTICAST(ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr));
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_MULTICAST(&((const struct sockaddr_in6 *)ss)->sin6_addr);
	return false;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* "IN" "IP4"|"IP6" ADDRESS, as in c= and a=rtcp:.  *@ret: the address
 * (port 0), AF_UNSPEC for a name or the unspecified address (then
 * *@ret_unspecified). */
static int parse_address(const char *nettype, const char *addrtype, const char *addr,
			 struct sockaddr_storage *ret, bool *ret_unspecified, const char **ret_why)
{
	struct sockaddr_storage ss = { 0 };
	int family;

	*ret_unspecified = false;
	memset(ret, 0, sizeof(*ret));
	if (!nettype || !addrtype || !addr || strcmp(nettype, "IN") != 0) {
		*ret_why = "an address in the SDP body is not IN IP4 or IN IP6";
		return -EINVAL;
	}
	if (strcmp(addrtype, "IP4") == 0) {
		family = AF_INET;
	} else if (strcmp(addrtype, "IP6") == 0) {
		family = AF_INET6;
	} else {
		*ret_why = "an address in the SDP body is not IN IP4 or IN IP6";
		return -EINVAL;
	}
	ss.ss_family = (sa_family_t)family;
	if (inet_pton(family, addr, family == AF_INET ?
		      (void *)&((struct sockaddr_in *)&ss)->sin_addr :
		      (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr) != 1) {
		if (!is_name(addr)) {
			*ret_why = "an address in the SDP body is neither an address of its type "
				   "(IP4, IP6) nor a host name";
			return -EINVAL;
		}
		/* A name: RFC 4566 allows it; nothing resolves it here, the
		 * relay learns the peer's address from its packets. */
		return 0;
	}
	if (is_multicast(&ss)) {
		*ret_why = "the SDP body has a multicast address: only unicast streams are relayed";
		return -EINVAL;
	}
	if (is_unspecified(&ss)) {
		*ret_unspecified = true;
		return 0;
	}
	*ret = ss;
	return 0;
}

static int parse_connection(const sdp_connection_t *c, struct sockaddr_storage *ret,
			    bool *ret_unspecified, const char **ret_why)
{
	if (c->c_addr_multicast_ttl || c->c_addr_multicast_int) {
		*ret_why = "the SDP body has a c= line with a TTL or an address count (multicast): "
			   "only unicast streams are relayed";
		return -EINVAL;
	}
	return parse_address(c->c_nettype, c->c_addrtype, c->c_addr, ret, ret_unspecified,
			     ret_why);
}

/* a=rtcp:PORT [IN IP4|IP6 ADDRESS] (RFC 3605 §2.1).  *@ret_addr is
 * AF_UNSPEC and *@ret_has_addr false without an address. */
static int parse_rtcp_attr(const char *value, uint16_t *ret_port, bool *ret_has_addr,
			   struct sockaddr_storage *ret_addr, bool *ret_unspecified,
			   const char **ret_why)
{
	char buf[256], *tok[5], *save = NULL;
	size_t n = 0;

	*ret_has_addr = false;
	*ret_unspecified = false;
	memset(ret_addr, 0, sizeof(*ret_addr));
	if (!value || strlen(value) >= sizeof(buf))
		goto bad;
	util_strlcpy(buf, value, sizeof(buf));
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (n == 4)
			goto bad;
		tok[n++] = t;
	}
	if ((n != 1 && n != 4) || !parse_port(tok[0], ret_port) || *ret_port == 0)
		goto bad;
	if (n == 4) {
		int r = parse_address(tok[1], tok[2], tok[3], ret_addr, ret_unspecified, ret_why);

		if (r < 0)
			return r;
		*ret_has_addr = true;
	}
	return 0;
bad:
	*ret_why = "the SDP body has an a=rtcp: that is not PORT [IN IP4|IP6 ADDRESS] (RFC 3605)";
	return -EINVAL;
}

static bool proto_is_udp(const char *proto)
{
	/* RTP/AVP, RTP/AVPF, RTP/SAVP, RTP/SAVPF (RTP over UDP, RFC 3551,
	 * 4585, 3711, 5124), UDP/TLS/RTP/SAVP(F) (DTLS-SRTP, RFC 5764),
	 * udp (RFC 4566), UDP/BFCP ...; not TCP/..., DCCP/... */
	return strncasecmp(proto, "RTP/", 4) == 0 || strncasecmp(proto, "UDP", 3) == 0;
}

static int read_origin(const sdp_message_t *sdp, struct sdp_origin *ret, const char **ret_why)
{
	const char *v = sdp->o_sess_version;
	unsigned long long n = 0;

	if (!sdp->o_username || !sdp->o_sess_id || !v ||
	    strlen(sdp->o_username) >= sizeof(ret->username) ||
	    strlen(sdp->o_sess_id) >= sizeof(ret->sess_id)) {
		*ret_why = "the SDP body's o= username or sess-id is missing or longer than 127 bytes";
		return -EINVAL;
	}
	/* RFC 4566 §5.2: a numeric version; RFC 3264 §8 increments it, so
	 * it must be one. */
	if (!*v || strlen(v) > 19 || strspn(v, "0123456789") != strlen(v)) {
		*ret_why = "the SDP body's o= sess-version is not a number below 10^19";
		return -EINVAL;
	}
	for (; *v; v++)
		n = n * 10 + (unsigned long long)(*v - '0');
	util_strlcpy(ret->username, sdp->o_username, sizeof(ret->username));
	util_strlcpy(ret->sess_id, sdp->o_sess_id, sizeof(ret->sess_id));
	ret->version = n;
	return 0;
}

static int read_stream(sdp_message_t *sdp, int pos, const struct sockaddr_storage *session_addr,
		       bool session_unspecified, bool have_session_c, struct sdp_stream *ret,
		       const char **ret_why)
{
	sdp_media_t *m = osip_list_get(&sdp->m_medias, pos);
	struct sockaddr_storage addr = *session_addr;
	bool unspecified = session_unspecified, have_c = have_session_c;
	int n_c, r;

	memset(ret, 0, sizeof(*ret));
	if (!m->m_media || !m->m_proto || !parse_port(m->m_port, &ret->port)) {
		*ret_why = "the SDP body has an m= line without media, port (0-65535) or proto";
		return -EINVAL;
	}
	if (m->m_number_of_port && strcmp(m->m_number_of_port, "1") != 0) {
		*ret_why = "the SDP body has an m= line with a port count (port/N): the relay "
			   "carries one port (pair) per stream";
		return -EINVAL;
	}
	util_strlcpy(ret->media, m->m_media, sizeof(ret->media));
	util_strlcpy(ret->proto, m->m_proto, sizeof(ret->proto));
	ret->udp = proto_is_udp(m->m_proto);

	n_c = osip_list_size(&m->c_connections);
	if (n_c > 1) {
		/* RFC 4566 §5.7: several c= lines in one m= section are
		 * layered multicast */
		*ret_why = "the SDP body has an m= section with more than one c= line "
			   "(layered multicast)";
		return -EINVAL;
	}
	if (n_c == 1) {
		r = parse_connection(osip_list_get(&m->c_connections, 0), &addr, &unspecified,
				     ret_why);
		if (r < 0)
			return r;
		have_c = true;
	}
	if (!have_c && ret->port != 0) {
		*ret_why = "the SDP body has a stream without a c= line, neither its own nor the "
			   "session's (RFC 4566 §5.7)";
		return -EINVAL;
	}
	ret->hold = have_c && unspecified;
	ret->rtp = addr;
	set_port(&ret->rtp, ret->port);
	ret->rtcp = addr;
	ret->rtcp_port = ret->port < 65535 ? (uint16_t)(ret->port + 1) : 0;

	for (int i = 0; i < osip_list_size(&m->a_attributes); i++) {
		sdp_attribute_t *a = osip_list_get(&m->a_attributes, i);

		if (!a->a_att_field)
			continue;
		if (strcmp(a->a_att_field, "rtcp-mux") == 0) {
			ret->rtcp_mux = true;
		} else if (strcmp(a->a_att_field, "rtcp") == 0) {
			struct sockaddr_storage raddr;
			bool has_addr, runspec;
			uint16_t rport;

			if (ret->has_rtcp_attr) {
				*ret_why = "the SDP body has an m= section with two a=rtcp: lines";
				return -EINVAL;
			}
			r = parse_rtcp_attr(a->a_att_value, &rport, &has_addr, &raddr, &runspec,
					    ret_why);
			if (r < 0)
				return r;
			ret->has_rtcp_attr = true;
			ret->rtcp_port = rport;
			if (has_addr)
				ret->rtcp = raddr;
		}
	}
	if (ret->rtcp_port == 0)
		memset(&ret->rtcp, 0, sizeof(ret->rtcp));
	set_port(&ret->rtcp, ret->rtcp_port);
	return 0;
}

static int read_info(sdp_message_t *sdp, struct sdp_info *ret, const char **ret_why)
{
	struct sockaddr_storage session_addr = { 0 };
	bool session_unspecified = false;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = read_origin(sdp, &ret->origin, ret_why);
	if (r < 0)
		return r;
	if (sdp->c_connection) {
		r = parse_connection(sdp->c_connection, &session_addr, &session_unspecified,
				     ret_why);
		if (r < 0)
			return r;
	}
	ret->n_streams = (size_t)osip_list_size(&sdp->m_medias);
	for (size_t i = 0; i < ret->n_streams; i++) {
		r = read_stream(sdp, (int)i, &session_addr, session_unspecified,
				sdp->c_connection != NULL, &ret->streams[i], ret_why);
		if (r < 0)
			return r;
	}
	return 0;
}

int sdp_read(const char *body, size_t len, struct sdp_info *ret, const char **ret_why)
{
	sdp_message_t *sdp;
	int r;

	r = parse(body, len, &sdp, ret_why);
	if (r < 0)
		return r;
	r = read_info(sdp, ret, ret_why);
	sdp_message_free(sdp);
	return r;
}

/* Replace a string libosip2 owns. */
static int set_str(char **field, const char *value)
{
	char *s = osip_strdup(value);

	if (!s)
		return -ENOMEM;
	osip_free(*field);
	*field = s;
	return 0;
}

static int set_uint(char **field, unsigned long long value)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%llu", value);
	return set_str(field, buf);
}

static bool is_ice_attr(const char *field)
{
	return strcmp(field, "candidate") == 0 || strcmp(field, "remote-candidates") == 0 ||
	       strcmp(field, "end-of-candidates") == 0 || strncmp(field, "ice-", 4) == 0;
}

static void drop_ice(osip_list_t *attrs)
{
	for (int i = 0; i < osip_list_size(attrs);) {
		sdp_attribute_t *a = osip_list_get(attrs, i);

		if (a->a_att_field && is_ice_attr(a->a_att_field)) {
			osip_list_remove(attrs, i);
			sdp_attribute_free(a);
		} else {
			i++;
		}
	}
}

struct new_addr {
	const char *type;       /* "IP4", "IP6" */
	char host[INET6_ADDRSTRLEN];
	const char *unspecified;
};

/* A c= line gets the new address, or the unspecified one if it had that. */
static int set_connection(sdp_connection_t *c, const struct new_addr *na)
{
	struct sockaddr_storage ss;
	const char *why;
	bool unspecified = false;
	int r;

	/* read_info() checked it */
	(void)parse_connection(c, &ss, &unspecified, &why);
	r = set_str(&c->c_nettype, "IN");
	if (r == 0)
		r = set_str(&c->c_addrtype, na->type);
	if (r == 0)
		r = set_str(&c->c_addr, unspecified ? na->unspecified : na->host);
	return r;
}

static int rewrite_stream(sdp_media_t *m, const struct sdp_stream *st, uint16_t rtp_port,
			  uint16_t rtcp_port, const struct new_addr *na)
{
	int r = 0;

	if (st->port != 0) {
		r = set_uint(&m->m_port, rtp_port);
		if (r < 0)
			return r;
	}
	for (int i = 0; i < osip_list_size(&m->c_connections); i++) {
		r = set_connection(osip_list_get(&m->c_connections, i), na);
		if (r < 0)
			return r;
	}
	drop_ice(&m->a_attributes);
	for (int i = 0; i < osip_list_size(&m->a_attributes);) {
		sdp_attribute_t *a = osip_list_get(&m->a_attributes, i);
		uint16_t port = rtcp_port;
		char buf[96];

		if (!a->a_att_field || strcmp(a->a_att_field, "rtcp") != 0) {
			i++;
			continue;
		}
		/* RFC 5761 §5.1.3: with rtcp-mux offered, a=rtcp: may name
		 * the RTP port itself; then it names the new RTP port. */
		if (st->rtcp_port == st->port)
			port = rtp_port;
		if (st->port == 0 || rtp_port == 0 || port == 0) {
			osip_list_remove(&m->a_attributes, i);
			sdp_attribute_free(a);
			continue;
		}
		if (a->a_att_value && strchr(a->a_att_value, ' '))
			snprintf(buf, sizeof(buf), "%u IN %s %s", port, na->type, na->host);
		else
			snprintf(buf, sizeof(buf), "%u", port);
		r = set_str(&a->a_att_value, buf);
		if (r < 0)
			return r;
		i++;
	}
	return 0;
}

static bool new_addr_init(struct new_addr *na, const struct sockaddr *sa)
{
	const void *a;

	if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return false;
	if (sa->sa_family == AF_INET6) {
		na->type = "IP6";
		na->unspecified = "::";
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	} else {
		na->type = "IP4";
		na->unspecified = "0.0.0.0";
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	}
	inet_ntop(sa->sa_family, a, na->host, sizeof(na->host));
	return true;
}

static int rewrite(sdp_message_t *sdp, const struct sdp_info *info, const struct sdp_rewrite *rw,
		   const char **ret_why)
{
	struct new_addr na, origin;
	int r;

	if (!new_addr_init(&na, rw->addr) ||
	    !new_addr_init(&origin, rw->origin_addr ? rw->origin_addr : rw->addr)) {
		*ret_why = "no IPv4 or IPv6 address to put in the SDP body";
		return -EINVAL;
	}
	if (rw->n_streams != info->n_streams || (rw->n_streams && !rw->rtp_ports)) {
		*ret_why = "not as many ports as the SDP body has m= lines";
		return -EINVAL;
	}
	r = set_str(&sdp->o_nettype, "IN");
	if (r == 0)
		r = set_str(&sdp->o_addrtype, origin.type);
	if (r == 0)
		r = set_str(&sdp->o_addr, origin.host);
	if (r == 0 && rw->origin) {
		r = set_str(&sdp->o_username, rw->origin->username);
		if (r == 0)
			r = set_str(&sdp->o_sess_id, rw->origin->sess_id);
		if (r == 0)
			r = set_uint(&sdp->o_sess_version, rw->origin->version);
	}
	if (r == 0 && sdp->c_connection)
		r = set_connection(sdp->c_connection, &na);
	drop_ice(&sdp->a_attributes);
	for (size_t i = 0; r == 0 && i < info->n_streams; i++)
		r = rewrite_stream(osip_list_get(&sdp->m_medias, (int)i), &info->streams[i],
				   rw->rtp_ports[i], rw->rtcp_ports ? rw->rtcp_ports[i] : 0, &na);
	if (r < 0)
		*ret_why = "out of memory";
	return r;
}

int sdp_rewrite(const char *body, size_t len, const struct sdp_rewrite *rw, char **ret,
		size_t *ret_len, const char **ret_why)
{
	struct sdp_info *info;
	sdp_message_t *sdp;
	char *text = NULL;
	int r;

	info = malloc(sizeof(*info));
	if (!info) {
		*ret_why = "out of memory";
		return -ENOMEM;
	}
	r = parse(body, len, &sdp, ret_why);
	if (r < 0) {
		free(info);
		return r;
	}
	r = read_info(sdp, info, ret_why);
	if (r == 0)
		r = rewrite(sdp, info, rw, ret_why);
	if (r == 0 && (sdp_message_to_str(sdp, &text) != 0 || !text)) {
		*ret_why = "out of memory";
		r = -ENOMEM;
	}
	if (r == 0) {
		size_t n = strlen(text);

		*ret = malloc(n + 1);
		if (*ret) {
			memcpy(*ret, text, n + 1);
			*ret_len = n;
		} else {
			*ret_why = "out of memory";
			r = -ENOMEM;
		}
	}
	if (text)
		osip_free(text);
	sdp_message_free(sdp);
	free(info);
	return r;
}
