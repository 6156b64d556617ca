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
"""Neutron's multiple port bindings (live migration), Neutron-free.

A port has one binding row per host (``ml2_port_bindings``); during a live
migration Nova creates an ``INACTIVE`` one on the destination
(``POST /ports/{id}/bindings``), activates it, then deletes the source's
(``DELETE /ports/{id}/bindings/{host}``), or deletes the destination's to
abort.  The driver keeps one SPP allocation per binding row: a vhost is
taken when a row is bound and given back when the row goes.

ML2 tells a mechanism driver about the first two steps (``bind_port``
for the new row, ``update_port_*commit`` at activation) but not about
the deletion of a row: ``Ml2Plugin.delete_port_binding`` only deletes it
(neutron 29.0.0 plugins/ml2/plugin.py 2970-2976).  :class:`PendingReleases`
therefore follows the deleted rows of each database transaction and
releases them once it has committed.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

__all__ = ['ACTIVE', 'INACTIVE', 'MAYBE_OURS', 'Row', 'bind_mode',
           'may_hold_keys', 'PendingReleases']

#: ``ml2_port_bindings.status`` values (neutron_lib constants).
ACTIVE = 'ACTIVE'
INACTIVE = 'INACTIVE'
#: vif types of a row no driver has bound.
_NOT_BOUND = ('unbound', 'binding_failed')
#: vif types of a row that may hold SPP keys.
MAYBE_OURS = ('vhostuser',) + _NOT_BOUND


@dataclasses.dataclass(frozen=True)
class Row:
    """What the driver needs of one ``ml2_port_bindings`` row."""

    host: str
    status: str
    vif_type: str


def bind_mode(rows: Iterable[Row], host: str, has_original: bool) -> str:
    """Whether ``bind_port`` for ``host`` binds the port's active binding
    (:data:`ACTIVE`) or a second, inactive one (:data:`INACTIVE`).

    ML2 hands ``bind_port`` a context without the binding's status.  An
    inactive binding is created by ``create_port_binding`` only, which
    persists its row after binding (plugin.py 2840-2844) and builds the
    context without an original port; so no row for the host, no original
    and a port bound on another host means the destination of a migration.
    An update that moved the port away while it was being bound has an
    original port: that binding is not wanted any more.
    """
    rows = list(rows)
    for row in rows:
        if row.host == host:
            return INACTIVE if row.status == INACTIVE else ACTIVE
    if not has_original and any(row.status == ACTIVE and
                                row.vif_type not in _NOT_BOUND
                                for row in rows):
        return INACTIVE
    return ACTIVE


def may_hold_keys(vif_type: str | None, drivers: set[str], ours: str) -> bool:
    """Whether releasing a binding must look at etcd.  One another
    driver completed (``drivers``: its binding levels; OVS-DPDK binds
    ``vhostuser`` too) holds no SPP keys.  An unbound or failed binding
    has no levels, nor has a context ML2 built without them: our keys
    may be there (a bind whose commit lost), so those are released.
    """
    return vif_type in MAYBE_OURS and (not drivers or ours in drivers)


class PendingReleases:
    """Releases the SPP allocation of binding rows a transaction deleted,
    after it committed: a rolled back deletion leaves a live binding, and
    no release may touch a binding that still exists.

    :param model: the binding row class (``ml2_port_bindings``).
    :param release: called with (host, port id) per deleted row that
        :func:`may_hold_keys`; errors are logged, never raised into the
        committing session.
    :param level_model: the binding level class
        (``ml2_port_binding_levels``): the drivers of the levels deleted
        in the same transaction (a port's cascade, neutron 29.0.0
        plugins/ml2/models.py 94-98; ``delete_port_binding``'s
        ``clear_binding_levels``, plugins/ml2/plugin.py 2970-2976) decide
        whether a row was ``ours``.
    """

    KEY = 'spp_deleted_bindings'
    LEVELS = 'spp_deleted_binding_levels'

    def __init__(self, model: Any, release: Callable[[str, str], None],
                 level_model: Any = None, ours: str = 'spp') -> None:
        self.model = model
        self.level_model = level_model
        self.ours = ours
        self.release = release

    def flushed(self, session: Any, _flush_context: Any = None) -> None:
        """Session ``after_flush``: note the binding rows and levels
        deleted.  Never raises: an error here would fail the caller's
        delete (the allocation is then left to the sweep).
        """
        rows, levels = [], []
        try:
            for obj in session.deleted:
                if isinstance(obj, self.model) and obj.host and \
                        obj.vif_type in MAYBE_OURS:
                    rows.append((obj.host, obj.port_id, obj.vif_type))
                elif self.level_model is not None and \
                        isinstance(obj, self.level_model):
                    levels.append((obj.host, obj.port_id, obj.driver))
        except Exception:
            LOG.exception('Could not read the deleted port bindings; their '
                          'SPP allocations are left to the sweep')
            return
        for key, found in ((self.KEY, rows), (self.LEVELS, levels)):
            if found:
                session.info.setdefault(key, []).extend(found)

    def committed(self, session: Any) -> None:
        """Session ``after_commit``: release what was deleted."""
        drivers: dict[tuple[str, str], set[str]] = {}
        for host, port_id, driver in session.info.pop(self.LEVELS, []):
            drivers.setdefault((host, port_id), set()).add(driver)
        for host, port_id, vif_type in dict.fromkeys(
                session.info.pop(self.KEY, [])):
            if not may_hold_keys(vif_type, drivers.get((host, port_id),
                                                       set()), self.ours):
                continue
            try:
                self.release(host, port_id)
            except Exception:   # never fail the caller's commit
                LOG.exception('Port %s: could not release its SPP binding '
                              'on %s after its binding was deleted',
                              port_id, host)

    def rolled_back(self, session: Any, _previous: Any = None) -> None:
        """Session ``after_soft_rollback``: any rollback, even of a
        savepoint, forgets the deletions (a leak is safer than releasing
        a binding that is still there).
        """
        session.info.pop(self.KEY, None)
        session.info.pop(self.LEVELS, None)
