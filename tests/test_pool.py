"""work() (SPEC §3) and Pool (SPEC §5): real threads, promises settled in the hub."""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
import gc
import json
import os
import pathlib
import re
import subprocess
import sys
import threading
import time
import traceback
import weakref
from typing import Any, Callable, Iterator

import gevent
import pytest
from conftest import wait_until
from gevent.exceptions import LoopExit
from gevent.threadpool import ThreadPool

import gnotifier

WAIT = 10.0  # seconds a job waits for a gate before it gives up (a test bug)
STATS_KEYS = ("pending", "running", "completed", "failed", "cancelled")


class Interrupt(BaseException):
    """A KeyboardInterrupt-like error: a BaseException, not an Exception."""


# -- helpers and fixtures ------------------------------------------------------


class Gates:
    """threading.Events that jobs block on; every one is opened at teardown."""

    def __init__(self) -> None:
        self.made: list[threading.Event] = []

    def new(self) -> threading.Event:
        gate = threading.Event()
        self.made.append(gate)
        return gate

    def open_all(self) -> None:
        for gate in self.made:
            gate.set()


def pass_gate(gate: threading.Event, what: str = "the gate") -> None:
    """In a job: block this worker thread until the test opens ``gate``."""
    if not gate.wait(WAIT):
        raise AssertionError(f"job waited {WAIT} s for {what}")


class FirstJobBlocks:
    """A job that records its name; job "a" says it started, then waits at a gate."""

    def __init__(self, gates: Gates) -> None:
        self.gate = gates.new()
        self.started = threading.Event()
        self.ran: list[str] = []

    def __call__(self, name: str) -> str:
        self.ran.append(name)
        if name == "a":
            self.started.set()
            pass_gate(self.gate)
        return name


@pytest.fixture
def gates() -> Iterator[Gates]:
    made = Gates()
    yield made
    made.open_all()


@pytest.fixture
def make_pool(gates: Gates) -> Iterator[Callable[..., gnotifier.Pool]]:
    """Pool(...) that is shut down (after opening every gate) at teardown."""
    pools: list[gnotifier.Pool] = []

    def make(*args: Any, **kwargs: Any) -> gnotifier.Pool:
        pool = gnotifier.Pool(*args, **kwargs)
        pools.append(pool)
        return pool

    yield make
    gates.open_all()
    for pool in pools:
        pool.shutdown(wait=True, timeout=WAIT)


@pytest.fixture
def executor(gates: Gates) -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    ex = concurrent.futures.ThreadPoolExecutor(2)
    yield ex
    gates.open_all()
    ex.shutdown(wait=True)


@pytest.fixture(params=["default", "own-threads", "executor"])
def any_pool(request: pytest.FixtureRequest, make_pool: Callable[..., gnotifier.Pool]) -> gnotifier.Pool:
    """The default pool, a Pool(size=2), and a Pool over a ThreadPoolExecutor."""
    if request.param == "default":
        return gnotifier.default_pool()
    if request.param == "own-threads":
        return make_pool(size=2)
    return make_pool(executor=request.getfixturevalue("executor"))


def stats_add_up(stats: dict[str, int], accepted: int) -> bool:
    return sum(stats[key] for key in STATS_KEYS) == accepted


def identity(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


def failing_job(error: BaseException) -> None:
    raise error


def observe_by_get(promise: gnotifier.Promise[Any]) -> None:
    with pytest.raises(ValueError):
        promise.get(timeout=WAIT)


# -- §3 work() ------------------------------------------------------------------


def test_work_returns_promise_at_once_while_job_blocks(gates: Gates) -> None:
    gate, started = gates.new(), threading.Event()
    record: list[Any] = []

    def job() -> str:
        started.set()
        pass_gate(gate)
        return "done"

    promise = gnotifier.work(job)
    record.append(("returned", type(promise), promise.ready()))
    wait_until(started.is_set, what="the job to start")
    record.append(("job started", promise.ready()))
    gate.set()
    record.append(("value", promise.get(timeout=WAIT)))
    assert record == [
        ("returned", gnotifier.Promise, False),
        ("job started", False),
        ("value", "done"),
    ]


def test_work_does_not_block_other_greenlets(gates: Gates) -> None:
    # A job blocks its worker thread, not the hub: a greenlet keeps running
    # and is the one that lets the job finish.
    gate = gates.new()
    record: list[str] = []

    def job() -> str:
        pass_gate(gate)
        record.append("job")
        return "done"

    def opener() -> None:
        record.append("opener runs")
        gate.set()

    promise = gnotifier.work(job)
    gevent.spawn(opener)
    record.append(("got", promise.get(timeout=WAIT)))  # type: ignore[arg-type]
    assert record == ["opener runs", "job", ("got", "done")]


def test_work_runs_on_another_native_thread() -> None:
    main = threading.get_ident()
    hub_thread = gevent.get_hub().thread_ident
    job_thread = gnotifier.work(threading.get_ident).get(timeout=WAIT)
    assert (main == hub_thread, job_thread == main) == (True, False)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {}),
        ((1, "two"), {}),
        ((), {"a": 1, "b": [2]}),
        ((None, 0.5), {"key": "value"}),
    ],
    ids=["nothing", "positional", "keywords", "both"],
)
def test_work_passes_args_and_kwargs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    assert gnotifier.work(identity, *args, **kwargs).get(timeout=WAIT) == (args, kwargs)


