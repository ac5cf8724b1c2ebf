#!/usr/bin/python3
"""alrtest: the harness for alrd's integration tests.

The tests drive the real daemon over its control socket inside network
namespaces (docs/protocol.md, DESIGN.md section 7).  This module holds:

  World    two namespaces joined by veth pairs: the "device" namespace where
           alrd runs, with wlan0 and wwan0, and the "network" namespace that
           holds their peers (wlan0p, wwan0p).  Carrier loss is the peer end
           going down, as when an access point disappears.
  Daemon   one alrd run: its configuration file, state directory, socket and
           log in a temporary directory.
  Client   a small JSON-RPC 2.0 client (one object per line) written against
           the protocol document, not against libalr-client, so the two can
           check each other.
  main()   the runner: every test_* function of the calling script gets a
           Fixture, and everything the fixture made is torn down even when
           the test fails or the run is interrupted.

Python 3.11 standard library only.  Needs root; without it (or without
network namespaces) the runner exits 77, which ctest reports as skipped.

Environment:
  ALR_BUILD_DIR       the build tree holding daemon/alrd and client/alrctl
  ALR_TIMEOUT_SCALE   multiply every deadline (slow machines, valgrind)
  ALR_KEEP            keep the temporary directories (logs, configs)
"""

import atexit
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
NOBODY = 65534
PREFIX = "alrt"            # every namespace this harness makes starts so

# ---------------------------------------------------------------------------
# Small utilities


def scale():
    try:
        return max(float(os.environ.get("ALR_TIMEOUT_SCALE", "1")), 0.1)
    except ValueError:
        return 1.0


def T(seconds):
    """A deadline length, scaled for slow machines."""
    return seconds * scale()


def build_dir():
    d = os.environ.get("ALR_BUILD_DIR")
    if d:
        return os.path.abspath(d)
    return os.path.join(SOURCE_DIR, "build")


def alrd_path():
    return os.path.join(build_dir(), "daemon", "alrd")


def alrctl_path():
    return os.path.join(build_dir(), "client", "alrctl")


def plugin_dir():
    """Where the build puts alrd's plugins (plugins/CMakeLists.txt)."""
    return os.path.join(build_dir(), "plugins")


class TestFailure(AssertionError):
    pass


class Skip(Exception):
    """Raise in a test to skip it."""


class Interrupted(BaseException):
    """SIGTERM/SIGINT/SIGHUP arrived: unwind, clean up, exit."""

    def __init__(self, signum):
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum


class TestTimeout(BaseException):
    """The per-test deadline passed (SIGALRM)."""


class CommandError(Exception):
    def __init__(self, argv, rc, out, err):
        super().__init__(f"{' '.join(argv)} exited with {rc}: "
                         f"{(err or out).strip()[-2000:]}")
        self.argv, self.rc, self.out, self.err = argv, rc, out, err


def run(argv, check=True, input=None, timeout=None, **kw):
    """Run a command, capture its output (text), raise CommandError."""
    r = subprocess.run(argv, input=input, capture_output=True, text=True,
                       timeout=timeout or T(120), **kw)
    if check and r.returncode != 0:
        raise CommandError(argv, r.returncode, r.stdout, r.stderr)
    return r


