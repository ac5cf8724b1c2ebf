#!/usr/bin/python3
"""Profiles: the registry, the IETF plugin, restart cleanup, backup and
restore, against a real Kamailio registrar in network namespaces.

The world is alrtest's: a device namespace with wlan0 (Wi-Fi, 10.99.1.2)
and wwan0 (cellular, 10.99.2.2), whose far ends are in the network
namespace.  Kamailio (peers/kamailio.py) listens there on 10.99.100.1, an
address on the network namespace's loopback that both links route to, so
the host of a contact in the registrar's bindings says which link the
REGISTER left over.  alrd runs in the device namespace with the build's
plugins (plugin-dir = BUILD/plugins).  Every check reads the registrar's
own view (kamcmd ul.lookup), not only alrd's claims.

Needs root and Kamailio; exits 77 (skipped) without them.

Usage: test_profiles.py [-b BUILD_DIR] [NAME_SUBSTRING ...]
"""

import json
import os
import shutil
import signal
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
# Passwords that must never leave alrd except in an export asked for them.
USERS = {'alice': 'Al1ce-Secret-9f3e7c', 'bob': 'B0b-Secret-41d2aa',
         'carol': 'Car0l-Secret-77be01'}
WLAN = '10.99.1.2'
WWAN = '10.99.2.2'


class _Rm:
    """Removes a test's temporary directory at cleanup (kept with ALR_KEEP)."""

    def __init__(self, path):
        self.path = path

    def cleanup(self):
        if not os.environ.get('ALR_KEEP'):
            shutil.rmtree(self.path, ignore_errors=True)


class _Cleanup:
    def __init__(self, fn):
        self.fn = fn

    def cleanup(self):
        self.fn()


def _sysctl(ns, *settings):
    alrtest.run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw'] + list(settings))


def sip_world(fx, extra_addrs=(), **registrar_kw):
    """A world with the registrar in it: (world, registrar).  Kamailio
    also listens on @extra_addrs (on the network side's lo), e.g. as the
    outbound proxies networks name by DHCP (test_dhcp.py)."""
    if not os.access(KAMAILIO, os.X_OK):
        raise alrtest.Skip('no Kamailio (%s)' % KAMAILIO)
    w = fx.world()
    for a in (REG_ADDR,) + tuple(extra_addrs):
        w.ipn('addr', 'add', a + ('/128' if ':' in a else '/32'), 'dev', 'lo')
    # Answers to a REGISTER sent from wwan0's address come back over
    # wwan0 although the route to the registrar prefers wlan0: loose
    # reverse-path filtering.  No IPv6 on the links.
    _sysctl(w.dev, 'net.ipv4.conf.all.rp_filter=2',
            'net.ipv4.conf.default.rp_filter=2',
            'net.ipv4.conf.wlan0.rp_filter=2',
            'net.ipv4.conf.wwan0.rp_filter=2',
            'net.ipv6.conf.wlan0.disable_ipv6=1',
            'net.ipv6.conf.wwan0.disable_ipv6=1')
    tmp = tempfile.mkdtemp(prefix='alrt-kam-')
    reg = Registrar(w.net, [REG_ADDR] + list(extra_addrs), tmp, users=USERS, domain=DOMAIN,
                    **registrar_kw)

    def stop():
        reg.stop()
        if not os.environ.get('ALR_KEEP'):
            shutil.rmtree(tmp, ignore_errors=True)
    fx._objs.append(_Cleanup(stop))
    reg.start()
    return w, reg


def daemon(fx, world, **config):
    cfg = {'daemon': {'plugin-dir': alrtest.plugin_dir()}}
    for section, items in config.items():
        cfg.setdefault(section, {}).update(items)
    if not os.path.exists(os.path.join(alrtest.plugin_dir(), 'ietf.so')):
        raise TestFailure('no %s/ietf.so (build it, or set ALR_BUILD_DIR)'
                          % alrtest.plugin_dir())
    return fx.daemon(world, cfg)


def profile(user, **kw):
    p = {
        'provider_name': 'Test %s' % user,
        'aor': 'sip:%s@%s' % (user, DOMAIN),
        'registrar': {'uri': REGISTRAR, 'password': USERS[user]},
        'expires': 600,
    }
    p.update(kw)
    return p


