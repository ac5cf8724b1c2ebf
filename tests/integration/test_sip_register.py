#!/usr/bin/python3
"""SIP registration (sip/) against a real Kamailio registrar, in network
namespaces.

The world is alrtest's: a device namespace with wlan0 (10.99.1.2, default
route metric 100, preferred) and wwan0 (10.99.2.2, metric 200), whose far
ends are in the network namespace.  The registrar (peers/kamailio.py)
runs in the network namespace on 10.99.100.1, an address on its loopback
that both links route to.  tests/tools/alr-sipreg runs the bindings in the
device namespace; the tests speak to it over stdin/stdout and check what
the registrar itself says (kamcmd ul.lookup, its REGISTER counter and log)
and, for the paths packets take, the kernel's counters.

Needs root; exits 77 (skipped) without it or without Kamailio.

Usage: test_sip_register.py [-b BUILD_DIR] [NAME_SUBSTRING ...]
"""

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, 'peers'))

import alrtest  # noqa: E402
from alrtest import T, TestFailure, check, check_eq  # noqa: E402
from kamailio import KAMAILIO, Registrar  # noqa: E402

REG_ADDR = '10.99.100.1'
REGISTRAR = 'sip:' + REG_ADDR
DOMAIN = 'example.test'
USER = 'alice'
AOR = 'sip:%s@%s' % (USER, DOMAIN)
PASSWORD = 'Pa55-w0rd-never-logged'
INSTANCE = 'urn:uuid:6f1d2c3b-4a59-4e8d-9c7b-0a1b2c3d4e5f'
CONTACT_USER = 'alice-dev'


def sipreg_path():
    return os.path.join(alrtest.build_dir(), 'tests', 'tools', 'alr-sipreg')


class _Cleanup:
    """Something the fixture tears down (objects with cleanup() in the
    fixture's list are torn down after the processes, before the world)."""

    def __init__(self, fn):
        self.fn = fn

    def cleanup(self):
        self.fn()


def _sysctl(ns, *settings):
    alrtest.run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw'] + list(settings))


def sip_world(fx, **registrar_kw):
    """A world with the registrar in it: (world, registrar)."""
    w = fx.world()
    w.ipn('addr', 'add', REG_ADDR + '/32', 'dev', 'lo')
    # The answer to a REGISTER sent from wwan0's address comes back over
    # wwan0 although the route to the registrar prefers wlan0: loose
    # reverse-path filtering.  No IPv6 on the links, so that neighbour
    # discovery does not blur the per-link packet counters.
    _sysctl(w.dev, 'net.ipv4.conf.all.rp_filter=2',
            'net.ipv4.conf.default.rp_filter=2',
            'net.ipv4.conf.wlan0.rp_filter=2',
            'net.ipv4.conf.wwan0.rp_filter=2',
            'net.ipv6.conf.wlan0.disable_ipv6=1',
            'net.ipv6.conf.wwan0.disable_ipv6=1')
    _sysctl(w.net, 'net.ipv6.conf.wlan0p.disable_ipv6=1',
            'net.ipv6.conf.wwan0p.disable_ipv6=1')
    tmp = tempfile.mkdtemp(prefix='alrt-kam-')
    reg = Registrar(w.net, [REG_ADDR], tmp, users={USER: PASSWORD},
                    domain=DOMAIN, **registrar_kw)

    def stop():
        reg.stop()
        if not os.environ.get('ALR_KEEP'):
            shutil.rmtree(tmp, ignore_errors=True)
    # the fixture's list is the harness's teardown order
    fx._objs.append(_Cleanup(stop))
    reg.start()
    return w, reg


def nft(world, ruleset):
    """Load an nftables ruleset into the network namespace (it goes with
    the namespace)."""
    alrtest.run(['ip', 'netns', 'exec', world.net, 'nft', '-f', '-'],
                input=ruleset)


def nft_counter(world, table, chain):
    """Packets counted by the first counter of a chain."""
    out = alrtest.run(['ip', 'netns', 'exec', world.net, 'nft', '-j', 'list',
                       'chain', 'inet', table, chain]).stdout
    for item in json.loads(out)['nftables']:
        for expr in item.get('rule', {}).get('expr', []):
            if 'counter' in expr:
                return expr['counter']['packets']
    raise TestFailure('no counter in %s %s' % (table, chain))


def rx_packets(world, peer):
    """Packets the network namespace received on a link's far end."""
    out = alrtest.run(['ip', '-n', world.net, '-s', '-j', 'link', 'show',
                       peer]).stdout
    return json.loads(out)[0]['stats64']['rx']['packets']


def snmp(world, proto, field):
    """A counter of /proc/net/snmp in the network namespace."""
    text = alrtest.run(['ip', 'netns', 'exec', world.net, 'cat',
                        '/proc/net/snmp']).stdout
    lines = [l.split() for l in text.splitlines()
             if l.startswith(proto + ':')]
    return int(lines[1][lines[0].index(field)])


