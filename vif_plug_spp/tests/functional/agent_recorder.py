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
"""``spp-agent`` that also writes every watch event it receives to a file.

Usage: ``python -m vif_plug_spp.tests.functional.agent_recorder EVENTS
--config-file agent.conf``.  The agent is the real console script; the
only addition is one JSON line ``[type, key, value, revision]`` per event
its watches hand to the feed, so a test can compare what the agent got
with etcd's own history: an event missing there was lost, one written
twice was delivered twice.
"""

import json
import sys
import threading

from vif_plug_spp.cmd import agent
from vif_plug_spp import etcd_watch


def _record_into(path):
    original = etcd_watch.Watch.__iter__
    out = open(path, 'a', buffering=1)
    lock = threading.Lock()

    def recording(self):
        for event in original(self):
            with lock:
                out.write(json.dumps([event.type, event.key, event.value,
                                      event.revision]) + '\n')
            yield event
    etcd_watch.Watch.__iter__ = recording


if __name__ == '__main__':
    _record_into(sys.argv[1])
    sys.exit(agent.main(sys.argv[2:]))
