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
"""Host changes for SmartNIC offload: representors, VFs, VF drivers.

These functions run inside the privsep daemon (see
:mod:`vif_plug_vrouter.privileged`) and validate every argument
themselves.  Each one changes one thing, returns what was there before
(so the caller can undo it) and is idempotent, so a repeated plug or
unplug converges.  Netlink is driven through pyroute2 on one socket kept
by the daemon; the network namespace acted in is the daemon's own.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from typing import Any, Callable, Iterator

from oslo_log import log as logging
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from os_vif_accel import validate

from vif_plug_vrouter import constants

LOG = logging.getLogger(__name__)

__all__ = ['NameTaken', 'LinkNotFound', 'link_state', 'rename_link',
           'set_mtu', 'set_link_up', 'set_ipv6_disabled', 'VfNetlink',
           'vf_state', 'set_vf', 'bind_vf_driver', 'restore_vf_driver']

_IFF_UP = 0x1
_NO_VF_VLAN = 0

# One netlink socket for the daemon, used under a lock: opening one costs
# as much as the request itself.  It is dropped after any error that is
# not a plain netlink answer, so a broken socket is never reused.
_IPR_LOCK = threading.Lock()
_IPR: Any = None


@contextlib.contextmanager
def _iproute() -> Iterator[Any]:
    global _IPR
    with _IPR_LOCK:
        if _IPR is None:
            _IPR = IPRoute()
        try:
            yield _IPR
        except (NetlinkError, LinkNotFound, NameTaken):
            raise
        except BaseException:
            try:
                _IPR.close()
            finally:
                _IPR = None
            raise


class NameTaken(Exception):
    """A netdev with the requested name already exists."""


class LinkNotFound(Exception):
    """No netdev has that name."""


def _get(ipr: Any, ifname: str, **kwargs: Any) -> Any:
    """RTM_GETLINK by name (a lookup by name would dump every link)."""
    try:
        return ipr.link('get', ifname=ifname, **kwargs)[0]
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            raise LinkNotFound(ifname)
        raise


def _index(ipr: Any, ifname: str) -> int:
    return int(_get(ipr, ifname)['index'])


def _exists(ipr: Any, ifname: str) -> bool:
    try:
        _get(ipr, ifname)
    except LinkNotFound:
        return False
    return True


def _proc_ipv6(ifname: str) -> str:
    return '/proc/sys/net/ipv6/conf/%s/disable_ipv6' % ifname


def _read_ipv6(ifname: str) -> bool | None:
    try:
        with open(_proc_ipv6(ifname)) as f:
            return f.read().strip() == '1'
    except FileNotFoundError:
        return None  # IPv6 is disabled on the whole host


def link_state(ifname: str) -> dict[str, Any]:
    """``{'mtu', 'up', 'ipv6_disabled'}`` of one netdev."""
    ifname = validate.ifname(ifname)
    with _iproute() as ipr:
        link = _get(ipr, ifname)
    return {'mtu': int(link.get('IFLA_MTU')),
            'up': bool(link['flags'] & _IFF_UP),
            'ipv6_disabled': _read_ipv6(ifname)}


def rename_link(old: str, new: str) -> bool:
    """Rename ``old`` to ``new``; False if ``new`` is already the name.

    The kernel refuses to rename an up netdev, so it is set down first
    (the caller restores the link state it recorded).
    """
    old = validate.ifname(old, 'old')
    new = validate.ifname(new, 'new')
    if old == new:
        return False
    with _iproute() as ipr:
        if _exists(ipr, new):
            if not _exists(ipr, old):
                return False  # done before
            raise NameTaken(new)
        index = _index(ipr, old)
        ipr.link('set', index=index, state='down')
        try:
            ipr.link('set', index=index, ifname=new)
        except NetlinkError as exc:
            if exc.code == errno.EEXIST:
                raise NameTaken(new)
            raise
    return True


def set_mtu(ifname: str, mtu: int) -> None:
    ifname = validate.ifname(ifname)
    mtu = validate.mtu(mtu)
    with _iproute() as ipr:
        ipr.link('set', index=_index(ipr, ifname), mtu=mtu)


def set_link_up(ifname: str, up: bool) -> None:
    ifname = validate.ifname(ifname)
    up = validate.boolean(up, 'up')
    with _iproute() as ipr:
        ipr.link('set', index=_index(ipr, ifname),
                 state='up' if up else 'down')


def set_ipv6_disabled(ifname: str, disabled: bool) -> bool | None:
    """Set ``disable_ipv6``; return the previous value (None: no IPv6).

    A representor is a switch port, not a host interface: without this
    the host autoconfigures link-local addresses on it and answers
    neighbour discovery on the guest's segment.
    """
    ifname = validate.ifname(ifname)
    disabled = validate.boolean(disabled, 'disabled')
    before = _read_ipv6(ifname)
    if before is None or before == bool(disabled):
        return before
    with open(_proc_ipv6(ifname), 'w') as f:
        f.write('1' if disabled else '0')
    return before


class VfNetlink:
    """VF MAC/VLAN through the PF netdev (``IFLA_VFINFO_LIST``)."""

    def get(self, pf_ifname: str, vf: int) -> tuple[str | None, int]:
        with _iproute() as ipr:
            link = _get(ipr, pf_ifname, ext_mask=1)
        vfs = link.get('IFLA_VFINFO_LIST')
        for info in (vfs.get_attrs('IFLA_VF_INFO') if vfs else []):
            mac = info.get('IFLA_VF_MAC') or {}
            if mac.get('vf') != vf:
                continue
            vlan = info.get('IFLA_VF_VLAN') or {}
            return mac.get('mac'), int(vlan.get('vlan', _NO_VF_VLAN))
        raise LinkNotFound('%s has no VF %d' % (pf_ifname, vf))

    def set_mac(self, pf_ifname: str, vf: int, mac: str) -> None:
        with _iproute() as ipr:
            ipr.link('set', index=_index(ipr, pf_ifname),
                     vf={'vf': vf, 'mac': mac})

    def set_vlan(self, pf_ifname: str, vf: int, vlan: int) -> None:
        with _iproute() as ipr:
            ipr.link('set', index=_index(ipr, pf_ifname),
                     vf={'vf': vf, 'vlan': vlan})


#: Replaced by a double in functional tests only, because this kernel has
#: no SR-IOV VFs; see os_vif_accel/testing/privsep_helper.py.
VF_NETLINK = VfNetlink()


def _vf_args(pf_ifname: str, vf: int) -> tuple[str, int]:
    pf_ifname = validate.ifname(pf_ifname, 'pf_ifname')
    if isinstance(vf, bool) or not isinstance(vf, int) or \
            not 0 <= vf < 4096:
        raise validate.InvalidInput('vf_index', vf,
                                    'must be an integer 0..4095')
    return pf_ifname, vf


def vf_state(pf_ifname: str, vf: int) -> dict[str, Any]:
    """``{'mac', 'vlan'}`` of VF number ``vf`` of ``pf_ifname``."""
    pf_ifname, vf = _vf_args(pf_ifname, vf)
    mac, vlan = VF_NETLINK.get(pf_ifname, vf)
    return {'mac': mac, 'vlan': vlan}


def set_vf(pf_ifname: str, vf: int, mac: str | None,
           vlan: int | None = None) -> dict[str, Any]:
    """Set a VF's MAC and, if given, VLAN; return the previous values.

    Each is sent only when it differs from what the PF reports, and the
    VLAN only when asked for: a PF in switchdev mode refuses any VF VLAN
    but 0 (mlx5), so the offload path never sends one; only restoring the
    state a port file of an older release recorded passes ``vlan``.
    """
    pf_ifname, vf = _vf_args(pf_ifname, vf)
    if mac is not None and mac != '00:00:00:00:00:00':
        mac = validate.mac(mac)
    if vlan is not None:
        vlan = validate.vlan_id(vlan, 'vlan', allow_none=False)
    before = vf_state(pf_ifname, vf)
    if mac is not None and mac != before['mac']:
        VF_NETLINK.set_mac(pf_ifname, vf, mac)
    if vlan is not None and vlan != before['vlan']:
        VF_NETLINK.set_vlan(pf_ifname, vf, vlan)
    return before


# -- VF driver binding (sysfs) ---------------------------------------------

def _pci_paths(sysfs_root: str, vf: str, timeout: float
               ) -> tuple[str, str, str]:
    """Validate the arguments every sysfs step shares, before any write."""
    validate.seconds(timeout, 'timeout', 0.0,
                     constants.MAX_VF_DRIVER_TIMEOUT)
    root = validate.directory(sysfs_root, 'sysfs_root')
    vf = validate.pci_address(vf, 'vf')
    dev = os.path.join(root, 'bus', 'pci', 'devices', vf)
    if not os.path.islink(os.path.join(dev, 'physfn')):
        raise validate.InvalidInput('vf', vf, 'not an SR-IOV VF under %s'
                                    % root)
    return root, vf, dev


def _driver(dev: str) -> str | None:
    try:
        return os.path.basename(os.readlink(os.path.join(dev, 'driver')))
    except OSError:
        return None


def _override(dev: str) -> str | None:
    try:
        with open(os.path.join(dev, 'driver_override')) as f:
            value = f.read().strip()
    except FileNotFoundError:
        return None
    return None if value in ('', '(null)') else value


def _write(path: str, value: str) -> None:
    """Write one sysfs attribute.

    Never creates a file and never follows a symlink as the last path
    component: the daemon runs as root, and a sysfs tree must not become
    a way to create or redirect files.
    """
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW |
                 os.O_CLOEXEC)
    try:
        os.write(fd, (value + '\n').encode('ascii'))
    finally:
        os.close(fd)


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for a sysfs (un)bind to show.

    The kernel binds synchronously, so on a real host the first check
    passes; the wait is for emulated sysfs trees.
    """
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise OSError(errno.ETIMEDOUT, what)
        time.sleep(0.002)


