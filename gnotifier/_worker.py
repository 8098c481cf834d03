# Crews: the long-lived worker threads behind a thread Pool.
#
# A pool hands its jobs to a backend: a Crew (threads, here) or an
# ExecutorBackend (_executor.py). Both take the same calls from the pool,
# in the hub's thread: submit(), cancel(), cancel_queued(), counts() and
# close(); both hand every accepted job back exactly once, through the
# pool's ``deliver(job, outcome)`` in the hub's thread, and neither touches
# a promise: the pool settles it.
#
# A Crew owns a native job queue and up to ``size`` worker loops. Each worker
# loop runs as one task of a gevent ThreadPool (the hub's ``hub.threadpool``
# or a pool's own), so it is a real OS thread also after patch_all(). A loop
# takes job after job from the native queue; one out of jobs first watches
# for the next for a while (see _wait()), and the hub hands a job to it
# directly rather than through the queue, which would also wake a loop
# that sleeps there. A finished job's outcome goes back to the hub through
# the dispatcher. There is no watcher and no greenlet per job.
#
# One job's road: Pool.work() -> Crew.submit() (hub) -> native queue ->
# _next() and _run() (worker) -> _done and the dispatcher -> Crew._finish() (hub) ->
# Pool's deliver() -> promise -> its waiters.
#
# Guarantees:
# - At most ``size`` jobs run at once; jobs beyond that wait in the queue
#   and never block the submitter. Crews on one shared threadpool together
#   take at most its ``maxsize - 1`` threads (their Seats): one thread stays
#   free for gevent's own users, such as its resolver. Of those loops, a
#   Throttle (_throttle.py) lets as many run jobs as keep the CPUs busy.
# - Every accepted job either runs once or, if cancelled before a worker
#   claimed it, never runs (its outcome is NotStarted); it is delivered in
#   the hub either way.
# - A worker idle for ``idle_timeout`` seconds gives its thread back, and
#   never while a job no other worker will take is queued (see _wait()).
# - Each job runs in a copy of the submitter's contextvars.
# - At interpreter exit, jobs already running are waited for (as
#   concurrent.futures executors do), so no worker is torn down inside a C
#   call; jobs that never started are dropped with one warning that counts
#   them, and submit() refuses new ones.
#
# Assumptions:
# - Under the GIL, SimpleQueue.put/get_nowait and dict.pop are atomic, and
#   plain attribute reads and writes are seen by every thread in program
#   order. A job is claimed by whoever pops it from ``_unstarted`` first: a
#   worker about to run it, or cancel(). The hub takes no lock per job but
#   to hand one to a loop that watches for it (_put()); a loop that ran out
#   of jobs takes ``_lock`` briefly to count itself idle and back.
# - A worker loop is one task of a gevent ThreadPool, run without a
#   watcher of its own (_gevent.run_on_threadpool()), so an idle worker
#   keeps no loop alive.
from __future__ import annotations

import atexit
import contextvars
import threading
import warnings
import weakref
from collections import deque
from typing import Any, Callable, Protocol

from gevent import getcurrent

from . import _fork
from ._dispatch import DRAIN_SLICE, Dispatcher, all_dispatchers, thread_state
from ._errors import NEVER_RUNS, Cancelled, PoolClosed
from ._gevent import kill_threadpool, reset_threadpool_in_child, run_on_threadpool
from ._native import Empty, SimpleQueue, allocate_lock, get_ident, set_os_thread_name
from ._outcome import Error, NotStarted, Outcome, Value
from ._throttle import REVIEW_PERIOD, Throttle, usable_cpus

__all__ = ["Backend", "Crew", "Deliver", "Job", "Seats", "check_cancelled"]

# Tells one worker loop to exit; put once per loop by close().
_STOP = object()
# What dict.pop() returns for a job somebody else claimed (and _next() holds
# while it has taken nothing).
_GONE = object()

