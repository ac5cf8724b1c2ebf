#!/usr/bin/python3
"""The control socket and the daemon's life: framing, errors, permissions,
limits, configuration checks, the state-dir lock, reload
(docs/protocol.md; DESIGN.md section 6: "A slow or hostile client cannot
stall the daemon")."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from alrtest import (NOBODY, T, ConnectionClosed,               # noqa: E402
                     alrd_path, calls_as, check, check_eq, check_error,
                     main, render_config, run, wait_iap_event, wait_until)

PARSE, INVALID, NO_METHOD, PARAMS = -32700, -32600, -32601, -32602
TOO_LARGE, PERM, NOT_FOUND, BUSY, CONFIG = (-32000, -32001, -32002, -32003,
                                            -32004)


def req(method, id=1, params=None):
    r = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        r["params"] = params
    return r


def line(obj):
    return json.dumps(obj).encode() + b"\n"


def still_works(c, what):
    try:
        info = c.info()
    except Exception as e:
        raise AssertionError(f"the connection no longer works after {what}: "
                             f"{e}")
    check(isinstance(info.get("pid"), int), "daemon.info after %s: %r", what,
          info)


# -- framing and errors ------------------------------------------------------

def test_daemon_info(fx):
    w, d, c = fx.setup()
    info = c.info()
    check_eq(info.get("pid"), d.pid, "daemon.info pid")
    check_eq(info.get("config_file"), d.conf_path, "config_file")
    check_eq(info.get("state_dir"), d.state_dir, "state_dir")
    check_eq(info.get("socket"), d.socket_path, "socket")
    check_eq(info.get("log_level"), "debug", "log_level")
    check(isinstance(info.get("version"), str) and info["version"],
          "version: %r", info.get("version"))
    check_eq(info.get("iaps"), 2, "iaps")
    check(isinstance(info.get("uptime"), (int, float)), "uptime")
    caller = info.get("caller", {})
    check_eq((caller.get("uid"), caller.get("gid"), caller.get("pid"),
              caller.get("can_control")), (0, 0, os.getpid(), True),
             "caller")
    nl = info.get("netlink", {})
    check(all(isinstance(nl.get(k), int) for k in
              ("messages", "snapshots", "resyncs")), "netlink stats %r", nl)
    mode = os.stat(d.socket_path).st_mode & 0o777
    check_eq(oct(mode), oct(0o666), "socket mode (socket-mode = 0666)")


def test_idle_loop_has_a_timerfd(fx):
    # Without a timerfd libev wakes up every 59.743 s to watch the wall
    # clock; alrd keeps one (daemon.c, keep_idle_asleep()) so that an idle
    # daemon sleeps (bench/idle-cost measures the wakeups themselves).
    w, d, c = fx.setup()
    fds = os.listdir('/proc/%d/fd' % d.pid)
    kinds = set()
    for fd in fds:
        try:
            kinds.add(os.readlink('/proc/%d/fd/%s' % (d.pid, fd)))
        except OSError:
            pass
    check('anon_inode:[timerfd]' in kinds, 'no timerfd among alrd\'s files: %s',
          sorted(kinds))


def test_garbage_then_valid(fx):
    w, d, c = fx.setup()
    c.send_raw(b"this is not json\n")
    r = c.read_response()
    check_error(r.get("error"), PARSE, "garbage line")
    check("id" in r and r["id"] is None, "id must be null: %r", r)
    still_works(c, "a parse error")
    # Half a JSON object, then bytes that are not UTF-8.
    c.send_raw(b'{"jsonrpc": "2.0", "id": 5, "method": \n')
    check_error(c.read_response().get("error"), PARSE, "truncated object")
    c.send_raw(b'{"jsonrpc":"2.0","id":6,"method":"\xff\xfe"}\n')
    r = c.read_response()
    check("error" in r, "invalid UTF-8 accepted: %r", r)
    still_works(c, "invalid UTF-8")


def test_line_too_long(fx):
    w, d, c = fx.setup()
    big = b'{"jsonrpc":"2.0","id":9,"method":"daemon.info","params":{"x":"' \
        + b"a" * (100 * 1024) + b'"}}\n'
    c.send_raw(big)
    r = c.read_response()
    check_error(r.get("error"), TOO_LARGE, "100 KiB line")
    check("id" in r and r["id"] is None, "id must be null: %r", r)
    # Exactly one response for that line: the next one is for our request.
    still_works(c, "an over-long line")
    # A long line that arrives in pieces, with a request right behind it
    # in the same write.
    c.send_raw(b"x" * 70000)
    c.send_raw(b"y" * 70000 + b"\n" + line(req("daemon.info", id=77)))
    check_error(c.read_response().get("error"), TOO_LARGE, "split line")
    r = c.read_response()
    check_eq(r.get("id"), 77, "response after the discarded line")
    check("result" in r, "daemon.info failed: %r", r)


def test_request_shapes(fx):
    w, d, c = fx.setup()
    e = c.expect_error(NO_METHOD, "nope.nothing")
    check_eq((e.get("data") or {}).get("method"), "nope.nothing",
             "data.method of -32601")
    c.expect_error(PARAMS, "iap.get", {"id": "x"})
    c.expect_error(PARAMS, "iap.get", {"id": 1, "bogus": 1})
    c.expect_error(PARAMS, "iap.get", {})
    c.expect_error(PARAMS, "iap.get", {"id": 1, "name": "wlan0"})
    c.expect_error(PARAMS, "iap.list", {"unknown": True})
    c.expect_error(PARAMS, "iap.get", [1])
    c.expect_error(PARAMS, "daemon.set-log-level", {"level": "loud"})
    c.expect_error(NOT_FOUND, "iap.get", {"id": 999999})
    c.expect_error(NOT_FOUND, "iap.get", {"name": "nosuch0"})

    # Not JSON-RPC 2.0 request objects.
    for bad, what in (
            (b'[{"jsonrpc":"2.0","id":1,"method":"daemon.info"}]', "batch"),
            (b'{"id":2,"method":"daemon.info"}', "no jsonrpc member"),
            (b'{"jsonrpc":"2.0","id":3,"method":42}', "method a number"),
            (b'{"jsonrpc":"2.0","id":[4],"method":"daemon.info"}',
             "id an array"),
            (b'"just a string"', "a string")):
        c.send_raw(bad + b"\n")
        r = c.read_response()
        check_error(r.get("error"), INVALID, what)
    still_works(c, "invalid requests")

    # Notifications get no response, not even an error; empty lines are
    # ignored; CRLF is accepted; pipelined requests answer in order.
    c.send_raw(b'{"jsonrpc":"2.0","method":"daemon.info"}\n'
               b'{"jsonrpc":"2.0","method":"no.such"}\n'
               b"\n\r\n"
               + line(req("daemon.info", id="a"))[:-1] + b"\r\n"
               + line(req("iap.list", id="b"))
               + line(req("nope", id="c")))
    got = [c.read_response() for _ in range(3)]
    check_eq([r.get("id") for r in got], ["a", "b", "c"],
             "ids of pipelined responses")
    check("result" in got[0] and "result" in got[1]
          and got[2]["error"]["code"] == NO_METHOD,
          "pipelined results: %r", got)

    # Subscriptions are bounded.
    r = c.request("events.subscribe", {"topics": ["x*"] * 33})
    check("error" in r and r["error"]["code"] in (PARAMS, BUSY),
          "33 topics accepted: %r", r)
    r = c.request("events.subscribe", {"topics": ["x" * 65]})
    check("error" in r and r["error"]["code"] in (PARAMS, BUSY),
          "a 65-byte topic accepted: %r", r)
    check_eq(c.subscribe(["iap.*"]), {"topics": ["iap.*"]},
             "events.subscribe result")
    check_eq(c.subscribe([]), {"topics": []}, "unsubscribe")


# -- permissions -------------------------------------------------------------

def test_permissions_of_nobody(fx):
    w, d, c = fx.setup()
    c.subscribe(["iap.*"])
    r = calls_as(NOBODY, NOBODY, d.socket_path, [
        req("daemon.set-log-level", 1, {"level": "error"}),
        req("iap.list", 2),
        req("daemon.info", 3),
        req("daemon.reload", 4),
        req("events.subscribe", 5, {"topics": ["iap.*"]}),
    ])
    check_error(r[0].get("error"), PERM, "set-log-level as nobody")
    check_eq((r[0]["error"].get("data") or {}).get("needed"), "control",
             "data.needed")
    check("result" in r[1] and
          sorted(i["name"] for i in r[1]["result"]["iaps"])
          == ["wlan0", "wwan0"], "iap.list as nobody: %r", r[1])
    caller = r[2].get("result", {}).get("caller", {})
    check_eq((caller.get("uid"), caller.get("can_control")),
             (NOBODY, False), "daemon.info caller as nobody")
    check_error(r[3].get("error"), PERM, "daemon.reload as nobody")
    check("result" in r[4], "nobody may observe: %r", r[4])
    # A notification (no id) gets no answer, but must be refused all the
    # same.
    r = calls_as(NOBODY, NOBODY, d.socket_path, [
        {"jsonrpc": "2.0", "method": "daemon.set-log-level",
         "params": {"level": "error"}},
        req("daemon.info", 1)])
    check_eq(r[0]["result"]["log_level"], "debug",
             "log level after nobody's set-log-level notification")
    # The refused change did not happen, and root is still served.
    check_eq(c.info()["log_level"], "debug", "log level after the refusal")
    res = c.call("daemon.set-log-level", {"level": "info"})
    check_eq(res, {"level": "info", "previous": "debug"},
             "set-log-level as root")
    check_eq(c.info()["log_level"], "info", "log level after root set it")


def test_control_group_member(fx):
    # uid nobody with primary group nogroup (65534), and nogroup listed
    # in control-groups: may control.
    w, d, c = fx.setup({"control": {"control-groups": "nogroup, alrd"}})
    r = calls_as(NOBODY, NOBODY, d.socket_path, [
        req("daemon.info", 1),
        req("daemon.set-log-level", 2, {"level": "info"})])
    check_eq(r[0]["result"]["caller"].get("can_control"), True,
             "can_control of a control-groups member")
    check_eq(r[1].get("result"), {"level": "info", "previous": "debug"},
             "set-log-level by a control-groups member")


def test_read_access_control(fx):
    w, d, c = fx.setup({"control": {"read-access": "control"}})
    r = calls_as(NOBODY, NOBODY, d.socket_path,
                 [req("iap.list", 1), req("daemon.info", 2)])
    for x in r:
        check_error(x.get("error"), PERM, "read-access = control, nobody")
    check_eq(sorted(c.iaps()), ["wlan0", "wwan0"], "root still reads")


# -- limits ------------------------------------------------------------------

def test_slow_reader_is_disconnected(fx):
    w, d, good = fx.setup({"control": {"max-output-queue": 65536}})
    # Big IAP objects make big events: 400 extra addresses on wwan0.
    w.batch([f"address add 10.98.{i // 250}.{i % 250 + 1}/32 dev wwan0"
             for i in range(400)])
    good.subscribe(["iap.*"])
    wait_until(lambda: len(good.iap("wwan0")["addresses"]) >= 400,
               T(60), "wwan0's 400 addresses in iap.get")
    slow = fx.client(d)
    slow.subscribe(["*"])
    wait_until(lambda: good.info()["clients"] == 2, T(20),
               "daemon.info clients == 2")

    flips = 0
    while good.info()["clients"] == 2:
        check(flips < 100, "the slow client was not disconnected after %d "
              "carrier flips of a ~50 KB IAP", flips)
        w.carrier_down("wwan0")
        wait_iap_event(good, "iap.down", "wwan0")
        w.carrier_up("wwan0")
        wait_iap_event(good, "iap.up", "wwan0")
        good.events.clear()
        flips += 1
    print(f"    slow client dropped after {flips} flips", flush=True)
    n = slow.wait_closed(T(30))
    check(n < 8 * 1024 * 1024, "the slow client was sent %d bytes", n)
    check(d.alive(), "alrd died")
    still_works(good, "dropping a slow client")
    c3 = fx.client(d)
    still_works(c3, "dropping a slow client (new connection)")


def test_unread_responses(fx):
    # Requests whose responses are never read: the output queue fills and
    # the client is dropped; nothing else is disturbed.
    w, d, good = fx.setup({"control": {"max-output-queue": 65536}})
    hog = fx.client(d)
    one = line(req("iap.list", id=1))
    try:
        for _ in range(200):
            hog.send_raw(one * 100)
    except (BrokenPipeError, ConnectionResetError):
        pass                  # dropped while we were still writing
    except TimeoutError:
        raise AssertionError("alrd stopped reading a client that does not "
                             "read, instead of disconnecting it")
    n = hog.wait_closed(T(30))
    check(n < 16 * 1024 * 1024, "the hog was sent %d bytes", n)
    check(d.alive(), "alrd died")
    still_works(good, "dropping a client that did not read")


def test_pipelined_after_restore(fx):
    # Issue 11: store.restore answers later; 2,000 requests pipelined
    # behind it fill alrd's input buffer, and more wait in the socket.
    # Each must be answered, in order, on the same connection.
    w, d, c = fx.setup()
    backup = os.path.join(d.tmp, "backup.db")
    check_eq(c.call("store.backup", {"path": backup}),
             {"path": backup, "secrets": False}, "store.backup")
    n = 2000
    c.send_raw(line(req("store.restore", 0, {"path": backup})) +
               b"".join(line(req("events.subscribe", i, {"topics": []}))
                        for i in range(1, n + 1)))
    got = []
    try:
        for _ in range(n + 1):
            got.append(c.read_response(T(60)))
    except ConnectionClosed:
        raise AssertionError(f"alrd closed the connection after {len(got)} "
                             f"of {n + 1} answers")
    check_eq([r.get("id") for r in got], list(range(n + 1)),
             "ids of the answers")
    check("result" in got[0], "store.restore: %r", got[0])
    check(all("result" in r for r in got), "an error among the answers")
    still_works(c, "2,000 requests behind a restore")


def test_answer_larger_than_output_queue(fx):
    # Issue 11: an answer larger than max-output-queue reaches a client
    # that reads it (profile.list of thousands of profiles); only a
    # backlog the client does not read counts.
    w, d, c = fx.setup({"control": {"max-output-queue": 4096}})
    w.batch([f"address add 10.97.{i // 250}.{i % 250 + 1}/32 dev wwan0"
             for i in range(200)])
    c.subscribe(["iap.*"])
    wait_until(lambda: len(c.iap("wwan0")["addresses"]) >= 200, T(60),
               "wwan0's 200 addresses in iap.get")
    c.clear_events()
    r = c.request("iap.list")
    size = len(json.dumps(r))
    check(size > 4 * 4096, "iap.list answer of %d bytes only", size)
    check("result" in r, "iap.list: %r", r)
    # Events of about the same size, while the client reads.
    w.carrier_down("wwan0")
    wait_iap_event(c, "iap.down", "wwan0")
    still_works(c, "answers larger than max-output-queue")
    check_eq(c.info()["clients"], 1, "daemon.info clients")


def test_clients_that_vanish(fx):
    # Clients that send requests and close at once, before (or while) the
    # answers are written: alrd must not die (EPIPE, not SIGPIPE) nor leak.
    w, d, c = fx.setup()
    c.subscribe(["*"])
    burst = line(req("events.subscribe", 0, {"topics": ["*"]})) + \
        b"".join(line(req("iap.list", i)) for i in range(1, 50))
    for i in range(30):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(d.socket_path)
        s.sendall(burst)
        if i % 2:
            # close with unread data in our buffer: the kernel resets
            s.recv(1)
        s.close()
    w.carrier_down("wlan0")
    wait_iap_event(c, "iap.down", "wlan0")
    wait_until(lambda: c.info()["clients"] == 1, T(20),
               "daemon.info clients == 1 after they all left")
    check(d.alive(), "alrd died")


def test_subscription_filters(fx):
    w, d, a = fx.setup()
    b = fx.client(d)
    check_eq(a.subscribe(["iap.down", "iap.up"]),
             {"topics": ["iap.down", "iap.up"]}, "subscribe result")
    b.subscribe(["*"])
    w.carrier_down("wlan0")
    wait_iap_event(a, "iap.down", "wlan0")
    w.carrier_up("wlan0")
    wait_iap_event(a, "iap.up", "wlan0")
    # The iap.changed of each change comes before its iap.up/iap.down on
    # the same connection, so had it been sent it would be here by now.
    check_eq([e["method"] for e in a.events], [],
             "events outside the subscription")
    wait_iap_event(b, "iap.changed", "wlan0")
    # Unsubscribed: nothing more, checked after b saw the next change.
    check_eq(a.subscribe([]), {"topics": []}, "unsubscribe")
    b.clear_events()
    w.carrier_down("wlan0")
    wait_iap_event(b, "iap.down", "wlan0")
    a.info()                      # anything queued before comes first
    check_eq([e["method"] for e in a.events], [],
             "events after unsubscribing")


def test_max_clients(fx):
    w, d, c1 = fx.setup({"control": {"max-clients": 4}})
    # The harness's readiness probe may not have been reaped yet.
    wait_until(lambda: c1.info()["clients"] == 1, T(20),
               "daemon.info clients == 1")
    others = [fx.client(d) for _ in range(3)]
    for o in others:
        still_works(o, "connecting")
    wait_until(lambda: c1.info()["clients"] == 4, T(20),
               "daemon.info clients == 4")
    extra = fx.client(d)
    r = extra.read_response(T(20))
    check_error(r.get("error"), BUSY, "fifth connection with max-clients 4")
    extra.wait_closed(T(20))
    still_works(c1, "refusing a client")
    others[0].close()
    wait_until(lambda: c1.info()["clients"] == 3, T(20),
               "daemon.info clients == 3 after one left")
    again = fx.client(d)
    still_works(again, "a slot was freed")


# Connections made and held by a process running as another user, driven
# by one JSON command per line on its stdin, one JSON answer per line on
# its stdout.
HOLDER = r"""
import json, socket, sys
path, timeout = sys.argv[1], float(sys.argv[2])
conns = []

