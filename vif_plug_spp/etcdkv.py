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
from typing import Any, Callable, TypeVar

from oslo_log import log as logging

from os_vif_accel import parse
from os_vif_accel import validate
from vif_plug_spp import etcd_errors

LOG = logging.getLogger(__name__)
_T = TypeVar('_T')

__all__ = ['KeyValue', 'Event', 'raw_bytes', 'text_kv', 'kvs', 'number',
           'revision', 'ranges', 'checked', 'obj', 'listed']

#: etcd's revisions and counts are int64 (etcdserverpb ``rpc.proto``).
_INT64 = 2 ** 63 - 1


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


def number(value: Any, field: str) -> int:
    """A non-negative int64 field of an answer: the gateway writes them as
    JSON strings of digits (proto3 JSON mapping), absent when 0.
    InvalidInput for anything else (``int()`` would take ``' 7'``,
    ``'٣'``, ``7.9`` or ``True``, or fail with a bare TypeError).
    """
    if value is None:
        return 0
    if isinstance(value, str):
        return parse.ascii_int(value, 'etcd answer ' + field, 0, _INT64)
    return validate.integer(value, 'etcd answer ' + field, 0, _INT64)


def revision(answer: Any) -> int:
    """The store revision in an answer's ``header`` (InvalidInput if the
    answer or its header is not an object, or the revision no number).
    """
    header = obj(answer, 'answer').get('header')
    return number(obj(header or {}, 'header').get('revision'),
                  'header revision')


def obj(value: Any, field: str) -> dict[str, Any]:
    """``value`` if it is a JSON object, else InvalidInput."""
    if not isinstance(value, dict):
        raise validate.InvalidInput('etcd answer ' + field, str(value)[:60],
                                    'must be an object, not %s'
                                    % type(value).__name__)
    return value


def _kv(raw: Any) -> KeyValue | None:
    text = text_kv(obj(raw, 'key-value'))
    if text is None:
        return None
    return KeyValue(key=text[0], value=text[1],
                    mod_revision=number(raw.get('mod_revision'),
                                        'mod_revision'),
                    create_revision=number(raw.get('create_revision'),
                                           'create_revision'))


def kvs(raws: Any) -> list[KeyValue]:
    """The readable key-values of a range answer (bad ones reported;
    InvalidInput for an answer of the wrong shape).
    """
    return [kv for kv in map(_kv, listed(raws, 'kvs')) if kv is not None]


def listed(value: Any, field: str) -> list[Any]:
    """``value`` if it is a JSON list, [] if absent, else InvalidInput."""
    if value is not None and not isinstance(value, list):
        raise validate.InvalidInput('etcd answer ' + field, str(value)[:60],
                                    'must be a list, not %s'
                                    % type(value).__name__)
    return value or []


def ranges(responses: Any) -> list[KeyValue]:
    """The key-values of a transaction's ``response_range`` answers."""
    found = []
    for item in listed(responses, 'responses'):
        rng = obj(item, 'response').get('response_range')
        found += kvs(obj(rng or {}, 'response_range').get('kvs'))
    return found


def checked(read: Callable[[Any], _T], answer: Any) -> _T:
    """``read(answer)`` (a reader of this module), its InvalidInput
    turned into :class:`~vif_plug_spp.etcd_errors.EtcdBadAnswer`.
    """
    try:
        return read(answer)
    except validate.InvalidInput as exc:
        raise etcd_errors.EtcdBadAnswer('etcd answer: %s' % exc) from None
