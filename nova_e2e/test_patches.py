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
"""The series against the real Nova 34.0.0 wheel.

The wheel's RECORD holds the hash of every file as released, so a copy of
the installed (patched) Nova proves that reverting gives back exactly
Nova 34.0.0, and that each patch applies to it and reverts again.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import os
import shutil

import fixtures
import nova
import testtools

from os_vif_accel import nova_patches


def _record_hash(path: str) -> str:
    with open(path, 'rb') as f:
        digest = hashlib.sha256(f.read()).digest()
    return 'sha256=' + base64.urlsafe_b64encode(digest).rstrip(b'=').decode()


class TestSeriesOnNova34(testtools.TestCase):

    def setUp(self) -> None:
        super().setUp()
        self.series = nova_patches.load_series(
            nova_patches.default_series_dir())
        self.dist = importlib.metadata.distribution('nova')
        self.site = os.path.dirname(os.path.dirname(nova.__file__))
        self.record = {str(f): f.hash.value for f in self.dist.files or []
                       if f.hash is not None}
        # A private copy of the installed Nova: the touched files and the
        # dist-info that carries its version.
        self.copy = self.useFixture(fixtures.TempDir()).path
        info = 'nova-%s.dist-info' % self.dist.version
        shutil.copytree(os.path.join(self.site, info),
                        os.path.join(self.copy, info))
        for rel in self.series.files() + ['nova/__init__.py']:
            os.makedirs(os.path.dirname(os.path.join(self.copy, rel)),
                        exist_ok=True)
            shutil.copy2(os.path.join(self.site, rel),
                         os.path.join(self.copy, rel))
        self.target = nova_patches.find_target(site_packages=self.copy)

    def _read(self, rel: str) -> bytes:
        with open(os.path.join(self.copy, rel), 'rb') as f:
            return f.read()

    def _pristine(self, rel: str) -> bool:
        return _record_hash(os.path.join(self.copy, rel)) == \
            'sha256=' + self.record[rel]

    def test_target_is_nova_34(self) -> None:
        self.assertEqual('34.0.0', self.series.nova_version)
        self.assertEqual('34.0.0', self.target.version)

    def test_installed_nova_is_patched(self) -> None:
        # tox -e nova applied the series before running the tests.
        self.assertEqual(
            [nova_patches.APPLIED] * len(self.series.patches),
            [s for _, s in nova_patches.states(self.series, self.target)])
        self.assertFalse(any(self._pristine(rel)
                             for rel in self.series.files()))

    def test_revert_restores_released_files_then_reapply(self) -> None:
        applied = {rel: self._read(rel) for rel in self.series.files()}

        nova_patches.revert(self.series, self.target)

        for rel in self.series.files():
            self.assertTrue(self._pristine(rel),
                            '%s differs from the nova 34.0.0 wheel' % rel)
        self.assertEqual(
            [nova_patches.NOT_APPLIED] * len(self.series.patches),
            [s for _, s in nova_patches.states(self.series, self.target)])

        nova_patches.apply(self.series, self.target)

        for rel, data in applied.items():
            self.assertEqual(data, self._read(rel), rel)

    def test_each_patch_applies_and_reverts_alone(self) -> None:
        nova_patches.revert(self.series, self.target)
        for name in self.series.patches:
            one = nova_patches.Series(self.series.directory,
                                      self.series.nova_version, (name,))
            changed = nova_patches.apply(one, self.target)
            self.assertNotEqual([], changed, name)
            self.assertEqual([], nova_patches.apply(one, self.target), name)
            self.assertEqual(sorted(changed),
                             sorted(nova_patches.revert(one, self.target)))
            for rel in one.files():
                self.assertTrue(self._pristine(rel), '%s after %s'
                                % (rel, name))
