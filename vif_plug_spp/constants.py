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
"""Names and defaults shared by the plugin, agent and tools."""

PLUGIN_NAME = 'spp'
DEFAULT_SPP_CTL_URL = 'http://127.0.0.1:7777'
# spp_vf's vhost PMD uses /tmp/sock<N>; networking-spp hands Nova the same.
DEFAULT_SOCKET_TEMPLATE = '/tmp/sock{vhost_id}'
DEFAULT_LOCK_TEMPLATE = '/tmp/os-vif-spp-{host}.lock'
# Neutron agents table: what spp-agent reports and the spp mechanism
# driver looks for (networking-spp's values, so its rows keep working).
AGENT_TYPE = 'SPP neutron agent'
AGENT_BINARY = 'neutron-spp-agent'
