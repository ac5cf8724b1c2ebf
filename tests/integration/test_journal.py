#!/usr/bin/python3
"""alrd logs to the journal in its native protocol when stderr is the
journal (docs/configuration.md, "Logging").

No systemd is needed: the test plays journald.  alrd's stderr is one end
of a stream socket whose device and inode go in $JOURNAL_STREAM, as
systemd does for StandardError=journal; inside alrd's own mount namespace
(`ip netns exec` makes one) a tmpfs covers /run/systemd and the test's
directory, where it has bound an AF_UNIX datagram socket, is mounted on
/run/systemd/journal, so that libsystemd's sd_journal_sendv() reaches the
test's socket at /run/systemd/journal/socket.  The test reads the
datagrams in the native format (KEY=VALUE lines, or KEY, a 64-bit
little-endian length and the bytes) and checks what journalctl would
show: PRIORITY per level (journalctl -p warning: exactly the warnings),
the place in the code, and ALR_PROFILE=, ALR_IAP=, SIP_CALL_ID=."""

import os
import re
import select
import shlex
import socket
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alrtest  # noqa: E402
from alrtest import T, check, check_eq, main  # noqa: E402


def parse_entry(data):
    """One native-protocol datagram as {KEY: VALUE}."""
    fields = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            fields[k.decode()] = v.decode(errors="replace")
            i = nl + 1
        else:
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            fields[line.decode()] = data[nl + 9:nl + 9 + n].decode(errors="replace")
            i = nl + 9 + n + 1
    return fields


