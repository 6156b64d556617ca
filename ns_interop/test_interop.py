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
"""networking-spp 21.0.0 and os-vif-accel serving each other's keys."""

from __future__ import annotations

import uuid

from vif_plug_spp import keys
from vif_plug_spp import served
from vif_plug_spp.emulator import state as emu_state

from spp_neutron import core

from ns_interop import base


class TestMixedFleet(base.InteropCase):
    """Host A on networking-spp's agent, host B on ours, one etcd."""

    def test_each_side_serves_the_others_keys_and_hosts_stay_apart(self):
        a, b = self.new_host('ns'), self.new_host('ours')
        a.start_ns_agent()
        b.start_our_agent()
        # Their driver binds on both hosts; our ML2 driver's core binds
        # on both too.
        binder = core.Binder(self.etcd)
        ports = {
            'theirs@A': (a, 'phys2') + self.their_bind(a, 'phys2', 100),
            'theirs@B': (b, 'phys2') + self.their_bind(b, 'phys2', 200),
        }
        for name, host, physnet, mac, vlan in (
                ('ours@A', a, 'phys1', 'fa:16:3e:0a:00:01', None),
                ('ours@B', b, 'phys1', 'fa:16:3e:0b:00:01', None)):
            port = str(uuid.uuid4())
            alloc = binder.bind(host.name, port, mac, physnet, vlan)
            self.assertTrue(binder.wait_up(alloc, 15),
                            '%s not reported up' % name)
            ports[name] = (host, physnet, port, mac, alloc.vhost_id)
        # Each spp_vf carries exactly its own host's two ports.
        for host in (a, b):
            self.assertEqual(
                {mac for h, _, _, mac, _ in ports.values() if h is host},
                host.macs())
            bound, _rev = self.etcd.get_prefix(keys.bind_port_prefix(
                host.name))
            self.assertEqual(
                sorted(p for h, _, p, _, _ in ports.values() if h is host),
                sorted(keys.suffix(kv.key, keys.bind_port_prefix(host.name))
                       for kv in bound))
        self.assertEqual([{'type': 'vlan', 'port': 'ring:%d' % (
            2 * ports['theirs@A'][4]),
            'value': '100/' + ports['theirs@A'][3].upper()}], a.table(2))
        # Nova's order: os-vif unplug first, then Neutron's unbind.
        for name, (host, physnet, port, mac, vid) in sorted(ports.items()):
            self.nova_plug(host, port, mac, vid)
            self.nova_unplug(host, port, mac, vid)
            if name.startswith('theirs'):
                self.their_unbind(host, port)
            else:
                self.assertEqual('unplug', binder.release(host.name, port))
            self.assert_released(host, port, physnet, vid)
        self.assertTrue(a.ns_agent_alive(), 'networking-spp agent exited')
        self.assertEqual(set(), a.macs() | b.macs())

    def test_delete_of_a_bound_port_on_their_agent(self):
        a = self.new_host('ns')
        a.start_ns_agent()
        port, mac, vid = self.their_bind(a, 'phys1')
        self.nova_plug(a, port, mac, vid)
        self.nova_unplug(a, port, mac, vid)
        self.their_delete(a, port)
        self.assert_released(a, port, 'phys1', vid)
        self.assertEqual(set(), a.macs())
        self.assertTrue(a.ns_agent_alive(), 'networking-spp agent exited')


class TestRollingUpgrade(base.InteropCase):
    """Our agent replaces networking-spp's on a host with live ports."""

    def test_adopts_live_ports_without_rewiring_then_unplugs(self):
        self._upgrade(self.new_host('upgrade'))

    def test_adopts_live_ports_on_spp_18_08_4_classifier_name(self):
        # networking-spp 21.0.0 and SPP >= 18.08.4 call the type
        # "classifier"; the builder writes it for such hosts.
        self._upgrade(self.new_host(
            'upgrade', classifier=emu_state.CLASSIFIER_1908))

    def _upgrade(self, c):
        c.start_ns_agent()
        live = [('phys1',) + self.their_bind(c, 'phys1'),
                ('phys2',) + self.their_bind(c, 'phys2', 300)]
        for _physnet, port, mac, vid in live:
            self.nova_plug(c, port, mac, vid)
        wired = c.emu.snapshot()
        c.stop_ns_agent()
        before = len(c.writes())

        agent = c.start_our_agent()
        self.wait_for(lambda: agent.handled >= len(live), 20, 'replay')
        self.wait_for(lambda: served.served_by_us(
            self.etcd.read(keys=[served.marker(c.name)]), c.name))

        self.assertEqual([], c.writes()[before:],
                         'our agent rewired live ports')
        self.assertEqual(wired, c.emu.snapshot())
        for _physnet, port, _mac, _vid in live:
            self.assertEqual('up', self.etcd.get(keys.port_status(c.name,
                                                                  port)))
        # A port bound after the upgrade, then Nova's order for all.
        live.append(('phys2',) + self.their_bind(c, 'phys2', 301))
        self.nova_order_teardown(c, live)

    def test_back_to_their_agent_adopts_our_wiring(self):
        d = self.new_host('downgrade')
        agent = d.start_our_agent()
        live = [('phys1',) + self.their_bind(d, 'phys1'),
                ('phys2',) + self.their_bind(d, 'phys2', 302)]
        agent.stop()
        self.wait_for(lambda: self.etcd.get(served.marker(d.name)) is None,
                      10, 'marker revoked')
        before = len(d.writes())
        d.start_ns_agent()
        # It reads the classifier table at start: nothing is rewired.
        self.assertEqual([], d.writes()[before:])
        self.nova_order_teardown(d, live)
        self.assertTrue(d.ns_agent_alive(), 'networking-spp agent exited')
