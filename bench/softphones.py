"""SIP clients -- alrd, baresip, linphonec -- registering through
alrtest's namespace world, for bench/failover-softphones.

    import softphones as S
    sw = S.SipWorld(event='deconfigure')
    phone = S.Baresip(sw, expires=60)   # or S.Linphonec, S.Alrd
    phone.start()
    phone.wait_registered('wlan0')      # a binding whose contact is wlan0's
    t0 = sw.lose_wifi()
    ...poll sw.valid_bindings()...
    phone.stop()                        # unregisters, like a user quitting
    sw.cleanup()

The world is the one of tests/integration/test_sip_register.py: a device
namespace with wlan0 (10.99.1.2, default route metric 100, preferred) and
wwan0 (10.99.2.2, metric 200), their far ends in a network namespace that
holds Kamailio (tests/integration/peers/kamailio.py) on 10.99.100.1, an
address on its loopback that both links route to.  Every client runs in
the device namespace (a softphone with a temporary HOME of its own: the
real ~/.baresip and ~/.linphonerc are never read or written; alrd with
alrtest's Daemon, its configuration and state in a temporary directory)
and registers alice@example.test at that registrar, with the expiry it is
given.  The registrar's log gets the time of every REGISTER it receives
and every reply it sends (TimedRegistrar), so that the moment a binding
was made or removed is known exactly, not only to the polling interval;
and its bindings can be read over Kamailio's JSON-RPC datagram socket
(RpcChannel), a query every 0.05-0.1 ms instead of a kamcmd process
(1-1.7 ms), which bench/migration's sampler uses.

Everything made here is registered with alrtest's cleanup registry, so
alrtest.cleanup_all() (also run at exit, and after SIGINT/SIGTERM/SIGHUP,
which alrtest turns into alrtest.Interrupted) stops every process and
removes every namespace, newest first.

Facts verified on Debian 12 while writing this (baresip 1.0.0 with
libre 1.1.0, linphonec 5.1.65, Kamailio 5.6.3, kernel 6.18):

baresip
- Config directory given with -f (HOME is set as well).  A config needs no
  audio or UI module to register: `module g711.so` (so that it has a codec)
  and `module_tmp account.so` (which reads `accounts`) suffice;
  `audio_player/audio_source none` keeps it from looking for a sound card.
- Account line: <sip:alice@example.test>;auth_pass=PW;
  outbound="sip:10.99.100.1;lr";regint=N.  The outbound proxy sends the
  REGISTER to the registrar's address (example.test has no DNS here);
  regint is the Expires it asks for.
- `sip_listen 0.0.0.0:5060` still makes the SIP socket bind the current
  local address (10.99.1.2:5060, per `ss -uanp`), not the wildcard; so after
  the address goes away the refresh fails with "Network is unreachable", and
  with the address kept but the route moved, with "Connection timed out".
- It notices a network change only by polling (libre net_change, every 60 s
  from the start, fixed in baresip 1.0's main.c): "net: local IPv4 address
  changed: A -> B", then it re-creates its transports and registers again
  with a new contact host.  The poll asks libre's net_rt_default_get(),
  which takes the first default route of the routing dump and ignores the
  kernel's RTNH_F_LINKDOWN flag: a default route over a link without
  carrier still counts, so a carrier loss alone is never noticed.
- Contact sip:alice-0x<hex>@ADDR:5060, no +sip.instance: a new contact
  host makes a second binding; the old one stays until it expires.
- SIGTERM: "ua: stop all", unregisters, exits 0.

linphonec
- Needs a pseudo-terminal: run as `script -qfc 'linphonec -c RC ...'
  /dev/null`.  And script's stdin must stay open: at EOF script sends the
  end-of-file character to linphonec, which then blocks (nothing is ever
  registered).  So stdin is a pipe we hold until stop().
- linphonerc, read with -c: [sip] sip_port, [proxy_0] reg_proxy,
  reg_route, reg_identity, reg_expires, reg_sendregister=1, publish=0;
  [auth_info_0] username, passwd, realm, domain; [sip] default_proxy=0.
  That registers non-interactively; no command is needed on stdin.
  It wants $HOME/.local/share/linphone for its database (otherwise only an
  error in the log).
- Network monitoring (liblinphone's default): every 5 s it reads the
  local address the routing table picks ("Default local ipv4 address is
  ..."); when it changed, SIP network reachability goes DOWN then UP and it
  registers again.  It follows the kernel's route lookup, so routes over a
  link without carrier do count unless the kernel ignores them
  (ignore_routes_with_linkdown=1).
- Contact sip:alice@ADDR;transport=udp with +sip.instance and no reg-id:
  Kamailio replaces the binding of the same instance, so the old contact
  is gone the moment the new one is saved.
- script runs its command through `sh -c`, so the command is `exec
  linphonec ...`: otherwise a SIGTERM meant for linphonec reaches sh, which
  dies and leaves linphonec running (registered) in the namespace.
- SIGTERM to linphonec: it unregisters (the binding is gone when it has
  exited), destroys its core and exits; script then exits too.
"""

