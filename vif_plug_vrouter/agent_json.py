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
"""JSON read the way the vRouter agent reads it.

The agent parses request bodies and the port and vm-vn files it replays
with one call, ``Document::Parse<0>(json.c_str())`` (tf-controller @
fbb63bcd ``src/vnsw/agent/port_ipc/port_ipc_handler.cc`` 208, 730, 769,
815; files are read whole at 162-177).  So the port-file reader, the
audit and the agent emulator share this parser: a file this library
reads differently from the agent would be replayed as another port.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ['loads']


def _first_key_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # rapidjson's FindMember returns the first of duplicate keys.
    doc: dict[str, Any] = {}
    for key, value in pairs:
        doc.setdefault(key, value)
    return doc


def _no_constants(name: str) -> Any:
    # Parse<0>: kParseNanAndInfFlag is not set
    raise ValueError('rapidjson rejects %s' % name)


def _finite(text: str) -> float:
    # rapidjson fails with kParseErrorNumberTooBig where Python would
    # give inf (1e999999)
    value = float(text)
    if value in (float('inf'), float('-inf')):
        raise ValueError('number too big')
    return value


def loads(text: str) -> Any:
    """Parse ``text`` up to its first NUL (``c_str()``).

    Raises ValueError (or RecursionError for nesting deeper than Python's
    parser goes; the agent's has no such limit) where the agent's parser
    fails.
    """
    return json.loads(text.split('\x00', 1)[0],
                      object_pairs_hook=_first_key_wins,
                      parse_constant=_no_constants, parse_float=_finite)
