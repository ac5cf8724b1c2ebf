#include "alr/iap_sysfs.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"

void iap_sysfs_read(const char *root, const char *ifname, struct iap_sysfs_info *ret)
{
	char path[PATH_MAX], link[PATH_MAX], line[256];
	FILE *f;
	ssize_t n;

	memset(ret, 0, sizeof(*ret));
	/* A name with '/' or ".." cannot come from the kernel, but the name
	 * reaches a path here: refuse rather than trust. */
	if (!ifname[0] || strchr(ifname, '/') || strcmp(ifname, "..") == 0 ||
	    strcmp(ifname, ".") == 0)
		return;

	snprintf(path, sizeof(path), "%s/%s/uevent", root, ifname);
	f = fopen(path, "re");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "DEVTYPE=", 8) == 0) {
				line[strcspn(line, "\n")] = '\0';
				util_strlcpy(ret->devtype, line + 8, sizeof(ret->devtype));
			}
		}
		fclose(f);
	}

	snprintf(path, sizeof(path), "%s/%s/wireless", root, ifname);
	if (access(path, F_OK) == 0)
		ret->wireless = true;
	snprintf(path, sizeof(path), "%s/%s/phy80211", root, ifname);
	if (access(path, F_OK) == 0)
		ret->wireless = true;

	snprintf(path, sizeof(path), "%s/%s/device/driver", root, ifname);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		const char *base;

		link[n] = '\0';
		base = strrchr(link, '/');
		util_strlcpy(ret->driver, base ? base + 1 : link, sizeof(ret->driver));
	}
}
