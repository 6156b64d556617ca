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
"""What a secured etcd cluster costs SPP, and what it buys (not a test).

1. ``action=plug`` written -> ``port_status=up`` seen, p50/p99 over N
   ports, side by side in one run: today's way (one plain-HTTP etcd, no
   credentials) and a three-member cluster with TLS, client certificates
   and authentication, every component under its least-privilege role
   (ML2 core binds, the agent wires the spp-ctl emulator).
2. Time from a member's death to the first successful request after it,
   p50 over several kills: a read after the death of the member the
   client was using, a write after the death of the leader; beside it
   today's way, one etcd restarted at once (the best case: without a
   restart nothing answers at all).

Usage: python benchmarks/bench_etcd_cluster.py [--ports 200] [--kills 5]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time
import uuid
from typing import Any, Callable, Iterator

from os_vif_accel.testing import etcd as etcd_server
from os_vif_accel.testing import etcd_cluster
from os_vif_accel.testing import etcd_gateway
from os_vif_accel.testing import etcd_pki
from spp_neutron import core
from vif_plug_spp import agent as agent_mod
from vif_plug_spp import builder
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import etcd_roles
from vif_plug_spp import keys
from vif_plug_spp import sppctl
from vif_plug_spp.emulator import server as emu_server

MAPPINGS = '00:04.0#phys1#6#0xfffe'


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def ms(value: float) -> str:
    return '%8.2f ms' % (value * 1000)


ClientFor = Callable[..., etcd_mod.EtcdClient]


def secure_clients(cluster: etcd_cluster.EtcdCluster, host: str
                   ) -> ClientFor:
    """One user per role of ``host`` plus the ML2 driver's."""
    for role in etcd_roles.host_roles(host) + [etcd_roles.ml2()]:
        etcd_gateway.add_user(cluster.root, role.name, 'pw-' + role.name)
        etcd_gateway.add_role(cluster.root, role, role.name)

    pairs: dict[str, etcd_pki.CertPair] = {}

    def client_for(role: str, endpoints: list[str] | None = None
                   ) -> etcd_mod.EtcdClient:
        pair = pairs.get(role) or pairs.setdefault(
            role, cluster.pki.client(role))
        return etcd_mod.EtcdClient(
            endpoints=endpoints or cluster.endpoints,
            ca_file=cluster.pki.ca.cert, cert_file=pair.cert,
            key_file=pair.key, username=role, password='pw-' + role,
            retry_window=3.0)
    return client_for


@contextlib.contextmanager
def spp_host(client_for: ClientFor, host: str) -> Iterator[core.Binder]:
    """Configuration, emulator and agent of ``host``; the ML2 binder."""
    config = builder.build(MAPPINGS)
    builder.write(client_for('spp-builder-' + host), host, config)
    emu = emu_server.SppCtlEmulator.for_configuration(config).start()
    tmp = tempfile.mkdtemp(prefix='bench-etcd-cluster-')
    agent = agent_mod.Agent(client_for('spp-agent-' + host),
                            sppctl.SppCtlClient(emu.url), host,
                            lock_path=tmp + '/lock')
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    agent.ready.wait(30)
    try:
        yield core.Binder(client_for('spp-ml2'))
    finally:
        agent.stop()
        thread.join(10)
        emu.stop()


def action_to_up(binder: core.Binder, host: str, ports: int) -> list[float]:
    out = []
    for i in range(ports):
        port = str(uuid.uuid4())
        mac = 'fa:16:3e:00:%02x:%02x' % (i >> 8 & 255, i & 255)
        alloc = binder.bind(host, port, mac, 'phys1')
        start = time.monotonic()   # action=plug is committed
        if not binder.wait_up(alloc, 10):
            raise RuntimeError('port %s never came up' % port)
        out.append(time.monotonic() - start)
        binder.release(host, port)
        deadline = time.monotonic() + 10
        while binder.etcd.get(keys.bind_port(host, port)) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError('agent did not unplug %s' % port)
            time.sleep(0.002)
    return out


