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
"""etcd authentication: user/password -> token, renewed when it expires.

etcd's JSON gateway (checked against Debian's etcd 3.4.23) takes
``POST /v3/auth/authenticate {"name", "password"}`` and answers a token
that later requests send in the ``Authorization`` header.  Its error
answers are gRPC statuses as JSON (``{"error", "message", "code"}``;
codes and messages: etcd v3.4.23 ``etcdserver/api/v3rpc/rpctypes/
error.go`` 55, 60, 61, 64, 65, 67; the HTTP status is grpc-gateway's
mapping of the code):

* 401 code 16 ``etcdserver: invalid auth token`` - the token expired
  (``--auth-token-ttl``, simple tokens) or the member does not know it:
  authenticate again, once, and resend (the request was not applied);
* 400 code 3 ``etcdserver: revision of auth store is old`` - the same;
* 400 code 3 ``etcdserver: user name is empty`` - auth is on and no
  token was sent: credentials are needed;
* 400 code 3 ``etcdserver: authentication failed, invalid user ID or
  password`` from ``authenticate``;
* 412 code 9 ``etcdserver: authentication is not enabled`` from
  ``authenticate``: the cluster is open, requests go without a token;
* 403 code 7 ``etcdserver: permission denied``.

A watch reports the same as ``cancel_reason`` ``rpc error: code = ...
desc = <message>`` in its first message.  Neither password nor token is
ever put in a log line or an exception text.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from typing import Any, Callable

from oslo_log import log as logging

from os_vif_accel import http as accel_http
from vif_plug_spp import etcd_errors as errors

LOG = logging.getLogger(__name__)

__all__ = ['Auth', 'RENEW', 'DENIED', 'NEEDED', 'classify', 'describe_keys']

RENEW = 'renew'
DENIED = 'denied'
NEEDED = 'needed'
_RENEW = ('etcdserver: invalid auth token',
          'etcdserver: revision of auth store is old')
_NEEDED = 'etcdserver: user name is empty'
_FAILED = 'etcdserver: authentication failed'
_NOT_ENABLED = 'etcdserver: authentication is not enabled'
_DENIED = 'etcdserver: permission denied'

Send = Callable[[str, Any], tuple[Any, accel_http.Response]]


def _message(resp: accel_http.Response) -> str:
    try:
        return str(json.loads(resp.body.decode('utf-8')).get('message'))
    except (ValueError, AttributeError):
        return ''


def classify(message: str) -> str | None:
    """RENEW, DENIED, NEEDED for an auth answer's (or a watch's cancel)
    message, else None.
    """
    if any(text in message for text in _RENEW):
        return RENEW
    if _DENIED in message:
        return DENIED
    if _NEEDED in message:
        return NEEDED
    return None


def classify_answer(resp: accel_http.Response) -> str | None:
    return classify(_message(resp)) if resp.status in (400, 401, 403) \
        else None


def _key(text: Any) -> str:
    try:
        return base64.b64decode(text or '', validate=True).decode(
            'utf-8', 'replace')
    except (binascii.Error, TypeError, ValueError):
        return '?'


def describe_keys(body: Any) -> str:
    """The keys or key ranges a request touches, for error messages."""
    reqs: list[dict[str, Any]] = []
    if isinstance(body, dict):
        reqs.append(body.get('create_request') or body)
        reqs += body.get('compare') or []
        for op in (body.get('success') or []) + (body.get('failure') or []):
            reqs += [v for v in op.values() if isinstance(v, dict)]
    names = []
    for req in reqs:
        if req.get('key') is None:
            continue
        name = ('prefix %r' if req.get('range_end') else 'key %r') % \
            _key(req['key'])
        if name not in names:
            names.append(name)
    if not names:
        return 'the request'
    return ', '.join(names[:4]) + (' ...' if len(names) > 4 else '')


class Auth:
    """The credentials of one client and its current token."""

    def __init__(self, username: str | None, password: str | None) -> None:
        self.username = username or None
        self._password = password
        self._token: str | None = None
        self._open = False   # the cluster said auth is not enabled
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return 'Auth(user=%r)' % self.username

    def headers(self, send: Send, api_path: str) -> dict[str, str]:
        """The headers of a request, authenticating first if needed."""
        if self.username is None or self._open:
            return {}
        with self._lock:
            if self._token is None:
                self._token = self._authenticate(send, api_path)
            token = self._token
        return {'Authorization': token} if token else {}

    def renewable(self, kind: str | None, headers: dict[str, str]) -> bool:
        """Whether authenticating (again) may cure answer ``kind``: an
        expired token, or a cluster that enabled authentication after
        it told us it had none.
        """
        return (kind == RENEW and bool(headers)) or (
            kind == NEEDED and self.username is not None and self._open)

    def expired(self, headers: dict[str, str]) -> None:
        """Forget the token ``headers`` carried (unless already renewed
        by another thread), so the next request authenticates again.
        """
        with self._lock:
            self._open = False
            if headers.get('Authorization', '') == (self._token or ''):
                self._token = None

    def _authenticate(self, send: Send, api_path: str) -> str:
        member, resp = send(api_path + 'auth/authenticate',
                            {'name': self.username,
                             'password': self._password})
        message = _message(resp)
        if resp.status == 200:
            try:
                token = json.loads(resp.body.decode('utf-8'))['token']
            except (ValueError, KeyError, TypeError, AttributeError):
                token = None
            if isinstance(token, str) and token:
                return token
            raise errors.EtcdBadAnswer('etcd %s: authentication answer '
                                       'without a token' % member.url)
        if _NOT_ENABLED in message:
            LOG.warning('etcd %s: authentication is not enabled on the '
                        'cluster; sending requests as user %r without a '
                        'token', member.url, self.username)
            self._open = True
            return ''
        if _FAILED in message:
            raise errors.EtcdAuthError(
                'etcd %s: authentication of user %r failed: wrong user '
                'name or password' % (member.url, self.username))
        raise errors.EtcdAuthError('etcd %s: authentication of user %r '
                                   'refused: HTTP %d %s' % (
                                       member.url, self.username,
                                       resp.status, message[:200]))

    def error(self, kind: str, url: str, body: Any) -> errors.EtcdError:
        """The exception for an auth answer that renewal cannot fix."""
        if kind == DENIED:
            return errors.EtcdPermissionDenied(self.username,
                                               describe_keys(body), url)
        if kind == NEEDED:
            return errors.EtcdAuthError(
                'etcd %s requires authentication: set etcd_username and '
                'etcd_password or etcd_credentials_file' % url)
        return errors.EtcdAuthError(
            'etcd %s rejected the token of user %r again right after '
            'authenticating' % (url, self.username))
