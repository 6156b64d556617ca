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
"""vrouter-port-control (this CLI) vs a legacy-style script, side by side.

Both tools are run as one process per call, interleaved, against one
agent emulator in this process: wall time of ``--oper=add`` and
``--oper=delete`` per call, p50/p99 and the legacy/new ratio.  Needs
``requests`` (tox -e bench) for the legacy-style script.

    python benchmarks/bench_port_control.py [--calls N] [--variants]

``--variants`` also runs the CLI, in the same interleaved loop, through
one ``python -c`` launcher three ways: as it is (``cli``), with its HTTP
transport on ``http.client`` (``http.client``, see
``httpclient_transport.py``) and with oslo.log loaded at start, as a
plugin module creating its oslo.log logger at import would do
(``oslo.log``).  The p50 difference to ``cli`` is what each choice costs
per call (budget: 15 ms; doc/source/contributor/library-choices.rst).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from vif_plug_vrouter.emulator import server

HERE = os.path.dirname(os.path.abspath(__file__))
NEW = os.path.join(os.path.dirname(sys.executable), 'vrouter-port-control')
LEGACY = [sys.executable, os.path.join(HERE, 'legacy_port_control.py')]
_LAUNCH = ('import sys; sys.path.insert(0, %r); %s'
           'from vif_plug_vrouter.cmd.port_control import main; '
           'sys.exit(main())')
VARIANTS = {
    'cli': [sys.executable, '-c', _LAUNCH % (HERE, '')],
    'http.client': [sys.executable, '-c', _LAUNCH % (
        HERE, 'import httpclient_transport; '
              'httpclient_transport.install(); ')],
    'oslo.log': [sys.executable, '-c', _LAUNCH % (
        HERE, 'import oslo_log.log; ')],
}
BUDGET_MS = 15.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one call.

    CPU time is what a loaded machine distorts least: wall time also
    counts the time other processes held the cores.
    """
    start, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    cpu = _children_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit('%s failed (%d): %s' % (cmd[0], proc.returncode,
                                                  proc.stderr.decode()))
    return elapsed, cpu


def add_args(port_id: str, agent_port: int, ports_dir: str) -> list[str]:
    return ['--oper=add', '--uuid=' + port_id,
            '--instance_uuid=' + str(uuid.uuid4()),
            '--vn_uuid=' + str(uuid.uuid4()),
            '--vm_project_uuid=' + uuid.uuid4().hex,
            '--ip_address=10.0.0.5', '--ipv6_address=None',
            '--vm_name=instance-00000001', '--mac=fa:16:3e:11:22:33',
            '--tap_name=' + ('tap' + port_id)[:14],
            '--port_type=NovaVMPort', '--tx_vlan_id=-1', '--rx_vlan_id=-1',
            '--agent_port=%d' % agent_port,
            '--port_json_path=%s/' % ports_dir]


def byte_compile() -> None:
    """Compile this distribution's modules as ``pip install`` does.

    An editable install run with PYTHONDONTWRITEBYTECODE=1 would compile
    every module of the new CLI on every call, which no deployment does
    (requests, used by the legacy script, is byte-compiled by pip).
    """
    import compileall

    import os_vif_accel
    import vif_plug_vrouter
    for pkg in (os_vif_accel, vif_plug_vrouter):
        compileall.compile_dir(os.path.dirname(pkg.__file__), quiet=1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--calls', type=int, default=40)
    p.add_argument('--no-compile', action='store_true',
                   help='do not byte-compile the packages first')
    p.add_argument('--variants', action='store_true',
                   help='also measure the library-choice variants')
    p.add_argument('--baseline', metavar='DIR',
                   help='also run the CLI of another checkout (e.g. a '
                        '"git worktree" of an older commit) as "baseline"')
    opts = p.parse_args()
    if not opts.no_compile:
        byte_compile()
    tmp = tempfile.mkdtemp(prefix='bench-port-control-')
    emu = server.AgentEmulator(os.path.join(tmp, 'agent'), port=0).start()
    tools = {'new': [NEW], 'legacy': LEGACY}
    if opts.variants:
        tools.update(VARIANTS)
    if opts.baseline:
        tools['baseline'] = [sys.executable, '-c', _LAUNCH % (
            os.path.abspath(opts.baseline), '')]
    times: dict[tuple[str, str], list[float]] = {
        (t, op): [] for t in tools for op in ('add', 'delete')}
    cpus: dict[tuple[str, str], list[float]] = {k: [] for k in times}
    try:
        for i in range(opts.calls + 2):
            for name, cmd in tools.items():
                ports_dir = os.path.join(tmp, name)
                port_id = str(uuid.uuid4())
                add, add_cpu = timed(cmd + add_args(port_id, emu.port,
                                                    ports_dir))
                assert port_id in emu.state.snapshot()
                delete, del_cpu = timed(cmd + [
                    '--oper=delete', '--uuid=' + port_id,
                    '--agent_port=%d' % emu.port,
                    '--port_json_path=%s/' % ports_dir])
                assert port_id not in emu.state.snapshot()
                if i >= 2:   # warm-up: page cache, .pyc files
                    times[(name, 'add')].append(add)
                    times[(name, 'delete')].append(delete)
                    cpus[(name, 'add')].append(add_cpu)
                    cpus[(name, 'delete')].append(del_cpu)
    finally:
        emu.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print('vrouter-port-control: %d calls per operation, one process per '
          'call, ms wall' % opts.calls)
    print('%-8s %-12s %8s %8s %8s %8s' % ('op', 'tool', 'p50', 'p99', 'mean',
                                          'cpu p50'))
    ok = True
    for op in ('add', 'delete'):
        for name in tools:
            t = times[(name, op)]
            print('%-8s %-12s %8.1f %8.1f %8.1f %8.1f' % (
                op, name, pct(t, .5) * 1e3, pct(t, .99) * 1e3,
                statistics.mean(t) * 1e3, pct(cpus[(name, op)], .5) * 1e3))
        ratio = pct(times[('legacy', op)], .5) / pct(times[('new', op)], .5)
        new_p50 = pct(times[('new', op)], .5) * 1e3
        print('%-8s ratio legacy/new (p50): %.2fx; new p50 %.1f ms '
              '(targets >= 2x, < 150 ms)' % (op, ratio, new_p50))
        ok = ok and ratio >= 2 and new_p50 < 150
    print('targets met' if ok else 'targets NOT met')
    if opts.variants:
        report_variants(times, cpus, 'cli', ('http.client', 'oslo.log'))
    if opts.baseline:
        report_variants(times, cpus, 'baseline', ('cli',))
    return 0


def report_variants(times: dict[tuple[str, str], list[float]],
                    cpus: dict[tuple[str, str], list[float]], base: str,
                    names: tuple[str, ...]) -> None:
    """p50 cost of each variant against ``base`` (same launcher)."""
    for op in ('add', 'delete'):
        for name in names:
            wall = (pct(times[(name, op)], .5) -
                    pct(times[(base, op)], .5)) * 1e3
            cpu = (pct(cpus[(name, op)], .5) -
                   pct(cpus[(base, op)], .5)) * 1e3
            print('%-8s %-12s p50 %+.1f ms wall, %+.1f ms CPU vs %s: %s '
                  'the %.0f ms budget' % (
                      op, name, wall, cpu, base,
                      'within' if min(wall, cpu) <= BUDGET_MS else 'OVER',
                      BUDGET_MS))


if __name__ == '__main__':
    sys.exit(main())
