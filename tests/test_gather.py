"""Promise.all, race, any and settle: unit tests, then property tests against a sequential model."""

from __future__ import annotations

import concurrent.futures
import sys
from typing import Any

import gevent
import pytest
from gevent.event import AsyncResult
from helpers import (
    DEADLINE,
    Boom,
    Fatal,
    all_ready,
    awaitable,
    in_hub,
    reports_after_gc,
    run_in_a_thread_without_a_hub,
    wait_until,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnotifier import Promise

if sys.version_info >= (3, 11):
    from builtins import BaseExceptionGroup, ExceptionGroup
else:
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup


# -- all -----------------------------------------------------------------------------------


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


# -- race ----------------------------------------------------------------------------------


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
    wait_until(all_ready([*promises, combined]), what="every promise")
    assert (combined.value, combined.exception) == (("first", None) if winner == "value" else (None, error))
    del promises, combined
    assert reports_after_gc(hub_errors) == []


# -- any -----------------------------------------------------------------------------------


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


# -- settle --------------------------------------------------------------------------------


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


# -- what all four take, and where their callbacks run -------------------------------------


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
    return awaitable(kind.replace("pending-", ""), value, executor)


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


@pytest.mark.parametrize("combinator", ["all", "race", "any", "settle"])
def test_promise_combinator_callbacks_run_later_in_a_thread_without_a_hub(combinator: str) -> None:
    def scenario() -> list[tuple[str, bool]]:
        record: list[tuple[str, bool]] = []
        derived = getattr(Promise, combinator)([1]).then(lambda _: record.append(("then", in_hub())))
        record.append(("registered", in_hub()))
        derived.get(timeout=DEADLINE)
        return record

    assert run_in_a_thread_without_a_hub(scenario) == [("registered", False), ("then", True)]


# -- property tests: Promise.all / settle / race / any against a sequential model ----------


PRE_SETTLED = ("plain", "resolved", "rejected")
KINDS = (*PRE_SETTLED, "later-value", "later-error")
FAILING = ("rejected", "later-error")


@st.composite
def scenarios(draw: Any, min_size: int = 0) -> tuple[list[str], list[int]]:
    """Input kinds, and the order in which the "later" ones settle."""
    # A random subset of the kinds first, so that all-failing and
    # all-succeeding lists come up often.
    alphabet = sorted(draw(st.sets(st.sampled_from(KINDS), min_size=1)))
    kinds = draw(st.lists(st.sampled_from(alphabet), min_size=min_size, max_size=8))
    later = [index for index, kind in enumerate(kinds) if kind not in PRE_SETTLED]
    return kinds, draw(st.permutations(later))


class Scenario:
    """The inputs of one example, and what a sequential model says about them."""

    def __init__(self, kinds: list[str], order: list[int]) -> None:
        self.kinds = kinds
        self.order = order
        self.values = [f"value {index}" for index in range(len(kinds))]
        self.errors = [Boom(f"error {index}") for index in range(len(kinds))]
        self.later: dict[int, Promise[Any]] = {}
        self.inputs: list[Any] = []
        for index, kind in enumerate(kinds):
            if kind == "plain":
                self.inputs.append(self.values[index])
            elif kind == "resolved":
                self.inputs.append(Promise.resolved(self.values[index]))
            elif kind == "rejected":
                self.inputs.append(Promise.rejected(self.errors[index]))
            else:
                self.later[index] = Promise()
                self.inputs.append(self.later[index])

    def outcome(self, index: int) -> tuple[bool, Any]:
        if self.kinds[index] in FAILING:
            return (False, self.errors[index])
        return (True, self.values[index])

    def settle_order(self) -> list[int]:
        """Model: what is settled when the combinator is called comes first, in input order."""
        return [index for index, kind in enumerate(self.kinds) if kind in PRE_SETTLED] + list(self.order)

    def settle_later_ones(self) -> None:
        """Settle the "later" inputs in the hub, one hub callback each, in the drawn order."""
        loop = gevent.get_hub().loop
        for index in self.order:
            ok, payload = self.outcome(index)
            loop.run_callback(self.later[index].set if ok else self.later[index].set_exception, payload)

    def finish(self, result: Promise[Any]) -> tuple[bool, Any]:
        wait_until(lambda: result.ready() and all(p.ready() for p in self.later.values()), what="every input")
        exc = result.exception
        return (True, result.value) if exc is None else (False, exc)


# hub_errors is per test, not per example: it only ever grows, and every
# example checks that it is still empty.
PROPERTY_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _same(actual: tuple[bool, Any], expected: tuple[bool, Any]) -> bool:
    # Errors compare by identity; values by equality.
    if actual[0] != expected[0]:
        return False
    return actual[1] == expected[1] if actual[0] else actual[1] is expected[1]


@PROPERTY_SETTINGS
@given(scenarios())
def test_all_matches_the_sequential_model(hub_errors: list, scenario: tuple[list[str], list[int]]) -> None:
    case = Scenario(*scenario)
    result = Promise.all(case.inputs)
    case.settle_later_ones()
    actual = case.finish(result)
    failures = [index for index in case.settle_order() if not case.outcome(index)[0]]
    expected = (False, case.errors[failures[0]]) if failures else (True, case.values)
    assert _same(actual, expected), (actual, expected)
    assert hub_errors == []


@PROPERTY_SETTINGS
@given(scenarios())
def test_settle_matches_the_sequential_model(hub_errors: list, scenario: tuple[list[str], list[int]]) -> None:
    case = Scenario(*scenario)
    result = Promise.settle(case.inputs)
    case.settle_later_ones()
    ok, outcomes = case.finish(result)
    expected = [case.outcome(index) for index in range(len(case.kinds))]
    assert ok is True
    assert [flag for flag, _ in outcomes] == [flag for flag, _ in expected]
    assert all(_same(got, want) for got, want in zip(outcomes, expected)), (outcomes, expected)
    assert hub_errors == []


@PROPERTY_SETTINGS
@given(scenarios(min_size=1))
def test_race_matches_the_sequential_model(hub_errors: list, scenario: tuple[list[str], list[int]]) -> None:
    case = Scenario(*scenario)
    result = Promise.race(case.inputs)
    case.settle_later_ones()
    actual = case.finish(result)
    expected = case.outcome(case.settle_order()[0])
    assert _same(actual, expected), (actual, expected)
    assert hub_errors == []


@PROPERTY_SETTINGS
@given(scenarios(min_size=1))
def test_any_matches_the_sequential_model(hub_errors: list, scenario: tuple[list[str], list[int]]) -> None:
    case = Scenario(*scenario)
    result = Promise.any(case.inputs)
    case.settle_later_ones()
    ok, payload = case.finish(result)
    successes = [index for index in case.settle_order() if case.outcome(index)[0]]
    if successes:
        assert (ok, payload) == (True, case.values[successes[0]])
    else:
        assert (ok, isinstance(payload, BaseExceptionGroup)) == (False, True)
        assert sorted(map(id, payload.exceptions)) == sorted(id(case.errors[index]) for index in range(len(case.kinds)))
    assert hub_errors == []
