"""ThreadsafePromise (any thread settles and waits) and Promise.as_future()."""

from __future__ import annotations

import concurrent.futures
import gc
import queue
import sys
import threading
import weakref
from typing import Any

import gevent
import pytest
from helpers import (
    DEADLINE,
    Boom,
    in_foreign_thread,
    join_thread,
    later,
    outcome,
    reports_after_gc,
    run_in_a_thread_without_a_hub,
    start_thread,
    wait_until,
)

import gnotifier
from gnotifier import AlreadySettled, Cancelled, Promise, ThreadsafePromise


def holds() -> int:
    return gnotifier.hub_stats(gevent.get_hub())["holds"]


# -- settling from any thread -----------------------------------------------------------


def test_threadsafe_promise_is_a_promise_settled_from_a_plain_thread() -> None:
    promise: ThreadsafePromise[int] = ThreadsafePromise()
    assert in_foreign_thread(promise.set, 42) == ("returned", None)
    assert isinstance(promise, Promise) and promise.get(timeout=DEADLINE) == 42


def test_threadsafe_promise_rejected_from_a_plain_thread_raises_that_very_error() -> None:
    promise: ThreadsafePromise[Any] = ThreadsafePromise()
    error = Boom("from a thread")
    in_foreign_thread(promise.set_exception, error)
    with pytest.raises(Boom) as raised:
        promise.get(timeout=DEADLINE)
    assert raised.value is error


def test_threadsafe_promise_second_settle_raises_in_its_own_thread_before_the_first_arrived() -> None:
    # Both settles come from plain threads while the hub stands still: the
    # first one's outcome has not reached the hub when the second is refused.
    promise: ThreadsafePromise[str] = ThreadsafePromise()
    first = in_foreign_thread(promise.set, "first")
    second = in_foreign_thread(promise.set_exception, Boom("second"))
    third = in_foreign_thread(promise.set, "third")
    assert (first, second, third) == (("returned", None), ("raised", AlreadySettled), ("raised", AlreadySettled))
    assert promise.get(timeout=DEADLINE) == "first"
    with pytest.raises(AlreadySettled):
        promise.set("in the hub's thread")


def test_threadsafe_promise_cancel_loses_to_a_settle_already_on_its_way() -> None:
    promise: ThreadsafePromise[str] = ThreadsafePromise()
    in_foreign_thread(promise.set, "won")  # claimed; its outcome still queued for the hub
    assert promise.cancel() is False
    assert promise.get(timeout=DEADLINE) == "won"


def test_threadsafe_promise_cancel_first_refuses_later_settles() -> None:
    promise: ThreadsafePromise[str] = ThreadsafePromise()
    assert promise.cancel() is True
    assert in_foreign_thread(promise.set, "late") == ("raised", AlreadySettled)
    assert isinstance(promise.exception, Cancelled)


@pytest.mark.parametrize("combinator", ["all", "race", "any", "settle"])
def test_threadsafe_promise_a_combinator_settled_refuses_later_settles_and_cancel(combinator: str) -> None:
    promise = getattr(ThreadsafePromise, combinator)([1])
    promise.get(timeout=DEADLINE)
    with pytest.raises(AlreadySettled):
        promise.set("in the hub's thread")
    assert in_foreign_thread(promise.set_exception, Boom("late")) == ("raised", AlreadySettled)
    assert promise.cancel() is False


def test_threadsafe_promise_a_settle_from_a_thread_wins_over_a_combinator_that_came_later() -> None:
    source: Promise[int] = Promise()
    promise = ThreadsafePromise.all([source])
    source.set(1)  # the combinator's link now waits its turn in the hub
    assert in_foreign_thread(promise.set, "won") == ("returned", None)  # claimed; still on its way
    assert promise.get(timeout=DEADLINE) == "won"


def test_threadsafe_promise_set_exception_needs_an_exception_in_any_thread() -> None:
    promise: ThreadsafePromise[Any] = ThreadsafePromise()
    assert in_foreign_thread(promise.set_exception, "not an exception") == ("raised", TypeError)
    promise.set(1)  # the bad call claimed nothing
    assert promise.get(timeout=DEADLINE) == 1


def test_threadsafe_promise_resolved_with_a_promise_follows_it() -> None:
    promise: ThreadsafePromise[Any] = ThreadsafePromise()
    promise.set(later("followed"))
    assert promise.get(timeout=DEADLINE) == "followed"


# -- keeping the hub alive ---------------------------------------------------------------


def test_threadsafe_promise_holds_the_hub_until_settled() -> None:
    before = holds()
    promise: ThreadsafePromise[int] = ThreadsafePromise()
    during = holds()
    in_foreign_thread(promise.set, 1)
    promise.get(timeout=DEADLINE)
    assert (during, holds()) == (before + 1, before)


def test_threadsafe_promise_collected_unsettled_gives_the_hold_back() -> None:
    before = holds()
    promise: ThreadsafePromise[int] = ThreadsafePromise()
    assert holds() == before + 1
    del promise
    gc.collect()
    wait_until(lambda: holds() == before, what="the hold to go")


