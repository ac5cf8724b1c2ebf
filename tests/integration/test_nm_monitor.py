#!/usr/bin/python3
"""The NetworkManager monitor (nm/nmmon) through its test driver alr-nmmon,
which prints one JSON object per callback, against

  - the real NetworkManager 1.42 in a network namespace, managing two veth
    links that get their addresses from dnsmasq by DHCP: the connections
    appear with their UUIDs and ids; NetworkManager stopped, started, the
    system bus gone and back, the monitor started before any of them;
  - python3-dbusmock's NetworkManager template, for what cannot be real
    here: a Wi-Fi access point (SSID, BSSID, strength), a modem (cellular,
    its capabilities), metered, the primary connection.

Needs root (network namespaces); exits 77 (skipped) without it or without
NetworkManager, dnsmasq, dbus-daemon or python3-dbusmock.  Prints one line
per test and closes with "N passed, N failed".

Environment:
  ALR_BUILD_DIR       the build tree holding nm/alr-nmmon
  ALR_TIMEOUT_SCALE   multiply every deadline
  ALR_KEEP            keep the temporary directories (logs)
  ALR_NM_TESTS        run only these tests (comma-separated names)
"""

import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid as uuidlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "peers"))

from networkmanager import (Cleanup, FixtureError, NetworkManager,  # noqa: E402
                            NMWorld, SystemBus, T, have_networkmanager,
                            log_tail, reap_orphans, remove_tree, terminate,
                            wait_until)
from nmmock import NMMock, have_dbusmock  # noqa: E402

SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
TAG = f"alrnm{os.getpid()}"
PER_TEST_TIMEOUT = 300
SANITIZER_RE = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)"
    r"|runtime error: ")


class TestFailure(AssertionError):
    pass


class Interrupted(BaseException):
    pass


class TestTimeout(BaseException):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def check_eq(got, want, what):
    if got != want:
        raise TestFailure(f"{what}: got {got!r}, want {want!r}")


def build_dir():
    d = os.environ.get("ALR_BUILD_DIR")
    return os.path.abspath(d) if d else os.path.join(SOURCE_DIR, "build")


def nmmon_path():
    return os.path.join(build_dir(), "nm", "alr-nmmon")


# ---------------------------------------------------------------------------
# alr-nmmon

