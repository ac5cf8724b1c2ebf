#!/usr/bin/python3
"""Roaming with NetworkManager: SNAP rules on NetworkManager's attributes
(connection names, SSID, signal strength, metering) driving real
registrations at a Kamailio registrar (peers/kamailio.py), whose own
bindings are the ground truth.

  - The real NetworkManager 1.42 in the device namespace
    (peers/networkmanager.py), managing wlan0 ("HomeNet") and wwan0
    ("Mobile"), addresses by DHCP from dnsmasq; Kamailio on 10.99.100.1 in
    the network namespace, reached over either link; a SNAP that matches
    by `connection =` (HomeNet 10, Mobile 20):
      test_nm_carrier_loss_fails_over_before_nm
                          the profile registers over HomeNet; wlan0 loses
                          carrier: it fails over to Mobile and the
                          registrar holds only the wwan0 contact while
                          NetworkManager still has HomeNet activated on
                          wlan0; NetworkManager deactivates it later; the
                          carrier back, NetworkManager activates HomeNet
                          again (same IAP id) and the profile migrates
                          back.
      test_nm_restart_keeps_registration
                          NetworkManager stopped (SIGTERM) and started
                          again while two profiles are registered, one
                          over each connection, on SNAPs that prefer
                          their own: no deregistration, no offer, the
                          same single binding of each at the registrar,
                          the identity switches logged, the connection
                          names (and ids) back afterwards.
  - python3-dbusmock's NetworkManager template (peers/nmmock.py) for a
    Wi-Fi access point and a modem, tied to the veths wlan0 and wwan0 of
    alrtest's world:
      test_nm_mock_signal_and_ssid
                          `ssid = HomeNet, min-signal = 50,
                          signal-hysteresis = 10` over cellular: the
                          strength walks 80 (wifi), 45 (kept), 35
                          (cellular), 45 (not back), 55 (back); an SSID
                          that does not match is not a member.
      test_nm_mock_metered
                          `kind = cellular, metered = no`: a metered
                          modem is not a member (the profile waits), an
                          unmetered one carries the registration, metered
                          again it stays where it is.

Needs root; exits 77 (skipped) without it.  A test is skipped without
Kamailio, NetworkManager, dnsmasq, dbus-daemon or python3-dbusmock.

Usage: test_nm_roaming.py [-b BUILD_DIR] [NAME_SUBSTRING ...]
Environment: ALR_BUILD_DIR, ALR_TIMEOUT_SCALE, ALR_KEEP (see alrtest.py).
"""

import os
import re
import sys
import tempfile
import time
import uuid as uuidlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "peers"))

import alrtest  # noqa: E402
from alrtest import Skip, T, check, check_eq  # noqa: E402
from kamailio import KAMAILIO, Registrar  # noqa: E402
import networkmanager as nmfix  # noqa: E402
from nmmock import NMMock, have_dbusmock  # noqa: E402
from test_nm_daemon import (NMDaemon, Stack, drain, iap_of,  # noqa: E402
                            require_nm, show_logs)
from test_profiles import (DOMAIN, REG_ADDR, USERS, WLAN, WWAN,  # noqa: E402
                           host_of, profile, wait_bindings)
from test_roaming import no_event  # noqa: E402

TAG = f"alrnm{os.getpid()}"      # networkmanager.reap_orphans() knows it
_seq = 100                       # namespace numbers apart from test_nm_daemon's

BY_CONNECTION = """\
[snap]
id = 5
name = nm-connections
stable-time = 200ms
max-migrations = unlimited

[rule]
priority = 10
connection = HomeNet

[rule]
priority = 20
connection = Mobile
"""

# The other way round, for a profile that prefers cellular.
MOBILE_FIRST = """\
[snap]
id = 6
name = nm-mobile-first
stable-time = 200ms
max-migrations = unlimited

[rule]
priority = 10
connection = Mobile

[rule]
priority = 20
connection = HomeNet
"""

