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
"""Hostile input at every SPP entry: the corpus and property tests.

For any input, an entry either accepts it or refuses it with its
documented error on one line, and a refusal changes nothing (no etcd
request, no emulator state change).
"""

import base64
import json
import os
from unittest import mock
import warnings

import hypothesis
from hypothesis import strategies as st
import testtools

from os_vif_accel import parse
from os_vif_accel import validate
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import etcd_watch
from vif_plug_spp import hostconfig
from vif_plug_spp import intake
from vif_plug_spp import keys
from vif_plug_spp.tests import hostile

CORPUS = os.path.join(os.path.dirname(__file__), 'hostile_corpus.json')
SETTINGS = hypothesis.settings(
    max_examples=60, deadline=None, database=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow])

# JSON values of any shape, a few levels deep.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() |
    st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) |
    st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20)
# Text made to look like what the entries expect, then broken.
NEAR = st.sampled_from(['vf', 'physical_network', 'num_vhost', 'components',
                        'rx_port', 'tx_port', 'vhost:0', 'ring:1', 'phy:0',
                        'mirror', 'ports', 'core', 'name', 'type', 'plug',
                        'mac_address', 'vhost_id', 'vlan_id', '\n', '\u00b2',
                        '\u0663', '\ud800', '/', '..', ' ', '[', '{'])
HOSTILE_TEXT = st.one_of(st.text(max_size=40),
                         st.lists(NEAR, max_size=8).map(''.join))
CONFIG_KEYS = st.sampled_from(['vf', 'mirror', 'physical_network',
                               'num_vhost', 'components', 'core', 'name',
                               'type', 'rx_port', 'tx_port', 'ports'])
SHAPED = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 40) | NEAR,
    lambda inner: st.lists(inner, max_size=3) |
    st.dictionaries(CONFIG_KEYS, inner, max_size=5), max_leaves=25)


def _b64(data):
    return base64.b64encode(data).decode()


class TestCorpus(testtools.TestCase):
    """Every case of the corpus: no defect, no side effect of a refusal."""

    def test_corpus(self):
        with open(CORPUS) as f:
            cases = json.load(f)
        self.assertGreaterEqual(len(cases), 200)
        bad = []
        for case in cases:
            outcome = hostile.run_case(case)
            if outcome.result == 'defect' or outcome.side_effect:
                bad.append('%s/%s: %s' % (case['entry'], case['note'],
                                          outcome.detail))
            if case['note'].startswith('valid'):
                self.assertEqual('ok', outcome.result, case['note'])
        self.assertEqual([], bad)


class TestParse(testtools.TestCase):

    @SETTINGS
    @hypothesis.given(st.binary(max_size=200))
    def test_decode_utf8_strict_or_invalid_input(self, data):
        try:
            text = parse.decode_utf8(data, 'x')
        except validate.InvalidInput as exc:
            self.assertNotIn('\n', str(exc))
            self.assertRaises(UnicodeDecodeError, data.decode, 'utf-8')
        else:
            self.assertEqual(data, text.encode('utf-8'))

    @SETTINGS
    @hypothesis.given(st.one_of(JSON.map(json.dumps), HOSTILE_TEXT,
                                st.binary(max_size=100)),
                      st.integers(1, 40))
    def test_json_object_is_a_bounded_dict_or_invalid_input(self, text,
                                                            depth):
        try:
            value = parse.json_object(text, 'x', max_depth=depth)
        except validate.InvalidInput as exc:
            self.assertNotIn('\n', str(exc))
        else:
            self.assertIsInstance(value, dict)

    def test_deep_nesting_refused_without_recursion(self):
        for text in ('[' * 100000, '{"a":' * 50000, '[' * 33 + ']' * 33):
            exc = self.assertRaises(validate.InvalidInput, parse.json_object,
                                    text, 'body')
            self.assertIn('nested deeper than 32', str(exc))
        self.assertEqual({'a': '[' * 100}, parse.json_object(
            json.dumps({'a': '[' * 100}), 'body'))

    def test_size_bound(self):
        self.assertRaises(validate.InvalidInput, parse.json_object,
                          '{"a": "%s"}' % ('x' * 100), 'v', max_bytes=50)

    @SETTINGS
    @hypothesis.given(HOSTILE_TEXT, st.integers(-5, 5), st.integers(0, 10**6))
    def test_ascii_int(self, text, lo, span):
        try:
            value = parse.ascii_int(text, 'n', lo, lo + span)
        except validate.InvalidInput as exc:
            self.assertNotIn('\n', str(exc))
        else:
            self.assertTrue(text.lstrip('-').isascii())
            self.assertTrue(lo <= value <= lo + span)

    def test_unicode_digits_refused(self):
        for text in ('\u00b2', '\u0663', '1\n', ' 1', '+1', '9' * 20):
            self.assertRaises(validate.InvalidInput, parse.ascii_int, text,
                              'ETCD_PORT', 1, 65535)


