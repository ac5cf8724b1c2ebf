/* IAP: kind detection, availability rule.  No I/O here. */
#include "alr/iap.h"

#include <errno.h>
#include <linux/if_addr.h>
#include <net/if_arp.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "nm/nmmon.h"

static const char *const reason_names[_IAP_REASON_MAX] = {
	[IAP_REASON_NONE] = NULL,
	[IAP_REASON_LINK_DOWN] = "link-down",
	[IAP_REASON_NO_CARRIER] = "no-carrier",
	[IAP_REASON_NO_ADDRESS] = "no-address",
	[IAP_REASON_NO_DEFAULT_ROUTE] = "no-default-route",
};

const char *iap_reason_to_str(enum iap_reason r)
{
	if ((unsigned)r >= _IAP_REASON_MAX)
		return "unknown";
	return reason_names[r];
}

static bool in_list(const char *s, const char *const *list)
{
	if (!s)
		return false;
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

enum iap_kind iap_kind_detect(const struct iap_kind_hints *h)
{
	/* USB and PCIe modem drivers whose netdev has no DEVTYPE=wwan on older
	 * kernels.  cdc_ncm/cdc_ether are left out: they are also plain USB
	 * Ethernet adapters. */
	static const char *const modem_drivers[] = {
		"qmi_wwan", "cdc_mbim", "huawei_cdc_ncm", "sierra_net",
		"mhi_net", "rmnet", "ipa", "option", "hso", NULL,
	};
	static const char *const vpn_types[] = {
		"tun", "wireguard", "ipip", "gre", "gretap", "ip6gre", "ip6tnl",
		"sit", "vti", "vti6", "xfrm", "ipsec", NULL,
	};
	static const char *const ethernet_types[] = {
		"veth", "macvlan", "macvtap", "bridge", "bond", "team", "vlan", NULL,
	};

	if (h->wireless || (h->devtype && strcmp(h->devtype, "wlan") == 0))
		return IAP_KIND_WIFI;
	if ((h->devtype && strcmp(h->devtype, "wwan") == 0) ||
	    in_list(h->driver, modem_drivers))
		return IAP_KIND_CELLULAR;
	if (in_list(h->link_type, vpn_types) || h->arptype == ARPHRD_NONE ||
	    h->arptype == ARPHRD_TUNNEL || h->arptype == ARPHRD_TUNNEL6)
		return IAP_KIND_VPN;
	if (h->arptype == ARPHRD_ETHER &&
	    (!h->link_type || !h->link_type[0] || in_list(h->link_type, ethernet_types)))
		return IAP_KIND_ETHERNET;
	return IAP_KIND_OTHER;
}

bool iap_addr_usable(const struct nlmon_addr *a)
{
	if (a->scope != RT_SCOPE_UNIVERSE)
		return false;
	if (a->flags & (IFA_F_TENTATIVE | IFA_F_DEPRECATED | IFA_F_DADFAILED))
		return false;
	return a->family == AF_INET || a->family == AF_INET6;
}

enum iap_reason iap_link_evaluate(const struct nlmon_link *l)
{
	bool addr4 = false, addr6 = false;

	if (!(l->flags & IFF_UP))
		return IAP_REASON_LINK_DOWN;
	/* IFF_RUNNING follows the operational state; IFF_LOWER_UP is the
	 * carrier itself.  Either missing means no traffic can flow. */
	if (!(l->flags & IFF_RUNNING) || !(l->flags & IFF_LOWER_UP))
		return IAP_REASON_NO_CARRIER;
	for (size_t i = 0; i < l->n_addrs; i++) {
		if (!iap_addr_usable(&l->addrs[i]))
			continue;
		if (l->addrs[i].family == AF_INET)
			addr4 = true;
		else
			addr6 = true;
	}
	if (!addr4 && !addr6)
		return IAP_REASON_NO_ADDRESS;
	/* A default route is only useful with an address of its family. */
	if (!(addr4 && l->default_route4) && !(addr6 && l->default_route6))
		return IAP_REASON_NO_DEFAULT_ROUTE;
	return IAP_REASON_NONE;
}

struct iap *iap_new(unsigned int id, const char *identity, const char *name,
		    enum iap_kind kind)
{
	struct iap *iap = calloc(1, sizeof(*iap));

	if (!iap)
		return NULL;
	iap->id = id;
	iap->kind = kind;
	iap->identity = strdup(identity);
	iap->name = strdup(name);
	iap->ifindex = -1;
	iap->reason = IAP_REASON_LINK_DOWN;
	if (!iap->identity || !iap->name)
		return iap_free(iap);
	return iap;
}

static int dup_or_null(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

void iap_nm_clear(struct iap_nm *nm)
{
	free(nm->uuid);
	free(nm->id);
	free(nm->conn_type);
	free(nm->device_type);
	free(nm->ssid);
	free(nm->bssid);
	free(nm->modem_caps);
	*nm = (struct iap_nm){ .strength = -1 };
}

int iap_nm_set(struct iap_nm *dst, const struct nmmon_conn *c)
{
	iap_nm_clear(dst);
	if (dup_or_null(&dst->uuid, c->uuid) < 0 || dup_or_null(&dst->id, c->id) < 0 ||
	    dup_or_null(&dst->conn_type, c->conn_type) < 0 ||
	    dup_or_null(&dst->device_type, c->device_type) < 0 ||
	    dup_or_null(&dst->ssid, c->ssid) < 0 || dup_or_null(&dst->bssid, c->bssid) < 0 ||
	    dup_or_null(&dst->modem_caps, c->modem_caps && c->modem_caps[0] ? c->modem_caps : NULL) < 0) {
		iap_nm_clear(dst);
		return -ENOMEM;
	}
	dst->strength = c->strength;
	dst->state = (int)c->state;
	dst->primary = c->primary;
	dst->metered = c->metered;
	dst->vpn = c->vpn;
	return 0;
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

bool iap_nm_equal(const struct iap_nm *a, const struct iap_nm *b)
{
	if (!a || !b)
		return a == b;
	return str_eq(a->uuid, b->uuid) && str_eq(a->id, b->id) &&
	       str_eq(a->conn_type, b->conn_type) && str_eq(a->device_type, b->device_type) &&
	       str_eq(a->ssid, b->ssid) && str_eq(a->bssid, b->bssid) &&
	       str_eq(a->modem_caps, b->modem_caps) && a->strength == b->strength &&
	       a->state == b->state && a->primary == b->primary &&
	       a->metered == b->metered && a->vpn == b->vpn;
}

struct iap_nm *iap_nm_dup(const struct iap_nm *src)
{
	struct iap_nm *nm = calloc(1, sizeof(*nm));

	if (!nm)
		return NULL;
	if (dup_or_null(&nm->uuid, src->uuid) < 0 || dup_or_null(&nm->id, src->id) < 0 ||
	    dup_or_null(&nm->conn_type, src->conn_type) < 0 ||
	    dup_or_null(&nm->device_type, src->device_type) < 0 ||
	    dup_or_null(&nm->ssid, src->ssid) < 0 || dup_or_null(&nm->bssid, src->bssid) < 0 ||
	    dup_or_null(&nm->modem_caps, src->modem_caps) < 0) {
		iap_nm_clear(nm);
		free(nm);
		return NULL;
	}
	nm->strength = src->strength;
	nm->state = src->state;
	nm->primary = src->primary;
	nm->metered = src->metered;
	nm->vpn = src->vpn;
	return nm;
}

struct iap *iap_free(struct iap *iap)
{
	if (!iap)
		return NULL;
	if (iap->nm) {
		iap_nm_clear(iap->nm);
		free(iap->nm);
	}
	free(iap->identity);
	free(iap->name);
	free(iap->addrs);
	free(iap);
	return NULL;
}

static bool addrs_equal(const struct nlmon_addr *a, size_t na,
			const struct nlmon_addr *b, size_t nb)
{
	if (na != nb)
		return false;
	/* The monitor delivers addresses in cache order, which is stable
	 * between snapshots, so a positional compare is enough. */
	for (size_t i = 0; i < na; i++) {
		if (a[i].family != b[i].family || a[i].prefixlen != b[i].prefixlen ||
		    a[i].scope != b[i].scope || a[i].flags != b[i].flags ||
		    strcmp(a[i].local, b[i].local) != 0)
			return false;
	}
	return true;
}

int iap_update(struct iap *iap, const struct nlmon_link *l)
{
	bool changed = false;
	enum iap_reason reason = iap_link_evaluate(l);

	if (!addrs_equal(iap->addrs, iap->n_addrs, l->addrs, l->n_addrs)) {
		struct nlmon_addr *copy = NULL;

		if (l->n_addrs) {
			copy = malloc(l->n_addrs * sizeof(*copy));
			if (!copy)
				return -ENOMEM;
			memcpy(copy, l->addrs, l->n_addrs * sizeof(*copy));
		}
		free(iap->addrs);
		iap->addrs = copy;
		iap->n_addrs = l->n_addrs;
		changed = true;
	}
	if (iap->ifindex != l->ifindex || strcmp(iap->ifname, l->name) != 0 ||
	    iap->flags != l->flags || iap->operstate != l->operstate ||
	    iap->mtu != l->mtu || strcmp(iap->link_type, l->type) != 0 ||
	    strcmp(iap->mac, l->mac) != 0 ||
	    iap->default_route4 != l->default_route4 ||
	    iap->default_route6 != l->default_route6 || iap->reason != reason)
		changed = true;

	iap->ifindex = l->ifindex;
	util_strlcpy(iap->ifname, l->name, sizeof(iap->ifname));
	iap->flags = l->flags;
	iap->operstate = l->operstate;
	iap->mtu = l->mtu;
	iap->arptype = l->arptype;
	util_strlcpy(iap->link_type, l->type, sizeof(iap->link_type));
	util_strlcpy(iap->mac, l->mac, sizeof(iap->mac));
	iap->default_route4 = l->default_route4;
	iap->default_route6 = l->default_route6;
	iap->reason = reason;
	return changed;
}
