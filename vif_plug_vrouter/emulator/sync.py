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
"""``/syncports`` and the stale cleaner.

``pih`` = ``src/vnsw/agent/port_ipc/port_ipc_handler.cc``, ``pst`` =
``port_subscribe_table.cc``, ``csc`` = ``config_stale_cleaner.cc``
(OpenSDN-io/tf-controller @ fbb63bcd).
"""

from __future__ import annotations

import threading

from vif_plug_vrouter.emulator import vmvn
from vif_plug_vrouter.emulator import wire


class StaleCleaner(vmvn.VmVnPorts):
    """One timer per sync call, each with the version of its call."""

    timers: list[threading.Timer]

    def syncports(self, body: bytes) -> wire.Reply:
        """``SyncHandler`` (pih 627-632): bump the version and arm a new
        timer (csc 25-35); earlier timers keep running with their own
        (older) version.
        """
        self.version += 1
        timer = threading.Timer(self.stale_timeout, self._on_timer,
                                args=(self.version,))
        timer.daemon = True
        self.timers = [t for t in self.timers if t.is_alive()]
        self.timers.append(timer)
        timer.start()
        return wire.OK

    def _on_timer(self, version: int) -> None:
        with self.lock:
            self.clean_stale(version)

    def clean_stale(self, version: int | None = None) -> list[str]:
        """``StaleWalk`` (pst 506-544) for ``version`` (default: the
        latest sync); returns the VMI ports deleted.

        Entries keep a uint16_t version (pst.h 64) compared with the
        sync's int.  Namespace ports are never stale (pst 517-518).  A
        stale vm-vn entry makes the agent call ``DeleteVmVnPort`` for its
        whole VM (pst 541-542, see :meth:`delete_vm_vn`).
        """
        with self.lock:
            if version is None:
                version = self.version
            stale = sorted(u for u, p in self.ports.items()
                           if p['type'] != 1 and p['version'] < version)
            for uuid in stale:
                self.delete_port(b'', uuid)
            for key in sorted(self.vm_ports):
                entry = self.vm_ports.get(key)
                # an entry a previous DeleteVmVnPort removed is gone (the
                # agent's iterator would be invalid there: deviation)
                if entry is not None and entry['version'] < version:
                    self.delete_vm_vn(entry['vm-uuid'])
            return stale

    def stop(self) -> None:
        """Cancel every pending timer (the agent's destructor, csc 17-23)."""
        for timer in self.timers:
            timer.cancel()
