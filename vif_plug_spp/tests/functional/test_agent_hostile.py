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
"""The agent with hostile etcd content: real etcd, spp-ctl emulator.

One bad key or value is that key's problem: every other port on the host
is served, and the agent's retry bookkeeping converges.
"""

import base64
import json
import threading
import time
from unittest import mock
import uuid

import hypothesis
from hypothesis import strategies as st

from vif_plug_spp import agent as agent_mod
from vif_plug_spp import builder
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import keys
from vif_plug_spp import sppctl
from vif_plug_spp.tests.functional import base

from spp_neutron import core
from spp_neutron import errors

PORTS = 100


def _custom(num):
    """One NIC, ``num`` vhosts wired straight to the classifier and the
    merger (networking-spp's "omitting forwarders" layout), so 100 vhosts
    fit the 32 cores a configuration can name.
    """
    vhosts = ['vhost:%d' % v for v in range(num)]
    return {'vf': [{'components': [
        {'core': 1, 'name': 'classifier', 'type': 'classifier_mac',
         'rx_port': ['phy:0'], 'tx_port': vhosts},
        {'core': 2, 'name': 'merger', 'type': 'merge',
         'rx_port': vhosts, 'tx_port': ['phy:0']}]}]}


class CountingEtcd(etcd_mod.EtcdClient):
    """The agent's etcd client, counting the writes it sends."""

    writes = 0

    def call(self, endpoint, body):
        ops = body.get('success') or [] if endpoint == 'kv/txn' else []
        if endpoint in ('kv/put', 'kv/deleterange') or any(
                'request_put' in op or 'request_delete_range' in op
                for op in ops):
            self.writes += 1
        return super().call(endpoint, body)


def _b64(data):
    return base64.b64encode(data).decode()


