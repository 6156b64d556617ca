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

from typing import Any

from nova.network import model
import os_vif

from nova_e2e import base

VHOST_ID = 3


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