def test_pool_work_returns_value_via_get(any_pool: gnotifier.Pool) -> None:
    promises = [any_pool.work(pow, n, 2) for n in range(5)]
    assert [p.get(timeout=WAIT) for p in promises] == [0, 1, 4, 9, 16]


@pytest.mark.parametrize(
    "make_error",
    [lambda: ValueError("boom"), lambda: Interrupt("stop"), lambda: SystemExit(3)],
    ids=["Exception", "BaseException", "SystemExit"],
)
def test_work_rejects_with_the_very_exception(make_error: Callable[[], BaseException]) -> None:
    error = make_error()
    promise = gnotifier.work(failing_job, error)
    with pytest.raises(type(error)) as info:
        promise.get(timeout=WAIT)
    assert (info.value is error, promise.exception is error, promise.successful()) == (True, True, False)


@pytest.mark.parametrize(
    "make_error",
    [lambda: ValueError("boom"), lambda: Interrupt("stop"), lambda: SystemExit(3)],
    ids=["Exception", "BaseException", "SystemExit"],
)
def test_pool_rejects_with_the_very_exception(
    any_pool: gnotifier.Pool, make_error: Callable[[], BaseException]
) -> None:
    error = make_error()
    promise = any_pool.work(failing_job, error)
    with pytest.raises(type(error)) as info:
        promise.get(timeout=WAIT)
    assert info.value is error


@pytest.mark.parametrize(
    "make_error",
    [lambda: ValueError("boom"), lambda: Interrupt("stop"), lambda: SystemExit(3)],
    ids=["Exception", "BaseException", "SystemExit"],
)
def test_pool_worker_survives_an_error(
    make_pool: Callable[..., gnotifier.Pool], make_error: Callable[[], BaseException]
) -> None:
    # One thread: the job after the failing one needs the same worker.
    pool = make_pool(size=1)
    threads: list[int] = []

    def fail() -> None:
        threads.append(threading.get_ident())
        raise make_error()

    def succeed() -> str:
        threads.append(threading.get_ident())
        return "still working"

    failed, later = pool.work(fail), pool.work(succeed)
    assert later.get(timeout=WAIT) == "still working"
    assert (type(failed.exception), len(set(threads)), len(threads)) == (type(make_error()), 1, 2)


def test_work_later_job_runs_after_base_exception() -> None:
    failed = gnotifier.work(failing_job, Interrupt("stop"))
    failed.wait(WAIT)
    assert isinstance(failed.exception, Interrupt)
    assert [gnotifier.work(pow, n, 3).get(timeout=WAIT) for n in range(3)] == [0, 1, 8]


def test_work_get_reraises_with_the_job_frame_in_the_traceback() -> None:
    def job_that_raises() -> None:
        raise LookupError("from the job")

    with pytest.raises(LookupError) as info:
        gnotifier.work(job_that_raises).get(timeout=WAIT)
    frames = traceback.extract_tb(info.value.__traceback__)
    assert (frames[-1].name, frames[-1].line) == ("job_that_raises", 'raise LookupError("from the job")')


def test_pool_get_reraises_with_the_job_frame_in_the_traceback(any_pool: gnotifier.Pool) -> None:
    def job_that_raises() -> None:
        raise LookupError("from the job")

    with pytest.raises(LookupError) as info:
        any_pool.work(job_that_raises).get(timeout=WAIT)
    assert traceback.extract_tb(info.value.__traceback__)[-1].name == "job_that_raises"


VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


def test_work_job_sees_a_copy_of_the_callers_contextvars() -> None:
    token = VAR.set("caller")
    try:
        record: list[tuple[str, str]] = []

        def job() -> None:
            record.append(("job saw", VAR.get()))
            VAR.set("job")
            record.append(("job set", VAR.get()))

        gnotifier.work(job).get(timeout=WAIT)
        record.append(("caller after", VAR.get()))
        # The next job gets a fresh copy: the first job's change did not stick.
        gnotifier.work(job).get(timeout=WAIT)
    finally:
        VAR.reset(token)
    assert record == [
        ("job saw", "caller"),
        ("job set", "job"),
        ("caller after", "caller"),
        ("job saw", "caller"),
        ("job set", "job"),
    ]


def test_work_job_sees_the_submitting_greenlets_context() -> None:
    def submit(value: str) -> str:
        VAR.set(value)
        return gnotifier.work(VAR.get).get(timeout=WAIT)

    greenlets = [gevent.spawn(submit, value) for value in ("a", "b", "c")]
    gevent.joinall(greenlets, timeout=WAIT, raise_error=True)
    assert ([g.value for g in greenlets], VAR.get()) == (["a", "b", "c"], "unset")


@pytest.mark.parametrize("outcome", ["value", "error"])
def test_pool_settles_promise_in_the_hub_thread(any_pool: gnotifier.Pool, gates: Gates, outcome: str) -> None:
    gate = gates.new()
    record: list[tuple[str, int]] = []

    def job() -> str:
        record.append(("job", threading.get_ident()))
        pass_gate(gate)
        if outcome == "error":
            raise ValueError("rejected")
        return "resolved"

    promise = any_pool.work(job)
    promise.rawlink(lambda p: record.append(("notified", threading.get_ident())))
    wait_until(lambda: len(record) == 1, what="the job to start")
    gate.set()
    wait_until(lambda: len(record) == 2, what="the promise to notify")
    main = threading.get_ident()
    assert [(what, ident == main) for what, ident in record] == [("job", False), ("notified", True)]
    assert (promise.exception is None) is (outcome == "value")


