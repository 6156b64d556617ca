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
"""``vrouter-port-control --oper=add|delete|enable|disable``.

A port added here is built by the plugin's own pieces
(:func:`vif_plug_vrouter.record.make_record`,
:class:`~vif_plug_vrouter.ports.PortManager`, the agent client and the
port-file store), so it is byte-for-byte the port the os-vif plugin adds.

Three imports stay deferred, for their measured start-up cost (see
``doc/source/contributor/library-choices.rst``): the plugin's exception
module (it loads os-vif and oslo.log) is registered lazily and runs only
when an error is raised or caught; the SmartNIC part (``offload`` loads
oslo.log) is imported only for ``--vnic_type`` other than normal; and
``logging`` only when the library first logs something.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
import time
from typing import Any, Callable

from os_vif_accel import lazy
from os_vif_accel import validate

# Registered before the modules below import it: they get the lazy module.
_errors = lazy.module('vif_plug_vrouter.exception')

from vif_plug_vrouter import agent_client  # noqa: E402
from vif_plug_vrouter.cmd.port_settings import bad  # noqa: E402
from vif_plug_vrouter.cmd.port_settings import CliError  # noqa: E402
from vif_plug_vrouter.cmd import port_settings as ps  # noqa: E402
from vif_plug_vrouter import constants  # noqa: E402
from vif_plug_vrouter import port_files  # noqa: E402
from vif_plug_vrouter import ports  # noqa: E402
from vif_plug_vrouter import record  # noqa: E402

__all__ = ['op_add', 'op_delete', 'op_link', 'build_record', 'wait_until']

Settings = ps.Settings

#: Record keys -> the flag that sets them, to name flags in errors.
_FLAG_OF = {
    'id': 'uuid', 'instance-id': 'instance_uuid', 'vn-id': 'vn_uuid',
    'vm-project-id': 'vm_project_uuid', 'display-name': 'vm_name',
    'ip-address': 'ip_address', 'ip6-address': 'ipv6_address',
    'mac-address': 'mac', 'system-name': 'tap_name', 'type': 'port_type',
    'rx-vlan-id': 'rx_vlan_id', 'tx-vlan-id': 'tx_vlan_id',
    'vhostuser-mode': 'vhostuser_mode',
}


def exceptions() -> Any:
    """The plugin's exception module, executed only if an error occurs.

    Importing it loads os-vif (and oslo.log), which costs more than a
    whole add; the lazily loaded module object is enough to name the
    classes in ``except`` clauses, which are evaluated only when
    something failed.
    """
    return _errors


def _quiet_library_warnings() -> None:
    """Mute the library's warnings, print its errors.

    The CLI reports an unreachable agent itself; the library's own
    warning would say it twice.  Runs when the library first logs
    (``lazy.on_first_use``): most calls never import ``logging``.
    """
    import logging  # lazy: ~9 ms of a ~60 ms call, most never log

    class _Stderr(logging.Handler):
        def emit(self, rec: logging.LogRecord) -> None:
            sys.stderr.write('%s: %s: %s\n' % (
                ps.PROG, rec.levelname, validate.one_line(rec.getMessage())))

    log = logging.getLogger('vif_plug_vrouter')
    log.addHandler(_Stderr(logging.ERROR))
    log.propagate = False


def manager(s: Settings) -> ports.PortManager:
    """The plugin's port manager, configured from the options."""
    lazy.on_first_use(_quiet_library_warnings)
    agent = agent_client.AgentClient(s.agent_url, connect_timeout=1.0,
                                     read_timeout=s.timeout,
                                     retry_window=s.retry_window)
    store = None if s.no_persist else port_files.PortFileStore(
        s.ports_dir, privileged=False)
    return ports.PortManager(agent, store)


def warn(message: str) -> None:
    sys.stderr.write('%s: WARNING: %s\n' % (ps.PROG, message))


def say(s: Settings, message: str) -> None:
    if s.verbose:
        sys.stdout.write(message + '\n')


