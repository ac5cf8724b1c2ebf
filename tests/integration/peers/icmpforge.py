#!/usr/bin/python3
"""Forge ICMP errors about a SIP request on the wire: run in the namespace
that holds the far end of a link, it waits for the next UDP datagram from
SRC to DST:DPORT on IFACE (an AF_PACKET socket), then sends back, from its
own address on that link, one ICMP error per CASE quoting that datagram
(the IP header and up to 548 bytes after it, as Linux and RFC 1812 routers
do).  Cases:

  port-from-router   port unreachable (3/3), not from DST: a middlebox, or a
                     forger, speaking for the registrar
  host-other-dest    host unreachable (3/1) about the same datagram sent to
                     another host (the quoted destination is changed)
  host-wrong-branch  host unreachable about the datagram with another Via
                     branch (what a forger who cannot see the request quotes)
  host-match         host unreachable quoting the datagram as it was: the
                     one that counts

Usage: icmpforge.py IFACE SRC DST DPORT CASE... ; prints one JSON line:
{"sport": N, "branch": "z9hG4bK...", "sent": [CASE, ...]}.
"""

import json
import re
import socket
import struct
import sys
import time

ETH_P_IP = 0x0800
QUOTE_MAX = 548
OTHER_DEST = '10.99.100.9'


def checksum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def capture(iface, src, dst, dport, timeout):
    """The IP packet of the next UDP datagram src -> dst:dport."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    s.bind((iface, ETH_P_IP))
    s.settimeout(1.0)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                pkt = s.recv(65535)
            except socket.timeout:
                continue
            if len(pkt) < 28 or pkt[0] >> 4 != 4 or pkt[9] != socket.IPPROTO_UDP:
                continue
            ihl = (pkt[0] & 15) * 4
            if (socket.inet_ntoa(pkt[12:16]) != src or socket.inet_ntoa(pkt[16:20]) != dst
                    or struct.unpack('!H', pkt[ihl + 2:ihl + 4])[0] != dport):
                continue
            return pkt
    finally:
        s.close()
    raise SystemExit('icmpforge: no datagram %s -> %s:%d on %s within %.0fs'
                     % (src, dst, dport, iface, timeout))


def quote_of(pkt, case, branch):
    ihl = (pkt[0] & 15) * 4
    ip = bytearray(pkt[:ihl])
    rest = bytes(pkt[ihl:ihl + 8 + QUOTE_MAX])
    if case == 'host-other-dest':
        ip[16:20] = socket.inet_aton(OTHER_DEST)
        ip[10:12] = b'\0\0'
        ip[10:12] = struct.pack('!H', checksum(bytes(ip)))
    elif case == 'host-wrong-branch':
        other = branch[:7] + ''.join('f' if c != 'f' else 'e' for c in branch[7:])
        rest = rest.replace(branch.encode(), other.encode())
    return bytes(ip) + rest


def icmp(case, quote):
    type_, code = (3, 3) if case == 'port-from-router' else (3, 1)
    head = struct.pack('!BBHI', type_, code, 0, 0)
    csum = checksum(head + quote)
    return struct.pack('!BBHI', type_, code, csum, 0) + quote


def main():
    iface, src, dst, dport = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    cases = sys.argv[5:]
    pkt = capture(iface, src, dst, dport, 30)
    ihl = (pkt[0] & 15) * 4
    sport = struct.unpack('!H', pkt[ihl:ihl + 2])[0]
    m = re.search(rb'branch=(z9hG4bK[0-9A-Za-z.!%*_+`\'~-]+)', pkt[ihl + 8:])
    if not m:
        raise SystemExit('icmpforge: no branch in the datagram')
    branch = m.group(1).decode()
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    for case in cases:
        if case not in ('port-from-router', 'host-other-dest', 'host-wrong-branch',
                        'host-match'):
            raise SystemExit('icmpforge: unknown case %s' % case)
        raw.sendto(icmp(case, quote_of(pkt, case, branch)), (src, 0))
    raw.close()
    print(json.dumps({'sport': sport, 'branch': branch, 'sent': cases}), flush=True)


if __name__ == '__main__':
    main()
