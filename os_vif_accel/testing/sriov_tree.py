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
"""A fake sysfs tree of a switchdev SmartNIC, and fixtures around it.

The layout follows a real host: ``devices/pci0000:00/<addr>`` directories
with ``physfn``/``virtfnN``/``driver`` links, ``driver_override``,
``sriov_totalvfs``/``sriov_numvfs``; ``bus/pci/devices/<addr>`` links to
them; ``bus/pci/drivers/<name>`` with ``bind``/``unbind`` and
``bus/pci/drivers_probe``; ``class/net/<name>`` links to netdev
directories with ``phys_switch_id``, ``phys_port_name``, ``ifindex`` and
a ``device`` link to the parent PF.

:class:`PciKernel` emulates what the kernel does when those driver files
are written: they are FIFOs read by a thread that moves the ``driver``
links.  :class:`NetnsFixture` and :class:`SmartNicFixture` back the
representors with real netdevs in a throwaway network namespace.
"""

from __future__ import annotations

import os
import secrets
import select
import shutil
import threading
from typing import Any

import fixtures

from os_vif_accel.testing import netns as netns_mod

PCI_ROOT = 'devices/pci0000:00'


def vf_address(pf_index: int, vf: int) -> str:
    """Address of VF ``vf`` of PF number ``pf_index`` in the fake tree."""
    return '0000:%02x:%02x.%d' % (0x81 + pf_index, vf // 8, vf % 8)


def pf_address(pf_index: int, function: int = 0) -> str:
    return '0000:%02x:00.%d' % (0x08 + pf_index // 2, function)


class FakeSysfs:
    """Build a sysfs-like tree below ``root``."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.vf_drivers: dict[str, str | None] = {}
        for sub in (PCI_ROOT, 'devices/virtual/net', 'bus/pci/devices',
                    'bus/pci/drivers', 'class/net'):
            os.makedirs(os.path.join(root, sub), exist_ok=True)

    # -- helpers -----------------------------------------------------------
    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    @staticmethod
    def _write(path: str, text: str) -> None:
        with open(path, 'w') as f:
            f.write(text + '\n')

    def _link(self, target: str, link: str) -> None:
        os.symlink(os.path.relpath(target, os.path.dirname(link)), link)

    def dev_dir(self, address: str) -> str:
        return self.path(PCI_ROOT, address)

    # -- drivers -----------------------------------------------------------
    def add_driver(self, name: str) -> None:
        d = self.path('bus/pci/drivers', name)
        if os.path.isdir(d):
            return
        os.makedirs(d)
        for f in ('bind', 'unbind'):
            self._write(os.path.join(d, f), '')
        if not os.path.exists(self.path('bus/pci/drivers_probe')):
            self._write(self.path('bus/pci/drivers_probe'), '')

    def bind(self, address: str, driver: str) -> None:
        self.add_driver(driver)
        dev = self.dev_dir(address)
        self._link(self.path('bus/pci/drivers', driver),
                   os.path.join(dev, 'driver'))
        self._link(dev, self.path('bus/pci/drivers', driver, address))

    def unbind(self, address: str) -> None:
        dev = self.dev_dir(address)
        driver = self.driver_of(address)
        if driver is None:
            return
        os.unlink(os.path.join(dev, 'driver'))
        try:
            os.unlink(self.path('bus/pci/drivers', driver, address))
        except FileNotFoundError:
            pass

    def driver_of(self, address: str) -> str | None:
        try:
            return os.path.basename(os.readlink(
                os.path.join(self.dev_dir(address), 'driver')))
        except OSError:
            return None

    def override_of(self, address: str) -> str:
        with open(os.path.join(self.dev_dir(address),
                               'driver_override')) as f:
            value = f.read().strip()
        # The kernel shows a cleared override as "(null)".
        return value or '(null)'

    # -- devices -----------------------------------------------------------
    def _pci_device(self, address: str, driver: str | None) -> str:
        dev = self.dev_dir(address)
        os.makedirs(os.path.join(dev, 'net'))
        self._write(os.path.join(dev, 'driver_override'), '(null)')
        self._link(dev, self.path('bus/pci/devices', address))
        if driver:
            self.bind(address, driver)
        return dev

    def add_netdev(self, name: str, parent: str | None = None,
                   switch_id: str | None = None,
                   port_name: str | None = None, ifindex: int = 0) -> str:
        """A netdev under PCI device ``parent`` or devices/virtual/net."""
        if parent is not None:
            base = os.path.join(self.dev_dir(parent), 'net', name)
        else:
            base = self.path('devices/virtual/net', name)
        os.makedirs(base)
        self._write(os.path.join(base, 'ifindex'), str(ifindex))
        if switch_id is not None:
            self._write(os.path.join(base, 'phys_switch_id'), switch_id)
        if port_name is not None:
            self._write(os.path.join(base, 'phys_port_name'), port_name)
        if parent is not None:
            self._link(self.dev_dir(parent), os.path.join(base, 'device'))
        self._link(base, self.path('class/net', name))
        return base

    def add_pf(self, address: str, netdev: str, numvfs: int,
               vf_address_of: Any, switch_id: str | None = None,
               pf_driver: str = 'mlx5_core',
               vf_driver: str | None = 'mlx5_core') -> list[str]:
        """A PF with ``numvfs`` VFs; ``switch_id`` None = legacy mode."""
        dev = self._pci_device(address, pf_driver)
        self._write(os.path.join(dev, 'sriov_totalvfs'), str(max(numvfs, 8)))
        self._write(os.path.join(dev, 'sriov_numvfs'), str(numvfs))
        self.add_netdev(netdev, parent=address, switch_id=switch_id,
                        port_name='p%s' % address[-1] if switch_id else None)
        vfs = []
        for i in range(numvfs):
            vf = vf_address_of(i)
            vdev = self._pci_device(vf, vf_driver)
            self._link(dev, os.path.join(vdev, 'physfn'))
            self._link(vdev, os.path.join(dev, 'virtfn%d' % i))
            self.vf_drivers[vf] = vf_driver
            vfs.append(vf)
        return vfs

    def add_representor(self, name: str, pf: str, switch_id: str,
                        port_name: str, ifindex: int = 0,
                        under_pf: bool = True) -> str:
        return self.add_netdev(name, parent=pf if under_pf else None,
                               switch_id=switch_id, port_name=port_name,
                               ifindex=ifindex)

    def rename_netdev(self, old: str, new: str) -> None:
        """What the kernel does to sysfs when a netdev is renamed."""
        link = self.path('class/net', old)
        base = os.path.realpath(link)
        new_base = os.path.join(os.path.dirname(base), new)
        os.rename(base, new_base)
        os.unlink(link)
        self._link(new_base, self.path('class/net', new))

    def netdevs(self) -> dict[int, str]:
        """``{ifindex: name}`` of every netdev with a non-zero ifindex."""
        out = {}
        for name in os.listdir(self.path('class/net')):
            with open(self.path('class/net', name, 'ifindex')) as f:
                index = int(f.read())
            if index:
                out[index] = name
        return out


class PciKernel:
    """Emulate the kernel side of bind/unbind/drivers_probe writes.

    The three kinds of files become FIFOs; a thread reads them and moves
    the ``driver`` links like the PCI core would.  A device is probed by
    its ``driver_override`` if set (and loaded), else by its native
    driver.
    """

    def __init__(self, tree: FakeSysfs) -> None:
        self.tree = tree
        self._fds: dict[int, tuple[str, str | None]] = {}
        self._stop_r, self._stop_w = os.pipe()
        self.drivers: set[str] = set()
        self._writers: list[int] = []
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='fake-pci-kernel')
        self.errors: list[str] = []

    def _fifo(self, path: str, kind: str, driver: str | None) -> None:
        if os.path.exists(path):
            os.unlink(path)
        os.mkfifo(path)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        # Hold a writer so the FIFO never reports EOF between writers.
        self._writers.append(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        self._fds[fd] = (kind, driver)

    def start(self) -> 'PciKernel':
        drivers = self.tree.path('bus/pci/drivers')
        self.drivers = set(os.listdir(drivers))
        for name in self.drivers:
            for kind in ('bind', 'unbind'):
                self._fifo(os.path.join(drivers, name, kind), kind, name)
        self._fifo(self.tree.path('bus/pci/drivers_probe'), 'probe', None)
        self._thread.start()
        return self

    def stop(self) -> None:
        os.write(self._stop_w, b'x')
        self._thread.join(5)
        for fd in list(self._fds) + self._writers + [self._stop_r,
                                                     self._stop_w]:
            os.close(fd)

    def _run(self) -> None:
        while True:
            ready, _, _ = select.select(list(self._fds) + [self._stop_r],
                                        [], [])
            if self._stop_r in ready:
                return
            for fd in ready:
                kind, driver = self._fds[fd]
                data = os.read(fd, 65536).decode()
                for address in data.split():
                    try:
                        self._handle(kind, driver, address)
                    except Exception as exc:  # noqa: H201 - keep running
                        self.errors.append('%s %s: %s' % (kind, address,
                                                          exc))

    def _handle(self, kind: str, driver: str | None, address: str) -> None:
        tree = self.tree
        current = tree.driver_of(address)
        if kind == 'unbind':
            if current == driver:
                tree.unbind(address)
            return
        if current is not None:
            return
        if kind == 'bind':
            tree.bind(address, driver or '')
            return
        override = tree.override_of(address)
        if override and override != '(null)':
            if override in self.drivers:
                tree.bind(address, override)
            return
        native = tree.vf_drivers.get(address)
        if native:
            tree.bind(address, native)


# Re-exported: tests and benchmarks use them through this module.
helper_command = netns_mod.helper_command
run = netns_mod.run
NetnsFixture = netns_mod.NetnsFixture


class SmartNicFixture(fixtures.Fixture):
    """A switchdev NIC: PFs, VFs and representors backed by real netdevs.

    :param pfs: number of PFs; :param vfs: VFs per PF;
    :param real_reps: how many representors per PF get a real netdev
        (tap) in the namespace (the others exist only in sysfs);
    :param forms: phys_port_name template per PF index, using ``{pf}`` and
        ``{vf}`` (``pf{pf}vf{vf}``, ``vf{vf}`` or ``{vf}``);
    :param legacy_pfs: PF indexes left in legacy (non-switchdev) mode;
    :param kernel: start :class:`PciKernel` (driver binding).
    """

    def __init__(self, netns: NetnsFixture | None, pfs: int = 2,
                 vfs: int = 4, real_reps: int = 4,
                 forms: dict[int, str] | None = None,
                 legacy_pfs: tuple[int, ...] = (),
                 reps_under_pf: bool = True, kernel: bool = True,
                 extra_netdevs: int = 0) -> None:
        super().__init__()
        self.netns = netns
        self.npfs, self.nvfs, self.real_reps = pfs, vfs, real_reps
        self.forms = forms or {}
        self.legacy_pfs = legacy_pfs
        self.reps_under_pf = reps_under_pf
        self.kernel_wanted = kernel
        self.extra_netdevs = extra_netdevs

    def _setUp(self) -> None:
        tmp = self.useFixture(fixtures.TempDir()).path
        self.root = os.path.join(tmp, 'sys')
        self.tree = FakeSysfs(self.root)
        self.tree.add_driver('vfio-pci')
        self.suffix = secrets.token_hex(2)
        self.pfs: list[str] = []
        self.uplinks: list[str] = []
        self.vfs: dict[str, tuple[int, int]] = {}
        self.reps: dict[str, str] = {}
        for p in range(self.npfs):
            self._add_pf(p)
        for i in range(self.extra_netdevs):
            self.tree.add_netdev('eth%d' % (100 + i))
        if self.kernel_wanted:
            self.kernel = PciKernel(self.tree).start()
            self.addCleanup(self.kernel.stop)
        self.addCleanup(shutil.rmtree, self.root, True)

    def _add_pf(self, p: int) -> None:
        address = pf_address(p, function=p % 2)
        switch_id = None if p in self.legacy_pfs else \
            '00154d13%04x' % (p // 2)
        uplink = 'enp%ds0f%d' % (8 + p // 2, p % 2)
        ifindex = 0
        if self.netns is not None:
            ifindex = self.netns.add_tap(uplink)
        vfs = self.tree.add_pf(address, uplink, self.nvfs,
                               lambda i: vf_address(p, i),
                               switch_id=switch_id)
        self.tree.netdevs()  # sanity: readable
        if ifindex:
            with open(self.tree.path('class/net', uplink, 'ifindex'),
                      'w') as f:
                f.write('%d\n' % ifindex)
        self.pfs.append(address)
        self.uplinks.append(uplink)
        form = self.forms.get(p, 'pf{pf}vf{vf}')
        for i, vf in enumerate(vfs):
            self.vfs[vf] = (p, i)
            if switch_id is None:
                continue
            name = 'r%s%d_%d' % (self.suffix, p, i)
            index = 0
            if self.netns is not None and i < self.real_reps:
                index = self.netns.add_tap(name)
            self.tree.add_representor(
                name, address, switch_id,
                form.format(pf=address[-1], vf=i), ifindex=index,
                under_pf=self.reps_under_pf)
            self.reps[vf] = name

    def sync(self) -> None:
        """Mirror netdev renames in the namespace into the fake sysfs."""
        assert self.netns is not None
        real = {int(link['ifindex']): name
                for name, link in self.netns.links().items()}
        for index, name in self.tree.netdevs().items():
            if index in real and real[index] != name:
                self.tree.rename_netdev(name, real[index])
