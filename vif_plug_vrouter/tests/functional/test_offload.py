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
"""SmartNIC offload end to end: os_vif.plug/unplug, real privsep daemon.

Needs root.  Representors are real tap devices in a throwaway network
namespace (the privsep daemon is started inside it with ``ip netns
exec``), the PCI side is a fake sysfs tree whose driver files are served
by :class:`~os_vif_accel.testing.sriov_tree.PciKernel`, the agent is
the emulator.  Only VF MAC/VLAN go to a double (no VFs in this kernel).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from typing import Any

import fixtures
import os_vif
from os_vif import exception as osv_exception
from os_vif import objects as osv_objects
from oslo_config import fixture as config_fixture
from pyroute2 import netns as pyroute2_netns
import testtools

from vif_plug_vrouter.emulator import server
from vif_plug_vrouter import exception
from vif_plug_vrouter import privsep
from os_vif_accel.testing import sriov_tree

MAC = 'fa:16:3e:12:34:56'


class OffloadTestBase(testtools.TestCase):

    def setUp(self) -> None:
        super().setUp()
        self.useFixture(fixtures.Timeout(120, gentle=True))
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.netns = self.useFixture(sriov_tree.NetnsFixture())
        self.nic = self.useFixture(sriov_tree.SmartNicFixture(
            self.netns, pfs=2, vfs=4, real_reps=4))
        self.ports_dir = os.path.join(self.tmp, 'ports')
        os.makedirs(self.ports_dir)
        self.emu = server.AgentEmulator(self.ports_dir, port=0).start()
        self.addCleanup(self.emu.stop)
        self.vf_state = os.path.join(self.tmp, 'vfs.json')
        self.useFixture(fixtures.EnvironmentVariable(
            'OS_VIF_ACCEL_TEST_VF_STATE', self.vf_state))
        self.fail_env = self.useFixture(fixtures.EnvironmentVariable(
            'OS_VIF_ACCEL_TEST_FAIL', ''))
        os_vif.initialize(reset=True)
        self.conf = self.useFixture(config_fixture.Config())
        self.conf.config(
            group='vif_plug_vrouter_privileged',
            helper_command=sriov_tree.helper_command(
                self.netns.name, os.path.join(self.tmp, 'privsep.conf'),
                [self.ports_dir], [self.nic.root]))
        self.configure(agent_url=self.emu.url, ports_dir=self.ports_dir,
                       sysfs_root=self.nic.root, agent_retry_window=0.0,
                       defer_kernel_ports_when_agent_down=False)
        self.addCleanup(privsep.vif_plug.stop)
        self.port_id = str(uuid.uuid4())
        self.instance = osv_objects.instance_info.InstanceInfo(
            uuid=str(uuid.uuid4()), name='instance-00000001',
            project_id=uuid.uuid4().hex)

    def configure(self, **kwargs: Any) -> None:
        self.conf.config(group='os_vif_vrouter', **kwargs)

    def fail_in(self, *names: str) -> None:
        """Make the next privsep daemon fail these linux_net calls."""
        privsep.vif_plug.stop()
        os.environ['OS_VIF_ACCEL_TEST_FAIL'] = ','.join(names)

    # -- objects -----------------------------------------------------------
    def network(self, mtu: int | None = 9000) -> Any:
        ips = osv_objects.fixed_ip.FixedIPList(objects=[
            osv_objects.fixed_ip.FixedIP(address='10.0.0.5')])
        subnet = osv_objects.subnet.Subnet(cidr='10.0.0.0/24', ips=ips)
        net = osv_objects.network.Network(
            id=str(uuid.uuid4()),
            subnets=osv_objects.subnet.SubnetList(objects=[subnet]))
        if mtu is not None:
            net.mtu = mtu
        return net

    def profile(self, vf: str | None, name: str | None) -> Any:
        rep = osv_objects.vif.DatapathOffloadRepresentor(
            representor_name=name, representor_address=vf)
        return osv_objects.vif.VIFPortProfileBase(datapath_offload=rep)

    def tap_name(self) -> str:
        return ('tap' + self.port_id)[:14]

    def direct_vif(self, vf: str, mtu: int | None = 9000) -> Any:
        return osv_objects.vif.VIFHostDevice(
            id=self.port_id, address=MAC, plugin='vrouter',
            network=self.network(mtu), dev_type='ethernet', dev_address=vf,
            port_profile=self.profile(vf, self.tap_name()))

    def forwarder_vif(self, vf: str, mtu: int | None = 9000) -> Any:
        return osv_objects.vif.VIFVHostUser(
            id=self.port_id, address=MAC, plugin='vrouter',
            network=self.network(mtu), vif_name=self.tap_name(),
            mode='server',
            path='/var/run/virtio-forwarder/%s.sock' % self.tap_name(),
            port_profile=self.profile(vf, self.tap_name()))

    # -- observation -------------------------------------------------------
    def vf_table(self) -> dict[str, Any]:
        try:
            with open(self.vf_state) as f:
                data = json.load(f)
        except FileNotFoundError:
            data = {}
        out = {}
        for vf, (p, i) in self.nic.vfs.items():
            entry = data.get(self.nic.uplinks[p], {}).get(str(i), {})
            out[vf] = (entry.get('mac', '00:00:00:00:00:00'),
                       entry.get('vlan', 0))
        return out

    def host(self) -> dict[str, Any]:
        """Everything plugging may change, read back from the host."""
        self.nic.sync()
        links = {}
        for name, link in self.netns.links().items():
            links[link['ifindex']] = (
                name, link['mtu'], 'UP' in link['flags'],
                self.netns.sysctl('net/ipv6/conf/%s/disable_ipv6' % name))
        tree = self.nic.tree
        drivers = {vf: (tree.driver_of(vf), tree.override_of(vf))
                   for vf in self.nic.vfs}
        return {'links': links, 'drivers': drivers, 'vfs': self.vf_table(),
                'files': sorted(os.listdir(self.ports_dir)),
                'agent': self.emu.state.snapshot()}

    def link(self, name: str) -> dict[str, Any]:
        return self.netns.links()[name]

    def plug(self, vif: Any) -> None:
        os_vif.plug(vif, self.instance)
        self.nic.sync()

    def unplug(self, vif: Any) -> None:
        os_vif.unplug(vif, self.instance)
        self.nic.sync()

    def port_file(self) -> dict[str, Any]:
        with open(os.path.join(self.ports_dir, self.port_id)) as f:
            return json.load(f)


class TestOffloadPlug(OffloadTestBase):

    def test_direct_plug_and_unplug(self) -> None:
        vf = sriov_tree.vf_address(1, 2)
        original = self.nic.reps[vf]
        index = self.link(original)['ifindex']
        before = self.host()
        vif = self.direct_vif(vf)
        self.plug(vif)

        rep = self.link(self.tap_name())
        self.assertEqual(index, rep['ifindex'])
        self.assertNotIn(original, self.netns.links())
        self.assertEqual(9000, rep['mtu'])
        self.assertIn('UP', rep['flags'])
        self.assertEqual('1', self.netns.sysctl(
            'net/ipv6/conf/%s/disable_ipv6' % self.tap_name()))
        self.assertEqual([], self.netns.ipv6_addrs(self.tap_name()))
        self.assertEqual((MAC, 0), self.vf_table()[vf])
        # direct: libvirt binds vfio-pci itself (managed='yes')
        self.assertEqual('mlx5_core', self.nic.tree.driver_of(vf))
        port = self.emu.state.snapshot()[self.port_id]
        self.assertEqual(self.tap_name(), port['system-name'])
        extra = self.port_file()['os-vif-accel']
        self.assertEqual(original, extra['rep-orig-name'])
        self.assertEqual(vf, extra['vf'])

        self.unplug(vif)
        self.assertEqual(before, self.host())

    def test_forwarder_plug_and_unplug(self) -> None:
        vf = sriov_tree.vf_address(0, 3)
        before = self.host()
        vif = self.forwarder_vif(vf)
        self.plug(vif)

        self.assertIn(self.tap_name(), self.netns.links())
        self.assertEqual('vfio-pci', self.nic.tree.driver_of(vf))
        self.assertEqual('vfio-pci', self.nic.tree.override_of(vf))
        port = self.emu.state.snapshot()[self.port_id]
        self.assertEqual(self.tap_name(), port['system-name'])
        self.assertEqual(1, port['vhostuser-mode'])
        self.assertEqual((MAC, 0), self.vf_table()[vf])

        self.unplug(vif)
        after = self.host()
        self.assertEqual(before, after)
        self.assertEqual(('mlx5_core', '(null)'), after['drivers'][vf])

    def test_replug_keeps_original_state(self) -> None:
        vf = sriov_tree.vf_address(0, 1)
        before = self.host()
        vif = self.forwarder_vif(vf)
        self.plug(vif)
        plugged = self.host()
        self.plug(vif)
        self.assertEqual(plugged, self.host())
        self.unplug(vif)
        self.assertEqual(before, self.host())

    def test_unplug_by_a_new_process_uses_the_port_file(self) -> None:
        vf = sriov_tree.vf_address(1, 0)
        before = self.host()
        vif = self.forwarder_vif(vf)
        self.plug(vif)
        os_vif.initialize(reset=True)   # a restarted nova-compute
        privsep.vif_plug.stop()
        self.unplug(vif)
        self.assertEqual(before, self.host())

    def test_agent_restart_replays_the_offloaded_port(self) -> None:
        vf = sriov_tree.vf_address(1, 1)
        vif = self.direct_vif(vf)
        self.plug(vif)
        self.emu.restart()
        port = self.emu.state.snapshot()[self.port_id]
        self.assertEqual(self.tap_name(), port['system-name'])
        self.assertEqual(MAC, port['mac-address'])

    def test_vlan_network_sets_no_vf_vlan(self) -> None:
        # mlx5 in switchdev mode refuses any VF VLAN but 0 (esw/legacy.c
        # 439-445, modelled by the VF double); the offloaded vRouter
        # datapath applies the network's VLAN itself.
        vf = sriov_tree.vf_address(0, 0)
        before = self.host()
        vif = self.direct_vif(vf)
        vif.network.vlan = 42
        self.plug(vif)
        self.assertEqual((MAC, 0), self.vf_table()[vf])
        with open(os.path.join(self.ports_dir, self.port_id)) as f:
            self.assertNotIn('vf-vlan', f.read())
        self.unplug(vif)
        self.assertEqual(before, self.host())

    def test_vf_double_refuses_a_vlan_like_mlx5(self) -> None:
        # The double the tests above rely on refuses what the kernel does.
        from vif_plug_vrouter import privileged
        from pyroute2.netlink.exceptions import NetlinkError
        err = self.assertRaises(NetlinkError, privileged.set_vf,
                                self.nic.uplinks[0], 1, MAC, 42)
        self.assertIn('Operation not supported', str(err))

    def test_unplug_failure_keeps_port_file_for_retry(self) -> None:
        vf = sriov_tree.vf_address(0, 2)
        before = self.host()
        vif = self.forwarder_vif(vf)
        self.plug(vif)
        self.fail_in('restore_vf_driver')
        self.assertRaises(osv_exception.UnplugException, self.unplug, vif)
        self.assertTrue(os.path.exists(os.path.join(self.ports_dir,
                                                    self.port_id)))
        self.fail_in()
        self.unplug(vif)
        self.assertEqual(before, self.host())


class TestOffloadFailures(OffloadTestBase):
    """A failure at any step leaves the host exactly as it was."""

    def assertPlugFails(self, vif: Any, error: type) -> Exception:
        before = self.host()
        exc = self.assertRaises(osv_exception.PlugException, self.plug, vif)
        self.assertIsInstance(exc.kwargs['err'], error, exc)
        self.assertEqual(before, self.host())
        return exc.kwargs['err']

    def test_name_collision(self) -> None:
        vf = sriov_tree.vf_address(0, 1)
        self.netns.add_tap(self.tap_name())
        err = self.assertPlugFails(self.direct_vif(vf),
                                   exception.RepresentorNameTaken)
        self.assertIn(self.tap_name(), str(err))

    def test_mtu_rejected_by_the_device(self) -> None:
        # A tap's maximum MTU is 65521.
        vf = sriov_tree.vf_address(0, 1)
        err = self.assertPlugFails(self.direct_vif(vf, mtu=65530),
                                   exception.HostStepFailed)
        self.assertIn('set MTU', str(err))

    def _fail_step(self, func: str, step: str, forwarder: bool) -> None:
        self.fail_in(func)
        vf = sriov_tree.vf_address(1, 3)
        vif = self.forwarder_vif(vf) if forwarder else self.direct_vif(vf)
        err = self.assertPlugFails(vif, exception.HostStepFailed)
        self.assertIn(step, str(err))
        self.assertIn('every earlier step was undone', str(err))

    def test_ipv6_step_fails(self) -> None:
        self._fail_step('set_ipv6_disabled', 'disable IPv6', False)

    def test_vf_mac_step_fails(self) -> None:
        self._fail_step('set_vf', 'set VF MAC', False)

    def test_bind_step_fails(self) -> None:
        self._fail_step('bind_vf_driver', 'bind VF driver', True)

    def test_link_up_step_fails(self) -> None:
        self._fail_step('set_link_up', 'link up', True)

    def test_forwarder_driver_not_loaded(self) -> None:
        self.configure(forwarder_vf_driver='no-such-driver')
        err = self.assertPlugFails(
            self.forwarder_vif(sriov_tree.vf_address(0, 0)),
            exception.HostStepFailed)
        self.assertIn('not loaded', str(err))

    def test_port_file_write_fails(self) -> None:
        # Immutable: even root cannot create files in it; reads still work.
        sriov_tree.run('chattr', '+i', self.ports_dir)
        self.addCleanup(sriov_tree.run, 'chattr', '-i', self.ports_dir)
        self.assertPlugFails(self.forwarder_vif(sriov_tree.vf_address(0, 0)),
                             exception.PortFileError)

    def test_agent_unreachable(self) -> None:
        self.emu.stop()
        self.assertPlugFails(self.forwarder_vif(sriov_tree.vf_address(0, 0)),
                             exception.AgentUnreachable)

    def test_forwarder_follows_the_vhostuser_policy_when_agent_down(
            self) -> None:
        # Deferring kernel-like ports must not defer a virtio-forwarder
        # port: QEMU needs a working vhost-user datapath at once.
        self.configure(defer_kernel_ports_when_agent_down=True)
        self.emu.stop()
        self.assertPlugFails(self.forwarder_vif(sriov_tree.vf_address(0, 0)),
                             exception.AgentUnreachable)

    def test_vf_bound_to_something_else(self) -> None:
        vf = sriov_tree.vf_address(0, 2)
        self.nic.tree.unbind(vf)
        self.nic.tree.bind(vf, 'vfio-pci')
        err = self.assertPlugFails(self.forwarder_vif(vf), exception.VFInUse)
        self.assertIn('vfio-pci', str(err))

    def test_representor_not_found(self) -> None:
        vf = sriov_tree.vf_address(0, 2)
        os.unlink(self.nic.tree.path('class/net', self.nic.reps[vf]))
        os.rename(os.path.join(self.nic.tree.dev_dir(self.nic.pfs[0]), 'net',
                               self.nic.reps[vf]),
                  os.path.join(self.tmp, 'gone'))
        self.assertPlugFails(self.direct_vif(vf),
                             exception.RepresentorNotFound)


class TestKernelWithoutVFs(OffloadTestBase):
    """The production VF backend against this kernel (no double)."""

    def test_vf_netlink_request_reaches_the_kernel(self) -> None:
        # The kernel parses IFLA_VFINFO_LIST and answers EOPNOTSUPP for a
        # device without VFs: the request is well formed.
        out = sriov_tree.run(
            'ip', 'netns', 'exec', self.netns.name, sys.executable, '-c',
            'from vif_plug_vrouter import linux_net\n'
            'v = linux_net.VfNetlink()\n'
            'for call in (lambda: v.set_mac("%s", 1, "%s"),\n'
            '             lambda: v.set_vlan("%s", 1, 7)):\n'
            '    try:\n'
            '        call()\n'
            '    except Exception as e:\n'
            '        print(type(e).__name__, getattr(e, "code", None))\n'
            'try:\n'
            '    v.get("%s", 1)\n'
            'except Exception as e:\n'
            '    print(type(e).__name__)\n' % (
                self.nic.uplinks[0], MAC, self.nic.uplinks[0],
                self.nic.uplinks[0]))
        self.assertEqual(['NetlinkError 95', 'NetlinkError 95',
                          'LinkNotFound'], out.split('\n')[-4:-1])

    def test_vf_step_fails_and_rolls_back(self) -> None:
        os.environ['OS_VIF_ACCEL_TEST_VF_STATE'] = ''
        vf = sriov_tree.vf_address(0, 2)
        before = self.host()
        exc = self.assertRaises(osv_exception.PlugException, self.plug,
                                self.direct_vif(vf))
        err = exc.kwargs['err']
        self.assertIsInstance(err, exception.HostStepFailed)
        self.assertIn('read VF MAC', str(err))
        self.assertIn('has no VF 2; nothing was changed', str(err))
        self.assertEqual(before, self.host())


class TestNotSwitchdev(OffloadTestBase):

    def setUp(self) -> None:
        super().setUp()
        self.legacy = self.useFixture(sriov_tree.SmartNicFixture(
            None, pfs=3, vfs=2, legacy_pfs=(2,), kernel=False))
        self.configure(sysfs_root=self.legacy.root)

    def test_pf_in_legacy_mode(self) -> None:
        vf = sriov_tree.vf_address(2, 1)
        before = self.host()
        exc = self.assertRaises(osv_exception.PlugException, self.plug,
                                self.direct_vif(vf))
        self.assertIsInstance(exc.kwargs['err'], exception.NotSwitchdev)
        self.assertIn('switchdev', str(exc.kwargs['err']))
        self.assertEqual(before, self.host())


class TestPortControlOffload(OffloadTestBase):
    """``vrouter-port-control --vnic_type ... --pci_dev ...``: same code.

    The CLI runs as root inside the namespace, as a subprocess; so does
    the agent emulator it talks to on 127.0.0.1.
    """

    def setUp(self) -> None:
        super().setUp()
        self.emu.stop()
        started: list[server.AgentEmulator] = []

        def in_netns() -> None:
            # setns() moves this thread only; the emulator's sockets and
            # threads are created from it.
            pyroute2_netns.setns(self.netns.name, flags=0)
            started.append(server.AgentEmulator(self.ports_dir,
                                                port=0).start())
        thread = threading.Thread(target=in_netns)
        thread.start()
        thread.join()
        self.emu = started[0]
        self.addCleanup(self.emu.stop)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        code = ('import sys\n'
                'from os_vif_accel.testing import '
                'privsep_helper as h\n'
                'sys.exit(h.port_control())\n')
        return subprocess.run(
            ['ip', 'netns', 'exec', self.netns.name, sys.executable, '-c',
             code] + list(args) + [
                '--agent_port=%d' % self.emu.port,
                '--port_json_path=%s' % self.ports_dir,
                '--sysfs_root=%s' % self.nic.root],
            capture_output=True, text=True, timeout=60)

    def add_args(self, vnic: str, vf: str, *extra: str) -> list[str]:
        return ['--oper=add', '--uuid=' + self.port_id,
                '--instance_uuid=' + self.instance.uuid,
                '--vn_uuid=' + str(uuid.uuid4()),
                '--vm_project_uuid=' + uuid.uuid4().hex,
                '--ip_address=10.0.0.5', '--ipv6_address=None',
                '--vm_name=instance-00000001', '--mac=' + MAC,
                '--tap_name=' + self.tap_name(), '--port_type=NovaVMPort',
                '--tx_vlan_id=-1', '--rx_vlan_id=-1',
                '--vnic_type=' + vnic, '--pci_dev=' + vf] + list(extra)

    def test_direct_add_and_delete(self) -> None:
        vf = sriov_tree.vf_address(1, 2)
        original = self.nic.reps[vf]
        before = self.host()
        res = self.cli(*self.add_args('direct', vf, '--mtu=9000'))
        self.assertEqual(0, res.returncode, res)
        self.nic.sync()
        rep = self.link(self.tap_name())
        self.assertEqual(9000, rep['mtu'])
        self.assertIn('UP', rep['flags'])
        self.assertNotIn(original, self.netns.links())
        self.assertEqual((MAC, 0), self.vf_table()[vf])
        port = self.emu.state.snapshot()[self.port_id]
        self.assertEqual(self.tap_name(), port['system-name'])
        self.assertEqual(original,
                         self.port_file()['os-vif-accel']['rep-orig-name'])
        # The state is in the port file: delete needs no --vnic_type.
        res = self.cli('--oper=delete', '--uuid=' + self.port_id)
        self.assertEqual(0, res.returncode, res)
        self.assertEqual(before, self.host())

    def test_tf_plugin_virtio_forwarder_lines(self) -> None:
        vf = sriov_tree.vf_address(0, 3)
        sock_dir = os.path.join(self.tmp, 'vrouter')
        os.makedirs(sock_dir)
        before = self.host()
        res = self.cli(*self.add_args(
            'virtio-forwarder', vf, '--vif_type=VhostUser',
            '--vhostuser_socket=%s/uvh_vif_%s' % (sock_dir, self.tap_name()),
            '--vhostuser_mode=1', '--vhostuser_socket_dir=' + sock_dir))
        self.assertEqual(0, res.returncode, res)
        self.assertEqual('vfio-pci', self.nic.tree.driver_of(vf))
        port = self.emu.state.snapshot()[self.port_id]
        self.assertEqual(1, port['vhostuser-mode'])
        self.assertEqual(self.tap_name(), port['system-name'])
        # The reference plugin's unplug line.
        res = self.cli('--oper=delete', '--uuid=' + self.port_id,
                       '--tap_name=' + self.tap_name(),
                       '--vnic_type=virtio-forwarder', '--pci_dev=' + vf)
        self.assertEqual(0, res.returncode, res)
        self.assertEqual(before, self.host())

    def test_failure_leaves_the_host_alone(self) -> None:
        vf = sriov_tree.vf_address(0, 1)
        self.netns.add_tap(self.tap_name())
        before = self.host()
        res = self.cli(*self.add_args('direct', vf))
        self.assertEqual(1, res.returncode, res)
        self.assertIn('another netdev already has that name', res.stderr)
        self.assertEqual(before, self.host())
        self.assertEqual([], self.emu.requests)

    def test_bad_offload_input(self) -> None:
        before = self.host()
        for args, text in (
                (self.add_args('direct', sriov_tree.vf_address(0, 1),
                               '--mtu=x'), 'invalid --mtu'),
                (self.add_args('direct', sriov_tree.vf_address(0, 1),
                               '--mtu=20'), 'invalid --mtu'),
                (self.add_args('direct', '0000:81:00.1/../..'),
                 'invalid --pci_dev'),
                (self.add_args('direct', '0000:99:00.1'),
                 'no such PCI device'),
                (self.add_args('virtio-forwarder',
                               sriov_tree.vf_address(0, 1),
                               '--forwarder_driver=../x'),
                 'invalid --forwarder_driver'),
                (self.add_args('direct', sriov_tree.vf_address(0, 1),
                               '--no_persist'), '--no_persist')):
            res = self.cli(*args)
            self.assertEqual(1, res.returncode, res)
            self.assertIn(text, res.stderr)
        self.assertEqual(before, self.host())
        self.assertEqual([], self.emu.requests)
