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
"""TLS to a real etcd: verification, client certificates, clear errors."""

import dataclasses
import shutil
import tempfile
import uuid

import testtools

from os_vif_accel.testing import etcd as etcd_server
from os_vif_accel.testing import etcd_pki
from vif_plug_spp import etcd as etcd_mod


class TestTLS(testtools.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.mkdtemp(prefix='etcd-tls-')
        cls.certs = etcd_pki.make_certs(cls.dir)
        cls.server = etcd_server.EtcdServer(tls=cls.certs).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        super().tearDownClass()

    def client(self, url=None, **kwargs):
        tls = {'ca_file': self.certs.ca.ca.cert,
               'cert_file': self.certs.client.cert,
               'key_file': self.certs.client.key}
        tls.update(kwargs)
        client = etcd_mod.EtcdClient(endpoints=[url or self.server.url],
                                     retry_window=5.0, **tls)
        self.addCleanup(client.close)
        return client

    def refused(self, client, *causes):
        # A configuration error at once: not EtcdUnavailable after a
        # retry window, not a failover.
        exc = self.assertRaises(etcd_mod.EtcdTLSError, client.get, '/k')
        self.assertIn(client.endpoints[0], str(exc))
        for cause in causes:
            self.assertIn(cause, str(exc))
        return exc

    def test_verified_with_client_certificate(self):
        client = self.client()
        key = '/t/%s' % uuid.uuid4().hex
        client.put(key, 'v')
        self.assertEqual('v', client.get(key))
        _kvs, rev = client.get_prefix(key)
        watch = client.watch_key(key, rev - 1)
        self.addCleanup(watch.stop)
        self.assertEqual('v', next(iter(watch)).value)

    def test_one_misfit_member_of_several_is_logged_and_skipped(self):
        # A cluster where one member's certificate does not fit (here: its
        # name) still serves; the misfit is logged as an error each time
        # it is met, naming the member and the cause.
        import logging

        import fixtures
        log = self.useFixture(fixtures.FakeLogger(level=logging.ERROR))
        misnamed = 'https://localhost:%d' % self.server.port
        client = etcd_mod.EtcdClient(
            endpoints=[misnamed, self.server.url], retry_window=5.0,
            ca_file=self.certs.ca.ca.cert, cert_file=self.certs.client.cert,
            key_file=self.certs.client.key)
        self.addCleanup(client.close)
        key = '/t/%s' % uuid.uuid4().hex
        client.put(key, 'v')
        self.assertEqual('v', client.get(key))
        self.assertIn(misnamed, log.output)
        self.assertIn('mismatch', log.output)
        watch = client.watch_key(key, client.get_prefix(key)[1] - 1)
        self.addCleanup(watch.stop)
        self.assertEqual('v', next(iter(watch)).value)

    def test_wrong_ca(self):
        self.refused(self.client(ca_file=self.certs.other_ca.ca.cert),
                     'certificate verify failed', 'etcd_ca_file')

    def test_host_name_checked(self):
        url = 'https://localhost:%d' % self.server.port
        self.refused(self.client(url), 'certificate verify failed',
                     'mismatch')

    def test_missing_client_certificate(self):
        # Go's TLS stack answers a missing certificate with the
        # bad_certificate alert (observed with Debian's etcd 3.4.23).
        self.refused(self.client(cert_file=None, key_file=None),
                     'bad certificate', 'etcd_cert_file')

    def test_untrusted_client_certificate(self):
        stranger = self.certs.other_ca.client('stranger')
        self.refused(self.client(cert_file=stranger.cert,
                                 key_file=stranger.key),
                     'bad certificate')

    def test_plain_http_to_a_tls_member(self):
        url = 'http://127.0.0.1:%d' % self.server.port
        self.refused(self.client(url), 'serves https')

    def test_unreadable_tls_files(self):
        exc = self.assertRaises(etcd_mod.EtcdTLSError, self.client,
                                ca_file='/nonexistent/ca.pem')
        self.assertIn('/nonexistent/ca.pem', str(exc))


class TestTLSMismatch(testtools.TestCase):

    def test_https_to_a_plain_member(self):
        with etcd_server.EtcdServer() as server:
            url = 'https://127.0.0.1:%d' % server.port
            client = etcd_mod.EtcdClient(endpoints=[url], retry_window=5.0)
            exc = self.assertRaises(etcd_mod.EtcdTLSError, client.get, '/k')
            self.assertIn(url, str(exc))
            self.assertIn('plain http', str(exc))

    def test_expired_server_certificate(self):
        tmp = tempfile.mkdtemp(prefix='etcd-tls-')
        self.addCleanup(shutil.rmtree, tmp, True)
        certs = etcd_pki.make_certs(tmp)
        expired = dataclasses.replace(certs, server=certs.expired_server)
        server = etcd_server.EtcdServer(tls=expired)
        server._wait_healthy = lambda: None   # its /health fails too
        server.start()
        self.addCleanup(server.stop)
        client = etcd_mod.EtcdClient(
            endpoints=[server.url], ca_file=certs.ca.ca.cert,
            cert_file=certs.client.cert, key_file=certs.client.key)
        self.addCleanup(client.close)
        for _ in range(50):   # until it listens
            try:
                client.get('/k')
            except etcd_mod.EtcdTLSError as exc:
                self.assertIn('certificate has expired', str(exc))
                self.assertIn(server.url, str(exc))
                return
            except etcd_mod.EtcdUnavailable:
                pass
        self.fail('no TLS error from an expired certificate')
