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
"""The emulator against spp_vf/spp-ctl 18.08 (reference Corrections
1-11); each test names the rule of doc/source/reference/spp-ctl-emulator.rst
it pins.
"""

import http.client
import json
import socket

from vif_plug_spp.emulator import server
from vif_plug_spp.emulator import status as status_mod
from vif_plug_spp.tests.unit import test_emulator

OK = (204, b'')
OCCUR = (400, b'command error: error occur')


class RulesCase(test_emulator.EmulatorCase):

    def setUp(self):
        super().setUp()
        self.comp('fwd', 2)
        self.comp('cls', 4, 'classifier_mac')
        self.comp('mrg', 5, 'merge')

    def put(self, name, action, port, direction, vlan=None):
        body = {'action': action, 'port': port, 'dir': direction}
        if vlan is not None:
            body['vlan'] = vlan
        return self.call('PUT', '/v1/vfs/1/components/%s/ports' % name,
                         body)[::2]

    def table(self, action, port, mac, vlan=None, **extra):
        body = {'action': action, 'type': 'mac', 'mac_address': mac,
                'port': port}
        if vlan is not None:
            body.update(type='vlan', vlan=vlan)
        body.update(extra)
        return self.call('PUT', '/v1/vfs/1/classifier_table', body)[::2]

    def component(self, name):
        return [c for c in self.status()['components']
                if c.get('name') == name][0]


class TestAddVlantag(RulesCase):
    """Corrections 1."""

    def tag(self):
        """Attach ring:1 rx on mrg with add_vlantag 100; (answer, op)."""
        answer = self.put('mrg', 'attach', 'ring:1', 'rx',
                          {'operation': 'add', 'id': 100, 'pcp': 0})
        return answer, self.component('mrg')['rx_port'][0]['vlan'][
            'operation']

    def test_plain_port_cannot_switch_to_add_vlantag_in_place(self):
        self.assertEqual(OK, self.put('mrg', 'attach', 'ring:1', 'rx'))
        self.assertEqual((OCCUR, 'none'), self.tag())
        # The refused update is no sticky change: later commands work.
        self.assertEqual(OK, self.put('mrg', 'detach', 'ring:1', 'rx'))
        self.assertEqual((OK, 'add'), self.tag())

    def test_plain_reattach_is_bad_value_port_rxtx(self):
        self.assertEqual(OK, self.put('mrg', 'attach', 'ring:1', 'rx'))
        self.assertEqual((400, b'command error: bad value(port rxtx)'),
                         self.put('mrg', 'attach', 'ring:1', 'rx',
                                  {'operation': 'del'}))

    def test_add_vlantag_on_another_component_adds_it_there(self):
        self.assertEqual(OK, self.put('fwd', 'attach', 'ring:1', 'rx'))
        self.assertEqual(OK, self.put(
            'mrg', 'attach', 'ring:1', 'rx',
            {'operation': 'add', 'id': 5, 'pcp': 0}))
        self.assertEqual(['ring:1'], [
            p['port'] for p in self.component('mrg')['rx_port']])
        self.assertEqual(['ring:1'], [
            p['port'] for p in self.component('fwd')['rx_port']])


