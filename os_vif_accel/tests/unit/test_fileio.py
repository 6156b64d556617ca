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
"""Atomic, durable port-file writes."""

from __future__ import annotations

import os
from unittest import mock

import fixtures
import testtools

from os_vif_accel import fileio


class TestAtomicWrite(testtools.TestCase):

    def setUp(self) -> None:
        super().setUp()
        self.dir = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                'ports')

    def test_creates_directory_and_file(self) -> None:
        path = fileio.atomic_write(self.dir, 'a', b'data')
        with open(path, 'rb') as f:
            self.assertEqual(b'data', f.read())
        self.assertEqual(0o644, os.stat(path).st_mode & 0o777)
        self.assertEqual(['a'], os.listdir(self.dir))

    def test_failure_keeps_previous_content_and_no_temp_file(self) -> None:
        fileio.atomic_write(self.dir, 'a', b'old')
        with mock.patch('os.fsync', side_effect=OSError(28, 'ENOSPC')):
            self.assertRaises(OSError, fileio.atomic_write, self.dir, 'a',
                              b'new')
        self.assertEqual(['a'], os.listdir(self.dir))
        self.assertEqual('old', fileio.read_text(os.path.join(self.dir, 'a')))

    def test_temp_names_never_start_with_the_target(self) -> None:
        seen = []
        real_rename = os.rename

        def rename(src: str, dst: str) -> None:
            seen.append(os.path.basename(src))
            real_rename(src, dst)
        with mock.patch('os.rename', rename):
            fileio.atomic_write(self.dir, 'uuid', b'x')
        self.assertTrue(seen[0].startswith('.tmp-'))

    def test_remove(self) -> None:
        fileio.atomic_write(self.dir, 'a', b'x')
        self.assertTrue(fileio.remove_durable(self.dir, 'a'))
        self.assertFalse(fileio.remove_durable(self.dir, 'a'))
        self.assertFalse(fileio.remove_durable(self.dir + '/missing', 'a'))