class TestHostileKeys(base.SppCase):
    mappings = '00:04.0#phys1#%d#0x7' % PORTS

    def setUp(self):
        base.EtcdClassCase.setUp(self)
        self.config = builder.build(self.mappings, None, _custom(PORTS))
        builder.write(self.etcd, self.host, self.config)
        self.emu = base.emu_server.SppCtlEmulator.for_configuration(
            self.config).start()
        self.addCleanup(self.emu.stop)

    def put_raw(self, key, value):
        self.etcd.call('kv/put', {'key': _b64(key), 'value': _b64(value)})

    def bind(self, ports):
        for port in ports:
            self.macs = getattr(self, 'macs', 0) + 1
            self.neutron_bind(port, 'fa:16:3e:00:%02x:%02x'
                              % divmod(self.macs, 256), 'phys1', wait=False)

    def test_bad_keys_do_not_stop_the_host(self):
        prefix = keys.action_prefix(self.host).encode()
        # Present at start: used to kill the watch thread.
        self.put_raw(prefix + b'\xff\xfe-at-start', b'plug')
        self.put_raw(prefix + b'not a port', b'plug')
        agent = self.start_agent()
        first = [str(uuid.uuid4()) for _ in range(PORTS // 2)]
        self.bind(first[:10])
        # Arriving on the watch: used to make it reconnect from the same
        # revision forever, so no later port ever came up.
        self.put_raw(prefix + b'\xc0\xaf', b'plug')
        self.put_raw(prefix + b'a/b', b'plug')
        self.put_raw(keys.action(self.host, first[0]).encode(), b'\xff')
        self.bind(first[10:])
        self.wait_for(lambda: all(self.is_up(p) for p in first[10:]),
                      timeout=60, what='first 50 ports up')
        self.etcd.call('kv/deleterange', {'key': _b64(prefix + b'\xc0\xaf')})
        second = [str(uuid.uuid4()) for _ in range(PORTS // 2)]
        self.bind(second)
        self.wait_for(lambda: all(self.is_up(p) for p in first + second),
                      timeout=60, what='all 100 ports up')
        self.assertEqual(PORTS, len(self.table(1)))
        self.assertEqual(0, len(agent._retry))

    def start_counting_agent(self):
        client = CountingEtcd(self.server.host, self.server.port,
                              retry_window=1.0)
        self.addCleanup(client.close)
        agent = agent_mod.Agent(
            client, sppctl.SppCtlClient(self.emu.url, retry_window=0.2),
            self.host, lock_path=self.lock_path, backoff_max=0.3,
            watch_idle_timeout=2.0, resync_interval=0)
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(agent.stop)
        self.assertTrue(agent.ready.wait(20), 'agent did not start')
        return agent, client

    def test_retried_port_stops_being_written(self):
        agent, client = self.start_counting_agent()
        self.emu.fail('PUT', 'classifier_table', count=1)
        port = str(uuid.uuid4())
        self.bind([port])
        self.wait_for(lambda: self.is_up(port), what='port up after retry')
        self.assertGreaterEqual(sum(1 for r in self.emu.requests
                                    if 'classifier_table' in r[1]), 2)
        self.wait_for(lambda: len(agent._retry) == 0, timeout=5,
                      what='retry set empty')
        # Before the fix the port stayed in the retry set and was
        # rewritten on every loop turn (~330 etcd writes/s).
        before, requests = client.writes, len(self.emu.requests)
        time.sleep(1.0)
        self.assertLessEqual(client.writes - before, 1)
        self.assertLessEqual(len(self.emu.requests) - requests, 2)

    def test_bad_configuration_keeps_serving(self):
        self.start_agent()
        first = str(uuid.uuid4())
        self.bind([first])
        self.wait_for(lambda: self.is_up(first), what='first port up')
        for bad in ('[1]', 'null', '{"vf": [1]}', '[' * 5000):
            self.etcd.put(keys.configuration(self.host), bad)
            port = str(uuid.uuid4())
            # The ML2 driver refuses new bindings on such a host ...
            exc = self.assertRaises(errors.BadConfiguration, self.bind,
                                    [port])
            self.assertIn(self.host, str(exc))
            # ... but one whose configuration it read just before the
            # corruption still reaches an agent that keeps serving.
            with mock.patch.object(core.Binder, 'physnets',
                                   return_value=['phys1']):
                self.bind([port])
            self.wait_for(lambda: self.is_up(port),
                          what='port up with configuration %r' % bad[:10])


class TestHostileConfigurationAtStart(base.SppCase):

    def test_agent_waits_for_a_usable_configuration(self):
        good = self.etcd.get(keys.configuration(self.host))
        self.etcd.put(keys.configuration(self.host), '{"vf": [1]}')
        agent = agent_mod.Agent(
            etcd_mod.EtcdClient(self.server.host, self.server.port),
            sppctl.SppCtlClient(self.emu.url, retry_window=0.2), self.host,
            lock_path=self.lock_path, backoff_max=0.2, resync_interval=0)
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(agent.stop)
        time.sleep(0.5)
        self.assertTrue(thread.is_alive())  # used to exit (AttributeError)
        self.assertFalse(agent.ready.is_set())
        self.etcd.put(keys.configuration(self.host), good)
        self.assertTrue(agent.ready.wait(20))
        port = str(uuid.uuid4())
        self.neutron_bind(port, 'fa:16:3e:00:00:01', 'phys1', wait=False)
        self.wait_for(lambda: self.is_up(port), what='port up')


BIND_VALUES = st.one_of(
    st.binary(max_size=60),
    st.recursive(st.none() | st.booleans() | st.integers() |
                 st.text(max_size=10),
                 lambda inner: st.lists(inner, max_size=3) |
                 st.dictionaries(st.text(max_size=8), inner, max_size=3),
                 max_leaves=10).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({
        'mac_address': st.sampled_from(['fa:16:3e:00:00:01', 'x', '\n', 1,
                                        None]),
        'vhost_id': st.one_of(st.integers(-2, 200), st.booleans(),
                              st.just('1'), st.none()),
        'vlan_id': st.one_of(st.integers(-2, 5000), st.just('\u0663'),
                             st.just('100'), st.booleans())}).map(
        lambda v: json.dumps(v).encode()),
    st.integers(1, 4000).map(lambda n: b'[' * n))
ACTIONS = st.one_of(st.sampled_from([b'plug', b'unplug', b'plug\n', b'',
                                     b'\xff', b'PLUG']),
                    st.binary(max_size=8))


class TestAgentEntryProperties(base.SppCase):
    """Hostile ``bind_port``/``action`` values handed to the agent: it
    answers without an undocumented exception, and a refusal writes
    nothing to etcd and sends nothing to spp-ctl.
    """

    def test_hostile_values_have_no_side_effect(self):
        client = CountingEtcd(self.server.host, self.server.port)
        self.addCleanup(client.close)
        agent = agent_mod.Agent(
            client, sppctl.SppCtlClient(self.emu.url, retry_window=0.2),
            self.host, lock_path=self.lock_path, resync_interval=0)
        agent._load()
        outcomes = []

        @hypothesis.settings(max_examples=40, deadline=None, database=None)
        @hypothesis.given(BIND_VALUES, ACTIONS)
        def check(bind_value, action_value):
            port = str(uuid.uuid4())
            for key, value in ((keys.bind_port(self.host, port), bind_value),
                               (keys.action(self.host, port), action_value)):
                self.etcd.call('kv/put', {'key': _b64(key.encode()),
                                          'value': _b64(value)})
            writes, requests = client.writes, len(self.emu.requests)
            result = agent.handlers.handle_port(port)
            outcomes.append(result)
            self.assertIn(result, ('invalid', 'ignored', 'gone',
                                   'not-owner'))
            self.assertEqual(writes, client.writes)
            self.assertEqual(requests, len(self.emu.requests))
        check()
        self.assertIn('invalid', outcomes)
