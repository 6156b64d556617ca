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

from hypothesis import given
from hypothesis import strategies as st
import testtools

from os_vif_accel.testing import hostile
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
                    'tap"0', "tap'0", 'ét' * 7 + 'x', 'all', 'default',
                    'tap\udcff', 'eth0\n'):
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
        for bad in (4095, -2, True, 'x', 1.5, '٣', '²', ' 5', '+5', '1_0',
                    '9' * 5000):
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


class TestStrictTypesAndText(testtools.TestCase):
    """The checks Python's own conversions get wrong."""

    def test_bool_is_not_an_int(self) -> None:
        for func in (lambda v: validate.integer(v, 'n', 0, 1),
                     validate.mtu, validate.vlan_id):
            self.assertRaises(validate.InvalidInput, func, True)
        self.assertRaises(validate.InvalidInput, validate.seconds, False,
                          't', 0, 10)
        self.assertRaises(validate.InvalidInput, validate.boolean, 1, 'b')
        self.assertRaises(validate.InvalidInput, validate.boolean, 'false',
                          'b')

    def test_seconds_are_finite(self) -> None:
        self.assertEqual(2.5, validate.seconds(2.5, 't', 0, 10))
        for bad in (float('nan'), float('inf'), -1, 11, '1'):
            self.assertRaises(validate.InvalidInput, validate.seconds, bad,
                              't', 0, 10)

    def test_text_must_encode_and_hold_no_control_character(self) -> None:
        self.assertEqual('vm é 名', validate.text('vm é 名', 'name'))
        for bad in ('a\udcff', 'a\nb', 'a\x00', 'a\x85', 'a\u2028', 'x' * 256,
                    None, b'vm'):
            self.assertRaises(validate.InvalidInput, validate.text, bad, 'n')

    def test_directory_refuses_control_characters(self) -> None:
        for bad in ('/tmp/a\nb', '/tmp/\x00', '/tmp/\udcff'):
            self.assertRaises(validate.InvalidInput, validate.directory, bad)

    def test_one_line_escapes_what_would_break_a_line(self) -> None:
        self.assertEqual('a\\nb \\udcff \\u2028',
                         validate.one_line('a\nb \udcff \u2028'))


class TestHostileValues(testtools.TestCase):
    """Any value: the canonical form or InvalidInput, nothing else."""

    @given(hostile.values())
    def test_every_validator_raises_only_invalid_input(self, value: object
                                                       ) -> None:
        checks = [validate.uuid, validate.project_id, validate.mac,
                  validate.ifname, validate.pci_address, validate.vlan_id,
                  validate.mtu, validate.directory, validate.driver_name,
                  lambda v: validate.text(v, 'text'),
                  lambda v: validate.integer(v, 'n', 0, 9),
                  lambda v: validate.seconds(v, 's', 0, 9),
                  lambda v: validate.boolean(v, 'b'),
                  lambda v: validate.socket_path(v, ['/run'])]
        for check in checks:
            try:
                check(value)
            except validate.InvalidInput as exc:
                self.assertEqual(1, len(validate.one_line(str(exc))
                                        .splitlines()))

    @given(st.one_of(hostile.names(), hostile.text()))
    def test_accepted_ifnames_are_names_the_kernel_takes(
            self, name: str) -> None:
        try:
            validate.ifname(name)
        except validate.InvalidInput:
            return
        # net/core/dev.c dev_valid_name(), plus the procfs conf entries.
        self.assertTrue(1 <= len(name.encode('utf-8')) <= 15)
        self.assertFalse(set(name) & set('/: \t\n\r\x0b\x0c\x00'))
        self.assertNotIn(name, ('.', '..', 'all', 'default'))

    @given(hostile.text())
    def test_text_accepted_is_one_encodable_line(self, value: str) -> None:
        try:
            validate.text(value, 'text')
        except validate.InvalidInput:
            return
        value.encode('utf-8')
        self.assertEqual([value] if value else [], value.splitlines())
