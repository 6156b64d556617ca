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
"""The two servers of the full-stack tests around Neutron's plugin.

:class:`NeutronServer` serves Neutron's API as neutron-server does (the
``api-paste.ini`` Neutron installs; no Keystone: its ``noauth`` pipeline
behind Neutron's ``keystonecontext`` filter, given the headers auth_token
would set for Nova's service user) on loopback, from a thread of the test
process, one request at a time (the test database is one in-memory SQLite
connection; the test thread waits while Nova's requests run).
:class:`NovaCompute` is nova-compute of one SPP host:
:mod:`neutron_e2e.nova_compute` as a process with its own ``nova.conf``,
driven with JSON lines.
"""

import json
import os
import subprocess
import sys
import threading
from wsgiref import simple_server

import fixtures
from neutron import auth
from oslo_config import cfg
from paste import deploy

#: nova_compute.READY (that module imports Nova: not here).
READY = json.dumps({'ready': True})
TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NOVA_CONF = """[DEFAULT]
host = {host}
[neutron]
auth_type = none
endpoint_override = {neutron_url}
[os_vif_spp]
etcd_host = {etcd.host}
etcd_port = {etcd.port}
spp_ctl_url = {spp.url}
host = {host}
lock_path = {spp.lock_path}
etcd_retry_window = 2.0
spp_ctl_retry_window = 2.0
"""


#: The identity keystonemiddleware's auth_token would confirm for Nova's
#: ``[neutron]`` service user (the roles a deployment gives it: Neutron's
#: port-bindings API is for ``service``).  There is no Keystone here;
#: Neutron's own ``keystonecontext`` filter turns these headers into the
#: request context, as behind auth_token.
NOVA_IDENTITY = {'HTTP_X_IDENTITY_STATUS': 'Confirmed',
                 'HTTP_X_USER_ID': 'nova', 'HTTP_X_USER_NAME': 'nova',
                 'HTTP_X_PROJECT_ID': 'service',
                 'HTTP_X_PROJECT_NAME': 'service',
                 'HTTP_X_ROLES': 'admin,member,reader,service'}


def _as_nova(app):
    def call(environ, start_response):
        environ.update(NOVA_IDENTITY)
        return app(environ, start_response)
    return call


class _QuietHandler(simple_server.WSGIRequestHandler):

    def log_message(self, *args):
        pass


class NeutronServer(fixtures.Fixture):
    """Neutron's API on ``self.url``; set up after Neutron's plugin (the
    pipeline's router takes the loaded plugin).
    """

    def _setUp(self):
        cfg.CONF.set_override('auth_strategy', 'noauth')
        paste_ini = os.path.join(sys.prefix, 'etc', 'neutron',
                                 'api-paste.ini')
        app = auth.NeutronKeystoneContext(
            deploy.loadapp('config:' + paste_ini, name='neutron'))
        httpd = simple_server.make_server('127.0.0.1', 0, _as_nova(app),
                                          handler_class=_QuietHandler)
        self.url = 'http://127.0.0.1:%d' % httpd.server_port
        thread = threading.Thread(target=httpd.serve_forever,
                                  kwargs={'poll_interval': 0.05},
                                  daemon=True)
        thread.start()
        self.addCleanup(httpd.server_close)
        self.addCleanup(thread.join, 10)
        self.addCleanup(httpd.shutdown)


class NovaError(Exception):
    """An exception raised by Nova's code in the nova-compute process."""

    def __init__(self, answer):
        super().__init__('%s: %s' % (answer['type'], answer['error']))
        self.type = answer['type']


class NovaCompute(fixtures.Fixture):
    """nova-compute of ``host``: its process starts at once (Nova takes
    a while to import) and is first waited for by :meth:`call`.
    """

    def __init__(self, host, spp_host, etcd, neutron_url):
        super().__init__()
        self.host = host
        self.conf = NOVA_CONF.format(host=host, spp=spp_host, etcd=etcd,
                                     neutron_url=neutron_url)
        self.tmp = spp_host.tmp
        self._ready = False

    def _setUp(self):
        conf_file = os.path.join(self.tmp, 'nova.conf')
        with open(conf_file, 'w') as f:
            f.write(self.conf)
        self.log = os.path.join(self.tmp, 'nova-compute.log')
        with open(self.log, 'wb') as err:
            self.proc = subprocess.Popen(
                [sys.executable, '-m', 'neutron_e2e.nova_compute',
                 '--config-file', conf_file], cwd=TOP, stderr=err,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.addCleanup(self._stop)

    def _stop(self):
        # Nothing to flush: nova-compute keeps no state of its own here.
        self.proc.kill()
        self.proc.wait(10)
        self.proc.stdin.close()
        self.proc.stdout.close()

    def _line(self):
        line = self.proc.stdout.readline()
        if not line:
            with open(self.log, 'rb') as f:
                tail = f.read()[-3000:].decode('utf-8', 'replace')
            raise AssertionError('nova-compute of %s exited: %s'
                                 % (self.host, tail))
        return line.decode().strip()

    def call(self, call, **args):
        """Run one of Nova's steps (see nova_compute.Compute)."""
        while not self._ready:
            self._ready = self._line() == READY
        request = json.dumps(dict(args, call=call)) + '\n'
        self.proc.stdin.write(request.encode())
        self.proc.stdin.flush()
        answer = json.loads(self._line())
        if 'error' in answer:
            raise NovaError(answer)
        return answer['result']
