/* Configuration: defaults < /etc/alrd/alrd.conf (inih) < command line. */
#include "daemon/config.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/enums.h"
#include "edge/addr.h"
#include "edge/call.h"
#include "edge/edge.h"
#include "edge/relay.h"
#include "base/util.h"
#include "sip/pacer.h"

struct config *config_new_defaults(void)
{
	struct config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->state_dir = strdup(ALR_DEFAULT_STATEDIR);
	c->socket_path = strdup(ALR_DEFAULT_SOCKET);
	c->plugin_dir = strdup(ALR_DEFAULT_PLUGIN_DIR);
	c->snap_dir = strdup(ALR_DEFAULT_SNAP_DIR);
	c->control_groups[0] = strdup("alrd");
	c->n_control_groups = 1;
	c->edge_listen[0] = strdup("127.0.0.1:5062");
	c->edge_listen[1] = strdup("[::1]:5062");
	c->n_edge_listen = 2;
	if (!c->state_dir || !c->socket_path || !c->plugin_dir || !c->snap_dir ||
	    !c->control_groups[0] || !c->edge_listen[0] || !c->edge_listen[1])
		return config_free(c);
	c->edge_enable = true;
	c->edge_max_local_registrations = EDGE_DEFAULT_MAX_PER_PROFILE;
	c->edge_max_calls = CALL_DEFAULT_MAX;
	c->edge_min_expires = EDGE_DEFAULT_MIN_EXPIRES;
	c->edge_max_expires = EDGE_DEFAULT_MAX_EXPIRES;
	c->edge_relay_port_min = RELAY_DEFAULT_PORT_MIN;
	c->edge_relay_port_max = RELAY_DEFAULT_PORT_MAX;
	c->log_level = LOG_INFO;
	c->log_target = LOG_TARGET_AUTO;
	c->max_profiles = CONFIG_DEFAULT_MAX_PROFILES;
	c->socket_mode = 0660;
	c->read_access = CONFIG_READ_ALL;
	c->max_clients = 64;
	c->max_clients_per_user = 16;
	c->reserved_clients = 8;
	c->request_timeout_ms = 30 * 1000;
	c->max_request_size = 64 * 1024;
	c->max_output_queue = 4 * 1024 * 1024;
	c->netlink_rcvbuf = 4 * 1024 * 1024;
	c->networkmanager = true;
	c->dbus = true;
	c->register_rate = PACER_DEFAULT_RATE;
	c->register_burst = PACER_DEFAULT_BURST;
	c->registration_check = CONFIG_DEFAULT_REGISTRATION_CHECK;
	c->keepalive = CONFIG_DEFAULT_KEEPALIVE;
	return c;
}

static void clear_edge_listen(struct config *c)
{
	for (size_t i = 0; i < c->n_edge_listen; i++)
		free(c->edge_listen[i]);
	c->n_edge_listen = 0;
}

static void clear_groups(struct config *c)
{
	for (size_t i = 0; i < c->n_control_groups; i++)
		free(c->control_groups[i]);
	c->n_control_groups = 0;
}

struct config *config_free(struct config *c)
{
	if (!c)
		return NULL;
	free(c->file);
	free(c->state_dir);
	free(c->plugin_dir);
	free(c->snap_dir);
	free(c->socket_path);
	free(c->socket_group);
	free(c->dbus_address);
	free(c->tls_ca_file);
	clear_groups(c);
	clear_edge_listen(c);
	for (size_t i = 0; i < c->n_kind_rules; i++) {
		free(c->kind_rules[i].pattern);
		free(c->kind_rules[i].kind);
	}
	free(c);
	return NULL;
}

/* The longest line: what inih's buffer holds with "\r\n\0". */
#define CONFIG_LINE_MAX (INI_MAX_LINE - 3)

/* A key already set in this file: (section, key) and where. */
struct seen_key {
	char *section;
	char *key;
	int line;
};

/* Parser state handed to inih. */
struct parse_ctx {
	struct config *c;
	const char *buf;        /* the whole file, not terminated */
	size_t len;
	size_t pos;
	int line;               /* the line inih is handling now */
	int problem_line;       /* where problem[] was found; 0: none */
	bool enomem;
	int edge_listen_line;   /* where [edge] listen was, for the check at the end */
	char problem[256];
	size_t n_seen;
	size_t cap_seen;
	struct seen_key *seen;
};

