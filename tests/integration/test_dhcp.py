#!/usr/bin/python3
"""DHCP discovery of the outbound proxy (issue 15 item 6; docs/roaming.md,
"DHCP discovery"): a profile with proxy_from_dhcp sends its REGISTERs
through the SIP server the network it registers over names by DHCP
(RFC 3361 option 120, asked for with a DHCPINFORM), each network its own.

dnsmasq (peers/networkmanager.py's Dnsmasq) serves DHCP on the far end of
wlan0 and wwan0; Kamailio listens on the registrar's address and on each
proxy address, so the address a REGISTER arrived at (its log's dst=$Ri)
tells which proxy the network named and alrd used.

Facts checked with dnsmasq 2.90 while writing this: it answers a
DHCPINFORM from an address of a subnet it has a dhcp-range for (the
address itself need not be in the range) with a DHCPACK sent to
ciaddr:68; `--dhcp-option=tag:T,120,ADDR` is sent as RFC 3361 encoding 1
(addresses), with a name as encoding 0; `--log-dhcp` logs
"DHCPINFORM(IFACE) ADDR MAC".
"""

import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, 'peers'))

import alrtest  # noqa: E402
from alrtest import T, check, check_eq  # noqa: E402
from networkmanager import DNSMASQ, Dnsmasq  # noqa: E402
from dns import DnsServer, use_name_server  # noqa: E402
from test_profiles import (REG_ADDR, WLAN, WWAN, _Rm, _sysctl, daemon, deregistered,  # noqa: E402
                           host_of, iap_id, profile, registered, sip_world,
                           state_once, wait_bindings)

WIFI_PROXY = '10.99.101.1'      # what the Wi-Fi network names
CELL_PROXY = '10.99.102.1'      # what the cellular network names
CONF_PROXY = '10.99.103.1'      # the profile's outbound_proxy.uri
NS_ADDR = '10.99.100.53'        # a name server, for proxies named by name
WIFI_PROXY6 = '2001:db8:101::1'  # what Wi-Fi's DHCPv6 server names
WLAN6 = '2001:db8:1::2'


class _NetNs:
    """What Dnsmasq needs of a namespace: exec_argv()."""

    def __init__(self, name):
        self.name = name

    def exec_argv(self, argv):
        return ['ip', 'netns', 'exec', self.name] + list(argv)


def dhcp_world(fx, options, extra_addrs=(), before_dhcp=None, more=(), cell_dhcp=True):
    """sip_world with Kamailio also on the proxy addresses, and dnsmasq
    serving DHCP on the far end of wlan0 (tag wifi) and wwan0 (tag cell;
    not with cell_dhcp=False) with @options (dnsmasq --dhcp-option values)
    and @more (other dnsmasq options); @before_dhcp(world) runs before
    dnsmasq starts."""
    if not os.access(DNSMASQ, os.X_OK):
        raise alrtest.Skip('no dnsmasq (apt install dnsmasq-base)')
    w, reg = sip_world(fx, extra_addrs=(WIFI_PROXY, CELL_PROXY, CONF_PROXY) +
                       tuple(extra_addrs))
    if before_dhcp:
        before_dhcp(w)
    tmp = tempfile.mkdtemp(prefix='alrt-dhcp-')
    fx._objs.append(_Rm(tmp))
    links = [{'peer': 'wlan0p', 'prefix': '10.99.1.', 'tag': 'wifi'},
             {'peer': 'wwan0p', 'prefix': '10.99.2.', 'tag': 'cell'}][:2 if cell_dhcp else 1]
    dhcp = Dnsmasq(_NetNs(w.net), tmp, links,
                   ['--dhcp-option=%s' % o for o in options] + list(more))
    fx._objs.append(dhcp)
    dhcp.start()
    return w, reg, dhcp


def dhcp_log(dhcp):
    try:
        with open(dhcp.log_path) as f:
            return f.read()
    except OSError:
        return ''


