/*
 * The NetworkManager monitor's pure mappings (nm/nmmap.c and
 * nmmon_kind_for()): kinds, device types, modem capabilities, SSIDs, bus
 * addresses.
 */
#include "nm/nmmap.h"
#include "nm/nmmon.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <NetworkManager.h>

#include "base/util.h"

static void test_kind_for(void **state)
{
	static const struct {
		const char *device_type;
		const char *conn_type;
		bool vpn;
		const char *kind;
	} cases[] = {
		/* the device decides */
		{ "wifi", "802-11-wireless", false, "wifi" },
		{ "modem", "gsm", false, "cellular" },
		{ "modem", "cdma", false, "cellular" },
		{ "ethernet", "802-3-ethernet", false, "ethernet" },
		{ "veth", "802-3-ethernet", false, "ethernet" },
		{ "veth", "veth", false, "ethernet" },
		{ "wireguard", "wireguard", false, "vpn" },
		{ "tun", "tun", false, "vpn" },
		{ "ethernet", "pppoe", false, "ethernet" },
		/* a VPN plugin connection runs over its parent's device */
		{ "ethernet", "vpn", true, "vpn" },
		{ "wifi", "vpn", true, "vpn" },
		{ "", "vpn", true, "vpn" },
		/* no device yet: the connection type */
		{ "", "802-11-wireless", false, "wifi" },
		{ NULL, "gsm", false, "cellular" },
		{ "", "cdma", false, "cellular" },
		{ "", "802-3-ethernet", false, "ethernet" },
		{ "", "wireguard", false, "vpn" },
		{ "", "vpn", false, "vpn" },
		{ "", "tun", false, "vpn" },
		/* devices that are none of ours, known connection types */
		{ "bt", "gsm", false, "cellular" },
		{ "bond", "bond", false, "other" },
		{ "bridge", "bridge", false, "other" },
		{ "bt", "bluetooth", false, "other" },
		{ "loopback", "loopback", false, "other" },
		{ "unknown", "", false, "other" },
		{ "", "", false, "other" },
		{ NULL, NULL, false, "other" },
		/* case matters: these are NetworkManager's own names */
		{ "WiFi", "802-11-WIRELESS", false, "other" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *got = iap_kind_to_str(nmmon_kind_for(cases[i].device_type,
						 cases[i].conn_type,
						 cases[i].vpn));

		if (strcmp(got, cases[i].kind) != 0)
			fail_msg("case %zu (%s, %s, %d): got %s, want %s", i,
				 cases[i].device_type, cases[i].conn_type,
				 cases[i].vpn, got, cases[i].kind);
	}
}

static void test_device_type(void **state)
{
	static const struct {
		unsigned int type;
		const char *name;
	} cases[] = {
		{ NM_DEVICE_TYPE_ETHERNET, "ethernet" },
		{ NM_DEVICE_TYPE_WIFI, "wifi" },
		{ NM_DEVICE_TYPE_MODEM, "modem" },
		{ NM_DEVICE_TYPE_VETH, "veth" },
		{ NM_DEVICE_TYPE_WIREGUARD, "wireguard" },
		{ NM_DEVICE_TYPE_TUN, "tun" },
		{ NM_DEVICE_TYPE_BT, "bt" },
		{ NM_DEVICE_TYPE_LOOPBACK, "loopback" },
		{ NM_DEVICE_TYPE_UNKNOWN, "unknown" },
		{ NM_DEVICE_TYPE_UNUSED1, "unknown" },
		{ NM_DEVICE_TYPE_LOOPBACK + 1, "unknown" },
		{ 1000, "unknown" },
		{ UINT32_MAX, "unknown" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		assert_string_equal(nmmap_device_type_to_str(cases[i].type),
				    cases[i].name);
	/* Every device type NetworkManager sends maps to a kind the same
	 * way nmcli names it. */
	assert_int_equal(nmmon_kind_for(nmmap_device_type_to_str(
		NM_DEVICE_TYPE_MODEM), "", false), IAP_KIND_CELLULAR);
}

static void test_modem_caps(void **state)
{
	static const struct {
		unsigned int caps;
		const char *str;
	} cases[] = {
		{ NM_DEVICE_MODEM_CAPABILITY_NONE, "" },
		{ NM_DEVICE_MODEM_CAPABILITY_GSM_UMTS, "gsm-umts" },
		{ NM_DEVICE_MODEM_CAPABILITY_LTE, "lte" },
		{ NM_DEVICE_MODEM_CAPABILITY_GSM_UMTS |
		  NM_DEVICE_MODEM_CAPABILITY_LTE, "gsm-umts,lte" },
		{ NM_DEVICE_MODEM_CAPABILITY_POTS |
		  NM_DEVICE_MODEM_CAPABILITY_CDMA_EVDO |
		  NM_DEVICE_MODEM_CAPABILITY_GSM_UMTS |
		  NM_DEVICE_MODEM_CAPABILITY_LTE |
		  NM_DEVICE_MODEM_CAPABILITY_5GNR,
		  "pots,cdma-evdo,gsm-umts,lte,5gnr" },
		{ 0x10 | 0x20 | 0x80000000u, "" },      /* unknown bits */
		{ 0x10 | NM_DEVICE_MODEM_CAPABILITY_5GNR, "5gnr" },
	};
	char buf[64];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t n = nmmap_modem_caps_to_str(cases[i].caps, buf,
						   sizeof(buf));

		assert_string_equal(buf, cases[i].str);
		assert_int_equal(n, strlen(cases[i].str));
	}
	/* Too small: cut, terminated, the full length returned. */
	assert_int_equal(nmmap_modem_caps_to_str(
		NM_DEVICE_MODEM_CAPABILITY_GSM_UMTS |
		NM_DEVICE_MODEM_CAPABILITY_LTE, buf, 6), strlen("gsm-umts,lte"));
	assert_string_equal(buf, "gsm-u");
	assert_int_equal(nmmap_modem_caps_to_str(
		NM_DEVICE_MODEM_CAPABILITY_LTE, NULL, 0), 3);
}

static void test_ssid(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
		const char *str;
	} cases[] = {
		{ "HomeNet", 7, "HomeNet" },
		{ "", 0, "" },
		{ "My Wi-Fi", 8, "My Wi-Fi" },
		{ "Caf\xc3\xa9", 5, "Caf\xc3\xa9" },                 /* UTF-8 kept */
		{ "\xe2\x98\x95 coffee", 10, "\xe2\x98\x95 coffee" },
		{ "Caf\xe9", 4, "Caf\\xe9" },                        /* Latin-1 */
		{ "a\0b", 3, "a\\x00b" },                            /* NUL */
		{ "a\nb\x01", 4, "a\\x0ab\\x01" },                   /* controls */
		{ "a\\b", 3, "a\\\\b" },                             /* backslash */
		{ "\xc3", 1, "\\xc3" },                              /* cut UTF-8 */
		{ "\xc3\xa9\xc3", 3, "\xc3\xa9\\xc3" },
		{ "\x7f", 1, "\\x7f" },                              /* DEL */
		{ "\xed\xa0\x80", 3, "\\xed\\xa0\\x80" },            /* surrogate */
	};
	char buf[NMMAP_SSID_STR_MAX];
	char ssid[40];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		nmmap_ssid_to_str(cases[i].bytes, cases[i].len, buf,
				  sizeof(buf));
		assert_string_equal(buf, cases[i].str);
	}

	/* The worst case fits; longer input is cut at 32 bytes. */
	memset(ssid, 0xff, sizeof(ssid));
	assert_int_equal(nmmap_ssid_to_str(ssid, sizeof(ssid), buf,
					   sizeof(buf)), 4 * NMMAP_SSID_MAX);
	assert_int_equal(strlen(buf), 4 * NMMAP_SSID_MAX);
	memset(ssid, 'x', sizeof(ssid));
	assert_int_equal(nmmap_ssid_to_str(ssid, sizeof(ssid), buf,
					   sizeof(buf)), NMMAP_SSID_MAX);

	/* A small buffer never holds half an escape. */
	assert_int_equal(nmmap_ssid_to_str("ab\xff", 3, buf, 5), 2);
	assert_string_equal(buf, "ab");
	assert_int_equal(nmmap_ssid_to_str("\xc3\xa9", 2, buf, 2), 0);
	assert_string_equal(buf, "");
}

