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
"""Record building: os-vif objects -> the agent's JSON, and port files."""

from __future__ import annotations

import json
import uuid

import testtools

from os_vif_accel import validate

from vif_plug_vrouter import record
from os_vif_accel.testing import vrouter_fixtures as vfix


class TestFromVif(testtools.TestCase):

    def setUp(self) -> None:
        super().setUp()
        vfix.initialize_os_vif()

    def build(self, vif: object, inst: object = None, **kw: object
              ) -> dict[str, object]:
        kw.setdefault('system_name', 'tap0')
        kw.setdefault('port_type', 0)
        return record.from_vif(vif, inst or vfix.instance(), **kw)

    def test_every_key_with_the_agents_json_type(self) -> None:
        rec = self.build(vfix.generic_vif())
        self.assertEqual(list(record.RECORD_KEYS), list(rec))
        for key, typ in record.RECORD_KEYS.items():
            self.assertIsInstance(rec[key], typ, key)
        self.assertEqual((-1, -1), (rec['rx-vlan-id'], rec['tx-vlan-id']))

    def test_ids_are_dashed_lower_case(self) -> None:
        port = str(uuid.uuid4()).upper()
        inst = vfix.instance(project_id='ABCDEF0123456789ABCDEF0123456789')
        rec = self.build(vfix.generic_vif(port_id=port), inst)
        self.assertEqual(port.lower(), rec['id'])
        self.assertEqual('abcdef01-2345-6789-abcd-ef0123456789',
                         rec['vm-project-id'])

    def test_missing_ipv6_is_empty_string_never_none(self) -> None:
        rec = self.build(vfix.generic_vif(network=vfix.network(['10.0.0.9'])))
        self.assertEqual(('10.0.0.9', ''),
                         (rec['ip-address'], rec['ip6-address']))

    def test_no_ip_at_all(self) -> None:
        rec = self.build(vfix.generic_vif(network=vfix.network()))
        self.assertEqual(('0.0.0.0', ''),
                         (rec['ip-address'], rec['ip6-address']))

    def test_first_address_of_each_family_wins(self) -> None:
        net = vfix.network(['10.0.0.7', '10.0.0.8'], ['fd00::7', 'fd00::8'])
        rec = self.build(vfix.generic_vif(network=net))
        self.assertEqual(('10.0.0.7', 'fd00::7'),
                         (rec['ip-address'], rec['ip6-address']))

    @staticmethod
    def subnets(*groups: list[str]) -> object:
        """A Network with one subnet per list of fixed IPs, in order."""
        from os_vif import objects
        return objects.network.Network(
            id=str(uuid.uuid4()),
            subnets=objects.subnet.SubnetList(objects=[
                objects.subnet.Subnet(ips=objects.fixed_ip.FixedIPList(
                    objects=[objects.fixed_ip.FixedIP(address=a)
                             for a in ips]))
                for ips in groups]))

    def test_last_subnet_of_each_family_wins(self) -> None:
        # tf-nova-vif-driver vif_plug_vrouter/vrouter.py 198-213: the
        # first IP of each subnet, a later subnet replacing an earlier one.
        net = self.subnets(['10.0.0.7', '10.0.0.8'], ['fd00::7'],
                           ['10.1.0.7', '10.1.0.8'], ['fd01::7', 'fd01::8'])
        rec = self.build(vfix.generic_vif(network=net))
        self.assertEqual(('10.1.0.7', 'fd01::7'),
                         (rec['ip-address'], rec['ip6-address']))

    def test_subnet_without_ips_or_unspecified_ip_is_skipped(self) -> None:
        net = self.subnets(['10.0.0.7'], [], ['0.0.0.0'], ['fd00::7'],
                           ['::'])
        rec = self.build(vfix.generic_vif(network=net))
        self.assertEqual(('10.0.0.7', 'fd00::7'),
                         (rec['ip-address'], rec['ip6-address']))

    def test_display_name_from_instance_info(self) -> None:
        rec = self.build(vfix.generic_vif(), vfix.instance(name='web-1'))
        self.assertEqual('web-1', rec['display-name'])

    def test_instance_without_project(self) -> None:
        from os_vif import objects
        inst = objects.instance_info.InstanceInfo(uuid=str(uuid.uuid4()),
                                                  name='x')
        self.assertEqual('', self.build(vfix.generic_vif(),
                                        inst)['vm-project-id'])

    def assertInvalid(self, field: str, vif: object, inst: object = None,
                      **kw: object) -> None:
        exc = self.assertRaises(validate.InvalidInput, self.build, vif,
                                inst, **kw)
        self.assertEqual(field, exc.field)

    def test_bad_inputs(self) -> None:
        self.assertInvalid('network', vfix.generic_vif(network=None))
        self.assertInvalid('vm-project-id', vfix.generic_vif(),
                           vfix.instance(project_id='not-a-uuid'))
        self.assertInvalid('mac-address', vfix.generic_vif(
            address='00:00:00:00:00:00'))
        for name in ('tap0123456789abcd', 'tap/0', 'tap 0', 'tap"0', '..',
                     'täp0123456789'):
            self.assertInvalid('system-name', vfix.generic_vif(),
                               system_name=name)

    def test_vn_id_must_be_uuid(self) -> None:
        net = vfix.network(['10.0.0.5'])
        net.id = 'net-1'
        self.assertInvalid('vn-id', vfix.generic_vif(network=net))