def arrived_at(reg, src, mark=0):
    """The addresses the REGISTERs from @src arrived at (Kamailio's own
    view), from the @mark-th REGISTER on."""
    return [r.get('dst') for r in reg.registers()[mark:] if r.get('src') == src]


def proxy_name_server(fx, w):
    """A name server in the network namespace that knows
    proxy.example.test (WIFI_PROXY), and the device using it."""
    tmp = tempfile.mkdtemp(prefix='alrt-dhcp-dns-')
    fx._objs.append(_Rm(tmp))
    dns = DnsServer(w.net, NS_ADDR, tmp, hosts={'proxy.example.test': WIFI_PROXY})
    fx._objs.append(dns)
    dns.start()
    use_name_server(fx, w.dev, NS_ADDR)
    return dns


def registers_arrived_at(reg, proxy):
    """alice bound over wlan0 at Kamailio, and every REGISTER from wlan0
    arrived at @proxy's address (Kamailio's own view)."""
    wait_bindings(reg, 'alice', 1, host=WLAN)
    dst = arrived_at(reg, WLAN)
    check(dst and all(a == proxy for a in dst),
          'REGISTERs over wlan0 arrived at %s, not all at %s', dst, proxy)


def dhcp_profile(**kw):
    p = profile('alice', auto_register=True, proxy_from_dhcp=True)
    p.update(kw)
    return p


# ---------------------------------------------------------------------------


def test_each_network_its_own_proxy(fx):
    """Over Wi-Fi the REGISTER goes to the proxy Wi-Fi's DHCP server named;
    after Wi-Fi's carrier loss, over cellular to cellular's (another
    address); the state says which and from which IAP; both networks were
    asked with a DHCPINFORM."""
    w, reg, dhcp = dhcp_world(fx, ['tag:wifi,120,' + WIFI_PROXY,
                                   'tag:cell,120,' + CELL_PROXY])
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    wlan, wwan = iap_id(c, 'wlan0'), iap_id(c, 'wwan0')
    pid = c.call('profile.create', {'profile': dhcp_profile()})['profile']['id']
    registered(c, pid)
    registers_arrived_at(reg, WIFI_PROXY)
    st = state_once(c, pid, lambda s: s['proxy'] is not None)
    check_eq((st['proxy'], st['proxy_from'], st['proxy_iap_id']),
             ('sip:' + WIFI_PROXY, 'dhcp', wlan), 'proxy, from, iap over Wi-Fi')
    check('DHCPINFORM(wlan0p) 10.99.1.2' in dhcp_log(dhcp),
          'dnsmasq saw no DHCPINFORM from wlan0: %s', dhcp_log(dhcp)[-2000:])

    mark = len(reg.registers())
    w.carrier_down('wlan0')
    deregistered(c, pid, 'network-lost')
    ev = registered(c, pid)
    check_eq(host_of(ev['params']['contact']), WWAN, 'contact host after failover')
    wait_bindings(reg, 'alice', 1, host=WWAN)
    dst = arrived_at(reg, WWAN, mark)
    check(dst and all(a == CELL_PROXY for a in dst),
          'REGISTERs over wwan0 arrived at %s, not all at %s', dst, CELL_PROXY)
    st = state_once(c, pid, lambda s: s['proxy'] == 'sip:' + CELL_PROXY)
    check_eq((st['proxy'], st['proxy_from'], st['proxy_iap_id']),
             ('sip:' + CELL_PROXY, 'dhcp', wwan), 'proxy, from, iap over cellular')
    check('DHCPINFORM(wwan0p) 10.99.2.2' in dhcp_log(dhcp),
          'dnsmasq saw no DHCPINFORM from wwan0: %s', dhcp_log(dhcp)[-2000:])
    check('names SIP server %s (option 120)' % CELL_PROXY in d.log(),
          "alrd's log does not say what cellular's DHCP server named")


