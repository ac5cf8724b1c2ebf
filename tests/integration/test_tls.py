#!/usr/bin/python3
"""SIP over TLS (issue 15 item 4, and the TLS part of item 7): a real
Kamailio with its tls module on port 5061, a certificate authority made
by the test (peers/testca.py, openssl), the registrar's name served by
dnsmasq (peers/dns.py).  What is checked is Kamailio's own view (its
bindings: socket tls:..., received over TLS) and, for refusals, the
profile's state and the events alrd sends: a certificate alrd refuses is
named, at once, and counts against the server, not against the network
(no alr.error, no move off Wi-Fi).
"""

import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peers'))

import alrtest  # noqa: E402
from alrtest import T, check, check_eq, wait_until  # noqa: E402
from dns import DnsServer, use_name_server  # noqa: E402
from kamailio import TLS_MODULE  # noqa: E402
from testca import TestCA  # noqa: E402
from test_profiles import (REG_ADDR, WLAN, WWAN, _Rm, iap_id, profile,  # noqa: E402
                           sip_world, wait_bindings)
from test_roaming import WIFI_FIRST, snap_dir, write_snap  # noqa: E402
from test_liveness import silence_flow  # noqa: E402

NS_ADDR = '10.99.100.53'
REG_NAME = 'registrar.example.test'


def tls_world(fx, cert_names=(REG_NAME,), records=(), **registrar_kw):
    """sip_world whose Kamailio also speaks TLS on 5061 with a
    certificate for @cert_names signed by a CA of the test's own, and a
    name server that knows REG_NAME (and @records: more dnsmasq options).
    (world, registrar, dns, ca)"""
    if not os.path.exists(TLS_MODULE):
        raise alrtest.Skip('no Kamailio tls module (kamailio-tls-modules)')
    tmp = tempfile.mkdtemp(prefix='alrt-tls-')
    fx._objs.append(_Rm(tmp))
    ca = TestCA(os.path.join(tmp, 'ca'), 'alrt test CA')
    cert, key = ca.server(*cert_names)
    w, reg = sip_world(fx, tls=(cert, key), **registrar_kw)
    dns = DnsServer(w.net, NS_ADDR, tmp, hosts={REG_NAME: REG_ADDR}, extra=records)
    fx._objs.append(dns)
    dns.start()
    use_name_server(fx, w.dev, NS_ADDR)
    return w, reg, dns, ca


def tls_daemon(fx, w, ca_file=None, snaps=None, **sip):
    """alrd with the build's plugins, [sip] tls-ca-file = @ca_file (None:
    the system's store) and @sip, and SNAP files @snaps ({name: text})."""
    cfg = {'daemon': {'plugin-dir': alrtest.plugin_dir()},
           'sip': dict({'registration-check': '0'}, **sip)}
    if ca_file:
        cfg['sip']['tls-ca-file'] = ca_file
    d = fx.daemon(w, cfg, start=False)
    if snaps:
        os.makedirs(snap_dir(d), mode=0o755, exist_ok=True)
        d.config['daemon']['snap-dir'] = snap_dir(d)
        d.write_config()
        for name, text in snaps.items():
            write_snap(d, name, text)
    d.start()
    return d


def tls_profile(uri='sips:' + REG_NAME, user='alice', ca_file=None, **kw):
    p = profile(user, **dict({'auto_register': True}, **kw))
    p['registrar']['uri'] = uri
    if ca_file:
        p['registrar']['ca_file'] = ca_file
    return p


def over_tls(b):
    """Kamailio's binding came over TLS: its socket, where it came from,
    and our sips: contact."""
    check(b['socket'] and b['socket'].startswith('tls:'), 'not over TLS: %r', b)
    check(b['received'] and b['received'].endswith(';transport=tls'),
          'not received over TLS: %r', b)
    check(b['contact'].startswith('sips:'), 'not a sips: contact: %r', b)


def sip_status(c):
    return c.call('daemon.info', {})['sip']


def wait_error(c, pid, what):
    ev = c.wait_event(lambda e: e['method'] == 'profile.error' and e['params']['id'] == pid,
                      T(10), what)
    return ev['params']


