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
"""``vrouter-port-control``: drop-in replacement of the legacy script.

It accepts every legacy flag and argv shape, but builds the port with the
plugin's own pieces (:func:`vif_plug_vrouter.record.make_record`,
:class:`~vif_plug_vrouter.ports.PortManager`, the agent client and the
port-file store), so a port added here is byte-for-byte the port the
os-vif plugin would add.  Callers fork it once per port, hence module
imports are deferred to the operation that needs them: ``add`` and
``delete`` never load oslo.log, oslo.config or os-vif.

Exit codes keep the legacy meanings; 2 is only a usage error.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, Callable, Sequence

from os_vif_accel import cmdline

__all__ = ['main', 'OPTIONS', 'Settings', 'settings_from_argv']

PROG = 'vrouter-port-control'

EXIT_OK = 0
EXIT_FAILURE = 1            # bad input or failed operation
EXIT_USAGE = 2              # malformed command line only
EXIT_NO_NETLINK = 3         # DPDK netlink socket absent
EXIT_REFUSED = 4            # the agent answered with an error
EXIT_UNREACHABLE = 5        # the agent could not be reached
EXIT_NO_VHOST_SOCKET = 6    # vhost-user socket absent after a mode-0 add

OPERS = ('add', 'delete', 'enable', 'disable', 'list', 'check', 'sync')
PORT_TYPES = {'NovaVMPort': 0, 'NameSpacePort': 1, 'ESXiPort': 2}
VIF_TYPES = ('Vrouter', 'VhostUser')
VNIC_TYPES = ('normal', 'direct', 'virtio-forwarder')
#: ``--vhostuser_mode`` words name QEMU's role, as Nova's vif_details do.
VHOSTUSER_MODES = {'0': 0, '1': 1, 'client': 0, 'server': 1}
DEFAULT_PORTS_DIR = '/var/lib/contrail/ports/'
DEFAULT_NETLINK = '/var/run/vrouter/dpdk_netlink'
DEFAULT_SOCKET_DIR = '/var/run/vrouter'

_O = cmdline.Option
OPTIONS: dict[str, cmdline.Option] = {o.name: o for o in [
    _O('oper', 'operation: add, delete, enable, disable (legacy), list, '
       'check, sync', metavar='OPER'),
    _O('uuid', 'port (VMI) UUID', metavar='UUID'),
    _O('instance_uuid', 'instance (VM) UUID', metavar='UUID'),
    _O('vn_uuid', 'virtual network UUID (may be omitted for '
       'NameSpacePort and ESXiPort)', metavar='UUID'),
    _O('vm_project_uuid', 'project UUID, dashed or 32 hex digits',
       metavar='UUID'),
    _O('ip_address', 'IPv4 address (default 0.0.0.0)', metavar='IP'),
    _O('ipv6_address', 'IPv6 address (default none)', metavar='IP'),
    _O('vm_name', 'VM display name, any text (default empty)',
       metavar='NAME'),
    _O('mac', 'MAC address of the port', metavar='MAC'),
    _O('tap_name', 'host interface name (<= 15 bytes)', metavar='IFNAME'),
    _O('port_type', 'NovaVMPort, NameSpacePort or ESXiPort (or 0/1/2)',
       default='NovaVMPort', metavar='TYPE'),
    _O('tx_vlan_id', 'TX VLAN, -1 for none', default='-1', metavar='VLAN'),
    _O('rx_vlan_id', 'RX VLAN, -1 for none', default='-1', metavar='VLAN'),
    _O('vif_type', 'Vrouter (kernel) or VhostUser (DPDK)',
       default='Vrouter', metavar='TYPE'),
    _O('vhostuser_socket', 'vhost-user socket path (VhostUser)',
       metavar='PATH'),
    _O('vhostuser_mode', "QEMU's vhost-user role: 0/client or 1/server",
       default='0', metavar='MODE'),
    _O('no_persist', 'do not write or remove the port file', default=False,
       flag=True),
    _O('agent_port', 'agent port-API TCP port on 127.0.0.1',
       default='9091', metavar='PORT'),
    _O('port_json_path', 'port-file directory', default=DEFAULT_PORTS_DIR,
       metavar='DIR'),
    # -- new -----------------------------------------------------------
    _O('vnic_type', 'normal, direct or virtio-forwarder', default='normal',
       metavar='TYPE'),
    _O('pci_dev', 'VF PCI address (direct, virtio-forwarder)',
       metavar='DDDD:BB:SS.F'),
    _O('mtu', 'MTU to set on the VF representor (direct, '
       'virtio-forwarder; default: leave it)', metavar='MTU'),
    _O('sysfs_root', 'where sysfs is mounted (direct, virtio-forwarder)',
       default='/sys', metavar='DIR'),
    _O('forwarder_driver', 'driver the VF is bound to for '
       'virtio-forwarder', default='vfio-pci', metavar='DRIVER'),
    _O('strict', 'exit 5 when the agent is down even where the legacy '
       'tool exited 0', default=False, flag=True),
    _O('format', 'list/check output: table or json', default='table',
       metavar='FMT'),
    _O('vhostuser_socket_dir', 'comma-separated directories vhost-user '
       'sockets must be in', default=DEFAULT_SOCKET_DIR, metavar='DIRS'),
    _O('dpdk_netlink', 'DPDK vRouter netlink socket to wait for',
       default=DEFAULT_NETLINK, metavar='PATH'),
    _O('agent_wait', 'seconds to wait for the agent port (VhostUser add)',
       default='120', metavar='SECONDS'),
    _O('netlink_wait', 'seconds to wait for --dpdk_netlink (VhostUser add)',
       default='15', metavar='SECONDS'),
    _O('socket_wait', 'seconds to wait for the vhost-user socket after a '
       'mode-0 add', default='15', metavar='SECONDS'),
    _O('timeout', 'seconds to wait for each agent answer', default='10',
       metavar='SECONDS'),
    _O('retry_window', 'seconds to retry a request the agent could not '
       'receive', default='2', metavar='SECONDS'),
    _O('sync_window', 'seconds within which --oper=sync must re-add every '
       'port (the agent\'s stale_interface_cleanup_timeout)',
       default='60', metavar='SECONDS'),
    _O('verbose', 'print what was done on stdout', default=False,
       flag=True),
]}
del _O

#: Record keys -> the flag that sets them, to name flags in errors.
_FLAG_OF = {
    'id': 'uuid', 'instance-id': 'instance_uuid', 'vn-id': 'vn_uuid',
    'vm-project-id': 'vm_project_uuid', 'display-name': 'vm_name',
    'ip-address': 'ip_address', 'ip6-address': 'ipv6_address',
    'mac-address': 'mac', 'system-name': 'tap_name', 'type': 'port_type',
    'rx-vlan-id': 'rx_vlan_id', 'tx-vlan-id': 'tx_vlan_id',
    'vhostuser-mode': 'vhostuser_mode',
}


class CliError(Exception):
    """Ends the run with ``code`` after printing ``message`` on stderr."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _bad(flag: str, value: object, reason: str) -> CliError:
    return CliError(EXIT_FAILURE, 'invalid --%s %r: %s; nothing was written '
                                  'or sent' % (flag, value, reason))


