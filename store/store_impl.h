/* Private to store/: the store object and the statement, transaction and
 * file checks its files share.  store.c opens, checks and migrates the
 * database (schema versions, IAP ids, commits and syncs); store_profiles.c
 * writes and reads profiles; store_contacts.c the contacts alrd
 * registered; store_backup.c backup, restore and file validation. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

struct store {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *iap_select;
	sqlite3_stmt *iap_insert;
	sqlite3_stmt *iap_touch;
	sqlite3_stmt *contact_upsert;
	sqlite3_stmt *contact_delete;
	unsigned long unsynced;         /* commits since the last store_sync() */
	store_profile_check_fn check;   /* store_set_profile_check() */
};

/* sqlite3 result code -> negative errno. */
int store_sqlite_errno(int rc);

/* The checks of a database file before it is used (open, validate, restore). */
int store_check_identity(sqlite3 *db, const char *path, int *ret_version,
			  char *errbuf, size_t errsize);
int store_check_tables(sqlite3 *db, const char *path, int version, char *errbuf,
			size_t errsize);
int store_check_integrity(sqlite3 *db, const char *path, const char *pragma,
			   char *errbuf, size_t errsize);

/* Open and migrate s->path; close what store_open_db() opened. */
void store_close_db(struct store *s);
int store_open_db(struct store *s, char *errbuf, size_t errsize);

/* Statements and transactions: logged once, errno returned. */
int store_db_error(struct store *s, int rc, const char *what);
int store_prepare(struct store *s, const char *sql, sqlite3_stmt **ret);
int store_step_done(struct store *s, sqlite3_stmt *st, const char *what);
int store_durable(struct store *s, int r);
int store_tx_begin(struct store *s);
int store_tx_end(struct store *s, int r);
void store_bind_opt_text(sqlite3_stmt *st, int i, const char *s);
void store_bind_opt_id(sqlite3_stmt *st, int i, unsigned int id);
