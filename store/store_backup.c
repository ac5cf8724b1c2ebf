/* Backup (in slices, secrets scrubbed unless asked for), restore from a
 * private copy, and the checks of a file before it is used. */
#include "store/store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"

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
		return store_sqlite_errno(rc);
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
		r = store_sqlite_errno(rc) ?: -EIO;
	} else {
		rc = sqlite3_exec(d, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			snprintf(errbuf, errsize, "%s: %s", dest, sqlite3_errmsg(d));
			r = store_sqlite_errno(rc);
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
				  "UPDATE profile SET local_password = NULL;"
				  "VACUUM;", NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(errbuf, errsize, "cannot remove the secrets from the copy: %s",
			 msg ? msg : d ? sqlite3_errmsg(d) : sqlite3_errstr(rc));
		r = store_sqlite_errno(rc) ?: -EIO;
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
		return store_sqlite_errno(rc) ?: -EIO;
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
		r = store_sqlite_errno(rc) ?: -EIO;
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
		return store_sqlite_errno(rc);
	}
	r = store_check_identity(db, path, &version, errbuf, errsize);
	if (r == 0 && version < 1) {
		snprintf(errbuf, errsize, "%s is empty, not an alrd database", path);
		r = -EBADMSG;
	}
	if (r == 0)
		r = store_check_integrity(db, path, "PRAGMA integrity_check", errbuf, errsize);
	if (r == 0)
		r = store_check_tables(db, path, version, errbuf, errsize);
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
		r = store_sqlite_errno(rc);
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
	store_close_db(s);
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
	r = store_open_db(s, errbuf, errsize);
	if (r < 0) {
		/* should not happen: the copy opened a moment ago */
		log_err("store: the restored %s does not open (%s); putting back %s",
			s->path, errbuf, before);
		if (rename(before, s->path) == 0 && store_open_db(s, errbuf, errsize) == 0)
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

		if (store_open_db(s, err2, sizeof(err2)) < 0)
			log_err("store: cannot reopen %s: %s", s->path, err2);
	}
fail_tmp:
	remove_db_files(tmp);
	return r;
}

