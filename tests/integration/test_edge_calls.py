#!/usr/bin/python3
"""Calls through alrd's SIP edge (docs/edge.md, "Calls"; issue 13 items 3
to 5): alrd as a back-to-back user agent between a softphone registered at
its edge and the network.

Real peers: baresip (Debian's baresip-core, unmodified) in the device
namespace with alrd's edge as its outbound proxy and auto-answer; SIPp
(Debian's sip-tester) in the network namespace as the far end; Kamailio as
the registrar.  What is checked is the peers' own view: SIPp's exit status
(every message of its scenario received in order) and its statistics,
baresip's own output.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peers'))

import alrtest  # noqa: E402
import callpeers  # noqa: E402
from alrtest import T, TestFailure, check, check_eq  # noqa: E402
from callpeers import Baresip, Callee, Caller, Linphonec, Notifier  # noqa: E402
from test_edge import edge_daemon, local_event, new_profile, sipsend  # noqa: E402
from test_roaming import WIFI_FIRST, roaming_daemon  # noqa: E402
from alrtest import wait_until  # noqa: E402
from test_profiles import (REG_ADDR, USERS, WLAN, WWAN, host_of, registered,  # noqa: E402
                           sip_world, wait_bindings)

SIPP = '/usr/bin/sipp'


def contact_of(c, pid):
    st = c.call('profile.get', {'id': pid})['profile']['state']
    return st['contact']


class Sipp:
    """SIPp in the network namespace calling @contact (alrd's registered
    contact, 'sip:user@host:port') once with its default UAC scenario
    (INVITE with SDP, 100/180 optional, 200, ACK, a pause of @pause_ms,
    BYE, 200)."""

    def __init__(self, fx, w, contact, scenario='uac', timeout=30, pause_ms=1000,
                 extra=()):
        if not os.access(SIPP, os.X_OK):
            raise alrtest.Skip('no SIPp (apt install sip-tester)')
        user, hostport = contact[4:].split('@', 1)
        hostport = hostport.split(';')[0]
        self.tmp = tempfile.mkdtemp(prefix='alrt-sipp-')
        self.timeout = timeout
        fx._objs.append(self)
        how = ['-sf', scenario] if scenario.endswith('.xml') else ['-sn', scenario]
        argv = ['ip', 'netns', 'exec', w.net, SIPP, hostport] + how + ['-s', user,
                '-i', REG_ADDR, '-p', '5099', '-m', '1', '-l', '1', '-d', str(pause_ms),
                '-timeout', str(timeout), '-timeout_error', '-nostdin', '-trace_msg',
                '-message_file', os.path.join(self.tmp, 'msg.log')] + list(extra)
        self.proc = subprocess.Popen(argv, cwd=self.tmp, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)

    def wait(self):
        """(exit status, output and the messages SIPp sent and received)."""
        out = self.proc.communicate(timeout=self.timeout + 15)[0]
        msgs = ''
        if os.path.exists(os.path.join(self.tmp, 'msg.log')):
            with open(os.path.join(self.tmp, 'msg.log'), errors='replace') as f:
                msgs = f.read()
        return self.proc.returncode, out.decode(errors='replace') + msgs

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not os.environ.get('ALR_KEEP'):
            shutil.rmtree(self.tmp, ignore_errors=True)


def sipp_call(fx, w, contact, **kw):
    return Sipp(fx, w, contact, **kw).wait()


def test_call_from_the_network_reaches_baresip(fx):
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    pid = new_profile(c)
    phone = Baresip(fx, w, regint=600, answer=True)
    local_event(c, 'profile.local-registered', pid)
    registered(c, pid)
    wait_bindings(reg, 'alice', 1, host=WLAN)
    contact = contact_of(c, pid)
    c.subscribe(['profile.*', 'call.*'])
    sipp = Sipp(fx, w, contact, pause_ms=3000)
    # The call as control clients see it: events, then call.list.
    started = c.wait_event(lambda e: e['method'] == 'call.started', T(10), 'call.started')
    call = started['params']['call']
    check_eq((call['profile'], call['direction'], call['state'], call['interface']),
             (pid, 'incoming', 'ringing', 'wlan0'), 'call.started')
    check_eq(call['peer'], 'sip:sipp@%s:5099' % REG_ADDR, 'the caller')
    ans = c.wait_event(lambda e: e['method'] == 'call.answered', T(10), 'call.answered')
    check_eq(ans['params']['call']['id'], call['id'], 'the same call answered')
    listed = c.call('call.list', {'profile': pid})['calls']
    check_eq([(x['id'], x['state']) for x in listed], [(call['id'], 'answered')],
             'call.list during the call')
    check_eq(c.call('call.list', {'profile': pid + 1})['calls'], [],
             "call.list of another profile")
    rc, out = sipp.wait()
    if rc != 0:
        raise TestFailure('SIPp call to %s failed (exit %d):\n%s\nbaresip:\n%s\nalrd:\n%s' % (
            contact, rc, out[-4000:], phone.output()[-2000:], d.log_tail(60)))
    # baresip's own view: it answered SIPp's call (From the far end, as
    # alrd's application leg presents it) and saw it end with SIPp's BYE.
    out = phone.output()
    check('Call established: sip:sipp@%s' % REG_ADDR in out,
          'baresip did not answer the call from SIPp:\n%s', out[-2000:])
    alrtest.wait_until(lambda: 'terminated' in phone.output(), T(10),
                       "baresip's call ending after SIPp's BYE")
    ended = c.wait_event(lambda e: e['method'] == 'call.ended', T(10), 'call.ended')
    check_eq((ended['params']['call']['id'], ended['params']['call']['end_reason']),
             (call['id'], 'bye-from-network'), 'call.ended')
    check_eq(c.call('call.list')['calls'], [], 'call.list after the call')


def test_no_local_registration_is_480_at_once(fx):
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    pid = new_profile(c, auto_register=True)
    registered(c, pid)
    contact = contact_of(c, pid)
    rc, out = sipp_call(fx, w, contact, timeout=10)
    check(rc != 0, 'a call without a softphone succeeded:\n%s', out[-2000:])
    check('SIP/2.0 480' in out, 'no 480 from alrd:\n%s', out[-3000:])


def test_after_failover_the_next_call_comes_over_cellular(fx):
    """Wi-Fi loses carrier: alrd registers the profile over cellular
    (the registrar's own view: one binding, from wwan0's address, never a
    loopback one), and the next call to the AOR's contact reaches baresip
    over wwan0."""
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*', 'call.*'])
    pid = new_profile(c)
    phone = Baresip(fx, w, regint=600, answer=True)
    local_event(c, 'profile.local-registered', pid)
    registered(c, pid)
    wait_bindings(reg, 'alice', 1, host=WLAN)
    w.carrier_down('wlan0')
    b = wait_bindings(reg, 'alice', 1, host=WWAN)
    check('127.0.0.1' not in b[0]['contact'], 'a loopback contact at the registrar: %r', b)
    ev = c.wait_event(lambda e: e['method'] == 'profile.registered' and
                      WWAN in (e['params'].get('contact') or ''), T(10),
                      'profile.registered over wwan0')
    contact = ev['params']['contact']
    # For applications that run their own SIP stack: from where to where.
    mig = c.wait_event(lambda e: e['method'] == 'profile.migrated', T(10), 'profile.migrated')
    frm, to = mig['params']['from'], mig['params']['to']
    check_eq((frm['local'], to['local'], to['contact']), (WLAN, WWAN, contact),
             'profile.migrated: %r' % mig['params'])
    check(WLAN in frm['contact'] and frm['iap_id'] != to['iap_id'],
          'profile.migrated from: %r', frm)
    sipp = Sipp(fx, w, contact)
    started = c.wait_event(lambda e: e['method'] == 'call.started', T(10), 'call.started')
    check_eq(started['params']['call']['interface'], 'wwan0', 'the network leg after failover')
    rc, out = sipp.wait()
    if rc != 0:
        raise TestFailure('SIPp call over wwan0 failed (exit %d):\n%s\nalrd:\n%s' % (
            rc, out[-3000:], d.log_tail(60)))
    check('Call established: sip:sipp@%s' % REG_ADDR in phone.output(),
          'baresip did not answer:\n%s', phone.output()[-2000:])
    check_eq(len(reg.bindings('alice')), 1, 'bindings at the registrar after the call')


def phone_through_alrd(fx, w, reg, c, snap_id=None, **kw):
    """alice's profile (on SNAP @snap_id), and baresip registered at alrd's
    edge for it; the registrar holds alrd's one binding over wlan0."""
    c.subscribe(['profile.*', 'call.*'])
    pid = new_profile(c, **({'snap_id': snap_id} if snap_id else {}))
    phone = Baresip(fx, w, **kw)
    phone.wait_registered()
    local_event(c, 'profile.local-registered', pid)
    registered(c, pid)
    b = wait_bindings(reg, 'alice', 1, host=WLAN)
    check('127.0.0.1' not in b[0]['contact'], 'a loopback contact at the registrar: %r', b)
    return pid, phone


