#!/usr/bin/python3
"""A hostile local user gets nothing: paths given to store.backup and
store.restore are used with the caller's own rights (docs/security.md).

The caller is uid nobody, a member (by its primary group nogroup) of
the daemon's control-groups, so it may back up and restore; what it must
not get is anything it could not do itself: a file in a directory it
cannot write, a root-owned file given to it, or a file it cannot read
restored.  Each test checks the files themselves (owner, mode, content),
not only alrd's answers.  The restore tests use a real Kamailio registrar
(test_profiles' world) to hold a restore open while the caller swaps the
file.

Needs root; exits 77 (skipped) without it.

Usage: test_security.py [-b BUILD_DIR] [NAME_SUBSTRING ...]
"""

import ctypes
import json
import os
import signal
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, 'peers'))

import alrtest  # noqa: E402
from alrtest import NOBODY, T, TestFailure, check, check_eq  # noqa: E402
import test_profiles as tp  # noqa: E402

PERM = -32001
INVALID = -32602
CONTROL = {'control': {'control-groups': 'nogroup'}}
SECRET = 'Sw0rdfish-Secret-3c9d'


def setup(fx):
    w = fx.world()
    d = tp.daemon(fx, w, **CONTROL)
    return w, d, fx.client(d)


def owned_dir(path, uid, mode):
    os.mkdir(path)
    os.chown(path, uid, uid if uid else 0)
    os.chmod(path, mode)
    return path


def new_profile(c, user='alice', **kw):
    p = {'aor': 'sip:%s@example.test' % user,
         'registrar': {'uri': 'sip:10.99.100.1', 'password': SECRET}}
    p.update(kw)
    return c.call('profile.create', {'profile': p})['profile']['id']


def contains(path, needle):
    with open(path, 'rb') as f:
        return needle.encode() in f.read()


def test_backup_is_the_callers_file(fx):
    w, d, root = setup(fx)
    new_profile(root)
    u = owned_dir(os.path.join(d.tmp, 'u'), NOBODY, 0o700)
    rootdir = owned_dir(os.path.join(d.tmp, 'rootdir'), 0, 0o755)
    c = fx.client_as(d, NOBODY, NOBODY)

    # In the caller's directory: created by the caller, 0600, and without
    # the passwords unless asked for them.
    mine = os.path.join(u, 'b.db')
    check_eq(c.call('store.backup', {'path': mine}), {'path': mine, 'secrets': False},
             'backup result')
    st = os.lstat(mine)
    check_eq((st.st_uid, st.st_gid, st.st_mode & 0o7777), (NOBODY, NOBODY, 0o600),
             'owner, group and mode of the backup')
    check(not contains(mine, SECRET), 'the password is in a backup without secrets')
    with_secrets = os.path.join(u, 'with.db')
    c.call('store.backup', {'path': with_secrets, 'secrets': True})
    check(contains(with_secrets, SECRET), 'no password in a backup with secrets')
    check_eq(sorted(os.listdir(u)), ['b.db', 'with.db'], 'files in the directory')

    # Where the caller cannot write: refused by the kernel, as the caller,
    # also through a symlink of the caller's own, and nothing created.
    link = os.path.join(u, 'link')
    os.symlink(rootdir, link)
    os.lchown(link, NOBODY, NOBODY)
    for path in (os.path.join(rootdir, 'x.db'), os.path.join(link, 'x.db'),
                 '/etc/alrd-test-x.db'):
        e = c.expect_error(PERM, 'store.backup', {'path': path})
        check('Permission denied' in e['message'], 'message: %s' % e['message'])
    check_eq(os.listdir(rootdir), [], 'files in root\'s directory')
    check(not os.path.exists('/etc/alrd-test-x.db'), 'a file in /etc')
    # An existing file is not overwritten, nor a dangling symlink followed.
    e = c.expect_error(INVALID, 'store.backup', {'path': mine})
    check('exists' in e['message'], 'message: %s' % e['message'])
    os.symlink(os.path.join(rootdir, 'dangling.db'), os.path.join(u, 'dl.db'))
    c.expect_error(INVALID, 'store.backup', {'path': os.path.join(u, 'dl.db')})
    check_eq(os.listdir(rootdir), [], 'files in root\'s directory')
    # Root's own backup is root's.
    rb = os.path.join(rootdir, 'root.db')
    root.call('store.backup', {'path': rb})
    check_eq(os.lstat(rb).st_uid, 0, 'owner of root\'s backup')


_libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
RENAME_EXCHANGE = 2


