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
"""Option builders shared by the plugins and spp_neutron.

Every HTTP client here (etcd, spp-ctl) takes the same three timing options;
building them in one place keeps their names, bounds and help in step.
"""

from __future__ import annotations

from oslo_config import cfg


def client_timeout_opts(prefix: str, peer: str, connect: float = 1.0,
                        read: float = 5.0, retry: float = 2.0,
                        helps: tuple[str, str, str] | None = None
                        ) -> list[cfg.Opt]:
    """The ``<prefix>_connect_timeout``/``_read_timeout``/``_retry_window``
    options of a client talking to ``peer``, with their defaults.

    ``helps`` replaces the three generic help texts, in that order, for a
    client whose behaviour needs more words (the vRouter agent client
    never retries a request the agent received).
    """
    connect_help, read_help, retry_help = helps or (
        'Seconds to establish a connection to %s.' % peer,
        'Seconds to wait for each %s answer.' % peer,
        'Seconds during which requests %s could not receive are '
        'retried.' % peer)
    return [
        cfg.FloatOpt(prefix + '_connect_timeout', default=connect, min=0.01,
                     help=connect_help),
        cfg.FloatOpt(prefix + '_read_timeout', default=read, min=0.01,
                     help=read_help),
        cfg.FloatOpt(prefix + '_retry_window', default=retry, min=0.0,
                     help=retry_help),
    ]
