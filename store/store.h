/*
 * The persistent store (SQLite, <state-dir>/alrd.db).
 *
 * Now it holds the stable IAP ids; profiles and registered contacts come
 * with the profile issue.  The schema is versioned with PRAGMA user_version
 * and migrated forward in one transaction at open.  A database that is
 * corrupt, or newer than this alrd, is refused, never rewritten.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct store;

#define STORE_SCHEMA_VERSION 1

/* Open (creating if needed) the database at @path.  On failure returns a
 * negative errno and fills @errbuf with a message a person can act on. */
int store_open(const char *path, struct store **ret, char *errbuf, size_t errsize);
struct store *store_close(struct store *s);

/*
 * The stable id of the IAP with @identity ("if:wlan0"), assigned on first
 * sight and kept forever.  @name and @kind are recorded for people reading
 * the database.  0 or negative errno.
 */
int store_iap_id(struct store *s, const char *identity, const char *name,
		 const char *kind, unsigned int *ret_id);