class Monitor:
    """One alr-nmmon run.  Its events are kept in order; wait() finds the
    first one not yet taken that matches, at or after a mark (an index into
    the events, from mark())."""

    def __init__(self, tmp, env, netns=None, name="alr-nmmon"):
        self.log_path = os.path.join(tmp, name + ".log")
        self.events = []
        self.taken = set()
        self._buf = b""
        argv = [nmmon_path(), "-v"]
        if netns:
            argv = netns.exec_argv(argv)   # ip execs: same pid
        env = dict(env)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=log,
                                         env=env, start_new_session=True)
        self.wait(lambda e: e["event"] == "started", T(20), "started")

    @property
    def pid(self):
        return self.proc.pid

    def _read(self, deadline):
        """Read what is there (waiting until deadline for something)."""
        fd = self.proc.stdout.fileno()
        left = max(deadline - time.monotonic(), 0)
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            return False
        chunk = os.read(fd, 65536)
        if not chunk:
            raise TestFailure("alr-nmmon exited (status "
                              f"{self.proc.wait()}):\n" + self.log_tail())
        self._buf += chunk
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            self.events.append(json.loads(line))
        return True

    def mark(self):
        """Read what has arrived; events after this index come later."""
        while self._read(time.monotonic()):
            pass
        return len(self.events)

    def wait(self, pred, timeout, what, since=0):
        """The first event at or after since, not taken yet, matching pred:
        taken, returned with its index."""
        deadline = time.monotonic() + timeout
        while True:
            for i in range(since, len(self.events)):
                if i not in self.taken and pred(self.events[i]):
                    self.taken.add(i)
                    return self.events[i], i
            if time.monotonic() >= deadline:
                recent = "\n".join(json.dumps(e)
                                   for e in self.events[since:][-15:])
                raise TestFailure(f"timed out after {timeout:.0f}s waiting "
                                  f"for {what}; events since the mark:\n"
                                  f"{recent}\nalr-nmmon log:\n"
                                  f"{self.log_tail()}")
            self._read(deadline)

    def wait_conn(self, uuid, timeout, what, since=0, **fields):
        def pred(e):
            return e["event"] == "conn_changed" and e["uuid"] == uuid and \
                all(e.get(k) == v for k, v in fields.items())
        return self.wait(pred, timeout, what, since)[0]

    def wait_running(self, running, timeout, since=0):
        return self.wait(lambda e: e["event"] == "running" and
                         e["running"] == running, timeout,
                         f"running {str(running).lower()}", since)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def log_tail(self, n=30):
        return log_tail(self.log_path, n)

    def wait_log(self, pattern, timeout):
        rx = re.compile(pattern)
        wait_until(lambda: rx.search(self.log()), timeout,
                   f"alr-nmmon to log /{pattern}/")

    def status(self, field):
        """Sum of a /proc/PID/task/*/status field over all threads."""
        total = 0
        for tid in os.listdir(f"/proc/{self.pid}/task"):
            try:
                with open(f"/proc/{self.pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith(field + ":"):
                            total += int(line.split()[1])
            except FileNotFoundError:
                pass
        return total

    def main_thread_status(self, field):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return None

    def wakeups(self, seconds):
        """Context switches of the whole process over an idle period:
        (main thread voluntary, all threads voluntary + involuntary)."""
        m0 = self.main_thread_status("voluntary_ctxt_switches")
        a0 = self.status("voluntary_ctxt_switches") + \
            self.status("nonvoluntary_ctxt_switches")
        time.sleep(seconds)     # measuring idleness: nothing to wait for
        m1 = self.main_thread_status("voluntary_ctxt_switches")
        a1 = self.status("voluntary_ctxt_switches") + \
            self.status("nonvoluntary_ctxt_switches")
        return m1 - m0, a1 - a0

    def stop(self):
        """SIGTERM: exit 0, no sanitizer report, nothing after the last
        event."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        rc, killed = terminate(proc, T(30))
        proc.stdout.close()
        log = self.log()
        check(not killed, "alr-nmmon did not exit on SIGTERM:\n" +
              log[-3000:])
        check(not SANITIZER_RE.search(log),
              "sanitizer report in alr-nmmon's log:\n" + log[-6000:])
        check_eq(rc, 0, "alr-nmmon's exit status")

    def cleanup(self):
        if self.proc is not None:
            terminate(self.proc)
            self.proc.stdout.close()
            self.proc = None


def check_no_loopback(mon):
    lo = [e for e in mon.events if e["event"] == "conn_changed" and
          (e["conn_type"] == "loopback" or e["device_type"] == "loopback")]
    check(not lo, f"loopback reported as an IAP: {lo[:1]}")


# ---------------------------------------------------------------------------
# Tests: each gets ctx (tmp, stack, seq) and registers what it starts.

class Ctx:
    def __init__(self, name, seq):
        self.name = name
        self.seq = seq
        self.tmp = tempfile.mkdtemp(prefix=f"alrnm-{name}-")
        self.stack = Cleanup()
        self.logs = []          # (title, path) shown on failure

    def world(self):
        w = self.stack.push(NMWorld(TAG, self.seq, self.tmp))
        self.logs.append(("dnsmasq", w.dnsmasq.log_path))
        return w

    def bus(self, netns=None, name="bus"):
        b = self.stack.push(SystemBus(self.tmp, netns=netns, name=name))
        self.logs.append(("dbus-daemon", b.log_path))
        return b

    def nm(self, world, bus):
        nm = self.stack.push(NetworkManager(
            world, bus, self.tmp, {"HomeNet": "home0", "Mobile": "mob0"}))
        self.logs.append(("NetworkManager", nm.log_path))
        return nm

    def monitor(self, env, netns=None, name="alr-nmmon"):
        mon = Monitor(self.tmp, env, netns, name)
        self.stack.push(mon)
        self.logs.append((name, mon.log_path))
        return mon


def expect_nm_connections(mon, world, nm, timeout, since):
    """Both keyfile connections, activated, as NetworkManager has them."""
    last = {}
    for cid, c in nm.connections.items():
        e = mon.wait_conn(c["uuid"], timeout, f"{cid} activated",
                          since=since, state="activated")
        check_eq(e["id"], cid, "connection id")
        check_eq(e["kind"], "ethernet", f"{cid}'s kind")
        check_eq(e["conn_type"], "802-3-ethernet", f"{cid}'s type")
        check_eq(e["device_type"], "veth", f"{cid}'s device type")
        check_eq(e["iface"], c["ifname"], f"{cid}'s interface")
        check_eq(e["ifindex"], world.dev.ifindex(c["ifname"]),
                 f"{cid}'s ifindex")
        check_eq((e["vpn"], e["ssid"], e["bssid"], e["strength"],
                  e["modem_caps"]), (False, None, None, -1, ""),
                 f"{cid}'s vpn, wifi and modem fields")
        last[c["uuid"]] = e
    return last


def latest(mon, uuid, upto):
    ev = [e for e in mon.events[:upto]
          if e.get("uuid") == uuid and e["event"] == "conn_changed"]
    return ev[-1] if ev else None


def removed_before_stop(mon, since, what):
    """Wait for running false; return the UUIDs removed before it, and
    the conn_changed events in between."""
    ev, i = mon.wait_running(False, T(20), since)
    between = mon.events[since:i]
    return ({e["uuid"] for e in between if e["event"] == "conn_removed"},
            [e for e in between if e["event"] == "conn_changed"])


def test_real_nm(ctx):
    """Both veth connections with their UUIDs and ids; NetworkManager
    stopped (each removed, then running false) and started again."""
    world = ctx.world()
    bus = ctx.bus(netns=world.dev)
    bus.start()
    nm = ctx.nm(world, bus)
    nm.start()
    nm.wait_activated(nm.uuids(), T(30))
    for c in nm.connections.values():
        addrs = world.addresses(c["ifname"])
        check(any(a.startswith(world.links[c["ifname"]]["prefix"])
                  for a in addrs),
              f"{c['ifname']} has no DHCP address: {addrs}")

    mon = ctx.monitor(bus.env(), netns=world.dev)
    mon.wait_running(True, T(20))
    expect_nm_connections(mon, world, nm, T(20), 0)
    upto = mon.mark()
    primaries = [u for u in nm.uuids() if latest(mon, u, upto)["primary"]]
    check_eq(len(primaries), 1, "primary connections among HomeNet, Mobile")

    # Idle: the bridge must not wake the process up by itself.
    main, total = mon.wakeups(T(5))
    print(f"    idle 5 s with NetworkManager: {main} wakeups of the main "
          f"thread, {total} context switches in all threads; VmRSS "
          f"{mon.main_thread_status('VmRSS')} kB", flush=True)
    check(main <= 5, f"{main} wakeups in 5 s of idleness")

    since = mon.mark()
    nm.stop()
    removed, changed = removed_before_stop(mon, since, "NetworkManager")
    check(nm.uuids() <= removed,
          f"conn_removed before running false: {sorted(removed)}, want "
          f"{sorted(nm.uuids())}")
    check(not changed, "NetworkManager stopping reported as changes: "
          f"{changed[:2]}")

    since = mon.mark()
    nm.start()
    mon.wait_running(True, T(20), since)
    expect_nm_connections(mon, world, nm, T(30), since)
    check_no_loopback(mon)
    mon.stop()


def test_nm_late(ctx):
    """alr-nmmon first, with no bus and no NetworkManager; then the bus,
    then NetworkManager; then the bus goes away and comes back."""
    world = ctx.world()
    bus = ctx.bus(netns=world.dev)
    check(not os.path.exists(bus.dir), "the bus directory exists already")
    nm = ctx.nm(world, bus)

    mon = ctx.monitor(bus.env(), netns=world.dev)
    mon.wait_log(r"no system bus at \S+ yet", T(10))
    bus.start()
    mon.wait_log(r"NetworkManager is not running", T(20))
    check(not [e for e in mon.events if e["event"] == "running"],
          "running reported without NetworkManager")
    nm.start()
    mon.wait_running(True, T(30))
    expect_nm_connections(mon, world, nm, T(30), 0)

    # The bus goes away under a running NetworkManager.
    since = mon.mark()
    bus.stop()
    removed, _ = removed_before_stop(mon, since, "the bus")
    check(nm.uuids() <= removed,
          f"conn_removed before running false: {sorted(removed)}")
    mon.wait_log(r"lost the system bus", T(5))
    nm.cleanup()            # NetworkManager does not survive its bus

    since = mon.mark()
    bus.start()
    nm.start()
    mon.wait_running(True, T(30), since)
    expect_nm_connections(mon, world, nm, T(30), since)
    check_no_loopback(mon)
    check_eq(len(re.findall(r"NetworkManager \S+ is running", mon.log())), 2,
             "'is running' log lines (one per appearance)")
    mon.stop()


def test_mock(ctx):
    """Wi-Fi, cellular, metered and primary through python3-dbusmock."""
    bus = ctx.bus(name="mockbus")
    bus.start()
    mock = ctx.stack.push(NMMock(bus, ctx.tmp))
    ctx.logs.append(("dbusmock", mock.log_path))
    mock.start()
    mon = ctx.monitor(bus.env())
    mon.wait_running(True, T(20))

    wifi_uuid, modem_uuid = str(uuidlib.uuid4()), str(uuidlib.uuid4())
    wifi = mock.add_wifi("wlan0", ssid="HomeNet", bssid="00:11:22:33:44:55",
                         strength=82, conn_id="HomeNet", uuid=wifi_uuid)
    e = mon.wait_conn(wifi_uuid, T(20), "the Wi-Fi connection with its AP",
                      ssid="HomeNet")
    check_eq((e["id"], e["kind"], e["conn_type"], e["device_type"],
              e["iface"], e["bssid"], e["strength"], e["state"],
              e["metered"], e["modem_caps"]),
             ("HomeNet", "wifi", "802-11-wireless", "wifi", "wlan0",
              "00:11:22:33:44:55", 82, "activated", False, ""),
             "Wi-Fi connection fields")

    # Something we do not report changes, then the strength: the next
    # event for the Wi-Fi connection is the strength, and only that.
    since = mon.mark()
    mock.set_ap_frequency(wifi, 5180)
    mock.set_strength(wifi, 40)
    e, _ = mon.wait(lambda e: e.get("uuid") == wifi_uuid, T(20),
                    "the Wi-Fi connection's next event", since)
    check_eq((e["event"], e["strength"], e["ssid"]),
             ("conn_changed", 40, "HomeNet"), "after a strength change")

    # SSIDs are bytes: valid UTF-8 kept, anything else escaped.
    since = mon.mark()
    mock.set_ssid_bytes(wifi, "Café".encode() + b"\xff\\")
    e = mon.wait_conn(wifi_uuid, T(20), "the new SSID", since)
    check_eq(e["ssid"], "Café\\xff\\\\", "escaped SSID")

    since = mon.mark()
    modem = mock.add_modem("wwan0", conn_id="Mobile", uuid=modem_uuid)
    e = mon.wait_conn(modem_uuid, T(20), "the modem connection", since)
    check_eq((e["id"], e["kind"], e["conn_type"], e["device_type"],
              e["iface"], e["modem_caps"], e["metered"], e["ssid"],
              e["strength"]),
             ("Mobile", "cellular", "gsm", "modem", "wwan0", "gsm-umts,lte",
              False, None, -1), "modem connection fields")

    since = mon.mark()
    mock.set_metered(modem, True)
    mon.wait_conn(modem_uuid, T(20), "modem metered", since, metered=True)
    mock.set_metered(wifi, True)
    mon.wait_conn(wifi_uuid, T(20), "Wi-Fi metered", since, metered=True)

    since = mon.mark()
    mock.set_primary(wifi)
    mon.wait_conn(wifi_uuid, T(20), "Wi-Fi primary", since, primary=True)
    since = mon.mark()
    mock.set_primary(modem)
    mon.wait_conn(modem_uuid, T(20), "modem primary", since, primary=True)
    mon.wait_conn(wifi_uuid, T(20), "Wi-Fi no longer primary", since,
                  primary=False)

    since = mon.mark()
    mock.deactivate(modem)
    e, _ = mon.wait(lambda e: e["event"] == "conn_removed", T(20),
                    "the modem connection removed", since)
    check_eq(e["uuid"], modem_uuid, "removed connection")

    # The mock goes away: NetworkManager's name has no owner.
    since = mon.mark()
    mock.cleanup()
    removed, changed = removed_before_stop(mon, since, "the mock")
    check_eq(removed, {wifi_uuid}, "removed before running false")
    mon.stop()


TESTS = [test_real_nm, test_nm_late, test_mock]


# ---------------------------------------------------------------------------
# Runner

def _on_signal(signum, frame):
    raise Interrupted(f"signal {signum}")


def _on_alarm(signum, frame):
    raise TestTimeout()


def main():
    if os.geteuid() != 0:
        print("skip: needs root (network namespaces)")
        return 77
    missing = have_networkmanager()
    if missing:
        print(f"skip: not installed: {missing}")
        return 77
    why = have_dbusmock()
    if why:
        print(f"skip: {why}")
        return 77
    if not os.access(nmmon_path(), os.X_OK):
        print(f"FAIL: no alr-nmmon at {nmmon_path()} (build it, or set "
              "ALR_BUILD_DIR)")
        return 1
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _on_signal)
    signal.signal(signal.SIGALRM, _on_alarm)
    reap_orphans()

    only = [n for n in os.environ.get("ALR_NM_TESTS", "").split(",") if n]
    passed = failed = 0
    for seq, test in enumerate(TESTS, 1):
        name = test.__name__
        if only and name not in only:
            continue
        ctx = Ctx(name, seq)
        print(f"--- {name}", flush=True)
        ok = False
        try:
            signal.alarm(int(T(PER_TEST_TIMEOUT)))
            test(ctx)
            ok = True
        except (TestFailure, FixtureError) as e:
            print(f"FAIL {name}: {e}", flush=True)
        except TestTimeout:
            print(f"FAIL {name}: no result within "
                  f"{T(PER_TEST_TIMEOUT):.0f}s", flush=True)
        except Interrupted as e:
            print(f"FAIL {name}: interrupted ({e})", flush=True)
            ctx.stack.run()
            failed += 1
            break
        except Exception:
            print(f"FAIL {name}: error in the test:", flush=True)
            traceback.print_exc()
        finally:
            signal.alarm(0)
            try:
                ctx.stack.run()
            except Interrupted:
                ctx.stack.run()
        if ok:
            passed += 1
            print(f"ok {name}", flush=True)
        else:
            failed += 1
            for title, path in ctx.logs:
                tail = log_tail(path, 25)
                if tail:
                    print(f"  --- {title} ({path}):\n{tail}", flush=True)
        if os.environ.get("ALR_KEEP"):
            print(f"  (files kept in {ctx.tmp})", flush=True)
        else:
            remove_tree(ctx.tmp)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
