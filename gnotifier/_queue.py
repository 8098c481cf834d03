# Queue: a FIFO between the greenlets of one hub and any other threads.
#
# gevent.queue is greenlet-safe only: a thread cannot wait on it. This Queue
# is made in a hub's thread and may be used from any thread; what must
# happen in the hub (waking its waiting greenlets) reaches it through the
# hub's dispatcher.
#
# Guarantees:
# - Nothing put is lost, each producer's items come out in its order, and a
#   waiter on either side wakes for every item, every free slot and
#   shutdown().
# - A greenlet of the hub waits cooperatively and holds the hub open while
#   it waits; any other thread blocks on a native lock.
#
# Assumptions:
# - Under the GIL, deque.append and deque.popleft are atomic and every
#   thread sees plain reads and writes in program order. The fast paths (an
#   unbounded put, a get that finds an item) take no lock: a waiter
#   registers *before* it looks at the items once more, and a producer
#   looks for waiters *after* it appended, so one of the two sees the
#   other. ``_mutex`` (a native lock) guards the waiter lists, the shutdown
#   flags and bounded puts; it is never held while waiting.
# - Compiled (setup.py), a thread never loses the GIL while it holds
#   ``_mutex``. Pure Python may switch threads inside a section: the other
#   side then blocks on ``_mutex``, which stays correct but can convoy.
# - gevent Events and dispatcher holds are touched in the hub's thread only.
from __future__ import annotations

import collections
import queue as _stdlib_queue
import sys
from time import monotonic
from typing import Any, Deque, Generic, Iterator, TypeVar

from gevent import getcurrent
from gevent.event import Event
from gevent.hub import get_hub

from ._checks import MAX_COUNT, check_count, check_timeout
from ._dispatch import Dispatcher, dispatcher_for
from ._native import allocate_lock, get_ident

__all__ = ["Empty", "Full", "Queue", "ShutDown"]

T = TypeVar("T")

if sys.version_info >= (3, 13):
    ShutDown = _stdlib_queue.ShutDown
else:

    class ShutDown(Exception):
        """Raised by put() on a shut-down Queue, and by get() once it is also empty."""


Full = _stdlib_queue.Full
Empty = _stdlib_queue.Empty
_FOREVER = -1  # a native lock's acquire() timeout for no limit


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
