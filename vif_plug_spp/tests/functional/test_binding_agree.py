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
"""The os-vif plugin's wiring and the agent decide alike: same etcd
content, same spp_vf, same outcome (real etcd, spp-ctl emulator).
"""

import uuid

from vif_plug_spp import agent as agent_mod
from vif_plug_spp import binding
from vif_plug_spp import builder
from vif_plug_spp import datapath
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import exception
from vif_plug_spp import keys
from vif_plug_spp import protocol
from vif_plug_spp import sppctl
from vif_plug_spp.tests.functional import base
from vif_plug_spp.tests.unit import test_binding
from vif_plug_spp import wiring

MAC = 'fa:16:3e:00:00:0b'
SOCKET = '/tmp/sock%d'
OTHER = 'a0c4cc1e-0000-4000-8000-000000000001'
# Who holds the vhost slot: the port, nobody ("None"), another port, or
# no slot key at all.
HOLDERS = ('port', keys.FREE, OTHER, 'absent')


class AgreeCase(base.SppCase):
    """Every case runs through the plugin's wiring, spp_vf is reset,
    then through the agent's handler; both must wire (or unwire) or both
    must refuse.
    """

    def setUp(self):
        super().setUp()
        self.paths()

    def paths(self):
        """The plugin's wiring and an agent (not running: its handler is
        called directly) for ``self.config``.
        """
        self.serve_host()   # the plugin touches spp_vf only then
        spp = sppctl.SppCtlClient(self.emu.url, retry_window=0.2)
        client = etcd_mod.EtcdClient(self.server.host, self.server.port)
        self.addCleanup(client.close)
        self.wiring = wiring.PortWiring(client, spp, self.host,
                                        SOCKET.replace('%d', '{vhost_id}'),
                                        self.lock_path)
        self.agent = agent_mod.Agent(client, spp, self.host,
                                     lock_path=self.lock_path,
                                     resync_interval=0)
        self.agent._load()
        self.dp = datapath.Datapath(spp, self.config, self.lock_path)

    def wired(self):
        return any(entry['value'].lower().endswith(MAC)
                   for sec in self.emu.snapshot().values()
                   for entry in sec.get('classifier_table') or [])

    def bind(self, vhost_id, holder, action):
        port = str(uuid.uuid4())
        self.etcd.put(keys.bind_port(self.host, port),
                      protocol.bind_port_value(MAC, vhost_id, None))
        self.etcd.put(keys.action(self.host, port), action)
        physnet = binding.vhost_physnet(self.config, vhost_id)
        if physnet is not None:
            slot = keys.vhost(self.host, physnet, vhost_id)
            if holder == 'absent':
                self.etcd.delete(slot)
            else:
                self.etcd.put(slot, port if holder == 'port' else holder)
        return port

    def plugin_plug(self, port, vhost_id):
        try:
            self.wiring.plug(port, MAC, SOCKET % vhost_id)
        except exception.BindingMismatch:
            pass
        return self.wired()

    def agent_plug(self, port):
        self.assertIn(self.agent.handlers.handle_port(port),
                      ('plugged', 'not-owner', 'invalid'))
        return self.wired()

    def reset(self, vhost_id):
        try:
            self.dp.unplug(vhost_id)
        except datapath.WiringError:
            pass
        self.assertFalse(self.wired())

    def check_plug(self, vhost_id, holder, expect):
        port = self.bind(vhost_id, holder, keys.PLUG)
        by_plugin = self.plugin_plug(port, vhost_id)
        self.reset(vhost_id)
        by_agent = self.agent_plug(port)
        self.reset(vhost_id)
        self.assertEqual((expect, expect), (by_plugin, by_agent),
                         'plug of vhost %d held by %r' % (vhost_id, holder))

    def check_unplug(self, vhost_id, holder, expect):
        port = self.bind(vhost_id, holder, keys.UNPLUG)
        self.dp.plug(vhost_id, MAC, None)
        self.wiring.unplug(port)
        by_plugin = not self.wired()
        self.dp.plug(vhost_id, MAC, None)
        self.assertIn(self.agent.handlers.handle_port(port),
                      ('unplugged', 'invalid'))
        by_agent = not self.wired()
        self.reset(vhost_id)
        self.assertEqual((expect, expect), (by_plugin, by_agent),
                         'unplug of vhost %d held by %r' % (vhost_id,
                                                            holder))


class TestAgreeBuilderConfiguration(AgreeCase):

    def test_plug(self):
        for vhost_id in (0, 3):
            for holder in HOLDERS:
                self.check_plug(vhost_id, holder, holder == 'port')

    def test_unplug(self):
        for vhost_id in (1, 2):
            for holder in HOLDERS:
                self.check_unplug(vhost_id, holder,
                                  holder in ('port', keys.FREE))

    def test_vhost_outside_the_configuration(self):
        port = self.bind(9, 'port', keys.PLUG)
        self.assertRaises(exception.BindingMismatch, self.wiring.plug, port,
                          MAC, SOCKET % 9)
        self.assertEqual('invalid', self.agent.handlers.handle_port(port))
        self.assertFalse(self.wired())


class TestAgreeInconsistentConfiguration(AgreeCase):
    """vhost 2 numbered under phys1 but wired in the phys2 spp_vf: the
    agent used to wire it (slot by numbering) where the plugin refused
    (slot by wiring); now both refuse and nothing is wired.  The vhosts
    on which numbering and wiring agree are served by both.
    """

    def setUp(self):
        base.EtcdClassCase.setUp(self)
        self.config = test_binding.renumbered()
        builder.write(self.etcd, self.host, self.config)
        self.emu = base.emu_server.SppCtlEmulator.for_configuration(
            self.config).start()
        self.addCleanup(self.emu.stop)
        self.paths()

    def test_plug_and_unplug_refused_alike(self):
        for holder in HOLDERS:
            self.check_plug(2, holder, False)
            self.check_unplug(2, holder, False)

    def test_consistent_vhosts_still_served(self):
        for holder in ('port', OTHER):
            self.check_plug(3, holder, holder == 'port')
            self.check_unplug(0, holder, holder == 'port')
