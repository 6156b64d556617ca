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
"""Why an SPP port could not be bound: each error names the port, the
host and the cause, because ML2 itself only logs that no driver bound it.
"""

__all__ = ['BindError', 'NotSppHost', 'BadConfiguration', 'NoPhysnet',
           'NoFreeVhost', 'AgentDown', 'EtcdFailed', 'ReleasedWhileBinding',
           'ReleasePending']


class BindError(Exception):
    """A port cannot be bound on a host: the message names both and why;
    nothing stays allocated by the failed attempt.
    """

    def __init__(self, host: str, port_id: str, reason: str) -> None:
        self.host = host
        self.port_id = port_id
        self.reason = reason
        super().__init__('SPP cannot bind port %s on host %s: %s'
                         % (port_id, host, reason))


class NotSppHost(BindError):
    """No ``configuration/<host>``: the host is not an SPP host."""


class BadConfiguration(BindError):
    """``configuration/<host>`` is not what spp-config-build writes."""


class NoPhysnet(BindError):
    """No NIC of the host serves the segment's physical network."""


class NoFreeVhost(BindError):
    """Every vhost of the physical network on the host is taken."""


class EtcdFailed(BindError):
    """etcd is unreachable or refused a request."""


class ReleasedWhileBinding(BindError):
    """The port was released (deleted, unbound) while it was bound."""


class ReleasePending(BindError):
    """The agent has not finished releasing an earlier binding."""


class AgentDown(BindError):
    """The host's spp-agent is not registered or not alive in Neutron."""
