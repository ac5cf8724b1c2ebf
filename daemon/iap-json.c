/* The IAP object of docs/protocol.md on the control socket (json-c). */
#include "daemon/iap-json.h"

#include <json-c/json.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <sys/socket.h>

#include "alr/iap.h"
#include "base/util.h"
#include "nm/nmmon.h"

static const char *operstate_to_str(unsigned char s)
{
	/* RFC 2863 operational states, IF_OPER_* */
	static const char *const names[] = {
		"unknown", "notpresent", "down", "lowerlayerdown",
		"testing", "dormant", "up",
	};

	return s < ARRAY_SIZE(names) ? names[s] : "unknown";
}

static const char *scope_to_str(unsigned char scope, char *buf, size_t size)
{
	switch (scope) {
	case RT_SCOPE_UNIVERSE: return "global";
	case RT_SCOPE_SITE:     return "site";
	case RT_SCOPE_LINK:     return "link";
	case RT_SCOPE_HOST:     return "host";
	case RT_SCOPE_NOWHERE:  return "nowhere";
	}
	snprintf(buf, size, "%u", scope);
	return buf;
}

static struct json_object *addr_flags_to_json(unsigned int flags)
{
	static const struct { unsigned int bit; const char *name; } names[] = {
		{ IFA_F_SECONDARY, "secondary" }, { IFA_F_NODAD, "nodad" },
		{ IFA_F_OPTIMISTIC, "optimistic" }, { IFA_F_DADFAILED, "dadfailed" },
		{ IFA_F_HOMEADDRESS, "homeaddress" }, { IFA_F_DEPRECATED, "deprecated" },
		{ IFA_F_TENTATIVE, "tentative" }, { IFA_F_PERMANENT, "permanent" },
		{ IFA_F_MANAGETEMPADDR, "managetempaddr" },
		{ IFA_F_NOPREFIXROUTE, "noprefixroute" },
		{ IFA_F_MCAUTOJOIN, "mcautojoin" },
		{ IFA_F_STABLE_PRIVACY, "stable-privacy" },
	};
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (flags & names[i].bit)
			json_object_array_add(a, json_object_new_string(names[i].name));
	return a;
}

static struct json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static struct json_object *nm_to_json(const struct iap_nm *nm)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "uuid", str_or_null(nm->uuid));
	json_object_object_add(o, "connection", str_or_null(nm->id));
	json_object_object_add(o, "type", str_or_null(nm->conn_type));
	json_object_object_add(o, "device_type", str_or_null(nm->device_type));
	json_object_object_add(o, "state",
			       json_object_new_string(nmmon_conn_state_to_str(nm->state)));
	json_object_object_add(o, "primary", json_object_new_boolean(nm->primary));
	json_object_object_add(o, "metered", json_object_new_boolean(nm->metered));
	json_object_object_add(o, "vpn", json_object_new_boolean(nm->vpn));
	json_object_object_add(o, "ssid", str_or_null(nm->ssid));
	json_object_object_add(o, "bssid", str_or_null(nm->bssid));
	json_object_object_add(o, "strength",
			       nm->strength >= 0 ? json_object_new_int(nm->strength) : NULL);
	json_object_object_add(o, "modem_caps", str_or_null(nm->modem_caps));
	return o;
}

struct json_object *iap_to_json(const struct iap *iap)
{
	struct json_object *o = json_object_new_object();
	struct json_object *link = json_object_new_object();
	struct json_object *addrs = json_object_new_array_ext((int)iap->n_addrs);
	struct json_object *routes = json_object_new_object();
	const char *reason = iap_reason_to_str(iap->reason);
	char buf[16];

	json_object_object_add(o, "id", json_object_new_int64(iap->id));
	json_object_object_add(o, "identity", json_object_new_string(iap->identity));
	json_object_object_add(o, "name", json_object_new_string(iap->name));
	json_object_object_add(o, "kind", json_object_new_string(iap_kind_to_str(iap->kind)));
	json_object_object_add(o, "interface", json_object_new_string(iap->ifname));
	json_object_object_add(o, "ifindex", json_object_new_int(iap->ifindex));
	json_object_object_add(o, "available", json_object_new_boolean(iap_available(iap)));
	json_object_object_add(o, "reason", reason ? json_object_new_string(reason) : NULL);

	json_object_object_add(link, "up", json_object_new_boolean(!!(iap->flags & IFF_UP)));
	json_object_object_add(link, "running", json_object_new_boolean(!!(iap->flags & IFF_RUNNING)));
	json_object_object_add(link, "lower_up", json_object_new_boolean(!!(iap->flags & IFF_LOWER_UP)));
	json_object_object_add(link, "operstate", json_object_new_string(operstate_to_str(iap->operstate)));
	json_object_object_add(link, "mtu", json_object_new_int64(iap->mtu));
	json_object_object_add(link, "mac", json_object_new_string(iap->mac));
	json_object_object_add(link, "type", json_object_new_string(iap->link_type));
	json_object_object_add(o, "link", link);

	for (size_t i = 0; i < iap->n_addrs; i++) {
		const struct nlmon_addr *a = &iap->addrs[i];
		struct json_object *ao = json_object_new_object();

		json_object_object_add(ao, "address", json_object_new_string(a->local));
		json_object_object_add(ao, "prefix", json_object_new_int(a->prefixlen));
		json_object_object_add(ao, "family",
				       json_object_new_string(a->family == AF_INET ? "ipv4" : "ipv6"));
		json_object_object_add(ao, "scope",
				       json_object_new_string(scope_to_str(a->scope, buf, sizeof(buf))));
		json_object_object_add(ao, "usable", json_object_new_boolean(iap_addr_usable(a)));
		json_object_object_add(ao, "flags", addr_flags_to_json(a->flags));
		json_object_array_add(addrs, ao);
	}
	json_object_object_add(o, "addresses", addrs);

	json_object_object_add(routes, "ipv4", json_object_new_boolean(iap->default_route4));
	json_object_object_add(routes, "ipv6", json_object_new_boolean(iap->default_route6));
	json_object_object_add(o, "default_route", routes);
	json_object_object_add(o, "nm", iap->nm ? nm_to_json(iap->nm) : NULL);
	/* Only in the events of an identity switch. */
	if (iap->replaces)
		json_object_object_add(o, "replaces", json_object_new_int64(iap->replaces));
	if (iap->replaced_by)
		json_object_object_add(o, "replaced_by", json_object_new_int64(iap->replaced_by));
	return o;
}
