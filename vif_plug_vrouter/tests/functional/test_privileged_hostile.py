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
"""Hostile arguments to the privileged entrypoints, through a real daemon.

The privsep daemon runs as root in the test's network namespace; every
refusal must be ``InvalidInput`` (rebuilt on this side) and leave the
namespace's links, sysctls, the fake sysfs and the ports directory as
they were.
"""

from __future__ import annotations

import errno
import os
import uuid

from os_vif_accel import validate

from vif_plug_vrouter import privileged
from vif_plug_vrouter.tests.functional import test_offload
from vif_plug_vrouter.tests.unit.hostile import entries


class TestPrivilegedRefusals(test_offload.OffloadTestBase):

    def sysctls(self) -> dict[str, str]:
        return {name: self.netns.sysctl('net/ipv6/conf/%s/disable_ipv6' %
                                        name) for name in ('all', 'default')}

    def test_refusals_change_nothing(self) -> None:
        before = self.host(), self.sysctls()
        vf = sorted(self.nic.vfs)[0]
        rec = dict(entries.base_record(), **{'display-name': 'vm\udcff'})
        calls = [
            (privileged.set_ipv6_disabled, 'all', True),
            (privileged.set_ipv6_disabled, 'default', True),
            (privileged.set_link_up, 'eth0\n', True),
            (privileged.set_link_up, self.nic.uplinks[0], 'false'),
            (privileged.set_mtu, self.nic.uplinks[0], True),
            (privileged.rename_link, self.nic.uplinks[0], 'tap\udcff'),
            (privileged.set_vf, self.nic.uplinks[0], True, None, 0),
            (privileged.bind_vf_driver, self.nic.root, vf, 'vfio-pci',
             True),
            (privileged.restore_vf_driver, self.nic.root, vf, 'mlx5_core',
             None, '5'),
            (privileged.write_port_file, self.ports_dir, rec, None),
            (privileged.write_port_file, self.ports_dir,
             entries.base_record(), {'rep-name': 'x\udcff'}),
            (privileged.write_port_file, self.ports_dir,
             dict(entries.base_record(), **{'link-state': True}), None),
        ]
        for func, *args in calls:
            self.assertRaises(validate.InvalidInput, func, *args)
        self.assertEqual(before, (self.host(), self.sysctls()))

    def test_port_file_symlink_not_followed_by_the_daemon(self) -> None:
        port_id = str(uuid.uuid4())
        os.symlink('/etc/shadow', os.path.join(self.ports_dir, port_id))
        exc = self.assertRaises(OSError, privileged.read_port_file,
                                self.ports_dir, port_id)
        self.assertEqual(errno.ELOOP, exc.errno)
