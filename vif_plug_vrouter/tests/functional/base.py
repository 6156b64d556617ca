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
"""Base class of the functional tests: real privsep, real emulator."""

from __future__ import annotations

import os

from oslo_config import cfg
from oslo_config import fixture as config_fixture
import testtools

from os_vif_accel.sandbox import vrouter as sandbox
from vif_plug_vrouter import privsep
from os_vif_accel.testing import vrouter_fixtures as vfix


class FunctionalTestCase(testtools.TestCase):
    """Needs root: starts the plugin's privsep daemon for real."""

    def setUp(self) -> None:
        super().setUp()
        if os.geteuid() != 0:
            self.fail('functional tests need root (privsep daemon, '
                      'network namespaces); run them with sudo or in CI')
        self.emu = self.useFixture(vfix.EmulatorFixture())
        conf = self.useFixture(config_fixture.Config(cfg.CONF))
        conf.config(group='vif_plug_vrouter_privileged',
                    helper_command=sandbox.privsep_helper_command(
                        self.emu.ports_dir))
        self.useFixture(vfix.PluginConfigFixture(
            self.emu.url, self.emu.ports_dir, self.emu.sock_dir,
            privileged=True))
        self.privsep = privsep.vif_plug
        # Each test has its own ports dir, which the daemon reads from its
        # own configuration: give every test a fresh daemon.
        self.privsep.stop()
        self.addCleanup(self.privsep.stop)
