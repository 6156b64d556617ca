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
"""Input validation shared by every public entry point.

The same functions run on both sides of the privsep boundary: the
unprivileged plugin and CLI call them to give callers a clear error before
anything is written or sent, and the privileged entrypoints call them again
because privsep is a security boundary and must not trust its caller.

Each validator returns the canonical form of its input (lower-case,
dashed UUIDs and MACs, ...) or raises :class:`InvalidInput`.
"""

from __future__ import annotations

import os
import re

__all__ = [
    'InvalidInput', 'uuid', 'project_id', 'mac', 'ifname', 'pci_address',
    'vlan_id', 'socket_path', 'directory', 'driver_name', 'mtu',
    'text', 'integer', 'boolean', 'seconds', 'one_line',
]

_HEX_UUID = re.compile(r'^[0-9a-fA-F]{32}$')
_DASHED_UUID = re.compile(
    r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-'
    r'[0-9a-fA-F]{12}$')
_MAC = re.compile(r'^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$')
_INVALID_MACS = frozenset(['00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff'])
# The kernel's dev_valid_name() forbids '/', ':' and white space; quotes
# and shell metacharacters are legal there but no driver or Nova produces
# them, and they break every tool that ever formats a name into a command
# line, so they are refused too.
_IFNAME = re.compile(r'^[A-Za-z0-9_.@+-]{1,15}$')
# Names that are directories of /proc/sys/net/ipv{4,6}/conf/ but no
# netdev: writing their settings changes every interface of the host.
_RESERVED_IFNAMES = frozenset(['.', '..', 'all', 'default'])
# C0 controls, DEL, C1 controls and the Unicode line and paragraph
# separators: none belongs in a name, and each can forge a log line.
_CONTROL = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029]')
_PCI = re.compile(
    r'^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$')
_DRIVER = re.compile(r'^[A-Za-z0-9_-]{1,64}$')
# sizeof(struct sockaddr_un.sun_path) - 1 for the terminating NUL.
_MAX_UNIX_PATH = 107


class InvalidInput(ValueError):
    """A value failed validation; ``field`` names what was wrong."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        # Keep the constructor's arguments in ``args`` so that privsep can
        # rebuild the exception on the unprivileged side.
        super().__init__(field, value, reason)

    def __str__(self) -> str:
        return 'invalid %s %r: %s' % (self.field, self.value, self.reason)


def _require_str(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(field, value, 'must be a string, not %s' %
                           type(value).__name__)
    return value


def _matching(field: str, value: object, pattern: re.Pattern[str],
              reason: str) -> str:
    """Return ``value`` if it is a string matching ``pattern`` entirely."""
    text = _require_str(field, value)
    if not pattern.fullmatch(text):
        raise InvalidInput(field, value, reason)
    return text


def uuid(value: object, field: str = 'uuid') -> str:
    """Return ``value`` as a canonical lower-case dashed UUID.

    Only the dashed 36-character form is accepted: the vRouter agent turns
    anything else into the nil UUID without an error.
    """
    return _matching(field, value, _DASHED_UUID,
                     'expected a dashed UUID such as '
                     '3f0c5c1e-8a4b-4a53-9a8e-2d8f7d3c1b20').lower()


def project_id(value: object, field: str = 'project_id') -> str:
    """Canonicalise a Keystone project id, dashing the 32-hex form.

    Keystone hands out undashed ids; the agent only parses dashed ones
    and would silently record the nil UUID otherwise.
    """
    text = _require_str(field, value)
    if _HEX_UUID.fullmatch(text):
        # Sliced rather than uuid.UUID(): importing uuid loads platform,
        # a cost every vrouter-port-control call would pay.
        t = text.lower()
        return '%s-%s-%s-%s-%s' % (t[:8], t[8:12], t[12:16], t[16:20],
                                   t[20:])
    return uuid(text, field)


def mac(value: object, field: str = 'mac') -> str:
    """Return ``value`` as a lower-case colon-separated MAC.

    Like Neutron, only the all-zero and broadcast addresses are refused.
    """
    text = _matching(field, value, _MAC,
                     'expected six colon-separated hex octets such as '
                     'fa:16:3e:12:34:56').lower()
    if text in _INVALID_MACS:
        raise InvalidInput(field, value,
                           'the all-zero and broadcast addresses cannot '
                           'be assigned to a port')
    return text


def ifname(value: object, field: str = 'ifname') -> str:
    """Check a Linux network interface name (at most 15 bytes)."""
    text = _require_str(field, value)
    # surrogatepass: a lone surrogate must be refused, not raise here.
    size = len(text.encode('utf-8', 'surrogatepass'))
    if size > 15:
        raise InvalidInput(field, value,
                           'interface names are at most 15 bytes, this one '
                           'has %d' % size)
    if not _IFNAME.fullmatch(text):
        raise InvalidInput(field, value,
                           'interface names may only contain letters, '
                           'digits and "_.@+-" (no "/", ":", spaces or '
                           'quotes)')
    if text in _RESERVED_IFNAMES:
        raise InvalidInput(field, value,
                           '"." and ".." are not names, and "all" and '
                           '"default" name the settings of every interface '
                           'of the host, never one netdev')
    return text


def text(value: object, field: str, max_chars: int = 255) -> str:
    """Check free text that ends up in a file, a log line or JSON.

    It must encode to UTF-8 (a lone surrogate, which is how Python carries
    undecodable ``argv`` bytes, cannot) and hold no control character, so
    it can neither break the writer nor forge a second log line.
    """
    string = _require_str(field, value)
    if len(string) > max_chars:
        raise InvalidInput(field, one_line(string[:40]) + '...',
                           'longer than %d characters' % max_chars)
    try:
        string.encode('utf-8')
    except UnicodeEncodeError as exc:
        raise InvalidInput(field, value, 'not valid Unicode text (lone '
                           'surrogate at character %d: undecodable bytes?)'
                           % exc.start) from None
    bad = _CONTROL.search(string)
    if bad:
        raise InvalidInput(field, value, 'control character U+%04X at '
                           'character %d' % (ord(bad.group()), bad.start()))
    return string


def one_line(message: str) -> str:
    """Make ``message`` safe to print as exactly one line.

    Control characters, line separators and lone surrogates are shown as
    escapes, so text taken from the input cannot add a line of its own.
    """
    escaped = _CONTROL.sub(lambda m: repr(m.group())[1:-1], message)
    return escaped.encode('utf-8', 'backslashreplace').decode('utf-8')


def integer(value: object, field: str, lo: int, hi: int) -> int:
    """Check an ``int`` (never a ``bool``, which ``int`` would accept)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, value, 'must be an integer, not %s' %
                           type(value).__name__)
    if not lo <= value <= hi:
        raise InvalidInput(field, value, 'must be from %d to %d' % (lo, hi))
    return value


