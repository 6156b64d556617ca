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
"""Host configuration builder: DPDK_PORT_MAPPINGS -> etcd.

Produces exactly the configuration networking-spp's devstack builder
writes (same components, cores, rings, vhost ids and JSON key order), but
validates first: the upstream script crashes with a traceback on a mask
typo such as ``#xfc02``, on too few cores or a short YAML file, and
silently builds overlapping or impossible layouts.  Every
:class:`BuildError` says what to change.  Writing never overwrites a
vhost key that holds a port id unless forced, and ``destroy`` only
touches ``<host>/`` prefixes.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import keys

__all__ = ['BuildError', 'Mapping', 'Mirror', 'parse_mask',
           'parse_mappings', 'parse_mirror', 'build', 'dumps',
           'slot_keys', 'launch_plan', 'write', 'destroy']

_PCI = re.compile(r'^(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-1][0-9a-fA-F]'
                  r'\.[0-7]$')
_HEX = re.compile(r'^(0[xX])?[0-9a-fA-F]+$')
_PORT = re.compile(r'(phy|vhost|ring):([0-9]{1,5})')
COMPONENT_TYPES = ('forward', 'merge', 'classifier_mac')
MAX_CORE = 32          # the configuration format only knows cores 0..31
TXN_CHUNK = 100        # etcd's default --max-txn-ops is 128


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


def parse_mask(text: str, where: str) -> list[int]:
    """Set bits of a hex core mask, ascending (``0x`` optional)."""
    if not _HEX.fullmatch(text):
        hint = ''
        if re.match(r'^[xX][0-9a-fA-F]+$', text):
            hint = ' (did you mean 0%s?)' % text
        raise BuildError('%s: core mask %r is not hexadecimal; write it as '
                         '0x followed by hex digits, e.g. 0xfe%s'
                         % (where, text, hint))
    value = int(text, 16)
    bits = [b for b in range(value.bit_length()) if value >> b & 1]
    high = [b for b in bits if b >= MAX_CORE]
    if high:
        raise BuildError('%s: core mask %s selects core(s) %s; only cores '
                         '0-%d can be used' % (where, text,
                                               ', '.join(map(str, high)),
                                               MAX_CORE - 1))
    if not bits:
        raise BuildError('%s: core mask %s selects no core' % (where, text))
    return bits


def parse_mappings(text: str | None) -> list[Mapping]:
    """Parse ``pci#physnet#num_vhost#core_mask,...`` (DPDK port order)."""
    if not text or not text.strip():
        raise BuildError('DPDK_PORT_MAPPINGS is empty; give one '
                         'pci#physnet#num_vhost#core_mask entry per NIC, '
                         'e.g. 00:04.0#phys1#2#0xfe')
    out: list[Mapping] = []
    for i, item in enumerate(text.split(','), 1):
        item = item.strip()
        where = 'mapping %d (%r)' % (i, item)
        parts = item.split('#')
        if len(parts) != 4:
            raise BuildError('%s: expected 4 fields pci#physnet#num_vhost#'
                             'core_mask separated by "#", found %d'
                             % (where, len(parts)))
        pci, physnet, num, mask = (p.strip() for p in parts)
        if not _PCI.fullmatch(pci):
            raise BuildError('%s: %r is not a PCI address; use bus:slot.fn '
                             'such as 00:04.0 (or 0000:00:04.0)'
                             % (where, pci))
        try:
            keys.vhost_physnet_prefix('h', physnet)
        except keys.InvalidKeyPart as exc:
            raise BuildError('%s: %s' % (where, exc))
        if not re.fullmatch(r'[0-9]{1,4}', num):
            raise BuildError('%s: number of vhosts %r must be a whole '
                             'number from 0 to 9999 such as 2' % (where, num))
        bits = parse_mask(mask, where)
        out.append(Mapping(i, item, pci, physnet, int(num), mask,
                           bits[1:], bits))
    _check_unique(out)
    return out