@pytest.mark.parametrize(
    "observe",
    [
        lambda p: observe_by_get(p),
        lambda p: p.exception,
        lambda p: p.catch(lambda exc: None),
        lambda p: p.then(None, lambda exc: None),
    ],
    ids=["get", "exception", "catch", "then"],
)
def test_work_observed_error_is_never_reported(
    hub_errors: list[Any], observe: Callable[[gnotifier.Promise[Any]], Any]
) -> None:
    promise = gnotifier.work(failing_job, ValueError("seen"))
    observe(promise)
    wait_until(promise.ready, what="the job to fail")
    del promise
    gc.collect()
    # A report queued from __del__ would reach the hub before the probe's result.
    probe = gnotifier.work(lambda: "probe")
    assert probe.get(timeout=WAIT) == "probe"
    assert hub_errors == []


def test_work_unobserved_error_is_reported_once_when_collected(hub_errors: list[Any]) -> None:
    # The counterpart of the test above: the hub_errors fixture does see reports.
    error = ValueError("nobody looked")
    promise = gnotifier.work(failing_job, error)
    wait_until(promise.ready, what="the job to fail")
    del promise
    gc.collect()
    wait_until(lambda: len(hub_errors) > 0, what="the unobserved error to be reported")
    gc.collect()
    probe = gnotifier.work(lambda: "probe")
    assert probe.get(timeout=WAIT) == "probe"
    assert [(type_, value) for _, type_, value in hub_errors] == [(ValueError, error)]


def test_work_keeps_hub_alive_until_job_finished() -> None:
    record: list[str] = []

    def slow_job() -> None:
        time.sleep(0.2)  # a slow job; nothing else keeps the hub busy
        record.append("job finished")

    promise = gnotifier.work(slow_job)
    gevent.wait()
    record.append(("wait returned", promise.ready()))  # type: ignore[arg-type]
    assert record == ["job finished", ("wait returned", True)]


def test_work_no_loop_exit_for_greenlet_waiting_on_slow_job() -> None:
    def slow_job() -> str:
        time.sleep(0.2)
        return "slow value"

    promise = gnotifier.work(slow_job)
    waiter = gevent.spawn(promise.get)
    outcome: list[Any] = []
    try:
        # The main greenlet waits too, with no timer of its own: with nothing
        # ref'd the hub would throw LoopExit at it.
        outcome.append(("joined", waiter.get()))
    except LoopExit as exc:  # pragma: no cover - the failure being tested for
        outcome.append(("LoopExit", str(exc)))
    assert outcome == [("joined", "slow value")]


@pytest.mark.parametrize("fn", ["x", None, 42], ids=["str", "None", "int"])
def test_work_rejects_non_callable(fn: Any) -> None:
    with pytest.raises(TypeError):
        gnotifier.work(fn)


@pytest.mark.parametrize("fn", ["x", None], ids=["str", "None"])
def test_pool_work_rejects_non_callable(make_pool: Callable[..., gnotifier.Pool], fn: Any) -> None:
    pool = make_pool(size=1)
    with pytest.raises(TypeError):
        pool.work(fn)
    assert pool.stats() == {"pending": 0, "running": 0, "completed": 0, "failed": 0, "cancelled": 0, "threads": 0}


# -- §5 pools ------------------------------------------------------------------


def test_pool_runs_at_most_size_jobs_at_once(make_pool: Callable[..., gnotifier.Pool], gates: Gates) -> None:
    pool = make_pool(size=2)
    gate = gates.new()
    lock = threading.Lock()
    state = {"running": 0, "peak": 0}
    started: list[int] = []

    def job(n: int) -> int:
        with lock:
            state["running"] += 1
            state["peak"] = max(state["peak"], state["running"])
            started.append(n)
        try:
            pass_gate(gate)
        finally:
            with lock:
                state["running"] -= 1
        return n

    promises = [pool.work(job, n) for n in range(4)]
    submitted = [p.ready() for p in promises]  # the submitter was not blocked
    wait_until(lambda: len(started) == 2, what="two jobs to start")
    with lock:
        while_gated = (sorted(started), state["running"])
    stats = pool.stats()
    gate.set()
    assert gnotifier.Promise.all(promises).get(timeout=WAIT) == [0, 1, 2, 3]
    assert submitted == [False] * 4
    assert while_gated == ([0, 1], 2)
    assert (stats["running"], stats["pending"]) == (2, 2)
    assert (state["peak"], sorted(started)) == (2, [0, 1, 2, 3])


def test_pool_queued_jobs_do_not_block_the_submitting_greenlet(
    make_pool: Callable[..., gnotifier.Pool], gates: Gates
) -> None:
    pool = make_pool(size=1)
    gate = gates.new()
    record: list[Any] = []

    def submitter() -> list[gnotifier.Promise[Any]]:
        promises = [pool.work(pass_gate, gate) for _ in range(5)]
        record.append(("submitted", [p.ready() for p in promises]))
        return promises

    greenlet = gevent.spawn(submitter)
    greenlet.join(timeout=WAIT)
    record.append(("greenlet done", greenlet.dead))
    gate.set()
    assert gnotifier.Promise.all(greenlet.value).get(timeout=WAIT) == [None] * 5
    assert record == [("submitted", [False] * 5), ("greenlet done", True)]


