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
"""Agent + Neutron-side protocol with real etcd and the emulator."""

import os
import signal
import subprocess
import sys
import time
import uuid

from vif_plug_spp import keys
from vif_plug_spp import protocol
from vif_plug_spp import served
from vif_plug_spp.tests.functional import base

MAC1 = 'fa:16:3e:00:00:01'
MAC2 = 'fa:16:3e:00:00:02'


def _comp(status, name):
    return [c for c in status['components'] if c.get('name') == name][0]


def _vlan_ops(status):
    return {(c['name'], side[:2], p['port']): p['vlan']['operation']
            for c in status['components'] if 'name' in c
            for side in ('rx_port', 'tx_port') for p in c[side]
            if p['vlan']['operation'] != 'none'}


class TestAgent(base.SppCase):

    def test_marker_published_while_running_revoked_at_stop(self):
        # The os-vif plugin touches spp_vf only while this marker exists.
        marker = served.marker(self.host)
        agent = self.start_agent()
        self.wait_for(lambda: served.served_by_us(
            self.etcd.read(keys=[marker]), self.host), what='marker')
        agent.stop()
        self.wait_for(lambda: self.etcd.get(marker) is None,
                      what='marker revoked')

    def test_marker_of_a_killed_agent_expires(self):
        # A killed agent cannot revoke: the lease TTL ends the claim, so
        # networking-spp's agent started after it is not undercut.
        dead = served.Marker(self.etcd, self.host, ttl=3)
        dead.publish()  # and never kept alive
        self.assertIsNotNone(self.etcd.get(served.marker(self.host)))
        self.wait_for(lambda: self.etcd.get(served.marker(self.host))
                      is None, 10, 'lease expiry')

    def test_marker_comes_back_after_etcd_restart_and_lost_lease(self):
        # etcd down longer than the TTL, then the lease gone behind the
        # agent's back (revoked, or lost with a restored etcd): the
        # keepalive thread publishes a fresh lease each time.
        key = served.marker(self.host)
        marker = served.Marker(self.etcd, self.host, ttl=3)
        marker.start()
        self.addCleanup(marker.stop)
        self.server.restart(down_for=4.0)
        self.wait_for(lambda: marker._lease is not None and
                      self.etcd.get(key) is not None, 15, 'marker back')
        lost = marker._lease
        self.etcd.call('kv/lease/revoke', {'ID': lost})
        self.assertIsNone(self.etcd.get(key))
        self.wait_for(lambda: self.etcd.get(key) is not None, 10,
                      'marker back after its lease was revoked')
        self.assertNotEqual(lost, marker._lease)
        time.sleep(4)   # longer than the TTL: the new lease is kept alive
        self.assertTrue(served.served_by_us(self.etcd.read(keys=[key]),
                                            self.host))

    def test_plug_unplug_flat_and_vlan_on_two_nics(self):
        self.start_agent()
        p1, p2 = str(uuid.uuid4()), str(uuid.uuid4())
        v1 = self.neutron_bind(p1, MAC1, 'phys1')
        v2 = self.neutron_bind(p2, MAC2, 'phys2', 100)
        self.assertIn(v1, (0, 1))
        self.assertIn(v2, (2, 3))
        self.assertEqual([{'type': 'mac', 'value': MAC1.upper(),
                           'port': 'ring:%d' % (2 * v1)}], self.table(1))
        self.assertEqual([{'type': 'vlan', 'value': '100/' + MAC2.upper(),
                           'port': 'ring:%d' % (2 * v2)}], self.table(2))
        self.assertEqual({('classifier', 'tx', 'ring:%d' % (2 * v2)): 'del',
                          ('merger', 'rx', 'ring:%d' % (2 * v2 + 1)): 'add'},
                         _vlan_ops(self.status(2)))
        self.assertEqual({}, _vlan_ops(self.status(1)))
        self.assertEqual(p1, self.etcd.get(keys.vhost(self.host, 'phys1',
                                                      v1)))
        for port in (p1, p2):
            self.assertEqual('unplug', self.neutron_release(port))
        self.wait_for(lambda: self.etcd.get(keys.bind_port(self.host, p2))
                      is None and self.etcd.get(keys.bind_port(self.host,
                                                               p1)) is None,
                      what='unplug')
        for key in (keys.action(self.host, p1), keys.port_status(self.host,
                                                                  p2)):
            self.assertIsNone(self.etcd.get(key))
        self.assertEqual('None', self.etcd.get(keys.vhost(self.host,
                                                          'phys2', v2)))
        self.assertEqual([], self.table(1) + self.table(2))
        self.assertEqual({}, _vlan_ops(self.status(2)))

    def test_replay_on_start(self):
        port = str(uuid.uuid4())
        self.neutron_bind(port, MAC1, 'phys2', 7, wait=False)
        self.start_agent()
        self.wait_for(lambda: self.is_up(port), what='replayed plug')
        self.assertEqual('7/' + MAC1.upper(), self.table(2)[0]['value'])

    def test_release_of_an_unknown_port_writes_nothing(self):
        _kvs, before = self.etcd.get_prefix(keys.ROOT)
        self.assertEqual('absent', self.neutron_release(str(uuid.uuid4())))
        _kvs, after = self.etcd.get_prefix(keys.ROOT)
        self.assertEqual(before, after)

    def test_spp_ctl_error_mid_plug_leaves_nothing_half_wired(self):
        agent = self.start_agent(backoff_max=0.2)
        self.emu.fail('PUT', 'classifier_table', count=1000)
        port = str(uuid.uuid4())
        self.neutron_bind(port, MAC1, 'phys2', 300, wait=False)
        self.wait_for(lambda: sum(1 for r in self.emu.requests
                                  if 'classifier_table' in r[1]) >= 3,
                      what='failed attempts')
        with agent.handlers.datapath.locked():
            self.assertEqual({}, _vlan_ops(self.status(2)))
            self.assertEqual([], self.table(2))
        self.assertFalse(self.is_up(port))
        self.emu.clear_faults()
        self.wait_for(lambda: self.is_up(port), what='retry after fault')
        self.assertEqual(2, len(_vlan_ops(self.status(2))))

    def test_etcd_restart_while_watching_loses_no_event(self):
        self.start_agent()
        ports = [str(uuid.uuid4()) for _ in range(4)]
        self.neutron_bind(ports[0], MAC1, 'phys1', wait=False)
        self.server.restart(down_for=0.5)
        for i, port in enumerate(ports[1:], 1):
            physnet = 'phys1' if i < 2 else 'phys2'
            self.neutron_bind(port, 'fa:16:3e:00:01:%02x' % i, physnet,
                              wait=False)
        self.wait_for(lambda: all(self.is_up(p) for p in ports),
                      what='all ports up after etcd restart')
        self.assertEqual(2, len(self.table(1)))
        self.assertEqual(2, len(self.table(2)))

    def test_spp_vf_restart_is_repaired_by_resync(self):
        self.start_agent(resync_interval=0.5)
        port = str(uuid.uuid4())
        vid = self.neutron_bind(port, MAC1, 'phys1', 12)
        self.emu.restart(reset_vfs=True)
        self.assertEqual([], self.table(1))
        self.wait_for(lambda: self.table(1) == [{
            'type': 'vlan', 'value': '12/' + MAC1.upper(),
            'port': 'ring:%d' % (2 * vid)}],
            what='rewired after spp_vf restart')

    def test_spp_ctl_down_then_back(self):
        self.emu.stop()
        agent = self.start_agent()
        port = str(uuid.uuid4())
        self.neutron_bind(port, MAC1, 'phys1', wait=False)
        self.emu.start()
        self.wait_for(lambda: self.is_up(port), what='plug after spp-ctl')
        self.assertIsNotNone(agent.handlers.datapath)


