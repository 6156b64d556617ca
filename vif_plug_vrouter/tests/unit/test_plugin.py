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
"""The vrouter plugins through os-vif against the agent emulator."""

from __future__ import annotations

import json
import os
import time
import uuid

import fixtures
import os_vif
from os_vif import exception as osv_exception
from os_vif import objects
import testtools

from vif_plug_vrouter import exception
from os_vif_accel.testing import vrouter_fixtures as vfix


class PluginTestBase(testtools.TestCase):

    def setUp(self) -> None:
        super().setUp()
        self.emu = self.useFixture(vfix.EmulatorFixture())
        self.configure()

    def configure(self, url: str | None = None,
                  ports_dir: str | None = None, **overrides: object) -> None:
        self.useFixture(vfix.PluginConfigFixture(
            url or self.emu.url, ports_dir or self.emu.ports_dir,
            self.emu.sock_dir, **overrides))

    def agent_ports(self) -> dict[str, dict[str, object]]:
        return self.emu.emulator.state.snapshot()

    def assertPlugFails(self, cls: type, vif: object,
                        inst: object = None) -> Exception:
        exc = self.assertRaises(osv_exception.PlugException, os_vif.plug,
                                vif, inst or vfix.instance())
        self.assertIsInstance(exc.kwargs['err'], cls)
        return exc.kwargs['err']


class TestDescribe(testtools.TestCase):

    def setUp(self) -> None:
        super().setUp()
        vfix.initialize_os_vif()

    def test_versions_are_those_os_vif_registers(self) -> None:
        info = os_vif.host_info()
        vrouter = info.get_plugin('vrouter')
        self.assertEqual(['VIFGeneric', 'VIFVHostUser', 'VIFHostDevice'],
                         [v.vif_object_name for v in vrouter.vif_info])
        for vif_info in vrouter.vif_info:
            vif_info.get_common_version()  # raises if the class is newer
            for profile in vif_info.supported_port_profiles:
                profile.get_common_version()
        self.assertEqual('1.1', vrouter.get_vif('VIFVHostUser')
                         .get_common_version())
        direct = vrouter.get_vif('VIFHostDevice')
        self.assertEqual('1.0', direct.get_common_version())
        self.assertEqual([('VIFPortProfileBase', '1.0', '1.1')],
                         [(p.profile_object_name, p.min_version,
                           p.max_version)
                          for p in direct.supported_port_profiles])

    def test_alias_only_advertises_vhostuser(self) -> None:
        alias = os_vif.host_info().get_plugin('contrail_vrouter')
        self.assertEqual(['VIFVHostUser'],
                         [v.vif_object_name for v in alias.vif_info])

    def test_options_in_both_sections_and_generator(self) -> None:
        from oslo_config import cfg

        from vif_plug_vrouter import opts
        self.assertEqual('http://127.0.0.1:9091',
                         cfg.CONF.os_vif_vrouter.agent_url)
        self.assertEqual('/var/lib/contrail/ports',
                         cfg.CONF.os_vif_contrail_vrouter.ports_dir)
        groups = dict(opts.list_opts())
        self.assertIn('helper_command',
                      [o.name for o in groups['vif_plug_vrouter_privileged']])
        self.assertEqual({o.name for o in groups['os_vif_vrouter']},
                         {o.name for o in groups['os_vif_contrail_vrouter']})


