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
"""The etcd key schema of networking-spp: every key string lives here.

networking-spp's Neutron driver, its agent and our plugin/agent/builder
must agree on these strings byte for byte, so nothing else in the package
formats a key.  Every per-host *prefix* ends with ``/``: a prefix without
it (``vhost/spp1``) also matches host ``spp10``, which is how the
upstream destroy script wipes the wrong host.
"""

from __future__ import annotations

import re
from typing import Callable

__all__ = [
    'ROOT', 'FREE', 'PLUG', 'UNPLUG', 'UP', 'InvalidKeyPart',
    'configuration', 'vhost', 'vhost_prefix', 'vhost_physnet_prefix',
    'bind_port', 'bind_port_prefix', 'action', 'action_prefix',
    'port_status', 'port_status_prefix', 'port_status_root',
    'parse_port_status', 'mirror', 'mirror_prefix',
    'tap_info_prefix', 'tap_action_prefix', 'tap_status_prefix',
    'tap_info', 'tap_action', 'tap_status',
    'host_prefixes', 'suffix', 'parse_vhost', 'identifier',
]

ROOT = '/spp/openstack/'

# Values (exact strings of the protocol).
FREE = 'None'        # a free vhost/mirror slot: the string, not JSON null
PLUG = 'plug'
UNPLUG = 'unplug'
UP = 'up'

# Host names and physnets become key path components: no '/', no space,
# nothing empty.  Neutron physnets and host names never contain these.
_PART = re.compile(r'[A-Za-z0-9_.:@+-]{1,255}')


class InvalidKeyPart(ValueError):
    """A host, physnet or id cannot be used as an etcd key component."""


def _part(what: str, value: object) -> str:
    # fullmatch: re.match(...$) also accepts a trailing newline, which
    # would then become part of the etcd key.
    if not isinstance(value, str) or not _PART.fullmatch(value):
        raise InvalidKeyPart(
            '%s %r cannot be part of an etcd key: use 1-255 letters, digits '
            'or "_.:@+-" (no "/" or spaces)' % (what, value))
    return value


def identifier(what: str, value: object) -> str:
    """Check a port or tap flow id read back from a key (InvalidKeyPart)."""
    return _part(what, value)


def _kind_prefix(kind: str, host: str) -> str:
    return '%s%s/%s/' % (ROOT, kind, _part('host', host))


def _per_host_ids(kind: str, what: str) -> tuple[
        Callable[[str], str], Callable[[str, str], str]]:
    """The builders of one kind of ``<kind>/<host>/<id>`` key: its
    per-host prefix and a key under it, the id checked as ``what``.

    Six kinds follow this one pattern; declaring each in one line keeps
    their spelling in one place.
    """
    def prefix(host: str) -> str:
        return _kind_prefix(kind, host)

    def key(host: str, ident: str) -> str:
        return prefix(host) + _part(what, ident)

    prefix.__name__ = prefix.__qualname__ = kind + '_prefix'
    key.__name__ = key.__qualname__ = kind
    return prefix, key


def configuration(host: str) -> str:
    return '%sconfiguration/%s' % (ROOT, _part('host', host))


def vhost_prefix(host: str) -> str:
    return _kind_prefix('vhost', host)


def vhost_physnet_prefix(host: str, physnet: str) -> str:
    return '%s%s/' % (vhost_prefix(host), _part('physnet', physnet))


def vhost(host: str, physnet: str, vhost_id: int) -> str:
    return '%s%d' % (vhost_physnet_prefix(host, physnet), int(vhost_id))


bind_port_prefix, bind_port = _per_host_ids('bind_port', 'port id')
action_prefix, action = _per_host_ids('action', 'port id')
port_status_prefix, port_status = _per_host_ids('port_status', 'port id')


def port_status_root() -> str:
    """``port_status/`` of every host: neutron-server watches all hosts'
    port states with one watch.
    """
    return '%sport_status/' % ROOT


def parse_port_status(key: str) -> tuple[str, str]:
    """(host, port id) of a ``port_status/<host>/<port>`` key
    (ValueError or InvalidKeyPart when it is not one).
    """
    host, sep, port_id = suffix(key, port_status_root()).partition('/')
    if not sep:
        raise ValueError('malformed port_status key %r' % key)
    return _part('host', host), _part('port id', port_id)


def mirror_prefix(host: str) -> str:
    return _kind_prefix('mirror', host)


def mirror(host: str, mirror_id: int) -> str:
    return '%s%d' % (mirror_prefix(host), int(mirror_id))


tap_info_prefix, tap_info = _per_host_ids('tap_info', 'tap flow id')
tap_action_prefix, tap_action = _per_host_ids('tap_action', 'tap flow id')
tap_status_prefix, tap_status = _per_host_ids('tap_status', 'tap flow id')


def host_prefixes(host: str) -> list[str]:
    """Every per-host prefix, for a destroy that must not touch others."""
    return [vhost_prefix(host), bind_port_prefix(host), action_prefix(host),
            port_status_prefix(host), mirror_prefix(host),
            tap_info_prefix(host), tap_action_prefix(host),
            tap_status_prefix(host)]


def suffix(key: str, prefix: str) -> str:
    """The part of ``key`` after ``prefix`` (e.g. the port id)."""
    if not key.startswith(prefix):
        raise ValueError('key %r is not under %r' % (key, prefix))
    return key[len(prefix):]


def parse_vhost(key: str, host: str) -> tuple[str, int]:
    """(physnet, vhost id) of a ``vhost/<host>/<physnet>/<id>`` key."""
    rest = suffix(key, vhost_prefix(host))
    physnet, _, num = rest.rpartition('/')
    if not physnet or not re.fullmatch(r'[0-9]{1,9}', num):
        raise ValueError('malformed vhost key %r' % key)
    return physnet, int(num)
