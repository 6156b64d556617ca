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
"""What one offloaded port needs, the plan for it and what was applied.

The data side of :mod:`vif_plug_vrouter.offload`: validated input
(:class:`Spec`), the recorded original host state (:class:`Plan`) and the
undo log of the privileged steps (:class:`Applied`), kept apart from the
steps themselves so each module has one job.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from os_vif_accel import undo as undo_mod
from os_vif_accel import validate

from vif_plug_vrouter import hoststate
from vif_plug_vrouter import sriov

__all__ = ['DIRECT', 'FORWARDER', 'MODES', 'Spec', 'Plan', 'Applied']

DIRECT = 'direct'
FORWARDER = 'virtio-forwarder'
MODES = (DIRECT, FORWARDER)


@dataclasses.dataclass(frozen=True)
class Spec:
    """What one offloaded port needs; built by :meth:`Spec.build`."""

    port_id: str
    mode: str
    vf: str
    name: str | None
    mac: str
    mtu: int | None

    @classmethod
    def build(cls, *, port_id: str, mode: str, vf: Any, name: Any,
              mac: Any, mtu: Any = None) -> Spec:
        """Validate every input; raises ``validate.InvalidInput``."""
        if mode not in MODES:
            raise validate.InvalidInput('vnic_type', mode, 'must be one of '
                                        '%s' % ', '.join(MODES))
        if vf is None or vf == '':
            raise validate.InvalidInput(
                'representor_address', vf,
                'missing: the VF PCI address (Nova sets it from the port '
                'binding\'s pci_slot) is needed to find the representor')
        vf = validate.pci_address(vf, 'representor_address')
        if name is not None:
            name = validate.ifname(name, 'representor_name')
        return cls(port_id=validate.uuid(port_id, 'id'), mode=mode, vf=vf,
                   name=name, mac=validate.mac(mac, 'address'),
                   mtu=None if mtu is None else validate.mtu(mtu, 'mtu'))


@dataclasses.dataclass
class Plan:
    """What :meth:`Offloader.apply` will do, from :meth:`Offloader.plan`."""

    spec: Spec
    rep: sriov.Representor
    #: original host state to record in the port file
    state: hoststate.HostState
    #: the representor's link state now (``mtu``, ``up``, ...)
    link: dict[str, Any]


@dataclasses.dataclass
class Applied:
    """Result of :meth:`Offloader.apply`."""

    ifname: str
    state: hoststate.HostState
    undo: undo_mod.Undo = dataclasses.field(default_factory=undo_mod.Undo)

    def rollback(self) -> list[str]:
        """Undo every step done, newest first.

        Returns the steps that could not be undone (each is logged).
        """
        return list(self.undo.run().failed)
