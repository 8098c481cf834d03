"""Worker processes for CPU-bound work that give the CPU up to the hub.

A hub that shares the cores with worker processes spinning in pure Python
waits for the OS scheduler each time it wakes. At equal priority Linux lets
a running worker finish its time slice first (about 3 ms), so a server's
accept loop or a 5 ms heartbeat runs up to that late. Workers a few steps
lower in priority (``nice``) are preempted as soon as the hub wakes; they
still get every core the hub leaves idle, which is almost all of them.

``ProcessPoolExecutor`` is the standard one with that single change, for
``Pool(executor=ProcessPoolExecutor())``.
"""

from __future__ import annotations

import concurrent.futures
import os
from typing import Any, Callable

from ._checks import check_callable

__all__ = ["NICE", "ProcessPoolExecutor"]

# How many steps lower the workers run than the process that made them:
# measured on 2 cores, a heartbeat's p99 lag beside two spinning workers
# fell from 3.0 ms at 0 to 0.9 ms at 10; 19 gave no more.
NICE = 10


class ProcessPoolExecutor(concurrent.futures.ProcessPoolExecutor):
    """A ``concurrent.futures.ProcessPoolExecutor`` whose workers run at a lower CPU priority.

    Safe to use from any thread, as the standard one. Each worker process
    lowers its own priority by ``nice`` steps (``os.nice``, where the
    platform has it) before ``initializer`` runs, so the hubs of the process
    that made it win the CPU whenever they wake; ``nice=0`` keeps the
    priority. Every other argument is the standard executor's.
    """

    #: How many steps below the priority of the process that made it each
    #: worker runs; on the class, the default.
    nice: int = NICE

    def __init__(
        self,
        max_workers: int | None = None,
        mp_context: Any = None,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        *,
        nice: int = NICE,
        **kwargs: Any,
    ) -> None:
        what = "gnotifier.ProcessPoolExecutor()"
        if isinstance(nice, bool) or not isinstance(nice, int):
            raise TypeError(f"{what} needs nice as an int from 0 to 19, got {nice!r}")
        if not 0 <= nice <= 19:
            raise ValueError(
                f"{what} needs nice from 0 (the parent's priority) to 19 (the lowest), got {nice!r}:"
                " workers cannot run above their parent's priority"
            )
        if initializer is not None:
            check_callable(what, initializer, "initializer")
        self.nice = nice
        if nice and hasattr(os, "nice"):
            if initializer is None:  # os.nice alone: a worker need not import gnotifier
                initializer, initargs = os.nice, (nice,)
            else:
                initializer, initargs = _lowered, (nice, initializer, tuple(initargs))
        super().__init__(max_workers, mp_context, initializer, initargs, **kwargs)


def _lowered(nice: int, initializer: Callable[..., object], initargs: tuple[Any, ...]) -> None:
    # A worker process, as it starts: lower the priority, then the caller's initializer.
    os.nice(nice)
    initializer(*initargs)
