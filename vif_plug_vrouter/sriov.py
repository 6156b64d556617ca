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
"""Unprivileged SR-IOV discovery: VF -> PF -> switchdev representor.

Everything is read from sysfs below a configurable root (``/sys`` on a
real host, a generated tree in tests), so nothing here needs privileges
and nothing here changes the host.

Costs: what is stable per PF (its function number, uplink netdev, switch
id and the VF address -> ``virtfnN`` index map) is cached and revalidated
with one read of ``sriov_numvfs``.  Representor names are cached too but
checked on every use (two small reads), because plugging renames them; a
stale entry costs one pass over the PF's own netdevs, and only a
representor that is not a child of its PF's PCI device costs one pass
over all netdevs of the host.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading

from oslo_log import log as logging

from os_vif_accel import validate

from vif_plug_vrouter import exception

LOG = logging.getLogger(__name__)

__all__ = ['Representor', 'SriovInventory', 'parse_port_name']

_VIRTFN = re.compile(r'^virtfn(\d+)$')
_UPLINK = re.compile(r'^p(\d+)$')
# pfXvfY (mlx5, nfp with several PFs), vfY, or a bare VF number.
_VF_PORT = re.compile(r'^(?:pf(\d+))?vf(\d+)$|^(\d+)$')


def parse_port_name(name: str | None) -> tuple[int | None, int] | None:
    """Split a representor's ``phys_port_name`` into (PF, VF) numbers.

    Returns None for names that do not describe a VF representor (the
    uplink ``p0``, the PF representor ``pf0``, controller-prefixed names
    of an external host ``c1pf0vf1``).  The PF number is None when the
    driver does not include it.
    """
    if not name:
        return None
    match = _VF_PORT.match(name)
    if not match:
        return None
    pf, vf, bare = match.groups()
    if bare is not None:
        return None, int(bare)
    return (int(pf) if pf is not None else None), int(vf)


def _read(path: str) -> str | None:
    """Read one sysfs attribute; None if absent or unsupported.

    A netdev without switchdev support answers EOPNOTSUPP to a read of
    ``phys_switch_id``: that is an answer, not an error.
    """
    try:
        with open(path, 'r', encoding='ascii', errors='replace') as f:
            return f.read().strip()
    except OSError:
        return None


def _link_name(path: str) -> str | None:
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


@dataclasses.dataclass(frozen=True)
class Representor:
    """Where a VF's representor is; every field is needed for plugging."""

    vf: str
    vf_index: int
    pf: str
    pf_ifname: str
    switch_id: str
    ifname: str


@dataclasses.dataclass
class _PF:
    address: str
    function: int
    numvfs: str | None
    ifname: str
    switch_id: str
    vfs: dict[str, int]
    reps: dict[int, str] = dataclasses.field(default_factory=dict)


