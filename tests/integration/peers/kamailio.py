"""A real Kamailio 5.6 registrar in a network namespace, for alrd's
integration tests.  Standard library only; needs root (ip netns exec).

    reg = Registrar('ns-core', ['10.0.0.1'], '/tmp/work',
                    users={'alice': 'secret'}, min_expires=60)
    reg.start()
    try:
        ... make alrd register ...
        reg.wait_until(lambda: reg.bindings('alice'), timeout=5)
    finally:
        reg.stop()

Facts verified against Kamailio 5.6.3 (Debian 12) while writing this:

- Database: only /usr/share/kamailio/db_sqlite/standard-create.sql (the
  `version` table) and auth_db-create.sql (`subscriber`, version 7) are
  needed; usrloc-create.sql (`location` 9, `location_attrs` 1, `aliases` 8)
  is loaded too so that usrloc can be switched to a DB mode.  The version
  rows matter only where a module checks them at start-up: usrloc with
  db_mode != 0 refuses to start ("invalid version 0 for table location
  found, expected 9") without the row; auth_db does NOT check `subscriber`'s
  version when the table is named in auth_check() (a missing or wrong row
  still authenticates).  We use usrloc db_mode 0, so bindings live in
  memory and `kamcmd ul.*` is the ground truth.
- Passwords: auth_db calculate_ha1=1 with the plain `password` column, so
  one row serves MD5 and SHA-256 (modparam auth algorithm).  ha1/ha1b are
  filled as kamctl does: ha1 = MD5(user:realm:pw), ha1b =
  MD5(user@domain:realm:pw) (ha1b hashes the username WITH the domain).
- min_expires: the registrar module's min_expires defaults to 60 with
  min_expires_mode 0, which SILENTLY RAISES a shorter expiry to the minimum
  (expires=30 -> 200 OK with expires=60).  With min_expires_mode 1 it
  answers "423 Interval Too Brief" with "Min-Expires: N" (plus
  "P-Registrar-Error: Interval too brief" and the AOR's current bindings in
  Contact), for an Expires header and for a contact expires parameter
  alike, after authentication.  So no script check is needed; the fixture
  sets min_expires 0 (no minimum) unless asked, min_expires_mode 1 unless
  min_expires_raise=True.
- The auth module sends no qop unless told (modparam qop / challenge flag
  1); we send qop="auth".  With nonce_count on it accepts nc up to 255 only.
  Challenge for REGISTER: `WWW-Authenticate: Digest realm="example.test",
  nonce="...", qop="auth"` (algorithm only when configured).  auth_check()
  returns -4 for an expired nonce; the script then challenges with
  stale=true (flag 16).  Without nonce_count a nonce may be reused with
  increasing nc (pre-authorized refreshes get 200 at once) until
  nonce_expire (default 300 s), then 401 with a new nonce and stale=true.
  auth_check() results seen: -5 no credentials, -2 wrong password,
  -3 unknown user, -4 expired nonce.
- Counting REGISTERs: the core statistic core:rcv_requests_register
  (`kamcmd stats.get_statistics rcv_requests_register`: the bare name;
  "core:rcv_requests_register" returns nothing), which counts
  every REGISTER received, retransmissions included.  The log has one
  "ALR-REG-IN" line per REGISTER, written before any reply, and one
  "ALR-REG-OUT" line per reply (event_route[sl:local-response], where the
  message is the reply: $rs, $rr, $sndto(ip) work; $T_reply_code does
  not load without tmx).  Both always agreed in check_kamailio.py.
- kamcmd prints RPC errors on STDOUT and still exits 0, e.g.
  "error: 500 - AOR not found in location table"; output is an indented
  "Key: value" / "Key: {" ... "}" tree (see parse_kamcmd()).  In
  ul.lookup/ul.dump "Expires" is the number of seconds left (or
  "permanent", "expired", "deleted"), "Received" is "[not set]" when
  empty.
- `ip netns exec NS kamailio ...` execs kamailio, so the Popen pid is
  kamailio's main process; with -DD it stays in the foreground and forks
  workers; SIGTERM to it stops them all.  We start it in its own session
  and also sweep its process group, so nothing of ours survives stop().
  `kamailio -c` does not catch fixup errors (e.g. an unknown pseudo
  variable): only a real start does, which is why start() watches for an
  early exit and shows the log tail.
- Calls (route[CALLS], peers/callpeers.py's peers): is_subscriber()'s
  flags are bit 1 "use the URI's domain", bit 2 "do not load the
  credentials"; with 1 alone it answered false for alice here, with 3 it
  is right.  t_precheck_trans() is tmx's (not loaded): t_check_trans()
  alone absorbs a retransmitted INVITE.  t_branch_timeout() and
  t_branch_replied() (tm) tell a contact that never answered (480) from
  one that did.  A phone that sends +sip.instance gets a pub-gruu in the
  200 OK and linphonec then uses it as its Contact, so in-dialog
  requests arrive with our own domain in the Request-URI and need
  lookup() after loose_route().
- Presence (presence=True, kamailio-presence-modules 5.6.3): presence,
  presence_xml (force_active 1: no XCAP, every subscription active) and
  presence_dialoginfo serve Event presence and dialog; handle_publish()
  and handle_subscribe() after t_newtran().  With presentities and
  subscriptions in the SQLite database the two UDP workers got
  "database is locked" and sent a NOTIFY without the presentity's body;
  publ_cache 2 and subs_db_mode 0 keep both in shared memory (the module
  still wants the tables at start).  A refresh in the dialog from another
  Contact updates the watcher's contact (update_shtable()): the next
  NOTIFY goes there.  NOTIFYs are tm local requests:
  event_route[tm:local-request] sees each one (logged ALR-NOTIFY).
- The 200 OK lists each binding as <uri>;expires=N;received="sip:ip:port;
  transport=udp" because we set received_avp (so ul shows the source of the
  REGISTER as "Received"); the script builds it from $siz, which brackets
  IPv6 ($si does not).
"""

