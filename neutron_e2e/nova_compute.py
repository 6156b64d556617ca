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
- the network steps of a live migration with multiple port bindings,
  each in the process that runs it in a cloud (conductor, destination,
  source; see the methods);
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
    """The instance; ``network_info`` is its info cache (what Nova keeps
    of the ports since the boot), if the caller has it.
    """
    inst = objects.Instance(
        uuid=spec['uuid'], project_id=spec['project_id'], id=7,
        host=spec['host'], vm_state='active', availability_zone='nova',
        display_name='full-stack-vm', info_cache=None)
    if spec.get('network_info'):
        inst.info_cache = objects.InstanceInfoCache(
            instance_uuid=inst.uuid,
            network_info=model.NetworkInfo.hydrate(spec['network_info']))
    return inst


def _migration(source, dest):
    return objects.Migration(source_compute=source, dest_compute=dest,
                             migration_type='live-migration')


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

    # -- live migration with multiple port bindings (nova/compute/
    # manager.py of Nova 34: the network steps, in the order it runs them)
    def bind_ports_to_host(self, instance, host):
        """The conductor's inactive bindings on the destination."""
        return self.api.bind_ports_to_host(
            nova_context.get_admin_context(), _instance(instance), host)

    def pre_live_migration(self, instance, bindings):
        """Destination: the libvirt driver plugs the VIFs Nova makes from
        the source VIFs and the destination bindings, then the manager
        sets up the networks on this host; the VIFs it plugged.
        """
        inst = _instance(instance)
        vifs = model.NetworkInfo()
        for vif in inst.get_network_info():
            binding = bindings[vif['id']]
            vifs.append(objects.VIFMigrateData(
                port_id=vif['id'], vnic_type=binding['vnic_type'],
                vif_type=binding['vif_type'],
                vif_details=binding['vif_details'],
                profile=binding['profile'], host=binding['host'],
                source_vif=vif).get_dest_vif())
        for vif in vifs:
            self.driver.plug(inst, vif)
        self.api.setup_networks_on_host(nova_context.get_admin_context(),
                                        inst, cfg.CONF.host)
        return json.loads(vifs.json())

    def post_live_migration(self, instance, dest):
        """Source: activate the destination's bindings, then
        post_live_migration_at_source unplugs the source VIFs.
        """
        inst = _instance(instance)
        self.api.migrate_instance_start(nova_context.get_admin_context(),
                                        inst, _migration(inst.host, dest))
        for vif in inst.get_network_info():
            self.driver.unplug(inst, vif)

    def post_live_migration_at_destination(self, instance):
        """Destination: finish, move the instance, tear down the source
        (which deletes its now inactive bindings).
        """
        ctx = nova_context.get_admin_context()
        inst = _instance(instance)
        self.api.setup_networks_on_host(ctx, inst, cfg.CONF.host)
        self.api.migrate_instance_finish(
            ctx, inst, _migration(inst.host, cfg.CONF.host),
            provider_mappings=None)
        source, inst.host = inst.host, cfg.CONF.host
        self.api.setup_networks_on_host(ctx, inst, source, teardown=True)

    def rollback_live_migration_at_destination(self, instance, vifs):
        """Destination, migration aborted: tear down this host's
        networks (deletes its inactive bindings), unplug what
        pre_live_migration plugged.
        """
        inst = _instance(instance)
        self.api.setup_networks_on_host(nova_context.get_admin_context(),
                                        inst, cfg.CONF.host, teardown=True)
        for vif in model.NetworkInfo.hydrate(vifs):
            self.driver.unplug(inst, vif)

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
