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

The HTTP/1.1 exchange is done here on a plain socket rather than with
``http.client``: importing ``http.client`` (and the ``email`` package it
pulls in) costs about 30 ms, half of what a ``vrouter-port-control`` call
costs in total.  Only what the agent, spp-ctl and etcd's gateway send is
needed: a status line, headers, and a ``Content-Length``, chunked or
read-until-close body.  ``ssl`` is imported only for ``https`` URLs.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from typing import Any, Iterator

__all__ = ['Response', 'Stream', 'Unreachable', 'BadAnswer', 'JSONClient']

_RETRYABLE = (ConnectionRefusedError, ConnectionResetError,
              ConnectionAbortedError, BrokenPipeError, socket.gaierror)
_MAX_LINE = 65536
_MAX_HEADERS = 100
_HEX = re.compile(rb'[0-9a-fA-F]{1,8}')
_DIGITS = re.compile(r'[0-9]{1,9}')
_STATUS = re.compile(r'[1-5][0-9][0-9]')


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
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
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


class _StaleConnection(Exception):
    """A pooled connection turned out to be closed by the server."""


class _Closed(ConnectionResetError):
    """The server closed the connection without answering."""


def _is_tls_error(exc: BaseException) -> bool:
    ssl = sys.modules.get('ssl')
    return ssl is not None and isinstance(exc, ssl.SSLError)


def _split_url(url: str) -> tuple[str, str, int, str]:
    """``scheme://host[:port][/prefix]`` -> (scheme, host, port, prefix)."""
    scheme, sep, rest = url.partition('://')
    if not sep or scheme not in ('http', 'https'):
        raise ValueError('expected an http:// or https:// URL, got %r' % url)
    hostport, _, path = rest.partition('/')
    host, port = hostport, 443 if scheme == 'https' else 80
    if hostport.startswith('['):
        host, _, tail = hostport[1:].partition(']')
        if tail.startswith(':'):
            port = int(tail[1:])
    elif ':' in hostport:
        host, _, num = hostport.rpartition(':')
        port = int(num)
    if not host:
        raise ValueError('expected a host in %r' % url)
    return scheme, host, port, ('/' + path).rstrip('/')


