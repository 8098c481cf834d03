"""Promise: settling, chaining, adoption, cancel, class methods, error reporting (SPEC §4)."""

from __future__ import annotations

import concurrent.futures
import gc
import sys
import threading
import typing
import weakref
from typing import Any, Callable, Iterator

import gevent
import pytest
from conftest import in_hub, later, later_error, reports_after_gc, run_in_a_thread_without_a_hub, wait_until
from gevent.event import AsyncResult

import gnotifier
from gnotifier import AlreadySettled, Cancelled, Promise

if sys.version_info >= (3, 11):
    from builtins import BaseExceptionGroup, ExceptionGroup
else:
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup

DEADLINE = 5.0  # seconds any single get() in these tests may take


class Boom(Exception):
    """A test error; compared by identity."""


class Fatal(BaseException):
    """A BaseException that is not an Exception."""


def _fail(message: str) -> None:
    raise ValueError(message)


def _all_ready(promises: list[Promise[Any]]) -> Callable[[], bool]:
    return lambda: all(promise.ready() for promise in promises)


@pytest.fixture
def executor() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="test-executor") as pool:
        yield pool


# -- an AsyncResult, generic ---------------------------------------------------


def test_promise_is_an_async_result_subclass() -> None:
    assert (issubclass(Promise, AsyncResult), isinstance(Promise(), AsyncResult)) == (True, True)


def test_promise_is_generic_at_runtime() -> None:
    alias = Promise[int]
    promise = alias()
    promise.set(3)
    assert (typing.get_origin(alias), typing.get_args(alias), type(promise), promise.get()) == (
        Promise,
        (int,),
        Promise,
        3,
    )


def test_promise_unsettled_reads_like_an_async_result() -> None:
    promise: Promise[int] = Promise()
    assert (promise.ready(), promise.successful(), promise.value, promise.exception, promise.wait(0.001)) == (
        False,
        False,
        None,
        None,
        None,
    )


def test_promise_resolved_reads_like_an_async_result() -> None:
    promise: Promise[int] = Promise()
    promise.set(5)
    assert (promise.ready(), promise.successful(), promise.value, promise.exception, promise.wait(), promise.get()) == (
        True,
        True,
        5,
        None,
        5,
        5,
    )


def test_promise_rejected_reads_like_an_async_result() -> None:
    error = Boom("rejected")
    promise: Promise[int] = Promise()
    promise.set_exception(error)
    with pytest.raises(Boom) as excinfo:
        promise.get()
    assert (promise.ready(), promise.successful(), promise.value, promise.exception, excinfo.value) == (
        True,
        False,
        None,
        error,
        error,
    )


def test_promise_get_timeout_raises_gevent_timeout() -> None:
    promise: Promise[int] = Promise()
    with pytest.raises(gevent.Timeout):
        promise.get(timeout=0.01)
    with pytest.raises(gevent.Timeout):
        promise.get(block=False)
    assert promise.ready() is False


def test_promise_get_waits_for_another_greenlet_to_settle_it() -> None:
    promise: Promise[str] = Promise()
    record: list[tuple[str, object]] = []

    def settle() -> None:
        record.append(("settle", promise.ready()))
        promise.set("done")

    gevent.spawn(settle)
    value = promise.get(timeout=DEADLINE)
    record.append(("got", value))
    assert record == [("settle", False), ("got", "done")]


def test_promise_wait_blocks_until_settled() -> None:
    promise: Promise[str] = Promise()
    gevent.spawn(promise.set, "woken")
    assert promise.wait(timeout=DEADLINE) == "woken"


def test_promise_rawlink_calls_back_with_the_promise_in_the_hub() -> None:
    record: list[tuple[bool, bool]] = []
    promise: Promise[int] = Promise()
    promise.rawlink(lambda source: record.append((source is promise, in_hub())))
    promise.set(1)
    assert record == []
    wait_until(lambda: bool(record), what="the rawlink callback")
    assert record == [(True, True)]


# -- settles once ----------------------------------------------------------------


def _settle_first(how: str, promise: Promise[Any]) -> None:
    if how == "set":
        promise.set("first")
    elif how == "set_exception":
        promise.set_exception(Boom("first"))
    else:  # following another promise that has not settled yet
        promise.set(Promise())


def _settle_again(how: str, promise: Promise[Any]) -> None:
    if how == "set":
        promise.set("second")
    else:
        promise.set_exception(Boom("second"))


@pytest.mark.parametrize("second", ["set", "set_exception"])
@pytest.mark.parametrize("first", ["set", "set_exception", "set-a-pending-promise"])
def test_promise_settles_once(first: str, second: str) -> None:
    promise: Promise[Any] = Promise()
    _settle_first(first, promise)
    with pytest.raises(AlreadySettled):
        _settle_again(second, promise)
    outcome = {
        "set": (True, "first", None),
        "set_exception": (True, None, "first"),
        "set-a-pending-promise": (False, None, None),
    }[first]
    exc = promise.exception
    assert (promise.ready(), promise.value, None if exc is None else str(exc)) == outcome


def test_already_settled_is_a_runtime_error_exported_by_gnotifier() -> None:
    assert (issubclass(AlreadySettled, RuntimeError), "AlreadySettled" in gnotifier.__all__) == (True, True)


# -- following another promise ------------------------------------------------------


def _pending(kind: str) -> AsyncResult:
    return Promise() if kind == "promise" else AsyncResult()


@pytest.mark.parametrize("outcome", ["value", "error"])
@pytest.mark.parametrize("kind", ["promise", "async-result"])
@pytest.mark.parametrize("how", ["set", "resolved"])
def test_promise_resolved_with_an_awaitable_follows_it(how: str, kind: str, outcome: str, hub_errors: list) -> None:
    source = _pending(kind)
    if how == "set":
        follower: Promise[Any] = Promise()
        follower.set(source)
    else:
        follower = Promise.resolved(source)
    record = [("before", follower.ready())]
    error = Boom("source")
    if outcome == "value":
        source.set("source value")
    else:
        source.set_exception(error)
    wait_until(follower.ready, what="the follower to settle")
    record.append(("after", follower.ready()))
    exc = follower.exception
    assert record == [("before", False), ("after", True)]
    assert (follower.value, exc) == (("source value", None) if outcome == "value" else (None, error))
    assert reports_after_gc(hub_errors) == []


