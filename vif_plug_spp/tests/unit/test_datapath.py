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
"""Datapath wiring against the emulator (no etcd needed)."""

import json

import testtools

from vif_plug_spp import builder
from vif_plug_spp import datapath
from vif_plug_spp import keys
from vif_plug_spp import sppctl
from vif_plug_spp.emulator import server
from vif_plug_spp.emulator import state

MAPPINGS = '00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfc02'
MAC = 'fa:16:3e:00:00:01'


def mac_of(dp, vhost_id):
    """(vlan, MAC) the classifier sends to this vhost, or None."""
    vh = dp.vhost(vhost_id)
    return datapath.classifier_entry(dp.client.vf_status(vh.sec_id),
                                     vh.to_vm_port)


def _comp(status, name):
    return [c for c in status['components'] if c.get('name') == name][0]


def _norm(status):
    """Status with port lists sorted: detach + re-attach reorders them,
    which does not change the wiring.
    """
    out = json.loads(json.dumps(status))
    for comp in out['components']:
        for side in ('rx_port', 'tx_port'):
            if side in comp:
                comp[side].sort(key=lambda p: p['port'])
    return json.dumps(out, sort_keys=True)


def _ops(comp, side):
    return {p['port']: p['vlan']['operation'] for p in comp[side]}


class DatapathCase(testtools.TestCase):
    classifier_type = state.CLASSIFIER_1808
    custom = None
    mappings = MAPPINGS

    def setUp(self):
        super().setUp()
        self.config = builder.build(self.mappings, None, self.custom)
        self.emu = server.SppCtlEmulator.for_configuration(
            self.config, classifier_type=self.classifier_type).start()
        self.addCleanup(self.emu.stop)
        self.client = sppctl.SppCtlClient(self.emu.url, retry_window=0)
        self.addCleanup(self.client.close)
        self.dp = datapath.Datapath(self.client, self.config)

    def status(self, sec_id):
        return self.emu.snapshot()[sec_id]


class TestLayout(testtools.TestCase):

    def test_vhost_model_default_layout(self):
        lay = datapath.layouts(builder.build(MAPPINGS))
        vh = lay[1].vhosts[3]
        self.assertEqual((2, 'phys2', 'classifier', 'ring:6', 'merger',
                          'ring:7'),
                         (vh.sec_id, vh.physnet, vh.to_vm_comp,
                          vh.to_vm_port, vh.from_vm_comp, vh.from_vm_port))
        types = {c['name']: c['type'] for c in lay[0].components}
        self.assertEqual('merge', types['forward_0_tx'])
        self.assertEqual('forward', types['forward_0_rx'])

    def test_vhost_model_without_forwarders(self):
        custom = {'vf': [{'components': [
            {'core': 6, 'name': 'classifier', 'type': 'classifier_mac',
             'rx_port': ['phy:0'], 'tx_port': ['vhost:0', 'vhost:1']},
            {'core': 7, 'name': 'merger', 'type': 'merge',
             'rx_port': ['vhost:0', 'vhost:1'], 'tx_port': ['phy:0']}]}]}
        lay = datapath.layouts(builder.build('00:04.0#phys1#2#0xc2', None,
                                             custom))
        vh = lay[0].vhosts[1]
        self.assertEqual(('classifier', 'vhost:1', 'merger', 'vhost:1'),
                         (vh.to_vm_comp, vh.to_vm_port, vh.from_vm_comp,
                          vh.from_vm_port))


class TestBuild(DatapathCase):

    def test_build_components_like_networking_spp(self):
        self.dp.ensure_all()
        st = self.status(1)
        self.assertEqual('merge', _comp(st, 'forward_0_tx')['type'])
        self.assertEqual('classifier_mac', _comp(st, 'classifier')['type'])
        self.assertEqual(['ring:0', 'ring:2'],
                         [p['port'] for p in _comp(st, 'classifier')[
                             'tx_port']])
        self.assertEqual(['phy:1'], [p['port'] for p in _comp(
            self.status(2), 'merger')['tx_port']])

    def test_idempotent(self):
        self.dp.ensure_all()
        before = len(self.emu.requests)
        self.dp.ensure_all()
        writes = [r for r in self.emu.requests[before:] if r[0] != 'GET']
        self.assertEqual([], writes)

    def test_repairs_missing_ports(self):
        self.dp.ensure_all()
        self.client.detach(1, 'merger', 'ring:3', 'rx')
        self.dp.ensure_all()
        self.assertIn('ring:3', _ops(_comp(self.status(1), 'merger'),
                                     'rx_port'))


