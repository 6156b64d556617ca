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
"""Tap-as-a-Service wiring (networking-spp's ``tap_*`` keys).

A tap flow copies a source port's traffic to a service port through one
``mirror_<i>`` component of the host's spp_mirror process (client id
N+1), whose two rings come from the configuration's ``mirror[i].ports``
(ring_a toward the service VM, ring_b back toward the source VM):

* IN (traffic to the source VM): ring_a feeds the service VM's
  ``forward_D_tx``, ring_b feeds the source's ``forward_S_tx`` in place of
  ``ring:2S``, which now goes to the mirror.
* OUT (traffic from the source VM): ``forward_S_rx`` sends to ring_b
  instead of ``ring:2S+1``; the mirror sends the original on to
  ``ring:2S+1`` (the merger) and a copy to ring_a.

Every step is skipped when spp already is in the wanted state, so a
replay after a crash completes or undoes a half-done flow; a failing step
rolls the executed ones back.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any, NamedTuple

from os_vif_accel import undo as undo_mod
from os_vif_accel import validate

from vif_plug_spp import datapath
from vif_plug_spp import layout
from vif_plug_spp import protocol
from vif_plug_spp import sppctl

__all__ = ['TapInfo', 'parse_tap_info', 'tap_info_value', 'Taas']

MIRRORS = 'mirrors'
VFS = 'vfs'


@dataclasses.dataclass(frozen=True)
class TapInfo:
    service_port: str
    source_port: str
    mirror_in: int | None
    mirror_out: int | None


def _mirror_id(raw: dict[str, Any], name: str) -> int | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise validate.InvalidInput('tap_info.' + name, value,
                                    'must be null or a mirror id')
    return value


def parse_tap_info(text: str) -> TapInfo:
    """Parse and validate a ``tap_info`` value (raises InvalidInput)."""
    raw = protocol.json_object('tap_info', text)
    info = TapInfo(validate.uuid(raw.get('service_port'),
                                 'tap_info.service_port'),
                   validate.uuid(raw.get('source_port'),
                                 'tap_info.source_port'),
                   _mirror_id(raw, 'mirror_in'),
                   _mirror_id(raw, 'mirror_out'))
    if info.mirror_in is None and info.mirror_out is None:
        raise validate.InvalidInput('tap_info', text,
                                    'names neither mirror_in nor mirror_out')
    return info


def tap_info_value(service_port: str, source_port: str,
                   mirror_in: int | None, mirror_out: int | None) -> str:
    """The value the TaaS driver writes."""
    return json.dumps({'service_port': service_port,
                       'source_port': source_port,
                       'mirror_in': mirror_in, 'mirror_out': mirror_out})


class Step(NamedTuple):
    """Attach or detach one port of one component."""

    #: process kind in spp-ctl's URL (``vfs`` or ``mirrors``)
    kind: str
    sec_id: int
    component: str
    port: str
    #: ``rx`` or ``tx``
    side: str
    attach: bool

    def inverse(self) -> Step:
        """The step that undoes this one."""
        return self._replace(attach=not self.attach)

    def __str__(self) -> str:
        return '%s %s %s %s of %s %d' % (
            'attach' if self.attach else 'detach', self.port, self.side,
            self.component, self.kind, self.sec_id)


class Taas:
    """Mirror components and tap-flow wiring of one host."""

    def __init__(self, client: sppctl.SppCtlClient,
                 configuration: dict[str, Any],
                 dp: datapath.Datapath) -> None:
        self.client = client
        self.mirrors = list(configuration.get('mirror') or [])
        self.sec_id = len(configuration.get('vf') or []) + 1
        self.datapath = dp

    # -- components -------------------------------------------------------
    def ensure_mirrors(self) -> None:
        """Start ``mirror_<i>`` on its core if missing (ports are only
        attached by tap flows).
        """
        status = self.client.vf_status(self.sec_id, MIRRORS)
        used = {c.get('name') for c in status.get('components') or []
                if c.get('type') != datapath.UNUSE}
        for i, mirror in enumerate(self.mirrors):
            if 'mirror_%d' % i not in used:
                self.client.start_component(self.sec_id, 'mirror_%d' % i,
                                            int(mirror['core']), 'mirror',
                                            kind=MIRRORS)

    # -- steps ------------------------------------------------------------
    def _rings(self, mirror_id: int) -> tuple[str, str]:
        if not 0 <= mirror_id < len(self.mirrors):
            raise datapath.WiringError('mirror %d is not in this host\'s '
                                       'configuration' % mirror_id)
        ring_a, ring_b = self.mirrors[mirror_id]['ports']
        found = [p for ring in (ring_a, ring_b)
                 for p in layout.port_problems('mirror %d' % mirror_id, ring,
                                               self.datapath.num_rings)]
        if found:
            # A ring spp_primary lacks poisons every spp_vf/spp_mirror it
            # is attached to (SPP 18.08.1 src/vf/common/spp_proc.c
            # 826-835): refuse before sending anything.
            raise datapath.WiringError(
                'Refusing the tap flow, nothing was sent: %s' %
                '; '.join(found))
        return ring_a, ring_b

    def _mirror_head(self, service: datapath.Vhost,
                     mirror_id: int) -> tuple[str, str, list[Step]]:
        """Name and return ring of a mirror, and the two steps both
        directions start with: ring_a into the service VM's feed, fed by
        the mirror.
        """
        ring_a, ring_b = self._rings(mirror_id)
        name = 'mirror_%d' % mirror_id
        assert service.feed_comp
        return name, ring_b, [
            Step(VFS, service.sec_id, service.feed_comp, ring_a, 'rx', True),
            Step(MIRRORS, self.sec_id, name, ring_a, 'tx', True)]

    def steps(self, tap: TapInfo, source: datapath.Vhost,
              service: datapath.Vhost) -> list[Step]:
        """The attach/detach steps that build the tap flow, in order."""
        for vh in (source, service):
            if vh.feed_comp is None or vh.drain_comp is None:
                raise datapath.WiringError(
                    'vhost %d has no forwarders; tap flows need the '
                    'default component layout' % vh.vhost_id)
        assert source.feed_comp and source.drain_comp and service.feed_comp
        out: list[Step] = []
        msec = self.sec_id
        if tap.mirror_in is not None:
            name, ring_b, head = self._mirror_head(service, tap.mirror_in)
            out += head + [
                Step(VFS, source.sec_id, source.feed_comp, ring_b, 'rx',
                     True),
                Step(MIRRORS, msec, name, ring_b, 'tx', True),
                Step(VFS, source.sec_id, source.feed_comp,
                     source.to_vm_port, 'rx', False),
                Step(MIRRORS, msec, name, source.to_vm_port, 'rx', True)]
        if tap.mirror_out is not None:
            name, ring_b, head = self._mirror_head(service, tap.mirror_out)
            out += head + [
                Step(VFS, source.sec_id, source.drain_comp,
                     source.from_vm_port, 'tx', False),
                Step(MIRRORS, msec, name, source.from_vm_port, 'tx', True),
                Step(MIRRORS, msec, name, ring_b, 'rx', True),
                Step(VFS, source.sec_id, source.drain_comp, ring_b, 'tx',
                     True)]
        return out

    # -- execution ----------------------------------------------------------
    def _state(self, steps: list[Step]) -> dict[tuple[str, int, str, str],
                                                 set[str]]:
        """Attached ports per (kind, sec, component, side), fresh."""
        state: dict[tuple[str, int, str, str], set[str]] = {}
        for kind, sec in {(s.kind, s.sec_id) for s in steps}:
            status = self.client.vf_status(sec, kind)
            for comp in status.get('components') or []:
                if 'name' not in comp:
                    continue
                for side in ('rx', 'tx'):
                    state[(kind, sec, comp['name'], side)] = {
                        p['port'] for p in comp.get(side + '_port') or []}
        return state

    def _do(self, step: Step) -> None:
        if step.attach:
            self.client.attach(step.sec_id, step.component, step.port,
                               step.side, kind=step.kind)
        else:
            self.client.detach(step.sec_id, step.component, step.port,
                               step.side, kind=step.kind)

    def _run(self, what: str, steps: list[Step]) -> bool:
        """Bring every step's port to its wanted state; roll back the
        executed steps on failure.  True if anything changed.
        """
        undo = undo_mod.Undo(catch=(sppctl.SppCtlError,))
        with self.datapath.locked():
            try:
                state = self._state(steps)
                for step in steps:
                    have = state.setdefault((step.kind, step.sec_id,
                                             step.component, step.side),
                                            set())
                    if (step.port in have) == step.attach:
                        continue
                    self._do(step)
                    (have.add if step.attach else have.discard)(step.port)
                    undo.add(str(step.inverse()),
                             functools.partial(self._do, step.inverse()))
            except sppctl.SppCtlError as exc:
                ok = undo.run().rolled_back
                raise datapath.WiringError(
                    'Could not %s tap flow: %s%s' % (
                        what, exc, '; rolled back' if ok else
                        '; rollback incomplete'), exc, ok)
        return len(undo) > 0

    def plug(self, tap: TapInfo, source: datapath.Vhost,
             service: datapath.Vhost) -> bool:
        self.ensure_mirrors()
        return self._run('plug', self.steps(tap, source, service))

    def unplug(self, tap: TapInfo, source: datapath.Vhost,
               service: datapath.Vhost) -> bool:
        undo = [step.inverse()
                for step in reversed(self.steps(tap, source, service))]
        return self._run('unplug', undo)