class TestPlugGeneric(PluginTestBase):

    def test_plug_persists_then_adds(self) -> None:
        vif = vfix.generic_vif()
        inst = vfix.instance(name='vm-a')
        os_vif.plug(vif, inst)
        port = self.agent_ports()[vif.id]
        self.assertEqual((vif.vif_name, 0, 'vm-a', '10.0.0.5'),
                         (port['system-name'], port['type'],
                          port['display-name'], port['ip-address']))
        on_disk = json.loads(self.emu.port_file(vif.id))
        self.assertEqual('os-vif-accel', on_disk['author'])
        self.assertEqual(vif.vif_name, on_disk['system-name'])

    def test_plug_twice_is_plugged_once(self) -> None:
        vif, inst = vfix.generic_vif(), vfix.instance()
        os_vif.plug(vif, inst)
        before = os.stat(os.path.join(self.emu.ports_dir, vif.id))
        os_vif.plug(vif, inst)
        after = os.stat(os.path.join(self.emu.ports_dir, vif.id))
        self.assertEqual(before.st_ino, after.st_ino)  # not rewritten
        self.assertEqual(1, len(self.agent_ports()))
        self.assertEqual([], [r for r in self.emu.emulator.requests
                              if r[0] == 'DELETE'])

    def test_changed_tap_name_is_applied_by_delete_and_add(self) -> None:
        vif, inst = vfix.generic_vif(), vfix.instance()
        os_vif.plug(vif, inst)
        vif.vif_name = 'tapchanged'
        os_vif.plug(vif, inst)
        self.assertEqual('tapchanged',
                         self.agent_ports()[vif.id]['system-name'])
        self.assertEqual('tapchanged',
                         json.loads(self.emu.port_file(vif.id))
                         ['system-name'])

    def test_cosmetic_change_does_not_bounce_the_port(self) -> None:
        vif = vfix.generic_vif()
        inst = vfix.instance(name='old-name')
        os_vif.plug(vif, inst)
        inst.name = 'new-name'
        os_vif.plug(vif, inst)
        self.assertEqual([], [r for r in self.emu.emulator.requests
                              if r[0] == 'DELETE'])
        self.assertEqual('new-name',
                         json.loads(self.emu.port_file(vif.id))
                         ['display-name'])

    def test_port_plugged_by_the_tf_plugin_is_not_bounced(self) -> None:
        # Upgrade: a port the TF plugin plugged on a network with two IPv4
        # and two IPv6 subnets.  The TF plugin sent the first IP of the
        # *last* subnet of each family (tf-nova-vif-driver
        # vif_plug_vrouter/vrouter.py 198-213); picking any other address
        # would make the re-plug at nova-compute start a delete + add.
        from vif_plug_vrouter import agent_client
        from vif_plug_vrouter import record
        net = objects.network.Network(
            id=str(uuid.uuid4()),
            subnets=objects.subnet.SubnetList(objects=[
                objects.subnet.Subnet(ips=objects.fixed_ip.FixedIPList(
                    objects=[objects.fixed_ip.FixedIP(address=a)
                             for a in ips]))
                for ips in (['10.0.0.5'], ['fd00::5'], ['10.9.0.5',
                                                        '10.9.0.6'],
                            ['fd09::5'])]))
        vif, inst = vfix.generic_vif(network=net), vfix.instance()
        tf = record.make_record(
            port_id=vif.id, instance_id=inst.uuid, vn_id=net.id,
            project_id=inst.project_id, display_name=inst.name,
            system_name=vif.vif_name, mac=str(vif.address),
            ip_address='10.9.0.5', ip6_address='fd09::5')
        with open(os.path.join(self.emu.ports_dir, vif.id), 'wb') as f:
            f.write(record.to_port_file(tf, author='vrouter-port-control'))
        agent_client.AgentClient(self.emu.url).add_port(tf)

        os_vif.plug(vif, inst)

        self.assertEqual([], [r for r in self.emu.emulator.requests
                              if r[0] == 'DELETE'])
        port = self.agent_ports()[vif.id]
        self.assertEqual(('10.9.0.5', 'fd09::5'),
                         (port['ip-address'], port['ip6-address']))

    def test_failed_rewrite_of_changed_port_restores_it(self) -> None:
        from os_vif_accel import fileio
        vif, inst = vfix.generic_vif(), vfix.instance()
        os_vif.plug(vif, inst)
        old_name = vif.vif_name
        vif.vif_name = 'tapchanged'
        real_write = fileio.atomic_write
        calls = []

        def disk_full_once(*args: object, **kwargs: object) -> str:
            calls.append(args)
            if len(calls) == 1:
                raise OSError(28, 'No space left on device')
            return real_write(*args, **kwargs)  # type: ignore[arg-type]
        self.useFixture(fixtures.MockPatch(
            'os_vif_accel.fileio.atomic_write', disk_full_once))
        err = self.assertPlugFails(exception.PortFileError, vif, inst)
        self.assertIn('No space left on device', str(err))
        # Not half-plugged: the agent and the file have the old port.
        self.assertEqual(old_name,
                         self.agent_ports()[vif.id]['system-name'])
        self.assertEqual(old_name, json.loads(
            self.emu.port_file(vif.id))['system-name'])

    def test_namespace_port_type_by_option(self) -> None:
        self.configure(generic_port_type='NameSpacePort')
        vif = vfix.generic_vif()
        os_vif.plug(vif, vfix.instance())
        self.assertEqual(1, self.agent_ports()[vif.id]['type'])

    def test_tap_need_not_exist(self) -> None:
        vif = vfix.generic_vif(vif_name='tapnotthere0')
        os_vif.plug(vif, vfix.instance())
        self.assertIn(vif.id, self.agent_ports())

    def test_unplug_removes_and_absent_unplug_succeeds(self) -> None:
        vif, inst = vfix.generic_vif(), vfix.instance()
        os_vif.plug(vif, inst)
        os_vif.unplug(vif, inst)
        self.assertEqual({}, self.agent_ports())
        self.assertIsNone(self.emu.port_file(vif.id))
        os_vif.unplug(vif, inst)
        os_vif.unplug(vfix.generic_vif(), inst)

    def test_bad_input_writes_and_sends_nothing(self) -> None:
        cases = [
            ('system-name', vfix.generic_vif(vif_name='tap-much-too-long')),
            ('system-name', vfix.generic_vif(vif_name='tap"x')),
            ('mac-address', vfix.generic_vif(address='ff:ff:ff:ff:ff:ff')),
            ('network', vfix.generic_vif(network=None)),
        ]
        for field, vif in cases:
            err = self.assertPlugFails(exception.InvalidPort, vif)
            self.assertEqual(field, err.kwargs['field'])
            self.assertIn(vif.id, str(err))
        self.assertEqual([], self.emu.emulator.requests)
        self.assertEqual([], os.listdir(self.emu.ports_dir))

    def test_unknown_vif_class(self) -> None:
        vif = objects.vif.VIFBridge(id=str(uuid.uuid4()), plugin='vrouter',
                                    vif_name='tap0', bridge_name='br0')
        err = self.assertPlugFails(exception.UnsupportedVIF, vif)
        self.assertIn('VIFBridge', str(err))

    def test_ports_dir_not_writable(self) -> None:
        blocker = os.path.join(self.emu.ports_dir, 'file')
        with open(blocker, 'w'):
            pass
        self.configure(ports_dir=os.path.join(blocker, 'ports'))
        vif = vfix.generic_vif()
        err = self.assertPlugFails(exception.PortFileError, vif)
        self.assertIn(vif.id, str(err))
        self.assertEqual([], self.emu.emulator.requests)


