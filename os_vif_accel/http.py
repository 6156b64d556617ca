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
"""A small keep-alive JSON-over-HTTP client with bounded retries.

Both the vRouter agent and spp-ctl speak plain HTTP/1.1 on loopback.  This
client keeps connections open between calls (the agent keeps sessions
alive; a new TCP connection per plug is wasted time), separates the connect
timeout from the read timeout, and retries only when the request could not
be delivered at all (connection refused/reset, connect timeout, a pooled
connection the server had closed).  An answer - whatever its status - is
never retried: a 500 from the agent is a validation error that would fail
again.

This module is the pool and the retry window; the HTTP/1.1 framing (and
why it is not ``http.client``) is in :mod:`os_vif_accel.http_wire`.
``ssl`` is imported only for ``https`` URLs.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from typing import Any

from os_vif_accel import http_wire
from os_vif_accel.http_wire import BadAnswer, Response, Stream

__all__ = ['Response', 'Stream', 'Unreachable', 'BadAnswer', 'NoAnswer',
           'TLSFailure', 'JSONClient']

_RETRYABLE = (ConnectionRefusedError, ConnectionResetError,
              ConnectionAbortedError, BrokenPipeError, socket.gaierror)
_Connection = http_wire.Connection
_split_url = http_wire.split_url


class Unreachable(Exception):
    """The request could not be delivered within the retry window.

    ``sent`` is True when the last attempt had written the request before
    the connection failed: the server may have processed it.
    """

    def __init__(self, reason: str, attempts: int, elapsed: float,
                 sent: bool = False) -> None:
        self.reason = reason
        self.attempts = attempts
        self.elapsed = elapsed
        self.sent = sent
        super().__init__('%s (%d attempt%s in %.1fs)' % (
            reason, attempts, '' if attempts == 1 else 's', elapsed))


class NoAnswer(BadAnswer):
    """The request was sent but no answer came within the read timeout."""


class TLSFailure(BadAnswer):
    """TLS with the server failed (untrusted or expired certificate, wrong
    host name, a plain-HTTP server): a configuration error, not an outage.
    """


class _StaleConnection(Exception):
    """A pooled connection turned out to be closed by the server."""


class _AfterSend(Exception):
    """The connection failed after the request was written."""

    def __init__(self, exc: OSError) -> None:
        super().__init__(str(exc))
        self.exc = exc


def _is_tls_error(exc: BaseException) -> bool:
    ssl = sys.modules.get('ssl')
    return ssl is not None and isinstance(exc, ssl.SSLError)


class JSONClient:
    """Thread-safe keep-alive client for one ``http(s)://host:port`` base.

    :param base_url: ``http://127.0.0.1:9091`` or ``https://…``
    :param connect_timeout: seconds to establish a TCP (and TLS) connection
    :param read_timeout: seconds to wait for each answer
    :param retry_window: total seconds spent retrying undeliverable
        requests; 0 means a single attempt
    :param ca_file, cert_file, key_file: TLS trust anchor and client
        certificate, only used with ``https``
    :param down_grace: seconds after an exhausted retry window during
        which requests make a single attempt
    """

    def __init__(self, base_url: str, connect_timeout: float = 1.0,
                 read_timeout: float = 10.0, retry_window: float = 0.0,
                 ca_file: str | None = None, cert_file: str | None = None,
                 key_file: str | None = None, pool_size: int = 8,
                 backoff_initial: float = 0.05,
                 backoff_max: float = 1.0, down_grace: float = 10.0) -> None:
        scheme, self._host, self._port, self._prefix = _split_url(base_url)
        self.base_url = base_url.rstrip('/')
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retry_window = retry_window
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self.down_grace = down_grace
        self._down_until = 0.0
        self._pool: list[_Connection] = []
        self._pool_size = pool_size
        self._lock = threading.Lock()
        self._tls: Any = None
        if scheme == 'https':
            import ssl
            self._tls = ssl.create_default_context(cafile=ca_file)
            if cert_file:
                self._tls.load_cert_chain(cert_file, key_file)

    # -- connection pool -------------------------------------------------
    def _new_connection(self) -> _Connection:
        return _Connection(self._host, self._port, self.connect_timeout,
                           self.read_timeout, self._tls)

    def _get(self) -> tuple[_Connection, bool]:
        with self._lock:
            while self._pool:
                conn = self._pool.pop()
                if not conn.idle_closed():
                    return conn, True
                conn.close()   # the server closed it while it was idle
        return self._new_connection(), False

    def _put(self, conn: _Connection) -> None:
        with self._lock:
            if len(self._pool) < self._pool_size:
                self._pool.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            pool, self._pool = self._pool, []
        for conn in pool:
            conn.close()

    # -- requests ----------------------------------------------------------
    def _tls_error(self, exc: BaseException) -> BadAnswer:
        # An untrusted certificate or a wrong key does not heal by
        # retrying and is not "agent down": it must fail the caller.
        return TLSFailure('TLS with %s failed: %s' % (self.base_url, exc))

    def _once(self, method: str, path: str, body: bytes | None,
              headers: dict[str, str], idempotent: bool = True) -> Response:
        try:
            conn, reused = self._get()
        except OSError as exc:
            if _is_tls_error(exc):
                raise self._tls_error(exc)
            raise
        try:
            resp, close = conn.exchange(method, self._prefix + path, body,
                                        headers)
        except (socket.timeout, TimeoutError):
            conn.close()
            raise NoAnswer('no answer within %.1fs' % self.read_timeout)
        except OSError as exc:
            conn.close()
            if _is_tls_error(exc):
                raise self._tls_error(exc)
            if reused and idempotent and isinstance(exc, _RETRYABLE):
                raise _StaleConnection()
            raise _AfterSend(exc)
        except BadAnswer:
            conn.close()
            raise
        if close:
            conn.close()
        else:
            self._put(conn)
        return resp

    def stream(self, method: str, path: str, body: Any = None,
               read_timeout: float | None = None,
               headers: dict[str, str] | None = None) -> Stream:
        """Send one request and return its answer as a :class:`Stream`.

        ``read_timeout`` bounds the wait for each piece of the answer
        (default: the client's).  Not retried: the caller decides how to
        resume a dropped stream.
        """
        payload, hdrs = self._encode(body, headers)
        try:
            conn = _Connection(self._host, self._port, self.connect_timeout,
                               read_timeout or self.read_timeout, self._tls)
        except OSError as exc:
            if _is_tls_error(exc):
                raise self._tls_error(exc)
            raise
        try:
            _, status, _, headers = conn.send(method, self._prefix + path,
                                              payload, hdrs)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, OSError) and _is_tls_error(exc):
                raise self._tls_error(exc)
            raise
        return Stream(conn, status, headers)

    @staticmethod
    def _encode(body: Any, headers: dict[str, str] | None
                ) -> tuple[bytes | None, dict[str, str]]:
        hdrs = {'Accept': 'application/json'}
        payload: bytes | None = None
        if body is not None:
            payload = (body if isinstance(body, bytes)
                       else json.dumps(body).encode('utf-8'))
            hdrs['Content-Type'] = 'application/json'
        hdrs.update(headers or {})
        return payload, hdrs

    def _reason(self, exc: OSError) -> str:
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return ('connect to %s:%s timed out after %.1fs' %
                    (self._host, self._port, self.connect_timeout))
        return '%s: %s' % (type(exc).__name__, exc)

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None,
                idempotent: bool = True) -> Response:
        """Send one request; retry only while it cannot be delivered.

        ``body`` may be bytes or any JSON-serialisable value.  While the
        server is known to be down (the previous request exhausted its
        retry window less than ``down_grace`` seconds ago) a single
        attempt is made, so that a caller plugging hundreds of ports
        during an outage does not wait the whole window for each.
        ``idempotent=False``: a request that may have reached the server
        (written, then the connection failed - also a kept-alive one) is
        not sent again: :class:`Unreachable` with ``sent`` set.
        """
        payload, hdrs = self._encode(body, headers)
        start = time.monotonic()
        window = 0.0 if start < self._down_until else self.retry_window
        delay = self._backoff_initial
        attempts = 0
        while True:
            attempts += 1
            try:
                resp = self._once(method, path, payload, hdrs, idempotent)
            except _StaleConnection:
                # The server closed its side of our pooled connections
                # (e.g. it restarted): none of them is usable; nothing
                # was processed, so retry at once on a new connection.
                self.close()
                attempts -= 1
                continue
            except (OSError, _AfterSend) as exc:
                sent = isinstance(exc, _AfterSend)
                cause = exc.exc if isinstance(exc, _AfterSend) else exc
                elapsed = time.monotonic() - start
                if elapsed + delay > window or (sent and not idempotent):
                    self._down_until = time.monotonic() + self.down_grace
                    raise Unreachable(self._reason(cause), attempts,
                                      elapsed, sent=sent)
                time.sleep(delay)
                delay = min(delay * 2, self._backoff_max)
                continue
            self._down_until = 0.0
            return resp