def _seconds(raw: dict[str, Any], name: str) -> float:
    value = raw[name]
    # ASCII only: float() takes '٣', '1_0', 'nan' and ' 5 ' too.
    if not isinstance(value, str) or \
            not re.fullmatch(r'[0-9]{1,6}(\.[0-9]{0,6})?', value.strip(' ')):
        raise _bad(name, value, 'must be a number of seconds')
    secs = float(value)
    if not 0 <= secs <= 86400:
        raise _bad(name, value, 'must be between 0 and 86400 seconds')
    return secs


class Settings:
    """The validated options of one run (what every operation reads)."""

    oper: str
    port_id: str | None
    ports_dir: str
    no_persist: bool
    strict: bool
    verbose: bool
    agent_port: int
    fmt: str
    vif_type: str
    vnic_type: str
    pci_dev: str | None
    socket: str | None
    mode: int
    port_type: int
    timeout: float
    retry_window: float
    agent_wait: float
    netlink_wait: float
    socket_wait: float
    sync_window: float
    netlink: str
    raw: dict[str, Any]

    def __init__(self, raw: dict[str, Any]) -> None:
        from os_vif_accel import validate
        self.raw = raw
        oper = str(raw['oper'] or '').lower()
        if oper not in OPERS:
            raise _bad('oper', raw['oper'], 'must be one of %s' %
                       ', '.join(OPERS))
        self.oper = oper
        self.port_id = None
        if raw['uuid'] is not None:
            try:
                self.port_id = validate.uuid(raw['uuid'], '--uuid')
            except validate.InvalidInput as exc:
                raise _bad('uuid', raw['uuid'], exc.reason)
        self.no_persist = _flag(raw, 'no_persist')
        self.strict = _flag(raw, 'strict')
        self.verbose = _flag(raw, 'verbose')
        self.ports_dir = _ports_dir(raw['port_json_path'])
        self.agent_port = _agent_port(raw['agent_port'])
        self.fmt = _choice(raw, 'format', ('table', 'json'))
        self.vif_type = _choice(raw, 'vif_type', VIF_TYPES)
        self.vnic_type = _choice(raw, 'vnic_type', VNIC_TYPES)
        self.port_type = _port_type(raw['port_type'])
        mode = str(raw['vhostuser_mode']).strip().lower()
        if mode not in VHOSTUSER_MODES:
            raise _bad('vhostuser_mode', raw['vhostuser_mode'],
                       'must be 0 or client (QEMU is the vhost-user '
                       'client), 1 or server (QEMU is the server)')
        self.mode = VHOSTUSER_MODES[mode]
        self.pci_dev = None
        if raw['pci_dev'] is not None:
            try:
                self.pci_dev = validate.pci_address(raw['pci_dev'].lower())
            except validate.InvalidInput as exc:
                raise _bad('pci_dev', raw['pci_dev'], exc.reason)
        self.socket = None
        if raw['vhostuser_socket'] is not None:
            dirs = [d for d in str(raw['vhostuser_socket_dir']).split(',')
                    if d]
            try:
                self.socket = validate.socket_path(raw['vhostuser_socket'],
                                                   dirs)
            except validate.InvalidInput as exc:
                raise _bad('vhostuser_socket', raw['vhostuser_socket'],
                           exc.reason)
        self.netlink = _path(raw, 'dpdk_netlink')
        for name in ('timeout', 'retry_window', 'agent_wait', 'netlink_wait',
                     'socket_wait', 'sync_window'):
            setattr(self, name, _seconds(raw, name))
        if self.timeout == 0:
            raise _bad('timeout', raw['timeout'], 'must be above 0')

    @property
    def agent_url(self) -> str:
        return 'http://127.0.0.1:%d' % self.agent_port


