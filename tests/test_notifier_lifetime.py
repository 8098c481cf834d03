"""Notifiers: free() from any thread, after free, keeping the loop alive (ref), and forced trigger/free races."""

from __future__ import annotations

import gc
import queue
import threading
import weakref
from typing import Any, Callable

import gevent
import pytest
from helpers import (
    FACTORIES,
    hub_greenlet_check,
    in_foreign_thread,
    in_hub_context,
    join_thread,
    outcome,
    settle,
    start_thread,
    wait_until,
)

from gnotifier import Notifier, NotifierFreed

JOIN_TIMEOUT = 5.0  # seconds a foreign thread gets to finish its part
RACE_TIMEOUT = 5.0  # seconds one side of a forced interleaving waits for the other
# seconds the hub waits for a foreign free() to return while a delivery is
# under way; a free() that (correctly) waits for that delivery gets past it
STALL_LIMIT = 1.0
STILL_RUNNING_PROBE = 0.05  # seconds gevent.wait() gets to (wrongly) return


class Payload:
    """Something a weakref can point at."""

    def method(self, *args: object) -> None:
        pass


class HookedLock:
    """Stands in for a notifier's ``_lock`` to stop a thread at one exact point.

    Each hook is ``(point, where, fn)``: ``fn()`` runs once, the first time
    ``point`` ("before_acquire", "after_acquire" or "after_release") is
    reached where ``where()`` is true (trio's JankyLock idea).
    """

    def __init__(self, inner: Any, *hooks: tuple[str, Callable[[], bool], Callable[[], None]]) -> None:
        self._inner = inner
        self._hooks = list(hooks)

    def _at(self, point: str) -> None:
        for hook in list(self._hooks):
            if hook[0] == point and hook[1]():
                self._hooks.remove(hook)
                hook[2]()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        self._at("before_acquire")
        got: bool = self._inner.acquire(blocking, timeout)
        if got:
            self._at("after_acquire")
        return got

    def release(self) -> None:
        self._inner.release()
        self._at("after_release")

    def __enter__(self) -> HookedLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def waits_for(
    event: threading.Event, record: list[Any], what: str, timeout: float = RACE_TIMEOUT
) -> Callable[[], None]:
    """A hook that blocks until ``event`` is set; records a stall so the test fails."""

    def hook() -> None:
        if not event.wait(timeout):
            record.append(("stalled waiting for", what))

    return hook


def notifier_of_destroyed_hub(trigger_in_owner: bool) -> tuple[Notifier, list[Any]]:
    """A notifier made in a thread whose hub that thread then destroyed."""
    made: queue.Queue[tuple[Notifier, list[Any]]] = queue.Queue()

    def owner() -> None:
        hub = gevent.get_hub()
        notifier = Notifier(lambda: None, ref=False)  # unref'd: on libuv, hub.destroy() waits for ref'd watchers
        seen = [("freed before destroy", notifier.freed)]
        hub.destroy(destroy_loop=True)
        seen.append(("freed after destroy", notifier.freed))
        if trigger_in_owner:
            seen.append(("trigger", outcome(notifier.trigger)))
        made.put((notifier, seen))

    join_thread(start_thread(owner), timeout=JOIN_TIMEOUT)
    return made.get(timeout=JOIN_TIMEOUT)


# -- free() --------------------------------------------------------------------------------


def _free_in_hub_thread(n: Notifier) -> None:
    n.free()


def _free_in_foreign_thread(n: Notifier) -> None:
    assert in_foreign_thread(n.free) == ("returned", None)


def _free_in_hub_context(n: Notifier) -> None:
    in_hub_context(n.free)


FREE_FROM = [
    pytest.param(_free_in_hub_thread, id="hub-thread"),
    pytest.param(_free_in_hub_context, id="hub-context"),
    pytest.param(_free_in_foreign_thread, id="foreign-thread"),
]


@pytest.mark.parametrize("free_from", FREE_FROM)
def test_notifier_free_is_idempotent_and_releases_only_its_own_hold(free_from: Callable[[Notifier], None]) -> None:
    a = Notifier(lambda: None)
    b = Notifier(lambda: None)
    record: list[Any] = [("a freed", a.freed)]

    for _ in range(3):
        free_from(a)
    free_from(a)
    a.free()
    assert in_foreign_thread(a.free) == ("returned", None)
    record.append(("a freed", a.freed))
    record.append(("wait while b is live", gevent.wait(timeout=STILL_RUNNING_PROBE)))
    b.free()
    record.append(("wait after b.free()", gevent.wait(timeout=JOIN_TIMEOUT)))

    assert record == [
        ("a freed", False),
        ("a freed", True),
        ("wait while b is live", False),
        ("wait after b.free()", True),
    ]


