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
"""Fixtures: one real etcd, one spp-ctl emulator per host, networking-spp's
real agent as a process, its real mechanism driver in process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from typing import Any

from networking_spp.mech_driver import mech_spp
from neutron_lib.plugins.ml2 import api
import os_vif
from os_vif import objects
from oslo_config import cfg

from vif_plug_spp import agent as agent_mod
from vif_plug_spp import builder
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import keys
from vif_plug_spp import sppctl
from vif_plug_spp.emulator import server as emu_server
from vif_plug_spp.emulator import state as emu_state
from vif_plug_spp.tests.functional import base as ft_base

#: phys1 flat NIC, phys2 VLAN NIC, two vhosts each (spp-config-build).
MAPPINGS = '00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfc02'


class PortContext:
    """The parts of ML2's PortContext networking-spp's driver reads."""

    def __init__(self, port_id: str, mac: str, host: str,
                 segments: list[dict[str, Any]] | None = None,
                 original_host: str | None = None,
                 original_vif_type: str | None = None,
                 vif_type: str | None = None) -> None:
        self.current = {'id': port_id, 'mac_address': mac}
        self.host = host
        self.segments_to_bind = segments or []
        self.original_host = original_host
        self.original_vif_type = original_vif_type
        self.vif_type = vif_type
        self.binding: tuple[str, str, dict[str, Any], str] | None = None

    def host_agents(self, agent_type: str) -> list[dict[str, Any]]:
        return [{'agent_type': agent_type, 'host': self.host,
                 'alive': True}]

    def set_binding(self, segment_id: str, vif_type: str,
                    vif_details: dict[str, Any], status: str) -> None:
        self.binding = (segment_id, vif_type, vif_details, status)


def segment(physnet: str, vlan: int | None) -> dict[str, Any]:
    return {api.ID: str(uuid.uuid4()), api.PHYSICAL_NETWORK: physnet,
            api.NETWORK_TYPE: 'vlan' if vlan is not None else 'flat',
            api.SEGMENTATION_ID: vlan}


class Host:
    """One compute host: its configuration, spp-ctl and lock file."""

    def __init__(self, case: 'InteropCase', name: str,
                 classifier: str = emu_state.CLASSIFIER_1808
                 ) -> None:
        self.case = case
        self.name = name
        self.config = builder.build(MAPPINGS, classifier=classifier)
        builder.write(case.etcd, name, self.config)
        self.emu = emu_server.SppCtlEmulator.for_configuration(
            self.config, classifier_type=classifier).start()
        case.addCleanup(self.emu.stop)
        self.lock = os.path.join(case.tmp, name + '.lock')
        self.ns_agent: subprocess.Popen[bytes] | None = None
        self.ns_log = os.path.join(case.tmp, name + '-ns-agent.log')

    def writes(self) -> list[tuple[str, str, bytes]]:
        """spp-ctl requests that change spp_vf."""
        return [r for r in self.emu.requests if r[0] != 'GET']

    def table(self, sec_id: int) -> list[dict[str, str]]:
        return list(self.emu.snapshot()[sec_id]['classifier_table'])

    def macs(self) -> set[str]:
        return {e['value'].split('/')[-1].lower()
                for sec in (1, 2) for e in self.table(sec)}

    # -- networking-spp's agent ------------------------------------------
    def start_ns_agent(self) -> None:
        conf = os.path.join(self.case.tmp, self.name + '-ns.conf')
        with open(conf, 'w') as f:
            f.write('[DEFAULT]\nhost = %s\nuse_stderr = true\ndebug = true\n'
                    '[AGENT]\nreport_interval = 0\n'
                    '[spp]\netcd_host = %s\netcd_port = %d\n'
                    'api_ip_addr = 127.0.0.1\napi_port = %d\n' % (
                        self.name, self.case.server.host,
                        self.case.server.port, self.emu.port))
        log = open(self.ns_log, 'wb')
        self.case.addCleanup(log.close)
        self.ns_agent = subprocess.Popen(
            [sys.executable, '-m', 'networking_spp.agent.spp_agent',
             '--config-file', conf], stdout=log, stderr=subprocess.STDOUT)
        self.case.addCleanup(self.stop_ns_agent)
        self.case.wait_for(lambda: b'now running' in self.ns_log_bytes(),
                           60, 'networking-spp agent of %s' % self.name)

    def ns_log_bytes(self) -> bytes:
        if self.ns_agent is not None and self.ns_agent.poll() is not None:
            raise AssertionError('networking-spp agent exited %s:\n%s' % (
                self.ns_agent.returncode, self._tail()))
        with open(self.ns_log, 'rb') as f:
            return f.read()

    def _tail(self) -> str:
        with open(self.ns_log, 'rb') as f:
            lines = f.read().decode('utf-8', 'replace').splitlines()
        return '\n'.join(ln for ln in lines if 'ERROR' in ln)[-3000:]

    def ns_agent_alive(self) -> bool:
        return self.ns_agent is not None and self.ns_agent.poll() is None

    def stop_ns_agent(self) -> None:
        """SIGTERM, then SIGKILL as systemd would: its etcd3gw watch
        thread keeps the process alive for about a minute after SIGTERM.
        """
        proc, self.ns_agent = self.ns_agent, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    # -- ours ---------------------------------------------------------------
    def start_our_agent(self) -> agent_mod.Agent:
        client = etcd_mod.EtcdClient(self.case.server.host,
                                     self.case.server.port, retry_window=1.0)
        agent = agent_mod.Agent(client, sppctl.SppCtlClient(self.emu.url),
                                self.name, lock_path=self.lock,
                                backoff_max=0.3, watch_idle_timeout=5.0,
                                resync_interval=0)
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        self.case.addCleanup(thread.join, 10)
        self.case.addCleanup(agent.stop)
        if not agent.ready.wait(20):
            raise AssertionError('our agent of %s did not start' % self.name)
        return agent


class InteropCase(ft_base.EtcdClassCase):
    """One real etcd per class (``self.server``, ``self.etcd``,
    ``self.tmp``); networking-spp's driver and os-vif set up per test.
    """

    def setUp(self) -> None:
        super().setUp()
        cfg.CONF.set_override('etcd_host', self.server.host, group='spp')
        cfg.CONF.set_override('etcd_port', self.server.port, group='spp')
        self.addCleanup(cfg.CONF.clear_override, 'etcd_host', group='spp')
        self.addCleanup(cfg.CONF.clear_override, 'etcd_port', group='spp')
        self.driver = mech_spp.SppMechanismDriver()
        self.driver.initialize()
        os_vif.initialize()
        self.inst = objects.instance_info.InstanceInfo(
            uuid=str(uuid.uuid4()), name='vm', project_id=str(uuid.uuid4()))

    def new_host(self, role: str, **kwargs: Any) -> Host:
        return Host(self, '%s-%s' % (role, uuid.uuid4().hex[:6]), **kwargs)

    # -- Neutron side: networking-spp's mechanism driver -----------------
    def their_bind(self, host: Host, physnet: str,
                   vlan: int | None = None) -> tuple[str, str, int]:
        """ML2 bind_port through networking-spp's driver; (port, mac,
        vhost id) of a port Nova may now plug.
        """
        port, mac = str(uuid.uuid4()), 'fa:16:3e:%02x:%02x:%02x' % tuple(
            os.urandom(3))
        ctx = PortContext(port, mac, host.name, [segment(physnet, vlan)])
        # networking-spp creates its port_status watch only after writing
        # action=plug (spp.md 1.4 step 6): an agent that reports up before
        # that watch exists makes the driver wait 20 s and not bind.  A
        # spp_vf that takes 0.5 s for the classifier change keeps this
        # upstream race out of the test.
        host.emu.delay('PUT', 'classifier_table', 0.5)
        self.driver.bind_port(ctx)
        self.assertIsNotNone(ctx.binding, 'networking-spp did not bind')
        assert ctx.binding is not None
        _seg, vif_type, details, status = ctx.binding
        self.assertEqual(('vhostuser', 'ACTIVE', 'server'),
                         (vif_type, status, details['vhostuser_mode']))
        text = self.etcd.get(keys.bind_port(host.name, port))
        bind = json.loads(text or '{}')
        self.assertEqual('/tmp/sock%d' % bind['vhost_id'],
                         details['vhostuser_socket'])
        return port, mac, int(bind['vhost_id'])

    def their_unbind(self, host: Host, port: str) -> None:
        """The port's host is cleared (ML2 update_port_postcommit)."""
        self.driver.update_port_postcommit(PortContext(
            port, '', '', original_host=host.name,
            original_vif_type='vhostuser'))

    def their_delete(self, host: Host, port: str) -> None:
        self.driver.delete_port_postcommit(PortContext(
            port, '', host.name, vif_type='vhostuser'))

    # -- Nova side: os-vif with our plugin ---------------------------------
    def _vif(self, host: Host, port: str, mac: str, vid: int) -> Any:
        for name, value in (('etcd_host', self.server.host),
                            ('etcd_port', self.server.port),
                            ('spp_ctl_url', host.emu.url),
                            ('host', host.name), ('lock_path', host.lock)):
            cfg.CONF.set_override(name, value, group='os_vif_spp')
            self.addCleanup(cfg.CONF.clear_override, name,
                            group='os_vif_spp')
        return objects.vif.VIFVHostUser(
            id=port, address=mac, plugin='spp', vif_name='nic' + port[:11],
            mode='server', path='/tmp/sock%d' % vid,
            network=objects.network.Network(id=str(uuid.uuid4())))

    def nova_plug(self, host: Host, port: str, mac: str, vid: int) -> None:
        os_vif.plug(self._vif(host, port, mac, vid), self.inst)

    def nova_unplug(self, host: Host, port: str, mac: str, vid: int) -> None:
        os_vif.unplug(self._vif(host, port, mac, vid), self.inst)

    def nova_order_teardown(self, host: Host,
                            live: list[tuple[str, str, str, int]]) -> None:
        """Nova (re)plugs then unplugs each (physnet, port, mac, vhost)
        port, then Neutron unbinds it through networking-spp's driver;
        the serving agent must release it and leave spp_vf empty.
        """
        for physnet, port, mac, vid in live:
            self.nova_plug(host, port, mac, vid)
            self.nova_unplug(host, port, mac, vid)
            self.their_unbind(host, port)
            self.assert_released(host, port, physnet, vid)
        self.assertEqual(set(), host.macs())

    # -- outcome --------------------------------------------------------
    def assert_released(self, host: Host, port: str, physnet: str,
                        vid: int) -> None:
        """The agent finished Neutron's unbind: vhost free, keys gone."""
        # networking-spp's agent deletes the three keys one by one.
        port_keys = [keys.bind_port(host.name, port),
                     keys.action(host.name, port),
                     keys.port_status(host.name, port)]

        def done() -> bool:
            if host.ns_agent is not None:
                host.ns_log_bytes()  # fails at once, with its log, if dead
            return not self.etcd.read(keys=port_keys)
        self.wait_for(done, 20, 'unplug of %s on %s' % (port, host.name))
        self.assertEqual('None', self.etcd.get(keys.vhost(host.name, physnet,
                                                          vid)))
