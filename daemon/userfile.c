/* Files named by a control client, opened with the client's own rights
 * (userfile.h says why). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "daemon/userfile.h"

/* What this thread was before it became the client. */
struct saved_ids {
	bool switched;
	uid_t fsuid;
	gid_t fsgid;
	int n_groups;
	gid_t groups[USERFILE_MAX_GROUPS];
};

/* The raw system call: glibc's setgroups() changes every thread of the
 * process (the setxid broadcast); the kernel's changes only this one. */
static int thread_setgroups(size_t n, const gid_t *groups)
{
	return syscall(SYS_setgroups, n, groups) < 0 ? -errno : 0;
}

static void unbecome(struct saved_ids *s)
{
	if (!s->switched)
		return;
	setfsuid(s->fsuid);
	setfsgid(s->fsgid);
	/* Cannot fail: we hold what let us switch a moment ago (root, or
	 * CAP_SETUID and CAP_SETGID, which a changed fsuid does not drop);
	 * going on as somebody else would be worse than stopping. */
	if ((uid_t)setfsuid((uid_t)-1) != s->fsuid || (gid_t)setfsgid((gid_t)-1) != s->fsgid ||
	    thread_setgroups((size_t)s->n_groups, s->groups) < 0) {
		log_msg(LOG_CRIT, "userfile: cannot return to uid %u after acting for a client; stopping",
			 (unsigned)s->fsuid);
		abort();
	}
	s->switched = false;
}

/* Take @cred's filesystem identity on this thread.  alrd acting for its
 * own uid changes nothing.  Otherwise it needs CAP_SETGID (setgroups) and
 * CAP_SETUID (setfsuid): root has them, and so has the user alrd under
 * contrib/alrd.service (AmbientCapabilities=); without them the kernel
 * refuses and so do we. */
static int become(const struct userfile_cred *cred, struct saved_ids *s, char *errbuf,
		  size_t errsize)
{
	int r;

	s->switched = false;
	if (cred->uid == geteuid())
		return 0;
	s->n_groups = getgroups(USERFILE_MAX_GROUPS, s->groups);
	if (s->n_groups < 0) {
		r = -errno;
		snprintf(errbuf, errsize, "alrd has too many supplementary groups");
		return r;
	}
	s->fsuid = geteuid();
	s->fsgid = getegid();
	r = thread_setgroups(cred->n_groups, cred->groups);
	if (r == -EPERM) {
		snprintf(errbuf, errsize, "alrd runs as uid %u without CAP_SETUID and CAP_SETGID "
			 "and cannot open files as uid %u", (unsigned)geteuid(), (unsigned)cred->uid);
		return r;
	}
	if (r < 0) {
		snprintf(errbuf, errsize, "cannot take the client's groups: %s", strerror(-r));
		return r;
	}
	s->switched = true;
	setfsgid(cred->gid);
	setfsuid(cred->uid);
	if ((uid_t)setfsuid((uid_t)-1) != cred->uid || (gid_t)setfsgid((gid_t)-1) != cred->gid) {
		unbecome(s);
		snprintf(errbuf, errsize, "cannot act as uid %u", (unsigned)cred->uid);
		return -EPERM;
	}
	return 0;
}

static int check_absolute(const char *path, char *errbuf, size_t errsize)
{
	if (path[0] != '/') {
		snprintf(errbuf, errsize, "path '%.200s' is relative; give an absolute path "
			 "(alrd's working directory is not yours)", path);
		return -EINVAL;
	}
	if (strlen(path) >= PATH_MAX) {
		snprintf(errbuf, errsize, "path too long");
		return -ENAMETOOLONG;
	}
	return 0;
}

int userfile_open_read(const struct userfile_cred *cred, const char *path, int *ret_fd,
		       char *errbuf, size_t errsize)
{
	struct saved_ids s;
	struct stat st;
	int fd, r;

	r = check_absolute(path, errbuf, errsize);
	if (r < 0)
		return r;
	r = become(cred, &s, errbuf, errsize);
	if (r < 0)
		return r;
	/* O_NONBLOCK: a FIFO must not hold the loop until a writer comes */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	r = fd < 0 ? -errno : 0;
	unbecome(&s);
	if (r < 0) {
		snprintf(errbuf, errsize, "cannot open %.200s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(errbuf, errsize, "%.200s is not a regular file", path);
		return -EBADMSG;
	}
	*ret_fd = fd;
	return 0;
}

/* "@path" -> directory and last component; the last one must name a file. */
static int split_path(const char *path, char *dir, size_t dsize, char *name, size_t nsize,
		      char *errbuf, size_t errsize)
{
	const char *slash = strrchr(path, '/');
	size_t dlen = slash == path ? 1 : (size_t)(slash - path);
	const char *base = slash + 1;

	if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
		snprintf(errbuf, errsize, "%.200s does not name a file", path);
		return -EINVAL;
	}
	if (dlen >= dsize || strlen(base) >= nsize) {
		snprintf(errbuf, errsize, "path too long");
		return -ENAMETOOLONG;
	}
	memcpy(dir, path, dlen);
	dir[dlen] = '\0';
	strcpy(name, base);
	return 0;
}

