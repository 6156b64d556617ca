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
"""Neutron's own ML2 test case with the ``spp`` driver, a real etcd per
class, and per test an SPP host: the builder's configuration, the spp-ctl
emulator, our agent, and the agent's state report delivered to Neutron's
``report_state`` RPC endpoint over oslo.messaging's in-process transport.
"""

import dataclasses
import json
import os
import queue
import subprocess
import sys
import time
import uuid

import fixtures
from neutron.db import agents_db
from neutron.tests.unit.plugins.ml2 import test_plugin
from neutron_lib.api.definitions import portbindings
from neutron_lib.api.definitions import provider_net as pnet
from neutron_lib import rpc as n_rpc
from oslo_config import cfg
import oslo_messaging

from os_vif_accel.testing import etcd as etcd_server
from os_vif_accel.testing import waiting
from vif_plug_spp import builder
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import keys
from vif_plug_spp import report
from vif_plug_spp import sppctl

from spp_neutron import config
from spp_neutron import status

#: physnet1 (flat or VLAN) and physnet2 (VLAN), two vhosts each; the
#: Ml2 test case gives physnet1 VLANs 1-100, physnet2 200-300, physnet3
#: 400-500 (no NIC serves physnet3).
MAPPINGS = '00:04.0#physnet1#2#0xfe,00:05.0#physnet2#2#0xfc02'
MAC = 'fa:16:3e:a0:da:db'


@dataclasses.dataclass
class SppHost:
    """One SPP compute host of a test: its emulator and agent."""

    spp: sppctl.SppCtlClient
    url: str
    tmp: str
    lock_path: str
    agent_args: list = dataclasses.field(default_factory=list)
    agent: subprocess.Popen | None = None


