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


class FakeEtcd:
    """etcd's lease and kv calls as the JSON gateway answers them, with
    one keepalive answer of an unexpected shape.
    """

    def __init__(self):
        self.leases = {}
        self.kv = {}
        self.bad_keepalives = 1

    def call(self, endpoint, body):
        if endpoint == 'lease/grant':
            lease = str(len(self.leases) + 1)
            self.leases[lease] = body['TTL']
            return {'ID': lease, 'TTL': str(body['TTL'])}
        if endpoint == 'kv/put':
            self.kv[body['key']] = body['lease']
            return {}
        if endpoint == 'lease/keepalive':
            if self.bad_keepalives:
                self.bad_keepalives -= 1
                return {'result': ['not', 'an', 'object']}
            return {'result': {'ID': body['ID'], 'TTL': '15'}}
        raise AssertionError(endpoint)


class TestMarkerThread(testtools.TestCase):

    def test_marker_comes_back_after_an_odd_answer(self):
        etcd = FakeEtcd()
        marker = served.Marker(etcd, 'h1')
        marker._beat()                  # publishes on lease 1
        marker._beat()                  # odd keepalive answer
        marker._beat()                  # publishes again
        self.assertEqual({'1': 15, '2': 15}, etcd.leases)
        key = served._b64(served.marker('h1'))
        self.assertEqual({key: '2'}, etcd.kv)
        self.assertEqual('2', marker._lease)
