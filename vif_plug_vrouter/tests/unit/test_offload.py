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
"""The offload orchestration: validation, step order, rollback, restore.

The host is an in-memory model of netdevs and VF settings (the real
netlink side is covered by the functional tests); VF driver binding is
the real code against a generated sysfs tree.
"""

from __future__ import annotations

import copy
import errno
import uuid
from typing import Any
from unittest import mock

import os_vif
from os_vif import exception as osv_exception
from os_vif import objects
from pyroute2.netlink.exceptions import NetlinkError
import testtools

from os_vif_accel.testing import switchdev_vf
from os_vif_accel import validate

from vif_plug_vrouter import agent_client
from vif_plug_vrouter import exception
from vif_plug_vrouter import linux_net
from vif_plug_vrouter import offload
from vif_plug_vrouter import port_files
from vif_plug_vrouter import ports
from vif_plug_vrouter import record
from vif_plug_vrouter import sriov
from os_vif_accel.testing import vrouter_fixtures as vfix
from os_vif_accel.testing import sriov_tree

MAC = 'fa:16:3e:00:00:01'


class ModelHost:
    """Netdevs in memory, VF MAC/VLAN and VF drivers.

    VF MAC/VLAN go through the real linux_net over the switchdev VF
    double; driver binding runs on the fake tree.
    """

    def __init__(self, links: dict[str, dict[str, Any]]) -> None:
        self.links = links
        self.vfs = switchdev_vf.SwitchdevVfTable()
        self.fail: set[str] = set()
        self.calls: list[str] = []

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise OSError(errno.EIO, 'model failure in ' + name)

    def link_state(self, ifname: str) -> dict[str, Any]:
        if ifname not in self.links:
            raise linux_net.LinkNotFound(ifname)
        return dict(self.links[ifname])

    def rename_link(self, old: str, new: str) -> bool:
        self._enter('rename_link')
        if old == new:
            return False
        if new in self.links:
            if old not in self.links:
                return False
            raise linux_net.NameTaken(new)
        self.links[new] = self.links.pop(old)
        self.links[new]['up'] = False
        return True

    def set_mtu(self, ifname: str, mtu: int) -> None:
        self._enter('set_mtu')
        self.links[ifname]['mtu'] = mtu

    def set_link_up(self, ifname: str, up: bool) -> None:
        self._enter('set_link_up')
        self.links[ifname]['up'] = up

    def set_ipv6_disabled(self, ifname: str, disabled: bool) -> bool:
        self._enter('set_ipv6_disabled')
        before = self.links[ifname]['ipv6_disabled']
        self.links[ifname]['ipv6_disabled'] = disabled
        return before

    def vf_state(self, pf: str, vf: int) -> dict[str, Any]:
        with mock.patch.object(linux_net, 'VF_NETLINK', self.vfs):
            return linux_net.vf_state(pf, vf)

    def set_vf(self, pf: str, vf: int, mac: str | None,
               vlan: int | None = None) -> dict[str, Any]:
        self._enter('set_vf')
        with mock.patch.object(linux_net, 'VF_NETLINK', self.vfs):
            return linux_net.set_vf(pf, vf, mac, vlan)

    def bind_vf_driver(self, root: str, vf: str, driver: str,
                       timeout: float) -> dict[str, Any]:
        self._enter('bind_vf_driver')
        return linux_net.bind_vf_driver(root, vf, driver, timeout)

    def restore_vf_driver(self, root: str, vf: str, driver: str | None,
                          override: str | None, timeout: float) -> None:
        self._enter('restore_vf_driver')
        linux_net.restore_vf_driver(root, vf, driver, override, timeout)