def test_next_server_when_the_first_is_closed(fx):
    """Wi-Fi's DHCP server names two proxies, the first with nothing
    listening (ICMP port unreachable): alrd moves on to the second within
    the same attempt (RFC 3361 §3.1: in the order listed); no failure
    reaches the engine, the profile stays on Wi-Fi."""
    closed = '10.99.104.1'
    w, reg, dhcp = dhcp_world(fx, ['tag:wifi,120,%s,%s' % (closed, WIFI_PROXY),
                                   'tag:cell,120,' + CELL_PROXY])
    w.ipn('addr', 'add', closed + '/32', 'dev', 'lo')
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*', 'alr.*'])
    wlan = iap_id(c, 'wlan0')
    pid = c.call('profile.create', {'profile': dhcp_profile()})['profile']['id']
    ev = registered(c, pid)
    check_eq(host_of(ev['params']['contact']), WLAN, 'registered over Wi-Fi')
    registers_arrived_at(reg, WIFI_PROXY)
    st = state_once(c, pid, lambda s: s['proxy'] == 'sip:' + WIFI_PROXY)
    check_eq((st['proxy'], st['proxy_iap_id']), ('sip:' + WIFI_PROXY, wlan),
             'the second server named')
    check('trying the next proxy the network named, sip:' + WIFI_PROXY in d.log(),
          "alrd's log does not say it moved on to the second server")
    check(not [e for e in c.history if e['method'] == 'alr.error'],
          'an alr.error for a proxy that refused: %s', c.history)


# NetworkManager's DHCP client (n-dhcp4), once bound, holds a UDP socket
# on LEASE:68, SO_REUSEADDR, bound to the interface and connected to the
# server: the kernel prefers a connected socket for a unicast DHCPACK.
_LEASE_HOLDER = '''
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, sys.argv[1].encode())
s.bind((sys.argv[2], 68))
s.connect((sys.argv[3], 67))
print('ready', flush=True)
time.sleep(600)
'''


class _Proc:
    def __init__(self, proc):
        self.proc = proc

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def test_answer_not_lost_to_the_lease_holder(fx):
    """A DHCP client holds wlan0's port 68 as NetworkManager's does
    (connected to the server): the DHCPACK to alrd's DHCPINFORM still
    reaches alrd (it reads the link, not only its socket), and the
    profile registers through Wi-Fi's proxy without waiting 12 s."""
    w, reg, dhcp = dhcp_world(fx, ['tag:wifi,120,' + WIFI_PROXY,
                                   'tag:cell,120,' + CELL_PROXY])
    holder = subprocess.Popen(w.exec_argv([sys.executable, '-c', _LEASE_HOLDER, 'wlan0',
                                           WLAN, '10.99.1.1']),
                              stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              start_new_session=True)
    fx._objs.append(_Proc(holder))
    check_eq(holder.stdout.readline().strip(), b'ready', 'the lease holder')
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    t0 = time.monotonic()
    pid = c.call('profile.create', {'profile': dhcp_profile()})['profile']['id']
    registered(c, pid)
    took = time.monotonic() - t0
    registers_arrived_at(reg, WIFI_PROXY)
    check(took < 3, 'registering took %.1f s: the answer was lost', took)