class _Connection:
    """One kept-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int, connect_timeout: float,
                 read_timeout: float, tls: Any = None) -> None:
        sock = socket.create_connection((host, port), connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=host)
            sock.settimeout(read_timeout)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.file = sock.makefile('rb')
        self.host = host if ':' not in host else '[%s]' % host
        self.port = port

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def _line(self) -> bytes:
        line = self.file.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise BadAnswer('answer line longer than %d bytes' % _MAX_LINE)
        return line

    def _exactly(self, size: int) -> bytes:
        data = self.file.read(size)
        if len(data) != size:
            raise BadAnswer('answer body truncated (%d of %d bytes)' %
                            (len(data), size))
        return data

    def chunk(self) -> bytes:
        """Read one chunk of a chunked body; b'' after the last one."""
        size_text = self._line().split(b';', 1)[0].strip()
        if not _HEX.fullmatch(size_text):  # int() also takes -5 and 0x5
            raise BadAnswer('bad chunk size %r' % size_text)
        size = int(size_text, 16)
        if size == 0:
            while self._line() not in (b'\r\n', b'\n', b''):
                pass  # trailers
            return b''
        data = self._exactly(size)
        self._line()
        return data

    def _chunked(self) -> bytes:
        return b''.join(iter(self.chunk, b''))

    def _status(self) -> tuple[str, int, str]:
        line = self._line()
        if not line:
            raise _Closed('connection closed before an answer')
        parts = line.decode('latin-1').rstrip('\r\n').split(' ', 2)
        if len(parts) < 2 or not parts[0].startswith('HTTP/1.') or \
                not _STATUS.fullmatch(parts[1]):  # isdigit() takes '²'
            raise BadAnswer('answer is not valid HTTP: %r' % line[:80])
        return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else ''

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS):
            line = self._line()
            if line in (b'\r\n', b'\n', b''):
                return headers
            name, sep, value = line.decode('latin-1').partition(':')
            if not sep:
                raise BadAnswer('bad header line %r' % line[:80])
            headers[name.strip().lower()] = value.strip()
        raise BadAnswer('more than %d headers' % _MAX_HEADERS)

    def send(self, method: str, target: str, body: bytes | None,
             headers: dict[str, str]) -> tuple[str, int, str, dict[str, str]]:
        """Send one request; read the status line and the headers."""
        lines = ['%s %s HTTP/1.1' % (method, target),
                 'Host: %s:%d' % (self.host, self.port)]
        lines += ['%s: %s' % item for item in headers.items()]
        if body is not None or method in ('POST', 'PUT', 'PATCH'):
            lines.append('Content-Length: %d' % len(body or b''))
        head = ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1')
        self.sock.sendall(head + (body or b''))
        version, status, reason = self._status()
        return version, status, reason, self._headers()

    def exchange(self, method: str, target: str, body: bytes | None,
                 headers: dict[str, str]) -> tuple[Response, bool]:
        """Send one request; return the answer and whether to close."""
        version, status, reason, hdrs = self.send(method, target, body,
                                                  headers)
        conn_hdr = hdrs.get('connection', '').lower()
        close = 'close' in conn_hdr or (version == 'HTTP/1.0' and
                                        'keep-alive' not in conn_hdr)
        if method == 'HEAD' or status in (204, 304) or status < 200:
            data = b''
        elif 'chunked' in hdrs.get('transfer-encoding', '').lower():
            data = self._chunked()
        elif 'content-length' in hdrs:
            length = hdrs['content-length']
            if not _DIGITS.fullmatch(length):  # -1 would read to EOF
                raise BadAnswer('bad Content-Length %r' % length)
            data = self._exactly(int(length))
        else:
            data, close = self.file.read(), True
        return Response(status, reason, data, hdrs), close


class Stream:
    """An answer read as it arrives, one line at a time.

    For servers that keep a request open and send newline-delimited JSON
    (etcd's watch).  The connection is not pooled; :meth:`close` may be
    called from another thread to unblock a reader.
    """

    def __init__(self, conn: _Connection, status: int,
                 headers: dict[str, str]) -> None:
        self._conn = conn
        self.status = status
        self.headers = headers
        self._chunked = 'chunked' in headers.get('transfer-encoding',
                                                 '').lower()

    def _read(self) -> bytes:
        if self._chunked:
            return self._conn.chunk()
        return self._conn.file.read1(_MAX_LINE)

    def lines(self) -> Iterator[bytes]:
        """Yield each non-empty line; end when the server ends the body.

        Raises ``socket.timeout`` when nothing arrives within the read
        timeout given to :meth:`JSONClient.stream`.
        """
        buf = b''
        while True:
            data = self._read()
            if not data:
                self._conn.close()
                if buf.strip():
                    yield buf.strip()
                return
            buf += data
            while b'\n' in buf:
                line, buf = buf.split(b'\n', 1)
                if line.strip():
                    yield line.strip()

    def read_all(self) -> bytes:
        return b''.join(iter(self._read, b''))

    @property
    def sock(self) -> socket.socket:
        """The connection's socket (e.g. to enable TCP keepalive)."""
        return self._conn.sock

    def close(self) -> None:
        """End the stream; a reader blocked in :meth:`lines` sees its end.

        Only the socket is shut down and closed here: the reading thread
        may hold the buffered reader's lock, so that is closed by the
        reader when it sees the end.
        """
        try:
            self._conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._conn.sock.close()


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
            if self._pool:
                return self._pool.pop(), True
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
        return BadAnswer('TLS with %s failed: %s' % (self.base_url, exc))

    def _once(self, method: str, path: str, body: bytes | None,
              headers: dict[str, str]) -> Response:
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
            raise BadAnswer('no answer within %.1fs' % self.read_timeout)
        except OSError as exc:
            conn.close()
            if _is_tls_error(exc):
                raise self._tls_error(exc)
            if reused and isinstance(exc, _RETRYABLE):
                raise _StaleConnection()
            raise
        except BadAnswer:
            conn.close()
            raise
        if close:
            conn.close()
        else:
            self._put(conn)
        return resp

    def stream(self, method: str, path: str, body: Any = None,
               read_timeout: float | None = None) -> Stream:
        """Send one request and return its answer as a :class:`Stream`.

        ``read_timeout`` bounds the wait for each piece of the answer
        (default: the client's).  Not retried: the caller decides how to
        resume a dropped stream.
        """
        payload, hdrs = self._encode(body, None)
        conn = _Connection(self._host, self._port, self.connect_timeout,
                           read_timeout or self.read_timeout, self._tls)
        try:
            _, status, _, headers = conn.send(method, self._prefix + path,
                                              payload, hdrs)
        except BaseException:
            conn.close()
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
                headers: dict[str, str] | None = None) -> Response:
        """Send one request; retry only while it cannot be delivered.

        ``body`` may be bytes or any JSON-serialisable value.  While the
        server is known to be down (the previous request exhausted its
        retry window less than ``down_grace`` seconds ago) a single
        attempt is made, so that a caller plugging hundreds of ports
        during an outage does not wait the whole window for each.
        """
        payload, hdrs = self._encode(body, headers)
        start = time.monotonic()
        window = 0.0 if start < self._down_until else self.retry_window
        delay = self._backoff_initial
        attempts = 0
        while True:
            attempts += 1
            try:
                resp = self._once(method, path, payload, hdrs)
            except _StaleConnection:
                # The server closed its side of our pooled connections
                # (e.g. it restarted): none of them is usable; nothing
                # was processed, so retry at once on a new connection.
                self.close()
                attempts -= 1
                continue
            except OSError as exc:
                elapsed = time.monotonic() - start
                if elapsed + delay > window:
                    self._down_until = time.monotonic() + self.down_grace
                    raise Unreachable(self._reason(exc), attempts, elapsed)
                time.sleep(delay)
                delay = min(delay * 2, self._backoff_max)
                continue
            self._down_until = 0.0
            return resp
