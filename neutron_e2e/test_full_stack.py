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
"""From Neutron's binding to the wired vhost, through real Nova.

Neutron 29's ML2 plugin binds the port with the ``spp`` driver (real
etcd), our spp-agent wires it on the spp-ctl emulator (both processes)
and the port goes ACTIVE; Nova 34's neutron API builds the instance's
network info from Neutron's API, and Nova's libvirt VIF driver plugs it
through ``nova_to_osvif_vif`` and ``os_vif.plug`` into our ``spp``
plugin.  What a user notices is checked where it shows: the port's
status in Neutron, the classifier entry that sends the VM's MAC (and
VLAN) to its vhost in spp_vf, the vhost slots in etcd.
"""

import json
import os
import signal
import uuid

from os_vif_accel.testing import spp_wiring
from vif_plug_spp import keys

from neutron_e2e import base
from neutron_e2e import compute


class FullStackCase(base.SppMl2Case):

    def setUp(self):
        super().setUp()
        self.neutron = self.useFixture(compute.NeutronServer())
        self.computes = {}

    def start_host(self, host=None, agent=True):
        """The SPP host and its nova-compute."""
        host = super().start_host(host, agent)
        self.computes[host] = self.useFixture(compute.NovaCompute(
            host, self.hosts[host], self.server, self.neutron.url))
        return host

    def nova(self, call, on=None, **args):
        """Nova's step ``call`` in the nova-compute of host ``on``."""
        return self.computes[on or self.host].call(call, **args)

    def create(self, net_id, host=None):
        """An instance and its port, bound to the host (what Nova's
        port update asks Neutron for); the instance, the port.
        """
        host = host or self.host
        inst = {'uuid': str(uuid.uuid4()), 'host': host}
        port = self.port(net_id, host=host, device_id=inst['uuid'])
        inst['project_id'] = port['project_id']
        return inst, port

    def plug(self, inst, port, host=None):
        """nova-compute's part of the boot: network info from Neutron,
        the VIF driver's plug, then the wait for network-vif-plugged
        (Neutron's port ACTIVE); Nova's VIF.
        """
        [vif] = self.nova('network_info', host, instance=inst,
                          network_ids=[port['network_id']],
                          port_ids=[port['id']])
        self.nova('plug', host, instance=inst, vif=vif)
        self.wait_status(port['id'], 'ACTIVE')
        return vif

    def unplug(self, inst, vif, host=None):
        self.nova('unplug', host, instance=inst, vif=vif)

    def vhost_id(self, port_id, host=None):
        return json.loads(self.etcd.get(keys.bind_port(
            host or self.host, port_id)))['vhost_id']

    def wiring(self, host=None):
        """Every classifier entry of the host's two spp_vf processes."""
        spp = self.hosts[host or self.host].spp
        return sorted(entry for sec in (1, 2)
                      for entry in spp_wiring.entries(spp.vf_status(sec)))

    def held_vhosts(self, port_id, host=None):
        kvs, _rev = self.etcd.get_prefix(keys.vhost_prefix(
            host or self.host))
        return sorted(kv.key for kv in kvs if kv.value == port_id)

    def freeze_agent(self, host=None):
        """Stop the agent's process (SIGSTOP) so it cannot answer."""
        agent = self.hosts[host or self.host].agent
        os.kill(agent.pid, signal.SIGSTOP)
        self.addCleanup(self._thaw, agent)
        return agent

    @staticmethod
    def _thaw(agent):
        if agent.poll() is None:
            os.kill(agent.pid, signal.SIGCONT)