def test_call_through_kamailio_both_ways(fx):
    """A caller in the network calls alice's AOR through Kamailio: Kamailio
    routes it to alrd's contact, alrd to baresip, which answers; the
    caller hangs up.  Then baresip calls bob (a SIPp callee registered at
    Kamailio): the INVITE leaves over wlan0 from alrd's contact, bob
    answers, baresip hangs up.  Each peer's own view is checked."""
    # Kamailio gives a Service-Route at registration (RFC 3608): alrd's
    # calls out preload it.
    w, reg = sip_world(fx, call_auth=True, service_route='<sip:%s;lr;sr=alrtest>' % REG_ADDR)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    pid, phone = phone_through_alrd(fx, w, reg, c, answer='auto')
    bob = Callee(fx, w.net, 'bob', USERS['bob'])

    caller = Caller(fx, w.net, 'sip:alice@example.test', talk=2)
    phone.wait_call('CALL_ESTABLISHED')
    started = c.wait_event(lambda e: e['method'] == 'call.started', T(10), 'call.started')
    check_eq((started['params']['call']['direction'], started['params']['call']['interface']),
             ('incoming', 'wlan0'), 'the incoming call')
    res = caller.wait_done()
    check_eq((res['status'], res['answered'], res['ended_by'], res['bye_status']),
             (200, True, 'caller', 200), "the caller's view of the call")
    # Media both ways through alrd's relay: the caller in the network
    # namespace cannot reach baresip's loopback address; what each counts
    # (its own kernel's view) came through the relay.
    check(res['rtp_received'] >= 40, 'RTP packets the caller received: %r', res)
    check(phone.rtp_received() >= 40, 'RTP packets baresip received: %d',
          phone.rtp_received())
    phone.wait_call('CALL_CLOSED')
    c.wait_event(lambda e: e['method'] == 'call.ended', T(10), 'call.ended (in)')

    # Out: Kamailio challenges alice's INVITE (call_auth) and alrd answers
    # with the profile's credentials; baresip holds no password.
    off = reg.log_size()
    phone.rtp_counter.reset()
    phone.dial('sip:bob@example.test')
    call = bob.wait_call(lambda x: x['answered'], what='bob answered')
    check(call['from'] and 'alice@example.test' in call['from'],
          "bob's caller is alice: %r", call)
    phone.wait_call('CALL_ESTABLISHED')
    out = c.wait_event(lambda e: e['method'] == 'call.answered' and
                       e['params']['call']['direction'] == 'outgoing', T(10),
                       'call.answered (out)')
    check_eq(out['params']['call']['interface'], 'wlan0', 'the outgoing call over wlan0')
    ev = reg.log_events(off)
    challenged = {e.get('callid') for e in ev if e['kind'] == 'ALR-AUTH'}
    relayed = [e for e in ev if e['kind'] == 'ALR-ROUTE' and e.get('method') == 'INVITE'
               and e.get('result') == 'relay' and 'alice@' in (e.get('from') or '')]
    check(relayed and relayed[0].get('callid') in challenged,
          "Kamailio's view: alice's INVITE challenged, then relayed: %r", ev)
    check('sr=alrtest' in (relayed[0].get('route') or ''),
          "Kamailio's view: the INVITE carried its Service-Route: %r", relayed[0])
    phone.wait_rtp(40)
    alrtest.wait_until(lambda: bob.rtp_received() >= 40, T(10), 'RTP at bob')
    phone.hangup()
    bob.wait_call(lambda x: x['ended_by'] == 'caller', what='bob saw the BYE')
    c.wait_event(lambda e: e['method'] == 'call.ended' and
                 e['params']['call']['end_reason'] == 'bye-from-application', T(10),
                 'call.ended (out)')


