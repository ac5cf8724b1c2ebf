/*
 * IAP (Internet access point): one usable network attachment.  For now one
 * IAP per interface, identified as "if:NAME".
 *
 * This file is pure: kind detection from hints, the availability rule and
 * the JSON form of an IAP.  Reading sysfs is in iap_sysfs.c; the table that
 * follows netlink is iap_table.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <net/if.h>

#include "base/enums.h"
#include "netlink/nlmon.h"

/* Why an IAP is not available (IAP_REASON_NONE: it is). */
enum iap_reason {
	IAP_REASON_NONE,
	IAP_REASON_LINK_DOWN,           /* administratively down */
	IAP_REASON_NO_CARRIER,
	IAP_REASON_NO_ADDRESS,
	IAP_REASON_NO_DEFAULT_ROUTE,
	_IAP_REASON_MAX,
};

const char *iap_reason_to_str(enum iap_reason r);   /* NULL for NONE */

/* What the system says about an interface, for kind detection. */
struct iap_kind_hints {
	const char *name;
	const char *devtype;            /* uevent DEVTYPE ("wlan", "wwan", ...) or NULL */
	bool wireless;                  /* /sys/class/net/X/wireless or phy80211 exists */
	const char *driver;             /* device driver name or NULL */
	const char *link_type;          /* rtnl link kind ("veth", "tun", ...) or NULL */
	unsigned int arptype;           /* ARPHRD_* */
};

enum iap_kind iap_kind_detect(const struct iap_kind_hints *h);

/* A global address that is not tentative, deprecated or failed DAD. */
bool iap_addr_usable(const struct nlmon_addr *a);

/* The availability rule (docs/protocol.md): NONE when available. */
enum iap_reason iap_link_evaluate(const struct nlmon_link *l);

/* What NetworkManager says about the connection an IAP is (issue: IAPs
 * named by connections).  Strings owned; NULL when unknown. */
struct iap_nm {
	char *uuid;
	char *id;                       /* connection name, the IAP's name */
	char *conn_type;                /* "802-11-wireless", "gsm", ... */
	char *device_type;              /* "wifi", "ethernet", "modem", ... */
	char *ssid;                     /* Wi-Fi only */
	char *bssid;
	char *modem_caps;               /* cellular only */
	int strength;                   /* 0..100, -1 unknown */
	int state;                      /* enum nmmon_conn_state */
	bool primary;
	bool metered;
	bool vpn;
};

struct nmmon_conn;
/* Copy @c into a fresh @dst (cleared first).  0 or -ENOMEM. */
int iap_nm_set(struct iap_nm *dst, const struct nmmon_conn *c);
void iap_nm_clear(struct iap_nm *nm);
bool iap_nm_equal(const struct iap_nm *a, const struct iap_nm *b);
/* Deep copy; NULL on ENOMEM. */
struct iap_nm *iap_nm_dup(const struct iap_nm *src);

struct iap {
	unsigned int id;                /* stable, from the store */
	char *identity;                 /* "if:wlan0" */
	char *name;                     /* display name */
	enum iap_kind kind;

	/* live state, from the last netlink snapshot */
	int ifindex;
	char ifname[IFNAMSIZ];
	unsigned int flags;
	unsigned char operstate;
	unsigned int mtu;
	unsigned int arptype;
	char link_type[32];
	char mac[32];
	size_t n_addrs;
	struct nlmon_addr *addrs;
	bool default_route4;
	bool default_route6;

	enum iap_reason reason;         /* derived: iap_link_evaluate() */

	struct iap_nm *nm;              /* NetworkManager connection, or NULL */

	/* Set only while the events of an identity switch are delivered
	 * (interface <-> NetworkManager connection): the other IAP's id. */
	unsigned int replaces;
	unsigned int replaced_by;
};

static inline bool iap_available(const struct iap *iap)
{
	return iap->reason == IAP_REASON_NONE;
}

struct iap *iap_new(unsigned int id, const char *identity, const char *name,
		    enum iap_kind kind);
struct iap *iap_free(struct iap *iap);

/*
 * Copy a snapshot into @iap and re-evaluate availability.
 * Returns true when anything visible changed.  -ENOMEM on allocation failure.
 */
int iap_update(struct iap *iap, const struct nlmon_link *l);

