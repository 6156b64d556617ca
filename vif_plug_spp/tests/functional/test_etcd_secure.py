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
"""The builder while a member dies; clear errors for bad credentials,
wrong CA, no client certificate and a role without permission - each
from the component the operator runs, each writing nothing (checked as
root).
"""

import collections
import os
import subprocess
import sys
import uuid

import fixtures
import os_vif
from os_vif import exception as osv_exception
from os_vif import objects
from oslo_config import cfg
from oslo_config import fixture as config_fixture
import testtools

from os_vif_accel.testing import etcd_cluster
from os_vif_accel.testing import etcd_gateway
from spp_neutron import core
from spp_neutron import errors as ml2_errors
from vif_plug_spp import builder
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import etcd_roles
from vif_plug_spp import keys
from vif_plug_spp import served
from vif_plug_spp.tests.functional import secure_base

H = secure_base.H
# 60 vhosts: 61 keys, two transactions of the builder (builder.TXN_CHUNK).
BIG = '00:04.0#phys1#60#0x%x' % ((1 << 124) - 2)


class _KillBeforeTxn:
    """The builder's client, with the member it talks to killed just
    before its ``nth`` transaction is sent (between two chunks).
    """

    def __init__(self, client, cluster, nth):
        self._client = client
        self._cluster = cluster
        self._left = nth
        self.killed = None

    def __getattr__(self, name):
        return getattr(self._client, name)

    def txn(self, *args, **kwargs):
        self._left -= 1
        if self._left == 0:
            self.killed = self._cluster.member_of_port(self._client.port)
            self._cluster.kill(self.killed)
        return self._client.txn(*args, **kwargs)


class TestBuilderWhileMemberDies(secure_base.SecureClusterCase):

    def setUp(self):
        super().setUp()
        self.root = self.cluster.root
        self.root.call('kv/deleterange', {
            'key': etcd_gateway.b64(keys.ROOT),
            'range_end': etcd_gateway.b64(
                etcd_gateway.prefix_end(keys.ROOT))})

    def assert_written_once(self, config, start_rev):
        slots = builder.slot_keys(H, config)
        self.assertEqual(builder.dumps(config),
                         self.root.get(keys.configuration(H)))
        self.assertEqual({k: keys.FREE for k in slots},
                         self.root.get_prefix(keys.vhost_prefix(H)))
        history = self.root.history(keys.vhost_prefix(H), start_rev)
        puts = collections.Counter(key for _t, key, _v, _r in history)
        self.assertEqual({1}, set(puts.values()))
        self.assertEqual(len(slots), len(puts))

    def test_member_dies_between_transactions(self):
        config = builder.build(BIG, max_lcore=128)
        client = _KillBeforeTxn(self.client('spp-builder-' + H),
                                self.cluster, 2)
        self.addCleanup(self.cluster.ensure_running, 0)
        self.addCleanup(lambda: client.killed is not None and
                        self.cluster.ensure_running(client.killed))
        start = self.root.revision() + 1
        result = builder.write(client, H, config)
        self.assertIsNotNone(client.killed)
        self.assertEqual(61, len(result['written']))
        self.assert_written_once(config, start)

    def test_cli_with_its_first_member_dead(self):
        self.cluster.kill(0)
        self.addCleanup(self.cluster.ensure_running, 0)
        start = self.root.revision() + 1
        proc = run_build(self, 'spp-builder-' + H, ['--mappings', BIG])
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assert_written_once(builder.build(BIG, max_lcore=128), start)


def run_build(case, user, args, **overrides):
    """``spp-config-build`` as a process with ``user``'s settings (its
    password from a 0600 credentials file); ``overrides``: options.
    """
    tmp = case.useFixture(fixtures.TempDir()).path
    lines = case.option_lines(user, os.path.join(tmp, 'credentials'))
    opts = dict(line.split(' = ', 1) for line in lines)
    opts.update(overrides)
    argv = ['--host', H]
    for name, value in opts.items():
        if value is not None:
            argv += ['--' + name.replace('_', '-'), value]
    return subprocess.run(
        [sys.executable, '-m', 'vif_plug_spp.cmd.config_build'] + argv +
        args, capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONWARNINGS='ignore'))


