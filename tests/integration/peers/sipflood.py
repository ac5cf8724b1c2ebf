#!/usr/bin/python3
"""Two small SIP peers for the flood tests, run in a namespace by the test.

  sipflood.py silent-app PORT AOR
      A local application that registers AOR at alrd's edge
      (127.0.0.1:5062) from 127.0.0.1:PORT, prints "registered" once the
      200 OK is in, then reads and ignores everything (it never answers a
      call) until killed.

  sipflood.py flood USER DEST_HOST DEST_PORT BIND_HOST N WAIT
      Sends N distinct INVITEs (with SDP) to sip:USER@DEST from one
      socket, then reads answers for WAIT seconds, sending an INVITE that
      has no answer yet again after 0.5 s and 1.5 s as a UAC's Timer A
      does (RFC 3261 §17.1.1.2: a burst may overflow a socket buffer);
      prints a JSON object: "finals"
      {status: count of calls with that final answer}, "provisional":
      calls with only a provisional answer, "silent": calls with none.
"""

import json
import socket
import sys
import time
import uuid

SDP = ('v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n'
       'm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n')


def silent_app(port, aor):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', port))
    msg = '\r\n'.join([
        'REGISTER sip:example.test SIP/2.0',
        'Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport' % (port, uuid.uuid4().hex),
        'Max-Forwards: 70', 'From: <%s>;tag=s1' % aor, 'To: <%s>' % aor,
        'Call-ID: %s' % uuid.uuid4().hex, 'CSeq: 1 REGISTER',
        'Contact: <sip:silent@127.0.0.1:%d>;expires=600' % port,
        'Content-Length: 0', '', ''])
    s.sendto(msg.encode(), ('127.0.0.1', 5062))
    while True:
        data = s.recv(65536)
        if data.startswith(b'SIP/2.0 200'):
            break
    print('registered', flush=True)
    while True:
        s.recv(65536)


def flood(user, host, port, bind, n, wait):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((bind, 0))
    lport = s.getsockname()[1]
    calls = {}
    sent = {}
    for i in range(n):
        cid = 'flood-%d-%s' % (i, uuid.uuid4().hex[:8])
        calls[cid] = None
        body = SDP.format(ip=bind)
        msg = '\r\n'.join([
            'INVITE sip:%s@%s:%d SIP/2.0' % (user, host, port),
            'Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport' % (bind, lport, uuid.uuid4().hex),
            'Max-Forwards: 70', 'From: <sip:flood@%s>;tag=f%d' % (bind, i),
            'To: <sip:%s@%s>' % (user, host), 'Call-ID: %s' % cid, 'CSeq: 1 INVITE',
            'Contact: <sip:flood@%s:%d>' % (bind, lport), 'Content-Type: application/sdp',
            'Content-Length: %d' % len(body), '', body])
        sent[cid] = msg.encode()
        s.sendto(sent[cid], (host, port))
    start = time.monotonic()
    deadline = start + wait
    resends = [start + 0.5, start + 1.5]
    while True:
        if resends and time.monotonic() >= resends[0]:
            resends.pop(0)
            for cid, v in calls.items():
                if v is None:
                    s.sendto(sent[cid], (host, port))
        left = min([deadline] + resends) - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data = s.recv(65536).decode('utf-8', 'replace')
        except socket.timeout:
            if time.monotonic() >= deadline:
                break
            continue
        status = int(data.split(' ', 2)[1])
        cid = None
        for line in data.split('\r\n'):
            if line.lower().startswith('call-id:'):
                cid = line.split(':', 1)[1].strip()
        if cid not in calls:
            continue
        if status >= 200:
            calls[cid] = status
        elif calls[cid] is None:
            calls[cid] = 'provisional'
    finals = {}
    for v in calls.values():
        if isinstance(v, int):
            finals[str(v)] = finals.get(str(v), 0) + 1
    print(json.dumps({'finals': finals,
                      'provisional': sum(1 for v in calls.values() if v == 'provisional'),
                      'silent': sum(1 for v in calls.values() if v is None)}))


if __name__ == '__main__':
    if sys.argv[1] == 'silent-app':
        silent_app(int(sys.argv[2]), sys.argv[3])
    else:
        flood(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6]),
              float(sys.argv[7]))
