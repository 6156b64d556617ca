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
"""The Nova patch series and the Nova it is for: reading, locating, checking.

The read-only half of ``os-vif-accel-nova-patches``
(:mod:`os_vif_accel.nova_patches` applies and reverts): parse the
``series`` file, find the ``nova/`` to patch and its version, and refuse a
Nova release the series was not made for, all before anything changes.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys

from os_vif_accel import fileio

__all__ = ['Series', 'Target', 'PatchError', 'patch_files',
           'default_series_dir', 'load_series', 'find_target',
           'check_version']

_SERIES_ENV = 'OS_VIF_ACCEL_NOVA_PATCHES'

_TARGET_RE = re.compile(r'^#\s*target:\s*nova\s*==\s*(\S+)\s*$')
_FILE_RE = re.compile(r'^\+\+\+ b/(\S+)')


class PatchError(Exception):
    """A refusal: the message tells the operator what to fix."""


@dataclasses.dataclass(frozen=True)
class Series:
    """The patch files of ``series`` in order, for one Nova version."""

    directory: str
    nova_version: str
    patches: tuple[str, ...]

    def files(self) -> list[str]:
        """Paths (relative to the Nova root) any patch touches."""
        seen: list[str] = []
        for name in self.patches:
            for path in patch_files(os.path.join(self.directory, name)):
                if path not in seen:
                    seen.append(path)
        return seen


@dataclasses.dataclass(frozen=True)
class Target:
    """A directory holding ``nova/`` and the Nova version found there."""

    root: str
    version: str | None
    kind: str


def patch_files(path: str) -> list[str]:
    """Files a git-format patch changes, from its ``+++ b/...`` lines."""
    with open(path, encoding='utf-8') as f:
        found = [m.group(1) for m in map(_FILE_RE.match, f) if m]
    for rel in found:
        if rel.startswith('/') or '..' in rel.split('/'):
            raise PatchError('%s: refusing path %r outside the Nova tree'
                             % (path, rel))
    return found


def default_series_dir() -> str:
    """The source checkout's ``nova_patches/``, else the installed copy."""
    env = os.environ.get(_SERIES_ENV)
    if env:
        return env
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for cand in (os.path.join(here, 'nova_patches'),
                 os.path.join(sys.prefix, 'share', 'os-vif-accel',
                              'nova_patches')):
        if os.path.isfile(os.path.join(cand, 'series')):
            return cand
    return os.path.join(here, 'nova_patches')


def load_series(directory: str) -> Series:
    """Read ``series``: patch names in order plus a ``# target:`` line."""
    path = os.path.join(directory, 'series')
    version = None
    patches = []
    try:
        with open(path, encoding='utf-8') as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise PatchError('cannot read the series file %s: %s' % (path, exc))
    for line in lines:
        m = _TARGET_RE.match(line)
        if m:
            version = m.group(1)
        elif line.strip() and not line.lstrip().startswith('#'):
            name = line.strip()
            if os.path.basename(name) != name or \
                    not os.path.isfile(os.path.join(directory, name)):
                raise PatchError('%s lists %r, which is not a patch file '
                                 'in %s' % (path, name, directory))
            patches.append(name)
    if version is None:
        raise PatchError('%s has no "# target: nova==X.Y.Z" line' % path)
    return Series(directory, version, tuple(patches))


def _installed_version(site: str) -> str | None:
    for dist in importlib.metadata.distributions(path=[site]):
        if (dist.metadata['Name'] or '').lower() == 'nova':
            return dist.version
    return None


def _git_version(root: str) -> str | None:
    """``git describe`` of a checkout: ``34.0.0`` or ``34.0.0-3-gabc``."""
    if not os.path.exists(os.path.join(root, '.git')):
        return None
    try:
        out = subprocess.run(['git', '-C', root, 'describe', '--tags'],
                             capture_output=True, text=True, check=True,
                             timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _pkg_info_version(root: str) -> str | None:
    text = fileio.read_text(os.path.join(root, 'PKG-INFO'))
    for line in (text or '').splitlines():
        if line.startswith('Version:'):
            return line.split(':', 1)[1].strip()
    return None


def find_target(site_packages: str | None = None,
                nova_tree: str | None = None) -> Target:
    """Resolve where ``nova/`` lives and which version it is.

    Without arguments, the ``nova`` package this interpreter imports.
    """
    if nova_tree:
        root = os.path.abspath(nova_tree)
        version = _git_version(root) or _pkg_info_version(root)
        kind = 'Nova source tree'
    else:
        if site_packages:
            root = os.path.abspath(site_packages)
        else:
            spec = importlib.util.find_spec('nova')
            if spec is None or not spec.submodule_search_locations:
                raise PatchError('Nova is not importable by %s; install '
                                 'nova or pass --site-packages/--nova-tree'
                                 % sys.executable)
            pkg = list(spec.submodule_search_locations)[0]
            root = os.path.dirname(os.path.abspath(pkg))
        version = _installed_version(root)
        kind = 'installed Nova'
    if not os.path.isfile(os.path.join(root, 'nova', '__init__.py')):
        raise PatchError('%s has no nova/ package' % root)
    return Target(root, version, kind)


def check_version(series: Series, target: Target,
                  ignore_version: bool = False) -> None:
    """Refuse a Nova release the series was not made for."""
    if ignore_version:
        return
    want = series.nova_version
    have = target.version
    if have is not None and (have == want or have.startswith(want + '-')):
        return
    raise PatchError(
        'the series targets nova==%s but the %s in %s is %s; refusing '
        '(use --ignore-version to try anyway: each patch is still checked '
        'before anything is changed)'
        % (want, target.kind, target.root,
           'of unknown version' if have is None else 'version %s' % have))