def test_promise_follows_a_chain_of_1000_promises() -> None:
    chain: list[Promise[int]] = [Promise() for _ in range(1000)]
    for promise, following in zip(chain, chain[1:]):
        promise.set(following)
    chain[-1].set(42)
    assert chain[0].get(timeout=DEADLINE) == 42
    assert [promise.get(timeout=DEADLINE) for promise in chain] == [42] * 1000


# -- callbacks: later, in the hub, in order ---------------------------------------------

CALLBACK_CASES = [
    pytest.param("then", "value", id="then-on-value"),
    pytest.param("then-on-error", "error", id="then-on-error"),
    pytest.param("catch", "error", id="catch"),
    pytest.param("finally", "value", id="finally-on-value"),
    pytest.param("finally", "error", id="finally-on-error"),
    pytest.param("tap", "value", id="tap"),
]


def _register(method: str, promise: Promise[Any], record: list[tuple[Any, ...]]) -> Promise[Any]:
    if method == "then":
        return promise.then(lambda value: record.append(("then", value, in_hub())))
    if method == "then-on-error":
        return promise.then(None, lambda exc: record.append(("then-on-error", str(exc), in_hub())))
    if method == "catch":
        return promise.catch(lambda exc: record.append(("catch", str(exc), in_hub())))
    if method == "finally":
        return promise.finally_(lambda: record.append(("finally", in_hub())))
    return promise.tap(lambda value: record.append(("tap", value, in_hub())))


def _expected_call(method: str) -> tuple[Any, ...]:
    return {
        "then": ("then", "v", True),
        "then-on-error": ("then-on-error", "e", True),
        "catch": ("catch", "e", True),
        "finally": ("finally", True),
        "tap": ("tap", "v", True),
    }[method]


def _settle(promise: Promise[Any], outcome: str) -> None:
    if outcome == "value":
        promise.set("v")
    else:
        promise.set_exception(Boom("e"))


@pytest.mark.parametrize("already_settled", [True, False], ids=["already-settled", "settled-later"])
@pytest.mark.parametrize(("method", "outcome"), CALLBACK_CASES)
def test_promise_callback_runs_later_in_the_hub(method: str, outcome: str, already_settled: bool) -> None:
    record: list[tuple[Any, ...]] = []
    promise: Promise[Any] = Promise()
    if already_settled:
        _settle(promise, outcome)
    derived = _register(method, promise, record)
    record.append(("registered",))
    if not already_settled:
        _settle(promise, outcome)
        record.append(("settled",))
    wait_until(derived.ready, what="the derived promise")
    derived.exception  # observes a passed-through error
    steps = [("registered",)] if already_settled else [("registered",), ("settled",)]
    assert record == [*steps, _expected_call(method)]


@pytest.mark.parametrize(("method", "outcome"), CALLBACK_CASES)
def test_promise_callback_runs_later_in_a_thread_without_a_hub(method: str, outcome: str) -> None:
    def scenario() -> list[tuple[Any, ...]]:
        record: list[tuple[Any, ...]] = []
        promise: Promise[Any] = Promise()
        _settle(promise, outcome)
        derived = _register(method, promise, record)
        record.append(("registered",))
        wait_until(derived.ready, what="the derived promise")
        derived.exception  # observes a passed-through error
        return record

    assert run_in_a_thread_without_a_hub(scenario) == [("registered",), _expected_call(method)]


@pytest.mark.parametrize("combinator", ["all", "race", "any", "settle"])
def test_promise_combinator_callbacks_run_later_in_a_thread_without_a_hub(combinator: str) -> None:
    def scenario() -> list[tuple[str, bool]]:
        record: list[tuple[str, bool]] = []
        derived = getattr(Promise, combinator)([1]).then(lambda _: record.append(("then", in_hub())))
        record.append(("registered", in_hub()))
        derived.get(timeout=DEADLINE)
        return record

    assert run_in_a_thread_without_a_hub(scenario) == [("registered", False), ("then", True)]


@pytest.mark.parametrize("already_settled", [True, False], ids=["already-settled", "settled-later"])
@pytest.mark.parametrize("outcome", ["value", "error"])
def test_promise_callbacks_run_in_registration_order(outcome: str, already_settled: bool) -> None:
    record: list[tuple[Any, ...]] = []
    promise: Promise[Any] = Promise()
    if already_settled:
        _settle(promise, outcome)
    derived = [
        promise.then(lambda value: record.append(("then", value))),
        promise.catch(lambda exc: record.append(("catch", str(exc)))),
        promise.tap(lambda value: record.append(("tap", value))),
        promise.finally_(lambda: record.append(("finally",))),
        promise.then(None, lambda exc: record.append(("then-on-error", str(exc)))),
        promise.then(lambda value: record.append(("then-again", value))),
    ]
    assert record == []
    if not already_settled:
        _settle(promise, outcome)
    wait_until(lambda: all(d.ready() for d in derived), what="every derived promise")
    for d in derived:
        d.exception  # observes passed-through errors
    if outcome == "value":
        assert record == [("then", "v"), ("tap", "v"), ("finally",), ("then-again", "v")]
    else:
        assert record == [("catch", "e"), ("finally",), ("then-on-error", "e")]


def test_promise_hundred_callbacks_run_in_registration_order() -> None:
    record: list[int] = []
    promise: Promise[int] = Promise()
    derived = [promise.then(lambda value, i=i: record.append(i)) for i in range(100)]
    promise.set(0)
    wait_until(lambda: all(d.ready() for d in derived), what="every derived promise")
    assert record == list(range(100))


