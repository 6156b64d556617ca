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
"""SmartNIC offload: prepare a VF and its representor, and undo it.

Shared by the os-vif plugin (``VIFHostDevice`` = vnic ``direct``,
``VIFVHostUser`` = vnic ``virtio-forwarder``) and the
``vrouter-port-control`` CLI.  The flow is:

1. :meth:`Offloader.locate` - unprivileged discovery; fails before any
   change (bad address, PF not in switchdev mode, no representor, VF in
   use).
2. :meth:`Offloader.plan` - reads (privileged, read-only) what will
   change: the representor's name, MTU, link and IPv6 setting, the VF's
   MAC and driver.  This original state goes into the port file's
   extra state *before* anything changes.
3. :meth:`Offloader.apply` - privileged steps, each recorded with its
   undo: rename the representor, MTU, disable IPv6, VF MAC through the
   PF (never a VF VLAN: a switchdev PF refuses one and the offloaded
   datapath applies the network's VLAN), bind the VF driver, link up.  A
   failing step undoes the earlier ones (a name collision is found here,
   by the kernel); :meth:`Applied.rollback` undoes them all when the agent
   then fails.
4. :meth:`Offloader.restore` puts the recorded state back at unplug,
   also after a restart of nova-compute.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from oslo_log import log as logging

from os_vif_accel import validate

from vif_plug_vrouter import exception
from vif_plug_vrouter import hoststate
from vif_plug_vrouter import linux_net
# Re-exported: callers and tests use ``offload.Spec`` and friends.
from vif_plug_vrouter.offload_spec import Applied, Plan, Spec
from vif_plug_vrouter.offload_spec import DIRECT, FORWARDER
from vif_plug_vrouter import ports
from vif_plug_vrouter import sriov

LOG = logging.getLogger(__name__)

__all__ = ['DIRECT', 'FORWARDER', 'Spec', 'Plan', 'Applied', 'Offloader',
           'to_extra', 'from_extra', 'recorded_state', 'add_port',
           'remove_port']

to_extra = hoststate.to_extra
from_extra = hoststate.from_extra


class Offloader:
    """Find and prepare representors and VFs.

    :param inventory: sysfs discovery (its root is also where VF drivers
        are bound)
    :param host: the privileged operations
        (:mod:`vif_plug_vrouter.privileged`, or :mod:`linux_net` when the
        caller is root already)
    :param forwarder_driver: driver the VF is bound to for
        virtio-forwarder (``vfio-pci``)
    """

    def __init__(self, inventory: sriov.SriovInventory,
                 host: hoststate.HostOps,
                 forwarder_driver: str = 'vfio-pci',
                 driver_timeout: float = 5.0) -> None:
        self.inventory = inventory
        self.host = host
        self.forwarder_driver = validate.driver_name(forwarder_driver,
                                                     'forwarder_vf_driver')
        self.driver_timeout = driver_timeout

    # -- discovery ---------------------------------------------------------
    def locate(self, spec: Spec, recorded: hoststate.HostState | None = None
               ) -> sriov.Representor:
        """Find the representor; check the VF is free. Changes nothing."""
        rep = self.inventory.representor(spec.vf)
        if spec.mode == FORWARDER:
            driver = self.inventory.vf_driver(spec.vf)
            ours = bool(recorded and recorded.vf == spec.vf and
                        recorded.vf_bound)
            if driver == self.forwarder_driver and not ours:
                raise exception.VFInUse(vf=spec.vf, port_id=spec.port_id,
                                        driver=driver)
        return rep

    # -- plug --------------------------------------------------------------
    def release_other_vf(self, spec: Spec,
                         recorded: hoststate.HostState | None
                         ) -> hoststate.HostState | None:
        """Give back the VF of an earlier plug if the port moved.

        Returns the recorded state if it is about this VF, else None.
        """
        if recorded and recorded.vf and recorded.vf != spec.vf:
            LOG.info('Port %s moves from VF %s to VF %s; restoring the old '
                     'one', spec.port_id, recorded.vf, spec.vf)
            self.restore(spec.port_id, recorded)
        if recorded and recorded.vf == spec.vf:
            return recorded
        return None

    def plan(self, spec: Spec, rep: sriov.Representor,
             recorded: hoststate.HostState | None = None) -> Plan:
        """Read what plugging will change; changes nothing.

        The returned :attr:`Plan.state` holds the original values to
        restore at unplug: read from the host now, or, for a re-plug,
        taken from ``recorded`` (the host already shows plugged values).
        The caller stores it durably *before* :meth:`apply`.
        """
        step = 'read representor'
        try:
            now = self.host.link_state(rep.ifname)
            step = 'read VF MAC'
            vf_now = self.host.vf_state(rep.pf_ifname, rep.vf_index)
        except Exception as exc:
            raise self._step_error(spec, step, exc, [], rep.ifname, rep)
        driver = self.inventory.vf_driver(spec.vf)
        override = self.inventory.vf_driver_override(spec.vf)
        state = recorded or hoststate.HostState(
            rep_orig_name=rep.ifname, rep_mtu=now['mtu'], rep_up=now['up'],
            rep_ipv6=now['ipv6_disabled'], vf_mac=vf_now['mac'])
        if spec.mode == FORWARDER and not state.vf_bound:
            state = dataclasses.replace(state, vf_bound=True,
                                        vf_driver=driver,
                                        vf_override=override)
        state = dataclasses.replace(
            state, offload=spec.mode, vf=spec.vf, pf_ifname=rep.pf_ifname,
            vf_index=rep.vf_index, rep_name=spec.name or rep.ifname)
        return Plan(spec=spec, rep=rep, state=state, link=now)

    def apply(self, plan: Plan) -> Applied:
        """Change the host as planned; on failure undo it all and raise.

        Only what differs from the wanted state is changed (and would be
        undone), so a re-plug of a plugged port changes nothing.
        """
        spec, rep, now = plan.spec, plan.rep, plan.link
        target = spec.name or rep.ifname
        applied = Applied(ifname=target, state=plan.state)
        step = 'rename representor'
        try:
            self._rename(applied, rep.ifname, target, now['up'])
            step = 'set MTU'
            if spec.mtu is not None and spec.mtu != now['mtu']:
                self.host.set_mtu(target, spec.mtu)
                applied.undo.add(step, lambda: self.host.set_mtu(
                    target, now['mtu']))
            step = 'disable IPv6'
            before = self.host.set_ipv6_disabled(target, True)
            if before is False:
                applied.undo.add(step, lambda: self.host.
                                 set_ipv6_disabled(target, False))
            step = 'set VF MAC'
            self._set_vf_mac(applied, spec, rep)
            if spec.mode == FORWARDER:
                step = 'bind VF driver'
                self._bind(applied, spec)
            step = 'link up'
            if not now['up'] or target != rep.ifname:
                self.host.set_link_up(target, True)
                applied.undo.add(step, lambda: self.host.set_link_up(
                    target, False))
        except Exception as exc:
            failed = applied.rollback()
            raise self._step_error(spec, step, exc, failed, target, rep)
        return applied

    def _rename(self, applied: Applied, current: str, target: str,
                was_up: bool) -> None:
        if current == target:
            return
        self.host.rename_link(current, target)

        def undo() -> None:
            self.host.rename_link(target, current)
            if was_up:
                self.host.set_link_up(current, True)
        applied.undo.add('rename representor', undo)

    def _set_vf_mac(self, applied: Applied, spec: Spec,
                    rep: sriov.Representor) -> None:
        before = self.host.set_vf(rep.pf_ifname, rep.vf_index, spec.mac)
        if before['mac'] != spec.mac:
            applied.undo.add('set VF MAC', lambda: self.host.set_vf(
                rep.pf_ifname, rep.vf_index, before['mac']))

    def _bind(self, applied: Applied, spec: Spec) -> None:
        root = self.inventory.root
        before = self.host.bind_vf_driver(root, spec.vf,
                                          self.forwarder_driver,
                                          self.driver_timeout)
        if before['driver'] != self.forwarder_driver:
            applied.undo.add('bind VF driver', lambda: self.host.
                             restore_vf_driver(
                                 root, spec.vf, before['driver'],
                                 before['override'], self.driver_timeout))

    def _step_error(self, spec: Spec, step: str, exc: Exception,
                    failed: list[str], target: str,
                    rep: sriov.Representor) -> Exception:
        if isinstance(exc, linux_net.NameTaken):
            return exception.RepresentorNameTaken(
                ifname=rep.ifname, vf=spec.vf, name=target,
                port_id=spec.port_id)
        if step.startswith('read'):
            rollback = 'nothing was changed'
        elif not failed:
            rollback = 'every earlier step was undone'
        else:
            rollback = 'could NOT undo: %s (see the log)' % ', '.join(failed)
        return exception.HostStepFailed(port_id=spec.port_id, step=step,
                                        reason='%s: %s' % (
                                            type(exc).__name__, exc),
                                        rollback=rollback)

    # -- unplug ------------------------------------------------------------
    def restore(self, port_id: str,
                state: hoststate.HostState | None) -> None:
        """Put the representor and VF back as recorded at plug time.

        Idempotent: steps already undone (e.g. by an earlier, partly
        failed unplug) are skipped.  Raises HostStepFailed after trying
        every step if any of them failed.
        """
        if state is None or not state.vf:
            LOG.info('Port %s has no recorded offload state; nothing to '
                     'restore on the host', port_id)
            return
        failed: list[str] = []

        def attempt(step: str, func: Callable[[], Any]) -> None:
            try:
                func()
            except Exception as exc:  # noqa: H201 - try every step
                LOG.error('Port %s: could not %s: %s', port_id, step, exc)
                failed.append('%s (%s)' % (step, exc))

        orig = state.rep_orig_name or state.rep_name
        current = self._current_name(state.rep_name, orig)
        if current is not None:
            attempt('set link down', lambda: self.host.set_link_up(
                current, False))
        vf = state.vf
        if state.vf_bound:
            attempt('restore VF driver', lambda: self.host.restore_vf_driver(
                self.inventory.root, vf, state.vf_driver, state.vf_override,
                self.driver_timeout))
        if state.has('vf-mac') or state.has('vf-vlan'):
            attempt('restore VF MAC', lambda: self._restore_vf(state))
        if current is not None:
            self._restore_rep(state, current, orig or current, attempt)
        if failed:
            raise exception.HostStepFailed(
                port_id=port_id, step='unplug', reason='; '.join(failed),
                rollback='the port file is kept so that unplug can be '
                         'retried')

    def _restore_rep(self, state: hoststate.HostState, current: str,
                     orig: str, attempt: Callable[[str, Callable[[], Any]],
                                                  None]) -> None:
        """The representor's settings, then its name and link state."""
        if state.rep_ipv6 is False:
            attempt('restore IPv6', lambda: self.host.set_ipv6_disabled(
                current, False))
        mtu = state.rep_mtu
        if mtu:
            attempt('restore MTU', lambda: self.host.set_mtu(current, mtu))
        attempt('rename representor back', lambda: self.host.rename_link(
            current, orig))
        if state.rep_up:
            attempt('restore link up', lambda: self.host.set_link_up(
                orig, True))

    def _restore_vf(self, state: hoststate.HostState) -> None:
        # The MAC; a vf-vlan (only files of releases that set one) only if
        # the VF lost it, so a switchdev PF gets no VLAN request.
        if state.pf_ifname is None or state.vf_index is None:
            raise ValueError('no pf-ifname/vf-index recorded')
        self.host.set_vf(state.pf_ifname, state.vf_index, state.vf_mac,
                         state.vf_vlan)

    def _current_name(self, name: str | None,
                      orig: str | None) -> str | None:
        for candidate in filter(None, (name, orig)):
            try:
                self.host.link_state(candidate)
                return candidate
            except linux_net.LinkNotFound:
                continue
        LOG.warning('Representor %s (originally %s) no longer exists; only '
                    'the VF is restored', name, orig)
        return None


