"""The per-hub dispatcher, as users see it: call_soon_threadsafe and keep-alive.

Every accepted call runs exactly once, in hub context of the target hub, in
the order each thread made its calls; calls never coalesce; the hub stays
alive while a queued call has not run, and an idle dispatcher keeps nothing
alive. What happens once the hub is destroyed: ``test_dispatch_destroy.py``.

The tests are not monkey-patched: ``threading`` is the real thing, so a
``threading.Thread.join()`` in the main greenlet blocks the hub's thread and
holds the hub still. Several tests use that to queue calls at a point where
the hub certainly cannot run them yet.
"""

from __future__ import annotations

import gc
import os
import queue
import threading
import time
import weakref
from typing import Any, Callable

import gevent
import gevent.event
import pytest
from gevent.event import AsyncResult
from helpers import (
    call_in,
    call_soon,
    join_thread,
    start_own_hub_thread,
    start_thread,
    voluntary_switches,
    wait_until,
)

import gnotifier
from gnotifier import _dispatch

JOIN_TIMEOUT = 10.0  # seconds a helper thread gets before the test fails
WAIT_TIMEOUT = 10.0  # seconds gevent.wait() gets to find the hub idle
IDLE_TIMEOUT = 2.0  # seconds an idle hub gets to exit; it should exit at once

THREADS = 4
CALLS_PER_THREAD = 50_000


def _join_running_hub(thread: threading.Thread) -> None:
    """Join a plain thread while the hub keeps running (it may be calling into it)."""
    wait_until(lambda: not thread.is_alive(), JOIN_TIMEOUT, f"{thread.name} to finish")
    thread.join(JOIN_TIMEOUT)


def _where(record: list[Any], label: object) -> Callable[[], None]:
    """A call that records its label, its native thread and whether it runs in hub context."""

    def call() -> None:
        record.append((label, threading.get_ident(), gevent.getcurrent() is gevent.get_hub()))

    return call


# -- exactly once, in order, never merged --------------------------------------------------


def test_call_soon_threadsafe_runs_every_call_once_in_each_threads_order() -> None:
    hub = gevent.get_hub()
    # Meet the hub in its own thread first, as the README advises: a first
    # contact from a foreign thread goes through gevent's
    # run_callback_threadsafe, whose bookkeeping races the running loop.
    gnotifier.call_soon_threadsafe(lambda: None)
    record: list[tuple[int, int]] = []
    barrier = threading.Barrier(THREADS, timeout=JOIN_TIMEOUT)

    def flood(thread_no: int) -> None:
        barrier.wait()
        for i in range(CALLS_PER_THREAD):
            gnotifier.call_soon_threadsafe(record.append, (thread_no, i), hub=hub)

    threads = [start_thread(flood, n, name=f"flood-{n}") for n in range(THREADS)]
    for thread in threads:
        _join_running_hub(thread)
    # Every call was accepted by now. A marker sent afterwards lets a late
    # repeat of any of them show up before the counts are taken.
    wait_until(lambda: len(record) >= THREADS * CALLS_PER_THREAD, what="all calls to run")
    gnotifier.call_soon_threadsafe(record.append, ("marker", 0))
    wait_until(lambda: ("marker", 0) in record, what="the marker call to run")
    record.remove(("marker", 0))

    assert len(record) == THREADS * CALLS_PER_THREAD
    by_thread = {n: [i for m, i in record if m == n] for n in range(THREADS)}
    expected = list(range(CALLS_PER_THREAD))
    for n in range(THREADS):
        assert by_thread[n] == expected, f"thread {n}: calls lost, repeated or reordered"


@pytest.mark.parametrize("origin", ["hub-thread", "foreign-thread"])
def test_call_soon_threadsafe_does_not_coalesce_calls(origin: str) -> None:
    # All calls are queued while the hub cannot run; each still runs once.
    hub = gevent.get_hub()
    record: list[int] = []

    def queue_calls() -> None:
        for i in range(1000):
            gnotifier.call_soon_threadsafe(record.append, i, hub=hub)

    if origin == "hub-thread":
        queue_calls()
    else:
        join_thread(start_thread(queue_calls))
    assert record == []

    wait_until(lambda: len(record) >= 1000, what="the queued calls to run")
    assert gevent.wait(timeout=WAIT_TIMEOUT) is True
    assert record == list(range(1000))


