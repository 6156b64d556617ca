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
"""``/syncports``, vm-vn subscriptions, ``/vm-cfg`` and ``/gateway``.

``pih`` = ``port_ipc_handler.cc``, ``pst`` = ``port_subscribe_table.cc``,
``csc`` = ``config_stale_cleaner.cc`` (tf-controller @ fbb63bcd).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from unittest import mock

from vif_plug_vrouter.emulator import wire
from vif_plug_vrouter.tests.unit.test_emulator import _port
from vif_plug_vrouter.tests.unit.test_emulator_rules import _StateTest


def _vm(**kw: str) -> dict[str, str]:
    doc = {'vm-uuid': str(uuid.uuid4()), 'host-ifname': 'veth1',
           'vm-name': 'pod1', 'vmi-uuid': str(uuid.uuid4()),
           'vn-uuid': str(uuid.uuid4())}
    doc.update(kw)
    return doc


class _VmTest(_StateTest):

    def add_vm(self, doc: dict[str, str], config: bool = True,
               **cfg: object) -> None:
        """POST /vm and let the "control node" send the VMI's config."""
        self.assertEqual((200, {}), self.call('POST', '/vm', doc))
        if config:
            self.state.mark_config(doc['vmi-uuid'], vm_uuid=doc['vm-uuid'],
                                   vn_uuid=doc['vn-uuid'],
                                   vm_name=doc['vm-name'],
                                   mac='02:00:00:00:00:01',
                                   ip='10.1.0.4', **cfg)


class TestSyncPorts(_VmTest):

    def test_each_call_arms_its_own_timer(self) -> None:
        """csc 25-43: a later sync neither cancels an earlier timer nor
        lends it its version.
        """
        kept, dropped = _port(), _port()
        self.call('POST', '/port', kept)
        self.call('POST', '/port', dropped)
        self.state.stale_timeout = 0.2
        self.call('POST', '/syncports')          # version 1, fires soon
        self.call('POST', '/port', kept)         # stamped with version 1
        self.state.stale_timeout = 3600
        self.call('POST', '/syncports')          # version 2, fires late
        deadline = time.monotonic() + 10
        while dropped['id'] in self.state.ports and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        # the first timer cleaned with version 1: kept (1) is not older
        self.assertEqual({kept['id']}, set(self.state.ports))

    def test_versions_are_uint16_in_entries(self) -> None:
        """port_subscribe_table.h 64: after 65536 syncs an entry added
        just now looks older than the sync.
        """
        doc = _port()
        self.state.version = 65536
        self.call('POST', '/port', doc)
        self.assertEqual([doc['id']], self.state.clean_stale(65536))

    def test_stale_vm_vn_drops_every_entry_of_its_vm(self) -> None:
        """pst 528-543, pih 989-1027: a stale entry deletes its VM's
        entries, the re-added one too; the files stay.
        """
        vm = str(uuid.uuid4())
        stale, fresh = _vm(**{'vm-uuid': vm}), _vm(**{'vm-uuid': vm})
        other = _vm(**{'vm-name': 'pod2'})
        for doc in (stale, fresh, other):
            self.add_vm(doc)
        self.state.version += 1              # a sync
        self.call('POST', '/vm', fresh)      # re-added
        self.call('POST', '/vm', other)
        self.state.clean_stale()
        self.assertEqual({(other['vm-uuid'], other['vn-uuid'],
                           other['vmi-uuid'])}, set(self.state.vm_ports))
        for doc in (stale, fresh):
            self.assertTrue(os.path.exists(os.path.join(
                self.tmp, 'vm', 'pod1', doc['vmi-uuid'])))

    def test_host_wide_sync_drops_vm_vn_not_readded(self) -> None:
        doc = _vm()
        self.add_vm(doc)
        self.state.version += 1
        self.state.clean_stale()
        self.assertEqual({}, self.state.vm_ports)
        # ... and they come back from their files at the next start
        self.assertEqual(1, len(self.restarted().vm_ports))

    def test_stale_vm_vn_without_config_stays(self) -> None:
        """pih 996-997: VmVnToVmiSet is empty without the VMI config."""
        self.add_vm(_vm(), config=False)
        self.state.version += 1
        self.state.clean_stale()
        self.assertEqual(1, len(self.state.vm_ports))


