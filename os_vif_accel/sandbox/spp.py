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
"""SPP round trip for the README sandbox.

Real etcd + the spp-ctl emulator on loopback, the worked-example host
configuration from the builder, the Neutron side of two bindings (flat on
phys1, VLAN 100 on phys2) through the ML2 driver's Neutron-free core
(:mod:`spp_neutron.core`, the code neutron-server runs), the agent, and
os-vif's plug/unplug through the ``spp`` plugin - printing what etcd and
spp_vf hold at each stage.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
import uuid
from typing import Any, Callable

from vif_plug_spp import agent as agent_mod
from vif_plug_spp import builder
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import keys
from vif_plug_spp import sppctl

from spp_neutron import core

__all__ = ['run', 'MAPPINGS']

MAPPINGS = '00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfc02'


def _show_etcd(out: Callable[..., Any], client: etcd_mod.EtcdClient,
               host: str) -> None:
    kvs, rev = client.get_prefix(keys.ROOT)
    out('  etcd (revision %d):' % rev)
    for kv in kvs:
        if host not in kv.key:
            continue
        value = kv.value if len(kv.value) < 70 else kv.value[:67] + '...'
        out('    %s = %s' % (kv.key, value))


def _show_spp(out: Callable[..., Any], emu: Any) -> None:
    for cid, status in sorted(emu.snapshot().items()):
        out('  spp_vf %d classifier_table: %s' % (
            cid, status['classifier_table'] or '[]'))
        for comp in status['components']:
            if comp.get('name') not in ('classifier', 'merger'):
                continue
            for side in ('rx_port', 'tx_port'):
                ops = ['%s(%s%s)' % (p['port'], p['vlan']['operation'],
                                     ' %d' % p['vlan']['id']
                                     if p['vlan']['operation'] == 'add'
                                     else '')
                       for p in comp[side]
                       if p['vlan']['operation'] != 'none']
                if ops:
                    out('  spp_vf %d %s %s VLAN ops: %s' % (
                        cid, comp['name'], side[:2], ', '.join(ops)))


def _vif(port_id: str, mac: str, vhost_id: int) -> Any:
    from os_vif import objects
    return objects.vif.VIFVHostUser(
        id=port_id, address=mac, plugin='spp', vif_name='nic' + port_id[:11],
        mode='server', path='/tmp/sock%d' % vhost_id,
        network=objects.network.Network(id=str(uuid.uuid4())))


def _wait_gone(client: etcd_mod.EtcdClient, key: str,
               timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get(key) is None:
            return True
        time.sleep(0.02)
    return False


_Port = tuple[str, str, str, 'int | None']  # id, MAC, physnet, VLAN


def run(out: Callable[..., Any] = print) -> None:
    """Run the SPP round trip; prints and returns (skips without etcd)."""
    from os_vif_accel.testing import etcd as etcd_server
    from vif_plug_spp.emulator import server as emu_server

    if not etcd_server.available():
        out('  skipped: %s is not installed (apt-get install etcd-server)'
            % etcd_server.ETCD_BINARY)
        return
    host = 'sandbox-%s' % uuid.uuid4().hex[:8]
    with contextlib.ExitStack() as stack:
        # Cleanups run newest first (plugin options, agent, ..., etcd).
        stack.callback(out, '  cleaned up (etcd, emulator, keys of %s)'
                       % host)
        tmp = tempfile.mkdtemp(prefix='spp-sandbox-')
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        server = etcd_server.EtcdServer().start()
        stack.callback(server.stop)
        config = builder.build(MAPPINGS)
        emu = emu_server.SppCtlEmulator.for_configuration(config).start()
        stack.callback(emu.stop)
        client = etcd_mod.EtcdClient(server.host, server.port)
        stack.callback(client.close)
        stack.callback(_destroy_keys, client, host)
        out('  etcd %s, spp-ctl emulator %s, host %s' % (server.url,
                                                          emu.url, host))
        builder.write(client, host, config)
        out('  spp-config-build %s -> %s' % (MAPPINGS,
                                              keys.configuration(host)))
        _start_agent(stack, client, emu.url, host, tmp)
        ports, vids = _bind_ports(out, client, host)
        _show_etcd(out, client, host)
        _show_spp(out, emu)
        _configure_plugin(stack, {
            'etcd_endpoints': [server.url],
            'spp_ctl_url': emu.url, 'host': host,
            'lock_path': os.path.join(tmp, 'lock')})
        _plug_and_unplug(out, client, host, emu, ports, vids)
        _unbind_ports(out, client, host, ports)
        _show_etcd(out, client, host)


def _destroy_keys(client: etcd_mod.EtcdClient, host: str) -> None:
    """Remove the sandbox host's keys; an etcd already gone is fine."""
    try:
        builder.destroy(client, host, force=True)
    except etcd_mod.EtcdError:
        pass


