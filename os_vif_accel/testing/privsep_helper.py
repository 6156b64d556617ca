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
"""privsep-helper for functional tests (test-only).

Runs the real oslo.privsep daemon, after two test-only adjustments read
from the environment the test sets:

``OS_VIF_ACCEL_TEST_VF_STATE``
    path of a JSON file standing in for the VF table of the PF: this
    kernel has no SR-IOV VFs, so VF MAC/VLAN get/set (and only those) go
    to a netlink double.  The PF itself must exist (checked through real
    netlink).
``OS_VIF_ACCEL_TEST_FAIL``
    comma-separated names of :mod:`vif_plug_vrouter.linux_net` functions
    that raise EIO, to fail a plug at a chosen step.

The test starts it with ``ip netns exec <ns>`` so that the daemon's
netlink and /proc/sys work happens in the test's namespace.
:func:`port_control` runs the CLI the same way.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from typing import Any, Callable

from oslo_privsep import daemon
from pyroute2 import IPRoute

from os_vif_accel.testing import switchdev_vf
from vif_plug_vrouter import linux_net


class JsonVfDouble:
    """VF MAC/VLAN of real PF netdevs, stored in a JSON file.

    What it accepts and refuses is the switchdev-mode driver model of
    :mod:`os_vif_accel.testing.switchdev_vf` (mlx5 by default; a PF entry
    ``{"driver": "nfp", "caps": [...]}`` selects nfp).
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def _load(self) -> dict[str, Any]:
        try:
            with open(self.path) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    @staticmethod
    def _check_pf(pf: str) -> None:
        with IPRoute() as ipr:
            linux_net._index(ipr, pf)

    def get(self, pf: str, vf: int) -> tuple[str | None, int]:
        self._check_pf(pf)
        return switchdev_vf.SwitchdevVfTable(self._load()).get(pf, vf)

    def _change(self, pf: str, change: Callable[[Any], None]) -> None:
        self._check_pf(pf)
        with open(self.path + '.lock', 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            table = switchdev_vf.SwitchdevVfTable(self._load())
            change(table)
            tmp = self.path + '.tmp'
            with open(tmp, 'w') as f:
                json.dump(table.data, f)
            os.rename(tmp, self.path)

    def set_mac(self, pf: str, vf: int, mac: str) -> None:
        self._change(pf, lambda t: t.set_mac(pf, vf, mac))

    def set_vlan(self, pf: str, vf: int, vlan: int) -> None:
        self._change(pf, lambda t: t.set_vlan(pf, vf, vlan))


def _failing(name: str) -> Any:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EIO, 'injected failure in %s' % name)
    return fail


def install_doubles() -> None:
    """Apply the environment's test-only adjustments to linux_net."""
    state = os.environ.get('OS_VIF_ACCEL_TEST_VF_STATE')
    if state:
        linux_net.VF_NETLINK = JsonVfDouble(state)  # type: ignore
    for name in filter(None, os.environ.get('OS_VIF_ACCEL_TEST_FAIL',
                                            '').split(',')):
        assert hasattr(linux_net, name), name
        setattr(linux_net, name, _failing(name))


def main() -> None:
    install_doubles()
    daemon.helper_main()


def port_control() -> int:
    """``vrouter-port-control`` with the same doubles (it runs as root)."""
    import sys

    from vif_plug_vrouter.cmd import port_control as cli
    install_doubles()
    return cli.main(sys.argv[1:])


if __name__ == '__main__':
    main()
