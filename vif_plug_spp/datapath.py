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
import copy
import dataclasses
import fcntl
import os
import threading
from typing import Any, Callable, Iterator

from oslo_log import log as logging

from vif_plug_spp import sppctl

LOG = logging.getLogger(__name__)

__all__ = ['Vhost', 'VfLayout', 'layouts', 'Datapath', 'WiringError',
           'LockError',
           'classifier_type', 'host_lock', 'UNUSE']

UNUSE = 'unuse'
CLASSIFIER_TYPES = ('classifier_mac', 'classifier')


class WiringError(Exception):
    """A wiring change failed (and was rolled back where possible)."""

    def __init__(self, message: str, cause: Exception | None = None,
                 rolled_back: bool = True) -> None:
        self.cause = cause
        self.rolled_back = rolled_back
        super().__init__(message)


@dataclasses.dataclass(frozen=True)
class Vhost:
    vhost_id: int
    sec_id: int
    physnet: str
    to_vm_comp: str      # classifier (tx side toward the VM)
    to_vm_port: str      # ring:2N / vhost:N: classifier entry, VLAN del
    from_vm_comp: str    # merger (rx side from the VM)
    from_vm_port: str    # ring:2N+1 / vhost:N: VLAN add
    feed_comp: str | None = None   # forward_N_tx (as merge) -> vhost:N
    drain_comp: str | None = None  # vhost:N -> forward_N_rx


@dataclasses.dataclass
class VfLayout:
    """The wanted components of one spp_vf (``vf[sec_id-1]``)."""

    sec_id: int
    physnet: str
    components: list[dict[str, Any]]
    vhosts: dict[int, Vhost]


def _vhost_num(port: str) -> int | None:
    kind, _, num = port.partition(':')
    return int(num) if kind == 'vhost' and num.isdigit() else None


def _layout(sec_id: int, vf: dict[str, Any]) -> VfLayout:
    comps = copy.deepcopy(vf.get('components') or [])
    by_rx: dict[str, dict[str, Any]] = {}
    by_tx: dict[str, dict[str, Any]] = {}
    for comp in comps:
        for port in comp.get('rx_port', []):
            by_rx[port] = comp
        for port in comp.get('tx_port', []):
            by_tx[port] = comp
    vhosts: dict[int, Vhost] = {}
    for comp in comps:
        for port in comp.get('tx_port', []):
            num = _vhost_num(port)
            if num is None:
                continue
            if comp['type'] == 'forward':
                comp['type'] = 'merge'   # as networking-spp does (TaaS)
            feed: str | None = None
            if comp['type'] == 'merge':
                to_port = comp['rx_port'][0]
                to_comp = by_tx[to_port]['name']
                feed = comp['name']
            else:
                to_port, to_comp = port, comp['name']
            rx_comp = by_rx.get(port)
            if rx_comp is None:
                raise ValueError('vhost:%d has no component receiving '
                                 'from it in vf %d' % (num, sec_id))
            drain: str | None = None
            if rx_comp['type'] == 'forward':
                from_port = rx_comp['tx_port'][0]
                from_comp = by_rx[from_port]['name']
                drain = rx_comp['name']
            else:
                from_port, from_comp = port, rx_comp['name']
            vhosts[num] = Vhost(num, sec_id, vf['physical_network'],
                                to_comp, to_port, from_comp, from_port,
                                feed, drain)
    return VfLayout(sec_id, vf['physical_network'], comps, vhosts)


def layouts(configuration: dict[str, Any]) -> list[VfLayout]:
    """One layout per ``vf`` entry; sec_id = position + 1."""
    return [_layout(i + 1, vf)
            for i, vf in enumerate(configuration.get('vf') or [])]


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


class LockError(WiringError):
    """The host lock file cannot be opened."""