def test_outbound_dialogs_carry_ob(fx):
    """RFC 5626 §4.3: when the registrar uses alrd's flow as outbound
    (Kamailio outbound_mode 1 answers Require: outbound), the Contact of
    the dialogs alrd starts over it carries ;ob, so that requests inside
    them come back over that flow.  bob's view (what SIPp received), and
    the call works both ways through it (bob's BYE reaches baresip)."""
    w, reg = sip_world(fx, flow_timer=30)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    pid, phone = phone_through_alrd(fx, w, reg, c, answer='auto')
    wait_until(lambda: 'the registrar uses this flow (outbound)' in d.log(), T(10),
               'alrd to take the flow as outbound')
    bob = Callee(fx, w.net, 'bob', USERS['bob'], talk=2)
    phone.dial('sip:bob@example.test')
    call = bob.wait_call(lambda x: x['answered'], what='bob answered')
    contact = call['contact'] or ''
    check(';ob>' in contact or contact.endswith(';ob'),
          "bob's INVITE Contact has no ;ob: %r", contact)
    bob.wait_call(lambda x: x['ended_by'] == 'callee' and x['bye_status'] == 200,
                  what="bob's BYE answered through alrd")
    phone.wait_call('CALL_CLOSED')


def test_early_media_reaches_the_application(fx):
    """bob answers with early media (183 with SDP, RFC 3960) two seconds
    before his 200: the 183 reaches baresip through alrd with the relay's
    SDP, and baresip receives bob's media before the call is established
    (its own kernel's count, its own events)."""
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    pid, phone = phone_through_alrd(fx, w, reg, c, answer='auto')
    bob = Callee(fx, w.net, 'bob', USERS['bob'], early_media=3)
    phone.rtp_counter.reset()
    phone.dial('sip:bob@example.test')
    phone.wait_call('CALL_PROGRESS')
    phone.wait_rtp(20)
    check(not any(e.get('type') == 'CALL_ESTABLISHED' for e in phone.history),
          'the call was established before the early media: %r', phone.history)
    phone.wait_call('CALL_ESTABLISHED')
    bob.wait_call(lambda x: x['answered'], what='bob answered')
    phone.hangup()
    bob.wait_call(lambda x: x['ended_by'] == 'caller', what='bob saw the BYE')


def test_messages_both_ways(fx):
    """MESSAGE from the network to alice reaches baresip; baresip's MESSAGE
    to bob leaves through alrd (challenged, answered by alrd) and reaches
    bob."""
    w, reg = sip_world(fx, call_auth=True)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    pid, phone = phone_through_alrd(fx, w, reg, c, contacts=['sip:bob@example.test'])
    bob = Callee(fx, w.net, 'bob', USERS['bob'])
    st = callpeers.send_message(w.net, '10.99.100.2', (REG_ADDR, 5060),
                                'sip:alice@example.test', 'hello alice from the network')
    check_eq(st, 200, 'MESSAGE to alice: the status the network sender got')
    phone.wait_message('hello alice from the network')
    phone.send_message('sip:bob@example.test', 'hello bob from alice')
    m = bob.wait_message('hello bob from alice')
    check('alice@example.test' in (m.get('from') or ''), "bob's MESSAGE is from alice: %r", m)