# Seconds a loop that ran out of jobs first watches for the next one without
# sleeping, before it blocks on the queue. A job handed to a loop that sleeps
# pays a thread wake-up, half the cost of a round trip (bench A's
# ``wake-ups``); one submitted while a loop watches is seen at once. On one
# CPU the loop would only keep the hub from submitting: it never watches.
SPIN_SECONDS = 100e-6
# Seconds a loop that saw a job come goes on watching before it takes the
# GIL back. The hub posts the job holding the GIL; a loop that asks for it
# at once sleeps until the hub lets go and then pays the thread wake-up the
# watch was to save. A hub that goes on to wait for the job lets go within
# microseconds: a few after get(), more after get(timeout=). So each crew
# learns how long: twice as long after a loop still had to wait for the
# GIL, a tenth less after it did not, within these bounds. (Bench A: a
# round trip took 25-35 us against 68 us, and the loop slept in about 1 of
# 10 instead of every one.)
GIL_GRACE = (0.5e-6, 5e-6, 25e-6)  # least, first, most
# Idle spells in which a crew's loops block at once after a watch saw no
# job come: where jobs come seldom, a loop watches in one spell of nine.
SPIN_BACKOFF = 8
# A C function that the compiled build calls directly (declared in
# _worker.pxd), and its pure-Python stand-in, bound through globals() so
# that Cython does not see a second definition: _spin_until_posted(posted,
# seen, seconds, grace) lets go of the GIL and watches ``posted[0]`` (a
# bytearray the hub bumps after each put) until it differs from ``seen`` or
# ``seconds`` pass, and once it changed, ``grace`` seconds more before it
# takes the GIL back. It returns _IN_VAIN, _CAME or _CAME_GIL_BUSY (it came,
# and the GIL was still held). Pure Python cannot watch without holding the
# GIL, which would stop the hub that is to submit: its stand-in returns at once.
_IN_VAIN, _CAME, _CAME_GIL_BUSY = 0, 1, 2
_spin_until_posted: Callable[[bytearray, int, float, float], int]
globals().update(_spin_until_posted=lambda posted, seen, seconds, grace: _IN_VAIN)


class Job:
    """One accepted call, on its way from a pool through a backend and back."""

    __slots__ = (
        "fn",  # with args, kwargs: written at submit, read by the worker, dropped once run
        "args",
        "kwargs",  # a dict, or None for none
        "context",  # a copy of the submitter's contextvars (a Crew's, if not empty); None elsewhere
        "promise",  # the pool's, which the backend never touches; hub thread only
        "backend",  # the backend that took it, set by its submit(); read-only then
        "cancel_requested",  # set in the hub, read by check_cancelled() in the worker
    )

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.fn: Callable[..., Any] | None = fn
        self.args = args
        # None for no keywords: an empty dict per pending job is 64 bytes of 500.
        self.kwargs = kwargs or None
        self.context: contextvars.Context | None = None
        self.promise: Any = None
        self.backend: Backend | None = None
        self.cancel_requested = False

    def cancel(self) -> bool:
        """Cancel if not started (True); else ask it to stop (False). Hub thread."""
        backend = self.backend
        return backend is not None and backend.cancel(self)


# How a backend hands a job back: deliver(job, outcome), in the hub's thread.
Deliver = Callable[[Job, Outcome], None]


class Backend(Protocol):
    """Where a pool's jobs run; every method is called in the hub's thread."""

    def submit(self, job: Job) -> None:
        """Take ``job``; deliver its outcome later. Never blocks.

        Raises:
            PoolClosed: no job can be taken any more (interpreter exit).
        """

    def cancel(self, job: Job) -> bool:
        """Deliver NotStarted at once if ``job`` has not started (True); else False."""

    def cancel_queued(self) -> int:
        """Deliver NotStarted for every job not started yet; returns how many."""

    def counts(self) -> tuple[int, int, int]:
        """Jobs pending (not started) and running, and live threads."""

    def close(self) -> None:
        """Let the jobs taken so far finish, then give back what runs them."""


