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
"""vRouter SmartNIC offload ports: vnic_type direct and virtio-forwarder."""

from __future__ import annotations

import json
import os
import types
from typing import Any

import fixtures
from nova.network import model
from nova.virt.libvirt import driver as libvirt_driver

from nova_e2e import base

try:
    from vif_plug_vrouter import privsep
    from os_vif_accel.testing import sriov_tree
    _MISSING = ''
except ImportError as exc:  # the offload branch is not merged
    _MISSING = str(exc)


class TestOffloadWithoutPciSlot(base.NovaE2ETestCase):
    """nova_patches 0002: a clear Nova error instead of KeyError."""

    def setUp(self) -> None:
        super().setUp()
        self.agent = self.useFixture(base.VrouterAgentFixture(self.conf,
                                                              self.tmp))

    def _vif(self, vnic_type: str) -> model.VIF:
        vif = base.nova_vif(model.VIF_TYPE_VROUTER, vnic_type=vnic_type,
                            profile={'physical_network': 'physnet1'})
        vif['details'] = {
            model.VIF_DETAILS_VHOSTUSER_MODE: 'server',
            model.VIF_DETAILS_VHOSTUSER_SOCKET:
                self.agent.socket(vif['devname'])}
        return vif

    def _check(self, vnic_type: str) -> None:
        vif = self._vif(vnic_type)
        for call in (self.plug, self.unplug, self.interface_xml):
            err = self.assertRaises(base.NovaError, call, vif)
            self.assertIn(vif['id'], str(err))
            self.assertIn('pci_slot', str(err))
            self.assertIn(vnic_type, str(err))
        # Nothing reached the agent.
        self.assertEqual([], self.agent.emulator.requests)

    def test_direct(self) -> None:
        self._check(model.VNIC_TYPE_DIRECT)

    def test_cleanup_unplugs_the_other_ports(self) -> None:
        # Nova's clean-up after a failed boot and instance deletion unplug
        # with ignore_errors=True, which only ignores NovaExceptions.
        good = base.nova_vif(model.VIF_TYPE_VROUTER)
        self.plug(good)
        broken = self._vif(model.VNIC_TYPE_DIRECT)
        driver = types.SimpleNamespace(vif_driver=self.driver)

        libvirt_driver.LibvirtDriver._unplug_vifs(
            driver, self.instance, [broken, good], True)

        self.assertEqual({}, self.agent.ports())

    def test_virtio_forwarder(self) -> None:
        self._check(model.VNIC_TYPE_VIRTIO_FORWARDER)


