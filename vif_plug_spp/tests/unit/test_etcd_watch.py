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
"""The watch's liveness probe verdicts (the etcd side is functional)."""

import threading

import testtools

from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import etcd_watch


class _Member:
    """Answers ``maintenance/status`` like an etcd member would."""

    def __init__(self, answer):
        self.answer = answer
        self.last_answer = 0.0
        self.probe_lock = threading.Lock()
        self.calls = []

    def status_of(self, member):
        self.calls.append('maintenance/status')
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class TestProbe(testtools.TestCase):

    def _probe(self, answer):
        member = _Member(answer)
        watch = etcd_watch.Watch(member, '/p/', 1)
        watch.member = member   # the stream's member: the one probed
        return watch.probe(), member.calls, watch.probes

    def test_member_with_leader_is_alive(self):
        self.assertEqual((None, ['maintenance/status'], 1), self._probe(
            {'header': {'revision': '7'}, 'leader': '1469477627276022583'}))

    def test_member_without_leader_is_not(self):
        # A partitioned member keeps the stream open but delivers nothing.
        reason, _calls, _n = self._probe({'leader': '0'})
        self.assertEqual('the etcd member has no leader', reason)
        reason, _calls, _n = self._probe({})
        self.assertEqual('the etcd member has no leader', reason)

    def test_unanswered_probe(self):
        reason, _calls, _n = self._probe(
            etcd_mod.EtcdUnavailable('no answer within 5.0s'))
        self.assertIn('did not answer a liveness probe (no answer', reason)
