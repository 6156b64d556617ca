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
"""spp_vf wiring shared by the os-vif plugin and the agent.

Each operation starts from spp_vf's own status (GET ``/v1/vfs/<id>``), not
from memory: the plugin (inside nova-compute) and the agent both change
the same processes, and either may have restarted.  Changes are made step
by step through spp-ctl; every step that succeeded is undone in reverse
order when a later one fails, so spp_vf never keeps half a port (a
classifier entry without its VLAN strip, a port detached from its
component).

The vhost model follows networking-spp (reference §5.3): a vhost's
"to VM" side is the port the classifier sends to (``ring:2N`` or
``vhost:N``) - its classifier entry carries the VM's MAC and, on VLAN
networks, that port strips the tag (``del``); the "from VM" side is the
port the merger receives from (``ring:2N+1`` or ``vhost:N``), which adds
the tag.  A ``forward`` component whose tx is a vhost is created as
``merge`` exactly like networking-spp does, so both can drive one host.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterator

from oslo_log import log as logging

from vif_plug_spp import hostlock
from vif_plug_spp import layout as layout_mod
from vif_plug_spp import sppctl
from vif_plug_spp import undo as undo_mod

LOG = logging.getLogger(__name__)

# Re-exported: callers use them as datapath.*.
WiringError = hostlock.WiringError
LockError = hostlock.LockError
host_lock = hostlock.host_lock
Vhost = layout_mod.Vhost
VfLayout = layout_mod.VfLayout
layouts = layout_mod.layouts
_vhost_num = layout_mod.vhost_num
# A component name no layout uses: stopping it changes nothing but runs
# spp_vf's flush, which tells whether a failed change is stuck.
_PROBE = 'os-vif-spp-flush-probe'

__all__ = ['Vhost', 'VfLayout', 'layouts', 'Datapath', 'WiringError',
           'LockError',
           'classifier_type', 'host_lock', 'UNUSE']

UNUSE = 'unuse'
CLASSIFIER_TYPES = ('classifier_mac', 'classifier')


def classifier_type(status: dict[str, Any]) -> str | None:
    """The classifier type name this spp_vf uses, if it shows one."""
    for comp in status.get('components') or []:
        if comp.get('type') in CLASSIFIER_TYPES:
            return str(comp['type'])
    return None


def _used(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c['name']: c for c in status.get('components') or []
            if c.get('type') != UNUSE and 'name' in c}


def _ports(comp: dict[str, Any], side: str) -> dict[str, dict[str, Any]]:
    return {p['port']: p.get('vlan') or {}
            for p in comp.get(side + '_port') or []}


def classifier_entry(status: dict[str, Any], port: str
                     ) -> tuple[int | None, str] | None:
    """(vlan id or None, lower-case MAC) of the entry sending to ``port``."""
    for entry in status.get('classifier_table') or []:
        if entry.get('port') != port:
            continue
        value = str(entry.get('value', ''))
        if entry.get('type') == 'vlan' and '/' in value:
            vid, _, mac = value.partition('/')
            return int(vid), mac.lower().replace('-', ':')
        return None, value.lower().replace('-', ':')
    return None


def _vlan_op(status: dict[str, Any], comp: str, port: str,
             side: str) -> dict[str, Any] | None:
    """The VLAN op of ``port`` on ``comp``; None if not attached there."""
    found = _used(status).get(comp)
    if found is None:
        return None
    return _ports(found, side).get(port)


def _same_op(have: dict[str, Any] | None, want: dict[str, Any]) -> bool:
    if have is None:
        return False
    op = have.get('operation', 'none')
    if op != want['operation']:
        return False
    return op != 'add' or int(have.get('id', -1)) == want['id']


class Datapath:
    """Wire and unwire vhost ports of one host's spp_vf processes."""

    def __init__(self, client: sppctl.SppCtlClient,
                 configuration: dict[str, Any],
                 lock_path: str | None = None,
                 num_rings: int | None = None) -> None:
        self.client = client
        self.layouts = layouts(configuration)
        # spp_primary's -n; ring:N at or beyond it poisons spp_vf.
        self.num_rings = num_rings if num_rings is not None else \
            layout_mod.ring_count(configuration)
        self.lock_path = lock_path
        self._lock = threading.RLock()
        self._ctype: dict[int, str] = {}

    # -- lookup -------------------------------------------------------------
    def vhost(self, vhost_id: int) -> Vhost:
        for layout in self.layouts:
            if vhost_id in layout.vhosts:
                return layout.vhosts[vhost_id]
        raise WiringError('vhost %d is not in this host\'s SPP '
                          'configuration' % vhost_id)

    def layout(self, sec_id: int) -> VfLayout:
        return self.layouts[sec_id - 1]

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with self._lock, host_lock(self.lock_path):
            yield

    # -- components ---------------------------------------------------------
    def _start(self, sec_id: int, comp: dict[str, Any]) -> None:
        ctype = comp['type']
        if ctype not in CLASSIFIER_TYPES:
            self.client.start_component(sec_id, comp['name'], comp['core'],
                                        ctype)
            return
        known = self._ctype.get(sec_id)
        order = [known] if known else list(CLASSIFIER_TYPES)
        for i, name in enumerate(order):
            try:
                self.client.start_component(sec_id, comp['name'],
                                            comp['core'], name)
                self._ctype[sec_id] = name
                return
            except sppctl.SppCtlUnreachable:
                raise
            except sppctl.SppCtlError as exc:
                # SPP >= 18.08.4 renamed classifier_mac to classifier
                # (SPP commits 9b63754, 2c1470f).  An "error occur" is no
                # unknown type: the start was applied and its flush failed
                # (Corrections 2); report that one.
                if i == len(order) - 1 or undo_mod.occurred(exc):
                    raise

    def _missing_ports(self, comp: dict[str, Any],
                       have: dict[str, Any] | None, vhost_tx: bool
                       ) -> list[tuple[str, str]]:
        """Ports to attach, following networking-spp's repair rules so
        ports moved by TaaS are not stolen back.
        """
        want_tx, want_rx = comp.get('tx_port', []), comp.get('rx_port', [])
        if have is None:
            return [(p, 'tx') for p in want_tx] + [(p, 'rx') for p in want_rx]
        tx, rx = _ports(have, 'tx'), _ports(have, 'rx')
        ctype = comp['type']
        out: list[tuple[str, str]] = []
        if ctype in CLASSIFIER_TYPES:
            out += [(p, 'tx') for p in want_tx if p not in tx]
            if not rx:
                out += [(p, 'rx') for p in want_rx]
        elif ctype == 'forward' or (ctype == 'merge' and vhost_tx):
            if not tx and want_tx:
                out.append((want_tx[0], 'tx'))
            if not rx and want_rx:
                out.append((want_rx[0], 'rx'))
        else:  # merger toward the NIC
            if not tx and want_tx:
                out.append((want_tx[0], 'tx'))
            out += [(p, 'rx') for p in want_rx if p not in rx]
        return out

    def ensure_components(self, sec_id: int) -> dict[str, Any]:
        """Create missing components and attach missing ports; returns
        the (fresh) status.  Idempotent; callers hold :meth:`locked`.
        """
        found = layout_mod.problems(self.layout(sec_id), self.num_rings)
        if found:
            raise WiringError(
                'Refusing to wire spp_vf %d (spp-ctl %s), nothing was sent: '
                '%s. spp_vf 18.08 cannot undo such a change (it fails every '
                'later command or stops answering until restarted); fix the '
                'SPP configuration.' % (sec_id, self.client.url,
                                        '; '.join(found)))
        status = self.client.vf_status(sec_id)
        seen = classifier_type(status)
        if seen:
            self._ctype[sec_id] = seen
        used = _used(status)
        changed = False
        for comp in self.layout(sec_id).components:
            have = used.get(comp['name'])
            if have is None:
                self._start(sec_id, comp)
                changed = True
            vhost_tx = any(_vhost_num(p) is not None
                           for p in comp.get('tx_port', []))
            for port, side in self._missing_ports(comp, have, vhost_tx):
                self.client.attach(sec_id, comp['name'], port, side)
                changed = True
        return self.client.vf_status(sec_id) if changed else status

    def ensure_all(self) -> None:
        with self.locked():
            for layout in self.layouts:
                self.ensure_components(layout.sec_id)

    # -- wiring steps -----------------------------------------------------
    def _set_op(self, undo: undo_mod.Undo, vh: Vhost, comp: str, port: str,
                side: str, want: dict[str, Any],
                have: dict[str, Any] | None) -> None:
        if _same_op(have, want):
            return
        cli, sec = self.client, vh.sec_id

        def restore() -> None:
            cli.detach(sec, comp, port, side)
            if have is not None:
                cli.attach(sec, comp, port, side, _request_op(have))
        what = 'restore %s %s on %s' % (port, side, comp)
        if want['operation'] == 'add' and have is not None and \
                have.get('operation') == 'add':
            # spp_vf 18.08 command_proc.c 366-380 updates an existing
            # add_vlantag in place: no moment without the port.
            undo.attempt(what, lambda: cli.attach(sec, comp, port, side,
                                                  want), restore)
            return
        # Any other change (a plain port to add_vlantag included,
        # Corrections 1): detach, then attach with the op, as
        # networking-spp does (agent/spp_agent.py 331-336).  A detach
        # whose flush failed is still applied (Corrections 2): undo it too.
        undo.attempt(what, lambda: cli.detach(sec, comp, port, side),
                     restore)
        cli.attach(sec, comp, port, side, _request_op(want))

    def _apply(self, what: str, vh: Vhost,
               body: Callable[[undo_mod.Undo], bool]) -> bool:
        undo = undo_mod.Undo()
        try:
            return body(undo)
        except sppctl.SppCtlError as exc:
            ok = undo.run().rolled_back
            if (undo_mod.occurred(exc) or not ok) and self._stuck(vh.sec_id):
                raise WiringError(
                    'Could not %s vhost:%d: %s; spp_vf %d behind spp-ctl %s '
                    'now refuses every change: it keeps a change whose '
                    'flush failed and spp_vf 18.08 has no cancel, so '
                    'nothing could be rolled back. Restart spp_vf %d '
                    '(--client-id %d); the next plug or agent resync '
                    'rebuilds its wiring.' % (
                        what, vh.vhost_id, exc, vh.sec_id, self.client.url,
                        vh.sec_id, vh.sec_id), exc, False)
            raise WiringError(
                'Could not %s vhost:%d (spp_vf %d): %s%s' % (
                    what, vh.vhost_id, vh.sec_id, exc,
                    '; rolled back' if ok else
                    '; rollback incomplete, will be repaired on the next '
                    'plug or agent resync'), exc, ok)

    def _stuck(self, sec_id: int) -> bool:
        """Whether spp_vf fails every flush now: stopping a component
        that does not exist changes nothing but still flushes (SPP
        18.08.1 command_proc.c 294-297, 718-721).
        """
        try:
            self.client.stop_component(sec_id, _PROBE)
        except sppctl.SppCtlError as exc:
            return undo_mod.occurred(exc)
        return False

    def _add_entry(self, undo: undo_mod.Undo, vh: Vhost, mac: str,
                   vlan_id: int | None) -> None:
        cli, sec, port = self.client, vh.sec_id, vh.to_vm_port
        undo.attempt('remove classifier entry %s' % mac,
                     lambda: cli.classifier(sec, 'add', mac, port, vlan_id),
                     lambda: cli.classifier(sec, 'del', mac, port, vlan_id))

    def plug(self, vhost_id: int, mac: str, vlan_id: int | None) -> bool:
        """Wire ``mac`` (and VLAN) to the vhost; False if already wired."""
        vh = self.vhost(vhost_id)
        mac = mac.lower()

        def body(undo: undo_mod.Undo) -> bool:
            status = self.ensure_components(vh.sec_id)
            entry = classifier_entry(status, vh.to_vm_port)
            add_have = _vlan_op(status, vh.from_vm_comp, vh.from_vm_port,
                                'rx')
            del_have = _vlan_op(status, vh.to_vm_comp, vh.to_vm_port, 'tx')
            if vlan_id is None:
                add_want = del_want = {'operation': 'none', 'id': 0,
                                       'pcp': 0}
            else:
                add_want = {'operation': 'add', 'id': vlan_id, 'pcp': 0}
                del_want = {'operation': 'del', 'id': 0, 'pcp': 0}
            if entry == (vlan_id, mac) and _same_op(add_have, add_want) \
                    and _same_op(del_have, del_want):
                return False
            cli, sec = self.client, vh.sec_id
            if entry is not None and entry != (vlan_id, mac):
                old_vid, old_mac = entry
                cli.classifier(sec, 'del', old_mac, vh.to_vm_port, old_vid)
                undo.add('restore classifier entry %s' % old_mac,
                         lambda: cli.classifier(sec, 'add', old_mac,
                                                vh.to_vm_port, old_vid))
                LOG.warning('vhost:%d carried stale MAC %s (vlan %s); '
                            'replaced', vhost_id, old_mac, old_vid)
            self._set_op(undo, vh, vh.from_vm_comp, vh.from_vm_port, 'rx',
                         add_want, add_have)
            self._set_op(undo, vh, vh.to_vm_comp, vh.to_vm_port, 'tx',
                         del_want, del_have)
            if entry != (vlan_id, mac):
                self._add_entry(undo, vh, mac, vlan_id)
            return True

        with self.locked():
            return self._apply('plug', vh, body)

    def unplug(self, vhost_id: int) -> bool:
        """Remove the classifier entry and VLAN ops; False if none."""
        vh = self.vhost(vhost_id)
        none = {'operation': 'none', 'id': 0, 'pcp': 0}

        def body(undo: undo_mod.Undo) -> bool:
            status = self.client.vf_status(vh.sec_id)
            entry = classifier_entry(status, vh.to_vm_port)
            add_have = _vlan_op(status, vh.from_vm_comp, vh.from_vm_port,
                                'rx')
            del_have = _vlan_op(status, vh.to_vm_comp, vh.to_vm_port, 'tx')
            changed = False
            cli, sec = self.client, vh.sec_id
            if entry is not None:
                vid, mac = entry
                cli.classifier(sec, 'del', mac, vh.to_vm_port, vid)
                undo.add('restore classifier entry %s' % mac,
                         lambda: cli.classifier(sec, 'add', mac,
                                                vh.to_vm_port, vid))
                changed = True
            for comp, port, side, have in (
                    (vh.to_vm_comp, vh.to_vm_port, 'tx', del_have),
                    (vh.from_vm_comp, vh.from_vm_port, 'rx', add_have)):
                if have is not None and not _same_op(have, none):
                    self._set_op(undo, vh, comp, port, side, none, have)
                    changed = True
            return changed

        with self.locked():
            return self._apply('unplug', vh, body)


def _request_op(op: dict[str, Any]) -> dict[str, Any] | None:
    """The attach body's ``vlan`` for a status VLAN op (None: plain)."""
    kind = op.get('operation', 'none')
    if kind == 'add':
        return {'operation': 'add', 'id': int(op.get('id', 0)),
                'pcp': int(op.get('pcp', 0))}
    if kind == 'del':
        return {'operation': 'del'}
    return None
