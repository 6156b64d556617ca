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
"""The tables of one emulated spp_vf: a working side that commands
change and an applied side that the last successful flush copied
(spp_vf 18.08 keeps both: commands edit the management tables, the
flush hands them to the worker lcores, the status reads the workers).
"""

from __future__ import annotations

import copy
import dataclasses
import re
import threading
from typing import Any

from vif_plug_spp.emulator import errors

__all__ = ['Component', 'Tables', 'VfModel', 'CLASSIFIER_1808',
           'CLASSIFIER_1908', 'UNTAGGED', 'MAX_LCORE', 'MAX_ETHPORTS',
           'split_port', 'no_vlan']

CLASSIFIER_1808 = 'classifier_mac'
CLASSIFIER_1908 = 'classifier'
# spp_vf 18.08 src/vf/common/spp_proc.h: ETH_VLAN_ID_MAX = 4095 is the
# "untagged" vid of a plain MAC entry.
UNTAGGED = 4095
MAX_LCORE = 128
# DPDK 18.08 RTE_MAX_ETHPORTS: size of spp_vf's nic/vhost/ring tables
# (src/vf/common/spp_proc.c 258-273 indexes them unchecked).
MAX_ETHPORTS = 32
# ASCII digits and no trailing newline: spp_vf parses the number with
# strtol (src/vf/common/command_dec.c 170-175), which knows no other
# digits.
_PORT = re.compile(r'^([a-z]+):([0-9]+)\Z')


def split_port(port: str) -> tuple[str, int]:
    match = _PORT.match(port)
    if match is None:
        raise errors.invalid()
    try:
        return match.group(1), int(match.group(2))
    except ValueError:
        # spp-ctl 18.08 src/spp-ctl/spp_webapi.py 50-57: int() of a
        # number beyond Python's digit limit fails -> KeyInvalid -> 500.
        raise errors.invalid()


def no_vlan() -> dict[str, Any]:
    return {'operation': 'none', 'id': 0, 'pcp': 0}


@dataclasses.dataclass
class Component:
    name: str
    core: int
    type: str
    rx: list[str] = dataclasses.field(default_factory=list)
    tx: list[str] = dataclasses.field(default_factory=list)

    def side(self, direction: str) -> list[str]:
        return self.rx if direction == 'rx' else self.tx


@dataclasses.dataclass
class Tables:
    """One side (working or applied) of spp_vf's management data."""

    components: dict[str, Component] = dataclasses.field(
        default_factory=dict)
    # (port, direction) -> VLAN op; a port's abilities are per port, not
    # per component (spp_vf 18.08 command_proc.c 389-402, 418-425).
    abilities: dict[tuple[str, str], dict[str, Any]] = dataclasses.field(
        default_factory=dict)
    # port -> (vid, upper-case MAC): class_id of the port
    # (command_proc.c 194-216).
    class_ids: dict[str, tuple[int, str]] = dataclasses.field(
        default_factory=dict)

    def copy(self) -> 'Tables':
        return copy.deepcopy(self)

    def holders(self, port: str, direction: str) -> list[Component]:
        return [c for c in self.components.values()
                if port in c.side(direction)]


class VfModel:
    """State of one spp_vf (``--client-id``) process."""

    def __init__(self, client_id: int, core_mask: int, num_phy: int,
                 num_rings: int, classifier_type: str = CLASSIFIER_1808
                 ) -> None:
        cores = [c for c in range(MAX_LCORE) if core_mask >> c & 1]
        if len(cores) < 2:
            raise ValueError('core mask %#x has no worker lcore' % core_mask)
        self.client_id = client_id
        self.core_mask = core_mask
        self.master = cores[0]
        self.workers = cores[1:]
        self.num_phy = num_phy
        self.num_rings = num_rings
        self.classifier_type = classifier_type
        self.working = Tables()
        self.applied = Tables()
        # Ports whose iface_type is set: once attached, never reset
        # (command_proc.c 405, 418-434).
        self.added: set[str] = set()
        # Ports that have a PMD (flush_port succeeded for them).
        self.pmd: set[str] = {'phy:%d' % i for i in range(num_phy)}
        # Components whose change flag is set (command_proc.c 291, 315,
        # 440, 218): the next flush hands only these to the workers.
        self.changed: set[str] = set()
        self.hung = False
        self.lock = threading.Lock()

    @property
    def components(self) -> dict[str, Component]:
        return self.working.components

    def component_types(self) -> tuple[str, ...]:
        return ('forward', 'merge', self.classifier_type)

    def clear_classifier_table(self) -> None:
        """Forget every classifier entry (as a restarted spp_vf would)."""
        self.working.class_ids.clear()
        self.applied.class_ids.clear()
