#!/bin/bash
# Each case: the exact command, its exit code and stdout, and the port file copied byte for byte.
OUT=$1
if [ "${2:-}" = phase2 ]; then PHASE2=1; fi
P=/var/lib/contrail/ports
PROJ=6b1c3f2a9d4e4f508a7b2c1d0e9f8a7b
INST=5c7e9a10-3b2d-4c6e-8f1a-2b3c4d5e6f70
NET=0e8d5c4b-1a2f-4b3c-9d8e-7f6a5b4c3d21
rec() { # name uuid
  cp --preserve=mode "$P/$2" "$OUT/$1.json" 2>/dev/null || echo "(no file)" > "$OUT/$1.json.missing"
}
run() { # name uuid -- command...
  local name=$1 uuid=$2; shift 3
  printf '%q ' "$@" > "$OUT/$name.cmd"; echo >> "$OUT/$name.cmd"
  "$@" > "$OUT/$name.stdout" 2>&1; echo $? > "$OUT/$name.rc"
  rec "$name" "$uuid"
}
VPC=vrouter-port-control
VPC=vrouter-port-control
api() { # name uuid python-kwargs...
  local name=$1 uuid=$2 call=$3
  echo "$call" > "$OUT/$name.cmd"
  python3 -c "from contrail_vrouter_api.vrouter_api import ContrailVRouterApi as A; a = A(doconnect=True); print('result', $call)" > "$OUT/$name.stdout" 2>&1; echo $? > "$OUT/$name.rc"
  rec "$name" "$uuid"
}
# ---- phase 2: enable/disable with the agent DOWN, so the file holds the CLI's own bytes
# (a live agent rewrites the file itself on enable/disable, pih 499-509).
U=a1000000-0000-4000-8000-000000000006
run direct-esxi-enabled $U -- $VPC --oper=enable --uuid=$U
run direct-esxi-disabled $U -- $VPC --oper=disable --uuid=$U
U=b2000000-0000-4000-8000-000000000005
api api-esxi-enabled $U "a.enable_port('$U')"
api api-esxi-disabled $U "a.disable_port('$U')"
