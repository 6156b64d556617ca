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
"""The etcd connection options every SPP component shares.

The os-vif plugin (``[os_vif_spp]``), the agent and the ML2 driver
(``[spp]``) reach the same etcd cluster, so they take the same options,
built here once: an endpoint list, the TLS files and the credentials.
networking-spp's single ``etcd_host``/``etcd_port`` keep working but are
deprecated: :func:`settings_from_conf` turns them into one endpoint and
logs what to set instead.  :class:`Settings` is what a client is built
from; its ``repr`` never shows the password.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from typing import Any

from oslo_config import cfg
from oslo_config import types
from oslo_log import log as logging

from os_vif_accel import http_wire

LOG = logging.getLogger(__name__)

__all__ = ['DEFAULT_ENDPOINT', 'Settings', 'ConfigError', 'Endpoint',
           'connection_opts', 'settings_from_conf', 'check_endpoint',
           'read_credentials', 'legacy_endpoint']

DEFAULT_HOST = '127.0.0.1'
DEFAULT_PORT = 2379
DEFAULT_ENDPOINT = 'http://%s:%d' % (DEFAULT_HOST, DEFAULT_PORT)


_DEPRECATED_WHY = ('a single endpoint cannot fail over; set etcd_endpoints '
                   '= http://HOST:PORT instead')


class ConfigError(ValueError):
    """The etcd connection options are unusable (says which and why)."""


def check_endpoint(text: str) -> str:
    """``http(s)://host:port`` with an explicit port 1-65535 and no path
    (etcd's gateway lives at the root; a port left out would silently
    mean 80/443, never etcd's 2379).
    """
    url = text.strip()
    if '@' in url.partition('://')[2].partition('/')[0]:
        # user:password@ would be in every log line, error and agent
        # report naming the endpoint: refused, and not echoed.
        raise ConfigError('an etcd endpoint holds "user:password@": give '
                          'the credentials as etcd_username/etcd_password '
                          'or etcd_credentials_file, never in the URL')
    try:
        path = http_wire.split_url(url)[3]
    except ValueError as exc:
        raise ConfigError('etcd endpoint: %s' % exc) from None
    hostport = url.partition('://')[2].partition('/')[0]
    explicit = (hostport.rpartition(']')[2].startswith(':')
                if hostport.startswith('[') else ':' in hostport)
    if path or not explicit:
        raise ConfigError('etcd endpoint %r: expected http(s)://host:port '
                          'with the port and nothing after it' % url)
    return '%s://%s' % (url.partition('://')[0], hostport)


class Endpoint(types.String):
    """oslo.config type of one ``etcd_endpoints`` item."""

    def __init__(self) -> None:
        super().__init__(type_name='etcd endpoint URL')

    def __call__(self, value: Any) -> str:
        try:
            return check_endpoint(super().__call__(value))
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


def connection_opts(legacy_help: str = 'etcd server') -> list[cfg.Opt]:
    """The shared etcd options (names as ``etcd_*``), including the
    deprecated ``etcd_host``/``etcd_port`` described by ``legacy_help``.
    """
    why = _DEPRECATED_WHY
    return [
        cfg.ListOpt('etcd_endpoints', item_type=Endpoint(), default=[],
                    sample_default=DEFAULT_ENDPOINT,
                    help='etcd members, as http(s)://host:port, tried in '
                         'this order when one cannot be reached (all '
                         'http or all https). Empty: etcd_host and '
                         'etcd_port (default %s).' % DEFAULT_ENDPOINT),
        cfg.StrOpt('etcd_ca_file',
                   help='CA certificate(s) that sign the etcd members\' '
                        'server certificates (https endpoints); empty: '
                        'the system trust store.'),
        cfg.StrOpt('etcd_cert_file',
                   help='Client certificate presented to etcd (PEM); with '
                        'etcd_key_file unless the file holds the key too.'),
        cfg.StrOpt('etcd_key_file',
                   help='Private key of etcd_cert_file (PEM).'),
        cfg.StrOpt('etcd_username',
                   help='etcd user (etcd authentication); with '
                        'etcd_password.'),
        cfg.StrOpt('etcd_password', secret=True,
                   help='Password of etcd_username.'),
        cfg.StrOpt('etcd_credentials_file',
                   help='File holding "user:password" on its first line, '
                        'instead of etcd_username/etcd_password; it must '
                        'not be readable by group or others (mode 0600 or '
                        '0400), else it is refused.'),
        cfg.StrOpt('etcd_host', default=DEFAULT_HOST,
                   deprecated_for_removal=True, deprecated_reason=why,
                   help=legacy_help + ' (networking-spp\'s name); used '
                        'only when etcd_endpoints is empty.'),
        cfg.PortOpt('etcd_port', default=DEFAULT_PORT,
                    deprecated_for_removal=True, deprecated_reason=why,
                    help='etcd client port; used only when '
                         'etcd_endpoints is empty.'),
    ]


@dataclasses.dataclass(frozen=True)
class Settings:
    """Where and how to reach etcd; ``password`` is kept out of repr."""

    endpoints: tuple[str, ...] = (DEFAULT_ENDPOINT,)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.endpoints:
            raise ConfigError('no etcd endpoint given')
        schemes = {url.partition('://')[0] for url in self.endpoints}
        if len(schemes) > 1:
            raise ConfigError('etcd endpoints mix http and https (%s): a '
                              'cluster is reached one way'
                              % ', '.join(self.endpoints))
        if not self.tls and (self.ca_file or self.cert_file):
            raise ConfigError('etcd TLS files are set but the endpoints are '
                              'http:// (%s): use https:// endpoints'
                              % ', '.join(self.endpoints))
        if self.key_file and not self.cert_file:
            raise ConfigError('etcd_key_file is set without '
                              'etcd_cert_file')
        if bool(self.username) != bool(self.password):
            raise ConfigError('etcd_username and etcd_password go '
                              'together (or use etcd_credentials_file)')

    @property
    def tls(self) -> bool:
        return self.endpoints[0].startswith('https://')


def read_credentials(path: str) -> tuple[str, str]:
    """``(user, password)`` from the first line ``user:password`` of
    ``path``; refused when group or others may read or write it.  Errors
    name the file and its mode, never what it holds.
    """
    try:
        # Symlinks are followed (Kubernetes mounts secrets as links); the
        # mode checked is that of the file actually read.
        # O_NONBLOCK: a FIFO put there must not hang the service.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ConfigError('etcd credentials file %s: %s'
                          % (path, exc.strerror)) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ConfigError('etcd credentials file %s is not a regular file'
                          % path)
    with os.fdopen(fd, 'rb') as f:
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise ConfigError(
                'etcd credentials file %s has mode %04o: group or others '
                'may access it; refusing it (chmod 600 and make the '
                'service user its owner)' % (path, mode))
        line = f.read(4096).split(b'\n', 1)[0].rstrip(b'\r')
    user, sep, password = line.partition(b':')
    try:
        text = (user.decode('utf-8'), password.decode('utf-8'))
    except UnicodeDecodeError:
        text = ('', '')
    if not sep or not text[0] or not text[1]:
        raise ConfigError('etcd credentials file %s: expected '
                          '"user:password" on the first line' % path)
    return text


def _warn_clear_text(settings: Settings, where: str) -> None:
    remote = [url for url in settings.endpoints
              if http_wire.split_url(url)[1] not in ('127.0.0.1', '::1',
                                                     'localhost')]
    if settings.username and not settings.tls and remote:
        LOG.warning('[%s] etcd credentials of user %r go in clear text to '
                    '%s: use https:// endpoints', where, settings.username,
                    ', '.join(remote))


def legacy_endpoint(host: str, port: int) -> str:
    """The endpoint URL of networking-spp's ``etcd_host``/``etcd_port``."""
    return 'http://%s:%d' % ('[%s]' % host if ':' in host else host,
                             int(port))


def _endpoints(group: Any, where: str) -> tuple[str, ...]:
    legacy = legacy_endpoint(group.etcd_host, group.etcd_port)
    customised = (group.etcd_host, group.etcd_port) != (DEFAULT_HOST,
                                                         DEFAULT_PORT)
    if group.etcd_endpoints:
        if customised:
            LOG.warning('[%s] etcd_host/etcd_port are ignored: '
                        'etcd_endpoints is set; remove them', where)
        return tuple(group.etcd_endpoints)
    if customised:
        LOG.warning('[%s] etcd_host and etcd_port are deprecated: set '
                    'etcd_endpoints = %s instead', where,
                    check_endpoint(legacy))
    return (check_endpoint(legacy),)


def settings_from_conf(group: Any, where: str = 'spp') -> Settings:
    """:class:`Settings` from a group holding :func:`connection_opts`;
    ``where`` names the group in messages.
    """
    user, password = group.etcd_username, group.etcd_password
    if group.etcd_credentials_file:
        if user or password:
            raise ConfigError('[%s] set etcd_credentials_file or '
                              'etcd_username/etcd_password, not both'
                              % where)
        user, password = read_credentials(group.etcd_credentials_file)
    settings = Settings(endpoints=_endpoints(group, where),
                        ca_file=group.etcd_ca_file or None,
                        cert_file=group.etcd_cert_file or None,
                        key_file=group.etcd_key_file or None,
                        username=user or None, password=password or None)
    _warn_clear_text(settings, where)
    return settings
