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
"""Reading our agent's marker (the plugin's only source for who serves
a host): anything but our agent's value means "not ours".
"""

import json

import testtools

from vif_plug_spp import keys
from vif_plug_spp import served


class TestServedByUs(testtools.TestCase):

    def test_our_value(self):
        found = {served.marker('h1'): json.dumps(
            {'agent': served.AGENT_NAME, 'pid': 1})}
        self.assertTrue(served.served_by_us(found, 'h1'))

    def test_absent_foreign_or_garbage_is_not_ours(self):
        key = served.marker('h1')
        for found in ({}, {key: 'up'}, {key: '[1]'},
                      {key: json.dumps({'agent': 'neutron-spp-agent'})},
                      {served.marker('h10'): json.dumps(
                          {'agent': served.AGENT_NAME})}):
            self.assertFalse(served.served_by_us(found, 'h1'), found)

    def test_marker_outside_networking_spp_keys(self):
        self.assertFalse(served.marker('h1').startswith(keys.ROOT))
        self.assertRaises(keys.InvalidKeyPart, served.marker, 'a/b')
