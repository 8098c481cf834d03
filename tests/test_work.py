"""work(): jobs on the default pool's real threads, promises settled in the hub."""

from __future__ import annotations

import contextvars
import gc
import threading
import time
import traceback
import weakref
from typing import Any, Callable

import gevent
import pytest
from gevent.exceptions import LoopExit
from helpers import (
    WAIT,
    Gates,
    Interrupt,
    failing_job,
    pass_gate,
    wait_until,
)

import gnotifier


def identity(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


def observe_by_get(promise: gnotifier.Promise[Any]) -> None:
    with pytest.raises(ValueError):
        promise.get(timeout=WAIT)


# -- submitting and running ----------------------------------------------------------------


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


@pytest.mark.parametrize("fn", ["x", None, 42], ids=["str", "None", "int"])
def test_work_rejects_non_callable(fn: Any) -> None:
    with pytest.raises(TypeError):
        gnotifier.work(fn)


def test_work_does_not_keep_its_callable_alive_once_the_job_settled() -> None:
    # The check of a callable submitted over and over is remembered until
    # the hub's next batch of calls from threads, and no longer.
    class Target:
        def hit(self) -> int:
            return 1

    targets = [Target()]
    alive = weakref.ref(targets[0])
    assert gnotifier.work(targets[0].hit).get(timeout=WAIT) == 1
    assert gnotifier.work(targets[0].hit).get(timeout=WAIT) == 1
    targets.clear()
    gevent.sleep(0)  # the settling batch has ended
    assert alive() is None, "a settled job's callable is still held"


# -- errors --------------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    "observe",
    [
        lambda p: observe_by_get(p),
        lambda p: (p.wait(timeout=WAIT), p.exception),  # read once it failed
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


@pytest.mark.parametrize(
    "look",
    [
        lambda p: p.exception,
        lambda p: p.get(block=False),
        lambda p: p.get(timeout=0),
        lambda p: p.result(timeout=0),
    ],
    ids=["exception", "get-no-block", "get-timeout", "result-timeout"],
)
def test_a_look_before_the_error_came_does_not_keep_it_from_being_reported(
    hub_errors: list[Any], look: Callable[[gnotifier.Promise[Any]], Any]
) -> None:
    gate = threading.Event()
    error = ValueError("came after the look")
    promise = gnotifier.work(lambda: (gate.wait(WAIT), failing_job(error)))
    try:
        look(promise)  # pending: sees None, or times out
    except (gevent.Timeout, TimeoutError):
        pass
    gate.set()
    wait_until(promise.ready, what="the job to fail")
    del promise
    gc.collect()
    wait_until(lambda: len(hub_errors) > 0, what="the unobserved error to be reported")
    assert [value for _, _, value in hub_errors] == [error]


# -- context variables ---------------------------------------------------------------------


VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


def test_work_job_sees_a_copy_of_the_callers_contextvars(any_pool: gnotifier.Pool) -> None:
    token = VAR.set("caller")
    try:
        record: list[tuple[str, str]] = []

        def job() -> None:
            record.append(("job saw", VAR.get()))
            VAR.set("job")
            record.append(("job set", VAR.get()))

        any_pool.work(job).get(timeout=WAIT)
        record.append(("caller after", VAR.get()))
        # The next job gets a fresh copy: the first job's change did not stick.
        any_pool.work(job).get(timeout=WAIT)
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


@pytest.mark.parametrize("caller", ["empty context", "context with a variable"])
def test_work_a_jobs_contextvars_never_reach_the_next_job_on_its_thread(caller: str) -> None:
    # One worker thread runs both jobs. A greenlet that never set a variable
    # has an empty context, which its jobs share in a thread of their own:
    # what one job sets must still not reach the next.
    other: contextvars.ContextVar[str] = contextvars.ContextVar("other", default="unset")
    pool = gnotifier.Pool(size=1)

    def submit() -> list[str]:
        if caller != "empty context":
            other.set("caller")

        def job() -> str:
            seen = VAR.get()
            VAR.set("set by a job")
            return seen

        return [pool.work(job).get(timeout=WAIT), pool.work(job).get(timeout=WAIT), VAR.get()]

    try:
        seen = gevent.spawn(submit).get(timeout=WAIT)
    finally:
        pool.shutdown(wait=True, timeout=WAIT)
    assert seen == ["unset", "unset", "unset"]


# -- keeping the hub alive -----------------------------------------------------------------


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


# -- cancel --------------------------------------------------------------------------------


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