class Seats:
    """How many worker loops may run at once on one threadpool, over every crew on it.

    Any thread; a loop takes a seat as it starts and gives it back as it
    exits. Crews that found no seat wait their turn: a seat given back goes
    to the crew that waited longest, started in its hub.
    """

    __slots__ = ("limit", "throttle", "waiting", "_taken", "_lock")

    def __init__(self, limit: int, throttle: Throttle | None = None) -> None:
        self.limit = limit
        self.throttle = throttle  # how many of the loops run jobs at once; None: all of them
        self.waiting: list[Crew] = []  # crews that found no seat; guarded by _lock, read racily by loops
        self._taken = 0  # guarded by _lock
        self._lock = allocate_lock()

    def take(self, crew: Crew) -> bool:
        """A seat for one more loop of ``crew``; False, and ``crew`` waits, if none is free."""
        with self._lock:
            if self._taken < self.limit:
                self._taken += 1
                return True
            if crew not in self.waiting:
                self.waiting.append(crew)
            return False

    def give_back(self, crew: Crew, still_wanted: bool) -> list[Crew]:
        """Free ``crew``'s seat; returns the crews to wake(), which were waiting for one.

        ``still_wanted``: ``crew`` has jobs queued, so it waits as well (last).
        May be called under the crew's lock; call wake() after releasing it.
        """
        with self._lock:
            self._taken -= 1
            waiters, self.waiting = self.waiting, []
        if still_wanted and crew not in waiters:
            waiters.append(crew)
        return waiters

    @staticmethod
    def wake(waiters: list[Crew]) -> None:
        """Each crew tries again for a seat, in its hub."""
        for waiter in waiters:
            waiter.dispatcher.submit_if_open(waiter.start_loop_if_needed, (), True)

    def reset(self) -> None:
        """Forget every seat and waiter: a forked child's workers are gone."""
        self._taken = 0
        self._lock = allocate_lock()
        self.waiting = []
        if self.throttle is not None:
            self.throttle.reset()


def shared_seats(hub: Any) -> Seats:
    """The seats of ``hub.threadpool``, which crews share: all its threads but one, throttled to
    as many running jobs as keep the CPUs busy."""
    threadpool = hub.threadpool
    shared: tuple[Any, Seats] | None = getattr(hub, _SEATS_ATTR, None)
    if shared is None or shared[0] is not threadpool:  # none yet, or the hub's threadpool was replaced
        limit = max(1, threadpool.maxsize - 1)
        shared = (threadpool, Seats(limit, Throttle(limit, usable_cpus())))
        setattr(hub, _SEATS_ATTR, shared)
    return shared[1]


_SEATS_ATTR = "_gnotifier_seats"  # where a hub keeps (its threadpool, that threadpool's Seats)


