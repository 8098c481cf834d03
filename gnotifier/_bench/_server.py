"""Scenario S, run by the child: a patched server under load, and the ``/ping`` client.

The child's main thread starts the server (``_app``) in a process group of
its own: gunicorn ``-k gevent -w 1`` where gunicorn is installed, else a
monkey-patched ``gevent.pywsgi`` with TCP_NODELAY. Once the server answers,
it starts the load generator (``_load``, another process group: 50
connections on ``/hash``) and meanwhile times ``/ping`` every 5 ms itself,
so that no load thread competes with it for the GIL. Both groups are
stopped whatever happens, and the port is seen closed before it returns.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import IO, Any, Dict, Iterator, List, Sequence, Tuple

from .. import _client
from ._load import TIMEOUT, connect, get
from ._scenarios import Measure, Metrics, percentile

CONNECTIONS = 50
STARTUP = 60.0  # seconds for the server to answer its first ping

PYWSGI = """\
from gevent import monkey
monkey.patch_all()
import sys
from gnotifier._bench._app import serve
serve(int(sys.argv[1]))
"""


def with_gunicorn() -> bool:
    return importlib.util.find_spec("gunicorn") is not None


def server_command(port: int) -> List[str]:
    if with_gunicorn():
        bind = f"127.0.0.1:{port}"
        return [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1", "-b", bind, "gnotifier._bench._app:app"]
    return [sys.executable, "-c", PYWSGI, str(port)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _signal_group(process: subprocess.Popen[Any], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


@contextlib.contextmanager
def process_group(command: Sequence[str], grace: float = 0.0, **popen: Any) -> Iterator[subprocess.Popen[Any]]:
    """Run ``command`` as the leader of a new process group; on the way out, give it ``grace``
    seconds to exit, then stop the whole group."""
    process = subprocess.Popen(command, start_new_session=True, **popen)
    try:
        yield process
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
        _signal_group(process, signal.SIGINT)  # gunicorn and pywsgi both stop at once on it
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        _signal_group(process, signal.SIGKILL)  # whatever of the group is left
        process.wait()


def wait_until_up(port: int, server: subprocess.Popen[Any], log: IO[str]) -> None:
    deadline = time.monotonic() + STARTUP
    while True:
        try:
            connection = connect(port)
            try:
                get(connection, "/ping")
                return
            finally:
                connection.close()
        except (OSError, http.client.HTTPException):
            if server.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"the server did not answer on port {port}:\n{log.read()[-2000:]}") from None
            time.sleep(0.05)


def wait_until_closed(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} still accepts connections after the server was stopped")


def measure(impl: str, quick: bool) -> Metrics:
    warm, seconds = (0.25, 0.75) if quick else (1.0, 10.0)
    port = free_port()
    env = dict(os.environ, GNOTIFIER_BENCH_OFFLOAD=impl)
    load = [sys.executable, "-m", "gnotifier._bench._load", str(port), str(warm), str(seconds), str(CONNECTIONS)]
    with tempfile.TemporaryFile("w+") as log:
        with process_group(server_command(port), env=env, stdout=subprocess.DEVNULL, stderr=log) as server:
            wait_until_up(port, server, log)
            with process_group(load, grace=10, env=env, stdout=subprocess.PIPE, text=True) as generator:
                assert generator.stdout is not None
                if generator.stdout.readline().strip() != "go":
                    raise RuntimeError("the load generator did not start")
                pings, ping_errors = _client.ping(port, warm, seconds, TIMEOUT)
                counted: Dict[str, float] = json.loads(generator.stdout.readline())
    wait_until_closed(port)
    return {
        "/hash": counted["requests"] / counted["seconds"],
        "/ping p99": percentile(pings, 99) * 1e3,
        "errors": counted["errors"] + ping_errors,
    }


MEASURES: Dict[Tuple[str, str], Measure] = {
    ("S", "gnotifier"): functools.partial(measure, "gnotifier"),
    ("S", "gevent"): functools.partial(measure, "gevent"),
}