def _check_unique(maps: list[Mapping]) -> None:
    seen_pci: dict[str, int] = {}
    seen_net: dict[str, int] = {}
    for m in maps:
        pci = m.pci_address[-7:].lower()
        if pci in seen_pci:
            raise BuildError('mapping %d: PCI address %s is already used by '
                             'mapping %d; list each NIC once'
                             % (m.index, m.pci_address, seen_pci[pci]))
        if m.physnet in seen_net:
            raise BuildError('mapping %d: physical network %s is already '
                             'mapped to mapping %d; each NIC needs its own '
                             'physnet' % (m.index, m.physnet,
                                          seen_net[m.physnet]))
        seen_pci[pci] = m.index
        seen_net[m.physnet] = m.index


def parse_mirror(text: str | None) -> Mirror | None:
    """Parse ``SPP_MIRROR`` = ``<num_mirror>#<core_mask>``."""
    if not text:
        return None
    parts = text.split('#')
    if len(parts) != 2 or \
            not re.fullmatch(r'[0-9]{1,4}', parts[0].strip()):
        raise BuildError('SPP_MIRROR %r: expected <number of mirrors>#'
                         '<core mask>, e.g. 2#0x30002' % text)
    bits = parse_mask(parts[1].strip(), 'SPP_MIRROR')
    num = int(parts[0])
    if len(bits) - 1 < num:
        raise BuildError('SPP_MIRROR %r: %d mirror(s) need %d worker '
                         'core(s) besides the master core, the mask gives '
                         '%d; add bits to the mask' % (
                             text, num, num, len(bits) - 1))
    return Mirror(num, parts[1].strip(), bits[1:], bits)


def _component(core: int, ctype: str, name: str, rx: list[str],
               tx: list[str]) -> dict[str, Any]:
    # Key order matches the upstream builder's JSON byte for byte.
    return {'core': core, 'type': ctype, 'name': name, 'rx_port': rx,
            'tx_port': tx}


def _generate(m: Mapping, first_vhost: int) -> list[dict[str, Any]]:
    need = 2 * m.num_vhost + 2
    if len(m.cores) < need:
        raise BuildError(
            'mapping %d (%r): %d vhost(s) need %d worker cores (2 per vhost '
            '+ classifier + merger) besides the master core, but core mask '
            '%s gives %d (%s); add bits to the mask or lower num_vhost'
            % (m.index, m.text, m.num_vhost, need, m.core_mask,
               len(m.cores), ', '.join(map(str, m.cores)) or 'none'))
    cores = iter(m.cores)
    comps = []
    vids = range(first_vhost, first_vhost + m.num_vhost)
    for v in vids:
        comps.append(_component(next(cores), 'forward', 'forward_%d_tx' % v,
                                ['ring:%d' % (2 * v)], ['vhost:%d' % v]))
        comps.append(_component(next(cores), 'forward', 'forward_%d_rx' % v,
                                ['vhost:%d' % v], ['ring:%d' % (2 * v + 1)]))
    phy = 'phy:%d' % (m.index - 1)
    comps.append(_component(next(cores), 'classifier_mac', 'classifier',
                            [phy], ['ring:%d' % (2 * v) for v in vids]))
    comps.append(_component(next(cores), 'merge', 'merger',
                            ['ring:%d' % (2 * v + 1) for v in vids], [phy]))
    return comps


def _check_overlap(maps: list[Mapping], mirror: Mirror | None) -> None:
    owners: list[tuple[str, list[int], list[int]]] = [
        ('mapping %d (%s)' % (m.index, m.pci_address), m.cores, m.all_cores)
        for m in maps]
    if mirror is not None:
        owners.append(('SPP_MIRROR', mirror.cores, mirror.all_cores))
    for i, (name_a, work_a, _all_a) in enumerate(owners):
        for j, (name_b, _work_b, all_b) in enumerate(owners):
            if i == j:
                continue
            common = sorted(set(work_a) & set(all_b))
            if common:
                raise BuildError(
                    '%s and %s both use core(s) %s; worker cores must not '
                    'overlap between processes (only the master core, the '
                    'lowest bit, may be shared)' % (
                        name_a, name_b, ', '.join(map(str, common))))


def _check_port(port: Any, where: str) -> tuple[str, int]:
    match = _PORT.fullmatch(port) if isinstance(port, str) else None
    if not match:
        raise BuildError('%s: port %r must look like phy:0, vhost:1 or '
                         'ring:2' % (where, port))
    return match.group(1), int(match.group(2))