def refused(fx, cert_names, ca_file_of, expect, uri='sips:' + REG_NAME, kind='tls',
            within=3):
    """A profile whose server's certificate alrd must refuse: the
    profile.error names the cause (@expect, in the message), within
    @within seconds of the profile's creation (one round trip, no timer);
    the registrar holds nothing; there is no alr.error against Wi-Fi and
    the profile stays there: a certificate is the server's matter."""
    w, reg, dns, ca = tls_world(fx, cert_names=cert_names)
    d = tls_daemon(fx, w, ca_file=ca_file_of(ca))
    c = fx.client(d)
    c.subscribe(['profile.*', 'alr.*'])
    t0 = time.monotonic()
    pid = c.call('profile.create', {'profile': tls_profile(uri)})['profile']['id']
    err = wait_error(c, pid, 'profile.error for the refused certificate')
    took = time.monotonic() - t0
    check_eq(err['kind'], kind, 'kind')
    check(expect in err['message'], 'the message does not name the cause: %r',
          err['message'])
    check(took < T(within), 'the refusal took %.2f s', took)
    st = c.call('profile.get', {'id': pid})['profile']['state']
    check(expect in (st.get('error') or {}).get('message', ''),
          "the profile's state does not show the cause: %r", st)
    check_eq(st['iap_id'], iap_id(c, 'wlan0'), 'the IAP after the refusal')
    check(not [e for e in c.events if e['method'] == 'alr.error'],
          'alr.error against the network for a certificate: %r',
          [e for e in c.events if e['method'] == 'alr.error'])
    check('a server error, not the network' in d.log(),
          'the engine did not take it for a server error')
    check_eq(reg.bindings('alice'), [], "the registrar's bindings")
    if kind == 'tls':
        check(sip_status(c)['tls_refused'] >= 1, 'tls_refused not counted')
    print('    refused in %.3f s: %s' % (took, err['message']))
    return err


def test_register_over_tls(fx):
    """sips:registrar.example.test, alrd trusting the test's CA
    ([sip] tls-ca-file): NAPTR, then _sips._tcp (none here), then the
    name's address at port 5061; the certificate verifies; Kamailio's
    binding came over TLS, with a sips: contact from wlan0."""
    w, reg, dns, ca = tls_world(fx)
    d = tls_daemon(fx, w, ca_file=ca.cert)
    c = fx.client(d)
    pid = c.call('profile.create', {'profile': tls_profile()})['profile']['id']
    b = wait_bindings(reg, 'alice', 1, host=WLAN)[0]
    over_tls(b)
    check_eq(b['socket'], 'tls:%s:5061' % REG_ADDR, "Kamailio's socket")
    st = c.call('profile.get', {'id': pid})['profile']['state']
    check_eq(st['registration'], 'registered', 'registration')
    check_eq(st['targets'], '*tls %s:5061' % REG_ADDR, 'the target')
    s = sip_status(c)
    check(s['tls_handshakes'] >= 1, 'no TLS handshake counted: %r', s)
    check_eq(s['tls_refused'], 0, 'refused')
    asked = dns.queries()
    check(any('_sips._tcp.' + REG_NAME in q for q in asked),
          'no _sips._tcp question: %r', asked)


def test_transport_tls_with_a_sip_uri(fx):
    """A sip: registrar with transport tls (the profile's member) goes
    over TLS too."""
    w, reg, dns, ca = tls_world(fx)
    d = tls_daemon(fx, w, ca_file=ca.cert)
    c = fx.client(d)
    p = tls_profile('sip:' + REG_NAME)
    p['registrar']['transport'] = 'tls'
    c.call('profile.create', {'profile': p})
    over_tls(wait_bindings(reg, 'alice', 1, host=WLAN)[0])


def test_registrar_by_address(fx):
    """sips:10.99.100.1: the certificate must list the address (an
    iPAddress SAN; no SNI for an address): one that does registers."""
    w, reg, dns, ca = tls_world(fx, cert_names=(REG_ADDR,))
    d = tls_daemon(fx, w, ca_file=ca.cert)
    c = fx.client(d)
    c.call('profile.create', {'profile': tls_profile('sips:' + REG_ADDR)})
    over_tls(wait_bindings(reg, 'alice', 1, host=WLAN)[0])