class OffloadE2EBase(base.NovaE2ETestCase):
    """A fake switchdev NIC with real representor netdevs in a netns.

    Needs root and SmartNIC offload support in the ``vrouter`` plugin
    (issue 4): its sysfs fake (``os_vif_accel.testing.sriov_tree``) and
    its test privsep helper, which runs the daemon inside the namespace and
    sends only VF MAC/VLAN (this kernel has no VFs) to a JSON double.
    """

    def setUp(self) -> None:
        super().setUp()
        if _MISSING:
            self.fail('SmartNIC offload support (issue 4, branch offload) '
                      'is missing from this tree: %s' % _MISSING)
        if os.geteuid() != 0:
            self.fail('offload end-to-end tests need root (network '
                      'namespace, privsep daemon)')
        self.useFixture(fixtures.Timeout(120, gentle=True))
        self.netns = self.useFixture(sriov_tree.NetnsFixture())
        self.nic = self.useFixture(sriov_tree.SmartNicFixture(
            self.netns, pfs=1, vfs=2, real_reps=2))
        self.vf_state = os.path.join(self.tmp, 'vfs.json')
        self.useFixture(fixtures.EnvironmentVariable(
            'OS_VIF_ACCEL_TEST_VF_STATE', self.vf_state))
        self.useFixture(fixtures.EnvironmentVariable(
            'OS_VIF_ACCEL_TEST_FAIL', ''))
        self.agent = self.useFixture(base.VrouterAgentFixture(
            self.conf, self.tmp, groups=('os_vif_vrouter',)))
        # The daemon reads what it may touch from its own config file.
        self.conf.config(
            group='vif_plug_vrouter_privileged',
            helper_command=sriov_tree.helper_command(
                self.netns.name, os.path.join(self.tmp, 'privsep.conf'),
                [self.agent.ports_dir], [self.nic.root]))
        self.addCleanup(privsep.vif_plug.stop)
        self.conf.config(group='os_vif_vrouter', sysfs_root=self.nic.root)
        self.vf = sriov_tree.vf_address(0, 1)
        self.original_rep = self.nic.reps[self.vf]

    def _vif(self, vnic_type: str) -> model.VIF:
        vif = base.nova_vif(model.VIF_TYPE_VROUTER, vnic_type=vnic_type,
                            profile={'pci_slot': self.vf,
                                     'physical_network': 'physnet1'})
        if vnic_type == model.VNIC_TYPE_VIRTIO_FORWARDER:
            vif['details'] = {
                model.VIF_DETAILS_VHOSTUSER_MODE: 'server',
                model.VIF_DETAILS_VHOSTUSER_SOCKET:
                    self.agent.socket(vif['devname'])}
        return vif

    def links(self) -> dict[str, Any]:
        self.nic.sync()
        return self.netns.links()

    def vf_mac(self) -> str:
        try:
            with open(self.vf_state) as f:
                table = json.load(f)
        except FileNotFoundError:
            table = {}
        p, i = self.nic.vfs[self.vf]
        entry = table.get(self.nic.uplinks[p], {}).get(str(i), {})
        return str(entry.get('mac', '00:00:00:00:00:00'))

    def plug_and_check_representor(self, vif: model.VIF) -> dict[str, Any]:
        index = self.links()[self.original_rep]['ifindex']

        self.plug(vif)

        port = self.agent.port(vif['id'])
        links = self.links()
        # The representor of the VF Nova claimed now carries the tap name
        # the agent was given.
        self.assertEqual(vif['devname'], port['system-name'])
        self.assertIn(port['system-name'], links)
        self.assertEqual(index, links[port['system-name']]['ifindex'])
        self.assertNotIn(self.original_rep, links)
        self.assertEqual(base.MTU, links[port['system-name']]['mtu'])
        self.assertEqual(vif['address'], self.vf_mac())
        return port

    def unplug_and_check_restored(self, vif: model.VIF) -> None:
        self.unplug(vif)

        self.assertEqual({}, self.agent.ports())
        links = self.links()
        self.assertIn(self.original_rep, links)
        self.assertNotIn(vif['devname'], links)
        self.assert_no_file(self.agent.port_file(vif['id']))


class TestVrouterDirect(OffloadE2EBase):
    """vnic_type direct: VIFHostDevice, libvirt passes the VF through."""

    def test_plug_matches_xml_and_unplug_restores(self) -> None:
        vif = self._vif(model.VNIC_TYPE_DIRECT)
        obj = self.to_osvif(vif)
        self.assertEqual(('vrouter', 'VIFHostDevice'),
                         (obj.plugin, obj.obj_name()))

        port = self.plug_and_check_representor(vif)

        xml = self.interface_xml(vif)
        self.assertEqual('hostdev', xml.get('type'))
        self.assertEqual('yes', xml.get('managed'))
        self.assertEqual(self.vf, self.pci_of(xml))
        self.assertEqual(port['mac-address'],
                         self.xml_attr(xml, 'mac', 'address'))
        # libvirt binds vfio-pci itself (managed='yes'): not the plugin.
        self.assertNotEqual('vfio-pci', self.nic.tree.driver_of(self.vf))

        self.unplug_and_check_restored(vif)


class TestVrouterVirtioForwarder(OffloadE2EBase):
    """vnic_type virtio-forwarder: VIFVHostUser + representor."""

    def test_plug_matches_xml_and_unplug_restores(self) -> None:
        vif = self._vif(model.VNIC_TYPE_VIRTIO_FORWARDER)
        obj = self.to_osvif(vif)
        self.assertEqual(('vrouter', 'VIFVHostUser'),
                         (obj.plugin, obj.obj_name()))

        port = self.plug_and_check_representor(vif)

        self.assertEqual(1, port['vhostuser-mode'])    # QEMU is server
        self.assertEqual('vfio-pci', self.nic.tree.driver_of(self.vf))
        xml = self.interface_xml(vif)
        self.assertEqual('vhostuser', xml.get('type'))
        self.assertEqual('server', self.xml_attr(xml, 'source', 'mode'))
        self.assertEqual(vif['details']['vhostuser_socket'],
                         self.xml_attr(xml, 'source', 'path'))
        self.assertEqual(port['system-name'],
                         self.xml_attr(xml, 'target', 'dev'))
        self.assertEqual(port['mac-address'],
                         self.xml_attr(xml, 'mac', 'address'))

        self.unplug_and_check_restored(vif)
        self.assertNotEqual('vfio-pci', self.nic.tree.driver_of(self.vf))