def _flag(raw: dict[str, Any], name: str) -> bool:
    value = cmdline.parse_bool(raw[name])
    if value is None:
        raise _bad(name, raw[name], 'must be true or false (or given '
                                    'without a value, meaning true)')
    return value


def _choice(raw: dict[str, Any], name: str, choices: Sequence[str]) -> str:
    value = str(raw[name])
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise _bad(name, value, 'must be one of %s' % ', '.join(choices))


def _port_type(value: str) -> int:
    for name, number in PORT_TYPES.items():
        if value.lower() in (name.lower(), str(number)):
            return number
    raise _bad('port_type', value, 'must be NovaVMPort, NameSpacePort or '
                                   'ESXiPort (or 0, 1, 2)')


def _int(raw: dict[str, Any], name: str, lo: int, hi: int) -> int:
    """An integer option in ASCII digits (``int()`` also takes '٣')."""
    from os_vif_accel import parse
    from os_vif_accel import validate
    value = raw[name]
    try:
        return parse.ascii_int(str(value).strip(' '), '--' + name, lo, hi)
    except validate.InvalidInput as exc:
        raise _bad(name, value, exc.reason)


def _agent_port(value: str) -> int:
    return _int({'agent_port': value}, 'agent_port', 1, 65535)


def _path(raw: dict[str, Any], name: str) -> str:
    from os_vif_accel import validate
    try:
        return validate.directory(raw[name], '--' + name)
    except validate.InvalidInput as exc:
        raise _bad(name, raw[name], exc.reason)


