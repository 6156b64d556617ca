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
"""Neutron 29's ML2 plugin binds ports with the ``spp`` driver; our agent
wires them on the spp-ctl emulator; the ports become ACTIVE.
"""

import json
import uuid

from neutron.tests.common import helpers
from neutron_lib.api.definitions import portbindings

from vif_plug_spp import keys

from neutron_e2e import base


def details(vhost_id):
    return {'bound_drivers': {'0': 'spp'}, 'port_filter': False,
            'vhostuser_mode': 'server',
            'vhostuser_socket': '/tmp/sock%d' % vhost_id,
            'vhostuser_spp_plug': True}


class TestBind(base.SppMl2Case):

    def setUp(self):
        super().setUp()
        self.start_host()

    def test_agent_report_is_in_the_agents_table(self):
        agents = self.driver.get_agents(self.context,
                                        filters={'host': [self.host]})
        self.assertEqual([('SPP neutron agent', 'neutron-spp-agent', True)],
                         [(a['agent_type'], a['binary'], a['alive'])
                          for a in agents])

    def test_flat_port_bound_vhostuser_and_active(self):
        port = self.port(self.network('flat', 'physnet1'))
        self.assertEqual(portbindings.VIF_TYPE_VHOST_USER,
                         port[portbindings.VIF_TYPE])
        vhost_id = json.loads(self.etcd.get(
            keys.bind_port(self.host, port['id'])))['vhost_id']
        self.assertIn(vhost_id, (0, 1))
        self.assertEqual(details(vhost_id), port[portbindings.VIF_DETAILS])
        self.assertEqual('DOWN', port['status'])
        self.wait_status(port['id'], 'ACTIVE')
        self.assertEqual([base.MAC.upper()], self.macs())

    def test_vlan_port_active_with_vlan_wiring(self):
        port = self.port(self.network('vlan', 'physnet2', 250))
        self.assertEqual(portbindings.VIF_TYPE_VHOST_USER,
                         port[portbindings.VIF_TYPE])
        bind = json.loads(self.etcd.get(keys.bind_port(self.host,
                                                       port['id'])))
        self.assertEqual(250, bind['vlan_id'])
        self.assertIn(bind['vhost_id'], (2, 3))
        self.wait_status(port['id'], 'ACTIVE')
        self.assertEqual(['250/' + base.MAC.upper()], self.macs())

    def active_port(self):
        port = self.port(self.network('flat', 'physnet1'))
        self.wait_status(port['id'], 'ACTIVE')
        return port['id']

    def assert_released(self, port_id):
        self.wait_for(lambda: not self.port_keys(port_id), 20,
                      'the agent to release the port')
        self.assertEqual([], self.macs())

    def test_delete_releases_the_vhost(self):
        port_id = self.active_port()
        self._delete('ports', port_id, as_admin=True)
        self.assert_released(port_id)

    def test_unbind_releases_the_vhost(self):
        port_id = self.active_port()
        self._update('ports', port_id,
                     {'port': {portbindings.HOST_ID: ''}}, as_admin=True)
        self.assert_released(port_id)

    def test_host_change_releases_the_old_host(self):
        port_id = self.active_port()
        self._update('ports', port_id,
                     {'port': {portbindings.HOST_ID: 'not-an-spp-host'}},
                     as_admin=True)
        self.assert_released(port_id)

    def test_no_free_vhost_fails_clearly_and_allocates_nothing(self):
        net = self.network('flat', 'physnet1')
        for n in range(2):
            self.port(net, mac='fa:16:3e:00:00:0%d' % n)
        port = self.port(net)
        self.assertEqual(portbindings.VIF_TYPE_BINDING_FAILED,
                         port[portbindings.VIF_TYPE])
        self.assertIn('SPP cannot bind port %s on host %s: no free vhost '
                      'for physical network physnet1' % (port['id'],
                                                         self.host),
                      self.log.output)
        self.assertEqual({}, self.port_keys(port['id']))

    def test_no_nic_for_physnet_fails_clearly(self):
        port = self.port(self.network('vlan', 'physnet3', 450))
        self.assertEqual(portbindings.VIF_TYPE_BINDING_FAILED,
                         port[portbindings.VIF_TYPE])
        self.assertIn('on host %s: no NIC for physical network physnet3'
                      % self.host, self.log.output)
        self.assertEqual({}, self.port_keys(port['id']))

    def test_dead_agent_fails_clearly(self):
        helpers.kill_agent(self.agent_id)
        self.assert_not_bound_agent_dead()

    def test_port_deleted_while_binding_leaves_nothing(self):
        net = self.network('flat', 'physnet1')
        real_bind = self.mech.binder.bind
        deleted = []

        def bind_racing_a_delete(host, port_id, *args):
            if not deleted:
                # The API's delete (and its release, which finds nothing
                # yet) completes while bind_port still runs.
                self.driver.delete_port(self.context, port_id)
                deleted.append(port_id)
            return real_bind(host, port_id, *args)
        self.mech.binder.bind = bind_racing_a_delete
        self._create_port(self.fmt, net, is_admin=True,
                          arg_list=(portbindings.HOST_ID,),
                          **{portbindings.HOST_ID: self.host})
        self.assertEqual(1, len(deleted))
        self.wait_for(lambda: not self.port_keys(deleted[0]), 20,
                      'the released keys')
        self.assertIn('was deleted or moved to another host while it was '
                      'being bound', self.log.output)
        self.assertEqual([], self.macs())

    def test_up_before_the_binding_commit_still_activates(self):
        """An agent fast enough to answer before ML2 commits the binding:
        Neutron ignores that completion (the port is not bound yet); the
        driver completes it again once the binding is committed.
        """
        real_bind = self.mech.binder.bind

        def bind_and_answer_at_once(host, port_id, *args):
            alloc = real_bind(host, port_id, *args)
            rev = self.etcd.put(keys.port_status(host, port_id), keys.UP)
            self.mech.port_up(host, port_id, rev)
            return alloc
        self.mech.binder.bind = bind_and_answer_at_once
        port = self.port(self.network('flat', 'physnet1'))
        self.assertEqual('ACTIVE', self.show(port['id'])['status'])

    def test_up_of_a_port_neutron_does_not_have_releases_it(self):
        """An allocation whose port is gone (its delete could not reach
        etcd) is released when the agent's up for it is seen.
        """
        ghost = str(uuid.uuid4())
        alloc = self.mech.binder.bind(self.host, ghost, base.MAC, 'physnet1')
        self.assertTrue(self.mech.binder.wait_up(alloc, 20))
        self.mech.port_up(self.host, ghost, alloc.revision)
        self.wait_for(lambda: not self.port_keys(ghost), 20,
                      'the ghost port released')
        self.assertEqual([], self.macs())


