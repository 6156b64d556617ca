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
"""The ports directory as the agent sees it when it replays it.

``vrouter-port-control --oper=list|check|sync`` must look at exactly the
files the agent would replay - and know which of them it could not read -
because ``/syncports`` makes the agent delete every port and every vm-vn
subscription that is not re-added within the window.  The agent replays
(tf-controller ``port_ipc_handler.cc`` 120-178):

* every regular file of the ports directory whose *name* Boost parses as
  a UUID (leading blanks skipped, any letter case, anything after the 36
  characters ignored, 558-564), holding a JSON object or a JSON array of
  objects (all or none, 205-242);
* every such file in each sub-directory of ``vm/`` (vm-vn subscriptions,
  ``POST /vm`` bodies, 812-918).

Nothing here writes; reading needs no privilege beyond the directory's.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from typing import Any, NamedTuple

from os_vif_accel import fileio
from os_vif_accel import validate

from vif_plug_vrouter import agent_json
from vif_plug_vrouter import record as record_mod

__all__ = ['PortFile', 'VmVnFile', 'agent_uuid', 'scan_ports',
           'scan_vm_vn', 'VM_VN_KEYS']

_UUID_PREFIX = re.compile(r'[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-'
                          r'[0-9a-fA-F]{4}-[0-9a-fA-F]{12}')
_NIL = '00000000-0000-0000-0000-000000000000'
#: Required string keys of a vm-vn file, in the order the agent checks
#: them (port_ipc_handler.cc 865-910), then the optional ones (ignored
#: when not strings).
VM_VN_KEYS = ('vm-uuid', 'host-ifname', 'vm-name', 'vn-uuid', 'vmi-uuid')
_VM_VN_OPTIONAL = ('vm-id', 'vm-ifname', 'vm-namespace')


class PortFile(NamedTuple):
    """One replayable file: its ports, or why the agent would skip it."""

    path: str
    #: the UUID the file name parses as (lower case)
    name_id: str
    #: ``(record, extra)`` per port; several for a JSON-array file
    ports: list[tuple[dict[str, Any], dict[str, Any]]]
    #: None if readable, else the reason
    error: str | None


class VmVnFile(NamedTuple):
    """One vm-vn subscription file and the ``POST /vm`` body it replays."""

    path: str
    body: dict[str, str] | None
    error: str | None


def agent_uuid(name: str) -> str | None:
    """The UUID the agent reads from a file name, None if it skips it."""
    # Boost's extractor skips C-locale blanks only (str.lstrip() would
    # also take e.g. \x1c, which the agent does not skip)
    m = _UUID_PREFIX.match(name.lstrip(' \t\n\v\f\r'))
    if m is None or m.group(0) == _NIL:
        return None
    return m.group(0).lower()


def _regular_text(path: str) -> str:
    """The text of a regular file; symbolic links are not followed.

    Opened with ``O_NOFOLLOW | O_NONBLOCK`` (:func:`fileio.read_regular`):
    a check before ``open()`` could be raced, and a FIFO named like a
    port would block the read forever.
    """
    try:
        data = fileio.read_regular(path, record_mod.MAX_PORT_FILE)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise ValueError('is a symbolic link (the agent would follow it; '
                         'this tool does not)')
    if data is None:
        raise FileNotFoundError(errno.ENOENT, 'removed while listed', path)
    return data.decode('utf-8')


def _replayed_names(directory: str) -> list[tuple[str, str]]:
    """``(name, uuid)`` of the entries the agent would try to replay."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        uid = agent_uuid(name)
        path = os.path.join(directory, name)
        if uid is not None and _replayable(path):
            out.append((name, uid))
    return out


def _replayable(path: str) -> bool:
    """A regular file, or a link (reported, not followed) that is not to
    a directory; the agent skips FIFOs, sockets and devices (pih 131-133),
    and opening a FIFO would block.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(mode):
        return not os.path.isdir(path)
    return stat.S_ISREG(mode)


def _parse_ports(text: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    doc = record_mod.load_port_file(text)
    if isinstance(doc, list):
        return [record_mod.from_port_object(elem) for elem in doc]
    return [record_mod.from_port_object(doc)]


def scan_ports(ports_dir: str) -> list[PortFile]:
    """Every port file the agent would replay, read as the agent reads it."""
    out = []
    for name, uid in _replayed_names(ports_dir):
        path = os.path.join(ports_dir, name)
        try:
            out.append(PortFile(path, uid, _parse_ports(_regular_text(path)),
                                None))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            out.append(PortFile(path, uid, [], str(exc)))
    return out


def vm_vn_body(doc: Any) -> dict[str, str]:
    """The ``POST /vm`` body of a vm-vn file.

    Raises ValueError where the agent would refuse the file.
    """
    if not isinstance(doc, dict):
        raise validate.InvalidInput('vm-vn file', str(doc)[:80],
                                    'not a JSON object')
    for key in VM_VN_KEYS:
        if not isinstance(doc.get(key), str):
            raise validate.InvalidInput(key, doc.get(key),
                                        'missing or not a string')
    keys = VM_VN_KEYS + tuple(k for k in _VM_VN_OPTIONAL
                              if isinstance(doc.get(k), str))
    return {k: doc[k] for k in keys}


def scan_vm_vn(ports_dir: str) -> list[VmVnFile]:
    """Every vm-vn file under ``<ports_dir>/vm/<vm-name>/``."""
    vm_dir = os.path.join(ports_dir, 'vm')
    try:
        subdirs = sorted(os.listdir(vm_dir))
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for sub in subdirs:
        directory = os.path.join(vm_dir, sub)
        if not os.path.isdir(directory):
            continue
        for name, _uid in _replayed_names(directory):
            path = os.path.join(directory, name)
            try:
                body = vm_vn_body(agent_json.loads(_regular_text(path)))
                out.append(VmVnFile(path, body, None))
            except (OSError, ValueError, RecursionError) as exc:
                out.append(VmVnFile(path, None, str(exc)))
    return out
