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
"""Port rules of the agent emulator, each pinned to tf-controller lines.

``pih`` = ``src/vnsw/agent/port_ipc/port_ipc_handler.cc`` @ fbb63bcd; the
rules table is ``doc/source/reference/agent-emulator.rst``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from unittest import mock

import testtools

from vif_plug_vrouter.emulator import state as state_mod
from vif_plug_vrouter.emulator import wire
from os_vif_accel.testing import vrouter_fixtures as vfix
from vif_plug_vrouter.tests.unit.test_emulator import _port

_DATA = os.path.join(os.path.dirname(__file__), 'emulator_data')


class _StateTest(testtools.TestCase):

    def setUp(self) -> None:
        super().setUp()
        self.tmp = self.useFixture(vfix.fixtures.TempDir()).path
        self.state = state_mod.AgentState(self.tmp)
        self.addCleanup(self.state.stop)

    def call(self, method: str, path: str, doc: object = None
             ) -> tuple[int, object]:
        body = doc if isinstance(doc, bytes) else (
            b'' if doc is None else json.dumps(doc).encode())
        status, out = self.state.handle(method, path, body)
        return status, json.loads(out)

    def assertMissing(self, kind: str, member: str, path: str,
                      doc: object) -> None:
        """The agent's 500 for a bad member: kind is 'data' or 'field'."""
        self.assertEqual((500, {'error': '{ Invalid or missing %s for <%s> }'
                                         % (kind, member)}),
                         self.call('POST', path, doc))

    def restarted(self, **kw: bool) -> state_mod.AgentState:
        st = state_mod.AgentState(self.tmp, **kw)
        st.replay()
        return st


class TestErrorTexts(_StateTest):
    """pih 41, 54, 67: member names in angle brackets."""

    def test_uuid_members_say_data(self) -> None:
        doc = _port()
        del doc['instance-id']
        self.assertMissing('data', 'instance-id', '/port', doc)

    def test_string_members_say_field(self) -> None:
        self.assertMissing('field', 'display-name', '/port',
                           _port(**{'display-name': 5}))


class TestVlanSanity(_StateTest):
    """pih 50-61, 339-344; kInvalidVlanId vm_interface.h 362."""

    def test_rx_minus_one_counts_as_set(self) -> None:
        self.assertEqual(
            (500, {'error': '{ Invalid request. RX (isolated) vlan set, but '
                            'TX vlan not set }'}),
            self.call('POST', '/port', _port(**{'rx-vlan-id': -1,
                                                'tx-vlan-id': 65534})))

    def test_rx_65535_is_unset_and_tx_minus_two_passes(self) -> None:
        a = _port(**{'rx-vlan-id': 65535, 'tx-vlan-id': 65534})
        b = _port(**{'rx-vlan-id': 10, 'tx-vlan-id': -2})
        self.assertEqual((200, {}), self.call('POST', '/port', a))
        self.assertEqual((200, {}), self.call('POST', '/port', b))
        # stored as uint16_t (port_subscribe_table.cc 85)
        self.assertEqual(65534, self.state.ports[b['id']]['tx-vlan-id'])


class TestMacParsing(_StateTest):
    """src/net/mac_address.cc 77-79, pih 429-446."""

    def post_mac(self, mac: str) -> int:
        return self.call('POST', '/port', _port(**{'mac-address': mac}))[0]

    def test_blanks_before_each_octet_and_short_octets(self) -> None:
        for mac in (' fa:16:3e:00:00:01', 'fa:\t16: 3e:0:0:1',
                    'FA:16:3E:00:00:01'):
            self.assertEqual(200, self.post_mac(mac), repr(mac))

    def test_refused(self) -> None:
        for mac in ('fa:16:3e:00:00:01 ', 'fa :16:3e:00:00:01',
                    '0x:16:3e:00:00:01', 'fa:16:3e:00:00:001',
                    'fa:16:3e:00:00', '00:00:00:00:00:00', ''):
            self.assertEqual(500, self.post_mac(mac), repr(mac))

    def test_file_keeps_the_text_the_view_normalises(self) -> None:
        doc = _port(**{'mac-address': ' FA:16:3e:0:0:1'})
        self.call('POST', '/port', doc)
        with open(os.path.join(self.tmp, doc['id'])) as f:
            self.assertEqual(' FA:16:3e:0:0:1', json.load(f)['mac-address'])
        self.state.mark_config(doc['id'])
        self.assertEqual('fa:16:3e:00:00:01',
                         self.call('GET', '/port/' + doc['id'])[1][
                             'mac-address'])

    def test_signed_octet(self) -> None:
        self.assertEqual(b'\xff\x01\x00\x00\x00\x01',
                         wire.scan_mac('-1:+1:0:0:0:1'))