@pytest.mark.parametrize(
    "trigger_in_foreign_thread", [False, True], ids=["trigger-in-hub-thread", "trigger-in-foreign-thread"]
)
@pytest.mark.parametrize("free_from", FREE_FROM)
@pytest.mark.parametrize("single_shot", [True, False], ids=["single-shot", "repeating"])
def test_notifier_free_drops_trigger_not_yet_delivered(
    single_shot: bool, free_from: Callable[[Notifier], None], trigger_in_foreign_thread: bool, hub_errors: list[Any]
) -> None:
    calls: list[str] = []
    n = Notifier(calls.append, "cb", single_shot=single_shot)

    if trigger_in_foreign_thread:
        assert in_foreign_thread(n.trigger) == ("returned", None)
    else:
        n.trigger()
    if free_from is _free_in_hub_context:
        # A loop callback queued now runs before the dispatcher drains the trigger.
        gevent.get_hub().loop.run_callback(n.free)
    else:
        free_from(n)
    settle()

    assert (calls, n.freed) == ([], True)
    assert hub_errors == []


def _make_with_weakrefs(single_shot: bool) -> tuple[Notifier, weakref.ref[Payload], weakref.ref[Payload]]:
    owner, arg = Payload(), Payload()
    n = Notifier(owner.method, arg, single_shot=single_shot)
    return n, weakref.ref(owner), weakref.ref(arg)


def _drop_by_free_in_hub_thread(n: Notifier) -> None:
    n.free()


def _drop_by_free_in_foreign_thread(n: Notifier) -> None:
    assert in_foreign_thread(n.free) == ("returned", None)


def _drop_by_context_manager(n: Notifier) -> None:
    with n:
        pass


def _drop_by_single_shot_run(n: Notifier) -> None:
    n.trigger()
    wait_until(lambda: n.freed, what="the single-shot run")
    settle()


@pytest.mark.parametrize(
    "drop",
    [
        pytest.param(_drop_by_free_in_hub_thread, id="free-in-hub-thread"),
        pytest.param(_drop_by_free_in_foreign_thread, id="free-in-foreign-thread"),
        pytest.param(_drop_by_context_manager, id="context-manager"),
        pytest.param(_drop_by_single_shot_run, id="single-shot-ran"),
    ],
)
def test_notifier_freed_drops_references_to_callback_and_args(drop: Callable[[Notifier], None]) -> None:
    n, owner, arg = _make_with_weakrefs(single_shot=True)
    gc.collect()
    record = [("alive", owner() is not None, arg() is not None)]

    drop(n)
    gc.collect()
    record.append(("alive", owner() is not None, arg() is not None))

    assert n.freed
    assert record == [("alive", True, True), ("alive", False, False)]


# -- after free ----------------------------------------------------------------------------


def _freed_by_free(n: Notifier) -> None:
    n.free()


def _freed_by_context_manager(n: Notifier) -> None:
    with n:
        pass


def _freed_by_single_shot_run(n: Notifier) -> None:
    n.trigger()
    wait_until(lambda: n.freed, what="the single-shot run")
    settle()


@pytest.mark.parametrize(
    "trigger_in_foreign_thread", [False, True], ids=["trigger-in-hub-thread", "trigger-in-foreign-thread"]
)
@pytest.mark.parametrize(
    "freed_by",
    [
        pytest.param(_freed_by_free, id="free"),
        pytest.param(_freed_by_context_manager, id="context-manager"),
        pytest.param(_freed_by_single_shot_run, id="single-shot-ran"),
    ],
)
def test_notifier_trigger_after_free_raises_notifier_freed(
    freed_by: Callable[[Notifier], None], trigger_in_foreign_thread: bool, hub_errors: list[Any]
) -> None:
    calls: list[str] = []
    n = Notifier(calls.append, "cb")
    freed_by(n)
    ran_before = list(calls)

    if trigger_in_foreign_thread:
        result = in_foreign_thread(n.trigger)
    else:
        result = outcome(n.trigger)
    settle()

    assert issubclass(NotifierFreed, RuntimeError)
    assert (result, calls) == (("raised", NotifierFreed), ran_before)
    assert hub_errors == []


def test_notifier_freed_error_message_says_what_happened() -> None:
    n = Notifier(lambda: None)
    n.free()
    with pytest.raises(NotifierFreed, match="freed"):
        n.trigger()