import atexit
import glob
import hashlib
import ipaddress
import os
import re
import signal
import sqlite3
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, 'kamailio.cfg.tmpl')
SQL_DIR = '/usr/share/kamailio/db_sqlite'
SQL_FILES = ('standard-create.sql', 'auth_db-create.sql', 'usrloc-create.sql')
# Tables of the presence modules (kamailio-presence-modules), loaded only
# with presence=True.
PRESENCE_SQL = 'presence-create.sql'
PRESENCE_MODULE = (glob.glob('/usr/lib/*/kamailio/modules/presence.so')
                   + ['/usr/lib/kamailio/modules/presence.so'])[0]
KAMAILIO = '/usr/sbin/kamailio'
KAMCMD = '/usr/sbin/kamcmd'
SIP_PORT = 5060
TLS_PORT = 5061
# Debian's kamailio-tls-modules
TLS_MODULE = (glob.glob('/usr/lib/*/kamailio/modules/tls.so')
              + ['/usr/lib/kamailio/modules/tls.so'])[0]


class KamailioError(Exception):
    pass


class KamcmdError(KamailioError):
    def __init__(self, code, message):
        super().__init__('%s - %s' % (code, message))
        self.code = code
        self.message = message


def parse_kamcmd(text):
    """Parse kamcmd's tree output into nested lists of (key, value) pairs,
    where value is a string or another such list.  Keys repeat (one
    "Contact" per binding), hence pairs rather than dicts."""
    root = []
    stack = [root]
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line == '}':
            if len(stack) == 1:
                raise KamailioError('unbalanced kamcmd output: %r' % text)
            stack.pop()
            continue
        if line.endswith('{'):
            key = line[:-1].rstrip()
            key = key[:-1] if key.endswith(':') else key
            node = []
            stack[-1].append((key or None, node))
            stack.append(node)
            continue
        key, sep, value = line.partition(':')
        if not sep:
            stack[-1].append((None, line))
        else:
            stack[-1].append((key.strip(), value.strip()))
    return root


