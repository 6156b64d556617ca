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
"""``vrouter-port-control``: drop-in replacement of the legacy script.

It accepts every legacy flag and argv shape, but builds the port with the
plugin's own pieces, so a port added here is byte-for-byte the port the
os-vif plugin would add.  This module is the entry point only: options
and their validation are in :mod:`.port_settings`, add/delete/enable/
disable in :mod:`.port_ops` (SmartNIC ports in :mod:`.port_offload`),
list/check/sync in :mod:`.port_audit`.  Callers fork it once per port:
``add`` and ``delete`` never load oslo.log, oslo.config or os-vif.

Exit codes keep the legacy meanings; 2 is only a usage error.
"""

from __future__ import annotations

import sys
from typing import Callable, Sequence

from os_vif_accel import cmdline
from os_vif_accel import validate

from vif_plug_vrouter.cmd import port_audit
from vif_plug_vrouter.cmd import port_ops
from vif_plug_vrouter.cmd import port_settings as ps
# The names callers and tests used before the split.
from vif_plug_vrouter.cmd.port_ops import build_record, wait_until
from vif_plug_vrouter.cmd.port_settings import (
    CliError, OPTIONS, PORT_TYPES, Settings, settings_from_argv, usage)

__all__ = ['main', 'run', 'OPTIONS', 'Settings', 'settings_from_argv',
           'CliError', 'PORT_TYPES', 'build_record', 'usage', 'wait_until']

OPERATIONS: dict[str, Callable[[ps.Settings], int]] = {
    'add': port_ops.op_add, 'delete': port_ops.op_delete,
    'enable': port_ops.op_link, 'disable': port_ops.op_link,
    'list': port_audit.op_list, 'check': port_audit.op_check,
    'sync': port_audit.op_sync,
}


def _error_code(exc: BaseException) -> int | None:
    """Exit code for the plugin's exceptions (loaded only when raised)."""
    if isinstance(exc, validate.InvalidInput):
        return ps.EXIT_FAILURE
    mod = sys.modules.get('vif_plug_vrouter.exception')
    if mod is None or not isinstance(exc, Exception):
        return None
    if isinstance(exc, mod.AgentRefused):
        return ps.EXIT_REFUSED
    if isinstance(exc, mod.AgentUnreachable):
        return ps.EXIT_UNREACHABLE
    if isinstance(exc, mod.VrouterError):
        return ps.EXIT_FAILURE
    return None


def _fail(code: int, kind: str, message: object) -> int:
    """Print one refusal as exactly one line on stderr.

    Messages quote what was given; escaping here means no value (a
    newline in an option name or a path) can print a line of its own.
    """
    sys.stderr.write('%s: %s: %s\n' % (ps.PROG, kind,
                                        validate.one_line(str(message))))
    return code


def run(argv: Sequence[str]) -> int:
    """Run one command line; returns the exit code."""
    try:
        settings = ps.settings_from_argv(argv)
        if settings is None:
            return ps.EXIT_OK
        return OPERATIONS[settings.oper](settings)
    except cmdline.UsageError as exc:
        return _fail(ps.EXIT_USAGE, 'usage error', exc)
    except ps.CliError as exc:
        return _fail(exc.code, 'error', exc.message)
    except OSError as exc:
        return _fail(ps.EXIT_FAILURE, 'error', exc)
    except Exception as exc:
        code = _error_code(exc)
        if code is None:
            raise
        return _fail(code, 'error', exc)


def main(argv: Sequence[str] | None = None) -> int:
    return run(sys.argv[1:] if argv is None else argv)


if __name__ == '__main__':
    sys.exit(main())
