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
"""The Neutron side of networking-spp's per-port etcd protocol (test double).

Vhost allocation by compare-and-swap, ``bind_port``/``action`` puts,
waiting for ``up``, and the TaaS driver's tap-flow keys: what the
sandbox, tests, benchmarks and ``nova_e2e`` use in place of the ML2
driver.  Unlike the upstream driver it watches ``port_status`` from the
revision of its own write, so a fast agent's ``up`` can never be missed.
"""

from __future__ import annotations

import threading
from typing import Callable
import zlib

from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import etcd_watch
from vif_plug_spp import keys
from vif_plug_spp import protocol
from vif_plug_spp import taas

__all__ = ['allocate_vhost', 'bind', 'request_unplug', 'wait_for_value',
           'allocate_mirror', 'create_tap_flow', 'delete_tap_flow']


def allocate_vhost(client: etcd_mod.EtcdClient, host: str, physnet: str,
                   port_id: str, spread: bool = True) -> int | None:
    """Take a free vhost of ``physnet`` for ``port_id`` by CAS.

    Returns the vhost id (also when the port already holds one), or None
    when none is free.  A lost race just moves on to the next free key.
    """
    prefix = keys.vhost_physnet_prefix(host, physnet)
    kvs, _rev = client.get_prefix(prefix)
    for kv in kvs:
        if kv.value == port_id:
            return keys.parse_vhost(kv.key, host)[1]
    free = [kv for kv in kvs if kv.value == keys.FREE]
    if spread and free:
        # Concurrent allocators that all try the first free key mostly
        # lose the race; starting at a port-dependent offset spreads
        # them over the free keys.
        start = zlib.crc32(port_id.encode('utf-8')) % len(free)
        free = free[start:] + free[:start]
    for kv in free:
        try:
            won = client.replace(kv.key, keys.FREE, port_id)
        except etcd_mod.EtcdUnavailable:
            # The answer was lost; the swap may have happened.
            won = client.get(kv.key) == port_id
        if won:
            return keys.parse_vhost(kv.key, host)[1]
    return None


def wait_for_value(client: etcd_mod.EtcdClient, key: str, value: str,
                   start_revision: int, timeout: float) -> bool:
    """True once ``key`` is set to ``value`` at or after
    ``start_revision``; False after ``timeout`` seconds.

    The key is read before the watch starts and again once etcd
    confirmed the watch: etcd delivers events older than a watch's
    creation only from its 100 ms catch-up loop, which would otherwise
    dominate the latency whenever the value lands in between.
    """
    def done(kv: etcd_mod.KeyValue | None) -> bool:
        return kv is not None and kv.value == value and \
            kv.mod_revision >= start_revision

    kv, now = client.get_kv_rev(key)
    if done(kv):
        return True
    watch = client.watch_key(key, max(start_revision, now + 1),
                             idle_timeout=min(timeout, 10.0))
    found = _recheck_when_created(client, key, watch, done, timeout)
    timer = threading.Timer(timeout, watch.stop)
    timer.daemon = True
    timer.start()
    try:
        for event in watch:
            if event.value == value:
                return True
        return found.is_set()
    finally:
        timer.cancel()
        watch.stop()
        watch.created.set()  # release the checker


def _recheck_when_created(
        client: etcd_mod.EtcdClient, key: str, watch: etcd_watch.Watch,
        done: Callable[[etcd_mod.KeyValue | None], bool],
        timeout: float) -> threading.Event:
    """Read ``key`` again once etcd confirmed ``watch``, in a thread.

    The returned event is set, and the watch stopped, when that read
    already shows the value (see :func:`wait_for_value`).
    """
    found = threading.Event()

    def recheck() -> None:
        if watch.created.wait(timeout) and not watch.stopped:
            try:
                if done(client.get_kv_rev(key)[0]):
                    found.set()
                    watch.stop()
            except etcd_mod.EtcdError:
                pass
    threading.Thread(target=recheck, daemon=True).start()
    return found


