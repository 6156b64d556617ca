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
"""Constants of the vRouter agent's port protocol and of this plugin."""

PLUGIN_NAME = 'vrouter'
ALIAS_PLUGIN_NAME = 'contrail_vrouter'

DEFAULT_AGENT_URL = 'http://127.0.0.1:9091'
DEFAULT_PORTS_DIR = '/var/lib/contrail/ports'
DEFAULT_VHOSTUSER_DIR = '/var/run/vrouter'

#: Agent ``type`` values (``--port_type`` names of vrouter-port-control).
PORT_TYPES = {'NovaVMPort': 0, 'NameSpacePort': 1, 'ESXiPort': 2}
PORT_TYPE_NAMES = {v: k for k, v in PORT_TYPES.items()}

#: ``vhostuser-mode``: 0 = QEMU is the vhost-user client (vRouter listens),
#: 1 = QEMU is the server (vRouter connects).
VHOSTUSER_MODE_CLIENT = 0
VHOSTUSER_MODE_SERVER = 1

#: The agent stores "no VLAN" as uint16 0xFFFF and writes it so in files.
NO_VLAN = -1
AGENT_NO_VLAN = 65535

#: Prefix of the socket the DPDK vRouter creates for a port.
VHOSTUSER_SOCKET_PREFIX = 'uvh_vif_'

#: Key under which this library keeps its own state in a port file; the
#: agent ignores unknown keys.
HOST_STATE_KEY = 'os-vif-accel'
#: Upper bound of a VF (un)bind wait (the kernel binds synchronously).
MAX_VF_DRIVER_TIMEOUT = 300.0
