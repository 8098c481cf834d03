"""Scenarios S and S2, run by the child: a patched server under load, and the ``/ping`` client.

The child's main thread starts the server (``_app``) in a process group of
its own: gunicorn ``-k gevent`` where gunicorn is installed, else a
monkey-patched ``gevent.pywsgi`` with TCP_NODELAY; with one worker process
for S, and two for S2 (gunicorn's ``-w 2``, or two pywsgi processes on one
port, which the kernel shares out with SO_REUSEPORT). Once the server answers,
it starts the load generator (``_load``, another process group: 50
connections on ``/hash``) and meanwhile times ``/ping`` every 5 ms itself,
so that no load thread competes with it for the GIL. Both groups are
stopped whatever happens, and the port is seen closed before it returns.

On Linux it also reads, from /proc, what the server's worker processes
(pywsgi's, or gunicorn's workers) and their hub threads (each one's main
thread) spent over the measured window, summed: the processes' CPU time,
in cores, and per /hash answered, in ms; the hubs' CPU time, and how often
they went to sleep and were woken again. On two cores the hashes keep both CPUs busy, so
every bit of CPU the hub takes is CPU the hashes lose: the hub that
answers sooner (a better /ping p99) wakes more often and costs more.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import importlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import IO, Any, Dict, Iterator, List, Sequence, Tuple

from .. import _client
from .._throttle import CLOCK_TICKS  # the ticks a second of /proc's CPU times
from ._load import TIMEOUT, connect, get
from ._scenarios import Measure, Metrics, percentile

CONNECTIONS = 50
STARTUP = 60.0  # seconds for the server to answer its first ping

PYWSGI = """\
import os, sys
port, workers = int(sys.argv[1]), int(sys.argv[2])
for _ in range(workers - 1):  # before gevent is imported: each process patches its own
    if os.fork() == 0:
        break
