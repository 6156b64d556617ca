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
"""ML2 mechanism driver ``spp`` (``neutron.ml2.mechanism_drivers``).

Binds ``normal`` ports on flat and VLAN segments to a vhost of an SPP host
(:mod:`spp_neutron.core`) and hands Nova a ``vhostuser`` binding.  Unlike
networking-spp's driver it does not wait for the agent inside
``bind_port`` (20 s per port, one watch each; networking-spp 0170ff7
mech_driver/mech_spp.py 33, 110-115): the port carries Neutron's
``L2`` provisioning block, which the status worker's single watch of all
hosts (:mod:`spp_neutron.status`) completes when the agent writes ``up``;
Neutron then sets the port ACTIVE (``Ml2Plugin._port_provisioned``).

Live migration (Neutron's multiple port bindings, :mod:`spp_neutron.bindings`):
every binding row holds its own vhost.  The destination's inactive row is
bound like any other but leaves the port's provisioning alone; activation
keeps both vhosts and completes the destination's block; deleting a row
(the source's after the migration, the destination's on abort) releases
that host's vhost.
"""

from __future__ import annotations

import time
from typing import Any

from neutron_lib.api.definitions import portbindings
from neutron_lib.callbacks import resources
from neutron_lib import constants as n_const
from neutron_lib import context as n_context
from neutron_lib.db import api as db_api
from neutron_lib.plugins import directory
from neutron_lib.plugins.ml2 import api
from neutron_lib import worker
from oslo_config import cfg
from oslo_log import log as logging
from sqlalchemy.orm import session as sa_session

from neutron.db import provisioning_blocks
from neutron.objects import ports as ports_obj
from neutron.plugins.ml2 import db as ml2_db
from neutron.plugins.ml2 import models as ml2_models

from os_vif_accel import etcd_opts

from vif_plug_spp import constants
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import keys

from spp_neutron import bindings
from spp_neutron import config
from spp_neutron import core
from spp_neutron import errors
from spp_neutron import status
from spp_neutron import status_worker
from spp_neutron import sweep_worker

LOG = logging.getLogger(__name__)

__all__ = ['SppMechanismDriver', 'VHOST_USER_SPP_PLUG']

#: The binding detail nova_patches/0001 turns into plugin "spp".
VHOST_USER_SPP_PLUG = 'vhostuser_spp_plug'
#: The driver's name (setup.cfg neutron.ml2.mechanism_drivers).
DRIVER_NAME = 'spp'
#: Neutron's entity for "the L2 agent wired it" (Nova is told about
#: ports it completes during a live migration).
ENTITY = provisioning_blocks.L2_AGENT_ENTITY
_SEGMENT_TYPES = (n_const.TYPE_FLAT, n_const.TYPE_VLAN)
#: Seconds a failed binding of a port on a host is not tried again.
_RETRY_AFTER = 2.0


def _drivers(levels: list[dict[str, Any]] | None) -> set[str]:
    """The drivers that bound a port: ``PortContext.binding_levels``
    (None without levels; neutron 29.0.0 plugins/ml2/driver_context.py
    212-226).
    """
    return {level[api.BOUND_DRIVER] for level in levels or ()}


def _may_hold_keys(vif_type: str | None,
                   levels: list[dict[str, Any]] | None) -> bool:
    return bindings.may_hold_keys(vif_type, _drivers(levels), DRIVER_NAME)


