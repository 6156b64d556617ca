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
"""Argument handling of vrouter-port-control, without agent or files."""

from __future__ import annotations

import io
import uuid
from typing import Any

import fixtures
import testtools

from vif_plug_vrouter.cmd import port_audit
from vif_plug_vrouter.cmd import port_control as pc

PORT = '7d5f0fd1-1c5c-4d2c-9f55-8c6f5ea3b1a1'
VM = '5a8c36a5-0d6f-4a77-b1a2-95a1b4d3e0c7'
VN = 'b2f0a6a8-2f4c-4e0b-8f3a-1e2d3c4b5a69'
PROJECT_HEX = '0fdc3c29a5b94a1db1c4cbb26d7e6f83'
PROJECT = '0fdc3c29-a5b9-4a1d-b1c4-cbb26d7e6f83'


def add_argv(**over: str) -> list[str]:
    args = {'oper': 'add', 'uuid': PORT, 'instance_uuid': VM,
            'vn_uuid': VN, 'vm_project_uuid': PROJECT_HEX,
            'ip_address': '10.0.0.5', 'ipv6_address': 'None',
            'vm_name': 'vm1', 'mac': 'fa:16:3e:aa:bb:cc',
            'tap_name': 'tap7d5f0fd1-1c', 'port_type': 'NovaVMPort',
            'tx_vlan_id': '-1', 'rx_vlan_id': '-1'}
    args.update(over)
    return ['--%s=%s' % kv for kv in args.items() if kv[1] is not None]


class TestRecord(testtools.TestCase):

    def record(self, argv: list[str]) -> dict[str, Any]:
        settings = pc.settings_from_argv(argv)
        assert settings is not None
        return pc.build_record(settings)

    def test_tf_plugin_line_gives_the_canonical_record(self) -> None:
        self.assertEqual({
            'id': PORT, 'instance-id': VM, 'display-name': 'vm1',
            'ip-address': '10.0.0.5', 'ip6-address': '', 'vn-id': VN,
            'vm-project-id': PROJECT, 'mac-address': 'fa:16:3e:aa:bb:cc',
            'system-name': 'tap7d5f0fd1-1c', 'type': 0, 'rx-vlan-id': -1,
            'tx-vlan-id': -1, 'vhostuser-mode': 0},
            self.record(add_argv()))

    def test_dashed_and_undashed_project_ids_are_the_same(self) -> None:
        self.assertEqual(self.record(add_argv()),
                         self.record(add_argv(vm_project_uuid=PROJECT)))

    def test_legacy_defaults(self) -> None:
        rec = self.record(add_argv(ip_address=None, ipv6_address=None,
                                   vm_name=None, vm_project_uuid=None,
                                   port_type=None, tx_vlan_id=None,
                                   rx_vlan_id=None))
        self.assertEqual(('0.0.0.0', '', '', '', 0, -1, -1, 0),
                         tuple(rec[k] for k in (
                             'ip-address', 'ip6-address', 'display-name',
                             'vm-project-id', 'type', 'tx-vlan-id',
                             'rx-vlan-id', 'vhostuser-mode')))

    def test_vhostuser_mode_words_name_qemus_role(self) -> None:
        for word, mode in (('0', 0), ('1', 1), ('client', 0),
                           ('server', 1), ('Server', 1)):
            self.assertEqual(mode, self.record(add_argv(
                vhostuser_mode=word))['vhostuser-mode'])

    def test_port_types_by_name_or_number(self) -> None:
        for name, number in pc.PORT_TYPES.items():
            self.assertEqual(number, self.record(add_argv(
                port_type=name))['type'])
            self.assertEqual(number, self.record(add_argv(
                port_type=str(number)))['type'])

    def test_vn_may_be_omitted_for_namespace_and_esxi_ports(self) -> None:
        for ptype in ('NameSpacePort', 'ESXiPort'):
            self.assertEqual('', self.record(add_argv(
                vn_uuid=None, port_type=ptype))['vn-id'])


