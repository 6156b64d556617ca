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
"""os-vif plugin ``spp`` for SPP (spp_vf) vhost-user ports.

A thin dispatcher: it validates the VIF and hands the port to
:class:`~vif_plug_spp.wiring.PortWiring`, which checks the Neutron
binding in etcd and makes sure spp_vf carries the port's classifier and
VLAN wiring.  Stock Nova hands SPP ports to the ``noop`` plugin; using
this one needs the Nova change described in the SPP docs.
"""

from __future__ import annotations

import socket
from typing import Any

from os_vif import objects
from os_vif import plugin
from oslo_config import cfg

from os_vif_accel import etcd_opts
from os_vif_accel import opts as accel_opts
from os_vif_accel import plugin as accel_plugin
from os_vif_accel import validate

from vif_plug_spp import constants
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import exception
from vif_plug_spp import keys
from vif_plug_spp import sppctl
from vif_plug_spp import wiring

__all__ = ['SppPlugin']


def _etcd_client(conf: Any) -> etcd_mod.EtcdClient:
    """The etcd client of ``[os_vif_spp]`` (a bad option is an SppError
    naming it, raised by the first plug, not a traceback).
    """
    try:
        return etcd_mod.EtcdClient.from_settings(
            etcd_opts.settings_from_conf(conf, 'os_vif_spp'),
            connect_timeout=conf.etcd_connect_timeout,
            read_timeout=conf.etcd_read_timeout,
            retry_window=conf.etcd_retry_window)
    except (etcd_opts.ConfigError, etcd_mod.EtcdConfigError) as exc:
        raise exception.SppError(port_id='(any)', reason=str(exc))


class SppPlugin(accel_plugin.PortErrors, plugin.PluginBase):
    """Verify and repair SPP vhost-user wiring when Nova plugs a VIF."""

    NAME = constants.PLUGIN_NAME
    INVALID_PORT = exception.InvalidPort
    UNSUPPORTED_VIF = exception.UnsupportedVIF

    CONFIG_OPTS = [
        *etcd_opts.connection_opts('etcd server holding the SPP keys'),
        *accel_opts.client_timeout_opts('etcd', 'etcd'),
        cfg.StrOpt('spp_ctl_url', default=constants.DEFAULT_SPP_CTL_URL,
                   help='Base URL of spp-ctl\'s REST API (its -b/-a '
                        'options).'),
        *accel_opts.client_timeout_opts('spp_ctl', 'spp-ctl'),
        cfg.StrOpt('host', default=socket.gethostname(),
                   sample_default='<hostname>',
                   help='Host name in the etcd keys. Must equal the '
                        'Neutron binding host (nova-compute\'s [DEFAULT] '
                        'host), the SPP agent\'s host and the builder\'s '
                        'SPP_HOST.'),
        cfg.StrOpt('vhostuser_socket_template',
                   default=constants.DEFAULT_SOCKET_TEMPLATE,
                   help='vhost-user socket path of vhost N, with '
                        '{vhost_id}; must match what the spp mechanism '
                        'driver hands Nova and spp_vf\'s vhost PMD.'),
        cfg.ListOpt('vhostuser_socket_dirs', default=['/tmp'],
                    help='Directories vhost-user socket paths must be in.'),
        cfg.StrOpt('lock_path', default=constants.DEFAULT_LOCK_TEMPLATE,
                   help='Lock file serialising spp_vf changes with the '
                        'SPP agent on this host ({host} is replaced). '
                        'Empty: serialise within this process only.'),
    ]

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._wiring: wiring.PortWiring | None = None
        self._settings: tuple[Any, ...] | None = None

    def _current_settings(self) -> tuple[Any, ...]:
        conf = self.config
        return tuple(getattr(conf, opt.dest) for opt in self.CONFIG_OPTS)

    @property
    def wiring(self) -> wiring.PortWiring:
        """Built on first use (loading the plugin does no I/O) and again
        whenever an option changed (e.g. a reloaded configuration).
        """
        settings = self._current_settings()
        if self._wiring is None or settings != self._settings:
            if self._wiring is not None:
                self._wiring.etcd.close()
                self._wiring.spp.close()
            conf = self.config
            host = conf.host
            try:
                keys.vhost_prefix(host)
            except keys.InvalidKeyPart as exc:
                raise exception.SppError(port_id='(any)', reason=str(exc))
            etcd = _etcd_client(conf)
            spp = sppctl.SppCtlClient(
                conf.spp_ctl_url,
                connect_timeout=conf.spp_ctl_connect_timeout,
                read_timeout=conf.spp_ctl_read_timeout,
                retry_window=conf.spp_ctl_retry_window)
            lock = conf.lock_path.format(host=host) if conf.lock_path \
                else None
            self._wiring = wiring.PortWiring(
                etcd, spp, host, conf.vhostuser_socket_template, lock)
            self._settings = settings
        return self._wiring

    def _check(self, vif: Any) -> str:
        if not isinstance(vif, objects.vif.VIFVHostUser):
            raise self._unsupported(
                vif, 'SPP ports are vhost-user ports (VIFVHostUser)')
        try:
            return validate.uuid(self._port_id(vif), 'id')
        except validate.InvalidInput as exc:
            raise self._invalid(vif, exc)

    # -- os-vif API --------------------------------------------------------
    def describe(self) -> objects.host_info.HostPluginInfo:
        return objects.host_info.HostPluginInfo(
            plugin_name=self.NAME,
            vif_info=[accel_plugin.vif_info(objects.vif.VIFVHostUser,
                                            '1.1')])

    def plug(self, vif: Any, instance_info: Any) -> None:
        port_id = self._check(vif)
        try:
            mac = validate.mac(vif.address if 'address' in vif else None,
                               'address')
            path = validate.socket_path(
                vif.path if 'path' in vif else None,
                self.config.vhostuser_socket_dirs, 'path')
            if 'mode' in vif and vif.mode != 'server':
                raise validate.InvalidInput(
                    'mode', vif.mode, 'spp_vf runs its vhost ports as '
                    'clients (--vhost-client), so QEMU must be the server')
        except validate.InvalidInput as exc:
            raise self._invalid(vif, exc)
        self.wiring.plug(port_id, mac, path)

    def unplug(self, vif: Any, instance_info: Any) -> None:
        port_id = self._check(vif)
        self.wiring.unplug(port_id)
