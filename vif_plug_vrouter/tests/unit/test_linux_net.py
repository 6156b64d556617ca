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
"""The privileged helpers' own validation, and VF driver binding.

Binding runs against a generated sysfs tree whose bind/unbind/probe files
are served by the emulated PCI core, so no root is needed.  Netlink
operations are exercised for real by the functional tests.
"""

from __future__ import annotations

import errno
import os

import fixtures
import testtools

from os_vif_accel import validate

from vif_plug_vrouter import linux_net
from os_vif_accel.testing import sriov_tree


class TestValidation(testtools.TestCase):
    """Every helper refuses bad input before it touches the host."""

    def test_bad_ifnames(self) -> None:
        for bad in ('tap0123456789abc', 'a/b', '..', 'x y', '', None,
                    'eth0\n'):
            self.assertRaises(validate.InvalidInput, linux_net.link_state,
                              bad)
            self.assertRaises(validate.InvalidInput, linux_net.rename_link,
                              'eth0', bad)
            self.assertRaises(validate.InvalidInput, linux_net.rename_link,
                              bad, 'eth0')
            self.assertRaises(validate.InvalidInput, linux_net.set_mtu,
                              bad, 1500)
            self.assertRaises(validate.InvalidInput, linux_net.set_link_up,
                              bad, True)
            self.assertRaises(validate.InvalidInput,
                              linux_net.set_ipv6_disabled, bad, True)
            self.assertRaises(validate.InvalidInput, linux_net.set_vf,
                              bad, 0, 'fa:16:3e:00:00:01', 0)

    def test_bad_mtu(self) -> None:
        for bad in (67, 65536, '1500', True, None):
            self.assertRaises(validate.InvalidInput, linux_net.set_mtu,
                              'eth0', bad)

    def test_bad_vf_arguments(self) -> None:
        for vf, mac, vlan in ((-1, None, 0), (4096, None, 0), ('1', None, 0),
                              (True, None, 0), (0, 'ff:ff:ff:ff:ff:ff', 0),
                              (0, 'fa:16:3e:00:00', 0), (0, None, 4095),
                              (0, None, -1), (0, None, 'x')):
            self.assertRaises(validate.InvalidInput, linux_net.set_vf,
                              'eth0', vf, mac, vlan)

    def test_bad_pci_and_driver(self) -> None:
        root = self.useFixture(sriov_tree.SmartNicFixture(
            None, pfs=1, vfs=1, kernel=False)).root
        vf = sriov_tree.vf_address(0, 0)
        for addr in ('0000:81:00.0/../..', '0000:81:00.0/../../../x',
                     '0000:81:00.0/', '0000:81:00.0\n', '0000:81:0A.0',
                     '81:00.0', None, '0000:08:00.0'):  # last one: the PF
            self.assertRaises(validate.InvalidInput,
                              linux_net.bind_vf_driver, root, addr,
                              'vfio-pci')
            self.assertRaises(validate.InvalidInput,
                              linux_net.restore_vf_driver, root, addr,
                              'mlx5_core', None)
        for drv in ('../x', 'vfio pci', '', 'a' * 65, None):
            self.assertRaises(validate.InvalidInput,
                              linux_net.bind_vf_driver, root, vf, drv)
        for bad_root in ('relative', root + '/../sys', '/sys/../tmp'):
            self.assertRaises(validate.InvalidInput,
                              linux_net.bind_vf_driver, bad_root, vf,
                              'vfio-pci')