def _custom_components(m: Mapping, first_vhost: int, entry: Any,
                       ) -> list[dict[str, Any]]:
    where = 'customization vf[%d] (mapping %d, %s)' % (
        m.index - 1, m.index, m.pci_address)
    if not isinstance(entry, dict) or \
            not isinstance(entry.get('components'), list):
        raise BuildError('%s: expected a mapping with a "components" list'
                         % where)
    vids = set(range(first_vhost, first_vhost + m.num_vhost))
    comps: list[dict[str, Any]] = []
    names: set[str] = set()
    core_type: dict[int, str] = {}
    vh_tx: set[int] = set()
    vh_rx: set[int] = set()
    for n, comp in enumerate(entry['components']):
        cw = '%s component %d' % (where, n)
        if not isinstance(comp, dict):
            raise BuildError('%s: expected a mapping' % cw)
        missing = [k for k in ('core', 'name', 'type', 'rx_port', 'tx_port')
                   if k not in comp]
        if missing:
            raise BuildError('%s: missing %s' % (cw, ', '.join(missing)))
        name, ctype, core = comp['name'], comp['type'], comp['core']
        if not isinstance(name, str) or not name or name in names:
            raise BuildError('%s: name %r must be a unique non-empty string'
                             % (cw, name))
        names.add(name)
        if ctype not in COMPONENT_TYPES:
            raise BuildError('%s (%s): type %r must be one of %s'
                             % (cw, name, ctype, ', '.join(COMPONENT_TYPES)))
        if isinstance(core, bool) or not isinstance(core, int) or \
                core not in m.cores:
            raise BuildError('%s (%s): core %r is not a worker core of core '
                             'mask %s (%s)' % (cw, name, core, m.core_mask,
                                               ', '.join(map(str, m.cores))))
        if core_type.setdefault(core, ctype) != ctype:
            raise BuildError('%s (%s): core %d already runs a %s component; '
                             'spp_vf only shares a core between components '
                             'of the same type' % (cw, name, core,
                                                   core_type[core]))
        for side in ('rx_port', 'tx_port'):
            ports = comp[side]
            if not isinstance(ports, list):
                raise BuildError('%s (%s): %s must be a list' % (cw, name,
                                                                  side))
            for port in ports:
                kind, num = _check_port(port, '%s (%s)' % (cw, name))
                if kind == 'phy' and num != m.index - 1:
                    raise BuildError('%s (%s): %s is not this NIC; mapping '
                                     '%d is phy:%d' % (cw, name, port,
                                                       m.index, m.index - 1))
                if kind == 'vhost':
                    if num not in vids:
                        mine = ', '.join('vhost:%d' % v
                                         for v in sorted(vids)) or 'none'
                        raise BuildError(
                            '%s (%s): %s is not one of this NIC\'s vhosts '
                            '(%s); vhost ids are numbered across NICs in '
                            'mapping order' % (cw, name, port, mine))
                    (vh_tx if side == 'tx_port' else vh_rx).add(num)
        limits = {'forward': (1, 1), 'classifier_mac': (1, None),
                  'merge': (None, 1)}[ctype]
        for side, limit in zip(('rx_port', 'tx_port'), limits):
            if limit is not None and len(comp[side]) != limit:
                raise BuildError('%s (%s): a %s component needs exactly %d '
                                 '%s entry' % (cw, name, ctype, limit, side))
        comps.append(_component(core, ctype, name, list(comp['rx_port']),
                                list(comp['tx_port'])))
    lost = sorted(vids - (vh_tx & vh_rx))
    if lost:
        raise BuildError('%s: vhost(s) %s must appear in a tx_port (to the '
                         'VM) and an rx_port (from the VM); the mapping '
                         'says this NIC has %d vhost(s)' % (
                             where, ', '.join(map(str, lost)), m.num_vhost))
    return comps