def test_queued_calls_are_out_of_the_garbage_collectors_sight_in_the_compiled_build() -> None:
    # A flood of queued calls must not be walked by every collection while
    # it waits (that cost a third of the rate). They still run, each once.
    hub = gevent.get_hub()
    gnotifier.call_soon_threadsafe(lambda: None)  # the hub has a dispatcher now
    record: list[int] = []
    tracked: list[bool] = []

    def queue_calls() -> None:
        for i in range(100):
            gnotifier.call_soon_threadsafe(record.append, i, hub=hub)
        tracked.extend(gc.is_tracked(call) for call in list(hub._gnotifier_dispatcher._calls))

    join_thread(start_thread(queue_calls))
    assert len(tracked) >= 100
    assert not any(tracked) if gnotifier._compiled else all(tracked)
    wait_until(lambda: len(record) >= 100, what="the queued calls to run")
    assert record == list(range(100))


def test_queued_arguments_leave_the_collectors_sight_only_when_they_hold_no_references() -> None:
    # Arguments that cannot refer to anything (ints, strings, None) need no
    # collector; arguments that can (a list, a tuple holding one) keep it,
    # so a reference cycle through them is still collected.
    hub = gevent.get_hub()
    gnotifier.call_soon_threadsafe(lambda: None)  # the hub has a dispatcher now
    record: list[tuple[object, ...]] = []
    tracked: list[bool] = []

    def keep(*args: object) -> None:
        record.append(args)

    def queue_calls() -> None:
        # The hub's thread is in join_thread() meanwhile, so the calls wait
        # in the queue; no collection may untrack them, as CPython's would.
        gc.disable()
        try:
            gnotifier.call_soon_threadsafe(keep, 1, "two", None, hub=hub)
            gnotifier.call_soon_threadsafe(keep, [3], hub=hub)
            gnotifier.call_soon_threadsafe(keep, ([4],), hub=hub)
            tracked.extend(gc.is_tracked(args) for _, args in list(hub._gnotifier_dispatcher._calls)[-3:])
        finally:
            gc.enable()

    join_thread(start_thread(queue_calls))
    assert tracked == [not gnotifier._compiled, True, True]
    wait_until(lambda: len(record) == 3, what="the queued calls to run")
    assert record == [(1, "two", None), ([3],), (([4],),)]


def test_a_callable_sent_from_a_thread_is_not_kept_alive_once_its_calls_ran() -> None:
    # The check of a callable sent over and over is remembered until the
    # next batch of calls runs, and no longer.
    hub = gevent.get_hub()
    record: list[int] = []

    class Target:
        def hit(self, i: int) -> None:
            record.append(i)

    targets = [Target()]
    alive = weakref.ref(targets[0])

    def queue_calls() -> None:
        for i in range(3):
            gnotifier.call_soon_threadsafe(targets[0].hit, i, hub=hub)

    join_thread(start_thread(queue_calls))
    wait_until(lambda: len(record) == 3, what="the queued calls to run")
    targets.clear()
    assert alive() is None, "a call that ran still holds its callable"