def test_pool_map_keeps_input_order(make_pool: Callable[..., gnotifier.Pool], gates: Gates) -> None:
    # Job n waits for job n+1 to finish, so they finish in reverse order.
    pool = make_pool(size=4)
    finished = [gates.new() for _ in range(4)]
    order: list[int] = []

    def job(n: int) -> int:
        if n < 3:
            pass_gate(finished[n + 1], f"job {n + 1}")
        order.append(n)
        finished[n].set()
        return n * 10

    assert pool.map(job, range(4)).get(timeout=WAIT) == [0, 10, 20, 30]
    assert order == [3, 2, 1, 0]


@pytest.mark.parametrize("items", [[], (x for x in "abc")], ids=["empty", "generator"])
def test_pool_map_takes_any_iterable(make_pool: Callable[..., gnotifier.Pool], items: Any) -> None:
    expected = [] if isinstance(items, list) else ["A", "B", "C"]
    assert make_pool(size=2).map(str.upper, items).get(timeout=WAIT) == expected


def test_pool_stats_add_up_to_accepted_jobs(make_pool: Callable[..., gnotifier.Pool], gates: Gates) -> None:
    pool = make_pool(size=1)
    gate, started = gates.new(), threading.Event()
    snapshots: list[tuple[dict[str, int], bool]] = []

    def blocker() -> str:
        started.set()
        pass_gate(gate)
        return "a"

    def snapshot(accepted: int, with_threads: bool = True) -> None:
        stats = pool.stats()
        if not with_threads:
            del stats["threads"]  # idle threads linger a while; not the point here
        snapshots.append((stats, stats_add_up(pool.stats(), accepted)))

    snapshot(0)
    a = pool.work(blocker)
    wait_until(started.is_set, what="the first job to start")
    snapshot(1)
    b = pool.work(failing_job, ValueError("b fails"))
    c = pool.work(str, "c")
    d = pool.work(str, "d")
    snapshot(4)
    cancelled = d.cancel()
    snapshot(4)
    gate.set()
    wait_until(lambda: a.ready() and b.ready() and c.ready(), what="the jobs to settle")
    snapshot(4, with_threads=False)
    outcomes = [a.get(), type(b.exception), c.get(), type(d.exception)]

    def stats(pending: int, running: int, completed: int, failed: int, cancelled: int) -> dict[str, int]:
        return {
            "pending": pending,
            "running": running,
            "completed": completed,
            "failed": failed,
            "cancelled": cancelled,
        }

    assert snapshots == [
        ({**stats(0, 0, 0, 0, 0), "threads": 0}, True),
        ({**stats(0, 1, 0, 0, 0), "threads": 1}, True),
        ({**stats(3, 1, 0, 0, 0), "threads": 1}, True),
        ({**stats(2, 1, 0, 0, 1), "threads": 1}, True),
        (stats(0, 0, 2, 1, 1), True),
    ]
    assert (cancelled, outcomes) == (True, ["a", ValueError, "c", gnotifier.Cancelled])


def test_pool_cancel_queued_job_never_runs(make_pool: Callable[..., gnotifier.Pool], gates: Gates) -> None:
    pool = make_pool(size=1)
    job = FirstJobBlocks(gates)
    gate, started, ran = job.gate, job.started, job.ran

    a = pool.work(job, "a")
    wait_until(started.is_set, what="job a to start")
    b, c = pool.work(job, "b"), pool.work(job, "c")
    record: list[Any] = [("cancel b", b.cancel()), ("b ready", b.ready())]
    with pytest.raises(gnotifier.Cancelled) as info:
        b.get(timeout=0)
    record.append(("b rejected", type(info.value)))
    gate.set()
    # c was queued behind b on the one thread: once c ran, b had its chance.
    record.append(("values", a.get(timeout=WAIT), c.get(timeout=WAIT)))
    record.append(("cancel b again", b.cancel()))
    assert record == [
        ("cancel b", True),
        ("b ready", True),
        ("b rejected", gnotifier.Cancelled),
        ("values", "a", "c"),
        ("cancel b again", False),
    ]
    assert ran == ["a", "c"]


def test_work_cancel_queued_job_on_default_pool(gates: Gates) -> None:
    # Fill every default worker so the next job queues.
    pool = gnotifier.default_pool()
    gate = gates.new()
    lock = threading.Lock()
    started: list[int] = []

    def blocker(n: int) -> int:
        with lock:
            started.append(n)
        pass_gate(gate)
        return n

    blockers = [gnotifier.work(blocker, n) for n in range(64)]
    wait_until(lambda: pool.stats()["pending"] > 0 and pool.stats()["running"] > 0, what="the default pool to fill")
    ran: list[str] = []
    queued = gnotifier.work(ran.append, "queued job")
    record = [queued.cancel(), type(queued.exception)]
    gate.set()
    assert gnotifier.Promise.all(blockers).get(timeout=WAIT) == list(range(64))
    assert (record, ran) == ([True, gnotifier.Cancelled], [])