class TestConfiguration(testtools.TestCase):

    @SETTINGS
    @hypothesis.given(st.one_of(SHAPED, JSON,
                                st.builds(lambda vf: {'vf': vf}, SHAPED)))
    def test_configuration_shape(self, value):
        text = json.dumps(value)
        try:
            config = hostconfig.parse(text, 'h')
        except validate.InvalidInput as exc:
            self.assertNotIn('\n', str(exc))
            for entry in (hostile.try_agent_configuration,
                          hostile.try_plugin_configuration):
                self.assertEqual('refused', entry(text).result)
        else:
            self.assertIsInstance(config['vf'], list)
            for entry in (hostile.try_agent_configuration,
                          hostile.try_plugin_configuration):
                self.assertNotEqual('defect', entry(text).result)

    def test_cores_above_31(self):
        # Hosts with more than 32 cores: spp_vf takes lcores up to 127.
        vf = {'physical_network': 'p', 'num_vhost': 0, 'components': [
            {'name': 'c', 'type': 'classifier_mac', 'core': 40,
             'rx_port': ['phy:0'], 'tx_port': []}]}
        config = hostconfig.parse(json.dumps({'vf': [vf]}), 'h')
        self.assertEqual(40, config['vf'][0]['components'][0]['core'])

    def test_port_numbers_spp_vf_reads_differently(self):
        # strtol(.., 0): ring:010 is spp_vf's ring:8, ring:08 no port.
        for port in ('ring:010', 'ring:08', 'vhost:00'):
            vf = {'physical_network': 'p', 'num_vhost': 0, 'components': [
                {'name': 'c', 'type': 'classifier_mac', 'core': 2,
                 'rx_port': ['phy:0'], 'tx_port': [port]}]}
            exc = self.assertRaises(validate.InvalidInput, hostconfig.parse,
                                    json.dumps({'vf': [vf]}), 'h')
            self.assertIn('no leading zero', str(exc))


class TestValues(testtools.TestCase):

    @SETTINGS
    @hypothesis.given(st.one_of(JSON.map(json.dumps), HOSTILE_TEXT,
                                st.builds(lambda v: json.dumps(
                                    {'mac_address': 'fa:16:3e:00:00:01',
                                     'vhost_id': 1, 'vlan_id': v}), JSON)))
    def test_bind_port_and_tap_info(self, text):
        self.assertNotEqual('defect', hostile.try_bind_port(text).result)
        self.assertNotEqual('defect', hostile.try_tap_info(text).result)

    def test_vlan_id_string_refused(self):
        for vlan in ('"\\u0663"', '"100"', 'true'):
            text = ('{"mac_address": "fa:16:3e:00:00:01", "vhost_id": 1, '
                    '"vlan_id": %s}' % vlan)
            self.assertEqual('refused', hostile.try_bind_port(text).result)


class TestKeys(testtools.TestCase):

    @SETTINGS
    @hypothesis.given(st.one_of(HOSTILE_TEXT, JSON))
    def test_key_parts(self, value):
        try:
            key = keys.bind_port('h', value)
        except keys.InvalidKeyPart as exc:
            self.assertNotIn('\n', str(exc))
        else:
            self.assertTrue(key.isascii() and key.isprintable())
            self.assertNotIn(' ', key)

    def test_trailing_newline_refused(self):
        self.assertRaises(keys.InvalidKeyPart, keys.action, 'h',
                          '3f0c5c1e-8a4b-4a53-9a8e-2d8f7d3c1b20\n')
        self.assertRaises(keys.InvalidKeyPart, keys.configuration, 'h\n')

    @SETTINGS
    @hypothesis.given(HOSTILE_TEXT)
    def test_intake_queues_only_port_ids(self, suffix):
        prefix = keys.action_prefix('h')
        got = intake.item_id(prefix + suffix, prefix, 'port id')
        if got is not None:
            self.assertEqual(got, keys.identifier('port id', got))