def _start_agent(stack: contextlib.ExitStack, client: etcd_mod.EtcdClient,
                 spp_ctl_url: str, host: str, tmp: str) -> None:
    """Run the SPP agent in a thread until ``stack`` closes."""
    agent = agent_mod.Agent(client, sppctl.SppCtlClient(spp_ctl_url), host,
                            lock_path=os.path.join(tmp, 'lock'),
                            watch_idle_timeout=2.0)
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    stack.callback(thread.join, 10)
    stack.callback(agent.stop)
    agent.ready.wait(10)


def _configure_plugin(stack: contextlib.ExitStack,
                      overrides: dict[str, Any]) -> None:
    """Point the ``spp`` plugin at the sandbox until ``stack`` closes."""
    import os_vif
    from oslo_config import cfg

    os_vif.initialize()
    for name, value in overrides.items():
        cfg.CONF.set_override(name, value, group='os_vif_spp')
        stack.callback(cfg.CONF.clear_override, name, group='os_vif_spp')


def _bind_ports(out: Callable[..., Any], client: etcd_mod.EtcdClient,
                host: str) -> tuple[list[_Port], list[int]]:
    """Neutron's side: bind a flat and a VLAN port; return their vhosts."""
    ports: list[_Port] = [
        (str(uuid.uuid4()), 'fa:16:3e:00:00:01', 'phys1', None),
        (str(uuid.uuid4()), 'fa:16:3e:00:00:02', 'phys2', 100)]
    binder = core.Binder(client)
    vids = []
    for port_id, mac, physnet, vlan in ports:
        start = time.monotonic()
        alloc = binder.bind(host, port_id, mac, physnet, vlan)
        up = binder.wait_up(alloc, 10.0)
        out('  Neutron bind %s (%s%s) -> vhost %d, agent up %s in %.1f ms'
            % (port_id, physnet, ', vlan %d' % vlan if vlan else '',
               alloc.vhost_id, up, (time.monotonic() - start) * 1000))
        if not up:
            raise RuntimeError('the agent did not report %s up' % port_id)
        vids.append(alloc.vhost_id)
    return ports, vids


def _plug_and_unplug(out: Callable[..., Any], client: etcd_mod.EtcdClient,
                     host: str, emu: Any, ports: list[_Port],
                     vids: list[int]) -> None:
    """os-vif's side: plug (repairing a knocked-out port), then unplug."""
    import os_vif
    from os_vif import objects

    inst = objects.instance_info.InstanceInfo(
        uuid=str(uuid.uuid4()), name='spp-sandbox-vm',
        project_id=str(uuid.uuid4()))
    # Knock out the first port's wiring as a crashed spp_vf would,
    # so the plugin's plug visibly repairs it.
    emu.state.vfs[1].clear_classifier_table()
    out('  (cleared spp_vf 1\'s classifier table, as a restarted spp_vf '
        'would have it; the plug below repairs it)')
    for (port_id, mac, _physnet, _vlan), vid in zip(ports, vids):
        start = time.monotonic()
        os_vif.plug(_vif(port_id, mac, vid), inst)
        out('  os_vif.plug(%s, plugin=spp, path=/tmp/sock%d): %.1f ms'
            % (port_id, vid, (time.monotonic() - start) * 1000))
    _show_spp(out, emu)
    for (port_id, mac, physnet, _vlan), vid in zip(ports, vids):
        os_vif.unplug(_vif(port_id, mac, vid), inst)
        out('  os_vif.unplug(%s): wiring removed, vhost %d still '
            'allocated = %s' % (port_id, vid, client.get(keys.vhost(
                host, physnet, vid))))
    _show_spp(out, emu)


def _unbind_ports(out: Callable[..., Any], client: etcd_mod.EtcdClient,
                  host: str, ports: list[_Port]) -> None:
    """Neutron's side: unbind each port and wait for the agent."""
    binder = core.Binder(client)
    for port_id, _mac, _physnet, _vlan in ports:
        asked = binder.release(host, port_id)
        gone = _wait_gone(client, keys.bind_port(host, port_id))
        out('  Neutron unbind %s -> %s, agent released it: %s'
            % (port_id, asked, gone))