def test_pool_cancel_running_job_requests_cooperative_cancellation(
    make_pool: Callable[..., gnotifier.Pool], gates: Gates
) -> None:
    pool = make_pool(size=1)
    gate, started = gates.new(), threading.Event()
    record: list[Any] = []
    raised: list[BaseException] = []

    def job() -> str:
        gnotifier.check_cancelled()
        record.append("first check passed")
        started.set()
        pass_gate(gate)
        try:
            gnotifier.check_cancelled()
        except gnotifier.Cancelled as exc:
            record.append("second check raised Cancelled")
            raised.append(exc)
            raise
        record.append("second check passed")
        return "not cancelled"

    promise = pool.work(job)
    wait_until(started.is_set, what="the job to start")
    record.append(("cancel", promise.cancel(), promise.ready()))
    gate.set()
    with pytest.raises(gnotifier.Cancelled) as info:
        promise.get(timeout=WAIT)
    assert record == ["first check passed", ("cancel", False, False), "second check raised Cancelled"]
    assert info.value is raised[0]
    assert pool.stats()["cancelled"] == 1


def test_check_cancelled_outside_a_job_does_nothing() -> None:
    assert gnotifier.check_cancelled() is None


def test_pool_shutdown_waits_for_queued_and_running_jobs(
    make_pool: Callable[..., gnotifier.Pool], gates: Gates
) -> None:
    pool = make_pool(size=1)
    gate, started = gates.new(), threading.Event()
    record: list[Any] = []

    def job(name: str) -> str:
        if name == "a":
            started.set()
            pass_gate(gate)
        record.append(f"{name} ran")
        return name

    promises = [pool.work(job, name) for name in "abc"]
    wait_until(started.is_set, what="job a to start")

    def shut_down() -> None:
        pool.shutdown(wait=True)
        record.append(("shutdown returned", [p.ready() for p in promises]))

    closer = gevent.spawn(shut_down)
    gevent.sleep(0)  # the closer runs until it blocks in shutdown()
    record.append("opening the gate")
    gate.set()
    closer.get(timeout=WAIT)
    assert record == ["opening the gate", "a ran", "b ran", "c ran", ("shutdown returned", [True, True, True])]
    assert [p.get() for p in promises] == ["a", "b", "c"]


@pytest.mark.parametrize("wait", [False, True], ids=["no-wait", "wait"])
def test_pool_shutdown_cancel_pending_rejects_queued_jobs(
    make_pool: Callable[..., gnotifier.Pool], gates: Gates, wait: bool
) -> None:
    pool = make_pool(size=1)
    job = FirstJobBlocks(gates)
    gate, started, ran = job.gate, job.started, job.ran

    a, b, c = (pool.work(job, name) for name in "abc")
    wait_until(started.is_set, what="job a to start")
    record: list[Any] = []

    def shut_down() -> None:
        pool.shutdown(wait=wait, cancel_pending=True)
        record.append(("shutdown returned", a.ready()))

    closer = gevent.spawn(shut_down)
    wait_until(lambda: b.ready() and c.ready(), what="queued jobs to be rejected")
    record.append(("queued rejected", type(b.exception), type(c.exception), a.ready()))
    gate.set()
    closer.get(timeout=WAIT)
    record.append(("a", a.get(timeout=WAIT)))
    rejected = ("queued rejected", gnotifier.Cancelled, gnotifier.Cancelled, False)
    if wait:  # shutdown() returned once a had finished
        assert record == [rejected, ("shutdown returned", True), ("a", "a")]
    else:  # shutdown() returned at once, a still running
        assert record == [("shutdown returned", False), rejected, ("a", "a")]
    assert ran == ["a"]
    stats = pool.stats()
    del stats["threads"]
    assert stats == {"pending": 0, "running": 0, "completed": 1, "failed": 0, "cancelled": 2}


@pytest.mark.parametrize("kind", ["own-threads", "executor"])
@pytest.mark.parametrize("method", ["work", "map"])
def test_pool_submit_after_shutdown_raises_pool_closed(
    request: pytest.FixtureRequest, make_pool: Callable[..., gnotifier.Pool], kind: str, method: str
) -> None:
    pool = make_pool(size=1) if kind == "own-threads" else make_pool(executor=request.getfixturevalue("executor"))
    assert pool.work(str, 1).get(timeout=WAIT) == "1"
    pool.shutdown()
    with pytest.raises(gnotifier.PoolClosed):
        if method == "work":
            pool.work(str, 2)
        else:
            pool.map(str, [2, 3])
    assert (pool.closed, pool.stats()["completed"]) == (True, 1)


def test_pool_max_pending_raises_pool_full_in_hub_context(
    make_pool: Callable[..., gnotifier.Pool], gates: Gates
) -> None:
    pool = make_pool(size=1, max_pending=1)
    gate, started = gates.new(), threading.Event()
    record: list[Any] = []

    def blocker() -> str:
        started.set()
        pass_gate(gate)
        return "a"

    def submit_in_hub(label: str) -> None:
        assert gevent.getcurrent() is gevent.get_hub()
        try:
            promise = pool.work(str, label)
        except gnotifier.PoolFull:
            record.append((label, "PoolFull"))
        else:
            record.append((label, type(promise)))
            promise.rawlink(lambda p: record.append((label, p.get())))

    a = pool.work(blocker)
    wait_until(started.is_set, what="the first job to start")
    b = pool.work(str, "b")  # takes the one pending slot (waits for a to give it back)
    gevent.get_hub().loop.run_callback(submit_in_hub, "full")
    wait_until(lambda: len(record) == 1, what="the hub callback")
    gate.set()
    assert (a.get(timeout=WAIT), b.get(timeout=WAIT)) == ("a", "b")
    gevent.get_hub().loop.run_callback(submit_in_hub, "room")
    wait_until(lambda: len(record) == 3, what="the second hub callback and its job")
    assert record == [("full", "PoolFull"), ("room", gnotifier.Promise), ("room", "room")]


