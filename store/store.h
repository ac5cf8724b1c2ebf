/*
 * The persistent store (SQLite, <state-dir>/alrd.db, mode 0600).
 *
 * It holds the stable IAP ids, the profiles with their servers and
 * extension parameters, and the contacts alrd believes are registered.
 * The schema is versioned with PRAGMA user_version and migrated forward in
 * one transaction at open; every change is one transaction (WAL,
 * synchronous=FULL; registered contacts synchronous=NORMAL, see
 * store_contact_upsert()).  A database that is corrupt, foreign, or newer than
 * this alrd is refused and left as it is: alrd never wipes user data.
 *
 * Passwords are stored in clear (the registrar's digest challenge needs
 * them), which is why the file, its backups and the copy kept at a restore
 * are created 0600.  docs/profiles.md, "Where passwords live".
 *
 * Functions return 0 or a negative errno; SQLite failures are logged here
 * (the caller cannot see SQLite's message), "no such profile" (-ENOENT) is
 * not.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct store;
struct profile;

#define STORE_SCHEMA_VERSION 6
/* PRAGMA application_id of alrd databases: "alrd". */
#define STORE_APPLICATION_ID 0x616c7264

/* Open (creating if needed, 0600) the database at @path.  On failure
 * returns a negative errno and fills @errbuf with a message a person can
 * act on. */
int store_open(const char *path, struct store **ret, char *errbuf, size_t errsize);
struct store *store_close(struct store *s);

/*
 * The stable id of the IAP with @identity ("if:wlan0"), assigned on first
 * sight and kept forever.  @name and @kind are recorded for people reading
 * the database.  0 or negative errno.
 */
int store_iap_id(struct store *s, const char *identity, const char *name,
		 const char *kind, unsigned int *ret_id);

/* ---- profiles -------------------------------------------------------- */

/*
 * The check a loaded profile row must pass (the generic checks of
 * profile.create: alr/profile.h, profile_check()), handed in by whoever
 * relies on it, the registry.  A row it refuses is skipped with a warning
 * naming its id and what is wrong, and left in the file as it is.  NULL,
 * the default: rows are not checked.  0, or -EINVAL with @ret filled.
 */
struct profile_error;
typedef int (*store_profile_check_fn)(const struct profile *p, struct profile_error *ret);
void store_set_profile_check(struct store *s, store_profile_check_fn check);

/*
 * Insert @p (validated by the caller) and set p->id.  When p->is_default,
 * the other profiles lose the flag in the same transaction.
 */
int store_profile_insert(struct store *s, struct profile *p);
/* Replace the stored profile p->id with @p, servers and parameters
 * included; -ENOENT if there is none.  Default flag as for insert. */
int store_profile_update(struct store *s, const struct profile *p);
/* Delete profile @id with its servers, parameters and registered
 * contacts; -ENOENT if there is none. */
int store_profile_delete(struct store *s, unsigned int id);
/* Profile @id, or -ENOENT.  Free with profile_free(). */
int store_profile_get(struct store *s, unsigned int id, struct profile **ret);

/*
 * Call @cb for each profile, in id order.  @cb owns the profile it gets
 * (keep it or profile_free() it); a negative return stops the walk and is
 * returned.  All profiles are read before the first call, so @cb may
 * change the store.
 */
typedef int (*store_profile_cb)(struct profile *p, void *userdata);
int store_profile_load_all(struct store *s, store_profile_cb cb, void *userdata);

/* Make profile @id the default and clear the flag on every other one, in
 * one transaction; @id 0 clears it everywhere.  -ENOENT if no profile @id. */
int store_set_default_profile(struct store *s, unsigned int id);

/* ---- registered contacts --------------------------------------------- */

/* What alrd believes is at the registrar: one binding of a profile's
 * contact over one IAP (docs/profiles.md). */
struct store_contact {
	unsigned int profile_id;
	unsigned int iap_id;
	char *contact;                  /* the Contact URI as registered */
	char *call_id;
	uint32_t cseq;                  /* last CSeq used with @call_id */
	int64_t expires_at;             /* wall clock, seconds since the epoch */
};

/* Insert, or update call_id, cseq and expires_at of, the binding
 * (profile_id, iap_id, contact).  -ENOENT if the profile or the IAP id is
 * unknown. */
int store_contact_upsert(struct store *s, const struct store_contact *c);
int store_contact_delete(struct store *s, unsigned int profile_id, unsigned int iap_id,
			 const char *contact);
/* Contacts of @profile_id (0: all), ordered by profile, IAP, contact.
 * Free with store_contacts_free(). */
int store_contact_list(struct store *s, unsigned int profile_id,
		       struct store_contact **ret, size_t *ret_n);
