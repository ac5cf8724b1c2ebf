#!/usr/bin/python3
"""A burst of 10,000 address changes (with default routes deleted and
re-added among them): afterwards alrd's addresses, their DAD flags and the
IAPs' availability equal the kernel's, with the default netlink receive
buffer and with a tiny one that forces overruns and so resyncs.
netlink/nlmon.h: "A socket overrun (ENOBUFS) triggers a full resync ... so
the consumer's model equals the kernel's"."""

import ipaddress
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from alrtest import T, check, check_eq, main, wait_until   # noqa: E402

ADDS = 6000
DELS = 4000


def burst_plan(seed=20251121):
    """10,000 'address add/del' lines for ip -batch: 6000 additions spread
    over wlan0 and wwan0 (IPv4 /32s and IPv6 /128s, some without DAD),
    4000 of them deleted again, each deletion at a random point after its
    addition.  Deterministic for a given seed.  Returns (lines, expected
    {ifname: {(address, prefix)}} of the addresses left)."""
    rng = random.Random(seed)
    adds = []
    for i in range(ADDS):
        dev = "wlan0" if i % 3 else "wwan0"
        net = 100 if dev == "wlan0" else 101
        if i % 5 == 4:
            v6 = ipaddress.ip_address(f"fd00:{net}::{i // 256:x}:{i % 256:x}")
            a = (v6.compressed, 128, "nodad" if i % 2 else "")
        else:
            a = (f"10.{net}.{i // 256}.{i % 256}", 32, "")
        adds.append((dev,) + a)
    rng.shuffle(adds)
    doomed = set(rng.sample(range(ADDS), DELS))
    ops = []                                   # (sort key, line)
    for pos, (dev, addr, plen, flags) in enumerate(adds):
        ops.append((pos, f"address add {addr}/{plen} dev {dev} {flags}"
                    .rstrip()))
        if pos in doomed:
            ops.append((rng.uniform(pos + 0.1, ADDS + 50),
                        f"address del {addr}/{plen} dev {dev}"))
    ops.sort(key=lambda o: o[0])
    expected = {"wlan0": set(), "wwan0": set()}
    for pos, (dev, addr, plen, _) in enumerate(adds):
        if pos not in doomed:
            expected[dev].add((addr, plen))
    return [line for _, line in ops], expected


def daemon_addrs(c):
    return {name: {(a["address"], a["prefix"]) for a in iap["addresses"]}
            for name, iap in c.iaps().items()}


def kernel_addrs(w):
    k = w.all_addrs()
    return {n: k.get(n, set()) for n in ("wlan0", "wwan0")}


def daemon_flags(c):
    return {name: {(a["address"], a["prefix"], "tentative" in a["flags"],
                    "nodad" in a["flags"]) for a in iap["addresses"]}
            for name, iap in c.iaps().items()}


def kernel_flags(w):
    out = {"wlan0": set(), "wwan0": set()}
    for e in w.jd("addr", "show"):
        if e["ifname"] in out:
            out[e["ifname"]] = {(a["local"], a["prefixlen"],
                                 bool(a.get("tentative")),
                                 bool(a.get("nodad")))
                                for a in e.get("addr_info", [])}
    return out


