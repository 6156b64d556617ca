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
"""Polling for a condition in tests that drive real daemons."""

from __future__ import annotations

import time
from typing import Any, Callable

__all__ = ['WaitMixin']


class WaitMixin:
    """``wait_for`` for a ``testtools``/``unittest`` test case."""

    fail: Callable[..., Any]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 20.0,
                 what: str = 'condition') -> None:
        """Return once ``predicate()`` is true; fail the test after
        ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        self.fail('timed out waiting for %s' % what)
