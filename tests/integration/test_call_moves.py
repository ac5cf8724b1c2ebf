#!/usr/bin/python3
"""What moves with a profile when its network changes (issue 14), against
real peers: subscriptions to a buddy's presence and dialog state, twenty
calls at once, and linphonec's call (docs/edge.md, "Moving a call").

Each test loses wlan0's carrier (the failover to wwan0) and then gives it
back (the SNAP ranks Wi-Fi first, no controller: the migration back
happens by itself), and checks after each move what the peers themselves
saw: the subscriber's NOTIFY bodies and baresip's own presence view, the
far end's SIP trace (no BYE, each call's re-INVITE answered) and the RTP
that each peer's kernel counted, linphonec's own call list; Kamailio's
view (where the presence server sent its NOTIFYs, which subscriptions it
refreshed) where it helps.

Peers: Kamailio as registrar, proxy and presence server (Debian's
kamailio-presence-modules: presence, presence_xml, presence_dialoginfo);
baresip and linphonec on the device through alrd's edge; SIPp in the
network namespace.
"""

import os
import re
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peers'))

import alrtest  # noqa: E402
from alrtest import T, TestFailure, check, check_eq  # noqa: E402
import callpeers  # noqa: E402
from callpeers import Baresip, Callers, FlowCounters, Linphonec  # noqa: E402
from kamailio import PRESENCE_MODULE  # noqa: E402
from test_edge import new_profile  # noqa: E402
from test_profiles import (REG_ADDR, USERS, WLAN, WWAN, registered, sip_world,  # noqa: E402
                           wait_bindings)
from test_roaming import WIFI_FIRST, roaming_daemon  # noqa: E402
from watcher import Publisher, Watcher  # noqa: E402

ALICE = 'sip:alice@example.test'
BOB = 'sip:bob@example.test'


def failover(w, c, pid):
    """wlan0 loses carrier; alrd registers alice over wwan0 at once."""
    w.carrier_down('wlan0')
    return c.wait_event(lambda e: e['method'] == 'profile.registered' and
                        e['params']['id'] == pid and
                        WWAN in (e['params'].get('contact') or ''), T(15),
                        'profile.registered over wwan0')


def migration_back(w, c, pid):
    """wlan0's carrier is back: after the SNAP's stable-time alrd migrates
    alice back to Wi-Fi by itself (no controller)."""
    w.carrier_up('wlan0')
    return c.wait_event(lambda e: e['method'] == 'alr.migration-completed' and
                        e['params']['profile'] == pid, T(20),
                        'alr.migration-completed (back to wlan0)')


# ---------------------------------------------------------------------------
# 1. Presence and dialog state through alrd across moves

def pidf(basic, activity, note):
    """A PIDF document (RFC 3863) for bob, with an RPID activity (RFC 4480)
    when @activity is set; @note tells the test which one it is."""
    person = ''
    if activity:
        person = ('  <dm:person id="p1"><rpid:activities><rpid:%s/></rpid:activities>'
                  '</dm:person>\n' % activity)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<presence xmlns="urn:ietf:params:xml:ns:pidf" '
            'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" '
            'xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="%s">\n'
            '  <tuple id="t1"><status><basic>%s</basic></status><note>%s</note></tuple>\n'
            '%s</presence>\n' % (BOB, basic, note, person))


def dialog_info(version, state, call_id):
    """bob's dialog state (RFC 4235): one dialog in @state."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="%d" '
            'state="full" entity="%s">\n'
            '  <dialog id="%s" call-id="%s" direction="recipient">'
            '<state>%s</state></dialog>\n'
            '</dialog-info>\n' % (version, BOB, call_id, call_id, state))


def dialog_state(body):
    m = re.search(r'<(?:\w+:)?dialog\b[^>]*\bid="([^"]*)"[^>]*>.*?'
                  r'<(?:\w+:)?state\b[^>]*>([^<]*)<', body, re.S)
    return m and (m.group(1), m.group(2).strip())


def pres_subscribes(reg, offset=0):
    """Kamailio's ALR-PRES lines for SUBSCRIBEs since @offset."""
    return [e for e in reg.log_events(offset)
            if e['kind'] == 'ALR-PRES' and e.get('method') == 'SUBSCRIBE']


