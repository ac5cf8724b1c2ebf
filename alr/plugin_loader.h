/*
 * The plugin loader: finds the profile agent plugins in a directory, loads
 * each with dlopen(RTLD_NOW), checks its descriptor (include/alr/plugin.h)
 * and keeps it until the daemon stops.
 *
 * A directory or file that others may write is refused, and so is a file
 * that is not a regular file or belongs to someone other than root or
 * alrd's user.  A plugin that fails to load is logged once, here, and
 * remembered with its reason (daemon.info shows it); the others still
 * load.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "alr/plugin.h"

struct plugin_loader;

/* @host is borrowed: it must outlive the loader (a static table). */
struct plugin_loader *plugin_loader_new(const struct alr_plugin_host *host);
/* Calls each plugin's fini() and unloads it.  Returns NULL. */
struct plugin_loader *plugin_loader_free(struct plugin_loader *l);

/*
 * Load every "*.so" of @dir, in name order.  Returns how many loaded
 * (>= 0), or a negative errno when the directory itself cannot be used:
 * -ENOENT (missing), -ENOTDIR, -EPERM (writable by others, or a foreign
 * owner), each logged.  May be called once.
 */
int plugin_loader_load_dir(struct plugin_loader *l, const char *dir);

/* The directory given to plugin_loader_load_dir(), or NULL. */
const char *plugin_loader_dir(const struct plugin_loader *l);

size_t plugin_loader_count(const struct plugin_loader *l);
/* The i-th loaded plugin (load order) and its file; NULL past the end. */
const struct alr_plugin *plugin_loader_at(const struct plugin_loader *l, size_t i,
					  const char **ret_path);

/* Files that were refused: the file name and why ("no symbol
 * alr_plugin_descriptor", "writable by others", ...). */
size_t plugin_loader_failure_count(const struct plugin_loader *l);
const char *plugin_loader_failure_at(const struct plugin_loader *l, size_t i,
				     const char **ret_reason);

/* The plugin serving (@cls, @type_name), or NULL.  @cls is an enum
 * alr_profile_class. */
const struct alr_plugin *plugin_loader_find(const struct plugin_loader *l, int cls,
					    const char *type_name);

/*
 * Calls into a plugin are bracketed so that its log lines carry its name
 * (the host's log function has no other way to know who calls).  They
 * nest.
 */
void plugin_loader_call_begin(const struct alr_plugin *p);
void plugin_loader_call_end(void);
/* The host's log function (struct alr_plugin_host.log). */
void plugin_loader_host_log(int level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* "ietf/acme"-style names: 1..64 of A-Z a-z 0-9 _ . + - */
bool plugin_loader_name_valid(const char *s);
