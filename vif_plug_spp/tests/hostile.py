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
"""One function per SPP entry point, for the corpus and property tests.

Each ``try_<entry>`` feeds one hostile input to the real entry point and
returns an :class:`Outcome`: ``ok`` (accepted), ``refused`` (the
documented error, one line) or ``defect`` (anything else: another
exception type, a traceback, several lines, an input that changed state
although it was refused).  The functions use entry points that already
existed before the validation work, so the same corpus can be replayed
against an older tree to count what it found.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import io
import json
import os
import tempfile
from typing import Any, Iterator
from unittest import mock

from vif_plug_spp import agent as agent_mod
from vif_plug_spp.cmd import config_build
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import etcd_watch
from vif_plug_spp import exception
from vif_plug_spp import keys
from vif_plug_spp import protocol
from vif_plug_spp import taas
from vif_plug_spp import wiring
from vif_plug_spp.emulator import state as emu_state

MAPPINGS = '00:04.0#phys1#2#0xfe'
PORT = '3f0c5c1e-8a4b-4a53-9a8e-2d8f7d3c1b20'


@dataclasses.dataclass
class Outcome:
    result: str          # 'ok', 'refused' or 'defect'
    detail: str = ''
    side_effect: bool = False


def decode(value: Any) -> Any:
    """Corpus inputs: ``{"b64": ...}`` stands for raw bytes."""
    if isinstance(value, dict) and set(value) == {'b64'}:
        return base64.b64decode(value['b64'])
    if isinstance(value, dict) and set(value) == {'repeat', 'times'}:
        return value['repeat'] * value['times']
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        return {k: decode(v) for k, v in value.items()}
    return value


def _text(value: Any) -> str:
    """An etcd value reaches the parsers as str; bytes as etcd would."""
    if isinstance(value, bytes):
        return value.decode('utf-8', 'surrogateescape')
    return value


def _one_line(text: str) -> bool:
    return '\n' not in text.strip() and 'Traceback' not in text


def _guard(func: Any, documented: tuple[type[BaseException], ...]
           ) -> Outcome:
    try:
        func()
    except documented as exc:
        msg = str(exc)
        if not _one_line(msg):
            return Outcome('defect', 'multi-line error: %r' % msg[:200])
        return Outcome('refused', msg[:200])
    except Exception as exc:  # noqa - the defect we are counting
        return Outcome('defect', '%s: %s' % (type(exc).__name__,
                                             str(exc)[:200]))
    return Outcome('ok')


def try_bind_port(value: Any) -> Outcome:
    from os_vif_accel import validate
    return _guard(lambda: protocol.parse_bind_port(_text(value)),
                  (validate.InvalidInput,))


def try_tap_info(value: Any) -> Outcome:
    from os_vif_accel import validate
    return _guard(lambda: taas.parse_tap_info(_text(value)),
                  (validate.InvalidInput,))


def try_agent_configuration(value: Any) -> Outcome:
    """What the agent does with ``configuration/<host>`` (errors it
    catches and reports are the documented ones).
    """
    agent = agent_mod.Agent(mock.Mock(), mock.Mock(), 'h')
    return _guard(lambda: agent._set_config(_text(value)),
                  (ValueError, KeyError, TypeError, IndexError))


def try_plugin_configuration(value: Any) -> Outcome:
    wire = wiring.PortWiring(mock.Mock(), mock.Mock(), 'h', '/tmp/x{vhost_id}',
                             None)
    return _guard(lambda: wire._load(_text(value), PORT),
                  (exception.BindingMismatch,))


def try_key_part(value: Any) -> Outcome:
    def build() -> None:
        key = keys.action('h', value)
        if any(ord(c) < 0x20 for c in key):
            raise AssertionError('control character in key %r' % key)
    return _guard(build, (keys.InvalidKeyPart,))


def _kv(key: bytes, value: bytes, rev: int = 5) -> dict[str, Any]:
    return {'key': base64.b64encode(key).decode(),
            'value': base64.b64encode(value).decode(),
            'mod_revision': str(rev), 'create_revision': str(rev)}


class _Answer(etcd_mod.EtcdClient):
    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__('127.0.0.1', 9, api_path='/v3/')
        self.answer = answer

    def call(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.answer


def try_etcd_range(value: Any) -> Outcome:
    """A range answer holding ``value`` = [key bytes, value bytes] next to
    a good key: the good key must always come back.
    """
    raw_key, raw_value = value
    good = _kv(b'/spp/openstack/action/h/' + PORT.encode(), b'plug')
    client = _Answer({'kvs': [_kv(raw_key, raw_value), good],
                      'header': {'revision': '9'}})
    got: list[Any] = []

    def read() -> None:
        got.extend(client.get_prefix('/spp/openstack/action/h/')[0])
        if not any(kv.key.endswith(PORT) for kv in got):
            raise AssertionError('the good key was lost')
    return _guard(read, ())


def try_etcd_watch(value: Any) -> Outcome:
    """A watch message with ``value`` as one event: the watch must move
    past its revision (or it is re-read forever).
    """
    raw_key, raw_value = value
    watch = etcd_watch.Watch(_Answer({}), '/spp/openstack/action/h/', 1)
    result = {'events': [{'type': 'PUT', 'kv': _kv(raw_key, raw_value, 7)}],
              'header': {'revision': '7'}}

    def events() -> None:
        watch._events(result)
        if watch._pending_top < 7:
            raise AssertionError('watch did not move past revision 7')
    return _guard(events, ())


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    old = dict(os.environ)
    for name in ('DPDK_PORT_MAPPINGS', 'SPP_HOST', 'ETCD_HOST', 'ETCD_PORT',
                 'SPP_COMPONENT_CONF', 'SPP_MIRROR', 'ETCD_ENDPOINTS',
                 'ETCD_CA_FILE', 'ETCD_CERT_FILE', 'ETCD_KEY_FILE',
                 'ETCD_CREDENTIALS_FILE', 'ETCD_USERNAME', 'ETCD_PASSWORD'):
        os.environ.pop(name, None)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(old)


def try_config_build(value: Any) -> Outcome:
    """``spp-config-build`` with ``value`` = {argv, env, yaml}; refusals
    must exit 1 or 2 with one stderr line and send nothing to etcd.
    """
    argv = list(value.get('argv', []))
    env = {'SPP_HOST': 'h', 'ETCD_HOST': '127.0.0.1',
           'DPDK_PORT_MAPPINGS': MAPPINGS}
    env.update(value.get('env', {}))
    calls: list[str] = []

    def no_etcd(self: Any, method: str, path: str, body: Any = None,
                *args: Any) -> Any:
        calls.append(path)
        raise etcd_mod.EtcdUnavailable('no etcd in this test')
    err = io.StringIO()
    with tempfile.NamedTemporaryFile('wb', suffix='.yaml') as f:
        if 'yaml' in value:
            data = value['yaml']
            f.write(data if isinstance(data, bytes) else data.encode())
            f.flush()
            env['SPP_COMPONENT_CONF'] = f.name
        with _environment(env), contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(io.StringIO()), \
                mock.patch.object(etcd_mod.EtcdClient, '_request', no_etcd):
            try:
                rc = config_build.main(argv)
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 2
            except Exception as exc:  # noqa - counted as a defect
                return Outcome('defect', '%s: %s' % (type(exc).__name__,
                                                     str(exc)[:200]))
    # A deprecation warning (ETCD_HOST) is not part of the refusal.
    text = ''.join(line for line in err.getvalue().splitlines(True)
                   if not line.startswith('spp-config-build: warning: '))
    if rc == 0:
        return Outcome('ok')
    if rc not in (1, 2) or not _one_line(text):
        return Outcome('defect', 'exit %r, stderr %r' % (rc, text[:300]))
    return Outcome('refused', text.strip()[:200],
                   side_effect=rc == 2 and bool(calls))


def _emulator() -> emu_state.SppCtlState:
    state = emu_state.SppCtlState()
    state.add_vf(1, 0xfe, 1, 8)
    return state


def try_emulator(value: Any) -> Outcome:
    """One request (``[method, path, body bytes or str]``) to the spp-ctl
    emulator; an error answer must leave its state as it was.
    """
    method, path, body = value
    raw = body if isinstance(body, bytes) else body.encode('utf-8',
                                                           'surrogatepass')
    state = _emulator()
    before = json.dumps(state.snapshot(mirrors=True), sort_keys=True)
    try:
        status, _ctype, _body = state.handle(method, path, raw)
    except Exception as exc:  # noqa - counted as a defect
        return Outcome('defect', '%s: %s' % (type(exc).__name__,
                                             str(exc)[:200]))
    if status < 400:
        return Outcome('ok')
    after = json.dumps(state.snapshot(mirrors=True), sort_keys=True)
    return Outcome('refused', 'HTTP %d' % status, side_effect=before != after)


ENTRIES = {
    'bind_port': try_bind_port,
    'tap_info': try_tap_info,
    'agent_configuration': try_agent_configuration,
    'plugin_configuration': try_plugin_configuration,
    'key_part': try_key_part,
    'etcd_range': try_etcd_range,
    'etcd_watch': try_etcd_watch,
    'config_build': try_config_build,
    'emulator': try_emulator,
}


def run_case(case: dict[str, Any]) -> Outcome:
    return ENTRIES[case['entry']](decode(case['input']))
