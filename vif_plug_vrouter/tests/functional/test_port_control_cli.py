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
"""The installed ``vrouter-port-control`` against the agent emulator.

Every test runs the console script as a subprocess, the way Nova's privsep
daemon, ``contrail-vrouter-api`` and operators run it, and checks what a
caller can observe: the exit code, stderr, the port files and the agent's
tables.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from typing import Any

import fixtures
import testtools

from vif_plug_vrouter import record
from os_vif_accel.testing import vrouter_fixtures as vfix

SCRIPT = os.path.join(os.path.dirname(sys.executable), 'vrouter-port-control')


def new_id() -> str:
    return str(uuid.uuid4())


class Result:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __repr__(self) -> str:
        return 'rc=%d\nstdout=%s\nstderr=%s' % (self.rc, self.out, self.err)


class CLITestCase(testtools.TestCase):
    """An emulator, a ports dir and helpers to run the installed script."""

    emulator_kwargs: dict[str, Any] = {'auto_config': True}

    def setUp(self) -> None:
        super().setUp()
        self.assertTrue(os.access(SCRIPT, os.X_OK),
                        'console script %s is not installed' % SCRIPT)
        self.emu_fix = self.useFixture(
            vfix.EmulatorFixture(**self.emulator_kwargs))
        self.emu = self.emu_fix.emulator
        self.ports_dir = self.emu_fix.ports_dir
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.sock_dir = os.path.join(self.tmp, 'vrouter')
        os.makedirs(self.sock_dir)
        self.common = ['--agent_port=%d' % self.emu.port,
                       '--port_json_path=%s' % self.ports_dir]

    def run_cli(self, *argv: str, common: bool = True,
                timeout: float = 60) -> Result:
        args = list(argv) + (self.common if common else [])
        proc = subprocess.run([SCRIPT] + args, capture_output=True,
                              text=True, timeout=timeout,
                              env=dict(os.environ, LC_ALL='C.UTF-8'))
        return Result(proc)

    def add_args(self, port_id: str, **over: Any) -> dict[str, str]:
        args = {'oper': 'add', 'uuid': port_id,
                'instance_uuid': new_id(), 'vn_uuid': new_id(),
                'vm_project_uuid': uuid.uuid4().hex,
                'ip_address': '10.0.0.5', 'ipv6_address': 'None',
                'vm_name': 'instance-00000001', 'mac': 'fa:16:3e:11:22:33',
                'tap_name': ('tap' + port_id)[:14],
                'port_type': 'NovaVMPort', 'tx_vlan_id': '-1',
                'rx_vlan_id': '-1'}
        args.update(over)
        return {k: v for k, v in args.items() if v is not None}

    @staticmethod
    def eq_form(args: dict[str, str]) -> list[str]:
        return ['--%s=%s' % kv for kv in args.items()]

    def port_file(self, port_id: str) -> dict[str, Any] | None:
        text = self.emu_fix.port_file(port_id)
        return None if text is None else record.from_port_file(text)[0]

    def agent_port(self, port_id: str) -> dict[str, Any] | None:
        return self.emu.state.snapshot().get(port_id)

    def assertNothingDone(self, res: Result) -> None:
        self.assertNotEqual(0, res.rc, res)
        self.assertEqual([], self.emu.requests, res)
        self.assertEqual([], [n for n in os.listdir(self.ports_dir)
                              if n != 'vm'], res)

    def assertAdded(self, port_id: str, args: dict[str, str],
                    res: Result) -> None:
        self.assertEqual(0, res.rc, res)
        rec = self.port_file(port_id)
        self.assertIsNotNone(rec, res)
        assert rec is not None
        self.assertEqual(args['tap_name'], rec['system-name'])
        self.assertEqual(args['instance_uuid'], rec['instance-id'])
        agent = self.agent_port(port_id)
        self.assertIsNotNone(agent, res)
        assert agent is not None
        self.assertEqual(args['tap_name'], agent['system-name'])
        self.assertEqual(args.get('vm_name', ''), agent['display-name'])
        self.assertEqual(args['mac'], agent['mac-address'])


class TestArgvForms(CLITestCase):

    def test_tf_plugin_equals_form(self) -> None:
        # What the TF os-vif plugin passes (reference 4.3): --flag=value,
        # an undashed Keystone project id and the string "None" for IPv6.
        port = new_id()
        args = self.add_args(port)
        res = self.run_cli(*self.eq_form(args))
        self.assertAdded(port, args, res)
        pid = args['vm_project_uuid']
        dashed = str(uuid.UUID(hex=pid))
        self.assertEqual(dashed, self.agent_port(port)['vm-project-id'])
        self.assertEqual(dashed, self.port_file(port)['vm-project-id'])
        self.assertEqual('::', self.agent_port(port)['ip6-address'])
        self.assertEqual(1, len([r for r in self.emu.requests
                                 if r[:2] == ('POST', '/port')]))

    def test_space_separated_form(self) -> None:
        port = new_id()
        args = self.add_args(port, tx_vlan_id='10', rx_vlan_id='20')
        argv = [w for k, v in args.items() for w in ('--' + k, v)]
        res = self.run_cli(*argv)
        self.assertAdded(port, args, res)
        self.assertEqual((10, 20), (self.agent_port(port)['tx-vlan-id'],
                                    self.agent_port(port)['rx-vlan-id']))

    def test_single_string_with_any_value(self) -> None:
        port = new_id()
        name = 'my "vm" --uuid=%s \u00e9t\u00e9 \U0001f600' % new_id()
        args = self.add_args(port, vm_name=name)
        line = ' '.join('--%s="%s"' % (k, v.replace('"', '\\"'))
                        for k, v in args.items())
        line += ' --agent_port=%d --port_json_path="%s"' % (
            self.emu.port, self.ports_dir)
        res = self.run_cli(line, common=False)
        self.assertAdded(port, args, res)
        self.assertEqual(name, self.port_file(port)['display-name'])
        self.assertEqual([port], os.listdir(self.ports_dir))

    def test_contrail_vrouter_api_split_string(self) -> None:
        # contrail-vrouter-api builds one string with every value
        # double-quoted and splits it on white space before exec.
        port = new_id()
        args = self.add_args(port, vm_name='web server 1',
                             vif_type='Vrouter')
        line = 'vrouter-port-control ' + ' '.join(
            '--%s="%s"' % kv for kv in args.items())
        line += ' --agent_port="%d" --port_json_path="%s"' % (
            self.emu.port, self.ports_dir)
        res = self.run_cli(*line.split()[1:], common=False)
        self.assertAdded(port, args, res)
        self.assertEqual('web server 1', self.port_file(port)['display-name'])

    def test_values_in_a_normal_argv_never_become_options(self) -> None:
        port, other = new_id(), new_id()
        evil = 'x" --uuid="%s" --tap_name=evil --oper=delete' % other
        args = self.add_args(port, vm_name=evil)
        res = self.run_cli(*self.eq_form(args))
        self.assertAdded(port, args, res)
        self.assertEqual(evil, self.agent_port(port)['display-name'])
        self.assertEqual([port], os.listdir(self.ports_dir))
        self.assertEqual([port], list(self.emu.state.snapshot()))

    def test_value_starting_with_dashes_needs_equals(self) -> None:
        port = new_id()
        args = self.add_args(port)
        argv = self.eq_form(args) + ['--vm_name', '--uuid=%s' % new_id()]
        del argv[[a.split('=')[0] for a in argv].index('--vm_name')]
        res = self.run_cli(*argv)
        self.assertEqual(2, res.rc, res)
        self.assertIn('--vm_name=', res.err)
        self.assertNothingDone(res)

    def test_nova_rocky_privsep_lines(self) -> None:
        # Nova's own plug_contrail_vif/unplug_contrail_vif (removed in
        # Stein) ran these argv lists.
        port = new_id()
        args = self.add_args(port, ipv6_address='')
        args['vm_name'] = 'server-1'
        res = self.run_cli(*self.eq_form(args))
        self.assertAdded(port, args, res)
        res = self.run_cli('--oper=delete', '--uuid=%s' % port)
        self.assertEqual(0, res.rc, res)
        self.assertIsNone(self.port_file(port))
        self.assertIsNone(self.agent_port(port))

    def test_tf_plugin_vhostuser_line(self) -> None:
        port = new_id()
        tap = ('tap' + port)[:14]
        sock = os.path.join(self.sock_dir, 'uvh_vif_' + tap)
        netlink = self.unix_socket('dpdk_netlink')
        args = self.add_args(port, vif_type='VhostUser',
                             vhostuser_socket=sock, vhostuser_mode='1')
        res = self.run_cli(*self.eq_form(args) + [
            '--vhostuser_socket_dir=' + self.sock_dir,
            '--dpdk_netlink=' + netlink])
        self.assertAdded(port, args, res)
        self.assertEqual(1, self.agent_port(port)['vhostuser-mode'])

    def test_help(self) -> None:
        res = self.run_cli('--help', common=False)
        self.assertEqual(0, res.rc, res)
        for opt in ('--oper', '--vnic_type', '--strict', '--agent_wait'):
            self.assertIn(opt, res.out)

    def unix_socket(self, name: str, directory: str | None = None) -> str:
        path = os.path.join(directory or self.tmp, name)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        self.addCleanup(sock.close)
        return path


class TestSemantics(CLITestCase):

    def test_delete(self) -> None:
        port = new_id()
        self.assertEqual(0, self.run_cli(*self.eq_form(
            self.add_args(port))).rc)
        res = self.run_cli('--oper', 'delete', '--uuid', port, '--verbose')
        self.assertEqual(0, res.rc, res)
        self.assertIn('deleted', res.out)
        self.assertEqual([], os.listdir(self.ports_dir))
        self.assertEqual({}, self.emu.state.snapshot())
        self.assertIn(('DELETE', '/port/' + port),
                      [r[:2] for r in self.emu.requests])

    def test_no_persist_is_a_real_boolean(self) -> None:
        for value, persisted in (('--no_persist', False),
                                 ('--no_persist=True', False),
                                 ('--no_persist=False', True),
                                 ('--no_persist=0', True)):
            port = new_id()
            res = self.run_cli(*self.eq_form(self.add_args(port)) + [value])
            self.assertEqual(0, res.rc, res)
            self.assertIsNotNone(self.agent_port(port), value)
            # Without our file the agent writes its own (reference 1.7).
            author = json.loads(self.emu_fix.port_file(port))['author']
            self.assertEqual(persisted, author == 'os-vif-accel', value)

    def test_port_json_path_with_or_without_slash(self) -> None:
        for suffix in ('', '/'):
            port = new_id()
            res = self.run_cli(*self.eq_form(self.add_args(port)) + [
                '--agent_port=%d' % self.emu.port,
                '--port_json_path=%s%s' % (self.ports_dir, suffix)],
                common=False)
            self.assertEqual(0, res.rc, res)
            author = json.loads(self.emu_fix.port_file(port))['author']
            self.assertEqual('os-vif-accel', author)

    def test_ipv6_address(self) -> None:
        port = new_id()
        res = self.run_cli(*self.eq_form(self.add_args(
            port, ipv6_address='2001:DB8::5')))
        self.assertEqual(0, res.rc, res)
        self.assertEqual('2001:db8::5', self.agent_port(port)['ip6-address'])
        self.assertEqual('2001:db8::5', self.port_file(port)['ip6-address'])

    def test_abbreviated_options_are_refused(self) -> None:
        # argparse accepted unambiguous prefixes; a prefix is refused here
        # with the full name suggested.
        port = new_id()
        argv = [a.replace('--tap_name=', '--tap=')
                for a in self.eq_form(self.add_args(port))]
        res = self.run_cli(*argv)
        self.assertEqual(2, res.rc, res)
        self.assertIn('--tap_name', res.err)
        self.assertNothingDone(res)

    def test_dashed_project_id_is_kept(self) -> None:
        port = new_id()
        project = new_id()
        res = self.run_cli(*self.eq_form(self.add_args(
            port, vm_project_uuid=project)))
        self.assertEqual(0, res.rc, res)
        self.assertEqual(project, self.agent_port(port)['vm-project-id'])

    def test_readd_is_idempotent_and_changes_replace_the_port(self) -> None:
        port = new_id()
        args = self.add_args(port)
        self.assertEqual(0, self.run_cli(*self.eq_form(args)).rc)
        self.assertEqual(0, self.run_cli(*self.eq_form(args)).rc)
        self.assertNotIn('DELETE', [r[0] for r in self.emu.requests])
        args['tap_name'] = 'tapnew'
        res = self.run_cli(*self.eq_form(args))
        self.assertEqual(0, res.rc, res)
        self.assertEqual('tapnew', self.agent_port(port)['system-name'])
        self.assertEqual('tapnew', self.port_file(port)['system-name'])

    def test_namespace_port_without_network(self) -> None:
        port = new_id()
        res = self.run_cli(*self.eq_form(self.add_args(
            port, vn_uuid=None, port_type='NameSpacePort')))
        self.assertEqual(0, res.rc, res)
        self.assertEqual(1, self.agent_port(port)['type'])

    def test_esxi_enable_disable_rewrite_link_state(self) -> None:
        port = new_id()
        args = self.add_args(port, vn_uuid=None, port_type='ESXiPort',
                             tx_vlan_id='100', rx_vlan_id='101')
        self.assertEqual(0, self.run_cli(*self.eq_form(args)).rc)
        self.assertEqual(0, self.agent_port(port)['link-state'])
        self.assertNotIn('link-state', self.port_file(port))
        for oper, state in (('enable', 1), ('disable', 0), ('enable', 1)):
            res = self.run_cli('--oper=' + oper, '--uuid=' + port)
            self.assertEqual(0, res.rc, res)
            self.assertEqual(state, self.agent_port(port)['link-state'])
            self.assertEqual(state, self.port_file(port)['link-state'])
        # A re-add keeps the enabled link (file and agent).
        self.assertEqual(0, self.run_cli(*self.eq_form(args)).rc)
        self.assertEqual(1, self.port_file(port)['link-state'])
        self.emu.restart()
        self.assertEqual(1, self.agent_port(port)['link-state'])

    def test_enable_of_a_vm_port_is_refused_locally(self) -> None:
        port = new_id()
        self.assertEqual(0, self.run_cli(*self.eq_form(
            self.add_args(port))).rc)
        before = list(self.emu.requests)
        res = self.run_cli('--oper=enable', '--uuid=' + port)
        self.assertEqual(1, res.rc, res)
        self.assertIn('ESXi', res.err)
        self.assertEqual(before, self.emu.requests)

    def test_enable_of_an_unknown_port_is_refused_by_the_agent(self) -> None:
        res = self.run_cli('--oper=enable', '--uuid=' + new_id())
        self.assertEqual(4, res.rc, res)
        self.assertIn('Port Not found', res.err)

    def test_vnic_type_normal_is_accepted(self) -> None:
        port = new_id()
        args = self.add_args(port, vnic_type='normal')
        self.assertAdded(port, args, self.run_cli(*self.eq_form(args)))

    def test_offload_vnic_types_need_the_vf(self) -> None:
        # No such VF on this host: refused before anything is done.  The
        # offload itself is tested against a generated SmartNIC in
        # tests/functional/test_offload.py (TestPortControlOffload).
        pci = '0000:08:00.1'
        for vnic in ('direct', 'virtio-forwarder'):
            port = new_id()
            res = self.run_cli(*self.eq_form(self.add_args(
                port, vnic_type=vnic, pci_dev=pci)))
            self.assertEqual(1, res.rc, res)
            self.assertIn('PCI device 0000:08:00.1', res.err)
            self.assertNothingDone(res)
            # The TF plugin's unplug line for offloaded ports: a port that
            # was never added is deleted like any other (idempotent).
            res = self.run_cli('--oper=delete', '--uuid=' + port,
                               '--vnic_type=' + vnic, '--pci_dev=' + pci)
            self.assertEqual(0, res.rc, res)
            self.assertEqual([('DELETE', '/port/' + port)],
                             [r[:2] for r in self.emu.requests])
            self.emu.requests.clear()

    def test_tf_plugin_virtio_forwarder_plug_line(self) -> None:
        port = new_id()
        tap = ('tap' + port)[:14]
        args = self.add_args(port, vif_type='VhostUser',
                             vnic_type='virtio-forwarder',
                             pci_dev='0000:81:00.3',
                             vhostuser_socket=os.path.join(
                                 self.sock_dir, 'uvh_vif_' + tap),
                             vhostuser_mode='1')
        res = self.run_cli(*self.eq_form(args) + [
            '--vhostuser_socket_dir=' + self.sock_dir])
        self.assertEqual(1, res.rc, res)
        self.assertIn('PCI device 0000:81:00.3', res.err)
        self.assertNothingDone(res)

    def test_agent_port_both_forms(self) -> None:
        port = new_id()
        res = self.run_cli(*self.eq_form(self.add_args(port)) + [
            '--agent_port', str(self.emu.port),
            '--port_json_path', self.ports_dir], common=False)
        self.assertEqual(0, res.rc, res)
        self.assertIsNotNone(self.agent_port(port))

    def test_fast_path_does_not_load_oslo_or_os_vif(self) -> None:
        port = new_id()
        args = self.eq_form(self.add_args(port)) + self.common
        code = ('import sys; from vif_plug_vrouter.cmd import port_control '
                'as pc; rc = pc.main(%r); print(rc, sorted({m.split(".")[0] '
                'for m in sys.modules if m.startswith(("oslo", "os_vif.", '
                '"os_vif"))}))' % args)
        out = subprocess.run([sys.executable, '-c', code],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual("0 ['os_vif_accel']", out.stdout.strip(), out.stderr)
        self.assertIsNotNone(self.agent_port(port))


class TestBadInput(CLITestCase):
    """Clear error, non-zero exit, nothing written or sent."""

    def check(self, code: int, fragment: str, **over: Any) -> None:
        port = new_id()
        args = self.add_args(port, **over)
        res = self.run_cli(*self.eq_form(args))
        self.assertEqual(code, res.rc, res)
        self.assertIn(fragment, res.err)
        self.assertNothingDone(res)

    def test_unknown_oper(self) -> None:
        self.check(1, 'invalid --oper', oper='update')

    def test_unknown_flag(self) -> None:
        self.check(2, 'unknown option --vm', vm='x')

    def test_non_uuid(self) -> None:
        self.check(1, 'invalid --uuid', uuid='port-1')

    def test_malformed_mac(self) -> None:
        self.check(1, 'invalid --mac', mac='fa:16:3e:11:22')

    def test_vlan_out_of_range(self) -> None:
        self.check(1, 'invalid --tx_vlan_id', tx_vlan_id='4095')
        self.check(1, 'invalid --rx_vlan_id', rx_vlan_id='-2')
        self.check(1, 'invalid --rx_vlan_id', rx_vlan_id='ten')

    def test_bad_tap_names(self) -> None:
        self.check(1, 'at most 15 bytes', tap_name='tap0123456789abc')
        self.check(1, 'invalid --tap_name', tap_name='tap/1')

    def test_socket_outside_allowed_directories(self) -> None:
        self.check(1, 'allowed directories', vif_type='VhostUser',
                   vhostuser_socket='/tmp/uvh_vif_tap1')
        self.check(1, 'invalid --vhostuser_socket', vif_type='VhostUser',
                   vhostuser_socket=self.sock_dir + '/../x')

    def test_vhostuser_without_socket(self) -> None:
        self.check(1, 'needs --vhostuser_socket', vif_type='VhostUser')

    def test_bad_pci_dev(self) -> None:
        self.check(1, 'invalid --pci_dev', vnic_type='direct',
                   pci_dev='08:00.1')
        self.check(1, 'needs --pci_dev', vnic_type='direct')
        self.check(1, 'invalid --pci_dev', pci_dev='0000:08:00.1')

    def test_bad_vnic_type_and_mode(self) -> None:
        self.check(1, 'invalid --vnic_type', vnic_type='macvtap')
        self.check(1, 'invalid --vhostuser_mode', vhostuser_mode='2')

    def test_option_twice_with_different_values(self) -> None:
        port = new_id()
        res = self.run_cli(*self.eq_form(self.add_args(port)) +
                           ['--mac=fa:16:3e:00:00:99'])
        self.assertEqual(2, res.rc, res)
        self.assertIn('--mac given twice', res.err)
        self.assertNothingDone(res)

    def test_same_option_twice_with_the_same_value_is_fine(self) -> None:
        port = new_id()
        args = self.add_args(port)
        res = self.run_cli(*self.eq_form(args) + ['--mac=' + args['mac']])
        self.assertAdded(port, args, res)

    def test_usage_errors(self) -> None:
        for argv in (['--uuid=' + new_id()], ['--oper=add'],
                     ['--oper="add" --uuid="%s' % new_id()],
                     ['--oper=add', 'stray']):
            res = self.run_cli(*argv, common=len(argv) > 1)
            self.assertEqual(2, res.rc, res)
            self.assertIn('usage error', res.err)
            self.assertNothingDone(res)


class TestAgentFailures(CLITestCase):

    def down(self) -> list[str]:
        return ['--agent_port=%d' % vfix.free_port(),
                '--port_json_path=' + self.ports_dir, '--retry_window=0']

    def test_kernel_add_agent_down_warns_and_keeps_the_file(self) -> None:
        port = new_id()
        args = self.eq_form(self.add_args(port)) + self.down()
        res = self.run_cli(*args, common=False)
        self.assertEqual(0, res.rc, res)
        self.assertIn('unreachable', res.err)
        # Said once, by the CLI (the library's own warning is muted).
        self.assertEqual(1, len(res.err.splitlines()), res)
        self.assertIsNotNone(self.port_file(port))
        self.emu.restart()   # the agent replays the file
        self.assertIsNotNone(self.agent_port(port))
        port = new_id()
        res = self.run_cli(*self.eq_form(self.add_args(port)) +
                           self.down() + ['--strict'], common=False)
        self.assertEqual(5, res.rc, res)
        self.assertIn('unreachable', res.err)

    def test_no_persist_add_agent_down_fails(self) -> None:
        port = new_id()
        res = self.run_cli(*self.eq_form(self.add_args(port)) +
                           self.down() + ['--no_persist'], common=False)
        self.assertEqual(5, res.rc, res)
        self.assertIsNone(self.port_file(port))

    def test_delete_agent_down(self) -> None:
        port = new_id()
        self.assertEqual(0, self.run_cli(*self.eq_form(
            self.add_args(port))).rc)
        res = self.run_cli('--oper=delete', '--uuid=' + port, *self.down(),
                           common=False)
        self.assertEqual(0, res.rc, res)
        self.assertIn('unreachable', res.err)
        self.assertIsNone(self.port_file(port))
        res = self.run_cli('--oper=delete', '--uuid=' + port, '--strict',
                           *self.down(), common=False)
        self.assertEqual(5, res.rc, res)

    def test_agent_refuses(self) -> None:
        raw = self.useFixture(vfix.RawServer(
            b'HTTP/1.1 500 OK\r\nContent-Type: application/json\r\n'
            b'Content-Length: 30\r\n\r\n{"error":"{ Invalid VN uuid }"}'))
        port = new_id()
        res = self.run_cli(*self.eq_form(self.add_args(port)) + [
            '--agent_port=' + raw.url.rsplit(':', 1)[1],
            '--port_json_path=' + self.ports_dir], common=False)
        self.assertEqual(4, res.rc, res)
        self.assertIn('Invalid VN uuid', res.err)
        self.assertIsNone(self.port_file(port))   # rolled back

    def test_agent_silent_times_out(self) -> None:
        raw = self.useFixture(vfix.RawServer(None))
        port = new_id()
        res = self.run_cli(*self.eq_form(self.add_args(port)) + [
            '--agent_port=' + raw.url.rsplit(':', 1)[1], '--timeout=0.3',
            '--port_json_path=' + self.ports_dir], common=False)
        self.assertEqual(1, res.rc, res)
        self.assertIn('no answer within 0.3s', res.err)
        self.assertIsNone(self.port_file(port))


class TestDPDK(CLITestCase):
    """Exit codes 3, 5 and 6 and the bounded waits of VhostUser adds."""

    def vhost_args(self, port: str, mode: str = '1') -> list[str]:
        tap = ('tap' + port)[:14]
        self.sock = os.path.join(self.sock_dir, 'uvh_vif_' + tap)
        return self.eq_form(self.add_args(
            port, vif_type='VhostUser', vhostuser_socket=self.sock,
            vhostuser_mode=mode)) + [
            '--vhostuser_socket_dir=' + self.sock_dir,
            '--dpdk_netlink=' + self.netlink]

    def setUp(self) -> None:
        super().setUp()
        self.netlink = os.path.join(self.tmp, 'dpdk_netlink')

    def bind(self, path: str) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        self.addCleanup(sock.close)

    def test_agent_port_closed_exit_5(self) -> None:
        self.bind(self.netlink)
        port = new_id()
        res = self.run_cli(*self.vhost_args(port) + [
            '--agent_port=%d' % vfix.free_port(), '--agent_wait=0.3',
            '--port_json_path=' + self.ports_dir], common=False)
        self.assertEqual(5, res.rc, res)
        self.assertIn('--agent_wait', res.err)
        self.assertNothingDone(res)

    def test_netlink_absent_exit_3(self) -> None:
        port = new_id()
        res = self.run_cli(*self.vhost_args(port) + ['--netlink_wait=0.3'])
        self.assertEqual(3, res.rc, res)
        self.assertIn(self.netlink, res.err)
        self.assertNothingDone(res)

    def test_netlink_must_be_a_socket(self) -> None:
        with open(self.netlink, 'w'):
            pass
        res = self.run_cli(*self.vhost_args(new_id()) +
                           ['--netlink_wait=0'])
        self.assertEqual(3, res.rc, res)

    def test_mode_client_socket_never_created_exit_6(self) -> None:
        self.bind(self.netlink)
        for mode in ('0', 'client'):
            port = new_id()
            res = self.run_cli(*self.vhost_args(port, mode) +
                               ['--socket_wait=0.3'])
            self.assertEqual(6, res.rc, res)
            self.assertIn('--socket_wait', res.err)
            self.assertEqual(0, self.agent_port(port)['vhostuser-mode'])

    def test_mode_client_socket_present(self) -> None:
        self.bind(self.netlink)
        port = new_id()
        argv = self.vhost_args(port, '0')
        self.bind(self.sock)
        res = self.run_cli(*argv + ['--socket_wait=5'])
        self.assertEqual(0, res.rc, res)

    def test_mode_server_does_not_wait(self) -> None:
        self.bind(self.netlink)
        port = new_id()
        res = self.run_cli(*self.vhost_args(port, 'server') +
                           ['--socket_wait=600'])
        self.assertEqual(0, res.rc, res)
        self.assertEqual(1, self.agent_port(port)['vhostuser-mode'])
        self.assertIsNotNone(self.port_file(port))

    def test_agent_down_after_wait_rolls_back(self) -> None:
        # The agent's port opens (wait passes) but it refuses to deliver:
        # a vhost-user port is never deferred.
        self.bind(self.netlink)
        raw = self.useFixture(vfix.RawServer(b''))
        port = new_id()
        res = self.run_cli(*self.vhost_args(port) + [
            '--agent_port=' + raw.url.rsplit(':', 1)[1],
            '--retry_window=0', '--port_json_path=' + self.ports_dir],
            common=False)
        self.assertIn(res.rc, (1, 5), res)
        self.assertIsNone(self.port_file(port))


class TestOperatorExtras(CLITestCase):

    def add(self, **over: Any) -> str:
        port = new_id()
        res = self.run_cli(*self.eq_form(self.add_args(port, **over)))
        self.assertEqual(0, res.rc, res)
        return port

    def test_list_table_and_json(self) -> None:
        a, b = self.add(vm_name='alpha'), self.add(vm_name='beta')
        with open(os.path.join(self.ports_dir, new_id()), 'w'):
            pass   # an empty (broken) port file
        res = self.run_cli('--oper=list')
        self.assertEqual(0, res.rc, res)
        lines = res.out.splitlines()
        self.assertTrue(lines[0].startswith('UUID'))
        self.assertEqual(4, len(lines))
        for port, name in ((a, 'alpha'), (b, 'beta')):
            line = [x for x in lines if x.startswith(port)][0]
            self.assertIn(name, line)
            self.assertTrue(line.endswith('active'), line)
        self.assertIn('(unreadable file)', res.out)
        res = self.run_cli('--oper=list', '--format', 'json')
        rows = {r['id']: r for r in json.loads(res.out)}
        self.assertEqual('active', rows[a]['agent_state'])
        self.assertEqual(a, rows[a]['agent']['id'])
        self.assertEqual('alpha', rows[a]['record']['display-name'])
        self.assertEqual(3, len(rows))

    def test_list_agent_down(self) -> None:
        port = self.add()
        down = ['--agent_port=%d' % vfix.free_port(), '--retry_window=0',
                '--port_json_path=' + self.ports_dir]
        res = self.run_cli('--oper=list', '--format=json', *down,
                           common=False)
        self.assertEqual(0, res.rc, res)
        self.assertEqual('unreachable', json.loads(res.out)[0]['agent_state'])
        self.assertEqual(port, json.loads(res.out)[0]['id'])
        self.assertIn('unreachable', res.err)
        res = self.run_cli('--oper=list', '--strict', *down, common=False)
        self.assertEqual(5, res.rc, res)

    def test_check(self) -> None:
        a, b = self.add(), self.add()
        res = self.run_cli('--oper=check')
        self.assertEqual(0, res.rc, res)
        self.assertEqual(sorted(['OK ' + a, 'OK ' + b]),
                         sorted(res.out.splitlines()))
        with self.emu.state.lock:
            self.emu.state.ports[a]['system-name'] = 'tapother'
            del self.emu.state.ports[b]
        res = self.run_cli('--oper=check', '--format=json')
        self.assertEqual(1, res.rc, res)
        states = {r['id']: r for r in json.loads(res.out)}
        self.assertEqual('drift', states[a]['state'])
        self.assertIn('system-name', states[a]['details'][0])
        self.assertEqual('drift', states[b]['state'])
        res = self.run_cli('--oper=check', '--uuid=' + a)
        self.assertEqual(1, res.rc, res)
        self.assertIn('DRIFT ' + a, res.out)
        self.assertNotIn(b, res.out)

    def test_sync_readds_persisted_ports_only(self) -> None:
        kept = self.add()
        # A port the agent has but no file describes any more.
        orphan = new_id()
        self.emu.state.handle('POST', '/port', json.dumps(
            record.make_record(port_id=orphan, instance_id=new_id(),
                               vn_id=new_id(), project_id='',
                               display_name='orphan', system_name='tap9',
                               mac='fa:16:3e:00:00:09')).encode())
        os.unlink(os.path.join(self.ports_dir, orphan))
        res = self.run_cli('--oper=sync', '--verbose')
        self.assertEqual(0, res.rc, res)
        self.assertIn('1 of 1 port(s) and 0 of 0 vm-vn subscription(s) '
                      're-added', res.out)
        paths = [r[:2] for r in self.emu.requests]
        self.assertIn(('POST', '/syncports'), paths)
        self.assertEqual(('POST', '/port'), paths[-1])
        self.assertEqual([orphan], self.emu.state.clean_stale())
        self.assertIsNotNone(self.agent_port(kept))

    def test_list_and_check_of_a_port_without_file(self) -> None:
        self.add()
        for oper in ('list', 'check'):
            res = self.run_cli('--oper=' + oper, '--uuid=' + new_id())
            self.assertEqual(1, res.rc, res)
            self.assertIn('has no port file', res.err)

    def test_list_needs_the_port_files(self) -> None:
        res = self.run_cli('--oper=list', '--no_persist')
        self.assertEqual(1, res.rc, res)
        self.assertIn('--no_persist', res.err)

    def test_sync_window_exceeded(self) -> None:
        self.add()
        res = self.run_cli('--oper=sync', '--sync_window=0')
        self.assertEqual(1, res.rc, res)
        self.assertIn('--sync_window', res.err)

    def test_sync_agent_down(self) -> None:
        self.add()
        res = self.run_cli('--oper=sync', '--retry_window=0',
                           '--agent_port=%d' % vfix.free_port(),
                           '--port_json_path=' + self.ports_dir,
                           common=False)
        self.assertEqual(5, res.rc, res)
