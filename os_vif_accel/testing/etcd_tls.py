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
"""Test certificates for etcd with TLS, made with the ``openssl`` CLI.

A CA, a server certificate for ``127.0.0.1`` (IP SAN only, so an
endpoint named ``localhost`` fails host name checking), a client
certificate, a second unrelated CA (a "wrong CA" for the client) and an
expired server certificate.  EC P-256 keys: quick to make.  Standard
library only (the sandbox may use it without test requirements).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess

__all__ = ['CertSet', 'make_certs', 'issue']

_CA_CONF = """[ca]
default_ca = ca_default
[ca_default]
database = {dir}/index.txt
new_certs_dir = {dir}
serial = {dir}/serial
default_md = sha256
policy = policy_any
copy_extensions = copy
unique_subject = no
[policy_any]
commonName = supplied
"""
_EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
       '-nodes']


@dataclasses.dataclass(frozen=True)
class CertSet:
    """Paths of the files :func:`make_certs` wrote."""

    directory: str
    ca_file: str
    ca_key: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    other_ca_file: str
    expired_cert: str
    expired_key: str


def _run(*args: str) -> None:
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def _ca(directory: str, name: str) -> tuple[str, str]:
    crt, key = (os.path.join(directory, name + ext)
                for ext in ('.crt', '.key'))
    _run('openssl', 'req', '-x509', *_EC, '-keyout', key, '-out', crt,
         '-subj', '/CN=os-vif-accel test ' + name, '-days', '30',
         '-addext', 'basicConstraints=critical,CA:TRUE',
         '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    return crt, key


def issue(directory: str, ca: tuple[str, str], name: str, common_name: str,
          san: str = 'IP:127.0.0.1', start: str | None = None,
          end: str | None = None) -> tuple[str, str]:
    """A certificate signed by ``ca`` (crt, key) for server and client
    use; ``start``/``end`` as ``YYYYMMDDHHMMSSZ`` (default: now, 30 days).
    """
    crt, key, csr, conf = (os.path.join(directory, name + ext)
                           for ext in ('.crt', '.key', '.csr', '.cnf'))
    with open(conf, 'w') as f:
        f.write(_CA_CONF.format(dir=directory))
    for path, text in (('index.txt', ''), ('serial', '1000\n')):
        if not os.path.exists(os.path.join(directory, path)):
            with open(os.path.join(directory, path), 'w') as f:
                f.write(text)
    _run('openssl', 'req', '-new', *_EC, '-keyout', key, '-out', csr,
         '-subj', '/CN=' + common_name,
         '-addext', 'subjectAltName=' + san,
         '-addext', 'extendedKeyUsage=serverAuth,clientAuth',
         '-addext', 'keyUsage=critical,digitalSignature,keyAgreement')
    dates = (['-startdate', start] if start else []) + \
        (['-enddate', end] if end else ['-days', '30'])
    _run('openssl', 'ca', '-config', conf, '-batch', '-notext', '-in', csr,
         '-out', crt, '-cert', ca[0], '-keyfile', ca[1], *dates)
    os.chmod(key, 0o600)
    return crt, key


def make_certs(directory: str) -> CertSet:
    """Write a CA, server, client, wrong-CA and expired certificates."""
    ca = _ca(directory, 'ca')
    other = _ca(directory, 'other-ca')
    server = issue(directory, ca, 'server', 'etcd-test-server')
    client = issue(directory, ca, 'client', 'etcd-test-client',
                   san='DNS:etcd-test-client')
    expired = issue(directory, ca, 'expired', 'etcd-test-expired',
                    start='20200101000000Z', end='20200102000000Z')
    return CertSet(directory, ca[0], ca[1], server[0], server[1],
                   client[0], client[1], other[0], expired[0], expired[1])
