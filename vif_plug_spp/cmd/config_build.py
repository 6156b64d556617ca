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
"""``spp-config-build``: write a host's SPP configuration to etcd.

Takes the devstack variables of networking-spp (``DPDK_PORT_MAPPINGS``,
``SPP_HOST``, ``ETCD_HOST``, ``ETCD_PORT`` - deprecated for
``ETCD_ENDPOINTS`` and the TLS and credential variables of
:mod:`vif_plug_spp.cmd.etcd_args` - ``SPP_COMPONENT_CONF``,
``SPP_MIRROR``, ``SPP_PRIMARY_CORE_MASK``) from the environment or the
matching options.  Invalid input ends with exit status 2 and one line
saying what to fix, never a traceback.  ``destroy`` removes the host's
keys (``<kind>/<host>/`` prefixes only).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Any, Callable

from os_vif_accel import etcd_opts
from os_vif_accel import parse
from os_vif_accel import validate

from vif_plug_spp import builder
from vif_plug_spp import builder_custom
from vif_plug_spp import builder_input
from vif_plug_spp import etcd as etcd_mod
from vif_plug_spp import hostconfig
from vif_plug_spp import keys
from vif_plug_spp.cmd import etcd_args


# A customization file is a few KiB; nesting deeper than this is an
# attack or a generator gone wrong, not a layout.
_MAX_YAML_BYTES = 1 << 20
_MAX_YAML_DEPTH = 32


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump that a
    value with a newline in it could forge lines into).
    """

    def error(self, message: str) -> Any:
        print('%s: error: %s (see --help)' % (self.prog,
                                              message.splitlines()[0]),
              file=sys.stderr)
        sys.exit(2)


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = _Parser(
        prog='spp-config-build', description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('command', nargs='?', default='build',
                        choices=['build', 'destroy'])
    parser.add_argument('--mappings', default=env('DPDK_PORT_MAPPINGS'),
                        help='pci#physnet#num_vhost#core_mask,... in DPDK '
                             'port order [DPDK_PORT_MAPPINGS]')
    parser.add_argument('--host', default=env('SPP_HOST') or
                        socket.gethostname().split('.')[0],
                        help='host name in the keys [SPP_HOST, default '
                             'hostname -s]; must equal the agent\'s and '
                             'Nova\'s host')
    etcd_args.add_options(parser)
    parser.add_argument('--customization',
                        default=env('SPP_COMPONENT_CONF'),
                        help='component customization YAML '
                             '[SPP_COMPONENT_CONF]')
    parser.add_argument('--mirror', default=env('SPP_MIRROR'),
                        help='<num_mirror>#<core_mask> [SPP_MIRROR]')
    parser.add_argument('--primary-core-mask',
                        default=env('SPP_PRIMARY_CORE_MASK') or '0x2',
                        help='spp_primary -c, for the launch plan only '
                             '[SPP_PRIMARY_CORE_MASK, default 0x2]')
    _target_options(parser)
    parser.add_argument('--dry-run', action='store_true',
                        help='print the configuration and keys, write '
                             'nothing')
    parser.add_argument('--force', action='store_true',
                        help='overwrite/delete slot keys that hold port '
                             'ids')
    return parser


def _target_options(parser: argparse.ArgumentParser) -> None:
    """What the configuration is built for: SPP release, DPDK build."""
    ctype = parser.add_mutually_exclusive_group()
    ctype.add_argument('--spp-version', default=builder.DEFAULT_SPP_VERSION,
                       help='SPP release of spp_vf/spp-ctl; picks the '
                            'classifier type name: classifier_mac up to '
                            '18.08.3, classifier from 18.08.4 on '
                            '[default %(default)s, as networking-spp]')
    ctype.add_argument('--classifier-type',
                       choices=builder_custom.CLASSIFIER_NAMES,
                       help='classifier component type name to write '
                            '(overrides --spp-version)')
    parser.add_argument('--max-lcore', default=str(builder.DEFAULT_MAX_LCORE),
                        help='RTE_MAX_LCORE of the DPDK build: core masks '
                             'may select lcores 0 to this - 1 '
                             '[default %(default)s, DPDK\'s default]')


def _yaml_depth_ok(yaml: Any, text: str) -> bool:
    """Check nesting on the parser's event stream, which (unlike the
    composer that safe_load runs) does not recurse.
    """
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent,
                              yaml.SequenceStartEvent)):
            depth += 1
            if depth > _MAX_YAML_DEPTH:
                return False
        elif isinstance(event, (yaml.MappingEndEvent,
                                yaml.SequenceEndEvent)):
            depth -= 1
    return True


