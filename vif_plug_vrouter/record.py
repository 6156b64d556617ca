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
"""Pure builders: os-vif objects -> agent port records -> port files.

A *record* is the JSON object ``POST /port`` takes, as a dict holding
exactly the keys of :data:`RECORD_KEYS` with the JSON types the agent
checks.  Nothing here does I/O, so the plugin, the CLI, the privileged
side and the emulator share one definition of what a valid port is.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
from typing import Any

from os_vif_accel import validate

from vif_plug_vrouter import agent_json
from vif_plug_vrouter import constants

__all__ = ['RECORD_KEYS', 'make_record', 'from_vif', 'select_ips',
           'changed', 'needs_readd', 'check_record', 'to_port_file',
           'from_port_file', 'from_port_object', 'load_port_file',
           'agent_ip', 'ip_text']

#: Keys of a record in the order the agent writes them to a port file,
#: with their JSON types.
RECORD_KEYS: dict[str, type] = {
    'id': str,
    'instance-id': str,
    'display-name': str,
    'ip-address': str,
    'ip6-address': str,
    'vn-id': str,
    'vm-project-id': str,
    'mac-address': str,
    'system-name': str,
    'type': int,
    'rx-vlan-id': int,
    'tx-vlan-id': int,
    'vhostuser-mode': int,
}
_OPTIONAL_KEYS = {'link-state': int}
#: Fields the agent only reads when it first adds a port (it keeps the old
#: values when the same port of the same instance is posted again:
#: tf-controller @ fbb63bcd port_ipc/port_subscribe_table.cc 215-234 and
#: 45-48, only the version moves), and which change what the datapath
#: does.  The display name and the project
#: are informational: a change to them alone does not bounce the port.
_DATAPATH_KEYS = ('instance-id', 'ip-address', 'ip6-address', 'vn-id',
                  'mac-address', 'system-name', 'type', 'rx-vlan-id',
                  'tx-vlan-id', 'vhostuser-mode', 'link-state')
AUTHOR = 'os-vif-accel'
#: A port is under 2 KiB; a legacy file may hold an array of ports, but
#: none holds this much.
MAX_PORT_FILE = 1 << 20


def ip_text(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The text of an address in a record, the same on every Python.

    Python 3.13 writes an IPv4-mapped IPv6 address in dotted form
    (``::ffff:10.0.1.14``), 3.11 and 3.12 in hex (``::ffff:a00:10e``); a
    record must not change with the interpreter (a changed record makes
    the plugin re-add the port), so the hex form is kept everywhere.
    """
    if addr.version == 6 and addr.ipv4_mapped is not None:
        low = int(addr) & 0xffffffff
        return '::ffff:%x:%x' % (low >> 16, low & 0xffff)
    return str(addr)


def _ip(value: str | None, version: int, field: str,
        default: str) -> str:
    if value is None or value == '':
        return default
    # No scope id ("fe80::1%eth0"): ipaddress keeps any text after "%".
    if not isinstance(value, str) or '%' in value:
        raise validate.InvalidInput(field, value, 'not an IP address')
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise validate.InvalidInput(field, value, 'not an IP address')
    if addr.version != version:
        raise validate.InvalidInput(field, value,
                                    'not an IPv%d address' % version)
    return ip_text(addr)


