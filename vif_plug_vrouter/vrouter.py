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
"""os-vif plugin ``vrouter`` and its alias ``contrail_vrouter``.

A thin dispatcher: one method per VIF class turns the os-vif objects into
an agent port record (:mod:`vif_plug_vrouter.record`) and hands it to the
:class:`~vif_plug_vrouter.ports.PortManager`, which owns the port file and
the agent calls.
"""

from __future__ import annotations

from typing import Any

from os_vif import objects
from os_vif import plugin
from oslo_config import cfg
from oslo_log import log as logging

from os_vif_accel import opts as accel_opts
from os_vif_accel import plugin as accel_plugin
from os_vif_accel import validate

from vif_plug_vrouter import agent_client
from vif_plug_vrouter import constants
from vif_plug_vrouter import display_name
from vif_plug_vrouter import exception
from vif_plug_vrouter import offload
from vif_plug_vrouter import port_files
from vif_plug_vrouter import ports
from vif_plug_vrouter import record
from vif_plug_vrouter import sriov

LOG = logging.getLogger(__name__)

__all__ = ['VrouterPlugin', 'ContrailVrouterPlugin']


def _offload(vif: Any) -> Any:
    """Return the DatapathOffloadRepresentor of ``vif``, or None."""
    profile = vif.port_profile if 'port_profile' in vif else None
    if profile is None or 'datapath_offload' not in profile.fields:
        return None
    return profile.datapath_offload if 'datapath_offload' in profile \
        else None


def _field(obj: Any, name: str) -> Any:
    """Read a field os-vif may have left unset (it raises then)."""
    if name not in obj or getattr(obj, name) is None:
        raise validate.InvalidInput(name, None,
                                    'missing from %s' % type(obj).__name__)
    return getattr(obj, name)