def test_linphonec_through_alrd(fx):
    """linphonec (Debian's linphone-cli, unmodified) with alrd's edge as its
    proxy and no password: called through Kamailio and alrd (answers by
    itself, media both ways through the relay), calls bob (challenged by
    Kamailio, answered by alrd), MESSAGE both ways."""
    w, reg = sip_world(fx, call_auth=True)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*', 'call.*'])
    pid = new_profile(c)
    bob = Callee(fx, w.net, 'bob', USERS['bob'])
    phone = Linphonec(fx, w, aor='sip:alice@example.test')
    phone.wait_registered()
    local_event(c, 'profile.local-registered', pid)
    registered(c, pid)
    b = wait_bindings(reg, 'alice', 1, host=WLAN)
    check('127.0.0.1' not in b[0]['contact'], 'a loopback contact at the registrar: %r', b)

    call = Caller(fx, w.net, 'sip:alice@example.test', talk=2)
    check_eq(call.wait_status(), 200, "the caller's answer")
    phone.wait_output('connected')
    r = call.wait_done()
    check_eq((r['ended_by'], r['bye_status']), ('caller', 200), "the caller's BYE")
    phone.wait_output('ended')
    check(r['rtp_received'] >= 40, 'RTP at the caller: %r', r)
    check(phone.rtp_received() >= 40, 'RTP at linphonec: %d', phone.rtp_received())

    phone.dial('sip:bob@example.test')
    phone.wait_output('connected', 2)
    bob.wait_call(lambda x: x['answered'], what='bob answered')
    alrtest.wait_until(lambda: bob.rtp_received() >= 40, T(10), 'RTP at bob')
    phone.hangup()
    phone.wait_output('ended', 2)
    x = bob.wait_call(lambda x: x['ended_by'], what='the end of the call')
    check_eq(x['ended_by'], 'caller', 'bob: who hung up')

    phone.send_message('sip:bob@example.test', 'hello-bob-from-linphonec')
    bob.wait_message('hello-bob-from-linphonec')
    check_eq(callpeers.send_message(w.net, '10.99.100.2', (REG_ADDR, 5060),
                                    'sip:alice@example.test', 'hello linphonec'),
             200, 'MESSAGE to alice')
    phone.wait_message('hello linphonec')


def test_caller_gives_up_while_it_rings(fx):
    """A caller CANCELs while baresip rings (manual answer): alrd answers
    the CANCEL 200 and the INVITE 487 (the caller's scenario completes,
    ACK included), cancels the application leg (baresip's own view: the
    call closed without being established), and reports call.ended
    'cancelled'."""
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    pid, phone = phone_through_alrd(fx, w, reg, c, answer='manual')
    contact = contact_of(c, pid)
    scen = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peers',
                        'sipp-cancel.xml')
    sipp = Sipp(fx, w, contact, scenario=scen)
    ended = c.wait_event(lambda e: e['method'] == 'call.ended', T(20), 'call.ended')
    check_eq(ended['params']['call']['end_reason'], 'cancelled', 'why the call ended')
    rc, out = sipp.wait()
    if rc != 0:
        raise TestFailure('the cancelling caller failed (exit %d):\n%s' % (rc, out[-3000:]))
    check('SIP/2.0 487' in out, 'no 487 for the INVITE:\n%s', out[-2000:])
    phone.wait_call('CALL_CLOSED')
    check(not any(e.get('type') == 'CALL_ESTABLISHED' for e in phone.history),
          'baresip answered a cancelled call: %r', phone.history)


def test_other_requests_leave_over_the_profile(fx):
    """An application's OPTIONS to a user leaves through alrd over the
    profile's IAP and Kamailio's answer comes back (alrd itself would not
    know bob: before, it answered 405); a PUBLISH gets Kamailio's 405 with
    Kamailio's reason; a BYE outside any dialog gets 481 from alrd."""
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    pid = new_profile(c, auto_register=True)
    registered(c, pid)

    def request(method, ruri='sip:bob@example.test'):
        return '\r\n'.join([
            '%s %s SIP/2.0' % (method, ruri),
            'Via: SIP/2.0/UDP 127.0.0.1:@LOCAL_PORT@;branch=z9hG4bK%s;rport'
            % uuid.uuid4().hex,
            'Max-Forwards: 70', 'From: <sip:alice@example.test>;tag=o1',
            'To: <%s>' % ruri, 'Call-ID: %s' % uuid.uuid4().hex,
            'CSeq: 1 %s' % method, 'Event: presence',
            'Content-Length: 0', '', ''])
    got = sipsend(w, [request('OPTIONS'), request('PUBLISH'), request('BYE')])
    check_eq([x and x['status'] for x in got], [200, 405, 481],
             'answers to OPTIONS, PUBLISH and a stray BYE: %r' % got)


def call_bob_softphone(fx, w, phone):
    """bob: a second baresip in the network namespace (10.99.100.6),
    registered at Kamailio with its own password; @phone (through alrd)
    calls it and both see the call established.  Returns bob."""
    callpeers._ensure_addr(w.net, '10.99.100.6')
    bob = Baresip(fx, w, aor='sip:bob@example.test', password=USERS['bob'],
                  outbound='sip:%s;lr' % REG_ADDR, listen='10.99.100.6:5070', ns=w.net,
                  ctrl_port=4445, rtp_ports=(33000, 33099), answer='auto')
    bob.wait_registered()
    phone.dial('sip:bob@example.test')
    phone.wait_call('CALL_ESTABLISHED')
    bob.wait_call('CALL_ESTABLISHED')
    return bob