class OffloadTestBase(testtools.TestCase):

    def setUp(self) -> None:
        super().setUp()
        self.nic = self.useFixture(sriov_tree.SmartNicFixture(
            None, pfs=2, vfs=4))
        self.host = ModelHost({name: {'mtu': 1500, 'up': False,
                                      'ipv6_disabled': False}
                               for name in self.nic.reps.values()})
        self.offloader = offload.Offloader(
            sriov.SriovInventory(self.nic.root), self.host,
            driver_timeout=1.0)
        self.vf = sriov_tree.vf_address(1, 2)
        self.port_id = str(uuid.uuid4())

    def spec(self, mode: str = offload.FORWARDER, **kw: Any) -> offload.Spec:
        kw.setdefault('name', 'tap' + self.port_id[:11])
        kw.setdefault('mtu', 9000)
        return offload.Spec.build(port_id=self.port_id, mode=mode,
                                  vf=self.vf, mac=MAC, **kw)

    def snapshot(self) -> Any:
        tree = self.nic.tree
        default = {'mac': '00:00:00:00:00:00', 'vlan': 0}
        vfs = {(pf, vf): v for pf, table in self.host.vfs.data.items()
               for vf, v in table.items() if v != default}
        return (copy.deepcopy(self.host.links), vfs,
                {vf: (tree.driver_of(vf), tree.override_of(vf))
                 for vf in self.nic.vfs})

    def plug(self, spec: offload.Spec,
             extra: dict[str, Any] | None = None) -> offload.Applied:
        recorded = offload.from_extra(extra)
        rep = self.offloader.locate(spec, recorded)
        recorded = self.offloader.release_other_vf(spec, recorded)
        return self.offloader.apply(self.offloader.plan(spec, rep,
                                                        recorded))


class TestSpec(testtools.TestCase):

    def build(self, **kw: Any) -> offload.Spec:
        args = dict(port_id=str(uuid.uuid4()), mode=offload.DIRECT,
                    vf='0000:81:00.1', name='tap0', mac=MAC)
        args.update(kw)
        return offload.Spec.build(**args)

    def test_bad_inputs_name_the_field(self) -> None:
        cases = [
            ('representor_address', {'vf': None}),
            ('representor_address', {'vf': ''}),
            ('representor_address', {'vf': '0000:08:00.1/../..'}),
            ('representor_address', {'vf': '0000:08:0A.1'}),
            ('representor_address', {'vf': '08:00.1'}),
            ('representor_name', {'name': 'tap0123456789abc'}),
            ('representor_name', {'name': 'tapé0123456789'}),
            ('representor_name', {'name': 'a/b'}),
            ('address', {'mac': 'ff:ff:ff:ff:ff:ff'}),
            ('mtu', {'mtu': 20}),
            ('vnic_type', {'mode': 'macvtap'}),
            ('id', {'port_id': 'nope'}),
        ]
        for field, kw in cases:
            err = self.assertRaises(validate.InvalidInput, self.build, **kw)
            self.assertEqual(field, err.field, kw)

    def test_defaults(self) -> None:
        spec = self.build(name=None)
        self.assertIsNone(spec.name)
        self.assertIsNone(spec.mtu)


