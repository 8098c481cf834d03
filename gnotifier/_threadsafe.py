# ThreadsafePromise: a promise any thread may settle and wait on.
#
# gevent's AsyncResult is greenlet-safe only: a raw thread that settles one
# can leave the waiting greenlet with LoopExit (gevent#2124), and a thread
# cannot wait on it. A ThreadsafePromise is made in a hub's thread and may
# be settled and waited on from any thread; a settle from another thread
# reaches the hub through the hub's dispatcher.
#
# Guarantees:
# - The first settle wins, from whichever thread; a later one raises
#   AlreadySettled at once in its caller's thread.
# - The promise holds its hub open until it settles (or is collected
#   unsettled).
# - Threads waiting on it hear the outcome, or HubClosed once its hub is
#   destroyed before it settled.
#
# Assumptions:
# - Under the GIL every thread sees plain reads and writes in program order.
# - The hold on the hub is taken and given back in the hub's thread, except
#   by a collection, which gives it back from whichever thread it runs in.
from __future__ import annotations

import concurrent.futures
import weakref
from concurrent.futures import TimeoutError as _FuturesTimeout  # on 3.9 and 3.10 not the builtin
from typing import Any, TypeVar

from gevent.hub import get_hub

from ._checks import check_timeout
from ._dispatch import Dispatcher, describe, dispatcher_for
from ._errors import Cancelled, HubClosed, already_settled
from ._follow import AWAITABLES
from ._native import allocate_lock, get_ident
from ._outcome import Error, Outcome, Value
from ._promise import PENDING, SETTLED, Promise, complete_view

__all__ = ["ThreadsafePromise"]

T = TypeVar("T")


