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
"""The agent emulator checked against the reference facts of the agent."""

from __future__ import annotations

import json
import os
import socket
import uuid

import testtools

from vif_plug_vrouter.emulator import state as state_mod
from os_vif_accel.testing import vrouter_fixtures as vfix


def _port(**kw: object) -> dict[str, object]:
    doc: dict[str, object] = {
        'id': str(uuid.uuid4()), 'instance-id': str(uuid.uuid4()),
        'vn-id': str(uuid.uuid4()), 'vm-project-id': str(uuid.uuid4()),
        'display-name': 'vm1', 'ip-address': '10.0.0.3',
        'ip6-address': '', 'type': 0, 'system-name': 'tap1',
        'mac-address': 'fa:16:3e:00:00:01', 'rx-vlan-id': -1,
        'tx-vlan-id': -1, 'vhostuser-mode': 0}
    doc.update(kw)
    return doc


class RawHTTP:
    """Send raw requests and read raw answers (status line, headers)."""

    def __init__(self, url: str) -> None:
        host, port = url.split('//')[1].split(':')
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.buf = b''

    def request(self, method: str, path: str, body: bytes = b''
                ) -> tuple[bytes, dict[str, str], bytes]:
        self.sock.sendall(b'%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: '
                          b'%d\r\n\r\n%s' % (method.encode(), path.encode(),
                                             len(body), body))
        while b'\r\n\r\n' not in self.buf:
            self.buf += self.sock.recv(65536)
        head, self.buf = self.buf.split(b'\r\n\r\n', 1)
        lines = head.split(b'\r\n')
        headers = dict(line.decode().split(': ', 1) for line in lines[1:])
        length = int(headers['Content-Length'])
        while len(self.buf) < length:
            self.buf += self.sock.recv(65536)
        body, self.buf = self.buf[:length], self.buf[length:]
        return lines[0], headers, body

    def close(self) -> None:
        self.sock.close()


class TestWireFormat(testtools.TestCase):

    def setUp(self) -> None:
        super().setUp()
        self.emu = self.useFixture(vfix.EmulatorFixture())
        self.http = RawHTTP(self.emu.url)
        self.addCleanup(self.http.close)

    def test_status_line_always_says_ok_and_only_two_headers(self) -> None:
        line, headers, body = self.http.request('POST', '/port', b'{bad')
        self.assertEqual(b'HTTP/1.1 500 OK', line)
        self.assertEqual({'Content-Type', 'Content-Length'}, set(headers))
        self.assertEqual('application/json; charset=UTF-8',
                         headers['Content-Type'])
        self.assertEqual({'error': '{ Invalid Json string ==> {bad }'},
                         json.loads(body))
        # keep-alive: the same connection serves the next request
        line, _, body = self.http.request('GET', '/nothing')
        self.assertEqual(b'HTTP/1.1 404 OK', line)
        self.assertEqual({'error': 'Unknown Request'}, json.loads(body))

    def test_success_body_is_empty_object(self) -> None:
        line, _, body = self.http.request('POST', '/port',
                                          json.dumps(_port()).encode())
        self.assertEqual((b'HTTP/1.1 200 OK', b'{}'), (line, body))

    def test_uuid_paths_must_be_lowercase_dashed_without_slash(self) -> None:
        port = str(uuid.uuid4())
        for path in ('/port/' + port.upper(), '/port/' + port + '/',
                     '/port/' + port.replace('-', '')):
            line, _, body = self.http.request('DELETE', path)
            self.assertEqual(b'HTTP/1.1 404 OK', line, path)
            self.assertEqual({'error': 'Unknown Request'}, json.loads(body))
        line, _, _ = self.http.request('GET', '/port')
        self.assertEqual(b'HTTP/1.1 404 OK', line)

    def test_query_string_is_ignored(self) -> None:
        line, _, _ = self.http.request('DELETE', '/port/%s?x=1' %
                                       uuid.uuid4())
        self.assertEqual(b'HTTP/1.1 200 OK', line)


