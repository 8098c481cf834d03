"""The small HTTP client the benchmark's and the demo's load generators share.

Plain threads and ``http.client`` keep-alive connections to 127.0.0.1, with
Nagle off; used in processes that gevent does not patch.
"""

from __future__ import annotations

import http.client
import socket


def connect(port: int, timeout: float) -> http.client.HTTPConnection:
    """A connection to 127.0.0.1:``port``, connected now, with TCP_NODELAY."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.connect()
    assert connection.sock is not None
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def get(connection: http.client.HTTPConnection, path: str) -> bytes:
    """GET ``path``; its body, or OSError unless the answer is 200 OK."""
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise OSError(f"{path}: HTTP {response.status}: {body[:200]!r}")
    return body