HOME_SIGNAL = """\
[snap]
id = 5
name = home-signal
stable-time = 200ms
max-migrations = unlimited

[rule]
priority = 10
kind = wifi
ssid = HomeNet
min-signal = 50
signal-hysteresis = 10

[rule]
priority = 20
kind = cellular
"""

UNMETERED = """\
[snap]
id = 6
name = unmetered
stable-time = 200ms

[rule]
priority = 10
kind = cellular
metered = no
"""

# The absence of an offer is waited for this long: 10x the SNAPs'
# stable-time, the only delay before a move is decided.
QUIET = 2.0


class _Cleanup:
    def __init__(self, fn):
        self.fn = fn

    def cleanup(self):
        self.fn()


def require_kamailio():
    if not os.access(KAMAILIO, os.X_OK):
        raise Skip(f"no Kamailio ({KAMAILIO})")


def sysctl(ns, *settings):
    alrtest.run(["ip", "netns", "exec", ns, "sysctl", "-qw"] + list(settings))


def loose_rp_filter(ns):
    """Answers to a REGISTER from wwan0's address come back over wwan0
    although the route to the registrar prefers wlan0."""
    sysctl(ns, "net.ipv4.conf.all.rp_filter=2",
           "net.ipv4.conf.default.rp_filter=2",
           "net.ipv4.conf.wlan0.rp_filter=2",
           "net.ipv4.conf.wwan0.rp_filter=2",
           "net.ipv6.conf.wlan0.disable_ipv6=1",
           "net.ipv6.conf.wwan0.disable_ipv6=1")


def start_registrar(push, net_ns, tmp):
    """Kamailio on REG_ADDR in net_ns; its stop pushed with push()."""
    alrtest.run(["ip", "-n", net_ns, "addr", "add", REG_ADDR + "/32", "dev",
                 "lo"])
    workdir = os.path.join(tmp, "kamailio")
    reg = Registrar(net_ns, [REG_ADDR], workdir, users=USERS, domain=DOMAIN)
    push(_Cleanup(reg.stop))
    reg.start()
    return reg


