"""A module-level ``Pool`` made before gunicorn forks, used by ``-k gevent`` workers.

``gunicorn -k gevent -w 2 --preload`` imports ``apps/stress_app.py`` in the
master, so its ``POOL = gnotifier.Pool(size=2)`` is made before the fork;
each worker then hashes request data on it. Proves: every one of the
requests (from a few client threads, over 127.0.0.1 only) gets the right
digest, and both workers answer (their pids), so the inherited pool works in
each forked worker. Skipped where gunicorn is not installed.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import expected_digest, free_port
from stress_support import APPS, child_env, join_all, percentile, report

pytest.importorskip("gunicorn")

REQUESTS = 200
CLIENTS = 4
EXTRA_TRIES = 200  # more requests, at most, until both workers have answered
START_DEADLINE = 30.0
REQUEST_TIMEOUT = 10.0


def get(port: int, path: str) -> tuple[str, str]:
    """The (digest, pid) the server answers for ``path``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=REQUEST_TIMEOUT) as response:
        digest, pid = response.read().decode().split()
    return digest, pid


def wait_until_serving(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while True:
        assert server.poll() is None, f"gunicorn exited with {server.returncode}"
        try:
            get(port, "/ready")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # polling for the server to listen


def stop(server: subprocess.Popen[bytes]) -> None:
    """Terminate gunicorn (master and workers); kill it if it does not go."""
    server.terminate()
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(5)


@pytest.mark.timeout(START_DEADLINE + 90)
def test_gunicorn_gevent_workers_share_a_preloaded_pool(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "2", "--preload"]
    command += ["--bind", f"127.0.0.1:{port}", "--chdir", str(APPS), "--graceful-timeout", "5", "stress_app:app"]
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=child_env(PYTHONFAULTHANDLER="1"))
    pids: set[str] = set()
    wrong: list[str] = []
    failures: list[BaseException] = []
    latencies: list[float] = []
    lock = threading.Lock()

    def client(client_no: int, count: int) -> None:
        for n in range(count):
            path = f"/c{client_no}-r{n}"
            began = time.monotonic()
            try:
                digest, pid = get(port, path)
            except BaseException as exc:
                failures.append(exc)
                return
            with lock:
                latencies.append(time.monotonic() - began)
                pids.add(pid)
                if digest != expected_digest(path):
                    wrong.append(path)

    extra = 0
    elapsed = 0.0
    started = time.monotonic()
    try:
        wait_until_serving(port, server)
        clients = [
            threading.Thread(target=client, args=(n, REQUESTS // CLIENTS), name=f"client-{n}") for n in range(CLIENTS)
        ]
        for thread in clients:
            thread.start()
        join_all(clients, 60)
        while len(pids) < 2 and extra < EXTRA_TRIES and not failures:
            client(CLIENTS, 1)
            extra += 1
        elapsed = time.monotonic() - started
    except BaseException:
        stop(server)
        print(f"gunicorn log:\n{log_path.read_text(errors='replace')[-5000:]}")
        raise
    stop(server)
    report(
        "gunicorn",
        requests=len(latencies),
        extra_requests=extra,
        seconds=elapsed,
        pids=len(pids),
        wrong=len(wrong),
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
    )
    log_text = log_path.read_text(errors="replace")[-5000:]
    assert failures == [], f"requests failed: {failures[:3]!r}\ngunicorn log:\n{log_text}"
    assert wrong == [], f"wrong digests for {wrong[:5]}"
    assert len(latencies) >= REQUESTS
    assert len(pids) == 2, f"answers came from {sorted(pids)} only\ngunicorn log:\n{log_text}"
