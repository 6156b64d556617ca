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
"""A secured three-member cluster per test class, one user per role.

Every SPP component of host ``H`` runs as its own etcd user holding only
its role of :mod:`vif_plug_spp.etcd_roles`, with its own client
certificate: what a component needs beyond its role shows up as a
permission error here, not in production.
"""

import os

from os_vif_accel.testing import etcd_cluster
from os_vif_accel.testing import etcd_gateway
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import etcd_roles
from vif_plug_spp.tests.functional import base

H = 'cmp-a'


class SecureClusterCase(base.WaitingCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cluster = etcd_cluster.EtcdCluster().start()
        cls.roles = {r.name: r for r in etcd_roles.host_roles(H) +
                     [etcd_roles.ml2()]}
        cls.pairs = {}
        for name, role in cls.roles.items():
            etcd_gateway.add_user(cls.cluster.root, name, cls.password(name))
            etcd_gateway.add_role(cls.cluster.root, role, name)
            cls.pairs[name] = cls.cluster.pki.client(name)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()
        super().tearDownClass()

    @staticmethod
    def password(user):
        return 'pw-%s-secret' % user

    def settings(self, user, **overrides):
        """The etcd connection options of the component ``user``."""
        pair = self.pairs.get(user) or self.cluster.client_pair
        out = {'endpoints': list(self.cluster.endpoints),
               'ca_file': self.cluster.pki.ca.cert,
               'cert_file': pair.cert, 'key_file': pair.key,
               'username': user, 'password': self.password(user)}
        out.update(overrides)
        return out

    def client(self, user, **overrides):
        """The project's etcd client as component ``user``."""
        kwargs = {k: overrides.pop(k) for k in
                  ('connect_timeout', 'read_timeout', 'retry_window')
                  if k in overrides}
        client = etcd_mod.EtcdClient(**self.settings(user, **overrides),
                                     **kwargs)
        self.addCleanup(client.close)
        return client

    def option_lines(self, user, credentials_file=None):
        """The same settings as ``etcd_*`` lines of a configuration
        file; the password in a 0600 file when ``credentials_file``.
        """
        s = self.settings(user)
        lines = ['etcd_endpoints = %s' % ','.join(s['endpoints']),
                 'etcd_ca_file = %s' % s['ca_file'],
                 'etcd_cert_file = %s' % s['cert_file'],
                 'etcd_key_file = %s' % s['key_file']]
        if credentials_file:
            fd = os.open(credentials_file,
                         os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, 'w') as f:
                f.write('%s:%s\n' % (user, s['password']))
            lines.append('etcd_credentials_file = %s' % credentials_file)
        else:
            lines += ['etcd_username = %s' % user,
                      'etcd_password = %s' % s['password']]
        return lines
