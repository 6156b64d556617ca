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
"""SR-IOV discovery against generated sysfs trees (no root needed)."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

import testtools

from os_vif_accel import validate

from vif_plug_vrouter import exception
from vif_plug_vrouter import sriov
from os_vif_accel.testing import sriov_tree


class TestParsePortName(testtools.TestCase):

    def test_forms(self) -> None:
        cases = {
            'pf0vf3': (0, 3), 'pf1vf12': (1, 12), 'vf7': (None, 7),
            '5': (None, 5), 'p0': None, 'pf0': None, 'c1pf0vf1': None,
            '': None, None: None, 'vf': None, 'pf0vfx': None,
            ' 3': None,
        }
        for name, expected in cases.items():
            self.assertEqual(expected, sriov.parse_port_name(name), name)


class SriovTestBase(testtools.TestCase):

    def nic(self, **kwargs: Any) -> sriov_tree.SmartNicFixture:
        kwargs.setdefault('kernel', False)
        return self.useFixture(sriov_tree.SmartNicFixture(None, **kwargs))

    def inventory(self, nic: sriov_tree.SmartNicFixture
                  ) -> sriov.SriovInventory:
        return sriov.SriovInventory(nic.root)


class TestRepresentorLookup(SriovTestBase):

    def _check_all(self, nic: sriov_tree.SmartNicFixture) -> None:
        inv = self.inventory(nic)
        for vf, (p, i) in nic.vfs.items():
            rep = inv.representor(vf)
            self.assertEqual(nic.reps[vf], rep.ifname, vf)
            self.assertEqual(i, rep.vf_index)
            self.assertEqual(nic.pfs[p], rep.pf)
            self.assertEqual(nic.uplinks[p], rep.pf_ifname)

    def test_pfXvfY_form_with_two_pfs_on_one_switch(self) -> None:
        # PFs 0 and 1 share a switch id: only the pfX part tells their
        # representors apart.
        self._check_all(self.nic(pfs=2, vfs=6))

    def test_vfY_form(self) -> None:
        self._check_all(self.nic(pfs=2, vfs=3,
                                 forms={0: 'vf{vf}', 1: 'vf{vf}'}))

    def test_bare_number_form(self) -> None:
        self._check_all(self.nic(pfs=2, vfs=3, forms={0: '{vf}', 1: '{vf}'}))

    def test_mixed_forms_on_four_pfs(self) -> None:
        self._check_all(self.nic(pfs=4, vfs=9, forms={
            0: 'pf{pf}vf{vf}', 1: 'vf{vf}', 2: '{vf}', 3: 'pf{pf}vf{vf}'}))

    def test_representors_not_under_the_pf(self) -> None:
        # Drivers that do not parent representors on the PF: found by the
        # pass over /sys/class/net.
        self._check_all(self.nic(pfs=1, vfs=4, reps_under_pf=False,
                                 extra_netdevs=5))

    def test_uplink_preferred_over_representors_in_pf_net_dir(self) -> None:
        nic = self.nic(pfs=1, vfs=2)
        # A representor sorting before the uplink in the PF's net dir.
        nic.tree.add_representor('aaa0', nic.pfs[0], '00154d130000',
                                 'pf0vf1', under_pf=True)
        rep = self.inventory(nic).representor(sriov_tree.vf_address(0, 0))
        self.assertEqual(nic.uplinks[0], rep.pf_ifname)

    def test_virtfn_links_matched_exactly(self) -> None:
        nic = self.nic(pfs=1, vfs=2)
        pf_dir = nic.tree.dev_dir(nic.pfs[0])
        # A link whose target contains the VF's address as a substring
        # (a 5-digit VMD domain), numbered before the real one.
        os.rename(os.path.join(pf_dir, 'virtfn1'),
                  os.path.join(pf_dir, 'virtfn9'))
        os.symlink('../10000:81:00.1', os.path.join(pf_dir, 'virtfn1'))
        nic.tree.add_representor('rep9', nic.pfs[0], '00154d130000',
                                 'pf0vf9')
        rep = self.inventory(nic).representor(sriov_tree.vf_address(0, 1))
        self.assertEqual(9, rep.vf_index)
        self.assertEqual('rep9', rep.ifname)

    def test_renamed_representor_found_again(self) -> None:
        nic = self.nic(pfs=1, vfs=3)
        inv = self.inventory(nic)
        vf = sriov_tree.vf_address(0, 2)
        self.assertEqual(nic.reps[vf], inv.representor(vf).ifname)
        nic.tree.rename_netdev(nic.reps[vf], 'tap0123456789a')
        self.assertEqual('tap0123456789a', inv.representor(vf).ifname)

    def test_cache_follows_new_vfs(self) -> None:
        nic = self.nic(pfs=1, vfs=2)
        inv = self.inventory(nic)
        inv.representor(sriov_tree.vf_address(0, 0))
        # VFs re-created with a different count: a new VF appears.
        vf = sriov_tree.vf_address(0, 2)
        tree = nic.tree
        tree._pci_device(vf, 'mlx5_core')
        pf_dir = tree.dev_dir(nic.pfs[0])
        os.symlink('../' + nic.pfs[0], os.path.join(tree.dev_dir(vf),
                                                     'physfn'))
        os.symlink('../' + vf, os.path.join(pf_dir, 'virtfn2'))
        with open(os.path.join(pf_dir, 'sriov_numvfs'), 'w') as f:
            f.write('3\n')
        tree.add_representor('newrep', nic.pfs[0], '00154d130000', 'pf0vf2')
        self.assertEqual('newrep', inv.representor(vf).ifname)


_OPENED: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == 'open' and _OPENED is not None and isinstance(args[0],
                                                               str):
        _OPENED.append(args[0])


sys.addaudithook(_audit)


class TestLookupCost(SriovTestBase):
    """Files read per lookup: constant when cached, one pass otherwise."""

    def opened(self, func: Any) -> list[str]:
        global _OPENED
        _OPENED = []
        try:
            func()
            return _OPENED
        finally:
            _OPENED = None

    def test_cached_lookup_does_not_depend_on_netdev_count(self) -> None:
        nic = self.nic(pfs=4, vfs=16, extra_netdevs=200)
        inv = self.inventory(nic)
        vf = sriov_tree.vf_address(2, 7)
        first = self.opened(lambda: inv.representor(vf))
        netdevs = len(os.listdir(nic.tree.path('class/net')))
        # A miss reads each netdev at most once per attribute (one pass).
        self.assertLessEqual(len(first), 2 * netdevs + 20)
        again = self.opened(lambda: inv.representor(vf))
        # sriov_numvfs + the cached representor's two attributes.
        self.assertEqual(3, len(again), again)
        other = self.opened(lambda: inv.representor(
            sriov_tree.vf_address(2, 3)))
        self.assertEqual(3, len(other), other)

    def test_reps_under_the_pf_never_scan_the_host(self) -> None:
        nic = self.nic(pfs=1, vfs=4, extra_netdevs=100)
        inv = self.inventory(nic)
        first = self.opened(lambda: inv.representor(
            sriov_tree.vf_address(0, 1)))
        self.assertFalse([p for p in first if '/eth1' in p], first)


class TestLookupErrors(SriovTestBase):

    def test_bad_addresses(self) -> None:
        inv = self.inventory(self.nic(pfs=1, vfs=1))
        for bad in ('0000:81:00.0/../..', '0000:81:00.0/', '0000:81:00.0\n',
                    '0000:81:0A.0', '81:00.0', '0:81:00.0', '', None,
                    '../../../etc', '0000:81:00.8'):
            self.assertRaises(validate.InvalidInput, inv.representor, bad)

    def test_unknown_device(self) -> None:
        inv = self.inventory(self.nic(pfs=1, vfs=1))
        err = self.assertRaises(exception.PciDeviceNotFound,
                                inv.representor, '0000:99:00.1')
        self.assertIn('no such PCI device', str(err))

    def test_pf_is_not_a_vf(self) -> None:
        nic = self.nic(pfs=1, vfs=1)
        err = self.assertRaises(exception.PciDeviceNotFound,
                                self.inventory(nic).representor, nic.pfs[0])
        self.assertIn('not an SR-IOV virtual function', str(err))

    def test_pf_not_in_switchdev_mode(self) -> None:
        nic = self.nic(pfs=2, vfs=2, legacy_pfs=(1,))
        err = self.assertRaises(exception.NotSwitchdev,
                                self.inventory(nic).representor,
                                sriov_tree.vf_address(1, 0))
        self.assertIn('devlink dev eswitch set pci/%s mode switchdev'
                      % nic.pfs[1], str(err))

    def _rep_with(self, attr: str, value: str) -> Exception:
        """Change one attribute of VF 1's representor, then look it up."""
        nic = self.nic(pfs=1, vfs=2)
        vf = sriov_tree.vf_address(0, 1)
        with open(nic.tree.path('class/net', nic.reps[vf], attr), 'w') as f:
            f.write(value + '\n')
        return self.assertRaises(exception.RepresentorNotFound,
                                 self.inventory(nic).representor, vf)

    def test_no_representor(self) -> None:
        err = self._rep_with('phys_port_name', 'pf0vf7')
        self.assertIn('VF index 1', str(err))

    def test_representor_of_other_switch_not_taken(self) -> None:
        self._rep_with('phys_switch_id', 'ffffffff')

    def test_representor_of_other_pf_function_not_taken(self) -> None:
        self._rep_with('phys_port_name', 'pf1vf1')

    def test_vfY_representor_of_other_pf_not_taken(self) -> None:
        # Same switch, vfY form, but parented by the other PF.
        nic = self.nic(pfs=2, vfs=2, forms={0: 'vf{vf}', 1: 'vf{vf}'})
        vf = sriov_tree.vf_address(0, 1)
        link = nic.tree.path('class/net', nic.reps[vf])
        shutil.rmtree(os.path.realpath(link))
        os.unlink(link)
        rep = self.inventory(nic)
        self.assertRaises(exception.RepresentorNotFound, rep.representor,
                          vf)

    def test_vf_driver_and_override(self) -> None:
        nic = self.nic(pfs=1, vfs=2)
        inv = self.inventory(nic)
        vf = sriov_tree.vf_address(0, 1)
        self.assertEqual('mlx5_core', inv.vf_driver(vf))
        self.assertIsNone(inv.vf_driver_override(vf))
        nic.tree.unbind(vf)
        self.assertIsNone(inv.vf_driver(vf))
