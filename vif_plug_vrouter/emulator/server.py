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
"""HTTP front end of the agent emulator.

Speaks the agent's dialect of HTTP/1.1: keep-alive sessions, a status line
that always says ``OK`` (also for 404 and 500), only ``Content-Type`` and
``Content-Length`` headers.  Usable in-process (tests, the sandbox) or as
the ``vrouter-agent-emulator`` console script.
"""

from __future__ import annotations

import http.server
import json
import socket
import socketserver
import ssl
import threading
from typing import Any

from vif_plug_vrouter.emulator import state as state_mod

__all__ = ['AgentEmulator']

_CONTROL_PREFIX = '/_emulator/'


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server: '_Server'

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b';')[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b''.join(chunks)
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length) if length else b''

    def _answer(self, status: int, body: bytes) -> None:
        # One write per answer: a status line that always says OK, the
        # agent's two headers and the body (split writes would meet the
        # client's delayed ACK).
        head = ('HTTP/1.1 %d OK\r\n'
                'Content-Type: application/json; charset=UTF-8\r\n'
                'Content-Length: %d\r\n\r\n' % (status, len(body)))
        self.wfile.write(head.encode('latin-1') + body)

    def _dispatch(self) -> None:
        body = self._body()
        emu = self.server.emulator
        emu.record_request(self.command, self.path, body)
        if emu.control and self.path.startswith(_CONTROL_PREFIX):
            self._answer(*emu.control_request(self.command, self.path))
            return
        self._answer(*emu.state.handle(self.command, self.path, body))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    emulator: 'AgentEmulator'

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
        """Reset every kept-alive session, as a crashing agent does."""
        with self.conn_lock:
            conns, self.open_connections = self.open_connections, set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()


class AgentEmulator:
    """An agent port API on ``host:port`` with its port files in a dir.

    ``port=0`` picks a free port (see :attr:`url`).  :meth:`restart`
    models an agent restart: the tables are dropped and the port files are
    replayed, as the real agent does.
    """

    def __init__(self, ports_dir: str, host: str = '127.0.0.1',
                 port: int = 0, check_port: bool = False,
                 stale_timeout: float = 60.0, auto_config: bool = False,
                 control: bool = False,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.ports_dir = ports_dir
        self.host = host
        self.port = port
        self.control = control
        #: a server-side TLS context models a TLS-terminating proxy in
        #: front of the agent (the agent itself only speaks plain HTTP)
        self.ssl_context = ssl_context
        self._state_args: dict[str, Any] = dict(
            check_port=check_port, stale_timeout=stale_timeout,
            auto_config=auto_config)
        self.state = state_mod.AgentState(ports_dir, **self._state_args)
        self.requests: list[tuple[str, str, bytes]] = []
        self._req_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = 'https' if self.ssl_context else 'http'
        return '%s://%s:%d' % (scheme, self.host, self.port)

    def record_request(self, method: str, path: str, body: bytes) -> None:
        with self._req_lock:
            self.requests.append((method, path, body))

    def start(self) -> 'AgentEmulator':
        """Listen, then replay the port files (the agent's order)."""
        server = _Server((self.host, self.port), _Handler)
        server.emulator = self
        if self.ssl_context is not None:
            server.socket = self.ssl_context.wrap_socket(server.socket,
                                                         server_side=True)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever,
                                        kwargs={'poll_interval': 0.05},
                                        name='agent-emulator', daemon=True)
        self._thread.start()
        self.state.replay()
        return self

    def stop(self) -> None:
        """Stop listening and drop every connection (an agent crash)."""
        self.state.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.drop_connections()
            self._server = None

    def restart(self) -> None:
        """Stop, forget everything in memory, start and replay the files."""
        self.stop()
        self.state = state_mod.AgentState(self.ports_dir, **self._state_args)
        self.start()

    def __enter__(self) -> 'AgentEmulator':
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- emulator-only control API -----------------------------------------
    def control_request(self, method: str, path: str) -> tuple[int, bytes]:
        """``GET /_emulator/ports``; ``POST /_emulator/config/<uuid>``."""
        rest = path[len(_CONTROL_PREFIX):]
        if method == 'GET' and rest == 'ports':
            return 200, json.dumps(self.state.snapshot(), indent=2).encode()
        if method == 'POST' and rest.startswith('config/'):
            with self.state.lock:
                self.state.mark_config(rest[len('config/'):])
            return 200, b'{}'
        if method == 'POST' and rest == 'clean-stale':
            return 200, json.dumps(self.state.clean_stale()).encode()
        return 404, b'{"error":"Unknown Request"}'
