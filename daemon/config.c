/* Configuration: defaults < /etc/alrd/alrd.conf (inih) < command line. */
#include "daemon/config.h"

#include <errno.h>
#include <fnmatch.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alr/iap.h"
#include "daemon/util.h"
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
	if (!c->state_dir || !c->socket_path || !c->plugin_dir || !c->snap_dir ||
	    !c->control_groups[0])
		return config_free(c);
	c->log_level = LOG_INFO;
	c->log_target = LOG_TARGET_AUTO;
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
	c->register_rate = PACER_DEFAULT_RATE;
	c->register_burst = PACER_DEFAULT_BURST;
	return c;
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
	clear_groups(c);
	for (size_t i = 0; i < c->n_kind_rules; i++) {
		free(c->kind_rules[i].pattern);
		free(c->kind_rules[i].kind);
	}
	free(c);
	return NULL;
}

/* Parser state handed to inih. */
struct parse_ctx {
	struct config *c;
	FILE *f;
	int line;               /* the line inih is handling now */
	int problem_line;       /* where problem[] was found; 0: none */
	char problem[256];
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
	return fail(p, "unknown key '%s' in [daemon]", key);
}

static int parse_groups(struct parse_ctx *p, const char *value)
{
	struct config *c = p->c;
	char *copy = strdup(value), *save = NULL, *tok;

	if (!copy)
		return fail(p, "out of memory");
	clear_groups(c);
	for (tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
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
	if (strcmp(key, "socket-group") == 0)
		return set_str(p, &c->socket_group, value);
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
	return fail(p, "unknown key '%s' in [sip]", key);
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
	if (strcmp(section, "daemon") == 0)
		return handle_daemon(p, key, value);
	if (strcmp(section, "control") == 0)
		return handle_control(p, key, value);
	if (strcmp(section, "netlink") == 0)
		return handle_netlink(p, key, value);
	if (strcmp(section, "networkmanager") == 0)
		return handle_networkmanager(p, key, value);
	if (strcmp(section, "sip") == 0)
		return handle_sip(p, key, value);
	if (strcmp(section, "iap-kinds") == 0)
		return handle_kinds(p, key, value);
	if (section[0] == '\0')
		return fail(p, "'%s' is outside any section", key);
	return fail(p, "unknown section [%s]", section);
}

/* inih reader that counts lines, so the handler knows where it is. */
static char *config_read_line(char *buf, int size, void *stream)
{
	struct parse_ctx *p = stream;
	char *r = fgets(buf, size, p->f);

	if (r)
		p->line++;
	return r;
}

int config_load(const char *path, bool must_exist, struct config **ret,
		struct config_error *ret_error)
{
	struct parse_ctx p = { 0 };
	FILE *f;
	int r;

	memset(ret_error, 0, sizeof(*ret_error));
	util_strlcpy(ret_error->file, path, sizeof(ret_error->file));

	p.c = config_new_defaults();
	if (!p.c) {
		util_strlcpy(ret_error->problem, "out of memory", sizeof(ret_error->problem));
		return -ENOMEM;
	}
	p.c->file = strdup(path);

	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		if (r == -ENOENT && !must_exist) {
			*ret = p.c;
			return 0;
		}
		snprintf(ret_error->problem, sizeof(ret_error->problem),
			 "cannot open: %s", strerror(-r));
		config_free(p.c);
		return r;
	}
	p.f = f;
	r = ini_parse_stream(config_read_line, &p, config_ini_cb, &p);
	fclose(f);
	if (r != 0) {
		ret_error->line = r > 0 ? r : 0;
		if (p.problem_line && p.problem_line == r)
			util_strlcpy(ret_error->problem, p.problem, sizeof(ret_error->problem));
		else
			util_strlcpy(ret_error->problem,
				     "syntax error: expected [section], key = value, or a comment",
				     sizeof(ret_error->problem));
		config_free(p.c);
		return -EINVAL;
	}
	*ret = p.c;
	return 0;
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
	fprintf(f, "\n[sip]\n");
	fprintf(f, "register-rate = %u\n", c->register_rate);
	fprintf(f, "register-burst = %u\n", c->register_burst);
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
