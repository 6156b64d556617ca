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
import time
import zlib
from typing import Any, Callable, TypeVar

from os_vif_accel import lazy

from vif_plug_vrouter import agent_client
from vif_plug_vrouter import constants
from vif_plug_vrouter import exception
from vif_plug_vrouter import port_files
from vif_plug_vrouter import record as record_mod

# Created on first use: the vrouter-port-control CLI imports this module
# and must not pay for oslo.log on its success path.
LOG = lazy.getLogger(__name__)

__all__ = ['Outcome', 'PortManager']

T = TypeVar('T')
_Saved = tuple[dict[str, Any], dict[str, Any]]

# Plug and unplug of one port must not interleave (Nova may unplug while a
# slow plug is still retrying); striped locks bound the memory used.
_LOCKS = [threading.Lock() for _ in range(64)]


def _lock(port_id: str) -> threading.Lock:
    return _LOCKS[zlib.crc32(port_id.encode()) % len(_LOCKS)]


_ESXI = constants.PORT_TYPES['ESXiPort']


def _keep_link_state(rec: dict[str, Any],
                     prev: tuple[dict[str, Any], dict[str, Any]] | None
                     ) -> dict[str, Any]:
    """Re-adding an ESXi port must not reset the link enabled earlier.

    Callers (the CLI, the vCenter manager) re-add without a link state;
    the one recorded in the port file by enable/disable is kept, so the
    re-add is not seen as a change and the agent replays the same state.
    """
    if (prev is None or 'link-state' in rec or rec['type'] != _ESXI or
            'link-state' not in prev[0]):
        return rec
    return dict(rec, **{'link-state': prev[0]['link-state']})


class Outcome(enum.Enum):
    """What :meth:`PortManager.add` did."""

    #: the agent accepted the port (new, changed or unchanged)
    ADDED = 'added'
    #: the agent was unreachable; the file stays for the agent to replay
    DEFERRED = 'deferred'