def _get(pairs, key):
    return [v for k, v in pairs if k == key]


def _first(pairs, key, default=None):
    values = _get(pairs, key)
    return values[0] if values else default


def _int_or_str(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def _not_set(value):
    return None if value in (None, '[not set]') else value


def _contact(pairs):
    return {
        'contact': _first(pairs, 'Address'),
        'expires': _int_or_str(_first(pairs, 'Expires')),
        'received': _not_set(_first(pairs, 'Received')),
        'callid': _first(pairs, 'Call-ID'),
        'cseq': _int_or_str(_first(pairs, 'CSeq')),
        'q': _int_or_str(_first(pairs, 'Q')),
        'user_agent': _first(pairs, 'User-Agent'),
        'path': _not_set(_first(pairs, 'Path')),
        'socket': _first(pairs, 'Socket'),
        'instance': _not_set(_first(pairs, 'Instance')),
        'reg_id': _int_or_str(_first(pairs, 'Reg-Id')),
    }


_LOG_RE = re.compile(r'(ALR-[A-Z-]+)((?: \| [^|]*)*)$')


def _parse_log_line(line):
    m = _LOG_RE.search(line.rstrip('\n'))
    if not m:
        return None
    fields = {'kind': m.group(1)}
    for part in m.group(2).split(' | ')[1:]:
        key, _, value = part.partition('=')
        value = value.strip()
        fields[key.strip()] = None if value == '<null>' else value
    return fields


def _md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def _sip_host(addr):
    ip = ipaddress.ip_address(addr)
    return '[%s]' % ip if ip.version == 6 else str(ip)


class Registrar:
    """One Kamailio registrar process inside network namespace `netns`
    (None: the current namespace), listening on UDP and TCP port 5060 of
    every address in `listen_addrs`, with its config, database, control
    socket and log in `workdir`."""

    def __init__(self, netns, listen_addrs, workdir, users=None,
                 domain='example.test', min_expires=None, deny_subnets=(),
                 min_expires_raise=False, algorithm='MD5', qop=True,
                 nonce_expire=None, nonce_count=False, timestamps=False,
                 shm_mb=32, call_auth=False, fr_timer=10, fr_inv_timer=60,
                 service_route=None, presence=False, flow_timer=None,
                 stun=None, tls=None, tcp_children=2):
        if isinstance(listen_addrs, str):
            listen_addrs = [listen_addrs]
        if not listen_addrs:
            raise ValueError('no listen address')
        self.netns = netns
        self.listen_addrs = [str(ipaddress.ip_address(a))
                             for a in listen_addrs]
        self.workdir = os.path.abspath(workdir)
        self.users = dict(users if users is not None else {'alice': 'secret'})
        self.domain = domain
        self.min_expires = min_expires
        self.min_expires_raise = min_expires_raise
        self.deny_subnets = [str(ipaddress.ip_network(s, strict=False))
                             for s in deny_subnets]
        if algorithm not in ('MD5', 'SHA-256'):
            raise ValueError('Kamailio 5.6 knows MD5 and SHA-256 only')
        self.algorithm = algorithm
        self.qop = qop
        self.nonce_expire = nonce_expire
        self.nonce_count = nonce_count
        # timestamps: a "t" field (the registrar's wall clock, $TV(Sn),
        # "sec.usec") first in every ALR-REG-IN and ALR-REG-OUT line.
        self.timestamps = timestamps
        # shared memory for usrloc, transactions and the like (-m)
        self.shm_mb = int(shm_mb)
        # Calls (route[CALLS] of the template): call_auth makes an INVITE
        # or MESSAGE from one of `users` authenticate (407) as a REGISTER
        # does; fr_timer and fr_inv_timer (seconds) are how long a relayed
        # request waits for any reply, and an INVITE that rings for a
        # final one.
        self.call_auth = call_auth
        # service_route: a Service-Route value (RFC 3608) for every 2xx
        # to a REGISTER, e.g. '<sip:10.99.100.1;lr;sr=test>'.
        self.service_route = service_route
        # presence: Kamailio is also the presence server of the domain
        # (Event presence and dialog: PUBLISH, SUBSCRIBE, NOTIFY; needs
        # Debian's kamailio-presence-modules), WITH_PRESENCE in the
        # template; presence_events() reads what it did.
        self.presence = presence
        # flow_timer: RFC 5626 outbound (registrar outbound_mode 1): a
        # REGISTER with +sip.instance, reg-id and Supported: outbound gets
        # Require: outbound and Flow-Timer: flow_timer, and bindings of one
        # instance with different reg-ids stay side by side (WITH_OUTBOUND).
        self.flow_timer = flow_timer
        # tls: (certificate, private key) PEM files: Kamailio also listens
        # on TLS port 5061 of every address with them (the tls module,
        # WITH_TLS in the template), asking nothing of the client.  Make
        # them with peers/testca.py.
        self.tls = tuple(tls) if tls else None
        # Kamailio's TCP/TLS workers.  Each worker has an SSL_CTX of its
        # own (tls_domain.c: one per process), so a session ticket one
        # issued is resumed only by that one: tcp_children=1 makes
        # resumption testable.
        self.tcp_children = int(tcp_children)
        if self.tls and not os.path.exists(TLS_MODULE):
            raise KamailioError('no %s (apt install kamailio-tls-modules)'
                                % TLS_MODULE)
        # stun: answer STUN Binding Requests on the SIP port (the stun
        # module); by default when flow_timer is set, as RFC 5626 §4.4.2
        # asks of an outbound registrar.
        self.stun = bool(flow_timer) if stun is None else stun
        self.fr_timer = fr_timer
        self.fr_inv_timer = fr_inv_timer
        for value in [domain] + list(self.users):
            if not re.fullmatch(r'[A-Za-z0-9._~+-]+', value):
                raise ValueError('unsafe name for a config: %r' % value)

        self.cfg_path = os.path.join(self.workdir, 'kamailio.cfg')
        self.db_path = os.path.join(self.workdir, 'kamailio.db')
        self.ctl_path = os.path.join(self.workdir, 'kamailio_ctl')
        self.log_path = os.path.join(self.workdir, 'kamailio.log')
        self.tls_cfg_path = os.path.join(self.workdir, 'tls.cfg')
        self.proc = None
        self._log = None

    # ---- files ---------------------------------------------------------

    def _generated(self):
        def substdef(name, value):
            if '!' in value or '\n' in value:
                raise ValueError('cannot substdef %r' % value)
            return '#!substdef "!%s!%s!g"' % (name, value)

        qop_flags = 1 if self.qop else 0
        lines = [
            substdef('ALR_DOMAIN', self.domain),
            substdef('ALR_DBURL', 'sqlite://' + self.db_path),
            substdef('ALR_CTL', 'unix:' + self.ctl_path),
            '#!define ALR_MIN_EXPIRES %d' % (self.min_expires or 0),
            '#!define ALR_MIN_EXPIRES_MODE %d'
            % (0 if self.min_expires_raise else 1),
            '#!define ALR_QOP_FLAGS %d' % qop_flags,
            '#!define ALR_QOP_FLAGS_STALE %d' % (qop_flags | 16),
            '#!define ALR_FR_TIMER %d' % int(self.fr_timer * 1000),
            '#!define ALR_FR_INV_TIMER %d' % int(self.fr_inv_timer * 1000),
        ]
        if self.call_auth:
            lines.append('#!define WITH_CALL_AUTH')
        if self.service_route:
            lines.append('#!define WITH_SERVICE_ROUTE')
            lines.append(substdef('ALR_SERVICE_ROUTE', self.service_route))
        if self.presence:
            lines.append('#!define WITH_PRESENCE')
            lines.append(substdef('ALR_PRESENCE_ADDR', 'sip:%s:%d' % (
                _sip_host(self.listen_addrs[0]), SIP_PORT)))
        if self.flow_timer:
            lines.append('#!define WITH_OUTBOUND')
            lines.append('#!define ALR_FLOW_TIMER %d' % int(self.flow_timer))
        if self.stun:
            lines.append('#!define WITH_STUN')
        if self.deny_subnets:
            lines.append('#!define WITH_DENY_SUBNETS')
            lines.append(substdef('ALR_DENY_SUBNETS',
                                  ','.join(self.deny_subnets)))
        if self.tls:
            lines.append('#!define WITH_TLS')
            lines.append('enable_tls=yes')
            lines.append(substdef('ALR_TLS_CFG', self.tls_cfg_path))
        for addr in self.listen_addrs:
            for proto in ('udp', 'tcp'):
                lines.append('listen=%s:%s:%d'
                             % (proto, _sip_host(addr), SIP_PORT))
            if self.tls:
                lines.append('listen=tls:%s:%d' % (_sip_host(addr), TLS_PORT))
        return '\n'.join(lines) + '\n'

    def write_tls_config(self):
        """The tls module's file: our certificate for every client, none
        asked of them; TLS 1.2 or newer."""
        cert, key = self.tls
        for path in (cert, key):
            if '\n' in path or not os.path.isabs(path):
                raise ValueError('unusable path for tls.cfg: %r' % path)
        with open(self.tls_cfg_path, 'w') as f:
            f.write('[server:default]\n'
                    'method = TLSv1.2+\n'
                    'verify_certificate = no\n'
                    'require_certificate = no\n'
                    'certificate = %s\n'
                    'private_key = %s\n'
                    '\n'
                    '[client:default]\n'
                    'method = TLSv1.2+\n'
                    'verify_certificate = no\n'
                    'require_certificate = no\n' % (cert, key))

    def _auth_modparams(self):
        lines = []
        if self.algorithm != 'MD5':
            lines.append('modparam("auth", "algorithm", "%s")'
                         % self.algorithm)
        if self.nonce_expire is not None:
            lines.append('modparam("auth", "nonce_expire", %d)'
                         % self.nonce_expire)
        if self.nonce_count:
            lines.append('modparam("auth", "nonce_count", 1)')
        return '\n'.join(lines) + '\n'

    def write_config(self):
        with open(TEMPLATE) as f:
            text = f.read()
        for marker in ('@GENERATED@', '@AUTH_MODPARAMS@', '\ntcp_children=2\n'):
            if text.count(marker) != 1:
                raise KamailioError('template must hold %s once' % marker)
        text = text.replace('\ntcp_children=2\n', '\ntcp_children=%d\n' % self.tcp_children)
        text = text.replace('@GENERATED@', self._generated())
        text = text.replace('@AUTH_MODPARAMS@', self._auth_modparams())
        if self.timestamps:
            for kind in ('ALR-REG-IN', 'ALR-REG-OUT'):
                mark = '"%s | ' % kind
                if text.count(mark) != 1:
                    raise KamailioError('template must log %s once' % kind)
                text = text.replace(mark, mark + 't=$TV(Sn) | ')
        with open(self.cfg_path, 'w') as f:
            f.write(text)

    def write_db(self):
        if os.path.exists(self.db_path):
            os.unlink(self.db_path)
        db = sqlite3.connect(self.db_path)
        try:
            for name in SQL_FILES + ((PRESENCE_SQL,) if self.presence else ()):
                with open(os.path.join(SQL_DIR, name)) as f:
                    db.executescript(f.read())
            for user, password in self.users.items():
                db.execute(
                    'INSERT INTO subscriber (username, domain, password, '
                    'ha1, ha1b) VALUES (?, ?, ?, ?, ?)',
                    (user, self.domain, password,
                     _md5('%s:%s:%s' % (user, self.domain, password)),
                     _md5('%s@%s:%s:%s' % (user, self.domain, self.domain,
                                           password))))
            db.commit()
        finally:
            db.close()

    # ---- process -------------------------------------------------------

    def command(self):
        cmd = [KAMAILIO, '-f', self.cfg_path, '-DD', '-E',
               '-Y', self.workdir, '-m', str(self.shm_mb), '-M', '8']
        if self.netns:
            cmd = ['ip', 'netns', 'exec', self.netns] + cmd
        return cmd

    def start(self, timeout=10.0):
        if self.proc is not None:
            raise KamailioError('already started')
        os.makedirs(self.workdir, exist_ok=True)
        for path in (self.ctl_path,):
            if os.path.exists(path):
                os.unlink(path)
        self.write_config()
        if self.tls:
            self.write_tls_config()
        self.write_db()
        self._log = open(self.log_path, 'ab')
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        last = None
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.stop()
                raise KamailioError('kamailio exited with %s during start:\n%s'
                                    % (rc, self.log_tail()))
            if os.path.exists(self.ctl_path):
                try:
                    version = self.kamcmd('core.version', timeout=2)
                    if version.startswith('kamailio'):
                        return self
                    last = version
                except (KamailioError, subprocess.TimeoutExpired) as e:
                    last = e
            if time.monotonic() > deadline:
                self.stop()
                raise KamailioError('kamailio not ready after %.0fs (%s):\n%s'
                                    % (timeout, last, self.log_tail()))
            time.sleep(0.05)

    def _group_pids(self, pgid):
        pids = []
        for entry in os.listdir('/proc'):
            if not entry.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % entry) as f:
                    stat = f.read()
            except OSError:
                continue
            # pid (comm) state ppid pgrp ...; comm may hold spaces
            fields = stat[stat.rfind(')') + 2:].split()
            if len(fields) > 2 and fields[0] != 'Z' and int(fields[2]) == pgid:
                pids.append(int(entry))
        return pids

    def stop(self, timeout=10.0):
        """SIGTERM the main process and wait; then make sure no process of
        its group (its workers) is left.  Safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is not None:
            pgid = proc.pid         # start_new_session: pgid == pid
            if proc.poll() is None:
                try:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            deadline = time.monotonic() + timeout
            while True:
                left = self._group_pids(pgid)
                if not left:
                    break
                sig = (signal.SIGTERM if time.monotonic() < deadline
                       else signal.SIGKILL)
                for pid in left:
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
                time.sleep(0.05)
        if self._log is not None:
            self._log.close()
            self._log = None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- queries -------------------------------------------------------

    def kamcmd(self, *args, timeout=5):
        """Run one RPC over the control socket (a filesystem UNIX socket,
        so reachable from any namespace) and return its output."""
        out = subprocess.run([KAMCMD, '-s', 'unix:' + self.ctl_path]
                             + list(args), capture_output=True, text=True,
                             timeout=timeout)
        text = out.stdout
        m = re.match(r'error: (\d+) - (.*)', text.strip())
        if m:
            raise KamcmdError(int(m.group(1)), m.group(2))
        if out.returncode != 0:
            raise KamailioError('kamcmd %s: exit %d: %s%s'
                                % (' '.join(args), out.returncode, text,
                                   out.stderr))
        return text

    def aor(self, user):
        return user if '@' in user else '%s@%s' % (user, self.domain)

    def bindings(self, aor_user):
        """The registrar's contacts for one AOR ("alice" or
        "alice@example.test"): a list of dicts with contact, expires
        (seconds left), received, callid, cseq, q, user_agent, path,
        socket, instance, reg_id.  [] when the AOR has none."""
        try:
            text = self.kamcmd('ul.lookup', 'location', self.aor(aor_user))
        except KamcmdError as e:
            if 'not found' in e.message.lower():
                return []
            raise
        tree = parse_kamcmd(text)
        top = _first(tree, None, [])
        contacts = _first(top, 'Contacts', [])
        return [_contact(c) for c in _get(contacts, 'Contact')]

    def bindings_many(self, aor_users, workers=8):
        """bindings() of many AORs, `workers` lookups at a time: {aor_user:
        [contact dicts]}.  For more than a few hundred AORs, where dump()
        fails: kamcmd refuses a reply over 64 KiB ("ERROR: reply too
        big")."""
        from concurrent.futures import ThreadPoolExecutor
        aor_users = list(aor_users)
        with ThreadPoolExecutor(max_workers=workers) as ex:
            return dict(zip(aor_users, ex.map(self.bindings, aor_users)))

    def dump(self):
        """All bindings: {aor: [contact dicts]} from ul.dump (up to a few
        hundred AORs: see bindings_many())."""
        result = {}
        tree = parse_kamcmd(self.kamcmd('ul.dump'))
        top = _first(tree, None, [])
        for domains in _get(top, 'Domains'):
            for domain in _get(domains, 'Domain'):
                for aors in _get(domain, 'AoRs'):
                    for info in _get(aors, 'Info'):
                        aor = _first(info, 'AoR')
                        contacts = _first(info, 'Contacts', [])
                        result.setdefault(aor, []).extend(
                            _contact(c) for c in _get(contacts, 'Contact'))
        return result

    def statistic(self, name):
        """One counter, e.g. "core:rcv_requests_register".  The RPC takes
        the bare name ("group:name" answers nothing; "group:" lists the
        group)."""
        text = self.kamcmd('stats.get_statistics', name.partition(':')[2]
                           if ':' in name else name)
        for line in text.splitlines():
            key, _, value = line.partition(' = ')
            if key.strip() == name:
                return int(value)
        raise KamailioError('no statistic %s in %r' % (name, text))

    def register_count(self):
        """REGISTER requests received so far, retransmissions included:
        Kamailio's own counter while it runs, the log afterwards."""
        if self.running():
            return self.statistic('core:rcv_requests_register')
        return sum(1 for e in self.log_events() if e['kind'] == 'ALR-REG-IN')

    def log_size(self):
        """Bytes in the log now: an offset for log_events()."""
        try:
            return os.path.getsize(self.log_path)
        except FileNotFoundError:
            return 0

    def log_events(self, offset=0):
        """The ALR-* lines of the log as dicts ("kind" plus the fields),
        from byte `offset` (log_size() at some earlier point) on."""
        events = []
        try:
            with open(self.log_path, 'rb') as fb:
                fb.seek(offset)
                data = fb.read().decode('utf-8', 'replace')
        except FileNotFoundError:
            return events
        for line in data.splitlines():
            event = _parse_log_line(line)
            if event:
                events.append(event)
        return events

    def set_register_failure(self, code, retry_after=0):
        """Answer every REGISTER with @code ("Service Unavailable"; 0:
        normally again), with Retry-After: @retry_after when > 0."""
        self.kamcmd('pv.shvSet', 'retry_after', 'int', str(int(retry_after)))
        self.kamcmd('pv.shvSet', 'fail_register', 'int', str(int(code)))

    def registers(self):
        """One dict per REGISTER received (src, port, dst: the address it
        arrived at, proto, callid, cseq,
        to, contact, expires, auth) with the codes replied to it in
        "replies".  A reply line is written just after the reply leaves,
        so wait for it with wait_until() rather than reading once."""
        regs = []
        last = {}
        for e in self.log_events():
            key = (e.get('callid'), e.get('cseq'))
            if e['kind'] == 'ALR-REG-IN':
                e['replies'] = []
                regs.append(e)
                last[key] = e
            elif (e['kind'] == 'ALR-REG-OUT' and e.get('method') == 'REGISTER'
                  and key in last):
                # The request line is always logged before its reply.
                last[key]['replies'].append(int(e['code']))
        return regs

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, errors='replace') as f:
                return ''.join(f.readlines()[-lines:])
        except FileNotFoundError:
            return '(no log)'

    @staticmethod
    def wait_until(predicate, timeout=5.0, interval=0.05):
        """Poll predicate() until it returns something true; return that,
        or raise TimeoutError at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError('condition not met within %.1fs' % timeout)
            time.sleep(interval)
