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
"""The binding keys of SPP ports, as neutron-server writes them.

Neutron-free, so the ML2 driver, the sandbox and the tests share it.  The
keys and values are networking-spp's (reference spp.md section 1): a vhost
is taken with a compare-and-swap of ``vhost/<host>/<physnet>/<id>`` from
``None`` to the port id, then ``bind_port/<host>/<port>`` and
``action/<host>/<port> = plug`` are written; ``action = unplug`` asks the
agent to unwire, free the vhost and delete the port's keys.

Unlike networking-spp's driver (which put the two keys one after the
other, networking-spp 0170ff7 networking_spp/mech_driver/mech_spp.py
99-108, so a crash in between left a ``bind_port`` the agent never acts
on), both keys and the removal of a stale ``port_status`` go in one
transaction that also checks the vhost is still the port's.  A release
that finds no ``action`` key frees the port's vhosts in one transaction
that checks ``action`` is still absent, so a bind and a release (a port
deleted while binding) can interleave in any order and leave either a
binding the agent will unplug or nothing at all.
"""

from __future__ import annotations

import contextlib
import zlib
from typing import Iterator

from oslo_log import log as logging

from os_vif_accel import validate

from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import hostconfig
from vif_plug_spp import keys
from vif_plug_spp import protocol

from spp_neutron import bindvalue
from spp_neutron.bindvalue import Allocation
from spp_neutron import errors
from spp_neutron import status

LOG = logging.getLogger(__name__)

__all__ = ['Allocation', 'Binder']

#: How often bind() re-reads after a concurrent change before giving up.
_ATTEMPTS = 4


