"""gnotifier's own start in a forked child, run once per fork, as early as it is needed.

``os.register_at_fork(after_in_child=)`` hooks run in the order they were
registered, so a hook a user registered before gnotifier was imported runs
before gnotifier's. If that hook calls ``work()``, the job would meet the
parent's pools and wakeup fd, and gnotifier's start afterwards would take
it for one of the parent's. So every entry point that a hook may reach
calls ``catch_up()``: in a child whose start has not run yet, it runs it
there and then, and the hook itself then finds it done.

Between our ``before`` hook (registered after the user's, so run before
theirs) and our ``after_*`` hooks, ``_parent`` holds the forking process's
pid; otherwise it is None, and ``catch_up()`` costs one global read.
"""

from __future__ import annotations

import os
from typing import Callable

_starts: list[Callable[[], None]] = []  # run in a child, in the order they were added
_parent: int | None = None  # the forking process's pid, until our after_* hook ran


def on_child(start: Callable[[], None]) -> None:
    """Run ``start()`` once in every forked child, after the starts added before it."""
    _starts.append(start)


def catch_up() -> None:
    """In a child whose starts have not run yet, run them now; else nothing. Any thread."""
    if _parent is not None and os.getpid() != _parent:
        _after_in_child()


def _before() -> None:
    global _parent
    _parent = os.getpid()


def _after_in_parent() -> None:
    global _parent
    _parent = None


def _after_in_child() -> None:
    global _parent
    if _parent is None:
        return  # caught up already, in an earlier hook
    _parent = None
    for start in _starts:
        start()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before, after_in_parent=_after_in_parent, after_in_child=_after_in_child)
