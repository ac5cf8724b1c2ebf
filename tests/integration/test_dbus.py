#!/usr/bin/python3
"""The D-Bus interface (docs/dbus.md): org.alrd.Roaming1 on a private
dbus-daemon, beside the control socket.

alrd runs in the test's device namespace with [dbus] address naming a
private bus (a dbus-daemon started here by pid, everything allowed to
everyone, so that alrd itself has to refuse); the test talks to it with
python3-dbus and busctl, and compares with the control socket's view.

  test_introspect_and_iaps      busctl introspect shows the interfaces;
                                the IAP objects are iap.list's; a carrier
                                loss is PropertiesChanged (Available,
                                Reason); daemon.info names the bus
  test_profile_objects          a profile created over the socket appears
                                (InterfacesAdded) with its properties,
                                Enable/Disable as root count a user,
                                uid nobody is refused Enable and Allow,
                                bad input gets InvalidArgs/UnknownObject,
                                delete is InterfacesRemoved
  test_controller_migrates      (Kamailio) a D-Bus controller gets
                                IAPAvailable, answers Allow; the profile
                                migrates (the registrar's bindings)
  test_controller_leaving_is_released
                                (Kamailio) a controller that leaves the
                                bus is released: the offer is decided at
                                once, long before approval-timeout
  test_no_bus                   alrd starts and serves without a bus,
                                and is on it once it appears
  test_bus_restart              dbus-daemon restarted: alrd is back on
                                the new bus with its objects and signals

Needs root; exits 77 (skipped) without it.  The Kamailio tests skip
without Kamailio.

Usage: test_dbus.py [-b BUILD_DIR] [NAME_SUBSTRING ...]
"""

import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "peers"))

import alrtest  # noqa: E402
from alrtest import Skip, T, TestFailure, check, check_eq  # noqa: E402
import networkmanager as nmfix  # noqa: E402

try:
    import dbus
    import dbus.mainloop.glib
    from gi.repository import GLib
except ImportError:                 # pragma: no cover
    dbus = None

NAME = "org.alrd.Roaming1"
ROOT = "/org/alrd/Roaming1"
IFACE_IAP = NAME + ".IAP"
IFACE_PROFILE = NAME + ".Profile"
IFACE_SNAP = NAME + ".SNAP"
PROPS = "org.freedesktop.DBus.Properties"
OM = "org.freedesktop.DBus.ObjectManager"
BUSCTL = "/usr/bin/busctl"

def bus_config(policy, extra=''):
    """A dbus-daemon configuration listening on {socket} (left for
    str.format) with @policy as its default policy."""
    return ('<!DOCTYPE busconfig PUBLIC\n'
            ' "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"\n'
            ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n'
            '<!-- written by tests/integration/test_dbus.py -->\n'
            '<busconfig>\n'
            '  <type>system</type>\n'
            '  <listen>unix:path={socket}</listen>\n'
            '  <auth>EXTERNAL</auth>\n'
            + policy + '  </policy>\n' + extra + '</busconfig>\n')


# Everyone may own, send and receive: alrd's own check is what is tested.
OPEN_BUS_CONFIG = bus_config("""  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow send_type="method_call"/>
    <allow receive_sender="*"/>
""")



# The system bus's own defaults (Debian's /usr/share/dbus-1/system.conf:
# method calls denied unless a policy allows them) and the policy file
# alrd ships.
SYSTEM_BUS_CONFIG = bus_config("""  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
""", '  <include>POLICY</include>\n')
POLICY_FILE = os.path.join(HERE, "..", "..", "contrib", "org.alrd.Roaming1.conf")


class _Cleanup:
    def __init__(self, fn):
        self.fn = fn

    def cleanup(self):
        self.fn()


def private_bus(fx, config=OPEN_BUS_CONFIG):
    """A dbus-daemon on a socket in a directory uid nobody can reach;
    stopped (by pid) after the test."""
    if dbus is None:
        raise Skip("python3-dbus or python3-gi missing")
    if not os.access(nmfix.DBUS_DAEMON, os.X_OK):
        raise Skip("no dbus-daemon")
    tmp = tempfile.mkdtemp(prefix="alrt-dbus-")
    os.chmod(tmp, 0o755)
    bus = nmfix.SystemBus(tmp, config=config)

    def stop():
        bus.stop()
        if not os.environ.get("ALR_KEEP"):
            nmfix.remove_tree(tmp)
    fx._objs.append(_Cleanup(stop))
    bus.start()
    os.chmod(bus.dir, 0o755)
    return bus


