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
"""Release vhost allocations whose Neutron binding is gone.

A release that could not reach etcd (etcd down while a port was deleted,
unbound or moved; neutron-server killed between its database commit and
the release) leaves ``vhost/<host>/<physnet>/<id>`` holding a port id
that no binding in Neutron names, and the vhost is lost to every later
port.  networking-spp had nothing for this; :class:`Sweeper` finds such
allocations and releases them.  Neutron-free: the caller says which of
the ports etcd holds Neutron still binds to which host (:data:`Lookup`).

Safety, because a sweep races with binders and releases:

* etcd is read first, in one snapshot, and Neutron afterwards.  A vhost
  of a port's active binding is taken only after ML2 committed the
  port's binding host, so a port in the snapshot that Neutron has no
  longer at all really lost it.  An inactive binding (a live migration's
  destination) is different: ML2 stores its row only after ``bind_port``
  wrote the keys (neutron 29.0.0 plugins/ml2/plugin.py 2839-2842), so a
  port Neutron has but does not bind to the host is released only when
  two sweeps at least ``grace`` seconds apart saw it unchanged.
* Every write compares what the snapshot showed (revisions of the
  vhosts, ``bind_port`` and ``action``): a binding written after the
  snapshot, even of the same port on the same host, is never touched.
* An allocation without an ``action`` key may be a bind in progress
  (the vhost taken, its keys not yet written).  It is freed only when
  Neutron has no such port at all, or when two sweeps at least
  ``grace`` seconds apart saw it unchanged.  Vhosts held with neither
  ``bind_port`` nor ``action`` (a bind that stopped half-way) are freed
  that way even if Neutron binds the port to the host: nothing can wire
  them, and the port's next bind takes a vhost again.
* A failed read (etcd or Neutron) changes nothing.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any
from typing import Callable

from oslo_log import log as logging

from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import keys

LOG = logging.getLogger(__name__)

__all__ = ['Held', 'Lookup', 'Report', 'Sweeper', 'PeriodicSweep']

#: (host, port id) pairs etcd holds -> (the pairs Neutron has a binding
#: for, active or not; the port ids Neutron has at all).  Raising means
#: Neutron could not be read: the sweep then changes nothing.
Lookup = Callable[[set[tuple[str, str]]],
                  tuple[set[tuple[str, str]], set[str]]]


@dataclasses.dataclass
class Held:
    """What one snapshot shows of a port's keys on a host."""

    host: str
    port_id: str
    vhosts: list[etcd_mod.KeyValue] = dataclasses.field(default_factory=list)
    bind_port: etcd_mod.KeyValue | None = None
    action: etcd_mod.KeyValue | None = None

    def fingerprint(self) -> tuple[object, ...]:
        """Changes whenever any of the port's keys on the host changed."""
        return (tuple(sorted((kv.key, kv.mod_revision)
                             for kv in self.vhosts)),
                self.bind_port.mod_revision if self.bind_port else 0)


@dataclasses.dataclass
class Report:
    """The outcome of one sweep, as (host, port id) pairs."""

    #: ``action = unplug`` written: the agent frees the vhost.
    unplugged: list[tuple[str, str]] = dataclasses.field(
        default_factory=list)
    #: No agent action yet: vhosts freed and keys deleted here.
    freed: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    #: No agent action yet, not stale long enough: looked at again later.
    waiting: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    #: ``action = unplug`` already there; the agent has not acted yet.
    pending: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    #: Changed after the snapshot: left alone.
    changed: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    #: False when etcd or Neutron could not be read (nothing was done).
    complete: bool = True


def _split(key: str, kind: str) -> tuple[str, str]:
    """(host, rest) of ``<ROOT><kind>/<host>/<rest>``; ValueError."""
    host, sep, rest = keys.suffix(key, keys.ROOT + kind + '/').partition('/')
    if not sep:
        raise ValueError('malformed key %r' % key)
    return host, rest


def holdings(found: dict[str, etcd_mod.KeyValue]) -> dict[
        tuple[str, str], Held]:
    """Every (host, port) holding a vhost in a snapshot of the ``vhost/``,
    ``bind_port/`` and ``action/`` prefixes; keys that are not the
    protocol's are skipped with a warning (never freed).
    """
    held: dict[tuple[str, str], Held] = {}
    for kv in found.values():
        if not kv.key.startswith(keys.ROOT + 'vhost/') or \
                kv.value == keys.FREE:
            continue
        try:
            host, _rest = _split(kv.key, 'vhost')
            keys.parse_vhost(kv.key, host)
            pair = (host, keys.identifier('port id', kv.value))
        except ValueError as exc:   # InvalidKeyPart is a ValueError
            LOG.warning('Allocation sweep skips %s: %s', kv.key, exc)
            continue
        held.setdefault(pair, Held(*pair)).vhosts.append(kv)
    for (host, port_id), item in held.items():
        item.bind_port = found.get(keys.bind_port(host, port_id))
        item.action = found.get(keys.action(host, port_id))
    return held


def _keyless(item: Held) -> bool:
    """Vhosts held without any ``bind_port`` or ``action``: a bind that
    stopped between taking the vhost and writing its keys (or is still
    between them), even if Neutron binds the port to the host.
    """
    return item.bind_port is None and item.action is None


