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
"""Which requests may be sent again, and what errors name (no etcd)."""

import json

import testtools

from os_vif_accel import http as accel_http
from vif_plug_spp import etcd_auth
from vif_plug_spp import etcd_endpoints
from vif_plug_spp import etcd_errors
from vif_plug_spp import etcd_txn as t


class _Reads:
    """A client whose reads show ``store`` and whose txn records calls."""

    def __init__(self, store):
        self.store = store
        self.sent = []

    def read_kvs(self, keys=()):
        from vif_plug_spp import etcdkv
        found = {k: etcdkv.KeyValue(k, v, r, 1)
                 for k, (v, r) in self.store.items() if k in keys}
        return found, 99

    def call(self, endpoint, body, safe=None):
        self.sent.append(body)
        return {'succeeded': False, 'header': {'revision': '100'}}


LOST = etcd_errors.EtcdOutcomeUnknown('lost')
SLOT = '/spp/openstack/vhost/h/phys1/0'


class _LateCommit(_Reads):
    """The lost request was not dead but slow: it commits (``late``)
    after settle's read and before the resend, whose compare then fails.
    Answers the resend like etcd: the failure branch's ranges.
    """

    def __init__(self, late):
        super().__init__({})
        self.late = late

    def call(self, endpoint, body, safe=None):
        self.sent.append(body)
        self.store.update(self.late)
        responses = []
        for op in body['failure']:
            key = t._text(op['request_range']['key'])
            responses.append({'response_range': {'kvs': [
                {'key': t.b64(k), 'value': t.b64(v),
                 'mod_revision': str(r), 'create_revision': str(r)}
                for k, (v, r) in self.store.items() if k == key]}})
        return {'succeeded': False, 'header': {'revision': '8'},
                'responses': responses}


class TestSettle(testtools.TestCase):

    def body(self, compare, success):
        return {'compare': compare, 'success': success, 'failure': []}

    def cas(self):
        """Port port-1 takes the free vhost SLOT."""
        return self.body([t.cmp_value(SLOT, 'None')],
                         [t.op_put(SLOT, 'port-1')])

    def test_read_only_transactions_are_safe(self):
        self.assertTrue(t.read_only(self.body(
            [], [{'request_range': t.range_req('/k', True)}])))
        self.assertFalse(t.read_only(self.body([], [t.op_put('/k', 'v')])))

    def test_applied_when_the_store_holds_what_it_writes(self):
        client = _Reads({'/a': ('1', 7), '/b': ('2', 7)})
        body = self.body([t.cmp_value('/x', 'plug')],
                         [t.op_put('/a', '1'), t.op_put('/b', '2'),
                          t.op_delete('/gone')])
        self.assertEqual((True, 7), t.settle(client, body, LOST))
        self.assertEqual([], client.sent)   # not sent again

    def test_values_from_two_writes_are_not_one_transaction(self):
        client = _Reads({'/a': ('1', 7), '/b': ('2', 8)})
        body = self.body([t.cmp_value('/x', 'plug')],
                         [t.op_put('/a', '1'), t.op_put('/b', '2')])
        self.assertEqual((False, 100), t.settle(client, body, LOST))
        # Sent again, its compare decides; its failure branch reads the
        # keys it writes.
        [again] = client.sent
        self.assertEqual((body['compare'], body['success']),
                         (again['compare'], again['success']))
        self.assertEqual([{'request_range': t.range_req(k, False)}
                          for k in ('/a', '/b')], again['failure'])

    def test_own_write_committed_late_is_not_a_conflict(self):
        # vhost 0 was free; our CAS gave it to port-1 but its answer was
        # lost and it committed only after settle's read: the resend's
        # compare fails on our own write.  Reported as a conflict, the
        # caller would look for another vhost and leak this one.
        client = _LateCommit({SLOT: ('port-1', 7)})
        body = self.cas()
        self.assertEqual((True, 7), t.settle(client, body, LOST))
        self.assertEqual(1, len(client.sent))

    def test_late_write_of_another_is_a_conflict(self):
        client = _LateCommit({SLOT: ('port-2', 7)})
        self.assertEqual((False, 8), t.settle(client, self.cas(), LOST))

    def test_unsettleable_requests_stay_unknown(self):
        client = _Reads({})
        for body in (
                self.body([], [t.op_put('/a', '1')]),          # unguarded
                self.body([t.cmp_value('/x', 'y')], [
                    {'request_delete_range': t.range_req('/p/', True)}]),
                {'compare': [t.cmp_value('/x', 'y')], 'success': [],
                 'failure': [t.op_put('/a', '1')]}):
            exc = self.assertRaises(etcd_errors.EtcdOutcomeUnknown,
                                    t.settle, client, body, LOST)
            self.assertIs(LOST, exc)
        self.assertEqual([], client.sent)


class TestAuthErrors(testtools.TestCase):

    def test_classify_gateway_and_watch_texts(self):
        # Texts of etcd 3.4.23's gateway answers and watch cancel reasons.
        for text, kind in (
                ('etcdserver: invalid auth token', etcd_auth.RENEW),
                ('rpc error: code = Unauthenticated desc = etcdserver: '
                 'invalid auth token', etcd_auth.RENEW),
                ('etcdserver: revision of auth store is old',
                 etcd_auth.RENEW),
                ('rpc error: code = PermissionDenied desc = etcdserver: '
                 'permission denied', etcd_auth.DENIED),
                ('etcdserver: user name is empty', etcd_auth.NEEDED),
                ('etcdserver: no leader', None)):
            self.assertEqual(kind, etcd_auth.classify(text), text)

    def test_permission_error_names_keys_and_user_only(self):
        auth = etcd_auth.Auth('agent-h1', 'pw-123')
        body = {'compare': [t.cmp_value('/spp/openstack/action/h2/p', 'x')],
                'success': [t.op_put('/spp/openstack/vhost/h2/0', 'p')]}
        text = str(auth.error(etcd_auth.DENIED, 'https://e:1', body))
        self.assertIn("key '/spp/openstack/action/h2/p'", text)
        self.assertIn("key '/spp/openstack/vhost/h2/0'", text)
        self.assertIn("user 'agent-h1'", text)
        self.assertIn('https://e:1', text)
        self.assertNotIn('pw-123', text + repr(auth))


class TestUnavailable(testtools.TestCase):
    """Which 503 answers may have applied a write (etcd v3.4.23)."""

    @staticmethod
    def _answer(message):
        body = json.dumps({'error': message, 'message': message,
                           'code': 14}).encode()
        return accel_http.Response(503, 'Service Unavailable', body, {})

    def test_refused_before_proposal(self):
        for message in ('etcdserver: no leader', 'etcdserver: not capable'):
            self.assertEqual((message, False), etcd_endpoints._trouble(
                self._answer(message)))

    def test_server_stopped_may_have_applied(self):
        # v3_server.go 675 proposes, 691-692 answers "server stopped":
        # resent blindly, a CAS would read its own write as a conflict.
        message = 'etcdserver: server stopped'
        self.assertEqual((message, True), etcd_endpoints._trouble(
            self._answer(message)))
        self.assertEqual(('etcdserver: request timed out', True),
                         etcd_endpoints._trouble(self._answer(
                             'etcdserver: request timed out')))
