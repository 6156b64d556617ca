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
"""Cost of the bounded parsers on the agent's hot path (not a test).

Side by side, per call: ``json.loads`` (what the agent did before) versus
``vif_plug_spp.protocol.parse_bind_port`` / ``hostconfig.parse`` (bounded
depth and size, shape checked) for a ``bind_port`` value (read on every
action) and a 100-vhost ``configuration/<host>`` (parsed when it
changes), and the decoding of a 100-key etcd range answer.

Usage: python benchmarks/bench_spp_parse.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import time
from typing import Any, Callable

from vif_plug_spp import builder
from vif_plug_spp import etcdkv
from vif_plug_spp import hostconfig
from vif_plug_spp import protocol


def _p50_us(func: Callable[[], Any], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def _row(name: str, old: float, new: float) -> None:
    print('%-34s %10.1f %10.1f %8.2fx' % (name, old, new, new / old))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--rounds', type=int, default=2000)
    rounds = parser.parse_args().rounds
    bind = protocol.bind_port_value('fa:16:3e:00:00:01', 7, 100)
    vhosts = ['vhost:%d' % v for v in range(100)]
    config = builder.dumps(builder.build('00:04.0#phys1#100#0x7', None, {
        'vf': [{'components': [
            {'core': 1, 'name': 'classifier', 'type': 'classifier_mac',
             'rx_port': ['phy:0'], 'tx_port': vhosts},
            {'core': 2, 'name': 'merger', 'type': 'merge',
             'rx_port': vhosts, 'tx_port': ['phy:0']}]}]}))
    raws = [{'key': base64.b64encode(b'/spp/openstack/action/h/%d' % i)
             .decode(), 'value': base64.b64encode(b'plug').decode(),
             'mod_revision': '5', 'create_revision': '5'}
            for i in range(100)]

    def old_range() -> list[etcdkv.KeyValue]:
        # What the client did before: one strict .decode() per field, the
        # first bad key failing the whole answer.
        return [etcdkv.KeyValue(
            key=base64.b64decode(r['key']).decode('utf-8'),
            value=base64.b64decode(r['value']).decode('utf-8'),
            mod_revision=int(r['mod_revision']),
            create_revision=int(r['create_revision'])) for r in raws]

    print('%-34s %10s %10s %9s' % ('p50 per call (us)', 'before', 'now',
                                   'ratio'))
    _row('bind_port value', _p50_us(lambda: json.loads(bind), rounds),
         _p50_us(lambda: protocol.parse_bind_port(bind), rounds))
    _row('configuration, 100 vhosts (%d B)' % len(config),
         _p50_us(lambda: json.loads(config), rounds // 10),
         _p50_us(lambda: hostconfig.parse(config, 'h'), rounds // 10))
    _row('etcd range answer, 100 keys', _p50_us(old_range, rounds // 10),
         _p50_us(lambda: etcdkv.kvs(raws), rounds // 10))


if __name__ == '__main__':
    main()
