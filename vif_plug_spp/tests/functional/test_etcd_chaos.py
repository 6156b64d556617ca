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
"""200 ports through a TLS + auth cluster while its members die.

Every component runs under its own least-privilege role: the ML2
driver's core (``spp_neutron.core.Binder``) binds and releases, the
os-vif ``spp`` plugin plugs and unplugs through ``os_vif``, and the real
``spp-agent`` process wires the spp-ctl emulator.  Meanwhile the member
the agent is connected to is killed and restarted, then the leader, then
both together (quorum lost for two seconds).  A step that fails while a
member is dying is retried, as Neutron and Nova retry a failed binding
or boot; what must hold at the end:

* every port reached ``up`` and was released (0 ports lost);
* no vhost was held by two live ports, and every vhost slot's history is
  ``None`` -> port -> ``None`` (0 vhosts handed out twice);
* the agent received every change of ``action/H/`` exactly once (its
  recorded watch events equal etcd's history: 0 events lost or doubled);
* nothing is left: no binding key, every slot free, spp_vf's classifier
  tables empty.
"""

import collections
import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time
import uuid

import fixtures
import os_vif
from os_vif import exception as osv_exception
from os_vif import objects
from oslo_config import cfg
from oslo_config import fixture as config_fixture

from spp_neutron import core
from spp_neutron import errors as ml2_errors
from vif_plug_spp import builder
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import keys
from vif_plug_spp import served
from vif_plug_spp.emulator import server as emu_server
from vif_plug_spp.tests.functional import secure_base

H = secure_base.H
PHYSNET = 'phys1'
VHOSTS = 12
PORTS = 200
WORKERS = 6


class _Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.live = {}              # vhost id -> port holding it now
        self.doubles = []
        self.retries = collections.Counter()
        self.done = 0
        self.up = 0
        self.failed = threading.Event()