class TestDriverBinding(testtools.TestCase):

    def setUp(self) -> None:
        super().setUp()
        self.nic = self.useFixture(sriov_tree.SmartNicFixture(
            None, pfs=1, vfs=3))
        self.tree = self.nic.tree
        self.vf = sriov_tree.vf_address(0, 1)

    def state(self) -> dict[str, tuple[str | None, str]]:
        return {vf: (self.tree.driver_of(vf), self.tree.override_of(vf))
                for vf in self.nic.vfs}

    def test_bind_and_restore(self) -> None:
        before = self.state()
        prev = linux_net.bind_vf_driver(self.nic.root, self.vf, 'vfio-pci')
        self.assertEqual({'driver': 'mlx5_core', 'override': None}, prev)
        self.assertEqual(('vfio-pci', 'vfio-pci'), self.state()[self.vf])
        # Only this VF moved.
        others = {k: v for k, v in self.state().items() if k != self.vf}
        self.assertEqual({k: v for k, v in before.items() if k != self.vf},
                         others)
        linux_net.restore_vf_driver(self.nic.root, self.vf,
                                    prev['driver'], prev['override'])
        self.assertEqual(before, self.state())
        self.assertEqual([], self.nic.kernel.errors)

    def test_bind_is_idempotent(self) -> None:
        linux_net.bind_vf_driver(self.nic.root, self.vf, 'vfio-pci')
        again = linux_net.bind_vf_driver(self.nic.root, self.vf, 'vfio-pci')
        self.assertEqual('vfio-pci', again['driver'])

    def test_unbound_vf_is_restored_unbound(self) -> None:
        self.tree.unbind(self.vf)
        before = self.state()
        prev = linux_net.bind_vf_driver(self.nic.root, self.vf, 'vfio-pci')
        self.assertIsNone(prev['driver'])
        linux_net.restore_vf_driver(self.nic.root, self.vf, None, None)
        self.assertEqual(before, self.state())

    def test_driver_not_loaded(self) -> None:
        before = self.state()
        err = self.assertRaises(OSError, linux_net.bind_vf_driver,
                                self.nic.root, self.vf, 'igb_uio')
        self.assertEqual(errno.ENOENT, err.errno)
        self.assertEqual(before, self.state())

    def test_probe_that_does_not_bind_is_rolled_back(self) -> None:
        # A driver directory whose probe never takes the device (as when
        # vfio-pci refuses a device without an IOMMU group).
        os.makedirs(self.tree.path('bus/pci/drivers/nobind'))
        before = self.state()
        err = self.assertRaises(OSError, linux_net.bind_vf_driver,
                                self.nic.root, self.vf, 'nobind', 0.2)
        self.assertEqual(errno.ETIMEDOUT, err.errno)
        self.assertEqual(before, self.state())

    def test_never_creates_or_follows_a_final_symlink(self) -> None:
        target = self.useFixture(fixtures.TempDir()).path
        dev = self.tree.dev_dir(self.vf)
        os.unlink(os.path.join(dev, 'driver_override'))
        os.symlink(os.path.join(target, 'victim'),
                   os.path.join(dev, 'driver_override'))
        self.assertRaises(OSError, linux_net.bind_vf_driver, self.nic.root,
                          self.vf, 'vfio-pci')
        self.assertEqual([], os.listdir(target))
        os.unlink(os.path.join(dev, 'driver_override'))
        self.assertRaises(OSError, linux_net.restore_vf_driver,
                          self.nic.root, self.vf, 'mlx5_core', None)
        self.assertFalse(os.path.exists(os.path.join(dev,
                                                     'driver_override')))


class TestPrivilegedSysfsRoot(testtools.TestCase):
    """The daemon binds VF drivers only below roots its own config lists."""

    def setUp(self) -> None:
        super().setUp()
        from oslo_config import fixture as config_fixture

        from vif_plug_vrouter import privsep
        self.nic = self.useFixture(sriov_tree.SmartNicFixture(
            None, pfs=1, vfs=2))
        self.conf = self.useFixture(config_fixture.Config())
        privsep.vif_plug.set_client_mode(False)
        self.addCleanup(privsep.vif_plug.set_client_mode, True)
        self.vf = sriov_tree.vf_address(0, 1)

    def test_unlisted_root_is_refused(self) -> None:
        from vif_plug_vrouter import privileged
        err = self.assertRaises(validate.InvalidInput,
                                privileged.bind_vf_driver, self.nic.root,
                                self.vf, 'vfio-pci', 1.0)
        self.assertIn('allowed_sysfs_roots', str(err))
        self.assertEqual('mlx5_core', self.nic.tree.driver_of(self.vf))
        self.assertRaises(validate.InvalidInput,
                          privileged.restore_vf_driver, self.nic.root,
                          self.vf, None, None, 1.0)
        self.assertEqual('mlx5_core', self.nic.tree.driver_of(self.vf))

    def test_listed_root_is_used(self) -> None:
        from vif_plug_vrouter import privileged
        self.conf.config(group='vif_plug_vrouter_privileged',
                         allowed_sysfs_roots=[self.nic.root])
        prev = privileged.bind_vf_driver(self.nic.root, self.vf, 'vfio-pci',
                                         1.0)
        self.assertEqual('vfio-pci', self.nic.tree.driver_of(self.vf))
        privileged.restore_vf_driver(self.nic.root, self.vf, prev['driver'],
                                     prev['override'], 1.0)
        self.assertEqual('mlx5_core', self.nic.tree.driver_of(self.vf))
