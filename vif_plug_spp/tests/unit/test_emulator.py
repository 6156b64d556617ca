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
"""The emulator against the spp-ctl / spp_vf 18.08 facts (reference §3)."""

import http.client
import json
import threading
import time

import testtools

from vif_plug_spp.emulator import server
from vif_plug_spp.emulator import state


class EmulatorCase(testtools.TestCase):
    classifier_type = state.CLASSIFIER_1808

    def setUp(self):
        super().setUp()
        self.emu = server.SppCtlEmulator(
            classifier_type=self.classifier_type)
        # spp_vf 1: master lcore 1, workers 2..7; 2 NICs, 8 rings.
        self.emu.state.add_vf(1, 0xfe, 2, 8)
        self.emu.start()
        self.addCleanup(self.emu.stop)

    def call(self, method, path, body=None, raw=None):
        conn = http.client.HTTPConnection('127.0.0.1', self.emu.port,
                                          timeout=5)
        data = raw if raw is not None else (
            json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data,
                     headers={'Content-Type': 'application/json'})
        resp = conn.getresponse()
        out = resp.status, resp.getheader('Content-Type'), resp.read()
        conn.close()
        return out

    def ok(self, method, path, body=None):
        status, _ctype, text = self.call(method, path, body)
        self.assertEqual(204, status, text)
        self.assertEqual(b'', text)

    def err(self, status, text, method, path, body=None, raw=None):
        got, ctype, body_text = self.call(method, path, body, raw)
        self.assertEqual((status, text), (got, body_text.decode()))
        self.assertEqual('text/plain', ctype)

    def comp(self, name, core, ctype='forward'):
        self.ok('POST', '/v1/vfs/1/components',
                {'name': name, 'core': core, 'type': ctype})

    def attach(self, name, port, direction, vlan=None):
        body = {'action': 'attach', 'port': port, 'dir': direction}
        if vlan:
            body['vlan'] = vlan
        return self.call('PUT', '/v1/vfs/1/components/%s/ports' % name, body)

    def status(self):
        status, ctype, body = self.call('GET', '/v1/vfs/1')
        self.assertEqual((200, 'application/json'), (status, ctype))
        return json.loads(body)


class TestStatusAndRouting(EmulatorCase):

    def test_fresh_status_lists_unuse_cores_and_phys(self):
        st = self.status()
        self.assertEqual(1, st['client-id'])
        self.assertEqual(['phy:0', 'phy:1'], st['ports'])
        self.assertEqual([{'core': c, 'type': 'unuse'} for c in range(2, 8)],
                         st['components'])
        self.assertEqual([], st['classifier_table'])

    def test_processes(self):
        status, _c, body = self.call('GET', '/v1/processes')
        self.assertEqual(200, status)
        self.assertEqual([{'type': 'primary'}, {'type': 'vf',
                                                'client-id': 1}],
                         json.loads(body))

    def test_unknown_sec_id(self):
        self.err(404, 'sec_id 9 not found.', 'GET', '/v1/vfs/9')

    def test_unknown_route(self):
        self.err(404, "Not found: '/v1/vfs/1/bogus'", 'GET',
                 '/v1/vfs/1/bogus')

    def test_missing_key(self):
        self.err(400, 'key(core) required.', 'POST', '/v1/vfs/1/components',
                 {'name': 'f', 'type': 'forward'})

    def test_non_json_body_is_500(self):
        self.err(500, 'Internal Server Error', 'POST',
                 '/v1/vfs/1/components', raw=b'name=f')

    def test_ports_order_and_ring_kept_after_detach(self):
        self.comp('m', 2, 'merge')
        self.attach('m', 'ring:3', 'rx')
        self.attach('m', 'vhost:1', 'tx')
        self.ok('PUT', '/v1/vfs/1/components/m/ports',
                {'action': 'detach', 'port': 'ring:3', 'dir': 'rx'})
        self.assertEqual(['phy:0', 'phy:1', 'vhost:1', 'ring:3'],
                         self.status()['ports'])