# -- one offloaded port, for the plugin and the CLI ------------------------

def local_offloader(sysfs_root: str = '/sys',
                    forwarder_driver: str = 'vfio-pci',
                    driver_timeout: float = 5.0) -> Offloader:
    """An offloader acting in this process (callers that are root)."""
    return Offloader(sriov.SriovInventory(sysfs_root), linux_net,
                     forwarder_driver=forwarder_driver,
                     driver_timeout=driver_timeout)


def recorded_state(manager: ports.PortManager,
                   port_id: str) -> hoststate.HostState | None:
    """Host state recorded in the port file at plug (None if none)."""
    prev = manager.read(port_id)
    return from_extra(prev[1]) if prev else None


def add_port(offloader: Offloader, manager: ports.PortManager, spec: Spec,
             make_record: Callable[[str], dict[str, Any]],
             defer_if_agent_down: bool = False) -> ports.Outcome:
    """Prepare the host and add the port (file, then agent).

    ``make_record(system_name)`` builds the agent record once the
    representor's final name is known.  Discovery and every check happen
    first; the port file with the original host state is written next;
    only then is the host changed, and only then is the agent told.  A
    crash at any point therefore leaves a file from which unplug can
    restore the host.  If a host step, the file or the agent fails, every
    host change is undone and the file is rolled back.
    """
    recorded = recorded_state(manager, spec.port_id)
    rep = offloader.locate(spec, recorded)
    rec = make_record(spec.name or rep.ifname)
    recorded = offloader.release_other_vf(spec, recorded)
    plan = offloader.plan(spec, rep, recorded)
    done: list[Applied] = []
    try:
        return manager.add(
            rec, extra=to_extra(plan.state),
            defer_if_agent_down=defer_if_agent_down,
            before_agent=lambda: done.append(offloader.apply(plan)))
    except Exception:
        for applied in done:
            applied.rollback()
        raise


def remove_port(offloader: Offloader, manager: ports.PortManager,
                port_id: str) -> bool:
    """Restore the host as recorded, then remove the port everywhere."""
    state = recorded_state(manager, port_id)
    return manager.remove(port_id, before_removal=(
        lambda: offloader.restore(port_id, state)))
