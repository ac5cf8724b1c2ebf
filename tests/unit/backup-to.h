/* Shared by the unit tests that make backups (test-store-profiles.c,
 * test-registry.c): store_backup_fd() into a new file at @file, as the
 * daemon's store.backup does through daemon/userfile.c and daemon/backup.c.
 * Include it from one .c file per test program. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

static int backup_to(struct store *s, const char *file, bool secrets, char *err, size_t size)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), r;

	if (fd < 0) {
		r = -errno;
		snprintf(err, size, "%s: %s", file, strerror(-r));
		return r;
	}
	r = store_backup_fd(s, fd, secrets, err, size);
	close(fd);
	return r;
}
