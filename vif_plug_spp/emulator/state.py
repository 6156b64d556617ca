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
"""State and rules of the spp_vf processes behind the emulated spp-ctl.

The rules are those of spp_vf 18.08 as driven through spp-ctl 18.08,
because that is what networking-spp deployments run: spp-ctl's own input
checks (missing key -> 400 ``key(<k>) required.``, invalid values -> 500
because of spp-ctl's KeyInvalid bug), then the process's command checks
(400 ``command error: bad value(<param>)`` / ``error occur``), with the
port-count limits of each component type enforced when the change is
flushed (the change is then not applied).  ``classifier_type`` switches
to the type name of SPP >= 19.08 (``classifier``).
"""

from __future__ import annotations

import copy
import json
import re
import threading
from typing import Any

from os_vif_accel import parse
from os_vif_accel import validate

__all__ = ['SppError', 'VfProcess', 'SppCtlState', 'CLASSIFIER_1808',
           'CLASSIFIER_1908']

CLASSIFIER_1808 = 'classifier_mac'
CLASSIFIER_1908 = 'classifier'
PORT_TYPES = ('phy', 'vhost', 'ring', 'pcap', 'nullpmd')
# ASCII digits and no trailing newline: spp_vf parses the number with
# strtol (src/vf/common/command_dec.c), which knows no other digits.
_PORT = re.compile(r'^([a-z]+):([0-9]+)\Z')
# ASCII sec ids only.  Deviation: spp-ctl's bottle <sec_id:int> filter
# (-?\d+, then int()) would also take Unicode digits such as '٣'
# (doc/source/reference/compat/input-validation-spp.rst).
_SEC_ID = re.compile(r'[0-9]{1,9}')
_MAC = re.compile(r'^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$')
_DEFAULT_MAC = '00:00:00:00:00:01'
UNTAGGED = 4095
MAX_LCORE = 128


class SppError(Exception):
    """An HTTP error answer: status and plain-text body."""

    def __init__(self, status: int, text: str) -> None:
        self.status = status
        self.text = text
        super().__init__('%d %s' % (status, text))


def _invalid() -> SppError:
    # spp-ctl 18.08 turns every "invalid value" into a TypeError.
    return SppError(500, 'Internal Server Error')


def _command(message: str) -> SppError:
    return SppError(400, 'command error: %s' % message)


def _bad(param: str) -> SppError:
    return _command('bad value(%s)' % param)


