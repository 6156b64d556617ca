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
"""The recorded offload host state: typed inside, unchanged on disk."""

from __future__ import annotations

import ast
import dataclasses
import datetime
import inspect
import os
from typing import Any

import testtools

from vif_plug_vrouter import constants
from vif_plug_vrouter import hoststate
from vif_plug_vrouter import linux_net
from vif_plug_vrouter import privileged
from vif_plug_vrouter import record

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'data',
                    'offload_port_files')
#: the time the files in DATA carry
WRITTEN = datetime.datetime(2026, 11, 29, 13, 0, 0,
                            tzinfo=datetime.timezone.utc)


def rewrite(data: bytes) -> bytes:
    """Read a port file, go through HostState, write it again."""
    rec, extra = record.from_port_file(data.decode('utf-8'))
    state = hoststate.from_extra(extra)
    assert state is not None
    return record.to_port_file(rec, hoststate.to_extra(state), now=WRITTEN)


class TestPortFileRoundTrip(testtools.TestCase):

    def test_files_written_before_round_trip_byte_for_byte(self) -> None:
        for name in ('forwarder.json', 'direct.json',
                     'forwarder-no-vf-vlan.json'):
            with open(os.path.join(DATA, name), 'rb') as f:
                data = f.read()
            self.assertEqual(data, rewrite(data), name)

    def test_typed_values(self) -> None:
        with open(os.path.join(DATA, 'forwarder.json'), 'rb') as f:
            _rec, extra = record.from_port_file(f.read().decode())
        state = hoststate.from_extra(extra)
        assert state is not None
        self.assertEqual(('virtio-forwarder', '0000:81:00.2', 1, True,
                          'mlx5_core', None, 'enp129s0f0npf0vf1'),
                         (state.offload, state.vf, state.vf_index,
                          state.vf_bound, state.vf_driver, state.vf_override,
                          state.rep_orig_name))

    def test_keys_absent_stay_absent_and_nulls_stay(self) -> None:
        # A file of a release that recorded fewer keys: nothing is added.
        extra = {'vf': '0000:81:00.2', 'rep-name': 'tap0',
                 'rep-orig-name': 'eth7', 'vf-vlan': 0, 'vf-driver': None}
        state = hoststate.from_extra(extra)
        assert state is not None
        self.assertEqual(list(extra.items()),
                         list(hoststate.to_extra(state).items()))

    def test_fresh_state_writes_unknowns_as_null(self) -> None:
        # What a plug records: IPv6 and VF MAC unknown are written as
        # null next to the representor's name; the driver keys only for
        # a VF this library binds; no VF VLAN.
        state = hoststate.HostState(
            offload='direct', vf='0000:81:00.2', rep_orig_name='eth7',
            rep_mtu=1500, rep_up=True)
        self.assertEqual({'offload': 'direct', 'vf': '0000:81:00.2',
                          'rep-orig-name': 'eth7', 'rep-mtu': 1500,
                          'rep-up': True, 'rep-ipv6': None, 'vf-mac': None},
                         hoststate.to_extra(state))
        self.assertTrue(state.has('vf-mac'))
        self.assertFalse(state.has('vf-vlan'))
        bound = dataclasses.replace(state, vf_bound=True)
        self.assertEqual((True, None, None), tuple(
            hoststate.to_extra(bound)[key]
            for key in ('vf-bound', 'vf-driver', 'vf-override')))

    def test_no_state(self) -> None:
        self.assertIsNone(hoststate.from_extra(None))
        self.assertIsNone(hoststate.from_extra({}))
        self.assertIsNone(hoststate.from_extra({'other': 1}))

    def test_state_keys_in_file_order(self) -> None:
        self.assertEqual('os-vif-accel', constants.HOST_STATE_KEY)
        self.assertEqual(('offload', 'vf', 'pf-ifname', 'vf-index',
                          'rep-name', 'rep-orig-name', 'rep-mtu', 'rep-up',
                          'rep-ipv6', 'vf-mac', 'vf-vlan', 'vf-bound',
                          'vf-driver', 'vf-override'), hoststate.STATE_KEYS)


def _arities(module: Any) -> dict[str, int]:
    """Parameters of each function ``module`` defines, from its source
    (privsep's entrypoints hide their signatures).
    """
    tree = ast.parse(inspect.getsource(module))
    return {node.name: len(node.args.args)
            for node in tree.body if isinstance(node, ast.FunctionDef)}


class TestHostOps(testtools.TestCase):

    def test_both_providers_have_every_operation(self) -> None:
        # The offloader calls them positionally with this many values.
        ops = {name: len(inspect.signature(func).parameters) - 1
               for name, func in inspect.getmembers(hoststate.HostOps,
                                                    inspect.isfunction)
               if not name.startswith('_')}
        self.assertEqual(9, len(ops))
        for module in (linux_net, privileged):
            have = _arities(module)
            for name, wanted in ops.items():
                self.assertEqual(wanted, have.get(name),
                                 '%s.%s' % (module.__name__, name))
