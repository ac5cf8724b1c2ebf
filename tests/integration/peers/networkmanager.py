#!/usr/bin/python3
"""A real NetworkManager 1.42 in a network namespace, on a private system
bus, for alrd's integration tests.  Standard library only; needs root.

    stack = Cleanup()
    try:
        world = stack.push(NMWorld("alrnm1234", 1, tmp))  # netns, veths, dnsmasq
        bus = stack.push(SystemBus(tmp, netns=world.dev))
        bus.start()
        nm = stack.push(NetworkManager(world, bus, tmp,
                                       {"HomeNet": "home0", "Mobile": "mob0"}))
        nm.start()
        nm.wait_activated(nm.uuids(), timeout=30)
        ... nm.stop(); nm.start(); ...
    finally:
        stack.run()

The world: a device namespace (NetworkManager and the code under test run
there) and a network namespace joined by one veth pair per link: NAME in the
device namespace, NAME+"p" in the network namespace with 10.98.N.1/24, where
dnsmasq answers DHCP (10.98.N.10-100).

Facts verified against NetworkManager 1.42.4, dbus 1.14 and dnsmasq 2.90
(Debian 12) while writing this:

- NetworkManager --no-daemon writes no pid file: the PID kept is the one
  started (`ip netns exec NS sh -c '... exec NetworkManager'` execs all
  the way down, so Popen's pid is NetworkManager's).  --debug makes it log
  to stderr (otherwise syslog only).
- `ip netns exec` gives the command a private mount namespace (slave of the
  host's) with a fresh, writable /sys for the network namespace.  With a
  writable /sys NetworkManager waits for udev, which does not run here, and
  leaves every device unmanaged; `mount -o remount,ro /sys` makes it treat
  the namespace like a container and manage the veths at once.
- /run/NetworkManager holds what NetworkManager needs to take over its own
  connections after a restart (devices/IFINDEX names the active connection):
  with a fresh /run on each start, a restarted NetworkManager "assumes" the
  configured veths under new, generated connections ("home0", new UUID)
  instead of HomeNet/Mobile.  So a directory of the test is bind-mounted on
  /run (and another on /var/lib/NetworkManager: leases, timestamps, secret
  key), and both survive restarts.  NetworkManager also runs lo as an
  external "lo" connection (type loopback).
- Configuration: plugins=keyfile (keyfiles must be mode 0600 and owned by
  root, or they are ignored), auth-polkit=false, dhcp=internal, dns=none,
  rc-manager=unmanaged, hostname-mode=none (NetworkManager would otherwise
  set the host name from DHCP: the UTS namespace is the host's),
  no-auto-default=* (no "Wired connection 1"), connectivity checks off.
  --config-dir and --system-config-dir point at empty directories so that
  nothing of the host's /etc/NetworkManager applies.
- Without a ModemManager on the bus, NetworkManager logs a warning once
  ("error poking ModemManager"); harmless.
- On SIGTERM NetworkManager leaves the interfaces configured (addresses,
  routes) and unexports its D-Bus objects, devices before active
  connections.  When its bus goes away it logs "caught SIGTERM, shutting
  down normally" and exits: GLib's shared bus connection raises SIGTERM
  when the bus closes (exit-on-close), so it does not survive a bus
  restart.  Started again with the same /run, it assumes the same
  connections: same UUIDs, state activated within about a second.
- dnsmasq with --no-ping answers DHCP in about 0.1 s; --port=0 disables
  DNS; with --keep-in-foreground the Popen pid is dnsmasq's.
- dbus-daemon --nofork --print-address=1 prints the address once it
  listens (the readiness signal) and removes its socket when stopped with
  SIGTERM.  Non-root buses complain about the fd limit; harmless.
- nmcli and libnm follow DBUS_SYSTEM_BUS_ADDRESS.  `nmcli -t -f RUNNING
  general` prints "running"; with no NetworkManager on the bus it exits 8.
"""

