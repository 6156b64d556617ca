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
"""Component and port commands of spp_vf 18.08 behind spp-ctl 18.08:
spp-ctl's input checks first, then spp_vf's decoder (400 ``bad
value(...)``), then its update (400 ``error occur``), then the flush.
Rules cite SPP 18.08.1 (``yasufum/spp-tmp`` @ 5e85902).
"""

from __future__ import annotations

from typing import Any

from vif_plug_spp.emulator import errors
from vif_plug_spp.emulator import flush
from vif_plug_spp.emulator import model

__all__ = ['start_component', 'stop_component', 'port_command',
           'ctl_port', 'vf_port']

# spp-ctl 18.08 src/spp-ctl/spp_webapi.py 50-57 accepts these kinds...
_CTL_KINDS = ('phy', 'vhost', 'ring', 'pcap', 'nullpmd')
# ...spp_vf 18.08 src/vf/common/command_dec.c 147-167 only these.
_VF_KINDS = ('phy', 'vhost', 'ring')


def ctl_port(value: Any) -> str:
    """spp-ctl's port check: a bad one is a KeyInvalid (500)."""
    if not isinstance(value, str):
        raise errors.invalid()
    kind, _num = model.split_port(value)
    if kind not in _CTL_KINDS:
        raise errors.invalid()
    return value


def vf_port(port: str) -> str:
    """spp_vf's port decode (command_dec.c 147-167): pcap/nullpmd are
    not spp_vf ports -> ``bad value(port)``.
    """
    if model.split_port(port)[0] not in _VF_KINDS:
        raise errors.bad('port')
    return port


def start_component(proc: model.VfModel, body: dict[str, Any]) -> None:
    errors.need(body, 'name', 'core', 'type')
    name, core, ctype = body['name'], body['core'], body['type']
    # spp-ctl 18.08 src/spp-ctl/spp_webapi.py 176-185
    if not isinstance(name, str) or not isinstance(core, int) or \
            ctype not in proc.component_types():
        raise errors.invalid()
    # spp_vf: command_dec.c 389-396 (name in use), core range
    # (bool: "True" is no number)
    if name in proc.working.components or not name:
        raise errors.bad('component name')
    if isinstance(core, bool) or not 0 <= core < model.MAX_LCORE:
        raise errors.bad('core')
    here = [c for c in proc.working.components.values() if c.core == core]
    if here and here[0].type != ctype:
        # command_dec.c 436-443
        raise errors.bad('component type')
    if core != proc.master and core not in proc.workers:
        # command_proc.c 250-255: a core outside the mask is UNUSE; the
        # master lcore is IDLE (src/vf/spp_vf.c 326) and accepted.
        raise errors.failed()
    proc.working.components[name] = model.Component(name, core, ctype)
    proc.changed.add(name)      # command_proc.c 291
    flush.flush(proc)


def stop_component(proc: model.VfModel, name: str) -> None:
    # command_proc.c 291-316: an unknown name succeeds (and still
    # flushes, 718-721); stopping drops the component and its change.
    proc.working.components.pop(name, None)
    proc.changed.discard(name)  # command_proc.c 315
    flush.flush(proc)


def _vlan_request(body: dict[str, Any]) -> tuple[str, Any, Any]:
    """(op, vid, pcp) as spp-ctl builds the port add command."""
    vlan = body.get('vlan')
    # spp-ctl 18.08 src/spp-ctl/spp_webapi.py 234-243, 252-259: a falsy
    # "vlan" ({} or null) is no VLAN operation.
    if not vlan:
        return 'none', 0, 0
    try:
        op = vlan['operation']
        if op not in ('none', 'add', 'del'):
            raise ValueError(op)
        if op == 'add':
            int(vlan['id'])
            int(vlan['pcp'])
    except Exception:
        raise errors.invalid()
    if op != 'add':
        return {'none': 'none', 'del': 'del_vlantag'}[op], 0, 0
    vid, pcp = vlan['id'], vlan['pcp']
    # spp-ctl 18.08 src/spp-ctl/spp_proc.py 106-109: "%d" of a string
    # raises TypeError -> 500.
    if isinstance(vid, str) or isinstance(pcp, str):
        raise errors.invalid()
    return 'add_vlantag', int(vid), int(pcp)


def _decode_attach(proc: model.VfModel, port: str, direction: str,
                   op: str, vid: int, pcp: int) -> None:
    if op != 'add_vlantag':
        # command_dec.c 985-999: only the full add_vlantag form sets the
        # override flag; without it a port used in both directions is
        # refused (486-499), one used in this direction anywhere too
        # (522-531).
        used = [bool(proc.working.holders(port, d)) for d in ('rx', 'tx')]
        if all(used):
            raise errors.bad('port')
        if used[0 if direction == 'rx' else 1]:
            raise errors.bad('port rxtx')


def _attach(proc: model.VfModel, comp: model.Component, port: str,
            direction: str, ability: dict[str, Any] | None) -> None:
    tables = proc.working
    if port in comp.side(direction):
        # command_proc.c 366-381: attached here already; add_vlantag
        # only updates an existing add_vlantag ability ("update VLAN tag
        # Non-registratio" -> error occur otherwise).
        found = [k for k, v in tables.abilities.items()
                 if k[0] == port and v['operation'] == 'add']
        if ability is None or ability['operation'] != 'add' or not found:
            raise errors.failed()
        del tables.abilities[found[0]]
        tables.abilities[(port, direction)] = ability
        return
    # command_proc.c 389-416: attach (also to a second component when
    # add_vlantag overrides the decoder's in-use checks).
    if ability is not None:
        tables.abilities[(port, direction)] = ability
    comp.side(direction).append(port)
    proc.added.add(port)


def port_command(proc: model.VfModel, name: str,
                 body: dict[str, Any]) -> None:
    errors.need(body, 'action', 'port', 'dir')
    action, direction = body['action'], body['dir']
    # spp-ctl 18.08 src/spp-ctl/spp_webapi.py 187-195
    if action not in ('attach', 'detach') or direction not in ('rx', 'tx'):
        raise errors.invalid()
    port = ctl_port(body['port'])
    op, vid, pcp = (_vlan_request(body) if action == 'attach'
                    else ('none', 0, 0))
    port = vf_port(port)
    if action == 'attach':
        _decode_attach(proc, port, direction, op, vid, pcp)
    comp = proc.working.components.get(name)
    if comp is None:
        raise errors.bad('component name')   # command_dec.c 541-548
    # command_dec.c 598-599, 626-627
    if not 0 <= vid <= model.UNTAGGED:
        raise errors.bad('port vid')
    if not 0 <= pcp <= 7:
        raise errors.bad('port pcp')
    if action == 'detach':
        # command_proc.c 418-434: clears the port's abilities in that
        # direction, whether or not it is attached here.
        proc.working.abilities.pop((port, direction), None)
        if port in comp.side(direction):
            comp.side(direction).remove(port)
    else:
        kind, num = model.split_port(port)
        if kind == 'phy' and num >= proc.num_phy:
            raise errors.failed()    # emulator: no such NIC (compat doc)
        ability = None
        if op == 'add_vlantag':
            ability = {'operation': 'add', 'id': vid, 'pcp': pcp}
        elif op == 'del_vlantag':
            ability = {'operation': 'del', 'id': 0, 'pcp': 0}
        _attach(proc, comp, port, direction, ability)
    proc.changed.add(name)      # command_proc.c 440
    flush.flush(proc)
