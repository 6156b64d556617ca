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
"""The allocation sweep against Neutron 29's database: a port deleted
while etcd was down keeps its vhost until the sweep releases it through
the agent; ports Neutron still binds are left alone.
"""

import subprocess
import sys

from oslo_config import cfg

from spp_neutron import sweep
from spp_neutron import sweep_worker

from neutron_e2e import base


class TestSweep(base.SppMl2Case):

    def setUp(self):
        super().setUp()
        self.start_host()

    def sweep(self):
        # On the test thread: the test database is one in-memory SQLite
        # connection.
        return sweep.Sweeper(self.mech.etcd, grace=300).sweep(
            sweep_worker.neutron_lookup)

    def test_delete_that_missed_etcd_is_released_by_the_sweep(self):
        net = self.network('flat', 'physnet1')
        kept, lost = self.port(net), self.port(net, mac='fa:16:3e:00:00:02')
        for port in (kept, lost):
            self.wait_status(port['id'], 'ACTIVE')
        self.server.kill()
        self._delete('ports', lost['id'], as_admin=True)
        self.server.restart()
        self.assertIn('Port %s on %s not released' % (lost['id'], self.host),
                      self.log.output)
        self.assertNotEqual({}, self.port_keys(lost['id']))
        report = self.sweep()
        self.assertTrue(report.complete)
        mine = [(h, p) for h, p in report.unplugged if h == self.host]
        self.assertEqual([(self.host, lost['id'])], mine)
        self.wait_for(lambda: not self.port_keys(lost['id']), 30,
                      'the agent to release the deleted port')
        self.assertEqual([base.MAC.upper()], self.macs())
        self.assertEqual('ACTIVE', self.show(kept['id'])['status'])
        self.assertEqual([], [p for h, p in self.sweep().unplugged
                              if h == self.host])

    def test_lookup_answers_per_host_from_the_binding_rows(self):
        net = self.network('flat', 'physnet1')
        port = self.port(net)
        self.wait_status(port['id'], 'ACTIVE')
        bound, existing = sweep_worker.neutron_lookup(
            {(self.host, port['id']), ('elsewhere', port['id']),
             (self.host, 'no-such-port')})
        self.assertEqual({(self.host, port['id'])}, bound)
        self.assertEqual({port['id']}, existing)


class TestSweepWorker(base.SppMl2Case):

    def test_worker_only_when_enabled(self):
        names = [w.__class__.__name__ for w in self.mech.get_workers()]
        self.assertEqual(['StatusWorker', 'SweepWorker'], names)
        cfg.CONF.set_override('allocation_sweep_interval', 0, 'spp')
        self.assertEqual(['StatusWorker'], [
            w.__class__.__name__ for w in self.mech.get_workers()])

    def test_worker_starts_and_stops_its_thread(self):
        worker = sweep_worker.SweepWorker(self.mech.etcd, 3600)
        worker.start()
        self.addCleanup(worker.stop)
        self.assertTrue(worker.periodic._thread.is_alive())
        worker.stop()
        worker.wait()
        self.assertFalse(worker.periodic._thread.is_alive())


class TestNeutronFree(base.SppMl2Case):

    def test_core_imports_no_neutron_even_where_installed(self):
        out = subprocess.run(
            [sys.executable, '-c',
             'import sys\n'
             'import spp_neutron.core, spp_neutron.status, '
             'spp_neutron.sweep\n'
             'print(sorted(m for m in sys.modules '
             'if m.split(".")[0] in ("neutron", "neutron_lib")))'],
            capture_output=True, text=True, check=True).stdout
        self.assertEqual('[]', out.strip())
