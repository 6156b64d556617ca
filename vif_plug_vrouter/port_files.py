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
"""The agent's port files: ``<ports_dir>/<port uuid>``.

The agent replays these files when it starts, so they are the durable
copy of every plugged port.  Writing needs root (the directory belongs to
root), so :class:`PortFileStore` sends writes and removals through the
privileged entrypoints in :mod:`vif_plug_vrouter.privileged`; reads are
done in-process because the files are world-readable.
"""

from __future__ import annotations

import os
import re
from typing import Any

from os_vif_accel import fileio
from os_vif_accel import lazy
from os_vif_accel import parse
from os_vif_accel import validate

from vif_plug_vrouter import record as record_mod

# Created on first use: the vrouter-port-control CLI imports this module
# and must not pay for oslo.log on its success path.
LOG = lazy.getLogger(__name__)

__all__ = ['PortFileStore', 'write_port_file', 'remove_port_file',
           'read_port_file', 'check_extra']

_EXTRA_KEY = re.compile(r'[a-z0-9_-]{1,32}')


def check_extra(extra: Any) -> dict[str, Any]:
    """Validate this library's own state stored alongside a record."""
    if extra is None:
        return {}
    if not isinstance(extra, dict) or len(extra) > 16:
        raise validate.InvalidInput('extra', extra,
                                    'must be an object of at most 16 keys')
    for key, value in extra.items():
        if not isinstance(key, str) or not _EXTRA_KEY.fullmatch(key):
            raise validate.InvalidInput('extra', key, 'bad key')
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, int):
            # Bounded: json.dumps refuses integers of over 4300 digits.
            validate.integer(value, 'extra.' + key, -2 ** 63, 2 ** 64)
            continue
        if not isinstance(value, str):
            raise validate.InvalidInput('extra', value,
                                        'values are short strings, '
                                        'integers or null')
        validate.text(value, 'extra.' + key)
    return dict(extra)


def write_port_file(ports_dir: str, rec: dict[str, Any],
                    extra: dict[str, Any] | None = None,
                    sync: bool = True) -> str:
    """Validate and atomically write one port file; return its path."""
    directory = validate.directory(ports_dir, 'ports_dir')
    clean = record_mod.check_record(rec)
    data = record_mod.to_port_file(clean, check_extra(extra))
    return fileio.atomic_write(directory, clean['id'], data, sync=sync)


def remove_port_file(ports_dir: str, port_id: str,
                     sync: bool = True) -> bool:
    """Remove one port file; False if it was not there."""
    directory = validate.directory(ports_dir, 'ports_dir')
    return fileio.remove_durable(directory, validate.uuid(port_id, 'id'),
                                 sync=sync)


def read_port_file(ports_dir: str, port_id: str) -> str | None:
    """Return the text of one port file, or None if there is none."""
    directory = validate.directory(ports_dir, 'ports_dir')
    path = os.path.join(directory, validate.uuid(port_id, 'id'))
    # Never through a symlink: the privileged side runs this as root.
    data = fileio.read_regular(path, record_mod.MAX_PORT_FILE)
    return None if data is None else parse.decode_utf8(data, 'port file')


class PortFileStore:
    """Read, write and remove port files, privileged where needed.

    :param ports_dir: the agent's ports directory
    :param privileged: send writes through privsep (False when this
        process may write the directory itself, e.g. tests, the CLI run
        as root, or the sandbox)
    """

    def __init__(self, ports_dir: str, privileged: bool = True) -> None:
        self.ports_dir = validate.directory(ports_dir, 'ports_dir')
        self.privileged = privileged

    def path(self, port_id: str) -> str:
        return os.path.join(self.ports_dir, port_id)

    def read(self, port_id: str
             ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Return ``(record, extra)`` of a port, None if absent or broken.

        A broken file (empty, corrupt) is reported and treated as absent
        so that the next write repairs it; the agent would skip it.
        """
        port_id = validate.uuid(port_id, 'id')
        try:
            try:
                text = read_port_file(self.ports_dir, port_id)
            except PermissionError:
                from vif_plug_vrouter import privileged
                text = privileged.read_port_file(self.ports_dir, port_id)
            if text is None:
                return None
            rec, extra = record_mod.from_port_file(text)
            return rec, check_extra(extra)
        except validate.InvalidInput as exc:
            LOG.warning('Port file %s is unusable and will be rewritten: '
                        '%s', self.path(port_id), exc)
            return None

    def write(self, rec: dict[str, Any],
              extra: dict[str, Any] | None = None) -> None:
        if self.privileged:
            from vif_plug_vrouter import privileged
            privileged.write_port_file(self.ports_dir, rec, extra)
        else:
            write_port_file(self.ports_dir, rec, extra)

    def remove(self, port_id: str) -> bool:
        if self.privileged:
            from vif_plug_vrouter import privileged
            return bool(privileged.remove_port_file(self.ports_dir, port_id))
        return remove_port_file(self.ports_dir, port_id)
