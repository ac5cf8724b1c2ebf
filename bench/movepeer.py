#!/usr/bin/python3
"""The two ends of bench/call-move's calls, each run in its namespace.

  movepeer.py farend ADDR SIP_PORT PROXY_HOST:PORT RTP_BASE
      The far end, in the network namespace: places calls to an AOR
      through the proxy (Kamailio) from ADDR:SIP_PORT, one RTP socket per
      call on ADDR:RTP_BASE+2i; answers a re-INVITE (or UPDATE) in a call
      with 200 and its own SDP and from then on sends the call's RTP to
      the address and port of the new offer (RFC 3264 §8: the answerer
      sends to the new address once it has answered).
  movepeer.py device AOR EDGE_HOST:PORT SIP_PORT RTP_BASE
      A local application in the device namespace: registers AOR at
      alrd's edge from 127.0.0.1:SIP_PORT and answers every INVITE 200
      with an SDP of its own (127.0.0.1:RTP_BASE+2i).

Both send RTP (PCMU, 172 bytes) every 20 ms on every answered call, to
the media address the other side's last SDP named.  The payload carries
a magic, the call's index, a per-call packet counter (for losses), the
send time and the IPv4 address the packet was sent to; every packet
received is logged with its kernel receive time (SO_TIMESTAMPNS,
CLOCK_REALTIME, the same clock in every namespace), its source address
(the far end: which of alrd's relay addresses, wlan0's or wwan0's, it
came from) and the address it was sent to (the device: which relay
address the far end used).

Driven by JSON lines on stdin, one request at a time, each answered by
one JSON line on stdout (the first line is {"ready": ...}):

  {"cmd": "mark"}               forget the packet and SIP logs so far
  {"cmd": "dump"}               {"packets": [[call, t, path, n], ...],
                                 "sip": [[t, what, call], ...]}
  {"cmd": "wait", "path": IP|null, "not_path": IP|null, "calls": N,
   "packets": K, "since": T, "timeout": S}
                                until N calls each logged K packets over
                                path (null: any; not over not_path)
                                received at or after T since the mark;
                                {"ok": bool, "t": when the last of them
                                arrived, "calls": how many made it}
  {"cmd": "call", "target": URI, "n": N, "timeout": S}   (far end) N
                                calls, at most 10 INVITEs in flight;
                                {"answered": k, "failed": [...]}
  {"cmd": "hangup", "timeout": S}   BYE every call, wait for the 200s
  {"cmd": "calls"}              the calls' states
  {"cmd": "quit"}

A request that waits still serves the sockets meanwhile (one selector
loop, nothing blocks).
"""

import heapq
import json
import os
import random
import re
import selectors
import socket
import struct
import sys
import time

SO_TIMESTAMPNS = getattr(socket, 'SO_TIMESTAMPNS', 35)
MAGIC = b'CMV1'
PAYLOAD = struct.Struct('!4sIIdI')          # magic, call, counter, sent, dest
PTIME = 0.020
LATE = 10           # bench/call-move's rule for a late packet
T1 = 0.5


def now():
    return time.clock_gettime(time.CLOCK_REALTIME)


def rand(n=10):
    return '%0*x' % (n, random.getrandbits(4 * n))


# ---------------------------------------------------------------------------
# SIP, as little as the two ends need


def parse(data):
    """(start line, [(name, value)], body) of a SIP message, or None."""
    try:
        text = data.decode('utf-8', 'replace')
    except Exception:
        return None
    head, _, body = text.partition('\r\n\r\n')
    lines = head.split('\r\n')
    if not lines or not lines[0]:
        return None
    hdrs = []
    for line in lines[1:]:
        if line[:1] in (' ', '\t') and hdrs:
            hdrs[-1] = (hdrs[-1][0], hdrs[-1][1] + ' ' + line.strip())
            continue
        name, sep, value = line.partition(':')
        if sep:
            hdrs.append((name.strip().lower(), value.strip()))
    return lines[0], hdrs, body


COMPACT = {'v': 'via', 'f': 'from', 't': 'to', 'i': 'call-id', 'm': 'contact',
           'l': 'content-length', 'c': 'content-type'}


