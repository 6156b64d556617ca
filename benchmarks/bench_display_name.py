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
"""Benchmark: what sending Nova's display name costs per vRouter plug.

Not a test.  Needs Nova 34 with ``nova_patches/`` applied (``tox -e
bench-nova`` or the ``nova`` env's Python).  Every plug goes through
Nova's own ``LibvirtGenericVIFDriver.plug`` (Nova's conversion, os-vif,
stevedore) into the ``vrouter`` plugin and the agent emulator, port
files written directly.  Four ways, side by side:

* **domain name** - today's plug: stock Nova's InstanceInfo, the domain
  name is sent (``nova_display_name_lookup = False``);
* **patched Nova** - ``nova_patches/0003`` hands the display name over
  in ``InstanceInfo.name``;
* **lookup, DB** - stock Nova, display name looked up through Nova's
  object API with direct database access (SQLite, as a process with a DB
  connection would);
* **lookup, conductor** - stock Nova, looked up as in nova-compute: the
  object call is an RPC to a real nova-conductor service (in this
  process, oslo.messaging's in-memory ``fake`` transport, SQLite).  A
  real message bus adds its round trip (typically 1-5 ms on a LAN,
  much more when the conductor is busy) on top of this.

Usage::

    python benchmarks/bench_display_name.py [--plugs 300]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from typing import Any, Callable

import fixtures


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def line(name: str, samples: list[float], base: list[float]) -> str:
    return ('%-22s n=%-5d p50 %7.3f ms  p99 %7.3f ms  mean %7.3f ms  '
            'p50 vs domain name %5.2fx' % (
                name, len(samples), pct(samples, 0.5), pct(samples, 0.99),
                statistics.mean(samples) * 1000,
                pct(samples, 0.5) / pct(base, 0.5)))


class Bench(fixtures.Fixture):
    """Nova objects, the emulator and config shared by every way."""

    def _setUp(self) -> None:
        import os_vif
        from oslo_config import cfg
        from oslo_config import fixture as config_fixture

        from nova.network import model
        from nova import objects as nova_objects
        from nova.virt.libvirt import vif as libvirt_vif

        from nova_e2e import base
        nova_objects.register_all()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.conf = self.useFixture(config_fixture.Config(cfg.CONF))
        os_vif.initialize(reset=True)
        self.agent = self.useFixture(base.VrouterAgentFixture(self.conf,
                                                              self.tmp))
        self.driver = libvirt_vif.LibvirtGenericVIFDriver()
        self.make_vif = lambda: base.nova_vif(model.VIF_TYPE_VROUTER)
        self.instance = nova_objects.Instance(
            uuid=str(uuid.uuid4()), project_id=base.PROJECT_ID, id=42,
            vm_state='building', display_name='bench-vm')

    def stock_nova(self) -> None:
        self.useFixture(fixtures.MonkeyPatch(
            'nova.network.os_vif_util.OSVIF_DISPLAY_NAME_PLUGINS', ()))

    def run(self, count: int, expect: str) -> list[float]:
        vifs = [self.make_vif() for _ in range(count + 1)]
        self.driver.plug(self.instance, vifs[0])    # warm-up
        samples = []
        for vif in vifs[1:]:
            t = time.perf_counter()
            self.driver.plug(self.instance, vif)
            samples.append(time.perf_counter() - t)
        got = self.agent.port(vifs[-1]['id'])['display-name']
        assert got == expect, (got, expect)
        for vif in vifs:
            self.driver.unplug(self.instance, vif)
        return samples


def with_db(bench: Bench) -> None:
    from nova import context
    from nova import objects as nova_objects

    from nova_e2e import base
    bench.useFixture(base.NovaDatabaseFixture(bench.conf, bench.tmp))
    inst = nova_objects.Instance(
        context=context.get_admin_context(), uuid=bench.instance.uuid,
        project_id=bench.instance.project_id, user_id='bench',
        display_name=bench.instance.display_name)
    inst.create()
    bench.instance = inst


def with_conductor(bench: Bench) -> None:
    """A real ConductorManager behind a real oslo.messaging RPC server.

    Nova's own service fixtures live in ``nova.tests.functional``, whose
    import monkey-patches the process; this builds the same thing from
    Nova's ``rpc`` module on the in-memory ``fake`` transport.
    """
    from nova.conductor import manager
    from nova.conductor import rpcapi as conductor_rpcapi
    from nova.objects import base as objects_base
    from nova import rpc
    import oslo_messaging as messaging
    from oslo_messaging import conffixture
    with_db(bench)
    # This process is not monkey-patched: serve with real threads, as
    # nova-conductor does in Nova's threading mode.
    bench.useFixture(fixtures.MonkeyPatch(
        'nova.utils.concurrency_mode_threading', lambda: True))
    bench.useFixture(conffixture.ConfFixture(
        bench.conf.conf)).transport_url = 'fake:/'
    rpc.init(bench.conf.conf)
    bench.addCleanup(rpc.cleanup)

    class ObjectConductor(manager.ConductorManager):
        """nova-conductor's object API, without the compute tasks.

        Those would need Keystone and Placement.
        """

        def __init__(self) -> None:
            super(manager.ConductorManager, self).__init__(
                service_name='conductor')

        def _object_dispatch(self, target: Any, method: str, args: Any,
                             kwargs: Any) -> Any:
            # The conductor runs the call against the database itself; in
            # this one process that means without the compute side's
            # indirection (one call in flight at a time here).
            cls = objects_base.NovaObject
            saved, cls.indirection_api = cls.indirection_api, None
            try:
                return super()._object_dispatch(target, method, args,
                                                kwargs)
            finally:
                cls.indirection_api = saved

    server = rpc.get_server(
        messaging.Target(topic=conductor_rpcapi.RPC_TOPIC, server='bench'),
        [ObjectConductor()], objects_base.NovaObjectSerializer())
    server.start()
    bench.addCleanup(server.wait)
    bench.addCleanup(server.stop)
    # What nova-compute does at start: objects go through the conductor.
    bench.useFixture(fixtures.MonkeyPatch(
        'nova.objects.base.NovaObject.indirection_api',
        conductor_rpcapi.ConductorAPI()))


def measure(count: int, name: str, setup: Callable[[Bench], Any],
            expect: str) -> list[float]:
    with Bench() as bench:
        setup(bench)
        return bench.run(count, expect)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--plugs', type=int, default=300)
    args = parser.parse_args()
    warnings.simplefilter('ignore')
    os.environ.setdefault('PYTHONWARNINGS', 'ignore')
    import logging
    logging.disable(logging.WARNING)
    work = tempfile.mkdtemp(prefix='bench-display-name-')
    os.environ['TMPDIR'] = work
    try:
        def stock_off(b: Bench) -> None:
            b.stock_nova()
            b.conf.config(group='os_vif_vrouter',
                          nova_display_name_lookup=False)

        def stock_db(b: Bench) -> None:
            b.stock_nova()
            with_db(b)

        def stock_rpc(b: Bench) -> None:
            b.stock_nova()
            with_conductor(b)

        base = measure(args.plugs, 'domain name', stock_off,
                       'instance-0000002a')
        rows = [('domain name (today)', base),
                ('patched Nova', measure(args.plugs, 'patched',
                                         lambda b: None, 'bench-vm')),
                ('lookup, DB', measure(args.plugs, 'db', stock_db,
                                       'bench-vm')),
                ('lookup, conductor', measure(args.plugs, 'rpc', stock_rpc,
                                              'bench-vm'))]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print('vRouter kernel port plug through Nova 34 LibvirtGenericVIFDriver '
          '-> os-vif -> agent emulator')
    for name, samples in rows:
        print(line(name, samples, base))
    return 0


if __name__ == '__main__':
    sys.path.insert(0, os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    sys.exit(main())
