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
"""Port states written by the agents: one watch for every host.

networking-spp's driver opened one ``watch_once`` per port after its
writes, inside ``bind_port``, for up to 20 s (networking-spp 0170ff7
networking_spp/mech_driver/mech_spp.py 33, 62-63, 110-115): a
thread per binding, and an ``up`` written before the watch existed was
missed.  :class:`StatusWatcher` is one watch on ``port_status/`` of all
hosts for the whole server: it first reads every state (an ``up`` written
while neutron-server was down is still delivered), then watches from the
revision of that read; :class:`vif_plug_spp.etcd_watch.Watch` resumes
from the last delivered revision after a dropped stream or an etcd
restart, and a compacted revision makes it read everything again.
Callbacks run on one dispatcher thread (a slow database never stalls the
stream) and a failing one is retried with backoff.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable

from oslo_log import log as logging

from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import etcd_watch
from vif_plug_spp import intake
from vif_plug_spp import keys

LOG = logging.getLogger(__name__)

__all__ = ['StatusWatcher', 'wait_for', 'OnUp']

#: ``on_up(host, port_id, revision)``; raising makes it be retried.
OnUp = Callable[[str, str, int], None]


def wait_for(client: etcd_mod.EtcdClient, key: str,
             done: Callable[[str | None, int], bool], start_revision: int,
             timeout: float) -> bool:
    """True once ``done(value, revision)`` holds for ``key`` (value None:
    absent or deleted), from one read on - nothing is missed between the
    read and the watch; False after ``timeout`` seconds.
    """
    kv, rev = client.get_kv_rev(key)
    if done(kv.value if kv else None, kv.mod_revision if kv else rev):
        return True
    watch = client.watch_key(key, max(rev, start_revision) + 1,
                             idle_timeout=min(timeout, 10.0))
    timer = threading.Timer(timeout, watch.stop)
    timer.daemon = True
    timer.start()
    try:
        for event in watch:
            if done(event.value, event.revision):
                return True
        return False
    finally:
        timer.cancel()
        watch.stop()


class StatusWatcher:
    """Calls ``on_up`` for every ``port_status/<host>/<port> = up``.

    ``revision`` is the highest revision whose events were all handed to
    the dispatcher; ``ready`` is set once the first read is done and the
    watch is open.
    """

    def __init__(self, client: etcd_mod.EtcdClient, on_up: OnUp,
                 idle_timeout: float = 10.0, backoff_max: float = 5.0
                 ) -> None:
        self.etcd = client
        self.on_up = on_up
        self.idle_timeout = idle_timeout
        self.backoff_max = backoff_max
        self.revision = 0
        self.resyncs = 0
        self.delivered = 0
        self.ready = threading.Event()
        #: Set by :meth:`stop`.
        self.stopped = self._stop = threading.Event()
        self._watch: etcd_watch.Watch | None = None
        self._queue: queue.Queue[tuple[str, str, int] | None] = queue.Queue()
        #: Ports whose callback failed, retried with the agent's backoff;
        #: ``_pending`` holds the newest revision each one is retried at.
        self._retry: intake.RetrySet[tuple[str, str]] = intake.RetrySet(
            backoff_max)
        self._pending: dict[tuple[str, str], int] = {}
        self._threads: list[threading.Thread] = []

    def start(self) -> 'StatusWatcher':
        for target, name in ((self._watch_loop, 'spp-status-watch'),
                             (self._dispatch_loop, 'spp-status-dispatch')):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        watch = self._watch
        if watch is not None:
            watch.stop()
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)

    # -- watching -----------------------------------------------------------
    def _offer(self, key: str, value: str | None, revision: int) -> None:
        if value != keys.UP:
            return
        try:
            host, port_id = keys.parse_port_status(key)
        except ValueError as exc:   # InvalidKeyPart is a ValueError
            LOG.warning('Ignoring %s: %s', key, exc)
            return
        self._queue.put((host, port_id, revision))

    def _read_all(self) -> int:
        """Offer every current ``up``; the revision of the read."""
        delay = 0.1
        while not self._stop.is_set():
            try:
                kvs, rev = self.etcd.get_prefix(keys.port_status_root())
            except etcd_mod.EtcdError as exc:
                LOG.warning('Cannot read %s (%s); retrying in %.1fs',
                            keys.port_status_root(), exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            for kv in kvs:
                self._offer(kv.key, kv.value, kv.mod_revision)
            return rev
        return 0

    def _watch_loop(self) -> None:
        while not self._stop.is_set():
            self.revision = self._read_all()
            self.resyncs += 1
            watch = self.etcd.watch_prefix(
                keys.port_status_root(), self.revision + 1,
                idle_timeout=self.idle_timeout, backoff_max=self.backoff_max)
            self._watch = watch
            if self._stop.is_set():
                watch.stop()
            self.ready.set()
            try:
                for event in watch:
                    self._offer(event.key, event.value, event.revision)
                    self.revision = event.revision
            except etcd_mod.WatchCompacted as exc:
                LOG.warning('%s; reading every port state again', exc)
            except Exception:  # never let the watch thread die silently
                LOG.exception('Port state watch failed; re-creating it')
                self._stop.wait(1.0)

    # -- dispatching ----------------------------------------------------
    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=max(self._retry.wait(), 0.01))
            except queue.Empty:
                item = None
            if self._stop.is_set():
                return
            if item is not None:
                # A newer revision of the same port replaces its retry.
                self._retry.done(item[:2])
                self._deliver(item[0], item[1], item[2], 0.1)
            for port, delay in self._retry.due():
                self._retry.done(port)
                self._deliver(port[0], port[1], self._pending[port], delay)

    def _deliver(self, host: str, port_id: str, revision: int,
                 delay: float) -> None:
        try:
            self.on_up(host, port_id, revision)
            self.delivered += 1
        except Exception as exc:
            LOG.warning('Port %s on %s is up but handling it failed (%s); '
                        'retrying in %.1fs', port_id, host, exc, delay)
            self._pending[(host, port_id)] = revision
            self._retry.failed((host, port_id), delay)
            return
        self._pending.pop((host, port_id), None)
