/*
 * NetworkManager monitor: the only code that talks to NetworkManager
 * (libnm).  It turns NetworkManager's view of active connections, their
 * devices and Wi-Fi access points into small typed snapshots, like
 * netlink/nlmon.h does for links.  No GLib type crosses this header.
 *
 * NetworkManager being absent (no system bus, or the daemon not running)
 * is normal: the monitor says so through ops->running(false) and picks up
 * when it appears.  Availability of an IAP is not decided here: netlink is
 * faster (NetworkManager takes seconds to deactivate after carrier loss).
 */
#pragma once

#include <stdbool.h>

struct ev_loop;
struct nmmon;

enum nmmon_conn_state {
	NMMON_CONN_ACTIVATING,
	NMMON_CONN_ACTIVATED,
	NMMON_CONN_DEACTIVATING,
};

/* One active connection.  Strings are valid during the callback only. */
struct nmmon_conn {
	const char *uuid;               /* connection UUID: the IAP identity */
	const char *id;                 /* connection name ("HomeNet") */
	const char *conn_type;          /* "802-11-wireless", "gsm", "802-3-ethernet", ... */
	const char *device_type;        /* "wifi", "ethernet", "veth", "modem", "wireguard", "tun", ... or "" */
	const char *iface;              /* IP interface ("wlan0"), "" if none */
	int ifindex;                    /* of iface, 0 if unknown */
	enum nmmon_conn_state state;
	bool primary;                   /* NetworkManager's primary connection */
	bool metered;                   /* NM_METERED_YES or GUESS_YES */
	bool vpn;
	/* Wi-Fi, from the device's active access point; NULL/-1 otherwise */
	const char *ssid;               /* printable; non-UTF-8 bytes escaped */
	const char *bssid;
	int strength;                   /* 0..100, -1 when unknown */
	/* Cellular: modem capabilities ("gsm-umts", "lte", ...), "" otherwise */
	const char *modem_caps;
};

struct nmmon_ops {
	/* NetworkManager appeared (true) or went away (false).  After
	 * running(true), conn_changed is called for every active connection. */
	void (*running)(bool running, void *user_data);
	/* An active connection appeared or something about it changed. */
	void (*conn_changed)(const struct nmmon_conn *conn, void *user_data);
	/* An active connection is gone (also for each one when NM goes away,
	 * before running(false)). */
	void (*conn_removed)(const char *uuid, void *user_data);
};

struct nmmon *nmmon_new(struct ev_loop *loop, const struct nmmon_ops *ops, void *user_data);
/* Start connecting (asynchronous; never blocks).  0 or negative errno. */
int nmmon_start(struct nmmon *m);
struct nmmon *nmmon_free(struct nmmon *m);
bool nmmon_running(const struct nmmon *m);