def check_call_up(phone, bob):
    """The call between two baresips is still up: media arrives at both
    again (counted from now, by their own kernels) and neither saw it
    close."""
    bob.rtp_counter.reset()
    phone.rtp_counter.reset()
    bob.wait_rtp(40)
    phone.wait_rtp(40)
    for who, p in (('alice', phone), ('bob', bob)):
        check(not any(e.get('type') == 'CALL_CLOSED' for e in p.history),
              '%s saw the call close: %r', who, p.history)


def test_call_survives_the_failover(fx):
    """Issue 14's promise, first part: baresip (through alrd) calls bob, a
    second baresip in the network registered at Kamailio; media flows;
    Wi-Fi loses carrier.  alrd registers over cellular and moves the
    call's network side: relays on wwan0, a re-INVITE from the new
    contact through Kamailio, bob's 2xx.  Both phones stay in the call
    (neither saw it close) and media flows again both ways, with wlan0
    without carrier; call.moved says wlan0 -> wwan0.  Wi-Fi comes back: the
    profile migrates back and the call with it (wwan0 -> wlan0), media
    flowing again."""
    w, reg = sip_world(fx)
    # Wi-Fi before cellular, no controller: the move back is a migration.
    d = roaming_daemon(fx, w, {'10-mobile.conf': WIFI_FIRST})
    c = fx.client(d)
    pid, phone = phone_through_alrd(fx, w, reg, c, snap_id=5, answer='auto')
    bob = call_bob_softphone(fx, w, phone)
    bob.wait_rtp(40)
    phone.wait_rtp(40)
    seen = len(phone.history)

    w.carrier_down('wlan0')
    moved = c.wait_event(lambda e: e['method'] == 'call.moved', T(15), 'call.moved')
    check_eq((moved['params']['from_interface'], moved['params']['call']['interface']),
             ('wlan0', 'wwan0'), 'the move')
    check_eq(len(reg.bindings('alice')), 1, "the registrar's bindings after the failover")
    check_call_up(phone, bob)
    # The application saw nothing of it: no offer (re-INVITE) reached it.
    check_eq([e.get('type') for e in phone.history[seen:] if e.get('type') == 'CALL_REMOTE_SDP'],
             [], 'offers that reached the application during the move')
    listed = c.call('call.list')['calls']
    check_eq([(x['state'], x['interface'], x['moves']) for x in listed],
             [('answered', 'wwan0', 1)], 'call.list after the move')
    # The relay's own counts agree: media both ways through it.
    check(listed[0]['media_packets']['to_network'] >= 40 and
          listed[0]['media_packets']['to_application'] >= 40,
          "the relay's counts in call.list: %r", listed[0]['media_packets'])

    # Wi-Fi is back: a migration (make-before-break) offered to a
    # controller, which sees the call in the offer and allows it; the call
    # goes back with the profile.
    ctl = fx.client(d)
    ctl.subscribe(['alr.*'])
    check_eq(ctl.call('alr.control', {'profile': pid}), {'profile': pid}, 'alr.control')
    w.carrier_up('wlan0')
    offer = ctl.wait_event(lambda e: e['method'] == 'alr.iap-available', T(20),
                           'alr.iap-available')
    check_eq([(x['state'], x['interface']) for x in offer['params']['calls']],
             [('answered', 'wwan0')], 'the calls the controller sees in the offer')
    ctl.call('alr.allow', {'profile': pid, 'iap': offer['params']['iap']})
    moved = c.wait_event(lambda e: e['method'] == 'call.moved', T(20), 'call.moved back')
    check_eq((moved['params']['from_interface'], moved['params']['call']['interface']),
             ('wwan0', 'wlan0'), 'the move back')
    wait_bindings(reg, 'alice', 1, host=WLAN)
    check_call_up(phone, bob)
    phone.hangup()
    bob.wait_call('CALL_CLOSED')


def bob_rings(fx, w):
    """bob: a baresip in the network namespace registered at Kamailio that
    answers only when told (bob.accept())."""
    callpeers._ensure_addr(w.net, '10.99.100.6')
    bob = Baresip(fx, w, aor='sip:bob@example.test', password=USERS['bob'],
                  outbound='sip:%s;lr' % REG_ADDR, listen='10.99.100.6:5070', ns=w.net,
                  ctrl_port=4445, rtp_ports=(33000, 33099), answer='manual')
    bob.wait_registered()
    return bob


def on_cellular(c, reg, pid, w):
    """Wi-Fi loses carrier: the profile fails over to cellular (the
    registrar's one binding is wwan0's)."""
    w.carrier_down('wlan0')
    wait_bindings(reg, 'alice', 1, host=WWAN)
    wait_until(lambda: c.call('profile.get', {'id': pid})['profile']['state']['registration']
               == 'registered', T(10), 'registered over cellular')


def wait_held(c, pid):
    """The profile's move to the better IAP waits for its calls
    (state.waiting_for_calls, docs/protocol.md)."""
    wait_until(lambda: c.call('profile.get', {'id': pid})['profile']['state']
               ['waiting_for_calls'], T(10), 'the move to wait for the calls')


