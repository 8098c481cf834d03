"""``python -m gnotifier demo``: the quick run reports every kind and mode; ``--serve`` streams samples.

Each test runs the command in a subprocess. The numbers are the demo's
business: only the structure of what it prints is checked, and that the
offloaded modes answered every request.
"""

from __future__ import annotations

import http.client
import json
import re
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gnotifier import HubStats, PoolStats
from gnotifier._demo._work import KINDS, modes

QUICK_TIMEOUT = 90  # seconds; a quick run takes about 10
SERVE_TIMEOUT = 30  # seconds for the server to come up, and for each answer
OFFLOADED = ("work", "pool", "process")
PLAN = {(kind, mode) for kind in KINDS for mode in modes(kind)}
FIELDS = {"requests", "seconds", "requests_per_s", "failed", "ping_failed", "ping_p50_ms", "ping_p99_ms", "ping_max_ms"}
LATENCY = r"(?:[0-9.]+ ms|-)"  # "-": no ping was timed
ROW = re.compile(rf"(\w+)\s+(\w+)\s+[0-9.]+\s+{LATENCY}\s+{LATENCY}\s+{LATENCY}\s+(?P<failed>[0-9]+)$")


def demo(*args: str) -> list[str]:
    return [sys.executable, "-m", "gnotifier", "demo", *args]


def test_demo_quick_prints_a_row_per_kind_and_mode_and_writes_json_lines(tmp_path: Path) -> None:
    out = tmp_path / "demo.jsonl"
    completed = subprocess.run(
        demo("--quick", "--json", str(out)), capture_output=True, text=True, timeout=QUICK_TIMEOUT
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    header = ["kind", "mode", "req/s", "ping", "p50", "ping", "p99", "ping", "max", "failed"]
    assert sum(line.split() == header for line in lines) == 1, completed.stdout
    rows = {match.group(1, 2): match for match in map(ROW.match, lines) if match}
    assert set(rows) == PLAN, completed.stdout
    for (_, mode), match in rows.items():
        if mode in OFFLOADED:
            assert match.group("failed") == "0", completed.stdout
    assert any(line.startswith("cpu: ") for line in lines), completed.stdout

    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {(record["kind"], record["mode"]) for record in records} == PLAN
    assert len(records) == len(PLAN)
    for record in records:
        assert FIELDS <= set(record)
        if record["mode"] in OFFLOADED:
            assert (record["failed"], record["ping_failed"]) == (0, 0), record


def test_demo_refuses_bad_flags() -> None:
    completed = subprocess.run(demo("--clients", "0"), capture_output=True, text=True, timeout=SERVE_TIMEOUT)
    assert completed.returncode == 2
    assert "--clients" in completed.stderr and completed.stdout == ""


def read_line(process: subprocess.Popen[str], timeout: float = SERVE_TIMEOUT) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, f"nothing printed within {timeout} s"
    return process.stdout.readline()


def read_samples(port: int, count: int) -> list[dict[str, Any]]:
    """The first ``count`` server-sent events of /events, parsed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=SERVE_TIMEOUT)
    try:
        connection.request("GET", "/events")
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith("text/event-stream")
        samples: list[dict[str, Any]] = []
        while len(samples) < count:
            line = response.readline()
            assert line, "the event stream ended"
            if line.startswith(b"data: "):
                samples.append(json.loads(line[len(b"data: ") :]))
        return samples
    finally:
        connection.close()


def get(port: int, path: str) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=SERVE_TIMEOUT)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def test_demo_serve_shows_the_page_streams_samples_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(demo("--serve", "--port", "0"), stdout=subprocess.PIPE, text=True)
    try:
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", read_line(process))
        assert match is not None
        port = int(match.group(1))

        status, content_type, body = get(port, "/")
        assert (status, content_type.split(";")[0]) == (200, "text/html")
        assert b"<canvas" in body and b'EventSource("/events")' in body
        kind = next(iter(KINDS))
        assert get(port, f"/work/{kind}?mode=work")[0] == 200
        assert get(port, f"/work/{kind}?mode=bogus")[0] == 400

        for sample in read_samples(port, 3):
            assert set(sample) == {"time", "lag_ms", "hub", "pools"}
            assert isinstance(sample["lag_ms"], float) and sample["lag_ms"] >= 0
            assert set(sample["hub"]) == set(HubStats.__annotations__)
            assert set(sample["pools"]) == {"work", "pool", "process"}
            for stats in sample["pools"].values():
                assert set(stats) == set(PoolStats.__annotations__)

        process.send_signal(signal.SIGTERM)
        assert process.wait(SERVE_TIMEOUT) == 0
        with pytest.raises(OSError):  # the server went with it
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(SERVE_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
