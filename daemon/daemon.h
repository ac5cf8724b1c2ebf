/*
 * The daemon object: owns the loop, the configuration and every module,
 * and the order in which they start and stop.
 */
#pragma once

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon/config.h"
#include "daemon/control.h"
#include "policy/policy.h"

struct ev_loop;
struct store;
struct nlmon;
struct nmmon;
struct iap_table;
struct iap_events;
struct control;
struct sip_stack;
struct plugin_loader;
struct registry;
struct policy_set;
struct edge;
struct alr_dbus;

struct daemon_options {
	const char *config_file;        /* NULL: the default */
	bool config_given;              /* -c used: the file must exist */
	bool foreground;
	struct config_overrides overrides;
};

/* The SNAP files the last load of snap-dir rejected (file, line, problem),
 * for the answer of daemon.reload. */
struct snap_rejects {
	struct policy_error *v;
	size_t n;
};

struct daemon {
	struct ev_loop *loop;
	struct daemon_options opts;
	struct config *config;
	uint64_t started_us;            /* monotonic */
	int lock_fd;

	struct store *store;
	struct nlmon *nlmon;
	struct nmmon *nmmon;            /* NULL when networkmanager = no */
	struct iap_table *iaps;
	struct iap_events *iap_events;  /* what the iap.* events showed */
	struct policy_set *snaps;       /* SNAP policies from config->snap_dir */
	struct snap_rejects snap_rejects;  /* files the last load skipped */
	struct sip_stack *sip;
	struct plugin_loader *plugins;
	struct registry *registry;
	struct edge *edge;              /* NULL when [edge] enable = no */
	struct calls *calls;            /* calls through the edge (edge/call.h) */
	struct control *control;
	unsigned int disconnect_watch;
	struct alr_dbus *dbus;          /* NULL: no bus (daemon/dbus.h) */

	struct pending_backup *backups; /* store.backup being written */
	ev_prepare store_check;         /* anything for the disk?  then ... */
	ev_timer store_sync;            /* ... sync it STORE_SYNC_DELAY later */

	bool stopping;                  /* deregistering before the loop ends */
	ev_timer stop_deadline;
};

/* Set up everything up to a listening socket; 0 or negative errno (logged). */
int daemon_start(struct daemon *d, struct config *config, const struct daemon_options *opts);
/* Run until SIGTERM/SIGINT, then deregister the profiles (bounded) and
 * return. */
int daemon_run(struct daemon *d);
void daemon_stop(struct daemon *d);

/* Re-read the configuration.  0, or negative errno with @ret_error filled;
 * the running configuration stays on error. */
int daemon_reload(struct daemon *d, struct config_error *ret_error);

/*
 * Load the SNAP policies of @dir in full.  Files that do not parse are
 * logged (FILE:LINE: problem) and skipped, and listed in @rejects (emptied
 * first; may be NULL); a directory that cannot be read is one entry there
 * too.  Returns the number skipped (>= 0) with *@ret set, or a negative
 * errno (logged) when @dir cannot be read.
 */
int daemon_load_snaps(const char *dir, struct policy_set **ret,
		      struct snap_rejects *rejects);

