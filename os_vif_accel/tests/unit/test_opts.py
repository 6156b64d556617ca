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

from __future__ import annotations

import testtools

from os_vif_accel import opts


class TestClientTimeoutOpts(testtools.TestCase):

    def test_names_defaults_bounds_and_help(self) -> None:
        built = opts.client_timeout_opts('spp_ctl', 'spp-ctl', read=7.0)
        self.assertEqual(
            [('spp_ctl_connect_timeout', 1.0, 0.01),
             ('spp_ctl_read_timeout', 7.0, 0.01),
             ('spp_ctl_retry_window', 2.0, 0.0)],
            [(o.name, o.default, o.type.min) for o in built])
        self.assertEqual('Seconds to wait for each spp-ctl answer.',
                         built[1].help)

    def test_helps_replace_the_generic_texts_in_order(self) -> None:
        built = opts.client_timeout_opts('agent', 'the agent',
                                         helps=('c', 'r', 'w'))
        self.assertEqual([('agent_connect_timeout', 'c'),
                          ('agent_read_timeout', 'r'),
                          ('agent_retry_window', 'w')],
                         [(o.name, o.help) for o in built])
