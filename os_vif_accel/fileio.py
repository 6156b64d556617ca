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
"""Durable file operations for files that other processes read.

Port files are read by the vRouter agent at start-up; a torn or empty file
loses the port.  Every write therefore goes to a temporary file in the same
directory, is fsync'd, renamed over the target and the directory is fsync'd
so the rename itself survives a crash.
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = ['atomic_write', 'remove_durable', 'read_text', 'read_regular',
           'TEMP_PREFIX']

#: Temporary files start with a dot, never with a UUID: the agent replays
#: every file whose *name begins with* a UUID, so "<uuid>.tmp" would be
#: replayed half-written.
TEMP_PREFIX = '.tmp-'


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(directory: str, name: str, data: bytes,
                 mode: int = 0o644, sync: bool = True) -> str:
    """Atomically replace ``directory/name`` with ``data``.

    Creates ``directory`` (mode 0755) if it is missing.  Returns the final
    path.  On any error the temporary file is removed and the previous
    content, if any, is left untouched.
    """
    os.makedirs(directory, mode=0o755, exist_ok=True)
    final = os.path.join(directory, name)
    tmp = os.path.join(directory,
                       '%s%s-%s' % (TEMP_PREFIX, name, os.urandom(4).hex()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                 mode)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fchmod(fd, mode)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if sync:
        _fsync_dir(directory)
    return final


def remove_durable(directory: str, name: str, sync: bool = True) -> bool:
    """Remove ``directory/name``; return False if it did not exist."""
    try:
        os.unlink(os.path.join(directory, name))
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return False
        raise
    if sync:
        _fsync_dir(directory)
    return True


def read_text(path: str) -> str | None:
    """Return the file's text, or None if it does not exist."""
    try:
        with open(path, 'r', encoding='utf-8') as f:
            return f.read()
    except FileNotFoundError:
        return None


def read_regular(path: str, max_bytes: int) -> bytes | None:
    """Return the bytes of a regular file, or None if it does not exist.

    For files in a directory others may write to: a symbolic link as the
    last component is refused (ELOOP) rather than followed, a FIFO or
    device (EINVAL) rather than opened for a read that may block forever,
    and a file over ``max_bytes`` (EFBIG) rather than read whole.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK |
                     os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, 'not a regular file', path)
        chunks = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    if left <= 0:
        raise OSError(errno.EFBIG, 'larger than %d bytes' % max_bytes, path)
    return b''.join(chunks)