static int fail(struct parse_ctx *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct parse_ctx *p, const char *fmt, ...)
{
	va_list ap;

	/* inih goes on after an error and reports the first bad line: keep
	 * the first problem, with its line, to match. */
	if (p->problem_line)
		return 0;
	p->problem_line = p->line;
	va_start(ap, fmt);
	vsnprintf(p->problem, sizeof(p->problem), fmt, ap);
	va_end(ap);
	return 0;
}

static int fail_enomem(struct parse_ctx *p)
{
	p->enomem = true;
	return fail(p, "out of memory");
}

/*
 * inih hands every "key = value" to the handler, a repeated one too, and
 * the last one would win without a word: a second "socket" further down
 * a long file silently overrides the first.  Refuse it, as SNAP files
 * do; the message names the line of the first one.
 */
static int check_duplicate(struct parse_ctx *p, const char *section, const char *key)
{
	struct seen_key *k;

	for (size_t i = 0; i < p->n_seen; i++)
		if (strcmp(p->seen[i].section, section) == 0 && strcmp(p->seen[i].key, key) == 0)
			return fail(p, "duplicate key '%s' in [%s] (first set at line %d)", key,
				    section, p->seen[i].line);
	if (p->n_seen == p->cap_seen) {
		size_t cap = p->cap_seen ? 2 * p->cap_seen : 16;

		k = realloc(p->seen, cap * sizeof(*k));
		if (!k)
			return fail_enomem(p);
		p->seen = k;
		p->cap_seen = cap;
	}
	k = &p->seen[p->n_seen];
	k->section = strdup(section);
	k->key = strdup(key);
	k->line = p->line;
	if (!k->section || !k->key) {
		free(k->section);
		free(k->key);
		return fail_enomem(p);
	}
	p->n_seen++;
	return 1;
}

static void clear_seen(struct parse_ctx *p)
{
	for (size_t i = 0; i < p->n_seen; i++) {
		free(p->seen[i].section);
		free(p->seen[i].key);
	}
	free(p->seen);
	p->seen = NULL;
	p->n_seen = p->cap_seen = 0;
}

static int set_str(struct parse_ctx *p, char **dst, const char *value)
{
	char *s = strdup(value);

	if (!s)
		return fail(p, "out of memory");
	free(*dst);
	*dst = s;
	return 1;
}

static int parse_uint(struct parse_ctx *p, const char *key, const char *value,
		      int base, unsigned long min, unsigned long max,
		      unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (value[0] == '-' || value[0] == '\0')
		return fail(p, "%s: '%s' is not a non-negative number", key, value);
	v = strtoul(value, &end, base);
	if (errno || *end != '\0')
		return fail(p, "%s: '%s' is not a number", key, value);
	if (v < min || v > max)
		return fail(p, "%s: %lu is out of range (%lu..%lu)", key, v, min, max);
	*ret = v;
	return 1;
}

static bool valid_path(const char *v)
{
	return v[0] == '/' && strlen(v) < PATH_MAX;
}

static int handle_daemon(struct parse_ctx *p, const char *key, const char *value)
{
	struct config *c = p->c;
	int r;

	if (strcmp(key, "state-dir") == 0) {
		if (!valid_path(value))
			return fail(p, "state-dir: '%s' is not an absolute path", value);
		return set_str(p, &c->state_dir, value);
	}
	if (strcmp(key, "plugin-dir") == 0) {
		if (!valid_path(value))
			return fail(p, "plugin-dir: '%s' is not an absolute path", value);
		return set_str(p, &c->plugin_dir, value);
	}
	if (strcmp(key, "snap-dir") == 0) {
		if (!valid_path(value))
			return fail(p, "snap-dir: '%s' is not an absolute path", value);
		return set_str(p, &c->snap_dir, value);
	}
	if (strcmp(key, "log-level") == 0) {
		r = log_level_from_str(value);
		if (r < 0)
			return fail(p, "log-level: '%s' is not one of error, warning, notice, info, debug", value);
		c->log_level = r;
		return 1;
	}
	if (strcmp(key, "log-target") == 0) {
		r = log_target_from_str(value);
		if (r < 0)
			return fail(p, "log-target: '%s' is not one of stderr, syslog, auto", value);
		c->log_target = r;
		return 1;
	}
	if (strcmp(key, "max-profiles") == 0) {
		unsigned long v;

		if (!parse_uint(p, key, value, 10, 1, CONFIG_MAX_PROFILES_MAX, &v))
			return 0;
		c->max_profiles = (unsigned int)v;
		return 1;
	}
	return fail(p, "unknown key '%s' in [daemon]", key);
}

