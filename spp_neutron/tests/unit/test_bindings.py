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
"""spp_neutron.bindings: which binding bind_port binds (the real
sessions and deletions are in neutron_e2e.test_bindings and
neutron_e2e.test_migration).
"""

import types

import testtools

from spp_neutron import bindings

SRC = 'compute-1'
DST = 'compute-2'


def row(host, status=bindings.ACTIVE, vif_type='vhostuser'):
    return bindings.Row(host, status, vif_type)


class TestBindMode(testtools.TestCase):

    def test_the_hosts_own_row_decides(self):
        self.assertEqual(bindings.ACTIVE, bindings.bind_mode(
            [row(SRC)], SRC, has_original=False))
        self.assertEqual(bindings.INACTIVE, bindings.bind_mode(
            [row(SRC), row(DST, bindings.INACTIVE, 'unbound')], DST,
            has_original=True))

    def test_no_row_yet_beside_a_bound_active_one_is_a_destination(self):
        # create_port_binding: the row is persisted after bind_port.
        self.assertEqual(bindings.INACTIVE, bindings.bind_mode(
            [row(SRC)], DST, has_original=False))

    def test_a_port_moved_away_while_binding_is_not_a_destination(self):
        # An update changed the host: its context has an original port.
        self.assertEqual(bindings.ACTIVE, bindings.bind_mode(
            [row(SRC)], DST, has_original=True))

    def test_unbound_active_row_elsewhere_is_not_a_destination(self):
        for vif_type in ('unbound', 'binding_failed'):
            self.assertEqual(bindings.ACTIVE, bindings.bind_mode(
                [row(SRC, vif_type=vif_type)], DST, has_original=False))

    def test_deleted_port_is_not_a_destination(self):
        self.assertEqual(bindings.ACTIVE, bindings.bind_mode(
            [], DST, has_original=False))


class Gone:
    """A deleted row whose attributes cannot be read any more."""

    host = 'compute-1'
    port_id = 'p1'

    @property
    def vif_type(self):
        raise RuntimeError('row deleted')


class TestPendingReleasesNeverFailTheFlush(testtools.TestCase):

    def test_unreadable_rows_are_left_to_the_sweep(self):
        released = []
        pending = bindings.PendingReleases(
            Gone, lambda *pair: released.append(pair))
        session = types.SimpleNamespace(deleted=[Gone()], info={})

        pending.flushed(session)
        pending.committed(session)

        self.assertEqual([], released)
        self.assertEqual({}, session.info)
