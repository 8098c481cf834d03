"""Notifiers (SPEC section 1): trigger from any thread, callback in the hub."""

from __future__ import annotations

import gc
import queue
import threading
import weakref
from typing import Any, Callable

import gevent
import greenlet
import pytest
from conftest import wait_until

from gnotifier import Notifier, NotifierFreed, make_notifier

JOIN_TIMEOUT = 5.0  # seconds a foreign thread gets to finish its part
RACE_TIMEOUT = 5.0  # seconds one side of a forced interleaving waits for the other
# seconds the hub waits for a foreign free() to return while a delivery is
# under way; a free() that (correctly) waits for that delivery gets past it
STALL_LIMIT = 1.0
STILL_RUNNING_PROBE = 0.05  # seconds gevent.wait() gets to (wrongly) return
BURST = 100  # triggers sent before the hub runs

FACTORIES = [pytest.param(Notifier, id="Notifier"), pytest.param(make_notifier, id="make_notifier")]


# -- helpers -----------------------------------------------------------------


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """``("returned", value)`` or ``("raised", exception type)`` of ``fn(*args)``."""
    try:
        return ("returned", fn(*args))
    except BaseException as exc:
        return ("raised", type(exc))


def start(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target)
    thread.start()
    return thread


def join(*threads: threading.Thread) -> None:
    """Join plain threads; the hub does not run meanwhile."""
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
        assert not thread.is_alive(), f"{thread.name} did not finish"


