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
"""The HTTP front end shared by the emulators of this library.

A threaded HTTP/1.1 server on loopback that hands each request to a
``dispatch(method, path, body)`` callable and writes its answer in one
write (split writes would meet the client's delayed ACK).  Kept-alive
sessions are tracked so that :meth:`LoopbackHTTPServer.stop` drops them
all, as a crashing daemon does - clients must see the restart.
"""

from __future__ import annotations

import http.server
import re
import socket
import socketserver
import ssl
import threading
from typing import Any, Callable

__all__ = ['Answer', 'Dispatch', 'LoopbackHTTPServer', 'DROP', 'MAX_BODY']

# An Answer with this status closes the connection without a reply (a
# daemon that never answers).
DROP = 0
#: Largest request body served; the emulated daemons take small JSON.
MAX_BODY = 1 << 20
_MAX_LINE = 1024
_HEX = re.compile(rb'[0-9a-fA-F]{1,8}')

#: (status, reason phrase, headers, body)
Answer = tuple[int, str, list[tuple[str, str]], bytes]
Dispatch = Callable[[str, str, bytes], Answer]


class _BadRequest(Exception):
    """The request cannot be framed; it is answered 400."""


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server: '_Server'

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(_MAX_LINE + 1)
            size_text = line.split(b';')[0].strip()
            if len(line) > _MAX_LINE or not _HEX.fullmatch(size_text):
                raise _BadRequest('bad chunk size line %r' % line[:40])
            size = int(size_text, 16)
            total += size
            if total > MAX_BODY:
                raise _BadRequest('chunked body over %d bytes' % MAX_BODY)
            if size == 0:
                self.rfile.readline(_MAX_LINE + 1)
                return b''.join(chunks)
            chunks.append(self._read(size))
            self.rfile.readline(_MAX_LINE + 1)

    def _read(self, size: int) -> bytes:
        data = self.rfile.read(size)
        if len(data) == size:
            return data
        raise _BadRequest('body ends after %d of %d bytes' % (len(data),
                                                              size))

    def _body(self) -> bytes:
        """The request body; :class:`_BadRequest` for a malformed one.

        Content-Length must be ASCII digits and at most :data:`MAX_BODY`
        (``int()`` takes "-1", "+5", " 5" and "٣"); a request with both
        Content-Length and chunked encoding is refused, as RFC 9112 6.3
        allows, because the two framings disagree about where it ends.
        """
        lengths = self.headers.get_all('Content-Length') or []
        chunked = self.headers.get('Transfer-Encoding', '').lower()
        if chunked and (chunked != 'chunked' or lengths):
            raise _BadRequest('unsupported Transfer-Encoding framing')
        if chunked:
            return self._chunked()
        if len(set(lengths)) > 1:
            raise _BadRequest('conflicting Content-Length headers')
        text = lengths[0].strip(' \t') if lengths else '0'
        if not re.fullmatch(r'[0-9]{1,9}', text) or int(text) > MAX_BODY:
            raise _BadRequest('bad Content-Length %r' % lengths[0])
        return self._read(int(text)) if int(text) else b''

    def _dispatch(self) -> None:
        try:
            body = self._body()
        except (_BadRequest, OSError) as exc:
            # Framing is lost: answer once and close the connection.
            self.close_connection = True
            self._answer(400, 'Bad Request', [('Connection', 'close')],
                         str(exc).encode('ascii', 'backslashreplace'))
            return
        self._answer(*self.server.dispatch(self.command, self.path, body))

    def _answer(self, status: int, reason: str,
                headers: list[tuple[str, str]], body: bytes) -> None:
        if status == DROP:
            self.close_connection = True
            return
        head = 'HTTP/1.1 %d %s\r\n' % (status, reason)
        head += ''.join('%s: %s\r\n' % h for h in headers)
        head += 'Content-Length: %d\r\n\r\n' % len(body)
        try:
            self.wfile.write(head.encode('latin-1') + body)
        except OSError:
            self.close_connection = True  # the client went away

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    dispatch: Dispatch

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.conn_lock:
            self.open_connections.add(conn)
        return conn, addr

    def shutdown_request(self, request: Any) -> None:
        with self.conn_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self.conn_lock:
            conns, self.open_connections = self.open_connections, set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()


class LoopbackHTTPServer:
    """Serve ``dispatch`` on ``host:port`` (port 0: a free one) in a thread.

    :param ssl_context: a server-side TLS context, to model a
        TLS-terminating proxy in front of a plain-HTTP daemon
    """

    def __init__(self, dispatch: Dispatch, host: str = '127.0.0.1',
                 port: int = 0, name: str = 'emulator',
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.dispatch = dispatch
        self.host = host
        self.port = port
        self.name = name
        self.ssl_context = ssl_context
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen (on the same port again after a stop) and serve."""
        server = _Server((self.host, self.port), _Handler)
        server.dispatch = self.dispatch
        if self.ssl_context is not None:
            server.socket = self.ssl_context.wrap_socket(server.socket,
                                                         server_side=True)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever,
                                        kwargs={'poll_interval': 0.05},
                                        name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and reset every kept-alive session."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.drop_connections()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