class SppMechanismDriver(api.MechanismDriver):
    """Binds ports to SPP vhosts through etcd (networking-spp's keys)."""

    CONFIG_OPTS = config.OPTS

    def initialize(self) -> None:
        config.register_opts(cfg.CONF)
        conf: Any = cfg.CONF.spp
        self.conf = conf
        self.etcd = etcd_mod.EtcdClient.from_settings(
            etcd_opts.settings_from_conf(conf, config.GROUP),
            connect_timeout=conf.etcd_connect_timeout,
            read_timeout=conf.etcd_read_timeout)
        self.binder = core.Binder(self.etcd,
                                  release_timeout=conf.release_timeout)
        self.watcher: status.StatusWatcher | None = None
        # (port, host) -> monotonic time until which a failed binding is
        # not tried again: ML2 calls bind_port up to 10 times in a row
        # when no driver bound the port (MAX_BIND_TRIES, neutron 29.0.0
        # plugins/ml2/plugin.py 169, 657-671), and a failure
        # here (etcd timeouts, an agent that does not release) is not
        # going to change within one request.
        self._failed: dict[tuple[str, str], float] = {}
        self._watch_deleted_bindings()

    def _watch_deleted_bindings(self) -> None:
        """Release a host's vhost when its binding row is deleted: ML2
        calls no driver for ``DELETE /ports/{id}/bindings/{host}``, and a
        port's deletion deletes its rows too (``port_bindings`` cascade,
        neutron 29.0.0 plugins/ml2/models.py 58-63), so this is also the
        one release of a deleted port (``delete_port_postcommit`` made a
        second one).
        """
        pending = bindings.PendingReleases(
            ml2_models.PortBinding, self._release,
            ml2_models.PortBindingLevel, DRIVER_NAME)
        db_api.sqla_listen(sa_session.Session, 'after_flush',
                           pending.flushed)
        db_api.sqla_listen(sa_session.Session, 'after_commit',
                           pending.committed)
        db_api.sqla_listen(sa_session.Session, 'after_soft_rollback',
                           pending.rolled_back)

    @property
    def connectivity(self) -> str:
        # A layer 2 datapath: ML2 binds ports without an IP address too.
        return portbindings.CONNECTIVITY_L2

    def get_workers(self) -> list[worker.BaseWorker]:
        """One process that runs the port state watch for the server,
        one that sweeps unreleased allocations (unless disabled).
        """
        interval = self.conf.allocation_sweep_interval
        sweeper = [sweep_worker.SweepWorker(self.etcd, interval)]
        return [status_worker.StatusWorker(self)] + (
            sweeper if interval > 0 else [])

    # -- port state ---------------------------------------------------------
    def start_status_watcher(self) -> status.StatusWatcher:
        if self.watcher is None:
            self.watcher = status.StatusWatcher(
                self.etcd, self.port_up,
                idle_timeout=self.conf.watch_idle_timeout).start()
        return self.watcher

    def stop_status_watcher(self) -> None:
        watcher, self.watcher = self.watcher, None
        if watcher is not None:
            watcher.stop()

    def port_up(self, host: str, port_id: str, revision: int) -> None:
        """The agent of ``host`` reported the port wired: complete its
        provisioning block if the port's active binding is there; tell
        Nova if ``host`` is not (a migration's destination); release the
        keys of a port Neutron no longer has (deleted while it was bound).
        """
        if not self._still_up(host, port_id):
            return
        ctx = n_context.get_admin_context()
        binding = ports_obj.PortBinding.get_object(ctx, port_id=port_id,
                                                   host=host)
        if binding is not None and binding.status == n_const.ACTIVE:
            if provisioning_blocks.is_object_blocked(ctx, port_id,
                                                     resources.PORT):
                provisioning_blocks.provisioning_complete(
                    ctx, port_id, resources.PORT, ENTITY)
            return
        port = ml2_db.get_port(ctx, port_id)
        if port is None:
            LOG.info('Port %s is up on %s but no longer exists; '
                     'releasing it', port_id, host)
            self.binder.release(host, port_id)
            return
        self._tell_nova_plugged(port, host)

    def _still_up(self, host: str, port_id: str) -> bool:
        """False for an ``up`` delivered after its binding was released
        (the dispatcher was behind or retrying): every binding's write
        deletes the port's ``port_status`` (:meth:`core.Binder._write`),
        so only an ``up`` still there answers the current binding.
        """
        if self.etcd.get(keys.port_status(host, port_id)) == keys.UP:
            return True
        LOG.debug('Port %s on %s: ignoring an up that is no longer there '
                  '(its binding was released since)', port_id, host)
        return False

    @staticmethod
    def _tell_nova_plugged(port: Any, host: str) -> None:
        """Nova waits for ``network-vif-plugged`` from the destination
        before it starts a live migration; the port's status stays its
        active binding's.  Neutron's own agents' rule (neutron 29.0.0
        plugins/ml2/rpc.py 301-323).
        """
        LOG.info('Port %s is wired on %s, where its binding is not active '
                 '(a live migration destination): telling Nova', port.id,
                 host)
        notifier = getattr(directory.get_plugin(), 'nova_notifier', None)
        if notifier is not None and \
                cfg.CONF.notify_nova_on_port_status_changes:
            notifier.notify_port_active_direct(port)

    # -- binding --------------------------------------------------------
    def bind_port(self, context: Any) -> None:
        port = context.current
        if port.get(portbindings.VNIC_TYPE,
                    portbindings.VNIC_NORMAL) != portbindings.VNIC_NORMAL:
            return
        segments = [seg for seg in context.segments_to_bind
                    if seg[api.NETWORK_TYPE] in _SEGMENT_TYPES]
        agents = context.host_agents(constants.AGENT_TYPE)
        if not segments or not agents:
            LOG.debug('Port %s: no flat/VLAN segment or no %s on %s; not '
                      'binding', port['id'], constants.AGENT_TYPE,
                      context.host)
            return
        attempt = (port['id'], context.host)
        now = time.monotonic()
        if self._failed.get(attempt, 0.0) > now:
            LOG.debug('Port %s on %s failed to bind moments ago; not '
                      'trying again yet', *attempt)
            return
        try:
            self._check_alive(context.host, port['id'], agents)
            segment = self._segment(context.host, port['id'], segments)
            self._bind(context, segment)
            self._failed.pop(attempt, None)
        except errors.BindError as exc:
            LOG.error('%s', exc)
            self._failed = {key: until for key, until in self._failed.items()
                            if until > now}
            self._failed[attempt] = time.monotonic() + _RETRY_AFTER

    @staticmethod
    def _check_alive(host: str, port_id: str,
                     agents: list[dict[str, Any]]) -> None:
        if not any(agent.get('alive') for agent in agents):
            raise errors.AgentDown(host, port_id, 'the %s of the host is '
                                   'not alive (last heartbeat %s)' % (
                                       constants.AGENT_TYPE,
                                       agents[0].get('heartbeat_timestamp')))

    def _segment(self, host: str, port_id: str,
                 segments: list[dict[str, Any]]) -> dict[str, Any]:
        """The first segment whose physnet a NIC of the host serves."""
        served = self.binder.physnets(host, port_id)
        for seg in segments:
            if seg[api.PHYSICAL_NETWORK] in served:
                return seg
        raise errors.NoPhysnet(host, port_id, 'no NIC for physical network '
                               '%s (the host serves %s)' % (
                                   ', '.join(sorted({
                                       str(seg[api.PHYSICAL_NETWORK])
                                       for seg in segments})),
                                   ', '.join(served) or 'none'))

    def _bind(self, context: Any, segment: dict[str, Any]) -> None:
        port = context.current
        host = context.host
        # An inactive binding (a migration's destination) leaves the
        # port's status, and so its block, to the active one.
        active = self._bind_mode(context) == bindings.ACTIVE
        if active:
            # The block goes in before the agent can answer, so an early
            # up cannot complete a block that does not exist yet.
            provisioning_blocks.add_provisioning_component(
                context.plugin_context, port['id'], resources.PORT, ENTITY)
        try:
            alloc = self.binder.bind(host, port['id'], port['mac_address'],
                                     segment[api.PHYSICAL_NETWORK],
                                     segment.get(api.SEGMENTATION_ID))
            self._check_still_wanted(host, port['id'], active)
        except errors.BindError:
            if active:
                provisioning_blocks.remove_provisioning_component(
                    context.plugin_context, port['id'], resources.PORT,
                    ENTITY)
            raise
        context.set_binding(segment[api.ID],
                            portbindings.VIF_TYPE_VHOST_USER,
                            self.vif_details(alloc.vhost_id))

    @staticmethod
    def _bind_mode(context: Any) -> str:
        """:data:`bindings.ACTIVE` or :data:`bindings.INACTIVE`."""
        rows = ports_obj.PortBinding.get_objects(
            n_context.get_admin_context(), port_id=context.current['id'])
        return bindings.bind_mode(
            [bindings.Row(row.host, row.status, row.vif_type)
             for row in rows], context.host, context.original is not None)

    def _check_still_wanted(self, host: str, port_id: str,
                            active: bool = True) -> None:
        """Release what was just written if the port was deleted or moved
        off the host meanwhile: ML2 drops such a binding without telling
        the driver, and the release of the delete or update may have run
        before the keys existed.  An inactive binding's row is written
        after ``bind_port`` returns, so there only the port must exist.
        """
        ctx = n_context.get_admin_context()
        if ports_obj.PortBinding.objects_exist(ctx, port_id=port_id,
                                               host=host) or \
                (not active and ports_obj.Port.objects_exist(ctx,
                                                             id=port_id)):
            return
        self.binder.release(host, port_id)
        raise errors.ReleasedWhileBinding(
            host, port_id, 'the port was deleted or moved to another host '
            'while it was being bound; its binding was released')

    def vif_details(self, vhost_id: int) -> dict[str, Any]:
        details = {
            portbindings.CAP_PORT_FILTER: False,
            # spp_vf runs its vhost PMD as a client (--vhost-client).
            portbindings.VHOST_USER_MODE: portbindings.VHOST_USER_MODE_SERVER,
            portbindings.VHOST_USER_SOCKET:
                self.conf.vhostuser_socket_template.format(vhost_id=vhost_id),
        }
        if self.conf.vhostuser_spp_plug:
            details[VHOST_USER_SPP_PLUG] = True
        return details

    # -- activation and release -------------------------------------------
    @staticmethod
    def _activated(context: Any) -> bool:
        """True for ML2's ``activate`` of our binding on another host:
        the only update whose context is already bound on a host other
        than the original one (a host change is bound in a later commit).
        """
        return bool(context.original_host and
                    context.host != context.original_host and
                    context.vif_type == portbindings.VIF_TYPE_VHOST_USER and
                    DRIVER_NAME in _drivers(context.binding_levels))

    def update_port_precommit(self, context: Any) -> None:
        """At activation Neutron sets the port DOWN: block it until the
        destination's agent has wired it (as Neutron's agent drivers do,
        neutron 29.0.0 plugins/ml2/drivers/mech_agent.py 69-95).
        """
        if self._activated(context) and \
                context.current['status'] != n_const.PORT_STATUS_ACTIVE:
            provisioning_blocks.add_provisioning_component(
                context.plugin_context, context.current['id'],
                resources.PORT, ENTITY)

    def update_port_postcommit(self, context: Any) -> None:
        port = context.current
        old_host = context.original_host
        if self._activated(context):
            # The source keeps its vhost while its (now inactive) binding
            # exists: deleting that binding releases it.
            self._complete_if_up(context.host, port['id'])
            return
        moved = old_host and (
            old_host != context.host or
            context.original['mac_address'] != port['mac_address'])
        if moved and _may_hold_keys(context.original_vif_type,
                                    context.original_binding_levels):
            self._release(old_host, port['id'])
        elif context.host and \
                context.vif_type == portbindings.VIF_TYPE_VHOST_USER and \
                context.original_vif_type != context.vif_type:
            self._complete_if_up(context.host, port['id'])

    def _release(self, host: str, port_id: str) -> None:
        try:
            self.binder.release(host, port_id)
        except errors.BindError as exc:
            LOG.error('Port %s on %s not released: %s', port_id, host, exc)

    def _complete_if_up(self, host: str, port_id: str) -> None:
        """An ``up`` that arrived before ML2 committed the binding found
        the port unbound (``_port_provisioned`` ignores it); check once
        more now that the binding is committed.
        """
        try:
            up = self.etcd.get(keys.port_status(host, port_id)) == keys.UP
        except etcd_mod.EtcdError as exc:
            LOG.warning('Port %s on %s: cannot read its state (%s); the '
                        'status watch will complete it', port_id, host, exc)
            return
        if up:
            provisioning_blocks.provisioning_complete(
                n_context.get_admin_context(), port_id, resources.PORT,
                ENTITY)