def test_threadsafe_promise_greenlet_waiting_for_a_plain_thread_gets_no_loop_exit() -> None:
    # gevent#2124: a raw thread settles what a greenlet waits on; with a plain
    # AsyncResult the hub has nothing to wait for and the greenlet gets LoopExit.
    def main() -> int:
        promise: ThreadsafePromise[int] = ThreadsafePromise()

        def settle_once_waited_for() -> None:
            wait_until_linked(promise)
            promise.set(7)

        thread = start_thread(settle_once_waited_for)
        try:
            return promise.get()
        finally:
            thread.join(DEADLINE)

    assert gnotifier.run(main) == 7


def wait_until_linked(promise: ThreadsafePromise[Any]) -> None:
    # A plain thread: poll (with a deadline) until a greenlet waits on it.
    deadline = threading.Event()
    for _ in range(5000):
        if promise.linkcount() > 0:
            return
        deadline.wait(0.001)
    raise AssertionError("no greenlet came to wait")


# -- waiting from other threads ------------------------------------------------------------


def blocked_in_a_wait(thread: threading.Thread) -> bool:
    """Whether ``thread`` is blocked in a ``threading`` wait (as a future's waiter is)."""
    frame = sys._current_frames().get(thread.ident or 0)
    while frame is not None:
        if frame.f_code.co_name == "wait" and frame.f_code.co_filename.endswith("threading.py"):
            return True
        frame = frame.f_back
    return False


@pytest.mark.parametrize("wait", ["result", "get"])
def test_threadsafe_promise_waited_for_in_a_thread_blocks_that_thread(wait: str) -> None:
    promise: ThreadsafePromise[str] = ThreadsafePromise()
    got: list[Any] = []
    waiter = start_thread(lambda: got.append(getattr(promise, wait)(timeout=DEADLINE)))
    wait_until(lambda: blocked_in_a_wait(waiter), what="the thread to wait")  # the hub runs meanwhile
    promise.set("value")
    wait_until(lambda: got == ["value"], what="the thread's answer")
    join_thread(waiter)


@pytest.mark.parametrize("call", ["result", "get", "get-nonblocking"])
def test_threadsafe_promise_timeout_in_another_thread_is_the_builtin_timeout_error(call: str) -> None:
    promise: ThreadsafePromise[int] = ThreadsafePromise()
    wait = {
        "result": lambda: promise.result(timeout=0.01),
        "get": lambda: promise.get(timeout=0.01),
        "get-nonblocking": lambda: promise.get(block=False),
    }[call]
    result = in_foreign_thread(wait)
    promise.set(0)
    assert result == ("raised", TimeoutError)


def test_threadsafe_promise_error_reaches_a_waiting_thread() -> None:
    promise: ThreadsafePromise[int] = ThreadsafePromise()
    promise.set_exception(Boom("for the thread"))
    assert in_foreign_thread(promise.result, DEADLINE) == ("raised", Boom)


def test_threadsafe_promise_chains_and_combinators_work_as_on_any_promise() -> None:
    promise: ThreadsafePromise[int] = ThreadsafePromise()
    doubled = promise.then(lambda value: value * 2)
    both = Promise.all([promise, doubled])
    in_foreign_thread(promise.set, 21)
    assert both.get(timeout=DEADLINE) == [21, 42]
    in_hub_other_thread = in_foreign_thread(promise.then, print)
    assert in_hub_other_thread == ("raised", RuntimeError)  # chain methods stay hub-thread-only


# -- as_future() ------------------------------------------------------------------------------


def test_as_future_completes_with_the_value_for_threads_and_wait() -> None:
    future = gnotifier.work(sum, [1, 2, 3]).as_future()
    assert isinstance(future, concurrent.futures.Future)
    wait_until(future.done, what="the future")
    done, _ = concurrent.futures.wait([future], timeout=0)
    assert (done, in_foreign_thread(future.result, DEADLINE)) == ({future}, ("returned", 6))


def test_as_future_carries_the_error_and_observes_it(hub_errors: list[Any]) -> None:
    error = Boom("rejected")
    future = Promise.rejected(error).as_future()
    wait_until(future.done, what="the future")
    assert future.exception() is error
    assert reports_after_gc(hub_errors) == []  # handed over to the future: not reported as unobserved


def test_as_future_is_a_view_that_cannot_be_cancelled() -> None:
    promise: Promise[int] = Promise()
    future = promise.as_future()
    assert (future.cancel(), future.running()) == (False, True)
    promise.set(5)
    wait_until(future.done, what="the future")
    assert future.result() == 5