class TestClearErrors(secure_base.SecureClusterCase):
    """Each refusal names the endpoint and the cause, leaks no secret and
    leaves etcd as it was.
    """

    def setUp(self):
        super().setUp()
        self.root = self.cluster.root
        self.before = self.root.revision()

    def assert_nothing_written(self):
        self.assertEqual(self.before, self.root.revision())

    def assert_clear(self, text, *parts):
        self.assertIn('https://127.0.0.1:', text)
        for part in parts:
            self.assertIn(part, text)
        for user in self.roles:
            self.assertNotIn(self.password(user), text)

    def test_builder_bad_password(self):
        user = 'spp-builder-' + H
        tmp = self.useFixture(fixtures.TempDir()).path
        creds = os.path.join(tmp, 'creds')
        with open(os.open(creds, os.O_WRONLY | os.O_CREAT, 0o600), 'w') as f:
            f.write('%s:wrong-password\n' % user)
        proc = run_build(self, user, ['--mappings', BIG],
                         etcd_credentials_file=creds)
        self.assertEqual(1, proc.returncode)
        self.assert_clear(proc.stderr, 'authentication', user)
        self.assertNotIn('wrong-password', proc.stderr)
        self.assert_nothing_written()

    def test_builder_without_client_certificate(self):
        proc = run_build(self, 'spp-builder-' + H, ['--mappings', BIG],
                         etcd_cert_file=None, etcd_key_file=None)
        self.assertEqual(1, proc.returncode)
        self.assert_clear(proc.stderr, 'TLS', 'certificate')
        self.assert_nothing_written()

    def test_builder_of_another_host(self):
        # The builder role of H may not write another host's keys.
        proc = run_build(self, 'spp-builder-' + H,
                         ['--mappings', BIG, '--host', 'other-host'])
        self.assertEqual(1, proc.returncode)
        self.assert_clear(proc.stderr, 'permission denied',
                          '/spp/openstack/vhost/other-host/')
        self.assert_nothing_written()

    def _plugin(self, **overrides):
        os_vif.initialize()
        self.useFixture(config_fixture.Config(cfg.CONF))
        s = self.settings('spp-plugin-' + H, **overrides)
        opts = {'etcd_endpoints': s['endpoints'],
                'etcd_ca_file': s['ca_file'],
                'etcd_cert_file': s['cert_file'],
                'etcd_key_file': s['key_file'],
                'etcd_username': s['username'],
                'etcd_password': s['password'], 'host': H,
                'etcd_retry_window': 0.2}
        for name, value in opts.items():
            cfg.CONF.set_override(name, value, group='os_vif_spp')
        port = str(uuid.uuid4())
        vif = objects.vif.VIFVHostUser(
            id=port, address='fa:16:3e:00:00:01', plugin='spp',
            vif_name='nic', mode='server', path='/tmp/sock0',
            network=objects.network.Network(id=str(uuid.uuid4())))
        inst = objects.instance_info.InstanceInfo(
            uuid=str(uuid.uuid4()), name='vm', project_id='p')
        return self.assertRaises(osv_exception.PlugException, os_vif.plug,
                                 vif, inst)

    def test_plugin_wrong_ca(self):
        other = self.cluster.pki.__class__(
            self.useFixture(fixtures.TempDir()).path, 'another CA')
        exc = self._plugin(ca_file=other.ca.cert)
        self.assert_clear(str(exc), 'CERTIFICATE_VERIFY_FAILED',
                          'etcd_ca_file')
        self.assert_nothing_written()

    def test_plugin_bad_password(self):
        exc = self._plugin(password='not-the-password')
        self.assert_clear(str(exc), 'authentication',
                          'spp-plugin-' + H)
        self.assertNotIn('not-the-password', str(exc))
        self.assert_nothing_written()

    def test_ml2_with_a_role_without_permission(self):
        # The plugin's role where the ML2 driver's belongs: it may read
        # the host's keys but not take a vhost.
        self.root.put(keys.configuration(H), builder.dumps(
            builder.build('00:04.0#phys1#2#0xfe')))
        self.root.put(keys.vhost(H, 'phys1', 0), keys.FREE)
        self.before = self.root.revision()
        binder = core.Binder(self.client('spp-plugin-' + H))
        exc = self.assertRaises(ml2_errors.EtcdFailed, binder.bind, H,
                                str(uuid.uuid4()), 'fa:16:3e:00:00:02',
                                'phys1')
        self.assert_clear(str(exc), 'permission denied',
                          'spp-plugin-' + H, '/spp/openstack/')
        self.assert_nothing_written()
        self.assertEqual(keys.FREE, self.root.get(keys.vhost(H, 'phys1',
                                                             0)))

    def test_agent_of_another_host_refused_and_says_so(self):
        # The agent role of H used for host "other": the agent logs the
        # refused prefix and publishes nothing.
        tmp = self.useFixture(fixtures.TempDir()).path
        conf = os.path.join(tmp, 'agent.conf')
        user = 'spp-agent-' + H
        with open(conf, 'w') as f:
            f.write('\n'.join(
                ['[DEFAULT]', 'host = other', '[AGENT]',
                 'report_interval = 0', '[spp]', 'backoff_max = 0.3'] +
                self.option_lines(user)) + '\n')
        proc = subprocess.Popen(
            [sys.executable, '-m', 'vif_plug_spp.cmd.agent',
             '--config-file', conf], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = proc.communicate(timeout=4)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        self.assert_clear(out, 'permission denied',
                          '/spp/openstack/configuration/other')
        self.assertIsNone(self.root.get(served.marker('other')))
        self.assert_nothing_written()


class TestEnablingAuthentication(testtools.TestCase):
    """The migration order of the guide: users, roles and credentials
    first, then ``auth enable`` on the live cluster.
    """

    def test_clients_configured_first_authenticate_once_it_is_on(self):
        cluster = etcd_cluster.EtcdCluster(auth=False).start()
        self.addCleanup(cluster.stop)
        role = etcd_roles.plugin(H)
        etcd_gateway.add_user(cluster.root, role.name, 'pw')
        etcd_gateway.add_role(cluster.root, role, role.name)
        client = etcd_mod.EtcdClient(
            endpoints=cluster.endpoints, ca_file=cluster.pki.ca.cert,
            cert_file=cluster.client_pair.cert,
            key_file=cluster.client_pair.key, username=role.name,
            password='pw')
        self.addCleanup(client.close)
        key = keys.port_status(H, 'p1')
        client.put(key, 'down')   # auth still off: sent without a token
        etcd_gateway.enable_auth(cluster.gateway(), 'root-pw')
        client.put(key, keys.UP)
        root = cluster.gateway(user='root', password='root-pw')
        self.assertEqual(keys.UP, root.get(key))
        # ... and from now on its role applies.
        self.assertRaises(etcd_mod.EtcdPermissionDenied, client.put,
                          keys.port_status('other', 'p1'), keys.UP)
