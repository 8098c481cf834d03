"""Pool(executor=): jobs on an executor's workers (threads or processes), promises settled in the hub."""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
import os
import pathlib
import threading
import time
from typing import Any, Callable, Iterator

import gevent
import gevent.threadpool
import pytest
from helpers import (
    WAIT,
    FirstJobBlocks,
    Gates,
    failing_job,
    pass_gate,
    stats_add_up,
    wait_until,
)

import gnotifier


def test_pool_executor_runs_jobs_and_settles_in_the_hub_thread(
    make_pool: Callable[..., gnotifier.Pool], executor: concurrent.futures.ThreadPoolExecutor, gates: Gates
) -> None:
    pool = make_pool(executor=executor)
    main = threading.get_ident()
    gate = gates.new()
    record: list[Any] = []

    def job(n: int) -> int:
        record.append(
            ("job", n, threading.get_ident() == main, threading.current_thread().name.startswith("ThreadPoolExecutor"))
        )
        pass_gate(gate)
        return n * n

    promises = [pool.work(job, n) for n in range(2)]
    for promise in promises:
        promise.rawlink(lambda p: record.append(("notified", p.value, threading.get_ident() == main)))
    wait_until(lambda: len(record) == 2, what="both jobs to run at once on the executor's threads")
    gate.set()
    assert gnotifier.Promise.all(promises).get(timeout=WAIT) == [0, 1]
    wait_until(lambda: len(record) == 4, what="both promises to notify")
    assert sorted(record[:2]) + sorted(record[2:]) == [
        ("job", 0, False, True),
        ("job", 1, False, True),
        ("notified", 0, True),
        ("notified", 1, True),
    ]


# -- ProcessPoolExecutor -------------------------------------------------------------------


# Jobs for Pool(executor=ProcessPoolExecutor): module-level, so that they pickle.


def wait_for_file(path: str) -> None:
    """In a child process: the test's gate, a file it creates."""
    deadline = time.monotonic() + WAIT
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise AssertionError(f"the job waited {WAIT} s for {path}")
        time.sleep(0.001)


def process_pid_once_file_exists(path: str) -> int:
    wait_for_file(path)
    return os.getpid()


def process_raise_lookup_error(message: str) -> None:
    raise LookupError(message)


def process_finish_after(n: int, directory: str) -> tuple[int, int]:
    """Item 0 finishes only after item 1 did: they finish in reverse input order."""
    if n == 0:
        wait_for_file(os.path.join(directory, "1-done"))
    else:
        with open(os.path.join(directory, f"{n}-done"), "w"):
            pass
    return n, os.getpid()


@pytest.fixture
def process_executor() -> Iterator[concurrent.futures.ProcessPoolExecutor]:
    # spawn: forking a process that runs threads (the hub's workers) may deadlock the child.
    ex = concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    yield ex
    ex.shutdown(wait=True)


def test_pool_process_executor_runs_job_in_another_process_and_settles_in_the_hub(
    make_pool: Callable[..., gnotifier.Pool],
    process_executor: concurrent.futures.ProcessPoolExecutor,
    tmp_path: pathlib.Path,
) -> None:
    pool = make_pool(executor=process_executor)
    main = threading.get_ident()
    record: list[Any] = []
    gate = tmp_path / "gate"
    promise = pool.work(process_pid_once_file_exists, str(gate))
    promise.rawlink(lambda p: record.append(("notified in hub thread", threading.get_ident() == main)))
    gate.touch()  # only now may the job finish
    # Not get() first: with a greenlet waiting in get(), gevent runs the links
    # in the hub even when another thread settles the promise.
    wait_until(lambda: len(record) == 1, what="the promise to notify")
    pid = promise.get(timeout=0)
    record.append(("job pid is ours", pid == os.getpid(), type(pid)))
    assert record == [("notified in hub thread", True), ("job pid is ours", False, int)]


