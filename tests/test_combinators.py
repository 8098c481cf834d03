"""amap, areduce, afilter and aeach."""

from __future__ import annotations

import concurrent.futures
import operator
import threading
from typing import Any, Callable

import gevent
import pytest
from gevent.event import AsyncResult
from helpers import DEADLINE, Boom, in_hub, later, reports_after_gc, run_in_a_thread_without_a_hub, wait_until

import gnotifier
from gnotifier import Promise, aeach, afilter, amap, areduce


class HandSettled:
    """Hands out promises from ``fn(item)`` and records starts; the test settles them."""

    def __init__(self) -> None:
        self.record: list[tuple[Any, ...]] = []
        self.unsettled: dict[Any, Promise[Any]] = {}

    def __call__(self, item: Any) -> Promise[Any]:
        self.unsettled[item] = promise = Promise()
        self.record.append(("start", item, len(self.unsettled), in_hub()))
        return promise

    def settle(self, item: Any, value: Any) -> None:
        self.record.append(("end", item))
        self.unsettled.pop(item).set(value)


# -- amap ----------------------------------------------------------------------------------


def test_amap_keeps_input_order() -> None:
    hand = HandSettled()
    result = amap(hand, range(5))
    wait_until(lambda: len(hand.unsettled) == 5, what="every call")
    for item in reversed(range(5)):
        hand.settle(item, item * 10)
    assert result.get(timeout=DEADLINE) == [0, 10, 20, 30, 40]


@pytest.mark.parametrize("concurrency", [1, 2, 3, 6], ids=lambda n: f"limit-{n}")
def test_amap_honours_concurrency(concurrency: int) -> None:
    hand = HandSettled()
    result = amap(hand, range(6), concurrency=concurrency)
    assert hand.record == []
    for settled in range(6):
        expected = min(concurrency, 6 - settled)
        wait_until(lambda: len(hand.unsettled) >= expected, what=f"{expected} calls in flight")
        assert len(hand.unsettled) == expected
        hand.settle(max(hand.unsettled), "value")  # newest first: results come out of order
    assert result.get(timeout=DEADLINE) == ["value"] * 6
    starts = [event for event in hand.record if event[0] == "start"]
    assert [item for _, item, _, _ in starts] == list(range(6))
    assert max(in_flight for _, _, in_flight, _ in starts) == concurrency
    assert {in_hub for _, _, _, in_hub in starts} == {True}