class TestChaos(secure_base.SecureClusterCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.lock_path = os.path.join(self.tmp, 'lock')
        self.config = builder.build('00:04.0#%s#%d#0xffffffe' % (PHYSNET,
                                                           VHOSTS))
        builder.write(self.client('spp-builder-' + H), H, self.config)
        self.emu = emu_server.SppCtlEmulator.for_configuration(
            self.config).start()
        self.addCleanup(self.emu.stop)
        self.events_file = os.path.join(self.tmp, 'agent-events')
        self.agent = self.spawn_agent()
        self.wait_for(lambda: self.cluster.root.get(served.marker(H)),
                      what='the agent serving the host')
        os_vif.initialize()
        self.useFixture(config_fixture.Config(cfg.CONF))
        s = self.settings('spp-plugin-' + H)
        for name, value in [
                ('etcd_endpoints', s['endpoints']),
                ('etcd_ca_file', s['ca_file']),
                ('etcd_cert_file', s['cert_file']),
                ('etcd_key_file', s['key_file']),
                ('etcd_username', s['username']),
                ('etcd_password', s['password']),
                ('spp_ctl_url', self.emu.url), ('host', H),
                ('lock_path', self.lock_path), ('etcd_retry_window', 3.0)]:
            cfg.CONF.set_override(name, value, group='os_vif_spp')
        self.binder = core.Binder(self.client('spp-ml2', retry_window=3.0))
        self.inst = objects.instance_info.InstanceInfo(
            uuid=str(uuid.uuid4()), name='vm', project_id='p')

    def spawn_agent(self):
        conf = os.path.join(self.tmp, 'agent.conf')
        lines = ['[DEFAULT]', 'host = %s' % H, '[AGENT]',
                 'report_interval = 0', '[spp]',
                 'api_port = %d' % self.emu.port,
                 'lock_path = %s' % self.lock_path, 'backoff_max = 0.3',
                 'watch_idle_timeout = 2'] + self.option_lines(
            'spp-agent-' + H, os.path.join(self.tmp, 'agent.credentials'))
        with open(conf, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        log = open(os.path.join(self.tmp, 'agent.log'), 'wb')
        self.addCleanup(log.close)
        proc = subprocess.Popen(
            [sys.executable, '-m',
             'vif_plug_spp.tests.functional.agent_recorder',
             self.events_file, '--config-file', conf],
            stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.terminate)
        return proc

    # -- one port's life ----------------------------------------------------
    def retry(self, stats, what, func, *args):
        """``func`` until it succeeds (a member may be dying)."""
        deadline = time.monotonic() + 30
        while True:
            try:
                return func(*args)
            except (ml2_errors.EtcdFailed, ml2_errors.ReleasePending,
                    osv_exception.ExceptionBase, etcd_mod.EtcdError) as exc:
                if time.monotonic() > deadline or stats.failed.is_set():
                    stats.failed.set()
                    raise AssertionError('%s kept failing: %s' % (what, exc))
                with stats.lock:
                    stats.retries[what] += 1
                time.sleep(0.1)

    def vif(self, port, vhost_id, mac):
        return objects.vif.VIFVHostUser(
            id=port, address=mac, plugin='spp', vif_name='nic',
            mode='server', path='/tmp/sock%d' % vhost_id,
            network=objects.network.Network(id=str(uuid.uuid4())))

    def cycle(self, stats, n):
        port = str(uuid.uuid4())
        mac = 'fa:16:3e:00:%02x:%02x' % (n // 256, n % 256)
        alloc = self.retry(stats, 'bind', self.binder.bind, H, port, mac,
                           PHYSNET)
        with stats.lock:
            if alloc.vhost_id in stats.live:
                stats.doubles.append((alloc.vhost_id, port,
                                      stats.live[alloc.vhost_id]))
            stats.live[alloc.vhost_id] = port
        vif = self.vif(port, alloc.vhost_id, mac)
        self.retry(stats, 'plug', os_vif.plug, vif, self.inst)
        if self.retry(stats, 'wait up', self.binder.wait_up, alloc, 30):
            with stats.lock:
                stats.up += 1
        self.retry(stats, 'unplug', os_vif.unplug, vif, self.inst)
        with stats.lock:
            del stats.live[alloc.vhost_id]
        self.retry(stats, 'release', self.binder.release, H, port)
        slot = keys.vhost(H, PHYSNET, alloc.vhost_id)
        root = self.cluster.root
        self.wait_for(lambda: root.get(slot) != port and
                      root.get(keys.bind_port(H, port)) is None,
                      30, 'port %s released' % port)
        with stats.lock:
            stats.done += 1

    # -- chaos --------------------------------------------------------------
    def chaos(self, stats, log):
        """Kill the agent's member, restart it; then the leader; then
        both at once (no quorum for two seconds: nothing can be written
        anywhere), and restart them.
        """
        c = self.cluster

        def at(fraction):
            while stats.done < PORTS * fraction:
                if stats.failed.wait(0.05):
                    raise AssertionError('a port failed; chaos stopped')

        at(0.15)
        served_by = c.serving(self.agent.pid)
        victim = served_by[0] if served_by else c.leader()
        c.kill(victim)
        # The agent's watch and calls move to a live member.
        self.wait_for(lambda: set(c.serving(self.agent.pid)) -
                      {victim}, 30, 'the agent on another member')
        log.append(('agent member', victim, 'agent moved to',
                    c.serving(self.agent.pid)))
        at(0.35)
        c.restart(victim)
        at(0.5)
        leader = c.leader()
        log.append(('leader', leader))
        c.kill(leader)
        at(0.7)
        c.restart(leader)
        at(0.8)
        self.lose_quorum(log)

    def lose_quorum(self, log):
        """The agent's member and the leader down together for 2 s."""
        c = self.cluster
        served_by = c.serving(self.agent.pid) or [c.leader()]
        both = [served_by[0], c.leader()]
        if both[0] == both[1]:
            both[1] = (both[0] + 1) % len(c.members)
        for member in both:
            c.kill(member)
        log.append(('no quorum: agent member, leader', both))
        time.sleep(2.0)
        for member in both:
            c.members[member].spawn()
        c.restart_wait(both)

    def test_ports_survive_member_and_leader_death(self):
        stats = _Stats()
        root = self.cluster.root
        start_rev = root.revision()
        chaos_log = []
        chaos = threading.Thread(target=self.chaos, args=(stats, chaos_log))
        chaos.start()
        began = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            futures = [pool.submit(self.cycle, stats, n)
                       for n in range(PORTS)]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                stats.failed.set()
                for future in futures:
                    future.cancel()
                raise
        chaos.join(60)
        took = time.monotonic() - began
        print('chaos: %d ports in %.1fs, retries %s, kills %s' % (
            PORTS, took, dict(stats.retries), chaos_log))
        self.assertEqual(3, len(chaos_log))
        self.assertEqual((PORTS, PORTS, []),
                         (stats.done, stats.up, stats.doubles))
        self.assert_slots_alternate(root.history(keys.vhost_prefix(H),
                                                 start_rev))
        self.assert_agent_events(root.history(keys.action_prefix(H),
                                              start_rev))
        self.assert_nothing_left(root)

    def assert_slots_alternate(self, history):
        holder = {}
        for _type, key, value, rev in history:
            before = holder.get(key, keys.FREE)
            if value != keys.FREE and before != keys.FREE:
                self.fail('%s handed to %s while %s held it (rev %d)'
                          % (key, value, before, rev))
            holder[key] = value
        self.assertEqual(PORTS * 2, len(history))

    def assert_agent_events(self, history):
        with open(self.events_file) as f:
            got = [tuple(json.loads(line)) for line in f]
        got = [e for e in got if e[3] > 0 and e[1].startswith(
            keys.action_prefix(H)) and e[1] in {h[1] for h in history}]
        counts = collections.Counter(got)
        doubled = [e for e, n in counts.items() if n > 1]
        lost = [e for e in history if e not in counts]
        self.assertEqual(([], []), (lost, doubled))
        # plug, unplug, and the agent's own delete of each port's action
        self.assertEqual(PORTS * 3, len(history))

    def assert_nothing_left(self, root):
        for prefix in (keys.bind_port_prefix(H), keys.action_prefix(H),
                       keys.port_status_prefix(H)):
            self.assertEqual({}, root.get_prefix(prefix))
        slots = root.get_prefix(keys.vhost_prefix(H))
        self.assertEqual({keys.FREE}, set(slots.values()))
        self.assertEqual(VHOSTS, len(slots))
        self.assertEqual([], self.emu.snapshot()[1]['classifier_table'])
