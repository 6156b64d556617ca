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
"""The keep-alive JSON client against real loopback servers."""

from __future__ import annotations

import threading
import time

import testtools

from os_vif_accel import http
from vif_plug_vrouter.tests import fixtures as vfix


class TestJSONClient(testtools.TestCase):

    def test_keep_alive_reuses_one_connection(self) -> None:
        emu = self.useFixture(vfix.EmulatorFixture())
        client = http.JSONClient(emu.url)
        self.addCleanup(client.close)
        for _ in range(5):
            self.assertEqual(200, client.request('POST', '/syncports').status)
        self.assertEqual(1, len(client._pool))

    def test_reconnects_after_server_closed_idle_connection(self) -> None:
        emu = self.useFixture(vfix.EmulatorFixture())
        client = http.JSONClient(emu.url, retry_window=2)
        self.addCleanup(client.close)
        client.request('POST', '/syncports')
        emu.emulator.restart()  # drops the pooled connection
        self.assertEqual(200, client.request('POST', '/syncports').status)

    def test_retries_until_the_server_comes_up(self) -> None:
        port = vfix.free_port()
        client = http.JSONClient('http://127.0.0.1:%d' % port,
                                 retry_window=5)
        self.addCleanup(client.close)
        emu = vfix.server.AgentEmulator(
            self.useFixture(vfix.fixtures.TempDir()).path, port=port)
        timer = threading.Timer(0.3, emu.start)
        timer.start()
        self.addCleanup(emu.stop)
        self.assertEqual(200, client.request('POST', '/syncports').status)

    def test_gives_up_after_the_window(self) -> None:
        client = http.JSONClient('http://127.0.0.1:%d' % vfix.free_port(),
                                 retry_window=0.3)
        start = time.monotonic()
        exc = self.assertRaises(http.Unreachable, client.request, 'GET', '/')
        self.assertLess(time.monotonic() - start, 3)
        self.assertGreater(exc.attempts, 1)
        self.assertIn('Connection refused', str(exc))

    def test_answers_are_not_retried(self) -> None:
        srv = self.useFixture(vfix.RawServer(
            b'HTTP/1.1 500 OK\r\nContent-Length: 2\r\n\r\n{}'))
        client = http.JSONClient(srv.url, retry_window=5)
        self.assertEqual(500, client.request('POST', '/port', {}).status)
        self.assertEqual(1, len(srv.conns))

    def test_read_timeout(self) -> None:
        srv = self.useFixture(vfix.RawServer(None))
        client = http.JSONClient(srv.url, read_timeout=0.2, retry_window=5)
        exc = self.assertRaises(http.BadAnswer, client.request, 'GET', '/')
        self.assertIn('no answer within 0.2s', str(exc))
        self.assertEqual(1, len(srv.conns))

    def test_rejects_non_http_urls(self) -> None:
        self.assertRaises(ValueError, http.JSONClient, 'ftp://x')
        self.assertRaises(ValueError, http.JSONClient, '127.0.0.1:9091')

    def test_json_helper(self) -> None:
        resp = http.Response(200, 'OK', b'not json', {})
        self.assertRaises(http.BadAnswer, resp.json)
        self.assertEqual({'a': 1}, http.Response(200, 'OK', b'{"a": 1}',
                                                 {}).json())
