#!/usr/bin/python3
"""The SIP edge (docs/edge.md): alrd's listener for local applications
and local registrations, against a real softphone (baresip) and a real
registrar (Kamailio), in network namespaces.

The world is test_profiles.py's: the device namespace holds alrd, the
softphone and the small SIP sender (peers/sipsend.py); Kamailio runs in
the network namespace on 10.99.100.1.  The registrar's own bindings
(kamcmd ul.lookup) say what is registered there; the answers a sender
gets say what the edge did.

Needs root and Kamailio; exits 77 (skipped) without them.

Usage: test_edge.py [-b BUILD_DIR] [NAME_SUBSTRING ...]
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, 'peers'))

import alrtest  # noqa: E402
from alrtest import T, TestFailure, check, check_eq  # noqa: E402
from test_profiles import (REG_ADDR, WLAN, _Cleanup, daemon, deregistered, host_of,  # noqa: E402
                           profile, registered, sip_world, wait_bindings)
from callpeers import Baresip  # noqa: E402

SIPSEND = os.path.join(HERE, 'peers', 'sipsend.py')
EDGE4 = ['127.0.0.1', 5062]
EDGE6 = ['::1', 5062]
AOR = 'sip:alice@example.test'


def sipsend(w, messages, proto='udp', dest=EDGE4, as_nobody=False, expect=None,
            timeout=5):
    """Send messages to the edge from one socket in the device namespace;
    the answers (sipsend.py)."""
    argv = ['/usr/bin/python3', SIPSEND]
    if as_nobody:
        argv = alrtest.as_nobody_argv(argv)
    req = {'proto': proto, 'dest': dest, 'messages': messages,
           'timeout': timeout, 'expect': expect}
    r = alrtest.run(w.exec_argv(argv), input=json.dumps(req))
    return json.loads(r.stdout)


def header(resp, name):
    return [v for n, v in resp['headers'] if n.lower() == name.lower()]


def register(aor=AOR, call_id=None, cseq=1, contacts=None, expires=None,
             proto='UDP', host='127.0.0.1', ua='alrtest-sipsend', authorization=None):
    """A REGISTER as a softphone with the edge as outbound proxy sends it
    (Request-URI: the registrar's domain).  contacts: ['<uri>;params'] or
    ['*']; by default one contact at the sender's own port."""
    if contacts is None:
        contacts = ['<sip:alice@%s:@LOCAL_PORT@%s>' % (
            host if ':' not in host else '[%s]' % host,
            ';transport=tcp' if proto == 'TCP' else '')]
    lines = [
        'REGISTER sip:example.test SIP/2.0',
        'Via: SIP/2.0/%s %s:@LOCAL_PORT@;branch=z9hG4bK%s;rport'
        % (proto, host if ':' not in host else '[%s]' % host, uuid.uuid4().hex),
        'Max-Forwards: 70',
        'From: <%s>;tag=%s' % (aor, uuid.uuid4().hex[:8]),
        'To: <%s>' % aor,
        'Call-ID: %s' % (call_id or uuid.uuid4().hex),
        'CSeq: %d REGISTER' % cseq,
    ]
    lines += ['Contact: %s' % c for c in contacts]
    if expires is not None:
        lines.append('Expires: %d' % expires)
    if ua:
        lines.append('User-Agent: %s' % ua)
    if authorization:
        lines.append('Authorization: %s' % authorization)
    lines.append('Content-Length: 0')
    return '\r\n'.join(lines) + '\r\n\r\n'


def digest_answer(challenge, user, password, method='REGISTER', uri='sip:example.test',
                  nc=1):
    """The Authorization value a softphone answers a Digest challenge with
    (RFC 7616 §3.4.1, qop=auth), computed here with hashlib."""
    d = {k: a or b for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', challenge)}
    alg = d.get('algorithm', 'MD5')
    h = {'MD5': hashlib.md5, 'SHA-256': hashlib.sha256}[alg]

    def hx(s):
        return h(s.encode()).hexdigest()
    cnonce, ncs = uuid.uuid4().hex[:16], '%08x' % nc
    response = hx('%s:%s:%s:%s:auth:%s' % (
        hx('%s:%s:%s' % (user, d['realm'], password)), d['nonce'], ncs, cnonce,
        hx('%s:%s' % (method, uri))))
    return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
            'algorithm=%s, cnonce="%s", qop=auth, nc=%s'
            % (user, d['realm'], d['nonce'], uri, response, alg, cnonce, ncs))


def options(proto='UDP', host='127.0.0.1'):
    return '\r\n'.join([
        'OPTIONS sip:127.0.0.1:5062 SIP/2.0',
        'Via: SIP/2.0/%s %s:@LOCAL_PORT@;branch=z9hG4bK%s;rport'
        % (proto, host if ':' not in host else '[%s]' % host, uuid.uuid4().hex),
        'Max-Forwards: 70',
        'From: <sip:probe@localhost>;tag=1',
        'To: <sip:127.0.0.1:5062>',
        'Call-ID: %s' % uuid.uuid4().hex,
        'CSeq: 1 OPTIONS',
        'Content-Length: 0', '', ''])


def local_regs(c, pid):
    return c.call('profile.get', {'id': pid})['profile']['state']['local_registrations']


def edge_daemon(fx, w, **config):
    return daemon(fx, w, **config)


def new_profile(c, user='alice', **kw):
    return c.call('profile.create', {'profile': profile(user, **kw)})['profile']['id']


def local_event(c, method, pid, timeout=None):
    return c.wait_event(lambda e: e['method'] == method and e['params']['id'] == pid,
                        timeout or T(20), '%s(%d)' % (method, pid))


# ---------------------------------------------------------------------------


def test_listens_on_loopback_udp_and_tcp(fx):
    w = fx.world()
    d = fx.daemon(w)
    c = fx.client(d)
    edge = c.info()['edge']
    check_eq(edge['listen'], ['udp:127.0.0.1:5062', 'tcp:127.0.0.1:5062',
                              'udp:[::1]:5062', 'tcp:[::1]:5062'], 'daemon.info edge.listen')
    # The sockets answer, each of them (the kernel's view, not the claim).
    for proto in ('udp', 'tcp'):
        for dest, host in ((EDGE4, '127.0.0.1'), (EDGE6, '::1')):
            r = sipsend(w, [options(proto.upper(), host)], proto=proto, dest=dest)[0]
            check(r and r['status'] == 200, 'OPTIONS over %s to %s: %r', proto, dest, r)
    # Nothing but loopback: the edge is not reachable from the links.
    out = alrtest.run(w.exec_argv(['ss', '-Hlnuta', 'sport', '=', ':5062'])).stdout
    for line in out.splitlines():
        local = line.split()[4]
        check(local.startswith('127.0.0.1:') or local.startswith('[::1]:'),
              'edge socket not on loopback: %s', line)
    r = alrtest.run([alrtest.alrctl_path(), '-s', d.socket_path, 'status'])
    check('udp:127.0.0.1:5062' in r.stdout and 'tcp:[::1]:5062' in r.stdout,
          'alrctl status shows the edge:\n%s', r.stdout)


def test_edge_off_and_refusals(fx):
    w = fx.world()
    d = fx.daemon(w, {'edge': {'enable': 'no'}})
    c = fx.client(d)
    check_eq(c.info()['edge'], {'enabled': False, 'listen': [], 'local_registrations': 0,
                                'requests': 0, 'dropped': 0, 'connections': 0,
                                'transactions': 0, 'user_lookups': 0},
             'edge off')
    check_eq(sipsend(w, [options()], timeout=1), [None], 'no answer with the edge off')
    d.stop()
    # A non-loopback address needs allow-non-loopback.
    d.config['edge'] = {'listen': '10.99.1.2:5062'}
    d.write_config()
    r = alrtest.run([alrtest.alrd_path(), '--check-config', '-c', d.conf_path], check=False)
    check(r.returncode != 0 and 'not a loopback address' in r.stderr + r.stdout,
          'non-loopback refused: %s', r.stderr + r.stdout)
    # A port someone else holds: alrd refuses to start, naming it.
    d.config['edge'] = {'listen': '127.0.0.1:5099'}
    d.write_config()
    holder = fx.popen(w.exec_argv(['/usr/bin/python3', '-c',
                                   'import socket,sys,time\n'
                                   's=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n'
                                   's.bind(("127.0.0.1",5099)); print("ok", flush=True)\n'
                                   'sys.stdin.read()']),
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    check_eq(holder.stdout.readline().strip(), b'ok', 'port holder ready')
    p = subprocess.run(d.argv(), capture_output=True, text=True, timeout=T(60))
    holder.stdin.close()
    check(p.returncode != 0, 'alrd started although udp:127.0.0.1:5099 is taken')
    check('cannot listen on udp:127.0.0.1:5099' in p.stderr, 'error names the address: %s',
          p.stderr[-1500:])


def test_baresip_registers_through_the_edge(fx):
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    pid = new_profile(c)
    check_eq(reg.bindings('alice'), [], 'bindings before any use')
    phone = Baresip(fx, w, regint=600)
    ev = local_event(c, 'profile.local-registered', pid)
    check(ev['params']['registration']['contact'].startswith('sip:alice'),
          'contact of the local registration: %r', ev['params'])
    registered(c, pid)
    b = wait_bindings(reg, 'alice', 1, host=WLAN)
    check('127.0.0.1' not in b[0]['contact'] and '::1' not in b[0]['contact'],
          'registrar holds a loopback contact: %r', b)
    alrtest.wait_until(lambda: '200 OK' in phone.output(), T(10), "baresip's 200 OK")
    regs = local_regs(c, pid)
    check_eq(len(regs), 1, 'local registrations')
    check('baresip' in (regs[0]['user_agent'] or ''), 'user agent: %r', regs[0])
    check_eq(regs[0]['uid'], 0, 'uid of the registration (root ran baresip)')
    check('127.0.0.1:5070' in regs[0]['contact'], 'contact: %r', regs[0])
    check(500 <= regs[0]['expires'] <= 600, 'expires granted: %r', regs[0])
    st = c.call('profile.get', {'id': pid})['profile']['state']
    check_eq(st['registration'], 'registered', 'profile registered while used')

    # baresip quits: its REGISTER expires=0 ends the use, alrd deregisters.
    phone.stop()
    ev = local_event(c, 'profile.local-unregistered', pid)
    check_eq(ev['params']['reason'], 'unregistered', 'reason')
    deregistered(c, pid)
    wait_bindings(reg, 'alice', 0)
    check_eq(local_regs(c, pid), [], 'local registrations after baresip quit')


def test_who_may_register(fx):
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    pid = new_profile(c)
    # An AOR no profile has: 404, whatever the Request-URI.
    r = sipsend(w, [register(aor='sip:nobody-here@example.test', expires=600)])[0]
    check_eq(r['status'], 404, 'unknown AOR')
    check('sip:nobody-here@example.test' in r['reason'], '404 reason: %r', r['reason'])
    # uid nobody: not root, not in a control group, not in local_users.
    r = sipsend(w, [register(expires=600)], as_nobody=True)[0]
    check_eq(r['status'], 403, 'REGISTER from nobody')
    check('nobody' in r['reason'] and 'local_users' in r['reason'] and
          'alice@example.test' in r['reason'], '403 reason: %r', r['reason'])
    check_eq(local_regs(c, pid), [], 'nothing registered by the refusals')
    check_eq(reg.bindings('alice'), [], 'registrar untouched by the refusals')
    # Named in local_users: taken.
    c.call('profile.update', {'id': pid, 'profile': {'local_users': ['nobody']}})
    check_eq(c.call('profile.get', {'id': pid})['profile']['local_users'], ['nobody'],
             'local_users stored')
    r = sipsend(w, [register(expires=600)], as_nobody=True)[0]
    check_eq(r['status'], 200, 'REGISTER from nobody, now a local user')
    regs = local_regs(c, pid)
    check_eq([x['uid'] for x in regs], [65534], 'uid recorded')
    # A bad user name is refused with the field named.
    e = c.expect_error(-32602, 'profile.update',
                       {'id': pid, 'profile': {'local_users': ['-rf']}})
    check_eq(e['data']['field'], 'local_users[0]', 'field of the refusal')


def test_nss_lookup_off_the_loop(fx):
    """Who a sender is comes from NSS (getpwuid_r, getgrouplist), which a
    directory service can keep waiting for seconds: the lookup runs off
    alrd's loop.  alrd sees an nsswitch.conf of its own (a mount
    namespace) whose first passwd source, nss/nss_alrtgate.c, holds the
    lookup of uid nobody until the test lets it go.  Meanwhile the
    control socket answers and root registers; nobody's REGISTER is
    answered (200: it is in local_users) only once the lookup ends."""
    lib = os.path.join(alrtest.build_dir(), 'tests', 'integration', 'libnss_alrtgate.so.2')
    if not os.path.exists(lib):
        raise TestFailure('no %s (build it, or set ALR_BUILD_DIR)' % lib)
    w, reg = sip_world(fx)
    tmp = tempfile.mkdtemp(prefix='alrt-nss-')
    fx._objs.append(_Cleanup(lambda: shutil.rmtree(tmp, ignore_errors=True)))
    gate = os.path.join(tmp, 'gate')
    os.mkfifo(gate, 0o600)
    nss = os.path.join(tmp, 'nsswitch.conf')
    with open('/etc/nsswitch.conf') as f:
        conf = re.sub(r'(?m)^passwd:.*$', 'passwd: alrtgate files', f.read())
    with open(nss, 'w') as f:
        f.write(conf)
    d = fx.daemon(w, {'daemon': {'plugin-dir': alrtest.plugin_dir()}}, start=False)
    d.wrapper = ['unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c',
                 'mount --bind "$0" /etc/nsswitch.conf && exec "$@"', nss]
    d.env = {'LD_LIBRARY_PATH': os.path.dirname(lib), 'ALRT_NSS_GATE': gate,
             'ALRT_NSS_GATE_UID': '65534'}
    d.start()
    c = fx.client(d)
    pid = new_profile(c, local_users=['nobody'])
    req = {'proto': 'udp', 'dest': EDGE4, 'messages': [register(expires=600)],
           'timeout': T(60), 'expect': None}
    sender = subprocess.Popen(w.exec_argv(alrtest.as_nobody_argv(
        ['/usr/bin/python3', SIPSEND])), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True)
    fx._objs.append(_Cleanup(lambda: sender.poll() is None and sender.kill()))
    sender.stdin.write(json.dumps(req))
    sender.stdin.close()

    def at_gate():
        try:        # succeeds once a reader (alrd's lookup) has it open
            return os.open(gate, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return None
    fd = alrtest.wait_until(at_gate, T(20), "alrd's lookup of uid nobody at the gate")
    try:
        info = c.call('daemon.info', timeout=T(10))
        check_eq(info['edge']['user_lookups'], 1,
                 "daemon.info's uids waiting for NSS, while nobody's waits")
        r = sipsend(w, [register(expires=600)])[0]
        check_eq(r and r['status'], 200, "root's REGISTER while nobody's lookup waits")
        check(sender.poll() is None, "nobody's REGISTER answered before its lookup ended")
    finally:
        os.close(fd)
    out = sender.stdout.read()          # sipsend gives up after T(60) itself
    sender.wait()
    r = json.loads(out)[0]
    check_eq(r and r['status'], 200, "nobody's REGISTER once NSS answered")
    check_eq(c.info()['edge']['user_lookups'], 0, 'uids waiting for NSS once it answered')
    check_eq(sorted(x['uid'] for x in local_regs(c, pid)), [0, 65534],
             'the local registrations of root and nobody')


def test_local_password(fx):
    """A profile's local password (docs/edge.md, issue 13): a sender its
    socket's owner does not allow is challenged instead of refused, and
    registers with the password, so that alrd registers the profile at
    the registrar; a wrong password is refused; without a local password
    the same sender is refused at once.  The password is shown nowhere."""
    secret = 'loc-' + uuid.uuid4().hex[:12]
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w, daemon={'log-level': 'debug'})
    c = fx.client(d)
    c.subscribe(['profile.*'])
    pid = new_profile(c)
    check_eq(c.call('profile.get', {'id': pid})['profile']['local_password_set'], False,
             'no local password at first')
    r = sipsend(w, [register(expires=600)], as_nobody=True)[0]
    check_eq(r['status'], 403, 'nobody, without a local password')
    check_eq(header(r, 'WWW-Authenticate'), [], 'no challenge without a local password')

    c.call('profile.update', {'id': pid, 'profile': {'local_password': secret}})
    got = c.call('profile.get', {'id': pid})['profile']
    check_eq(got['local_password_set'], True, 'local_password_set')
    check('local_password' not in got, 'the password is not shown: %r', got)
    check(secret not in json.dumps(c.call('profile.list')), 'not in profile.list')

    # No credentials: 401 with a Digest challenge per algorithm.
    call_id = uuid.uuid4().hex
    r = sipsend(w, [register(expires=600, call_id=call_id)], as_nobody=True)[0]
    check_eq(r['status'], 401, 'nobody, with a local password set')
    chals = header(r, 'WWW-Authenticate')
    md5 = [x for x in chals if 'algorithm=MD5' in x]
    check(len(md5) == 1 and 'realm="alrd"' in md5[0] and 'qop="auth"' in md5[0] and
          'nonce="' in md5[0], 'the MD5 challenge: %r', chals)
    check(any('algorithm=SHA-256' in x for x in chals), 'a SHA-256 challenge: %r', chals)
    check_eq(local_regs(c, pid), [], 'nothing registered by the challenge')

    # A wrong password: 403, not another challenge.
    r = sipsend(w, [register(expires=600, call_id=call_id, cseq=2,
                             authorization=digest_answer(md5[0], 'alice', 'wrong'))],
                as_nobody=True)[0]
    check_eq(r['status'], 403, 'a wrong local password')
    check('local password' in r['reason'], '403 reason: %r', r['reason'])
    # Another user name with the right password: 403 too.
    r = sipsend(w, [register(expires=600, call_id=call_id, cseq=3,
                             authorization=digest_answer(md5[0], 'bob', secret, nc=2))],
                as_nobody=True)[0]
    check_eq(r['status'], 403, 'the wrong user name')
    check_eq(local_regs(c, pid), [], 'nothing registered by the refusals')

    # The right one: registered locally, and alrd registers at Kamailio.
    r = sipsend(w, [register(expires=600, call_id=call_id, cseq=4,
                             authorization=digest_answer(md5[0], 'alice', secret, nc=3))],
                as_nobody=True)[0]
    check_eq(r['status'], 200, 'the right local password')
    check_eq([x['uid'] for x in local_regs(c, pid)], [65534], 'uid recorded')
    registered(c, pid)
    wait_bindings(reg, 'alice', 1, host=WLAN)
    # The same Authorization again (the nonce count used): stale, so a
    # softphone retries without asking its user.
    r = sipsend(w, [register(expires=600, call_id=call_id, cseq=5,
                             authorization=digest_answer(md5[0], 'alice', secret, nc=3))],
                as_nobody=True)[0]
    check_eq(r['status'], 401, 'a nonce count used before')
    check(any('stale=true' in x for x in header(r, 'WWW-Authenticate')),
          'stale=true: %r', header(r, 'WWW-Authenticate'))

    # Removed: nobody is refused at once again.
    c.call('profile.update', {'id': pid, 'profile': {'local_password': None}})
    check_eq(c.call('profile.get', {'id': pid})['profile']['local_password_set'], False,
             'local password removed')
    r = sipsend(w, [register(expires=600)], as_nobody=True)[0]
    check_eq(r['status'], 403, 'nobody, the local password removed')
    check_eq(header(r, 'WWW-Authenticate'), [], 'no challenge once removed')
    check(secret not in d.log(), 'the local password in the log')
    check(all(secret not in json.dumps(e) for e in c.events), 'the local password in an event')
    check(d.alive(), 'alrd alive')


def test_registration_rules_and_limits(fx):
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w, edge={'max-local-registrations': '2', 'min-expires': '60',
                                 'max-expires': '900'})
    c = fx.client(d)
    c.subscribe(['profile.*'])
    pid = new_profile(c)
    cid = uuid.uuid4().hex
    a = '<sip:alice@127.0.0.1:7001>'
    b = '<sip:alice@127.0.0.1:7002>'
    x = '<sip:alice@127.0.0.1:7003>'
    r = sipsend(w, [
        register(call_id=cid, cseq=1, contacts=[a], expires=10),          # too brief
        register(call_id=cid, cseq=2, contacts=[a + ';expires=7200']),    # capped
        register(call_id=cid, cseq=2, contacts=[a], expires=600),         # CSeq not higher
        register(call_id=cid, cseq=3, contacts=[b], expires=600),
        register(call_id=cid, cseq=4, contacts=[x], expires=600),         # a third: limit
        register(call_id=cid, cseq=5, contacts=[]),                       # a query
    ])
    check_eq(r[0]['status'], 423, 'expires 10')
    check_eq(header(r[0], 'Min-Expires'), ['60'], 'Min-Expires')
    check_eq(r[1]['status'], 200, 'expires=7200')
    check(header(r[1], 'Contact') and 'expires=900' in header(r[1], 'Contact')[0],
          'granted expiry capped at 900: %r', header(r[1], 'Contact'))
    # RFC 3261 §10.3 step 7: the same Call-ID with a CSeq not above the
    # binding's fails (a new contact with it would be taken).
    check_eq(r[2]['status'], 400, 'CSeq not above the stored one')
    check_eq(r[3]['status'], 200, 'second contact')
    check_eq(r[4]['status'], 503, 'third contact beyond max-local-registrations 2')
    check('at most 2' in r[4]['reason'], '503 reason: %r', r[4]['reason'])
    check_eq(len(header(r[5], 'Contact')), 2, 'the query lists both bindings')
    registered(c, pid)
    wait_bindings(reg, 'alice', 1, host=WLAN)
    check_eq([x['contact'] for x in local_regs(c, pid)],
             ['sip:alice@127.0.0.1:7001', 'sip:alice@127.0.0.1:7002'], 'bindings')
    # One removed by expires=0: still in use.
    r = sipsend(w, [register(call_id=cid, cseq=6, contacts=[a], expires=0)])[0]
    check_eq(r['status'], 200, 'removal of one')
    check_eq(len(header(r, 'Contact')), 1, 'one left')
    local_event(c, 'profile.local-unregistered', pid)
    check_eq(c.call('profile.get', {'id': pid})['profile']['state']['registration'],
             'registered', 'still used by the other')
    # Contact: * needs Expires: 0; with it, the last one goes and the use ends.
    r = sipsend(w, [register(call_id=cid, cseq=7, contacts=['*'], expires=60),
                    register(call_id=cid, cseq=8, contacts=['*'], expires=0)])
    check_eq(r[0]['status'], 400, 'Contact: * with Expires 60')
    check_eq(r[1]['status'], 200, 'Contact: * with Expires 0')
    deregistered(c, pid)
    wait_bindings(reg, 'alice', 0)
    check_eq(local_regs(c, pid), [], 'after Contact: *')


def test_answered_transactions_do_not_block_new_ones(fx):
    """A UDP server transaction stays 32 s after its answer (RFC 3261
    §17.2.2, Timer J) to absorb retransmissions.  Those do not count
    against the 256 open at once: 300 requests one after the other are
    all answered (a presence list of 150 buddies is 150 SUBSCRIBEs).
    Answered ones are bounded too: past 2048 in all a request is dropped
    (daemon.info edge.dropped)."""
    w = fx.world()
    d = fx.daemon(w)
    c = fx.client(d)
    got = sipsend(w, [options() for _ in range(300)], timeout=1)
    check_eq(sum(1 for r in got if r and r['status'] == 200), 300,
             'OPTIONS answered of 300 sent one after the other')
    check_eq(c.info()['edge']['transactions'], 300, 'transactions kept after their answer')
    got = sipsend(w, [options() for _ in range(2048 - 300)], timeout=1)
    check_eq(sum(1 for r in got if r and r['status'] == 200), 2048 - 300,
             'OPTIONS answered up to 2048 kept')
    dropped = c.info()['edge']['dropped']
    got = sipsend(w, [options() for _ in range(3)], timeout=0.5)
    check_eq(got, [None] * 3, 'answers past 2048 transactions kept')
    check_eq(c.info()['edge']['dropped'] - dropped, 3, 'requests dropped past 2048')


def test_registration_over_tcp_and_ipv6(fx):
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    pid = new_profile(c)
    r = sipsend(w, [register(proto='TCP', expires=600)], proto='tcp')[0]
    check_eq(r['status'], 200, 'REGISTER over TCP')
    r = sipsend(w, [register(host='::1', expires=600)], dest=EDGE6)[0]
    check_eq(r['status'], 200, 'REGISTER over UDP/IPv6')
    r = sipsend(w, [register(host='::1', expires=600)], as_nobody=True, dest=EDGE6)[0]
    check_eq(r['status'], 403, 'nobody over IPv6')
    check_eq(len(local_regs(c, pid)), 2, 'two local registrations')


def test_local_registrations_survive_a_restart(fx):
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    pid = new_profile(c)
    r = sipsend(w, [register(contacts=['<sip:alice@127.0.0.1:7010>'], expires=600)])[0]
    check_eq(r['status'], 200, 'REGISTER')
    registered(c, pid)
    wait_bindings(reg, 'alice', 1, host=WLAN)
    before = local_regs(c, pid)
    d.kill()
    d.start()
    c = fx.client(d)
    got = alrtest.wait_until(lambda: local_regs(c, pid), T(10),
                             'local registration read back')
    check_eq([(x['contact'], x['uid'], x['user_agent'], x['expires_at']) for x in got],
             [(x['contact'], x['uid'], x['user_agent'], x['expires_at']) for x in before],
             'local registrations after the restart')
    alrtest.wait_until(lambda: c.call('profile.get', {'id': pid})['profile']['state']
                       ['registration'] == 'registered', T(20), 'profile registered again')
    wait_bindings(reg, 'alice', 1, host=WLAN)
    # And the use ends as before: the application's removal.
    c.subscribe(['profile.*'])
    r = sipsend(w, [register(contacts=['*'], expires=0, cseq=2,
                             call_id=None)])[0]
    check_eq(r['status'], 200, 'Contact: * after the restart')
    deregistered(c, pid)
    wait_bindings(reg, 'alice', 0)


def test_garbage_is_dropped(fx):
    w = fx.world()
    d = fx.daemon(w)
    c = fx.client(d)
    junk = ['\x00\x01garbage\r\n\r\n', 'REGISTER\r\n\r\n', 'SIP/2.0 200 OK\r\n\r\n',
            'X' * 60000, 'INVITE sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n']
    sipsend(w, junk, expect=[0] * len(junk))
    # A stream that cannot be framed is closed, not waited on.
    sipsend(w, ['REGISTER sip:x SIP/2.0\r\nContent-Length: -5\r\n\r\n'], proto='tcp',
            expect=[0])
    r = sipsend(w, [options()])[0]
    check(r and r['status'] == 200, 'OPTIONS after the garbage: %r', r)
    info = c.info()['edge']
    check(info['dropped'] >= 3, 'garbage counted as dropped: %r', info)
    check(d.alive(), 'alrd alive after the garbage')
    # An INVITE whose From is no profile's AOR is not sent anywhere: 403.
    inv = options().replace('OPTIONS', 'INVITE')
    r = sipsend(w, [inv])[0]
    check_eq(r['status'], 403, 'INVITE at the edge from no profile')



def test_call_to_the_contact_is_answered_480(fx):
    """A caller's INVITE at the contact alrd registered gets 480 at once
    (issue 13: "never silence"; calls do not reach applications through
    alrd yet), and so does its retransmission; before, alrd dropped it and
    the caller waited 32 s for its own 408."""
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    pid = new_profile(c, auto_register=True)
    registered(c, pid)
    contact = wait_bindings(reg, 'alice', 1, host=WLAN)[0]['contact']
    hostport = contact.split('@', 1)[1].split(';', 1)[0].split('>', 1)[0]
    host, port = hostport.rsplit(':', 1)
    branch = 'z9hG4bK' + uuid.uuid4().hex
    invite = '\r\n'.join([
        'INVITE %s SIP/2.0' % contact.split(';', 1)[0].strip('<>'),
        'Via: SIP/2.0/UDP %s:@LOCAL_PORT@;branch=%s;rport' % (REG_ADDR, branch),
        'Max-Forwards: 70',
        'From: <sip:bob@example.test>;tag=b1',
        'To: <%s>' % AOR,
        'Call-ID: %s' % uuid.uuid4().hex,
        'CSeq: 1 INVITE',
        'Contact: <sip:bob@%s:@LOCAL_PORT@>' % REG_ADDR,
        'Content-Length: 0', '', ''])
    # From the network namespace, from the registrar's address (as a
    # proxy relaying the call would send it).
    req = {'proto': 'udp', 'dest': [host, int(port)], 'bind': [REG_ADDR, 0],
           'messages': [invite, invite], 'timeout': 5, 'expect': None}
    r = alrtest.run(['ip', 'netns', 'exec', w.net, '/usr/bin/python3', SIPSEND],
                    input=json.dumps(req))
    got = json.loads(r.stdout)
    check(all(x and x['status'] == 480 for x in got),
          'answers to the INVITE and its retransmission: %r', got)
    check(d.alive(), 'alrd alive')


if __name__ == '__main__':
    alrtest.main()
