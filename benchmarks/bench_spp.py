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

1. Agent: a binding written by the ML2 driver's core
   (:class:`spp_neutron.core.Binder`) -> ``port_status=up`` seen, over N
   ports cycling through the 13 vhosts of a two-NIC host (flat and VLAN
   alternating; each port is released again through the agent).  Side by
   side (N/5 more ports): how often the upstream driver's "watch created
   after the puts" waiter misses the agent's ``up`` (upstream then waits
   its full 20 s and fails the binding).
2. Plugin: ``os_vif.plug`` with plugin ``spp`` on a port the agent already
   wired (verify only) and on a port whose spp_vf wiring was lost
   (repair); ``noop`` (what stock Nova uses for these ports) for scale.
3. 8 concurrent binders on one host, 200 vhosts: networking-spp's bind
   (ordered CAS scan, then two puts) versus the core's bind (CAS from a
   port-dependent start, one transaction); neither ever shares a vhost.

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
from vif_plug_spp import agent as agent_mod
from vif_plug_spp import builder
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import keys
from vif_plug_spp import protocol
from vif_plug_spp import sppctl
from vif_plug_spp.emulator import server as emu_server

from spp_neutron import core


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


def legacy_bind(client: etcd_mod.EtcdClient, host: str, physnet: str,
                port_id: str, mac: str) -> int | None:
    """networking-spp's bind (NS ``mech_driver/mech_spp.py``
    ``_try_to_bind``/``_add_bind_port``; reference spp.md 1.4 steps 4-5):
    CAS the first free vhost in etcd's key order, then put ``bind_port``
    and ``action`` one after the other.
    """
    if client.get(keys.bind_port(host, port_id)) is not None:
        return None
    kvs, _rev = client.get_prefix(keys.vhost_physnet_prefix(host, physnet))
    for kv in kvs:
        if kv.value == keys.FREE and client.replace(kv.key, keys.FREE,
                                                    port_id):
            vid = keys.parse_vhost(kv.key, host)[1]
            client.put(keys.bind_port(host, port_id),
                       protocol.bind_port_value(mac, vid, None))
            client.put(keys.action(host, port_id), keys.PLUG)
            return vid
    return None


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
    binder = core.Binder(client)
    for i in range(ports + ports // 5):
        port = str(uuid.uuid4())
        physnet = 'phys1' if i % 2 == 0 else 'phys2'
        vlan = None if i % 4 < 2 else 100 + i
        mac = 'fa:16:3e:%02x:%02x:%02x' % (i >> 16 & 255, i >> 8 & 255,
                                           i & 255)
        start = time.monotonic()
        alloc = binder.bind(host, port, mac, physnet, vlan)
        vid = alloc.vhost_id
        status_key = keys.port_status(host, port)
        if i >= ports:
            out['legacy_n'] += 1
            if not legacy_wait(client, status_key, 1.0):
                out['legacy_miss'] += 1
            binder.wait_up(alloc, 5.0)
        elif binder.wait_up(alloc, 5.0):
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
        binder.release(host, port)
        deadline = time.monotonic() + 10
        while client.get(keys.bind_port(host, port)) is not None:
            assert time.monotonic() < deadline, 'agent did not unplug'
            time.sleep(0.001)
    return out


def bench_binders(client: etcd_mod.EtcdClient, slots: int, ours: bool
                  ) -> tuple[list[float], int]:
    """8 threads binding ``slots`` ports on one host with ``slots`` free
    vhosts on ``physx``: latency per bind, vhosts handed out.
    """
    host = 'alloc-%s' % uuid.uuid4().hex[:6]
    builder.write(client, host, builder.build('00:04.0#physx#1#0x3e'))
    for i in range(slots):
        client.put(keys.vhost(host, 'physx', i), keys.FREE)
    lat: list[float] = []
    got: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = etcd_mod.EtcdClient(client.host, client.port)
        binder = core.Binder(mine)
        for _ in range(slots // 8):
            port, mac = str(uuid.uuid4()), 'fa:16:3e:00:00:01'
            start = time.monotonic()
            if ours:
                vid: int | None = binder.bind(host, port, mac,
                                              'physx').vhost_id
            else:
                vid = legacy_bind(mine, host, 'physx', port, mac)
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
        print(line('core bind -> agent port_status=up', res['up']))
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
        old, old_n = bench_binders(client, 200, ours=False)
        new, new_n = bench_binders(client, 200, ours=True)
        print(line('bind x8: ordered scan + 2 puts (networking-spp)', old))
        print(line('bind x8: spp_neutron.core (ours)', new))
        print('  ratio networking-spp/ours (p50): %.2fx, (p99): %.2fx; '
              'vhosts handed out %d and %d of 200, never twice' % (
                  pct(old, 0.5) / max(pct(new, 0.5), 1e-9),
                  pct(old, 0.99) / max(pct(new, 0.99), 1e-9),
                  old_n, new_n))
        agent.stop()
        thread.join(10)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