class TestComponents(EmulatorCase):

    def test_start_and_status_shape(self):
        self.comp('fwd', 3)
        self.attach('fwd', 'ring:0', 'rx')
        st = self.status()
        self.assertIn({'core': 3, 'name': 'fwd', 'type': 'forward',
                       'rx_port': [{'port': 'ring:0', 'vlan': {
                           'operation': 'none', 'id': 0, 'pcp': 0}}],
                       'tx_port': []}, st['components'])
        self.assertIn({'core': 2, 'type': 'unuse'}, st['components'])

    def test_duplicate_name(self):
        self.comp('a', 2)
        self.err(400, 'command error: bad value(component name)', 'POST',
                 '/v1/vfs/1/components',
                 {'name': 'a', 'core': 3, 'type': 'forward'})

    def test_core_outside_mask_refused(self):
        self.err(400, 'command error: error occur', 'POST',
                 '/v1/vfs/1/components',
                 {'name': 'a', 'core': 9, 'type': 'forward'})

    def test_same_type_may_share_core(self):
        self.comp('a', 2)
        self.comp('b', 2)
        names = [c.get('name') for c in self.status()['components']
                 if c['core'] == 2]
        self.assertEqual(['a', 'b'], names)

    def test_different_type_may_not_share_core(self):
        # Corrections 10: spp_vf command_dec.c 436-443.
        self.comp('a', 2)
        self.err(400, 'command error: bad value(component type)', 'POST',
                 '/v1/vfs/1/components',
                 {'name': 'b', 'core': 2, 'type': 'merge'})

    def test_invalid_values_are_500(self):
        for body in ({'name': 'a', 'core': 'two', 'type': 'forward'},
                     {'name': 'a', 'core': 2, 'type': 'classifier'},
                     {'name': 'a', 'core': 2, 'type': 'bogus'}):
            self.err(500, 'Internal Server Error', 'POST',
                     '/v1/vfs/1/components', body)

    def test_stop_unknown_succeeds(self):
        self.ok('DELETE', '/v1/vfs/1/components/nothing')

    def test_stop_frees_core(self):
        self.comp('a', 2)
        self.ok('DELETE', '/v1/vfs/1/components/a')
        self.assertIn({'core': 2, 'type': 'unuse'},
                      self.status()['components'])


class TestPorts(EmulatorCase):

    def setUp(self):
        super().setUp()
        self.comp('fwd', 2)
        self.comp('fwd2', 3)
        self.comp('cls', 4, 'classifier_mac')
        self.comp('mrg', 5, 'merge')

    def test_unknown_component(self):
        status, _c, body = self.attach('nope', 'ring:0', 'rx')
        self.assertEqual((400, b'command error: bad value(component name)'),
                         (status, body))

    def test_same_port_same_direction_refused_anywhere(self):
        # Corrections 1/10: command_dec.c 522-531 (used in this
        # direction) and 486-499 (used in both directions).
        self.assertEqual(204, self.attach('fwd', 'ring:0', 'rx')[0])
        self.assertEqual((400, b'command error: bad value(port rxtx)'),
                         self.attach('fwd2', 'ring:0', 'rx')[::2])
        # Even on the same component: hence detach before re-attach.
        self.assertEqual((400, b'command error: bad value(port rxtx)'),
                         self.attach('fwd', 'ring:0', 'rx')[::2])
        # Other direction is fine.
        self.assertEqual(204, self.attach('fwd2', 'ring:0', 'tx')[0])
        self.assertEqual((400, b'command error: bad value(port)'),
                         self.attach('mrg', 'ring:0', 'rx')[::2])

    def test_add_vlantag_overrides_and_updates(self):
        # Corrections 1: command_proc.c 366-380 updates an existing
        # add_vlantag only.
        self.assertEqual(204, self.attach(
            'mrg', 'ring:1', 'rx', {'operation': 'add', 'id': 7, 'pcp': 1})[0])
        self.assertEqual(204, self.attach(
            'mrg', 'ring:1', 'rx',
            {'operation': 'add', 'id': 100, 'pcp': 0})[0])
        mrg = [c for c in self.status()['components']
               if c.get('name') == 'mrg'][0]
        self.assertEqual([{'port': 'ring:1', 'vlan': {
            'operation': 'add', 'id': 100, 'pcp': 0}}], mrg['rx_port'])

    def test_detach_not_attached_succeeds_and_clears_vlan(self):
        self.ok('PUT', '/v1/vfs/1/components/fwd/ports',
                {'action': 'detach', 'port': 'ring:5', 'dir': 'rx'})
        self.attach('cls', 'ring:0', 'tx', {'operation': 'del'})
        self.ok('PUT', '/v1/vfs/1/components/cls/ports',
                {'action': 'detach', 'port': 'ring:0', 'dir': 'tx'})
        self.attach('cls', 'ring:0', 'tx')
        cls = [c for c in self.status()['components']
               if c.get('name') == 'cls'][0]
        self.assertEqual('none', cls['tx_port'][0]['vlan']['operation'])

    def detach(self, name, port, direction):
        return self.call('PUT', '/v1/vfs/1/components/%s/ports' % name,
                         {'action': 'detach', 'port': port,
                          'dir': direction})

    def test_port_limits_at_flush(self):
        # spp_forward.c 63-78: merge takes many rx, one tx; the refused
        # change stays recorded until detached (Corrections 2).
        self.assertEqual(204, self.attach('mrg', 'ring:2', 'rx')[0])
        self.assertEqual(204, self.attach('mrg', 'ring:3', 'rx')[0])
        self.assertEqual(204, self.attach('mrg', 'phy:0', 'tx')[0])
        self.assertEqual((400, b'command error: error occur'),
                         self.attach('mrg', 'phy:1', 'tx')[::2])
        self.assertEqual(204, self.detach('mrg', 'phy:1', 'tx')[0])
        mrg = [c for c in self.status()['components']
               if c.get('name') == 'mrg'][0]
        self.assertEqual(['phy:0'], [p['port'] for p in mrg['tx_port']])

    def test_invalid_port_values_are_500(self):
        for port, direction in (('ring0', 'rx'), ('eth:0', 'rx'),
                                ('ring:0', 'both')):
            self.assertEqual(500, self.attach('fwd', port, direction)[0])
        self.assertEqual(500, self.attach(
            'fwd', 'ring:0', 'rx', {'operation': 'swap'})[0])

    def test_vlan_ranges(self):
        self.assertEqual((400, b'command error: bad value(port vid)'),
                         self.attach('mrg', 'ring:1', 'rx', {
                             'operation': 'add', 'id': 4096, 'pcp': 0})[::2])
        self.assertEqual((400, b'command error: bad value(port pcp)'),
                         self.attach('mrg', 'ring:1', 'rx', {
                             'operation': 'add', 'id': 10, 'pcp': 8})[::2])


