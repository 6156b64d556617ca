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
"""The driver's and the agent's ``[spp]`` options side by side."""

from oslo_config import cfg
import testtools

from spp_neutron import config
from vif_plug_spp import agent


class TestSharedGroup(testtools.TestCase):

    def test_driver_and_agent_options_register_in_one_process(self):
        # An all-in-one host (or one sample config of both namespaces)
        # reads both sets from [spp]: every shared name must be one
        # definition, or oslo.config raises DuplicateOptError.
        conf = cfg.ConfigOpts()
        conf.register_opts(agent.AGENT_OPTS, agent.GROUP)
        config.register_opts(conf)
        conf([])
        self.assertEqual(10.0, conf.spp.watch_idle_timeout)
        self.assertEqual([], conf.spp.etcd_endpoints)
