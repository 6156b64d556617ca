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
"""Layouts spp-config-build writes, served end to end (real etcd, the
spp-ctl emulator, our agent and plugin).

Two NICs on one physical network:

networking-spp's builder writes one ``vhost/<host>/<physnet>/<id>`` key
per vhost with host-global ids (NS ``devstack/spp-config-build.py``
133-167), its mech driver takes the first free key under the physnet
prefix whatever NIC it belongs to (NS ``mech_driver/mech_spp.py`` 48-57)
and its agent finds the NIC from the vhost id (NS ``agent/spp_agent.py``
286-294, 379-381).  The same must hold for our agent.

Cores above 31 (spp_vf takes component cores up to RTE_MAX_LCORE - 1,
SPP ``src/vf/common/command_dec.c`` 344) and the ``classifier`` type name
of SPP 18.08.4 and later.
"""

import uuid

import os_vif
from os_vif import objects
from oslo_config import cfg
from oslo_config import fixture as config_fixture

from vif_plug_spp import keys
from vif_plug_spp.tests.functional import base

from spp_neutron import errors

MACS = ['fa:16:3e:00:0a:%02x' % i for i in range(3)]


class _SharedCase(base.SppCase):
    mappings = '00:04.0#phys1#1#0x3e,00:05.0#phys1#1#0x7c0'

    def _entries(self):
        return {sec: [(e['value'].lower(), e['port']) for e in
                      self.table(sec)] for sec in (1, 2)}

    @staticmethod
    def _want(vids, vlans):
        want = {1: [], 2: []}
        for vid, mac, vlan in zip(vids, MACS, vlans):
            value = mac if vlan is None else '%d/%s' % (vlan, mac)
            want[vid + 1].append((value, 'ring:%d' % (2 * vid)))
        return want


class TestTwoNicsOnePhysnet(_SharedCase):

    def test_ports_on_both_nics_are_wired_and_released(self):
        self.start_agent()
        ports = [str(uuid.uuid4()) for _ in MACS]
        vids = [self.neutron_bind(port, mac, 'phys1', vlan)
                for port, mac, vlan in zip(ports[:2], MACS, (None, 40))]
        self.assertEqual([0, 1], sorted(vids))
        # vhost 0 is NIC 1's (spp_vf 1), vhost 1 is NIC 2's (spp_vf 2).
        self.assertEqual(self._want(vids, (None, 40)), self._entries())
        # Both NICs full: the physnet has no free vhost left.
        self.assertRaises(errors.NoFreeVhost, self.neutron_bind, ports[2],
                          MACS[2], 'phys1')
        for port in ports[:2]:
            self.assertEqual('unplug', self.neutron_release(port))
        self.wait_for(lambda: self._entries() == {1: [], 2: []},
                      what='both NICs unwired')
        self.wait_for(lambda: [self.etcd.get(keys.vhost(
            self.host, 'phys1', v)) for v in (0, 1)] == [keys.FREE] * 2,
            what='both vhosts released')


class TestPluginTwoNicsOnePhysnet(_SharedCase):
    """The os-vif plugin wires the spp_vf of the NIC owning the vhost."""

    def setUp(self):
        super().setUp()
        os_vif.initialize()
        self.useFixture(config_fixture.Config(cfg.CONF))
        overrides = {'etcd_host': self.server.host,
                     'etcd_port': self.server.port,
                     'spp_ctl_url': self.emu.url, 'host': self.host,
                     'lock_path': self.lock_path}
        for name, value in overrides.items():
            cfg.CONF.set_override(name, value, group='os_vif_spp')
        # Our spp-agent serves the host: the plugin wires itself.
        self.serve_host()

    def test_plug_and_unplug_on_both_nics(self):
        inst = objects.instance_info.InstanceInfo(
            uuid=str(uuid.uuid4()), name='vm', project_id='p')
        vifs, vids = [], []
        for mac, vlan in zip(MACS[:2], (7, None)):
            port = str(uuid.uuid4())
            vid = self.neutron_bind(port, mac, 'phys1', vlan, wait=False)
            vifs.append(objects.vif.VIFVHostUser(
                id=port, address=mac, plugin='spp', vif_name='nicx',
                mode='server', path='/tmp/sock%d' % vid,
                network=objects.network.Network(id=str(uuid.uuid4()))))
            vids.append(vid)
            os_vif.plug(vifs[-1], inst)
            self.assertTrue(self.is_up(port))
        self.assertEqual(self._want(vids, (7, None)), self._entries())
        for vif in vifs:
            os_vif.unplug(vif, inst)
        self.assertEqual({1: [], 2: []}, self._entries())


class TestCoresAbove31(base.SppCase):
    mappings = '00:04.0#phys1#1#%s,00:05.0#phys2#1#%s' % (
        hex(1 | 0xf << 40), hex(1 | 0xf << 124))

    def test_agent_starts_components_on_high_cores_and_plugs(self):
        self.start_agent()
        cores = {sec: sorted(c['core'] for c in self.status(sec)[
            'components'] if c['type'] != 'unuse') for sec in (1, 2)}
        self.assertEqual({1: [40, 41, 42, 43], 2: [124, 125, 126, 127]},
                         cores)
        port = str(uuid.uuid4())
        vid = self.neutron_bind(port, MACS[0], 'phys2')
        self.assertEqual(1, vid)
        self.assertEqual([(MACS[0], 'ring:2')], self._entries(2))

    def _entries(self, sec):
        return [(e['value'].lower(), e['port']) for e in self.table(sec)]


class TestClassifierNameOfSpp1808_4(base.SppCase):
    classifier_type = 'classifier'

    def test_agent_serves_an_spp_vf_that_only_knows_classifier(self):
        self.assertEqual('classifier',
                         self.config['vf'][0]['components'][4]['type'])
        self.start_agent()
        types = {c['name']: c['type'] for c in self.status(1)['components']}
        self.assertEqual('classifier', types['classifier'])
        port = str(uuid.uuid4())
        self.neutron_bind(port, MACS[0], 'phys1', 5)
        self.assertTrue(self.is_up(port))
        self.assertEqual(1, len(self.table(1)))


class TestTwelveVhostsOnSharedPhysnet(base.SppCase):
    """Two NICs of six vhosts on one physnet: the ML2 driver's core hands
    out all twelve (NIC 1's 0-5 and NIC 2's 6-11), each once, and names
    the host when none is left.  (networking-spp's driver scanned in
    etcd's byte order, NS ``mech_driver/mech_spp.py`` 49-57, so ``…/10``
    came before ``…/2``; ours starts at a port-dependent offset, which
    keeps concurrent binders apart.)
    """
    mappings = '00:04.0#phys1#6#0x7fff,00:05.0#phys1#6#%s' % hex(
        1 | 0x3fff << 16)

    def test_every_vhost_of_both_nics_is_handed_out_once(self):
        got = [self.neutron_bind(str(uuid.uuid4()), MACS[0], 'phys1',
                                 wait=False) for _ in range(12)]
        self.assertEqual(list(range(12)), sorted(got))
        exc = self.assertRaises(errors.NoFreeVhost, self.neutron_bind,
                                str(uuid.uuid4()), MACS[0], 'phys1')
        self.assertIn(self.host, str(exc))
