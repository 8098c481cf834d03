"""Helpers shared by the stress tests (figures, deadlines, subprocesses).

Not a ``conftest.py``: a second module named ``conftest`` would clash with
``tests/conftest.py`` in ``sys.modules`` during collection. The parent
``tests/conftest.py`` (its autouse ``leaves_nothing_behind``) still applies,
and ``tests/helpers.py`` serves these tests too (``from helpers import ...``).
"""

from __future__ import annotations

import ctypes
import gc
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import gevent
import pytest

import gnotifier

APPS = Path(__file__).resolve().parent / "apps"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def loop_name() -> str:
    """The gevent loop under test, for the printed figures."""
    return os.environ.get("GEVENT_LOOP") or "default"


def report(test: str, **figures: Any) -> None:
    """Print one summary line: the test's name and its figures."""
    parts = []
    for key, value in figures.items():
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    print(f"\n[stress {loop_name()}] {test}: " + " ".join(parts), flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None  # not glibc


_MALLOC_TRIM = _malloc_trim()


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc/self/statm).

    Collects garbage and hands free heap back to the OS first (glibc's
    ``malloc_trim``), so that memory an earlier test freed does not blur
    the growth a test measures.
    """
    gc.collect()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE / 2**20


def rss_growth_mb(samples: Sequence[float], after: float) -> float:
    """RSS growth up to ``after``, measured from the lowest of ``samples``.

    Against the lowest sample: memory an earlier test left behind and that
    is handed back meanwhile cannot hide a leak.
    """
    return after - min(samples, default=after)


def wait_in_hub(condition: Callable[[], bool], timeout: float, what: str, step: float = 0.001) -> float:
    """Let the hub run until ``condition()`` holds; fail after ``timeout`` s. Returns the seconds taken."""
    start = time.monotonic()
    deadline = start + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        gevent.sleep(step)
    return time.monotonic() - start


def wait_in_thread(condition: Callable[[], bool], timeout: float, step: float = 0.0005) -> bool:
    """Block this (plain) thread until ``condition()`` holds; False after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def join_all(threads: Sequence[threading.Thread], timeout: float) -> None:
    """Join plain threads within one overall deadline; fail naming the ones still alive."""
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [thread.name for thread in threads if thread.is_alive()]
    assert not alive, f"threads still running after {timeout} s: {alive}"


class Heartbeat:
    """A ``gnotifier.interval`` in the hub that records how late each tick came.

    Lateness is the gap between two ticks minus the period (libev and libuv
    schedule a repeating timer from when it last fired).
    """

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.late: list[float] = []
        self._last: float | None = None
        self._timer: gnotifier.Timer | None = None

    def _tick(self) -> None:
        now = time.monotonic()
        if self._last is not None:
            self.late.append(max(0.0, now - self._last - self.period))
        self._last = now

    def __enter__(self) -> Heartbeat:
        self._timer = gnotifier.interval(self.period, self._tick)
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._timer is not None
        self._timer.cancel()

    def figures(self) -> dict[str, Any]:
        """Tick count and p50/p99/max lateness in milliseconds."""
        return {
            "ticks": len(self.late) + 1,
            "hb_p50_ms": percentile(self.late, 50) * 1000,
            "hb_p99_ms": percentile(self.late, 99) * 1000,
            "hb_max_ms": max(self.late, default=0.0) * 1000,
        }


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python: ours (GEVENT_LOOP included), apps/ on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(APPS), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra)
    return env


def run_child(script: str, timeout: float, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -c script *args`` with a timeout; fail (showing its output) if it hangs."""
    try:
        return subprocess.run(
            [sys.executable, "-c", script, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=child_env(),
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"child did not finish within {timeout} s; stdout={exc.stdout!r} stderr={exc.stderr!r}")
