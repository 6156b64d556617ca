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
"""The agent's port-IPC handler: routes and tables (no I/O but files).

:meth:`AgentState.handle` takes a method, a path and a body and returns
``(status, body)`` exactly as the agent's REST server would.  The rules
live in one module each: :mod:`.wire` (members, texts, MAC), :mod:`.vmi`
(``/port``), :mod:`.vmvn` (``/vm``), :mod:`.sync` (``/syncports``),
:mod:`.replay` (start-up), :mod:`.gateway`; the table with upstream
lines is ``doc/source/reference/agent-emulator.rst``.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from vif_plug_vrouter.emulator import gateway
from vif_plug_vrouter.emulator import replay
from vif_plug_vrouter.emulator import wire
from vif_plug_vrouter.emulator.wire import AUTHOR  # noqa: F401
from vif_plug_vrouter.emulator.wire import boost_uuid  # noqa: F401
from vif_plug_vrouter.emulator.wire import NIL_UUID  # noqa: F401

__all__ = ['AgentState', 'boost_uuid', 'NIL_UUID']

_U = wire.UUID_RE


def _post(add_json: replay.Adder) -> Callable[[bytes], wire.Reply]:
    """A POST route (rest_server.cc 63-75 for ``/port``, 146-158 for
    ``/vm``): unlike the replay, it adds without the netdev check and
    writes the port file.
    """
    def post(body: bytes) -> wire.Reply:
        # check_port=False, write_file=True
        return wire.answer(lambda: add_json(body, False, True))
    return post


class AgentState(replay.Replay, gateway.Gateways):
    """Subscription tables, port files and the stale cleaner.

    :param ports_dir: the agent's ports directory (created if missing)
    :param check_port: on replay, skip files whose ``system-name`` is not
        an existing netdev (the kernel-mode agent does; DPDK does not)
    :param stale_timeout: seconds between ``/syncports`` and the cleanup
    :param auto_config: mark the controller config of every added port as
        present at once, so ``GET /port`` answers 200 (the real agent
        answers 404 until the control node sent the config)
    """

    def __init__(self, ports_dir: str, check_port: bool = False,
                 stale_timeout: float = 60.0,
                 auto_config: bool = False) -> None:
        super().__init__(ports_dir, check_port, stale_timeout, auto_config)
        self.timers = []
        self._routes = self._make_routes()

    def _make_routes(self) -> list[tuple[str, re.Pattern[str],
                                         Callable[..., wire.Reply]]]:
        """``RESTHandlers_`` (rest_server.cc 244-305), first match wins."""
        table: list[tuple[str, str, Callable[..., wire.Reply]]] = [
            ('POST', '/port', _post(self.add_port_json)),
            ('POST', '/syncports', self.syncports),
            ('DELETE', '/port/(%s)' % _U, self.delete_port),
            ('GET', '/port/(%s)' % _U, self.get_port),
            ('POST', '/gateway', self.post_gateway),
            ('DELETE', '/gateway', self.delete_gateway),
            ('POST', '/vm', _post(self.add_vm_json)),
            ('DELETE', '/vm/(%s)' % _U, self.delete_vm),
            ('GET', '/vm/(%s)' % _U, self.get_vm),
            ('GET', '/vm/(%s)/(%s)' % (_U, _U), self.get_vm),
            ('GET', '/vm-cfg/(.*)', self.get_vm_cfg),
            ('PUT', '/enable-port/(%s)' % _U,
             lambda b, u: self.set_link(u, True)),
            ('PUT', '/disable-port/(%s)' % _U,
             lambda b, u: self.set_link(u, False)),
        ]
        return [(verb, re.compile(rx, re.S), func)
                for verb, rx, func in table]

    def handle(self, method: str, path: str, body: bytes) -> wire.Reply:
        """Answer one request; the query string is ignored (the agent
        matches ``UrlPath()``, rest_server.cc 321-343).
        """
        path = path.split('?', 1)[0]
        for verb, regex, func in self._routes:
            m = regex.fullmatch(path)
            if m and verb == method:
                with self.lock:
                    return func(body, *m.groups())
        return wire.UNKNOWN

    # -- introspection (emulator only) -----------------------------------
    def snapshot(self) -> dict[str, dict[str, Any]]:
        """A copy of the port table, for tests and the sandbox."""
        with self.lock:
            return {u: dict(p) for u, p in self.ports.items()}
