#!/usr/bin/python3
"""IAPs from netlink: alrd's iap.* view of wlan0 (wifi) and wwan0
(cellular) follows carrier, addresses, default routes and links, with
events, and ids that survive restarts (docs/protocol.md, "IAP")."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from alrtest import (check, check_eq, main, netlink_barrier,    # noqa: E402
                     wait_iap_event)

KINDS = {"wlan0": "wifi", "wwan0": "cellular"}
ALL_KINDS = {"ethernet", "wifi", "cellular", "vpn", "other"}


def has_addr(iap, addr, prefix):
    return any(a.get("address") == addr and a.get("prefix") == prefix
               for a in iap.get("addresses", []))


def check_available(w, iap, name):
    spec = w.links[name]
    check_eq(iap.get("name"), name, "name")
    check_eq(iap.get("interface"), name, f"{name}: interface")
    check_eq(iap.get("identity"), "if:" + name, f"{name}: identity")
    check_eq(iap.get("ifindex"), w.ifindex(name), f"{name}: ifindex")
    check_eq(iap.get("available"), True, f"{name}: available")
    check("reason" in iap and iap["reason"] is None,
          "%s: reason must be null when available, got %r", name,
          iap.get("reason"))
    link = iap.get("link", {})
    check(link.get("up") is True and link.get("running") is True
          and link.get("lower_up") is True,
          "%s: link should be up, running, lower_up: %r", name, link)
    check_eq(link.get("type"), "veth", f"{name}: link.type")
    check_eq(link.get("mac"), w.link(name)["address"], f"{name}: link.mac")
    ours = [a for a in iap.get("addresses", [])
            if a.get("address") == spec["addr"]]
    check(len(ours) == 1, "%s: addresses should hold %s once: %r", name,
          spec["addr"], iap.get("addresses"))
    a = ours[0]
    check_eq((a.get("prefix"), a.get("family"), a.get("scope"),
              a.get("usable")), (spec["prefix"], "ipv4", "global", True),
             f"{name}: address {spec['addr']} prefix/family/scope/usable")
    check("permanent" in a.get("flags", []),
          "%s: %s should be flagged permanent: %r", name, spec["addr"], a)
    check_eq(iap.get("default_route"), {"ipv4": True, "ipv6": False},
             f"{name}: default_route")


def test_both_iaps_appear_available(fx):
    w, d, c = fx.setup()
    # The socket accepts connections only after the initial dump, so the
    # list is complete now: no waiting.
    listed = c.call("iap.list")["iaps"]
    names = [i["name"] for i in listed]
    check_eq(sorted(names), ["wlan0", "wwan0"],
             "IAPs listed (lo is not an IAP)")
    ids = [i["id"] for i in listed]
    check(all(isinstance(i, int) and i > 0 for i in ids),
          "ids should be positive integers: %r", ids)
    check_eq(ids, sorted(set(ids)), "iap.list ordered by id, ids unique")
    for iap in listed:
        name = iap["name"]
        check_eq(iap.get("kind"), KINDS[name], f"{name}: kind")
        check_available(w, iap, name)
        by_id = c.call("iap.get", {"id": iap["id"]})["iap"]
        check_eq(by_id, iap, f"iap.get by id {iap['id']}")
        by_name = c.call("iap.get", {"name": name})["iap"]
        check_eq(by_name, iap, f"iap.get by name {name}")
    check_eq(c.info().get("iaps"), 2, "daemon.info iaps")


def test_carrier_loss_and_return(fx):
    w, d, c = fx.setup()
    c.subscribe(["iap.*"])
    t0 = time.time()
    w.carrier_down("wlan0")
    ev = wait_iap_event(c, "iap.down", "wlan0")
    t1 = time.time()
    iap = ev["params"]["iap"]
    check_eq((iap["available"], iap["reason"]), (False, "no-carrier"),
             "iap.down wlan0 available/reason")
    check_eq(iap["link"].get("lower_up"), False, "iap.down: link.lower_up")
    check_eq(iap["link"].get("up"), True, "iap.down: link.up (admin up)")
    tm = ev["params"].get("time")
    check(isinstance(tm, (int, float)) and t0 - 0.5 <= tm <= t1 + 0.5,
          "event time %r should lie between the change (%f) and its "
          "receipt (%f)", tm, t0, t1)
    # iap.down comes after the iap.changed of the same change.
    check(any(e["method"] == "iap.changed"
              and e["params"]["iap"]["name"] == "wlan0"
              and e["params"]["iap"]["available"] is False
              for e in c.events),
          "no iap.changed (wlan0, unavailable) before iap.down: %r",
          [e["method"] for e in c.events])
    got = c.iap("wlan0")
    check_eq((got["available"], got["reason"]), (False, "no-carrier"),
             "iap.get wlan0 after carrier loss")
    check_eq(c.iap("wwan0")["available"], True, "wwan0 is not affected")

    c.clear_events()
    w.carrier_up("wlan0")
    ev = wait_iap_event(c, "iap.up", "wlan0")
    iap = ev["params"]["iap"]
    check_eq((iap["available"], iap["reason"]), (True, None),
             "iap.up wlan0 available/reason")
    check_available(w, c.iap("wlan0"), "wlan0")
    check(not any(e["method"] in ("iap.down", "iap.up")
                  and e["params"]["iap"]["name"] == "wwan0"
                  for e in c.events),
          "wwan0 should see no up/down: %r", c.events)


def test_admin_down(fx):
    w, d, c = fx.setup()
    c.subscribe(["iap.*"])
    w.link_down("wwan0")
    ev = wait_iap_event(c, "iap.down", "wwan0")
    check_eq(ev["params"]["iap"]["reason"], "link-down",
             "reason after ip link set wwan0 down")
    check_eq(ev["params"]["iap"]["link"].get("up"), False, "link.up")
    w.link_up("wwan0")
    w.restore("wwan0")           # the kernel dropped the route on down
    ev = wait_iap_event(c, "iap.up", "wwan0")
    check_available(w, ev["params"]["iap"], "wwan0")


def test_address_removal(fx):
    w, d, c = fx.setup()
    c.subscribe(["iap.*"])
    spec = w.links["wwan0"]
    w.del_addr("wwan0")
    ev = wait_iap_event(c, "iap.down", "wwan0")
    iap = ev["params"]["iap"]
    check_eq((iap["available"], iap["reason"]), (False, "no-address"),
             "iap.down wwan0 after address removal")
    check(not has_addr(iap, spec["addr"], spec["prefix"]),
          "the removed address is still listed: %r", iap["addresses"])
    got = c.iap("wwan0")
    check_eq(got["reason"], "no-address", "iap.get wwan0 reason")

    c.clear_events()
    w.add_addr("wwan0")
    if not w.has_default_route("wwan0"):
        # The kernel removed the default route with the address: the IAP
        # now has its address back but still no route.
        ev = c.wait_event(
            lambda e: e["method"] == "iap.changed"
            and e["params"]["iap"]["name"] == "wwan0"
            and has_addr(e["params"]["iap"], spec["addr"], spec["prefix"]),
            what="iap.changed(wwan0 with its address back)")
        iap = ev["params"]["iap"]
        check_eq((iap["available"], iap["reason"]),
                 (False, "no-default-route"),
                 "address back, route still gone")
        w.add_route("wwan0")
    ev = wait_iap_event(c, "iap.up", "wwan0")
    check_available(w, ev["params"]["iap"], "wwan0")


def test_default_route_removal(fx):
    w, d, c = fx.setup()
    c.subscribe(["iap.*"])
    w.del_route("wlan0")
    ev = wait_iap_event(c, "iap.down", "wlan0")
    iap = ev["params"]["iap"]
    check_eq((iap["available"], iap["reason"]),
             (False, "no-default-route"), "iap.down wlan0 after route del")
    check_eq(iap["default_route"], {"ipv4": False, "ipv6": False},
             "default_route after removal")
    check(has_addr(iap, "10.99.1.2", 24), "address must stay: %r",
          iap["addresses"])
    # wwan0 still has its own default route: still available.
    check_eq(c.iap("wwan0")["available"], True, "wwan0 stays available")
    w.add_route("wlan0")
    ev = wait_iap_event(c, "iap.up", "wlan0")
    check_available(w, ev["params"]["iap"], "wlan0")


def test_deprecated_address_is_not_usable(fx):
    w, d, c = fx.setup()
    c.subscribe(["iap.*"])
    w.ipd("addr", "change", w.addr_of("wlan0"), "dev", "wlan0",
          "preferred_lft", "0")
    ev = wait_iap_event(c, "iap.down", "wlan0")
    iap = ev["params"]["iap"]
    check_eq(iap["reason"], "no-address", "reason with only a deprecated "
             "address")
    a = [x for x in iap["addresses"] if x["address"] == "10.99.1.2"]
    check(a and a[0]["usable"] is False and "deprecated" in a[0]["flags"],
          "10.99.1.2 should be listed, deprecated and not usable: %r", a)
    w.ipd("addr", "change", w.addr_of("wlan0"), "dev", "wlan0",
          "preferred_lft", "forever")
    ev = wait_iap_event(c, "iap.up", "wlan0")
    check_available(w, ev["params"]["iap"], "wlan0")


def test_ipv6(fx):
    # An IAP is available over either family: an IPv6 global address and
    # an IPv6 default route through the link suffice, once DAD is done.
    w, d, c = fx.setup()
    c.subscribe(["iap.*"])
    w.del_route("wwan0")
    ev = wait_iap_event(c, "iap.down", "wwan0")
    check_eq(ev["params"]["iap"]["reason"], "no-default-route", "reason")
    c.clear_events()
    # DAD runs: the address is tentative for about a second.
    w.ipd("-6", "route", "add", "default", "via", "fd00:99:2::1",
          "dev", "wwan0", "onlink")
    w.add_addr("wwan0", "fd00:99:2::2/64")
    up = wait_iap_event(c, "iap.up", "wwan0")
    iap = up["params"]["iap"]
    check_eq(iap["default_route"], {"ipv4": False, "ipv6": True},
             "default_route with only the IPv6 one")
    a = [x for x in iap["addresses"] if x["address"] == "fd00:99:2::2"]
    check(a and a[0]["usable"] and a[0]["family"] == "ipv6"
          and "tentative" not in a[0]["flags"],
          "fd00:99:2::2 should be usable (DAD done) at iap.up: %r", a)
    # Before that, alrd saw it tentative and kept the IAP unavailable.
    seen = [x for e in c.events
            if e["params"]["iap"]["name"] == "wwan0"
            for x in e["params"]["iap"]["addresses"]
            if x["address"] == "fd00:99:2::2"]
    check(seen and "tentative" in seen[0]["flags"]
          and seen[0]["usable"] is False,
          "the first sight of fd00:99:2::2 should be tentative, not usable: "
          "%r", seen[:1])
    check(not any(e["method"] == "iap.up" for e in c.events),
          "iap.up before DAD finished")

    # IPv4 address without IPv4 route, IPv6 route without IPv6 address:
    # no family has both.
    w.del_addr("wwan0", "fd00:99:2::2/64")
    ev = wait_iap_event(c, "iap.down", "wwan0")
    check(ev["params"]["iap"]["reason"] in ("no-address", "no-default-route"),
          "reason with no family complete: %r", ev["params"]["iap"]["reason"])
    check_eq(w.jd("-6", "route", "show", "default") != [], True,
             "the IPv6 default route stays in the kernel")


def test_link_deleted_and_recreated(fx):
    w, d, c = fx.setup()
    c.subscribe(["iap.*"])
    before = c.iap("wlan0")
    w.delete_link("wlan0")
    down = wait_iap_event(c, "iap.down", "wlan0")
    removed = wait_iap_event(c, "iap.removed", "wlan0")
    check_eq(removed["params"]["iap"]["id"], before["id"], "removed id")
    check_eq(removed["params"]["iap"]["available"], False,
             "iap.removed: available")
    check(down["params"]["time"] <= removed["params"]["time"],
          "iap.down should not be later than iap.removed")
    names = [i["name"] for i in c.call("iap.list")["iaps"]]
    check_eq(names, ["wwan0"], "iap.list after deleting wlan0")
    check_eq(c.info().get("iaps"), 1, "daemon.info iaps")

    w.add_link("wlan0")
    added = wait_iap_event(c, "iap.added", "wlan0")
    check_eq(added["params"]["iap"]["id"], before["id"],
             "a re-created wlan0 keeps its id")
    up = wait_iap_event(c, "iap.up", "wlan0")
    check_eq(up["params"]["iap"]["id"], before["id"], "iap.up id")
    check_available(w, up["params"]["iap"], "wlan0")
    check_eq(up["params"]["iap"]["kind"], "wifi", "kind")


def test_ids_survive_restart(fx):
    w, d, c = fx.setup()
    ids = {n: i["id"] for n, i in c.iaps().items()}
    c.close()
    d.restart()
    c2 = fx.client(d)
    after = {n: i["id"] for n, i in c2.iaps().items()}
    check_eq(after, ids, "ids after a restart")
    check(os.path.exists(os.path.join(d.state_dir, "alrd.db")),
          "no alrd.db in the state dir %s", d.state_dir)

    # The id is bound to the interface's identity, not its ifindex: delete
    # and re-create wlan0 while alrd is stopped, then start it again.
    c2.close()
    d.stop()
    old_ifindex = w.ifindex("wlan0")
    w.delete_link("wlan0")
    w.add_link("wlan0")
    check(w.ifindex("wlan0") != old_ifindex, "wlan0 kept its ifindex")
    d.start()
    c3 = fx.client(d)
    iaps = c3.iaps()
    check_eq({n: i["id"] for n, i in iaps.items()}, ids,
             "ids after wlan0 was re-created while alrd was stopped")
    check_available(w, iaps["wlan0"], "wlan0")


def test_new_interface_gets_new_id(fx):
    w, d, c = fx.setup()
    c.subscribe(["iap.*"])
    ids = {i["id"] for i in c.iaps().values()}
    w.add_link("eth1")
    ev = wait_iap_event(c, "iap.added", "eth1")
    iap = ev["params"]["iap"]
    check(iap["id"] not in ids, "eth1 got id %r, already used by %r",
          iap["id"], ids)
    check(iap.get("kind") in ALL_KINDS, "eth1 kind %r", iap.get("kind"))
    check_eq(iap.get("identity"), "if:eth1", "identity")
    ev = wait_iap_event(c, "iap.up", "eth1")
    check_available(w, ev["params"]["iap"], "eth1")
    check_eq(sorted(c.iaps()), ["eth1", "wlan0", "wwan0"], "iap.list")
    eth1_id = iap["id"]

    # It keeps that id over a restart; a second new one gets yet another.
    c.close()
    d.restart()
    c = fx.client(d)
    c.subscribe(["iap.*"])
    check_eq(c.iap("eth1")["id"], eth1_id, "eth1 id after restart")
    w.delete_link("eth1")
    wait_iap_event(c, "iap.removed", "eth1")
    w.add_link("eth2")
    ev = wait_iap_event(c, "iap.added", "eth2")
    check(ev["params"]["iap"]["id"] not in ids | {eth1_id},
          "eth2 got id %r, already used", ev["params"]["iap"]["id"])


def test_renamed_interface(fx):
    # The identity is "if:NAME": a renamed interface is another IAP (with
    # the kind its new name maps to), and the old name's IAP is gone.
    w, d, c = fx.setup()
    c.subscribe(["iap.*"])
    old = c.iap("wlan0")
    w.link_down("wlan0")
    w.ipd("link", "set", "wlan0", "name", "wlan9")
    ev = c.wait_event(lambda e: e["params"]["iap"].get("interface") == "wlan9",
                      what="an event about wlan9")
    iaps = c.iaps()
    check("wlan0" not in iaps, "wlan0 still listed after the rename: %r",
          iaps.get("wlan0"))
    check("wlan9" in iaps, "wlan9 not listed: %r", sorted(iaps))
    new = iaps["wlan9"]
    check_eq((new["identity"], new["name"], new["kind"]),
             ("if:wlan9", "wlan9", "wifi"), "the renamed interface's IAP")
    check(new["id"] != old["id"], "wlan9 took wlan0's id %r", old["id"])
    # Back to wlan0: wlan0's id again.
    w.ipd("link", "set", "wlan9", "name", "wlan0")
    c.wait_event(lambda e: e["method"] == "iap.added"
                 and e["params"]["iap"].get("interface") == "wlan0",
                 what="iap.added for wlan0 again")
    check_eq(c.iap("wlan0")["id"], old["id"], "wlan0's id after renaming "
             "back")


def test_ignored_kind_is_not_an_iap(fx):
    w = fx.world()
    d = fx.daemon(w, {"iap-kinds": {"eth*": "ignore"}})
    c = fx.client(d)
    c.subscribe(["iap.*"])
    w.add_link("eth1")
    # The barrier's change comes after eth1's on the same netlink socket.
    netlink_barrier(w, c)
    check(not any(e["params"]["iap"].get("name") == "eth1"
                  for e in c.events),
          "events for ignored eth1: %r", [e["method"] for e in c.events])
    check_eq(sorted(c.iaps()), ["wlan0", "wwan0"], "iap.list with eth1 "
             "ignored")


def test_no_changed_event_without_a_visible_change(fx):
    """A change the IAP object does not show (IFF_PROMISC, IFF_ALLMULTI)
    sends no iap.changed; a visible one names what changed."""
    w, d, c = fx.setup()
    c.subscribe(["iap.*"])
    w.ipd("link", "set", "wlan0", "promisc", "on")
    w.ipd("link", "set", "wlan0", "allmulticast", "on")
    # wwan0's change comes after wlan0's on the same netlink socket, and
    # each link is delivered on its own.
    netlink_barrier(w, c)
    check(not any(e["method"] == "iap.changed"
                  and e["params"]["iap"].get("name") == "wlan0"
                  for e in c.events),
          "iap.changed for wlan0 without a visible change: %r",
          [(e["method"], e["params"].get("changed")) for e in c.events])

    c.clear_events()
    w.ipd("link", "set", "wlan0", "mtu", "1400")
    ev = wait_iap_event(c, "iap.changed", "wlan0")
    check_eq(ev["params"]["iap"]["link"]["mtu"], 1400, "link.mtu")
    check_eq(ev["params"].get("changed"), ["link.mtu"], "changed")
    # the barrier's own events say what they changed
    netlink_barrier(w, c)
    check(all(e["params"].get("changed") == ["addresses"]
              for e in c.events if e["method"] == "iap.changed"
              and e["params"]["iap"].get("name") == "wwan0"),
          "barrier events: %r", [e["params"].get("changed")
                                 for e in c.events])


if __name__ == "__main__":
    main()