class TestStickyFlush(RulesCase):
    """Corrections 2."""

    def test_ring_beyond_primary_poisons_until_restart(self):
        self.assertEqual(OCCUR, self.put('fwd', 'attach', 'ring:8', 'rx'))
        # Every later command fails, detach included; status answers.
        for call in (lambda: self.put('mrg', 'attach', 'ring:1', 'rx'),
                     lambda: self.put('fwd', 'detach', 'ring:8', 'rx'),
                     lambda: self.call('DELETE',
                                       '/v1/vfs/1/components/nothing')[::2],
                     lambda: self.call('POST', '/v1/vfs/1/components', {
                         'name': 'x', 'core': 6,
                         'type': 'forward'})[::2]):
            self.assertEqual(OCCUR, call())
        self.assertNotIn('ring:8', self.status()['ports'])
        self.emu.restart(reset_vfs=True)
        self.comp('fwd', 2)
        self.assertEqual(OK, self.put('fwd', 'attach', 'ring:1', 'rx'))

    def test_ring_32_or_more_poisons_even_with_more_rings(self):
        self.emu.state.add_vf(2, 0xfe, 2, 64)
        self.ok('POST', '/v1/vfs/2/components',
                {'name': 'f', 'core': 2, 'type': 'forward'})
        self.assertEqual(OCCUR, self.call(
            'PUT', '/v1/vfs/2/components/f/ports',
            {'action': 'attach', 'port': 'ring:32', 'dir': 'rx'})[::2])
        self.assertEqual(OCCUR, self.call(
            'PUT', '/v1/vfs/2/components/f/ports',
            {'action': 'detach', 'port': 'ring:32', 'dir': 'rx'})[::2])

    def test_failed_flush_keeps_change_and_limit_heals_on_detach(self):
        self.assertEqual(OK, self.put('fwd', 'attach', 'ring:0', 'rx'))
        self.assertEqual(OCCUR, self.put('fwd', 'attach', 'ring:1', 'rx'))
        # The change stays in the working tables (status shows the last
        # applied state) and is still attached: a plain re-attach is
        # refused.
        self.assertEqual(['ring:0'], [
            p['port'] for p in self.component('fwd')['rx_port']])
        self.assertEqual((400, b'command error: bad value(port rxtx)'),
                         self.put('fwd', 'attach', 'ring:1', 'rx'))
        # Detaching the extra port heals it.
        self.assertEqual(OK, self.put('fwd', 'detach', 'ring:1', 'rx'))
        self.assertEqual(['ring:0'], [
            p['port'] for p in self.component('fwd')['rx_port']])

    def test_limit_fails_only_flushes_that_change_the_component(self):
        # command_proc.c 463-465: the change flags are cleared after a
        # failed component flush, so other components flush fine...
        self.assertEqual(OK, self.put('fwd', 'attach', 'ring:0', 'tx'))
        self.assertEqual(OCCUR, self.put('fwd', 'attach', 'ring:1', 'tx'))
        self.assertEqual(OK, self.put('mrg', 'attach', 'ring:3', 'rx'))
        self.assertEqual(['ring:3'], [
            p['port'] for p in self.component('mrg')['rx_port']])
        self.ok('DELETE', '/v1/vfs/1/components/nothing')
        # ...while changing the component over its limit fails again.
        self.assertEqual(OCCUR, self.put('fwd', 'attach', 'ring:2', 'rx'))
        self.assertEqual([], self.component('fwd')['rx_port'])
        self.assertEqual(['ring:0'], [
            p['port'] for p in self.component('fwd')['tx_port']])

    def test_classifier_entry_changes_the_component_sending_to_it(self):
        # command_proc.c 218: the entry flags the port's tx component,
        # whose flush then fails while it is over its limit.
        self.assertEqual(OK, self.put('fwd', 'attach', 'ring:0', 'tx'))
        self.assertEqual(OCCUR, self.put('fwd', 'attach', 'ring:1', 'tx'))
        self.assertEqual(OCCUR, self.table('add', 'ring:1',
                                           'fa:16:3e:00:00:01'))
        self.assertEqual(OK, self.put('cls', 'attach', 'ring:2', 'tx'))
        self.assertEqual(OK, self.table('add', 'ring:2',
                                        'fa:16:3e:00:00:02'))

    def test_limit_heals_when_component_stopped(self):
        self.assertEqual(OK, self.put('fwd', 'attach', 'ring:0', 'tx'))
        self.assertEqual(OCCUR, self.put('fwd', 'attach', 'ring:1', 'tx'))
        self.ok('DELETE', '/v1/vfs/1/components/fwd')
        self.assertNotIn('fwd', [c.get('name')
                                 for c in self.status()['components']])
        self.assertEqual(OK, self.put('mrg', 'attach', 'ring:1', 'rx'))


class TestMasterLcore(RulesCase):
    """Corrections 4."""

    def setUp(self):
        super().setUp()
        self.emu.hang_seconds = 0.3

    def test_start_on_master_hangs_spp_vf(self):
        for method, path, body in (
                ('POST', '/v1/vfs/1/components',
                 {'name': 'm', 'core': 1, 'type': 'forward'}),
                ('GET', '/v1/vfs/1', None)):
            conn = http.client.HTTPConnection('127.0.0.1', self.emu.port,
                                              timeout=0.1)
            conn.request(method, path, body=json.dumps(body).encode()
                         if body else None)
            self.assertRaises(socket.timeout, conn.getresponse)
            conn.close()
        # spp-ctl itself still answers.
        self.assertEqual(200, self.call('GET', '/v1/processes')[0])
        self.emu.restart(reset_vfs=True)
        self.assertEqual(200, self.call('GET', '/v1/vfs/1')[0])

    def test_hung_request_is_dropped_after_the_bound(self):
        conn = http.client.HTTPConnection('127.0.0.1', self.emu.port,
                                          timeout=5)
        conn.request('POST', '/v1/vfs/1/components', body=json.dumps(
            {'name': 'm', 'core': 1, 'type': 'forward'}).encode())
        self.assertRaises(http.client.RemoteDisconnected, conn.getresponse)
        conn.close()