def _ports_dir(value: str) -> str:
    from os_vif_accel import validate
    path = str(value)
    if path and not path.startswith('/'):
        path = os.path.abspath(path)
    try:
        # A trailing "/" is optional (the legacy tool required one).
        return validate.directory(path, '--port_json_path')
    except validate.InvalidInput as exc:
        raise _bad('port_json_path', value, exc.reason)


# -- command line ----------------------------------------------------------

def settings_from_argv(argv: Sequence[str]) -> Settings | None:
    """Parse and validate a command line; None means help was shown."""
    words = cmdline.unpack(argv)
    given = cmdline.parse(words, OPTIONS)
    if given.get('help'):
        sys.stdout.write(usage())
        return None
    if 'oper' not in given:
        raise cmdline.UsageError('--oper is required (one of %s)' %
                                 ', '.join(OPERS))
    raw: dict[str, Any] = {name: opt.default
                           for name, opt in OPTIONS.items()}
    raw.update(given)
    settings = Settings(raw)
    if settings.oper in ('add', 'delete', 'enable', 'disable') and \
            raw['uuid'] is None:
        raise cmdline.UsageError('--uuid is required for --oper=%s' %
                                 settings.oper)
    return settings


def usage() -> str:
    lines = ['usage: %s --oper=OPER [--name=value | --name value ...]' % PROG,
             '', 'All options may also be given as one argument holding the '
             'whole command line,', 'values optionally double-quoted.', '',
             'options:']
    for opt in OPTIONS.values():
        left = '--%s' % opt.name if opt.flag else '--%s=%s' % (opt.name,
                                                               opt.metavar)
        default = ''
        if opt.default not in (None, False):
            default = ' (default %s)' % opt.default
        lines.append('  %-30s %s%s' % (left, opt.help, default))
    lines += ['', 'exit codes: 0 ok, 1 bad input or failure, 2 usage error, '
              '3 DPDK netlink socket absent,', '  4 agent refused, 5 agent '
              'unreachable, 6 vhost-user socket absent', '']
    return '\n'.join(lines)


# -- building blocks ---------------------------------------------------------

def _exceptions() -> Any:
    """The plugin's exception module, executed only if an error occurs.

    Importing it loads os-vif (and oslo.log), which costs more than a
    whole add; a lazily loaded module object is enough to name the classes
    in ``except`` clauses, which are evaluated only when something failed.
    """
    from os_vif_accel import lazy
    return lazy.module('vif_plug_vrouter.exception')


