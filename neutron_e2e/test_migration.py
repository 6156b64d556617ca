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
"""Live migration through Neutron 29's multiple port bindings
(``/ports/{id}/bindings``), the calls Nova makes: an inactive binding on
the destination (conductor), its activation (source compute), then the
deletion of the source's binding (destination compute), or of the
destination's on abort.  Two SPP hosts, each with its spp-ctl emulator and
spp-agent process, one etcd.
"""

import json
from unittest import mock
import uuid

from neutron_lib.api.definitions import portbindings
from oslo_config import cfg

from vif_plug_spp import keys

from spp_neutron import sweep
from spp_neutron import sweep_worker

from neutron_e2e import base


class MigrationCase(base.SppMl2Case):

    def setUp(self):
        super().setUp()
        self.dst = self.start_host('dst-%s' % uuid.uuid4().hex[:8])
        self.src = self.start_host()

    # -- Nova's calls (nova/network/neutron.py) ----------------------------
    def create_binding(self, port_id, host):
        return self._service_req(
            'POST', 'ports', id=port_id, subresource='bindings',
            data={'binding': {'host': host}}).get_response(self.api)

    def activate(self, port_id, host):
        return self._service_req(
            'PUT', 'ports', id=port_id, subresource='bindings', sub_id=host,
            action='activate', data={'port_id': port_id}
        ).get_response(self.api)

    def migrating_to(self, port_id, host):
        """The port's ``binding:profile`` ``migrating_to`` (Nova's
        setup_networks_on_host before the migration; cleared after it):
        ML2 binds the active binding again on the same host.
        """
        res = self._service_req('PUT', 'ports', id=port_id, data={
            'port': {portbindings.PROFILE: (
                {'migrating_to': host} if host else {})}}
        ).get_response(self.api)
        self.assertEqual(200, res.status_int, res.body)

    def delete_binding(self, port_id, host):
        return self._service_req(
            'DELETE', 'ports', id=port_id, subresource='bindings',
            sub_id=host).get_response(self.api)

    # -- state ---------------------------------------------------------------
    def host_keys(self, host, port_id):
        """The port's keys on ``host`` (its vhost included)."""
        kvs, _rev = self.etcd.get_prefix(keys.ROOT)
        return {kv.key: kv.value for kv in kvs
                if '/%s/' % host in kv.key and
                (port_id in kv.key or kv.value == port_id)}

    def wait_up(self, host, port_id):
        self.wait_for(lambda: self.etcd.get(
            keys.port_status(host, port_id)) == keys.UP, 20,
            'the agent of %s to wire the port' % host)

    def wait_gone(self, host, port_id):
        self.wait_for(lambda: not self.host_keys(host, port_id), 20,
                      'the agent of %s to release the port' % host)

    def assert_intact(self, host, port_id, host_keys):
        """The port's keys on ``host`` unchanged and its MAC wired there."""
        self.assertEqual(host_keys, self.host_keys(host, port_id))
        self.assertEqual([base.MAC.upper()], self.macs(host))

    def delete_and_check(self, port_id, gone, kept, kept_keys):
        """Nova deletes the binding of ``gone``: its agent unwires and
        frees the vhost there; ``kept`` stays as it was.
        """
        res = self.delete_binding(port_id, gone)
        self.assertEqual(204, res.status_int, res.body)
        self.wait_gone(gone, port_id)
        self.assertEqual([], self.macs(gone))
        self.assert_intact(kept, port_id, kept_keys)

    def vhost_id(self, host, port_id):
        return json.loads(self.etcd.get(
            keys.bind_port(host, port_id)))['vhost_id']

    def migrating_port(self):
        """An ACTIVE port on the source with an inactive binding on the
        destination, wired on both; (port, source keys, binding).
        """
        port = self.port(self.network('flat', 'physnet1'), host=self.src)
        self.wait_status(port['id'], 'ACTIVE')
        src_keys = self.host_keys(self.src, port['id'])
        res = self.create_binding(port['id'], self.dst)
        self.assertEqual(201, res.status_int, res.body)
        self.wait_up(self.dst, port['id'])
        self.migrating_to(port['id'], self.dst)
        return port, src_keys, self.deserialize(self.fmt, res)['binding']


