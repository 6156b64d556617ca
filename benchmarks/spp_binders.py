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
"""What both sides of ``bench_ml2_bind.py`` share (our driver in the
``neutron`` venv, networking-spp's in the ``ns-interop`` venv): the host's
NIC mappings, percentiles, the wait for a release, and the rounds of
concurrent binders with their vhost-sharing check.  Neutron-free and
networking-spp-free: it runs in both.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any, Callable

from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import keys

#: One NIC, physnet1, 12 vhosts (2 worker cores each + classifier and
#: merger, builder rule): room for 8 binders at once.
MAPPINGS = '00:04.0#physnet1#12#0xffffffe'
PHYSNET = 'physnet1'
#: (port id, mac) -> vhost id, or None if the binding failed.
BindFn = Callable[[str, str], 'int | None']
ReleaseFn = Callable[[str], None]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def new_port() -> tuple[str, str]:
    """A port id and a MAC address Neutron could have given it."""
    raw = uuid.uuid4()
    return str(raw), 'fa:16:3e:%02x:%02x:%02x' % tuple(raw.bytes[:3])


def wait_released(client: etcd_mod.EtcdClient, host: str,
                  ports: list[str], timeout: float = 30.0) -> None:
    """Until the agent freed the ports' vhosts and removed their keys."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kvs, _rev = client.get_prefix(keys.ROOT)
        held = [kv.key for kv in kvs
                if any(p in kv.key or kv.value == p for p in ports)]
        if not held:
            return
        time.sleep(0.02)
    raise RuntimeError('the agent did not release %s: %s' % (ports, held))


def holders(client: etcd_mod.EtcdClient, host: str) -> dict[int, str]:
    """vhost id -> port holding it, as etcd says now."""
    prefix = keys.vhost_prefix(host)
    kvs, _rev = client.get_prefix(prefix)
    return {int(kv.key.rsplit('/', 1)[1]): kv.value for kv in kvs
            if kv.value not in (None, 'None')}


def concurrent_rounds(client: etcd_mod.EtcdClient, host: str,
                      binders: list[BindFn], release: ReleaseFn,
                      total: int) -> dict[str, Any]:
    """``len(binders)`` threads bind one port each per round, all at once,
    until ``total`` bindings were tried.  After each round: no vhost went
    to two ports (what the binders returned and what etcd holds), then
    every port is released.  Throughput counts only the bind phases.
    """
    shared = bound = failed = 0
    busy = 0.0
    latencies: list[float] = []
    for _round in range(max(1, total // len(binders))):
        got = _one_round(binders, latencies)
        busy += got.pop('__elapsed__')
        vhosts = [v for v in got.values() if v is not None]
        bound += len(vhosts)
        failed += len(got) - len(vhosts)
        shared += len(vhosts) - len(set(vhosts))
        held = holders(client, host)
        shared += sum(1 for port, vid in got.items()
                      if vid is not None and held.get(vid) != port)
        for port in got:
            release(port)
        wait_released(client, host, list(got))
    return {'bound': bound, 'failed': failed, 'shared': shared,
            'seconds': busy, 'per_second': bound / busy if busy else 0.0,
            'latencies': latencies}


def _one_round(binders: list[BindFn],
               latencies: list[float]) -> dict[str, Any]:
    start = threading.Barrier(len(binders))
    got: dict[str, Any] = {}
    lock = threading.Lock()

    def run(bind: BindFn) -> None:
        port, mac = new_port()
        start.wait()
        t0 = time.monotonic()
        vid = bind(port, mac)
        with lock:
            got[port] = vid
            if vid is not None:
                latencies.append(time.monotonic() - t0)
    threads = [threading.Thread(target=run, args=(b,)) for b in binders]
    t0 = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    got['__elapsed__'] = time.monotonic() - t0
    return got


def summary(name: str, latencies: list[float], misses: int = 0) -> str:
    if not latencies:
        return '%-46s no binding succeeded (%d missed)' % (name, misses)
    return '%-46s p50 %8.1f ms  p99 %8.1f ms  (n=%d%s)' % (
        name, pct(latencies, 0.5) * 1000, pct(latencies, 0.99) * 1000,
        len(latencies), ', %d missed the up' % misses if misses else '')


def dump(result: dict[str, Any]) -> str:
    return json.dumps(result)
