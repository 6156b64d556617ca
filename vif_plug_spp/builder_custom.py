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
"""Checks of a component customization file (``SPP_COMPONENT_CONF``).

networking-spp copies the YAML's components into the configuration
unchecked (NS ``devstack/spp-config-build.py`` 137-138); a mistake shows
up only when spp_vf refuses a command at agent start.  Here every
component is checked against its NIC's mask and vhosts first.  The
classifier may be written with either SPP name, ``classifier_mac``
(SPP <= 18.08.3) or ``classifier`` (18.08.4 and later); the output uses
the name of the SPP version the configuration is built for.
"""

from __future__ import annotations

import re
from typing import Any

from vif_plug_spp.builder_input import BuildError
from vif_plug_spp.builder_input import Mapping
from vif_plug_spp.builder_input import Mirror

__all__ = ['CLASSIFIER_NAMES', 'COMPONENT_TYPES', 'component',
           'check_port', 'custom_components', 'custom_mirror']

# SPP renamed the type in commits 9b63754 (spp_vf, src/shared/secondary/
# spp_worker_th/cmd_utils.h) and 2c1470f (spp-ctl, src/spp-ctl/
# spp_webapi.py 246), 2019-08-05, first released in SPP 18.08.4.
CLASSIFIER_NAMES = ('classifier_mac', 'classifier')
COMPONENT_TYPES = ('forward', 'merge') + CLASSIFIER_NAMES
_PORT = re.compile(r'(phy|vhost|ring):([0-9]{1,5})')
# (rx, tx) port counts spp_vf requires; None = any number.
_LIMITS: dict[str, tuple[int | None, int | None]] = {
    'forward': (1, 1), 'classifier': (1, None), 'merge': (None, 1)}


def component(core: int, ctype: str, name: str, rx: list[str],
              tx: list[str]) -> dict[str, Any]:
    """One component; key order matches the upstream builder's JSON."""
    return {'core': core, 'type': ctype, 'name': name, 'rx_port': rx,
            'tx_port': tx}


def check_port(port: Any, where: str) -> tuple[str, int]:
    match = _PORT.fullmatch(port) if isinstance(port, str) else None
    if not match:
        raise BuildError('%s: port %r must look like phy:0, vhost:1 or '
                         'ring:2' % (where, port))
    return match.group(1), int(match.group(2))


class _NicCheck:
    """What one NIC's components have used so far."""

    def __init__(self, m: Mapping, first_vhost: int, where: str) -> None:
        self.m = m
        self.where = where
        self.vids = set(range(first_vhost, first_vhost + m.num_vhost))
        self.names: set[str] = set()
        self.core_type: dict[int, str] = {}
        self.vh_tx: set[int] = set()
        self.vh_rx: set[int] = set()

    def header(self, cw: str, comp: Any) -> tuple[str, str, int]:
        """Name, type and core of one component, checked."""
        if not isinstance(comp, dict):
            raise BuildError('%s: expected a mapping' % cw)
        missing = [k for k in ('core', 'name', 'type', 'rx_port', 'tx_port')
                   if k not in comp]
        if missing:
            raise BuildError('%s: missing %s' % (cw, ', '.join(missing)))
        name, ctype, core = comp['name'], comp['type'], comp['core']
        if not isinstance(name, str) or not name or name in self.names:
            raise BuildError('%s: name %r must be a unique non-empty string'
                             % (cw, name))
        self.names.add(name)
        if ctype not in COMPONENT_TYPES:
            raise BuildError('%s (%s): type %r must be one of %s'
                             % (cw, name, ctype, ', '.join(COMPONENT_TYPES)))
        m = self.m
        if isinstance(core, bool) or not isinstance(core, int) or \
                core not in m.cores:
            raise BuildError('%s (%s): core %r is not a worker core of core '
                             'mask %s (%s)' % (cw, name, core, m.core_mask,
                                               ', '.join(map(str, m.cores))))
        kind = 'classifier' if ctype in CLASSIFIER_NAMES else ctype
        if self.core_type.setdefault(core, kind) != kind:
            raise BuildError('%s (%s): core %d already runs a %s component; '
                             'spp_vf only shares a core between components '
                             'of the same type' % (cw, name, core,
                                                   self.core_type[core]))
        return name, kind, core

    def ports(self, cw: str, side: str, ports: Any) -> list[str]:
        if not isinstance(ports, list):
            raise BuildError('%s: %s must be a list' % (cw, side))
        m = self.m
        for port in ports:
            kind, num = check_port(port, cw)
            if kind == 'phy' and num != m.index - 1:
                raise BuildError('%s: %s is not this NIC; mapping %d is '
                                 'phy:%d' % (cw, port, m.index, m.index - 1))
            if kind == 'vhost':
                if num not in self.vids:
                    mine = ', '.join('vhost:%d' % v
                                     for v in sorted(self.vids)) or 'none'
                    raise BuildError(
                        '%s: %s is not one of this NIC\'s vhosts (%s); vhost '
                        'ids are numbered across NICs in mapping order'
                        % (cw, port, mine))
                (self.vh_tx if side == 'tx_port' else self.vh_rx).add(num)
        return list(ports)

    def lost_vhosts(self) -> None:
        lost = sorted(self.vids - (self.vh_tx & self.vh_rx))
        if lost:
            raise BuildError(
                '%s: vhost(s) %s must appear in a tx_port (to the VM) and an '
                'rx_port (from the VM); the mapping says this NIC has %d '
                'vhost(s)' % (self.where, ', '.join(map(str, lost)),
                              self.m.num_vhost))


