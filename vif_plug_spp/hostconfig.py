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
"""The shape of ``configuration/<host>``, checked before anything uses it.

The agent and the plugin's wiring read the configuration with
``value.get(...)`` and ``comp['name']``; a value that is JSON but not the
builder's shape (``[1]``, ``null``, ``{"vf": [1]}``) used to end the agent
at start and raise ``AttributeError`` from the plugin.  :func:`parse`
accepts exactly what ``spp-config-build`` (and networking-spp's devstack
builder, reference section 4) writes and raises
:class:`~os_vif_accel.validate.InvalidInput` naming the first field that
is wrong.
"""

from __future__ import annotations

import re
from typing import Any

from os_vif_accel import parse as parse_mod
from os_vif_accel import validate

from vif_plug_spp import builder_input
from vif_plug_spp import keys

__all__ = ['parse']

# spp_vf 18.08 port names (reference, Corrections 5: phy, vhost, ring),
# numbers without a leading zero: spp_vf reads them with strtol(.., 0)
# (src/vf/common/command_dec.c 170-175), so ring:010 is its ring:8 and
# ring:08 no port at all, while the status names ring:8.
_PORT = re.compile(r'(phy|vhost|ring):(0|[1-9][0-9]{0,4})')
_NAME = re.compile(r'[A-Za-z0-9_.:@+-]{1,127}')
# DPDK lcores, up to the largest RTE_MAX_LCORE spp-config-build accepts
# (128 in DPDK's default build; spp_vf checks the exact limit).
_MAX_CORE = builder_input.LCORE_LIMIT - 1
_MAX_VHOSTS = 4096


def _fail(field: str, value: Any, reason: str) -> validate.InvalidInput:
    return validate.InvalidInput(field, value, reason)


def _int(field: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or \
            not lo <= value <= hi:
        raise _fail(field, value, 'must be an integer from %d to %d' %
                    (lo, hi))
    return value


def _list(field: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(field, value, 'must be a list')
    return value


def _object(field: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(field, value, 'must be an object')
    return value


def _ports(field: str, value: Any) -> None:
    for i, port in enumerate(_list(field, value)):
        if not isinstance(port, str) or not _PORT.fullmatch(port):
            raise _fail('%s[%d]' % (field, i), port,
                        'must be phy:N, vhost:N or ring:N (N decimal, '
                        'no leading zero)')


def _component(field: str, comp: Any) -> None:
    _object(field, comp)
    for name in ('name', 'type'):
        text = comp.get(name)
        if not isinstance(text, str) or not _NAME.fullmatch(text):
            raise _fail('%s.%s' % (field, name), text,
                        'must be 1-127 letters, digits or "_.:@+-"')
    _int(field + '.core', comp.get('core'), 0, _MAX_CORE)
    _ports(field + '.rx_port', comp.get('rx_port'))
    _ports(field + '.tx_port', comp.get('tx_port'))


def _vf(field: str, vf: Any) -> None:
    _object(field, vf)
    physnet = vf.get('physical_network')
    try:
        keys.vhost_physnet_prefix('h', physnet)
    except keys.InvalidKeyPart as exc:
        raise _fail(field + '.physical_network', physnet, str(exc))
    _int(field + '.num_vhost', vf.get('num_vhost'), 0, _MAX_VHOSTS)
    for i, comp in enumerate(_list(field + '.components',
                                   vf.get('components', []))):
        _component('%s.components[%d]' % (field, i), comp)


def _mirror(field: str, mirror: Any) -> None:
    _object(field, mirror)
    _int(field + '.core', mirror.get('core'), 0, _MAX_CORE)
    ports = mirror.get('ports')
    _ports(field + '.ports', ports)
    if len(ports) != 2:
        raise _fail(field + '.ports', ports, 'must name two rings')


def parse(text: str, host: str) -> dict[str, Any]:
    """The configuration of ``host`` as a dict of the builder's shape."""
    what = keys.configuration(host)
    config = parse_mod.json_object(text, what)
    for i, vf in enumerate(_list(what + ' vf', config.get('vf'))):
        _vf('%s vf[%d]' % (what, i), vf)
    for i, mirror in enumerate(_list(what + ' mirror',
                                     config.get('mirror', []))):
        _mirror('%s mirror[%d]' % (what, i), mirror)
    return config