def make_record(*, port_id: str, instance_id: str, vn_id: str,
                project_id: str, display_name: str, system_name: str,
                mac: str, ip_address: str | None = None,
                ip6_address: str | None = None,
                port_type: int = constants.PORT_TYPES['NovaVMPort'],
                rx_vlan_id: int = constants.NO_VLAN,
                tx_vlan_id: int = constants.NO_VLAN,
                vhostuser_mode: int = constants.VHOSTUSER_MODE_CLIENT,
                link_state: int | None = None) -> dict[str, Any]:
    """Validate and canonicalise the fields of one port.

    Raises :class:`os_vif_accel.validate.InvalidInput` naming the field.
    UUIDs come out lower-case and dashed (undashed project ids are
    dashed), the MAC lower-case, a missing IPv4 as ``0.0.0.0`` and a
    missing IPv6 as ``""`` - never the string ``None``.  An empty
    ``vn_id``/``project_id`` is allowed only where the agent allows it.
    """
    vn = _check_kind(port_type, vn_id, vhostuser_mode)
    rec: dict[str, Any] = {
        'id': validate.uuid(port_id, 'id'),
        'instance-id': validate.uuid(instance_id, 'instance-id'),
        'display-name': validate.text(display_name, 'display-name'),
        'ip-address': _ip(ip_address, 4, 'ip-address', '0.0.0.0'),
        'ip6-address': _ip(ip6_address, 6, 'ip6-address', ''),
        'vn-id': vn,
        'vm-project-id': (validate.project_id(project_id, 'vm-project-id')
                          if project_id else ''),
        'mac-address': validate.mac(mac, 'mac-address'),
        'system-name': validate.ifname(system_name, 'system-name'),
        'type': port_type,
        'rx-vlan-id': validate.vlan_id(rx_vlan_id, 'rx-vlan-id'),
        'tx-vlan-id': validate.vlan_id(tx_vlan_id, 'tx-vlan-id'),
        'vhostuser-mode': vhostuser_mode,
    }
    if link_state is not None:
        rec['link-state'] = validate.integer(link_state, 'link-state', 0, 1)
    return rec


def _check_kind(port_type: int, vn_id: str, vhostuser_mode: int) -> str:
    """Check the port type and vhost-user mode; return the canonical vn-id.

    Only NameSpacePort and ESXiPort may have an empty ``vn_id``.
    """
    # isinstance first: True == 1 would pass the membership tests.
    if isinstance(port_type, bool) or not isinstance(port_type, int) or \
            port_type not in constants.PORT_TYPE_NAMES:
        raise validate.InvalidInput('type', port_type,
                                    'must be one of 0 (NovaVMPort), 1 '
                                    '(NameSpacePort) or 2 (ESXiPort)')
    if vn_id == '' and port_type in (1, 2):
        vn = ''
    else:
        vn = validate.uuid(vn_id, 'vn-id')
    if isinstance(vhostuser_mode, bool) or vhostuser_mode not in (0, 1):
        raise validate.InvalidInput('vhostuser-mode', vhostuser_mode,
                                    'must be 0 (client) or 1 (server)')
    return vn


def select_ips(network: Any) -> tuple[str | None, str | None]:
    """Pick one IPv4 and one IPv6 address of an os-vif Network.

    The choice of the TF os-vif plugin (tf-nova-vif-driver
    ``vif_plug_vrouter/vrouter.py`` 198-213): only the first fixed IP of
    each subnet counts, and a later subnet of the same family replaces an
    earlier one, so the *last* subnet of each family wins.  Choosing the
    same addresses keeps ``ip-address``/``ip6-address`` of a port the TF
    plugin plugged unchanged, so re-plugging it after an upgrade does not
    make the agent delete and re-add it.  An unspecified address
    (``0.0.0.0``/``::``) is skipped as the TF plugin skips a false one; a
    subnet with an empty IP list or an unset first address is skipped
    (the TF plugin fails on both).
    """
    chosen: dict[int, str] = {}
    subnets = network.subnets.objects if 'subnets' in network else []
    for subnet in subnets:
        ips = subnet.ips.objects if 'ips' in subnet else []
        if not ips or 'address' not in ips[0]:
            continue  # unset address: os-vif would raise NotImplementedError
        addr = ipaddress.ip_address(str(ips[0].address))
        if not addr.is_unspecified:
            chosen[addr.version] = ip_text(addr)
    return chosen.get(4), chosen.get(6)


