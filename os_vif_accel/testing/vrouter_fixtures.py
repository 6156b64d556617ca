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
"""vRouter test fixtures shared by tests, benchmarks and ``nova_e2e``.

They live here, not under ``vif_plug_vrouter/tests``, so that nothing
outside the tests imports a test module.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from typing import Any

import fixtures
from os_vif import objects
from oslo_config import cfg
from oslo_config import fixture as config_fixture

from vif_plug_vrouter.emulator import server

PLUGIN_GROUPS = ('os_vif_vrouter', 'os_vif_contrail_vrouter')


def initialize_os_vif() -> None:
    import os_vif
    os_vif.initialize()


class EmulatorFixture(fixtures.Fixture):
    """A running agent emulator with its own ports directory."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.kwargs = kwargs

    def _setUp(self) -> None:
        tmp = self.useFixture(fixtures.TempDir()).path
        self.ports_dir = os.path.join(tmp, 'ports')
        self.sock_dir = os.path.join(tmp, 'vrouter')
        self.emulator = server.AgentEmulator(self.ports_dir, **self.kwargs)
        self.emulator.start()
        self.addCleanup(self.emulator.stop)

    @property
    def url(self) -> str:
        return self.emulator.url

    def port_file(self, port_id: str) -> str | None:
        try:
            with open(os.path.join(self.ports_dir, port_id)) as f:
                return f.read()
        except FileNotFoundError:
            return None

    def posts(self) -> list[tuple[str, str, bytes]]:
        return [r for r in self.emulator.requests if r[0] == 'POST']


class PluginConfigFixture(fixtures.Fixture):
    """Point both plugin sections at an emulator and a ports dir."""

    def __init__(self, url: str, ports_dir: str, sock_dir: str,
                 privileged: bool = False, **overrides: Any) -> None:
        super().__init__()
        self.url = url
        self.ports_dir = ports_dir
        self.sock_dir = sock_dir
        self.privileged = privileged
        self.overrides = overrides

    def _setUp(self) -> None:
        initialize_os_vif()
        conf = self.useFixture(config_fixture.Config(cfg.CONF))
        for group in PLUGIN_GROUPS:
            conf.config(group=group, agent_url=self.url,
                        ports_dir=self.ports_dir,
                        vhostuser_socket_dirs=[self.sock_dir],
                        privileged_port_files=self.privileged,
                        agent_retry_window=0.3,
                        **self.overrides)
        # The plugin instances are cached by os-vif: drop their clients
        # so that the new configuration is used.
        import os_vif
        for ext in os_vif._EXT_MANAGER:
            ext.obj._manager = None
            ext.obj._offloader = None


def network(v4: list[str] | None = None, v6: list[str] | None = None,
            net_id: str | None = None, mtu: int = 1500) -> Any:
    subnets = []
    for cidr, addrs in (('10.0.0.0/24', v4 or []),
                        ('fd00::/64', v6 or [])):
        if addrs:
            subnets.append(objects.subnet.Subnet(
                cidr=cidr, ips=objects.fixed_ip.FixedIPList(objects=[
                    objects.fixed_ip.FixedIP(address=a) for a in addrs])))
    return objects.network.Network(
        id=net_id or str(uuid.uuid4()), mtu=mtu,
        subnets=objects.subnet.SubnetList(objects=subnets))


def instance(name: str = 'instance-00000001',
             project_id: str | None = None) -> Any:
    return objects.instance_info.InstanceInfo(
        uuid=str(uuid.uuid4()), name=name,
        project_id=project_id or uuid.uuid4().hex)


def generic_vif(port_id: str | None = None, **kw: Any) -> Any:
    port_id = port_id or str(uuid.uuid4())
    kw.setdefault('address', 'fa:16:3e:11:22:33')
    kw.setdefault('network', network(['10.0.0.5']))
    kw.setdefault('vif_name', ('tap' + port_id)[:14])
    return objects.vif.VIFGeneric(id=port_id, plugin='vrouter', **kw)


def vhostuser_vif(sock_dir: str, port_id: str | None = None,
                  plugin: str = 'contrail_vrouter', **kw: Any) -> Any:
    port_id = port_id or str(uuid.uuid4())
    name = kw.pop('vif_name', ('tap' + port_id)[:14])
    kw.setdefault('address', 'fa:16:3e:44:55:66')
    kw.setdefault('network', network(['10.0.0.6']))
    kw.setdefault('mode', 'server')
    kw.setdefault('path', os.path.join(sock_dir, 'uvh_vif_' + name))
    return objects.vif.VIFVHostUser(id=port_id, plugin=plugin,
                                    vif_name=name, **kw)


class RawServer(fixtures.Fixture):
    """A loopback TCP server that answers every request with ``reply``.

    ``reply=None`` never answers (a hung agent); ``keep_open`` leaves the
    connection open after the reply (a stream that goes on).
    """

    def __init__(self, reply: bytes | None, keep_open: bool = False) -> None:
        super().__init__()
        self.reply = reply
        self.keep_open = keep_open

    def _setUp(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.url = 'http://127.0.0.1:%d' % self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.conns: list[socket.socket] = []
        self.received: list[bytes] = []
        thread = threading.Thread(target=self._serve, daemon=True)
        thread.start()
        self.addCleanup(self._close)

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            self.received.append(conn.recv(65536))
            if self.reply is not None:
                conn.sendall(self.reply)
                if not self.keep_open:
                    conn.close()

    def _close(self) -> None:
        self.stop.set()
        self.sock.close()
        for conn in self.conns:
            conn.close()


def free_port() -> int:
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)