import datetime
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ITEST = os.path.join(os.path.dirname(HERE), 'tests', 'integration')
for p in (ITEST, os.path.join(ITEST, 'peers')):
    if p not in sys.path:
        sys.path.insert(0, p)

import alrtest as A  # noqa: E402
from kamailio import KAMAILIO, KamcmdError, Registrar  # noqa: E402

REG_ADDR = '10.99.100.1'
DOMAIN = 'example.test'
USER = 'alice'
PASSWORD = 'Pa55-w0rd-never-logged'
AOR = 'sip:%s@%s' % (USER, DOMAIN)
WIFI, CELL = 'wlan0', 'wwan0'

# What "losing Wi-Fi" does to the device (SipWorld.lose_wifi()):
EVENTS = {
    'deconfigure': 'carrier loss, and the connection manager removes the '
                   'address (and with it the routes) from wlan0 at once',
    'linkdown': 'carrier loss; the kernel ignores routes over links without '
                'carrier (ignore_routes_with_linkdown=1); addresses stay',
    'carrier': 'carrier loss only, kernel defaults (routes over wlan0 stay '
               'in use, flagged linkdown)',
}


class BenchError(Exception):
    pass


def tmpdir(tag):
    """A temporary directory alrtest.reap_orphans() removes if we die."""
    return tempfile.mkdtemp(prefix='%s-%d-%s' % (A.PREFIX, os.getpid(), tag))


def host_of(contact):
    """'sip:u@10.99.1.2:5060;transport=udp' -> '10.99.1.2'."""
    rest = contact.split(':', 1)[1] if ':' in contact else contact
    rest = rest.split('@', 1)[-1]
    return re.split(r'[:;>?]', rest, 1)[0]


class RpcChannel:
    """Kamailio RPCs over the jsonrpcs module's UNIX datagram socket: one
    request, one reply, from a socket of our own (bound to a path in a
    temporary directory: the module sends the reply to the sender's
    address).  Usable from a forked process (open it there)."""

    def __init__(self, server_path, timeout=2.0):
        self.dir = tmpdir('rpc')
        self.path = os.path.join(self.dir, 'c.sock')
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.connect(server_path)
        self.sock.settimeout(timeout)
        self.next_id = 1

    def call(self, method, *params):
        """The RPC's result; KamcmdError for an error reply."""
        rid = self.next_id
        self.next_id += 1
        self.sock.send(json.dumps({'jsonrpc': '2.0', 'method': method,
                                   'params': list(params),
                                   'id': rid}).encode())
        while True:
            reply = json.loads(self.sock.recv(1 << 20))
            if reply.get('id') == rid:
                break
        if 'error' in reply:
            e = reply['error']
            raise KamcmdError(int(e.get('code', 500)), e.get('message', ''))
        return reply.get('result')

    def contacts(self, aor):
        """ul.lookup of one AOR as [(contact URI, expires)], [] when it has
        none.  Expires is the seconds left, or a word ("expired",
        "deleted", "permanent")."""
        try:
            r = self.call('ul.lookup', 'location', aor)
        except KamcmdError as e:
            m = e.message.lower()
            if 'not found' in m or 'no contacts' in m:
                return []
            raise
        out = []
        for c in (r or {}).get('Contacts') or []:
            c = c.get('Contact', c)
            out.append((c.get('Address'), c.get('Expires')))
        return out

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            shutil.rmtree(self.dir, ignore_errors=True)


