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
"""Deferred loggers and modules."""

from __future__ import annotations

import os
import sys

import fixtures
import testtools

from os_vif_accel import lazy


class TestLazy(testtools.TestCase):

    def test_module_runs_on_first_attribute_access(self) -> None:
        tmp = self.useFixture(fixtures.TempDir()).path
        name = 'lazy_probe_%d' % os.getpid()
        with open(os.path.join(tmp, name + '.py'), 'w') as f:
            f.write('import sys\nsys.lazy_probe_ran = True\nVALUE = 42\n')
        self.useFixture(fixtures.MonkeyPatch('sys.path', [tmp] + sys.path))
        self.addCleanup(sys.modules.pop, name, None)
        self.addCleanup(lambda: sys.__dict__.pop('lazy_probe_ran', None))
        mod = lazy.module(name)
        self.assertFalse(getattr(sys, 'lazy_probe_ran', False))
        self.assertIs(mod, __import__(name))
        self.assertEqual(42, mod.VALUE)
        self.assertTrue(sys.lazy_probe_ran)  # type: ignore[attr-defined]
        self.assertIs(mod, lazy.module(name))

    def test_missing_module(self) -> None:
        self.assertRaises(ImportError, lazy.module, 'no_such_module_xyz')

    def test_logger_setup_runs_once_on_first_use(self) -> None:
        calls = []
        self.useFixture(fixtures.MonkeyPatch(
            'os_vif_accel.lazy._first_use', None))
        lazy.on_first_use(lambda: calls.append(1))
        log = lazy.getLogger('os_vif_accel.tests.lazy')
        self.assertEqual([], calls)
        log.debug('x')
        log.debug('y')
        lazy.getLogger('other').debug('z')
        self.assertEqual([1], calls)
        self.assertEqual('os_vif_accel.tests.lazy', log.name if hasattr(
            log, 'name') else log.logger.name)
