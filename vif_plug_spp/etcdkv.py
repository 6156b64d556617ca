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
"""Keys and values of etcd's JSON gateway, decoded one by one.

etcd keys and values are bytes; the gateway sends them base64-encoded.
Anyone with write access can put bytes that are not UTF-8.  Each key and
value is decoded strictly on its own: a bad one is reported (ERROR, the
key's bytes and what is wrong) and left out, so it is that key's problem
and never a reason to fail a whole range answer or to re-read a watch
from the same revision forever.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from typing import Any

from oslo_log import log as logging

from os_vif_accel import parse
from os_vif_accel import validate

LOG = logging.getLogger(__name__)

__all__ = ['KeyValue', 'Event', 'raw_bytes', 'text_kv', 'kvs']


@dataclasses.dataclass(frozen=True)
class KeyValue:
    key: str
    value: str
    mod_revision: int
    create_revision: int


@dataclasses.dataclass(frozen=True)
class Event:
    """One change; ``value`` is None for a deletion."""

    type: str  # 'PUT' or 'DELETE'
    key: str
    value: str | None
    revision: int


def raw_bytes(text: Any) -> bytes:
    """The bytes of one base64 field (InvalidInput: not base64 at all,
    which only a broken gateway sends).
    """
    if text is None:
        return b''
    try:
        return base64.b64decode(text, validate=True)
    except (TypeError, binascii.Error) as exc:
        raise validate.InvalidInput('etcd answer field', str(text)[:60],
                                    'not base64: %s' % exc) from None


def text_kv(raw: dict[str, Any]) -> tuple[str, str] | None:
    """(key, value) as strict UTF-8 text, or None after one ERROR."""
    key = raw_bytes(raw.get('key'))
    try:
        text = parse.decode_utf8(key, 'key')
        return text, parse.decode_utf8(raw_bytes(raw.get('value')), 'value')
    except validate.InvalidInput as exc:
        LOG.error('Ignoring etcd key %r: %s %s; rewrite or delete it', key,
                  exc.field, exc.reason)
        return None


def _kv(raw: dict[str, Any]) -> KeyValue | None:
    text = text_kv(raw)
    if text is None:
        return None
    return KeyValue(key=text[0], value=text[1],
                    mod_revision=int(raw.get('mod_revision', 0)),
                    create_revision=int(raw.get('create_revision', 0)))


def kvs(raws: list[dict[str, Any]] | None) -> list[KeyValue]:
    """The readable key-values of a range answer (bad ones reported)."""
    return [kv for kv in map(_kv, raws or []) if kv is not None]
