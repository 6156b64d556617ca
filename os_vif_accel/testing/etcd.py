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
"""A real etcd server on a free loopback port, for tests and the sandbox.

Mocks of etcd hide exactly the behaviour the SPP protocol depends on
(transactions, watch revisions, streams that drop when etcd restarts), so
tests run the real binary (Debian ``etcd-server``).  The data directory is
kept across :meth:`EtcdServer.restart` so revisions survive like they do
in production.  Only the standard library is used: the sandbox imports
this without test requirements.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from typing import Sequence

from os_vif_accel.testing import etcd_gateway
from os_vif_accel.testing import etcd_pki

__all__ = ['ETCD_BINARY', 'EtcdServer', 'available', 'free_port',
           'log_tail']

ETCD_BINARY = os.environ.get('OS_VIF_ACCEL_ETCD', '/usr/bin/etcd')


def available() -> bool:
    """True if the etcd binary can be run."""
    return os.access(ETCD_BINARY, os.X_OK)


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


def log_tail(tmpdir: str | None, name: str) -> str:
    """The end of a server's log file in ``tmpdir`` ('' if none)."""
    if not tmpdir:
        return ''
    try:
        with open(os.path.join(tmpdir, name), 'rb') as f:
            return f.read()[-2000:].decode('utf-8', 'replace')
    except OSError:
        return ''


class EtcdServer:
    """One single-member etcd cluster in a temporary directory.

    ``start()`` waits until ``/health`` answers; ``stop()`` kills it and
    removes the data directory; ``restart()`` keeps the data and port.
    ``tls``: serve https with these certificates and require client
    certificates (``--client-cert-auth``); ``extra_args``: more etcd
    flags (e.g. ``--auth-token``).  :meth:`enable_auth` adds users and
    roles and turns authentication on.
    """

    def __init__(self, binary: str = ETCD_BINARY,
                 start_timeout: float = 20.0,
                 tls: etcd_pki.CertSet | None = None,
                 extra_args: Sequence[str] = ()) -> None:
        self.binary = binary
        self.start_timeout = start_timeout
        self.tls = tls
        self.extra_args = list(extra_args)
        self.tmpdir: str | None = None
        self.port = 0
        self.peer_port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return '127.0.0.1'

    @property
    def url(self) -> str:
        return '%s://127.0.0.1:%d' % ('https' if self.tls else 'http',
                                      self.port)

    def _tls_args(self) -> list[str]:
        if self.tls is None:
            return []
        return ['--cert-file', self.tls.server.cert,
                '--key-file', self.tls.server.key,
                '--trusted-ca-file', self.tls.ca.ca.cert,
                '--client-cert-auth']

    def _context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        ctx = ssl.create_default_context(cafile=self.tls.ca.ca.cert)
        ctx.load_cert_chain(self.tls.client.cert, self.tls.client.key)
        return ctx

    def _command(self) -> list[str]:
        assert self.tmpdir is not None
        peer = 'http://127.0.0.1:%d' % self.peer_port
        return [self.binary, '--name', 'default',
                '--data-dir', os.path.join(self.tmpdir, 'data'),
                '--listen-client-urls', self.url,
                '--advertise-client-urls', self.url,
                '--listen-peer-urls', peer,
                '--initial-advertise-peer-urls', peer,
                '--initial-cluster', 'default=' + peer,
                '--log-level', 'error', '--logger', 'zap',
                *self._tls_args(), *self.extra_args]

    def _spawn(self) -> None:
        assert self.tmpdir is not None
        log = open(os.path.join(self.tmpdir, 'etcd.log'), 'ab')
        try:
            self.proc = subprocess.Popen(self._command(), stdout=log,
                                         stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        finally:
            log.close()
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError('etcd exited with %s: %s' % (
                    self.proc.returncode, self.log_tail()))
            try:
                with urllib.request.urlopen(self.url + '/health', timeout=1,
                                            context=self._context()) as resp:
                    if b'true' in resp.read():
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.05)
        raise RuntimeError('etcd did not become healthy in %.0fs: %s'
                           % (self.start_timeout, self.log_tail()))

    def enable_auth(self, root_password: str,
                    users: dict[str, tuple[str, Sequence[str]]]) -> None:
        """Create ``root`` and ``users`` {name: (password, [prefix, ...])},
        each user with a role ``<name>-role`` allowed read-write access to
        its prefixes only, then enable authentication.
        """
        gw = etcd_gateway.Gateway(
            self.url, self.tls.ca.ca.cert if self.tls else None,
            self.tls.client if self.tls else None)
        for name, (password, prefixes) in users.items():
            etcd_gateway.add_user(gw, name, password)
            etcd_gateway.add_role(gw, etcd_gateway.RoleSpec(
                name + '-role', [etcd_gateway.PermSpec('READWRITE', prefix)
                                 for prefix in prefixes]), name)
        etcd_gateway.enable_auth(gw, root_password)

    def log_tail(self) -> str:
        return log_tail(self.tmpdir, 'etcd.log')

    def start(self) -> 'EtcdServer':
        if not available():
            raise RuntimeError('%s not found: install the etcd-server '
                               'package' % self.binary)
        self.tmpdir = tempfile.mkdtemp(prefix='os-vif-accel-etcd-')
        for attempt in range(5):
            self.port, self.peer_port = free_port(), free_port()
            try:
                self._spawn()
                return self
            except RuntimeError:
                self._kill()
                if attempt == 4:
                    raise
        return self

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        """Kill etcd abruptly (keeps the data dir; see restart)."""
        self._kill()

    def restart(self, down_for: float = 0.0) -> None:
        """Kill etcd, optionally stay down, start it on the same ports."""
        self._kill()
        if down_for:
            time.sleep(down_for)
        self._spawn()

    def stop(self) -> None:
        self._kill()
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def __enter__(self) -> 'EtcdServer':
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