def build_record(s: Settings) -> dict[str, Any]:
    """The agent record for ``--oper=add``, validated like the plugin's."""
    for flag in ('instance_uuid', 'mac', 'tap_name'):
        if getattr(s, flag) is None:
            raise CliError(ps.EXIT_FAILURE, '--%s is required for --oper=add'
                                            '; nothing was written or sent'
                           % flag)
    if s.vn_uuid is None and s.port_type == 0:
        raise CliError(ps.EXIT_FAILURE, '--vn_uuid is required for '
                                        '--oper=add of a NovaVMPort; nothing '
                                        'was written or sent')
    try:
        return record.make_record(
            port_id=str(s.port_id), instance_id=str(s.instance_uuid),
            vn_id=s.vn_uuid or '', project_id=s.vm_project_uuid or '',
            display_name=s.vm_name or '', system_name=str(s.tap_name),
            mac=str(s.mac), ip_address=_no_ip(s.ip_address),
            ip6_address=_no_ip(s.ipv6_address), port_type=s.port_type,
            rx_vlan_id=s.rx_vlan_id, tx_vlan_id=s.tx_vlan_id,
            vhostuser_mode=s.mode)
    except validate.InvalidInput as exc:
        flag = _FLAG_OF.get(exc.field, exc.field)
        raise bad(flag, getattr(s, flag, exc.value), exc.reason)


def _no_ip(value: str | None) -> str | None:
    # The TF plugin passes the string "None" for a port without IPv6.
    return None if value is None or value.strip() in ('', 'None') else value


def offload_dispatch(s: Settings, rec: dict[str, Any] | None
                     ) -> dict[str, Any] | None:
    """Check ``--vnic_type``/``--pci_dev`` before anything is done.

    Called with the record to add (``add``) or None (``delete``); returns
    the record.  Offloaded ports (direct, virtio-forwarder) keep
    ``--tap_name`` as ``system-name``: the VF's representor is renamed to
    it, the way the os-vif plugin does (see :mod:`.port_offload`).
    """
    if s.vnic_type == 'normal':
        if s.pci_dev is not None:
            raise bad('pci_dev', s.pci_dev, 'only used with --vnic_type='
                                            'direct or virtio-forwarder')
        return rec
    if s.pci_dev is None and rec is not None:
        raise CliError(ps.EXIT_FAILURE, '--vnic_type=%s needs --pci_dev (the'
                                        ' VF PCI address); nothing was '
                                        'written or sent' % s.vnic_type)
    return rec


def added(s: Settings, mgr: Any, rec: dict[str, Any], outcome: Any) -> int:
    """Exit code and message once the agent was told (or deferred)."""
    if outcome.value == 'deferred':
        warn('the vRouter agent at %s is unreachable: port %s is saved in '
             '%s and will be added when the agent starts, but is NOT '
             'active now' % (s.agent_url, s.port_id,
                             mgr.store.path(s.port_id)))
        return ps.EXIT_UNREACHABLE if s.strict else ps.EXIT_OK
    say(s, 'port %s (%s) added' % (s.port_id, rec['system-name']))
    return ps.EXIT_OK


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    """Poll ``check`` until true or ``timeout`` seconds passed.

    Sleeps between checks (50 ms, doubling up to 1 s) instead of the
    legacy 1 ms busy loop.
    """
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
    try:
        socket.create_connection(('127.0.0.1', port), timeout=1.0).close()
        return True
    except OSError:
        return False


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def _dpdk_prepare(s: Settings, rec: dict[str, Any]) -> None:
    """Legacy DPDK order: socket given, agent port open, netlink ready."""
    if s.socket is None:
        raise CliError(ps.EXIT_FAILURE, '--vif_type=VhostUser needs '
                                        '--vhostuser_socket; nothing was '
                                        'written or sent')
    expected = constants.VHOSTUSER_SOCKET_PREFIX + rec['system-name']
    if os.path.basename(s.socket) != expected:
        warn('socket %s is not named %s: the DPDK vRouter names its socket '
             'after --tap_name, so QEMU and the vRouter may not meet' %
             (s.socket, expected))
    if not wait_until(lambda: _tcp_open(s.agent_port), s.agent_wait):
        raise CliError(ps.EXIT_UNREACHABLE, 'the vRouter agent did not open '
                                            '%s within %gs (--agent_wait); '
                                            'nothing was written or sent' %
                                            (s.agent_url, s.agent_wait))
    if not wait_until(lambda: _is_socket(s.netlink), s.netlink_wait):
        raise CliError(ps.EXIT_NO_NETLINK, 'DPDK vRouter netlink socket %s '
                                           'absent after %gs (--netlink_wait'
                                           '): is the DPDK vRouter running? '
                                           'nothing was written or sent' %
                                           (s.netlink, s.netlink_wait))


