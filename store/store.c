/* SQLite store: schema versions, stable IAP ids. */
#include "store/store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>

#include "daemon/log.h"

struct store {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *iap_select;
	sqlite3_stmt *iap_insert;
	sqlite3_stmt *iap_touch;
};

/* Schema steps: migrations[v] takes a database from version v to v + 1.
 * Each runs inside the same transaction as the user_version bump. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE iap ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  identity TEXT NOT NULL UNIQUE,"
	"  name TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  first_seen INTEGER NOT NULL,"
	"  last_seen INTEGER NOT NULL"
	");",
};

static int sqlite_to_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:       return 0;
	case SQLITE_NOMEM:    return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:   return -EBUSY;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:     return -EACCES;
	case SQLITE_CANTOPEN: return -ENOENT;
	case SQLITE_FULL:     return -ENOSPC;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:   return -EBADMSG;
	case SQLITE_CONSTRAINT: return -EEXIST;
	}
	return -EIO;
}

static int get_user_version(sqlite3 *db, int *ret)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*ret = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

static int migrate(struct store *s, char *errbuf, size_t errsize)
{
	int version = 0, rc;
	char sql[64];

	rc = get_user_version(s->db, &version);
	if (rc != SQLITE_OK)
		goto fail;
	if (version > STORE_SCHEMA_VERSION) {
		snprintf(errbuf, errsize,
			 "%s has schema version %d, newer than this alrd understands (%d); "
			 "use a newer alrd or restore a backup",
			 s->path, version, STORE_SCHEMA_VERSION);
		return -EPROTO;
	}
	if (version == STORE_SCHEMA_VERSION)
		return 0;

	rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	for (int v = version; v < STORE_SCHEMA_VERSION; v++) {
		rc = sqlite3_exec(s->db, migrations[v], NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			goto fail;
		}
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
	rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		goto fail;
	}
	if (version > 0)
		log_notice("store: %s migrated from schema %d to %d", s->path,
			   version, STORE_SCHEMA_VERSION);
	return 0;
fail:
	snprintf(errbuf, errsize, "%s: %s", s->path, sqlite3_errmsg(s->db));
	return sqlite_to_errno(rc);
}

static int check_integrity(struct store *s, char *errbuf, size_t errsize)
{
	sqlite3_stmt *st;
	int rc;
	bool ok = false;

	/* quick_check is O(N) but skips index-content checks; enough to
	 * refuse a damaged file at start without a long stall. */
	rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const char *res = (const char *)sqlite3_column_text(st, 0);

			ok = res && strcmp(res, "ok") == 0;
			rc = SQLITE_OK;
		}
		sqlite3_finalize(st);
	}
	if (rc != SQLITE_OK || !ok) {
		snprintf(errbuf, errsize,
			 "%s is damaged (%s); alrd leaves it untouched: move it away "
			 "or restore a backup",
			 s->path, rc != SQLITE_OK ? sqlite3_errmsg(s->db) : "integrity check failed");
		return -EBADMSG;
	}
	return 0;
}

int store_open(const char *path, struct store **ret, char *errbuf, size_t errsize)
{
	struct store *s;
	int rc, r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->path = strdup(path);
	if (!s->path) {
		free(s);
		return -ENOMEM;
	}
	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(errbuf, errsize, "cannot open %s: %s", path,
			 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		r = sqlite_to_errno(rc);
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 1000);
	/* WAL keeps readers (backup, later) off the writer's back; FULL sync
	 * so an assigned id survives a power cut. */
	rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			  "PRAGMA foreign_keys=ON;", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
			snprintf(errbuf, errsize,
				 "%s is not a valid alrd database (%s); alrd leaves it "
				 "untouched: move it away or restore a backup",
				 path, sqlite3_errmsg(s->db));
		else
			snprintf(errbuf, errsize, "%s: %s", path, sqlite3_errmsg(s->db));
		r = sqlite_to_errno(rc);
		goto fail;
	}
	r = check_integrity(s, errbuf, errsize);
	if (r < 0)
		goto fail;
	r = migrate(s, errbuf, errsize);
	if (r < 0)
		goto fail;

	if (sqlite3_prepare_v2(s->db, "SELECT id FROM iap WHERE identity = ?1", -1,
			       &s->iap_select, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
			       "INSERT INTO iap (identity, name, kind, first_seen, last_seen) "
			       "VALUES (?1, ?2, ?3, ?4, ?4)", -1, &s->iap_insert, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
			       "UPDATE iap SET name = ?2, kind = ?3, last_seen = ?4 WHERE id = ?1",
			       -1, &s->iap_touch, NULL) != SQLITE_OK) {
		snprintf(errbuf, errsize, "%s: %s", path, sqlite3_errmsg(s->db));
		r = -EIO;
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	store_close(s);
	return r;
}

struct store *store_close(struct store *s)
{
	if (!s)
		return NULL;
	sqlite3_finalize(s->iap_select);
	sqlite3_finalize(s->iap_insert);
	sqlite3_finalize(s->iap_touch);
	sqlite3_close(s->db);
	free(s->path);
	free(s);
	return NULL;
}

int store_iap_id(struct store *s, const char *identity, const char *name,
		 const char *kind, unsigned int *ret_id)
{
	sqlite3_stmt *st = s->iap_select;
	sqlite3_int64 id = 0;
	sqlite3_int64 now = (sqlite3_int64)time(NULL);
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, identity, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		st = s->iap_touch;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
	} else if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		st = s->iap_insert;
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, identity, -1, SQLITE_STATIC);
	} else {
		sqlite3_reset(st);
		return log_errno(LOG_ERR, sqlite_to_errno(rc), "store: looking up iap %s: %s",
				 identity, sqlite3_errmsg(s->db));
	}
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return log_errno(LOG_ERR, sqlite_to_errno(rc), "store: recording iap %s: %s",
				 identity, sqlite3_errmsg(s->db));
	if (!id)
		id = sqlite3_last_insert_rowid(s->db);
	if (id <= 0 || id > (sqlite3_int64)UINT32_MAX)
		return log_errno(LOG_ERR, -ERANGE, "store: iap id %lld out of range", (long long)id);
	*ret_id = (unsigned int)id;
	return 0;
}
