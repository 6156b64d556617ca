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
"""What the agent does for one queued port or tap flow.

Each call re-reads the keys it acts on (networking-spp's agent does the
same, so a plug/unplug burst collapses into the newest action) and
decides with the rules of :mod:`vif_plug_spp.binding`, which the os-vif
plugin's wiring uses too.  Handlers return what they did, a word for
logs and tests; failures worth retrying raise, the caller
(:mod:`vif_plug_spp.agent`) retries them with backoff.
"""

from __future__ import annotations

from oslo_log import log as logging

from os_vif_accel import validate

from vif_plug_spp import binding
from vif_plug_spp import datapath as dp_mod
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import feed
from vif_plug_spp import keys
from vif_plug_spp import protocol
from vif_plug_spp import sppctl
from vif_plug_spp import taas

LOG = logging.getLogger(__name__)

__all__ = ['Handlers']


class Handlers:
    """Plug, unplug and tap handling of one host."""

    def __init__(self, etcd: etcd_mod.EtcdClient,
                 spp: sppctl.SppCtlClient, host: str,
                 lock_path: str | None) -> None:
        self.etcd = etcd
        self.spp = spp
        self.host = host
        self.configs = binding.ConfigCache(spp, host, lock_path)
        self.taas: taas.Taas | None = None
        self._refused_config: str | None = None

    # -- configuration ------------------------------------------------------
    @property
    def datapath(self) -> dp_mod.Datapath | None:
        loaded = self.configs.current
        return loaded.datapath if loaded is not None else None

    def set_config(self, text: str) -> None:
        """Use ``text`` (raises one of binding.UNUSABLE if unusable)."""
        before = self.configs.current
        loaded = self.configs.load(text)
        if loaded is not before:
            self.taas = taas.Taas(self.spp, loaded.config, loaded.datapath) \
                if loaded.config.get('mirror') else None

    def refresh_config(self, text: str) -> None:
        """Follow a changed configuration; a bad one is reported once and
        the one in use is kept (the ports it serves stay served).
        """
        try:
            self.set_config(text)
        except binding.UNUSABLE as exc:
            if text != self._refused_config:
                self._refused_config = text
                LOG.error('SPP configuration of %s is unusable (%s); '
                          'keeping the previous one; rebuild it with '
                          'spp-config-build', self.host, exc)

    def build(self) -> None:
        """Create the components spp_vf lacks (raises when spp-ctl does
        not answer or refuses).
        """
        assert self.datapath is not None
        self.datapath.ensure_all()
        if self.taas is not None:
            self.taas.ensure_mirrors()

    # -- ports ----------------------------------------------------------------
    def handle(self, work: feed.Work) -> str:
        """Act on one queued item; returns what was done."""
        if work.kind is feed.Kind.TAP:
            return self.handle_tap(work.id)
        return self.handle_port(work.id)

    def handle_port(self, port_id: str) -> str:
        """Act on the newest ``action`` of one port."""
        host = self.host
        action_key = keys.action(host, port_id)
        status_key = keys.port_status(host, port_id)
        found = self.etcd.read(keys=[keys.bind_port(host, port_id),
                                     action_key, keys.configuration(host),
                                     status_key])
        bind_text = found.get(keys.bind_port(host, port_id))
        if bind_text is None:
            LOG.debug('Port %s: no bind_port (already deleted)', port_id)
            return 'gone'
        if found.get(keys.configuration(host)):
            self.refresh_config(found[keys.configuration(host)])
        loaded = self.configs.current
        assert loaded is not None
        try:
            bind = protocol.parse_bind_port(bind_text)
        except validate.InvalidInput as exc:
            LOG.error('Port %s: ignoring invalid binding: %s', port_id, exc)
            return 'invalid'
        try:
            bound = binding.bound(loaded, host, port_id, bind)
        except binding.NotServed as exc:
            LOG.error('Port %s: %s (host %s)', port_id, exc, host)
            return 'invalid'
        action = found.get(action_key)
        if action == keys.PLUG:
            return self._plug(bound, found.get(status_key))
        if action == keys.UNPLUG:
            return self._unplug(bound)
        if action is not None:
            LOG.error('Port %s: %s is %r, neither %r nor %r; left alone',
                      port_id, action_key, action[:60], keys.PLUG,
                      keys.UNPLUG)
        return 'ignored'

    def _plug(self, bound: binding.Binding, status: str | None) -> str:
        holder = self.etcd.get(bound.slot)
        if not bound.may_wire(holder):
            LOG.error('Port %s: %s holds %r, not this port; not wiring a '
                      'vhost the port does not own', bound.port_id,
                      bound.slot, holder)
            return 'not-owner'
        bind = bound.bind
        bound.datapath.plug(bind.vhost_id, bind.mac_address, bind.vlan_id)
        if status == keys.UP:
            # A replay (start, resync, spp-ctl back) of a port already
            # reported: no write, so neutron-server's port_status watch
            # (spp_neutron.status) is not handed one event per port and
            # resync_interval.  The plugin's wiring skips it alike.
            return 'plugged'
        # Only report up while the action is still plug (an unplug may
        # have arrived meanwhile).
        etcd, host = self.etcd, self.host
        etcd.txn([etcd.cmp_value(keys.action(host, bound.port_id),
                                 keys.PLUG)],
                 [etcd.op_put(keys.port_status(host, bound.port_id),
                              keys.UP)])
        return 'plugged'

    def _unplug(self, bound: binding.Binding) -> str:
        port_id, host, etcd = bound.port_id, self.host, self.etcd
        if self.taas is not None:
            self._teardown_taps_of(port_id)
        if bound.may_unwire(etcd.get(bound.slot)):
            bound.datapath.unplug(bound.bind.vhost_id)
        etcd.replace(bound.slot, port_id, keys.FREE)
        # Delete the port's keys only while the action still says
        # unplug: a re-bind in between must not lose its keys.
        action_key = keys.action(host, port_id)
        etcd.txn([etcd.cmp_value(action_key, keys.UNPLUG)],
                 [etcd.op_delete(keys.bind_port(host, port_id)),
                  etcd.op_delete(action_key),
                  etcd.op_delete(keys.port_status(host, port_id))])
        return 'unplugged'

    # -- tap flows (TaaS) ---------------------------------------------------
    def handle_tap(self, tap_id: str) -> str:
        """Act on the newest ``tap_action`` of one tap flow."""
        host = self.host
        found = self.etcd.read(keys=[keys.tap_info(host, tap_id),
                                     keys.tap_action(host, tap_id)])
        info_text = found.get(keys.tap_info(host, tap_id))
        if info_text is None:
            return 'gone'
        try:
            tap = taas.parse_tap_info(info_text)
        except validate.InvalidInput as exc:
            LOG.error('Tap flow %s: ignoring invalid tap_info: %s', tap_id,
                      exc)
            return 'invalid'
        if self.taas is None:
            LOG.error('Tap flow %s: host %s has no mirror configuration',
                      tap_id, host)
            return 'invalid'
        action = found.get(keys.tap_action(host, tap_id))
        if action == keys.PLUG:
            return self._plug_tap(tap_id, tap)
        if action == keys.UNPLUG:
            self._teardown_tap(tap_id, tap, guard=True)
            return 'unplugged'
        return 'ignored'

    def _plug_tap(self, tap_id: str, tap: taas.TapInfo) -> str:
        assert self.taas is not None
        vhosts = self._tap_vhosts(tap)
        if vhosts is None:
            LOG.warning('Tap flow %s: source or service port is not bound '
                        'on %s', tap_id, self.host)
            return 'port-gone'
        self.taas.plug(tap, *vhosts)
        etcd, host = self.etcd, self.host
        etcd.txn([etcd.cmp_value(keys.tap_action(host, tap_id), keys.PLUG)],
                 [etcd.op_put(keys.tap_status(host, tap_id), keys.UP)])
        return 'plugged'

    def _tap_vhosts(self, tap: taas.TapInfo
                    ) -> tuple[dp_mod.Vhost, dp_mod.Vhost] | None:
        """(source, service) vhosts, or None if either is not bound."""
        assert self.datapath is not None
        host = self.host
        found = self.etcd.read(keys=[keys.bind_port(host, tap.source_port),
                                     keys.bind_port(host, tap.service_port)])
        try:
            source, service = (
                protocol.parse_bind_port(found[keys.bind_port(host, port)])
                for port in (tap.source_port, tap.service_port))
        except (KeyError, validate.InvalidInput):
            return None
        return (self.datapath.vhost(source.vhost_id),
                self.datapath.vhost(service.vhost_id))

    def _teardown_tap(self, tap_id: str, tap: taas.TapInfo,
                      guard: bool) -> None:
        """Undo the wiring, free the mirrors, delete the tap keys (only
        while tap_action still says unplug when ``guard``).
        """
        assert self.taas is not None
        vhosts = self._tap_vhosts(tap)
        if vhosts is not None:
            self.taas.unplug(tap, *vhosts)
        host, etcd = self.host, self.etcd
        for mirror_id in (tap.mirror_in, tap.mirror_out):
            if mirror_id is not None:
                etcd.replace(keys.mirror(host, mirror_id), tap_id, keys.FREE)
        action_key = keys.tap_action(host, tap_id)
        etcd.txn([etcd.cmp_value(action_key, keys.UNPLUG)] if guard else [],
                 [etcd.op_delete(keys.tap_info(host, tap_id)),
                  etcd.op_delete(action_key),
                  etcd.op_delete(keys.tap_status(host, tap_id))])

    def _teardown_taps_of(self, port_id: str) -> None:
        """A port going away takes every tap flow naming it along."""
        prefix = keys.tap_info_prefix(self.host)
        for kv in self.etcd.get_prefix(prefix)[0]:
            try:
                tap = taas.parse_tap_info(kv.value)
            except validate.InvalidInput:
                continue
            if port_id in (tap.source_port, tap.service_port):
                tap_id = keys.suffix(kv.key, prefix)
                LOG.info('Port %s is unplugged: removing tap flow %s',
                         port_id, tap_id)
                self._teardown_tap(tap_id, tap, guard=False)