class TestAgentProcess(base.SppCase):
    """The console script, killed with SIGKILL in the middle of a plug."""

    def _spawn(self):
        conf = os.path.join(self.tmp, 'agent.conf')
        with open(conf, 'w') as f:
            f.write('[DEFAULT]\nhost = %s\n[spp]\netcd_host = 127.0.0.1\n'
                    'etcd_port = %d\napi_ip_addr = 127.0.0.1\napi_port = %d\n'
                    'backoff_max = 0.3\nlock_path = %s\n' % (
                        self.host, self.server.port, self.emu.port,
                        self.lock_path))
        proc = subprocess.Popen(
            [sys.executable, '-m', 'vif_plug_spp.cmd.agent',
             '--config-file', conf],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(self._kill, proc)
        return proc

    @staticmethod
    def _kill(proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def test_killed_mid_plug_and_restarted_converges(self):
        proc = self._spawn()
        # Hold the classifier entry (the last step of a VLAN plug, after
        # the tag/strip changes) long enough to kill the agent there.
        self.emu.delay('PUT', 'classifier_table', 2.0)
        port = str(uuid.uuid4())
        vid = self.neutron_bind(port, MAC2, 'phys2', 42, wait=False)
        self.wait_for(lambda: any('classifier_table' in r[1]
                                  for r in self.emu.requests),
                      what='agent reaching the classifier step')
        self._kill(proc)
        self.assertFalse(self.is_up(port))
        self._spawn()
        self.wait_for(lambda: self.is_up(port), what='converged after kill')
        to_vm, from_vm = 'ring:%d' % (2 * vid), 'ring:%d' % (2 * vid + 1)
        self.assertEqual([{'type': 'vlan', 'value': '42/' + MAC2.upper(),
                           'port': to_vm}], self.table(2))
        self.assertEqual({('classifier', 'tx', to_vm): 'del',
                          ('merger', 'rx', from_vm): 'add'},
                         _vlan_ops(self.status(2)))
        merger = _comp(self.status(2), 'merger')
        self.assertEqual(42, [p for p in merger['rx_port']
                              if p['port'] == from_vm][0]['vlan']['id'])


class TestHandle(base.SppCase):
    """One port's handling, called directly (no watch)."""

    def setUp(self):
        super().setUp()
        self.agent = self.start_agent()

    def test_missing_binding_is_gone(self):
        self.assertEqual('gone',
                         self.agent.handlers.handle_port(str(uuid.uuid4())))

    def test_vhost_of_another_port_is_not_wired(self):
        port = str(uuid.uuid4())
        self.etcd.put(keys.bind_port(self.host, port),
                      protocol.bind_port_value(MAC1, 1, None))
        self.etcd.put(keys.vhost(self.host, 'phys1', 1), 'other-port')
        self.etcd.put(keys.action(self.host, port), 'plug')
        self.assertEqual('not-owner', self.agent.handlers.handle_port(port))
        self.assertEqual([], self.table(1))
        self.assertFalse(self.is_up(port))

    def test_replay_of_a_reported_port_writes_nothing(self):
        # A resync replays every plug; before, each wrote port_status
        # again: one etcd revision and one event for neutron-server's
        # status watch per port and resync_interval.
        port = str(uuid.uuid4())
        self.neutron_bind(port, MAC1, 'phys1')
        before = self.etcd.get_prefix(keys.port_status(self.host, port))
        self.assertEqual('plugged', self.agent.handlers.handle_port(port))
        after = self.etcd.get_prefix(keys.port_status(self.host, port))
        self.assertEqual(before[0][0].mod_revision,
                         after[0][0].mod_revision)
        self.assertEqual(before[1], after[1])
        self.assertEqual(1, len(self.table(1)))

    def test_invalid_binding_is_ignored(self):
        port = str(uuid.uuid4())
        self.etcd.put(keys.bind_port(self.host, port), '{"vhost_id": "x"}')
        self.assertEqual('invalid', self.agent.handlers.handle_port(port))

    def test_unknown_action_is_ignored(self):
        port = str(uuid.uuid4())
        vid = 0
        self.etcd.put(keys.vhost(self.host, 'phys1', vid), port)
        self.etcd.put(keys.bind_port(self.host, port),
                      protocol.bind_port_value(MAC1, vid, None))
        self.etcd.put(keys.action(self.host, port), 'reboot')
        self.assertEqual('ignored', self.agent.handlers.handle_port(port))

    def test_unplug_does_not_free_a_vhost_someone_else_holds(self):
        port = str(uuid.uuid4())
        vid = self.neutron_bind(port, MAC1, 'phys2')
        slot = keys.vhost(self.host, 'phys2', vid)
        self.etcd.put(slot, 'new-owner')
        self.etcd.put(keys.action(self.host, port), 'unplug')
        self.wait_for(lambda: self.etcd.get(keys.bind_port(self.host, port))
                      is None, what='keys deleted')
        self.assertEqual('new-owner', self.etcd.get(slot))
        self.assertEqual(1, len(self.table(2)))
