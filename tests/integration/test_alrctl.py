#!/usr/bin/python3
"""alrctl against a live alrd: status, iap list/show, monitor, and its
exit codes (sysexits: 69 EX_UNAVAILABLE when the daemon cannot be reached,
77 EX_NOPERM when the daemon refuses a change)."""

import json
import os
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from alrtest import (T, alrctl_path, as_nobody_argv, check,      # noqa: E402
                     check_eq, main, run, wait_iap_event, wait_until)

EX_DATAERR = 65
EX_UNAVAILABLE = 69
EX_NOPERM = 77


def alrctl(d, *args, as_nobody=False, env=None, timeout=None):
    argv = [alrctl_path()]
    if d is not None:
        argv += ["-s", d.socket_path]
    argv += list(args)
    if as_nobody:
        argv = as_nobody_argv(argv)
    return run(argv, check=False, timeout=timeout or T(30), env=env,
               cwd="/")


def ok(r, what):
    check(r.returncode == 0, "%s: exit %d\nstdout: %s\nstderr: %s", what,
          r.returncode, r.stdout, r.stderr)
    return r.stdout


def test_status(fx):
    w, d, c = fx.setup()
    version = c.info()["version"]
    out = ok(alrctl(d, "status"), "alrctl status")
    check(version in out, "alrctl status should show version %s:\n%s",
          version, out)
    # $ALRD_SOCKET names the socket too.
    env = dict(os.environ, ALRD_SOCKET=d.socket_path)
    out = ok(alrctl(None, "status", env=env), "ALRD_SOCKET=... alrctl status")
    check(version in out, "status via $ALRD_SOCKET:\n%s", out)


def test_iap_list_and_show(fx):
    w, d, c = fx.setup()
    out = ok(alrctl(d, "iap", "list"), "alrctl iap list")
    print("    " + out.rstrip().replace("\n", "\n    "), flush=True)
    lines = out.splitlines()
    for name, kind in (("wlan0", "wifi"), ("wwan0", "cellular")):
        check(any(name in l.split() and kind in l.split() for l in lines),
              "alrctl iap list should have a line with %s and %s:\n%s",
              name, kind, out)
    iaps = c.iaps()
    first = min(i["id"] for i in iaps.values())
    out = ok(alrctl(d, "-j", "iap", "show", str(first)),
             "alrctl -j iap show")
    try:
        obj = json.loads(out)
    except ValueError as e:
        raise AssertionError(f"alrctl -j iap show is not JSON ({e}):\n{out}")
    iap = obj.get("iap", obj) if isinstance(obj, dict) else None
    check(isinstance(iap, dict), "alrctl -j iap show: not an object: %r",
          obj)
    check_eq(iap.get("id"), first, "alrctl -j iap show: id")
    want = [i for i in iaps.values() if i["id"] == first][0]
    check_eq(iap.get("name"), want["name"], "alrctl -j iap show: name")
    r = alrctl(d, "iap", "show", "999999")
    check_eq(r.returncode, EX_DATAERR,
             f"alrctl iap show 999999 (stdout {r.stdout!r}, stderr "
             f"{r.stderr!r})")


class Lines:
    """Lines from a child's stdout, read with deadlines."""

    def __init__(self, proc):
        self.proc = proc
        self.fd = proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.buf = b""
        self.seen = []

    def next(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                return None
            data = os.read(self.fd, 65536)
            if not data:
                return None
            self.buf += data
        l, self.buf = self.buf.split(b"\n", 1)
        l = l.decode(errors="replace")
        self.seen.append(l)
        return l

    def wait_for(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while True:
            l = self.next(deadline)
            if l is None:
                return None
            if pred(l):
                return l


def test_monitor(fx):
    w, d, c = fx.setup()
    c.subscribe(["iap.*"])
    mon = fx.popen([alrctl_path(), "-s", d.socket_path, "monitor"],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   stdin=subprocess.DEVNULL)
    out = Lines(mon)
    # There is no way to ask whether monitor has subscribed yet: flip
    # wwan0 until monitor shows one of its events, then it is listening.
    for _ in range(10):
        if mon.poll() is not None:
            raise AssertionError(
                f"alrctl monitor exited ({mon.returncode}): "
                f"{mon.stderr.read().decode(errors='replace')}")
        w.carrier_down("wwan0")
        wait_iap_event(c, "iap.down", "wwan0")
        w.carrier_up("wwan0")
        wait_iap_event(c, "iap.up", "wwan0")
        if out.wait_for(lambda l: "wwan0" in l, T(3)):
            break
    else:
        raise AssertionError("alrctl monitor printed nothing about wwan0 "
                             f"over 10 carrier flips: {out.seen!r}")
    # Let the flips' remaining lines pass, then the real check.
    w.carrier_down("wlan0")
    wait_iap_event(c, "iap.down", "wlan0")
    line = out.wait_for(lambda l: "iap.down" in l and "wlan0" in l, T(10))
    check(line is not None, "alrctl monitor printed no iap.down line for "
          "wlan0; it printed: %r", out.seen[-20:])
    print(f"    monitor: {line}", flush=True)
    # SIGTERM ends monitor with status 0.
    mon.terminate()
    try:
        rc = mon.wait(T(10))
    except subprocess.TimeoutExpired:
        raise AssertionError("alrctl monitor did not exit on SIGTERM")
    check_eq(rc, 0, "alrctl monitor's status after SIGTERM")


def test_monitor_daemon_goes_away(fx):
    w, d, c = fx.setup()
    mon = fx.popen([alrctl_path(), "-s", d.socket_path, "monitor"],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   stdin=subprocess.DEVNULL)
    wait_until(lambda: c.info()["clients"] == 2, T(20),
               "alrctl monitor connected (daemon.info clients == 2)")
    d.stop()
    try:
        rc = mon.wait(T(20))
    except subprocess.TimeoutExpired:
        raise AssertionError("alrctl monitor kept running after alrd "
                             "stopped")
    check_eq(rc, EX_UNAVAILABLE, "alrctl monitor's status when alrd stops")


def test_missing_socket(fx):
    missing = "/nonexistent-alrt/alrd.sock"
    r = run([alrctl_path(), "-s", missing, "status"], check=False,
            timeout=T(30))
    check_eq(r.returncode, EX_UNAVAILABLE,
             f"alrctl with a missing socket (stderr {r.stderr.strip()!r})")
    check(r.stderr.strip(), "alrctl said nothing on stderr")


def test_nobody_may_not_change(fx):
    w, d, c = fx.setup()
    r = alrctl(d, "log-level", "error", as_nobody=True)
    check_eq(r.returncode, EX_NOPERM,
             f"alrctl log-level as nobody (stdout {r.stdout!r}, stderr "
             f"{r.stderr!r})")
    check(r.stderr.strip(), "alrctl gave no reason on stderr")
    check_eq(c.info()["log_level"], "debug", "log level after the refusal")
    # Reading is allowed.
    out = ok(alrctl(d, "iap", "list", as_nobody=True), "iap list as nobody")
    check("wlan0" in out, "iap list as nobody:\n%s", out)
    # And root may.
    ok(alrctl(d, "log-level", "info"), "alrctl log-level info as root")
    check_eq(c.info()["log_level"], "info", "log level set by alrctl")


if __name__ == "__main__":
    main()