class TestClassifier(EmulatorCase):

    def setUp(self):
        super().setUp()
        self.comp('cls', 4, 'classifier_mac')
        self.attach('cls', 'phy:0', 'rx')
        self.attach('cls', 'ring:0', 'tx')
        self.attach('cls', 'ring:2', 'tx')

    def table(self, action, port, mac, vlan=None):
        body = {'action': action, 'type': 'mac', 'mac_address': mac,
                'port': port}
        if vlan is not None:
            body.update(type='vlan', vlan=vlan)
        return self.call('PUT', '/v1/vfs/1/classifier_table', body)

    def test_upper_case_mac_and_vlan_format(self):
        # Listed per vid (classifier_mac.c 1063-1096): vid 100 before
        # the plain MAC entries (vid 4095).
        self.assertEqual(204, self.table('add', 'ring:0',
                                         'fa:16:3e:7d:cc:35')[0])
        self.assertEqual(204, self.table('add', 'ring:2',
                                         'fa:16:3e:7d:cc:36', 100)[0])
        self.assertEqual([
            {'type': 'vlan', 'value': '100/FA:16:3E:7D:CC:36',
             'port': 'ring:2'},
            {'type': 'mac', 'value': 'FA:16:3E:7D:CC:35', 'port': 'ring:0'},
        ], self.status()['classifier_table'])

    def test_one_entry_per_port(self):
        # Corrections 10: command_dec.c 746-753.
        self.table('add', 'ring:0', 'fa:16:3e:00:00:01')
        self.assertEqual((400, b'command error: bad value(port)'),
                         self.table('add', 'ring:0',
                                    'fa:16:3e:00:00:02')[::2])

    def test_port_never_attached(self):
        # Corrections 10: command_dec.c 736-741.
        self.assertEqual((400, b'command error: bad value(port)'),
                         self.table('add', 'ring:6',
                                    'fa:16:3e:00:00:01')[::2])

    def test_del_must_match(self):
        self.table('add', 'ring:0', 'fa:16:3e:00:00:01', 10)
        # Corrections 10: command_dec.c 754-766.
        self.assertEqual((400, b'command error: bad value(port)'),
                         self.table('del', 'ring:0',
                                    'fa:16:3e:00:00:01')[::2])
        self.assertEqual((400, b'command error: bad value(port)'),
                         self.table('del', 'ring:0',
                                    'fa:16:3e:00:00:01', 11)[::2])
        self.assertEqual(204, self.table('del', 'ring:0',
                                         'fa:16:3e:00:00:01', 10)[0])
        self.assertEqual([], self.status()['classifier_table'])

    def test_default_mac_is_500_in_1808(self):
        self.assertEqual(500, self.table('add', 'ring:0', 'default')[0])

    def test_invalid_type_is_500(self):
        status, _c, _b = self.call('PUT', '/v1/vfs/1/classifier_table', {
            'action': 'add', 'type': 'ip', 'mac_address': 'fa:16:3e:00:00:01',
            'port': 'ring:0'})
        self.assertEqual(500, status)