def test_pool_process_executor_map_keeps_input_order(
    make_pool: Callable[..., gnotifier.Pool],
    process_executor: concurrent.futures.ProcessPoolExecutor,
    tmp_path: pathlib.Path,
) -> None:
    pool = make_pool(executor=process_executor)
    results = pool.map(functools.partial(process_finish_after, directory=str(tmp_path)), [0, 1]).get(timeout=WAIT)
    assert [n for n, _ in results] == [0, 1]
    # Item 0 waited for item 1, so they ran at once in two other processes.
    pids = {pid for _, pid in results}
    assert (len(pids), os.getpid() in pids) == (2, False)


def test_pool_process_executor_child_error_rejects_with_its_type(
    make_pool: Callable[..., gnotifier.Pool], process_executor: concurrent.futures.ProcessPoolExecutor
) -> None:
    pool = make_pool(executor=process_executor)
    promise = pool.work(process_raise_lookup_error, "raised in the child")
    with pytest.raises(LookupError) as info:
        promise.get(timeout=WAIT)
    assert (type(info.value), info.value.args) == (LookupError, ("raised in the child",))
    stats = pool.stats()
    del stats["threads"]
    assert stats == {"pending": 0, "running": 0, "completed": 0, "failed": 1, "cancelled": 0}


# -- cancel and stats ----------------------------------------------------------------------