class TestBoot(FullStackCase):

    def setUp(self):
        super().setUp()
        self.start_host()

    def test_flat_port_through_nova_into_spp(self):
        inst, port = self.create(self.network('flat', 'physnet1'))
        vif = self.plug(inst, port)

        vhost_id = self.vhost_id(port['id'])
        self.assertEqual('vhostuser', vif['type'])
        self.assertEqual('physnet1', vif['network']['meta'][
            'physical_network'])
        self.assertEqual({'plugin': 'spp', 'type': 'VIFVHostUser',
                          'mode': 'server',
                          'path': '/tmp/sock%d' % vhost_id,
                          'vif_name': ('tap' + port['id'])[:14]},
                         self.nova('to_osvif', vif=vif))
        self.assertEqual([('mac', base.MAC.upper(), 'vhost:%d' % vhost_id)],
                         self.wiring())

    def test_vlan_port_through_nova_into_spp(self):
        inst, port = self.create(self.network('vlan', 'physnet2', 250))
        vif = self.plug(inst, port)

        vhost_id = self.vhost_id(port['id'])
        self.assertIn(vhost_id, (2, 3))
        self.assertEqual('physnet2', vif['network']['meta'][
            'physical_network'])
        self.assertEqual([('vlan', '250/' + base.MAC.upper(),
                           'vhost:%d' % vhost_id)], self.wiring())

    def test_port_deleted_then_unplugged_frees_everything(self):
        """The user deletes the port: Neutron releases it (the agent
        removes wiring, frees the vhost); Nova's network-vif-deleted
        handling then unplugs the VIF it still has cached.
        """
        inst, port = self.create(self.network('flat', 'physnet1'))
        vif = self.plug(inst, port)
        vhost = keys.vhost(self.host, 'physnet1', self.vhost_id(port['id']))

        self._delete('ports', port['id'], as_admin=True)
        self.wait_for(lambda: not self.port_keys(port['id']), 20,
                      'the agent to release the port')
        self.unplug(inst, vif)

        self.assertEqual(keys.FREE, self.etcd.get(vhost))
        self.assertEqual([], self.wiring())

    def test_unplugged_then_port_deleted_frees_everything(self):
        """An instance deleted: Nova unplugs first (the wiring goes at
        once), then deletes the port (the vhost is freed).
        """
        inst, port = self.create(self.network('vlan', 'physnet2', 260))
        vif = self.plug(inst, port)
        vhost = keys.vhost(self.host, 'physnet2', self.vhost_id(port['id']))

        self.unplug(inst, vif)
        self.assertEqual([], self.wiring())
        self.assertEqual(port['id'], self.etcd.get(vhost))
        self._delete('ports', port['id'], as_admin=True)

        self.wait_for(lambda: self.etcd.get(vhost) == keys.FREE, 20,
                      'the vhost to be freed')
        self.assertEqual({}, self.port_keys(port['id']))


class TestFailures(FullStackCase):

    def setUp(self):
        super().setUp()
        self.start_host()

    def test_agent_killed_during_binding_then_restarted(self):
        """The agent dies after Neutron wrote the binding and before it
        answered ``up``: the port stays DOWN (Nova would wait for
        network-vif-plugged) until the agent is back; the restarted
        agent finds the pending ``plug``, the port goes ACTIVE, Nova's
        plug finds it wired, and nothing is allocated or wired twice.
        """
        agent = self.freeze_agent()
        inst, port = self.create(self.network('flat', 'physnet1'))
        self.assertIsNotNone(self.etcd.get(keys.bind_port(self.host,
                                                          port['id'])))
        agent.kill()
        agent.wait(10)
        self.assertIsNone(self.etcd.get(keys.port_status(self.host,
                                                         port['id'])))
        self.assertEqual('DOWN', self.show(port['id'])['status'])

        self.start_agent(self.host)
        self.wait_status(port['id'], 'ACTIVE')
        self.plug(inst, port)

        vhost_id = self.vhost_id(port['id'])
        self.assertEqual([keys.vhost(self.host, 'physnet1', vhost_id)],
                         self.held_vhosts(port['id']))
        self.assertEqual([('mac', base.MAC.upper(), 'vhost:%d' % vhost_id)],
                         self.wiring())

    def test_etcd_restarted_during_binding(self):
        """etcd goes down and comes back (same data) between Neutron's
        binding write and the agent's ``up``: the driver's status watch
        resumes and the port goes ACTIVE; the boot completes.
        """
        agent = self.freeze_agent()
        inst, port = self.create(self.network('vlan', 'physnet2', 270))
        self.server.restart()
        self.assertIsNotNone(self.etcd.get(keys.bind_port(self.host,
                                                          port['id'])))
        self._thaw(agent)

        self.wait_status(port['id'], 'ACTIVE')
        self.plug(inst, port)

        vhost_id = self.vhost_id(port['id'])
        self.assertEqual([('vlan', '270/' + base.MAC.upper(),
                           'vhost:%d' % vhost_id)], self.wiring())