def hget(hdrs, name, all_=False):
    out = [v for n, v in hdrs if COMPACT.get(n, n) == name]
    if all_:
        return out
    return out[0] if out else None


def tag_of(value):
    m = re.search(r';\s*tag=([^;>\s]+)', value or '')
    return m.group(1) if m else None


def uri_of(value):
    m = re.search(r'<([^>]*)>', value or '')
    return m.group(1) if m else (value or '').split(';')[0].strip()


def hostport(uri, default=5060):
    """('10.99.1.2', 5060) of 'sip:u@10.99.1.2:5060;transport=udp'."""
    rest = uri.split(':', 1)[1] if ':' in uri else uri
    rest = rest.split('@', 1)[-1]
    rest = re.split(r'[;>?]', rest, 1)[0]
    host, _, port = rest.partition(':')
    return host, int(port) if port.isdigit() else default


def sdp_media(body):
    """(address, port) of the first audio stream of an SDP body, or None."""
    conn = None
    port = None
    media_conn = None
    in_audio = False
    for line in body.replace('\r\n', '\n').split('\n'):
        if line.startswith('c=IN IP4 '):
            if in_audio:
                media_conn = line.split()[2]
            elif port is None:
                conn = line.split()[2]
        elif line.startswith('m='):
            if port is not None:
                break
            parts = line[2:].split()
            in_audio = parts[0] == 'audio'
            if in_audio:
                port = int(parts[1])
    addr = media_conn or conn
    if addr is None or port is None or port == 0:
        return None
    return addr, port


def sdp(user, addr, port, version):
    return ('v=0\r\no=%s 4242 %d IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n'
            'm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n'
            'a=sendrecv\r\n' % (user, version, addr, addr, port))


def response(req_hdrs, code, reason, to_tag=None, contact=None, body=''):
    lines = ['SIP/2.0 %d %s' % (code, reason)]
    for v in hget(req_hdrs, 'via', True):
        lines.append('Via: ' + v)
    for v in hget(req_hdrs, 'record-route', True):
        lines.append('Record-Route: ' + v)
    lines.append('From: ' + hget(req_hdrs, 'from'))
    to = hget(req_hdrs, 'to')
    if to_tag and not tag_of(to):
        to += ';tag=' + to_tag
    lines.append('To: ' + to)
    lines.append('Call-ID: ' + hget(req_hdrs, 'call-id'))
    lines.append('CSeq: ' + hget(req_hdrs, 'cseq'))
    if contact:
        lines.append('Contact: ' + contact)
    if body:
        lines.append('Content-Type: application/sdp')
    lines.append('Content-Length: %d' % len(body.encode()))
    return ('\r\n'.join(lines) + '\r\n\r\n' + body).encode()


# ---------------------------------------------------------------------------


class Call:
    def __init__(self, idx, call_id, sock):
        self.idx = idx
        self.call_id = call_id
        self.sock = sock            # RTP socket
        self.remote_media = None    # (addr, port)
        self.local_tag = rand(8)
        self.remote_tag = None
        self.remote_target = None
        self.route = []             # route set, in the order to use
        self.state = 'new'          # inviting, answered, ended, failed
        self.counter = 0
        self.cseq = 1
        self.sdp_version = 1
        self.invite = None          # our INVITE (bytes) while unanswered
        self.invite_next = 0
        self.invite_interval = T1
        self.invite_deadline = 0
        self.invite_branch = None
        self.pending_2xx = None     # (bytes, next, interval, deadline, dest)
        self.last_2xx = {}          # request CSeq -> our answer (retransmits)
        self.bye = None             # (bytes, next, interval, deadline)
        self.status = None


