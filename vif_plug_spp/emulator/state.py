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
"""The spp_vf processes behind the emulated spp-ctl, and spp-ctl's
routing.

The rules are those of spp_vf 18.08 as driven through spp-ctl 18.08
(SPP 18.08.1, ``yasufum/spp-tmp`` @ 5e85902), because that is what
networking-spp deployments run; each rule cites its file and line in
:mod:`ports`, :mod:`classifier`, :mod:`flush` and :mod:`status`, and
``doc/source/reference/spp-ctl-emulator.rst`` lists them with the tests
that pin them.  ``classifier_type`` switches to the type name of SPP >=
18.08.4 (``classifier``, commits 9b63754/2c1470f); ``status_size_bug``
reproduces spp-ctl 18.08.1-19.08 answering 500 to status replies of
4096 bytes or more.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from typing import Any

from os_vif_accel import parse
from os_vif_accel import validate

from vif_plug_spp.emulator import classifier
from vif_plug_spp.emulator import errors
from vif_plug_spp.emulator import model
from vif_plug_spp.emulator import ports
from vif_plug_spp.emulator import status as status_mod

__all__ = ['SppError', 'Hang', 'VfProcess', 'MirrorProcess', 'SppCtlState',
           'CLASSIFIER_1808', 'CLASSIFIER_1908']

SppError = errors.SppError
Hang = errors.Hang
CLASSIFIER_1808 = model.CLASSIFIER_1808
CLASSIFIER_1908 = model.CLASSIFIER_1908
# ASCII sec ids only.  Deviation: spp-ctl's bottle <sec_id:int> filter
# (-?\d+, then int()) would also take Unicode digits such as '٣'
# (doc/source/reference/compat/input-validation-spp.rst).
_SEC_ID = re.compile(r'[0-9]{1,9}')


class VfProcess(model.VfModel):
    """One spp_vf secondary process (``--client-id``)."""

    def status(self) -> dict[str, Any]:
        return status_mod.status(self)

    def start_component(self, body: dict[str, Any]) -> None:
        ports.start_component(self, body)

    def stop_component(self, name: str) -> None:
        ports.stop_component(self, name)

    def port(self, name: str, body: dict[str, Any]) -> None:
        ports.port_command(self, name, body)

    def classifier_table(self, body: dict[str, Any]) -> None:
        classifier.classifier_command(self, body)


class MirrorProcess(VfProcess):
    """One spp_mirror process: ``mirror`` components only, each copying
    its single rx to tx[0] (original) and tx[1] (copy).
    """

    def component_types(self) -> tuple[str, ...]:
        return ('mirror',)

    def port(self, name: str, body: dict[str, Any]) -> None:
        body = dict(body)
        body.pop('vlan', None)   # the mirror API has no VLAN operations
        ports.port_command(self, name, body)

    def status(self) -> dict[str, Any]:
        return status_mod.status(self, with_classifier=False)

    def classifier_table(self, body: dict[str, Any]) -> None:
        raise SppError(404, 'Not found')


class SppCtlState:
    """Every process spp-ctl knows, plus the HTTP routing of spp-ctl."""

    def __init__(self, classifier_type: str = CLASSIFIER_1808,
                 status_size_bug: bool = False) -> None:
        self.classifier_type = classifier_type
        self.status_size_bug = status_size_bug
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
        """Route one request: (status, content type, body).

        Raises :class:`Hang` when the spp_vf behind it stopped answering.
        """
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
            raise errors.invalid()

    def _vf(self, sec_id: str, table: dict[int, VfProcess]) -> VfProcess:
        with self.lock:
            proc = table.get(int(sec_id)) if _SEC_ID.fullmatch(sec_id) \
                else None
        if proc is None:
            # spp-ctl 18.08 src/spp-ctl/spp_webapi.py 84-92
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

    def _get_status(self, proc: VfProcess) -> dict[str, Any]:
        shown = proc.status()
        if self.status_size_bug and \
                status_mod.raw_reply_size(shown) >= status_mod.MSG_SIZE:
            # spp-ctl 18.08.1-19.08 src/spp-ctl/spp_ctl.py 116-125: the
            # staticmethod calls self._continue_recv -> NameError -> 500
            # (fixed by SPP commit 8d09d7b, first released in 19.11).
            raise SppError(500, 'Internal Server Error')
        return shown

    def _route_vf(self, method: str, path: str, sec_id: str,
                  rest: list[str], raw: bytes,
                  table: dict[int, VfProcess]) -> Any:
        if not _SEC_ID.fullmatch(sec_id):
            raise SppError(404, "Not found: '%s'" % path)
        proc = self._vf(sec_id, table)
        with proc.lock:
            if proc.hung:
                raise Hang()
            if rest == [] and method == 'GET':
                return self._get_status(proc)
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