def wait_refreshed(reg, callids, host, offset, what):
    """Until the presence server took a SUBSCRIBE in each dialog of
    @callids (a To tag) whose Contact is at @host: alrd's refresh from
    its new contact, in Kamailio's view."""
    def done():
        got = {e['callid'] for e in pres_subscribes(reg, offset)
               if e.get('totag') and host in (e.get('contact') or '')}
        return callids <= got
    try:
        alrtest.wait_until(done, T(15), what)
    except TestFailure as e:
        raise TestFailure('%s\nKamailio saw: %r' % (e, pres_subscribes(reg, offset)))


def presence_world(fx):
    """alice on the Wi-Fi-first SNAP, registered over wlan0, subscribed
    through alrd to bob's presence twice (baresip's presence module, a
    watcher) and to his dialog state (a watcher); bob has published his
    first state and every subscriber has it.  Kamailio is the registrar
    and presence server.  Returns a namespace: w, reg, c (a control client
    with profile.* and alr.*), pid, phone, wpres, wdlg, pres, dlg (bob's
    publishers), callids (the three subscriptions at Kamailio)."""
    if not os.path.exists(PRESENCE_MODULE):
        raise alrtest.Skip('no Kamailio presence modules (apt install '
                           'kamailio-presence-modules)')
    w, reg = sip_world(fx, presence=True)
    d = roaming_daemon(fx, w, {'10-mobile.conf': WIFI_FIRST})
    c = fx.client(d)
    c.subscribe(['profile.*', 'alr.*'])
    # The profile registered first: an application's SUBSCRIBE before
    # that gets 480, and baresip would try again only after 30 s.
    pid = new_profile(c, snap_id=5, auto_register=True)
    registered(c, pid)
    wait_bindings(reg, 'alice', 1, host=WLAN)

    pres = Publisher(w.net, BOB, 'presence', 'application/pidf+xml')
    dlg = Publisher(w.net, BOB, 'dialog', 'application/dialog-info+xml')
    pres.publish(pidf('open', None, 'bob-step-1'))
    dlg.publish(dialog_info(1, 'early', 'bob-call-1'))

    off = reg.log_size()
    phone = Baresip(fx, w, regint=600, presence=[BOB])
    phone.wait_registered()
    wpres = Watcher(fx, w.dev, ALICE, BOB, 'presence', 'application/pidf+xml', 5087)
    wdlg = Watcher(fx, w.dev, ALICE, BOB, 'dialog', 'application/dialog-info+xml', 5088)
    wpres.wait_status()
    wdlg.wait_status()
    wpres.wait_notify(lambda n: 'bob-step-1' in n['body'], what="bob's first presence")
    wdlg.wait_notify(lambda n: dialog_state(n['body']) == ('bob-call-1', 'early'),
                     what="bob's first dialog state")
    phone.wait_presence(BOB, 'Online')
    # Kamailio's view: three subscriptions, each from alrd's contact over
    # wlan0 (never a loopback one).
    subs = pres_subscribes(reg, off)
    check_eq(sorted((e.get('event'), WLAN in (e.get('contact') or '')) for e in subs),
             [('dialog', True), ('presence', True), ('presence', True)],
             "the SUBSCRIBEs Kamailio took (event, from wlan0's contact): %r" % subs)
    callids = {e['callid'] for e in subs}
    return types.SimpleNamespace(w=w, reg=reg, c=c, pid=pid, phone=phone, wpres=wpres,
                                 wdlg=wdlg, pres=pres, dlg=dlg, callids=callids)


def check_nobody_saw_an_end(s):
    """No subscriber saw its subscription end: the watchers' NOTIFYs all
    came in their own dialogs, none said terminated, nothing else came;
    baresip never said its subscription closed."""
    for wt in (s.wpres, s.wdlg):
        ns = wt.notifies()
        check_eq(wt.terminated(), [], 'terminated NOTIFYs at the %s watcher' % wt.event)
        check(all(n['same_dialog'] for n in ns),
              'NOTIFYs outside the %s watcher\'s dialog: %r', wt.event, ns)
        check_eq(wt.strays, [], 'requests outside the %s watcher\'s dialog' % wt.event)
    check('subscriber closed' not in s.phone.output(),
          'baresip saw its presence subscription end:\n%s', s.phone.output()[-2000:])


