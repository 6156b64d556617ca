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
"""Hostile inputs for property-based tests of every entry point.

One hypothesis profile (few examples, no deadline, derandomized so that a
CI failure reproduces) and the strategies the entry tests share: text an
attacker or a broken peer would send (lone surrogates from undecodable
bytes, control characters, Unicode digits, the reserved interface names),
values of the wrong JSON type, and nesting deep enough to exhaust the
stack.  :func:`snapshot` records a directory tree so a test can prove a
refused input changed nothing.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st

__all__ = ['PROFILE', 'names', 'text', 'values', 'numbers', 'deep_json',
           'snapshot', 'one_line_refusal']

#: ``HYPOTHESIS_MAX_EXAMPLES`` raises the count for a longer local run.
PROFILE = 'os-vif-accel'
settings.register_profile(
    PROFILE, max_examples=int(os.environ.get('HYPOTHESIS_MAX_EXAMPLES',
                                             '25')),
    deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow,
                           HealthCheck.filter_too_much])
settings.load_profile(PROFILE)

#: Inputs that passed a check somewhere in this library once.
KNOWN_BAD = ['all', 'default', '.', '..', 'eth0\n', '\neth0', 'a/b', 'a:b',
             'a b', '\udcff', 'tap\udc80', '\x00', '²', '٣', '１',
             '\u2028', '\x85', '-', 'x' * 16, 'é' * 8, '', ' 5', '+5',
             '-1', '0x10', '1_0', 'nan', 'inf', '1e3', 'true', 'null']

# Everything, with the rare classes drawn often: lone surrogates (how
# Python carries undecodable argv and file-name bytes), C0/C1 controls,
# line separators and digits int() takes but ASCII does not have.
_ANY_CHAR = st.one_of(
    st.characters(codec=None),
    st.characters(min_codepoint=0xdc80, max_codepoint=0xdcff,
                  categories=['Cs']),
    st.characters(max_codepoint=0x1f),
    st.sampled_from('\x7f\x85\u2028\u2029²٣１٠'))
_ASCII = st.characters(min_codepoint=0, max_codepoint=127)


def text(max_size: int = 24) -> st.SearchStrategy[str]:
    """Strings that mix ASCII with the characters that break checks."""
    return st.one_of(st.sampled_from(KNOWN_BAD),
                     st.text(_ASCII, max_size=max_size),
                     st.text(_ANY_CHAR, max_size=max_size))


def names() -> st.SearchStrategy[str]:
    """Interface-name-like strings: mostly valid with one bad twist."""
    good = st.text(st.sampled_from('abcdefghijklmnopqrstuvwxyz0123456789'
                                   '_.-'), min_size=1, max_size=15)
    twist = st.tuples(good, text(3)).map(lambda t: t[0] + t[1])
    return st.one_of(st.sampled_from(KNOWN_BAD), good, twist)


def numbers() -> st.SearchStrategy[Any]:
    """Values where an integer is expected: of every type and size."""
    return st.one_of(st.booleans(), st.integers(),
                     st.integers(min_value=10 ** 20), st.floats(),
                     st.sampled_from(KNOWN_BAD), st.none())


def values() -> st.SearchStrategy[Any]:
    """Any JSON-ish value, including the wrong types for every field."""
    scalars = st.one_of(st.none(), st.booleans(), st.integers(),
                        st.floats(), text(), st.binary(max_size=8))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(text(8), inner, max_size=3)), max_leaves=6)


def deep_json(depth: int = 100000) -> str:
    """A syntactically valid JSON array nested ``depth`` levels deep."""
    return '[' * depth + ']' * depth


def snapshot(root: str) -> dict[str, Any]:
    """Every entry below ``root``: file bytes, link targets, directories.

    FIFOs and devices are listed without being opened (a read could
    block).
    """
    found: dict[str, Any] = {}
    pending = [root]
    while pending:
        with os.scandir(pending.pop()) as it:
            for entry in it:
                if entry.is_symlink():
                    found[entry.path] = ('link', os.readlink(entry.path))
                elif entry.is_dir():
                    found[entry.path] = ('dir',)
                    pending.append(entry.path)
                elif entry.is_file():
                    with open(entry.path, 'rb') as f:
                        found[entry.path] = ('file', f.read())
                else:
                    found[entry.path] = ('special',)
    return found


def one_line_refusal(code: int, stderr: str) -> str | None:
    """Why a CLI refusal is not clean (None when it is).

    Clean: exit code 1 or 2 and exactly one line on stderr, without a
    traceback.
    """
    if code not in (1, 2):
        return 'exit code %r' % code
    if 'Traceback' in stderr:
        return 'traceback'
    if stderr.count('\n') != 1 or not stderr.endswith('\n'):
        return '%d lines on stderr: %r' % (stderr.count('\n'), stderr)
    return None
