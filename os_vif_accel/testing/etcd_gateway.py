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
"""A raw JSON-gateway client for setting up and checking a test cluster.

Deliberately independent of the project's etcd client: the tests use it
as the referee (what root sees, which roles exist) for the client under
test, and to create users and roles the way an operator would with
``etcdctl`` - one ``/v3/auth/...`` call per etcdctl command (etcd 3.4
``etcdserver/etcdserverpb/gw/rpc.pb.gw.go``: ``user/add``, ``role/add``,
``role/grant``, ``user/grant``, ``auth/enable``, ``auth/authenticate``).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import ssl
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Iterable, Protocol

from os_vif_accel.testing import etcd_pki

__all__ = ['Gateway', 'GatewayError', 'Referee', 'enable_auth', 'add_user',
           'add_role', 'b64', 'prefix_end', 'peer_ports', 'PermSpec',
           'RoleSpec']


class GatewayError(Exception):
    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.body = body
        super().__init__('HTTP %d: %s' % (status, body[:300]))


class _Perm(Protocol):
    """One permission (``vif_plug_spp.etcd_roles.Permission``)."""

    @property
    def perm(self) -> str:
        """READ, WRITE or READWRITE."""

    @property
    def key(self) -> str:
        """The key, or the prefix."""

    @property
    def prefix(self) -> bool:
        """True: every key under ``key``."""


class _Role(Protocol):
    """A role (``vif_plug_spp.etcd_roles.Role``)."""

    @property
    def name(self) -> str:
        """The role's name."""

    @property
    def permissions(self) -> Iterable[_Perm]:
        """The role's permissions."""


@dataclasses.dataclass(frozen=True)
class PermSpec:
    """A :class:`_Perm` for tests that need no project role."""

    perm: str
    key: str
    prefix: bool = True


@dataclasses.dataclass(frozen=True)
class RoleSpec:
    """A :class:`_Role` for tests that need no project role."""

    name: str
    permissions: tuple[PermSpec, ...] | list[PermSpec]


def b64(text: str) -> str:
    return base64.b64encode(text.encode('utf-8')).decode('ascii')


def prefix_end(prefix: str) -> str:
    raw = bytearray(prefix.encode('utf-8'))
    raw[-1] += 1  # our prefixes end with '/' or a letter, never 0xff
    return raw.decode('utf-8')


class Gateway:
    """One member's gateway with a client certificate and, when ``user``
    is given, an auth token fetched on first use.
    """

    def __init__(self, url: str, ca: str | None,
                 pair: etcd_pki.CertPair | None,
                 user: str | None = None, password: str | None = None,
                 timeout: float = 5.0) -> None:
        self.url = url
        self.user = user
        self.password = password
        self.timeout = timeout
        self.token: str | None = None
        self.ctx = ssl.create_default_context(cafile=ca)
        if pair is not None:
            self.ctx.load_cert_chain(pair.cert, pair.key)

    def _post(self, path: str, body: Any, token: str | None) -> Any:
        req = urllib.request.Request(
            self.url + '/v3/' + path, data=json.dumps(body).encode(),
            method='POST', headers={'Content-Type': 'application/json'})
        if token:
            req.add_header('Authorization', token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout,
                                        context=self.ctx) as resp:
                return json.loads(resp.read() or b'{}')
        except urllib.error.HTTPError as exc:
            raise GatewayError(exc.code, exc.read().decode('utf-8',
                                                           'replace'))

    def authenticate(self) -> str:
        res = self._post('auth/authenticate',
                         {'name': self.user, 'password': self.password},
                         None)
        self.token = str(res['token'])
        return self.token

    def call(self, path: str, body: Any) -> Any:
        """POST to ``/v3/<path>``, authenticated if a user was given."""
        if self.user and self.token is None:
            self.authenticate()
        return self._post(path, body, self.token)

    def status(self) -> dict[str, Any] | None:
        """``maintenance/status`` or None if the member does not answer."""
        try:
            return dict(self.call('maintenance/status', {}))
        except (OSError, GatewayError, ValueError):
            return None

    def put(self, key: str, value: str) -> None:
        self.call('kv/put', {'key': b64(key), 'value': b64(value)})

    def get_prefix(self, prefix: str) -> dict[str, str]:
        res = self.call('kv/range', {'key': b64(prefix),
                                     'range_end': b64(prefix_end(prefix))})
        return {base64.b64decode(kv['key']).decode():
                base64.b64decode(kv.get('value', '')).decode()
                for kv in res.get('kvs') or []}

    def _watch(self, prefix: str, start_revision: int = 0,
               timeout: float | None = None) -> Any:
        if self.user and self.token is None:
            self.authenticate()
        create: dict[str, Any] = {'key': b64(prefix),
                                  'range_end': b64(prefix_end(prefix))}
        if start_revision:
            create['start_revision'] = str(start_revision)
        req = urllib.request.Request(
            self.url + '/v3/watch',
            data=json.dumps({'create_request': create}).encode(),
            method='POST', headers={'Authorization': self.token or ''})
        return urllib.request.urlopen(req, timeout=timeout or self.timeout,
                                      context=self.ctx)

    def watch_first(self, prefix: str) -> dict[str, Any]:
        """Create a watch on ``prefix`` and return etcd's first answer
        (``created``, or ``canceled`` with the reason).
        """
        with self._watch(prefix) as resp:
            return dict(json.loads(resp.readline())['result'])

    def history(self, prefix: str, start_revision: int,
                quiet: float = 1.5) -> list[tuple[str, str, str | None,
                                                   int]]:
        """Every change under ``prefix`` since ``start_revision`` as
        ``(type, key, value, mod_revision)``: etcd replays the history
        at once, so the stream's first ``quiet`` seconds of silence end it.
        """
        out = []
        self.call('maintenance/status', {})  # a live member, a token
        # The socket timeout (also of every read) is the quiet time.
        with self._watch(prefix, start_revision, quiet) as resp:
            while True:
                try:
                    line = resp.readline()
                except (TimeoutError, OSError):
                    break
                if not line:
                    break
                for ev in json.loads(line)['result'].get('events') or []:
                    kv = ev['kv']
                    deleted = ev.get('type') == 'DELETE'
                    out.append((
                        'DELETE' if deleted else 'PUT',
                        base64.b64decode(kv['key']).decode(),
                        None if deleted else
                        base64.b64decode(kv.get('value', '')).decode(),
                        int(kv['mod_revision'])))
        return out

    def revision(self) -> int:
        res = self.call('kv/range', {'key': b64('/')})
        return int(res['header']['revision'])

    def get(self, key: str) -> str | None:
        res = self.call('kv/range', {'key': b64(key)})
        kvs = res.get('kvs') or []
        return base64.b64decode(kvs[0].get('value', '')).decode() \
            if kvs else None


