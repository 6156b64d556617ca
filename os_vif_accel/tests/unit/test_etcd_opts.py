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
"""The shared etcd connection options: parsing, deprecation, secrets."""

import logging
import os
import tempfile

import fixtures
from oslo_config import cfg
from oslo_config import fixture as cfg_fixture
import testtools

from os_vif_accel import etcd_opts

SECRET = 'pa55-w0rd:secret'


class _Conf(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.conf = self.useFixture(cfg_fixture.Config(cfg.ConfigOpts())).conf
        self.conf.register_opts(etcd_opts.connection_opts(), 'spp')
        self.log = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))

    def settings(self, **opts):
        for name, value in opts.items():
            self.conf.set_override(name, value, 'spp')
        return etcd_opts.settings_from_conf(self.conf.spp, 'spp')


class TestEndpoints(_Conf):

    def test_defaults_are_one_local_member_without_warning(self):
        got = self.settings()
        self.assertEqual(('http://127.0.0.1:2379',), got.endpoints)
        self.assertEqual('', self.log.output)

    def test_legacy_host_port_warns_with_the_replacement(self):
        got = self.settings(etcd_host='192.0.2.10', etcd_port=2390)
        self.assertEqual(('http://192.0.2.10:2390',), got.endpoints)
        self.assertIn('set etcd_endpoints = http://192.0.2.10:2390 instead',
                      self.log.output)

    def test_legacy_ipv6_host_is_bracketed(self):
        got = self.settings(etcd_host='2001:db8::1')
        self.assertEqual(('http://[2001:db8::1]:2379',), got.endpoints)

    def test_endpoints_win_over_host_port(self):
        got = self.settings(etcd_host='192.0.2.10',
                            etcd_endpoints=['https://a:1', 'https://b:2'])
        self.assertEqual(('https://a:1', 'https://b:2'), got.endpoints)
        self.assertIn('etcd_host/etcd_port are ignored', self.log.output)

    def test_bad_endpoints_are_refused_by_the_option(self):
        for bad in ('ftp://a:1', 'http://a', 'http://a:0', 'http://a:70000',
                    'http://a:2379/v3', 'http://:2379', 'a:2379',
                    'http://a:-1', 'http://a:\u00b2'):
            self.assertRaises(ValueError, self.conf.set_override,
                              'etcd_endpoints', [bad], 'spp')

    def test_mixed_schemes_are_refused(self):
        self.assertRaisesRegex(etcd_opts.ConfigError, 'mix http and https',
                               self.settings, etcd_endpoints=[
                                   'http://a:1', 'https://b:1'])

    def test_legacy_options_are_deprecated_for_removal(self):
        opts = {o.name: o for o in etcd_opts.connection_opts()}
        self.assertTrue(opts['etcd_host'].deprecated_for_removal)
        self.assertTrue(opts['etcd_port'].deprecated_for_removal)
        self.assertIn('etcd_endpoints',
                      opts['etcd_host'].deprecated_reason)
        self.assertTrue(opts['etcd_password'].secret)


class TestCredentials(_Conf):

    def _file(self, text, mode):
        fd, path = tempfile.mkstemp()
        self.addCleanup(os.unlink, path)
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def test_file_with_owner_only_mode(self):
        path = self._file('agent-h1:%s\n' % SECRET, 0o600)
        got = self.settings(etcd_credentials_file=path)
        self.assertEqual(('agent-h1', SECRET), (got.username, got.password))
        self.assertNotIn(SECRET, repr(got))

    def test_group_or_world_readable_file_is_refused(self):
        for mode in (0o640, 0o604, 0o620, 0o644):
            path = self._file('u:%s\n' % SECRET, mode)
            exc = self.assertRaises(etcd_opts.ConfigError, self.settings,
                                    etcd_credentials_file=path)
            self.assertIn(path, str(exc))
            self.assertIn('mode %04o' % mode, str(exc))
            self.assertNotIn(SECRET, str(exc))

    def test_malformed_file_error_does_not_show_it(self):
        path = self._file('%s\n' % SECRET.replace(':', ''), 0o400)
        exc = self.assertRaises(etcd_opts.ConfigError, self.settings,
                                etcd_credentials_file=path)
        self.assertIn('"user:password"', str(exc))
        self.assertNotIn(SECRET.replace(':', ''), str(exc))

    def test_missing_file(self):
        exc = self.assertRaises(etcd_opts.ConfigError, self.settings,
                                etcd_credentials_file='/nonexistent/cred')
        self.assertIn('/nonexistent/cred', str(exc))

    def test_file_and_password_together_are_refused(self):
        path = self._file('u:p\n', 0o600)
        self.assertRaisesRegex(etcd_opts.ConfigError, 'not both',
                               self.settings, etcd_credentials_file=path,
                               etcd_username='u', etcd_password=SECRET)

    def test_user_without_password_is_refused(self):
        self.assertRaisesRegex(etcd_opts.ConfigError, 'go together',
                               self.settings, etcd_username='u')
        self.assertRaisesRegex(etcd_opts.ConfigError, 'go together',
                               self.settings, etcd_username=None,
                               etcd_password=SECRET)

    def test_key_without_certificate_is_refused(self):
        self.assertRaisesRegex(etcd_opts.ConfigError, 'without etcd_cert',
                               self.settings, etcd_key_file='/k.pem',
                               etcd_endpoints=['https://a:1'])

    def test_tls_files_with_http_endpoints_are_refused(self):
        # Not silently in clear text when TLS was meant.
        for name in ('etcd_ca_file', 'etcd_cert_file'):
            self.conf.clear_override('etcd_ca_file', 'spp')
            self.assertRaisesRegex(etcd_opts.ConfigError, 'use https://',
                                   self.settings, **{name: '/ca.pem'})

    def test_credentials_over_remote_http_warn(self):
        self.settings(etcd_username='u', etcd_password=SECRET,
                      etcd_endpoints=['http://192.0.2.1:2379'])
        self.assertIn("credentials of user 'u' go in clear text to "
                      "http://192.0.2.1:2379", self.log.output)
        self.assertNotIn(SECRET, self.log.output)

    def test_symlinked_credentials_file(self):
        path = self._file('u:%s\n' % SECRET, 0o600)
        link = path + '.link'
        os.symlink(path, link)
        self.addCleanup(os.unlink, link)
        got = self.settings(etcd_credentials_file=link)
        self.assertEqual('u', got.username)

    def test_password_never_logged(self):
        self.settings(etcd_username='u', etcd_password=SECRET,
                      etcd_host='192.0.2.1')
        self.conf.log_opt_values(logging.getLogger('x'), logging.INFO)
        self.assertNotIn(SECRET, self.log.output)
