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
"""HTTP front end of the spp-ctl emulator.

Runs in-process (tests, sandbox, benchmarks) or as ``spp-ctl-emulator``.
It always binds loopback.  Tests can inject failures (``fail()``) to
check rollback, and ``restart()`` it to check reconnects; the spp_vf
state survives an spp-ctl restart, as it does in reality (spp-ctl is
stateless), unless ``reset_vfs=True`` simulates restarted spp_vf
processes.

A request to an spp_vf that stopped answering (a component started on
its master lcore, Corrections 4) is held for ``hang_seconds`` and then
dropped without an answer: real spp-ctl would wait forever; the bound
keeps tests fast, and clients see their read timeout either way.
"""

from __future__ import annotations

import dataclasses
import http.server
import threading
import time
from typing import Any

from os_vif_accel.testing import httpserver

from vif_plug_spp.emulator import state as state_mod

__all__ = ['SppCtlEmulator']


@dataclasses.dataclass
class _Fault:
    """One injected failure: requests matching method and path fail."""

    method: str
    path_contains: str
    status: int
    text: str
    count: int
    after: int
    delay: float = 0.0


class SppCtlEmulator:
    """spp-ctl's REST API on ``http://127.0.0.1:<port>``."""

    def __init__(self, port: int = 0,
                 classifier_type: str = state_mod.CLASSIFIER_1808,
                 status_size_bug: bool = False,
                 hang_seconds: float = 30.0) -> None:
        self.state = state_mod.SppCtlState(classifier_type, status_size_bug)
        self.hang_seconds = hang_seconds
        self.requests: list[tuple[str, str, bytes]] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        # spp-ctl 18.08 src/spp-ctl/spp_proc.py 51-53: one command at a
        # time per process; a slow spp_vf holds the requests behind it.
        self._serial = threading.Lock()
        self._http = httpserver.LoopbackHTTPServer(
            self._answer, port=port, name='spp-ctl-emulator')

    @property
    def port(self) -> int:
        return self._http.port

    def _answer(self, method: str, path: str,
                raw: bytes) -> httpserver.Answer:
        try:
            status, ctype, body = self.dispatch(method, path, raw)
        except state_mod.Hang:
            time.sleep(self.hang_seconds)
            return httpserver.DROP, '', [], b''
        reason = http.server.BaseHTTPRequestHandler.responses.get(
            status, ('',))[0]
        return status, reason, [('Content-Type', ctype)] if ctype else [], \
            body

    @classmethod
    def for_configuration(cls, config: dict[str, Any], port: int = 0,
                          classifier_type: str = state_mod.CLASSIFIER_1808,
                          num_rings: int | None = None,
                          mirror_core_mask: int | None = None,
                          status_size_bug: bool = False,
                          hang_seconds: float = 30.0
                          ) -> 'SppCtlEmulator':
        """One spp_vf per ``vf`` entry of a host configuration, with the
        core masks and ring count the launch plan gives them (``num_rings``
        overrides spp_primary's ``-n``).
        """
        emu = cls(port=port, classifier_type=classifier_type,
                  status_size_bug=status_size_bug, hang_seconds=hang_seconds)
        vfs = config.get('vf', [])
        total = sum(int(vf['num_vhost']) for vf in vfs)
        rings = num_rings if num_rings is not None else \
            2 * total + 2 * len(config.get('mirror', []))
        for i, vf in enumerate(vfs):
            emu.state.add_vf(i + 1, int(vf['core_mask'], 16), len(vfs),
                             rings)
        if config.get('mirror'):
            mask = mirror_core_mask or (
                1 | sum(1 << m['core'] for m in config['mirror']))
            emu.state.add_mirror(len(vfs) + 1, mask, len(vfs), rings)
        return emu

    @property
    def url(self) -> str:
        return 'http://127.0.0.1:%d' % self.port

    # -- fault injection ------------------------------------------------
    def fail(self, method: str, path_contains: str = '', status: int = 400,
             text: str = 'command error: error occur', count: int = 1,
             after: int = 0) -> None:
        """Answer the next ``count`` matching requests (after skipping
        ``after`` matching ones) with ``status``/``text`` and do nothing.
        """
        with self._lock:
            self._faults.append(_Fault(method, path_contains, status, text,
                                       count, after))

    def delay(self, method: str, path_contains: str, seconds: float,
              count: int = 1) -> None:
        """Hold the next ``count`` matching requests for ``seconds``,
        then process them normally (a slow or hung spp_vf).
        """
        with self._lock:
            self._faults.append(_Fault(method, path_contains, 0, '', count,
                                       0, delay=seconds))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults = []

    def _fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method not in (method, '*') or \
                        fault.path_contains not in path:
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def dispatch(self, method: str, path: str, raw: bytes
                 ) -> tuple[int, str, bytes]:
        with self._lock:
            self.requests.append((method, path, raw))
        fault = self._fault(method, path)
        if fault is not None and not fault.delay:
            return fault.status, 'text/plain', fault.text.encode('utf-8')
        with self._serial:
            if fault is not None:
                time.sleep(fault.delay)
            return self.state.handle(method, path, raw)

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> 'SppCtlEmulator':
        self._http.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop every kept-alive session."""
        self._http.stop()

    def restart(self, reset_vfs: bool = False) -> None:
        """Stop and start on the same port; ``reset_vfs`` also empties
        every spp_vf (as if the DPDK processes had been restarted).
        """
        self.stop()
        if reset_vfs:
            old = self.state
            self.state = state_mod.SppCtlState(old.classifier_type,
                                               old.status_size_bug)
            for cid, proc in old.vfs.items():
                self.state.add_vf(cid, proc.core_mask, proc.num_phy,
                                  proc.num_rings)
            for cid, proc in old.mirrors.items():
                self.state.add_mirror(cid, proc.core_mask, proc.num_phy,
                                      proc.num_rings)
        self.start()

    def snapshot(self) -> dict[int, dict[str, Any]]:
        return self.state.snapshot()

    def __enter__(self) -> 'SppCtlEmulator':
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
