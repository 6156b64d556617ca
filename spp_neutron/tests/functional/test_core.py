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
"""spp_neutron.core against a real etcd, our agent and the emulator."""

import json
import threading
import time
import uuid

from os_vif_accel.testing import etcd as etcd_server
from vif_plug_spp import builder
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import etcd_txn
from vif_plug_spp import keys
from vif_plug_spp.tests.functional import base

from spp_neutron import core
from spp_neutron import errors

MAC = 'fa:16:3e:a0:da:db'


class CoreCase(base.SppCase):

    def setUp(self):
        super().setUp()
        self.binder = core.Binder(self.etcd, release_timeout=5.0)

    def port_keys(self, port_id):
        kvs, _rev = self.etcd.get_prefix(keys.ROOT)
        return {kv.key: kv.value for kv in kvs
                if port_id in kv.key or kv.value == port_id}

    def held(self):
        kvs, _rev = self.etcd.get_prefix(keys.vhost_prefix(self.host))
        return {kv.key: kv.value for kv in kvs if kv.value != keys.FREE}


class TestBind(CoreCase):

    def test_flat_writes_networking_spp_keys(self):
        port = str(uuid.uuid4())
        alloc = self.binder.bind(self.host, port, MAC.upper(), 'phys1')
        self.assertEqual({
            keys.vhost(self.host, 'phys1', alloc.vhost_id): port,
            keys.bind_port(self.host, port): json.dumps(
                {'mac_address': MAC, 'vhost_id': alloc.vhost_id}),
            keys.action(self.host, port): 'plug'}, self.port_keys(port))
        self.assertIn(alloc.vhost_id, (0, 1))   # phys1 owns vhosts 0, 1

    def test_vlan_adds_vlan_id(self):
        port = str(uuid.uuid4())
        alloc = self.binder.bind(self.host, port, MAC, 'phys2', 100)
        self.assertIn(alloc.vhost_id, (2, 3))
        self.assertEqual(
            {'mac_address': MAC, 'vhost_id': alloc.vhost_id, 'vlan_id': 100},
            json.loads(self.etcd.get(keys.bind_port(self.host, port))))

    def test_bind_twice_keeps_one_vhost(self):
        port = str(uuid.uuid4())
        first = self.binder.bind(self.host, port, MAC, 'phys1')
        again = self.binder.bind(self.host, port, MAC, 'phys1')
        self.assertEqual(first.vhost_id, again.vhost_id)
        self.assertEqual(1, len(self.held()))

    def test_no_free_vhost_names_host_and_leaves_nothing(self):
        for _ in range(2):
            self.binder.bind(self.host, str(uuid.uuid4()), MAC, 'phys1')
        port = str(uuid.uuid4())
        exc = self.assertRaises(errors.NoFreeVhost, self.binder.bind,
                                self.host, port, MAC, 'phys1')
        self.assertIn(self.host, str(exc))
        self.assertIn('no free vhost for physical network phys1', str(exc))
        self.assertEqual({}, self.port_keys(port))

    def test_no_nic_for_physnet(self):
        port = str(uuid.uuid4())
        exc = self.assertRaises(errors.NoPhysnet, self.binder.bind,
                                self.host, port, MAC, 'phys9')
        self.assertIn('no NIC for physical network phys9', str(exc))
        self.assertIn('host %s' % self.host, str(exc))
        self.assertIn('phys1, phys2', str(exc))
        self.assertEqual({}, self.port_keys(port))

    def test_not_an_spp_host(self):
        self.assertRaises(errors.NotSppHost, self.binder.bind, 'other-host',
                          str(uuid.uuid4()), MAC, 'phys1')

    def test_etcd_unreachable_names_host(self):
        dead = etcd_mod.EtcdClient('127.0.0.1', etcd_server.free_port(),
                                   retry_window=0.0, connect_timeout=0.2)
        self.addCleanup(dead.close)
        exc = self.assertRaises(errors.EtcdFailed,
                                core.Binder(dead).bind, self.host,
                                str(uuid.uuid4()), MAC, 'phys1')
        self.assertIn('etcd unreachable', str(exc))
        self.assertIn(self.host, str(exc))

    def test_refused_binding_write_gives_the_vhost_back(self):
        # etcd takes the vhost, then refuses the binding keys (an RBAC
        # role that may write vhost/ but not bind_port/): the failure
        # names host and cause, and the vhost is free again at once.
        port = str(uuid.uuid4())
        real_txn_rev = self.binder.etcd.txn_rev

        bind_key = etcd_txn.b64(keys.bind_port(self.host, port))

        def refuse_binding_keys(compare, success, failure=None):
            if any(op.get('request_put', {}).get('key') == bind_key
                   for op in success):
                raise etcd_mod.EtcdPermissionDenied(
                    'neutron', 'kv/txn', 'http://127.0.0.1:2379')
            return real_txn_rev(compare, success, failure)
        self.binder.etcd.txn_rev = refuse_binding_keys
        self.addCleanup(setattr, self.binder.etcd, 'txn_rev', real_txn_rev)
        exc = self.assertRaises(errors.EtcdFailed, self.binder.bind,
                                self.host, port, MAC, 'phys1')
        self.assertIn(self.host, str(exc))
        self.assertIn('permission denied', str(exc))
        self.assertEqual([], [k for k, v in self.held().items()
                              if v == port])
        self.assertEqual({}, self.port_keys(port))

    def test_concurrent_binders_never_share_a_vhost(self):
        ports = [str(uuid.uuid4()) for _ in range(3)]
        got, failed = {}, []

        def bind(port):
            try:
                got[port] = self.binder.bind(self.host, port, MAC,
                                             'phys1').vhost_id
            except errors.NoFreeVhost:
                failed.append(port)
        threads = [threading.Thread(target=bind, args=(p,)) for p in ports]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertEqual(2, len(got))
        self.assertEqual([0, 1], sorted(got.values()))
        self.assertEqual(1, len(failed))
        self.assertEqual({}, self.port_keys(failed[0]))

    def test_same_port_bound_concurrently_holds_one_vhost(self):
        port = str(uuid.uuid4())
        got, failed = [], []

        def bind():
            try:
                got.append(self.binder.bind(self.host, port, MAC,
                                            'phys1').vhost_id)
            except errors.BindError as exc:
                failed.append(exc)
        threads = [threading.Thread(target=bind) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertEqual([], failed)
        self.assertEqual(4, len(got))
        self.assertEqual(1, len(set(got)))
        self.assertEqual([port], list(self.held().values()))


class TestSharedPhysnet(CoreCase):
    # Two NICs on phys1 (reference, Corrections 13): their vhosts are
    # all under vhost/<host>/phys1/.
    mappings = '00:04.0#phys1#1#0x3e,00:05.0#phys1#1#0xfc0'

    def test_vhosts_of_both_nics_are_used(self):
        got = {self.binder.bind(self.host, str(uuid.uuid4()), MAC,
                                'phys1').vhost_id for _ in range(2)}
        self.assertEqual({0, 1}, got)
        self.assertRaises(errors.NoFreeVhost, self.binder.bind, self.host,
                          str(uuid.uuid4()), MAC, 'phys1')


class TestManyBinders(CoreCase):
    # One NIC with 32 vhosts (2 cores each + classifier + merger).
    mappings = '00:04.0#physx#32#%s' % hex((1 << 68) - 2)

    def test_eight_binders_never_share_a_vhost(self):
        results, lock = {}, threading.Lock()

        def bind(worker):
            binder = core.Binder(self.etcd)
            for n in range(5):
                port = '%d-%d-%s' % (worker, n, uuid.uuid4().hex[:6])
                try:
                    vid = binder.bind(self.host, port, MAC, 'physx').vhost_id
                except errors.NoFreeVhost:
                    vid = None
                with lock:
                    results[port] = vid
        threads = [threading.Thread(target=bind, args=(w,))
                   for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        got = {port: vid for port, vid in results.items() if vid is not None}
        self.assertEqual(40, len(results))
        self.assertEqual(list(range(32)), sorted(got.values()))
        self.assertEqual({keys.vhost(self.host, 'physx', vid): port
                          for port, vid in got.items()}, self.held())
        for port in set(results) - set(got):
            self.assertEqual({}, self.port_keys(port))


class TestRelease(CoreCase):

    def test_release_without_agent_action_frees_at_once(self):
        port = str(uuid.uuid4())
        self.etcd.replace(keys.vhost(self.host, 'phys1', 0), keys.FREE,
                          port)   # allocated, binding not yet written
        self.assertEqual('freed', self.binder.release(self.host, port))
        self.assertEqual({}, self.held())
        self.assertEqual('absent', self.binder.release(self.host, port))

    def test_released_while_binding_leaves_nothing(self):
        port = str(uuid.uuid4())
        real_write = self.binder._write

        def write_after_delete(*args):
            self.binder.release(self.host, port)   # the port's delete
            return real_write(*args)
        self.binder._write = write_after_delete
        exc = self.assertRaises(errors.ReleasedWhileBinding,
                                self.binder.bind, self.host, port, MAC,
                                'phys1')
        self.assertIn(self.host, str(exc))
        self.assertEqual({}, self.port_keys(port))

    def test_release_after_write_asks_the_agent(self):
        port = str(uuid.uuid4())
        self.binder.bind(self.host, port, MAC, 'phys1')
        self.assertEqual('unplug', self.binder.release(self.host, port))
        self.assertEqual('unplug',
                         self.etcd.get(keys.action(self.host, port)))
        self.assertEqual('pending', self.binder.release(self.host, port))

    def test_round_trip_through_the_agent(self):
        self.start_agent()
        port = str(uuid.uuid4())
        alloc = self.binder.bind(self.host, port, MAC, 'phys2', 100)
        self.assertTrue(self.binder.wait_up(alloc, 20))
        self.assertEqual([{'type': 'vlan', 'value': '100/' + MAC.upper(),
                           'port': 'ring:%d' % (2 * alloc.vhost_id)}],
                         self.table(2))
        self.binder.release(self.host, port)
        self.wait_for(lambda: not self.port_keys(port), 20,
                      'agent released the port')
        self.assertEqual([], self.table(2))

    def test_mac_change_rebinds_through_the_agent(self):
        self.start_agent()
        port = str(uuid.uuid4())
        first = self.binder.bind(self.host, port, MAC, 'phys1')
        self.assertTrue(self.binder.wait_up(first, 20))
        new_mac = 'fa:16:3e:00:00:01'
        second = self.binder.bind(self.host, port, new_mac, 'phys1')
        self.assertTrue(self.binder.wait_up(second, 20))
        self.assertEqual([new_mac.upper()],
                         [e['value'] for e in self.table(1)])
        self.assertEqual([port], list(self.held().values()))

    def ns_agent_unplug(self, port, pause):
        """networking-spp 21.0.0's agent releasing ``port``: on
        ``action = unplug`` it frees the vhost, then deletes bind_port,
        action and port_status one by one (NS agent/spp_agent.py 386-391),
        here with ``pause`` seconds after the bind_port delete (a slow or
        loaded agent host).
        """
        action_key = keys.action(self.host, port)
        deadline = time.monotonic() + 20
        while self.etcd.get(action_key) != keys.UNPLUG:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.01)
        bind = json.loads(self.etcd.get(keys.bind_port(self.host, port)))
        self.etcd.replace(keys.vhost(self.host, 'phys1', bind['vhost_id']),
                          port, keys.FREE)
        self.etcd.delete(keys.bind_port(self.host, port))
        time.sleep(pause)
        self.etcd.delete(action_key)
        self.etcd.delete(keys.port_status(self.host, port))

    def test_rebind_waits_for_networking_spp_agent_to_finish(self):
        # A MAC change on a host still run by networking-spp's agent: the
        # new binding's action must not be deleted by the old unplug.
        port = str(uuid.uuid4())
        self.binder.bind(self.host, port, MAC, 'phys1')
        agent = threading.Thread(target=self.ns_agent_unplug,
                                 args=(port, 0.5))
        agent.start()
        second = self.binder.bind(self.host, port, 'fa:16:3e:00:00:02',
                                  'phys1')
        agent.join(30)
        self.assertEqual({
            keys.vhost(self.host, 'phys1', second.vhost_id): port,
            keys.bind_port(self.host, port): json.dumps(
                {'mac_address': 'fa:16:3e:00:00:02',
                 'vhost_id': second.vhost_id}),
            keys.action(self.host, port): keys.PLUG}, self.port_keys(port))

    def test_bind_in_the_middle_of_networking_spp_unplug_waits(self):
        # The port was released (unbound) and is bound here again while
        # networking-spp's agent is between its bind_port and action
        # deletes: the new binding must survive the action delete.
        port = str(uuid.uuid4())
        self.binder.bind(self.host, port, MAC, 'phys1')
        self.binder.release(self.host, port)
        agent = threading.Thread(target=self.ns_agent_unplug,
                                 args=(port, 0.5))
        agent.start()
        self.wait_gone(keys.bind_port(self.host, port))
        again = self.binder.bind(self.host, port, MAC, 'phys1')
        agent.join(30)
        self.assertEqual(keys.PLUG, self.etcd.get(keys.action(self.host,
                                                              port)))
        self.assertEqual(port, self.etcd.get(
            keys.vhost(self.host, 'phys1', again.vhost_id)))

    def test_an_unplug_no_agent_finishes_does_not_block_binding(self):
        # action = unplug without bind_port that no agent will delete
        # (both agents skip an action whose bind_port is gone): after
        # release_timeout the bind goes ahead.
        self.binder.release_timeout = 0.3
        port = str(uuid.uuid4())
        self.etcd.put(keys.action(self.host, port), keys.UNPLUG)
        alloc = self.binder.bind(self.host, port, MAC, 'phys1')
        self.assertEqual(keys.PLUG, self.etcd.get(keys.action(self.host,
                                                              port)))
        self.assertEqual(port, self.etcd.get(
            keys.vhost(self.host, 'phys1', alloc.vhost_id)))

    def wait_gone(self, key):
        deadline = time.monotonic() + 20
        while self.etcd.get(key) is not None:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.005)

    def test_earlier_binding_without_agent_fails_clearly(self):
        self.binder.release_timeout = 0.5
        port = str(uuid.uuid4())
        self.binder.bind(self.host, port, MAC, 'phys1')
        exc = self.assertRaises(errors.ReleasePending, self.binder.bind,
                                self.host, port, 'fa:16:3e:00:00:02',
                                'phys1')
        self.assertIn('host %s' % self.host, str(exc))
        self.assertIn('is the agent running', str(exc))


class TestConfiguration(base.EtcdClassCase):

    def test_physnets_of_a_host(self):
        builder.write(self.etcd, self.host,
                      builder.build(base.MAPPINGS))
        self.assertEqual(['phys1', 'phys2'],
                         core.Binder(self.etcd).physnets(self.host))

    def test_bad_configuration_is_named(self):
        self.etcd.put(keys.configuration(self.host), '[1]')
        exc = self.assertRaises(errors.BadConfiguration,
                                core.Binder(self.etcd).physnets, self.host)
        self.assertIn(keys.configuration(self.host), str(exc))
