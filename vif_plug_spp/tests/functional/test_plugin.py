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
"""os-vif plugin ``spp`` through os_vif.plug/unplug, real etcd."""

import uuid
from unittest import mock

import os_vif
from os_vif import exception as osv_exception
from os_vif import objects
from oslo_config import cfg
from oslo_config import fixture as config_fixture

from os_vif_accel.testing import etcd as etcd_server
from vif_plug_spp import builder
from vif_plug_spp import datapath
from vif_plug_spp import keys
from vif_plug_spp.tests.functional import base

MAC = 'fa:16:3e:00:00:0a'


class TestPlugin(base.SppCase):

    def setUp(self):
        super().setUp()
        os_vif.initialize()
        self.useFixture(config_fixture.Config(cfg.CONF))
        self.conf(etcd_host=self.server.host, etcd_port=self.server.port,
                  spp_ctl_url=self.emu.url, host=self.host,
                  lock_path=self.lock_path, etcd_retry_window=0.2,
                  spp_ctl_retry_window=0.2)
        self.inst = objects.instance_info.InstanceInfo(
            uuid=str(uuid.uuid4()), name='vm', project_id=str(uuid.uuid4()))
        # Our spp-agent serves the host: the plugin may repair wiring.
        self.marker = self.serve_host()

    def conf(self, **kwargs):
        for name, value in kwargs.items():
            cfg.CONF.set_override(name, value, group='os_vif_spp')

    def vif(self, port_id, vhost_id, mac=MAC, path=None, **kw):
        return objects.vif.VIFVHostUser(
            id=port_id, address=mac, plugin='spp', vif_name='nicx',
            mode=kw.get('mode', 'server'),
            path=path or '/tmp/sock%d' % vhost_id,
            network=objects.network.Network(id=str(uuid.uuid4())))

    def bind(self, physnet='phys2', vlan=None):
        port = str(uuid.uuid4())
        vid = self.neutron_bind(port, MAC, physnet, vlan, wait=False)
        return port, vid

    def test_plug_wires_and_reports_up_unplug_keeps_allocation(self):
        port, vid = self.bind('phys2', 55)
        os_vif.plug(self.vif(port, vid), self.inst)
        self.assertEqual('up', self.etcd.get(keys.port_status(self.host,
                                                              port)))
        self.assertEqual([{'type': 'vlan', 'value': '55/' + MAC.upper(),
                           'port': 'ring:%d' % (2 * vid)}], self.table(2))
        # Idempotent: a second plug changes nothing in spp_vf.
        before = len([r for r in self.emu.requests if r[0] != 'GET'])
        os_vif.plug(self.vif(port, vid), self.inst)
        self.assertEqual(before, len([r for r in self.emu.requests
                                      if r[0] != 'GET']))
        os_vif.unplug(self.vif(port, vid), self.inst)
        self.assertEqual([], self.table(2))
        self.assertEqual(port, self.etcd.get(keys.vhost(self.host, 'phys2',
                                                        vid)))
        self.assertIsNotNone(self.etcd.get(keys.bind_port(self.host, port)))

    def _writes(self):
        return [r for r in self.emu.requests if r[0] != 'GET']

    def test_networking_spp_host_wiring_left_to_its_agent(self):
        # Without our agent's marker, networking-spp's agent serves the
        # host: it deletes the entry it set at unbind and exits if spp_vf
        # refuses (Corrections 12), so Nova's unplug (which comes first)
        # must leave the wiring, and plug must not add wiring that agent
        # does not know about.
        self.marker.stop()
        port, vid = self.bind('phys2', 55)
        os_vif.plug(self.vif(port, vid), self.inst)
        self.assertEqual([], self._writes())
        self.assertIsNone(self.etcd.get(keys.port_status(self.host, port)))
        # Wired while our agent served the host; now networking-spp's
        # agent serves it again and Nova unplugs the port.
        marker = self.serve_host()
        os_vif.plug(self.vif(port, vid), self.inst)
        marker.stop()
        before = len(self._writes())
        os_vif.unplug(self.vif(port, vid), self.inst)
        self.assertEqual(before, len(self._writes()))
        self.assertEqual(1, len(self.table(2)))

    def test_binding_still_checked_on_networking_spp_host(self):
        self.marker.stop()
        port, vid = self.bind('phys1')
        exc = self.assertRaises(osv_exception.PlugException, os_vif.plug,
                                self.vif(port, vid, mac='fa:16:3e:ff:ff:ff'),
                                self.inst)
        self.assertIn('binding says %s' % MAC, str(exc))

    def test_plug_flat_on_first_nic(self):
        port, vid = self.bind('phys1')
        os_vif.plug(self.vif(port, vid), self.inst)
        self.assertEqual([{'type': 'mac', 'value': MAC.upper(),
                           'port': 'ring:%d' % (2 * vid)}], self.table(1))

    def test_no_configuration(self):
        self.conf(host='other-%s' % uuid.uuid4().hex[:6])
        exc = self.assertRaises(osv_exception.PlugException, os_vif.plug,
                                self.vif(str(uuid.uuid4()), 0), self.inst)
        self.assertIn('has no SPP configuration', str(exc))
        self.assertIn('spp-config-build', str(exc))

    def test_no_binding(self):
        port = str(uuid.uuid4())
        exc = self.assertRaises(osv_exception.PlugException, os_vif.plug,
                                self.vif(port, 0), self.inst)
        self.assertIn('has no SPP binding on host %s' % self.host, str(exc))
        self.assertEqual([], self.table(1))

    def test_socket_path_mismatch(self):
        port, vid = self.bind('phys1')
        exc = self.assertRaises(osv_exception.PlugException, os_vif.plug,
                                self.vif(port, vid, path='/tmp/sock9'),
                                self.inst)
        self.assertIn('socket /tmp/sock9', str(exc))
        self.assertIn('bound to vhost %d, whose socket is /tmp/sock%d'
                      % (vid, vid), str(exc))

    def test_mac_mismatch(self):
        port, vid = self.bind('phys1')
        exc = self.assertRaises(osv_exception.PlugException, os_vif.plug,
                                self.vif(port, vid, mac='fa:16:3e:ff:ff:ff'),
                                self.inst)
        self.assertIn('binding says %s' % MAC, str(exc))

    def test_port_being_unbound(self):
        port, vid = self.bind('phys1')
        self.assertEqual('unplug', self.neutron_release(port))
        exc = self.assertRaises(osv_exception.PlugException, os_vif.plug,
                                self.vif(port, vid), self.inst)
        self.assertIn('Neutron is unbinding the port', str(exc))
        self.assertEqual([], self.table(1))

    def test_unbind_finished_during_plug_leaves_no_port_status(self):
        # Neutron unbinds while the plugin wires; our agent's unplug
        # (waiting for the host lock) then deletes the port's keys before
        # the plugin reports up.  That report must not bring back a
        # port_status = up for a port that no longer exists.
        port, vid = self.bind('phys1')
        real_plug = datapath.Datapath.plug

        def plug_then_unbound(dp, *args):
            changed = real_plug(dp, *args)
            self.neutron_release(port)
            for key in (keys.bind_port(self.host, port),
                        keys.action(self.host, port),
                        keys.port_status(self.host, port)):
                self.etcd.delete(key)
            return changed
        with mock.patch.object(datapath.Datapath, 'plug', autospec=True,
                               side_effect=plug_then_unbound):
            os_vif.plug(self.vif(port, vid), self.inst)
        self.assertEqual({}, self.etcd.read(
            prefixes=[keys.port_status_prefix(self.host)]))

    def test_vhost_not_owned(self):
        port, vid = self.bind('phys1')
        self.etcd.put(keys.vhost(self.host, 'phys1', vid), 'someone-else')
        exc = self.assertRaises(osv_exception.PlugException, os_vif.plug,
                                self.vif(port, vid), self.inst)
        self.assertIn("allocated to 'someone-else'", str(exc))
        self.assertEqual([], self.table(1))

    def test_etcd_unreachable(self):
        self.conf(etcd_port=etcd_server.free_port())
        exc = self.assertRaises(osv_exception.PlugException, os_vif.plug,
                                self.vif(str(uuid.uuid4()), 0), self.inst)
        self.assertIn('etcd http://127.0.0.1:', str(exc))
        self.assertIn('unreachable', str(exc))

    def test_spp_ctl_unreachable(self):
        port, vid = self.bind('phys1')
        self.emu.stop()
        exc = self.assertRaises(osv_exception.PlugException, os_vif.plug,
                                self.vif(port, vid), self.inst)
        self.assertIn('spp-ctl %s could not plug' % self.emu.url, str(exc))
        self.assertIsNone(self.etcd.get(keys.port_status(self.host, port)))

    def test_spp_ctl_error_mid_plug_nothing_half_wired(self):
        port, vid = self.bind('phys2', 9)
        self.emu.fail('PUT', 'classifier_table')
        exc = self.assertRaises(osv_exception.PlugException, os_vif.plug,
                                self.vif(port, vid), self.inst)
        self.assertIn('command error: error occur', str(exc))
        self.assertIn('rolled back', str(exc))
        st = self.status(2)
        self.assertEqual([], st['classifier_table'])
        ops = [p['vlan']['operation'] for c in st['components']
               if 'name' in c for side in ('rx_port', 'tx_port')
               for p in c[side]]
        self.assertEqual({'none'}, set(ops))

    def test_lock_file_error_is_explained(self):
        port, vid = self.bind('phys1')
        self.conf(lock_path='/nonexistent-%s/lock' % uuid.uuid4().hex[:6])
        exc = self.assertRaises(osv_exception.PlugException, os_vif.plug,
                                self.vif(port, vid), self.inst)
        self.assertIn('cannot open the host lock file', str(exc))

    def test_repairs_restarted_spp_vf(self):
        port, vid = self.bind('phys1')
        os_vif.plug(self.vif(port, vid), self.inst)
        self.emu.restart(reset_vfs=True)
        os_vif.plug(self.vif(port, vid), self.inst)
        self.assertEqual(1, len(self.table(1)))

    def test_unplug_without_binding_is_quiet(self):
        os_vif.unplug(self.vif(str(uuid.uuid4()), 0), self.inst)

    def test_forced_rebuild_invalidates_the_binding(self):
        port, vid = self.bind('phys1')
        os_vif.plug(self.vif(port, vid), self.inst)
        builder.write(self.etcd, self.host, self.config, force=True)
        exc = self.assertRaises(osv_exception.PlugException, os_vif.plug,
                                self.vif(port, vid), self.inst)
        self.assertIn("allocated to 'None'", str(exc))
