#!/usr/bin/python3
"""Self-check for the Kamailio registrar fixture (kamailio.py).

Creates two network namespaces joined by a veth pair, runs the Registrar in
one and sends hand-built REGISTERs from the other (UDP, TCP, IPv6), then
checks the registrar's own view (kamcmd ul.lookup / ul.dump) and its log.
Digest responses are computed here with hashlib, independently of alrd's C
code.  Prints "N passed, N failed"; exits 0 when all passed, 1 otherwise,
77 when it cannot run (not root, tools missing).

Usage: check_kamailio.py [-k]    (-k: keep the work directory)
"""

import ctypes
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from kamailio import Registrar  # noqa: E402

PID = os.getpid()
NS_REG = 'kamck%da' % PID          # the registrar
NS_UA = 'kamck%db' % PID           # the user agent
VETH_REG = 'kck%da' % PID
VETH_UA = 'kck%db' % PID
REG4, UA4 = '10.201.0.1', '10.201.0.2'
REG4_DENIED, UA4_DENIED = '10.201.1.1', '10.201.1.2'   # same veth
DENIED_NET = '10.201.1.0/24'
REG6, UA6 = 'fd00:201::1', 'fd00:201::2'
DOMAIN = 'example.test'
USERS = {'alice': 'secret', 'bob': 'b0b-pass'}

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class Interrupted(Exception):
    pass


def _on_signal(signum, frame):
    raise Interrupted('signal %d' % signum)


def run(*cmd):
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def setup_network():
    run('ip', 'netns', 'add', NS_REG)
    run('ip', 'netns', 'add', NS_UA)
    run('ip', '-n', NS_REG, 'link', 'add', VETH_REG, 'type', 'veth',
        'peer', 'name', VETH_UA, 'netns', NS_UA)
    for ns, dev, addrs in ((NS_REG, VETH_REG, (REG4, REG4_DENIED, REG6)),
                           (NS_UA, VETH_UA, (UA4, UA4_DENIED, UA6))):
        run('ip', '-n', ns, 'link', 'set', 'lo', 'up')
        for a in addrs:
            if ':' in a:
                run('ip', '-n', ns, 'addr', 'add', a + '/64', 'dev', dev,
                    'nodad')
            else:
                run('ip', '-n', ns, 'addr', 'add', a + '/24', 'dev', dev)
        run('ip', '-n', ns, 'link', 'set', dev, 'up')


