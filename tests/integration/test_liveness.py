#!/usr/bin/python3
"""Registrar liveness (docs/sip.md, "Liveness"; issue 15 item 2): a
registrar that restarts and forgets its bindings (Kamailio with usrloc in
memory, db_mode 0) gets alrd's binding back within [sip]
registration-check over UDP, and at once over TCP (the connection's loss
says it).  What is checked is Kamailio's own view: its bindings of alice
after the restart (kamcmd ul.lookup), not alrd's state.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peers'))

import alrtest  # noqa: E402
from alrtest import T, check, check_eq, wait_until  # noqa: E402
from test_profiles import (WLAN, WWAN, daemon, profile, sip_world,  # noqa: E402
                           wait_bindings)

NFT = '/usr/sbin/nft'


def silence_flow(w, binding):
    """Drop, at the registrar's side, every packet of the flow that
    Kamailio's @binding came over (its received=: alrd's address, port
    and transport), ahead of any other hook: a NAT on the way forgot it,
    and nothing says so.  unsilence_flow() lets it through again."""
    addr_port, _, params = binding['received'][len('sip:'):].partition(';')
    addr, port = addr_port.rsplit(':', 1)
    proto = 'udp' if 'transport=udp' in params else 'tcp'     # tcp, tls
    alrtest.run(['ip', 'netns', 'exec', w.net, NFT, '-f', '-'], input=(
        'table inet alrt_flow {\n'
        '  chain input {\n'
        '    type filter hook input priority -20; policy accept;\n'
        '    ip saddr %s %s sport %d drop\n'
        '  }\n'
        '}\n' % (addr, proto, int(port))))


def unsilence_flow(w):
    alrtest.run(['ip', 'netns', 'exec', w.net, NFT, 'delete', 'table', 'inet', 'alrt_flow'])


def restart_registrar(reg):
    """Stop Kamailio (its bindings are in memory: they go) and start it
    again; it is ready (answers kamcmd) when this returns."""
    reg.stop()
    reg.start()
    check_eq(reg.bindings('alice'), [], 'bindings right after the restart')


def test_udp_binding_back_after_a_registrar_restart(fx):
    """Over UDP nothing tells alrd that the registrar restarted: the
    registration check (every 2 s here; 25 s by default) asks for the
    AOR's bindings, finds its contact gone and registers again, long
    before the refresh (expires 600: 480-540 s).  Kamailio lists the same
    contact again; the profile never stopped being registered."""
    w, reg = sip_world(fx)
    d = daemon(fx, w, sip={'registration-check': '2'})
    c = fx.client(d)
    pid = c.call('profile.create', {'profile': profile('alice', auto_register=True)}
                 )['profile']['id']
    before = wait_bindings(reg, 'alice', 1, host=WLAN)[0]
    c.subscribe(['profile.*'])
    restart_registrar(reg)
    after = wait_bindings(reg, 'alice', 1, host=WLAN, timeout=T(15))[0]
    check_eq(after['contact'], before['contact'], 'the contact registered again')
    st = c.call('profile.get', {'id': pid})['profile']['state']
    check_eq(st['registration'], 'registered', "alrd's view after the restart")
    check('no longer lists' in d.log(),
          'no log line saying the registrar forgot the binding')


def test_tcp_binding_back_after_a_registrar_restart(fx):
    """Over TCP the restart closes alrd's connection: alrd registers again
    over a new one at once (no check needed: registration-check is 0)."""
    w, reg = sip_world(fx)
    d = daemon(fx, w, sip={'registration-check': '0'})
    c = fx.client(d)
    p = profile('alice', auto_register=True)
    p['registrar']['transport'] = 'tcp'
    c.call('profile.create', {'profile': p})
    before = wait_bindings(reg, 'alice', 1, host=WLAN)[0]
    check(before['contact'].endswith(';transport=tcp'), 'not over TCP: %r', before)
    restart_registrar(reg)
    after = wait_bindings(reg, 'alice', 1, host=WLAN, timeout=T(10))[0]
    check(after['contact'].endswith(';transport=tcp'), 'not over TCP: %r', after)



def test_tcp_connection_dead_in_silence(fx):
    """A connection that dies without a word (a NAT on the way forgot the
    flow: packets of alrd's connection to the registrar vanish, nothing
    is reset): alrd's keepalive ping (RFC 5626 §4.4.1, every 1 s here)
    gets no pong within 10 s, the connection counts as lost, and alrd
    registers again over a new one -- Kamailio's binding comes from a new
    source port.  Without keepalives nothing would happen until the
    refresh (480-540 s)."""
    w, reg = sip_world(fx)
    d = daemon(fx, w, sip={'keepalive': '1', 'registration-check': '0'})
    c = fx.client(d)
    p = profile('alice', auto_register=True)
    p['registrar']['transport'] = 'tcp'
    c.call('profile.create', {'profile': p})
    before = wait_bindings(reg, 'alice', 1, host=WLAN)[0]
    silence_flow(w, before)
    wait_until(lambda: 'no answer to a keepalive' in d.log(), T(20),
               "alrd's keepalive to fail")

    def moved():
        b = reg.bindings('alice')
        return [x for x in b if x['received'] != before['received']]
    after = wait_until(moved, T(15), 'a binding over a new connection')[0]
    check(after['received'].endswith(';transport=tcp'), 'not over TCP: %r', after)
    check_eq(after['contact'].split('@')[1].split(':')[0], WLAN, 'still over wlan0')



def test_outbound_two_flows_side_by_side(fx):
    """RFC 5626 outbound (issue 15 item 3) against a Kamailio that speaks
    it (registrar outbound_mode 1, Flow-Timer 5): alrd registers with
    +sip.instance, a reg-id per IAP and Supported: outbound; Kamailio
    answers Require: outbound and Flow-Timer, and alrd keeps that flow
    (TCP) alive at that pace.  When Wi-Fi comes back after a failover,
    the migration's REGISTER over wlan0 is a second flow of the same
    instance: Kamailio's 200 to it lists both bindings (true
    make-before-break: without reg-ids it would have replaced the
    cellular one in that instant), and alrd then removes the cellular one
    itself.  (alrd adds reg-ids once a 2xx has shown that the registrar
    does outbound: here the first one.)"""
    from test_roaming import WIFI_FIRST, roaming_daemon
    w, reg = sip_world(fx, flow_timer=5)
    d = roaming_daemon(fx, w, {'10-mobile.conf': WIFI_FIRST})
    c = fx.client(d)
    p = profile('alice', auto_register=True, snap_id=5)
    p['registrar']['transport'] = 'tcp'
    pid = c.call('profile.create', {'profile': p})['profile']['id']
    wait_bindings(reg, 'alice', 1, host=WLAN)
    wait_until(lambda: 'the registrar uses this flow (outbound), Flow-Timer 5 s' in d.log(),
               T(10), "alrd to take Kamailio's flow")

    w.carrier_down('wlan0')
    wait_bindings(reg, 'alice', 1, host=WWAN)
    log0 = os.path.getsize(reg.log_path)     # the migration back from here
    w.carrier_up('wlan0')
    last = wait_bindings(reg, 'alice', 1, host=WLAN, timeout=T(20))[0]

    def two_listed():
        with open(reg.log_path, errors='replace') as f:
            f.seek(log0)
            for line in f:
                if 'ALR-REG-OUT' in line and 'code=200' in line and \
                        line.count('reg-id=') >= 2:
                    return line
        return None
    line = wait_until(two_listed, T(5), "a 200 listing both flows")
    ids = set(re.findall(r'reg-id=(\d+)', line))
    check_eq(len(ids), 2, 'distinct reg-ids in the 200 that lists both flows: %s' % line)
    check(isinstance(last['reg_id'], int) and last['reg_id'] > 0,
          "Kamailio's Wi-Fi binding has no reg-id: %r", last)


def stun_counters(w):
    """nft counters in the registrar's namespace: STUN Binding Requests
    that reach its SIP port, and what it sends back from there (the
    magic cookie, RFC 5389 §6, 4 bytes into the UDP payload)."""
    alrtest.run(['ip', 'netns', 'exec', w.net, NFT, '-f', '-'], input=(
        'table inet alrt_stun {\n'
        '  counter requests {}\n'
        '  counter answers {}\n'
        '  chain input {\n'
        '    type filter hook input priority -10; policy accept;\n'
        '    udp dport 5060 @th,96,32 0x2112a442 counter name requests\n'
        '  }\n'
        '  chain output {\n'
        '    type filter hook output priority -10; policy accept;\n'
        '    udp sport 5060 @th,96,32 0x2112a442 counter name answers\n'
        '  }\n'
        '}\n'))

    def read():
        out = alrtest.run(['ip', 'netns', 'exec', w.net, NFT, '-j', 'list', 'counters',
                           'table', 'inet', 'alrt_stun']).stdout
        got = {}
        for item in json.loads(out)['nftables']:
            c = item.get('counter')
            if c:
                got[c['name']] = c['packets']
        return got.get('requests', 0), got.get('answers', 0)
    return read


def test_udp_outbound_flow_kept_by_stun(fx):
    """RFC 5626 §4.4.2 over UDP: Kamailio (outbound_mode 1, Flow-Timer 2,
    its stun module) answers Require: outbound, and alrd keeps the flow
    with STUN Binding Requests every 1.6-2 s, which Kamailio answers (its
    own counters).  Then the flow goes silent (the registrar's side drops
    everything from alrd's port): no STUN answer within 10 s, the flow
    failed, and alrd registers again -- Kamailio gets that REGISTER once
    the path is back.  Without the keepalive nothing would be sent before
    the refresh (expires 600), registration-check being 0 here."""
    w, reg = sip_world(fx, flow_timer=2)
    count = stun_counters(w)
    d = daemon(fx, w, sip={'registration-check': '0'})
    c = fx.client(d)
    c.call('profile.create', {'profile': profile('alice', auto_register=True)})
    before = wait_bindings(reg, 'alice', 1, host=WLAN)[0]
    wait_until(lambda: 'Flow-Timer 2 s: a STUN keepalive every' in d.log(), T(10),
               'alrd to keep the UDP flow by STUN')
    # The first 2xx showed outbound: the contact granted without a
    # reg-id gives way to the same contact with one (RFC 5626 §6: else
    # two bindings, calls forked to alrd twice).  Kamailio's view.
    wait_until(lambda: [b['reg_id'] for b in reg.bindings('alice')] not in ([], [0]),
               T(5), 'the reg-id binding at Kamailio')
    ids = [b['reg_id'] for b in reg.bindings('alice')]
    check(len(ids) == 1 and ids[0] > 0, "Kamailio's bindings of alice: reg-ids %s", ids)
    wait_until(lambda: count()[1] >= 2, T(10), 'Kamailio to answer two STUN keepalives')
    requests, answers = count()
    check(requests >= answers, 'more answers (%d) than requests (%d)', answers, requests)

    silence_flow(w, before)
    wait_until(lambda: 'no answer to a STUN keepalive' in d.log(), T(20),
               "alrd to find the flow dead")
    check('the flow failed (Connection timed out), registering again' in d.log(),
          'the binding did not register again after the flow failed')
    n_before = len(reg.registers())
    unsilence_flow(w)
    wait_until(lambda: len(reg.registers()) > n_before, T(10),
               'a REGISTER at Kamailio once the path is back')
    after = wait_bindings(reg, 'alice', 1, host=WLAN)[0]
    check_eq(after['contact'], before['contact'], 'the same contact registered again')


def test_udp_outbound_without_stun_keeps_the_binding(fx):
    """A registrar that says Require: outbound over UDP but answers no
    STUN (Kamailio without its stun module): twice no answer at all,
    alrd says so and stops sending STUN over that flow, and the binding
    stays (it does not register again every 12 s for ever)."""
    w, reg = sip_world(fx, flow_timer=2, stun=False)
    count = stun_counters(w)
    d = daemon(fx, w, sip={'registration-check': '0'})
    c = fx.client(d)
    c.call('profile.create', {'profile': profile('alice', auto_register=True)})
    before = wait_bindings(reg, 'alice', 1, host=WLAN)[0]
    wait_until(lambda: 'answers no STUN keepalive' in d.log(), T(40),
               'alrd to give up STUN over this flow')
    requests, answers = count()
    check_eq(answers, 0, 'STUN answers from a Kamailio without the stun module')
    check(requests > 0, 'no STUN request reached Kamailio')
    # No more STUN once it gave up: a bounded look for an absence (no
    # event marks "none sent"), three keepalive intervals.
    r0 = count()[0]
    try:
        wait_until(lambda: count()[0] > r0, T(6), 'another STUN request')
    except alrtest.TestFailure:
        pass
    else:
        check(False, 'STUN requests went on after alrd gave up: %d -> %d', r0, count()[0])
    check_eq(d.log().count('answers no STUN keepalive'), 1, 'times alrd gave up')
    after = wait_bindings(reg, 'alice', 1, host=WLAN)[0]
    check_eq(after['contact'], before['contact'], 'the binding stayed')


if __name__ == '__main__':
    alrtest.main()