def host_of(contact):
    """'sip:u@10.99.1.2:40000;transport=tcp' -> ('10.99.1.2', 40000)"""
    hp = contact.split('@', 1)[1].split(';', 1)[0]
    host, _, port = hp.rpartition(':')
    return host, int(port)


class SipReg:
    """One alr-sipreg process in the device namespace."""

    def __init__(self, fx, world, *args, iface='wlan0', addr=None,
                 password=PASSWORD, registrar=REGISTRAR, expires=600):
        if not os.access(sipreg_path(), os.X_OK):
            raise TestFailure('no %s (build it, or set ALR_BUILD_DIR)'
                              % sipreg_path())
        argv = [sipreg_path(), '--aor', AOR, '--registrar', registrar,
                '--user', USER, '--password', password, '--iface', iface,
                '--local-addr', addr or world.links[iface]['addr'],
                '--instance', INSTANCE, '--contact-user', CONTACT_USER,
                '--expires', str(expires), '--debug'] + list(args)
        fd, self.log_path = tempfile.mkstemp(prefix='alrt-sipreg-',
                                             suffix='.log')
        self.logf = os.fdopen(fd, 'wb')
        env = dict(os.environ)
        env.setdefault('ASAN_OPTIONS', 'detect_leaks=1')
        env.setdefault('UBSAN_OPTIONS', 'print_stacktrace=1')
        self.proc = fx.popen(world.exec_argv(argv), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=self.logf,
                             env=env)
        self.buf = b''
        self.pending = []
        self.history = []
        self.ready = self.wait(lambda e: e['event'] == 'ready', what='ready')
        self.call_id = self.ready['bindings'][0]['call_id']

    # -- reading ---------------------------------------------------------

    def _read(self, deadline):
        while b'\n' not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if not r:
                return False
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise TestFailure('alr-sipreg exited (%s); log:\n%s'
                                  % (self.proc.poll(), self.log_tail()))
            self.buf += chunk
        line, self.buf = self.buf.split(b'\n', 1)
        ev = json.loads(line)
        self.pending.append(ev)
        self.history.append(ev)
        return True

    def wait(self, pred, timeout=None, what=None):
        """The first event matching pred, kept or read before the
        deadline; the others stay, in order."""
        deadline = time.monotonic() + (timeout or T(20))
        while True:
            for i, ev in enumerate(self.pending):
                if pred(ev):
                    del self.pending[i]
                    return ev
            if not self._read(deadline):
                raise TestFailure('no %s within %.0fs; unclaimed: %s'
                                  % (what or 'event', timeout or T(20),
                                     self.pending[-8:]))

    def wait_state(self, new, timeout=None, index=0, old=None):
        return self.wait(lambda e: e['event'] == 'state' and
                         e['new'] == new and e.get('index') == index and
                         (old is None or e['old'] == old),
                         timeout, 'state %s' % new)

    def cmd(self, line, ok=True, timeout=None):
        """Send a command and wait for its reply.  Events read before it
        are forgotten (history keeps them): later waits see what the
        command caused."""
        name = line.split()[0].lstrip('@')
        if line.startswith('@'):
            name = line.split()[1]
        self.pending.clear()
        self.proc.stdin.write((line + '\n').encode())
        self.proc.stdin.flush()
        ev = self.wait(lambda e: e['event'] in ('ok', 'error') and
                       e.get('cmd') == name, timeout, 'reply to ' + line)
        if ok and ev['event'] != 'ok':
            raise TestFailure('%s: %s' % (line, ev))
        return ev

    def info(self, index=0):
        self.proc.stdin.write(('@%d info\n' % index).encode())
        self.proc.stdin.flush()
        return self.wait(lambda e: e['event'] == 'info', what='info')

    def log_tail(self, n=40):
        self.logf.flush()
        with open(self.log_path, errors='replace') as f:
            return ''.join(f.readlines()[-n:])

    def check_log(self):
        """No sanitizer report, and the password never logged."""
        self.logf.flush()
        with open(self.log_path, errors='replace') as f:
            text = f.read()
        check(not alrtest.SANITIZER_RE.search(text),
              'sanitizer report in alr-sipreg log:\n%s', text[-3000:])
        check(PASSWORD not in text, 'the password reached a log line')
        for ev in self.history:
            check(PASSWORD not in json.dumps(ev),
                  'the password reached an event: %s', ev)

    def quit(self):
        self.proc.stdin.write(b'quit\n')
        self.proc.stdin.flush()
        self.wait(lambda e: e['event'] == 'bye', what='bye')
        rc = self.proc.wait(T(10))
        self.check_log()
        check_eq(rc, 0, 'alr-sipreg exit status')
        os.unlink(self.log_path)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(T(10))


