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
"""Builder writes and destroy against a real etcd."""

import io
import json
from contextlib import redirect_stderr

from vif_plug_spp import builder
from vif_plug_spp.cmd import config_build
from vif_plug_spp import keys
from vif_plug_spp.tests.functional import base


class TestBuilderEtcd(base.EtcdClassCase):

    def write(self, mappings=base.MAPPINGS, mirror=None, force=False,
              host=None):
        config = builder.build(mappings, mirror)
        return builder.write(self.etcd, host or self.host, config,
                             force=force)

    def test_writes_configuration_and_free_slots(self):
        self.write(mirror='2#0x30002')
        conf = json.loads(self.etcd.get(keys.configuration(self.host)))
        self.assertEqual(['phys1', 'phys2'],
                         [vf['physical_network'] for vf in conf['vf']])
        kvs, _rev = self.etcd.get_prefix(keys.vhost_prefix(self.host))
        self.assertEqual({keys.vhost(self.host, 'phys1', 0): 'None',
                          keys.vhost(self.host, 'phys1', 1): 'None',
                          keys.vhost(self.host, 'phys2', 2): 'None',
                          keys.vhost(self.host, 'phys2', 3): 'None'},
                         {kv.key: kv.value for kv in kvs})
        self.assertEqual('None', self.etcd.get(keys.mirror(self.host, 1)))

    def test_never_overwrites_used_slot_without_force(self):
        self.write()
        slot = keys.vhost(self.host, 'phys1', 1)
        self.etcd.put(slot, 'port-x')
        exc = self.assertRaises(builder.BuildError, self.write)
        self.assertIn('%s=port-x' % slot, str(exc))
        self.assertIn('--force', str(exc))
        self.assertEqual('port-x', self.etcd.get(slot))
        self.write(force=True)
        self.assertEqual('None', self.etcd.get(slot))

    def test_shrinking_deletes_stale_free_slots(self):
        self.write()
        result = self.write('00:04.0#phys1#1#0xfe')
        self.assertIn(keys.vhost(self.host, 'phys2', 3), result['deleted'])
        kvs, _rev = self.etcd.get_prefix(keys.vhost_prefix(self.host))
        self.assertEqual([keys.vhost(self.host, 'phys1', 0)],
                         [kv.key for kv in kvs])

    def test_rewrite_is_idempotent(self):
        self.write()
        slot = keys.vhost(self.host, 'phys1', 0)
        rev = self.etcd.get_kv(slot).mod_revision
        self.write()
        self.assertEqual(rev, self.etcd.get_kv(slot).mod_revision)

    def test_destroy_only_touches_this_host(self):
        other = self.host + '0'        # spp1 vs spp10
        self.write()
        self.write(host=other)
        self.etcd.put(keys.bind_port(other, 'p'), '{}')
        builder.destroy(self.etcd, self.host)
        self.assertIsNone(self.etcd.get(keys.configuration(self.host)))
        self.assertEqual([], self.etcd.get_prefix(
            keys.vhost_prefix(self.host))[0])
        self.assertIsNotNone(self.etcd.get(keys.configuration(other)))
        self.assertEqual(4, len(self.etcd.get_prefix(
            keys.vhost_prefix(other))[0]))
        self.assertEqual('{}', self.etcd.get(keys.bind_port(other, 'p')))

    def test_destroy_refuses_bound_host_without_force(self):
        self.write()
        self.etcd.put(keys.vhost(self.host, 'phys2', 2), 'port-y')
        exc = self.assertRaises(builder.BuildError, builder.destroy,
                                self.etcd, self.host)
        self.assertIn('port-y', str(exc))
        builder.destroy(self.etcd, self.host, force=True)
        self.assertIsNone(self.etcd.get(keys.configuration(self.host)))

    def test_command_line_write_and_refusal(self):
        argv = ['--host', self.host, '--mappings', base.MAPPINGS,
                '--etcd-host', self.server.host,
                '--etcd-port', str(self.server.port)]
        lines = []
        self.assertEqual(0, config_build.run(argv, lines.append))
        self.assertIn('# wrote 5 key(s), deleted 0 stale slot key(s)', lines)
        self.etcd.put(keys.vhost(self.host, 'phys1', 0), 'port-z')
        err = io.StringIO()
        with redirect_stderr(err):
            self.assertEqual(2, config_build.main(argv))
        self.assertIn('refusing to overwrite', err.getvalue())
        with redirect_stderr(err):
            self.assertEqual(2, config_build.main(['destroy'] + argv[:2] +
                                                  argv[4:]))
        self.assertEqual(0, config_build.run(['destroy', '--force'] +
                                             argv[:2] + argv[4:],
                                             lines.append))
        self.assertIsNone(self.etcd.get(keys.configuration(self.host)))
