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
"""``os-vif-accel-nova-patches``: check, apply and revert the Nova series.

The series in ``nova_patches/`` changes a handful of files of one Nova
release.  This tool applies it to an installed Nova (the ``site-packages``
directory that holds ``nova/``) or to a Nova source tree, and it never
leaves the target half patched: every patch is first run with GNU
``patch`` on a private copy of the files the series touches, and only a
copy on which the whole step succeeded is written back.  A wrong Nova
version or a patch that does not apply is refused with a message and a
non-zero exit status before anything changes.  Applying an applied series
or reverting a reverted one does nothing and succeeds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Sequence

from os_vif_accel import fileio
# Re-exported: the series model is part of this tool's API.
from os_vif_accel.nova_series import PatchError, Series, Target
from os_vif_accel.nova_series import check_version, default_series_dir
from os_vif_accel.nova_series import find_target, load_series

__all__ = ['Series', 'Target', 'PatchError', 'load_series', 'find_target',
           'check_version', 'default_series_dir', 'applied_count', 'states',
           'apply', 'revert', 'main']

APPLIED = 'applied'
NOT_APPLIED = 'not applied'
CONFLICT = 'does not apply'


def _run_patch(root: str, patch: str, reverse: bool) -> tuple[bool, str]:
    cmd = ['patch', '-p1', '--batch', '--force', '--fuzz=0',
           '--no-backup-if-mismatch', '--reject-file=-', '-d', root,
           '-i', patch]
    if reverse:
        cmd.append('--reverse')
    try:
        res = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=120)
    except FileNotFoundError:
        raise PatchError('GNU patch is not installed (Debian: apt-get '
                         'install patch)')
    return res.returncode == 0, (res.stdout + res.stderr).strip()


class _Workspace:
    """A private copy of the files the series touches."""

    def __init__(self, target: Target, files: list[str]) -> None:
        self.target = target
        self.files = files
        self.dir = tempfile.mkdtemp(prefix='nova-patches-')
        for rel in files:
            src = os.path.join(target.root, rel)
            dst = os.path.join(self.dir, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if os.path.exists(src):
                shutil.copy2(src, dst)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def changed(self) -> list[str]:
        """Files of the copy that differ from the target."""
        out = []
        for rel in self.files:
            old = fileio.read_text(os.path.join(self.target.root, rel))
            new = fileio.read_text(os.path.join(self.dir, rel))
            if old != new:
                out.append(rel)
        return out

    def commit(self) -> list[str]:
        """Write changed files back; on error put the originals back."""
        changed = self.changed()
        originals: dict[str, bytes | None] = {}
        try:
            for rel in changed:
                dst = os.path.join(self.target.root, rel)
                originals[rel] = _read_bytes(dst)
                _replace(dst, _read_bytes(os.path.join(self.dir, rel)))
        except OSError as exc:
            for rel, data in originals.items():
                _replace(os.path.join(self.target.root, rel), data)
            raise PatchError('cannot write %s: %s; nothing was changed'
                             % (self.target.root, exc))
        for rel in changed:
            _drop_bytecode(os.path.join(self.target.root, rel))
        return changed


def _read_bytes(path: str) -> bytes | None:
    try:
        with open(path, 'rb') as f:
            return f.read()
    except FileNotFoundError:
        return None


def _replace(path: str, data: bytes | None) -> None:
    if data is None:
        if os.path.exists(path):
            os.unlink(path)
        return
    mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
    fileio.atomic_write(os.path.dirname(path), os.path.basename(path), data,
                        mode=mode)


def _drop_bytecode(path: str) -> None:
    """Cached bytecode of a rewritten module must not outlive it."""
    cache = os.path.join(os.path.dirname(path), '__pycache__')
    stem = os.path.splitext(os.path.basename(path))[0] + '.'
    try:
        names = os.listdir(cache)
    except OSError:
        return
    for name in names:
        if name.startswith(stem) and name.endswith('.pyc'):
            try:
                os.unlink(os.path.join(cache, name))
            except OSError:
                pass


def _run_all(ws: _Workspace, series: Series, names: Sequence[str],
             reverse: bool) -> tuple[int, str]:
    """Run ``names`` in order on the copy: how many worked, last output."""
    for done, name in enumerate(names):
        ok, out = _run_patch(ws.dir, os.path.join(series.directory, name),
                             reverse=reverse)
        if not ok:
            return done, out
    return len(names), ''


def applied_count(series: Series, target: Target) -> int:
    """How many leading patches of the series ``target`` already has.

    ``k`` fits when reverting patches k..1 and applying k+1..n both work
    on private copies.  Later patches may rewrite an earlier patch's
    context, so a patch's state cannot be judged on its own.  Raises
    PatchError naming the patch of the attempt that got furthest when no
    ``k`` fits (Nova differs from what the series expects).
    """
    names = list(series.patches)
    best = (-1, names[0] if names else '', '')
    for k in range(len(names), -1, -1):
        ws = _Workspace(target, series.files())
        try:
            done, out = _run_all(ws, series, names[:k][::-1], reverse=True)
            if done < k:
                if done > best[0]:
                    best = (done, names[k - 1 - done], out)
                continue
        finally:
            ws.close()
        ws = _Workspace(target, series.files())
        try:
            done, out = _run_all(ws, series, names[k:], reverse=False)
        finally:
            ws.close()
        if k + done == len(names):
            return k
        if k + done > best[0]:
            best = (k + done, names[k + done], out)
    raise PatchError(
        '%s does not apply to the %s in %s, and the series is not applied '
        'up to it either (was this Nova modified?); nothing was '
        'changed.\n%s' % (best[1], target.kind, target.root, best[2]))


def states(series: Series, target: Target) -> list[tuple[str, str]]:
    """Each patch's state; every patch ``CONFLICT`` if none fits."""
    try:
        k = applied_count(series, target)
    except PatchError:
        return [(name, CONFLICT) for name in series.patches]
    return [(name, APPLIED if i < k else NOT_APPLIED)
            for i, name in enumerate(series.patches)]