/*
 * A group name as useradd(8) makes them (POSIX portable characters).
 * Beyond what getgrnam() needs: config_print() writes "a, b", and a name
 * starting with ';' would read back as a comment (found by fuzz-config).
 */
static bool valid_group(const char *g)
{
	size_t len = strlen(g);

	if (len == 0 || len > 32 || g[0] == '-')
		return false;
	return strspn(g, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
	       len;
}

static int parse_groups(struct parse_ctx *p, const char *value)
{
	struct config *c = p->c;
	char *copy = strdup(value), *save = NULL, *tok;
	size_t printed = strlen("control-groups = ");

	if (!copy)
		return fail(p, "out of memory");
	clear_groups(c);
	for (tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		/* printed back as "control-groups = a, b, c" */
		printed += strlen(tok) + (c->n_control_groups ? 2 : 0);
		if (!valid_group(tok)) {
			fail(p, "control-groups: '%s' is not a group name (1 to 32 of "
			     "A-Z a-z 0-9 . _ -, not starting with -)", tok);
			free(copy);
			return 0;
		}
		if (printed > CONFIG_LINE_MAX) {
			free(copy);
			return fail(p, "control-groups: longer than %d characters once written "
				    "as 'a, b, c'", CONFIG_LINE_MAX);
		}
		if (c->n_control_groups == CONFIG_MAX_GROUPS) {
			free(copy);
			return fail(p, "control-groups: more than %d groups", CONFIG_MAX_GROUPS);
		}
		c->control_groups[c->n_control_groups] = strdup(tok);
		if (!c->control_groups[c->n_control_groups]) {
			free(copy);
			return fail(p, "out of memory");
		}
		c->n_control_groups++;
	}
	free(copy);
	return 1;
}

static int handle_control(struct parse_ctx *p, const char *key, const char *value)
{
	struct config *c = p->c;
	unsigned long v;

	if (strcmp(key, "socket") == 0) {
		if (!valid_path(value) || strlen(value) >= 108)
			return fail(p, "socket: '%s' is not an absolute path of at most 107 bytes", value);
		return set_str(p, &c->socket_path, value);
	}
	if (strcmp(key, "socket-mode") == 0) {
		if (!parse_uint(p, key, value, 8, 0, 0777, &v))
			return 0;
		c->socket_mode = (unsigned int)v;
		return 1;
	}
	if (strcmp(key, "socket-group") == 0) {
		if (!valid_group(value))
			return fail(p, "socket-group: '%s' is not a group name (1 to 32 of "
				    "A-Z a-z 0-9 . _ -, not starting with -)", value);
		return set_str(p, &c->socket_group, value);
	}
	if (strcmp(key, "control-groups") == 0)
		return parse_groups(p, value);
	if (strcmp(key, "read-access") == 0) {
		if (strcmp(value, "all") == 0)
			c->read_access = CONFIG_READ_ALL;
		else if (strcmp(value, "control") == 0)
			c->read_access = CONFIG_READ_CONTROL;
		else
			return fail(p, "read-access: '%s' is not one of all, control", value);
		return 1;
	}
	if (strcmp(key, "max-clients") == 0) {
		if (!parse_uint(p, key, value, 10, 1, 65536, &v))
			return 0;
		c->max_clients = (unsigned int)v;
		return 1;
	}
	if (strcmp(key, "max-clients-per-user") == 0) {
		if (!parse_uint(p, key, value, 10, 1, 65536, &v))
			return 0;
		c->max_clients_per_user = (unsigned int)v;
		return 1;
	}
	if (strcmp(key, "reserved-clients") == 0) {
		if (!parse_uint(p, key, value, 10, 0, 65536, &v))
			return 0;
		c->reserved_clients = (unsigned int)v;
		return 1;
	}
	if (strcmp(key, "request-timeout") == 0) {
		if (!parse_uint(p, key, value, 10, 0, 3600, &v))
			return 0;
		c->request_timeout_ms = (unsigned int)v * 1000;
		return 1;
	}
	if (strcmp(key, "max-request-size") == 0) {
		if (!parse_uint(p, key, value, 10, 1024, 16 * 1024 * 1024, &v))
			return 0;
		c->max_request_size = v;
		return 1;
	}
	if (strcmp(key, "max-output-queue") == 0) {
		if (!parse_uint(p, key, value, 10, 4096, 1024UL * 1024 * 1024, &v))
			return 0;
		c->max_output_queue = v;
		return 1;
	}
	return fail(p, "unknown key '%s' in [control]", key);
}

static int handle_networkmanager(struct parse_ctx *p, const char *key, const char *value)
{
	if (strcmp(key, "enable") == 0) {
		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
			p->c->networkmanager = true;
		else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0)
			p->c->networkmanager = false;
		else
			return fail(p, "enable: '%s' is not one of yes, no", value);
		return 1;
	}
	return fail(p, "unknown key '%s' in [networkmanager]", key);
}