def test_a_migration_waits_for_a_ringing_call(fx):
    """Issue 14 item 2: a planned migration waits while a call of the
    profile rings (an early dialog cannot be moved).  The profile is on
    cellular (Wi-Fi lost), alice's call to bob rings, Wi-Fi returns: the
    profile stays on cellular -- the registrar still has only wwan0's
    binding -- until bob answers; then the migration goes and takes the
    answered call with it (call.moved wwan0 -> wlan0), media flowing."""
    w, reg = sip_world(fx)
    d = roaming_daemon(fx, w, {'10-mobile.conf': WIFI_FIRST})
    c = fx.client(d)
    pid, phone = phone_through_alrd(fx, w, reg, c, snap_id=5, answer='auto')
    bob = bob_rings(fx, w)
    on_cellular(c, reg, pid, w)
    phone.dial('sip:bob@example.test')
    bob.wait_call('CALL_INCOMING')
    w.carrier_up('wlan0')
    wait_held(c, pid)
    check_eq([host_of(b['contact']) for b in reg.bindings('alice')],
             [WWAN], "the registrar's binding while the call rings")
    check_eq(c.call('profile.get', {'id': pid})['profile']['state']['phase'], 'registered',
             'the phase while the call rings')
    bob.accept()
    moved = c.wait_event(lambda e: e['method'] == 'call.moved', T(20), 'call.moved')
    check_eq((moved['params']['from_interface'], moved['params']['call']['interface']),
             ('wwan0', 'wlan0'), 'the move once answered')
    wait_bindings(reg, 'alice', 1, host=WLAN)
    check_call_up(phone, bob)
    check(not c.call('profile.get', {'id': pid})['profile']['state']['waiting_for_calls'],
          'still waiting for calls after the move')
    phone.hangup()
    bob.wait_call('CALL_CLOSED')


DEFER = WIFI_FIRST.replace('id = 5', 'id = 7').replace('name = mobile', 'name = defer') \
    .replace('on-timeout = allow\n', 'on-timeout = allow\ncalls = defer\n')


def test_calls_defer_holds_the_profile_until_the_call_ends(fx):
    """Issue 14 item 3: on a SNAP with calls = defer, an answered call holds
    the profile where it is: Wi-Fi returns during a call on cellular, and
    the call stays on wwan0 (never moved) with the registrar's binding
    there; when the call ends, the profile migrates to Wi-Fi at once."""
    check('calls = defer' in DEFER, 'the SNAP text: %r', DEFER)
    w, reg = sip_world(fx)
    d = roaming_daemon(fx, w, {'10-defer.conf': DEFER})
    c = fx.client(d)
    pid, phone = phone_through_alrd(fx, w, reg, c, snap_id=7, answer='auto')
    on_cellular(c, reg, pid, w)
    bob = call_bob_softphone(fx, w, phone)
    w.carrier_up('wlan0')
    wait_held(c, pid)
    check_call_up(phone, bob)
    check_eq([(x['state'], x['interface'], x['moves']) for x in c.call('call.list')['calls']],
             [('answered', 'wwan0', 0)], 'the call while Wi-Fi is back')
    check_eq([host_of(b['contact']) for b in reg.bindings('alice')],
             [WWAN], "the registrar's binding during the call")
    phone.hangup()
    bob.wait_call('CALL_CLOSED')
    c.wait_event(lambda e: e['method'] == 'profile.updated' and e['params']['profile']['id'] == pid,
                 T(20), 'profile.updated (the migration after the call)')
    wait_bindings(reg, 'alice', 1, host=WLAN)


def test_reinvites_pass_both_ways(fx):
    """A re-INVITE from the far end (bob's baresip: 'reinvite') reaches the
    application through alrd (baresip sees the offer: CALL_REMOTE_SDP) and
    its answer goes back; one from the application reaches bob the same
    way; the call stays up with media both ways."""
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    pid, phone = phone_through_alrd(fx, w, reg, c, answer='auto')
    bob = call_bob_softphone(fx, w, phone)
    for sender, receiver in ((bob, phone), (phone, bob)):
        for p in (sender, receiver):    # the call's first offer and answer
            p.events = [e for e in p.events if e.get('type') != 'CALL_REMOTE_SDP']
        check(sender.command('reinvite').get('ok'), '%s: reinvite refused', sender.aor)
        receiver.wait_event('CALL_REMOTE_SDP', what='the re-INVITE at ' + receiver.aor)
        sender.wait_event('CALL_REMOTE_SDP', what='its answer at ' + sender.aor)
    check_call_up(phone, bob)
    phone.hangup()
    bob.wait_call('CALL_CLOSED')


def test_a_call_that_cannot_move_ends_on_both_sides(fx):
    """The far end (SIPp) answers the call but refuses the re-INVITE of the
    move after Wi-Fi's loss (488): alrd ends the call with a BYE to both
    sides, never a half-call -- the far end's scenario sees its BYE (and
    completes), baresip sees the call close, call.ended says
    'move-failed'."""
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    pid, phone = phone_through_alrd(fx, w, reg, c, answer='auto')
    bob = Notifier(fx, w.net, 'bob', USERS['bob'], scenario='sipp-refuse-move.xml')
    phone.dial('sip:bob@example.test')
    phone.wait_call('CALL_ESTABLISHED')
    w.carrier_down('wlan0')
    ended = c.wait_event(lambda e: e['method'] == 'call.ended', T(20), 'call.ended')
    check_eq((ended['params']['call']['end_reason'], ended['params']['call']['end_code']),
             ('move-failed', 488), 'why the call ended')
    phone.wait_call('CALL_CLOSED')
    check_eq(bob.wait_done(), 0, "the far end's scenario (its BYE):\n" + bob.tail())
    check_eq(c.call('call.list')['calls'], [], 'no call left')


