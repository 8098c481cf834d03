# Crews: the long-lived worker threads behind a thread Pool.
#
# A Crew owns a native job queue and up to ``size`` worker loops. Each worker
# loop runs as one task of a gevent ThreadPool (the hub's ``hub.threadpool``
# or a pool's own), so it is a real OS thread also after patch_all(). A loop
# takes job after job from the native queue; a finished job's outcome goes
# back to the hub through the dispatcher, which settles its promise. There is
# no watcher and no greenlet per job.
#
# One job's road: Crew.submit() (hub) -> native queue -> _take() and _run()
# (worker) -> dispatcher -> Crew._finish() (hub) -> promise -> its waiters.
#
# Guarantees:
# - At most ``size`` jobs run at once; jobs beyond that wait in the queue
#   and never block the submitter.
# - Every accepted job either runs once or, if cancelled before a worker
#   took it, never runs; its promise settles in the hub either way.
# - A worker idle for ``idle_timeout`` seconds gives its thread back, and
#   never while a job it could take is on its way (see _take()).
# - Each job runs in a copy of the submitter's contextvars.
#
# Assumptions:
# - SimpleQueue.put/get are thread-safe and never block put().
# - gevent's ThreadPool runs tasks given as (func, args, kwargs, result) on
#   its task_queue, adjust() starts threads for them and _on_fork() resets
#   it in a forked child (all stable from gevent 24.10 to 26.x); adjust()
#   must run in the pool's hub thread. We bypass spawn() so that no per-task watcher
#   keeps the loop alive while a worker merely waits for jobs.
from __future__ import annotations

import contextvars
import os
import threading
import weakref
from typing import Any, Callable

from ._dispatch import Dispatcher, thread_state
from ._errors import Cancelled, HubClosed
from ._native import Empty, SimpleQueue, allocate_lock, set_os_thread_name
from ._outcome import Error, Outcome, capture

__all__ = ["Crew", "Job", "check_cancelled"]

_PENDING, _RUNNING, _DONE, _CANCELLED = "pending", "running", "done", "cancelled"

# Tells one worker loop to exit; put once per thread by close().
_STOP = object()


