"""``python -m gnotifier demo``: the runner, in the parent process.

It starts the server (``_server``) in a process group of its own, then, for
every (kind, mode), a load-generator process (``_load``) while its own main
thread times ``/ping``. It prints one table and what the numbers say; with
``--serve`` it only keeps the server up for the live page. The server and
every load generator are stopped whatever happens (SIGTERM included).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import math
import os
import platform
import select
import signal
import subprocess
import sys
import tempfile
from typing import IO, Any, Callable, Dict, Iterator, List, Sequence, TextIO, Tuple

from .. import _client
from . import _load, _server, _work

SECONDS = 4.0  # per mode: 13 modes take about 65 s in all
WARM = 0.5  # seconds of load before counting
QUICK_SECONDS, QUICK_WARM = 0.25, 0.1
CLIENTS = 8
STARTUP = 60.0  # seconds for the server to come up
GRACE = 5.0  # seconds a process gets to exit before its group is killed

Results = Dict[Tuple[str, str], "Measurement"]


def _number(kind: type, low: float, high: float) -> Callable[[str], Any]:
    what = "a whole number" if kind is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = math.nan
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {what} from {low:g} to {high:g}, not {text!r}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Serve blocking and CPU work from a monkey-patched gevent.pywsgi server, inline and offloaded with "
        "gnotifier, under load; print requests/s and /ping latency for each."
    )
    parser.add_argument(
        "--seconds",
        type=_number(float, 0.1, 600),
        metavar="S",
        help=f"seconds of load per kind and mode, after {WARM} s of warm-up (default: {SECONDS:g}; 13 modes in all)",
    )
    parser.add_argument(
        "--clients",
        type=_number(int, 1, 64),
        default=CLIENTS,
        metavar="N",
        help=f"keep-alive connections sending work back to back (default: {CLIENTS})",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"a smoke run of a few seconds: {QUICK_SECONDS:g} s per mode"
    )
    parser.add_argument("--json", metavar="FILE", help="also write each measurement to FILE, one JSON object a line")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="only run the server, with live charts at its / page, until Ctrl-C",
    )
    parser.add_argument(
        "--port", type=_number(int, 0, 65535), default=0, help="the server's port (default: any free one)"
    )


# -- processes ------------------------------------------------------------------------


class _Terminated(Exception):
    """SIGTERM arrived: stop what was started, then exit."""


def _on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the cleanup must not be cut short
    raise _Terminated


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM to the process, then SIGKILL to whatever is left of its group."""
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(GRACE)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def _group(command: Sequence[str], stderr: IO[str] | None) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        yield process
    finally:
        _stop(process)


