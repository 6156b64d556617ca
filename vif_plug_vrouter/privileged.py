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
"""Privileged entrypoints of the vrouter plugin.

Each entrypoint takes only primitives and validates them again before
acting: the privsep daemon runs as root and must not become a way to
write arbitrary files for whoever can talk to it.  A port file can only
be written in a directory listed in the daemon's own configuration
(``[vif_plug_vrouter_privileged] allowed_ports_dirs``), under a name that
is a canonical UUID, with content serialised here from a record that
passes the same checks the agent applies.

The SmartNIC entrypoints (representors, VFs, VF drivers) check interface
names, PCI addresses, MACs, VLAN ids, MTUs and driver names in
:mod:`vif_plug_vrouter.linux_net` before touching the host, and act in
the daemon's own network namespace.
"""

from __future__ import annotations

import os
from typing import Any

from oslo_config import cfg

from os_vif_accel import validate

from vif_plug_vrouter import linux_net
from vif_plug_vrouter import port_files
from vif_plug_vrouter import privsep


def _listed(path: str, field: str, option: str) -> str:
    """Refuse a directory the daemon's own ``option`` does not list.

    The daemon runs as root: the caller must not be able to choose where
    it creates, replaces, removes or writes files.
    """
    directory = validate.directory(path, field)
    allowed = {os.path.normpath(d) for d in
               cfg.CONF[privsep.CFG_SECTION][option]}
    if directory not in allowed:
        raise validate.InvalidInput(
            field, path, 'not in [%s] %s of the privsep daemon (%s)' %
            (privsep.CFG_SECTION, option, ', '.join(sorted(allowed))))
    return directory


def _allowed_dir(ports_dir: str) -> str:
    """A listed ports directory; symbolic links are refused too, so the
    allowed directory cannot be redirected elsewhere.
    """
    directory = _listed(ports_dir, 'ports_dir', 'allowed_ports_dirs')
    if os.path.lexists(directory) and \
            os.path.realpath(directory) != directory:
        raise validate.InvalidInput('ports_dir', ports_dir,
                                    'must not be or contain a symbolic link')
    return directory


def _allowed_sysfs(sysfs_root: str) -> str:
    """A listed sysfs root (VF driver binding writes below it)."""
    return _listed(sysfs_root, 'sysfs_root', 'allowed_sysfs_roots')


@privsep.vif_plug.entrypoint
def write_port_file(ports_dir: str, rec: dict[str, Any],
                    extra: dict[str, Any] | None = None) -> str:
    return port_files.write_port_file(_allowed_dir(ports_dir), rec, extra)


@privsep.vif_plug.entrypoint
def remove_port_file(ports_dir: str, port_id: str) -> bool:
    return port_files.remove_port_file(_allowed_dir(ports_dir), port_id)


@privsep.vif_plug.entrypoint
def read_port_file(ports_dir: str, port_id: str) -> str | None:
    return port_files.read_port_file(_allowed_dir(ports_dir), port_id)


@privsep.vif_plug.entrypoint
def link_state(ifname: str) -> dict[str, Any]:
    return linux_net.link_state(ifname)


@privsep.vif_plug.entrypoint
def rename_link(old: str, new: str) -> bool:
    return linux_net.rename_link(old, new)


@privsep.vif_plug.entrypoint
def set_mtu(ifname: str, mtu: int) -> None:
    linux_net.set_mtu(ifname, mtu)


@privsep.vif_plug.entrypoint
def set_link_up(ifname: str, up: bool) -> None:
    linux_net.set_link_up(ifname, up)


@privsep.vif_plug.entrypoint
def set_ipv6_disabled(ifname: str, disabled: bool) -> bool | None:
    return linux_net.set_ipv6_disabled(ifname, disabled)


@privsep.vif_plug.entrypoint
def vf_state(pf_ifname: str, vf: int) -> dict[str, Any]:
    return linux_net.vf_state(pf_ifname, vf)


@privsep.vif_plug.entrypoint
def set_vf(pf_ifname: str, vf: int, mac: str | None,
           vlan: int | None = None) -> dict[str, Any]:
    return linux_net.set_vf(pf_ifname, vf, mac, vlan)


@privsep.vif_plug.entrypoint
def bind_vf_driver(sysfs_root: str, vf: str, driver: str,
                   timeout: float) -> dict[str, str | None]:
    return linux_net.bind_vf_driver(_allowed_sysfs(sysfs_root), vf, driver,
                                    timeout)


@privsep.vif_plug.entrypoint
def restore_vf_driver(sysfs_root: str, vf: str, driver: str | None,
                      override: str | None, timeout: float) -> None:
    linux_net.restore_vf_driver(_allowed_sysfs(sysfs_root), vf, driver,
                                override, timeout)