class RecordingExecutor(concurrent.futures.ThreadPoolExecutor):
    """A ThreadPoolExecutor that keeps every future it hands out."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers)
        self.futures: list[concurrent.futures.Future[Any]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        self.futures.append(future)
        return future


@pytest.fixture
def executor_of_one(gates: Gates) -> Iterator[RecordingExecutor]:
    ex = RecordingExecutor(1)
    yield ex
    gates.open_all()
    ex.shutdown(wait=True)


def test_pool_executor_cancel_queued_job_cancels_its_future(
    make_pool: Callable[..., gnotifier.Pool], executor_of_one: RecordingExecutor, gates: Gates
) -> None:
    pool = make_pool(executor=executor_of_one)
    job = FirstJobBlocks(gates)
    gate, started, ran = job.gate, job.started, job.ran

    a = pool.work(job, "a")
    wait_until(started.is_set, what="job a to start")
    b, c = pool.work(job, "b"), pool.work(job, "c")
    future_b = executor_of_one.futures[1]
    record: list[Any] = [("cancel b", b.cancel()), ("future cancelled", future_b.cancelled()), ("b ready", b.ready())]
    with pytest.raises(gnotifier.Cancelled) as info:
        b.get(timeout=0)
    record.append(("b rejected", type(info.value)))
    gate.set()
    # c was queued behind b on the one thread: once c ran, b had its chance.
    record.append(("values", a.get(timeout=WAIT), c.get(timeout=WAIT)))
    wait_until(lambda: pool.stats()["completed"] == 2, what="the pool to count a and c")
    stats = pool.stats()
    record.append(("stats", stats, stats_add_up(stats, 3)))
    assert record == [
        ("cancel b", True),
        ("future cancelled", True),
        ("b ready", True),
        ("b rejected", gnotifier.Cancelled),
        ("values", "a", "c"),
        ("stats", {"pending": 0, "running": 0, "completed": 2, "failed": 0, "cancelled": 1, "threads": 0}, True),
    ]
    assert ran == ["a", "c"]


def test_a_running_job_of_a_thread_executor_hears_its_cancel_through_check_cancelled(
    make_pool: Callable[..., gnotifier.Pool], executor: concurrent.futures.ThreadPoolExecutor
) -> None:
    pool = make_pool(executor=executor)
    started = threading.Event()
    checks: list[str] = []

    def job() -> str:
        started.set()
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                gnotifier.check_cancelled()
            except gnotifier.Cancelled:
                checks.append("cancelled")
                raise
            time.sleep(0.001)  # polling its flag, as a long job would between steps
        return "ran to the end"

    promise = pool.work(job)
    assert started.wait(WAIT)
    assert promise.cancel() is False  # running: it can only be asked to stop
    with pytest.raises(gnotifier.Cancelled):
        promise.get(timeout=WAIT)
    assert checks == ["cancelled"]
    gnotifier.check_cancelled()  # outside a job: nothing
    wait_until(lambda: pool.stats()["cancelled"] == 1, what="the pool to count the job as cancelled")


def test_a_job_of_a_thread_executor_calls_into_the_pools_hub_without_naming_it(
    make_pool: Callable[..., gnotifier.Pool], executor: concurrent.futures.ThreadPoolExecutor
) -> None:
    pool = make_pool(executor=executor)
    main = threading.get_ident()

    def job() -> tuple[bool, bool]:
        in_main = gnotifier.call_in_hub(lambda: threading.get_ident() == main)
        queued = threading.Event()
        gnotifier.call_soon_threadsafe(queued.set)
        return in_main, queued.wait(WAIT)

    assert pool.work(job).get(timeout=WAIT) == (True, True)
    # The executor's thread is its own again after the job: no pool's hub is its target.
    with pytest.raises(RuntimeError, match="hub="):
        executor.submit(gnotifier.call_soon_threadsafe, print).result(timeout=WAIT)


def test_shutdown_cancelling_pending_jobs_leaves_a_running_one_of_a_thread_executor_alone(
    make_pool: Callable[..., gnotifier.Pool], executor: concurrent.futures.ThreadPoolExecutor
) -> None:
    pool = make_pool(executor=executor)
    started, finish = threading.Event(), threading.Event()

    def job() -> str:
        started.set()
        assert finish.wait(WAIT)
        gnotifier.check_cancelled()  # nobody cancelled this job: no raise
        return "finished"

    promise = pool.work(job)
    assert started.wait(WAIT)
    pool.shutdown(wait=False, cancel_pending=True)
    finish.set()
    assert promise.get(timeout=WAIT) == "finished"


def test_pool_executor_stats_count_a_cancelled_job_at_once(
    make_pool: Callable[..., gnotifier.Pool], executor_of_one: RecordingExecutor, gates: Gates
) -> None:
    # Bug: stats() counted a job whose cancel() had returned True (its promise
    # already rejected with Cancelled) as pending until the hub drained.
    pool = make_pool(executor=executor_of_one)
    gate, started = gates.new(), threading.Event()

    def blocker() -> str:
        started.set()
        pass_gate(gate)
        return "a"

    a = pool.work(blocker)
    wait_until(started.is_set, what="job a to start")
    b = pool.work(str, "b")
    record: list[Any] = [("cancel b", b.cancel(), type(b.exception))]
    stats = pool.stats()  # no yield to the hub since cancel() returned
    record.append(("stats", stats, stats_add_up(stats, 2)))
    gate.set()
    record.append(("a", a.get(timeout=WAIT)))
    assert record == [
        ("cancel b", True, gnotifier.Cancelled),
        ("stats", {"pending": 0, "running": 1, "completed": 0, "failed": 0, "cancelled": 1, "threads": 0}, True),
        ("a", "a"),
    ]


def test_pool_executor_stats_never_count_a_finished_job_as_pending(
    make_pool: Callable[..., gnotifier.Pool], executor_of_one: RecordingExecutor
) -> None:
    # Bug: between its future finishing and the hub hearing of it, a job that
    # had run was counted as pending ("accepted, not started").
    pool = make_pool(executor=executor_of_one)
    promise = pool.work(str, "done")
    finished = threading.Event()
    # Done callbacks run in order, after the future's state is set: the pool's
    # own callback has queued the outcome for the hub when this one runs.
    executor_of_one.futures[0].add_done_callback(lambda f: finished.set())
    assert finished.wait(WAIT)
    stats = pool.stats()  # the hub has not run since
    record: list[Any] = [("ready", promise.ready()), ("pending", stats["pending"]), ("adds up", stats_add_up(stats, 1))]
    record.append(("value", promise.get(timeout=WAIT)))
    assert record == [("ready", False), ("pending", 0), ("adds up", True), ("value", "done")]


def test_pool_executor_stats_add_up_after_success_failure_and_cancel(
    make_pool: Callable[..., gnotifier.Pool], executor_of_one: RecordingExecutor, gates: Gates
) -> None:
    pool = make_pool(executor=executor_of_one)
    gate, started = gates.new(), threading.Event()
    snapshots: list[tuple[dict[str, int], bool]] = []

    def blocker() -> str:
        started.set()
        pass_gate(gate)
        return "a"

    def snapshot(accepted: int) -> None:
        stats = pool.stats()
        snapshots.append((stats, stats_add_up(stats, accepted)))

    snapshot(0)
    a = pool.work(blocker)
    wait_until(started.is_set, what="the first job to start")
    snapshot(1)
    b = pool.work(failing_job, ValueError("b fails"))
    c = pool.work(str, "c")
    d = pool.work(str, "d")
    snapshot(4)
    cancelled = d.cancel()
    wait_until(lambda: pool.stats()["cancelled"] == 1, what="the pool to count d as cancelled")
    snapshot(4)
    gate.set()
    wait_until(lambda: a.ready() and b.ready() and c.ready(), what="the jobs to settle")
    wait_until(lambda: pool.stats()["running"] == 0, what="the pool to count every job")
    snapshot(4)
    outcomes = [a.get(), type(b.exception), c.get(), type(d.exception)]

    def stats(pending: int, running: int, completed: int, failed: int, cancelled: int) -> dict[str, int]:
        return {
            "pending": pending,
            "running": running,
            "completed": completed,
            "failed": failed,
            "cancelled": cancelled,
            "threads": 0,  # an executor's threads are its own
        }

    assert snapshots == [
        (stats(0, 0, 0, 0, 0), True),
        (stats(0, 1, 0, 0, 0), True),
        (stats(3, 1, 0, 0, 0), True),
        (stats(2, 1, 0, 0, 1), True),
        (stats(0, 0, 2, 1, 1), True),
    ]
    assert (cancelled, outcomes) == (True, ["a", ValueError, "c", gnotifier.Cancelled])


class RefusesFirst(concurrent.futures.ThreadPoolExecutor):
    """A ThreadPoolExecutor whose first submit() raises, as a busy or closing executor may."""

    def __init__(self) -> None:
        super().__init__(1)
        self.refused = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        if not self.refused:
            self.refused = True
            raise RuntimeError("refused: try again later")
        return super().submit(fn, *args, **kwargs)


@pytest.mark.parametrize("max_pending", [None, 1])
def test_pool_work_its_executor_refuses_is_not_accepted(
    make_pool: Callable[..., gnotifier.Pool], max_pending: int | None
) -> None:
    executor = RefusesFirst()
    try:
        pool = make_pool(executor=executor, max_pending=max_pending)
        with pytest.raises(RuntimeError, match="refused"):
            pool.work(str, "refused")
        held = not gevent.wait(timeout=0.5)  # True: the refused job keeps the hub alive
        stats = pool.stats()
        pool.shutdown(wait=True, timeout=WAIT)  # nothing to wait for
    finally:
        executor.shutdown(wait=True)
    assert (held, stats_add_up(stats, 0)) == (False, True)


def test_pool_after_a_refused_job_still_waits_for_the_next_one(
    make_pool: Callable[..., gnotifier.Pool], gates: Gates
) -> None:
    executor = RefusesFirst()
    gate = gates.new()
    try:
        pool = make_pool(executor=executor)
        with pytest.raises(RuntimeError, match="refused"):
            pool.work(str, "refused")
        taken = pool.work(pass_gate, gate)
        with pytest.raises(TimeoutError):
            pool.shutdown(wait=True, timeout=0.2)  # the taken job still runs
        gate.set()
        pool.shutdown(wait=True, timeout=WAIT)
        settled = taken.ready()
    finally:
        gates.open_all()
        executor.shutdown(wait=True)
    assert settled


THREAD_EXECUTORS: dict[str, Callable[[int], Any]] = {
    "stdlib": concurrent.futures.ThreadPoolExecutor,
    "gevent": gevent.threadpool.ThreadPoolExecutor,
}


@pytest.fixture(params=list(THREAD_EXECUTORS), ids=str)
def thread_executor_of_one(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A thread executor of one thread: the standard library's, then gevent's."""
    ex = THREAD_EXECUTORS[request.param](1)
    yield ex
    ex.shutdown(wait=True)


