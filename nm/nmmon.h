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
 *
 * The system bus is the one libnm would use: $DBUS_SYSTEM_BUS_ADDRESS, or
 * /var/run/dbus/system_bus_socket.  While it is missing the monitor
 * watches for its socket with inotify, and nothing wakes up periodically.
 * Only a socket that exists but refuses connections (a bus that died
 * without removing it), or an address that is not a socket path, is
 * retried on a timer: 0.25 s doubling up to once a minute.
 *
 * Loopback ("lo", which NetworkManager 1.42 shows as an external
 * connection) is never reported.
 */
#pragma once

#include "base/enums.h"
#include <stdbool.h>

struct ev_loop;
struct nmmon;

enum nmmon_conn_state {
	NMMON_CONN_ACTIVATING,
	NMMON_CONN_ACTIVATED,
	NMMON_CONN_DEACTIVATING,
};

const char *nmmon_conn_state_to_str(enum nmmon_conn_state s);

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
	bool metered;                   /* the device's: NM_METERED_YES or GUESS_YES */
	bool vpn;
	/* Wi-Fi, from the device's active access point; NULL/-1 otherwise */
	const char *ssid;               /* printable UTF-8; other bytes "\xNN", '\' as "\\" */
	const char *bssid;
	int strength;                   /* 0..100, -1 when unknown */
	/* Cellular: the modem's current capabilities, comma-separated in this
	 * order: "pots", "cdma-evdo", "gsm-umts", "lte", "5gnr"
	 * (e.g. "gsm-umts,lte"); "" otherwise */
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
	/* Callbacks run from the loop (never from nmmon_start()) and must not
	 * call nmmon_start() or nmmon_free(). */
};

/* The monitor drives a GLib main context of its own from loop, which must
 * run in the thread that calls nmmon_new().  NULL on failure. */
struct nmmon *nmmon_new(struct ev_loop *loop, const struct nmmon_ops *ops, void *user_data);
/* Start connecting (asynchronous; never blocks).  0 or negative errno. */
int nmmon_start(struct nmmon *m);
/* Silent (no callbacks); waits up to 2 s for libnm and GDBus to finish
 * what was cancelled.  NULL-safe; returns NULL. */
struct nmmon *nmmon_free(struct nmmon *m);
bool nmmon_running(const struct nmmon *m);

/* The alrd IAP kind (base/enums.h) of an
 * active connection: vpn first, then the device type (wifi; modem =
 * cellular; ethernet, veth = ethernet; wireguard, tun = vpn), then, for a
 * connection without a device yet or on a device of another type, the
 * connection type (802-11-wireless; gsm, cdma; 802-3-ethernet, veth;
 * wireguard, tun, vpn).  NULL and "" are unknown; the rest is OTHER. */
enum iap_kind nmmon_kind_for(const char *device_type, const char *conn_type, bool vpn);
