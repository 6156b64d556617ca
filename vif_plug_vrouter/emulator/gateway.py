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
"""Virtual gateways: ``POST``/``DELETE /gateway``.

``pih`` = ``src/vnsw/agent/port_ipc/port_ipc_handler.cc`` (OpenSDN-io/
tf-controller @ fbb63bcd).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from vif_plug_vrouter.emulator import wire


def _subnet_ok(elem: Any) -> bool:
    """``BuildGatewayArrayElement`` (pih 642-658): a string IPv4
    ``ip-address`` and an integer ``prefix-len``.
    """
    if not isinstance(elem, dict) or not wire.is_int(elem.get('prefix-len')):
        return False
    if not isinstance(elem.get('ip-address'), str):
        return False
    try:
        ipaddress.IPv4Address(elem['ip-address'])
    except ValueError:
        return False
    return True


def _missing_member(gw: dict[str, Any]) -> str | None:
    """``HasAllGatewayFields`` (pih 676-712): the first missing member."""
    for key in ('interface', 'routing-instance'):
        if not isinstance(gw.get(key), str):
            return key
    for key in ('subnets', 'routes'):
        if not isinstance(gw.get(key), list):
            return key
        if not all(_subnet_ok(e) for e in gw[key]):
            return key + ' value'
    return None


def _array(body: bytes) -> tuple[str, list[Any]]:
    text, doc = wire.parse_body(body)
    if not isinstance(doc, list):
        raise wire.ValidationError(
            'Unexpected Json string (not an array) ==> %s' % text)
    for elem in doc:
        if not isinstance(elem, dict):
            raise wire.ValidationError(
                'Json Array has invalid element ==> %s' % text)
    return text, doc


class Gateways:
    """The virtual-gateway requests (the agent only enqueues them)."""

    gateways: dict[str, dict[str, Any]]

    def post_gateway(self, body: bytes) -> wire.Reply:
        """``AddVgwFromJson`` (pih 714-765), rest_server.cc 117-129."""
        try:
            text, doc = _array(body)
            for gw in doc:
                member = _missing_member(gw)
                if member is not None:
                    raise wire.ValidationError(
                        'Json string does not have all required members, '
                        '%s is missing ==> %s' % (member, text))
        except wire.ValidationError as exc:
            return wire.error(str(exc))
        for gw in doc:
            self.gateways[gw['interface']] = gw
        return wire.OK

    def delete_gateway(self, body: bytes) -> wire.Reply:
        """``DelVgwFromJson`` (pih 767-807); the handler sends an empty
        ``{}`` error instead of the message (rest_server.cc 131-144).
        """
        try:
            _, doc = _array(body)
            if not all(isinstance(gw.get('interface'), str) for gw in doc):
                raise wire.ValidationError('interface')  # pih 784-789
        except wire.ValidationError:
            return wire.error('', '{%s}')
        for gw in doc:
            self.gateways.pop(gw['interface'], None)
        return wire.OK
