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

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peers'))

import alrtest  # noqa: E402
from alrtest import T, TestFailure, check, check_eq  # noqa: E402
from test_edge import Baresip, edge_daemon, local_event, new_profile  # noqa: E402
from test_profiles import (REG_ADDR, WLAN, registered, sip_world,  # noqa: E402
                           wait_bindings)

SIPP = '/usr/bin/sipp'


def contact_of(c, pid):
    st = c.call('profile.get', {'id': pid})['profile']['state']
    return st['contact']


def sipp_call(fx, w, contact, scenario='uac', timeout=30, extra=()):
    """SIPp in the network namespace calls @contact (alrd's registered
    contact, 'sip:user@host:port') once: its default UAC scenario (INVITE
    with SDP, 100/180 optional, 200, ACK, a pause, BYE, 200).  Returns
    (exit status, output)."""
    if not os.access(SIPP, os.X_OK):
        raise alrtest.Skip('no SIPp (apt install sip-tester)')
    user, hostport = contact[4:].split('@', 1)
    hostport = hostport.split(';')[0]
    tmp = tempfile.mkdtemp(prefix='alrt-sipp-')
    fx._objs.append(alrtest_cleanup(tmp))
    argv = ['ip', 'netns', 'exec', w.net, SIPP, hostport, '-sn', scenario, '-s', user,
            '-i', REG_ADDR, '-p', '5099', '-m', '1', '-l', '1', '-d', '1000',
            '-timeout', str(timeout), '-timeout_error', '-nostdin', '-trace_err',
            '-trace_msg', '-message_file', os.path.join(tmp, 'msg.log'),
            '-error_file', os.path.join(tmp, 'err.log')] + list(extra)
    p = subprocess.run(argv, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout + 15)
    msgs = ''
    if os.path.exists(os.path.join(tmp, 'msg.log')):
        with open(os.path.join(tmp, 'msg.log'), errors='replace') as f:
            msgs = f.read()
    return p.returncode, p.stdout.decode(errors='replace') + msgs


class alrtest_cleanup:
    def __init__(self, path):
        self.path = path

    def cleanup(self):
        if not os.environ.get('ALR_KEEP'):
            shutil.rmtree(self.path, ignore_errors=True)


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
    rc, out = sipp_call(fx, w, contact)
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


if __name__ == '__main__':
    sys.exit(alrtest.main(globals()))
