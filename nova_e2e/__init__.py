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
"""End-to-end tests against real Nova code (``tox -e nova``).

They import Nova 34.0.0 with ``nova_patches/`` applied, so they are kept
out of the ``py3`` and ``functional`` runs (by regex), and
:func:`load_tests` does not even import them where Nova is missing, unless
``OS_VIF_ACCEL_NOVA_E2E=1`` (set by ``tox -e nova``) asks for them, so a
broken Nova install there fails loudly instead.
"""

from __future__ import annotations

import unittest

from os_vif_accel.testing import gated


def load_tests(loader: unittest.TestLoader, tests: unittest.TestSuite,
               pattern: str | None) -> unittest.TestSuite:
    return gated.load_tests_if(__file__, 'OS_VIF_ACCEL_NOVA_E2E', 'nova',
                               loader, tests, pattern)
