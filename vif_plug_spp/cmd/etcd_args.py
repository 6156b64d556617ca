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
"""etcd connection options of command-line tools (``spp-config-build``).

The same settings as the services' ``etcd_*`` options
(:mod:`os_vif_accel.etcd_opts`), as options or environment variables.
A password is never taken from the command line, where every local user
can read it (``ps``, ``/proc/<pid>/cmdline``): it comes from
``ETCD_PASSWORD`` or from ``--etcd-credentials-file``.
networking-spp's ``ETCD_HOST``/``ETCD_PORT`` (``--etcd-host``,
``--etcd-port``) still work, with a warning naming the replacement.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable

from os_vif_accel import etcd_opts
from os_vif_accel import parse
from os_vif_accel import validate

__all__ = ['add_options', 'settings']


def add_options(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    for flag, var, text in (
            ('--etcd-endpoints', 'ETCD_ENDPOINTS',
             'etcd members, http(s)://host:port,... (tried in order)'),
            ('--etcd-ca-file', 'ETCD_CA_FILE',
             'CA certificate(s) of the members\' server certificates'),
            ('--etcd-cert-file', 'ETCD_CERT_FILE', 'client certificate'),
            ('--etcd-key-file', 'ETCD_KEY_FILE', 'client certificate key'),
            ('--etcd-credentials-file', 'ETCD_CREDENTIALS_FILE',
             'file with "user:password" (mode 0600)'),
            ('--etcd-username', 'ETCD_USERNAME',
             'etcd user; its password from ETCD_PASSWORD (never an '
             'option)')):
        parser.add_argument(flag, default=env(var),
                            help='%s [%s]' % (text, var))
    # Taken only to refuse it: unknown, argparse would echo the password
    # in its usage error.
    parser.add_argument('--etcd-password', help=argparse.SUPPRESS)
    parser.add_argument('--etcd-host', default=env('ETCD_HOST'),
                        help='deprecated: use --etcd-endpoints [ETCD_HOST]')
    parser.add_argument('--etcd-port', default=env('ETCD_PORT') or '2379',
                        help='deprecated: use --etcd-endpoints [ETCD_PORT, '
                             'default 2379]')


def _endpoints(args: argparse.Namespace,
               warn: Callable[[str], Any]) -> tuple[str, ...]:
    if args.etcd_endpoints:
        return tuple(etcd_opts.check_endpoint(url) for url in
                     args.etcd_endpoints.split(',') if url.strip())
    if not args.etcd_host:
        raise etcd_opts.ConfigError('ETCD_ENDPOINTS (--etcd-endpoints) is '
                                    'required')
    try:
        port = parse.ascii_int(args.etcd_port, 'ETCD_PORT (--etcd-port)',
                               1, 65535)
    except validate.InvalidInput as exc:
        raise etcd_opts.ConfigError(str(exc)) from None
    url = etcd_opts.check_endpoint(etcd_opts.legacy_endpoint(
        args.etcd_host, port))
    warn('ETCD_HOST/ETCD_PORT (--etcd-host/--etcd-port) are deprecated: '
         'set ETCD_ENDPOINTS=%s (--etcd-endpoints %s) instead' % (url, url))
    return (url,)


def _warn(text: str) -> None:
    print('spp-config-build: warning: %s' % text, file=sys.stderr)


def settings(args: argparse.Namespace,
             warn: Callable[[str], Any] = _warn) -> etcd_opts.Settings:
    """:class:`etcd_opts.Settings` from the parsed options (ConfigError:
    what to fix, never the password).
    """
    if args.etcd_password is not None:
        raise etcd_opts.ConfigError(
            '--etcd-password is not accepted (other local users can read '
            'command lines): set ETCD_PASSWORD or use '
            '--etcd-credentials-file')
    user = args.etcd_username or None
    password = os.environ.get('ETCD_PASSWORD') or None
    if args.etcd_credentials_file:
        if user:
            raise etcd_opts.ConfigError(
                'give ETCD_CREDENTIALS_FILE or ETCD_USERNAME, not both')
        user, password = etcd_opts.read_credentials(
            args.etcd_credentials_file)
    elif password and not user:
        raise etcd_opts.ConfigError('ETCD_PASSWORD is set without '
                                    'ETCD_USERNAME (--etcd-username)')
    return etcd_opts.Settings(
        endpoints=_endpoints(args, warn), ca_file=args.etcd_ca_file or None,
        cert_file=args.etcd_cert_file or None,
        key_file=args.etcd_key_file or None, username=user,
        password=password)
