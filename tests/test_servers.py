"""work() inside servers that monkey-patch, and the server recipes in examples/.

Each server runs in a subprocess (it patches); the test talks to it over
127.0.0.1. The gunicorn and Locust tests run where those are installed (the
``servers`` tox env) and are skipped elsewhere.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from helpers import expected_digest, free_port

APPS = Path(__file__).resolve().parent / "apps"
DEADLINE = 30.0  # seconds for a server to come up and answer

PYWSGI_SERVER = """
from gevent import monkey
monkey.patch_all()
import sys
from gevent.pywsgi import WSGIServer
from hashing_app import app
server = WSGIServer(("127.0.0.1", 0), app, log=None)
server.start()
print(server.server_port, flush=True)
server.serve_forever()
"""


def fetch(port: int, path: str) -> str:
    """GET the path, retrying until the server answers or the deadline passes."""
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=DEADLINE) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # polling for the server to listen, not asserting on time


def check_answers(port: int) -> None:
    for path in ("/alpha", "/beta"):
        digest, thread_name = fetch(port, path).split()
        assert (digest, thread_name.startswith("gnotifier-")) == (expected_digest(path), True)


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(APPS), *filter(None, [env.get("PYTHONPATH")])])
    return env


def test_servers_pywsgi_handler_offloads_with_work() -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", PYWSGI_SERVER], stdout=subprocess.PIPE, text=True, env=environment()
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        check_answers(port)
    finally:
        server.kill()
        server.wait(timeout=DEADLINE)


@pytest.mark.skipif(shutil.which("gunicorn") is None, reason="gunicorn runs in the servers tox env")
def test_servers_gunicorn_gevent_worker_offloads_with_work() -> None:
    port = free_port()
    server = subprocess.Popen(
        ["gunicorn", "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{port}", "hashing_app:app"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environment(),
    )
    try:
        check_answers(port)
    finally:
        server.terminate()
        server.wait(timeout=DEADLINE)


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def start_gunicorn_recipe(port: int) -> subprocess.Popen[bytes]:
    command = ["gunicorn", "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{port}", "--chdir", str(EXAMPLES)]
    return subprocess.Popen(
        [*command, "gunicorn_app:app"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ)
    )


@pytest.mark.skipif(shutil.which("gunicorn") is None, reason="gunicorn runs in the servers tox env")
def test_recipe_gunicorn_app_hashes_off_the_hub() -> None:
    port = free_port()
    server = start_gunicorn_recipe(port)
    try:
        answer = json.loads(fetch(port, "/hash?password=hunter2"))
        pong = fetch(port, "/ping")
    finally:
        server.terminate()
        server.wait(timeout=DEADLINE)
    salt = b"a per-user salt, stored with the hash"
    assert answer == {"scrypt": hashlib.scrypt(b"hunter2", salt=salt, n=2**14, r=8, p=1).hex()}
    assert pong == "pong\n"


@pytest.mark.skipif(shutil.which("locust") is None, reason="locust runs in the servers tox env")
def test_recipe_locustfile_signs_off_the_hub_and_shuts_its_pool_down() -> None:
    port = free_port()
    server = start_gunicorn_recipe(port)
    try:
        fetch(port, "/ping")  # up
        users = ["--headless", "-u", "4", "-r", "4", "-t", "3s", "--only-summary"]
        locust = subprocess.run(
            ["locust", "-f", str(EXAMPLES / "locustfile.py"), *users, "--host", f"http://127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    finally:
        server.terminate()
        server.wait(timeout=DEADLINE)
    output = locust.stdout + locust.stderr
    assert locust.returncode == 0, output
    signed = re.search(r"signed (\d+) requests off the hub; pool shut down", output)
    assert signed is not None and int(signed.group(1)) > 0, output


def test_recipe_sse_threads_streams_what_a_foreign_thread_reads() -> None:
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "sse_threads.py"), "--port", "0", "--period", "0.3", "--count", "4"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = urllib.parse.urlsplit(server.stdout.readline().strip())
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        connection.request("GET", url.path)
        response = connection.getresponse()
        events = [json.loads(line[len("data: ") :]) for line in response.read().decode().splitlines() if line]
        connection.close()
    finally:
        server.kill()
        server.wait(timeout=30)
    assert response.getheader("Content-Type") == "text/event-stream"
    # Readings made before the stream opened went to nobody; the rest arrive in order.
    numbers = [event["n"] for event in events[:-1]]
    assert numbers == list(range(4 - len(numbers), 4)) and len(numbers) >= 1
    assert events[-1] == {"done": True}
