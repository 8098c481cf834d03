# Bridges between real threads and the greenlets of one hub.
#
# gevent's AsyncResult and gevent.queue are greenlet-safe only: a raw thread
# that settles an AsyncResult can leave the waiting greenlet with LoopExit
# (gevent#2124), and a thread cannot wait on a gevent queue. The two classes
# here are made in a hub's thread and may be used from any thread; whatever
# must happen in the hub reaches it through the hub's dispatcher.
#
# Guarantees:
# - ThreadsafePromise: the first settle wins, from whichever thread; a later
#   one raises AlreadySettled at once in its caller's thread. The promise
#   holds its hub open until it settles (or is collected unsettled).
# - Queue: nothing put is lost, each producer's items come out in its order,
#   and a waiter on either side wakes for every item, every free slot and
#   shutdown(). A greenlet of the hub waits cooperatively and holds the hub
#   open while it waits; any other thread blocks on a native lock.
#
# Assumptions:
# - Under the GIL, deque.append and deque.popleft are atomic and every
#   thread sees plain reads and writes in program order. The Queue's fast
#   paths (an unbounded put, a get that finds an item) take no lock: a
#   waiter registers *before* it looks at the items once more, and a
#   producer looks for waiters *after* it appended, so one of the two sees
#   the other. ``_mutex`` (a native lock) guards the waiter lists, the
#   shutdown flags and bounded puts; it is never held while waiting.
# - Compiled (setup.py), a thread never loses the GIL while it holds
#   ``_mutex``. Pure Python may switch threads inside a section: the other
#   side then blocks on ``_mutex``, which stays correct but can convoy.
# - gevent Events and dispatcher holds are touched in the hub's thread only.
from __future__ import annotations

import collections
import concurrent.futures
import queue as _stdlib_queue
import sys
import weakref
from concurrent.futures import TimeoutError as _FuturesTimeout  # on 3.9 and 3.10 not the builtin
from time import monotonic
from typing import Any, Deque, Generic, Iterator, TypeVar

from gevent import getcurrent
from gevent.event import Event
from gevent.hub import get_hub

from ._checks import MAX_COUNT, check_count, check_timeout
from ._dispatch import Dispatcher, describe, dispatcher_for
from ._errors import Cancelled, HubClosed, already_settled
from ._follow import AWAITABLES
from ._native import allocate_lock, get_ident
from ._outcome import Error, Outcome, Value
from ._promise import PENDING, SETTLED, Promise, complete_view

__all__ = ["Queue", "ShutDown", "ThreadsafePromise"]

T = TypeVar("T")

if sys.version_info >= (3, 13):
    ShutDown = _stdlib_queue.ShutDown
else:

    class ShutDown(Exception):
        """Raised by put() on a shut-down Queue, and by get() once it is also empty."""


Full = _stdlib_queue.Full
Empty = _stdlib_queue.Empty
_FOREVER = -1  # a native lock's acquire() timeout for no limit


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

        Raises:
            AlreadySettled: a settle (or cancel) came first.
            HubClosed: called in another thread once the hub was destroyed.
        """
        self._claim_or_raise()
        self._deliver(value, False)

    set_result = set

    def set_exception(self, exception: BaseException, exc_info: Any = None) -> None:  # type: ignore[override]
        """Reject with ``exception``. Safe from any thread.

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