static void test_bus_path(void **state)
{
	static const struct {
		const char *address;
		const char *path;
	} cases[] = {
		{ "unix:path=/run/dbus/system_bus_socket",
		  "/run/dbus/system_bus_socket" },
		{ "unix:path=/var/run/dbus/system_bus_socket,guid=0123",
		  "/var/run/dbus/system_bus_socket" },
		{ "unix:guid=0123,path=/tmp/a%20b", "/tmp/a b" },
		{ "unix:abstract=/tmp/dbus-x;unix:path=/tmp/s", "/tmp/s" },
		{ "tcp:host=localhost,port=1;unix:path=/s", "/s" },
		{ "unix:path=/tmp/%2Fx%2c", "/tmp//x," },
		{ "unix:abstract=/tmp/dbus-x", NULL },
		{ "tcp:host=localhost,port=1", NULL },
		{ "unix:path=/tmp/bad%2", NULL },
		{ "unix:path=/tmp/bad%zz", NULL },
		{ "unix:path=/tmp/nul%00", NULL },
		{ "unix:", NULL },
		{ "unix:path=", NULL },
		{ "", NULL },
		{ ";;", NULL },
		{ "unixpath=/x", NULL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *p = nmmap_bus_socket_path(cases[i].address);

		if (cases[i].path)
			assert_string_equal(p, cases[i].path);
		else if (p)
			fail_msg("%s: got %s, want none", cases[i].address, p);
		free(p);
	}
}

static void test_conn_state_names(void **state)
{
	assert_string_equal(nmmon_conn_state_to_str(NMMON_CONN_ACTIVATING),
			    "activating");
	assert_string_equal(nmmon_conn_state_to_str(NMMON_CONN_ACTIVATED),
			    "activated");
	assert_string_equal(nmmon_conn_state_to_str(NMMON_CONN_DEACTIVATING),
			    "deactivating");
	assert_string_equal(nmmon_conn_state_to_str((enum nmmon_conn_state)42),
			    "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_for),
		cmocka_unit_test(test_device_type),
		cmocka_unit_test(test_modem_caps),
		cmocka_unit_test(test_ssid),
		cmocka_unit_test(test_bus_path),
		cmocka_unit_test(test_conn_state_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
