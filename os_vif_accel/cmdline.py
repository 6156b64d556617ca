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
"""Injection-safe command lines on ``shlex`` and ``argparse``.

Legacy callers of ``vrouter-port-control`` pass their options in three
shapes: a normal argv (``--name=value`` or ``--name value``), one argv
element holding the whole command line, and that line split on white space
with every value double-quoted.  The old script glued everything together
and cut it before each ``--``, so a value containing `` --x`` or a quote
became an option of its own.  Here a value is only ever cut by a real
tokenizer that honours quotes (:mod:`shlex` in POSIX mode), and
re-tokenizing happens only for the two packed shapes, never for a normal
argv whose elements are already values.  Options are parsed by
:mod:`argparse` with abbreviations off; what the legacy forms need on top
(a flag's optional value, one value per option, refusals naming the full
option) is added here.  Measurements behind the choice:
``doc/source/contributor/library-choices.rst``.
"""

from __future__ import annotations

import argparse
import re
import shlex
from typing import Any, NoReturn, Sequence

__all__ = ['UsageError', 'Option', 'tokenize', 'unpack', 'parse',
           'parse_bool']

# ASCII white space only: a VM name may contain U+00A0 and friends, and
# those must arrive intact even when unquoted.
_SPACE = ' \t\n\r\f\v'
_OPT = re.compile(r'^--[A-Za-z0-9_]+=')
_QUOTED_OPT = re.compile(r'^--[A-Za-z0-9_]+="')
_NO_VALUE = re.compile(r'^argument (--[A-Za-z0-9_]+): expected one argument$')
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
    ``--a=b cd``).  No comments.  Unbalanced quotes raise
    :class:`UsageError` rather than guessing where a value ends.
    """
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace = _SPACE
    lexer.whitespace_split = True
    lexer.commenters = ''
    try:
        return list(lexer)
    except ValueError as exc:
        raise UsageError('%s in %r' % (str(exc).lower(), text))


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


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` instead of exiting."""

    metavars: dict[str, str]

    def error(self, message: str) -> NoReturn:
        match = _NO_VALUE.match(message)
        if match:
            name = match.group(1)
            message = ('option %s needs a value (%s=%s); a value that '
                       'starts with "-" must be given as %s=VALUE' %
                       (name, name, self.metavars.get(name, 'VALUE'), name))
        raise UsageError(message)


class _Once(argparse.Action):
    """Store the value; the same option again must repeat it."""

    def __call__(self, parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        value = self.const if values is None else values
        old = getattr(namespace, self.dest, None)
        if old is not None and old != value:
            raise UsageError('option --%s given twice with different '
                             'values (%r and %r)' % (self.dest, old, value))
        setattr(namespace, self.dest, value)


def _parser(options: dict[str, Option]) -> _Parser:
    parser = _Parser(add_help=False, allow_abbrev=False)
    parser.metavars = {'--' + n: o.metavar for n, o in options.items()}
    for name, opt in options.items():
        extra: dict[str, Any] = {'nargs': '?', 'const': True} \
            if opt.flag else {}
        parser.add_argument('--' + name, dest=name, action=_Once,
                            default=argparse.SUPPRESS, **extra)
    return parser


def _unknown(word: str, options: dict[str, Option]) -> UsageError:
    if not word.startswith('--') or word == '--':
        return UsageError('unexpected argument %r: options are written '
                          '--name=value or --name value' % word)
    name = word[2:].partition('=')[0]
    # Abbreviations (argparse's default) are refused but named.
    close = [o for o in options if name and o.startswith(name)]
    if len(close) != 1:
        import difflib  # lazy: 1.5 ms per call, used only to refuse
        close = difflib.get_close_matches(name, list(options), n=1)
    hint = ' (did you mean --%s?)' % close[0] if close else ''
    return UsageError('unknown option --%s%s; see --help' % (name, hint))


def _flag_values(words: Sequence[str], options: dict[str, Option]
                 ) -> list[str]:
    """``--flag true`` -> ``--flag=true``; a bare flag takes no word.

    argparse's optional value would swallow any following word; the
    legacy grammar takes only a boolean spelling there.
    """
    out: list[str] = []
    i = 0
    while i < len(words):
        word, nxt = words[i], words[i + 1] if i + 1 < len(words) else None
        i += 1
        opt = options.get(word[2:]) if word.startswith('--') else None
        if opt is not None and opt.flag and nxt is not None:
            if parse_bool(nxt) is not None:
                word, i = '%s=%s' % (word, nxt), i + 1
            elif not nxt.startswith('-'):
                raise _unknown(nxt, options)
        out.append(word)
    return out


def parse(words: Sequence[str], options: dict[str, Option]
          ) -> dict[str, str | bool]:
    """Parse words into ``{name: value}`` for the options given.

    Values stay strings (flags: True or the string given) so that the
    caller reports bad values as bad input, not as usage errors.  An
    option repeated with the same value is accepted; with a different
    value it is an error.  ``-h``/``--help`` yields ``{'help': True}``.
    """
    for word in words:
        if word in ('-h', '--help'):
            return {'help': True}
        if word == '--':
            raise _unknown(word, options)
    given, extra = _parser(options).parse_known_args(
        _flag_values(words, options))
    if extra:
        raise _unknown(extra[0], options)
    return vars(given)