def _quiet_library_warnings() -> None:
    """Mute the library's warnings, print its errors.

    The CLI reports an unreachable agent itself; the library's own
    warning would say it twice.
    """
    import logging

    class _Stderr(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            from os_vif_accel import validate
            sys.stderr.write('%s: %s: %s\n' % (
                PROG, record.levelname,
                validate.one_line(record.getMessage())))

    log = logging.getLogger('vif_plug_vrouter')
    log.addHandler(_Stderr(logging.ERROR))
    log.propagate = False


def _manager(s: Settings) -> Any:
    from os_vif_accel import lazy
    _exceptions()  # registered before the modules below import it
    lazy.on_first_use(_quiet_library_warnings)
    from vif_plug_vrouter import agent_client
    from vif_plug_vrouter import port_files
    from vif_plug_vrouter import ports
    agent = agent_client.AgentClient(s.agent_url, connect_timeout=1.0,
                                     read_timeout=s.timeout,
                                     retry_window=s.retry_window)
    store = None if s.no_persist else port_files.PortFileStore(
        s.ports_dir, privileged=False)
    return ports.PortManager(agent, store)


def _warn(message: str) -> None:
    sys.stderr.write('%s: WARNING: %s\n' % (PROG, message))


def _say(s: Settings, message: str) -> None:
    if s.verbose:
        sys.stdout.write(message + '\n')


def build_record(s: Settings) -> dict[str, Any]:
    """The agent record for ``--oper=add``, validated like the plugin's."""
    from os_vif_accel import validate
    from vif_plug_vrouter import record
    raw = s.raw
    for flag in ('instance_uuid', 'mac', 'tap_name'):
        if raw[flag] is None:
            raise CliError(EXIT_FAILURE, '--%s is required for --oper=add; '
                                         'nothing was written or sent' % flag)
    if raw['vn_uuid'] is None and s.port_type == 0:
        raise CliError(EXIT_FAILURE, '--vn_uuid is required for --oper=add '
                                     'of a NovaVMPort; nothing was written '
                                     'or sent')
    vlans = {flag: _int(raw, flag, -1, 4094)
             for flag in ('tx_vlan_id', 'rx_vlan_id')}
    try:
        return record.make_record(
            port_id=str(s.port_id), instance_id=raw['instance_uuid'],
            vn_id=raw['vn_uuid'] or '',
            project_id=raw['vm_project_uuid'] or '',
            display_name=raw['vm_name'] or '',
            system_name=raw['tap_name'], mac=raw['mac'],
            ip_address=_no_ip(raw['ip_address']),
            ip6_address=_no_ip(raw['ipv6_address']),
            port_type=s.port_type, rx_vlan_id=vlans['rx_vlan_id'],
            tx_vlan_id=vlans['tx_vlan_id'], vhostuser_mode=s.mode)
    except validate.InvalidInput as exc:
        flag = _FLAG_OF.get(exc.field, exc.field)
        raise _bad(flag, raw.get(flag, exc.value), exc.reason)


def _no_ip(value: str | None) -> str | None:
    # The TF plugin passes the string "None" for a port without IPv6.
    return None if value is None or value.strip() in ('', 'None') else value


def offload_dispatch(s: Settings, rec: dict[str, Any] | None
                     ) -> dict[str, Any] | None:
    """Check ``--vnic_type``/``--pci_dev`` before anything is done.

    Called with the record to add (``add``) or None (``delete``); returns
    the record.  Offloaded ports (direct, virtio-forwarder) keep
    ``--tap_name`` as ``system-name``: the VF's representor is renamed to
    it, the way the os-vif plugin does (see :func:`_offload_add`).
    """
    if s.vnic_type == 'normal':
        if s.pci_dev is not None:
            raise _bad('pci_dev', s.pci_dev, 'only used with --vnic_type='
                                             'direct or virtio-forwarder')
        return rec
    if s.pci_dev is None and rec is not None:
        raise CliError(EXIT_FAILURE, '--vnic_type=%s needs --pci_dev (the '
                                     'VF PCI address); nothing was written '
                                     'or sent' % s.vnic_type)
    return rec


def _offloader(s: Settings) -> Any:
    """The SmartNIC code of the plugin, acting in this (root) process."""
    from vif_plug_vrouter import offload
    from os_vif_accel import validate
    try:
        return offload.local_offloader(str(s.raw['sysfs_root']),
                                       str(s.raw['forwarder_driver']))
    except validate.InvalidInput as exc:
        flag = 'sysfs_root' if exc.field == 'sysfs_root' \
            else 'forwarder_driver'
        raise _bad(flag, exc.value, exc.reason)


def _offload_add(s: Settings, rec: dict[str, Any]) -> int:
    """Add a direct / virtio-forwarder port with the plugin's own flow.

    Representor found, original state saved in the port file, representor
    renamed to ``--tap_name`` and configured, VF MAC set (and, for
    virtio-forwarder, the VF bound to ``--forwarder_driver``), then the
    agent told; every step is undone if a later one fails.  No DPDK waits:
    the forwarder, not the vRouter, serves the vhost-user socket.
    """
    from os_vif_accel import validate
    from vif_plug_vrouter import offload
    mtu = s.raw['mtu']
    try:
        spec = offload.Spec.build(
            port_id=str(s.port_id), mode=s.vnic_type, vf=s.pci_dev,
            name=rec['system-name'], mac=rec['mac-address'],
            mtu=None if mtu is None else _int(s.raw, 'mtu', 68, 65535))
    except validate.InvalidInput as exc:
        flag = {'representor_address': 'pci_dev',
                'representor_name': 'tap_name',
                'address': 'mac'}.get(exc.field, exc.field)
        raise _bad(flag, exc.value, exc.reason)
    manager = _manager(s)
    if manager.store is None:
        raise CliError(EXIT_FAILURE, '--vnic_type=%s cannot be used with '
                                     '--no_persist: the port file keeps '
                                     'what delete must restore; nothing was '
                                     'written or sent' % s.vnic_type)
    outcome = offload.add_port(
        _offloader(s), manager, spec,
        lambda name: dict(rec, **{'system-name': name}),
        defer_if_agent_down=True)
    return _added(s, manager, rec, outcome)


def _added(s: Settings, manager: Any, rec: dict[str, Any],
           outcome: Any) -> int:
    if outcome.value == 'deferred':
        _warn('the vRouter agent at %s is unreachable: port %s is saved in '
              '%s and will be added when the agent starts, but is NOT '
              'active now' % (s.agent_url, s.port_id,
                              manager.store.path(s.port_id)))
        return EXIT_UNREACHABLE if s.strict else EXIT_OK
    _say(s, 'port %s (%s) added' % (s.port_id, rec['system-name']))
    return EXIT_OK


def _offloaded(s: Settings, manager: Any) -> bool:
    """Whether delete must restore a SmartNIC VF and representor."""
    if s.vnic_type != 'normal':
        return True
    if manager.store is None:
        return False
    try:
        prev = manager.store.read(s.port_id)
    except (OSError, ValueError):
        return False  # the removal names the file's problem
    return bool(prev and prev[1].get('vf'))


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    """Poll ``check`` until true or ``timeout`` seconds passed.

    Sleeps between checks (50 ms, doubling up to 1 s) instead of the
    legacy 1 ms busy loop.
    """
    import time
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        if check():
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(delay, left))
        delay = min(delay * 2, 1.0)