def only_binding(reg):
    b = reg.bindings(USER)
    check_eq(len(b), 1, 'bindings at the registrar (%s)' % b)
    return b[0]


def wait_replies(reg, n):
    """The registrar's log once n REGISTERs have their reply lines."""
    def done():
        regs = reg.registers()
        return regs if len(regs) >= n and all(r['replies']
                                              for r in regs[:n]) else None
    return alrtest.wait_until(done, T(10), '%d answered REGISTERs' % n)


# ---------------------------------------------------------------------------


def test_register_over_wlan(fx):
    """Registration over link A puts A's address in the contact, in one
    challenge round."""
    w, reg = sip_world(fx)
    s = SipReg(fx, w)
    s.cmd('register')
    ev = s.wait_state('REGISTERED')
    host, port = host_of(ev['contact'])
    check_eq(host, '10.99.1.2', 'contact host')
    check_eq(ev['expires'], 600, 'granted expiry')
    b = only_binding(reg)
    check_eq(b['contact'], ev['contact'], 'the registrar\'s contact')
    check_eq(b['received'], 'sip:10.99.1.2:%d;transport=udp' % port,
             'where the REGISTER came from')
    check_eq(b['callid'], s.call_id, 'Call-ID')
    check_eq(b['instance'], '<%s>' % INSTANCE, '+sip.instance')
    check(b['expires'] > 590, 'expires at the registrar: %s', b['expires'])
    regs = wait_replies(reg, 2)
    check_eq(reg.register_count(), 2, 'REGISTERs received')
    check_eq([r['replies'] for r in regs], [[401], [200]], 'replies')
    check_eq([int(r['cseq']) for r in regs], [1, 2], 'CSeqs')
    check(regs[0]['auth'] is None and regs[1]['auth'], 'credentials on '
          'the second REGISTER only: %s', regs)
    s.quit()


def test_refresh_keeps_one_binding(fx):
    """A refresh is one REGISTER (the cached challenge), keeps the Call-ID,
    raises the CSeq, and leaves exactly one binding."""
    w, reg = sip_world(fx)
    s = SipReg(fx, w, expires=10)
    s.cmd('register')
    first = s.wait_state('REGISTERED')
    seen = [only_binding(reg)]
    for _ in range(2):
        # granted 10 s: refreshed 5 s before it runs out
        s.wait_state('REGISTERING', T(10), old='REGISTERED')
        ev = s.wait_state('REGISTERED', T(5))
        check_eq(ev['contact'], first['contact'], 'contact')
        seen.append(only_binding(reg))
    check_eq({b['callid'] for b in seen}, {s.call_id}, 'Call-IDs')
    check_eq([b['cseq'] for b in seen], [2, 3, 4], 'CSeqs')
    check_eq(reg.register_count(), 4, 'REGISTERs: one challenge round, '
             'then one per refresh')
    s.quit()


def test_register_over_wwan_leaves_over_wwan(fx):
    """A REGISTER bound to link B leaves over B although A has the
    preferred default route."""
    w, reg = sip_world(fx)
    route = alrtest.run(['ip', '-n', w.dev, 'route', 'get', REG_ADDR,
                         'from', '10.99.2.2']).stdout
    check('dev wlan0' in route, 'premise: the routing table sends even '
          'wwan0\'s address over wlan0: %s', route)
    a0, b0 = rx_packets(w, 'wlan0p'), rx_packets(w, 'wwan0p')
    s = SipReg(fx, w, iface='wwan0')
    s.cmd('register')
    ev = s.wait_state('REGISTERED')
    host, port = host_of(ev['contact'])
    check_eq(host, '10.99.2.2', 'contact host')
    check_eq(only_binding(reg)['received'],
             'sip:10.99.2.2:%d;transport=udp' % port, 'source')
    a1, b1 = rx_packets(w, 'wlan0p'), rx_packets(w, 'wwan0p')
    check_eq(a1 - a0, 0, 'packets that arrived over wlan0')
    check(b1 - b0 >= 2, 'two REGISTERs arrived over wwan0 (%d packets)',
          b1 - b0)
    s.quit()


def test_deregister_leaves_none(fx):
    w, reg = sip_world(fx)
    s = SipReg(fx, w)
    s.cmd('register')
    s.wait_state('REGISTERED')
    only_binding(reg)
    s.cmd('unregister')
    ev = s.wait_state('IDLE')
    check_eq(ev['error'], 'none', 'result')
    check_eq(reg.bindings(USER), [], 'bindings after deregistration')
    regs = wait_replies(reg, 3)
    last = regs[2]
    check_eq(last['callid'], s.call_id, 'de-REGISTER Call-ID')
    check_eq(int(last['cseq']), 3, 'de-REGISTER CSeq')
    check('expires=0' in last['contact'], 'contact expires=0: %s',
          last['contact'])
    check_eq(last['replies'], [200], 'reply')
    s.quit()


