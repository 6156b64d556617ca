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

from os_vif_accel import undo


class Refused(Exception):
    pass


class TestUndo(testtools.TestCase):

    def setUp(self) -> None:
        super().setUp()
        self.done: list[str] = []

    def step(self, name: str, fail: type[Exception] | None = None):
        def run() -> None:
            self.done.append(name)
            if fail is not None:
                raise fail(name)
        return run

    def test_newest_first_and_forgotten(self) -> None:
        u = undo.Undo()
        for name in ('rename', 'mtu', 'vf'):
            u.add(name, self.step(name))
        self.assertEqual(['rename', 'mtu', 'vf'], u.names)
        result = u.run()
        self.assertEqual(['vf', 'mtu', 'rename'], self.done)
        self.assertTrue(result.rolled_back)
        self.assertEqual((), result.failed)
        # A second run (e.g. an outer cleanup) undoes nothing twice.
        self.assertTrue(u.run().rolled_back)
        self.assertEqual(['vf', 'mtu', 'rename'], self.done)
        self.assertEqual(0, len(u))

    def test_failed_steps_reported_and_the_rest_still_run(self) -> None:
        u = undo.Undo(catch=(Refused,))
        u.add('first', self.step('first'))
        u.add('second', self.step('second', Refused))
        u.add('third', self.step('third', Refused))
        u.add('fourth', self.step('fourth'))
        result = u.run()
        self.assertEqual(['fourth', 'third', 'second', 'first'], self.done)
        self.assertFalse(result.rolled_back)
        self.assertEqual(('third', 'second'), result.failed)

    def test_error_not_caught_propagates(self) -> None:
        # A bug in an undo step is not a refused step: it is not hidden.
        u = undo.Undo(catch=(Refused,))
        u.add('first', self.step('first'))
        u.add('buggy', self.step('buggy', KeyError))
        self.assertRaises(KeyError, u.run)
        self.assertEqual(['buggy'], self.done)