def _unbind(root: str, vf: str, dev: str, timeout: float) -> None:
    current = _driver(dev)
    if current is None:
        return
    _write(os.path.join(root, 'bus', 'pci', 'drivers', current, 'unbind'),
           vf)
    _wait(lambda: _driver(dev) is None, timeout,
          '%s still bound to %s after unbind' % (vf, current))


def bind_vf_driver(sysfs_root: str, vf: str, driver: str,
                   timeout: float = 5.0) -> dict[str, str | None]:
    """Bind ``vf`` to ``driver`` (``driver_override`` + ``drivers_probe``).

    Returns ``{'driver', 'override'}`` as they were, for
    :func:`restore_vf_driver`.  On failure the VF is put back.
    """
    root, vf, dev = _pci_paths(sysfs_root, vf, timeout)
    driver = validate.driver_name(driver)
    before = {'driver': _driver(dev), 'override': _override(dev)}
    if before['driver'] == driver:
        return before
    if not os.path.isdir(os.path.join(root, 'bus', 'pci', 'drivers',
                                      driver)):
        raise OSError(errno.ENOENT, 'driver %s is not loaded (no %s/bus/pci'
                      '/drivers/%s)' % (driver, root, driver))
    try:
        _write(os.path.join(dev, 'driver_override'), driver)
        _unbind(root, vf, dev, timeout)
        _write(os.path.join(root, 'bus', 'pci', 'drivers_probe'), vf)
        _wait(lambda: _driver(dev) == driver, timeout,
              '%s did not bind to %s' % (vf, driver))
    except Exception:
        try:
            restore_vf_driver(root, vf, before['driver'],
                              before['override'], timeout)
        except Exception:  # noqa: H201 - keep the original error
            LOG.exception('Could not put VF %s back on its driver', vf)
        raise
    return before


def restore_vf_driver(sysfs_root: str, vf: str, driver: str | None,
                      override: str | None, timeout: float = 5.0) -> None:
    """Put ``vf`` back on ``driver`` (None: unbound) with ``override``."""
    root, vf, dev = _pci_paths(sysfs_root, vf, timeout)
    if driver is not None:
        driver = validate.driver_name(driver)
    if override is not None:
        override = validate.driver_name(override, 'override')
    _write(os.path.join(dev, 'driver_override'), override or '')
    if _driver(dev) == driver:
        return
    _unbind(root, vf, dev, timeout)
    if driver is not None:
        _write(os.path.join(root, 'bus', 'pci', 'drivers', driver, 'bind'),
               vf)
        _wait(lambda: _driver(dev) == driver, timeout,
              '%s did not bind back to %s' % (vf, driver))