def run_burst(fx, config=None):
    w = fx.world()
    d = fx.daemon(w, config)
    c = fx.client(d, timeout=T(120))
    base = kernel_addrs(w)
    lines, expected = burst_plan()
    check_eq(len(lines), ADDS + DELS, "burst size")
    # Default routes come and go in the middle of it too: wlan0's is
    # deleted and re-added ten times, and wwan0's is deleted at the end.
    r1 = "default via {gw} dev {name} metric {metric}".format(
        **w.links["wlan0"])
    r2 = "default via {gw} dev {name} metric {metric}".format(
        **w.links["wwan0"])
    for k in range(10, 0, -1):
        lines.insert(k * 900 + 300, f"route add {r1}")
        lines.insert(k * 900, f"route del {r1}")
    lines.append(f"route del {r2}")

    t0 = time.monotonic()
    w.batch(lines)
    t_burst = time.monotonic() - t0

    # The kernel did what we meant (IPv6 link-locals come and go with
    # nothing in the burst, so compare our addresses only).
    kernel = kernel_addrs(w)
    for n in ("wlan0", "wwan0"):
        check_eq(kernel[n] - base[n], expected[n],
                 f"kernel's view of {n} after the burst")

    # No event says "caught up", so poll the daemon's view against the
    # kernel's until they agree.
    last = {}

    def converged():
        k = kernel_addrs(w)
        iaps = c.iaps()
        dv = {n: {(a["address"], a["prefix"]) for a in i["addresses"]}
              for n, i in iaps.items()}
        last["diff"] = {n: (len(k[n] - dv.get(n, set())),
                            len(dv.get(n, set()) - k[n])) for n in k}
        last["state"] = {n: (i["available"], i["reason"])
                         for n, i in iaps.items()}
        return all(dv.get(n) == k[n] for n in k) and last["state"] == {
            "wlan0": (True, None), "wwan0": (False, "no-default-route")}
    try:
        wait_until(converged, T(300), interval=1,
                   what="iap.list addresses == ip addr")
    except AssertionError:
        raise AssertionError(
            "alrd's addresses or availability never matched the kernel's; "
            f"per link (missing in alrd, extra in alrd): {last.get('diff')}; "
            f"availability (want wlan0 up, wwan0 no-default-route): "
            f"{last.get('state')}")
    t_conv = time.monotonic() - t0
    print(f"    burst {t_burst:.1f}s, converged {t_conv:.1f}s after start",
          flush=True)

    # DAD then finishes on the IPv6 addresses added with it: the kernel
    # changes their flags (tentative -> none) without adding or removing
    # anything, and alrd must follow that too.
    wait_until(lambda: not any(t for n, xs in kernel_flags(w).items()
                               for (_, _, t, _) in xs),
               T(120), interval=0.5, what="DAD done in the kernel")

    def flags_agree():
        k = kernel_flags(w)
        dv = daemon_flags(c)
        last["flags"] = {n: sorted(k[n] ^ dv.get(n, set()))[:4] for n in k}
        return all(dv.get(n) == k[n] for n in k)
    try:
        wait_until(flags_agree, T(120), interval=1,
                   what="tentative/nodad flags equal")
    except AssertionError:
        raise AssertionError("alrd's address flags never matched the "
                             f"kernel's; some differences: {last['flags']}")

    check(d.alive(), "alrd died")
    info = c.info()
    check_eq(info.get("iaps"), 2, "daemon.info iaps")
    iaps = c.iaps()
    check_eq(iaps["wlan0"]["default_route"], {"ipv4": True, "ipv6": False},
             "wlan0 default_route after the burst")
    check_eq(iaps["wwan0"]["default_route"], {"ipv4": False, "ipv6": False},
             "wwan0 default_route after the burst")
    # Still equal once everything has settled (no late stale snapshot).
    check_eq(daemon_addrs(c), kernel_addrs(w), "addresses, checked again")
    tentative = sum(1 for n in ("wlan0", "wwan0") for a in iaps[n]["addresses"]
                    if "tentative" in a["flags"])
    check_eq(tentative, 0, "tentative addresses left after DAD")
    # A fresh client is served too.
    c2 = fx.client(d)
    check_eq(sorted(c2.iaps()), ["wlan0", "wwan0"], "new client's list")
    return info


def test_burst_default_buffer(fx):
    info = run_burst(fx)
    print(f"    netlink: {info.get('netlink')}", flush=True)


test_burst_default_buffer.timeout = 280


def test_burst_tiny_buffer(fx):
    info = run_burst(fx, {"netlink": {"receive-buffer": 4096}})
    nl = info.get("netlink", {})
    print(f"    netlink: {nl}", flush=True)
    check(isinstance(nl.get("resyncs"), int) and nl["resyncs"] > 0,
          "a 4096-byte receive buffer must overrun and resync: %r", nl)


test_burst_tiny_buffer.timeout = 280


if __name__ == "__main__":
    main()
