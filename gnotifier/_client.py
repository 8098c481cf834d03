"""The small HTTP client the benchmark's and the demo's load generators share.

Plain threads and ``http.client`` keep-alive connections to 127.0.0.1, with
Nagle off; used in processes that gevent does not patch.
"""

from __future__ import annotations

import http.client
import math
import socket
import threading
import time
from typing import List, Tuple

PING_PERIOD = 0.005  # seconds between the starts of two pings, over all the ping connections
# Connections that take turns to ping, each every PING_CONNECTIONS * PING_PERIOD
# (80 ms): a server that answers slowly still gets a ping every PING_PERIOD
# (unless one takes longer than that), so a fast one is not loaded with more
# of them, and the slow answers are all timed, not skipped. (Four turns,
# every 20 ms, skipped a fifth of gevent's pings under scenario S's load,
# whose p99 is over 30 ms: its server answered fewer pings, and the slowest
# went untimed.)
PING_CONNECTIONS = 16


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
    """GET /ping every 5 ms for ``warm`` + ``seconds``, from PING_CONNECTIONS connections in turn.

    Returns the latencies (s) of the pings started after ``warm``, and how
    many failed; a failed ping reconnects.
    """
    now = time.perf_counter()
    record_from, end = now + warm, now + warm + seconds
    results: List[Tuple[List[float], int]] = []
    errors: List[BaseException] = []

    def take_turns(first: float) -> None:
        try:
            results.append(_ping_in_turn(port, first, record_from, end, timeout))
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=take_turns, args=(now + turn * PING_PERIOD,), name=f"ping-{turn}", daemon=True)
        for turn in range(PING_CONNECTIONS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [latency for latencies, _ in results for latency in latencies], sum(failed for _, failed in results)


def _ping_in_turn(port: int, due: float, record_from: float, end: float, timeout: float) -> Tuple[List[float], int]:
    # One connection's pings, every PING_CONNECTIONS * PING_PERIOD from ``due``.
    latencies: List[float] = []
    failed = 0
    every = PING_CONNECTIONS * PING_PERIOD
    connection = connect(port, timeout)
    now = time.perf_counter()
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
            due += every
            if due < now:  # this one came late: skip the turns it missed, keeping to the grid
                due += every * math.ceil((now - due) / every)
    finally:
        connection.close()
    return latencies, failed