class TestPostVm(_VmTest):
    """pih 812-918, 950-987."""

    def test_wrong_typed_optional_members_ignored(self) -> None:
        doc = _vm(**{'vm-id': 5, 'vm-ifname': None, 'vm-namespace': []})
        self.assertEqual((200, {}), self.call('POST', '/vm', doc))
        (entry,) = self.state.vm_ports.values()
        self.assertEqual(('', '', ''), (entry['vm-id'], entry['vm-ifname'],
                                        entry['vm-namespace']))

    def test_vn_checked_before_vmi(self) -> None:
        doc = _vm()
        del doc['vn-uuid'], doc['vmi-uuid']
        self.assertMissing('data', 'vn-uuid', '/vm', doc)

    def test_order_and_texts(self) -> None:
        self.assertMissing('field', 'host-ifname', '/vm', {'vm-uuid': 'x'})
        self.assertEqual((500, {'error': '{ Unexpected Json string ==> '
                                         '[] }'}),
                         self.call('POST', '/vm', []))

    def test_file_under_vm_name_in_agent_layout(self) -> None:
        doc = _vm(**{'vm-uuid': str(uuid.uuid4()).upper(), 'vmi-uuid': ''})
        self.call('POST', '/vm', doc)
        path = os.path.join(self.tmp, 'vm', 'pod1', wire.NIL_UUID)
        with open(path) as f:
            written = json.load(f)
        self.assertEqual(['vm-uuid', 'vn-uuid', 'vmi-uuid', 'vm-id',
                          'vm-name', 'host-ifname', 'vm-ifname',
                          'vm-namespace', 'author', 'time'], list(written))
        self.assertEqual(doc['vm-uuid'].lower(), written['vm-uuid'])
        # a nil-named file is not replayed (IsUUID, pih 134-137)
        self.assertEqual({}, self.restarted().vm_ports)

    def test_kernel_mode_replay_checks_the_host_interface(self) -> None:
        """pih 878-884 with the replay's check_port (pih 143-159)."""
        self.call('POST', '/vm', _vm(**{'host-ifname': 'vethabsent0'}))
        self.call('POST', '/vm', _vm(**{'host-ifname': 'lo',
                                        'vm-name': 'pod2'}))
        st = self.restarted(check_port=True)
        self.assertEqual(['lo'], [e['host-ifname']
                                  for e in st.vm_ports.values()])
        self.assertEqual(['Interface does not exist in OS'],
                         [msg for _, msg in st.replay_errors])

    def test_failed_write_adds_nothing_but_answers_200(self) -> None:
        with mock.patch('os_vif_accel.fileio.atomic_write',
                        side_effect=OSError(13, 'denied')):
            self.assertEqual((200, {}), self.call('POST', '/vm', _vm()))
        self.assertEqual({}, self.state.vm_ports)

    def test_delete_keeps_files_written_under_the_name(self) -> None:
        doc = _vm()
        self.add_vm(doc)
        self.assertEqual((200, {}),
                         self.call('DELETE', '/vm/' + doc['vm-uuid']))
        self.assertEqual({}, self.state.vm_ports)
        self.assertTrue(os.path.exists(os.path.join(
            self.tmp, 'vm', 'pod1', doc['vmi-uuid'])))

    def test_delete_uses_the_config_vn_not_the_posted_one(self) -> None:
        """pih 1004-1014: the key is rebuilt from the config's VN, so an
        entry posted with vn-uuid "" (any VN) is never deleted.
        """
        doc = _vm(**{'vn-uuid': ''})
        self.add_vm(doc, config=False)
        self.state.mark_config(doc['vmi-uuid'], vm_uuid=doc['vm-uuid'],
                               vn_uuid=str(uuid.uuid4()))
        self.call('DELETE', '/vm/' + doc['vm-uuid'])
        self.assertEqual(1, len(self.state.vm_ports))

    def test_nil_uuids_touch_nothing(self) -> None:
        """pih 449-455, 1044-1047, 1143-1146."""
        nil_port = _port(**{'id': wire.NIL_UUID})
        self.call('POST', '/port', nil_port)
        self.assertEqual((200, {}), self.call('DELETE', '/port/' +
                                              wire.NIL_UUID))
        self.assertIn(wire.NIL_UUID, self.state.ports)
        self.assertTrue(os.path.exists(os.path.join(self.tmp,
                                                    wire.NIL_UUID)))
        self.assertEqual(404, self.call('GET', '/vm/' + wire.NIL_UUID)[0])

    def test_get_vm_is_the_operational_view(self) -> None:
        doc = _vm()
        self.add_vm(doc)
        status, body = self.call('GET', '/vm/' + doc['vm-uuid'])
        self.assertEqual(200, status)
        self.assertEqual([(doc['vmi-uuid'], 'veth1', '10.1.0.4')],
                         [(v['id'], v['system-name'], v['ip-address'])
                          for v in body])
        self.assertEqual(404, self.call('GET', '/vm/%s/%s' % (
            doc['vm-uuid'], uuid.uuid4()))[0])