def test_a_move_never_answered_ends_the_call(fx):
    """The far end never answers the move: nftables in the network
    namespace drops every INVITE that comes from cellular's address (the
    move's re-INVITE and its retransmissions), nothing else.  After the
    INVITE transaction's timeout (Timer B, 32 s) alrd ends the call with a
    BYE on both sides -- bob's phone sees it close (the BYE got through),
    alice's too -- and call.ended says move-failed, 408: bounded, never a
    silent half-call."""
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    pid, phone = phone_through_alrd(fx, w, reg, c, answer='auto')
    bob = call_bob_softphone(fx, w, phone)
    alrtest.run(['ip', 'netns', 'exec', w.net, '/usr/sbin/nft', '-f', '-'], input=(
        'table inet alrt_noinvite {\n chain input {\n'
        '  type filter hook input priority 0; policy accept;\n'
        '  ip saddr %s udp dport 5060 @ih,0,48 0x494e56495445 drop\n }\n}\n' % WWAN))
    w.carrier_down('wlan0')
    ended = c.wait_event(lambda e: e['method'] == 'call.ended', T(60),
                         'call.ended after the unanswered move')
    check_eq((ended['params']['call']['end_reason'], ended['params']['call']['end_code']),
             ('move-failed', 408), 'why the call ended')
    phone.wait_call('CALL_CLOSED')
    bob.wait_call('CALL_CLOSED')
    check_eq(c.call('call.list')['calls'], [], 'no call left')


def test_a_second_forks_answer_is_ended(fx):
    """alice has two applications registered at alrd's edge (SIPp, both
    answering at once); a call from the network rings both (alrd forks)
    and both 200s reach alrd before its CANCEL can.  alrd connects the
    caller to the first, and acknowledges the second and ends it with a
    BYE (RFC 3261 §13.2.2.4): that application's scenario completes at
    once, while the call with the other goes on until the caller hangs
    up."""
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*', 'call.*'])
    pid = new_profile(c)
    apps = [Notifier(fx, w.dev, 'alice', 'unused', registrar=('127.0.0.1', 5062),
                     addr='127.0.0.1', sip_port=p, scenario='sipp-fork-answer.xml')
            for p in (5084, 5088)]
    registered(c, pid)
    wait_bindings(reg, 'alice', 1, host=WLAN)
    check_eq(len(c.call('profile.get', {'id': pid})['profile']['state']['local_registrations']),
             2, 'local registrations')
    caller = Caller(fx, w.net, 'sip:alice@example.test', talk=4)
    done = wait_until(lambda: [a for a in apps if a.sipp.proc.poll() is not None],
                      T(15), 'the second answer ended by alrd')
    check_eq(len(done), 1, 'applications done while the call is up')
    check_eq(done[0].sipp.proc.returncode, 0,
             "the losing application's scenario (ACK, BYE):\n" + done[0].tail())
    check_eq([x['state'] for x in c.call('call.list')['calls']], ['answered'],
             'the call with the other application')
    res = caller.wait_done()
    check_eq((res['status'], res['bye_status']), (200, 200), "the caller's call")
    winner = [a for a in apps if a not in done][0]
    check_eq(winner.wait_done(), 0, "the winning application's scenario:\n" + winner.tail())


def test_glare_on_a_move_is_retried(fx):
    """The far end (SIPp) answers the re-INVITE of a move 491 Request
    Pending, as if its own re-INVITE had crossed it (glare, RFC 3261
    §14.1): alrd tries again later (2.1-4 s) with a higher CSeq, the far
    end takes it, and the call goes on moved -- the scenario completes
    with the BYE at hangup; call.moved once, call.list moves 1."""
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    pid, phone = phone_through_alrd(fx, w, reg, c, answer='auto')
    bob = Notifier(fx, w.net, 'bob', USERS['bob'], scenario='sipp-glare-move.xml')
    phone.dial('sip:bob@example.test')
    phone.wait_call('CALL_ESTABLISHED')
    w.carrier_down('wlan0')
    moved = c.wait_event(lambda e: e['method'] == 'call.moved', T(20), 'call.moved after 491')
    check_eq(moved['params']['call']['interface'], 'wwan0', 'moved to')
    check_eq([(x['state'], x['moves']) for x in c.call('call.list')['calls']],
             [('answered', 1)], 'call.list after the glare')
    check(not any(e.get('type') == 'CALL_CLOSED' for e in phone.history),
          'the phone saw the call close: %r', phone.history)
    phone.hangup()
    check_eq(bob.wait_done(), 0, "the far end's scenario (491, the retry, BYE):\n" + bob.tail())


def test_a_ringing_call_ends_cleanly_on_failover(fx):
    """Wi-Fi is lost while alice's call to bob rings (bob answers by hand):
    an early dialog does not move, so alrd ends it on both sides -- bob's
    phone stops ringing (the CANCEL reached it over cellular through
    Kamailio), baresip's call closes (480), call.ended says
    'network-changed'."""
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    pid, phone = phone_through_alrd(fx, w, reg, c, answer='auto')
    callpeers._ensure_addr(w.net, '10.99.100.6')
    bob = Baresip(fx, w, aor='sip:bob@example.test', password=USERS['bob'],
                  outbound='sip:%s;lr' % REG_ADDR, listen='10.99.100.6:5070', ns=w.net,
                  ctrl_port=4445, rtp_ports=(33000, 33099), answer='manual')
    bob.wait_registered()
    phone.dial('sip:bob@example.test')
    bob.wait_call('CALL_INCOMING')
    w.carrier_down('wlan0')
    ended = c.wait_event(lambda e: e['method'] == 'call.ended', T(20), 'call.ended')
    check_eq((ended['params']['call']['end_reason'], ended['params']['call']['end_code']),
             ('network-changed', 480), 'why the ringing call ended')
    phone.wait_call('CALL_CLOSED')
    bob.wait_call('CALL_CLOSED')


