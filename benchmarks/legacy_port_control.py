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
"""A legacy-style ``vrouter-port-control``, for benchmarks only.

Written for this repository to behave like the script the agent ships
(argparse + ``requests``, one process per call), as described in
doc/source/user/port-control.rst: it glues its arguments together and
cuts them before every ``--``, dashes only 32-character project ids,
writes the port file in place before the POST, talks to ``localhost``
without a timeout and exits 0 when the agent is down.  Kernel ports only;
the DPDK waits are not needed to measure a call.
"""

import argparse
import datetime
import json
import os
import re
import sys

import requests

PORT_TYPES = {'NovaVMPort': 0, 'NameSpacePort': 1, 'ESXiPort': 2}


def resplit(argv):
    """Re-split the joined argument line the way the legacy tool does."""
    line = ' '.join(argv)
    if '"' in line:
        pieces = re.findall(r'--\w+="[^"]*"', line)
        return [p.replace('"', '') for p in pieces]
    return [p for p in re.split(r'\s+(?=--)', line) if p]


def parse(argv):
    p = argparse.ArgumentParser()
    p.add_argument('--oper', required=True)
    p.add_argument('--uuid', required=True)
    for name in ('instance_uuid', 'vn_uuid', 'vm_project_uuid',
                 'ip_address', 'ipv6_address', 'vm_name', 'mac', 'tap_name',
                 'tx_vlan_id', 'rx_vlan_id', 'vhostuser_socket'):
        p.add_argument('--' + name)
    p.add_argument('--port_type', default='NovaVMPort')
    p.add_argument('--vif_type', default='Vrouter')
    p.add_argument('--vhostuser_mode', default='0')
    p.add_argument('--no_persist', type=bool, default=False)
    p.add_argument('--agent_port', default=9091)
    p.add_argument('--port_json_path', default='/var/lib/contrail/ports/')
    return p.parse_args(resplit(argv))


def project(value):
    if value and len(value) == 32:
        return '-'.join((value[:8], value[8:12], value[12:16], value[16:20],
                         value[20:]))
    return ''


def vlan(value):
    return None if value is None else int(value)


def add(args):
    if args.port_type not in PORT_TYPES:
        print('Invalid port type %s' % args.port_type)
        return 1
    data = {
        'id': args.uuid, 'instance-id': args.instance_uuid,
        'ip-address': args.ip_address, 'ip6-address': args.ipv6_address,
        'vn-id': args.vn_uuid, 'display-name': args.vm_name,
        'vm-project-id': project(args.vm_project_uuid),
        'mac-address': args.mac, 'system-name': args.tap_name,
        'type': PORT_TYPES[args.port_type],
        'rx-vlan-id': vlan(args.rx_vlan_id),
        'tx-vlan-id': vlan(args.tx_vlan_id),
        'vhostuser-mode': int(args.vhostuser_mode),
        'author': __file__, 'time': str(datetime.datetime.now()),
    }
    code = 0
    if not args.no_persist:
        try:
            os.makedirs(args.port_json_path, exist_ok=True)
            with open(args.port_json_path + args.uuid, 'w') as f:
                json.dump(data, f)
            print('JSON data written to %s%s' % (args.port_json_path,
                                                 args.uuid))
        except Exception:
            code = 1
    url = 'http://localhost:%s/port' % args.agent_port
    try:
        r = requests.post(url, data=json.dumps(data),
                          headers={'content-type': 'application/json'})
        print('Request : %s' % json.dumps(data))
        if r.status_code != 200:
            print('Request failed: %s' % r.text)
            return 4
    except requests.exceptions.ConnectionError:
        return code
    return 0


def delete(args):
    if not args.no_persist:
        try:
            os.remove(args.port_json_path + args.uuid)
        except OSError:
            pass
    try:
        r = requests.delete('http://localhost:%s/port/%s' %
                            (args.agent_port, args.uuid))
        return 0 if r.status_code == 200 else 1
    except requests.exceptions.ConnectionError:
        return 0


def main():
    args = parse(sys.argv[1:])
    if args.oper == 'add':
        return add(args)
    if args.oper == 'delete':
        return delete(args)
    print('Invalid operation %s' % args.oper)
    return 1


if __name__ == '__main__':
    sys.exit(main())
