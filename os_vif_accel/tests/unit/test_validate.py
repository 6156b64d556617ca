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
"""Validators shared by every public entry point."""

from __future__ import annotations

import testtools

from os_vif_accel import validate


class TestValidate(testtools.TestCase):

    def test_uuid(self) -> None:
        self.assertEqual('3f0c5c1e-8a4b-4a53-9a8e-2d8f7d3c1b20',
                         validate.uuid('3F0C5C1E-8A4B-4A53-9A8E-2D8F7D3C1B20'))
        for bad in ('', '3f0c5c1e8a4b4a539a8e2d8f7d3c1b20', None, 5,
                    '{3f0c5c1e-8a4b-4a53-9a8e-2d8f7d3c1b20}',
                    '3f0c5c1e-8a4b-4a53-9a8e-2d8f7d3c1b20.tmp', '../x'):
            self.assertRaises(validate.InvalidInput, validate.uuid, bad)

    def test_project_id_dashes_keystone_ids(self) -> None:
        self.assertEqual('3f0c5c1e-8a4b-4a53-9a8e-2d8f7d3c1b20',
                         validate.project_id(
                             '3f0c5c1e8a4b4a539a8e2d8f7d3c1b20'))
        self.assertRaises(validate.InvalidInput, validate.project_id,
                          'admin')

    def test_mac(self) -> None:
        self.assertEqual('fa:16:3e:0a:0b:0c',
                         validate.mac('FA:16:3E:0A:0B:0C'))
        for bad in ('00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff',
                    'fa:16:3e:0a:0b', 'fa-16-3e-0a-0b-0c',
                    'fa:16:3e:0a:0b:0c '):
            self.assertRaises(validate.InvalidInput, validate.mac, bad)

    def test_ifname(self) -> None:
        self.assertEqual('tap12345678-9a', validate.ifname('tap12345678-9a'))
        self.assertEqual('a' * 15, validate.ifname('a' * 15))
        for bad in ('a' * 16, '', 'eth/0', 'eth 0', 'eth:0', '.', '..',
                    'tap"0', "tap'0", 'ét' * 7 + 'x'):
            self.assertRaises(validate.InvalidInput, validate.ifname, bad)

    def test_pci_address(self) -> None:
        self.assertEqual('0000:08:00.1', validate.pci_address('0000:08:00.1'))
        for bad in ('0000:08:00.1/../..', '0000:08:00.8', '08:00.1',
                    '0000:0A:00.1', '0000:08:20.1', '0000:08:00.1\n'):
            self.assertRaises(validate.InvalidInput, validate.pci_address,
                              bad)

    def test_vlan_id(self) -> None:
        self.assertEqual(-1, validate.vlan_id(-1))
        self.assertEqual(100, validate.vlan_id('100'))
        for bad in (4095, -2, True, 'x', 1.5):
            self.assertRaises(validate.InvalidInput, validate.vlan_id, bad)
        self.assertRaises(validate.InvalidInput, validate.vlan_id, -1,
                          allow_none=False)

    def test_socket_path(self) -> None:
        allowed = ['/var/run/vrouter']
        self.assertEqual('/var/run/vrouter/uvh_vif_tap0',
                         validate.socket_path('/var/run/vrouter/uvh_vif_tap0',
                                              allowed))
        for bad in ('/var/run/vrouter', '/var/run/vrouter/../x',
                    '/var/run/vrouterX/s', 'var/run/vrouter/s',
                    '/var/run/vrouter/' + 'a' * 100, '/var/run/vrouter/a b',
                    '/var/run/vrouter/sub/uvh_vif_tap0'):
            self.assertRaises(validate.InvalidInput, validate.socket_path,
                              bad, allowed)

    def test_error_survives_privsep_style_rebuild(self) -> None:
        exc = validate.InvalidInput('mac', 'x', 'bad')
        rebuilt = validate.InvalidInput(*exc.args)
        self.assertEqual(str(exc), str(rebuilt))
        self.assertIn("invalid mac 'x': bad", str(rebuilt))
