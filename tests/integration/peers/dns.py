"""A real name server for alrd's tests: dnsmasq (Debian's dnsmasq-base),
DNS only, in a network namespace, authoritative for the names it is given
and answering NXDOMAIN for the rest of their domains.

    dns = DnsServer(ns, '10.99.100.53', tmpdir, domain='example.test',
                    hosts={'registrar.example.test': '10.99.100.1'})
    dns.start()
    use_name_server(fx, world.dev, '10.99.100.53')   # the device's resolv.conf
    ...
    dns.cleanup()

Facts checked with dnsmasq 2.89 while writing this:
- --address=/NAME/ADDR answers A (or AAAA) for NAME and every name below
  it; --host-record=NAME,ADDR answers only NAME (and its PTR).
- --local=/DOMAIN/ makes names of DOMAIN that no option answers NXDOMAIN
  at once (never forwarded; there is no upstream anyway: --no-resolv).
- --srv-host=_sip._udp.DOMAIN,TARGET,PORT,PRIORITY,WEIGHT and
  --naptr-record=NAME,ORDER,PREF,"S",SERVICE,,REPLACEMENT serve RFC 3263's
  records (for later: NAPTR/SRV resolution).
- --log-queries logs every question and what was answered; --log-facility
  a file.
- `ip netns exec NS` bind-mounts /etc/netns/NS/resolv.conf over
  /etc/resolv.conf for the process it starts: that is how a daemon in the
  device namespace is pointed at this server (use_name_server()).
"""

import os
import shutil
import subprocess

import alrtest
from alrtest import T, wait_until

DNSMASQ = '/usr/sbin/dnsmasq'


class DnsServer:
    def __init__(self, netns, addr, tmp, domain='example.test', hosts=None,
                 extra=()):
        if not os.access(DNSMASQ, os.X_OK):
            raise alrtest.Skip('no dnsmasq (apt install dnsmasq-base)')
        self.netns = netns
        self.addr = addr
        self.domain = domain
        self.hosts = dict(hosts or {})
        self.extra = list(extra)
        self.log_path = os.path.join(tmp, 'dnsmasq-dns.log')
        self.pid_path = os.path.join(tmp, 'dnsmasq-dns.pid')
        self.proc = None

    def argv(self):
        a = [DNSMASQ, '--keep-in-foreground', '--conf-file=/dev/null',
             '--no-resolv', '--no-hosts', '--no-dhcp-interface=lo',
             '--bind-interfaces', '--listen-address=' + self.addr,
             '--port=53', '--local=/%s/' % self.domain, '--log-queries',
             '--log-facility=' + self.log_path, '--pid-file=' + self.pid_path,
             '--user=root', '--group=root']
        for name, addr in self.hosts.items():
            a.append('--host-record=%s,%s' % (name, addr))
        return a + self.extra

    def start(self):
        alrtest.run(['ip', '-n', self.netns, 'addr', 'replace', self.addr + '/32',
                     'dev', 'lo'])
        self.proc = subprocess.Popen(['ip', 'netns', 'exec', self.netns] + self.argv(),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise alrtest.TestFailure('dnsmasq exited with status %s: %s' % (
                    self.proc.returncode, self.proc.stderr.read().decode()))
            try:
                with open(self.pid_path) as f:
                    return int(f.read().strip() or 0) == self.proc.pid
            except (OSError, ValueError):
                return False
        wait_until(ready, T(10), "dnsmasq's pid file")
        return self

    def queries(self):
        """The names asked so far (its log)."""
        try:
            with open(self.log_path) as f:
                return [l.split('query[', 1)[1] for l in f if 'query[' in l]
        except OSError:
            return []

    def cleanup(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(T(5))
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            if self.proc.stderr:
                self.proc.stderr.close()
        self.proc = None


class _Undo:
    def __init__(self, fn):
        self.fn = fn

    def cleanup(self):
        self.fn()


def use_name_server(fx, dev_ns, addr):
    """Point whatever runs in namespace @dev_ns (started after this) at the
    name server @addr: /etc/netns/DEV/resolv.conf, removed at cleanup."""
    etc = os.path.join('/etc/netns', dev_ns)
    os.makedirs(etc, exist_ok=True)
    fx._objs.append(_Undo(lambda: shutil.rmtree(etc, ignore_errors=True)))
    with open(os.path.join(etc, 'resolv.conf'), 'w') as f:
        f.write('nameserver %s\n' % addr)