static int handle_dbus(struct parse_ctx *p, const char *key, const char *value)
{
	if (strcmp(key, "enable") == 0) {
		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
			p->c->dbus = true;
		else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0)
			p->c->dbus = false;
		else
			return fail(p, "enable: '%s' is not one of yes, no", value);
		return 1;
	}
	if (strcmp(key, "address") == 0) {
		/* sd-bus checks the syntax when it connects; empty: the
		 * system bus */
		if (strlen(value) > 4096)
			return fail(p, "address: longer than 4096 bytes");
		free(p->c->dbus_address);
		p->c->dbus_address = value[0] ? strdup(value) : NULL;
		if (value[0] && !p->c->dbus_address)
			return fail_enomem(p);
		return 1;
	}
	return fail(p, "unknown key '%s' in [dbus]", key);
}

static int handle_netlink(struct parse_ctx *p, const char *key, const char *value)
{
	unsigned long v;

	if (strcmp(key, "receive-buffer") == 0) {
		if (!parse_uint(p, key, value, 10, 1024, 256UL * 1024 * 1024, &v))
			return 0;
		p->c->netlink_rcvbuf = (int)v;
		return 1;
	}
	return fail(p, "unknown key '%s' in [netlink]", key);
}

static int handle_sip(struct parse_ctx *p, const char *key, const char *value)
{
	unsigned long v;

	if (strcmp(key, "register-rate") == 0) {
		if (!parse_uint(p, key, value, 10, 0, PACER_RATE_MAX, &v))
			return 0;
		p->c->register_rate = (unsigned int)v;
		return 1;
	}
	if (strcmp(key, "register-burst") == 0) {
		if (!parse_uint(p, key, value, 10, 1, PACER_BURST_MAX, &v))
			return 0;
		p->c->register_burst = (unsigned int)v;
		return 1;
	}
	if (strcmp(key, "registration-check") == 0) {
		if (!parse_uint(p, key, value, 10, 0, 3600, &v))
			return 0;
		p->c->registration_check = (unsigned int)v;
		return 1;
	}
	if (strcmp(key, "keepalive") == 0) {
		if (!parse_uint(p, key, value, 10, 0, 3600, &v))
			return 0;
		p->c->keepalive = (unsigned int)v;
		return 1;
	}
	if (strcmp(key, "tls-ca-file") == 0) {
		if (!value[0]) {
			free(p->c->tls_ca_file);
			p->c->tls_ca_file = NULL;
			return 1;
		}
		if (!valid_path(value))
			return fail(p, "tls-ca-file: '%s' is not an absolute path", value);
		return set_str(p, &p->c->tls_ca_file, value);
	}
	return fail(p, "unknown key '%s' in [sip]", key);
}

static int parse_bool_value(struct parse_ctx *p, const char *key, const char *value,
			    bool *ret)
{
	if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
		*ret = true;
	else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0)
		*ret = false;
	else
		return fail(p, "%s: '%s' is not one of yes, no", key, value);
	return 1;
}

/* "127.0.0.1:5062, [::1]:5062": IP literals (a name would need a lookup
 * at start), each with an optional port; printed back as given. */
