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
"""``spp-agent``: the SPP compute agent.

Reads the same options as networking-spp's agent (``[spp] etcd_host``,
``etcd_port``, ``api_ip_addr``, ``api_port`` and ``[DEFAULT] host``), so
it can be started with neutron.conf and ml2_conf.ini.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

from oslo_config import cfg
from oslo_log import log as logging

from vif_plug_spp import agent as agent_mod
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import report


def _setup(argv: list[str]) -> Any:
    """Parse the options and build the agent, or exit 2 with one line:
    a bad configuration file, option value or host name is the operator's
    to fix, not a traceback.
    """
    # The global CONF, like every Neutron agent: oslo.messaging registers
    # some of its options there only.
    conf = cfg.CONF
    try:
        logging.register_options(conf)
        agent_mod.register_opts(conf)
        report.register_opts(conf)
        conf(argv, project='spp-agent')
        logging.setup(conf, 'spp-agent')
        return conf, agent_mod.from_conf(conf)
    except (cfg.Error, ValueError,  # InvalidKeyPart, decoding, etcd opts
            etcd_mod.EtcdConfigError) as exc:
        what = 'a configuration file is not UTF-8: ' if isinstance(
            exc, UnicodeDecodeError) else ''
        print('spp-agent: error: %s%s' % (what, ' '.join(str(exc).split())),
              file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    conf, agent = _setup(sys.argv[1:] if argv is None else argv)
    reporter = report.from_conf(conf, conf.host, {
        'etcd': ','.join(agent.etcd.endpoints),
        'spp_ctl': '%s:%d' % (conf.spp.api_ip_addr, conf.spp.api_port)})

    def _stop(signum: int, frame: Any) -> None:
        agent.stop()
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if reporter is not None:
        reporter.start()
    try:
        agent.run()
    finally:
        if reporter is not None:
            reporter.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
