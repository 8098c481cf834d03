"""Promise: reading and waiting, settling once, following, from_future, cancel, bad input, error reporting."""

from __future__ import annotations

import concurrent.futures
import gc
import sys
import threading
import typing
import weakref
from typing import Any, Callable

import gevent
import pytest
from gevent._hub_local import get_hub_if_exists
from gevent.event import AsyncResult
from helpers import (
    DEADLINE,
    Boom,
    all_ready,
    hold_until_done,
    in_hub,
    later,
    later_error,
    noop,
    reports_after_gc,
    run_in_a_thread_without_a_hub,
    wait_until,
)

import gnotifier
from gnotifier import AlreadySettled, Cancelled, Promise

if sys.version_info >= (3, 11):
    from builtins import ExceptionGroup
else:
    from exceptiongroup import ExceptionGroup


def _fail(message: str) -> None:
    raise ValueError(message)


# -- an AsyncResult, generic ---------------------------------------------------------------


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


@pytest.mark.parametrize("how", ["timeout", "no-block"])
def test_promise_get_timeout_error_holds_no_timer_in_the_loop(how: str) -> None:
    # Regression: get() raised a fresh gevent.Timeout whose timer stayed in the
    # loop until garbage collection, which closed it from whatever thread ran
    # the collection; on libuv that corrupted the loop and crashed later.
    promise: Promise[Any] = Promise()
    with pytest.raises(gevent.Timeout) as raised:
        promise.get(timeout=0.001) if how == "timeout" else promise.get(block=False)
    assert getattr(raised.value.timer, "loop", None) is None


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


# -- settles once --------------------------------------------------------------------------


def test_promise_resolved_and_rejected() -> None:
    error = Boom("rejected")
    resolved, rejected = Promise.resolved("v"), Promise.rejected(error)
    assert (resolved.ready(), resolved.get(), rejected.ready(), rejected.exception) == (True, "v", True, error)


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


# -- following another promise -------------------------------------------------------------


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


# -- from_future ---------------------------------------------------------------------------


def test_promise_from_future_settles_in_the_hub_thread(executor: concurrent.futures.ThreadPoolExecutor) -> None:
    gate = threading.Event()
    record: list[tuple[str, object]] = []
    future = executor.submit(lambda: gate.wait(DEADLINE) and "from a thread")
    promise = Promise.from_future(future)
    promise.rawlink(lambda _: record.append(("settled", (threading.get_ident(), in_hub()))))
    record.extend(hold_until_done(future, promise, gate))
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


# -- cancel --------------------------------------------------------------------------------


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
    # Links run in the order they were made: once this one ran, derived's had its turn.
    after = source.then(lambda _: "after", lambda _: "after")
    assert after.get(timeout=DEADLINE) == "after"
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
    records: dict[str, list[Any]] = {"cancelled": [], "control": []}

    def start(name: str) -> Promise[Any]:
        def step(*args: Any) -> Promise[Any]:
            records[name].append(args)
            return later(args[-1])

        return {
            "settle": lambda: Promise.settle([later(1), later(2)]),
            "aeach": lambda: gnotifier.aeach(step, [1, 2, 3]),
            "areduce": lambda: gnotifier.areduce(step, [1, 2, 3], 0),
        }[combinator]()

    result, control = start("cancelled"), start("control")
    assert result.cancel() is True
    control.get(timeout=DEADLINE)  # the same steps, uncancelled: the cancelled one had every turn they took
    with pytest.raises(Cancelled):
        result.get(timeout=DEADLINE)
    with pytest.raises(Cancelled):
        AsyncResult.get(result, timeout=DEADLINE)
    steps = {"settle": [], "aeach": [(1,), (2,), (3,)], "areduce": [(0, 1), (1, 2), (2, 3)]}[combinator]
    assert (result.successful(), records, hub_errors) == (False, {"cancelled": [], "control": steps}, [])


def test_cancelled_is_exported_by_gnotifier() -> None:
    assert "Cancelled" in gnotifier.__all__ and issubclass(Cancelled, BaseException)


# -- bad input -----------------------------------------------------------------------------


BAD_CALLS: list[Any] = [
    pytest.param(lambda: Promise.resolved(1).then(42), id="then-not-callable"),
    pytest.param(lambda: Promise.resolved(1).then(None, 42), id="then-on-error-not-callable"),
    pytest.param(lambda: Promise.resolved(1).catch(42), id="catch-not-callable"),
    pytest.param(lambda: Promise.resolved(1).catch(noop, "notatype"), id="catch-not-a-type"),
    pytest.param(lambda: Promise.resolved(1).catch(noop, int), id="catch-not-an-exception-type"),
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


# -- error reporting -----------------------------------------------------------------------


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
        promise.finally_(noop).get(timeout=DEADLINE)


def _observe_tap(promise: Promise[Any]) -> None:
    with pytest.raises(ValueError):
        promise.tap(noop).get(timeout=DEADLINE)


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
    end = gnotifier.work(_fail, "boom").then(lambda value: value + 1).tap(noop).finally_(noop).then(str)
    assert end.catch(lambda exc: str(exc)).get(timeout=DEADLINE) == "boom"
    del end
    assert reports_after_gc(hub_errors) == []


def test_promise_unobserved_end_of_chain_is_reported_once(hub_errors: list) -> None:
    end = gnotifier.work(_fail, "boom").then(lambda value: value + 1).tap(noop)
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
    wait_until(all_ready(failing), what="every job")
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


def test_promises_made_in_a_worker_are_chained_and_combined_by_the_hub_that_gets_them() -> None:
    # Regression: bound to their maker thread's hub as they were made, the hub was refused them,
    # and as_future() of one never completed.
    made = gnotifier.work(lambda: [Promise.resolved(n) for n in range(3)]).get(timeout=DEADLINE)
    record = [
        Promise.all(made).get(timeout=DEADLINE),
        made[0].then(lambda value: value + 10).get(timeout=DEADLINE),
        made[2].as_future().result(timeout=DEADLINE),
    ]
    assert record == [[0, 1, 2], 10, 2]


def test_a_promise_made_in_a_thread_without_a_hub_makes_no_hub_there() -> None:
    # Regression: each such thread got a hub, and a loop with its file descriptors, for good.
    def make() -> tuple[bool, Any]:
        promise = Promise.resolved("made")
        return get_hub_if_exists() is None, promise.value

    assert run_in_a_thread_without_a_hub(make) == (True, "made")


def test_a_jobs_promise_has_every_field_a_made_promise_has() -> None:
    # A pool makes its jobs' promises without Promise() (promise_for_job): a field added to
    # Promise.__init__ and not there would be missing on every job's promise.
    made, job = Promise(), gnotifier.work(int, "1")
    fields = [name for name in Promise.__slots__ if not name.startswith("__")]
    assert [name for name in fields if hasattr(made, name) != hasattr(job, name)] == []
    assert all(hasattr(job, name) for name in fields)
    assert job.get(timeout=DEADLINE) == 1
