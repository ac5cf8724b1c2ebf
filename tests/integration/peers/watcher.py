"""A SIP subscriber (RFC 6665) and a presence publisher (RFC 3903) for the
tests of subscriptions through alrd (tests/integration/test_call_moves.py).

    w = Watcher(fx, world.dev, 'sip:alice@example.test',
                'sip:bob@example.test', 'dialog',
                'application/dialog-info+xml', port=5088)
    w.wait_status()                 # the 2xx to the SUBSCRIBE, through alrd
    n = w.wait_notify(lambda n: '<state>confirmed</state>' in n['body'])
    w.unsubscribe()                 # Expires: 0 in the dialog

    pub = Publisher(world.net, 'sip:bob@example.test', 'presence',
                    'application/pidf+xml')
    pub.publish(body)               # the first PUBLISH, then modifications
                                    # (SIP-If-Match) of the same publication

Watcher is an application on the device: it sends its SUBSCRIBE to
alrd's edge (127.0.0.1:5062, alrd as its outbound proxy, as a softphone
would), answers every NOTIFY of its dialog 200 at once, from a thread (a
notifier gives up a subscription whose NOTIFY is not answered), and keeps
each NOTIFY: Subscription-State, body, CSeq, and whether it came in the
dialog the SUBSCRIBE made (Call-ID, its From tag as the To tag, the
notifier's tag of the first NOTIFY or 2xx as the From tag).  Its UDP
socket is made inside the namespace (setns in a forked child, handed back
over a socketpair, as callpeers.ns_connect() does for TCP), so the test's
own process is the subscriber and nothing runs beside it.

Publisher sends PUBLISH from the network namespace to the registrar (the
presence server) with peers/sipsend.py: the first one makes a publication,
each later one modifies it with the SIP-ETag the last 2xx gave (RFC 3903
§4.4): so the presentity holds one document, the last one, and the
server's NOTIFY bodies are that document.
"""

import ctypes
import json
import os
import re
import socket
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import alrtest  # noqa: E402
from alrtest import T, TestFailure  # noqa: E402

