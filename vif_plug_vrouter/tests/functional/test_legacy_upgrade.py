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
"""Upgrade from the legacy CLI: its real port files, then our tools.

The port files are the bytes the real ``vrouter-port-control`` of
tf-controller wrote (``tests/data/legacy_port_files``).  They are replayed
by the agent emulator as the agent replays them when it starts, then
listed, checked, re-plugged through os-vif, synced and unplugged - and
the agent must never delete or re-add a port along the way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import os_vif
from oslo_config import cfg

from vif_plug_vrouter import record
from vif_plug_vrouter.tests.functional import base
from vif_plug_vrouter.tests.functional import test_port_control_cli as cli
from os_vif_accel.testing import vrouter_fixtures as vfix
from vif_plug_vrouter.tests.unit import test_legacy_files as data

PROJECT = '6b1c3f2a9d4e4f508a7b2c1d0e9f8a7b'
#: legacy file -> how Nova hands the same port to os-vif today
REPLUG = {
    'direct-kernel-ipv4.json': 'generic',
    'direct-kernel-ipv6-full-upper.json': 'generic',
    'direct-dpdk-server.json': 'server',
    'direct-dpdk-client.json': 'client',
    'direct-namespace.json': 'namespace',
    'api-kernel-ipv4.json': 'generic',
    'api-kernel-ipv6-uncompressed.json': 'generic',
    'api-dpdk-userspace-vhost.json': 'client',
}
#: ESXi ports come from the vCenter manager, not os-vif: CLI only.
CLI_ONLY = ('direct-esxi-enabled.json', 'api-esxi-disabled.json')


def install(ports_dir: str, names: Any) -> dict[str, str]:
    """Copy legacy files byte for byte under their port id."""
    ids = {}
    for name in names:
        rec = json.loads(data.legacy(name))
        shutil.copyfile(os.path.join(data.DATA, name),
                        os.path.join(ports_dir, rec['id']))
        ids[name] = rec['id']
    return ids


class TestLegacyUpgrade(base.FunctionalTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.state = self.emu.emulator.state
        self.ids = install(self.emu.ports_dir, list(REPLUG) + list(CLI_ONLY))
        # ESXi ports with VLANs live on agents in VMware mode, the only
        # mode in which the agent applies port VLANs (pst 101-116).
        self.state.vmware_mode = True
        # The agent restarts and replays the legacy files.
        self.assertEqual(len(self.ids), self.state.replay())
        for port_id in self.ids.values():
            self.state.mark_config(port_id)

    def cli(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [cli.SCRIPT, '--agent_port=%d' % self.emu.emulator.port,
             '--port_json_path=' + self.emu.ports_dir] + list(argv),
            capture_output=True, text=True, timeout=60)

    def vif_of(self, name: str) -> tuple[Any, Any]:
        rec, _ = record.from_port_file(data.legacy(name))
        v6 = [rec['ip6-address']] if rec['ip6-address'] else []
        kw = dict(port_id=rec['id'], address=rec['mac-address'],
                  vif_name=rec['system-name'],
                  network=vfix.network([rec['ip-address']], v6,
                                       net_id=rec['vn-id']))
        kind = REPLUG[name]
        if kind in ('server', 'client'):
            vif = vfix.vhostuser_vif(self.emu.sock_dir, mode=kind, **kw)
        else:
            vif = vfix.generic_vif(**kw)
        inst = vfix.instance(name=rec['display-name'], project_id=PROJECT)
        inst.uuid = rec['instance-id']
        return vif, inst

    def replug(self, name: str) -> None:
        vif, inst = self.vif_of(name)
        group = 'os_vif_vrouter'
        if REPLUG[name] == 'namespace':
            cfg.CONF.set_override('generic_port_type', 'NameSpacePort',
                                  group)
        try:
            os_vif.plug(vif, inst)
        finally:
            cfg.CONF.clear_override('generic_port_type', group)

    def test_list_check_replug_sync_unplug(self) -> None:
        res = self.cli('--oper=list', '--format=json')
        self.assertEqual(0, res.returncode, res)
        rows = json.loads(res.stdout)
        self.assertEqual(sorted(self.ids.values()),
                         sorted(r['id'] for r in rows))
        self.assertEqual([None] * len(rows), [r['file_error'] for r in rows])
        self.assertEqual({'active'}, {r['agent_state'] for r in rows})
        res = self.cli('--oper=check')
        self.assertEqual(0, res.returncode, res)
        self.assertEqual(len(self.ids), res.stdout.count('OK '), res)

        before = self.state.snapshot()
        del self.emu.emulator.requests[:]
        for name in REPLUG:
            self.replug(name)
        calls = [r[:2] for r in self.emu.emulator.requests]
        self.assertEqual([('POST', '/port')] * len(REPLUG), calls)
        after = self.state.snapshot()
        for port_id, entry in before.items():
            self.assertEqual(entry, after[port_id])   # kept, not re-created

        res = self.cli('--oper=sync', '--verbose')
        self.assertEqual(0, res.returncode, res)
        self.assertEqual([], self.state.clean_stale())
        self.assertEqual(sorted(self.ids.values()),
                         sorted(self.state.snapshot()))

        for name in REPLUG:
            os_vif.unplug(*self.vif_of(name))
        for name in CLI_ONLY:
            res = self.cli('--oper=delete', '--uuid=' + self.ids[name])
            self.assertEqual(0, res.returncode, res)
        self.assertEqual({}, self.state.snapshot())
        self.assertEqual([], [n for n in os.listdir(self.emu.ports_dir)
                              if n != 'vm'])


class TestLegacyFilesCli(cli.CLITestCase):
    """list/check/enable/sync on the legacy files, one behaviour each."""

    def setUp(self) -> None:
        super().setUp()
        self.ids = install(self.ports_dir, [
            n for n in data.legacy_names()
            if n != data.REFUSED and not n.startswith(('direct-esxi',
                                                       'api-esxi'))] +
            ['api-esxi.json'])
        self.state = self.emu.state
        self.state.vmware_mode = True   # as for TestLegacyUpgrade
        self.assertEqual(len(self.ids), self.state.replay())

    def test_list_and_check_read_contrail_vrouter_api_files(self) -> None:
        res = self.run_cli('--oper=list', '--format=json')
        self.assertEqual(0, res.rc, res)
        rows = {r['id']: r for r in json.loads(res.out)}
        api = rows[self.ids['api-kernel-ipv4.json']]
        self.assertIsNone(api['file_error'])
        self.assertEqual('web server 1', api['record']['display-name'])
        res = self.run_cli('--oper=check')
        self.assertEqual(0, res.rc, res)
        self.assertNotIn('BROKEN', res.out)

    def test_enable_keeps_link_state_in_a_null_mode_file(self) -> None:
        # With the agent down only the file can carry the new state (a live
        # agent rewrites the file itself, port_ipc_handler.cc 499-509).
        port = self.ids['api-esxi.json']
        res = self.run_cli('--oper=enable', '--uuid=' + port,
                           '--retry_window=0', '--agent_port=%d' %
                           vfix.free_port(), '--port_json_path=' +
                           self.ports_dir, common=False)
        self.assertEqual(0, res.rc, res)
        self.assertIn('saved in its port file only', res.err)
        rec = self.port_file(port)
        assert rec is not None
        self.assertEqual(1, rec['link-state'])
        self.state.ports.clear()
        self.state.replay()
        self.assertEqual(1, self.agent_port(port)['link-state'])

    def test_sync_keeps_every_legacy_port(self) -> None:
        res = self.run_cli('--oper=sync', '--verbose')
        self.assertEqual(0, res.rc, res)
        self.assertEqual([], self.state.clean_stale())
        self.assertEqual(sorted(self.ids.values()),
                         sorted(self.state.snapshot()))

    def post_vm(self, vmi: str, vm_name: str = 'pod-1',
                vn: str = '') -> dict[str, str]:
        body = {'vm-uuid': '5c7e9a10-3b2d-4c6e-8f1a-2b3c4d5e6f70',
                'host-ifname': 'veth' + vmi[:4], 'vm-name': vm_name,
                'vn-uuid': vn, 'vmi-uuid': vmi}
        self.assertEqual(200, self.state.handle(
            'POST', '/vm', json.dumps(body).encode())[0])
        return body

    def test_sync_readds_vm_vn_subscriptions(self) -> None:
        vn = cli.new_id()
        for _ in range(2):
            body = self.post_vm(cli.new_id(), vn=vn)
            # the control node puts the VMI in that VM and VN, so a stale
            # entry would make the agent drop both (pih 989-1040)
            self.state.mark_config(body['vmi-uuid'], vm_uuid=body['vm-uuid'],
                                   vn_uuid=vn)
        res = self.run_cli('--oper=sync', '--verbose')
        self.assertEqual(0, res.rc, res)
        self.assertIn('2 of 2 vm-vn', res.out)
        self.state.clean_stale()
        self.assertEqual(2, len([k for k in self.state.vm_ports
                                 if k[1] == vn]))

    def test_sync_refuses_while_a_port_file_is_unreadable(self) -> None:
        refused = install(self.ports_dir, [data.REFUSED])[data.REFUSED]
        # The agent holds that port from an earlier, valid add.
        good = json.loads(data.legacy('direct-kernel-ipv4.json'))
        self.state.handle('POST', '/port', json.dumps(dict(
            good, id=refused, **{'system-name': 'tapa1000000-07'})).encode())
        del self.emu.requests[:]
        res = self.run_cli('--oper=sync')
        self.assertEqual(1, res.rc, res)
        self.assertIn(refused, res.err)
        self.assertIn('nothing was sent', res.err)
        self.assertEqual([], self.emu.requests)
        self.assertIn(refused, self.state.snapshot())

    def test_sync_refuses_while_a_vm_vn_file_is_unreadable(self) -> None:
        body = self.post_vm(cli.new_id())
        broken = os.path.join(self.ports_dir, 'vm', 'pod-1', cli.new_id())
        with open(broken, 'w') as f:
            f.write('{"vm-uuid": ')
        del self.emu.requests[:]
        res = self.run_cli('--oper=sync')
        self.assertEqual(1, res.rc, res)
        self.assertIn(broken, res.err)
        self.assertEqual([], self.emu.requests)
        self.assertIn(body['vmi-uuid'], [
            e['vmi-uuid'] for e in self.state.vm_ports.values()])

    def before_sync(self, action: Any) -> None:
        """Run ``action`` in the agent just before it handles
        ``/syncports``: a plug or unplug racing with the CLI's scan.
        """
        routes = self.state._routes
        i = next(i for i, r in enumerate(routes)
                 if r[1].pattern == '/syncports')
        verb, regex, func = routes[i]

        def hooked(body: bytes) -> Any:
            action()
            return func(body)
        routes[i] = (verb, regex, hooked)

    def test_sync_keeps_a_port_plugged_during_its_scan(self) -> None:
        # A plug writes its file, then POSTs (ports.py); both happen after
        # the CLI listed the directory, before the agent's version moves.
        new = dict(json.loads(data.legacy('direct-kernel-ipv4.json')),
                   id=cli.new_id(), **{'system-name': 'tapraced-01'})

        def plug() -> None:
            with open(os.path.join(self.ports_dir, new['id']), 'w') as f:
                json.dump(new, f)
            self.assertEqual(200, self.state.handle(
                'POST', '/port', json.dumps(new).encode())[0])
        self.before_sync(plug)
        res = self.run_cli('--oper=sync', '--verbose')
        self.assertEqual(0, res.rc, res)
        self.assertEqual([], self.state.clean_stale())
        self.assertIn(new['id'], self.state.snapshot())

    def test_sync_does_not_revive_a_port_unplugged_meanwhile(self) -> None:
        gone = self.ids['api-kernel-ipv4.json']

        def unplug() -> None:
            self.state.handle('DELETE', '/port/' + gone, b'')
            self.assertFalse(os.path.exists(os.path.join(self.ports_dir,
                                                         gone)))
        self.before_sync(unplug)
        res = self.run_cli('--oper=sync', '--verbose')
        self.assertEqual(0, res.rc, res)
        self.assertNotIn(gone, self.state.snapshot())
        self.assertFalse(os.path.exists(os.path.join(self.ports_dir, gone)))

    def test_sync_readds_a_file_torn_meanwhile_as_first_read(self) -> None:
        # The legacy CLI rewrites a file in place (truncate, then write).
        torn = self.ids['direct-kernel-ipv4.json']

        def tear() -> None:
            open(os.path.join(self.ports_dir, torn), 'w').close()
        self.before_sync(tear)
        res = self.run_cli('--oper=sync', '--verbose')
        self.assertEqual(0, res.rc, res)
        self.assertEqual([], self.state.clean_stale())
        self.assertIn(torn, self.state.snapshot())

    def test_sync_of_one_port_is_refused(self) -> None:
        port = self.ids['api-kernel-ipv4.json']
        res = self.run_cli('--oper=sync', '--uuid=' + port)
        self.assertEqual(1, res.rc, res)
        self.assertIn('--uuid', res.err)
        self.assertEqual([], self.emu.requests)

    def test_sync_refuses_a_missing_port_directory(self) -> None:
        res = self.run_cli('--oper=sync', '--agent_port=%d' % self.emu.port,
                           '--port_json_path=' + self.ports_dir + '-typo',
                           common=False)
        self.assertEqual(1, res.rc, res)
        self.assertIn('does not exist', res.err)
        self.assertEqual([], self.emu.requests)
