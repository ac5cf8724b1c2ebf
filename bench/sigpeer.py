#!/usr/bin/python3
"""The two ends of bench/call-signalling, each run in its namespace.

  sigpeer.py receiver AOR LOCAL_PORT DIRECT_IP DIRECT_PORT LOG
      A local application: registers AOR at alrd's edge from
      127.0.0.1:LOCAL_PORT, and also listens on DIRECT_IP:DIRECT_PORT (the
      path without alrd).  Prints "ready" once registered.  For every
      INVITE it writes "SUBJECT NS" (the sender's Call-ID) to LOG (CLOCK_MONOTONIC when the
      datagram was read) and answers 486, as a softphone that is busy.
  sigpeer.py sender BIND_IP N LOG TARGET...
      Sends N INVITEs, one after the other, each to the next TARGET in
      turn ("USER@HOST:PORT", or "USER@DOMAIN>HOST:PORT" through a proxy
      that routes DOMAIN), writing "CALL-ID TARGET-INDEX NS" (the
      clock just before sendto) to LOG; waits for each final answer and
      acknowledges it before the next.
"""

import socket
import sys
import time
import uuid

SDP = ('v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n'
       'm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n')


def header(msg, name):
    for line in msg.split('\r\n'):
        if line.lower().startswith(name.lower() + ':'):
            return line.split(':', 1)[1].strip()
    return None


def answer(sock, data, peer, code, reason):
    text = data.decode('utf-8', 'replace')
    head = text.split('\r\n\r\n', 1)[0].split('\r\n')
    keep = [h for h in head[1:] if h.split(':', 1)[0].strip().lower() in
            ('via', 'from', 'to', 'call-id', 'cseq')]
    keep = [h + ';tag=busy' if h.lower().startswith('to:') and 'tag=' not in h else h
            for h in keep]
    sock.sendto(('SIP/2.0 %d %s\r\n' % (code, reason) + '\r\n'.join(keep) +
                 '\r\nContent-Length: 0\r\n\r\n').encode(), peer)


def receiver(aor, lport, dip, dport, log):
    loc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    loc.bind(('127.0.0.1', lport))
    direct = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    direct.bind((dip, dport))
    reg = '\r\n'.join([
        'REGISTER sip:example.test SIP/2.0',
        'Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport' % (lport, uuid.uuid4().hex),
        'Max-Forwards: 70', 'From: <%s>;tag=r1' % aor, 'To: <%s>' % aor,
        'Call-ID: %s' % uuid.uuid4().hex, 'CSeq: 1 REGISTER',
        'Contact: <sip:bench@127.0.0.1:%d>;expires=3600' % lport,
        'Content-Length: 0', '', ''])
    loc.sendto(reg.encode(), ('127.0.0.1', 5062))
    while not loc.recv(65536).startswith(b'SIP/2.0 200'):
        pass
    print('ready', flush=True)
    out = open(log, 'w', buffering=1)
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(loc, selectors.EVENT_READ)
    sel.register(direct, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            data, peer = s.recvfrom(65536)
            t = time.monotonic_ns()
            if data.startswith(b'INVITE '):
                text = data.decode('utf-8', 'replace')
                # alrd's application leg has a Call-ID of its own; the
                # Subject it copies names the sender's call.
                out.write('%s %d\n' % (header(text, 'Subject') or header(text, 'Call-ID'), t))
                answer(s, data, peer, 486, 'Busy Here')


def sender(bind, n, log, targets):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((bind, 0))
    lport = s.getsockname()[1]
    out = open(log, 'w', buffering=1)
    s.settimeout(5)
    for i in range(n):
        k = i % len(targets)
        # "user@host:port", or "user@domain>host:port" for a proxy that
        # routes the domain's user (the Request-URI names the domain).
        ruri, _, dest = targets[k].partition('>')
        user, hostport = ruri.split('@')
        host, port = (dest or hostport).rsplit(':', 1)
        if dest:
            hostport = hostport
        cid = 'sig-%d-%s' % (i, uuid.uuid4().hex[:8])
        branch = 'z9hG4bK' + uuid.uuid4().hex
        body = SDP.format(ip=bind)
        via = 'SIP/2.0/UDP %s:%d;branch=%s;rport' % (bind, lport, branch)
        msg = '\r\n'.join([
            'INVITE sip:%s@%s SIP/2.0' % (user, hostport), 'Via: ' + via,
            'Max-Forwards: 70', 'From: <sip:bench@%s>;tag=s%d' % (bind, i),
            'To: <sip:%s@%s>' % (user, hostport.split(':')[0]), 'Call-ID: %s' % cid,
            'CSeq: 1 INVITE',
            'Subject: %s' % cid, 'Contact: <sip:bench@%s:%d>' % (bind, lport), 'Content-Type: application/sdp',
            'Content-Length: %d' % len(body), '', body]).encode()
        t = time.monotonic_ns()
        s.sendto(msg, (host, int(port)))
        out.write('%s %d %d\n' % (cid, k, t))
        while True:
            try:
                data = s.recv(65536).decode('utf-8', 'replace')
            except socket.timeout:
                s.sendto(msg, (host, int(port)))
                continue
            if header(data, 'Call-ID') != cid:
                continue
            code = int(data.split(' ', 2)[1])
            if code >= 200:
                ack = '\r\n'.join([
                    'ACK sip:%s@%s SIP/2.0' % (user, hostport), 'Via: ' + via,
                    'Max-Forwards: 70', 'From: <sip:bench@%s>;tag=s%d' % (bind, i),
                    'To: ' + header(data, 'To'), 'Call-ID: %s' % cid, 'CSeq: 1 ACK',
                    'Content-Length: 0', '', ''])
                s.sendto(ack.encode(), (host, int(port)))
                break


if __name__ == '__main__':
    if sys.argv[1] == 'receiver':
        receiver(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6])
    else:
        sender(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:])
