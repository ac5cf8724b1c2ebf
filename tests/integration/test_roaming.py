#!/usr/bin/python3
"""Roaming: SNAP policies in the daemon (snap-dir, snap.list, snap.get,
--check-config, reload) and profiles that roam across a SNAP, against a
real Kamailio registrar in network namespaces.

The world is test_profiles.py's: a device namespace with wlan0 (Wi-Fi,
10.99.1.2) and wwan0 (cellular, 10.99.2.2) as [iap-kinds] say; Kamailio
on 10.99.100.1 in the network namespace, so the host of a contact in the
registrar's bindings says which link the REGISTER left over.  Every check
of a registration reads the registrar's own view.

Needs root and Kamailio; exits 77 (skipped) without them.

Usage: test_roaming.py [-b BUILD_DIR] [NAME_SUBSTRING ...]
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, 'peers'))

import alrtest  # noqa: E402
from alrtest import T, check, check_eq  # noqa: E402
from test_profiles import (REG_ADDR, WLAN, WWAN, deregistered, host_of,  # noqa: E402
                           iap_id, profile, registered, sip_world, state_once,
                           wait_bindings)
from test_sip_register import nft, nft_counter, snmp  # noqa: E402

WIFI_FIRST = """\
[snap]
id = 5
name = mobile
stable-time = 200ms
approval-timeout = 2s
on-timeout = allow

[rule]
priority = 10
kind = wifi

[rule]
priority = 20
kind = cellular
"""

CELLULAR_FIRST = """\
[snap]
id = 6
name = cellfirst
stable-time = 200ms

[rule]
priority = 10
kind = cellular