SIPSUB = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peers', 'sipsub.py')


def test_subscription_through_alrd(fx):
    """A local application subscribes to bob's presence through alrd's
    edge: alrd makes the SUBSCRIBE again from alice's registered contact
    over wlan0 (Kamailio routes it to bob, a SIPp notifier), and passes
    bob's two NOTIFYs back into the application's own dialog, the second
    ending it; bob's every step was answered (SIPp's exit status)."""
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    pid = new_profile(c, auto_register=True)
    registered(c, pid)
    bob = Notifier(fx, w.net, 'bob', USERS['bob'])
    r = alrtest.run(w.exec_argv(['/usr/bin/python3', SIPSUB, 'sip:alice@example.test',
                                 'sip:bob@example.test', '5086', str(T(20))]))
    got = json.loads(r.stdout.strip().splitlines()[-1])
    check_eq(got['status'], 200, "the application's SUBSCRIBE: %r" % got)
    check_eq([(n['state'].split(';')[0], n['body'], n['same_dialog']) for n in got['notifies']],
             [('active', 'bob-is-online', True), ('terminated', '', True)],
             "the NOTIFYs the application got")
    check_eq(bob.wait_done(), 0, "bob's scenario (its NOTIFYs answered):\n" + bob.tail())
    check_eq(c.call('call.list')['calls'], [], 'a subscription is no call')


def test_subscription_follows_the_profile(fx):
    """A subscription through alrd survives Wi-Fi's loss: alrd refreshes it
    in its dialog from the new contact over wwan0 (bob, a SIPp notifier,
    answers it: its scenario completes only so), and bob's next NOTIFY,
    sent to the new contact, reaches the application in its own dialog,
    which never saw the subscription end until bob ended it."""
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    pid = new_profile(c, auto_register=True)
    registered(c, pid)
    bob = Notifier(fx, w.net, 'bob', USERS['bob'], scenario='sipp-notifier-move.xml')
    sub = fx.popen(w.exec_argv(['/usr/bin/python3', SIPSUB, 'sip:alice@example.test',
                                'sip:bob@example.test', '5086', str(T(30))]),
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    first = json.loads(sub.stdout.readline())
    check_eq((first['notify'].split(';')[0], first['body']), ('active', 'bob-is-online'),
             'the first NOTIFY')
    w.carrier_down('wlan0')
    lines = [json.loads(x) for x in sub.communicate(timeout=T(40))[0].decode().splitlines()]
    got = lines[-1]
    check_eq([(n['state'].split(';')[0], n['body'], n['same_dialog']) for n in got['notifies']],
             [('active', 'bob-is-online', True), ('active', 'bob-after-the-move', True),
              ('terminated', '', True)], "the NOTIFYs the application got")
    check_eq(bob.wait_done(), 0, "bob's scenario (the refresh from the new contact):\n" +
             bob.tail())


SIPFLOOD = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peers', 'sipflood.py')


def test_a_flood_of_invites_is_bounded(fx):
    """200 INVITEs at once at alrd's contact, for a local application that
    never answers: at most [edge] max-calls (40 here) are taken (100
    Trying, ringing), every other INVITE gets 503 at once; none is left
    without an answer."""
    w, reg = sip_world(fx)
    d = edge_daemon(fx, w, edge={'max-calls': '40'})
    c = fx.client(d)
    c.subscribe(['profile.*'])
    pid = new_profile(c)
    app = fx.popen(w.exec_argv(['/usr/bin/python3', SIPFLOOD, 'silent-app', '5081',
                                'sip:alice@example.test']),
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    check_eq(app.stdout.readline().decode().strip(), 'registered', 'the silent application')
    registered(c, pid)
    contact = contact_of(c, pid)
    user, hostport = contact[4:].split('@', 1)
    host, port = hostport.split(';')[0].rsplit(':', 1)
    r = alrtest.run(['ip', 'netns', 'exec', w.net, '/usr/bin/python3', SIPFLOOD, 'flood',
                     user, host, port, REG_ADDR, '200', '3'])
    got = json.loads(r.stdout)
    check_eq(got['silent'], 0, 'INVITEs without any answer: %r' % got)
    check_eq(got['finals'].get('503', 0), 200 - 40, 'INVITEs refused with 503: %r' % got)
    check_eq(got['provisional'], 40, 'INVITEs taken (ringing): %r' % got)
    calls = c.call('call.list')['calls']
    check_eq(len(calls), 40, 'calls alrd holds')
    # alrctl calls: a header and one line per call, all ringing over wlan0.
    r = alrtest.run([alrtest.alrctl_path(), '-s', d.socket_path, 'calls', str(pid)])
    lines = r.stdout.strip().splitlines()
    check_eq(len(lines), 41, 'alrctl calls lines:\n%s' % r.stdout[:500])
    check(all(' incoming ' in x and ' ringing ' in x and 'wlan0' in x for x in lines[1:]),
          'alrctl calls:\n%s', r.stdout[:800])
    check(d.alive(), 'alrd alive after the flood')


if __name__ == '__main__':
    sys.exit(alrtest.main(globals()))
