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
"""Client of spp-ctl's ``/v1/vfs/<sec_id>`` API.

spp-ctl answers errors as plain text (``command error: bad value(port)``,
``sec_id 2 not found.``); that text is the only diagnosis an operator
gets, so every error carries it together with the method and path.
"""

from __future__ import annotations

from typing import Any

from os_vif_accel import http as accel_http

__all__ = ['SppCtlError', 'SppCtlUnreachable', 'SppCtlClient']


class SppCtlError(Exception):
    """spp-ctl refused a request (HTTP status >= 400)."""

    def __init__(self, method: str, path: str, status: int | None,
                 text: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.text = text
        super().__init__('%s %s: %s%s' % (
            method, path, '' if status is None else 'HTTP %d: ' % status,
            text))


class SppCtlUnreachable(SppCtlError):
    """spp-ctl could not be reached or did not answer in time."""

    def __init__(self, method: str, path: str, text: str) -> None:
        super().__init__(method, path, None, text)


def _list_of_dicts(value: Any) -> bool:
    return value is None or (isinstance(value, list) and
                             all(isinstance(v, dict) for v in value))


def _port_problem(entry: dict[str, Any]) -> str | None:
    """What is wrong with one ``rx_port``/``tx_port`` entry, if anything
    (spp_vf prints ``{"port": "ring:0", "vlan": {"operation": ...,
    "id": n, "pcp": n}}``, spp_vf 18.08 src/vf/common/command_proc.c
    954-971, 1028-1050).
    """
    if not isinstance(entry.get('port'), str):
        return 'port entry without a port name'
    vlan = entry.get('vlan') or {}
    if not isinstance(vlan, dict) or not isinstance(
            vlan.get('operation', 'none'), str) or not all(
            type(vlan.get(k, 0)) is int for k in ('id', 'pcp')):
        return 'bad vlan of %s' % entry['port']
    return None


def _status_problem(status: Any) -> str | None:
    """What would make the wiring code trip over a status answer (a
    component, port or classifier entry of another shape), None if
    usable.  Checked once here, so callers index it without guards.
    """
    if not isinstance(status, dict):
        return 'not an object'
    comps, table = status.get('components'), status.get('classifier_table')
    if not _list_of_dicts(comps) or not _list_of_dicts(table):
        return 'components or classifier_table is not a list of objects'
    for comp in comps or []:
        ports = [comp.get('rx_port'), comp.get('tx_port')]
        if not all(_list_of_dicts(p) for p in ports):
            return 'ports of a component are not a list of objects'
        for entry in (ports[0] or []) + (ports[1] or []):
            if _port_problem(entry):
                return _port_problem(entry)
    for entry in table or []:
        value = entry.get('value')
        if not isinstance(entry.get('port'), str) or \
                not isinstance(value, str):
            return 'classifier entry without port or value'
        vid = value.partition('/')[0]
        if entry.get('type') == 'vlan' and not (vid.isascii() and
                                                vid.isdigit()):
            return 'classifier entry %r has no VLAN id' % value
    return None


class SppCtlClient:
    """One spp-ctl (``http://127.0.0.1:7777`` in a standard install)."""

    def __init__(self, url: str, connect_timeout: float = 1.0,
                 read_timeout: float = 5.0, retry_window: float = 1.0
                 ) -> None:
        self.url = url.rstrip('/')
        self._http = accel_http.JSONClient(
            self.url, connect_timeout=connect_timeout,
            read_timeout=read_timeout, retry_window=retry_window)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            resp = self._http.request(method, path, body)
        except (accel_http.Unreachable, accel_http.BadAnswer) as exc:
            raise SppCtlUnreachable(method, self.url + path, str(exc))
        if resp.status >= 400:
            raise SppCtlError(method, self.url + path, resp.status,
                              resp.text.strip() or resp.reason)
        if resp.status == 204 or not resp.body:
            return None
        try:
            return resp.json()
        except accel_http.BadAnswer as exc:
            raise SppCtlError(method, self.url + path, resp.status,
                              str(exc))

    @staticmethod
    def _vf(sec_id: int, kind: str = 'vfs') -> str:
        """``/v1/vfs/<id>`` (spp_vf) or ``/v1/mirrors/<id>`` (spp_mirror)."""
        return '/v1/%s/%d' % (kind, int(sec_id))

    def processes(self) -> list[dict[str, Any]]:
        return self._call('GET', '/v1/processes') or []

    def vf_status(self, sec_id: int, kind: str = 'vfs') -> dict[str, Any]:
        try:
            status = self._call('GET', self._vf(sec_id, kind))
        except SppCtlUnreachable:
            raise
        except SppCtlError as exc:
            if exc.status != 500:
                raise
            # spp-ctl 18.08.1-19.08 src/spp-ctl/spp_ctl.py 116-125: a
            # status reply of 4096 bytes or more raises NameError (500).
            raise SppCtlError(exc.method, exc.path, 500, '%s (spp-ctl '
                              'before SPP 19.11 answers 500 to every '
                              'status reply of 4096 bytes or more; SPP '
                              'commit 8d09d7b "spp-ctl: fix calling wrong '
                              'method while receiving" fixes it: upgrade '
                              'spp-ctl or apply that commit)' % exc.text)
        problem = _status_problem(status)
        if problem:
            raise SppCtlError('GET', self.url + self._vf(sec_id, kind), 200,
                              'malformed status (%s): %.200r' % (problem,
                                                                 status))
        return status

    def start_component(self, sec_id: int, name: str, core: int,
                        ctype: str, kind: str = 'vfs') -> None:
        self._call('POST', self._vf(sec_id, kind) + '/components',
                   {'name': name, 'core': core, 'type': ctype})

    def stop_component(self, sec_id: int, name: str) -> None:
        self._call('DELETE', '%s/components/%s' % (self._vf(sec_id), name))

    def attach(self, sec_id: int, component: str, port: str,
               direction: str, vlan: dict[str, Any] | None = None,
               kind: str = 'vfs') -> None:
        """Attach; ``vlan`` is ``{"operation": "add", "id": v, "pcp": 0}``
        or ``{"operation": "del"}`` (None: no VLAN operation).
        """
        body: dict[str, Any] = {'action': 'attach', 'port': port,
                                'dir': direction}
        if vlan is not None:
            body['vlan'] = vlan
        self._call('PUT', '%s/components/%s/ports' % (
            self._vf(sec_id, kind), component), body)

    def detach(self, sec_id: int, component: str, port: str,
               direction: str, kind: str = 'vfs') -> None:
        self._call('PUT', '%s/components/%s/ports' % (
            self._vf(sec_id, kind), component),
            {'action': 'detach', 'port': port, 'dir': direction})

    def classifier(self, sec_id: int, action: str, mac: str, port: str,
                   vlan: int | None = None) -> None:
        body: dict[str, Any] = {'action': action, 'type': 'mac',
                                'mac_address': mac, 'port': port}
        if vlan is not None:
            body['type'] = 'vlan'
            body['vlan'] = vlan
        self._call('PUT', self._vf(sec_id) + '/classifier_table', body)