class TestApply(OffloadTestBase):

    def test_forwarder_steps_and_state(self) -> None:
        original = self.nic.reps[self.vf]
        applied = self.plug(self.spec())
        target = 'tap' + self.port_id[:11]
        self.assertEqual(target, applied.ifname)
        self.assertEqual({'mtu': 9000, 'up': True, 'ipv6_disabled': True},
                         self.host.links[target])
        self.assertNotIn(original, self.host.links)
        self.assertEqual({'mac': MAC, 'vlan': 0},
                         self.host.vf_state(self.nic.uplinks[1], 2))
        self.assertEqual('vfio-pci', self.nic.tree.driver_of(self.vf))
        self.assertEqual({
            'offload': 'virtio-forwarder', 'vf': self.vf,
            'pf-ifname': self.nic.uplinks[1], 'vf-index': 2,
            'rep-name': target, 'rep-orig-name': original, 'rep-mtu': 1500,
            'rep-up': False, 'rep-ipv6': False,
            'vf-mac': '00:00:00:00:00:00', 'vf-bound': True,
            'vf-driver': 'mlx5_core', 'vf-override': None},
            offload.to_extra(applied.state))

    def test_direct_binds_nothing(self) -> None:
        self.plug(self.spec(offload.DIRECT))
        self.assertNotIn('bind_vf_driver', self.host.calls)
        self.assertEqual('mlx5_core', self.nic.tree.driver_of(self.vf))

    def test_no_name_keeps_the_representor_name(self) -> None:
        applied = self.plug(self.spec(offload.DIRECT, name=None))
        self.assertEqual(self.nic.reps[self.vf], applied.ifname)
        self.assertNotIn('rename_link', self.host.calls)

    def test_each_failing_step_is_rolled_back(self) -> None:
        for mode, step in ((offload.DIRECT, 'rename_link'),
                           (offload.DIRECT, 'set_mtu'),
                           (offload.DIRECT, 'set_ipv6_disabled'),
                           (offload.DIRECT, 'set_vf'),
                           (offload.DIRECT, 'set_link_up'),
                           (offload.FORWARDER, 'bind_vf_driver'),
                           (offload.FORWARDER, 'set_link_up')):
            before = self.snapshot()
            self.host.fail = {step}
            err = self.assertRaises(exception.HostStepFailed, self.plug,
                                    self.spec(mode))
            self.assertIn('every earlier step was undone', str(err))
            self.assertEqual(before, self.snapshot(), step)

    def test_rollback_after_success(self) -> None:
        before = self.snapshot()
        applied = self.plug(self.spec())
        self.assertEqual([], applied.rollback())
        self.assertEqual(before, self.snapshot())

    def test_failed_undo_is_reported(self) -> None:
        self.host.fail = {'set_link_up'}
        orig_rename = self.host.rename_link
        renames = []

        def rename(old: str, new: str) -> bool:
            renames.append(new)
            if len(renames) > 1:
                raise OSError(errno.EBUSY, 'busy')
            return orig_rename(old, new)
        self.host.rename_link = rename  # type: ignore
        err = self.assertRaises(exception.HostStepFailed, self.plug,
                                self.spec(offload.DIRECT))
        self.assertIn('could NOT undo: rename representor', str(err))

    def test_name_taken(self) -> None:
        spec = self.spec()
        self.host.links[spec.name] = {'mtu': 1500, 'up': True,
                                      'ipv6_disabled': False}
        before = self.snapshot()
        err = self.assertRaises(exception.RepresentorNameTaken, self.plug,
                                spec)
        self.assertIn(spec.name, str(err))
        self.assertEqual(before, self.snapshot())

    def test_vf_bound_to_forwarder_driver_by_someone_else(self) -> None:
        self.nic.tree.unbind(self.vf)
        self.nic.tree.bind(self.vf, 'vfio-pci')
        before = self.snapshot()
        self.assertRaises(exception.VFInUse, self.plug, self.spec())
        self.assertEqual([], self.host.calls)
        self.assertEqual(before, self.snapshot())

    def test_replug_keeps_recorded_originals(self) -> None:
        before = self.snapshot()
        first = self.plug(self.spec())
        self.nic.tree.rename_netdev(self.nic.reps[self.vf], first.ifname)
        self.host.calls.clear()
        second = self.plug(self.spec(), offload.to_extra(first.state))
        self.assertEqual(first.state, second.state)
        self.assertEqual([], second.undo.names)   # nothing changed this time
        self.offloader.restore(self.port_id, second.state)
        self.assertEqual(before, self.snapshot())

    def test_port_moved_to_another_vf(self) -> None:
        before = self.snapshot()
        first = self.plug(self.spec())
        self.vf = sriov_tree.vf_address(0, 1)
        second = self.plug(self.spec(), offload.to_extra(first.state))
        # The first VF and its representor are back as they were.
        self.assertEqual('mlx5_core', self.nic.tree.driver_of(
            sriov_tree.vf_address(1, 2)))
        self.assertIn(self.nic.reps[sriov_tree.vf_address(1, 2)],
                      self.host.links)
        self.assertEqual(self.nic.reps[self.vf],
                         second.state.rep_orig_name)
        self.offloader.restore(self.port_id, second.state)
        self.assertEqual(before, self.snapshot())


