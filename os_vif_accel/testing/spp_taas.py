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
"""The TaaS service driver's side of networking-spp's tap-flow keys
(test double).

networking-spp's ``service_drivers/taas.py`` (NS 0170ff7; reference
spp.md section 1.7) takes mirror slots by compare-and-swap, writes
``tap_info`` and ``tap_action`` and waits for ``tap_status``.  No TaaS
driver for a current Neutron is built here, so the agent's tap-flow
tests use this stand-in; port bindings go through the real ML2 driver's
core, :mod:`spp_neutron.core`.
"""

from __future__ import annotations

from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import keys
from vif_plug_spp import taas

from spp_neutron import status

__all__ = ['allocate_mirror', 'create_tap_flow', 'delete_tap_flow']


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
    rev = int(res.get('header', {}).get('revision', 0))
    if wait and not status.wait_for(
            client, keys.tap_status(host, tap_flow_id),
            lambda value, at: value == keys.UP and at >= rev, rev, timeout):
        return None
    return ids


def delete_tap_flow(client: etcd_mod.EtcdClient, host: str,
                    tap_flow_id: str) -> bool:
    """What the TaaS driver does when a tap flow is deleted: ``tap_action
    = unplug`` if a ``tap_action`` key exists.
    """
    key = keys.tap_action(host, tap_flow_id)
    return client.txn([{'key': client.cmp_absent(key)['key'],
                        'target': 'CREATE', 'result': 'GREATER',
                        'create_revision': '0'}],
                      [client.op_put(key, keys.UNPLUG)])