# -- forwarding and filtering ---------------------------------------------------------


def test_promise_then_without_on_value_passes_the_value_through() -> None:
    record: list[str] = []
    derived = Promise.resolved("kept").then(None, lambda exc: record.append("on_error"))
    assert (derived.get(timeout=DEADLINE), record) == ("kept", [])


def test_promise_then_without_on_error_passes_the_error_through() -> None:
    record: list[str] = []
    error = Boom("passed")
    derived = Promise.rejected(error).then(lambda value: record.append("on_value"))
    with pytest.raises(Boom) as excinfo:
        derived.get(timeout=DEADLINE)
    assert (excinfo.value, record) == (error, [])


@pytest.mark.parametrize("outcome", ["value", "error"])
def test_promise_then_without_callbacks_passes_the_outcome_through(outcome: str) -> None:
    error = Boom("passed")
    source = Promise.resolved("kept") if outcome == "value" else Promise.rejected(error)
    derived = source.then().then()
    wait_until(derived.ready, what="the derived promise")
    assert (derived.value, derived.exception) == (("kept", None) if outcome == "value" else (None, error))


CATCH_CASES = [
    pytest.param(KeyError("k"), (KeyError,), True, id="matching-type"),
    pytest.param(ValueError("v"), (KeyError,), False, id="other-type-passes"),
    pytest.param(ValueError("v"), (KeyError, ValueError), True, id="one-of-several-types"),
    pytest.param(KeyError("k"), (LookupError,), True, id="subclass-of-type"),
    pytest.param(Boom("b"), (), True, id="default-catches-exception"),
    pytest.param(Fatal("f"), (), False, id="default-lets-base-exception-pass"),
    pytest.param(Fatal("f"), (Fatal,), True, id="base-exception-by-type"),
]


@pytest.mark.parametrize(("error", "exc_types", "caught"), CATCH_CASES)
def test_promise_catch_filters_by_type(error: BaseException, exc_types: tuple[type, ...], caught: bool) -> None:
    record: list[BaseException] = []

    def handle(exc: BaseException) -> str:
        record.append(exc)
        return "handled"

    derived = Promise.rejected(error).catch(handle, *exc_types)
    wait_until(derived.ready, what="the derived promise")
    if caught:
        assert (record, derived.value, derived.exception) == ([error], "handled", None)
    else:
        assert (record, derived.value, derived.exception) == ([], None, error)


def test_promise_catch_passes_a_value_through() -> None:
    record: list[BaseException] = []
    assert Promise.resolved(8).catch(record.append).get(timeout=DEADLINE) == 8
    assert record == []


# -- tap ------------------------------------------------------------------------------


def test_promise_tap_passes_the_value_through_unchanged() -> None:
    record: list[tuple[str, Any]] = []
    value = ["the", "value"]

    def look(seen: list[str]) -> str:
        record.append(("tap", seen))
        return "ignored"

    derived = Promise.resolved(value).tap(look).then(lambda seen: record.append(("then", seen)) or seen)
    assert derived.get(timeout=DEADLINE) is value
    assert record == [("tap", value), ("then", value)]


def test_promise_tap_waits_for_the_promise_it_returns() -> None:
    record: list[tuple[str, Any]] = []
    inner: Promise[str] = Promise()

    def look(value: int) -> Promise[str]:
        record.append(("tap", value))
        return inner

    derived = Promise.resolved(1).tap(look)
    wait_until(lambda: bool(record), what="the tap callback")
    record.append(("derived ready", derived.ready()))
    inner.set("inner value is ignored")
    assert derived.get(timeout=DEADLINE) == 1
    assert record == [("tap", 1), ("derived ready", False)]


@pytest.mark.parametrize("how", ["raises", "returns-rejected-promise"])
def test_promise_tap_error_rejects(how: str) -> None:
    error = Boom("tap failed")

    def look(value: int) -> Any:
        if how == "raises":
            raise error
        return later_error(error)

    derived = Promise.resolved(1).tap(look)
    with pytest.raises(Boom) as excinfo:
        derived.get(timeout=DEADLINE)
    assert excinfo.value is error


def test_promise_tap_skips_an_error() -> None:
    record: list[object] = []
    error = Boom("source")
    derived = Promise.rejected(error).tap(record.append)
    with pytest.raises(Boom) as excinfo:
        derived.get(timeout=DEADLINE)
    assert (excinfo.value, record) == (error, [])


# -- finally_ ---------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["value", "error"])
def test_promise_finally_runs_on_both_outcomes_and_passes_it_through(outcome: str) -> None:
    record: list[tuple[Any, ...]] = []
    error = Boom("source")
    source = Promise.resolved("v") if outcome == "value" else Promise.rejected(error)
    derived = source.finally_(lambda: record.append(("finally",)) or "ignored")
    wait_until(derived.ready, what="the derived promise")
    assert record == [("finally",)]
    assert (derived.value, derived.exception) == (("v", None) if outcome == "value" else (None, error))


@pytest.mark.parametrize("outcome", ["value", "error"])
def test_promise_finally_waits_for_the_promise_it_returns(outcome: str) -> None:
    record: list[tuple[str, Any]] = []
    error = Boom("source")
    inner: Promise[str] = Promise()
    source = Promise.resolved("v") if outcome == "value" else Promise.rejected(error)

    def cleanup() -> Promise[str]:
        record.append(("finally", None))
        return inner

    derived = source.finally_(cleanup)
    wait_until(lambda: bool(record), what="the finally_ callback")
    record.append(("derived ready", derived.ready()))
    inner.set("inner value is ignored")
    wait_until(derived.ready, what="the derived promise")
    assert record == [("finally", None), ("derived ready", False)]
    assert (derived.value, derived.exception) == (("v", None) if outcome == "value" else (None, error))


