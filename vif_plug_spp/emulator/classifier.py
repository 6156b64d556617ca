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
"""``PUT /v1/vfs/<id>/classifier_table``: spp-ctl 18.08's checks, then
spp_vf 18.08's decoder and update (SPP 18.08.1 file:line at each rule).
"""

from __future__ import annotations

import re
from typing import Any

from vif_plug_spp.emulator import errors
from vif_plug_spp.emulator import flush
from vif_plug_spp.emulator import model
from vif_plug_spp.emulator import ports

__all__ = ['classifier_command']

_MAC = re.compile(r'^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$')


def _ctl_checks(body: dict[str, Any]) -> tuple[str, str, str, Any]:
    # spp-ctl 18.08 src/spp-ctl/spp_webapi.py 271-286; every invalid
    # value is a KeyInvalid, i.e. 500 (27-31) - a vlan-type entry
    # without "vlan" included (int(body['vlan']) raises KeyError).
    errors.need(body, 'action', 'type', 'port', 'mac_address')
    action, ctype = body['action'], body['type']
    if action not in ('add', 'del') or ctype not in ('mac', 'vlan'):
        raise errors.invalid()
    port = ports.ctl_port(body['port'])
    mac = body['mac_address']
    if not isinstance(mac, str) or not _MAC.match(mac):
        raise errors.invalid()   # netaddr.EUI; 18.08 has no 'default'
    vlan: Any = None
    if ctype == 'vlan':
        try:
            int(body['vlan'])
        except Exception:
            raise errors.invalid()
        vlan = body['vlan']
    return action, ctype, port, (mac, vlan)


def _vid(ctype: str, vlan: Any) -> int:
    if ctype == 'mac':
        return model.UNTAGGED     # command_dec.c 743-744
    # spp-ctl formats the value into the command text (spp_proc.py
    # 123-126): "100" passes like 100; True/100.0 become words spp_vf
    # cannot parse.  command_dec.c 709-720: 0..4095 (ETH_VLAN_ID_MAX).
    if isinstance(vlan, (bool, float)):
        raise errors.bad('vlan id')
    vid = int(vlan)
    if not 0 <= vid <= model.UNTAGGED:
        raise errors.bad('vlan id')
    return vid


def classifier_command(proc: model.VfModel, body: dict[str, Any]) -> None:
    action, ctype, port, (mac, vlan) = _ctl_checks(body)
    vid = _vid(ctype, vlan)
    port = ports.vf_port(port)
    mac = mac.replace('-', ':').upper()
    table = proc.working.class_ids
    # command_dec.c 736-741: the port must have been attached once.
    if port not in proc.added:
        raise errors.bad('port')
    current = table.get(port)
    if action == 'add':
        # command_dec.c 746-753: one entry per port.  No check across
        # ports (command_proc.c 194-216): a duplicate (vid, MAC) on a
        # second port is accepted (Corrections 7).
        if current is not None:
            raise errors.bad('port')
        table[port] = (vid, mac)
    else:
        # command_dec.c 754-766: the entry must match exactly.
        if current != (vid, mac):
            raise errors.bad('port')
        del table[port]
    # command_proc.c 218, spp_proc.c 685-700: the (first) component
    # sending to the port changes.
    proc.changed.update(c.name for c in proc.working.holders(port, 'tx')[:1])
    flush.flush(proc)
