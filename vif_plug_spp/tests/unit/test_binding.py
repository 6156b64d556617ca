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
"""The binding rules shared by the plugin's wiring and the agent."""

import json
import logging
import threading
from unittest import mock

import fixtures
import testtools

from vif_plug_spp import binding
from vif_plug_spp import builder
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import feed
from vif_plug_spp import handlers
from vif_plug_spp import keys
from vif_plug_spp import protocol

MAPPINGS = '00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfc02'
PORT = '3f0c5c1e-8a4b-4a53-9a8e-2d8f7d3c1b20'
MAC = 'fa:16:3e:00:00:01'


def renumbered() -> dict:
    """Two NICs whose ``num_vhost`` no longer match their components:
    vhost 2 is numbered under phys1 (3 + 1 vhosts) but wired in the
    phys2 spp_vf.
    """
    config = builder.build(MAPPINGS)
    config['vf'][0]['num_vhost'], config['vf'][1]['num_vhost'] = 3, 1
    return config


class TestConfigCache(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.cache = binding.ConfigCache(mock.Mock(), 'h', None)
        self.text = json.dumps(builder.build(MAPPINGS))

    def test_rebuilt_only_when_the_text_changes(self):
        first = self.cache.load(self.text)
        self.assertIs(first, self.cache.load(self.text))
        other = json.dumps(builder.build('00:04.0#phys1#1#0x1f'))
        second = self.cache.load(other)
        self.assertIsNot(first, second)
        self.assertEqual(['phys1'], [vf['physical_network']
                                     for vf in second.config['vf']])

    def test_unusable_text_raises_and_keeps_the_one_in_use(self):
        first = self.cache.load(self.text)
        for bad in ('[1]', 'null', '{"vf": [1]}', '[' * 5000):
            self.assertRaises(binding.UNUSABLE, self.cache.load, bad)
            self.assertIs(first, self.cache.current)


class TestLocate(testtools.TestCase):

    def loaded(self, config):
        return binding.ConfigCache(mock.Mock(), 'h', None).load(
            json.dumps(config))

    def test_builder_configuration_slots(self):
        loaded = self.loaded(builder.build(MAPPINGS))
        self.assertEqual(['phys1', 'phys1', 'phys2', 'phys2'],
                         [binding.locate(loaded, i).physnet
                          for i in range(4)])
        bound = binding.bound(loaded, 'h', PORT,
                              protocol.BindPort(MAC, 2, None))
        self.assertEqual(keys.vhost('h', 'phys2', 2), bound.slot)

    def test_vhost_outside_the_configuration(self):
        loaded = self.loaded(builder.build(MAPPINGS))
        exc = self.assertRaises(binding.NotServed, binding.locate, loaded, 4)
        self.assertIn('vhost 4', str(exc))

    def test_numbering_and_wiring_that_disagree_are_refused(self):
        # Before: the agent took the slot from the numbering (phys1), the
        # plugin from the wiring (phys2) - two answers for one vhost.
        loaded = self.loaded(renumbered())
        exc = self.assertRaises(binding.NotServed, binding.locate, loaded, 2)
        self.assertIn('physical network phys2', str(exc))
        self.assertIn('numbered under phys1', str(exc))
        self.assertEqual(['phys1', 'phys1', 'phys2'],
                         [binding.locate(loaded, i).physnet
                          for i in (0, 1, 3)])


class TestHolderRules(testtools.TestCase):

    def test_wire_only_for_the_holder_unwire_unless_someone_else(self):
        loaded = binding.ConfigCache(mock.Mock(), 'h', None).load(
            json.dumps(builder.build(MAPPINGS)))
        bound = binding.bound(loaded, 'h', PORT,
                              protocol.BindPort(MAC, 0, None))
        table = {PORT: (True, True), keys.FREE: (False, True),
                 'other-port': (False, False), None: (False, False)}
        for holder, (wire, unwire) in table.items():
            self.assertEqual((wire, unwire), (bound.may_wire(holder),
                                              bound.may_unwire(holder)),
                             holder)


class TestTypedWork(testtools.TestCase):
    """A port id that looks like the old ``tap:`` tag stays a port."""

    def test_port_named_like_a_tap_tag_is_handled_as_a_port(self):
        etcd = mock.Mock()
        etcd.get_prefix.side_effect = lambda prefix: (
            [mock.Mock(key=prefix + 'tap:abc')], 7)
        fed = feed.Feed(etcd, 'h', mock.Mock())
        fed.replay()
        work = fed.queue.get_nowait()
        self.assertEqual(feed.Work(feed.Kind.PORT, 'tap:abc'), work)
        etcd.read.return_value = {}
        self.assertEqual('gone', handlers.Handlers(
            etcd, mock.Mock(), 'h', None).handle(work))
        etcd.read.assert_called_once_with(keys=[
            keys.bind_port('h', 'tap:abc'), keys.action('h', 'tap:abc'),
            keys.configuration('h'), keys.port_status('h', 'tap:abc')])

    def test_tap_flow_keys_are_tap_work(self):
        etcd = mock.Mock()
        etcd.get_prefix.side_effect = lambda prefix: (
            [mock.Mock(key=prefix + 'flow-1')], 7)
        fed = feed.Feed(etcd, 'h', mock.Mock())
        fed._kinds = [feed.Kind.PORT, feed.Kind.TAP]
        fed.replay()
        self.assertEqual([feed.Work(feed.Kind.PORT, 'flow-1'),
                          feed.Work(feed.Kind.TAP, 'flow-1')],
                         [fed.queue.get_nowait() for _ in range(2)])


class TestRefusedWatch(testtools.TestCase):

    def test_refused_watch_logs_the_cause_without_a_traceback(self):
        log = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))
        stop = threading.Event()
        refused = etcd_mod.EtcdPermissionDenied(
            'spp-agent-h', "prefix '/spp/openstack/action/h/'",
            'https://192.0.2.1:2379')

        class Watch:
            def __iter__(self):
                stop.set()   # one round
                raise refused

            def stop(self):
                pass
        etcd = mock.Mock()
        etcd.get_prefix.return_value = ([], 5)
        etcd.watch_prefix.return_value = Watch()
        feed.Feed(etcd, 'h', stop, backoff_max=0.01)._watch_loop(
            feed.Kind.PORT)
        self.assertIn('Watch on /spp/openstack/action/h/ refused: %s'
                      % refused, log.output)
        self.assertNotIn('Traceback', log.output)
