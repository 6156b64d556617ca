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
"""The privsep context of the vrouter plugin (contexts only).

The daemon keeps uid 0, which is enough to write the root-owned ports
directory; CAP_NET_ADMIN is for netlink changes to SmartNIC representors
and VFs.  Nothing else is granted: in particular not CAP_DAC_OVERRIDE, so
the daemon cannot write into directories root does not own.

The directories the daemon may write port files into are read from the
daemon's *own* configuration (``allowed_ports_dirs``), never from the
unprivileged caller.
"""

from oslo_config import cfg
from oslo_privsep import capabilities as c
from oslo_privsep import priv_context

CFG_SECTION = 'vif_plug_vrouter_privileged'

PRIVILEGED_OPTS = [
    cfg.ListOpt('allowed_ports_dirs',
                default=['/var/lib/contrail/ports'],
                help='Directories the privsep daemon of the vrouter plugin '
                     'may write and remove port files in. Must contain '
                     'the ports_dir of [os_vif_vrouter] and '
                     '[os_vif_contrail_vrouter].'),
    cfg.ListOpt('allowed_sysfs_roots', default=['/sys'],
                help='sysfs roots below which the privsep daemon may bind '
                     'SmartNIC VFs to drivers (the sysfs_root of '
                     '[os_vif_vrouter]); only tests use another one.'),
]

cfg.CONF.register_opts(PRIVILEGED_OPTS, group=CFG_SECTION)

vif_plug = priv_context.PrivContext(
    'vif_plug_vrouter',
    cfg_section=CFG_SECTION,
    pypath=__name__ + '.vif_plug',
    capabilities=[c.CAP_NET_ADMIN],
)
