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
"""``openstack network agent list`` through a real message bus.

A private RabbitMQ broker; our ``spp-agent`` process sends its state
reports to it (``[DEFAULT] transport_url = rabbit://...``); Neutron 29's
own consumer of them (``Ml2Plugin.start_rpc_state_reports_listener``: an
oslo.messaging RPC server with ``AgentExtRpcCallback``) writes the agents
table; the agents API answers what the CLI prints.  When the agent dies
its heartbeat ages past ``agent_down_time`` and the driver stops binding.
"""

import threading

import fixtures
from neutron.db import agents_db
from neutron.tests.unit.api import test_extensions
from neutron.tests.unit.extensions import test_agent
from neutron_lib import rpc as n_rpc
from oslo_config import cfg

from os_vif_accel.testing import rabbitmq

from neutron_e2e import base

#: Seconds between the agent's reports, and after which Neutron calls an
#: agent dead (Neutron's advice: at least twice report_interval).
REPORT_INTERVAL = 1
AGENT_DOWN_TIME = 4


class TestAgentStateOverRabbitMQ(base.SppMl2Case):

    in_process_report = False

    def setUp(self):
        # Stopped last, after the agent and Neutron's consumer.
        self.rabbit = rabbitmq.RabbitServer().start()
        self.addCleanup(self.rabbit.stop)
        super().setUp()
        cfg.CONF.set_override('agent_down_time', AGENT_DOWN_TIME)
        # Neutron's test base points oslo.messaging at its fake transport;
        # neutron-server's global transport goes to the broker instead
        # (the fixture's cleanup closes it).
        cfg.CONF.set_override('transport_url', self.rabbit.transport_url)
        n_rpc.cleanup()
        n_rpc.init(cfg.CONF)
        self.reports = self._count_reports()
        # What neutron-server runs in its RPC workers; the test base
        # keeps consume_in_threads from starting them, so start them here.
        self.driver.start_rpc_state_reports_listener()
        for server in self.driver.conn_reports.servers:
            server.start()
        self.addCleanup(self.driver.conn_reports.close)
        # The agents API (the ML2 test case serves the core API only).
        self.ext_api = test_extensions.setup_extensions_middleware(
            test_agent.AgentTestExtensionManager())

    def _count_reports(self):
        """Neutron's report_state, unchanged, counting the calls the RPC
        server dispatches into it.
        """
        real = agents_db.AgentExtRpcCallback.report_state
        count = {'n': 0, 'event': threading.Condition()}

        def report_state(callback, context, **kwargs):
            status = real(callback, context, **kwargs)
            with count['event']:
                count['n'] += 1
                count['event'].notify_all()
            return status
        self.useFixture(fixtures.MonkeyPatch(
            'neutron.db.agents_db.AgentExtRpcCallback.report_state',
            report_state))
        return count

    def wait_reports(self, n, timeout=60.0):
        with self.reports['event']:
            if not self.reports['event'].wait_for(
                    lambda: self.reports['n'] >= n, timeout):
                self.fail('%d state reports arrived over RabbitMQ, not %d'
                          % (self.reports['n'], n))

    def agent_reports(self):
        return '[DEFAULT]\ntransport_url = %s\n[AGENT]\nreport_interval ' \
               '= %d\n' % (self.rabbit.transport_url, REPORT_INTERVAL)

    def agent_list(self):
        """GET /v2.0/agents, as ``openstack network agent list``."""
        agents = self._list('agents', as_admin=True)['agents']
        return [(a['agent_type'], a['binary'], a['host'], a['alive'])
                for a in agents if a['host'] == self.host]

    def test_agent_list_then_dead_agent_is_not_bound_to(self):
        self.start_host()
        # The first report (a call, start_flag) and a periodic cast.
        self.wait_reports(2)
        agent = self.hosts[self.host].agent
        agent.kill()
        agent.wait(10)
        # Reports dispatched so far are in the table; the test database
        # is one SQLite connection, read it only once nothing writes.
        self.driver.conn_reports.close()
        self.assertEqual(
            [('SPP neutron agent', 'neutron-spp-agent', self.host, True)],
            self.agent_list())
        self.wait_for(lambda: self.agent_list() == [
            ('SPP neutron agent', 'neutron-spp-agent', self.host, False)],
            AGENT_DOWN_TIME + 20, 'the agent to be reported dead')
        self.assert_not_bound_agent_dead()
