"""Real SIP peers for call tests: a caller and a callee (SIPp: Caller,
Callee) in the network namespace, softphones (Baresip, Linphonec) in the
device namespace, and the media each of them received, counted by the kernel of
its own namespace.

    from callpeers import Baresip, Callee, Caller, RtpCounter

    w, reg = test_profiles.sip_world(fx)            # Kamailio on 10.99.100.1
    phone = Baresip(fx, w, password=USERS['alice'],
                    outbound='sip:10.99.100.1;lr', listen='10.99.1.2:5060')
    phone.wait_registered()
    call = Caller(fx, w.net, 'sip:alice@example.test', talk=3)
    r = call.wait_done()          # {'status': 200, 'rtp_received': 150, ...}
    phone.wait_call('CALL_CLOSED')
    phone.rtp_received()          # packets the softphone's host got

Every peer takes the test's Fixture first and is torn down with it (its
processes stopped, its files removed, unless ALR_KEEP is set), so a failed
test leaves nothing behind.  docs/edge.md ("Tests") says how a test uses
them.

Facts verified while writing this (Debian 12: SIPp 3.6.1, baresip 1.0.0,
Kamailio 5.6.3, nftables 1.0.6):

SIPp
- The scenarios are ours (sipp-caller.xml, sipp-callee.xml,
  sipp-register.xml beside this file); @...@ markers are filled in here
  (a recv timeout and a file name are not substituted from -key), the
  rest is passed with -key NAME VALUE and used as [NAME].
- rtp_stream="FILE,-1,0" loops FILE as PCMU (payload type 0), 160 bytes
  every 20 ms, from [auto_media_port] (which is -mp for the first call)
  to the m=audio port of the SDP SIPp last received.  FILE is raw G.711
  mu-law (no header), relative to SIPp's working directory.
- -trace_msg writes every message sent and received to -message_file as
  it goes ("UDP message sent (N bytes):" / "UDP message received [N]
  bytes :" after a line of dashes and the time), which is where the
  peers read what happened: the status of the INVITE, who sent the BYE,
  the bodies of MESSAGEs.
- recv timeout="MS" ontimeout="LABEL" bounds the talk time; SIPp arms
  the timeout of the recv it waits at, which is the first of a group of
  optional ones, so the timeout sits on the optional recv of INFO that
  is the test's "hang up now": hangup() sends an INFO with the call's
  Call-ID (fixed with -cid_str) to SIPp's SIP port from the same
  namespace.  It is a control message from the test, never from the peer
  under test, and it is not answered: a client SIPp sends every message,
  answers too, to its remote host (the proxy).
- A scenario that begins with a send is a client, one with a recv a
  server; a server cannot send the REGISTER that makes it reachable, so
  Callee registers first with a short client run from the same address
  and port (Kamailio's binding records that source as "received", which
  is where lookup() sends the calls).
- Exit status: 0 when every call ran to its end, 1 when one failed, other
  values for errors; -timeout bounds a run.
- Many calls at once (Callers): -cid_str with %u gives each call its
  Call-ID.  rtp_stream sent the RTP of every call from -mp's port,
  whatever port each call's SDP offered, and kept sending to the first
  SDP's address after a re-INVITE with another one; -rtp_echo (every
  packet on -mp's port back to its sender) follows a callee that moves.
  Kamailio's two UDP workers can pass a 180 on after the 200: a scenario
  waiting in the call must take a late provisional answer.
- SIPp keeps the route set and target of the first message with
  rrs="true"; a re-INVITE's new Contact is taken with <ereg> instead.

nftables
- A table per counter (inet, one input chain at priority 0, policy
  accept) in the counting namespace: "udp dport LO-HI [ip daddr A]
  counter".  The input hook sees loopback traffic too, so a softphone's
  media relayed by alrd on 127.0.0.1 is counted as well.  Namespaces have
  rulesets of their own: nothing leaks to the host or to other tests.
- `nft -j list counter inet TABLE NAME` gives {"nftables": [{"metainfo":
  ...}, {"counter": {..., "packets": N, "bytes": M}}]}.

baresip
- Driven over ctrl_tcp (module ctrl_tcp.so, ctrl_tcp_listen): netstring
  framed JSON, {"command": "dial", "params": URI, "token": T} answered by
  {"response": true, "ok": bool, "data": text, "token": T}; events
  {"event": true, "class": "call"|"register"|..., "type":
  "CALL_ESTABLISHED"|..., "accountaor", "direction", "peeruri", "id",
  "param"}.  One connection at a time.  The listening socket is in the
  device namespace: we open ours there (setns in a forked child, the
  descriptor handed back over a socketpair).
- Commands come from menu.so (dial, hangup, accept, listcalls) and
  contact.so (message: to the *current* contact, chosen with
  contact_next from the contacts file, so every URI to message is
  written there at start).
- An incoming MESSAGE is only printed, by menu.so through the UI modules:
  stdio.so prints `sip:from@host: "body"` on stdout (its stdin is a pipe
  we hold, never a terminal).
- Account parameters: answermode=auto answers at once; outbound="URI"
  is the outbound proxy for every request; auth_pass for a 401/407.
- audio_source ausine,FREQ (48 kHz stereo only: ausrc_srate 48000 and
  ausrc_channels 2; baresip resamples for PCMU) gives a tone to send;
  audio_player aubridge,x... plays nothing but takes what is received.
  rtp_ports LO-HI bounds its media ports, which is what RtpCounter counts.
- presence.so subscribes (Event: presence, Expires 600, through the
  outbound proxy) to each contact written `<uri>;presence=p2p`, a second
  after it starts; `contacts` lists each with Unknown, Online, Offline or
  Busy (<basic>open</basic>; rpid:away, rpid:busy or rpid:on-the-phone
  read literally); a subscription that ends prints "presence: subscriber
  closed" and is made again 5 s to an hour later.  call_max_calls (4 by
  default) bounds the calls it holds at once.
"""

import ctypes
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import alrtest  # noqa: E402
from alrtest import T, TestFailure  # noqa: E402

SIPP = '/usr/bin/sipp'
BARESIP = '/usr/bin/baresip'
LINPHONEC = '/usr/bin/linphonec'
NFT = '/usr/sbin/nft'
BARESIP_MODULES = '/usr/lib/baresip/modules'
SIPSEND = os.path.join(HERE, 'sipsend.py')
DOMAIN = 'example.test'

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def need(path, package):
    if not os.access(path, os.X_OK):
        raise alrtest.Skip('no %s (apt install %s)' % (path, package))


def _tmpdir(tag):
    """A directory alrtest.reap_orphans() removes if the run dies."""
    return tempfile.mkdtemp(prefix='%s-%d-%s-' % (alrtest.PREFIX, os.getpid(),
                                                 tag))


def _rmtree(path):
    if not os.environ.get('ALR_KEEP'):
        shutil.rmtree(path, ignore_errors=True)
    else:
        print('callpeers: kept %s' % path, flush=True)


def ns_argv(ns, argv):
    return ['ip', 'netns', 'exec', ns] + list(argv)


