/* Reading /sys/class/net for kind hints: the only file I/O of alr/. */
#pragma once

#include <stdbool.h>

struct iap_sysfs_info {
	char devtype[32];       /* uevent DEVTYPE, "" if none */
	char driver[64];        /* basename of device/driver, "" if none */
	bool wireless;
};

/* Fill @ret for interface @ifname; missing files leave fields empty.
 * @root is "/sys/class/net" (tests pass their own tree). */
void iap_sysfs_read(const char *root, const char *ifname, struct iap_sysfs_info *ret);