class TestAddPort(OffloadTestBase):
    """The port-level flow: file with the originals first, then changes."""

    def setUp(self) -> None:
        super().setUp()
        self.emu = self.useFixture(vfix.EmulatorFixture())
        self.manager = ports.PortManager(
            agent_client.AgentClient(self.emu.url, retry_window=0.0),
            port_files.PortFileStore(self.emu.ports_dir, privileged=False))

    def record(self, vn_id: str | None = None) -> Any:
        def make(name: str) -> dict[str, Any]:
            return record.make_record(
                port_id=self.port_id, instance_id=str(uuid.uuid4()),
                vn_id=vn_id or str(uuid.uuid4()), project_id='',
                display_name='vm', system_name=name, mac=MAC)
        return make

    def test_original_state_is_on_disk_before_the_first_change(self) -> None:
        seen = []
        rename = self.host.rename_link

        def spy(old: str, new: str) -> bool:
            seen.append(offload.recorded_state(self.manager, self.port_id))
            return rename(old, new)
        self.host.rename_link = spy  # type: ignore
        offload.add_port(self.offloader, self.manager, self.spec(),
                         self.record())
        self.assertEqual(self.nic.reps[self.vf], seen[0].rep_orig_name)
        self.assertEqual('mlx5_core', seen[0].vf_driver)
        port = self.emu.emulator.state.snapshot()[self.port_id]
        self.assertEqual('tap' + self.port_id[:11], port['system-name'])
        offload.remove_port(self.offloader, self.manager, self.port_id)
        self.assertIn(self.nic.reps[self.vf], self.host.links)
        self.assertIsNone(self.emu.port_file(self.port_id))

    def test_agent_refusal_undoes_everything(self) -> None:
        before = self.snapshot()
        self.assertRaises(exception.AgentRefused, offload.add_port,
                          self.offloader, self.manager, self.spec(),
                          self.record(vn_id=str(uuid.UUID(int=0))))
        self.assertEqual(before, self.snapshot())
        self.assertIsNone(self.emu.port_file(self.port_id))

    def test_host_failure_rolls_the_file_back(self) -> None:
        before = self.snapshot()
        self.host.fail = {'set_link_up'}
        self.assertRaises(exception.HostStepFailed, offload.add_port,
                          self.offloader, self.manager, self.spec(),
                          self.record())
        self.assertEqual(before, self.snapshot())
        self.assertIsNone(self.emu.port_file(self.port_id))
        self.assertEqual([], self.emu.emulator.requests)


class TestRestore(OffloadTestBase):

    def test_restore_is_idempotent(self) -> None:
        before = self.snapshot()
        state = self.plug(self.spec()).state
        self.offloader.restore(self.port_id, state)
        self.assertEqual(before, self.snapshot())
        self.offloader.restore(self.port_id, state)
        self.assertEqual(before, self.snapshot())

    def test_failing_step_does_not_stop_the_others(self) -> None:
        state = self.plug(self.spec()).state
        self.host.fail = {'restore_vf_driver'}
        err = self.assertRaises(exception.HostStepFailed,
                                self.offloader.restore, self.port_id, state)
        self.assertIn('restore VF driver', str(err))
        # The representor is back anyway.
        self.assertIn(self.nic.reps[self.vf], self.host.links)
        self.assertEqual('vfio-pci', self.nic.tree.driver_of(self.vf))
        self.host.fail = set()
        self.offloader.restore(self.port_id, state)
        self.assertEqual('mlx5_core', self.nic.tree.driver_of(self.vf))

    def test_nothing_recorded(self) -> None:
        self.offloader.restore(self.port_id, None)
        self.assertEqual([], self.host.calls)