def swapper(a, b, seconds):
    """A child process, as nobody, that exchanges A and B (its own
    directory and its own symlink to root's directory) as fast as it can
    for at most SECONDS; returns its pid."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            end = time.monotonic() + seconds
            ba, bb = a.encode(), b.encode()
            while time.monotonic() < end:
                _libc.renameat2(AT_FDCWD, ba, AT_FDCWD, bb, RENAME_EXCHANGE)
        finally:
            os._exit(0)
    return pid


def test_backup_race_with_a_swapped_directory(fx):
    """The attack of issue 11: a control-group member swaps its directory
    with a symlink to root's while asking for backups into it.  Before
    the fix it won within 41-1,200 attempts (a root-owned file chowned to
    it, files of its own in root's directory)."""
    w, d, root = setup(fx)
    new_profile(root)
    attack = owned_dir(os.path.join(d.tmp, 'attack'), NOBODY, 0o755)
    u = owned_dir(os.path.join(attack, 'u'), NOBODY, 0o755)
    rootdir = owned_dir(os.path.join(d.tmp, 'rootdir'), 0, 0o755)
    link = os.path.join(attack, 'l')
    os.symlink(rootdir, link)
    os.lchown(link, NOBODY, NOBODY)
    n = 1500
    for i in range(n):
        p = os.path.join(rootdir, 'decoy%d' % i)
        with open(p, 'w') as f:
            f.write('root only %d\n' % i)
        os.chmod(p, 0o600)
    c = fx.client_as(d, NOBODY, NOBODY)
    pid = swapper(u, link, T(120))
    outcomes = {}
    try:
        for i in range(n):
            r = c.request('store.backup', {'path': os.path.join(u, 'decoy%d' % i)})
            key = 'ok' if 'result' in r else r['error']['code']
            outcomes[key] = outcomes.get(key, 0) + 1
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    print('  %d attempts: %r' % (n, outcomes), flush=True)
    # Root's directory: the decoys only, still root's, unchanged.
    extra = set(os.listdir(rootdir)) - set('decoy%d' % i for i in range(n))
    check(not extra, 'files that appeared in root\'s directory: %s' % sorted(extra)[:10])
    for i in range(n):
        p = os.path.join(rootdir, 'decoy%d' % i)
        st = os.lstat(p)
        check_eq((st.st_uid, st.st_mode & 0o7777), (0, 0o600), 'owner and mode of ' + p)
        with open(p) as f:
            check_eq(f.read(), 'root only %d\n' % i, 'content of ' + p)
    # What did land is in the caller's directory and the caller's.
    real = u if os.path.isdir(u) and not os.path.islink(u) else link
    for name in os.listdir(real):
        st = os.lstat(os.path.join(real, name))
        check_eq(st.st_uid, NOBODY, 'owner of %s in the caller\'s directory' % name)
    check(outcomes.get('ok', 0) > 0, 'no backup succeeded at all: %r' % outcomes)


def test_restore_errors_reveal_nothing(fx):
    """A path the caller cannot reach gets the same answer whether or not
    the file is there (before, 'not your file' against 'No such file')."""
    w, d, root = setup(fx)
    new_profile(root)
    rootdir = owned_dir(os.path.join(d.tmp, 'rootdir'), 0, 0o700)
    secret = os.path.join(rootdir, 'secret.db')
    root.call('store.backup', {'path': secret, 'secrets': True})
    c = fx.client_as(d, NOBODY, NOBODY)
    e1 = c.expect_error(PERM, 'store.restore', {'path': secret})
    e2 = c.expect_error(PERM, 'store.restore',
                        {'path': os.path.join(rootdir, 'none.db')})
    check_eq(e1['message'].replace('secret.db', 'X'),
             e2['message'].replace('none.db', 'X'), 'the two refusals')
    # A FIFO of the caller's is refused at once, not waited on.
    u = owned_dir(os.path.join(d.tmp, 'u'), NOBODY, 0o700)
    fifo = os.path.join(u, 'fifo')
    os.mkfifo(fifo)
    os.chown(fifo, NOBODY, NOBODY)
    e = c.expect_error(INVALID, 'store.restore', {'path': fifo})
    check('not a regular file' in e['message'], 'message: %s' % e['message'])
    check_eq(len(root.call('profile.list')['profiles']), 1, 'profiles after refusals')


def test_restore_reads_the_file_the_caller_named(fx):
    """The caller names its own backup, and once alrd has accepted the
    restore (it deregisters first, held here by a stopped registrar)
    swaps it for a symlink to root's backup in a 0700 directory.  Before
    the fix the file was opened again by name after the deregistration,
    and root's backup, with its passwords, was restored."""
    w, reg = tp.sip_world(fx)
    d = tp.daemon(fx, w, **CONTROL)
    root = fx.client(d)
    root.subscribe(['profile.*'])
    pid = root.call('profile.create', {'profile': tp.profile(
        'alice', auto_register=True)})['profile']['id']
    tp.registered(root, pid)
    # Root's backup holds a second profile, bob, deleted afterwards.
    bob = root.call('profile.create', {'profile': tp.profile('bob')})['profile']['id']
    rootdir = owned_dir(os.path.join(d.tmp, 'rootdir'), 0, 0o700)
    secret = os.path.join(rootdir, 'secret.db')
    root.call('store.backup', {'path': secret, 'secrets': True})
    root.call('profile.delete', {'id': bob})
    u = owned_dir(os.path.join(d.tmp, 'u'), NOBODY, 0o755)
    mine = os.path.join(u, 'mine.db')
    c = fx.client_as(d, NOBODY, NOBODY)
    c.call('store.backup', {'path': mine})       # no passwords in it
    os.killpg(reg.proc.pid, signal.SIGSTOP)
    try:
        c.send({'jsonrpc': '2.0', 'id': 7, 'method': 'store.restore',
                'params': {'path': mine}})
        # Accepted: the restore waits for the deregistration, which waits
        # for the stopped registrar.
        alrtest.wait_until(lambda: root.call('profile.get', {'id': pid})[
            'profile']['state']['registration'] == 'unregistering', T(5),
            'the restore deregistering')
        os.unlink(mine)
        os.symlink(secret, mine)
    finally:
        os.killpg(reg.proc.pid, signal.SIGCONT)
    resp = c.read_response(T(30))
    check_eq(resp.get('id'), 7, 'restore response id')
    check('result' in resp, 'restore: %r' % resp)
    check_eq([p['id'] for p in root.call('profile.list')['profiles']], [pid],
             'the profiles restored (bob: root\'s backup was read)')
    got = root.call('profile.get', {'id': pid})['profile']
    check_eq(got['registrar']['password_set'], False,
             'password_set after restoring the caller\'s backup')


def store_bytes(d):
    """Every byte of alrd's store as it is on disk (database, WAL)."""
    out = b''
    for name in ('alrd.db', 'alrd.db-wal', 'alrd.db-journal'):
        p = os.path.join(d.state_dir, name)
        if os.path.exists(p):
            with open(p, 'rb') as f:
                out += f.read()
    return out


def test_password_kept_as_ha1_where_the_realm_is_known(fx):
    """With the realm configured, alrd stores HA1 = H(user:realm:password)
    instead of the password, and registers with it at a real Kamailio
    (which checks the digest), also after a restart; a profile of an
    older alrd with a clear password is converted at start."""
    w, reg = tp.sip_world(fx)
    d = tp.daemon(fx, w)
    c = fx.client(d)
    c.subscribe(['profile.*'])
    alice = tp.USERS['alice']
    bob = tp.USERS['bob']
    a = c.call('profile.create', {'profile': tp.profile(
        'alice', auto_register=True,
        registrar={'uri': tp.REGISTRAR, 'realm': tp.DOMAIN,
                   'password': alice})})['profile']['id']
    b = c.call('profile.create', {'profile': tp.profile(
        'bob', auto_register=True)})['profile']['id']
    tp.registered(c, a)
    tp.registered(c, b)
    tp.wait_bindings(reg, 'alice', 1)
    check_eq(c.call('profile.get', {'id': a})['profile']['registrar']['password_set'],
             True, 'password_set of a sealed password')
    # Changing the realm without the password cannot work: refused.
    e = c.expect_error(INVALID, 'profile.update',
                       {'id': a, 'profile': {'registrar': {'realm': 'other.test'}}})
    check('give the password again' in e['message'], 'message: %s' % e['message'])
    # An older alrd's store: bob's password in clear, with a realm.
    d.stop()
    tp.wait_bindings(reg, 'alice', 0)       # removed on the way out
    tp.wait_bindings(reg, 'bob', 0)
    data = store_bytes(d)
    check(alice.encode() not in data, 'alice\'s password is in the store')
    check(bob.encode() in data, 'bob\'s password (no realm) is not in the store')
    alrtest.run(['sqlite3', os.path.join(d.state_dir, 'alrd.db'),
                 "UPDATE profile_server SET realm = '%s' WHERE profile_id = %d "
                 "AND role = 'registrar'" % (tp.DOMAIN, b)])
    d.start()
    # The registrar's own view: it took the restarted alrd's digest
    # answers, made from HA1 alone.
    tp.wait_bindings(reg, 'alice', 1)
    tp.wait_bindings(reg, 'bob', 1)
    d.stop()
    data = store_bytes(d)
    check(alice.encode() not in data and bob.encode() not in data,
          'a password is still in the store after the conversion')


if __name__ == '__main__':
    alrtest.main()