class Job:
    """One accepted call and the promise it settles."""

    __slots__ = (
        "fn",  # with args, kwargs, context: written at submit, read by the worker
        "args",
        "kwargs",
        "context",
        "promise",  # hub thread only; None once settled
        "crew",  # read-only
        "state",  # _PENDING, _RUNNING, _DONE or _CANCELLED; guarded by crew._lock
        "cancel_requested",  # set in the hub, read by check_cancelled() in the worker
    )

    def __init__(
        self, crew: Crew, promise: Any, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.context = contextvars.copy_context()
        self.promise = promise
        self.crew = crew
        self.state = _PENDING
        self.cancel_requested = False

    def cancel(self) -> bool:
        """Cancel if not started (True); else ask it to stop (False). Hub thread."""
        return self.crew.cancel(self)


class _TaskSink:
    # Stands in for the ThreadResult gevent's worker reports a task's end to.
    # Our worker loop catches everything, so these see only its return.
    __slots__ = ()

    def set(self, value: object) -> None:
        pass

    def handle_error(self, context: object, exc_info: Any) -> None:
        pass


_SINK = _TaskSink()


class Crew:
    """Worker loops on a gevent ThreadPool that run jobs from a native queue."""

    __slots__ = (
        "dispatcher",  # the hub's dispatcher; read-only
        "threadpool",  # the gevent ThreadPool our loops run on; read-only
        "size",  # most loops at once; read-only
        "idle_timeout",  # seconds an idle loop waits before it exits; read-only
        "name",  # thread name prefix; read-only
        "on_settled",  # callback(outcome or None when cancelled); hub thread; read-only
        "on_start",  # callback() when a loop takes a job; worker thread; read-only
        "_jobs",  # native queue of Job or _STOP: put in the hub, get in workers
        "_lock",  # guards the counters below and Job.state
        "_queued",  # items put and not yet taken (cancelled jobs included)
        "_idle",  # loops waiting in _take()
        "_threads",  # live loops
        "_running",  # jobs between _take() and _finish()
        "_running_jobs",  # those jobs, for the fork handler
        "__weakref__",
        "_serial",  # numbers the loops for their names
    )

    def __init__(
        self,
        dispatcher: Dispatcher,
        threadpool: Any,
        size: int,
        idle_timeout: float,
        name: str,
        on_settled: Callable[[Outcome | None], Any],
        on_start: Callable[[], Any] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.threadpool = threadpool
        self.size = size
        self.idle_timeout = idle_timeout
        self.name = name
        self.on_settled = on_settled
        self.on_start = on_start
        self._jobs: SimpleQueue[Any] = SimpleQueue()
        self._lock = allocate_lock()
        self._queued = 0
        self._idle = 0
        self._threads = 0
        self._running = 0
        self._serial = 0
        self._running_jobs: set[Job] = set()
        _crews.add(self)

    # -- hub side ------------------------------------------------------------

    def submit(self, job: Job) -> None:
        """Queue ``job`` and start a loop if none is free. Hub thread; never blocks."""
        with self._lock:
            self._queued += 1
            start = self._queued > self._idle and self._threads < self.size
            if start:
                self._threads += 1
                self._serial += 1
                serial = self._serial
        # Counted before put(): a loop timing out in _take() sees _queued > 0
        # and waits again instead of leaving this job behind.
        self._jobs.put(job)
        if start:
            self._start_loop(serial)

    def _start_loop(self, serial: int) -> None:
        # Hub thread: adjust() may start a thread and touches the loop.
        self.threadpool.task_queue.put((self._loop, (serial,), {}, _SINK))
        self.threadpool.adjust()

    def cancel(self, job: Job) -> bool:
        """Cancel ``job`` if no loop took it yet. Hub thread.

        The caller rejects the promise; the job stays queued and the loop
        that takes it skips it.
        """
        with self._lock:
            state = job.state
            if state is _PENDING:
                job.state = _CANCELLED
            elif state is _RUNNING:
                # Cooperative: check_cancelled() in the job raises from now on.
                job.cancel_requested = True
        if state is not _PENDING:
            return False
        self._settled(job, None)
        return True

    def cancel_queued(self) -> list[Job]:
        """Cancel every job no loop took yet; returns them. Hub thread."""
        cancelled: list[Job] = []
        stops = 0
        while True:
            try:
                item = self._jobs.get_nowait()
            except Empty:
                break
            with self._lock:
                self._queued -= 1
                if item is _STOP:
                    stops += 1
                    continue
                if item.state is not _PENDING:
                    continue
                item.state = _CANCELLED
            cancelled.append(item)
        for _ in range(stops):
            self._requeue(_STOP)
        for job in cancelled:
            promise = job.promise
            if promise is not None and not promise.ready():
                promise._settle(Error(Cancelled("the pool was shut down before this job started")))
            self._settled(job, None)
        return cancelled

    def _requeue(self, item: object) -> None:
        with self._lock:
            self._queued += 1
        self._jobs.put(item)

    def _finish(self, job: Job, outcome: Outcome) -> None:
        # Hub thread, through the dispatcher.
        with self._lock:
            self._running -= 1
            self._running_jobs.discard(job)
            job.state = _DONE
        promise = job.promise
        if promise is not None and not promise.ready():
            promise._settle(outcome)
        self._settled(job, outcome)

    def _settled(self, job: Job, outcome: Outcome | None) -> None:
        # Hub thread. Break the promise <-> job cycle, then tell the pool.
        promise, job.promise = job.promise, None
        if promise is not None:
            promise._job = None
        job.fn = job.args = job.kwargs = job.context = None  # type: ignore[assignment]
        self.on_settled(outcome)

    def _after_fork_in_child(self) -> None:
        # The only thread left is the one that forked; every worker is gone.
        # Start afresh, and reject what the parent's workers had (running or
        # queued) rather than leave it hanging or run it twice.
        old_jobs, self._jobs = self._jobs, SimpleQueue()
        orphans = list(self._running_jobs)
        while True:
            try:
                item = old_jobs.get_nowait()
            except Empty:
                break
            if item is not _STOP and item.state is _PENDING:
                orphans.append(item)
        self._lock = allocate_lock()
        self._queued = self._idle = self._threads = self._running = 0
        self._running_jobs = set()
        if not self.dispatcher.in_hub_thread():
            return  # the hub's thread did not survive the fork: nobody waits
        # gevent resets its ThreadPool from a fork watcher, some loop
        # iterations from now, dropping any task queued before; reset it now
        # (its own pid check makes gevent's later call a no-op).
        self.threadpool._on_fork()
        for job in orphans:
            job.state = _CANCELLED
            outcome = Error(Cancelled("the process forked while this job was queued or running in the parent"))
            promise = job.promise
            if promise is not None and not promise.ready():
                promise._settle(outcome)
            self._settled(job, outcome)

    def counts(self) -> dict[str, int]:
        """Queued, running and thread counts. Any thread."""
        with self._lock:
            return {"queued": self._queued, "running": self._running, "threads": self._threads}

    def close(self) -> None:
        """Ask every loop to exit once the queue before it is done. Hub thread."""
        with self._lock:
            threads = self._threads
            self._queued += threads
        for _ in range(threads):
            self._jobs.put(_STOP)

    # -- worker side -----------------------------------------------------------

    def _loop(self, serial: int) -> None:
        # A worker thread, as one task of the gevent ThreadPool. The thread
        # is gevent's: give it back with the name and state it came with.
        thread_state.dispatcher = self.dispatcher
        thread = threading.current_thread()
        old_name, thread.name = thread.name, f"{self.name}-{serial}"
        old_os_name = set_os_thread_name(thread.name)
        try:
            while True:
                job = self._take()
                if job is None:
                    return
                self._run(job)
                del job
        finally:
            thread_state.dispatcher = None
            thread_state.job = None
            thread.name = old_name
            if old_os_name is not None:
                set_os_thread_name(old_os_name)

    def _take(self) -> Job | None:
        # Worker thread. The next job to run, or None when this loop exits.
        with self._lock:
            self._idle += 1
        while True:
            try:
                item = self._jobs.get(timeout=self.idle_timeout)
            except Empty:
                with self._lock:
                    if self._queued > 0:
                        continue  # put() is on its way: submit() counts first
                    self._idle -= 1
                    self._threads -= 1
                    return None
            with self._lock:
                self._queued -= 1
                if item is _STOP:
                    self._idle -= 1
                    self._threads -= 1
                    return None
                if item.state is _CANCELLED:
                    continue
                item.state = _RUNNING
                self._idle -= 1
                self._running += 1
                self._running_jobs.add(item)
            if self.on_start is not None:
                self.on_start()
            return item  # type: ignore[no-any-return]

    def _run(self, job: Job) -> None:
        # Worker thread. The outcome goes back through the dispatcher; it is
        # complete before submit(), which orders it for the hub.
        thread_state.job = job
        outcome = capture(job.context.run, job.fn, *job.args, **job.kwargs)
        thread_state.job = None
        try:
            self.dispatcher.submit(self._finish, (job, outcome))
        except HubClosed:
            pass  # the hub is gone; nobody can wait for this promise any more
        # Drop the outcome now: a traceback keeps frames and contexts alive.
        del outcome


_crews: weakref.WeakSet[Crew] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for crew in list(_crews):
        crew._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def check_cancelled() -> None:
    """Raise ``Cancelled`` if the running job's promise was cancelled.

    Call it from inside a job, in its worker thread, at points where the job
    may stop. Outside a job it does nothing.

    Raises:
        Cancelled: the job's promise was cancelled while it ran.
    """
    job: Job | None = getattr(thread_state, "job", None)
    if job is not None and job.cancel_requested:
        raise Cancelled("the promise of this job was cancelled; stop the job")


def outcome_is_cancelled(outcome: Outcome) -> bool:
    """Whether an outcome is a rejection with Cancelled."""
    return type(outcome) is Error and isinstance(outcome.error, Cancelled)
