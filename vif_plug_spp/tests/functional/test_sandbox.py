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
"""The sandbox's SPP round trip runs end to end and cleans up."""

import testtools

from os_vif_accel.sandbox import spp as sandbox


class TestSandbox(testtools.TestCase):

    def test_round_trip(self):
        lines = []
        sandbox.run(lines.append)
        text = '\n'.join(lines)
        # Bound and released through spp_neutron.core, answered by the
        # agent both ways.
        self.assertEqual(2, text.count(', agent up True in '))
        self.assertEqual(2, text.count('-> unplug, agent released it: '
                                       'True'))
        self.assertIn("'value': '100/FA:16:3E:00:00:02'", text)
        self.assertIn('merger rx VLAN ops', text)
        self.assertEqual(2, text.count('os_vif.plug('))
        self.assertTrue(lines[-1].startswith('  cleaned up'))
