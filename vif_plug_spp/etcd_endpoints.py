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
"""The members of an etcd cluster a client may talk to, and failover.

Every request goes to the member that answered last (``preferred``);
when it cannot be reached - connection refused or timed out, or reset
before a reply - the next member is tried at once, members that failed
within ``down_grace`` seconds last.  A request's time is bounded: one
connect and one read timeout per member tried, plus ``retry_window``
seconds of backed-off rounds over all of them.

What may be sent again is the caller's call (``safe``): a read may, a
write whose request left this host before its member failed may have been
applied, so it ends with :class:`EtcdOutcomeUnknown` instead.  TLS
failures are configuration errors that no other member answers better:
they are raised at once, naming the endpoint and the cause.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import ssl
import time
from typing import Any

from oslo_log import log as logging

from os_vif_accel import http as accel_http
from vif_plug_spp import etcd_errors as errors

LOG = logging.getLogger(__name__)

__all__ = ['Member', 'Members']

#: etcd's gRPC "Unavailable": the member cannot serve the request now
#: (no leader, stopping, request timed out in raft; etcd v3.4.23
#: ``etcdserver/api/v3rpc/rpctypes/error.go`` 69-80).
_UNAVAILABLE = 14
#: Refused before being proposed, so another member may serve it: "no
#: leader" (``etcdserver/v3_server.go`` 384-399, a follower finding no
#: leader to forward a lease call to; ``api/v3rpc/interceptor.go`` 63-65)
#: and "not capable" (``interceptor.go`` 47-48, before the handler).
#: Not "server stopped": it also ends a write that was proposed
#: (``v3_server.go`` 675, 691-692), which may still commit.
_NOT_PROPOSED = ('etcdserver: no leader', 'etcdserver: not capable')
_TLS_HINTS = (
    ('wrong version number', 'the member seems to serve plain http: use '
     'an http:// endpoint or enable TLS on it'),
    ('certificate verify failed', 'check etcd_ca_file and the member\'s '
     'certificate (host name, validity dates)'),
    ('bad certificate', 'the member refused the client certificate '
     '(none given, or not signed by a CA it trusts): check '
     'etcd_cert_file and etcd_key_file'),
    ('certificate required', 'the member requires a client certificate: '
     'set etcd_cert_file and etcd_key_file'),
    ('unknown ca', 'the member does not trust the client certificate'),
)
#: How a TLS handshake ends when the member is not speaking TLS.
_HANDSHAKE_EOF = ('eof occurred in violation of protocol',
                  'unexpected_eof')


class Failed(Exception):
    """One member did not answer; ``sent``: the request may have arrived."""

    def __init__(self, reason: str, sent: bool) -> None:
        super().__init__(reason)
        self.sent = sent


def tls_error(url: str, exc: Exception) -> errors.EtcdTLSError:
    """The error for a TLS failure with the member at ``url``."""
    text = str(exc)
    hint = next((h for key, h in _TLS_HINTS if key in text.lower()), '')
    return errors.EtcdTLSError('etcd %s: TLS failed: %s%s' % (
        url, text, '; ' + hint if hint else ''))


def _trouble(resp: accel_http.Response) -> tuple[str, bool] | None:
    """(reason, maybe applied) when the answer says the member itself
    cannot serve now, else None.
    """
    if resp.status != 503:
        return None
    try:
        body = json.loads(resp.body.decode('utf-8'))
        code, message = int(body.get('code', 0)), str(body.get('message'))
    except (ValueError, AttributeError, TypeError):
        return 'HTTP 503', True
    if code != _UNAVAILABLE:
        return None
    return message, message not in _NOT_PROPOSED


def _answers_plain_http(url: str, timeout: float) -> bool:
    """Whether ``url``'s host:port answers a plain HTTP request."""
    _scheme, host, port, _path = accel_http.http_wire.split_url(url)
    probe = accel_http.JSONClient('http://%s:%d' % (host, port), timeout,
                                  timeout)
    try:
        probe.request('GET', '/version')
        return True
    except (OSError, accel_http.BadAnswer, accel_http.Unreachable):
        return False
    finally:
        probe.close()


def _speaks_tls(url: str, timeout: float) -> bool:
    """Whether ``url``'s host:port completes (or refuses with a TLS
    alert) a TLS handshake - i.e. serves https.
    """
    _scheme, host, port, _path = accel_http.http_wire.split_url(url)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout) as sock:
            with ctx.wrap_socket(sock):
                return True
    except ssl.SSLError as exc:
        return not any(text in str(exc).lower() for text in _HANDSHAKE_EOF)
    except OSError:
        return False


