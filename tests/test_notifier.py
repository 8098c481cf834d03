"""Notifiers: trigger from any thread, callback later in the hub; coalescing, single shot, errors."""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable

import gevent
import greenlet
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

from gnotifier import Notifier, NotifierFreed, make_notifier

JOIN_TIMEOUT = 5.0  # seconds a foreign thread gets to finish its part
RACE_TIMEOUT = 5.0  # seconds one side of a forced interleaving waits for the other
BURST = 100  # triggers sent before the hub runs


# -- binding and trigger() -----------------------------------------------------------------


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

    join_thread(start_thread(body), timeout=JOIN_TIMEOUT)


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

    thread = start_thread(owner)
    notifier = made.get(timeout=JOIN_TIMEOUT)
    # Recorded before the call: the owner's hub may run the callback before
    # trigger() has returned here.
    record.append(("trigger",))
    returned = notifier.trigger()
    join_thread(thread, timeout=JOIN_TIMEOUT)

    assert thread.ident != threading.get_ident() and returned is None
    assert record == [("trigger",), ("cb", thread.ident, True), ("owner's gevent.wait() returned", True)]


def test_notifier_binds_to_hub_not_to_greenlet_that_made_it() -> None:
    record: list[Any] = []
    hub_check = hub_greenlet_check()
    n = gevent.spawn(lambda: Notifier(lambda: record.append(("cb", hub_check())))).get()

    assert in_foreign_thread(n.trigger) == ("returned", None)
    wait_until(lambda: record, what="the callback")
    assert record == [("cb", True)]


# -- coalescing ----------------------------------------------------------------------------


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

    thread = start_thread(lockstep)
    wait_until(lambda: not thread.is_alive(), what="five triggers in lockstep")
    join_thread(thread, timeout=JOIN_TIMEOUT)
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


# -- single shot and repeating -------------------------------------------------------------


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


# -- errors in the callback ----------------------------------------------------------------


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


# -- context manager -----------------------------------------------------------------------


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


# -- make_notifier and bad input -----------------------------------------------------------


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
