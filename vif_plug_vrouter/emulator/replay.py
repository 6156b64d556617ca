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
"""Start-up replay of the port files.

``pih`` = ``src/vnsw/agent/port_ipc/port_ipc_handler.cc``
(OpenSDN-io/tf-controller @ fbb63bcd).
"""

from __future__ import annotations

import os
from typing import Callable

from vif_plug_vrouter.emulator import sync
from vif_plug_vrouter.emulator import wire

Adder = Callable[[bytes, bool, bool], int]


class Replay(sync.StaleCleaner):
    """``ReloadAllPorts`` (pih 120-178)."""

    def replay(self) -> int:
        """Re-add ports from their files, as the agent does when it starts.

        Every regular file whose name *begins with* a non-nil UUID (pih
        134-137, 558-564) is fed to the add logic without writing (pih
        174-177): an object or an all-or-none array of ports; then every
        directory under ``vm/`` the same way for vm-vn entries (pih
        146-159).  With ``check_port`` a port whose netdev is missing is
        skipped, except ESXi ports (pih 311-317).  Failures are only
        recorded in :attr:`replay_errors`; files are kept.  Returns the
        number of VMI ports added.
        """
        added = self._replay_dir(self.ports_dir, self.add_port_json)
        if os.path.isdir(self.vm_dir):
            for name in sorted(os.listdir(self.vm_dir)):
                sub = os.path.join(self.vm_dir, name)
                if os.path.isdir(sub):
                    self._replay_dir(sub, self.add_vm_json)
        return added

    def _replay_dir(self, path: str, add: Adder) -> int:
        added = 0
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if not os.path.isfile(full) or \
                    wire.boost_uuid(name) == wire.NIL_UUID:
                continue
            try:
                with open(full, 'rb') as f:
                    body = f.read()
                with self.lock:
                    added += add(body, self.check_port, False)
            except (OSError, wire.ValidationError) as exc:
                self.replay_errors.append((name, str(exc)))
        return added