class TestNewClassifierName(EmulatorCase):
    classifier_type = state.CLASSIFIER_1908

    def test_classifier_mac_rejected_classifier_accepted(self):
        self.err(500, 'Internal Server Error', 'POST', '/v1/vfs/1/components',
                 {'name': 'c', 'core': 2, 'type': 'classifier_mac'})
        self.comp('c', 2, 'classifier')
        self.assertEqual('classifier', [
            c for c in self.status()['components']
            if c.get('name') == 'c'][0]['type'])


class TestFaultsAndRestart(EmulatorCase):

    def test_fault_answers_without_applying(self):
        self.emu.fail('POST', '/components', status=400,
                      text='command error: error occur')
        self.err(400, 'command error: error occur', 'POST',
                 '/v1/vfs/1/components',
                 {'name': 'a', 'core': 2, 'type': 'forward'})
        self.comp('a', 2)

    def test_slow_request_holds_the_ones_behind_it(self):
        # spp-ctl runs one command at a time per process: a status read
        # sent while an attach is held answers after it.
        self.comp('a', 2)
        self.emu.delay('PUT', '/ports', 0.5)
        held = threading.Thread(target=self.attach,
                                args=('a', 'ring:0', 'rx'))
        held.start()
        self.addCleanup(held.join)
        while not any(r[0] == 'PUT' for r in self.emu.requests):
            time.sleep(0.01)
        a = [c for c in self.status()['components']
             if c.get('name') == 'a'][0]
        self.assertEqual(['ring:0'], [p['port'] for p in a['rx_port']])

    def test_restart_keeps_vf_state_unless_reset(self):
        self.comp('a', 2)
        self.emu.restart()
        self.assertIn('a', [c.get('name') for c in
                            self.status()['components']])
        self.emu.restart(reset_vfs=True)
        self.assertNotIn('a', [c.get('name') for c in
                               self.status()['components']])


class TestMirrorProcess(EmulatorCase):

    def setUp(self):
        super().setUp()
        self.emu.state.add_mirror(2, 0x30001, 2, 8)

    def test_mirror_rules(self):
        base = '/v1/mirrors/2'
        self.err(500, 'Internal Server Error', 'POST', base + '/components',
                 {'name': 'm', 'core': 16, 'type': 'forward'})
        self.ok('POST', base + '/components',
                {'name': 'm', 'core': 16, 'type': 'mirror'})
        for port, side in (('ring:0', 'rx'), ('ring:1', 'tx'),
                           ('ring:2', 'tx')):
            self.ok('PUT', base + '/components/m/ports',
                    {'action': 'attach', 'port': port, 'dir': side})
        self.err(400, 'command error: error occur', 'PUT',
                 base + '/components/m/ports',
                 {'action': 'attach', 'port': 'ring:3', 'dir': 'tx'})
        status, _c, body = self.call('GET', base)
        st = json.loads(body)
        self.assertEqual(200, status)
        self.assertNotIn('classifier_table', st)
        self.assertIn({'core': 17, 'type': 'unuse'}, st['components'])
        self.err(404, "Not found: '%s/classifier_table'" % base, 'PUT',
                 base + '/classifier_table',
                 {'action': 'add', 'type': 'mac', 'port': 'ring:1',
                  'mac_address': 'fa:16:3e:00:00:01'})
        _s, _c, procs = self.call('GET', '/v1/processes')
        self.assertIn({'type': 'mirror', 'client-id': 2}, json.loads(procs))