def test_amap_limits_running_work_jobs() -> None:
    lock, gate = threading.Lock(), threading.Semaphore(0)
    running, peak = [0], [0]

    def job(item: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        gate.acquire(timeout=DEADLINE)
        with lock:
            running[0] -= 1
        return item * item

    result = amap(lambda item: gnotifier.work(job, item), range(8), concurrency=3)
    wait_until(lambda: running[0] == 3, what="three jobs to run")
    for _ in range(8):
        gate.release()
    assert result.get(timeout=DEADLINE) == [item * item for item in range(8)]
    assert peak[0] == 3


def test_amap_without_concurrency_starts_every_call() -> None:
    hand = HandSettled()
    result = amap(hand, list("abcd"))
    wait_until(lambda: len(hand.unsettled) == 4, what="every call")
    for item in "dcba":
        hand.settle(item, item.upper())
    assert result.get(timeout=DEADLINE) == ["A", "B", "C", "D"]
    assert [event[:3] for event in hand.record[:4]] == [
        ("start", "a", 1),
        ("start", "b", 2),
        ("start", "c", 3),
        ("start", "d", 4),
    ]


@pytest.mark.parametrize("concurrency", [None, 1], ids=["unlimited", "limit-1"])
def test_amap_never_calls_fn_inside_amap(concurrency: int | None) -> None:
    record: list[tuple[str, Any, bool]] = []
    result = amap(lambda item: record.append(("fn", item, in_hub())) or item, [1, 2], concurrency=concurrency)
    record.append(("returned", None, in_hub()))
    assert result.get(timeout=DEADLINE) == [1, 2]
    assert record == [("returned", None, False), ("fn", 1, True), ("fn", 2, True)]


def test_amap_accepts_plain_values_and_every_awaitable(executor: concurrent.futures.Executor) -> None:
    def fn(item: int) -> Any:
        kind = item % 4
        if kind == 0:
            return item
        if kind == 1:
            return later(item)
        if kind == 2:
            result = AsyncResult()
            gevent.get_hub().loop.run_callback(result.set, item)
            return result
        return executor.submit(operator.neg, -item)

    assert amap(fn, range(8)).get(timeout=DEADLINE) == list(range(8))


@pytest.mark.parametrize("how", ["raises", "returns-rejected-promise", "returns-failing-work"])
def test_amap_rejects_with_the_error(how: str, hub_errors: list) -> None:
    def fn(item: int) -> Any:
        if item != 2:
            return item
        if how == "raises":
            raise Boom("item 2")
        if how == "returns-rejected-promise":
            return Promise.rejected(Boom("item 2"))
        return gnotifier.work(_raise_boom, "item 2")

    result = amap(fn, range(4), concurrency=2)
    with pytest.raises(Boom) as excinfo:
        result.get(timeout=DEADLINE)
    assert str(excinfo.value) == "item 2"
    del excinfo, result
    assert reports_after_gc(hub_errors) == []


def _raise_boom(message: str) -> None:
    raise Boom(message)


def test_amap_errors_after_the_first_are_not_reported(hub_errors: list) -> None:
    result = amap(lambda item: gnotifier.work(_raise_boom, f"item {item}"), range(4))
    with pytest.raises(Boom):
        result.get(timeout=DEADLINE)
    del result
    assert reports_after_gc(hub_errors) == []


def test_amap_starts_no_new_item_after_an_error() -> None:
    record: list[int] = []

    def fn(item: int) -> Any:
        record.append(item)
        if item == 1:
            raise Boom("item 1")
        return later(item)

    with pytest.raises(Boom, match="item 1"):
        amap(fn, range(5), concurrency=1).get(timeout=DEADLINE)
    assert record == [0, 1]


@pytest.mark.parametrize("concurrency", [0, -1])
def test_amap_concurrency_below_one_raises_value_error(concurrency: int) -> None:
    with pytest.raises(ValueError):
        amap(str, [1], concurrency=concurrency)


def test_amap_of_nothing_is_an_empty_list() -> None:
    assert amap(str, []).get(timeout=DEADLINE) == []


# -- areduce -------------------------------------------------------------------------------


def test_areduce_folds_one_step_after_another() -> None:
    record: list[tuple[Any, ...]] = []

    def add(acc: int, item: int) -> Promise[int]:
        record.append(("start", acc, item, in_hub()))
        promise: Promise[int] = Promise()

        def finish() -> None:
            record.append(("end", acc + item))
            promise.set(acc + item)

        gevent.get_hub().loop.run_callback(finish)
        return promise

    result = areduce(add, [1, 2, 3, 4], 0)
    assert record == []
    assert result.get(timeout=DEADLINE) == 10
    assert record == [
        ("start", 0, 1, True),
        ("end", 1),
        ("start", 1, 2, True),
        ("end", 3),
        ("start", 3, 3, True),
        ("end", 6),
        ("start", 6, 4, True),
        ("end", 10),
    ]


def test_areduce_waits_for_an_initial_promise() -> None:
    record: list[tuple[str, Any]] = []

    def concat(acc: str, item: str) -> str:
        record.append((acc, item))
        return acc + item

    initial: Promise[str] = Promise()
    result = areduce(concat, ["b", "c"], initial)
    initial.set("a")
    assert result.get(timeout=DEADLINE) == "abc"
    assert record == [("a", "b"), ("ab", "c")]


def test_areduce_with_work_jobs() -> None:
    assert areduce(lambda acc, item: gnotifier.work(operator.add, acc, item), range(10), 0).get(timeout=DEADLINE) == 45


def test_areduce_of_nothing_is_the_initial_value() -> None:
    assert areduce(operator.add, [], "initial").get(timeout=DEADLINE) == "initial"


@pytest.mark.parametrize("how", ["raises", "returns-rejected-promise"])
def test_areduce_rejects_with_the_error_and_stops(how: str) -> None:
    record: list[int] = []

    def step(acc: int, item: int) -> Any:
        record.append(item)
        if item == 2:
            if how == "raises":
                raise Boom("step 2")
            return Promise.rejected(Boom("step 2"))
        return acc + item

    with pytest.raises(Boom, match="step 2"):
        areduce(step, [1, 2, 3], 0).get(timeout=DEADLINE)
    assert record == [1, 2]


# -- afilter -------------------------------------------------------------------------------


def test_afilter_keeps_input_order() -> None:
    hand = HandSettled()
    result = afilter(hand, range(6))
    wait_until(lambda: len(hand.unsettled) == 6, what="every call")
    for item in reversed(range(6)):
        hand.settle(item, item % 2 == 0)
    assert result.get(timeout=DEADLINE) == [0, 2, 4]


def test_afilter_takes_plain_truthy_values() -> None:
    assert afilter(lambda item: item, [0, "x", "", [1], [], None, 3]).get(timeout=DEADLINE) == ["x", [1], 3]


def test_afilter_with_work_jobs() -> None:
    assert afilter(lambda item: gnotifier.work(operator.mod, item, 3), range(7)).get(timeout=DEADLINE) == [1, 2, 4, 5]


def test_afilter_never_calls_fn_inside_afilter() -> None:
    record: list[tuple[str, Any, bool]] = []
    result = afilter(lambda item: record.append(("fn", item, in_hub())) or True, [1])
    record.append(("returned", None, in_hub()))
    assert result.get(timeout=DEADLINE) == [1]
    assert record == [("returned", None, False), ("fn", 1, True)]


@pytest.mark.parametrize("how", ["raises", "returns-rejected-promise"])
def test_afilter_rejects_with_the_error(how: str) -> None:
    def keep(item: int) -> Any:
        if item == 1:
            if how == "raises":
                raise Boom("item 1")
            return Promise.rejected(Boom("item 1"))
        return True

    with pytest.raises(Boom, match="item 1"):
        afilter(keep, range(3)).get(timeout=DEADLINE)


# -- aeach ---------------------------------------------------------------------------------


@pytest.mark.parametrize("combinator", [amap, afilter, aeach], ids=lambda fn: fn.__name__)
def test_a_combinator_cancelled_before_it_started_calls_nothing(combinator: Callable[..., Any]) -> None:
    called: list[int] = []
    controlled: list[int] = []
    promise = combinator(lambda item: called.append(item) or True, [1, 2, 3])
    control = combinator(lambda item: controlled.append(item) or True, [1, 2, 3])
    assert promise.cancel() is True
    control.get(timeout=DEADLINE)  # the same calls, uncancelled: the cancelled one had every turn they took
    assert (called, controlled, type(promise.exception)) == ([], [1, 2, 3], gnotifier.Cancelled)


def test_afilter_whose_finish_raises_rejects_with_that_error() -> None:
    class Unclear:
        def __bool__(self) -> bool:
            raise Boom("neither true nor false")

    with pytest.raises(Boom, match="neither true nor false"):
        afilter(lambda item: Unclear(), [1]).get(timeout=DEADLINE)


def test_aeach_runs_strictly_one_after_another() -> None:
    hand = HandSettled()
    result = aeach(hand, list("abc"))
    assert hand.record == []
    for item in "abc":
        wait_until(lambda: item in hand.unsettled, what=f"the call for {item!r}")
        hand.settle(item, "ignored")
    assert result.get(timeout=DEADLINE) is None
    assert hand.record == [
        ("start", "a", 1, True),
        ("end", "a"),
        ("start", "b", 1, True),
        ("end", "b"),
        ("start", "c", 1, True),
        ("end", "c"),
    ]


def test_aeach_with_work_jobs_never_overlaps() -> None:
    record: list[tuple[str, int]] = []
    lock = threading.Lock()

    def job(item: int) -> None:
        with lock:
            record.append(("start", item))
        # Lets an overlapping job (a bug) start before this one ends.
        threading.Event().wait(0.005)
        with lock:
            record.append(("end", item))

    assert aeach(lambda item: gnotifier.work(job, item), range(4)).get(timeout=DEADLINE) is None
    assert record == [event for item in range(4) for event in (("start", item), ("end", item))]


def test_aeach_never_calls_fn_inside_aeach() -> None:
    record: list[tuple[str, Any, bool]] = []
    result = aeach(lambda item: record.append(("fn", item, in_hub())), [1, 2])
    record.append(("returned", None, in_hub()))
    assert result.get(timeout=DEADLINE) is None
    assert record == [("returned", None, False), ("fn", 1, True), ("fn", 2, True)]


@pytest.mark.parametrize("how", ["raises", "returns-rejected-promise"])
def test_aeach_rejects_with_the_error_and_stops(how: str) -> None:
    record: list[int] = []

    def visit(item: int) -> Any:
        record.append(item)
        if item == 1:
            if how == "raises":
                raise Boom("item 1")
            return Promise.rejected(Boom("item 1"))
        return None

    with pytest.raises(Boom, match="item 1"):
        aeach(visit, range(4)).get(timeout=DEADLINE)
    assert record == [0, 1]


def test_aeach_of_nothing_resolves_to_none() -> None:
    assert aeach(str, []).get(timeout=DEADLINE) is None


# -- never inside the call, also in a thread with no hub yet -------------------------------


NO_HUB_CALLS: list[Any] = [
    pytest.param(lambda fn: amap(fn, [1]), id="amap"),
    pytest.param(lambda fn: amap(fn, [1], concurrency=1), id="amap-limited"),
    pytest.param(lambda fn: areduce(lambda acc, item: fn(item), [1], 0), id="areduce"),
    pytest.param(lambda fn: afilter(fn, [1]), id="afilter"),
    pytest.param(lambda fn: aeach(fn, [1]), id="aeach"),
]


@pytest.mark.parametrize("start", NO_HUB_CALLS)
def test_combinator_never_calls_fn_inside_the_call_in_a_thread_without_a_hub(
    start: Callable[[Callable[[Any], Any]], Promise[Any]],
) -> None:
    def scenario() -> list[tuple[str, bool]]:
        record: list[tuple[str, bool]] = []
        result = start(lambda item: record.append(("fn", in_hub())) or True)
        record.append(("returned", in_hub()))
        result.get(timeout=DEADLINE)
        return record

    assert run_in_a_thread_without_a_hub(scenario) == [("returned", False), ("fn", True)]


# -- bad input -----------------------------------------------------------------------------


BAD_CALLS: list[Any] = [
    pytest.param(lambda: amap(42, [1]), id="amap-fn-not-callable"),
    pytest.param(lambda: amap(str, 5), id="amap-items-not-iterable"),
    pytest.param(lambda: areduce(42, [1], 0), id="areduce-fn-not-callable"),
    pytest.param(lambda: areduce(operator.add, 5, 0), id="areduce-items-not-iterable"),
    pytest.param(lambda: afilter(42, [1]), id="afilter-fn-not-callable"),
    pytest.param(lambda: afilter(bool, 5), id="afilter-items-not-iterable"),
    pytest.param(lambda: aeach(42, [1]), id="aeach-fn-not-callable"),
    pytest.param(lambda: aeach(str, 5), id="aeach-items-not-iterable"),
]


@pytest.mark.parametrize("call", BAD_CALLS)
def test_combinator_bad_input_raises_type_error(call: Callable[[], object]) -> None:
    with pytest.raises(TypeError):
        call()