import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import time
import traceback
import uuid as uuidlib

NETWORKMANAGER = "/usr/sbin/NetworkManager"
DBUS_DAEMON = "/usr/bin/dbus-daemon"
DNSMASQ = "/usr/sbin/dnsmasq"
NMCLI = "/usr/bin/nmcli"


def scale():
    try:
        return max(float(os.environ.get("ALR_TIMEOUT_SCALE", "1")), 0.1)
    except ValueError:
        return 1.0


def T(seconds):
    """A deadline length, scaled for slow machines (ALR_TIMEOUT_SCALE)."""
    return seconds * scale()


class FixtureError(Exception):
    pass


def run(argv, check=True, timeout=None, env=None, input=None):
    r = subprocess.run(argv, capture_output=True, text=True, env=env,
                       input=input, timeout=timeout or T(60))
    if check and r.returncode != 0:
        raise FixtureError(f"{' '.join(argv)} exited with {r.returncode}: "
                           f"{(r.stderr or r.stdout).strip()[-1500:]}")
    return r


def wait_until(fn, timeout, what, interval=0.05):
    """Poll fn() until it returns something true (for states no event
    reports, such as NetworkManager's view through nmcli)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise FixtureError(f"timed out after {timeout:.0f}s waiting for "
                               f"{what} (last: {last!r:.300})")
        time.sleep(interval)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def terminate(proc, timeout=None, sig=signal.SIGTERM):
    """Stop a Popen: sig, then SIGKILL after timeout.  Returns the exit
    status and whether it had to be killed."""
    if proc is None:
        return None, False
    if proc.poll() is not None:
        return proc.returncode, False
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout or T(15)), False
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(), True


def log_tail(path, n=30):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


class Cleanup:
    """Everything that must not outlive the test, torn down newest first,
    even when one teardown fails."""

    def __init__(self):
        self._items = []

    def push(self, obj):
        self._items.append(obj)
        return obj

    def run(self):
        while self._items:
            obj = self._items.pop()
            try:
                obj.cleanup()
            except Exception:
                traceback.print_exc()


# ---------------------------------------------------------------------------
# Namespaces

def netns_list():
    r = run(["ip", "-j", "netns", "list"], check=False)
    try:
        return [n["name"] for n in json.loads(r.stdout or "[]")]
    except ValueError:
        return []


def netns_kill_and_delete(ns):
    """Kill every process in ns (only our own namespaces are passed here)
    and delete it; tolerates ns being gone."""
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
        while any(pid_alive(p) for p in pids) and \
                time.monotonic() < deadline:
            time.sleep(0.02)
    run(["ip", "netns", "del", ns], check=False)


ORPHAN_RE = re.compile(r"^alrnm(\d+)[dn]\d*$")


def reap_orphans():
    """Namespaces of an earlier run killed outright (ctest's timeout
    SIGKILLs): ours by name, and the pid in the name is gone."""
    for ns in netns_list():
        m = ORPHAN_RE.match(ns)
        if m and not pid_alive(int(m.group(1))):
            print(f"networkmanager.py: removing namespace {ns} left by a "
                  "dead run", flush=True)
            netns_kill_and_delete(ns)


class Netns:
    def __init__(self, name):
        self.name = name
        run(["ip", "netns", "add", name])
        try:
            self.ip("link", "set", "lo", "up")
        except BaseException:
            self.cleanup()
            raise

    def ip(self, *args, check=True):
        return run(["ip", "-n", self.name] + list(args), check=check).stdout

    def exec_argv(self, argv):
        return ["ip", "netns", "exec", self.name] + list(argv)

    def ifindex(self, ifname):
        out = run(["ip", "-n", self.name, "-j", "link", "show", "dev",
                   ifname]).stdout
        return json.loads(out)[0]["ifindex"]

    def cleanup(self):
        netns_kill_and_delete(self.name)


class NMWorld:
    """The device and network namespaces, the veth pairs and dnsmasq.

    links: interface names in the device namespace; link number n (from 1)
    gets 10.98.n.0/24.  Namespaces are named TAG+"d"+SEQ and TAG+"n"+SEQ
    (reap_orphans() recognises "alrnm<pid>...")."""

    def __init__(self, tag, seq, tmp, links=("home0", "mob0")):
        self.tmp = tmp
        self.links = {}
        self.dev = None
        self.net = None
        self.dnsmasq = None
        try:
            self.dev = Netns(f"{tag}d{seq}")
            self.net = Netns(f"{tag}n{seq}")
            for n, name in enumerate(links, 1):
                self.add_link(name, n)
            self.dnsmasq = Dnsmasq(self.net, tmp, list(self.links.values()))
            self.dnsmasq.start()
        except BaseException:
            self.cleanup()
            raise

    def add_link(self, name, n):
        peer = name + "p"
        run(["ip", "link", "add", "name", name, "netns", self.dev.name,
             "type", "veth", "peer", "name", peer, "netns", self.net.name])
        self.net.ip("addr", "add", f"10.98.{n}.1/24", "dev", peer)
        self.net.ip("link", "set", peer, "up")
        self.links[name] = {"name": name, "peer": peer, "n": n,
                            "gw": f"10.98.{n}.1", "prefix": f"10.98.{n}."}

    def addresses(self, name):
        out = run(["ip", "-n", self.dev.name, "-j", "-4", "addr", "show",
                   "dev", name]).stdout
        return [a["local"] for e in json.loads(out or "[]")
                for a in e.get("addr_info", [])]

    def cleanup(self):
        if self.dnsmasq:
            self.dnsmasq.cleanup()
        for ns in (self.dev, self.net):
            if ns:
                ns.cleanup()


class Dnsmasq:
    """DHCP only (no DNS), on the peers of the given links.

    A link dict has 'peer' (the interface) and 'prefix' ("10.98.1."); with
    'tag' its range sets that tag, for tag:NAME options in @extra (more
    dnsmasq options, e.g. --dhcp-option=tag:wifi,120,10.99.101.1 for
    RFC 3361's SIP servers; tests/integration/test_dhcp.py)."""

    def __init__(self, netns, tmp, links, extra=()):
        self.netns = netns
        self.links = links
        self.extra = list(extra)
        self.log_path = os.path.join(tmp, "dnsmasq.log")
        self.pid_path = os.path.join(tmp, "dnsmasq.pid")
        self.lease_path = os.path.join(tmp, "dnsmasq.leases")
        self.proc = None

    def argv(self):
        a = [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null",
             "--port=0", "--no-ping", "--no-resolv", "--no-hosts",
             "--bind-interfaces", "--except-interface=lo",
             "--dhcp-authoritative", "--log-dhcp",
             f"--log-facility={self.log_path}",
             f"--pid-file={self.pid_path}",
             f"--dhcp-leasefile={self.lease_path}",
             "--user=root", "--group=root"]
        for link in self.links:
            tag = f"set:{link['tag']}," if link.get("tag") else ""
            a.append(f"--interface={link['peer']}")
            a.append(f"--dhcp-range={tag}{link['prefix']}10,"
                     f"{link['prefix']}100,255.255.255.0,1h")
        return a + self.extra

    def start(self):
        self.proc = subprocess.Popen(self.netns.exec_argv(self.argv()),
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE,
                                     start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise FixtureError("dnsmasq exited with status "
                                   f"{self.proc.returncode}: "
                                   f"{self.proc.stderr.read().decode()}")
            try:
                with open(self.pid_path) as f:
                    return int(f.read().strip() or 0) == self.proc.pid
            except (OSError, ValueError):
                return False
        wait_until(ready, T(10), "dnsmasq's pid file")

    def cleanup(self):
        terminate(self.proc)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None


# ---------------------------------------------------------------------------
# The private system bus

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC
 "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- written by tests/integration/peers/networkmanager.py -->
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <deny own="*"/>
    <deny send_type="method_call"/>
  </policy>
  <policy user="root">
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow send_type="method_call"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


class SystemBus:
    """A dbus-daemon of type system on a socket in the test's directory,
    everything allowed for root.  The socket's directory (self.dir) is
    created by start(), so a client started before can see it appear."""

    def __init__(self, tmp, netns=None, name="bus", config=BUS_CONFIG):
        self.config = config
        self.netns = netns
        self.dir = os.path.join(tmp, name)
        self.socket = os.path.join(self.dir, "system_bus_socket")
        self.address = "unix:path=" + self.socket
        self.conf_path = os.path.join(tmp, name + ".conf")
        self.log_path = os.path.join(tmp, name + ".log")
        self.proc = None

    def env(self, **extra):
        e = dict(os.environ)
        e["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        e.update(extra)
        return e

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        with open(self.conf_path, "w") as f:
            f.write(self.config.format(socket=self.socket))
        argv = [DBUS_DAEMON, f"--config-file={self.conf_path}", "--nofork",
                "--print-address=1"]
        if self.netns:
            argv = self.netns.exec_argv(argv)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=log,
                                         start_new_session=True)
        # The address is printed once the socket listens.
        deadline = time.monotonic() + T(10)
        out = b""
        while b"\n" not in out:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                terminate(self.proc)
                raise FixtureError("dbus-daemon did not start: " +
                                   log_tail(self.log_path))
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    continue
                out += chunk

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        proc, self.proc = self.proc, None
        terminate(proc, sig=sig)
        if proc and proc.stdout:
            proc.stdout.close()

    def cleanup(self):
        self.stop()


# ---------------------------------------------------------------------------
# NetworkManager

NM_CONFIG = """# written by tests/integration/peers/networkmanager.py
[main]
plugins=keyfile
auth-polkit=false
dhcp=internal
dns=none
rc-manager=unmanaged
hostname-mode=none
no-auto-default=*

[keyfile]
path={keyfile_dir}

[connectivity]
enabled=false

[logging]
level={log_level}
"""

KEYFILE = """[connection]
id={id}
uuid={uuid}
type=ethernet
interface-name={ifname}
autoconnect=true

[ethernet]

[ipv4]
method=auto

[ipv6]
method=disabled
"""


class NetworkManager:
    """NetworkManager in world.dev on bus.  connections: {id: ifname}, one
    ethernet keyfile each (DHCP for IPv4, no IPv6), with a fixed UUID."""

    def __init__(self, world, bus, tmp, connections, log_level="INFO"):
        self.world = world
        self.bus = bus
        self.dir = os.path.join(tmp, "nm")
        self.keyfile_dir = os.path.join(self.dir, "system-connections")
        self.run_dir = os.path.join(self.dir, "run")
        self.lib_dir = os.path.join(self.dir, "lib")
        self.conf_path = os.path.join(self.dir, "NetworkManager.conf")
        self.log_path = os.path.join(self.dir, "NetworkManager.log")
        self.proc = None
        self.connections = {}            # id -> {"uuid", "ifname"}
        for d in (self.dir, self.keyfile_dir, self.run_dir, self.lib_dir,
                  os.path.join(self.dir, "conf.d"),
                  os.path.join(self.dir, "system-conf.d")):
            os.makedirs(d, mode=0o700, exist_ok=True)
        with open(self.conf_path, "w") as f:
            f.write(NM_CONFIG.format(keyfile_dir=self.keyfile_dir,
                                     log_level=log_level))
        for cid, ifname in connections.items():
            self.add_keyfile(cid, ifname)

    def add_keyfile(self, cid, ifname, uuid=None):
        uuid = uuid or str(uuidlib.uuid4())
        path = os.path.join(self.keyfile_dir, cid + ".nmconnection")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(KEYFILE.format(id=cid, uuid=uuid, ifname=ifname))
        self.connections[cid] = {"uuid": uuid, "ifname": ifname}
        return uuid

    def uuids(self):
        return {c["uuid"] for c in self.connections.values()}

    def uuid(self, cid):
        return self.connections[cid]["uuid"]

    def argv(self):
        nm = " ".join(shlex.quote(a) for a in [
            NETWORKMANAGER, "--no-daemon", "--debug",
            f"--config={self.conf_path}",
            f"--config-dir={os.path.join(self.dir, 'conf.d')}",
            f"--system-config-dir={os.path.join(self.dir, 'system-conf.d')}",
            f"--intern-config={os.path.join(self.lib_dir, 'intern.conf')}",
            f"--state-file={os.path.join(self.lib_dir, 'NetworkManager.state')}",
        ])
        script = (f"mount -o remount,ro /sys && "
                  f"mount --bind {shlex.quote(self.run_dir)} /run && "
                  f"mount --bind {shlex.quote(self.lib_dir)} "
                  f"/var/lib/NetworkManager && exec {nm}")
        return self.world.dev.exec_argv(["sh", "-c", script])

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait=True):
        if self.alive():
            raise FixtureError("NetworkManager is already running")
        with open(self.log_path, "ab") as log:
            log.write(b"==== networkmanager.py: starting NetworkManager "
                      b"====\n")
            log.flush()
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log,
                                         env=self.bus.env(),
                                         start_new_session=True)
        if wait:
            self.wait_running()

    def stop(self, timeout=None):
        """SIGTERM and wait; a NetworkManager that must be killed or exits
        non-zero is an error."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        rc, killed = terminate(proc, timeout)
        if killed:
            raise FixtureError("NetworkManager did not exit on SIGTERM:\n" +
                               log_tail(self.log_path))
        if rc != 0:
            raise FixtureError(f"NetworkManager exited with {rc}:\n" +
                               log_tail(self.log_path))

    def restart(self):
        self.stop()
        self.start()

    def cleanup(self):
        try:
            terminate(self.proc)
        finally:
            self.proc = None

    # -- NetworkManager's own view ---------------------------------------

    def nmcli(self, *args, check=True):
        return run([NMCLI, "-t"] + list(args), check=check,
                   env=self.bus.env(), timeout=T(30))

    def running(self):
        if not self.alive():
            return False
        r = self.nmcli("-f", "RUNNING", "general", check=False)
        return r.returncode == 0 and r.stdout.strip() == "running"

    def wait_running(self, timeout=None):
        def ready():
            if self.proc is None or self.proc.poll() is not None:
                raise FixtureError("NetworkManager exited:\n" +
                                   log_tail(self.log_path))
            return self.running()
        wait_until(ready, timeout or T(30), "NetworkManager on the bus")

    def active(self):
        """{uuid: {"name", "state", "device"}} per nmcli."""
        r = self.nmcli("-f", "UUID,NAME,STATE,DEVICE", "connection", "show",
                       "--active", check=False)
        out = {}
        if r.returncode != 0:
            return out
        for line in r.stdout.splitlines():
            # -t escapes ':' in values as '\:'
            parts = re.split(r"(?<!\\):", line)
            if len(parts) == 4:
                out[parts[0]] = {"name": parts[1].replace("\\:", ":"),
                                 "state": parts[2], "device": parts[3]}
        return out

    def wait_activated(self, uuids, timeout=None):
        def ready():
            a = self.active()
            return all(a.get(u, {}).get("state") == "activated"
                       for u in uuids) and a
        return wait_until(ready, timeout or T(30),
                          f"connections {sorted(uuids)} activated")

    def log_tail(self, n=40):
        return log_tail(self.log_path, n)


def have_networkmanager():
    """'' when everything this module runs is installed, else what is not."""
    missing = [p for p in (NETWORKMANAGER, DBUS_DAEMON, DNSMASQ, NMCLI)
               if not os.access(p, os.X_OK)]
    return ", ".join(missing)


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)