def _tcp_open(port: int) -> bool:
    import socket
    try:
        socket.create_connection(('127.0.0.1', port), timeout=1.0).close()
        return True
    except OSError:
        return False


def _is_socket(path: str) -> bool:
    import stat
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def _dpdk_prepare(s: Settings, rec: dict[str, Any]) -> None:
    """Legacy DPDK order: socket given, agent port open, netlink ready."""
    if s.socket is None:
        raise CliError(EXIT_FAILURE, '--vif_type=VhostUser needs '
                                     '--vhostuser_socket; nothing was '
                                     'written or sent')
    expected = 'uvh_vif_' + rec['system-name']
    if os.path.basename(s.socket) != expected:
        _warn('socket %s is not named %s: the DPDK vRouter names its socket '
              'after --tap_name, so QEMU and the vRouter may not meet' %
              (s.socket, expected))
    if not wait_until(lambda: _tcp_open(s.agent_port), s.agent_wait):
        raise CliError(EXIT_UNREACHABLE, 'the vRouter agent did not open '
                                         '%s within %gs (--agent_wait); '
                                         'nothing was written or sent' %
                                         (s.agent_url, s.agent_wait))
    if not wait_until(lambda: _is_socket(s.netlink), s.netlink_wait):
        raise CliError(EXIT_NO_NETLINK, 'DPDK vRouter netlink socket %s '
                                        'absent after %gs (--netlink_wait): '
                                        'is the DPDK vRouter running? '
                                        'nothing was written or sent' %
                                        (s.netlink, s.netlink_wait))


# -- operations ------------------------------------------------------------

