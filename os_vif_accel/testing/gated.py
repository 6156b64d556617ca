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
"""``load_tests`` for test packages that need an optional install.

Why: ``stestr`` discovers from the repository top, so every test package
is imported by every env. Packages that import Nova or networking-spp
must stay invisible where those are not installed (``py3``,
``functional``), yet fail loudly in their own env if the install broke.
"""

from __future__ import annotations

import importlib.util
import os
import unittest


def load_tests_if(init_file: str, env_var: str, module: str,
                  loader: unittest.TestLoader, tests: unittest.TestSuite,
                  pattern: str | None) -> unittest.TestSuite:
    """Discover the package of ``init_file`` if ``module`` is importable
    or ``env_var`` is ``1`` (set by the package's tox env).
    """
    wanted = os.environ.get(env_var) == '1'
    if wanted or importlib.util.find_spec(module) is not None:
        here = os.path.dirname(os.path.abspath(init_file))
        tests.addTests(loader.discover(
            start_dir=here, pattern=pattern or 'test*.py',
            top_level_dir=os.path.dirname(here)))
    return tests
