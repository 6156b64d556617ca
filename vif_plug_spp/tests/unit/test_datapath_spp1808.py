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
"""The datapath against what spp_vf/spp-ctl 18.08 do with it (reference
Corrections 1-4): VLAN ops without in-place switches, nothing sent that
spp_vf cannot undo, honest errors after a sticky flush failure, and the
spp-ctl status-size bug named.
"""

import copy
import json
import time

import testtools

from vif_plug_spp import builder
from vif_plug_spp import datapath
from vif_plug_spp import sppctl
from vif_plug_spp import taas
from vif_plug_spp.emulator import server
from vif_plug_spp.tests.unit import test_datapath as base

MAC = base.MAC


def _writes(requests):
    return [(m, p, json.loads(b) if b else None)
            for m, p, b in requests if m != 'GET']


class Case(testtools.TestCase):
    mappings = base.MAPPINGS
    emu_opts: dict = {}

    def start(self, config=None, dp_rings=None, **emu_opts):
        self.config = config or builder.build(self.mappings, None, None)
        opts = dict(self.emu_opts, **emu_opts)
        self.emu = server.SppCtlEmulator.for_configuration(
            self.config, **opts).start()
        self.addCleanup(self.emu.stop)
        self.client = sppctl.SppCtlClient(self.emu.url, retry_window=0,
                                          read_timeout=1)
        self.addCleanup(self.client.close)
        self.dp = datapath.Datapath(self.client, self.config,
                                    num_rings=dp_rings)

    def status(self, sec_id):
        return self.emu.snapshot()[sec_id]

    def plug_after_refused_attach(self, attach, vhost, vlan):
        """Wire everything, have someone else's ``attach`` (sec_id,
        component, port, dir) fail its flush, then plug: the error.
        """
        self.start()
        self.dp.ensure_all()
        self.assertRaises(sppctl.SppCtlError, self.client.attach, *attach)
        exc = self.assertRaises(datapath.WiringError, self.dp.plug, vhost,
                                MAC, vlan)
        self.assertFalse(exc.rolled_back)
        return exc


class TestVlanFirstPlug(Case):
    """Corrections 1: a plain port never switches to add_vlantag in
    place.
    """

    def test_detach_then_attach_with_the_op(self):
        self.start()
        self.dp.ensure_all()
        before = len(self.emu.requests)
        self.assertTrue(self.dp.plug(3, MAC, 100))
        merger = [w for w in _writes(self.emu.requests[before:])
                  if '/merger/' in w[1]]
        self.assertEqual([
            {'action': 'detach', 'port': 'ring:7', 'dir': 'rx'},
            {'action': 'attach', 'port': 'ring:7', 'dir': 'rx',
             'vlan': {'operation': 'add', 'id': 100, 'pcp': 0}}],
            [w[2] for w in merger])
        self.assertEqual({'operation': 'add', 'id': 100, 'pcp': 0}, [
            p['vlan'] for p in base._comp(self.status(2),
                                          'merger')['rx_port']
            if p['port'] == 'ring:7'][0])

    def test_vlan_change_updates_add_vlantag_in_place(self):
        self.start()
        self.dp.plug(3, MAC, 100)
        before = len(self.emu.requests)
        self.assertTrue(self.dp.plug(3, MAC, 200))
        merger = [w[2] for w in _writes(self.emu.requests[before:])
                  if '/merger/' in w[1]]
        self.assertEqual([{'action': 'attach', 'port': 'ring:7',
                           'dir': 'rx', 'vlan': {'operation': 'add',
                                                 'id': 200, 'pcp': 0}}],
                         merger)

    def test_failed_attach_with_op_restores_the_plain_port(self):
        self.start()
        self.dp.ensure_all()
        before = base._norm(self.status(2))
        self.emu.fail('PUT', '/components/merger/ports', after=1)
        exc = self.assertRaises(datapath.WiringError, self.dp.plug, 3, MAC,
                                100)
        self.assertTrue(exc.rolled_back)
        self.assertEqual(before, base._norm(self.status(2)))

    def test_detach_kept_by_a_failed_flush_is_not_rolled_back(self):
        # A second tx port put on the merger by hand: spp_vf keeps it in
        # its tables, and every flush that touches the merger fails; the
        # plug's detach of ring:7 is kept although it "failed".
        exc = self.plug_after_refused_attach((2, 'merger', 'phy:0', 'tx'),
                                             3, 100)
        self.assertNotIn('; rolled back', str(exc))
        # Once the extra port is gone, the next plug wires ring:7 again.
        self.client.detach(2, 'merger', 'phy:0', 'tx')
        self.assertTrue(self.dp.plug(3, MAC, 100))
        self.assertIn('ring:7', [p['port'] for p in base._comp(
            self.status(2), 'merger')['rx_port']])


