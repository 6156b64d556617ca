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
"""Undo steps of one multi-step host or datapath change.

A plug changes several things one after the other (a representor's name,
MTU and VF, or an spp_vf's ports and classifier); when a later step
fails, the earlier ones are undone newest first so that nothing stays
half plugged.  An undo step that fails does not stop the others: every
one is tried, and the caller learns which failed, because "rolled back"
and "rollback incomplete" call for different messages and repairs.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

__all__ = ['Undo', 'Rollback']


@dataclasses.dataclass(frozen=True)
class Rollback:
    """What :meth:`Undo.run` did."""

    #: names of the undo steps that raised, newest first
    failed: tuple[str, ...] = ()

    @property
    def rolled_back(self) -> bool:
        """Every undo step succeeded."""
        return not self.failed


class Undo:
    """Named undo steps, run newest first.

    :param catch: the errors an undo step may raise and the rollback
        goes on after (logged, reported in :attr:`Rollback.failed`);
        anything else propagates, as it means a bug rather than a host
        or datapath refusing.
    """

    def __init__(self, catch: tuple[type[Exception], ...] = (Exception,)
                 ) -> None:
        self.catch = catch
        self._steps: list[tuple[str, Callable[[], object]]] = []

    def add(self, what: str, step: Callable[[], object]) -> None:
        """Record how to undo a step that just changed something."""
        self._steps.append((what, step))

    @property
    def names(self) -> list[str]:
        """The recorded undo steps, oldest first."""
        return [what for what, _step in self._steps]

    def __len__(self) -> int:
        return len(self._steps)

    def run(self) -> Rollback:
        """Run every recorded step, newest first, then forget them (a
        second run does nothing).
        """
        failed = []
        while self._steps:
            what, step = self._steps.pop()
            try:
                step()
            except self.catch as exc:
                LOG.error('Could not undo step "%s": %s', what, exc)
                failed.append(what)
        return Rollback(tuple(failed))