class TestMakeRecord(testtools.TestCase):

    def rec(self, **kw: object) -> dict[str, object]:
        args: dict[str, object] = dict(
            port_id=str(uuid.uuid4()), instance_id=str(uuid.uuid4()),
            vn_id=str(uuid.uuid4()), project_id='', display_name='vm',
            system_name='tap0', mac='FA:16:3E:00:00:01')
        args.update(kw)
        return record.make_record(**args)  # type: ignore[arg-type]

    def test_namespace_and_esxi_ports_may_have_no_vn(self) -> None:
        self.assertEqual('', self.rec(vn_id='', port_type=1)['vn-id'])
        self.assertRaises(validate.InvalidInput, self.rec, vn_id='')

    def test_vlan_range(self) -> None:
        self.assertEqual(4094, self.rec(rx_vlan_id=4094)['rx-vlan-id'])
        for bad in (4095, -2, '1x'):
            self.assertRaises(validate.InvalidInput, self.rec,
                              tx_vlan_id=bad)

    def test_ip_family_checked(self) -> None:
        self.assertRaises(validate.InvalidInput, self.rec,
                          ip_address='fd00::1')
        self.assertRaises(validate.InvalidInput, self.rec,
                          ip6_address='10.0.0.1')

    def test_ipv4_mapped_ipv6_has_one_text_on_every_python(self) -> None:
        # Python 3.13 alone would write "::ffff:10.0.1.14".
        for text in ('::ffff:10.0.1.14', '::FFFF:a00:10e'):
            self.assertEqual('::ffff:a00:10e',
                             self.rec(ip6_address=text)['ip6-address'])
        self.assertEqual('::ffff:0:1',
                         self.rec(ip6_address='::ffff:0.0.0.1')['ip6-address'])
        self.assertEqual('fd00::1',
                         self.rec(ip6_address='FD00:0::1')['ip6-address'])

    def test_check_record_refuses_tampering(self) -> None:
        good = self.rec()
        self.assertEqual(good, record.check_record(dict(good)))
        for bad in (dict(good, extra=1), dict(good, type='0'),
                    dict(good, id=good['id'].upper()),  # type: ignore
                    {k: v for k, v in good.items() if k != 'mac-address'},
                    dict(good, **{'system-name': '../etc'})):
            self.assertRaises(validate.InvalidInput, record.check_record, bad)


class TestPortFiles(testtools.TestCase):

    def rec(self) -> dict[str, object]:
        return record.make_record(
            port_id=str(uuid.uuid4()), instance_id=str(uuid.uuid4()),
            vn_id=str(uuid.uuid4()), project_id=uuid.uuid4().hex,
            display_name='vm "quoted" ünïcode', system_name='tap0',
            mac='fa:16:3e:00:00:01', ip_address='10.0.0.1')

    def test_round_trip_in_the_agents_layout(self) -> None:
        rec = self.rec()
        text = record.to_port_file(rec, {'vf': '0000:08:00.2'}).decode()
        doc = json.loads(text)
        self.assertEqual(list(record.RECORD_KEYS) +
                         ['os-vif-accel', 'author', 'time'], list(doc))
        self.assertEqual((65535, '::'), (doc['tx-vlan-id'],
                                         doc['ip6-address']))
        self.assertRegex(doc['time'], r'^\d+:\d\d:\d\d\.\d{6}$')
        self.assertEqual((rec, {'vf': '0000:08:00.2'}),
                         record.from_port_file(text))

    def test_agent_written_and_legacy_cli_files_parse(self) -> None:
        rec = self.rec()
        legacy = dict(rec, **{'ip6-address': 'None', 'vm-project-id':
                              rec['vm-project-id'].replace('-', ''),
                              'author': '/usr/bin/vrouter-port-control',
                              'time': '2026-01-01 00:00:00.000000'})
        self.assertEqual(rec, record.from_port_file(json.dumps(legacy))[0])

    def test_files_the_agent_would_not_replay_are_refused(self) -> None:
        rec = self.rec()
        for text in ('', '   ', '{"id": ', '[]',
                     json.dumps(dict(rec, **{'rx-vlan-id': None}))):
            self.assertRaises(validate.InvalidInput, record.from_port_file,
                              text)