static int parse_edge_listen(struct parse_ctx *p, const char *value)
{
	struct config *c = p->c;
	char *copy = strdup(value), *save = NULL, *tok;
	size_t printed = strlen("listen = ");

	if (!copy)
		return fail_enomem(p);
	clear_edge_listen(c);
	for (tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		struct sockaddr_storage ss;

		if (edge_addr_parse(tok, &ss) < 0) {
			fail(p, "listen: '%s' is not ADDRESS[:PORT] with an IP address "
			     "(IPv6 in brackets: [::1]:5062)", tok);
			free(copy);
			return 0;
		}
		if (c->n_edge_listen == CONFIG_MAX_EDGE_LISTEN) {
			free(copy);
			return fail(p, "listen: more than %d addresses", CONFIG_MAX_EDGE_LISTEN);
		}
		printed += strlen(tok) + (c->n_edge_listen ? 2 : 0);
		if (printed > CONFIG_LINE_MAX) {
			free(copy);
			return fail(p, "listen: longer than %d characters once written as "
				    "'a, b'", CONFIG_LINE_MAX);
		}
		c->edge_listen[c->n_edge_listen] = strdup(tok);
		if (!c->edge_listen[c->n_edge_listen]) {
			free(copy);
			return fail_enomem(p);
		}
		c->n_edge_listen++;
	}
	free(copy);
	p->edge_listen_line = p->line;
	return 1;
}

/* "30000-30999": the relay's ports (edge/relay.h), RTP on the even ones
 * (RFC 3550 §11) and RTCP on the next, so the range starts even and holds
 * at least one pair; not below 1024 (alrd does not run as root). */
static int parse_relay_ports(struct parse_ctx *p, const char *key, const char *value)
{
	unsigned long lo, hi;
	char *dash, *end;

	dash = strchr(value, '-');
	if (!dash || dash == value || !dash[1] || value[0] == '+' || dash[1] == '+' ||
	    dash[1] == '-')
		return fail(p, "%s: '%s' is not FIRST-LAST (30000-30999)", key, value);
	errno = 0;
	lo = strtoul(value, &end, 10);
	if (errno || end != dash)
		return fail(p, "%s: '%s' is not FIRST-LAST (30000-30999)", key, value);
	hi = strtoul(dash + 1, &end, 10);
	if (errno || *end)
		return fail(p, "%s: '%s' is not FIRST-LAST (30000-30999)", key, value);
	if (lo < 1024 || hi > 65535 || hi <= lo)
		return fail(p, "%s: %lu-%lu is not a range within 1024-65535", key, lo, hi);
	if (lo % 2)
		return fail(p, "%s: the first port %lu is odd (RTP takes the even ports, RTCP "
			    "the next)", key, lo);
	p->c->edge_relay_port_min = (uint16_t)lo;
	p->c->edge_relay_port_max = (uint16_t)hi;
	return 1;
}

static int handle_edge(struct parse_ctx *p, const char *key, const char *value)
{
	struct config *c = p->c;
	unsigned long v;

	if (strcmp(key, "enable") == 0)
		return parse_bool_value(p, key, value, &c->edge_enable);
	if (strcmp(key, "listen") == 0)
		return parse_edge_listen(p, value);
	if (strcmp(key, "allow-non-loopback") == 0)
		return parse_bool_value(p, key, value, &c->edge_allow_non_loopback);
	if (strcmp(key, "max-local-registrations") == 0) {
		if (!parse_uint(p, key, value, 10, 1, 1024, &v))
			return 0;
		c->edge_max_local_registrations = (unsigned int)v;
		return 1;
	}
	if (strcmp(key, "max-calls") == 0) {
		if (!parse_uint(p, key, value, 10, 1, 4096, &v))
			return 0;
		c->edge_max_calls = (unsigned int)v;
		return 1;
	}
	if (strcmp(key, "min-expires") == 0) {
		if (!parse_uint(p, key, value, 10, 1, 3600, &v))
			return 0;
		c->edge_min_expires = (unsigned int)v;
		return 1;
	}
	if (strcmp(key, "max-expires") == 0) {
		if (!parse_uint(p, key, value, 10, 1, 86400, &v))
			return 0;
		c->edge_max_expires = (unsigned int)v;
		return 1;
	}
	if (strcmp(key, "relay-ports") == 0)
		return parse_relay_ports(p, key, value);
	return fail(p, "unknown key '%s' in [edge]", key);
}

