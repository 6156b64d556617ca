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
"""A loopback TCP forwarder that tests can kill, cut or make lose answers.

It stands for one etcd member in failover tests without a second etcd:
behind it is a real member, so what arrives is applied for real.
``lose_answers``: requests reach the member, its answers are dropped and
the client's connection is reset - the "sent, no reply" case a client
must not blindly repeat a write after.  :meth:`kill` closes the listener
and every connection, like a member that died; :meth:`cut` drops every
connection and closes new ones at once until :meth:`restore` (one client
loses its link while the test keeps talking to the server directly).
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import Callable

__all__ = ['TcpProxy']


def _reset(sock: socket.socket) -> None:
    """End a connection now: SO_LINGER 0 makes the close a reset; the
    shutdown wakes a thread blocked reading it (close alone would not).
    """
    for step in (lambda: sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                         struct.pack('ii', 1, 0)),
                 lambda: sock.shutdown(socket.SHUT_RDWR), sock.close):
        try:
            step()
        except OSError:
            pass


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``upstream`` (host, port)."""

    def __init__(self, upstream: tuple[str, int] | str,
                 upstream_port: int | None = None, lose_answers: bool = False,
                 lose_when: Callable[[bytes], bool] | None = None) -> None:
        """``upstream``: (host, port), or the host with ``upstream_port``.
        ``lose_when``: lose only the answers of requests whose bytes it
        accepts (e.g. writes), forwarding the rest.
        """
        if isinstance(upstream, str):
            assert upstream_port is not None
            upstream = (upstream, upstream_port)
        self.upstream = upstream
        self.lose_answers = lose_answers
        self.lose_when = lose_when
        self.host = '127.0.0.1'
        self._cut = False
        self.lost = 0
        self.connections = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(('127.0.0.1', 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def accepted(self) -> int:
        return self.connections

    def cut(self) -> None:
        """Drop every relayed connection; close new ones at once."""
        with self._lock:
            self._cut = True
            socks, self._socks = self._socks, []
        for sock in socks:
            _reset(sock)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def url(self, scheme: str = 'http') -> str:
        return '%s://127.0.0.1:%d' % (scheme, self.port)

    def _accept(self) -> None:
        while True:
            try:
                client, _addr = self._listener.accept()
            except OSError:
                return   # killed
            if self._cut:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, 5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.connections += 1
                self._socks += [client, server]
            state = {'lose': self.lose_answers}
            threading.Thread(target=self._pipe,
                             args=(client, server, False, state),
                             daemon=True).start()
            threading.Thread(target=self._pipe,
                             args=(server, client, True, state),
                             daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket,
              answers: bool, state: dict[str, bool]) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not answers and self.lose_when is not None and \
                        self.lose_when(data):
                    state['lose'] = True
                if answers and state['lose']:
                    self.lost += 1
                    _reset(dst)
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.kill()

    def kill(self) -> None:
        """Stop listening (connects are refused) and reset every
        connection.
        """
        try:   # wakes the accept() of _accept (close alone would not)
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            socks, self._socks = self._socks, []
        for sock in socks:
            _reset(sock)
