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
"""The least etcd permissions each SPP component needs (etcd RBAC).

Why here, derived from :mod:`vif_plug_spp.keys`: a role list written by
hand drifts from the keys the code really touches, and a role that is one
prefix short fails only in production.  The functional tests create
exactly these roles on a real authenticated cluster and run every
component under its own role; the operator guide prints the same list
as ``etcdctl`` commands (:func:`etcdctl_commands`).

What each component reads and writes (the code that does it):

* agent of host H (``vif_plug_spp/handlers.py``, ``feed.py``,
  ``served.py``): reads ``configuration/H``; reads, writes and deletes
  under every per-host prefix of H (watches ``action/H/`` and
  ``tap_action/H/``, frees ``vhost/H/`` and ``mirror/H/`` slots, writes
  ``port_status/H/`` and ``tap_status/H/``, deletes ``bind_port/H/``,
  ``action/H/`` and ``tap_info/H/`` keys at unbind); holds its marker
  ``/os-vif-accel/spp/agent/H`` on a lease.
* os-vif plugin in nova-compute of H (``wiring.py``): reads
  ``configuration/H``, the marker, ``bind_port/H/``, ``action/H/`` and
  its port's ``vhost/H/`` slot; writes only ``port_status/H/`` (``up``).
* builder of H (``builder.py``): writes ``configuration/H`` and the
  ``vhost/H/`` and ``mirror/H/`` slots; ``destroy`` deletes every
  per-host prefix of H, so the role covers them all (a destroy that
  stopped half-way for want of a permission would leave a host without
  configuration but with bindings).
* ML2 driver (``spp_neutron/core.py``, ``status.py``): reads every
  host's ``configuration/``; allocates and frees ``vhost/``, writes
  ``bind_port/`` and ``action/``, deletes and watches ``port_status/``
  of every host.
"""

from __future__ import annotations

import dataclasses

from vif_plug_spp import keys
from vif_plug_spp import served

__all__ = ['READ', 'WRITE', 'READWRITE', 'Permission', 'Role',
           'agent', 'plugin', 'builder', 'ml2', 'host_roles',
           'etcdctl_commands']

READ = 'READ'
WRITE = 'WRITE'
READWRITE = 'READWRITE'


@dataclasses.dataclass(frozen=True)
class Permission:
    """One etcd permission: a key, or every key under a prefix."""

    perm: str
    key: str
    prefix: bool


@dataclasses.dataclass(frozen=True)
class Role:
    name: str
    permissions: tuple[Permission, ...]


def _rw_prefixes(prefixes: list[str]) -> list[Permission]:
    return [Permission(READWRITE, p, True) for p in prefixes]


def agent(host: str) -> Role:
    """spp-agent of ``host``."""
    perms = [Permission(READ, keys.configuration(host), False),
             Permission(READWRITE, served.marker(host), False)]
    return Role('spp-agent-' + host,
                tuple(perms + _rw_prefixes(keys.host_prefixes(host))))


def plugin(host: str) -> Role:
    """The os-vif ``spp`` plugin in nova-compute of ``host``."""
    perms = [Permission(READ, keys.configuration(host), False),
             Permission(READ, served.marker(host), False),
             Permission(READ, keys.bind_port_prefix(host), True),
             Permission(READ, keys.action_prefix(host), True),
             Permission(READ, keys.vhost_prefix(host), True),
             Permission(READWRITE, keys.port_status_prefix(host), True)]
    return Role('spp-plugin-' + host, tuple(perms))


def builder(host: str) -> Role:
    """``spp-config-build`` (write and destroy) for ``host``."""
    perms = [Permission(READWRITE, keys.configuration(host), False)]
    return Role('spp-builder-' + host,
                tuple(perms + _rw_prefixes(keys.host_prefixes(host))))


def ml2() -> Role:
    """The ``spp`` mechanism driver in neutron-server (every host)."""
    root = keys.ROOT
    perms = [Permission(READ, root + 'configuration/', True)]
    perms += _rw_prefixes([root + kind + '/' for kind in
                           ('vhost', 'bind_port', 'action', 'port_status')])
    return Role('spp-ml2', tuple(perms))


def host_roles(host: str) -> list[Role]:
    """The roles of one compute host's components."""
    return [agent(host), plugin(host), builder(host)]


def etcdctl_commands(role: Role, user: str) -> list[str]:
    """The ``etcdctl`` (v3) commands that create ``role`` and give it to
    ``user`` (who must exist: ``etcdctl user add``).
    """
    out = ['etcdctl role add %s' % role.name]
    for perm in role.permissions:
        out.append('etcdctl role grant-permission %s%s %s %s' % (
            '--prefix=true ' if perm.prefix else '', role.name,
            perm.perm.lower(), perm.key))
    out.append('etcdctl user grant-role %s %s' % (user, role.name))
    return out