class TestAgentFailures(PluginTestBase):

    def test_agent_down_kernel_port_deferred_then_replayed(self) -> None:
        self.emu.emulator.stop()
        vif = vfix.generic_vif()
        log = self.useFixture(fixtures.FakeLogger())
        os_vif.plug(vif, vfix.instance())
        self.assertIn('Port %s (%s) is persisted' % (vif.id, vif.vif_name),
                      log.output)
        self.assertIsNotNone(self.emu.port_file(vif.id))
        self.emu.emulator.restart()  # the agent starts: replays the file
        self.assertIn(vif.id, self.agent_ports())

    def test_deferred_port_is_added_once_the_agent_answers(self) -> None:
        # A kernel-mode agent skips port files whose TAP is missing when
        # it starts; the plugin re-adds deferred ports itself.
        self.configure(deferred_retry_interval=0.05)
        self.emu.emulator.stop()
        vif = vfix.generic_vif(vif_name='tapnotyet0')
        os_vif.plug(vif, vfix.instance())
        self.emu.emulator._state_args['check_port'] = True
        self.emu.emulator.restart()
        self.assertEqual(1, len(self.emu.emulator.state.replay_errors))
        for _ in range(200):
            if vif.id in self.agent_ports():
                break
            time.sleep(0.05)
        self.assertIn(vif.id, self.agent_ports())

    def test_agent_down_kernel_port_fails_when_configured(self) -> None:
        self.configure(defer_kernel_ports_when_agent_down=False)
        self.emu.emulator.stop()
        vif = vfix.generic_vif()
        err = self.assertPlugFails(exception.AgentUnreachable, vif)
        self.assertIn(self.emu.url, str(err))
        self.assertIsNone(self.emu.port_file(vif.id))

    def test_agent_down_dpdk_port_fails_and_rolls_back(self) -> None:
        self.emu.emulator.stop()
        vif = vfix.vhostuser_vif(self.emu.sock_dir)
        err = self.assertPlugFails(exception.AgentUnreachable, vif)
        self.assertIn(vif.id, str(err))
        self.assertIsNone(self.emu.port_file(vif.id))

    def test_agent_refusal_names_port_url_status_text(self) -> None:
        body = b'{"error":"{ Invalid VN uuid }"}'
        srv = self.useFixture(vfix.RawServer(
            b'HTTP/1.1 500 OK\r\nContent-Type: application/json\r\n'
            b'Content-Length: %d\r\n\r\n%s' % (len(body), body)))
        self.configure(url=srv.url)
        vif = vfix.generic_vif()
        err = self.assertPlugFails(exception.AgentRefused, vif)
        for part in (vif.id, srv.url, 'HTTP 500', 'Invalid VN uuid'):
            self.assertIn(part, str(err))
        self.assertIsNone(self.emu.port_file(vif.id))  # rolled back
        self.assertEqual(1, len(srv.conns))  # a 500 is not retried

    def test_agent_answering_garbage(self) -> None:
        srv = self.useFixture(vfix.RawServer(b'SSH-2.0-OpenSSH\r\n'))
        self.configure(url=srv.url)
        err = self.assertPlugFails(exception.AgentBadAnswer,
                                   vfix.generic_vif())
        self.assertIn('not valid HTTP', str(err))

    def test_agent_hanging(self) -> None:
        srv = self.useFixture(vfix.RawServer(None))
        self.configure(url=srv.url, agent_read_timeout=0.2)
        err = self.assertPlugFails(exception.AgentBadAnswer,
                                   vfix.generic_vif())
        self.assertIn('no answer within 0.2s', str(err))


