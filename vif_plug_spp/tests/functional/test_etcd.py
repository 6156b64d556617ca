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
"""The etcd client against a real etcd (started per test class)."""

import signal
import socket
import threading
import time
import uuid

from os_vif_accel.testing import etcd as etcd_server
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp.tests.functional import base


class EtcdCase(base.EtcdClassCase):

    def setUp(self):
        super().setUp()
        self.prefix = '/t/%s/' % uuid.uuid4().hex[:8]
        self.client = self.etcd


class TestUnary(EtcdCase):

    def test_put_get_prefix_sorted_as_bytes(self):
        p = self.prefix
        for n in ('2', '10', '1'):
            self.client.put(p + n, 'v' + n)
        kvs, rev = self.client.get_prefix(p)
        self.assertEqual([p + '1', p + '10', p + '2'], [k.key for k in kvs])
        self.assertGreater(rev, 0)
        self.assertEqual('v2', self.client.get(p + '2'))
        self.assertIsNone(self.client.get(p + '3'))

    def test_cas(self):
        key = self.prefix + 'slot'
        self.client.put(key, 'None')
        self.assertTrue(self.client.replace(key, 'None', 'port-a'))
        self.assertFalse(self.client.replace(key, 'None', 'port-b'))
        self.assertEqual('port-a', self.client.get(key))
        # Put only if absent; delete only while it holds a value.
        c, new = self.client, self.prefix + 'new'
        self.assertTrue(c.txn([c.cmp_absent(new)], [c.op_put(new, 'x')]))
        self.assertFalse(c.txn([c.cmp_absent(new)], [c.op_put(new, 'y')]))
        self.assertFalse(c.txn([c.cmp_value(key, 'other')],
                               [c.op_delete(key)]))
        self.assertTrue(c.txn([c.cmp_value(key, 'port-a')],
                              [c.op_delete(key)]))

    def test_read_many_in_one_snapshot(self):
        self.client.put(self.prefix + 'a', '1')
        self.client.put(self.prefix + 'd/x', '2')
        found = self.client.read([self.prefix + 'a', self.prefix + 'b'],
                                 [self.prefix + 'd/'])
        self.assertEqual({self.prefix + 'a': '1', self.prefix + 'd/x': '2'},
                         found)

    def test_delete_prefix_needs_trailing_slash(self):
        self.client.put(self.prefix + 'h1/a', '1')
        self.client.put(self.prefix + 'h10/a', '1')
        self.assertRaises(ValueError, self.client.delete_prefix,
                          self.prefix + 'h1')
        self.assertEqual(1, self.client.delete_prefix(self.prefix + 'h1/'))
        self.assertEqual('1', self.client.get(self.prefix + 'h10/a'))

    def test_unreachable_is_bounded(self):
        client = etcd_mod.EtcdClient('127.0.0.1', etcd_server.free_port(),
                                     retry_window=0.2, api_path='/v3/')
        start = time.monotonic()
        self.assertRaises(etcd_mod.EtcdUnavailable, client.get, 'x')
        self.assertLess(time.monotonic() - start, 5)