class TestLiveMigration(FullStackCase):
    """Two SPP hosts (an agent and an emulator each), one etcd; Nova's
    network steps of a live migration with multiple port bindings, each
    in the nova-compute process that runs it.
    """

    def setUp(self):
        super().setUp()
        self.dst = self.start_host('dst-%s' % uuid.uuid4().hex[:8])
        self.src = self.start_host()

    def start_migration(self):
        """A booted VLAN port on the source, the destination's binding
        (conductor) and the destination's pre_live_migration plug.
        """
        inst, port = self.create(self.network('vlan', 'physnet2', 280))
        inst['network_info'] = [self.plug(inst, port)]
        bindings = self.nova('bind_ports_to_host', self.dst, instance=inst,
                             host=self.dst)
        self.assertEqual('INACTIVE', bindings[port['id']]['status'])
        dest_vifs = self.nova('pre_live_migration', self.dst,
                              instance=inst, bindings=bindings)
        dst_vhost = self.vhost_id(port['id'], self.dst)
        self.assertEqual('/tmp/sock%d' % dst_vhost,
                         dest_vifs[0]['details']['vhostuser_socket'])
        self.assertEqual(self.entry(280, dst_vhost), self.wiring(self.dst))
        return inst, port, dest_vifs

    def entry(self, vlan, vhost_id):
        return [('vlan', '%d/%s' % (vlan, base.MAC.upper()),
                 'vhost:%d' % vhost_id)]

    def test_source_released_wiring_only_on_destination(self):
        inst, port, _vifs = self.start_migration()
        src_vhost = self.vhost_id(port['id'], self.src)

        self.nova('post_live_migration', self.src, instance=inst,
                  dest=self.dst)
        self.nova('post_live_migration_at_destination', self.dst,
                  instance=inst)

        self.wait_for(lambda: not self.port_keys(port['id'], self.src),
                      20, 'the source agent to release the port')
        self.assertEqual(keys.FREE, self.etcd.get(
            keys.vhost(self.src, 'physnet2', src_vhost)))
        self.assertEqual([], self.wiring(self.src))
        dst_vhost = self.vhost_id(port['id'], self.dst)
        self.assertEqual(self.entry(280, dst_vhost), self.wiring(self.dst))
        self.assertEqual([keys.vhost(self.dst, 'physnet2', dst_vhost)],
                         self.held_vhosts(port['id'], self.dst))
        shown = self.wait_status(port['id'], 'ACTIVE')
        self.assertEqual((self.dst, '/tmp/sock%d' % dst_vhost),
                         (shown['binding:host_id'],
                          shown['binding:vif_details']['vhostuser_socket']))

    def test_aborted_migration_releases_the_destination(self):
        inst, port, dest_vifs = self.start_migration()
        src_vhost = self.vhost_id(port['id'], self.src)

        self.nova('rollback_live_migration_at_destination', self.dst,
                  instance=inst, vifs=dest_vifs)

        self.wait_for(lambda: not self.port_keys(port['id'], self.dst),
                      20, 'the destination agent to release the port')
        self.assertEqual([], self.wiring(self.dst))
        self.assertEqual(self.entry(280, src_vhost), self.wiring(self.src))
        shown = self.wait_status(port['id'], 'ACTIVE')
        self.assertEqual(self.src, shown['binding:host_id'])
