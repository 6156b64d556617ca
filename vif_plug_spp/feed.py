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
"""What feeds the agent's work queue: snapshots and watches of
``action/<host>/`` (and ``tap_action/<host>/``), and full replays.

Each watch starts at the revision of the snapshot that queued every
existing key, and :class:`vif_plug_spp.etcd_watch.Watch` resumes it from
the last delivered revision after drops and etcd restarts, so no event
is missed; a compacted revision or an unexpected error re-snapshots.
Queue items are :class:`Work` values, so a port id can never be taken
for a tap flow id.
"""

from __future__ import annotations

import dataclasses
import enum
import queue
import threading

from oslo_log import log as logging

from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import etcd_watch
from vif_plug_spp import intake
from vif_plug_spp import keys

LOG = logging.getLogger(__name__)

__all__ = ['Kind', 'Work', 'Feed']


class Kind(enum.Enum):
    PORT = 'port'      # id: a port id under action/<host>/
    TAP = 'tap'        # id: a tap flow id under tap_action/<host>/
    RESYNC = 'resync'  # id: why every action is to be replayed


@dataclasses.dataclass(frozen=True)
class Work:
    """One item of the agent's queue (hashable: also a retry key)."""

    kind: Kind
    id: str = ''


_WHAT = {Kind.PORT: 'port id', Kind.TAP: 'tap flow id'}


class Feed:
    """Watch threads of one host putting :class:`Work` on a queue."""

    def __init__(self, etcd: etcd_mod.EtcdClient, host: str,
                 stop: threading.Event, backoff_max: float = 5.0,
                 watch_idle_timeout: float = 10.0) -> None:
        keys.action_prefix(host)  # validates the host name
        self.etcd = etcd
        self.host = host
        self.queue: queue.Queue[Work] = queue.Queue()
        self.ready = threading.Event()
        self.backoff_max = backoff_max
        self.watch_idle_timeout = watch_idle_timeout
        self._stop = stop
        self._kinds = [Kind.PORT]
        self._watches: list[etcd_watch.Watch] = []
        self._pending_ready = 1
        self._ready_lock = threading.Lock()

    def _prefix(self, kind: Kind) -> str:
        if kind is Kind.TAP:
            return keys.tap_action_prefix(self.host)
        return keys.action_prefix(self.host)

    def put(self, work: Work) -> None:
        self.queue.put(work)

    def _enqueue(self, kind: Kind, key: str) -> None:
        item = intake.item_id(key, self._prefix(kind), _WHAT[kind])
        if item is not None:
            self.queue.put(Work(kind, item))

    def start(self, taps: bool) -> list[threading.Thread]:
        """Start one watch thread per prefix (``tap_action`` too when
        ``taps``); :attr:`ready` is set once every watch exists.
        """
        self._kinds = [Kind.PORT, Kind.TAP] if taps else [Kind.PORT]
        self._pending_ready = len(self._kinds)
        threads = [threading.Thread(target=self._watch_loop, args=(kind,),
                                    name='spp-agent-watch-%s' % kind.value,
                                    daemon=True)
                   for kind in self._kinds]
        for thread in threads:
            thread.start()
        return threads

    def stop(self) -> None:
        """End the watches (the caller sets the shared stop event) and
        wake the queue's reader.
        """
        for watch in list(self._watches):
            watch.stop()
        self.queue.put(Work(Kind.RESYNC, 'stopping'))

    def replay(self) -> None:
        """Queue every key of every watched prefix (raises EtcdError
        before queuing anything when etcd does not answer).
        """
        found = [(kind, self.etcd.get_prefix(self._prefix(kind))[0])
                 for kind in self._kinds]
        for kind, kvs in found:
            for kv in kvs:
                self._enqueue(kind, kv.key)

    def _snapshot(self, kind: Kind) -> int:
        """Queue every key under the prefix; the snapshot revision."""
        prefix = self._prefix(kind)
        delay = 0.1
        while not self._stop.is_set():
            try:
                kvs, rev = self.etcd.get_prefix(prefix)
                for kv in kvs:
                    self._enqueue(kind, kv.key)
                return rev
            except etcd_mod.EtcdError as exc:
                LOG.warning('Cannot read %s (%s); retrying in %.1fs',
                            prefix, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_max)
        return 0

    def _watch_ready(self) -> None:
        with self._ready_lock:
            self._pending_ready -= 1
            if self._pending_ready <= 0:
                self.ready.set()

    def _watch_loop(self, kind: Kind) -> None:
        first = True
        while not self._stop.is_set():
            rev = self._snapshot(kind)
            watch = self.etcd.watch_prefix(
                self._prefix(kind), rev + 1,
                idle_timeout=self.watch_idle_timeout,
                backoff_max=self.backoff_max)
            self._watches.append(watch)
            if first:
                first = False
                self._watch_ready()
            if self._stop.is_set():
                watch.stop()
            try:
                self._follow(kind, watch)
            finally:
                self._watches.remove(watch)

    def _follow(self, kind: Kind, watch: etcd_watch.Watch) -> None:
        """Queue every plug/unplug the watch delivers until it ends."""
        prefix = self._prefix(kind)
        try:
            for event in watch:
                if event.value in (keys.PLUG, keys.UNPLUG):
                    self._enqueue(kind, event.key)
        except etcd_mod.WatchCompacted as exc:
            LOG.warning('%s; replaying every key under %s', exc, prefix)
        except etcd_mod.EtcdConfigError as exc:
            # Refused (TLS, credentials, role): the text names the
            # endpoint, user and prefix; a traceback every second would
            # bury it.  Kept trying: a role can be granted meanwhile.
            LOG.error('Watch on %s refused: %s; retrying in %.1fs',
                      prefix, exc, self.backoff_max)
            self._stop.wait(self.backoff_max)
        except Exception:  # never let a watch thread die silently
            LOG.exception('Watch on %s failed; re-creating it', prefix)
            self._stop.wait(1.0)