class TestPortValidation(testtools.TestCase):
    """Validation order and error texts of POST /port (reference 1.5)."""

    def setUp(self) -> None:
        super().setUp()
        self.tmp = self.useFixture(vfix.fixtures.TempDir()).path
        self.state = state_mod.AgentState(self.tmp)

    def post(self, doc: object) -> tuple[int, object]:
        status, body = self.state.handle('POST', '/port',
                                         json.dumps(doc).encode())
        return status, json.loads(body)

    def assertError(self, msg: str, doc: object) -> None:
        self.assertEqual((500, {'error': '{ %s }' % msg}), self.post(doc))
        self.assertEqual({}, self.state.ports)

    def test_missing_keys_in_order(self) -> None:
        order = [('id', 'data'), ('instance-id', 'data'), ('vn-id', 'data'),
                 ('vm-project-id', 'data'), ('display-name', 'field'),
                 ('ip-address', 'field'), ('ip6-address', 'field'),
                 ('type', 'field')]
        doc = _port()
        for key, _ in order:
            del doc[key]
        for key, what in order:
            self.assertError('Invalid or missing %s for <%s>' % (what, key),
                             doc)
            doc[key] = _port()[key]

    def test_type_must_be_json_integer(self) -> None:
        for bad in (None, 1.5, '0', True, 2 ** 31):
            self.assertError('Invalid or missing field for <type>',
                             _port(type=bad))

    def test_nil_vn_rejected_for_vm_ports_only(self) -> None:
        self.assertError('Invalid VN uuid', _port(**{'vn-id': ''}))
        self.assertEqual((200, {}), self.post(_port(**{'vn-id': '',
                                                       'type': 1})))

    def test_mac_checks(self) -> None:
        for bad in ('00:00:00:00:00:00', 'fa:16:3e:00:00', 'fa-16-3e-0-0-1',
                    'zz:16:3e:00:00:01'):
            self.assertError('Invalid MAC, Use xx:xx:xx:xx:xx:xx format',
                             _port(**{'mac-address': bad}))

    def test_vlans_and_isolated_vlan_sanity(self) -> None:
        self.assertError('Invalid or missing field for <rx-vlan-id>',
                         _port(**{'rx-vlan-id': None}))
        self.assertError('Invalid or missing field for <tx-vlan-id>',
                         _port(**{'tx-vlan-id': '5'}))
        self.assertError('Invalid request. RX (isolated) vlan set, but TX '
                         'vlan not set',
                         _port(**{'rx-vlan-id': 10, 'tx-vlan-id': 65534}))

    def test_unparsable_values_are_accepted_as_nil(self) -> None:
        doc = _port(**{'vm-project-id': uuid.uuid4().hex,
                       'ip-address': 'nonsense', 'ip6-address': 'None',
                       'type': 7})
        self.assertEqual((200, {}), self.post(doc))
        port = self.state.ports[doc['id']]
        self.assertEqual(state_mod.NIL_UUID, port['vm-project-id'])
        self.assertEqual(('0.0.0.0', '::', 0),
                         (port['ip-address'], port['ip6-address'],
                          port['type']))

    def test_array_is_all_or_none_and_answers_200(self) -> None:
        good, bad = _port(), _port(**{'mac-address': 'x'})
        self.assertEqual((200, {}), self.post([good, bad]))
        self.assertEqual({}, self.state.ports)
        self.assertEqual((200, {}), self.post([good, _port()]))
        self.assertEqual(2, len(self.state.ports))

    def test_not_an_object(self) -> None:
        self.assertEqual((500, {'error': '{ Unexpected Json string ==> 5 }'}),
                         self.post(5))


