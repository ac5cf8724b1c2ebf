#!/usr/bin/python3
"""Registrar liveness (docs/sip.md, "Liveness"; issue 15 item 2): a
registrar that restarts and forgets its bindings (Kamailio with usrloc in
memory, db_mode 0) gets alrd's binding back within [sip]
registration-check over UDP, and at once over TCP (the connection's loss
says it).  What is checked is Kamailio's own view: its bindings of alice
after the restart (kamcmd ul.lookup), not alrd's state.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peers'))

import alrtest  # noqa: E402
from alrtest import T, check, check_eq, wait_until  # noqa: E402
from test_profiles import (WLAN, daemon, profile, sip_world,  # noqa: E402
                           wait_bindings)

NFT = '/usr/sbin/nft'


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
    port = int(before['received'].split(':')[2].split(';')[0])
    # The flow vanishes at the registrar's side: its packets are dropped.
    alrtest.run(['ip', 'netns', 'exec', w.net, NFT, '-f', '-'], input=(
        'table inet alrt_flow {\n'
        '  chain input {\n'
        '    type filter hook input priority 0; policy accept;\n'
        '    ip saddr %s tcp sport %d drop\n'
        '  }\n'
        '}\n' % (WLAN, port)))
    wait_until(lambda: 'no answer to a keepalive' in d.log(), T(20),
               "alrd's keepalive to fail")

    def moved():
        b = reg.bindings('alice')
        return [x for x in b if x['received'] != before['received']]
    after = wait_until(moved, T(15), 'a binding over a new connection')[0]
    check(after['received'].endswith(';transport=tcp'), 'not over TCP: %r', after)
    check_eq(after['contact'].split('@')[1].split(':')[0], WLAN, 'still over wlan0')


if __name__ == '__main__':
    alrtest.main()
