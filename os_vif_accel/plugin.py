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
"""What every os-vif plugin class of this library shares."""

from __future__ import annotations

from typing import Any, ClassVar

from os_vif import objects

from os_vif_accel import exception
from os_vif_accel import validate


def vif_info(vif_class: type, max_version: str,
             profiles: list[Any] | None = None
             ) -> objects.host_info.HostVIFInfo:
    """What :meth:`describe` says a plugin takes of one VIF class:
    versions 1.0 to ``max_version``, with the given port profiles.
    """
    return objects.host_info.HostVIFInfo(
        vif_object_name=vif_class.__name__,
        min_version='1.0', max_version=max_version,
        supported_port_profiles=profiles or [])


class PortErrors:
    """Mixin building the errors that name a VIF's port.

    A plugin sets :attr:`NAME` and the two exception classes of its own
    ``exception`` module.
    """

    NAME: ClassVar[str]
    INVALID_PORT: ClassVar[type[exception.InvalidPort]]
    UNSUPPORTED_VIF: ClassVar[type[exception.UnsupportedVIF]]

    @staticmethod
    def _port_id(vif: Any) -> str:
        text = str(vif.id) if 'id' in vif else '(unknown)'
        # Quoted when it could break the one-line message it is put in.
        return text if text.isprintable() else repr(text)

    def _invalid(self, vif: Any, exc: validate.InvalidInput) -> Exception:
        return self.INVALID_PORT(port_id=self._port_id(vif),
                                 field=exc.field, value=exc.value,
                                 reason=exc.reason)

    def _unsupported(self, vif: Any, reason: str) -> Exception:
        return self.UNSUPPORTED_VIF(plugin=self.NAME,
                                    vif_class=type(vif).__name__,
                                    port_id=self._port_id(vif),
                                    reason=reason)
