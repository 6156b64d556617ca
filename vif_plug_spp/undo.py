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
"""Undo steps of one spp_vf wiring change (:class:`os_vif_accel.undo.Undo`
with spp_vf's error answers).

spp_vf 18.08 answers ``error occur`` when its update or its flush fails,
and a failed flush keeps the change (reference Corrections 2), so a
step that failed that way still needs undoing.
"""

from __future__ import annotations

from typing import Callable

from os_vif_accel import undo as undo_base

from vif_plug_spp import sppctl

__all__ = ['Undo', 'occurred', 'refused']


def occurred(exc: sppctl.SppCtlError) -> bool:
    """spp_vf's update or flush failed (the change may be kept)."""
    return exc.status == 400 and 'error occur' in exc.text


def refused(exc: sppctl.SppCtlError) -> bool:
    """spp_vf's decoder refused the command (nothing changed)."""
    return exc.status == 400 and 'bad value' in exc.text


class Undo(undo_base.Undo):
    """Undo steps of one change, run in reverse order on failure; an
    undo step spp-ctl refuses is reported, any other error propagates.
    """

    def __init__(self) -> None:
        super().__init__(catch=(sppctl.SppCtlError,))

    def attempt(self, what: str, do: Callable[[], None],
                undo: Callable[[], None]) -> None:
        """Run ``do``; its undo is needed when it succeeded, also when
        spp_vf answered ``error occur`` (a failed flush keeps the change,
        spp_vf 18.08, reference Corrections 2) and when no answer came.
        That undo tolerates finding the change absent (``bad value``: the
        update itself was refused).
        """
        def tolerant() -> None:
            try:
                undo()
            except sppctl.SppCtlError as exc:
                if not refused(exc):
                    raise
        try:
            do()
        except sppctl.SppCtlError as exc:
            # No answer in time: spp-ctl may still apply the request
            # (it runs a process's commands one at a time, so the undo
            # queues behind it).
            if occurred(exc) or isinstance(exc, sppctl.SppCtlUnreachable):
                self.add(what, tolerant)
            raise
        self.add(what, undo)
