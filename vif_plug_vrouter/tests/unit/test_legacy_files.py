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
"""Port files of the real legacy CLI read as the agent reads them."""

from __future__ import annotations

import json
import os
import threading
import types
from typing import Any
from unittest import mock

import fixtures
import testtools

from os_vif_accel import validate

from vif_plug_vrouter.cmd import port_audit
from vif_plug_vrouter import port_scan
from vif_plug_vrouter import record

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'data',
                    'legacy_port_files')
REFUSED = 'direct-no-vlans-refused.json'


def legacy(name: str) -> str:
    with open(os.path.join(DATA, name), encoding='utf-8') as f:
        return f.read()


def legacy_names() -> list[str]:
    return sorted(n for n in os.listdir(DATA)
                  if n.endswith('.json') and n != 'commands.json')


class TestRecordedFiles(testtools.TestCase):

    #: file -> (ip6-address, vhostuser-mode, link-state) as the agent reads;
    #: the cases both writers (contrail_vrouter_api and the script's direct
    #: path) were recorded with read alike
    EXPECTED = {
        **{'%s-%s.json' % (writer, case): want
           for writer in ('api', 'direct')
           for case, want in (('esxi', ('', 0, None)),
                              ('esxi-enabled', ('', 0, 1)),
                              ('esxi-disabled', ('', 0, None)),
                              ('kernel-ipv4', ('', 0, None)))},
        'api-dpdk-userspace-vhost.json': ('fd00::b3', 0, None),
        'api-kernel-ipv6-uncompressed.json': ('2001:db8::1:0:0:b2', 0, None),
        'api-namespace.json': ('::ffff:a00:10e', 0, None),
        'direct-dpdk-client.json': ('2001:db8::a4', 0, None),
        'direct-dpdk-server.json': ('2001:db8::a3', 1, None),
        'direct-kernel-ipv6-full-upper.json': ('2001:db8::a2', 0, None),
        'direct-namespace.json': ('64:ff9b::c000:205', 0, None),
    }

    def test_every_recorded_file_is_known(self) -> None:
        self.assertEqual(sorted(self.EXPECTED) + [REFUSED],
                         sorted(legacy_names()))

    def test_commands_json_names_what_wrote_each_file(self) -> None:
        with open(os.path.join(DATA, 'commands.json')) as f:
            cmds = json.load(f)
        self.assertEqual(legacy_names(), sorted(cmds))
        for name, case in cmds.items():
            out = case['stdout'].splitlines()
            if case['agent'] == 'down':
                # enable/disable rewrote the file an earlier add wrote
                self.assertRegex(case['preceded_by'][0],
                                 r'--oper=add |\.add_port\(', name)
                continue
            # what the script POSTed is exactly the file it wrote
            sent = [ln[len('Request : '):] for ln in out
                    if ln.startswith('Request : ')]
            self.assertEqual([legacy(name)], sent, name)
            for line in out:
                if line.startswith('Request failed: '):
                    # the answer of the agent, texts per pih 37-74
                    error = json.loads(line[len('Request failed: '):])
                    self.assertRegex(error['error'],
                                     r'^\{ Invalid or missing (field|data) '
                                     r'for <[a-z0-9-]+> \}$', name)

    def test_files_the_agent_replays_are_readable(self) -> None:
        for name, (ip6, mode, link) in self.EXPECTED.items():
            rec, extra = record.from_port_file(legacy(name))
            self.assertEqual((ip6, mode, link),
                             (rec['ip6-address'], rec['vhostuser-mode'],
                              rec.get('link-state')), name)
            self.assertEqual({}, extra)

    def test_contrail_vrouter_api_files_carry_null_mode(self) -> None:
        raw = json.loads(legacy('api-kernel-ipv4.json'))
        self.assertIsNone(raw['vhostuser-mode'])
        rec, _ = record.from_port_file(legacy('api-kernel-ipv4.json'))
        self.assertEqual('web server 1', rec['display-name'])
        self.assertEqual('6b1c3f2a-9d4e-4f50-8a7b-2c1d0e9f8a7b',
                         rec['vm-project-id'])

    def test_file_the_agent_refuses_is_refused(self) -> None:
        exc = self.assertRaises(validate.InvalidInput,
                                record.from_port_file, legacy(REFUSED))
        self.assertEqual('display-name', exc.field)


