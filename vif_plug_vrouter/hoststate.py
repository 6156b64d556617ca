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
"""The host side of an offloaded port: the operations and what is recorded.

:class:`HostOps` is what :mod:`vif_plug_vrouter.offload` calls to change
a representor and its VF; :mod:`vif_plug_vrouter.privileged` (through the
privsep daemon) and :mod:`vif_plug_vrouter.linux_net` (already root)
both provide it, so the offloader never needs to know which one it has.

:class:`HostState` is the original host state recorded in the port file
at plug, from which unplug restores the host.  The port file keeps it as
a flat dict with short keys (:data:`STATE_KEYS`); :func:`to_extra` and
:func:`from_extra` convert at that boundary only, and write back exactly
the keys that were read, so a file written by an earlier release is
rewritten byte for byte.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

__all__ = ['HostOps', 'HostState', 'STATE_KEYS', 'to_extra', 'from_extra']


class HostOps(Protocol):
    """Privileged representor and VF operations (see linux_net)."""

    def link_state(self, ifname: str, /) -> dict[str, Any]:
        """``{'mtu', 'up', 'ipv6_disabled'}``; LinkNotFound if absent."""

    def rename_link(self, old: str, new: str, /) -> bool:
        """Rename; False if already done; NameTaken if ``new`` is used."""

    def set_mtu(self, ifname: str, mtu: int, /) -> None:
        ...

    def set_link_up(self, ifname: str, up: bool, /) -> None:
        ...

    def set_ipv6_disabled(self, ifname: str, disabled: bool, /
                          ) -> bool | None:
        """Set ``disable_ipv6``; the previous value (None: no IPv6)."""

    def vf_state(self, pf_ifname: str, vf: int, /) -> dict[str, Any]:
        """``{'mac', 'vlan'}`` of a VF."""

    def set_vf(self, pf_ifname: str, vf: int, mac: str | None,
               vlan: int | None = None, /) -> dict[str, Any]:
        """Set a VF's MAC and, if given, VLAN; the previous ``{'mac',
        'vlan'}``.
        """

    def bind_vf_driver(self, sysfs_root: str, vf: str, driver: str,
                       timeout: float, /) -> dict[str, str | None]:
        """Bind a VF to ``driver``; the previous ``{'driver',
        'override'}``.
        """

    def restore_vf_driver(self, sysfs_root: str, vf: str,
                          driver: str | None, override: str | None,
                          timeout: float, /) -> None:
        ...


#: Keys written as ``null`` when unknown, when the key naming the group
#: they were read with was set by this plug (a VF with no driver, a host
#: without IPv6); a state read from a file writes back the keys it had.
_NULL_WITH = {'rep-ipv6': 'rep-orig-name', 'vf-mac': 'rep-orig-name',
              'vf-driver': 'vf-bound', 'vf-override': 'vf-bound'}


@dataclasses.dataclass(frozen=True)
class HostState:
    """What plugging changed on the host, as it was before (None:
    not recorded).
    """

    #: ``direct`` or ``virtio-forwarder``
    offload: str | None = None
    #: the VF's PCI address
    vf: str | None = None
    pf_ifname: str | None = None
    vf_index: int | None = None
    #: the representor's name while plugged
    rep_name: str | None = None
    rep_orig_name: str | None = None
    rep_mtu: int | None = None
    rep_up: bool | None = None
    rep_ipv6: bool | None = None
    vf_mac: str | None = None
    vf_vlan: int | None = None
    #: the VF was bound to the forwarder's driver by this library
    vf_bound: bool | None = None
    vf_driver: str | None = None
    vf_override: str | None = None
    #: port-file keys that were read (written back even when null)
    present: frozenset[str] = dataclasses.field(
        default=frozenset(), compare=False, repr=False)

    def value(self, key: str) -> Any:
        """The value of a port-file key."""
        return getattr(self, _attr(key))

    def has(self, key: str) -> bool:
        """Whether the port file has (or will have) ``key``."""
        return key in to_extra(self)


def _attr(key: str) -> str:
    """The HostState attribute of a port-file key (``-`` for ``_``)."""
    return key.replace('-', '_')


#: What is kept in the port file (``extra``) to restore the host later:
#: the fields of HostState, in the order they are written.
STATE_KEYS = tuple(f.name.replace('_', '-')
                   for f in dataclasses.fields(HostState)
                   if f.name != 'present')


def to_extra(state: HostState) -> dict[str, Any]:
    """The port-file form of an offload state (flat, short values)."""
    out = {}
    for key in STATE_KEYS:
        value = state.value(key)
        anchor = _NULL_WITH.get(key)
        if value is not None or key in state.present or (
                anchor is not None and anchor not in state.present and
                state.value(anchor) is not None):
            out[key] = value
    return out


def from_extra(extra: dict[str, Any] | None) -> HostState | None:
    """The offload state in a port file's extra state (None if none)."""
    found = {key: extra[key] for key in STATE_KEYS
             if extra and key in extra}
    if not found:
        return None
    return HostState(present=frozenset(found),
                     **{_attr(key): value for key, value in found.items()})
