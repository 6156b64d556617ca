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
"""The name the agent gets as ``display-name``: Nova's display name.

The agent uses it as the DHCP client name and the vDNS record of the port
(tf-controller ``src/vnsw/agent/services/dhcp_handler.cc`` 630,
``dns_proto.cc`` 154), and the TF os-vif plugin sends the instance's
display name (tf-nova-vif-driver ``vif_plug_vrouter/vrouter.py`` 254-257).
Stock Nova puts the libvirt domain name (``instance-0000002a``) in
os-vif's ``InstanceInfo.name``.  So:

* Nova with ``nova_patches/0003`` puts the display name in
  ``InstanceInfo.name`` for this plugin and says so through
  ``nova.network.os_vif_util.OSVIF_DISPLAY_NAME_PLUGINS``: used as is,
  at no cost.
* Stock Nova (that module is loaded, the tuple is not there or does not
  name this plugin): the display name is looked up through Nova's object
  API, as the TF plugin does - in nova-compute one conductor RPC per plug
  (see ``benchmarks/bench_display_name.py``).  If the lookup is disabled
  or fails, the domain name is used and a warning says why.
* Any other caller of os-vif (Nova not loaded): ``InstanceInfo.name`` is
  the caller's name for the instance and is used as is.

Nothing here imports Nova unless Nova is already loaded in the process.
"""

from __future__ import annotations

import importlib
import re
import sys
from typing import Any

from oslo_log import log as logging
from oslo_utils import strutils

LOG = logging.getLogger(__name__)

__all__ = ['nova_sends_display_name', 'lookup', 'resolve']

NOVA_CONVERSION = 'nova.network.os_vif_util'
NOVA_MARKER = 'OSVIF_DISPLAY_NAME_PLUGINS'
_warned: set[str] = set()
_URL_USERINFO = re.compile(r'://[^/@\s]*@')


def nova_sends_display_name(plugin: str) -> bool | None:
    """True/False: Nova does/does not send the display name; None: no Nova.

    Reads only what is loaded: nova-compute imported the conversion
    module before it calls any plugin.
    """
    module = sys.modules.get(NOVA_CONVERSION)
    if module is None:
        return None
    return plugin in getattr(module, NOVA_MARKER, ())


def lookup(instance_uuid: str) -> str | None:
    """Nova's display name of an instance (None if it has none).

    ``expected_attrs=[]`` loads the instance row only (the default would
    also join its network info cache).
    """
    context = importlib.import_module('nova.context')
    objects = importlib.import_module('nova.objects')
    inst = objects.Instance.get_by_uuid(context.get_admin_context(),
                                        instance_uuid, expected_attrs=[])
    name = inst.display_name if 'display_name' in inst else None
    return name or None


def _safe(exc: Exception) -> str:
    """An error text without passwords (e.g. a transport URL's)."""
    return _URL_USERINFO.sub('://***@', strutils.mask_password(str(exc)))


def _warn_once(key: str, msg: str, *args: Any) -> None:
    if key not in _warned:
        _warned.add(key)
        LOG.warning(msg, *args)


def resolve(instance_info: Any, plugin: str, nova_lookup: bool) -> str:
    """The display name to send for ``instance_info`` (see module doc)."""
    uuid = str(instance_info.uuid)
    given = (instance_info.name if 'name' in instance_info else '') or uuid
    if nova_sends_display_name(plugin) is not False:
        return given
    if not nova_lookup:
        _warn_once('disabled', 'This Nova sends os-vif the domain name (%s), '
                   'not the display name, and nova_display_name_lookup is '
                   'off: the vRouter agent gets the domain name for DHCP '
                   'and vDNS. Apply nova_patches/0003 to send the display '
                   'name at no cost.', given)
        return given
    try:
        found = lookup(uuid)
    except Exception as exc:  # noqa: H201 - any failure: keep the plug
        LOG.warning('Could not look up the display name of instance %s in '
                    'Nova (%s: %s); the vRouter agent gets the domain name '
                    '%s for DHCP and vDNS.', uuid, type(exc).__name__,
                    _safe(exc), given)
        return given
    _warn_once('lookup', 'This Nova sends os-vif the domain name, not the '
               'display name: looking it up in Nova for every plug (one '
               'conductor call each). Apply nova_patches/0003 to avoid it.')
    return found or given
