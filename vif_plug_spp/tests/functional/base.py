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
"""Real etcd per test class, emulator + host configuration per test."""

import os
import shutil
import tempfile
import threading
import uuid

import testtools

from os_vif_accel.testing import etcd as etcd_server
from os_vif_accel.testing import waiting
from vif_plug_spp import agent as agent_mod
from vif_plug_spp import builder
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import keys
from vif_plug_spp import served
from vif_plug_spp import sppctl
from vif_plug_spp.emulator import server as emu_server

from spp_neutron import core

MAPPINGS = '00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfc02'


class WaitingCase(waiting.WaitMixin, testtools.TestCase):
    """A test case with ``wait_for``."""


class EtcdClassCase(WaitingCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = etcd_server.EtcdServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.host = 'ft-%s' % uuid.uuid4().hex[:8]
        self.etcd = etcd_mod.EtcdClient(self.server.host, self.server.port,
                                        retry_window=3.0)
        self.addCleanup(self.etcd.close)
        self.tmp = tempfile.mkdtemp(prefix='spp-ft-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.lock_path = os.path.join(self.tmp, 'lock')


class SppCase(EtcdClassCase):
    mappings = MAPPINGS
    classifier_type = 'classifier_mac'   # spp_vf 18.08's name

    def setUp(self):
        super().setUp()
        self.config = builder.build(self.mappings,
                                    classifier=self.classifier_type)
        builder.write(self.etcd, self.host, self.config)
        self.emu = emu_server.SppCtlEmulator.for_configuration(
            self.config, classifier_type=self.classifier_type).start()
        self.addCleanup(self.emu.stop)

    def start_agent(self, **kwargs):
        kwargs.setdefault('backoff_max', 0.3)
        kwargs.setdefault('watch_idle_timeout', 2.0)
        kwargs.setdefault('resync_interval', 0)
        client = etcd_mod.EtcdClient(self.server.host, self.server.port,
                                     retry_window=1.0)
        agent = agent_mod.Agent(client,
                                sppctl.SppCtlClient(self.emu.url,
                                                    retry_window=0.2),
                                self.host, lock_path=self.lock_path,
                                **kwargs)
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(agent.stop)
        self.assertTrue(agent.ready.wait(20), 'agent did not start')
        return agent

    def serve_host(self):
        """Publish our agent's marker for the host (as a running agent
        does) without running the agent.
        """
        marker = served.Marker(self.etcd, self.host, ttl=60)
        marker.start()
        self.addCleanup(marker.stop)
        return marker

    def status(self, sec_id):
        return self.emu.snapshot()[sec_id]

    def table(self, sec_id):
        return self.status(sec_id)['classifier_table']

    def neutron_bind(self, port_id, mac, physnet, vlan_id=None, wait=True,
                     timeout=20.0):
        """neutron-server's side of a binding, through the ML2 driver's
        Neutron-free core; the vhost id (once the agent said ``up`` when
        ``wait``).
        """
        binder = core.Binder(self.etcd)
        alloc = binder.bind(self.host, port_id, mac, physnet, vlan_id)
        if wait:
            self.assertTrue(binder.wait_up(alloc, timeout),
                            'no up for port %s' % port_id)
        return alloc.vhost_id

    def neutron_release(self, port_id):
        """neutron-server's side of an unbind or delete."""
        return core.Binder(self.etcd).release(self.host, port_id)

    def is_up(self, port_id):
        return self.etcd.get(keys.port_status(self.host, port_id)) == 'up'