SIPSEND = os.path.join(HERE, 'sipsend.py')
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def ns_udp_socket(ns, addr):
    """A UDP socket bound to addr (host, port) inside network namespace
    ns, usable here."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        rc = 1
        try:
            parent.close()
            fd = os.open('/run/netns/%s' % ns, os.O_RDONLY)
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                os._exit(2)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(addr)
            socket.send_fds(child, [b'x'], [s.fileno()])
            rc = 0
        except BaseException:
            pass
        finally:
            os._exit(rc)
    child.close()
    try:
        _, fds, _, _ = socket.recv_fds(parent, 1, 1)
    finally:
        parent.close()
        _, status = os.waitpid(pid, 0)
    if not fds or status != 0:
        raise TestFailure('cannot bind UDP %s:%d in %s' % (addr[0], addr[1], ns))
    return socket.socket(fileno=fds[0])


def _headers(text):
    head = text.split('\r\n\r\n', 1)[0]
    out = []
    for line in head.split('\r\n')[1:]:
        name, sep, value = line.partition(':')
        if sep:
            out.append((name.strip(), value.strip()))
    return out


def _hdr(headers, *names):
    names = [n.lower() for n in names]
    for n, v in headers:
        if n.lower() in names:
            return v
    return None


def _all(headers, *names):
    names = [n.lower() for n in names]
    return [v for n, v in headers if n.lower() in names]


def _tag(value):
    for part in (value or '').split(';')[1:]:
        part = part.strip()
        if part.startswith('tag='):
            return part[4:]
    return None


def _uri(value):
    """The URI of a name-addr or addr-spec header value."""
    m = re.search(r'<([^>]*)>', value or '')
    return m.group(1) if m else (value or '').split(';')[0].strip()


class Watcher:
    """One subscription of @aor to @target's @event through alrd's edge,
    from 127.0.0.1:@port in namespace @ns (see the module's doc).

      status       the final status of the SUBSCRIBE (None until then)
      notifies()   every NOTIFY received: dicts with state (the
                   Subscription-State value), body, cseq, event,
                   content_type, same_dialog, t (time.monotonic())
    """

    def __init__(self, fx, ns, aor, target, event, accept, port,
                 edge=('127.0.0.1', 5062), expires=600):
        self.aor, self.target, self.event, self.accept = aor, target, event, accept
        self.port = port
        self.edge = edge
        self.expires = expires
        self.sock = ns_udp_socket(ns, ('127.0.0.1', port))
        self.call_id = 'alrt-watch-%s' % uuid.uuid4().hex
        self.tag = uuid.uuid4().hex[:10]
        self.cseq = 0
        self.status = None
        self.responses = {}          # cseq -> final status
        self.remote_tag = None
        self.remote_target = None
        self.route = []
        self.lock = threading.Lock()
        self._notifies = []
        self.strays = []             # requests outside the dialog
        self._pending = {}           # cseq -> (text, next resend time, tries)
        self._stop = False
        fx._objs.append(self)
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name='watcher-%d' % port)
        self.thread.start()
        self._send_subscribe(expires, target, [])

    # -- the dialog ----------------------------------------------------------

    def _send_subscribe(self, expires, ruri, route):
        with self.lock:
            self.cseq += 1
            cseq = self.cseq
            lines = ['SUBSCRIBE %s SIP/2.0' % ruri,
                     'Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport'
                     % (self.port, uuid.uuid4().hex),
                     'Max-Forwards: 70',
                     'From: <%s>;tag=%s' % (self.aor, self.tag),
                     'To: <%s>%s' % (self.target, ';tag=%s' % self.remote_tag
                                     if self.remote_tag else ''),
                     'Call-ID: %s' % self.call_id,
                     'CSeq: %d SUBSCRIBE' % cseq]
            lines += ['Route: %s' % r for r in route]
            lines += ['Contact: <sip:watcher@127.0.0.1:%d>' % self.port,
                      'Event: %s' % self.event, 'Accept: %s' % self.accept,
                      'Expires: %d' % expires, 'User-Agent: alrtest-watcher',
                      'Content-Length: 0', '', '']
            text = '\r\n'.join(lines)
            self._pending[cseq] = [text, time.monotonic() + 0.5, 0]
        self.sock.sendto(text.encode(), self.edge)
        return cseq

    def _run(self):
        self.sock.settimeout(0.05)
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(65536)
            except socket.timeout:
                data = None
            except OSError:
                return
            if data:
                try:
                    self._handle(data.decode('utf-8', 'replace'), peer)
                except Exception as e:      # keep answering
                    self.strays.append('error: %r' % e)
            # RFC 3261 §17.1.2.2 (simplified): resend until an answer.
            now = time.monotonic()
            with self.lock:
                resend = [p for p in self._pending.values() if p[1] <= now and p[2] < 6]
                for p in resend:
                    p[1] = now + 0.5 * 2 ** min(p[2], 3)
                    p[2] += 1
            for p in resend:
                try:
                    self.sock.sendto(p[0].encode(), self.edge)
                except OSError:
                    pass

    def _handle(self, text, peer):
        headers = _headers(text)
        if text.startswith('SIP/2.0 '):
            code = int(text.split(' ', 2)[1])
            cseq = (_hdr(headers, 'CSeq') or '0 X').split()
            if _hdr(headers, 'Call-ID', 'i') != self.call_id or code < 200:
                return
            with self.lock:
                n = int(cseq[0])
                if n in self._pending:
                    del self._pending[n]
                    self.responses[n] = code
                if n == 1:
                    self.status = code
                if 200 <= code < 300 and self.remote_tag is None:
                    self.remote_tag = _tag(_hdr(headers, 'To', 't'))
                if 200 <= code < 300 and _hdr(headers, 'Contact', 'm'):
                    self.remote_target = _uri(_hdr(headers, 'Contact', 'm'))
                    if n == 1:
                        self.route = list(reversed(_all(headers, 'Record-Route')))
            return
        method = text.split(' ', 1)[0]
        keep = [h for h in text.split('\r\n\r\n', 1)[0].split('\r\n')[1:]
                if h.split(':', 1)[0].strip().lower() in
                ('via', 'v', 'from', 'f', 'to', 't', 'call-id', 'i', 'cseq')]
        same = (_hdr(headers, 'Call-ID', 'i') == self.call_id and
                _tag(_hdr(headers, 'To', 't')) == self.tag)
        code = '200 OK' if method == 'NOTIFY' and same else \
            '481 Call/Transaction Does Not Exist'
        self.sock.sendto(('SIP/2.0 %s\r\n' % code + '\r\n'.join(keep) +
                          '\r\nContent-Length: 0\r\n\r\n').encode(), peer)
        if not (method == 'NOTIFY' and same):
            self.strays.append(text.split('\r\n', 1)[0])
            return
        body = text.split('\r\n\r\n', 1)[1] if '\r\n\r\n' in text else ''
        with self.lock:
            ftag = _tag(_hdr(headers, 'From', 'f'))
            if self.remote_tag is None:       # before the 2xx (§4.1.2.4)
                self.remote_tag = ftag
                self.remote_target = _uri(_hdr(headers, 'Contact', 'm'))
            cseq = (_hdr(headers, 'CSeq') or '0').split()[0]
            self._notifies.append({
                'state': _hdr(headers, 'Subscription-State') or '',
                'event': _hdr(headers, 'Event', 'o'),
                'content_type': _hdr(headers, 'Content-Type', 'c'),
                'body': body.strip(), 'cseq': int(cseq) if cseq.isdigit() else None,
                'same_dialog': ftag == self.remote_tag, 't': time.monotonic()})

    # -- what the test asks --------------------------------------------------

    def notifies(self):
        with self.lock:
            return list(self._notifies)

    def wait_status(self, timeout=None):
        """The final status of the SUBSCRIBE (a failure is raised)."""
        st = alrtest.wait_until(lambda: self.status, timeout or T(20),
                                'the answer to %s\'s SUBSCRIBE (%s)' % (self.aor, self.event))
        if not 200 <= st < 300:
            raise TestFailure('SUBSCRIBE %s (Event: %s) through alrd: %d'
                              % (self.target, self.event, st))
        return st

    def wait_notify(self, pred, timeout=None, what=None):
        """The first NOTIFY for which pred holds, once there is one."""
        def find():
            for n in self.notifies():
                if pred(n):
                    return n
            return None
        try:
            return alrtest.wait_until(find, timeout or T(20),
                                      what or 'a NOTIFY (%s)' % self.event)
        except TestFailure as e:
            raise TestFailure('%s\nNOTIFYs the watcher (%s) got: %s'
                              % (e, self.event, json.dumps(self.notifies(), indent=1)))

    def terminated(self):
        """The NOTIFYs that said the subscription ended."""
        return [n for n in self.notifies()
                if n['state'].split(';')[0].strip().lower() == 'terminated']

    def unsubscribe(self, timeout=None):
        """SUBSCRIBE with Expires: 0 in the dialog (RFC 6665 §4.1.2.3),
        through the edge; returns its final status."""
        if self.remote_target is None:
            raise TestFailure('the watcher has no dialog to unsubscribe from')
        n = self._send_subscribe(0, self.remote_target, self.route)
        return alrtest.wait_until(lambda: self.responses.get(n), timeout or T(10),
                                  'the answer to the unsubscription')

    def cleanup(self):
        self._stop = True
        self.thread.join(2)
        self.sock.close()


class Publisher:
    """PUBLISH of one publication (@event, @content_type) of @aor to the
    presence server @proxy, from @addr in namespace @ns."""

    def __init__(self, ns, aor, event, content_type, proxy=('10.99.100.1', 5060),
                 addr='10.99.100.5', expires=600):
        import callpeers
        callpeers._ensure_addr(ns, addr)
        self.ns, self.aor, self.event, self.content_type = ns, aor, event, content_type
        self.proxy, self.addr, self.expires = proxy, addr, expires
        self.call_id = 'alrt-pub-%s' % uuid.uuid4().hex
        self.cseq = 0
        self.etag = None

    def publish(self, body):
        """Send one PUBLISH; returns its final status (the SIP-ETag of a
        2xx is kept for the next one)."""
        self.cseq += 1
        data = body.encode()
        lines = ['PUBLISH %s SIP/2.0' % self.aor,
                 'Via: SIP/2.0/UDP %s:@LOCAL_PORT@;branch=z9hG4bK%s;rport'
                 % (self.addr, uuid.uuid4().hex),
                 'Max-Forwards: 70',
                 'From: <%s>;tag=%s' % (self.aor, uuid.uuid4().hex[:8]),
                 'To: <%s>' % self.aor, 'Call-ID: %s' % self.call_id,
                 'CSeq: %d PUBLISH' % self.cseq, 'Event: %s' % self.event,
                 'Expires: %d' % self.expires]
        if self.etag:
            lines.append('SIP-If-Match: %s' % self.etag)
        lines += ['Content-Type: %s' % self.content_type,
                  'Content-Length: %d' % len(data), '', '']
        msg = '\r\n'.join(lines) + body
        req = {'proto': 'udp', 'dest': list(self.proxy), 'bind': [self.addr, 0],
               'messages': [msg], 'timeout': T(10), 'expect': None}
        r = alrtest.run(['ip', 'netns', 'exec', self.ns, '/usr/bin/python3', SIPSEND],
                        input=json.dumps(req), timeout=T(30))
        got = json.loads(r.stdout)[0]
        if not got:
            raise TestFailure('PUBLISH %s (%s): no answer from %s:%d'
                              % (self.aor, self.event, self.proxy[0], self.proxy[1]))
        if 200 <= got['status'] < 300:
            self.etag = _hdr(got['headers'], 'SIP-ETag') or self.etag
        else:
            raise TestFailure('PUBLISH %s (%s): %d %s' % (self.aor, self.event,
                                                        got['status'], got['reason']))
        return got['status']