@pytest.mark.parametrize("how", ["raises", "returns-rejected-promise"])
@pytest.mark.parametrize("outcome", ["value", "error"])
def test_promise_finally_error_rejects(outcome: str, how: str) -> None:
    error = Boom("cleanup failed")
    source = Promise.resolved("v") if outcome == "value" else Promise.rejected(Boom("source"))

    def cleanup() -> Any:
        if how == "raises":
            raise error
        return later_error(error)

    derived = source.finally_(cleanup)
    with pytest.raises(Boom) as excinfo:
        derived.get(timeout=DEADLINE)
    assert excinfo.value is error


# -- callbacks that raise or return awaitables ----------------------------------------------


@pytest.mark.parametrize("error_type", [Boom, Fatal], ids=["exception", "base-exception"])
@pytest.mark.parametrize("path", ["on_value", "on_error", "catch"])
def test_promise_callback_that_raises_rejects_the_derived_promise(path: str, error_type: type[BaseException]) -> None:
    error = error_type("raised")

    def raise_it(_: object) -> None:
        raise error

    if path == "on_value":
        derived = Promise.resolved(1).then(raise_it)
    elif path == "on_error":
        derived = Promise.rejected(Boom("source")).then(None, raise_it)
    else:
        derived = Promise.rejected(Boom("source")).catch(raise_it)
    with pytest.raises(type(error)) as excinfo:
        derived.get(timeout=DEADLINE)
    assert excinfo.value is error


def _awaitable(kind: str, outcome: Any, executor: concurrent.futures.Executor) -> Any:
    """An unsettled awaitable of ``kind`` that settles with ``outcome`` (a value or an exception)."""
    failed = isinstance(outcome, BaseException)
    if kind == "promise":
        return later_error(outcome) if failed else later(outcome)
    if kind == "async-result":
        result = AsyncResult()
        gevent.get_hub().loop.run_callback(result.set_exception if failed else result.set, outcome)
        return result

    def produce() -> Any:
        if failed:
            raise outcome
        return outcome

    return executor.submit(produce)


AWAITABLE_KINDS = ["promise", "async-result", "future"]


@pytest.mark.parametrize("outcome", ["value", "error"])
@pytest.mark.parametrize("kind", AWAITABLE_KINDS)
@pytest.mark.parametrize("path", ["on_value", "on_error", "catch"])
def test_promise_callback_returning_an_awaitable_is_adopted(
    path: str, kind: str, outcome: str, executor: concurrent.futures.Executor, hub_errors: list
) -> None:
    error = Boom("adopted")
    result = "adopted value" if outcome == "value" else error

    def callback(_: object) -> Any:
        return _awaitable(kind, result, executor)

    if path == "on_value":
        derived = Promise.resolved(1).then(callback)
    elif path == "on_error":
        derived = Promise.rejected(Boom("source")).then(None, callback)
    else:
        derived = Promise.rejected(Boom("source")).catch(callback)
    wait_until(derived.ready, timeout=DEADLINE, what="the derived promise")
    assert (derived.value, derived.exception) == (("adopted value", None) if outcome == "value" else (None, error))
    del derived
    assert reports_after_gc(hub_errors) == []


def test_promise_then_adopts_over_1000_nested_hops() -> None:
    def step(n: int) -> Any:
        if n == 1000:
            return n
        return later(n + 1).then(step)

    assert Promise.resolved(0).then(step).get(timeout=DEADLINE) == 1000


def test_promise_then_chain_of_1000_adopting_hops_keeps_every_callback() -> None:
    record: list[int] = []
    head: Promise[int] = Promise()
    promise = head
    for _ in range(1000):
        promise = promise.then(lambda value: later(value + 1))
        promise.then(record.append)
    head.set(0)
    assert promise.get(timeout=DEADLINE) == 1000
    wait_until(lambda: len(record) == 1000, what="every side callback")
    assert record == list(range(1, 1001))


def _hold_until_done(
    future: concurrent.futures.Future[Any], follower: Promise[Any], gate: threading.Event
) -> list[tuple[str, bool]]:
    """Complete ``future`` in its thread while this thread (and so the hub) is blocked.

    Records whether ``follower`` was settled in the completing thread, right
    after gnotifier's own done callback (added earlier) ran there.
    """
    seen: list[tuple[str, bool]] = []
    done = threading.Event()

    def look(_: concurrent.futures.Future[Any]) -> None:
        seen.append(("ready in the future's thread", follower.ready()))
        done.set()

    future.add_done_callback(look)
    gate.set()
    assert done.wait(DEADLINE)  # blocks the OS thread: the hub cannot run meanwhile
    return seen


def test_promise_then_adopts_a_future_completed_in_another_thread(
    executor: concurrent.futures.ThreadPoolExecutor,
) -> None:
    gate = threading.Event()
    futures: list[concurrent.futures.Future[int]] = []
    record: list[tuple[str, object]] = []

    def start(value: int) -> concurrent.futures.Future[int]:
        futures.append(executor.submit(lambda: gate.wait(DEADLINE) and value * 2))
        return futures[0]

    derived = Promise.resolved(21).then(start)
    derived.rawlink(lambda _: record.append(("settled", (threading.get_ident(), in_hub()))))
    wait_until(lambda: bool(futures), what="the callback to return its future")
    record.extend(_hold_until_done(futures[0], derived, gate))
    assert derived.get(timeout=DEADLINE) == 42
    wait_until(lambda: len(record) == 2, what="the rawlink callback")
    assert record == [("ready in the future's thread", False), ("settled", (threading.get_ident(), True))]


# -- from_future -----------------------------------------------------------------------


