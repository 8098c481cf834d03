# Event loop helpers: cl-async's with-event-loop, with-delay and with-interval.
#
# Guarantees:
# - run() returns only once main() finished *and* the hub has nothing left
#   to do, and gives back main()'s value or re-raises its exception; an
#   error of main() is never also printed by the hub.
# - run() also waits for every call accepted from any thread: a foreign
#   thread only send()s, and the loop may go idle before it sees that
#   wakeup, so run() looks at the dispatcher's queue itself.
# - delay()/interval() callbacks run in hub context; an error they raise is
#   reported through handle_error and an interval keeps going.
# - cancel() is idempotent and safe from any thread; no callback starts
#   after it returned in the hub's thread.
from __future__ import annotations

import sys
from typing import Any, Callable, TypeVar

import gevent
from gevent.exceptions import LoopExit
from gevent.hub import get_hub

from ._checks import check_callable, check_seconds
from ._dispatch import DISPATCHER_ATTR, Dispatcher, dispatcher_for
from ._outcome import Outcome, capture

__all__ = ["Timer", "delay", "interval", "run"]

if sys.version_info >= (3, 11):
    from typing import TypeVarTuple, Unpack
else:
    from typing_extensions import TypeVarTuple, Unpack

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def run(main: Callable[[Unpack[Ts]], T], /, *args: Unpack[Ts]) -> T:
    """Run ``main(*args)`` in a greenlet of this thread's hub until all is done.

    Returns ``main``'s value once it has finished *and* the hub has nothing
    left to do (as ``gevent.wait()``: notifiers, work, queued calls, timers,
    servers); re-raises its exception. Blocks the calling thread while the
    hub runs; must be called from the thread's main greenlet.

    Args:
        main: run as ``main(*args)``; a coroutine function is refused.

    Returns:
        What ``main`` returned.

    Raises:
        TypeError: ``main`` is not callable.
        RuntimeError: called inside the hub or a greenlet.
        LoopExit: the hub ran out of things to do before ``main`` finished.
    """
    check_callable("run()", main, "main")
    hub = get_hub()
    if gevent.getcurrent() is not hub.parent:
        raise RuntimeError("run() must be called from the thread's main greenlet, not inside a greenlet or the hub")
    box: list[Outcome] = []

    def run_main() -> None:
        box.append(capture(main, *args))
        _poll_soon(hub)

    gevent.spawn_raw(run_main)
    _wait_until_idle(hub)
    if not box:
        raise LoopExit(
            f"run(): the hub has nothing left to do but {main!r} has not finished: "
            f"it waits for something that nothing will deliver"
        )
    return box.pop().unwrap()  # type: ignore[no-any-return]


def _wait_until_idle(hub: Any) -> None:
    # The hub's thread, outside the hub. gevent.wait() returns once no ref'd
    # watcher is left; a call a foreign thread queued may still wait in the
    # dispatcher (its wakeup not seen yet, seen on libuv): run those too.
    while True:
        gevent.wait()
        dispatcher: Dispatcher | None = getattr(hub, DISPATCHER_ATTR, None)
        if dispatcher is None or not dispatcher.hold_until_drained():
            return


def _poll_soon(hub: Any) -> None:
    # Make the loop poll once more, at once. After monkey.patch_all(),
    # gevent's os.close() hands the close to a check watcher, which runs only
    # after the loop's next poll; with nothing else to wake that poll the
    # loop would wait forever (seen after ProcessPoolExecutor.shutdown()).
    timer = hub.loop.timer(0.0, 0.0, ref=False)
    timer.start(timer.close)


class Timer:
    """A timer in the calling thread's hub; ``cancel()`` stops it.

    ``Timer(seconds, fn, *args)`` runs ``fn(*args)`` in hub context once,
    after ``seconds``, as ``delay()`` does; with ``repeat=True`` every
    ``seconds`` until cancelled, as ``interval()`` does. Starts at once;
    must be made in the hub's thread.

    Raises:
        TypeError: ``fn`` not callable or ``seconds`` not a number.
        ValueError: negative ``seconds`` (not positive with ``repeat``).
    """

    __slots__ = ("_dispatcher", "_watcher", "_fn", "_args", "_repeat", "__weakref__")

    def __init__(
        self, seconds: float, fn: Callable[[Unpack[Ts]], object], /, *args: Unpack[Ts], repeat: bool = False
    ) -> None:
        what = "interval()" if repeat else "delay()"
        check_callable(what, fn)
        seconds = check_seconds(what, seconds, positive=repeat)
        self._dispatcher = dispatcher = dispatcher_for(get_hub())
        self._fn: Callable[..., Any] | None = fn
        self._args: tuple[Any, ...] = args
        self._repeat = bool(repeat)
        # Hub thread only: the watcher is made and started here.
        self._watcher: Any = dispatcher.hub.loop.timer(seconds, seconds if repeat else 0.0)
        self._watcher.start(self._fire)

    def __repr__(self) -> str:
        kind = "interval" if self._repeat else "delay"
        state = "active" if self.active else "done"
        return f"<gnotifier.Timer {kind} {state} fn={self._fn!r}>"

    @property
    def active(self) -> bool:
        """Whether the callback may still run."""
        return self._fn is not None

    def _fire(self) -> None:
        # Hub context, the watcher callback: nothing may escape it.
        fn, args = self._fn, self._args
        if fn is None:
            return
        if not self._repeat:
            self._close()
        self._dispatcher.run_reporting(fn, *args)

    def cancel(self) -> None:
        """Stop the timer; idempotent. Safe to call from any thread.

        In the hub's thread it takes effect at once; from another thread the
        timer is stopped in the hub shortly after (that thread waits only for
        the flow control of ``call_soon_threadsafe``).
        """
        if self._fn is None:
            return
        if self._dispatcher.in_hub_thread():
            self._close()
            return
        self._dispatcher.submit_if_open(self._close, ())

    def _close(self) -> None:
        # Hub thread only.
        self._fn = None
        self._args = ()
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
            watcher.close()


def delay(seconds: float, fn: Callable[[Unpack[Ts]], object], /, *args: Unpack[Ts]) -> Timer:
    """Run ``fn(*args)`` in hub context after ``seconds`` (cl-async's ``with-delay``).

    Binds to the calling thread's hub; does not block. The pending timer
    keeps the hub alive until it fires or is cancelled.

    Args:
        seconds: how long from now, 0 or more.
        fn: run as ``fn(*args)`` in hub context; its error goes to the hub's ``handle_error``.

    Returns:
        A ``Timer`` whose ``cancel()`` stops it, from any thread.

    Raises:
        TypeError: ``fn`` not callable or ``seconds`` not a number.
        ValueError: negative ``seconds``.
    """
    return Timer(seconds, fn, *args)


def interval(seconds: float, fn: Callable[[Unpack[Ts]], object], /, *args: Unpack[Ts]) -> Timer:
    """Run ``fn(*args)`` in hub context every ``seconds`` until cancelled.

    Binds to the calling thread's hub; does not block. Keeps the hub alive
    until cancelled.

    Args:
        seconds: the period, above 0.
        fn: run as ``fn(*args)`` in hub context; an error goes to the hub's
            ``handle_error`` and the timer goes on.

    Returns:
        A ``Timer`` whose ``cancel()`` stops it, from any thread.

    Raises:
        TypeError: ``fn`` not callable or ``seconds`` not a number.
        ValueError: ``seconds`` not positive.
    """
    return Timer(seconds, fn, *args, repeat=True)
