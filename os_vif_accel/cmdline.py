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
"""Injection-safe command lines: a POSIX-like tokenizer and option parser.

Legacy callers of ``vrouter-port-control`` pass their options in three
shapes: a normal argv (``--name=value`` or ``--name value``), one argv
element holding the whole command line, and that line split on white space
with every value double-quoted.  The old script glued everything together
and cut it before each ``--``, so a value containing `` --x`` or a quote
became an option of its own.  Here a value is only ever cut by a real
tokenizer that honours quotes, and re-tokenizing happens only for the two
packed shapes, never for a normal argv whose elements are already values.

Only the standard library's ``re`` is imported: the CLI starts in tens of
milliseconds and this module is on every path.
"""

from __future__ import annotations

import re
from typing import Sequence

__all__ = ['UsageError', 'Option', 'tokenize', 'unpack', 'parse',
           'parse_bool']

# ASCII white space only: a VM name may contain U+00A0 and friends, and
# those must arrive intact even when unquoted.
_SPACE = frozenset(' \t\n\r\f\v')
# Inside double quotes a backslash escapes only these (as in POSIX sh).
_DQ_ESCAPES = frozenset('"\\$`')
_OPT = re.compile(r'^--[A-Za-z0-9_]+=')
_QUOTED_OPT = re.compile(r'^--[A-Za-z0-9_]+="')
_TRUE = frozenset(['1', 'true', 'yes', 'on', 'y', 't'])
_FALSE = frozenset(['0', 'false', 'no', 'off', 'n', 'f'])


class UsageError(ValueError):
    """The command line itself is malformed (exit code 2)."""


class Option:
    """One ``--name`` option.

    :param flag: a boolean that may be given without a value
        (``--strict``); ``--strict=false`` and ``--strict false`` also work
    :param default: value when the option is absent
    """

    __slots__ = ('name', 'help', 'default', 'flag', 'metavar')

    def __init__(self, name: str, help: str, default: object = None,
                 flag: bool = False, metavar: str = 'VALUE') -> None:
        self.name = name
        self.help = help
        self.default = default
        self.flag = flag
        self.metavar = metavar


def parse_bool(value: str | bool) -> bool | None:
    """``True``/``False`` for the usual spellings, None otherwise."""
    if isinstance(value, bool):
        return value
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    return None


def tokenize(text: str) -> list[str]:
    """Split ``text`` into words like a POSIX shell, without expansion.

    Double quotes group (``\\"`` and ``\\\\`` are escapes inside them),
    single quotes group literally, a backslash outside quotes escapes the
    next character, and adjacent pieces join (``--a="b c"d`` is one word
    ``--a=b cd``).  Unbalanced quotes raise :class:`UsageError` rather
    than guessing where a value ends.
    """
    words: list[str] = []
    buf: list[str] = []
    in_word = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _SPACE:
            if in_word:
                words.append(''.join(buf))
                buf, in_word = [], False
            i += 1
            continue
        in_word = True
        if ch == '"':
            j = i + 1
            while True:
                if j >= n:
                    raise UsageError('unterminated double quote at '
                                     'character %d of %r' % (i + 1, text))
                c = text[j]
                if c == '"':
                    break
                if c == '\\' and j + 1 < n and text[j + 1] in _DQ_ESCAPES:
                    buf.append(text[j + 1])
                    j += 2
                    continue
                buf.append(c)
                j += 1
            i = j + 1
        elif ch == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise UsageError('unterminated single quote at character '
                                 '%d of %r' % (i + 1, text))
            buf.append(text[i + 1:j])
            i = j + 1
        elif ch == '\\':
            if i + 1 >= n:
                raise UsageError('trailing backslash in %r' % text)
            buf.append(text[i + 1])
            i += 2
        else:
            buf.append(ch)
            i += 1
    if in_word:
        words.append(''.join(buf))
    return words


def unpack(argv: Sequence[str]) -> list[str]:
    """Turn any of the three legacy argv shapes into a list of words.

    * one element that holds several options or quotes (the whole
      command line in one string): tokenized;
    * several elements that are pieces of a line split on white space,
      recognisable because *every* ``--name=value`` element has a quoted
      value (what ``contrail-vrouter-api`` produces): joined with single
      spaces and tokenized;
    * anything else is a normal argv and is returned unchanged, so that
      a value can never be re-split into options.
    """
    args = list(argv)
    if len(args) == 1 and args[0].startswith('--') and \
            any(c in _SPACE or c in '"\'' for c in args[0]):
        return tokenize(args[0])
    if len(args) > 1 and _QUOTED_OPT.match(args[0]) and all(
            _QUOTED_OPT.match(a) for a in args if _OPT.match(a)):
        return tokenize(' '.join(args))
    return args


def _unknown(name: str, options: dict[str, Option]) -> UsageError:
    # Abbreviations (which argparse accepts) are refused but named.
    close = [o for o in options if name and o.startswith(name)]
    if len(close) != 1:
        import difflib
        close = difflib.get_close_matches(name, list(options), n=1)
    hint = ' (did you mean --%s?)' % close[0] if close else ''
    return UsageError('unknown option --%s%s; see --help' % (name, hint))


def parse(words: Sequence[str], options: dict[str, Option]
          ) -> dict[str, str | bool]:
    """Parse words into ``{name: value}`` for the options given.

    Values stay strings (flags: True or the string given) so that the
    caller reports bad values as bad input, not as usage errors.  An
    option repeated with the same value is accepted; with a different
    value it is an error.  ``-h``/``--help`` yields ``{'help': True}``.
    """
    out: dict[str, str | bool] = {}
    i, n = 0, len(words)
    while i < n:
        word = words[i]
        i += 1
        if word in ('-h', '--help'):
            return {'help': True}
        if not word.startswith('--') or word == '--':
            raise UsageError('unexpected argument %r: options are written '
                             '--name=value or --name value' % word)
        name, sep, value = word[2:].partition('=')
        opt = options.get(name)
        if opt is None:
            raise _unknown(name, options)
        val: str | bool
        if sep:
            val = value
        elif opt.flag:
            val = True
            if i < n and parse_bool(words[i]) is not None:
                val = words[i]
                i += 1
        else:
            if i >= n or words[i].startswith('--'):
                raise UsageError('option --%s needs a value (--%s=%s); a '
                                 'value that starts with "--" must be '
                                 'given as --%s=VALUE' %
                                 (name, name, opt.metavar, name))
            val = words[i]
            i += 1
        if name in out and out[name] != val:
            raise UsageError('option --%s given twice with different '
                             'values (%r and %r)' % (name, out[name], val))
        out[name] = val
    return out