class Binder:
    """Allocate, bind and release SPP ports in etcd.

    :param release_timeout: seconds :meth:`bind` waits for the agent to
        finish releasing an earlier binding of the same port (a MAC change
        or a stale binding) before it fails with :class:`ReleasePending`.
    """

    def __init__(self, client: etcd_mod.EtcdClient,
                 release_timeout: float = 10.0) -> None:
        self.etcd = client
        self.release_timeout = release_timeout

    @contextlib.contextmanager
    def _etcd(self, host: str, port_id: str) -> Iterator[None]:
        try:
            yield
        except etcd_mod.EtcdUnavailable as exc:
            raise errors.EtcdFailed(host, port_id,
                                    'etcd unreachable (%s)' % exc)
        except etcd_mod.EtcdError as exc:
            raise errors.EtcdFailed(host, port_id, 'etcd error (%s)' % exc)
        except (keys.InvalidKeyPart, validate.InvalidInput) as exc:
            raise errors.BindError(host, port_id, str(exc))

    # -- configuration ----------------------------------------------------
    def physnets(self, host: str, port_id: str = '-') -> list[str]:
        """Physical networks the host's NICs serve (several NICs may share
        one); :class:`NotSppHost` if the builder wrote nothing for it.
        """
        with self._etcd(host, port_id):
            text = self.etcd.get(keys.configuration(host))
        if text is None:
            raise errors.NotSppHost(host, port_id, 'no %s in etcd (not an SPP '
                             'host, or spp-config-build has not run)'
                             % keys.configuration(host))
        try:
            config = hostconfig.parse(text, host)
        except validate.InvalidInput as exc:
            raise errors.BadConfiguration(host, port_id, str(exc))
        return sorted({str(vf['physical_network']) for vf in config['vf']})

    # -- bind -------------------------------------------------------------
    def bind(self, host: str, port_id: str, mac: str, physnet: str,
             vlan_id: int | None = None) -> Allocation:
        """Bind ``port_id`` on ``host`` to a free vhost of ``physnet``.

        Idempotent: a port already bound there with the same MAC and VLAN
        keeps its vhost.  A different earlier binding is released through
        the agent first.  Raises :class:`BindError` subclasses.
        """
        mac = mac.lower()
        with self._etcd(host, port_id):
            served = self.physnets(host, port_id)
            if physnet not in served:
                raise errors.NoPhysnet(
                    host, port_id, 'no NIC for physical network %s (the '
                    'host serves %s)' % (physnet, ', '.join(served) or 'none'))
            for _attempt in range(_ATTEMPTS):
                done = self._bind_once(host, port_id, mac, physnet, vlan_id)
                if done is not None:
                    return done
        raise errors.BindError(host, port_id, 'the binding keys kept changing '
                        'concurrently; giving up after %d attempts'
                        % _ATTEMPTS)

    def _bind_once(self, host: str, port_id: str, mac: str, physnet: str,
                   vlan_id: int | None) -> Allocation | None:
        """One read-decide-write round; None: re-read and try again."""
        bind_key = keys.bind_port(host, port_id)
        found, rev = self.etcd.read_kvs(
            keys=[bind_key, keys.action(host, port_id)],
            prefixes=[keys.vhost_physnet_prefix(host, physnet)])
        vhosts = {kv.key: kv.value for kv in found.values()
                  if kv.key.startswith(keys.vhost_prefix(host))}
        current = found.get(bind_key)
        if current is not None:
            kept = self._kept(host, port_id, mac, physnet, vlan_id, found,
                              vhosts)
            if kept is not None:
                return kept if self._touch(kept, found) else None
            self._release_earlier(host, port_id, rev)
            return None
        if self._unplug_finishing(host, port_id, found, rev):
            return None
        vhost_id = self._allocate(host, port_id, physnet, vhosts)
        try:
            done = self._write(host, port_id, mac, physnet, vhost_id,
                               vlan_id)
        except (errors.BindError, etcd_mod.EtcdError):
            # Refused or unreachable after the vhost was taken: give it
            # back now (best effort; the port's release or the sweep
            # frees it if etcd cannot be reached either).
            self._give_back(host, port_id, physnet, vhost_id)
            raise
        if done is None:
            # A concurrent binder of the same port wrote its binding: keep
            # only the vhost that binding names.
            self._give_back(host, port_id, physnet, vhost_id,
                            unless_bound=True)
        return done

    def _kept(self, host: str, port_id: str, mac: str, physnet: str,
              vlan_id: int | None, found: dict[str, etcd_mod.KeyValue],
              vhosts: dict[str, str]) -> Allocation | None:
        """The existing binding if it is this one, still ``plug``."""
        current = found[keys.bind_port(host, port_id)]
        action = found.get(keys.action(host, port_id))
        vhost_id = bindvalue.same_binding(current.value, mac, vlan_id)
        if vhost_id is None or action is None or action.value != keys.PLUG:
            return None
        if vhosts.get(keys.vhost(host, physnet, vhost_id)) != port_id:
            return None
        return Allocation(host, port_id, physnet, vhost_id, mac, vlan_id,
                          current.mod_revision)

    def _touch(self, kept: Allocation,
               found: dict[str, etcd_mod.KeyValue]) -> bool:
        """Rewrite the kept vhost key with its own value: a new revision.

        The allocation sweep compares the vhost revisions it read before
        asking Neutron; a binding reused here unchanged (the port moved
        back to a host whose release was lost) would otherwise still match
        and be unplugged although ML2 is committing it.  False: the keys
        changed meanwhile, read again.
        """
        etcd, host, port_id = self.etcd, kept.host, kept.port_id
        vhost_key = keys.vhost(host, kept.physnet, kept.vhost_id)
        return etcd.txn(
            [etcd.cmp_value(vhost_key, port_id)] +
            [etcd.cmp_mod_revision(key, found[key].mod_revision)
             for key in (keys.bind_port(host, port_id),
                         keys.action(host, port_id))],
            [etcd.op_put(vhost_key, port_id)])

    def _release_earlier(self, host: str, port_id: str, rev: int) -> None:
        """Release a different earlier binding and wait (bounded) until
        the agent deleted its ``action``: ours deletes the port's keys in
        one transaction, networking-spp's deletes ``bind_port``, then
        ``action`` (networking-spp 0170ff7 networking_spp/agent/
        spp_agent.py 382-386), so a binding written
        when only ``bind_port`` is gone loses its new ``action``.
        """
        LOG.info('Port %s on %s has an earlier SPP binding; releasing it '
                 'before binding again', port_id, host)
        self.release(host, port_id)
        key = keys.action(host, port_id)
        if not status.wait_for(self.etcd, key,
                               lambda value, _rev: value is None, rev,
                               self.release_timeout):
            raise errors.ReleasePending(
                host, port_id, 'the spp-agent of the host did not release '
                'the earlier binding (%s still present after %.0fs; is the '
                'agent running?)' % (key, self.release_timeout))

    def _unplug_finishing(self, host: str, port_id: str,
                          found: dict[str, etcd_mod.KeyValue],
                          rev: int) -> bool:
        """True once an ``action = unplug`` left without ``bind_port``
        is gone: networking-spp's agent is between its deletes (above),
        and its ``action`` delete would take a new binding's ``plug``.
        False (bind now) if there is none or it stays: no agent acts on
        an ``action`` whose ``bind_port`` is gone.
        """
        action = found.get(keys.action(host, port_id))
        if action is None or action.value != keys.UNPLUG:
            return False
        return status.wait_for(self.etcd, keys.action(host, port_id),
                               lambda value, _rev: value is None, rev,
                               self.release_timeout)

    def _allocate(self, host: str, port_id: str, physnet: str,
                  vhosts: dict[str, str]) -> int:
        """The vhost the port holds, else a free one taken by CAS."""
        for key, value in sorted(vhosts.items()):
            if value == port_id:
                return keys.parse_vhost(key, host)[1]
        free = sorted(k for k, v in vhosts.items() if v == keys.FREE)
        if free:
            # Binders that all try the first free key mostly lose the
            # race; a port-dependent start spreads them.
            start = zlib.crc32(port_id.encode('utf-8')) % len(free)
            free = free[start:] + free[:start]
        for key in free:
            if self.etcd.replace(key, keys.FREE, port_id):
                return keys.parse_vhost(key, host)[1]
        # Lost every race: to other ports, or to a concurrent binder of
        # this very port (then share what it took).
        kvs, _rev = self.etcd.get_prefix(keys.vhost_physnet_prefix(host,
                                                                   physnet))
        for kv in kvs:
            if kv.value == port_id:
                return keys.parse_vhost(kv.key, host)[1]
        raise errors.NoFreeVhost(host, port_id, 'no free vhost for physical '
                          'network %s (%d vhosts, all in use)'
                          % (physnet, len(vhosts)))

    def _write(self, host: str, port_id: str, mac: str, physnet: str,
               vhost_id: int, vlan_id: int | None) -> Allocation | None:
        """``bind_port`` + ``action=plug`` while the vhost is still ours
        and no ``bind_port`` exists; None if a concurrent binder won.
        """
        vhost_key = keys.vhost(host, physnet, vhost_id)
        bind_key = keys.bind_port(host, port_id)
        etcd = self.etcd
        value = protocol.bind_port_value(mac, vhost_id, vlan_id)
        try:
            ok, rev = etcd.txn_rev(
                [etcd.cmp_value(vhost_key, port_id),
                 etcd.cmp_absent(bind_key)],
                [etcd.op_put(bind_key, value),
                 etcd.op_put(keys.action(host, port_id), keys.PLUG),
                 etcd.op_delete(keys.port_status(host, port_id))])
        except etcd_mod.EtcdUnavailable:
            # The answer was lost: the write may have been applied.
            kv, rev = etcd.get_kv_rev(bind_key)
            ok = kv is not None and bindvalue.same_binding(
                kv.value, mac, vlan_id) == vhost_id
        if ok:
            LOG.info('Port %s bound on %s: vhost %d of %s', port_id, host,
                     vhost_id, physnet)
            return Allocation(host, port_id, physnet, vhost_id, mac,
                              vlan_id, rev)
        found, _rev = etcd.read_kvs(keys=[bind_key, vhost_key])
        if bind_key in found:
            return None   # a concurrent binder of this port wrote first
        vhost = found.get(vhost_key)
        if vhost is None or vhost.value != port_id:
            raise errors.ReleasedWhileBinding(
                host, port_id, 'the port was released (deleted or unbound) '
                'while it was being bound; nothing is allocated')
        return None

    def _give_back(self, host: str, port_id: str, physnet: str,
                   vhost_id: int, unless_bound: bool = False) -> None:
        """Undo an allocation whose binding was not written (with
        ``unless_bound``: that another binding of the port does not name).
        """
        etcd = self.etcd
        vhost_key = keys.vhost(host, physnet, vhost_id)
        bind_key = keys.bind_port(host, port_id)
        try:
            bound = etcd.get_kv(bind_key) if unless_bound else None
            if bound is not None and \
                    vhost_id == bindvalue.vhost_of(bound.value):
                return
            etcd.txn([etcd.cmp_value(vhost_key, port_id),
                      etcd.cmp_create_revision(
                          bind_key, bound.create_revision if bound else 0)],
                     [etcd.op_put(vhost_key, keys.FREE)])
        except etcd_mod.EtcdError as exc:
            LOG.warning('Could not give back vhost %d of %s on %s held by '
                        'port %s (%s); the next bind of the port reuses it '
                        'and its release frees it', vhost_id, physnet, host,
                        port_id, exc)

    # -- release ----------------------------------------------------------
    def release(self, host: str, port_id: str) -> str:
        """Release the port's binding on ``host``.

        With an ``action`` key: ``action = unplug`` (the agent unwires,
        frees the vhost and deletes the keys; what networking-spp's
        driver does).  Without one (a bind still in progress, or keys
        networking-spp left half-written): free the port's vhosts and
        delete its keys here, atomically with ``action`` still absent.
        Returns ``unplug`` (asked the agent), ``pending`` (already asked),
        ``freed`` or ``absent``.  Idempotent.
        """
        with self._etcd(host, port_id):
            for _attempt in range(_ATTEMPTS):
                outcome = self._release_once(host, port_id)
                if outcome is not None:
                    return outcome
        raise errors.BindError(host, port_id, 'release: the binding keys kept '
                        'changing concurrently')

    def _release_once(self, host: str, port_id: str) -> str | None:
        etcd = self.etcd
        bind_key = keys.bind_port(host, port_id)
        action_key = keys.action(host, port_id)
        found, _rev = etcd.read_kvs(keys=[bind_key, action_key],
                                    prefixes=[keys.vhost_prefix(host)])
        held = [kv.key for kv in found.values()
                if kv.key.startswith(keys.vhost_prefix(host)) and
                kv.value == port_id]
        action = found.get(action_key)
        bound = found.get(bind_key)
        if action is not None:
            return self._ask_unplug(host, port_id, action, bound, held)
        compare = [etcd.cmp_absent(action_key),
                   etcd.cmp_create_revision(
                       bind_key, bound.create_revision if bound else 0)]
        compare += [etcd.cmp_value(key, port_id) for key in held]
        ops = [etcd.op_put(key, keys.FREE) for key in held]
        ops += [etcd.op_delete(bind_key),
                etcd.op_delete(keys.port_status(host, port_id))]
        if not etcd.txn(compare, ops):
            return None
        if held or bound:
            LOG.info('Port %s on %s: freed %s (no agent action yet)',
                     port_id, host, ', '.join(held) or 'its keys')
            return 'freed'
        return 'absent'

    def _ask_unplug(self, host: str, port_id: str,
                    action: etcd_mod.KeyValue,
                    bound: etcd_mod.KeyValue | None,
                    held: list[str]) -> str | None:
        """``action = unplug`` (the agent frees the vhost ``bind_port``
        names); vhosts a lost race left with the port are freed here.
        """
        etcd = self.etcd
        action_key = keys.action(host, port_id)
        bound_id = bindvalue.vhost_of(bound.value) if bound else None
        extra = [key for key in held
                 if keys.parse_vhost(key, host)[1] != bound_id]
        compare = [etcd.cmp_mod_revision(action_key, action.mod_revision),
                   etcd.cmp_create_revision(
                       keys.bind_port(host, port_id),
                       bound.create_revision if bound else 0)]
        compare += [etcd.cmp_value(key, port_id) for key in extra]
        ops = [etcd.op_put(key, keys.FREE) for key in extra]
        if action.value != keys.UNPLUG:
            ops.append(etcd.op_put(action_key, keys.UNPLUG))
        elif not extra:
            return 'pending'
        if not etcd.txn(compare, ops):
            return None
        if action.value == keys.UNPLUG:
            return 'pending'
        LOG.info('Port %s on %s: asked the agent to unplug', port_id, host)
        return 'unplug'

    def wait_up(self, alloc: Allocation, timeout: float) -> bool:
        """True once the agent reported ``up`` for this binding (for the
        sandbox and tests; the driver uses one watcher for all ports).
        """
        return status.wait_for(
            self.etcd, keys.port_status(alloc.host, alloc.port_id),
            lambda value, rev: value == keys.UP and rev >= alloc.revision,
            alloc.revision, timeout)