class Queue(Generic[T]):
    """A FIFO between the greenlets of one hub and any other threads.

    Made in the hub's thread. Every method is safe from any thread. In a
    greenlet of its hub a blocking ``put``/``get`` waits cooperatively (the
    hub keeps running, and stays alive while the greenlet waits); in any
    other thread it blocks that thread. ``maxsize`` 0 means unbounded.
    ``shutdown()`` works as Python 3.13's ``queue.Queue.shutdown``.

    Raises:
        TypeError, ValueError: ``maxsize`` is not an int from 0.
    """

    def __init__(self, maxsize: int = 0) -> None:
        self.maxsize = check_count("Queue()", maxsize, "maxsize= (0 for no bound)", minimum=0, maximum=MAX_COUNT)
        self._dispatcher: Dispatcher = dispatcher_for(get_hub())
        self._items: Deque[T] = collections.deque()
        self._mutex = allocate_lock()
        self._shut = False  # written under _mutex, read racily by the fast paths
        self._immediate = False  # shut down with immediate=True; as _shut
        # Greenlets of the hub waiting, and the Events they wait on (hub thread).
        self._hub_getters = 0  # under _mutex
        self._hub_putters = 0  # under _mutex
        self._can_get = Event()
        self._can_put = Event()
        self._wake_pending = False  # a _wake_hub() call is on its way; under _mutex
        # Other threads waiting: one held native lock each, released to wake it.
        self._thread_getters: Deque[Any] = collections.deque()  # under _mutex
        self._thread_putters: Deque[Any] = collections.deque()  # under _mutex

    def __repr__(self) -> str:
        state = "shut down" if self._shut else "open"
        return f"<gnotifier.Queue {state} items={len(self._items)} maxsize={self.maxsize}>"

    # -- state (any thread) ---------------------------------------------------------

    def qsize(self) -> int:
        """How many items are queued (a moment's snapshot)."""
        return len(self._items)

    def empty(self) -> bool:
        """Whether no item is queued (a moment's snapshot)."""
        return not self._items

    def full(self) -> bool:
        """Whether a bounded queue has no free slot (a moment's snapshot)."""
        return 0 < self.maxsize <= len(self._items)

    # -- put and get -------------------------------------------------------------------

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        """Append ``item``, waiting for a free slot while the queue is full.

        Raises:
            ShutDown: the queue was shut down.
            queue.Full: no slot came within ``timeout`` (or at once, ``block=False``).
            TypeError, ValueError: ``timeout`` is not None or 0 to MAX_SECONDS seconds.
            RuntimeError: a blocking put in hub context, which must not wait.
        """
        if timeout is not None:
            timeout = check_timeout("Queue.put()", timeout)
        if not self.maxsize:  # the fast path: no lock
            if self._shut:
                raise ShutDown("put() on a shut-down Queue")
            self._items.append(item)
            # A hub wake-up already on its way sets the events after this
            # append (_wake_hub() clears the flag first), so it covers us.
            # Compiled, without this look a fast producer took the mutex per item
            # while the greenlets waited for the GIL: bench Q ran 2x slower.
            if self._thread_getters or (self._hub_getters and not self._wake_pending):
                self._wake(putting=False)
            return
        # The common case in one section under the mutex: a free slot, and
        # nobody waiting to take, or one waiter to wake. acquire()/release()
        # rather than ``with``, and no deadline: compiled, a put took 0.8 us
        # instead of 1.2 and a get 0.65 instead of 1.1 (bench Q2: 0.60 M
        # items/s, was 0.38-0.43).
        mutex = self._mutex
        mutex.acquire()
        try:
            placed = len(self._items) < self.maxsize and not self._shut
            if placed:
                self._items.append(item)
                wake = self._waker(False) if self._thread_getters or self._hub_getters else None
        finally:
            mutex.release()
        if placed:
            if wake is not None:
                wake()
            return
        deadline = _deadline("Queue.put()", timeout)
        while True:
            with self._mutex:
                if self._shut:
                    raise ShutDown("put() on a shut-down Queue")
                if len(self._items) < self.maxsize:
                    self._items.append(item)
                    wake = self._waker(putting=False)
                    break
                left = _left(deadline, block)
                if left is not None and left <= 0:
                    raise Full
                # Takes from a bounded queue hold the mutex too: none can slip
                # in between our look and our enlisting.
                waiter = self._enlist(putting=True)
            self._wait(waiter, left, putting=True)
        if wake is not None:
            wake()

    def put_nowait(self, item: T) -> None:
        """``put(item, block=False)``."""
        self.put(item, block=False)

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        """Take the oldest item, waiting for one while the queue is empty.

        Raises:
            ShutDown: the queue was shut down and is empty (at once after
                ``shutdown(immediate=True)``).
            queue.Empty: no item came within ``timeout`` (or at once, ``block=False``).
            TypeError, ValueError: ``timeout`` is not None or 0 to MAX_SECONDS seconds.
            RuntimeError: a blocking get in hub context, which must not wait.
        """
        if timeout is not None:
            timeout = check_timeout("Queue.get()", timeout)
        if self._immediate:
            raise ShutDown("get() on a Queue shut down with immediate=True")
        if not self.maxsize:
            try:
                return self._items.popleft()  # the fast path: no lock
            except IndexError:
                pass
        else:
            # A bounded queue takes under the mutex, as its puts do: with the
            # lock-free take, consumers outran producers queueing for the mutex
            # and parked after nearly every item (4 threads into 2 greenlets
            # ran 2.5x slower). The common case first, as in put().
            mutex = self._mutex
            mutex.acquire()
            try:
                taken = bool(self._items)  # shutdown(immediate=True) empties it under the mutex
                if taken:
                    item = self._items.popleft()
                    wake = self._waker(True) if self._thread_putters or self._hub_putters else None
            finally:
                mutex.release()
            if taken:
                if wake is not None:
                    wake()
                return item
        deadline = _deadline("Queue.get()", timeout)
        while True:
            with self._mutex:
                if self._items and not self._immediate:
                    item = self._items.popleft()
                    wake = self._waker(putting=True) if self.maxsize else None
                    break
                if self._shut:
                    raise ShutDown("get() on a shut-down, empty Queue")
                left = _left(deadline, block)
                if left is not None and left <= 0:
                    raise Empty
                waiter = self._enlist(putting=False)
                if self._items or self._shut:  # looked at after enlisting: see the header
                    self._unlist(waiter, putting=False)
                    continue
            self._wait(waiter, left, putting=False)
        if wake is not None:
            wake()
        return item

    def get_nowait(self) -> T:
        """``get(block=False)``."""
        return self.get(block=False)

    def __iter__(self) -> Iterator[T]:
        """Yield items until the queue is shut down and drained."""
        while True:
            try:
                yield self.get()
            except ShutDown:
                return

    def shutdown(self, immediate: bool = False) -> None:
        """Refuse new items; with ``immediate``, drop the queued ones too. Any thread.

        Afterwards ``put`` raises ``ShutDown``, and ``get`` raises it once the
        queue is empty (at once with ``immediate``). Every waiter wakes.
        """
        with self._mutex:
            self._shut = True
            if immediate:
                self._immediate = True
                self._items.clear()
            waiters = [*self._thread_getters, *self._thread_putters]
            self._thread_getters.clear()
            self._thread_putters.clear()
            wake_hub = self._hub_waker() if self._hub_getters or self._hub_putters else None
        for waiter in waiters:
            waiter.release()
        if wake_hub is not None:
            wake_hub()

    # -- waiting and waking ------------------------------------------------------------------

    def _enlist(self, putting: bool) -> Any:
        # Under _mutex. Register the caller as a waiter; returns its held
        # native lock (another thread) or None (a greenlet of the hub).
        if get_ident() == self._dispatcher.thread_ident:
            if getcurrent() is self._dispatcher.hub:
                what = "put" if putting else "get"
                raise RuntimeError(f"Queue.{what}() cannot wait in hub context; use {what}_nowait() there")
            if putting:
                self._hub_putters += 1
                self._can_put.clear()
            else:
                self._hub_getters += 1
                self._can_get.clear()
            return None
        waiter = allocate_lock()
        waiter.acquire()
        (self._thread_putters if putting else self._thread_getters).append(waiter)
        return waiter

    def _wait(self, waiter: Any, timeout: float | None, putting: bool) -> None:
        # Outside _mutex: until woken or ``timeout``; the caller looks again.
        if waiter is None:  # a greenlet of the hub
            if timeout is not None:
                timeout = max(timeout, 0.001)  # libuv's timers count whole milliseconds
            self._dispatcher.hold()  # a waiting greenlet keeps the hub alive
            try:
                (self._can_put if putting else self._can_get).wait(timeout)
            finally:
                self._dispatcher.release()
                with self._mutex:
                    if putting:
                        self._hub_putters -= 1
                    else:
                        self._hub_getters -= 1
            return
        if not waiter.acquire(True, _FOREVER if timeout is None else timeout):
            with self._mutex:  # timed out: leave the list, unless a waker took us off it
                waiters = self._thread_putters if putting else self._thread_getters
                if waiter in waiters:
                    waiters.remove(waiter)

    def _unlist(self, waiter: Any, putting: bool) -> None:
        # Under _mutex: undo _enlist() for a caller that will not wait after all.
        if waiter is None:
            if putting:
                self._hub_putters -= 1
            else:
                self._hub_getters -= 1
        else:
            (self._thread_putters if putting else self._thread_getters).remove(waiter)

    def _wake(self, putting: bool) -> None:
        # Outside _mutex, after an append (wake a getter) or a take (a putter).
        with self._mutex:
            wake = self._waker(putting)
        if wake is not None:
            wake()

    def _waker(self, putting: bool) -> Any:
        # Under _mutex: what wakes one putter (or getter), to call once the mutex is released.
        thread_waiters = self._thread_putters if putting else self._thread_getters
        if thread_waiters:
            return thread_waiters.popleft().release
        if self._hub_putters if putting else self._hub_getters:
            return self._hub_waker()
        return None

    def _hub_waker(self) -> Any:
        # Under _mutex. The greenlets of the hub look again: at once from the
        # hub's thread; from another, one dispatcher call at a time.
        if get_ident() == self._dispatcher.thread_ident:
            return self._set_events
        if self._wake_pending:
            return None  # the call on its way covers this one too
        self._wake_pending = True
        return self._send_wake

    def _send_wake(self) -> None:
        self._dispatcher.submit_if_open(self._wake_hub, ())

    def _wake_hub(self) -> None:
        # Hub thread. Cleared first: a change after this sends another call.
        with self._mutex:
            self._wake_pending = False
        self._set_events()

    def _set_events(self) -> None:
        # Hub thread.
        self._can_get.set()
        self._can_put.set()


def _deadline(what: str, timeout: Any) -> float | None:
    if timeout is None:
        return None
    return monotonic() + check_timeout(what, timeout)  # type: ignore[operator]


def _left(deadline: float | None, block: bool) -> float | None:
    # Seconds left to wait: 0 for no blocking, None for no limit.
    if not block:
        return 0.0
    return None if deadline is None else deadline - monotonic()