def host_of(contact):
    """'sip:u@10.99.1.2:40000;transport=tcp' -> '10.99.1.2'"""
    hp = contact.split('@', 1)[1].split(';', 1)[0].strip('<>')
    return hp.rpartition(':')[0]


def wait_bindings(reg, user, n, timeout=None, host=None):
    """Wait until the registrar holds exactly n bindings for user (all
    from host, when given); return them."""
    def ok():
        b = reg.bindings(user)
        if len(b) != n:
            return None
        if host and any(host_of(x['contact']) != host for x in b):
            return None
        return b or [None]
    try:
        got = Registrar.wait_until(ok, timeout or T(20))
    except TimeoutError:
        raise TestFailure('registrar: expected %d binding(s) of %s%s, has %s'
                          % (n, user, ' from ' + host if host else '',
                             reg.bindings(user)))
    return [] if got == [None] else got


def registered(c, pid, timeout=None):
    return c.wait_event(lambda e: e['method'] == 'profile.registered' and
                        e['params']['id'] == pid, timeout or T(20),
                        'profile.registered(%d)' % pid)


def deregistered(c, pid, reason=None, timeout=None):
    ev = c.wait_event(lambda e: e['method'] == 'profile.deregistered' and
                      e['params']['id'] == pid, timeout or T(20),
                      'profile.deregistered(%d)' % pid)
    if reason:
        check_eq(ev['params']['reason'], reason, 'deregistration reason')
    return ev


def state_once(c, pid, pred, timeout=None):
    """alrd's state of profile pid once pred(state) holds, else its state
    at the deadline (for the caller's check to report).  For what the
    registrar shows before alrd knows it: Kamailio stores a binding before
    its 200 OK leaves, and alrd says registered once it has read it."""
    def get():
        return c.call('profile.get', {'id': pid})['profile']['state']
    try:
        return alrtest.wait_until(lambda: (lambda s: s if pred(s) else None)(get()),
                                  timeout or T(10), 'state of profile %d' % pid)
    except alrtest.TestFailure:
        return get()


def iap_id(c, name):
    return c.iap(name)['id']


# ---------------------------------------------------------------------------


def test_auto_registration_profile_registered_at_start(fx):
    w, reg = sip_world(fx)
    d = daemon(fx, w)
    c = fx.client(d)
    p = c.call('profile.create', {'profile': profile('alice', auto_register=True)})['profile']
    check_eq(p['state']['plugin'], 'ietf', 'plugin of an ietf profile')
    check('password' not in p['registrar'], 'password in profile.create result')
    wait_bindings(reg, 'alice', 1, host=WLAN)

    # Stopping deregisters (reason shutdown, bounded): nothing is left.
    c.subscribe(['profile.*'])
    d.stop()
    check_eq(reg.bindings('alice'), [], 'bindings after alrd stopped')

    # At start the auto-registration profile registers by itself, with
    # its stable contact user part and instance, over Wi-Fi (the default
    # SNAP prefers it to cellular).
    d.start()
    c = fx.client(d)
    b = wait_bindings(reg, 'alice', 1, host=WLAN)[0]
    st = state_once(c, p['id'], lambda s: s['registration'] == 'registered')
    check_eq(st['registration'], 'registered', 'state after start')
    check_eq(b['contact'], st['contact'], "registrar's contact vs alrd's")
    check(b['contact'].startswith('sip:%s@' % p['state']['contact_user']),
          'contact user part %s is not the stable %s', b['contact'],
          p['state']['contact_user'])
    check_eq(b['instance'], '<%s>' % p['state']['instance'], 'instance')
    check_eq(st['iap_id'], iap_id(c, 'wlan0'), 'IAP of the registration')