class TestSettings(testtools.TestCase):

    def settings(self, *extra: str) -> pc.Settings:
        s = pc.settings_from_argv(['--oper=delete', '--uuid=' + PORT] +
                                  list(extra))
        assert s is not None
        return s

    def test_no_persist_is_a_real_boolean(self) -> None:
        self.assertFalse(self.settings().no_persist)
        self.assertTrue(self.settings('--no_persist').no_persist)
        self.assertTrue(self.settings('--no_persist=True').no_persist)
        self.assertFalse(self.settings('--no_persist=False').no_persist)
        self.assertFalse(self.settings('--no_persist', '0').no_persist)

    def test_port_json_path_with_or_without_trailing_slash(self) -> None:
        self.assertEqual('/var/lib/contrail/ports', self.settings().ports_dir)
        self.assertEqual(
            self.settings('--port_json_path=/tmp/p').ports_dir,
            self.settings('--port_json_path=/tmp/p/').ports_dir)

    def test_agent_port_is_a_number(self) -> None:
        self.assertEqual(9091, self.settings().agent_port)
        self.assertEqual('http://127.0.0.1:1234',
                         self.settings('--agent_port', '1234').agent_url)

    def test_uuid_is_canonicalised(self) -> None:
        self.assertEqual(PORT, pc.settings_from_argv(
            ['--oper=delete', '--uuid=' + PORT.upper()]).port_id)


class TestExitCodes(testtools.TestCase):
    """Bad input: 1, malformed command line: 2, in-process."""

    def setUp(self) -> None:
        super().setUp()
        self.err = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', self.err))
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', io.StringIO()))

    def test_usage_errors_exit_2(self) -> None:
        for argv in (['--uuid=' + PORT], ['--oper=add'],
                     ['--oper=add', '--uuid=' + PORT, '--foo=1'],
                     ['--oper=add', '--uuid=a', '--uuid=b'],
                     ['--oper="add" --vm_name="x']):
            self.assertEqual(2, pc.run(argv), argv)

    def test_bad_values_exit_1_naming_the_flag(self) -> None:
        cases = {
            'oper': ('frob', '--oper'), 'uuid': ('not-a-uuid', '--uuid'),
            'mac': ('fa:16:3e:aa:bb', '--mac'),
            'tx_vlan_id': ('4095', '--tx_vlan_id'),
            'rx_vlan_id': ('-2', '--rx_vlan_id'),
            'tap_name': ('tap123456789abcd', '--tap_name'),
            'vm_project_uuid': ('proj', '--vm_project_uuid'),
            'ip_address': ('10.0.0.300', '--ip_address'),
            'ipv6_address': ('10.0.0.1', '--ipv6_address'),
            'vhostuser_mode': ('2', '--vhostuser_mode'),
            'vif_type': ('Tap', '--vif_type'),
            'port_type': ('VMPort', '--port_type'),
            'pci_dev': ('0000:08:00', '--pci_dev'),
            'vnic_type': ('macvtap', '--vnic_type'),
            'agent_port': ('x', '--agent_port'),
            'no_persist': ('maybe', '--no_persist'),
            'vhostuser_socket': ('/tmp/s', '--vhostuser_socket'),
            'netlink_wait': ('soon', '--netlink_wait'),
        }
        for flag, (value, name) in cases.items():
            self.err.truncate(0)
            self.assertEqual(1, pc.run(add_argv(**{flag: value})), flag)
            self.assertIn(name, self.err.getvalue())

    def test_missing_add_fields_exit_1(self) -> None:
        for flag in ('instance_uuid', 'mac', 'tap_name', 'vn_uuid'):
            self.err.truncate(0)
            self.assertEqual(1, pc.run(add_argv(**{flag: None})), flag)
            self.assertIn('--%s is required' % flag, self.err.getvalue())