/* What needs the whole file: keys that depend on each other. */
static void check_edge(struct parse_ctx *p)
{
	struct config *c = p->c;

	if (p->problem_line)
		return;
	if (c->edge_min_expires > c->edge_max_expires) {
		fail(p, "[edge] min-expires %u is above max-expires %u", c->edge_min_expires,
		     c->edge_max_expires);
		return;
	}
	for (size_t i = 0; i < c->n_edge_listen; i++) {
		struct sockaddr_storage ss;

		if (edge_addr_parse(c->edge_listen[i], &ss) == 0 &&
		    !edge_addr_is_loopback((struct sockaddr *)&ss) && !c->edge_allow_non_loopback) {
			p->line = p->edge_listen_line;
			fail(p, "[edge] listen: %s is not a loopback address: applications on "
			     "other hosts could use the profiles; set allow-non-loopback = yes "
			     "to mean it", c->edge_listen[i]);
			return;
		}
	}
}

static int handle_kinds(struct parse_ctx *p, const char *key, const char *value)
{
	struct config *c = p->c;
	struct config_kind_rule *rule;

	if (strcmp(value, "ignore") != 0 && iap_kind_from_str(value) < 0)
		return fail(p, "'%s': kind '%s' is not one of ethernet, wifi, cellular, vpn, other, ignore",
			    key, value);
	if (strlen(key) >= 64)
		return fail(p, "interface pattern '%s' is too long", key);
	if (c->n_kind_rules == CONFIG_MAX_KIND_RULES)
		return fail(p, "more than %d rules in [iap-kinds]", CONFIG_MAX_KIND_RULES);
	rule = &c->kind_rules[c->n_kind_rules];
	rule->pattern = strdup(key);
	rule->kind = strdup(value);
	if (!rule->pattern || !rule->kind) {
		free(rule->pattern);
		free(rule->kind);
		return fail(p, "out of memory");
	}
	c->n_kind_rules++;
	return 1;
}

static int config_ini_cb(void *user, const char *section, const char *key,
		       const char *value)
{
	struct parse_ctx *p = user;

	/* inih calls us with key == NULL for a section header alone
	 * (INI_CALL_HANDLER_ON_NEW_SECTION); it is off in Debian's build,
	 * but be safe. */
	if (!key)
		return 1;
	if (!value)
		return fail(p, "'%s' has no value", key);
	/* config_print() writes "key = value": what it prints must read
	 * back (alrd --check-config's output is a configuration file). */
	if (strlen(key) + strlen(value) + 3 > CONFIG_LINE_MAX)
		return fail(p, "'%s': 'key = value' would be longer than %d characters", key,
			    CONFIG_LINE_MAX);
	if (section[0] == '\0')
		return fail(p, "'%s' is outside any section", key);
	if (!check_duplicate(p, section, key))
		return 0;
	if (strcmp(section, "daemon") == 0)
		return handle_daemon(p, key, value);
	if (strcmp(section, "control") == 0)
		return handle_control(p, key, value);
	if (strcmp(section, "netlink") == 0)
		return handle_netlink(p, key, value);
	if (strcmp(section, "networkmanager") == 0)
		return handle_networkmanager(p, key, value);
	if (strcmp(section, "dbus") == 0)
		return handle_dbus(p, key, value);
	if (strcmp(section, "sip") == 0)
		return handle_sip(p, key, value);
	if (strcmp(section, "iap-kinds") == 0)
		return handle_kinds(p, key, value);
	if (strcmp(section, "edge") == 0)
		return handle_edge(p, key, value);
	return fail(p, "unknown section [%s]", section);
}

/*
 * inih reader over the buffer that counts lines, so the handler knows
 * where it is.  Leading blanks go: inih would take an indented line for
 * the continuation of the previous value (and hand the handler the same
 * key again), which alrd.conf does not have.  A line longer than inih's
 * buffer is refused here: fgets() would have cut it in two, the second
 * half read as a line of its own.
 */
static char *config_read_line(char *str, int num, void *stream)
{
	struct parse_ctx *p = stream;
	const char *line, *nl;
	size_t len;

	if (p->problem_line || p->pos >= p->len)
		return NULL;
	line = p->buf + p->pos;
	nl = memchr(line, '\n', p->len - p->pos);
	len = nl ? (size_t)(nl - line) + 1 : p->len - p->pos;
	p->pos += len;
	p->line++;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	while (len > 0 && (line[0] == ' ' || line[0] == '\t')) {
		line++;
		len--;
	}
	/* inih needs room for "\r\n\0" beyond the longest line. */
	if (num < 4 || len + 3 > (size_t)num) {
		fail(p, "line is longer than %d characters", num - 3);
		return NULL;
	}
	memcpy(str, line, len);
	str[len] = '\0';
	return str;
}