def dbus_daemon(fx, w, bus, config=None, start=True):
    cfg = {"dbus": {"address": bus.address}}
    for section, items in (config or {}).items():
        cfg.setdefault(section, {}).update(items)
    return fx.daemon(w, cfg, start=start)


class Conn:
    """A python3-dbus connection to the private bus that records every
    signal from alrd (PropertiesChanged, InterfacesAdded/Removed, the
    profile's roaming signals) in self.signals."""

    def __init__(self, fx, address):
        dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
        self.bus = dbus.bus.BusConnection(address)
        self.signals = []
        self.bus.add_signal_receiver(self._on_signal, sender_keyword="sender",
                                     path_keyword="path", member_keyword="member",
                                     interface_keyword="interface",
                                     destination_keyword="destination",
                                     bus_name=NAME)
        fx._objs.append(_Cleanup(self.close))

    def _on_signal(self, *args, **kw):
        self.signals.append(dict(kw, args=args))

    def close(self):
        if self.bus is not None:
            # What arrived is dispatched first: left queued, it would be
            # dispatched in a later test, to a closed connection.
            self.pump()
            self.bus.close()
            self.bus = None

    @property
    def unique_name(self):
        return self.bus.get_unique_name()

    def obj(self, path):
        return self.bus.get_object(NAME, path, introspect=False)

    def call(self, path, iface, method, *args):
        return self.obj(path).get_dbus_method(method, iface)(*args, timeout=T(20))

    def props(self, path, iface):
        return unpy(self.call(path, PROPS, "GetAll", iface))

    def prop(self, path, iface, name):
        return unpy(self.call(path, PROPS, "Get", iface, name))

    def managed(self):
        return unpy(self.call(ROOT, OM, "GetManagedObjects"))

    def error(self, path, iface, method, *args):
        """The D-Bus error name and message of a call that must fail."""
        try:
            self.call(path, iface, method, *args)
        except dbus.exceptions.DBusException as e:
            return e.get_dbus_name(), e.get_dbus_message()
        raise TestFailure(f"{method} on {path} succeeded; expected an error")

    def pump(self, seconds=0.0):
        """Dispatch what arrived (and wait up to @seconds for more)."""
        ctx = GLib.MainContext.default()
        deadline = time.monotonic() + seconds
        while True:
            while ctx.pending():
                ctx.iteration(False)
            left = deadline - time.monotonic()
            if left <= 0:
                return
            fired = []
            tid = GLib.timeout_add(int(min(left, 0.2) * 1000) + 1,
                                   lambda: fired.append(1) or False)
            ctx.iteration(True)
            if not fired:
                GLib.source_remove(tid)

    def wait_signal(self, pred, timeout, what):
        """The first recorded signal (since the start) matching @pred."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for s in self.signals[seen:]:
                if pred(s):
                    return s
            seen = len(self.signals)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure(f"no {what} within {timeout:.0f}s; signals: "
                                  f"{[summary(s) for s in self.signals[-12:]]}")
            self.pump(min(left, 0.5))


def unpy(v):
    """dbus-python values as plain Python values."""
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dbus.String, dbus.ObjectPath)):
        return str(v)
    if isinstance(v, (dbus.Byte, dbus.Int16, dbus.Int32, dbus.Int64,
                      dbus.UInt16, dbus.UInt32, dbus.UInt64)):
        return int(v)
    if isinstance(v, dict):
        return {unpy(k): unpy(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [unpy(x) for x in v]
    return v


def summary(s):
    return f"{s.get('member')}({s.get('path')}, {unpy(list(s['args']))})"[:300]


def props_changed(path, **want):
    def pred(s):
        if s.get("member") != "PropertiesChanged" or s.get("path") != path:
            return False
        changed = unpy(s["args"][1])
        return all(changed.get(k) == v for k, v in want.items())
    return pred


def iap_path(i):
    return f"{ROOT}/IAP/{i}"


def profile_path(i):
    return f"{ROOT}/Profile/{i}"


def busctl(bus, *args, as_nobody=False, check=True):
    argv = [BUSCTL, f"--address={bus.address}"] + list(args)
    if as_nobody:
        argv = alrtest.as_nobody_argv(argv)
    return alrtest.run(argv, check=check, timeout=T(30))


# ---------------------------------------------------------------------------


def test_introspect_and_iaps(fx):
    bus = private_bus(fx)
    w = fx.world()
    d = dbus_daemon(fx, w, bus)
    c = fx.client(d)
    c.subscribe(["iap.*"])
    conn = Conn(fx, bus.address)

    out = busctl(bus, "introspect", NAME, ROOT).stdout
    for needle in (NAME + " ", ".Reload", ".Version", ".Pid",
                   "org.freedesktop.DBus.ObjectManager"):
        check(needle in out, "busctl introspect %s lacks %r:\n%s", ROOT, needle, out)
    check_eq(conn.prop(ROOT, NAME, "Pid"), d.pid, "daemon Pid")
    check_eq(conn.prop(ROOT, NAME, "Version"), c.info()["version"], "daemon Version")
    info = c.info()["dbus"]
    check_eq((info["enabled"], info["connected"], info["bus"], info["name"]),
             (True, True, bus.address, NAME), "daemon.info's dbus")

    # The IAP objects are iap.list's.
    listed = {i["id"]: i for i in c.call("iap.list")["iaps"]}
    managed = conn.managed()
    iaps = {p: ifs[IFACE_IAP] for p, ifs in managed.items() if IFACE_IAP in ifs}
    check_eq(sorted(iaps), sorted(iap_path(i) for i in listed), "IAP objects")
    for i, j in listed.items():
        p = iaps[iap_path(i)]
        check_eq((p["Id"], p["Identity"], p["Name"], p["Interface"], p["Kind"],
                  p["Ifindex"], p["Available"], p["Reason"], p["MTU"], p["MAC"]),
                 (j["id"], j["identity"], j["name"], j["interface"], j["kind"],
                  j["ifindex"], j["available"], j["reason"] or "", j["link"]["mtu"],
                  j["link"]["mac"]), f"IAP {i} over D-Bus vs iap.list")
        check_eq([tuple(a) for a in p["Addresses"]],
                 [(a["address"], a["prefix"], a["family"], a["scope"], a["usable"])
                  for a in j["addresses"]], f"IAP {i} Addresses")
        check_eq((p["DefaultRoute4"], p["DefaultRoute6"]),
                 (j["default_route"]["ipv4"], j["default_route"]["ipv6"]),
                 f"IAP {i} default routes")
    out = busctl(bus, "introspect", NAME, iap_path(min(listed))).stdout
    for needle in (IFACE_IAP, ".Available", ".Addresses", "emits-change"):
        check(needle in out, "busctl introspect of an IAP lacks %r:\n%s", needle, out)
    snaps = {p: ifs[IFACE_SNAP] for p, ifs in managed.items() if IFACE_SNAP in ifs}
    check_eq(sorted(snaps), [f"{ROOT}/SNAP/0"], "SNAP objects (the default)")
    check_eq(snaps[f"{ROOT}/SNAP/0"]["Ranking"],
             c.call("snap.get", {"id": 0})["snap"]["ranking"], "default SNAP Ranking")

    # A carrier loss: PropertiesChanged with the new values.
    wlan = c.iap("wlan0")["id"]
    w.carrier_down("wlan0")
    alrtest.wait_iap_event(c, "iap.down", "wlan0")
    conn.wait_signal(props_changed(iap_path(wlan), Available=False, Reason="no-carrier"),
                     T(10), "PropertiesChanged(Available=false) of wlan0")
    check_eq(conn.prop(iap_path(wlan), IFACE_IAP, "Available"), False,
             "wlan0 Available after the carrier loss")
    w.carrier_up("wlan0")
    conn.wait_signal(props_changed(iap_path(wlan), Available=True, Reason=""),
                     T(10), "PropertiesChanged(Available=true) of wlan0")

    # A new link is an object (InterfacesAdded), its removal InterfacesRemoved.
    w.add_link("eth7")
    new = c.iap("eth7")["id"]
    s = conn.wait_signal(lambda s: s.get("member") == "InterfacesAdded" and
                         str(s["args"][0]) == iap_path(new), T(10),
                         "InterfacesAdded of eth7")
    check_eq(unpy(s["args"][1])[IFACE_IAP]["Name"], "eth7", "eth7's Name in InterfacesAdded")
    w.delete_link("eth7")
    conn.wait_signal(lambda s: s.get("member") == "InterfacesRemoved" and
                     str(s["args"][0]) == iap_path(new) and
                     IFACE_IAP in unpy(s["args"][1]), T(10),
                     "InterfacesRemoved of eth7")
    name, _ = conn.error(iap_path(new), PROPS, "Get", IFACE_IAP, "Name")
    check_eq(name, "org.freedesktop.DBus.Error.UnknownObject", "a removed IAP")


def simple_profile(user, **kw):
    p = {"provider_name": f"Test {user}", "aor": f"sip:{user}@example.test",
         "registrar": {"uri": "sip:10.99.100.1"}, "expires": 600}
    p.update(kw)
    return p


def test_profile_objects(fx):
    bus = private_bus(fx)
    w = fx.world()
    d = dbus_daemon(fx, w, bus, {"daemon": {"plugin-dir": alrtest.plugin_dir()}})
    c = fx.client(d)
    conn = Conn(fx, bus.address)
    conn.pump()

    pid = c.call("profile.create", {"profile": simple_profile("alice")})["profile"]["id"]
    path = profile_path(pid)
    s = conn.wait_signal(lambda s: s.get("member") == "InterfacesAdded" and
                         str(s["args"][0]) == path, T(10), "InterfacesAdded of the profile")
    added = unpy(s["args"][1])[IFACE_PROFILE]
    want = c.call("profile.get", {"id": pid})["profile"]
    check_eq((added["Id"], added["AOR"], added["ProviderName"], added["Type"],
              added["Registration"], added["Phase"], added["Users"], added["AutoRegister"]),
             (pid, want["aor"], want["provider_name"], want["type"],
              want["state"]["registration"], want["state"]["phase"], 0,
              want["state"]["auto"]), "profile properties in InterfacesAdded")
    out = busctl(bus, "introspect", NAME, path).stdout
    for needle in (".Enable", ".Disable", ".Control", ".Release", ".Allow", ".Disallow",
                   ".Refresh", ".IAPAvailable", ".MigrationCompleted", ".Phase"):
        check(needle in out, "busctl introspect of a profile lacks %r:\n%s", needle, out)

    # Enable counts the caller as a user, until Disable (or it leaves).
    conn.call(path, IFACE_PROFILE, "Enable")
    check_eq(c.call("profile.get", {"id": pid})["profile"]["state"]["users"], 1,
             "users after a D-Bus Enable")
    check_eq(conn.prop(path, IFACE_PROFILE, "Users"), 1, "Users over D-Bus")
    conn.call(path, IFACE_PROFILE, "Disable")
    check_eq(c.call("profile.get", {"id": pid})["profile"]["state"]["users"], 0,
             "users after a D-Bus Disable")

    # uid nobody without the control group: refused by alrd itself (the
    # bus lets everything through).
    for method, args in (("Enable", []), ("Allow", ["u", "1"]), ("Control", [])):
        r = busctl(bus, "call", NAME, path, IFACE_PROFILE, method, *args,
                   as_nobody=True, check=False)
        check(r.returncode != 0, "nobody's %s succeeded: %s", method, r.stdout)
        check("Access denied" in r.stderr or "permission denied" in r.stderr,
              "nobody's %s: %s", method, r.stderr)
    r = busctl(bus, "call", NAME, ROOT, NAME, "Reload", as_nobody=True, check=False)
    check(r.returncode != 0, "nobody's Reload succeeded")
    check_eq(c.call("profile.get", {"id": pid})["profile"]["state"]["users"], 0,
             "users after nobody's Enable")
    # Reading is open to nobody.
    r = busctl(bus, "get-property", NAME, path, IFACE_PROFILE, "AOR", as_nobody=True)
    check_eq(r.stdout.strip(), f's "{want["aor"]}"', "nobody reads AOR")

    # Bad input.
    name, msg = conn.error(path, IFACE_PROFILE, "Allow", "wlan0")
    check_eq(name, "org.freedesktop.DBus.Error.InvalidArgs", f"Allow('wlan0'): {msg}")
    name, msg = conn.error(profile_path(999), IFACE_PROFILE, "Enable")
    check_eq(name, "org.freedesktop.DBus.Error.UnknownObject", f"Enable of 999: {msg}")
    name, msg = conn.error(path, IFACE_PROFILE, "Allow", dbus.UInt32(0))
    check_eq(name, "org.freedesktop.DBus.Error.InvalidArgs", f"Allow(0): {msg}")
    conn.call(path, IFACE_PROFILE, "Control")
    name, msg = conn.error(path, IFACE_PROFILE, "Allow", dbus.UInt32(1))
    check(name in ("org.alrd.Roaming1.Error.NotFound",
                   "org.freedesktop.DBus.Error.InvalidArgs"),
          "Allow without an offer: %s %s", name, msg)
    conn.call(path, IFACE_PROFILE, "Release")
    name, msg = conn.error(path, IFACE_PROFILE, "Release")
    check_eq(name, "org.freedesktop.DBus.Error.AccessDenied", f"Release twice: {msg}")

    # An update: PropertiesChanged; delete: InterfacesRemoved.
    c.call("profile.update", {"id": pid, "profile": {"provider_name": "Renamed"}})
    conn.wait_signal(props_changed(path, ProviderName="Renamed"), T(10),
                     "PropertiesChanged(ProviderName) after profile.update")
    c.call("profile.delete", {"id": pid})
    conn.wait_signal(lambda s: s.get("member") == "InterfacesRemoved" and
                     str(s["args"][0]) == path, T(10), "InterfacesRemoved of the profile")


def test_policy_file(fx):
    """contrib/org.alrd.Roaming1.conf on a bus with the system bus's
    defaults: root owns the name and may change things, uid nobody reads
    but the bus refuses its changing calls (before alrd sees them)."""
    bus = private_bus(fx, SYSTEM_BUS_CONFIG.replace(
        "POLICY", os.path.abspath(POLICY_FILE)))
    w = fx.world()
    d = dbus_daemon(fx, w, bus, {"daemon": {"plugin-dir": alrtest.plugin_dir()}})
    c = fx.client(d)
    check_eq(c.info()["dbus"]["connected"], True, "alrd owns the name under the policy")
    pid = c.call("profile.create", {"profile": simple_profile("alice")})["profile"]["id"]
    path = profile_path(pid)
    # Reading: anyone.
    r = busctl(bus, "get-property", NAME, path, IFACE_PROFILE, "AOR", as_nobody=True)
    check_eq(r.stdout.strip(), 's "sip:alice@example.test"', "nobody reads AOR")
    r = busctl(bus, "call", NAME, ROOT, OM, "GetManagedObjects", as_nobody=True)
    check(path in r.stdout, "nobody's GetManagedObjects lacks %s", path)
    busctl(bus, "introspect", NAME, path, as_nobody=True)
    # Changing: refused by the bus for nobody, every method of the policy.
    for iface, obj, method, args in ((NAME, ROOT, "Reload", []),
                                     (IFACE_PROFILE, path, "Enable", []),
                                     (IFACE_PROFILE, path, "Disable", []),
                                     (IFACE_PROFILE, path, "Control", []),
                                     (IFACE_PROFILE, path, "Release", []),
                                     (IFACE_PROFILE, path, "Allow", ["u", "1"]),
                                     (IFACE_PROFILE, path, "Disallow", ["u", "1"]),
                                     (IFACE_PROFILE, path, "Refresh", [])):
        r = busctl(bus, "call", NAME, obj, iface, method, *args, as_nobody=True,
                   check=False)
        check(r.returncode != 0 and "Access denied" in r.stderr,
              "nobody's %s under the policy: rc %d %s", method, r.returncode, r.stderr)
    check("refused: no permission" not in d.log_since_start(),
          "a call of nobody reached alrd through the policy")
    # root may.
    busctl(bus, "call", NAME, path, IFACE_PROFILE, "Enable")
    # busctl has left the bus: its use ended.
    alrtest.wait_until(lambda: c.call("profile.get", {"id": pid})["profile"]["state"]
                       ["users"] == 0, T(10), "the use of busctl, which left, ended")
    busctl(bus, "call", NAME, ROOT, NAME, "Reload")


# ---- controllers, with Kamailio ------------------------------------------


def on_cellular_dbus(fx, approval, on_timeout="allow"):
    """test_roaming's on_cellular() with a private bus: alice on SNAP 5,
    registered over wwan0 while wlan0 has no carrier; no controller yet.
    Returns (bus, world, registrar, observer, profile id, wlan, wwan)."""
    import test_profiles as tp
    import test_roaming as tr
    bus = private_bus(fx)
    w, reg = tp.sip_world(fx)
    d = dbus_daemon(fx, w, bus, {"daemon": {"plugin-dir": alrtest.plugin_dir()}},
                    start=False)
    os.makedirs(tr.snap_dir(d), mode=0o755, exist_ok=True)
    d.config["daemon"]["snap-dir"] = tr.snap_dir(d)
    d.write_config()
    tr.write_snap(d, "10-mobile.conf", tr.wifi_snap(approval=approval,
                                                   on_timeout=on_timeout))
    d.start()
    obs = fx.client(d)
    obs.subscribe(["profile.*", "alr.*", "iap.*"])
    wlan, wwan = tp.iap_id(obs, "wlan0"), tp.iap_id(obs, "wwan0")
    w.carrier_down("wlan0")
    alrtest.wait_iap_event(obs, "iap.down", "wlan0")
    pid = obs.call("profile.create", {"profile": tp.profile(
        "alice", snap_id=5, auto_register=True)})["profile"]["id"]
    ev = tp.registered(obs, pid)
    check_eq(ev["params"]["iap_id"], wwan, "registered over cellular first")
    tp.wait_bindings(reg, "alice", 1, host=tp.WWAN)
    return bus, w, reg, obs, pid, wlan, wwan


def offer_signal(conn, pid, iap):
    s = conn.wait_signal(lambda s: s.get("member") == "IAPAvailable" and
                         s.get("path") == profile_path(pid), T(10),
                         f"IAPAvailable of profile {pid}")
    snap, offered, rnd, deadline = unpy(list(s["args"]))
    check_eq((snap, offered), (5, iap), "IAPAvailable (snap, iap)")
    check_eq(s.get("destination"), conn.unique_name, "IAPAvailable sent to the controller")
    return s


def test_controller_migrates(fx):
    import test_profiles as tp
    bus, w, reg, obs, pid, wlan, wwan = on_cellular_dbus(fx, "10s")
    ctl = Conn(fx, bus.address)
    other = Conn(fx, bus.address)
    path = profile_path(pid)
    ctl.call(path, IFACE_PROFILE, "Control")
    # Nothing on offer yet.
    name, msg = ctl.error(path, IFACE_PROFILE, "Allow", dbus.UInt32(wlan))
    check_eq(name, "org.freedesktop.DBus.Error.InvalidArgs", f"Allow before an offer: {msg}")
    mark = len(obs.history)
    w.carrier_up("wlan0")
    offer_signal(ctl, pid, wlan)
    check_eq(ctl.prop(path, IFACE_PROFILE, "Phase"), "wait-for-permission",
             "Phase during the offer")
    # The socket's view: alr.iap-available is a controller's event only.
    check(not any(e.get("method") == "alr.iap-available" for e in obs.history[mark:]),
          "the observer got the D-Bus controller's offer")
    # The wrong IAP; a non-controller.
    name, msg = ctl.error(path, IFACE_PROFILE, "Allow", dbus.UInt32(wwan))
    check_eq(name, "org.freedesktop.DBus.Error.InvalidArgs", f"Allow(wwan): {msg}")
    name, msg = other.error(path, IFACE_PROFILE, "Allow", dbus.UInt32(wlan))
    check_eq(name, "org.freedesktop.DBus.Error.AccessDenied", f"a non-controller: {msg}")
    other.pump()
    check(not any(s.get("member") == "IAPAvailable" for s in other.signals),
          "a non-controller got IAPAvailable")
    ctl.call(path, IFACE_PROFILE, "Allow", dbus.UInt32(wlan))
    s = ctl.wait_signal(lambda s: s.get("member") == "MigrationStarted" and
                        s.get("path") == path, T(10), "MigrationStarted")
    check_eq(unpy(list(s["args"])), [5, wwan, wlan], "MigrationStarted (snap, from, to)")
    s = ctl.wait_signal(lambda s: s.get("member") == "MigrationCompleted" and
                        s.get("path") == path, T(20), "MigrationCompleted")
    check_eq(unpy(list(s["args"])), [5, wwan, wlan], "MigrationCompleted (snap, from, to)")
    ctl.wait_signal(props_changed(path, IAP=wlan), T(10), "PropertiesChanged(IAP=wlan)")
    # The registrar's own view: the Wi-Fi contact only.
    tp.wait_bindings(reg, "alice", 1, host=tp.WLAN)
    check_eq(obs.call("profile.get", {"id": pid})["profile"]["state"]["iap_id"], wlan,
             "iap_id on the socket")


def test_controller_leaving_is_released(fx):
    import test_roaming as tr
    bus, w, reg, obs, pid, wlan, wwan = on_cellular_dbus(fx, "60s")
    ctl = Conn(fx, bus.address)
    path = profile_path(pid)
    ctl.call(path, IFACE_PROFILE, "Control")
    # While it controls, the socket's refresh is another client's.
    obs.expect_error(-32001, "alr.refresh", {"profile": pid})
    w.carrier_up("wlan0")
    offer = offer_signal(ctl, pid, wlan)
    t0 = time.monotonic()
    ctl.close()                       # leaves the bus without answering
    tr.migrated_to_wifi(obs, reg, pid, wlan, wwan)
    check(time.monotonic() - t0 < 30,
          "the migration waited for approval-timeout (60 s): the controller "
          "that left was not released")
    del offer


def test_no_bus(fx):
    if dbus is None:
        raise Skip("python3-dbus or python3-gi missing")
    w = fx.world()
    tmp = tempfile.mkdtemp(prefix="alrt-nobus-")
    os.chmod(tmp, 0o755)
    bus = nmfix.SystemBus(tmp, config=OPEN_BUS_CONFIG)     # not started yet

    def stop():
        bus.stop()
        nmfix.remove_tree(tmp)
    fx._objs.append(_Cleanup(stop))
    d = fx.daemon(w, {"dbus": {"address": bus.address}})
    c = fx.client(d)
    check(c.call("iap.list")["iaps"], "IAPs without a bus")
    info = c.info()["dbus"]
    check_eq((info["enabled"], info["connected"]), (True, False), "daemon.info's dbus")
    # The bus appears later: alrd connects to it by itself (after 1, 2, 4 s).
    bus.start()
    alrtest.wait_until(lambda: c.info()["dbus"]["connected"], T(20),
                       "alrd on the bus that appeared")
    conn = Conn(fx, bus.address)
    check(conn.bus.name_has_owner(NAME), f"{NAME} owned on the new bus")
    check_eq(sorted(p for p in conn.managed() if p.startswith(ROOT + "/IAP/")),
             sorted(iap_path(i["id"]) for i in c.call("iap.list")["iaps"]),
             "the IAP objects on the bus that appeared")
    log = d.log_since_start()
    check_eq(log.count("goes on without D-Bus"), 1, "notices about the missing bus")


def test_bus_restart(fx):
    """dbus-daemon restarted (a package upgrade): alrd is on the new bus
    by itself, its objects and signals with it, and a controller that
    was on the old bus is released."""
    w = fx.world()
    bus = private_bus(fx)
    d = dbus_daemon(fx, w, bus)
    c = fx.client(d)
    alrtest.wait_until(lambda: c.info()["dbus"]["connected"], T(10), "alrd on the bus")
    bus.stop()
    alrtest.wait_until(lambda: not c.info()["dbus"]["connected"], T(10),
                       "alrd seeing the bus gone")
    check("connects again when the bus is back" in d.log_since_start(),
          "the notice names what alrd does about it")
    check(c.call("iap.list")["iaps"], "the socket serves while the bus is away")
    bus.start()
    alrtest.wait_until(lambda: c.info()["dbus"]["connected"], T(20),
                       "alrd on the restarted bus")
    conn = Conn(fx, bus.address)
    wlan = {i["name"]: i["id"] for i in c.call("iap.list")["iaps"]}["wlan0"]
    check(iap_path(wlan) in conn.managed(), "wlan0's object on the restarted bus")
    # Signals reach the new bus too.
    w.carrier_down("wlan0")
    conn.wait_signal(props_changed(iap_path(wlan), Available=False), T(10),
                     "PropertiesChanged(Available=false) on the restarted bus")
    check("dbus: connected to " in d.log_since_start(), "the reconnect is logged")


if __name__ == "__main__":
    alrtest.main()