class TimedRegistrar(Registrar):
    """The fixture's Kamailio, with two additions for benchmarks:

    - the registrar's wall clock ($TV(Sn), "sec.usec", read when the line
      is written) in every ALR-REG-IN and ALR-REG-OUT log line (field
      `t`), so that the moment a REGISTER arrived or a 200 OK left is
      known to the microsecond rather than to a polling interval;
    - a JSON-RPC datagram socket (the jsonrpcs module, transport 4: a UNIX
      datagram socket in the work directory) beside kamcmd's binrpc one:
      RpcChannel sends RPCs over it from one long-lived socket, without
      starting a process per query, so that the registrar's bindings can
      be read as fast as Kamailio answers (about 0.05 ms a query here,
      against about 1.5 ms for a `kamcmd` process)."""

    MARKS = ('ALR-REG-OUT | callid=$ci', 'ALR-REG-IN | src=$si')
    CTL_LOAD = 'loadmodule "ctl.so"\n'

    def write_config(self):
        super().write_config()
        self.rpc_path = os.path.join(self.workdir, 'kamailio_rpc.sock')
        with open(self.cfg_path) as f:
            text = f.read()
        self.timed = all(text.count(m) == 1 for m in self.MARKS)
        if self.timed:
            for m in self.MARKS:
                kind, rest = m.split(' | ', 1)
                text = text.replace(m, '%s | t=$TV(Sn) | %s' % (kind, rest))
        if text.count(self.CTL_LOAD) != 1:
            raise BenchError('kamailio.cfg.tmpl: no single %r line to put '
                             'jsonrpcs beside' % self.CTL_LOAD.strip())
        text = text.replace(self.CTL_LOAD, self.CTL_LOAD +
                            'loadmodule "jsonrpcs.so"\n'
                            'modparam("jsonrpcs", "transport", 4)\n'
                            'modparam("jsonrpcs", "dgram_socket", "%s")\n'
                            % self.rpc_path)
        with open(self.cfg_path, 'w') as f:
            f.write(text)

    def rpc_channel(self):
        """A new RpcChannel to this registrar (close it when done)."""
        return RpcChannel(self.rpc_path)

    def reply_time(self, since, host):
        """The registrar's clock when it sent the first 200 OK, at or
        after wall-clock `since`, to a REGISTER whose own Contact has this
        host and is not a removal (expires=0); None if there is none or
        the log has no times.  Requests and replies are paired by Call-ID
        and CSeq (ALR-REG-IN carries the request's Contact)."""
        events = self.log_events()
        requests = {(e.get('callid'), e.get('cseq')): e for e in events
                    if e['kind'] == 'ALR-REG-IN'}
        for e in events:
            if e['kind'] != 'ALR-REG-OUT' or e.get('method') != 'REGISTER' \
                    or e.get('code') != '200' or not e.get('t'):
                continue
            t = float(e['t'])
            if t < since:
                continue
            req = requests.get((e.get('callid'), e.get('cseq')))
            if not req or not req.get('contact'):
                continue
            contact = req['contact'].replace(' ', '')
            if re.search(r';expires=0+(?![0-9])', contact) \
                    or (req.get('expires') or '').strip() == '0':
                continue
            uri = contact.split('<', 1)[-1].split('>', 1)[0]
            if host_of(uri) == host:
                return t
        return None


    def removal_time(self, since, host):
        """The registrar's clock when it sent the first 200 OK, at or after
        `since`, whose Contact list (every binding of the AOR after the
        request) has no contact with this host: when a REGISTER removed
        or replaced that binding.  None if there is none."""
        for e in self.log_events():
            if e['kind'] != 'ALR-REG-OUT' or e.get('method') != 'REGISTER' \
                    or e.get('code') != '200' or not e.get('t'):
                continue
            t = float(e['t'])
            if t < since:
                continue
            hosts = [host_of(m.group(1)) for m in
                     re.finditer(r'<([^>]*)>', e.get('contact') or '')]
            if host not in hosts:
                return t
        return None


class _Cleanup:
    def __init__(self, fn):
        self.fn = fn

    def cleanup(self):
        self.fn()


def _sysctl(ns, *settings):
    A.run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw'] + list(settings))