class TestPlug(DatapathCase):

    def test_flat_plug_and_unplug(self):
        self.assertTrue(self.dp.plug(1, MAC, None))
        self.assertEqual([{'type': 'mac', 'value': MAC.upper(),
                           'port': 'ring:2'}],
                         self.status(1)['classifier_table'])
        self.assertEqual((None, MAC), mac_of(self.dp, 1))
        self.assertFalse(self.dp.plug(1, MAC, None))
        self.assertTrue(self.dp.unplug(1))
        self.assertEqual([], self.status(1)['classifier_table'])
        self.assertFalse(self.dp.unplug(1))

    def test_vlan_plug_tags_and_strips(self):
        self.assertTrue(self.dp.plug(3, MAC, 100))
        st = self.status(2)
        self.assertEqual([{'type': 'vlan', 'value': '100/' + MAC.upper(),
                           'port': 'ring:6'}], st['classifier_table'])
        self.assertEqual('del', _ops(_comp(st, 'classifier'),
                                     'tx_port')['ring:6'])
        merger = _comp(st, 'merger')
        self.assertEqual({'port': 'ring:7', 'vlan': {
            'operation': 'add', 'id': 100, 'pcp': 0}},
            [p for p in merger['rx_port'] if p['port'] == 'ring:7'][0])
        self.assertFalse(self.dp.plug(3, MAC, 100))
        self.assertTrue(self.dp.unplug(3))
        st = self.status(2)
        self.assertEqual([], st['classifier_table'])
        self.assertEqual({'ring:4': 'none', 'ring:6': 'none'},
                         _ops(_comp(st, 'classifier'), 'tx_port'))
        self.assertEqual({'ring:5': 'none', 'ring:7': 'none'},
                         _ops(_comp(st, 'merger'), 'rx_port'))

    def test_stale_mac_is_replaced(self):
        self.dp.plug(0, 'fa:16:3e:99:99:99', 5)
        self.assertTrue(self.dp.plug(0, MAC, None))
        st = self.status(1)
        self.assertEqual([{'type': 'mac', 'value': MAC.upper(),
                           'port': 'ring:0'}], st['classifier_table'])
        self.assertEqual('none', _ops(_comp(st, 'merger'),
                                      'rx_port')['ring:1'])

    def test_unknown_vhost(self):
        self.assertRaises(datapath.WiringError, self.dp.plug, 9, MAC, None)

    def test_error_mid_vlan_plug_rolls_back(self):
        self.dp.ensure_all()
        before = _norm(self.status(2))
        # VLAN add and strip succeed, the classifier entry fails.
        self.emu.fail('PUT', 'classifier_table', status=400,
                      text='command error: error occur')
        exc = self.assertRaises(datapath.WiringError, self.dp.plug, 2, MAC,
                                200)
        self.assertIn('command error: error occur', str(exc))
        self.assertIn('rolled back', str(exc))
        self.assertTrue(exc.rolled_back)
        self.assertEqual(before, _norm(self.status(2)))

    def test_error_on_reattach_rolls_back(self):
        self.dp.ensure_all()
        before = _norm(self.status(2))
        # The strip (detach + attach with del) fails at the attach.
        self.emu.fail('PUT', '/components/classifier/ports', after=1)
        self.assertRaises(datapath.WiringError, self.dp.plug, 2, MAC, 200)
        self.assertEqual(before, _norm(self.status(2)))

    def test_rollback_failure_is_reported_then_repaired(self):
        self.dp.ensure_all()
        self.emu.fail('PUT', '/components/classifier/ports', after=1,
                      count=3)
        exc = self.assertRaises(datapath.WiringError, self.dp.plug, 2, MAC,
                                200)
        self.assertFalse(exc.rolled_back)
        self.assertIn('rollback incomplete', str(exc))
        self.emu.clear_faults()
        self.assertTrue(self.dp.plug(2, MAC, 200))
        st = self.status(2)
        self.assertEqual({'ring:4': 'del', 'ring:6': 'none'}.keys(),
                         _ops(_comp(st, 'classifier'), 'tx_port').keys())
        self.assertEqual('del', _ops(_comp(st, 'classifier'),
                                     'tx_port')['ring:4'])

    def test_spp_ctl_unreachable(self):
        self.emu.stop()
        exc = self.assertRaises(datapath.WiringError, self.dp.plug, 0, MAC,
                                None)
        self.assertIsInstance(exc.cause, sppctl.SppCtlUnreachable)


class TestNewClassifierType(DatapathCase):
    classifier_type = state.CLASSIFIER_1908

    def test_detects_and_adapts(self):
        self.assertTrue(self.dp.plug(0, MAC, None))
        self.assertEqual('classifier', _comp(self.status(1),
                                             'classifier')['type'])
        self.assertEqual('classifier', datapath.classifier_type(
            self.status(1)))


class TestHostLock(testtools.TestCase):

    def test_lock_file_is_created_and_reusable(self):
        import os
        import tempfile
        path = os.path.join(tempfile.mkdtemp(), 'lock')
        with datapath.host_lock(path):
            self.assertTrue(os.path.exists(path))
        with datapath.host_lock(path):
            pass
        # flock needs no write access: nobody else may write the file.
        self.assertEqual(0, os.stat(path).st_mode & 0o022)

    def test_unopenable_lock_file(self):
        exc = self.assertRaises(datapath.LockError, datapath.host_lock(
            '/nonexistent-dir/lock').__enter__)
        self.assertIn('/nonexistent-dir/lock', str(exc))
        self.assertIn('lock_path', str(exc))


class TestKeys(testtools.TestCase):

    def test_prefixes_end_with_slash(self):
        for prefix in keys.host_prefixes('spp1'):
            self.assertTrue(prefix.endswith('/spp1/'), prefix)
            self.assertFalse('/spp/openstack/x/spp10/'.startswith(prefix))

    def test_exact_keys(self):
        self.assertEqual('/spp/openstack/configuration/h',
                         keys.configuration('h'))
        self.assertEqual('/spp/openstack/vhost/h/phys1/3',
                         keys.vhost('h', 'phys1', 3))
        self.assertEqual('/spp/openstack/bind_port/h/p',
                         keys.bind_port('h', 'p'))
        self.assertEqual('/spp/openstack/action/h/p', keys.action('h', 'p'))
        self.assertEqual('/spp/openstack/port_status/h/p',
                         keys.port_status('h', 'p'))
        self.assertEqual('/spp/openstack/mirror/h/1', keys.mirror('h', 1))
        self.assertEqual(('phys1', 3), keys.parse_vhost(
            '/spp/openstack/vhost/h/phys1/3', 'h'))

    def test_rejects_separators(self):
        for bad in ('a/b', '', 'a b', None):
            self.assertRaises(keys.InvalidKeyPart, keys.action_prefix, bad)
