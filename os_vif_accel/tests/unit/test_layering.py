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
"""Where each concern lives, checked on the import graph.

Test doubles, emulators and the sandbox stay out of what nova-compute and
the SPP agent load, and neither plugin depends on the other, so a host can
install one plugin without the other's code or the test doubles.  The
modules are read with :mod:`ast` (imports inside functions included), not
imported.
"""

from __future__ import annotations

import ast
import os

import fixtures
import testtools

_TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))
PACKAGES = ('os_vif_accel', 'vif_plug_vrouter', 'vif_plug_spp')
PLUGINS = ('vif_plug_vrouter', 'vif_plug_spp')
#: packages and modules that are test doubles, emulators or demos
NOT_LIBRARY = ('tests', 'testing', 'emulator', 'sandbox')
EMULATOR_COMMANDS = ('vif_plug_vrouter.cmd.agent_emulator',
                     'vif_plug_spp.cmd.emulator')


def modules(top: str = _TOP) -> dict[str, str]:
    """Dotted name -> path of every module of the three packages."""
    found = {}
    for package in PACKAGES:
        for root, _dirs, files in os.walk(os.path.join(top, package)):
            for name in files:
                if not name.endswith('.py'):
                    continue
                path = os.path.join(root, name)
                rel = os.path.relpath(path, top)[:-3].split(os.sep)
                if rel[-1] == '__init__':
                    rel = rel[:-1]
                found['.'.join(rel)] = path
    return found


def imports(name: str, path: str) -> set[str]:
    """Every module ``name`` imports, as dotted names (relative ones
    resolved; ``from a import b`` gives both ``a`` and ``a.b``).
    """
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    is_package = path.endswith('__init__.py')
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parts = name.split('.')
                keep = len(parts) - node.level + (1 if is_package else 0)
                base = '.'.join(parts[:keep] + ([base] if base else []))
            out.add(base)
            out.update('%s.%s' % (base, alias.name) for alias in node.names)
    return out


def is_library(name: str) -> bool:
    return name not in EMULATOR_COMMANDS and not any(
        part in NOT_LIBRARY for part in name.split('.'))


def problems(found: dict[str, str]) -> list[str]:
    """The layering rules broken by ``found`` (dotted name -> path)."""
    out = []
    for name, path in sorted(found.items()):
        mine = name.split('.')[0]
        for target in sorted(imports(name, path)):
            top = target.split('.')[0]
            if mine in PLUGINS and top in PLUGINS and top != mine:
                out.append('%s imports the other plugin: %s' % (name, target))
            if top in PACKAGES and is_library(name) and \
                    not is_library(target):
                out.append('library module %s imports a test double, '
                           'emulator or demo: %s' % (name, target))
    return out


class TestLayering(testtools.TestCase):

    def test_tree_follows_the_rules(self) -> None:
        found = modules()
        # The walk found the tree (not an empty directory somewhere).
        self.assertIn('vif_plug_spp.protocol', found)
        self.assertIn('os_vif_accel.testing.spp_taas', found)
        self.assertEqual([], problems(found))

    def _tree(self, files: dict[str, str]) -> dict[str, str]:
        top = self.useFixture(fixtures.TempDir()).path
        for rel, text in files.items():
            path = os.path.join(top, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'w') as f:
                f.write(text)
        return modules(top)

    def test_library_importing_a_double_is_found(self) -> None:
        found = self._tree({
            'vif_plug_spp/__init__.py': '',
            'vif_plug_spp/agent.py':
                'def f():\n'
                '    from os_vif_accel.testing import spp_taas\n',
            'vif_plug_spp/wiring.py': 'from .tests import hostile\n',
            'vif_plug_spp/tests/__init__.py': '',
            'vif_plug_spp/tests/hostile.py':
                'from os_vif_accel.testing import etcd\n'})
        self.assertEqual(
            ['library module vif_plug_spp.agent imports a test double, '
             'emulator or demo: os_vif_accel.testing',
             'library module vif_plug_spp.agent imports a test double, '
             'emulator or demo: os_vif_accel.testing.spp_taas',
             'library module vif_plug_spp.wiring imports a test double, '
             'emulator or demo: vif_plug_spp.tests',
             'library module vif_plug_spp.wiring imports a test double, '
             'emulator or demo: vif_plug_spp.tests.hostile'],
            problems(found))

    def test_plugin_importing_the_other_is_found(self) -> None:
        found = self._tree({
            'vif_plug_vrouter/cmd/sandbox.py':
                'import vif_plug_spp.sandbox\n',
            'vif_plug_spp/emulator/server.py':
                'from vif_plug_vrouter import record\n',
            'os_vif_accel/sandbox/cmd.py':
                'from vif_plug_spp import agent\n'
                'from vif_plug_vrouter import vrouter\n'})
        self.assertEqual(
            ['vif_plug_spp.emulator.server imports the other plugin: '
             'vif_plug_vrouter',
             'vif_plug_spp.emulator.server imports the other plugin: '
             'vif_plug_vrouter.record',
             'vif_plug_vrouter.cmd.sandbox imports the other plugin: '
             'vif_plug_spp.sandbox'],
            problems(found))
