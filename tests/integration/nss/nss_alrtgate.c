/* An NSS module for the tests (test_edge.py test_nss_lookup_off_the_loop):
 * "passwd: alrtgate files" in an nsswitch.conf that only alrd sees.
 *
 * getpwuid_r() of the uid in $ALRT_NSS_GATE_UID waits at the FIFO
 * $ALRT_NSS_GATE: the open() returns once the test opens it for writing
 * (which tells the test that the lookup has begun), the read() once the
 * test closes it.  Then it answers "not here", and glibc asks "files".
 * So the test holds a lookup for as long as it likes, as a directory
 * service that does not answer would. */
#include <errno.h>
#include <fcntl.h>
#include <nss.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

enum nss_status _nss_alrtgate_getpwuid_r(uid_t uid, struct passwd *pw, char *buf,
					 size_t len, int *errnop);

enum nss_status _nss_alrtgate_getpwuid_r(uid_t uid, struct passwd *pw, char *buf,
					 size_t len, int *errnop)
{
	const char *gate = getenv("ALRT_NSS_GATE");
	const char *gate_uid = getenv("ALRT_NSS_GATE_UID");
	char c;
	int fd;

	(void)pw;
	(void)buf;
	(void)len;
	if (gate && gate_uid && strtoul(gate_uid, NULL, 10) == (unsigned long)uid) {
		fd = open(gate, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			while (read(fd, &c, 1) > 0)
				;
			close(fd);
		}
	}
	*errnop = ENOENT;
	return NSS_STATUS_NOTFOUND;
}
