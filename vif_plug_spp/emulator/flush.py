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
"""spp_vf 18.08's flush: the step after every accepted change command.

A change is applied to the working tables first; the flush then creates
missing PMDs, hands changed cores and components to the workers, and
only on success does the status (the applied side) change.  18.08 has no
cancel: a failed flush leaves the change in the working tables; a port
that got no PMD fails every later flush, a component over its port limit
fails the flushes that change it (Corrections 2).
"""

from __future__ import annotations

import copy

from vif_plug_spp.emulator import errors
from vif_plug_spp.emulator import model

__all__ = ['flush', 'limits_ok']


def _flush_ports(proc: model.VfModel) -> None:
    # spp_vf 18.08 src/vf/common/spp_proc.c 806-835 (flush_port): every
    # added vhost/ring without a PMD gets one; a ring spp_primary did not
    # create (ring:N, N >= its -n) fails, and since the port stays added
    # (command_proc.c 418-434 never resets iface_type) every later flush
    # fails the same way until spp_vf restarts.  ring:N with N >=
    # RTE_MAX_ETHPORTS reads past the port table (spp_proc.c 258-273):
    # modelled as the same permanent failure.  (vhost:N >= 32 is not
    # modelled: see the compatibility page.)
    for port in sorted(proc.added - proc.pmd):
        kind, num = model.split_port(port)
        if kind == 'ring' and (num >= proc.num_rings or
                               num >= model.MAX_ETHPORTS):
            raise errors.failed()
        if kind in ('vhost', 'ring'):
            proc.pmd.add(port)


def _flush_cores(proc: model.VfModel) -> None:
    # spp_vf 18.08 src/vf/common/spp_proc.c 856-861 (flush_core) waits
    # for the changed core to pick up the new index; the master lcore
    # runs the command loop itself and never does (src/vf/spp_vf.c 326
    # marks it idle, so command_proc.c 250-255 accepted the start):
    # spp_vf stops answering for good.
    if any(c.core == proc.master
           for c in proc.working.components.values()):
        proc.hung = True
        raise errors.Hang()


def limits_ok(comp: model.Component) -> bool:
    """Port counts a component's update function accepts."""
    nrx, ntx = len(comp.rx), len(comp.tx)
    if comp.type == 'forward':
        # src/vf/spp_forward.c 63-78: one rx, at most one tx.
        return nrx <= 1 and ntx <= 1
    if comp.type == 'merge':
        # src/vf/spp_forward.c 72-78: at most one tx, any rx.
        return ntx <= 1
    if comp.type == 'mirror':
        # src/mirror/spp_mirror.c 290-303: one rx, at most two tx.
        return nrx <= 1 and ntx <= 2
    # classifier: src/vf/classifier_mac.c 372-386 and 808-849 take the
    # first rx port and every tx port; no limit is checked.
    return True


def _flush_components(proc: model.VfModel) -> bool:
    """Hand the changed components to the workers, in order, up to the
    first one over its port limit; False if one was.

    spp_vf 18.08 src/vf/common/spp_proc.c 870-906 updates flagged
    components only and stops at the first failure; command_proc.c
    463-465 then runs backup_mng_info whether or not that failed, which
    clears every change flag (spp_proc.c 448-451).  So a component over
    its limit fails the flush of the command that changed it, and later
    flushes only when it is changed again; it heals when the extra port
    is detached or the component stopped (command_proc.c 315).  A
    component not handed over keeps showing its last applied ports.
    """
    old = proc.applied.components
    new: dict[str, model.Component] = {}
    ok = True
    for name, comp in proc.working.components.items():
        if name in proc.changed and ok:
            ok = limits_ok(comp)
            if ok:
                new[name] = copy.deepcopy(comp)
                continue
        new[name] = copy.deepcopy(old[name]) if name in old else \
            model.Component(name, comp.core, comp.type)
    proc.changed.clear()
    proc.applied.components = new
    return ok


def flush(proc: model.VfModel) -> None:
    """Apply the working tables or raise.  A port failure keeps every
    change flag (the next flush retries); a component failure does not.
    """
    _flush_ports(proc)
    _flush_cores(proc)
    if not _flush_components(proc):
        raise errors.failed()
    proc.applied.abilities = copy.deepcopy(proc.working.abilities)
    proc.applied.class_ids = copy.deepcopy(proc.working.class_ids)