def start_alrd(fx, netns, bus, snaps, config=None):
    """alrd on bus in netns, with the build's plugins and a snap-dir
    holding snaps ({file name: text})."""
    cfg = {"daemon": {"plugin-dir": alrtest.plugin_dir()}}
    for section, items in (config or {}).items():
        cfg.setdefault(section, {}).update(items)
    d = NMDaemon(netns, bus.address, cfg)
    fx._objs.append(d)
    fx.daemons.append(d)
    snap_dir = os.path.join(d.tmp, "snap.d")
    os.makedirs(snap_dir, mode=0o755, exist_ok=True)
    d.config["daemon"]["snap-dir"] = snap_dir
    d.write_config()
    for name, text in snaps.items():
        path = os.path.join(snap_dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
    d.start()
    return d


def profile_event(c, method, pid, timeout=None):
    return c.wait_event(lambda e: e["method"] == method and
                        e["params"].get("id") == pid, timeout or T(20),
                        f"{method}({pid})")


def alr_event(c, method, pid, timeout=None):
    return c.wait_event(lambda e: e["method"] == method and
                        e["params"].get("profile") == pid, timeout or T(20),
                        f"{method}({pid})")


def changed(c, iap_id, what, timeout=None, **nm):
    """iap.changed of iap_id whose nm object has the given values."""
    def pred(e):
        if e["method"] != "iap.changed" or iap_of(e)["id"] != iap_id:
            return False
        n = iap_of(e).get("nm") or {}
        return all(n.get(k) == v for k, v in nm.items())
    return c.wait_event(pred, timeout or T(20), what)


def ranking(c, snap_id):
    return c.call("snap.get", {"id": snap_id})["snap"]["ranking"]


def state_of(c, pid):
    st = c.call("profile.get", {"id": pid})["profile"]["state"]
    return st["registration"], st["iap_id"]


def migrated(c, reg, pid, frm, to, host, user="alice"):
    """migration-started, -completed and profile.updated frm -> to, then
    the registrar holds one binding of user, from host."""
    ev = alr_event(c, "alr.migration-started", pid)
    check_eq((ev["params"]["from"], ev["params"]["to"]), (frm, to),
             "migration-started from -> to")
    ev = alr_event(c, "alr.migration-completed", pid)
    check_eq((ev["params"]["from"], ev["params"]["to"]), (frm, to),
             "migration-completed from -> to")
    # One event for the edge (docs/protocol.md): profile.updated, whose
    # state names the new IAP and contact.
    ev = c.wait_event(lambda e: e["method"] == "profile.updated" and
                      e["params"]["profile"]["id"] == pid, T(20),
                      f"profile.updated({pid})")
    state = ev["params"]["profile"]["state"]
    check_eq(state["iap_id"], to, "profile.updated's IAP after the migration")
    check_eq(host_of(state["contact"]), host, "contact host after the migration")
    check_eq(state_of(c, pid), ("registered", to), "alrd's state after "
             "the migration")
    return wait_bindings(reg, user, 1, host=host)


def no_move(c, pid, what):
    """No migration and no deregistration of pid for QUIET seconds."""
    no_event(c, lambda e: e["method"] in ("alr.migration-started",
                                          "profile.deregistered",
                                          "profile.registered") and
             pid in (e["params"].get("profile"), e["params"].get("id")),
             T(QUIET), what)


# ---------------------------------------------------------------------------
# The real NetworkManager


def nm_sip_world(fx, name):
    """NetworkManager (started, both connections activated) managing
    wlan0 and wwan0, Kamailio in the network namespace.  Returns (stack,
    world, bus, nm, registrar)."""
    global _seq
    require_nm()
    require_kamailio()
    nmfix.reap_orphans()
    _seq += 1
    st = Stack(tempfile.mkdtemp(prefix=f"alrnm-{name}-"))
    fx._objs.append(st)
    world = st.push(nmfix.NMWorld(TAG, _seq, st.tmp,
                                  links=("wlan0", "wwan0")))
    st.logs.append(("dnsmasq", world.dnsmasq.log_path))
    loose_rp_filter(world.dev.name)
    reg = start_registrar(st.push, world.net.name, st.tmp)
    st.logs.append(("kamailio", reg.log_path))
    bus = st.push(nmfix.SystemBus(st.tmp, netns=world.dev), "dbus-daemon",
                  os.path.join(st.tmp, "bus.log"))
    bus.start()
    nm = nmfix.NetworkManager(world, bus, st.tmp,
                              {"HomeNet": "wlan0", "Mobile": "wwan0"})
    st.push(nm, "NetworkManager", nm.log_path)
    nm.start()
    nm.wait_activated(nm.uuids(), T(30))
    return st, world, bus, nm, reg


def addr_of(world, ifname):
    """The device side's (only) IPv4 address, which NetworkManager got by
    DHCP."""
    a = alrtest.wait_until(lambda: world.addresses(ifname), T(30),
                           f"an address on {ifname}")
    check_eq(len(a), 1, f"addresses on {ifname}")
    return a[0]


def nm_iaps(c):
    """{connection name: IAP} once alrd shows both connections as
    available IAPs."""
    def ready():
        iaps = c.iaps()
        ok = all(n in iaps and iaps[n]["available"]
                 for n in ("HomeNet", "Mobile"))
        return iaps if ok else None
    return alrtest.wait_until(ready, T(30), "HomeNet and Mobile available")


def device_state(nm, ifname):
    """NetworkManager's device state of ifname (nmcli's words:
    "connected", "unavailable", ...)."""
    r = nm.nmcli("-f", "DEVICE,STATE", "device", check=False)
    for line in r.stdout.splitlines():
        dev, _, state = line.partition(":")
        if dev == ifname:
            return state
    return None


def registered_over_home(fx, name):
    """The common start: alice on the connection SNAP, registered over
    HomeNet, the registrar holding its one wlan0 binding."""
    st, world, bus, nm, reg = nm_sip_world(fx, name)
    try:
        return (st, world, nm, reg) + _registered_over_home(fx, world, bus,
                                                            nm, reg)
    except (alrtest.TestFailure, nmfix.FixtureError) as e:
        raise alrtest.TestFailure(f"{e}\n{show_logs(st)}") from None


def _registered_over_home(fx, world, bus, nm, reg):
    wlan, wwan = addr_of(world, "wlan0"), addr_of(world, "wwan0")
    d = start_alrd(fx, world.dev, bus, {"10-nm.conf": BY_CONNECTION,
                                        "20-nm-mobile.conf": MOBILE_FIRST})
    c = fx.client(d)
    c.subscribe(["iap.*", "profile.*", "alr.*"])
    iaps = nm_iaps(c)
    home, mobile = iaps["HomeNet"], iaps["Mobile"]
    check_eq((home["identity"], home["interface"]),
             ("nm:" + nm.uuid("HomeNet"), "wlan0"), "HomeNet's IAP")
    check_eq((mobile["identity"], mobile["interface"]),
             ("nm:" + nm.uuid("Mobile"), "wwan0"), "Mobile's IAP")
    check_eq(ranking(c, 5), [home["id"], mobile["id"]],
             "the SNAP's ranking: HomeNet > Mobile")
    pid = c.call("profile.create", {"profile": profile(
        "alice", snap_id=5, auto_register=True)})["profile"]["id"]
    ev = profile_event(c, "profile.registered", pid)
    check_eq(ev["params"]["iap_id"], home["id"], "registered over HomeNet")
    check_eq(host_of(ev["params"]["contact"]), wlan, "contact host")
    b = wait_bindings(reg, "alice", 1, host=wlan)
    return d, c, pid, home, mobile, wlan, wwan, b[0]


def test_nm_carrier_loss_fails_over_before_nm(fx):
    st, world, nm, reg, d, c, pid, home, mobile, wlan, wwan, _ = \
        registered_over_home(fx, "failover")
    try:
        c.clear_events()
        t_cmd = time.time()
        world.net.ip("link", "set", "wlan0p", "down")
        ev = profile_event(c, "profile.deregistered", pid)
        check_eq(ev["params"]["reason"], "network-lost",
                 "deregistration reason")
        ev = profile_event(c, "profile.registered", pid)
        # NetworkManager's view at the moment the failover is done: it
        # still has HomeNet activated on wlan0.
        active = nm.active().get(nm.uuid("HomeNet"), {})
        dev_state = device_state(nm, "wlan0")
        check_eq((active.get("state"), active.get("device")),
                 ("activated", "wlan0"),
                 "NetworkManager's HomeNet when the failover was done "
                 "(it deactivated first)")
        check_eq(dev_state, "connected",
                 "NetworkManager's wlan0 when the failover was done")
        check_eq(ev["params"]["iap_id"], mobile["id"], "registered over "
                 "Mobile")
        check_eq(host_of(ev["params"]["contact"]), wwan, "contact host "
                 "after the failover")
        # The registrar: only the wwan0 contact, still before
        # NetworkManager lets HomeNet go.
        wait_bindings(reg, "alice", 1, host=wwan)
        check_eq(nm.active().get(nm.uuid("HomeNet"), {}).get("state"),
                 "activated", "NetworkManager's HomeNet once the registrar "
                 "held only the wwan0 contact")
        # alrd still names wlan0 by its connection: the failover came
        # from the kernel's carrier loss, not from NetworkManager.
        iap = c.call("iap.get", {"id": home["id"]})["iap"]
        check_eq((iap["identity"], iap["available"], iap["reason"]),
                 ("nm:" + nm.uuid("HomeNet"), False, "no-carrier"),
                 "HomeNet's IAP after the failover")
        t_failover = ev["params"]["time"]

        # NetworkManager deactivates HomeNet seconds later: wlan0 becomes
        # itself again; nothing happens to the registration.
        gone = c.wait_event(lambda e: e["method"] == "iap.removed" and
                            iap_of(e)["id"] == home["id"], T(30),
                            "iap.removed(HomeNet)")
        check(iap_of(gone).get("replaced_by"), "iap.removed of HomeNet "
              f"without replaced_by: {iap_of(gone)}")
        print(f"    failover done {t_failover - t_cmd:.2f} s after carrier "
              f"loss"
              f"; NetworkManager deactivated HomeNet "
              f"{gone['params']['time'] - t_failover:.2f} s after it",
              flush=True)
        check(gone["params"]["time"] > t_failover,
              "NetworkManager's deactivation came before the failover")
        check_eq(state_of(c, pid), ("registered", mobile["id"]),
                 "alrd's state after the deactivation")
        wait_bindings(reg, "alice", 1, host=wwan)

        # Carrier back: NetworkManager activates HomeNet again (the same
        # connection, so the same IAP id) and the profile moves back.
        world.net.ip("link", "set", "wlan0p", "up")
        ev = c.wait_event(lambda e: e["method"] == "iap.up" and
                          iap_of(e)["id"] == home["id"], T(60),
                          "iap.up(HomeNet) after the carrier came back")
        check_eq(iap_of(ev)["identity"], "nm:" + nm.uuid("HomeNet"),
                 "HomeNet's identity again")
        migrated(c, reg, pid, mobile["id"], home["id"],
                 addr_of(world, "wlan0"))
    except (alrtest.TestFailure, nmfix.FixtureError) as e:
        raise alrtest.TestFailure(f"{e}\n{show_logs(st)}") from None


def test_nm_restart_keeps_registration(fx):
    """alice on HomeNet (SNAP 5, HomeNet > Mobile) and bob on Mobile (SNAP
    6, Mobile > HomeNet): NetworkManager takes its connections away (and
    back) one after the other, in an order of its own; whichever goes
    first, one of the two profiles sees its IAP leave its SNAP while the
    other connection still ranks above it there.  Neither may move."""
    st, world, nm, reg, d, c, alice, home, mobile, wlan, wwan, a_binding = \
        registered_over_home(fx, "restart")
    try:
        bob = c.call("profile.create", {"profile": profile(
            "bob", snap_id=6, auto_register=True)})["profile"]["id"]
        ev = profile_event(c, "profile.registered", bob)
        check_eq(ev["params"]["iap_id"], mobile["id"], "bob over Mobile")
        b_binding = wait_bindings(reg, "bob", 1, host=wwan)[0]
        who = {alice: ("alice", "wlan0", home, wlan, a_binding),
               bob: ("bob", "wwan0", mobile, wwan, b_binding)}

        def unmoved(when):
            for pid, (user, ifname, iap, host, binding) in who.items():
                no_move(c, pid, f"{user} moved {when}")
            for pid, (user, ifname, iap, host, binding) in who.items():
                b = wait_bindings(reg, user, 1, host=host)
                check_eq(b[0]["contact"], binding["contact"],
                         f"the registrar's contact of {user} {when}")

        # NetworkManager stops: both links switch to their interface
        # IAPs, which no rule admits (no connection name).
        c.clear_events()
        nm.stop()
        if_ids, order = {}, []
        for cid, old in (("HomeNet", home), ("Mobile", mobile)):
            ev = c.wait_event(lambda e, o=old: e["method"] == "iap.removed"
                              and iap_of(e)["id"] == o["id"], T(20),
                              f"iap.removed({cid})")
            order.append((ev["params"]["time"], cid))
            new = iap_of(ev).get("replaced_by")
            check(new, f"iap.removed of {cid} without replaced_by")
            iap = c.call("iap.get", {"id": new})["iap"]
            ifname = old["interface"]
            check_eq((iap["identity"], iap["name"], iap["nm"],
                      iap["available"]),
                     ("if:" + ifname, ifname, None, True),
                     f"{ifname} without NetworkManager")
            if_ids[ifname] = new
        print(f"    NetworkManager stopped: {sorted(order)[0][1]} went "
              f"first, {abs(order[0][0] - order[1][0]) * 1000:.1f} ms "
              "before the other", flush=True)
        for snap in (5, 6):
            check_eq(ranking(c, snap), [], f"SNAP {snap}'s ranking without "
                     "NetworkManager (no connection names)")
        check_eq(state_of(c, alice), ("registered", if_ids["wlan0"]),
                 "alice without NetworkManager")
        check_eq(state_of(c, bob), ("registered", if_ids["wwan0"]),
                 "bob without NetworkManager")
        unmoved("while NetworkManager was away")

        # NetworkManager again: it takes its connections back (the same
        # UUIDs, so the same IAP ids) and the profiles follow them.
        nm.start()
        nm.wait_activated(nm.uuids(), T(30))
        order = []
        for cid, old in (("HomeNet", home), ("Mobile", mobile)):
            ev = c.wait_event(lambda e, o=old: e["method"] == "iap.added"
                              and iap_of(e)["id"] == o["id"], T(30),
                              f"iap.added({cid})")
            order.append((ev["params"]["time"], cid))
            check_eq((iap_of(ev)["name"], iap_of(ev)["identity"]),
                     (cid, old["identity"]), f"{cid} again")
        print(f"    NetworkManager started: {sorted(order)[0][1]} came "
              f"first, {abs(order[0][0] - order[1][0]) * 1000:.1f} ms "
              "before the other", flush=True)
        nm_iaps(c)
        check_eq(ranking(c, 5), [home["id"], mobile["id"]],
                 "SNAP 5's ranking with NetworkManager back")
        check_eq(ranking(c, 6), [mobile["id"], home["id"]],
                 "SNAP 6's ranking with NetworkManager back")
        check_eq(state_of(c, alice), ("registered", home["id"]),
                 "alice with NetworkManager back")
        check_eq(state_of(c, bob), ("registered", mobile["id"]),
                 "bob with NetworkManager back")
        unmoved("when NetworkManager came back")

        # Throughout: never deregistered, never registered anew, never
        # offered a move, no REGISTER with another contact.
        evs = drain(c)
        bad = [(e["method"], e["params"]) for e in evs if e["method"] in (
            "profile.deregistered", "profile.registered", "alr.no-iap",
            "alr.migration-started", "alr.iap-available")]
        check(not bad, f"events during NetworkManager's restart: {bad}")
        for pid, (user, ifname, iap, host, binding) in who.items():
            contacts = {re.sub(r"^<([^>]*)>.*", r"\1", r.get("contact") or "")
                        for r in reg.registers()
                        if r.get("to", "").startswith(f"sip:{user}@")}
            check_eq(contacts, {binding["contact"]}, "the contacts of every "
                     f"REGISTER of {user} the registrar received")
        log = d.log_since_start()
        for pid, (user, ifname, iap, host, binding) in who.items():
            for old, new in ((iap["id"], if_ids[ifname]),
                             (if_ids[ifname], iap["id"])):
                check(re.search(rf"profile {pid} \(.*\): now over iap {new} "
                                rf"\(same interface {ifname}\)", log) and
                      f"iap {old} is now iap {new}" in log,
                      f"alrd's log does not tell {user}'s switch {old} -> "
                      f"{new}")
    except (alrtest.TestFailure, nmfix.FixtureError) as e:
        raise alrtest.TestFailure(f"{e}\n{show_logs(st)}") from None


# ---------------------------------------------------------------------------
# python3-dbusmock


def mock_sip_world(fx, name, snaps):
    """alrtest's world with Kamailio, a private bus with the mock, alrd
    on it (kinds from NetworkManager, not from [iap-kinds]); a Wi-Fi
    access point "HomeNet" at 80 on wlan0 and an unmetered modem "Mobile"
    on wwan0.  Returns (stack, world, registrar, mock, wifi, modem, daemon,
    client, {name: IAP})."""
    require_nm()
    require_kamailio()
    why = have_dbusmock()
    if why:
        raise Skip(why)
    st = Stack(tempfile.mkdtemp(prefix=f"alrnm-{name}-"))
    fx._objs.append(st)
    world = fx.world()
    loose_rp_filter(world.dev)
    reg = start_registrar(st.push, world.net, st.tmp)
    st.logs.append(("kamailio", reg.log_path))
    bus = st.push(nmfix.SystemBus(st.tmp, name="mockbus"), "dbus-daemon",
                  os.path.join(st.tmp, "mockbus.log"))
    bus.start()
    mock = NMMock(bus, st.tmp)
    st.push(mock, "dbusmock", mock.log_path)
    mock.start()
    try:
        return (st, world, reg, mock) + _mock_devices(fx, world, bus, mock,
                                                      snaps)
    except (alrtest.TestFailure, nmfix.FixtureError) as e:
        raise alrtest.TestFailure(f"{e}\n{show_logs(st)}") from None


def _mock_devices(fx, world, bus, mock, snaps):
    d = start_alrd(fx, world, bus, snaps,
                   {"iap-kinds": {"wlan*": None, "wwan*": None}})
    c = fx.client(d)
    c.subscribe(["iap.*", "profile.*", "alr.*"])
    wifi = mock.add_wifi("wlan0", ssid="HomeNet", bssid="00:11:22:33:44:55",
                         strength=80, conn_id="HomeNet",
                         uuid=str(uuidlib.uuid4()))
    modem = mock.add_modem("wwan0", conn_id="Mobile",
                           uuid=str(uuidlib.uuid4()))

    def ready():
        iaps = c.iaps()
        h, m = iaps.get("HomeNet"), iaps.get("Mobile")
        return iaps if h and m and h["available"] and m["available"] \
            else None
    iaps = alrtest.wait_until(ready, T(20), "HomeNet and Mobile available")
    check_eq((iaps["HomeNet"]["kind"], iaps["HomeNet"]["nm"]["ssid"],
              iaps["HomeNet"]["nm"]["strength"]), ("wifi", "HomeNet", 80),
             "HomeNet's kind, SSID, strength")
    check_eq((iaps["Mobile"]["kind"], iaps["Mobile"]["nm"]["metered"]),
             ("cellular", False), "Mobile's kind and metered")
    return wifi, modem, d, c, iaps


def test_nm_mock_signal_and_ssid(fx):
    st, world, reg, mock, wifi, modem, d, c, iaps = mock_sip_world(
        fx, "signal", {"10-home.conf": HOME_SIGNAL})
    try:
        w, m = iaps["HomeNet"]["id"], iaps["Mobile"]["id"]
        check_eq(ranking(c, 5), [w, m], "ranking at 80")
        pid = c.call("profile.create", {"profile": profile(
            "alice", snap_id=5, auto_register=True)})["profile"]["id"]
        ev = profile_event(c, "profile.registered", pid)
        check_eq(ev["params"]["iap_id"], w, "registered over Wi-Fi at 80")
        wait_bindings(reg, "alice", 1, host=WLAN)

        def strength(s, want_ranking):
            c.events[:] = [e for e in c.events
                           if e["method"] != "iap.changed"]
            mock.set_strength(wifi, s)
            changed(c, w, f"iap.changed(HomeNet strength {s})", strength=s)
            check_eq(ranking(c, 5), want_ranking, f"ranking at {s}")

        # 45: below min-signal, above min-signal - hysteresis: kept.
        strength(45, [w, m])
        no_move(c, pid, "moved at 45 (within the hysteresis)")
        check_eq(state_of(c, pid), ("registered", w), "state at 45")
        wait_bindings(reg, "alice", 1, host=WLAN)

        # 35: not admitted any more; cellular is the SNAP's best.
        strength(35, [m])
        migrated(c, reg, pid, w, m, WWAN)

        # 45: not enough to come back (admitted again from 50).
        strength(45, [m])
        no_move(c, pid, "moved back at 45 (below min-signal)")
        wait_bindings(reg, "alice", 1, host=WWAN)

        # 55: admitted: back to Wi-Fi.
        strength(55, [w, m])
        migrated(c, reg, pid, m, w, WLAN)

        # Another SSID on the same connection: not a member.
        mock.set_ssid_bytes(wifi, b"Other")
        changed(c, w, "iap.changed(ssid Other)", ssid="Other")
        check_eq(ranking(c, 5), [m], "ranking with the SSID Other")
        migrated(c, reg, pid, w, m, WWAN)
        strength(90, [m])
        no_move(c, pid, "offered the Wi-Fi of SSID Other")
        wait_bindings(reg, "alice", 1, host=WWAN)

        # HomeNet again: back.
        mock.set_ssid_bytes(wifi, b"HomeNet")
        changed(c, w, "iap.changed(ssid HomeNet)", ssid="HomeNet")
        check_eq(ranking(c, 5), [w, m], "ranking with the SSID HomeNet")
        migrated(c, reg, pid, m, w, WLAN)
        check(not any(e["method"] == "profile.deregistered"
                      for e in drain(c)), "a deregistration during the walk")
    except (alrtest.TestFailure, nmfix.FixtureError) as e:
        raise alrtest.TestFailure(f"{e}\n{show_logs(st)}") from None


def test_nm_mock_metered(fx):
    st, world, reg, mock, wifi, modem, d, c, iaps = mock_sip_world(
        fx, "metered", {"20-unmetered.conf": UNMETERED})
    try:
        m = iaps["Mobile"]["id"]
        check_eq(ranking(c, 6), [m], "ranking with Mobile unmetered")
        mock.set_metered(modem, True)
        changed(c, m, "iap.changed(Mobile metered)", metered=True)
        check_eq(ranking(c, 6), [], "ranking with Mobile metered")

        # Nothing to register over: the profile waits.
        pid = c.call("profile.create", {"profile": profile(
            "bob", snap_id=6, auto_register=True)})["profile"]["id"]
        alr_event(c, "alr.no-iap", pid)
        check_eq(state_of(c, pid), ("registering", None),
                 "state with no member IAP")
        check_eq(reg.register_count(), 0, "REGISTERs at the registrar")

        # Unmetered: registered over it.
        mock.set_metered(modem, False)
        ev = profile_event(c, "profile.registered", pid)
        check_eq(ev["params"]["iap_id"], m, "registered over Mobile")
        b = wait_bindings(reg, "bob", 1, host=WWAN)

        # Metered again: no longer a member, but nothing is better: it
        # stays where it is.
        c.events[:] = []
        mock.set_metered(modem, True)
        changed(c, m, "iap.changed(Mobile metered again)", metered=True)
        check_eq(ranking(c, 6), [], "ranking with Mobile metered again")
        no_move(c, pid, "moved off the metered modem")
        check_eq(state_of(c, pid), ("registered", m), "state, metered again")
        check_eq(wait_bindings(reg, "bob", 1, host=WWAN)[0]["contact"],
                 b[0]["contact"], "the registrar's contact")
    except (alrtest.TestFailure, nmfix.FixtureError) as e:
        raise alrtest.TestFailure(f"{e}\n{show_logs(st)}") from None


test_nm_carrier_loss_fails_over_before_nm.timeout = 240
test_nm_restart_keeps_registration.timeout = 240
test_nm_mock_signal_and_ssid.timeout = 240
test_nm_mock_metered.timeout = 180

if __name__ == "__main__":
    alrtest.main()