def _load_yaml(path: str) -> Any:
    import yaml
    where = 'customization %r' % path
    try:
        with open(path, 'rb') as f:
            data = f.read(_MAX_YAML_BYTES + 1)
        if len(data) > _MAX_YAML_BYTES:
            raise builder.BuildError('%s is larger than %d bytes'
                                     % (where, _MAX_YAML_BYTES))
        text = parse.decode_utf8(data, where)
        if not _yaml_depth_ok(yaml, text):
            raise builder.BuildError('%s nests deeper than %d levels'
                                     % (where, _MAX_YAML_DEPTH))
        return yaml.safe_load(text)
    except OSError as exc:
        raise builder.BuildError('cannot read %s: %s' % (where,
                                                         exc.strerror))
    except validate.InvalidInput as exc:
        raise builder.BuildError(str(exc))
    except yaml.YAMLError as exc:
        raise builder.BuildError('%s is not valid YAML: %s' % (
            where, ' '.join(str(exc).split())))
    except ValueError as exc:  # e.g. an integer of 5000 digits
        raise builder.BuildError('%s holds an unusable value: %s' % (
            where, str(exc).splitlines()[0]))


def _client(args: argparse.Namespace) -> etcd_mod.EtcdClient:
    try:
        return etcd_mod.EtcdClient.from_settings(etcd_args.settings(args))
    except (etcd_opts.ConfigError, etcd_mod.EtcdConfigError) as exc:
        raise builder.BuildError(str(exc))


def _write(client: etcd_mod.EtcdClient, args: argparse.Namespace,
           config: dict[str, Any]) -> dict[str, list[str]]:
    """:func:`builder.write`, once more if an etcd member failed before
    answering: the second run reads every key again and its guards
    decide, so nothing is blindly repeated and a binding made meanwhile
    is still never overwritten.
    """
    try:
        return builder.write(client, args.host, config, force=args.force)
    except etcd_mod.EtcdOutcomeUnknown as exc:
        print('spp-config-build: warning: %s; reading the keys again to '
              'finish the write' % exc, file=sys.stderr)
        return builder.write(client, args.host, config, force=args.force)


def _destroy(args: argparse.Namespace, out: Callable[[str], Any]) -> int:
    if args.dry_run:
        for prefix in [keys.configuration(args.host)] + \
                keys.host_prefixes(args.host):
            out('would delete %s' % prefix)
        return 0
    count = builder.destroy(_client(args), args.host, force=args.force)
    out('deleted %d key(s) of host %s' % (count, args.host))
    return 0


def _check_args(args: argparse.Namespace) -> None:
    """Refuse bad host and port before anything is read or sent."""
    try:
        keys.configuration(args.host)
    except keys.InvalidKeyPart as exc:
        raise builder.BuildError('SPP_HOST: %s' % exc)
    try:
        args.max_lcore = parse.ascii_int(args.max_lcore, '--max-lcore', 1,
                                         builder_input.LCORE_LIMIT)
    except validate.InvalidInput as exc:
        raise builder.BuildError(str(exc))


def run(argv: list[str], out: Callable[[str], Any] = print) -> int:
    args = _parser().parse_args(argv)
    _check_args(args)
    if args.command == 'destroy':
        return _destroy(args, out)
    custom = _load_yaml(args.customization) if args.customization \
        else None
    classifier = args.classifier_type or \
        builder.classifier_type(args.spp_version)
    config = builder.build(args.mappings, args.mirror, custom,
                           classifier=classifier, max_lcore=args.max_lcore)
    try:  # what the agent and the plugin will accept, checked here
        hostconfig.parse(builder.dumps(config), args.host)
    except validate.InvalidInput as exc:
        raise builder.BuildError(str(exc))
    mir = builder.parse_mirror(args.mirror, args.max_lcore)
    out(builder.dumps(config))
    out('# launch plan')
    for line in builder.launch_plan(
            config, args.primary_core_mask,
            mirror_core_mask=mir.core_mask if mir else None):
        out(line)
    slots = builder.slot_keys(args.host, config)
    if args.dry_run:
        out('# would write %s and %d slot key(s) = None:'
            % (keys.configuration(args.host), len(slots)))
        for key in slots:
            out(key)
        return 0
    result = _write(_client(args), args, config)
    out('# wrote %d key(s), deleted %d stale slot key(s)' % (
        len(result['written']), len(result['deleted'])))
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except builder.BuildError as exc:
        print('spp-config-build: error: %s' % exc, file=sys.stderr)
        return 2
    except etcd_mod.EtcdError as exc:
        print('spp-config-build: etcd error: %s' % exc, file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