def test_presence_and_dialog_state_follow_the_profile(fx):
    """alice subscribes through alrd to bob's presence twice (baresip's
    presence module, and a watcher that keeps the NOTIFY bodies) and to
    his dialog state (a watcher: no softphone here subscribes to Event:
    dialog); Kamailio is the presence server, bob PUBLISHes.  After the
    failover and after the migration back, alrd refreshes each
    subscription in its dialog from the new contact (Kamailio's view),
    and bob's next state reaches every subscriber: baresip shows it, the
    watchers get it in the dialog they made.  Nobody sees a subscription
    end until the watcher ends its own."""
    s = presence_world(fx)
    w, reg, c, pid, phone = s.w, s.reg, s.c, s.pid, s.phone
    wpres, wdlg, pres, dlg, callids = s.wpres, s.wdlg, s.pres, s.dlg, s.callids

    # Wi-Fi lost: each subscription is refreshed from alrd's contact over
    # wwan0, and bob's next state reaches every subscriber.
    off = reg.log_size()
    failover(w, c, pid)
    wait_refreshed(reg, callids, WWAN, off, 'the three subscriptions refreshed from wwan0')
    pres.publish(pidf('open', 'on-the-phone', 'bob-step-2'))
    dlg.publish(dialog_info(2, 'confirmed', 'bob-call-1'))
    wpres.wait_notify(lambda n: 'bob-step-2' in n['body'],
                      what="bob's presence after the failover")
    wdlg.wait_notify(lambda n: dialog_state(n['body']) == ('bob-call-1', 'confirmed'),
                     what="bob's dialog state after the failover")
    phone.wait_presence(BOB, 'Busy')
    sent = [e for e in reg.log_events(off) if e['kind'] == 'ALR-NOTIFY']
    check(sent and all(WWAN in (e.get('ruri') or '') for e in sent),
          "Kamailio's NOTIFYs after the failover went to wwan0's contact: %r", sent)

    # Wi-Fi back: the migration moves them back, the same way.
    off = reg.log_size()
    migration_back(w, c, pid)
    wait_bindings(reg, 'alice', 1, host=WLAN)
    wait_refreshed(reg, callids, WLAN, off, 'the three subscriptions refreshed from wlan0')
    pres.publish(pidf('closed', None, 'bob-step-3'))
    dlg.publish(dialog_info(3, 'terminated', 'bob-call-1'))
    wpres.wait_notify(lambda n: 'bob-step-3' in n['body'],
                      what="bob's presence after the migration back")
    wdlg.wait_notify(lambda n: dialog_state(n['body']) == ('bob-call-1', 'terminated'),
                     what="bob's dialog state after the migration back")
    phone.wait_presence(BOB, 'Offline')
    sent = [e for e in reg.log_events(off) if e['kind'] == 'ALR-NOTIFY']
    check(sent and all(WLAN in (e.get('ruri') or '') for e in sent),
          "Kamailio's NOTIFYs after the migration back went to wlan0's contact: %r", sent)

    # Nobody saw a subscription end; each stayed the dialog it began as:
    # the watchers' NOTIFYs all came in their dialogs, Kamailio took no
    # new subscription (the same three Call-IDs) and never ended one.
    check_nobody_saw_an_end(s)
    everything = reg.log_events()
    check_eq({e['callid'] for e in everything
              if e['kind'] == 'ALR-PRES' and e.get('method') == 'SUBSCRIBE'}, callids,
             "the subscriptions' Call-IDs at Kamailio")
    ended = [e for e in everything if e['kind'] == 'ALR-NOTIFY' and
             (e.get('state') or '').startswith('terminated')]
    check_eq(ended, [], "Kamailio's NOTIFYs that ended a subscription")

    # The watcher can see an end when there is one: it asks for it.
    check_eq(wdlg.unsubscribe(), 200, 'the unsubscription through alrd')
    wdlg.wait_notify(lambda n: n['state'].startswith('terminated'),
                     what='the NOTIFY that ends the subscription it ended')