def test_use_only_profile_follows_its_users(fx):
    w, reg = sip_world(fx)
    d = daemon(fx, w)
    obs = fx.client(d)
    obs.subscribe(['profile.*'])
    pid = obs.call('profile.create', {'profile': profile('bob')})['profile']['id']
    # Nothing happens without a user.  Any change of state would be
    # announced before the answer to a later request on the same
    # connection (alrd emits events as it decides), so the answer is the
    # moment to look: no sleep.
    check_eq(obs.call('profile.get', {'id': pid})['profile']['state']['registration'],
             'unregistered', 'state without users')
    check(not [e for e in obs.events if e['method'] == 'profile.registered'],
          'a use-only profile without users registered: %r' % obs.events)
    check_eq(reg.bindings('bob'), [], 'a use-only profile without users')

    # A client uses it: registered; it disconnects: deregistered.
    user = fx.client(d)
    st = user.call('profile.enable', {'id': pid})['profile']['state']
    check_eq(st['users'], 1, 'users after enable')
    user.call('profile.enable', {'id': pid})        # counts once
    ev = registered(obs, pid)
    b = wait_bindings(reg, 'bob', 1, host=WLAN)
    check_eq(ev['params']['contact'], b[0]['contact'], 'event contact')
    check_eq(obs.call('profile.get', {'id': pid})['profile']['state']['users'], 1,
             'users after enabling twice')
    user.close()
    deregistered(obs, pid, 'disabled')
    wait_bindings(reg, 'bob', 0)
    check_eq(obs.call('profile.get', {'id': pid})['profile']['state']['users'], 0,
             'users after the client left')

    # Two users: the profile stays until the last one disables it.
    u1, u2 = fx.client(d), fx.client(d)
    u1.call('profile.enable', {'id': pid})
    u2.call('profile.enable', {'id': pid})
    registered(obs, pid)
    obs.clear_events()
    u1.call('profile.disable', {'id': pid})
    # One user left: still registered.  A deregistration would have been
    # announced to obs before its answer to this request.
    st = obs.call('profile.get', {'id': pid})['profile']['state']
    check_eq((st['users'], st['registration']), (1, 'registered'),
             'users and state after the first of two users left')
    check(not [e for e in obs.events if e['method'] == 'profile.deregistered'],
          'deregistered while a user was left: %r' % obs.events)
    wait_bindings(reg, 'bob', 1)
    u2.call('profile.disable', {'id': pid})
    deregistered(obs, pid, 'disabled')
    wait_bindings(reg, 'bob', 0)

    # force-disable: deregistered at once, users dropped, stays off.
    u1.call('profile.enable', {'id': pid})
    registered(obs, pid)
    obs.call('profile.force-disable', {'id': pid})
    obs.wait_event(lambda e: e['method'] == 'profile.forcibly-disabled' and
                   e['params']['id'] == pid, T(10), 'profile.forcibly-disabled')
    deregistered(obs, pid, 'forced')
    wait_bindings(reg, 'bob', 0)
    st = obs.call('profile.get', {'id': pid})['profile']['state']
    check_eq((st['users'], st['suspended']), (0, True), 'after force-disable')

    # Changing it needs control permission.
    r = alrtest.calls_as(alrtest.NOBODY, alrtest.NOBODY, d.socket_path, [
        {'jsonrpc': '2.0', 'id': 1, 'method': 'profile.enable', 'params': {'id': pid}},
        {'jsonrpc': '2.0', 'id': 2, 'method': 'profile.get', 'params': {'id': pid}}])
    check_eq(r[0].get('error', {}).get('code'), -32001, 'enable as nobody')
    check('result' in r[1], 'profile.get as nobody: %r' % r[1])