def wait_until(fn, timeout, what=None, interval=0.1):
    """Poll fn() until it returns something true; return that.

    Only for conditions that no event reports (comparing the daemon's view
    with the kernel's after a burst, a value in daemon.info).  Where an
    event exists, use Client.wait_event()."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise TestFailure(f"timed out after {timeout:.0f}s waiting for "
                              f"{what or getattr(fn, '__name__', 'condition')}"
                              f" (last value: {_short(last)})")
        time.sleep(interval)


def _short(v, n=300):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "..."


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------------------
# Cleanup registry: everything that must not outlive the run.

_live = []
_cleaning = False


def _register(obj):
    _live.append(obj)


def _unregister(obj):
    try:
        _live.remove(obj)
    except ValueError:
        pass


def cleanup_all():
    """Tear down whatever is still registered, newest first."""
    global _cleaning
    _cleaning = True
    try:
        while _live:
            obj = _live.pop()
            try:
                obj.cleanup()
            except Exception:                       # keep going
                traceback.print_exc()
    finally:
        _cleaning = False


def _on_signal(signum, frame):
    if _cleaning:
        return              # finish cleaning first; exit follows
    raise Interrupted(signum)


def install_signal_handlers():
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _on_signal)


atexit.register(cleanup_all)
install_signal_handlers()


def netns_list():
    r = run(["ip", "-j", "netns", "list"], check=False)
    try:
        return [n["name"] for n in json.loads(r.stdout or "[]")]
    except ValueError:
        return []


def netns_kill_and_delete(ns):
    """Kill every process in namespace ns (they are ours: only this harness
    makes namespaces with our prefix) and delete it.  Tolerates ns being
    gone already."""
    if ns not in netns_list():
        return
    for _ in range(3):
        r = run(["ip", "netns", "pids", ns], check=False)
        pids = [int(p) for p in r.stdout.split() if p.isdigit()]
        if not pids:
            break
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.02)
    run(["ip", "netns", "del", ns], check=False)


_ORPHAN_RE = re.compile(r"^" + PREFIX + r"(\d+)(?:x\d+)?[dn]$")
_ORPHAN_TMP_RE = re.compile(r"^" + PREFIX + r"-(\d+)-\w+$")


def reap_orphans():
    """Delete namespaces left by an earlier run that was killed outright
    (SIGKILL from a ctest timeout cannot be caught): ours by name, and the
    pid in the name is gone."""
    for ns in netns_list():
        m = _ORPHAN_RE.match(ns)
        if m and not pid_alive(int(m.group(1))):
            print(f"alrtest: removing namespace {ns} left by a dead run",
                  flush=True)
            netns_kill_and_delete(ns)
    tmp = tempfile.gettempdir()
    for name in os.listdir(tmp):
        m = _ORPHAN_TMP_RE.match(name)
        if m and not pid_alive(int(m.group(1))) \
                and not os.environ.get("ALR_KEEP"):
            subprocess.run(["rm", "-rf", "--one-file-system",
                            os.path.join(tmp, name)])


def can_create_netns():
    probe = f"{PREFIX}{os.getpid()}probe"
    r = run(["ip", "netns", "add", probe], check=False)
    if r.returncode != 0:
        return False, r.stderr.strip()
    r2 = run(["ip", "-n", probe, "link", "add", "name", "v0", "type", "veth",
              "peer", "name", "v1"], check=False)
    run(["ip", "netns", "del", probe], check=False)
    if r2.returncode != 0:
        return False, "veth: " + r2.stderr.strip()
    return True, ""


# ---------------------------------------------------------------------------
# World: namespaces and links


class World:
    """The device namespace (alrd runs here) and the network namespace
    (the far ends of the links).

    Each link NAME is a veth pair NAME (device side) / NAME+"p" (network
    side).  Link number n gets 10.99.n.2/24 on the device side, 10.99.n.1/24
    on the peer, and a default route via the peer with metric 100*n, so
    wlan0 (n=1) is preferred over wwan0 (n=2)."""

    _seq = 0
    DEFAULT_LINKS = ("wlan0", "wwan0")

    def __init__(self, links=DEFAULT_LINKS):
        World._seq += 1
        tag = f"{PREFIX}{os.getpid()}"
        if World._seq > 1:
            tag += f"x{World._seq}"
        self.dev = tag + "d"
        self.net = tag + "n"
        self.links = {}          # name -> spec dict
        self._next_subnet = 1
        _register(self)
        try:
            run(["ip", "netns", "add", self.dev])
            run(["ip", "netns", "add", self.net])
            self.ipd("link", "set", "lo", "up")
            self.ipn("link", "set", "lo", "up")
            for name in links:
                self.add_link(name, wait=False)
            self.wait_links_up(list(links))
        except BaseException:
            self.cleanup()
            raise

    # -- running ip ------------------------------------------------------

    def ipd(self, *args, check=True):
        """ip in the device namespace; returns stdout."""
        return run(["ip", "-n", self.dev] + list(args), check=check).stdout

    def ipn(self, *args, check=True):
        """ip in the network namespace."""
        return run(["ip", "-n", self.net] + list(args), check=check).stdout

    def jd(self, *args):
        """ip -j in the device namespace, parsed."""
        out = run(["ip", "-n", self.dev, "-j"] + list(args)).stdout
        return json.loads(out) if out.strip() else []

    def batch(self, lines, ns=None):
        """Run many ip commands at once (ip -batch) in ns (default: the
        device namespace).  Stops at the first error, which raises."""
        fd, path = tempfile.mkstemp(prefix="alrt-batch-", text=True)
        try:
            with os.fdopen(fd, "w") as f:
                f.write("\n".join(lines) + "\n")
            run(["ip", "-n", ns or self.dev, "-batch", path], timeout=T(600))
        finally:
            os.unlink(path)

    def exec_argv(self, argv):
        """argv run inside the device namespace."""
        return ["ip", "netns", "exec", self.dev] + list(argv)

    # -- links -----------------------------------------------------------

    def add_link(self, name, default_route=True, wait=True):
        """Create (or re-create with the same addresses) link NAME."""
        spec = self.links.get(name)
        if spec is None:
            n = self._next_subnet
            self._next_subnet += 1
            spec = {
                "name": name, "peer": name + "p", "n": n,
                "addr": f"10.99.{n}.2", "prefix": 24,
                "gw": f"10.99.{n}.1", "metric": 100 * n,
            }
            self.links[name] = spec
        run(["ip", "link", "add", "name", name, "netns", self.dev,
             "type", "veth", "peer", "name", spec["peer"], "netns", self.net])
        self.ipn("addr", "add", f"{spec['gw']}/{spec['prefix']}",
                 "dev", spec["peer"])
        self.ipn("link", "set", spec["peer"], "up")
        self.ipd("addr", "add", f"{spec['addr']}/{spec['prefix']}",
                 "dev", name)
        self.ipd("link", "set", name, "up")
        if default_route:
            self.add_route(name)
        if wait:
            self.wait_links_up([name])
        return spec

    def delete_link(self, name):
        self.ipd("link", "del", name)

    def carrier_down(self, name):
        """The far end goes down: NAME loses carrier but stays up."""
        self.ipn("link", "set", self.links[name]["peer"], "down")

    def carrier_up(self, name):
        self.ipn("link", "set", self.links[name]["peer"], "up")

    def link_down(self, name):
        """Administratively down (the device side)."""
        self.ipd("link", "set", name, "down")

    def link_up(self, name):
        self.ipd("link", "set", name, "up")

    def addr_of(self, name):
        s = self.links[name]
        return f"{s['addr']}/{s['prefix']}"

    def del_addr(self, name, addr=None):
        self.ipd("addr", "del", addr or self.addr_of(name), "dev", name)

    def add_addr(self, name, addr=None, *flags):
        self.ipd("addr", "add", addr or self.addr_of(name), "dev", name,
                 *flags)

    def del_route(self, name):
        s = self.links[name]
        self.ipd("route", "del", "default", "via", s["gw"], "dev", name,
                 "metric", str(s["metric"]))

    def add_route(self, name):
        s = self.links[name]
        self.ipd("route", "add", "default", "via", s["gw"], "dev", name,
                 "metric", str(s["metric"]))

    def has_default_route(self, name):
        return any(r.get("dev") == name
                   for r in self.jd("route", "show", "default"))

    def restore(self, name):
        """Bring NAME back to its configured state (address, default route,
        carrier), whatever was taken away."""
        if (self.links[name]["addr"], self.links[name]["prefix"]) \
                not in self.addrs(name):
            self.add_addr(name)
        if not self.has_default_route(name):
            self.add_route(name)

    # -- reading the kernel's view --------------------------------------

    def link(self, name):
        j = self.jd("link", "show", "dev", name)
        return j[0] if j else None

    def addrs(self, name):
        """The set of (address, prefix) the kernel has on NAME."""
        j = self.jd("addr", "show", "dev", name)
        return {(a["local"], a["prefixlen"])
                for e in j for a in e.get("addr_info", [])}

    def all_addrs(self):
        """{ifname: {(address, prefix), ...}} for the device namespace."""
        return {e["ifname"]: {(a["local"], a["prefixlen"])
                              for a in e.get("addr_info", [])}
                for e in self.jd("addr", "show")}

    def ifindex(self, name):
        return self.link(name)["ifindex"]

    def wait_links_up(self, names, timeout=None):
        """Wait until the kernel reports carrier on NAMES (setting up a
        world, before any daemon watches)."""
        def ready():
            for n in names:
                li = self.link(n)
                if not li or "LOWER_UP" not in li.get("flags", []) \
                        or li.get("operstate") != "UP":
                    return False
            return True
        wait_until(ready, timeout or T(15), f"carrier on {names}")

    # -- teardown --------------------------------------------------------

    def cleanup(self):
        for ns in (self.dev, self.net):
            netns_kill_and_delete(ns)
        _unregister(self)


# ---------------------------------------------------------------------------
# Daemon


class DaemonError(TestFailure):
    pass


SANITIZER_RE = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)"
    r"|runtime error: ")


def default_config(tmp):
    return {
        "daemon": {
            "state-dir": os.path.join(tmp, "state"),
            "log-level": "debug",
            "log-target": "stderr",
        },
        "control": {
            "socket": os.path.join(tmp, "alrd.sock"),
            "socket-mode": "0666",
        },
        "iap-kinds": {
            "wlan*": "wifi",
            "wwan*": "cellular",
        },
    }


def render_config(cfg):
    out = ["# written by tests/integration/alrtest.py"]
    for section, items in cfg.items():
        out.append(f"[{section}]")
        for k, v in items.items():
            if v is not None:
                out.append(f"{k} = {v}")
        out.append("")
    return "\n".join(out)


class Daemon:
    """One alrd in world.dev, with everything in a temporary directory
    (mode 0755 so that uid nobody can reach the socket)."""

    tail_in_errors = True        # the test runner prints logs itself

    def __init__(self, world, config=None, start=True, tmp=None):
        self.world = world
        self.proc = None
        self.logf = None
        self.expect_exit = False
        self.tmp = tmp or tempfile.mkdtemp(prefix=f"{PREFIX}-{os.getpid()}-")
        # A test may set these before start(): a command that execs alrd
        # (before ALR_ALRD_WRAPPER's), and variables for its environment.
        self.wrapper = []
        self.env = {}
        _register(self)
        os.chmod(self.tmp, 0o755)
        self.config = default_config(self.tmp)
        for section, items in (config or {}).items():
            self.config.setdefault(section, {}).update(items)
        self.conf_path = os.path.join(self.tmp, "alrd.conf")
        self.log_path = os.path.join(self.tmp, "alrd.log")
        self.state_dir = self.config["daemon"]["state-dir"]
        self.socket_path = self.config["control"]["socket"]
        os.makedirs(self.state_dir, mode=0o755, exist_ok=True)
        os.chmod(self.state_dir, 0o755)
        self.write_config()
        if start:
            self.start()

    def write_config(self, text=None):
        with open(self.conf_path, "w") as f:
            f.write(text if text is not None else render_config(self.config))

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def argv(self, *extra):
        # ALR_ALRD_WRAPPER: a command (and its arguments, blank-separated)
        # that execs alrd, e.g. "setpriv --bounding-set=-all" to run the
        # tests with fewer capabilities (contrib/alrd.service.in says what
        # that showed).
        wrapper = self.wrapper + os.environ.get("ALR_ALRD_WRAPPER", "").split()
        return self.world.exec_argv(wrapper + [alrd_path(), "-f", "-c",
                                               self.conf_path] + list(extra))

    def start(self, timeout=None):
        if not os.access(alrd_path(), os.X_OK):
            raise DaemonError(f"no alrd at {alrd_path()} (build it, or set "
                              "ALR_BUILD_DIR)")
        if self.logf is None:
            self.logf = open(self.log_path, "ab")
        self.logf.write(b"==== alrtest: starting alrd ====\n")
        self.logf.flush()
        self._log_start = os.path.getsize(self.log_path)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        env.update(self.env)
        # ip netns exec execs alrd: the Popen pid is alrd's pid.
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf,
                                     start_new_session=True, env=env)
        self.expect_exit = False
        self.wait_ready(timeout)

    def wait_ready(self, timeout=None):
        """Wait until the socket accepts connections (the daemon has then
        finished its initial netlink dump).  Fails at once if alrd exits."""
        timeout = timeout or T(60)
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.expect_exit = True     # reported here, not again
                raise self._err(f"alrd exited with status {rc} before its "
                                "socket accepted connections")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.settimeout(2)
                s.connect(self.socket_path)
                return
            except (FileNotFoundError, ConnectionRefusedError,
                    socket.timeout):
                pass
            finally:
                s.close()
            if time.monotonic() >= deadline:
                raise self._err(f"alrd's socket {self.socket_path} did not "
                                f"accept connections within {timeout:.0f}s")
            time.sleep(0.05)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signum):
        if not self.alive():
            raise self._err("alrd is not running")
        os.kill(self.proc.pid, signum)

    def stop(self, timeout=None, check=True):
        """SIGTERM and wait.  With check, a daemon that had to be killed,
        that exits non-zero, or whose log shows a sanitizer report is a
        failure.  Returns the exit status."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        problems = []
        reported = False
        if proc.poll() is not None:
            # It exited by itself; if start() reported that, do not again.
            reported = self.expect_exit
            if not reported:
                problems.append(f"alrd had already exited (status "
                                f"{proc.returncode}) before it was stopped")
        else:
            timeout = timeout or T(30)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                problems.append(f"alrd did not exit within {timeout:.0f}s "
                                "of SIGTERM and was killed")
            if proc.returncode != 0 and not problems:
                problems.append(f"alrd exited with status {proc.returncode} "
                                "after SIGTERM")
        rc = proc.returncode
        m = SANITIZER_RE.search(self.log_since_start())
        if m and not reported:
            problems.append(f"sanitizer report in the log ({m.group(0)})")
        if check and problems:
            raise self._err("; ".join(problems), 60)
        return rc

    def restart(self):
        self.stop()
        self.start()

    def kill(self):
        """SIGKILL, as a crash: nothing runs in alrd after it.  The log,
        state directory and socket path stay for the next start()."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.kill()
        proc.wait()

    def client(self, **kw):
        return Client(self.socket_path, **kw)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_since_start(self):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(getattr(self, "_log_start", 0))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        """The end of the log, for a person.  A sanitizer report is shown
        from its start, and ASan's shadow-byte dump is left out."""
        lines = self.log().splitlines()
        keep = []
        shadow = False
        for l in lines:
            if "Shadow bytes around the buggy address" in l:
                shadow = True
            if not shadow:
                keep.append(l)
            if shadow and "Right alloca redzone" in l:
                shadow = False
        out = []
        for i, l in enumerate(keep):
            if SANITIZER_RE.search(l):
                start = max(i - 3, 0)
                out = keep[start:start + 50]
                if start + 50 < len(keep) - 10:
                    out += ["..."] + keep[-10:]
                elif start + 50 < len(keep):
                    out += keep[start + 50:]
                break
        else:
            out = keep[-n:]
        return "\n".join("    | " + l for l in out) or "    | (empty)"

    def _err(self, msg, n=40):
        if Daemon.tail_in_errors:
            msg += f"; log {self.log_path}:\n{self.log_tail(n)}"
        return DaemonError(msg)

    def cleanup(self, keep=None):
        if self.proc is not None:
            try:
                if self.proc.poll() is None:
                    self.proc.send_signal(signal.SIGTERM)
                    try:
                        self.proc.wait(T(10))
                    except subprocess.TimeoutExpired:
                        self.proc.kill()
                        self.proc.wait()
            except OSError:
                pass
            self.proc = None
        if self.logf:
            self.logf.close()
            self.logf = None
        if keep is None:
            keep = bool(os.environ.get("ALR_KEEP"))
        if keep:
            print(f"alrtest: kept {self.tmp}", flush=True)
        else:
            subprocess.run(["rm", "-rf", "--one-file-system", self.tmp])
        _unregister(self)


