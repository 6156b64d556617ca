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
"""Plug/unplug through os-vif with a real privsep daemon as root."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import uuid

import os_vif

from os_vif_accel import validate

from vif_plug_vrouter import privileged
from vif_plug_vrouter import record
from vif_plug_vrouter.tests.functional import base
from os_vif_accel.testing import vrouter_fixtures as vfix


class TestPrivsepPortFiles(base.FunctionalTestCase):

    def test_port_files_written_by_the_daemon(self) -> None:
        vif, inst = vfix.generic_vif(), vfix.instance()
        os_vif.plug(vif, inst)
        self.assertIsNotNone(self.privsep.channel)  # daemon started
        rec, _ = record.from_port_file(self.emu.port_file(vif.id))
        self.assertEqual(vif.vif_name, rec['system-name'])
        self.assertIn(vif.id, self.emu.emulator.state.ports)
        os_vif.unplug(vif, inst)
        self.assertIsNone(self.emu.port_file(vif.id))
        self.assertEqual({}, self.emu.emulator.state.ports)

    def test_daemon_validates_its_inputs_again(self) -> None:
        good = record.make_record(
            port_id=str(uuid.uuid4()), instance_id=str(uuid.uuid4()),
            vn_id=str(uuid.uuid4()), project_id='', display_name='x',
            system_name='tap0', mac='fa:16:3e:00:00:01')
        target = self.emu.ports_dir
        link = os.path.join(os.path.dirname(target), 'link')
        os.symlink('/etc', link)
        bad_calls = [
            ('/etc', good),
            (link, good),
            (target, dict(good, id='../../etc/passwd')),
            ('relative/dir', good),
            (target + '/../escape', good),
            (target, dict(good, extra='x')),
            (target, dict(good, **{'system-name': 'a b'})),
        ]
        for ports_dir, rec in bad_calls:
            self.assertRaises(validate.InvalidInput,
                              privileged.write_port_file, ports_dir, rec)
        self.assertRaises(validate.InvalidInput, privileged.remove_port_file,
                          target, '../x')
        self.assertRaises(validate.InvalidInput, privileged.read_port_file,
                          '/root', good['id'])
        self.assertRaises(validate.InvalidInput, privileged.write_port_file,
                          target, good, {'k': 'line\nbreak'})
        self.assertEqual([], os.listdir(target))
        self.assertFalse(os.path.exists(os.path.join('/etc', good['id'])))

    def test_200_concurrent_plugs_no_torn_file(self) -> None:
        inst = vfix.instance()
        vifs = [vfix.generic_vif() for _ in range(200)]
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            list(pool.map(lambda v: os_vif.plug(v, inst), vifs))
        state = self.emu.emulator.state.ports
        self.assertEqual({v.id for v in vifs}, set(state))
        names = os.listdir(self.emu.ports_dir)
        self.assertEqual(sorted(v.id for v in vifs), sorted(names))
        for vif in vifs:
            rec, _ = record.from_port_file(self.emu.port_file(vif.id))
            self.assertEqual(vif.vif_name, rec['system-name'])
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            list(pool.map(lambda v: os_vif.unplug(v, inst), vifs))
        self.assertEqual([], os.listdir(self.emu.ports_dir))
        self.assertEqual({}, state)


class TestAgentRestart(base.FunctionalTestCase):

    def test_agent_killed_and_restarted_mid_run(self) -> None:
        inst = vfix.instance()
        early = [vfix.generic_vif() for _ in range(20)]
        for vif in early:
            os_vif.plug(vif, inst)
        self.emu.emulator.stop()            # the agent dies
        late = [vfix.generic_vif() for _ in range(5)]
        for vif in late:                    # deferred: files only
            os_vif.plug(vif, inst)
        for vif in early[:3]:               # removed while it is down
            os_vif.unplug(vif, inst)
        dpdk = vfix.vhostuser_vif(self.emu.sock_dir)
        self.assertRaises(os_vif.exception.PlugException, os_vif.plug,
                          dpdk, inst)
        self.emu.emulator.restart()         # replays the port files
        expected = {v.id for v in early[3:] + late}
        self.assertEqual(expected, set(self.emu.emulator.state.ports))
        self.assertEqual([], self.emu.emulator.state.replay_errors)
        for vif in late:                    # re-plug after restart: no-op
            os_vif.plug(vif, inst)
        self.assertEqual(expected, set(self.emu.emulator.state.ports))


_REPLAY = '''
import json, sys
from vif_plug_vrouter.emulator import state
s = state.AgentState(sys.argv[1], check_port=True)
s.replay()
print(json.dumps(sorted(p["system-name"] for p in s.ports.values())))
'''


class TestKernelModeReplay(base.FunctionalTestCase):
    """The kernel-mode agent only replays ports whose tap exists."""

    def setUp(self) -> None:
        super().setUp()
        self.ns = 'osva-%s' % uuid.uuid4().hex[:8]
        subprocess.check_call(['ip', 'netns', 'add', self.ns])
        self.addCleanup(subprocess.call, ['ip', 'netns', 'del', self.ns])

    def _in_ns(self, *cmd: str) -> str:
        return subprocess.check_output(
            ['ip', 'netns', 'exec', self.ns] + list(cmd), text=True)

    def test_replay_checks_real_netdevs(self) -> None:
        inst = vfix.instance()
        present, absent = vfix.generic_vif(), vfix.generic_vif()
        self._in_ns('ip', 'tuntap', 'add', 'dev', present.vif_name,
                    'mode', 'tap')
        for vif in (present, absent):
            os_vif.plug(vif, inst)
        out = self._in_ns(sys.executable, '-c', _REPLAY, self.emu.ports_dir)
        self.assertEqual([present.vif_name], json.loads(out))
        self.assertIsNotNone(self.emu.port_file(absent.id))  # kept
