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
"""``vrouter-port-control`` options, validated once into :class:`Settings`.

Every option is checked here, before any operation runs, and the result
is a frozen value: an operation never goes back to the raw strings.  The
fields of the agent record (UUIDs, MAC, addresses, names) stay strings
here and are checked by :func:`vif_plug_vrouter.record.make_record`, the
same validator the os-vif plugin uses, so that both refuse alike.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, NoReturn, Sequence

from os_vif_accel import cmdline
from os_vif_accel import parse
from os_vif_accel import validate

from vif_plug_vrouter import constants

__all__ = ['OPTIONS', 'Settings', 'CliError', 'settings_from_argv', 'usage']

PROG = 'vrouter-port-control'

EXIT_OK = 0
EXIT_FAILURE = 1            # bad input or failed operation
EXIT_USAGE = 2              # malformed command line only
EXIT_NO_NETLINK = 3         # DPDK netlink socket absent
EXIT_REFUSED = 4            # the agent answered with an error
EXIT_UNREACHABLE = 5        # the agent could not be reached
EXIT_NO_VHOST_SOCKET = 6    # vhost-user socket absent after a mode-0 add

OPERS = ('add', 'delete', 'enable', 'disable', 'list', 'check', 'sync')
PORT_OPERS = ('add', 'delete', 'enable', 'disable')
PORT_TYPES = constants.PORT_TYPES
VIF_TYPES = ('Vrouter', 'VhostUser')
VNIC_TYPES = ('normal', 'direct', 'virtio-forwarder')
#: ``--vhostuser_mode`` words name QEMU's role, as Nova's vif_details do.
VHOSTUSER_MODES = {'0': constants.VHOSTUSER_MODE_CLIENT,
                   '1': constants.VHOSTUSER_MODE_SERVER,
                   'client': constants.VHOSTUSER_MODE_CLIENT,
                   'server': constants.VHOSTUSER_MODE_SERVER}
DEFAULT_NETLINK = constants.DEFAULT_VHOSTUSER_DIR + '/dpdk_netlink'
DEFAULT_AGENT_PORT = constants.DEFAULT_AGENT_URL.rpartition(':')[2]
#: Options that are numbers of seconds.
WAITS = ('timeout', 'retry_window', 'agent_wait', 'netlink_wait',
         'socket_wait', 'sync_window')

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
       default=DEFAULT_AGENT_PORT, metavar='PORT'),
    _O('port_json_path', 'port-file directory',
       default=constants.DEFAULT_PORTS_DIR + '/', metavar='DIR'),
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
       'sockets must be in', default=constants.DEFAULT_VHOSTUSER_DIR,
       metavar='DIRS'),
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


class CliError(Exception):
    """Ends the run with ``code`` after printing ``message`` on stderr."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def bad(flag: str, value: object, reason: str) -> CliError:
    """The refusal of one option's value (exit code 1)."""
    return CliError(EXIT_FAILURE, 'invalid --%s %r: %s; nothing was written '
                                  'or sent' % (flag, value, reason))


class Settings:
    """The validated options of one run (what every operation reads).

    Frozen: no attribute can be set after construction.  A plain class
    with ``__slots__`` rather than ``dataclass(frozen=True)`` (importing
    ``dataclasses`` and ``inspect`` costs the CLI 9-21 ms per call) or a
    ``typing.NamedTuple`` (building a 34-field one costs about 3 ms); see
    doc/source/contributor/library-choices.rst.
    """

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
    tx_vlan_id: int
    rx_vlan_id: int
    mtu: int | None
    timeout: float
    retry_window: float
    agent_wait: float
    netlink_wait: float
    socket_wait: float
    sync_window: float
    netlink: str
    sysfs_root: str
    forwarder_driver: str
    #: Record fields, checked by ``record.make_record`` (see module doc).
    instance_uuid: str | None
    vn_uuid: str | None
    vm_project_uuid: str | None
    vm_name: str | None
    mac: str | None
    tap_name: str | None
    ip_address: str | None
    ipv6_address: str | None

    __slots__ = ('oper', 'port_id', 'ports_dir', 'no_persist', 'strict',
                 'verbose', 'agent_port', 'fmt', 'vif_type', 'vnic_type',
                 'pci_dev', 'socket', 'mode', 'port_type', 'tx_vlan_id',
                 'rx_vlan_id', 'mtu', 'timeout', 'retry_window', 'agent_wait',
                 'netlink_wait', 'socket_wait', 'sync_window', 'netlink',
                 'sysfs_root', 'forwarder_driver', 'instance_uuid', 'vn_uuid',
                 'vm_project_uuid', 'vm_name', 'mac', 'tap_name',
                 'ip_address', 'ipv6_address')

    def __init__(self, **fields: Any) -> None:
        missing = set(self.__slots__) - set(fields)
        extra = set(fields) - set(self.__slots__)
        if missing or extra:
            raise TypeError('Settings fields missing %s, unknown %s' %
                            (sorted(missing), sorted(extra)))
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError('Settings are frozen (%s)' % name)

    def __repr__(self) -> str:
        return 'Settings(%s)' % ', '.join(
            '%s=%r' % (n, getattr(self, n)) for n in self.__slots__)

    @property
    def agent_url(self) -> str:
        return 'http://127.0.0.1:%d' % self.agent_port

    @classmethod
    def from_options(cls, raw: dict[str, Any]) -> Settings:
        """Validate every option of ``raw`` (defaults filled in)."""
        fields = _plain_fields(raw)
        fields.update(_choice_fields(raw))
        fields.update(_path_fields(raw))
        fields.update({name: _seconds(raw, name) for name in WAITS})
        if fields['timeout'] == 0:
            raise bad('timeout', raw['timeout'], 'must be above 0')
        return cls(**fields)