def test_major_update_moves_the_binding(fx):
    w, reg = sip_world(fx)
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    wlan, wwan = iap_id(c, 'wlan0'), iap_id(c, 'wwan0')
    pid = c.call('profile.create', {'profile': profile(
        'carol', auto_register=True, iap_id=wlan)})['profile']['id']
    registered(c, pid)
    first = wait_bindings(reg, 'carol', 1, host=WLAN)[0]

    # Minor: a re-REGISTER of the same binding (same Call-ID, higher CSeq).
    c.call('profile.update', {'id': pid, 'profile': {'expires': 300,
                                                      'provider_name': 'Carol 2'}})
    def refreshed():
        got = reg.bindings('carol')
        return bool(got) and got[0]['cseq'] > first['cseq']
    Registrar.wait_until(refreshed, T(10))
    b = wait_bindings(reg, 'carol', 1, host=WLAN)[0]
    check_eq(b['callid'], first['callid'], 'Call-ID after a minor update')
    check(b['expires'] <= 300, 'expiry after the minor update: %s', b['expires'])

    # Major (the fixed IAP): deregistered, registered over wwan0; the
    # registrar ends with exactly one binding, from wwan0's address.
    c.clear_events()
    c.call('profile.update', {'id': pid, 'profile': {'iap_id': wwan}})
    deregistered(c, pid, 'update')
    ev = registered(c, pid)
    check_eq(ev['params']['iap_id'], wwan, 'IAP after the major update')
    check_eq(host_of(ev['params']['contact']), WWAN, 'contact host after the update')
    wait_bindings(reg, 'carol', 1, host=WWAN)
    # and nothing after it: no second round of the update
    check_eq(c.call('profile.get', {'id': pid})['profile']['state']['registration'],
             'registered', 'state after the update')
    check(not [e for e in c.events if e['method'] in
               ('profile.deregistered', 'profile.registered')],
          'more after the update: %r' % c.events)


def test_failover_when_the_iap_goes(fx):
    w, reg = sip_world(fx)
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    pid = c.call('profile.create', {'profile': profile('alice', auto_register=True)})[
        'profile']['id']
    registered(c, pid)
    wait_bindings(reg, 'alice', 1, host=WLAN)
    w.carrier_down('wlan0')
    deregistered(c, pid, 'network-lost')
    ev = registered(c, pid)
    check_eq(host_of(ev['params']['contact']), WWAN, 'contact host after failover')
    wait_bindings(reg, 'alice', 1, host=WWAN)


def test_kill9_restart_leaves_one_binding_per_profile(fx):
    w, reg = sip_world(fx)
    d = daemon(fx, w)
    c = fx.client(d)
    a = c.call('profile.create', {'profile': profile('alice', auto_register=True)})[
        'profile']['id']
    b = c.call('profile.create', {'profile': profile('bob', auto_register=True)})[
        'profile']['id']
    wait_bindings(reg, 'alice', 1)
    wait_bindings(reg, 'bob', 1)
    call_ids = {u: reg.bindings(u)[0]['callid'] for u in ('alice', 'bob')}
    last_cseq = {u: reg.bindings(u)[0]['cseq'] for u in ('alice', 'bob')}
    for i in range(10):
        before = {u: reg.bindings(u)[0]['contact'] for u in ('alice', 'bob')}
        d.kill()
        d.start()
        c = fx.client(d)
        for u, pid in (('alice', a), ('bob', b)):
            if i == 0:
                # The registrar's log: the contact left by the crash is
                # removed (expires=0) before the new one is registered.
                def order():
                    regs = [r for r in reg.registers()
                            if r.get('callid') == call_ids[u] and
                            int(r.get('cseq') or 0) > last_cseq[u] and
                            200 in r['replies']]
                    kinds = ['remove' if before[u] in (r.get('contact') or '') and
                             'expires=0' in (r.get('contact') or '') else 'register'
                             for r in regs]
                    return kinds if 'register' in kinds else None
                kinds = Registrar.wait_until(order, T(20))
                check_eq(kinds[0], 'remove', 'first REGISTER of %s after the crash '
                         '(%s)' % (u, kinds))
            # Registered again by the new alrd (a higher CSeq on the same
            # Call-ID), and exactly one binding at the registrar.
            # One query per try: the binding may vanish between two
            # (the crash's contact is removed before the new REGISTER).
            def registered_again():
                got = reg.bindings(u)
                return bool(got) and got[0]['cseq'] > last_cseq[u]
            Registrar.wait_until(registered_again, T(20))
            got = wait_bindings(reg, u, 1)
            check_eq(got[0]['callid'], call_ids[u], 'Call-ID of %s after restart %d'
                     % (u, i + 1))
            last_cseq[u] = got[0]['cseq']
            mine = state_once(c, pid, lambda s: s['contact'])['contact']
            check_eq(mine, got[0]['contact'], "alrd's contact of %s" % u)
        c.close()

    # A use-only profile in use when alrd crashes is not wanted after the
    # restart: the contact it left is removed (expires=0).
    c = fx.client(d)
    carol = c.call('profile.create', {'profile': profile('carol')})['profile']['id']
    c.call('profile.enable', {'id': carol})
    wait_bindings(reg, 'carol', 1)
    d.kill()
    d.start()
    wait_bindings(reg, 'carol', 0)
    wait_bindings(reg, 'alice', 1)
    wait_bindings(reg, 'bob', 1)
    check('removing contact' in d.log_since_start(),
          'no removal of the contact left by the crash in the log')
