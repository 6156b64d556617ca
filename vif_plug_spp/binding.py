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
"""The binding rules of one SPP port, written once.

The os-vif plugin's wiring (:mod:`vif_plug_spp.wiring`) and the agent
(:mod:`vif_plug_spp.handlers`) decide the same questions about a port
bound by Neutron; they used to answer them each in their own way, and
could disagree on a configuration the builder did not write.  Here:

* :class:`ConfigCache` - the parsed ``configuration/<host>`` and the
  :class:`~vif_plug_spp.datapath.Datapath` built from it, rebuilt only
  when the builder changed the text;
* :func:`vhost_physnet` / :func:`locate` - which physical network, and
  so which ``vhost/<host>/<physnet>/<id>`` slot, a vhost belongs to: the
  builder numbers vhosts across NICs in mapping order (reference §4.2;
  NS ``devstack/spp-config-build.py`` 162-167), and networking-spp's
  agent releases the slot of the NIC whose components wire the vhost
  (NS ``agent/spp_agent.py`` 162-175 ``build_vhosts``, 379-381
  ``_unplug_port``); a
  configuration where the two disagree is refused, since wiring a port
  into another NIC than its slot's would put it on the wrong network;
* :meth:`Binding.may_wire` - a vhost is wired only for the port holding
  its slot (the "vhost held by another port" check);
* :meth:`Binding.may_unwire` - at unplug the wiring is removed only while
  the slot is held by the port or free, never under a new owner.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from vif_plug_spp import datapath
from vif_plug_spp import hostconfig
from vif_plug_spp import keys
from vif_plug_spp import protocol
from vif_plug_spp import sppctl

__all__ = ['UNUSABLE', 'Loaded', 'ConfigCache', 'NotServed', 'Binding',
           'vhost_physnet', 'locate', 'bound']

# What parsing an unusable configuration raises (InvalidInput is a
# ValueError); callers report it their own way.
UNUSABLE = (ValueError, KeyError, TypeError, IndexError)


@dataclasses.dataclass(frozen=True)
class Loaded:
    """One configuration text, parsed, and its datapath."""

    text: str
    config: dict[str, Any]
    datapath: datapath.Datapath


class ConfigCache:
    """The configuration in use; thread-safe (the plugin is called from
    many nova-compute threads).
    """

    def __init__(self, spp: sppctl.SppCtlClient, host: str,
                 lock_path: str | None) -> None:
        self.spp = spp
        self.host = host
        self.lock_path = lock_path
        self.current: Loaded | None = None
        self._lock = threading.Lock()

    def load(self, text: str) -> Loaded:
        """The configuration for ``text``: the one in use if the text is
        unchanged, else a new one (raises one of :data:`UNUSABLE`, and
        keeps the one in use, when the text is unusable).
        """
        with self._lock:
            got = self.current
            if got is None or got.text != text:
                config = hostconfig.parse(text, self.host)
                got = Loaded(text, config,
                             datapath.Datapath(self.spp, config,
                                               self.lock_path))
                self.current = got
            return got


class NotServed(ValueError):
    """The configuration cannot serve this vhost (the reason says why)."""


def vhost_physnet(configuration: dict[str, Any], vhost_id: int
                  ) -> str | None:
    """The physnet of the NIC owning ``vhost_id`` as the builder numbers
    them (host-global, in mapping order): where its slot key lives.
    """
    first = 0
    for vf in configuration.get('vf') or []:
        num = int(vf.get('num_vhost', 0))
        if first <= vhost_id < first + num:
            return str(vf['physical_network'])
        first += num
    return None


def locate(loaded: Loaded, vhost_id: int) -> datapath.Vhost:
    """The vhost's wiring, checked against its slot (raises NotServed)."""
    physnet = vhost_physnet(loaded.config, vhost_id)
    try:
        vh = loaded.datapath.vhost(vhost_id)
    except datapath.WiringError as exc:
        raise NotServed(str(exc))
    if physnet is None:
        raise NotServed('vhost %d is wired in spp_vf %d but no NIC of the '
                        'SPP configuration numbers it (num_vhost)' % (
                            vhost_id, vh.sec_id))
    if physnet != vh.physnet:
        raise NotServed('vhost %d is wired in spp_vf %d (physical network '
                        '%s) but numbered under %s; rebuild the '
                        'configuration with spp-config-build' % (
                            vhost_id, vh.sec_id, vh.physnet, physnet))
    return vh


@dataclasses.dataclass(frozen=True)
class Binding:
    """A port's ``bind_port`` value, located in the configuration."""

    host: str
    port_id: str
    bind: protocol.BindPort
    vhost: datapath.Vhost
    datapath: datapath.Datapath

    @property
    def slot(self) -> str:
        """``vhost/<host>/<physnet>/<id>``: who holds the vhost."""
        return keys.vhost(self.host, self.vhost.physnet,
                          self.vhost.vhost_id)

    def may_wire(self, holder: str | None) -> bool:
        """Wire only a vhost the port holds (a stale binding must not
        take over another port's traffic).
        """
        return holder == self.port_id

    def may_unwire(self, holder: str | None) -> bool:
        """Remove the wiring only while nobody else holds the vhost (a
        new owner's wiring is live).
        """
        return holder in (self.port_id, keys.FREE)


def bound(loaded: Loaded, host: str, port_id: str,
          bind: protocol.BindPort) -> Binding:
    """The binding of ``port_id`` located in ``loaded`` (raises
    NotServed).
    """
    return Binding(host, port_id, bind, locate(loaded, bind.vhost_id),
                   loaded.datapath)