class TestNothingPoisonous(Case):
    """Corrections 2 and 4: refused before anything is sent."""

    def assertRefusedSilently(self, vhost, *texts):
        before = len(self.emu.requests)
        exc = self.assertRaises(datapath.WiringError, self.dp.plug, vhost,
                                MAC, None)
        for text in texts:
            self.assertIn(text, str(exc))
        self.assertEqual([], _writes(self.emu.requests[before:]))
        return exc

    def test_ring_beyond_spp_primary_rings(self):
        self.start(dp_rings=6)
        self.assertRefusedSilently(
            3, 'spp_vf 2', 'ring:6', 'spp_primary has 6 rings')
        # spp_vf 1 only uses ring:0..3: it is wired.
        self.assertTrue(self.dp.plug(0, MAC, None))

    def test_ring_32_or_more(self):
        config = builder.build(self.mappings, None, None)
        comps = config['vf'][1]['components']
        for comp in comps:
            comp['tx_port'] = [p.replace('ring:6', 'ring:40')
                               for p in comp['tx_port']]
            comp['rx_port'] = [p.replace('ring:6', 'ring:40')
                               for p in comp['rx_port']]
        self.start(config=config, dp_rings=64, num_rings=64)
        self.assertRefusedSilently(3, 'ring:40', 'at most 32')

    def test_master_lcore(self):
        config = builder.build(self.mappings, None, None)
        comp = config['vf'][0]['components'][0]
        comp['core'] = 1                     # core mask 0xfe: master 1
        self.start(config=config, hang_seconds=5)
        self.assertRefusedSilently(0, 'core 1', 'master lcore',
                                   'stops answering')
        self.assertEqual(200, self.client._http.request(
            'GET', '/v1/vfs/1').status)

    def test_forward_port_limit(self):
        config = builder.build(self.mappings, None, None)
        fwd = [c for c in config['vf'][0]['components']
               if c['name'] == 'forward_0_rx'][0]
        fwd['tx_port'] = fwd['tx_port'] + ['ring:5']
        self.start(config=config)
        self.assertRefusedSilently(0, 'forward_0_rx', '1 rx and 2 tx',
                                   'one of each')