def test_promise_from_future_settles_in_the_hub_thread(executor: concurrent.futures.ThreadPoolExecutor) -> None:
    gate = threading.Event()
    record: list[tuple[str, object]] = []
    future = executor.submit(lambda: gate.wait(DEADLINE) and "from a thread")
    promise = Promise.from_future(future)
    promise.rawlink(lambda _: record.append(("settled", (threading.get_ident(), in_hub()))))
    record.extend(_hold_until_done(future, promise, gate))
    assert promise.get(timeout=DEADLINE) == "from a thread"
    wait_until(lambda: len(record) == 2, what="the rawlink callback")
    assert record == [("ready in the future's thread", False), ("settled", (threading.get_ident(), True))]


def test_promise_from_future_rejects_with_the_future_error(executor: concurrent.futures.ThreadPoolExecutor) -> None:
    error = Boom("in the executor")

    def fail() -> None:
        raise error

    promise = Promise.from_future(executor.submit(fail))
    with pytest.raises(Boom) as excinfo:
        promise.get(timeout=DEADLINE)
    assert excinfo.value is error


def test_promise_from_future_of_a_done_future() -> None:
    future: concurrent.futures.Future[str] = concurrent.futures.Future()
    future.set_result("done already")
    assert Promise.from_future(future).get(timeout=DEADLINE) == "done already"


# -- cancel ---------------------------------------------------------------------------------


def test_promise_cancel_before_start_rejects_and_the_job_never_runs() -> None:
    pool = gnotifier.Pool(size=1)
    started, gate = threading.Event(), threading.Event()
    record: list[str] = []

    def blocker() -> str:
        started.set()
        gate.wait(DEADLINE)
        record.append("first ran")
        return "first"

    try:
        first = pool.work(blocker)
        second = pool.work(record.append, "second ran")
        wait_until(started.is_set, what="the first job to start")
        outcome = (second.cancel(), second.ready(), type(second.exception))
        gate.set()
        assert first.get(timeout=DEADLINE) == "first"
        with pytest.raises(Cancelled):
            second.get(timeout=DEADLINE)
    finally:
        gate.set()
        pool.shutdown(timeout=DEADLINE)
    wait_until(lambda: pool.stats()["threads"] == 0, what="the pool's worker to exit")
    assert outcome == (True, True, Cancelled)
    assert (record, second.cancel()) == (["first ran"], False)


def test_promise_cancel_of_a_from_future_promise_before_the_future_starts() -> None:
    record: list[str] = []
    gate = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as single:
        first = single.submit(gate.wait, DEADLINE)
        second = Promise.from_future(single.submit(record.append, "second ran"))
        outcome = (second.cancel(), second.ready(), type(second.exception))
        gate.set()
        assert first.result(DEADLINE) is True
    assert (outcome, record) == ((True, True, Cancelled), [])


def test_promise_cancel_of_a_running_job_requests_cancellation() -> None:
    started, proceed = threading.Event(), threading.Event()
    record: list[str] = []

    def job() -> str:
        started.set()
        proceed.wait(DEADLINE)
        record.append("checking")
        gnotifier.check_cancelled()
        record.append("not cancelled")
        return "finished"

    promise = gnotifier.work(job)
    wait_until(started.is_set, what="the job to start")
    cancelled = promise.cancel()
    proceed.set()
    with pytest.raises(Cancelled):
        promise.get(timeout=DEADLINE)
    assert (cancelled, record) == (False, ["checking"])


@pytest.mark.parametrize("outcome", ["resolved", "rejected", "finished-work", "failed-work"])
def test_promise_cancel_of_a_settled_promise_returns_false(outcome: str) -> None:
    promise = {
        "resolved": lambda: Promise.resolved("v"),
        "rejected": lambda: Promise.rejected(Boom("e")),
        "finished-work": lambda: gnotifier.work(str, "v"),
        "failed-work": lambda: gnotifier.work(_fail, "e"),
    }[outcome]()
    wait_until(promise.ready, what="the promise to settle")
    before = (promise.value, promise.exception)
    assert promise.cancel() is False
    assert (promise.value, promise.exception) == before


DERIVED = {
    "then": lambda source, record: source.then(lambda v: record.append(("then", v))),
    "then-on-error": lambda source, record: source.then(None, lambda e: record.append(("on_error", type(e)))),
    "catch": lambda source, record: source.catch(lambda e: record.append(("catch", type(e)))),
    "finally_": lambda source, record: source.finally_(lambda: record.append(("finally_",))),
    "tap": lambda source, record: source.tap(lambda v: record.append(("tap", v))),
}


@pytest.mark.parametrize("method", list(DERIVED))
def test_promise_cancel_of_a_derived_promise_stays_cancelled_and_skips_its_callback(method: str) -> None:
    # Regression: cancel() returned True, then the callback ran anyway and
    # wrote its value over the Cancelled rejection.
    record: list[tuple[Any, ...]] = []
    source = later_error(Boom("e")) if method in ("then-on-error", "catch") else later("v")
    derived = DERIVED[method](source, record)
    cancelled = derived.cancel()
    wait_until(source.ready, what="the source to settle")
    gevent.sleep(0)  # the source's links run on the hub's next turn
    gevent.sleep(0)
    with pytest.raises(Cancelled):
        derived.get(timeout=DEADLINE)
    with pytest.raises(Cancelled):
        AsyncResult.get(derived, timeout=DEADLINE)
    source.exception  # observed: the source's own error is not the subject here
    assert (cancelled, record, derived.successful(), derived.cancelled()) == (True, [], False, True)


def test_promise_cancel_of_a_follower_leaves_the_followed_promise_alone() -> None:
    # Regression: Promise.resolved(src).cancel() also rejected the shared src.
    source: Promise[str] = Promise()
    follower = Promise.resolved(source)
    cancelled = follower.cancel()
    source.set("v")
    assert source.get(timeout=DEADLINE) == "v"
    with pytest.raises(Cancelled):
        follower.get(timeout=DEADLINE)
    assert (cancelled, follower.cancelled(), source.cancelled()) == (True, True, False)


