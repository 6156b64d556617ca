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
"""Test double of the VF netlink calls on a PF in switchdev mode.

The machines the tests run on have no SR-IOV NIC, so the VF table that
``RTM_GETLINK``/``RTM_SETLINK`` with ``IFLA_VFINFO_LIST`` would read and
change lives in a dict here.  What the double accepts and refuses follows
the drivers of the two SmartNICs the vRouter offload is used with, in
switchdev mode (line numbers: Linux 6.12.117, Debian
``linux-source-6.12``):

======================  ==================================================
call                    rule
======================  ==================================================
set VF MAC (mlx5)       any unicast MAC (all-zero too); multicast -EINVAL
                        (``mlx5/core/eswitch.c`` 1975-2026, 1983-1984;
                        ``en_main.c`` 4698-4704)
set VF VLAN (mlx5)      0 is accepted and changes nothing, any other id is
                        -EOPNOTSUPP whenever the eswitch is not in legacy
                        mode (``mlx5/core/esw/legacy.c`` 439-445)
set VF MAC (nfp)        only if the firmware's VF config table has the MAC
                        capability, else -EOPNOTSUPP
                        (``netronome/nfp/nfp_net_sriov.c`` 17-30, 70-72);
                        multicast -EINVAL (74-79)
set VF VLAN (nfp)       only with the VLAN capability (106-108); > 4095
                        -EINVAL (113-117)
read (both)             MAC and VLAN as stored (mlx5 ``eswitch.c``
                        2088-2113; nfp ``nfp_net_sriov.c`` 260-285)
======================  ==================================================

rtnetlink applies ``IFLA_VF_MAC`` before ``IFLA_VF_VLAN`` and stops at
the first error (``net/core/rtnetlink.c`` ``do_setvfinfo``), so a MAC set
in the same request as a refused VLAN stays set; the double keeps the two
calls apart for the same reason.  Errors are raised as pyroute2's
``NetlinkError`` with the kernel's errno (and pyroute2's default text,
``os.strerror``), as a real netlink call would.
"""

from __future__ import annotations

import errno
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

__all__ = ['MLX5', 'NFP', 'SwitchdevVfTable']

MLX5 = 'mlx5_core'
NFP = 'nfp'
_ZERO_MAC = '00:00:00:00:00:00'


def _multicast(mac: str) -> bool:
    return bool(int(mac.split(':')[0], 16) & 1)


class SwitchdevVfTable:
    """VF MAC/VLAN of switchdev PFs, stored in a plain dict.

    ``data`` maps PF name -> VF number (as a string, so that it round-trips
    through JSON) -> ``{'mac', 'vlan'}``; ``data[pf]['driver']`` picks the
    driver rules (default mlx5) and, for nfp, ``data[pf]['caps']`` the
    firmware capabilities (``['mac', 'vlan']`` by default).
    """

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = {} if data is None else data

    def _pf(self, pf: str) -> dict[str, Any]:
        return self.data.setdefault(pf, {})

    def driver(self, pf: str) -> str:
        return str(self._pf(pf).get('driver', MLX5))

    def _entry(self, pf: str, vf: int) -> dict[str, Any]:
        return self._pf(pf).setdefault(str(vf), {'mac': _ZERO_MAC,
                                                 'vlan': 0})

    def _nfp_cap(self, pf: str, cap: str) -> None:
        # nfp_net_sriov.c 17-30: no VF config table, or no capability bit.
        if cap not in self._pf(pf).get('caps', ['mac', 'vlan']):
            raise NetlinkError(errno.EOPNOTSUPP)

    def get(self, pf: str, vf: int) -> tuple[str | None, int]:
        entry = self._entry(pf, vf)
        return entry['mac'], int(entry['vlan'])

    def set_mac(self, pf: str, vf: int, mac: str) -> None:
        if self.driver(pf) == NFP:
            self._nfp_cap(pf, 'mac')
        # mlx5 eswitch.c 1983-1984; nfp_net_sriov.c 74-79
        if _multicast(mac):
            raise NetlinkError(errno.EINVAL)
        self._entry(pf, vf)['mac'] = mac.lower()

    def set_vlan(self, pf: str, vf: int, vlan: int) -> None:
        if self.driver(pf) == NFP:
            self._nfp_cap(pf, 'vlan')
            if vlan > 4095:  # nfp_net_sriov.c 113-117
                raise NetlinkError(errno.EINVAL)
            self._entry(pf, vf)['vlan'] = vlan
            return
        # mlx5 esw/legacy.c 439-445: "compatibility with libvirt" for 0,
        # -EOPNOTSUPP for any VLAN outside legacy mode.
        if vlan != 0:
            raise NetlinkError(errno.EOPNOTSUPP)
