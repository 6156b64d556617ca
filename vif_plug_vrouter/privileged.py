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
"""Privileged entrypoints of the vrouter plugin.

Each entrypoint takes only primitives and validates them again before
acting: the privsep daemon runs with CAP_DAC_OVERRIDE and must not become
a way to write arbitrary files for whoever can talk to it.  A port file
can only be written under an absolute, '..'-free directory, under a name
that is a canonical UUID, with content built here from a record that
passes the same checks the agent applies.
"""

from __future__ import annotations

from typing import Any

from vif_plug_vrouter import port_files
from vif_plug_vrouter import privsep


@privsep.vif_plug.entrypoint
def write_port_file(ports_dir: str, rec: dict[str, Any],
                    extra: dict[str, Any] | None = None) -> str:
    return port_files.write_port_file(ports_dir, rec, extra)


@privsep.vif_plug.entrypoint
def remove_port_file(ports_dir: str, port_id: str) -> bool:
    return port_files.remove_port_file(ports_dir, port_id)


@privsep.vif_plug.entrypoint
def read_port_file(ports_dir: str, port_id: str) -> str | None:
    return port_files.read_port_file(ports_dir, port_id)
