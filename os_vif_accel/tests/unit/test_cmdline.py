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
"""The injection-safe tokenizer and option parser of the CLIs."""

from __future__ import annotations

import testtools

from os_vif_accel import cmdline

OPTS = {o.name: o for o in [
    cmdline.Option('oper', 'op'), cmdline.Option('uuid', 'id'),
    cmdline.Option('vm_name', 'name'), cmdline.Option('tx_vlan_id', 'vlan'),
    cmdline.Option('no_persist', 'flag', flag=True),
]}


class TestTokenize(testtools.TestCase):

    def test_plain_words_split_on_ascii_white_space(self) -> None:
        self.assertEqual(['--a=1', '--b', '2', '--c'],
                         cmdline.tokenize(' --a=1\t--b \n 2  --c '))

    def test_double_quotes_keep_spaces_and_option_text(self) -> None:
        self.assertEqual(['--vm_name=my vm --uuid=x', '--oper=add'],
                         cmdline.tokenize('--vm_name="my vm --uuid=x" '
                                          '--oper="add"'))

    def test_escaped_quote_and_backslash_inside_double_quotes(self) -> None:
        self.assertEqual(['--vm_name=a "b" c\\d'],
                         cmdline.tokenize(r'--vm_name="a \"b\" c\\d"'))

    def test_other_backslashes_inside_double_quotes_are_literal(self) -> None:
        self.assertEqual(['--x=a\\nb'], cmdline.tokenize(r'--x="a\nb"'))

    def test_single_quotes_are_literal(self) -> None:
        self.assertEqual(['--x=a "b" \\c'],
                         cmdline.tokenize("--x='a \"b\" \\c'"))

    def test_apostrophe_inside_double_quotes(self) -> None:
        self.assertEqual(["--vm_name=Bob's vm"],
                         cmdline.tokenize('--vm_name="Bob\'s vm"'))

    def test_adjacent_pieces_join(self) -> None:
        self.assertEqual(['--a=b cd e'], cmdline.tokenize('--a="b c"d\\ e'))

    def test_empty_quoted_value_is_kept(self) -> None:
        self.assertEqual(['--ipv6_address=', '--x', ''],
                         cmdline.tokenize('--ipv6_address="" --x \'\''))

    def test_unicode_is_intact_and_nbsp_does_not_split(self) -> None:
        name = 'vm\u00a0\u00e9t\u00e9 \U0001f600'
        self.assertEqual(['--vm_name=vm\u00a0\u00e9t\u00e9',
                          '\U0001f600'],
                         cmdline.tokenize('--vm_name=' + name))
        self.assertEqual(['--vm_name=' + name],
                         cmdline.tokenize('--vm_name="%s"' % name))

    def test_unbalanced_quotes_are_usage_errors(self) -> None:
        for text in ('--a="b', "--a='b", '--a=b\\', '--a="b\\"'):
            self.assertRaises(cmdline.UsageError, cmdline.tokenize, text)


class TestUnpack(testtools.TestCase):

    def test_normal_argv_is_never_resplit(self) -> None:
        argv = ['--oper=add', '--vm_name=x" --uuid="y z', '--uuid', 'u']
        self.assertEqual(argv, cmdline.unpack(argv))

    def test_single_element_command_line_is_tokenized(self) -> None:
        self.assertEqual(['--oper=add', '--vm_name=a b'],
                         cmdline.unpack(['--oper="add" --vm_name="a b"']))

    def test_single_element_without_space_or_quote_is_one_option(
            self) -> None:
        self.assertEqual(['--oper=list'], cmdline.unpack(['--oper=list']))

    def test_whitespace_split_quoted_line_is_joined(self) -> None:
        # contrail-vrouter-api splits its command string on white space.
        argv = '--oper="add" --vm_name="my vm" --tx_vlan_id="-1"'.split()
        self.assertEqual(['--oper=add', '--vm_name=my vm', '--tx_vlan_id=-1'],
                         cmdline.unpack(argv))

    def test_mixed_quoting_is_not_joined(self) -> None:
        # One unquoted --name=value element: a normal argv whose first
        # value happens to start with a quote; joining it could turn a
        # value into options.
        argv = ['--oper="add"', '--vm_name=x --uuid=y']
        self.assertEqual(argv, cmdline.unpack(argv))