def _need(body: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if key not in body:
            raise SppError(400, 'key(%s) required.' % key)


def _port(value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid()
    match = _PORT.match(value)
    if not match or match.group(1) not in PORT_TYPES:
        raise _invalid()
    return value


def _port_sort_key(port: str) -> tuple[int, int]:
    kind, _, num = port.partition(':')
    order = {'phy': 0, 'vhost': 1, 'ring': 2}.get(kind, 3)
    return order, int(num)


class _Component:
    def __init__(self, name: str, core: int, ctype: str) -> None:
        self.name = name
        self.core = core
        self.type = ctype
        # port -> vlan op dict, in attach order
        self.rx: dict[str, dict[str, Any]] = {}
        self.tx: dict[str, dict[str, Any]] = {}

    def side(self, direction: str) -> dict[str, dict[str, Any]]:
        return self.rx if direction == 'rx' else self.tx

    def as_status(self) -> dict[str, Any]:
        def ports(side: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
            return [{'port': p, 'vlan': dict(v)} for p, v in side.items()]
        return {'core': self.core, 'name': self.name, 'type': self.type,
                'rx_port': ports(self.rx), 'tx_port': ports(self.tx)}


def _no_vlan() -> dict[str, Any]:
    return {'operation': 'none', 'id': 0, 'pcp': 0}


class VfProcess:
    """One spp_vf secondary process (``--client-id``)."""

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
        self.components: dict[str, _Component] = {}
        self.ever_attached: set[str] = set()
        # port -> (vid, upper-case MAC)
        self.classifier: dict[str, tuple[int, str]] = {}
        self.lock = threading.Lock()

    # -- status -----------------------------------------------------------
    def status(self) -> dict[str, Any]:
        ports = ['phy:%d' % i for i in range(self.num_phy)]
        ports += sorted((p for p in self.ever_attached
                         if not p.startswith('phy:')), key=_port_sort_key)
        comps: list[dict[str, Any]] = []
        for core in self.workers:
            here = [c for c in self.components.values() if c.core == core]
            if not here:
                comps.append({'core': core, 'type': 'unuse'})
            comps.extend(c.as_status() for c in here)
        table = []
        for port, (vid, mac) in self.classifier.items():
            shown = 'default' if mac == _DEFAULT_MAC else mac
            if vid == UNTAGGED:
                table.append({'type': 'mac', 'value': shown, 'port': port})
            else:
                table.append({'type': 'vlan', 'value': '%d/%s' % (vid, shown),
                              'port': port})
        return {'client-id': self.client_id, 'ports': ports,
                'components': comps, 'classifier_table': table}

    # -- components -------------------------------------------------------
    def component_types(self) -> tuple[str, ...]:
        return ('forward', 'merge', self.classifier_type)

    def start_component(self, body: dict[str, Any]) -> None:
        _need(body, 'name', 'core', 'type')
        name, core, ctype = body['name'], body['core'], body['type']
        if not isinstance(name, str) or isinstance(core, bool) or \
                not isinstance(core, int):
            raise _invalid()
        if ctype not in self.component_types():
            raise _invalid()
        if not 0 <= core < MAX_LCORE:
            raise _bad('core')
        if name in self.components or not name:
            raise _bad('component name')
        if core not in self.workers:
            raise _command('error occur')
        for other in self.components.values():
            if other.core == core and other.type != ctype:
                raise _command('error occur')
        self.components[name] = _Component(name, core, ctype)

    def stop_component(self, name: str) -> None:
        self.components.pop(name, None)

    # -- ports --------------------------------------------------------------
    def _attached(self, port: str, direction: str) -> _Component | None:
        for comp in self.components.values():
            if port in comp.side(direction):
                return comp
        return None

    def _port_exists(self, port: str) -> bool:
        kind, _, num = port.partition(':')
        if kind == 'phy':
            return int(num) < self.num_phy
        if kind == 'ring':
            return int(num) < self.num_rings
        return True

    def _limits_ok(self, comp: _Component) -> bool:
        nrx, ntx = len(comp.rx), len(comp.tx)
        if comp.type == 'forward':
            return nrx <= 1 and ntx <= 1
        if comp.type == 'merge':
            return ntx <= 1
        return nrx <= 1  # classifier: 1:N

    @staticmethod
    def _vlan_op(body: dict[str, Any]) -> dict[str, Any]:
        vlan = body.get('vlan')
        if vlan is None:
            return _no_vlan()
        if not isinstance(vlan, dict) or \
                vlan.get('operation') not in ('none', 'add', 'del'):
            raise _invalid()
        op = vlan['operation']
        if op != 'add':
            return {'operation': op, 'id': 0, 'pcp': 0}
        try:
            vid, pcp = int(vlan['id']), int(vlan['pcp'])
        except (KeyError, TypeError, ValueError):
            raise _invalid()
        if not 0 <= vid <= 4095:
            raise _bad('port vid')
        if not 0 <= pcp <= 7:
            raise _bad('port pcp')
        return {'operation': 'add', 'id': vid, 'pcp': pcp}

    def port(self, name: str, body: dict[str, Any]) -> None:
        _need(body, 'action', 'port', 'dir')
        action, port, direction = body['action'], body['port'], body['dir']
        if action not in ('attach', 'detach') or \
                direction not in ('rx', 'tx'):
            raise _invalid()
        port = _port(port)
        vlan = self._vlan_op(body) if action == 'attach' else _no_vlan()
        comp = self.components.get(name)
        if comp is None:
            raise _bad('component name')
        side = comp.side(direction)
        if action == 'detach':
            side.pop(port, None)
            return
        holder = self._attached(port, direction)
        if holder is not None:
            if vlan['operation'] != 'add':
                raise _bad('port')
            if holder is comp:
                side[port] = vlan
                return
        if not self._port_exists(port):
            raise _command('error occur')
        side[port] = vlan
        if not self._limits_ok(comp):
            # Rejected when the change is flushed: not applied.
            del side[port]
            raise _command('error occur')
        self.ever_attached.add(port)

    # -- classifier table -------------------------------------------------
    def classifier_table(self, body: dict[str, Any]) -> None:
        _need(body, 'action', 'type', 'port', 'mac_address')
        action, ctype = body['action'], body['type']
        if action not in ('add', 'del') or ctype not in ('mac', 'vlan'):
            raise _invalid()
        port = _port(body['port'])
        mac = body['mac_address']
        if not isinstance(mac, str) or not _MAC.match(mac):
            raise _invalid()  # 18.08: netaddr rejects 'default' too
        mac = mac.replace('-', ':').upper()
        if ctype == 'vlan':
            _need(body, 'vlan')
            try:
                vid = int(body['vlan'])
            except (TypeError, ValueError):
                raise _invalid()
            if not 0 <= vid <= 4094:
                raise _bad('vlan id')
        else:
            vid = UNTAGGED
        current = self.classifier.get(port)
        if action == 'add':
            if port not in self.ever_attached:
                raise _command('error occur')
            if current is not None or (vid, mac) in \
                    self.classifier.values():
                raise _command('error occur')
            self.classifier[port] = (vid, mac)
        else:
            if current != (vid, mac):
                raise _command('error occur')
            del self.classifier[port]


class MirrorProcess(VfProcess):
    """One spp_mirror process: ``mirror`` components only, each copying
    its single rx to tx[0] (original) and tx[1] (copy).
    """

    def component_types(self) -> tuple[str, ...]:
        return ('mirror',)

    def _limits_ok(self, comp: _Component) -> bool:
        return len(comp.rx) <= 1 and len(comp.tx) <= 2

    @staticmethod
    def _vlan_op(body: dict[str, Any]) -> dict[str, Any]:
        return _no_vlan()   # the mirror API has no VLAN operations

    def status(self) -> dict[str, Any]:
        out = super().status()
        del out['classifier_table']
        return out

    def classifier_table(self, body: dict[str, Any]) -> None:
        raise SppError(404, 'Not found')


class SppCtlState:
    """Every process spp-ctl knows, plus the HTTP routing of spp-ctl."""

    def __init__(self, classifier_type: str = CLASSIFIER_1808) -> None:
        self.classifier_type = classifier_type
        self.vfs: dict[int, VfProcess] = {}
        self.mirrors: dict[int, VfProcess] = {}
        self.primary = True
        self.lock = threading.Lock()

    def add_vf(self, client_id: int, core_mask: int, num_phy: int,
               num_rings: int) -> VfProcess:
        proc = VfProcess(client_id, core_mask, num_phy, num_rings,
                         self.classifier_type)
        with self.lock:
            self.vfs[client_id] = proc
        return proc

    def add_mirror(self, client_id: int, core_mask: int, num_phy: int,
                   num_rings: int) -> VfProcess:
        proc = MirrorProcess(client_id, core_mask, num_phy, num_rings)
        with self.lock:
            self.mirrors[client_id] = proc
        return proc

    def snapshot(self, mirrors: bool = False) -> dict[int, dict[str, Any]]:
        """Status of every spp_vf (or spp_mirror), as GET
        /v1/vfs/<id> (/v1/mirrors/<id>) would show it.
        """
        with self.lock:
            procs = list((self.mirrors if mirrors else self.vfs).values())
        out = {}
        for proc in procs:
            with proc.lock:
                out[proc.client_id] = copy.deepcopy(proc.status())
        return out

    def processes(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{'type': 'primary'}] \
            if self.primary else []
        out += [{'type': 'vf', 'client-id': cid} for cid in sorted(self.vfs)]
        out += [{'type': 'mirror', 'client-id': cid}
                for cid in sorted(self.mirrors)]
        return out

    def handle(self, method: str, path: str, raw: bytes
               ) -> tuple[int, str, bytes]:
        """Route one request: (status, content type, body)."""
        try:
            result = self._route(method, path.split('?', 1)[0], raw)
        except SppError as exc:
            return exc.status, 'text/plain', exc.text.encode('utf-8')
        if result is None:
            return 204, '', b''
        return 200, 'application/json', json.dumps(result).encode('utf-8')

    @staticmethod
    def _body(raw: bytes) -> dict[str, Any]:
        try:  # bounded: a deeply nested body must not RecursionError
            return parse.json_object(raw, 'body')
        except validate.InvalidInput:
            raise _invalid()

    def _vf(self, sec_id: str, table: dict[int, VfProcess]) -> VfProcess:
        with self.lock:
            proc = table.get(int(sec_id)) if _SEC_ID.fullmatch(sec_id) \
                else None
        if proc is None:
            raise SppError(404, 'sec_id %s not found.' % sec_id)
        return proc

    def _route(self, method: str, path: str, raw: bytes) -> Any:
        parts = [p for p in path.split('/') if p]
        if parts[:1] != ['v1']:
            raise SppError(404, "Not found: '%s'" % path)
        rest = parts[1:]
        if rest == ['processes'] and method == 'GET':
            return self.processes()
        if len(rest) >= 2 and rest[0] in ('vfs', 'mirrors'):
            return self._route_vf(method, path, rest[1], rest[2:], raw,
                                  self.vfs if rest[0] == 'vfs'
                                  else self.mirrors)
        raise SppError(404, "Not found: '%s'" % path)

    def _route_vf(self, method: str, path: str, sec_id: str,
                  rest: list[str], raw: bytes,
                  table: dict[int, VfProcess]) -> Any:
        if not _SEC_ID.fullmatch(sec_id):
            raise SppError(404, "Not found: '%s'" % path)
        proc = self._vf(sec_id, table)
        with proc.lock:
            if rest == [] and method == 'GET':
                return proc.status()
            if rest == ['components'] and method == 'POST':
                proc.start_component(self._body(raw))
                return None
            if len(rest) == 2 and rest[0] == 'components' and \
                    method == 'DELETE':
                proc.stop_component(rest[1])
                return None
            if len(rest) == 3 and rest[0] == 'components' and \
                    rest[2] == 'ports' and method == 'PUT':
                proc.port(rest[1], self._body(raw))
                return None
            if rest == ['classifier_table'] and method == 'PUT' and \
                    not isinstance(proc, MirrorProcess):
                proc.classifier_table(self._body(raw))
                return None
        raise SppError(404, "Not found: '%s'" % path)