# ---------------------------------------------------------------------------
# Client


class RpcError(Exception):
    def __init__(self, code, message, data=None, response=None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.data = code, message, data
        self.response = response


class ConnectionClosed(Exception):
    pass


class Client:
    """JSON-RPC 2.0 over a UNIX stream socket, one object per line."""

    MAX_LINE = 16 * 1024 * 1024 + 1

    def __init__(self, path, timeout=None, sock=None):
        self.path = path
        self.timeout = timeout or T(30)
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
        self.sock = sock
        self.sock.setblocking(False)
        self.buf = bytearray()
        self.events = []         # events read but not yet claimed
        self.history = []        # every event read, in order
        self.next_id = 1
        self.eof = False

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    cleanup = close

    # -- bytes -----------------------------------------------------------

    def send_raw(self, data):
        self.sock.setblocking(True)
        self.sock.settimeout(self.timeout)
        try:
            self.sock.sendall(data)
        finally:
            self.sock.setblocking(False)

    def send(self, obj):
        self.send_raw(json.dumps(obj).encode() + b"\n")

    def _fill(self, deadline):
        """Read more bytes; False on timeout; ConnectionClosed on EOF."""
        if self.eof:
            raise ConnectionClosed("the daemon closed the connection")
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            return False
        try:
            data = self.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return True
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise ConnectionClosed("the daemon closed the connection")
        self.buf += data
        return True

    def read_line(self, timeout=None, deadline=None):
        """The next line (without its newline), or None on timeout."""
        if deadline is None:
            deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > self.MAX_LINE:
                raise TestFailure(f"line over {self.MAX_LINE} bytes from "
                                  "the daemon")
            if not self._fill(deadline):
                return None

    def read_message(self, timeout=None, deadline=None):
        """The next JSON object from the daemon (event or response)."""
        if deadline is None:
            deadline = time.monotonic() + (timeout or self.timeout)
        line = self.read_line(deadline=deadline)
        if line is None:
            raise TestFailure("timed out waiting for a message from alrd")
        try:
            msg = json.loads(line)
        except ValueError as e:
            raise TestFailure(f"alrd sent a line that is not JSON ({e}): "
                              f"{_short(line)}")
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
            raise TestFailure(f"alrd sent something that is not JSON-RPC "
                              f"2.0: {_short(msg)}")
        return msg

    @staticmethod
    def is_event(msg):
        return "id" not in msg and "method" in msg

    def read_response(self, timeout=None):
        """The next response (events that arrive first are kept)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            msg = self.read_message(deadline=deadline)
            if self.is_event(msg):
                self.events.append(msg)
                self.history.append(msg)
                continue
            return msg

    # -- requests --------------------------------------------------------

    def request(self, method, params=None, timeout=None, id=None):
        """Send a request and return its whole response object."""
        if id is None:
            id = self.next_id
            self.next_id += 1
        req = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            req["params"] = params
        self.send(req)
        resp = self.read_response(timeout)
        if resp.get("id") != id:
            raise TestFailure(f"response for id {resp.get('id')!r} where id "
                              f"{id!r} was expected: {_short(resp)}")
        if ("result" in resp) == ("error" in resp):
            raise TestFailure(f"a response needs exactly one of result and "
                              f"error: {_short(resp)}")
        return resp

    def call(self, method, params=None, timeout=None):
        """Result of method, or RpcError."""
        resp = self.request(method, params, timeout)
        if "error" in resp:
            e = resp["error"]
            raise RpcError(e.get("code"), e.get("message"), e.get("data"),
                           resp)
        return resp["result"]

    def expect_error(self, code, method, params=None, timeout=None):
        """Call method, which must fail with code; return the error."""
        resp = self.request(method, params, timeout)
        if "error" not in resp:
            raise TestFailure(f"{method} {params!r} succeeded "
                              f"({_short(resp['result'])}); expected error "
                              f"{code}")
        check_error(resp["error"], code, f"{method} {params!r}")
        return resp["error"]

    def subscribe(self, topics=None):
        params = {} if topics is None else {"topics": topics}
        return self.call("events.subscribe", params)

    # -- IAP helpers -----------------------------------------------------

    def iaps(self):
        """{interface name: IAP} from iap.list."""
        return {i["name"]: i for i in self.call("iap.list")["iaps"]}

    def iap(self, name):
        return self.call("iap.get", {"name": name})["iap"]

    def info(self):
        return self.call("daemon.info")

    # -- events ----------------------------------------------------------

    def clear_events(self):
        """Forget events read so far and any already waiting unread."""
        self.events.clear()
        while True:
            try:
                line = self.read_line(deadline=time.monotonic())
            except ConnectionClosed:
                break
            if line is None:
                break
            try:
                msg = json.loads(line)
            except ValueError:
                raise TestFailure(f"alrd sent a line that is not JSON: "
                                  f"{_short(line)}")
            if not self.is_event(msg):
                raise TestFailure(f"unexpected response {_short(msg)}")

    def wait_event(self, pred, timeout=None, what=None):
        """The first event matching pred (a method name, or a function of
        the event), from those kept so far or read before the deadline.
        Events that do not match are kept, in order."""
        if isinstance(pred, str):
            name = pred
            pred = lambda ev: ev["method"] == name          # noqa: E731
            what = what or name
        timeout = timeout or T(20)
        for i, ev in enumerate(self.events):
            if pred(ev):
                del self.events[i]
                return ev
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(deadline=deadline)
            if line is None:
                seen = ", ".join(_event_summary(e) for e in self.events[-12:])
                raise TestFailure(f"no event {what or 'matching'} within "
                                  f"{timeout:.0f}s; unclaimed events: "
                                  f"[{seen}]")
            msg = json.loads(line)
            if not self.is_event(msg):
                raise TestFailure(f"unexpected response while waiting for "
                                  f"an event: {_short(msg)}")
            self.history.append(msg)
            if pred(msg):
                return msg
            self.events.append(msg)

    def wait_closed(self, timeout=None):
        """Read and discard until the daemon closes the connection.
        Returns the number of bytes discarded; fails on timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        n = len(self.buf)
        self.buf.clear()
        try:
            while True:
                if not self._fill(deadline):
                    raise TestFailure("the daemon did not close the "
                                      "connection in time")
                n += len(self.buf)
                self.buf.clear()
        except ConnectionClosed:
            return n


def _event_summary(ev):
    p = ev.get("params", {})
    iap = p.get("iap") or {}
    return (f"{ev.get('method')}({iap.get('name')} available="
            f"{iap.get('available')} reason={iap.get('reason')})")


def iap_event(method, name, **fields):
    """Predicate: event METHOD about the IAP of interface NAME whose IAP
    object has the given field values."""
    def pred(ev):
        if ev.get("method") != method:
            return False
        iap = ev.get("params", {}).get("iap", {})
        if iap.get("name") != name:
            return False
        return all(iap.get(k) == v for k, v in fields.items())
    pred.__name__ = f"{method}({name}{', ' if fields else ''}" + \
        ", ".join(f"{k}={v!r}" for k, v in fields.items()) + ")"
    return pred


def wait_iap_event(client, method, name, timeout=None, **fields):
    p = iap_event(method, name, **fields)
    return client.wait_event(p, timeout, what=p.__name__)


_barrier_seq = 0


def netlink_barrier(world, client, link="wwan0", timeout=None):
    """Add and remove a marker address on LINK and wait for both
    iap.changed events.  The kernel delivers netlink messages in order on
    the daemon's one socket, so afterwards the daemon has handled every
    change made before the barrier.  CLIENT must be subscribed to iap.*."""
    global _barrier_seq
    _barrier_seq += 1
    marker = f"10.99.250.{_barrier_seq % 250 + 1}"

    def has(present):
        def pred(ev):
            if ev.get("method") != "iap.changed":
                return False
            iap = ev["params"]["iap"]
            return iap.get("name") == link and present == any(
                a.get("address") == marker for a in iap.get("addresses", []))
        return pred
    world.add_addr(link, marker + "/32")
    client.wait_event(has(True), timeout,
                      what=f"iap.changed({link} +{marker})")
    world.del_addr(link, marker + "/32")
    client.wait_event(has(False), timeout,
                      what=f"iap.changed({link} -{marker})")


def check_error(err, code, what="request"):
    if not isinstance(err, dict) or not isinstance(err.get("message"), str) \
            or not err["message"]:
        raise TestFailure(f"{what}: malformed error object {_short(err)}")
    if err.get("code") != code:
        raise TestFailure(f"{what}: expected error {code}, got "
                          f"{err.get('code')} ({err.get('message')})")


NOBODY_CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(float(sys.argv[2]))
s.connect(sys.argv[1])
f = s.makefile("rwb")
for line in sys.stdin.buffer:
    f.write(line)
    f.flush()
    if b'"id"' in line:               # a notification gets no response
        sys.stdout.buffer.write(f.readline())
        sys.stdout.flush()
"""


def calls_as(uid, gid, path, requests, timeout=None):
    """Send REQUESTS (dicts) over a fresh connection made by a process
    running as uid/gid with no supplementary groups; return the parsed
    responses in order (notifications, without "id", get none)."""
    timeout = timeout or T(30)
    lines = "".join(json.dumps(r) + "\n" for r in requests)
    r = subprocess.run([sys.executable, "-c", NOBODY_CLIENT, path,
                        str(timeout)], input=lines.encode(),
                       capture_output=True, user=uid, group=gid,
                       extra_groups=[], cwd="/", timeout=timeout + 10)
    if r.returncode != 0:
        raise TestFailure(f"client as uid {uid} failed ({r.returncode}): "
                          f"{r.stderr.decode(errors='replace')[-1500:]}")
    out = [json.loads(l) for l in r.stdout.decode().splitlines() if l]
    requests = [q for q in requests if "id" in q]
    if len(out) != len(requests):
        raise TestFailure(f"client as uid {uid}: {len(requests)} requests, "
                          f"{len(out)} responses: {out!r}")
    return out


def connect_as(uid, gid, path):
    """A socket connected to PATH by a process running as uid/gid with no
    supplementary groups (the kernel records the peer's credentials at
    connect), handed back to this process: a client whose requests alrd
    sees as that user's, that the test drives like any other."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        rc = 1
        try:
            parent.close()
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            socket.send_fds(child, [b"x"], [s.fileno()])
            rc = 0
        finally:
            os._exit(rc)
    child.close()
    try:
        _, fds, _, _ = socket.recv_fds(parent, 1, 1)
    finally:
        parent.close()
        _, status = os.waitpid(pid, 0)
    if not fds or status != 0:
        raise TestFailure(f"cannot connect to {path} as uid {uid}")
    return socket.socket(fileno=fds[0])


def as_nobody_argv(argv):
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
            "--clear-groups", "--"] + list(argv)


