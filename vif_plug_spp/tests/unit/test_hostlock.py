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
"""How the host lock opens its file.

The functional test (two users) cannot show the ``O_CREAT`` refusal
where ``fs.protected_regular`` is 0, as on many CI machines; this pins
the flags the real open gets, so reintroducing ``O_CREAT`` (or write
access) on an existing file fails everywhere.
"""

import os
import tempfile
from unittest import mock

import testtools

from vif_plug_spp import hostlock


class TestOpenFlags(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.path = os.path.join(tempfile.mkdtemp(), 'spp.lock')
        self.addCleanup(os.rmdir, os.path.dirname(self.path))
        self.addCleanup(lambda: os.path.exists(self.path) and
                        os.unlink(self.path))

    def _flags(self):
        with mock.patch.object(hostlock.os, 'open', wraps=os.open) as spy:
            with hostlock.host_lock(self.path):
                pass
        return [call.args[1] for call in spy.call_args_list]

    def test_existing_file_opened_read_only_without_create(self):
        os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        flags = self._flags()
        self.assertEqual(1, len(flags))
        self.assertEqual(os.O_RDONLY, flags[0] & os.O_ACCMODE)
        self.assertFalse(flags[0] & os.O_CREAT)

    def test_missing_file_created_exclusively_not_writable_by_others(self):
        flags = self._flags()
        self.assertTrue(flags[-1] & os.O_CREAT and flags[-1] & os.O_EXCL)
        self.assertEqual(0, os.stat(self.path).st_mode & 0o022)