def _wait_vhost_socket(s: Settings) -> int:
    if s.mode != constants.VHOSTUSER_MODE_CLIENT:
        return ps.EXIT_OK
    path = str(s.socket)
    if not wait_until(lambda: _is_socket(path), s.socket_wait):
        raise CliError(ps.EXIT_NO_VHOST_SOCKET,
                       'the agent accepted port %s but vhost-user socket '
                       '%s did not appear within %gs (--socket_wait); '
                       'current DPDK vRouters only serve QEMU-server '
                       'ports: use --vhostuser_mode=server' %
                       (s.port_id, path, s.socket_wait))
    return ps.EXIT_OK


def op_add(s: Settings) -> int:
    rec = offload_dispatch(s, build_record(s))
    assert rec is not None
    if s.vnic_type != 'normal':
        from vif_plug_vrouter.cmd import port_offload  # lazy: oslo.log
        return port_offload.add(s, rec)
    vhost = s.vif_type == 'VhostUser'
    if vhost:
        _dpdk_prepare(s, rec)
    mgr = manager(s)
    # A kernel port whose agent is down is kept in its file (the agent
    # adds it when it starts); a DPDK port is not: QEMU needs the socket.
    outcome = mgr.add(rec, defer_if_agent_down=not vhost)
    code = added(s, mgr, rec, outcome)
    if outcome.value == 'deferred' or not vhost:
        return code
    return _wait_vhost_socket(s)


def _offloaded(s: Settings, mgr: ports.PortManager) -> bool:
    """Whether delete must restore a SmartNIC VF and representor."""
    if s.vnic_type != 'normal':
        return True
    if mgr.store is None:
        return False
    try:
        prev = mgr.store.read(str(s.port_id))
    except (OSError, ValueError):
        return False  # the removal names the file's problem
    return bool(prev and prev[1].get('vf'))


def op_delete(s: Settings) -> int:
    offload_dispatch(s, None)
    mgr = manager(s)
    if _offloaded(s, mgr):
        from vif_plug_vrouter.cmd import port_offload  # lazy: oslo.log
        told = port_offload.remove(s, mgr)
    else:
        told = mgr.remove(str(s.port_id))
    if not told:
        warn('the vRouter agent at %s is unreachable: port %s was not '
             'removed from it (its port file is gone, so it will not come '
             'back when the agent restarts)' % (s.agent_url, s.port_id))
        return ps.EXIT_UNREACHABLE if s.strict else ps.EXIT_OK
    say(s, 'port %s deleted' % s.port_id)
    return ps.EXIT_OK


def op_link(s: Settings) -> int:
    told = manager(s).set_link(str(s.port_id), s.oper == 'enable')
    if not told:
        warn('the vRouter agent at %s is unreachable: the link state of '
             'port %s is saved in its port file only' %
             (s.agent_url, s.port_id))
        return ps.EXIT_UNREACHABLE if s.strict else ps.EXIT_OK
    say(s, 'port %s %sd' % (s.port_id, s.oper))
    return ps.EXIT_OK