def ns_connect(ns, addr, timeout=None):
    """A TCP socket connected to addr (host, port) from inside network
    namespace ns, usable here (a socket stays in the namespace it was made
    in).  Raises OSError when nothing listens."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        rc = 1
        try:
            parent.close()
            fd = os.open('/run/netns/%s' % ns, os.O_RDONLY)
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                os._exit(2)
            s = socket.create_connection(addr, timeout=timeout or 2)
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
        raise ConnectionRefusedError('cannot connect to %s:%d in %s'
                                     % (addr[0], addr[1], ns))
    return socket.socket(fileno=fds[0])


def mulaw_tone(seconds=1.0, freq=440, rate=8000):
    """seconds of a sine tone in G.711 mu-law (what an RTP PCMU payload
    holds), as bytes."""
    import math
    out = bytearray()
    for i in range(int(seconds * rate)):
        x = int(8000 * math.sin(2 * math.pi * freq * i / rate))
        sign = 0x80 if x < 0 else 0
        x = min(abs(x), 32635) + 0x84
        exp = 7
        while exp > 0 and not x & (0x4000 >> (7 - exp)):
            exp -= 1
        mant = (x >> (exp + 3)) & 0x0F
        out.append(~(sign | (exp << 4) | mant) & 0xFF)
    return bytes(out)


def send_info(ns, bind_addr, dest, call_id):
    """Send one INFO with Call-ID call_id to dest (host, port) from
    namespace ns: the test's "hang up now" for a SIPp peer (the scenarios
    take an INFO in the call as that, and do not answer it)."""
    msg = '\r\n'.join([
        'INFO sip:%s:%d SIP/2.0' % tuple(dest),
        'Via: SIP/2.0/UDP %s:@LOCAL_PORT@;branch=z9hG4bK%s;rport'
        % (bind_addr, uuid.uuid4().hex),
        'Max-Forwards: 70',
        'From: <sip:alrtest@%s>;tag=%s' % (bind_addr, uuid.uuid4().hex[:8]),
        'To: <sip:%s:%d>' % tuple(dest),
        'Call-ID: %s' % call_id,
        'CSeq: 1 INFO',
        'Content-Length: 0', '', ''])
    req = {'proto': 'udp', 'dest': list(dest), 'bind': [bind_addr, 0],
           'messages': [msg], 'timeout': 1, 'expect': [0]}
    alrtest.run(ns_argv(ns, ['/usr/bin/python3', SIPSEND]),
                input=json.dumps(req))


def send_message(ns, bind_addr, proxy, to_uri, text,
                 from_uri='sip:caller@example.net', timeout=10):
    """Send one MESSAGE (text/plain) to to_uri through proxy (host, port)
    from bind_addr in namespace ns (peers/sipsend.py); returns the final
    status, or None without one in time."""
    _ensure_addr(ns, bind_addr)
    body = text.encode()
    msg = '\r\n'.join([
        'MESSAGE %s SIP/2.0' % to_uri,
        'Via: SIP/2.0/UDP %s:@LOCAL_PORT@;branch=z9hG4bK%s;rport'
        % (bind_addr, uuid.uuid4().hex),
        'Max-Forwards: 70',
        'From: <%s>;tag=%s' % (from_uri, uuid.uuid4().hex[:8]),
        'To: <%s>' % to_uri,
        'Call-ID: alrt-msg-%s' % uuid.uuid4().hex,
        'CSeq: 1 MESSAGE',
        'Content-Type: text/plain',
        'Content-Length: %d' % len(body), '', '']) + text
    req = {'proto': 'udp', 'dest': list(proxy), 'bind': [bind_addr, 0],
           'messages': [msg], 'timeout': timeout, 'expect': None}
    r = alrtest.run(ns_argv(ns, ['/usr/bin/python3', SIPSEND]),
                    input=json.dumps(req), timeout=timeout + 30)
    got = json.loads(r.stdout)[0]
    return got and got['status']


class _Cleanup:
    def __init__(self, fn):
        self.fn = fn

    def cleanup(self):
        self.fn()


# ---------------------------------------------------------------------------
# Media counted by the receiver's kernel


class RtpCounter:
    """UDP packets arriving in namespace ns for ports lo..hi (to address
    addr, when given): what a peer received, counted by the kernel of its
    own namespace (nftables, input hook), whether or not the peer reads
    them.  One nftables table per counter, deleted by cleanup()."""

    _seq = 0

    def __init__(self, fx, ns, ports, addr=None, name='rtp'):
        need(NFT, 'nftables')
        RtpCounter._seq += 1
        self.ns = ns
        self.lo, self.hi = (ports, ports) if isinstance(ports, int) else ports
        self.addr = addr
        self.table = 'alrt_%s_%d' % (re.sub(r'\W', '_', name), RtpCounter._seq)
        match = 'udp dport %d-%d' % (self.lo, self.hi)
        if addr:
            match = '%s daddr %s %s' % ('ip6' if ':' in addr else 'ip', addr,
                                        match)
        rules = ('table inet %s {\n'
                 '  counter rtp { }\n'
                 '  chain input {\n'
                 '    type filter hook input priority 0; policy accept;\n'
                 '    %s counter name rtp\n'
                 '  }\n'
                 '}\n' % (self.table, match))
        alrtest.run(ns_argv(ns, [NFT, '-f', '-']), input=rules)
        fx._objs.append(self)
        self.base = 0

    def _read(self):
        r = alrtest.run(ns_argv(self.ns, [NFT, '-j', 'list', 'counter',
                                          'inet', self.table, 'rtp']))
        for obj in json.loads(r.stdout)['nftables']:
            if 'counter' in obj:
                return obj['counter']['packets'], obj['counter']['bytes']
        raise TestFailure('nft: no counter in %s' % r.stdout)

    def packets(self):
        """Packets counted since creation or the last reset()."""
        return self._read()[0] - self.base

    def reset(self):
        self.base = self._read()[0]

    def wait_packets(self, n, timeout=None):
        """Wait until at least n packets were counted; returns the count."""
        return alrtest.wait_until(lambda: self.packets() >= n and
                                  self.packets(), timeout or T(10),
                                  '%d RTP packets in %s to %d-%d'
                                  % (n, self.ns, self.lo, self.hi))

    def cleanup(self):
        alrtest.run(ns_argv(self.ns, [NFT, 'delete', 'table', 'inet',
                                      self.table]), check=False)


# ---------------------------------------------------------------------------
# SIPp


_TRACE_HEAD = re.compile(r'^-{20,} (\S+ \S+)\s*$')
_TRACE_DIR = re.compile(r'^\w+ message (sent|received)\b')


def parse_sipp_trace(path):
    """SIPp's -trace_msg file as a list of messages: dicts with "dir"
    ("sent"/"received"), "first" (the start line), "method" (requests),
    "status" (responses), "cseq" (number, method), "call_id", "headers"
    ([name, value] in order) and "body"."""
    try:
        with open(path, 'rb') as f:
            text = f.read().decode('utf-8', 'replace')
    except FileNotFoundError:
        return []
    msgs = []
    for block in re.split(r'\n(?=-{20,} )', text):
        lines = block.split('\n')
        if len(lines) < 3 or not _TRACE_HEAD.match(lines[0]):
            continue
        m = _TRACE_DIR.match(lines[1])
        if not m:
            continue
        body_lines = lines[2:]
        while body_lines and not body_lines[0].strip():
            body_lines.pop(0)
        raw = '\n'.join(body_lines).replace('\r\n', '\n')
        head, _, body = raw.partition('\n\n')
        hlines = head.split('\n')
        if not hlines or not hlines[0]:
            continue
        msg = {'dir': m.group(1), 'first': hlines[0].strip(), 'headers': [],
               'method': None, 'status': None}
        for h in hlines[1:]:
            name, sep, value = h.partition(':')
            if sep:
                msg['headers'].append([name.strip(), value.strip()])
        parts = msg['first'].split(' ', 2)
        if parts[0].startswith('SIP/'):
            try:
                msg['status'] = int(parts[1])
            except (IndexError, ValueError):
                continue
        else:
            msg['method'] = parts[0]
        msg['call_id'] = _hdr(msg, 'Call-ID', 'i')
        cseq = (_hdr(msg, 'CSeq') or '').split()
        msg['cseq'] = (int(cseq[0]), cseq[1]) if len(cseq) == 2 \
            and cseq[0].isdigit() else None
        length = _hdr(msg, 'Content-Length', 'l')
        try:
            n = int(length)
        except (TypeError, ValueError):
            n = len(body)
        # A message still being written, or the trace's own blank lines
        msg['body'] = body.rstrip('\n')[:n] if n else ''
        msgs.append(msg)
    return msgs


def _hdr(msg, *names):
    names = [n.lower() for n in names]
    for n, v in msg['headers']:
        if n.lower() in names:
            return v
    return None


class _Sipp:
    """One SIPp process in namespace ns with its scenario, trace and
    output in a directory of its own."""

    def __init__(self, fx, ns, tag):
        need(SIPP, 'sip-tester')
        self.fx = fx
        self.ns = ns
        self.dir = _tmpdir(tag)
        self.trace = os.path.join(self.dir, 'messages.log')
        self.errors = os.path.join(self.dir, 'errors.log')
        self.out_path = os.path.join(self.dir, 'sipp.out')
        self.proc = None
        self._out = None
        fx._objs.append(_Cleanup(self._cleanup_dir))

    def scenario(self, name, **marks):
        with open(os.path.join(HERE, name)) as f:
            text = f.read()
        for k, v in marks.items():
            mark = '@%s@' % k
            if mark not in text:
                raise TestFailure('%s has no %s' % (name, mark))
            text = text.replace(mark, str(v))
        left = re.search(r'@[A-Z_]+@', text)
        if left:
            raise TestFailure('%s: unfilled marker %s' % (name, left.group(0)))
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def spawn(self, argv, trace=True):
        if trace:
            argv = argv + ['-trace_msg', '-message_file', self.trace,
                           '-trace_err', '-error_file', self.errors]
        self._out = open(self.out_path, 'ab')
        # ip netns exec execs sipp: the Popen pid is SIPp's.
        self.proc = self.fx.popen(ns_argv(self.ns, [SIPP] + argv + ['-nostdin']),
                                  stdin=subprocess.DEVNULL, stdout=self._out,
                                  stderr=subprocess.STDOUT, cwd=self.dir,
                                  start_new_session=True)
        return self.proc

    def run_once(self, argv, timeout):
        """Run SIPp to its end; returns its exit status."""
        p = self.spawn(argv, trace=False)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise TestFailure('sipp %s did not finish in %.0fs:\n%s'
                              % (' '.join(argv[:3]), timeout, self.tail()))

    def messages(self):
        return parse_sipp_trace(self.trace)

    def tail(self, n=2000):
        out = []
        for path in (self.errors, self.out_path):
            try:
                with open(path, 'rb') as f:
                    data = f.read().decode('utf-8', 'replace')
                # SIPp's screen uses ANSI escapes; keep the text
                data = re.sub(r'\x1b\[[0-9;?]*[A-Za-z]', '', data)
                out.append('--- %s\n%s' % (path, data[-n:]))
            except OSError:
                pass
        return '\n'.join(out)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=None):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout or T(5))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _cleanup_dir(self):
        self.stop()
        if self._out:
            self._out.close()
            self._out = None
        _rmtree(self.dir)


def _rtp_file(directory, name='tone.pcmu'):
    path = os.path.join(directory, name)
    with open(path, 'wb') as f:
        f.write(mulaw_tone(1.0))
    return name


class Caller:
    """A caller (SIPp, sipp-caller.xml) in namespace ns that calls target
    (an AOR, 'sip:alice@example.test') through the proxy (host, port),
    sends PCMU while the call lasts and counts the RTP it receives (an
    nftables counter on its own media port).

    talk: seconds after the answer when the caller hangs up; None waits
    for the callee's BYE (up to `wait` seconds, then the caller hangs up
    itself: ended_by 'caller').  hangup() ends the call at once.  The call
    starts in the constructor.

    result() / wait_done() report, from SIPp's own message trace:
      status        the final answer to the INVITE (None: none yet)
      answered      status == 200
      rtp_received  packets that reached the caller's media port
      ended_by      'caller' (our BYE), 'callee' (its BYE), None
      bye_status    the answer to our BYE (200, 481) or None
      exit_code     SIPp's exit status (None while it runs)
    """

    def __init__(self, fx, ns, target, proxy=('10.99.100.1', 5060),
                 addr='10.99.100.2', sip_port=5070, media_port=20000,
                 talk=3.0, wait=60.0, from_uri='sip:caller@example.net',
                 timeout=120):
        self.ns = ns
        self.target = target
        self.addr = addr
        self.sip_port = sip_port
        self.media_port = media_port
        self.call_id = 'alrt-caller-%s' % uuid.uuid4().hex
        _ensure_addr(ns, addr)
        self.counter = RtpCounter(fx, ns, (media_port, media_port), addr,
                                  name='caller')
        self.sipp = _Sipp(fx, ns, 'caller')
        talk_ms = int((talk if talk is not None else wait) * 1000)
        self.talk = talk
        scen = self.sipp.scenario('sipp-caller.xml', TALK_MS=talk_ms,
                                  RTP_FILE=_rtp_file(self.sipp.dir))
        self.t_start = time.monotonic()
        self.sipp.spawn([
            '%s:%d' % tuple(proxy), '-sf', scen, '-m', '1', '-l', '1',
            '-i', addr, '-p', str(sip_port), '-mi', addr,
            '-mp', str(media_port), '-cid_str', self.call_id,
            '-key', 'target', target, '-key', 'from', from_uri,
            '-timeout', str(int(timeout)), '-timeout_error',
            '-recv_timeout', str(int((timeout - 5) * 1000)),
        ])

    # -- what happened, from the trace ------------------------------------

    def messages(self):
        return [m for m in self.sipp.messages()
                if m['call_id'] == self.call_id]

    def status(self):
        """The final status of the INVITE, or None."""
        for m in self.messages():
            if m['dir'] == 'received' and m['status'] and m['status'] >= 200 \
                    and m['cseq'] and m['cseq'][1] == 'INVITE':
                return m['status']
        return None

    def statuses(self):
        """Every status received for the INVITE, in order (100, 180, 200)."""
        return [m['status'] for m in self.messages()
                if m['dir'] == 'received' and m['status']
                and m['cseq'] and m['cseq'][1] == 'INVITE']

    def result(self):
        msgs = self.messages()
        status = self.status()
        ended_by = bye_status = None
        for m in msgs:
            if m['method'] == 'BYE':
                ended_by = 'caller' if m['dir'] == 'sent' else 'callee'
                break
        for m in msgs:
            if m['dir'] == 'received' and m['status'] and m['cseq'] \
                    and m['cseq'][1] == 'BYE':
                bye_status = m['status']
        p = self.sipp.proc
        return {'status': status, 'answered': status == 200,
                'rtp_received': self.counter.packets(),
                'ended_by': ended_by, 'bye_status': bye_status,
                'exit_code': p.poll() if p else None}

    # -- waiting and acting -------------------------------------------------

    def _check_running(self, what):
        if not self.sipp.alive() and self.status() is None:
            raise TestFailure('the caller (SIPp) exited with %s before %s:\n%s'
                              % (self.sipp.proc.returncode, what,
                                 self.sipp.tail()))

    def wait_status(self, timeout=None):
        """The final status of the INVITE, once there is one."""
        def got():
            self._check_running('a final answer')
            return self.status()
        return alrtest.wait_until(got, timeout or T(30),
                                  'a final answer to the INVITE to %s'
                                  % self.target)

    def wait_answered(self, timeout=None):
        status = self.wait_status(timeout)
        if status != 200:
            raise TestFailure('the call to %s was answered %s, not 200'
                              % (self.target, status))
        return status

    def wait_rtp(self, n, timeout=None):
        """Until the caller has received at least n RTP packets."""
        return self.counter.wait_packets(n, timeout)

    def hangup(self):
        """Ask the caller to hang up now (an INFO it takes as that; see
        sipp-caller.xml).  Needs an answered call; wait_done() tells what
        followed."""
        send_info(self.ns, self.addr, (self.addr, self.sip_port),
                         self.call_id)

    def wait_done(self, timeout=None):
        """Wait for SIPp to finish the call; returns result()."""
        p = self.sipp.proc
        limit = timeout or T((self.talk or 60) + 30)
        try:
            p.wait(limit)
        except subprocess.TimeoutExpired:
            raise TestFailure('the caller did not finish within %.0fs: %r\n%s'
                              % (limit, self.result(), self.sipp.tail()))
        return self.result()

    def tail(self):
        return self.sipp.tail()


class Callee:
    """A user agent (SIPp, sipp-callee.xml) in namespace ns registered at
    the registrar as user@domain from addr:sip_port (digest with
    password), that answers every INVITE (180, then 200 with PCMU), sends
    PCMU while a call lasts and counts the RTP it receives, and answers
    every MESSAGE 200.  talk: seconds after the answer when it hangs up
    (None: it waits for the caller's BYE, up to `wait` seconds).

    calls()     one dict per INVITE received: call_id, from, contact, answered
                (we sent 200 and got the ACK), ended_by ('caller': BYE
                received; 'callee': BYE sent), bye_status
    messages()  [{'from': URI, 'body': text, 'call_id': ...}] received
    rtp_received()  packets that reached its media ports
    hangup(call_id=None)  hang up now (the last call by default); calls()
                tells what followed
    """

    def __init__(self, fx, ns, user, password, registrar=('10.99.100.1', 5060),
                 addr='10.99.100.3', sip_port=5080, media_port=22000,
                 domain=DOMAIN, talk=None, wait=120.0, expires=3600, early_media=0):
        self.ns = ns
        self.user = user
        self.addr = addr
        self.sip_port = sip_port
        self.uri = 'sip:%s@%s' % (user, domain)
        _ensure_addr(ns, addr)
        # SIPp gives call n the port media_port + 2(n-1) and a MESSAGE is
        # a call too: a range.
        self.counter = RtpCounter(fx, ns, (media_port, media_port + 998), addr,
                                  name='callee_' + user)
        reg = _Sipp(fx, ns, 'register-' + user)
        scen = reg.scenario('sipp-register.xml')
        rc = reg.run_once([
            '%s:%d' % tuple(registrar), '-sf', scen, '-m', '1',
            '-i', addr, '-p', str(sip_port), '-au', user, '-ap', password,
            '-key', 'user', user, '-key', 'domain', domain,
            '-key', 'expires', str(expires),
            '-trace_msg', '-message_file', reg.trace,
            '-timeout', '20', '-timeout_error'], timeout=T(30))
        if rc != 0:
            raise TestFailure('%s did not register (sipp exit %s):\n%s'
                              % (self.uri, rc, reg.tail()))
        self.sipp = _Sipp(fx, ns, 'callee-' + user)
        rtp_file = _rtp_file(self.sipp.dir)
        start_rtp = ('<nop><action><exec rtp_stream="%s,-1,0"/></action></nop>'
                     % rtp_file)
        early = ''
        if early_media:
            # RFC 3960's early media: a 183 with the answer, media at once.
            early = ('<send><![CDATA[\n\n      SIP/2.0 183 Session Progress\n'
                     '      [last_Via:]\n      [last_From:]\n'
                     '      [last_To:];tag=[pid]callee[call_number]\n'
                     '      [last_Call-ID:]\n      [last_CSeq:]\n'
                     '      [last_Record-Route:]\n'
                     '      Contact: <sip:[user]@[local_ip]:[local_port]>\n'
                     '      Content-Type: application/sdp\n      Content-Length: [len]\n\n'
                     '      v=0\n      o=[user] 1 1 IN IP[local_ip_type] [media_ip]\n'
                     '      s=alrtest\n      c=IN IP[media_ip_type] [media_ip]\n'
                     '      t=0 0\n      m=audio [auto_media_port] RTP/AVP 0\n'
                     '      a=rtpmap:0 PCMU/8000\n      a=sendrecv\n\n    ]]></send>\n'
                     '  %s\n  <pause milliseconds="%d"/>' % (start_rtp, int(early_media * 1000)))
        scen = self.sipp.scenario('sipp-callee.xml', TALK_MS=int(
            (talk if talk is not None else wait) * 1000),
            EARLY_MEDIA=early, RTP_AFTER_ANSWER='' if early_media else start_rtp)
        self.sipp.spawn(['-sf', scen, '-i', addr, '-p', str(sip_port),
                         '-mi', addr, '-mp', str(media_port),
                         '-key', 'user', user])
        # SIPp listening: the port is bound before it reads the scenario's
        # first recv; wait for it so that no INVITE meets a closed port.
        alrtest.wait_until(self._listening, T(10),
                           'SIPp callee listening on %s:%d' % (addr, sip_port))

    def _listening(self):
        if not self.sipp.alive():
            raise TestFailure('the callee (SIPp) exited with %s:\n%s'
                              % (self.sipp.proc.returncode, self.sipp.tail()))
        r = alrtest.run(ns_argv(self.ns, ['ss', '-Hlnu', 'sport', '=',
                                          ':%d' % self.sip_port]), check=False)
        return self.addr in r.stdout

    def calls(self):
        calls = {}
        order = []
        for m in self.sipp.messages():
            cid = m['call_id']
            if m['method'] == 'INVITE' and m['dir'] == 'received' \
                    and cid not in calls:
                calls[cid] = {'call_id': cid, 'from': _hdr(m, 'From', 'f'),
                              'contact': _hdr(m, 'Contact', 'm'),
                              'answered': False, 'ended_by': None,
                              'bye_status': None, '_ok': False}
                order.append(cid)
                continue
            c = calls.get(cid)
            if c is None:
                continue
            if m['dir'] == 'sent' and m['status'] == 200 and m['cseq'] \
                    and m['cseq'][1] == 'INVITE':
                c['_ok'] = True
            elif m['dir'] == 'received' and m['method'] == 'ACK' and c['_ok']:
                c['answered'] = True
            elif m['method'] == 'BYE' and c['ended_by'] is None:
                c['ended_by'] = 'caller' if m['dir'] == 'received' else 'callee'
            elif m['dir'] == 'received' and m['status'] and m['cseq'] \
                    and m['cseq'][1] == 'BYE':
                c['bye_status'] = m['status']
        out = []
        for cid in order:
            c = calls[cid]
            del c['_ok']
            out.append(c)
        return out

    def messages(self):
        return [{'from': _hdr(m, 'From', 'f'), 'body': m['body'],
                 'content_type': _hdr(m, 'Content-Type', 'c'),
                 'call_id': m['call_id']}
                for m in self.sipp.messages()
                if m['method'] == 'MESSAGE' and m['dir'] == 'received']

    def wait_call(self, pred=lambda c: True, timeout=None, what='a call'):
        """The first call (calls()) for which pred holds, once there is
        one."""
        def find():
            if not self.sipp.alive():
                raise TestFailure('the callee (SIPp) exited with %s:\n%s'
                                  % (self.sipp.proc.returncode,
                                     self.sipp.tail()))
            for c in self.calls():
                if pred(c):
                    return c
            return None
        return alrtest.wait_until(find, timeout or T(30),
                                  '%s at %s' % (what, self.uri))

    def wait_message(self, body=None, timeout=None):
        def find():
            for m in self.messages():
                if body is None or m['body'] == body:
                    return m
            return None
        return alrtest.wait_until(find, timeout or T(20),
                                  'MESSAGE %r at %s' % (body, self.uri))

    def rtp_received(self):
        return self.counter.packets()

    def hangup(self, call_id=None):
        if call_id is None:
            calls = self.calls()
            if not calls:
                raise TestFailure('%s has no call to hang up' % self.uri)
            call_id = calls[-1]['call_id']
        send_info(self.ns, self.addr, (self.addr, self.sip_port),
                         call_id)

    def tail(self):
        return self.sipp.tail()


class Notifier:
    """SIPp registered at the registrar as @user (from @addr:@sip_port, as
    Callee), running one scenario once: by default sipp-notifier.xml
    (one SUBSCRIBE: 200 with Expires: 600, a NOTIFY "active" in the
    dialog, a second later a NOTIFY "terminated"); sipp-refuse-move.xml
    is a callee that refuses the re-INVITE of a move.  wait_done() is
    SIPp's exit status: 0 when every step of the scenario happened."""

    def __init__(self, fx, ns, user, password, registrar=('10.99.100.1', 5060),
                 addr='10.99.100.4', sip_port=5084, domain=DOMAIN,
                 scenario='sipp-notifier.xml'):
        _ensure_addr(ns, addr)
        reg = _Sipp(fx, ns, 'register-' + user)
        scen = reg.scenario('sipp-register.xml')
        rc = reg.run_once([
            '%s:%d' % tuple(registrar), '-sf', scen, '-m', '1',
            '-i', addr, '-p', str(sip_port), '-au', user, '-ap', password,
            '-key', 'user', user, '-key', 'domain', domain, '-key', 'expires', '600',
            '-trace_msg', '-message_file', reg.trace,
            '-timeout', '20', '-timeout_error'], timeout=T(30))
        if rc != 0:
            raise TestFailure('%s did not register (sipp exit %s):\n%s'
                              % (user, rc, reg.tail()))
        self.sipp = _Sipp(fx, ns, 'notifier-' + user)
        scen = self.sipp.scenario(scenario)
        self.sipp.spawn(['-sf', scen, '-i', addr, '-p', str(sip_port), '-m', '1',
                         '-timeout', '60', '-timeout_error'])

    def wait_done(self, timeout=None):
        try:
            return self.sipp.proc.wait(timeout or T(60))
        except subprocess.TimeoutExpired:
            raise TestFailure('the notifier did not finish:\n' + self.sipp.tail())

    def tail(self):
        return self.sipp.tail()


def _ensure_addr(ns, addr):
    """addr on the loopback of namespace ns (the network namespace's
    peers each get an address of their own, so that their packets are
    told apart)."""
    r = alrtest.run(['ip', '-n', ns, '-j', 'addr', 'show', 'dev', 'lo'])
    have = {a['local'] for e in json.loads(r.stdout or '[]')
            for a in e.get('addr_info', [])}
    if addr not in have:
        alrtest.run(['ip', '-n', ns, 'addr', 'add',
                     addr + ('/128' if ':' in addr else '/32'), 'dev', 'lo'])


# ---------------------------------------------------------------------------
# Softphones


class Baresip:
    """baresip (Debian's baresip-core), unmodified, in namespace ns (the
    world's device namespace by default), one account:

      aor        the account's AOR
      password   auth_pass (digest for 401 and 407), or None
      outbound   the outbound proxy every request goes to: alrd's edge
                 'sip:127.0.0.1:5062;lr' (default), or the registrar
                 directly ('sip:10.99.100.1;lr')
      listen     sip_listen, the address and port it sends from
      regint     the Expires of its REGISTERs (0: it does not register)
      answer     'auto' (answermode=auto: answers every call at once) or
                 'manual' (rings; accept() answers); True and False say
                 the same
      rtp_ports  (lo, hi): its media ports; rtp_received() counts packets
                 arriving on them in ns
      contacts   URIs it may send a MESSAGE to (send_message())
      presence   URIs whose presence it subscribes to (presence.so: a
                 SUBSCRIBE, Event: presence, through the outbound proxy,
                 a second after it starts; presence_of() is what it
                 made of the last NOTIFY)
      max_calls  call_max_calls (baresip's default is 4 calls at once)

    It sends a 440 Hz tone during calls (ausine).  The constructor starts
    it; events (registration, calls) come over ctrl_tcp and are kept in
    order, like alrtest.Client's: wait_event() claims them.

    Kept compatible with the first version (test_edge.py):
    Baresip(fx, w, regint=600), output(), stop()."""

    def __init__(self, fx, w, aor='sip:alice@example.test', password=None,
                 outbound='sip:127.0.0.1:5062;lr', listen='127.0.0.1:5070',
                 regint=600, answer='auto', rtp_ports=(31000, 31099),
                 contacts=(), ctrl_port=4444, ns=None, tone=440,
                 presence=(), max_calls=None):
        need(BARESIP, 'baresip-core')
        self.fx = fx
        self.ns = ns or w.dev
        self.aor = aor
        self.ctrl_port = ctrl_port
        self.contacts = list(contacts)
        self.presence = list(presence)
        self.home = _tmpdir('baresip')
        d = self.confdir = os.path.join(self.home, '.baresip')
        os.makedirs(d)
        mods = ['g711.so', 'ausine.so', 'aubridge.so', 'menu.so', 'contact.so',
                'ctrl_tcp.so', 'stdio.so', 'account.so']
        if self.presence:
            mods.append('presence.so')
        for mod in mods:
            if not os.path.exists(os.path.join(BARESIP_MODULES, mod)):
                raise alrtest.Skip('no %s in %s' % (mod, BARESIP_MODULES))
        with open(os.path.join(d, 'config'), 'w') as f:
            f.write('# written by tests/integration/peers/callpeers.py\n'
                    'poll_method\t\tepoll\n'
                    'sip_listen\t\t%s\n'
                    'rtp_ports\t\t%d-%d\n'
                    'audio_source\t\tausine,%d\n'
                    'ausrc_srate\t\t48000\n'
                    'ausrc_channels\t\t2\n'
                    'audio_player\t\taubridge,alrtest\n'
                    'audio_alert\t\taubridge,alrtest\n'
                    'ctrl_tcp_listen\t\t127.0.0.1:%d\n'
                    'module_path\t\t%s\n'
                    'module\t\t\tstdio.so\n'
                    'module\t\t\tg711.so\n'
                    'module\t\t\tausine.so\n'
                    'module\t\t\taubridge.so\n'
                    'module_tmp\t\taccount.so\n'
                    'module_app\t\tcontact.so\n'
                    'module_app\t\tmenu.so\n'
                    'module_app\t\tctrl_tcp.so\n'
                    % (listen, rtp_ports[0], rtp_ports[1], tone, ctrl_port,
                       BARESIP_MODULES))
            if self.presence:
                f.write('module_app\t\tpresence.so\n')
            if max_calls:
                f.write('call_max_calls\t\t%d\n' % max_calls)
        if answer in (True, False):
            answer = 'auto' if answer else 'manual'
        if answer not in ('auto', 'manual'):
            raise ValueError('answer: auto or manual, not %r' % (answer,))
        params = ['outbound="%s"' % outbound, 'regint=%d' % regint,
                  'answermode=%s' % answer]
        if password:
            params.insert(0, 'auth_pass=%s' % password)
        with open(os.path.join(d, 'accounts'), 'w') as f:
            f.write('<%s>;%s\n' % (aor, ';'.join(params)))
        os.chmod(os.path.join(d, 'accounts'), 0o600)
        with open(os.path.join(d, 'contacts'), 'w') as f:
            for i, uri in enumerate(self.contacts):
                f.write('"c%d" <%s>\n' % (i, uri))
            for i, uri in enumerate(self.presence):
                f.write('"p%d" <%s>;presence=p2p\n' % (i, uri))
        self.rtp_counter = RtpCounter(fx, self.ns, rtp_ports, name='baresip')
        self.out_path = os.path.join(self.home, 'out.log')
        self.out = open(self.out_path, 'wb')
        env = dict(os.environ, HOME=self.home)
        # stdin: a pipe we hold (stdio.so reads it; EOF would end it)
        self.proc = fx.popen(ns_argv(self.ns, [BARESIP, '-f', d]),
                             stdin=subprocess.PIPE, stdout=self.out,
                             stderr=subprocess.STDOUT, env=env,
                             start_new_session=True)
        fx._objs.append(self)
        self.sock = None
        self.buf = b''
        self.events = []         # not yet claimed
        self.history = []        # every event, in order
        self._token = 0
        self._connect()

    # -- ctrl_tcp ----------------------------------------------------------

    def _connect(self):
        deadline = time.monotonic() + T(15)
        while True:
            if self.proc.poll() is not None:
                raise TestFailure('baresip exited with %s:\n%s'
                                  % (self.proc.returncode,
                                     self.output()[-3000:]))
            try:
                self.sock = ns_connect(self.ns, ('127.0.0.1', self.ctrl_port))
                self.sock.setblocking(False)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise TestFailure('baresip ctrl_tcp did not accept on '
                                      'port %d:\n%s' % (self.ctrl_port,
                                                         self.output()[-3000:]))
                time.sleep(0.05)

    def _read_obj(self, deadline):
        """The next JSON object from ctrl_tcp, or None at the deadline."""
        while True:
            m = re.match(rb'(\d+):', self.buf)
            if m:
                n = int(m.group(1))
                end = m.end() + n
                if len(self.buf) > end:
                    data = self.buf[m.end():end]
                    if self.buf[end:end + 1] != b',':
                        raise TestFailure('ctrl_tcp: bad netstring %r'
                                          % self.buf[:200])
                    self.buf = self.buf[end + 1:]
                    return json.loads(data)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return None
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                raise TestFailure('baresip closed ctrl_tcp:\n%s'
                                  % self.output()[-3000:])
            self.buf += data

    def command(self, cmd, params=None, timeout=None):
        """Run a baresip command (ctrl_tcp); returns its response
        {"ok": bool, "data": text}.  Events read meanwhile are kept."""
        self._token += 1
        token = 'alrt%d' % self._token
        obj = {'command': cmd, 'token': token}
        if params is not None:
            obj['params'] = params
        data = json.dumps(obj).encode()
        self.sock.setblocking(True)
        try:
            self.sock.sendall(b'%d:%s,' % (len(data), data))
        finally:
            self.sock.setblocking(False)
        deadline = time.monotonic() + (timeout or T(10))
        while True:
            o = self._read_obj(deadline)
            if o is None:
                raise TestFailure('baresip: no response to %s %r' % (cmd, params))
            if o.get('event'):
                self.events.append(o)
                self.history.append(o)
            elif o.get('response') and o.get('token') == token:
                return o

    def wait_event(self, pred, timeout=None, what=None):
        """The first event (from those kept or read before the deadline)
        for which pred holds; pred is a function of the event or a type
        ('REGISTER_OK', 'CALL_ESTABLISHED', 'CALL_CLOSED', ...)."""
        if isinstance(pred, str):
            etype = pred
            pred = lambda e: e.get('type') == etype       # noqa: E731
            what = what or etype
        for i, e in enumerate(self.events):
            if pred(e):
                del self.events[i]
                return e
        deadline = time.monotonic() + (timeout or T(20))
        while True:
            o = self._read_obj(deadline)
            if o is None:
                seen = ', '.join('%s(%s)' % (e.get('type'), e.get('param', ''))
                                 for e in self.history[-12:])
                raise TestFailure('baresip: no event %s; last events: [%s]\n'
                                  'output:\n%s' % (what or 'matching', seen,
                                                   self.output()[-2500:]))
            if not o.get('event'):
                continue
            self.history.append(o)
            if pred(o):
                return o
            self.events.append(o)

    def registered(self):
        """Whether baresip holds a registration now (its reginfo: the
        account's line says OK)."""
        data = re.sub(r'\x1b\[[0-9;]*m', '', self.command('reginfo')['data'])
        for line in data.split('\n'):
            if self.aor in line:
                return ' OK ' in line + ' '
        return False

    def wait_registered(self, timeout=None):
        """Until baresip's registration succeeded (it may have done so
        before ctrl_tcp was connected: its reginfo is asked as well);
        a REGISTER_FAIL event fails at once."""
        def done():
            for e in self.events:
                if e.get('type') == 'REGISTER_FAIL':
                    raise TestFailure('baresip: registration failed: %s\n%s'
                                      % (e.get('param'), self.output()[-2000:]))
            return self.registered()
        return alrtest.wait_until(done, timeout or T(20),
                                  'baresip registered as %s' % self.aor)

    def wait_call(self, etype, timeout=None):
        """The next call event of type etype (CALL_INCOMING, CALL_RINGING,
        CALL_ESTABLISHED, CALL_CLOSED); a CALL_CLOSED arriving first
        when waiting for another fails at once."""
        def pred(e):
            if e.get('type') == etype:
                return True
            if e.get('type') == 'CALL_CLOSED':
                raise TestFailure('baresip: call closed (%s) while waiting for '
                                  '%s' % (e.get('param'), etype))
            return False
        if etype == 'CALL_CLOSED':
            return self.wait_event(etype, timeout)
        return self.wait_event(pred, timeout, etype)

    # -- actions -----------------------------------------------------------

    def dial(self, uri):
        r = self.command('dial', uri)
        if not r.get('ok'):
            raise TestFailure('baresip: dial %s: %r' % (uri, r))
        return r

    def accept(self):
        return self.command('accept')

    def hangup(self):
        return self.command('hangup')

    def send_message(self, uri, text):
        """Send a MESSAGE to uri (one of `contacts`) through the outbound
        proxy.  contact.so sends to its current contact: cycle to uri."""
        if uri not in self.contacts:
            raise ValueError('%s is not in contacts=' % uri)
        for _ in range(len(self.contacts) + 1):
            r = self.command('contact_next')
            if uri in (r.get('data') or ''):
                break
        else:
            raise TestFailure('baresip: cannot make %s current: %r' % (uri, r))
        r = self.command('message', text)
        if not r.get('ok'):
            raise TestFailure('baresip: message to %s: %r' % (uri, r))
        return r

    _MSG_RE = re.compile(r'^\r?(sips?:\S+): "(.*)"$')

    def messages(self):
        """MESSAGEs received: [{'from': URI, 'body': text}] (menu.so prints
        each one; a body on one line only)."""
        out = []
        for line in self.output().split('\n'):
            m = self._MSG_RE.match(line.strip('\r').strip())
            if m:
                out.append({'from': m.group(1), 'body': m.group(2)})
        return out

    def wait_message(self, body, timeout=None):
        return alrtest.wait_until(
            lambda: [m for m in self.messages() if m['body'] == body],
            timeout or T(20), 'MESSAGE %r at baresip' % body)[0]

    def presence_of(self, uri):
        """The presence baresip shows for @uri (one of `presence`), from
        its `contacts` listing: 'Unknown' (no NOTIFY with a body yet, or
        the subscription ended), 'Online' (<basic>open</basic>),
        'Offline' (closed, or rpid:away), 'Busy' (rpid:busy or
        rpid:on-the-phone)."""
        data = re.sub(r'\x1b\[[0-9;]*m', '', self.command('contacts')['data'])
        for line in data.split('\n'):
            if '<%s>' % uri in line:
                m = re.search(r'\b(Unknown|Online|Offline|Busy)\b', line)
                if m:
                    return m.group(1)
        raise TestFailure('baresip: %s not in its contacts:\n%s' % (uri, data))

    def wait_presence(self, uri, status, timeout=None):
        return alrtest.wait_until(lambda: self.presence_of(uri) == status,
                                  timeout or T(20),
                                  'baresip showing %s %s' % (uri, status))

    def rtp_received(self):
        """RTP packets that reached its media ports (its kernel's count)."""
        return self.rtp_counter.packets()

    def wait_rtp(self, n, timeout=None):
        return self.rtp_counter.wait_packets(n, timeout)

    # -- process -----------------------------------------------------------

    def output(self):
        with open(self.out_path, errors='replace') as f:
            return f.read()

    def stop(self):
        """SIGTERM: baresip unregisters and exits, like a user quitting."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(T(15))
            except subprocess.TimeoutExpired:
                raise TestFailure('baresip did not stop on SIGTERM:\n'
                                  + self.output()[-2000:])

    def cleanup(self):
        if self.sock:
            self.sock.close()
            self.sock = None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()
        _rmtree(self.home)


class Linphonec:
    """linphonec (Debian's linphone-cli), unmodified, in namespace ns (the
    world's device namespace by default), driven by commands on its stdin
    and read from its output, one account:

      aor, password  its identity and digest password (None: none)
      proxy      the outbound proxy, host[:port]: alrd's edge
                 '127.0.0.1:5062' (default) or the registrar
                 ('10.99.100.1'); every request goes through it
      sip_port   its own SIP port
      answer     'auto' (-a: answers every call) or 'manual'
      rtp_ports  (lo, hi): its media ports (rtp_received() counts them)

    It sends a 440 Hz tone during calls (use_files, a WAV file).  The
    constructor starts it.

    Facts (linphonec 5.1, as bench/softphones.py found them too): it needs
    a pseudo-terminal (script -qfc), and script's stdin must stay open; no
    sound card here: `soundcard use files` then `play FILE` makes it send
    the file in every call.  Its output says "Call N with URI connected.",
    "Call N with URI ended (...).", "Message received from URI: text"; an
    outgoing call is refused with "Terminate or hold on the current call
    first." while another is up.  It registers with +sip.instance and
    takes the registrar's pub-gruu as its Contact in dialogs (Kamailio's
    route[WITHINDLG] looks a GRUU up)."""

    def __init__(self, fx, w, aor='sip:alice@example.test', password=None,
                 proxy='127.0.0.1:5062', sip_port=5070, answer='auto',
                 rtp_ports=(32000, 32099), expires=600, ns=None):
        need(LINPHONEC, 'linphone-cli')
        import math
        import struct
        import wave
        self.ns = ns or w.dev
        self.aor = aor
        user, domain = aor.split(':', 1)[1].split('@', 1)
        self.home = _tmpdir('linphonec')
        os.makedirs(os.path.join(self.home, '.local', 'share', 'linphone'))
        self.tone = os.path.join(self.home, 'tone.wav')
        wf = wave.open(self.tone, 'wb')
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(8000)
        wf.writeframes(b''.join(struct.pack('<h', int(
            8000 * math.sin(2 * math.pi * 440 * i / 8000)))
            for i in range(8000 * 120)))
        wf.close()
        self.rc = os.path.join(self.home, 'linphonerc')
        auth = ''
        if password:
            auth = ('[auth_info_0]\nusername=%s\npasswd=%s\nrealm=%s\n'
                    'domain=%s\n' % (user, password, domain, domain))
        with open(self.rc, 'w') as f:
            f.write('# written by tests/integration/peers/callpeers.py\n'
                    '[sip]\nsip_port=%d\nsip_tcp_port=0\nsip_tls_port=0\n'
                    'default_proxy=0\n'
                    '[rtp]\naudio_rtp_port=%d-%d\n'
                    '[sound]\nechocancellation=0\n'
                    '[proxy_0]\nreg_proxy=<sip:%s;transport=udp>\n'
                    'reg_route=<sip:%s;transport=udp;lr>\n'
                    'reg_identity=%s\nreg_expires=%d\nreg_sendregister=1\n'
                    'publish=0\n%s'
                    % (sip_port, rtp_ports[0], rtp_ports[1], proxy, proxy, aor,
                       expires, auth))
        os.chmod(self.rc, 0o600)
        self.rtp_counter = RtpCounter(fx, self.ns, rtp_ports, name='linphonec')
        self.out_path = os.path.join(self.home, 'out.log')
        self.out = open(self.out_path, 'wb')
        env = {'HOME': self.home, 'PATH': '/usr/sbin:/usr/bin:/sbin:/bin',
               'TERM': 'dumb', 'LANG': 'C.UTF-8'}
        # exec: without it a SIGTERM would reach sh -c, not linphonec.
        inner = 'exec %s -c %s -d 0%s' % (LINPHONEC, self.rc,
                                          ' -a' if answer == 'auto' else '')
        # Not fx.popen(): the fixture would end script first and leave
        # linphonec to the namespace's sweep; cleanup() ends both.
        self.proc = subprocess.Popen(ns_argv(self.ns, ['script', '-qfc', inner,
                                                       '/dev/null']),
                                     stdin=subprocess.PIPE, stdout=self.out,
                                     stderr=subprocess.STDOUT, env=env,
                                     cwd=self.home, start_new_session=True)
        fx._objs.append(self)
        self.send('soundcard use files')
        self.send('play %s' % self.tone)

    def send(self, line):
        """One command on linphonec's stdin."""
        if self.proc.poll() is not None:
            raise TestFailure('linphonec exited with %s:\n%s'
                              % (self.proc.returncode, self.output()[-3000:]))
        self.proc.stdin.write(line.encode() + b'\n')
        self.proc.stdin.flush()

    def output(self):
        with open(self.out_path, 'rb') as f:
            return f.read().decode('utf-8', 'replace').replace('\r', '')

    def events(self):
        """What its output said so far: a list of (kind, id, uri, extra)
        with kind 'connected', 'ended' (extra: the reason), 'incoming',
        'message' (extra: the text)."""
        out = []
        for line in self.output().split('\n'):
            m = re.search(r'Call (\d+) (?:with|to) (\S+) connected\.', line)
            if m:
                out.append(('connected', int(m.group(1)), m.group(2), None))
            m = re.search(r'Call (\d+) (?:with|to) (\S+) ended \((.*)\)\.', line)
            if m:
                out.append(('ended', int(m.group(1)), m.group(2), m.group(3)))
            m = re.search(r'Receiving new incoming call from (\S+), '
                          r'assigned id (\d+)', line)
            if m:
                out.append(('incoming', int(m.group(2)), m.group(1), None))
            m = re.search(r'Message received from (\S+): (.*)$', line)
            if m:
                out.append(('message', None, m.group(1), m.group(2)))
        return out

    def wait_output(self, kind, n=1, timeout=None):
        """Until its output holds n events of kind; returns the n-th."""
        def got():
            if self.proc.poll() is not None:
                raise TestFailure('linphonec exited with %s:\n%s'
                                  % (self.proc.returncode,
                                     self.output()[-3000:]))
            e = [x for x in self.events() if x[0] == kind]
            return e[n - 1] if len(e) >= n else None
        try:
            return alrtest.wait_until(got, timeout or T(20),
                                      'linphonec: %d "%s"' % (n, kind))
        except TestFailure as e:
            raise TestFailure('%s\noutput:\n%s' % (e, self.output()[-2500:]))

    def registered(self):
        """Whether linphonec says it is registered (`status register`)."""
        start = len(self.output())
        self.send('status register')
        line = alrtest.wait_until(
            lambda: re.search(r'(?m)^(?:linphonec> )*((?:un)?registered.*)$',
                              self.output()[start:]), T(5),
            'an answer to linphonec\'s status register')
        # "registered=-1": an account whose registration has not
        # succeeded (yet); "registered, identity=...": registered.
        return (line.group(1).startswith('registered')
                and not line.group(1).startswith('registered=-1'))

    def wait_registered(self, timeout=None):
        return alrtest.wait_until(self.registered, timeout or T(20),
                                  'linphonec registered as %s' % self.aor,
                                  interval=0.3)

    def call_states(self):
        """Its own list of calls (`calls`): {call id: state}, states as
        linphone names them ('StreamsRunning' for a call with media
        flowing, 'Paused', ...); {} when it says it has none."""
        start = len(self.output())
        self.send('calls')

        def answer():
            # "Call states", a header, dashes, one line per call
            # ("1  | sip:bob@... | StreamsRunning  | "), then its prompt.
            out = self.output()[start:]
            if 'No active call' in out:
                return {}
            table = out.partition('Call states\n')[2]
            if '\nlinphonec> ' not in '\n' + table:
                return None
            table = ('\n' + table).partition('\nlinphonec> ')[0]
            rows = re.findall(r'(?m)^\s*(\d+)\s*\|\s*(\S+)\s*\|\s*(\w+)', table)
            return {int(i): state for i, _, state in rows}
        got = alrtest.wait_until(lambda: answer() is not None and [answer()], T(5),
                                 "an answer to linphonec's calls")
        return got[0]

    def dial(self, uri):
        self.send('call %s' % uri)

    def hangup(self):
        self.send('terminate')

    def accept(self):
        self.send('answer')

    def send_message(self, uri, text):
        self.send('chat %s %s' % (uri, text))

    def messages(self):
        return [{'from': e[2], 'body': e[3]} for e in self.events()
                if e[0] == 'message']

    def wait_message(self, body, timeout=None):
        return alrtest.wait_until(
            lambda: [m for m in self.messages() if m['body'] == body],
            timeout or T(20), 'MESSAGE %r at linphonec' % body)[0]

    def rtp_received(self):
        return self.rtp_counter.packets()

    def wait_rtp(self, n, timeout=None):
        return self.rtp_counter.wait_packets(n, timeout)

    def _pids(self):
        """script and its descendants (linphonec is script's child)."""
        pids = [self.proc.pid]
        i = 0
        while i < len(pids):
            try:
                with open('/proc/%d/task/%d/children' % (pids[i], pids[i])) as f:
                    pids += [int(p) for p in f.read().split()]
            except OSError:
                pass
            i += 1
        return pids

    def stop(self):
        """SIGTERM to linphonec itself: it unregisters and exits; script
        follows."""
        if self.proc.poll() is None:
            for pid in self._pids()[1:]:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(T(15))
            except subprocess.TimeoutExpired:
                raise TestFailure('linphonec did not stop on SIGTERM:\n'
                                  + self.output()[-2000:])

    def cleanup(self):
        if self.proc.poll() is None:
            for pid in reversed(self._pids()):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait()
        if self.proc.stdin:
            self.proc.stdin.close()
        self.out.close()
        _rmtree(self.home)


# ---------------------------------------------------------------------------
# Many calls at once (tests/integration/test_call_moves.py)


class FlowCounters:
    """UDP packets arriving in namespace ns for ports lo..hi (to address
    addr, when given), counted per stream by the receiver's kernel: per
    destination port (by='port': a softphone's media ports, one per call)
    or per source address and port (by='source': a far end that takes
    every call on one port, as SIPp does, tells the calls apart by the
    relay port each comes from).  One nftables set with a counter per
    element (flags dynamic, "update @set { key counter }"), one table
    (RtpCounter sums a range)."""

    _seq = 0

    def __init__(self, fx, ns, ports, addr=None, by='port', name='flows'):
        need(NFT, 'nftables')
        FlowCounters._seq += 1
        self.ns, self.by = ns, by
        lo, hi = ports
        self.table = 'alrt_%s_%d' % (re.sub(r'\W', '_', name), FlowCounters._seq)
        match = 'udp dport %d-%d' % (lo, hi)
        if addr:
            match = '%s daddr %s %s' % ('ip6' if ':' in addr else 'ip', addr, match)
        if by == 'port':
            typ, key = 'inet_service', 'udp dport'
        elif by == 'source':
            typ, key = 'ipv4_addr . inet_service', 'ip saddr . udp sport'
        else:
            raise ValueError('by: port or source, not %r' % (by,))
        rules = ('table inet %s {\n'
                 '  set flows { type %s; size 65535; flags dynamic; }\n'
                 '  chain input {\n'
                 '    type filter hook input priority 0; policy accept;\n'
                 '    %s update @flows { %s counter }\n'
                 '  }\n'
                 '}\n' % (self.table, typ, match, key))
        alrtest.run(ns_argv(ns, [NFT, '-f', '-']), input=rules)
        fx._objs.append(self)
        self.base = {}

    def _read(self):
        r = alrtest.run(ns_argv(self.ns, [NFT, '-j', 'list', 'set', 'inet',
                                          self.table, 'flows']))
        out = {}
        for obj in json.loads(r.stdout)['nftables']:
            for e in (obj.get('set') or {}).get('elem', []):
                e = e['elem']
                val = e['val']
                if isinstance(val, dict):
                    val = tuple(val['concat'])
                out[val] = e['counter']['packets']
        return out

    def packets(self):
        """{port, or (address, port): packets since creation or the last
        reset()}, the streams that sent any."""
        now = self._read()
        return {k: n - self.base.get(k, 0) for k, n in now.items()
                if n - self.base.get(k, 0) > 0}

    def reset(self):
        self.base = self._read()

    def wait_streams(self, n, packets, timeout=None, what=None):
        """Until n streams have each brought @packets packets since the
        last reset(); returns packets()."""
        return alrtest.wait_until(
            lambda: len([k for k, v in self.packets().items() if v >= packets]) >= n
            and self.packets(), timeout or T(20),
            what or '%d streams of %d packets in %s' % (n, packets, self.ns),
            interval=0.3)

    def cleanup(self):
        alrtest.run(ns_argv(self.ns, [NFT, 'delete', 'table', 'inet',
                                      self.table]), check=False)


class Callers:
    """@n calls at once (SIPp, sipp-callers-move.xml) from namespace ns to
    @target through the proxy, @rate new calls a second, each taking the
    callee's re-INVITEs (a call that moves: answered 200, its new Contact
    followed).  Calls stay up until hangup() (an INFO in each call: the
    test's "hang up now").

    Media: every call offers @media_port, where SIPp echoes each RTP and
    RTCP packet back to its sender (-rtp_echo): the callee's media comes
    back to it from the far end, over whatever path it took.  So the
    calls' streams reach one port: media counts them per sender (the
    callee's relay port, one per call: FlowCounters by source).  SIPp's
    echo stops for good at the first send that fails ("Error on RTP echo
    transmission - stopping echo"): sends to a vanished network must be
    lost, not refused (test_call_moves.lost_in_the_network()).

    Call i (1..n) has the Call-ID call_ids[i-1]; what happened to each is
    read from SIPp's own message trace (calls())."""

    def __init__(self, fx, ns, target, n, proxy=('10.99.100.1', 5060),
                 addr='10.99.100.7', sip_port=5072, media_port=24000, rate=10,
                 from_uri='sip:callers@example.net', timeout=300):
        self.ns, self.target, self.n = ns, target, n
        self.addr, self.sip_port = addr, sip_port
        _ensure_addr(ns, addr)
        tag = uuid.uuid4().hex[:12]
        self.call_ids = ['alrt-callers-%s-%d' % (tag, i) for i in range(1, n + 1)]
        self.media = FlowCounters(fx, ns, (media_port, media_port), addr,
                                  by='source', name='callers')
        self.sipp = _Sipp(fx, ns, 'callers')
        scen = self.sipp.scenario('sipp-callers-move.xml', TALK_MS=int(timeout * 1000))
        self.sipp.spawn([
            '%s:%d' % tuple(proxy), '-sf', scen, '-m', str(n), '-l', str(n),
            '-r', str(rate), '-i', addr, '-p', str(sip_port), '-mi', addr,
            '-mp', str(media_port), '-rtp_echo', '-cid_str', 'alrt-callers-%s-%%u' % tag,
            '-key', 'target', target, '-key', 'from', from_uri,
            '-timeout', str(int(timeout)), '-timeout_error',
            '-recv_timeout', str(int((timeout - 5) * 1000)),
        ])

    def calls(self):
        """{call_id: {'status': final status of the INVITE, 'reinvites':
        re-INVITEs received, 'reinvites_answered': those answered 200
        (each counted once, retransmissions or not),
        'bye': 'caller'|'callee'|None, 'bye_status'}}."""
        out = {cid: {'status': None, 'reinvites': set(), 'reinvites_answered': set(),
                     'bye': None, 'bye_status': None}
               for cid in self.call_ids}
        for m in self.sipp.messages():
            c = out.get(m['call_id'])
            if c is None or not m['cseq']:
                continue
            meth = m['cseq'][1]
            if m['dir'] == 'received' and m['status'] and meth == 'INVITE' \
                    and m['status'] >= 200 and c['status'] is None:
                c['status'] = m['status']
            elif m['dir'] == 'received' and m['method'] == 'INVITE':
                c['reinvites'].add(m['cseq'][0])
            elif m['dir'] == 'sent' and m['status'] == 200 and meth == 'INVITE':
                c['reinvites_answered'].add(m['cseq'][0])
            elif m['method'] == 'BYE' and c['bye'] is None:
                c['bye'] = 'caller' if m['dir'] == 'sent' else 'callee'
            elif m['dir'] == 'received' and m['status'] and meth == 'BYE':
                c['bye_status'] = m['status']
        for c in out.values():
            c['reinvites'] = len(c['reinvites'])
            c['reinvites_answered'] = len(c['reinvites_answered'])
        return out

    def _check_running(self):
        if not self.sipp.alive():
            raise TestFailure('the callers (SIPp) exited with %s:\n%s'
                              % (self.sipp.proc.returncode, self.sipp.tail()))

    def wait_answered(self, timeout=None):
        """Until every call has its final answer; all must be 200."""
        def done():
            self._check_running()
            calls = self.calls()
            return all(c['status'] for c in calls.values()) and calls
        calls = alrtest.wait_until(done, timeout or T(30),
                                   '%d answered calls to %s' % (self.n, self.target))
        bad = {k: c['status'] for k, c in calls.items() if c['status'] != 200}
        if bad:
            raise TestFailure('calls not answered 200: %r' % bad)
        return calls

    def hangup(self, call_ids=None):
        """Ask each call (all by default) to hang up now: one INFO each,
        all from one socket."""
        msgs = []
        for cid in call_ids or self.call_ids:
            msgs.append('\r\n'.join([
                'INFO sip:%s:%d SIP/2.0' % (self.addr, self.sip_port),
                'Via: SIP/2.0/UDP %s:@LOCAL_PORT@;branch=z9hG4bK%s;rport'
                % (self.addr, uuid.uuid4().hex),
                'Max-Forwards: 70',
                'From: <sip:alrtest@%s>;tag=%s' % (self.addr, uuid.uuid4().hex[:8]),
                'To: <sip:%s:%d>' % (self.addr, self.sip_port),
                'Call-ID: %s' % cid, 'CSeq: 1 INFO',
                'Content-Length: 0', '', '']))
        req = {'proto': 'udp', 'dest': [self.addr, self.sip_port],
               'bind': [self.addr, 0], 'messages': msgs, 'timeout': 1,
               'expect': [0] * len(msgs)}
        alrtest.run(ns_argv(self.ns, ['/usr/bin/python3', SIPSEND]),
                    input=json.dumps(req))

    def wait_done(self, timeout=None):
        """Until SIPp has ended every call; its exit status."""
        try:
            return self.sipp.proc.wait(timeout or T(30))
        except subprocess.TimeoutExpired:
            raise TestFailure('the callers did not finish:\n' + self.sipp.tail())

    def tail(self):
        return self.sipp.tail()
