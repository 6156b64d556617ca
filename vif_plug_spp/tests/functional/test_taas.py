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
"""Tap flows (TaaS keys) through the agent, spp_vf + spp_mirror emulated."""

import json
import uuid

from os_vif_accel.testing import spp_taas
from vif_plug_spp import builder
from vif_plug_spp import datapath
from vif_plug_spp import keys
from vif_plug_spp import taas
from vif_plug_spp.emulator import server as emu_server
from vif_plug_spp.tests.functional import base


def _ports(status, name, side):
    comp = [c for c in status['components'] if c.get('name') == name][0]
    return [p['port'] for p in comp[side + '_port']]


def _norm(statuses):
    out = json.loads(json.dumps(statuses))
    for status in out.values():
        for comp in status['components']:
            for side in ('rx_port', 'tx_port'):
                if side in comp:
                    comp[side].sort(key=lambda p: p['port'])
    return json.dumps(out, sort_keys=True)


class TestTaas(base.SppCase):

    def setUp(self):
        base.EtcdClassCase.setUp(self)
        self.config = builder.build(base.MAPPINGS, '2#0x30002')
        builder.write(self.etcd, self.host, self.config)
        self.emu = emu_server.SppCtlEmulator.for_configuration(
            self.config).start()
        self.addCleanup(self.emu.stop)
        self.agent = self.start_agent()
        self.src, self.svc = str(uuid.uuid4()), str(uuid.uuid4())
        self.s = self.neutron_bind(self.src, 'fa:16:3e:00:00:01', 'phys1')
        self.d = self.neutron_bind(self.svc, 'fa:16:3e:00:00:02', 'phys2')

    def everything(self):
        out = {('vf', k): v for k, v in self.emu.snapshot().items()}
        out.update({('mirror', k): v for k, v in
                    self.emu.state.snapshot(mirrors=True).items()})
        return {'%s%d' % k: v for k, v in out.items()}

    def test_both_directions_wired_and_removed(self):
        before = _norm(self.everything())
        tap = str(uuid.uuid4())
        ids = spp_taas.create_tap_flow(self.etcd, self.host, tap, self.svc,
                                       self.src, 'BOTH', timeout=10)
        self.assertIsNotNone(ids)
        i, j = ids['mirror_in'], ids['mirror_out']
        self.assertEqual(tap, self.etcd.get(keys.mirror(self.host, i)))
        a_i, b_i = self.config['mirror'][i]['ports']
        a_j, b_j = self.config['mirror'][j]['ports']
        s, d = self.s, self.d
        mirror = self.emu.state.snapshot(mirrors=True)[3]
        # IN: classifier -> ring:2S -> mirror -> {ring_a -> D, ring_b -> S}
        self.assertEqual(['ring:%d' % (2 * s)],
                         _ports(mirror, 'mirror_%d' % i, 'rx'))
        self.assertEqual([a_i, b_i], _ports(mirror, 'mirror_%d' % i, 'tx'))
        vf1, vf2 = self.emu.snapshot()[1], self.emu.snapshot()[2]
        self.assertEqual([b_i], _ports(vf1, 'forward_%d_tx' % s, 'rx'))
        # OUT: S -> forward_S_rx -> ring_b -> mirror -> {ring_a,
        # ring:2S+1 -> merger}
        self.assertEqual([b_j], _ports(vf1, 'forward_%d_rx' % s, 'tx'))
        self.assertEqual([b_j], _ports(mirror, 'mirror_%d' % j, 'rx'))
        self.assertEqual([a_j, 'ring:%d' % (2 * s + 1)],
                         _ports(mirror, 'mirror_%d' % j, 'tx'))
        self.assertEqual(sorted(['ring:%d' % (2 * d), a_i, a_j]),
                         sorted(_ports(vf2, 'forward_%d_tx' % d, 'rx')))

        self.assertTrue(spp_taas.delete_tap_flow(self.etcd, self.host, tap))
        self.wait_for(lambda: self.etcd.get(keys.tap_info(self.host, tap))
                      is None, what='tap flow removed')
        for key in (keys.tap_action(self.host, tap),
                    keys.tap_status(self.host, tap)):
            self.assertIsNone(self.etcd.get(key))
        self.assertEqual('None', self.etcd.get(keys.mirror(self.host, i)))
        self.assertEqual('None', self.etcd.get(keys.mirror(self.host, j)))
        after = json.loads(_norm(self.everything()))
        # Only the mirror components (started for the first tap) and the
        # rings ever attached may differ from before.
        for status in after.values():
            status.pop('ports', None)
        ref = json.loads(before)
        for status in ref.values():
            status.pop('ports', None)
        ref['mirror3'] = after['mirror3']
        self.assertEqual(ref, after)
        self.assertEqual([[], []], [_ports(after['mirror3'], 'mirror_%d' % n,
                                           'rx') for n in (0, 1)])

    def test_port_unplug_takes_its_tap_flows(self):
        tap = str(uuid.uuid4())
        ids = spp_taas.create_tap_flow(self.etcd, self.host, tap, self.svc,
                                       self.src, 'IN', timeout=10)
        self.assertIsNone(ids['mirror_out'])
        self.neutron_release(self.src)
        self.wait_for(lambda: self.etcd.get(keys.tap_info(self.host, tap))
                      is None, what='tap flow removed with the port')
        self.assertEqual('None', self.etcd.get(
            keys.mirror(self.host, ids['mirror_in'])))
        vf1 = self.emu.snapshot()[1]
        self.assertEqual(['ring:%d' % (2 * self.s)],
                         _ports(vf1, 'forward_%d_tx' % self.s, 'rx'))
        mirror = self.emu.state.snapshot(mirrors=True)[3]
        self.assertEqual([], _ports(mirror, 'mirror_%d' % ids['mirror_in'],
                                    'tx'))

    def test_no_mirror_free(self):
        first = spp_taas.create_tap_flow(self.etcd, self.host,
                                         str(uuid.uuid4()), self.svc,
                                         self.src, 'BOTH', timeout=10)
        self.assertIsNotNone(first)
        self.assertIsNone(spp_taas.create_tap_flow(
            self.etcd, self.host, str(uuid.uuid4()), self.svc, self.src,
            'IN', timeout=1))

    def test_spp_error_mid_tap_rolls_back(self):
        agent_taas = self.agent.handlers.taas
        before = _norm(self.everything())
        # Step 5 of IN (detach ring:2S from forward_S_tx) fails once,
        # after the rings were attached on both processes.
        self.emu.fail('PUT', '/v1/vfs/1/components/forward_%d_tx/ports'
                      % self.s, after=1)
        src = agent_taas.datapath.vhost(self.s)
        svc = agent_taas.datapath.vhost(self.d)
        tap = taas.TapInfo(self.svc, self.src, 0, None)
        exc = self.assertRaises(datapath.WiringError, agent_taas.plug, tap,
                                src, svc)
        self.assertTrue(exc.rolled_back)
        after = json.loads(_norm(self.everything()))
        ref = json.loads(before)
        for status in list(after.values()) + list(ref.values()):
            status.pop('ports', None)
        ref['mirror3'] = after['mirror3']     # mirror components started
        self.assertEqual(ref, after)
        self.assertEqual([[], []], [
            _ports(after['mirror3'], 'mirror_0', side)
            for side in ('rx', 'tx')])
        self.assertTrue(agent_taas.plug(tap, src, svc))
        self.assertFalse(agent_taas.plug(tap, src, svc))
        self.assertTrue(agent_taas.unplug(tap, src, svc))
