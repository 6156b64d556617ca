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
"""Failover between endpoints, against a real etcd.

A second member is stood for by a TCP forwarder to the same real etcd
(:class:`os_vif_accel.testing.tcpproxy.TcpProxy`): it can die or lose
answers while the writes it forwarded are applied for real.  The
three-member cluster with members killed for real is the chaos tests'.
"""

import io
import os
import threading
import uuid
from contextlib import redirect_stderr
from contextlib import redirect_stdout
from unittest import mock

from os_vif_accel.testing import etcd as etcd_server
from os_vif_accel.testing import tcpproxy
from vif_plug_spp.cmd import config_build
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import keys
from vif_plug_spp.tests.functional import base


class FailoverCase(base.EtcdClassCase):

    def setUp(self):
        super().setUp()
        self.prefix = '/t/%s/' % uuid.uuid4().hex[:8]
        self.direct = self.server.url

    def proxy(self, **kwargs):
        proxy = tcpproxy.TcpProxy((self.server.host, self.server.port),
                                  **kwargs)
        self.addCleanup(proxy.kill)
        return proxy

    def client(self, *urls, **kwargs):
        client = etcd_mod.EtcdClient(endpoints=list(urls), **kwargs)
        self.addCleanup(client.close)
        return client


class TestUnaryFailover(FailoverCase):

    def test_first_endpoint_dead(self):
        dead = 'http://127.0.0.1:%d' % etcd_server.free_port()
        client = self.client(dead, self.direct)
        client.put(self.prefix + 'k', 'v')
        self.assertEqual('v', client.get(self.prefix + 'k'))
        # The member that answered is preferred from now on.
        self.assertEqual(self.direct, client.url)

    def test_member_dies_between_requests(self):
        proxy = self.proxy()
        client = self.client(proxy.url(), self.direct)
        client.put(self.prefix + 'k', 'v1')
        self.assertEqual(proxy.url(), client.url)
        proxy.kill()
        client.put(self.prefix + 'k', 'v2')
        self.assertEqual('v2', client.get(self.prefix + 'k'))
        self.assertEqual(self.direct, client.url)

    def test_all_members_down_names_each(self):
        dead = ['http://127.0.0.1:%d' % etcd_server.free_port()
                for _ in range(2)]
        client = self.client(*dead, retry_window=0.2)
        exc = self.assertRaises(etcd_mod.EtcdUnavailable, client.get, 'k')
        for url in dead:
            self.assertIn(url, str(exc))

    def test_read_with_lost_answer_is_read_again_elsewhere(self):
        self.etcd.put(self.prefix + 'k', 'v')
        proxy = self.proxy(lose_answers=True)
        client = self.client(proxy.url(), self.direct)
        self.assertEqual('v', client.get(self.prefix + 'k'))
        self.assertEqual(self.direct, client.url)


class TestLostAnswers(FailoverCase):
    """Writes whose answer was lost after they were sent."""

    def setUp(self):
        super().setUp()
        self.lossy = self.proxy(lose_answers=True)
        self.client = self.client(self.lossy.url(), self.direct)
        self.client._api_path = '/v3/'   # no /version call to lose

    def test_put_is_not_sent_again(self):
        key = self.prefix + 'k'
        exc = self.assertRaises(etcd_mod.EtcdOutcomeUnknown,
                                self.client.put, key, 'v')
        self.assertIn(self.lossy.url(), str(exc))
        self.assertIn('not sent again', str(exc))
        kv = self.etcd.get_kv(key)
        # Applied exactly once: created and last modified by one write.
        self.assertEqual(('v', kv.create_revision), (kv.value,
                                                     kv.mod_revision))

    def test_cas_that_applied_is_recognised(self):
        # The agent's vhost claim: None -> port.  Resending it would fail
        # its compare and report a conflict for the vhost it just won.
        key = self.prefix + 'vhost/1'
        rev = self.etcd.put(key, 'None')
        self.assertTrue(self.client.replace(key, 'None', 'port-a'))
        kv = self.etcd.get_kv(key)
        self.assertEqual(('port-a', rev + 1), (kv.value, kv.mod_revision))

    def test_cas_that_lost_is_still_a_conflict(self):
        key = self.prefix + 'vhost/1'
        self.etcd.put(key, 'port-b')
        self.assertFalse(self.client.replace(key, 'None', 'port-a'))
        self.assertEqual('port-b', self.etcd.get(key))

    def test_guarded_multi_key_txn_recognised_with_its_revision(self):
        c, p = self.client, self.prefix
        self.etcd.put(p + 'action', 'plug')
        ok, rev = c.txn_rev([c.cmp_value(p + 'action', 'plug')],
                            [c.op_put(p + 'a', '1'), c.op_put(p + 'b', '2'),
                             c.op_delete(p + 'gone')])
        self.assertTrue(ok)
        self.assertEqual(rev, self.etcd.get_kv(p + 'a').mod_revision)
        self.assertEqual(rev, self.etcd.get_kv(p + 'b').mod_revision)

    def test_unguarded_txn_outcome_unknown(self):
        c = self.client
        self.assertRaises(etcd_mod.EtcdOutcomeUnknown, c.txn, [],
                          [c.op_put(self.prefix + 'x', '1')])


