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
"""Build ``commands.json`` from a recording (``record.sh OUTDIR``).

Usage: ``python3 commands.py OUTDIR > commands.json``.  For each recorded
port file: the command that wrote it last, its exit code and stdout, the
agent it talked to, and the earlier commands whose effect the file also
carries (``preceded_by``: the add, then the enable, for the ESXi cases).
"""

import json
import os
import sys
from typing import Any

#: phase 2 cases (agent down) -> the earlier cases on the same port file
PRECEDED_BY = {
    'direct-esxi-enabled': ['direct-esxi'],
    'direct-esxi-disabled': ['direct-esxi', 'direct-esxi-enabled'],
    'api-esxi-enabled': ['api-esxi'],
    'api-esxi-disabled': ['api-esxi', 'api-esxi-enabled'],
}
EMULATOR = 'vrouter-agent-emulator on 127.0.0.1:9091'


def read(out: str, name: str, ext: str) -> str:
    with open(os.path.join(out, '%s.%s' % (name, ext))) as f:
        return f.read()


def main(out: str) -> None:
    doc: dict[str, Any] = {}
    names = sorted(n[:-5] for n in os.listdir(out) if n.endswith('.json'))
    for name in names:
        entry: dict[str, Any] = {
            'agent': 'down' if name in PRECEDED_BY else EMULATOR,
            'command': read(out, name, 'cmd').strip(),
            'exit_code': int(read(out, name, 'rc')),
            'stdout': read(out, name, 'stdout'),
            'via': ('contrail-vrouter-api' if name.startswith('api-')
                    else 'vrouter-port-control argv'),
        }
        if name in PRECEDED_BY:
            entry['preceded_by'] = [read(out, n, 'cmd').strip()
                                    for n in PRECEDED_BY[name]]
        doc[name + '.json'] = entry
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + '\n')


if __name__ == '__main__':
    main(sys.argv[1])