def test_as_future_from_another_thread_links_in_the_hub_and_works_with_as_completed() -> None:
    promises: list[ThreadsafePromise[int]] = [ThreadsafePromise() for _ in range(3)]
    futures: list[concurrent.futures.Future[int]] = []
    thread = start_thread(lambda: futures.extend(p.as_future() for p in promises))
    join_thread(thread)
    for index, promise in enumerate(promises):
        promise.set(index)
    wait_until(lambda: all(future.done() for future in futures), what="the futures")
    assert sorted(f.result() for f in concurrent.futures.as_completed(futures, timeout=DEADLINE)) == [0, 1, 2]


def test_a_thread_waiting_on_a_threadsafe_promise_hears_that_its_hub_was_destroyed() -> None:
    outcomes: queue.Queue[tuple[str, Any]] = queue.Queue()

    def in_the_hubs_thread() -> tuple[concurrent.futures.Future[Any], threading.Thread]:
        promise: ThreadsafePromise[int] = ThreadsafePromise()
        view = promise.as_future()
        waiting = threading.Event()

        def waiter() -> None:
            waiting.set()
            outcomes.put(outcome(promise.result))

        thread = start_thread(waiter)
        waiting.wait(DEADLINE)  # in result() yet or not: either way it must hear of the destroy
        return view, thread

    view, thread = run_in_a_thread_without_a_hub(in_the_hubs_thread)  # then destroys that hub
    join_thread(thread)
    assert outcomes.get(timeout=0) == ("raised", gnotifier.HubClosed)
    assert isinstance(view.exception(timeout=DEADLINE), gnotifier.HubClosed)


def test_a_threadsafe_promise_whose_settle_won_with_an_awaitable_keeps_it_over_a_combinator() -> None:
    source: Promise[int] = Promise()
    promise = ThreadsafePromise.all([source])
    winner: Promise[str] = Promise()
    promise.set(winner)  # won: now following winner
    source.set(1)  # the combinator comes to settle it too, and must lose
    gevent.sleep(0)
    winner.set("the winner's")
    assert promise.get(timeout=DEADLINE) == "the winner's"


@pytest.mark.parametrize("look", ["as_future", "a-thread-timed-out"])
def test_a_threadsafe_promise_looked_at_from_a_thread_is_still_collected_unsettled(look: str) -> None:
    promise: ThreadsafePromise[int] = ThreadsafePromise()
    if look == "as_future":
        promise.as_future()
    else:
        assert in_foreign_thread(promise.result, 0.01) == ("raised", TimeoutError)
    gone = weakref.ref(promise)
    del promise
    gc.collect()
    assert gone() is None
    assert holds() == 0


def test_a_settle_a_thread_won_before_the_hub_was_destroyed_reaches_the_threads_that_wait() -> None:
    def in_the_hubs_thread() -> concurrent.futures.Future[int]:
        promise: ThreadsafePromise[int] = ThreadsafePromise()
        view = promise.as_future()
        assert in_foreign_thread(promise.set, 42) == ("returned", None)  # won; still queued for the hub
        return view

    view = run_in_a_thread_without_a_hub(in_the_hubs_thread)  # then destroys that hub
    assert view.result(timeout=DEADLINE) == 42


def test_after_the_hub_was_destroyed_a_settle_and_every_wait_in_a_thread_hear_hub_closed() -> None:
    def in_the_hubs_thread() -> ThreadsafePromise[int]:
        return ThreadsafePromise()

    promise = run_in_a_thread_without_a_hub(in_the_hubs_thread)  # then destroys that hub
    assert in_foreign_thread(promise.set, 1) == ("raised", gnotifier.HubClosed)
    assert in_foreign_thread(promise.set, 2) == ("raised", gnotifier.HubClosed)  # the claim went back
    errors = [in_foreign_thread(lambda: promise.result(timeout=DEADLINE).__class__) for _ in range(2)]
    assert errors == [("raised", gnotifier.HubClosed)] * 2
    assert isinstance(promise.as_future().exception(timeout=DEADLINE), gnotifier.HubClosed)


@pytest.mark.parametrize("awaitable", ["promise", "future"])
def test_a_thread_waiting_on_a_threadsafe_promise_that_follows_hears_that_its_hub_was_destroyed(
    awaitable: str,
) -> None:
    def in_the_hubs_thread() -> ThreadsafePromise[int]:
        promise: ThreadsafePromise[int] = ThreadsafePromise()
        promise.set(Promise() if awaitable == "promise" else concurrent.futures.Future())  # won; follows it
        promise.as_future()
        return promise

    promise = run_in_a_thread_without_a_hub(in_the_hubs_thread)  # then destroys that hub
    assert isinstance(promise.as_future().exception(timeout=DEADLINE), gnotifier.HubClosed)
    assert in_foreign_thread(promise.result, DEADLINE) == ("raised", gnotifier.HubClosed)


def test_the_as_future_of_a_threadsafe_promise_collected_unsettled_is_told() -> None:
    promise: ThreadsafePromise[int] = ThreadsafePromise()
    view = promise.as_future()
    del promise
    gc.collect()
    assert isinstance(view.exception(timeout=DEADLINE), gnotifier.Cancelled)