def test_address_not_in_the_certificate(fx):
    """sips:10.99.100.1 and a certificate that names only the host name:
    refused as a mismatch naming the address."""
    refused(fx, (REG_NAME,), lambda ca: ca.cert, 'host name mismatch',
            uri='sips:' + REG_ADDR)


def test_wrong_host_name_refused(fx):
    """The server's certificate is signed by the trusted CA but names
    another host: 'host name mismatch', naming the host asked for."""
    err = refused(fx, ('other.example.test',), lambda ca: ca.cert, 'host name mismatch')
    check(REG_NAME in err['message'], 'the host is not named: %r', err['message'])


def test_untrusted_ca_refused(fx):
    """alrd trusts the system's store only: the test CA's certificate
    does not chain to it."""
    refused(fx, (REG_NAME,), lambda ca: None,
            'certificate verify failed: unable to get local issuer certificate')


def test_closed_tls_port(fx):
    """Nothing listens at the URI's port: the connection is refused, said
    at once (kind server, as over TCP), and it is the server's matter."""
    refused(fx, (REG_NAME,), lambda ca: ca.cert, 'Connection refused',
            uri='sips:%s:5071' % REG_NAME, kind='server')


def test_not_tls_at_the_port(fx):
    """The URI names Kamailio's plain SIP port (TCP 5060): Kamailio keeps
    the ClientHello and waits for a SIP message.  The TCP connection
    proved the path, so after alrd's handshake timeout (5 s; not Timer F's
    32 s) the handshake fails, named, as the server's matter."""
    refused(fx, (REG_NAME,), lambda ca: ca.cert,
            'handshake failed: no answer from the server in 5 s',
            uri='sips:%s:5060' % REG_NAME, within=7)


def test_registrar_restart_over_tls(fx):
    """Kamailio restarts (its bindings in memory go): the TLS connection
    closes and alrd notices at once (no registration check); its attempt
    while Kamailio is down is refused (the server's error: BACKOFF 1-2 s,
    then 2-4 s if Kamailio is still starting), and it registers again over
    a new connection within that backoff of Kamailio being up."""
    w, reg, dns, ca = tls_world(fx)
    d = tls_daemon(fx, w, ca_file=ca.cert)
    c = fx.client(d)
    c.call('profile.create', {'profile': tls_profile()})
    before = wait_bindings(reg, 'alice', 1, host=WLAN)[0]
    reg.stop()
    wait_until(lambda: 'connection lost' in d.log(), T(2), 'alrd to notice the closed connection')
    reg.start()
    t0 = time.monotonic()       # Kamailio answers kamcmd: it is up
    check_eq(reg.bindings('alice'), [], 'bindings right after the restart')
    after = wait_bindings(reg, 'alice', 1, host=WLAN, timeout=T(10))[0]
    took = time.monotonic() - t0
    over_tls(after)
    check(after['received'] != before['received'], 'the same connection: %r', after)
    print('    registered again %.3f s after Kamailio was up again' % took)
    check(took < T(5), 'back after %.2f s', took)


def test_tls_connection_dead_in_silence(fx):
    """A TLS connection that dies without a word (its packets dropped at
    the registrar's side, nothing reset): alrd's keepalive ping (every
    1 s here, inside TLS) gets no pong within 10 s, the connection counts
    as lost, and alrd registers again over a new one: Kamailio's binding
    comes from a new source port."""
    w, reg, dns, ca = tls_world(fx)
    d = tls_daemon(fx, w, ca_file=ca.cert, keepalive='1')
    c = fx.client(d)
    c.call('profile.create', {'profile': tls_profile()})
    before = wait_bindings(reg, 'alice', 1, host=WLAN)[0]
    over_tls(before)
    silence_flow(w, before)
    wait_until(lambda: 'no answer to a keepalive' in d.log(), T(20),
               "alrd's keepalive to fail")

    def moved():
        return [x for x in reg.bindings('alice') if x['received'] != before['received']]
    after = wait_until(moved, T(15), 'a binding over a new connection')[0]
    over_tls(after)
    check_eq(after['contact'].split('@')[1].split(':')[0], WLAN, 'still over wlan0')


