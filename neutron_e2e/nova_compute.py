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
"""nova-compute's network steps, as a process of its own.

Nova and Neutron cannot share a process: both register options such as
``[DEFAULT] host`` on oslo.config's global ``CONF``, differently.  So,
as in a cloud, this process is the compute host: Nova 34 (with
``nova_patches/``) reads its own configuration file (``[DEFAULT] host``,
``[neutron]`` with ``auth_type = none`` and the test's Neutron API URL,
``[os_vif_spp]``), and runs, on request, the code nova-compute runs:

- ``network_info``: Nova's neutron API asks Neutron (python-neutronclient
  over HTTP) for the instance's ports and networks and builds its
  network model (``_build_network_info_model``, the path of
  ``allocate_for_instance`` and of healing the info cache, without a
  database to cache it in);
- ``plug`` / ``unplug``: the libvirt VIF driver, i.e.
  ``nova_to_osvif_vif`` and ``os_vif.plug``/``unplug`` with the plugin
  it names;
- ``to_osvif``: what ``nova_to_osvif_vif`` made of a VIF.

Requests and answers are JSON lines on stdin/stdout; an error answers
``{"error": ..., "type": ...}`` and the process keeps serving.
"""

import json
import os
import sys

from nova import config as nova_config
from nova import context as nova_context
from nova.network import model
from nova.network import neutron as nova_neutron
from nova.network import os_vif_util
from nova import objects
from nova.virt.libvirt import vif as libvirt_vif
import os_vif
from oslo_config import cfg
from oslo_log import log as logging


#: The line that tells the parent the process serves (what stdout had
#: before it is not ours).
READY = json.dumps({'ready': True})


def _instance(spec):
    return objects.Instance(
        uuid=spec['uuid'], project_id=spec['project_id'], id=7,
        host=spec['host'], vm_state='building',
        display_name='full-stack-vm', info_cache=None)


class Compute:

    def __init__(self):
        self.driver = libvirt_vif.LibvirtGenericVIFDriver()
        self.api = nova_neutron.API()

    def network_info(self, instance, network_ids, port_ids):
        ctx = nova_context.get_admin_context()
        inst = _instance(instance)
        client = nova_neutron.get_client(ctx, admin=True)
        networks = self.api._get_available_networks(
            ctx, inst.project_id, network_ids, client)
        nw_info = self.api._build_network_info_model(
            ctx, inst, networks=networks, port_ids=port_ids,
            admin_client=client)
        return json.loads(model.NetworkInfo(nw_info).json())

    def plug(self, instance, vif):
        self.driver.plug(_instance(instance), model.VIF.hydrate(vif))

    def unplug(self, instance, vif):
        self.driver.unplug(_instance(instance), model.VIF.hydrate(vif))

    def to_osvif(self, vif):
        obj = os_vif_util.nova_to_osvif_vif(model.VIF.hydrate(vif))
        return {'plugin': obj.plugin, 'type': obj.obj_name(),
                'mode': obj.mode, 'path': obj.path,
                'vif_name': obj.vif_name}


def serve(compute, lines, out):
    for line in lines:
        request = json.loads(line)
        try:
            answer = {'result': getattr(compute, request.pop('call'))(
                **request)}
        except Exception as exc:
            answer = {'error': str(exc), 'type': type(exc).__name__}
        out.write(json.dumps(answer) + '\n')
        out.flush()


def main():
    nova_config.parse_args(sys.argv, default_config_files=[],
                           configure_db=False, init_rpc=False)
    logging.setup(cfg.CONF, 'nova')
    objects.register_all()
    os_vif.initialize()
    # Answers on our own copy of stdout; whatever else writes to stdout
    # from now on (libraries do) goes to stderr.
    answers = os.fdopen(os.dup(1), 'w')
    os.dup2(2, 1)
    answers.write(READY + '\n')
    answers.flush()
    serve(Compute(), sys.stdin, answers)


if __name__ == '__main__':
    main()
