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
"""The hostile-input corpus (``corpus.json``) at every vRouter entry.

Each case names an entry (see :mod:`.entries`) and one input; some also
say whether it must be ``accepted`` or ``refused``.  Every case must end
cleanly (accepted, or refused with a documented error / one stderr line)
and a refused case must leave the host as it was.  Run this module as a
script to print the counts for a code base:
``python -m vif_plug_vrouter.tests.unit.hostile.test_corpus``.
"""

from __future__ import annotations

import collections
import json
import os
import signal
from typing import Any

import testtools

from vif_plug_vrouter.tests.unit.hostile import entries

CORPUS = os.path.join(os.path.dirname(__file__), 'corpus.json')


def load() -> list[dict[str, Any]]:
    with open(CORPUS, encoding='utf-8') as f:
        cases: list[dict[str, Any]] = json.load(f)
    return cases


def _hang(signum: int, frame: Any) -> None:
    raise entries.Defect('no outcome after %d s (hang)' % HANG_SECONDS)


HANG_SECONDS = 10


def check(host: entries.Host, case: dict[str, Any]) -> tuple[str, str]:
    """``(verdict, detail)``: verdict is clean, defect or side-effect."""
    old = signal.signal(signal.SIGALRM, _hang)
    signal.alarm(HANG_SECONDS)
    try:
        outcome, changed = entries.run(host, case)
    except entries.Defect as exc:
        return 'defect', str(exc)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    expected = case.get('expect')
    if changed and entries.REFUSED in (outcome, expected):
        return 'side-effect', '%s (must be refused) but changed %s' % (
            outcome, ', '.join(changed))
    if expected and outcome != expected:
        return 'defect', '%s, expected %s' % (outcome, expected)
    return 'clean', outcome


def group(case: dict[str, Any]) -> str:
    """The entry, with the privileged network helpers as one group."""
    entry: str = case['entry']
    return 'linux_net' if entry.startswith('linux_net.') else entry


class TestCorpus(testtools.TestCase):
    """One test per entry, so that the runner spreads them over workers."""

    def _check_group(self, name: str) -> None:
        host = self.useFixture(entries.Host())
        failures = []
        for number, case in enumerate(load()):
            if group(case) != name:
                continue
            verdict, detail = check(host, case)
            if verdict != 'clean':
                failures.append('#%d %s: %s: %s' % (number, case['entry'],
                                                    verdict, detail))
        self.assertEqual([], failures)

    def test_corpus_covers_every_entry(self) -> None:
        self.assertEqual(set(entries.ENTRIES) | {'linux_net'},
                         {group(c) for c in load()})


for _name in list(entries.ENTRIES) + ['linux_net']:
    setattr(TestCorpus, 'test_%s' % _name.replace('.', '_'),
            lambda self, n=_name: self._check_group(n))


def main() -> None:
    """Print the counts (cases, clean, defects, side effects) by entry."""
    import fixtures

    class _Case(fixtures.TestWithFixtures):
        def runTest(self) -> None:
            pass
    holder = _Case()
    holder.setUp()
    host = holder.useFixture(entries.Host())
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(
        collections.Counter)
    for number, case in enumerate(load()):
        verdict, detail = check(host, case)
        counts[group(case)][verdict] += 1
        counts['TOTAL'][verdict] += 1
        if verdict != 'clean':
            print('#%d %s %s: %s' % (number, case['entry'], verdict,
                                     detail[:160]))
    for name, counter in sorted(counts.items()):
        print('%-16s cases %4d  clean %4d  defects %3d  side effects %3d' %
              (name, sum(counter.values()), counter['clean'],
               counter['defect'], counter['side-effect']))


if __name__ == '__main__':
    main()