@dataclasses.dataclass(frozen=True)
class Policy:
    """Timeouts (seconds) of a member list; see :class:`Members`."""

    connect_timeout: float = 1.0
    read_timeout: float = 5.0
    retry_window: float = 1.0
    backoff_max: float = 1.0
    down_grace: float = 10.0


class Member:
    """One endpoint with its keep-alive connection pool."""

    def __init__(self, url: str, http: accel_http.JSONClient) -> None:
        self.url = url
        self.http = http
        # When it last answered / last failed (monotonic, 0: never).
        self.last_answer = 0.0
        self.failed_at = 0.0

    def __repr__(self) -> str:
        return 'Member(%s)' % self.url


class Members:
    """An ordered endpoint list with the member to prefer."""

    def __init__(self, urls: tuple[str, ...] | list[str],
                 connect_timeout: float = 1.0, read_timeout: float = 5.0,
                 retry_window: float = 1.0, tls: dict[str, Any] | None = None,
                 backoff_max: float = 1.0, down_grace: float = 10.0) -> None:
        self.policy = Policy(connect_timeout, read_timeout, retry_window,
                             backoff_max, down_grace)
        self._down_until = 0.0
        self.members = [self._member(url, tls or {}) for url in urls]
        self.preferred = self.members[0]

    def _member(self, url: str, tls: dict[str, Any]) -> Member:
        try:
            http = accel_http.JSONClient(
                url, connect_timeout=self.policy.connect_timeout,
                read_timeout=self.policy.read_timeout, retry_window=0.0,
                down_grace=0.0, **(tls if url.startswith('https') else {}))
        except OSError as exc:  # ssl.SSLError is an OSError too
            raise errors.EtcdTLSError(
                'etcd %s: cannot load the TLS files (etcd_ca_file %s, '
                'etcd_cert_file %s, etcd_key_file %s): %s' % (
                    url, tls.get('ca_file'), tls.get('cert_file'),
                    tls.get('key_file'), exc)) from None
        return Member(url, http)

    def close(self) -> None:
        for member in self.members:
            member.http.close()

    def order(self) -> list[Member]:
        """The preferred member first, then the others in list order;
        those that failed within ``down_grace`` seconds last.
        """
        start = self.members.index(self.preferred)
        ring = self.members[start:] + self.members[:start]
        recent = time.monotonic() - self.policy.down_grace
        return sorted(ring, key=lambda m: m.failed_at > recent)

    def failed(self, member: Member, reason: str = '') -> None:
        """Remember a failure; prefer the next member from now on."""
        member.failed_at = time.monotonic()
        if member is self.preferred and len(self.members) > 1:
            healthy = [m for m in self.order() if m is not member]
            self.preferred = healthy[0]
            if healthy[0].failed_at:
                return   # all failing: the request's error says it all
            LOG.warning('etcd member %s failed%s; using %s from now on',
                        member.url, ' (%s)' % reason if reason else '',
                        self.preferred.url)

    def _good(self, member: Member) -> None:
        member.failed_at = 0.0
        member.last_answer = time.monotonic()
        self.preferred = member
        self._down_until = 0.0

    def _tls_failure(self, member: Member, exc: Exception) -> Exception:
        """The error for a failed handshake: a handshake cut short by a
        member that answers plain HTTP is a configuration error; by one
        that does not (it died meanwhile), a reason to fail over.
        """
        if any(text in str(exc).lower() for text in _HANDSHAKE_EOF):
            if not _answers_plain_http(member.url,
                                       self.policy.connect_timeout):
                return Failed('TLS handshake cut short: %s' % exc, False)
            return errors.EtcdTLSError(
                'etcd %s: TLS failed: the member serves plain http: use an '
                'http:// endpoint or enable TLS on it' % member.url)
        return tls_error(member.url, exc)

    def _refused_tls(self, member: Member, exc: errors.EtcdTLSError,
                     seen: dict[str, errors.EtcdTLSError]) -> None:
        """A member whose TLS set-up is wrong: with one endpoint, the
        error at once; with several, an error line naming the member and
        the cause (every time, never hidden) and the next member, so one
        member with an expired or misnamed certificate does not take a
        healthy cluster away. Nothing was sent: the handshake failed.
        """
        if len(self.members) == 1:
            raise exc
        LOG.error('%s; trying the next etcd member', exc)
        member.failed_at = time.monotonic()
        seen[member.url] = exc

    def send_to(self, member: Member, method: str, path: str, body: Any,
                headers: dict[str, str],
                safe: bool = True) -> accel_http.Response:
        """One attempt on ``member``; raises :class:`Failed` when it did
        not answer (or answered that it cannot serve now).
        """
        try:
            resp = member.http.request(method, path, body, headers,
                                       idempotent=safe)
        except accel_http.TLSFailure as exc:
            raise self._tls_failure(member, exc) from None
        except accel_http.Unreachable as exc:
            if exc.sent and 'closed before an answer' in exc.reason and \
                    member.url.startswith('http:') and \
                    _speaks_tls(member.url, self.policy.connect_timeout):
                raise errors.EtcdTLSError(
                    'etcd %s: the member serves https: use an https:// '
                    'endpoint (and etcd_ca_file)' % member.url) from None
            raise Failed(str(exc), exc.sent) from None
        except accel_http.BadAnswer as exc:
            raise Failed(str(exc), True) from None
        if resp.status == 400 and b'HTTP request to an HTTPS server' in \
                resp.body:
            raise errors.EtcdTLSError(
                'etcd %s: the member serves https: use an https:// '
                'endpoint (and etcd_ca_file)' % member.url)
        trouble = _trouble(resp)
        if trouble is not None:
            raise Failed(*trouble)
        self._good(member)
        return resp

    def _give_up_if(self, window_over: bool, path: str,
                    reasons: dict[str, str],
                    tls_errors: dict[str, errors.EtcdTLSError]) -> None:
        """After a pass over the members: raise when every member refused
        our TLS set-up (no retry may hide that) or the window is over.
        """
        if len(tls_errors) == len(self.members):
            raise next(iter(tls_errors.values()))
        if window_over:
            self._down_until = time.monotonic() + self.policy.down_grace
            raise errors.EtcdUnavailable(
                'etcd unreachable (no member answered %s): %s' % (
                    path, '; '.join('%s: %s' % item
                                    for item in reasons.items())))

    def send(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None,
             safe: bool = True) -> tuple[Member, accel_http.Response]:
        """Send to the first member that answers (see the module doc)."""
        start = time.monotonic()
        policy = self.policy
        window = 0.0 if start < self._down_until else policy.retry_window
        deadline = start + window + policy.connect_timeout + \
            policy.read_timeout
        delay = 0.05
        reasons: dict[str, str] = {}
        tls_errors: dict[str, errors.EtcdTLSError] = {}
        while True:
            for member in self.order():
                if reasons and time.monotonic() > deadline:
                    break
                try:
                    return member, self.send_to(member, method, path, body,
                                                headers or {}, safe)
                except errors.EtcdTLSError as exc:
                    self._refused_tls(member, exc, tls_errors)
                    reasons[member.url] = str(exc)
                    continue
                except Failed as exc:
                    self.failed(member, str(exc))
                    reasons[member.url] = str(exc)
                    if exc.sent and not safe:
                        raise errors.EtcdOutcomeUnknown(
                            'etcd %s %s: %s after the request was sent; it '
                            'may have been applied, so it was not sent '
                            'again' % (member.url, path, exc)) from None
                    LOG.debug('etcd %s failed (%s); trying the next member',
                              member.url, exc)
            self._give_up_if(time.monotonic() - start + delay > window,
                             path, reasons, tls_errors)
            time.sleep(delay)
            delay = min(delay * 2, self.policy.backoff_max)

    def stream(self, path: str, body: Any, read_timeout: float,
               headers: dict[str, str]) -> tuple[Member, accel_http.Stream]:
        """Open a streaming call on the first member that accepts it."""
        reasons = []
        tls_errors: dict[str, errors.EtcdTLSError] = {}
        for member in self.order():
            try:
                stream = member.http.stream('POST', path, body,
                                            read_timeout=read_timeout,
                                            headers=headers)
            except accel_http.TLSFailure as exc:
                failure = self._tls_failure(member, exc)
                if isinstance(failure, errors.EtcdTLSError):
                    self._refused_tls(member, failure, tls_errors)
                elif not isinstance(failure, Failed):
                    raise failure from None
                self.failed(member)
                reasons.append('%s: %s' % (member.url, failure))
                continue
            except (OSError, accel_http.BadAnswer) as exc:
                self.failed(member)
                reasons.append('%s: %s' % (member.url, exc))
                continue
            return member, stream
        if len(tls_errors) == len(self.members):
            raise next(iter(tls_errors.values()))
        raise errors.EtcdUnavailable('no etcd member accepted the watch: %s'
                                     % '; '.join(reasons))