def test_wrong_password_one_round(fx):
    """A wrong password is an authentication error after exactly one
    challenge round, and nothing is retried."""
    w, reg = sip_world(fx)
    s = SipReg(fx, w, password='wrong-password')
    s.cmd('register')
    ev = s.wait_state('IDLE')
    check_eq((ev['error'], ev['code'], ev['permanent']),
             ('authentication', 401, True), 'the error')
    check_eq(ev['reason'], 'Unauthorized', 'reason phrase')
    regs = wait_replies(reg, 2)
    check_eq([r['replies'] for r in regs], [[401], [401]], 'replies')
    # A retry would come within 2 s (the first backoff); watch 4 s.
    time.sleep(T(4))
    check_eq(reg.register_count(), 2, 'REGISTERs received')
    check_eq(reg.bindings(USER), [], 'bindings')
    check_eq(s.info()['state'], 'IDLE', 'state')
    s.quit()


def test_min_expires_retry(fx):
    """min_expires above the requested expiry: 423, then the retry with
    Min-Expires is accepted."""
    w, reg = sip_world(fx, min_expires=120)
    s = SipReg(fx, w, expires=60)
    s.cmd('register')
    ev = s.wait_state('REGISTERED')
    check_eq(ev['expires'], 120, 'granted expiry')
    b = only_binding(reg)
    check(110 < b['expires'] <= 120, 'expiry at the registrar: %s',
          b['expires'])
    regs = wait_replies(reg, 3)
    check_eq([r['replies'] for r in regs], [[401], [423], [200]], 'replies')
    check('expires=60' in regs[1]['contact'], 'asked 60: %s', regs[1])
    check('expires=120' in regs[2]['contact'], 'then 120: %s', regs[2])
    check_eq(regs[2]['expires'], '120', 'Expires header of the retry')
    s.quit()


def test_unreachable_udp_times_out_then_backs_off(fx):
    """Nobody answers, not even with an ICMP error (a firewall drops the
    datagrams): Timer E retransmits until Timer F (32 s), then BACKOFF;
    counted where the datagrams arrive."""
    w, reg = sip_world(fx)
    nft(w, 'table inet alrt {\n chain input {\n'
           '  type filter hook input priority 0; policy accept;\n'
           '  udp dport 5070 counter drop\n }\n}\n')
    s = SipReg(fx, w, registrar='sip:%s:5070' % REG_ADDR)
    t0 = time.monotonic()
    s.cmd('register')
    ev = s.wait_state('BACKOFF', T(45))
    took = time.monotonic() - t0
    check_eq((ev['error'], ev['code'], ev['permanent']),
             ('timeout', 408, False), 'the error')
    check(30 <= took <= 36, 'Timer F: %.1f s', took)
    check(1000 <= ev['retry_ms'] <= 2000, 'first retry within 2 s: %s',
          ev['retry_ms'])
    # RFC 3261 §17.1.2.2: 0, 0.5, 1.5, 3.5, 7.5, then every 4 s to 32 s.
    sent = nft_counter(w, 'alrt', 'input')
    check(10 <= sent <= 12, '%d datagrams for one transaction', sent)
    s.wait_state('REGISTERING', T(5), old='BACKOFF')
    s.quit()


test_unreachable_udp_times_out_then_backs_off.timeout = 150


def test_closed_udp_port_fails_in_one_round_trip(fx):
    """Nothing listens at the registrar's port: its host answers ICMP port
    unreachable, which the socket reads (IP_RECVERR): BACKOFF as the
    server's error after the first datagram, not Timer F's 32 s later;
    counted where the datagrams arrive (the registrar host's NoPorts)."""
    w, reg = sip_world(fx)
    lost0 = snmp(w, 'Udp', 'NoPorts')
    s = SipReg(fx, w, registrar='sip:%s:5070' % REG_ADDR)
    s.cmd('register')
    ev = s.wait_state('BACKOFF', T(10))
    check_eq((ev['error'], ev['code'], ev['permanent']),
             ('server', -111, False), 'the error')
    # Before any retransmission (Timer E: 500 ms): one datagram arrived.
    check_eq(snmp(w, 'Udp', 'NoPorts') - lost0, 1, 'datagrams to the closed port')
    check(1000 <= ev['retry_ms'] <= 2000, 'first retry within 2 s: %s',
          ev['retry_ms'])
    # It retries over the same path, after the backoff.
    s.wait_state('REGISTERING', T(5), old='BACKOFF')
    ev = s.wait_state('BACKOFF', T(10))
    check_eq(ev['error'], 'server', 'the second error')
    check_eq(snmp(w, 'Udp', 'NoPorts') - lost0, 2, 'datagrams after the retry')
    s.quit()