class TestEtcdDecoding(testtools.TestCase):

    @SETTINGS
    @hypothesis.given(st.binary(max_size=60), st.binary(max_size=60))
    def test_range_and_watch_keep_good_keys(self, key, value):
        raw = [{'b64': _b64(b'/spp/openstack/action/h/' + key)},
               {'b64': _b64(value)}]
        self.assertEqual('ok', hostile.run_case(
            {'entry': 'etcd_range', 'input': raw}).result)
        self.assertEqual('ok', hostile.run_case(
            {'entry': 'etcd_watch', 'input': raw}).result)

    def test_bad_key_reported_and_skipped(self):
        client = hostile._Answer({'kvs': [
            hostile._kv(b'/spp/openstack/action/h/\xff', b'plug'),
            hostile._kv(b'/spp/openstack/action/h/p', b'plug')]})
        with self.assertLogs('vif_plug_spp.etcdkv', 'ERROR') as logs:
            kvs, _rev = client.get_prefix('/spp/openstack/action/h/')
        self.assertEqual(['/spp/openstack/action/h/p'],
                         [kv.key for kv in kvs])
        self.assertEqual(1, len(logs.output))
        self.assertIn("\\xff", logs.output[0])
        self.assertIn('not valid UTF-8', logs.output[0])

    def test_non_base64_answer_is_bad_answer(self):
        client = hostile._Answer({'kvs': [{'key': '!!!', 'value': ''}]})
        self.assertRaises(etcd_mod.EtcdBadAnswer, client.get_prefix, 'a/')

    # Answers of the wrong shape (a broken or hostile gateway): each is
    # EtcdBadAnswer naming the field, never a bare ValueError,
    # AttributeError or TypeError from int() or .get().
    BAD_ANSWERS = [
        {'header': {'revision': 'x7'}},
        {'header': {'revision': ' 7'}},
        {'header': {'revision': '\u0663'}},
        {'header': {'revision': 7.5}},
        {'header': {'revision': True}},
        {'header': {'revision': '-1'}},
        {'header': 'seven'},
        {'kvs': 'not a list'},
        {'kvs': ['not an object']},
        {'kvs': [dict(hostile._kv(b'k', b'v'), mod_revision='v5')]},
        {'kvs': [dict(hostile._kv(b'k', b'v'), create_revision=[5])]},
        {'responses': [{'response_range': {'kvs': 5}}]},
        {'responses': ['x']},
        {'responses': {'response_range': {}}},
        {'deleted': 'all'},
    ]

    def test_answer_of_the_wrong_shape_is_bad_answer(self):
        reads = [lambda c: c.get_prefix('a/'), lambda c: c.get_kv_rev('a'),
                 lambda c: c.read_kvs(['a']), lambda c: c.put('a', 'b'),
                 lambda c: c.delete('a'), lambda c: c.txn_rev([], [])]
        for answer in self.BAD_ANSWERS:
            raised = 0
            for read in reads:
                try:
                    read(hostile._Answer(answer))
                except etcd_mod.EtcdBadAnswer as exc:
                    self.assertIn('etcd answer', str(exc))
                    raised += 1
            self.assertGreater(raised, 0, answer)

    def test_good_answer_numbers(self):
        client = hostile._Answer({
            'header': {'revision': '12'}, 'deleted': 3,
            'kvs': [hostile._kv(b'k', b'v', 9)]})
        self.assertEqual(([etcd_mod.KeyValue('k', 'v', 9, 9)], 12),
                         client.get_prefix('k'))
        self.assertEqual(3, client.delete('k'))
        self.assertEqual(0, hostile._Answer({}).put('k', 'v'))

    def test_version_answer_of_the_wrong_shape_means_v3(self):
        for answer in ([], {'etcdserver': 3.3}, {'etcdserver': None}):
            client = etcd_mod.EtcdClient('127.0.0.1', 9)
            with mock.patch.object(client, '_request', return_value=answer):
                self.assertEqual('/v3/', client.api_path)

    BAD_FRAMES = [
        {'events': 'x'}, {'events': ['x']}, {'events': [{'kv': 'x'}]},
        {'events': [{'kv': dict(hostile._kv(b'k', b'v'),
                                mod_revision='9x')}]},
        {'header': {'revision': 'x'}},
        {'canceled': True, 'compact_revision': 'old'}, 'not an object']

    def test_watch_frame_of_the_wrong_shape_is_bad_answer(self):
        # EtcdBadAnswer is an EtcdError: the watch resumes from the last
        # delivered revision instead of dying with a bare AttributeError.
        for frame in self.BAD_FRAMES:
            watch = etcd_watch.Watch(hostile._Answer({}), '/p/', 5)
            self.assertRaises(etcd_mod.EtcdBadAnswer, watch._events, frame)
            self.assertEqual(4, watch.revision)