class TestInactiveBinding(MigrationCase):

    def test_destination_vhost_allocated_source_untouched(self):
        port, src_keys, binding = self.migrating_port()

        dst_vhost = self.vhost_id(self.dst, port['id'])
        self.assertEqual(('INACTIVE', portbindings.VIF_TYPE_VHOST_USER),
                         (binding['status'], binding['vif_type']))
        self.assertEqual('/tmp/sock%d' % dst_vhost,
                         binding['vif_details']['vhostuser_socket'])
        self.assertEqual(keys.PLUG, self.etcd.get(
            keys.action(self.dst, port['id'])))
        self.assertEqual(port['id'], self.etcd.get(
            keys.vhost(self.dst, 'physnet1', dst_vhost)))
        self.assertEqual([base.MAC.upper()], self.macs(self.dst))
        # The source binding, its vhost, its wiring and the port's state
        # are as they were.
        self.assert_intact(self.src, port['id'], src_keys)
        shown = self.wait_status(port['id'], 'ACTIVE')
        self.assertEqual(self.src, shown[portbindings.HOST_ID])

    def test_destination_up_tells_nova_and_leaves_the_source_state(self):
        """The source's agent has not answered yet (the port is DOWN and
        blocked): the destination's up must not make it ACTIVE; Nova is
        told the destination is plugged (network-vif-plugged).
        """
        src = self.start_host('late-%s' % uuid.uuid4().hex[:8], agent=False)
        port = self.port(self.network('flat', 'physnet1'), host=src)
        self.assertEqual('DOWN', self.show(port['id'])['status'])
        res = self.create_binding(port['id'], self.dst)
        self.assertEqual(201, res.status_int, res.body)
        self.wait_up(self.dst, port['id'])
        cfg.CONF.set_override('notify_nova_on_port_status_changes', True)
        notifier = mock.Mock()   # Neutron's client of Nova's API
        with mock.patch.object(self.driver, 'nova_notifier', notifier,
                               create=True):
            self.mech.port_up(self.dst, port['id'], 0)

        self.assertEqual('DOWN', self.show(port['id'])['status'])
        [(args, _kw)] = notifier.notify_port_active_direct.call_args_list
        self.assertEqual(port['id'], args[0].id)

    def test_no_free_vhost_on_destination_leaves_source_intact(self):
        net = self.network('flat', 'physnet1')
        for n in range(2):   # take both physnet1 vhosts of the destination
            self.port(net, host=self.dst, mac='fa:16:3e:00:00:0%d' % n)
        port = self.port(net, host=self.src)
        self.wait_status(port['id'], 'ACTIVE')
        src_keys = self.host_keys(self.src, port['id'])

        res = self.create_binding(port['id'], self.dst)

        self.assertEqual(500, res.status_int)
        self.assertIn('Binding for port %s on host %s could not be created '
                      'or updated' % (port['id'], self.dst),
                      res.body.decode())
        self.assertIn('SPP cannot bind port %s on host %s: no free vhost for '
                      'physical network physnet1' % (port['id'], self.dst),
                      self.log.output)
        self.assertEqual({}, self.host_keys(self.dst, port['id']))
        self.assert_intact(self.src, port['id'], src_keys)
        shown = self.show(port['id'])
        self.assertEqual(('ACTIVE', self.src),
                         (shown['status'], shown[portbindings.HOST_ID]))