def bind(client: etcd_mod.EtcdClient, host: str, physnet: str,
         port_id: str, mac: str, vlan_id: int | None = None,
         timeout: float = 20.0, wait: bool = True) -> int | None:
    """What the ML2 driver does at bind time; returns the vhost id once
    the agent reports ``up`` (None: no vhost free, or no ``up`` in
    ``timeout``; the allocation is then kept, as upstream does).
    """
    if client.get(keys.bind_port(host, port_id)) is not None:
        return None
    vhost_id = allocate_vhost(client, host, physnet, port_id)
    if vhost_id is None:
        return None
    ops = [client.op_put(keys.bind_port(host, port_id),
                         protocol.bind_port_value(mac, vhost_id, vlan_id)),
           client.op_put(keys.action(host, port_id), keys.PLUG)]
    res = client.call('kv/txn', {'compare': [], 'success': ops})
    revision = int(res.get('header', {}).get('revision', 0))
    if not wait:
        return vhost_id
    if wait_for_value(client, keys.port_status(host, port_id), keys.UP,
                      revision, timeout):
        return vhost_id
    return None


def request_unplug(client: etcd_mod.EtcdClient, host: str,
                   port_id: str) -> bool:
    """What the ML2 driver does at unbind/delete: ``action = unplug`` if
    an action key exists.
    """
    return _put_if_exists(client, keys.action(host, port_id), keys.UNPLUG)


def _put_if_exists(client: etcd_mod.EtcdClient, key: str,
                   value: str) -> bool:
    return client.txn([{'key': client.cmp_absent(key)['key'],
                        'target': 'CREATE', 'result': 'GREATER',
                        'create_revision': '0'}],
                      [client.op_put(key, value)])


def allocate_mirror(client: etcd_mod.EtcdClient, host: str,
                    tap_flow_id: str) -> int | None:
    """Take a free mirror slot for a tap flow by CAS (None: none free)."""
    kvs, _rev = client.get_prefix(keys.mirror_prefix(host))
    for kv in kvs:
        if kv.value == keys.FREE and client.replace(kv.key, keys.FREE,
                                                    tap_flow_id):
            return int(keys.suffix(kv.key, keys.mirror_prefix(host)))
    return None


def create_tap_flow(client: etcd_mod.EtcdClient, host: str,
                    tap_flow_id: str, service_port: str, source_port: str,
                    direction: str = 'BOTH', timeout: float = 30.0,
                    wait: bool = True) -> dict[str, int | None] | None:
    """What the TaaS driver does for a new tap flow (``IN``, ``OUT`` or
    ``BOTH``); returns the mirror ids, or None (no mirror free, no ``up``
    within ``timeout``).
    """
    ids: dict[str, int | None] = {'mirror_in': None, 'mirror_out': None}
    for name, wanted in (('mirror_in', direction in ('IN', 'BOTH')),
                         ('mirror_out', direction in ('OUT', 'BOTH'))):
        if wanted:
            ids[name] = allocate_mirror(client, host, tap_flow_id)
            if ids[name] is None:
                for got in ids.values():
                    if got is not None:
                        client.replace(keys.mirror(host, got), tap_flow_id,
                                       keys.FREE)
                return None
    ops = [client.op_put(keys.tap_info(host, tap_flow_id),
                         taas.tap_info_value(service_port, source_port,
                                             ids['mirror_in'],
                                             ids['mirror_out'])),
           client.op_put(keys.tap_action(host, tap_flow_id), keys.PLUG)]
    res = client.call('kv/txn', {'compare': [], 'success': ops})
    if wait and not wait_for_value(
            client, keys.tap_status(host, tap_flow_id), keys.UP,
            int(res.get('header', {}).get('revision', 0)), timeout):
        return None
    return ids


def delete_tap_flow(client: etcd_mod.EtcdClient, host: str,
                    tap_flow_id: str) -> bool:
    """What the TaaS driver does when a tap flow is deleted."""
    return _put_if_exists(client, keys.tap_action(host, tap_flow_id),
                          keys.UNPLUG)