def _line(process: subprocess.Popen[str], timeout: float) -> str:
    """The next line the process prints, or "" if it printed none in time."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    return process.stdout.readline().strip() if ready else ""


@contextlib.contextmanager
def running_server(port: int, stderr: IO[str] | None) -> Iterator[Tuple[int, subprocess.Popen[str]]]:
    """The server, up and answering /ping; its port."""
    with _group(_server.command(port), stderr) as process:
        words = _line(process, STARTUP).split()
        if len(words) != 2 or words[0] != "port":
            raise RuntimeError(f"the server did not start (exit status {process.poll()})")
        port = int(words[1])
        connection = _load.connect(port)  # it listens: this is accepted
        try:
            _load.get(connection, "/ping")
        finally:
            connection.close()
        yield port, process


# -- measuring ---------------------------------------------------------------------------


@dataclasses.dataclass
class Measurement:
    kind: str
    mode: str
    clients: int
    seconds: float
    requests: int
    failed: int
    pings: int
    ping_failed: int
    ping_p50_ms: float
    ping_p99_ms: float
    ping_max_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def record(self) -> Dict[str, Any]:
        """The fields and ``requests_per_s``; null for a latency that no ping measured."""
        fields = {key: None if value != value else value for key, value in dataclasses.asdict(self).items()}
        return {**fields, "requests_per_s": self.rate}


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN without values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))]


def measure(port: int, kind: str, mode: str, clients: int, warm: float, seconds: float, log: IO[str]) -> Measurement:
    path = f"/work/{kind}?mode={mode}"
    command = [sys.executable, "-m", "gnotifier._demo._load", str(port), path, str(warm), str(seconds), str(clients)]
    with _group(command, log) as generator:
        if _line(generator, STARTUP) != "go":
            raise RuntimeError(f"the load generator for {path} did not start")
        latencies, ping_failed = _client.ping(port, warm, seconds, _load.TIMEOUT)
        counted = json.loads(_line(generator, _load.TIMEOUT + 10) or "null")
        if not isinstance(counted, dict):
            raise RuntimeError(f"the load generator for {path} did not report")
    return Measurement(
        kind=kind,
        mode=mode,
        clients=clients,
        seconds=counted["seconds"],
        requests=counted["requests"],
        failed=counted["failed"],
        pings=len(latencies),
        ping_failed=ping_failed,
        ping_p50_ms=percentile(latencies, 50) * 1e3,
        ping_p99_ms=percentile(latencies, 99) * 1e3,
        ping_max_ms=max(latencies, default=math.nan) * 1e3,
    )


class Progress:
    """A bar rewritten in place on a terminal; else a line per mode."""

    WIDTH = 20

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.stream, self.tty = total, stream, stream.isatty()

    def starting(self, done: int, what: str) -> None:
        if self.tty:
            filled = self.WIDTH * done // max(1, self.total)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r[{bar}] {done}/{self.total} {what}".ljust(60))
            self.stream.flush()

    def finished(self, done: int, measurement: Measurement) -> None:
        if not self.tty:
            m = measurement
            print(
                f"demo {done}/{self.total}: {m.kind} {m.mode}: {m.rate:.1f} req/s, /ping p99 {ms(m.ping_p99_ms)}",
                file=self.stream,
                flush=True,
            )

    def close(self) -> None:
        if self.tty:
            self.tty = False  # once
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()


# -- reporting -------------------------------------------------------------------------


def ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def table(results: Results) -> List[str]:
    header = ["kind", "mode", "req/s", "ping p50", "ping p99", "ping max", "failed"]
    rows = [
        [m.kind, m.mode, f"{m.rate:.1f}", ms(m.ping_p50_ms), ms(m.ping_p99_ms), ms(m.ping_max_ms), str(m.failed)]
        for m in results.values()
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [cell.ljust(width) if i < 2 else cell.rjust(width) for i, (cell, width) in enumerate(zip(row, widths))]
        return "  ".join(cells)

    return [line(header), *(line(row) for row in rows)]


def _times(new: float, old: float) -> str:
    return f"{new / old:.1f}x" if old > 0 else "n/a"


def conclusions(results: Results) -> List[str]:
    """What the numbers say, kind by kind."""
    lines = []
    for kind in _work.KINDS:
        inline, work, pool = (results.get((kind, mode)) for mode in ("inline", "work", "pool"))
        if inline is None or work is None or pool is None:
            continue
        if kind in _work.PROCESS_KINDS:
            process = results.get((kind, "process"))
            if work.rate < 1.3 * inline.rate:
                text = f"{kind}: threads cannot beat the GIL here: work() did {_times(work.rate, inline.rate)}"
            else:
                text = f"{kind}: threads ran it at {_times(work.rate, inline.rate)}"
            text += f" the requests/s of inline, /ping p99 {ms(work.ping_p99_ms)} (inline {ms(inline.ping_p99_ms)})"
            if process is not None:
                text += (
                    f"; a process pool did {_times(process.rate, inline.rate)}"
                    f" with /ping p99 at {ms(process.ping_p99_ms)}"
                )
            lines.append(text)
            continue
        speed = _times(work.rate, inline.rate)
        if work.ping_p99_ms < inline.ping_p99_ms:
            text = (
                f"{kind}: offloading with work() kept /ping p99 at {ms(work.ping_p99_ms)}"
                f" instead of {ms(inline.ping_p99_ms)} inline, at {speed} the requests/s"
            )
        else:
            text = (
                f"{kind}: work() did not lower /ping p99 here ({ms(work.ping_p99_ms)},"
                f" inline {ms(inline.ping_p99_ms)}), at {speed} the requests/s"
            )
        if work.rate < 1.3 * inline.rate:
            text += " (the work needs the CPUs, and the load generator shares them: offloading frees the hub, not CPUs)"
        if pool.rate < 0.7 * work.rate:
            text += (
                f"; Pool(size={_work.CPUS}) runs {_work.CPUS} at a time and did {pool.rate:.0f} req/s against"
                f" {work.rate:.0f}: size a pool for calls that wait by how many may wait at once, not by CPUs"
            )
        lines.append(text)
    lines.append(
        "In short: blocking calls and C code that releases the GIL belong on threads (work(), Pool);"
        " pure-Python CPU work belongs in processes (Pool(executor=gnotifier.ProcessPoolExecutor()))."
    )
    return lines


def _introduction(clients: int, seconds: float) -> List[str]:
    import gevent

    import gnotifier

    loop = gevent.config.loop.__module__.replace("gevent.", "", 1)
    kinds = "; ".join(f"{kind}: {what}" for kind, (_, what) in _work.KINDS.items())
    return [
        f"A monkey-patched gevent.pywsgi server; {clients} connections send work back to back for {seconds:g} s"
        " per row, while /ping is timed every 5 ms.",
        f"Python {platform.python_version()}, gevent {gevent.__version__} (loop {loop}),"
        f" gnotifier {gnotifier.__version__}, {_work.CPUS} CPUs.",
        f"Work (10-50 ms a request): {kinds}.",
        "Modes: inline = in the request's greenlet (the hub waits); work = gnotifier.work() on the hub's threadpool;"
        f" pool = Pool(size={_work.CPUS}); process = Pool(executor=gnotifier.ProcessPoolExecutor({_work.CPUS})).",
        "",
    ]


# -- the two ways to run ---------------------------------------------------------------------


def benchmark(args: argparse.Namespace) -> int:
    seconds = args.seconds if args.seconds is not None else QUICK_SECONDS if args.quick else SECONDS
    warm = QUICK_WARM if args.quick else WARM
    plan = [(kind, mode) for kind in _work.KINDS for mode in _work.modes(kind)]
    results: Results = {}
    progress = Progress(len(plan))
    with tempfile.TemporaryFile("w+") as log:  # what the server and the load generators say on stderr
        try:
            with contextlib.ExitStack() as stack:
                out = stack.enter_context(open(args.json, "w")) if args.json else None
                progress.starting(0, "starting the server")
                port, _ = stack.enter_context(running_server(args.port, log))
                for done, (kind, mode) in enumerate(plan):
                    progress.starting(done, f"{kind} {mode}")
                    measurement = measure(port, kind, mode, args.clients, warm, seconds, log)
                    results[kind, mode] = measurement
                    progress.finished(done + 1, measurement)
                    if out is not None:
                        out.write(json.dumps(measurement.record()) + "\n")
                        out.flush()
        except (OSError, RuntimeError, http.client.HTTPException) as exc:
            progress.close()
            log.seek(0)  # the server has stopped: its last words are in
            print(f"gnotifier demo: {exc}\n{log.read()[-3000:]}", file=sys.stderr)
            return 1
        finally:
            progress.close()
    print("\n".join([*_introduction(args.clients, seconds), *table(results), "", *conclusions(results)]))
    failed = sum(m.failed + m.ping_failed for m in results.values())
    if failed:
        print(f"{failed} requests failed", file=sys.stderr)
        return 1
    return 0


def serve(args: argparse.Namespace) -> int:
    try:
        return _serve(args.port)
    except (OSError, RuntimeError, http.client.HTTPException) as exc:
        print(f"gnotifier demo: {exc}", file=sys.stderr)
        return 1


def _serve(wanted: int) -> int:
    with running_server(wanted, None) as (port, process):
        kind = next(iter(_work.KINDS))
        print(f"serving http://127.0.0.1:{port}/", flush=True)
        print(
            f"  live charts at /, work at /work/<kind>?mode=<mode> (e.g. /work/{kind}?mode=inline), /ping;"
            " Ctrl-C stops",
            flush=True,
        )
        try:
            status = process.wait()
        except (KeyboardInterrupt, _Terminated):
            print("stopped", file=sys.stderr)
            return 0
    print(f"the server exited with status {status}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return serve(args) if args.serve else benchmark(args)
    except _Terminated:
        print("terminated", file=sys.stderr)
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)
