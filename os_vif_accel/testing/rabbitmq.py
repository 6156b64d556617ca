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
"""A private RabbitMQ broker on free loopback ports, for tests.

Neutron agents report their state over the message bus; oslo.messaging's
in-process ``fake`` transport skips what a real deployment depends on
(a broker, exchanges and queues, an agent that reconnects).  This runs
Debian's ``rabbitmq-server`` as its own node: its own node name, data and
log directories, AMQP and distribution ports, an empty configuration and
its own ``epmd`` on a free port (``-start_epmd false``), so it neither
uses nor disturbs a broker or ``epmd`` already running on the machine.
Stopping it kills only the processes it started.  Standard library only.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

from os_vif_accel.testing import etcd as etcd_server

__all__ = ['RABBITMQ_SERVER', 'RabbitServer', 'available']

RABBITMQ_SERVER = os.environ.get('OS_VIF_ACCEL_RABBITMQ',
                                 '/usr/lib/rabbitmq/bin/rabbitmq-server')
EPMD = os.environ.get('OS_VIF_ACCEL_EPMD', '/usr/bin/epmd')
#: AMQP 0-9-1 protocol header; a ready broker answers Connection.Start
#: (a method frame, type 1).
_AMQP_HEADER = b'AMQP\x00\x00\x09\x01'


def available() -> bool:
    """True if rabbitmq-server and epmd can be run."""
    return os.access(RABBITMQ_SERVER, os.X_OK) and os.access(EPMD, os.X_OK)


def _answers_amqp(port: int) -> bool:
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=2) as s:
            s.sendall(_AMQP_HEADER)
            return s.recv(1) == b'\x01'
    except OSError:
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_group(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM to the process group started as ``proc`` (beam.smp
    outlives the shell wrapper for a moment), SIGKILL what is left after
    ``grace`` seconds.
    """
    if _group_alive(proc.pid):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        proc.poll()  # reap the leader so the group can empty
        time.sleep(0.1)
    if _group_alive(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


class RabbitServer:
    """One RabbitMQ node (user ``guest``, loopback only) in a temporary
    directory; ``start()`` waits until it answers AMQP.
    """

    def __init__(self, start_timeout: float = 90.0) -> None:
        self.start_timeout = start_timeout
        self.tmpdir: str | None = None
        self.port = 0
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def transport_url(self) -> str:
        """oslo.messaging's URL for this broker (test credentials)."""
        return 'rabbit://guest:guest@127.0.0.1:%d/' % self.port

    def _env(self, epmd_port: int) -> dict[str, str]:
        assert self.tmpdir is not None
        tmp = self.tmpdir
        return {
            'PATH': '/usr/sbin:/usr/bin:/sbin:/bin',
            # The Erlang cookie goes to $HOME/.erlang.cookie.
            'HOME': tmp, 'LANG': 'C.UTF-8',
            'ERL_EPMD_ADDRESS': '127.0.0.1', 'ERL_EPMD_PORT': str(epmd_port),
            'RABBITMQ_NODENAME': 'osva-%s@localhost' % uuid.uuid4().hex[:8],
            'RABBITMQ_NODE_IP_ADDRESS': '127.0.0.1',
            'RABBITMQ_NODE_PORT': str(self.port),
            'RABBITMQ_DIST_PORT': str(etcd_server.free_port()),
            'RABBITMQ_MNESIA_BASE': os.path.join(tmp, 'mnesia'),
            'RABBITMQ_LOG_BASE': os.path.join(tmp, 'log'),
            'RABBITMQ_PID_FILE': os.path.join(tmp, 'rabbitmq.pid'),
            'RABBITMQ_CONFIG_FILE': os.path.join(tmp, 'rabbitmq.conf'),
            'RABBITMQ_ADVANCED_CONFIG_FILE': os.path.join(tmp,
                                                          'advanced.config'),
            'RABBITMQ_CONF_ENV_FILE': os.path.join(tmp, 'rabbitmq-env.conf'),
            'RABBITMQ_ENABLED_PLUGINS_FILE': os.path.join(tmp,
                                                          'enabled_plugins'),
            'RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS': '-start_epmd false',
        }

    def _spawn(self, args: list[str], env: dict[str, str] | None,
               log: str) -> None:
        assert self.tmpdir is not None
        with open(os.path.join(self.tmpdir, log), 'ab') as out:
            # Own session: stop() signals the group, which holds beam.smp
            # and its helpers, and nothing else.
            self.procs.append(subprocess.Popen(
                args, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True))

    def start(self) -> 'RabbitServer':
        if not available():
            raise RuntimeError('%s or %s not found: install the '
                               'rabbitmq-server package' % (RABBITMQ_SERVER,
                                                            EPMD))
        self.tmpdir = tempfile.mkdtemp(prefix='os-vif-accel-rabbitmq-')
        open(os.path.join(self.tmpdir, 'rabbitmq.conf'), 'w').close()
        epmd_port = etcd_server.free_port()
        self.port = etcd_server.free_port()
        self._spawn([EPMD, '-port', str(epmd_port), '-address',
                     '127.0.0.1'], None, 'epmd.log')
        self._spawn([RABBITMQ_SERVER], self._env(epmd_port), 'server.log')
        deadline = time.monotonic() + self.start_timeout
        while not _answers_amqp(self.port):
            if any(p.poll() is not None for p in self.procs) or \
                    time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError('rabbitmq-server did not start: %s'
                                   % tail)
            time.sleep(0.2)
        return self

    def log_tail(self) -> str:
        return etcd_server.log_tail(self.tmpdir, 'server.log')

    def stop(self) -> None:
        """Stop the broker, then its epmd (reverse order of start); each
        process group is gone when this returns.
        """
        for proc in reversed(self.procs):
            _stop_group(proc)
        self.procs = []
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
