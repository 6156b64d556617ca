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
"""Every SPP component builds its etcd client from the shared options."""

import io
import logging
import os
import tempfile
from contextlib import redirect_stderr
from unittest import mock

import fixtures
from oslo_config import cfg
from oslo_config import fixture as config_fixture
import testtools

from spp_neutron import config as ml2_config
from vif_plug_spp import agent
from vif_plug_spp.cmd import config_build
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import exception
from vif_plug_spp import opts
from vif_plug_spp import spp

SECRET = 's3cret-%d' % os.getpid()
NEW = ['etcd_endpoints', 'etcd_ca_file', 'etcd_cert_file', 'etcd_key_file',
       'etcd_username', 'etcd_password', 'etcd_credentials_file']


def _credentials(test, mode=0o600):
    fd, path = tempfile.mkstemp()
    test.addCleanup(os.unlink, path)
    with os.fdopen(fd, 'w') as f:
        f.write('agent-h1:%s\n' % SECRET)
    os.chmod(path, mode)
    return path


class TestComponents(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.conf = self.useFixture(
            config_fixture.Config(cfg.ConfigOpts())).conf
        self.log = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))

    def plugin_client(self, **opts):
        self.conf.register_opts(spp.SppPlugin.CONFIG_OPTS, 'os_vif_spp')
        for name, value in opts.items():
            self.conf.set_override(name, value, 'os_vif_spp')
        plugin = spp.SppPlugin(self.conf.os_vif_spp)
        return plugin.wiring.etcd

    def test_plugin_default_is_unchanged(self):
        client = self.plugin_client()
        self.assertEqual(['http://127.0.0.1:2379'], client.endpoints)
        self.assertIsNone(client.auth.username)
        self.assertNotIn('deprecated', self.log.output)

    def test_plugin_endpoints_and_credentials_file(self):
        client = self.plugin_client(
            etcd_endpoints=['http://192.0.2.1:2379', 'http://192.0.2.2:2379'],
            etcd_credentials_file=_credentials(self))
        self.assertEqual(['http://192.0.2.1:2379', 'http://192.0.2.2:2379'],
                         client.endpoints)
        self.assertEqual('agent-h1', client.auth.username)

    def test_plugin_legacy_options_warn(self):
        client = self.plugin_client(etcd_host='192.0.2.9', etcd_port=4001)
        self.assertEqual(['http://192.0.2.9:4001'], client.endpoints)
        self.assertIn('[os_vif_spp] etcd_host and etcd_port are deprecated: '
                      'set etcd_endpoints = http://192.0.2.9:4001 instead',
                      self.log.output)

    def test_plugin_readable_credentials_file_is_a_clear_error(self):
        path = _credentials(self, 0o644)
        exc = self.assertRaises(exception.SppError, self.plugin_client,
                                etcd_credentials_file=path)
        self.assertIn(path, str(exc))
        self.assertIn('0644', str(exc))
        self.assertNotIn(SECRET, str(exc) + self.log.output)

    def test_agent(self):
        agent.register_opts(self.conf)
        self.conf.register_opt(agent.HOST_OPT)
        self.conf.set_override('etcd_endpoints', ['http://192.0.2.1:1'],
                               'spp')
        self.conf.set_override('etcd_username', 'agent-h1', 'spp')
        self.conf.set_override('etcd_password', SECRET, 'spp')
        built = agent.from_conf(self.conf)
        self.addCleanup(built.etcd.close)
        self.assertEqual(['http://192.0.2.1:1'], built.etcd.endpoints)
        self.assertEqual('agent-h1', built.etcd.auth.username)
        self.assertNotIn(SECRET, repr(built.etcd.auth))

    def test_ml2_driver_options(self):
        ml2_config.register_opts(self.conf)
        names = [o.name for o in ml2_config.OPTS]
        for name in NEW + ['etcd_host', 'etcd_port']:
            self.assertIn(name, names)
        self.assertEqual([], self.conf.spp.etcd_endpoints)

    def test_sample_config_lists_the_options(self):
        groups = dict(opts.list_opts())
        for group in ('os_vif_spp', 'spp'):
            names = [o.name for o in groups[group]]
            for name in NEW:
                self.assertIn(name, names, group)
        groups = dict(ml2_config.list_opts())
        self.assertIn('etcd_endpoints', [o.name for o in groups['spp']])


class TestBuilderCLI(testtools.TestCase):

    def run_build(self, argv, env=None):
        err = io.StringIO()
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith('ETCD_')}
        clean.update(env or {})
        seen = []

        def fake_write(client, host, config, force=False):
            seen.append(client)
            return {'written': [], 'deleted': []}
        with mock.patch.dict(os.environ, clean, clear=True), \
                redirect_stderr(err), \
                mock.patch.object(config_build.builder, 'write', fake_write):
            rc = config_build.main(['--host', 'h', '--mappings',
                                    '00:04.0#phys1#2#0xfe'] + argv)
        return rc, err.getvalue(), seen

    def test_endpoints_tls_and_password_from_environment(self):
        rc, err, seen = self.run_build(
            ['--etcd-endpoints', 'http://192.0.2.1:2379,http://192.0.2.2:2379',
             '--etcd-username', 'builder'], {'ETCD_PASSWORD': SECRET})
        self.assertEqual((0, ''), (rc, err))
        self.assertEqual(['http://192.0.2.1:2379', 'http://192.0.2.2:2379'],
                         seen[0].endpoints)
        self.assertEqual('builder', seen[0].auth.username)

    def test_no_password_option_on_the_command_line(self):
        for argv in (['--etcd-password', SECRET],
                     ['--etcd-password=' + SECRET]):
            rc, err, _seen = self.run_build(argv)
            self.assertEqual(2, rc)
            self.assertIn('--etcd-password is not accepted', err)
            self.assertNotIn(SECRET, err)

    def test_password_without_user(self):
        rc, err, _seen = self.run_build(
            ['--etcd-endpoints', 'http://192.0.2.1:2379'],
            {'ETCD_PASSWORD': SECRET})
        self.assertEqual(2, rc)
        self.assertIn('ETCD_USERNAME', err)
        self.assertNotIn(SECRET, err)

    def test_legacy_host_warns_with_the_replacement(self):
        rc, err, seen = self.run_build([], {'ETCD_HOST': '192.0.2.7'})
        self.assertEqual(0, rc)
        self.assertIn('set ETCD_ENDPOINTS=http://192.0.2.7:2379', err)
        self.assertEqual(['http://192.0.2.7:2379'], seen[0].endpoints)

    def test_bad_endpoint(self):
        rc, err, _seen = self.run_build(['--etcd-endpoints', 'http://a'])
        self.assertEqual(2, rc)
        self.assertIn("etcd endpoint 'http://a'", err)

    def test_readable_credentials_file_refused(self):
        path = _credentials(self, 0o604)
        rc, err, _seen = self.run_build(
            ['--etcd-endpoints', 'http://192.0.2.1:2379',
             '--etcd-credentials-file', path])
        self.assertEqual(2, rc)
        self.assertIn('mode 0604', err)
        self.assertNotIn(SECRET, err)


class TestClientErrors(testtools.TestCase):

    def test_settings_repr_and_client_hide_the_password(self):
        client = etcd_mod.EtcdClient(endpoints=['http://192.0.2.1:1'],
                                     username='u', password=SECRET)
        self.addCleanup(client.close)
        self.assertNotIn(SECRET, repr(client.auth))
        self.assertNotIn(SECRET, repr(vars(client.auth)).replace(
            "'_password': '%s'" % SECRET, ''))
