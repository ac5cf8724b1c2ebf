#!/usr/bin/python3
"""The call peers (peers/callpeers.py) and Kamailio's call routing
(peers/kamailio.cfg.tmpl), proved without alrd in the call path: what
alrd's own call tests (the B2BUA at the edge) build on.

The world is test_profiles.py's sip_world(): the device namespace with
wlan0 (10.99.1.2) and wwan0, Kamailio in the network namespace on
10.99.100.1.  Here baresip in the device namespace registers *directly*
at Kamailio (outbound proxy 10.99.100.1, over wlan0); a SIPp caller
(10.99.100.2) and a SIPp callee, bob (10.99.100.3), live in the network
namespace.  Every count of media is the receiver's own kernel's
(nftables counters in its namespace); every SIP outcome is what the peer
itself saw (SIPp's message trace, baresip's events), and the routing is
checked against Kamailio's own log.

Needs root, Kamailio, SIPp, baresip and nft; exits 77 (skipped) without
them.

Usage: test_callpeers.py [-b BUILD_DIR] [NAME_SUBSTRING ...]
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, 'peers'))

import alrtest  # noqa: E402
from alrtest import T, check, check_eq  # noqa: E402
from callpeers import Baresip, Callee, Caller, Linphonec, send_message  # noqa: E402
from test_profiles import REG_ADDR, USERS, WLAN, sip_world, wait_bindings  # noqa: E402

ALICE = 'sip:alice@example.test'
BOB = 'sip:bob@example.test'
# 50 packets a second each way: a 3 s call carries about 150.  Half of
# that proves media flowed for the whole call, not a burst at its start.
TALK = 3
MIN_RTP = 60


def phone_at_kamailio(fx, w, **kw):
    """baresip as alice, registered directly at Kamailio over wlan0."""
    phone = Baresip(fx, w, aor=ALICE, password=USERS['alice'],
                    outbound='sip:%s;lr' % REG_ADDR, listen='%s:5060' % WLAN,
                    **kw)
    phone.wait_registered()
    wait_bindings(reg_of(w), 'alice', 1, host=WLAN)
    return phone


_regs = {}


def reg_of(w):
    return _regs[w.net]


def world(fx, **kw):
    w, reg = sip_world(fx, **kw)
    _regs[w.net] = reg
    return w, reg


def routes(reg, method):
    return [e for e in reg.log_events() if e['kind'] == 'ALR-ROUTE'
            and e.get('method') == method]


# ---------------------------------------------------------------------------


def test_call_to_baresip_through_kamailio(fx):
    """SIPp calls alice; Kamailio finds baresip's binding and relays; baresip
    answers by itself; media both ways; the caller hangs up."""
    w, reg = world(fx)
    phone = phone_at_kamailio(fx, w)
    call = Caller(fx, w.net, ALICE, talk=TALK)
    check_eq(call.wait_status(), 200, 'answer to the INVITE (caller)')
    ev = phone.wait_call('CALL_ESTABLISHED')
    check_eq(ev.get('direction'), 'incoming', 'baresip: call direction')
    check('caller@example.net' in ev.get('peeruri', ''), 'baresip: peer %r', ev)
    r = call.wait_done()
    check_eq(r['ended_by'], 'caller', 'who hung up')
    check_eq(r['bye_status'], 200, 'answer to the caller\'s BYE')
    check_eq(r['exit_code'], 0, 'SIPp exit status')
    closed = phone.wait_call('CALL_CLOSED')
    check(r['rtp_received'] >= MIN_RTP, 'RTP at the caller: %d packets (%r)',
          r['rtp_received'], r)
    got = phone.rtp_received()
    check(got >= MIN_RTP, 'RTP at baresip: %d packets', got)
    # Kamailio routed it: its log names the relay to baresip's contact.
    inv = routes(reg, 'INVITE')
    check_eq([e['result'] for e in inv], ['relay'], 'Kamailio\'s routing')
    check(WLAN in (inv[0].get('dst') or ''), 'relayed to baresip: %r', inv)
    check_eq(closed.get('direction'), 'incoming', 'baresip: the call that closed')


def test_callee_hangs_up_and_caller_waits(fx):
    """The other direction of the end: baresip hangs up, the caller that
    waits for the BYE sees it."""
    w, reg = world(fx)
    phone = phone_at_kamailio(fx, w)
    call = Caller(fx, w.net, ALICE, talk=None, wait=30)
    call.wait_answered()
    phone.wait_call('CALL_ESTABLISHED')
    call.wait_rtp(MIN_RTP, T(10))
    phone.wait_rtp(MIN_RTP, T(10))
    phone.hangup()
    r = call.wait_done(T(20))
    check_eq(r['ended_by'], 'callee', 'who hung up')
    check_eq(r['exit_code'], 0, 'SIPp exit status')
    phone.wait_call('CALL_CLOSED')


def test_baresip_calls_bob(fx):
    """baresip dials bob (SIPp UAS registered at Kamailio); bob answers,
    media both ways, baresip hangs up."""
    w, reg = world(fx)
    bob = Callee(fx, w.net, 'bob', USERS['bob'])
    wait_bindings(reg, 'bob', 1)
    phone = phone_at_kamailio(fx, w)
    phone.dial(BOB)
    ev = phone.wait_call('CALL_ESTABLISHED')
    check_eq(ev.get('direction'), 'outgoing', 'baresip: call direction')
    c = bob.wait_call(lambda c: c['answered'], what='an answered call')
    check('alice@example.test' in c['from'], 'bob: caller %r', c)
    phone.wait_rtp(MIN_RTP, T(10))
    alrtest.wait_until(lambda: bob.rtp_received() >= MIN_RTP, T(10),
                       'RTP at bob')
    phone.hangup()
    phone.wait_call('CALL_CLOSED')
    c = bob.wait_call(lambda c: c['ended_by'], what='the end of the call')
    check_eq(c['ended_by'], 'caller', 'bob: who hung up')
    inv = routes(reg, 'INVITE')
    check_eq([e['result'] for e in inv], ['relay'], 'Kamailio\'s routing')
    check('10.99.100.3' in (inv[0].get('dst') or ''), 'relayed to bob: %r', inv)


def test_hangups_on_request(fx):
    """hangup() of each SIPp peer: the caller's BYE reaches baresip; bob's
    BYE reaches baresip, who called him."""
    w, reg = world(fx)
    bob = Callee(fx, w.net, 'bob', USERS['bob'])
    phone = phone_at_kamailio(fx, w)
    call = Caller(fx, w.net, ALICE, talk=None, wait=60)
    call.wait_answered()
    phone.wait_call('CALL_ESTABLISHED')
    call.hangup()
    r = call.wait_done(T(20))
    check((r['ended_by'], r['bye_status']) == ('caller', 200),
          "the caller's BYE: %r; SIPp's messages: %r", r,
          [(m['dir'], m['method'] or m['status'], m['cseq']) for m in call.messages()])
    phone.wait_call('CALL_CLOSED')

    phone.dial(BOB)
    phone.wait_call('CALL_ESTABLISHED')
    c = bob.wait_call(lambda c: c['answered'], what='an answered call')
    bob.hangup(c['call_id'])
    phone.wait_call('CALL_CLOSED')
    c = bob.wait_call(lambda c: c['bye_status'], what='the answer to bob\'s BYE')
    check_eq((c['ended_by'], c['bye_status']), ('callee', 200), 'bob\'s BYE')


def test_call_auth(fx):
    """With call_auth, Kamailio challenges alice's INVITE (407) and baresip
    answers the challenge; a caller from elsewhere is not challenged."""
    w, reg = world(fx, call_auth=True)
    bob = Callee(fx, w.net, 'bob', USERS['bob'])
    phone = phone_at_kamailio(fx, w)
    phone.dial(BOB)
    phone.wait_call('CALL_ESTABLISHED')
    bob.wait_call(lambda c: c['answered'], what='an answered call')
    phone.hangup()
    phone.wait_call('CALL_CLOSED')
    auth = [e for e in reg.log_events() if e['kind'] == 'ALR-AUTH']
    check(auth and auth[0]['result'] == '-5', 'a challenge for the INVITE: %r', auth)
    check_eq([e['result'] for e in routes(reg, 'INVITE')], ['relay'],
             'relayed once authenticated')
    call = Caller(fx, w.net, ALICE, talk=1)
    check_eq(call.wait_status(), 200, 'a call from elsewhere, unchallenged')
    call.wait_done()
    phone.wait_call('CALL_CLOSED')


def test_messages_both_ways(fx):
    w, reg = world(fx)
    bob = Callee(fx, w.net, 'bob', USERS['bob'])
    phone = phone_at_kamailio(fx, w, contacts=[BOB])
    phone.send_message(BOB, 'hello bob from baresip')
    m = bob.wait_message('hello bob from baresip')
    check('alice@example.test' in m['from'], 'bob: MESSAGE from %r', m)
    # And to alice, from the network namespace through Kamailio.
    status = send_message(w.net, '10.99.100.2', (REG_ADDR, 5060), ALICE,
                          'hello alice from the network')
    check_eq(status, 200, 'MESSAGE to alice through Kamailio')
    m = phone.wait_message('hello alice from the network')
    check_eq(routes(reg, 'MESSAGE')[-1]['result'], 'relay', 'Kamailio routed it')


def test_linphonec_calls(fx):
    """linphonec, registered directly at Kamailio: called by SIPp (answers
    by itself; its Contact in the dialog is a GRUU Kamailio resolves),
    calls bob, and MESSAGE both ways."""
    w, reg = world(fx)
    bob = Callee(fx, w.net, 'bob', USERS['bob'])
    phone = Linphonec(fx, w, aor=ALICE, password=USERS['alice'], proxy=REG_ADDR,
                      sip_port=5060)
    phone.wait_registered()
    b = wait_bindings(reg, 'alice', 1)
    check(WLAN in b[0]['received'], 'linphonec registered over wlan0: %r', b)
    call = Caller(fx, w.net, ALICE, talk=TALK)
    check_eq(call.wait_status(), 200, 'answer to the INVITE (caller)')
    phone.wait_output('connected')
    r = call.wait_done()
    check_eq((r['ended_by'], r['bye_status'], r['exit_code']), ('caller', 200, 0),
             'the caller\'s BYE through Kamailio')
    phone.wait_output('ended')
    check(r['rtp_received'] >= MIN_RTP, 'RTP at the caller: %r', r)
    check(phone.rtp_received() >= MIN_RTP, 'RTP at linphonec: %d',
          phone.rtp_received())

    phone.dial(BOB)
    phone.wait_output('connected', 2)
    bob.wait_call(lambda c: c['answered'], what='an answered call')
    alrtest.wait_until(lambda: bob.rtp_received() >= MIN_RTP, T(10), 'RTP at bob')
    phone.hangup()
    phone.wait_output('ended', 2)
    c = bob.wait_call(lambda c: c['ended_by'], what='the end of the call')
    check_eq(c['ended_by'], 'caller', 'bob: who hung up')

    phone.send_message(BOB, 'hello-bob-from-linphonec')
    bob.wait_message('hello-bob-from-linphonec')
    check_eq(send_message(w.net, '10.99.100.2', (REG_ADDR, 5060), ALICE,
                          'hello linphonec'), 200, 'MESSAGE to alice')
    phone.wait_message('hello linphonec')


def test_unreachable_callees(fx):
    """Kamailio's answers when nobody can take the call: an unknown user
    404, a subscriber with no binding 480."""
    w, reg = world(fx)
    call = Caller(fx, w.net, 'sip:nobody@example.test', talk=1)
    check_eq(call.wait_status(), 404, 'call to an unknown user')
    r = call.wait_done(T(20))
    check_eq(r['rtp_received'], 0, 'no media without a call')
    call = Caller(fx, w.net, ALICE, talk=1, sip_port=5072, media_port=20010)
    check_eq(call.wait_status(), 480, 'call to alice, not registered')
    call.wait_done(T(20))
    res = [e['result'] for e in routes(reg, 'INVITE')]
    check_eq(res, ['404', '480'], 'Kamailio\'s log')


def test_vanished_callee_is_480(fx):
    """A binding whose user agent is gone (killed, no unregistration):
    nothing answers the relayed INVITE, and after fr_timer Kamailio answers
    480 rather than 408."""
    w, reg = world(fx, fr_timer=2)
    phone = phone_at_kamailio(fx, w)
    phone.proc.kill()
    phone.proc.wait()
    check_eq(len(reg.bindings('alice')), 1, 'the binding outlives baresip')
    call = Caller(fx, w.net, ALICE, talk=1)
    check_eq(call.wait_status(T(20)), 480, 'call to a vanished contact')
    call.wait_done(T(20))
    res = [(e['result'], e.get('timeout')) for e in routes(reg, 'INVITE')]
    check_eq(res, [('relay', None), ('480', '1')], 'Kamailio\'s log')


if __name__ == '__main__':
    alrtest.main()