class TestDrift(testtools.TestCase):

    REC = {'id': PORT, 'instance-id': VM, 'vn-id': '', 'vm-project-id': '',
           'mac-address': 'fa:16:3e:aa:bb:cc', 'system-name': 'tap1',
           'rx-vlan-id': -1, 'tx-vlan-id': 5, 'vhostuser-mode': 0,
           'ip-address': '0.0.0.0', 'ip6-address': ''}

    def agent(self, **over: Any) -> dict[str, Any]:
        view = {'id': PORT, 'instance-id': VM,
                'vn-id': '00000000-0000-0000-0000-000000000000',
                'vm-project-id': '00000000-0000-0000-0000-000000000000',
                'mac-address': 'fa:16:3e:aa:bb:cc', 'system-name': 'tap1',
                'rx-vlan-id': 65535, 'tx-vlan-id': 5, 'vhostuser-mode': 0}
        view.update(over)
        return view

    def test_agent_encodings_are_not_drift(self) -> None:
        self.assertEqual([], port_audit.drift(self.REC, self.agent()))

    def test_changed_fields_are_reported(self) -> None:
        diffs = port_audit.drift(self.REC, self.agent(**{
            'system-name': 'tap2', 'instance-id': str(uuid.uuid4())}))
        self.assertEqual(['instance-id', 'system-name'],
                         sorted(d.split(':')[0] for d in diffs))

    def test_addresses_compared_only_when_the_agent_shows_them(self) -> None:
        rec = dict(self.REC, **{'ip-address': '10.0.0.5'})
        self.assertEqual([], port_audit.drift(rec, self.agent()))
        self.assertEqual(1, len(port_audit.drift(rec, self.agent(
            **{'ip-address': '10.0.0.6'}))))


class TestWaits(testtools.TestCase):
    """The DPDK waits sleep with backoff; they never poll every 1 ms."""

    def setUp(self) -> None:
        super().setUp()
        self.now = 1000.0
        self.sleeps: list[float] = []

        def sleep(secs: float) -> None:
            self.sleeps.append(secs)
            self.now += secs

        self.useFixture(fixtures.MonkeyPatch('time.sleep', sleep))
        self.useFixture(fixtures.MonkeyPatch('time.monotonic',
                                             lambda: self.now))

    def test_gives_up_after_the_timeout_with_few_checks(self) -> None:
        checks = []
        self.assertFalse(pc.wait_until(lambda: bool(checks.append(1)), 15))
        self.assertEqual(15.0, round(sum(self.sleeps), 6))
        self.assertLess(len(checks), 25)
        self.assertGreaterEqual(min(self.sleeps[:-1]), 0.05)
        self.assertEqual(1.0, max(self.sleeps))

    def test_returns_as_soon_as_true(self) -> None:
        answers = iter([False, False, True])
        self.assertTrue(pc.wait_until(lambda: next(answers), 15))
        self.assertEqual([0.05, 0.1], self.sleeps)

    def test_zero_timeout_checks_once(self) -> None:
        self.assertFalse(pc.wait_until(lambda: False, 0))
        self.assertEqual([], self.sleeps)


class TestSettingsValidatedOnce(testtools.TestCase):
    """Every option is checked before any operation; the result is frozen."""

    def setUp(self) -> None:
        super().setUp()
        self.err = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', self.err))

    def test_typed_and_immutable(self) -> None:
        s = pc.settings_from_argv(add_argv(tx_vlan_id='7', mtu='9000'))
        assert s is not None
        self.assertEqual((7, -1, 9000), (s.tx_vlan_id, s.rx_vlan_id, s.mtu))
        self.assertRaises(AttributeError, setattr, s, 'tx_vlan_id', 8)

    def test_bad_vlan_or_mtu_refused_before_a_delete(self) -> None:
        # Checked only by --oper=add before; a delete (which touches the
        # agent and the port file) now refuses them up front as well.
        for flag, value in (('tx_vlan_id', 'x'), ('mtu', '1')):
            self.err.truncate(0)
            argv = ['--oper=delete', '--uuid=' + PORT,
                    '--%s=%s' % (flag, value), '--agent_port=1']
            self.assertEqual(1, pc.run(argv), flag)
            self.assertIn('invalid --' + flag, self.err.getvalue())
