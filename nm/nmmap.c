/*
 * Pure mappings for the NetworkManager monitor.
 *
 * NetworkManager's enums come from <NetworkManager.h> (its D-Bus API, which
 * is stable: values are never reused), so the tables below are indexed by
 * them and a new libnm with more values falls through to "unknown".
 */
#include "nm/nmmap.h"
#include "nm/nmmon.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <NetworkManager.h>

#include "base/util.h"

/* The names NetworkManager itself uses (nmcli's TYPE column). */
static const char *const device_type_names[] = {
	[NM_DEVICE_TYPE_UNKNOWN] = "unknown",
	[NM_DEVICE_TYPE_ETHERNET] = "ethernet",
	[NM_DEVICE_TYPE_WIFI] = "wifi",
	[NM_DEVICE_TYPE_UNUSED1] = "unknown",
	[NM_DEVICE_TYPE_UNUSED2] = "unknown",
	[NM_DEVICE_TYPE_BT] = "bt",
	[NM_DEVICE_TYPE_OLPC_MESH] = "olpc-mesh",
	[NM_DEVICE_TYPE_WIMAX] = "wimax",
	[NM_DEVICE_TYPE_MODEM] = "modem",
	[NM_DEVICE_TYPE_INFINIBAND] = "infiniband",
	[NM_DEVICE_TYPE_BOND] = "bond",
	[NM_DEVICE_TYPE_VLAN] = "vlan",
	[NM_DEVICE_TYPE_ADSL] = "adsl",
	[NM_DEVICE_TYPE_BRIDGE] = "bridge",
	[NM_DEVICE_TYPE_GENERIC] = "generic",
	[NM_DEVICE_TYPE_TEAM] = "team",
	[NM_DEVICE_TYPE_TUN] = "tun",
	[NM_DEVICE_TYPE_IP_TUNNEL] = "ip-tunnel",
	[NM_DEVICE_TYPE_MACVLAN] = "macvlan",
	[NM_DEVICE_TYPE_VXLAN] = "vxlan",
	[NM_DEVICE_TYPE_VETH] = "veth",
	[NM_DEVICE_TYPE_MACSEC] = "macsec",
	[NM_DEVICE_TYPE_DUMMY] = "dummy",
	[NM_DEVICE_TYPE_PPP] = "ppp",
	[NM_DEVICE_TYPE_OVS_INTERFACE] = "ovs-interface",
	[NM_DEVICE_TYPE_OVS_PORT] = "ovs-port",
	[NM_DEVICE_TYPE_OVS_BRIDGE] = "ovs-bridge",
	[NM_DEVICE_TYPE_WPAN] = "wpan",
	[NM_DEVICE_TYPE_6LOWPAN] = "6lowpan",
	[NM_DEVICE_TYPE_WIREGUARD] = "wireguard",
	[NM_DEVICE_TYPE_WIFI_P2P] = "wifi-p2p",
	[NM_DEVICE_TYPE_VRF] = "vrf",
	[NM_DEVICE_TYPE_LOOPBACK] = "loopback",
};

const char *nmmap_device_type_to_str(unsigned int device_type)
{
	if (device_type >= ARRAY_SIZE(device_type_names) ||
	    !device_type_names[device_type])
		return "unknown";
	return device_type_names[device_type];
}

static const struct {
	unsigned int bit;
	const char *name;
} modem_caps[] = {
	{ NM_DEVICE_MODEM_CAPABILITY_POTS, "pots" },
	{ NM_DEVICE_MODEM_CAPABILITY_CDMA_EVDO, "cdma-evdo" },
	{ NM_DEVICE_MODEM_CAPABILITY_GSM_UMTS, "gsm-umts" },
	{ NM_DEVICE_MODEM_CAPABILITY_LTE, "lte" },
	{ NM_DEVICE_MODEM_CAPABILITY_5GNR, "5gnr" },
};

size_t nmmap_modem_caps_to_str(unsigned int caps, char *buf, size_t size)
{
	size_t len = 0;

	if (size)
		buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(modem_caps); i++) {
		int r;

		if (!(caps & modem_caps[i].bit))
			continue;
		r = snprintf(len < size ? buf + len : NULL,
			     len < size ? size - len : 0, "%s%s",
			     len ? "," : "", modem_caps[i].name);
		if (r > 0)
			len += (size_t)r;
	}
	return len;
}

