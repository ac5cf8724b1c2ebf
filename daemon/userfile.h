/* Files named by a control client, opened with the client's own rights.
 *
 * alrd runs as root, or as the user alrd with CAP_SETUID and CAP_SETGID
 * (contrib/alrd.service); a path in a request (store.backup, store.restore) is
 * the client's word, and a path checked by name and used again later can
 * be swapped in between (a symlink, renameat2(RENAME_EXCHANGE)).  So
 * every name is resolved once, by the kernel, as the client: this thread
 * takes the client's filesystem uid, gid and supplementary groups
 * (setfsuid, setfsgid and the raw setgroups syscall, which, unlike glibc's
 * wrapper, changes only the calling thread, so libnm's GLib threads keep
 * alrd's), opens what it needs, and returns to alrd's own.  From then on alrd
 * works on the file descriptors only.  A file alrd creates this way is
 * the client's from the start: no chown() afterwards.
 * See docs/security.md, "Paths given by clients". */
#ifndef ALR_DAEMON_USERFILE_H
#define ALR_DAEMON_USERFILE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define USERFILE_MAX_GROUPS 64

/* Who the client is: from SO_PEERCRED and SO_PEERGROUPS. */
struct userfile_cred {
	uid_t uid;
	gid_t gid;
	size_t n_groups;
	gid_t groups[USERFILE_MAX_GROUPS];
};

/* A new file being written: a temporary name in the target directory,
 * given its final name by userfile_commit(). */
struct userfile_new {
	int dirfd;
	int fd;
	char name[NAME_MAX + 1];
	char tmpname[NAME_MAX + 1];
};

/*
 * Open the existing regular file @path for reading, as @cred.  A FIFO or
 * device is refused without blocking.  0 with *ret_fd, or a negative errno
 * with @errbuf filled in words the caller could have learnt by trying
 * itself (no more).
 */
int userfile_open_read(const struct userfile_cred *cred, const char *path, int *ret_fd,
		       char *errbuf, size_t errsize);

/*
 * Start a new file at @path, as @cred: @path must be absolute, must not
 * exist (-EEXIST), and its directory must let @cred create files there.
 * The file is created 0600 under a temporary name beside it.  On success
 * fill @ret (ret->fd is open for writing); on failure @ret holds nothing
 * to release.
 */
int userfile_create(const struct userfile_cred *cred, const char *path,
		    struct userfile_new *ret, char *errbuf, size_t errsize);

/* Sync the file and give it its name, as @cred, never replacing a file
 * that appeared meanwhile (-EEXIST).  Releases @nf either way; on failure
 * the temporary file is removed. */
int userfile_commit(const struct userfile_cred *cred, struct userfile_new *nf,
		    char *errbuf, size_t errsize);

/* Remove the temporary file and release @nf. */
void userfile_abort(const struct userfile_cred *cred, struct userfile_new *nf);

#endif