def test_calls_alternating_between_hubs_reach_each_its_own() -> None:
    # A thread that sends to one hub again and again finds it quicker the
    # second time; alternating hubs must never send a call to the other one.
    here = gevent.get_hub()
    gnotifier.call_soon_threadsafe(lambda: None)  # this hub has a dispatcher now
    ran: dict[str, list[tuple[int, int]]] = {"here": [], "there": []}
    sent = threading.Event()

    def there(hub: Any) -> None:
        gnotifier.call_soon_threadsafe(lambda: None)  # that hub has one too
        sender = start_thread(send_to_both, hub)
        while not (sent.is_set() and len(ran["there"]) == 50):
            gevent.sleep(0.001)
        join_thread(sender)

    def record(where: str, i: int) -> None:
        ran[where].append((i, threading.get_ident()))

    def send_to_both(other: Any) -> None:
        for i in range(50):
            gnotifier.call_soon_threadsafe(record, "here", i, hub=here)
            gnotifier.call_soon_threadsafe(record, "there", i, hub=other)
        sent.set()

    thread, box = start_own_hub_thread(there)
    join_thread(thread)
    wait_until(lambda: len(ran["here"]) == 50, what="the calls to this hub")
    _, there_ident = box.get(timeout=1)
    assert ran["here"] == [(i, threading.get_ident()) for i in range(50)]
    assert ran["there"] == [(i, there_ident) for i in range(50)]


def test_the_hub_calls_were_sent_to_last_is_forgotten_when_it_is_destroyed() -> None:
    # The hub a thread sent to last is remembered for speed, but not past
    # the hub's destroy(): the thread that sent to it must not pin it.
    # (gevent keeps a destroyed hub alive a while itself, through the
    # LoopExit of its last run, so only gnotifier's own memory is checked.)
    def body(hub: Any) -> Any:
        def send_twice() -> None:  # the first call makes the hub's dispatcher
            gnotifier.call_soon_threadsafe(lambda: None, hub=hub)
            gnotifier.call_soon_threadsafe(lambda: None, hub=hub)

        join_thread(start_thread(send_twice))
        assert _dispatch._last_seen[0] is hub
        return hub

    thread, box = start_own_hub_thread(body)
    join_thread(thread)
    hub, _ = box.get(timeout=1)
    assert _dispatch._last_seen[0] is not hub
    assert _dispatch._last_seen[1] is None


def test_a_thread_that_sent_to_a_hub_before_it_was_destroyed_is_refused_after() -> None:
    def body(hub: Any) -> Any:
        gnotifier.call_soon_threadsafe(lambda: None, hub=hub)  # remembered by this thread's lookup
        return hub

    thread, box = start_own_hub_thread(body)
    join_thread(thread)
    hub, _ = box.get(timeout=1)
    with pytest.raises(gnotifier.HubClosed):
        gnotifier.call_soon_threadsafe(lambda: None, hub=hub)


def test_call_soon_threadsafe_from_hub_thread_runs_later_in_hub_context() -> None:
    record: list[Any] = []
    gnotifier.call_soon_threadsafe(_where(record, "call"))
    record.append(("after call_soon_threadsafe", threading.get_ident(), False))

    wait_until(lambda: len(record) == 2, what="the call to run")
    me = threading.get_ident()
    assert record == [("after call_soon_threadsafe", me, False), ("call", me, True)]


def test_call_soon_threadsafe_from_foreign_thread_runs_in_hub_thread() -> None:
    hub = gevent.get_hub()
    record: list[Any] = []
    foreign: list[int] = []

    def send() -> None:
        foreign.append(threading.get_ident())
        gnotifier.call_soon_threadsafe(_where(record, "call"), hub=hub)
        record.append(("after call_soon_threadsafe", threading.get_ident(), False))

    join_thread(start_thread(send))  # the hub cannot run the call before this returns
    wait_until(lambda: len(record) == 2, what="the call to run")

    assert record == [
        ("after call_soon_threadsafe", foreign[0], False),
        ("call", threading.get_ident(), True),
    ]