def first_success(request: Callable[[], Any]) -> float:
    start = time.monotonic()
    while True:
        try:
            request()
            return time.monotonic() - start
        except etcd_mod.EtcdError:
            time.sleep(0.005)


def cluster_recovery(cluster: etcd_cluster.EtcdCluster,
                     client_for: Callable[[list[str]], etcd_mod.EtcdClient],
                     key: str, kills: int) -> dict[str, list[float]]:
    """For the leader and for a follower: a client whose first endpoint
    is that member (so it is the one in use), the member killed, then
    the time to the first successful read and write.
    """
    out: dict[str, list[float]] = {}
    members = range(len(cluster.members))
    for _ in range(kills):
        for name in ('follower', 'leader'):
            for op in ('read', 'write'):
                leader = cluster.leader()
                victim = leader if name == 'leader' else \
                    (leader + 1) % len(members)
                client = client_for([cluster.members[i].url for i in
                                     sorted(members,
                                            key=lambda i: i != victim)])
                client.put(key, keys.UP)   # connected and authenticated
                cluster.kill(victim)
                request = (lambda: client.get(key)) if op == 'read' \
                    else (lambda: client.put(key, keys.UP))
                out.setdefault('%s %s' % (name, op), []).append(
                    first_success(request))
                client.close()
                cluster.restart(victim)
    return out


def single_recovery(server: etcd_server.EtcdServer,
                    client: etcd_mod.EtcdClient, key: str, kills: int
                    ) -> list[float]:
    out = []
    for _ in range(kills):
        client.get(key)
        start = time.monotonic()
        server.kill()
        threading.Thread(target=server.restart, daemon=True).start()
        first_success(lambda: client.get(key))
        out.append(time.monotonic() - start)
    return out


def report(name: str, plain: list[float], secure: list[float]) -> None:
    for q in (0.5, 0.99):
        print('%-38s p%-2d plain %s  cluster %s  ratio %.2f' % (
            name, q * 100, ms(pct(plain, q)), ms(pct(secure, q)),
            pct(secure, q) / pct(plain, q)))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--ports', type=int, default=200)
    parser.add_argument('--kills', type=int, default=5)
    args = parser.parse_args()
    if not etcd_server.available():
        print('etcd not installed; apt-get install etcd-server')
        return 1
    host = 'bench-%s' % uuid.uuid4().hex[:6]
    with etcd_server.EtcdServer() as server:
        def plain(role: str) -> etcd_mod.EtcdClient:
            return etcd_mod.EtcdClient(endpoints=[server.url],
                                       retry_window=3.0)
        with spp_host(plain, host) as binder:
            plain_up = action_to_up(binder, host, args.ports)
        single = single_recovery(server, plain('x'),
                                 keys.port_status(host, 'probe'),
                                 args.kills)
    began = time.monotonic()
    with etcd_cluster.EtcdCluster() as cluster:
        started = time.monotonic() - began
        client_for = secure_clients(cluster, host)
        with spp_host(client_for, host) as binder:
            secure_up = action_to_up(binder, host, args.ports)
        recovery = cluster_recovery(
            cluster, lambda urls: client_for('spp-ml2', urls),
            keys.port_status(host, 'probe'), args.kills)
    print('etcd cluster benchmark: %d ports each; 3-member TLS + auth '
          'cluster fixture started in %.2f s' % (args.ports, started))
    report('action -> up', plain_up, secure_up)
    print('member death -> first successful request (p50 over %d kills):'
          % args.kills)
    print('  one etcd, restarted at once:          %s' % ms(pct(single,
                                                              0.5)))
    for name, values in recovery.items():
        print('  cluster, %-16s (member in use died) %s  max %s  ratio %.3f'
              % (name, ms(pct(values, 0.5)), ms(max(values)),
                 pct(values, 0.5) / pct(single, 0.5)))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