def _change(series: Series, target: Target, names: Sequence[str],
            reverse: bool) -> list[str]:
    ws = _Workspace(target, series.files())
    try:
        done, out = _run_all(ws, series, names, reverse=reverse)
        if done < len(names):
            raise PatchError('%s failed on a copy of %s; nothing was '
                             'changed.\n%s' % (names[done], target.root,
                                                out))
        return ws.commit()
    finally:
        ws.close()


def apply(series: Series, target: Target) -> list[str]:
    """Apply the patches not yet applied; return the files changed."""
    k = applied_count(series, target)
    return _change(series, target, series.patches[k:], reverse=False)


def revert(series: Series, target: Target) -> list[str]:
    """Revert the applied patches; return the files changed."""
    k = applied_count(series, target)
    return _change(series, target, series.patches[:k][::-1], reverse=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog='os-vif-accel-nova-patches',
        description='Check, apply or revert the os-vif-accel patch series '
                    'on an installed Nova or a Nova source tree.')
    p.add_argument('command', choices=['check', 'apply', 'revert',
                                       'status'],
                   help='check: exit 0 if the series can be applied (or '
                        'is applied); apply/revert: idempotent; status: '
                        'print each patch\'s state')
    where = p.add_mutually_exclusive_group()
    where.add_argument('--site-packages', metavar='DIR',
                       help='directory holding an installed nova/ '
                            '(default: where this Python imports nova '
                            'from)')
    where.add_argument('--nova-tree', metavar='DIR',
                       help='root of a Nova source tree (git checkout or '
                            'unpacked sdist)')
    p.add_argument('--series-dir', metavar='DIR',
                   default=default_series_dir(),
                   help='directory with the series file and patches '
                        '(default: %(default)s)')
    p.add_argument('--ignore-version', action='store_true',
                   help='do not refuse a Nova version other than the '
                        'series target')
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    """Run one command; raise PatchError on refusal."""
    series = load_series(args.series_dir)
    target = find_target(args.site_packages, args.nova_tree)
    check_version(series, target, args.ignore_version)
    where = '%s %s in %s' % (target.kind, target.version or '(unknown)',
                             target.root)
    if args.command == 'status':
        result = states(series, target)
        for name, state in result:
            print('%-50s %s' % (name, state))
        return 0 if all(s != CONFLICT for _, s in result) else 1
    if args.command == 'check':
        k = applied_count(series, target)
        total = len(series.patches)
        print('OK: %d of %d patches applied, %d can be applied to %s'
              % (k, total, total - k, where))
        return 0
    changed = (apply if args.command == 'apply' else revert)(series, target)
    verb = 'applied to' if args.command == 'apply' else 'reverted from'
    if changed:
        print('%s: series %s %s; changed %s'
              % (args.command, verb, where, ', '.join(changed)))
    else:
        print('%s: nothing to do, series already %s %s'
              % (args.command, verb, where))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except PatchError as exc:
        print('os-vif-accel-nova-patches: error: %s' % exc, file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
