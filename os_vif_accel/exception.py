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
"""Errors every plugin of this library raises the same way.

Each plugin's ``exception`` module subclasses these next to its own base
class, so callers can catch either ``vif_plug_<x>.exception.InvalidPort``
or the plugin's base error.
"""

from os_vif import exception as osv_exception

from os_vif_accel.i18n import _


class InvalidPort(osv_exception.ExceptionBase):
    msg_fmt = _('Invalid %(field)s for port %(port_id)s: %(reason)s '
                '(got %(value)r); nothing was written or sent')


class UnsupportedVIF(osv_exception.ExceptionBase):
    msg_fmt = _('Plugin %(plugin)s cannot plug %(vif_class)s port '
                '%(port_id)s: %(reason)s')
