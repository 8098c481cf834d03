# Pools: where background work runs, and how much of it at once.
#
# A Pool accepts jobs in its hub's thread and hands back a Promise that its
# hub settles. It hands each job to its backend (see _worker.py): a Crew of
# worker threads on the hub's own ``hub.threadpool`` for ``Pool()`` and
# the default pool, or on a gevent ThreadPool of its own for
# ``Pool(size=n)``; for ``Pool(executor=ex)`` an ExecutorBackend that
# follows the executor's futures through the dispatcher. Every job comes
# back through _deliver(), the one place that settles its promise, counts
# it, gives back its room and lets the hub go.
#
# Guarantees:
# - work() never blocks the caller, except a greenlet waiting cooperatively
#   for room in a pool with ``max_pending``.
# - No accepted job is lost: each runs, or is rejected with Cancelled.
# - While a job's promise is unsettled, the hub stays alive.
#
# Assumptions:
# - Everything here runs in the hub's thread; backends deliver there.
#   Public entry points check it.
from __future__ import annotations

import concurrent.futures
import sys
import weakref
from typing import Any, Callable, Iterable, TypedDict, TypeVar

from gevent import getcurrent
from gevent.event import Event
from gevent.hub import get_hub
from gevent.lock import Semaphore
from gevent.threadpool import ThreadPool

from . import _fork
from ._checks import MAX_COUNT, ClassSignature, check_callable, check_count, check_timeout
from ._dispatch import Dispatcher, dispatcher_for
from ._errors import Cancelled, PoolClosed, PoolFull
from ._executor import ExecutorBackend
from ._follow import settle
from ._gather import as_list
from ._outcome import NotStarted, Outcome, Value
from ._promise import Promise, cancelling, promise_for_job
from ._worker import Backend, Crew, Job, Seats, shared_seats

__all__ = ["IDLE_TIMEOUT", "SHARED_IDLE_TIMEOUT", "Pool", "PoolStats", "default_pool", "work"]

if sys.version_info >= (3, 10):
    from typing import ParamSpec
else:
    from typing_extensions import ParamSpec

T = TypeVar("T")
P = ParamSpec("P")


class PoolStats(TypedDict):
    """What ``Pool.stats()`` returns: counts of a pool's jobs and threads."""

    pending: int  # accepted, not started
    running: int
    completed: int  # succeeded
    failed: int  # raised
    cancelled: int  # rejected with Cancelled
    threads: int  # live worker threads


IDLE_TIMEOUT = 5  # seconds an idle worker of a pool's own threads waits; matches gevent's pool
# Seconds an idle worker on the hub's shared threadpool waits before giving
# its thread back to gevent, so gevent's own users (the resolver) get one.
SHARED_IDLE_TIMEOUT = 0.05
# Seconds a thread of a pool's own ThreadPool lingers once our worker loop
# on it has exited (the loop already waited IDLE_TIMEOUT for work), so a
# shut-down pool gives its threads back at once.
THREAD_LINGER = 0.05

_ATTR = "_gnotifier_default_pool"


def _parameters(
    size: int | None = None,
    *,
    executor: concurrent.futures.Executor | None = None,
    name: str = "gnotifier",
    max_pending: int | None = None,
) -> None:
    """Pool()'s parameters, as __init__ takes them: inspect.signature() finds none on the compiled class."""