class Peer:
    def __init__(self, role, sip_addr, sip_port, rtp_addr, rtp_base):
        self.role = role
        self.addr = sip_addr
        self.port = sip_port
        self.rtp_addr = rtp_addr
        self.rtp_base = rtp_base
        self.sel = selectors.DefaultSelector()
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        self.sip.bind((sip_addr, sip_port))
        self.sip.setblocking(False)
        self.sel.register(self.sip, selectors.EVENT_READ, 'sip')
        self.sel.register(sys.stdin.buffer.raw, selectors.EVENT_READ, 'ctl')
        self.calls = []
        self.by_id = {}
        self.packets = []           # [call, t, path, counter]
        self.sip_log = []           # [t, what, call]
        self.pending = None         # the request being waited for
        self.inbuf = b''
        self.sends = []             # heap of (next send time, call index)
        self.running = True
        self.user = 'farend' if role == 'farend' else 'bench'
        self.contact = '<sip:%s@%s:%d>' % (self.user, sip_addr, sip_port)
        self.log_sip = []

    # -- helpers -----------------------------------------------------------

    def reply(self, obj):
        sys.stdout.write(json.dumps(obj) + '\n')
        sys.stdout.flush()

    def new_call(self, call_id):
        idx = len(self.calls)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.bind((self.rtp_addr, self.rtp_base + 2 * idx))
        s.setblocking(False)
        c = Call(idx, call_id, s)
        self.sel.register(s, selectors.EVENT_READ, c)
        self.calls.append(c)
        self.by_id[call_id] = c
        return c

    def send_sip(self, data, dest):
        try:
            self.sip.sendto(data, dest)
        except OSError:
            pass            # no route for a moment: the retransmission tries again

    def dialog_dest(self, c):
        if c.route:
            return hostport(uri_of(c.route[0]))
        return hostport(c.remote_target)

    def request(self, c, method, cseq=None, body=''):
        """An in-dialog request of ours (RFC 3261 §12.2.1.1)."""
        branch = 'z9hG4bK' + rand(16)
        lines = ['%s %s SIP/2.0' % (method, c.remote_target),
                 'Via: SIP/2.0/UDP %s:%d;branch=%s;rport' % (self.addr, self.port, branch),
                 'Max-Forwards: 70']
        for r in c.route:
            lines.append('Route: ' + r)
        lines += ['From: <sip:%s@%s>;tag=%s' % (self.user, self.addr, c.local_tag)
                  if self.role == 'farend' else c.from_hdr,
                  'To: ' + c.to_hdr,
                  'Call-ID: ' + c.call_id,
                  'CSeq: %d %s' % (cseq or c.cseq, method),
                  'Contact: ' + self.contact,
                  'Content-Length: %d' % len(body), '', body]
        return '\r\n'.join(lines).encode()

    # -- the loop ----------------------------------------------------------

    def run(self):
        while self.running:
            t = now()
            self.send_due(t)
            self.timers(t)
            self.check_pending(t)
            nxt = self.sends[0][0] if self.sends else t + 0.05
            timeout = max(0.0, min(nxt - now(), 0.05))
            for key, _ in self.sel.select(timeout):
                what = key.data
                if what == 'sip':
                    self.read_sip()
                elif what == 'ctl':
                    self.read_ctl()
                else:
                    self.read_rtp(what)

    def start_media(self, c):
        """Each call sends on a clock of its own, at a random phase of the
        20 ms: calls set up together do not send in step (real ones do
        not), so a move meets each call's packet clock somewhere else."""
        heapq.heappush(self.sends, (now() + random.uniform(0, PTIME), c.idx))

    def send_due(self, t):
        while self.sends and self.sends[0][0] <= t:
            due, idx = heapq.heappop(self.sends)
            c = self.calls[idx]
            if c.state != 'answered':
                continue            # ended (or ending): its clock stops
            self.send_rtp(c, t)
            due += PTIME
            if due < t:             # late: skip, never burst
                due = t + PTIME
            heapq.heappush(self.sends, (due, idx))

    def send_rtp(self, c, t):
        if c.remote_media is not None:
            c.counter += 1
            try:
                dest = socket.inet_aton(c.remote_media[0])
            except OSError:
                dest = b'\0\0\0\0'
            payload = PAYLOAD.pack(MAGIC, c.idx, c.counter, t,
                                   struct.unpack('!I', dest)[0])
            pkt = struct.pack('!BBHII', 0x80, 0, c.counter & 0xffff,
                              (c.counter * 160) & 0xffffffff, 0x4242 + c.idx) \
                + payload + b'\xff' * (160 - PAYLOAD.size)
            try:
                c.sock.sendto(pkt, c.remote_media)
            except OSError:
                pass        # no route (the link is down): the packet is lost

    def read_rtp(self, c):
        for _ in range(64):
            try:
                data, anc, _, src = c.sock.recvmsg(2048, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            t = None
            for level, typ, d in anc:
                if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack('qq', d[:16])
                    t = sec + nsec / 1e9
            if t is None:
                t = now()
            if self.role == 'device':
                # Which relay address the far end sent it to.
                if len(data) >= 12 + PAYLOAD.size and \
                        data[12:16] == MAGIC:
                    _, _, n, _, dest = PAYLOAD.unpack_from(data, 12)
                    path = socket.inet_ntoa(struct.pack('!I', dest))
                else:
                    n, path = struct.unpack_from('!H', data, 2)[0], None
            else:
                path = src[0]
                if len(data) >= 12 + PAYLOAD.size and data[12:16] == MAGIC:
                    n = PAYLOAD.unpack_from(data, 12)[2]
                else:
                    n = struct.unpack_from('!H', data, 2)[0] if len(data) >= 4 else 0
            self.packets.append([c.idx, t, path, n])

    def read_ctl(self):
        data = os.read(sys.stdin.fileno(), 65536)
        if not data:
            self.running = False
            return
        self.inbuf += data
        while b'\n' in self.inbuf:
            line, self.inbuf = self.inbuf.split(b'\n', 1)
            if line.strip():
                self.command(json.loads(line))

    # -- requests from the bench -------------------------------------------

    def command(self, req):
        cmd = req['cmd']
        if cmd == 'mark':
            self.packets = []
            self.sip_log = []
            self.reply({'t': now()})
        elif cmd == 'dump':
            self.reply({'packets': self.packets, 'sip': self.sip_log})
        elif cmd == 'calls':
            self.reply({'calls': [{'idx': c.idx, 'state': c.state, 'status': c.status,
                                   'remote_media': c.remote_media,
                                   'sent': c.counter} for c in self.calls]})
        elif cmd == 'wait':
            req['deadline'] = now() + req.get('timeout', 10)
            self.pending = req
        elif cmd == 'call':
            req['deadline'] = now() + req.get('timeout', 30)
            req['todo'] = req.get('n', 1)
            req['first'] = len(self.calls)
            self.pending = req
            self.start_calls(req)
        elif cmd == 'hangup':
            req['deadline'] = now() + req.get('timeout', 10)
            for c in self.calls:
                if c.state == 'answered':
                    c.cseq += 1
                    data = self.request(c, 'BYE')
                    c.bye = [data, now() + T1, T1, req['deadline']]
                    c.state = 'hanging-up'
                    self.send_sip(data, self.dialog_dest(c))
            self.pending = req
        elif cmd == 'quit':
            self.running = False
            self.reply({'ok': True})
        else:
            self.reply({'error': 'unknown command %r' % cmd})

    def check_pending(self, t):
        req = self.pending
        if req is None:
            return
        cmd = req['cmd']
        if cmd == 'wait':
            need, k = req['calls'], req.get('packets', 1)
            path, since = req.get('path'), req.get('since', 0)
            not_path = req.get('not_path')
            counts = req.setdefault('counts', {})
            t_ok = req.setdefault('t_ok', {})
            newest = req.setdefault('newest', {})
            i = req.get('pos', 0)
            pk = self.packets
            while i < len(pk):
                idx, tp, p, n = pk[i]
                i += 1
                # A packet far behind the newest of its call is a late one
                # (held in a queue during an outage): it does not count.
                top = newest.get(idx)
                if top is not None and n < top - LATE:
                    continue
                newest[idx] = n if top is None else max(top, n)
                if tp >= since and (path is None or p == path) and \
                        (not_path is None or p != not_path):
                    counts[idx] = counts.get(idx, 0) + 1
                    if counts[idx] == k:
                        t_ok[idx] = tp
            req['pos'] = i
            done = len(t_ok)
            if done >= need:
                self.pending = None
                self.reply({'ok': True, 't': max(t_ok.values()) if t_ok else None,
                            'calls': done})
            elif t >= req['deadline']:
                self.pending = None
                self.reply({'ok': False, 'calls': done})
        elif cmd == 'call':
            mine = self.calls[req['first']:]
            busy = [c for c in mine if c.state == 'inviting']
            if req['todo'] > 0 and len(busy) < 10:
                self.start_calls(req)
            if req['todo'] == 0 and all(c.state != 'inviting' for c in mine):
                self.pending = None
                self.reply({'answered': sum(1 for c in mine if c.state == 'answered'),
                            'failed': [[c.idx, c.status] for c in mine
                                       if c.state != 'answered']})
            elif t >= req['deadline']:
                self.pending = None
                self.reply({'answered': sum(1 for c in mine if c.state == 'answered'),
                            'failed': [[c.idx, c.status or 'timeout'] for c in mine
                                       if c.state != 'answered'],
                            'timeout': True})
        elif cmd == 'hangup':
            left = [c for c in self.calls if c.state == 'hanging-up']
            if not left or t >= req['deadline']:
                self.pending = None
                self.reply({'ok': not left, 'left': len(left)})

    # -- far end: calls out ------------------------------------------------

    def start_calls(self, req):
        while req['todo'] > 0 and \
                sum(1 for c in self.calls[req['first']:] if c.state == 'inviting') < 10:
            req['todo'] -= 1
            c = self.new_call('cm-%d-%s' % (len(self.calls), rand(12)))
            c.target = req['target']
            c.proxy = hostport('sip:' + req['proxy'])
            c.from_hdr = None
            c.to_hdr = '<%s>' % c.target
            c.invite_branch = 'z9hG4bK' + rand(16)
            body = sdp(self.user, self.rtp_addr, self.rtp_base + 2 * c.idx, 1)
            c.invite = '\r\n'.join([
                'INVITE %s SIP/2.0' % c.target,
                'Via: SIP/2.0/UDP %s:%d;branch=%s;rport' % (self.addr, self.port,
                                                           c.invite_branch),
                'Max-Forwards: 70',
                'From: <sip:%s@%s>;tag=%s' % (self.user, self.addr, c.local_tag),
                'To: <%s>' % c.target,
                'Call-ID: ' + c.call_id,
                'CSeq: 1 INVITE',
                'Contact: ' + self.contact,
                'Subject: bench/call-move',
                'Content-Type: application/sdp',
                'Content-Length: %d' % len(body), '', body]).encode()
            c.state = 'inviting'
            t = now()
            c.invite_next = t + T1
            c.invite_deadline = req['deadline']
            self.send_sip(c.invite, c.proxy)
            self.sip_log.append([t, 'invite', c.idx])

    def timers(self, t):
        for c in self.calls:
            if c.invite is not None and t >= c.invite_next:
                if t >= c.invite_deadline:
                    c.invite = None
                    c.state = 'failed'
                    c.status = 'timeout'
                else:
                    self.send_sip(c.invite, c.proxy)
                    c.invite_interval = min(c.invite_interval * 2, 4)
                    c.invite_next = t + c.invite_interval
            if c.pending_2xx is not None and t >= c.pending_2xx[1]:
                data, _, iv, deadline, dest = c.pending_2xx
                if t >= deadline:
                    c.pending_2xx = None
                else:
                    self.send_sip(data, dest)
                    iv = min(iv * 2, 4)
                    c.pending_2xx = [data, t + iv, iv, deadline, dest]
            if c.bye is not None and t >= c.bye[1]:
                data, _, iv, deadline = c.bye
                if t >= deadline:
                    c.bye = None
                    c.state = 'ended'
                else:
                    self.send_sip(data, self.dialog_dest(c))
                    iv = min(iv * 2, 4)
                    c.bye = [data, t + iv, iv, deadline]

    # -- SIP in -------------------------------------------------------------

    def read_sip(self):
        for _ in range(64):
            try:
                data, src = self.sip.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            t = now()
            msg = parse(data)
            if msg is None:
                continue
            first, hdrs, body = msg
            if first.startswith('SIP/2.0 '):
                self.handle_response(t, first, hdrs, body, src)
            else:
                self.handle_request(t, first, hdrs, body, src)

    def handle_response(self, t, first, hdrs, body, src):
        c = self.by_id.get(hget(hdrs, 'call-id'))
        if c is None:
            return
        try:
            code = int(first.split()[1])
        except (IndexError, ValueError):
            return
        cseq = (hget(hdrs, 'cseq') or '').split()
        method = cseq[1] if len(cseq) == 2 else ''
        if method == 'INVITE' and cseq[0] == '1':
            if code < 200:
                if c.invite is not None:
                    c.invite_next = c.invite_deadline   # stop Timer A; keep B
                return
            c.status = code
            if code >= 300:
                if c.state == 'inviting':
                    c.invite = None
                    c.state = 'failed'
                    self.sip_log.append([t, 'failed-%d' % code, c.idx])
                # ACK for a non-2xx, hop by hop (the same branch)
                ack = '\r\n'.join([
                    'ACK %s SIP/2.0' % c.target,
                    'Via: SIP/2.0/UDP %s:%d;branch=%s;rport' % (self.addr, self.port,
                                                               c.invite_branch),
                    'Max-Forwards: 70',
                    'From: <sip:%s@%s>;tag=%s' % (self.user, self.addr, c.local_tag),
                    'To: ' + hget(hdrs, 'to'), 'Call-ID: ' + c.call_id,
                    'CSeq: 1 ACK', 'Content-Length: 0', '', '']).encode()
                self.send_sip(ack, c.proxy)
                return
            if c.state == 'inviting':
                c.invite = None
                c.remote_tag = tag_of(hget(hdrs, 'to'))
                c.to_hdr = hget(hdrs, 'to')
                c.remote_target = uri_of(hget(hdrs, 'contact'))
                c.route = list(reversed(hget(hdrs, 'record-route', True)))
                c.route = [r.strip() for rr in c.route for r in reversed(rr.split(','))]
                c.remote_media = sdp_media(body)
                c.state = 'answered'
                self.sip_log.append([t, 'answered', c.idx])
                self.start_media(c)
            if c.remote_target:
                # ACK every 2xx, also a retransmitted one (RFC 3261 §13.2.2.4)
                self.send_sip(self.request(c, 'ACK', cseq=1), self.dialog_dest(c))
        elif method == 'BYE' and code >= 200:
            c.bye = None
            c.state = 'ended'

    def handle_request(self, t, first, hdrs, body, src):
        parts = first.split()
        if len(parts) < 3:
            return
        method = parts[0]
        via = hget(hdrs, 'via') or ''
        m = re.search(r'SIP/2.0/UDP\s+([^;:\s]+)(?::(\d+))?', via)
        dest = src
        if m and 'rport' not in via:
            dest = (m.group(1), int(m.group(2) or 5060))
        if self.role == 'device' and method == 'INVITE' and not tag_of(hget(hdrs, 'to')):
            self.incoming_call(t, hdrs, body, dest)
            return
        c = self.by_id.get(hget(hdrs, 'call-id'))
        if method == 'ACK':
            if c is not None and c.pending_2xx is not None:
                c.pending_2xx = None
                self.sip_log.append([t, 'ack', c.idx])
            return
        if c is None:
            if method != 'ACK':
                self.send_sip(response(hdrs, 481, 'Call Does Not Exist'), dest)
            return
        cseq = hget(hdrs, 'cseq')
        if method in ('INVITE', 'UPDATE'):
            if cseq in c.last_2xx:             # a retransmission
                self.send_sip(c.last_2xx[cseq], dest)
                return
            self.sip_log.append([t, 'reinvite' if method == 'INVITE' else 'update', c.idx])
            contact = hget(hdrs, 'contact')
            if contact:
                c.remote_target = uri_of(contact)       # a target refresh
            new = sdp_media(body) if body.strip() else None
            c.sdp_version += 1
            answer = sdp(self.user, self.rtp_addr, self.rtp_base + 2 * c.idx,
                         c.sdp_version)
            data = response(hdrs, 200, 'OK', contact=self.contact, body=answer)
            c.last_2xx[cseq] = data
            self.send_sip(data, dest)
            t2 = now()
            if new:
                c.remote_media = new        # switch once answered
            self.sip_log.append([t2, '200', c.idx])
            if method == 'INVITE':
                c.pending_2xx = [data, t2 + T1, T1, t2 + 32, dest]
            return
        if method == 'BYE':
            c.state = 'ended'
            self.sip_log.append([t, 'bye', c.idx])
        self.send_sip(response(hdrs, 200, 'OK'), dest)

    # -- device: calls in ----------------------------------------------------

    def incoming_call(self, t, hdrs, body, dest):
        cid = hget(hdrs, 'call-id')
        c = self.by_id.get(cid)
        if c is not None:               # a retransmitted INVITE
            if c.last_2xx:
                self.send_sip(list(c.last_2xx.values())[-1], dest)
            return
        c = self.new_call(cid)
        c.remote_media = sdp_media(body)
        c.remote_target = uri_of(hget(hdrs, 'contact'))
        c.route = [r.strip() for rr in hget(hdrs, 'record-route', True)
                   for r in rr.split(',')]
        c.from_hdr = hget(hdrs, 'to') + ';tag=' + c.local_tag
        c.to_hdr = hget(hdrs, 'from')
        answer = sdp(self.user, self.rtp_addr, self.rtp_base + 2 * c.idx, 1)
        data = response(hdrs, 200, 'OK', to_tag=c.local_tag, contact=self.contact,
                        body=answer)
        c.last_2xx[hget(hdrs, 'cseq')] = data
        self.send_sip(data, dest)
        c.pending_2xx = [data, t + T1, T1, t + 32, dest]
        c.state = 'answered'
        self.sip_log.append([t, 'answered', c.idx])
        self.start_media(c)

    def register(self, aor, edge):
        """REGISTER aor at alrd's edge (a local registration); True on 200."""
        msg = '\r\n'.join([
            'REGISTER sip:%s SIP/2.0' % aor.split('@', 1)[1],
            'Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport' % (self.addr, self.port,
                                                              rand(16)),
            'Max-Forwards: 70', 'From: <%s>;tag=%s' % (aor, rand(8)), 'To: <%s>' % aor,
            'Call-ID: reg-%s' % rand(16), 'CSeq: 1 REGISTER',
            'Contact: %s;expires=3600' % self.contact, 'Content-Length: 0', '', ''])
        deadline = now() + 10
        self.sip.setblocking(True)
        self.sip.settimeout(0.5)
        try:
            while now() < deadline:
                self.sip.sendto(msg.encode(), edge)
                try:
                    data = self.sip.recv(65536)
                except socket.timeout:
                    continue
                if data.startswith(b'SIP/2.0 200'):
                    return True
                if not data.startswith(b'SIP/2.0 1'):
                    sys.stderr.write('movepeer: REGISTER answered %r\n' % data[:60])
                    return False
            return False
        finally:
            self.sip.setblocking(False)


def main():
    role = sys.argv[1] if len(sys.argv) > 1 else ''
    if role == 'farend' and len(sys.argv) == 6:
        addr, port, proxy, base = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
        p = Peer('farend', addr, port, addr, base)
        p.proxy = proxy
        orig = p.command

        def command(req):
            if req.get('cmd') == 'call':
                req.setdefault('proxy', proxy)
            orig(req)
        p.command = command
        p.reply({'ready': True})
    elif role == 'device' and len(sys.argv) == 6:
        aor, edge, port, base = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        host, eport = edge.rsplit(':', 1)
        p = Peer('device', '127.0.0.1', port, '127.0.0.1', base)
        ok = p.register(aor, (host, int(eport)))
        p.reply({'ready': ok})
        if not ok:
            sys.exit(1)
    else:
        sys.stderr.write(__doc__)
        sys.exit(64)
    p.run()


if __name__ == '__main__':
    main()