class TestStickyFailure(Case):
    """Corrections 2: after a flush that fails for good, the error says
    which spp_vf to restart and claims no rollback.
    """

    def test_spp_primary_with_fewer_rings_than_configured(self):
        # The configuration says 8 rings, spp_primary was started with 2.
        self.start(num_rings=2)
        exc = self.assertRaises(datapath.WiringError, self.dp.plug, 0, MAC,
                                None)
        self.assertFalse(exc.rolled_back)
        for text in ('Restart spp_vf 1', self.emu.url, 'no cancel'):
            self.assertIn(text, str(exc))
        self.assertIn('nothing could be rolled back', str(exc))
        self.assertNotIn('; rolled back', str(exc))

    def test_poisoned_before_the_plug(self):
        # Someone attaches a ring spp_primary never created.
        exc = self.plug_after_refused_attach(
            (1, 'forward_0_rx', 'ring:9', 'rx'), 1, 5)
        self.assertIn('Restart spp_vf 1', str(exc))
        # After the restart, the next plug rebuilds and wires.
        self.emu.restart(reset_vfs=True)
        self.assertTrue(self.dp.plug(1, MAC, 5))

    def test_classifier_start_on_a_poisoned_spp_vf(self):
        # A fresh plugin or agent (classifier type not yet seen) finds the
        # classifier missing on an spp_vf someone poisoned: the failed
        # start is reported as kept, not masked by the 19.08 name retry.
        self.start()
        self.dp.ensure_all()
        self.client.stop_component(1, 'classifier')
        self.assertRaises(sppctl.SppCtlError, self.client.attach, 1,
                          'forward_0_rx', 'ring:9', 'rx')
        dp = datapath.Datapath(self.client, self.config)
        exc = self.assertRaises(datapath.WiringError, dp.plug, 0, MAC, None)
        self.assertFalse(exc.rolled_back)
        self.assertIn('Restart spp_vf 1', str(exc))

    def test_unanswered_step_is_undone_too(self):
        # spp_vf answers the classifier add after the client gave up
        # (read timeout 1 s): "rolled back" must still be true.
        self.start()
        self.dp.ensure_all()
        before = base._norm(self.status(1))
        self.emu.delay('PUT', 'classifier_table', 1.5)
        exc = self.assertRaises(datapath.WiringError, self.dp.plug, 0, MAC,
                                None)
        self.assertTrue(exc.rolled_back)
        time.sleep(1.0)    # the held add has been applied by now
        self.assertEqual(before, base._norm(self.status(1)))

    def test_plain_refusal_still_rolls_back(self):
        self.start()
        self.dp.ensure_all()
        before = base._norm(self.status(1))
        self.emu.fail('PUT', 'classifier_table')
        exc = self.assertRaises(datapath.WiringError, self.dp.plug, 0, MAC,
                                7)
        self.assertTrue(exc.rolled_back)
        self.assertIn('rolled back', str(exc))
        self.assertEqual(before, base._norm(self.status(1)))


class TestStatusSizeBug(Case):
    """Corrections 3: spp-ctl 18.08.1-19.08 answer 500 to status replies
    of 4096 bytes or more.
    """
    emu_opts = {'status_size_bug': True}

    def test_small_layout_works(self):
        self.start()
        self.assertTrue(self.dp.plug(3, MAC, 100))

    def test_large_layout_names_the_fix(self):
        self.start(config=builder.build('00:04.0#phys1#6#0xfffe', None,
                                        None))
        exc = self.assertRaises(datapath.WiringError, self.dp.plug, 0, MAC,
                                None)
        for text in ('HTTP 500', '8d09d7b', 'SPP 19.11', '4096 bytes'):
            self.assertIn(text, str(exc))

    def test_large_layout_works_with_fixed_spp_ctl(self):
        self.start(config=builder.build('00:04.0#phys1#6#0xfffe', None,
                                        None), status_size_bug=False)
        self.assertTrue(self.dp.plug(5, MAC, 100))
        self.assertEqual(copy.deepcopy(base.mac_of(self.dp, 5)), (100, MAC))


class TestTapRings(Case):
    """Corrections 2 for tap flows: mirror rings are checked too."""

    def test_mirror_ring_beyond_spp_primary_rings(self):
        config = builder.build(self.mappings, '2#0x30002')
        self.start(config=config)
        tap = taas.Taas(self.client, config, self.dp)
        good = tap.steps(taas.TapInfo('d', 's', 0, None),
                         self.dp.vhost(0), self.dp.vhost(2))
        self.assertIn(config['mirror'][0]['ports'][0],
                      [step[3] for step in good])
        config['mirror'][1]['ports'] = ['ring:31', 'ring:32']
        before = len(self.emu.requests)
        exc = self.assertRaises(datapath.WiringError, tap.plug,
                                taas.TapInfo('d', 's', None, 1),
                                self.dp.vhost(0), self.dp.vhost(2))
        self.assertIn('mirror 1 uses ring:31', str(exc))
        self.assertIn('ring:32', str(exc))
        self.assertEqual([], [w for w in _writes(self.emu.requests[before:])
                              if '/ports' in w[1]])
