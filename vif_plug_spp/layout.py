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
"""The vhost model of a host's SPP configuration, and the checks that
keep the wiring from sending spp_vf 18.08 a change it cannot undo.

spp_vf 18.08 has no cancel: a change whose flush fails stays in its
tables and fails every later command (reference Corrections 2), and a
component on the master lcore makes it stop answering (Corrections 4).
So what the configuration asks for is checked before anything is sent.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

__all__ = ['Vhost', 'VfLayout', 'layouts', 'vhost_num', 'ring_count',
           'problems', 'port_problems', 'MAX_PORTS']

# DPDK 18.08 RTE_MAX_ETHPORTS: spp_vf's vhost/ring tables have 32 slots
# and ring:N / vhost:N index them unchecked (SPP 18.08.1
# src/vf/common/spp_proc.c 258-273).
MAX_PORTS = 32


def _mask(value: Any) -> int | None:
    try:
        return int(str(value), 16)
    except ValueError:
        return None


def vhost_num(port: str) -> int | None:
    kind, _, num = port.partition(':')
    return int(num) if kind == 'vhost' and num.isdigit() else None


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
    core_mask: int | None = None


def _through(comp: dict[str, Any], kind: str, side: str,
             by_port: dict[str, dict[str, Any]], port: str
             ) -> tuple[str, str, str | None]:
    """(port, component, relay) on one side of a vhost: a ``kind``
    component next to the vhost relays through its ring to the
    classifier/merger; otherwise the vhost's own component is the end.
    """
    if comp['type'] != kind:
        return port, comp['name'], None
    hop = comp[side][0]
    return hop, by_port[hop]['name'], comp['name']


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
            num = vhost_num(port)
            if num is None:
                continue
            if comp['type'] == 'forward':
                comp['type'] = 'merge'   # as networking-spp does (TaaS)
            to_port, to_comp, feed = _through(comp, 'merge', 'rx_port',
                                              by_tx, port)
            rx_comp = by_rx.get(port)
            if rx_comp is None:
                raise ValueError('vhost:%d has no component receiving '
                                 'from it in vf %d' % (num, sec_id))
            from_port, from_comp, drain = _through(
                rx_comp, 'forward', 'tx_port', by_rx, port)
            vhosts[num] = Vhost(num, sec_id, vf['physical_network'],
                                to_comp, to_port, from_comp, from_port,
                                feed, drain)
    return VfLayout(sec_id, vf['physical_network'], comps, vhosts,
                    _mask(vf.get('core_mask')))


def layouts(configuration: dict[str, Any]) -> list[VfLayout]:
    """One layout per ``vf`` entry; sec_id = position + 1."""
    return [_layout(i + 1, vf)
            for i, vf in enumerate(configuration.get('vf') or [])]


def ring_count(configuration: dict[str, Any]) -> int:
    """spp_primary's ``-n`` as the launch plan (and networking-spp's
    devstack) derives it: two rings per vhost and per mirror.
    """
    vfs = configuration.get('vf') or []
    total = sum(int(vf.get('num_vhost', 0)) for vf in vfs)
    return 2 * total + 2 * len(configuration.get('mirror') or [])


def port_problems(name: str, port: str, rings: int) -> list[str]:
    """Why attaching ``port`` would poison spp_vf, if it would."""
    kind, _, num = port.partition(':')
    if not num.isdigit():
        return []
    n = int(num)
    if kind == 'ring' and n >= min(rings, MAX_PORTS):
        # spp_proc.c 826-835: no PMD for the ring -> every later flush
        # fails until spp_vf restarts.
        return ['%s uses %s, but spp_primary has %d rings (ring:0..'
                'ring:%d) and spp_vf 18.08 at most %d' % (
                    name, port, rings, min(rings, MAX_PORTS) - 1,
                    MAX_PORTS)]
    return []


def _comp_problems(comp: dict[str, Any], master: int | None,
                   rings: int) -> list[str]:
    name = 'component %s' % comp.get('name')
    out: list[str] = []
    nrx, ntx = len(comp.get('rx_port', [])), len(comp.get('tx_port', []))
    # src/vf/spp_forward.c 63-78: forward 1 rx / 1 tx, merge 1 tx.
    if comp.get('type') == 'forward' and (nrx > 1 or ntx > 1):
        out.append('%s (forward) has %d rx and %d tx ports; spp_vf takes '
                   'one of each' % (name, nrx, ntx))
    if comp.get('type') == 'merge' and ntx > 1:
        out.append('%s (merge) has %d tx ports; spp_vf takes one' % (
            name, ntx))
    if master is not None and comp.get('core') == master:
        # src/vf/spp_vf.c 326 + spp_proc.c 856-861: accepted, then
        # spp_vf waits forever for the master lcore.
        out.append('%s is on core %d, the master lcore of its spp_vf; '
                   'spp_vf 18.08 accepts that and then stops answering' % (
                       name, master))
    for port in comp.get('rx_port', []) + comp.get('tx_port', []):
        out += port_problems(name, port, rings)
    return out


def problems(layout: VfLayout, rings: int) -> list[str]:
    """What in this spp_vf's layout would poison or hang spp_vf."""
    master = None
    if layout.core_mask:
        master = (layout.core_mask & -layout.core_mask).bit_length() - 1
    out: list[str] = []
    for comp in layout.components:
        out += _comp_problems(comp, master, rings)
    return out