[rule]
priority = 20
kind = wifi
"""


def snap_dir(d):
    return os.path.join(d.tmp, 'snap.d')


def write_snap(d, name, text):
    path = os.path.join(snap_dir(d), name)
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def roaming_daemon(fx, w, snaps):
    """alrd with the build's plugins and a snap-dir holding @snaps
    ({file name: text}), written before it starts."""
    cfg = {'daemon': {'plugin-dir': alrtest.plugin_dir()}}
    d = fx.daemon(w, cfg, start=False)
    os.makedirs(snap_dir(d), mode=0o755, exist_ok=True)
    d.config['daemon']['snap-dir'] = snap_dir(d)
    d.write_config()
    for name, text in snaps.items():
        write_snap(d, name, text)
    d.start()
    return d


# ---------------------------------------------------------------------------


def test_snap_list_and_get(fx):
    w, reg = sip_world(fx)
    d = roaming_daemon(fx, w, {'10-mobile.conf': WIFI_FIRST})
    c = fx.client(d)
    wlan, wwan = iap_id(c, 'wlan0'), iap_id(c, 'wwan0')
    snaps = c.call('snap.list')['snaps']
    check_eq([s['id'] for s in snaps], [0, 5], 'SNAP ids (default first)')
    s = snaps[1]
    check_eq(s['name'], 'mobile', 'name')
    check_eq(s['file'], os.path.join(snap_dir(d), '10-mobile.conf'), 'file')
    check_eq(s['stable_time_ms'], 200, 'stable_time_ms')
    check_eq(s['approval_timeout_ms'], 2000, 'approval_timeout_ms')
    check_eq(s['calls'], 'migrate', 'calls (the default)')
    check_eq(s['on_timeout'], 'allow', 'on_timeout')
    check_eq(s['migration'], 'make-before-break', 'migration')
    check_eq([(r['priority'], r['kinds']) for r in s['rules']],
             [(10, ['wifi']), (20, ['cellular'])], 'rules')
    check_eq(s['ranking'], [wlan, wwan], 'ranking: wifi > cellular')
    check_eq(c.call('snap.get', {'name': 'mobile'})['snap'], s, 'snap.get by name')
    check_eq(c.call('snap.get', {'id': 5})['snap']['name'], 'mobile', 'snap.get by id')
    check_eq(c.call('snap.get', {'id': 0})['snap']['name'], 'default', 'default SNAP')
    c.expect_error(-32002, 'snap.get', {'id': 9})
    c.expect_error(-32002, 'snap.get', {'name': 'nope'})
    c.expect_error(-32602, 'snap.get', {})

    # The ranking follows the IAPs: without wlan0's carrier, cellular only.
    c.subscribe(['iap.*'])
    w.carrier_down('wlan0')
    alrtest.wait_iap_event(c, 'iap.down', 'wlan0')
    check_eq(c.call('snap.get', {'id': 5})['snap']['ranking'], [wwan],
             'ranking without wlan0')


def test_profile_registers_over_its_snaps_best_iap(fx):
    w, reg = sip_world(fx)
    d = roaming_daemon(fx, w, {'10-mobile.conf': WIFI_FIRST,
                               '20-cell.conf': CELLULAR_FIRST})
    c = fx.client(d)
    c.subscribe(['profile.*'])
    # An unknown SNAP is refused; a loaded one is taken.
    e = c.expect_error(-32602, 'profile.create',
                       {'profile': profile('alice', snap_id=77)})
    check_eq(e['data']['field'], 'snap_id', 'field of the refusal')
    a = c.call('profile.create', {'profile': profile('alice', snap_id=5,
                                                     auto_register=True)})['profile']['id']
    b = c.call('profile.create', {'profile': profile('bob', snap_id=6,
                                                     auto_register=True)})['profile']['id']
    registered(c, a)
    registered(c, b)
    wait_bindings(reg, 'alice', 1, host=WLAN)
    wait_bindings(reg, 'bob', 1, host=WWAN)


def test_carrier_loss_fails_over_within_the_snap(fx):
    w, reg = sip_world(fx)
    d = roaming_daemon(fx, w, {'10-mobile.conf': WIFI_FIRST})
    c = fx.client(d)
    c.subscribe(['profile.*'])
    pid = c.call('profile.create', {'profile': profile('alice', snap_id=5,
                                                       auto_register=True)})['profile']['id']
    registered(c, pid)
    wait_bindings(reg, 'alice', 1, host=WLAN)
    w.carrier_down('wlan0')
    deregistered(c, pid, 'network-lost')
    ev = registered(c, pid)
    check_eq(host_of(ev['params']['contact']), WWAN, 'contact host after failover')
    check_eq(ev['params']['iap_id'], iap_id(c, 'wwan0'), 'IAP after failover')
    wait_bindings(reg, 'alice', 1, host=WWAN)


def test_bad_snap_file_skipped_and_check_config(fx):
    w = fx.world()
    bad = '[snap]\nid = 7\nname = bad\n\n[rule]\npriority = 1\nmin-signal = 140\n'
    d = roaming_daemon(fx, w, {'10-mobile.conf': WIFI_FIRST, '30-bad.conf': bad})
    c = fx.client(d)
    # Logged with file and line, skipped; the good file loads.
    check_eq([s['name'] for s in c.call('snap.list')['snaps']], ['default', 'mobile'],
             'SNAPs with a bad file')
    badpath = os.path.join(snap_dir(d), '30-bad.conf')
    log = d.log_since_start()
    check('%s:7' % badpath in log, 'the log does not name %s:7', badpath)

    # --check-config: exit 1, the file and line on stderr, the good SNAP
    # printed back.
    p = subprocess.run([alrtest.alrd_path(), '--check-config', '-c', d.conf_path],
                       capture_output=True, text=True, timeout=T(20))
    check_eq(p.returncode, 1, '--check-config exit status with a bad file')
    check('%s:7:' % badpath in p.stderr, 'stderr does not name %s:7: %r', badpath, p.stderr)
    check('name = mobile' in p.stdout, 'the good SNAP is not printed: %r', p.stdout)
    check('snap-dir = %s' % snap_dir(d) in p.stdout, 'snap-dir not printed')
    os.unlink(badpath)
    p = subprocess.run([alrtest.alrd_path(), '--check-config', '-c', d.conf_path],
                       capture_output=True, text=True, timeout=T(20))
    check_eq(p.returncode, 0, '--check-config exit status, files valid (%s)' % p.stderr)


def test_reload_swaps_the_snaps(fx):
    w = fx.world()
    d = roaming_daemon(fx, w, {'10-mobile.conf': WIFI_FIRST})
    c = fx.client(d)
    write_snap(d, '20-cell.conf', CELLULAR_FIRST)
    os.unlink(os.path.join(snap_dir(d), '10-mobile.conf'))
    check_eq(c.call('daemon.reload'), {'reloaded': True, 'rejected': []},
             'daemon.reload with every file valid')
    check_eq([s['name'] for s in c.call('snap.list')['snaps']], ['default', 'cellfirst'],
             'SNAPs after daemon.reload')

    # A broken file: the reload goes on without it, and says so; alrctl
    # fails (EX_CONFIG) naming it (issue 16: it printed "configuration
    # reloaded" and exited 0).
    bad = write_snap(d, '30-bad.conf', '[snap]\nid = 7\nname = bad\nstabel-time = 1s\n')
    res = c.call('daemon.reload')
    check_eq([(r['file'], r['line']) for r in res['rejected']], [(bad, 4)],
             'daemon.reload rejected %r' % res['rejected'])
    check('stabel-time' in res['rejected'][0]['problem'], 'problem: %r', res['rejected'])
    argv = [alrtest.alrctl_path(), '-s', d.socket_path, 'reload']
    p = subprocess.run(argv, capture_output=True, text=True, timeout=T(20))
    check_eq(p.returncode, 78, 'alrctl reload with a broken SNAP file (%s)' % p.stderr)
    check(p.stderr.startswith('alrctl: %s:4: ' % bad) and 'file rejected' in p.stderr,
          'alrctl reload stderr: %r', p.stderr)
    check('1 SNAP file rejected' in p.stdout, 'alrctl reload stdout: %r', p.stdout)
    p = subprocess.run(argv[:3] + ['-j', 'reload'], capture_output=True, text=True,
                       timeout=T(20))
    check_eq(p.returncode, 78, 'alrctl -j reload')
    err = json.loads(p.stderr)
    check(bad in err['error']['message'], 'alrctl -j reload stderr: %r', p.stderr)
    check_eq(json.loads(p.stdout)['rejected'][0]['file'], bad, 'alrctl -j reload stdout')
    os.unlink(bad)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=T(20))
    check_eq((p.returncode, p.stdout, p.stderr), (0, 'configuration reloaded\n', ''),
             'alrctl reload once the file is gone')
    # SIGHUP too.
    write_snap(d, '10-mobile.conf', WIFI_FIRST)
    d.signal(1)
    alrtest.wait_until(lambda: len(c.call('snap.list')['snaps']) == 3, T(10),
                       'three SNAPs after SIGHUP')
    check_eq(c.call('snap.get', {'name': 'mobile'})['snap']['id'], 5, 'mobile after SIGHUP')


# ---- the roaming engine: offers, controllers, migrations ------------------

def wifi_snap(approval='10s', on_timeout='allow'):
    return ('[snap]\nid = 5\nname = mobile\nstable-time = 200ms\n'
            'approval-timeout = %s\non-timeout = %s\n\n'
            '[rule]\npriority = 10\nkind = wifi\n\n'
            '[rule]\npriority = 20\nkind = cellular\n' % (approval, on_timeout))


def on_cellular(fx, snap_text, n_controllers=1, **world_args):
    """alice on SNAP 5, registered over wwan0 while wlan0 has no carrier,
    with n controllers (clients that called alr.control).  Returns (world,
    registrar, observer, profile id, wlan id, wwan id, controllers).
    world_args go to sip_world() (the registrar's settings)."""
    w, reg = sip_world(fx, **world_args)
    d = roaming_daemon(fx, w, {'10-mobile.conf': snap_text})
    obs = fx.client(d)
    obs.subscribe(['profile.*', 'alr.*', 'iap.*'])
    wlan, wwan = iap_id(obs, 'wlan0'), iap_id(obs, 'wwan0')
    w.carrier_down('wlan0')
    alrtest.wait_iap_event(obs, 'iap.down', 'wlan0')
    pid = obs.call('profile.create', {'profile': profile(
        'alice', snap_id=5, auto_register=True)})['profile']['id']
    ev = registered(obs, pid)
    check_eq(ev['params']['iap_id'], wwan, 'registered over cellular first')
    wait_bindings(reg, 'alice', 1, host=WWAN)
    ctls = []
    for _ in range(n_controllers):
        ctl = fx.client(d)
        check_eq(ctl.call('alr.control', {'profile': pid}), {'profile': pid},
                 'alr.control result')
        ctls.append(ctl)
    return w, reg, obs, pid, wlan, wwan, ctls


def offered(c, pid, iap, timeout=None):
    ev = c.wait_event(lambda e: e['method'] == 'alr.iap-available' and
                      e['params']['profile'] == pid, timeout or T(10),
                      'alr.iap-available(%d)' % pid)
    check_eq(ev['params']['iap'], iap, 'IAP on offer')
    check_eq(ev['params']['snap'], 5, 'SNAP of the offer')
    return ev


def alr_event(c, method, pid, timeout=None):
    return c.wait_event(lambda e: e['method'] == method and
                        e['params']['profile'] == pid, timeout or T(10),
                        '%s(%d)' % (method, pid))


def alr_error(c, pid, name, timeout=None):
    ev = alr_event(c, 'alr.error', pid, timeout)
    check_eq(ev['params']['name'], name, 'alr.error name (%s)' % ev['params'])
    return ev


def migrated_to_wifi(obs, reg, pid, wlan, wwan):
    ev = alr_event(obs, 'alr.migration-started', pid)
    check_eq((ev['params']['from'], ev['params']['to']), (wwan, wlan),
             'migration-started from -> to')
    ev = alr_event(obs, 'alr.migration-completed', pid, T(20))
    check_eq((ev['params']['from'], ev['params']['to']), (wwan, wlan),
             'migration-completed from -> to')
    # DESIGN §3.3: then profile.updated (its IAP changed), naming the new IAP.
    completed = next(i for i, e in enumerate(obs.history) if e is ev)
    up = obs.wait_event(lambda e: e['method'] == 'profile.updated' and
                        e['params']['profile']['id'] == pid and
                        e['params']['profile']['state']['iap_id'] == wlan, T(10),
                        'profile.updated(%d) over the new IAP after the migration' % pid)
    check(next(i for i, e in enumerate(obs.history) if e is up) > completed,
          'profile.updated came before alr.migration-completed')
    # The registrar's view: the wifi contact only (the old one removed).
    wait_bindings(reg, 'alice', 1, host=WLAN)


def still_on_cellular(reg):
    b = reg.bindings('alice')
    check_eq([host_of(x['contact']) for x in b], [WWAN], 'registrar bindings of alice')


def test_wifi_back_allowed_migrates(fx):
    w, reg, obs, pid, wlan, wwan, (ctl,) = on_cellular(fx, wifi_snap())
    # Nothing to answer yet: -32602.
    ctl.expect_error(-32602, 'alr.allow', {'profile': pid, 'iap': wlan})
    w.carrier_up('wlan0')
    offered(ctl, pid, wlan)
    # The wrong IAP is refused; an unknown profile too; a non-controller
    # may not answer.
    ctl.expect_error(-32602, 'alr.allow', {'profile': pid, 'iap': wwan})
    ctl.expect_error(-32002, 'alr.allow', {'profile': 999, 'iap': wlan})
    obs.expect_error(-32001, 'alr.allow', {'profile': pid, 'iap': wlan})
    mark = len(reg.registers())
    ctl.call('alr.allow', {'profile': pid, 'iap': wlan})
    migrated_to_wifi(obs, reg, pid, wlan, wwan)
    ev = alr_event(ctl, 'alr.migration-completed', pid)
    check_eq(ev['params']['to'], wlan, 'the controller sees the migration too')
    # Make before break, in the registrar's own log: the REGISTER over
    # wifi was answered 200 before any removal of a contact.
    # (A reply is logged just after it leaves: wait for the 200's line.)
    try:
        reg.wait_until(lambda: any(r.get('src') == WLAN and 200 in r['replies']
                                   for r in reg.registers()[mark:]), T(5))
    except TimeoutError:
        pass                    # reported below
    regs = reg.registers()[mark:]
    made = [i for i, r in enumerate(regs) if r.get('src') == WLAN and 200 in r['replies']]
    removals = [i for i, r in enumerate(regs) if str(r.get('expires')) == '0']
    check(made, 'no REGISTER over wifi answered 200: %s', regs)
    check(not removals or made[0] < removals[0],
          'a contact was removed before the new one was registered: %s', regs)


def test_disallow_stays_then_refresh_offers_again(fx):
    w, reg, obs, pid, wlan, wwan, (ctl,) = on_cellular(fx, wifi_snap())
    w.carrier_up('wlan0')
    offered(ctl, pid, wlan)
    ctl.call('alr.disallow', {'profile': pid, 'iap': wlan})
    ev = alr_error(ctl, pid, 'access-denied')
    check_eq((ev['params']['code'], ev['params']['iap']), (1, wlan), 'code and IAP')
    still_on_cellular(reg)
    # Not offered again without a change: no answer is expected.
    ctl.expect_error(-32602, 'alr.allow', {'profile': pid, 'iap': wlan})
    ctl.call('alr.refresh', {'profile': pid})
    offered(ctl, pid, wlan)
    still_on_cellular(reg)
    ctl.call('alr.allow', {'profile': pid, 'iap': wlan})
    migrated_to_wifi(obs, reg, pid, wlan, wwan)


def test_silent_controller_on_timeout_applies(fx):
    w, reg, obs, pid, wlan, wwan, (ctl,) = on_cellular(
        fx, wifi_snap(approval='1500ms', on_timeout='allow'))
    w.carrier_up('wlan0')
    offer = offered(ctl, pid, wlan)
    started = alr_event(obs, 'alr.migration-started', pid, T(10))
    waited = started['params']['time'] - offer['params']['time']
    check(waited >= 1.4, 'migration started %.2fs after the offer, before '
          'approval-timeout (1.5s)', waited)
    ev = alr_event(obs, 'alr.migration-completed', pid, T(20))
    check_eq(ev['params']['to'], wlan, 'migrated to')
    wait_bindings(reg, 'alice', 1, host=WLAN)


def test_controller_disconnect_decides_at_once(fx):
    w, reg, obs, pid, wlan, wwan, (ctl,) = on_cellular(
        fx, wifi_snap(approval='60s', on_timeout='allow'))
    w.carrier_up('wlan0')
    offered(ctl, pid, wlan)
    ctl.close()
    # Far below approval-timeout: nobody is left to ask.
    migrated_to_wifi(obs, reg, pid, wlan, wwan)


def test_two_controllers_one_disallows(fx):
    w, reg, obs, pid, wlan, wwan, (a, b) = on_cellular(fx, wifi_snap(), 2)
    w.carrier_up('wlan0')
    offered(a, pid, wlan)
    offered(b, pid, wlan)
    a.call('alr.allow', {'profile': pid, 'iap': wlan})
    b.call('alr.disallow', {'profile': pid, 'iap': wlan})
    alr_error(a, pid, 'access-denied')
    alr_error(b, pid, 'access-denied')
    still_on_cellular(reg)
    # The observer saw no migration.
    check(not any(e['method'].startswith('alr.migration') for e in obs.events),
          'a migration was announced: %s', obs.events)


def test_break_before_make_order_at_the_registrar(fx):
    snap = wifi_snap(approval='1s').replace(
        '[snap]\n', '[snap]\nmigration = break-before-make\n', 1)
    w, reg, obs, pid, wlan, wwan, ctls = on_cellular(fx, snap, 0)
    w.carrier_up('wlan0')
    migrated_to_wifi(obs, reg, pid, wlan, wwan)
    # The registrar's log: the cellular contact removed (expires=0 from
    # wwan0) before the first REGISTER from wlan0.
    regs = reg.registers()
    removal = [i for i, r in enumerate(regs)
               if r.get('src') == WWAN and str(r.get('expires')) == '0']
    make = [i for i, r in enumerate(regs) if r.get('src') == WLAN]
    check(removal and make, 'no removal from %s or no REGISTER from %s: %s',
          WWAN, WLAN, regs)
    check(removal[0] < make[0], 'break after make: removal #%d, first REGISTER '
          'over wifi #%d: %s', removal[0], make[0], regs)
    # Clients saw the gap (DESIGN §4): deregistered (migration) after the
    # start, then registered over wifi.
    names = [(e['method'], e['params'].get('reason') or e['params'].get('iap_id'))
             for e in obs.history if e['method'] in (
                 'alr.migration-started', 'profile.deregistered', 'profile.registered')
             and (e['params'].get('profile') == pid or e['params'].get('id') == pid)]
    start = names.index(('alr.migration-started', None))
    check_eq(names[start + 1:start + 3],
             [('profile.deregistered', 'migration'), ('profile.registered', wlan)],
             'profile events of the break-before-make move')
    check_eq(obs.call('profile.get', {'id': pid})['profile']['state']['registration'],
             'registered', 'registration state at the end')


def test_no_iap_left_the_binding_idles_then_registers(fx):
    w, reg = sip_world(fx)
    d = roaming_daemon(fx, w, {'10-mobile.conf': WIFI_FIRST})
    c = fx.client(d)
    c.subscribe(['profile.*', 'alr.*', 'iap.*'])
    wlan = iap_id(c, 'wlan0')
    pid = c.call('profile.create', {'profile': profile('alice', snap_id=5,
                                                       auto_register=True)})['profile']['id']
    registered(c, pid)
    wait_bindings(reg, 'alice', 1, host=WLAN)
    w.carrier_down('wwan0')
    alrtest.wait_iap_event(c, 'iap.down', 'wwan0')
    w.carrier_down('wlan0')
    deregistered(c, pid, 'network-lost')
    alr_event(c, 'alr.no-iap', pid)
    # No retries over a network that is gone: the binding idles, and that
    # is no error of the profile.
    alrtest.wait_until(lambda: 'no IAP left; the binding idles' in d.log_since_start(),
                       T(10), 'the binding abandoned')
    st = c.call('profile.get', {'id': pid})['profile']['state']
    check_eq((st['registration'], st['error']), ('registering', None),
             'registration state and error while waiting')
    # The registrar still holds the wifi contact (nothing could remove it).
    still = reg.bindings('alice')
    check_eq([host_of(x['contact']) for x in still], [WLAN], 'bindings while waiting')
    w.carrier_up('wlan0')
    ev = registered(c, pid)
    check_eq(ev['params']['iap_id'], wlan, 'registered again over wifi')
    wait_bindings(reg, 'alice', 1, host=WLAN)
    st = c.call('profile.get', {'id': pid})['profile']['state']
    check_eq(st['error'], None, 'no error after coming back')


# ---- a flapping wifi: max-migrations, failovers never held back ---------

FLAP_WINDOW_S = 14


def flap_snap():
    # stable-time short enough that wifi's 50 ms up phases are offered;
    # no controller: every target migrates at once.
    return ('[snap]\nid = 5\nname = mobile\nstable-time = 20ms\n'
            'max-migrations = 2/%ds\n\n'
            '[rule]\npriority = 10\nkind = wifi\n\n'
            '[rule]\npriority = 20\nkind = cellular\n' % FLAP_WINDOW_S)


def test_flapping_wifi_bounded_migrations_failover_always(fx):
    w, reg = sip_world(fx)
    d = roaming_daemon(fx, w, {'10-mobile.conf': flap_snap()})
    obs = fx.client(d)
    obs.subscribe(['profile.*', 'alr.*'])
    wlan, wwan = iap_id(obs, 'wlan0'), iap_id(obs, 'wwan0')
    pid = obs.call('profile.create', {'profile': profile(
        'alice', snap_id=5, auto_register=True)})['profile']['id']
    ev = registered(obs, pid)
    check_eq(ev['params']['iap_id'], wlan, 'registered over wifi first')
    wait_bindings(reg, 'alice', 1, host=WLAN)
    obs.clear_events()

    # Flap wlan0 every 100 ms for 10 s: 50 ms without its default route
    # (alrd: unavailable, no-default-route), 50 ms with it.  Not the
    # carrier: the kernel's linkwatch holds back a carrier change that
    # follows another within about a second, so carrier flips this fast
    # would not reach alrd as flips.  Route removal reaches alrd at once.
    t0 = time.monotonic()
    flaps = 0
    while time.monotonic() - t0 < 10:
        w.del_route('wlan0')
        time.sleep(0.05)
        w.add_route('wlan0')
        time.sleep(0.05)
        flaps += 1
    flapped = time.monotonic() - t0
    check(flapped < FLAP_WINDOW_S - 1, 'flapping took %.1fs', flapped)

    # Everything alrd announced while flapping, up to a barrier: a
    # request's response comes after every event sent before it.
    time.sleep(0.2)
    obs.call('daemon.info')
    evs = list(obs.events)
    obs.events[:] = []
    started = [e for e in evs if e['method'] == 'alr.migration-started']
    check(len(started) <= 2, '%d migrations started within max-migrations '
          '2/%ds while flapping (%d flaps): %s', len(started), FLAP_WINDOW_S,
          flaps, started)
    check(not any(e['method'] == 'alr.no-iap' for e in evs),
          'alr.no-iap while cellular was available: %s',
          [e for e in evs if e['method'] == 'alr.no-iap'])
    # Losses of the current IAP were not held back: every deregistration
    # was followed by a registration (failover over cellular).
    dereg = sum(1 for e in evs if e['method'] == 'profile.deregistered')
    reg_ = sum(1 for e in evs if e['method'] == 'profile.registered')
    check(dereg >= 1, 'no loss of the current IAP while flapping: %s', evs)
    check(reg_ >= dereg, '%d deregistrations, %d registrations', dereg, reg_)

    # The end: wifi is up for good and the best IAP.  Once the oldest
    # migration leaves the window the profile moves there (or it is
    # there already): one binding, over wifi.
    wait_bindings(reg, 'alice', 1, timeout=T(FLAP_WINDOW_S + 15), host=WLAN)
    state = state_once(obs, pid, lambda s: (s['registration'], s['iap_id']) ==
                       ('registered', wlan))
    check_eq((state['registration'], state['iap_id']), ('registered', wlan),
             'alrd: registered over wifi at the end')
    wait_bindings(reg, 'alice', 1, host=WLAN)



WLAN_SUBNET = '10.99.1.0/24'


def no_event(c, pred, seconds, what):
    """Fail if an event matching pred arrives (or is kept unread) within
    @seconds.  A bounded wait for an absence: there is no event that says
    "the engine decided not to offer", so the window is a multiple of the
    SNAP's stable-time (the only delay before an offer) and is scaled
    like every other timeout (T())."""
    seen = [e for e in c.events if pred(e)]
    check(not seen, '%s: %s', what, seen)
    try:
        ev = c.wait_event(pred, seconds, what)
    except alrtest.TestFailure:
        return
    raise alrtest.TestFailure('%s: %s' % (what, ev))


def test_registrar_refuses_wifi_migration_fails_not_offered_again(fx):
    # Kamailio answers 403 to every REGISTER from wlan0's subnet;
    # registered over cellular while wifi has no carrier.
    w, reg, obs, pid, wlan, wwan, (ctl,) = on_cellular(
        fx, wifi_snap(), deny_subnets=[WLAN_SUBNET])

    # Wifi comes and is better: offered, allowed, the move is refused.
    w.carrier_up('wlan0')
    offered(ctl, pid, wlan)
    ctl.call('alr.allow', {'profile': pid, 'iap': wlan})
    ev = alr_event(obs, 'alr.migration-started', pid)
    check_eq((ev['params']['from'], ev['params']['to']), (wwan, wlan),
             'migration-started from -> to')
    ev = alr_error(obs, pid, 'migration-failed', T(20))
    check_eq((ev['params']['code'], ev['params']['iap']), (2, wlan),
             'code and IAP of migration-failed (%s)' % ev['params'])
    alr_error(ctl, pid, 'migration-failed')
    # The registrar logs a reply just after it leaves: alrd may have
    # acted on the 403 before the line is written.
    try:
        reg.wait_until(lambda: any(r.get('src') == WLAN and 403 in r['replies']
                                   for r in reg.registers()), T(5))
    except TimeoutError:
        check(False, 'the registrar did not refuse a REGISTER from %s: %s', WLAN,
              reg.registers())
    # Still registered over cellular at the registrar, and no migration
    # completed.
    wait_bindings(reg, 'alice', 1, host=WWAN)
    check(not any(e['method'] == 'alr.migration-completed' for e in obs.events),
          'a migration completed: %s', obs.events)

    # Not offered again while nothing changes.  Measured from the
    # migration-failed event: 10x stable-time (200 ms), a bounded wait for
    # an absence (no event marks "not offered").
    def offer(e):
        return e['method'] == 'alr.iap-available' and e['params']['profile'] == pid
    no_event(ctl, offer, T(2), 'wifi offered again without a change')
    check(not any(offer(e) for e in obs.events), 'observer got an offer')
    still_on_cellular(reg)
    ctl.expect_error(-32602, 'alr.allow', {'profile': pid, 'iap': wlan})

    # Its availability changes (a carrier flap): offered again.
    w.carrier_down('wlan0')
    alrtest.wait_iap_event(obs, 'iap.down', 'wlan0')
    w.carrier_up('wlan0')
    alrtest.wait_iap_event(obs, 'iap.up', 'wlan0')
    offered(ctl, pid, wlan)
    still_on_cellular(reg)
    ctl.call('alr.disallow', {'profile': pid, 'iap': wlan})
    alr_error(ctl, pid, 'access-denied')
    still_on_cellular(reg)



def test_registrar_503_is_not_the_networks_failure(fx):
    """The registrar answers 503 + Retry-After (issue 15): the same server
    answers the same over every network, so the profile stays on Wi-Fi,
    its REGISTERs keep to Retry-After, no alr.error names the IAP, nothing
    goes over cellular; once the registrar heals it registers over Wi-Fi.
    Before, the first 503 marked Wi-Fi failed and the profile registered
    over cellular in the same millisecond, and stayed there."""
    w, reg = sip_world(fx, timestamps=True)
    d = roaming_daemon(fx, w, {'10-mobile.conf': WIFI_FIRST})
    c = fx.client(d)
    c.subscribe(['profile.*', 'alr.*'])
    reg.set_register_failure(503, retry_after=2)
    pid = c.call('profile.create', {'profile': profile(
        'alice', snap_id=5, auto_register=True)})['profile']['id']

    def refused():
        got = [r for r in reg.registers() if 503 in r['replies']]
        return got if len(got) >= 3 else None
    try:
        regs = reg.wait_until(refused, T(30))
    except TimeoutError:
        check(False, 'three REGISTERs answered 503: %s', reg.registers())
    check_eq({r.get('src') for r in reg.registers()}, {WLAN},
             'where the REGISTERs came from')
    times = [float(r['t']) for r in regs]
    gaps = [b - a for a, b in zip(times, times[1:])]
    check(all(g >= 1.9 for g in gaps), 'REGISTERs closer than Retry-After '
          '(2 s): %s', gaps)
    check(not any(e['method'] == 'alr.error' for e in c.events),
          'alr.error for a server error: %s',
          [e for e in c.events if e['method'] == 'alr.error'])
    st = c.call('profile.get', {'id': pid})['profile']['state']
    check_eq((st['registration'], st['iap_id'], st['error']['kind']),
             ('registering', iap_id(c, 'wlan0'), 'server'),
             "alrd's state while the registrar refuses")

    # The registrar heals: registered over Wi-Fi, never over cellular.
    reg.set_register_failure(0)
    ev = registered(c, pid, T(30))
    check_eq(ev['params']['iap_id'], iap_id(c, 'wlan0'), 'registered over')
    wait_bindings(reg, 'alice', 1, host=WLAN)
    check(not any(r.get('src') == WWAN for r in reg.registers()),
          'a REGISTER went over cellular: %s', reg.registers())
    check(not any(e['method'] == 'alr.error' for e in c.events),
          'alr.error: %s', [e for e in c.events if e['method'] == 'alr.error'])


# ---- ICMP errors and the marks they leave (issue 15 #1) -------------------

def forge_icmp(w, *cases):
    """Forge ICMP errors about alrd's next REGISTER over wlan0, from the
    far end of wlan0 (peers/icmpforge.py); returns what it printed."""
    argv = ['ip', 'netns', 'exec', w.net, '/usr/bin/python3',
            os.path.join(HERE, 'peers', 'icmpforge.py'), 'wlan0p', WLAN, REG_ADDR,
            '5060'] + list(cases)
    return json.loads(alrtest.run(argv, timeout=T(40)).stdout)


def sip_stats(c):
    return c.call('daemon.info')['sip']


def test_closed_registrar_port_is_not_the_networks_failure(fx):
    """Nothing listens at the registrar's port (Kamailio stopped): its host
    answers ICMP port unreachable, which alrd reads: the error reaches the
    profile after the first datagram, before any retransmission (was: 32 s
    of silence), as the server's error: the profile stays on Wi-Fi and
    retries there with backoff, nothing goes over cellular, no alr.error
    names Wi-Fi (was: registered over cellular as if Wi-Fi had failed).
    Kamailio back: registered over Wi-Fi."""
    w, reg = sip_world(fx)
    d = roaming_daemon(fx, w, {'10-mobile.conf': WIFI_FIRST})
    c = fx.client(d)
    c.subscribe(['profile.*', 'alr.*'])
    wlan = iap_id(c, 'wlan0')
    # The network's own count of what arrives at the registrar's port.
    nft(w, 'table inet alrt {\n chain input {\n'
           '  type filter hook input priority 0; policy accept;\n'
           '  ip saddr %s udp dport 5060 counter\n }\n'
           ' chain cell {\n  type filter hook input priority 1; policy accept;\n'
           '  ip saddr %s udp dport 5060 counter\n }\n}\n' % (WLAN, WWAN))
    reg.stop()
    lost0 = snmp(w, 'Udp', 'NoPorts')
    pid = c.call('profile.create', {'profile': profile(
        'alice', snap_id=5, auto_register=True)})['profile']['id']

    # Measured against Timer E rather than the clock: when the error
    # comes, nothing was sent twice (the first retransmission is due
    # 500 ms after the REGISTER, the last 32 s after).  A retry after the
    # backoff is a new request, not a retransmission.
    ev = c.wait_event(lambda e: e['method'] == 'profile.error' and
                      e['params']['id'] == pid, T(45), 'profile.error')
    n1 = snmp(w, 'Udp', 'NoPorts') - lost0
    st = sip_stats(c)
    n2 = snmp(w, 'Udp', 'NoPorts') - lost0
    check_eq(st['retransmissions'], 0, 'retransmissions when the error came')
    check_eq(ev['params']['kind'], 'server', 'error kind (%s)' % ev['params'])
    check('refused' in ev['params']['message'], 'message: %s', ev['params'])
    # Each request alrd sent was refused by the registrar's host.
    check(1 <= n1 <= st['requests'] <= n2, 'datagrams refused at the registrar '
          'host (%d, then %d) for %d requests', n1, n2, st['requests'])

    # It retries over Wi-Fi with backoff (1-2 s, then 2-4 s): three
    # REGISTERs refused there, none ever over cellular, no alr.error.
    alrtest.wait_until(lambda: nft_counter(w, 'alrt', 'input') >= 3, T(20),
                       'three REGISTERs from %s' % WLAN)
    check_eq(nft_counter(w, 'alrt', 'cell'), 0, 'datagrams from %s' % WWAN)
    check_eq(sip_stats(c)['retransmissions'], 0, 'retransmissions')
    check(not any(e['method'] == 'alr.error' for e in c.events),
          'alr.error for a closed port: %s',
          [e for e in c.events if e['method'] == 'alr.error'])
    state = c.call('profile.get', {'id': pid})['profile']['state']
    check_eq((state['registration'], state['iap_id'], state['error']['kind']),
             ('registering', wlan, 'server'), "alrd's state while the port is closed")

    # Kamailio listens again: registered over Wi-Fi at the next retry.
    reg.start()
    ev = registered(c, pid, T(30))
    check_eq(ev['params']['iap_id'], wlan, 'registered over')
    wait_bindings(reg, 'alice', 1, host=WLAN)
    check_eq(nft_counter(w, 'alrt', 'cell'), 0, 'datagrams from %s' % WWAN)
    check(not any(e['method'] == 'alr.error' for e in c.events),
          'alr.error: %s', [e for e in c.events if e['method'] == 'alr.error'])


def test_failed_wifi_taken_back_once_the_registrar_answers(fx):
    """Wi-Fi's way to the registrar is broken (the far end answers every
    datagram from it with ICMP host unreachable): its first REGISTER fails
    at once, Wi-Fi is marked, the profile registers over cellular.  The
    engine probes Wi-Fi (a query) with backoff; once the way is healed the
    registrar answers the probe and the profile goes back to Wi-Fi: the
    registrar holds exactly one binding, from wlan0's address.  Before, the
    mark stayed until Wi-Fi's availability changed: cellular for good."""
    w, reg = sip_world(fx)
    d = roaming_daemon(fx, w, {'10-mobile.conf': WIFI_FIRST})
    c = fx.client(d)
    c.subscribe(['profile.*', 'alr.*'])
    wlan, wwan = iap_id(c, 'wlan0'), iap_id(c, 'wwan0')
    nft(w, 'table inet alrt {\n chain input {\n'
           '  type filter hook input priority 0; policy accept;\n'
           '  iifname "wlan0p" udp dport 5060 counter reject with icmp type host-unreachable\n'
           ' }\n}\n')
    pid = c.call('profile.create', {'profile': profile(
        'alice', snap_id=5, auto_register=True)})['profile']['id']
    ev = alr_error(c, pid, 'registration-failed', T(10))
    check_eq(ev['params']['iap'], wlan, 'the IAP that failed')
    check('No route to host' in ev['params']['message'],
          'not failed by the ICMP error: %s', ev['params'])
    ev = registered(c, pid)
    check_eq(ev['params']['iap_id'], wwan, 'registered over cellular')
    wait_bindings(reg, 'alice', 1, host=WWAN)

    # Probed while broken: the far end refuses more than the one REGISTER.
    alrtest.wait_until(lambda: nft_counter(w, 'alrt', 'input') >= 2, T(20),
                       'a probe over wlan0')
    check(not any(e['method'] == 'alr.migration-started' for e in c.events),
          'a migration while Wi-Fi is broken: %s', c.events)
    still_on_cellular(reg)

    # Healed: the next probe is answered, the profile moves back.
    alrtest.run(['ip', 'netns', 'exec', w.net, 'nft', 'delete', 'table', 'inet', 'alrt'])
    migrated_to_wifi(c, reg, pid, wlan, wwan)
    b = wait_bindings(reg, 'alice', 1, host=WLAN)
    check_eq([host_of(x['contact']) for x in b], [WLAN], "the registrar's bindings")
    state = state_once(c, pid, lambda s: (s['registration'], s['iap_id']) ==
                       ('registered', wlan))
    check_eq((state['registration'], state['iap_id']), ('registered', wlan),
             'alrd: registered over Wi-Fi')
    # The probe that found it was a query from Wi-Fi's address.
    check(any(r.get('src') == WLAN and not r.get('contact') for r in reg.registers()),
          'no query from %s at the registrar: %s', WLAN, reg.registers())


test_failed_wifi_taken_back_once_the_registrar_answers.timeout = 150


def test_icmp_not_about_our_request_is_ignored(fx):
    """ICMP errors forged at the far end of wlan0 about alrd's REGISTER
    (crafted with a raw socket in the network namespace, quoting the real
    datagram): port unreachable from an address that is not the
    registrar's, host unreachable about another destination, host
    unreachable quoting another branch: alrd reads each (its log says so)
    and ignores it: no error, no mark, the REGISTER goes on.  Then one
    that does match (host unreachable quoting the request): Wi-Fi fails at
    once and the profile registers over cellular, which shows the ones
    before reached alrd as well and were ignored for what they said."""
    w, reg = sip_world(fx)
    d = roaming_daemon(fx, w, {'10-mobile.conf': WIFI_FIRST})
    c = fx.client(d)
    c.subscribe(['profile.*', 'alr.*'])
    wlan, wwan = iap_id(c, 'wlan0'), iap_id(c, 'wwan0')
    # REGISTERs over Wi-Fi vanish (no ICMP): the transaction stays open,
    # retransmitting, while the forged errors arrive.
    nft(w, 'table inet alrt {\n chain input {\n'
           '  type filter hook input priority 0; policy accept;\n'
           '  iifname "wlan0p" udp dport 5060 counter drop\n }\n}\n')
    pid = c.call('profile.create', {'profile': profile(
        'alice', snap_id=5, auto_register=True)})['profile']['id']
    sent = forge_icmp(w, 'port-from-router', 'host-other-dest', 'host-wrong-branch')
    gw = w.links['wlan0']['gw']
    lines = ['ICMP type 3 code 3 from %s about %s port 5060 ignored: says port '
             'unreachable but does not come from the destination' % (gw, REG_ADDR),
             'ICMP type 3 code 1 from %s about 10.99.100.9 port 5060 ignored: is about '
             'another destination' % gw,
             'ICMP type 3 code 1 from %s about %s port 5060 ignored: does not quote the '
             "request's branch" % (gw, REG_ADDR)]
    alrtest.wait_until(lambda: all(l in d.log_since_start() for l in lines), T(10),
                       'alrd read and ignored the three forged errors')
    # A barrier (a response follows every event sent before it): nothing
    # happened to the profile.
    state = c.call('profile.get', {'id': pid})['profile']['state']
    check_eq((state['registration'], state['iap_id'], state['error']),
             ('registering', wlan, None), "alrd's state after the forged errors")
    check(not any(e['method'] in ('alr.error', 'profile.error') for e in c.events),
          'an error after ignored ICMP: %s', c.events)

    # The control: an error that matches the request (from a router on the
    # path, quoting it): Wi-Fi cannot reach the registrar.
    again = forge_icmp(w, 'host-match')
    check_eq((again['sport'], again['branch']), (sent['sport'], sent['branch']),
             'the same request')
    ev = alr_error(c, pid, 'registration-failed', T(10))
    check_eq(ev['params']['iap'], wlan, 'the IAP that failed')
    check('No route to host' in ev['params']['message'],
          'not failed by the forged error: %s', ev['params'])
    ev = registered(c, pid)
    check_eq(ev['params']['iap_id'], wwan, 'registered over cellular')
    wait_bindings(reg, 'alice', 1, host=WWAN)


if __name__ == '__main__':
    alrtest.main()
