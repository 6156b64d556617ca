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
"""What the os-vif plugin does for one port, independent of os-vif.

plug: one etcd read (configuration, ``bind_port``, ``port_status`` and
our agent's marker, from one snapshot), cross-checks (binding exists,
the vhost belongs to this port, Nova's socket path and MAC agree with
it), wiring if spp_vf lacks it (idempotent, serialised per host with the
agent), then ``port_status = up`` unless it already says so.
unplug: removes the classifier/VLAN wiring only; the vhost slot and the
keys stay for the agent's unplug, because Neutron owns the allocation.

Both touch spp_vf and ``port_status`` only while our agent serves the
host (:mod:`vif_plug_spp.served`): networking-spp's agent deletes the
classifier entry it set at unbind itself and exits if spp_vf refuses
that delete, so on its hosts the plugin only verifies the binding.
"""

from __future__ import annotations

from oslo_log import log as logging

from os_vif_accel import validate

from vif_plug_spp import binding
from vif_plug_spp import datapath
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import exception
from vif_plug_spp import keys
from vif_plug_spp import protocol
from vif_plug_spp import served
from vif_plug_spp import sppctl

LOG = logging.getLogger(__name__)

__all__ = ['PortWiring']


class PortWiring:
    def __init__(self, etcd: etcd_mod.EtcdClient,
                 spp: sppctl.SppCtlClient, host: str,
                 socket_template: str, lock_path: str | None) -> None:
        self.etcd = etcd
        self.spp = spp
        self.host = host
        self.socket_template = socket_template
        self.configs = binding.ConfigCache(spp, host, lock_path)

    # -- helpers -----------------------------------------------------------
    def _etcd_error(self, exc: Exception, operation: str,
                    port_id: str) -> Exception:
        if isinstance(exc, etcd_mod.EtcdConfigError):
            return exception.EtcdAccessRefused(operation=operation,
                                               port_id=port_id, reason=exc)
        return exception.EtcdUnreachable(url=self.etcd.url,
                                         operation=operation,
                                         port_id=port_id, reason=exc)

    def _mismatch(self, port_id: str, reason: str) -> Exception:
        return exception.BindingMismatch(port_id=port_id, host=self.host,
                                         reason=reason)

    def _read(self, port_id: str, operation: str) -> dict[str, str]:
        try:
            return self.etcd.read(
                keys=[keys.configuration(self.host),
                      keys.bind_port(self.host, port_id),
                      keys.action(self.host, port_id),
                      keys.port_status(self.host, port_id),
                      served.marker(self.host)])
        except etcd_mod.EtcdError as exc:
            raise self._etcd_error(exc, operation, port_id)

    def _holder(self, bound: binding.Binding, operation: str) -> str | None:
        """Who holds the vhost (one small read; the whole vhost prefix
        can be hundreds of keys).
        """
        try:
            return self.etcd.get(bound.slot)
        except etcd_mod.EtcdError as exc:
            raise self._etcd_error(exc, operation, bound.port_id)

    def _load(self, config_text: str, port_id: str) -> binding.Loaded:
        """The configuration in use (rebuilt only when the builder
        changed it).
        """
        try:
            return self.configs.load(config_text)
        except binding.UNUSABLE as exc:
            raise self._mismatch(
                port_id, 'the SPP configuration %s is unusable (%s); '
                'rebuild it with spp-config-build' % (
                    keys.configuration(self.host), exc))

    def _binding(self, found: dict[str, str], port_id: str
                 ) -> tuple[binding.Loaded, protocol.BindPort] | None:
        """The configuration and the port's parsed ``bind_port``, None
        when it has none.
        """
        conf_key = keys.configuration(self.host)
        if conf_key not in found:
            raise exception.HostNotConfigured(host=self.host, key=conf_key,
                                              url=self.etcd.url,
                                              port_id=port_id)
        bind_key = keys.bind_port(self.host, port_id)
        if bind_key not in found:
            return None
        try:
            bind = protocol.parse_bind_port(found[bind_key])
        except validate.InvalidInput as exc:
            raise self._mismatch(port_id, '%s holds an invalid value: %s'
                                 % (bind_key, exc))
        return self._load(found[conf_key], port_id), bind

    def _check(self, found: dict[str, str], port_id: str,
               loaded: binding.Loaded, bind: protocol.BindPort, mac: str,
               socket_path: str) -> binding.Binding:
        """Nova's VIF against Neutron's binding (BindingMismatch)."""
        if found.get(keys.action(self.host, port_id)) == keys.UNPLUG:
            raise self._mismatch(
                port_id, 'Neutron is unbinding the port (%s = unplug)'
                % keys.action(self.host, port_id))
        expected = self.socket_template.format(vhost_id=bind.vhost_id)
        if socket_path != expected:
            raise self._mismatch(
                port_id, 'Nova was given socket %s but the port is bound to '
                'vhost %d, whose socket is %s; check [os_vif_spp] '
                'vhostuser_socket_template' % (socket_path, bind.vhost_id,
                                               expected))
        if bind.mac_address != mac:
            raise self._mismatch(port_id, 'the VIF has MAC %s but the '
                                 'binding says %s' % (mac, bind.mac_address))
        try:
            bound = binding.bound(loaded, self.host, port_id, bind)
        except binding.NotServed as exc:
            raise self._mismatch(port_id, str(exc))
        holder = self._holder(bound, 'plugging')
        if not bound.may_wire(holder):
            raise self._mismatch(
                port_id, 'vhost %d is allocated to %r, not to this port '
                '(%s); the binding is stale - rebind the port' % (
                    bind.vhost_id, holder, bound.slot))
        return bound

    def _wire(self, bound: binding.Binding, operation: str) -> bool:
        """Plug or unplug in spp_vf, errors as the plugin's."""
        bind = bound.bind
        try:
            if operation == 'plug':
                return bound.datapath.plug(bind.vhost_id, bind.mac_address,
                                           bind.vlan_id)
            return bound.datapath.unplug(bind.vhost_id)
        except datapath.LockError as exc:
            raise exception.HostLockFailed(port_id=bound.port_id,
                                           reason=exc)
        except datapath.WiringError as exc:
            raise exception.SppCtlFailed(url=self.spp.url,
                                         operation=operation,
                                         port_id=bound.port_id, reason=exc)

    # -- operations ----------------------------------------------------------
    def plug(self, port_id: str, mac: str, socket_path: str) -> bool:
        """Verify and wire; returns True if spp_vf had to be changed."""
        found = self._read(port_id, 'plugging')
        got = self._binding(found, port_id)
        if got is None:
            raise exception.PortNotBound(
                port_id=port_id, host=self.host,
                key=keys.bind_port(self.host, port_id), url=self.etcd.url)
        bound = self._check(found, port_id, *got, mac, socket_path)
        if not served.served_by_us(found, self.host):
            LOG.info('Port %s is bound; its wiring is left to the agent '
                     'serving %s (not ours)', port_id,
                     keys.action_prefix(self.host))
            return False
        changed = self._wire(bound, 'plug')
        status = keys.port_status(self.host, port_id)
        if found.get(status) != keys.UP:
            # Only while Neutron's action is still ``plug``: an unbind our
            # agent finished meanwhile deleted the port's keys, and an
            # unguarded put would leave an orphan ``up`` behind (the
            # agent's own report is guarded the same way).
            try:
                self.etcd.txn([self.etcd.cmp_value(
                    keys.action(self.host, port_id), keys.PLUG)],
                    [self.etcd.op_put(status, keys.UP)])
            except etcd_mod.EtcdError as exc:
                raise self._etcd_error(exc, 'reporting up for', port_id)
        if changed:
            LOG.info('Wired port %s (vhost %d, vlan %s) into spp_vf',
                     port_id, bound.bind.vhost_id, bound.bind.vlan_id)
        return changed

    def _unplug_binding(self, found: dict[str, str], port_id: str
                        ) -> binding.Binding | None:
        """The binding to unplug, None when there is nothing to do."""
        try:
            got = self._binding(found, port_id)
        except exception.HostNotConfigured:
            LOG.warning('Host %s has no SPP configuration; nothing to '
                        'unplug for port %s', self.host, port_id)
            return None
        if got is None:
            LOG.info('Port %s has no SPP binding on %s any more; nothing to '
                     'unplug', port_id, self.host)
            return None
        if not served.served_by_us(found, self.host):
            LOG.info('Port %s: Neutron\'s unbind makes the agent serving '
                     '%s (not ours) remove its wiring', port_id,
                     keys.action_prefix(self.host))
            return None
        try:
            return binding.bound(got[0], self.host, port_id, got[1])
        except binding.NotServed as exc:
            LOG.warning('Port %s: %s; nothing to unplug', port_id, exc)
            return None

    def unplug(self, port_id: str) -> bool:
        """Remove the wiring; a port without binding is already gone."""
        found = self._read(port_id, 'unplugging')
        bound = self._unplug_binding(found, port_id)
        if bound is None:
            return False
        holder = self._holder(bound, 'unplugging')
        if not bound.may_unwire(holder):
            LOG.warning('Port %s: vhost %d now belongs to %s; leaving its '
                        'wiring alone', port_id, bound.bind.vhost_id, holder)
            return False
        return self._wire(bound, 'unplug')