test_kill9_restart_leaves_one_binding_per_profile.timeout = 600


def test_backup_delete_restore(fx):
    w, reg = sip_world(fx)
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    ids = [c.call('profile.create', {'profile': profile(u, auto_register=True)})[
        'profile']['id'] for u in ('alice', 'bob')]
    for pid in ids:
        registered(c, pid)
    backup = os.path.join(d.tmp, 'backup.db')
    e = c.expect_error(-32602, 'store.backup', {'path': 'relative.db'})
    check('absolute' in e['message'], 'relative path message: %s' % e['message'])
    check_eq(c.call('store.backup', {'path': backup, 'secrets': True}),
             {'path': backup, 'secrets': True}, 'backup result')
    check_eq(os.stat(backup).st_mode & 0o777, 0o600, 'backup mode')
    e = c.expect_error(-32602, 'store.backup', {'path': backup})
    check('exists' in e['message'], 'existing file message: %s' % e['message'])

    # A delete is answered once the profile is gone; a request sent right
    # after it on the same connection is answered after it (in order).
    c.send({'jsonrpc': '2.0', 'id': 50, 'method': 'profile.delete',
            'params': {'id': ids[0]}})
    c.send({'jsonrpc': '2.0', 'id': 51, 'method': 'profile.list'})
    r1, r2 = c.read_response(), c.read_response()
    check_eq((r1.get('id'), r1.get('result')), (50, {'id': ids[0]}), 'delete response')
    check_eq([p['id'] for p in r2['result']['profiles']], ids[1:], 'list after delete')
    check_eq(c.call('profile.delete', {'id': ids[1]}), {'id': ids[1]}, 'delete result')
    c.expect_error(-32002, 'profile.delete', {'id': ids[1]})
    for pid in ids:
        deregistered(c, pid, 'deleted')
        c.wait_event(lambda e: e['method'] == 'profile.destroyed' and
                     e['params']['id'] == pid, T(10), 'profile.destroyed')
    wait_bindings(reg, 'alice', 0)
    wait_bindings(reg, 'bob', 0)
    check_eq(c.call('profile.list')['profiles'], [], 'profiles after delete')

    e = c.expect_error(-32602, 'store.restore', {'path': '/nonexistent/x.db'})
    r = c.call('store.restore', {'path': backup})
    check_eq(r['profiles'], 2, 'profiles restored')
    for pid in ids:
        ev = c.wait_event(lambda e: e['method'] == 'profile.created' and
                          e['params']['profile']['id'] == pid, T(10), 'profile.created')
        check(not any(pw in json.dumps(ev) for pw in USERS.values()),
              'password in profile.created')
        check_eq(ev['params']['profile']['registrar']['password_set'], True,
                 'password restored')
        registered(c, pid)
    wait_bindings(reg, 'alice', 1)
    wait_bindings(reg, 'bob', 1)

    # While a restore runs, changes are refused: hold the registrar still
    # so that the deregistration takes its full (bounded) time.
    other = fx.client(d)
    os.killpg(reg.proc.pid, signal.SIGSTOP)
    try:
        c.send({'jsonrpc': '2.0', 'id': 99, 'method': 'store.restore',
                'params': {'path': backup}})
        # The deregistration waits for the registrar (at most 2 s).
        alrtest.wait_until(lambda: other.call('profile.get', {'id': ids[0]})[
            'profile']['state']['registration'] == 'unregistering', T(5),
            'the restore deregistering')
        e = other.expect_error(-32003, 'profile.create',
                               {'profile': profile('carol')})
        check('restore in progress' in e['message'], 'message: %s' % e['message'])
        other.expect_error(-32003, 'store.backup',
                           {'path': os.path.join(d.tmp, 'b2.db')})
        check('result' in other.request('profile.list'), 'reads during a restore')
        deregistered(c, ids[0], 'restore')
    finally:
        os.killpg(reg.proc.pid, signal.SIGCONT)
    resp = c.read_response(T(30))
    check_eq(resp.get('id'), 99, 'restore response id')
    check('result' in resp, 'second restore: %r' % resp)
    for pid in ids:
        registered(c, pid, T(30))
    wait_bindings(reg, 'alice', 1)
    wait_bindings(reg, 'bob', 1)


