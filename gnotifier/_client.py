"""The small HTTP client the benchmark's and the demo's load generators share.

Plain threads and ``http.client`` keep-alive connections to 127.0.0.1, with
Nagle off; used in processes that gevent does not patch.
"""

from __future__ import annotations

import http.client
import socket
import time
from typing import List, Tuple

PING_PERIOD = 0.005  # seconds between the starts of two pings


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


def ping(port: int, warm: float, seconds: float, timeout: float) -> Tuple[List[float], int]:
    """GET /ping every 5 ms for ``warm`` + ``seconds``.

    Returns the latencies (s) of the pings started after ``warm``, and how
    many failed; a failed ping reconnects.
    """
    latencies: List[float] = []
    failed = 0
    connection = connect(port, timeout)
    now = time.perf_counter()
    record_from, end = now + warm, now + warm + seconds
    due = now
    try:
        while now < end:
            if due > now:
                time.sleep(due - now)
            start = time.perf_counter()
            try:
                get(connection, "/ping")
            except (OSError, http.client.HTTPException):
                failed += 1
                connection.close()
                connection = connect(port, timeout)
            now = time.perf_counter()
            if start >= record_from:
                latencies.append(now - start)
            due = start + PING_PERIOD
    finally:
        connection.close()
    return latencies, failed
