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
"""Our ``spp-agent`` as a real process for one host, for tests that need
several SPP hosts at once (one agent per host, one etcd).
"""

from __future__ import annotations

import os
import subprocess
import sys

import fixtures


class AgentProcess(fixtures.Fixture):
    """``python -m vif_plug_spp.cmd.agent`` serving ``host``: etcd at
    ``etcd_host:etcd_port``, spp-ctl at 127.0.0.1:``api_port``; no state
    reports (no Neutron), its log in ``tmp``.
    """

    def __init__(self, tmp: str, host: str, etcd_host: str, etcd_port: int,
                 api_port: int) -> None:
        super().__init__()
        self.tmp = tmp
        self.host = host
        self.etcd = (etcd_host, etcd_port)
        self.api_port = api_port
        self.log = os.path.join(tmp, 'agent-%s.log' % host)

    def _setUp(self) -> None:
        conf = os.path.join(self.tmp, 'agent-%s.conf' % self.host)
        with open(conf, 'w') as f:
            f.write('[DEFAULT]\nhost = %s\n[AGENT]\nreport_interval = 0\n'
                    '[spp]\netcd_host = %s\netcd_port = %d\n'
                    'api_ip_addr = 127.0.0.1\napi_port = %d\nlock_path =\n'
                    'backoff_max = 0.3\n' % ((self.host,) + self.etcd +
                                             (self.api_port,)))
        with open(self.log, 'wb') as out:
            self.proc = subprocess.Popen(
                [sys.executable, '-m', 'vif_plug_spp.cmd.agent',
                 '--config-file', conf], stdout=out, stderr=subprocess.STDOUT)
        self.addCleanup(self.proc.wait, 10)
        self.addCleanup(self.proc.kill)