class TestReplay(_StateTest):
    """pih 120-178, 219-232, 311-317, 346-354."""

    def write(self, name: str, data: bytes) -> None:
        with open(os.path.join(self.tmp, name), 'wb') as f:
            f.write(data)

    def test_esxi_port_replayed_without_its_netdev(self) -> None:
        vm = _port(**{'system-name': 'tapabsent0x'})
        esxi = _port(type=2, **{'system-name': 'vmnic-absent'})
        self.call('POST', '/port', vm)
        self.call('POST', '/port', esxi)
        st = self.restarted(check_port=True)
        self.assertEqual({esxi['id']}, set(st.ports))
        self.assertEqual([(vm['id'], 'Interface does not exist in OS')],
                         st.replay_errors)

    def test_array_file_replayed_all_or_none(self) -> None:
        a, b = _port(), _port()
        self.write(str(uuid.uuid4()), json.dumps([a, b]).encode())
        self.assertEqual({a['id'], b['id']}, set(self.restarted().ports))
        bad = _port(**{'mac-address': 'x'})
        shutil.rmtree(self.tmp)
        os.makedirs(self.tmp)
        self.write(str(uuid.uuid4()), json.dumps([_port(), bad]).encode())
        st = self.restarted()
        self.assertEqual({}, st.ports)
        self.assertEqual(1, len(st.replay_errors))

    def test_array_with_missing_netdev_skipped_whole(self) -> None:
        a, b = _port(**{'system-name': 'lo'}), _port(**{
            'system-name': 'tapabsent0y'})
        self.write(str(uuid.uuid4()), json.dumps([a, b]).encode())
        self.assertEqual({}, self.restarted(check_port=True).ports)

    def test_legacy_api_files_with_null_vhostuser_mode(self) -> None:
        for name in ('legacy-api-novavmport.json',
                     'legacy-api-esxiport.json'):
            with open(os.path.join(_DATA, name), 'rb') as f:
                data = f.read()
            self.assertIn(b'"vhostuser-mode": null', data)
            self.write(json.loads(data)['id'], data)
        st = self.restarted()
        self.assertEqual([], st.replay_errors)
        self.assertEqual({'5b0c7e2a-1d3f-4a6b-9c8d-7e6f5a4b3c2d': 0,
                          '3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8': 0},
                         {u: p['vhostuser-mode']
                          for u, p in st.ports.items()})
        self.assertEqual(0, st.ports['3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8'][
            'link-state'])

    def test_nil_named_file_not_replayed(self) -> None:
        self.write(wire.NIL_UUID, json.dumps(_port()).encode())
        self.assertEqual({}, self.restarted().ports)


class TestLinkState(_StateTest):
    """pih 478-556."""

    def test_enable_answers_200_when_the_file_cannot_be_written(self) -> None:
        esxi = _port(type=2, **{'vn-id': ''})
        self.call('POST', '/port', esxi)
        with mock.patch('os_vif_accel.fileio.atomic_write',
                        side_effect=OSError(28, 'No space left')):
            self.assertEqual((200, {}),
                             self.call('PUT', '/enable-port/' + esxi['id']))
        self.assertEqual(1, self.state.ports[esxi['id']]['link-state'])
        with open(os.path.join(self.tmp, esxi['id'])) as f:
            self.assertEqual(0, json.load(f)['link-state'])

    def test_disable_rewrites_the_file(self) -> None:
        esxi = _port(type=2, **{'vn-id': '', 'link-state': 1})
        self.call('POST', '/port', esxi)
        self.assertEqual((200, {}),
                         self.call('PUT', '/disable-port/' + esxi['id']))
        with open(os.path.join(self.tmp, esxi['id'])) as f:
            self.assertEqual(0, json.load(f)['link-state'])


class TestJsonReading(_StateTest):
    """rapidjson as the agent uses it (pih 37-74, 207-212)."""

    def test_first_duplicate_key_wins(self) -> None:
        doc = _port()
        text = json.dumps(doc)[:-1] + ', "system-name": "tapLAST"}'
        self.call('POST', '/port', text.encode())
        self.assertEqual('tap1', self.state.ports[doc['id']]['system-name'])

    def test_nan_and_overflowing_numbers_are_parse_errors(self) -> None:
        for literal in ('NaN', '1e999999'):
            body = json.dumps(_port(**{'rx-vlan-id': 'X'})).replace(
                '"X"', literal).encode()
            status, out = self.call('POST', '/port', body)
            self.assertEqual(500, status, literal)
            self.assertTrue(out['error'].startswith('{ Invalid Json string'),
                            literal)
            self.assertEqual({}, self.state.ports, literal)

    def test_failed_write_adds_nothing_but_answers_200(self) -> None:
        with mock.patch('os_vif_accel.fileio.atomic_write',
                        side_effect=OSError(13, 'denied')):
            self.assertEqual((200, {}), self.call('POST', '/port', _port()))
        self.assertEqual({}, self.state.ports)

    def test_get_port_404_without_any_address(self) -> None:
        doc = _port(**{'ip-address': '', 'ip6-address': ''})
        self.call('POST', '/port', doc)
        self.state.mark_config(doc['id'])
        self.assertEqual(404, self.call('GET', '/port/' + doc['id'])[0])

    def test_get_port_vlans_only_in_vmware_mode(self) -> None:
        doc = _port(**{'rx-vlan-id': 10, 'tx-vlan-id': 20})
        self.call('POST', '/port', doc)
        self.state.mark_config(doc['id'])
        view = self.call('GET', '/port/' + doc['id'])[1]
        self.assertEqual((65535, 65535), (view['rx-vlan-id'],
                                          view['tx-vlan-id']))
        self.state.vmware_mode = True
        view = self.call('GET', '/port/' + doc['id'])[1]
        self.assertEqual((10, 20), (view['rx-vlan-id'], view['tx-vlan-id']))

    def test_strings_end_at_nul(self) -> None:
        doc = _port(**{'display-name': 'vm\u0000tail'})
        self.call('POST', '/port', doc)
        self.assertEqual('vm', self.state.ports[doc['id']]['display-name'])

    def test_file_time_is_hours_since_the_epoch(self) -> None:
        doc = _port()
        self.call('POST', '/port', doc)
        with open(os.path.join(self.tmp, doc['id'])) as f:
            stamp = json.load(f)['time']
        self.assertRegex(stamp, r'^\d{6,}:\d\d:\d\d\.\d{6}$')