def test_password_never_leaves(fx):
    w, reg = sip_world(fx)
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['*'])
    secret = USERS['alice']
    pid = c.call('profile.create', {'profile': profile(
        'alice', auto_register=True,
        outbound_proxy={'uri': REGISTRAR, 'password': secret + 'x'})})['profile']['id']
    registered(c, pid)
    got = c.call('profile.get', {'id': pid})
    text = json.dumps(got)
    check(secret not in text, 'password in profile.get')
    check_eq(got['profile']['registrar']['password_set'], True, 'password_set')
    check(secret not in json.dumps(c.call('profile.list')), 'password in profile.list')
    plain = c.call('profile.export')['text']
    check(secret not in plain, 'password in an export without passwords')
    # Wrong password on an update: the registrar refuses; the error event
    # does not quote it.
    c.call('profile.update', {'id': pid, 'profile': {
        'registrar': {'password': 'Wr0ng-' + secret}}})
    c.wait_event(lambda e: e['method'] == 'profile.error' and e['params']['id'] == pid,
                 T(20), 'profile.error')
    c.call('profile.update', {'id': pid, 'profile': {'registrar': {'password': secret}}})
    registered(c, pid)
    full = c.call('profile.export', {'with_passwords': True})['text']
    check(secret in full, 'export with passwords lacks the password')
    r = alrtest.calls_as(alrtest.NOBODY, alrtest.NOBODY, d.socket_path, [
        {'jsonrpc': '2.0', 'id': 1, 'method': 'profile.export',
         'params': {'with_passwords': True}},
        {'jsonrpc': '2.0', 'id': 2, 'method': 'profile.export'}])
    check_eq(r[0].get('error', {}).get('code'), -32001, 'export with passwords as nobody')
    check(secret not in json.dumps(r[1]), 'password in an export as nobody')
    events = json.dumps(c.events)
    c.clear_events()
    d.stop()
    check(secret not in events, 'password in an event')
    log = d.log()
    check('registered over' in log, 'the log is not the daemon log')
    check(secret not in log, 'password in the daemon log')


def test_import_export_and_default(fx):
    w, reg = sip_world(fx)
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    a = c.call('profile.create', {'profile': profile('alice', default=True)})['profile']
    check_eq(a['default'], True, 'default flag')
    text = c.call('profile.export')['text']
    bad = text.replace('aor = sip:alice@', 'aor = nope:alice@')
    e = c.expect_error(-32602, 'profile.import', {'text': text + '\n' + bad})
    check('line' in e['message'], 'import error names a line: %s' % e['message'])
    check_eq(len(c.call('profile.list')['profiles']), 1, 'nothing imported on error')
    # An imported copy: new ids, the default flag moves to it.
    r = c.call('profile.import', {'text': text})
    check_eq(len(r['created']), 1, 'created')
    new = r['created'][0]
    check(new != a['id'], 'import made a new id')
    ev = c.wait_event(lambda e: e['method'] == 'profile.updated' and
                      e['params']['profile']['id'] == a['id'], T(10),
                      'profile.updated of the old default')
    check_eq(ev['params']['profile']['default'], False, 'old default after import')
    c.call('profile.set-default', {'id': a['id']})
    ev = c.wait_event(lambda e: e['method'] == 'profile.updated' and
                      e['params']['profile']['id'] == new, T(10),
                      'profile.updated of the one that lost the flag')
    check_eq(ev['params']['profile']['default'], False, 'lost the default flag')
    check_eq(c.call('profile.get', {'id': a['id']})['profile']['default'], True,
             'set-default')
    c.expect_error(-32002, 'profile.get', {'id': 4242})
    e = c.expect_error(-32602, 'profile.create', {'profile': profile('bob', type='other/acme')})
    check(e['message'].startswith('type: no plugin serves'), 'message: %s' % e['message'])
    check_eq(e['data']['field'], 'type', 'error field')