@pytest.mark.parametrize(
    "trigger_in_owner", [False, True], ids=["trigger-from-other-thread", "trigger-from-owner-thread"]
)
def test_notifier_of_destroyed_hub_counts_as_freed(trigger_in_owner: bool) -> None:
    n, seen = notifier_of_destroyed_hub(trigger_in_owner)
    seen.append(("freed seen by other thread", n.freed))
    seen.append(("trigger from this thread", outcome(n.trigger)))
    seen.append(("free", outcome(n.free)))

    expected: list[Any] = [("freed before destroy", False), ("freed after destroy", True)]
    if trigger_in_owner:
        expected.append(("trigger", ("raised", NotifierFreed)))
    expected += [
        ("freed seen by other thread", True),
        ("trigger from this thread", ("raised", NotifierFreed)),
        ("free", ("returned", None)),
    ]
    assert seen == expected


def test_notifier_of_destroyed_hub_trigger_from_third_thread_raises_notifier_freed() -> None:
    n, _ = notifier_of_destroyed_hub(trigger_in_owner=False)
    assert in_foreign_thread(n.trigger) == ("raised", NotifierFreed)
    assert n.freed


# -- keeping the loop alive ----------------------------------------------------------------


@pytest.mark.parametrize("factory", FACTORIES)
def test_notifier_ref_keeps_gevent_wait_from_returning_until_freed(factory: Callable[..., Notifier]) -> None:
    n = factory(lambda: None)
    record = [("ref", n.ref), ("wait", gevent.wait(timeout=STILL_RUNNING_PROBE))]
    n.free()
    record.append(("wait", gevent.wait(timeout=JOIN_TIMEOUT)))
    assert record == [("ref", True), ("wait", False), ("wait", True)]


def test_notifier_ref_false_lets_gevent_wait_return_while_live(hub_errors: list[Any]) -> None:
    calls: list[str] = []
    n = Notifier(calls.append, "cb", ref=False)
    record = [("ref", n.ref), ("wait", gevent.wait(timeout=JOIN_TIMEOUT)), ("freed", n.freed)]
    n.trigger()
    wait_until(lambda: calls, what="the unref'd notifier's callback")
    assert [*record, ("calls", calls)] == [("ref", False), ("wait", True), ("freed", False), ("calls", ["cb"])]
    assert hub_errors == []


def test_notifier_setting_ref_toggles_whether_gevent_wait_returns() -> None:
    n = Notifier(lambda: None, single_shot=False)
    record = [(n.ref, gevent.wait(timeout=STILL_RUNNING_PROBE))]
    n.ref = False
    record.append((n.ref, gevent.wait(timeout=JOIN_TIMEOUT)))
    n.ref = True
    record.append((n.ref, gevent.wait(timeout=STILL_RUNNING_PROBE)))
    n.free()
    record.append(("freed", gevent.wait(timeout=JOIN_TIMEOUT)))
    assert record == [(True, False), (False, True), (True, False), ("freed", True)]


def test_notifier_free_from_foreign_thread_lets_gevent_wait_return() -> None:
    n = Notifier(lambda: None)
    record = [("wait", gevent.wait(timeout=STILL_RUNNING_PROBE))]
    record.append(("free", in_foreign_thread(n.free)))
    record.append(("wait", gevent.wait(timeout=JOIN_TIMEOUT)))
    assert record == [("wait", False), ("free", ("returned", None)), ("wait", True)]


def test_notifier_ref_keeps_gevent_wait_alive_until_foreign_trigger_delivered() -> None:
    record: list[Any] = []
    n = Notifier(lambda: record.append("cb"))
    go = threading.Event()

    def trigger_later() -> None:
        waits_for(go, record, "the hub to start waiting")()
        n.trigger()

    thread = start_thread(trigger_later)
    gevent.get_hub().loop.run_callback(go.set)  # runs once gevent.wait() below runs the hub
    record.append(("wait", gevent.wait(timeout=JOIN_TIMEOUT)))
    join_thread(thread, timeout=JOIN_TIMEOUT)
    assert record == ["cb", ("wait", True)]


# -- trigger/free races, forced ------------------------------------------------------------


def test_notifier_race_free_completes_between_trigger_check_and_queueing(hub_errors: list[Any]) -> None:
    # trigger() passed its check and released the lock; free() runs to the
    # end before trigger() queues the delivery: the delivery must be dropped.
    calls: list[str] = []
    record: list[Any] = []
    n = Notifier(calls.append, "cb")
    trigger_checked, free_returned = threading.Event(), threading.Event()
    trigger_side = threading.Thread(target=lambda: record.append(("trigger", outcome(n.trigger))))

    def free_side() -> None:
        waits_for(trigger_checked, record, "trigger's check")()
        n.free()
        record.append(("free", "returned"))
        free_returned.set()

    n._lock = HookedLock(
        n._lock,
        (
            "after_release",
            lambda: threading.current_thread() is trigger_side,
            lambda: (trigger_checked.set(), waits_for(free_returned, record, "free()")()),
        ),
    )
    trigger_side.start()
    join_thread(start_thread(free_side), trigger_side, timeout=JOIN_TIMEOUT)
    settle()

    assert record in (
        [("free", "returned"), ("trigger", ("returned", None))],
        [("free", "returned"), ("trigger", ("raised", NotifierFreed))],
    )
    assert (calls, n.freed) == ([], True)
    assert hub_errors == []


