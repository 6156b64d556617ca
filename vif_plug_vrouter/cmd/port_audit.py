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
"""``vrouter-port-control --oper=list|check|sync``.

All three look at the ports directory the way the agent replays it
(:mod:`vif_plug_vrouter.port_scan`), so files written by the legacy CLI,
by contrail-vrouter-api, by the agent or by this library read alike.
``sync`` starts the agent's stale-port audit, which deletes every port
and every vm-vn subscription not re-added within the window; it therefore
refuses to start while any file the agent replays cannot be read, and
re-adds the vm-vn subscriptions as well as the ports.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import time
from typing import Any

from vif_plug_vrouter.cmd.port_ops import exceptions, manager, say, warn
from vif_plug_vrouter.cmd import port_settings as ps
from vif_plug_vrouter import port_scan

__all__ = ['op_list', 'op_check', 'op_sync', 'drift']


def _scan(s: ps.Settings) -> list[Any]:
    """The port files to look at (all, or those of ``--uuid``)."""
    if s.no_persist:
        raise ps.CliError(ps.EXIT_FAILURE, '--oper=%s reads the port files; '
                                           'it cannot be combined with '
                                           '--no_persist' % s.oper)
    files = port_scan.scan_ports(s.ports_dir)
    if s.port_id:
        files = [f for f in files if f.name_id == s.port_id or
                 any(rec['id'] == s.port_id for rec, _ in f.ports)]
        if not files:
            raise ps.CliError(ps.EXIT_FAILURE, 'port %s has no port file in '
                                               '%s' % (s.port_id,
                                                       s.ports_dir))
    return files


def _rows(files: list[Any]) -> list[tuple[str, str, Any, str | None]]:
    """``(port id, path, record or None, file error)`` per port."""
    rows = []
    for f in files:
        if f.error is not None:
            rows.append((f.name_id, f.path, None, f.error))
        rows.extend((rec['id'], f.path, rec, None) for rec, _ in f.ports)
    return rows


class _AgentView:
    """``GET /port/<uuid>`` for many ports; stops asking once it is down."""

    def __init__(self, manager: Any) -> None:
        self.agent = manager.agent
        self.down: str | None = None

    def get(self, port_id: str) -> tuple[str, dict[str, Any] | None]:
        if self.down is not None:
            return 'unreachable', None
        errors = exceptions()
        try:
            view = self.agent.get_port(port_id)
        except errors.AgentUnreachable as exc:
            self.down = str(exc)
            return 'unreachable', None
        except errors.VrouterError as exc:
            return 'error: %s' % exc, None
        return ('active', view) if view is not None else ('absent', None)


def _agent_down(s: ps.Settings, view: _AgentView) -> int:
    if view.down is None:
        return ps.EXIT_OK
    warn(view.down)
    return ps.EXIT_UNREACHABLE if s.strict or s.oper == 'check' \
        else ps.EXIT_OK


def op_list(s: ps.Settings) -> int:
    files = _scan(s)
    view = _AgentView(manager(s))
    rows = []
    for pid, path, rec, error in _rows(files):
        state, agent = view.get(pid)
        rows.append({'id': pid, 'port_file': path, 'record': rec,
                     'file_error': error, 'agent_state': state,
                     'agent': agent})
    if s.fmt == 'json':
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) +
                         '\n')
    else:
        _table(rows)
    return _agent_down(s, view)


def _table(rows: list[dict[str, Any]]) -> None:
    names = {v: k for k, v in ps.PORT_TYPES.items()}
    out = [('UUID', 'TAP', 'TYPE', 'MAC', 'IPV4', 'VM', 'AGENT')]
    for row in rows:
        rec = row['record'] or {}
        out.append((row['id'], rec.get('system-name', '(unreadable file)'),
                    names.get(rec.get('type', -1), '-'),
                    rec.get('mac-address', '-'), rec.get('ip-address', '-'),
                    rec.get('display-name', '-'), row['agent_state']))
    widths = [max(len(r[i]) for r in out) for i in range(len(out[0]) - 1)]
    for r in out:
        sys.stdout.write('  '.join(c.ljust(w) for c, w in zip(r, widths)) +
                         '  ' + r[-1] + '\n')


_NIL = '00000000-0000-0000-0000-000000000000'


def _norm(key: str, value: Any) -> Any:
    """One spelling per value: VLAN "none", nil UUIDs, IP text forms."""
    if key.endswith('vlan-id') and value in (-1, 65535):
        return -1
    if key in ('vn-id', 'vm-project-id') and value in ('', _NIL):
        return ''
    if key in ('ip-address', 'ip6-address') and isinstance(value, str):
        try:
            addr = ipaddress.ip_address(value)
        except ValueError:
            return value
        return None if addr.is_unspecified else addr
    if isinstance(value, str):
        return value.lower()
    return value


def drift(rec: dict[str, Any], agent: dict[str, Any]) -> list[str]:
    """Fields where the agent's view differs from the port file.

    The agent's ``GET /port`` view (tf-controller @ fbb63bcd
    ``port_ipc_handler.cc`` 1176-1248, ``MakeJsonFromVmi``) shows "no
    VLAN" as 65535 (``kInvalidVlanId``, ``oper/vm_interface.h`` 362),
    empty UUIDs as the nil UUID, addresses in inet_ntop form and only
    once their subnet's IPAM arrived (1197-1202, 1227-1242).
    """
    pairs = [(k, k) for k in ('id', 'instance-id', 'vn-id', 'vm-project-id',
                              'mac-address', 'system-name', 'rx-vlan-id',
                              'tx-vlan-id', 'vhostuser-mode')]
    pairs += [('ip-address', 'ip-address'), ('ip6-address', 'v6-ip-address')]
    return ['%s: file %r, agent %r' % (key, rec.get(key), agent[akey])
            for key, akey in pairs
            if akey in agent and
            _norm(key, rec.get(key)) != _norm(key, agent[akey])]


def op_check(s: ps.Settings) -> int:
    files = _scan(s)
    view = _AgentView(manager(s))
    results = []
    for pid, path, rec, error in _rows(files):
        if rec is None:
            results.append((pid, 'broken', ['port file %s cannot be read as '
                                            'the agent reads it: %s' %
                                            (path, error)]))
            continue
        state, agent = view.get(pid)
        if agent is None:
            results.append((pid, 'drift' if state == 'absent' else state,
                            ['agent has no active port (%s)' % state]))
            continue
        diffs = drift(rec, agent)
        results.append((pid, 'drift' if diffs else 'ok', diffs))
    if s.fmt == 'json':
        sys.stdout.write(json.dumps(
            [{'id': p, 'state': st, 'details': d} for p, st, d in results],
            indent=2) + '\n')
    else:
        for pid, state, details in results:
            sys.stdout.write('%s %s%s\n' % (state.upper(), pid, ''.join(
                '\n    ' + d for d in details)))
    down = _agent_down(s, view)
    if down:
        return down
    if any(state != 'ok' for _, state, _ in results):
        return ps.EXIT_FAILURE
    return ps.EXIT_OK


def _refuse_unreadable(files: list[Any], vm_vn: list[Any]) -> None:
    """Stop before ``/syncports`` if the agent may hold what we cannot read.

    The agent replays such files (or got their ports by REST before the
    file broke); after a sync it would delete those ports, and every
    vm-vn subscription of a VM with one stale entry
    (port_subscribe_table.cc 506-544, port_ipc_handler.cc 989-1039).
    """
    bad = [(f.path, f.error) for f in files + vm_vn if f.error is not None]
    if not bad:
        return
    for path, error in bad:
        warn('%s cannot be read as the agent reads it: %s' %
             (path, error))
    raise ps.CliError(ps.EXIT_FAILURE, 'not starting the agent\'s stale-port '
                                       'audit: %d file(s) above may describe '
                                       'live ports or subscriptions that it '
                                       'would delete; repair or remove them '
                                       'and run --oper=sync again (nothing '
                                       'was sent)' % len(bad))


def _rescan(s: ps.Settings, files: list[Any], vm_vn: list[Any]
            ) -> tuple[list[Any], list[Any]]:
    """The files again, read once the audit has started.

    A plug writes its port file before its ``POST /port`` (ports.py): a
    port the agent got before ``/syncports`` is in this listing, one it
    gets later carries the new version either way.  A port unplugged
    since the first listing is not re-added.  A file that became
    unreadable meanwhile (e.g. rewritten in place by the legacy CLI) is
    re-added as first read.
    """
    again: tuple[list[Any], list[Any]] = (
        port_scan.scan_ports(s.ports_dir), port_scan.scan_vm_vn(s.ports_dir))
    first = {f.path: f for f in files + vm_vn if f.error is None}
    out: tuple[list[Any], list[Any]] = ([], [])
    for fresh, kept in zip(again, out):
        for f in fresh:
            if f.error is not None and not os.path.lexists(f.path):
                continue   # removed while listed: unplugged meanwhile
            f = first.get(f.path, f) if f.error is not None else f
            if f.error is not None:
                warn('%s cannot be read as the agent reads it: %s; the '
                     'agent will delete what it describes' %
                     (f.path, f.error))
            kept.append(f)
    return out


def _readd(agent: Any, files: list[Any], vm_vn: list[Any]
           ) -> tuple[int, dict[str, int]]:
    """Re-add every port and vm-vn subscription; (exit code, counts)."""
    errors = exceptions()
    code = ps.EXIT_OK if not any(f.error for f in files + vm_vn) \
        else ps.EXIT_FAILURE
    done = {'port': 0, 'vm-vn': 0}
    calls = [('port', agent.add_port, rec, f.path) for f in files
             for rec, _ in f.ports]
    calls += [('vm-vn', agent.add_vm_port, v.body, v.path) for v in vm_vn
              if v.body is not None]
    for kind, call, body, path in calls:
        if not os.path.lexists(path):
            continue   # unplugged meanwhile: do not bring it back
        try:
            call(body)
            done[kind] += 1
        except errors.AgentRefused as exc:
            warn('%s; the agent will delete it when the audit ends' % exc)
            code = ps.EXIT_REFUSED
        except errors.AgentUnreachable:
            warn('the agent stopped answering after the audit started: '
                 'what is not re-added within its '
                 'stale_interface_cleanup_timeout is deleted; run '
                 '--oper=sync again as soon as it answers')
            raise
    return code, done


def op_sync(s: ps.Settings) -> int:
    """``POST /syncports``, then re-add every port and vm-vn subscription."""
    if s.port_id:
        raise ps.CliError(ps.EXIT_FAILURE, '--oper=sync audits the whole '
                                           'host: the agent deletes every '
                                           'port not re-added, so --uuid '
                                           'cannot be used with it')
    if not os.path.isdir(s.ports_dir):
        raise ps.CliError(ps.EXIT_FAILURE, 'port directory %s does not '
                                           'exist: the agent would delete '
                                           'every port it holds; nothing was '
                                           'sent' % s.ports_dir)
    files = _scan(s)
    vm_vn = port_scan.scan_vm_vn(s.ports_dir)
    _refuse_unreadable(files, vm_vn)
    agent = manager(s).agent
    start = time.monotonic()
    agent.sync_ports()
    files, vm_vn = _rescan(s, files, vm_vn)
    code, done = _readd(agent, files, vm_vn)
    elapsed = time.monotonic() - start
    if elapsed > s.sync_window:
        warn('re-adding took %.1fs, more than --sync_window=%g: the '
             'agent may already have removed some of these ports' %
             (elapsed, s.sync_window))
        code = code or ps.EXIT_FAILURE
    say(s, 'agent audit started, %d of %d port(s) and %d of %d vm-vn '
           'subscription(s) re-added in %.2fs' %
        (done['port'], sum(len(f.ports) for f in files), done['vm-vn'],
         len(vm_vn), elapsed))
    return code
