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
"""The sandbox, the tests and the benchmarks run spp_neutron's core
without a Neutron install, and the os-vif plugins never load the
neutron-server package: checked on the import graph (read with
:mod:`ast`, imports inside functions included), transitively.
"""

from __future__ import annotations

import os

import testtools

from os_vif_accel.tests.unit import test_layering

TOP = test_layering._TOP
#: What the sandbox and tests import; only mech_driver may use Neutron.
NEUTRON_FREE = ('spp_neutron.core', 'spp_neutron.status',
                'spp_neutron.sweep', 'spp_neutron.config',
                'spp_neutron.errors', 'spp_neutron.bindings')


def path_of(name: str, top: str = TOP) -> str | None:
    base = os.path.join(top, *name.split('.'))
    for path in (base + '.py', os.path.join(base, '__init__.py')):
        if os.path.exists(path):
            return path
    return None


def closure(start: tuple[str, ...], top: str = TOP) -> set[str]:
    """Every module name reachable from ``start`` through modules of this
    tree (third-party modules are named, not followed).
    """
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = path_of(name, top)
        if path is not None:
            todo.extend(test_layering.imports(name, path))
    return seen


def neutron_imports(names: set[str]) -> list[str]:
    return sorted(n for n in names
                  if n.split('.')[0] in ('neutron', 'neutron_lib'))


class TestNeutronFree(testtools.TestCase):

    def test_core_and_its_imports_do_not_load_neutron(self) -> None:
        reached = closure(NEUTRON_FREE)
        self.assertIn('vif_plug_spp.etcd', reached)   # the walk followed
        self.assertEqual([], neutron_imports(reached))

    def test_mech_driver_is_the_one_that_does(self) -> None:
        # The check above can fail: the driver's closure is caught.
        self.assertIn('neutron_lib.plugins.ml2.api',
                      neutron_imports(closure(('spp_neutron.mech_driver',))))

    def test_plugins_never_load_spp_neutron(self) -> None:
        found = test_layering.modules()
        bad = ['%s imports %s' % (name, target)
               for name, path in sorted(found.items())
               if test_layering.is_library(name)
               for target in sorted(test_layering.imports(name, path))
               if target.split('.')[0] == 'spp_neutron']
        self.assertEqual([], bad)