def _custom_mirror(mirror: Mirror, custom: dict[str, Any]
                   ) -> list[dict[str, Any]]:
    entries = custom.get('mirror')
    if not isinstance(entries, list) or len(entries) != mirror.num:
        raise BuildError('customization: SPP_MIRROR asks for %d mirror(s), '
                         'so the YAML needs a "mirror" list of %d entries '
                         '{core, ports: [ring_a, ring_b]}' % (mirror.num,
                                                              mirror.num))
    out = []
    for i, entry in enumerate(entries):
        where = 'customization mirror[%d]' % i
        if not isinstance(entry, dict) or entry.get('core') not in \
                mirror.cores:
            raise BuildError('%s: core must be a worker core of the mirror '
                             'mask %s (%s)' % (where, mirror.core_mask,
                                               ', '.join(map(str,
                                                             mirror.cores))))
        ports = entry.get('ports')
        if not isinstance(ports, list) or len(ports) != 2 or any(
                _check_port(p, where)[0] != 'ring' for p in ports):
            raise BuildError('%s: ports must be two rings, e.g. '
                             '[ring:8, ring:9]' % where)
        out.append({'core': entry['core'], 'ports': list(ports)})
    return out


def build(mappings: str, mirror: str | None = None,
          customization: Any = None) -> dict[str, Any]:
    """The host configuration (``configuration/<host>``) as a dict."""
    maps = parse_mappings(mappings)
    mir = parse_mirror(mirror)
    _check_overlap(maps, mir)
    if customization is not None:
        if not isinstance(customization, dict) or \
                not isinstance(customization.get('vf'), list):
            raise BuildError('customization: expected a top-level "vf" list '
                             'with one entry per mapping')
        if len(customization['vf']) != len(maps):
            raise BuildError('customization: "vf" has %d entries but '
                             'DPDK_PORT_MAPPINGS lists %d NICs; give one '
                             'entry per NIC, in the same order'
                             % (len(customization['vf']), len(maps)))
    vfs = []
    vhost_id = 0
    for m in maps:
        if customization is not None:
            comps = _custom_components(m, vhost_id,
                                       customization['vf'][m.index - 1])
        else:
            comps = _generate(m, vhost_id)
        vfs.append({'physical_network': m.physnet,
                    'pci_address': m.pci_address,
                    'num_vhost': m.num_vhost, 'core_mask': m.core_mask,
                    'components': comps})
        vhost_id += m.num_vhost
    config: dict[str, Any] = {'vf': vfs}
    if mir is not None:
        if customization is not None:
            config['mirror'] = _custom_mirror(mir, customization)
        else:
            config['mirror'] = [
                {'core': mir.cores[i],
                 'ports': ['ring:%d' % (2 * vhost_id + 2 * i),
                           'ring:%d' % (2 * vhost_id + 2 * i + 1)]}
                for i in range(mir.num)]
    return config


def dumps(config: dict[str, Any]) -> str:
    """Serialise like the upstream builder (``json.dumps`` defaults)."""
    return json.dumps(config)


def slot_keys(host: str, config: dict[str, Any]) -> list[str]:
    """Every vhost and mirror slot key the configuration defines."""
    out, vid = [], 0
    for vf in config.get('vf', []):
        for _ in range(int(vf['num_vhost'])):
            out.append(keys.vhost(host, vf['physical_network'], vid))
            vid += 1
    out += [keys.mirror(host, i) for i in range(len(config.get('mirror',
                                                               [])))]
    return out


def launch_plan(config: dict[str, Any], primary_core_mask: str = '0x2',
                ctl_ip: str = '127.0.0.1', primary_port: int = 5555,
                secondary_port: int = 6666, api_port: int = 7777,
                mirror_core_mask: str | None = None) -> list[str]:
    """What the operator must start, with the values derived from the
    same inputs (port mask, ring count, masks, client ids).
    """
    vfs = config.get('vf', [])
    total = sum(int(vf['num_vhost']) for vf in vfs)
    rings = 2 * total + 2 * len(config.get('mirror', []))
    lines = [
        'spp-ctl -b %s -p %d -s %d -a %d' % (ctl_ip, primary_port,
                                             secondary_port, api_port),
        'spp_primary -c %s -n 4 --proc-type primary -- -p %#x -n %d '
        '-s %s:%d' % (primary_core_mask, (1 << len(vfs)) - 1, rings,
                      ctl_ip, primary_port),
    ]
    for i, vf in enumerate(vfs, 1):
        lines.append('spp_vf -c %s -n 4 --proc-type secondary -- '
                     '--client-id %d -s %s:%d --vhost-client   '
                     '# %s %s, %d vhost(s)' % (
                         vf['core_mask'], i, ctl_ip, secondary_port,
                         vf['pci_address'], vf['physical_network'],
                         int(vf['num_vhost'])))
    if config.get('mirror'):
        lines.append('spp_mirror -c %s -n 4 --proc-type secondary -- '
                     '--client-id %d -s %s:%d' % (
                         mirror_core_mask or '<SPP_MIRROR mask>',
                         len(vfs) + 1, ctl_ip, secondary_port))
    return lines