class ThreadsafePromise(Promise[T]):
    """A Promise that any thread may settle and wait on.

    Made in a hub's thread. ``set``, ``set_result`` and ``set_exception``
    are safe from any thread; from another thread the outcome reaches the
    hub through its dispatcher. The first settle wins; a later one raises
    ``AlreadySettled`` in its caller's thread. Until it settles it holds its
    hub open, so a greenlet waiting on it never gets ``LoopExit``.
    ``result()`` and ``get()`` called in another thread block that thread
    and raise the builtin ``TimeoutError`` on timeout. Chain methods stay
    hub-thread-only, as on any promise; ``as_future()`` is safe anywhere.
    """

    __slots__ = ("_dispatcher", "_claim", "_claimed", "_acting", "_holding", "_waiters", "_on_close")

    def __init__(self) -> None:
        Promise.__init__(self)
        self._dispatcher: Dispatcher = dispatcher_for(get_hub())
        self._home = self._dispatcher.hub
        self._claim = allocate_lock()  # guards _claimed and _waiters
        self._claimed = False  # some settle (or cancel) won; any thread, under _claim
        self._acting = False  # the claim's winner is settling or following now; hub thread
        self._holding = True  # hub thread (or the collector, once nobody else can look)
        # One future that every waiting thread waits on, made by the first;
        # completed as the promise settles, or failed as its hub is destroyed.
        self._waiters: concurrent.futures.Future[T] | None = None
        # What hub.destroy() calls; it holds only a weak reference, so that
        # an unsettled promise nobody can settle is still collected.
        self._on_close = _Abandon(weakref.ref(self))
        self._dispatcher.hold()
        self._dispatcher.add_close_callback(self._on_close)

    # -- settling (any thread) --------------------------------------------------

    def set(self, value: Any = None) -> None:
        """Resolve with ``value`` (followed if awaitable). Safe from any thread.

        Does not wait for the hub, but for the flow control of
        ``call_soon_threadsafe`` from another thread.

        Raises:
            AlreadySettled: a settle (or cancel) came first.
            HubClosed: called in another thread once the hub was destroyed.
        """
        self._claim_or_raise()
        self._deliver(value, False)

    set_result = set

    def set_exception(self, exception: BaseException, exc_info: Any = None) -> None:  # type: ignore[override]
        """Reject with ``exception``. Safe from any thread.

        Does not wait for the hub, but for the flow control of
        ``call_soon_threadsafe`` from another thread.

        Raises:
            TypeError: ``exception`` is not an exception instance.
            AlreadySettled: a settle (or cancel) came first.
            HubClosed: called in another thread once the hub was destroyed.
        """
        if not isinstance(exception, BaseException):
            raise TypeError(f"set_exception() needs an exception instance, got {exception!r}")
        if exc_info and exception.__traceback__ is None:
            exception = exception.with_traceback(exc_info[2])
        self._claim_or_raise()
        self._deliver(exception, True)

    def cancel(self) -> bool:  # type: ignore[override]
        """Reject with ``Cancelled`` unless a settle came first (then False). Hub thread."""
        self._check_thread("cancel")
        if not self._win():
            return False
        self._settle_won(Error(Cancelled(f"{self!r} was cancelled before it was settled")))
        return True

    def _win(self) -> bool:
        # Hub thread: take the claim for a settle made here.
        with self._claim:
            if self._claimed:
                return False
            self._claimed = True
        return True

    def _claim_or_raise(self) -> None:
        with self._claim:
            if self._claimed:
                raise already_settled(self)
            self._claimed = True

    def _deliver(self, payload: Any, is_error: bool) -> None:
        # The settling thread, after winning the claim. (Closed first: a
        # thread that ended leaves its ident to new threads.)
        dispatcher = self._dispatcher
        try:
            if dispatcher.closed:
                raise self._closed_error()
            if get_ident() == dispatcher.thread_ident:
                self._settle_claimed(payload, is_error)
            else:
                dispatcher.submit(self._settle_claimed, (payload, is_error))
        except HubClosed:
            # The hub was destroyed first: the outcome never arrives, so the
            # claim goes back (a later settle hears HubClosed too) and the
            # threads waiting, which _abandon() left to it, are told.
            with self._claim:
                self._claimed = False
                view = self._waiters
            if view is not None:
                _fail(view, self._closed_error())
            raise

    def _settle_claimed(self, payload: Any, is_error: bool) -> None:
        # Hub thread: the winner's outcome arrives.
        if is_error:
            self._settle_won(Error(payload))
        elif isinstance(payload, AWAITABLES):
            self._as_winner(Promise._follow, payload)
        else:
            self._settle_won(Value(payload))

    # The machinery (a combinator's result, a link's derived promise, a
    # followed source) settles and follows through these two, without set():
    # it must win the claim as set() does. If a settle in another thread won
    # it first, that outcome is on its way to the hub, and stands. The
    # winner's own follow comes back through them too: ``_acting`` says so.

    def _settle(self, outcome: Outcome) -> None:
        # Hub thread.
        if self._acting or self._win():
            self._settle_won(outcome)

    def _follow(self, source: Any) -> None:
        # Hub thread.
        if self._acting or self._win():
            self._as_winner(Promise._follow, source)

    def _resolve(self, outcome: Outcome) -> None:
        # Hub thread: what the winner's followed source settled with.
        self._as_winner(Promise._resolve, outcome)

    def _as_winner(self, method: Any, arg: Any) -> None:
        # Hub thread: run a Promise method for the claim's winner.
        outer, self._acting = self._acting, True
        try:
            method(self, arg)
        finally:
            self._acting = outer

    def _settle_won(self, outcome: Outcome) -> None:
        # Hub thread: the one way it settles; gives the hold back, and the
        # outcome to the threads that wait.
        if self._state is SETTLED:
            return
        Promise._settle(self, outcome)
        if self._holding:
            self._holding = False
            self._dispatcher.release()
        self._dispatcher.remove_close_callback(self._on_close)
        with self._claim:
            view = self._waiters
        if view is not None:
            complete_view(view, self)

    def _abandon(self) -> None:
        # Hub thread, from hub.destroy() (through _on_close): nothing can settle
        # it any more, unless a settle from another thread won and is queued
        # (close() runs it after this; if its submit came too late, _deliver()
        # tells the waiters). Threads that wait on it are told now.
        with self._claim:
            if self.ready() or (self._claimed and self._state is PENDING):
                return
            view = self._waiters
        if view is not None:
            _fail(view, self._closed_error())

    def _closed_error(self) -> HubClosed:
        return HubClosed(
            f"the hub {describe(self._home)} was destroyed before {self!r} was settled; "
            "settle it before the hub is destroyed"
        )

    def __del__(self) -> None:
        # Collected unsettled: nobody can settle it any more, so the hub may
        # go, and whoever holds its as_future() is told. (No lock: a
        # collection may run in a thread that holds _claim.)
        if getattr(self, "_holding", False):  # (not set if __init__ failed)
            self._holding = False
            self._dispatcher.release_from_any_thread()
            self._dispatcher.remove_close_callback(self._on_close)
            view = self._waiters
            if view is not None:
                _fail(view, Cancelled(f"{self!r} was garbage-collected unsettled: nothing can settle it any more"))
        Promise.__del__(self)

    # -- waiting (any thread) -------------------------------------------------------

    def _foreign(self) -> bool:
        # Closed first: a thread that ended leaves its ident to new threads.
        return self._dispatcher.closed or get_ident() != self._dispatcher.thread_ident

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        """As ``Promise.get``; in another thread it blocks that thread.

        Raises:
            TimeoutError: in another thread, ``timeout`` passed first (or
                ``block=False`` and not settled).
            gevent.Timeout: the same in the hub's thread, as ``AsyncResult.get``.
            HubClosed: in another thread, the hub was destroyed before it settled.
        """
        if not self._foreign():
            return Promise.get(self, block, timeout)
        timeout = check_timeout("ThreadsafePromise.get()", timeout)
        return self._wait_in_thread(0.0 if not block else timeout, "get")

    def result(self, timeout: float | None = None) -> T:
        """As ``Promise.result``; in another thread it blocks that thread.

        Raises:
            TimeoutError: ``timeout`` passed first.
            HubClosed: in another thread, the hub was destroyed before it settled.
        """
        if not self._foreign():
            return Promise.result(self, timeout)
        return self._wait_in_thread(check_timeout("ThreadsafePromise.result()", timeout), "result")

    def wait(self, timeout: float | None = None) -> Any:
        """As ``Promise.wait``; in another thread it blocks that thread.

        Returns None there too if the hub was destroyed before it settled.
        """
        if not self._foreign():
            return Promise.wait(self, timeout)
        timeout = check_timeout("ThreadsafePromise.wait()", timeout)
        if not self.ready():
            try:
                self._view().exception(timeout)
            except (TimeoutError, _FuturesTimeout):
                return None
        return self.value

    def _wait_in_thread(self, timeout: float | None, what: str) -> T:
        if not self.ready():
            try:
                error = self._view().exception(timeout)
            except (TimeoutError, _FuturesTimeout):
                raise TimeoutError(f"ThreadsafePromise.{what}(): not settled within {timeout} s") from None
            if not self.ready() and error is not None:  # the hub was destroyed before anyone settled it
                raise self._closed_error()  # (a new one each time: the view's would grow a traceback)
        exc = self.exception  # settled: observes it
        if exc is not None:
            raise exc
        return self.value  # type: ignore[return-value]

    def as_future(self) -> concurrent.futures.Future[T]:
        """As ``Promise.as_future``; safe from any thread.

        Every call gives the same future. It fails with ``HubClosed`` if the
        hub is destroyed before the promise settles.
        """
        self._observed = True
        return self._view()

    def _view(self) -> concurrent.futures.Future[T]:
        # A waiting thread: the future every waiting thread waits on; made
        # once, so that waits that time out leave nothing behind. Under
        # _claim, which _settle_won() takes *after* settling: either it
        # finds the view, or the view's maker finds the promise settled.
        with self._claim:
            view = self._waiters
            if view is None:
                view = self._waiters = concurrent.futures.Future()
                view.set_running_or_notify_cancel()  # a view: cancelling it does nothing
                if self.ready():  # (not _state: the hub marks it settled before it sets the value)
                    complete_view(view, self)
                elif self._dispatcher.closed and not (self._claimed and self._state is PENDING):
                    view.set_exception(self._closed_error())  # as _abandon() would have
        return view


def _fail(view: concurrent.futures.Future[Any], error: BaseException) -> None:
    # Any thread: fail a waiters' view, unless it is done (a view only ever
    # fails with HubClosed, from the hub's close or a submit it refused).
    try:
        view.set_exception(error)
    except concurrent.futures.InvalidStateError:
        pass


class _Abandon:
    # A ThreadsafePromise's close callback: a weak reference to it, so that
    # the dispatcher does not keep it alive.
    __slots__ = ("promise",)

    def __init__(self, promise: weakref.ReferenceType[ThreadsafePromise[Any]]) -> None:
        self.promise = promise

    def __call__(self) -> None:
        promise = self.promise()
        if promise is not None:
            promise._abandon()