class TestPlugVHostUser(PluginTestBase):

    def test_server_mode_is_1_client_mode_0(self) -> None:
        inst = vfix.instance()
        server = vfix.vhostuser_vif(self.emu.sock_dir, mode='server')
        client = vfix.vhostuser_vif(self.emu.sock_dir, mode='client',
                                    plugin='vrouter')
        log = self.useFixture(fixtures.FakeLogger())
        os_vif.plug(server, inst)
        os_vif.plug(client, inst)
        ports = self.agent_ports()
        self.assertEqual(1, ports[server.id]['vhostuser-mode'])
        self.assertEqual(0, ports[client.id]['vhostuser-mode'])
        self.assertEqual(server.vif_name, ports[server.id]['system-name'])
        self.assertIn('force server mode', log.output)

    def test_socket_path_outside_allowed_dirs(self) -> None:
        for path in ('/tmp/uvh_vif_tap0', self.emu.sock_dir + '/../x',
                     'relative/uvh', self.emu.sock_dir + '/sub/uvh_vif_x',
                     self.emu.sock_dir + '/uvh_vif_other-name'):
            vif = vfix.vhostuser_vif(self.emu.sock_dir, path=path)
            err = self.assertPlugFails(exception.InvalidPort, vif)
            self.assertEqual('path', err.kwargs['field'])
        self.assertEqual([], self.emu.emulator.requests)

    def test_unset_fields_are_invalid_port_errors(self) -> None:
        from os_vif import objects
        vif = objects.vif.VIFVHostUser(
            id=str(uuid.uuid4()), plugin='contrail_vrouter',
            address='fa:16:3e:00:00:09', network=vfix.network(['10.0.0.9']),
            vif_name='tap0', mode='server')
        err = self.assertPlugFails(exception.InvalidPort, vif)
        self.assertEqual('path', err.kwargs['field'])
        self.assertIn(vif.id, str(err))

    def test_unplug(self) -> None:
        vif, inst = vfix.vhostuser_vif(self.emu.sock_dir), vfix.instance()
        os_vif.plug(vif, inst)
        os_vif.unplug(vif, inst)
        self.assertEqual({}, self.agent_ports())


