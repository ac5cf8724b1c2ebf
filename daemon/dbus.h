/*
 * The D-Bus interface (docs/dbus.md): org.alrd.Roaming1 on the system bus
 * (or [dbus] address), beside the control socket.  Objects for the
 * daemon, the IAPs, the profiles and the SNAPs with their properties and
 * PropertiesChanged signals, the controller role as methods of a profile.
 * sd-bus runs inside the daemon's libev loop and never blocks it: every
 * call alrd makes on the bus is asynchronous.
 */
#pragma once

#include <stdbool.h>

struct daemon;
struct roam_event;
struct alr_dbus;

#define DBUS_NAME               "org.alrd.Roaming1"
#define DBUS_PATH               "/org/alrd/Roaming1"

/*
 * Connect to the bus the configuration names and ask for DBUS_NAME.  A
 * missing bus, or a name another process holds, is logged once (notice)
 * and alrd goes on without D-Bus: NULL is returned then, and when
 * [dbus] enable = no.  Call after the registry and the control server
 * exist.
 */
struct alr_dbus *dbus_start(struct daemon *d);
/* Leave the bus; the D-Bus clients' uses and controls end.  Call before
 * the registry is freed.  Returns NULL. */
struct alr_dbus *dbus_free(struct alr_dbus *b);

/* A roaming event (daemon.c's on_roam_event()): a signal on the profile's
 * object, to every D-Bus controller it is meant for. */
void dbus_roam_event(struct alr_dbus *b, const struct roam_event *ev);

/* What daemon.info shows. */
struct dbus_info {
	bool connected;                 /* on the bus and owning DBUS_NAME */
	const char *bus;                /* the address, or "system" */
	unsigned int clients;           /* D-Bus peers alrd keeps state for */
};
void dbus_get_info(const struct alr_dbus *b, struct dbus_info *ret);

/*
 * The id of the object @path names under @prefix ("/org/alrd/Roaming1/IAP"
 * and "/org/alrd/Roaming1/IAP/7" give 7): a decimal number 0..4294967295
 * without sign, leading zeros or anything after it.  0, or -EINVAL.
 */
int dbus_path_to_id(const char *prefix, const char *path, unsigned int *ret_id);

/* The first id the D-Bus clients get (they count down from it, as the
 * control socket's clients count up from 1), and how many of them alrd
 * keeps state for at most. */
#define DBUS_PEER_FIRST_ID      4294967295u
#define DBUS_MAX_PEERS          1024