def boolean(value: object, field: str) -> bool:
    """Check a ``bool``: the string ``'false'`` and ``1`` are refused,
    not taken for true.
    """
    if not isinstance(value, bool):
        raise InvalidInput(field, value, 'must be true or false, not %s' %
                           type(value).__name__)
    return value


def seconds(value: object, field: str, lo: float, hi: float) -> float:
    """Check a finite duration in seconds given as an int or a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(field, value, 'must be a number of seconds, '
                           'not %s' % type(value).__name__)
    # NaN fails both comparisons, infinity the upper one.
    if not lo <= value <= hi:
        raise InvalidInput(field, value, 'must be from %g to %g seconds' %
                           (lo, hi))
    return float(value)


def pci_address(value: object, field: str = 'pci_address') -> str:
    """Check a full PCI address ``dddd:bb:ss.f`` (lower case, no path)."""
    return _matching(field, value, _PCI,
                     'expected a full lower-case PCI address such as '
                     '0000:08:00.1 (domain:bus:slot.function)')


def vlan_id(value: object, field: str = 'vlan_id',
            allow_none: bool = True) -> int:
    """Check a VLAN id: 0..4094, or -1 meaning "no VLAN"."""
    lowest = -1 if allow_none else 0
    if isinstance(value, str):
        # Imported here: parse imports this module.  ASCII digits only
        # ('٣' and '²' are digits to int() and isdigit()).
        from os_vif_accel import parse
        return parse.ascii_int(value, field, lowest, 4094)
    return integer(value, field, lowest, 4094)


def mtu(value: object, field: str = 'mtu') -> int:
    """Check an MTU in the range Linux accepts for Ethernet devices."""
    return integer(value, field, 68, 65535)


def directory(value: object, field: str = 'directory') -> str:
    """Check an absolute, normalised directory path without '..'."""
    path = _require_str(field, value)
    if not path.startswith('/'):
        raise InvalidInput(field, value, 'must be an absolute path')
    # NUL makes os calls raise ValueError; a newline forges log lines.
    path = text(path, field, max_chars=4095)
    parts = path.split('/')
    if '..' in parts or '.' in parts:
        raise InvalidInput(field, value, 'must not contain "." or ".."')
    return os.path.normpath(path)


def socket_path(value: object, allowed_dirs: list[str],
                field: str = 'socket_path') -> str:
    """Check a vhost-user socket path against the allowed directories.

    The path must be absolute, free of '..', fit in ``sun_path`` and name
    a file directly inside one of ``allowed_dirs`` (the datapaths create
    their sockets there, never in sub-directories).
    """
    text = directory(value, field)
    if len(text.encode('utf-8')) > _MAX_UNIX_PATH:
        raise InvalidInput(field, value,
                           'UNIX socket paths are at most %d bytes' %
                           _MAX_UNIX_PATH)
    if not re.fullmatch(r"[A-Za-z0-9_./@+-]+", text):
        raise InvalidInput(field, value,
                           'may only contain letters, digits and "_./@+-"')
    parent = os.path.dirname(text)
    if parent not in {os.path.normpath(base) for base in allowed_dirs}:
        raise InvalidInput(field, value,
                           'must be directly in one of the allowed '
                           'directories %s' % ', '.join(allowed_dirs))
    return text


def driver_name(value: object, field: str = 'driver') -> str:
    """Check a kernel driver name such as ``vfio-pci``."""
    return _matching(field, value, _DRIVER,
                     'driver names contain only letters, digits, "_" and '
                     '"-"')