def test_pool_max_pending_greenlet_waits_for_room(make_pool: Callable[..., gnotifier.Pool], gates: Gates) -> None:
    pool = make_pool(size=1, max_pending=1)
    gate, started = gates.new(), threading.Event()
    record: list[Any] = []

    def blocker() -> str:
        started.set()
        pass_gate(gate)
        return "a"

    a = pool.work(blocker)
    wait_until(started.is_set, what="the first job to start")
    b = pool.work(str, "b")

    def submit_c() -> Any:
        record.append("submitting c")
        promise = pool.work(str, "c")
        record.append(("c accepted", a.ready()))
        return promise

    submitter = gevent.spawn(submit_c)
    wait_until(lambda: len(record) >= 1, what="the submitter to start")
    # The main greenlet still runs while the submitter waits for room.
    record.append(("pending", pool.stats()["pending"]))
    gate.set()
    c = submitter.get(timeout=WAIT)
    assert [a.get(timeout=WAIT), b.get(timeout=WAIT), c.get(timeout=WAIT)] == ["a", "b", "c"]
    # Room came when b started, so a had finished by then.
    assert record == ["submitting c", ("pending", 1), ("c accepted", True)]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"size": 0}, ValueError),
        ({"size": -1}, ValueError),
        ({"size": 2, "executor": "ThreadPoolExecutor"}, ValueError),
        ({"executor": object()}, TypeError),
        ({"max_pending": 0}, ValueError),
        ({"max_pending": -3}, ValueError),
        ({"size": "2"}, TypeError),
        ({"size": 1.5}, TypeError),
    ],
    ids=[
        "size-0",
        "size-negative",
        "size-and-executor",
        "executor-object",
        "max_pending-0",
        "max_pending-negative",
        "size-str",
        "size-float",
    ],
)
def test_pool_rejects_bad_arguments(
    request: pytest.FixtureRequest, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    if kwargs.get("executor") == "ThreadPoolExecutor":
        kwargs = {**kwargs, "executor": request.getfixturevalue("executor")}
    with pytest.raises(error):
        pool = gnotifier.Pool(**kwargs)
        pool.shutdown()  # pragma: no cover - only when the check is missing


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


@pytest.mark.parametrize(
    ("make", "prefix"), [("default", "gnotifier"), ("named", "crunch")], ids=["default-pool", "named-pool"]
)
def test_pool_names_worker_threads(make_pool: Callable[..., gnotifier.Pool], make: str, prefix: str) -> None:
    pool = gnotifier.default_pool() if make == "default" else make_pool(size=2, name="crunch")

    def names() -> tuple[str, str | None]:
        name = threading.current_thread().name
        comm = f"/proc/self/task/{threading.get_native_id()}/comm"
        os_name = open(comm).read().strip() if os.path.exists(comm) else None
        return name, os_name

    name, os_name = pool.work(names).get(timeout=WAIT)
    assert re.fullmatch(rf"{prefix}-\d+", name), name
    # The OS-level name too where the platform allows (Linux: 15 bytes at most).
    assert os_name in (None, name[:15])


FORK_CHILD = """\
import json, os, sys, threading
import gevent, gnotifier

fork = os.fork if sys.argv[1] == "os.fork" else gevent.fork
pool = gnotifier.Pool(size=1)
gate, started = threading.Event(), threading.Event()
pipe_out, pipe_in = os.pipe()  # every process writes what ran where
parent = os.getpid()

def job(name):
    where = "parent" if os.getpid() == parent else "child"
    os.write(pipe_in, f"{name} ran in {where}\\n".encode())
    if name == "a":
        started.set()
        gate.wait(10)
    return name

a = pool.work(job, "a")
started.wait(10)
b = pool.work(job, "b")  # queued behind a when the process forks
pid = fork()
if pid == 0:
    try:
        # c queues behind anything the parent left: had b survived, it would run first.
        c = pool.work(job, "c").get(timeout=10)
        own = gnotifier.work(os.getpid).get(timeout=10) == os.getpid()
        os.write(pipe_in, f"child got {c}, default pool in child: {own}\\n".encode())
    finally:
        os._exit(0)
_, status = os.waitpid(pid, 0)
gate.set()
values = [a.get(timeout=10), b.get(timeout=10)]
pool.shutdown()
os.close(pipe_in)
lines = b""
while chunk := os.read(pipe_out, 4096):
    lines += chunk
print(json.dumps({"lines": lines.decode().splitlines(), "child_status": status, "parent_values": values}))
"""


@pytest.mark.parametrize("fork", ["os.fork", "gevent.fork"])
def test_pool_after_fork_child_starts_fresh_and_parent_jobs_run_once(fork: str) -> None:
    # In a subprocess: forking the test runner itself would fork its threads' state too.
    result = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", FORK_CHILD, fork],
        timeout=60,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert (result.returncode, result.stderr) == (0, ""), f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert json.loads(result.stdout) == {
        "lines": ["a ran in parent", "c ran in child", "child got c, default pool in child: True", "b ran in parent"],
        "child_status": 0,
        "parent_values": ["a", "b"],
    }


def test_work_settles_even_when_calling_the_job_fails_in_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: work(f, fn=1) made calling the job itself raise in the
    # worker loop (a keyword clash); the loop died, the promise never
    # settled and its hold kept the hub alive forever.
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("calling the job failed")

    monkeypatch.setattr(gnotifier._worker, "capture", broken)
    promise = gnotifier.work(int, "1")
    with pytest.raises(TypeError, match="calling the job failed"):
        promise.get(timeout=WAIT)


EXIT_MID_JOB = """\
import sys, threading, time
if sys.argv[2] == "patched":
    from gevent import monkey
    monkey.patch_all()
import gnotifier
started = threading.Event()

def slow():
    started.set()
    time.sleep(0.3)  # a native call, still under way when the script ends
    print("job finished", flush=True)

pool = gnotifier.Pool(size=1) if sys.argv[1] == "own-pool" else gnotifier.default_pool()
pool.work(slow)
if sys.argv[1] == "own-pool":
    pool.work(print, "never runs")  # queued behind slow
    pool.work(print, "never runs")
assert started.wait(10)
print("script ends", flush=True)
"""


@pytest.mark.parametrize("patching", ["plain", "patched"])
@pytest.mark.parametrize("pool", ["own-pool", "default-pool"])
def test_exit_waits_for_running_jobs_and_drops_queued_ones_with_one_warning(pool: str, patching: str) -> None:
    # Regression: the interpreter tore worker threads down in the middle of
    # their job (inside C++ code such as bcrypt: "FATAL: exception not
    # rethrown", exit code 134).
    result = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", EXIT_MID_JOB, pool, patching],
        timeout=60,
        capture_output=True,
        text=True,
    )
    warned = [line for line in result.stderr.splitlines() if "RuntimeWarning" in line]
    # The script never ran its hub either: the warning says so.
    expected = ["2 queued job(s) never started"] if pool == "own-pool" else ["a hub that never ran"]
    assert (result.returncode, result.stdout.splitlines()) == (0, ["script ends", "job finished"]), result.stderr
    assert len(warned) == 1 and all(part in warned[0] for part in [*expected, "gnotifier.run(main)"]), warned