class TestParse(testtools.TestCase):

    def parse(self, *words: str) -> dict[str, str | bool]:
        return cmdline.parse(list(words), OPTS)

    def test_equals_and_space_forms(self) -> None:
        self.assertEqual({'oper': 'add', 'uuid': 'u', 'tx_vlan_id': '-1'},
                         self.parse('--oper=add', '--uuid', 'u',
                                    '--tx_vlan_id', '-1'))

    def test_value_may_contain_anything_after_equals(self) -> None:
        self.assertEqual({'vm_name': '--uuid=x "y"'},
                         self.parse('--vm_name=--uuid=x "y"'))

    def test_flag_forms(self) -> None:
        self.assertEqual({'no_persist': True}, self.parse('--no_persist'))
        self.assertEqual({'no_persist': 'False'},
                         self.parse('--no_persist=False'))
        self.assertEqual({'no_persist': 'false', 'oper': 'add'},
                         self.parse('--no_persist', 'false', '--oper=add'))
        self.assertEqual({'no_persist': True, 'oper': 'add'},
                         self.parse('--no_persist', '--oper=add'))

    def test_parse_bool(self) -> None:
        for word in ('1', 'True', 'yes', 'ON'):
            self.assertIs(True, cmdline.parse_bool(word))
        for word in ('0', 'False', 'no', 'off'):
            self.assertIs(False, cmdline.parse_bool(word))
        self.assertIsNone(cmdline.parse_bool('maybe'))

    def test_unknown_option_suggests_the_close_one(self) -> None:
        exc = self.assertRaises(cmdline.UsageError, self.parse,
                                '--vm-name=x')
        self.assertIn('--vm_name', str(exc))

    def test_repeated_option(self) -> None:
        self.assertEqual({'uuid': 'a'}, self.parse('--uuid=a', '--uuid', 'a'))
        exc = self.assertRaises(cmdline.UsageError, self.parse, '--uuid=a',
                                '--uuid=b')
        self.assertIn('given twice', str(exc))

    def test_missing_value(self) -> None:
        self.assertRaises(cmdline.UsageError, self.parse, '--uuid')
        exc = self.assertRaises(cmdline.UsageError, self.parse,
                                '--vm_name', '--uuid=x')
        self.assertIn('--vm_name=', str(exc))

    def test_value_starting_with_a_dash_needs_the_equals_form(self) -> None:
        # argparse reads "-x" as an option; a negative number is a value.
        exc = self.assertRaises(cmdline.UsageError, self.parse,
                                '--vm_name', '-x')
        self.assertIn('--vm_name=', str(exc))
        self.assertEqual({'vm_name': '-x'}, self.parse('--vm_name=-x'))
        self.assertEqual({'tx_vlan_id': '-1'},
                         self.parse('--tx_vlan_id', '-1'))

    def test_flag_takes_only_a_boolean_word(self) -> None:
        exc = self.assertRaises(cmdline.UsageError, self.parse,
                                '--no_persist', 'extra')
        self.assertIn("unexpected argument 'extra'", str(exc))

    def test_abbreviation_is_refused_naming_the_option(self) -> None:
        exc = self.assertRaises(cmdline.UsageError, self.parse, '--vm=x')
        self.assertIn('did you mean --vm_name?', str(exc))

    def test_positional_and_single_dash_are_usage_errors(self) -> None:
        for words in (['add'], ['-x'], ['--'], ['--oper=add', 'extra']):
            self.assertRaises(cmdline.UsageError, self.parse, *words)

    def test_help(self) -> None:
        self.assertEqual({'help': True}, self.parse('--oper=add', '-h'))