def test_subscriptions_renewed_when_the_notifier_lost_them(fx):
    """The presence server restarts (Kamailio keeps subscriptions and
    publications in memory only: it forgets them all) and then Wi-Fi
    loses carrier.  alrd's refresh of each subscription from wwan0 gets
    an error from the notifier, which lost the dialog (Kamailio: 481), so
    alrd makes a new SUBSCRIBE for the same application dialog (docs/edge.md,
    "Moving a call"): Kamailio takes three new subscriptions from
    alrd's wwan0 contact, and bob's next state reaches every subscriber in
    the dialog it has had from the start; none of them sees its
    subscription end."""
    s = presence_world(fx)
    s.reg.stop()
    s.reg.start()
    off = s.reg.log_size()
    failover(s.w, s.c, s.pid)

    def renewed():
        new = [e for e in pres_subscribes(s.reg, off) if not e.get('totag') and
               WWAN in (e.get('contact') or '')]
        return len(new) >= 3 and new
    try:
        new = alrtest.wait_until(renewed, T(20), 'three new SUBSCRIBEs from wwan0')
    except TestFailure as e:
        raise TestFailure('%s\nKamailio saw: %r' % (e, pres_subscribes(s.reg, off)))
    check_eq(sorted(e.get('event') for e in new), ['dialog', 'presence', 'presence'],
             "the new subscriptions' events")
    refreshed = {e['callid'] for e in pres_subscribes(s.reg, off) if e.get('totag')}
    check_eq(refreshed, s.callids, 'the dialogs alrd refreshed first (Kamailio had lost them)')
    # bob publishes again (his publications went with the restart).
    pres = Publisher(s.w.net, BOB, 'presence', 'application/pidf+xml')
    dlg = Publisher(s.w.net, BOB, 'dialog', 'application/dialog-info+xml')
    pres.publish(pidf('open', 'on-the-phone', 'bob-step-2'))
    dlg.publish(dialog_info(2, 'confirmed', 'bob-call-1'))
    s.wpres.wait_notify(lambda n: 'bob-step-2' in n['body'],
                        what="bob's presence through the renewed subscription")
    s.wdlg.wait_notify(lambda n: dialog_state(n['body']) == ('bob-call-1', 'confirmed'),
                       what="bob's dialog state through the renewed subscription")
    s.phone.wait_presence(BOB, 'Busy')
    check_nobody_saw_an_end(s)


# ---------------------------------------------------------------------------
# 2. Twenty calls on one profile

N_CALLS = 20


def call_events(c, method, n, pred=lambda call: True, timeout=None):
    """n events @method for n different calls (for which pred holds):
    {call id: the event's params}."""
    got = {}
    deadline = time.monotonic() + (timeout or T(30))
    while len(got) < n:
        left = deadline - time.monotonic()
        try:
            ev = c.wait_event(lambda e: e['method'] == method and
                              e['params']['call']['id'] not in got and
                              pred(e['params']), max(left, 0.1),
                              '%s for %d calls' % (method, n))
        except TestFailure as e:
            raise TestFailure('%s (got %d: %r)' % (e, len(got), sorted(got)))
        got[ev['params']['call']['id']] = ev['params']
    return got


def media_flows(callers, app, n, what, packets=40):
    """RTP flows again both ways in every call: counted from now by each
    side's kernel, n streams reach the callers (one from each of alrd's
    relay ports) and n reach baresip (one at each of its calls' ports),
    each of @packets packets."""
    callers.media.reset()
    app.reset()
    try:
        callers.media.wait_streams(n, packets, what='%s: at the callers' % what)
        app.wait_streams(n, packets, what='%s: at baresip' % what)
    except TestFailure as e:
        raise TestFailure('%s\nat the callers, per source: %r\nat baresip, per port: %r'
                          % (e, callers.media.packets(), app.packets()))


def lost_in_the_network(w):
    """Packets that the network namespace sends towards a device link
    without carrier are lost on the way, as in a real network, instead of
    failing at once (ENETUNREACH: wlan0p is down, and with it the route):
    SIPp's RTP echo stops for good at the first send that fails, and an
    echo of a packet still in flight when Wi-Fi went would stop it.  A
    veth pair inside the network namespace (the kernel here has no dummy
    links), without ARP, takes them at a lower priority than the links'
    own routes."""
    w.ipn('link', 'add', 'lost0', 'type', 'veth', 'peer', 'name', 'lost0p')
    w.ipn('link', 'set', 'lost0p', 'up')
    w.ipn('link', 'set', 'lost0', 'arp', 'off', 'up')
    for spec in w.links.values():
        w.ipn('route', 'add', '10.99.%d.0/24' % spec['n'], 'dev', 'lost0', 'metric', '1000')


