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
"""The secured test cluster itself, and the least-privilege roles.

A real three-member etcd cluster with TLS, client certificates and
authentication (:mod:`os_vif_accel.testing.etcd_cluster`).  Each role of
:mod:`vif_plug_spp.etcd_roles` is checked with etcd's raw gateway (not
the client under test): every request its component makes in the code is
allowed - the same calls, keys made by :mod:`vif_plug_spp.keys` - and
the other host's keys and the other components' writes are refused.
"""

import ssl
import urllib.error

import testtools

from os_vif_accel.testing import etcd_cluster
from os_vif_accel.testing import etcd_gateway as gw_mod
from vif_plug_spp import etcd_roles
from vif_plug_spp import keys
from vif_plug_spp import served

H1, H2 = 'cmp1', 'cmp2'
P = 'port-1'
b64 = gw_mod.b64


def _put(key, value='x'):
    return {'request_put': {'key': b64(key), 'value': b64(value)}}


def _delete(key, prefix=False):
    op = {'key': b64(key)}
    if prefix:
        op['range_end'] = b64(gw_mod.prefix_end(key))
    return {'request_delete_range': op}


def _range(key):
    return {'request_range': {'key': b64(key)}}


def _equal(key, value):
    return {'key': b64(key), 'target': 'VALUE', 'result': 'EQUAL',
            'value': b64(value)}


def _txn(compare, success):
    return ('kv/txn', {'compare': compare, 'success': success})


def _prefix_range(prefix):
    return ('kv/range', {'key': b64(prefix),
                         'range_end': b64(gw_mod.prefix_end(prefix))})