class SriovInventory:
    """Look up VFs, PFs and representors below ``root`` (``/sys``).

    Thread-safe; one instance per plugin.  Raises subclasses of
    :class:`vif_plug_vrouter.exception.SriovError` with the reason.
    """

    def __init__(self, root: str = '/sys') -> None:
        self.root = validate.directory(root, 'sysfs_root')
        self._devices = os.path.join(self.root, 'bus', 'pci', 'devices')
        self._net = os.path.join(self.root, 'class', 'net')
        self._pfs: dict[str, _PF] = {}
        self._lock = threading.Lock()

    # -- PCI ---------------------------------------------------------------
    def device_dir(self, address: str) -> str:
        return os.path.join(self._devices, address)

    def _not_found(self, address: str, reason: str) -> Exception:
        return exception.PciDeviceNotFound(address=address, root=self.root,
                                           reason=reason)

    def pf_of(self, vf: str) -> str:
        """PCI address of the PF of ``vf`` (its ``physfn`` link)."""
        vf = validate.pci_address(vf, 'representor_address')
        if not os.path.isdir(self.device_dir(vf)):
            raise self._not_found(vf, 'no such PCI device')
        pf = _link_name(os.path.join(self.device_dir(vf), 'physfn'))
        if pf is None:
            raise self._not_found(vf, 'not an SR-IOV virtual function (no '
                                      'physfn link)')
        return validate.pci_address(pf, 'physfn')

    def vf_driver(self, vf: str) -> str | None:
        """Driver the VF is bound to, None if unbound."""
        return _link_name(os.path.join(self.device_dir(vf), 'driver'))

    def vf_driver_override(self, vf: str) -> str | None:
        value = _read(os.path.join(self.device_dir(vf), 'driver_override'))
        return None if value in (None, '', '(null)') else value

    # -- PF ----------------------------------------------------------------
    def _vf_map(self, pf: str) -> dict[str, int]:
        """``{vf address: N}`` from the PF's ``virtfnN`` links.

        The link's basename is compared exactly; a substring or unescaped
        regex search would confuse 0000:08:00.1 with 0000:08:00.10 or
        0000:08:0011.
        """
        vfs = {}
        pf_dir = self.device_dir(pf)
        for entry in _listdir(pf_dir):
            match = _VIRTFN.match(entry)
            if match:
                target = _link_name(os.path.join(pf_dir, entry))
                if target is not None:
                    vfs[target] = int(match.group(1))
        return vfs

    def _uplink(self, pf: str, vf: str) -> tuple[str, str]:
        """(netdev, switch id) of the PF, preferring the uplink ``pN``.

        In switchdev mode some drivers list VF representors under the PF
        too; the uplink representor is the one whose port name is pN.
        """
        candidates = []
        net_dir = os.path.join(self.device_dir(pf), 'net')
        for name in _listdir(net_dir):
            switch_id = _read(os.path.join(net_dir, name, 'phys_switch_id'))
            if not switch_id:
                continue
            port = _read(os.path.join(net_dir, name, 'phys_port_name'))
            rank = 0 if port and _UPLINK.match(port) else (
                2 if parse_port_name(port) else 1)
            candidates.append((rank, name, switch_id))
        if not candidates:
            if not _listdir(net_dir):
                raise self._not_found(pf, 'the PF of VF %s has no network '
                                          'device' % vf)
            raise exception.NotSwitchdev(pf=pf, vf=vf)
        candidates.sort()
        return candidates[0][1], candidates[0][2]

    def _pf_info(self, pf: str, vf: str) -> _PF:
        numvfs = _read(os.path.join(self.device_dir(pf), 'sriov_numvfs'))
        info = self._pfs.get(pf)
        if info is not None and info.numvfs == numvfs and vf in info.vfs:
            return info
        ifname, switch_id = self._uplink(pf, vf)
        info = _PF(address=pf, function=int(pf.rsplit('.', 1)[1]),
                   numvfs=numvfs, ifname=ifname, switch_id=switch_id,
                   vfs=self._vf_map(pf))
        self._pfs[pf] = info
        return info

    # -- representors -----------------------------------------------------
    def _port_of(self, base: str, name: str, info: _PF) -> int | None:
        """The VF number ``name`` represents on ``info``'s PF, or None."""
        if _read(os.path.join(base, name, 'phys_switch_id')) != \
                info.switch_id:
            return None
        parsed = parse_port_name(
            _read(os.path.join(base, name, 'phys_port_name')))
        if parsed is None:
            return None
        pf_num, vf_num = parsed
        if pf_num is not None:
            return vf_num if pf_num == info.function else None
        device = os.path.join(base, name, 'device')
        parent = os.path.basename(os.path.realpath(device)) \
            if os.path.islink(device) else None
        if parent is not None and ':' in parent and parent != info.address:
            # A representor parented by another PF on the same switch.
            return None
        return vf_num

    def _scan(self, base: str, names: list[str], info: _PF) -> None:
        for name in names:
            vf_num = self._port_of(base, name, info)
            if vf_num is not None:
                info.reps[vf_num] = name

    def _find(self, info: _PF, index: int) -> str | None:
        cached = info.reps.get(index)
        if cached is not None and \
                self._port_of(self._net, cached, info) == index:
            return cached
        info.reps.clear()
        pf_net = os.path.join(self.device_dir(info.address), 'net')
        self._scan(pf_net, _listdir(pf_net), info)
        if index not in info.reps:
            self._scan(self._net, _listdir(self._net), info)
        return info.reps.get(index)

    def representor(self, vf: str) -> Representor:
        """Find the representor netdev of ``vf``."""
        pf = self.pf_of(vf)
        with self._lock:
            info = self._pf_info(pf, vf)
            index = info.vfs.get(vf)
            if index is None:
                raise self._not_found(vf, 'PF %s has no virtfn link to it'
                                          % pf)
            ifname = self._find(info, index)
            if ifname is None:
                raise exception.RepresentorNotFound(
                    vf=vf, pf=pf, index=index, switch_id=info.switch_id)
            return Representor(vf=vf, vf_index=index, pf=pf,
                               pf_ifname=info.ifname,
                               switch_id=info.switch_id, ifname=ifname)
