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
"""``vrouter-port-control`` for SmartNIC ports (direct, virtio-forwarder).

Imported only for those ports: the plugin's ``offload`` module loads
oslo.log, which costs more than a whole kernel-port add.
"""

from __future__ import annotations

from typing import Any

from os_vif_accel import validate

from vif_plug_vrouter.cmd import port_ops
from vif_plug_vrouter.cmd import port_settings as ps
from vif_plug_vrouter import offload
from vif_plug_vrouter import ports

__all__ = ['add', 'remove']

#: ``offload.Spec`` fields -> the flag that sets them, to name flags.
_FLAG_OF = {'representor_address': 'pci_dev', 'representor_name': 'tap_name',
            'address': 'mac'}


def offloader(s: ps.Settings) -> Any:
    """The SmartNIC code of the plugin, acting in this (root) process."""
    try:
        return offload.local_offloader(s.sysfs_root, s.forwarder_driver)
    except validate.InvalidInput as exc:
        flag = 'sysfs_root' if exc.field == 'sysfs_root' \
            else 'forwarder_driver'
        raise ps.bad(flag, exc.value, exc.reason)


def add(s: ps.Settings, rec: dict[str, Any]) -> int:
    """Add a direct / virtio-forwarder port with the plugin's own flow.

    Representor found, original state saved in the port file, representor
    renamed to ``--tap_name`` and configured, VF MAC set (and, for
    virtio-forwarder, the VF bound to ``--forwarder_driver``), then the
    agent told; every step is undone if a later one fails.  No DPDK waits:
    the forwarder, not the vRouter, serves the vhost-user socket.
    """
    try:
        spec = offload.Spec.build(
            port_id=str(s.port_id), mode=s.vnic_type, vf=s.pci_dev,
            name=rec['system-name'], mac=rec['mac-address'], mtu=s.mtu)
    except validate.InvalidInput as exc:
        raise ps.bad(_FLAG_OF.get(exc.field, exc.field), exc.value,
                     exc.reason)
    mgr = port_ops.manager(s)
    if mgr.store is None:
        raise ps.CliError(ps.EXIT_FAILURE, '--vnic_type=%s cannot be used '
                                           'with --no_persist: the port file'
                                           ' keeps what delete must restore;'
                                           ' nothing was written or sent' %
                                           s.vnic_type)
    outcome = offload.add_port(
        offloader(s), mgr, spec,
        lambda name: dict(rec, **{'system-name': name}),
        defer_if_agent_down=True)
    return port_ops.added(s, mgr, rec, outcome)


def remove(s: ps.Settings, mgr: ports.PortManager) -> bool:
    """Restore the VF and representor; whether the agent was told."""
    return bool(offload.remove_port(offloader(s), mgr, str(s.port_id)))
