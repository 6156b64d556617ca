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

import json
import ssl
import threading
from typing import Any

from os_vif_accel.testing import httpserver

from vif_plug_vrouter.emulator import state as state_mod

__all__ = ['AgentEmulator']

_CONTROL_PREFIX = '/_emulator/'
# The agent sends these two headers only, and a status line that always
# says OK (also for 404 and 500): tf-controller src/vnsw/agent/port_ipc/
# rest_common.cc 15-29; the session stays open (tf-common
# http/http_session.cc 108-113).
_HEADERS = [('Content-Type', 'application/json; charset=UTF-8')]


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
        self._http = httpserver.LoopbackHTTPServer(
            self._dispatch, host=host, port=port, name='agent-emulator',
            ssl_context=ssl_context)

    @property
    def host(self) -> str:
        return self._http.host

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def url(self) -> str:
        scheme = 'https' if self.ssl_context else 'http'
        return '%s://%s:%d' % (scheme, self.host, self.port)

    def record_request(self, method: str, path: str, body: bytes) -> None:
        with self._req_lock:
            self.requests.append((method, path, body))

    def _dispatch(self, method: str, path: str,
                  body: bytes) -> httpserver.Answer:
        self.record_request(method, path, body)
        if self.control and path.startswith(_CONTROL_PREFIX):
            status, out = self.control_request(method, path, body)
        else:
            status, out = self.state.handle(method, path, body)
        return status, 'OK', _HEADERS, out

    def start(self) -> 'AgentEmulator':
        """Listen, then replay the port files (the agent's order)."""
        self._http.start()
        self.state.replay()
        return self

    def stop(self) -> None:
        """Stop listening and drop every connection (an agent crash)."""
        self.state.stop()
        self._http.stop()

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
    def control_request(self, method: str, path: str,
                        body: bytes = b'') -> tuple[int, bytes]:
        """``GET /_emulator/ports``; ``POST /_emulator/config/<uuid>``
        (optional JSON body: fields of ``config.VmiConfig``, e.g.
        ``{"vm_uuid": ..., "vn_name": ...}``); ``POST
        /_emulator/clean-stale``.
        """
        rest = path[len(_CONTROL_PREFIX):]
        if method == 'GET' and rest == 'ports':
            return 200, json.dumps(self.state.snapshot(), indent=2).encode()
        if method == 'POST' and rest.startswith('config/'):
            try:
                fields = json.loads(body or b'{}')
                with self.state.lock:
                    self.state.mark_config(rest[len('config/'):], **fields)
            except (ValueError, TypeError, RecursionError) as exc:
                return 400, json.dumps({'error': str(exc)}).encode()
            return 200, b'{}'
        if method == 'POST' and rest == 'clean-stale':
            return 200, json.dumps(self.state.clean_stale()).encode()
        return 404, b'{"error":"Unknown Request"}'
