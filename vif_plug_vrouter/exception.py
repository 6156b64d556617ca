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
"""Exceptions raised by the vrouter plugin.

Every message names the port and, for agent failures, the agent URL, the
HTTP status and the agent's own error text: Nova wraps these in an
InternalError whose text is all an operator sees.
"""

from os_vif import exception as osv_exception

from os_vif_accel import exception as accel_exception
from os_vif_accel.i18n import _


class VrouterError(osv_exception.ExceptionBase):
    msg_fmt = _('vRouter plugin error for port %(port_id)s: %(reason)s')


class InvalidPort(accel_exception.InvalidPort, VrouterError):
    pass


class UnsupportedVIF(accel_exception.UnsupportedVIF, VrouterError):
    pass


class AgentRefused(VrouterError):
    """The agent answered with a status other than 200 (raised by
    agent_client; a GET's 404 is "no config yet", not this); the message
    carries the status and the agent's own error text.
    """

    msg_fmt = _('vRouter agent %(url)s refused %(operation)s of port '
                '%(port_id)s: HTTP %(status)s: %(error)s')


class AgentUnreachable(VrouterError):
    """The request could not be delivered within the retry window
    (connection refused or reset, connect timed out): the agent may be
    down or restarting.  A read timeout is :class:`AgentBadAnswer`.
    """

    msg_fmt = _('vRouter agent %(url)s unreachable for %(operation)s of '
                'port %(port_id)s (no HTTP status): %(reason)s')


class AgentBadAnswer(VrouterError):
    """No usable answer: the TLS handshake failed, none came within the
    read timeout, the HTTP framing was broken (status 'none'), or the
    body is not the JSON expected.  Except after a TLS failure the agent
    may have acted on the request; callers must not assume it did not.
    """

    msg_fmt = _('vRouter agent %(url)s gave an invalid answer to '
                '%(operation)s of port %(port_id)s (HTTP status '
                '%(status)s): %(reason)s')


class PortFileError(VrouterError):
    """The agent replays port files after its restart, so a port file
    that cannot be read, written or removed is an error naming its path.
    """

    msg_fmt = _('Cannot %(operation)s port file %(path)s of port '
                '%(port_id)s: %(reason)s')


class SriovError(VrouterError):
    """Base of every fault in the host's SR-IOV tree (sysfs) for one device."""

    msg_fmt = _('SR-IOV device %(address)s: %(reason)s')


class PciDeviceNotFound(SriovError):
    """The VF Nova passed, or its PF, is missing under the sysfs root or
    lacks a link it must have (physfn, a netdev, the PF's virtfn back to
    the VF); the reason says which.
    """

    msg_fmt = _('PCI device %(address)s (under %(root)s): %(reason)s')


class NotSwitchdev(SriovError):
    """A VF has a representor only when its PF is in switchdev mode."""

    msg_fmt = _('PF %(pf)s of VF %(vf)s is not in switchdev mode (none of '
                'its netdevs has a phys_switch_id), so the VF has no '
                'representor; switch it with "devlink dev eswitch set '
                'pci/%(pf)s mode switchdev"')


class RepresentorNotFound(SriovError):
    """Names which phys_port_name forms were tried, so the operator can
    compare them with ``ip -d link`` on the host.
    """

    msg_fmt = _('No representor netdev for VF %(vf)s (PF %(pf)s, VF index '
                '%(index)s, switch id %(switch_id)s): no netdev with that '
                'switch id has phys_port_name pfNvf%(index)s, vf%(index)s '
                'or %(index)s')


class OffloadError(VrouterError):
    """Base of the SmartNIC offload faults (VFIO binding, representor)."""

    msg_fmt = _('SmartNIC offload of port %(port_id)s failed: %(reason)s')


class RepresentorNameTaken(OffloadError):
    """Renaming over another netdev would break that one: refused, nothing
    changed.
    """

    msg_fmt = _('Cannot rename representor %(ifname)s of VF %(vf)s to '
                '%(name)s for port %(port_id)s: another netdev already has '
                'that name; the host was left as it was')


class VFInUse(OffloadError):
    """A VF bound to a driver this port did not bind belongs to someone
    else: refused, nothing changed.
    """

    msg_fmt = _('VF %(vf)s of port %(port_id)s is bound to driver '
                '%(driver)s, which this port did not do (in use by another '
                'port or guest?); the host was left as it was')


class HostStepFailed(OffloadError):
    """Names the failed step and what the rollback did, so the operator
    knows whether the host is as it was.
    """

    msg_fmt = _('SmartNIC offload of port %(port_id)s failed at step '
                '"%(step)s": %(reason)s; %(rollback)s')