class TestSecureCluster(testtools.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cluster = etcd_cluster.EtcdCluster().start()
        root = cls.cluster.root
        for role in etcd_roles.host_roles(H1) + [etcd_roles.ml2()]:
            gw_mod.add_user(root, role.name, 'pw-' + role.name)
            gw_mod.add_role(root, role, role.name)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()
        super().tearDownClass()

    def as_role(self, role):
        return self.cluster.gateway(user=role.name,
                                    password='pw-' + role.name)

    def assert_allowed(self, gw, calls):
        for path, body in calls:
            try:
                gw.call(path, body)
            except gw_mod.GatewayError as exc:
                self.fail('%s refused %s %s: %s' % (gw.user, path, body,
                                                    exc))

    def assert_denied(self, gw, calls):
        for path, body in calls:
            exc = self.assertRaises(gw_mod.GatewayError, gw.call, path,
                                    body)
            self.assertEqual(403, exc.status, exc.body)
            self.assertIn('permission denied', exc.body)

    # -- the cluster ------------------------------------------------------
    def test_three_members_fail_over_and_rejoin(self):
        c = self.cluster
        members = c.root.call('cluster/member/list', {})['members']
        self.assertEqual(3, len(members))
        self.assertTrue(all(m['clientURLs'][0].startswith('https://')
                            for m in members))
        leader = c.leader()
        c.kill(leader)
        self.addCleanup(c.ensure_running, leader)
        new = c.leader()  # waits for the election
        self.assertNotEqual(leader, new)
        other = c.gateway(new, user='root', password=c.root_password)
        other.put('/failover', 'written without the old leader')
        c.restart(leader)
        again = c.gateway(leader, user='root', password=c.root_password)
        self.assertEqual('written without the old leader',
                         again.get('/failover'))

    def test_anonymous_and_bad_password_refused(self):
        anonymous = self.cluster.gateway()
        self.assertRaises(gw_mod.GatewayError, anonymous.put, '/x', 'y')
        bad = self.cluster.gateway(user='root', password='wrong')
        exc = self.assertRaises(gw_mod.GatewayError, bad.authenticate)
        self.assertIn('authentication failed', exc.body)

    def _tls_refused(self, **kwargs):
        gw = self.cluster.gateway(user='root',
                                  password=self.cluster.root_password,
                                  **kwargs)
        return self.assertRaises((ssl.SSLError, urllib.error.URLError,
                                  ConnectionError), gw.authenticate)

    def test_tls_refusals(self):
        pki = self.cluster.pki
        other = gw_mod.etcd_pki.Pki(pki.dir + '-other', 'another CA')
        # The server's certificate is checked against our CA.
        exc = self._tls_refused(ca=other.ca.cert)
        self.assertIn('CERTIFICATE_VERIFY_FAILED', str(exc))
        # The server refuses clients without, or with a bad, certificate.
        self._tls_refused(client_cert=False)
        self._tls_refused(pair=other.client('untrusted'))
        self._tls_refused(pair=pki.expired_client())

    def test_client_certificate_with_common_name_refused(self):
        # etcd's gateway cannot map a certificate's CN to a user, so it
        # refuses such certificates outright (etcd_pki.Pki.client).
        pair = self.cluster.pki.client('with-cn', common_name=True)
        gw = self.cluster.gateway(user='root',
                                  password=self.cluster.root_password,
                                  pair=pair)
        exc = self.assertRaises(gw_mod.GatewayError, gw.authenticate)
        self.assertEqual(400, exc.status)
        self.assertIn('CommonName', exc.body)

    # -- roles ------------------------------------------------------------
    def test_agent_role(self):
        gw = self.as_role(etcd_roles.agent(H1))
        self.assertTrue(gw.watch_first(keys.action_prefix(H1))['created'])
        self.assertTrue(gw.watch_first(keys.tap_action_prefix(H1))
                        ['created'])
        lease = gw.call('lease/grant', {'TTL': 30})['ID']
        vhost = keys.vhost(H1, 'phys1', 0)
        self.assert_allowed(gw, [
            ('kv/range', {'key': b64(keys.configuration(H1))}),
            _txn([], [_range(keys.bind_port(H1, P)),
                      _range(keys.action(H1, P)),
                      _range(keys.configuration(H1))]),
            _txn([_equal(keys.action(H1, P), 'plug')],
                 [_put(keys.port_status(H1, P), 'up')]),
            _txn([_equal(vhost, P)], [_put(vhost, keys.FREE)]),
            _txn([_equal(keys.action(H1, P), 'unplug')],
                 [_delete(keys.bind_port(H1, P)),
                  _delete(keys.action(H1, P)),
                  _delete(keys.port_status(H1, P))]),
            _txn([_equal(keys.tap_action(H1, 't'), 'unplug')],
                 [_delete(keys.tap_info(H1, 't')),
                  _delete(keys.tap_status(H1, 't'))]),
            _prefix_range(keys.tap_info_prefix(H1)),
            ('kv/put', {'key': b64(served.marker(H1)), 'value': b64('{}'),
                        'lease': lease}),
            ('kv/lease/revoke', {'ID': lease})])
        self.assert_denied(gw, [
            ('kv/put', {'key': b64(keys.configuration(H1)),
                        'value': b64('{}')}),
            ('kv/range', {'key': b64(keys.configuration(H2))}),
            _prefix_range(keys.action_prefix(H2)),
            _prefix_range(keys.ROOT + 'action/'),
            _txn([], [_put(keys.port_status(H2, P), 'up')]),
            ('kv/put', {'key': b64(served.marker(H2)), 'value': b64('{}')})])
        self.assertTrue(gw.watch_first(keys.action_prefix(H2))['canceled'])

    def test_plugin_role(self):
        gw = self.as_role(etcd_roles.plugin(H1))
        self.assert_allowed(gw, [
            _txn([], [_range(keys.configuration(H1)),
                      _range(keys.bind_port(H1, P)),
                      _range(keys.action(H1, P)),
                      _range(keys.port_status(H1, P)),
                      _range(served.marker(H1))]),
            ('kv/range', {'key': b64(keys.vhost(H1, 'phys1', 3))}),
            _txn([_equal(keys.action(H1, P), 'plug')],
                 [_put(keys.port_status(H1, P), 'up')])])
        self.assert_denied(gw, [
            _txn([], [_put(keys.action(H1, P), 'plug')]),
            _txn([], [_put(keys.vhost(H1, 'phys1', 3), P)]),
            _txn([], [_delete(keys.bind_port(H1, P))]),
            _txn([], [_put(keys.port_status(H2, P), 'up')]),
            _txn([], [_range(keys.bind_port(H2, P))]),
            ('kv/put', {'key': b64(served.marker(H1)), 'value': b64('{}')})])

    def test_builder_role(self):
        gw = self.as_role(etcd_roles.builder(H1))
        slot = keys.vhost(H1, 'phys1', 0)
        self.assert_allowed(gw, [
            _prefix_range(keys.vhost_prefix(H1)),
            _prefix_range(keys.mirror_prefix(H1)),
            _txn([{'key': b64(slot), 'target': 'CREATE', 'result': 'EQUAL',
                   'create_revision': '0'}],
                 [_put(keys.configuration(H1), '{}'),
                  _put(slot, keys.FREE)])])
        self.assert_allowed(gw, [
            ('kv/deleterange', {'key': b64(keys.configuration(H1))})] + [
            ('kv/deleterange', {'key': b64(p),
                                'range_end': b64(gw_mod.prefix_end(p))})
            for p in keys.host_prefixes(H1)])
        self.assert_denied(gw, [
            ('kv/put', {'key': b64(keys.configuration(H2)),
                        'value': b64('{}')}),
            _prefix_range(keys.vhost_prefix(H2)),
            ('kv/range', {'key': b64(served.marker(H1))})])

    def test_ml2_role(self):
        gw = self.as_role(etcd_roles.ml2())
        self.assertTrue(gw.watch_first(keys.port_status_root())['created'])
        slot = keys.vhost(H2, 'phys1', 0)
        self.assert_allowed(gw, [
            ('kv/range', {'key': b64(keys.configuration(H1))}),
            ('kv/range', {'key': b64(keys.configuration(H2))}),
            _txn([], [_range(keys.bind_port(H2, P)),
                      _range(keys.action(H2, P))]),
            _prefix_range(keys.vhost_prefix(H2)),
            _txn([_equal(slot, keys.FREE)], [_put(slot, P)]),
            _txn([_equal(slot, P)],
                 [_put(keys.bind_port(H2, P), '{}'),
                  _put(keys.action(H2, P), 'plug'),
                  _delete(keys.port_status(H2, P))])])
        self.assert_denied(gw, [
            ('kv/put', {'key': b64(keys.configuration(H1)),
                        'value': b64('{}')}),
            ('kv/range', {'key': b64(served.marker(H1))}),
            _txn([], [_put(keys.mirror(H1, 0), 'tap')]),
            _prefix_range(keys.tap_info_prefix(H1))])
