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
"""An emulator of the vRouter agent's port REST API.

The real agent needs the vRouter kernel module or DPDK and a control node,
none of which run on a development machine or in CI.  This emulator
implements the agent's port API rule by rule after
``OpenSDN-io/tf-controller`` @ ``fbb63bcd`` (``src/vnsw/agent/port_ipc/``),
each rule citing its upstream file and line, so that the plugin, the CLI,
the sandbox and users' own CI can exercise the real wire protocol.  The
rules table with the test pinning each rule is
``doc/source/reference/agent-emulator.rst``.
"""
