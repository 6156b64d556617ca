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
"""Which agent serves a host's ``action/<host>/`` keys.

Why: networking-spp's own agent remembers which MAC it set on each vhost
and deletes exactly that classifier entry at unbind (networking-spp
``agent/spp_agent.py`` 342-358); spp_vf refuses a delete that matches
nothing, and that agent exits on any error (407-421), leaving the vhost
allocated.  Nova unplugs the VIF before Neutron unbinds, so an os-vif
plugin that removes the entry itself kills that agent.  The plugin must
therefore touch spp_vf only where *our* agent serves the host, which
re-reads spp_vf before every change.

Our agent says so with a marker key outside networking-spp's key space,
held by an etcd lease: it vanishes at once when the agent stops cleanly
(lease revoked) and within ``ttl`` seconds when it dies, so a host handed
back to networking-spp's agent is never mistaken for one of ours.
"""

from __future__ import annotations

import json
import os
import threading

from oslo_log import log as logging

from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import etcd_txn
from vif_plug_spp import keys

LOG = logging.getLogger(__name__)

__all__ = ['MARKER_ROOT', 'marker', 'served_by_us', 'Marker']

MARKER_ROOT = '/os-vif-accel/spp/agent/'
AGENT_NAME = 'os-vif-accel spp-agent'


def marker(host: str) -> str:
    """The key our agent holds while it serves ``host``."""
    keys.action_prefix(host)  # validates the host name
    return MARKER_ROOT + host


def served_by_us(found: dict[str, str], host: str) -> bool:
    """True if a snapshot read with :func:`marker` shows our agent."""
    text = found.get(marker(host))
    if text is None:
        return False
    try:
        return json.loads(text).get('agent') == AGENT_NAME
    except (ValueError, AttributeError):
        return False


class Marker:
    """Publish and keep alive the marker of one host (a thread)."""

    def __init__(self, client: etcd_mod.EtcdClient, host: str,
                 ttl: int = 15) -> None:
        self.client = client
        self.host = host
        self.key = marker(host)
        self.ttl = max(3, int(ttl))
        self._lease: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self) -> None:
        """Grant a lease and put the marker on it (a fresh lease each
        time, so an expired one is simply replaced).
        """
        lease = self.client.call('lease/grant', {'TTL': self.ttl})
        lease_id = str(lease['ID'])
        value = json.dumps({'agent': AGENT_NAME, 'pid': os.getpid()})
        put = etcd_txn.op_put(self.key, value)['request_put']
        self.client.call('kv/put', dict(put, lease=lease_id))
        self._lease = lease_id

    def _refresh(self) -> None:
        if self._lease is None:
            self.publish()
            return
        res = self.client.call('lease/keepalive', {'ID': self._lease})
        if int((res.get('result') or {}).get('TTL') or 0) <= 0:
            LOG.warning('Marker lease of %s expired; publishing again',
                        self.host)
            self.publish()

    def _beat(self) -> None:
        # Any error, also an answer of an unexpected shape (a TypeError or
        # AttributeError here), must not end the thread: the marker would
        # expire for good while the agent goes on serving the host.  The
        # lease is kept: the next keepalive tells whether it lived through
        # the error, and stop() can still revoke it (forgetting it left
        # the key up to ``ttl`` seconds after a clean stop).
        try:
            self._refresh()
        except Exception as exc:
            LOG.warning('Cannot publish %s (%s: %s); retrying', self.key,
                        type(exc).__name__, exc)

    def _run(self) -> None:
        while not self._stop.wait(self.ttl / 3.0):
            self._beat()

    def start(self) -> None:
        """Publish now (so it is there when this returns, if etcd
        answers) and keep it alive from a thread.
        """
        self._beat()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='spp-agent-marker')
        self._thread.start()

    def stop(self) -> None:
        """Stop refreshing and revoke the lease (the key goes with it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self._lease is not None:
            try:
                self.client.call('kv/lease/revoke', {'ID': self._lease})
            except etcd_mod.EtcdError as exc:
                LOG.warning('Cannot revoke the lease of %s (%s); it expires '
                            'within %d s', self.key, exc, self.ttl)
            self._lease = None
