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
"""A small etcd v3 client over etcd's JSON gateway (``/v3/...``).

Why not etcd3gw (what networking-spp uses)?  Not for want of a start
revision: its watcher takes one (etcd3gw 024ecbc ``etcd3gw/watch.py``
71, 104-105; already in 0.2.5, ``watch.py`` 40).  The reasons are that
its watch reads the stream in a thread-pool task whose future nobody
looks at (``watch.py`` 39-61, 133-135), so a dropped stream, an etcd
restart or a refused watch raise into nothing while the event iterator
waits on its queue forever (``client.py`` 656-665): an agent built on it
stops reacting without a word, and resuming is left to the caller.  It
also talks to one ``host:port`` with no endpoint list to fail over to and
has no etcd authentication (user/password or token; ``client.py``
56-67).  This client takes an endpoint list and fails over between
members (:mod:`vif_plug_spp.etcd_endpoints`), speaks TLS with server
verification and client certificates, and authenticates with a
user/password token renewed when it expires
(:mod:`vif_plug_spp.etcd_auth`).  The gRPC ``etcd3`` library drags in
grpcio and is unmaintained.  The JSON gateway needs nothing beyond the
standard library: unary calls go through the shared keep-alive
:class:`os_vif_accel.http.JSONClient` (bounded connect/read timeouts),
and :class:`vif_plug_spp.etcd_watch.Watch` owns one streaming
connection, resuming - on another member if its own is gone - from the
last delivered revision + 1 after any drop or etcd restart, so no event
is lost, none is delivered twice, and nothing hangs silently, while an
idle watch stays up.  A write whose answer was lost is never sent again
blindly (:mod:`vif_plug_spp.etcd_txn`).
"""

from __future__ import annotations

import threading
from typing import Any, Sequence

from oslo_log import log as logging

from os_vif_accel import etcd_opts
from os_vif_accel import http as accel_http

from vif_plug_spp import etcd_auth
from vif_plug_spp import etcd_endpoints
from vif_plug_spp.etcd_errors import (  # noqa: F401 - re-exported
    EtcdAuthError, EtcdBadAnswer, EtcdConfigError, EtcdError,
    EtcdOutcomeUnknown, EtcdPermissionDenied, EtcdTLSError,
    EtcdUnavailable, WatchCompacted)
from vif_plug_spp import etcd_txn
from vif_plug_spp import etcd_watch
from vif_plug_spp import etcdkv

LOG = logging.getLogger(__name__)

__all__ = ['EtcdError', 'EtcdUnavailable', 'EtcdOutcomeUnknown',
           'EtcdBadAnswer', 'EtcdConfigError', 'EtcdTLSError',
           'EtcdAuthError', 'EtcdPermissionDenied', 'WatchCompacted',
           'KeyValue', 'Event', 'EtcdClient', 'prefix_end']

#: Endpoints whose requests may be sent again after a lost answer:
#: reads, and lease calls (a second grant leaves a lease that expires).
_SAFE = frozenset({'kv/range', 'maintenance/status', 'lease/grant',
                   'lease/keepalive', 'lease/revoke', 'lease/timetolive'})


KeyValue = etcdkv.KeyValue
Event = etcdkv.Event


prefix_end = etcd_txn.prefix_end
_b64 = etcd_txn.b64
_range_req = etcd_txn.range_req


def _kvs(raws: Any) -> list[KeyValue]:
    return etcdkv.checked(etcdkv.kvs, raws)


def _rev(res: dict[str, Any]) -> int:
    return etcdkv.checked(etcdkv.revision, res)


def _deleted(res: dict[str, Any]) -> int:
    return etcdkv.checked(
        lambda r: etcdkv.number(r.get('deleted'), 'deleted'), res)


