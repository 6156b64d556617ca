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
"""A status answer of another shape is spp-ctl's error, not a ValueError
or KeyError deep in the wiring code (which Nova shows as a bare
``invalid literal for int()`` and the agent as a traceback).
"""

import copy
import json

import testtools

from os_vif_accel.testing import httpserver

from vif_plug_spp import builder
from vif_plug_spp import datapath
from vif_plug_spp import sppctl
from vif_plug_spp.emulator import server

MAC = 'fa:16:3e:00:00:01'


def _corrupt(kind, status):
    out = copy.deepcopy(status)
    comps = [c for c in out['components'] if c.get('type') != 'unuse']
    if kind == 'vlan-value':
        out['classifier_table'] = [{'type': 'vlan', 'value': 'x/' + MAC,
                                    'port': 'ring:0'}]
    elif kind == 'vlan-id':
        comps[0]['tx_port'][0]['vlan'] = {'operation': 'add', 'id': 'x',
                                          'pcp': 0}
    elif kind == 'port-name':
        comps[0]['tx_port'] = [{'vlan': {}}]
    elif kind == 'components':
        out['components'] = ['classifier']
    elif kind == 'table':
        out['classifier_table'] = {'port': 'ring:0'}
    return out


class TestMalformedStatus(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.config = builder.build('00:04.0#phys1#2#0xfe')
        emu = server.SppCtlEmulator.for_configuration(self.config).start()
        client = sppctl.SppCtlClient(emu.url, retry_window=0)
        datapath.Datapath(client, self.config).ensure_all()
        self.good = client.vf_status(1)
        client.close()
        emu.stop()
        self.answer = self.good
        front = httpserver.LoopbackHTTPServer(self._dispatch)
        front.start()
        self.addCleanup(front.stop)
        self.client = sppctl.SppCtlClient('http://127.0.0.1:%d' % front.port,
                                          retry_window=0)
        self.addCleanup(self.client.close)

    def _dispatch(self, method, path, body):
        return (200, 'OK', [('Content-Type', 'application/json')],
                json.dumps(self.answer).encode())

    def test_well_formed_status_passes(self):
        self.assertEqual(self.good, self.client.vf_status(1))

    def test_each_malformed_shape_is_an_spp_ctl_error(self):
        for kind in ('vlan-value', 'vlan-id', 'port-name', 'components',
                     'table'):
            self.answer = _corrupt(kind, self.good)
            exc = self.assertRaises(sppctl.SppCtlError,
                                    self.client.vf_status, 1)
            self.assertIn('malformed status', str(exc), kind)

    def test_plug_reports_it_as_a_wiring_error(self):
        # Before: int('x') of the classifier entry escaped as ValueError.
        self.answer = _corrupt('vlan-value', self.good)
        dp = datapath.Datapath(self.client, self.config)
        exc = self.assertRaises(datapath.WiringError, dp.plug, 0, MAC, 10)
        self.assertIn('malformed status', str(exc))