def _live_threadpools() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, ThreadPool))


@pytest.mark.parametrize("kind", ["threads", "executor"])
def test_pool_used_and_shut_down_is_freed_with_its_threads(kind: str) -> None:
    # Regression: the close callback a pool registers with its hub held the
    # pool, its crew and its own ThreadPool for as long as the hub lived.
    pools: weakref.WeakSet[gnotifier.Pool] = weakref.WeakSet()
    threadpools_before = _live_threadpools()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        for _ in range(20):
            pool = gnotifier.Pool(size=2) if kind == "threads" else gnotifier.Pool(executor=executor)
            pools.add(pool)
            assert pool.work(int, "7").get(timeout=WAIT) == 7
            pool.shutdown(timeout=WAIT)
        del pool
        wait_until(
            lambda: _live_threadpools() <= threadpools_before and len(pools) == 0,
            what="the shut-down pools and their threadpools to be freed",
        )


# -- shutdown timeout, executors, map errors, idle threads, hub destroy ---------------


def test_pool_shutdown_timeout_raises_timeout_error_and_jobs_still_settle(
    make_pool: Callable[..., gnotifier.Pool], gates: Gates
) -> None:
    # Two jobs block the two threads, a third waits behind them: the message
    # must tell running (2) from pending (1).
    pool = make_pool(size=2)
    gate = gates.new()
    started = threading.Barrier(3, timeout=WAIT)

    def blocker(name: str) -> str:
        started.wait()
        pass_gate(gate)
        return name

    a, b = pool.work(blocker, "a"), pool.work(blocker, "b")
    c = pool.work(str, "c")
    started.wait()
    with pytest.raises(Exception) as info:
        pool.shutdown(wait=True, timeout=0.05)
    record: list[Any] = [("raised", type(info.value)), ("ready", a.ready(), b.ready(), c.ready())]
    gate.set()
    record.append(("values", a.get(timeout=WAIT), b.get(timeout=WAIT), c.get(timeout=WAIT)))
    assert record == [("raised", TimeoutError), ("ready", False, False, False), ("values", "a", "b", "c")]
    assert re.search(r"\b2 jobs running and 1 pending\b", str(info.value)), str(info.value)
    assert pool.closed


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
    ex = concurrent.futures.ProcessPoolExecutor(2)
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


def test_pool_map_rejects_with_the_first_error_to_occur(make_pool: Callable[..., gnotifier.Pool], gates: Gates) -> None:
    # Item 1 fails at once; items 0 and 2 block until the map has rejected,
    # and item 0 then fails too: the map keeps item 1's error, not the first
    # in input order.
    pool = make_pool(size=3)
    gate = gates.new()
    early, late = ValueError("item 1, at once"), ValueError("item 0, later")

    def job(n: int) -> int:
        if n == 1:
            raise early
        pass_gate(gate)
        if n == 0:
            raise late
        return n

    mapped = pool.map(job, [0, 1, 2])
    with pytest.raises(ValueError) as info:
        mapped.get(timeout=WAIT)
    record: list[Any] = [("map rejected", info.value is early, gate.is_set())]
    gate.set()
    wait_until(lambda: pool.stats()["failed"] == 2 and pool.stats()["completed"] == 1, what="items 0 and 2 to settle")
    record.append(("still", mapped.exception is early))
    assert record == [("map rejected", True, False), ("still", True)]