static void set_error(struct config_error *e, int line, const char *problem)
{
	e->line = line;
	util_strlcpy(e->problem, problem, sizeof(e->problem));
}

int config_parse_string(const char *file, const char *text, size_t len,
			struct config **ret, struct config_error *ret_error)
{
	struct parse_ctx p = { 0 };
	const char *nul;
	int r;

	memset(ret_error, 0, sizeof(*ret_error));
	util_strlcpy(ret_error->file, file, sizeof(ret_error->file));
	if (len > CONFIG_MAX_FILE_SIZE) {
		snprintf(ret_error->problem, sizeof(ret_error->problem),
			 "larger than %d bytes", CONFIG_MAX_FILE_SIZE);
		return -EFBIG;
	}
	/* inih works on C strings: a NUL would end the value it is in, and
	 * "socket = /run/x\0/y" would quietly mean /run/x. */
	nul = memchr(text, '\0', len);
	if (nul) {
		int line = 1;

		for (const char *c = text; c < nul; c++)
			line += *c == '\n';
		set_error(ret_error, line, "contains a NUL byte");
		return -EINVAL;
	}
	p.buf = text;
	p.len = len;
	p.c = config_new_defaults();
	if (!p.c || !(p.c->file = strdup(file))) {
		config_free(p.c);
		set_error(ret_error, 0, "out of memory");
		return -ENOMEM;
	}
	r = ini_parse_stream(config_read_line, &p, config_ini_cb, &p);
	clear_seen(&p);
	if (r == 0)
		check_edge(&p);
	if (r < 0 && !p.problem_line) {
		p.enomem = true;
		util_strlcpy(p.problem, "out of memory", sizeof(p.problem));
	}
	if (r != 0 || p.problem_line || p.enomem) {
		/* inih goes on after a bad line and returns the first one; a
		 * problem of ours on an earlier line comes first. */
		if (r > 0 && (!p.problem_line || r < p.problem_line))
			set_error(ret_error, r,
				  "syntax error: expected [section], key = value, or a comment");
		else
			set_error(ret_error, p.problem_line, p.problem);
		config_free(p.c);
		return p.enomem ? -ENOMEM : -EINVAL;
	}
	*ret = p.c;
	return 0;
}

int config_load(const char *path, bool must_exist, struct config **ret,
		struct config_error *ret_error)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	memset(ret_error, 0, sizeof(*ret_error));
	util_strlcpy(ret_error->file, path, sizeof(ret_error->file));

	/* O_NONBLOCK: a FIFO in its place must not hang a reload. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT && !must_exist) {
			struct config *c = config_new_defaults();

			if (!c || !(c->file = strdup(path))) {
				config_free(c);
				set_error(ret_error, 0, "out of memory");
				return -ENOMEM;
			}
			*ret = c;
			return 0;
		}
		snprintf(ret_error->problem, sizeof(ret_error->problem),
			 "cannot open: %s", strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(ret_error->problem, sizeof(ret_error->problem),
			 "cannot stat: %s", strerror(-r));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		set_error(ret_error, 0, "not a regular file");
		goto out;
	}
	/* One byte more than allowed, to notice a file that grew meanwhile. */
	buf = malloc(CONFIG_MAX_FILE_SIZE + 1);
	if (!buf) {
		r = -ENOMEM;
		set_error(ret_error, 0, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, CONFIG_MAX_FILE_SIZE + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(ret_error->problem, sizeof(ret_error->problem),
				 "cannot read: %s", strerror(-r));
			goto out;
		}
		len += (size_t)n;
		if (n == 0 || len > CONFIG_MAX_FILE_SIZE)
			break;
	}
	r = config_parse_string(path, buf, len, ret, ret_error);
out:
	free(buf);
	close(fd);
	return r;
}

static void replace(char **dst, const char *value)
{
	char *s;

	if (!value)
		return;
	s = strdup(value);
	if (!s)
		return;
	free(*dst);
	*dst = s;
}

void config_apply_overrides(struct config *c, const struct config_overrides *o)
{
	replace(&c->state_dir, o->state_dir);
	replace(&c->socket_path, o->socket_path);
	replace(&c->plugin_dir, o->plugin_dir);
	if (o->log_level >= 0)
		c->log_level = o->log_level;
	if (o->log_target >= 0)
		c->log_target = o->log_target;
}

