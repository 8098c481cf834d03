"""gnotifier's own start in a forked child, run once per child, as early as it is needed.

``os.register_at_fork(after_in_child=)`` hooks run in the order they were
registered, so a hook a user registered before gnotifier was imported runs
before gnotifier's. If that hook calls ``work()``, the job would meet the
parent's pools and wakeup fd, and gnotifier's start afterwards would take
it for one of the parent's. So the entry points such a hook reaches call
``catch_up()``: in a child whose start has not run yet, it runs it there
and then, and gnotifier's own hook then finds it done.

``_forking`` counts the forks under way, from our ``before`` hook
(registered after the user's, so run before theirs) to our
``after_in_parent`` hook; a child inherits a count of at least one, its
own fork's. Outside forks ``catch_up()`` reads that count and returns.
"""

from __future__ import annotations

import os
from typing import Callable

from ._native import allocate_lock

_starts: list[Callable[[], None]] = []  # run in a child, in the order they were added
_lock = allocate_lock()  # guards _forking: several threads may fork at once
_forking = 0  # forks under way in this process
_started_in = os.getpid()  # the process whose starts have run (or that needed none)


def on_child(start: Callable[[], None]) -> None:
    """Run ``start()`` once in every forked child, after the starts added before it."""
    _starts.append(start)


def catch_up() -> None:
    """In a child whose starts have not run yet, run them now; else nothing. Any thread."""
    if _forking and os.getpid() != _started_in:
        _after_in_child()


def _before() -> None:
    global _forking
    with _lock:
        _forking += 1


def _after_in_parent() -> None:
    global _forking
    with _lock:
        _forking -= 1


def _after_in_child() -> None:
    # The child has one thread, this one: nothing to guard against but ourselves.
    global _forking, _started_in, _lock
    if os.getpid() == _started_in:
        return  # caught up already, in an earlier hook
    _started_in = os.getpid()
    _forking = 0
    _lock = allocate_lock()  # another thread may have held it at the fork
    failed: BaseException | None = None
    for start in _starts:
        try:
            start()
        except BaseException as exc:  # noqa: BLE001 - the other starts must run all the same
            failed = failed or exc
    if failed is not None:
        raise failed


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before, after_in_parent=_after_in_parent, after_in_child=_after_in_child)