def test_closed_port_tries_the_next_address(fx):
    """The registrar's name has two addresses; nothing listens at the
    first: the REGISTER goes to the second at once (the same attempt),
    one datagram lost to the first."""
    w, reg = sip_world(fx)
    closed = '10.99.100.2'
    w.ipn('addr', 'add', closed + '/32', 'dev', 'lo')
    etc = os.path.join('/etc/netns', w.dev)
    os.makedirs(etc, exist_ok=True)
    fx._objs.append(_Cleanup(lambda: shutil.rmtree(etc, ignore_errors=True)))
    with open(os.path.join(etc, 'hosts'), 'w') as f:
        f.write('127.0.0.1 localhost\n%s registrar.%s\n%s registrar.%s\n'
                % (closed, DOMAIN, REG_ADDR, DOMAIN))
    with open(os.path.join(etc, 'resolv.conf'), 'w') as f:
        f.write('nameserver 127.0.0.1\n')
    lost0 = snmp(w, 'Udp', 'NoPorts')
    s = SipReg(fx, w, registrar='sip:registrar.%s' % DOMAIN)
    s.cmd('register')
    s.wait_state('RESOLVING')
    s.wait_state('REGISTERING')
    s.wait_state('REGISTERED')
    check(not any(e['event'] == 'state' and e['new'] == 'BACKOFF' for e in s.history),
          'BACKOFF on the way: %s', s.history)
    check_eq(snmp(w, 'Udp', 'NoPorts') - lost0, 1, 'datagrams to the closed address')
    only_binding(reg)
    check('trying the next address' in s.log_tail(200), 'no log line for the next address')
    s.quit()


