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
"""The Neutron half of the allocation sweep (:mod:`spp_neutron.sweep`):
which ports Neutron still binds where, and the neutron-server worker
process that sweeps every ``[spp] allocation_sweep_interval`` seconds.
"""

from __future__ import annotations

from typing import Any

from neutron_lib import context as n_context
from neutron_lib import worker

from neutron.objects import ports as ports_obj

from vif_plug_spp import etcd as etcd_mod

from spp_neutron import sweep

__all__ = ['neutron_lookup', 'SweepWorker']

#: Port ids per database query (an IN list).
_CHUNK = 500


def neutron_lookup(pairs: set[tuple[str, str]]
                   ) -> tuple[set[tuple[str, str]], set[str]]:
    """(host, port) pairs with a port binding in Neutron (any status:
    an inactive binding of a live migration counts), and the port ids
    that exist at all, among ``pairs``.
    """
    ctx = n_context.get_admin_context()
    ids = sorted({port_id for _host, port_id in pairs})
    bound: set[tuple[str, str]] = set()
    existing: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        bound.update((row.host, row.port_id) for row in
                     ports_obj.PortBinding.get_objects(
                         ctx, port_id=chunk, return_db_obj=True))
        existing.update(ports_obj.Port.get_values(ctx, 'id', id=chunk))
    return bound, existing


class SweepWorker(worker.BaseWorker):
    """neutron-server worker process running the periodic sweep."""

    def __init__(self, client: etcd_mod.EtcdClient, interval: float) -> None:
        super().__init__(worker_process_count=1,
                         desc='SPP allocation sweep')
        self.etcd = client
        self.interval = interval
        self.periodic: sweep.PeriodicSweep | None = None

    def start(self, **kwargs: Any) -> None:
        super().start(**kwargs)
        # An allocation without an agent action must look stale to two
        # sweeps one interval apart before it is freed.
        self.periodic = sweep.PeriodicSweep(
            sweep.Sweeper(self.etcd, grace=self.interval), neutron_lookup,
            self.interval).start()

    def stop(self) -> None:
        if self.periodic is not None:
            self.periodic.stop()

    def wait(self) -> None:
        if self.periodic is not None:
            self.periodic.stopped.wait()

    def reset(self) -> None:
        """Nothing to reload: options are read at start."""
