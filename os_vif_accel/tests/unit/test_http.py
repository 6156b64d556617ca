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

import json
import threading
import time

import testtools

from os_vif_accel import http
from os_vif_accel.testing import tcpproxy
from os_vif_accel.testing import vrouter_fixtures as vfix


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


class TestStaleAndDown(testtools.TestCase):

    def test_all_pooled_connections_stale_after_a_restart(self) -> None:
        emu = self.useFixture(vfix.EmulatorFixture())
        client = http.JSONClient(emu.url, retry_window=0.3)
        self.addCleanup(client.close)
        conns = [client._new_connection() for _ in range(8)]
        for conn in conns:
            client._put(conn)
        emu.emulator.restart()  # the agent drops every session
        self.assertEqual(200, client.request('POST', '/syncports').status)

    def test_write_answer_lost_on_kept_alive_connection(self) -> None:
        # The server received the request, then the connection died: a
        # reused connection must not make it look "stale" (never
        # processed) and sent again when the caller says it is not
        # idempotent.
        emu = self.useFixture(vfix.EmulatorFixture())
        _s, host, port, _p = http.http_wire.split_url(emu.url)
        proxy = tcpproxy.TcpProxy((host, port))
        self.addCleanup(proxy.kill)
        client = http.JSONClient(proxy.url(), retry_window=2)
        self.addCleanup(client.close)
        client.request('POST', '/syncports')        # pools the connection
        proxy.lose_when = lambda data: b'/syncports' in data
        exc = self.assertRaises(http.Unreachable, client.request, 'POST',
                                '/syncports', idempotent=False)
        self.assertTrue(exc.sent)
        self.assertEqual((1, 1), (proxy.lost, exc.attempts))

    def test_single_attempt_while_known_down(self) -> None:
        client = http.JSONClient('http://127.0.0.1:%d' % vfix.free_port(),
                                 retry_window=0.3)
        first = self.assertRaises(http.Unreachable, client.request, 'GET',
                                  '/')
        self.assertGreater(first.attempts, 1)
        second = self.assertRaises(http.Unreachable, client.request, 'GET',
                                   '/')
        self.assertEqual(1, second.attempts)


class TestWire(testtools.TestCase):
    """The HTTP/1.1 framing the client accepts."""

    def answer(self, raw: bytes) -> http.Response:
        srv = self.useFixture(vfix.RawServer(raw))
        client = http.JSONClient(srv.url + '/base')
        self.addCleanup(client.close)
        return client.request('GET', '/x')

    def test_chunked_body(self) -> None:
        resp = self.answer(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked'
                           b'\r\n\r\n3\r\n{"a\r\n4;ext\r\n": 1\r\n1\r\n}\r\n'
                           b'0\r\nX-Trailer: y\r\n\r\n')
        self.assertEqual({'a': 1}, resp.json())

    def test_body_until_close_and_http10(self) -> None:
        resp = self.answer(b'HTTP/1.0 404 Not Found\r\n\r\n{"error": 1}')
        self.assertEqual((404, {'error': 1}), (resp.status, resp.json()))

    def test_headers_are_case_insensitive(self) -> None:
        resp = self.answer(b'HTTP/1.1 500 OK\r\ncontent-LENGTH: 2\r\n'
                           b'Content-Type: application/json\r\n\r\n{}')
        self.assertEqual((500, 'OK', 'application/json'),
                         (resp.status, resp.reason,
                          resp.headers['content-type']))

    def test_malformed_answers(self) -> None:
        for raw in (b'HTTP/1.1 20 OK\r\n\r\n', b'HTTP/2 200 OK\r\n\r\n',
                    b'HTTP/1.1 200 OK\r\nno colon\r\n\r\n',
                    b'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}',
                    b'HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n'):
            self.assertRaises(http.BadAnswer, self.answer, raw)

    def test_sends_path_prefix_host_and_length(self) -> None:
        srv = self.useFixture(vfix.RawServer(
            b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}'))
        client = http.JSONClient(srv.url + '/v3/')
        self.addCleanup(client.close)
        client.request('POST', '/kv/put', {'k': 'v'})
        head, _, body = srv.received[0].partition(b'\r\n\r\n')
        lines = head.decode().split('\r\n')
        self.assertEqual('POST /v3/kv/put HTTP/1.1', lines[0])
        self.assertIn('Host: 127.0.0.1:%d' % int(srv.url.rsplit(':', 1)[1]),
                      lines)
        self.assertIn('Content-Length: %d' % len(body), lines)
        self.assertIn('Content-Type: application/json', lines)
        self.assertEqual({'k': 'v'}, json.loads(body))

    def test_url_forms(self) -> None:
        split = http._split_url
        self.assertEqual(('http', '127.0.0.1', 9091, ''),
                         split('http://127.0.0.1:9091'))
        self.assertEqual(('https', '::1', 443, '/v3'),
                         split('https://[::1]/v3/'))
        self.assertEqual(('http', 'localhost', 80, '/a/b'),
                         split('http://localhost/a/b'))

    def test_url_port_must_be_ascii_digits_in_range(self) -> None:
        # int() reads '\xb2' (superscript two) as 2 and accepts ' 80'/'-1'.
        for bad in ('http://h:\xb2', 'http://h: 80', 'http://h:-1',
                    'http://h:0', 'http://h:65536', 'http://[::1]:x',
                    'http://h:'):
            self.assertRaises(ValueError, http._split_url, bad)
        self.assertEqual(('http', '::1', 65535, ''),
                         http._split_url('http://[::1]:65535'))


class TestStream(testtools.TestCase):
    """Answers read line by line (etcd watches)."""

    def test_lines_across_chunk_boundaries(self) -> None:
        srv = self.useFixture(vfix.RawServer(
            b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
            b'5\r\n{"a":\r\n5\r\n 1}\n{\r\n8\r\n"b": 2}\n\r\n0\r\n\r\n'))
        stream = http.JSONClient(srv.url).stream('POST', '/watch', {})
        self.addCleanup(stream.close)
        self.assertEqual(200, stream.status)
        self.assertEqual([{'a': 1}, {'b': 2}],
                         [json.loads(line) for line in stream.lines()])

    def test_close_from_another_thread_unblocks_the_reader(self) -> None:
        srv = self.useFixture(vfix.RawServer(
            b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
            b'3\r\n{}\n\r\n', keep_open=True))
        stream = http.JSONClient(srv.url).stream('POST', '/watch', {},
                                                 read_timeout=30)
        lines = stream.lines()
        self.assertEqual(b'{}', next(lines))
        threading.Timer(0.2, stream.close).start()
        # The reader blocked on the next chunk is released by close() (the
        # end of the lines or a read error) - not by its read timeout.
        try:
            next(lines)
        except StopIteration:
            pass
        except (http.BadAnswer, OSError) as exc:
            self.assertNotIsInstance(exc, TimeoutError)