class VrouterPlugin(accel_plugin.PortErrors, plugin.PluginBase):
    """Plug VIFs into the OpenSDN / Tungsten Fabric vRouter."""

    NAME = constants.PLUGIN_NAME
    INVALID_PORT = exception.InvalidPort
    UNSUPPORTED_VIF = exception.UnsupportedVIF

    CONFIG_OPTS = [
        cfg.StrOpt('agent_url', default=constants.DEFAULT_AGENT_URL,
                   help='Base URL of the vRouter agent port API. The agent '
                        'listens on port 9091 of every IPv4 address; '
                        'use https:// only behind a TLS proxy.'),
        *accel_opts.client_timeout_opts(
            'agent', 'the agent', connect=1.0, read=10.0, retry=3.0, helps=(
                'Seconds to wait for a TCP connection to the agent.',
                'Seconds to wait for the agent to answer one request. An '
                'agent that does not answer in time fails the plug (no '
                'retry).',
                'Seconds during which a request the agent could not '
                'receive (connection refused or reset) is retried with '
                'exponential backoff. Answers, including errors, are never '
                'retried.')),
        cfg.StrOpt('agent_ca_file',
                   help='CA bundle to verify an https agent_url.'),
        cfg.StrOpt('agent_cert_file',
                   help='Client certificate for an https agent_url.'),
        cfg.StrOpt('agent_key_file',
                   help='Private key of agent_cert_file.'),
        cfg.StrOpt('ports_dir', default=constants.DEFAULT_PORTS_DIR,
                   help='Directory of the agent port files; must be the '
                        'directory the agent replays at start-up.'),
        cfg.BoolOpt('privileged_port_files', default=True,
                    help='Write port files through the privsep daemon '
                         '(needed when nova-compute does not run as root). '
                         'Disable only if this process may write '
                         'ports_dir itself.'),
        cfg.StrOpt('generic_port_type', default='NovaVMPort',
                   choices=[('NovaVMPort', 'VM port (agent type 0)'),
                            ('NameSpacePort',
                             'namespace port (agent type 1), e.g. for '
                             'libvirt LXC guests')],
                   help='Agent port type used for VIFGeneric ports. Set '
                        'NameSpacePort on hosts whose guests are LXC '
                        'containers.'),
        cfg.ListOpt('vhostuser_socket_dirs',
                    default=[constants.DEFAULT_VHOSTUSER_DIR],
                    help='Directories vhost-user socket paths must be in.'),
        cfg.BoolOpt('defer_kernel_ports_when_agent_down', default=True,
                    help='When the agent stays unreachable for '
                         'agent_retry_window, keep the port file of a '
                         'kernel (VIFGeneric) port and report success with '
                         'a WARNING: the agent adds the port from its file '
                         'when it starts. If false, the plug fails.'),
        cfg.BoolOpt('defer_vhostuser_ports_when_agent_down', default=False,
                    help='Same as defer_kernel_ports_when_agent_down for '
                         'DPDK vhost-user ports. Off by default: QEMU '
                         'cannot connect before the vRouter creates or '
                         'opens the socket.'),
        cfg.FloatOpt('deferred_retry_interval', default=10.0, min=0.01,
                     help='Seconds between attempts to add ports that were '
                          'deferred because the agent was down. The '
                          'kernel-mode agent skips port files whose TAP '
                          'does not exist yet when it starts, so deferred '
                          'ports are re-added from this process as soon '
                          'as the agent answers.'),
        cfg.StrOpt('sysfs_root', default='/sys',
                   help='Where sysfs is mounted. SmartNIC offload reads '
                        'VFs, PFs and representors below it and binds VF '
                        'drivers through it. Change only for tests.'),
        cfg.StrOpt('forwarder_vf_driver', default='vfio-pci',
                   help='Driver a VF is bound to for vnic_type '
                        'virtio-forwarder (the forwarder drives the VF '
                        'from user space). The previous driver is '
                        'restored at unplug.'),
        cfg.BoolOpt('nova_display_name_lookup', default=True,
                    help='On a Nova without nova_patches/0003 (it sends '
                         'the domain name), look the display name the '
                         'agent uses for DHCP and vDNS up in Nova, as the '
                         'TF plugin does: one conductor call per plug. If '
                         'false or if the lookup fails, the domain name is '
                         'sent with a warning. Without Nova, '
                         'InstanceInfo.name is used as given.'),
        cfg.FloatOpt('vf_driver_timeout', default=5.0, min=0.1,
                     max=constants.MAX_VF_DRIVER_TIMEOUT,
                     help='Seconds to wait for a VF to show up bound to '
                          '(or unbound from) a driver.'),
    ]

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._manager: ports.PortManager | None = None
        self._offloader: offload.Offloader | None = None

    # -- helpers -----------------------------------------------------------
    @property
    def manager(self) -> ports.PortManager:
        """Built on first use so that loading the plugin does no I/O."""
        if self._manager is None:
            conf = self.config
            agent = agent_client.AgentClient(
                conf.agent_url,
                connect_timeout=conf.agent_connect_timeout,
                read_timeout=conf.agent_read_timeout,
                retry_window=conf.agent_retry_window,
                ca_file=conf.agent_ca_file, cert_file=conf.agent_cert_file,
                key_file=conf.agent_key_file)
            store = port_files.PortFileStore(
                conf.ports_dir, privileged=conf.privileged_port_files)
            self._manager = ports.PortManager(
                agent, store, retry_interval=conf.deferred_retry_interval)
        return self._manager

    @property
    def offloader(self) -> offload.Offloader:
        """SmartNIC discovery cache and host steps, built on first use."""
        if self._offloader is None:
            from vif_plug_vrouter import privileged
            self._offloader = offload.Offloader(
                sriov.SriovInventory(self.config.sysfs_root), privileged,
                forwarder_driver=self.config.forwarder_vf_driver,
                driver_timeout=self.config.vf_driver_timeout)
        return self._offloader

    # -- os-vif API --------------------------------------------------------
    def describe(self) -> objects.host_info.HostPluginInfo:
        # The port profile carries the SmartNIC representor (1.1 added
        # datapath_offload).
        profiles = [objects.host_info.HostPortProfileInfo(
            profile_object_name=objects.vif.VIFPortProfileBase.__name__,
            min_version='1.0', max_version='1.1')]
        return objects.host_info.HostPluginInfo(
            plugin_name=self.NAME,
            vif_info=[
                accel_plugin.vif_info(objects.vif.VIFGeneric, '1.0'),
                accel_plugin.vif_info(objects.vif.VIFVHostUser, '1.1',
                                      profiles),
                accel_plugin.vif_info(objects.vif.VIFHostDevice, '1.0',
                                      profiles),
            ])

    def plug(self, vif: Any, instance_info: Any) -> None:
        try:
            # os-vif raises NotImplementedError for an unset field.
            _field(vif, 'id')
            _field(instance_info, 'uuid')
        except validate.InvalidInput as exc:
            raise self._invalid(vif, exc)
        if isinstance(vif, objects.vif.VIFGeneric):
            self._plug_generic(vif, instance_info)
        elif isinstance(vif, objects.vif.VIFVHostUser):
            if _offload(vif) is not None:
                self._plug_offload(vif, instance_info, offload.FORWARDER)
            else:
                self._plug_vhostuser(vif, instance_info)
        elif isinstance(vif, objects.vif.VIFHostDevice):
            self._plug_offload(vif, instance_info, offload.DIRECT)
        else:
            raise self._unsupported(vif, _SUPPORTED)

    def unplug(self, vif: Any, instance_info: Any) -> None:
        if not isinstance(vif, (objects.vif.VIFGeneric,
                                objects.vif.VIFVHostUser,
                                objects.vif.VIFHostDevice)):
            raise self._unsupported(vif, _SUPPORTED)
        try:
            port_id = validate.uuid(self._port_id(vif), 'id')
        except validate.InvalidInput as exc:
            raise self._invalid(vif, exc)
        if isinstance(vif, objects.vif.VIFHostDevice) or \
                _offload(vif) is not None:
            self._unplug_offload(port_id)
        else:
            self.manager.remove(port_id)

    def _display_name(self, instance_info: Any) -> str:
        """Nova's display name of the instance (see display_name)."""
        return display_name.resolve(instance_info, self.NAME,
                                    self.config.nova_display_name_lookup)

    def _add(self, vif: Any, instance_info: Any, defer: bool,
             **fields: Any) -> None:
        """Record (a bad field: this port's InvalidPort) -> manager."""
        try:
            rec = record.from_vif(vif, instance_info,
                                  display_name=self._display_name(
                                      instance_info), **fields)
        except validate.InvalidInput as exc:
            raise self._invalid(vif, exc)
        self.manager.add(rec, defer_if_agent_down=defer)

    # -- per VIF class ---------------------------------------------------
    def _plug_generic(self, vif: Any, instance_info: Any) -> None:
        """Kernel vRouter: libvirt creates the TAP, the agent adopts it."""
        port_type = constants.PORT_TYPES[self.config.generic_port_type]
        try:
            name = _field(vif, 'vif_name')
        except validate.InvalidInput as exc:
            raise self._invalid(vif, exc)
        self._add(vif, instance_info,
                  self.config.defer_kernel_ports_when_agent_down,
                  system_name=name, port_type=port_type)

    def _vhostuser_mode(self, vif: Any) -> int:
        """os-vif's mode is QEMU's role: server -> 1, client -> 0."""
        if _field(vif, 'mode') == 'server':
            return constants.VHOSTUSER_MODE_SERVER
        LOG.warning('Port %s asks for vhost-user client mode (QEMU client, '
                    'vRouter listening); current DPDK vRouters force server '
                    'mode and never create the socket, so the guest may '
                    'not get a link.', vif.id)
        return constants.VHOSTUSER_MODE_CLIENT

    def _check_socket(self, vif: Any) -> None:
        """The DPDK vRouter only serves ``<dir>/uvh_vif_<system-name>``."""
        path = validate.socket_path(_field(vif, 'path'),
                                    self.config.vhostuser_socket_dirs,
                                    'path')
        expected = constants.VHOSTUSER_SOCKET_PREFIX + vif.vif_name
        if path.rsplit('/', 1)[-1] != expected:
            raise validate.InvalidInput(
                'path', path, 'the DPDK vRouter serves the socket of this '
                'port as %s, so QEMU would never meet it' % expected)

    def _plug_vhostuser(self, vif: Any, instance_info: Any) -> None:
        """DPDK vRouter: the vRouter serves ``uvh_vif_<vif_name>``."""
        try:
            _field(vif, 'vif_name')
            self._check_socket(vif)
            mode = self._vhostuser_mode(vif)
        except validate.InvalidInput as exc:
            raise self._invalid(vif, exc)
        self._add(vif, instance_info,
                  self.config.defer_vhostuser_ports_when_agent_down,
                  system_name=vif.vif_name, vhostuser_mode=mode,
                  port_type=constants.PORT_TYPES['NovaVMPort'])

    # -- SmartNIC offload (vnic direct / virtio-forwarder) ---------------
    def _offload_spec(self, vif: Any, mode: str) -> offload.Spec:
        """Check the VIF and build the offload spec (no host access)."""
        rep = _offload(vif)
        if mode == offload.DIRECT:
            ethernet = objects.fields.VIFHostDeviceDevType.ETHERNET
            if _field(vif, 'dev_type') != ethernet:
                raise self._unsupported(vif, 'dev_type %s: only ethernet '
                                             '(<interface type="hostdev">) '
                                             'VFs can be offloaded'
                                        % vif.dev_type)
            if rep is None:
                raise self._unsupported(vif, 'VIFHostDevice needs a '
                                             'DatapathOffloadRepresentor '
                                             'port profile (vnic_type '
                                             'direct)')
        if not isinstance(rep, objects.vif.DatapathOffloadRepresentor):
            raise self._unsupported(vif, 'datapath offload %s is not '
                                         'supported' % type(rep).__name__)
        address = rep.representor_address \
            if 'representor_address' in rep else None
        name = rep.representor_name if 'representor_name' in rep else None
        if mode == offload.DIRECT and address and \
                'dev_address' in vif and str(vif.dev_address) != address:
            raise validate.InvalidInput(
                'representor_address', address,
                'differs from the VIF\'s dev_address %s' % vif.dev_address)
        if name is None and mode == offload.FORWARDER and \
                'vif_name' in vif:
            name = vif.vif_name
        network = vif.network if 'network' in vif else None
        return offload.Spec.build(
            port_id=self._port_id(vif), mode=mode, vf=address, name=name,
            mac=str(vif.address) if 'address' in vif else None,
            mtu=network.mtu if network is not None and 'mtu' in network
            else None)

    def _plug_offload(self, vif: Any, instance_info: Any, mode: str) -> None:
        """Representor renamed and configured, VF set up, agent told."""
        try:
            spec = self._offload_spec(vif, mode)
        except validate.InvalidInput as exc:
            raise self._invalid(vif, exc)

        name = self._display_name(instance_info)

        def make_record(system_name: str) -> dict[str, Any]:
            try:
                return record.from_vif(
                    vif, instance_info, system_name=system_name,
                    display_name=name,
                    port_type=constants.PORT_TYPES['NovaVMPort'],
                    vhostuser_mode=(constants.VHOSTUSER_MODE_SERVER
                                    if mode == offload.FORWARDER and
                                    _field(vif, 'mode') == 'server'
                                    else constants.VHOSTUSER_MODE_CLIENT))
            except validate.InvalidInput as exc:
                raise self._invalid(vif, exc)

        # A virtio-forwarder port is a vhost-user port for QEMU: it gets
        # the vhost-user policy; a direct port behaves like a kernel one
        # (the agent adopts the representor netdev from its file).
        defer = (self.config.defer_vhostuser_ports_when_agent_down
                 if mode == offload.FORWARDER
                 else self.config.defer_kernel_ports_when_agent_down)
        offload.add_port(self.offloader, self.manager, spec, make_record,
                         defer)

    def _unplug_offload(self, port_id: str) -> None:
        offload.remove_port(self.offloader, self.manager, port_id)


_SUPPORTED = 'only VIFGeneric, VIFVHostUser and VIFHostDevice are supported'


class ContrailVrouterPlugin(VrouterPlugin):
    """The ``contrail_vrouter`` name Nova uses for DPDK vhost-user ports.

    Nova maps ``vhostuser`` + ``vhostuser_vrouter_plug`` to this name; it
    only ever hands it VIFVHostUser, and it reads its options from
    ``[os_vif_contrail_vrouter]``.
    """

    NAME = constants.ALIAS_PLUGIN_NAME

    def describe(self) -> objects.host_info.HostPluginInfo:
        return objects.host_info.HostPluginInfo(
            plugin_name=self.NAME,
            vif_info=[accel_plugin.vif_info(objects.vif.VIFVHostUser,
                                            '1.1')])
