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
"""The host lock across users, as on a compute node: nova-compute creates
the lock file, spp-agent runs as another user (functional: needs root to
act as two users).
"""

import os
import subprocess
import sys
import tempfile

import testtools

# Imports come first: the interpreter's files may be readable by root only.
_LOCK = ('import os, sys; from vif_plug_spp import hostlock;'
         'os.setgid(%(uid)d); os.setuid(%(uid)d);'
         'c = hostlock.host_lock(sys.argv[1]); c.__enter__(); print("ok")')


class TestHostLockAcrossUsers(testtools.TestCase):

    def _lock_as(self, uid: int, path: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, '-c', _LOCK % {'uid': uid}, path],
            capture_output=True, text=True, timeout=30)

    def test_another_users_lock_file_in_sticky_tmp(self):
        # The file is not writable for the agent's user, and /tmp is
        # sticky and world-writable (where fs.protected_regular forbids
        # O_CREAT on it): the lock needs neither write access nor O_CREAT.
        # With fs.protected_regular = 0 only the write access is shown
        # here; unit.test_hostlock pins the open flags.
        top = tempfile.mkdtemp()
        self.addCleanup(subprocess.run, ['rm', '-rf', top])
        os.chmod(top, 0o1777)
        path = os.path.join(top, 'os-vif-spp-compute-1.lock')
        created = self._lock_as(4242, path)
        self.assertEqual('ok', created.stdout.strip(), created.stderr)
        self.assertEqual(4242, os.stat(path).st_uid)
        self.assertEqual(0, os.stat(path).st_mode & 0o022)
        other = self._lock_as(4343, path)
        self.assertEqual('ok', other.stdout.strip(), other.stderr)

    def test_read_only_lock_file_made_by_the_operator(self):
        # A lock file an operator (or a package) made for nova, mode 0644:
        # the agent's user may lock it, and nobody widens its mode.
        top = tempfile.mkdtemp()
        self.addCleanup(subprocess.run, ['rm', '-rf', top])
        os.chmod(top, 0o755)
        path = os.path.join(top, 'spp.lock')
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
        os.chmod(path, 0o644)
        os.chown(path, 4242, 4242)
        other = self._lock_as(4343, path)
        self.assertEqual('ok', other.stdout.strip(), other.stderr)
        self.assertEqual(0o644, os.stat(path).st_mode & 0o777)
