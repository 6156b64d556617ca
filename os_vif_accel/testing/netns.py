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
"""A throwaway network namespace and commands run in it, for tests.

:class:`NetnsFixture` holds the real netdevs behind the fake SmartNIC of
:mod:`os_vif_accel.testing.sriov_tree`; :func:`helper_command` starts the
test privsep daemon inside such a namespace.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from typing import Any

import fixtures

__all__ = ['helper_command', 'run', 'NetnsFixture']


def helper_command(netns: str, conf: str, ports_dirs: list[str],
                   sysfs_roots: list[str]) -> str:
    """``helper_command`` starting the privsep daemon inside ``netns``.

    The daemon reads where it may write from its own configuration file;
    it runs the test privsep helper (VF double, injected failures).
    """
    with open(conf, 'w') as f:
        f.write('[vif_plug_vrouter_privileged]\n'
                'allowed_ports_dirs = %s\n'
                'allowed_sysfs_roots = %s\n' % (','.join(ports_dirs),
                                                ','.join(sysfs_roots)))
    return ('ip netns exec %s %s -m os_vif_accel.testing.'
            'privsep_helper --config-file %s' % (netns, sys.executable,
                                                 conf))


def run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True,
                          text=True).stdout


class NetnsFixture(fixtures.Fixture):
    """A network namespace with a random name, deleted on cleanup."""

    def _setUp(self) -> None:
        self.name = 'osva-%s' % secrets.token_hex(4)
        run('ip', 'netns', 'add', self.name)
        self.addCleanup(run, 'ip', 'netns', 'del', self.name)
        self.ip('link', 'set', 'lo', 'up')

    def ip(self, *args: str) -> str:
        return run('ip', '-n', self.name, *args)

    def links(self) -> dict[str, dict[str, Any]]:
        """Every netdev of the namespace, as netlink reports it."""
        return {link['ifname']: link for link in
                json.loads(self.ip('-j', '-d', 'link', 'show'))}

    def sysctl(self, path: str) -> str:
        return run('ip', 'netns', 'exec', self.name, 'cat',
                   '/proc/sys/' + path).strip()

    def ipv6_addrs(self, ifname: str) -> list[str]:
        out = json.loads(self.ip('-j', '-6', 'addr', 'show', 'dev', ifname))
        return [a['local'] for entry in out
                for a in entry.get('addr_info', [])]

    def add_tap(self, name: str) -> int:
        self.ip('tuntap', 'add', 'mode', 'tap', 'name', name)
        return int(self.links()[name]['ifindex'])

    def add_veth(self, name: str, peer: str) -> int:
        self.ip('link', 'add', name, 'type', 'veth', 'peer', 'name', peer)
        return int(self.links()[name]['ifindex'])
