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
"""spp_neutron.sweep against a real etcd, our agent and the emulator.

Neutron's answer (which ports it still binds where) is the test's data;
everything else is real.
"""

import uuid

from os_vif_accel.testing import etcd as etcd_server
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import keys

from spp_neutron import errors
from spp_neutron import sweep
from spp_neutron.tests.functional import test_core

MAC = test_core.MAC


class SweepCase(test_core.CoreCase):

    def setUp(self):
        super().setUp()
        #: What Neutron has on our host: bound ports, existing ports.
        self.bound, self.existing = set(), set()
        self.lookups = 0

    def lookup(self, pairs):
        """Neutron's answer.  etcd is shared by the test class: other
        hosts' allocations are bound as far as this test is concerned.
        """
        self.lookups += 1
        bound = {(host, port) for host, port in pairs
                 if host != self.host or port in self.bound}
        return bound, set(self.existing) | {p for _h, p in bound}

    def sweeper(self, grace=0.0, clock=None):
        kwargs = {'clock': clock} if clock else {}
        return sweep.Sweeper(self.etcd, grace, **kwargs)

    def bind_up(self, port, physnet='phys1', vlan=None):
        alloc = self.binder.bind(self.host, port, MAC, physnet, vlan)
        self.assertTrue(self.binder.wait_up(alloc, 20))
        return alloc

    def mine(self, pairs):
        return [port for host, port in pairs if host == self.host]


class TestSweep(SweepCase):

    def test_bound_ports_are_left_alone(self):
        self.start_agent()
        port = str(uuid.uuid4())
        self.bind_up(port)
        self.bound.add(port)
        before = self.port_keys(port)
        report = self.sweeper().sweep(self.lookup)
        self.assertTrue(report.complete)
        self.assertEqual([], self.mine(report.unplugged + report.freed +
                                       report.waiting + report.pending))
        self.assertEqual(before, self.port_keys(port))

    def test_deleted_port_is_unplugged_through_the_agent(self):
        # The delete's release never reached etcd: the port is wired
        # and its vhost held, but Neutron has no such port any more.
        self.start_agent()
        port = str(uuid.uuid4())
        alloc = self.bind_up(port, 'phys2', 100)
        self.assertEqual(1, len(self.table(2)))
        report = self.sweeper().sweep(self.lookup)
        self.assertEqual([port], self.mine(report.unplugged))
        self.wait_for(lambda: not self.port_keys(port), 20,
                      'agent released the port')
        self.assertEqual(keys.FREE, self.etcd.get(
            keys.vhost(self.host, 'phys2', alloc.vhost_id)))
        self.assertEqual([], self.table(2))
        report = self.sweeper().sweep(self.lookup)
        self.assertEqual([], self.mine(report.unplugged + report.freed))

    def test_port_bound_elsewhere_is_unplugged_here_after_the_grace(self):
        # A host change whose release on the old host was lost: the
        # port exists, bound to another host.  So does a live
        # migration's destination binding until ML2 stores its row
        # (after bind_port wrote the keys): the first sweep waits.
        port = str(uuid.uuid4())
        self.binder.bind(self.host, port, MAC, 'phys1')
        self.existing.add(port)
        now = [1000.0]
        sweeper = self.sweeper(grace=300, clock=lambda: now[0])
        report = sweeper.sweep(self.lookup)
        self.assertEqual([port], self.mine(report.waiting))
        self.assertEqual(keys.PLUG,
                         self.etcd.get(keys.action(self.host, port)))
        now[0] += 300
        report = sweeper.sweep(self.lookup)
        self.assertEqual([port], self.mine(report.unplugged))
        self.assertEqual(keys.UNPLUG,
                         self.etcd.get(keys.action(self.host, port)))
        # Asked once; later sweeps wait for the agent.
        report = self.sweeper().sweep(self.lookup)
        self.assertEqual([port], self.mine(report.pending))

    def test_allocation_without_action_of_a_gone_port_is_freed(self):
        port = str(uuid.uuid4())
        slot = keys.vhost(self.host, 'phys1', 0)
        self.assertTrue(self.etcd.replace(slot, keys.FREE, port))
        report = self.sweeper(grace=3600).sweep(self.lookup)
        self.assertEqual([port], self.mine(report.freed))
        self.assertEqual(keys.FREE, self.etcd.get(slot))
        self.assertEqual({}, self.port_keys(port))

    def test_allocation_without_action_waits_for_the_grace(self):
        # The port exists: this may be a bind in progress (the vhost
        # taken, its keys not yet written).  Freed only once two sweeps
        # ``grace`` seconds apart saw it unchanged.
        port = str(uuid.uuid4())
        self.existing.add(port)
        slot = keys.vhost(self.host, 'phys1', 1)
        self.assertTrue(self.etcd.replace(slot, keys.FREE, port))
        now = [1000.0]
        sweeper = self.sweeper(grace=300, clock=lambda: now[0])
        self.assertEqual([port], self.mine(sweeper.sweep(
            self.lookup).waiting))
        now[0] += 299
        self.assertEqual([port], self.mine(sweeper.sweep(
            self.lookup).waiting))
        self.assertEqual(port, self.etcd.get(slot))
        now[0] += 1
        self.assertEqual([port], self.mine(sweeper.sweep(
            self.lookup).freed))
        self.assertEqual(keys.FREE, self.etcd.get(slot))

    def test_keyless_vhost_of_a_bound_port_is_freed_after_the_grace(self):
        # Neutron binds the port here, but its bind stopped after taking
        # the vhost (neutron-server killed): nothing can wire it.  A
        # half-written networking-spp binding (bind_port, no action) is
        # the port's own release's to free.
        port, legacy = str(uuid.uuid4()), str(uuid.uuid4())
        self.bound.update((port, legacy))
        slot, legacy_slot = (keys.vhost(self.host, 'phys1', n)
                             for n in (0, 1))
        self.etcd.put(slot, port)
        self.etcd.put(legacy_slot, legacy)
        self.etcd.put(keys.bind_port(self.host, legacy),
                      '{"mac_address": "%s", "vhost_id": 1}' % MAC)
        now = [0.0]
        sweeper = self.sweeper(grace=60, clock=lambda: now[0])
        self.assertEqual([port], self.mine(sweeper.sweep(
            self.lookup).waiting))
        now[0] += 60
        report = sweeper.sweep(self.lookup)
        self.assertEqual([port], self.mine(report.freed))
        self.assertEqual([keys.FREE, legacy], [self.etcd.get(k) for k in
                                               (slot, legacy_slot)])

    def test_a_change_restarts_the_grace(self):
        port = str(uuid.uuid4())
        self.existing.add(port)
        slot = keys.vhost(self.host, 'phys1', 1)
        self.etcd.put(slot, port)
        now = [0.0]
        sweeper = self.sweeper(grace=10, clock=lambda: now[0])
        sweeper.sweep(self.lookup)
        now[0] += 10
        self.etcd.put(slot, port)   # rewritten: a new allocation
        self.assertEqual([port], self.mine(sweeper.sweep(
            self.lookup).waiting))
        now[0] += 10
        self.assertEqual([port], self.mine(sweeper.sweep(
            self.lookup).freed))