class TestWatch(EtcdCase):

    def _collect(self, watch):
        events = []

        def run():
            try:
                for ev in watch:
                    events.append(ev)
            except etcd_mod.WatchCompacted as exc:
                events.append(exc)
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(watch.stop)
        return events, thread

    def test_restart_loses_and_duplicates_nothing(self):
        _kvs, rev = self.client.get_prefix(self.prefix)
        watch = self.client.watch_prefix(self.prefix, rev + 1,
                                          idle_timeout=1.0, backoff_max=0.2)
        events, _thread = self._collect(watch)
        for i in range(5):
            self.client.put(self.prefix + str(i), 'v%d' % i)
        self.wait_for(lambda: len(events) >= 3, what='first events')
        self.server.restart(down_for=0.3)
        for i in range(5, 10):
            self.client.put(self.prefix + str(i), 'v%d' % i)
        self.client.delete(self.prefix + '0')
        self.wait_for(lambda: len(events) >= 11, what='all events')
        time.sleep(0.3)
        self.assertEqual(['v%d' % i for i in range(10)] + [None],
                         [e.value for e in events])
        self.assertEqual('DELETE', events[-1].type)
        revs = [e.revision for e in events]
        self.assertEqual(sorted(set(revs)), revs)
        self.assertGreaterEqual(watch.reconnects, 1)

    def test_events_before_watch_start_revision_are_replayed(self):
        _kvs, rev = self.client.get_prefix(self.prefix)
        self.client.put(self.prefix + 'early', 'e')
        watch = self.client.watch_prefix(self.prefix, rev + 1)
        events, _thread = self._collect(watch)
        self.wait_for(lambda: events, what='early event')
        self.assertEqual('e', events[0].value)

    def test_idle_watch_outlives_the_old_10s_timeout(self):
        # Before, a watch re-created its stream after every 10 s of
        # silence.  Now silence costs one liveness probe, not a stream.
        _kvs, rev = self.client.get_prefix(self.prefix)
        watch = self.client.watch_prefix(self.prefix, rev + 1,
                                          idle_timeout=10.0)
        events, _thread = self._collect(watch)
        self.wait_for(lambda: watch.probes >= 1, timeout=30,
                      what='a liveness probe after 10 s of silence')
        self.wait_for(lambda: watch.probes >= 2, timeout=30,
                      what='a second probe')
        self.assertEqual((1, 0, 0), (watch.streams, watch.reconnects,
                                     watch.probe_failures))
        self.client.put(self.prefix + 'late', 'x')
        self.wait_for(lambda: events, what='event after the idle period')
        self.assertEqual(['x'], [e.value for e in events])
        self.assertEqual(1, watch.streams)

    def _started(self, idle_timeout):
        """A watch from now on, confirmed by etcd; and its events."""
        _kvs, rev = self.client.get_prefix(self.prefix)
        watch = self.client.watch_prefix(self.prefix, rev + 1,
                                          idle_timeout=idle_timeout)
        events, _thread = self._collect(watch)
        self.wait_for(watch.created.is_set, what='watch created')
        return watch, events

    def test_no_probe_while_other_calls_are_answered(self):
        watch, _events = self._started(0.5)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            self.client.get(self.prefix + 'busy')
            time.sleep(0.1)
        self.assertEqual((0, 1), (watch.probes, watch.streams))
        self.wait_for(lambda: watch.probes >= 1, what='probe once quiet')

    def test_stream_socket_has_tcp_keepalive(self):
        watch, _events = self._started(6.0)
        sock = watch._stream.sock
        self.assertEqual(1, sock.getsockopt(socket.SOL_SOCKET,
                                            socket.SO_KEEPALIVE))
        self.assertEqual(6, sock.getsockopt(socket.IPPROTO_TCP,
                                            socket.TCP_KEEPIDLE))

    def test_idle_timeout_beyond_the_keepalive_range(self):
        # TCP_KEEPIDLE takes at most 32767 s; a larger option must not
        # turn into a stream that fails to open over and over.
        watch, events = self._started(1e6)
        self.client.put(self.prefix + 'k', 'v')
        self.wait_for(lambda: events, what='event')
        self.assertEqual((1, 0), (watch.streams, watch.reconnects))
        self.assertEqual(32767, watch._stream.sock.getsockopt(
            socket.IPPROTO_TCP, socket.TCP_KEEPIDLE))

    def test_hung_etcd_is_noticed_and_resumed_exactly_once(self):
        _kvs, rev = self.client.get_prefix(self.prefix)
        watch = self.client.watch_prefix(self.prefix, rev + 1,
                                          idle_timeout=0.5, backoff_max=0.2)
        events, _thread = self._collect(watch)
        self.client.put(self.prefix + 'a', '1')
        self.wait_for(lambda: len(events) == 1, what='first event')
        self.server.proc.send_signal(signal.SIGSTOP)
        self.addCleanup(self.server.proc.send_signal, signal.SIGCONT)
        self.wait_for(lambda: watch.probe_failures >= 1, timeout=30,
                      what='failed liveness probe')
        self.server.proc.send_signal(signal.SIGCONT)
        self.client.put(self.prefix + 'b', '2')
        self.client.delete(self.prefix + 'a')
        self.wait_for(lambda: len(events) >= 3, what='events after resume')
        time.sleep(0.3)
        self.assertEqual([('PUT', '1'), ('PUT', '2'), ('DELETE', None)],
                         [(e.type, e.value) for e in events])
        self.assertGreaterEqual(watch.streams, 2)

    def test_compacted_revision_is_reported(self):
        first = self.client.put(self.prefix + 'a', '1')
        last = self.client.put(self.prefix + 'a', '2')
        self.client.call('kv/compaction', {'revision': str(last)})
        watch = self.client.watch_prefix(self.prefix, first)
        events, thread = self._collect(watch)
        thread.join(10)
        self.assertIsInstance(events[-1], etcd_mod.WatchCompacted)

    def test_stop_ends_iteration(self):
        watch = self.client.watch_prefix(self.prefix, 1, idle_timeout=30)
        _events, thread = self._collect(watch)
        time.sleep(0.2)
        watch.stop()
        thread.join(5)
        self.assertFalse(thread.is_alive())