# ---------------------------------------------------------------------------
# Assertions


def check(cond, msg, *args):
    if not cond:
        raise TestFailure(msg % args if args else msg)


def check_eq(got, want, what):
    if got != want:
        raise TestFailure(f"{what}: expected {want!r}, got {_short(got)}")


# ---------------------------------------------------------------------------
# Fixture and runner


class Fixture:
    """What one test made; torn down after it, whatever happened."""

    def __init__(self, name):
        self.name = name
        self._objs = []
        self.daemons = []
        self.log_tails = []

    def world(self, **kw):
        w = World(**kw)
        self._objs.append(w)
        return w

    def daemon(self, world, config=None, start=True):
        d = Daemon(world, config=config, start=False)
        self._objs.append(d)
        self.daemons.append(d)
        if start:
            d.start()
        return d

    def client(self, daemon_or_path, **kw):
        path = getattr(daemon_or_path, "socket_path", daemon_or_path)
        c = Client(path, **kw)
        self._objs.append(c)
        return c

    def client_as(self, daemon_or_path, uid, gid, **kw):
        """A client connected as uid/gid (connect_as)."""
        path = getattr(daemon_or_path, "socket_path", daemon_or_path)
        c = Client(path, sock=connect_as(uid, gid, path), **kw)
        self._objs.append(c)
        return c

    def popen(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self._objs.append(_Proc(p))
        return p

    def setup(self, config=None):
        """The usual start: a world, alrd in it, a client."""
        w = self.world()
        d = self.daemon(w, config)
        return w, d, self.client(d)

    def teardown(self):
        """Returns a list of problems (a daemon that crashed, leaked, or
        would not stop)."""
        problems = []
        for obj in reversed(self._objs):
            if isinstance(obj, (Client, _Proc)):
                try:
                    obj.cleanup()
                except Exception as e:
                    problems.append(f"{type(obj).__name__}: {e}")
        for d in self.daemons:
            try:
                d.stop()
            except Exception as e:
                problems.append(str(e))
            self.log_tails.append((d.log_path, d.log_tail(60)))
        for obj in reversed(self._objs):
            if not isinstance(obj, (Client, _Proc)):
                try:
                    obj.cleanup()
                except Exception as e:
                    problems.append(f"{type(obj).__name__} cleanup: {e}")
        self._objs.clear()
        return problems


class _Proc:
    def __init__(self, p):
        self.p = p

    def cleanup(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(T(5))
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        for f in (self.p.stdout, self.p.stderr, self.p.stdin):
            if f:
                f.close()


def _on_alarm(signum, frame):
    raise TestTimeout()


def require_root_and_netns():
    """Exit 77 (skipped) unless we can make namespaces and veth links."""
    if os.geteuid() != 0:
        print("SKIP: integration tests need root (network namespaces)",
              flush=True)
        sys.exit(77)
    ok, why = can_create_netns()
    if not ok:
        print(f"SKIP: cannot create network namespaces: {why}", flush=True)
        sys.exit(77)
    reap_orphans()


def main(namespace=None, argv=None):
    """Run the test_* functions of the calling module.

    Usage: test_X.py [-b BUILD_DIR] [NAME_SUBSTRING ...]
    """
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 2 and argv[0] in ("-b", "--build"):
        os.environ["ALR_BUILD_DIR"] = argv[1]
        argv = argv[2:]
    require_root_and_netns()
    Daemon.tail_in_errors = False

    tests = sorted(((n, f) for n, f in namespace.items()
                    if n.startswith("test_") and callable(f)),
                   key=lambda t: t[1].__code__.co_firstlineno)
    if argv:
        tests = [t for t in tests if any(a in t[0] for a in argv)]

    passed = failed = skipped = 0
    interrupted = None
    signal.signal(signal.SIGALRM, _on_alarm)
    for name, fn in tests:
        fx = Fixture(name)
        error = None
        t0 = time.monotonic()
        limit = int(T(getattr(fn, "timeout", 300)))
        try:
            signal.alarm(limit)
            fn(fx)
        except Skip as e:
            error = ("skip", str(e))
        except TestTimeout:
            error = ("fail", f"the test did not finish within {limit}s\n"
                     + traceback.format_exc())
        except Interrupted as e:
            error = ("fail", f"interrupted (signal {e.signum})")
            interrupted = e
        except Exception:
            error = ("fail", traceback.format_exc())
        finally:
            signal.alarm(0)
        problems = fx.teardown()
        if problems and (error is None or error[0] == "skip"):
            error = ("fail", "teardown: " + "\n".join(problems))
        elif problems:
            error = ("fail", error[1] + "\nteardown: " + "\n".join(problems))
        dt = time.monotonic() - t0
        if error is None:
            passed += 1
            print(f"PASS {name} ({dt:.1f}s)", flush=True)
        elif error[0] == "skip":
            skipped += 1
            print(f"SKIP {name}: {error[1]}", flush=True)
        else:
            failed += 1
            print(f"FAIL {name} ({dt:.1f}s)", flush=True)
            print(_indent(error[1].rstrip()), flush=True)
            for path, tail in fx.log_tails:
                print(f"  --- alrd log ({path}), last lines ---")
                print(tail, flush=True)
        if interrupted:
            break

    cleanup_all()
    summary = f"{passed} passed, {failed} failed"
    if skipped:
        summary += f", {skipped} skipped"
    print(summary, flush=True)
    if interrupted:
        sys.exit(128 + interrupted.signum)
    if failed:
        sys.exit(1)
    if skipped and not passed:
        sys.exit(77)
    sys.exit(0)


def _indent(text, prefix="    "):
    return "\n".join(prefix + l for l in text.splitlines())