_RECORD_FIELDS = ('instance_uuid', 'vn_uuid', 'vm_project_uuid', 'vm_name',
                  'mac', 'tap_name', 'ip_address', 'ipv6_address')


def _plain_fields(raw: dict[str, Any]) -> dict[str, Any]:
    oper = str(raw['oper'] or '').lower()
    if oper not in OPERS:
        raise bad('oper', raw['oper'], 'must be one of %s' % ', '.join(OPERS))
    fields = {name: raw[name] for name in _RECORD_FIELDS}
    fields.update(
        oper=oper, port_id=_checked(validate.uuid, raw, 'uuid'),
        no_persist=_flag(raw, 'no_persist'), strict=_flag(raw, 'strict'),
        verbose=_flag(raw, 'verbose'),
        agent_port=_int(raw, 'agent_port', 1, 65535),
        tx_vlan_id=_int(raw, 'tx_vlan_id', -1, 4094),
        rx_vlan_id=_int(raw, 'rx_vlan_id', -1, 4094),
        mtu=None if raw['mtu'] is None else _int(raw, 'mtu', 68, 65535),
        sysfs_root=str(raw['sysfs_root']),
        forwarder_driver=str(raw['forwarder_driver']))
    return fields


def _choice_fields(raw: dict[str, Any]) -> dict[str, Any]:
    mode = str(raw['vhostuser_mode']).strip().lower()
    if mode not in VHOSTUSER_MODES:
        raise bad('vhostuser_mode', raw['vhostuser_mode'],
                  'must be 0 or client (QEMU is the vhost-user client), '
                  '1 or server (QEMU is the server)')
    return {'fmt': _choice(raw, 'format', ('table', 'json')),
            'vif_type': _choice(raw, 'vif_type', VIF_TYPES),
            'vnic_type': _choice(raw, 'vnic_type', VNIC_TYPES),
            'port_type': _port_type(raw['port_type']),
            'mode': VHOSTUSER_MODES[mode]}


def _path_fields(raw: dict[str, Any]) -> dict[str, Any]:
    dirs = [d for d in str(raw['vhostuser_socket_dir']).split(',') if d]
    socket = _checked(lambda v, _: validate.socket_path(v, dirs), raw,
                      'vhostuser_socket')
    pci = raw['pci_dev']
    return {'ports_dir': _ports_dir(raw['port_json_path']),
            'netlink': _checked(validate.directory, raw, 'dpdk_netlink'),
            'socket': socket,
            'pci_dev': None if pci is None else _checked(
                lambda v, _: validate.pci_address(v.lower()), raw,
                'pci_dev')}


def _checked(check: Any, raw: dict[str, Any], name: str) -> Any:
    """``check(value, '--name')`` or None for an absent option."""
    if raw[name] is None:
        return None
    try:
        return check(raw[name], '--' + name)
    except validate.InvalidInput as exc:
        raise bad(name, raw[name], exc.reason)


def _seconds(raw: dict[str, Any], name: str) -> float:
    value = raw[name]
    # ASCII only: float() takes '٣', '1_0', 'nan' and ' 5 ' too.
    if not isinstance(value, str) or \
            not re.fullmatch(r'[0-9]{1,6}(\.[0-9]{0,6})?', value.strip(' ')):
        raise bad(name, value, 'must be a number of seconds')
    secs = float(value)
    if not 0 <= secs <= 86400:
        raise bad(name, value, 'must be between 0 and 86400 seconds')
    return secs


def _flag(raw: dict[str, Any], name: str) -> bool:
    value = cmdline.parse_bool(raw[name])
    if value is None:
        raise bad(name, raw[name], 'must be true or false (or given '
                                   'without a value, meaning true)')
    return value


def _choice(raw: dict[str, Any], name: str, choices: Sequence[str]) -> str:
    value = str(raw[name])
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise bad(name, value, 'must be one of %s' % ', '.join(choices))


def _port_type(value: str) -> int:
    for name, number in PORT_TYPES.items():
        if value.lower() in (name.lower(), str(number)):
            return number
    raise bad('port_type', value, 'must be NovaVMPort, NameSpacePort or '
                                  'ESXiPort (or 0, 1, 2)')


def _int(raw: dict[str, Any], name: str, lo: int, hi: int) -> int:
    """An integer option in ASCII digits (``int()`` also takes '٣')."""
    value = raw[name]
    try:
        return parse.ascii_int(str(value).strip(' '), '--' + name, lo, hi)
    except validate.InvalidInput as exc:
        raise bad(name, value, exc.reason)


def _ports_dir(value: str) -> str:
    path = str(value)
    if path and not path.startswith('/'):
        path = os.path.abspath(path)
    try:
        # A trailing "/" is optional (the legacy tool required one).
        return validate.directory(path, '--port_json_path')
    except validate.InvalidInput as exc:
        raise bad('port_json_path', value, exc.reason)


def settings_from_argv(argv: Sequence[str]) -> Settings | None:
    """Parse and validate a command line; None means help was shown."""
    given = cmdline.parse(cmdline.unpack(argv), OPTIONS)
    if given.get('help'):
        sys.stdout.write(usage())
        return None
    if 'oper' not in given:
        raise cmdline.UsageError('--oper is required (one of %s)' %
                                 ', '.join(OPERS))
    raw: dict[str, Any] = {name: opt.default
                           for name, opt in OPTIONS.items()}
    raw.update(given)
    settings = Settings.from_options(raw)
    if settings.oper in PORT_OPERS and settings.port_id is None:
        raise cmdline.UsageError('--uuid is required for --oper=%s' %
                                 settings.oper)
    return settings


def usage() -> str:
    """The ``--help`` text."""
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
