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
"""Benchmark: plug/unplug through os-vif vs the legacy fork-per-plug way.

Not a test.  Against one agent emulator on loopback, in one run:

* **os-vif-accel**: N VIFs plugged and unplugged through ``os_vif.plug()``
  / ``os_vif.unplug()`` with the ``vrouter`` plugin (port files fsync'd;
  through a real privsep daemon when run as root, as on a compute node);
* **legacy**: the same ports added and deleted the way the reference
  plugin does it - one subprocess per operation running a
  ``vrouter-port-control``-style script (argparse + requests, a new
  Python process and TCP connection each time): ``legacy_port_control.py``
  beside this file.

Prints p50/p99 per operation and the ratio.  Usage::

    python benchmarks/bench_vrouter_plug.py [--vifs 1000] [--legacy 1000]
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
LEGACY = os.path.join(HERE, 'legacy_port_control.py')


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def line(name: str, samples: list[float]) -> str:
    return '%-28s n=%-5d p50 %8.3f ms   p99 %8.3f ms   mean %8.3f ms' % (
        name, len(samples), pct(samples, 0.5), pct(samples, 0.99),
        statistics.mean(samples) * 1000)


def bench_osvif(url: str, ports_dir: str, vifs: int
                ) -> tuple[list[float], list[float]]:
    import os_vif
    from oslo_config import cfg

    from os_vif_accel.testing import vrouter_fixtures as vfix
    os_vif.initialize()
    root = os.geteuid() == 0
    cfg.CONF.set_override('agent_url', url, 'os_vif_vrouter')
    cfg.CONF.set_override('ports_dir', ports_dir, 'os_vif_vrouter')
    cfg.CONF.set_override('privileged_port_files', root, 'os_vif_vrouter')
    if root:
        from os_vif_accel.sandbox import vrouter as sandbox
        importlib.import_module('vif_plug_vrouter.privsep')
        cfg.CONF.set_override('helper_command',
                              sandbox.privsep_helper_command(ports_dir),
                              'vif_plug_vrouter_privileged')
    inst = vfix.instance()
    objs = [vfix.generic_vif() for _ in range(vifs)]
    # Warm-up outside the measurement: starts the privsep daemon once,
    # as nova-compute does at its first plug.
    os_vif.plug(objs[0], inst)
    os_vif.unplug(objs[0], inst)
    plug, unplug = [], []
    for vif in objs:
        t = time.perf_counter()
        os_vif.plug(vif, inst)
        plug.append(time.perf_counter() - t)
    for vif in objs:
        t = time.perf_counter()
        os_vif.unplug(vif, inst)
        unplug.append(time.perf_counter() - t)
    return plug, unplug


def bench_legacy(port: int, ports_dir: str, count: int
                 ) -> tuple[list[float], list[float]]:
    import uuid
    add, delete = [], []
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for pid in ids:
        argv = [sys.executable, LEGACY, '--oper=add', '--uuid=' + pid,
                '--instance_uuid=' + str(uuid.uuid4()),
                '--vn_uuid=' + str(uuid.uuid4()),
                '--vm_project_uuid=' + uuid.uuid4().hex,
                '--ip_address=10.0.0.5', '--ipv6_address=None',
                '--vm_name=instance-00000001', '--mac=fa:16:3e:11:22:33',
                '--tap_name=' + ('tap' + pid)[:14], '--port_type=NovaVMPort',
                '--tx_vlan_id=-1', '--rx_vlan_id=-1',
                '--agent_port=%d' % port,
                '--port_json_path=' + ports_dir + '/']
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        add.append(time.perf_counter() - t)
    for pid in ids:
        argv = [sys.executable, LEGACY, '--oper=delete', '--uuid=' + pid,
                '--agent_port=%d' % port,
                '--port_json_path=' + ports_dir + '/']
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        delete.append(time.perf_counter() - t)
    return add, delete


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--vifs', type=int, default=1000,
                        help='VIFs plugged through os-vif (default 1000)')
    parser.add_argument('--legacy', type=int, default=1000,
                        help='ports added/deleted the legacy way (default '
                             '1000; each costs a Python start-up, use '
                             'fewer for a quick run)')
    args = parser.parse_args()
    warnings.simplefilter('ignore')
    os.environ.setdefault('PYTHONWARNINGS', 'ignore')
    from vif_plug_vrouter.emulator import server
    work = tempfile.mkdtemp(prefix='bench-vrouter-')
    try:
        emu = server.AgentEmulator(os.path.join(work, 'ports')).start()
        plug, unplug = bench_osvif(emu.url, emu.ports_dir, args.vifs)
        add, delete = bench_legacy(emu.port, emu.ports_dir, args.legacy)
        emu.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print('vRouter plug/unplug against the agent emulator (%s port files)' %
          ('privsep-written' if os.geteuid() == 0 else 'directly written'))
    print(line('os-vif-accel plug', plug))
    print(line('os-vif-accel unplug', unplug))
    print(line('legacy fork-per-plug add', add))
    print(line('legacy fork-per-plug delete', delete))
    print('ratio plug   (legacy p50 / os-vif-accel p50): %.1fx' %
          (pct(add, 0.5) / pct(plug, 0.5)))
    print('ratio unplug (legacy p50 / os-vif-accel p50): %.1fx' %
          (pct(delete, 0.5) / pct(unplug, 0.5)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
