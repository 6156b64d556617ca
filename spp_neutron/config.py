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
"""``[spp]`` options of the ``spp`` mechanism driver (ml2_conf.ini).

``etcd_host`` and ``etcd_port`` keep networking-spp's names and group, so
an ml2_conf.ini written for networking-spp's driver works unchanged
(deprecated: ``etcd_endpoints`` is the list that fails over); the etcd
connection options are those of every SPP component
(:mod:`os_vif_accel.etcd_opts`), the socket option the plugin's.
Neutron-free: the sample config generator reads it without Neutron.
"""

from __future__ import annotations

import copy
from typing import Any

from oslo_config import cfg

from os_vif_accel import etcd_opts
from vif_plug_spp import agent
from vif_plug_spp import spp

__all__ = ['GROUP', 'OPTS', 'register_opts', 'list_opts']

GROUP = 'spp'

#: The os-vif plugin's options that mean the same here.
_SHARED = tuple(opt.name for opt in etcd_opts.connection_opts()) + (
    'etcd_connect_timeout', 'etcd_read_timeout', 'vhostuser_socket_template')

OPTS = [copy.deepcopy(opt) for opt in spp.SppPlugin.CONFIG_OPTS
        if opt.name in _SHARED] + [
    cfg.BoolOpt('vhostuser_spp_plug', default=True,
                help='Set the vhostuser_spp_plug binding detail, so Nova '
                     '(with nova_patches/0001) plugs the port with the '
                     'os-vif plugin "spp", which checks and repairs the '
                     'wiring; False hands the port to the "noop" plugin '
                     'like networking-spp did.'),
    cfg.FloatOpt('release_timeout', default=10.0, min=0.0,
                 help='Seconds a binding waits for the agent to finish '
                      'releasing an earlier binding of the same port (a '
                      'MAC change) before it fails.'),
    # The agent's own option: both read [spp], and a sample config or a
    # process that lists both must see one definition.
    *[copy.deepcopy(opt) for opt in agent.AGENT_OPTS
      if opt.name == 'watch_idle_timeout'],
    cfg.FloatOpt('allocation_sweep_interval', default=300.0, min=0.0,
                 help='Seconds between sweeps that release vhosts still '
                      'allocated to a port Neutron no longer binds to '
                      'that host (a release that could not reach etcd). '
                      'An allocation the agent never acted on is freed '
                      'only after two sweeps saw it unchanged, or when '
                      'the port is gone. 0 disables the sweep.'),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, GROUP)


def list_opts() -> list[tuple[str, list[Any]]]:
    return [(GROUP, copy.deepcopy(OPTS))]