class Referee(Gateway):
    """A root :class:`Gateway` that moves to another live member when
    one does not answer, so a test can check etcd while members die.
    Only for reads and setup: a write it repeats may apply twice.
    """

    def __init__(self, urls: Callable[[], list[str]], ca: str,
                 pair: etcd_pki.CertPair, user: str | None, password: str,
                 patience: float = 20.0) -> None:
        super().__init__(urls()[0], ca, pair, user, password)
        self.urls = urls
        self.patience = patience

    def call(self, path: str, body: Any) -> Any:
        deadline = time.monotonic() + self.patience
        while True:
            for url in self.urls():
                self.url = url
                try:
                    return super().call(path, body)
                except GatewayError as exc:
                    if exc.status == 401:
                        self.token = None   # a restarted member
                    elif exc.status != 503 or time.monotonic() > deadline:
                        raise
                except OSError:
                    if time.monotonic() > deadline:
                        raise
            time.sleep(0.05)


def add_user(gw: Gateway, name: str, password: str) -> None:
    gw.call('auth/user/add', {'name': name, 'password': password})


def add_role(gw: Gateway, role: _Role, user: str | None = None) -> None:
    """Create ``role`` with its permissions; give it to ``user``."""
    gw.call('auth/role/add', {'name': role.name})
    for perm in role.permissions:
        grant = {'permType': perm.perm, 'key': b64(perm.key)}
        if perm.prefix:
            grant['range_end'] = b64(prefix_end(perm.key))
        gw.call('auth/role/grant', {'name': role.name, 'perm': grant})
    if user:
        gw.call('auth/user/grant', {'user': user, 'role': role.name})


def enable_auth(gw: Gateway, root_password: str) -> None:
    """Create ``root`` with the ``root`` role and enable authentication
    (etcd refuses ``auth/enable`` without them: etcd v3.4.23
    ``auth/store.go`` 254-260; the ``root`` role needs no ``role/add``,
    580-585).
    """
    add_user(gw, 'root', root_password)
    gw.call('auth/user/grant', {'user': 'root', 'role': 'root'})
    gw.call('auth/enable', {})


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    fd_dir = '/proc/%d/fd' % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith('socket:['):
            inodes.add(target[8:-1])
    return inodes


def peer_ports(pid: int) -> list[int]:
    """Remote ports of the established loopback TCP connections of
    process ``pid``.
    """
    inodes = _socket_inodes(pid)
    ports = []
    for table in ('tcp', 'tcp6'):
        try:
            with open('/proc/%d/net/%s' % (pid, table)) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == '01' and cols[9] in inodes:  # ESTABLISHED
                ports.append(int(cols[2].rsplit(':', 1)[1], 16))
    return ports
