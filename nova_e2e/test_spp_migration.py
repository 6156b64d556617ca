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
"""Live migration of an SPP port with Nova 34's libvirt driver.

Two SPP hosts (builder configuration, spp-ctl emulator, our spp-agent
process each) and one etcd.  The Neutron side is the spp driver's etcd
core (:class:`spp_neutron.core.Binder`): the source's binding, then the
destination's inactive one, and their releases.  Nova's own code does the
rest, one host at a time (the plugin's ``[os_vif_spp] host`` and spp-ctl
switch with it):

- conductor: ``VIFMigrateData.create_skeleton_migrate_vifs`` and
  ``LiveMigrationTask._update_migrate_vifs_from_bindings`` put the
  destination's binding (vif_details of its vhost) in ``migrate_data``;
- destination: ``LibvirtDriver._pre_live_migration_plug_vifs`` plugs
  ``get_dest_vif()``; ``migration._update_vif_xml`` rewrites the guest's
  interface for the destination;
- source: ``LibvirtDriver.post_live_migration_at_source`` unplugs the
  source VIFs (``migrate_data.vifs[*].source_vif``, as
  ``ComputeManager._post_live_migration`` passes them);
- abort: the destination's clean-up unplugs the instance's (source) VIFs
  with ``ignore_errors`` after Neutron deleted its binding.
"""

from __future__ import annotations

import functools
import os
import types
import uuid
from typing import Any

from lxml import etree
from nova.conductor.tasks import live_migrate
from nova import context as nova_context
from nova import exception as nova_exception
from nova.network import model
from nova import objects as nova_objects
from nova.virt.libvirt.cpu import api as libvirt_cpu
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import migration as libvirt_migration

from os_vif_accel.testing import spp_agent
from os_vif_accel.testing import waiting
from vif_plug_spp import builder
from vif_plug_spp.emulator import server as sppctl_emulator
from vif_plug_spp import etcd as spp_etcd
from vif_plug_spp import keys

from spp_neutron import core

from nova_e2e import base
from nova_e2e import test_spp

MAC = 'fa:16:3e:5a:71:0c'
LibvirtDriver = libvirt_driver.LibvirtDriver


