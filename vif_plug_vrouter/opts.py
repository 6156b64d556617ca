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
"""oslo.config entry point: every option and privsep section we own.

os-vif's own ``os_vif`` namespace already lists ``[os_vif_vrouter]`` for
Nova's sample config; this namespace adds the alias section and the
privsep section, which nothing else documents.
"""

from __future__ import annotations

import copy
from typing import Any

from oslo_privsep import priv_context

from vif_plug_vrouter import constants
from vif_plug_vrouter import privsep
from vif_plug_vrouter import vrouter


def list_opts() -> list[tuple[str, list[Any]]]:
    opts = vrouter.VrouterPlugin.CONFIG_OPTS
    return [
        ('os_vif_' + constants.PLUGIN_NAME, copy.deepcopy(opts)),
        ('os_vif_' + constants.ALIAS_PLUGIN_NAME, copy.deepcopy(opts)),
        (privsep.CFG_SECTION,
         copy.deepcopy(priv_context.OPTS + privsep.PRIVILEGED_OPTS)),
    ]
