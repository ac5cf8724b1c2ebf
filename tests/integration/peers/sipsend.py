#!/usr/bin/python3
"""Send SIP requests and print the answers: a tiny SIP client for the
edge tests, run inside a namespace (and as another user) by the test.

stdin: a JSON object {"proto": "udp"|"tcp", "dest": [host, port],
"bind": [host, port], "messages": [text, ...], "timeout": seconds,
"expect": [n, ...]} -- each message is sent in turn from one socket
(bound to "bind"), and the first final response to it is read (provisional
ones are skipped); "expect"[i] = 0 sends message i without waiting for an
answer (garbage).  stdout: a JSON list, one entry per message: null (no
answer in time, or none expected) or {"status": 200, "reason": "OK",
"headers": [[name, value], ...], "local": [host, port]}.
"""

import json
import socket
import sys
import time


def parse(data):
    head = data.split(b'\r\n\r\n', 1)[0].decode('utf-8', 'replace')
    lines = head.split('\r\n')
    parts = lines[0].split(' ', 2)
    headers = []
    for line in lines[1:]:
        if ':' in line:
            name, value = line.split(':', 1)
            headers.append([name.strip(), value.strip()])
    return {'status': int(parts[1]), 'reason': parts[2] if len(parts) > 2 else '',
            'headers': headers}


def tcp_messages(sock, buf, deadline):
    """Whole messages from the stream (Content-Length framing)."""
    while True:
        if b'\r\n\r\n' in buf:
            head, rest = buf.split(b'\r\n\r\n', 1)
            length = 0
            for line in head.split(b'\r\n')[1:]:
                name, _, value = line.partition(b':')
                if name.strip().lower() in (b'content-length', b'l'):
                    length = int(value.strip())
            if len(rest) >= length:
                return head + b'\r\n\r\n' + rest[:length], rest[length:]
        left = deadline - time.monotonic()
        if left <= 0:
            return None, buf
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return None, buf
        if not chunk:
            return None, buf
        buf += chunk


def main():
    req = json.load(sys.stdin)
    family = socket.AF_INET6 if ':' in req['dest'][0] else socket.AF_INET
    tcp = req['proto'] == 'tcp'
    sock = socket.socket(family, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    sock.bind(tuple(req.get('bind') or (req['dest'][0], 0)))
    dest = tuple(req['dest'])
    if tcp:
        sock.connect(dest)
    local = list(sock.getsockname()[:2])
    timeout = req.get('timeout', 5)
    expect = req.get('expect') or [1] * len(req['messages'])
    out, buf = [], b''
    for text, want in zip(req['messages'], expect):
        data = text.encode() if isinstance(text, str) else bytes(text)
        text = text.replace('@LOCAL_PORT@', str(local[1])) if isinstance(text, str) else text
        data = text.encode() if isinstance(text, str) else data
        if tcp:
            sock.sendall(data)
        else:
            sock.sendto(data, dest)
        if not want:
            out.append(None)
            continue
        deadline = time.monotonic() + timeout
        got = None
        while got is None:
            if tcp:
                msg, buf = tcp_messages(sock, buf, deadline)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                sock.settimeout(left)
                try:
                    msg = sock.recv(65536)
                except socket.timeout:
                    msg = None
            if msg is None:
                break
            r = parse(msg)
            if r['status'] >= 200:
                r['local'] = local
                got = r
        out.append(got)
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()