class TestRetrySet(testtools.TestCase):

    def test_success_removes_entry(self):
        retry = intake.RetrySet(1.0)
        retry.failed('p', 0.25)
        retry.failed('q', 30.0)
        self.assertEqual([], retry.due())
        self.assertLessEqual(retry.wait(), 0.25)
        retry.failed('p', 0.0)
        self.assertEqual([('p', 0.0)], retry.due())
        retry.done('p')
        self.assertEqual([], retry.due())
        self.assertNotIn('p', retry)
        self.assertEqual(1, len(retry))


class TestConfigBuild(testtools.TestCase):

    @SETTINGS
    @hypothesis.given(HOSTILE_TEXT, HOSTILE_TEXT, HOSTILE_TEXT)
    def test_environment(self, port, mappings, mirror):
        for value in ({'env': {'ETCD_PORT': port}},
                      {'argv': ['--dry-run'],
                       'env': {'DPDK_PORT_MAPPINGS': mappings}},
                      {'argv': ['--dry-run'], 'env': {'SPP_MIRROR': mirror}}):
            value['env'] = {k: v for k, v in value['env'].items()
                            if '\x00' not in v and
                            not any('\ud800' <= c <= '\udfff' for c in v)}
            outcome = hostile.try_config_build(value)
            self.assertNotEqual('defect', outcome.result, outcome.detail)
            self.assertFalse(outcome.side_effect)

    @SETTINGS
    @hypothesis.given(st.one_of(st.binary(max_size=200),
                                st.lists(NEAR, max_size=30).map(
                                    lambda p: ''.join(p).encode(
                                        'utf-8', 'surrogatepass'))))
    def test_customization_file(self, data):
        outcome = hostile.try_config_build({'argv': ['--dry-run'],
                                            'yaml': data})
        self.assertNotEqual('defect', outcome.result, outcome.detail)
        self.assertFalse(outcome.side_effect)


class TestEmulatorBodies(testtools.TestCase):

    @SETTINGS
    @hypothesis.given(st.sampled_from(['GET', 'POST', 'PUT', 'DELETE']),
                      st.sampled_from(['/v1/vfs/1', '/v1/vfs/1/components',
                                       '/v1/vfs/1/classifier_table',
                                       '/v1/vfs/1/components/fw/ports',
                                       '/v1/vfs/\u00b2', '/v1/vfs/01']),
                      st.one_of(st.binary(max_size=80),
                                JSON.map(json.dumps),
                                st.builds(lambda n: '[' * n,
                                          st.integers(0, 5000))))
    def test_refusal_changes_nothing(self, method, path, body):
        outcome = hostile.try_emulator([method, path, body])
        self.assertNotEqual('defect', outcome.result, outcome.detail)
        self.assertFalse(outcome.side_effect)


