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
"""SPP benchmark (not a test): real etcd + the spp-ctl emulator.

1. Agent: ``action=plug`` written -> ``port_status=up`` seen, over N ports
   cycling through the 13 vhosts of a two-NIC host (flat and VLAN
   alternating; each port is unbound again by the agent).  Side by side
   (N/5 more ports): how often the upstream driver's "watch created after
   the puts" waiter misses the agent's ``up`` (upstream then waits its
   full 20 s and fails the binding).
2. Plugin: ``os_vif.plug`` with plugin ``spp`` on a port the agent already
   wired (verify only) and on a port whose spp_vf wiring was lost
   (repair); ``noop`` (what stock Nova uses for these ports) for scale.
3. vhost allocation by CAS with 8 concurrent allocators: upstream's
   ordered scan versus our port-dependent start offset.

Usage: python benchmarks/bench_spp.py [--ports 200]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import threading
import time
import uuid
from typing import Any

from os_vif_accel.testing import etcd as etcd_server
from os_vif_accel.testing import spp_neutron
from vif_plug_spp import agent as agent_mod
from vif_plug_spp import builder
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import keys
from vif_plug_spp import protocol
from vif_plug_spp import sppctl
from vif_plug_spp.emulator import server as emu_server


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def line(name: str, values: list[float]) -> str:
    return '%-52s p50 %7.2f ms  p99 %7.2f ms  (n=%d)' % (
        name, pct(values, 0.5) * 1000, pct(values, 0.99) * 1000, len(values))


# Two NICs with the default layout (forwarders): 6 + 7 vhosts, which is
# what 32 cores allow.  Ports cycle through them: bind, up, plug, unbind.
MAPPINGS = '00:04.0#phys1#6#0xfffe,00:05.0#phys2#7#0xffff0002'


def legacy_wait(client: etcd_mod.EtcdClient, key: str,
                timeout: float) -> bool:
    """networking-spp's watch_once: a watch created *now*, after the
    puts, that only sees later changes.
    """
    _kv, now = client.get_kv_rev(key)
    watch = client.watch_key(key, now + 1, idle_timeout=timeout)
    timer = threading.Timer(timeout, watch.stop)
    timer.start()
    try:
        for event in watch:
            if event.value == keys.UP:
                return True
        return False
    finally:
        timer.cancel()
        watch.stop()


def run_ports(client: etcd_mod.EtcdClient, host: str, ports: int,
              emu: emu_server.SppCtlEmulator, lock: str,
              etcd: etcd_server.EtcdServer) -> dict[str, Any]:
    import os_vif
    from os_vif import objects
    from oslo_config import cfg
    os_vif.initialize()
    for name, value in (('etcd_endpoints', [etcd.url]),
                        ('spp_ctl_url', emu.url), ('host', host),
                        ('lock_path', lock)):
        cfg.CONF.set_override(name, value, group='os_vif_spp')
    inst = objects.instance_info.InstanceInfo(
        uuid=str(uuid.uuid4()), name='bench', project_id=str(uuid.uuid4()))
    out: dict[str, Any] = {'up': [], 'warm': [], 'repair': [], 'noop': [],
                           'legacy_miss': 0, 'ours_miss': 0, 'legacy_n': 0}
    # ``ports`` ports measured with our waiter, then ports/5 more with the
    # upstream waiter side by side (only its hit/miss count matters).
    for i in range(ports + ports // 5):
        port = str(uuid.uuid4())
        physnet = 'phys1' if i % 2 == 0 else 'phys2'
        vlan = None if i % 4 < 2 else 100 + i
        mac = 'fa:16:3e:%02x:%02x:%02x' % (i >> 16 & 255, i >> 8 & 255,
                                           i & 255)
        vid = spp_neutron.allocate_vhost(client, host, physnet, port)
        assert vid is not None, 'no vhost free'
        ops = [client.op_put(keys.bind_port(host, port),
                             protocol.bind_port_value(mac, vid, vlan)),
               client.op_put(keys.action(host, port), keys.PLUG)]
        status_key = keys.port_status(host, port)
        start = time.monotonic()
        res = client.call('kv/txn', {'compare': [], 'success': ops})
        rev = int(res['header']['revision'])
        if i >= ports:
            out['legacy_n'] += 1
            if not legacy_wait(client, status_key, 1.0):
                out['legacy_miss'] += 1
            spp_neutron.wait_for_value(client, status_key, keys.UP, rev, 5.0)
        elif spp_neutron.wait_for_value(client, status_key, keys.UP, rev, 5.0):
            out['up'].append(time.monotonic() - start)
        else:
            out['ours_miss'] += 1
        vif = objects.vif.VIFVHostUser(
            id=port, address=mac, plugin='spp', vif_name='nic' + port[:11],
            mode='server', path='/tmp/sock%d' % vid,
            network=objects.network.Network(id=str(uuid.uuid4())))
        start = time.monotonic()
        os_vif.plug(vif, inst)
        out['warm'].append(time.monotonic() - start)
        proc = emu.state.vfs[1 if physnet == 'phys1' else 2]
        with proc.lock:
            proc.clear_classifier_table()   # as a restarted spp_vf
        start = time.monotonic()
        os_vif.plug(vif, inst)
        out['repair'].append(time.monotonic() - start)
        vif.plugin = 'noop'
        start = time.monotonic()
        os_vif.plug(vif, inst)
        out['noop'].append(time.monotonic() - start)
        spp_neutron.request_unplug(client, host, port)
        deadline = time.monotonic() + 10
        while client.get(keys.bind_port(host, port)) is not None:
            assert time.monotonic() < deadline, 'agent did not unplug'
            time.sleep(0.001)
    return out


def bench_alloc(client: etcd_mod.EtcdClient, slots: int, spread: bool
                ) -> tuple[list[float], int]:
    host = 'alloc-%s' % uuid.uuid4().hex[:6]
    for i in range(slots):
        client.put(keys.vhost(host, 'physx', i), keys.FREE)
    lat: list[float] = []
    got: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = etcd_mod.EtcdClient(client.host, client.port)
        for _ in range(slots // 8):
            start = time.monotonic()
            vid = spp_neutron.allocate_vhost(mine, host, 'physx',
                                             str(uuid.uuid4()), spread=spread)
            with lock:
                lat.append(time.monotonic() - start)
                if vid is not None:
                    got.append(vid)
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == len(set(got)), 'a vhost was handed out twice'
    return lat, len(got)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--ports', type=int, default=200)
    args = parser.parse_args()
    if not etcd_server.available():
        print('etcd not installed (%s); apt-get install etcd-server'
              % etcd_server.ETCD_BINARY)
        return 1
    import tempfile
    tmp = tempfile.mkdtemp(prefix='spp-bench-')
    host = 'bench-%s' % uuid.uuid4().hex[:6]
    config = builder.build(MAPPINGS)
    with etcd_server.EtcdServer() as etcd, \
            emu_server.SppCtlEmulator.for_configuration(config) as emu:
        client = etcd_mod.EtcdClient(etcd.host, etcd.port)
        builder.write(client, host, config)
        agent = agent_mod.Agent(client, sppctl.SppCtlClient(emu.url), host,
                                lock_path=tmp + '/lock')
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        agent.ready.wait(20)
        print('SPP benchmark: etcd %s, emulator %s, %d ports through %s'
              % (etcd.url, emu.url, args.ports, MAPPINGS))
        res = run_ports(client, host, args.ports, emu, tmp + '/lock', etcd)
        print(line('agent: action=plug -> port_status=up', res['up']))
        print('  binding waiter misses (no up within 1 s): '
              'watch-after-put (networking-spp) %d/%d, '
              'watch-from-own-revision (ours) %d/%d' % (
                  res['legacy_miss'], res['legacy_n'], res['ours_miss'],
                  len(res['up']) + res['ours_miss']))
        print(line('plugin: os_vif.plug spp, already wired', res['warm']))
        print(line('plugin: os_vif.plug spp, wiring lost -> repaired',
                   res['repair']))
        print(line('legacy: os_vif.plug noop (stock Nova, no check)',
                   res['noop']))
        print('  ratio spp/noop (p50, already wired): %.0fx' % (
            statistics.median(res['warm']) /
            max(statistics.median(res['noop']), 1e-9)))
        old, old_n = bench_alloc(client, 200, spread=False)
        new, new_n = bench_alloc(client, 200, spread=True)
        print(line('alloc x8: ordered scan (networking-spp)', old))
        print(line('alloc x8: port-dependent start (ours)', new))
        print('  ratio ordered/ours (p99): %.2fx; vhosts handed out %d and '
              '%d of 200, never twice' % (pct(old, 0.99) /
                                          max(pct(new, 0.99), 1e-9),
                                          old_n, new_n))
        agent.stop()
        thread.join(10)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
