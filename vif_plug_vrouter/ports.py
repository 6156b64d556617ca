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
"""Adding and removing one agent port: port file first, then the agent.

Shared by the os-vif plugin and the ``vrouter-port-control`` CLI.  The
order makes an agent restart converge: the file is written (atomically)
before the POST, so a port the agent accepted is always replayed; it is
removed after the DELETE, so a port is never replayed after its removal
was confirmed.  Failures roll the file back to what was there before.
"""

from __future__ import annotations

import enum
import threading
import zlib
from typing import Any, Callable, TypeVar

from oslo_log import log as logging

from vif_plug_vrouter import agent_client
from vif_plug_vrouter import exception
from vif_plug_vrouter import port_files

LOG = logging.getLogger(__name__)

__all__ = ['Outcome', 'PortManager']

T = TypeVar('T')

# Plug and unplug of one port must not interleave (Nova may unplug while a
# slow plug is still retrying); striped locks bound the memory used.
_LOCKS = [threading.Lock() for _ in range(64)]


def _lock(port_id: str) -> threading.Lock:
    return _LOCKS[zlib.crc32(port_id.encode()) % len(_LOCKS)]


class Outcome(enum.Enum):
    """What :meth:`PortManager.add` did."""

    #: the agent accepted the port (new, changed or unchanged)
    ADDED = 'added'
    #: the agent was unreachable; the file stays for the agent to replay
    DEFERRED = 'deferred'


class PortManager:
    """Add/remove ports through an agent client and a port-file store."""

    def __init__(self, agent: agent_client.AgentClient,
                 store: port_files.PortFileStore | None) -> None:
        self.agent = agent
        self.store = store

    def _file(self, operation: str, port_id: str,
              func: Callable[..., T], *args: Any) -> T:
        """Run a port-file operation, naming the file in any failure."""
        try:
            return func(*args)
        except (OSError, ValueError) as exc:
            assert self.store is not None
            raise exception.PortFileError(
                operation=operation, path=self.store.path(port_id),
                port_id=port_id, reason=str(exc))

    def _restore(self, port_id: str,
                 prev: tuple[dict[str, Any], dict[str, Any]] | None) -> None:
        if self.store is None:
            return
        try:
            if prev is None:
                self.store.remove(port_id)
            else:
                self.store.write(prev[0], prev[1])
        except Exception:  # noqa: H201 - never mask the original error
            LOG.exception('Could not roll back port file %s',
                          self.store.path(port_id))

    def add(self, rec: dict[str, Any], extra: dict[str, Any] | None = None,
            defer_if_agent_down: bool = False,
            before_agent: Callable[[], None] | None = None) -> Outcome:
        """Persist and add one port; idempotent.

        Re-adding identical data rewrites nothing and re-POSTs the record
        (the agent treats that as a refresh).  Changed data (tap name,
        MAC, IPs...) is applied with DELETE + POST because the agent
        silently keeps the old values of a known port otherwise.

        ``before_agent`` runs once the file is written and before the
        POST (e.g. to prepare a SmartNIC representor whose original state
        ``extra`` records); if it raises, the file is rolled back.
        """
        port_id = rec['id']
        extra = extra or {}
        with _lock(port_id):
            prev = (self._file('read', port_id, self.store.read, port_id)
                    if self.store else None)
            if prev is not None and prev[0] != rec:
                LOG.info('Port %s changed (%s); replacing it in the agent',
                         port_id, ', '.join(sorted(
                             k for k in rec if prev[0].get(k) != rec[k])))
                try:
                    self.agent.delete_port(port_id)
                except exception.AgentUnreachable:
                    pass  # the agent will replay the new file
            if self.store is not None and (prev is None or prev != (rec,
                                                                   extra)):
                self._file('write', port_id, self.store.write, rec, extra)
            if before_agent is not None:
                try:
                    before_agent()
                except Exception:
                    self._restore(port_id, prev)
                    if prev is not None and prev[0] != rec:
                        self._readd(prev[0])
                    raise
            try:
                self.agent.add_port(rec)
            except exception.AgentUnreachable as exc:
                if defer_if_agent_down and self.store is not None:
                    LOG.warning('Port %s (%s) is persisted in %s but NOT '
                                'active: %s. The agent adds it from the '
                                'port file when it starts.',
                                port_id, rec['system-name'],
                                self.store.path(port_id), exc)
                    return Outcome.DEFERRED
                self._restore(port_id, prev)
                raise
            except exception.VrouterError:
                self._restore(port_id, prev)
                if prev is not None and prev[0] != rec:
                    self._readd(prev[0])
                raise
            return Outcome.ADDED

    def _readd(self, rec: dict[str, Any]) -> None:
        try:
            self.agent.add_port(rec)
        except exception.VrouterError as exc:
            LOG.warning('Could not restore the previous state of port %s '
                        'in the agent: %s', rec['id'], exc)

    def remove(self, port_id: str,
               before_removal: Callable[[], None] | None = None) -> bool:
        """Delete one port from the agent, then its file; idempotent.

        An unreachable agent does not fail the removal: the file is
        removed so the agent will not bring the port back when it starts.
        ``before_removal`` runs first (e.g. to restore a SmartNIC
        representor from the state kept in the port file); if it raises,
        nothing is removed - the agent deletes the port file itself on
        DELETE - so that a retried unplug still finds that state.
        Returns False if the agent could not be told.
        """
        with _lock(port_id):
            if before_removal is not None:
                before_removal()
            told = True
            try:
                self.agent.delete_port(port_id)
            except exception.AgentUnreachable as exc:
                told = False
                LOG.warning('Removing port %s while the agent is '
                            'unreachable (%s); it will not be replayed.',
                            port_id, exc)
            if self.store is not None:
                self._file('remove', port_id, self.store.remove, port_id)
            return told
