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
"""Neutron agent state reports for ``spp-agent``.

networking-spp's mechanism driver only binds a port when the host has an
alive agent of type ``SPP neutron agent``; Neutron learns that from the
periodic ``report_state`` RPC every agent sends on the
``q-reports-plugin`` topic.  This sends the same report (binary
``neutron-spp-agent``, topic ``N/A``, ``start_flag`` on the first report,
which is a call; later ones are casts) with oslo.messaging, so the agent
can replace networking-spp's.  Reporting failures are logged and never
stop the agent.
"""

from __future__ import annotations

import datetime
import threading
import uuid
from typing import Any

from oslo_config import cfg
from oslo_log import log as logging

from vif_plug_spp import constants

LOG = logging.getLogger(__name__)

__all__ = ['AGENT_TYPE', 'BINARY', 'REPORTS_TOPIC', 'REPORT_OPTS',
           'StateReporter', 'admin_context', 'register_opts',
           'register_transport_opts']

AGENT_TYPE = constants.AGENT_TYPE
BINARY = constants.AGENT_BINARY
REPORTS_TOPIC = 'q-reports-plugin'
_TIME_FORMAT = '%Y-%m-%dT%H:%M:%S.%f'

REPORT_OPTS = [
    cfg.FloatOpt('report_interval', default=30.0, min=0.0,
                 help='Seconds between state reports to Neutron (same '
                      'option as every Neutron agent); 0 disables them. '
                      'Reports are only sent when [DEFAULT] transport_url '
                      'is set.'),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """``[AGENT] report_interval`` only.  oslo.messaging's options come
    with :func:`register_transport_opts` once reports are enabled:
    importing oslo.messaging imports eventlet, which prints a deprecation
    warning on every start of an agent that does not report.
    """
    conf.register_opts(REPORT_OPTS, 'AGENT')


def register_transport_opts(conf: cfg.ConfigOpts) -> None:
    """oslo.messaging's transport options (``[DEFAULT] transport_url``,
    ``control_exchange``, ``rpc_response_timeout``) - the very option
    objects oslo.messaging registers itself later, so that both
    registrations agree.
    """
    import oslo_messaging
    from oslo_messaging import transport as messaging_transport
    oslo_messaging.set_transport_defaults('neutron')
    conf.register_opts(getattr(messaging_transport, '_transport_opts', []))


def _transport_url(conf: cfg.ConfigOpts) -> str | None:
    """``[DEFAULT] transport_url``: the registered option if it is
    registered already, else read from the same configuration files,
    directories and environment without importing oslo.messaging.
    """
    if 'transport_url' in conf:
        return conf.transport_url
    probe = cfg.ConfigOpts()
    probe.register_opt(cfg.StrOpt('transport_url', secret=True))
    args: list[str] = []
    for path in conf.config_file or []:
        args += ['--config-file', path]
    for path in conf.config_dir or []:
        args += ['--config-dir', path]
    probe(args, default_config_files=[], default_config_dirs=[])
    value: str | None = probe.transport_url
    return value


def admin_context() -> dict[str, Any]:
    """An admin request context as Neutron agents serialise theirs."""
    now = datetime.datetime.utcnow().strftime(_TIME_FORMAT)
    return {'user_id': None, 'project_id': None, 'tenant_id': None,
            'is_admin': True, 'roles': ['admin'], 'read_deleted': 'no',
            'timestamp': now, 'request_id': 'req-%s' % uuid.uuid4(),
            'user_name': None, 'project_name': None, 'tenant_name': None,
            'auth_token': None}


class StateReporter:
    """Periodic ``report_state`` of one agent."""

    def __init__(self, transport: Any, host: str, interval: float,
                 configurations: dict[str, Any] | None = None,
                 timeout: float | None = None) -> None:
        import oslo_messaging
        target = oslo_messaging.Target(topic=REPORTS_TOPIC, version='1.0')
        self.client = oslo_messaging.get_rpc_client(transport, target)
        self.interval = interval
        # The client registered [DEFAULT] rpc_response_timeout.
        self.timeout = timeout or transport.conf.rpc_response_timeout
        self.state: dict[str, Any] = {
            'binary': BINARY, 'host': host, 'topic': 'N/A',
            'agent_type': AGENT_TYPE,
            'configurations': dict(configurations or {}),
            'start_flag': True}
        self.reports = 0
        self._stop = threading.Event()

    def report(self) -> None:
        """Send one report; the first one waits for Neutron's answer."""
        state = dict(self.state, uuid=str(uuid.uuid4()))
        first = self.reports == 0
        cctxt = self.client.prepare(timeout=self.timeout)
        method = cctxt.call if first else cctxt.cast
        method(admin_context(), 'report_state',
               agent_state={'agent_state': state},
               time=datetime.datetime.utcnow().strftime(_TIME_FORMAT))
        self.reports += 1
        self.state.pop('start_flag', None)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.report()
            except Exception as exc:  # never stop the agent for this
                LOG.warning('State report to Neutron failed: %s', exc)
            self._stop.wait(self.interval)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name='spp-agent-report',
                                  daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()


def from_conf(conf: cfg.ConfigOpts, host: str,
              configurations: dict[str, Any]) -> StateReporter | None:
    """A reporter if reports are enabled and a transport is configured."""
    # oslo.messaging's default "rabbit://" names no server: treat it as
    # "not configured" (tests, the sandbox, a bare agent).
    if not conf.AGENT.report_interval or \
            _transport_url(conf) in (None, '', 'rabbit://'):
        LOG.info('Not reporting state to Neutron (no [DEFAULT] '
                 'transport_url or [AGENT] report_interval = 0)')
        return None
    register_transport_opts(conf)
    import oslo_messaging
    transport = oslo_messaging.get_rpc_transport(conf)
    return StateReporter(transport, host, conf.AGENT.report_interval,
                         configurations)
