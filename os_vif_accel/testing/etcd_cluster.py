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
"""A real three-member etcd cluster with TLS and authentication.

Production SPP keeps its keys in the control plane's etcd cluster; what
breaks there (a member dying under a watch, a leader election, a token
that another member does not know, a certificate the server refuses)
does not exist on one plain-HTTP member.  This fixture runs Debian's
``etcd`` binary three times on free loopback ports:

* client and peer traffic over TLS (:mod:`etcd_pki` makes the CA, one
  server/peer certificate per member with SAN 127.0.0.1/localhost, and
  client certificates), client certificates required
  (``--client-cert-auth``);
* members start in parallel with short raft timers, so the cluster is up
  in about a second;
* authentication is enabled through etcd's own JSON gateway
  (``/v3/auth/...``; Debian's etcd-server package has no ``etcdctl``),
  see :mod:`etcd_gateway`.

``kill(i)``/``restart(i)`` keep a member's data directory and ports, as a
crashed and restarted production member does.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import signal
import subprocess
import tempfile
import time

from os_vif_accel.testing import etcd as etcd_server
from os_vif_accel.testing import etcd_gateway
from os_vif_accel.testing import etcd_pki

__all__ = ['Member', 'EtcdCluster']


class Member:
    """One member: its name, ports, data directory and process."""

    def __init__(self, cluster: 'EtcdCluster', index: int) -> None:
        self.cluster = cluster
        self.index = index
        self.name = 'm%d' % index
        self.port = etcd_server.free_port()
        self.peer_port = etcd_server.free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.member_id = ''
        self.pair = cluster.pki.issue('member%d' % index)

    @property
    def url(self) -> str:
        return 'https://127.0.0.1:%d' % self.port

    @property
    def peer_url(self) -> str:
        return 'https://127.0.0.1:%d' % self.peer_port

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _path(self, name: str) -> str:
        return os.path.join(self.cluster.tmpdir, '%s.%s' % (self.name, name))

    def command(self) -> list[str]:
        c = self.cluster
        tls = ['--cert-file', self.pair.cert, '--key-file', self.pair.key,
               '--trusted-ca-file', c.pki.ca.cert, '--client-cert-auth',
               '--peer-cert-file', self.pair.cert,
               '--peer-key-file', self.pair.key,
               '--peer-trusted-ca-file', c.pki.ca.cert,
               '--peer-client-cert-auth']
        return [c.binary, '--name', self.name,
                '--data-dir', self._path('data'),
                '--listen-client-urls', self.url,
                '--advertise-client-urls', self.url,
                '--listen-peer-urls', self.peer_url,
                '--initial-advertise-peer-urls', self.peer_url,
                '--initial-cluster', c.initial_cluster,
                '--initial-cluster-state', 'new',
                '--initial-cluster-token', c.token,
                '--heartbeat-interval', str(c.heartbeat_ms),
                '--election-timeout', str(c.election_ms),
                # bcrypt cost 4 instead of 10: authenticating is ~60x
                # cheaper, the test measures the client, not bcrypt.
                '--bcrypt-cost', '4',
                '--log-level', 'error', '--logger', 'zap'] + tls

    def spawn(self) -> None:
        with open(self._path('log'), 'ab') as log:
            self.proc = subprocess.Popen(self.command(), stdout=log,
                                         stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def kill(self) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def log_tail(self) -> str:
        try:
            with open(self._path('log'), 'rb') as f:
                return f.read()[-1500:].decode('utf-8', 'replace')
        except OSError:
            return ''


class EtcdCluster:
    """``size`` etcd members with TLS and (after :meth:`start`) auth.

    :param root_password: the password of etcd's ``root`` user.
    :param auth: enable authentication (root user, then ``auth/enable``).
    """

    def __init__(self, size: int = 3, auth: bool = True,
                 root_password: str = 'root-secret',
                 heartbeat_ms: int = 50, election_ms: int = 500,
                 start_timeout: float = 30.0,
                 binary: str = etcd_server.ETCD_BINARY) -> None:
        self.size = size
        self.auth = auth
        self.root_password = root_password
        self.heartbeat_ms = heartbeat_ms
        self.election_ms = election_ms
        self.start_timeout = start_timeout
        self.binary = binary
        self.tmpdir = ''
        self.members: list[Member] = []
        self.token = ''
        self.start_seconds = 0.0
        self.pki: etcd_pki.Pki
        self.client_pair: etcd_pki.CertPair
        self.root: etcd_gateway.Referee

    @property
    def initial_cluster(self) -> str:
        return ','.join('%s=%s' % (m.name, m.peer_url) for m in self.members)

    @property
    def endpoints(self) -> list[str]:
        return [m.url for m in self.members]

    def start(self) -> 'EtcdCluster':
        if not etcd_server.available():
            raise RuntimeError('%s not found: install the etcd-server '
                               'package' % self.binary)
        began = time.monotonic()
        self.tmpdir = tempfile.mkdtemp(prefix='os-vif-accel-etcdc-')
        self.token = os.path.basename(self.tmpdir)
        self.pki = etcd_pki.Pki(os.path.join(self.tmpdir, 'pki'))
        self.client_pair = self.pki.client('root')
        self.members = [Member(self, i) for i in range(self.size)]
        try:
            for member in self.members:
                member.spawn()
            self._wait_all_healthy()
            self.root = etcd_gateway.Referee(
                lambda: [m.url for m in self.members if m.alive],
                self.pki.ca.cert, self.client_pair,
                'root' if self.auth else None, self.root_password)
            if self.auth:
                etcd_gateway.enable_auth(self.gateway(), self.root_password)
        except Exception:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def gateway(self, member: int | None = None, user: str | None = None,
                password: str | None = None,
                pair: etcd_pki.CertPair | None = None,
                ca: str | None = None, client_cert: bool = True
                ) -> etcd_gateway.Gateway:
        """A raw JSON-gateway client of one member (default: the first
        alive), with the shared client certificate unless ``pair`` (none
        at all without ``client_cert``).
        """
        if member is None:
            member = next(m.index for m in self.members if m.alive)
        return etcd_gateway.Gateway(
            self.members[member].url, ca or self.pki.ca.cert,
            (pair or self.client_pair) if client_cert else None, user,
            password)

    def _wait_healthy(self, member: Member) -> None:
        deadline = time.monotonic() + self.start_timeout
        gw = self.gateway(member.index)
        while time.monotonic() < deadline:
            if not member.alive:
                raise RuntimeError('etcd %s exited: %s' % (
                    member.name, member.log_tail()))
            status = gw.status()
            if status and status.get('leader') not in (None, '0'):
                member.member_id = str(status['header']['member_id'])
                return
            time.sleep(0.05)
        raise RuntimeError('etcd %s has no leader after %.0fs: %s' % (
            member.name, self.start_timeout, member.log_tail()))

    def _wait_all_healthy(self, members: list[Member] | None = None
                          ) -> None:
        todo = members if members is not None else self.members
        with concurrent.futures.ThreadPoolExecutor(len(todo)) as pool:
            for future in [pool.submit(self._wait_healthy, m) for m in todo]:
                future.result()

    def kill(self, index: int) -> None:
        """SIGKILL one member (data directory and ports kept)."""
        self.members[index].kill()

    def restart(self, index: int) -> None:
        """Start a killed member again and wait until it has a leader."""
        member = self.members[index]
        member.kill()
        member.spawn()
        self._wait_all_healthy([member])

    def restart_wait(self, indexes: list[int]) -> None:
        """Wait until the members just spawned again have a leader
        (members restarted together: alone none of them could elect one).
        """
        self._wait_all_healthy([self.members[i] for i in indexes])

    def ensure_running(self, index: int) -> None:
        """Restart the member if it is down (a test's cleanup)."""
        if not self.members[index].alive:
            self.restart(index)

    def leader(self) -> int:
        """The index of the current leader (asked of a live member)."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            for member in self.members:
                if not member.alive:
                    continue
                status = self.gateway(member.index).status()
                lead = str((status or {}).get('leader') or '0')
                for other in self.members:
                    if other.member_id == lead and other.alive:
                        return other.index
            time.sleep(0.05)
        raise RuntimeError('the etcd cluster has no leader')

    def member_of_port(self, port: int) -> int | None:
        """The index of the member listening on client ``port``."""
        for member in self.members:
            if member.port == port:
                return member.index
        return None

    def serving(self, pid: int) -> list[int]:
        """The members process ``pid`` has an established client
        connection to (from /proc; for "kill the agent's member").
        """
        ports = etcd_gateway.peer_ports(pid)
        return sorted({i for i in (self.member_of_port(p) for p in ports)
                       if i is not None})

    def stop(self) -> None:
        for member in self.members:
            member.kill()
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = ''

    def __enter__(self) -> 'EtcdCluster':
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
