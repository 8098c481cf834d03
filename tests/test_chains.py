"""Promise chains: then, catch, tap and finally_ (callbacks later in the hub, in order; adopting awaitables)."""

from __future__ import annotations

import concurrent.futures
import gc
import subprocess
import sys
import threading
import weakref
from typing import Any

import gevent
import pytest
from gevent.exceptions import HubDestroyed
from helpers import (
    DEADLINE,
    Boom,
    Fatal,
    awaitable,
    hold_until_done,
    in_foreign_thread,
    in_hub,
    later,
    later_error,
    reports_after_gc,
    run_in_a_thread_without_a_hub,
    wait_until,
)

import gnotifier
from gnotifier import Promise

# -- callbacks: later, in the hub, in order ------------------------------------------------


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


# -- forwarding and filtering --------------------------------------------------------------


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


# -- tap -----------------------------------------------------------------------------------


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


# -- finally_ ------------------------------------------------------------------------------


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


# -- callbacks that raise or return awaitables ---------------------------------------------


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
        return awaitable(kind, result, executor)

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


@pytest.mark.parametrize("inner", AWAITABLE_KINDS)
@pytest.mark.parametrize("outer", AWAITABLE_KINDS)
@pytest.mark.parametrize("path", ["then", "resolved"])
def test_an_awaitable_that_settles_with_an_awaitable_is_followed_through_it(
    path: str, outer: str, inner: str, executor: concurrent.futures.Executor
) -> None:
    def nested() -> Any:
        return awaitable(outer, awaitable(inner, "deep", executor), executor)

    derived = Promise.resolved(1).then(lambda _: nested()) if path == "then" else Promise.resolved(nested())
    assert derived.get(timeout=DEADLINE) == "deep"


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
    record.extend(hold_until_done(futures[0], derived, gate))
    assert derived.get(timeout=DEADLINE) == 42
    wait_until(lambda: len(record) == 2, what="the rawlink callback")
    assert record == [("ready in the future's thread", False), ("settled", (threading.get_ident(), True))]


def test_an_error_that_several_unobserved_derived_promises_carry_is_reported_once(hub_errors: list) -> None:
    source: Promise[int] = Promise()
    derived = [source.then(lambda v: v), source.then(lambda v: v + 1), source.tap(lambda v: None)]
    source.set_exception(Boom("one error, three promises"))
    wait_until(lambda: all(p.ready() for p in derived), timeout=DEADLINE, what="the derived promises")
    derived.clear()
    assert reports_after_gc(hub_errors) == [(Boom, "one error, three promises")]


@pytest.mark.parametrize("look", ["get", "result", "exception"])
def test_an_error_someone_saw_is_not_reported_by_a_derived_promise_nobody_observed(hub_errors: list, look: str) -> None:
    source = gnotifier.work(divmod, 1, 0)
    derived = source.then(lambda v: v)  # carries the same error; nobody looks at it
    if look == "exception":
        source.wait(timeout=DEADLINE)
        assert isinstance(source.exception, ZeroDivisionError)
    else:
        with pytest.raises(ZeroDivisionError):
            getattr(source, look)(timeout=DEADLINE)
    wait_until(derived.ready, timeout=DEADLINE, what="the derived promise")
    del derived
    assert reports_after_gc(hub_errors) == []


def test_an_unobserved_error_collected_in_another_thread_is_reported_through_its_promises_hub(
    hub_errors: list,
) -> None:
    held = [Promise.rejected(Boom("collected in a plain thread"))]
    in_foreign_thread(held.clear)  # the last reference dies there
    wait_until(lambda: hub_errors, timeout=DEADLINE, what="the report, queued for the hub")
    assert reports_after_gc(hub_errors) == [(Boom, "collected in a plain thread")]


@pytest.mark.parametrize("when", ["after", "during"])
def test_an_unobserved_error_of_a_destroyed_hubs_promise_goes_to_that_hubs_handle_error(when: str) -> None:
    # Regression: after the destroy it was printed bare, past handle_error; collected while the
    # destroy waited for a running job, it was lost.
    error = Boom("never looked at")
    reports: list[tuple[Any, ...]] = []
    held: dict[str, Any] = {}
    started, release = threading.Event(), threading.Event()

    def thread_main() -> None:
        hub = gevent.get_hub()

        def record(context: Any, type_: Any, value: BaseException, tb: Any) -> None:
            if not isinstance(value, HubDestroyed):  # gevent's own word that a destroy killed a greenlet
                reports.append((context, value))

        hub.handle_error = record
        held["promise"] = Promise.rejected(error)
        if when == "during":  # the destroy waits for this job, its dispatcher already closed
            gnotifier.work(lambda: (started.set(), release.wait(DEADLINE)))
            assert started.wait(DEADLINE)
        held["hub"] = hub
        hub.destroy(destroy_loop=True)

    thread = threading.Thread(target=thread_main)
    thread.start()
    try:
        if when == "during":
            wait_until(lambda: getattr(held.get("hub"), "_gnotifier_destroying", False), what="the destroy to begin")
        else:
            thread.join(DEADLINE)
        held.pop("promise")
        gc.collect()
    finally:
        release.set()
        thread.join(DEADLINE)
    assert reports == [("Promise rejected and never observed", error)]


@pytest.mark.parametrize("chain", ["then", "catch", "finally_", "tap"])
def test_a_derived_promise_cancelled_while_its_source_waits_lets_go_of_its_callback_at_once(chain: str) -> None:
    class Callback:
        def __call__(self, *args: Any) -> None:
            raise AssertionError("a cancelled chain's callback ran")

    source: Promise[int] = Promise()
    callback = Callback()
    gone = weakref.ref(callback)
    derived = getattr(source, chain)(callback)
    del callback
    assert derived.cancel() is True
    gc.collect()
    assert gone() is None  # while the source still waits
    source.set_exception(Boom("settled after the cancel"))
    gevent.sleep(0)
    assert isinstance(derived.exception, gnotifier.Cancelled)


UNOBSERVED_AT_EXIT = """\
import sys
if sys.argv[1] == "patched":
    from gevent import monkey
    monkey.patch_all()
import gevent, gnotifier

def fail():
    raise KeyError("unseen" + " at exit")

unseen = gnotifier.work(fail)  # held by a module global until the end
seen = gnotifier.work(fail)
gevent.wait()
try:
    seen.get()
except KeyError:
    pass
"""


@pytest.mark.parametrize("patching", ["plain", "patched"])
def test_an_unobserved_error_still_held_at_exit_is_reported_once(patching: str) -> None:
    # Regression: plain, a promise a module global held to the end was never collected, so never reported.
    child = subprocess.run(
        [sys.executable, "-c", UNOBSERVED_AT_EXIT, patching], capture_output=True, text=True, timeout=60
    )
    assert child.returncode == 0, child.stderr
    assert (child.stderr.count("unseen at exit"), child.stderr.count("never observed")) == (1, 1), child.stderr