class TestVmCfg(_VmTest):
    """pih 1053-1139, rest_server.cc 293."""

    def test_shape(self) -> None:
        doc = _vm(**{'vm-name': 'ns/pod 1'})
        self.add_vm(doc, vn_name='default-domain:k8s:pod-net', vlan_tag=7,
                    annotations=[('index', '0/1')])
        status, body = self.call('GET', '/vm-cfg/ns/pod 1')
        self.assertEqual(200, status)
        self.assertEqual([{'id': doc['vmi-uuid'], 'vm-uuid': doc['vm-uuid'],
                           'vn-id': doc['vn-uuid'],
                           'vn-name': 'default-domain:k8s:pod-net',
                           'mac-address': '02:00:00:00:00:01',
                           'sub-interface': False, 'vlan-id': 7,
                           'annotations': ['{index:0/1}']}], body)

    def test_sub_interface_reflects_the_previous_config(self) -> None:
        """pst 393-394 reads the parent before copying the new one."""
        doc = _vm()
        parent = str(uuid.uuid4())
        self.add_vm(doc, vn_name='vn', parent_vmi=parent)
        view = self.call('GET', '/vm-cfg/pod1')[1]
        self.assertFalse(view[0]['sub-interface'])
        self.add_vm(doc, vn_name='vn', parent_vmi=parent)
        self.assertTrue(self.call('GET', '/vm-cfg/pod1')[1][0][
            'sub-interface'])

    def test_404_without_vm_or_vn(self) -> None:
        doc = _vm()
        self.add_vm(doc)                      # no VN name known
        self.assertEqual((404, {'error': '{ Not Found }'}),
                         self.call('GET', '/vm-cfg/pod1'))
        self.assertEqual(404, self.call('GET', '/vm-cfg/')[0])


class TestGateway(_StateTest):
    """pih 642-807, rest_server.cc 117-144."""

    GW = {'interface': 'vgw', 'routing-instance': 'default:public:public',
          'subnets': [{'ip-address': '10.9.0.0', 'prefix-len': 24}],
          'routes': []}

    def test_add_and_delete(self) -> None:
        self.assertEqual((200, {}), self.call('POST', '/gateway', [self.GW]))
        self.assertEqual({'vgw'}, set(self.state.gateways))
        self.assertEqual((200, {}), self.call('DELETE', '/gateway',
                                              [{'interface': 'vgw'}]))
        self.assertEqual({}, self.state.gateways)

    def test_required_members(self) -> None:
        for drop, member in (('routing-instance', 'routing-instance'),
                             ('routes', 'routes')):
            gw = {k: v for k, v in self.GW.items() if k != drop}
            body = json.dumps([gw])
            self.assertEqual(
                (500, {'error': '{ Json string does not have all required '
                                'members, %s is missing ==> %s }' %
                                (member, body)}),
                self.call('POST', '/gateway', body.encode()))
        bad = dict(self.GW, subnets=[{'ip-address': '10.9.0.0',
                                      'prefix-len': '24'}])
        self.assertIn('subnets value is missing',
                      self.call('POST', '/gateway', [bad])[1]['error'])
        self.assertEqual({}, self.state.gateways)

    def test_not_an_array_and_lost_delete_message(self) -> None:
        self.assertEqual(
            (500, {'error': '{ Unexpected Json string (not an array) ==> '
                            '{"x": 1} }'}),
            self.call('POST', '/gateway', {'x': 1}))
        self.assertEqual((500, {'error': '{}'}),
                         self.call('DELETE', '/gateway', {'x': 1}))