class TestSppLiveMigration(waiting.WaitMixin, test_spp.SppEtcdCase):

    def setUp(self) -> None:
        super().setUp()
        self.etcd = spp_etcd.EtcdClient(self.etcd_proc.host,
                                        self.etcd_proc.port)
        self.addCleanup(self.etcd.close)
        tag = uuid.uuid4().hex[:8]
        self.src, self.dst = 'src-' + tag, 'dst-' + tag
        self.sppctl = {host: self.spp_host(host)
                       for host in (self.src, self.dst)}
        self.binder = core.Binder(self.etcd)
        self.port_id = str(uuid.uuid4())
        self.instance.numa_topology = None
        # The libvirt driver without libvirt: what these methods use.
        self.virt = types.SimpleNamespace(vif_driver=self.driver,
                                          cpu_api=libvirt_cpu.API())
        for name in ('plug_vifs', 'unplug_vifs', '_unplug_vifs'):
            setattr(self.virt, name,
                    functools.partial(getattr(LibvirtDriver, name),
                                      self.virt))

    def spp_host(self, host: str) -> Any:
        config = builder.build(test_spp.MAPPINGS)
        builder.write(self.etcd, host, config)
        sppctl = sppctl_emulator.SppCtlEmulator.for_configuration(
            config).start()
        self.addCleanup(sppctl.stop)
        self.useFixture(spp_agent.AgentProcess(
            self.tmp, host, self.etcd_proc.host, self.etcd_proc.port,
            sppctl.port))
        return sppctl

    def on_host(self, host: str) -> None:
        """nova-compute of ``host``: its plugin options."""
        self.conf.config(group='os_vif_spp', host=host,
                         etcd_host=self.etcd_proc.host,
                         etcd_port=self.etcd_proc.port,
                         spp_ctl_url=self.sppctl[host].url,
                         lock_path=os.path.join(self.tmp, '{host}.lock'),
                         etcd_retry_window=0.2, spp_ctl_retry_window=0.2)

    # -- Neutron (the spp driver's etcd part) -------------------------------
    def bind(self, host: str) -> model.VIF:
        """The binding on ``host`` (wired by its agent) as Nova's network
        model VIF.
        """
        alloc = self.binder.bind(host, self.port_id, MAC, 'phys1')
        self.wait_for(lambda: self.status(host) == keys.UP,
                      what='the agent of %s to wire the port' % host)
        return base.nova_vif(
            model.VIF_TYPE_VHOSTUSER, port_id=self.port_id, mac=MAC,
            details=test_spp.spp_details('/tmp/sock%d' % alloc.vhost_id))

    def migrate_data(self, source_vif: model.VIF, dest_vif: model.VIF
                     ) -> Any:
        """What the conductor sends: the destination's binding as
        Neutron's create_port_binding answered it.
        """
        vifs = nova_objects.VIFMigrateData.create_skeleton_migrate_vifs(
            [source_vif])
        binding = {'host': self.dst, 'vnic_type': 'normal', 'profile': {},
                   'vif_type': dest_vif['type'],
                   'vif_details': dest_vif['details'], 'status': 'INACTIVE'}
        live_migrate.LiveMigrationTask._update_migrate_vifs_from_bindings(
            None, vifs, {self.port_id: binding})
        return nova_objects.LibvirtLiveMigrateData(vifs=vifs)

    # -- state of a host ----------------------------------------------------
    def wired_vhost(self, host: str) -> str | None:
        """The vhost the port's MAC is forwarded to on ``host``."""
        table = test_spp.classifier(self.sppctl[host], 1)
        if not table:
            return None
        self.assertEqual([MAC.upper()], [e['value'] for e in table])
        return test_spp.vhost_behind(self.sppctl[host], 1, table[0]['port'])

    def status(self, host: str) -> str | None:
        return self.etcd.get(keys.port_status(host, self.port_id))

    def release(self, host: str) -> None:
        """Neutron deletes the binding of ``host``; its agent unwires it
        and frees the vhost.
        """
        self.assertEqual('unplug', self.binder.release(host, self.port_id))
        self.wait_for(lambda: self.etcd.get(
            keys.bind_port(host, self.port_id)) is None,
            what='the agent of %s to release the port' % host)
        self.assertIsNone(self.wired_vhost(host))

    def migrating(self) -> tuple[model.VIF, model.VIF, Any]:
        """Booted on the source, destination bound and pre-plugged."""
        source_vif = self.bind(self.src)
        self.on_host(self.src)
        self.plug(source_vif)
        # Another port holds the destination's vhost of that number, so
        # the two hosts' sockets differ.
        self.assertTrue(self.etcd.replace(
            keys.vhost(self.dst, 'phys1', int(self.vhost_of(source_vif)[6:])),
            keys.FREE, str(uuid.uuid4())))
        dest_vif = self.bind(self.dst)
        self.assertNotEqual(self.vhost_of(source_vif), self.vhost_of(dest_vif))
        data = self.migrate_data(source_vif, dest_vif)
        self.on_host(self.dst)
        LibvirtDriver._pre_live_migration_plug_vifs(
            self.virt, self.instance, model.NetworkInfo([source_vif]), data)
        return source_vif, dest_vif, data

    def vhost_of(self, vif: model.VIF) -> str:
        return 'vhost:%s' % vif['details']['vhostuser_socket'][len(
            '/tmp/sock'):]

    # -- tests --------------------------------------------------------------
    def test_pre_live_migration_plugs_destination_source_stays(self) -> None:
        source_vif, dest_vif, data = self.migrating()

        self.assertEqual(self.vhost_of(dest_vif), self.wired_vhost(self.dst))
        self.assertEqual(keys.UP, self.status(self.dst))
        self.assertEqual(self.vhost_of(source_vif),
                         self.wired_vhost(self.src))
        self.assertEqual(keys.UP, self.status(self.src))
        # The guest QEMU starts on the destination opens the
        # destination's socket.  The source's domain as libvirt dumps it:
        # its interface has a guest PCI address.
        interface = self.interface_xml(source_vif)
        etree.SubElement(interface, 'address', type='pci', domain='0x0000',
                         bus='0x00', slot='0x03', function='0x0')
        domain = etree.fromstring(
            '<domain><uuid>%s</uuid><devices>%s</devices></domain>' % (
                self.instance.uuid, etree.tostring(interface).decode()))
        get_config = functools.partial(
            self.driver.get_config, self.instance,
            image_meta=nova_objects.ImageMeta.from_dict({}),
            flavor=nova_objects.Flavor(vcpus=2, memory_mb=1024,
                                       extra_specs={}), virt_type='kvm')
        updated = libvirt_migration._update_vif_xml(domain, data, get_config)
        self.assertEqual(dest_vif['details']['vhostuser_socket'],
                         updated.find('devices/interface/source').get('path'))

    def test_post_live_migration_at_source_leaves_destination(self) -> None:
        _source_vif, dest_vif, data = self.migrating()
        self.on_host(self.src)

        LibvirtDriver.post_live_migration_at_source(
            self.virt, nova_context.get_admin_context(), self.instance,
            model.NetworkInfo.hydrate([v.source_vif for v in data.vifs]))

        self.assertIsNone(self.wired_vhost(self.src))
        self.assertEqual(self.vhost_of(dest_vif), self.wired_vhost(self.dst))
        self.assertEqual(keys.UP, self.status(self.dst))
        # Then Nova deletes the source's binding (after the guest runs on
        # the destination): the destination keeps its wiring.
        self.release(self.src)
        self.assertEqual(self.vhost_of(dest_vif), self.wired_vhost(self.dst))
        self.assertEqual(keys.UP, self.status(self.dst))

    def test_rollback_at_destination_leaves_source(self) -> None:
        source_vif, _dest_vif, _data = self.migrating()
        # Neutron releases the destination's binding first (Nova deletes
        # it in setup_networks_on_host(teardown=True)); then the clean-up
        # unplugs the instance's VIFs, which are the source's.
        self.release(self.dst)

        LibvirtDriver._unplug_vifs(self.virt, self.instance,
                                   model.NetworkInfo([source_vif]), True)

        self.assertIsNone(self.wired_vhost(self.dst))
        self.assertEqual(self.vhost_of(source_vif),
                         self.wired_vhost(self.src))
        self.assertEqual(keys.UP, self.status(self.src))

    def test_source_socket_on_the_destination_is_refused(self) -> None:
        """Without the destination's binding in migrate_data (Neutron
        without binding-extended) Nova plugs the source's VIF on the
        destination: its socket is not the destination's vhost's, and the
        plugin says so instead of wiring a vhost QEMU will not open.
        """
        source_vif, dest_vif, _data = self.migrating()

        err = self.assertRaises(
            nova_exception.InternalError,
            LibvirtDriver._pre_live_migration_plug_vifs, self.virt,
            self.instance, model.NetworkInfo([source_vif]),
            nova_objects.LibvirtLiveMigrateData())

        self.assertIn('Nova was given socket %s but the port is bound to '
                      'vhost %s' % (source_vif['details']['vhostuser_socket'],
                                    self.vhost_of(dest_vif)[6:]), str(err))
        self.assertEqual(self.vhost_of(source_vif),
                         self.wired_vhost(self.src))

    def test_destination_without_binding_fails_and_source_stays(self
                                                                ) -> None:
        """Neutron has no binding on the destination (its bind failed, or
        it was deleted): pre-live-migration fails naming the port and the
        host, and the source is not touched.
        """
        source_vif = self.bind(self.src)
        self.on_host(self.src)
        self.plug(source_vif)
        stale = base.nova_vif(
            model.VIF_TYPE_VHOSTUSER, port_id=self.port_id, mac=MAC,
            details=test_spp.spp_details('/tmp/sock1'))
        self.on_host(self.dst)

        err = self.assertRaises(
            nova_exception.InternalError,
            LibvirtDriver._pre_live_migration_plug_vifs, self.virt,
            self.instance, model.NetworkInfo([source_vif]),
            self.migrate_data(source_vif, stale))

        self.assertIn('has no SPP binding on host %s' % self.dst, str(err))
        self.assertIsNone(self.wired_vhost(self.dst))
        self.assertEqual(self.vhost_of(source_vif),
                         self.wired_vhost(self.src))