@contextlib.contextmanager
def host_lock(path: str | None) -> Iterator[None]:
    """Serialise wiring on one host across processes (plugin in
    nova-compute and the agent) with an advisory lock file.

    The file is made group/world writable when this process creates it:
    nova-compute and the agent usually run as different users.
    """
    if not path:
        yield
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW |
                     os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise LockError('cannot open the host lock file %s (%s); set '
                        'lock_path to a file both nova-compute and '
                        'spp-agent may write' % (path, exc.strerror), exc)
    try:
        if os.fstat(fd).st_uid == os.geteuid():
            os.fchmod(fd, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class _Undo:
    """Undo steps of one change, run in reverse order on failure."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, Callable[[], None]]] = []

    def add(self, what: str, step: Callable[[], None]) -> None:
        self.steps.append((what, step))

    def run(self) -> bool:
        ok = True
        for what, step in reversed(self.steps):
            try:
                step()
            except sppctl.SppCtlError as exc:
                ok = False
                LOG.error('Rollback step "%s" failed: %s', what, exc)
        return ok


class Datapath:
    """Wire and unwire vhost ports of one host's spp_vf processes."""

    def __init__(self, client: sppctl.SppCtlClient,
                 configuration: dict[str, Any],
                 lock_path: str | None = None) -> None:
        self.client = client
        self.layouts = layouts(configuration)
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
            except sppctl.SppCtlError:
                # SPP >= 19.08 renamed classifier_mac to classifier.
                if i == len(order) - 1:
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

    def mac_of(self, vhost_id: int) -> tuple[int | None, str] | None:
        """(vlan, MAC) the classifier sends to this vhost, or None."""
        vh = self.vhost(vhost_id)
        return classifier_entry(self.client.vf_status(vh.sec_id),
                                vh.to_vm_port)

    # -- wiring steps -----------------------------------------------------
    def _set_op(self, undo: _Undo, vh: Vhost, comp: str, port: str,
                side: str, want: dict[str, Any],
                have: dict[str, Any] | None) -> None:
        if _same_op(have, want):
            return
        cli, sec = self.client, vh.sec_id
        old = have if have is not None else None

        def restore() -> None:
            cli.detach(sec, comp, port, side)
            if old is not None:
                cli.attach(sec, comp, port, side, _request_op(old))
        if want['operation'] == 'add' and have is not None:
            # spp_vf lets add_vlantag override an attached port in one
            # step; no moment without the port.
            cli.attach(sec, comp, port, side, want)
        else:
            cli.detach(sec, comp, port, side)
            undo.add('re-attach %s %s to %s' % (port, side, comp), restore)
            cli.attach(sec, comp, port, side, _request_op(want))
            return
        undo.add('restore VLAN op of %s %s on %s' % (port, side, comp),
                 restore)

    def _apply(self, what: str, vh: Vhost,
               body: Callable[[_Undo], bool]) -> bool:
        undo = _Undo()
        try:
            return body(undo)
        except sppctl.SppCtlError as exc:
            ok = undo.run()
            raise WiringError(
                'Could not %s vhost:%d (spp_vf %d): %s%s' % (
                    what, vh.vhost_id, vh.sec_id, exc,
                    '; rolled back' if ok else
                    '; rollback incomplete, will be repaired on the next '
                    'plug or agent resync'), exc, ok)

    def plug(self, vhost_id: int, mac: str, vlan_id: int | None) -> bool:
        """Wire ``mac`` (and VLAN) to the vhost; False if already wired."""
        vh = self.vhost(vhost_id)
        mac = mac.lower()

        def body(undo: _Undo) -> bool:
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
                cli.classifier(sec, 'add', mac, vh.to_vm_port, vlan_id)
            return True

        with self.locked():
            return self._apply('plug', vh, body)

    def unplug(self, vhost_id: int) -> bool:
        """Remove the classifier entry and VLAN ops; False if none."""
        vh = self.vhost(vhost_id)
        none = {'operation': 'none', 'id': 0, 'pcp': 0}

        def body(undo: _Undo) -> bool:
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
