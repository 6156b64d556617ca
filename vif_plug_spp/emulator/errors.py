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
"""spp-ctl's error answers, as the emulated spp-ctl 18.08 sends them."""

from __future__ import annotations

from typing import Any

__all__ = ['SppError', 'Hang', 'invalid', 'command', 'bad', 'failed', 'need']


class SppError(Exception):
    """An HTTP error answer: status and plain-text body."""

    def __init__(self, status: int, text: str) -> None:
        self.status = status
        self.text = text
        super().__init__('%d %s' % (status, text))


class Hang(Exception):
    """spp_vf stopped answering: spp-ctl never replies (master lcore,
    Corrections 4).  The HTTP front end holds the request, then drops it.
    """


def invalid() -> SppError:
    # spp-ctl 18.08 src/spp-ctl/spp_webapi.py 27-31: KeyInvalid calls
    # super(KeyRequired, ...) -> TypeError, which bottle answers with 500.
    return SppError(500, 'Internal Server Error')


def command(message: str) -> SppError:
    # spp-ctl 18.08 src/spp-ctl/spp_proc.py 62-69: 400 "command error: ..."
    return SppError(400, 'command error: %s' % message)


def bad(param: str) -> SppError:
    # spp_vf 18.08 src/vf/common/command_proc.c 778-779
    return command('bad value(%s)' % param)


def failed() -> SppError:
    # spp_vf 18.08 src/vf/common/command_proc.c 1583-1587: an update or
    # flush failure answers "error occur".
    return command('error occur')


def need(body: dict[str, Any], *keys: str) -> None:
    # spp-ctl 18.08 src/spp-ctl/spp_webapi.py 20-24, 177-179, 188-190
    for key in keys:
        if key not in body:
            raise SppError(400, 'key(%s) required.' % key)
