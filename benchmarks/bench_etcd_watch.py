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
"""etcd watch on an idle host (not a test): real etcd, side by side.

"old": the stream is re-created after every 10 s of silence (what the
watch did before; reproduced with ``idle_timeout`` = no probe and
``stall_timeout=10``).  "new": defaults (probe after 10 s of silence,
TCP keepalive, stream re-created only when the probe fails).

Per mode: stream re-creations and gRPC calls etcd served per minute of
idleness (etcd's own ``grpc_server_started_total`` from ``/metrics``;
the gateway turns every HTTP call into one gRPC call), then how long the
watch takes to notice a killed etcd (SIGKILL: connection closed) and a
hung one (SIGSTOP: connection stays open, nothing answers).

Then the whole agent on an idle two-NIC host with mirrors (two watches,
default options), old and new watch side by side: etcd gRPC calls and
Watch streams per minute.

Usage: python benchmarks/bench_etcd_watch.py [--window 60]
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import signal
import tempfile
import threading
import time
import urllib.request
from typing import Any

from os_vif_accel.testing import etcd as etcd_server
from vif_plug_spp import agent as agent_mod
from vif_plug_spp import builder
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import etcd_watch
from vif_plug_spp import sppctl
from vif_plug_spp.emulator import server as emu_server

PREFIX = '/spp/openstack/action/bench/'
MODES: dict[str, dict[str, float]] = {
    'old': {'idle_timeout': 1e9, 'stall_timeout': 10.0},
    'new': {'idle_timeout': 10.0, 'stall_timeout': etcd_watch.STALL_TIMEOUT},
}


def _grpc_calls(url: str) -> tuple[float, float]:
    """(all gRPC calls, Watch streams) etcd started so far."""
    text = urllib.request.urlopen(url + '/metrics', timeout=5).read()
    total = watch = 0.0
    for line in text.decode().splitlines():
        m = re.match(r'grpc_server_started_total\{grpc_method="(\w+)".*\} '
                     r'(\S+)', line)
        if m:
            total += float(m.group(2))
            watch += float(m.group(2)) if m.group(1) == 'Watch' else 0
    return total, watch


def _noticed(server: etcd_server.EtcdServer, watch: etcd_watch.Watch,
             sig: signal.Signals, limit: float = 60.0) -> float:
    before = watch.streams + watch.reconnects
    assert server.proc is not None
    start = time.monotonic()
    server.proc.send_signal(sig)
    while watch.streams + watch.reconnects == before and \
            time.monotonic() - start < limit:
        time.sleep(0.01)
    took = time.monotonic() - start
    if sig == signal.SIGSTOP:
        server.proc.send_signal(signal.SIGCONT)
    else:
        server.restart()
    time.sleep(1.0)
    return took


def run_mode(mode: str, window: float) -> dict[str, Any]:
    with etcd_server.EtcdServer() as server:
        client = etcd_mod.EtcdClient(server.host, server.port)
        _kvs, rev = client.get_prefix(PREFIX)
        watch = client.watch_prefix(PREFIX, rev + 1, **MODES[mode])
        thread = threading.Thread(target=lambda: list(watch), daemon=True)
        thread.start()
        watch.created.wait(10)
        time.sleep(1.0)
        calls0, streams0 = _grpc_calls(server.url)
        created0 = watch.streams
        time.sleep(window)
        calls1, streams1 = _grpc_calls(server.url)
        per_min = 60.0 / window
        out = {'recreations': (watch.streams - created0) * per_min,
               'watch_streams': (streams1 - streams0) * per_min,
               'grpc_calls': (calls1 - calls0) * per_min,
               'sigkill': _noticed(server, watch, signal.SIGKILL),
               'sigstop': _noticed(server, watch, signal.SIGSTOP)}
        watch.stop()
        client.close()
        return out


class _OldWatchClient(etcd_mod.EtcdClient):
    """The agent's client, with watches that behave as before."""

    def watch_prefix(self, prefix: str, start_revision: int,
                     idle_timeout: float = 10.0, backoff_max: float = 2.0,
                     **kwargs: Any) -> etcd_watch.Watch:
        return super().watch_prefix(prefix, start_revision,
                                    backoff_max=backoff_max, **MODES['old'])


def run_agent(mode: str, window: float, lock_path: str) -> dict[str, float]:
    with etcd_server.EtcdServer() as server:
        config = builder.build('00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfc02',
                               '2#0x30002')
        client = etcd_mod.EtcdClient(server.host, server.port)
        builder.write(client, 'bench', config)
        emu = emu_server.SppCtlEmulator.for_configuration(config).start()
        cls = _OldWatchClient if mode == 'old' else etcd_mod.EtcdClient
        agent = agent_mod.Agent(cls(server.host, server.port),
                                sppctl.SppCtlClient(emu.url), 'bench',
                                lock_path=lock_path)
        threading.Thread(target=agent.run, daemon=True).start()
        agent.ready.wait(20)
        time.sleep(2.0)
        calls0, streams0 = _grpc_calls(server.url)
        time.sleep(window)
        calls1, streams1 = _grpc_calls(server.url)
        agent.stop()
        emu.stop()
        client.close()
        return {'agent_calls': (calls1 - calls0) * 60.0 / window,
                'agent_streams': (streams1 - streams0) * 60.0 / window}


def _ratio(old: float, new: float) -> str:
    return '%8.2f' % (new / old) if old else '       -'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--window', type=float, default=60.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    lock = tempfile.mkdtemp(prefix='bench-etcd-watch-')
    try:
        res = {mode: dict(run_mode(mode, args.window),
                          **run_agent(mode, args.window, lock + '/lock'))
               for mode in MODES}
    finally:
        shutil.rmtree(lock, ignore_errors=True)
    print('idle window %.0f s' % args.window)
    print('%-40s %10s %10s %8s' % ('', 'old', 'new', 'new/old'))
    for key, label in (('recreations', 'one watch: re-creations / min'),
                       ('watch_streams', 'one watch: Watch streams / min'),
                       ('grpc_calls', 'one watch: etcd gRPC calls / min'),
                       ('sigkill', 'killed etcd noticed after (s)'),
                       ('sigstop', 'hung etcd noticed after (s)'),
                       ('agent_streams', 'agent: etcd Watch streams / min'),
                       ('agent_calls', 'agent: etcd gRPC calls / min')):
        old, new = res['old'][key], res['new'][key]
        print('%-40s %10.2f %10.2f %s' % (label, old, new,
                                          _ratio(old, new)))


if __name__ == '__main__':
    main()
