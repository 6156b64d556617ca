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
"""Request pieces of etcd's KV API, and settling a transaction whose
answer was lost.

Why settle instead of resending or giving up?  A guarded transaction (a
compare-and-swap: "vhost 3 is None -> put port P") whose member died
after the request left may have been applied.  Sent again, its compare
fails if the first one applied, and the caller would read a conflict
where it won - the agent would leave the vhost it was given behind
(leaked).  Giving up (:class:`EtcdOutcomeUnknown`) is safe but turns
every member failure into a failed plug.  So :func:`settle` first reads
the keys the success branch writes, on another member (a linearizable
read, served once the cluster has a leader again, by which time the lost
request is committed or gone for good): if every put key holds the value
written, all from one revision (one transaction wrote them), and every
deleted key is absent, the transaction counts as applied.  Only if not
is it sent again, and its compare decides as it always does.  The
callers write converging states (a port's own id into its vhost, ``up``
for its status, deletes of its keys), so "the store holds what the
transaction writes" is exactly what they need to know.  Unguarded writes,
range deletes and failure branches that write cannot be settled this way:
they raise :class:`EtcdOutcomeUnknown`.
"""

from __future__ import annotations

import base64
from typing import Any, TYPE_CHECKING

from vif_plug_spp import etcd_errors as errors
from vif_plug_spp import etcdkv as kvs_mod

if TYPE_CHECKING:
    from vif_plug_spp import etcd as etcd_mod

__all__ = ['b64', 'prefix_end', 'range_req', 'read_only', 'settle',
           'op_put', 'op_delete', 'cmp_value', 'cmp_create_revision',
           'cmp_mod_revision']


def b64(text: str) -> str:
    return base64.b64encode(text.encode('utf-8')).decode('ascii')


def _text(field: str) -> str:
    return base64.b64decode(field).decode('utf-8')


def prefix_end(prefix: str) -> str:
    """The range end that selects every key starting with ``prefix``."""
    raw = bytearray(prefix.encode('utf-8'))
    while raw:
        if raw[-1] < 0xff:
            raw[-1] += 1
            return raw.decode('utf-8', 'surrogateescape')
        raw.pop()
    return '\x00'


def range_req(key: str, prefix: bool) -> dict[str, Any]:
    req = {'key': b64(key)}
    if prefix:
        req['range_end'] = b64(prefix_end(key))
    return req


def cmp_create_revision(key: str, revision: int) -> dict[str, Any]:
    """The key was created at ``revision`` (0: it does not exist)."""
    return {'key': b64(key), 'target': 'CREATE', 'result': 'EQUAL',
            'create_revision': str(revision)}


def cmp_value(key: str, value: str) -> dict[str, Any]:
    return {'key': b64(key), 'target': 'VALUE', 'result': 'EQUAL',
            'value': b64(value)}


def cmp_mod_revision(key: str, revision: int) -> dict[str, Any]:
    return {'key': b64(key), 'target': 'MOD', 'result': 'EQUAL',
            'mod_revision': str(revision)}


def op_put(key: str, value: str) -> dict[str, Any]:
    return {'request_put': {'key': b64(key), 'value': b64(value)}}


def op_delete(key: str) -> dict[str, Any]:
    return {'request_delete_range': {'key': b64(key)}}


def read_only(body: dict[str, Any]) -> bool:
    """True if a transaction only reads (safe to send again)."""
    ops = (body.get('success') or []) + (body.get('failure') or [])
    return all(set(op) == {'request_range'} for op in ops)


def _effects(body: dict[str, Any]
             ) -> tuple[dict[str, str], list[str]] | None:
    """(puts, deletes) of the success branch, None if not settleable."""
    if not body.get('compare') or not read_only(
            {'failure': body.get('failure')}):
        return None
    puts: dict[str, str] = {}
    deletes: list[str] = []
    for op in body.get('success') or []:
        if set(op) == {'request_put'} and 'lease' not in op['request_put']:
            puts[_text(op['request_put']['key'])] = _text(
                op['request_put'].get('value', ''))
        elif set(op) == {'request_delete_range'} and \
                not op['request_delete_range'].get('range_end'):
            deletes.append(_text(op['request_delete_range']['key']))
        else:
            return None
    return puts, deletes


def _applied(found: dict[str, Any], puts: dict[str, str],
             deletes: list[str]) -> int | None:
    """The revision that wrote ``puts`` if ``found`` (key -> KeyValue)
    holds them all, from one revision, and none of ``deletes``; else
    None.  0: nothing to date it by (only deletes).
    """
    revisions = {found[key].mod_revision for key in puts if key in found}
    if all(key in found and found[key].value == value
           for key, value in puts.items()) and len(revisions) <= 1 and \
            not any(key in found for key in deletes):
        return revisions.pop() if revisions else 0
    return None


def _resend(client: 'etcd_mod.EtcdClient', body: dict[str, Any],
            puts: dict[str, str], deletes: list[str]) -> tuple[bool, int]:
    """Send ``body`` again, its failure branch also reading the keys it
    writes: the lost request may be committed between our read and this
    one (a member that was slow, not dead), and then the compare fails
    although it is our own write - the caller would read a conflict and
    leak what it had won.  Read in the same transaction, that case is
    told apart atomically.
    """
    watched = list(puts) + deletes
    failure = list(body.get('failure') or [])
    again = dict(body, failure=failure + [
        {'request_range': range_req(key, False)} for key in watched])
    res = client.call('kv/txn', again, safe=False)
    rev = kvs_mod.checked(kvs_mod.revision, res)
    if res.get('succeeded', False):
        return True, rev
    found = {kv.key: kv for kv in kvs_mod.checked(
        kvs_mod.ranges, (res.get('responses') or [])[len(failure):])}
    applied = _applied(found, puts, deletes)
    if applied is None:
        return False, rev
    return True, applied or rev


def settle(client: 'etcd_mod.EtcdClient', body: dict[str, Any],
           lost: errors.EtcdOutcomeUnknown) -> tuple[bool, int]:
    """(succeeded, revision) of a transaction whose answer was ``lost``
    (see the module doc); re-raises ``lost`` when it cannot tell.
    """
    effects = _effects(body)
    if effects is None:
        raise lost
    puts, deletes = effects
    try:
        found, rev = client.read_kvs(keys=list(puts) + deletes)
    except errors.EtcdUnavailable:
        raise lost from None   # still unknown, not "not applied"
    applied = _applied(found, puts, deletes)
    if applied is not None:
        return True, applied or rev
    return _resend(client, body, puts, deletes)