class PortManager:
    """Add/remove ports through an agent client and a port-file store."""

    def __init__(self, agent: agent_client.AgentClient,
                 store: port_files.PortFileStore | None,
                 retry_interval: float = 10.0) -> None:
        self.agent = agent
        self.store = store
        self.retry_interval = retry_interval
        #: ports persisted while the agent was down, re-added by a
        #: background thread as soon as the agent answers again
        self.deferred: dict[str, dict[str, Any]] = {}
        self._deferred_lock = threading.Lock()
        self._retry_thread: threading.Thread | None = None

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

    def read(self, port_id: str) -> _Saved | None:
        """``(record, extra)`` from the port's file; None if it has none."""
        if self.store is None:
            return None
        return self._file('read', port_id, self.store.read, port_id)

    def _rollback(self, port_id: str, prev: _Saved | None,
                  replaced: bool) -> None:
        """Put the file, and the agent if we replaced the port, back."""
        if self.store is not None:
            try:
                if prev is None:
                    self.store.remove(port_id)
                else:
                    self.store.write(prev[0], prev[1])
            except Exception:  # noqa: H201 - never mask the original error
                LOG.exception('Could not roll back port file %s',
                              self.store.path(port_id))
        if replaced and prev is not None:
            try:
                self.agent.add_port(prev[0])
            except exception.VrouterError as exc:
                LOG.warning('Could not restore the previous state of port '
                            '%s in the agent: %s', port_id, exc)

    def add(self, rec: dict[str, Any], extra: dict[str, Any] | None = None,
            defer_if_agent_down: bool = False,
            before_agent: Callable[[], None] | None = None) -> Outcome:
        """Persist and add one port; idempotent.

        Re-adding identical data rewrites nothing and re-POSTs the record
        (the agent treats that as a refresh).  A change the agent must
        act on (tap name, MAC, IPs, network, mode...) is applied with
        DELETE + POST because the agent silently keeps the old values of
        a known port otherwise; cosmetic changes (display name, project)
        only rewrite the file, so upgrades do not bounce running ports.

        ``before_agent`` runs once the file is written and before the
        POST (e.g. to prepare a SmartNIC representor whose original state
        ``extra`` records); if it raises, the file is rolled back.
        """
        port_id = rec['id']
        extra = extra or {}
        with _lock(port_id):
            prev = self.read(port_id)
            rec = _keep_link_state(rec, prev)
            replace = self._drop_if_changed(port_id, prev, rec)
            try:
                if self.store is not None and prev != (rec, extra):
                    self._file('write', port_id, self.store.write, rec,
                               extra)
                if before_agent is not None:
                    before_agent()
                self.agent.add_port(rec)
            except exception.AgentUnreachable as exc:
                if defer_if_agent_down and self.store is not None:
                    self._defer(rec, exc)
                    return Outcome.DEFERRED
                self._rollback(port_id, prev, replace)
                raise
            except Exception:
                self._rollback(port_id, prev, replace)
                raise
            self._undefer(port_id)
            return Outcome.ADDED

    def _drop_if_changed(self, port_id: str,
                         prev: _Saved | None,
                         rec: dict[str, Any]) -> bool:
        """DELETE a known port the agent must re-add; True if it must.

        The agent silently keeps the old values of a port it knows for
        the same instance (port_subscribe_table.cc 215-234, see
        ``record._DATAPATH_KEYS``), so a change it acts on needs DELETE +
        POST (see :meth:`add`).
        """
        if prev is None or not record_mod.needs_readd(prev[0], rec):
            return False
        LOG.info('Port %s changed (%s); replacing it in the agent',
                 port_id, ', '.join(record_mod.changed(prev[0], rec)))
        try:
            self.agent.delete_port(port_id)
        except exception.AgentUnreachable:
            pass  # the agent will replay the new file
        return True

    # -- ports added while the agent was down ------------------------------
    def _defer(self, rec: dict[str, Any], exc: Exception) -> None:
        assert self.store is not None
        LOG.warning('Port %s (%s) is persisted in %s but NOT active yet: '
                    '%s. It is added as soon as the agent answers (retried '
                    'every %.0fs) or when the agent replays its port files.',
                    rec['id'], rec['system-name'],
                    self.store.path(rec['id']), exc, self.retry_interval)
        with self._deferred_lock:
            self.deferred[rec['id']] = rec
            if self._retry_thread is None:
                self._retry_thread = threading.Thread(
                    target=self._retry_deferred, name='vrouter-deferred',
                    daemon=True)
                self._retry_thread.start()

    def _undefer(self, port_id: str) -> None:
        with self._deferred_lock:
            self.deferred.pop(port_id, None)

    def _retry_deferred(self) -> None:
        """Re-add deferred ports until none is left.

        The kernel-mode agent skips port files whose TAP does not exist
        when it starts, so a port deferred before libvirt created its TAP
        would otherwise stay inactive until nova-compute restarts.
        """
        while True:
            time.sleep(self.retry_interval)
            with self._deferred_lock:
                pending = list(self.deferred.values())
                if not pending:
                    self._retry_thread = None
                    return
            for rec in pending:
                if not self._retry_one(rec):
                    break  # still down: wait for the next round

    def _retry_one(self, rec: dict[str, Any]) -> bool:
        """Re-add one deferred port; False while the agent is down."""
        with _lock(rec['id']):
            with self._deferred_lock:
                if self.deferred.get(rec['id']) is not rec:
                    return True  # plugged again or unplugged meanwhile
            try:
                self.agent.add_port(rec)
            except exception.AgentUnreachable:
                return False
            except exception.VrouterError as exc:
                LOG.error('Deferred port %s was refused by the agent: %s',
                          rec['id'], exc)
            else:
                LOG.info('Deferred port %s (%s) added to the agent',
                         rec['id'], rec['system-name'])
            self._undefer(rec['id'])
            return True

    def set_link(self, port_id: str, up: bool) -> bool:
        """Bring an ESXi (type 2) port's link up or down; file first.

        The new ``link-state`` is written to the port file before the
        ``PUT`` so that an agent restart replays it, and rolled back if
        the agent refuses.  A port file of another type is refused here
        (the agent would refuse it too) without writing or sending.
        Returns False if the agent was unreachable but the file holds
        the new state, which the agent applies when it starts.
        """
        with _lock(port_id):
            prev = self.read(port_id)
            if prev is not None and prev[0]['type'] != _ESXI:
                raise exception.InvalidPort(
                    port_id=port_id, field='type', value=prev[0]['type'],
                    reason='only ESXi ports (type 2) have a link state '
                           'that can be enabled or disabled')
            state = 1 if up else 0
            changed = prev is not None and \
                prev[0].get('link-state') != state
            if changed:
                assert self.store is not None and prev is not None
                self._file('write', port_id, self.store.write,
                           dict(prev[0], **{'link-state': state}), prev[1])
            try:
                self.agent.set_link(port_id, up)
            except exception.AgentUnreachable as exc:
                if prev is not None:
                    LOG.warning('Link of port %s set to %s in %s only: %s',
                                port_id, state, self.store and
                                self.store.path(port_id), exc)
                    return False
                raise
            except exception.VrouterError:
                if changed:
                    self._rollback(port_id, prev, False)
                raise
            return True

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
        self._undefer(port_id)
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
