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
"""Every vRouter entry, driven with one input against an observed host.

:class:`Host` holds everything an entry could change - the ports
directory, a fake sysfs tree, a fake ``/proc/sys/net/ipv6/conf``, a
recorder standing in for netlink and the agent emulator with its request
log - and :meth:`Host.state` captures it.  :func:`run` feeds one input to
one entry and says ``accepted`` or ``refused``; any other outcome (an
exception the entry does not document, a CLI traceback or a second
stderr line, an HTTP connection closed without an answer) raises
:class:`Defect`.  The property tests and the corpus runner share it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
import sys
import time
import uuid
import warnings
from typing import Any, Callable, Iterator

import fixtures
from os_vif import objects

from os_vif_accel import http
from os_vif_accel import lazy
from os_vif_accel.testing import hostile
from os_vif_accel.testing import sriov_tree
from os_vif_accel import validate

from vif_plug_vrouter.cmd import port_control
from vif_plug_vrouter import exception
from vif_plug_vrouter import linux_net
from vif_plug_vrouter import port_files
from vif_plug_vrouter import record
from os_vif_accel.testing import vrouter_fixtures as vfix

ACCEPTED, REFUSED = 'accepted', 'refused'


class Defect(Exception):
    """The entry answered hostile input with something undocumented."""


class _Netlink:
    """Stands in for the daemon's netlink socket; records every change.

    Every lookup answers "no such device", so an accepted input stops
    at the first read; only requests that would change a link count.
    """

    def __init__(self) -> None:
        self.changes: list[tuple[Any, ...]] = []

    def link(self, command: str, **kwargs: Any) -> Any:
        if command != 'get':
            self.changes.append((command, kwargs))
        raise linux_net.LinkNotFound(kwargs.get('ifname'))

    def get(self, pf_ifname: str, vf: int) -> Any:
        raise linux_net.LinkNotFound(pf_ifname)

    def set(self, *args: Any) -> None:
        self.changes.append(('vf set',) + args)


class Host(fixtures.Fixture):
    """The observable host every entry acts on."""

    def _setUp(self) -> None:
        self.emu = self.useFixture(vfix.EmulatorFixture())
        self.ports_dir = self.emu.ports_dir
        os.makedirs(self.ports_dir, exist_ok=True)
        self.useFixture(vfix.PluginConfigFixture(
            self.emu.url, self.ports_dir, self.emu.sock_dir))
        self.nic = self.useFixture(sriov_tree.SmartNicFixture(
            None, pfs=1, vfs=2, kernel=False))
        self.vf = sriov_tree.vf_address(0, 0)
        self.proc = self.useFixture(fixtures.TempDir()).path
        # The CLI's working directory: a relative --port_json_path lands
        # here, observed like the rest.
        self.cwd = self.useFixture(fixtures.TempDir()).path
        for name in ('all', 'default', 'eth0', 'rep0'):
            os.makedirs(os.path.join(self.proc, name))
            with open(os.path.join(self.proc, name, 'disable_ipv6'),
                      'w') as f:
                f.write('0\n')
        self.netlink = _Netlink()

        @contextlib.contextmanager
        def iproute() -> Iterator[Any]:
            yield self.netlink
        patch = self.useFixture
        patch(fixtures.MonkeyPatch('vif_plug_vrouter.linux_net._iproute',
                                   iproute))
        patch(fixtures.MonkeyPatch('vif_plug_vrouter.linux_net.VF_NETLINK',
                                   self.netlink))
        patch(fixtures.MonkeyPatch(
            'vif_plug_vrouter.linux_net._proc_ipv6',
            lambda ifname: os.path.join(self.proc, ifname, 'disable_ipv6')))

    def state(self) -> dict[str, Any]:
        return {'ports': hostile.snapshot(self.ports_dir),
                'sysfs': hostile.snapshot(self.nic.root),
                'proc': hostile.snapshot(self.proc),
                'cwd': hostile.snapshot(self.cwd),
                'netlink': len(self.netlink.changes),
                'agent': len(self.emu.emulator.requests),
                'agent ports': self.emu.emulator.state.snapshot()}


# -- valid inputs the cases change one field of ----------------------------

def base_record() -> dict[str, Any]:
    return record.make_record(
        port_id=str(uuid.uuid4()), instance_id=str(uuid.uuid4()),
        vn_id=str(uuid.uuid4()), project_id=uuid.uuid4().hex,
        display_name='vm1', system_name='tap0', mac='fa:16:3e:00:00:01')


_MAKE_ARGS = {'id': 'port_id', 'instance-id': 'instance_id',
              'vn-id': 'vn_id', 'vm-project-id': 'project_id',
              'display-name': 'display_name', 'system-name': 'system_name',
              'mac-address': 'mac', 'ip-address': 'ip_address',
              'ip6-address': 'ip6_address', 'type': 'port_type',
              'rx-vlan-id': 'rx_vlan_id', 'tx-vlan-id': 'tx_vlan_id',
              'vhostuser-mode': 'vhostuser_mode',
              'link-state': 'link_state'}


def _documented(func: Callable[[], Any], *types: type) -> str:
    try:
        func()
    except types:
        return REFUSED
    except Exception as exc:
        raise Defect('%s: %s' % (type(exc).__name__, exc)) from exc
    return ACCEPTED


def _record(host: Host, case: dict[str, Any]) -> str:
    rec = base_record()
    rec.update(case['fields'])
    kwargs = {_MAKE_ARGS[k]: v for k, v in rec.items()}

    def make() -> None:
        clean = record.make_record(**kwargs)
        record.from_port_file(record.to_port_file(clean).decode())
    return _documented(make, validate.InvalidInput)


def _port_file_write(host: Host, case: dict[str, Any]) -> str:
    rec = base_record()
    rec.update(case.get('fields', {}))
    return _documented(lambda: port_files.write_port_file(
        host.ports_dir, rec, case.get('extra'), sync=False),
        validate.InvalidInput)


def _port_file_read(host: Host, case: dict[str, Any]) -> str:
    """A port file planted by someone else, read the way unplug does."""
    port_id = str(uuid.uuid4())
    path = os.path.join(host.ports_dir, port_id)
    kind = case.get('kind', 'file')
    if kind == 'symlink':
        os.symlink(os.path.join(host.proc, 'all', 'disable_ipv6'), path)
    elif kind == 'fifo':
        os.mkfifo(path)
    else:
        with open(path, 'wb') as f:
            f.write(case['content'].encode('utf-8', 'surrogatepass'))
    store = port_files.PortFileStore(host.ports_dir, privileged=False)
    try:
        return _documented(lambda: store.read(port_id), OSError)
    finally:
        os.unlink(path)


def expand(value: Any) -> Any:
    """Expand the corpus's shorthands, which keep the data file small.

    ``{"deep": N}`` stands for JSON nested N levels, ``{"repeat": [s,
    N]}`` for ``s * N``.
    """
    if isinstance(value, dict):
        if set(value) == {'deep'}:
            return hostile.deep_json(value['deep'])
        if set(value) == {'repeat'}:
            return value['repeat'][0] * value['repeat'][1]
        return {k: expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v) for v in value]
    return value


def _linux_net(host: Host, case: dict[str, Any]) -> str:
    func = getattr(linux_net, case['entry'].split('.', 1)[1])
    args = [host.nic.root if a == '{sysfs}' else
            host.vf if a == '{vf}' else a for a in case['args']]
    return _documented(lambda: func(*args), validate.InvalidInput,
                       linux_net.LinkNotFound, linux_net.NameTaken, OSError)


def _plugin(host: Host, case: dict[str, Any]) -> str:
    import os_vif
    vif_kw = dict(case.get('vif', {}))
    inst_kw = {'uuid': str(uuid.uuid4()), 'name': 'vm1',
               'project_id': uuid.uuid4().hex}
    inst_kw.update(case.get('instance', {}))
    for unset in case.get('unset_instance', []):
        del inst_kw[unset]
    try:
        # oslo.versionedobjects warns about, but keeps, a bad UUID: the
        # plugin must refuse it.
        warnings.simplefilter('ignore', FutureWarning)
        if case.get('vhostuser'):
            vif = vfix.vhostuser_vif(host.emu.sock_dir, **vif_kw)
        else:
            vif = vfix.generic_vif(**vif_kw)
        for unset in case.get('unset_vif', []):
            vif.obj_reset_changes([unset])
            delattr(vif, unset)
        inst = objects.instance_info.InstanceInfo(**inst_kw)
    except (ValueError, TypeError):
        return REFUSED  # os-vif's own field types refused it
    plugin = os_vif._EXT_MANAGER[vif.plugin].obj
    return _documented(lambda: plugin.plug(vif, inst),
                       exception.InvalidPort, exception.UnsupportedVIF)


def cli_argv(host: Host, over: dict[str, Any]) -> list[str]:
    args = {'oper': 'add', 'uuid': str(uuid.uuid4()),
            'instance_uuid': str(uuid.uuid4()), 'vn_uuid': str(uuid.uuid4()),
            'vm_name': 'vm1', 'mac': 'fa:16:3e:aa:bb:cc',
            'tap_name': 'tap0', 'port_json_path': host.ports_dir,
            'agent_port': str(host.emu.emulator.port), 'retry_window': '0'}
    args.update(over)
    return ['--%s=%s' % kv for kv in args.items() if kv[1] is not None]


def run_cli(argv: list[str], cwd: str) -> tuple[int, str]:
    """Run the CLI in this process, in ``cwd``; return code and stderr.

    The CLI reroutes the library's log for its one process; that is
    undone afterwards so that later tests in this process still capture
    it.  A traceback is a :class:`Defect`.
    """
    old_cwd = os.getcwd()
    os.chdir(cwd)
    err = io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = io.StringIO(), err
    log = logging.getLogger('vif_plug_vrouter')
    handlers, propagate = list(log.handlers), log.propagate
    first_use = lazy._first_use
    try:
        return port_control.run(argv), err.getvalue()
    except BaseException as exc:
        raise Defect('traceback: %s: %s' % (type(exc).__name__, exc))
    finally:
        sys.stdout, sys.stderr = old
        log.handlers[:], log.propagate = handlers, propagate
        lazy._first_use = first_use
        os.chdir(old_cwd)


def _cli(host: Host, case: dict[str, Any]) -> str:
    argv = case.get('argv') or cli_argv(host, case.get('over', {}))
    code, stderr = run_cli(argv, host.cwd)
    if code == 0:
        return ACCEPTED
    why = hostile.one_line_refusal(code, stderr)
    if why:
        raise Defect(why)
    return REFUSED


def http_exchange(url: str, raw: bytes) -> bytes:
    """Send ``raw`` and half-close; return what the server answers."""
    host, port = url.split('//')[1].split(':')
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        answer = b''
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return answer
                answer += data
        except socket.timeout:
            raise Defect('no answer within 5 s (hang): %r' % answer[:80])


def _http_server(host: Host, case: dict[str, Any]) -> str:
    raw = case['raw'].encode('latin-1')
    answer = http_exchange(host.emu.url, raw)
    if not answer.startswith(b'HTTP/1.1 '):
        raise Defect('closed without an answer: %r' % answer[:80])
    # The front end must still serve the next client.
    if not http_exchange(host.emu.url, b'GET /ports HTTP/1.1\r\n'
                         b'Host: x\r\n\r\n').startswith(b'HTTP/1.1 '):
        raise Defect('server stopped answering')
    status = answer.split(b' ', 2)[1]
    return ACCEPTED if status == b'200' else REFUSED


def _emulator_post(host: Host, case: dict[str, Any]) -> str:
    body = case['body']
    raw = (b'POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s'
           % (case.get('path', '/port').encode(),
              len(body.encode('utf-8', 'surrogatepass')),
              body.encode('utf-8', 'surrogatepass')))
    return _http_server(host, {'raw': raw.decode('latin-1')})


def _http_client(host: Host, case: dict[str, Any]) -> str:
    raw = case['raw'].encode('latin-1')
    if 'body' in case:
        body = case['body'].encode('latin-1')
        raw += b'Content-Length: %d\r\n\r\n%s' % (len(body), body)
    server = fixtures.Fixture()
    server.setUp()
    try:
        # The connection stays open, as a kept-alive agent's does.
        url = server.useFixture(vfix.RawServer(raw, keep_open=True)).url
        client = http.JSONClient(url, connect_timeout=1, read_timeout=2,
                                 retry_window=0)
        start = time.monotonic()
        outcome = _documented(lambda: client.request('GET', '/x').json(),
                              http.BadAnswer, http.Unreachable)
        if time.monotonic() - start > 1.5:
            raise Defect('waited for the read timeout (hang)')
        return outcome
    finally:
        server.cleanUp()


ENTRIES: dict[str, Callable[[Host, dict[str, Any]], str]] = {
    'record': _record,
    'port_file.write': _port_file_write,
    'port_file.read': _port_file_read,
    'plugin.plug': _plugin,
    'cli': _cli,
    'http.server': _http_server,
    'http.client': _http_client,
    'emulator.post': _emulator_post,
}


def run(host: Host, case: dict[str, Any]) -> tuple[str, list[str]]:
    """Run one case; return the outcome and what changed on the host.

    Raises :class:`Defect` for an undocumented outcome.
    """
    case = expand(case)
    entry = case['entry']
    func = _linux_net if entry.startswith('linux_net.') else ENTRIES[entry]
    before = host.state()
    outcome = func(host, case)
    after = host.state()
    if entry in ('http.server', 'emulator.post'):
        # The request log is what these entries drive; the port table
        # must not change.
        del before['agent'], after['agent']
    changed = [k for k in before if before[k] != after[k]]
    return outcome, changed
