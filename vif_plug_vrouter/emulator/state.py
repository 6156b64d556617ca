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
"""The agent's port-subscription table and its rules (no I/O but files).

:meth:`AgentState.handle` takes a method, a path and a body and returns
``(status, body)`` exactly as the agent's port-IPC handler would.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from typing import Any, Callable

from os_vif_accel import fileio

__all__ = ['AgentState', 'boost_uuid', 'NIL_UUID']

NIL_UUID = '00000000-0000-0000-0000-000000000000'
_UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
_UUID_ANYCASE = re.compile(
    r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-'
    r'[0-9a-fA-F]{12}')
_MAC = re.compile(r'^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}$')
_INT32 = (-2 ** 31, 2 ** 31 - 1)
AUTHOR = '/usr/bin/contrail-vrouter-agent'
NO_VLAN16 = 0xFFFF

Reply = tuple[int, bytes]


def boost_uuid(text: str) -> str:
    """Parse like Boost's uuid stream extractor (as the agent does).

    Leading white space is skipped, the canonical dashed form is read in
    any case and anything after it is ignored; everything else (undashed,
    braces, empty) gives the nil UUID.
    """
    m = _UUID_ANYCASE.match(text.lstrip())
    return m.group(0).lower() if m else NIL_UUID


def _ip(text: str, version: int) -> str:
    import ipaddress
    try:
        addr = ipaddress.ip_address(text)
        if addr.version == version:
            return str(addr)
    except ValueError:
        pass
    return '0.0.0.0' if version == 4 else '::'


def _is_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool) and
            _INT32[0] <= value <= _INT32[1])


def _agent_time() -> str:
    secs = time.time()
    whole = int(secs)
    return '%d:%02d:%02d.%06d' % (whole // 3600, whole % 3600 // 60,
                                  whole % 60, int((secs - whole) * 1e6))


def _reply(status: int, doc: Any, pretty: bool = False) -> Reply:
    if pretty:
        return status, json.dumps(doc, indent=4).encode()
    return status, json.dumps(doc, separators=(',', ':')).encode()


def _error(msg: str, braces: str = '{ %s }', status: int = 500) -> Reply:
    return _reply(status, {'error': braces % msg})


OK: Reply = (200, b'{}')
NOT_FOUND: Reply = _error('Not Found', status=404)
UNKNOWN: Reply = _reply(404, {'error': 'Unknown Request'})


class ValidationError(Exception):
    pass


class AgentState:
    """Subscription tables, port files and the stale cleaner.

    :param ports_dir: the agent's ports directory (created if missing)
    :param check_port: on replay, skip files whose ``system-name`` is not
        an existing netdev (the kernel-mode agent does; DPDK does not)
    :param stale_timeout: seconds between ``/syncports`` and the cleanup
    :param auto_config: mark the controller config of every added port as
        present at once, so ``GET /port`` answers 200 (the real agent
        answers 404 until the control node sent the config)
    """

    def __init__(self, ports_dir: str, check_port: bool = False,
                 stale_timeout: float = 60.0,
                 auto_config: bool = False) -> None:
        self.ports_dir = ports_dir
        self.check_port = check_port
        self.stale_timeout = stale_timeout
        self.auto_config = auto_config
        self.lock = threading.RLock()
        #: port uuid -> entry dict (parsed values, as the agent keeps them)
        self.ports: dict[str, dict[str, Any]] = {}
        #: (vm uuid, vmi uuid) -> vm-vn entry
        self.vm_ports: dict[tuple[str, str], dict[str, Any]] = {}
        #: port uuid -> IPAM dict of the "controller config"
        self.config: dict[str, dict[str, Any]] = {}
        self.gateways: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.replay_errors: list[tuple[str, str]] = []
        self._stale_timer: threading.Timer | None = None
        os.makedirs(ports_dir, exist_ok=True)
        self._routes: list[tuple[str, re.Pattern[str],
                                 Callable[..., Reply]]] = [
            ('POST', re.compile('/port'), self._post_port),
            ('DELETE', re.compile('/port/(%s)' % _UUID), self._delete_port),
            ('GET', re.compile('/port/(%s)' % _UUID), self._get_port),
            ('PUT', re.compile('/enable-port/(%s)' % _UUID),
             lambda b, u: self._link(u, True)),
            ('PUT', re.compile('/disable-port/(%s)' % _UUID),
             lambda b, u: self._link(u, False)),
            ('POST', re.compile('/syncports'), self._syncports),
            ('POST', re.compile('/vm'), self._post_vm),
            ('DELETE', re.compile('/vm/(%s)' % _UUID), self._delete_vm),
            ('GET', re.compile('/vm/(%s)' % _UUID), self._get_vm),
            ('GET', re.compile('/vm/(%s)/(%s)' % (_UUID, _UUID)),
             self._get_vm),
            ('GET', re.compile('/vm-cfg/([^/]+)'), self._get_vm_cfg),
            ('POST', re.compile('/gateway'), self._post_gateway),
            ('DELETE', re.compile('/gateway'), self._delete_gateway),
        ]

    # -- dispatch ----------------------------------------------------------
    def handle(self, method: str, path: str, body: bytes) -> Reply:
        """Answer one request; ``path`` may carry a query string."""
        path = path.split('?', 1)[0]
        for verb, regex, func in self._routes:
            m = regex.fullmatch(path)
            if m and verb == method:
                with self.lock:
                    return func(body, *m.groups())
        return UNKNOWN

    # -- POST /port --------------------------------------------------------
    def _parse_port(self, doc: Any) -> dict[str, Any]:
        def need_str(key: str, what: str) -> str:
            if not isinstance(doc.get(key), str):
                raise ValidationError('Invalid or missing %s for %s' %
                                      (what, key))
            return str(doc[key])

        def need_int(key: str) -> int:
            if not _is_int(doc.get(key)):
                raise ValidationError('Invalid or missing field for %s' %
                                      key)
            return int(doc[key])

        if not isinstance(doc, dict):
            raise ValidationError('Unexpected Json string ==> %s' %
                                  json.dumps(doc))
        port: dict[str, Any] = {
            'id': boost_uuid(need_str('id', 'data')),
            'instance-id': boost_uuid(need_str('instance-id', 'data')),
            'vn-id': boost_uuid(need_str('vn-id', 'data')),
            'vm-project-id': boost_uuid(need_str('vm-project-id', 'data')),
            'display-name': need_str('display-name', 'field'),
            'ip-address': _ip(need_str('ip-address', 'field'), 4),
            'ip6-address': _ip(need_str('ip6-address', 'field'), 6),
        }
        ptype = need_int('type')
        port['type'] = ptype if ptype in (0, 1, 2) else 0
        if port['type'] not in (1, 2) and port['vn-id'] == NIL_UUID:
            raise ValidationError('Invalid VN uuid')
        port['system-name'] = need_str('system-name', 'field')
        mac = doc.get('mac-address')
        if not (isinstance(mac, str) and _MAC.match(mac) and
                int(mac.replace(':', ''), 16) != 0):
            raise ValidationError('Invalid MAC, Use xx:xx:xx:xx:xx:xx '
                                  'format')
        port['mac-address'] = ':'.join(
            '%02x' % int(o, 16) for o in mac.split(':'))
        port['rx-vlan-id'] = need_int('rx-vlan-id') & 0xFFFF
        port['tx-vlan-id'] = need_int('tx-vlan-id') & 0xFFFF
        if port['rx-vlan-id'] != NO_VLAN16 and \
                port['tx-vlan-id'] == NO_VLAN16 - 1:
            raise ValidationError('Invalid request. RX (isolated) vlan set, '
                                  'but TX vlan not set')
        mode = doc.get('vhostuser-mode')
        port['vhostuser-mode'] = mode if _is_int(mode) else 0
        link = doc.get('link-state')
        port['link-state'] = (link if _is_int(link)
                              else (0 if port['type'] == 2 else 1))
        return port

    def _post_port(self, body: bytes) -> Reply:
        text = body.decode('utf-8', 'replace')
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            return _error('Invalid Json string ==> %s' % text)
        try:
            if isinstance(doc, list):
                # All or none; the agent still answers 200 when an
                # element is invalid (nothing is added).
                try:
                    parsed = [self._parse_port(d) for d in doc]
                except ValidationError:
                    return OK
                for port in parsed:
                    self.add_port(port, write_file=True)
                return OK
            self.add_port(self._parse_port(doc), write_file=True)
        except ValidationError as exc:
            return _error(str(exc))
        return OK

    def add_port(self, port: dict[str, Any], write_file: bool) -> bool:
        """The add logic shared by REST adds and the start-up replay."""
        uuid = port['id']
        path = os.path.join(self.ports_dir, uuid)
        if write_file and not os.path.exists(path):
            try:
                self._write_port_file(port)
            except OSError:
                return False   # not added, yet the answer stays 200
        old = self.ports.get(uuid)
        if old is not None and old['instance-id'] == port['instance-id']:
            # Same VMI, same VM: refresh the version, keep the old values.
            old['version'] = self.version
            return True
        entry = dict(port, version=self.version)
        self.ports[uuid] = entry
        if self.auto_config:
            self.mark_config(uuid)
        return True

    def _write_port_file(self, port: dict[str, Any]) -> None:
        doc = {k: port[k] for k in (
            'id', 'instance-id', 'display-name', 'ip-address',
            'ip6-address', 'vn-id', 'vm-project-id', 'mac-address',
            'system-name', 'type', 'rx-vlan-id', 'tx-vlan-id',
            'vhostuser-mode')}
        if port['type'] == 2:
            doc['link-state'] = port['link-state']
        doc['author'] = AUTHOR
        doc['time'] = _agent_time()
        fileio.atomic_write(self.ports_dir, port['id'],
                            json.dumps(doc, indent=4).encode(), sync=False)

    # -- DELETE/GET /port, enable/disable ----------------------------------
    def _delete_port(self, body: bytes, uuid: str) -> Reply:
        self.ports.pop(uuid, None)
        self.config.pop(uuid, None)
        try:
            os.unlink(os.path.join(self.ports_dir, uuid))
        except OSError:
            pass  # computed but never returned by the agent
        return OK

    def mark_config(self, uuid: str, plen: int = 24,
                    gateway: str | None = None, dns: str | None = None,
                    v6_gateway: str | None = None,
                    v6_dns: str | None = None) -> None:
        """Pretend the control node sent the port's config (VM, VN, IPAM)."""
        self.config[uuid] = {'plen': plen, 'gateway': gateway, 'dns': dns,
                             'v6-gateway': v6_gateway, 'v6-dns': v6_dns}

    def _get_port(self, body: bytes, uuid: str) -> Reply:
        port = self.ports.get(uuid)
        ipam = self.config.get(uuid)
        if port is None or ipam is None:
            return NOT_FOUND
        return _reply(200, self._oper_view(port, ipam), pretty=True)

    @staticmethod
    def _oper_view(port: dict[str, Any], ipam: dict[str, Any]
                   ) -> dict[str, Any]:
        doc = {k: port[k] for k in (
            'id', 'instance-id', 'vn-id', 'vm-project-id', 'mac-address',
            'system-name', 'rx-vlan-id', 'tx-vlan-id', 'vhostuser-mode')}
        v4 = port['ip-address']
        if v4 != '0.0.0.0':
            base = v4.rsplit('.', 1)[0]
            doc.update({'ip-address': v4, 'plen': ipam['plen'],
                        'dns-server': ipam['dns'] or base + '.2',
                        'gateway': ipam['gateway'] or base + '.1'})
        v6 = port['ip6-address']
        if v6 != '::':
            doc.update({'v6-ip-address': v6,
                        'v6-dns-server': ipam['v6-dns'] or '::',
                        'v6-gateway': ipam['v6-gateway'] or '::'})
        doc.update({'author': AUTHOR, 'time': _agent_time()})
        return doc

    def _link(self, uuid: str, up: bool) -> Reply:
        port = self.ports.get(uuid)
        if port is None:
            return _error('Port Not found %s' % uuid, '{%s}')
        if port['type'] != 2:
            return _error('Incorrect Port type for %s' % uuid, '{%s}')
        state = 1 if up else 0
        if port['link-state'] != state:
            port['link-state'] = state
            try:
                self._write_port_file(port)
            except OSError:
                return _error('Invalid Port %s' % uuid, '{%s}')
        return OK

    # -- /syncports and the stale cleaner ---------------------------------
    def _syncports(self, body: bytes) -> Reply:
        self.version += 1
        if self._stale_timer is not None:
            self._stale_timer.cancel()
        self._stale_timer = threading.Timer(self.stale_timeout,
                                            self.clean_stale)
        self._stale_timer.daemon = True
        self._stale_timer.start()
        return OK

    def clean_stale(self) -> list[str]:
        """Delete every non-namespace port not re-added since the sync."""
        with self.lock:
            stale = [u for u, p in self.ports.items()
                     if p['type'] != 1 and p['version'] < self.version]
            for uuid in stale:
                self._delete_port(b'', uuid)
            for key in [k for k, v in self.vm_ports.items()
                        if v['version'] < self.version]:
                del self.vm_ports[key]
            return stale

    def stop(self) -> None:
        if self._stale_timer is not None:
            self._stale_timer.cancel()

    # -- /vm (VM+VN subscriptions, used by CNI) ---------------------------
    def _post_vm(self, body: bytes) -> Reply:
        text = body.decode('utf-8', 'replace')
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            return _error('Invalid Json string ==> %s' % text)
        if not isinstance(doc, dict):
            return _error('Unexpected Json string ==> %s' % text)
        for key in ('vm-uuid', 'host-ifname', 'vm-name', 'vmi-uuid',
                    'vn-uuid'):
            if not isinstance(doc.get(key), str):
                return _error('Invalid or missing data for %s' % key)
        for key in ('vm-id', 'vm-ifname', 'vm-namespace'):
            if key in doc and not isinstance(doc[key], str):
                return _error('Invalid or missing data for %s' % key)
        entry = {k: doc.get(k, '') for k in (
            'vm-uuid', 'vmi-uuid', 'vn-uuid', 'vm-name', 'host-ifname',
            'vm-id', 'vm-ifname', 'vm-namespace')}
        entry['vm-uuid'] = boost_uuid(entry['vm-uuid'])
        entry['version'] = self.version
        self.vm_ports[(entry['vm-uuid'], entry['vmi-uuid'])] = entry
        if not all(_safe_name(entry[k]) for k in ('vm-name', 'vmi-uuid')):
            return OK  # never write outside the ports directory
        vm_dir = os.path.join(self.ports_dir, 'vm', entry['vm-name'])
        data = dict(entry)
        del data['version']
        data.update({'author': AUTHOR, 'time': _agent_time()})
        try:
            fileio.atomic_write(vm_dir, entry['vmi-uuid'] or NIL_UUID,
                                json.dumps(data, indent=4).encode(),
                                sync=False)
        except OSError:
            pass
        return OK

    def _delete_vm(self, body: bytes, vm_uuid: str) -> Reply:
        for key in [k for k in self.vm_ports if k[0] == vm_uuid]:
            entry = self.vm_ports.pop(key)
            # The agent removes from vm/<vm-uuid>/ although it wrote the
            # file under vm/<vm-name>/ (reference 1.11 #7).
            try:
                os.unlink(os.path.join(self.ports_dir, 'vm', vm_uuid,
                                       entry['vmi-uuid']))
            except OSError:
                pass
        return OK

    def _get_vm(self, body: bytes, vm_uuid: str,
                vmi_uuid: str | None = None) -> Reply:
        found = [self._vm_view(v) for k, v in sorted(self.vm_ports.items())
                 if k[0] == vm_uuid and (vmi_uuid is None or
                                         k[1] == vmi_uuid)]
        if not found:
            return NOT_FOUND
        return _reply(200, found, pretty=True)

    @staticmethod
    def _vm_view(entry: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in entry.items() if k != 'version'}
        view.update({'author': AUTHOR, 'time': _agent_time()})
        return view

    def _get_vm_cfg(self, body: bytes, vm_name: str) -> Reply:
        found = [self._vm_view(v) for v in self.vm_ports.values()
                 if v['vm-name'] == vm_name]
        if not found:
            return NOT_FOUND
        return _reply(200, found, pretty=True)

    # -- /gateway ------------------------------------------------------------
    def _gateway_list(self, body: bytes) -> list[dict[str, Any]]:
        text = body.decode('utf-8', 'replace')
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            raise ValidationError('Invalid Json string ==> %s' % text)
        if not isinstance(doc, list) or not all(
                isinstance(g, dict) and isinstance(g.get('interface'), str)
                for g in doc):
            raise ValidationError('Unexpected Json string ==> %s' % text)
        return doc

    def _post_gateway(self, body: bytes) -> Reply:
        try:
            gateways = self._gateway_list(body)
        except ValidationError as exc:
            return _error(str(exc))
        for gw in gateways:
            self.gateways[gw['interface']] = gw
        return OK

    def _delete_gateway(self, body: bytes) -> Reply:
        try:
            gateways = self._gateway_list(body)
        except ValidationError:
            return _error('', '{%s}')  # the agent loses the message
        for gw in gateways:
            self.gateways.pop(gw['interface'], None)
        return OK

    # -- start-up replay -----------------------------------------------------
    def replay(self) -> int:
        """Re-add ports from their files, as the agent does when it starts.

        Every regular file whose name *begins with* a UUID is read and
        validated like a POST; failures are recorded in
        :attr:`replay_errors` and the file is kept.  Returns the number of
        ports added.
        """
        added = 0
        try:
            names = sorted(os.listdir(self.ports_dir))
        except FileNotFoundError:
            return 0
        for name in names:
            path = os.path.join(self.ports_dir, name)
            if boost_uuid(name) == NIL_UUID or not os.path.isfile(path):
                continue
            try:
                with open(path, encoding='utf-8') as f:
                    port = self._parse_port(json.load(f))
            except (OSError, ValueError, RecursionError,
                    ValidationError) as exc:
                self.replay_errors.append((name, str(exc)))
                continue
            if self.check_port and not _netdev_exists(port['system-name']):
                self.replay_errors.append(
                    (name, 'interface %s not present' % port['system-name']))
                continue
            with self.lock:
                if self.add_port(port, write_file=False):
                    added += 1
        self._replay_vm_dir()
        return added

    def _replay_vm_dir(self) -> None:
        vm_root = os.path.join(self.ports_dir, 'vm')
        if not os.path.isdir(vm_root):
            return
        for vm_name in sorted(os.listdir(vm_root)):
            sub = os.path.join(vm_root, vm_name)
            for name in sorted(os.listdir(sub)) if os.path.isdir(sub) else []:
                try:
                    with open(os.path.join(sub, name), encoding='utf-8') as f:
                        doc = json.load(f)
                    entry = {k: doc.get(k, '') for k in (
                        'vm-uuid', 'vmi-uuid', 'vn-uuid', 'vm-name',
                        'host-ifname', 'vm-id', 'vm-ifname', 'vm-namespace')}
                except (OSError, ValueError, RecursionError) as exc:
                    self.replay_errors.append((name, str(exc)))
                    continue
                entry['version'] = self.version
                with self.lock:
                    self.vm_ports[(entry['vm-uuid'],
                                   entry['vmi-uuid'])] = entry

    # -- introspection (emulator only) -----------------------------------
    def snapshot(self) -> dict[str, dict[str, Any]]:
        """A copy of the port table, for tests and the sandbox."""
        with self.lock:
            return {u: dict(p) for u, p in self.ports.items()}


def _safe_name(name: str) -> bool:
    return '/' not in name and '\x00' not in name and name not in ('.', '..')


def _netdev_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
        return True
    except OSError:
        return False