class KernelWatch:
    """`ip -tshort monitor link` in the device namespace: an independent
    netlink listener whose receive time says when the kernel told user
    space that wlan0 lost (or regained) carrier.  The kernel's linkwatch
    runs carrier events at most once a second, for all devices of the
    host together, so on a shared machine a carrier change elsewhere can
    hold ours back by up to a second; this shows it.  With objects
    ('link', 'route', 'address': ip monitor's words) it listens to those
    instead."""

    TS = re.compile(r'^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)\]')

    def __init__(self, ns, objects=('link',)):
        self.p = subprocess.Popen(['ip', '-n', ns, '-tshort', 'monitor']
                                  + list(objects), stdout=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        A._register(self)
        self.fd = self.p.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.buf = b''

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if r:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return True
            if not data:
                return False
            self.buf += data
        return True

    def drain(self):
        """Forget what was reported so far."""
        while self._read(0) and self.buf:
            self.buf = b''

    def wait(self, pred, timeout=5.0):
        """The wall-clock receive time of the first line matching pred
        (after the last drain), or None."""
        deadline = time.monotonic() + timeout
        while True:
            while b'\n' in self.buf:
                raw, self.buf = self.buf.split(b'\n', 1)
                line = raw.decode(errors='replace')
                if pred(line):
                    m = self.TS.match(line)
                    return (datetime.datetime.fromisoformat(m.group(1))
                            .timestamp() if m else None)
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                return None

    def carrier(self, link, up, timeout=5.0):
        """Receive time of the next message that link has (up) or has
        not (not up) carrier."""
        name = re.compile(r' %s[@:]' % re.escape(link))
        if up:
            return self.wait(lambda l: name.search(l) and
                             'NO-CARRIER' not in l and 'LOWER_UP' in l,
                             timeout)
        return self.wait(lambda l: name.search(l) and 'NO-CARRIER' in l,
                         timeout)

    def cleanup(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.p.stdout.close()
        A._unregister(self)


class SipWorld:
    """alrtest's World with the registrar in it, and the two events: Wi-Fi
    lost (lose_wifi) and Wi-Fi back (restore_wifi)."""

    def __init__(self, event='deconfigure', users=None):
        if event not in EVENTS:
            raise ValueError('event must be one of %s' % ', '.join(EVENTS))
        self.event = event
        if not os.access(KAMAILIO, os.X_OK):
            raise BenchError('no Kamailio (%s)' % KAMAILIO)
        self.tmp = tmpdir('kam')
        A._register(_Cleanup(self._remove_tmp))
        self.world = w = A.World()
        self.dev, self.net = w.dev, w.net
        w.ipn('addr', 'add', REG_ADDR + '/32', 'dev', 'lo')
        # As in test_sip_register.py: loose reverse-path filtering, no
        # IPv6 on the links (a softphone must not pick ::1 or a link-local
        # address, and neighbour discovery stays out of the way).
        _sysctl(w.dev, 'net.ipv4.conf.all.rp_filter=2',
                'net.ipv4.conf.default.rp_filter=2',
                'net.ipv4.conf.wlan0.rp_filter=2',
                'net.ipv4.conf.wwan0.rp_filter=2',
                'net.ipv6.conf.wlan0.disable_ipv6=1',
                'net.ipv6.conf.wwan0.disable_ipv6=1')
        _sysctl(w.net, 'net.ipv6.conf.wlan0p.disable_ipv6=1',
                'net.ipv6.conf.wwan0p.disable_ipv6=1')
        if event == 'linkdown':
            _sysctl(w.dev, *['net.ipv4.conf.%s.ignore_routes_with_linkdown=1'
                             % i for i in ('all', 'default', WIFI, CELL)])
        self.registrar = TimedRegistrar(
            self.net, [REG_ADDR], os.path.join(self.tmp, 'kamailio'),
            users=users or {USER: PASSWORD}, domain=DOMAIN)
        A._register(_Cleanup(self.registrar.stop))
        self.registrar.start()
        self.kernel = KernelWatch(self.dev)
        self._kernel_pending = (False, 0.0)

    def addr(self, link):
        return self.world.links[link]['addr']

    def _remove_tmp(self):
        if not os.environ.get('ALR_KEEP'):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def cleanup(self):
        A.cleanup_all()

    # -- the registrar's view ---------------------------------------------

    def bindings(self):
        """All of alice's contacts at the registrar (kamcmd ul.lookup).
        Kamailio answers "500 - AOR has no contacts" (not only "AOR not
        found", which the fixture handles) while usrloc still holds an
        AOR record whose contacts are all gone."""
        try:
            return self.registrar.bindings(USER)
        except KamcmdError as e:
            if 'no contacts' in e.message.lower():
                return []
            raise

    def valid_bindings(self):
        """{contact host: binding} for the contacts that have not expired
        (ul.lookup may still list an expired one until usrloc's timer
        removes it: its Expires is then "expired", not a number)."""
        out = {}
        for b in self.bindings():
            if isinstance(b['expires'], int) and b['expires'] > 0:
                out[host_of(b['contact'])] = b
        return out

    def clear_bindings(self):
        """Remove whatever a previous run left for alice."""
        try:
            self.registrar.kamcmd('ul.rm', 'location', '%s@%s'
                                  % (USER, DOMAIN))
        except KamcmdError:
            pass

    def register_count(self):
        return self.registrar.register_count()

    # -- events ------------------------------------------------------------

    def lose_wifi(self):
        """Take Wi-Fi away; returns the wall clock read just before the
        first command."""
        w = self.world
        self.kernel.drain()
        t0 = time.time()
        w.carrier_down(WIFI)
        if self.event == 'deconfigure':
            # The last address gone, the kernel drops wlan0's routes too.
            w.del_addr(WIFI)
        self._kernel_pending = (False, t0)
        return t0

    def kernel_delay(self):
        """Seconds from the last event's t0 to the kernel's carrier
        message for wlan0 (read by the independent listener), or None.
        Call after the event, once."""
        up, t0 = self._kernel_pending
        t = self.kernel.carrier(WIFI, up)
        return None if t is None else t - t0

    def restore_wifi(self):
        """Wi-Fi comes back (carrier, and for 'deconfigure' the address and
        the default route, as a connection manager would configure them
        after association and DHCP); returns the wall clock read just
        before the first command."""
        w = self.world
        self.kernel.drain()
        t0 = time.time()
        w.carrier_up(WIFI)
        if self.event == 'deconfigure':
            w.add_addr(WIFI)
            w.add_route(WIFI)
        self._kernel_pending = (True, t0)
        return t0

    def wifi_settled(self, timeout=15):
        """Carrier back and the routing table as at the start."""
        self.world.wait_links_up([WIFI], timeout)
        A.wait_until(lambda: self.world.has_default_route(WIFI), timeout,
                     'default route over wlan0')


# ---------------------------------------------------------------------------
# Softphones: one class per client, all with the same interface.


class Softphone:
    """One client in the device namespace.

    start()              launch it (returns at once)
    wait_registered(l)   until the registrar holds a binding whose contact
                         host is link l's address; returns the binding
    stop()               quit as a user would (it unregisters); kill if it
                         does not exit in time
    version()            what is measured, for the report
    """

    name = '?'
    pending = None      # a reason string: cannot be measured (yet)

    def __init__(self, sw, expires=60):
        self.sw = sw
        self.expires = expires
        self.proc = None
        self.home = tmpdir(self.name)
        self.out_path = os.path.join(self.home, 'output.log')
        self._out = None
        A._register(self)

    # -- to be provided -----------------------------------------------------

    def argv(self):
        raise NotImplementedError

    def write_config(self):
        raise NotImplementedError

    # -- common -------------------------------------------------------------

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if k in ('PATH', 'LANG', 'LC_ALL', 'TERM')}
        env['HOME'] = self.home
        env.setdefault('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')
        env.setdefault('TERM', 'dumb')
        return env

    def start(self):
        if self.pending:
            raise BenchError('%s: %s' % (self.name, self.pending))
        if self.proc is not None:
            raise BenchError('%s already started' % self.name)
        self.write_config()
        self._out = open(self.out_path, 'ab')
        self.proc = subprocess.Popen(
            self.sw.world.exec_argv(self.argv()), stdin=self.stdin(),
            stdout=self._out, stderr=subprocess.STDOUT, env=self.env(),
            cwd=self.home, start_new_session=True)

    def stdin(self):
        return subprocess.DEVNULL

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_registered(self, link=WIFI, timeout=30):
        addr = self.sw.addr(link)

        def registered():
            if self.proc is not None and self.proc.poll() is not None:
                raise BenchError('%s exited with %s before registering:\n%s'
                                 % (self.name, self.proc.returncode,
                                    self.output_tail()))
            return self.sw.valid_bindings().get(addr)
        try:
            return A.wait_until(registered, timeout,
                                '%s registered over %s' % (self.name, link))
        except A.TestFailure as e:
            raise BenchError('%s; its output:\n%s'
                             % (e, self.output_tail())) from None

    def main_pid(self):
        """The process to signal for a clean stop."""
        return self.proc.pid

    def stop(self, timeout=15):
        """SIGTERM (the client unregisters and exits); returns True when
        it exited by itself, False when it had to be killed."""
        if self.proc is None:
            return True
        clean = True
        if self.proc.poll() is None:
            target = self.main_pid()
            try:
                os.kill(target, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                clean = False
                self._kill()
        self._close()
        self.proc = None
        return clean

    def _kill(self):
        """SIGKILL to what we started, while the Popen process is not yet
        reaped (so its pid, and its children's, are still ours).  The
        world's cleanup kills whatever else is left in the namespace."""
        for pid in self._victims():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def _victims(self):
        return [self.proc.pid]

    def _close(self):
        if self.proc is not None and self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        if self._out:
            self._out.close()
            self._out = None

    def cleanup(self):
        if self.proc is not None:
            try:
                self.stop(timeout=5)
            except Exception:
                pass
        if not os.environ.get('ALR_KEEP'):
            shutil.rmtree(self.home, ignore_errors=True)
        A._unregister(self)

    def output_tail(self, n=30):
        try:
            with open(self.out_path, errors='replace') as f:
                return ''.join(f.readlines()[-n:])
        except OSError:
            return '(no output)'

    @staticmethod
    def package_version(pkg):
        r = A.run(['dpkg-query', '-W', '-f', '${Version}', pkg], check=False)
        return r.stdout.strip() or '?'

    def version(self):
        return self.name


class Baresip(Softphone):
    """baresip (baresip-core), one account with an outbound proxy and
    regint = the expiry."""

    name = 'baresip'
    package = 'baresip-core'
    MODULE_DIR = '/usr/lib/baresip/modules'

    def config_dir(self):
        return os.path.join(self.home, '.baresip')

    def write_config(self):
        d = self.config_dir()
        os.makedirs(d, exist_ok=True)
        for mod in ('g711.so', 'account.so'):
            if not os.path.exists(os.path.join(self.MODULE_DIR, mod)):
                raise BenchError('no %s in %s' % (mod, self.MODULE_DIR))
        with open(os.path.join(d, 'config'), 'w') as f:
            f.write('# written by bench/softphones.py\n'
                    'poll_method\t\tepoll\n'
                    'sip_listen\t\t0.0.0.0:5060\n'
                    'audio_player\t\tnone\n'
                    'audio_source\t\tnone\n'
                    'audio_alert\t\tnone\n'
                    'module_path\t\t%s\n'
                    'module\t\t\tg711.so\n'
                    'module_tmp\t\taccount.so\n' % self.MODULE_DIR)
        with open(os.path.join(d, 'accounts'), 'w') as f:
            f.write('<sip:%s@%s>;auth_pass=%s;outbound="sip:%s;lr";'
                    'regint=%d\n' % (USER, DOMAIN, PASSWORD, REG_ADDR,
                                     self.expires))
        os.chmod(os.path.join(d, 'accounts'), 0o600)

    def argv(self):
        return ['baresip', '-f', self.config_dir()]

    def version(self):
        return 'baresip %s (libre %s)' % (
            self.package_version(self.package),
            self.package_version('libre0'))


class Linphonec(Softphone):
    """linphonec (linphone-cli) under a pseudo-terminal (script -qfc),
    configured by a linphonerc in its HOME; liblinphone's own network
    monitoring."""

    name = 'linphone'
    package = 'linphone-cli'

    def rc_path(self):
        return os.path.join(self.home, '.linphonerc')

    def log_path(self):
        return os.path.join(self.home, 'linphone.log')

    def write_config(self):
        os.makedirs(os.path.join(self.home, '.local', 'share', 'linphone'),
                    exist_ok=True)
        with open(self.rc_path(), 'w') as f:
            f.write('# written by bench/softphones.py\n'
                    '[sip]\n'
                    'sip_port=5060\n'
                    'sip_tcp_port=0\n'
                    'sip_tls_port=0\n'
                    'default_proxy=0\n'
                    '\n'
                    '[proxy_0]\n'
                    'reg_proxy=<sip:%(reg)s;transport=udp>\n'
                    'reg_route=<sip:%(reg)s;transport=udp;lr>\n'
                    'reg_identity=sip:%(user)s@%(domain)s\n'
                    'reg_expires=%(expires)d\n'
                    'reg_sendregister=1\n'
                    'publish=0\n'
                    '\n'
                    '[auth_info_0]\n'
                    'username=%(user)s\n'
                    'passwd=%(pw)s\n'
                    'realm=%(domain)s\n'
                    'domain=%(domain)s\n'
                    % {'reg': REG_ADDR, 'user': USER, 'domain': DOMAIN,
                       'pw': PASSWORD, 'expires': self.expires})
        os.chmod(self.rc_path(), 0o600)

    def argv(self):
        # exec: script runs the command through sh -c; without exec the
        # SIGTERM of stop() would reach sh, not linphonec.
        inner = 'exec linphonec -c %s -d 5 -l %s' % (self.rc_path(),
                                                     self.log_path())
        return ['script', '-qfc', inner, '/dev/null']

    def stdin(self):
        # Held open until stop(): at EOF script would hand linphonec an
        # end-of-file and it would never register.
        return subprocess.PIPE

    def _children(self, pid=None):
        """script's descendants, children first."""
        pid = pid or self.proc.pid
        try:
            with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
                kids = [int(p) for p in f.read().split()]
        except OSError:
            return []
        return kids + [d for k in kids for d in self._children(k)]

    def main_pid(self):
        """linphonec itself (script's child, in a session of its own):
        SIGTERM to it makes it unregister and exit; script follows."""
        kids = self._children()
        for k in kids:
            try:
                with open('/proc/%d/comm' % k) as f:
                    if f.read().strip() == 'linphonec':
                        return k
            except OSError:
                pass
        return kids[0] if kids else self.proc.pid

    def _victims(self):
        return self._children() + [self.proc.pid]

    def version(self):
        return 'linphonec %s (liblinphone %s)' % (
            self.package_version(self.package),
            self.package_version('liblinphone10'))


class Alrd(Softphone):
    """alrd (the build's daemon/alrd and plugins/ietf.so) with one IETF
    profile for alice on the built-in default SNAP (every IAP, ethernet >
    wifi > cellular; the default policy: stable-time 2s, max-migrations
    3/60s), auto-registering, and no controller, so it moves by itself
    (DESIGN.md section 3).  A fresh daemon, state directory and profile
    per start()."""

    name = 'alrd'
    pending = None

    def __init__(self, sw, expires=60):
        self.d = None
        super().__init__(sw, expires)

    def start(self):
        if self.pending:
            raise BenchError('%s: %s' % (self.name, self.pending))
        if self.d is not None:
            raise BenchError('alrd already started')
        for path in (A.alrd_path(), os.path.join(A.plugin_dir(), 'ietf.so')):
            if not os.access(path, os.R_OK):
                raise BenchError('no %s (build it, or give its BUILD_DIR)'
                                 % path)
        self.d = A.Daemon(self.sw.world, {'daemon': {
            'plugin-dir': A.plugin_dir(), 'log-level': 'info'}})
        c = self.d.client()
        try:
            c.call('profile.create', {'profile': {
                'provider_name': 'bench',
                'aor': AOR,
                'registrar': {'uri': 'sip:' + REG_ADDR,
                              'password': PASSWORD},
                'expires': self.expires,
                'snap_id': 0,
                'auto_register': True,
            }})
        finally:
            c.close()

    def alive(self):
        return self.d is not None and self.d.alive()

    def stop(self, timeout=15):
        if self.d is None:
            return True
        d, self.d = self.d, None
        try:
            d.stop(timeout=timeout)
            clean = True
        except A.DaemonError as e:
            print('alrd: %s' % e, file=sys.stderr)
            clean = False
        d.cleanup()
        return clean

    def cleanup(self):
        if self.d is not None:
            try:
                self.stop(timeout=5)
            except Exception:
                pass
        super().cleanup()

    def output_tail(self, n=30):
        return self.d.log_tail(n) if self.d else '(alrd not running)'

    def version(self):
        return 'alrd'


CLIENTS = {'alrd': Alrd, 'baresip': Baresip, 'linphone': Linphonec}
