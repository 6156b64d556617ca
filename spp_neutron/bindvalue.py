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
"""A port's binding as :mod:`spp_neutron.core` writes and reads it.

A value that is not a valid one (hand-edited, or half-written by another
tool) reads as no binding, so it is released like any other earlier
binding rather than trusted.
"""

from __future__ import annotations

import dataclasses

from os_vif_accel import validate

from vif_plug_spp import protocol

__all__ = ['Allocation', 'fields', 'vhost_of', 'same_binding']


@dataclasses.dataclass(frozen=True)
class Allocation:
    """A port's binding on a host; ``revision`` is the etcd revision of
    its write: a ``port_status`` of ``up`` at or after it is the agent's
    answer to this binding.
    """

    host: str
    port_id: str
    physnet: str
    vhost_id: int
    mac: str
    vlan_id: int | None
    revision: int


def fields(text: str) -> tuple[int, str, int | None] | None:
    """(vhost id, MAC, VLAN) of a ``bind_port`` value; None if invalid."""
    try:
        bind = protocol.parse_bind_port(text)
    except validate.InvalidInput:
        return None
    return bind.vhost_id, bind.mac_address, bind.vlan_id


def vhost_of(text: str) -> int | None:
    """The vhost id a ``bind_port`` value names; None if invalid."""
    found = fields(text)
    return found[0] if found else None


def same_binding(text: str, mac: str, vlan_id: int | None) -> int | None:
    """The vhost id of a ``bind_port`` value for ``mac``/``vlan_id``."""
    found = fields(text)
    if found and found[1:] == (mac, vlan_id):
        return found[0]
    return None
