/* SQLite store: open, schema versions and their checks, IAP ids, commits
 * and syncs (store_impl.h says where the rest is). */
#include "store/store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"


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

	/* 3 -> 4: the SIP edge (docs/edge.md): who may register a profile
	 * locally, and the local registrations, kept across restarts. */
	"ALTER TABLE profile ADD COLUMN local_users TEXT NOT NULL DEFAULT '[]';"
	"CREATE TABLE local_registration ("
	"  profile_id INTEGER NOT NULL REFERENCES profile (id) ON DELETE CASCADE,"
	"  contact TEXT NOT NULL,"
	"  call_id TEXT NOT NULL,"
	"  cseq INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  user_agent TEXT,"
	"  source TEXT NOT NULL,"
	"  PRIMARY KEY (profile_id, contact)"
	") WITHOUT ROWID;",

	/* 4 -> 5: the edge's local password (digest) for applications the
	 * socket table cannot name (docs/edge.md). */
	"ALTER TABLE profile ADD COLUMN local_password TEXT;",

	/* 5 -> 6: TLS, a CA file per server (docs/sip.md, "TLS"). */
	"ALTER TABLE profile_server ADD COLUMN ca_file TEXT;",
};

_Static_assert(ARRAY_SIZE(migrations) == STORE_SCHEMA_VERSION,
	       "one migration step per schema version");
_Static_assert(STORE_APPLICATION_ID == 1634497124, "application_id literal in migrations");

/* Tables each schema version must have (store_validate_file()). */
static const char *const tables_v1[] = { "iap", NULL };
static const char *const tables_v2[] = {
	"iap", "profile", "profile_server", "profile_param", "registered_contact", NULL,
};
static const char *const tables_v4[] = {
	"iap", "profile", "profile_server", "profile_param", "registered_contact",
	"local_registration", NULL,
};
static const char *const *const schema_tables[STORE_SCHEMA_VERSION + 1] = {
	[1] = tables_v1, [2] = tables_v2, [3] = tables_v2, [4] = tables_v4, [5] = tables_v4,
	[6] = tables_v4,
};

int store_sqlite_errno(int rc)
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
int store_check_identity(sqlite3 *db, const char *path, int *ret_version,
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
		return store_sqlite_errno(rc);
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
int store_check_tables(sqlite3 *db, const char *path, int version, char *errbuf,
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

int store_check_integrity(sqlite3 *db, const char *path, const char *pragma,
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
			return store_sqlite_errno(rc);
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
	return store_sqlite_errno(rc);
}

void store_close_db(struct store *s)
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
int store_open_db(struct store *s, char *errbuf, size_t errsize)
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
		r = store_sqlite_errno(rc);
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 1000);

	r = store_check_identity(s->db, s->path, &version, errbuf, errsize);
	if (r < 0)
		goto fail;
	/* quick_check is O(N) but skips index-content checks; enough to
	 * refuse a damaged file at start without a long stall. */
	if (version >= 0) {
		r = store_check_integrity(s->db, s->path, "PRAGMA quick_check", errbuf, errsize);
		if (r == 0)
			r = store_check_tables(s->db, s->path, version, errbuf, errsize);
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
		r = store_sqlite_errno(rc);
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
	store_close_db(s);
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
	r = store_open_db(s, errbuf, errsize);
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
	store_close_db(s);
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
		return log_errno(LOG_ERR, store_sqlite_errno(rc), "store: looking up iap %s: %s",
				 identity, sqlite3_errmsg(s->db));
	}
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return log_errno(LOG_ERR, store_sqlite_errno(rc), "store: recording iap %s: %s",
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

int store_db_error(struct store *s, int rc, const char *what)
{
	return log_errno(LOG_ERR, store_sqlite_errno(rc), "store: %s: %s", what,
			 sqlite3_errmsg(s->db));
}

int store_prepare(struct store *s, const char *sql, sqlite3_stmt **ret)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, ret, NULL);

	return rc == SQLITE_OK ? 0 : store_db_error(s, rc, "preparing a statement");
}

/* Step a statement that returns no rows, then reset it. */
int store_step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_db_error(s, rc, what);
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
		return store_db_error(s, rc, "writing the store to disk");
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
int store_durable(struct store *s, int r)
{
	int r2;

	if (r < 0)
		return r;
	r2 = store_sync(s);
	return r2 < 0 ? r2 : r;
}

int store_tx_begin(struct store *s)
{
	int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : store_db_error(s, rc, "starting a transaction");
}

/* Commit when @r is 0, roll back otherwise; returns the outcome. */
int store_tx_end(struct store *s, int r)
{
	int rc;

	if (r == 0) {
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			return 0;
		r = store_db_error(s, rc, "committing");
	}
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

void store_bind_opt_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

void store_bind_opt_id(sqlite3_stmt *st, int i, unsigned int id)
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

