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
"""``spp-agent`` starts without oslo.messaging (and so without eventlet's
deprecation warning) unless state reports are enabled, and still finds a
``transport_url`` set in its configuration files.
"""

import os
import subprocess
import sys
import textwrap

import fixtures
from oslo_config import cfg
import testtools

from vif_plug_spp import report

BIN = os.path.dirname(sys.executable)

# Start-up as main() does it, up to the point where the agent would run.
_STARTUP = textwrap.dedent('''
    import sys
    from vif_plug_spp.cmd import agent
    from vif_plug_spp import report
    conf, _agent = agent._setup(sys.argv[1:])
    print(report.from_conf(conf, conf.host, {}) is None,
          'oslo_messaging' in sys.modules)
''')


def _env() -> dict[str, str]:
    """The environment without tox's warning filter: the test must see
    every warning a user would.
    """
    env = dict(os.environ)
    env.pop('PYTHONWARNINGS', None)
    return env


class TestAgentStartup(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def _conf_file(self, text: str) -> str:
        path = os.path.join(self.tmp, 'spp-agent.conf')
        with open(path, 'w') as f:
            f.write(textwrap.dedent(text))
        return path

    def test_help_prints_no_eventlet_warning(self):
        proc = subprocess.run([os.path.join(BIN, 'spp-agent'), '--help'],
                              capture_output=True, text=True, env=_env(),
                              timeout=60)
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertIn('usage: spp-agent', proc.stdout)
        self.assertNotIn('Eventlet', proc.stderr)
        self.assertNotIn('Warning', proc.stderr)

    def test_startup_without_transport_url_skips_messaging(self):
        path = self._conf_file('''
            [DEFAULT]
            host = compute1
            ''')
        proc = subprocess.run(
            [sys.executable, '-c', _STARTUP, '--config-file', path],
            capture_output=True, text=True, env=_env(), timeout=60)
        self.assertEqual(0, proc.returncode, proc.stderr)
        # No reporter, oslo.messaging never imported, no warning.
        self.assertEqual('True False', proc.stdout.splitlines()[-1])
        self.assertNotIn('Eventlet', proc.stderr)

    def test_transport_url_in_config_file_enables_reports(self):
        path = self._conf_file('''
            [DEFAULT]
            transport_url = fake:/
            [AGENT]
            report_interval = 5
            ''')
        conf = cfg.ConfigOpts()
        report.register_opts(conf)
        conf(['--config-file', path], project='spp-agent')
        self.assertNotIn('transport_url', conf)
        reporter = report.from_conf(conf, 'compute1', {})
        self.assertIsNotNone(reporter)
        self.assertEqual(5.0, reporter.interval)
        self.assertEqual('fake:/', conf.transport_url)
