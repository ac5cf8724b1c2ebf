#!/usr/bin/python3
"""python3-dbusmock's NetworkManager template on a private system bus: the
Wi-Fi access points and modems that cannot be real in a test machine (no
mac80211_hwsim, no ModemManager).  Standard library only: the mock is
driven with gdbus(1) from GLib, in GVariant text syntax.

    bus = SystemBus(tmp); bus.start()              # networkmanager.py
    mock = NMMock(bus, tmp); mock.start()
    wifi = mock.add_wifi("wlan0", ssid="HomeNet", bssid="00:11:22:33:44:55",
                         strength=82, conn_id="HomeNet", uuid=...)
    mock.set_strength(wifi, 40)
    modem = mock.add_modem("wwan0", conn_id="Mobile", uuid=..., caps=4 | 8)
    mock.set_metered(modem, True)
    mock.set_primary(wifi)
    mock.deactivate(modem)
    mock.cleanup()

Facts verified against python3-dbusmock 0.28.7 (Debian 12) and libnm 1.42:

- Run as `/usr/bin/python3 -m dbusmock --template networkmanager` (the
  Debian module, not a pyenv python); the template puts itself on the
  system bus (DBUS_SYSTEM_BUS_ADDRESS) as org.freedesktop.NetworkManager
  with an ObjectManager at /org/freedesktop, which libnm reads with
  GetManagedObjects.  `gdbus wait` tells when the name is there.
- The template's D-Bus "Mock" methods (AddWiFiDevice, AddAccessPoint,
  AddActiveConnection, ...) live on /org/freedesktop.  AddAccessPoint
  takes a security value from the template's own table: 0 (open) or 256
  (NM_802_11_AP_SEC_KEY_MGMT_PSK); others raise KeyError later.
- The template has no Device.Wireless.ActiveAccessPoint, no manager
  PrimaryConnection and no Device.Metered: the Mock interface's AddProperty
  adds one silently; the standard Properties.Set then changes it and emits
  org.freedesktop.DBus.Properties.PropertiesChanged, which is what libnm
  reads.  (Mock.UpdateProperties would too, but fails on object paths.)
- It has no modem at all: AddObject with Device.Modem, AddProperties for
  the Device interface, then ObjectManager.InterfacesAdded emitted by hand
  (AddObject never emits it), then the manager's Devices property.
- Settings.AddConnection with our own settings gives the UUID and id we
  want; AddActiveConnection([device], connection, specific object, name,
  state) makes the active connection (Type, Id, Uuid from the settings),
  marks the device activated and updates the manager's ActiveConnections.
- libnm resolves an active connection's device through the ObjectManager:
  a device object must have been announced (InterfacesAdded) before the
  active connection that names it.
"""

import os
import re
import subprocess

from networkmanager import (FixtureError, T, log_tail, run, terminate)

PYTHON = "/usr/bin/python3"
GDBUS = "/usr/bin/gdbus"
NM_NAME = "org.freedesktop.NetworkManager"
MAIN = "/org/freedesktop"
MANAGER = "/org/freedesktop/NetworkManager"
SETTINGS = "/org/freedesktop/NetworkManager/Settings"
MOCK = "org.freedesktop.DBus.Mock"
MANAGER_IFACE = "org.freedesktop.NetworkManager"
DEVICE_IFACE = "org.freedesktop.NetworkManager.Device"
WIRELESS_IFACE = "org.freedesktop.NetworkManager.Device.Wireless"
MODEM_IFACE = "org.freedesktop.NetworkManager.Device.Modem"
AP_IFACE = "org.freedesktop.NetworkManager.AccessPoint"
SETTINGS_IFACE = "org.freedesktop.NetworkManager.Settings"
OBJMGR_IFACE = "org.freedesktop.DBus.ObjectManager"

DEVICE_TYPE_MODEM = 8
DEVICE_STATE_ACTIVATED = 100
AC_STATE_ACTIVATED = 2
MODE_INFRA = 2
SEC_PSK = 256
METERED_YES = 1
METERED_NO = 2
MODEM_GSM_UMTS = 0x4
MODEM_LTE = 0x8


# -- GVariant text ----------------------------------------------------------