class Crew:
    """Worker loops on a gevent ThreadPool that run jobs from a native queue."""

    __slots__ = (
        "dispatcher",  # the hub's dispatcher; read-only
        "threadpool",  # the gevent ThreadPool our loops run on; read-only
        "seats",  # how many loops may run on that threadpool, shared with other crews; read-only
        "size",  # most loops of ours at once; read-only
        "idle_timeout",  # seconds an idle loop waits before it exits; read-only
        "name",  # thread name prefix; read-only
        "deliver",  # the pool's deliver(job, outcome); hub thread; read-only
        "started",  # the pool's callback() as a loop claims a job, run in the hub; read-only
        "owns_threadpool",  # whether close() also gives back the threadpool (a Pool(size=n)'s own); read-only
        "_jobs",  # native queue of Job or _STOP: put in the hub, taken by workers
        "_handoff",  # a Job put for the loop that watches, or None; guarded by _lock (see _put())
        "_posted",  # bytearray(1), bumped (mod 256) by the hub after each put; watched by a loop about to block
        "_spin",  # seconds a loop out of jobs watches _posted before it blocks; 0: never
        "_spinning",  # whether a loop watches now (one at most): set by it, cleared under _lock; read by the hub
        "_spin_skips",  # idle spells left in which no loop watches (SPIN_BACKOFF after a watch in vain); workers
        "_grace",  # seconds a watching loop that saw a job waits before it takes the GIL; workers, under the GIL
        "_unstarted",  # jobs nobody claimed yet: added in the hub, popped by the claimer
        "_outstanding",  # jobs taken and not yet delivered; hub thread only
        "_done",  # deque of (job, outcome) run by a worker: append in workers, popleft in the hub
        "_delivering",  # a _deliver_done() call is on its way to the hub; racy, see there
        "_lock",  # guards _idle, _threads, _serial, _active, _all_gone, _handoff and the clearing of _spinning
        "_idle",  # loops blocked waiting for a job; guarded by _lock, read racily by submit()
        "_threads",  # live loops; guarded by _lock, read racily by submit()
        "_serial",  # numbers the loops for their names; guarded by _lock
        "_active",  # loops that have started and not yet returned; guarded by _lock
        "_all_gone",  # at exit: a held native lock the last active loop releases; guarded by _lock
        "__weakref__",
    )

    def __init__(
        self,
        dispatcher: Dispatcher,
        threadpool: Any,
        seats: Seats,
        size: int,
        idle_timeout: float,
        name: str,
        deliver: Deliver,
        started: Callable[[], Any] | None = None,
        owns_threadpool: bool = False,
    ) -> None:
        self.dispatcher = dispatcher
        self.threadpool = threadpool
        self.seats = seats
        self.size = size
        self.idle_timeout = idle_timeout
        self.name = name
        self.deliver = deliver
        self.started = started
        self.owns_threadpool = owns_threadpool
        self._jobs: SimpleQueue[Any] = SimpleQueue()
        self._handoff: Job | None = None
        self._posted = bytearray(1)
        self._spin = SPIN_SECONDS if usable_cpus() >= 2 else 0.0
        self._spinning = False
        self._spin_skips = 0
        self._grace = GIL_GRACE[1]
        self._unstarted: dict[Job, None] = {}
        self._outstanding: set[Job] = set()
        self._done: deque[tuple[Job, Outcome]] = deque()
        self._delivering = False
        self._lock = allocate_lock()
        self._idle = self._threads = self._serial = self._active = 0
        self._all_gone: Any = None
        _crews.add(self)

    # -- hub side: the Backend interface -----------------------------------

    def submit(self, job: Job) -> None:
        """Queue ``job`` and start a loop if none will take it. Hub thread; never blocks.

        Raises:
            PoolClosed: the interpreter is exiting.
        """
        if _exiting:
            raise PoolClosed("the interpreter is exiting: no new job starts; submit work before the program ends")
        job.backend = self
        # A greenlet that never set a context variable has none to copy:
        # its job runs in its worker's empty context (see _run()), and no
        # Context per job is made for the collector to walk.
        context = getcurrent().gr_context
        if context is not None and len(context):
            job.context = contextvars.copy_context()
        self._outstanding.add(job)
        self._unstarted[job] = None
        self._put(job)
        # Read without the lock, after put(): a loop that gives up its place
        # lowers _idle and _threads *before* it looks at the queue a last
        # time (see _wait()), so either it sees this job or we see it gone.
        if len(self._unstarted) > self._idle and self._threads < self.size:
            self._start_loop()

    def _put(self, item: Any) -> None:
        # Any thread: queue ``item``, then bump _posted for a loop that watches it (see _wait()).
        # A job goes to the loop that watches, if one does and has none yet:
        # put in the queue, it would also wake a loop that blocks there,
        # which then races the watching one for it, or finds it gone and
        # blocks again. Under the lock: a loop clears _spinning and then
        # takes the handoff under it, so a job handed off is always taken.
        handed = False
        if self._spinning and item is not _STOP:  # racy: checked again under the lock
            lock = self._lock  # acquire()/release() rather than ``with``: see Dispatcher._wake()
            lock.acquire()
            try:
                if self._spinning and self._handoff is None:
                    self._handoff = item
                    handed = True
            finally:
                lock.release()
        if not handed:
            self._jobs.put(item)
        posted = self._posted
        posted[0] = (posted[0] + 1) & 255  # after the put: a loop that sees it changed finds the item

    def start_loop_if_needed(self) -> None:
        """Start a loop if a queued job has none to take it. Hub thread (a seat came free)."""
        if len(self._unstarted) > self._idle and self._threads < self.size:
            self._start_loop()

    def _start_loop(self) -> None:
        # Hub thread: adjust() may start a thread and touches the loop.
        with self._lock:
            if self._threads >= self.size or not self.seats.take(self):
                return
            self._threads += 1
            self._serial += 1
            serial = self._serial
        run_on_threadpool(self.threadpool, self._loop, serial)

    def cancel(self, job: Job) -> bool:
        """Deliver NotStarted for ``job`` if no loop claimed it yet. Hub thread.

        A running job is only asked to stop: check_cancelled() raises in it.
        """
        if self._unstarted.pop(job, _GONE) is _GONE:
            job.cancel_requested = True
            return False
        # The job stays queued; the loop that takes it finds it claimed.
        self._finish(job, NotStarted(f"this job {NEVER_RUNS}"))
        return True

    def cancel_queued(self) -> int:
        """Deliver NotStarted for every job no loop claimed yet; returns how many. Hub thread."""
        cancelled = 0
        for job in list(self._unstarted):
            if self._unstarted.pop(job, _GONE) is not _GONE:
                self._finish(job, NotStarted("the pool was shut down before this job started"))
                cancelled += 1
        return cancelled

    def _finish(self, job: Job, outcome: Outcome) -> None:
        # Hub thread: through the dispatcher, or for a job we claimed.
        self._outstanding.discard(job)
        job.fn = job.args = job.kwargs = job.context = None  # type: ignore[assignment]
        self.deliver(job, outcome)

    def counts(self) -> tuple[int, int, int]:
        """Jobs pending (unclaimed) and running, and live loops. Hub thread."""
        pending = len(self._unstarted)
        return pending, len(self._outstanding) - pending, self._threads

    def close(self) -> None:
        """Ask every loop to exit once the jobs queued before are done. Hub thread.

        A threadpool of our own goes too: its threads follow our loops out,
        and its fork watcher, through which the loop would keep it alive for
        good, is stopped. Not while the hub is destroyed: the loop, and the
        watcher with it, go with the hub.
        """
        with self._lock:
            loops = self._threads
        for _ in range(loops):
            self._put(_STOP)
        if self.owns_threadpool and not self.dispatcher.closed:
            # kill() would wait in a greenlet; in hub context it only asks.
            self.dispatcher.hub.loop.run_callback(kill_threadpool, self.threadpool)

    def after_fork_in_child(self) -> None:
        """Start afresh in a forked child, where every worker is gone.

        What the parent had taken (queued or running) is delivered as
        NotStarted rather than left hanging or run twice.
        """
        self._jobs = SimpleQueue()
        self._handoff = None
        self._spinning = False  # a loop that watched in the parent is gone
        self._lock = allocate_lock()
        self._idle = self._threads = self._active = 0
        self._all_gone = None  # the child's exit has no loop to wait for
        self.seats.reset()
        orphans, self._outstanding = self._outstanding, set()
        self._unstarted = {}
        self._done = deque()
        self._delivering = False
        if not self.dispatcher.in_hub_thread():
            return  # the hub's thread did not survive the fork: nobody waits
        reset_threadpool_in_child(self.threadpool)
        for job in orphans:
            self._finish(job, NotStarted("the process forked while this job was queued or running in the parent"))

    # -- worker side -----------------------------------------------------------

    def _loop(self, serial: int) -> None:
        # A worker thread, as one task of the gevent ThreadPool. The thread
        # is gevent's: give it back with the name and state it came with.
        thread_state.dispatcher = self.dispatcher
        with self._lock:
            self._active += 1
        thread = threading.current_thread()
        old_name, thread.name = thread.name, f"{self.name}-{serial}"
        old_os_name = set_os_thread_name(thread.name)
        throttle = self.seats.throttle
        placed = throttle is not None  # enter() holds a place when it returns, and when it raises
        # This thread's own dict of thread_state: a store into it costs a
        # dict store, where one through the thread-local costs a lookup of
        # the thread's dict first. check_cancelled() reads the job from it.
        state: dict[str, Any] = thread_state.__dict__
        state["empty"] = contextvars.Context()  # for jobs whose submitter's was empty
        state["owed"] = False  # an outcome queued that the hub has not been called for: see _run()
        begun: Any = None  # where the running job started, for the throttle

        def before_parking() -> None:
            if state["owed"]:
                self._call_hub(state)

        try:
            if throttle is not None:
                throttle.enter()  # may park: see _throttle.py
            while True:
                job = self._next(state)
                if job is None:
                    return
                if throttle is not None:
                    begun = throttle.job_starts(job.fn)
                self._run(job, state)
                del job
                if throttle is not None:
                    throttle.after_job(begun, self._unstarted, before_parking)
                if self.seats.waiting:
                    # Another crew waits for a seat on this threadpool: hand
                    # ours over, job by job, rather than keep it while busy.
                    with self._lock:
                        waiters = self._count_out()
                    self.seats.wake(waiters)
                    return
        except BaseException:
            # Not an orderly exit (those count themselves out in _next()):
            # gevent's worker would swallow this, so give the place back.
            with self._lock:
                waiters = self._count_out()
            self.seats.wake(waiters)
            raise
        finally:
            if state["owed"]:
                self._call_hub(state)
            if placed:
                throttle.leave()  # type: ignore[union-attr]
            thread_state.dispatcher = None
            thread_state.job = None
            state.pop("empty", None)
            thread.name = old_name
            if old_os_name is not None:
                set_os_thread_name(old_os_name)
            with self._lock:
                self._active -= 1
                if self._active == 0 and self._all_gone is not None:
                    self._all_gone.release()
                    self._all_gone = None

    def _count_out(self) -> list[Crew]:
        # Under _lock: this loop leaves, and its seat goes with it at once,
        # so that _threads and the seats agree for submit().
        self._threads -= 1
        return self.seats.give_back(self, still_wanted=bool(self._unstarted))

    def _next(self, state: dict[str, Any]) -> Job | None:
        # Worker thread. The next job this loop claimed, or None to exit.
        jobs = self._jobs
        while True:
            item: Any = _GONE
            seen = self._posted[0]  # before the look: a put after it changes what _wait() watches
            if not jobs.empty():  # a look costs less than a raised Empty
                try:
                    item = jobs.get_nowait()
                except Empty:
                    pass  # another loop took it first
            if item is _GONE:
                if state["owed"]:
                    self._call_hub(state)  # before we wait: see _run()
                item = self._wait(seen)
                if item is None:
                    return None
            if item is _STOP:
                with self._lock:
                    waiters = self._count_out()
                self.seats.wake(waiters)
                return None
            # dict.pop is atomic: if cancel() popped the job first, skip it.
            if self._unstarted.pop(item, _GONE) is not _GONE:
                if self.started is not None:
                    self.dispatcher.submit_if_open(self.started, (), True)
                return item  # type: ignore[no-any-return]

    def _wait(self, seen: int) -> Any:
        # Worker thread; the queue looked empty after _posted read ``seen``.
        # The next item, or None when this loop gives its thread back.
        with self._lock:
            self._idle += 1
        if self._spin and not self._spinning:
            if self._spin_skips:
                self._spin_skips -= 1
            else:
                # Idle (counted so above: submit() starts no loop for a job we
                # will take), watch for a put before we block: a job handed
                # off to us, or one put in the queue, which the get below
                # finds (or waits for) either way.
                self._spinning = True
                try:
                    came = _spin_until_posted(self._posted, seen, self._spin, self._grace)  # noqa: F821 - bound through globals(), see there
                except BaseException:
                    self._stop_watching(requeue=True)
                    raise
                handed = self._stop_watching()
                if came == _IN_VAIN:
                    self._spin_skips = SPIN_BACKOFF
                elif came == _CAME_GIL_BUSY:
                    self._grace = min(GIL_GRACE[2], 2.0 * self._grace)
                else:
                    self._grace = max(GIL_GRACE[0], 0.9 * self._grace)
                if handed is not None:
                    return handed
        throttle = self.seats.throttle
        waited = 0.0
        while True:
            timeout = self.idle_timeout - waited
            if throttle is not None and timeout > REVIEW_PERIOD:
                # In slices: an idle loop holds a place that a parked loop
                # (of another crew, maybe) may be waiting for.
                timeout = REVIEW_PERIOD
            try:
                item = self._jobs.get(timeout=timeout)
            except Empty:
                waited += timeout
                if throttle is not None and self.idle_timeout - waited > 1e-6 and not throttle.someone_waits():
                    continue  # nobody needs our place yet
                waited = 0.0
                with self._lock:
                    # Give up our place *before* the last look at the queue,
                    # so that submit(), reading after its put(), either sees
                    # us gone (and starts a loop) or put before our look.
                    self._idle -= 1
                    waiters = self._count_out()
                    leave = self._jobs.empty() or self._threads >= self.size or not self.seats.take(self)
                    if not leave:  # a job came after all, and our seat is still free
                        self._threads += 1
                        self._idle += 1
                self.seats.wake(waiters)
                if leave:
                    return None  # nothing came, or a new loop (or another crew) took our place
                continue
            with self._lock:
                # Before the claim in _next(): see submit().
                self._idle -= 1
            return item

    def _stop_watching(self, requeue: bool = False) -> Job | None:
        # Worker thread, after a watch: the job handed off to this loop, if
        # any. Once _spinning is cleared under the lock, no job is handed off
        # any more, so the one taken with it is the last. With ``requeue``
        # (the loop is failing) it goes in the queue instead, for another loop.
        with self._lock:
            self._spinning = False
            job, self._handoff = self._handoff, None
            if job is not None and not requeue:
                self._idle -= 1  # taken: before the claim in _next(), see submit()
        if requeue and job is not None:
            self._put(job)
            return None
        return job

    def _run(self, job: Job, state: dict[str, Any]) -> None:
        # Worker thread; ``state`` is this thread's dict of thread_state. The
        # outcome is complete before it is queued, which orders it for the hub.
        state["job"] = job
        context = job.context
        empty = context is None
        if empty:  # the submitter's context was empty: so is this one, kept so below
            context = state["empty"]
        if state["owed"]:
            # Letting go of the GIL as it writes: the hub, woken on this CPU
            # as often as not, takes the GIL at once rather than sleeping
            # until this job lets go of it. A job that computes in C lets go
            # within microseconds anyway; one that computes in Python has
            # the hub's turn between its bytecodes either way. (Two workers
            # hashing 2,000 MiBs, queued at once: the hub slept 1.8-2.0
            # times for each result when the worker kept the GIL, 1.0 so.)
            self._call_hub(state, False)
        outcome: Outcome
        try:
            if job.kwargs is None:
                outcome = Value(context.run(job.fn, *job.args))  # type: ignore[union-attr,arg-type]
            else:
                outcome = Value(context.run(job.fn, *job.args, **job.kwargs))  # type: ignore[union-attr,arg-type]
        except BaseException as exc:  # noqa: BLE001 - the outcome carries it
            # Whatever fails, the job must settle: unsettled, it would keep its hub alive forever.
            outcome = Error(exc)
        if empty and len(context):  # type: ignore[arg-type]
            state["empty"] = contextvars.Context()  # what the job set must not reach the next one
        self._done.append((job, outcome))
        # Drop the outcome now: a traceback keeps frames and contexts alive.
        del outcome, job
        # The hub is called for it later, as late as this loop can: just
        # before it runs its next job, or before it waits for one, parks or
        # exits. Called now, the hub would wake while this loop still holds
        # the GIL for its bookkeeping, and sleep again for it.
        state["owed"] = True
        state["job"] = None

    def _call_hub(self, state: dict[str, Any], keep_gil: bool = True) -> None:
        # Worker thread: the hub is called for the outcomes queued by now.
        # One call carries them all (see _deliver_done()). Keeping the GIL
        # unless told otherwise: see the dispatcher's header.
        state["owed"] = False
        if not self._delivering:
            self._delivering = True
            self.dispatcher.submit_if_open(self._deliver_done, (), keep_gil)

    def _deliver_done(self) -> None:
        # Hub thread, through the dispatcher. Cleared *before* the look at
        # _done: a worker that appended after our last look finds it clear and
        # sends another call; one that appended before it is seen here.
        # At most DRAIN_SLICE at a time, so that timers and sockets get their turn.
        self._delivering = False
        done = self._done
        try:
            for _ in range(min(len(done), DRAIN_SLICE)):
                job, outcome = done.popleft()
                self._finish(job, outcome)
        finally:
            if done and not self._delivering:
                self._delivering = True
                self.dispatcher.submit_if_open(self._deliver_done, ())

    # -- interpreter exit (the main thread, from atexit) ---------------------------

    def stop_for_exit(self) -> int:
        """Drop the jobs no loop claimed, ask every loop to stop; how many were dropped.

        Their promises stay unsettled: the hub runs no more. Claimed the same
        way as cancel(), so a loop skips them.
        """
        dropped = sum(1 for job in list(self._unstarted) if self._unstarted.pop(job, _GONE) is not _GONE)
        with self._lock:
            loops = self._threads
            if self._active > 0:
                self._all_gone = allocate_lock()
                self._all_gone.acquire()
        for _ in range(loops):
            self._put(_STOP)
        return dropped

    def wait_for_exit(self) -> None:
        """Block until every started loop has returned: its running job is done."""
        with self._lock:
            all_gone = self._all_gone
        if all_gone is not None:
            all_gone.acquire()


