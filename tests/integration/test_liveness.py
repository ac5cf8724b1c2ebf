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
from alrtest import T, check, check_eq  # noqa: E402
from test_profiles import (WLAN, daemon, profile, sip_world,  # noqa: E402
                           wait_bindings)


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


if __name__ == '__main__':
    alrtest.main()