class SppMl2Case(waiting.WaitMixin, test_plugin.Ml2PluginV2TestCase):

    _mechanism_drivers = ['spp']
    #: The builder's NIC mappings for every host of the test.
    mappings = MAPPINGS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = etcd_server.EtcdServer().start()
        cls.addClassCleanup(cls.server.stop)

    def setUp(self):
        config.register_opts(cfg.CONF)
        cfg.CONF.set_override('etcd_host', self.server.host, 'spp')
        cfg.CONF.set_override('etcd_port', self.server.port, 'spp')
        cfg.CONF.set_override('release_timeout', 5.0, 'spp')
        super().setUp()
        self.log = self.useFixture(fixtures.FakeLogger(
            name='spp_neutron', level='INFO'))
        self.mech = self.driver.mechanism_manager.mech_drivers['spp'].obj
        self.etcd = etcd_mod.EtcdClient(self.server.host, self.server.port)
        self.addCleanup(self.etcd.close)
        self.host = 'spp-%s' % uuid.uuid4().hex[:8]
        # The driver's watcher, but its callbacks run on the test thread:
        # the test database is one in-memory SQLite connection.
        self.ups = queue.Queue()
        self.watcher = status.StatusWatcher(
            self.mech.etcd, lambda *up: self.ups.put(up)).start()
        self.addCleanup(self.watcher.stop)
        self.hosts = {}

    # -- the SPP host -------------------------------------------------------
    def start_host(self, host=None, agent=True):
        """The builder's configuration in etcd, spp-ctl-emulator and
        spp-agent as processes (the test process runs eventlet), and one
        state report of the agent.  ``self.hosts[host]`` keeps what a test
        needs to reach them again (emulator URL, agent process).
        """
        host = host or self.host
        conf = builder.build(self.mappings)
        builder.write(self.etcd, host, conf)
        tmp = self.useFixture(fixtures.TempDir()).path
        conf_file = os.path.join(tmp, 'configuration.json')
        with open(conf_file, 'w') as f:
            json.dump(conf, f)
        port = etcd_server.free_port()
        self.spawn(tmp, 'emulator', [
            '-m', 'vif_plug_spp.cmd.emulator', '--port', str(port),
            '--configuration', conf_file], b'listening')
        url = 'http://127.0.0.1:%d' % port
        self.spp = sppctl.SppCtlClient(url)
        self.addCleanup(self.spp.close)
        # The plugin and the agent serialise their spp_vf changes on one
        # lock file per host, as on a real compute node.
        self.hosts[host] = spp_host = SppHost(
            spp=self.spp, url=url, tmp=tmp,
            lock_path=os.path.join(tmp, 'spp.lock'))
        if agent:
            agent_conf = os.path.join(tmp, 'agent.conf')
            with open(agent_conf, 'w') as f:
                f.write('[DEFAULT]\nhost = %s\n%s'
                        '[spp]\netcd_host = %s\netcd_port = %d\n'
                        'api_port = %d\nlock_path = %s\nbackoff_max = 0.3\n'
                        % (host, self.agent_reports(), self.server.host,
                           self.server.port, port, spp_host.lock_path))
            spp_host.agent_args = ['-m', 'vif_plug_spp.cmd.agent',
                                   '--config-file', agent_conf]
            self.start_agent(host)
        if self.in_process_report:
            self.agent_id = self.report_state(host)
        return host

    #: One state report delivered by the test itself (fake transport).
    in_process_report = True

    def agent_reports(self):
        """agent.conf lines after [DEFAULT] host: no reports of its own."""
        return '[AGENT]\nreport_interval = 0\n'

    def start_agent(self, host):
        """(Re)start the host's spp-agent process."""
        spp_host = self.hosts[host]
        spp_host.agent = self.spawn(spp_host.tmp, 'agent',
                                    spp_host.agent_args)
        return spp_host.agent

    def spawn(self, tmp, name, args, ready=None):
        log = os.path.join(tmp, name + '.log')
        with open(log, 'wb') as out:
            proc = subprocess.Popen([sys.executable] + args, stdout=out,
                                    stderr=subprocess.STDOUT)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.kill)
        if ready:
            def started():
                with open(log, 'rb') as f:
                    return ready in f.read()
            self.wait_for(started, 30, '%s to start' % name)
        return proc

    def report_state(self, host):
        """One state report of spp-agent (vif_plug_spp.report), through
        oslo.messaging into Neutron's AgentExtRpcCallback; the agent id.
        """
        transport = oslo_messaging.get_rpc_transport(cfg.CONF,
                                                     url='fake:/')
        target = oslo_messaging.Target(topic=report.REPORTS_TOPIC,
                                       server='neutron-server')
        server = oslo_messaging.get_rpc_server(
            transport, target, [agents_db.AgentExtRpcCallback()],
            executor='threading',
            serializer=n_rpc.RequestContextSerializer())
        server.start()
        try:
            report.StateReporter(transport, host, 0, {'spp': True},
                                 timeout=20).report()
        finally:
            server.stop()
            server.wait()
        agents = self.driver.get_agents(
            self.context, filters={'host': [host],
                                   'agent_type': [report.AGENT_TYPE]})
        self.assertEqual(1, len(agents))
        return agents[0]['id']

    # -- Neutron resources ---------------------------------------------
    def network(self, net_type, physnet, vlan=None):
        args = {pnet.NETWORK_TYPE: net_type, pnet.PHYSICAL_NETWORK: physnet}
        if vlan is not None:
            args[pnet.SEGMENTATION_ID] = vlan
        net = self._make_network(self.fmt, 'spp-net', True, as_admin=True,
                                 arg_list=tuple(args), **args)
        return net['network']['id']

    def port(self, net_id, host=None, mac=MAC, device_id=None):
        """A port bound to the host, as Nova's update leaves it."""
        fields = {portbindings.HOST_ID: host or self.host,
                  'device_owner': 'compute:nova', 'mac_address': mac}
        if device_id:
            fields['device_id'] = device_id
        port = self._make_port(self.fmt, net_id, as_admin=True,
                               arg_list=tuple(fields), **fields)
        return port['port']

    def show(self, port_id):
        return self._show('ports', port_id, as_admin=True)['port']

    def wait_status(self, port_id, wanted, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while not self.ups.empty():
                self.mech.port_up(*self.ups.get())
            port = self.show(port_id)
            if port['status'] == wanted:
                return port
            time.sleep(0.05)
        self.fail('port %s stayed %s, not %s' % (port_id, port['status'],
                                                 wanted))

    def assert_not_bound_agent_dead(self):
        """A port for the host fails to bind, the log says the host's
        agent is not alive, nothing is allocated.
        """
        port = self.port(self.network('flat', 'physnet1'))
        self.assertEqual(portbindings.VIF_TYPE_BINDING_FAILED,
                         port[portbindings.VIF_TYPE])
        self.assertIn('on host %s: the SPP neutron agent of the host is '
                      'not alive' % self.host, self.log.output)
        self.assertEqual({}, self.port_keys(port['id']))

    def port_keys(self, port_id, host=None):
        """The port's keys (its vhosts included), on ``host`` if given."""
        kvs, _rev = self.etcd.get_prefix(keys.ROOT)
        return {kv.key: kv.value for kv in kvs
                if (port_id in kv.key or kv.value == port_id) and
                (host is None or '/%s/' % host in kv.key)}

    def macs(self, host=None):
        spp = self.hosts[host].spp if host else self.spp
        return sorted(e['value'] for sec in (1, 2)
                      for e in spp.vf_status(sec)['classifier_table'])
