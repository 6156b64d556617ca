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
"""What the agent lets into its work queue and its retry set.

Anyone who can write etcd can write any key under ``action/<host>/``.  A
key whose id cannot be a port id (``a/b``, a space, a trailing newline)
is that key's problem: it is reported once, with the key and the reason,
and never queued, so it can neither be retried forever nor hold up the
ports behind it.  :class:`RetrySet` is the agent's retry bookkeeping: an
entry leaves the set on success and on a refusal, so the set converges.
"""

from __future__ import annotations

import time
from typing import Generic, Hashable, TypeVar

from oslo_log import log as logging

from vif_plug_spp import keys

LOG = logging.getLogger(__name__)

__all__ = ['item_id', 'RetrySet']

T = TypeVar('T', bound=Hashable)


def item_id(key: str, prefix: str, what: str) -> str | None:
    """The port (or tap flow) id ``key`` names under ``prefix``, or None
    after one ERROR naming the key when it cannot be one.
    """
    try:
        return keys.identifier(what, keys.suffix(key, prefix))
    except ValueError as exc:
        LOG.error('Ignoring etcd key %r: %s; delete the key, it names no '
                  'port this agent can serve', key, exc)
        return None


class RetrySet(Generic[T]):
    """Items to try again, each with its due time and next delay."""

    def __init__(self, backoff_max: float) -> None:
        self.backoff_max = backoff_max
        self._items: dict[T, tuple[float, float]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def failed(self, item: T, delay: float) -> None:
        """Try ``item`` again in ``delay`` seconds, then back off."""
        self._items[item] = (time.monotonic() + delay,
                             min(delay * 2, self.backoff_max))

    def done(self, item: T) -> None:
        """``item`` succeeded or was refused: never retry it."""
        self._items.pop(item, None)

    def due(self) -> list[tuple[T, float]]:
        """(item, delay) of every item whose time has come."""
        now = time.monotonic()
        return [(item, delay) for item, (when, delay) in
                list(self._items.items()) if when <= now]

    def wait(self) -> float:
        """Seconds until the next item is due (at most one)."""
        if not self._items:
            return 1.0
        soonest = min(when for when, _ in self._items.values())
        return max(0.0, min(soonest - time.monotonic(), 1.0))