def test_per_profile_ca_file(fx):
    """The daemon trusts another CA ([sip] tls-ca-file); alice's
    registrar names the test's CA as its own (registrar.ca_file): she
    registers.  bob, without one, has the daemon's trust: refused, though
    alice's connection to the same server over the same IAP is up -- a
    connection verified under one CA is not shared with a profile that
    trusts another."""
    w, reg, dns, ca = tls_world(fx)
    other = TestCA(os.path.join(os.path.dirname(ca.dir), 'other'), 'alrt other CA')
    d = tls_daemon(fx, w, ca_file=other.cert)
    c = fx.client(d)
    c.subscribe(['profile.*', 'alr.*'])
    c.call('profile.create', {'profile': tls_profile(ca_file=ca.cert)})
    over_tls(wait_bindings(reg, 'alice', 1, host=WLAN)[0])
    pid = c.call('profile.create', {'profile': tls_profile(user='bob')})['profile']['id']
    err = wait_error(c, pid, "profile.error for bob's refused certificate")
    check_eq(err['kind'], 'tls', 'kind')
    check('certificate verify failed' in err['message'], 'the cause: %r', err['message'])
    check_eq(reg.bindings('bob'), [], "the registrar's bindings of bob")
    check_eq(len(reg.bindings('alice')), 1, "alice's binding")


def test_unreadable_ca_file_named(fx):
    """A profile's CA file that is not there, and one that anyone may
    write (a trust anchor anyone could change): the registration fails at
    once naming the file and why, as the server's matter (no
    alr.error)."""
    w, reg, dns, ca = tls_world(fx)
    d = tls_daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*', 'alr.*'])
    pid = c.call('profile.create', {'profile': tls_profile(ca_file='/nonexistent/ca.pem')}
                 )['profile']['id']
    err = wait_error(c, pid, 'profile.error for the missing CA file')
    check_eq(err['kind'], 'tls', 'kind')
    check('cannot load the CA file /nonexistent/ca.pem: No such file' in err['message'],
          'the message does not name the file: %r', err['message'])
    writable = os.path.join(ca.dir, 'writable.pem')
    shutil.copy(ca.cert, writable)
    os.chmod(writable, 0o666)
    pid = c.call('profile.create', {'profile': tls_profile(user='bob', ca_file=writable)}
                 )['profile']['id']
    err = wait_error(c, pid, 'profile.error for the writable CA file')
    check('cannot load the CA file %s: anyone may write it' % writable in err['message'],
          'the message does not say why: %r', err['message'])
    check_eq(reg.bindings('bob'), [], "the registrar's bindings of bob")
    check(not [e for e in c.events if e['method'] == 'alr.error'],
          'alr.error against the network for a CA file: %r',
          [e for e in c.events if e['method'] == 'alr.error'])


def test_carrier_loss_moves_tls_to_cellular(fx):
    """A SNAP of Wi-Fi then cellular, registered over TLS on wlan0; Wi-Fi's
    carrier goes: the registration moves to wwan0 over a new TLS
    connection of its own (one per IAP), and Kamailio's binding comes
    from wwan0 over TLS.  The new connection offers the session of the
    first (resumption across the move): counted in daemon.status."""
    w, reg, dns, ca = tls_world(fx, tcp_children=1)
    d = tls_daemon(fx, w, ca_file=ca.cert, snaps={'10-mobile.conf': WIFI_FIRST})
    c = fx.client(d)
    c.call('profile.create', {'profile': tls_profile(snap_id=5)})
    before = wait_bindings(reg, 'alice', 1, host=WLAN)[0]
    over_tls(before)
    t0 = time.monotonic()
    w.carrier_down('wlan0')
    after = wait_bindings(reg, 'alice', 1, host=WWAN, timeout=T(20))[0]
    took = time.monotonic() - t0
    over_tls(after)
    check(after['received'] != before['received'], 'the same connection: %r', after)
    s = sip_status(c)
    check(s['tls_handshakes'] >= 2, 'one TLS handshake for two IAPs: %r', s)
    print('    moved in %.3f s; handshakes %d, resumed %d'
          % (took, s['tls_handshakes'], s['tls_resumed']))
    check(s['tls_resumed'] >= 1, 'the session was not resumed on the new IAP: %r', s)


