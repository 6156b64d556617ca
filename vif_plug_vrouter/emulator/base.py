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
"""The agent's tables, shared by the request handlers (one mixin each).

``pih`` = ``port_ipc/port_ipc_handler.cc``, ``pst`` =
``port_ipc/port_subscribe_table.cc`` (tf-controller @ fbb63bcd).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from vif_plug_vrouter.emulator import config as config_mod
from vif_plug_vrouter.emulator import wire

#: (vm uuid, vn uuid, vmi uuid), the key of pst's vm-vn tree
VmVnKey = tuple[str, str, str]


class Tables:
    """Subscription tables, controller config and the ports directory."""

    def __init__(self, ports_dir: str, check_port: bool,
                 stale_timeout: float, auto_config: bool) -> None:
        self.ports_dir = ports_dir
        self.vm_dir = os.path.join(ports_dir, 'vm')
        self.check_port = check_port
        self.stale_timeout = stale_timeout
        self.auto_config = auto_config
        #: the agent applies port VLANs only in VMware mode (pst 106-116)
        self.vmware_mode = False
        self.lock = threading.RLock()
        #: port uuid -> entry dict (parsed values, as the agent keeps them)
        self.ports: dict[str, dict[str, Any]] = {}
        #: (vm, vn, vmi) -> vm-vn entry
        self.vm_ports: dict[VmVnKey, dict[str, Any]] = {}
        #: port uuid -> what the "control node" sent about the VMI
        self.config: dict[str, config_mod.VmiConfig] = {}
        self.gateways: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.replay_errors: list[tuple[str, str]] = []
        # pih 99-114 creates ports/ and ports/vm/ here; the emulator makes
        # vm/ only with its first vm-vn file (deviation: listings of the
        # ports directory in other tests stay as they were)
        os.makedirs(ports_dir, exist_ok=True)

    def entry_version(self) -> int:
        """Entries keep the handler's int version in a uint16_t
        (port_subscribe_table.h 54, 64).
        """
        return self.version & 0xFFFF

    # -- the controller config and what is derived from it ---------------
    def mark_config(self, uuid: str, **kwargs: Any) -> None:
        """Pretend the control node sent a VMI's config (VM, VN, IPAM).

        Keywords are the fields of :class:`config.VmiConfig`; VM, VN and
        MAC default to the port subscription's.
        """
        self.config[uuid] = config_mod.updated(
            self.config.get(uuid), config_mod.VmiConfig(**kwargs))

    def config_of(self, vmi: str) -> dict[str, Any] | None:
        """VM, VN and MAC of a VMI as its config says, or None."""
        cfg = self.config.get(vmi)
        return None if cfg is None else cfg.resolved(self.ports.get(vmi))

    def vmis_of_vm(self, vm_uuid: str) -> list[str]:
        """``VmVnToVmiSet`` (pst 566-583): the VMIs the *config* puts in
        the VM, whatever subscriptions exist; sorted like a std::set.
        """
        return sorted(u for u in self.config
                      if (self.config_of(u) or {}).get('vm') == vm_uuid)

    def vm_uuid_by_name(self, name: str) -> str:
        """``VmTable::GetVmUuid`` (src/vnsw/agent/oper/vm.cc 144-169): the
        VM's config name; nil when unknown.
        """
        for vmi, cfg in sorted(self.config.items()):
            if cfg.vm_name == name:
                return (self.config_of(vmi) or {})['vm']
        return wire.NIL_UUID

    def _ifname(self, vmi: str) -> str:
        if vmi in self.ports:
            return str(self.ports[vmi]['system-name'])
        for (_, _, key_vmi), entry in sorted(self.vm_ports.items()):
            if key_vmi == vmi:
                return str(entry['host-ifname'])
        return ''

    def oper_view(self, vmi: str) -> dict[str, Any]:
        """``MakeJsonFromVmi`` (pih 1176-1255).

        The operational VMI exists once its config arrived and either a
        port subscription added it (pst 125-128) or the config names its
        VM (the controller binds it to this host, as for CNI ports).
        Raises KeyError with the agent's reason otherwise.
        """
        cfg, port = self.config.get(vmi), self.ports.get(vmi)
        if cfg is None or (port is None and cfg.vm_uuid is None):
            raise KeyError('Interface not found for request. Retry')
        v4 = cfg.ip or (port or {}).get('ip-address', '0.0.0.0')
        v6 = cfg.ip6 or (port or {}).get('ip6-address', '::')
        if v4 == '0.0.0.0' and v6 == '::':
            # pih 1197-1202: no IPAM for either primary address
            raise KeyError('Missing IPAM entry for request. Retry')
        return self._oper_doc(vmi, cfg, port or {}, v4, v6)

    def _oper_doc(self, vmi: str, cfg: config_mod.VmiConfig,
                  port: dict[str, Any], v4: str, v6: str) -> dict[str, Any]:
        res = cfg.resolved(port)
        vlans = (port.get('rx-vlan-id', wire.NO_VLAN),
                 port.get('tx-vlan-id', wire.NO_VLAN))
        if not self.vmware_mode:
            vlans = (wire.NO_VLAN, wire.NO_VLAN)  # pst 102-116
        doc: dict[str, Any] = {
            'id': vmi, 'instance-id': res['vm'], 'vn-id': res['vn'],
            'vm-project-id': port.get('vm-project-id', wire.NIL_UUID),
            'mac-address': wire.mac_to_string(res['mac']),
            'system-name': self._ifname(vmi),
            'rx-vlan-id': vlans[0], 'tx-vlan-id': vlans[1],
            'vhostuser-mode': port.get('vhostuser-mode', 0)}
        if v4 != '0.0.0.0':
            base = v4.rsplit('.', 1)[0]
            doc.update({'ip-address': v4, 'plen': cfg.plen,
                        'dns-server': cfg.dns or base + '.2',
                        'gateway': cfg.gateway or base + '.1'})
        if v6 != '::':
            doc.update({'v6-ip-address': v6,
                        'v6-dns-server': cfg.v6_dns or '::',
                        'v6-gateway': cfg.v6_gateway or '::'})
        doc.update({'author': wire.AUTHOR, 'time': wire.agent_time()})
        return doc
