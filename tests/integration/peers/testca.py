"""A throwaway certificate authority for TLS tests, made with the openssl
command line in a test's temporary directory.  Standard library only.

    ca = TestCA(tmpdir, 'alrt-ca')
    cert, key = ca.server('registrar.example.test')   # SAN DNS:...
    ... Registrar(..., tls=(cert, key)); alrd with tls-ca-file = ca.cert

Keys are EC P-256 (fast to make); certificates are valid from an hour ago
for a day, the server's with a subjectAltName (DNS or IP) and
serverAuth, signed by the CA (basicConstraints CA:TRUE, keyCertSign).
"""

import ipaddress
import os
import subprocess

OPENSSL = '/usr/bin/openssl'


def _run(args, cwd):
    r = subprocess.run([OPENSSL] + args, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError('openssl %s: %s' % (' '.join(args), r.stderr.strip()))
    return r.stdout


class TestCA:
    def __init__(self, workdir, name='alrd test CA'):
        self.dir = os.path.abspath(workdir)
        os.makedirs(self.dir, exist_ok=True)
        self.name = name
        safe = ''.join(c if c.isalnum() else '-' for c in name)
        self.key = os.path.join(self.dir, safe + '.key')
        self.cert = os.path.join(self.dir, safe + '.pem')
        _run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', self.key],
             self.dir)
        _run(['req', '-x509', '-new', '-key', self.key, '-sha256', '-days', '2',
              '-subj', '/CN=%s' % name, '-out', self.cert,
              '-addext', 'basicConstraints=critical,CA:TRUE',
              '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], self.dir)
        self._serial = 1

    def server(self, *names):
        """A key and a certificate for the host names or addresses
        @names (the first is also the CN), signed by this CA: (cert
        path, key path)."""
        sans = []
        for n in names:
            try:
                ipaddress.ip_address(n)
                sans.append('IP:' + n)
            except ValueError:
                sans.append('DNS:' + n)
        self._serial += 1
        base = os.path.join(self.dir, '%s-%d' % (names[0], self._serial))
        key, csr, cert, ext = base + '.key', base + '.csr', base + '.pem', base + '.ext'
        _run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], self.dir)
        _run(['req', '-new', '-key', key, '-subj', '/CN=%s' % names[0], '-out', csr],
             self.dir)
        with open(ext, 'w') as f:
            f.write('subjectAltName=%s\n'
                    'basicConstraints=CA:FALSE\n'
                    'keyUsage=critical,digitalSignature\n'
                    'extendedKeyUsage=serverAuth\n' % ','.join(sans))
        _run(['x509', '-req', '-in', csr, '-CA', self.cert, '-CAkey', self.key,
              '-set_serial', str(self._serial), '-days', '1', '-sha256',
              '-extfile', ext, '-out', cert], self.dir)
        # Kamailio's workers read the key after dropping nothing (root
        # here), but keep it private anyway.
        os.chmod(key, 0o600)
        return cert, key