size_t nmmap_ssid_to_str(const void *ssid, size_t len, char *buf, size_t size)
{
	const unsigned char *p = ssid;
	size_t out = 0;

	if (size == 0)
		return 0;
	if (len > NMMAP_SSID_MAX)
		len = NMMAP_SSID_MAX;
	for (size_t i = 0; i < len;) {
		char esc[8];
		const char *piece = esc;
		size_t n;
		gunichar c;

		c = g_utf8_get_char_validated((const char *)p + i,
					      (gssize)(len - i));
		if (c == (gunichar)-1 || c == (gunichar)-2 ||
		    !g_unichar_isprint(c)) {
			snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
			n = 4;
			i++;
		} else if (c == '\\') {
			piece = "\\\\";
			n = 2;
			i++;
		} else {
			piece = (const char *)p + i;
			n = (size_t)g_unichar_to_utf8(c, NULL);
			i += n;
		}
		if (out + n >= size)
			break;
		memcpy(buf + out, piece, n);
		out += n;
	}
	buf[out] = '\0';
	return out;
}

static int nmmap_unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* D-Bus specification, "Server Addresses": entries are separated by ';',
 * a transport name is followed by ':' and comma-separated key=value
 * pairs whose values may contain %-escaped bytes. */
char *nmmap_bus_socket_path(const char *address)
{
	const char *entry = address;

	while (entry && *entry) {
		const char *end = strchr(entry, ';');
		size_t elen = end ? (size_t)(end - entry) : strlen(entry);

		if (elen > 5 && strncmp(entry, "unix:", 5) == 0) {
			const char *kv = entry + 5, *eend = entry + elen;

			while (kv < eend) {
				const char *comma = memchr(kv, ',', (size_t)(eend - kv));
				const char *kvend = comma ? comma : eend;

				if ((size_t)(kvend - kv) > 5 &&
				    strncmp(kv, "path=", 5) == 0) {
					const char *v = kv + 5;
					char *path = malloc((size_t)(kvend - v) + 1);
					size_t n = 0;

					if (!path)
						return NULL;
					while (v < kvend) {
						int hi, lo;

						if (*v != '%') {
							path[n++] = *v++;
							continue;
						}
						if (kvend - v < 3 ||
						    (hi = nmmap_unhex(v[1])) < 0 ||
						    (lo = nmmap_unhex(v[2])) < 0 ||
						    (hi == 0 && lo == 0)) {
							free(path);
							return NULL;
						}
						path[n++] = (char)(hi << 4 | lo);
						v += 3;
					}
					path[n] = '\0';
					return path;
				}
				kv = comma ? comma + 1 : eend;
			}
		}
		entry = end ? end + 1 : NULL;
	}
	return NULL;
}

/* DESIGN.md section 1: wifi, cellular, ethernet, vpn, other. */
static const struct {
	const char *name;
	enum iap_kind kind;
} kind_by_device[] = {
	{ "wifi", IAP_KIND_WIFI },
	{ "modem", IAP_KIND_CELLULAR },
	{ "ethernet", IAP_KIND_ETHERNET },
	{ "veth", IAP_KIND_ETHERNET },
	{ "wireguard", IAP_KIND_VPN },
	{ "tun", IAP_KIND_VPN },
}, kind_by_conn[] = {
	{ NM_SETTING_WIRELESS_SETTING_NAME, IAP_KIND_WIFI },       /* 802-11-wireless */
	{ NM_SETTING_GSM_SETTING_NAME, IAP_KIND_CELLULAR },
	{ NM_SETTING_CDMA_SETTING_NAME, IAP_KIND_CELLULAR },
	{ NM_SETTING_WIRED_SETTING_NAME, IAP_KIND_ETHERNET },      /* 802-3-ethernet */
	{ NM_SETTING_VETH_SETTING_NAME, IAP_KIND_ETHERNET },
	{ NM_SETTING_WIREGUARD_SETTING_NAME, IAP_KIND_VPN },
	{ NM_SETTING_TUN_SETTING_NAME, IAP_KIND_VPN },
	{ NM_SETTING_VPN_SETTING_NAME, IAP_KIND_VPN },
};

enum iap_kind nmmon_kind_for(const char *device_type, const char *conn_type, bool vpn)
{
	if (vpn)
		return IAP_KIND_VPN;
	/* The device says what the link is; the connection type only
	 * helps while a connection has no device yet. */
	if (device_type && *device_type)
		for (size_t i = 0; i < ARRAY_SIZE(kind_by_device); i++)
			if (strcmp(device_type, kind_by_device[i].name) == 0)
				return kind_by_device[i].kind;
	if (conn_type && *conn_type)
		for (size_t i = 0; i < ARRAY_SIZE(kind_by_conn); i++)
			if (strcmp(conn_type, kind_by_conn[i].name) == 0)
				return kind_by_conn[i].kind;
	return IAP_KIND_OTHER;
}