@pytest.mark.parametrize("holder", ["trigger", "free"], ids=["trigger-holds", "free-holds"])
def test_notifier_race_one_call_arrives_while_the_other_holds_the_lock(holder: str, hub_errors: list[Any]) -> None:
    # trigger() holds the notifier's lock and free() arrives at it from
    # another thread, or the other way round.
    arriving = "free" if holder == "trigger" else "trigger"
    calls: list[str] = []
    record: list[Any] = []
    n = Notifier(calls.append, "cb")
    holds, arrives = threading.Event(), threading.Event()
    holder_thread = threading.Thread(target=lambda: record.append((holder, outcome(getattr(n, holder)))))

    def arriving_side() -> None:
        waits_for(holds, record, f"{holder}() to take the lock")()
        record.append((arriving, outcome(getattr(n, arriving))))

    arriving_thread = threading.Thread(target=arriving_side)
    n._lock = HookedLock(
        n._lock,
        (
            "after_acquire",
            lambda: threading.current_thread() is holder_thread,
            lambda: (holds.set(), waits_for(arrives, record, f"{arriving}() at the lock")()),
        ),
        ("before_acquire", lambda: threading.current_thread() is arriving_thread, arrives.set),
    )
    holder_thread.start()
    arriving_thread.start()
    join_thread(arriving_thread, holder_thread, timeout=JOIN_TIMEOUT)
    settle()

    assert sorted(record) in (
        [("free", ("returned", None)), ("trigger", ("returned", None))],
        [("free", ("returned", None)), ("trigger", ("raised", NotifierFreed))],
    )
    assert (calls, n.freed) == ([], True)
    assert hub_errors == []


@pytest.mark.parametrize("single_shot", [True, False], ids=["single-shot", "repeating"])
def test_notifier_race_delivery_waits_at_lock_while_foreign_free_holds_it(
    single_shot: bool, hub_errors: list[Any]
) -> None:
    calls: list[str] = []
    record: list[Any] = []
    n = Notifier(calls.append, "cb", single_shot=single_shot)
    n.trigger()
    free_holds, delivery_waits = threading.Event(), threading.Event()
    free_thread = threading.Thread(target=lambda: record.append(("free", outcome(n.free))))

    def delivery_arrives() -> None:
        waits_for(free_holds, record, "free() to take the lock")()
        delivery_waits.set()

    n._lock = HookedLock(
        n._lock,
        (
            "after_acquire",
            lambda: threading.current_thread() is free_thread,
            lambda: (free_holds.set(), waits_for(delivery_waits, record, "the delivery at the lock")()),
        ),
        ("before_acquire", hub_greenlet_check(), delivery_arrives),
    )
    free_thread.start()
    wait_until(lambda: not free_thread.is_alive(), timeout=JOIN_TIMEOUT, what="free() in the foreign thread")
    join_thread(free_thread, timeout=JOIN_TIMEOUT)
    settle()

    assert (record, calls, n.freed) == ([("free", ("returned", None))], [], True)
    assert hub_errors == []


@pytest.mark.parametrize("single_shot", [True, False], ids=["single-shot", "repeating"])
def test_notifier_race_no_callback_starts_after_foreign_free_returned(single_shot: bool, hub_errors: list[Any]) -> None:
    # The delivery has checked the state and let go of the lock; a foreign
    # free() now runs. Either free() returns and the callback never starts,
    # or free() waits for the delivery and returns after the callback.
    record: list[Any] = []
    n = Notifier(lambda: record.append(("cb",)), single_shot=single_shot)
    n.trigger()
    delivery_checked, free_returned = threading.Event(), threading.Event()

    def free_side() -> None:
        waits_for(delivery_checked, record, "the delivery's check")()
        n.free()
        record.append(("free", "returned"))
        free_returned.set()

    def pause_delivery() -> None:
        delivery_checked.set()
        free_returned.wait(STALL_LIMIT)  # a free() that waits for us gets past this

    n._lock = HookedLock(n._lock, ("after_release", hub_greenlet_check(), pause_delivery))
    free_thread = start_thread(free_side)
    wait_until(
        lambda: not free_thread.is_alive(), timeout=JOIN_TIMEOUT + STALL_LIMIT, what="free() in the foreign thread"
    )
    join_thread(free_thread, timeout=JOIN_TIMEOUT)
    settle()

    assert record in ([("free", "returned")], [("cb",), ("free", "returned")])
    assert n.freed
    assert hub_errors == []
