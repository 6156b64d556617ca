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
"""VM+VN ("vm-vn") subscriptions used by CNI: ``/vm`` and ``/vm-cfg``.

``pih`` = ``src/vnsw/agent/port_ipc/port_ipc_handler.cc``, ``pst`` =
``port_subscribe_table.cc`` (OpenSDN-io/tf-controller @ fbb63bcd).
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from os_vif_accel import fileio

from vif_plug_vrouter.emulator import vmi
from vif_plug_vrouter.emulator import wire

#: key order of ``MakeVmVnPortJson`` (pih 920-948)
_FILE_KEYS = ('vm-uuid', 'vn-uuid', 'vmi-uuid', 'vm-id', 'vm-name',
              'host-ifname', 'vm-ifname', 'vm-namespace')


class VmVnPorts(vmi.VmiPorts):
    """``POST /vm``, ``DELETE``/``GET /vm/<uuid>``, ``GET /vm-cfg``."""

    def parse_vm(self, doc: Any, check_port: bool = False
                 ) -> dict[str, Any]:
        """``MakeAddVmVnPortRequest`` (pih 865-918), first failure wins."""
        entry = {'vm-uuid': wire.get_uuid(doc, 'vm-uuid'),
                 'host-ifname': wire.get_str(doc, 'host-ifname')}
        # pih 878-884: the replay checks the host interface
        if check_port and not vmi.netdev_exists(entry['host-ifname']):
            raise wire.ValidationError('Interface does not exist in OS')
        entry['vm-name'] = wire.get_str(doc, 'vm-name')
        for key in ('vm-id', 'vm-ifname', 'vm-namespace'):
            entry[key] = wire.optional_str(doc, key)  # pih 891-898
        # pih 900-908: the VN is checked before the VMI
        entry['vn-uuid'] = wire.get_uuid(doc, 'vn-uuid')
        entry['vmi-uuid'] = wire.get_uuid(doc, 'vmi-uuid')
        return entry

    def add_vm_json(self, body: bytes, check_port: bool,
                    write_file: bool) -> int:
        """``AddVmVnPort`` (pih 812-841): parse and add one vm-vn entry;
        returns 1 if it was added.
        """
        text, doc = wire.parse_body(body)
        if not isinstance(doc, dict):
            # pih 821-825 (an array is not an object either, so the
            # "Arrays not supported" branch at 827-831 is never reached)
            raise wire.ValidationError('Unexpected Json string ==> %s' % text)
        return int(self.add_vm_vn(self.parse_vm(doc, check_port),
                                  write_file))

    def add_vm_vn(self, entry: dict[str, Any], write_file: bool) -> bool:
        """``AddVmVnPortEntry`` + ``AddVmVnPort`` (pih 843-863,
        pst 266-288): a failed write adds nothing, the answer stays 200;
        a known key only gets the new version.
        """
        if write_file:
            try:
                self.write_vm_file(entry)
            except OSError:
                return False
        key = (entry['vm-uuid'], entry['vn-uuid'], entry['vmi-uuid'])
        version = self.entry_version()
        if key in self.vm_ports:
            self.vm_ports[key]['version'] = version  # pst 273-275
        else:
            self.vm_ports[key] = dict(entry, version=version)
        return True

    def write_vm_file(self, entry: dict[str, Any]) -> None:
        """``WriteJsonToFile`` for vm-vn (pih 950-987): written under
        ``vm/<vm-name>/<vmi-uuid>``, never overwritten.
        """
        vm_dir = os.path.normpath(os.path.join(self.vm_dir,
                                               entry['vm-name']))
        if not (vm_dir + os.sep).startswith(self.vm_dir + os.sep):
            return  # deliberate deviation: never write outside vm/
        if os.path.exists(os.path.join(vm_dir, entry['vmi-uuid'])):
            return
        doc = {k: entry[k] for k in _FILE_KEYS}
        doc.update({'author': wire.AUTHOR, 'time': wire.agent_time()})
        fileio.atomic_write(vm_dir, entry['vmi-uuid'],
                            wire.pretty(doc).encode(), sync=False)

    def delete_vm(self, body: bytes, vm_uuid: str) -> wire.Reply:
        """``DELETE /vm/<uuid>`` (pih 1042-1051): always 200."""
        if vm_uuid != wire.NIL_UUID:
            self.delete_vm_vn(vm_uuid)
        return wire.OK

    def delete_vm_vn(self, vm_uuid: str) -> None:
        """``DeleteVmVnPort`` (pih 989-1040).

        The VMIs come from the *config* of the VM (``VmVnToVmiSet``), so
        without config nothing is deleted; for each, the subscription keyed
        by the config's VN is dropped and ``vm/<vm-uuid>/<vmi>`` removed —
        but the files were written under ``vm/<vm-name>/`` (pih 951), so
        they stay and come back at the next agent start.
        """
        vm_dir = os.path.join(self.vm_dir, vm_uuid)   # pih 993
        failed = False
        for vmi_uuid in self.vmis_of_vm(vm_uuid):
            vn = (self.config_of(vmi_uuid) or {})['vn']
            self.vm_ports.pop((vm_uuid, vn, vmi_uuid), None)
            path = os.path.join(vm_dir, vmi_uuid)     # pih 1018-1025
            if os.path.isfile(path):
                try:
                    os.unlink(path)
                except OSError:
                    failed = True
        if not failed:   # pih 1029-1037
            shutil.rmtree(vm_dir, ignore_errors=True)

    def get_vm(self, body: bytes, vm_uuid: str,
               vmi_uuid: str | None = None) -> wire.Reply:
        """``GetVmVnPort`` (pih 1141-1174): the operational view of the
        VMIs, one named or all the config puts in the VM; 404 if any is
        missing (rest_server.cc 175-200).
        """
        if vm_uuid == wire.NIL_UUID:
            return wire.NOT_FOUND   # pih 1143-1146
        vmis = [vmi_uuid] if vmi_uuid else self.vmis_of_vm(vm_uuid)
        try:
            found = [self.oper_view(u) for u in vmis]
        except KeyError:
            return wire.NOT_FOUND
        if not found:
            return wire.NOT_FOUND
        return 200, ('[%s]' % ','.join(wire.pretty(d) for d in found)
                     ).encode()

    def get_vm_cfg(self, body: bytes, vm_name: str) -> wire.Reply:
        """``GetVmVnCfgPort`` (pih 1053-1078), route ``/vm-cfg/(.*)``
        (rest_server.cc 293), 404 text rest_server.cc 50.
        """
        vm_uuid = self.vm_uuid_by_name(vm_name)
        vmis = self.vmis_of_vm(vm_uuid) if vm_uuid != wire.NIL_UUID else []
        docs = [self._vmi_cfg_doc(u) for u in vmis]
        if not docs or None in docs:
            return wire.NOT_FOUND
        return 200, ('[%s]' % ','.join(wire.pretty(d) for d in docs)
                     ).encode()

    def _vmi_cfg_doc(self, vmi_uuid: str) -> dict[str, Any] | None:
        """``MakeJsonFromVmiConfig`` (pih 1080-1139); None without the VN
        (the emulator knows a VN by the name its config gives).
        """
        cfg = self.config[vmi_uuid]
        res = cfg.resolved(self.ports.get(vmi_uuid))
        if not cfg.vn_name:
            return None   # pih 1090-1094 "VirtualNetwork not found"
        doc: dict[str, Any] = {
            'id': vmi_uuid, 'vm-uuid': res['vm'], 'vn-id': res['vn'],
            'vn-name': cfg.vn_name, 'mac-address': res['mac'],
            'sub-interface': cfg.sub_interface, 'vlan-id': cfg.vlan_tag}
        if cfg.annotations:   # pih 1114-1131
            doc['annotations'] = ['{%s:%s}' % kv for kv in cfg.annotations]
        return doc
