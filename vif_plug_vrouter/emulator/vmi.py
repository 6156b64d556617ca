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
"""VMI port subscriptions: ``/port``, ``/enable-port``, ``/disable-port``.

``pih`` = ``src/vnsw/agent/port_ipc/port_ipc_handler.cc``, ``pst`` =
``port_subscribe_table.cc`` (OpenSDN-io/tf-controller @ fbb63bcd).
"""

from __future__ import annotations

import os
import socket
from typing import Any

from os_vif_accel import fileio

from vif_plug_vrouter.emulator import base
from vif_plug_vrouter.emulator import wire

_FILE_KEYS = ('id', 'instance-id', 'display-name', 'ip-address',
              'ip6-address', 'vn-id', 'vm-project-id', 'mac-address',
              'system-name', 'type', 'rx-vlan-id', 'tx-vlan-id',
              'vhostuser-mode')


def netdev_exists(name: str) -> bool:
    """``InterfaceExists`` (nix/port_ipc_handler_os_impl.cc 9-12)."""
    try:
        socket.if_nametoindex(name)
        return True
    except (OSError, ValueError):
        return False


class ArrayRejected(wire.ValidationError):
    """An invalid element of a port array: nothing is added, yet the REST
    call answers 200 (pih 219-232).
    """

    answers_ok = True