class TestParsedAsTheAgentParses(testtools.TestCase):
    """Document::Parse<0>(c_str()) (pih 162-177, 208) for files too."""

    def test_first_of_duplicate_keys_wins(self) -> None:
        text = legacy('direct-kernel-ipv4.json').rstrip()
        dup = text[:-1] + ', "system-name": "tapLAST"}'
        self.assertEqual(record.from_port_file(text)[0]['system-name'],
                         record.from_port_file(dup)[0]['system-name'])

    def test_nan_anywhere_is_refused(self) -> None:
        text = legacy('direct-kernel-ipv4.json').rstrip()
        self.assertRaises(validate.InvalidInput, record.from_port_file,
                          text[:-1] + ', "ignored": NaN}')

    def test_text_ends_at_nul(self) -> None:
        text = legacy('direct-kernel-ipv4.json')
        self.assertEqual(record.from_port_file(text),
                         record.from_port_file(text + '\x00junk'))


class TestAgentIp(testtools.TestCase):
    """inet_pton, as Boost.Asio's from_string uses it; failure = unset."""

    def test_forms(self) -> None:
        cases = [
            ('2001:0DB8:0000:0000:0000:0000:0000:00A2', 6, '2001:db8::a2'),
            ('64:ff9b::192.0.2.5', 6, '64:ff9b::c000:205'),
            ('fe80::1%eth0', 6, 'fe80::1'),
            ('None', 6, None), ('', 6, None), ('::', 6, None),
            ('2001:db8::g', 6, None), ('10.0.0.1', 6, None),
            ('10.0.0.1', 4, '10.0.0.1'), ('0.0.0.0', 4, None),
            ('010.0.0.1', 4, None), (' 10.0.0.1', 4, None),
            ('2001:db8::1', 4, None),
        ]
        for text, version, want in cases:
            self.assertEqual(want, record.agent_ip(text, version), text)

    def test_unparsable_strings_read_as_unset_like_the_agent(self) -> None:
        doc = json.loads(legacy('direct-kernel-ipv4.json'))
        doc.update({'ip-address': 'nonsense', 'ip6-address': 'nonsense'})
        rec, _ = record.from_port_file(json.dumps(doc))
        self.assertEqual(('0.0.0.0', ''),
                         (rec['ip-address'], rec['ip6-address']))

    def test_non_string_addresses_stay_refused(self) -> None:
        doc = json.loads(legacy('direct-kernel-ipv4.json'))
        for key in ('ip-address', 'ip6-address'):
            bad = dict(doc, **{key: None})
            exc = self.assertRaises(validate.InvalidInput,
                                    record.from_port_file, json.dumps(bad))
            self.assertEqual(key, exc.field)

    def test_optional_fields_of_other_types_use_the_default(self) -> None:
        doc = json.loads(legacy('direct-esxi.json'))
        for value in (None, True, '1', 1.5):
            rec, _ = record.from_port_file(json.dumps(dict(
                doc, **{'vhostuser-mode': value, 'link-state': value})))
            self.assertEqual(0, rec['vhostuser-mode'])
            self.assertNotIn('link-state', rec)