class TestEtcdDown(base.SppMl2Case):

    def test_etcd_unreachable_fails_clearly(self):
        self.start_host(agent=False)
        self.server.kill()
        self.addCleanup(self.server.restart)
        port = self.port(self.network('flat', 'physnet1'))
        self.assertEqual(portbindings.VIF_TYPE_BINDING_FAILED,
                         port[portbindings.VIF_TYPE])
        # ML2 calls bind_port up to 10 times; etcd is asked once.
        self.assertEqual(1, self.log.output.count(
            'on host %s: etcd unreachable' % self.host))


class TestStatusWorker(base.SppMl2Case):

    def test_worker_process_runs_the_one_watch(self):
        workers = self.mech.get_workers()
        self.assertEqual([1, 1], [w.worker_process_count for w in workers])
        workers[0].start()
        self.addCleanup(workers[0].stop)
        self.assertTrue(self.mech.watcher.ready.wait(20))
        self.assertEqual(keys.port_status_root(),
                         self.mech.watcher._watch.prefix)
        workers[0].stop()
        self.assertIsNone(self.mech.watcher)


class TestOtherDriversPorts(base.SppMl2Case):
    """Open vSwitch with DPDK binds ``vhostuser`` too: its ports are
    none of ours and their deletion never waits on etcd.
    """

    _mechanism_drivers = ['openvswitch', 'spp']

    def test_delete_of_a_port_ovs_bound_leaves_etcd_alone(self):
        self.start_host()
        ovs_host = 'ovs-dpdk-%s' % uuid.uuid4().hex[:8]
        agent = helpers._get_l2_agent_dict(
            ovs_host, 'Open vSwitch agent', 'neutron-openvswitch-agent',
            bridge_mappings={'physnet1': 'br-phys'})
        agent['configurations'].update(
            datapath_type='netdev',
            ovs_capabilities={'iface_types': ['dpdkvhostuser']})
        helpers._register_agent(agent)
        net = self.network('flat', 'physnet1')
        ovs_port = self.port(net, host=ovs_host, mac='fa:16:3e:00:00:0a')
        self.assertEqual(
            (portbindings.VIF_TYPE_VHOST_USER, {'0': 'openvswitch'}),
            (ovs_port[portbindings.VIF_TYPE],
             ovs_port[portbindings.VIF_DETAILS]['bound_drivers']))
        spp_port = self.port(net)
        self.server.kill()
        self.addCleanup(self.server.restart)
        for port in (ovs_port, spp_port):
            self._delete('ports', port['id'], as_admin=True)
        # One release per deleted port (it was two).
        self.assertEqual(1, self.log.output.count(
            'Port %s on %s not released' % (spp_port['id'], self.host)))
        self.assertNotIn(ovs_port['id'], self.log.output)
