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
"""oslo.config entry point: the plugin's section and the agent's."""

from __future__ import annotations

import copy
from typing import Any

from vif_plug_spp import agent
from vif_plug_spp import constants
from vif_plug_spp import report
from vif_plug_spp import spp


def list_opts() -> list[tuple[str, list[Any]]]:
    return [
        ('os_vif_' + constants.PLUGIN_NAME,
         copy.deepcopy(spp.SppPlugin.CONFIG_OPTS)),
        (agent.GROUP, copy.deepcopy(agent.AGENT_OPTS)),
        ('AGENT', copy.deepcopy(report.REPORT_OPTS)),
        ('DEFAULT', [copy.deepcopy(agent.HOST_OPT)]),
    ]
