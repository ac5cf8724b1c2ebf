/* SQLite store: schema versions, IAP ids, profiles, contacts, backup. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/profile.h"
#include "base/util.h"

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

/*
 * Schema steps: migrations[v] takes a database from version v to v + 1.
 * Each runs inside the same transaction as the user_version bump.  A step,
 * once released, never changes: a new column or table is a new step.
 */
static const char *const migrations[] = {
	/* 0 -> 1: stable IAP ids */
	"CREATE TABLE iap ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  identity TEXT NOT NULL UNIQUE,"
	"  name TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  first_seen INTEGER NOT NULL,"
	"  last_seen INTEGER NOT NULL"
	");",

	/* 1 -> 2: profiles, their servers and extension parameters, and the
	 * contacts alrd registered.  Enums are stored by name; lists of
	 * strings as JSON arrays in TEXT columns. */
	"CREATE TABLE profile ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  provider_name TEXT,"
	"  type_class TEXT NOT NULL,"
	"  type_name TEXT NOT NULL,"
	"  aor TEXT,"
	"  registered_aors TEXT NOT NULL DEFAULT '[]',"
	"  registered_contact TEXT,"
	"  snap_id INTEGER,"
	"  iap_id INTEGER,"
	"  bearer TEXT NOT NULL,"
	"  proxy_from_dhcp INTEGER NOT NULL,"
	"  auto_register INTEGER NOT NULL,"
	"  is_default INTEGER NOT NULL,"
	"  private_identity TEXT,"
	"  security_negotiation INTEGER NOT NULL,"
	"  sigcomp INTEGER NOT NULL,"
	"  contact_params TEXT NOT NULL DEFAULT '[]',"
	"  extra_headers TEXT NOT NULL DEFAULT '[]',"
	"  expires INTEGER NOT NULL,"
	"  dscp INTEGER NOT NULL,"
	"  locked INTEGER NOT NULL,"
	"  CHECK (snap_id IS NULL OR iap_id IS NULL)"
	");"
	/* at most one default profile */
	"CREATE UNIQUE INDEX profile_one_default ON profile (is_default) WHERE is_default;"
	"CREATE TABLE profile_server ("
	"  profile_id INTEGER NOT NULL REFERENCES profile (id) ON DELETE CASCADE,"
	"  role TEXT NOT NULL CHECK (role IN ('registrar', 'outbound_proxy')),"
	"  uri TEXT,"
	"  transport TEXT NOT NULL,"
	"  digest_user TEXT,"
	"  realm TEXT,"
	"  password TEXT,"
	"  PRIMARY KEY (profile_id, role)"
	") WITHOUT ROWID;"
	"CREATE TABLE profile_param ("
	"  profile_id INTEGER NOT NULL REFERENCES profile (id) ON DELETE CASCADE,"
	"  scope TEXT NOT NULL CHECK (scope IN ('profile', 'registrar', 'outbound_proxy')),"
	"  position INTEGER NOT NULL,"
	"  name TEXT,"
	"  num_key INTEGER,"
	"  type TEXT NOT NULL CHECK (type IN ('int', 'bool', 'string', 'string-list')),"
	"  value_int INTEGER,"
	"  value_text TEXT,"
	"  PRIMARY KEY (profile_id, scope, position),"
	"  UNIQUE (profile_id, scope, name),"
	"  UNIQUE (profile_id, scope, num_key),"
	"  CHECK ((name IS NULL) <> (num_key IS NULL))"
	") WITHOUT ROWID;"
	"CREATE TABLE registered_contact ("
	"  profile_id INTEGER NOT NULL REFERENCES profile (id) ON DELETE CASCADE,"
	"  iap_id INTEGER NOT NULL REFERENCES iap (id),"
	"  contact TEXT NOT NULL,"
	"  call_id TEXT NOT NULL,"
	"  cseq INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  PRIMARY KEY (profile_id, iap_id, contact)"
	") WITHOUT ROWID;"
	"PRAGMA application_id = 1634497124;",          /* STORE_APPLICATION_ID */

	/* 2 -> 3: HA1 instead of the password where the realm is known
	 * (docs/security.md); the daemon converts the passwords at start. */
	"ALTER TABLE profile_server ADD COLUMN ha1 TEXT;",
};

_Static_assert(ARRAY_SIZE(migrations) == STORE_SCHEMA_VERSION,
	       "one migration step per schema version");
_Static_assert(STORE_APPLICATION_ID == 1634497124, "application_id literal in migrations");

/* Tables each schema version must have (store_validate_file()). */
static const char *const tables_v1[] = { "iap", NULL };
static const char *const tables_v2[] = {
	"iap", "profile", "profile_server", "profile_param", "registered_contact", NULL,
};
static const char *const *const schema_tables[STORE_SCHEMA_VERSION + 1] = {
	[1] = tables_v1, [2] = tables_v2, [3] = tables_v2,
};

static int sqlite_to_errno(int rc)
{
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return -ENOENT;
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

const char *store_path(const struct store *s)
{
	return s->path;
}

static int pragma_int(sqlite3 *db, const char *pragma, int *ret)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, pragma, -1, &st, NULL);

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

/* Number of schema objects, to tell an empty file from someone else's. */
static int count_objects(sqlite3 *db, int *ret)
{
	return pragma_int(db, "SELECT count(*) FROM sqlite_schema", ret);
}

static bool has_table(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;
	bool found = false;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

static const char *untouched = "alrd leaves it untouched: move it away or restore a backup";

/*
 * Is this ours, and which version?  Only reads.  *ret_version is -1 for an
 * empty file (a new database).
 */
static int check_identity(sqlite3 *db, const char *path, int *ret_version,
			  char *errbuf, size_t errsize)
{
	int app = 0, version = 0, objects = 0, rc;

	rc = pragma_int(db, "PRAGMA application_id", &app);
	if (rc == SQLITE_OK)
		rc = pragma_int(db, "PRAGMA user_version", &version);
	if (rc == SQLITE_OK)
		rc = count_objects(db, &objects);
	if (rc != SQLITE_OK) {
		if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
			snprintf(errbuf, errsize, "%s is not a valid alrd database (%s); %s",
				 path, sqlite3_errmsg(db), untouched);
		else
			snprintf(errbuf, errsize, "%s: %s", path, sqlite3_errmsg(db));
		return sqlite_to_errno(rc);
	}
	if (app != 0 && app != STORE_APPLICATION_ID) {
		snprintf(errbuf, errsize, "%s is an SQLite database of another program "
			 "(application id %#x), not alrd's; %s", path, (unsigned)app, untouched);
		return -EBADMSG;
	}
	/* No alrd writes a negative version; taking it for 0 (or for "new")
	 * would run the migrations over someone's tables. */
	if (version < 0) {
		snprintf(errbuf, errsize,
			 "%s has schema version %d, which no alrd writes; it is damaged or not "
			 "alrd's; %s", path, version, untouched);
		return -EBADMSG;
	}
	if (version > STORE_SCHEMA_VERSION) {
		snprintf(errbuf, errsize,
			 "%s has schema version %d, newer than this alrd understands (%d); "
			 "use a newer alrd or restore a backup",
			 path, version, STORE_SCHEMA_VERSION);
		return -EPROTO;
	}
	if (version == 0 && objects > 0) {
		snprintf(errbuf, errsize, "%s is an SQLite database but not alrd's "
			 "(no schema version); %s", path, untouched);
		return -EBADMSG;
	}
	*ret_version = objects == 0 && version == 0 ? -1 : version;
	return 0;
}

/* The tables of schema @version are there: it is alrd's, and complete. */
static int check_tables(sqlite3 *db, const char *path, int version, char *errbuf,
			size_t errsize)
{
	if (version < 1 || version > STORE_SCHEMA_VERSION)
		return 0;
	for (const char *const *t = schema_tables[version]; *t; t++)
		if (!has_table(db, *t)) {
			snprintf(errbuf, errsize, "%s (schema %d) has no table %s; it is not a "
				 "complete alrd database; %s", path, version, *t, untouched);
			return -EBADMSG;
		}
	return 0;
}

static int check_integrity(sqlite3 *db, const char *path, const char *pragma,
			   char *errbuf, size_t errsize)
{
	sqlite3_stmt *st;
	int rc;
	bool ok = false;

	rc = sqlite3_prepare_v2(db, pragma, -1, &st, NULL);
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
		snprintf(errbuf, errsize, "%s is damaged (%s); %s", path,
			 rc != SQLITE_OK ? sqlite3_errmsg(db) : "integrity check failed",
			 untouched);
		return -EBADMSG;
	}
	return 0;
}