def in_foreign_thread(fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """The outcome of ``fn(*args)`` run in a plain thread, while the hub stands still."""
    box: list[tuple[str, Any]] = []
    join(start(lambda: box.append(outcome(fn, *args))))
    return box[0]


def in_hub_context(fn: Callable[[], None]) -> None:
    """Run ``fn()`` in the hub greenlet (as a loop callback) and wait for it."""
    done: list[bool] = []
    gevent.get_hub().loop.run_callback(lambda: (fn(), done.append(True)))
    wait_until(lambda: done == [True], what="a callback in hub context")


def settle(rounds: int = 2) -> None:
    """Let the hub deliver what was queued so far: later markers must run first."""
    for _ in range(rounds):
        seen: list[str] = []
        marker = Notifier(seen.append, "marker")
        marker.trigger()
        wait_until(lambda: seen == ["marker"], what="a marker notifier")


def hub_greenlet_check() -> Callable[[], bool]:
    """Whether the caller runs in this thread's hub greenlet; callable from any thread."""
    hub = gevent.get_hub()
    # greenlet.getcurrent(), not gevent.get_hub(): that would make a hub in a foreign thread.
    return lambda: greenlet.getcurrent() is hub


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
        notifier = Notifier(lambda: None, ref=False)  # SPEC: unref before destroying a hub
        seen = [("freed before destroy", notifier.freed)]
        hub.destroy(destroy_loop=True)
        seen.append(("freed after destroy", notifier.freed))
        if trigger_in_owner:
            seen.append(("trigger", outcome(notifier.trigger)))
        made.put((notifier, seen))

    join(start(owner))
    return made.get(timeout=JOIN_TIMEOUT)


# -- binding and trigger() -----------------------------------------------------


def _trigger_from_main_greenlet(n: Notifier, record: list[Any]) -> None:
    record.append(("trigger", outcome(n.trigger)))


def _trigger_from_greenlet(n: Notifier, record: list[Any]) -> None:
    gevent.spawn(lambda: record.append(("trigger", outcome(n.trigger)))).join()


def _trigger_from_hub_context(n: Notifier, record: list[Any]) -> None:
    in_hub_context(lambda: record.append(("trigger", outcome(n.trigger))))


def _trigger_from_plain_thread(n: Notifier, record: list[Any]) -> None:
    record.append(("trigger", in_foreign_thread(n.trigger)))


def _trigger_from_gevent_threadpool(n: Notifier, record: list[Any]) -> None:
    done = threading.Event()

    def job() -> None:
        record.append(("trigger", outcome(n.trigger)))
        done.set()

    result = gevent.get_hub().threadpool.spawn(job)
    assert done.wait(JOIN_TIMEOUT)  # blocks the hub: the callback cannot run yet
    result.get(timeout=JOIN_TIMEOUT)


def _trigger_from_thread_with_own_hub(n: Notifier, record: list[Any]) -> None:
    def body() -> None:
        hub = gevent.get_hub()
        record.append(("trigger", outcome(n.trigger)))
        hub.destroy(destroy_loop=True)

    join(start(body))


TRIGGER_SOURCES = [
    pytest.param(_trigger_from_main_greenlet, id="main-greenlet"),
    pytest.param(_trigger_from_greenlet, id="greenlet"),
    pytest.param(_trigger_from_hub_context, id="hub-context"),
    pytest.param(_trigger_from_plain_thread, id="plain-thread"),
    pytest.param(_trigger_from_gevent_threadpool, id="gevent-threadpool-worker"),
    pytest.param(_trigger_from_thread_with_own_hub, id="thread-with-own-hub"),
]


@pytest.mark.parametrize("factory", FACTORIES)
@pytest.mark.parametrize("trigger_from", TRIGGER_SOURCES)
def test_notifier_trigger_returns_none_then_callback_runs_later_in_hub(
    trigger_from: Callable[[Notifier, list[Any]], None], factory: Callable[..., Notifier], hub_errors: list[Any]
) -> None:
    record: list[Any] = []
    main_thread = threading.get_ident()
    hub_check = hub_greenlet_check()
    n = factory(lambda arg: record.append(("cb", arg, threading.get_ident() == main_thread, hub_check())), "arg")

    trigger_from(n, record)
    wait_until(lambda: len(record) == 2, what="the callback")
    settle()

    assert record == [("trigger", ("returned", None)), ("cb", "arg", True, True)]
    assert hub_errors == []


def test_notifier_callback_runs_in_thread_of_hub_that_made_it() -> None:
    made: queue.Queue[Notifier] = queue.Queue()
    record: list[Any] = []

    def owner() -> None:
        hub = gevent.get_hub()
        notifier = Notifier(lambda: record.append(("cb", threading.get_ident(), greenlet.getcurrent() is hub)))
        made.put(notifier)
        record.append(("owner's gevent.wait() returned", gevent.wait(timeout=JOIN_TIMEOUT)))
        hub.destroy(destroy_loop=True)

    thread = start(owner)
    notifier = made.get(timeout=JOIN_TIMEOUT)
    # Recorded before the call: the owner's hub may run the callback before
    # trigger() has returned here.
    record.append(("trigger",))
    returned = notifier.trigger()
    join(thread)

    assert thread.ident != threading.get_ident() and returned is None
    assert record == [("trigger",), ("cb", thread.ident, True), ("owner's gevent.wait() returned", True)]


def test_notifier_binds_to_hub_not_to_greenlet_that_made_it() -> None:
    record: list[Any] = []
    hub_check = hub_greenlet_check()
    n = gevent.spawn(lambda: Notifier(lambda: record.append(("cb", hub_check())))).get()

    assert in_foreign_thread(n.trigger) == ("returned", None)
    wait_until(lambda: record, what="the callback")
    assert record == [("cb", True)]


# -- coalescing ---------------------------------------------------------------


def test_notifier_docstring_documents_coalescing() -> None:
    assert "merge" in (Notifier.__doc__ or "")


@pytest.mark.parametrize("source", ["hub-thread", "foreign-thread"])
def test_notifier_burst_of_triggers_before_hub_runs_gives_between_one_and_burst_calls(
    source: str, hub_errors: list[Any]
) -> None:
    calls: list[str] = []
    n = Notifier(calls.append, "cb", single_shot=False)

    def burst() -> None:
        for _ in range(BURST):
            n.trigger()

    if source == "hub-thread":
        burst()
    else:
        assert in_foreign_thread(burst) == ("returned", None)
    assert calls == []  # the hub has not run yet: nothing ran inline
    wait_until(lambda: calls, what="the callback")
    settle()
    n.free()

    assert 1 <= len(calls) <= BURST
    assert set(calls) == {"cb"}
    assert hub_errors == []


def test_notifier_each_trigger_after_previous_call_gives_one_more_call(hub_errors: list[Any]) -> None:
    record: list[Any] = []
    ran: queue.Queue[int] = queue.Queue()
    n = Notifier(lambda: (record.append(("cb", len(record) // 2 + 1)), ran.put(1)), single_shot=False)

    def lockstep() -> None:
        for i in range(1, 6):
            record.append(("trigger", i))
            n.trigger()
            ran.get(timeout=RACE_TIMEOUT)

    thread = start(lockstep)
    wait_until(lambda: not thread.is_alive(), what="five triggers in lockstep")
    join(thread)
    settle()
    n.free()

    assert record == [item for i in range(1, 6) for item in (("trigger", i), ("cb", i))]
    assert hub_errors == []


def test_notifier_trigger_during_its_own_callback_runs_it_again(hub_errors: list[Any]) -> None:
    record: list[Any] = []

    def callback() -> None:
        record.append(("cb", len(record) + 1))
        if len(record) == 1:
            n.trigger()

    n = Notifier(callback, single_shot=False)
    n.trigger()
    wait_until(lambda: len(record) == 2, what="the second call")
    settle()
    n.free()

    assert record == [("cb", 1), ("cb", 2)]
    assert hub_errors == []


def test_notifier_never_runs_without_trigger(hub_errors: list[Any]) -> None:
    calls: list[str] = []
    n = Notifier(calls.append, "cb", single_shot=False)
    settle()
    in_hub_context(lambda: None)
    n.free()
    assert calls == []
    assert hub_errors == []


# -- single shot and repeating --------------------------------------------------


@pytest.mark.parametrize("factory", FACTORIES)
@pytest.mark.parametrize("raises", [False, True], ids=["callback-returns", "callback-raises"])
def test_notifier_single_shot_runs_exactly_once_then_is_freed(
    raises: bool, factory: Callable[..., Notifier], hub_errors: list[Any]
) -> None:
    error = ValueError("boom")
    record: list[Any] = []

    def callback(arg: str) -> None:
        record.append(("cb", arg))
        if raises:
            raise error

    n = factory(callback, "arg")
    record.append(("freed", n.freed))
    n.trigger()
    n.trigger()  # before the hub ran: merges with the first
    wait_until(lambda: n.freed, what="the single-shot notifier to free itself")
    settle()
    record.append(("freed", n.freed))
    record.append(("trigger again", outcome(n.trigger)))
    settle()

    assert record == [
        ("freed", False),
        ("cb", "arg"),
        ("freed", True),
        ("trigger again", ("raised", NotifierFreed)),
    ]
    assert [(type_, value) for _, type_, value in hub_errors] == ([(ValueError, error)] if raises else [])


def test_notifier_single_shot_trigger_inside_callback_does_not_run_it_twice() -> None:
    record: list[Any] = []

    def callback() -> None:
        record.append(("cb", len(record) + 1))
        try:
            n.trigger()
        except NotifierFreed:
            pass

    n = Notifier(callback)
    n.trigger()
    wait_until(lambda: record, what="the callback")
    settle()

    assert (record, n.freed) == ([("cb", 1)], True)


def test_notifier_repeating_runs_after_each_trigger_until_freed() -> None:
    record: list[Any] = []
    n = Notifier(lambda tag: record.append(("cb", tag)), "r", single_shot=False)

    for i in range(1, 4):
        record.append(("trigger", i))
        n.trigger()
        wait_until(lambda: record[-1] == ("cb", "r"), what=f"call {i}")
    record.append(("freed", n.freed))
    n.free()
    record.append(("freed", n.freed))
    record.append(("trigger", outcome(n.trigger)))
    settle()

    assert record == [
        ("trigger", 1),
        ("cb", "r"),
        ("trigger", 2),
        ("cb", "r"),
        ("trigger", 3),
        ("cb", "r"),
        ("freed", False),
        ("freed", True),
        ("trigger", ("raised", NotifierFreed)),
    ]


def test_notifier_repeating_free_inside_callback_stops_it() -> None:
    record: list[Any] = []

    def callback() -> None:
        record.append(("cb", len(record) + 1))
        if len(record) == 2:
            n.free()

    n = Notifier(callback, single_shot=False)
    for _ in range(2):
        n.trigger()
        settle()
    record.append(("trigger", outcome(n.trigger)))
    settle()

    assert record == [("cb", 1), ("cb", 2), ("trigger", ("raised", NotifierFreed))]


# -- free() -------------------------------------------------------------------


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


# -- after free ---------------------------------------------------------------


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


# -- trigger/free races, forced -------------------------------------------------


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
    join(start(free_side), trigger_side)
    settle()

    assert record in (
        [("free", "returned"), ("trigger", ("returned", None))],
        [("free", "returned"), ("trigger", ("raised", NotifierFreed))],
    )
    assert (calls, n.freed) == ([], True)
    assert hub_errors == []


def test_notifier_race_free_arrives_while_trigger_holds_the_lock(hub_errors: list[Any]) -> None:
    calls: list[str] = []
    record: list[Any] = []
    n = Notifier(calls.append, "cb")
    trigger_holds, free_waits = threading.Event(), threading.Event()
    trigger_side = threading.Thread(target=lambda: record.append(("trigger", outcome(n.trigger))))

    def free_side() -> None:
        waits_for(trigger_holds, record, "trigger to take the lock")()
        record.append(("free", outcome(n.free)))

    free_thread = threading.Thread(target=free_side)
    n._lock = HookedLock(
        n._lock,
        (
            "after_acquire",
            lambda: threading.current_thread() is trigger_side,
            lambda: (trigger_holds.set(), waits_for(free_waits, record, "free() at the lock")()),
        ),
        ("before_acquire", lambda: threading.current_thread() is free_thread, free_waits.set),
    )
    trigger_side.start()
    free_thread.start()
    join(free_thread, trigger_side)
    settle()

    assert sorted(record) in (
        [("free", ("returned", None)), ("trigger", ("returned", None))],
        [("free", ("returned", None)), ("trigger", ("raised", NotifierFreed))],
    )
    assert (calls, n.freed) == ([], True)
    assert hub_errors == []


def test_notifier_race_trigger_arrives_while_free_holds_the_lock(hub_errors: list[Any]) -> None:
    calls: list[str] = []
    record: list[Any] = []
    n = Notifier(calls.append, "cb")
    free_holds, trigger_waits = threading.Event(), threading.Event()
    free_thread = threading.Thread(target=lambda: record.append(("free", outcome(n.free))))

    def trigger_side_body() -> None:
        waits_for(free_holds, record, "free() to take the lock")()
        record.append(("trigger", outcome(n.trigger)))

    trigger_side = threading.Thread(target=trigger_side_body)
    n._lock = HookedLock(
        n._lock,
        (
            "after_acquire",
            lambda: threading.current_thread() is free_thread,
            lambda: (free_holds.set(), waits_for(trigger_waits, record, "trigger() at the lock")()),
        ),
        ("before_acquire", lambda: threading.current_thread() is trigger_side, trigger_waits.set),
    )
    free_thread.start()
    trigger_side.start()
    join(trigger_side, free_thread)
    settle()

    assert sorted(record) in (
        [("free", ("returned", None)), ("trigger", ("raised", NotifierFreed))],
        [("free", ("returned", None)), ("trigger", ("returned", None))],
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
    join(free_thread)
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
    free_thread = start(free_side)
    wait_until(
        lambda: not free_thread.is_alive(), timeout=JOIN_TIMEOUT + STALL_LIMIT, what="free() in the foreign thread"
    )
    join(free_thread)
    settle()

    assert record in ([("free", "returned")], [("cb",), ("free", "returned")])
    assert n.freed
    assert hub_errors == []


# -- keeping the loop alive ---------------------------------------------------


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

    thread = start(trigger_later)
    gevent.get_hub().loop.run_callback(go.set)  # runs once gevent.wait() below runs the hub
    record.append(("wait", gevent.wait(timeout=JOIN_TIMEOUT)))
    join(thread)
    assert record == ["cb", ("wait", True)]


# -- errors in the callback ---------------------------------------------------


@pytest.mark.parametrize("factory", FACTORIES)
def test_notifier_callback_error_goes_to_hub_handle_error_and_hub_keeps_running(
    factory: Callable[..., Notifier], hub_errors: list[Any]
) -> None:
    errors = [ValueError("first"), KeyError("second")]
    record: list[Any] = []

    def bad() -> None:
        record.append("bad")
        raise errors[len([r for r in record if r == "bad"]) - 1]

    bad_notifier = factory(bad, single_shot=False)
    good = factory(lambda: record.append("good"), single_shot=False)
    bad_notifier.trigger()
    good.trigger()
    wait_until(lambda: len(record) == 2, what="both callbacks")
    bad_notifier.trigger()
    good.trigger()
    wait_until(lambda: len(record) == 4, what="both callbacks again")
    settle()
    bad_notifier.free()
    good.free()

    assert record == ["bad", "good", "bad", "good"]
    assert [(type_, value) for _, type_, value in hub_errors] == [(ValueError, errors[0]), (KeyError, errors[1])]


@pytest.mark.parametrize("factory", FACTORIES)
def test_notifier_callback_error_goes_to_on_error_not_to_hub(
    factory: Callable[..., Notifier], hub_errors: list[Any]
) -> None:
    error = ValueError("boom")
    record: list[Any] = []
    main_thread = threading.get_ident()

    def bad() -> None:
        record.append("bad")
        raise error

    def on_error(exc: BaseException) -> None:
        record.append(("on_error", exc, threading.get_ident() == main_thread))

    n = factory(bad, on_error=on_error)
    other = factory(lambda: record.append("other"))
    n.trigger()
    other.trigger()
    wait_until(lambda: len(record) == 3, what="the callbacks and on_error")
    settle()

    assert record == ["bad", ("on_error", error, True), "other"]
    assert hub_errors == []
    assert n.freed


# -- context manager ------------------------------------------------------------


@pytest.mark.parametrize("factory", FACTORIES)
def test_notifier_context_manager_frees_on_exit_and_drops_pending_trigger(
    factory: Callable[..., Notifier], hub_errors: list[Any]
) -> None:
    calls: list[str] = []
    with factory(calls.append, "cb", single_shot=False) as n:
        record: list[Any] = [("type", type(n)), ("freed", n.freed)]
        n.trigger()
        wait_until(lambda: calls == ["cb"], what="the callback inside the block")
        n.trigger()  # not delivered before the block ends: dropped
    record.append(("freed", n.freed))
    record.append(("trigger", outcome(n.trigger)))
    settle()

    assert record == [("type", Notifier), ("freed", False), ("freed", True), ("trigger", ("raised", NotifierFreed))]
    assert calls == ["cb"]
    assert hub_errors == []


def test_notifier_context_manager_frees_when_block_raises_and_lets_error_through() -> None:
    error = KeyError("in block")
    with pytest.raises(KeyError) as info:
        with make_notifier(lambda: None) as n:
            raise error
    assert (info.value is error, n.freed, gevent.wait(timeout=JOIN_TIMEOUT)) == (True, True, True)


# -- make_notifier and bad input -------------------------------------------------


def test_make_notifier_passes_args_and_options_to_notifier(hub_errors: list[Any]) -> None:
    error = ValueError("boom")
    record: list[Any] = []

    def callback(*args: object) -> None:
        record.append(("cb", args))
        raise error

    n = make_notifier(
        callback, 1, 2, single_shot=False, on_error=lambda exc: record.append(("on_error", exc)), ref=False
    )
    record.append(("is Notifier", isinstance(n, Notifier), n.ref))
    for _ in range(2):
        n.trigger()
        settle()
    n.free()

    assert record == [
        ("is Notifier", True, False),
        ("cb", (1, 2)),
        ("on_error", error),
        ("cb", (1, 2)),
        ("on_error", error),
    ]
    assert hub_errors == []


@pytest.mark.parametrize("factory", FACTORIES)
@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        pytest.param((42,), {}, id="int-callback"),
        pytest.param((None,), {}, id="none-callback"),
        pytest.param(("print",), {}, id="str-callback"),
        pytest.param((print,), {"on_error": 42}, id="int-on_error"),
    ],
)
def test_notifier_rejects_non_callable(
    factory: Callable[..., Notifier], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(TypeError):
        factory(*args, **kwargs)
    assert gevent.wait(timeout=JOIN_TIMEOUT)  # nothing half-made keeps the hub alive
