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
"""ML2 binding benchmark (not a test): ``tox -e bench-ml2``.

One run, one real etcd, one spp-ctl emulator and one of our spp-agent
processes (neutron_e2e's fixtures), two drivers side by side:

1. Bind-to-ACTIVE over N ports, one after another.  Ours: a port created
   with its host through Neutron 29's ML2 plugin (API, DB, ``spp``
   driver) until the API shows it ACTIVE (the agent's ``up`` seen by the
   status watch completes the provisioning block).  networking-spp
   21.0.0: its installed driver's ``bind_port`` (writes, then watches
   ``port_status`` and returns ACTIVE, or nothing after 20 s).
2. 8 concurrent binders on one host (ours: ``spp_neutron.core.Binder``
   each with its own etcd client, up seen by one status watch; theirs:
   8 driver instances): no vhost ever given to two ports; throughput.

networking-spp's side runs in the ``ns-interop`` venv
(``bench_ml2_bind_ns.py``, started with ``--ns-python``).

Usage: tox -e ns-interop --notest; tox -e bench-ml2 [-- --ports 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TOP)

from neutron_e2e import base  # noqa: E402
from oslo_config import cfg  # noqa: E402

from spp_neutron import core  # noqa: E402
from spp_neutron import status  # noqa: E402
from vif_plug_spp import etcd as etcd_mod  # noqa: E402

import spp_binders  # noqa: E402

ARGS = argparse.Namespace()
RESULTS: dict = {}


class Bench(base.SppMl2Case):

    mappings = spp_binders.MAPPINGS

    def test_bench(self):
        # The host's one state report (in process) stands for the agent's
        # periodic ones: keep it alive for the whole run.
        cfg.CONF.set_override('agent_down_time', 3600)
        self.start_host()
        RESULTS['ours_ml2'], RESULTS['ours_ml2_create'] = \
            self.ml2_sequential()
        RESULTS['ours_one'] = self.concurrent(1, ARGS.ports)
        RESULTS['ours_concurrent'] = self.concurrent(ARGS.binders,
                                                     ARGS.concurrent)
        RESULTS['theirs'] = self.networking_spp()

    def ml2_sequential(self):
        net = self.network('flat', spp_binders.PHYSNET)
        latencies, creates = [], []
        # One more port first: its latency includes loading code paths.
        for _ in range(ARGS.ports + 1):
            _port, mac = spp_binders.new_port()
            t0 = time.monotonic()
            port = self.port(net, mac=mac)
            creates.append(time.monotonic() - t0)
            self.wait_active(port['id'])
            latencies.append(time.monotonic() - t0)
            self._delete('ports', port['id'], as_admin=True)
            spp_binders.wait_released(self.etcd, self.host, [port['id']])
        return latencies[1:], creates[1:]

    def wait_active(self, port_id, timeout=20.0):
        """Hand the watch's ups to the driver (on this thread: the test
        database is one SQLite connection) until the port's own.
        """
        deadline = time.monotonic() + timeout
        while True:
            host, up_port, rev = self.ups.get(
                timeout=max(0.01, deadline - time.monotonic()))
            self.mech.port_up(host, up_port, rev)
            if up_port == port_id:
                break
        self.assertEqual('ACTIVE', self.show(port_id)['status'])

    def concurrent(self, binders, total):
        ups: dict[str, threading.Event] = {}

        def on_up(host, port_id, rev):
            ups.setdefault(port_id, threading.Event()).set()
        watcher = status.StatusWatcher(self.etcd, on_up).start()
        self.addCleanup(watcher.stop)

        def binder():
            client = etcd_mod.EtcdClient(self.server.host, self.server.port)
            self.addCleanup(client.close)
            ours = core.Binder(client)

            def bind(port_id, mac):
                alloc = ours.bind(self.host, port_id, mac,
                                  spp_binders.PHYSNET)
                done = ups.setdefault(port_id, threading.Event())
                return alloc.vhost_id if done.wait(20) else None
            return bind
        releaser = core.Binder(self.etcd)
        return spp_binders.concurrent_rounds(
            self.etcd, self.host, [binder() for _ in range(binders)],
            lambda port_id: releaser.release(self.host, port_id), total)

    def networking_spp(self):
        env = dict(os.environ, PYTHONPATH=TOP)
        proc = subprocess.run(
            [ARGS.ns_python, os.path.join(TOP, 'benchmarks',
                                          'bench_ml2_bind_ns.py'),
             '--etcd-host', self.server.host,
             '--etcd-port', str(self.server.port), '--host', self.host,
             '--ports', str(ARGS.ports), '--binders', str(ARGS.binders),
             '--concurrent', str(ARGS.concurrent)],
            env=env, capture_output=True, text=True, check=False)
        if proc.returncode:
            self.fail('networking-spp side failed:\n%s' % proc.stderr[-3000:])
        return json.loads(proc.stdout.strip().splitlines()[-1])


def report() -> None:
    theirs = RESULTS['theirs']
    print('\nBind to ACTIVE, %d ports one after another:' % ARGS.ports)
    print(spp_binders.summary('ours: ML2 create port -> API ACTIVE',
                              RESULTS['ours_ml2']))
    print(spp_binders.summary('  of which POST /ports (bound, DOWN)',
                              RESULTS['ours_ml2_create']))
    _pair('ours: core.Binder.bind -> up seen by watch', RESULTS['ours_one'],
          'networking-spp: bind_port -> ACTIVE', theirs['one'])
    print('\n%d concurrent binders on one host, %d bindings:' % (
        ARGS.binders, ARGS.concurrent))
    _pair('ours: core.Binder + status watch', RESULTS['ours_concurrent'],
          'networking-spp: bind_port', theirs['concurrent'])


def _pair(ours_name: str, ours: dict, theirs_name: str,
          theirs: dict) -> None:
    """Both drivers' figures, then the ratios networking-spp/ours."""
    for name, res in ((ours_name, ours), (theirs_name, theirs)):
        print(spp_binders.summary(name, res['latencies'], res['failed']))
        print('  %d bound, %d not bound, %d vhosts shared; %.1f bindings/s'
              % (res['bound'], res['failed'], res['shared'],
                 res['per_second']))
    if ours['latencies'] and theirs['latencies']:
        ratios = ['%s %.2fx' % (name, spp_binders.pct(
            theirs['latencies'], q) / spp_binders.pct(ours['latencies'], q))
            for q, name in ((0.5, 'p50'), (0.99, 'p99'))]
        print('  ratio networking-spp/ours: %s; throughput ours/theirs '
              '%.2fx' % (', '.join(ratios), ours['per_second'] /
                         max(theirs['per_second'], 1e-9)))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--ports', type=int, default=200)
    parser.add_argument('--binders', type=int, default=8)
    parser.add_argument('--concurrent', type=int, default=200,
                        help='bindings tried by the concurrent binders')
    parser.add_argument('--ns-python', default=os.path.join(
        TOP, '.tox', 'ns-interop', 'bin', 'python'))
    parser.parse_args(namespace=ARGS)
    # Neutron's test base puts a timeout fixture on OS_TEST_TIMEOUT;
    # a benchmark is not a test and takes as long as it takes.
    os.environ['OS_TEST_TIMEOUT'] = '0'
    if not os.access(ARGS.ns_python, os.X_OK):
        print('%s not found: create the networking-spp venv with '
              '"tox -e ns-interop --notest" first' % ARGS.ns_python)
        return 1
    result = unittest.TextTestRunner(verbosity=1).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(Bench))
    if not result.wasSuccessful():
        return 1
    report()
    shared = sum(res['shared'] for res in (
        RESULTS['ours_one'], RESULTS['ours_concurrent'],
        RESULTS['theirs']['one'], RESULTS['theirs']['concurrent']))
    if shared:
        print('FAILED: %d vhosts were given to two ports' % shared)
    return 1 if shared else 0


if __name__ == '__main__':
    sys.exit(main())