bufs = {}

def read_msg(s):
    # the next response on s (events skipped), None at EOF
    buf = bufs.setdefault(s.fileno(), bytearray())
    while True:
        i = buf.find(b"\n")
        if i >= 0:
            msg = json.loads(buf[:i])
            del buf[:i + 1]
            if "id" in msg:
                return msg
            continue
        d = s.recv(65536)
        if not d:
            return None
        buf += d

def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()

for cmd in sys.stdin:
    cmd = json.loads(cmd)
    if cmd["op"] == "open":
        accepted, refused = 0, []
        for _ in range(cmd["n"]):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(path)
            r = None
            if cmd.get("req"):
                # A refused connection gets its -32003 line and is closed,
                # maybe before our request is sent (EPIPE): read what it
                # was told all the same.
                sent = None
                try:
                    s.sendall(json.dumps(cmd["req"]).encode() + b"\n")
                except OSError as e:
                    sent = e
                try:
                    r = read_msg(s)
                except OSError as e:
                    r = {"error": {"code": None, "message": str(e)}}
                if r is None and sent:
                    r = {"error": {"code": None, "message": str(sent)}}
            if cmd.get("req") and (r is None or "error" in r):
                refused.append((r or {}).get("error"))
                s.close()
                continue
            accepted += 1
            conns.append(s)
        reply({"accepted": accepted, "refused": refused,
               "first": len(conns) - accepted})
    elif cmd["op"] == "wait_closed":
        s = conns[cmd["i"]]
        try:
            reply({"closed": s.recv(65536) == b""})
        except socket.timeout:
            reply({"closed": False})
        except OSError:
            reply({"closed": True})
    elif cmd["op"] == "send":
        conns[cmd["i"]].sendall(cmd["data"].encode())
        reply({})
    elif cmd["op"] == "call":
        s = conns[cmd["i"]]
        try:
            s.sendall(json.dumps(cmd["req"]).encode() + b"\n")
            reply({"response": read_msg(s)})
        except OSError as e:
            reply({"response": None, "oserror": str(e)})
