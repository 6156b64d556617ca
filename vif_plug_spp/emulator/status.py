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
"""``GET /v1/vfs/<id>``: spp_vf's status, read from the applied side,
and the size of the raw reply spp_vf sends spp-ctl for it.
"""

from __future__ import annotations

from typing import Any

from vif_plug_spp.emulator import model

__all__ = ['status', 'raw_reply_size', 'MSG_SIZE']

# spp-ctl 18.08 src/spp-ctl/spp_ctl.py 21: one recv() reads 4096 bytes.
MSG_SIZE = 4096


def _port_key(port: str) -> tuple[int, int]:
    kind, num = model.split_port(port)
    return {'phy': 0, 'vhost': 1, 'ring': 2}.get(kind, 3), num


def _vlan(tables: model.Tables, port: str, direction: str
          ) -> dict[str, Any]:
    # spp_vf 18.08 src/vf/common/command_proc.c 985-1015: the first
    # add/del ability of the port in that direction, else "none".
    return dict(tables.abilities.get((port, direction), model.no_vlan()))


def _component(tables: model.Tables, comp: model.Component,
               classifier_type: str) -> dict[str, Any]:
    rx = comp.rx
    if comp.type == classifier_type:
        # src/vf/classifier_mac.c 970-977: a classifier shows only its
        # first rx port.
        rx = comp.rx[:1]
    return {'core': comp.core, 'name': comp.name, 'type': comp.type,
            'rx_port': [{'port': p, 'vlan': _vlan(tables, p, 'rx')}
                        for p in rx],
            'tx_port': [{'port': p, 'vlan': _vlan(tables, p, 'tx')}
                        for p in comp.tx]}


def classifier_table(tables: model.Tables, classifier_type: str
                     ) -> list[dict[str, Any]]:
    """Entries of applied classifier components only."""
    out: list[dict[str, Any]] = []
    for comp in tables.components.values():
        if comp.type != classifier_type:
            continue
        # src/vf/classifier_mac.c 392-420: one hash per vid keyed by MAC,
        # filled in tx-port order, so a second port with the same
        # (vid, MAC) overwrites the first (Corrections 7); cm 1063-1096
        # lists them per vid from the applied side.
        by_key: dict[tuple[int, str], str] = {}
        for port in comp.tx:
            if port in tables.class_ids:
                by_key[tables.class_ids[port]] = port
        for (vid, mac), port in sorted(by_key.items()):
            if vid == model.UNTAGGED:
                # src/vf/classifier_mac.c 1013-1015
                out.append({'type': 'mac', 'value': mac, 'port': port})
            else:
                out.append({'type': 'vlan', 'value': '%d/%s' % (vid, mac),
                            'port': port})
    return out


def status(proc: model.VfModel, with_classifier: bool = True
           ) -> dict[str, Any]:
    tables = proc.applied
    # spp-ctl 18.08 src/spp-ctl/spp_webapi.py 162-174: phy, vhost, ring
    # ports that have a PMD (command_proc.c 880-905).
    ports = sorted(proc.pmd, key=_port_key)
    comps: list[dict[str, Any]] = []
    for core in proc.workers:
        here = [c for c in tables.components.values() if c.core == core]
        if not here:
            comps.append({'core': core, 'type': 'unuse'})
        comps.extend(_component(tables, c, proc.classifier_type)
                     for c in here)
    out: dict[str, Any] = {'client-id': proc.client_id, 'ports': ports,
                           'components': comps}
    if with_classifier:
        out['classifier_table'] = classifier_table(
            tables, proc.classifier_type)
    return out


def _raw(value: Any) -> str:
    # spp_vf 18.08 src/vf/common/command_proc.c 34-39: '"k": v' joined
    # by ", ", objects as "{ ... }", arrays as "[ ... ]".
    if isinstance(value, dict):
        return '{ %s }' % ', '.join('"%s": %s' % (k, _raw(v))
                                    for k, v in value.items())
    if isinstance(value, list):
        return '[ %s ]' % ', '.join(_raw(v) for v in value)
    if isinstance(value, str):
        return '"%s"' % value
    return str(value)


def raw_reply_size(shown: dict[str, Any]) -> int:
    """Bytes of spp_vf's own status reply behind ``shown`` (the spp-ctl
    form), rebuilt in spp_vf's layout (command_proc.c 1312-1332,
    1482-1510: results, then info with phy/vhost/ring number lists).
    """
    lists: dict[str, list[int]] = {'phy': [], 'vhost': [], 'ring': []}
    for port in shown['ports']:
        kind, num = model.split_port(port)
        lists[kind].append(num)
    info: dict[str, Any] = {'client-id': shown['client-id']}
    info.update(lists)
    info['core'] = shown['components']
    if 'classifier_table' in shown:
        info['classifier_table'] = shown['classifier_table']
    reply = {'results': [{'result': 'success'}], 'info': info}
    return len(_raw(reply).encode('utf-8'))
