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
"""Errors of the SPP wiring, and the lock that serialises it on a host."""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import Iterator

__all__ = ['WiringError', 'LockError', 'host_lock']


class WiringError(Exception):
    """A wiring change failed (and was rolled back where possible)."""

    def __init__(self, message: str, cause: Exception | None = None,
                 rolled_back: bool = True) -> None:
        self.cause = cause
        self.rolled_back = rolled_back
        super().__init__(message)


class LockError(WiringError):
    """The host lock file cannot be opened."""


def _open_lock(path: str) -> int:
    """A descriptor of the lock file, created (mode 0644) if missing.

    An existing file is opened read-only and without ``O_CREAT``: flock
    needs no write access, and ``O_CREAT`` on a file another user owns in
    a sticky world-writable directory such as /tmp fails with EACCES where
    ``fs.protected_regular`` is set (systemd's default), even for root.
    nova-compute and spp-agent usually run as different users.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    for _attempt in range(3):
        try:
            return os.open(path, flags)
        except FileNotFoundError:
            pass
        try:
            return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue    # another process created it meanwhile: open that
    return os.open(path, flags)


@contextlib.contextmanager
def host_lock(path: str | None) -> Iterator[None]:
    """Serialise wiring on one host across processes (plugin in
    nova-compute and the agent) with an advisory lock file.
    """
    if not path:
        yield
        return
    try:
        fd = _open_lock(path)
    except OSError as exc:
        raise LockError('cannot open the host lock file %s (%s); set '
                        'lock_path to a file both nova-compute and '
                        'spp-agent may read' % (path, exc.strerror), exc)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