def test_sips_aor_by_srv(fx):
    """A sips: AOR and no registrar: RFC 3263 for sips:example.test, no
    NAPTR, so _sips._tcp.example.test, which names registrar.example.test
    port 5061.  The certificate must name the AOR's domain (RFC 5922 §4),
    not the SRV target."""
    w, reg, dns, ca = tls_world(
        fx, cert_names=('example.test',),
        records=['--srv-host=_sips._tcp.example.test,%s,5061,10,0' % REG_NAME])
    d = tls_daemon(fx, w, ca_file=ca.cert)
    c = fx.client(d)
    p = profile('alice', auto_register=True, aor='sips:alice@example.test')
    p['registrar']['uri'] = None
    pid = c.call('profile.create', {'profile': p})['profile']['id']
    over_tls(wait_bindings(reg, 'alice', 1, host=WLAN)[0])
    st = c.call('profile.get', {'id': pid})['profile']['state']
    check_eq(st['targets'], '*tls %s:5061' % REG_ADDR, 'the SRV target')
    asked = dns.queries()
    check(any('_sips._tcp.example.test' in q for q in asked), 'no SRV question: %r', asked)


def test_calls_over_tls(fx):
    """Calls through alrd's edge (docs/edge.md) with the network side
    over TLS: a caller in the network calls alice's AOR; Kamailio sends
    the INVITE to alrd's sips: contact over alrd's own TLS connection, alrd
    to baresip at its edge, which answers; the caller hangs up.  Then
    baresip calls bob (a callee registered at Kamailio): alrd's INVITE
    leaves over the TLS connection, bob answers, baresip hangs up."""
    from callpeers import Baresip, Callee, Caller
    from test_edge import local_event
    from test_profiles import USERS, registered
    w, reg, dns, ca = tls_world(fx)
    d = tls_daemon(fx, w, ca_file=ca.cert)
    c = fx.client(d)
    c.subscribe(['profile.*', 'call.*'])
    pid = c.call('profile.create', {'profile': tls_profile(auto_register=False)}
                 )['profile']['id']
    phone = Baresip(fx, w, answer='auto')
    phone.wait_registered()
    local_event(c, 'profile.local-registered', pid)
    registered(c, pid)
    over_tls(wait_bindings(reg, 'alice', 1, host=WLAN)[0])
    bob = Callee(fx, w.net, 'bob', USERS['bob'])

    caller = Caller(fx, w.net, 'sip:alice@example.test', talk=2)
    phone.wait_call('CALL_ESTABLISHED')
    res = caller.wait_done()
    check_eq((res['status'], res['answered'], res['ended_by'], res['bye_status']),
             (200, True, 'caller', 200), "the caller's view of the call")
    phone.wait_call('CALL_CLOSED')
    c.wait_event(lambda e: e['method'] == 'call.ended', T(10), 'call.ended (in)')

    phone.dial('sip:bob@example.test')
    call = bob.wait_call(lambda x: x['answered'], what='bob answered')
    check(call['from'] and 'alice@example.test' in call['from'],
          "bob's caller is alice: %r", call)
    phone.wait_call('CALL_ESTABLISHED')
    phone.hangup()
    bob.wait_call(lambda x: x['ended_by'] == 'caller', what='bob saw the BYE')
    c.wait_event(lambda e: e['method'] == 'call.ended' and
                 e['params']['call']['end_reason'] == 'bye-from-application', T(10),
                 'call.ended (out)')
    s = sip_status(c)
    check_eq(s['tls_handshakes'], 1, 'TLS connections (the calls use the registration\'s)')


if __name__ == '__main__':
    alrtest.main()
