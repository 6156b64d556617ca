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
"""networking-spp 21.0.0's side of ``bench_ml2_bind.py``.

Runs in the ``ns-interop`` venv (networking-spp 21.0.0 with neutron
20.5.0, which cannot share a venv with Neutron 29), started by
``bench_ml2_bind.py`` against its etcd, spp-ctl emulator and spp-agent.
Drives networking-spp's installed ``SppMechanismDriver``: ``bind_port``
allocates, writes the keys, then opens its ``port_status`` watch and
blocks until ``up`` (ACTIVE) or its 20 s timeout (no binding);
``delete_port_postcommit`` releases.  Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from networking_spp.mech_driver import mech_spp  # noqa: E402
from oslo_config import cfg  # noqa: E402

from ns_interop import base as ns_base  # noqa: E402
from vif_plug_spp import etcd as etcd_mod  # noqa: E402
from vif_plug_spp import keys  # noqa: E402

import spp_binders  # noqa: E402


def driver(args: argparse.Namespace) -> Any:
    cfg.CONF.set_override('etcd_host', args.etcd_host, group='spp')
    cfg.CONF.set_override('etcd_port', args.etcd_port, group='spp')
    drv = mech_spp.SppMechanismDriver()
    drv.initialize()
    return drv


def binder(args: argparse.Namespace) -> Any:
    """bind(port, mac) -> vhost id through networking-spp's bind_port."""
    drv = driver(args)
    client = etcd_mod.EtcdClient(args.etcd_host, args.etcd_port)

    def bind(port: str, mac: str) -> int | None:
        ctx = ns_base.PortContext(port, mac, args.host, [
            ns_base.segment(spp_binders.PHYSNET, None)])
        drv.bind_port(ctx)
        if ctx.binding is None or ctx.binding[3] != 'ACTIVE':
            return None
        text = client.get(keys.bind_port(args.host, port))
        return int(json.loads(text or '{}')['vhost_id'])
    return bind


def release(drv: Any, host: str) -> Any:
    def run(port: str) -> None:
        drv.delete_port_postcommit(ns_base.PortContext(
            port, '', host, vif_type='vhostuser'))
    return run


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ('--etcd-host', '--host'):
        parser.add_argument(name, required=True)
    for name in ('--etcd-port', '--ports', '--binders', '--concurrent'):
        parser.add_argument(name, type=int, required=True)
    args = parser.parse_args()
    cfg.CONF([], project='bench')
    client = etcd_mod.EtcdClient(args.etcd_host, args.etcd_port)
    free = release(driver(args), args.host)
    out = {'one': spp_binders.concurrent_rounds(
        client, args.host, [binder(args)], free, args.ports),
        'concurrent': spp_binders.concurrent_rounds(
            client, args.host, [binder(args) for _ in range(args.binders)],
            free, args.concurrent)}
    print(spp_binders.dump(out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
