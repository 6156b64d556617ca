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
"""The ``spp`` driver inside Neutron 29's ML2 plugin (``tox -e neutron``).

Kept out of the ``py3`` and ``functional`` runs: :func:`load_tests`
imports nothing here unless Neutron is installed or
``OS_VIF_ACCEL_NEUTRON=1`` (set by the tox env) asks for it, so a broken
install there fails loudly.
"""

from __future__ import annotations

import unittest

from os_vif_accel.testing import gated


def load_tests(loader: unittest.TestLoader, tests: unittest.TestSuite,
               pattern: str | None) -> unittest.TestSuite:
    return gated.load_tests_if(__file__, 'OS_VIF_ACCEL_NEUTRON', 'neutron',
                               loader, tests, pattern)