class TestSweepRaces(SweepCase):
    """Whatever changes between the sweep's etcd snapshot and its write
    is left alone.
    """

    def test_rebound_after_the_snapshot_is_not_unplugged(self):
        # Snapshot: an old binding of the port (released, lost).  Before
        # the sweep writes, the agent released it and the port was bound
        # on this host again: the new binding must stay.
        port = str(uuid.uuid4())
        old = self.binder.bind(self.host, port, MAC, 'phys1')
        new = []

        def lookup(pairs):
            # What the agent's unplug does.
            self.etcd.put(keys.vhost(self.host, 'phys1', old.vhost_id),
                          keys.FREE)
            for key in (keys.bind_port(self.host, port),
                        keys.action(self.host, port)):
                self.etcd.delete(key)
            new.append(self.binder.bind(self.host, port, MAC, 'phys1'))
            return self.lookup(pairs)
        report = self.sweeper().sweep(lookup)
        self.assertEqual([port], self.mine(report.changed))
        self.assertEqual(keys.PLUG,
                         self.etcd.get(keys.action(self.host, port)))
        self.assertEqual(port, self.etcd.get(
            keys.vhost(self.host, 'phys1', new[0].vhost_id)))

    def test_moved_back_after_the_neutron_read_is_not_unplugged(self):
        # The port left this host and the release never reached etcd,
        # so its old binding (still "plug") is stale for two sweeps.
        # Between the second sweep's Neutron read and its write, the
        # port is moved back here: the bind reuses the old binding
        # unchanged and ML2 commits it.  The sweep must not unplug it.
        port = str(uuid.uuid4())
        old = self.binder.bind(self.host, port, MAC, 'phys1')
        self.existing.add(port)
        now = [1000.0]
        sweeper = self.sweeper(grace=300, clock=lambda: now[0])
        self.assertEqual([port], self.mine(sweeper.sweep(self.lookup).waiting))
        now[0] += 300
        rebound = []

        def lookup(pairs):
            answer = self.lookup(pairs)   # read before ML2's commit
            rebound.append(self.binder.bind(self.host, port, MAC, 'phys1'))
            return answer
        report = sweeper.sweep(lookup)
        self.assertEqual(old.vhost_id, rebound[0].vhost_id)
        self.assertEqual([port], self.mine(report.changed))
        self.assertEqual([], self.mine(report.unplugged))
        self.assertEqual(keys.PLUG,
                         self.etcd.get(keys.action(self.host, port)))

    def test_binding_written_after_the_snapshot_keeps_its_vhost(self):
        # Snapshot: a gone port's vhost without action.  Before the
        # sweep writes, its keys were written: the sweep leaves them.
        port = str(uuid.uuid4())
        slot = keys.vhost(self.host, 'phys1', 0)
        self.etcd.put(slot, port)

        def lookup(pairs):
            self.etcd.put(keys.bind_port(self.host, port),
                          '{"mac_address": "%s", "vhost_id": 0}' % MAC)
            self.etcd.put(keys.action(self.host, port), keys.PLUG)
            return self.lookup(pairs)
        report = self.sweeper().sweep(lookup)
        self.assertEqual([port], self.mine(report.changed))
        self.assertEqual(port, self.etcd.get(slot))

    def test_a_binder_racing_a_free_fails_cleanly(self):
        # The sweep frees a gone port's vhost while its bind is in
        # flight: the binder's own compare-and-swap sees it and nothing
        # stays allocated.
        port = str(uuid.uuid4())
        real_write = self.binder._write

        def sweep_then_write(*args):
            self.assertEqual([port], self.mine(
                self.sweeper().sweep(self.lookup).freed))
            return real_write(*args)
        self.binder._write = sweep_then_write
        self.assertRaises(errors.ReleasedWhileBinding,
                          self.binder.bind, self.host, port, MAC, 'phys1')
        self.assertEqual({}, self.port_keys(port))


