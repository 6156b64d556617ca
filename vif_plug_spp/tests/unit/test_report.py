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
"""State reports over oslo.messaging's in-memory transport, received by
an RPC server shaped like Neutron's report_state endpoint."""

import datetime
import threading

from oslo_config import cfg
from oslo_config import fixture as config_fixture
import oslo_messaging
import testtools

from vif_plug_spp import report


class _Endpoint:
    target = oslo_messaging.Target(version='1.0')

    def __init__(self):
        self.calls = []
        self.event = threading.Event()

    def report_state(self, context, **kwargs):
        self.calls.append((context, kwargs))
        self.event.set()
        return 'alive'


class TestStateReport(testtools.TestCase):

    def setUp(self):
        super().setUp()
        conf = self.useFixture(config_fixture.Config(cfg.CONF)).conf
        report.register_opts(conf)
        report.register_transport_opts(conf)
        conf([], project='test')
        conf.set_override('transport_url', 'fake:/')
        self.conf = conf
        self.transport = oslo_messaging.get_rpc_transport(conf)
        self.endpoint = _Endpoint()
        server = oslo_messaging.get_rpc_server(
            self.transport, oslo_messaging.Target(
                topic=report.REPORTS_TOPIC, server='neutron-server'),
            [self.endpoint], executor='threading')
        server.start()
        self.addCleanup(server.wait)
        self.addCleanup(server.stop)

    def wait_calls(self, n):
        for _ in range(100):
            if len(self.endpoint.calls) >= n:
                return
            self.endpoint.event.wait(0.05)
            self.endpoint.event.clear()
        self.fail('only %d report(s)' % len(self.endpoint.calls))

    def test_first_report_has_start_flag_then_not(self):
        rep = report.from_conf(self.conf, 'compute1', {'etcd': 'x:2379'})
        self.assertIsNotNone(rep)
        rep.report()
        rep.report()
        self.wait_calls(2)
        (ctx1, first), (_ctx2, second) = self.endpoint.calls
        state = first['agent_state']['agent_state']
        self.assertEqual({'binary': 'neutron-spp-agent', 'host': 'compute1',
                          'topic': 'N/A', 'agent_type': 'SPP neutron agent',
                          'configurations': {'etcd': 'x:2379'},
                          'start_flag': True},
                         {k: v for k, v in state.items() if k != 'uuid'})
        self.assertNotIn('start_flag', second['agent_state']['agent_state'])
        datetime.datetime.strptime(first['time'], '%Y-%m-%dT%H:%M:%S.%f')
        self.assertTrue(ctx1['is_admin'])

    def test_disabled_without_transport_url(self):
        self.conf.clear_override('transport_url')
        self.assertIsNone(report.from_conf(self.conf, 'h', {}))

    def test_disabled_with_zero_interval(self):
        self.conf.set_override('report_interval', 0, group='AGENT')
        self.assertIsNone(report.from_conf(self.conf, 'h', {}))
