/*
 * The IAP table: follows the netlink monitor's link snapshots, keeps one
 * IAP per interface with its stable id from the store, and tells observers
 * what changed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "alr/iap.h"
#include "netlink/nlmon.h"

struct store;
struct iap_table;

enum iap_event {
	IAP_EVENT_ADDED,
	IAP_EVENT_CHANGED,
	IAP_EVENT_UP,
	IAP_EVENT_DOWN,
	IAP_EVENT_REMOVED,
	_IAP_EVENT_MAX,
};

const char *iap_event_to_str(enum iap_event e);   /* "iap.added", ... */

typedef void (*iap_table_cb)(enum iap_event event, const struct iap *iap,
			     void *user_data);

/* The configured kind of interface @ifname ("wifi", ..., or "ignore" to
 * hide it), or NULL when no rule names it: the daemon's iap-kinds
 * section, handed down as a function so that alr/ needs nothing of the
 * daemon's configuration. */
typedef const char *(*iap_kind_rule_fn)(const char *ifname, void *user_data);

/* @sysfs_root: "/sys/class/net" normally.  @rule may be NULL (no rules);
 * the daemon replaces it with iap_table_set_kind_rule() on reload. */
struct iap_table *iap_table_new(struct store *store, iap_kind_rule_fn rule, void *rule_data,
				const char *sysfs_root);
struct iap_table *iap_table_free(struct iap_table *t);

/* New kind rules: applied to every interface at once. */
void iap_table_set_kind_rule(struct iap_table *t, iap_kind_rule_fn rule, void *rule_data);

unsigned int iap_table_watch(struct iap_table *t, iap_table_cb cb, void *user_data,
			     void (*destroy)(void *));
bool iap_table_unwatch(struct iap_table *t, unsigned int id);

/* Inputs, from the netlink monitor. */
void iap_table_link_changed(struct iap_table *t, const struct nlmon_link *l);
void iap_table_link_removed(struct iap_table *t, int ifindex, const char *name);

/*
 * Inputs from the NetworkManager monitor.  An interface with an active
 * connection is the IAP "nm:UUID" named by the connection; without one it
 * is "if:NAME".  A switch between the two is announced as iap.added of the
 * new IAP (iap->replaces set during its iap.added and iap.up) followed by iap.removed of
 * the old one (iap->replaced_by set), without iap.down: the link did not
 * change.  Availability stays netlink's.
 */
struct nmmon_conn;
void iap_table_nm_conn_changed(struct iap_table *t, const struct nmmon_conn *c);
void iap_table_nm_conn_removed(struct iap_table *t, const char *uuid);
void iap_table_nm_running(struct iap_table *t, bool running);

/* Lookups.  The table is ordered by id. */
size_t iap_table_count(const struct iap_table *t);
const struct iap *iap_table_at(const struct iap_table *t, size_t i);
const struct iap *iap_table_find_by_id(const struct iap_table *t, unsigned int id);
const struct iap *iap_table_find_by_ifindex(const struct iap_table *t, int ifindex);
const struct iap *iap_table_find_by_name(const struct iap_table *t, const char *name);