class TestScan(testtools.TestCase):

    def setUp(self) -> None:
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path

    def put(self, name: str, text: str, sub: str = '') -> str:
        directory = os.path.join(self.dir, sub)
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, name)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        return path

    def test_names_the_agent_replays(self) -> None:
        uid = 'a1000000-0000-4000-8000-000000000001'
        for name in (uid, uid.upper(), '  ' + uid, uid + '.bak'):
            self.assertEqual(uid, port_scan.agent_uuid(name), name)
        for name in ('.tmp-' + uid, uid.replace('-', ''), '{%s}' % uid,
                     '\x1c' + uid, '\xa0' + uid,
                     '00000000-0000-0000-0000-000000000000', 'vm'):
            self.assertIsNone(port_scan.agent_uuid(name), name)

    def test_special_files_are_skipped_like_the_agent_does(self) -> None:
        # The agent replays regular files only (pih 131-133); opening a
        # FIFO named like a port would block the scan for good.
        os.mkfifo(os.path.join(self.dir,
                               'd4000000-0000-4000-8000-000000000001'))
        good = json.loads(legacy('api-kernel-ipv4.json'))
        self.put(good['id'], json.dumps(good))
        found: list[Any] = []
        scan = threading.Thread(target=lambda: found.extend(
            port_scan.scan_ports(self.dir)), daemon=True)
        scan.start()
        scan.join(10)
        if scan.is_alive():
            # unblock the scan so the worker can exit
            os.close(os.open(os.path.join(
                self.dir, 'd4000000-0000-4000-8000-000000000001'),
                os.O_WRONLY | os.O_NONBLOCK))
            self.fail('the scan blocked on a FIFO')
        self.assertEqual([(good['id'], None)],
                         [(f.name_id, f.error) for f in found])

    def test_sync_rescan_drops_a_file_removed_while_listed(self) -> None:
        # Read once the audit started (port_audit._rescan): a file listed
        # but gone before it was read was unplugged meanwhile; re-adding
        # its first reading would bring the port back.
        rec, _ = record.from_port_file(legacy('api-kernel-ipv4.json'))
        path = os.path.join(self.dir, rec['id'])
        first = [port_scan.PortFile(path, rec['id'], [(rec, {})], None)]
        again = [port_scan.PortFile(path, rec['id'], [],
                                    'removed while listed')]
        with mock.patch.object(port_scan, 'scan_ports',
                               return_value=again):
            files, vm_vn = port_audit._rescan(
                types.SimpleNamespace(ports_dir=self.dir), first, [])
        self.assertEqual(([], []), (files, vm_vn))

    def test_array_files_and_broken_files(self) -> None:
        one = json.loads(legacy('api-kernel-ipv4.json'))
        two = json.loads(legacy('direct-dpdk-server.json'))
        self.put(one['id'] + '.bak', json.dumps([one, two]))
        self.put(two['id'], '')
        bad = self.put('b2000000-0000-4000-8000-0000000000ff',
                       json.dumps([one, {'id': 'x'}]))
        os.symlink('/etc/hostname', os.path.join(
            self.dir, 'c3000000-0000-4000-8000-000000000001'))
        found = {f.path: f for f in port_scan.scan_ports(self.dir)}
        self.assertEqual(4, len(found))
        arr = found[os.path.join(self.dir, one['id'] + '.bak')]
        self.assertIsNone(arr.error)
        self.assertEqual([one['id'], two['id']],
                         [rec['id'] for rec, _ in arr.ports])
        self.assertIn('empty', found[os.path.join(self.dir, two['id'])].error)
        self.assertEqual([], found[bad].ports)
        self.assertIsNotNone(found[bad].error)
        self.assertIn('symbolic link', found[os.path.join(
            self.dir, 'c3000000-0000-4000-8000-000000000001')].error)

    def test_vm_vn_files(self) -> None:
        body = {'vm-uuid': '5c7e9a10-3b2d-4c6e-8f1a-2b3c4d5e6f70',
                'host-ifname': 'veth1', 'vm-name': 'pod-1',
                'vn-uuid': '', 'vmi-uuid':
                'd4000000-0000-4000-8000-000000000001',
                'vm-id': 7, 'vm-namespace': 'ns', 'author': 'x'}
        self.put(body['vmi-uuid'], json.dumps(body), 'vm/pod-1')
        self.put('d4000000-0000-4000-8000-000000000002',
                 json.dumps(dict(body, **{'vn-uuid': None})), 'vm/pod-1')
        self.put('not-a-uuid', '{}', 'vm/pod-1')
        files = port_scan.scan_vm_vn(self.dir)
        self.assertEqual(2, len(files))
        good, broken = files
        self.assertEqual({'vm-uuid', 'host-ifname', 'vm-name', 'vn-uuid',
                          'vmi-uuid', 'vm-namespace'}, set(good.body))
        self.assertIsNone(broken.body)
        self.assertIn('vn-uuid', broken.error)


class TestDriftForms(testtools.TestCase):

    def test_agent_inet_ntop_form_is_not_drift(self) -> None:
        rec, _ = record.from_port_file(legacy('api-namespace.json'))
        agent = {'v6-ip-address': '::ffff:10.0.1.14',
                 'ip-address': '10.0.1.14'}
        self.assertEqual([], port_audit.drift(rec, agent))
        agent['v6-ip-address'] = '::ffff:10.0.1.15'
        self.assertEqual(1, len(port_audit.drift(rec, agent)))