def test_profile_kept_without_its_plugin(fx):
    w, reg = sip_world(fx)
    d = daemon(fx, w)
    c = fx.client(d)
    pid = c.call('profile.create', {'profile': profile('alice', auto_register=True)})[
        'profile']['id']
    wait_bindings(reg, 'alice', 1)
    d.stop()
    empty = os.path.join(d.tmp, 'no-plugins')
    os.mkdir(empty, 0o755)
    d.config['daemon']['plugin-dir'] = empty
    d.write_config()
    d.start()
    c = fx.client(d)
    p = c.call('profile.get', {'id': pid})['profile']
    check_eq(p['state']['plugin'], None, 'plugin of a profile without one')
    check_eq(p['state']['registration'], 'unregistered', 'state without a plugin')
    check_eq((p['state']['error'] or {}).get('kind'), 'no-plugin', 'error kind')
    check_eq(reg.bindings('alice'), [], 'bindings of a profile without a plugin')
    info = c.call('daemon.info')['plugins']
    check_eq((info['dir'], info['loaded']), (empty, []), 'daemon.info plugins')


def test_shutdown_is_bounded(fx):
    w, reg = sip_world(fx)
    d = daemon(fx, w)
    c = fx.client(d)
    c.call('profile.create', {'profile': profile('alice', auto_register=True)})
    wait_bindings(reg, 'alice', 1)
    os.killpg(reg.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        d.stop()
        took = time.monotonic() - t0
    finally:
        os.killpg(reg.proc.pid, signal.SIGCONT)
    check(took < T(6), 'alrd took %.1f s to stop with a silent registrar', took)
    check(took > 1.0, 'alrd stopped in %.1f s: did it wait for the deregistration?', took)


def test_max_profiles(fx):
    """Issue 11: profiles had no limit (100,000 took 1.19 GB).  Beyond
    max-profiles, profile.create and profile.import get -32003 and
    nothing changes; a reload applies a new limit; a lower limit keeps
    every stored profile."""
    w = fx.world()
    d = daemon(fx, w, daemon={'max-profiles': 3})
    c = fx.client(d)
    first = c.call('profile.create', {'profile': profile('alice')})['profile']['id']
    one = c.call('profile.export')['text']
    for u in ('bob', 'carol'):
        c.call('profile.create', {'profile': profile(u)})
    e = c.expect_error(-32003, 'profile.create', {'profile': profile('alice')})
    check('max-profiles (3)' in e['message'], 'message: %s' % e['message'])
    e = c.expect_error(-32003, 'profile.import', {'text': one})
    check('nothing was imported' in e['message'] and 'max-profiles (3)' in e['message'],
          'message: %s' % e['message'])
    check_eq(len(c.call('profile.list')['profiles']), 3, 'profiles after refusals')
    c.call('profile.delete', {'id': first})
    check_eq(len(c.call('profile.import', {'text': one})['created']), 1,
             'imported after a delete')

    d.config['daemon']['max-profiles'] = 5
    d.write_config()
    c.call('daemon.reload')
    for u in ('alice', 'bob'):
        c.call('profile.create', {'profile': profile(u)})
    c.expect_error(-32003, 'profile.create', {'profile': profile('carol')})

    # A lower limit drops nothing, at a reload or a start.
    d.config['daemon']['max-profiles'] = 2
    d.write_config()
    c.call('daemon.reload')
    check_eq(len(c.call('profile.list')['profiles']), 5, 'profiles over a lowered limit')
    c.expect_error(-32003, 'profile.create', {'profile': profile('carol')})
    d.restart()
    c = fx.client(d)
    check_eq(len(c.call('profile.list')['profiles']), 5, 'profiles loaded over the limit')
    check('more than max-profiles (2)' in d.log_since_start(),
          'no warning about the lowered limit at start')


def test_store_refused_or_rows_skipped(fx):
    """Issue 11: a 0-byte alrd.db became an empty store without a word; a
    profile row with a NULL AOR loaded silently."""
    import sqlite3
    w = fx.world()
    d = fx.daemon(w, {'daemon': {'plugin-dir': alrtest.plugin_dir()}}, start=False)
    db = os.path.join(d.state_dir, 'alrd.db')
    open(db, 'w').close()
    r = alrtest.run(d.argv(), check=False, timeout=T(60))
    msg = r.stdout + r.stderr
    check(r.returncode != 0, 'alrd started on a 0-byte %s: %r' % (db, msg))
    check(db in msg and 'empty (0 bytes)' in msg and 'remove it' in msg,
          'the refusal should name the file and what to do: %r' % msg)
    check_eq(os.path.getsize(db), 0, 'size of the refused file')

    # Removed: a new store.  Then a row broken behind alrd's back.
    os.unlink(db)
    d.start()
    c = fx.client(d)
    a = c.call('profile.create', {'profile': profile('alice')})['profile']['id']
    b = c.call('profile.create', {'profile': profile('bob')})['profile']['id']
    d.stop()
    con = sqlite3.connect(db)
    con.execute('UPDATE profile SET aor = NULL WHERE id = ?', (b,))
    con.commit()
    con.close()
    d.start()
    c = fx.client(d)
    check_eq([p['id'] for p in c.call('profile.list')['profiles']], [a],
             'profiles loaded beside a broken row')
    check('profile row %d skipped: aor: is missing' % b in d.log_since_start(),
          'no warning naming the skipped row')
    con = sqlite3.connect(db)
    rows = con.execute('SELECT id, aor FROM profile ORDER BY id').fetchall()
    con.close()
    check_eq(rows, [(a, 'sip:alice@' + DOMAIN), (b, None)], 'rows in the file')


def test_backup_in_slices_keeps_serving(fx):
    """Issue 12: store.backup copied the whole store inside the request
    (sqlite3_backup_step(-1)), holding the loop.  Now 64 pages a loop
    turn: another client's request sent right after a backup of a store
    of a few MB is answered while the backup is still being written
    (its daemon.info counts it), and the backup holds every profile."""
    w = fx.world()
    d = daemon(fx, w)
    c = fx.client(d)
    pad = 'X' * 900
    n = 600
    for first in range(0, n, 50):             # 50 answers of ~8 KB in flight
        for i in range(first, first + 50):
            c.send({'jsonrpc': '2.0', 'id': 1000 + i, 'method': 'profile.create',
                    'params': {'profile': dict(
                        profile('alice'), aor='sip:u%d@%s' % (i, DOMAIN),
                        extra_headers=['X-Pad-%d: %s' % (k, pad) for k in range(8)])}})
        for i in range(first, first + 50):
            r = c.read_response(T(60))
            check('result' in r, 'profile.create: %r' % r)
    size = os.path.getsize(os.path.join(d.state_dir, 'alrd.db'))
    check(size > 2 * 1024 * 1024, 'the store is only %d bytes' % size)
    other = fx.client(d)
    backup = os.path.join(d.tmp, 'big.db')
    c.send({'jsonrpc': '2.0', 'id': 7, 'method': 'store.backup', 'params': {'path': backup}})
    # Served while the backup is being written: a backup that held the
    # loop would be over before any daemon.info could see it running.
    alrtest.wait_until(lambda: other.call('daemon.info')['backups'] == 1, T(10),
                       'daemon.info answered during the backup', interval=0.001)
    r = c.read_response(T(60))
    check_eq(r.get('result'), {'path': backup, 'secrets': False}, 'backup answer')
    check_eq(other.call('daemon.info')['backups'], 0, 'backups running after it')
    m = __import__('re').search(r'backed the store up to \S+ \((\d+) loop turns\)', d.log())
    check(m and int(m.group(1)) > 1, 'the backup took one turn: %s' % (m and m.group(0)))
    rows = alrtest.run(['sqlite3', backup, 'SELECT count(*) FROM profile']).stdout.strip()
    check_eq(rows, str(n), 'profiles in the backup')


if __name__ == '__main__':
    alrtest.main()