class Sweeper:
    """Finds and releases allocations no Neutron binding names.

    :param grace: seconds an allocation without an agent ``action`` must
        stay unchanged (seen by two sweeps) before it is freed, unless
        Neutron has no such port at all.
    """

    def __init__(self, client: etcd_mod.EtcdClient, grace: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.etcd = client
        self.grace = grace
        self.clock = clock
        #: (host, port) -> (fingerprint, when first seen stale).
        self._seen: dict[tuple[str, str], tuple[tuple[object, ...],
                                                float]] = {}

    def sweep(self, lookup: Lookup) -> Report:
        report = Report()
        try:
            found, _rev = self.etcd.read_kvs(prefixes=[
                keys.ROOT + 'vhost/', keys.ROOT + 'bind_port/',
                keys.ROOT + 'action/'])
            held = holdings(found)
            bound, existing = lookup(set(held))
        except Exception as exc:
            LOG.warning('Allocation sweep skipped: could not read the '
                        'allocations and their Neutron ports (%s)', exc)
            report.complete = False
            return report
        stale = {pair: item for pair, item in held.items()
                 if pair not in bound or _keyless(item)}
        self._seen = {pair: seen for pair, seen in self._seen.items()
                      if pair in stale}
        for pair, item in sorted(stale.items()):
            try:
                self._release(item, pair[1] in existing, report)
            except etcd_mod.EtcdError as exc:
                LOG.warning('Allocation sweep: port %s on %s not released '
                            '(%s); the next sweep tries again', pair[1],
                            pair[0], exc)
                report.complete = False
        return report

    def _release(self, item: Held, exists: bool, report: Report) -> None:
        pair = (item.host, item.port_id)
        if item.action is not None and item.action.value == keys.UNPLUG:
            LOG.warning('Port %s on %s: unplug requested but the agent has '
                        'not released it yet', item.port_id, item.host)
            report.pending.append(pair)
        elif exists and not self._stale_long_enough(item):
            # A bind in progress, or an inactive binding whose row ML2
            # has not stored yet: look again one grace later.
            report.waiting.append(pair)
        elif item.action is not None:
            self._apply(item, self._unplug_ops(item), report.unplugged,
                        report)
        else:
            self._apply(item, self._free_ops(item), report.freed, report)

    def _stale_long_enough(self, item: Held) -> bool:
        """Seen unchanged by an earlier sweep ``grace`` seconds ago."""
        pair, now = (item.host, item.port_id), self.clock()
        first = self._seen.get(pair)
        if first is None or first[0] != item.fingerprint():
            self._seen[pair] = (item.fingerprint(), now)
            return False
        return now - first[1] >= self.grace

    def _compare(self, item: Held) -> list[dict[str, Any]]:
        """Everything the snapshot showed of the port is still so."""
        etcd = self.etcd
        bind_key = keys.bind_port(item.host, item.port_id)
        action_key = keys.action(item.host, item.port_id)
        compare = [etcd.cmp_mod_revision(kv.key, kv.mod_revision)
                   for kv in item.vhosts]
        compare.append(etcd.cmp_create_revision(
            bind_key, item.bind_port.create_revision if item.bind_port
            else 0))
        compare.append(
            etcd.cmp_mod_revision(action_key, item.action.mod_revision)
            if item.action else etcd.cmp_absent(action_key))
        return compare

    def _unplug_ops(self, item: Held) -> list[dict[str, Any]]:
        """``action = unplug``: the agent unwires the port and frees the
        vhost ``bind_port`` names (as the driver's own release does).
        """
        return [self.etcd.op_put(keys.action(item.host, item.port_id),
                                 keys.UNPLUG)]

    def _free_ops(self, item: Held) -> list[dict[str, Any]]:
        """No agent action yet: nothing is wired, free it all here."""
        etcd = self.etcd
        ops = [etcd.op_put(kv.key, keys.FREE) for kv in item.vhosts]
        return ops + [
            etcd.op_delete(keys.bind_port(item.host, item.port_id)),
            etcd.op_delete(keys.port_status(item.host, item.port_id))]

    def _apply(self, item: Held, ops: list[dict[str, Any]],
               done: list[tuple[str, str]], report: Report) -> None:
        pair = (item.host, item.port_id)
        if not self.etcd.txn(self._compare(item), ops):
            report.changed.append(pair)
            return
        self._seen.pop(pair, None)
        done.append(pair)
        LOG.warning('Port %s on %s held %s %s; %s', item.port_id,
                    item.host, ', '.join(kv.key for kv in item.vhosts),
                    'without binding keys (a bind that stopped half-way?)'
                    if _keyless(item) else 'without a binding in Neutron '
                    '(a release that did not reach etcd?)',
                    'asked the agent to unplug it' if item.action
                    else 'freed')


class PeriodicSweep:
    """Runs :meth:`Sweeper.sweep` every ``interval`` seconds in a thread
    (the first sweep one interval after the start).
    """

    def __init__(self, sweeper: Sweeper, lookup: Lookup,
                 interval: float) -> None:
        self.sweeper = sweeper
        self.lookup = lookup
        self.interval = interval
        self.sweeps = 0
        self.stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> 'PeriodicSweep':
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name='spp-allocation-sweep')
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopped.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.sweeper.sweep(self.lookup)
            except Exception:  # never let the thread die silently
                LOG.exception('Allocation sweep failed')
            self.sweeps += 1