@pytest.mark.parametrize("hub_state", ["fresh-hub", "hub-already-used"])
def test_call_soon_threadsafe_reaches_idle_hub_of_another_thread(hub_state: str) -> None:
    # The target hub's thread only waits; the call must wake it and run there.
    handoff: queue.Queue[tuple[Any, AsyncResult]] = queue.Queue()

    def body(hub: Any) -> object:
        if hub_state == "hub-already-used":
            gnotifier.call_soon_threadsafe(lambda: None)
            assert gevent.wait(timeout=WAIT_TIMEOUT) is True
        answer = AsyncResult()
        handoff.put((hub, answer))
        return answer.get(timeout=JOIN_TIMEOUT)  # a gevent.Timeout fails the test

    owner, box = start_own_hub_thread(body)
    hub, answer = handoff.get(timeout=JOIN_TIMEOUT)
    gnotifier.call_soon_threadsafe(lambda: answer.set(("ran in", threading.get_ident())), hub=hub)
    join_thread(owner)

    value, owner_ident = box.get(timeout=0)
    assert value == ("ran in", owner_ident)


class _LoopSpy:
    """Stands in for a hub's loop and records what other threads touch on it.

    A loop call from a foreign thread is a data race with the hub's thread
    that shows only rarely (on libev-cffi, ``ev_ref`` racing the hub's own
    ref counting leaves the loop believing nothing is active). The spy makes
    any such call visible every time.
    """

    def __init__(self, loop: Any, owner: int, touched: list[tuple[str, str]]) -> None:
        object.__setattr__(self, "_loop", loop)
        object.__setattr__(self, "_owner", owner)
        object.__setattr__(self, "_touched", touched)

    def __getattr__(self, name: str) -> Any:
        if threading.get_ident() != self._owner:
            self._touched.append((threading.current_thread().name, name))
        return getattr(self._loop, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if threading.get_ident() != self._owner:
            self._touched.append((threading.current_thread().name, name))
        setattr(self._loop, name, value)


@pytest.mark.parametrize("send", [call_soon, call_in], ids=["call_soon_threadsafe", "call_in_hub"])
@pytest.mark.parametrize("hub_state", ["fresh-hub", "hub-already-used"])
def test_dispatcher_changes_no_loop_state_from_calling_thread(
    send: Callable[[Callable[[], Any], Any], None], hub_state: str
) -> None:
    # The dispatcher changes no loop state from the calling thread (only
    # async_().send() is safe there). The watcher's send() is not a loop
    # attribute, so a correct call leaves the spy's list empty.
    handoff: queue.Queue[tuple[Any, AsyncResult]] = queue.Queue()
    touched: list[tuple[str, str]] = []

    def body(hub: Any) -> object:
        if hub_state == "hub-already-used":
            gnotifier.call_soon_threadsafe(lambda: None)
            assert gevent.wait(timeout=WAIT_TIMEOUT) is True
        loop = hub.loop
        hub.loop = _LoopSpy(loop, threading.get_ident(), touched)
        try:
            answer = AsyncResult()
            handoff.put((hub, answer))
            return answer.get(timeout=JOIN_TIMEOUT)
        finally:
            hub.loop = loop

    owner, box = start_own_hub_thread(body)
    hub, answer = handoff.get(timeout=JOIN_TIMEOUT)
    send(lambda: answer.set("ran"), hub)
    join_thread(owner)

    assert box.get(timeout=0)[0] == "ran"
    if hub_state == "fresh-hub":
        # First contact with a hub gnotifier has never seen in its own thread:
        # the watcher can only be made there, and gevent's cross-thread entry
        # point is the only way in (a documented limitation; see the README).
        assert touched == [("MainThread", "run_callback_threadsafe")]
    else:
        assert touched == []


# -- floods: drained in slices, flow control -----------------------------------------------


def test_call_flood_is_drained_in_slices_so_timers_get_their_turn() -> None:
    # Regression: a wakeup ran the whole backlog, so with threads flooding
    # the hub its timers (heartbeats, timeouts) waited for seconds.
    slices = 20
    total = slices * gnotifier._dispatch.DRAIN_SLICE
    record: list[Any] = []
    hub = gevent.get_hub()
    gnotifier.call_soon_threadsafe(lambda: None)  # the dispatcher exists and is idle
    gevent.sleep(0)

    def flood() -> None:
        for i in range(total):
            gnotifier.call_soon_threadsafe(record.append, i, hub=hub)

    thread = start_thread(flood)
    join_thread(thread)  # the hub's thread is blocked: the whole flood is queued
    gnotifier.delay(0, record.append, "timer")
    wait_until(lambda: len(record) == total + 1, what="the flood and the timer")
    calls = [item for item in record if item != "timer"]
    assert calls == list(range(total))
    assert record.index("timer") <= 2 * gnotifier._dispatch.DRAIN_SLICE


class _CountingSleep:
    """Stands in for the dispatcher's native sleep: counts the back-off steps."""

    def __init__(self, real: Callable[[float], None]) -> None:
        self.real = real
        self.steps = 0

    def __call__(self, seconds: float) -> None:
        self.steps += 1
        self.real(seconds)


@pytest.fixture
def back_off_steps(monkeypatch: pytest.MonkeyPatch) -> _CountingSleep:
    """Counts the steps a flooding thread sleeps (flow control)."""
    sleep = _CountingSleep(gnotifier._dispatch.sleep)
    monkeypatch.setattr(gnotifier._dispatch, "sleep", sleep)
    return sleep


def test_flood_from_a_foreign_thread_steps_aside_while_the_hub_drains(back_off_steps: _CountingSleep) -> None:
    # Regression: 8 flooding threads starved the hub's thread of the GIL
    # (heartbeat late by 500 ms at p99) and grew the queue without bound.
    dispatch = gnotifier._dispatch
    total = 8 * dispatch.BACKLOG_HIGH
    record: list[int] = []
    deepest = [0]
    hub = gevent.get_hub()
    gnotifier.call_soon_threadsafe(lambda: None)
    wait_until(lambda: gnotifier.hub_stats(hub)["queued"] == 0, JOIN_TIMEOUT, "the queue to empty")
    filled = threading.Event()

    def flood() -> None:
        for i in range(total):
            if i == dispatch.BACKLOG_HIGH:
                filled.set()  # this call takes the queue over the mark
            gnotifier.call_soon_threadsafe(record.append, i, hub=hub)
            deepest[0] = max(deepest[0], gnotifier.hub_stats(hub)["queued"])

    thread = start_thread(flood)
    assert filled.wait(JOIN_TIMEOUT)  # the hub's thread was blocked until now
    wait_until(lambda: len(record) == total, JOIN_TIMEOUT, "the flood to run")
    join_thread(thread)
    assert record == list(range(total))
    assert back_off_steps.steps > 0 and deepest[0] <= dispatch.BACKLOG_HIGH + 1


def test_flood_does_not_wait_on_a_hub_that_is_not_draining(back_off_steps: _CountingSleep) -> None:
    # A blocked hub cannot drain: the submitter gives up waiting once, after
    # STALLED seconds, instead of waiting per call (or forever).
    dispatch = gnotifier._dispatch
    total = 4 * dispatch.BACKLOG_HIGH
    record: list[int] = []
    hub = gevent.get_hub()
    gnotifier.call_soon_threadsafe(lambda: None)
    gevent.sleep(0)

    def flood() -> None:
        for i in range(total):
            gnotifier.call_soon_threadsafe(record.append, i, hub=hub)

    thread = start_thread(flood)
    join_thread(thread)  # the hub's thread is blocked all along
    wait_until(lambda: len(record) == total, JOIN_TIMEOUT, "the flood to run")
    assert record == list(range(total))
    assert 0 < back_off_steps.steps <= round(dispatch.STALLED / dispatch.BACK_OFF_STEP) + 1


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["hub-thread", "foreign-thread"])
def test_call_soon_threadsafe_reports_error_to_hub_and_runs_later_calls(
    origin: str, hub_errors: list[tuple[object, type, BaseException]]
) -> None:
    hub = gevent.get_hub()
    record: list[str] = []
    error = ValueError("boom in a queued call")

    def failing_call() -> None:
        record.append("failing call")
        raise error

    def queue_calls() -> None:
        gnotifier.call_soon_threadsafe(record.append, "before", hub=hub)
        gnotifier.call_soon_threadsafe(failing_call, hub=hub)
        gnotifier.call_soon_threadsafe(record.append, "after", hub=hub)

    if origin == "hub-thread":
        queue_calls()
    else:
        join_thread(start_thread(queue_calls))
    wait_until(lambda: "after" in record, what="the call after the failing one")

    assert record == ["before", "failing call", "after"]
    assert [(type_, value) for _, type_, value in hub_errors] == [(ValueError, error)]
    assert hub_errors[0][2] is error