def test_refused_tcp_backs_off_not_a_storm(fx):
    """Connection refused: nothing listens at the registrar's port, the
    server's error (docs/sip.md, "ICMP errors"): BACKOFF with growing
    delays; the registrar's host counts the connection attempts."""
    w, reg = sip_world(fx)
    rst0 = snmp(w, 'Tcp', 'OutRsts')
    s = SipReg(fx, w, registrar='sip:%s:5070;transport=tcp' % REG_ADDR)
    t0 = time.monotonic()
    s.cmd('register')
    delays = []
    while time.monotonic() - t0 < T(16):
        ev = s.wait_state('BACKOFF', T(20))
        check_eq(ev['error'], 'server', 'error')
        check_eq(ev['code'], -111, 'ECONNREFUSED')
        delays.append(ev['retry_ms'])
    for n, d in enumerate(delays):
        cap = 2000 << n
        check(cap // 2 <= d <= cap, 'retry %d after %d ms', n, d)
    attempts = snmp(w, 'Tcp', 'OutRsts') - rst0
    check(attempts == len(delays), '%d refused connections for %d '
          'attempts', attempts, len(delays))
    check(3 <= attempts <= 6, '%d attempts in 16 s', attempts)
    s.quit()


def test_move_to_wwan_one_round_trip(fx):
    """Moving to link B keeps the Call-ID, raises the CSeq, costs one
    REGISTER (the cached challenge); Kamailio replaces the contact that
    has the same +sip.instance."""
    w, reg = sip_world(fx)
    s = SipReg(fx, w)
    s.cmd('register')
    first = s.wait_state('REGISTERED')
    n0 = reg.register_count()
    s.cmd('move wwan0 10.99.2.2')
    ev = s.wait_state('REGISTERED')
    check_eq(host_of(ev['contact'])[0], '10.99.2.2', 'new contact')
    check_eq(reg.register_count() - n0, 1, 'REGISTERs for the move')
    b = only_binding(reg)
    check_eq(b['contact'], ev['contact'], 'the registrar\'s contact')
    check_eq(b['callid'], s.call_id, 'Call-ID')
    check_eq(b['cseq'], 3, 'CSeq')
    check(b['received'].startswith('sip:10.99.2.2:'), 'source %s',
          b['received'])
    info = s.info()
    check_eq([k['uri'] for k in info['known']], [ev['contact']],
             'contacts alr-sipreg believes registered')
    check(first['contact'] != ev['contact'], 'contact changed')
    s.quit()


def test_remove_old_contact_over_wwan(fx):
    """Make-before-break without an instance: both contacts, then the one
    registered over A is removed by a REGISTER sent over B while A is
    down."""
    w, reg = sip_world(fx)
    s = SipReg(fx, w, '--no-instance')
    s.cmd('register')
    a = s.wait_state('REGISTERED')['contact']
    s.cmd('move wwan0 10.99.2.2')
    b = s.wait_state('REGISTERED')['contact']
    check_eq(sorted(x['contact'] for x in reg.bindings(USER)), sorted([a, b]),
             'both contacts at the registrar')
    w.carrier_down('wlan0')
    s.cmd('remove-contact %s wwan0 10.99.2.2' % a)
    ev = s.wait(lambda e: e['event'] == 'contact-removed', what='removal')
    check_eq((ev['error'], ev['code'], ev['contact']), ('none', 0, a),
             'removal')
    check_eq(only_binding(reg)['contact'], b, 'what is left')
    s.quit()


def test_remove_contact_after_restart(fx):
    """A process registers over A and dies; A goes down; a new process
    with the persisted Call-ID and CSeq removes the contact over B."""
    w, reg = sip_world(fx)
    s = SipReg(fx, w)
    s.cmd('register')
    contact = s.wait_state('REGISTERED')['contact']
    persisted = [e for e in s.history if e['event'] == 'persist']
    call_id, cseq = persisted[-1]['call_id'], persisted[-1]['cseq']
    check_eq((call_id, cseq), (s.call_id, 2), 'persisted Call-ID, CSeq')
    check(any(e['contact'] == contact and e['expires'] == 600
              for e in persisted), 'contact persisted: %s', persisted)
    s.kill()
    only_binding(reg)
    w.carrier_down('wlan0')
    s2 = SipReg(fx, w, '--call-id', call_id, '--cseq', str(cseq),
                iface='wwan0')
    s2.cmd('remove-contact %s wwan0 10.99.2.2' % contact)
    ev = s2.wait(lambda e: e['event'] == 'contact-removed', what='removal')
    check_eq(ev['error'], 'none', 'removal')
    check_eq(reg.bindings(USER), [], 'bindings')
    regs = wait_replies(reg, 4)
    check_eq([(r['callid'], int(r['cseq'])) for r in regs[2:]],
             [(call_id, 3), (call_id, 4)], 'the removal\'s Call-ID, CSeqs')
    s2.quit()


def test_tcp_register_refresh_unregister(fx):
    """Over TCP: the contact says so, refreshes reuse the connection."""
    w, reg = sip_world(fx)
    s = SipReg(fx, w, '--transport', 'tcp', expires=10)
    s.cmd('register')
    ev = s.wait_state('REGISTERED')
    check(ev['contact'].endswith(';transport=tcp'), 'contact %s',
          ev['contact'])
    b1 = only_binding(reg)
    check(b1['received'].endswith(';transport=tcp'), 'received %s',
          b1['received'])
    s.wait_state('REGISTERING', T(10), old='REGISTERED')
    s.wait_state('REGISTERED', T(5))
    b2 = only_binding(reg)
    check_eq(b2['received'], b1['received'], 'same connection')
    check_eq(b2['cseq'], b1['cseq'] + 1, 'CSeq')
    check_eq(s.info()['transports_opened'], 1, 'transports opened')
    s.cmd('unregister')
    s.wait_state('IDLE')
    check_eq(reg.bindings(USER), [], 'bindings')
    s.quit()


def test_registrar_by_name(fx):
    """A registrar named by a host name: RESOLVING (c-ares, the
    namespace's /etc/hosts), then as usual."""
    w, reg = sip_world(fx)
    etc = os.path.join('/etc/netns', w.dev)
    os.makedirs(etc, exist_ok=True)
    fx._objs.append(_Cleanup(lambda: shutil.rmtree(etc, ignore_errors=True)))
    with open(os.path.join(etc, 'hosts'), 'w') as f:
        f.write('127.0.0.1 localhost\n%s registrar.%s\n' % (REG_ADDR, DOMAIN))
    with open(os.path.join(etc, 'resolv.conf'), 'w') as f:
        f.write('nameserver 127.0.0.1\n')
    s = SipReg(fx, w, registrar='sip:registrar.%s' % DOMAIN)
    s.cmd('register')
    s.wait_state('RESOLVING')
    s.wait_state('REGISTERING')
    s.wait_state('REGISTERED')
    only_binding(reg)
    s.quit()


def test_sha256_challenge(fx):
    """A registrar that challenges with SHA-256 (RFC 7616)."""
    w, reg = sip_world(fx, algorithm='SHA-256')
    s = SipReg(fx, w)
    s.cmd('register')
    s.wait_state('REGISTERED')
    regs = wait_replies(reg, 2)
    check_eq([r['replies'] for r in regs], [[401], [200]], 'replies')
    check('algorithm=SHA-256' in (regs[1]['auth'] or ''), 'credentials: %s',
          regs[1]['auth'])
    only_binding(reg)
    s.quit()


def test_query_lists_bindings(fx):
    """A REGISTER without Contact returns the AOR's bindings."""
    w, reg = sip_world(fx)
    s = SipReg(fx, w, '--next', '--contact-user', 'alice-tab',
               '--instance', 'urn:uuid:0b7a1f5e-9c2d-4e3f-8a6b-5d4c3b2a1f0e')
    s.cmd('@0 register')
    a = s.wait_state('REGISTERED', index=0)['contact']
    s.cmd('@1 register')
    b = s.wait_state('REGISTERED', index=1)['contact']
    s.cmd('@0 query')
    ev = s.wait(lambda e: e['event'] == 'query', what='query')
    check_eq(ev['error'], 'none', 'query')
    check_eq(sorted(c['uri'] for c in ev['contacts']), sorted([a, b]),
             'contacts')
    check_eq(sorted(c['uri'] for c in ev['contacts']),
             sorted(x['contact'] for x in reg.bindings(USER)),
             'the registrar agrees')
    s.quit()


def _udp_probe(world, text, dest):
    from check_kamailio import socket_in_netns
    import socket
    sock = socket_in_netns(world.net, socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.settimeout(T(5))
        sock.bind(('10.99.1.1', 0))
        sock.sendto(text.replace('@PORT@', str(sock.getsockname()[1]))
                    .encode(), dest)
        return sock.recv(65535).decode()
    finally:
        sock.close()


def test_requests_to_the_contact_are_answered(fx):
    """Requests reaching the registered contact get a NIST's answer:
    OPTIONS 200, anything else 501 for now."""
    w, reg = sip_world(fx)
    s = SipReg(fx, w)
    s.cmd('register')
    contact = s.wait_state('REGISTERED')['contact']
    host, port = host_of(contact)
    for method, code in (('OPTIONS', 200), ('NOTIFY', 501)):
        text = ('%s %s SIP/2.0\r\n'
                'Via: SIP/2.0/UDP 10.99.1.1:@PORT@;branch=z9hG4bK%s1;rport\r\n'
                'Max-Forwards: 70\r\n'
                'From: <sip:probe@example.test>;tag=p1\r\n'
                'To: <%s>\r\n'
                'Call-ID: probe-%s\r\n'
                'CSeq: 7 %s\r\n'
                'Content-Length: 0\r\n\r\n'
                % (method, contact, method.lower(), contact, method, method))
        answer = _udp_probe(w, text, (host, port))
        check(answer.startswith('SIP/2.0 %d ' % code), '%s answered %r',
              method, answer[:60])
        check('CSeq: 7 %s' % method in answer, 'CSeq echoed: %r', answer)
        check(';tag=' in answer.split('To:', 1)[1].split('\r\n', 1)[0],
              'To tag added: %r', answer)
    check_eq(s.info()['requests_received'], 2, 'requests received')
    s.quit()


def test_tcp_connection_loss_is_reported(fx):
    """The registrar goes away: the TCP connection's loss reaches the
    binding at once (not at its refresh), it backs off, and registers
    again over a new connection when the registrar is back."""
    w, reg = sip_world(fx)
    s = SipReg(fx, w, '--transport', 'tcp')
    s.cmd('register')
    first = s.wait_state('REGISTERED')
    reg.stop()
    t0 = time.monotonic()
    s.wait_state('REGISTERING', T(5), old='REGISTERED')
    check(time.monotonic() - t0 < 3, 'noticed in %.1f s',
          time.monotonic() - t0)
    # The new connection is reset (Kamailio on its way out: transport) or
    # refused (gone: nothing listens, the server's error, docs/sip.md),
    # depending on how far its exit got.
    ev = s.wait_state('BACKOFF', T(5))
    check(ev['error'] in ('transport', 'server'), 'error: %s', ev)
    reg.start()
    again = s.wait_state('REGISTERED', T(30))
    check(again['contact'] != first['contact'], 'a new connection, a new '
          'contact: %s', again['contact'])
    check_eq(only_binding(reg)['contact'], again['contact'], 'registrar')
    check_eq(s.info()['transports_opened'] >= 2, True, 'transports opened')
    s.quit()


# ---- a registrar that misbehaves ------------------------------------------
#
# Kamailio cannot be made to answer from another address, rewrite the Via
# of its own answers or leave our Contact out of a 200 OK, so these tests
# use a fake registrar over UDP in the network namespace, beside the real
# one (another port of the registrar's address).  Only for those cases.

FAKE_PORT = 5090


class FakeRegistrar:
    """REGISTERs in, hand-written answers out, over UDP sockets in the
    network namespace: `main` on REG_ADDR:FAKE_PORT (where the REGISTERs
    go) and `other` on REG_ADDR:FAKE_PORT+1 (another source)."""

    def __init__(self, world):
        from check_kamailio import socket_in_netns
        import socket
        self.main = socket_in_netns(world.net, socket.AF_INET,
                                    socket.SOCK_DGRAM)
        self.other = socket_in_netns(world.net, socket.AF_INET,
                                     socket.SOCK_DGRAM)
        self.main.bind((REG_ADDR, FAKE_PORT))
        self.other.bind((REG_ADDR, FAKE_PORT + 1))

    uri = 'sip:%s:%d' % (REG_ADDR, FAKE_PORT)

    def close(self):
        self.main.close()
        self.other.close()

    def recv(self, timeout=None):
        """The next REGISTER: (text, source, {header name: [values]})."""
        self.main.settimeout(timeout or T(10))
        try:
            data, src = self.main.recvfrom(65535)
        except OSError as e:
            raise TestFailure('no REGISTER at the fake registrar: %s' % e)
        text = data.decode()
        head = text.split('\r\n\r\n', 1)[0].split('\r\n')
        check(head[0].startswith('REGISTER '), 'not a REGISTER: %r',
              head[0])
        hdrs = {}
        for line in head[1:]:
            name, _, value = line.partition(':')
            hdrs.setdefault(name.strip().lower(), []).append(value.strip())
        return text, src, hdrs

    def answer(self, req, code=200, reason='OK', contact=True, via=None,
               sock=None):
        """Answer req (from recv()) with the request's Via (or via), its
        From, To with a tag, Call-ID, CSeq and, for a 200 with contact,
        its Contact granted 600 s."""
        _, src, h = req
        lines = ['SIP/2.0 %d %s' % (code, reason)]
        lines += ['Via: %s' % v for v in (via or h['via'])]
        lines += ['From: %s' % h['from'][0],
                  'To: %s;tag=fake' % h['to'][0],
                  'Call-ID: %s' % h['call-id'][0],
                  'CSeq: %s' % h['cseq'][0]]
        if code == 200 and contact:
            uri = h['contact'][0].split(';', 1)[0]
            lines.append('Contact: %s;expires=600' % uri)
        lines += ['Content-Length: 0', '', '']
        (sock or self.main).sendto('\r\n'.join(lines).encode(), src)


def fake_registrar(fx, w):
    fake = FakeRegistrar(w)
    fx._objs.append(_Cleanup(fake.close))
    return fake


def _spoofed_200_is_dropped(fx, spoof):
    """A 200 OK that fails RFC 3261 §18.1.2 is dropped: the REGISTER is
    retransmitted (Timer E) and the true 200 to that retransmission
    registers.  spoof(fake, req) sends the bad one."""
    w, reg = sip_world(fx)
    fake = fake_registrar(fx, w)
    s = SipReg(fx, w, registrar=fake.uri)
    s.cmd('register')
    req = fake.recv()
    spoof(fake, req)
    # Still waiting: the same REGISTER again, not a new one.
    again = fake.recv()
    check_eq(again[2]['via'], req[2]['via'], 'a retransmission')
    check_eq(again[2]['cseq'], req[2]['cseq'], 'CSeq')
    # info's reply comes after every event alr-sipreg wrote before it
    check(s.info()['dropped'] >= 1, 'the spoofed 200 counted as dropped')
    check(not any(e['event'] == 'state' and e['new'] == 'REGISTERED'
                  for e in s.history), 'registered by the spoofed 200: %s',
          s.history)
    fake.answer(again)
    ev = s.wait_state('REGISTERED')
    check_eq(ev['expires'], 600, 'granted by the true 200')
    s.quit()


def test_200_from_another_port_is_dropped(fx):
    """A 200 OK that matches the REGISTER's branch but comes from another
    port than the REGISTER went to is not the registrar's."""
    _spoofed_200_is_dropped(
        fx, lambda fake, req: fake.answer(req, sock=fake.other))


def test_200_with_rewritten_via_is_dropped(fx):
    """A 200 OK whose top Via sent-by is not the one alrd inserted (host
    rewritten, branch kept) is dropped (RFC 3261 §18.1.2)."""
    def spoof(fake, req):
        via = req[2]['via'][0]
        host = via.split()[1].split(';', 1)[0]        # 10.99.1.2:PORT
        fake.answer(req, via=[via.replace(host, '10.99.1.99' +
                                          host[host.rindex(':'):], 1)])
    _spoofed_200_is_dropped(fx, spoof)


def test_200_without_our_contact_is_not_registered(fx):
    """A 200 OK that does not list our contact (here: no Contact at all)
    did not register us (RFC 3261 §10.2.4): BACKOFF with a protocol
    error, and the retry registers when the 200 lists it."""
    w, reg = sip_world(fx)
    fake = fake_registrar(fx, w)
    s = SipReg(fx, w, registrar=fake.uri)
    s.cmd('register')
    fake.answer(fake.recv(), contact=False)
    ev = s.wait_state('BACKOFF')
    check_eq(ev['old'], 'REGISTERING', 'from')
    check_eq(ev['error'], 'protocol', 'error')
    check_eq(ev['code'], 200, 'code')
    check('listing no bindings' in ev['reason'], 'reason: %r', ev['reason'])
    check(not any(e['event'] == 'state' and e['new'] == 'REGISTERED'
                  for e in s.history), 'reported registered: %s', s.history)
    # The retry after the backoff, answered properly this time.
    req = fake.recv(T(10))
    fake.answer(req)
    s.wait_state('REGISTERED', old='REGISTERING')
    s.quit()


if __name__ == '__main__':
    if not os.path.exists(KAMAILIO):
        print('SKIP: no Kamailio at %s' % KAMAILIO, flush=True)
        sys.exit(77)
    alrtest.main()
