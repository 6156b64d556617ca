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
"""The neutron-server side of SPP: the ML2 mechanism driver ``spp``.

:mod:`spp_neutron.core` (vhost allocation and the binding keys),
:mod:`spp_neutron.status` (one watch of every host's ``port_status``) and
:mod:`spp_neutron.sweep` (release of allocations no binding names) import
nothing from Neutron, so the sandbox and tests use them without a Neutron
install; only :mod:`spp_neutron.mech_driver` and
:mod:`spp_neutron.sweep_worker` import Neutron.  No library module of
``vif_plug_spp`` or ``os_vif_accel`` imports this package (their tests
and the sandbox do).
"""