class TestPluginOffloadInput(testtools.TestCase):
    """Bad offload VIFs fail before the host or the agent is touched."""

    def setUp(self) -> None:
        super().setUp()
        self.emu = self.useFixture(vfix.EmulatorFixture())
        self.nic = self.useFixture(sriov_tree.SmartNicFixture(
            None, pfs=3, vfs=2, legacy_pfs=(2,)))
        self.useFixture(vfix.PluginConfigFixture(
            self.emu.url, self.emu.ports_dir, self.emu.sock_dir,
            sysfs_root=self.nic.root))
        self.vf = sriov_tree.vf_address(0, 1)

    def vif(self, cls: Any = None,
            address: Any = '0000:81:00.1', name: Any = 'tap0',
            profile: bool = True, **kw: Any) -> Any:
        cls = cls or objects.vif.VIFHostDevice
        port_id = str(uuid.uuid4())
        kw.setdefault('address', MAC)
        kw.setdefault('network', vfix.network(['10.0.0.7']))
        if profile:
            kw['port_profile'] = objects.vif.VIFPortProfileBase(
                datapath_offload=objects.vif.DatapathOffloadRepresentor(
                    representor_name=name, representor_address=address))
        if cls is objects.vif.VIFHostDevice:
            kw.setdefault('dev_type', 'ethernet')
            kw.setdefault('dev_address', '0000:81:00.1')
        else:
            kw.setdefault('vif_name', 'tap0')
            kw.setdefault('mode', 'server')
            kw.setdefault('path', '/run/vf/tap0.sock')
        return cls(id=port_id, plugin='vrouter', **kw)

    def assertPlugFails(self, cls: type, vif: Any) -> Exception:
        exc = self.assertRaises(osv_exception.PlugException, os_vif.plug,
                                vif, vfix.instance())
        self.assertIsInstance(exc.kwargs['err'], cls)
        self.assertEqual([], self.emu.emulator.requests)
        self.assertIsNone(self.emu.port_file(vif.id))
        return exc.kwargs['err']

    def test_dev_type_generic(self) -> None:
        err = self.assertPlugFails(exception.UnsupportedVIF,
                                   self.vif(dev_type='generic'))
        self.assertIn('dev_type generic', str(err))

    def test_host_device_without_representor(self) -> None:
        self.assertPlugFails(exception.UnsupportedVIF, self.vif(profile=False))

    def test_invalid_fields(self) -> None:
        cases = [
            ('representor_address', self.vif(address=None)),
            ('representor_address', self.vif(
                objects.vif.VIFVHostUser, address=None)),
            ('representor_address', self.vif(address='0000:81:00.1/../..',
                                             dev_address='0000:81:00.1')),
            ('representor_address', self.vif(
                objects.vif.VIFVHostUser, address='0000:81:00.1/../..')),
            ('representor_address', self.vif(
                objects.vif.VIFVHostUser, address='0000:81:0A.1')),
            ('representor_address', self.vif(
                objects.vif.VIFVHostUser, address='81:00.1')),
            ('representor_address', self.vif(dev_address='0000:81:00.2')),
            ('representor_name', self.vif(name='tap0123456789abc')),
            ('representor_name', self.vif(
                objects.vif.VIFVHostUser, name='tap0123456789abc')),
        ]
        for field, vif in cases:
            err = self.assertPlugFails(exception.InvalidPort, vif)
            self.assertEqual(field, err.kwargs['field'], vif)

    def test_discovery_errors(self) -> None:
        self.assertPlugFails(exception.NotSwitchdev, self.vif(
            address=sriov_tree.vf_address(2, 0),
            dev_address=sriov_tree.vf_address(2, 0)))
        self.assertPlugFails(exception.PciDeviceNotFound, self.vif(
            address='0000:99:00.1', dev_address='0000:99:00.1'))
        self.nic.tree.unbind(self.vf)
        self.nic.tree.bind(self.vf, 'vfio-pci')
        self.assertPlugFails(exception.VFInUse, self.vif(
            objects.vif.VIFVHostUser))

    def test_unplug_without_port_file_is_a_no_op(self) -> None:
        vif = self.vif()
        os_vif.unplug(vif, vfix.instance())
        self.assertEqual([('DELETE', '/port/' + vif.id)],
                         [r[:2] for r in self.emu.emulator.requests])