def gv_str(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def gv_path(p):
    return "objectpath " + gv_str(p)


def gv_dict(d):
    """{name: 'already GVariant text'} -> a{sv} text."""
    if not d:
        return "@a{sv} {}"
    return "{" + ", ".join(f"{gv_str(k)}: <{v}>" for k, v in d.items()) + "}"


def gv_settings(settings):
    """{setting: {key: 'GVariant text'}} -> a{sa{sv}} text."""
    return "{" + ", ".join(f"{gv_str(s)}: {gv_dict(kv)}"
                           for s, kv in settings.items()) + "}"


def gv_bytes(b):
    return "@ay [" + ", ".join(f"byte {x:#04x}" for x in b) + "]" \
        if b else "@ay []"


PATH_RE = re.compile(r"'(/[^']*)'")


class Device:
    def __init__(self, path, iface):
        self.path = path
        self.iface = iface
        self.ap = None           # Wi-Fi: access point path
        self.conn = None         # settings connection path
        self.active = None       # active connection path
        self.uuid = None
        self.has_metered = False


class NMMock:
    def __init__(self, bus, tmp):
        self.bus = bus
        self.log_path = os.path.join(tmp, "nmmock.log")
        self.proc = None
        self.devices = {}

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "dbusmock", "--template", "networkmanager"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=self.bus.env(), start_new_session=True)
        r = run([GDBUS, "wait", "--address", self.bus.address, "--timeout",
                 str(max(int(T(20)), 1)), NM_NAME], check=False,
                timeout=T(30))
        if r.returncode != 0 or self.proc.poll() is not None:
            self.cleanup()
            raise FixtureError("dbusmock did not take "
                               f"{NM_NAME}: {r.stderr.strip()}\n" +
                               log_tail(self.log_path))

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def cleanup(self):
        proc, self.proc = self.proc, None
        terminate(proc)

    # -- calls -----------------------------------------------------------

    def call(self, path, method, *args):
        """gdbus call; returns its output (GVariant text)."""
        r = run([GDBUS, "call", "--address", self.bus.address,
                 "--dest", NM_NAME, "--object-path", path,
                 "--method", method] + [str(a) for a in args],
                check=False, timeout=T(30))
        if r.returncode != 0:
            raise FixtureError(f"{method} on {path} failed: "
                               f"{r.stderr.strip()}\n" +
                               log_tail(self.log_path, 10))
        return r.stdout

    def mock(self, method, *args, path=MAIN):
        return self.call(path, f"{MOCK}.{method}", *args)

    def add_property(self, path, iface, name, value):
        self.call(path, f"{MOCK}.AddProperty", gv_str(iface), gv_str(name),
                  f"<{value}>")

    def update(self, path, iface, props):
        """Change properties, each with org.freedesktop.DBus.Properties.Set,
        which makes the mock emit PropertiesChanged.  (The Mock interface's
        UpdateProperties fails on object paths in dbusmock 0.28.7:
        'dbus.ObjectPath' object has no attribute 'conjugate'.)"""
        for name, value in props.items():
            self.call(path, "org.freedesktop.DBus.Properties.Set",
                      gv_str(iface), gv_str(name), f"<{value}>")

    def set_new_property(self, path, iface, name, value):
        """A property the template lacks: add it, then announce it."""
        self.add_property(path, iface, name, value)
        self.update(path, iface, {name: value})

    def add_connection(self, settings):
        out = self.call(SETTINGS, f"{SETTINGS_IFACE}.AddConnection",
                        gv_settings(settings))
        return PATH_RE.search(out).group(1)

    def activate(self, dev, conn, specific="/"):
        out = self.mock("AddActiveConnection",
                        f"[{gv_str(dev.path)}]", gv_str(conn),
                        gv_str(specific), gv_str("ac_" + dev.iface),
                        f"uint32 {AC_STATE_ACTIVATED}")
        dev.active = PATH_RE.search(out).group(1)
        return dev.active

    def deactivate(self, dev):
        """The active connection goes (the device stays)."""
        self.mock("RemoveActiveConnection", gv_str(dev.path),
                  gv_str(dev.active))
        dev.active = None

    # -- Wi-Fi -----------------------------------------------------------

    def add_wifi(self, iface, ssid, bssid, strength, conn_id, uuid,
                 security=SEC_PSK, frequency=2437):
        out = self.mock("AddWiFiDevice", gv_str(iface), gv_str(iface),
                        f"int32 {DEVICE_STATE_ACTIVATED}")
        dev = Device(PATH_RE.search(out).group(1), iface)
        out = self.mock("AddAccessPoint", gv_str(dev.path),
                        gv_str("ap_" + iface), gv_str(ssid), gv_str(bssid),
                        f"uint32 {MODE_INFRA}", f"uint32 {frequency}",
                        "uint32 54000", f"byte {strength}",
                        f"uint32 {security}")
        dev.ap = PATH_RE.search(out).group(1)
        # Before the active connection, so that it arrives complete.
        self.set_new_property(dev.path, WIRELESS_IFACE, "ActiveAccessPoint",
                              gv_path(dev.ap))
        ssid_bytes = ssid.encode()
        dev.conn = self.add_connection({
            "connection": {"id": gv_str(conn_id), "uuid": gv_str(uuid),
                           "type": gv_str("802-11-wireless")},
            "802-11-wireless": {"ssid": gv_bytes(ssid_bytes),
                                "mode": gv_str("infrastructure")},
        })
        dev.uuid = uuid
        self.activate(dev, dev.conn, dev.ap)
        self.devices[iface] = dev
        return dev

    def set_strength(self, dev, strength):
        self.update(dev.ap, AP_IFACE, {"Strength": f"byte {strength}"})

    def set_ssid_bytes(self, dev, raw):
        self.update(dev.ap, AP_IFACE, {"Ssid": gv_bytes(raw)})

    def set_ap_frequency(self, dev, mhz):
        """A property alrd does not report."""
        self.update(dev.ap, AP_IFACE, {"Frequency": f"uint32 {mhz}"})

    # -- modem -----------------------------------------------------------

    def add_modem(self, iface, conn_id, uuid, caps=MODEM_GSM_UMTS | MODEM_LTE,
                  control="cdc-wdm0"):
        path = f"{MANAGER}/Devices/{iface}"
        modem_props = {
            "ModemCapabilities": f"uint32 {caps}",
            "CurrentCapabilities": f"uint32 {caps}",
            "DeviceId": gv_str("dbusmock-modem"),
            "OperatorCode": gv_str("00101"),
            "Apn": gv_str("internet"),
        }
        device_props = {
            "DeviceType": f"uint32 {DEVICE_TYPE_MODEM}",
            "State": f"uint32 {DEVICE_STATE_ACTIVATED}",
            "StateReason": f"(uint32 {DEVICE_STATE_ACTIVATED}, uint32 0)",
            "Interface": gv_str(control),
            "IpInterface": gv_str(iface),
            "ActiveConnection": gv_path("/"),
            "AvailableConnections": "@ao []",
            "Managed": "true",
            "Driver": gv_str("dbusmock"),
            "Metered": f"uint32 {METERED_NO}",
        }
        self.mock("AddObject", gv_str(path), gv_str(MODEM_IFACE),
                  gv_dict(modem_props), "@a(ssss) []")
        self.call(path, f"{MOCK}.AddProperties", gv_str(DEVICE_IFACE),
                  gv_dict(device_props))
        # AddObject announces nothing: InterfacesAdded by hand.
        ifaces = "{" + f"{gv_str(DEVICE_IFACE)}: {gv_dict(device_props)}, " \
            f"{gv_str(MODEM_IFACE)}: {gv_dict(modem_props)}" + "}"
        self.mock("EmitSignal", gv_str(OBJMGR_IFACE),
                  gv_str("InterfacesAdded"), gv_str("oa{sa{sv}}"),
                  f"[<{gv_path(path)}>, <@a{{sa{{sv}}}} {ifaces}>]")
        devices = [d.path for d in self.devices.values()] + [path]
        self.update(MANAGER, MANAGER_IFACE, {
            "Devices": "@ao [" + ", ".join(gv_path(p) for p in devices) + "]"
        })
        dev = Device(path, iface)
        dev.conn = self.add_connection({
            "connection": {"id": gv_str(conn_id), "uuid": gv_str(uuid),
                           "type": gv_str("gsm")},
            "gsm": {"apn": gv_str("internet")},
        })
        dev.uuid = uuid
        dev.has_metered = True
        self.activate(dev, dev.conn)
        self.devices[iface] = dev
        return dev

    # -- device and manager ----------------------------------------------

    def set_metered(self, dev, metered):
        value = f"uint32 {METERED_YES if metered else METERED_NO}"
        if not dev.has_metered:          # the template's Wi-Fi has none
            self.add_property(dev.path, DEVICE_IFACE, "Metered", value)
            dev.has_metered = True
        self.update(dev.path, DEVICE_IFACE, {"Metered": value})

    def set_primary(self, dev):
        """The manager's PrimaryConnection (absent from the template)."""
        value = gv_path(dev.active if dev else "/")
        if not getattr(self, "_have_primary", False):
            self.add_property(MANAGER, MANAGER_IFACE, "PrimaryConnection",
                              value)
            self._have_primary = True
        self.update(MANAGER, MANAGER_IFACE, {"PrimaryConnection": value})


def have_dbusmock():
    """'' when python3-dbusmock and gdbus are usable, else the reason."""
    if not os.access(GDBUS, os.X_OK):
        return GDBUS + " missing"
    r = subprocess.run([PYTHON, "-c", "import dbusmock"], capture_output=True,
                       text=True)
    if r.returncode != 0:
        return "python3-dbusmock missing: " + r.stderr.strip()[-200:]
    return ""