def test_a_thread_executors_queued_job_cancelled_never_runs_and_stats_count_it(
    make_pool: Callable[..., gnotifier.Pool], thread_executor_of_one: Any
) -> None:
    # Regression: on gevent's executor cancel() returned False and the job ran; stats() raised AttributeError.
    pool = make_pool(executor=thread_executor_of_one)
    started, finish = threading.Event(), threading.Event()
    ran: list[str] = []

    def job(name: str) -> str:
        ran.append(name)
        started.set()
        assert finish.wait(WAIT)
        return name

    a = pool.work(job, "a")
    assert started.wait(WAIT)
    b = pool.work(job, "b")
    record: list[Any] = [("in flight", pool.stats()), ("cancel b", b.cancel()), ("cancel again", b.cancel())]
    finish.set()
    record.append(("values", a.get(timeout=WAIT), type(b.exception)))
    wait_until(lambda: pool.stats()["completed"] == 1, what="the pool to count a")
    record.append(("after", pool.stats()))
    assert record == [
        ("in flight", {"pending": 1, "running": 1, "completed": 0, "failed": 0, "cancelled": 0, "threads": 0}),
        ("cancel b", True),
        ("cancel again", False),
        ("values", "a", gnotifier.Cancelled),
        ("after", {"pending": 0, "running": 0, "completed": 1, "failed": 0, "cancelled": 1, "threads": 0}),
    ]
    assert ran == ["a"]