def test_wifi_back_asked_again(fx):
    """Wi-Fi's carrier comes back: its answer was dropped with the loss,
    so it is asked again, and the profile moves back through Wi-Fi's
    proxy (the migration's REGISTER arrives at WIFI_PROXY)."""
    w, reg, dhcp = dhcp_world(fx, ['tag:wifi,120,' + WIFI_PROXY,
                                   'tag:cell,120,' + CELL_PROXY])
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    wlan = iap_id(c, 'wlan0')
    pid = c.call('profile.create', {'profile': dhcp_profile()})['profile']['id']
    registered(c, pid)
    wait_bindings(reg, 'alice', 1, host=WLAN)
    w.carrier_down('wlan0')
    deregistered(c, pid, 'network-lost')
    registered(c, pid)
    wait_bindings(reg, 'alice', 1, host=WWAN)
    informs = dhcp_log(dhcp).count('DHCPINFORM(wlan0p)')
    mark = len(reg.registers())
    w.carrier_up('wlan0')
    st = state_once(c, pid, lambda s: s['iap_id'] == wlan and s['registration'] == 'registered'
                    and s['proxy'] == 'sip:' + WIFI_PROXY, T(30))
    check_eq((st['iap_id'], st['proxy'], st['proxy_iap_id']), (wlan, 'sip:' + WIFI_PROXY, wlan),
             'back on Wi-Fi through its proxy')
    wait_bindings(reg, 'alice', 1, host=WLAN)
    dst = arrived_at(reg, WLAN, mark)
    check(dst and all(a == WIFI_PROXY for a in dst),
          'REGISTERs over wlan0 after its return arrived at %s, not all at %s', dst, WIFI_PROXY)
    check(dhcp_log(dhcp).count('DHCPINFORM(wlan0p)') > informs,
          'Wi-Fi was not asked again after its carrier came back')


def test_failover_does_not_wait_for_a_silent_network(fx):
    """Cellular has no DHCP server: it is asked while the profile is on
    Wi-Fi (every available IAP is, once a profile wants DHCP), so that
    after Wi-Fi's carrier loss the profile registers over cellular at once
    (to the registrar: no proxy named there), not after the ~12 s of
    retries."""
    w, reg, dhcp = dhcp_world(fx, ['tag:wifi,120,' + WIFI_PROXY], cell_dhcp=False)
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    pid = c.call('profile.create', {'profile': dhcp_profile()})['profile']['id']
    registered(c, pid)
    wait_bindings(reg, 'alice', 1, host=WLAN)
    alrtest.wait_until(lambda: 'iap 2 (wwan0): no DHCP server answered' in d.log(), T(20),
                       "cellular's DHCP discovery giving up")
    mark = len(reg.registers())
    w.carrier_down('wlan0')
    t0 = time.monotonic()
    deregistered(c, pid, 'network-lost')
    ev = registered(c, pid)
    took = time.monotonic() - t0
    check_eq(host_of(ev['params']['contact']), WWAN, 'contact host after failover')
    check(took < 3, 'the failover took %.1f s: it waited for DHCP again', took)
    dst = arrived_at(reg, WWAN, mark)
    check(dst and all(a == REG_ADDR for a in dst),
          'REGISTERs over wwan0 arrived at %s, not all at the registrar', dst)


def test_networks_the_profile_never_uses_are_not_asked(fx):
    """A profile fixed to Wi-Fi (iap_id): cellular is not a network it
    may register over, so it is never asked; Wi-Fi is."""
    w, reg, dhcp = dhcp_world(fx, ['tag:wifi,120,' + WIFI_PROXY,
                                   'tag:cell,120,' + CELL_PROXY])
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    wlan = iap_id(c, 'wlan0')
    pid = c.call('profile.create', {'profile': dhcp_profile(iap_id=wlan)})['profile']['id']
    registered(c, pid)
    wait_bindings(reg, 'alice', 1, host=WLAN)
    # Asking is logged when the question leaves, before the profile's
    # REGISTER (every IAP it may use is asked then).
    check('(wlan0): asking the network for its SIP servers' in d.log(),
          'Wi-Fi was not asked')
    check('(wwan0): asking' not in d.log(), 'cellular was asked: %s',
          [l for l in d.log().splitlines() if 'wwan0' in l and 'DHCP' in l])


