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
"""Deferred imports, so that short-lived processes start fast.

``vrouter-port-control`` is forked once per port by its callers; importing
oslo.log (and with it oslo.config) or os-vif costs more than the whole
add.  The modules it shares with the plugin therefore create their
oslo.log logger on first use, and the CLI can register a module whose
code only runs when one of its names is first looked up (e.g. the
exception classes, which only an error path needs).
"""

from __future__ import annotations

import sys
import types
from typing import Any, Callable

__all__ = ['getLogger', 'module', 'on_first_use']


class _LazyLogger:
    """Stands in for an oslo.log logger until it is first used."""

    __slots__ = ('_name', '_logger')

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, attr: str) -> Any:
        if self._logger is None:
            global _first_use
            setup, _first_use = _first_use, None
            if setup is not None:
                setup()
            if 'oslo_log.log' in sys.modules:
                from oslo_log import log
                self._logger = log.getLogger(self._name)
            else:
                import logging
                self._logger = logging.getLogger(self._name)
        return getattr(self._logger, attr)


_first_use: Callable[[], None] | None = None


def on_first_use(setup: Callable[[], None]) -> None:
    """Run ``setup`` once, before the first of these loggers is used.

    Lets a CLI configure logging only if something is actually logged,
    instead of importing the logging package on every run.  Services do
    not call it (oslo.log is configured by the service).
    """
    global _first_use
    _first_use = setup


def getLogger(name: str) -> Any:
    """Return a logger for ``name`` that is built on first use.

    In a service (os-vif and Nova load oslo.log before any plugin) this is
    ``oslo_log.log.getLogger(name)``; in a process that never loaded
    oslo.log, such as the CLI, it is the standard library logger of the
    same name, which oslo.log's handlers would also receive.  Until first
    use neither oslo.log nor the logging package is imported.
    """
    return _LazyLogger(name)


def module(name: str) -> types.ModuleType:
    """Register ``name`` so that its code runs on first attribute access.

    Uses :class:`importlib.util.LazyLoader`; later ``import name`` and
    ``from pkg import name`` statements get the same module object.  A
    module that is already imported is returned as is.
    """
    if name in sys.modules:
        return sys.modules[name]
    import importlib.util
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError('no module named %r' % name, name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    loader.exec_module(mod)
    parent, _, child = name.rpartition('.')
    if parent:
        setattr(sys.modules[parent], child, mod)
    return mod
