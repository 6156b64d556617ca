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

from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import etcd_txn
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
    """etcd's lease and kv calls as the JSON gateway answers them; the
    keepalive answers listed in ``keepalives`` come first (an exception is
    raised).
    """

    def __init__(self, *keepalives):
        self.leases = {}
        self.kv = {}
        self.keepalives = list(keepalives)
        self.granted = 0

    def call(self, endpoint, body):
        if endpoint == 'lease/grant':
            self.granted += 1
            lease = str(self.granted)
            self.leases[lease] = body['TTL']
            return {'ID': lease, 'TTL': str(body['TTL'])}
        if endpoint == 'kv/put':
            self.kv[body['key']] = body['lease']
            return {}
        if endpoint == 'lease/keepalive':
            answer = self.keepalives.pop(0) if self.keepalives else None
            if isinstance(answer, Exception):
                raise answer
            alive = body['ID'] in self.leases
            return answer or {'result': {'ID': body['ID'],
                                         'TTL': '15' if alive else '0'}}
        if endpoint == 'kv/lease/revoke':
            del self.leases[body['ID']]
            self.kv = {k: v for k, v in self.kv.items() if v != body['ID']}
            return {}
        raise AssertionError(endpoint)


class TestMarkerThread(testtools.TestCase):

    def key(self):
        return etcd_txn.b64(served.marker('h1'))

    def test_marker_stays_after_an_odd_answer(self):
        etcd = FakeEtcd({'result': ['not', 'an', 'object']})
        marker = served.Marker(etcd, 'h1')
        marker._beat()                  # publishes on lease 1
        marker._beat()                  # odd keepalive answer: no crash
        marker._beat()                  # lease 1 kept alive
        self.assertEqual({self.key(): '1'}, etcd.kv)
        del etcd.leases['1']            # expired behind its back
        marker._beat()
        self.assertEqual({self.key(): '2'}, etcd.kv)

    def test_clean_stop_after_a_failed_keepalive_revokes(self):
        # The doc promises the marker goes at once on a clean stop, so
        # networking-spp's agent may start right after it.
        etcd = FakeEtcd(etcd_mod.EtcdUnavailable('etcd restarting'))
        marker = served.Marker(etcd, 'h1')
        marker._beat()
        marker._beat()                  # etcd did not answer
        marker.stop()
        self.assertEqual({}, etcd.kv)
