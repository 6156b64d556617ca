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
"""The hostile inputs the issue names, one test each, by name.

Each of these failed before the shared validators were used at the entry
(a traceback, an undocumented exception, or a change to the host).
"""

from __future__ import annotations

import errno
import os
import sys
import uuid

import testtools

from os_vif_accel.testing import hostile
from os_vif_accel import validate

from vif_plug_vrouter import linux_net
from vif_plug_vrouter import port_files
from vif_plug_vrouter import record
from vif_plug_vrouter.tests.unit.hostile import entries


class TestNamedExamples(testtools.TestCase):

    def setUp(self) -> None:
        super().setUp()
        self.host = self.useFixture(entries.Host())

    def test_ipv6_off_for_all_interfaces_is_refused(self) -> None:
        before = self.host.state()
        for name in ('all', 'default'):
            self.assertRaises(validate.InvalidInput,
                              linux_net.set_ipv6_disabled, name, True)
        self.assertEqual(before, self.host.state())

    def test_driver_timeout_checked_before_driver_override(self) -> None:
        before = self.host.state()
        for timeout in (True, '5', None, float('nan'), -1.0):
            self.assertRaises(validate.InvalidInput,
                              linux_net.bind_vf_driver, self.host.nic.root,
                              self.host.vf, 'vfio-pci', timeout)
            self.assertRaises(validate.InvalidInput,
                              linux_net.restore_vf_driver,
                              self.host.nic.root, self.host.vf, 'mlx5_core',
                              None, timeout)
        self.assertEqual(before, self.host.state())

    def test_link_state_true_is_not_one(self) -> None:
        rec = dict(entries.base_record(), **{'link-state': True})
        self.assertRaises(validate.InvalidInput, record.check_record, rec)
        self.assertRaises(validate.InvalidInput, port_files.write_port_file,
                          self.host.ports_dir, rec, None, False)
        self.assertEqual({}, self.host.state()['ports'])

    def test_port_file_symlink_is_not_followed(self) -> None:
        port_id = str(uuid.uuid4())
        secret = os.path.join(self.host.proc, 'all', 'disable_ipv6')
        os.symlink(secret, os.path.join(self.host.ports_dir, port_id))
        exc = self.assertRaises(OSError, port_files.read_port_file,
                                self.host.ports_dir, port_id)
        self.assertEqual(errno.ELOOP, exc.errno)

    def test_port_file_fifo_does_not_block(self) -> None:
        port_id = str(uuid.uuid4())
        os.mkfifo(os.path.join(self.host.ports_dir, port_id))
        exc = self.assertRaises(OSError, port_files.read_port_file,
                                self.host.ports_dir, port_id)
        self.assertEqual(errno.EINVAL, exc.errno)

    def test_surrogate_display_name_is_invalid_input(self) -> None:
        rec = dict(entries.base_record(), **{'display-name': 'vm\udcff'})
        self.assertRaises(validate.InvalidInput, port_files.write_port_file,
                          self.host.ports_dir, rec, None, False)
        self.assertRaises(validate.InvalidInput, port_files.write_port_file,
                          self.host.ports_dir, entries.base_record(),
                          {'rep-name': 'eth\udcff'}, False)
        self.assertEqual({}, self.host.state()['ports'])

    def test_unset_os_vif_fields_are_invalid_port(self) -> None:
        for case in ({'unset_vif': ['id']},
                     {'unset_instance': ['uuid']}):
            self.assertEqual((entries.REFUSED, []), entries.run(
                self.host, dict(case, entry='plugin.plug')))

    def test_cli_cannot_print_a_forged_line(self) -> None:
        forged = '\nvrouter-port-control: error: forged'
        for argv in (['--oper=add', '--foo%s=1' % forged],
                     ['--oper=list', '--port_json_path=/tmp/x%s' % forged]):
            code, stderr = entries.run_cli(argv, self.host.cwd)
            self.assertIsNone(hostile.one_line_refusal(code, stderr))

    def test_cli_unicode_digits_are_not_numbers(self) -> None:
        for flag in ('tx_vlan_id', 'agent_port', 'mtu', 'timeout'):
            for value in ('٣', '²'):
                argv = entries.cli_argv(self.host, {
                    flag: value, 'vnic_type': 'direct',
                    'pci_dev': '0000:08:00.2'})
                code, _ = entries.run_cli(argv, self.host.cwd)
                self.assertEqual(1, code, (flag, value))
        self.assertEqual(0, self.host.state()['agent'])

    def test_negative_content_length_answers_400(self) -> None:
        answer = entries.http_exchange(
            self.host.emu.url, b'POST /port HTTP/1.1\r\nHost: x\r\n'
            b'Content-Length: -1\r\n\r\n{}')
        self.assertTrue(answer.startswith(b'HTTP/1.1 400 '), answer)

    def test_cli_list_does_not_block_on_fifos_or_deep_files(self) -> None:
        os.mkfifo(os.path.join(self.host.ports_dir, str(uuid.uuid4())))
        with open(os.path.join(self.host.ports_dir, str(uuid.uuid4())),
                  'w') as f:
            f.write('[' * 100000 + ']' * 100000)
        vm_dir = os.path.join(self.host.ports_dir, 'vm', 'vm1')
        os.makedirs(vm_dir)
        with open(os.path.join(vm_dir, str(uuid.uuid4())), 'w') as f:
            f.write('{"a":' * 100000)
        argv = ['--oper=check', '--port_json_path=' + self.host.ports_dir,
                '--agent_port=%d' % self.host.emu.emulator.port]
        # Every file is unreadable: check reports them (exit 1), and
        # returns instead of blocking on the FIFO.
        self.assertEqual(1, entries.run_cli(argv, self.host.cwd)[0])

    def test_cli_process_with_undecodable_arguments(self) -> None:
        # The real path: argv bytes decoded with surrogateescape by Python,
        # the refusal written through the process's own stderr.
        import subprocess
        env = dict(os.environ, LC_ALL='C.UTF-8', PYTHONWARNINGS='ignore')
        for over in ({'vm_name': b'vm\xff\xfe'}, {'tap_name': b'tap\xe9'},
                     {'tx_vlan_id': '٣'.encode()},
                     {'foo\nvrouter-port-control: error: forged': b'1'}):
            argv = [os.fsencode(a) for a in entries.cli_argv(self.host, {})]
            argv += [b'--%s=%s' % (os.fsencode(k), v)
                     for k, v in over.items()]
            proc = subprocess.run(
                [sys.executable, '-m', 'vif_plug_vrouter.cmd.port_control',
                 *argv], capture_output=True, env=env, timeout=60,
                cwd=self.host.cwd)
            stderr = proc.stderr.decode('utf-8', 'replace')
            self.assertIsNone(hostile.one_line_refusal(proc.returncode,
                                                       stderr), stderr)
        self.assertEqual(({}, 0), (self.host.state()['ports'],
                                   self.host.state()['agent']))
