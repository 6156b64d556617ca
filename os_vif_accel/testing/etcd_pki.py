# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.
"""Certificates for a test etcd cluster, made with the ``openssl`` CLI.

Why the CLI and not the ``cryptography`` library: the sandbox and the
functional venv import only the standard library and the project's
requirements, and every Debian host that has etcd has openssl.  Keys are
P-256 (fast to make: the whole set for three members takes a fraction of
a second).  Besides the good certificates, :class:`Pki` makes the bad ones
the TLS tests need: a certificate of another CA (untrusted), an expired
one, and a server certificate for the wrong name.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import subprocess

__all__ = ['CertPair', 'Pki', 'SERVER_SAN']

SERVER_SAN = 'IP:127.0.0.1,DNS:localhost'
_SERIAL = itertools.count(1000)


@dataclasses.dataclass(frozen=True)
class CertPair:
    """A certificate and its private key (PEM file paths)."""

    cert: str
    key: str


def _openssl(*args: str) -> None:
    proc = subprocess.run(('openssl',) + args, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          check=False)
    if proc.returncode:
        raise RuntimeError('openssl %s failed: %s' % (
            args[0], proc.stdout.decode('utf-8', 'replace')[-800:]))


_EC = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
       '-nodes')


class Pki:
    """A certificate authority in ``directory`` and what it signs.

    :param name: the CA's common name (a second ``Pki`` in another
        directory is the "wrong CA").
    """

    def __init__(self, directory: str, name: str = 'os-vif-accel test CA'
                 ) -> None:
        self.dir = directory
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self.ca = CertPair(self._path('ca.crt'), self._path('ca.key'))
        _openssl('req', '-x509', *_EC, '-keyout', self.ca.key,
                 '-out', self.ca.cert, '-days', '2', '-subj', '/CN=' + name,
                 '-addext', 'basicConstraints=critical,CA:TRUE',
                 '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
        os.chmod(self.ca.key, 0o600)

    def _path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def issue(self, name: str, san: str | None = SERVER_SAN,
              days: int = 2, usage: str = 'serverAuth,clientAuth',
              subject: str | None = None) -> CertPair:
        """A certificate for ``name`` (common name unless ``subject``)
        signed by this CA.

        ``days=-1`` makes one that expired yesterday; ``san=None`` one
        without subjectAltName (a client certificate).
        """
        pair = CertPair(self._path(name + '.crt'), self._path(name + '.key'))
        csr = self._path(name + '.csr')
        ext = self._path(name + '.ext')
        _openssl('req', '-new', *_EC, '-keyout', pair.key, '-out', csr,
                 '-subj', subject or '/CN=' + name)
        lines = ['basicConstraints=CA:FALSE',
                 'keyUsage=critical,digitalSignature,keyEncipherment',
                 'extendedKeyUsage=' + usage]
        if san:
            lines.append('subjectAltName=' + san)
        with open(ext, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        _openssl('x509', '-req', '-in', csr, '-CA', self.ca.cert,
                 '-CAkey', self.ca.key, '-set_serial', str(next(_SERIAL)),
                 '-days', str(days), '-extfile', ext, '-out', pair.cert)
        os.chmod(pair.key, 0o600)
        os.unlink(csr)
        os.unlink(ext)
        return pair

    def client(self, name: str, days: int = 2,
               common_name: bool = False) -> CertPair:
        """A client certificate (no subjectAltName, clientAuth only).

        Without a common name by default: with ``--client-cert-auth`` and
        authentication on, etcd's gateway refuses every ``/v3/`` request
        whose certificate has one, since it cannot pass the name on as
        the user (etcd v3.4.23 ``embed/serve.go``, accessController
        ``ServeHTTP``: HTTP 400 "CommonName of client sending a request
        against gateway will be ignored ...").  ``common_name=True``
        makes such a certificate for the test of that refusal.
        """
        subject = None if common_name else \
            '/O=os-vif-accel/OU=%s' % name
        return self.issue(name, san=None, days=days, usage='clientAuth',
                          subject=subject)

    def expired_client(self, name: str = 'expired') -> CertPair:
        return self.client(name, days=-1)

    def expired_server(self, name: str = 'expired-server') -> CertPair:
        return self.issue(name, days=-1)

    def wrong_name_server(self, name: str = 'wrong-name') -> CertPair:
        """A server certificate valid only for a name that is not the
        endpoint's (hostname checking must refuse it).
        """
        return self.issue(name, san='DNS:etcd.invalid')