def from_vif(vif: Any, instance_info: Any, *, system_name: str,
             port_type: int, vhostuser_mode: int = 0,
             display_name: str | None = None) -> dict[str, Any]:
    """Build the record of ``vif`` for instance ``instance_info``.

    ``display_name`` is the name chosen by
    :mod:`vif_plug_vrouter.display_name`; without it, ``InstanceInfo.name``
    (or the instance UUID) is used.
    """
    if 'network' not in vif or vif.network is None:
        raise validate.InvalidInput('network', None,
                                    'the VIF has no network; the agent '
                                    'needs its id (vn-id)')
    if 'address' not in vif or vif.address is None:
        raise validate.InvalidInput('address', None, 'the VIF has no MAC')
    network = vif.network
    v4, v6 = select_ips(network)
    project = (instance_info.project_id
               if 'project_id' in instance_info else '')
    name = display_name or (instance_info.name if 'name' in instance_info
                            else '')
    return make_record(
        port_id=str(vif.id),
        instance_id=str(instance_info.uuid),
        vn_id=str(network.id) if 'id' in network else '',
        project_id=project or '',
        display_name=name or str(instance_info.uuid),
        system_name=system_name,
        mac=str(vif.address),
        ip_address=v4,
        ip6_address=v6,
        port_type=port_type,
        vhostuser_mode=vhostuser_mode,
    )


def changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Names of the keys whose value differs between two records."""
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def needs_readd(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True if the agent must delete and re-add the port to apply ``new``."""
    return any(old.get(k) != new.get(k) for k in _DATAPATH_KEYS)


def check_record(rec: Any) -> dict[str, Any]:
    """Re-validate a record received across a trust boundary.

    Every key must be present with its exact JSON type and canonical
    value; unknown keys are refused.  Returns a clean copy.
    """
    if not isinstance(rec, dict):
        raise validate.InvalidInput('record', rec, 'must be a JSON object')
    unknown = set(rec) - set(RECORD_KEYS) - set(_OPTIONAL_KEYS)
    if unknown:
        raise validate.InvalidInput('record', sorted(unknown),
                                    'unknown keys')
    for key, typ in RECORD_KEYS.items():
        if key not in rec:
            raise validate.InvalidInput(key, None, 'missing')
        value = rec[key]
        if isinstance(value, bool) or not isinstance(value, typ):
            raise validate.InvalidInput(key, value,
                                        'must be a JSON %s' %
                                        ('integer' if typ is int
                                         else 'string'))
    clean = make_record(
        port_id=rec['id'], instance_id=rec['instance-id'],
        vn_id=rec['vn-id'], project_id=rec['vm-project-id'],
        display_name=rec['display-name'], system_name=rec['system-name'],
        mac=rec['mac-address'], ip_address=rec['ip-address'],
        ip6_address=rec['ip6-address'], port_type=rec['type'],
        rx_vlan_id=rec['rx-vlan-id'], tx_vlan_id=rec['tx-vlan-id'],
        vhostuser_mode=rec['vhostuser-mode'],
        link_state=rec.get('link-state'))
    if clean != {k: rec[k] for k in clean}:
        raise validate.InvalidInput('record', rec, 'not in canonical form')
    return clean


def _agent_time(now: datetime.datetime) -> str:
    # The agent writes Boost's time_duration since the epoch:
    # HHHHHH:MM:SS.ffffff.
    delta = now - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    secs = int(delta.total_seconds())
    return '%d:%02d:%02d.%06d' % (secs // 3600, secs % 3600 // 60, secs % 60,
                                  delta.microseconds)


def to_port_file(rec: dict[str, Any], extra: dict[str, Any] | None = None,
                 now: datetime.datetime | None = None,
                 author: str = AUTHOR) -> bytes:
    """Serialise a record the way the agent writes its port files.

    Pretty-printed, keys in the agent's order, "no VLAN" as 65535 and a
    missing IPv6 as ``::``.  ``extra`` (this library's own state, e.g. the
    original representor name) goes under one key the agent ignores.
    """
    out: dict[str, Any] = {}
    for key in RECORD_KEYS:
        value = rec[key]
        if key in ('rx-vlan-id', 'tx-vlan-id') and value == constants.NO_VLAN:
            value = constants.AGENT_NO_VLAN
        elif key == 'ip6-address' and value == '':
            value = '::'
        out[key] = value
    if 'link-state' in rec:
        out['link-state'] = rec['link-state']
    if extra:
        out[constants.HOST_STATE_KEY] = extra
    out['author'] = author
    out['time'] = _agent_time(now or datetime.datetime.now(
        datetime.timezone.utc))
    return (json.dumps(out, indent=4, ensure_ascii=False) + '\n').encode()


