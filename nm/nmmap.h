/*
 * Pure mappings from NetworkManager's values to the strings nmmon hands
 * out: no I/O, no GLib types, table-tested by tests/unit/test-nm-map.c.
 * Private to nm/ (nmmon_kind_for() is public, in nmmon.h).
 */
#pragma once

#include <stddef.h>

/* An SSID is at most 32 bytes; escaped, at most 4 characters each. */
#define NMMAP_SSID_MAX		32
#define NMMAP_SSID_STR_MAX	(NMMAP_SSID_MAX * 4 + 1)

/* NMDeviceType -> NetworkManager's own name for it ("ethernet", "wifi",
 * "modem", "veth", "wireguard", ...); "unknown" for anything else. */
const char *nmmap_device_type_to_str(unsigned int device_type);

/* NMDeviceModemCapabilities -> "gsm-umts,lte" (comma-separated, in bit
 * order); "" for none.  Unknown bits are ignored.  Returns the length of
 * the full string, like snprintf(). */
size_t nmmap_modem_caps_to_str(unsigned int caps, char *buf, size_t size);

/* SSID bytes -> a printable string: valid, printable UTF-8 is kept, a
 * backslash becomes "\\", every other byte "\xNN".  Independent of the
 * locale (nm_utils_ssid_to_utf8() is not, and cuts at a NUL byte).  At
 * most NMMAP_SSID_MAX bytes are read.  Escapes are never cut in half.
 * Returns the length written (buf is always terminated if size > 0). */
size_t nmmap_ssid_to_str(const void *ssid, size_t len, char *buf, size_t size);

/* The socket path of the first "unix:path=" entry of a D-Bus address
 * ("unix:path=/run/dbus/system_bus_socket;tcp:..."), %-escapes decoded;
 * NULL when there is none (abstract sockets, tcp) or on a malformed
 * escape.  The caller frees it with free(). */
char *nmmap_bus_socket_path(const char *address);
