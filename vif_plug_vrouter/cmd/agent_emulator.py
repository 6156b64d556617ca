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
"""``vrouter-agent-emulator``: run the agent port-API emulator."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from vif_plug_vrouter.emulator import server


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(':')
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError('expected HOST:PORT, e.g. '
                                         '127.0.0.1:9091')
    return host, int(port)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog='vrouter-agent-emulator',
        description='Emulate the OpenSDN/Tungsten Fabric vRouter agent '
                    'port REST API (for tests and sandboxes).')
    p.add_argument('--listen', type=_listen, default=('127.0.0.1', 9091),
                   help='HOST:PORT to listen on (default 127.0.0.1:9091; '
                        'use loopback)')
    p.add_argument('--ports-dir', required=True,
                   help='port-file directory to write and replay')
    p.add_argument('--kernel-mode', action='store_true',
                   help='on replay skip ports whose interface does not '
                        'exist, as the kernel-mode agent does')
    p.add_argument('--stale-timeout', type=float, default=60.0,
                   help='seconds between /syncports and the stale-port '
                        'cleanup (agent default 60)')
    p.add_argument('--auto-config', action='store_true',
                   help='answer GET /port/<uuid> at once instead of 404 '
                        'until controller config arrives')
    p.add_argument('--control', action='store_true',
                   help='enable the emulator-only /_emulator/ endpoints: '
                        'GET ports, POST clean-stale, POST config/<vmi> '
                        '(JSON body: what the control node sent, e.g. '
                        '{"vm_uuid": ..., "vn_name": ...})')
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    host, port = args.listen
    emu = server.AgentEmulator(args.ports_dir, host=host, port=port,
                               check_port=args.kernel_mode,
                               stale_timeout=args.stale_timeout,
                               auto_config=args.auto_config,
                               control=args.control)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    emu.start()
    print('vrouter-agent-emulator listening on %s, ports dir %s, '
          '%d port(s) replayed' % (emu.url, args.ports_dir,
                                   len(emu.state.ports)), flush=True)
    done.wait()
    emu.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
