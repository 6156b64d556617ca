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
"""HTTP/1.1 framing for :mod:`os_vif_accel.http`: one connection, one answer.

Written on a plain socket rather than with ``http.client``: a
``vrouter-port-control`` call on ``http.client`` (and the ``email``
package it pulls in) costs 16-23 ms more CPU and 35-42 ms more wall time
(p50), over the 15 ms budget (measured side by side,
doc/source/contributor/library-choices.rst).
Only what the agent, spp-ctl and etcd's gateway send is needed: a status
line, headers, and a ``Content-Length``, chunked or read-until-close body.
Everything else is refused as :class:`BadAnswer`: a status outside
100-599 or not in ASCII digits, a bad header line, a ``Content-Length``
or chunk size that is not plain digits (``int()`` takes ``-1``, ``0x5``,
``+5`` and non-ASCII digits), a truncated body, deep JSON.
"""

from __future__ import annotations

import json
import re
import select
import socket
from typing import Any, Iterator

__all__ = ['Response', 'Stream', 'BadAnswer', 'Connection', 'split_url']

_MAX_LINE = 65536
_MAX_HEADERS = 100
_HEX = re.compile(rb'[0-9a-fA-F]{1,8}')
DIGITS = re.compile(r'[0-9]{1,9}')
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


class BadAnswer(Exception):
    """The server answered something that is not HTTP, or nothing in time."""


class _Closed(ConnectionResetError):
    """The server closed the connection without answering."""


def _url_port(text: str, url: str) -> int:
    """A URL's port: ASCII digits in 1-65535 (``int()`` would take
    ``'²'`` as 2, ``' 80'``, ``'-1'`` and ``'99999'``).
    """
    if not DIGITS.fullmatch(text) or not 0 < int(text) < 65536:
        raise ValueError('expected a port 1-65535 in %r' % url)
    return int(text)


def split_url(url: str) -> tuple[str, str, int, str]:
    """``scheme://host[:port][/prefix]`` -> (scheme, host, port, prefix)."""
    scheme, sep, rest = url.partition('://')
    if not sep or scheme not in ('http', 'https'):
        raise ValueError('expected an http:// or https:// URL, got %r' % url)
    hostport, _, path = rest.partition('/')
    host, port = hostport, 443 if scheme == 'https' else 80
    if hostport.startswith('['):
        host, _, tail = hostport[1:].partition(']')
        if tail.startswith(':'):
            port = _url_port(tail[1:], url)
    elif ':' in hostport:
        host, _, num = hostport.rpartition(':')
        port = _url_port(num, url)
    if not host:
        raise ValueError('expected a host in %r' % url)
    return scheme, host, port, ('/' + path).rstrip('/')


class Connection:
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

    def idle_closed(self) -> bool:
        """True if the server closed (or wrote to) this idle connection:
        between answers nothing may arrive but the server's close.
        """
        try:
            readable, _w, _x = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

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
            if not DIGITS.fullmatch(length):  # -1 would read to EOF
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

    def __init__(self, conn: Connection, status: int,
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
