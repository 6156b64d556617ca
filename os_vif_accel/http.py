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
again.  Only the standard library is used so that importing it is cheap.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Any

__all__ = ['Response', 'Unreachable', 'BadAnswer', 'JSONClient']

_RETRYABLE = (ConnectionRefusedError, ConnectionResetError,
              ConnectionAbortedError, BrokenPipeError,
              http.client.RemoteDisconnected, socket.gaierror)


class Response:
    """Status, reason and raw body of one HTTP answer."""

    __slots__ = ('status', 'reason', 'body', 'headers')

    def __init__(self, status: int, reason: str, body: bytes,
                 headers: dict[str, str]) -> None:
        self.status = status
        self.reason = reason
        self.body = body
        self.headers = headers

    @property
    def text(self) -> str:
        return self.body.decode('utf-8', 'replace')

    def json(self) -> Any:
        """Decode the body as JSON; raises :class:`BadAnswer` if it isn't."""
        try:
            return json.loads(self.body.decode('utf-8'))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadAnswer('HTTP %d with a body that is not JSON (%s): %r'
                            % (self.status, exc, self.body[:200]))


class Unreachable(Exception):
    """The request could not be delivered within the retry window."""

    def __init__(self, reason: str, attempts: int, elapsed: float) -> None:
        self.reason = reason
        self.attempts = attempts
        self.elapsed = elapsed
        super().__init__('%s (%d attempt%s in %.1fs)' % (
            reason, attempts, '' if attempts == 1 else 's', elapsed))


class BadAnswer(Exception):
    """The server answered something that is not HTTP, or nothing in time."""


class JSONClient:
    """Thread-safe keep-alive client for one ``http(s)://host:port`` base.

    :param base_url: ``http://127.0.0.1:9091`` or ``https://…``
    :param connect_timeout: seconds to establish a TCP (and TLS) connection
    :param read_timeout: seconds to wait for each answer
    :param retry_window: total seconds spent retrying undeliverable
        requests; 0 means a single attempt
    :param ca_file, cert_file, key_file: TLS trust anchor and client
        certificate, only used with ``https``
    """

    def __init__(self, base_url: str, connect_timeout: float = 1.0,
                 read_timeout: float = 10.0, retry_window: float = 0.0,
                 ca_file: str | None = None, cert_file: str | None = None,
                 key_file: str | None = None, pool_size: int = 8,
                 backoff_initial: float = 0.05,
                 backoff_max: float = 1.0) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ('http', 'https') or not parsed.hostname:
            raise ValueError('expected an http:// or https:// URL with a '
                             'host, got %r' % base_url)
        self.base_url = base_url.rstrip('/')
        self._https = parsed.scheme == 'https'
        self._host = parsed.hostname
        self._port = parsed.port or (443 if self._https else 80)
        self._prefix = parsed.path.rstrip('/')
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retry_window = retry_window
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._pool: list[http.client.HTTPConnection] = []
        self._pool_size = pool_size
        self._lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None
        if self._https:
            self._ssl = ssl.create_default_context(cafile=ca_file)
            if cert_file:
                self._ssl.load_cert_chain(cert_file, key_file)

    # -- connection pool -------------------------------------------------
    def _new_connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self._https:
            conn = http.client.HTTPSConnection(
                self._host, self._port, timeout=self.connect_timeout,
                context=self._ssl)
        else:
            conn = http.client.HTTPConnection(
                self._host, self._port, timeout=self.connect_timeout)
        conn.connect()
        assert conn.sock is not None
        conn.sock.settimeout(self.read_timeout)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _get(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._pool:
                return self._pool.pop(), True
        return self._new_connection(), False

    def _put(self, conn: http.client.HTTPConnection) -> None:
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
    def _once(self, method: str, path: str, body: bytes | None,
              headers: dict[str, str]) -> Response:
        conn, reused = self._get()
        try:
            conn.request(method, self._prefix + path, body=body,
                         headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except _RETRYABLE:
            conn.close()
            raise
        except (socket.timeout, TimeoutError):
            conn.close()
            raise BadAnswer('no answer within %.1fs' % self.read_timeout)
        except http.client.HTTPException as exc:
            conn.close()
            if reused and isinstance(exc, http.client.BadStatusLine) \
                    and not exc.args[0]:
                # An empty status line on a pooled connection: the server
                # closed it while it sat idle. Nothing was processed.
                raise ConnectionResetError('idle connection closed')
            raise BadAnswer('answer is not valid HTTP: %s: %s' %
                            (type(exc).__name__, exc))
        if resp.will_close:
            conn.close()
        else:
            self._put(conn)
        return Response(resp.status, resp.reason, data,
                        {k.lower(): v for k, v in resp.getheaders()})

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> Response:
        """Send one request; retry only while it cannot be delivered.

        ``body`` may be bytes or any JSON-serialisable value.
        """
        hdrs = {'Accept': 'application/json'}
        payload: bytes | None
        if body is None:
            payload = None
        elif isinstance(body, bytes):
            payload = body
            hdrs['Content-Type'] = 'application/json'
        else:
            payload = json.dumps(body).encode('utf-8')
            hdrs['Content-Type'] = 'application/json'
        if headers:
            hdrs.update(headers)
        start = time.monotonic()
        delay = self._backoff_initial
        attempts = 0
        while True:
            attempts += 1
            try:
                return self._once(method, path, payload, hdrs)
            except (OSError, http.client.HTTPException) as exc:
                if isinstance(exc, (socket.timeout, TimeoutError)):
                    reason = ('connect to %s:%s timed out after %.1fs' %
                              (self._host, self._port, self.connect_timeout))
                elif isinstance(exc, _RETRYABLE) or isinstance(exc, OSError):
                    reason = '%s: %s' % (type(exc).__name__, exc)
                else:  # pragma: no cover - _once maps the rest to BadAnswer
                    raise
                elapsed = time.monotonic() - start
                # A TLS failure (untrusted certificate, wrong key) will
                # not heal by retrying.
                if isinstance(exc, ssl.SSLError) or \
                        elapsed + delay > self.retry_window:
                    raise Unreachable(reason, attempts, elapsed)
                time.sleep(delay)
                delay = min(delay * 2, self._backoff_max)
