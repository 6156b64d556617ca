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
"""Input validation of the plugin: refused before any I/O."""

import uuid
from unittest import mock

from os_vif import objects
from oslo_config import cfg
from oslo_config import fixture as config_fixture
import testtools

from os_vif_accel import validate
from vif_plug_spp import binding
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import exception
from vif_plug_spp import opts
from vif_plug_spp import protocol
from vif_plug_spp import spp


def unreachable_plugin(test):
    """The plugin pointed at an etcd and spp-ctl where nothing listens:
    any I/O would fail differently from a validation error.
    """
    objects.register_all()
    conf = test.useFixture(config_fixture.Config(cfg.ConfigOpts()))
    conf.conf.register_opts(spp.SppPlugin.CONFIG_OPTS, 'os_vif_spp')
    conf.config(etcd_port=1, spp_ctl_url='http://127.0.0.1:1',
                group='os_vif_spp')
    return spp.SppPlugin(conf.conf.os_vif_spp)


class TestValidation(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.plugin = unreachable_plugin(self)
        self.inst = objects.instance_info.InstanceInfo(
            uuid=str(uuid.uuid4()), name='vm', project_id=str(uuid.uuid4()))

    def vif(self, **kw):
        args = dict(id=str(uuid.uuid4()), address='fa:16:3e:00:00:01',
                    plugin='spp', mode='server', path='/tmp/sock0')
        args.update(kw)
        return objects.vif.VIFVHostUser(**args)

    def check(self, vif, field, call='plug'):
        exc = self.assertRaises(exception.InvalidPort,
                                getattr(self.plugin, call), vif, self.inst)
        self.assertIn('Invalid %s' % field, str(exc))
        self.assertIn('nothing was written or sent', str(exc))
        self.assertIsNone(self.plugin._wiring)

    def test_bad_uuid(self):
        self.check(self.vif(id='not-a-uuid'), 'id')
        self.check(self.vif(id='not-a-uuid'), 'id', 'unplug')

    def test_bad_mac(self):
        self.check(self.vif(address='ff:ff:ff:ff:ff:ff'), 'address')

    def test_socket_outside_allowed_dirs(self):
        self.check(self.vif(path='/var/run/sock0'), 'path')

    def test_socket_with_dotdot(self):
        self.check(self.vif(path='/tmp/../etc/sock0'), 'path')

    def test_client_mode(self):
        self.check(self.vif(mode='client'), 'mode')

    def test_wrong_vif_class(self):
        vif = objects.vif.VIFGeneric(id=str(uuid.uuid4()),
                                     address='fa:16:3e:00:00:01',
                                     plugin='spp', vif_name='tap0')
        exc = self.assertRaises(exception.UnsupportedVIF, self.plugin.plug,
                                vif, self.inst)
        self.assertIn('VIFVHostUser', str(exc))

    def test_describe(self):
        info = self.plugin.describe()
        self.assertEqual('spp', info.plugin_name)
        self.assertEqual(['VIFVHostUser'],
                         [v.vif_object_name for v in info.vif_info])

    def test_list_opts(self):
        groups = dict(opts.list_opts())
        self.assertIn('vhostuser_socket_template',
                      [o.name for o in groups['os_vif_spp']])
        self.assertIn('etcd_host', [o.name for o in groups['spp']])


class TestEtcdErrors(testtools.TestCase):
    """What Nova's fault record says when etcd cannot be used: refused
    access (TLS, credentials, role) is a configuration error of its own,
    not "etcd failed" like an outage.
    """

    def setUp(self):
        super().setUp()
        self.plugin = unreachable_plugin(self)
        self.inst = objects.instance_info.InstanceInfo(
            uuid=str(uuid.uuid4()), name='vm', project_id=str(uuid.uuid4()))
        self.vif = objects.vif.VIFVHostUser(
            id=str(uuid.uuid4()), address='fa:16:3e:00:00:01',
            plugin='spp', mode='server', path='/tmp/sock0')

    def plug_with(self, error):
        with mock.patch.object(etcd_mod.EtcdClient, '_request',
                               side_effect=error):
            return self.assertRaises(exception.SppError, self.plugin.plug,
                                     self.vif, self.inst)

    def test_refusals_are_access_errors(self):
        for error in (
                etcd_mod.EtcdTLSError('etcd https://10.0.0.5:2379: TLS '
                                      'failed: certificate verify failed'),
                etcd_mod.EtcdAuthError('etcd https://10.0.0.5:2379: '
                                       'authentication of user \'nova\' '
                                       'failed: wrong user name or '
                                       'password'),
                etcd_mod.EtcdPermissionDenied(
                    'nova', "prefix '/spp/openstack/action/h/'",
                    'https://10.0.0.5:2379')):
            exc = self.plug_with(error)
            self.assertIsInstance(exc, exception.EtcdAccessRefused)
            self.assertNotIsInstance(exc, exception.EtcdUnreachable)
            self.assertIn('refused access while plugging port %s'
                          % self.vif.id, str(exc))
            self.assertIn('https://10.0.0.5:2379', str(exc))
            self.assertIn(str(error), str(exc))
            self.assertNotIn('failed while', str(exc))

    def test_outage_stays_unreachable(self):
        exc = self.plug_with(etcd_mod.EtcdUnavailable(
            'etcd unreachable (no member answered)'))
        self.assertIsInstance(exc, exception.EtcdUnreachable)
        self.assertIn('failed while plugging port %s' % self.vif.id,
                      str(exc))

    def test_unanswered_connection_is_unreachable(self):
        # Nothing listens on port 1: a real refused connection.
        exc = self.assertRaises(exception.SppError, self.plugin.plug,
                                self.vif, self.inst)
        self.assertIsInstance(exc, exception.EtcdUnreachable)


class TestBindPortValue(testtools.TestCase):

    def test_round_trip_flat_and_vlan(self):
        flat = protocol.bind_port_value('fa:16:3e:a0:da:db', 0, None)
        self.assertEqual('{"mac_address": "fa:16:3e:a0:da:db", '
                         '"vhost_id": 0}', flat)
        self.assertEqual(protocol.BindPort('fa:16:3e:a0:da:db', 0, None),
                         protocol.parse_bind_port(flat))
        vlan = protocol.parse_bind_port(
            '{"vhost_id": 3, "mac_address": "FA:16:3E:A0:DA:DB", '
            '"vlan_id": 100}')
        self.assertEqual(protocol.BindPort('fa:16:3e:a0:da:db', 3, 100),
                         vlan)

    def test_invalid(self):
        for text in ('nope', '[]', '{"vhost_id": -1, "mac_address": '
                     '"fa:16:3e:a0:da:db"}', '{"vhost_id": 1}',
                     '{"vhost_id": 1, "mac_address": "fa:16:3e:a0:da:db", '
                     '"vlan_id": 5000}'):
            self.assertRaises(validate.InvalidInput,
                              protocol.parse_bind_port, text)

    def test_vhost_physnet(self):
        conf = {'vf': [{'physical_network': 'a', 'num_vhost': 2},
                       {'physical_network': 'b', 'num_vhost': 1}]}
        self.assertEqual(['a', 'a', 'b', None],
                         [binding.vhost_physnet(conf, i) for i in range(4)])
