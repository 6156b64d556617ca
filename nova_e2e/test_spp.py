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
"""SPP vhost-user ports: ``vhostuser`` + ``vhostuser_spp_plug`` (patch 0001).

The binding details are the ones networking-spp sets, plus the new flag.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from nova import exception as nova_exception
from nova.network import model
import os_vif

from nova_e2e import base

try:
    from os_vif_accel.testing import etcd as etcd_server
    from os_vif_accel.testing import spp_wiring
    from vif_plug_spp import builder
    from vif_plug_spp import etcd as spp_etcd
    from vif_plug_spp import keys
    from vif_plug_spp import served
    from vif_plug_spp.emulator import server as sppctl_emulator

    from spp_neutron import core
    _MISSING = ''
except ImportError as exc:  # the spp branch is not merged
    _MISSING = str(exc)

VHOST_ID = 3
#: Two NICs as DPDK_PORT_MAPPINGS: phys1 (flat) and phys2 (VLAN).
MAPPINGS = '00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfc02'


def classifier(sppctl: Any, sec_id: int) -> list[dict[str, Any]]:
    """The classifier table of spp_vf ``sec_id`` of an spp-ctl emulator."""
    return list(sppctl.snapshot()[sec_id]['classifier_table'])


def vhost_behind(sppctl: Any, sec_id: int, ring: str) -> str:
    """The vhost port the forwarder fed by ``ring`` sends to."""
    return spp_wiring.vhost_behind(sppctl.snapshot()[sec_id], ring)


def spp_details(socket: str, flag: Any = True) -> dict[str, Any]:
    details = {model.VIF_DETAILS_PORT_FILTER: False,
               model.VIF_DETAILS_VHOSTUSER_MODE: 'server',
               model.VIF_DETAILS_VHOSTUSER_SOCKET: socket}
    if flag is not None:
        details[model.VIF_DETAILS_VHOSTUSER_SPP_PLUG] = flag
    return details


class TestNovaSppConversion(base.NovaE2ETestCase):
    """What patched Nova builds for an SPP port, and its libvirt XML."""

    def _vif(self, flag: Any = True) -> model.VIF:
        return base.nova_vif(model.VIF_TYPE_VHOSTUSER, details=spp_details(
            '/tmp/sock%d' % VHOST_ID, flag))

    def test_flag_selects_spp_plugin(self) -> None:
        vif = self._vif()
        obj = self.to_osvif(vif)
        self.assertEqual(('spp', 'VIFVHostUser'),
                         (obj.plugin, obj.obj_name()))
        self.assertEqual('/tmp/sock%d' % VHOST_ID, obj.path)
        self.assertEqual('server', obj.mode)
        self.assertEqual(vif['devname'], obj.vif_name)

    def test_without_flag_still_noop(self) -> None:
        for flag in (None, False):
            self.assertEqual('noop', self.to_osvif(self._vif(flag)).plugin)

    def test_xml(self) -> None:
        xml = self.interface_xml(self._vif())
        self.assertEqual('vhostuser', xml.get('type'))
        self.assertEqual('unix', self.xml_attr(xml, 'source', 'type'))
        self.assertEqual('server', self.xml_attr(xml, 'source', 'mode'))
        self.assertEqual('/tmp/sock%d' % VHOST_ID,
                         self.xml_attr(xml, 'source', 'path'))

    def test_spp_plugin_installed(self) -> None:
        # Without it Nova fails the boot with NoMatchingPlugin.
        names = [p.plugin_name for p in os_vif.host_info().plugin_info]
        self.assertIn('spp', names,
                      'no os-vif plugin named "spp" is installed (issue 5, '
                      'branch spp); Nova would fail every SPP port with '
                      'NoMatchingPlugin')


class SppEtcdCase(base.NovaE2ETestCase):
    """A real etcd for the class; SPP support must be in the tree."""

    etcd_proc: Any = None

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        if not _MISSING and etcd_server.available():
            cls.etcd_proc = etcd_server.EtcdServer().start()

    @classmethod
    def tearDownClass(cls) -> None:
        if cls.etcd_proc is not None:
            cls.etcd_proc.stop()
        super().tearDownClass()

    def setUp(self) -> None:
        super().setUp()
        if _MISSING:
            self.fail('SPP support (issue 5, branch spp: plugin spp, '
                      'spp-ctl emulator, etcd layer) is missing from this '
                      'tree: %s' % _MISSING)
        if self.etcd_proc is None:
            self.fail('no etcd binary at %s: install the Debian package '
                      'etcd-server' % etcd_server.ETCD_BINARY)


class TestSppPlug(SppEtcdCase):
    """Nova plugs an SPP port: real etcd, spp-ctl emulator, plugin spp.

    The Neutron side (networking-spp's mechanism driver: vhost allocation
    by CAS, ``bind_port`` and ``action`` keys) is played with the
    protocol helpers of ``vif_plug_spp``; Nova gets the binding details
    that driver sets plus ``vhostuser_spp_plug``.
    """

    def setUp(self) -> None:
        super().setUp()
        self.host = 'e2e-%s' % uuid.uuid4().hex[:8]
        self.etcd = spp_etcd.EtcdClient(self.etcd_proc.host,
                                        self.etcd_proc.port,
                                        retry_window=3.0)
        self.addCleanup(self.etcd.close)
        self.spp_config = builder.build(MAPPINGS)
        builder.write(self.etcd, self.host, self.spp_config)
        self.sppctl = sppctl_emulator.SppCtlEmulator.for_configuration(
            self.spp_config).start()
        self.addCleanup(self.sppctl.stop)
        self.conf.config(group='os_vif_spp',
                         etcd_host=self.etcd_proc.host,
                         etcd_port=self.etcd_proc.port,
                         spp_ctl_url=self.sppctl.url, host=self.host,
                         lock_path=os.path.join(self.tmp, 'spp.lock'),
                         etcd_retry_window=0.2, spp_ctl_retry_window=0.2)
        # Our spp-agent serves the host (its marker, without the agent),
        # so the plugin repairs wiring itself.
        marker = served.Marker(self.etcd, self.host, ttl=60)
        marker.start()
        self.addCleanup(marker.stop)

    # -- Neutron side ----------------------------------------------------
    def bind(self, physnet: str, vlan: int | None = None,
             flag: Any = True) -> tuple[model.VIF, int]:
        """Bind a new port with the ML2 driver's core; Nova's VIF for
        it.
        """
        vif = base.nova_vif(model.VIF_TYPE_VHOSTUSER)
        vhost_id = core.Binder(self.etcd).bind(
            self.host, vif['id'], vif['address'], physnet, vlan).vhost_id
        vif['details'] = spp_details('/tmp/sock%d' % vhost_id, flag)
        return vif, vhost_id

    # -- spp_vf side -----------------------------------------------------
    def classifier(self, sec_id: int) -> list[dict[str, Any]]:
        return classifier(self.sppctl, sec_id)

    def vhost_behind(self, sec_id: int, ring: str) -> str:
        return vhost_behind(self.sppctl, sec_id, ring)

    def status(self, vif: model.VIF) -> str | None:
        return self.etcd.get(keys.port_status(self.host, vif['id']))

    def _check_wired(self, vif: model.VIF, vhost_id: int, sec_id: int,
                     entry: dict[str, str]) -> None:
        self.assertEqual('up', self.status(vif))
        table = self.classifier(sec_id)
        self.assertEqual([entry], [{k: e[k] for k in ('type', 'value')}
                                   for e in table])
        vhost = self.vhost_behind(sec_id, table[0]['port'])
        self.assertEqual('vhost:%d' % vhost_id, vhost)
        # QEMU opens the socket of exactly that vhost, as its server.
        xml = self.interface_xml(vif)
        self.assertEqual('vhostuser', xml.get('type'))
        self.assertEqual('/tmp/sock%d' % vhost_id,
                         self.xml_attr(xml, 'source', 'path'))
        self.assertEqual('server', self.xml_attr(xml, 'source', 'mode'))
        self.assertEqual(vif['address'],
                         self.xml_attr(xml, 'mac', 'address'))

    def test_flat_port_wired_and_reported_up(self) -> None:
        vif, vhost_id = self.bind('phys1')

        self.plug(vif)

        self._check_wired(vif, vhost_id, 1,
                          {'type': 'mac', 'value': vif['address'].upper()})

    def test_vlan_port_wired_then_unplugged(self) -> None:
        vif, vhost_id = self.bind('phys2', vlan=55)

        self.plug(vif)
        self._check_wired(
            vif, vhost_id, 2,
            {'type': 'vlan', 'value': '55/' + vif['address'].upper()})

        self.unplug(vif)

        self.assertEqual([], self.classifier(2))
        # The vhost stays allocated to the port: Neutron releases it.
        self.assertEqual(vif['id'], self.etcd.get(
            keys.vhost(self.host, 'phys2', vhost_id)))

    def test_replug_repairs_a_restarted_spp_vf(self) -> None:
        # nova-compute re-plugs every VIF when it starts or hard-reboots.
        vif, vhost_id = self.bind('phys1')
        self.plug(vif)
        self.sppctl.restart(reset_vfs=True)
        self.assertEqual([], self.classifier(1))

        self.plug(vif)

        self._check_wired(vif, vhost_id, 1,
                          {'type': 'mac', 'value': vif['address'].upper()})

    def test_without_flag_nova_uses_noop(self) -> None:
        # What stock Nova does for every SPP port: nothing is checked.
        vif, _ = self.bind('phys1', flag=None)

        self.plug(vif)

        self.assertIsNone(self.status(vif))
        self.assertEqual([], self.classifier(1))

    def test_unbound_port_fails_the_boot_clearly(self) -> None:
        vif = base.nova_vif(model.VIF_TYPE_VHOSTUSER,
                            details=spp_details('/tmp/sock0'))

        err = self.assertRaises(nova_exception.InternalError,
                                self.plug, vif)

        self.assertIn('Failure running os_vif plugin plug method',
                      str(err))
        self.assertIn('has no SPP binding on host %s' % self.host,
                      str(err))
        self.assertEqual([], self.classifier(1))