_crews: weakref.WeakSet[Crew] = weakref.WeakSet()
_exiting = False  # set once, at interpreter exit
_exiting_thread = -1  # the thread that runs the exit: its hub will not run again


def stopped_for_exit(dispatcher: Dispatcher) -> bool:
    """Whether the interpreter is exiting and ``dispatcher``'s hub will never run again. Any thread."""
    return _exiting and dispatcher.thread_ident == _exiting_thread


def _at_exit() -> None:
    # Left to themselves, worker threads are torn down mid-call when the
    # interpreter finalises; inside some C and C++ code (bcrypt, drivers)
    # that aborts the whole process ("FATAL: exception not rethrown").
    global _exiting, _exiting_thread
    _exiting_thread = get_ident()
    _exiting = True
    crews = list(_crews)
    dropped = {crew: crew.stop_for_exit() for crew in crews}
    for crew in crews:
        crew.wait_for_exit()
    # Results of the jobs just waited for are queued by now. Calls queued
    # for a hub that never ran mean a script that forgot run(); a hub that
    # ran and was left with results to deliver is a program that chose to
    # end without them, as one may end without a concurrent.futures result.
    unrun = sum(dispatcher.unrun_calls() for dispatcher in all_dispatchers())
    forgot_run = unrun > 0 or any(count and not crew.dispatcher.ran for crew, count in dropped.items())
    lost = [f"{sum(dropped.values())} queued job(s) never started"] if any(dropped.values()) else []
    if unrun:
        lost.append(f"{unrun} call(s) (work results, notifier triggers) waited for a hub that never ran")
    if lost:
        advice = (
            "run the program's main with gnotifier.run(main), which returns once all of it is done"
            if forgot_run
            else "wait for their promises (gnotifier.run(main) does) before the program ends"
        )
        # Explicit: there is no caller's line to show at exit.
        warnings.warn_explicit(
            f"at interpreter exit {' and '.join(lost)}; they were dropped: {advice}", RuntimeWarning, "gnotifier", 0
        )


atexit.register(_at_exit)


def _after_fork_in_child() -> None:
    for crew in list(_crews):
        crew.after_fork_in_child()


_fork.on_child(_after_fork_in_child)


def check_cancelled() -> None:
    """Raise ``Cancelled`` if the running job's promise was cancelled. A job's thread.

    Call it from inside a job, in its worker thread, at points where the job
    may stop. Outside a job it does nothing.

    Raises:
        Cancelled: the job's promise was cancelled while it ran.
    """
    job = thread_state.job
    if job is not None and job.cancel_requested:
        raise Cancelled("the promise of this job was cancelled; stop the job")