def test_twenty_calls_follow_the_profile(fx):
    """Twenty callers in the network (SIPp) call alice's AOR through
    Kamailio at once; baresip answers all twenty through alrd.  Wi-Fi
    loses carrier: every call moves to wwan0 (call.moved each, the same
    calls in call.list, now over wwan0), every caller took its re-INVITE
    and saw no BYE, and RTP flows again both ways in every call (twenty
    streams at the callers and twenty at baresip, counted by their
    kernels).
    Wi-Fi returns: the migration moves all twenty back the same way.
    Then the callers hang up: each BYE answered, baresip saw each call
    close only then."""
    w, reg = sip_world(fx)
    lost_in_the_network(w)
    d = roaming_daemon(fx, w, {'10-mobile.conf': WIFI_FIRST})
    c = fx.client(d)
    c.subscribe(['profile.*', 'call.*', 'alr.*'])
    pid = new_profile(c, snap_id=5)
    phone = Baresip(fx, w, answer='auto', max_calls=N_CALLS + 4, rtp_ports=(31000, 31119))
    phone.wait_registered()
    registered(c, pid)
    wait_bindings(reg, 'alice', 1, host=WLAN)
    app = FlowCounters(fx, w.dev, (31000, 31119), name='alice')

    callers = Callers(fx, w.net, ALICE, N_CALLS)
    callers.wait_answered()
    answered = call_events(c, 'call.answered', N_CALLS)
    ids = set(answered)
    listed = c.call('call.list', {'profile': pid})['calls']
    check_eq(sorted((x['id'], x['state'], x['interface']) for x in listed),
             sorted((i, 'answered', 'wlan0') for i in ids), 'call.list before the move')
    media_flows(callers, app, N_CALLS, 'media in all %d calls over wlan0' % N_CALLS)

    failover(w, c, pid)
    moved = call_events(c, 'call.moved', N_CALLS)
    check_eq(set(moved), ids, 'the calls that moved')
    check_eq({(m['from_interface'], m['call']['interface']) for m in moved.values()},
             {('wlan0', 'wwan0')}, 'each move')
    listed = c.call('call.list', {'profile': pid})['calls']
    check_eq(sorted((x['id'], x['state'], x['interface'], x['moves']) for x in listed),
             sorted((i, 'answered', 'wwan0', 1) for i in ids), 'call.list after the failover')
    media_flows(callers, app, N_CALLS, 'media in all %d calls over wwan0' % N_CALLS)
    calls = callers.calls()
    check_eq({cid: (x['reinvites'], x['reinvites_answered'], x['bye']) for cid, x in calls.items()},
             {cid: (1, 1, None) for cid in calls},
             "each caller's view after the failover (re-INVITEs, answered, BYE)")
    check_eq([e for e in phone.history if e.get('type') == 'CALL_CLOSED'], [],
             'calls baresip saw close')

    migration_back(w, c, pid)
    moved = call_events(c, 'call.moved', N_CALLS, timeout=T(30))
    check_eq(set(moved), ids, 'the calls that moved back')
    check_eq({(m['from_interface'], m['call']['interface']) for m in moved.values()},
             {('wwan0', 'wlan0')}, 'each move back')
    listed = c.call('call.list', {'profile': pid})['calls']
    check_eq(sorted((x['id'], x['state'], x['interface'], x['moves']) for x in listed),
             sorted((i, 'answered', 'wlan0', 2) for i in ids), 'call.list after the move back')
    media_flows(callers, app, N_CALLS, 'media in all %d calls over wlan0 again' % N_CALLS)
    calls = callers.calls()
    check_eq({cid: (x['reinvites'], x['reinvites_answered'], x['bye']) for cid, x in calls.items()},
             {cid: (2, 2, None) for cid in calls},
             "each caller's view after the migration back")

    callers.hangup()
    ended = call_events(c, 'call.ended', N_CALLS)
    check_eq({e['call']['end_reason'] for e in ended.values()}, {'bye-from-network'},
             'why the calls ended')
    check_eq(callers.wait_done(), 0, "SIPp's exit status (every call completed):\n"
             + callers.tail())
    calls = callers.calls()
    check_eq({cid: (x['bye'], x['bye_status']) for cid, x in calls.items()},
             {cid: ('caller', 200) for cid in calls}, "the callers' BYEs")
    for _ in range(N_CALLS):
        phone.wait_call('CALL_CLOSED')
    check_eq(c.call('call.list')['calls'], [], 'no call left')