class TestSweepReadFailures(SweepCase):

    def test_etcd_unreachable_changes_nothing(self):
        dead = etcd_mod.EtcdClient('127.0.0.1', etcd_server.free_port(),
                                   retry_window=0.0, connect_timeout=0.2)
        self.addCleanup(dead.close)
        report = sweep.Sweeper(dead, 0.0).sweep(self.lookup)
        self.assertFalse(report.complete)
        self.assertEqual(0, self.lookups)

    def test_neutron_unreadable_changes_nothing(self):
        port = str(uuid.uuid4())
        self.binder.bind(self.host, port, MAC, 'phys1')
        before = self.port_keys(port)

        def broken(pairs):
            raise RuntimeError('database gone')
        report = self.sweeper().sweep(broken)
        self.assertFalse(report.complete)
        self.assertEqual(before, self.port_keys(port))

    def test_keys_not_of_the_protocol_are_never_freed(self):
        odd = keys.vhost_physnet_prefix(self.host, 'phys1') + 'x7'
        self.etcd.put(odd, str(uuid.uuid4()))
        slot = keys.vhost(self.host, 'phys1', 1)
        self.etcd.put(slot, 'not a port id')
        report = self.sweeper().sweep(self.lookup)
        self.assertTrue(report.complete)
        self.assertEqual('not a port id', self.etcd.get(slot))
        self.assertIsNotNone(self.etcd.get(odd))


class TestPeriodicSweep(SweepCase):

    def test_sweeps_every_interval_until_stopped(self):
        port = str(uuid.uuid4())
        slot = keys.vhost(self.host, 'phys2', 2)
        self.etcd.put(slot, port)
        periodic = sweep.PeriodicSweep(self.sweeper(), self.lookup,
                                       0.2).start()
        self.addCleanup(periodic.stop)
        self.wait_for(lambda: self.etcd.get(slot) == keys.FREE, 20,
                      'periodic sweep freed the vhost')
        periodic.stop()
        done = periodic.sweeps
        self.assertGreaterEqual(done, 1)
        self.assertFalse(periodic._thread.is_alive())