def test_no_option_falls_back_to_configured_proxy(fx):
    """Wi-Fi's DHCP server answers without option 120: the profile uses
    its outbound_proxy.uri, says so in its state and in the log."""
    w, reg, dhcp = dhcp_world(fx, ['tag:cell,120,' + CELL_PROXY])
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    p = dhcp_profile(outbound_proxy={'uri': 'sip:' + CONF_PROXY})
    pid = c.call('profile.create', {'profile': p})['profile']['id']
    registered(c, pid)
    wait_bindings(reg, 'alice', 1, host=WLAN)
    dst = arrived_at(reg, WLAN)
    check(dst and all(a == CONF_PROXY for a in dst),
          'REGISTERs over wlan0 arrived at %s, not all at %s', dst, CONF_PROXY)
    st = state_once(c, pid, lambda s: s['dhcp'] is not None)
    check_eq((st['proxy'], st['proxy_from']), ('sip:' + CONF_PROXY, 'configuration'),
             'proxy and where it came from')
    check('named no SIP server (no option 120); using outbound_proxy.uri' in (st['dhcp'] or ''),
          'state.dhcp does not name the cause: %r', st['dhcp'])
    check('no option 120' in d.log(), "alrd's log does not name the cause")
    ev = c.wait_event(lambda e: e['method'] == 'profile.error' and e['params']['id'] == pid,
                      T(5), 'profile.error(%d)' % pid)['params']
    check_eq(ev['kind'], 'dhcp', 'profile.error kind')
    check('no option 120' in ev['message'], 'profile.error message: %r', ev['message'])


def test_proxy_named_by_name(fx):
    """Option 120 with a domain name (RFC 3361 encoding 0): the name is
    looked up (RFC 3263, a name server in the network namespace) and the
    REGISTER arrives at its address."""
    w, reg, dhcp = dhcp_world(fx, ['tag:wifi,120,proxy.example.test'])
    dns = proxy_name_server(fx, w)
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    pid = c.call('profile.create', {'profile': dhcp_profile()})['profile']['id']
    registered(c, pid)
    registers_arrived_at(reg, WIFI_PROXY)
    st = state_once(c, pid, lambda s: s['proxy'] is not None)
    check_eq((st['proxy'], st['proxy_from']), ('sip:proxy.example.test', 'dhcp'),
             'proxy named by DHCP')
    check(any('proxy.example.test' in q for q in dns.queries()),
          'the name server was not asked for the proxy: %r', dns.queries())


def test_next_server_when_the_first_has_no_address(fx):
    """Wi-Fi's DHCP server names two proxies by name, the first one the
    name server does not know: alrd moves on to the second within the
    same attempt, as for a closed port; no failure reaches the engine."""
    w, reg, dhcp = dhcp_world(fx, ['tag:wifi,120,nowhere.example.test,proxy.example.test'])
    dns = proxy_name_server(fx, w)
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*', 'alr.*'])
    pid = c.call('profile.create', {'profile': dhcp_profile()})['profile']['id']
    ev = registered(c, pid)
    check_eq(host_of(ev['params']['contact']), WLAN, 'registered over Wi-Fi')
    registers_arrived_at(reg, WIFI_PROXY)
    check(any('nowhere.example.test' in q for q in dns.queries()),
          'the name server was not asked for the first proxy: %r', dns.queries())
    st = state_once(c, pid, lambda s: s['proxy'] == 'sip:proxy.example.test')
    check_eq(st['proxy_from'], 'dhcp', 'the second server named')
    check('cannot resolve nowhere.example.test' in d.log() and
          'trying the next proxy the network named, sip:proxy.example.test' in d.log(),
          "alrd's log does not say it moved on from the name that did not resolve")
    check(not [e for e in c.history if e['method'] in ('alr.error', 'profile.error')],
          'an error for a proxy whose name did not resolve: %s', c.history)