@pytest.mark.parametrize("combinator", ["settle", "aeach", "areduce"])
def test_promise_cancel_of_a_combinator_result_stops_it_quietly(combinator: str, hub_errors: list) -> None:
    # Regression: the combinator settled its cancelled result later (aeach
    # and areduce also reported AlreadySettled through handle_error).
    record: list[Any] = []
    items = [1, 2, 3]

    def step(*args: Any) -> Promise[Any]:
        record.append(args)
        return later(args[-1])

    result = {
        "settle": lambda: Promise.settle([later(1), later(2)]),
        "aeach": lambda: gnotifier.aeach(step, items),
        "areduce": lambda: gnotifier.areduce(step, items, 0),
    }[combinator]()
    assert result.cancel() is True
    for _ in range(10):  # every item would have run by now
        gevent.sleep(0.001)
    with pytest.raises(Cancelled):
        result.get(timeout=DEADLINE)
    with pytest.raises(Cancelled):
        AsyncResult.get(result, timeout=DEADLINE)
    assert (result.successful(), len(record) <= 1, hub_errors) == (False, True, [])


def test_cancelled_is_exported_by_gnotifier() -> None:
    assert "Cancelled" in gnotifier.__all__ and issubclass(Cancelled, BaseException)


# -- class methods ----------------------------------------------------------------------------


def test_promise_resolved_and_rejected() -> None:
    error = Boom("rejected")
    resolved, rejected = Promise.resolved("v"), Promise.rejected(error)
    assert (resolved.ready(), resolved.get(), rejected.ready(), rejected.exception) == (True, "v", True, error)


def test_promise_all_keeps_input_order() -> None:
    promises: list[Promise[str]] = [Promise() for _ in range(4)]
    combined = Promise.all(promises)
    for index in reversed(range(4)):
        promises[index].set(f"value {index}")
    assert combined.get(timeout=DEADLINE) == [f"value {index}" for index in range(4)]


def test_promise_all_rejects_with_the_first_error_to_occur(hub_errors: list) -> None:
    promises: list[Promise[str]] = [Promise() for _ in range(3)]
    first, second = Boom("first to occur"), Boom("second to occur")
    combined = Promise.all(promises)
    promises[2].set_exception(first)
    promises[0].set_exception(second)
    promises[1].set("value")
    with pytest.raises(Boom) as excinfo:
        combined.get(timeout=DEADLINE)
    assert excinfo.value is first
    del excinfo, promises, combined
    assert reports_after_gc(hub_errors) == []


def test_promise_all_of_nothing_is_an_empty_list() -> None:
    assert Promise.all([]).get(timeout=DEADLINE) == []


@pytest.mark.parametrize("winner", ["value", "error"])
def test_promise_race_settles_as_the_first_to_settle(winner: str, hub_errors: list) -> None:
    promises: list[Promise[str]] = [Promise() for _ in range(3)]
    error = Boom("first")
    combined = Promise.race(promises)
    if winner == "value":
        promises[1].set("first")
    else:
        promises[1].set_exception(error)
    promises[0].set("second")
    promises[2].set_exception(Boom("third"))
    wait_until(_all_ready([*promises, combined]), what="every promise")
    assert (combined.value, combined.exception) == (("first", None) if winner == "value" else (None, error))
    del promises, combined
    assert reports_after_gc(hub_errors) == []


def test_promise_any_gives_the_first_value(hub_errors: list) -> None:
    promises: list[Promise[str]] = [Promise() for _ in range(3)]
    combined = Promise.any(promises)
    promises[0].set_exception(Boom("failed"))
    promises[2].set("first value")
    promises[1].set("second value")
    assert combined.get(timeout=DEADLINE) == "first value"
    del promises, combined
    assert reports_after_gc(hub_errors) == []


def test_promise_any_all_failing_rejects_with_an_exception_group_of_every_error() -> None:
    errors = [Boom("a"), Boom("b"), Boom("c")]
    promises: list[Promise[str]] = [Promise() for _ in errors]
    combined = Promise.any(promises)
    for index in (1, 2, 0):
        promises[index].set_exception(errors[index])
    with pytest.raises(ExceptionGroup) as excinfo:
        combined.get(timeout=DEADLINE)
    carried = excinfo.value.exceptions
    assert (len(carried), sorted(map(id, carried))) == (3, sorted(map(id, errors)))


def test_promise_any_all_failing_with_a_base_exception_gives_a_base_exception_group() -> None:
    errors: list[BaseException] = [Fatal("fatal"), Boom("boom")]
    combined = Promise.any([Promise.rejected(error) for error in errors])
    with pytest.raises(BaseExceptionGroup) as excinfo:
        combined.get(timeout=DEADLINE)
    carried = excinfo.value.exceptions
    assert (isinstance(excinfo.value, ExceptionGroup), sorted(map(id, carried))) == (False, sorted(map(id, errors)))


def test_promise_settle_lists_every_outcome_in_input_order(hub_errors: list) -> None:
    errors = [Boom("first"), Boom("third")]
    promises: list[Promise[str]] = [Promise() for _ in range(3)]
    combined = Promise.settle(promises)
    promises[2].set_exception(errors[1])
    promises[1].set("second")
    promises[0].set_exception(errors[0])
    assert combined.get(timeout=DEADLINE) == [(False, errors[0]), (True, "second"), (False, errors[1])]
    del promises, combined
    assert reports_after_gc(hub_errors) == []


def test_promise_settle_of_nothing_is_an_empty_list() -> None:
    assert Promise.settle([]).get(timeout=DEADLINE) == []


def _input(kind: str, value: Any, executor: concurrent.futures.Executor) -> Any:
    """An input of ``kind`` that resolves with ``value`` (or rejects, given an exception)."""
    failed = isinstance(value, BaseException)
    if kind == "plain":
        return value
    if kind == "promise":
        return Promise.rejected(value) if failed else Promise.resolved(value)
    if kind == "async-result":
        result = AsyncResult()
        (result.set_exception if failed else result.set)(value)
        return result
    if kind == "done-future":
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        (future.set_exception if failed else future.set_result)(value)
        return future
    return _awaitable(kind.replace("pending-", ""), value, executor)


