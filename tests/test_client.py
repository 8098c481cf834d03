"""The ping client the benchmark and the demo share: a steady rate of pings, however slowly they are answered."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from typing import Any, Iterator

import pytest

from gnotifier import _client

ANSWER_AFTER = 0.04  # seconds the test server takes per ping: eight PING_PERIODs, as a loaded gevent hub may


class SlowPing(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client expects

    def setup(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle wait on the body
        super().setup()

    def do_GET(self) -> None:  # the name http.server calls
        time.sleep(ANSWER_AFTER)
        self.send_response(200)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"pong")

    def log_message(self, *args: Any) -> None:
        pass


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 64  # the client connects all at once: past socketserver's 5, a connect waits a second


@pytest.fixture
def slow_server() -> Iterator[int]:
    server = Server(("127.0.0.1", 0), SlowPing)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_a_slow_server_still_gets_a_ping_every_period(slow_server: int) -> None:
    seconds = 0.6
    latencies, failed = _client.ping(slow_server, 0.0, seconds, timeout=5.0)
    # One connection would send one ping per answer, 15 in 0.6 s; four in turn, 60; enough keep to one per 5 ms, 120.
    assert failed == 0
    assert len(latencies) > 0.75 * seconds / _client.PING_PERIOD
    assert min(latencies) >= ANSWER_AFTER


def test_a_ping_that_cannot_connect_raises_in_the_callers_thread() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(ConnectionRefusedError):
            _client.ping(port, 0.0, 0.1, timeout=5.0)