def test_pool_idle_threads_exit_and_a_later_job_starts_a_new_one(
    monkeypatch: pytest.MonkeyPatch, make_pool: Callable[..., gnotifier.Pool]
) -> None:
    monkeypatch.setattr(gnotifier._pool, "IDLE_TIMEOUT", 0.2)
    pool = make_pool(size=2, name="idle")
    both = threading.Barrier(2, timeout=WAIT)  # two jobs at once: two threads

    def job() -> str:
        both.wait()
        return threading.current_thread().name

    first = sorted(pool.map(lambda _: job(), range(2)).get(timeout=WAIT))
    record: list[Any] = [("first", first)]
    wait_until(lambda: pool.stats()["threads"] == 0, timeout=2.0, what="the idle threads to exit")
    record.append(("idle threads", pool.stats()["threads"]))
    later = pool.work(lambda: threading.current_thread().name)
    record.append(("threads after submit", pool.stats()["threads"]))
    record.append(("later", later.get(timeout=WAIT)))
    assert record == [
        ("first", ["idle-1", "idle-2"]),
        ("idle threads", 0),
        ("threads after submit", 1),
        ("later", "idle-3"),
    ]


def test_pool_max_pending_waiting_greenlet_gets_pool_closed_on_shutdown(
    make_pool: Callable[..., gnotifier.Pool], gates: Gates
) -> None:
    pool = make_pool(size=1, max_pending=1)
    gate, started = gates.new(), threading.Event()
    record: list[Any] = []

    def blocker() -> str:
        started.set()
        pass_gate(gate)
        return "a"

    a = pool.work(blocker)
    wait_until(started.is_set, what="the first job to start")
    b = pool.work(str, "b")  # takes the one pending slot

    def submit_c() -> None:
        record.append("submitting c")
        try:
            pool.work(str, "c")
        except gnotifier.PoolClosed:
            record.append(("c refused", pool.closed))
        else:
            record.append("c accepted")

    submitter = gevent.spawn(submit_c)
    wait_until(lambda: len(record) == 1, what="the submitter to wait for room")
    record.append(("shutting down", pool.stats()["pending"]))
    pool.shutdown(wait=False, cancel_pending=True)
    submitter.join(timeout=WAIT)
    record.append(("submitter done", submitter.dead, a.ready(), type(b.exception)))
    gate.set()
    record.append(("a", a.get(timeout=WAIT)))
    assert record == [
        "submitting c",
        ("shutting down", 1),
        ("c refused", True),
        ("submitter done", True, False, gnotifier.Cancelled),
        ("a", "a"),
    ]
    stats = pool.stats()
    del stats["threads"]
    assert stats == {"pending": 0, "running": 0, "completed": 1, "failed": 0, "cancelled": 1}


DESTROY_DEADLINE = 2.0  # seconds hub.destroy() gets; it must not wait for running jobs


@pytest.mark.parametrize("busy", ["own-threads", "default"])
def test_pool_hub_destroy_returns_and_rejects_unstarted_jobs(gates: Gates, busy: str) -> None:
    # A thread with its own hub uses a Pool(size=1) and the default pool (cut
    # to one worker); the ``busy`` one has a job running and one queued when
    # the thread destroys its hub. destroy() rejects the queued job at once.
    # A pool's own threads are not waited for; the default pool's run on
    # hub.threadpool, which gevent's destroy() waits for (as for its own
    # tasks), so there destroy() returns once the running job is let go.
    gate, started, destroyed = gates.new(), threading.Event(), threading.Event()
    ran: list[str] = []
    record: list[Any] = []
    errors: list[BaseException] = []
    busy_pool: list[gnotifier.Pool] = []
    queued_box: list[gnotifier.Promise[Any]] = []

    def blocker() -> str:
        started.set()
        pass_gate(gate)
        return "blocker"

    def owner() -> None:
        try:
            hub = gevent.get_hub()
            hub.threadpool.maxsize = 2  # the default pool keeps one for gevent: one worker
            own = gnotifier.Pool(size=1, name="doomed")
            default = gnotifier.default_pool()
            pool, other = (own, default) if busy == "own-threads" else (default, own)
            busy_pool.append(pool)
            record.append(("other pool works", other.work(str, 1).get(timeout=WAIT)))
            running = pool.work(blocker)
            queued = pool.work(ran.append, "queued")
            queued_box.append(queued)
            wait_until(started.is_set, what="the blocker to start")
            record.append(("before destroy", running.ready(), queued.ready()))
            hub.destroy(destroy_loop=True)
            destroyed.set()
            record.append(("after destroy", running.ready(), queued.ready(), type(queued.exception), pool.closed))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=owner, name="hub-owner")
    thread.start()
    if busy == "own-threads":
        record.append(("destroy returned", destroyed.wait(DESTROY_DEADLINE)))
    else:
        deadline = time.monotonic() + WAIT
        while not (queued_box and queued_box[0].ready()) and time.monotonic() < deadline:
            time.sleep(0.001)  # polling another thread's promise, with a deadline
        gate.set()
        record.append(("destroy returned", destroyed.wait(WAIT)))
    gate.set()
    thread.join(WAIT)
    record.append(("owner thread done", not thread.is_alive()))
    # The busy pool's one worker takes the queued job (claimed by the
    # cancellation, so skipped), then its stop: no thread left means it passed.
    wait_until(lambda: busy_pool[0].stats()["threads"] == 0, what="the busy pool's worker to exit")
    assert errors == []
    assert record == [
        ("other pool works", "1"),
        ("before destroy", False, False),
        ("after destroy", False, True, gnotifier.Cancelled, True),
        ("destroy returned", True),
        ("owner thread done", True),
    ]
    assert ran == []