def teardown_network():
    for ns in (NS_REG, NS_UA):
        subprocess.run(['ip', 'netns', 'del', ns], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def socket_in_netns(ns, family, kind):
    """A socket that lives in namespace ns: only this thread enters ns,
    for the socket() call; the socket keeps its namespace afterwards."""
    own = os.open('/proc/thread-self/ns/net', os.O_RDONLY)
    target = os.open('/run/netns/' + ns, os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, 'setns(%s): %s' % (ns, os.strerror(err)))
        try:
            return socket.socket(family, kind)
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                os._exit(3)     # stuck in the wrong namespace: never go on
    finally:
        os.close(own)
        os.close(target)


# ---- a minimal SIP user agent for REGISTER --------------------------------

def host(addr):
    return '[%s]' % addr if ':' in addr else addr


class Response:
    def __init__(self, text):
        head = text.split('\r\n\r\n', 1)[0]
        lines = head.split('\r\n')
        m = re.match(r'SIP/2\.0 (\d{3}) (.*)', lines[0])
        if not m:
            raise AssertionError('not a SIP response: %r' % lines[0])
        self.code = int(m.group(1))
        self.reason = m.group(2)
        self.headers = []
        for line in lines[1:]:
            name, _, value = line.partition(':')
            self.headers.append((name.strip().lower(), value.strip()))
        self.text = text

    def header(self, name):
        values = [v for n, v in self.headers if n == name.lower()]
        return values[0] if values else None

    def contacts(self):
        """{uri: {param: value}} from every Contact header."""
        out = {}
        for n, v in self.headers:
            if n not in ('contact', 'm'):
                continue
            for m in re.finditer(
                    r'<([^>]*)>((?:;[^;,=]+(?:=(?:"[^"]*"|[^;,]*))?)*)', v):
                params = {}
                for p in re.finditer(r';([^;,=]+)(?:=("[^"]*"|[^;,]*))?',
                                     m.group(2)):
                    params[p.group(1).strip().lower()] = \
                        (p.group(2) or '').strip('"')
                out[m.group(1)] = params
        return out

    def cseq(self):
        return int(self.header('cseq').split()[0])

    def __repr__(self):
        return '<%d %s>' % (self.code, self.reason)


def parse_challenge(value):
    assert value and value.startswith('Digest '), value
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None
            else m.group(3)
            for m in re.finditer(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', value)}


def digest_authorization(ch, user, password, method, uri, nc, cnonce):
    alg = ch.get('algorithm', 'MD5')
    hname = {'MD5': 'md5', 'SHA-256': 'sha256'}[alg]

    def h(s):
        return hashlib.new(hname, s.encode()).hexdigest()

    ha1 = h('%s:%s:%s' % (user, ch['realm'], password))
    ha2 = h('%s:%s' % (method, uri))
    fields = ['username="%s"' % user, 'realm="%s"' % ch['realm'],
              'nonce="%s"' % ch['nonce'], 'uri="%s"' % uri]
    if 'qop' in ch:
        ncs = '%08x' % nc
        resp = h('%s:%s:%s:%s:auth:%s' % (ha1, ch['nonce'], ncs, cnonce, ha2))
        fields += ['response="%s"' % resp, 'algorithm=%s' % alg,
                   'cnonce="%s"' % cnonce, 'qop=auth', 'nc=%s' % ncs]
    else:
        resp = h('%s:%s:%s' % (ha1, ch['nonce'], ha2))
        fields += ['response="%s"' % resp, 'algorithm=%s' % alg]
    if 'opaque' in ch:
        fields.append('opaque="%s"' % ch['opaque'])
    return 'Digest ' + ', '.join(fields)


class UA:
    """One registration (one Call-ID) of `user` from local_ip."""

    def __init__(self, local_ip, server_ip, user, password, proto='udp'):
        self.local_ip = local_ip
        self.server = (server_ip, 5060)
        self.user = user
        self.password = password
        self.proto = proto
        family = socket.AF_INET6 if ':' in local_ip else socket.AF_INET
        kind = socket.SOCK_DGRAM if proto == 'udp' else socket.SOCK_STREAM
        self.sock = socket_in_netns(NS_UA, family, kind)
        self.sock.settimeout(2.0)
        self.sock.bind((local_ip, 0))
        self.port = self.sock.getsockname()[1]
        if proto == 'tcp':
            self.sock.connect(self.server)
            self.buf = b''
        self.callid = '%016x@%s' % (random.getrandbits(64), host(local_ip))
        self.tag = '%08x' % random.getrandbits(32)
        self.cseq = 0
        self.challenge = None
        self.nc = 0
        self.cnonce = '%016x' % random.getrandbits(64)
        self.uri = 'sip:' + DOMAIN
        self.contact = 'sip:%s@%s:%d' % (user, host(local_ip), self.port)
        if proto == 'tcp':
            self.contact += ';transport=tcp'

    def close(self):
        self.sock.close()

    def _request(self, expires, contact_expires, authorization):
        self.cseq += 1
        branch = 'z9hG4bK%016x' % random.getrandbits(64)
        contact = '<%s>' % self.contact
        if contact_expires is not None:
            contact += ';expires=%d' % contact_expires
        lines = [
            'REGISTER %s SIP/2.0' % self.uri,
            'Via: SIP/2.0/%s %s:%d;branch=%s;rport'
            % (self.proto.upper(), host(self.local_ip), self.port, branch),
            'Max-Forwards: 70',
            'From: <sip:%s@%s>;tag=%s' % (self.user, DOMAIN, self.tag),
            'To: <sip:%s@%s>' % (self.user, DOMAIN),
            'Call-ID: %s' % self.callid,
            'CSeq: %d REGISTER' % self.cseq,
            'Contact: %s' % contact,
        ]
        if expires is not None:
            lines.append('Expires: %d' % expires)
        if authorization:
            lines.append('Authorization: %s' % authorization)
        lines += ['User-Agent: check_kamailio', 'Content-Length: 0', '', '']
        return '\r\n'.join(lines).encode()

    def _recv_tcp(self):
        while True:
            end = self.buf.find(b'\r\n\r\n')
            if end >= 0:
                head = self.buf[:end].decode()
                m = re.search(r'(?im)^(?:content-length|l)\s*:\s*(\d+)', head)
                total = end + 4 + (int(m.group(1)) if m else 0)
                if len(self.buf) >= total:
                    msg, self.buf = self.buf[:total], self.buf[total:]
                    return msg.decode()
            chunk = self.sock.recv(65535)
            if not chunk:
                raise AssertionError('registrar closed the TCP connection')
            self.buf += chunk

    def _transaction(self, data):
        """Send one request, return its final response (UDP: Timer A
        style retransmission, which a veth never needs in practice)."""
        want = self.cseq
        for attempt in range(4):
            if self.proto == 'udp':
                self.sock.sendto(data, self.server)
            elif attempt == 0:
                self.sock.sendall(data)
            deadline = time.monotonic() + 0.5 * 2 ** attempt
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    if self.proto == 'udp':
                        text = self.sock.recv(65535).decode()
                    else:
                        text = self._recv_tcp()
                except socket.timeout:
                    break
                r = Response(text)
                if r.code >= 200 and r.cseq() == want:
                    return r
        raise AssertionError('no final response to CSeq %d' % want)

    def send(self, expires=3600, contact_expires=None, authorization=None):
        return self._transaction(self._request(expires, contact_expires,
                                               authorization))

    def authorization(self, password=None):
        self.nc += 1
        return digest_authorization(self.challenge, self.user,
                                    password or self.password, 'REGISTER',
                                    self.uri, self.nc, self.cnonce)

    def register(self, expires=3600, contact_expires=None, password=None,
                 preauth=False):
        """REGISTER; on 401, answer the challenge once.  With preauth, use
        the cached challenge (next nc) right away.  Returns (first, final)
        responses."""
        auth = self.authorization(password) if preauth else None
        first = self.send(expires, contact_expires, auth)
        if first.code != 401:
            return first, first
        self.challenge = parse_challenge(first.header('www-authenticate'))
        self.nc = 0
        final = self.send(expires, contact_expires,
                          self.authorization(password))
        return first, final


# ---- the checks -----------------------------------------------------------

class Checks:
    def __init__(self, workdir):
        self.workdir = workdir
        self.passed = 0
        self.failed = 0
        self.reg = None

    def check(self, name, fn):
        try:
            fn()
        except Interrupted:
            raise
        except Exception:
            self.failed += 1
            print('FAIL - %s' % name)
            traceback.print_exc(file=sys.stdout)
            if self.reg is not None:
                print('--- registrar log tail ---\n' + self.reg.log_tail(15))
        else:
            self.passed += 1
            print('ok   - %s' % name)
        sys.stdout.flush()

    def wait_replies(self, callid, cseq, codes):
        """Wait for the registrar's log to show the reply codes for one
        REGISTER (the reply line is written right after sending)."""
        def seen():
            for r in self.reg.registers():
                if r['callid'] == callid and r['cseq'] == str(cseq) \
                        and r['replies'] == codes:
                    return r
            return None
        return self.reg.wait_until(seen, timeout=3)

    # -- registrar 1: MD5, min_expires 60 with 423, a denied subnet --

    def start_first(self):
        self.reg = Registrar(NS_REG, [REG4, REG6],
                             os.path.join(self.workdir, 'reg1'),
                             users=USERS, domain=DOMAIN, min_expires=60,
                             deny_subnets=[DENIED_NET])
        self.reg.start()
        assert self.reg.running()
        assert self.reg.bindings('alice') == []
        assert self.reg.dump() == {}
        assert self.reg.register_count() == 0

    def register_and_deregister(self):
        reg = self.reg
        ua = UA(UA4, REG4, 'alice', USERS['alice'])
        try:
            count0 = reg.register_count()
            first, final = ua.register(expires=120)
            assert first.code == 401, first
            ch = ua.challenge
            assert ch['realm'] == DOMAIN and ch['qop'] == 'auth', ch
            assert 'algorithm' not in ch and 'stale' not in ch, ch
            assert final.code == 200, (final, reg.log_tail(5))
            assert final.contacts()[ua.contact]['expires'] == '120', \
                final.contacts()
            assert reg.register_count() == count0 + 2

            b = reg.bindings('alice')
            assert len(b) == 1, b
            b = b[0]
            assert b['contact'] == ua.contact, b
            assert 110 < b['expires'] <= 120, b
            assert b['callid'] == ua.callid and b['cseq'] == 2, b
            assert b['received'] == 'sip:%s:%d;transport=udp' % (UA4, ua.port), b
            assert b['user_agent'] == 'check_kamailio', b
            assert b['socket'] == 'udp:%s:5060' % REG4, b
            assert [x['contact'] for x in reg.bindings('alice@' + DOMAIN)] \
                == [ua.contact]
            dump = reg.dump()
            assert list(dump) == ['alice@' + DOMAIN], dump
            assert dump['alice@' + DOMAIN][0]['contact'] == ua.contact
            assert reg.bindings('bob') == []

            self.wait_replies(ua.callid, 1, [401])
            logged = self.wait_replies(ua.callid, 2, [200])
            assert logged['src'] == UA4 and logged['port'] == str(ua.port)
            assert logged['proto'] == 'udp' and logged['expires'] == '120'
            assert ua.contact in logged['contact'], logged

            # de-REGISTER: same Call-ID, next CSeq, pre-authorized with the
            # cached nonce and nc 2 (no new challenge needed).
            count1 = reg.register_count()
            first, final = ua.register(expires=0, preauth=True)
            assert first is final and final.code == 200, final
            assert final.cseq() == 3
            assert reg.register_count() == count1 + 1
            assert reg.bindings('alice') == []
            assert reg.dump() == {}
        finally:
            ua.close()

    def wrong_password(self):
        ua = UA(UA4, REG4, 'alice', USERS['alice'])
        try:
            first, final = ua.register(password='not-the-password')
            assert first.code == 401 and final.code == 401, (first, final)
            assert 'stale' not in parse_challenge(
                final.header('www-authenticate'))
            assert self.reg.bindings('alice') == []
            assert any(e['kind'] == 'ALR-AUTH' and e['callid'] == ua.callid
                       and e['result'] == '-2' for e in self.reg.log_events())
        finally:
            ua.close()
        ua = UA(UA4, REG4, 'mallory', 'whatever')
        try:
            first, final = ua.register()
            assert first.code == 401 and final.code == 401, (first, final)
        finally:
            ua.close()

    def min_expires(self):
        ua = UA(UA4, REG4, 'alice', USERS['alice'])
        try:
            first, final = ua.register(expires=30)
            assert first.code == 401 and final.code == 423, (first, final)
            assert final.header('min-expires') == '60', final.text
            assert self.reg.bindings('alice') == []
            # a contact parameter is held to the same minimum
            first, final = ua.register(expires=None, contact_expires=10,
                                       preauth=True)
            assert final.code == 423 and final.header('min-expires') == '60'
            first, final = ua.register(expires=60, preauth=True)
            assert final.code == 200, final
            b = self.reg.bindings('alice')
            assert len(b) == 1 and 50 < b[0]['expires'] <= 60, b
            first, final = ua.register(expires=0, preauth=True)
            assert final.code == 200 and self.reg.bindings('alice') == []
        finally:
            ua.close()

    def denied_subnet(self):
        # from an address in the denied subnet to the registrar's usual one
        ua = UA(UA4_DENIED, REG4, 'alice', USERS['alice'])
        try:
            count0 = self.reg.register_count()
            first, final = ua.register()
            assert first.code == 403 and final is first, first
            assert first.header('www-authenticate') is None
            assert self.reg.register_count() == count0 + 1
            assert self.reg.bindings('alice') == []
            self.wait_replies(ua.callid, 1, [403])
        finally:
            ua.close()

    def tcp_and_ipv6(self):
        for local, server, proto, sock in (
                (UA4, REG4, 'tcp', 'tcp:%s:5060' % REG4),
                (UA6, REG6, 'udp', 'udp:[%s]:5060' % REG6)):
            ua = UA(local, server, 'bob', USERS['bob'], proto=proto)
            try:
                first, final = ua.register(expires=300)
                assert (first.code, final.code) == (401, 200), (first, final)
                b = self.reg.bindings('bob')
                assert [x['contact'] for x in b] == [ua.contact], b
                assert b[0]['socket'] == sock, b
                assert b[0]['received'] == 'sip:%s:%d;transport=%s' % (
                    host(local), ua.port, proto), b
                first, final = ua.register(expires=0, preauth=True)
                assert final.code == 200 and self.reg.bindings('bob') == []
            finally:
                ua.close()

    def counts_agree(self):
        reg = self.reg
        logged = reg.wait_until(
            lambda: (lambda n: n if n == reg.register_count() else None)(
                sum(1 for e in reg.log_events() if e['kind'] == 'ALR-REG-IN')),
            timeout=3)
        regs = reg.registers()
        assert len(regs) == logged
        # every REGISTER got exactly one reply
        reg.wait_until(lambda: all(len(r['replies']) == 1
                                   for r in reg.registers()), timeout=3)

    def stop_first(self):
        reg = self.reg
        count = reg.register_count()
        pgid = reg.proc.pid
        workers = reg._group_pids(pgid)
        assert len(workers) > 3, workers      # main + children
        reg.stop()
        assert not reg.running()
        assert reg._group_pids(pgid) == []
        for pid in workers:
            assert not os.path.exists('/proc/%d' % pid) or \
                open('/proc/%d/stat' % pid).read().split(') ')[1][0] == 'Z'
        assert not any(reg.cfg_path in _cmdline(p) for p in _all_pids())
        assert reg.register_count() == count       # from the log now
        reg.stop()                                  # twice is harmless

    # -- registrar 2: SHA-256, min_expires silently raised, short nonces --

    def start_second(self):
        self.reg = Registrar(NS_REG, [REG4], os.path.join(self.workdir, 'reg2'),
                             users=USERS, domain=DOMAIN, min_expires=60,
                             min_expires_raise=True, algorithm='SHA-256',
                             nonce_expire=1)
        self.reg.start()

    def sha256_and_raise(self):
        ua = UA(UA4, REG4, 'alice', USERS['alice'])
        try:
            first, final = ua.register(expires=30)
            assert ua.challenge.get('algorithm') == 'SHA-256', ua.challenge
            assert final.code == 200, final
            assert final.contacts()[ua.contact]['expires'] == '60', final.text
            b = self.reg.bindings('alice')
            assert len(b) == 1 and 50 < b[0]['expires'] <= 60, b
            first, final = ua.register(expires=0, preauth=True)
            assert final.code == 200 and self.reg.bindings('alice') == []
        finally:
            ua.close()

    def stale_nonce(self):
        """nonce_expire 1: reusing the nonce soon gets 401 stale=true."""
        ua = UA(UA4, REG4, 'alice', USERS['alice'])
        try:
            first, final = ua.register(expires=60)
            assert final.code == 200, final

            def stale():
                r = ua.send(60, None, ua.authorization())
                if r.code == 401:
                    return r
                assert r.code == 200, r
                return None
            r = self.reg.wait_until(stale, timeout=10, interval=0.25)
            ch = parse_challenge(r.header('www-authenticate'))
            assert ch.get('stale', '').lower() == 'true', ch
            assert ch['nonce'] != ua.challenge['nonce']
            assert any(e['kind'] == 'ALR-AUTH' and e['result'] == '-4'
                       for e in self.reg.log_events())
            ua.challenge, ua.nc = ch, 0
            r = ua.send(0, None, ua.authorization())
            assert r.code == 200 and self.reg.bindings('alice') == [], r
        finally:
            ua.close()

    def stop_second(self):
        pgid = self.reg.proc.pid
        self.reg.stop()
        assert self.reg._group_pids(pgid) == []

    def bad_config_is_reported(self):
        """A start that fails shows the log and leaves nothing behind."""
        reg = Registrar(NS_REG, ['10.201.9.9'],     # address not configured
                        os.path.join(self.workdir, 'reg3'))
        try:
            reg.start(timeout=10)
        except Exception as e:
            assert 'exited' in str(e) or 'not ready' in str(e), e
        else:
            raise AssertionError('kamailio started on a missing address')
        finally:
            reg.stop()
        assert not reg.running()
        assert not any(reg.cfg_path in _cmdline(p) for p in _all_pids())


def _all_pids():
    return [int(p) for p in os.listdir('/proc') if p.isdigit()]


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().replace(b'\0', b' ').decode(errors='replace')
    except OSError:
        return ''


def main():
    keep = '-k' in sys.argv[1:]
    if os.geteuid() != 0:
        print('skip: needs root (network namespaces)')
        return 77
    for tool in ('ip', 'kamailio', 'kamcmd'):
        if not shutil.which(tool, path=os.environ.get('PATH', '') +
                            ':/usr/sbin:/sbin'):
            print('skip: %s not installed' % tool)
            return 77
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)

    workdir = tempfile.mkdtemp(prefix='kamck%d.' % PID)
    checks = Checks(workdir)
    interrupted = False
    try:
        checks.check('network namespaces and veth pair', setup_network)
        steps = [] if checks.failed else [
            ('registrar starts and answers kamcmd', checks.start_first),
            ('REGISTER 401 -> 200, binding, pre-authorized de-REGISTER',
             checks.register_and_deregister),
            ('wrong password and unknown user get 401 again',
             checks.wrong_password),
            ('min_expires: 423 with Min-Expires', checks.min_expires),
            ('deny_subnets: 403 without challenge', checks.denied_subnet),
            ('TCP and IPv6 bindings', checks.tcp_and_ipv6),
            ('register_count agrees with the log', checks.counts_agree),
            ('stop leaves no kamailio process', checks.stop_first),
            ('second registrar: SHA-256, min_expires raised',
             checks.start_second),
            ('SHA-256 digest and silent raise to min_expires',
             checks.sha256_and_raise),
            ('expired nonce gets stale=true', checks.stale_nonce),
            ('second registrar stops', checks.stop_second),
            ('failed start is reported and cleaned up',
             checks.bad_config_is_reported),
        ]
        for name, fn in steps:
            checks.check(name, fn)
    except Interrupted as e:
        interrupted = True
        print('interrupted: %s' % e)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if checks.reg is not None:
            checks.reg.stop()
        teardown_network()
        if keep or checks.failed:
            print('work directory kept: %s' % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print('%d passed, %d failed' % (checks.passed, checks.failed))
    return 1 if checks.failed or interrupted else 0


if __name__ == '__main__':
    sys.exit(main())
