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
:class:`BuildError` says what to change.  Where upstream silently drops
cores above 31 we use every lcore DPDK accepts, and the classifier type is
spelled for the target SPP release (:func:`classifier_type`).  Writing
never overwrites a vhost key that holds a port id unless forced, and
``destroy`` only touches ``<host>/`` prefixes.
"""

from __future__ import annotations

import json
import re
from typing import Any

from vif_plug_spp import builder_custom
from vif_plug_spp import builder_input
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import keys
from vif_plug_spp.builder_custom import COMPONENT_TYPES
from vif_plug_spp.builder_input import BuildError
from vif_plug_spp.builder_input import DEFAULT_MAX_LCORE
from vif_plug_spp.builder_input import Mapping
from vif_plug_spp.builder_input import Mirror
from vif_plug_spp.builder_input import parse_mappings
from vif_plug_spp.builder_input import parse_mask
from vif_plug_spp.builder_input import parse_mirror

__all__ = ['BuildError', 'Mapping', 'Mirror', 'COMPONENT_TYPES',
           'DEFAULT_MAX_LCORE', 'DEFAULT_SPP_VERSION', 'parse_mask',
           'parse_mappings', 'parse_mirror', 'classifier_type', 'build',
           'dumps', 'slot_keys', 'launch_plan', 'write', 'destroy']

TXN_CHUNK = 100        # etcd's default --max-txn-ops is 128
# networking-spp runs SPP 18.08.1 (reference, section 0).
DEFAULT_SPP_VERSION = '18.08.1'
# First SPP release whose spp_vf and spp-ctl call the type "classifier".
_RENAMED_IN = (18, 8, 4)


def classifier_type(spp_version: str) -> str:
    """The classifier component type name spp_vf ``spp_version`` takes.

    ``classifier_mac`` up to 18.08.3, ``classifier`` from 18.08.4 on
    (SPP commits 9b63754 and 2c1470f, 2019-08-05; release 6e811d6).
    """
    if not re.fullmatch(r'[0-9]{1,4}(\.[0-9]{1,4}){1,2}', spp_version):
        raise BuildError('SPP version %r: write it as the release number, '
                         'e.g. 18.08.1 or 19.08' % spp_version)
    parts = tuple(int(x) for x in spp_version.split('.'))
    return 'classifier' if parts + (0,) * (3 - len(parts)) >= _RENAMED_IN \
        else 'classifier_mac'


def _generate(m: Mapping, first_vhost: int,
              classifier: str) -> list[dict[str, Any]]:
    need = 2 * m.num_vhost + 2
    if len(m.cores) < need:
        raise BuildError(
            'mapping %d (%r): %d vhost(s) need %d worker cores (2 per vhost '
            '+ classifier + merger) besides the master core, but core mask '
            '%s gives %d (%s); add bits to the mask or lower num_vhost'
            % (m.index, m.text, m.num_vhost, need, m.core_mask,
               len(m.cores), ', '.join(map(str, m.cores)) or 'none'))
    cores = iter(m.cores)
    comp = builder_custom.component
    comps = []
    vids = range(first_vhost, first_vhost + m.num_vhost)
    for v in vids:
        comps.append(comp(next(cores), 'forward', 'forward_%d_tx' % v,
                          ['ring:%d' % (2 * v)], ['vhost:%d' % v]))
        comps.append(comp(next(cores), 'forward', 'forward_%d_rx' % v,
                          ['vhost:%d' % v], ['ring:%d' % (2 * v + 1)]))
    phy = 'phy:%d' % (m.index - 1)
    comps.append(comp(next(cores), classifier, 'classifier',
                      [phy], ['ring:%d' % (2 * v) for v in vids]))
    comps.append(comp(next(cores), 'merge', 'merger',
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


def _check_customization(customization: Any, count: int) -> None:
    if not isinstance(customization, dict) or \
            not isinstance(customization.get('vf'), list):
        raise BuildError('customization: expected a top-level "vf" list '
                         'with one entry per mapping')
    if len(customization['vf']) != count:
        raise BuildError('customization: "vf" has %d entries but '
                         'DPDK_PORT_MAPPINGS lists %d NICs; give one '
                         'entry per NIC, in the same order'
                         % (len(customization['vf']), count))


def _mirrors(mir: Mirror, customization: Any,
             vhosts: int) -> list[dict[str, Any]]:
    if customization is not None:
        return builder_custom.custom_mirror(mir, customization)
    return [{'core': mir.cores[i],
             'ports': ['ring:%d' % (2 * vhosts + 2 * i),
                       'ring:%d' % (2 * vhosts + 2 * i + 1)]}
            for i in range(mir.num)]


def build(mappings: str, mirror: str | None = None,
          customization: Any = None, classifier: str = 'classifier_mac',
          max_lcore: int = DEFAULT_MAX_LCORE) -> dict[str, Any]:
    """The host configuration (``configuration/<host>``) as a dict.

    ``classifier`` is the classifier type name of the target spp_vf
    (see :func:`classifier_type`); ``max_lcore`` its DPDK's
    RTE_MAX_LCORE.
    """
    if classifier not in builder_custom.CLASSIFIER_NAMES:
        raise BuildError('classifier type %r: use one of %s' % (
            classifier, ', '.join(builder_custom.CLASSIFIER_NAMES)))
    builder_input.check_max_lcore(max_lcore)
    maps = parse_mappings(mappings, max_lcore)
    mir = parse_mirror(mirror, max_lcore)
    _check_overlap(maps, mir)
    if customization is not None:
        _check_customization(customization, len(maps))
    vfs = []
    vhost_id = 0
    for m in maps:
        if customization is not None:
            comps = builder_custom.custom_components(
                m, vhost_id, customization['vf'][m.index - 1], classifier)
        else:
            comps = _generate(m, vhost_id, classifier)
        vfs.append({'physical_network': m.physnet,
                    'pci_address': m.pci_address,
                    'num_vhost': m.num_vhost, 'core_mask': m.core_mask,
                    'components': comps})
        vhost_id += m.num_vhost
    config: dict[str, Any] = {'vf': vfs}
    if mir is not None:
        config['mirror'] = _mirrors(mir, customization, vhost_id)
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