def _occupied(kvs: list[etcd_mod.KeyValue]) -> dict[str, str]:
    return {kv.key: kv.value for kv in kvs if kv.value != keys.FREE}


def _txn_chunks(client: etcd_mod.EtcdClient,
                items: list[tuple[dict[str, Any] | None, dict[str, Any]]]
                ) -> None:
    """Apply (guard, operation) pairs in transactions small enough for
    etcd's --max-txn-ops; each guards exactly the keys it writes.
    """
    size = TXN_CHUNK // 2
    for start in range(0, len(items), size):
        chunk = items[start:start + size]
        compares = [c for c, _op in chunk if c is not None]
        if not client.txn(compares, [op for _c, op in chunk]):
            raise BuildError(
                'the host\'s vhost/mirror keys changed while writing (a '
                'port was bound meanwhile); %s, run the builder again' % (
                    'nothing was written' if start == 0 else
                    'the first %d key(s) were written' % start))


def write(client: etcd_mod.EtcdClient, host: str, config: dict[str, Any],
          force: bool = False) -> dict[str, list[str]]:
    """Write the configuration and the free slot keys.

    Slot keys holding a port id are neither overwritten nor deleted
    unless ``force``; every write is guarded by the revision just read
    (or the key's absence), so a concurrent binding is never lost.
    Returns the keys written and deleted.
    """
    slots = slot_keys(host, config)
    existing: list[etcd_mod.KeyValue] = []
    for prefix in (keys.vhost_prefix(host), keys.mirror_prefix(host)):
        existing += client.get_prefix(prefix)[0]
    current = {kv.key: kv for kv in existing}
    busy = _occupied(existing)
    if busy and not force:
        raise BuildError(
            'refusing to overwrite slot keys in use: %s; unbind these ports '
            '(delete the VMs) first, or pass --force to take the slots '
            'away from them' % ', '.join('%s=%s' % kv for kv in
                                         sorted(busy.items())))
    items: list[tuple[dict[str, Any] | None, dict[str, Any]]] = [
        (None, client.op_put(keys.configuration(host), dumps(config)))]
    written = [keys.configuration(host)]
    for key in slots:
        kv = current.get(key)
        if kv is None:
            items.append((client.cmp_absent(key),
                          client.op_put(key, keys.FREE)))
        elif kv.value != keys.FREE:
            items.append((client.cmp_mod_revision(key, kv.mod_revision),
                          client.op_put(key, keys.FREE)))
        else:
            continue
        written.append(key)
    stale = sorted(set(current) - set(slots))
    items += [(client.cmp_mod_revision(k, current[k].mod_revision),
               client.op_delete(k)) for k in stale]
    _txn_chunks(client, items)
    return {'written': written, 'deleted': stale}


def destroy(client: etcd_mod.EtcdClient, host: str,
            force: bool = False) -> int:
    """Delete the host's configuration and every ``<kind>/<host>/`` key."""
    busy = _occupied(client.get_prefix(keys.vhost_prefix(host))[0])
    if busy and not force:
        raise BuildError('host %s still has bound ports (%s); delete them '
                         'first or pass --force' % (
                             host, ', '.join(sorted(busy.values()))))
    deleted = client.delete(keys.configuration(host))
    for prefix in keys.host_prefixes(host):
        deleted += client.delete_prefix(prefix)
    return deleted