class VmiPorts(base.Tables):
    """``POST/DELETE/GET /port`` and the ESXi link state."""

    def parse_port(self, doc: Any, check_port: bool = False
                   ) -> dict[str, Any]:
        """``MakeAddVmiUuidRequest`` (pih 244-366), first failure wins."""
        port: dict[str, Any] = {
            key: wire.get_uuid(doc, key)  # pih 247-265
            for key in ('id', 'instance-id', 'vn-id', 'vm-project-id')}
        port['display-name'] = wire.get_str(doc, 'display-name')
        port['ip-address'] = wire.parse_ip(wire.get_str(doc, 'ip-address'), 4)
        port['ip6-address'] = wire.parse_ip(
            wire.get_str(doc, 'ip6-address'), 6)
        ptype = wire.get_uint32(doc, 'type')
        # pih 291-299: 1 namespace, 2 ESXi (starts link-down), else VM
        port['type'] = ptype if ptype in (1, 2) else 0
        if port['type'] == 0 and port['vn-id'] == wire.NIL_UUID:
            raise wire.ValidationError('Invalid VN uuid')  # pih 300-305
        port['system-name'] = wire.get_str(doc, 'system-name')
        # pih 311-317: only the replay checks the netdev, never for ESXi
        if check_port and port['type'] != 2 and \
                not netdev_exists(port['system-name']):
            raise wire.ValidationError('Interface does not exist in OS')
        port['mac-address'] = wire.get_str(doc, 'mac-address')
        if not wire.valid_mac(port['mac-address']):  # pih 319-326
            raise wire.ValidationError(
                'Invalid MAC, Use xx:xx:xx:xx:xx:xx format')
        rx = wire.get_uint32(doc, 'rx-vlan-id')
        tx = wire.get_uint32(doc, 'tx-vlan-id')
        # pih 339-344: 32-bit compare, so rx=-1 (0xFFFFFFFF) counts as set
        # and only tx=65534 trips it
        if rx != wire.NO_VLAN and tx == wire.NO_VLAN - 1:
            raise wire.ValidationError('Invalid request. RX (isolated) '
                                       'vlan set, but TX vlan not set')
        # the entry keeps them as uint16_t (pst 85)
        port['rx-vlan-id'], port['tx-vlan-id'] = rx & 0xFFFF, tx & 0xFFFF
        # pih 346-354: optional; null, absent or mistyped keep the default
        port['vhostuser-mode'] = wire.optional_uint32(
            doc, 'vhostuser-mode', 0) & 0xFF
        port['link-state'] = wire.optional_uint32(
            doc, 'link-state', 0 if port['type'] == 2 else 1) & 0xFF
        return port

    def add_port_json(self, body: bytes, check_port: bool,
                      write_file: bool) -> int:
        """``AddPortFromJson`` (pih 205-242): add an object or an
        all-or-none array; returns ports added.
        """
        text, doc = wire.parse_body(body)
        if isinstance(doc, list):
            # pih 180-203, 219-232: validate every element first; an
            # invalid one adds nothing yet the call still succeeds
            try:
                parsed = [self._parse_element(d, text, check_port)
                          for d in doc]
            except wire.ValidationError as exc:
                raise ArrayRejected(str(exc))
            return sum(self.add_port(p, write_file) for p in parsed)
        if not isinstance(doc, dict):  # pih 213-217
            raise wire.ValidationError('Unexpected Json string ==> %s' % text)
        return int(self.add_port(self.parse_port(doc, check_port),
                                 write_file))

    def _parse_element(self, doc: Any, text: str,
                       check_port: bool) -> dict[str, Any]:
        if not isinstance(doc, dict):  # pih 187-191
            raise wire.ValidationError(
                'Json Array has invalid element ==> %s' % text)
        return self.parse_port(doc, check_port)

    def add_port(self, port: dict[str, Any], write_file: bool) -> bool:
        """``AddVmiUuidEntry`` + ``AddVmi`` (pih 368-391, pst 215-237)."""
        uuid = port['id']
        if write_file:
            try:
                self.write_port_file(port, overwrite=False)
            except OSError:
                return False   # not added; the answer stays 200
        old = self.ports.get(uuid)
        if old is not None and old['instance-id'] == port['instance-id']:
            # pst 45-48, 231-233: same VMI and VM, only the version moves
            old['version'] = self.entry_version()
            return True
        self.ports[uuid] = dict(port, version=self.entry_version())
        if self.auto_config:
            self.mark_config(uuid)
        return True

    def write_port_file(self, port: dict[str, Any], overwrite: bool) -> None:
        """``WriteJsonToFile`` (pih 393-427), layout ``MakeVmiUuidJson``
        (pih 574-616); an existing file is kept unless ``overwrite``.
        """
        if not overwrite and os.path.exists(
                os.path.join(self.ports_dir, port['id'])):
            return
        doc = {k: port[k] for k in _FILE_KEYS}
        if port['type'] == 2:
            doc['link-state'] = port['link-state']
        doc['author'] = wire.AUTHOR
        doc['time'] = wire.agent_time()
        fileio.atomic_write(self.ports_dir, port['id'],
                            wire.pretty(doc).encode(), sync=False)

    def delete_port(self, body: bytes, uuid: str) -> wire.Reply:
        """``DeleteVmiUuidEntry`` (pih 448-476): always 200."""
        if uuid == wire.NIL_UUID:
            return wire.OK   # pih 449-455: the nil UUID deletes nothing
        self.ports.pop(uuid, None)
        cfg = self.config.get(uuid)
        if cfg is not None and cfg.vm_uuid is None:
            # the unsubscribe withdraws the config the port brought
            del self.config[uuid]
        try:
            os.unlink(os.path.join(self.ports_dir, uuid))
        except OSError:
            pass  # computed but never returned by the agent (pih 472-474)
        return wire.OK

    def get_port(self, body: bytes, uuid: str) -> wire.Reply:
        """``GetPortInfo`` (pih 618-625), 404 text rest_server.cc 110."""
        try:
            return wire.reply(200, self.oper_view(uuid), is_pretty=True)
        except KeyError:
            return wire.NOT_FOUND

    def set_link(self, uuid: str, up: bool) -> wire.Reply:
        """``EnablePort``/``DisablePort`` (pih 478-556)."""
        port = self.ports.get(uuid)
        if port is None:
            return wire.error('Port Not found %s' % uuid, '{%s}')
        if port['type'] != 2:
            return wire.error('Incorrect Port type for %s' % uuid, '{%s}')
        state = 1 if up else 0
        if port['link-state'] != state:
            port['link-state'] = state
            try:
                self.write_port_file(port, overwrite=True)
            except OSError:
                # pih 503-508, 543-548: only traced; the call succeeds
                pass
        return wire.OK
