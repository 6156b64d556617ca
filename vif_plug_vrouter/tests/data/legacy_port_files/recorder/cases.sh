#!/bin/bash
# Each case: the exact command, its exit code and stdout, and the port file copied byte for byte.
OUT=$1
PHASE=${2:-1}
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
api() { # name uuid python-kwargs...
  local name=$1 uuid=$2 call=$3
  echo "$call" > "$OUT/$name.cmd"
  python3 -c "from contrail_vrouter_api.vrouter_api import ContrailVRouterApi as A; a = A(doconnect=True); print('result', $call)" > "$OUT/$name.stdout" 2>&1; echo $? > "$OUT/$name.rc"
  rec "$name" "$uuid"
}
if [ "$PHASE" = 1 ]; then
# ---- direct, argv as the TF os-vif plugin (tf-nova-vif-driver vif_plug_vrouter/vrouter.py plug_contrail_vif) builds it
U=a1000000-0000-4000-8000-000000000001
run direct-kernel-ipv4 $U -- $VPC --oper=add --uuid=$U --instance_uuid=$INST --vn_uuid=$NET --vm_project_uuid=$PROJ --ip_address=10.0.0.11 --ipv6_address=None "--vm_name=web server 1" --mac=fa:16:3e:00:00:01 --tap_name=tapa1000000-01 --port_type=NovaVMPort --tx_vlan_id=-1 --rx_vlan_id=-1
U=a1000000-0000-4000-8000-000000000002
run direct-kernel-ipv6-full-upper $U -- $VPC --oper=add --uuid=$U --instance_uuid=$INST --vn_uuid=$NET --vm_project_uuid=$PROJ --ip_address=10.0.0.12 --ipv6_address=2001:0DB8:0000:0000:0000:0000:0000:00A2 --vm_name=vm2 --mac=fa:16:3e:00:00:02 --tap_name=tapa1000000-02 --port_type=NovaVMPort --tx_vlan_id=-1 --rx_vlan_id=-1
U=a1000000-0000-4000-8000-000000000003
run direct-dpdk-server $U -- $VPC --oper=add --uuid=$U --instance_uuid=$INST --vn_uuid=$NET --vm_project_uuid=$PROJ --ip_address=10.0.0.13 --ipv6_address=2001:DB8::A3 --vm_name=vm3 --mac=fa:16:3e:00:00:03 --tap_name=tapa1000000-03 --port_type=NovaVMPort --vif_type=VhostUser --vhostuser_socket=/var/run/vrouter/uvh_vif_tapa1000000-03 --vhostuser_mode=1 --tx_vlan_id=-1 --rx_vlan_id=-1
U=a1000000-0000-4000-8000-000000000004
python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind('/run/vrouter/uvh_vif_tapa1000000-04')"
run direct-dpdk-client $U -- $VPC --oper=add --uuid=$U --instance_uuid=$INST --vn_uuid=$NET --vm_project_uuid=$PROJ --ip_address=10.0.0.14 --ipv6_address=2001:db8:0:0:0:0:0:a4 --vm_name=vm4 --mac=fa:16:3e:00:00:04 --tap_name=tapa1000000-04 --port_type=NovaVMPort --vif_type=VhostUser --vhostuser_socket=/var/run/vrouter/uvh_vif_tapa1000000-04 --vhostuser_mode=0 --tx_vlan_id=-1 --rx_vlan_id=-1
U=a1000000-0000-4000-8000-000000000005
run direct-namespace $U -- $VPC --oper=add --uuid=$U --instance_uuid=$INST --vn_uuid=$NET --vm_project_uuid=$PROJ --ip_address=10.0.0.15 --ipv6_address=64:ff9b::192.0.2.5 --vm_name=ct5 --mac=fa:16:3e:00:00:05 --tap_name=tapa1000000-05 --port_type=NameSpacePort --tx_vlan_id=-1 --rx_vlan_id=-1
U=a1000000-0000-4000-8000-000000000006
run direct-esxi $U -- $VPC --oper=add --uuid=$U --instance_uuid=$INST --vn_uuid=$NET --vm_project_uuid=$PROJ --ip_address=10.0.0.16 --ipv6_address=None --vm_name=esx6 --mac=fa:16:3e:00:00:06 --tap_name=tapa1000000-06 --port_type=ESXiPort --tx_vlan_id=100 --rx_vlan_id=200
U=a1000000-0000-4000-8000-000000000007
run direct-no-vlans-refused $U -- $VPC --oper=add --uuid=$U --instance_uuid=$INST --vn_uuid=$NET --mac=fa:16:3e:00:00:07 --tap_name=tapa1000000-07
# ---- through contrail-vrouter-api, kwargs as nova_contrail_vif/contrailvif.py VRouterVIFDriver.plug passes them
U=b2000000-0000-4000-8000-000000000001
api api-kernel-ipv4 $U "a.add_port('$INST', '$U', 'tapb2000000-01', 'fa:16:3e:00:01:01', ip_address='10.0.1.11', vn_id='$NET', display_name='web server 1', hostname='web-server-1', host='compute-1', vm_project_id='$PROJ', port_type='NovaVMPort', ip6_address=None)"
U=b2000000-0000-4000-8000-000000000002
api api-kernel-ipv6-uncompressed $U "a.add_port('$INST', '$U', 'tapb2000000-02', 'fa:16:3e:00:01:02', ip_address='10.0.1.12', vn_id='$NET', display_name='vm2', hostname='vm2', host='compute-1', vm_project_id='$PROJ', port_type='NovaVMPort', ip6_address='2001:db8:0:0:1:0:0:b2')"
U=b2000000-0000-4000-8000-000000000003
api api-dpdk-userspace-vhost $U "a.add_port('$INST', '$U', 'tapb2000000-03', 'fa:16:3e:00:01:03', ip_address='10.0.1.13', vn_id='$NET', display_name='vm3', hostname='vm3', host='compute-1', vm_project_id='$PROJ', port_type='NovaVMPort', ip6_address='FD00:0:0:0::B3')"
U=b2000000-0000-4000-8000-000000000004
api api-namespace $U "a.add_port('$INST', '$U', 'tapb2000000-04', 'fa:16:3e:00:01:04', ip_address='10.0.1.14', vn_id='', display_name='ns4', vm_project_id='', port_type=1, ip6_address='::FFFF:10.0.1.14')"
U=b2000000-0000-4000-8000-000000000005
api api-esxi $U "a.add_port('$INST', '$U', 'tapb2000000-05', 'fa:16:3e:00:01:05', ip_address='10.0.1.15', vn_id='$NET', display_name='esx5', vm_project_id='$PROJ', port_type=2, vlan=100, rx_vlan=200)"

fi
if [ "$PHASE" = 2 ]; then
# ---- phase 2: enable/disable with the agent DOWN, so the file holds the CLI's own bytes
# (a live agent rewrites the file itself on enable/disable, pih 499-509).
U=a1000000-0000-4000-8000-000000000006
run direct-esxi-enabled $U -- $VPC --oper=enable --uuid=$U
run direct-esxi-disabled $U -- $VPC --oper=disable --uuid=$U
U=b2000000-0000-4000-8000-000000000005
api api-esxi-enabled $U "a.enable_port('$U')"
api api-esxi-disabled $U "a.disable_port('$U')"
fi
