# The executor backend: a pool's jobs handed to a concurrent.futures.Executor.
#
# ``Pool(executor=ex)`` submits each job to ``ex`` (processes, a distributed
# engine's executor) and follows its future the way a promise follows one
# (_follow.when_done): the future completes in the executor's thread, its
# outcome is queued for the hub, and the pool's deliver() runs there.
#
# Guarantees:
# - Every accepted job is delivered exactly once: its future's outcome, or
#   NotStarted when cancel() or cancel_queued() cancelled the future first
#   (the later report of the cancelled future is then ignored).
# - ``started()`` runs as a thread executor's job starts, and as any other
#   executor's job is delivered (they do not say when a job starts).
# - A job in a thread executor (a ``concurrent.futures.ThreadPoolExecutor``,
#   gevent's included) runs as on gnotifier's own threads: in a copy of the
#   submitter's contextvars, with the pool's hub as the target of
#   call_in_hub() and call_soon_threadsafe(), and, cancelled while it runs,
#   it finds ``check_cancelled()`` raising. It is claimed as it starts, so
#   cancel() stops it until then whatever the executor's futures allow
#   (gevent's cannot be cancelled), and its error comes back as an outcome,
#   never raised into the executor (gevent's ThreadPool would print it).
#
# Assumptions:
# - Everything here runs in the hub's thread, except the futures' done
#   callbacks (_follow.when_done), which only queue a call for the hub, and
#   _run_as() in a thread executor's thread.
# - dict.pop is atomic under the GIL: a job is claimed by whoever pops it
#   from ``_unstarted`` first, _run_as() or cancel().
from __future__ import annotations

import concurrent.futures
import contextvars
from typing import Any, Callable

from ._dispatch import Dispatcher, thread_state
from ._errors import NEVER_RUNS
from ._follow import when_done
from ._outcome import NotStarted, Outcome, Value, capture
from ._worker import Deliver, Job

__all__ = ["ExecutorBackend"]

# Python 3.14's subinterpreter pool subclasses ThreadPoolExecutor, but pickles what it runs.
_INTERPRETER_POOLS = tuple(
    getattr(concurrent.futures, name) for name in ["InterpreterPoolExecutor"] if hasattr(concurrent.futures, name)
)


def _run_as(
    backend: ExecutorBackend,
    job: Job,
    context: contextvars.Context,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Outcome | None:
    # A thread executor's thread: ``fn``'s outcome, or None if cancel()
    # claimed the job first. ``fn`` runs as ``job`` (for check_cancelled()),
    # for the pool's hub, in the submitter's context.
    if not backend.claim(job):
        return None
    outer = thread_state.job, thread_state.dispatcher  # an executor that runs jobs inline has some
    thread_state.job, thread_state.dispatcher = job, backend.dispatcher
    try:
        return context.run(capture, fn, *args, **kwargs)
    finally:
        thread_state.job, thread_state.dispatcher = outer


class ExecutorBackend:
    """Runs a pool's jobs on a ``concurrent.futures.Executor``."""

    __slots__ = ("executor", "dispatcher", "deliver", "started", "_futures", "_in_threads", "_unstarted")

    def __init__(
        self,
        executor: concurrent.futures.Executor,
        dispatcher: Dispatcher,
        deliver: Deliver,
        started: Callable[[], Any] | None = None,
    ) -> None:
        self.executor = executor
        self.dispatcher = dispatcher  # the pool's hub's
        self.deliver = deliver
        self.started = started
        self._futures: dict[Job, concurrent.futures.Future[Any]] = {}  # jobs not yet delivered; hub thread
        # Thread executors' jobs not yet claimed by _run_as() or cancel(); added in the hub, popped by either.
        self._unstarted: dict[Job, bool] = {}
        # Jobs in threads of this process can ask check_cancelled(); in
        # processes or on other machines they have no way to hear of it.
        self._in_threads = isinstance(executor, concurrent.futures.ThreadPoolExecutor) and not isinstance(
            executor, _INTERPRETER_POOLS
        )

    def submit(self, job: Job) -> None:
        """Submit ``job`` to the executor. Hub thread.

        Raises:
            whatever ``executor.submit()`` raises (a shut-down executor's RuntimeError).
        """
        fn, args, kwargs = job.fn, job.args, job.kwargs or {}
        if self._in_threads:
            context = contextvars.copy_context()
            self._unstarted[job] = True
            try:
                future = self.executor.submit(_run_as, self, job, context, fn, args, kwargs)  # type: ignore[arg-type]
            except BaseException:
                self._unstarted.pop(job, None)  # (an executor that ran it inline, then raised, took it)
                raise
        else:
            future = self.executor.submit(fn, *args, **kwargs)  # type: ignore[arg-type]
        job.fn = job.args = job.kwargs = None  # type: ignore[assignment]
        job.backend = self
        self._futures[job] = future
        when_done(future, self._done, job)

    def claim(self, job: Job) -> bool:
        """Take ``job`` to run it now; False if cancel() took it first. A thread executor's thread.

        The pool hears that it started (and, with ``max_pending``, has room again).
        """
        if self._unstarted.pop(job, None) is None:
            return False
        if self.started is not None:
            self.dispatcher.submit_if_open(self.started, ())
        return True

    def _done(self, job: Job, outcome: Outcome) -> None:
        # Hub thread, through the dispatcher.
        if self._futures.pop(job, None) is None:
            return  # cancelled here first, and delivered then
        if not self._in_threads:
            self._tell_started()  # executors do not say when a job starts: it did, by now
        elif self._unstarted.pop(job, None) is not None:
            # Nobody claimed it: the executor cancelled its future itself
            # (``shutdown(cancel_futures=True)``), and the job never started.
            self._tell_started()
        elif type(outcome) is Value:
            # _run_as() claimed it and returned its outcome, captured: the
            # future's value. (A job cancel() claimed left _futures then, and
            # never gets here, so this is never _run_as()'s None.)
            outcome = outcome.value
        self.deliver(job, outcome)

    def _tell_started(self) -> None:
        if self.started is not None:
            self.started()

    def cancel(self, job: Job) -> bool:
        """Cancel ``job``'s future if it has not started, delivering NotStarted; else ask it to stop. Hub thread."""
        if self._cancel(job, f"this job {NEVER_RUNS}"):
            return True
        if job in self._futures:
            job.cancel_requested = True  # running: check_cancelled() in it raises from now on
        return False

    def cancel_queued(self) -> int:
        """Cancel every future that has not started; returns how many. Hub thread."""
        why = "the pool was shut down before this job started"
        return sum(1 for job in list(self._futures) if self._cancel(job, why))

    def _cancel(self, job: Job, why: str) -> bool:
        future = self._futures.get(job)
        if future is None:
            return False
        if self._in_threads:
            # Claimed here, the job never runs: a thread that starts it
            # meanwhile finds it gone and returns at once. Its future is
            # cancelled too, where the executor allows, to free its place.
            if self._unstarted.pop(job, None) is None:
                return False
            future.cancel()
        elif not future.cancel():
            return False
        del self._futures[job]
        self.deliver(job, NotStarted(why))
        return True

    def counts(self) -> tuple[int, int, int]:
        """Jobs pending and running (a future done but not yet delivered has started); no threads."""
        if self._in_threads:
            pending = len(self._unstarted)
        else:
            pending = sum(1 for future in self._futures.values() if not (future.running() or future.done()))
        return pending, len(self._futures) - pending, 0

    def close(self) -> None:
        """Nothing to give back: the executor is the caller's, and stays open."""
