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
"""What every end-to-end test needs: Nova objects, the VIF driver, XML.

The tests drive Nova's own ``LibvirtGenericVIFDriver``: ``plug()`` runs
``nova_to_osvif_vif`` + ``nova_to_osvif_instance`` and then
``os_vif.plug`` (stevedore picks the plugin by name), and ``get_config()``
renders the ``<interface>`` element libvirt would receive.  Only libvirt
itself is absent.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import fixtures
from lxml import etree
from nova import exception as nova_exception
from nova.network import model
from nova.network import os_vif_util
from nova import objects as nova_objects
from nova.virt.libvirt import vif as libvirt_vif
import os_vif
from oslo_config import cfg
from oslo_config import fixture as config_fixture
import testtools

nova_objects.register_all()

NETWORK_ID = 'b82c1929-051e-481d-8110-4669916c7915'
PROJECT_ID = '2f37d7f6e51a4a1f8b6eb0917ffc8390'
PROJECT_ID_DASHED = '2f37d7f6-e51a-4a1f-8b6e-b0917ffc8390'
IPV4 = '10.0.0.5'
IPV6 = 'fd00::5'
MTU = 1450

NovaError = nova_exception.NovaException


def devname(port_id: str) -> str:
    """The interface name Neutron gives Nova: ``tap`` + port id, 14."""
    return ('tap' + port_id)[:model.NIC_NAME_LEN]


def network(mtu: int = MTU) -> model.Network:
    v4 = model.Subnet(cidr='10.0.0.0/24',
                      ips=[model.FixedIP(address=IPV4)],
                      gateway=model.IP(address='10.0.0.1', type='gateway'))
    v6 = model.Subnet(cidr='fd00::/64', ips=[model.FixedIP(address=IPV6)])
    return model.Network(id=NETWORK_ID, label='e2e-net', bridge=None,
                         subnets=[v4, v6], meta={'mtu': mtu})


def nova_vif(vif_type: str, vnic_type: str = model.VNIC_TYPE_NORMAL,
             details: dict[str, Any] | None = None,
             profile: dict[str, Any] | None = None,
             port_id: str | None = None,
             mac: str = 'fa:16:3e:12:34:56') -> model.VIF:
    """A Nova network-model VIF as built from a Neutron port binding."""
    port_id = port_id or str(uuid.uuid4())
    return model.VIF(id=port_id, address=mac, network=network(),
                     type=vif_type, vnic_type=vnic_type,
                     details=details or {}, profile=profile or {},
                     devname=devname(port_id), active=False)


class NovaE2ETestCase(testtools.TestCase):
    """Fresh os-vif plugins and a Nova instance for every test."""

    def setUp(self) -> None:
        super().setUp()
        self.conf = self.useFixture(config_fixture.Config(cfg.CONF))
        self.tmp = self.useFixture(fixtures.TempDir()).path
        # New plugin objects per test: a plugin caches clients built from
        # its options on first use, and each test has its own servers.
        os_vif.initialize(reset=True)
        self.instance = nova_objects.Instance(
            uuid=str(uuid.uuid4()), project_id=PROJECT_ID, id=42,
            vm_state='building', display_name='e2e-vm')
        self.driver = libvirt_vif.LibvirtGenericVIFDriver()

    # -- Nova calls ------------------------------------------------------
    def plug(self, vif: model.VIF) -> None:
        self.driver.plug(self.instance, vif)

    def unplug(self, vif: model.VIF) -> None:
        self.driver.unplug(self.instance, vif)

    def to_osvif(self, vif: model.VIF) -> Any:
        return os_vif_util.nova_to_osvif_vif(vif)

    def interface_xml(self, vif: model.VIF) -> Any:
        """The ``<interface>`` element Nova would give libvirt."""
        image_meta = nova_objects.ImageMeta.from_dict({})
        flavor = nova_objects.Flavor(vcpus=2, memory_mb=1024,
                                     extra_specs={})
        conf = self.driver.get_config(self.instance, vif, image_meta,
                                      flavor, 'kvm')
        return etree.fromstring(conf.to_xml())

    @property
    def instance_name(self) -> str:
        """The libvirt domain name (stock Nova's InstanceInfo.name)."""
        return str(self.instance.name)

    # -- XML helpers -------------------------------------------------------
    @staticmethod
    def xml_attr(node: Any, path: str, attr: str) -> str | None:
        found = node.find(path)
        return None if found is None else found.get(attr)

    @staticmethod
    def pci_of(node: Any) -> str:
        """``<source><address .../>`` of a hostdev interface as a string."""
        addr = node.find('source/address')
        if addr is None:
            raise AssertionError('no <source><address> in %s'
                                 % etree.tostring(node).decode())
        parts = [int(addr.get(k), 16)
                 for k in ('domain', 'bus', 'slot', 'function')]
        return '%04x:%02x:%02x.%x' % tuple(parts)

    def assert_file(self, path: str) -> None:
        self.assertTrue(os.path.exists(path), '%s does not exist' % path)

    def assert_no_file(self, path: str) -> None:
        self.assertFalse(os.path.exists(path), '%s still exists' % path)


class VrouterAgentFixture(fixtures.Fixture):
    """The agent emulator on loopback, wired into both plugin sections.

    ``[os_vif_vrouter]`` and ``[os_vif_contrail_vrouter]`` point at it,
    with the port files in a temp dir shared with the emulator (as on a
    real host) and written without privsep (no root needed).
    """

    GROUPS = ('os_vif_vrouter', 'os_vif_contrail_vrouter')

    def __init__(self, conf: config_fixture.Config, tmp: str,
                 groups: tuple[str, ...] = GROUPS) -> None:
        super().__init__()
        self.conf = conf
        self.ports_dir = os.path.join(tmp, 'ports')
        self.socket_dir = os.path.join(tmp, 'vrouter')
        self.groups = groups

    def _setUp(self) -> None:
        from vif_plug_vrouter.emulator import server
        os.makedirs(self.socket_dir, exist_ok=True)
        self.emulator = server.AgentEmulator(self.ports_dir, port=0).start()
        self.addCleanup(self.emulator.stop)
        for group in self.groups:
            self.point(group, self.emulator.url)

    def point(self, group: str, url: str) -> None:
        self.conf.config(group=group, agent_url=url,
                         ports_dir=self.ports_dir,
                         privileged_port_files=False,
                         vhostuser_socket_dirs=[self.socket_dir],
                         agent_retry_window=0.2)

    def ports(self) -> dict[str, dict[str, Any]]:
        return self.emulator.state.snapshot()

    def port(self, port_id: str) -> dict[str, Any]:
        ports = self.ports()
        if port_id not in ports:
            raise AssertionError('the agent has no port %s (it has %s)'
                                 % (port_id, sorted(ports)))
        return ports[port_id]

    def port_file(self, port_id: str) -> str:
        return os.path.join(self.ports_dir, port_id)

    def socket(self, name: str) -> str:
        """Where the DPDK vRouter serves the socket of interface name."""
        return os.path.join(self.socket_dir, 'uvh_vif_' + name)


class NovaDatabaseFixture(fixtures.Fixture):
    """Nova's real main database schema in a file-backed SQLite database.

    Nova's own ``nova.tests.fixtures.Database`` cannot be used here:
    importing ``nova.tests.fixtures`` imports ``nova.tests.functional``,
    which monkey-patches the process with eventlet and stalls the agent
    emulator's threads.  This does what it does for the main database:
    a fresh engine facade for the test, configured from ``[database]``,
    migrated with Nova's own ``db_sync``.
    """

    def __init__(self, conf: config_fixture.Config, tmp: str) -> None:
        super().__init__()
        self.conf = conf
        self.tmp = tmp

    def _setUp(self) -> None:
        import nova.conf  # noqa: F401 - registers [database]
        from nova.db.main import api as main_db_api
        from nova.db import migration
        from oslo_db.sqlalchemy import enginefacade
        from oslo_db.sqlalchemy import test_fixtures as db_fixtures
        from osprofiler import opts as profiler_opts
        profiler_opts.set_defaults(cfg.CONF)   # as nova.config does
        self.conf.config(group='database', connection='sqlite:///%s' %
                         os.path.join(self.tmp, 'nova.sqlite'))
        self.useFixture(db_fixtures.ReplaceEngineFacadeFixture(
            main_db_api.context_manager, enginefacade.transaction_context()))
        main_db_api.configure(cfg.CONF)
        migration.db_sync(database='main')
