"""The functions the benchmark offloads.

They run on worker threads or, pickled, in the worker processes of a
``ProcessPoolExecutor``: hence module-level, and nothing here imports gevent.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any


def one() -> int:
    """The empty job: ``lambda: 1``."""
    return 1


def digest(data: bytes) -> bytes:
    """sha256 of ``data``; hashlib lets go of the GIL while it hashes."""
    return hashlib.sha256(data).digest()


def spin(loops: int) -> int:
    """Pure-Python CPU work: holds the GIL all along."""
    total = 0
    for i in range(loops):
        total += i * i % 7
    return total


def loops_for(seconds: float) -> int:
    """How many ``spin`` loops take about ``seconds`` on this machine, now."""
    probe = 200_000
    start = time.perf_counter()
    spin(probe)
    elapsed = max(time.perf_counter() - start, 1e-6)
    return max(1, int(probe * seconds / elapsed))


def burn(ready: Any, go: Any, loops: int, jobs: int, nice: int, done: Any) -> None:
    """A plain process's share of E2's work, with the least hand-off: ``jobs`` spins of ``loops``.

    Lowers its priority by ``nice``, releases ``ready`` once up, waits for
    ``go``, then sends a byte on the connection ``done`` as each spin ends.
    """
    if nice and hasattr(os, "nice"):
        os.nice(nice)
    ready.release()
    go.wait()
    for _ in range(jobs):
        spin(loops)
        done.send_bytes(b"1")