def _wifi_ipv6(w):
    """IPv6 on wlan0 (no DAD: addresses usable at once): 2001:db8:1::2
    with a default route via the far end's 2001:db8:1::1."""
    _sysctl(w.dev, 'net.ipv6.conf.wlan0.accept_dad=0', 'net.ipv6.conf.wlan0.disable_ipv6=0')
    _sysctl(w.net, 'net.ipv6.conf.wlan0p.accept_dad=0', 'net.ipv6.conf.wlan0p.disable_ipv6=0')
    # The link-local addresses come with the link going up again.
    for ns, dev in ((w.dev, 'wlan0'), (w.net, 'wlan0p')):
        alrtest.run(['ip', '-n', ns, 'link', 'set', dev, 'down'])
        alrtest.run(['ip', '-n', ns, 'link', 'set', dev, 'up'])
    w.ipn('addr', 'add', '2001:db8:1::1/64', 'dev', 'wlan0p', 'nodad')
    w.ipd('addr', 'add', WLAN6 + '/64', 'dev', 'wlan0', 'nodad')
    w.ipd('-6', 'route', 'add', 'default', 'via', '2001:db8:1::1', 'dev', 'wlan0')
    w.wait_links_up(['wlan0'])
    w.ipd('route', 'replace', 'default', 'via', w.links['wlan0']['gw'], 'dev', 'wlan0',
          'metric', str(w.links['wlan0']['metric']))


def test_ipv6_option_22(fx):
    """Wi-Fi's DHCPv6 server names a proxy by its IPv6 address (RFC 3319
    option 22), its DHCPv4 server none: alrd asks with an
    Information-Request from the link-local address and registers over
    IPv6 through that proxy (Kamailio's view: the REGISTER came from
    wlan0's IPv6 address to the proxy's)."""
    w, reg, dhcp = dhcp_world(
        fx, ['tag:wifi6,option6:sip-server,[%s]' % WIFI_PROXY6],
        extra_addrs=(WIFI_PROXY6,), before_dhcp=_wifi_ipv6,
        more=['--dhcp-range=set:wifi6,2001:db8:1::10,2001:db8:1::100,64,1h'])
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    wlan = iap_id(c, 'wlan0')
    pid = c.call('profile.create', {'profile': dhcp_profile()})['profile']['id']
    registered(c, pid)
    wait_bindings(reg, 'alice', 1, host='[%s]' % WLAN6)
    dst = [a.strip('[]') for a in arrived_at(reg, WLAN6)]
    check(dst and all(a == WIFI_PROXY6 for a in dst),
          'REGISTERs from %s arrived at %s, not all at %s (all: %s)', WLAN6, dst,
          WIFI_PROXY6, reg.registers())
    st = state_once(c, pid, lambda s: s['proxy'] is not None)
    check_eq((st['proxy'], st['proxy_from'], st['proxy_iap_id']),
             ('sip:[%s]' % WIFI_PROXY6, 'dhcp', wlan), 'proxy named by DHCPv6')
    check('options 21/22' in (st['dhcp'] or ''), 'state.dhcp: %r', st['dhcp'])


def test_no_dhcp_server_registers_as_usual(fx):
    """Nobody answers the DHCPINFORM (no DHCP server on either network):
    after the bounded retries (two messages, ~12 s) the profile registers
    to the registrar directly; state and log say nobody answered."""
    w, reg = sip_world(fx, extra_addrs=(WIFI_PROXY,))
    d = daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    pid = c.call('profile.create', {'profile': dhcp_profile()})['profile']['id']
    registered(c, pid, T(30))
    wait_bindings(reg, 'alice', 1, host=WLAN)
    st = state_once(c, pid, lambda s: s['dhcp'] is not None)
    check_eq(st['proxy'], None, 'proxy')
    check('no DHCP server answered (2 DHCPINFORMs' in (st['dhcp'] or ''),
          'state.dhcp does not say nobody answered: %r', st['dhcp'])
    check('no DHCP server answered' in d.log(), "alrd's log does not say nobody answered")
    ev = c.wait_event(lambda e: e['method'] == 'profile.error' and e['params']['id'] == pid,
                      T(5), 'profile.error(%d)' % pid)['params']
    check_eq(ev['kind'], 'dhcp', 'profile.error kind')
    check('no DHCP server answered' in ev['message'], 'profile.error message: %r',
          ev['message'])


if __name__ == '__main__':
    alrtest.main()