void store_contacts_free(struct store_contact *c, size_t n);

/* ---- local registrations (the SIP edge, docs/edge.md) ---------------- */

/* One local application's registration of a profile's AOR at alrd's
 * edge: kept across restarts, so that the profile stays in use. */
struct store_locreg {
	unsigned int profile_id;
	char *contact;                  /* the application's Contact URI */
	char *call_id;
	uint32_t cseq;
	int64_t expires_at;             /* wall clock, seconds since the epoch */
	uint32_t uid;                   /* the sending socket's owner */
	char *user_agent;               /* or NULL */
	char *source;                   /* "udp:127.0.0.1:5060" */
};

/* Insert or replace (profile_id, contact); -ENOENT if no such profile.
 * Synced like the contacts (store_sync()). */
int store_locreg_upsert(struct store *s, const struct store_locreg *r);
/* -ENOENT if there was none. */
int store_locreg_delete(struct store *s, unsigned int profile_id, const char *contact);
/* Those of @profile_id (0: all), ordered by profile and expiry.  Free
 * with store_locregs_free(). */
int store_locreg_list(struct store *s, unsigned int profile_id, struct store_locreg **ret,
		      size_t *ret_n);
void store_locregs_free(struct store_locreg *r, size_t n);

/* ---- durability -------------------------------------------------------- */

/*
 * Commits reach the kernel at once and the disk at a checkpoint: profile
 * changes checkpoint before they return; IAP ids and contacts, written
 * from netlink and SIP callbacks, wait for store_sync(), which the daemon
 * calls STORE_SYNC_DELAY seconds after store_unsynced() first says there
 * is something to sync: one sync per burst, and not in the middle of a
 * SIP exchange that a callback has just started.  No fsync on the hot
 * path (docs/profiles.md).  A kill loses nothing (the commits are in the
 * kernel); a power cut can lose the last STORE_SYNC_DELAY of them.
 */
#define STORE_SYNC_DELAY 0.05
bool store_unsynced(const struct store *s);
int store_sync(struct store *s);

/* ---- backup and restore ---------------------------------------------- */

/* The largest file store_receive_fd() takes (a store of the default
 * max-profiles is a few MB). */
#define STORE_MAX_FILE_SIZE ((off_t)256 << 20)

/*
 * A backup in slices, so that a large store does not hold the event loop:
 * store_backup_begin() starts an SQLite online backup into a private 0600
 * file of the state directory; store_backup_step() copies @pages pages
 * (-1: all) and returns 1 while there is more, 0 when done; then
 * store_backup_finish() removes the passwords unless @secrets (and the
 * pages that held them), writes the copy to @fd and frees @sb, whatever it
 * returns.  store_backup_abort() frees a backup not finished (NULL-safe).
 * Whose file @fd is and what it is called is the caller's business
 * (daemon/userfile.h).
 */
struct store_backup;
int store_backup_begin(struct store *s, bool secrets, struct store_backup **ret,
		       char *errbuf, size_t errsize);
int store_backup_step(struct store_backup *sb, int pages, char *errbuf, size_t errsize);
int store_backup_finish(struct store_backup *sb, int fd, char *errbuf, size_t errsize);
void store_backup_abort(struct store_backup *sb);

/* All of it at once (begin, one step, finish). */
int store_backup_fd(struct store *s, int fd, bool secrets, char *errbuf, size_t errsize);

/*
 * Copy what @fd holds (at most STORE_MAX_FILE_SIZE bytes, -EFBIG beyond)
 * into a new private 0600 file beside the store; its name in @ret_path.
 * A restore reads that copy, which nobody else can change.  Remove it with
 * store_remove_copy().
 */
int store_receive_fd(struct store *s, int fd, char *ret_path, size_t size, char *errbuf,
		     size_t errsize);
void store_remove_copy(const char *path);

/*
 * Check, without changing it, that @path is an alrd database this alrd can
 * use: SQLite file, integrity_check ok, alrd's application id, schema
 * version 1..STORE_SCHEMA_VERSION with its tables.  0, -EBADMSG (damaged
 * or foreign), -EPROTO (newer), -ENOENT, with @errbuf filled.
 */
int store_validate_file(const char *path, char *errbuf, size_t errsize);

/*
 * Replace the open store's content with the database at @path: validate
 * it, copy it into the state directory, migrate the copy if it is older,
 * keep the current database as "<db>.before-restore" (0600), swap the copy
 * in with rename() -- the database file exists at every moment -- and
 * reopen.  @s stays the same object.  On failure the old content stays
 * open and untouched.  The daemon deregisters before and reloads after.
 */
int store_restore(struct store *s, const char *path, char *errbuf, size_t errsize);

/* The database file's path (for messages). */
const char *store_path(const struct store *s);