static int open_temp(int dirfd, const char *name, char *tmp, size_t size)
{
	for (int tries = 0; tries < 16; tries++) {
		unsigned int rnd = 0;
		int fd;

		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd ^= (unsigned int)getpid() * 2654435761u + (unsigned int)tries;
		/* ".NAME.tmp-XXXXXXXX": hidden, and within NAME_MAX */
		snprintf(tmp, size, ".%.200s.tmp-%08x", name, rnd);
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int userfile_create(const struct userfile_cred *cred, const char *path,
		    struct userfile_new *ret, char *errbuf, size_t errsize)
{
	char dir[PATH_MAX];
	struct saved_ids s;
	struct stat st;
	int r;

	ret->dirfd = ret->fd = -1;
	r = check_absolute(path, errbuf, errsize);
	if (r < 0)
		return r;
	r = split_path(path, dir, sizeof(dir), ret->name, sizeof(ret->name), errbuf, errsize);
	if (r < 0)
		return r;
	r = become(cred, &s, errbuf, errsize);
	if (r < 0)
		return r;
	/* The directory once, by the kernel, with the client's rights; every
	 * later step is relative to this descriptor, so swapping the
	 * directory for a symlink afterwards changes nothing. */
	ret->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ret->dirfd < 0) {
		r = -errno;
		snprintf(errbuf, errsize, "directory %.200s: %s", dir, strerror(-r));
		goto out;
	}
	if (fstatat(ret->dirfd, ret->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		r = -EEXIST;
		snprintf(errbuf, errsize, "%.200s exists; alrd does not overwrite a file: "
			 "choose a new name", path);
		goto out;
	}
	if (errno != ENOENT) {
		r = -errno;
		snprintf(errbuf, errsize, "%.200s: %s", path, strerror(-r));
		goto out;
	}
	ret->fd = open_temp(ret->dirfd, ret->name, ret->tmpname, sizeof(ret->tmpname));
	if (ret->fd < 0) {
		r = ret->fd;
		snprintf(errbuf, errsize, "cannot create a file in %.200s: %s", dir, strerror(-r));
	}
out:
	unbecome(&s);
	if (r < 0) {
		if (ret->dirfd >= 0)
			close(ret->dirfd);
		ret->dirfd = ret->fd = -1;
	}
	return r;
}

static void release(struct userfile_new *nf)
{
	if (nf->fd >= 0)
		close(nf->fd);
	if (nf->dirfd >= 0)
		close(nf->dirfd);
	nf->fd = nf->dirfd = -1;
}

void userfile_abort(const struct userfile_cred *cred, struct userfile_new *nf)
{
	struct saved_ids s;
	char err[128];

	if (nf->dirfd < 0)
		return;
	if (become(cred, &s, err, sizeof(err)) == 0) {
		unlinkat(nf->dirfd, nf->tmpname, 0);
		unbecome(&s);
	}
	release(nf);
}

int userfile_commit(const struct userfile_cred *cred, struct userfile_new *nf,
		    char *errbuf, size_t errsize)
{
	struct saved_ids s;
	int r = 0, dfd;

	if (fsync(nf->fd) < 0) {
		r = -errno;
		snprintf(errbuf, errsize, "cannot write %s: %s", nf->name, strerror(-r));
		userfile_abort(cred, nf);
		return r;
	}
	r = become(cred, &s, errbuf, errsize);
	if (r < 0) {
		release(nf);
		return r;
	}
	if (renameat2(nf->dirfd, nf->tmpname, nf->dirfd, nf->name, RENAME_NOREPLACE) < 0) {
		r = -errno;
		/* a filesystem without RENAME_NOREPLACE: link() never replaces */
		if (r == -EINVAL)
			r = linkat(nf->dirfd, nf->tmpname, nf->dirfd, nf->name, 0) < 0 ? -errno : 0;
		unlinkat(nf->dirfd, nf->tmpname, 0);
	}
	unbecome(&s);
	if (r == -EEXIST)
		snprintf(errbuf, errsize, "%s appeared meanwhile; alrd does not overwrite a "
			 "file: choose a new name", nf->name);
	else if (r < 0)
		snprintf(errbuf, errsize, "cannot name the file %s: %s", nf->name, strerror(-r));
	if (r == 0) {
		/* the new name durable: best effort, as root, on "." only */
		dfd = openat(nf->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	release(nf);
	return r;
}
