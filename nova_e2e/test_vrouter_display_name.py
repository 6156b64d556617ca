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
"""The display name reaches the agent, with and without nova_patches/0003.

The agent uses ``display-name`` as the DHCP client name and the vDNS
record (tf-controller ``dhcp_handler.cc`` 630, ``dns_proto.cc`` 154); the
TF plugin sends Nova's display name (tf-nova-vif-driver
``vif_plug_vrouter/vrouter.py`` 254-257).  "Stock Nova" below is the
patched Nova with ``OSVIF_DISPLAY_NAME_PLUGINS`` emptied, which makes
``nova_to_osvif_instance`` build exactly stock Nova's InstanceInfo (the
domain name) and hides the marker from the plugin.  The lookup then runs
through Nova's real object layer against a real (SQLite) Nova database.
"""

from __future__ import annotations

import uuid

import fixtures
from nova import context as nova_context
from nova.network import model
from nova.network import os_vif_util
from nova import objects as nova_objects

from nova_e2e import base


class DisplayNameTestBase(base.NovaE2ETestCase):

    def setUp(self) -> None:
        super().setUp()
        self.agent = self.useFixture(base.VrouterAgentFixture(self.conf,
                                                              self.tmp))
        self.useFixture(fixtures.MonkeyPatch(
            'vif_plug_vrouter.display_name._warned', set()))

    def sent_name(self, vif: model.VIF) -> str:
        self.plug(vif)
        return str(self.agent.port(vif['id'])['display-name'])

    def stock_nova(self) -> None:
        self.useFixture(fixtures.MonkeyPatch(
            'nova.network.os_vif_util.OSVIF_DISPLAY_NAME_PLUGINS', ()))


class TestPatchedNova(DisplayNameTestBase):

    def test_kernel_port_gets_display_name(self) -> None:
        self.instance.display_name = 'web server 1'
        vif = base.nova_vif(model.VIF_TYPE_VROUTER)
        self.assertEqual('web server 1', self.sent_name(vif))

    def test_dpdk_port_gets_display_name(self) -> None:
        vif = base.nova_vif(model.VIF_TYPE_VHOSTUSER)
        vif['details'] = {
            model.VIF_DETAILS_VHOSTUSER_MODE: 'server',
            model.VIF_DETAILS_VHOSTUSER_SOCKET:
                self.agent.socket(vif['devname']),
            model.VIF_DETAILS_VHOSTUSER_VROUTER_PLUG: True,
        }
        self.assertEqual('e2e-vm', self.sent_name(vif))

    def test_other_plugins_still_get_the_domain_name(self) -> None:
        info = os_vif_util.nova_to_osvif_instance(self.instance,
                                                  plugin='ovs')
        self.assertEqual(self.instance_name, info.name)

    def test_rename_rewrites_file_without_bouncing_the_port(self) -> None:
        vif = base.nova_vif(model.VIF_TYPE_VROUTER)
        self.plug(vif)
        self.instance.display_name = 'renamed'
        self.plug(vif)       # e.g. nova-compute restart after a rename
        self.assertEqual([], [r for r in self.agent.emulator.requests
                              if r[0] == 'DELETE'])
        with open(self.agent.port_file(vif['id'])) as f:
            self.assertIn('"display-name": "renamed"', f.read())


class TestStockNova(DisplayNameTestBase):

    def setUp(self) -> None:
        super().setUp()
        self.stock_nova()
        self.vif = base.nova_vif(model.VIF_TYPE_VROUTER)

    def test_stock_nova_sends_the_domain_name(self) -> None:
        info = os_vif_util.nova_to_osvif_instance(self.instance,
                                                  plugin='vrouter')
        self.assertEqual(self.instance_name, info.name)

    def test_display_name_looked_up_in_nova(self) -> None:
        self.useFixture(base.NovaDatabaseFixture(self.conf, self.tmp))
        ctxt = nova_context.get_admin_context()
        inst = nova_objects.Instance(
            context=ctxt, uuid=str(uuid.uuid4()), project_id=base.PROJECT_ID,
            user_id='u', display_name='db-vm')
        inst.create()
        self.instance = inst
        self.assertEqual('db-vm', self.sent_name(self.vif))

    def test_lookup_failure_sends_domain_name(self) -> None:
        # No database and no conductor: the lookup fails, the plug works.
        logs = self.useFixture(fixtures.FakeLogger())
        self.assertEqual(self.instance_name, self.sent_name(self.vif))
        self.assertIn('Could not look up the display name', logs.output)

    def test_lookup_disabled_sends_domain_name(self) -> None:
        self.conf.config(group='os_vif_vrouter',
                         nova_display_name_lookup=False)
        logs = self.useFixture(fixtures.FakeLogger())
        self.assertEqual(self.instance_name, self.sent_name(self.vif))
        self.assertIn('nova_patches/0003', logs.output)