class TestPluginVlanNetwork(OffloadTestBase):
    """A direct port on a network with a VLAN, through os-vif.

    The PF is in switchdev mode, so the VF double refuses a non-zero VF
    VLAN as mlx5 does (``mlx5/core/esw/legacy.c`` 439-445).
    """

    def setUp(self) -> None:
        super().setUp()
        self.emu = self.useFixture(vfix.EmulatorFixture())
        self.useFixture(vfix.PluginConfigFixture(
            self.emu.url, self.emu.ports_dir, self.emu.sock_dir,
            sysfs_root=self.nic.root))
        for ext in os_vif._EXT_MANAGER or []:
            ext.obj._offloader = self.offloader

    def direct_vif(self, vlan: int | None) -> Any:
        net = vfix.network(['10.0.0.7'])
        if vlan is not None:
            net.vlan = vlan
        return objects.vif.VIFHostDevice(
            id=self.port_id, plugin='vrouter', address=MAC, network=net,
            dev_type='ethernet', dev_address=self.vf,
            port_profile=objects.vif.VIFPortProfileBase(
                datapath_offload=objects.vif.DatapathOffloadRepresentor(
                    representor_name='tap' + self.port_id[:11],
                    representor_address=self.vf)))

    def test_vlan_network_plugs_without_a_vf_vlan(self) -> None:
        before = self.snapshot()
        vif = self.direct_vif(vlan=42)
        os_vif.plug(vif, vfix.instance())
        self.assertEqual({'mac': MAC, 'vlan': 0},
                         self.host.vf_state(self.nic.uplinks[1], 2))
        self.assertIn(self.port_id, self.emu.emulator.state.snapshot())
        self.assertNotIn('vf-vlan', self.emu.port_file(self.port_id))
        os_vif.unplug(vif, vfix.instance())
        self.assertEqual(before, self.snapshot())

    def test_double_refuses_what_mlx5_refuses(self) -> None:
        pf = self.nic.uplinks[1]
        err = self.assertRaises(NetlinkError, self.host.set_vf, pf, 2, MAC,
                                42)
        self.assertEqual(errno.EOPNOTSUPP, err.code)
        self.assertEqual(MAC, self.host.vf_state(pf, 2)['mac'])
        self.host.set_vf(pf, 2, MAC, 0)      # "compatibility with libvirt"
        err = self.assertRaises(NetlinkError, self.host.set_vf, pf, 2,
                                '01:00:5e:00:00:01')
        self.assertEqual(errno.EINVAL, err.code)

    def test_restore_of_an_older_file_puts_a_changed_vlan_back(self) -> None:
        # Port files of earlier releases recorded the VF VLAN; on an nfp
        # whose firmware takes VF VLANs such a plug did set one.
        pf = self.nic.uplinks[1]
        self.host.vfs.data[pf] = {'driver': switchdev_vf.NFP}
        self.host.set_vf(pf, 2, MAC, 42)
        state = {'vf': self.vf, 'pf-ifname': pf, 'vf-index': 2,
                 'rep-name': self.nic.reps[self.vf],
                 'rep-orig-name': self.nic.reps[self.vf],
                 'vf-mac': '00:00:00:00:00:00', 'vf-vlan': 0}
        self.offloader.restore(self.port_id, offload.from_extra(state))
        self.assertEqual({'mac': '00:00:00:00:00:00', 'vlan': 0},
                         self.host.vf_state(pf, 2))
