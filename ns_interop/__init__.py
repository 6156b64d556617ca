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
"""Interoperation with networking-spp 21.0.0 (``tox -e ns-interop``).

Its real spp-agent (a process) and its real mechanism driver (in
process) run against real etcd, the spp-ctl emulator, our builder's
configuration, our agent and our plugin.  Kept out of the ``py3`` and
``functional`` runs: :func:`load_tests` imports nothing here unless
networking-spp is installed or ``OS_VIF_ACCEL_NS_INTEROP=1`` (set by the
tox env) asks for it, so a broken install there fails loudly.
"""

from __future__ import annotations

import unittest

from os_vif_accel.testing import gated


def load_tests(loader: unittest.TestLoader, tests: unittest.TestSuite,
               pattern: str | None) -> unittest.TestSuite:
    return gated.load_tests_if(__file__, 'OS_VIF_ACCEL_NS_INTEROP',
                               'networking_spp', loader, tests, pattern)
