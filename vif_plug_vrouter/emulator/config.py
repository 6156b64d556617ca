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
"""What the control node told the agent about a VMI (emulated).

The real agent learns a VMI's VM, VN, MAC, parent and IPAM from the
control node; there is none here, so tests and the sandbox *mark* the
config of a VMI (``AgentState.mark_config``).  Several answers depend on
it: ``GET /port`` and ``GET /vm`` (the operational table), ``GET /vm-cfg``
and ``DELETE /vm`` (``port_subscribe_table.cc``'s vmi-to-vm-vn trees).
Values not marked are taken from the VMI's port subscription, as the
config of a Nova port carries the same VM, VN and MAC.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from vif_plug_vrouter.emulator import wire


@dataclasses.dataclass
class VmiConfig:
    """One VMI's config; ``None`` means "as in the port subscription"."""

    plen: int = 24
    gateway: str | None = None
    dns: str | None = None
    v6_gateway: str | None = None
    v6_dns: str | None = None
    ip: str | None = None
    ip6: str | None = None
    vm_uuid: str | None = None
    vn_uuid: str | None = None
    vn_name: str = ''
    vm_name: str | None = None
    mac: str | None = None
    parent_vmi: str = wire.NIL_UUID
    vlan_tag: int = 0
    annotations: list[tuple[str, str]] = dataclasses.field(
        default_factory=list)
    #: port_subscribe_table.cc 393-394 computes ``sub-interface`` from
    #: the parent VMI *before* it copies the new one, so it reflects the
    #: previous config (False on the first)
    sub_interface: bool = False

    def resolved(self, port: dict[str, Any] | None) -> dict[str, Any]:
        """VM, VN and MAC of the VMI, completed from its subscription."""
        port = port or {}
        return {
            'vm': self.vm_uuid or port.get('instance-id', wire.NIL_UUID),
            'vn': self.vn_uuid or port.get('vn-id', wire.NIL_UUID),
            'mac': self.mac or port.get('mac-address', ''),
        }


def updated(old: VmiConfig | None, new: VmiConfig) -> VmiConfig:
    """``CopyVmiConfigToInfo`` (port_subscribe_table.cc 389-399)."""
    new.sub_interface = (old is not None and
                         old.parent_vmi != wire.NIL_UUID)
    return new
