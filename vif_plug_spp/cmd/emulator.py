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
"""``spp-ctl-emulator``: spp-ctl plus emulated spp_vf processes.

Either give the core masks of the spp_vf processes (one ``--vf`` each, in
client-id order) or a host configuration JSON as written by
spp-config-build (``--configuration``).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading

from vif_plug_spp.emulator import server
from vif_plug_spp.emulator import state


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='spp-ctl-emulator',
                                     description=__doc__)
    parser.add_argument('--port', type=int, default=7777,
                        help='API port on 127.0.0.1 (0: any free port)')
    parser.add_argument('--vf', action='append', default=[],
                        metavar='CORE_MASK',
                        help='core mask of one spp_vf (repeat per NIC)')
    parser.add_argument('--rings', type=int, default=None,
                        help='rings created by spp_primary (its -n; '
                             'default 64 with --vf, the launch plan\'s '
                             'count with --configuration)')
    parser.add_argument('--configuration', metavar='FILE',
                        help='host configuration JSON (spp-config-build '
                             '--dry-run output)')
    parser.add_argument('--classifier-type', default=state.CLASSIFIER_1808,
                        choices=[state.CLASSIFIER_1808,
                                 state.CLASSIFIER_1908],
                        help='classifier type name: classifier_mac (SPP '
                             '<= 18.08.3) or classifier (SPP >= 18.08.4)')
    parser.add_argument('--status-size-bug', action='store_true',
                        help='answer 500 to status replies of 4096 bytes '
                             'or more, as spp-ctl 18.08.1-19.08 does '
                             '(fixed by SPP commit 8d09d7b, SPP 19.11)')
    parser.add_argument('--hang-seconds', type=float, default=30.0,
                        help='how long a request to an spp_vf that '
                             'stopped answering (component started on '
                             'its master lcore) is held before the '
                             'connection is dropped')
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    opts = {'classifier_type': args.classifier_type,
            'status_size_bug': args.status_size_bug,
            'hang_seconds': args.hang_seconds}
    if args.configuration:
        with open(args.configuration) as f:
            config = json.load(f)
        emu = server.SppCtlEmulator.for_configuration(
            config, port=args.port, num_rings=args.rings, **opts)
    else:
        if not args.vf:
            parser.error('give --vf CORE_MASK (one per NIC) or '
                         '--configuration FILE')
        emu = server.SppCtlEmulator(args.port, **opts)
        for i, mask in enumerate(args.vf, 1):
            emu.state.add_vf(i, int(mask, 16), len(args.vf),
                             args.rings if args.rings is not None else 64)
    emu.start()
    print('spp-ctl emulator listening on %s' % emu.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
