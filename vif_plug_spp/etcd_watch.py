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
"""An etcd watch that resumes without loss and stays up while idle.

A quiet stream is normal: etcd sends a progress notification to an idle
watch only every 10 minutes plus up to 10 % jitter (etcd v3.4.23
``etcdserver/api/v3rpc/watch.go`` 86-101; the first one arrives one full
interval after the watch had no events, 540-555), so silence alone says
nothing about the stream.  A watch that re-created itself after every 10 s
of silence (what this client did before) costs etcd a new stream and a
catch-up every 10 s per idle watch.  Instead, when the stream has been
silent for ``idle_timeout``:

* the kernel keeps probing the connection (TCP keepalive), so a peer that
  vanished without closing the connection is reported to the reader;
* one cheap unary ``maintenance/status`` call asks the member whether it
  is alive and has a leader - unless any other call of the same client
  was answered meanwhile; only a failed probe re-creates the stream;
* ``stall_timeout`` (default 25 min, above two progress intervals) is the
  last resort for a stream that stays silent while the member answers.

etcd >= 3.4 also has ``progress_request``, but its JSON gateway answers a
watch call only after it has read the whole request body (observed on
Debian's 3.4.23), so the request can only travel with the create request
and cannot ask a live stream for progress.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any, Iterator

from oslo_log import log as logging

from os_vif_accel import http as accel_http
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import etcd_auth
from vif_plug_spp import etcd_endpoints
from vif_plug_spp import etcdkv

LOG = logging.getLogger(__name__)

__all__ = ['Watch', 'STALL_TIMEOUT']

STALL_TIMEOUT = 1500.0
_KEEPALIVE_COUNT = 3


class _Renewed(ConnectionResetError):
    """etcd refused the watch's expired token; it was dropped, so the
    watch is re-created at once with a new one (same member).
    """


class _Liveness:
    """Watches over one open stream from a helper thread; closes it when
    the member stops answering, so the reader resumes elsewhere.
    """

    def __init__(self, watch: 'Watch', stream: accel_http.Stream) -> None:
        self.watch = watch
        self.stream = stream
        self.heard = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='etcd-watch-liveness')

    def start(self) -> '_Liveness':
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()

    def _quiet_for(self) -> float:
        member = self.watch.member
        answer = member.last_answer if member is not None else 0.0
        return time.monotonic() - max(self.heard, answer)

    def _run(self) -> None:
        idle = self.watch.idle_timeout
        while not self._done.wait(max(idle - self._quiet_for(), 0.05)):
            # One probe at a time per client: the watches of one agent
            # wake together, and one answer proves the member to all.
            with self.watch.client.probe_lock:
                if self._quiet_for() < idle:
                    continue
                reason = self.watch.probe()
            if reason is None:
                continue
            if self._done.is_set():
                return
            LOG.warning('etcd watch on %s: no message for %.1fs and %s; '
                        're-creating the watch from revision %d',
                        self.watch.prefix, idle, reason,
                        self.watch.revision + 1)
            self.watch.probe_failures += 1
            self.watch.closed_by_probe = True
            if self.watch.member is not None:
                self.watch.client.members.failed(self.watch.member)
            self.stream.close()
            return


class Watch:
    """Events under a prefix from ``start_revision`` on, forever.

    Iterating yields :class:`vif_plug_spp.etcd.Event` objects in revision
    order.  A dropped stream, an etcd restart, a failed liveness probe
    after ``idle_timeout`` seconds of silence or ``stall_timeout`` seconds
    without any message make the watch reconnect, with backoff, from the
    last delivered revision + 1; events already delivered are filtered
    out.  Only :meth:`stop` ends the iteration;
    :class:`vif_plug_spp.etcd.WatchCompacted` is raised when the resume
    revision no longer exists.  ``streams``, ``reconnects`` and ``probes``
    count stream creations, re-creations and liveness probes.
    """

    def __init__(self, client: etcd_mod.EtcdClient, prefix: str,
                 start_revision: int, idle_timeout: float = 10.0,
                 backoff_max: float = 2.0, is_prefix: bool = True,
                 stall_timeout: float = STALL_TIMEOUT) -> None:
        self.client = client
        self.prefix = prefix
        self.is_prefix = is_prefix
        # Highest revision whose events were all delivered.
        self.revision = max(int(start_revision) - 1, 0)
        self.idle_timeout = idle_timeout
        self.stall_timeout = stall_timeout
        self.backoff_max = backoff_max
        self.streams = 0
        self.reconnects = 0
        self.probes = 0
        self.probe_failures = 0
        self.closed_by_probe = False
        self._stopped = threading.Event()
        # Set once etcd confirmed the (first) watch creation.
        self.created = threading.Event()
        self._stream: accel_http.Stream | None = None
        # The member the stream is on, and the credentials it carries.
        self.member: etcd_endpoints.Member | None = None
        self._headers: dict[str, str] = {}
        self._lock = threading.Lock()
        self._pending_top = self.revision
        self._healthy = False

    def stop(self) -> None:
        """End the iteration, also from another thread."""
        self._stopped.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def probe(self) -> str | None:
        """None if the stream's member answers and has a leader, else
        why not.
        """
        self.probes += 1
        if self.member is None:
            return None
        try:
            status = self.client.status_of(self.member)
        except etcd_mod.EtcdError as exc:
            return 'etcd did not answer a liveness probe (%s)' % exc
        if str(status.get('leader') or '0') == '0':
            return 'the etcd member has no leader'
        return None

    def _keepalive(self, stream: accel_http.Stream) -> None:
        sock = stream.sock
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        # Linux takes 1..32767 s (net/ipv4/tcp.c MAX_TCP_KEEPIDLE/INTVL).
        idle = min(max(1, int(self.idle_timeout)), 32767)
        interval = max(1, idle // _KEEPALIVE_COUNT)
        for name, value in (('TCP_KEEPIDLE', idle),
                            ('TCP_KEEPINTVL', interval),
                            ('TCP_KEEPCNT', _KEEPALIVE_COUNT)):
            if hasattr(socket, name):   # Linux; elsewhere the defaults
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name),
                                value)

    def _open(self) -> accel_http.Stream:
        req = etcd_mod._range_req(self.prefix, self.is_prefix)
        req.update({'start_revision': str(self.revision + 1),
                    'progress_notify': True})
        # etcd answers the call at once: wait no longer than for any
        # other answer; once it streams, silence is normal.
        self._headers = self.client.auth_headers()
        self.member, stream = self.client.open_stream(
            'watch', {'create_request': req}, self.client.read_timeout,
            self._headers)
        self.streams += 1
        with self._lock:
            self._stream = stream
        if stream.status != 200:
            raise etcd_mod.EtcdBadAnswer('watch: HTTP %d: %r' % (
                stream.status, stream.read_all()[:300]))
        stream.sock.settimeout(self.stall_timeout)
        self._keepalive(stream)
        return stream

    def _close(self) -> None:
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()

    def _messages(self, stream: accel_http.Stream, live: _Liveness
                  ) -> Iterator[dict[str, Any]]:
        for line in stream.lines():
            live.heard = time.monotonic()
            if self._stopped.is_set():
                return
            msg = json.loads(line)
            if not isinstance(msg, dict):
                raise etcd_mod.EtcdBadAnswer('watch answer is not an '
                                             'object: %.60r' % line)
            yield msg
        raise ConnectionResetError('watch stream closed')

    def _refused(self, reason: str) -> None:
        """Raise for a watch etcd canceled: an expired token is renewed
        and the watch resumed; missing permissions end it.
        """
        kind = etcd_auth.classify(reason)
        if self.client.auth.renewable(kind, self._headers):
            self.client.auth.expired(self._headers)
            raise _Renewed('watch token expired: %s' % reason)
        if kind is not None:
            url = self.member.url if self.member else '?'
            raise self.client.auth.error(
                kind, url, {'create_request': etcd_mod._range_req(
                    self.prefix, self.is_prefix)})
        raise ConnectionResetError('watch canceled by etcd: %s' % reason)

    def _events(self, result: Any) -> list[etcd_mod.Event]:
        """The new events of one watch answer; EtcdBadAnswer for an answer
        of the wrong shape (the watch resumes, it is never half-read).
        """
        return etcdkv.checked(self._read_events, result)

    def _read_events(self, result: Any) -> list[etcd_mod.Event]:
        result = etcdkv.obj(result, 'watch result')
        if result.get('canceled'):
            compacted = etcdkv.number(result.get('compact_revision'),
                                      'compact_revision')
            if compacted:
                raise etcd_mod.WatchCompacted(compacted)
            self._refused(str(result.get('cancel_reason', '')))
        events = []
        top = self.revision
        raws = etcdkv.listed(result.get('events'), 'events')
        for raw in raws:
            rev, event = self._event(etcdkv.obj(raw, 'event'), self.revision)
            top = max(top, rev)
            if event is not None:
                events.append(event)
        if not raws and not result.get('created'):
            # A progress notification: everything up to the header
            # revision has been sent.
            top = max(top, etcdkv.revision(result))
        self._pending_top = top
        return events

    @staticmethod
    def _event(raw: dict[str, Any], delivered: int
               ) -> tuple[int, etcd_mod.Event | None]:
        """(mod_revision, the event) - None if it is at or below the
        ``delivered`` revision (sent again after a reconnect) or its key
        or value is not text (skipped, not resumed from forever;
        etcdkv.text_kv logs it).
        """
        kv = etcdkv.obj(raw.get('kv') or {}, 'event kv')
        rev = etcdkv.number(kv.get('mod_revision'), 'mod_revision')
        if rev <= delivered:
            return rev, None
        deleted = raw.get('type') == 'DELETE'
        text = etcdkv.text_kv({'key': kv.get('key'),
                               'value': None if deleted else kv.get('value')})
        if text is None:
            return rev, None
        return rev, etcd_mod.Event(
            type='DELETE' if deleted else 'PUT', key=text[0],
            value=None if deleted else text[1], revision=rev)

    def _follow(self) -> Iterator[etcd_mod.Event]:
        """One stream, from creation to its end."""
        stream = self._open()
        live = _Liveness(self, stream).start()
        try:
            for msg in self._messages(stream, live):
                if 'error' in msg:
                    raise ConnectionResetError('watch error: %s'
                                               % msg['error'])
                result = msg.get('result') or {}
                if isinstance(result, dict) and result.get('created'):
                    self.created.set()
                    self._healthy = True
                yield from self._events(result)
                # Only now is the whole message delivered.
                self.revision = self._pending_top
        finally:
            live.stop()

    def __iter__(self) -> Iterator[etcd_mod.Event]:
        delay = 0.05
        while not self._stopped.is_set():
            self._healthy = False
            try:
                yield from self._follow()
            except (etcd_mod.WatchCompacted, etcd_mod.EtcdConfigError):
                self._close()
                raise
            except (OSError, accel_http.BadAnswer, ValueError,
                    etcd_mod.EtcdError) as exc:
                self._close()
                if self._stopped.is_set():
                    break
                if self.member is not None and \
                        not isinstance(exc, _Renewed):  # go elsewhere
                    self.client.members.failed(self.member)
                self.reconnects += 1
                if self._healthy:   # the stream had worked: no backoff
                    delay = 0.05
                # After a failed probe the liveness warning said it all.
                log = LOG.debug if self.closed_by_probe or isinstance(
                    exc, _Renewed) else LOG.warning
                self.closed_by_probe = False
                log('etcd watch on %s dropped (%s); resuming from revision '
                    '%d in %.2fs', self.prefix, exc or type(exc).__name__,
                    self.revision + 1, delay)
                self._stopped.wait(delay)
                delay = min(delay * 2, self.backoff_max)
        self._close()
