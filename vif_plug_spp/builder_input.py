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
"""The builder's inputs: ``DPDK_PORT_MAPPINGS``, ``SPP_MIRROR``, masks.

Core masks follow DPDK's EAL, which is what finally reads them (spp_vf
``-c``): DPDK 18.08 ``lib/librte_eal/common/eal_common_options.c``
410-475 accepts blanks around the mask, an optional ``0x``, any number of
hex digits, and bits up to ``RTE_MAX_LCORE - 1`` (128 lcores in the
default build, ``config/common_base`` 62); a set bit at or above that is
an invalid mask.  spp_vf 18.08 checks component cores against the same
limit (SPP ``src/vf/common/command_dec.c`` 344).  networking-spp's
builder instead looks only at bits 0-31 (NS ``devstack/spp-config-
build.py`` 38-45) and silently drops every core above 31.
"""

from __future__ import annotations

import dataclasses
import re
from typing import NoReturn

from vif_plug_spp import keys

__all__ = ['BuildError', 'Mapping', 'Mirror', 'DEFAULT_MAX_LCORE',
           'parse_mask', 'parse_mappings', 'parse_mirror']

DEFAULT_MAX_LCORE = 128     # DPDK's default RTE_MAX_LCORE
LCORE_LIMIT = 4096          # largest --max-lcore accepted
_PCI = re.compile(r'(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-1][0-9a-fA-F]'
                  r'\.[0-7]')
_HEX = re.compile(r'(0[xX])?[0-9a-fA-F]+')
_COUNT = re.compile(r'[0-9]{1,4}')


class BuildError(ValueError):
    """Invalid input; the message says what to fix."""


@dataclasses.dataclass
class Mapping:
    index: int          # 1-based position = spp_vf client id
    text: str
    pci_address: str
    physnet: str
    num_vhost: int
    core_mask: str
    cores: list[int]    # worker cores (master lcore dropped)
    all_cores: list[int]


@dataclasses.dataclass
class Mirror:
    num: int
    core_mask: str
    cores: list[int]
    all_cores: list[int]


def _shown(cores: list[int]) -> str:
    """At most eight core numbers (a typo can select thousands)."""
    text = ', '.join(map(str, cores[:8]))
    return text + (', ... (%d in all)' % len(cores) if len(cores) > 8
                   else '')


def _too_high(text: str, where: str, high: list[int],
              max_lcore: int) -> NoReturn:
    raise BuildError(
        '%s: core mask %s selects core(s) %s; DPDK accepts lcores 0-%d '
        '(RTE_MAX_LCORE=%d); drop those bits, or pass --max-lcore if your '
        'DPDK was built with a larger RTE_MAX_LCORE'
        % (where, text if len(text) <= 40 else text[:37] + '...',
           _shown(high), max_lcore - 1, max_lcore))


def parse_mask(text: str, where: str,
               max_lcore: int = DEFAULT_MAX_LCORE) -> list[int]:
    """Set bits of a hex core mask, ascending, as DPDK's EAL reads it.

    Masks are arbitrary precision up to ``max_lcore`` bits; a core at or
    above it is refused with the limit named, as the EAL would refuse
    to start.
    """
    mask = text.strip(' \t')
    if not _HEX.fullmatch(mask):
        hint = ''
        if re.fullmatch(r'[xX][0-9a-fA-F]+', mask):
            hint = ' (did you mean 0%s?)' % mask
        raise BuildError('%s: core mask %r is not hexadecimal; write it as '
                         '0x followed by hex digits, e.g. 0xfe%s'
                         % (where, text, hint))
    digits = mask[2:] if mask[:2] in ('0x', '0X') else mask
    significant = digits.lstrip('0')
    top = (len(significant) - 1) * 4 + \
        int(significant[:1] or '0', 16).bit_length() - 1
    if top >= LCORE_LIMIT:   # not worth listing every core
        _too_high(text, where, [top], max_lcore)
    value = int(significant or '0', 16)
    bits = [b for b, bit in enumerate(reversed(bin(value)[2:]))
            if bit == '1']
    high = [b for b in bits if b >= max_lcore]
    if high:
        _too_high(text, where, high, max_lcore)
    if not bits:
        raise BuildError('%s: core mask %s selects no core' % (where, text))
    return bits


