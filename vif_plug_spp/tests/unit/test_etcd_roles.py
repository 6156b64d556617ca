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
"""The least-privilege etcd roles and the guide that prints them.

What the roles allow is proven against a real cluster in
``tests/functional/test_etcd_roles.py``; here: no role reaches another
host, and the operator guide shows exactly the commands the code makes.
"""

import os

import testtools

from vif_plug_spp import etcd_roles
from vif_plug_spp import keys
from vif_plug_spp import served

GUIDE = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'doc',
                     'source', 'admin', 'etcd-security.rst')


def _covers(perm, key):
    return key.startswith(perm.key) if perm.prefix else key == perm.key


class TestRoles(testtools.TestCase):

    def test_host_roles_never_reach_a_host_with_a_longer_name(self):
        # 'compute-1' must not cover 'compute-10': prefixes end in '/'.
        other = [keys.configuration('compute-10'),
                 served.marker('compute-10')]
        other += [p + 'x' for p in keys.host_prefixes('compute-10')]
        for role in etcd_roles.host_roles('compute-1'):
            for perm in role.permissions:
                if perm.prefix:
                    self.assertTrue(perm.key.endswith('/'), perm)
                for key in other:
                    self.assertFalse(_covers(perm, key), (role.name, key))

    def test_agent_serves_every_per_host_prefix_plugin_writes_status_only(
            self):
        agent = etcd_roles.agent('h')
        for prefix in keys.host_prefixes('h'):
            self.assertIn(etcd_roles.Permission(etcd_roles.READWRITE,
                                                prefix, True),
                          agent.permissions)
        writable = [p.key for p in etcd_roles.plugin('h').permissions
                    if p.perm != etcd_roles.READ]
        self.assertEqual([keys.port_status_prefix('h')], writable)

    def test_ml2_cannot_touch_configuration_or_markers(self):
        for perm in etcd_roles.ml2().permissions:
            self.assertFalse(_covers(perm, served.marker('h')))
            if _covers(perm, keys.configuration('h')):
                self.assertEqual(etcd_roles.READ, perm.perm)

    def test_guide_shows_exactly_the_generated_commands(self):
        with open(GUIDE) as f:
            guide = [line.strip() for line in f
                     if line.strip().startswith('etcdctl role') or
                     line.strip().startswith('etcdctl user grant-role spp')]
        made = []
        for role in etcd_roles.host_roles('compute-1') + [etcd_roles.ml2()]:
            made += etcd_roles.etcdctl_commands(role, role.name)
        self.assertEqual(made, guide)
