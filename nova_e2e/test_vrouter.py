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
"""vRouter kernel (``vrouter``) and DPDK (``contrail_vrouter``) ports.

Nova VIF -> Nova's conversion and VIF driver -> os-vif -> our plugin ->
agent emulator, and the libvirt XML Nova renders for the same VIF.
"""

from __future__ import annotations

import json
import socket

from nova import exception as nova_exception
from nova.network import model

from nova_e2e import base


def _dead_url() -> str:
    """A loopback URL nobody listens on."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return 'http://127.0.0.1:%d' % s.getsockname()[1]


class TestVrouterKernel(base.NovaE2ETestCase):
    """vif_type vrouter, vnic_type normal: VIFGeneric, plugin vrouter."""

    def setUp(self) -> None:
        super().setUp()
        self.agent = self.useFixture(base.VrouterAgentFixture(self.conf,
                                                              self.tmp))
        self.vif = base.nova_vif(model.VIF_TYPE_VROUTER)

    def test_nova_picks_vrouter_plugin(self) -> None:
        obj = self.to_osvif(self.vif)
        self.assertEqual('vrouter', obj.plugin)
        self.assertEqual('VIFGeneric', obj.obj_name())

    def test_plug_reaches_agent_and_matches_xml(self) -> None:
        self.plug(self.vif)

        port = self.agent.port(self.vif['id'])
        self.assertEqual(self.instance.uuid, port['instance-id'])
        self.assertEqual(base.NETWORK_ID, port['vn-id'])
        self.assertEqual(base.PROJECT_ID_DASHED, port['vm-project-id'])
        self.assertEqual(self.vif['address'], port['mac-address'])
        self.assertEqual(base.IPV4, port['ip-address'])
        self.assertEqual(base.IPV6, port['ip6-address'])
        self.assertEqual(0, port['type'])          # NovaVMPort
        # Nova's display name, not the domain name (nova_patches/0003).
        self.assertEqual(self.instance.display_name, port['display-name'])
        self.assert_file(self.agent.port_file(self.vif['id']))
        with open(self.agent.port_file(self.vif['id'])) as f:
            self.assertEqual(self.vif['devname'],
                             json.load(f)['system-name'])

        xml = self.interface_xml(self.vif)
        self.assertEqual('ethernet', xml.get('type'))
        # libvirt creates the TAP under the name the agent adopts.
        self.assertEqual(port['system-name'],
                         self.xml_attr(xml, 'target', 'dev'))
        self.assertEqual(self.vif['devname'], port['system-name'])
        self.assertEqual(port['mac-address'],
                         self.xml_attr(xml, 'mac', 'address'))
        self.assertEqual(str(base.MTU), self.xml_attr(xml, 'mtu', 'size'))

    def test_replug_is_idempotent_and_survives_agent_restart(self) -> None:
        # nova-compute re-plugs every VIF when it starts.
        self.plug(self.vif)
        self.plug(self.vif)
        self.assertEqual([self.vif['id']], list(self.agent.ports()))

        self.agent.emulator.restart()

        self.assertEqual(self.vif['devname'],
                         self.agent.port(self.vif['id'])['system-name'])

    def test_unplug_removes_port_and_file(self) -> None:
        self.plug(self.vif)
        self.unplug(self.vif)

        self.assertEqual({}, self.agent.ports())
        self.assert_no_file(self.agent.port_file(self.vif['id']))
        # Unplug of a port the agent no longer knows succeeds.
        self.unplug(self.vif)

    def test_kernel_port_deferred_when_agent_down(self) -> None:
        self.agent.point('os_vif_vrouter', _dead_url())

        self.plug(self.vif)

        # Kept in the port file, which the agent replays when it starts.
        self.assert_file(self.agent.port_file(self.vif['id']))
        self.agent.emulator.restart()
        self.assertEqual(self.vif['devname'],
                         self.agent.port(self.vif['id'])['system-name'])


class TestContrailVrouterDpdk(base.NovaE2ETestCase):
    """vhostuser + vhostuser_vrouter_plug: plugin contrail_vrouter."""

    def setUp(self) -> None:
        super().setUp()
        self.agent = self.useFixture(base.VrouterAgentFixture(self.conf,
                                                              self.tmp))

    def _vif(self, mode: str = 'server') -> model.VIF:
        vif = base.nova_vif(model.VIF_TYPE_VHOSTUSER)
        vif['details'] = {
            model.VIF_DETAILS_VHOSTUSER_MODE: mode,
            model.VIF_DETAILS_VHOSTUSER_SOCKET:
                self.agent.socket(vif['devname']),
            model.VIF_DETAILS_VHOSTUSER_VROUTER_PLUG: True,
        }
        return vif

    def test_nova_picks_contrail_vrouter_plugin(self) -> None:
        obj = self.to_osvif(self._vif())
        self.assertEqual('contrail_vrouter', obj.plugin)
        self.assertEqual('VIFVHostUser', obj.obj_name())

    def _check(self, vif: model.VIF, agent_mode: int) -> None:
        port = self.agent.port(vif['id'])
        self.assertEqual(agent_mode, port['vhostuser-mode'])
        self.assertEqual(vif['address'], port['mac-address'])
        self.assertEqual(self.instance.uuid, port['instance-id'])

        xml = self.interface_xml(vif)
        self.assertEqual('vhostuser', xml.get('type'))
        self.assertEqual('unix', self.xml_attr(xml, 'source', 'type'))
        self.assertEqual(vif['details']['vhostuser_mode'],
                         self.xml_attr(xml, 'source', 'mode'))
        # QEMU opens the socket the vRouter names after the interface.
        self.assertEqual(self.agent.socket(port['system-name']),
                         self.xml_attr(xml, 'source', 'path'))
        self.assertEqual(port['system-name'],
                         self.xml_attr(xml, 'target', 'dev'))
        self.assertEqual(port['mac-address'],
                         self.xml_attr(xml, 'mac', 'address'))

    def test_plug_server_mode(self) -> None:
        vif = self._vif('server')
        self.plug(vif)
        # QEMU is the server: vRouter mode 1.
        self._check(vif, agent_mode=1)

    def test_plug_client_mode(self) -> None:
        vif = self._vif('client')
        self.plug(vif)
        self._check(vif, agent_mode=0)

    def test_reads_its_own_config_section(self) -> None:
        # [os_vif_vrouter] points nowhere: only [os_vif_contrail_vrouter]
        # may be used for this port.
        self.agent.point('os_vif_vrouter', _dead_url())
        vif = self._vif()

        self.plug(vif)

        self.assertIn(vif['id'], self.agent.ports())

    def test_unplug(self) -> None:
        vif = self._vif()
        self.plug(vif)
        self.unplug(vif)

        self.assertEqual({}, self.agent.ports())
        self.assert_no_file(self.agent.port_file(vif['id']))

    def test_agent_down_fails_boot_with_port_named(self) -> None:
        self.agent.point('os_vif_contrail_vrouter', _dead_url())
        vif = self._vif()

        err = self.assertRaises(nova_exception.InternalError,
                                self.plug, vif)

        # What the operator sees in nova-compute's log and the fault.
        self.assertIn('Failure running os_vif plugin plug method',
                      str(err))
        self.assertIn(vif['id'], str(err))
        self.assert_no_file(self.agent.port_file(vif['id']))