def _mapping(i: int, item: str, max_lcore: int) -> Mapping:
    where = 'mapping %d (%r)' % (i, item if len(item) <= 80
                                 else item[:77] + '...')
    parts = item.split('#')
    if len(parts) != 4:
        raise BuildError('%s: expected 4 fields pci#physnet#num_vhost#'
                         'core_mask separated by "#", found %d'
                         % (where, len(parts)))
    pci, physnet, num, mask = (p.strip() for p in parts)
    if not _PCI.fullmatch(pci):
        raise BuildError('%s: %r is not a PCI address; use bus:slot.fn '
                         'such as 00:04.0 (or 0000:00:04.0)' % (where, pci))
    try:
        keys.vhost_physnet_prefix('h', physnet)
    except keys.InvalidKeyPart as exc:
        raise BuildError('%s: %s' % (where, exc))
    if not _COUNT.fullmatch(num):
        raise BuildError('%s: number of vhosts %r must be a whole number '
                         'from 0 to 9999 such as 2' % (where, num))
    bits = parse_mask(mask, where, max_lcore)
    return Mapping(i, item, pci, physnet, int(num), mask, bits[1:], bits)


def parse_mappings(text: str | None,
                   max_lcore: int = DEFAULT_MAX_LCORE) -> list[Mapping]:
    """Parse ``pci#physnet#num_vhost#core_mask,...`` (DPDK port order).

    Several NICs may serve one physical network, as upstream allows (NS
    ``devstack/spp-config-build.py`` 133-167): their vhosts share the
    ``vhost/<host>/<physnet>/`` prefix and keep host-global ids.
    """
    if not text or not text.strip():
        raise BuildError('DPDK_PORT_MAPPINGS is empty; give one '
                         'pci#physnet#num_vhost#core_mask entry per NIC, '
                         'e.g. 00:04.0#phys1#2#0xfe')
    out = [_mapping(i, item.strip(), max_lcore)
           for i, item in enumerate(text.split(','), 1)]
    seen_pci: dict[str, int] = {}
    for m in out:
        pci = m.pci_address[-7:].lower()
        if pci in seen_pci:
            raise BuildError('mapping %d: PCI address %s is already used by '
                             'mapping %d; list each NIC once'
                             % (m.index, m.pci_address, seen_pci[pci]))
        seen_pci[pci] = m.index
    return out


def parse_mirror(text: str | None,
                 max_lcore: int = DEFAULT_MAX_LCORE) -> Mirror | None:
    """Parse ``SPP_MIRROR`` = ``<num_mirror>#<core_mask>``."""
    if not text:
        return None
    parts = text.split('#')
    if len(parts) != 2 or not _COUNT.fullmatch(parts[0].strip()):
        raise BuildError('SPP_MIRROR %r: expected <number of mirrors>#'
                         '<core mask>, e.g. 2#0x30002' % text)
    bits = parse_mask(parts[1].strip(), 'SPP_MIRROR', max_lcore)
    num = int(parts[0])
    if len(bits) - 1 < num:
        raise BuildError('SPP_MIRROR %r: %d mirror(s) need %d worker '
                         'core(s) besides the master core, the mask gives '
                         '%d; add bits to the mask' % (
                             text, num, num, len(bits) - 1))
    return Mirror(num, parts[1].strip(), bits[1:], bits)


def check_max_lcore(value: int) -> int:
    """``--max-lcore`` must be a plausible RTE_MAX_LCORE."""
    if isinstance(value, bool) or not 1 <= value <= LCORE_LIMIT:
        raise BuildError('--max-lcore %r: give DPDK\'s RTE_MAX_LCORE, a '
                         'number from 1 to %d (default %d)'
                         % (value, LCORE_LIMIT, DEFAULT_MAX_LCORE))
    return value
