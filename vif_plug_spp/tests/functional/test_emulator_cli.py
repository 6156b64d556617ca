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
"""``spp-ctl-emulator`` as a process."""

import json
import os
import subprocess
import sys
import tempfile

import testtools

from vif_plug_spp import builder
from vif_plug_spp import sppctl


class TestEmulatorCommand(testtools.TestCase):

    def _start(self, *args):
        proc = subprocess.Popen(
            [sys.executable, '-m', 'vif_plug_spp.cmd.emulator', '--port',
             '0'] + list(args), stdout=subprocess.PIPE, text=True)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.terminate)
        line = proc.stdout.readline()
        self.assertIn('listening on http://127.0.0.1:', line)
        return line.split()[-1]

    def test_core_masks(self):
        url = self._start('--vf', '0xfe', '--vf', '0xfc02')
        client = sppctl.SppCtlClient(url)
        self.addCleanup(client.close)
        self.assertEqual([{'type': 'primary'}, {'type': 'vf', 'client-id': 1},
                          {'type': 'vf', 'client-id': 2}],
                         client.processes())
        self.assertEqual(10, client.vf_status(2)['components'][0]['core'])

    def test_configuration_file_and_new_classifier_name(self):
        with tempfile.NamedTemporaryFile('w', suffix='.json',
                                         delete=False) as f:
            json.dump(builder.build('00:04.0#phys1#1#0x3e'), f)
        self.addCleanup(os.unlink, f.name)
        url = self._start('--configuration', f.name, '--classifier-type',
                          'classifier')
        client = sppctl.SppCtlClient(url)
        self.addCleanup(client.close)
        err = self.assertRaises(sppctl.SppCtlError, client.start_component,
                                1, 'c', 2, 'classifier_mac')
        self.assertEqual(500, err.status)
        client.start_component(1, 'c', 2, 'classifier')

    def _config_file(self, mappings):
        with tempfile.NamedTemporaryFile('w', suffix='.json',
                                         delete=False) as f:
            json.dump(builder.build(mappings), f)
        self.addCleanup(os.unlink, f.name)
        return f.name

    def test_rings_option_with_configuration(self):
        # spp_primary started with -n 2: ring:2 poisons spp_vf 1.
        url = self._start('--configuration',
                          self._config_file('00:04.0#phys1#1#0x3e'),
                          '--rings', '2')
        client = sppctl.SppCtlClient(url)
        self.addCleanup(client.close)
        client.start_component(1, 'f', 2, 'forward')
        client.attach(1, 'f', 'ring:1', 'rx')
        self.assertRaises(sppctl.SppCtlError, client.attach, 1, 'f',
                          'ring:2', 'tx')
        err = self.assertRaises(sppctl.SppCtlError, client.stop_component,
                                1, 'nothing')
        self.assertEqual('command error: error occur', err.text)

    def test_status_size_bug_and_hang_seconds(self):
        url = self._start('--vf', '0xfe', '--status-size-bug',
                          '--hang-seconds', '0.2')
        client = sppctl.SppCtlClient(url, read_timeout=2, retry_window=0)
        self.addCleanup(client.close)
        client.start_component(1, 'c', 2, 'classifier_mac')
        for i in range(32):
            client.attach(1, 'c', 'ring:%d' % i, 'tx', {'operation': 'del'})
            client.classifier(1, 'add', 'fa:16:3e:00:00:%02x' % i,
                              'ring:%d' % i, 100 + i)
        err = self.assertRaises(sppctl.SppCtlError, client.vf_status, 1)
        self.assertEqual(500, err.status)
        self.assertIn('8d09d7b', str(err))
        # Master lcore 1: accepted, then spp_vf stops answering; the
        # emulator drops the request after --hang-seconds.
        self.assertRaises(sppctl.SppCtlUnreachable, client.start_component,
                          1, 'm', 1, 'forward')