class TestPortLifecycle(testtools.TestCase):

    def setUp(self) -> None:
        super().setUp()
        self.tmp = self.useFixture(vfix.fixtures.TempDir()).path
        self.state = state_mod.AgentState(self.tmp)

    def call(self, method: str, path: str, doc: object = None
             ) -> tuple[int, object]:
        body = b'' if doc is None else json.dumps(doc).encode()
        status, out = self.state.handle(method, path, body)
        return status, json.loads(out)

    def test_add_writes_agent_file_only_if_missing(self) -> None:
        doc = _port()
        path = os.path.join(self.tmp, doc['id'])
        self.call('POST', '/port', doc)
        with open(path) as f:
            written = json.load(f)
        self.assertEqual(65535, written['rx-vlan-id'])
        self.assertEqual('::', written['ip6-address'])
        self.assertEqual(state_mod.AUTHOR, written['author'])
        with open(path, 'w') as f:
            f.write('client copy')
        self.call('POST', '/port', doc)
        with open(path) as f:
            self.assertEqual('client copy', f.read())

    def test_duplicate_same_instance_keeps_old_values(self) -> None:
        doc = _port()
        self.call('POST', '/port', doc)
        self.call('POST', '/port', dict(doc, **{'system-name': 'tapNEW'}))
        self.assertEqual('tap1', self.state.ports[doc['id']]['system-name'])

    def test_duplicate_other_instance_replaces(self) -> None:
        doc = _port()
        self.call('POST', '/port', doc)
        other = dict(doc, **{'instance-id': str(uuid.uuid4()),
                             'system-name': 'tap2'})
        self.call('POST', '/port', other)
        self.assertEqual('tap2', self.state.ports[doc['id']]['system-name'])

    def test_delete_always_200_and_removes_file(self) -> None:
        doc = _port()
        self.call('POST', '/port', doc)
        self.assertEqual((200, {}), self.call('DELETE', '/port/' + doc['id']))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, doc['id'])))
        self.assertEqual((200, {}), self.call('DELETE', '/port/' + doc['id']))

    def test_get_404_until_config_present(self) -> None:
        doc = _port()
        self.call('POST', '/port', doc)
        self.assertEqual((404, {'error': '{ Not Found }'}),
                         self.call('GET', '/port/' + doc['id']))
        self.state.mark_config(doc['id'])
        status, view = self.call('GET', '/port/' + doc['id'])
        self.assertEqual(200, status)
        self.assertEqual(65535, view['rx-vlan-id'])
        self.assertEqual(24, view['plen'])
        self.assertNotIn('v6-ip-address', view)

    def test_enable_disable_only_for_esxi_ports(self) -> None:
        vm, esxi = _port(), _port(type=2, **{'vn-id': ''})
        self.call('POST', '/port', vm)
        self.call('POST', '/port', esxi)
        self.assertEqual((500, {'error': '{Incorrect Port type for %s}' %
                                vm['id']}),
                         self.call('PUT', '/enable-port/' + vm['id']))
        missing = str(uuid.uuid4())
        self.assertEqual((500, {'error': '{Port Not found %s}' % missing}),
                         self.call('PUT', '/disable-port/' + missing))
        self.assertEqual(0, self.state.ports[esxi['id']]['link-state'])
        self.assertEqual((200, {}),
                         self.call('PUT', '/enable-port/' + esxi['id']))
        with open(os.path.join(self.tmp, esxi['id'])) as f:
            self.assertEqual(1, json.load(f)['link-state'])

    def test_replay_on_restart(self) -> None:
        a, b = _port(), _port()
        self.call('POST', '/port', a)
        self.call('POST', '/port', b)
        with open(os.path.join(self.tmp, 'not-a-uuid'), 'w') as f:
            f.write('{}')
        with open(os.path.join(self.tmp, str(uuid.uuid4())), 'w') as f:
            f.write('')  # an empty file is skipped, not deleted
        restarted = state_mod.AgentState(self.tmp)
        self.assertEqual(2, restarted.replay())
        self.assertEqual({a['id'], b['id']}, set(restarted.ports))
        self.assertEqual(1, len(restarted.replay_errors))

    def test_replay_takes_any_name_starting_with_a_uuid(self) -> None:
        doc = _port()
        with open(os.path.join(self.tmp, doc['id'] + '.tmp'), 'w') as f:
            json.dump(doc, f)
        restarted = state_mod.AgentState(self.tmp)
        self.assertEqual(1, restarted.replay())

    def test_kernel_mode_replay_skips_missing_interfaces(self) -> None:
        doc = _port(**{'system-name': 'tapabsent0x'})
        self.call('POST', '/port', doc)
        restarted = state_mod.AgentState(self.tmp, check_port=True)
        self.assertEqual(0, restarted.replay())
        self.assertTrue(os.path.exists(os.path.join(self.tmp, doc['id'])))
        lo = _port(**{'system-name': 'lo'})
        self.call('POST', '/port', lo)
        restarted = state_mod.AgentState(self.tmp, check_port=True)
        self.assertEqual(1, restarted.replay())

    def test_syncports_cleans_ports_not_readded(self) -> None:
        kept, stale, ns = _port(), _port(), _port(type=1)
        for doc in (kept, stale, ns):
            self.call('POST', '/port', doc)
        self.state.stale_timeout = 3600
        self.assertEqual((200, {}), self.call('POST', '/syncports'))
        self.call('POST', '/port', kept)
        self.assertEqual([stale['id']], self.state.clean_stale())
        self.assertEqual({kept['id'], ns['id']}, set(self.state.ports))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, stale['id'])))
        self.state.stop()


class TestControlApi(testtools.TestCase):
    """The emulator-only ``/_emulator/`` calls (``--control``)."""

    def test_config_body_marks_a_cni_vmi(self) -> None:
        emu = self.useFixture(vfix.EmulatorFixture(control=True))
        http = RawHTTP(emu.url)
        self.addCleanup(http.close)
        vm, vmi = str(uuid.uuid4()), str(uuid.uuid4())
        cfg = {'vm_uuid': vm, 'vn_uuid': str(uuid.uuid4()), 'ip': '10.2.0.3',
               'vm_name': 'pod9', 'vn_name': 'pod-net'}
        line, _, _ = http.request('POST', '/_emulator/config/' + vmi,
                                  json.dumps(cfg).encode())
        self.assertEqual(b'HTTP/1.1 200 OK', line)
        line, _, body = http.request('GET', '/vm-cfg/pod9')
        self.assertEqual(b'HTTP/1.1 200 OK', line)
        self.assertEqual([vmi], [d['id'] for d in json.loads(body)])
        line, _, body = http.request('POST', '/_emulator/config/' + vmi,
                                     b'{"nonsense": 1}')
        self.assertEqual(b'HTTP/1.1 400 OK', line)