class TestPluginFields(testtools.TestCase):
    """os-vif objects with hostile or unset fields: InvalidPort or
    UnsupportedVIF before any etcd or spp-ctl request.
    """

    def setUp(self):
        super().setUp()
        from os_vif import objects
        from vif_plug_spp.tests.unit import test_plugin
        self.plugin = test_plugin.unreachable_plugin(self)
        self.objects = objects

    @SETTINGS
    @hypothesis.given(
        st.one_of(st.none(), HOSTILE_TEXT,
                  st.just('3f0c5c1e-8a4b-4a53-9a8e-2d8f7d3c1b20')),
        st.one_of(st.none(), st.just('fa:16:3e:00:00:01')),
        st.one_of(st.none(), HOSTILE_TEXT, st.just('/tmp/sock0'),
                  st.just('/tmp/../etc/sock')),
        st.sampled_from([None, 'server', 'client']),
        st.sampled_from(['plug', 'unplug']), st.booleans())
    def test_refused_before_io(self, port_id, mac, path, mode, call,
                               with_uuid):
        from unittest import mock
        from vif_plug_spp import exception
        fields = {'id': port_id, 'address': mac, 'path': path, 'mode': mode,
                  'plugin': 'spp'}
        try:
            with warnings.catch_warnings():
                # oslo.versionedobjects still takes (and warns about)
                # ids that are not UUIDs: exactly what must be refused.
                warnings.simplefilter('ignore', FutureWarning)
                vif = self.objects.vif.VIFVHostUser(
                    **{k: v for k, v in fields.items() if v is not None})
        except ValueError:
            hypothesis.assume(False)
        inst = self.objects.instance_info.InstanceInfo(name='vm')
        if with_uuid:
            inst.uuid = '3f0c5c1e-8a4b-4a53-9a8e-2d8f7d3c1b21'
        self.plugin._wiring = None
        requests = []
        with mock.patch.object(etcd_mod.EtcdClient, '_request',
                               side_effect=lambda *a, **k: requests.append(
                                   a) or (_ for _ in ()).throw(
                                   etcd_mod.EtcdUnavailable('no etcd'))):
            try:
                getattr(self.plugin, call)(vif, inst)
            except (exception.InvalidPort, exception.UnsupportedVIF) as exc:
                self.assertNotIn('\n', str(exc))
                self.assertEqual([], requests)
                self.assertIsNone(self.plugin._wiring)
            except exception.EtcdUnreachable:
                self.assertTrue(requests)  # accepted, then etcd was asked

    def test_other_vif_types_unsupported(self):
        from vif_plug_spp import exception
        vif = self.objects.vif.VIFGeneric(vif_name='tap0')
        self.assertRaises(exception.UnsupportedVIF, self.plugin.plug, vif,
                          self.objects.instance_info.InstanceInfo())

    def test_newline_in_id_cannot_forge_a_line(self):
        from vif_plug_spp import exception
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', FutureWarning)
            vif = self.objects.vif.VIFVHostUser(
                id='x\nERROR forged', address='fa:16:3e:00:00:01',
                path='/tmp/sock0', mode='server', plugin='spp')
        exc = self.assertRaises(exception.InvalidPort, self.plugin.plug, vif,
                                self.objects.instance_info.InstanceInfo())
        self.assertNotIn('\n', str(exc))
        self.assertIn("for port 'x\\nERROR forged'", str(exc))


class TestAgentCommand(testtools.TestCase):
    """``spp-agent`` with a bad configuration: exit 2, one line, no
    traceback (before: tracebacks, exit 1).
    """

    def _run(self, conf_bytes):
        import subprocess
        import sys
        import tempfile
        with tempfile.NamedTemporaryFile('wb', suffix='.conf') as f:
            f.write(conf_bytes)
            f.flush()
            proc = subprocess.run(
                [sys.executable, '-W', 'ignore', '-m',
                 'vif_plug_spp.cmd.agent', '--config-file', f.name],
                capture_output=True, timeout=60, text=True,
                errors='replace')
        return proc.returncode, proc.stderr

    def test_bad_configurations(self):
        for conf, expect in (
                (b'[spp]\netcd_port = abc\n', 'etcd_port'),
                (b'[spp]\netcd_host = \xff\n', 'not UTF-8'),
                (b'[DEFAULT\n', 'Failed to parse'),
                (b'[DEFAULT]\nhost = a b\n', "host 'a b'"),
                (b'[DEFAULT]\nhost = h\\n\n', 'cannot be part')):
            rc, err = self._run(conf)
            lines = [line for line in err.splitlines()
                     if line.startswith('spp-agent')]
            self.assertEqual(2, rc, err)
            self.assertEqual(1, len(lines), err)
            self.assertIn(expect, lines[0])
            self.assertNotIn('Traceback', err)