@pytest.mark.parametrize("fn", [None, 42, "print"], ids=["None", "int", "str"])
def test_call_soon_threadsafe_rejects_non_callable(fn: object) -> None:
    with pytest.raises(TypeError):
        gnotifier.call_soon_threadsafe(fn)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        gnotifier.call_soon_threadsafe(fn, hub=gevent.get_hub())  # type: ignore[arg-type]


# -- keeping the hub alive -----------------------------------------------------------------


def test_dispatcher_keeps_hub_alive_until_queued_call_from_hub_thread_ran() -> None:
    record: list[str] = []
    gnotifier.call_soon_threadsafe(record.append, "call")

    assert gevent.wait(timeout=WAIT_TIMEOUT) is True
    record.append("wait returned")

    assert record == ["call", "wait returned"]


def test_dispatcher_keeps_hub_alive_until_queued_call_from_foreign_thread_ran() -> None:
    hub = gevent.get_hub()
    record: list[str] = []
    join_thread(start_thread(lambda: gnotifier.call_soon_threadsafe(record.append, "call", hub=hub)))

    assert gevent.wait(timeout=WAIT_TIMEOUT) is True
    record.append("wait returned")

    assert record == ["call", "wait returned"]


def test_dispatcher_keeps_hub_alive_for_calls_queued_by_a_call() -> None:
    record: list[str] = []

    def first() -> None:
        record.append("first")
        gnotifier.call_soon_threadsafe(second)

    def second() -> None:
        record.append("second")
        gnotifier.call_soon_threadsafe(record.append, "third")

    gnotifier.call_soon_threadsafe(first)
    assert gevent.wait(timeout=WAIT_TIMEOUT) is True
    record.append("wait returned")

    assert record == ["first", "second", "third", "wait returned"]


