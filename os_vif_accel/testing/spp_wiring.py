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
"""Reading traffic wiring back from an spp_vf status (spp-ctl's
``GET /v1/vfs/<id>`` answer), for tests that check where a MAC's frames
go: classifier entry -> ring -> the forwarder that reads it -> vhost.
"""

from __future__ import annotations

from typing import Any

__all__ = ['vhost_behind', 'entries']


def vhost_behind(status: dict[str, Any], ring: str) -> str:
    """The vhost port the forwarder fed by ``ring`` sends to."""
    for comp in status['components']:
        rx = [p['port'] for p in comp.get('rx_port', [])]
        tx = [p['port'] for p in comp.get('tx_port', [])]
        if rx == [ring] and len(tx) == 1 and tx[0].startswith('vhost:'):
            return str(tx[0])
    raise AssertionError('no forwarder of spp_vf %s reads %s'
                         % (status.get('client-id'), ring))


def entries(status: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Each classifier entry as (type, value, vhost its frames reach)."""
    return [(e['type'], e['value'], vhost_behind(status, e['port']))
            for e in status['classifier_table']]
