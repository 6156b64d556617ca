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

from nova.network import model

from nova_e2e import base


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

    def test_virtio_forwarder(self) -> None:
        self._check(model.VNIC_TYPE_VIRTIO_FORWARDER)
