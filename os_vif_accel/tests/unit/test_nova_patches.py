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
"""os-vif-accel-nova-patches on small synthetic Nova trees (real patch)."""

from __future__ import annotations

import contextlib
import difflib
import io
import os
import subprocess

import fixtures
import testtools

from os_vif_accel import nova_patches

BASE = ''.join('line %d\n' % i for i in range(1, 31))
STEP1 = BASE.replace('line 10\n', 'line 10\nspp 1\n')
# The second patch's context includes the first patch's line.
STEP2 = STEP1.replace('spp 1\n', 'spp 1\nslot 2\n')
EXC_BASE = 'class A:\n    pass\n'
EXC_STEP2 = EXC_BASE + '\n\nclass Missing:\n    pass\n'


def _diff(rel: str, old: str, new: str) -> str:
    return ''.join(difflib.unified_diff(
        old.splitlines(True), new.splitlines(True),
        fromfile='a/' + rel, tofile='b/' + rel))


class NovaPatchesTestCase(testtools.TestCase):

    def setUp(self) -> None:
        super().setUp()
        tmp = self.useFixture(fixtures.TempDir()).path
        self.site = os.path.join(tmp, 'site')
        self.series_dir = os.path.join(tmp, 'series')
        os.makedirs(os.path.join(self.site, 'nova', 'network'))
        os.makedirs(self.series_dir)
        self._write('nova/__init__.py', '')
        self._write('nova/network/os_vif_util.py', BASE)
        self._write('nova/exception.py', EXC_BASE)
        self.set_version('34.0.0')
        self._patch('0001-one.patch', 'Subject: [PATCH 1/2] one\n\n',
                    _diff('nova/network/os_vif_util.py', BASE, STEP1))
        self._patch('0002-two.patch', 'Subject: [PATCH 2/2] two\n\n',
                    _diff('nova/network/os_vif_util.py', STEP1, STEP2) +
                    _diff('nova/exception.py', EXC_BASE, EXC_STEP2))
        self._series('# target: nova==34.0.0\n0001-one.patch\n'
                      '# a comment\n\n0002-two.patch\n')

    # -- helpers -------------------------------------------------------
    def _write(self, rel: str, text: str) -> None:
        with open(os.path.join(self.site, rel), 'w') as f:
            f.write(text)

    def _read(self, rel: str) -> str:
        with open(os.path.join(self.site, rel)) as f:
            return f.read()

    def _patch(self, name: str, header: str, body: str) -> None:
        with open(os.path.join(self.series_dir, name), 'w') as f:
            f.write('From 0000 Mon Sep 17 00:00:00 2001\n' + header +
                    '---\n' + body)

    def _series(self, text: str) -> None:
        with open(os.path.join(self.series_dir, 'series'), 'w') as f:
            f.write(text)

    def set_version(self, version: str) -> None:
        info = os.path.join(self.site, 'nova-X.dist-info')
        os.makedirs(info, exist_ok=True)
        with open(os.path.join(info, 'METADATA'), 'w') as f:
            f.write('Metadata-Version: 2.1\nName: nova\nVersion: %s\n'
                    % version)

    def run_tool(self, *args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        argv = list(args) + ['--series-dir', self.series_dir]
        if '--nova-tree' not in args:
            argv += ['--site-packages', self.site]
        with contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            rc = nova_patches.main(argv)
        return rc, out.getvalue(), err.getvalue()

    def snapshot(self) -> tuple[str, str]:
        return (self._read('nova/network/os_vif_util.py'),
                self._read('nova/exception.py'))

    # -- tests ---------------------------------------------------------
    def test_check_apply_idempotent_status_revert(self) -> None:
        rc, out, _ = self.run_tool('check')
        self.assertEqual(0, rc)
        self.assertIn('0 of 2 patches applied, 2 can be applied', out)
        self.assertEqual((BASE, EXC_BASE), self.snapshot())

        rc, out, _ = self.run_tool('apply')
        self.assertEqual(0, rc)
        self.assertEqual((STEP2, EXC_STEP2), self.snapshot())

        rc, out, _ = self.run_tool('apply')
        self.assertEqual(0, rc)
        self.assertIn('nothing to do', out)
        self.assertEqual((STEP2, EXC_STEP2), self.snapshot())

        rc, out, _ = self.run_tool('status')
        self.assertEqual(0, rc)
        self.assertEqual(['applied', 'applied'],
                         [line.split(None, 1)[1]
                          for line in out.splitlines()])

        rc, out, _ = self.run_tool('revert')
        self.assertEqual(0, rc)
        self.assertEqual((BASE, EXC_BASE), self.snapshot())
        rc, out, _ = self.run_tool('revert')
        self.assertEqual(0, rc)
        self.assertIn('nothing to do', out)

    def test_apply_completes_a_partly_applied_series(self) -> None:
        self._write('nova/network/os_vif_util.py', STEP1)

        rc, out, _ = self.run_tool('status')
        self.assertEqual(['applied', 'not applied'],
                         [line.split(None, 1)[1]
                          for line in out.splitlines()])

        self.assertEqual(0, self.run_tool('apply')[0])
        self.assertEqual((STEP2, EXC_STEP2), self.snapshot())

    def test_version_mismatch_refused_unchanged(self) -> None:
        self.set_version('33.0.0')

        for cmd in ('check', 'apply', 'revert', 'status'):
            rc, out, err = self.run_tool(cmd)
            self.assertEqual(2, rc, cmd)
            self.assertIn('targets nova==34.0.0', err)
            self.assertIn('version 33.0.0', err)
        self.assertEqual((BASE, EXC_BASE), self.snapshot())

        rc, _, _ = self.run_tool('apply', '--ignore-version')
        self.assertEqual(0, rc)
        self.assertEqual((STEP2, EXC_STEP2), self.snapshot())

    def test_conflict_refused_and_nothing_written(self) -> None:
        # Patch 1 would apply, patch 2 cannot: neither may be written.
        self._write('nova/exception.py', 'class A:\n    changed\n')

        rc, _, err = self.run_tool('apply')

        self.assertEqual(2, rc)
        self.assertIn('0002-two.patch does not apply', err)
        self.assertIn('nothing was changed', err)
        self.assertEqual((BASE, 'class A:\n    changed\n'),
                         self.snapshot())
        self.assertEqual(2, self.run_tool('check')[0])
        rc, out, _ = self.run_tool('status')
        self.assertEqual(1, rc)
        self.assertIn('does not apply', out)

    def test_revert_refuses_modified_applied_tree(self) -> None:
        self.assertEqual(0, self.run_tool('apply')[0])
        self._write('nova/exception.py', 'class A:\n    changed\n')

        rc, _, err = self.run_tool('revert')

        self.assertEqual(2, rc)
        self.assertIn('0002-two.patch', err)
        self.assertEqual(STEP2, self._read('nova/network/os_vif_util.py'))

    def test_stale_bytecode_removed(self) -> None:
        cache = os.path.join(self.site, 'nova', 'network', '__pycache__')
        os.makedirs(cache)
        pyc = os.path.join(cache, 'os_vif_util.cpython-311.pyc')
        other = os.path.join(cache, 'model.cpython-311.pyc')
        for path in (pyc, other):
            with open(path, 'wb') as f:
                f.write(b'stale')

        self.assertEqual(0, self.run_tool('apply')[0])

        self.assertFalse(os.path.exists(pyc))
        self.assertTrue(os.path.exists(other))

    def test_file_mode_kept(self) -> None:
        path = os.path.join(self.site, 'nova', 'exception.py')
        os.chmod(path, 0o640)
        self.assertEqual(0, self.run_tool('apply')[0])
        self.assertEqual(0o640, os.stat(path).st_mode & 0o777)

    def test_missing_target_line(self) -> None:
        self._series('0001-one.patch\n')
        rc, _, err = self.run_tool('check')
        self.assertEqual(2, rc)
        self.assertIn('no "# target: nova==X.Y.Z" line', err)

    def test_series_names_missing_patch(self) -> None:
        self._series('# target: nova==34.0.0\n0003-gone.patch\n')
        rc, _, err = self.run_tool('check')
        self.assertEqual(2, rc)
        self.assertIn("'0003-gone.patch', which is not a patch file", err)

    def test_path_outside_tree_refused(self) -> None:
        self._patch('0001-one.patch', '',
                    _diff('nova/../../evil.py', '', 'x\n'))
        rc, _, err = self.run_tool('apply')
        self.assertEqual(2, rc)
        self.assertIn('outside the Nova tree', err)
        self.assertEqual((BASE, EXC_BASE), self.snapshot())

    def test_not_a_nova_dir(self) -> None:
        rc, _, err = self.run_tool('check', '--nova-tree', self.series_dir)
        self.assertEqual(2, rc)
        self.assertIn('has no nova/ package', err)

    def _git(self, *args: str) -> None:
        subprocess.run(['git', '-C', self.site, '-c', 'user.name=t',
                        '-c', 'user.email=t@t'] + list(args),
                       check=True, capture_output=True)

    def test_git_tree_version_from_tag(self) -> None:
        self._git('init', '-q')
        self._git('add', 'nova')
        self._git('commit', '-qm', 'base')

        rc, _, err = self.run_tool('check', '--nova-tree', self.site)
        self.assertEqual(2, rc)
        self.assertIn('of unknown version', err)

        self._git('tag', '33.0.0')
        rc, _, err = self.run_tool('apply', '--nova-tree', self.site)
        self.assertEqual(2, rc)
        self.assertIn('Nova source tree', err)
        self.assertIn('version 33.0.0', err)

        self._write('README', 'release\n')
        self._git('add', 'README')
        self._git('commit', '-qm', 'release')
        self._git('tag', '34.0.0')
        self._write('README', 'after the tag\n')
        self._git('commit', '-qam', 'stable fix')
        rc, out, err = self.run_tool('apply', '--nova-tree', self.site)
        self.assertEqual(0, rc, err)
        self.assertIn('34.0.0-1-g', out)
        self.assertEqual((STEP2, EXC_STEP2), self.snapshot())