class TestPortKinds(RulesCase):
    """Corrections 5."""

    def test_pcap_and_nullpmd_are_bad_value_port(self):
        for port in ('pcap:0', 'nullpmd:1'):
            self.assertEqual((400, b'command error: bad value(port)'),
                             self.put('fwd', 'attach', port, 'rx'))
            self.assertEqual((400, b'command error: bad value(port)'),
                             self.table('add', port, 'fa:16:3e:00:00:01'))


class TestClassifierRules(RulesCase):
    """Corrections 6, 7, 8, 11."""

    def test_no_rx_limit_status_shows_first_rx(self):
        for port in ('phy:0', 'phy:1', 'ring:5'):
            self.assertEqual(OK, self.put('cls', 'attach', port, 'rx'))
        self.assertEqual(['phy:0'], [
            p['port'] for p in self.component('cls')['rx_port']])

    def test_duplicate_vlan_mac_one_entry(self):
        for port in ('ring:0', 'ring:2'):
            self.assertEqual(OK, self.put('cls', 'attach', port, 'tx'))
            self.assertEqual(OK, self.table('add', port,
                                            'fa:16:3e:00:00:01', 10))
        self.assertEqual([{'type': 'vlan', 'value': '10/FA:16:3E:00:00:01',
                           'port': 'ring:2'}],
                         self.status()['classifier_table'])

    def test_vid_range_and_4095_is_a_mac_entry(self):
        self.assertEqual(OK, self.put('cls', 'attach', 'ring:0', 'tx'))
        self.assertEqual((400, b'command error: bad value(vlan id)'),
                         self.table('add', 'ring:0', 'fa:16:3e:00:00:01',
                                    4096))
        self.assertEqual(OK, self.table('add', 'ring:0',
                                        'fa:16:3e:00:00:01', 4095))
        self.assertEqual([{'type': 'mac', 'value': 'FA:16:3E:00:00:01',
                           'port': 'ring:0'}],
                         self.status()['classifier_table'])
        self.assertEqual(OK, self.put('cls', 'attach', 'ring:2', 'tx'))
        self.assertEqual(OK, self.table('add', 'ring:2',
                                        'fa:16:3e:00:00:02', 0))

    def test_table_lists_applied_entries_on_classifier_tx_only(self):
        self.assertEqual(OK, self.put('cls', 'attach', 'ring:0', 'tx'))
        self.assertEqual(OK, self.put('fwd', 'attach', 'ring:6', 'tx'))
        self.assertEqual(OK, self.table('add', 'ring:6',
                                        'fa:16:3e:00:00:06'))
        self.assertEqual([], self.status()['classifier_table'])
        # Moving ring:6 onto the classifier shows its entry.
        self.assertEqual(OK, self.put('fwd', 'detach', 'ring:6', 'tx'))
        self.assertEqual(OK, self.put('cls', 'attach', 'ring:6', 'tx'))
        self.assertEqual(['ring:6'], [
            e['port'] for e in self.status()['classifier_table']])
        # An entry whose flush failed is not listed (ring:8: no PMD).
        self.assertEqual(OCCUR, self.put('fwd', 'attach', 'ring:8', 'rx'))
        self.assertEqual(OCCUR, self.table('add', 'ring:0',
                                           'fa:16:3e:00:00:01'))
        self.assertEqual(['ring:6'], [
            e['port'] for e in self.status()['classifier_table']])


