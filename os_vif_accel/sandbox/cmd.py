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
"""``os-vif-accel-sandbox``: real plug/unplug round trips, self-contained.

Runs the vRouter round trip (:mod:`os_vif_accel.sandbox.vrouter`) and the
SPP one (:mod:`os_vif_accel.sandbox.spp`); the sandbox lives outside both
plugin packages so that neither plugin imports the other.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from os_vif_accel.sandbox import vrouter


def run_spp(out: vrouter.Out) -> None:
    """The SPP round trip, when the SPP plugin is installed."""
    try:
        from os_vif_accel.sandbox import spp as spp_sandbox
    except ImportError:
        out('\n(SPP plugin not installed: SPP round trip skipped)')
        return
    out('\n== SPP round trip')
    spp_sandbox.run(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog='os-vif-accel-sandbox',
        description='Plug and unplug sample ports through os-vif against '
                    'the embedded emulators, printing what they received.')
    parser.add_argument('--only', choices=['vrouter', 'spp'],
                        help='run only one round trip')
    args = parser.parse_args(argv)
    warnings.simplefilter('ignore')
    # The privsep daemon inherits this and stays quiet about eventlet.
    os.environ.setdefault('PYTHONWARNINGS', 'ignore')

    def out(text: str) -> None:
        print(text, flush=True)

    if args.only in (None, 'vrouter'):
        vrouter.run_vrouter(out)
    if args.only in (None, 'spp'):
        run_spp(out)
    out('\nsandbox: OK')
    return 0


if __name__ == '__main__':
    sys.exit(main())