static int migrate(struct store *s, int version, char *errbuf, size_t errsize)
{
	char sql[64];
	int rc;

	if (version == STORE_SCHEMA_VERSION)
		return 0;
	rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	for (int v = version; v < STORE_SCHEMA_VERSION; v++) {
		rc = sqlite3_exec(s->db, migrations[v], NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			snprintf(errbuf, errsize, "%s: migrating from schema %d to %d: %s", s->path,
				 v, v + 1, sqlite3_errmsg(s->db));
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			return sqlite_to_errno(rc);
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

static void close_db(struct store *s)
{
	sqlite3_finalize(s->iap_select);
	sqlite3_finalize(s->iap_insert);
	sqlite3_finalize(s->iap_touch);
	sqlite3_finalize(s->contact_upsert);
	sqlite3_finalize(s->contact_delete);
	s->iap_select = s->iap_insert = s->iap_touch = NULL;
	s->contact_upsert = s->contact_delete = NULL;
	sqlite3_close(s->db);
	s->db = NULL;
}

/*
 * Open s->path.  Everything that could refuse the file (not SQLite, not
 * ours, newer, damaged) runs before the first write, so that a refused
 * file is left as it was.
 */
static int open_db(struct store *s, char *errbuf, size_t errsize)
{
	struct stat st;
	int version, rc, r, fd;

	/* Created here, not by SQLite, so that it is 0600 from the start
	 * whatever the umask: it holds passwords.  SQLite gives the -wal and
	 * -shm files the database's mode. */
	fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	else if (errno != EEXIST) {
		r = -errno;
		snprintf(errbuf, errsize, "cannot create %s: %s", s->path, strerror(-r));
		return r;
	} else if (stat(s->path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) {
		/* SQLite takes an empty file for an empty database, and alrd
		 * would start with no profiles as if this were its first run.
		 * But alrd did not just make it: something truncated the
		 * store (a full disk, a bad copy, "> alrd.db").  Never replace
		 * the profiles silently: whoever knows says so by removing it. */
		snprintf(errbuf, errsize, "%s is empty (0 bytes), but alrd did not just create "
			 "it: the store may have been truncated; alrd leaves it untouched. "
			 "Restore a backup over it, or remove it to start with no profiles",
			 s->path);
		return -EBADMSG;
	}

	rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(errbuf, errsize, "cannot open %s: %s", s->path,
			 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		r = sqlite_to_errno(rc);
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 1000);

	r = check_identity(s->db, s->path, &version, errbuf, errsize);
	if (r < 0)
		goto fail;
	/* quick_check is O(N) but skips index-content checks; enough to
	 * refuse a damaged file at start without a long stall. */
	if (version >= 0) {
		r = check_integrity(s->db, s->path, "PRAGMA quick_check", errbuf, errsize);
		if (r == 0)
			r = check_tables(s->db, s->path, version, errbuf, errsize);
		if (r < 0)
			goto fail;
	}

	/* WAL keeps readers (backup) off the writer's back.  Durability
	 * without an fsync on the hot path (docs/profiles.md, "Durability"):
	 * synchronous=NORMAL, so a commit is in the kernel's hands (it
	 * survives a crash of alrd) without waiting for the disk, and no
	 * automatic checkpoint, which would fsync inside whichever commit
	 * crossed the threshold, a netlink or SIP callback as likely as not.
	 * store_sync() checkpoints (WAL synced, then the database): profile
	 * changes call it before they return, the daemon from an idle
	 * watcher after the IAP ids and contacts of a loop turn.
	 * secure_delete: a password replaced or sealed (alr/secret.h) is
	 * overwritten with zeros in the file, not left in a free page. */
	rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			  "PRAGMA wal_autocheckpoint=0; PRAGMA foreign_keys=ON;"
			  "PRAGMA secure_delete=ON;", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		snprintf(errbuf, errsize, "%s: %s", s->path, sqlite3_errmsg(s->db));
		r = sqlite_to_errno(rc);
		goto fail;
	}
	r = migrate(s, version < 0 ? 0 : version, errbuf, errsize);
	if (r < 0)
		goto fail;

	/* A database from before profiles may have been created with the
	 * umask's mode. */
	if (stat(s->path, &st) == 0 && (st.st_mode & 077)) {
		if (chmod(s->path, 0600) == 0)
			log_notice("store: %s was mode %04o; now 0600 (it holds passwords)",
				   s->path, (unsigned)(st.st_mode & 07777));
		else
			log_warning("store: %s is mode %04o and cannot be made 0600: %m",
				    s->path, (unsigned)(st.st_mode & 07777));
	}

	if (sqlite3_prepare_v2(s->db, "SELECT id FROM iap WHERE identity = ?1", -1,
			       &s->iap_select, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
			       "INSERT INTO iap (identity, name, kind, first_seen, last_seen) "
			       "VALUES (?1, ?2, ?3, ?4, ?4)", -1, &s->iap_insert, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
			       "UPDATE iap SET name = ?2, kind = ?3, last_seen = ?4 WHERE id = ?1",
			       -1, &s->iap_touch, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(s->db,
			       "INSERT INTO registered_contact (profile_id, iap_id, contact, "
			       "call_id, cseq, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
			       "ON CONFLICT (profile_id, iap_id, contact) DO UPDATE SET "
			       "call_id = excluded.call_id, cseq = excluded.cseq, "
			       "expires_at = excluded.expires_at", -1, SQLITE_PREPARE_PERSISTENT,
			       &s->contact_upsert, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(s->db,
			       "DELETE FROM registered_contact WHERE profile_id = ?1 AND "
			       "iap_id = ?2 AND contact = ?3", -1, SQLITE_PREPARE_PERSISTENT,
			       &s->contact_delete, NULL) != SQLITE_OK) {
		snprintf(errbuf, errsize, "%s: %s", s->path, sqlite3_errmsg(s->db));
		r = -EIO;
		goto fail;
	}
	/* what migrate() wrote, on disk; and a started WAL (store_sync()) */
	r = store_sync(s);
	if (r < 0) {
		snprintf(errbuf, errsize, "%s: %s", s->path, sqlite3_errmsg(s->db));
		goto fail;
	}
	return 0;
fail:
	close_db(s);
	return r;
}

int store_open(const char *path, struct store **ret, char *errbuf, size_t errsize)
{
	struct store *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->path = strdup(path);
	if (!s->path) {
		free(s);
		return -ENOMEM;
	}
	r = open_db(s, errbuf, errsize);
	if (r < 0) {
		store_close(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct store *store_close(struct store *s)
{
	if (!s)
		return NULL;
	close_db(s);
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
	s->unsynced++;
	if (!id)
		id = sqlite3_last_insert_rowid(s->db);
	if (id <= 0 || id > (sqlite3_int64)UINT32_MAX)
		return log_errno(LOG_ERR, -ERANGE, "store: iap id %lld out of range", (long long)id);
	*ret_id = (unsigned int)id;
	return 0;
}

/* ---- statements and transactions ------------------------------------- */

static int db_error(struct store *s, int rc, const char *what)
{
	return log_errno(LOG_ERR, sqlite_to_errno(rc), "store: %s: %s", what,
			 sqlite3_errmsg(s->db));
}

static int prepare(struct store *s, const char *sql, sqlite3_stmt **ret)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, ret, NULL);

	return rc == SQLITE_OK ? 0 : db_error(s, rc, "preparing a statement");
}

/* Step a statement that returns no rows, then reset it. */
static int step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_error(s, rc, what);
	return 0;
}

bool store_unsynced(const struct store *s)
{
	return s->unsynced != 0;
}

int store_sync(struct store *s)
{
	int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

	char sql[64];

	/* BUSY: a reader (a backup) holds frames; they are synced with
	 * the WAL all the same, and the next sync checkpoints them. */
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		return db_error(s, rc, "writing the store to disk");
	/* The first commit into a checkpointed WAL starts it again and
	 * syncs its new header (SQLite does that whatever `synchronous`
	 * says): make that commit here, a no-op one, so that the next
	 * netlink or SIP callback appends to a started WAL without a sync. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
	sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	s->unsynced = 0;
	return 0;
}

/* A profile change is on the disk before it is acknowledged. */
static int durable(struct store *s, int r)
{
	int r2;

	if (r < 0)
		return r;
	r2 = store_sync(s);
	return r2 < 0 ? r2 : r;
}

static int tx_begin(struct store *s)
{
	int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : db_error(s, rc, "starting a transaction");
}

/* Commit when @r is 0, roll back otherwise; returns the outcome. */
static int tx_end(struct store *s, int r)
{
	int rc;

	if (r == 0) {
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			return 0;
		r = db_error(s, rc, "committing");
	}
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static void bind_opt_id(sqlite3_stmt *st, int i, unsigned int id)
{
	if (id)
		sqlite3_bind_int64(st, i, id);
	else
		sqlite3_bind_null(st, i);
}

/*
 * List columns hold a JSON array of strings, written and read by SQLite's
 * own JSON functions (json1, built in since 3.38): json_array() writes
 * ["a","b"] as json-c did before, json_each() reads it back.
 */

/* @sv as a JSON array (malloc'ed); NULL on ENOMEM or a SQLite failure
 * (logged). */
static char *strv_to_text(struct store *s, const struct profile_strv *sv)
{
	size_t size = sizeof("SELECT json_array()") + 2 * sv->n;
	char *sql = malloc(size), *text = NULL;
	sqlite3_stmt *st = NULL;
	size_t len;
	int rc;

	if (!sql)
		return NULL;
	len = (size_t)snprintf(sql, size, "SELECT json_array(");
	for (size_t i = 0; i < sv->n; i++)
		len += (size_t)snprintf(sql + len, size - len, i ? ",?" : "?");
	snprintf(sql + len, size - len, ")");
	if (prepare(s, sql, &st) == 0) {
		for (size_t i = 0; i < sv->n; i++)
			sqlite3_bind_text(st, (int)i + 1, sv->v[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
			text = strdup((const char *)sqlite3_column_text(st, 0));
		else
			db_error(s, rc, "writing a list as JSON");
	}
	sqlite3_finalize(st);
	free(sql);
	return text;
}

/* Append the strings of the JSON array @text (NULL: none) to @ret.
 * -EBADMSG when it is not an array of strings. */
static int text_to_strv(struct store *s, const char *text, struct profile_strv *ret)
{
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_DONE, r;

	if (!text)
		return 0;
	r = prepare(s, "SELECT json_type(?1) = 'array', type, value "
		    "FROM (SELECT 1) LEFT JOIN json_each(?1)", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 1);

		if (!sqlite3_column_int(st, 0))
			r = -EBADMSG;
		else if (!type)
			break;          /* [] */
		else if (strcmp(type, "text") != 0)
			r = -EBADMSG;
		else
			r = profile_strv_push(ret, (const char *)sqlite3_column_text(st, 2));
	}
	/* malformed JSON is an error of the statement */
	if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = -EBADMSG;
	sqlite3_finalize(st);
	return r;
}

static int bind_strv(struct store *s, sqlite3_stmt *st, int i, const struct profile_strv *sv)
{
	char *text = strv_to_text(s, sv);

	if (!text)
		return -ENOMEM;
	sqlite3_bind_text(st, i, text, -1, free);
	return 0;
}

/* ---- profiles: write ------------------------------------------------- */

#define PROFILE_COLUMNS \
	"provider_name, type_class, type_name, aor, registered_aors, registered_contact, " \
	"snap_id, iap_id, bearer, proxy_from_dhcp, auto_register, is_default, " \
	"private_identity, security_negotiation, sigcomp, contact_params, extra_headers, " \
	"expires, dscp, locked"

static int bind_profile(struct store *s, sqlite3_stmt *st, const struct profile *p)
{
	bind_opt_text(st, 1, p->provider_name);
	sqlite3_bind_text(st, 2, profile_class_to_str(p->type_class), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, p->type_name, -1, SQLITE_TRANSIENT);
	bind_opt_text(st, 4, p->aor);
	if (bind_strv(s, st, 5, &p->registered_aors) < 0)
		return -ENOMEM;
	bind_opt_text(st, 6, p->registered_contact);
	bind_opt_id(st, 7, p->snap_id);
	bind_opt_id(st, 8, p->iap_id);
	sqlite3_bind_text(st, 9, profile_bearer_to_str(p->bearer), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 10, p->proxy_from_dhcp);
	sqlite3_bind_int(st, 11, p->auto_register);
	sqlite3_bind_int(st, 12, p->is_default);
	bind_opt_text(st, 13, p->private_identity);
	sqlite3_bind_int(st, 14, p->security_negotiation);
	sqlite3_bind_int(st, 15, p->sigcomp);
	if (bind_strv(s, st, 16, &p->contact_params) < 0 ||
	    bind_strv(s, st, 17, &p->extra_headers) < 0)
		return -ENOMEM;
	sqlite3_bind_int64(st, 18, p->expires);
	sqlite3_bind_int64(st, 19, p->dscp);
	sqlite3_bind_int(st, 20, p->locked);
	return 0;
}

static int write_params(struct store *s, sqlite3_stmt *st, unsigned int id, const char *scope,
			const struct profile_params *ps)
{
	int r;

	for (size_t i = 0; i < ps->n; i++) {
		const struct profile_param *pp = &ps->v[i];

		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)i);
		if (pp->name)
			sqlite3_bind_text(st, 4, pp->name, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(st, 5, pp->key);
		sqlite3_bind_text(st, 6, profile_param_type_to_str(pp->type), -1, SQLITE_STATIC);
		switch (pp->type) {
		case PROFILE_PARAM_INT:
			sqlite3_bind_int64(st, 7, pp->value.i);
			break;
		case PROFILE_PARAM_BOOL:
			sqlite3_bind_int64(st, 7, pp->value.b);
			break;
		case PROFILE_PARAM_STRING:
			bind_opt_text(st, 8, pp->value.s);
			break;
		case PROFILE_PARAM_STRING_LIST:
			if (bind_strv(s, st, 8, &pp->value.list) < 0)
				return -ENOMEM;
			break;
		case _PROFILE_PARAM_TYPE_MAX:
			return -EINVAL;
		}
		r = step_done(s, st, "writing a profile parameter");
		if (r < 0)
			return r;
	}
	return 0;
}

static int write_children(struct store *s, const struct profile *p)
{
	static const char *const roles[2] = { "registrar", "outbound_proxy" };
	const struct profile_server *servers[2] = { &p->registrar, &p->outbound_proxy };
	sqlite3_stmt *del_s = NULL, *del_p = NULL, *ins_s = NULL, *ins_p = NULL;
	int r;

	r = prepare(s, "DELETE FROM profile_server WHERE profile_id = ?1", &del_s);
	if (r == 0)
		r = prepare(s, "DELETE FROM profile_param WHERE profile_id = ?1", &del_p);
	if (r == 0)
		r = prepare(s, "INSERT INTO profile_server (profile_id, role, uri, transport, "
			    "digest_user, realm, password, ha1) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
			    &ins_s);
	if (r == 0)
		r = prepare(s, "INSERT INTO profile_param (profile_id, scope, position, name, "
			    "num_key, type, value_int, value_text) "
			    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &ins_p);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(del_s, 1, p->id);
	sqlite3_bind_int64(del_p, 1, p->id);
	r = step_done(s, del_s, "replacing profile servers");
	if (r == 0)
		r = step_done(s, del_p, "replacing profile parameters");
	for (int i = 0; i < 2 && r == 0; i++) {
		const struct profile_server *sv = servers[i];

		sqlite3_bind_int64(ins_s, 1, p->id);
		sqlite3_bind_text(ins_s, 2, roles[i], -1, SQLITE_STATIC);
		bind_opt_text(ins_s, 3, sv->uri);
		sqlite3_bind_text(ins_s, 4, profile_transport_to_str(sv->transport), -1,
				  SQLITE_STATIC);
		bind_opt_text(ins_s, 5, sv->digest_user);
		bind_opt_text(ins_s, 6, sv->realm);
		/* SQLITE_STATIC: no copy of the password outside SQLite's pages */
		if (sv->password)
			sqlite3_bind_text(ins_s, 7, sv->password, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(ins_s, 7);
		if (sv->ha1)
			sqlite3_bind_text(ins_s, 8, sv->ha1, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(ins_s, 8);
		r = step_done(s, ins_s, "writing a profile server");
		sqlite3_clear_bindings(ins_s);
		if (r == 0)
			r = write_params(s, ins_p, p->id, roles[i], &sv->params);
	}
	if (r == 0)
		r = write_params(s, ins_p, p->id, "profile", &p->params);
out:
	sqlite3_finalize(del_s);
	sqlite3_finalize(del_p);
	sqlite3_finalize(ins_s);
	sqlite3_finalize(ins_p);
	return r;
}

/* Clear the default flag on every profile but @keep (0: all). */
static int clear_default(struct store *s, unsigned int keep)
{
	sqlite3_stmt *st;
	int r = prepare(s, "UPDATE profile SET is_default = 0 WHERE is_default AND id <> ?1", &st);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, keep);
	r = step_done(s, st, "clearing the default profile");
	sqlite3_finalize(st);
	return r;
}

int store_profile_insert(struct store *s, struct profile *p)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 id;
	int r;

	r = tx_begin(s);
	if (r < 0)
		return r;
	if (p->is_default)
		r = clear_default(s, 0);
	if (r == 0)
		r = prepare(s, "INSERT INTO profile (" PROFILE_COLUMNS ") VALUES (?1, ?2, ?3, ?4, "
			    "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, "
			    "?20)", &st);
	if (r == 0)
		r = bind_profile(s, st, p);
	if (r == 0)
		r = step_done(s, st, "inserting a profile");
	sqlite3_finalize(st);
	if (r < 0)
		return tx_end(s, r);
	id = sqlite3_last_insert_rowid(s->db);
	if (id <= 0 || id > (sqlite3_int64)UINT32_MAX)
		return tx_end(s, log_errno(LOG_ERR, -ERANGE, "store: profile id %lld out of range",
					   (long long)id));
	p->id = (unsigned int)id;
	r = durable(s, tx_end(s, write_children(s, p)));
	if (r < 0)
		p->id = 0;
	return r;
}

int store_profile_update(struct store *s, const struct profile *p)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (!p->id)
		return -ENOENT;
	r = tx_begin(s);
	if (r < 0)
		return r;
	if (p->is_default)
		r = clear_default(s, p->id);
	if (r == 0)
		r = prepare(s, "UPDATE profile SET (" PROFILE_COLUMNS ") = (?1, ?2, ?3, ?4, ?5, "
			    "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20) "
			    "WHERE id = ?21", &st);
	if (r == 0)
		r = bind_profile(s, st, p);
	if (r == 0) {
		sqlite3_bind_int64(st, 21, p->id);
		r = step_done(s, st, "updating a profile");
	}
	sqlite3_finalize(st);
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = -ENOENT;
	if (r == 0)
		r = write_children(s, p);
	return durable(s, tx_end(s, r));
}

int store_profile_delete(struct store *s, unsigned int id)
{
	sqlite3_stmt *st;
	int r = prepare(s, "DELETE FROM profile WHERE id = ?1", &st);

	if (r < 0)
		return r;
	/* one statement: its own transaction; the cascade deletes servers,
	 * parameters and contacts with it */
	sqlite3_bind_int64(st, 1, id);
	r = step_done(s, st, "deleting a profile");
	sqlite3_finalize(st);
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = -ENOENT;
	return durable(s, r);
}

int store_set_default_profile(struct store *s, unsigned int id)
{
	sqlite3_stmt *st = NULL;
	int r = tx_begin(s);

	if (r < 0)
		return r;
	r = clear_default(s, id);
	if (r == 0 && id) {
		r = prepare(s, "UPDATE profile SET is_default = 1 WHERE id = ?1", &st);
		if (r == 0) {
			sqlite3_bind_int64(st, 1, id);
			r = step_done(s, st, "setting the default profile");
		}
		sqlite3_finalize(st);
		if (r == 0 && sqlite3_changes(s->db) == 0)
			r = -ENOENT;
	}
	return durable(s, tx_end(s, r));
}

/* ---- profiles: read -------------------------------------------------- */

struct loader {
	struct store *s;
	sqlite3_stmt *servers;
	sqlite3_stmt *params;
};

static int col_string(sqlite3_stmt *st, int col, char **slot, bool secret)
{
	const char *t = (const char *)sqlite3_column_text(st, col);

	return profile_set_string(slot, t, secret);
}

static int bad_row(struct store *s, unsigned int id, const char *what, const char *value)
{
	return log_errno(LOG_ERR, -EBADMSG, "store: %s: profile %u has a bad %s '%s'",
			 s->path, id, what, value ? value : "(null)");
}

static int load_params(struct loader *l, struct profile *p)
{
	sqlite3_stmt *st = l->params;
	int rc = SQLITE_DONE, r = 0;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, p->id);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *scope = (const char *)sqlite3_column_text(st, 0);
		const char *type = (const char *)sqlite3_column_text(st, 3);
		struct profile_params *ps;
		struct profile_param *pp;
		int t = profile_param_type_from_str(type);

		if (scope && strcmp(scope, "profile") == 0)
			ps = &p->params;
		else if (scope && strcmp(scope, "registrar") == 0)
			ps = &p->registrar.params;
		else if (scope && strcmp(scope, "outbound_proxy") == 0)
			ps = &p->outbound_proxy.params;
		else {
			r = bad_row(l->s, p->id, "parameter scope", scope);
			break;
		}
		if (t < 0) {
			r = bad_row(l->s, p->id, "parameter type", type);
			break;
		}
		pp = profile_params_add(ps);
		if (!pp) {
			r = -ENOMEM;
			break;
		}
		pp->type = (enum profile_param_type)t;
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			r = col_string(st, 1, &pp->name, false);
		else
			pp->key = (uint32_t)sqlite3_column_int64(st, 2);
		switch (pp->type) {
		case PROFILE_PARAM_INT:
			pp->value.i = sqlite3_column_int64(st, 4);
			break;
		case PROFILE_PARAM_BOOL:
			pp->value.b = sqlite3_column_int64(st, 4) != 0;
			break;
		case PROFILE_PARAM_STRING:
			if (r == 0)
				r = col_string(st, 5, &pp->value.s, false);
			break;
		case PROFILE_PARAM_STRING_LIST:
			if (r == 0)
				r = text_to_strv(l->s, (const char *)sqlite3_column_text(st, 5),
						 &pp->value.list);
			if (r == -EBADMSG)
				r = bad_row(l->s, p->id, "string list",
					    (const char *)sqlite3_column_text(st, 5));
			break;
		case _PROFILE_PARAM_TYPE_MAX:
			break;
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_error(l->s, rc, "reading profile parameters");
	sqlite3_reset(st);
	return r;
}

static int load_servers(struct loader *l, struct profile *p)
{
	sqlite3_stmt *st = l->servers;
	int rc = SQLITE_DONE, r = 0;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, p->id);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *role = (const char *)sqlite3_column_text(st, 0);
		const char *transport = (const char *)sqlite3_column_text(st, 2);
		struct profile_server *sv;
		int t = profile_transport_from_str(transport);

		if (role && strcmp(role, "registrar") == 0)
			sv = &p->registrar;
		else if (role && strcmp(role, "outbound_proxy") == 0)
			sv = &p->outbound_proxy;
		else {
			r = bad_row(l->s, p->id, "server role", role);
			break;
		}
		if (t < 0) {
			r = bad_row(l->s, p->id, "transport", transport);
			break;
		}
		sv->transport = (enum profile_transport)t;
		if (col_string(st, 1, &sv->uri, false) < 0 ||
		    col_string(st, 3, &sv->digest_user, false) < 0 ||
		    col_string(st, 4, &sv->realm, false) < 0 ||
		    col_string(st, 5, &sv->password, true) < 0 ||
		    col_string(st, 6, &sv->ha1, true) < 0)
			r = -ENOMEM;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_error(l->s, rc, "reading profile servers");
	sqlite3_reset(st);
	return r;
}

static int profile_from_row(struct loader *l, sqlite3_stmt *st, struct profile **ret)
{
	struct profile *p = profile_new();
	const char *cls, *bearer;
	int c, b, r = 0;

	if (!p)
		return -ENOMEM;
	p->id = (unsigned int)sqlite3_column_int64(st, 0);
	cls = (const char *)sqlite3_column_text(st, 2);
	bearer = (const char *)sqlite3_column_text(st, 9);
	c = profile_class_from_str(cls);
	b = profile_bearer_from_str(bearer);
	if (c < 0)
		r = bad_row(l->s, p->id, "type class", cls);
	else if (b < 0)
		r = bad_row(l->s, p->id, "bearer", bearer);
	if (r < 0)
		goto fail;
	p->type_class = (enum profile_class)c;
	p->bearer = (enum profile_bearer)b;
	if (col_string(st, 1, &p->provider_name, false) < 0 ||
	    col_string(st, 3, &p->type_name, false) < 0 ||
	    col_string(st, 4, &p->aor, false) < 0 ||
	    col_string(st, 6, &p->registered_contact, false) < 0 ||
	    col_string(st, 13, &p->private_identity, false) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	r = text_to_strv(l->s, (const char *)sqlite3_column_text(st, 5), &p->registered_aors);
	if (r == 0)
		r = text_to_strv(l->s, (const char *)sqlite3_column_text(st, 16), &p->contact_params);
	if (r == 0)
		r = text_to_strv(l->s, (const char *)sqlite3_column_text(st, 17), &p->extra_headers);
	if (r == -EBADMSG)
		r = bad_row(l->s, p->id, "string list", "(not a JSON array of strings)");
	if (r < 0)
		goto fail;
	p->snap_id = (unsigned int)sqlite3_column_int64(st, 7);
	p->iap_id = (unsigned int)sqlite3_column_int64(st, 8);
	p->proxy_from_dhcp = sqlite3_column_int(st, 10) != 0;
	p->auto_register = sqlite3_column_int(st, 11) != 0;
	p->is_default = sqlite3_column_int(st, 12) != 0;
	p->security_negotiation = sqlite3_column_int(st, 14) != 0;
	p->sigcomp = sqlite3_column_int(st, 15) != 0;
	p->expires = (uint32_t)sqlite3_column_int64(st, 18);
	p->dscp = (unsigned int)sqlite3_column_int64(st, 19);
	p->locked = sqlite3_column_int(st, 20) != 0;
	r = load_servers(l, p);
	if (r == 0)
		r = load_params(l, p);
	if (r < 0)
		goto fail;
	*ret = p;
	return 0;
fail:
	profile_free(p);
	return r;
}

/*
 * A row must make a profile profile.create would have accepted (the
 * generic checks; plugins, SNAPs and IAPs may come and go): the registry
 * takes every loaded profile for a valid one, and a NULL or broken AOR
 * would reach the SIP stack.  An edited or damaged row is skipped with a
 * warning naming it, and left in the file as it is (docs/profiles.md,
 * "The store"): the other profiles work, nothing is lost.  The check is
 * the registry's (store_set_profile_check()): validation is engine logic.
 */
void store_set_profile_check(struct store *s, store_profile_check_fn check)
{
	s->check = check;
}

static bool row_valid(struct store *s, const struct profile *p)
{
	struct profile_error e = { "", "" };

	if (!s->check || s->check(p, &e) == 0)
		return true;
	/* A URI with a password in it comes back in the reason. */
	log_warning("store: %s: profile row %u skipped: %s: %s; the row is kept as it is: "
		    "fix or delete it with sqlite3, or restore a backup", s->path, p->id,
		    e.field, strstr(e.reason, "password") ? "carries a password" : e.reason);
	return false;
}

/* Read profiles (@id 0: all) into an array, inside one read transaction so
 * that a profile's rows come from one version. */
static int load_profiles(struct store *s, unsigned int id, struct profile ***ret,
			 size_t *ret_n)
{
	struct loader l = { .s = s };
	sqlite3_stmt *st = NULL;
	struct profile **v = NULL;
	size_t n = 0;
	int rc, r;

	rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_error(s, rc, "starting a read");
	r = prepare(s, id ? "SELECT id, " PROFILE_COLUMNS " FROM profile WHERE id = ?1"
			  : "SELECT id, " PROFILE_COLUMNS " FROM profile ORDER BY id", &st);
	if (r == 0)
		r = prepare(s, "SELECT role, uri, transport, digest_user, realm, password, ha1 "
			    "FROM profile_server WHERE profile_id = ?1", &l.servers);
	if (r == 0)
		r = prepare(s, "SELECT scope, name, num_key, type, value_int, value_text "
			    "FROM profile_param WHERE profile_id = ?1 ORDER BY scope, position",
			    &l.params);
	if (r < 0)
		goto out;
	if (id)
		sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct profile **nv = realloc(v, (n + 1) * sizeof(*nv));

		if (!nv) {
			r = -ENOMEM;
			goto out;
		}
		v = nv;
		r = profile_from_row(&l, st, &v[n]);
		if (r < 0)
			goto out;
		if (!row_valid(s, v[n])) {
			profile_free(v[n]);
			continue;
		}
		n++;
	}
	if (rc != SQLITE_DONE)
		r = db_error(s, rc, "reading profiles");
out:
	sqlite3_finalize(st);
	sqlite3_finalize(l.servers);
	sqlite3_finalize(l.params);
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			profile_free(v[i]);
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int store_profile_get(struct store *s, unsigned int id, struct profile **ret)
{
	struct profile **v = NULL;
	size_t n = 0;
	int r;

	if (!id)
		return -ENOENT;
	r = load_profiles(s, id, &v, &n);
	if (r < 0)
		return r;
	if (n == 0) {
		free(v);
		return -ENOENT;
	}
	*ret = v[0];
	free(v);
	return 0;
}

int store_profile_load_all(struct store *s, store_profile_cb cb, void *userdata)
{
	struct profile **v = NULL;
	size_t n = 0, i;
	int r;

	r = load_profiles(s, 0, &v, &n);
	if (r < 0)
		return r;
	for (i = 0; i < n && r >= 0; i++)
		r = cb(v[i], userdata);
	for (; i < n; i++)
		profile_free(v[i]);
	free(v);
	return r < 0 ? r : 0;
}

/* ---- registered contacts --------------------------------------------- */

/* Contacts change with every REGISTER: a profile that moves to another
 * IAP writes three times (CSeq, new contact, old contact gone), so 1,000
 * profiles failing over together must not cost 3,000 fsyncs in alrd's one
 * thread while the REGISTERs wait.  Like every commit they are in the
 * kernel's hands at once (a crash of alrd keeps them: DESIGN §3.8) and on
 * the disk at the next store_sync(), which the daemon runs once the loop
 * is idle; a power cut in between may lose them, and such a contact stays
 * at the registrar until it expires, as after any power cut. */
int store_contact_upsert(struct store *s, const struct store_contact *c)
{
	sqlite3_stmt *st = s->contact_upsert;
	int rc;

	sqlite3_bind_int64(st, 1, c->profile_id);
	sqlite3_bind_int64(st, 2, c->iap_id);
	sqlite3_bind_text(st, 3, c->contact, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->call_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, c->cseq);
	sqlite3_bind_int64(st, 6, c->expires_at);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return -ENOENT;         /* the caller's mistake, not the store's */
	if (rc != SQLITE_DONE)
		return db_error(s, rc, "recording a registered contact");
	s->unsynced++;
	return 0;
}

int store_contact_delete(struct store *s, unsigned int profile_id, unsigned int iap_id,
			 const char *contact)
{
	sqlite3_stmt *st = s->contact_delete;
	int r;

	sqlite3_bind_int64(st, 1, profile_id);
	sqlite3_bind_int64(st, 2, iap_id);
	sqlite3_bind_text(st, 3, contact, -1, SQLITE_STATIC);
	r = step_done(s, st, "deleting a registered contact");
	sqlite3_clear_bindings(st);
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = -ENOENT;
	if (r == 0)
		s->unsynced++;
	return r;
}

void store_contacts_free(struct store_contact *c, size_t n)
{
	if (!c)
		return;
	for (size_t i = 0; i < n; i++) {
		free(c[i].contact);
		free(c[i].call_id);
	}
	free(c);
}

int store_contact_list(struct store *s, unsigned int profile_id,
		       struct store_contact **ret, size_t *ret_n)
{
	struct store_contact *v = NULL;
	sqlite3_stmt *st;
	size_t n = 0;
	int rc, r;

	r = prepare(s, "SELECT profile_id, iap_id, contact, call_id, cseq, expires_at "
		    "FROM registered_contact WHERE ?1 = 0 OR profile_id = ?1 "
		    "ORDER BY profile_id, iap_id, contact", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, profile_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_contact *nv = realloc(v, (n + 1) * sizeof(*nv)), *c;

		if (!nv) {
			r = -ENOMEM;
			break;
		}
		v = nv;
		c = &v[n++];
		memset(c, 0, sizeof(*c));
		c->profile_id = (unsigned int)sqlite3_column_int64(st, 0);
		c->iap_id = (unsigned int)sqlite3_column_int64(st, 1);
		c->cseq = (uint32_t)sqlite3_column_int64(st, 4);
		c->expires_at = sqlite3_column_int64(st, 5);
		if (profile_set_string(&c->contact, (const char *)sqlite3_column_text(st, 2),
				       false) < 0 ||
		    profile_set_string(&c->call_id, (const char *)sqlite3_column_text(st, 3),
				       false) < 0) {
			r = -ENOMEM;
			break;
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_error(s, rc, "listing registered contacts");
	sqlite3_finalize(st);
	if (r < 0) {
		store_contacts_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* ---- backup and restore ---------------------------------------------- */

static void remove_db_files(const char *path)
{
	char side[PATH_MAX];

	unlink(path);
	snprintf(side, sizeof(side), "%s-journal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
}

static int fsync_path(const char *path, bool dir)
{
	int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0 && !dir)
		r = -errno;
	close(fd);
	return r;
}

static int fsync_parent(const char *path)
{
	char *copy = strdup(path);
	int r;

	if (!copy)
		return -ENOMEM;
	r = fsync_path(dirname(copy), true);
	free(copy);
	return r;
}

/* A 0600 temporary file named "@base.@tag-XXXXXX"; the name in @buf. */
static int make_temp(const char *base, const char *tag, char *buf, size_t size)
{
	int fd;

	if ((size_t)snprintf(buf, size, "%s.%s-XXXXXX", base, tag) >= size)
		return -ENAMETOOLONG;
	fd = mkstemp(buf);              /* mode 0600 */
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/*
 * Copy the whole of @src into the (empty) file @dest with SQLite's online
 * backup: a consistent snapshot of one read transaction, while the source
 * stays usable.  The copy is a rollback-journal database, one file.
 * Small databases: one step, so the event loop is held only briefly.
 */
static int copy_db(sqlite3 *src, const char *dest, char *errbuf, size_t errsize)
{
	sqlite3 *d = NULL;
	sqlite3_backup *b;
	int rc, r = 0;

	rc = sqlite3_open_v2(dest, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(errbuf, errsize, "cannot open %s: %s", dest,
			 d ? sqlite3_errmsg(d) : sqlite3_errstr(rc));
		sqlite3_close(d);
		return sqlite_to_errno(rc);
	}
	b = sqlite3_backup_init(d, "main", src, "main");
	if (!b) {
		snprintf(errbuf, errsize, "cannot copy into %s: %s", dest, sqlite3_errmsg(d));
		sqlite3_close(d);
		return -EIO;
	}
	rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		snprintf(errbuf, errsize, "copying into %s: %s", dest, sqlite3_errstr(rc));
		r = sqlite_to_errno(rc) ?: -EIO;
	} else {
		rc = sqlite3_exec(d, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			snprintf(errbuf, errsize, "%s: %s", dest, sqlite3_errmsg(d));
			r = sqlite_to_errno(rc);
		}
	}
	if (sqlite3_close(d) != SQLITE_OK && r == 0) {
		snprintf(errbuf, errsize, "closing %s failed", dest);
		r = -EIO;
	}
	if (r == 0) {
		r = fsync_path(dest, false);
		if (r < 0)
			snprintf(errbuf, errsize, "cannot sync %s: %s", dest, strerror(-r));
	}
	return r;
}

/* Secrets out of a copy: the password columns emptied, and the pages
 * that held them rewritten (secure_delete, VACUUM; the journal in memory,
 * so no page of the old content reaches a file). */
static int scrub_secrets(const char *path, char *errbuf, size_t errsize)
{
	sqlite3 *d = NULL;
	char *msg = NULL;
	int rc, r = 0;

	rc = sqlite3_open_v2(path, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(d, "PRAGMA journal_mode=MEMORY; PRAGMA secure_delete=ON;"
				  "UPDATE profile_server SET password = NULL, ha1 = NULL;"
				  "VACUUM;", NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(errbuf, errsize, "cannot remove the secrets from the copy: %s",
			 msg ? msg : d ? sqlite3_errmsg(d) : sqlite3_errstr(rc));
		r = sqlite_to_errno(rc) ?: -EIO;
	}
	sqlite3_free(msg);
	if (sqlite3_close(d) != SQLITE_OK && r == 0) {
		snprintf(errbuf, errsize, "closing the copy failed");
		r = -EIO;
	}
	return r;
}

/* All of @from (from its start) to the end of @to_fd. */
static int copy_fd(int from, int to_fd, off_t max, char *errbuf, size_t errsize)
{
	char buf[65536];
	off_t total = 0;
	ssize_t n;

	for (;;) {
		n = read(from, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			snprintf(errbuf, errsize, "read: %s", strerror(-r));
			return r;
		}
		if (n == 0)
			return 0;
		total += n;
		if (max > 0 && total > max) {
			snprintf(errbuf, errsize, "larger than %lld bytes, too large for an alrd "
				 "database", (long long)max);
			return -EFBIG;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(to_fd, buf + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				int r = -errno;

				snprintf(errbuf, errsize, "write: %s", strerror(-r));
				return r;
			}
			off += w;
		}
	}
}

struct store_backup {
	struct store *s;
	bool secrets;
	sqlite3 *dest;
	sqlite3_backup *b;
	char tmp[PATH_MAX];
};

void store_backup_abort(struct store_backup *sb)
{
	if (!sb)
		return;
	if (sb->b)
		sqlite3_backup_finish(sb->b);
	sqlite3_close(sb->dest);
	remove_db_files(sb->tmp);
	free(sb);
}

int store_backup_begin(struct store *s, bool secrets, struct store_backup **ret,
		       char *errbuf, size_t errsize)
{
	struct store_backup *sb = calloc(1, sizeof(*sb));
	int rc, r;

	if (!sb)
		return -ENOMEM;
	sb->s = s;
	sb->secrets = secrets;
	/* A consistent snapshot in a private file of the state directory
	 * first (SQLite writes a database by name), without secrets unless
	 * asked; then its bytes into the caller's descriptor. */
	r = make_temp(s->path, "backup", sb->tmp, sizeof(sb->tmp));
	if (r < 0) {
		snprintf(errbuf, errsize, "cannot create a file beside %s: %s", s->path,
			 strerror(-r));
		free(sb);
		return r;
	}
	rc = sqlite3_open_v2(sb->tmp, &sb->dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc == SQLITE_OK)
		sb->b = sqlite3_backup_init(sb->dest, "main", s->db, "main");
	if (!sb->b) {
		snprintf(errbuf, errsize, "cannot copy the store: %s",
			 sb->dest ? sqlite3_errmsg(sb->dest) : sqlite3_errstr(rc));
		store_backup_abort(sb);
		return -EIO;
	}
	*ret = sb;
	return 0;
}

int store_backup_step(struct store_backup *sb, int pages, char *errbuf, size_t errsize)
{
	/* Writes through alrd's own connection meanwhile reach the copy
	 * too (SQLite updates a backup from the same connection), so the
	 * snapshot is of the moment the last step ends. */
	int rc = sqlite3_backup_step(sb->b, pages);

	if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return 1;
	if (rc != SQLITE_DONE) {
		snprintf(errbuf, errsize, "copying the store: %s", sqlite3_errstr(rc));
		return sqlite_to_errno(rc) ?: -EIO;
	}
	return 0;
}

int store_backup_finish(struct store_backup *sb, int fd, char *errbuf, size_t errsize)
{
	int from, rc, r = 0;

	rc = sqlite3_backup_finish(sb->b);
	sb->b = NULL;
	if (rc != SQLITE_OK) {
		snprintf(errbuf, errsize, "copying the store: %s", sqlite3_errstr(rc));
		r = sqlite_to_errno(rc) ?: -EIO;
	}
	if (r == 0 && sqlite3_exec(sb->dest, "PRAGMA journal_mode=DELETE", NULL, NULL,
				   NULL) != SQLITE_OK) {
		snprintf(errbuf, errsize, "the copy: %s", sqlite3_errmsg(sb->dest));
		r = -EIO;
	}
	if (sqlite3_close(sb->dest) != SQLITE_OK && r == 0) {
		snprintf(errbuf, errsize, "closing the copy failed");
		r = -EIO;
	}
	sb->dest = NULL;
	/* XXX: the scrub (VACUUM) and the copy into @fd run in one go; at
	 * the default max-profiles the store is a few MB. */
	if (r == 0 && !sb->secrets)
		r = scrub_secrets(sb->tmp, errbuf, errsize);
	if (r == 0) {
		from = open(sb->tmp, O_RDONLY | O_CLOEXEC);
		if (from < 0) {
			r = -errno;
			snprintf(errbuf, errsize, "the copy: %s", strerror(-r));
		} else {
			r = copy_fd(from, fd, 0, errbuf, errsize);
			close(from);
		}
	}
	if (r == 0)
		log_info("store: backup of %s written%s", sb->s->path,
			 sb->secrets ? ", secrets included" : " without secrets");
	store_backup_abort(sb);
	return r;
}

int store_backup_fd(struct store *s, int fd, bool secrets, char *errbuf, size_t errsize)
{
	struct store_backup *sb;
	int r;

	r = store_backup_begin(s, secrets, &sb, errbuf, errsize);
	if (r < 0)
		return r;
	while ((r = store_backup_step(sb, -1, errbuf, errsize)) > 0)
		;
	if (r < 0) {
		store_backup_abort(sb);
		return r;
	}
	return store_backup_finish(sb, fd, errbuf, errsize);
}

int store_receive_fd(struct store *s, int fd, char *ret_path, size_t size, char *errbuf,
		     size_t errsize)
{
	int to, r;

	r = make_temp(s->path, "incoming", ret_path, size);
	if (r < 0) {
		snprintf(errbuf, errsize, "cannot create a file beside %s: %s", s->path,
			 strerror(-r));
		return r;
	}
	to = open(ret_path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (to < 0) {
		r = -errno;
		snprintf(errbuf, errsize, "%s: %s", ret_path, strerror(-r));
	} else {
		r = copy_fd(fd, to, STORE_MAX_FILE_SIZE, errbuf, errsize);
		close(to);
	}
	if (r < 0)
		remove_db_files(ret_path);
	return r;
}

void store_remove_copy(const char *path)
{
	remove_db_files(path);
}

int store_validate_file(const char *path, char *errbuf, size_t errsize)
{
	struct stat st;
	sqlite3 *db = NULL;
	int version = 0, rc, r;

	if (stat(path, &st) < 0) {
		r = -errno;
		snprintf(errbuf, errsize, "%s: %s", path, strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(errbuf, errsize, "%s is not a regular file", path);
		return -EBADMSG;
	}
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(errbuf, errsize, "cannot open %s: %s", path,
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return sqlite_to_errno(rc);
	}
	r = check_identity(db, path, &version, errbuf, errsize);
	if (r == 0 && version < 1) {
		snprintf(errbuf, errsize, "%s is empty, not an alrd database", path);
		r = -EBADMSG;
	}
	if (r == 0)
		r = check_integrity(db, path, "PRAGMA integrity_check", errbuf, errsize);
	if (r == 0)
		r = check_tables(db, path, version, errbuf, errsize);
	sqlite3_close(db);
	return r;
}

int store_restore(struct store *s, const char *path, char *errbuf, size_t errsize)
{
	char tmp[PATH_MAX], before[PATH_MAX], before_tmp[PATH_MAX], wal[PATH_MAX];
	struct store *check = NULL;
	sqlite3 *src = NULL;
	int rc, r;

	r = store_validate_file(path, errbuf, errsize);
	if (r < 0)
		return r;

	/* 1. a private copy in the state directory, migrated and checked */
	r = make_temp(s->path, "restore", tmp, sizeof(tmp));
	if (r < 0) {
		snprintf(errbuf, errsize, "cannot create a file beside %s: %s", s->path,
			 strerror(-r));
		return r;
	}
	rc = sqlite3_open_v2(path, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(errbuf, errsize, "cannot open %s: %s", path, sqlite3_errstr(rc));
		r = sqlite_to_errno(rc);
	} else {
		r = copy_db(src, tmp, errbuf, errsize);
	}
	sqlite3_close(src);
	if (r == 0)
		r = store_open(tmp, &check, errbuf, errsize);
	store_close(check);             /* checkpoints: the copy is one file again */
	if (r < 0)
		goto fail_tmp;

	/* 2. the current content, kept beside it */
	if ((size_t)snprintf(before, sizeof(before), "%s.before-restore", s->path) >=
	    sizeof(before)) {
		r = -ENAMETOOLONG;
		snprintf(errbuf, errsize, "%s: name too long", s->path);
		goto fail_tmp;
	}
	r = make_temp(before, "tmp", before_tmp, sizeof(before_tmp));
	if (r == 0) {
		r = copy_db(s->db, before_tmp, errbuf, errsize);
		if (r == 0 && rename(before_tmp, before) < 0) {
			r = -errno;
			snprintf(errbuf, errsize, "cannot create %s: %s", before, strerror(-r));
		}
		if (r < 0)
			remove_db_files(before_tmp);
	} else {
		snprintf(errbuf, errsize, "cannot create a file beside %s: %s", s->path,
			 strerror(-r));
	}
	if (r < 0)
		goto fail_tmp;

	/* 3. swap: close, check nobody else holds the WAL, rename over, reopen.
	 * rename() replaces atomically, so alrd.db exists at every moment. */
	close_db(s);
	snprintf(wal, sizeof(wal), "%s-wal", s->path);
	if (access(wal, F_OK) == 0) {
		/* another process has the database open: a new file under its
		 * WAL would be read with the old file's frames */
		snprintf(errbuf, errsize, "%s is open in another process (its -wal file "
			 "remains); close it and retry", s->path);
		r = -EBUSY;
		goto reopen_old;
	}
	if (rename(tmp, s->path) < 0) {
		r = -errno;
		snprintf(errbuf, errsize, "cannot replace %s: %s", s->path, strerror(-r));
		goto reopen_old;
	}
	fsync_parent(s->path);
	r = open_db(s, errbuf, errsize);
	if (r < 0) {
		/* should not happen: the copy opened a moment ago */
		log_err("store: the restored %s does not open (%s); putting back %s",
			s->path, errbuf, before);
		if (rename(before, s->path) == 0 && open_db(s, errbuf, errsize) == 0)
			return r;
		return log_errno(LOG_ERR, r, "store: cannot reopen %s; the previous content "
				 "is in %s", s->path, before);
	}
	log_notice("store: %s restored from %s; the previous content is in %s",
		   s->path, path, before);
	return 0;

reopen_old:
	{
		char err2[512];

		if (open_db(s, err2, sizeof(err2)) < 0)
			log_err("store: cannot reopen %s: %s", s->path, err2);
	}
fail_tmp:
	remove_db_files(tmp);
	return r;
}
