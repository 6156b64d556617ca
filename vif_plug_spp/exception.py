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
"""Exceptions raised by the spp plugin.

Nova wraps these in an InternalError whose text is all an operator sees,
so each one names the port, the host name used in the etcd keys, the key
or URL involved and what to check.
"""

from os_vif import exception as osv_exception

from os_vif_accel import exception as accel_exception
from os_vif_accel.i18n import _


class SppError(osv_exception.ExceptionBase):
    msg_fmt = _('SPP plugin error for port %(port_id)s: %(reason)s')


class InvalidPort(accel_exception.InvalidPort, SppError):
    pass


class UnsupportedVIF(accel_exception.UnsupportedVIF, SppError):
    pass


class HostNotConfigured(SppError):
    """The builder has not written ``configuration/<host>`` for this host
    (or the host names differ): nothing can be wired.
    """

    msg_fmt = _('Host %(host)s has no SPP configuration (%(key)s is missing '
                'in etcd %(url)s) while plugging port %(port_id)s: run '
                'spp-config-build for this host, and check that '
                '[os_vif_spp] host matches SPP_HOST of the builder and the '
                'Neutron binding host')


class PortNotBound(SppError):
    """The spp mechanism driver has not written ``bind_port`` for this
    port on this host, so there is no vhost to plug.
    """

    msg_fmt = _('Port %(port_id)s has no SPP binding on host %(host)s '
                '(%(key)s is missing in etcd %(url)s): Neutron has not '
                'bound it here with the spp mechanism driver, or the host '
                'names differ')


class BindingMismatch(SppError):
    """Plugging would wire the wrong port or wire it wrongly: the
    ``bind_port`` value is invalid or disagrees with the VIF Nova passed
    (socket, MAC), Neutron is unbinding the port, the vhost is held by
    another port, or the host's SPP configuration is unusable or cannot
    serve the bound vhost (:mod:`vif_plug_spp.wiring`).
    """

    msg_fmt = _('Port %(port_id)s on host %(host)s: %(reason)s')


class EtcdUnreachable(SppError):
    """No etcd member answered in time, or one answered with an error.

    A failed read changed nothing.  When reporting ``up`` failed, the
    spp_vf wiring already made stays (a retried plug finds it in place
    and reports again); a write whose member failed before answering may
    or may not have been applied.
    """

    msg_fmt = _('etcd %(url)s failed while %(operation)s port %(port_id)s: '
                '%(reason)s')


class EtcdAccessRefused(SppError):
    """etcd answered but refused this host's access: TLS (CA, client
    certificate, http against https), credentials, or a role that does
    not cover the keys.  Not "unreachable": retrying or waiting for etcd
    does not help, the configuration must change.  ``reason`` names the
    endpoint and the cause, never a password or token.
    """

    msg_fmt = _('etcd refused access while %(operation)s port '
                '%(port_id)s (fix the [os_vif_spp] etcd_* options or the '
                'etcd role of this host): %(reason)s')


class SppCtlFailed(SppError):
    """The spp_vf wiring failed: spp-ctl refused or did not answer a
    step (the reason says whether it was rolled back), answered a status
    of another shape, or the configuration asks for a change spp_vf
    cannot undo, so nothing was sent.
    """

    msg_fmt = _('spp-ctl %(url)s could not %(operation)s port %(port_id)s: '
                '%(reason)s')


class HostLockFailed(SppError):
    """The lock file shared with the spp-agent (``lock_path``) could not
    be opened or created.
    """

    msg_fmt = _('Port %(port_id)s: %(reason)s')