def test_dispatcher_keeps_hub_alive_for_call_accepted_while_hub_runs_a_call() -> None:
    # Regression: a call accepted during a drain ran only after gevent.wait() returned.
    # The race: a foreign thread's call is accepted while the hub is busy
    # running an earlier call. The earlier call holds the hub (natively)
    # until the foreign call was accepted, so the call is queued, not run,
    # when that batch ends; the hub must not exit before running it.
    hub = gevent.get_hub()
    record: list[str] = []
    go = threading.Event()
    accepted = threading.Event()

    def foreign() -> None:
        assert go.wait(JOIN_TIMEOUT)
        gnotifier.call_soon_threadsafe(record.append, "second", hub=hub)
        accepted.set()

    def first() -> None:
        record.append("first")
        go.set()
        assert accepted.wait(JOIN_TIMEOUT)

    thread = start_thread(foreign)
    gnotifier.call_soon_threadsafe(first)
    assert gevent.wait(timeout=WAIT_TIMEOUT) is True
    record.append("wait returned")
    join_thread(thread)

    assert record == ["first", "second", "wait returned"]


def _used_by_call_soon_threadsafe(hub_errors: list[Any]) -> None:
    gnotifier.call_soon_threadsafe(lambda: None)


def _used_by_failing_call(hub_errors: list[Any]) -> None:
    gnotifier.call_soon_threadsafe(lambda: 1 / 0)
    wait_until(lambda: len(hub_errors) == 1, what="the failing call to be reported")


def _used_by_call_in_hub(hub_errors: list[Any]) -> None:
    hub = gevent.get_hub()
    thread = start_thread(lambda: gnotifier.call_in_hub(lambda: None, hub=hub, timeout=JOIN_TIMEOUT))
    _join_running_hub(thread)


