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
"""How the agent reads JSON members and writes its answers.

Citations name ``OpenSDN-io/tf-controller`` @ ``fbb63bcd``; ``pih`` is
``src/vnsw/agent/port_ipc/port_ipc_handler.cc``, ``rc`` is
``port_ipc/rest_common.cc`` (see ``doc/source/reference/agent-emulator.rst``).
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from typing import Any, Callable

from vif_plug_vrouter import agent_json

NIL_UUID = '00000000-0000-0000-0000-000000000000'
UUID_RE = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
_UUID_ANYCASE = re.compile(
    r'[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-'
    r'[0-9a-fA-F]{12}')
_INT32 = (-2 ** 31, 2 ** 31 - 1)
_C_SPACE = ' \t\n\v\f\r'
AUTHOR = '/usr/bin/contrail-vrouter-agent'
#: VmInterface::kInvalidVlanId (src/vnsw/agent/oper/vm_interface.h 362)
NO_VLAN = 0xFFFF

Reply = tuple[int, bytes]


class ValidationError(Exception):
    """A request the agent refuses; the text is the agent's message."""

    #: True where the agent refuses the content yet answers 200 ``{}``.
    answers_ok = False


def boost_uuid(text: str) -> str:
    """Parse like Boost's uuid stream extractor (``StringToUuid``).

    Leading white space is skipped, the canonical dashed form is read in
    any case and anything after it is ignored; everything else (undashed,
    braces, empty) gives the nil UUID (tf-common base/string_util.h
    145-151, reference 1.6).
    """
    m = _UUID_ANYCASE.match(text.lstrip(_C_SPACE))
    return m.group(0).lower() if m else NIL_UUID


def parse_ip(text: str, version: int) -> str:
    """``Ip4Address/Ip6Address::from_string``: failure gives the zero
    address and is not an error (pih 276-284).
    """
    try:
        addr = ipaddress.ip_address(text)
        if addr.version == version:
            return str(addr)
    except ValueError:
        pass
    return '0.0.0.0' if version == 4 else '::'


def is_int(value: Any) -> bool:
    """rapidjson ``IsInt``: a JSON integer that fits int32."""
    return (isinstance(value, int) and not isinstance(value, bool) and
            _INT32[0] <= value <= _INT32[1])


def _c_string(value: str) -> str:
    # The handlers copy GetString() into std::string through a const
    # char *, so a member ends at its first NUL (pih 46, 72).
    return value.split('\x00', 1)[0]


def get_str(doc: dict[str, Any], key: str) -> str:
    """``GetStringMember`` (pih 37-48): the text keeps angle brackets."""
    if not isinstance(doc.get(key), str):
        raise ValidationError('Invalid or missing field for <%s>' % key)
    return _c_string(doc[key])


def get_uuid(doc: dict[str, Any], key: str) -> str:
    """``GetUuidMember`` (pih 63-74): only the type is checked."""
    if not isinstance(doc.get(key), str):
        raise ValidationError('Invalid or missing data for <%s>' % key)
    return boost_uuid(_c_string(doc[key]))


def get_uint32(doc: dict[str, Any], key: str) -> int:
    """``GetUint32Member`` (pih 50-61): an int32 read into a uint32, so
    -1 becomes 0xFFFFFFFF.
    """
    if not is_int(doc.get(key)):
        raise ValidationError('Invalid or missing field for <%s>' % key)
    return int(doc[key]) & 0xFFFFFFFF


def optional_uint32(doc: dict[str, Any], key: str, default: int) -> int:
    """An optional member (pih 346-354): absent, ``null`` or any other
    type leaves the default.
    """
    try:
        return get_uint32(doc, key)
    except ValidationError:
        return default


def optional_str(doc: dict[str, Any], key: str) -> str:
    """An optional string member, wrong type ignored (pih 891-898)."""
    try:
        return get_str(doc, key)
    except ValidationError:
        return ''


