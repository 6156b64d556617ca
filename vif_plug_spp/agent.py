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
"""SPP compute agent compatible with networking-spp's key protocol.

It watches ``action/<host>/`` and acts on ``plug``/``unplug`` like
networking-spp's agent (re-reading ``bind_port`` and ``action`` for each
event so bursts collapse, replaying every action at start), but:

* the watch starts at the revision of the replay snapshot and resumes
  from the last delivered revision after drops, etcd restarts and failed
  liveness probes (:class:`vif_plug_spp.etcd_watch.Watch`), so no event
  is missed, while an idle watch stays up;
* errors never end the process: a port whose plug or unplug failed is
  retried with exponential backoff, etcd and spp-ctl outages are waited
  out, and every action is replayed when spp-ctl comes back (spp_vf may
  have been restarted) and every ``resync_interval`` seconds;
* wiring goes through :class:`vif_plug_spp.datapath.Datapath` (rollback
  of multi-step changes, idempotent, serialised with the os-vif plugin).

Tap flows (``tap_action``) are wired by :mod:`vif_plug_spp.taas`; Neutron
state reports are sent by :mod:`vif_plug_spp.report` (console script).
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from typing import Any

from oslo_config import cfg
from oslo_log import log as logging

from os_vif_accel import validate

from vif_plug_spp import constants
from vif_plug_spp import datapath
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import etcd_watch
from vif_plug_spp import hostconfig
from vif_plug_spp import intake
from vif_plug_spp import keys
from vif_plug_spp import protocol
from vif_plug_spp import served
from vif_plug_spp import sppctl
from vif_plug_spp import taas

LOG = logging.getLogger(__name__)

__all__ = ['GROUP', 'AGENT_OPTS', 'Agent', 'register_opts']

GROUP = 'spp'
AGENT_OPTS = [
    cfg.StrOpt('etcd_host', default=constants.DEFAULT_ETCD_HOST,
               help='etcd server (same option as networking-spp).'),
    cfg.PortOpt('etcd_port', default=constants.DEFAULT_ETCD_PORT,
                help='etcd client port.'),
    cfg.StrOpt('api_ip_addr', default='127.0.0.1',
               help='spp-ctl address (same option as networking-spp).'),
    cfg.PortOpt('api_port', default=7777, help='spp-ctl REST API port.'),
    cfg.FloatOpt('request_timeout', default=5.0, min=0.1,
                 help='Seconds to wait for one etcd or spp-ctl answer.'),
    cfg.FloatOpt('watch_idle_timeout', default=10.0, min=0.5,
                 help='Seconds without any message on the etcd watch '
                      'after which etcd is asked whether it is alive (one '
                      'status call, skipped while other calls are '
                      'answered); the watch is re-created from the last '
                      'seen revision only when it is not.  Also the TCP '
                      'keepalive idle time of the watch connection.'),
    cfg.FloatOpt('backoff_max', default=5.0, min=0.1,
                 help='Longest wait between retries of a failed port or '
                      'an unreachable etcd/spp-ctl.'),
    cfg.FloatOpt('resync_interval', default=60.0, min=0.0,
                 help='Seconds between full replays of every action key '
                      '(repairs spp_vf processes restarted behind our '
                      'back); 0 disables.'),
    cfg.StrOpt('lock_path', default=constants.DEFAULT_LOCK_TEMPLATE,
               help='Lock file shared with the os-vif plugin ({host} is '
                    'replaced); must be the plugin\'s [os_vif_spp] '
                    'lock_path.'),
]
HOST_OPT = cfg.StrOpt('host', default=socket.gethostname(),
                      sample_default='<hostname>',
                      help='Host name in the etcd keys (neutron\'s host '
                           'option; must equal the builder\'s SPP_HOST).')

_RESYNC = '<resync>'
_TAP = 'tap:'


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(AGENT_OPTS, GROUP)
    try:
        conf.register_opt(HOST_OPT)
    except cfg.DuplicateOptError:
        pass


class Agent:
    """One host's agent; :meth:`run` blocks until :meth:`stop`."""

    def __init__(self, etcd: etcd_mod.EtcdClient,
                 spp: sppctl.SppCtlClient, host: str,
                 lock_path: str | None = None, backoff_max: float = 5.0,
                 watch_idle_timeout: float = 10.0,
                 resync_interval: float = 60.0) -> None:
        keys.action_prefix(host)  # validates the host name
        self.etcd = etcd
        self.spp = spp
        self.host = host
        self.lock_path = lock_path
        self.backoff_max = backoff_max
        self.watch_idle_timeout = watch_idle_timeout
        self.resync_interval = resync_interval
        self.datapath: datapath.Datapath | None = None
        self._config_text: str | None = None
        self._config: dict[str, Any] = {}
        self._refused_config: str | None = None
        self._queue: queue.Queue[str] = queue.Queue()
        self._retry = intake.RetrySet(backoff_max)
        self._stop = threading.Event()
        self._watches: list[etcd_watch.Watch] = []
        self._pending_ready = 1
        self._ready_lock = threading.Lock()
        self.taas: taas.Taas | None = None
        self._spp_down = False
        self.ready = threading.Event()

    # -- lifecycle ----------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()
        for watch in list(self._watches):
            watch.stop()
        self._queue.put(_RESYNC)

    def _sleep(self, delay: float) -> bool:
        """Wait; False if the agent is stopping."""
        return not self._stop.wait(delay)

    def _load(self) -> None:
        """Read the configuration and build components, waiting (with
        backoff) for etcd, the configuration and spp-ctl to be there.
        """
        delay = 0.1
        while not self._stop.is_set():
            try:
                text = self.etcd.get(keys.configuration(self.host))
                if text is None:
                    LOG.warning('No SPP configuration %s yet; run '
                                'spp-config-build for host %s',
                                keys.configuration(self.host), self.host)
                else:
                    self._set_config(text)
                    self._build()
                    return
            except etcd_mod.EtcdError as exc:
                LOG.warning('etcd not usable (%s); retrying in %.1fs', exc,
                            delay)
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                LOG.error('SPP configuration of %s is unusable (%s); '
                          'rebuild it with spp-config-build', self.host, exc)
            self._sleep(delay)
            delay = min(delay * 2, self.backoff_max)

    def _build(self) -> None:
        """Build the components now if spp-ctl answers; if not, start
        anyway: every plug builds what is missing and is retried until
        spp-ctl is back.
        """
        assert self.datapath is not None
        try:
            self.datapath.ensure_all()
            if self.taas is not None:
                self.taas.ensure_mirrors()
            self._spp_down = False
        except (sppctl.SppCtlError, datapath.WiringError) as exc:
            self._spp_down = True
            LOG.warning('spp-ctl not usable yet (%s); ports will be wired '
                        'when it answers', exc)

    def _set_config(self, text: str) -> None:
        if text != self._config_text or self.datapath is None:
            config = hostconfig.parse(text, self.host)
            self.datapath = datapath.Datapath(self.spp, config,
                                              self.lock_path)
            self.taas = taas.Taas(self.spp, config, self.datapath) \
                if config.get('mirror') else None
            self._config_text, self._config = text, config

    def _refresh_config(self, text: str) -> None:
        """Follow a changed configuration; a bad one is reported once and
        the one in use is kept (the ports it serves stay served).
        """
        try:
            self._set_config(text)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            if text != self._refused_config:
                self._refused_config = text
                LOG.error('SPP configuration of %s is unusable (%s); '
                          'keeping the previous one; rebuild it with '
                          'spp-config-build', self.host, exc)

    def _prefixes(self) -> list[tuple[str, str]]:
        """(prefix, queue tag) of every watched prefix."""
        out = [(keys.action_prefix(self.host), '')]
        if self.taas is not None:
            out.append((keys.tap_action_prefix(self.host), _TAP))
        return out

    def run(self) -> None:
        """Replay, then follow the watches until stopped."""
        self._load()
        if self._stop.is_set():
            return
        prefixes = self._prefixes()
        self._pending_ready = len(prefixes)
        watchers = [threading.Thread(target=self._watch_loop,
                                     args=(prefix, tag),
                                     name='spp-agent-watch%s' % tag,
                                     daemon=True)
                    for prefix, tag in prefixes]
        for watcher in watchers:
            watcher.start()
        marker = served.Marker(self.etcd, self.host)
        marker.start()
        try:
            self._work_loop()
        finally:
            marker.stop()
            self.stop()
            for watcher in watchers:
                watcher.join(10)

    # -- watch ------------------------------------------------------------
    def _snapshot(self, prefix: str, tag: str) -> int:
        """Queue every key under ``prefix``; the snapshot revision."""
        delay = 0.1
        while not self._stop.is_set():
            try:
                kvs, rev = self.etcd.get_prefix(prefix)
                for kv in kvs:
                    self._enqueue(tag, kv.key, prefix)
                return rev
            except etcd_mod.EtcdError as exc:
                LOG.warning('Cannot read %s (%s); retrying in %.1fs',
                            prefix, exc, delay)
                self._sleep(delay)
                delay = min(delay * 2, self.backoff_max)
        return 0

    def _enqueue(self, tag: str, key: str, prefix: str) -> None:
        item = intake.item_id(key, prefix,
                              'tap flow id' if tag else 'port id')
        if item is not None:
            self._queue.put(tag + item)

    def _watch_ready(self) -> None:
        with self._ready_lock:
            self._pending_ready -= 1
            if self._pending_ready <= 0:
                self.ready.set()

    def _watch_loop(self, prefix: str, tag: str) -> None:
        first = True
        while not self._stop.is_set():
            rev = self._snapshot(prefix, tag)
            watch = self.etcd.watch_prefix(
                prefix, rev + 1, idle_timeout=self.watch_idle_timeout,
                backoff_max=self.backoff_max)
            self._watches.append(watch)
            if first:
                first = False
                self._watch_ready()
            if self._stop.is_set():
                watch.stop()
            try:
                for event in watch:
                    if event.value in (keys.PLUG, keys.UNPLUG):
                        self._enqueue(tag, event.key, prefix)
            except etcd_mod.WatchCompacted as exc:
                LOG.warning('%s; replaying every key under %s', exc, prefix)
            except Exception:  # never let a watch thread die silently
                LOG.exception('Watch on %s failed; re-creating it', prefix)
                self._sleep(1.0)
            finally:
                self._watches.remove(watch)

    # -- work ---------------------------------------------------------------
    def _work_loop(self) -> None:
        last_sync = time.monotonic()
        while not self._stop.is_set():
            try:
                port = self._queue.get(timeout=self._retry.wait())
            except queue.Empty:
                port = None
            if self._stop.is_set():
                break
            if port is not None and port != _RESYNC:
                self._retry.done(port)
                self._attempt(port, 0.1)
            for pid, delay in self._retry.due():
                self._attempt(pid, delay)
            now = time.monotonic()
            if self.resync_interval and \
                    now - last_sync >= self.resync_interval:
                last_sync = now
                self._resync('periodic resync')

    def _resync(self, why: str) -> None:
        LOG.info('Replaying every action of %s (%s)', self.host, why)
        try:
            text = self.etcd.get(keys.configuration(self.host))
            if text:
                self._refresh_config(text)
            found = [(tag, prefix, self.etcd.get_prefix(prefix)[0])
                     for prefix, tag in self._prefixes()]
        except etcd_mod.EtcdError as exc:
            LOG.warning('Resync failed: %s', exc)
            return
        for tag, prefix, kvs in found:
            for kv in kvs:
                self._enqueue(tag, kv.key, prefix)

    def _attempt(self, port_id: str, delay: float) -> None:
        try:
            self.handle(port_id)
            self._retry.done(port_id)
            if self._spp_down:
                self._spp_down = False
                self._resync('spp-ctl is back')
        except (etcd_mod.EtcdError, sppctl.SppCtlError,
                datapath.WiringError) as exc:
            if isinstance(getattr(exc, 'cause', exc),
                          sppctl.SppCtlUnreachable):
                self._spp_down = True
            LOG.warning('Port %s not done (%s); retrying in %.1fs',
                        port_id, exc, delay)
            self._retry.failed(port_id, delay)
        except (keys.InvalidKeyPart, validate.InvalidInput) as exc:
            # Bad input does not get better by trying again.
            LOG.error('Port %s left alone: %s', port_id, exc)
            self._retry.done(port_id)
        except Exception:
            LOG.exception('Port %s failed unexpectedly; retrying in %.1fs',
                          port_id, delay)
            self._retry.failed(port_id, delay)

    def handle(self, item: str) -> str:
        """Act on one queued port id or ``tap:<tap flow id>``; returns
        what was done (for logs and tests).
        """
        if item.startswith(_TAP):
            return self.handle_tap(item[len(_TAP):])
        return self.handle_port(item)

    def handle_port(self, port_id: str) -> str:
        """Act on the newest ``action`` of one port."""
        host = self.host
        found = self.etcd.read(
            keys=[keys.bind_port(host, port_id), keys.action(host, port_id),
                  keys.configuration(host)])
        bind_text = found.get(keys.bind_port(host, port_id))
        action = found.get(keys.action(host, port_id))
        if bind_text is None:
            LOG.debug('Port %s: no bind_port (already deleted)', port_id)
            return 'gone'
        conf_text = found.get(keys.configuration(host))
        if conf_text:
            self._refresh_config(conf_text)
        try:
            bind = protocol.parse_bind_port(bind_text)
        except validate.InvalidInput as exc:
            LOG.error('Port %s: ignoring invalid binding: %s', port_id, exc)
            return 'invalid'
        physnet = protocol.vhost_physnet(self._config, bind.vhost_id)
        if physnet is None:
            LOG.error('Port %s: vhost %d is not in the configuration of %s',
                      port_id, bind.vhost_id, host)
            return 'invalid'
        if action == keys.PLUG:
            return self._plug(port_id, bind, physnet)
        if action == keys.UNPLUG:
            return self._unplug(port_id, bind, physnet)
        if action is not None:
            LOG.error('Port %s: %s is %r, neither %r nor %r; left alone',
                      port_id, keys.action(host, port_id), action[:60],
                      keys.PLUG, keys.UNPLUG)
        return 'ignored'

    def _plug(self, port_id: str, bind: protocol.BindPort,
              physnet: str) -> str:
        slot = keys.vhost(self.host, physnet, bind.vhost_id)
        holder = self.etcd.get(slot)
        if holder != port_id:
            LOG.error('Port %s: %s holds %r, not this port; not wiring a '
                      'vhost the port does not own', port_id, slot, holder)
            return 'not-owner'
        assert self.datapath is not None
        self.datapath.plug(bind.vhost_id, bind.mac_address, bind.vlan_id)
        # Only report up while the action is still plug (an unplug may
        # have arrived meanwhile).
        self.etcd.txn([self.etcd.cmp_value(keys.action(self.host, port_id),
                                           keys.PLUG)],
                      [self.etcd.op_put(keys.port_status(self.host, port_id),
                                        keys.UP)])
        return 'plugged'

    def _unplug(self, port_id: str, bind: protocol.BindPort,
                physnet: str) -> str:
        assert self.datapath is not None
        if self.taas is not None:
            self._teardown_taps_of(port_id)
        slot = keys.vhost(self.host, physnet, bind.vhost_id)
        holder = self.etcd.get(slot)
        if holder in (port_id, keys.FREE):
            self.datapath.unplug(bind.vhost_id)
        protocol.release_vhost(self.etcd, self.host, physnet, bind.vhost_id,
                               port_id)
        # Delete the port's keys only while the action still says
        # unplug: a re-bind in between must not lose its keys.
        action_key = keys.action(self.host, port_id)
        self.etcd.txn([self.etcd.cmp_value(action_key, keys.UNPLUG)],
                      [self.etcd.op_delete(keys.bind_port(self.host,
                                                          port_id)),
                       self.etcd.op_delete(action_key),
                       self.etcd.op_delete(keys.port_status(self.host,
                                                            port_id))])
        return 'unplugged'

    # -- tap flows (TaaS) ---------------------------------------------------
    def handle_tap(self, tap_id: str) -> str:
        """Act on the newest ``tap_action`` of one tap flow."""
        host = self.host
        found = self.etcd.read(keys=[keys.tap_info(host, tap_id),
                                     keys.tap_action(host, tap_id)])
        info_text = found.get(keys.tap_info(host, tap_id))
        action = found.get(keys.tap_action(host, tap_id))
        if info_text is None:
            return 'gone'
        try:
            tap = taas.parse_tap_info(info_text)
        except validate.InvalidInput as exc:
            LOG.error('Tap flow %s: ignoring invalid tap_info: %s', tap_id,
                      exc)
            return 'invalid'
        if self.taas is None:
            LOG.error('Tap flow %s: host %s has no mirror configuration',
                      tap_id, host)
            return 'invalid'
        if action == keys.PLUG:
            vhosts = self._tap_vhosts(tap)
            if vhosts is None:
                LOG.warning('Tap flow %s: source or service port is not '
                            'bound on %s', tap_id, host)
                return 'port-gone'
            self.taas.plug(tap, *vhosts)
            self.etcd.txn(
                [self.etcd.cmp_value(keys.tap_action(host, tap_id),
                                     keys.PLUG)],
                [self.etcd.op_put(keys.tap_status(host, tap_id), keys.UP)])
            return 'plugged'
        if action == keys.UNPLUG:
            self._teardown_tap(tap_id, tap, guard=True)
            return 'unplugged'
        return 'ignored'

    def _tap_vhosts(self, tap: taas.TapInfo
                    ) -> tuple[datapath.Vhost, datapath.Vhost] | None:
        """(source, service) vhosts, or None if either is not bound."""
        assert self.datapath is not None
        host = self.host
        found = self.etcd.read(keys=[keys.bind_port(host, tap.source_port),
                                     keys.bind_port(host, tap.service_port)])
        try:
            source, service = (
                protocol.parse_bind_port(found[keys.bind_port(host, port)])
                for port in (tap.source_port, tap.service_port))
        except (KeyError, validate.InvalidInput):
            return None
        return (self.datapath.vhost(source.vhost_id),
                self.datapath.vhost(service.vhost_id))

    def _teardown_tap(self, tap_id: str, tap: taas.TapInfo,
                      guard: bool) -> None:
        """Undo the wiring, free the mirrors, delete the tap keys (only
        while tap_action still says unplug when ``guard``).
        """
        assert self.taas is not None
        vhosts = self._tap_vhosts(tap)
        if vhosts is not None:
            self.taas.unplug(tap, *vhosts)
        host = self.host
        for mirror_id in (tap.mirror_in, tap.mirror_out):
            if mirror_id is not None:
                self.etcd.replace(keys.mirror(host, mirror_id), tap_id,
                                  keys.FREE)
        action_key = keys.tap_action(host, tap_id)
        self.etcd.txn([self.etcd.cmp_value(action_key, keys.UNPLUG)]
                      if guard else [],
                      [self.etcd.op_delete(keys.tap_info(host, tap_id)),
                       self.etcd.op_delete(action_key),
                       self.etcd.op_delete(keys.tap_status(host, tap_id))])

    def _teardown_taps_of(self, port_id: str) -> None:
        """A port going away takes every tap flow naming it along."""
        prefix = keys.tap_info_prefix(self.host)
        for kv in self.etcd.get_prefix(prefix)[0]:
            try:
                tap = taas.parse_tap_info(kv.value)
            except validate.InvalidInput:
                continue
            if port_id in (tap.source_port, tap.service_port):
                LOG.info('Port %s is unplugged: removing tap flow %s',
                         port_id, keys.suffix(kv.key, prefix))
                self._teardown_tap(keys.suffix(kv.key, prefix), tap,
                                   guard=False)


def from_conf(conf: cfg.ConfigOpts) -> Agent:
    """Build an agent from ``[spp]`` and ``[DEFAULT] host``."""
    group: Any = getattr(conf, GROUP)
    etcd = etcd_mod.EtcdClient(group.etcd_host, group.etcd_port,
                               read_timeout=group.request_timeout)
    spp = sppctl.SppCtlClient('http://%s:%d' % (group.api_ip_addr,
                                               group.api_port),
                              read_timeout=group.request_timeout)
    lock = group.lock_path.format(host=conf.host) if group.lock_path \
        else None
    return Agent(etcd, spp, conf.host, lock_path=lock,
                 backoff_max=group.backoff_max,
                 watch_idle_timeout=group.watch_idle_timeout,
                 resync_interval=group.resync_interval)