class TestTLS(testtools.TestCase):
    """agent_url https:// with a CA bundle and a client certificate."""

    def _cert(self, tmp: str, name: str, cn: str) -> tuple[str, str]:
        import subprocess
        crt, key = os.path.join(tmp, name + '.crt'), os.path.join(
            tmp, name + '.key')
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048',
                        '-nodes', '-keyout', key, '-out', crt, '-days', '1',
                        '-subj', '/CN=' + cn, '-addext',
                        'subjectAltName=IP:127.0.0.1'],
                       check=True, capture_output=True)
        return crt, key

    def test_plug_over_tls_with_client_certificate(self) -> None:
        import ssl
        tmp = self.useFixture(fixtures.TempDir()).path
        server_crt, server_key = self._cert(tmp, 'server', '127.0.0.1')
        client_crt, client_key = self._cert(tmp, 'client', 'nova')
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(server_crt, server_key)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_crt)
        emu = self.useFixture(vfix.EmulatorFixture(ssl_context=ctx))
        self.assertTrue(emu.url.startswith('https://'))
        self.useFixture(vfix.PluginConfigFixture(
            emu.url, emu.ports_dir, emu.sock_dir,
            agent_ca_file=server_crt, agent_cert_file=client_crt,
            agent_key_file=client_key))
        vif = vfix.generic_vif()
        os_vif.plug(vif, vfix.instance())
        self.assertIn(vif.id, emu.emulator.state.ports)

    def test_untrusted_agent_certificate_fails_the_plug(self) -> None:
        import ssl
        tmp = self.useFixture(fixtures.TempDir()).path
        server_crt, server_key = self._cert(tmp, 'server', '127.0.0.1')
        other_crt, _ = self._cert(tmp, 'other', 'other')
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(server_crt, server_key)
        emu = self.useFixture(vfix.EmulatorFixture(ssl_context=ctx))
        # Not "agent down": the kernel port must not be deferred.
        self.useFixture(vfix.PluginConfigFixture(
            emu.url, emu.ports_dir, emu.sock_dir, agent_ca_file=other_crt))
        vif = vfix.generic_vif()
        exc = self.assertRaises(osv_exception.PlugException, os_vif.plug,
                                vif, vfix.instance())
        self.assertIsInstance(exc.kwargs['err'], exception.AgentBadAnswer)
        self.assertIn('CERTIFICATE_VERIFY_FAILED', str(exc))
        self.assertEqual({}, emu.emulator.state.ports)
        self.assertIsNone(emu.port_file(vif.id))


class TestIdsMustBeUUIDs(PluginTestBase):

    def test_non_uuid_port_and_instance_ids(self) -> None:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            vif = vfix.generic_vif(port_id='port-1')
            err = self.assertPlugFails(exception.InvalidPort, vif)
            self.assertEqual('id', err.kwargs['field'])
            inst = objects.instance_info.InstanceInfo(uuid='vm-1', name='x')
            err = self.assertPlugFails(exception.InvalidPort,
                                       vfix.generic_vif(), inst)
            self.assertEqual('instance-id', err.kwargs['field'])
            self.assertRaises(osv_exception.UnplugException, os_vif.unplug,
                              vif, inst)
        self.assertEqual([], self.emu.emulator.requests)