INPUT_KINDS = ["plain", "promise", "async-result", "done-future", "pending-promise", "pending-async-result", "future"]


@pytest.mark.parametrize("kind", INPUT_KINDS)
@pytest.mark.parametrize("combinator", ["all", "race", "any", "settle"])
def test_promise_combinators_accept_every_kind_of_input(
    combinator: str, kind: str, executor: concurrent.futures.Executor
) -> None:
    combined = getattr(Promise, combinator)([_input(kind, "value", executor)])
    expected = {"all": ["value"], "race": "value", "any": "value", "settle": [(True, "value")]}[combinator]
    assert combined.get(timeout=DEADLINE) == expected


@pytest.mark.parametrize("kind", [k for k in INPUT_KINDS if k != "plain"])
@pytest.mark.parametrize("combinator", ["all", "race", "settle"])
def test_promise_combinators_see_errors_of_every_kind_of_input(
    combinator: str, kind: str, executor: concurrent.futures.Executor, hub_errors: list
) -> None:
    error = Boom(kind)
    combined = getattr(Promise, combinator)([_input(kind, error, executor)])
    wait_until(combined.ready, what="the combined promise")
    if combinator == "settle":
        assert (combined.value, combined.exception) == ([(False, error)], None)
    else:
        assert (combined.value, combined.exception) == (None, error)
    del combined
    assert reports_after_gc(hub_errors) == []


@pytest.mark.parametrize("combinator", ["all", "race", "any", "settle"])
def test_promise_combinators_take_any_iterable(combinator: str) -> None:
    combined = getattr(Promise, combinator)(value for value in ["only"])
    expected = {"all": ["only"], "race": "only", "any": "only", "settle": [(True, "only")]}[combinator]
    assert combined.get(timeout=DEADLINE) == expected


def _noop(*args: object) -> None:
    return None


BAD_CALLS: list[Any] = [
    pytest.param(lambda: Promise.resolved(1).then(42), id="then-not-callable"),
    pytest.param(lambda: Promise.resolved(1).then(None, 42), id="then-on-error-not-callable"),
    pytest.param(lambda: Promise.resolved(1).catch(42), id="catch-not-callable"),
    pytest.param(lambda: Promise.resolved(1).catch(_noop, "notatype"), id="catch-not-a-type"),
    pytest.param(lambda: Promise.resolved(1).catch(_noop, int), id="catch-not-an-exception-type"),
    pytest.param(lambda: Promise.resolved(1).finally_(42), id="finally-not-callable"),
    pytest.param(lambda: Promise.resolved(1).tap(42), id="tap-not-callable"),
    pytest.param(lambda: Promise.all(5), id="all-not-iterable"),
    pytest.param(lambda: Promise.race(5), id="race-not-iterable"),
    pytest.param(lambda: Promise.any(5), id="any-not-iterable"),
    pytest.param(lambda: Promise.settle(5), id="settle-not-iterable"),
    pytest.param(lambda: Promise.from_future(5), id="from-future-not-a-future"),
]


@pytest.mark.parametrize("call", BAD_CALLS)
def test_promise_bad_input_raises_type_error(call: Callable[[], object]) -> None:
    with pytest.raises(TypeError):
        call()


# -- error reporting ---------------------------------------------------------------------------

SOURCES: dict[str, Callable[[], Promise[Any]]] = {
    "work": lambda: gnotifier.work(_fail, "boom"),
    "rejected": lambda: Promise.rejected(ValueError("boom")),
    "set_exception-later": lambda: later_error(ValueError("boom")),
}


def _observe_get(promise: Promise[Any]) -> None:
    with pytest.raises(ValueError):
        promise.get(timeout=DEADLINE)


def _observe_waiting_greenlet(promise: Promise[Any]) -> None:
    def wait_for_it() -> str:
        try:
            promise.get(timeout=DEADLINE)
        except ValueError as exc:
            return str(exc)
        return "no error"

    assert gevent.spawn(wait_for_it).get(timeout=DEADLINE) == "boom"


def _observe_exception(promise: Promise[Any]) -> None:
    wait_until(promise.ready, what="the promise to settle")
    assert str(promise.exception) == "boom"


def _observe_then(promise: Promise[Any]) -> None:
    assert promise.then(None, lambda exc: "handled").get(timeout=DEADLINE) == "handled"


def _observe_catch(promise: Promise[Any]) -> None:
    assert promise.catch(lambda exc: "handled", ValueError).get(timeout=DEADLINE) == "handled"


def _observe_finally(promise: Promise[Any]) -> None:
    with pytest.raises(ValueError):
        promise.finally_(_noop).get(timeout=DEADLINE)


def _observe_tap(promise: Promise[Any]) -> None:
    with pytest.raises(ValueError):
        promise.tap(_noop).get(timeout=DEADLINE)


def _observe_all(promise: Promise[Any]) -> None:
    with pytest.raises(ValueError):
        Promise.all([promise]).get(timeout=DEADLINE)


def _observe_race(promise: Promise[Any]) -> None:
    with pytest.raises(ValueError):
        Promise.race([promise]).get(timeout=DEADLINE)


def _observe_any(promise: Promise[Any]) -> None:
    with pytest.raises(ExceptionGroup):
        Promise.any([promise]).get(timeout=DEADLINE)


def _observe_settle(promise: Promise[Any]) -> None:
    outcomes = Promise.settle([promise]).get(timeout=DEADLINE)
    assert [(ok, str(exc)) for ok, exc in outcomes] == [(False, "boom")]