def agent_ip(value: str, version: int) -> str | None:
    """Read an address from a port file the way the agent reads it.

    The agent parses ``ip-address``/``ip6-address`` with Boost.Asio's
    ``address_v4/v6::from_string`` (tf-controller port_ipc_handler.cc
    272-284), i.e. libc ``inet_pton`` after cutting an IPv6 ``%scope``
    (Boost.Asio ``detail/impl/socket_ops.ipp`` ``inet_pton``, POSIX
    branch; the scope itself never fails and is dropped here); any text
    it cannot parse silently becomes the unset address.  So
    ``2001:0DB8::00A2`` is a valid address, and ``None`` or ``""`` mean
    "none".  Returns the canonical text, or ``None`` for "unset".
    """
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    text = value if version == 4 else value.split('%', 1)[0]
    try:
        packed = socket.inet_pton(family, text)
    except (OSError, ValueError):
        return None
    addr = ipaddress.ip_address(packed)
    return None if addr.is_unspecified else ip_text(addr)


def _as_agent_reads(data: dict[str, Any]) -> dict[str, Any]:
    """Apply the agent's defaults for optional and lenient fields.

    ``vhostuser-mode`` and ``link-state`` are optional (port_ipc_handler.cc
    347-354): a value that is not a JSON integer - e.g. the ``null`` that
    contrail-vrouter-api's quoted command line makes the legacy CLI
    write - is ignored and the default used.
    """
    for key in ('rx-vlan-id', 'tx-vlan-id'):
        if data.get(key) == constants.AGENT_NO_VLAN:
            data[key] = constants.NO_VLAN
    for key, version, unset in (('ip-address', 4, '0.0.0.0'),
                                ('ip6-address', 6, '')):
        if isinstance(data.get(key), str):   # other types: refused
            ip = agent_ip(data[key], version)
            data[key] = unset if ip is None else ip
    for key in ('vhostuser-mode', 'link-state'):
        value = data.get(key)
        if key in data and (isinstance(value, bool) or
                            not isinstance(value, int)):
            del data[key]
    data.setdefault('vhostuser-mode', 0)
    return data


def from_port_object(data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse one port object of a port file (see :func:`from_port_file`)."""
    if not isinstance(data, dict):
        raise validate.InvalidInput('port file', str(data)[:80],
                                    'not a JSON object')
    data = _as_agent_reads(dict(data))
    extra = data.pop(constants.HOST_STATE_KEY, None) or {}
    rec = {k: data[k] for k in data
           if k in RECORD_KEYS or k in _OPTIONAL_KEYS}
    if isinstance(rec.get('vm-project-id'), str):
        pid = rec['vm-project-id']
        if pid and '-' not in pid:
            rec['vm-project-id'] = validate.project_id(pid, 'vm-project-id')
    for key in ('id', 'instance-id', 'vn-id', 'vm-project-id',
                'mac-address'):
        if isinstance(rec.get(key), str):
            rec[key] = rec[key].lower()
    return check_record(rec), extra


def load_port_file(text: str) -> Any:
    """The JSON document of a port file, parsed as the agent parses it
    (:mod:`vif_plug_vrouter.agent_json`); refuses empty or corrupt text.
    """
    if not text.strip():
        raise validate.InvalidInput('port file', text, 'empty')
    try:
        return agent_json.loads(text)
    except (ValueError, RecursionError) as exc:  # nested too deep
        raise validate.InvalidInput('port file', text[:80],
                                    'not JSON: %s' % exc)


def from_port_file(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse a port file written by the agent, the legacy CLI or us.

    Returns ``(record, extra)`` with the record in canonical form (so two
    files describing the same port compare equal whoever wrote them).
    Fields are read as the agent reads them (:func:`agent_ip`, optional
    fields); raises :class:`os_vif_accel.validate.InvalidInput` for
    empty, corrupt or incomplete files - those the agent would not replay.
    """
    return from_port_object(load_port_file(text))
