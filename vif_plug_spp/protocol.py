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
"""The per-port etcd values of networking-spp, as the compute side reads
them.

Parsing of ``bind_port`` JSON (and of every JSON-object value) and the
value the ML2 driver writes.  The binding rules live in
:mod:`vif_plug_spp.binding`; the Neutron side of a binding (allocation,
``bind_port``/``action`` writes, release) is the ML2 driver's
:mod:`spp_neutron.core`, which this package never imports.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from os_vif_accel import parse
from os_vif_accel import validate

__all__ = ['BindPort', 'parse_bind_port', 'bind_port_value', 'json_object']


@dataclasses.dataclass(frozen=True)
class BindPort:
    mac_address: str
    vhost_id: int
    vlan_id: int | None


def json_object(field: str, text: str) -> dict[str, Any]:
    """Parse an etcd value that must be a JSON object (InvalidInput);
    bounded in depth and size like every untrusted JSON.
    """
    return parse.json_object(text, field, max_depth=8, max_bytes=64 << 10)


def parse_bind_port(text: str) -> BindPort:
    """Parse and validate a ``bind_port`` value (raises InvalidInput)."""
    raw = json_object('bind_port', text)
    mac = validate.mac(raw.get('mac_address'), 'bind_port.mac_address')
    vhost_id = raw.get('vhost_id')
    if isinstance(vhost_id, bool) or not isinstance(vhost_id, int) or \
            vhost_id < 0:
        raise validate.InvalidInput('bind_port.vhost_id', vhost_id,
                                    'must be a non-negative integer')
    vlan = raw.get('vlan_id')
    if vlan is not None:
        # The ML2 driver writes the segmentation id as a JSON number; a
        # string would let int() read Unicode digits ('\u0663' is 3).
        if isinstance(vlan, bool) or not isinstance(vlan, int):
            raise validate.InvalidInput('bind_port.vlan_id', vlan,
                                        'must be a JSON integer')
        vlan = validate.vlan_id(vlan, 'bind_port.vlan_id', allow_none=False)
    return BindPort(mac, vhost_id, vlan)


def bind_port_value(mac: str, vhost_id: int, vlan_id: int | None) -> str:
    """The value the ML2 driver writes (``vlan_id`` only on VLANs)."""
    value: dict[str, Any] = {'mac_address': mac, 'vhost_id': vhost_id}
    if vlan_id is not None:
        value['vlan_id'] = vlan_id
    return json.dumps(value)