from gevent import monkey
monkey.patch_all()
from gnotifier._bench._app import serve
serve(port, shared=workers > 1)
"""


@functools.cache
def why_not_gunicorn() -> str | None:
    """Why S and S2 cannot run gunicorn ``-k gevent`` here, or None when they can."""
    if importlib.util.find_spec("gunicorn") is None:
        return "gunicorn is not installed"
    try:
        importlib.import_module("gunicorn.workers.ggevent")  # needs what gunicorn[gevent] brings
    except ImportError as exc:
        return f"gunicorn's gevent worker does not load ({exc}; install gunicorn[gevent])"
    return None


def with_gunicorn() -> bool:
    return why_not_gunicorn() is None


def server_command(port: int, workers: int) -> List[str]:
    if with_gunicorn():
        bind = f"127.0.0.1:{port}"
        app = "gnotifier._bench._app:app"
        return [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", str(workers), "-b", bind, app]
    return [sys.executable, "-c", PYWSGI, str(port), str(workers)]


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


def wait_for_hubs(server: int, workers: int) -> List[int]:
    """The server's ``workers`` hub processes, once there are as many (a worker may start after
    another already answered); as many as there are after STARTUP seconds, or at once where
    /proc does not list processes."""
    deadline = time.monotonic() + STARTUP
    while True:
        pids = hub_processes(server, with_gunicorn())
        if len(pids) >= workers or time.monotonic() > deadline or not os.path.isdir("/proc/self"):
            return pids
        time.sleep(0.05)


HubSample = Tuple[float, float, int, float]  # (monotonic, hub CPU s, times hubs went to sleep, processes' CPU s)


def hub_processes(server: int, arbiter: bool) -> List[int]:
    """The processes whose main threads run hubs: the children of ``server``, and ``server``
    itself unless it is gunicorn's ``arbiter``, which serves nothing (or has no children yet)."""
    children: List[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        entries = []
    for entry in entries:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    if int(stat.read().rsplit(b")", 1)[1].split()[1]) == server:  # its parent
                        children.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue  # gone, or not ours to read
    return sorted(children) if arbiter and children else [server, *sorted(children)]


def hub_samples(pids: Sequence[int]) -> HubSample | None:
    """What the main threads of ``pids``, and ``pids`` as a whole, have used so far, summed; None
    where one cannot be read."""
    samples = [hub_sample(pid) for pid in pids]
    if not samples or any(sample is None for sample in samples):
        return None
    return (
        time.monotonic(),
        sum(sample[1] for sample in samples if sample is not None),
        sum(sample[2] for sample in samples if sample is not None),
        sum(sample[3] for sample in samples if sample is not None),
    )


def hub_sample(pid: int) -> HubSample | None:
    """What the main thread of ``pid``, and ``pid`` as a whole, have used so far, from /proc; None
    where it cannot be read."""
    try:
        with open(f"/proc/{pid}/task/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        with open(f"/proc/{pid}/task/{pid}/status", "rb") as status:
            lines = status.read().splitlines()
        with open(f"/proc/{pid}/stat", "rb") as stat:
            process = stat.read().rsplit(b")", 1)[1].split()
        sleeps = next(int(line.split()[1]) for line in lines if line.startswith(b"voluntary_ctxt_switches:"))
        return (
            time.monotonic(),
            (int(fields[11]) + int(fields[12])) / CLOCK_TICKS,  # utime + stime
            sleeps,
            (int(process[11]) + int(process[12])) / CLOCK_TICKS,  # of every thread, gone or alive
        )
    except (OSError, IndexError, ValueError, StopIteration):
        return None


def hub_usage(before: HubSample | None, after: HubSample | None) -> Metrics:
    """The server's CPU, the hub's CPU (cores) and its wake-ups (a second) between two samples;
    nothing if either is missing."""
    if before is None or after is None or after[0] <= before[0]:
        return {}
    elapsed = after[0] - before[0]
    return {
        "server CPU": (after[3] - before[3]) / elapsed,
        "hub CPU": (after[1] - before[1]) / elapsed,
        "hub wake-ups": (after[2] - before[2]) / elapsed,
    }


class _HubMeter:
    """Samples the hub threads at the start and the end of the measured window, from a thread of its own."""

    def __init__(self, pids: Sequence[int], warm: float, seconds: float) -> None:
        self.samples: List[HubSample | None] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(pids, warm, seconds), name="bench-hub-meter")
        self._thread.start()

    def _run(self, pids: Sequence[int], warm: float, seconds: float) -> None:
        if self._stop.wait(warm):
            return
        self.samples.append(hub_samples(pids))
        if self._stop.wait(seconds):
            return
        self.samples.append(hub_samples(pids))

    def usage(self) -> Metrics:
        self._stop.set()  # early only if the measurement failed
        self._thread.join()
        return hub_usage(*self.samples) if len(self.samples) == 2 else {}


def measure(impl: str, quick: bool, workers: int = 1) -> Metrics:
    warm, seconds = (0.25, 0.75) if quick else (1.0, 10.0)
    port = free_port()
    env = dict(os.environ, GNOTIFIER_BENCH_OFFLOAD=impl)
    load = [sys.executable, "-m", "gnotifier._bench._load", str(port), str(warm), str(seconds), str(CONNECTIONS)]
    with tempfile.TemporaryFile("w+") as log:
        with process_group(server_command(port, workers), env=env, stdout=subprocess.DEVNULL, stderr=log) as server:
            wait_until_up(port, server, log)
            with process_group(load, grace=10, env=env, stdout=subprocess.PIPE, text=True) as generator:
                assert generator.stdout is not None
                if generator.stdout.readline().strip() != "go":
                    raise RuntimeError("the load generator did not start")
                meter = _HubMeter(wait_for_hubs(server.pid, workers), warm, seconds)
                try:
                    pings, ping_errors = _client.ping(port, warm, seconds, TIMEOUT)
                finally:
                    hub = meter.usage()
                counted: Dict[str, float] = json.loads(generator.stdout.readline())
    wait_until_closed(port)
    rate = counted["requests"] / counted["seconds"]
    figures = {"/hash": rate, "/ping p99": percentile(pings, 99) * 1e3, "errors": counted["errors"] + ping_errors}
    if "server CPU" in hub:
        figures["server CPU"] = hub.pop("server CPU")
        if rate > 0:
            figures["CPU per /hash"] = figures["server CPU"] / rate * 1e3  # the hash itself, and all the rest
    return {**figures, **hub}


MEASURES: Dict[Tuple[str, str], Measure] = {
    ("S", "gnotifier"): functools.partial(measure, "gnotifier"),
    ("S", "gevent"): functools.partial(measure, "gevent"),
    ("S2", "gnotifier"): functools.partial(measure, "gnotifier", workers=2),
    ("S2", "gevent"): functools.partial(measure, "gevent", workers=2),
}