def custom_components(m: Mapping, first_vhost: int, entry: Any,
                      classifier: str) -> list[dict[str, Any]]:
    """The checked components of ``vf[m.index - 1]``, with the classifier
    type spelled ``classifier`` (the target SPP's name).
    """
    where = 'customization vf[%d] (mapping %d, %s)' % (
        m.index - 1, m.index, m.pci_address)
    if not isinstance(entry, dict) or \
            not isinstance(entry.get('components'), list):
        raise BuildError('%s: expected a mapping with a "components" list'
                         % where)
    check = _NicCheck(m, first_vhost, where)
    comps: list[dict[str, Any]] = []
    for n, comp in enumerate(entry['components']):
        name, kind, core = check.header('%s component %d' % (where, n),
                                        comp)
        cw = '%s component %d (%s)' % (where, n, name)
        rx = check.ports(cw, 'rx_port', comp['rx_port'])
        tx = check.ports(cw, 'tx_port', comp['tx_port'])
        for side, have, limit in zip(('rx_port', 'tx_port'), (rx, tx),
                                     _LIMITS[kind]):
            if limit is not None and len(have) != limit:
                raise BuildError('%s: a %s component needs exactly %d %s '
                                 'entry' % (cw, comp['type'], limit, side))
        ctype = classifier if kind == 'classifier' else kind
        comps.append(component(core, ctype, name, rx, tx))
    check.lost_vhosts()
    return comps


def custom_mirror(mirror: Mirror, custom: dict[str, Any]
                  ) -> list[dict[str, Any]]:
    """The checked ``mirror`` list of the customization."""
    entries = custom.get('mirror')
    if not isinstance(entries, list) or len(entries) != mirror.num:
        raise BuildError('customization: SPP_MIRROR asks for %d mirror(s), '
                         'so the YAML needs a "mirror" list of %d entries '
                         '{core, ports: [ring_a, ring_b]}' % (mirror.num,
                                                              mirror.num))
    out = []
    for i, entry in enumerate(entries):
        where = 'customization mirror[%d]' % i
        core = entry.get('core') if isinstance(entry, dict) else None
        if isinstance(core, bool) or core not in mirror.cores:
            raise BuildError('%s: core must be a worker core of the mirror '
                             'mask %s (%s)' % (where, mirror.core_mask,
                                               ', '.join(map(str,
                                                             mirror.cores))))
        ports = entry.get('ports')
        if not isinstance(ports, list) or len(ports) != 2 or any(
                check_port(p, where)[0] != 'ring' for p in ports):
            raise BuildError('%s: ports must be two rings, e.g. '
                             '[ring:8, ring:9]' % where)
        out.append({'core': core, 'ports': list(ports)})
    return out