def op_add(s: Settings) -> int:
    rec = offload_dispatch(s, build_record(s))
    assert rec is not None
    if s.vnic_type != 'normal':
        return _offload_add(s, rec)
    vhost = s.vif_type == 'VhostUser'
    if vhost:
        _dpdk_prepare(s, rec)
    manager = _manager(s)
    # A kernel port whose agent is down is kept in its file (the agent
    # adds it when it starts); a DPDK port is not: QEMU needs the socket.
    outcome = manager.add(rec, defer_if_agent_down=not vhost)
    code = _added(s, manager, rec, outcome)
    if outcome.value == 'deferred':
        return code
    if vhost and s.mode == 0:
        assert s.socket is not None
        if not wait_until(lambda: _is_socket(str(s.socket)), s.socket_wait):
            raise CliError(EXIT_NO_VHOST_SOCKET,
                           'the agent accepted port %s but vhost-user socket '
                           '%s did not appear within %gs (--socket_wait); '
                           'current DPDK vRouters only serve QEMU-server '
                           'ports: use --vhostuser_mode=server' %
                           (s.port_id, s.socket, s.socket_wait))
    return EXIT_OK


def op_delete(s: Settings) -> int:
    offload_dispatch(s, None)
    manager = _manager(s)
    if _offloaded(s, manager):
        from vif_plug_vrouter import offload
        told = offload.remove_port(_offloader(s), manager, str(s.port_id))
    else:
        told = manager.remove(s.port_id)
    if not told:
        _warn('the vRouter agent at %s is unreachable: port %s was not '
              'removed from it (its port file is gone, so it will not come '
              'back when the agent restarts)' % (s.agent_url, s.port_id))
        return EXIT_UNREACHABLE if s.strict else EXIT_OK
    _say(s, 'port %s deleted' % s.port_id)
    return EXIT_OK


def op_link(s: Settings) -> int:
    up = s.oper == 'enable'
    told = _manager(s).set_link(s.port_id, up)
    if not told:
        _warn('the vRouter agent at %s is unreachable: the link state of '
              'port %s is saved in its port file only' %
              (s.agent_url, s.port_id))
        return EXIT_UNREACHABLE if s.strict else EXIT_OK
    _say(s, 'port %s %sd' % (s.port_id, s.oper))
    return EXIT_OK


def _audit(s: Settings) -> int:
    """list, check and sync live in their own module."""
    from vif_plug_vrouter.cmd import port_audit
    op: Callable[[Settings], int] = getattr(port_audit, 'op_' + s.oper)
    return op(s)


OPERATIONS: dict[str, Callable[[Settings], int]] = {
    'add': op_add, 'delete': op_delete, 'enable': op_link,
    'disable': op_link, 'list': _audit, 'check': _audit, 'sync': _audit,
}


def _error_code(exc: BaseException) -> int | None:
    """Exit code for the plugin's exceptions (loaded only when raised)."""
    mod = sys.modules.get('vif_plug_vrouter.exception')
    if mod is None or not isinstance(exc, Exception):
        return None
    if isinstance(exc, mod.AgentRefused):
        return EXIT_REFUSED
    if isinstance(exc, mod.AgentUnreachable):
        return EXIT_UNREACHABLE
    if isinstance(exc, mod.VrouterError):
        return EXIT_FAILURE
    return None


def _fail(code: int, kind: str, message: object) -> int:
    """Print one refusal as exactly one line on stderr.

    Messages quote what was given; escaping here means no value (a
    newline in an option name or a path) can print a line of its own.
    """
    from os_vif_accel import validate
    sys.stderr.write('%s: %s: %s\n' % (PROG, kind,
                                        validate.one_line(str(message))))
    return code


def run(argv: Sequence[str]) -> int:
    """Run one command line; returns the exit code."""
    try:
        settings = settings_from_argv(argv)
        if settings is None:
            return EXIT_OK
        return OPERATIONS[settings.oper](settings)
    except cmdline.UsageError as exc:
        return _fail(EXIT_USAGE, 'usage error', exc)
    except CliError as exc:
        return _fail(exc.code, 'error', exc.message)
    except OSError as exc:
        return _fail(EXIT_FAILURE, 'error', exc)
    except Exception as exc:
        code = _error_code(exc)
        if code is None:
            from os_vif_accel import validate
            if not isinstance(exc, validate.InvalidInput):
                raise
            code = EXIT_FAILURE
        return _fail(code, 'error', exc)


def main(argv: Sequence[str] | None = None) -> int:
    return run(sys.argv[1:] if argv is None else argv)


if __name__ == '__main__':
    sys.exit(main())