class TestActivateAndFinish(MigrationCase):

    def test_activate_then_delete_source_binding(self):
        port, src_keys, _binding = self.migrating_port()
        dst_keys = self.host_keys(self.dst, port['id'])
        while not self.ups.empty():   # the destination's up, before
            self.mech.port_up(*self.ups.get())

        res = self.activate(port['id'], self.dst)

        self.assertEqual(200, res.status_int, res.body)
        # ACTIVE at once: the destination had already reported up.
        shown = self.show(port['id'])
        self.assertEqual(('ACTIVE', self.dst),
                         (shown['status'], shown[portbindings.HOST_ID]))
        self.assertEqual('/tmp/sock%d' % self.vhost_id(self.dst, port['id']),
                         shown[portbindings.VIF_DETAILS]['vhostuser_socket'])
        # Activation releases nothing: both hosts keep their vhost until
        # Nova deletes the source's binding.
        self.assertEqual(src_keys, self.host_keys(self.src, port['id']))
        self.assertEqual(dst_keys, self.host_keys(self.dst, port['id']))
        self.migrating_to(port['id'], None)
        self.assertEqual(dst_keys, self.host_keys(self.dst, port['id']))

        self.delete_and_check(port['id'], self.src, self.dst, dst_keys)

        self.assertEqual('ACTIVE', self.show(port['id'])['status'])

    def test_destination_up_after_activation_makes_the_port_active(self):
        """Activation sets the port DOWN; the destination's up, seen only
        afterwards, brings it back to ACTIVE.
        """
        port = self.port(self.network('flat', 'physnet1'), host=self.src)
        self.wait_status(port['id'], 'ACTIVE')
        res = self.create_binding(port['id'], self.dst)
        self.assertEqual(201, res.status_int, res.body)
        # Hide the destination's up from the driver until after the
        # activation, as a slow agent would.
        status_key = keys.port_status(self.dst, port['id'])
        self.wait_up(self.dst, port['id'])
        self.etcd.delete(status_key)
        while not self.ups.empty():
            self.ups.get()

        res = self.activate(port['id'], self.dst)

        self.assertEqual(200, res.status_int, res.body)
        self.assertEqual('DOWN', self.show(port['id'])['status'])
        self.etcd.put(status_key, keys.UP)
        self.wait_status(port['id'], 'ACTIVE')


class TestAbort(MigrationCase):

    def test_deleting_the_inactive_binding_releases_the_destination(self):
        port, src_keys, _binding = self.migrating_port()

        self.delete_and_check(port['id'], self.dst, self.src, src_keys)

        shown = self.show(port['id'])
        self.assertEqual(('ACTIVE', self.src),
                         (shown['status'], shown[portbindings.HOST_ID]))

    def test_port_deleted_during_migration_releases_both_hosts(self):
        port, _src_keys, _binding = self.migrating_port()

        self._delete('ports', port['id'], as_admin=True)

        self.wait_gone(self.dst, port['id'])
        self.wait_gone(self.src, port['id'])
        self.assertEqual([], self.macs(self.src) + self.macs(self.dst))

    def test_late_up_of_the_aborted_attempt_does_not_tell_nova(self):
        """Nova retries the migration to the same destination; the
        destination's ``up`` for the aborted attempt is delivered only
        now (the dispatcher was behind or retrying).  The new binding is
        not wired yet: Nova must not be told it is.
        """
        port, _src_keys, _binding = self.migrating_port()
        stale = self.etcd.get_kv(keys.port_status(self.dst, port['id']))
        res = self.delete_binding(port['id'], self.dst)
        self.assertEqual(204, res.status_int, res.body)
        self.wait_gone(self.dst, port['id'])
        agent = self.hosts[self.dst].agent
        agent.kill()   # the retry's binding stays unwired
        agent.wait(10)
        res = self.create_binding(port['id'], self.dst)
        self.assertEqual(201, res.status_int, res.body)

        cfg.CONF.set_override('notify_nova_on_port_status_changes', True)
        notifier = mock.Mock()
        with mock.patch.object(self.driver, 'nova_notifier', notifier,
                               create=True):
            self.mech.port_up(self.dst, port['id'], stale.mod_revision)

        self.assertEqual([], notifier.notify_port_active_direct.call_args_list)
        self.assertEqual(keys.PLUG, self.etcd.get(
            keys.action(self.dst, port['id'])))


class TestSweepDuringMigration(MigrationCase):

    def test_the_sweep_leaves_both_bindings_alone(self):
        port, src_keys, _binding = self.migrating_port()
        dst_keys = self.host_keys(self.dst, port['id'])

        report = sweep.Sweeper(self.mech.etcd, grace=300).sweep(
            sweep_worker.neutron_lookup)

        self.assertTrue(report.complete)
        self.assertEqual([], [pair for pair in report.unplugged +
                              report.freed + report.waiting
                              if pair[1] == port['id']])
        self.assert_intact(self.src, port['id'], src_keys)
        self.assert_intact(self.dst, port['id'], dst_keys)