class EtcdClient:
    """Unary etcd v3 operations on a cluster, with bounded timeouts.

    ``EtcdClient(host, port)`` talks to one member as before;
    ``endpoints=[...]`` (``http(s)://host:port``) to a cluster, failing
    over between members (:mod:`vif_plug_spp.etcd_endpoints`).  ``ca_file``,
    ``cert_file``, ``key_file``: TLS for https endpoints (the server
    certificate and host name are verified).  ``username``/``password``:
    etcd authentication (:mod:`vif_plug_spp.etcd_auth`).

    :param retry_window: seconds during which rounds over all members
        are retried while none can be reached; answers are never
        retried, and a write whose answer was lost is not sent again
        blindly (:class:`EtcdOutcomeUnknown`, or settled for guarded
        transactions, see :meth:`txn_rev`).
    """

    def __init__(self, host: str = etcd_opts.DEFAULT_HOST,
                 port: int = etcd_opts.DEFAULT_PORT,
                 connect_timeout: float = 1.0, read_timeout: float = 5.0,
                 retry_window: float = 1.0, api_path: str | None = None,
                 *, endpoints: Sequence[str] | None = None,
                 ca_file: str | None = None, cert_file: str | None = None,
                 key_file: str | None = None, username: str | None = None,
                 password: str | None = None) -> None:
        if not endpoints:
            endpoints = [etcd_opts.legacy_endpoint(
                host or etcd_opts.DEFAULT_HOST, port)]
        try:
            urls = [etcd_opts.check_endpoint(url) for url in endpoints]
        except etcd_opts.ConfigError as exc:
            raise EtcdConfigError(str(exc)) from None
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.members = etcd_endpoints.Members(
            urls, connect_timeout, read_timeout, retry_window,
            tls={'ca_file': ca_file, 'cert_file': cert_file,
                 'key_file': key_file})
        self.auth = etcd_auth.Auth(username, password)
        self._api_path = api_path
        # One liveness probe at a time (see etcd_watch).
        self.probe_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: etcd_opts.Settings,
                      **kwargs: Any) -> 'EtcdClient':
        """A client for :class:`os_vif_accel.etcd_opts.Settings`;
        ``kwargs``: the timeouts.
        """
        return cls(endpoints=settings.endpoints, ca_file=settings.ca_file,
                   cert_file=settings.cert_file, key_file=settings.key_file,
                   username=settings.username, password=settings.password,
                   **kwargs)

    @property
    def endpoints(self) -> list[str]:
        return [member.url for member in self.members.members]

    @property
    def url(self) -> str:
        """The member requests go to now (the last that answered)."""
        return self.members.preferred.url

    @property
    def host(self) -> str:
        return accel_http.http_wire.split_url(self.url)[1]

    @property
    def port(self) -> int:
        return accel_http.http_wire.split_url(self.url)[2]

    def close(self) -> None:
        self.members.close()

    # -- plumbing -----------------------------------------------------------
    def _auth_send(self, path: str, body: Any
                   ) -> tuple[etcd_endpoints.Member, accel_http.Response]:
        return self.members.send('POST', path, body)

    def auth_headers(self) -> dict[str, str]:
        return self.auth.headers(self._auth_send, self.api_path)

    def _request(self, method: str, path: str, body: Any = None,
                 safe: bool = True) -> Any:
        renewed = False
        while True:
            headers = self.auth_headers() if path != '/version' else {}
            member, resp = self.members.send(method, path, body, headers,
                                             safe)
            if resp.status == 200:
                break
            kind = etcd_auth.classify_answer(resp)
            if self.auth.renewable(kind, headers) and not renewed:
                # Refused, so not applied: authenticate again and resend.
                self.auth.expired(headers)
                renewed = True
                continue
            if kind is not None:
                raise self.auth.error(kind, member.url, body)
            raise EtcdBadAnswer('etcd %s %s: HTTP %d: %s' % (
                member.url, path, resp.status, resp.text[:300]))
        try:
            return resp.json()
        except accel_http.BadAnswer as exc:
            raise EtcdBadAnswer('etcd %s %s: %s' % (member.url, path, exc))

    def open_stream(self, endpoint: str, body: Any, read_timeout: float,
                    headers: dict[str, str]
                    ) -> tuple[etcd_endpoints.Member, accel_http.Stream]:
        """Open a streaming call (a watch) on the first member that
        accepts it; ``headers``: :meth:`auth_headers`.
        """
        return self.members.stream(self.api_path + endpoint, body,
                                   read_timeout, headers)

    def status_of(self, member: etcd_endpoints.Member) -> dict[str, Any]:
        """``maintenance/status`` of one member (no failover: a watch asks
        whether the member its stream is on is alive).
        """
        try:
            resp = self.members.send_to(member, 'POST', self.api_path +
                                        'maintenance/status', {}, {})
            result = resp.json()
        except (etcd_endpoints.Failed, accel_http.BadAnswer) as exc:
            raise EtcdUnavailable('etcd %s: %s' % (member.url, exc))
        if resp.status != 200 or not isinstance(result, dict):
            raise EtcdBadAnswer('etcd %s: status answer HTTP %d' % (
                member.url, resp.status))
        return result

    @property
    def api_path(self) -> str:
        """``/v3/`` on etcd >= 3.4, ``/v3beta/`` on 3.3, else ``/v3alpha/``.

        Discovered once from ``GET /version``: etcd 3.4 removed
        ``/v3alpha`` and older servers lack ``/v3``.
        """
        if self._api_path is None:
            answer = self._request('GET', '/version')
            ver = answer.get('etcdserver') if isinstance(answer, dict) \
                else None
            ver = ver if isinstance(ver, str) else ''
            try:
                major, minor = (int(x) for x in ver.split('.')[:2])
            except ValueError:
                major, minor = 3, 4
            if (major, minor) >= (3, 4):
                self._api_path = '/v3/'
            elif (major, minor) == (3, 3):
                self._api_path = '/v3beta/'
            else:
                self._api_path = '/v3alpha/'
        return self._api_path

    def call(self, endpoint: str, body: dict[str, Any],
             safe: bool | None = None) -> dict[str, Any]:
        """POST ``body`` to ``<api>/<endpoint>`` (e.g. ``kv/range``).

        ``safe``: whether it may be sent again after its member failed
        with the request sent; by default reads, read-only transactions
        and lease calls are, writes are not.
        """
        if safe is None:
            safe = endpoint in _SAFE or (endpoint == 'kv/txn' and
                                         etcd_txn.read_only(body))
        result = self._request('POST', self.api_path + endpoint, body,
                               safe)
        if not isinstance(result, dict):
            raise EtcdBadAnswer('etcd %s: unexpected answer %r'
                                % (endpoint, result))
        return result

    # -- reads ----------------------------------------------------------
    def get_kv(self, key: str) -> KeyValue | None:
        kvs = _kvs(self.call('kv/range', _range_req(key, False)).get('kvs'))
        return kvs[0] if kvs else None

    def get_kv_rev(self, key: str) -> tuple[KeyValue | None, int]:
        """The key (or None) and the store revision of the read."""
        res = self.call('kv/range', _range_req(key, False))
        kvs = _kvs(res.get('kvs'))
        return (kvs[0] if kvs else None,
                _rev(res))

    def get(self, key: str) -> str | None:
        kv = self.get_kv(key)
        return kv.value if kv else None

    def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        """All keys under ``prefix`` (sorted as bytes) and the revision of
        the snapshot, so a watch can start at exactly revision + 1.
        """
        res = self.call('kv/range', _range_req(prefix, True))
        kvs = _kvs(res.get('kvs'))
        return kvs, _rev(res)

    def read(self, keys: Sequence[str] = (),
             prefixes: Sequence[str] = ()) -> dict[str, str]:
        """Several keys and prefixes from one consistent snapshot in one
        round trip (a compare-less transaction of ranges).
        """
        found, _snapshot = self.read_kvs(keys, prefixes)
        return {key: kv.value for key, kv in found.items()}

    def read_kvs(self, keys: Sequence[str] = (),
                 prefixes: Sequence[str] = ()
                 ) -> tuple[dict[str, KeyValue], int]:
        """:meth:`read` with each key's revisions and the snapshot's
        revision, for compare-and-swap on what was read and watches that
        start right after it.
        """
        ops = [{'request_range': _range_req(k, False)} for k in keys]
        ops += [{'request_range': _range_req(p, True)} for p in prefixes]
        res = self.call('kv/txn', {'compare': [], 'success': ops})
        found = {kv.key: kv for kv in etcdkv.checked(etcdkv.ranges,
                                              res.get('responses'))}
        return found, _rev(res)

    # -- writes ---------------------------------------------------------
    def put(self, key: str, value: str) -> int:
        res = self.call('kv/put', {'key': _b64(key), 'value': _b64(value)})
        return _rev(res)

    def delete(self, key: str) -> int:
        res = self.call('kv/deleterange', _range_req(key, False))
        return _deleted(res)

    def delete_prefix(self, prefix: str) -> int:
        if not prefix.endswith('/'):
            raise ValueError('refusing to delete prefix %r without a '
                             'trailing "/"' % prefix)
        res = self.call('kv/deleterange', _range_req(prefix, True))
        return _deleted(res)

    def txn(self, compare: list[dict[str, Any]],
            success: list[dict[str, Any]],
            failure: list[dict[str, Any]] | None = None) -> bool:
        return self.txn_rev(compare, success, failure)[0]

    def txn_rev(self, compare: list[dict[str, Any]],
                success: list[dict[str, Any]],
                failure: list[dict[str, Any]] | None = None
                ) -> tuple[bool, int]:
        """:meth:`txn` that also returns the store revision after it.

        A guarded transaction whose member failed after it was sent is
        settled, not blindly resent (:func:`etcd_txn.settle`): if the
        store already holds what its success branch writes it counts as
        applied, else it is sent again - its compare still decides.
        """
        body = {'compare': compare, 'success': success,
                'failure': failure or []}
        try:
            res = self.call('kv/txn', body)
        except EtcdOutcomeUnknown as exc:
            return etcd_txn.settle(self, body, exc)
        return (bool(res.get('succeeded', False)),
                _rev(res))

    cmp_create_revision = staticmethod(etcd_txn.cmp_create_revision)
    cmp_value = staticmethod(etcd_txn.cmp_value)
    cmp_mod_revision = staticmethod(etcd_txn.cmp_mod_revision)
    op_put = staticmethod(etcd_txn.op_put)
    op_delete = staticmethod(etcd_txn.op_delete)

    @staticmethod
    def cmp_absent(key: str) -> dict[str, Any]:
        return etcd_txn.cmp_create_revision(key, 0)

    def replace(self, key: str, old: str, new: str) -> bool:
        """Compare-and-swap: set ``new`` only if the value is ``old``."""
        return self.txn([self.cmp_value(key, old)], [self.op_put(key, new)])

    def watch_prefix(self, prefix: str, start_revision: int,
                     idle_timeout: float = 10.0, backoff_max: float = 2.0,
                     **kwargs: Any) -> etcd_watch.Watch:
        """Events under ``prefix`` (:class:`etcd_watch.Watch`)."""
        return etcd_watch.Watch(self, prefix, start_revision,
                                idle_timeout=idle_timeout,
                                backoff_max=backoff_max, **kwargs)

    def watch_key(self, key: str, start_revision: int,
                  idle_timeout: float = 10.0, backoff_max: float = 2.0,
                  **kwargs: Any) -> etcd_watch.Watch:
        return etcd_watch.Watch(self, key, start_revision,
                                idle_timeout=idle_timeout,
                                backoff_max=backoff_max, is_prefix=False,
                                **kwargs)