class Journal:
    """The test's journald: the native socket and the stdout stream."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix=f"alrt-journal-{os.getpid()}-")
        os.chmod(self.dir, 0o755)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(os.path.join(self.dir, "socket"))
        os.chmod(os.path.join(self.dir, "socket"), 0o666)
        # stderr: a stream, as journald's stdout socket
        self.stream, self.theirs = socket.socketpair(socket.AF_UNIX,
                                                     socket.SOCK_STREAM)
        st = os.fstat(self.theirs.fileno())
        self.journal_stream = f"{st.st_dev}:{st.st_ino}"
        self.entries = []
        self.text = b""
        self.cond = threading.Condition()
        self._stop = False
        # Read at once, as journald does: a datagram socket holds only
        # net.unix.max_dgram_qlen datagrams, then the sender blocks.
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        while not self._stop:
            r, _, _ = select.select([self.sock, self.stream], [], [], 0.2)
            for s in r:
                if s is self.sock:
                    e = parse_entry(self.sock.recv(1 << 20))
                    with self.cond:
                        self.entries.append(e)
                        self.cond.notify_all()
                else:
                    data = self.stream.recv(65536)
                    if data:
                        self.text += data

    def wait(self, pred, what, timeout=None):
        deadline = time.monotonic() + (timeout or T(20))
        with self.cond:
            while True:
                found = [e for e in self.entries if pred(e)]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise alrtest.TestFailure(
                        f"no journal entry {what} within the deadline; entries:\n"
                        + "\n".join(f"  {e.get('PRIORITY')} {e.get('MESSAGE')}"
                                    for e in self.entries))
                self.cond.wait(left)

    def cleanup(self):
        self._stop = True
        self.t.join(2)
        for s in (self.sock, self.stream, self.theirs):
            s.close()
        alrtest.run(["rm", "-rf", self.dir], check=False)


class JournalDaemon(alrtest.Daemon):
    """alrd with stderr on the journal's stream and the test's socket as
    /run/systemd/journal/socket in its mount namespace."""

    def __init__(self, world, journal, config=None):
        self.journal = journal
        super().__init__(world, config=config, start=False)

    def argv(self, *extra):
        alrd = " ".join(shlex.quote(a) for a in
                        [alrtest.alrd_path(), "-f", "-c", self.conf_path]
                        + list(extra))
        script = ("set -e; "
                  "if [ -d /run/systemd ]; then top=/run/systemd; "
                  "else top=/run; fi; "
                  "mount -t tmpfs -o mode=0755 alrt-journal $top; "
                  "mkdir -p /run/systemd/journal; "
                  f"mount --bind {shlex.quote(self.journal.dir)} "
                  "/run/systemd/journal; "
                  f"exec {alrd}")
        return self.world.exec_argv(["sh", "-c", script])

    def start(self, timeout=None):
        env = dict(os.environ, JOURNAL_STREAM=self.journal.journal_stream)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        if self.logf is None:
            self.logf = open(self.log_path, "ab")
        self._log_start = os.path.getsize(self.log_path)
        fd = self.journal.theirs.fileno()
        self.proc = alrtest.subprocess.Popen(
            self.argv(), stdin=alrtest.subprocess.DEVNULL, stdout=fd,
            stderr=fd, start_new_session=True, env=env)
        self.expect_exit = False
        self.wait_ready(timeout)


def test_native_journal(fx):
    journal = Journal()
    fx._objs.append(journal)
    w = fx.world()
    d = JournalDaemon(w, journal, {"daemon": {
        "plugin-dir": alrtest.plugin_dir(), "log-level": "debug"}})
    snap_dir = os.path.join(d.tmp, "snap.d")
    os.makedirs(snap_dir, mode=0o755)
    d.config["daemon"]["snap-dir"] = snap_dir
    d.write_config()
    fx._objs.append(d)
    fx.daemons.append(d)
    d.start()
    c = fx.client(d)

    # An IAP: its lines carry ALR_IAP=
    wlan = c.iap("wlan0")["id"]
    e = journal.wait(lambda e: e.get("MESSAGE", "").startswith(
        f"iap {wlan} (wlan0): added"), "iap added")
    check_eq(e.get("ALR_IAP"), str(wlan), "ALR_IAP of 'iap added'")
    check_eq((e.get("PRIORITY"), e.get("SYSLOG_IDENTIFIER")), ("6", "alrd"),
             "PRIORITY and SYSLOG_IDENTIFIER of an info line")
    check(e.get("CODE_FILE", "").endswith("alr/iap_table.c")
          and e.get("CODE_LINE", "").isdigit() and e.get("CODE_FUNC"),
          "CODE_FILE/LINE/FUNC: %r", e)

    # A profile: the roaming engine's edge carries ALR_PROFILE= and the
    # IAP; the REGISTER's Call-ID the binding's lines.
    pid = c.call("profile.create", {"profile": {
        "aor": "sip:alice@example.test",
        "registrar": {"uri": "sip:10.99.1.1"},
        "iap_id": wlan, "auto_register": True}})["profile"]["id"]
    e = journal.wait(lambda e: e.get("ALR_PROFILE") == str(pid)
                     and "-> REGISTERING" in e.get("MESSAGE", ""),
                     "profile -> REGISTERING")
    check_eq(e.get("ALR_IAP"), str(wlan), "ALR_IAP of the profile's edge")
    journal.wait(lambda e: e.get("SIP_CALL_ID")
                 and e.get("MESSAGE", "").startswith("binding "),
                 "a binding line with SIP_CALL_ID")
    # no registrar there: gone before its REGISTER could time out
    c.call("profile.delete", {"id": pid})

    # A warning: a SNAP file that does not parse.
    with open(os.path.join(snap_dir, "10-bad.conf"), "w") as f:
        f.write("[snap]\nid = 7\nname = bad\nstabel-time = 1s\n")
    os.chmod(os.path.join(snap_dir, "10-bad.conf"), 0o644)
    c.call("daemon.reload")
    journal.wait(lambda e: "file skipped" in e.get("MESSAGE", ""),
                 "the SNAP warning")
    c.call("daemon.info")


    # journalctl -p warning: exactly the warnings.  Every line logged so
    # far at warning or above is the skipped file; everything else is
    # notice, info or debug.
    urgent = [e for e in journal.entries if int(e["PRIORITY"]) <= 4]
    check_eq([(e["PRIORITY"], "file skipped" in e["MESSAGE"]) for e in urgent],
             [("4", True)], "entries at warning and above: %r" % urgent)
    levels = {e["PRIORITY"] for e in journal.entries}
    check({"5", "6", "7"} <= levels, "notice, info and debug entries: %r", levels)
    for e in journal.entries:
        for k in ("MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE",
                  "CODE_LINE", "CODE_FUNC"):
            check(k in e, "entry without %s: %r", k, e)
    # nothing went the old way, on the stream
    d.stop()
    d.journal.t.join(T(5))
    check(b"] info: " not in journal.text and b"] notice: " not in journal.text,
          "plain lines on the journal's stream: %r", journal.text[:400])
    check(any(e["MESSAGE"] == "alrd stopped" for e in journal.entries),
          "'alrd stopped' in the journal")


def test_plain_stderr_without_journal_stream(fx):
    """Without $JOURNAL_STREAM (or when it names another file) stderr
    keeps its lines: HH:MM:SS.uuuuuu alrd[PID] LEVEL: MESSAGE."""
    w = fx.world()
    old = os.environ.get("JOURNAL_STREAM")
    os.environ["JOURNAL_STREAM"] = "1:1"      # not alrd's stderr
    try:
        d = fx.daemon(w)
    finally:
        if old is None:
            del os.environ["JOURNAL_STREAM"]
        else:
            os.environ["JOURNAL_STREAM"] = old
    fx.client(d).call("daemon.info")
    d.stop()
    with open(d.log_path) as f:
        log = f.read()
    check(re.search(r"^\d\d:\d\d:\d\d\.\d{6} alrd\[\d+\] notice: alrd ", log, re.M)
          and "] info: iap " in log,
          "plain stderr lines expected:\n%s", log[-800:])


if __name__ == "__main__":
    main()
