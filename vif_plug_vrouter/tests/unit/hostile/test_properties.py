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
"""Generated hostile input at every vRouter entry.

For each input an entry either accepts it or refuses it with its
documented error (one stderr line and exit 1/2 for the CLI, a 4xx/5xx
answer for the HTTP front end), and a refused input leaves the host -
port files, sysfs, procfs, netlink, the agent - as it was.  The shared
:class:`.entries.Host` observes all of it; hypothesis's example count is
set by the profile in :mod:`os_vif_accel.testing.hostile`.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
import testtools

from os_vif_accel.testing import hostile
from os_vif_accel import validate

from vif_plug_vrouter.tests.unit.hostile import entries

_RECORD_FIELDS = ['id', 'instance-id', 'vn-id', 'vm-project-id',
                  'display-name', 'system-name', 'mac-address',
                  'ip-address', 'ip6-address', 'type', 'rx-vlan-id',
                  'tx-vlan-id', 'vhostuser-mode', 'link-state']
_CLI_FLAGS = ['vm_name', 'tap_name', 'mac', 'uuid', 'instance_uuid',
              'vn_uuid', 'vm_project_uuid', 'ip_address', 'ipv6_address',
              'tx_vlan_id', 'rx_vlan_id', 'agent_port', 'port_json_path',
              'timeout', 'retry_window', 'dpdk_netlink', 'port_type',
              'vhostuser_mode', 'vif_type', 'oper', 'no_persist']


def _json(value: Any) -> str:
    return json.dumps(value, default=repr)


def _port_doc(change: tuple[str, Any]) -> str:
    """A valid ``POST /port`` body with one field made hostile."""
    doc = entries.base_record()
    doc[change[0]] = change[1]
    return _json(doc)


class HostileTestCase(testtools.TestCase):
    """One observed host per test; every example runs against it."""

    def setUp(self) -> None:
        super().setUp()
        self.host = self.useFixture(entries.Host())

    def assertClean(self, case: dict[str, Any]) -> str:
        """Run ``case``; fail on a defect or a side effect of a refusal."""
        try:
            outcome, changed = entries.run(self.host, case)
        except entries.Defect as exc:
            self.fail('%r: %s' % (case, exc))
        if outcome == entries.REFUSED:
            self.assertEqual([], changed, case)
        return outcome


class TestRecordAndPortFiles(HostileTestCase):

    @given(st.sampled_from(_RECORD_FIELDS), hostile.values())
    def test_record_fields(self, field: str, value: Any) -> None:
        self.assertClean({'entry': 'record', 'fields': {field: value}})

    @given(st.sampled_from(_RECORD_FIELDS), hostile.values(),
           st.one_of(st.none(), hostile.values()))
    def test_privileged_port_file_write(self, field: str, value: Any,
                                        extra: Any) -> None:
        self.assertClean({'entry': 'port_file.write',
                          'fields': {field: value}, 'extra': extra})

    @given(st.one_of(hostile.text(200), hostile.values().map(repr),
                     st.integers(1, 3000).map(hostile.deep_json)))
    def test_port_file_read(self, content: str) -> None:
        self.assertClean({'entry': 'port_file.read', 'content': content})


class TestPrivilegedHelpers(HostileTestCase):
    """What the privsep daemon runs, observed through fake sysfs/procfs."""

    @given(st.sampled_from(['set_ipv6_disabled', 'set_link_up']),
           hostile.names(), st.one_of(st.booleans(), hostile.values()))
    def test_interface_flags(self, func: str, name: str, flag: Any) -> None:
        outcome = self.assertClean({'entry': 'linux_net.' + func,
                                    'args': [name, flag]})
        if name in ('all', 'default', '.', '..'):
            self.assertEqual(entries.REFUSED, outcome)

    @given(hostile.names(), hostile.numbers())
    def test_set_mtu(self, name: str, mtu: Any) -> None:
        self.assertClean({'entry': 'linux_net.set_mtu', 'args': [name, mtu]})

    @given(hostile.numbers(), st.one_of(st.none(), hostile.text()),
           hostile.numbers())
    def test_set_vf(self, vf: Any, mac: Any, vlan: Any) -> None:
        self.assertClean({'entry': 'linux_net.set_vf',
                          'args': ['eth0', vf, mac, vlan]})

    @given(hostile.numbers(), st.one_of(st.just('vfio-pci'),
                                        hostile.text()))
    def test_vf_driver_binding(self, timeout: Any, driver: Any) -> None:
        try:
            validate.seconds(timeout, 'timeout', 0, 300)
            validate.driver_name(driver)
            return  # valid: the fake sysfs has no PCI core to bind with
        except validate.InvalidInput:
            pass
        for func, args in (('bind_vf_driver', [driver, timeout]),
                           ('restore_vf_driver', [driver, None, timeout])):
            outcome = self.assertClean({'entry': 'linux_net.' + func,
                                        'args': ['{sysfs}', '{vf}'] + args})
            self.assertEqual(entries.REFUSED, outcome)


class TestPluginAndCli(HostileTestCase):

    @given(st.sampled_from(['vif_name', 'id']), hostile.text(),
           st.sampled_from(['name', 'uuid', 'project_id']), hostile.text(),
           st.booleans())
    def test_plugin_plug(self, vif_field: str, vif_value: str,
                         inst_field: str, inst_value: str,
                         vhostuser: bool) -> None:
        self.assertClean({'entry': 'plugin.plug', 'vhostuser': vhostuser,
                          'vif': {vif_field: vif_value},
                          'instance': {inst_field: inst_value}})

    @given(st.lists(st.tuples(st.sampled_from(_CLI_FLAGS), hostile.text()),
                    min_size=1, max_size=3))
    def test_cli_option_values(self, over: list[tuple[str, str]]) -> None:
        self.assertClean({'entry': 'cli', 'over': dict(over)})

    @given(hostile.text(), hostile.text())
    def test_cli_option_names(self, name: str, value: str) -> None:
        argv = entries.cli_argv(self.host, {}) + ['--%s=%s' % (name, value)]
        self.assertClean({'entry': 'cli', 'argv': argv})


class TestHttp(HostileTestCase):

    _HEAD = 'POST /port HTTP/1.1\r\nHost: x\r\n'

    @given(st.one_of(hostile.text(), st.integers().map(str)))
    def test_server_content_length(self, length: str) -> None:
        raw = self._HEAD + 'Content-Length: %s\r\n\r\n{}' % length
        self.assertClean({'entry': 'http.server',
                          'raw': raw.encode('utf-8', 'surrogatepass')
                          .decode('latin-1')})

    @given(st.one_of(hostile.text(), st.integers().map(lambda i: '%x' % i)))
    def test_server_chunk_size(self, size: str) -> None:
        raw = (self._HEAD + 'Transfer-Encoding: chunked\r\n\r\n%s\r\n'
               'abcde\r\n0\r\n\r\n' % size)
        self.assertClean({'entry': 'http.server',
                          'raw': raw.encode('utf-8', 'surrogatepass')
                          .decode('latin-1')})

    @given(st.sampled_from(['/port', '/vm', '/gateway', '/syncports']),
           st.one_of(hostile.values().map(_json),
                     st.tuples(st.sampled_from(_RECORD_FIELDS),
                               hostile.values()).map(_port_doc),
                     st.integers(1, 5000).map(hostile.deep_json)))
    def test_agent_emulator_bodies(self, path: str, body: str) -> None:
        self.assertClean({'entry': 'emulator.post', 'path': path,
                          'body': body})

    @given(st.one_of(hostile.text(), st.integers().map(str)).filter(
        # A length above the body's is a server that has more to send:
        # waiting for it until the read timeout is right.
        lambda s: not (s.strip().isascii() and s.strip().isdigit() and
                       int(s) > 2)))
    def test_client_content_length(self, length: str) -> None:
        raw = 'HTTP/1.1 200 OK\r\nContent-Length: %s\r\n\r\n{}' % length
        self.assertClean({'entry': 'http.client',
                          'raw': raw.encode('utf-8', 'surrogatepass')
                          .decode('latin-1')})