class TestWatchFailover(FailoverCase):

    def test_watch_resumes_on_the_next_member_without_loss(self):
        proxy = self.proxy()
        client = self.client(proxy.url(), self.direct)
        _kvs, rev = self.etcd.get_prefix(self.prefix)
        watch = client.watch_prefix(self.prefix, rev + 1, idle_timeout=1.0)
        self.addCleanup(watch.stop)
        got, done = [], threading.Event()

        def consume():
            for event in watch:
                got.append((event.key, event.value, event.revision))
                if len(got) == 6:
                    done.set()
                    return
        threading.Thread(target=consume, daemon=True).start()
        self.assertTrue(watch.created.wait(10))
        for n in range(3):
            self.etcd.put(self.prefix + str(n), str(n))
        self.wait_for(lambda: len(got) == 3, what='3 events')
        proxy.kill()
        for n in range(3, 6):
            self.etcd.put(self.prefix + str(n), str(n))
        self.assertTrue(done.wait(20), got)
        self.assertEqual([self.prefix + str(n) for n in range(6)],
                         [key for key, _v, _r in got])
        revs = [r for _k, _v, r in got]
        self.assertEqual(sorted(set(revs)), revs)   # no doubles
        self.assertEqual(self.direct, watch.member.url)


class TestBuilderLostAnswer(FailoverCase):
    """spp-config-build while the member it writes to dies after
    receiving a write (its answer lost).
    """

    def build(self, *urls, host):
        err = io.StringIO()
        env = {'ETCD_ENDPOINTS': ','.join(urls)}
        with mock.patch.dict(os.environ, env), redirect_stderr(err), \
                redirect_stdout(io.StringIO()):
            rc = config_build.main(['--host', host,
                                    '--mappings', base.MAPPINGS])
        self.assertEqual(0, rc, err.getvalue())
        return err.getvalue()

    def lossy(self):
        return self.proxy(lose_when=lambda data: b'request_put' in data)

    def test_first_build_settled(self):
        host = 'b-%s' % uuid.uuid4().hex[:8]
        proxy = self.lossy()
        err = self.build(proxy.url(), self.direct, host=host)
        self.assertNotIn('reading the keys again', err)   # settled
        self.assertEqual(1, proxy.lost)
        self.assertIsNotNone(self.etcd.get(keys.configuration(host)))
        slots, _rev = self.etcd.get_prefix(keys.vhost_prefix(host))
        self.assertEqual(4, len(slots))
        for kv in slots:   # each written once, by the lost transaction
            self.assertEqual((keys.FREE, kv.create_revision),
                             (kv.value, kv.mod_revision))

    def test_rebuild_with_unguarded_write_reads_again(self):
        host = 'b-%s' % uuid.uuid4().hex[:8]
        self.build(self.direct, host=host)
        proxy = self.lossy()
        err = self.build(proxy.url(), self.direct, host=host)
        self.assertEqual(1, proxy.lost)
        self.assertIn('may have been applied', err)
        self.assertIn('reading the keys again', err)
        slots, _rev = self.etcd.get_prefix(keys.vhost_prefix(host))
        self.assertEqual([keys.FREE] * 4, [kv.value for kv in slots])
