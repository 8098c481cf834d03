"""The errors gnotifier raises; every public one is re-exported by ``gnotifier``.

Each message says what happened and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "AlreadySettled",
    "Cancelled",
    "HubClosed",
    "NotifierFreed",
    "PoolClosed",
    "PoolFull",
]


class NotifierFreed(RuntimeError):
    """Raised by ``Notifier.trigger()`` once the notifier was freed.

    A notifier is freed by ``free()``, by leaving its ``with`` block, after a
    single-shot callback ran, or when its hub was destroyed.
    """


class HubClosed(RuntimeError):
    """Raised when a call is sent to a hub that was destroyed.

    Raised by ``call_soon_threadsafe()``, ``call_in_hub()`` and the machinery
    behind them. The hub can no longer run anything: send the call to a live
    hub instead.
    """


class AlreadySettled(RuntimeError):
    """Raised by ``Promise.set()``/``set_exception()`` on a settled promise.

    A promise settles once; create a new ``Promise`` for a new outcome.
    """


class Cancelled(Exception):
    """The outcome of a promise whose job was cancelled.

    Rejects the promise of a job cancelled before it started (``cancel()``,
    ``Pool.shutdown(cancel_pending=True)``), and is raised by
    ``check_cancelled()`` inside a job whose promise was cancelled while it ran.
    """


class PoolFull(RuntimeError):
    """Raised by ``Pool.work()`` in hub context when ``max_pending`` is reached.

    Hub context must not wait; submit from a greenlet (which waits for room)
    or raise ``max_pending``.
    """


class PoolClosed(RuntimeError):
    """Raised by ``Pool.work()`` after ``Pool.shutdown()``.

    Submit to another pool (``default_pool()``) or create a new ``Pool``.
    """


def already_settled(promise: object) -> AlreadySettled:
    """The error for a second settle of ``promise``."""
    return AlreadySettled(
        f"{promise!r} is already settled, and a promise settles once: check ready() first, or make a new promise"
    )


# Completes "<this job> " in the message of a job's Cancelled.
NEVER_RUNS = "was cancelled before it started and will never run; submit it again if it is still wanted"
