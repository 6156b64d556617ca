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
"""The agent client's transport on ``http.client``, for measurement only.

``bench_port_control.py --variants`` runs ``vrouter-port-control`` with
this connection class in place of :class:`os_vif_accel.http._Connection`
(same pool, retry window and TLS context on top), to measure what moving
the HTTP layer onto the standard library would cost each CLI call.  It
keeps the Content-Length check of the hardened client so that the work
per answer is comparable.  See doc/source/contributor/library-choices.rst.
"""

from __future__ import annotations

import http.client
from typing import Any

from os_vif_accel import http as accel_http
from os_vif_accel import http_wire


class HTTPClientConnection:
    """One kept-alive connection, driven by ``http.client``."""

    def __init__(self, host: str, port: int, connect_timeout: float,
                 read_timeout: float, tls: Any = None) -> None:
        if tls is not None:
            self.conn: http.client.HTTPConnection = \
                http.client.HTTPSConnection(host, port, context=tls,
                                            timeout=connect_timeout)
        else:
            self.conn = http.client.HTTPConnection(host, port,
                                                   timeout=connect_timeout)
        self.conn.connect()
        self.sock = self.conn.sock
        self.sock.settimeout(read_timeout)

    def close(self) -> None:
        self.conn.close()

    def exchange(self, method: str, target: str, body: bytes | None,
                 headers: dict[str, str]
                 ) -> tuple[accel_http.Response, bool]:
        try:
            self.conn.request(method, target, body=body, headers=headers)
            resp = self.conn.getresponse()
        except http.client.BadStatusLine as exc:
            raise accel_http.BadAnswer('answer is not valid HTTP: %s' % exc)
        length = resp.getheader('content-length')
        if length is not None and \
                not http_wire.DIGITS.fullmatch(length):
            raise accel_http.BadAnswer('bad Content-Length %r' % length)
        data = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        return (accel_http.Response(resp.status, resp.reason, data, hdrs),
                resp.will_close)


def install() -> None:
    """Make every new agent-client connection an http.client one."""
    accel_http._Connection = HTTPClientConnection  # type: ignore[misc]
