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
"""Client of the vRouter agent's port REST API (``:9091``).

One object per plugin instance; it keeps HTTP/1.1 connections alive and
maps every failure to an exception naming the port, the agent URL, the
HTTP status and the agent's error text.
"""

from __future__ import annotations

import json
from typing import Any

from os_vif_accel import http

from vif_plug_vrouter import exception

__all__ = ['AgentClient', 'error_text']


def error_text(body: bytes) -> str:
    """Extract the agent's message from ``{"error":"{ msg }"}``."""
    raw = body.decode('utf-8', 'replace')
    try:
        msg = json.loads(raw).get('error', raw)
    except (ValueError, AttributeError, RecursionError):
        return raw.strip() or '(empty body)'
    msg = str(msg).strip()
    if msg.startswith('{') and msg.endswith('}'):
        msg = msg[1:-1].strip()
    return msg or '(no error text)'


class AgentClient:
    """Port API calls; see :class:`os_vif_accel.http.JSONClient` for args."""

    def __init__(self, url: str, connect_timeout: float = 1.0,
                 read_timeout: float = 10.0, retry_window: float = 3.0,
                 ca_file: str | None = None, cert_file: str | None = None,
                 key_file: str | None = None) -> None:
        self.url = url.rstrip('/')
        self._http = http.JSONClient(
            self.url, connect_timeout=connect_timeout,
            read_timeout=read_timeout, retry_window=retry_window,
            ca_file=ca_file, cert_file=cert_file, key_file=key_file)

    def close(self) -> None:
        self._http.close()

    def _call(self, operation: str, port_id: str, method: str, path: str,
              body: Any = None) -> http.Response:
        try:
            return self._http.request(method, path, body)
        except http.Unreachable as exc:
            raise exception.AgentUnreachable(
                url=self.url, operation=operation, port_id=port_id,
                reason=str(exc))
        except http.BadAnswer as exc:
            raise exception.AgentBadAnswer(
                url=self.url, operation=operation, port_id=port_id,
                status='none', reason=str(exc))

    def _expect_ok(self, operation: str, port_id: str,
                   resp: http.Response) -> None:
        if resp.status != 200:
            raise exception.AgentRefused(
                url=self.url, operation=operation, port_id=port_id,
                status=resp.status, error=error_text(resp.body))
        try:
            json.loads(resp.body.decode('utf-8'))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise exception.AgentBadAnswer(
                url=self.url, operation=operation, port_id=port_id,
                status=resp.status,
                reason='body is not JSON: %r' % resp.body[:200])

    def add_port(self, record: dict[str, Any]) -> None:
        """``POST /port``: 200 means accepted (queued), not active."""
        port_id = record['id']
        resp = self._call('add', port_id, 'POST', '/port', record)
        self._expect_ok('add', port_id, resp)

    def delete_port(self, port_id: str) -> None:
        """``DELETE /port/<uuid>``: the agent answers 200 even if unknown."""
        resp = self._call('delete', port_id, 'DELETE', '/port/' + port_id)
        self._expect_ok('delete', port_id, resp)

    def get_port(self, port_id: str) -> dict[str, Any] | None:
        """``GET /port/<uuid>``: the agent's operational view, or None.

        The agent answers 404 until the controller's config for the port
        has arrived, so None does not mean "not added".
        """
        resp = self._call('get', port_id, 'GET', '/port/' + port_id)
        if resp.status == 404:
            return None
        self._expect_ok('get', port_id, resp)
        data = resp.json()
        if not isinstance(data, dict):
            raise exception.AgentBadAnswer(
                url=self.url, operation='get', port_id=port_id,
                status=resp.status, reason='expected a JSON object')
        return data

    def set_link(self, port_id: str, up: bool) -> None:
        """``PUT /enable-port`` / ``/disable-port`` (ESXi ports only)."""
        op = 'enable' if up else 'disable'
        resp = self._call(op, port_id, 'PUT', '/%s-port/%s' % (op, port_id))
        self._expect_ok(op, port_id, resp)

    def sync_ports(self) -> None:
        """``POST /syncports``: start the agent's stale-port audit."""
        resp = self._call('sync', '*', 'POST', '/syncports')
        self._expect_ok('sync', '*', resp)

    def add_vm_port(self, body: dict[str, str]) -> None:
        """``POST /vm``: (re-)add one vm-vn subscription (a CNI port)."""
        vmi = body.get('vmi-uuid', '')
        resp = self._call('add vm-vn', vmi, 'POST', '/vm', body)
        self._expect_ok('add vm-vn', vmi, resp)
