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
"""The errors of the etcd client (:mod:`vif_plug_spp.etcd`).

They say which endpoint failed and why, never a password or a token:
exception texts end up in logs and in Nova's and Neutron's fault
records.  Configuration errors (TLS, authentication, permissions) are
their own classes because no other member will answer them differently:
the client raises them at once instead of failing over.
"""

from __future__ import annotations

__all__ = ['EtcdError', 'EtcdUnavailable', 'EtcdOutcomeUnknown',
           'EtcdBadAnswer', 'EtcdConfigError', 'EtcdTLSError',
           'EtcdAuthError', 'EtcdPermissionDenied', 'WatchCompacted']


class EtcdError(Exception):
    """Base class of every error of the etcd client."""


class EtcdUnavailable(EtcdError):
    """No etcd member could be reached or answered in time."""


class EtcdOutcomeUnknown(EtcdUnavailable):
    """A write was sent but its member failed before answering: it may or
    may not have been applied, so it was not sent again.  Re-read, then
    decide (callers that converge, like the agent, just retry later).
    """


class EtcdBadAnswer(EtcdError):
    """etcd answered with an error status or an unexpected body."""


class EtcdConfigError(EtcdError):
    """The client's configuration does not fit the cluster; retrying or
    another member would not help.
    """


class EtcdTLSError(EtcdConfigError):
    """TLS with a member failed (wrong CA, expired or untrusted
    certificate, host name mismatch, http against https or back).
    """


class EtcdAuthError(EtcdConfigError):
    """etcd refused the credentials or requires some."""


class EtcdPermissionDenied(EtcdConfigError):
    """The user's roles do not cover the keys of a request."""

    def __init__(self, user: str | None, what: str, endpoint: str) -> None:
        self.user = user
        self.what = what
        super().__init__(
            'etcd %s: permission denied for %s on %s: grant its role '
            'access to that key range' % (
                endpoint, 'user %r' % user if user else 'anonymous access',
                what))


class WatchCompacted(EtcdError):
    """The revision to resume from was compacted away: re-read and
    restart from ``compact_revision`` (the caller must resynchronise).
    """

    def __init__(self, compact_revision: int) -> None:
        self.compact_revision = compact_revision
        super().__init__('watch start revision compacted (oldest '
                         'available revision %d); re-read the prefix'
                         % compact_revision)
