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
"""Benchmark: SmartNIC representor lookup and full offload plug.

Not a test.  A generated sysfs tree of 4 PFs x 64 VFs in switchdev mode
(256 representors, 4 uplinks, plus unrelated netdevs) is searched, in
one run, by:

* **cached**: :class:`vif_plug_vrouter.sriov.SriovInventory` (per-PF
  cache, representor names revalidated on use);
* **scan**: the way os-vif's OVS plugin does it - list every netdev of
  the host and read its ``phys_switch_id`` and ``phys_port_name`` on
  every lookup (:func:`scan_lookup` below; with an exact ``virtfnN``
  match).

Then, as root, full ``os_vif.plug()`` + ``os_vif.unplug()`` of
VIFHostDevice ports (vnic direct) with each lookup: real privsep daemon
inside a throwaway network namespace where the representors are real tap
devices (rename, MTU, IPv6, link up), agent emulator, fsync'd port
files; VF MAC/VLAN go to the test double (no VFs in this kernel).

Usage::

    python benchmarks/bench_offload.py [--lookups 5000] [--plugs 200]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import tempfile
import time
import uuid
import warnings
from typing import Any, Callable

from vif_plug_vrouter import sriov
from os_vif_accel.testing import sriov_tree

PFS, VFS, OTHER_NETDEVS = 4, 64, 64
_UPLINK = re.compile(r'^p\d+$')


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def scan_lookup(root: str, vf: str) -> sriov.Representor:
    """The scan-every-netdev way (os-vif OVS plugin), no caching."""
    dev = os.path.join(root, 'bus/pci/devices', vf)
    pf = os.path.basename(os.readlink(os.path.join(dev, 'physfn')))
    pf_dir = os.path.join(root, 'bus/pci/devices', pf)
    index = None
    for entry in os.listdir(pf_dir):
        if entry.startswith('virtfn') and os.path.basename(
                os.readlink(os.path.join(pf_dir, entry))) == vf:
            index = int(entry[6:])
    uplink = None
    for name in sorted(os.listdir(os.path.join(pf_dir, 'net'))):
        port = _read(os.path.join(pf_dir, 'net', name, 'phys_port_name'))
        if port and _UPLINK.match(port):
            uplink = name
    assert uplink is not None and index is not None
    net = os.path.join(root, 'class/net')
    switch_id = _read(os.path.join(net, uplink, 'phys_switch_id'))
    function = int(pf.rsplit('.', 1)[1])
    for name in os.listdir(net):
        if _read(os.path.join(net, name, 'phys_switch_id')) != switch_id:
            continue
        parsed = sriov.parse_port_name(
            _read(os.path.join(net, name, 'phys_port_name')))
        if parsed and parsed[1] == index and parsed[0] in (None, function):
            return sriov.Representor(vf=vf, vf_index=index, pf=pf,
                                     pf_ifname=uplink, switch_id=switch_id,
                                     ifname=name)
    raise LookupError(vf)


class ScanInventory(sriov.SriovInventory):
    """An inventory whose lookup is :func:`scan_lookup`."""

    def representor(self, vf: str) -> sriov.Representor:
        return scan_lookup(self.root, vf)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(name: str, samples: list[float], unit: float, label: str) -> str:
    return '%-30s n=%-5d p50 %9.3f %s  p99 %9.3f %s  mean %9.3f %s' % (
        name, len(samples), pct(samples, 0.5) * unit, label,
        pct(samples, 0.99) * unit, label, statistics.mean(samples) * unit,
        label)


def timed(func: Callable[[], Any]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def bench_lookup(nic: Any, lookups: int) -> None:
    vfs = list(nic.vfs)
    rng = random.Random(1)
    order = [rng.choice(vfs) for _ in range(lookups)]
    inv = sriov.SriovInventory(nic.root)
    for vf in vfs:  # both warm: page cache for scan, PF cache for us
        assert inv.representor(vf).ifname == scan_lookup(nic.root,
                                                         vf).ifname
    cached, scan = [], []
    for vf in order:   # interleaved so both see the same conditions
        cached.append(timed(lambda: inv.representor(vf)))
        scan.append(timed(lambda: scan_lookup(nic.root, vf)))
    print('representor lookup, %d PFs x %d VFs, %d netdevs in sysfs'
          % (PFS, VFS, len(os.listdir(nic.tree.path('class/net')))))
    print(line('  cached (SriovInventory)', cached, 1e6, 'us'))
    print(line('  scan every netdev', scan, 1e6, 'us'))
    print('  ratio scan/cached: p50 %.1fx  p99 %.1fx' % (
        pct(scan, 0.5) / pct(cached, 0.5), pct(scan, 0.99) /
        pct(cached, 0.99)))


def bench_plug(nic: Any, netns: Any, plugs: int, real: int) -> None:
    import os_vif
    from os_vif import objects
    from oslo_config import cfg

    from vif_plug_vrouter.emulator import server
    from vif_plug_vrouter import privsep

    tmp = tempfile.mkdtemp(prefix='bench-offload-')
    ports_dir = os.path.join(tmp, 'ports')
    emu = server.AgentEmulator(ports_dir, port=0).start()
    os.environ['OS_VIF_ACCEL_TEST_VF_STATE'] = os.path.join(tmp, 'vf.json')
    os_vif.initialize()
    cfg.CONF.set_override(
        'helper_command', sriov_tree.helper_command(
            netns.name, os.path.join(tmp, 'privsep.conf'), [ports_dir],
            [nic.root]), 'vif_plug_vrouter_privileged')
    for key, value in (('agent_url', emu.url), ('ports_dir', ports_dir),
                       ('sysfs_root', nic.root)):
        cfg.CONF.set_override(key, value, 'os_vif_vrouter')
    plugin = os_vif._EXT_MANAGER['vrouter'].obj
    inst = objects.instance_info.InstanceInfo(
        uuid=str(uuid.uuid4()), name='instance-00000001',
        project_id=uuid.uuid4().hex)
    targets = [vf for vf, (p, i) in nic.vfs.items() if i < real]

    def vif(vf: str) -> Any:
        port_id = str(uuid.uuid4())
        net = objects.network.Network(id=str(uuid.uuid4()), mtu=9000,
                                      subnets=objects.subnet.SubnetList(
                                          objects=[]))
        rep = objects.vif.DatapathOffloadRepresentor(
            representor_name=('tap' + port_id)[:14], representor_address=vf)
        return objects.vif.VIFHostDevice(
            id=port_id, address='fa:16:3e:00:00:01', plugin='vrouter',
            network=net, dev_type='ethernet', dev_address=vf,
            port_profile=objects.vif.VIFPortProfileBase(
                datapath_offload=rep))

    results: dict[str, tuple[list[float], list[float]]] = {}
    warm = vif(targets[0])
    os_vif.plug(warm, inst)     # starts the privsep daemon
    os_vif.unplug(warm, inst)
    inventories = {'cached': plugin.offloader.inventory,
                   'scan': ScanInventory(nic.root)}
    for name in inventories:
        results[name] = ([], [])
    for n in range(plugs):
        for name, inv in inventories.items():   # interleaved
            plugin.offloader.inventory = inv
            v = vif(targets[n % len(targets)])
            results[name][0].append(timed(lambda: os_vif.plug(v, inst)))
            results[name][1].append(timed(lambda: os_vif.unplug(v, inst)))
    assert emu.state.snapshot() == {}
    print('full offload plug (VIFHostDevice) through os_vif, privsep '
          'daemon, agent emulator')
    for name, (plug, unplug) in results.items():
        print(line('  plug   %s' % name, plug, 1e3, 'ms'))
        print(line('  unplug %s' % name, unplug, 1e3, 'ms'))
    c, s = results['cached'][0], results['scan'][0]
    print('  ratio plug scan/cached: p50 %.2fx  p99 %.2fx' % (
        pct(s, 0.5) / pct(c, 0.5), pct(s, 0.99) / pct(c, 0.99)))
    emu.stop()
    privsep.vif_plug.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--lookups', type=int, default=5000)
    parser.add_argument('--plugs', type=int, default=200)
    parser.add_argument('--real-reps', type=int, default=8,
                        help='representors per PF backed by a real tap')
    args = parser.parse_args()
    warnings.simplefilter('ignore')
    root = os.geteuid() == 0
    netns = sriov_tree.NetnsFixture() if root else None
    if netns is not None:
        netns.setUp()
    nic = sriov_tree.SmartNicFixture(
        netns, pfs=PFS, vfs=VFS, real_reps=args.real_reps if root else 0,
        kernel=False, extra_netdevs=OTHER_NETDEVS)
    nic.setUp()
    try:
        bench_lookup(nic, args.lookups)
        if netns is None:
            print('full plug: skipped (needs root for the namespace and '
                  'the privsep daemon)')
        else:
            bench_plug(nic, netns, args.plugs, args.real_reps)
    finally:
        nic.cleanUp()
        if netns is not None:
            netns.cleanUp()


if __name__ == '__main__':
    main()