def _used_by_start_thread(hub_errors: list[Any]) -> None:
    gnotifier.start_thread(lambda: None).join(JOIN_TIMEOUT)


def _used_by_work(hub_errors: list[Any]) -> None:
    assert gnotifier.work(lambda: 5).get(timeout=JOIN_TIMEOUT) == 5


@pytest.mark.parametrize(
    "use",
    [
        _used_by_call_soon_threadsafe,
        _used_by_failing_call,
        _used_by_call_in_hub,
        _used_by_start_thread,
        _used_by_work,
    ],
    ids=["call_soon_threadsafe", "failing-call", "call_in_hub", "start_thread", "work"],
)
def test_dispatcher_idle_does_not_keep_wait_from_returning(
    use: Callable[[list[Any]], None], hub_errors: list[Any]
) -> None:
    use(hub_errors)

    # A hub kept alive by an idle dispatcher would reach the timeout: False.
    assert gevent.wait(timeout=IDLE_TIMEOUT) is True


@pytest.mark.parametrize("first_use", ["from-own-thread", "from-foreign-thread"])
def test_dispatcher_idle_on_fresh_hub_does_not_keep_wait_from_returning(first_use: str) -> None:
    # A hub whose dispatcher was just made and never held anything: on libuv
    # a new async watcher is ref'd unless gnotifier says otherwise.
    record: list[Any] = []
    handoff: queue.Queue[Any] = queue.Queue()
    accepted = threading.Event()

    def body(hub: Any) -> None:
        if first_use == "from-own-thread":
            gnotifier.call_soon_threadsafe(record.append, "call")
        else:
            handoff.put(hub)
            assert accepted.wait(JOIN_TIMEOUT)
        record.append(("wait returned", gevent.wait(timeout=IDLE_TIMEOUT)))

    owner, _ = start_own_hub_thread(body)
    if first_use == "from-foreign-thread":
        gnotifier.call_soon_threadsafe(record.append, "call", hub=handoff.get(timeout=JOIN_TIMEOUT))
        accepted.set()
    join_thread(owner)

    assert record == ["call", ("wait returned", True)]


@pytest.mark.parametrize("holder", ["notifier", "work"])
def test_a_hub_whose_dispatcher_a_foreign_thread_made_first_is_kept_alive_by_what_holds_it(holder: str) -> None:
    # The dispatcher starts in the hub's first loop turn; a ref'd notifier
    # or an unsettled promise made before that turn must still hold the hub.
    # The trigger comes from a timer that holds nothing, so the wait returns
    # at once unless the hold counts.
    record: list[Any] = []
    handoff: queue.Queue[Any] = queue.Queue()
    accepted = threading.Event()
    release = threading.Event()

    def body(hub: Any) -> None:
        handoff.put(hub)
        assert accepted.wait(JOIN_TIMEOUT)
        timer = hub.loop.timer(0.05)
        timer.ref = False
        if holder == "notifier":
            notifier = gnotifier.Notifier(record.append, "fired")
            timer.start(notifier.trigger)
        else:
            promise = gnotifier.work(release.wait, JOIN_TIMEOUT)
            promise.then(record.append)
            timer.start(release.set)
        try:
            record.append(("wait returned", gevent.wait(timeout=WAIT_TIMEOUT)))
        finally:
            timer.close()
            release.set()

    owner, _ = start_own_hub_thread(body)
    gnotifier.call_soon_threadsafe(record.append, "call", hub=handoff.get(timeout=JOIN_TIMEOUT))
    accepted.set()
    join_thread(owner)

    assert record == ["call", "fired" if holder == "notifier" else True, ("wait returned", True)]


# -- the wake-up through an eventfd, on the compiled libev loop ------------------------------