OBSERVERS = {
    "get": _observe_get,
    "waiting-greenlet": _observe_waiting_greenlet,
    "exception": _observe_exception,
    "then": _observe_then,
    "catch": _observe_catch,
    "finally": _observe_finally,
    "tap": _observe_tap,
    "all": _observe_all,
    "race": _observe_race,
    "any": _observe_any,
    "settle": _observe_settle,
}


@pytest.mark.parametrize("observe", list(OBSERVERS.values()), ids=list(OBSERVERS))
@pytest.mark.parametrize("source", list(SOURCES.values()), ids=list(SOURCES))
def test_promise_observed_error_is_never_reported(
    source: Callable[[], Promise[Any]], observe: Callable[[Promise[Any]], None], hub_errors: list
) -> None:
    promise = source()
    observe(promise)
    collected = weakref.ref(promise)
    del promise
    assert reports_after_gc(hub_errors) == []
    assert collected() is None, "the promise was not garbage-collected; the check above proves nothing"


@pytest.mark.parametrize("source", list(SOURCES.values()), ids=list(SOURCES))
def test_promise_unobserved_error_is_reported_once_when_collected(
    source: Callable[[], Promise[Any]], hub_errors: list
) -> None:
    promise = source()
    wait_until(promise.ready, what="the promise to settle")
    collected = weakref.ref(promise)
    del promise
    assert reports_after_gc(hub_errors) == [(ValueError, "boom")]
    assert collected() is None
    assert reports_after_gc(hub_errors) == [(ValueError, "boom")]


@pytest.mark.parametrize("error", [SystemExit(3), KeyboardInterrupt()], ids=["SystemExit", "KeyboardInterrupt"])
def test_promise_unobserved_system_error_of_a_job_is_printed_not_raised_later(
    error: BaseException, capfd: pytest.CaptureFixture[str]
) -> None:
    # Regression: handle_error() threw it into the main greenlet whenever the
    # promise happened to be collected, far from where the job ran.
    def job() -> None:
        raise error

    promise = gnotifier.work(job)
    gevent.wait([promise], timeout=DEADLINE)  # waiting is not observing
    assert promise.ready()
    del promise
    gc.collect()
    for _ in range(5):  # the report goes through the hub; a raise would land here
        gevent.sleep(0.001)
    err = capfd.readouterr().err
    assert "never observed" in err and type(error).__name__ in err


def test_promise_unobserved_error_is_not_reported_while_alive(hub_errors: list) -> None:
    promise = gnotifier.work(_fail, "boom")
    wait_until(promise.ready, what="the promise to settle")
    assert reports_after_gc(hub_errors) == []
    del promise
    assert reports_after_gc(hub_errors) == [(ValueError, "boom")]


def test_promise_gevent_wait_does_not_observe(hub_errors: list) -> None:
    promise = gnotifier.work(_fail, "boom")
    assert gevent.wait([promise], timeout=DEADLINE) == [promise]
    del promise
    assert reports_after_gc(hub_errors) == [(ValueError, "boom")]


def test_promise_work_then_chain_observed_at_its_end_reports_nothing(hub_errors: list) -> None:
    end = gnotifier.work(_fail, "boom").then(lambda value: value + 1)
    with pytest.raises(ValueError):
        end.get(timeout=DEADLINE)
    del end
    assert reports_after_gc(hub_errors) == []


def test_promise_long_chain_observed_at_its_end_reports_nothing(hub_errors: list) -> None:
    end = gnotifier.work(_fail, "boom").then(lambda value: value + 1).tap(_noop).finally_(_noop).then(str)
    assert end.catch(lambda exc: str(exc)).get(timeout=DEADLINE) == "boom"
    del end
    assert reports_after_gc(hub_errors) == []


def test_promise_unobserved_end_of_chain_is_reported_once(hub_errors: list) -> None:
    end = gnotifier.work(_fail, "boom").then(lambda value: value + 1).tap(_noop)
    wait_until(end.ready, what="the end of the chain")
    del end
    assert reports_after_gc(hub_errors) == [(ValueError, "boom")]


def test_promise_error_raised_by_a_callback_and_never_observed_is_reported_once(hub_errors: list) -> None:
    derived = Promise.resolved(1).then(lambda value: _fail("boom"))
    wait_until(derived.ready, what="the derived promise")
    del derived
    assert reports_after_gc(hub_errors) == [(ValueError, "boom")]


def test_promise_losing_errors_of_a_combinator_are_not_reported(hub_errors: list) -> None:
    failing = [gnotifier.work(_fail, f"boom {index}") for index in range(3)]
    combined = Promise.all(failing)
    with pytest.raises(ValueError):
        combined.get(timeout=DEADLINE)
    wait_until(_all_ready(failing), what="every job")
    del failing, combined
    assert reports_after_gc(hub_errors) == []


@pytest.mark.parametrize("how", ["cancel", "rejected-with-cancelled"])
def test_promise_unobserved_cancellation_is_not_reported(how: str, hub_errors: list) -> None:
    # Regression: a promise cancelled and then dropped was reported as an unobserved error.
    promise: Promise[Any] = Promise() if how == "cancel" else Promise.rejected(Cancelled("by hand"))
    if how == "cancel":
        assert promise.cancel() is True
    ref = weakref.ref(promise)
    del promise
    assert reports_after_gc(hub_errors) == []
    assert ref() is None


@pytest.mark.parametrize("how", ["timeout", "no-block"])
def test_promise_get_timeout_error_holds_no_timer_in_the_loop(how: str) -> None:
    # Regression: get() raised a fresh gevent.Timeout whose timer stayed in the
    # loop until garbage collection, which closed it from whatever thread ran
    # the collection; on libuv that corrupted the loop and crashed later.
    promise: Promise[Any] = Promise()
    with pytest.raises(gevent.Timeout) as raised:
        promise.get(timeout=0.001) if how == "timeout" else promise.get(block=False)
    assert getattr(raised.value.timer, "loop", None) is None
