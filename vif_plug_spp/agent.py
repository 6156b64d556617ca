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

The watches live in :mod:`vif_plug_spp.feed`, what is done for a port
or tap flow in :mod:`vif_plug_spp.handlers` (tap flows are wired by
:mod:`vif_plug_spp.taas`); Neutron state reports are sent by
:mod:`vif_plug_spp.report` (console script).
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from typing import Any

from oslo_config import cfg
from oslo_log import log as logging

from os_vif_accel import etcd_opts
from os_vif_accel import validate

from vif_plug_spp import binding
from vif_plug_spp import constants
from vif_plug_spp import datapath as dp_mod
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import feed
from vif_plug_spp import handlers
from vif_plug_spp import intake
from vif_plug_spp import keys
from vif_plug_spp import served
from vif_plug_spp import sppctl

LOG = logging.getLogger(__name__)

__all__ = ['GROUP', 'AGENT_OPTS', 'Agent', 'register_opts']

GROUP = 'spp'
AGENT_OPTS = [
    *etcd_opts.connection_opts('etcd server holding the SPP keys'),
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


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(AGENT_OPTS, GROUP)
    try:
        conf.register_opt(HOST_OPT)
    except cfg.DuplicateOptError:
        pass


class Agent:
    """One host's agent; :meth:`run` blocks until :meth:`stop`.

    The watch/feed part lives in :mod:`vif_plug_spp.feed`, the handlers
    in :mod:`vif_plug_spp.handlers`; this class loads the configuration,
    runs the work loop and retries what failed.
    """

    def __init__(self, etcd: etcd_mod.EtcdClient,
                 spp: sppctl.SppCtlClient, host: str,
                 lock_path: str | None = None, backoff_max: float = 5.0,
                 watch_idle_timeout: float = 10.0,
                 resync_interval: float = 60.0) -> None:
        self._stop = threading.Event()
        self.feed = feed.Feed(etcd, host, self._stop, backoff_max,
                              watch_idle_timeout)
        self.handlers = handlers.Handlers(etcd, spp, host, lock_path)
        self.etcd = etcd
        self.host = host
        self.backoff_max = backoff_max
        self.resync_interval = resync_interval
        self.ready = self.feed.ready
        self._retry: intake.RetrySet[feed.Work] = intake.RetrySet(
            backoff_max)
        self._spp_down = False
        self.handled = 0

    # -- lifecycle ----------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()
        self.feed.stop()

    def _load(self) -> None:
        """Read the configuration and build components, waiting (with
        backoff) for etcd, the configuration and spp-ctl to be there.
        """
        delay = 0.1
        while not self._stop.is_set():
            try:
                text = self.etcd.get(keys.configuration(self.host))
                if text is not None:
                    self._set_config(text)
                    self._build()
                    return
                LOG.warning('No SPP configuration %s yet; run '
                            'spp-config-build for host %s',
                            keys.configuration(self.host), self.host)
            except etcd_mod.EtcdError as exc:
                LOG.warning('etcd not usable (%s); retrying in %.1fs', exc,
                            delay)
            except binding.UNUSABLE as exc:
                LOG.error('SPP configuration of %s is unusable (%s); '
                          'rebuild it with spp-config-build', self.host, exc)
            self._stop.wait(delay)
            delay = min(delay * 2, self.backoff_max)

    def _set_config(self, text: str) -> None:
        self.handlers.set_config(text)

    def _build(self) -> None:
        """Build the components now if spp-ctl answers; if not, start
        anyway: every plug builds what is missing and is retried until
        spp-ctl is back.
        """
        try:
            self.handlers.build()
            self._spp_down = False
        except (sppctl.SppCtlError, dp_mod.WiringError) as exc:
            self._spp_down = True
            LOG.warning('spp-ctl not usable yet (%s); ports will be wired '
                        'when it answers', exc)

    def run(self) -> None:
        """Replay, then follow the watches until stopped."""
        self._load()
        if self._stop.is_set():
            return
        watchers = self.feed.start(taps=self.handlers.taas is not None)
        marker = served.Marker(self.etcd, self.host)
        marker.start()
        try:
            self._work_loop()
        finally:
            marker.stop()
            self.stop()
            for watcher in watchers:
                watcher.join(10)

    # -- work ---------------------------------------------------------------
    def _work_loop(self) -> None:
        last_sync = time.monotonic()
        while not self._stop.is_set():
            try:
                work: feed.Work | None = self.feed.queue.get(
                    timeout=self._retry.wait())
            except queue.Empty:
                work = None
            if self._stop.is_set():
                break
            if work is not None and work.kind is feed.Kind.RESYNC:
                self._resync(work.id)
            elif work is not None:
                self._retry.done(work)
                self._attempt(work, 0.1)
            for item, delay in self._retry.due():
                self._attempt(item, delay)
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
                self.handlers.refresh_config(text)
            self.feed.replay()
        except etcd_mod.EtcdError as exc:
            LOG.warning('Resync failed: %s', exc)

    def _attempt(self, work: feed.Work, delay: float) -> None:
        try:
            self.handlers.handle(work)
            self._retry.done(work)
            self.handled += 1
            if self._spp_down:
                self._spp_down = False
                self.feed.put(feed.Work(feed.Kind.RESYNC, 'spp-ctl is back'))
        except (etcd_mod.EtcdError, sppctl.SppCtlError,
                dp_mod.WiringError) as exc:
            if isinstance(getattr(exc, 'cause', exc),
                          sppctl.SppCtlUnreachable):
                self._spp_down = True
            LOG.warning('%s %s not done (%s); retrying in %.1fs',
                        work.kind.value, work.id, exc, delay)
            self._retry.failed(work, delay)
        except (keys.InvalidKeyPart, validate.InvalidInput) as exc:
            # Bad input does not get better by trying again.
            LOG.error('%s %s left alone: %s', work.kind.value, work.id, exc)
            self._retry.done(work)
        except Exception:
            LOG.exception('%s %s failed unexpectedly; retrying in %.1fs',
                          work.kind.value, work.id, delay)
            self._retry.failed(work, delay)


def from_conf(conf: cfg.ConfigOpts) -> Agent:
    """Build an agent from ``[spp]`` and ``[DEFAULT] host``."""
    group: Any = getattr(conf, GROUP)
    etcd = etcd_mod.EtcdClient.from_settings(
        etcd_opts.settings_from_conf(group, GROUP),
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