"""


class Holder:
    """Connections held by a process running as UID (no extra groups)."""

    def __init__(self, fx, uid, path, timeout=None):
        import subprocess as sp
        self.timeout = timeout or T(30)
        self.p = fx.popen([sys.executable, "-c", HOLDER, path,
                           str(self.timeout)], stdin=sp.PIPE, stdout=sp.PIPE,
                          user=uid, group=uid, extra_groups=[], cwd="/")

    def cmd(self, **kw):
        self.p.stdin.write((json.dumps(kw) + "\n").encode())
        self.p.stdin.flush()
        out = self.p.stdout.readline()
        check(out, "the holder as nobody died (status %r)", self.p.poll())
        return json.loads(out)

    def open(self, n, req=None):
        return self.cmd(op="open", n=n, req=req)


def test_per_user_limit_keeps_root_served(fx):
    # Issue 11: 64 idle connections from nobody kept root's alrctl refused.
    w, d, c = fx.setup()
    wait_until(lambda: c.info()["clients"] == 1, T(20),
               "daemon.info clients == 1")
    h = Holder(fx, NOBODY, d.socket_path)
    r = h.open(70, req("daemon.info", 1))
    check_eq(r["accepted"], 16, "connections of nobody accepted "
             "(max-clients-per-user 16)")
    check_eq(len(r["refused"]), 54, "connections of nobody refused")
    e = r["refused"][0] or {}
    check_error(e, BUSY, "the 17th connection of nobody")
    check("max-clients-per-user" in e["message"],
          "the refusal should name the setting: %r", e)
    # Root is still served, on its connection and on new ones.
    still_works(c, "nobody's connections")
    for i in range(3):
        still_works(fx.client(d), f"nobody's connections (new root "
                    f"connection {i})")
    check_eq(c.info()["clients"], 1 + 16 + 3, "daemon.info clients")


def test_reserved_clients(fx):
    # The last reserved-clients slots are for root and the control groups,
    # whatever the per-user limit.
    w, d, c = fx.setup({"control": {"max-clients": 8,
                                    "reserved-clients": 2,
                                    "max-clients-per-user": 100}})
    wait_until(lambda: c.info()["clients"] == 1, T(20),
               "daemon.info clients == 1")
    h = Holder(fx, NOBODY, d.socket_path)
    r = h.open(10, req("daemon.info", 1))
    check_eq(r["accepted"], 5, "connections of nobody accepted (8 - 2 "
             "reserved - root's 1)")
    e = r["refused"][0] or {}
    check_error(e, BUSY, "the connection of nobody into the reserve")
    check("reserved-clients" in e["message"],
          "the refusal should name the setting: %r", e)
    roots = [fx.client(d) for _ in range(2)]
    for x in roots:
        still_works(x, "nobody filled the unreserved slots")
    extra = fx.client(d)
    check_error(extra.read_response(T(20)).get("error"), BUSY,
                "a ninth connection with max-clients 8")


def test_request_timeout(fx):
    # A line that never ends, and a connection of nobody that never sends
    # a request, are closed after request-timeout; quiet subscribers (a
    # monitor, a controller) are not.
    w, d, quiet = fx.setup({"control": {"request-timeout": 1}})
    quiet.subscribe(["iap.*"])
    h = Holder(fx, NOBODY, d.socket_path)
    check_eq(h.open(1, req("events.subscribe", 1,
                           {"topics": ["iap.*"]}))["accepted"], 1,
             "nobody's subscriber")
    check_eq(h.open(1)["accepted"], 1, "nobody's silent connection")
    h.cmd(op="send", i=1, data="\n")       # a keep-alive is no request
    partial = fx.client(d)
    partial.send_raw(b'{"jsonrpc": "2.0", "id": 1, "meth')
    partial.wait_closed(T(20))
    check_eq(h.cmd(op="wait_closed", i=1), {"closed": True},
             "nobody's connection that never sent a request")
    # Both subscribers were quiet for longer, and still work.
    still_works(quiet, "request-timeout")
    r = h.cmd(op="call", i=0, req=req("daemon.info", 2))["response"]
    check(r and "result" in r, "nobody's quiet subscriber: %r", r)
    w.carrier_down("wlan0")
    wait_iap_event(quiet, "iap.down", "wlan0")
    wait_until(lambda: quiet.info()["clients"] == 2, T(20),
               "daemon.info clients == 2")


# -- configuration -----------------------------------------------------------

def check_config(path, timeout=None):
    return run([alrd_path(), "--check-config", "-c", path], check=False,
               timeout=timeout or T(30))


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def test_check_config(fx):
    w = fx.world()
    d = fx.daemon(w, start=False)
    good = os.path.join(d.tmp, "good.conf")
    write(good, "# comment\n[daemon]\n  log-level=info  \n"
          f"state-dir   =   {d.state_dir}\n\n[control]\nmax-clients = 8\n"
          "; another comment\n[sip]\nregister-rate = 75\n"
          "[iap-kinds]\nwlan* = wifi\n")
    r = check_config(good)
    check_eq(r.returncode, 0, f"--check-config on a good file (stderr: "
             f"{r.stderr.strip()})")
    out = r.stdout
    for pat, what in ((r"^\[daemon\]\s*$", "[daemon]"),
                      (r"^log-level\s*=\s*info\s*$", "log-level = info"),
                      (r"^max-clients\s*=\s*8\s*$", "max-clients = 8"),
                      (r"^wlan\*\s*=\s*wifi\s*$", "wlan* = wifi"),
                      (r"^register-rate\s*=\s*75\s*$", "register-rate = 75"),
                      (r"^register-burst\s*=\s*50\s*$",
                       "the default register-burst"),
                      (r"^max-request-size\s*=\s*65536\s*$",
                       "the default max-request-size")):
        check(re.search(pat, out, re.M), "--check-config output lacks %s:\n%s",
              what, out)
    # Normalised output is itself a good file that normalises to itself.
    again = os.path.join(d.tmp, "again.conf")
    write(again, out)
    r2 = check_config(again)
    check_eq(r2.returncode, 0, f"--check-config on its own output "
             f"({r2.stderr.strip()})")
    def settings(text):            # a comment may name the file read
        return [l for l in text.splitlines()
                if not l.lstrip().startswith(("#", ";"))]
    check_eq(settings(r2.stdout), settings(out), "normalising twice")

    for text, bad_line, what in (
            ("[daemon]\nlog-level = loud\n", 2, "a bad log level"),
            ("[daemon]\nlog-level = info\nthis is not ini\n", 3,
             "a line that is not INI"),
            ("[control]\nsocket-mode = 0999\n", 2, "a bad octal mode"),
            ("[control]\nmax-clients = many\n", 2, "a bad number"),
            ("[sip]\n\nregister-burst = 0\n", 3, "a burst of 0"),
            ("[sip]\nregister-rate = -5\n", 2, "a negative rate")):
        bad = os.path.join(d.tmp, "bad.conf")
        write(bad, text)
        r = check_config(bad)
        msg = r.stdout + r.stderr
        check_eq(r.returncode, 1, f"--check-config with {what} ({msg!r})")
        check(bad in msg and re.search(rf"(:|line ){bad_line}\b", msg),
              "the message for %s should name %s and line %d: %r", what,
              bad, bad_line, msg)


def test_second_instance_refused(fx):
    w, d, c = fx.setup()
    # The same configuration again: same state dir, same socket.
    try:
        r = run(d.argv(), check=False, timeout=T(60))
    except subprocess.TimeoutExpired:
        raise AssertionError("a second alrd on the same state dir and socket "
                             "kept running")
    msg = r.stdout + r.stderr
    check(r.returncode != 0, "a second alrd on the same state dir started "
          "(status 0): %r", msg)
    check(re.search(r"lock|another|already running|in use", msg, re.I),
          "the second alrd should say why (lock / another instance): %r", msg)
    # The first is untouched: its socket still takes new connections.
    check(d.alive(), "the first alrd died")
    c2 = fx.client(d)
    still_works(c2, "a second instance was refused")
    still_works(c, "a second instance was refused")


def test_sighup_reload(fx):
    w, d, c = fx.setup()
    sip = c.info()["sip"]
    check_eq((sip["register_rate"], sip["register_burst"]), (200, 50),
             "default REGISTER pacing in daemon.info")
    d.config["daemon"]["log-level"] = "notice"
    d.config["sip"] = {"register-rate": "0", "register-burst": "7"}
    d.write_config()
    d.signal(signal.SIGHUP)
    wait_until(lambda: c.info()["log_level"] == "notice", T(20),
               "log_level notice after SIGHUP")
    sip = c.info()["sip"]
    check_eq((sip["register_rate"], sip["register_burst"]), (0, 7),
             "REGISTER pacing after SIGHUP")
    # set-log-level lasts until the next reload.
    check_eq(c.call("daemon.set-log-level", {"level": "debug"}),
             {"level": "debug", "previous": "notice"}, "set-log-level")
    check_eq(c.call("daemon.reload"), {"reloaded": True, "rejected": []}, "daemon.reload")
    check_eq(c.info()["log_level"], "notice", "log level after reload")

    # A broken file on SIGHUP: logged, old configuration kept, alive.
    size = os.path.getsize(d.log_path)
    write(d.conf_path, render_config(d.config).replace(
        "log-level = notice", "log-level = loud"))
    d.signal(signal.SIGHUP)

    def logged():
        with open(d.log_path, "rb") as f:
            f.seek(size)
            return d.conf_path.encode() in f.read()
    wait_until(logged, T(20), "a log line naming the broken file after "
               "SIGHUP")
    check(d.alive(), "alrd died on SIGHUP with a broken file")
    check_eq(c.info()["log_level"], "notice", "log level kept")


def test_reload_broken_file(fx):
    w, d, c = fx.setup()
    text = render_config(d.config)
    lines = text.splitlines()
    n = lines.index("log-level = debug") + 1
    write(d.conf_path, text.replace("log-level = debug", "log-level = loud"))
    e = c.expect_error(CONFIG, "daemon.reload")
    data = e.get("data") or {}
    check_eq((data.get("file"), data.get("line")), (d.conf_path, n),
             "-32004 data file/line")
    check(isinstance(data.get("problem"), str) and data["problem"],
          "-32004 data.problem: %r", data)
    check_eq(c.info()["log_level"], "debug", "old log level kept")
    check_eq(sorted(c.iaps()), ["wlan0", "wwan0"], "still serving")
    # Fixing the file makes reload work again.
    write(d.conf_path, text.replace("log-level = debug", "log-level = info"))
    check_eq(c.call("daemon.reload"), {"reloaded": True, "rejected": []}, "reload")
    check_eq(c.info()["log_level"], "info", "new log level")


def test_restart_after_kill(fx):
    # SIGKILL leaves the socket file and the lock file behind: a new alrd
    # must start anyway (the lock is not held) and keep the ids.
    w, d, c = fx.setup()
    ids = {n: i["id"] for n, i in c.iaps().items()}
    c.close()
    d.expect_exit = True
    os.kill(d.pid, signal.SIGKILL)
    d.proc.wait(T(10))
    d.proc = None
    d.start()
    c2 = fx.client(d)
    check_eq({n: i["id"] for n, i in c2.iaps().items()}, ids,
             "ids after SIGKILL and restart")


def test_sigterm_exits_cleanly(fx):
    w, d, c = fx.setup()
    c.subscribe(["*"])
    rc = d.stop()                 # raises unless status 0, no sanitizer
    check_eq(rc, 0, "exit status after SIGTERM")
    try:
        c.wait_closed(T(5))
    except ConnectionClosed:
        pass
    check(not os.path.exists(d.socket_path) or _refused(d.socket_path),
          "the socket still accepts connections after exit")


def test_sd_notify(fx):
    """Under systemd (NOTIFY_SOCKET set), alrd says READY=1 once its socket
    accepts clients, RELOADING=1 then READY=1 around a reload, and
    STOPPING=1 on its way out."""
    w = fx.world()
    tmp = tempfile.mkdtemp(prefix="alrt-notify-")
    sock_path = os.path.join(tmp, "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(sock_path)
    ns.settimeout(T(20))
    old = os.environ.get("NOTIFY_SOCKET")
    os.environ["NOTIFY_SOCKET"] = sock_path
    try:
        d = fx.daemon(w)
    finally:
        if old is None:
            del os.environ["NOTIFY_SOCKET"]
        else:
            os.environ["NOTIFY_SOCKET"] = old

    def next_message():
        try:
            return ns.recv(4096).decode()
        except socket.timeout:
            raise AssertionError("no sd_notify message in time")

    msg = next_message()
    check("READY=1" in msg.split("\n"), "first notification %r", msg)
    check(f"MAINPID={d.pid}" in msg, "MAINPID in %r", msg)
    c = fx.client(d)
    still_works(c, "READY=1")
    c.call("daemon.reload")
    check_eq(next_message().split("\n")[0], "RELOADING=1", "reload starts")
    check("READY=1" in next_message(), "READY=1 after the reload")
    d.stop()
    check("STOPPING=1" in next_message(), "STOPPING=1 on SIGTERM")
    ns.close()
    shutil.rmtree(tmp, ignore_errors=True)


def _refused(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return False
    except OSError:
        return True
    finally:
        s.close()


if __name__ == "__main__":
    main()
