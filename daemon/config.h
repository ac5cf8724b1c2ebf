/*
 * Daemon configuration: built-in defaults, overridden by the INI file
 * (/etc/alrd/alrd.conf), overridden by the command line.
 *
 * The parser is pure (no sockets, no loop): config_load() reads a file into
 * a fresh struct, config_apply_overrides() applies the command line on top,
 * and on reload the daemon swaps the whole struct once it is valid.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "base/log.h"

#define CONFIG_MAX_GROUPS 16
#define CONFIG_MAX_KIND_RULES 64
#define CONFIG_MAX_FILE_SIZE (64 * 1024)
#define CONFIG_DEFAULT_MAX_PROFILES 1000u
#define CONFIG_MAX_PROFILES_MAX 1000000u
#define CONFIG_MAX_EDGE_LISTEN 8

enum config_read_access {
	CONFIG_READ_ALL,        /* anyone who can open the socket may read */
	CONFIG_READ_CONTROL,    /* only controllers may do anything */
};

/* An interface-kind override: name pattern (fnmatch) -> kind name. */
struct config_kind_rule {
	char *pattern;
	char *kind;             /* "ethernet", "wifi", ..., or "ignore" */
};

/* [sip] registration-check (docs/sip.md, "Liveness"): a registrar that
 * restarts without its bindings is noticed within this, over UDP. */
#define CONFIG_DEFAULT_REGISTRATION_CHECK       25
#define CONFIG_DEFAULT_KEEPALIVE                30

struct config {
	char *file;                     /* the file it came from, or NULL */

	/* [daemon] */
	char *state_dir;
	char *plugin_dir;
	char *snap_dir;                 /* SNAP policy files (docs/policy.md) */
	int log_level;                  /* LOG_ERR .. LOG_DEBUG */
	enum log_target log_target;
	unsigned int max_profiles;      /* profile.create/import refused beyond it */

	/* [control] */
	char *socket_path;
	unsigned int socket_mode;
	char *socket_group;             /* NULL: "alrd" if it exists, else root's */
	size_t n_control_groups;
	char *control_groups[CONFIG_MAX_GROUPS];
	enum config_read_access read_access;
	unsigned int max_clients;
	unsigned int max_clients_per_user;      /* per uid; root is exempt */
	unsigned int reserved_clients;  /* the last slots: root and control groups */
	unsigned int request_timeout_ms;        /* 0: no limit */
	size_t max_request_size;
	size_t max_output_queue;

	/* [netlink] */
	int netlink_rcvbuf;

	/* [networkmanager] */
	bool networkmanager;            /* name IAPs by NetworkManager connections */

	/* [dbus] (docs/dbus.md) */
	bool dbus;                      /* offer org.alrd.Roaming1 on a bus */
	char *dbus_address;             /* NULL: the system bus */

	/* [sip] REGISTER pacing (sip/pacer.h) */
	unsigned int register_rate;     /* attempts per second; 0: unlimited */
	unsigned int register_burst;    /* attempts at once */
	/* [sip] registration-check: seconds between checks that the
	 * registrar still lists a binding over UDP; 0: none */
	unsigned int registration_check;
	/* [sip] keepalive: seconds between RFC 5626 CRLF pings on TCP; 0: none */
	unsigned int keepalive;
	/* [sip] tls-ca-file: the CA certificates (PEM) TLS servers are
	 * verified against; NULL: the system's store */
	char *tls_ca_file;

	/* [edge] the SIP edge (docs/edge.md) */
	bool edge_enable;
	size_t n_edge_listen;
	char *edge_listen[CONFIG_MAX_EDGE_LISTEN];
	bool edge_allow_non_loopback;
	unsigned int edge_max_local_registrations;      /* per profile */
	unsigned int edge_max_calls;    /* calls through the edge at once */
	unsigned int edge_min_expires;
	unsigned int edge_max_expires;
	/* the calls' RTP/RTCP relay (edge/relay.h): its port pairs */
	uint16_t edge_relay_port_min;   /* even */
	uint16_t edge_relay_port_max;

	/* [iap-kinds] in file order: first match wins */
	size_t n_kind_rules;
	struct config_kind_rule kind_rules[CONFIG_MAX_KIND_RULES];
};

/* Command-line settings; NULL/negative means "not given". */
struct config_overrides {
	const char *state_dir;
	const char *socket_path;
	const char *plugin_dir;
	int log_level;                  /* -1: not given */
	int log_target;                 /* -1: not given */
};

/* Where a configuration error was found. */
struct config_error {
	char file[256];
	int line;                       /* 0: not tied to a line */
	char problem[256];
};

struct config *config_new_defaults(void);
struct config *config_free(struct config *c);

/*
 * Read @path over the defaults.  A missing file is an error only when
 * @must_exist (it was named on the command line); otherwise the defaults
 * stand.  0 or a negative errno with @ret_error filled.
 */
int config_load(const char *path, bool must_exist, struct config **ret,
		struct config_error *ret_error);

/* The same for @len bytes of @text (not terminated); @file only names it
 * in errors and in the result.  -EINVAL (a bad file: a NUL byte, a
 * repeated key, a syntax error, a bad value), -EFBIG, -ENOMEM. */
int config_parse_string(const char *file, const char *text, size_t len,
			struct config **ret, struct config_error *ret_error);

void config_apply_overrides(struct config *c, const struct config_overrides *o);

/* The kind configured for @ifname, or NULL when no rule matches. */
const char *config_kind_for(const struct config *c, const char *ifname);

/* Print the configuration back in normalised INI form. */
void config_print(const struct config *c, FILE *f);

/* "FILE:LINE: PROBLEM" for messages. */
const char *config_error_to_str(const struct config_error *e, char *buf, size_t size);
