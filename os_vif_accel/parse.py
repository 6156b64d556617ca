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
"""Parsers for text that arrives from outside: etcd, files, HTTP, env.

Each parser turns untrusted bytes or text into a Python value or raises
:class:`os_vif_accel.validate.InvalidInput` whose message is one line and
names what was wrong, so callers catch one exception type and never see a
``UnicodeDecodeError``, ``RecursionError`` or an integer that was written
in Arabic-Indic digits.  The offending value is shortened in the message:
a megabyte of hostile JSON must not become a megabyte of log line.
"""

from __future__ import annotations

import json
import re
from typing import Any

from os_vif_accel.validate import InvalidInput

__all__ = ['decode_utf8', 'json_object', 'ascii_int']

_SHOWN = 60
# The characters that matter to nesting depth: brackets, and the quote and
# backslash that decide whether a bracket is inside a string.
_STRUCTURE = re.compile(r'["\\\[\]{}]')
# A \u escape of a surrogate: legal JSON, but a lone one yields a str
# that cannot be encoded again (etcd keys, logs, files).
_SURROGATE_ESCAPE = re.compile(r'\\u[dD][89a-fA-F]')


def _shown(value: str | bytes) -> str | bytes:
    """Return ``value`` short enough to quote in a one-line error."""
    if len(value) <= _SHOWN:
        return value
    if isinstance(value, bytes):
        return value[:_SHOWN] + b'...'
    return value[:_SHOWN] + '...'


def decode_utf8(data: bytes, what: str) -> str:
    """Decode ``data`` as strict UTF-8 (no lone surrogates, no overlongs).

    The strict codec is the one etcd, Neutron and the kernel agree on;
    ``errors='replace'`` would make two different keys look equal.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise InvalidInput(what, data, 'must be bytes, not %s' %
                           type(data).__name__)
    try:
        return bytes(data).decode('utf-8')
    except UnicodeDecodeError as exc:
        raise InvalidInput(what, _shown(bytes(data)),
                           'not valid UTF-8 (byte %d)' % exc.start) from None


def _depth_exceeds(text: str, max_depth: int) -> bool:
    """Tell whether ``text`` nests brackets deeper than ``max_depth``.

    Runs a loop over the structural characters only, so no input can
    exhaust the stack the way ``json.loads`` does near depth 1000.
    """
    if text.count('[') + text.count('{') <= max_depth:
        return False
    depth = 0
    in_string = False
    skip_to = -1
    for match in _STRUCTURE.finditer(text):
        pos, char = match.start(), match.group()
        if pos < skip_to:
            continue
        if in_string:
            if char == '\\':
                skip_to = pos + 2
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in '[{':
            depth += 1
            if depth > max_depth:
                return True
        elif char in ']}':
            depth -= 1
    return False


def _refuse_constant(name: str) -> Any:
    raise ValueError('%s is not JSON' % name)


def _refuse_lone_surrogates(value: Any, text: str, what: str) -> None:
    try:
        json.dumps(value, ensure_ascii=False).encode('utf-8')
    except UnicodeEncodeError:
        raise InvalidInput(what, _shown(text), 'contains an escaped lone '
                           'surrogate') from None


def _bounded_text(text: str | bytes, what: str, max_bytes: int) -> str:
    """``text`` as str, refused when over ``max_bytes`` UTF-8 bytes."""
    if isinstance(text, (bytes, bytearray)):
        if len(text) > max_bytes:
            raise InvalidInput(what, _shown(bytes(text)),
                               'larger than %d bytes' % max_bytes)
        return decode_utf8(bytes(text), what)
    if not isinstance(text, str):
        raise InvalidInput(what, text, 'must be JSON text, not %s' %
                           type(text).__name__)
    if len(text) > max_bytes or len(
            text.encode('utf-8', 'surrogatepass')) > max_bytes:
        raise InvalidInput(what, _shown(text),
                           'larger than %d bytes' % max_bytes)
    return text


def json_object(text: str | bytes, what: str, max_depth: int = 32,
                max_bytes: int = 1 << 20) -> dict[str, Any]:
    """Parse a JSON object of bounded size and depth.

    ``NaN`` and ``Infinity`` (which Python's parser accepts and no peer
    writes) are refused, and so is any top-level value that is not an
    object: every producer of these values writes an object, and code
    that reads ``value.get(...)`` must not meet a list or ``null``.
    """
    text = _bounded_text(text, what, max_bytes)
    if _depth_exceeds(text, max_depth):
        raise InvalidInput(what, _shown(text),
                           'nested deeper than %d levels' % max_depth)
    try:
        text.encode('utf-8')
        value = json.loads(text, parse_constant=_refuse_constant)
    except UnicodeEncodeError:
        raise InvalidInput(what, _shown(text),
                           'contains a lone surrogate') from None
    except (ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else 'not JSON'
        raise InvalidInput(what, _shown(text),
                           'not JSON: %s' % reason) from None
    if _SURROGATE_ESCAPE.search(text):
        _refuse_lone_surrogates(value, text, what)
    if not isinstance(value, dict):
        raise InvalidInput(what, _shown(text),
                           'must be a JSON object, not %s' %
                           type(value).__name__)
    return value


def ascii_int(text: str, what: str, lo: int, hi: int) -> int:
    """Parse a decimal integer in ``[lo, hi]`` written in ASCII digits.

    ``str.isdigit()`` and ``int()`` accept ``'²'``, ``'٣'`` and surrounding
    white space; only ``[0-9]`` (and a leading ``-`` when ``lo`` is
    negative) is accepted here, and the length is checked before ``int()``
    so that no caller can make it convert 5000 digits.
    """
    if not isinstance(text, str):
        raise InvalidInput(what, text, 'must be a string, not %s' %
                           type(text).__name__)
    longest = max(len(str(lo)), len(str(hi)))
    if len(text) > longest:
        raise InvalidInput(what, _shown(text),
                           'an integer from %d to %d has at most %d '
                           'characters' % (lo, hi, longest))
    pattern = r'-?[0-9]+' if lo < 0 else r'[0-9]+'
    if not re.fullmatch(pattern, text, re.ASCII):
        raise InvalidInput(what, text, 'must be a decimal integer from %d '
                           'to %d in ASCII digits' % (lo, hi))
    value = int(text, 10)
    if not lo <= value <= hi:
        raise InvalidInput(what, text, 'must be from %d to %d' % (lo, hi))
    return value
