#!/usr/bin/python3
"""A local application that subscribes through alrd's edge, for
test_edge_calls.py: run in the device namespace as

    sipsub.py AOR TARGET LOCAL_PORT WAIT

It sends SUBSCRIBE (Event: presence, Expires: 600) for TARGET from AOR to
alrd's edge (127.0.0.1:5062) from 127.0.0.1:LOCAL_PORT, answers every
NOTIFY in the dialog 200 (printing a JSON line {"notify": state, "body"}
for each as it comes), and prints one JSON object when a NOTIFY says
"terminated" or WAIT seconds passed: the SUBSCRIBE's final status, the
NOTIFYs (Subscription-State, body, whether their From tag is the 2xx's
To tag and their Call-ID the SUBSCRIBE's: the dialog alrd made).
"""

import json
import socket
import sys
import time
import uuid


def header(text, name):
    for line in text.split('\r\n'):
        if line.lower().startswith(name.lower() + ':'):
            return line.split(':', 1)[1].strip()
    return None


def tag(value):
    for part in (value or '').split(';')[1:]:
        if part.strip().startswith('tag='):
            return part.strip()[4:]
    return None


def main():
    aor, target, lport, wait = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', lport))
    cid = 'sub-%s' % uuid.uuid4().hex
    msg = '\r\n'.join([
        'SUBSCRIBE %s SIP/2.0' % target,
        'Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport' % (lport, uuid.uuid4().hex),
        'Max-Forwards: 70', 'From: <%s>;tag=sub1' % aor, 'To: <%s>' % target,
        'Call-ID: %s' % cid, 'CSeq: 1 SUBSCRIBE',
        'Contact: <sip:subscriber@127.0.0.1:%d>' % lport, 'Event: presence',
        'Expires: 600', 'Content-Length: 0', '', ''])
    s.sendto(msg.encode(), ('127.0.0.1', 5062))
    out = {'status': None, 'notifies': []}
    their_tag = None
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data, peer = s.recvfrom(65536)
        except socket.timeout:
            break
        text = data.decode('utf-8', 'replace')
        if text.startswith('SIP/2.0 '):
            code = int(text.split(' ', 2)[1])
            if header(text, 'Call-ID') == cid and code >= 200:
                out['status'] = code
                their_tag = tag(header(text, 'To'))
            continue
        if not text.startswith('NOTIFY '):
            continue
        head, _, body = text.partition('\r\n\r\n')
        keep = [h for h in head.split('\r\n')[1:] if h.split(':', 1)[0].strip().lower()
                in ('via', 'from', 'to', 'call-id', 'cseq')]
        s.sendto(('SIP/2.0 200 OK\r\n' + '\r\n'.join(keep) +
                  '\r\nContent-Length: 0\r\n\r\n').encode(), peer)
        state = header(text, 'Subscription-State') or ''
        print(json.dumps({'notify': state, 'body': body.strip()}), flush=True)
        out['notifies'].append({
            'state': state, 'body': body.strip(),
            'same_dialog': header(text, 'Call-ID') == cid and
            tag(header(text, 'To')) == 'sub1' and
            (their_tag is None or tag(header(text, 'From')) == their_tag)})
        if state.startswith('terminated'):
            break
    print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