const char *config_kind_for(const struct config *c, const char *ifname)
{
	for (size_t i = 0; i < c->n_kind_rules; i++)
		if (fnmatch(c->kind_rules[i].pattern, ifname, 0) == 0)
			return c->kind_rules[i].kind;
	return NULL;
}

void config_print(const struct config *c, FILE *f)
{
	fprintf(f, "# alrd configuration%s%s\n", c->file ? " from " : " (defaults)",
		c->file ? c->file : "");
	fprintf(f, "[daemon]\n");
	fprintf(f, "state-dir = %s\n", c->state_dir);
	fprintf(f, "plugin-dir = %s\n", c->plugin_dir);
	fprintf(f, "snap-dir = %s\n", c->snap_dir);
	fprintf(f, "log-level = %s\n", log_level_to_str(c->log_level));
	fprintf(f, "log-target = %s\n", log_target_to_str(c->log_target));
	fprintf(f, "max-profiles = %u\n", c->max_profiles);
	fprintf(f, "\n[control]\n");
	fprintf(f, "socket = %s\n", c->socket_path);
	fprintf(f, "socket-mode = %04o\n", c->socket_mode);
	if (c->socket_group)
		fprintf(f, "socket-group = %s\n", c->socket_group);
	fprintf(f, "control-groups = ");
	for (size_t i = 0; i < c->n_control_groups; i++)
		fprintf(f, "%s%s", i ? ", " : "", c->control_groups[i]);
	fprintf(f, "\n");
	fprintf(f, "read-access = %s\n", c->read_access == CONFIG_READ_ALL ? "all" : "control");
	fprintf(f, "max-clients = %u\n", c->max_clients);
	fprintf(f, "max-clients-per-user = %u\n", c->max_clients_per_user);
	fprintf(f, "reserved-clients = %u\n", c->reserved_clients);
	fprintf(f, "request-timeout = %u\n", c->request_timeout_ms / 1000);
	fprintf(f, "max-request-size = %zu\n", c->max_request_size);
	fprintf(f, "max-output-queue = %zu\n", c->max_output_queue);
	fprintf(f, "\n[netlink]\n");
	fprintf(f, "receive-buffer = %d\n", c->netlink_rcvbuf);
	fprintf(f, "\n[networkmanager]\n");
	fprintf(f, "enable = %s\n", c->networkmanager ? "yes" : "no");
	fprintf(f, "\n[dbus]\n");
	fprintf(f, "enable = %s\n", c->dbus ? "yes" : "no");
	if (c->dbus_address)
		fprintf(f, "address = %s\n", c->dbus_address);
	fprintf(f, "\n[sip]\n");
	fprintf(f, "register-rate = %u\n", c->register_rate);
	fprintf(f, "register-burst = %u\n", c->register_burst);
	fprintf(f, "registration-check = %u\n", c->registration_check);
	fprintf(f, "keepalive = %u\n", c->keepalive);
	if (c->tls_ca_file)
		fprintf(f, "tls-ca-file = %s\n", c->tls_ca_file);
	fprintf(f, "\n[edge]\n");
	fprintf(f, "enable = %s\n", c->edge_enable ? "yes" : "no");
	fprintf(f, "listen = ");
	for (size_t i = 0; i < c->n_edge_listen; i++)
		fprintf(f, "%s%s", i ? ", " : "", c->edge_listen[i]);
	fprintf(f, "\n");
	fprintf(f, "allow-non-loopback = %s\n", c->edge_allow_non_loopback ? "yes" : "no");
	fprintf(f, "max-local-registrations = %u\n", c->edge_max_local_registrations);
	fprintf(f, "max-calls = %u\n", c->edge_max_calls);
	fprintf(f, "min-expires = %u\n", c->edge_min_expires);
	fprintf(f, "max-expires = %u\n", c->edge_max_expires);
	fprintf(f, "relay-ports = %u-%u\n", c->edge_relay_port_min, c->edge_relay_port_max);
	fprintf(f, "\n[iap-kinds]\n");
	for (size_t i = 0; i < c->n_kind_rules; i++)
		fprintf(f, "%s = %s\n", c->kind_rules[i].pattern, c->kind_rules[i].kind);
}

const char *config_error_to_str(const struct config_error *e, char *buf, size_t size)
{
	if (e->line > 0)
		snprintf(buf, size, "%s:%d: %s", e->file, e->line, e->problem);
	else
		snprintf(buf, size, "%s: %s", e->file, e->problem);
	return buf;
}