def parse_body(body: bytes) -> tuple[str, Any]:
    """Parse a request body like ``Document::Parse<0>`` (pih 207-212).

    The body is read as a C string (it ends at a NUL byte); a parse error
    raises :class:`ValidationError` with the agent's text.
    """
    text = body.decode('utf-8', 'replace').split('\x00', 1)[0]
    try:
        doc = agent_json.loads(text)
    except (ValueError, RecursionError):
        # RecursionError: nesting deeper than Python's parser goes (the
        # agent's parser has no such limit; documented deviation)
        raise ValidationError('Invalid Json string ==> %s' % text)
    return text, doc


def _scan_hex_octet(text: str, pos: int) -> tuple[int, int] | None:
    """One ``%2hhx``: skip blanks, then at most two characters of an
    optionally signed hex number; ``None`` on a matching failure.
    """
    while pos < len(text) and text[pos] in _C_SPACE:
        pos += 1
    width, sign = 2, 1
    if pos < len(text) and text[pos] in '+-':
        sign = -1 if text[pos] == '-' else 1
        pos, width = pos + 1, 1
    m = re.match('[0-9a-fA-F]{1,%d}' % width, text[pos:])
    if m is None:
        return None
    return (sign * int(m.group(0), 16)) & 0xFF, pos + m.end()


def scan_mac(text: str) -> bytes | None:
    """``MacAddress::FromString`` (src/net/mac_address.cc 71-85).

    ``sscanf("%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx%c")`` must convert
    exactly six octets (nothing may follow) and the text may not contain
    ``x``/``X``; every ``%2hhx`` skips leading blanks.
    """
    if 'x' in text or 'X' in text:
        return None
    octets, pos = [], 0
    for i in range(6):
        if i:
            if text[pos:pos + 1] != ':':
                return None
            pos += 1
        got = _scan_hex_octet(text, pos)
        if got is None:
            return None
        octets.append(got[0])
        pos = got[1]
    return bytes(octets) if pos == len(text) else None


def valid_mac(mac: str) -> bool:
    """``PortIpcHandler::ValidateMac`` (pih 429-446): exactly five colons
    and a non-zero parse (a parse failure gives the zero MAC).
    """
    octets = scan_mac(mac)
    return mac.count(':') == 5 and octets is not None and any(octets)


def mac_to_string(mac: str) -> str:
    """``MacAddress::ToString`` of a valid MAC (mac_address.cc 55-69)."""
    return ':'.join('%02x' % o for o in scan_mac(mac) or bytes(6))


def agent_time() -> str:
    """``duration_usecs_to_string(UTCTimestampUsec())``: hours since the
    epoch, no date (tf-common base/time_util.h 62-69).
    """
    secs = time.time()
    whole = int(secs)
    return '%d:%02d:%02d.%06d' % (whole // 3600, whole % 3600 // 60,
                                  whole % 60, int((secs - whole) * 1e6))


def pretty(doc: Any) -> str:
    """rapidjson ``PrettyWriter``: four-space indent, UTF-8 kept."""
    return json.dumps(doc, indent=4, ensure_ascii=False)


def reply(status: int, doc: Any, is_pretty: bool = False) -> Reply:
    if is_pretty:
        return status, pretty(doc).encode()
    return status, json.dumps(doc, separators=(',', ':'),
                              ensure_ascii=False).encode()


def error(msg: str, braces: str = '{ %s }', status: int = 500) -> Reply:
    """``REST::SendErrorResponse`` (rc 31-43): ``{"error": <text>}``; the
    handlers wrap the text in ``{ }`` or ``{}`` (rest_server.cc 63-242).
    """
    return reply(status, {'error': braces % msg})


OK: Reply = (200, b'{}')
NOT_FOUND: Reply = error('Not Found', status=404)
UNKNOWN: Reply = reply(404, {'error': 'Unknown Request'})


def answer(add: Callable[[], Any]) -> Reply:
    """Run an add handler the way the agent's POST handlers answer
    (rest_server.cc 63-75, 146-158): 200 ``{}``, or the error text of the
    :class:`ValidationError` it raised.
    """
    try:
        add()
    except ValidationError as exc:
        return OK if exc.answers_ok else error(str(exc))
    return OK