# ---------------------------------------------------------------------------
# 3. linphonec's call

def linphonec_call_up(phone, bob, what):
    """linphonec's call with bob is still up, in both phones' own views:
    linphonec lists it with its media running and never said it ended,
    bob's baresip never saw it close, and media arrives at both again
    (counted from now by their kernels)."""
    check_eq(list(phone.call_states().values()), ['StreamsRunning'],
             "linphonec's own list of calls (%s)" % what)
    check_eq([e for e in phone.events() if e[0] == 'ended'], [],
             'calls linphonec saw end (%s)' % what)
    check(not any(e.get('type') == 'CALL_CLOSED' for e in bob.history),
          'bob saw the call close (%s): %r', what, bob.history)
    phone.rtp_counter.reset()
    bob.rtp_counter.reset()
    phone.wait_rtp(40)
    bob.wait_rtp(40)


def test_linphonec_call_follows_the_profile(fx):
    """linphonec (through alrd) calls bob, a baresip in the network
    registered at Kamailio; media flows.  Wi-Fi loses carrier: alrd moves
    the call to wwan0 (call.moved), and linphonec is still in the call
    with its media running, media flowing both ways again; Wi-Fi returns
    and the migration moves the call back the same way.  Then linphonec
    hangs up and bob sees it."""
    w, reg = sip_world(fx)
    d = roaming_daemon(fx, w, {'10-mobile.conf': WIFI_FIRST})
    c = fx.client(d)
    c.subscribe(['profile.*', 'call.*', 'alr.*'])
    pid = new_profile(c, snap_id=5)
    phone = Linphonec(fx, w, aor=ALICE)
    phone.wait_registered()
    registered(c, pid)
    wait_bindings(reg, 'alice', 1, host=WLAN)
    callpeers._ensure_addr(w.net, '10.99.100.6')
    bob = Baresip(fx, w, aor=BOB, password=USERS['bob'], outbound='sip:%s;lr' % REG_ADDR,
                  listen='10.99.100.6:5070', ns=w.net, ctrl_port=4445,
                  rtp_ports=(33000, 33099), answer='auto')
    bob.wait_registered()

    phone.dial(BOB)
    bob.wait_call('CALL_ESTABLISHED')
    phone.wait_output('connected')
    ans = c.wait_event(lambda e: e['method'] == 'call.answered', T(10), 'call.answered')
    call_id = ans['params']['call']['id']
    linphonec_call_up(phone, bob, 'before the move')

    failover(w, c, pid)
    moved = c.wait_event(lambda e: e['method'] == 'call.moved', T(15), 'call.moved')
    check_eq((moved['params']['call']['id'], moved['params']['from_interface'],
              moved['params']['call']['interface']), (call_id, 'wlan0', 'wwan0'), 'the move')
    linphonec_call_up(phone, bob, 'after the failover')

    migration_back(w, c, pid)
    moved = c.wait_event(lambda e: e['method'] == 'call.moved', T(20), 'call.moved back')
    check_eq((moved['params']['call']['id'], moved['params']['from_interface'],
              moved['params']['call']['interface']), (call_id, 'wwan0', 'wlan0'),
             'the move back')
    linphonec_call_up(phone, bob, 'after the migration back')

    phone.hangup()
    phone.wait_output('ended')
    bob.wait_call('CALL_CLOSED')
    ended = c.wait_event(lambda e: e['method'] == 'call.ended', T(10), 'call.ended')
    check_eq(ended['params']['call']['end_reason'], 'bye-from-application', 'why it ended')


if __name__ == '__main__':
    sys.exit(alrtest.main(globals()))
