#!/usr/bin/python3
"""Reaching the registrar by name (issue 15 item 7, and the ground for
items 5 and 6): a real name server (dnsmasq, peers/dns.py) in the network
namespace; alrd's profile names its registrar.  Each failure must reach
the profile's state and a profile.error event fast, with a message that
names the cause, and an answer from the name server (no such name) must
not count against the network: the profile is not moved off Wi-Fi for it.
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peers'))

import alrtest  # noqa: E402
from alrtest import T, check, check_eq  # noqa: E402
from dns import DnsServer, use_name_server  # noqa: E402
from test_profiles import (REG_ADDR, WLAN, _Cleanup, _Rm, daemon, iap_id, profile,  # noqa: E402
                           sip_world, wait_bindings)

NS_ADDR = '10.99.100.53'
NFT = '/usr/sbin/nft'


def name_world(fx, hosts=None, records=()):
    """sip_world with a name server for example.test on NS_ADDR, which
    the device's resolv.conf names; @records: more dnsmasq options
    (--srv-host, --naptr-record)."""
    w, reg = sip_world(fx)
    tmp = tempfile.mkdtemp(prefix='alrt-dns-')
    fx._objs.append(_Rm(tmp))
    dns = DnsServer(w.net, NS_ADDR, tmp, hosts=hosts or {}, extra=records)
    fx._objs.append(dns)
    dns.start()
    use_name_server(fx, w.dev, NS_ADDR)
    return w, reg, dns


def by_name(host):
    p = profile('alice', auto_register=True)
    p['registrar']['uri'] = 'sip:' + host
    return p


def wait_error(c, pid, what):
    ev = c.wait_event(lambda e: e['method'] == 'profile.error' and e['params']['id'] == pid,
                      T(20), what)
    return ev['params']


def test_registrar_by_name(fx):
    """The registrar's name resolves through the name server: registered,
    Kamailio holds the binding; the server saw the question."""
    w, reg, dns = name_world(fx, {'registrar.example.test': REG_ADDR})
    d = daemon(fx, w)
    c = fx.client(d)
    c.call('profile.create', {'profile': by_name('registrar.example.test')})
    wait_bindings(reg, 'alice', 1, host=WLAN)
    check(any('registrar.example.test' in q for q in dns.queries()),
          'the name server was not asked: %r', dns.queries())


def test_no_such_name(fx):
    """NXDOMAIN: profile.error kind resolve, a message that says so, at
    once; the name server's answer says nothing about Wi-Fi, so there is
    no alr.error against it and the profile stays on wlan0 (no move to
    cellular)."""
    w, reg, dns = name_world(fx)
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*', 'alr.*'])
    pid = c.call('profile.create', {'profile': by_name('nowhere.example.test')}
                 )['profile']['id']
    err = wait_error(c, pid, 'profile.error for the unknown name')
    check_eq(err['kind'], 'resolve', 'kind')
    check('nowhere.example.test' in err['message'] and 'no such name' in err['message'],
          'the message does not name the cause: %r', err['message'])
    st = c.call('profile.get', {'id': pid})['profile']['state']
    check_eq(st['iap_id'], iap_id(c, 'wlan0'), 'the IAP after the failed lookup')
    check(not [e for e in c.events if e['method'] == 'alr.error'],
          'alr.error against the network for a name server answer: %r',
          [e for e in c.events if e['method'] == 'alr.error'])


def test_silent_name_server(fx):
    """The name server does not answer (its port silently dropped):
    profile.error within alrd's lookup timeout (2 s, then 4 s), saying
    that no answer came -- not 75 s of 'registering' and a message about
    address families."""
    w, reg, dns = name_world(fx, {'registrar.example.test': REG_ADDR})
    alrtest.run(['ip', 'netns', 'exec', w.net, NFT, '-f', '-'], input=(
        'table inet alrt_dns {\n chain input {\n'
        '  type filter hook input priority 0; policy accept;\n'
        '  ip daddr %s udp dport 53 drop\n  ip daddr %s tcp dport 53 drop\n }\n}\n'
        % (NS_ADDR, NS_ADDR)))
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    pid = c.call('profile.create', {'profile': by_name('registrar.example.test')}
                 )['profile']['id']
    err = wait_error(c, pid, 'profile.error for the silent name server')
    check_eq(err['kind'], 'resolve', 'kind')
    check('no answer from the name server' in err['message'],
          'the message does not name the cause: %r', err['message'])



def test_srv_targets_tried_in_order(fx):
    """RFC 3263 with SRV (issue 15 item 5): the profile names only the
    domain (sip:example.test).  No NAPTR there, so alrd asks
    _sip._udp.example.test: priority 10 is a server at port 5070 where
    nothing listens, priority 20 Kamailio at 5060.  alrd tries the first
    (the closed port answers ICMP), then the second, in the same attempt:
    registered, no error against Wi-Fi; profile.get shows the order."""
    w, reg, dns = name_world(fx, {'sip1.example.test': REG_ADDR,
                                  'sip2.example.test': REG_ADDR},
                             ['--srv-host=_sip._udp.example.test,sip1.example.test,5070,10,0',
                              '--srv-host=_sip._udp.example.test,sip2.example.test,5060,20,0'])
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['alr.*'])
    pid = c.call('profile.create', {'profile': by_name('example.test')})['profile']['id']
    b = wait_bindings(reg, 'alice', 1, host=WLAN)[0]
    st = c.call('profile.get', {'id': pid})['profile']['state']
    check_eq(st['targets'], 'udp %s:5070, *udp %s:5060' % (REG_ADDR, REG_ADDR),
             'the targets, in order, the second in use')
    check_eq(st['registration'], 'registered', 'registration')
    asked = dns.queries()
    check(any('_sip._udp.example.test' in q for q in asked),
          'no SRV question: %r', asked)


REG2_ADDR = '10.99.100.2'


def test_srv_failover_between_two_registrars(fx):
    """SRV failover between two Kamailio instances (issue 15, proof):
    _sip._udp.example.test names Kamailio A (priority 10) and Kamailio B
    (20).  alrd registers at A.  A stops: the next registration check
    (every 2 s here) is refused (ICMP port unreachable from A's own
    address: nothing listens there any more), alrd registers again, A
    refuses that too, and B takes it in the same attempt.  B's view:
    alice's binding from Wi-Fi; alrd's: registered, the targets in
    order with B in use, and no error against the IAP."""
    w, reg, dns = name_world(fx, {'sip1.example.test': REG_ADDR,
                                  'sip2.example.test': REG2_ADDR},
                             ['--srv-host=_sip._udp.example.test,sip1.example.test,5060,10,0',
                              '--srv-host=_sip._udp.example.test,sip2.example.test,5060,20,0'])
    from kamailio import Registrar
    from test_profiles import DOMAIN, USERS
    w.ipn('addr', 'add', REG2_ADDR + '/32', 'dev', 'lo')
    tmp = tempfile.mkdtemp(prefix='alrt-kam2-')
    fx._objs.append(_Rm(tmp))
    reg2 = Registrar(w.net, [REG2_ADDR], tmp, users=USERS, domain=DOMAIN)
    fx._objs.append(_Cleanup(reg2.stop))
    reg2.start()
    d = daemon(fx, w, sip={'registration-check': '2'})
    c = fx.client(d)
    c.subscribe(['alr.*'])
    pid = c.call('profile.create', {'profile': by_name('example.test')})['profile']['id']
    wait_bindings(reg, 'alice', 1, host=WLAN)
    check_eq(reg2.bindings('alice'), [], 'bindings at B while A holds alice')
    reg.stop()
    wait_bindings(reg2, 'alice', 1, host=WLAN, timeout=T(15))
    st = c.call('profile.get', {'id': pid})['profile']['state']
    check_eq(st['registration'], 'registered', 'registration')
    check_eq(st['targets'], 'udp %s:5060, *udp %s:5060' % (REG_ADDR, REG2_ADDR),
             'the targets, in order, the second in use')
    check('nothing listens at the registrar\'s port any more' in d.log(),
          'no log line saying the registrar went away')
    errors = [e for e in c.events if e['method'] == 'alr.error']
    check(not errors, 'errors against the IAP: %r', errors)


def test_naptr_chooses_tcp(fx):
    """RFC 3263 with NAPTR: example.test says SIP over TCP
    (SIP+D2T -> _sip._tcp.example.test -> Kamailio at 5060).  The profile
    names no transport: alrd registers over TCP, and Kamailio's binding
    says so."""
    w, reg, dns = name_world(fx, {'sip.example.test': REG_ADDR},
                             ['--naptr-record=example.test,10,10,S,SIP+D2T,,_sip._tcp.example.test',
                              '--naptr-record=example.test,20,10,S,SIP+D2U,,_sip._udp.example.test',
                              '--srv-host=_sip._tcp.example.test,sip.example.test,5060,10,0',
                              '--srv-host=_sip._udp.example.test,sip.example.test,5060,10,0'])
    d = daemon(fx, w)
    c = fx.client(d)
    pid = c.call('profile.create', {'profile': by_name('example.test')})['profile']['id']
    b = wait_bindings(reg, 'alice', 1, host=WLAN)[0]
    check(b['contact'].endswith(';transport=tcp'), 'not over TCP: %r', b)
    st = c.call('profile.get', {'id': pid})['profile']['state']
    check_eq(st['targets'], '*tcp %s:5060' % REG_ADDR, 'the target')


if __name__ == '__main__':
    alrtest.main()
