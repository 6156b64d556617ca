#!/bin/bash
# Runs inside `unshare -mn`: private loopback and private /var/lib, /run, /opt.
set -u
# LEGACY: a directory holding src/ (tf-controller fbb63bcd files at their
# repository paths) and venv/ (Python 3 with requests); REPO: this repository.
HERE=$(cd "$(dirname "$0")" && pwd)
LEGACY=${LEGACY:-/tmp/legacy}
REPO=${REPO:-$(cd "$HERE/../../../../.." && pwd)}
OUT=$1
ip link set lo up
mount -t tmpfs tmpfs /var/lib
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /opt
mkdir -p /var/lib/contrail/ports /run/vrouter /opt/plugin/bin /opt/plugin/site-packages
cp $LEGACY/src/src/vnsw/agent/port_ipc/vrouter-port-control /opt/plugin/bin/
chmod 755 /opt/plugin/bin/vrouter-port-control
cp -r $LEGACY/src/src/vnsw/contrail-vrouter-api/contrail_vrouter_api /opt/plugin/site-packages/
# The DPDK vRouter's netlink socket: the script only checks that the path exists.
python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind('/run/vrouter/dpdk_netlink')"
export PATH=$LEGACY/venv/bin:$PATH:/opt/plugin/bin
export PYTHONPATH=/opt/plugin/site-packages
(cd $REPO && PYTHONPATH=$REPO exec python3 -m vif_plug_vrouter.cmd.agent_emulator --ports-dir /var/lib/contrail/ports --auto-config) > $OUT/emulator.log 2>&1 &
EMU=$!
for i in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1',9091)).close()" 2>/dev/null && break; sleep 0.1; done
bash "$HERE/cases.sh" $OUT 1
kill $EMU; wait $EMU 2>/dev/null
bash "$HERE/cases.sh" $OUT 2
cp -a /var/lib/contrail/ports $OUT/final-ports