class TestSppCtlInputQuirks(RulesCase):
    """Corrections 9."""

    def test_vlan_classifier_without_vlan_is_500(self):
        self.assertEqual(OK, self.put('cls', 'attach', 'ring:0', 'tx'))
        body = {'action': 'add', 'type': 'vlan', 'port': 'ring:0',
                'mac_address': 'fa:16:3e:00:00:01'}
        self.err(500, 'Internal Server Error', 'PUT',
                 '/v1/vfs/1/classifier_table', body)

    def test_string_vid_or_pcp_on_attach_is_500_and_not_applied(self):
        for vlan in ({'operation': 'add', 'id': '100', 'pcp': 0},
                     {'operation': 'add', 'id': 100, 'pcp': '0'}):
            self.assertEqual((500, b'Internal Server Error'),
                             self.put('mrg', 'attach', 'ring:1', 'rx', vlan))
        self.assertEqual([], self.component('mrg')['rx_port'])

    def test_empty_vlan_is_no_vlan(self):
        self.assertEqual(OK, self.put('mrg', 'attach', 'ring:1', 'rx', {}))
        self.assertEqual('none', self.component(
            'mrg')['rx_port'][0]['vlan']['operation'])

    def test_string_classifier_vlan_accepted(self):
        self.assertEqual(OK, self.put('cls', 'attach', 'ring:0', 'tx'))
        self.assertEqual(OK, self.table('add', 'ring:0',
                                        'fa:16:3e:00:00:01', '100'))
        self.assertEqual('100/FA:16:3E:00:00:01',
                         self.status()['classifier_table'][0]['value'])
        self.assertEqual((500, b'Internal Server Error'),
                         self.table('del', 'ring:0', 'fa:16:3e:00:00:01',
                                    'x'))


class TestFormattedIntoTheCommand(RulesCase):
    """spp-ctl formats body values into spp_vf's command text (spp_proc.py
    76-78, 123-126): a JSON true passes spp-ctl's checks as an int and
    reaches spp_vf as the word "True".
    """

    def test_boolean_core_is_bad_value_core(self):
        self.assertEqual((400, b'command error: bad value(core)'), self.call(
            'POST', '/v1/vfs/1/components',
            {'name': 'b', 'core': True, 'type': 'forward'})[::2])

    def test_boolean_or_float_classifier_vlan_is_bad_value_vlan_id(self):
        self.assertEqual(OK, self.put('cls', 'attach', 'ring:0', 'tx'))
        for vlan in (True, 10.0):
            self.assertEqual((400, b'command error: bad value(vlan id)'),
                             self.table('add', 'ring:0', 'fa:16:3e:00:00:01',
                                        vlan))


class TestStatusSizeBug(test_emulator.EmulatorCase):
    """Corrections 3 (option; off by default)."""

    def _large(self, **opts):
        emu = server.SppCtlEmulator(**opts)
        proc = emu.state.add_vf(1, 0xfe, 2, 32)
        emu.start()
        self.addCleanup(emu.stop)
        self.emu = emu
        self.assertEqual(200, self.call('GET', '/v1/vfs/1')[0])
        self.comp('cls', 2, 'classifier_mac')
        for i in range(32):
            if status_mod.raw_reply_size(proc.status()) >= \
                    status_mod.MSG_SIZE:
                return
            self.attach('cls', 'ring:%d' % i, 'tx', {'operation': 'del'})
            self.ok('PUT', '/v1/vfs/1/classifier_table', {
                'action': 'add', 'type': 'vlan', 'vlan': 100 + i,
                'port': 'ring:%d' % i,
                'mac_address': 'fa:16:3e:00:00:%02x' % i})
        self.fail('status stayed below 4096 bytes')

    def test_default_answers_large_status(self):
        self._large()
        self.assertEqual(200, self.call('GET', '/v1/vfs/1')[0])

    def test_bug_answers_500_from_4096_bytes(self):
        self._large(status_size_bug=True)
        self.err(500, 'Internal Server Error', 'GET', '/v1/vfs/1')
        # Only the status reply is too large; commands still work.
        self.ok('PUT', '/v1/vfs/1/components/cls/ports',
                {'action': 'detach', 'port': 'ring:0', 'dir': 'tx'})

    def test_raw_reply_layout(self):
        # spp_vf's own JSON layout (command_proc.c 34-39): a fresh
        # status of 0xfe/2 NICs is this many bytes.
        shown = self.status()
        expected = ('{ "results": [ { "result": "success" } ], "info": '
                    '{ "client-id": 1, "phy": [ 0, 1 ], "vhost": [  ], '
                    '"ring": [  ], "core": [ %s ], "classifier_table": '
                    '[  ] } }' % ', '.join(
                        '{ "core": %d, "type": "unuse" }' % c
                        for c in range(2, 8)))
        self.assertEqual(len(expected), status_mod.raw_reply_size(shown))