class Pool:
    """Runs functions on real OS threads (or an executor); results land in promises.

    Args:
        size: how many jobs run at once. ``None`` runs on the hub's own
            ``hub.threadpool``, whose ``maxsize - 1`` threads every such pool
            shares (one thread stays free for gevent's own users, such as its
            resolver), throttled to as many running jobs as keep the CPUs
            busy: one per CPU while jobs compute, up to every thread while
            they wait. An int gives the pool its own native threadpool of
            that many threads, all of which run jobs.
        executor: a ``concurrent.futures.Executor`` to submit to instead
            (processes, a distributed engine's executor); not with ``size``.
        name: worker threads are named ``<name>-<n>``.
        max_pending: most accepted jobs that have not started; beyond it a
            greenlet's ``work()`` waits for room and hub context gets PoolFull.

    Must be created and used in the thread of the hub it serves.

    Raises:
        ValueError: ``size`` or ``max_pending`` below 1, or both ``size``
            and ``executor`` given.
        TypeError: wrong types for the arguments.
    """

    __signature__ = ClassSignature(_parameters)

    def __init__(
        self,
        size: int | None = None,
        *,
        executor: concurrent.futures.Executor | None = None,
        name: str = "gnotifier",
        max_pending: int | None = None,
    ) -> None:
        _check_arguments(size, executor, name, max_pending)
        hub = get_hub()
        self._dispatcher: Dispatcher = dispatcher_for(hub)
        self._executor = executor
        self._name = name
        self._closed = False  # hub thread only, as is everything below
        self._accepted = self._completed = self._failed = self._cancelled = 0
        self._drained = Event()  # set while no accepted job is unsettled
        self._drained.set()
        self._room = Semaphore(max_pending) if max_pending is not None else None
        started = self._room.release if self._room is not None else None
        self._backend: Backend
        if executor is not None:
            self._backend = ExecutorBackend(executor, self._dispatcher, self._deliver, started)
        else:
            if size is None:
                threadpool = hub.threadpool
                seats = shared_seats(hub)  # all its threads but one, over every pool on it
                size = seats.limit
                idle = SHARED_IDLE_TIMEOUT
                owned = False
            else:
                threadpool = ThreadPool(size, hub, idle_task_timeout=THREAD_LINGER)  # type: ignore[arg-type]  # a float works; the stub says int
                seats = Seats(size)
                idle = IDLE_TIMEOUT
                owned = True
            self._backend = Crew(self._dispatcher, threadpool, seats, size, idle, name, self._deliver, started, owned)
        self._size = size
        # Weakly: a pool nobody uses any more must not live as long as its hub.
        on_close = _WeakCall(self._hub_destroyed)
        self._dispatcher.add_close_callback(on_close)
        weakref.finalize(self, self._dispatcher.remove_close_callback, on_close).atexit = False

    def _elsewhere(self) -> str:
        # Where a job refused by a closed pool can go instead.
        if getattr(self._dispatcher.hub, _ATTR, None) is self:
            return "this hub's default pool takes no more jobs (work() included): submit to a new gnotifier.Pool()"
        return "submit to default_pool() or a new Pool"

    def __repr__(self) -> str:
        where = f"executor={self._executor!r}" if self._executor is not None else f"size={self._size}"
        state = "closed" if self._closed else "open"
        return f"<gnotifier.Pool {self._name!r} {where} {state}>"

    # -- submitting (hub thread) ----------------------------------------------

    def work(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Promise[T]:
        """Run ``fn(*args, **kwargs)`` in the pool; returns its promise at once.

        Must be called in the pool's hub thread. Never blocks, except that with
        ``max_pending`` a greenlet waits cooperatively for room. ``fn`` sees a
        copy of the caller's contextvars (thread pools). Any exception ``fn``
        raises rejects the promise with that very object. ``fn`` is
        positional-only, so every keyword, ``fn=`` included, reaches it.

        Args:
            fn: run as ``fn(*args, **kwargs)`` in the pool; a coroutine function is refused.

        Returns:
            A ``Promise`` settled in this hub with what ``fn`` returned or raised;
            its ``cancel()`` cancels the job.

        Raises:
            TypeError: ``fn`` is not callable, or is a coroutine function.
            PoolClosed: after ``shutdown()``, or as the interpreter exits.
            PoolFull: ``max_pending`` reached and called in hub context.
            RuntimeError: called from another thread than the pool's hub's.
        """
        _fork.catch_up()  # a fork hook that runs before gnotifier's: see _fork.py
        dispatcher = self._dispatcher
        if fn is not dispatcher.checked:  # see there: checked once per drain
            check_callable("Pool.work()", fn)
            dispatcher.checked = fn
        if not dispatcher.in_hub_thread():
            dispatcher.check_hub_thread("Pool.work()")  # raises
        if self._closed:
            raise PoolClosed(f"{self!r} was shut down; {self._elsewhere()}")
        if self._room is not None:
            self._wait_for_room()
        job = Job(fn, args, kwargs)
        promise: Promise[T] = promise_for_job(job, dispatcher.hub)  # its cancel() cancels job
        job.promise = promise
        # Its outcome comes through the hub, after we return. The pool holds
        # the hub open while any job is unsettled.
        first = self._accepted == self._completed + self._failed + self._cancelled
        if first:
            dispatcher.hold()
            self._drained.clear()
        self._accepted += 1
        # Handed over last: the worker that submit() wakes needs the GIL, and
        # finds it sooner the less this thread does before the hub waits.
        try:
            self._backend.submit(job)  # it may refuse: interpreter exit, a shut-down executor
        except BaseException:
            self._accepted -= 1  # refused, so never accepted
            job.promise = None
            if first:
                self._drained.set()
                dispatcher.release()
            if self._room is not None:
                self._room.release()
            raise
        return promise

    def _wait_for_room(self) -> None:
        # Hub thread. Room is given back when a job starts (or is cancelled).
        room = self._room
        assert room is not None
        if getcurrent() is self._dispatcher.hub:
            if not room.acquire(blocking=False):
                raise PoolFull(
                    f"{self!r} already has max_pending jobs waiting to start; "
                    f"call work() from a greenlet to wait for room, or raise max_pending"
                )
            return
        room.acquire()
        if self._closed:
            room.release()
            raise PoolClosed(f"{self!r} was shut down while work() waited for room; {self._elsewhere()}")

    def map(self, fn: Callable[[Any], T], iterable: Iterable[Any]) -> Promise[list[T]]:
        """``work(fn, item)`` for each item; one promise of the results in input order.

        Rejects with the first error to occur. Its ``cancel()`` cancels every
        job: True when none had started (none ever runs); else False, the
        jobs not started never run and the running ones are asked to stop.
        Must be called in the hub's thread; does not block (beyond ``work()``).

        Raises:
            TypeError: ``fn`` is not callable (or a coroutine function), or
                ``iterable`` is not iterable.
            RuntimeError: called from another thread than the pool's hub's.
        """
        check_callable("Pool.map()", fn)
        self._dispatcher.check_hub_thread("Pool.map()")
        promises = [self.work(fn, item) for item in as_list("Pool.map()", iterable)]
        return cancelling(Promise.all(promises), _Jobs(promises))

    # -- settling (hub thread) ------------------------------------------------

    def _deliver(self, job: Job, outcome: Outcome) -> None:
        # Hub thread: the backend hands every accepted job back here, once.
        promise, job.promise = job.promise, None  # break the promise <-> job cycle
        settle(promise, outcome)  # unless cancelled (settled) meanwhile
        if type(outcome) is Value:
            self._completed += 1
        elif type(outcome) is NotStarted:
            self._cancelled += 1
            if self._room is not None:
                self._room.release()  # it never started, so never gave its room back
        elif isinstance(outcome.error, Cancelled):  # type: ignore[union-attr]
            self._cancelled += 1
        else:
            self._failed += 1
        if self._accepted == self._completed + self._failed + self._cancelled:
            self._dispatcher.release()
            self._drained.set()

    # -- state -------------------------------------------------------------

    def stats(self) -> PoolStats:
        """Counts of this pool's jobs. Hub thread; does not block.

        Returns:
            ``pending`` (accepted, not started), ``running``, ``completed``
            (succeeded), ``failed`` (raised), ``cancelled`` (rejected with
            Cancelled) and ``threads`` (live worker threads). The first five
            add up to the jobs accepted.

        Raises:
            RuntimeError: called from another thread than the pool's hub's
                while that hub lives.
        """
        if not self._dispatcher.closed:  # a destroyed hub's thread touches nothing any more
            self._dispatcher.check_hub_thread("Pool.stats()")
        pending, running, threads = self._backend.counts()
        return {
            "pending": pending,
            "running": running,
            "completed": self._completed,
            "failed": self._failed,
            "cancelled": self._cancelled,
            "threads": threads,
        }

    @property
    def closed(self) -> bool:
        """Whether ``shutdown()`` was called."""
        return self._closed

    def shutdown(self, wait: bool = True, cancel_pending: bool = False, timeout: float | None = None) -> None:
        """Stop accepting work; optionally cancel what has not started; wait.

        After it, ``work()`` raises PoolClosed. No accepted job is lost: each
        runs or is rejected with Cancelled. Must be called in the hub's
        thread; with ``wait`` it blocks the calling greenlet (cooperatively)
        until every accepted job settled, at most ``timeout`` seconds.
        A pool's own threads exit once idle; the executor of
        ``Pool(executor=)`` is the caller's and is not shut down.

        Raises:
            TimeoutError: ``timeout`` elapsed; the message says what still runs.
            RuntimeError: ``wait`` in hub context, which must not block, or
                called from another thread than the pool's hub's.
            TypeError, ValueError: ``timeout`` is not None or 0 to MAX_SECONDS seconds.
        """
        timeout = check_timeout("Pool.shutdown()", timeout)
        self._dispatcher.check_hub_thread("Pool.shutdown()")
        if wait and getcurrent() is self._dispatcher.hub:
            raise RuntimeError("Pool.shutdown(wait=True) cannot wait in hub context; call it from a greenlet")
        closing, self._closed = not self._closed, True
        if cancel_pending:
            self._backend.cancel_queued()
        if closing:
            self._stop_threads()
        if wait and not self._drained.wait(timeout):
            stats = self.stats()
            raise TimeoutError(
                f"{self!r}: shutdown timed out after {timeout} s with {stats['running']} jobs "
                f"running and {stats['pending']} pending; they go on and settle when done"
            )

    def _stop_threads(self) -> None:
        # Hub thread, once. Loops exit after the jobs queued before; the
        # threads of our own ThreadPool follow them (THREAD_LINGER).
        self._backend.close()

    def _hub_destroyed(self) -> None:
        # Hub thread, from hub.destroy(): nothing may wait here, and the
        # loop (with the fork watcher) goes with the hub.
        if not self._closed:
            self._closed = True
            self._backend.cancel_queued()
            self._backend.close()


class _Jobs:
    """What cancelling a ``map()`` cancels: every one of its jobs. Hub thread."""

    __slots__ = ("promises",)

    def __init__(self, promises: list[Promise[Any]]) -> None:
        self.promises = promises

    def cancel(self) -> bool:
        # All of them, not just up to the first that had started.
        return all([promise.cancel() for promise in self.promises])


class _WeakCall:
    """Calls a bound method while its object lives; a close callback that keeps nothing alive."""

    __slots__ = ("method",)

    def __init__(self, method: Callable[[], Any]) -> None:
        self.method = weakref.WeakMethod(method)

    def __call__(self) -> None:
        method = self.method()
        if method is not None:
            method()


def _check_arguments(size: Any, executor: Any, name: Any, max_pending: Any) -> None:
    if size is not None:
        check_count("Pool()", size, "size= (or None for the hub's threadpool)", maximum=MAX_COUNT)
        if executor is not None:
            raise ValueError("Pool() takes size= or executor=, not both: the executor decides its own size")
    if executor is not None and not isinstance(executor, concurrent.futures.Executor):
        raise TypeError(f"Pool(executor=) must be a concurrent.futures.Executor, got {executor!r}")
    if not isinstance(name, str):
        raise TypeError(f"Pool(name=) must be a str, got {name!r}")
    if max_pending is not None:
        check_count("Pool()", max_pending, "max_pending= (or None for no bound)", maximum=MAX_COUNT)


def default_pool() -> Pool:
    """The calling thread's hub's default pool, on ``hub.threadpool``. Hub thread.

    Made on first use. ``work()`` submits to it.

    Returns:
        The same ``Pool`` on every call in this hub, also once shut down.
    """
    hub = get_hub()
    pool: Pool | None = getattr(hub, _ATTR, None)
    if pool is None:
        pool = Pool(name="gnotifier")
        setattr(hub, _ATTR, pool)
    return pool


def work(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Promise[T]:
    """Run ``fn(*args, **kwargs)`` on a real OS thread; returns its promise at once.

    Call it in a hub's thread: the job's promise belongs to that hub.
    ``default_pool().work(fn, *args, **kwargs)``: the job runs on the calling
    thread's hub's native threadpool (real threads also after
    ``monkey.patch_all()``), in a copy of the caller's contextvars, and its
    outcome settles the promise in the hub, never from the worker thread.
    The hub stays alive until it settles. Never blocks the caller. ``fn``
    is positional-only, so every keyword, ``fn=`` included, reaches it.

    Args:
        fn: run as ``fn(*args, **kwargs)`` on a worker thread; a coroutine function is refused.

    Returns:
        A ``Promise`` settled in this hub with what ``fn`` returned or raised.

    Raises:
        TypeError: ``fn`` is not callable, or is a coroutine function.
        PoolClosed: the interpreter is exiting.
    """
    return default_pool().work(fn, *args, **kwargs)
