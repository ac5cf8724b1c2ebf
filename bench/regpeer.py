#!/usr/bin/python3
"""The local application of bench/edge-register: REGISTERs at alrd's edge,
one after the other, each timed from just before sendto() to the final
answer's recvfrom() (CLOCK_MONOTONIC).

    regpeer.py HOST PORT AOR COUNT

Prints one line per REGISTER: its round trip in microseconds, or "-" when
no final answer came within 2 s; then removes its contact (Expires: 0,
untimed); exits 1 if any answer was not a 200.
Run as the user whose registrations are timed (root needs no NSS lookup
at alrd, another user one per REGISTER).
"""

import os
import socket
import sys
import time
import uuid


def main():
    host, port, aor, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    lport = s.getsockname()[1]
    call_id, tag = uuid.uuid4().hex, uuid.uuid4().hex[:8]
    user = aor.split(':', 1)[1].split('@', 1)[0]
    bad = 0
    # COUNT timed REGISTERs, then one untimed with Expires: 0 that removes
    # the contact (the profile keeps at most 8 local registrations).
    for cseq in range(1, count + 2):
        expires = 600 if cseq <= count else 0
        msg = ('REGISTER sip:%s SIP/2.0\r\n'
               'Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport\r\n'
               'Max-Forwards: 70\r\n'
               'From: <%s>;tag=%s\r\n'
               'To: <%s>\r\n'
               'Call-ID: %s\r\n'
               'CSeq: %d REGISTER\r\n'
               'Contact: <sip:%s@%s:%d>\r\n'
               'Expires: %d\r\n'
               'Content-Length: 0\r\n\r\n'
               % (aor.split('@', 1)[1], host, lport, uuid.uuid4().hex, aor, tag, aor,
                  call_id, cseq, user, host, lport, expires)).encode()
        t0 = time.monotonic_ns()
        s.sendto(msg, (host, port))
        deadline = t0 + 2_000_000_000
        rtt = None
        while rtt is None:
            left = (deadline - time.monotonic_ns()) / 1e9
            if left <= 0:
                break
            s.settimeout(left)
            try:
                data = s.recv(65535)
            except socket.timeout:
                break
            t1 = time.monotonic_ns()
            status = int(data.split(b' ', 2)[1])
            if status >= 200:
                rtt = (t1 - t0) / 1000.0
                if status != 200:
                    bad += 1
                    print('CSeq %d: %s' % (cseq, data.split(b'\r\n', 1)[0].decode(
                        'utf-8', 'replace')), file=sys.stderr)
        if cseq <= count:
            print('%.1f' % rtt if rtt is not None else '-', flush=True)
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
