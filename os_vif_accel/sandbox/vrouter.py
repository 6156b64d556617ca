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
"""vRouter round trip of ``os-vif-accel-sandbox``, self-contained.

Starts the agent emulator on a free loopback port with a temporary ports
directory, configures the ``vrouter`` plugins through oslo.config (the
embedded defaults plus the emulator's URL and directory), then plugs and
unplugs a kernel (VIFGeneric) and a DPDK (VIFVHostUser) port through
``os_vif.initialize()`` / ``os_vif.plug()`` / ``os_vif.unplug()``, printing
what the agent received and the port files.  Run as root it uses a real
privsep daemon for the port files, as nova-compute would.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
import uuid
from typing import Any, Callable

Out = Callable[[str], None]


def privsep_helper_command(ports_dir: str) -> str:
    """``helper_command`` running this interpreter's privsep-helper as root.

    The daemon reads the directories it may write port files in from its
    own configuration, never from the caller, so ``ports_dir`` is listed
    in a file next to it that only the daemon is given.
    """
    conf = os.path.join(os.path.dirname(ports_dir), 'privsep.conf')
    with open(conf, 'w') as f:
        f.write('[vif_plug_vrouter_privileged]\n'
                'allowed_ports_dirs = %s\n' % ports_dir)
    helper = os.path.join(os.path.dirname(sys.executable), 'privsep-helper')
    return '%s --config-file %s' % (helper, conf)


def _configure(emulator_url: str, ports_dir: str, sock_dir: str) -> None:
    from oslo_config import cfg
    for group in ('os_vif_vrouter', 'os_vif_contrail_vrouter'):
        cfg.CONF.set_override('agent_url', emulator_url, group)
        cfg.CONF.set_override('ports_dir', ports_dir, group)
        cfg.CONF.set_override('vhostuser_socket_dirs', [sock_dir], group)
        cfg.CONF.set_override('privileged_port_files', os.geteuid() == 0,
                              group)
    if os.geteuid() == 0:
        # Importing the context registers its configuration section.
        importlib.import_module('vif_plug_vrouter.privsep')
        cfg.CONF.set_override('helper_command',
                              privsep_helper_command(ports_dir),
                              'vif_plug_vrouter_privileged')


def _vifs(sock_dir: str) -> list[tuple[str, Any, Any]]:
    from os_vif import objects
    net = objects.network.Network(
        id=str(uuid.uuid4()), label='sandbox-net', mtu=1500,
        subnets=objects.subnet.SubnetList(objects=[
            objects.subnet.Subnet(
                cidr='10.10.0.0/24',
                ips=objects.fixed_ip.FixedIPList(objects=[
                    objects.fixed_ip.FixedIP(address='10.10.0.5')])),
            objects.subnet.Subnet(
                cidr='fd00:10::/64',
                ips=objects.fixed_ip.FixedIPList(objects=[
                    objects.fixed_ip.FixedIP(address='fd00:10::5')]))]))
    inst = objects.instance_info.InstanceInfo(
        uuid=str(uuid.uuid4()), name='instance-0000002a',
        project_id=uuid.uuid4().hex)
    kernel_id, dpdk_id = str(uuid.uuid4()), str(uuid.uuid4())
    kernel = objects.vif.VIFGeneric(
        id=kernel_id, address='fa:16:3e:00:00:01', network=net,
        plugin='vrouter', vif_name=('tap' + kernel_id)[:14])
    dpdk_name = ('tap' + dpdk_id)[:14]
    dpdk = objects.vif.VIFVHostUser(
        id=dpdk_id, address='fa:16:3e:00:00:02', network=net,
        plugin='contrail_vrouter', vif_name=dpdk_name, mode='server',
        path=os.path.join(sock_dir, 'uvh_vif_' + dpdk_name))
    return [('kernel (VIFGeneric, plugin vrouter)', kernel, inst),
            ('DPDK (VIFVHostUser, plugin contrail_vrouter)', dpdk, inst)]


def run_vrouter(out: Out) -> None:
    """The vRouter round trip; raises on any unexpected state."""
    import os_vif

    from vif_plug_vrouter.emulator import server
    work = tempfile.mkdtemp(prefix='os-vif-accel-sandbox-')
    ports_dir = os.path.join(work, 'ports')
    sock_dir = os.path.join(work, 'vrouter')
    emu = server.AgentEmulator(ports_dir).start()
    try:
        os_vif.initialize()
        _configure(emu.url, ports_dir, sock_dir)
        out('vRouter agent emulator on %s, port files in %s' %
            (emu.url, ports_dir))
        for title, vif, inst in _vifs(sock_dir):
            out('\n== plug %s port %s' % (title, vif.id))
            os_vif.plug(vif, inst)
            method, path, body = emu.requests[-1]
            out('agent received: %s %s %s' % (method, path, body.decode()))
            with open(os.path.join(ports_dir, vif.id)) as f:
                out('port file %s:\n%s' % (vif.id, f.read().rstrip()))
            os_vif.plug(vif, inst)
            out('plugged again: no change (%d port(s) in the agent)' %
                len(emu.state.ports))
            os_vif.unplug(vif, inst)
            method, path, _ = emu.requests[-1]
            left = os.path.exists(os.path.join(ports_dir, vif.id))
            out('== unplug: agent received %s %s; port file left: %s; '
                'agent ports: %d' % (method, path, left,
                                     len(emu.state.ports)))
            if left or vif.id in emu.state.ports:
                raise RuntimeError('unplug left state behind')
    finally:
        emu.stop()
        shutil.rmtree(work, ignore_errors=True)
