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
"""etcd authentication against a real etcd (simple and JWT tokens)."""

import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

import fixtures
import testtools

from os_vif_accel.testing import etcd as etcd_server
from os_vif_accel.testing import tcpproxy
from vif_plug_spp import etcd as etcd_mod

ROOT_PW = 'r00t-%s' % uuid.uuid4().hex
AGENT_PW = 'ag3nt-%s' % uuid.uuid4().hex
H1 = '/spp/openstack/vhost/h1/'
SCRATCH = '/t-auth/'


class _AuthCase(testtools.TestCase):
    """One etcd with auth on: root, and agent-h1 limited to H1 and
    SCRATCH.  Every test checks that no password or token was logged.
    """

    token_args = ['--auth-token', 'simple', '--auth-token-ttl', '1']

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix='etcd-auth-')
        cls.server = etcd_server.EtcdServer(
            extra_args=cls.token_args + ['--bcrypt-cost', '4']).start()
        cls.server.enable_auth(ROOT_PW, {'agent-h1': (AGENT_PW,
                                                      [H1, SCRATCH])})

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))
        self.tokens = set()
        self.errors = []
        self.root = self.client('root', ROOT_PW)
        self.addCleanup(self._no_secrets)

    def client(self, user=None, password=None, *urls, **kwargs):
        client = etcd_mod.EtcdClient(
            endpoints=list(urls) or [self.server.url], username=user,
            password=password, retry_window=3.0, **kwargs)
        authenticate = client.auth._authenticate
        client.authentications = 0

        def counting(*args):
            client.authentications += 1
            token = authenticate(*args)
            self.tokens.add(token)
            return token
        client.auth._authenticate = counting
        self.addCleanup(client.close)
        return client

    def raises(self, exc_type, func, *args):
        exc = self.assertRaises(exc_type, func, *args)
        self.errors.append(str(exc))
        return exc

    def _no_secrets(self):
        text = self.log.output + '\n'.join(self.errors)
        for secret in [ROOT_PW, AGENT_PW] + [t for t in self.tokens if t]:
            self.assertNotIn(secret, text)


class TestSimpleToken(_AuthCase):

    def test_token_renewed_when_it_expires(self):
        agent = self.client('agent-h1', AGENT_PW)
        key = SCRATCH + uuid.uuid4().hex
        agent.put(key, 'v')
        first = agent.auth._token
        time.sleep(3)   # past --auth-token-ttl 1
        self.assertEqual('v', agent.get(key))
        self.assertEqual(2, agent.authentications)
        self.assertNotEqual(first, agent.auth._token)

    def test_wrong_password(self):
        agent = self.client('agent-h1', 'not-' + AGENT_PW)
        key = SCRATCH + uuid.uuid4().hex
        exc = self.raises(etcd_mod.EtcdAuthError, agent.put, key, 'v')
        self.assertIn("user 'agent-h1'", str(exc))
        self.assertIn(self.server.url, str(exc))
        self.assertIsNone(self.root.get(key))   # nothing written

    def test_no_credentials(self):
        anonymous = self.client()
        exc = self.raises(etcd_mod.EtcdAuthError, anonymous.get, H1)
        self.assertIn('requires authentication', str(exc))

    def test_permission_denied_names_the_keys_and_user(self):
        agent = self.client('agent-h1', AGENT_PW)
        other = '/spp/openstack/vhost/h2/phys1/0'
        exc = self.raises(etcd_mod.EtcdPermissionDenied, agent.put, other,
                          'port')
        self.assertIn(repr(other), str(exc))
        self.assertIn("user 'agent-h1'", str(exc))
        self.assertIsNone(self.root.get(other))
        exc = self.raises(etcd_mod.EtcdPermissionDenied, agent.get_prefix,
                          '/spp/openstack/')
        self.assertIn("prefix '/spp/openstack/'", str(exc))
        # Its own prefix works.
        agent.put(H1 + 'phys1/0', 'None')

    def test_watch_without_permission_ends_with_the_prefix(self):
        agent = self.client('agent-h1', AGENT_PW)
        watch = agent.watch_prefix('/spp/openstack/', 1)
        self.addCleanup(watch.stop)
        exc = self.raises(etcd_mod.EtcdPermissionDenied, next, iter(watch))
        self.assertIn("prefix '/spp/openstack/'", str(exc))

    def test_watch_resumes_with_a_renewed_token(self):
        # The stream's member dies after the token expired: the watch is
        # re-created elsewhere, refused for the token, re-authenticates
        # and resumes from the next revision.
        proxy = tcpproxy.TcpProxy((self.server.host, self.server.port))
        self.addCleanup(proxy.kill)
        agent = self.client('agent-h1', AGENT_PW, proxy.url(),
                            self.server.url)
        prefix = SCRATCH + uuid.uuid4().hex + '/'
        _kvs, rev = self.root.get_prefix(prefix)
        watch = agent.watch_prefix(prefix, rev + 1)
        self.addCleanup(watch.stop)
        got = []
        threading.Thread(target=lambda: got.extend(
            e.key for e in watch), daemon=True).start()
        self.assertTrue(watch.created.wait(10))
        self.root.put(prefix + '0', 'x')
        time.sleep(3)   # the token expires
        proxy.kill()
        self.root.put(prefix + '1', 'x')
        deadline = time.monotonic() + 20
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual([prefix + '0', prefix + '1'], got)
        self.assertEqual(2, agent.authentications)


class TestJWT(_AuthCase):

    @classmethod
    def setUpClass(cls):
        keys = tempfile.mkdtemp(prefix='etcd-jwt-')
        cls.keydir = keys
        priv, pub = (os.path.join(keys, n) for n in ('k.pem', 'pub.pem'))
        subprocess.run(['openssl', 'ecparam', '-genkey', '-name',
                        'prime256v1', '-noout', '-out', priv], check=True)
        subprocess.run(['openssl', 'ec', '-in', priv, '-pubout', '-out',
                        pub], check=True, stderr=subprocess.DEVNULL)
        cls.token_args = ['--auth-token', 'jwt,pub-key=%s,priv-key=%s,'
                          'sign-method=ES256,ttl=1s' % (pub, priv)]
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.keydir, ignore_errors=True)

    def test_jwt_token_renewed_when_it_expires(self):
        agent = self.client('agent-h1', AGENT_PW)
        key = SCRATCH + uuid.uuid4().hex
        agent.put(key, 'v')
        self.assertEqual(2, agent.auth._token.count('.'))   # a JWT
        time.sleep(2.5)
        self.assertEqual('v', agent.get(key))
        self.assertEqual(2, agent.authentications)


class TestAuthEnabledLater(testtools.TestCase):

    def test_credentials_used_once_the_cluster_enables_auth(self):
        log = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))
        server = etcd_server.EtcdServer(extra_args=['--bcrypt-cost', '4'])
        server.start()
        self.addCleanup(server.stop)
        client = etcd_mod.EtcdClient(endpoints=[server.url],
                                     username='agent-h1', password=AGENT_PW)
        self.addCleanup(client.close)
        client.put(SCRATCH + 'a', '1')
        self.assertIn('authentication is not enabled', log.output)
        server.enable_auth(ROOT_PW, {'agent-h1': (AGENT_PW, [SCRATCH])})
        client.put(SCRATCH + 'b', '2')
        self.assertEqual('2', client.get(SCRATCH + 'b'))
        self.assertTrue(client.auth._token)
        self.assertNotIn(AGENT_PW, log.output)