def test_a_thread_executors_failed_job_seen_by_its_waiter_is_not_reported(
    make_pool: Callable[..., gnotifier.Pool], thread_executor_of_one: Any, hub_errors: list[Any]
) -> None:
    # Regression: gevent's executor sent the error to handle_error though get() raised it.
    pool = make_pool(executor=thread_executor_of_one)
    error = ValueError("from the job")

    def fail() -> None:
        raise error

    with pytest.raises(ValueError) as info:
        pool.work(fail).get(timeout=WAIT)
    assert pool.work(int, "3").get(timeout=WAIT) == 3  # one thread: the failed job is long done
    assert (info.value, hub_errors) == (error, [])


def test_a_thread_executors_shutdown_timeout_raises_timeout_error(
    make_pool: Callable[..., gnotifier.Pool], thread_executor_of_one: Any
) -> None:
    # Regression: on gevent's executor shutdown(timeout=) raised AttributeError.
    pool = make_pool(executor=thread_executor_of_one)
    started, finish = threading.Event(), threading.Event()

    def job() -> str:
        started.set()
        assert finish.wait(WAIT)
        return "finished"

    promise = pool.work(job)
    assert started.wait(WAIT)
    try:
        with pytest.raises(TimeoutError, match="1 job"):
            pool.shutdown(timeout=0.05)
    finally:
        finish.set()
    assert promise.get(timeout=WAIT) == "finished"


def test_a_thread_executors_max_pending_counts_only_jobs_not_yet_started(
    make_pool: Callable[..., gnotifier.Pool],
) -> None:
    # Regression: room came back only as a job was delivered, so max_pending=1 ran one job at a time.
    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        pool = make_pool(executor=executor, max_pending=1)
        together = threading.Barrier(2, timeout=WAIT)
        first = pool.work(together.wait)
        second = pool.work(together.wait)  # waits for room only until the first has started
        assert sorted(gnotifier.Promise.all([first, second]).get(timeout=WAIT)) == [0, 1]