def _wakes_through_an_eventfd() -> bool:
    return _dispatch.dispatcher_for(gevent.get_hub())._fd >= 0


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="counts context switches through Linux's /proc")
def test_a_wake_up_from_a_foreign_thread_costs_the_hub_one_sleep_not_two() -> None:
    if not _wakes_through_an_eventfd():
        pytest.skip("the hub wakes through an eventfd on the compiled libev loop, where the OS has one")
    # A thread that held the GIL as it woke the hub would make the hub,
    # woken from its poll, sleep a second time: until that thread let go.
    hub_tid = threading.get_native_id()
    seen = threading.Event()
    notifier = gnotifier.Notifier(seen.set, single_shot=False)
    finished = gevent.event.Event()
    trips = 200
    missed: list[int] = []

    def triggers() -> None:
        for trip in range(trips):
            seen.clear()
            notifier.trigger()
            if not seen.wait(JOIN_TIMEOUT):
                missed.append(trip)
            time.sleep(0.0002)  # pacing, not synchronisation: the hub is back in its poll
        gnotifier.call_soon_threadsafe(finished.set, hub=hub)

    hub = gevent.get_hub()
    before = voluntary_switches(hub_tid)
    thread = start_thread(triggers)
    assert finished.wait(JOIN_TIMEOUT * 2)
    slept = voluntary_switches(hub_tid) - before
    thread.join(JOIN_TIMEOUT)
    notifier.free()
    assert missed == []
    # Measured: 201-205 sleeps letting go of the GIL (also beside two busy
    # processes), 257-286 holding it.
    assert slept < trips * 6 // 5, f"the hub slept {slept} times for {trips} wake-ups"


def _record_writers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    # The names of the threads that call the dispatcher's os.write(), in order; skips the
    # test where the hub does not wake through an eventfd.
    if not _wakes_through_an_eventfd():
        pytest.skip("the hub wakes through an eventfd on the compiled libev loop, where the OS has one")
    released: list[str] = []
    real_write = os.write

    class Os:
        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        @staticmethod
        def write(fd: int, data: bytes) -> int:
            released.append(threading.current_thread().name)
            return real_write(fd, data)

    monkeypatch.setattr(_dispatch, "os", Os())
    return released


@pytest.mark.skipif(gnotifier._compiled is False, reason="the pure-Python build has no write that keeps the GIL")
def test_a_foreign_thread_lets_go_of_the_gil_as_it_wakes_the_hub_and_the_hub_and_a_worker_do_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    released = _record_writers(monkeypatch)  # who woke the hub through os.write(), which lets go of the GIL
    done = gevent.event.Event()
    hub = gevent.get_hub()
    foreign = start_thread(lambda: gnotifier.call_soon_threadsafe(done.set, hub=hub), name="foreign")
    assert done.wait(JOIN_TIMEOUT)
    foreign.join(JOIN_TIMEOUT)
    done.clear()
    gnotifier.call_soon_threadsafe(done.set)  # from the hub's thread
    assert done.wait(JOIN_TIMEOUT)
    pool = gnotifier.Pool(1)
    try:
        for value in range(20):  # each result wakes the hub from the worker
            assert pool.work(int, value).get(timeout=JOIN_TIMEOUT) == value
    finally:
        pool.shutdown(wait=True, timeout=JOIN_TIMEOUT)
    assert released == ["foreign"]


@pytest.mark.skipif(gnotifier._compiled is False, reason="the pure-Python build has no write that keeps the GIL")
def test_a_worker_with_its_next_job_in_hand_lets_go_of_the_gil_as_it_wakes_the_hub(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    released = _record_writers(monkeypatch)  # who woke the hub through os.write(), which lets go of the GIL
    pool = gnotifier.Pool(1, name="handing")
    hold = threading.Event()
    try:
        first = pool.work(hold.wait, JOIN_TIMEOUT)  # the one worker runs this; the next queues behind it
        second = pool.work(int, 5)
        hold.set()  # the first ends with the second in hand: the worker lets go as it writes
        assert first.get(timeout=JOIN_TIMEOUT) is True
        assert second.get(timeout=JOIN_TIMEOUT) == 5  # and then keeps the GIL: it goes on to watch
    finally:
        pool.shutdown(wait=True, timeout=JOIN_TIMEOUT)
    assert released == ["handing-1"]
