"""Event loop helpers: run(), delay() and interval()."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable

import gevent
import greenlet
import pytest
from helpers import hub_greenlet_check, join_thread, noop, wait_until

from gnotifier import Notifier, Timer, call_soon_threadsafe, delay, interval, run, work

JOIN_TIMEOUT = 5.0  # seconds a foreign thread or gevent.wait() gets to finish
STILL_RUNNING_PROBE = 0.05  # seconds gevent.wait() gets to (wrongly) return
TICK = 0.01  # seconds between interval calls
LONG = 30.0  # seconds: a timer that must never fire during a test


# -- run() --------------------------------------------------------------------


def test_run_returns_main_value_called_with_args_in_hub_greenlet() -> None:
    hub = gevent.get_hub()
    caller = greenlet.getcurrent()
    main_thread = threading.get_ident()
    record: list[Any] = []

    def main(a: int, b: str) -> tuple[int, str]:
        current = greenlet.getcurrent()
        record.append(
            ("main", a, b, threading.get_ident() == main_thread, current.parent is hub, current is not caller)
        )
        return (a, b)

    record.append(("run returned", run(main, 1, "two")))

    assert record == [("main", 1, "two", True, True, True), ("run returned", (1, "two"))]


def _outstanding_delay(record: list[Any], threads: list[threading.Thread]) -> None:
    delay(0.05, record.append, "delay fired")


def _outstanding_interval(record: list[Any], threads: list[threading.Thread]) -> None:
    def tick() -> None:
        record.append("interval tick")
        if record.count("interval tick") == 3:
            handle.cancel()

    handle = interval(TICK, tick)


def _outstanding_greenlet(record: list[Any], threads: list[threading.Thread]) -> None:
    gevent.spawn(lambda: (gevent.sleep(0.05), record.append("greenlet finished")))


def _outstanding_ref_notifier(record: list[Any], threads: list[threading.Thread]) -> None:
    # A foreign thread triggers it; main returns first (it does not yield).
    notifier = Notifier(lambda: record.append("notifier fired"))
    go = threading.Event()

    def trigger_when_told() -> None:
        go.wait(JOIN_TIMEOUT)
        notifier.trigger()

    threads.append(threading.Thread(target=trigger_when_told))
    threads[-1].start()
    go.set()


OUTSTANDING = [
    pytest.param(_outstanding_delay, ["delay fired"], id="delay"),
    pytest.param(_outstanding_interval, ["interval tick"] * 3, id="interval-until-cancelled"),
    pytest.param(_outstanding_greenlet, ["greenlet finished"], id="sleeping-greenlet"),
    pytest.param(_outstanding_ref_notifier, ["notifier fired"], id="ref-notifier-triggered-by-thread"),
]


@pytest.mark.parametrize(("start_work", "work_record"), OUTSTANDING)
def test_run_returns_value_only_after_outstanding_work_finished(
    start_work: Callable[[list[Any], list[threading.Thread]], None], work_record: list[str]
) -> None:
    record: list[Any] = []
    threads: list[threading.Thread] = []

    def main() -> int:
        start_work(record, threads)
        record.append("main returned")
        return 42

    record.append(("run returned", run(main)))
    for thread in threads:
        join_thread(thread, timeout=JOIN_TIMEOUT)

    assert record == ["main returned", *work_record, ("run returned", 42)]


@pytest.mark.parametrize("first", ["timer", "work"])
def test_run_waits_for_a_call_a_foreign_thread_queued_before_main_returned(first: str) -> None:
    # Regression: run() returned while a foreign thread's call still waited
    # in the dispatcher, its wakeup not yet seen by the loop (main resumed
    # by a timer: every loop; by work(): libuv).
    record: list[str] = []
    hub = gevent.get_hub()
    call_soon_threadsafe(lambda: None)  # the dispatcher exists before the foreign call,
    gevent.sleep(0)  # and is idle again

    def main() -> None:
        if first == "timer":
            gevent.sleep(0.001)
        else:
            work(int).get(timeout=JOIN_TIMEOUT)
        queued = threading.Event()

        def foreign() -> None:
            call_soon_threadsafe(record.append, "foreign call", hub=hub)
            queued.set()

        thread = threading.Thread(target=foreign)
        thread.start()
        assert queued.wait(JOIN_TIMEOUT)  # blocks the hub's thread: the wakeup waits unseen
        join_thread(thread, timeout=JOIN_TIMEOUT)
        record.append("main returned")

    run(main)
    record.append("run returned")
    assert record == ["main returned", "foreign call", "run returned"]


def test_run_does_not_wait_for_unref_notifier() -> None:
    record: list[Any] = []
    made: list[Notifier] = []

    def main() -> int:
        made.append(Notifier(lambda: record.append("notifier fired"), ref=False))
        record.append("main returned")
        return 7

    record.append(("run returned", run(main)))
    record.append(("notifier freed", made[0].freed))
    made[0].free()

    assert record == ["main returned", ("run returned", 7), ("notifier freed", False)]


class Bail(BaseException):
    """A BaseException that is not an Exception."""


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(KeyError("k"), id="Exception"),
        pytest.param(Bail("out"), id="BaseException"),
        pytest.param(SystemExit(3), id="SystemExit"),
    ],
)
def test_run_reraises_main_exception_itself_without_printing_it(
    error: BaseException, hub_errors: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    def main() -> None:
        raise error

    with pytest.raises(type(error)) as info:
        run(main)

    assert info.value is error
    assert "main" in [entry.name for entry in info.traceback]
    assert hub_errors == []
    assert capsys.readouterr().err == ""


def test_run_reraises_only_after_outstanding_delay_fired(hub_errors: list[Any]) -> None:
    error = ValueError("main failed")
    record: list[Any] = []

    def main() -> None:
        delay(0.05, record.append, "delay fired")
        record.append("main raised")
        raise error

    with pytest.raises(ValueError) as info:
        run(main)
    record.append(("run raised", info.value))

    assert record == ["main raised", "delay fired", ("run raised", error)]
    assert hub_errors == []


def test_run_uses_hub_of_calling_thread() -> None:
    results: queue.Queue[Any] = queue.Queue()

    def main() -> int:
        hub_check = hub_greenlet_check()
        record: list[Any] = []
        delay(0.01, lambda: record.append(("delay", threading.get_ident(), hub_check())))
        results.put(record)
        return threading.get_ident()

    def owner() -> None:
        try:
            results.put(("run returned", run(main)))
        finally:
            gevent.get_hub().destroy(destroy_loop=True)

    thread = threading.Thread(target=owner)
    thread.start()
    join_thread(thread, timeout=JOIN_TIMEOUT)
    record = results.get(timeout=JOIN_TIMEOUT)
    returned = results.get(timeout=JOIN_TIMEOUT)

    assert thread.ident != threading.get_ident()
    assert (record, returned) == ([("delay", thread.ident, True)], ("run returned", thread.ident))


@pytest.mark.parametrize("main", [42, None, "main"], ids=["int", "None", "str"])
def test_run_rejects_non_callable(main: Any) -> None:
    with pytest.raises(TypeError):
        run(main)


def test_run_inside_a_greenlet_raises_runtime_error() -> None:
    # Documented in run()'s docstring: run() would block the thread's hub.
    def try_run() -> type:
        try:
            run(lambda: None)
        except BaseException as exc:
            return type(exc)
        return type(None)

    assert gevent.spawn(try_run).get(timeout=JOIN_TIMEOUT) is RuntimeError


# -- delay() ------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [0, 0.01], ids=["zero", "short"])
def test_delay_runs_fn_once_later_in_hub_context_with_args(seconds: float) -> None:
    main_thread = threading.get_ident()
    hub_check = hub_greenlet_check()
    record: list[Any] = []

    handle = delay(
        seconds, lambda *args: record.append(("fired", args, threading.get_ident() == main_thread, hub_check())), "a", 1
    )
    record.append("delay returned")
    record.append(("wait", gevent.wait(timeout=JOIN_TIMEOUT)))
    handle.cancel()  # after it fired: harmless
    record.append(("wait", gevent.wait(timeout=JOIN_TIMEOUT)))

    assert record == ["delay returned", ("fired", ("a", 1), True, True), ("wait", True), ("wait", True)]


def test_delay_waits_about_seconds() -> None:
    fired: list[float] = []
    started = time.monotonic()
    delay(0.2, lambda: fired.append(time.monotonic() - started))
    assert gevent.wait(timeout=JOIN_TIMEOUT)
    assert len(fired) == 1
    # Loops read a cached clock, so allow some slack below the nominal delay.
    assert 0.15 <= fired[0] < JOIN_TIMEOUT


def _cancel_in_main_greenlet(handle: Any) -> None:
    handle.cancel()
    handle.cancel()


def _cancel_in_greenlet(handle: Any) -> None:
    gevent.spawn(lambda: (handle.cancel(), handle.cancel())).join()


def _cancel_in_hub_context(handle: Any) -> None:
    delay(0, lambda: (handle.cancel(), handle.cancel()))


def _cancel_in_foreign_thread(handle: Any) -> None:
    # The handle's docstring: safe from any thread.
    thread = threading.Thread(target=lambda: (handle.cancel(), handle.cancel()))
    thread.start()
    join_thread(thread, timeout=JOIN_TIMEOUT)


@pytest.mark.parametrize(
    "cancel",
    [
        pytest.param(_cancel_in_main_greenlet, id="main-greenlet"),
        pytest.param(_cancel_in_greenlet, id="greenlet"),
        pytest.param(_cancel_in_hub_context, id="hub-context"),
    ],
)
def test_delay_cancel_prevents_callback(cancel: Callable[[Any], None]) -> None:
    record: list[str] = []
    handle = delay(0.03, record.append, "cancelled one fired")
    delay(0.08, record.append, "later one fired")

    cancel(handle)
    assert gevent.wait(timeout=JOIN_TIMEOUT)

    assert record == ["later one fired"]


@pytest.mark.parametrize(
    "cancel",
    [
        pytest.param(_cancel_in_main_greenlet, id="main-greenlet"),
        pytest.param(_cancel_in_foreign_thread, id="foreign-thread"),
    ],
)
def test_delay_keeps_hub_alive_until_cancelled(cancel: Callable[[Any], None]) -> None:
    record: list[Any] = []
    handle = delay(LONG, record.append, "fired")
    record.append(("wait while pending", gevent.wait(timeout=STILL_RUNNING_PROBE)))
    cancel(handle)
    record.append(("wait after cancel", gevent.wait(timeout=JOIN_TIMEOUT)))

    assert record == [("wait while pending", False), ("wait after cancel", True)]


def test_delay_error_goes_to_hub_handle_error_and_hub_keeps_running(hub_errors: list[Any]) -> None:
    error = ValueError("delay failed")
    record: list[str] = []

    def fail() -> None:
        record.append("failing delay ran")
        raise error

    delay(0, fail)
    delay(0.03, record.append, "later delay ran")
    assert gevent.wait(timeout=JOIN_TIMEOUT)

    assert record == ["failing delay ran", "later delay ran"]
    assert [(type_, value) for _, type_, value in hub_errors] == [(ValueError, error)]


# -- interval() ---------------------------------------------------------------


def test_interval_repeats_later_in_hub_context_until_cancelled_in_callback() -> None:
    main_thread = threading.get_ident()
    hub_check = hub_greenlet_check()
    record: list[Any] = []

    def tick(tag: str) -> None:
        record.append((tag, len(record), threading.get_ident() == main_thread, hub_check()))
        if len(record) == 4:
            handle.cancel()

    handle = interval(TICK, tick, "tick")
    record.append("interval returned")
    record.append(("wait", gevent.wait(timeout=JOIN_TIMEOUT)))

    assert record == [
        "interval returned",
        ("tick", 1, True, True),
        ("tick", 2, True, True),
        ("tick", 3, True, True),
        ("wait", True),
    ]


@pytest.mark.parametrize(
    "cancel",
    [
        pytest.param(_cancel_in_main_greenlet, id="main-greenlet"),
        pytest.param(_cancel_in_greenlet, id="greenlet"),
        pytest.param(_cancel_in_foreign_thread, id="foreign-thread"),
    ],
)
def test_interval_keeps_hub_alive_until_cancelled_then_stops(cancel: Callable[[Any], None]) -> None:
    ticks: list[int] = []
    handle = interval(TICK, lambda: ticks.append(len(ticks) + 1))
    wait_until(lambda: len(ticks) >= 3, what="three interval ticks")
    record: list[Any] = [("wait while active", gevent.wait(timeout=STILL_RUNNING_PROBE))]

    cancel(handle)
    record.append(("wait after cancel", gevent.wait(timeout=JOIN_TIMEOUT)))

    # gevent.wait() returned: no timer is left that could tick again.
    assert record == [("wait while active", False), ("wait after cancel", True)]
    assert ticks == list(range(1, len(ticks) + 1))


def test_interval_error_goes_to_hub_handle_error_and_interval_keeps_going(hub_errors: list[Any]) -> None:
    errors = [ValueError("first"), KeyError("second")]
    record: list[int] = []

    def tick() -> None:
        record.append(len(record) + 1)
        if len(record) <= len(errors):
            raise errors[len(record) - 1]
        handle.cancel()

    handle = interval(TICK, tick)
    assert gevent.wait(timeout=JOIN_TIMEOUT)

    assert record == [1, 2, 3]
    assert [(type_, value) for _, type_, value in hub_errors] == [(ValueError, errors[0]), (KeyError, errors[1])]


# -- bad input ------------------------------------------------------------------


@pytest.mark.parametrize("helper", [delay, interval], ids=["delay", "interval"])
@pytest.mark.parametrize(
    ("seconds", "fn", "error"),
    [
        pytest.param("1", noop, TypeError, id="str-seconds"),
        pytest.param(None, noop, TypeError, id="None-seconds"),
        pytest.param(1, 42, TypeError, id="int-fn"),
        pytest.param(1, None, TypeError, id="None-fn"),
        pytest.param(-1, noop, ValueError, id="negative-seconds"),
        pytest.param(-0.001, noop, ValueError, id="slightly-negative-seconds"),
    ],
)
def test_timer_helpers_reject_bad_input(helper: Callable[..., Any], seconds: Any, fn: Any, error: type) -> None:
    with pytest.raises(error):
        helper(seconds, fn)
    assert gevent.wait(timeout=JOIN_TIMEOUT)  # nothing half-made keeps the hub alive


def test_interval_rejects_zero_seconds() -> None:
    # A zero period would spin the hub.
    with pytest.raises(ValueError):
        interval(0, noop)
    assert gevent.wait(timeout=JOIN_TIMEOUT)


def test_timer_made_directly_runs_once_or_repeats() -> None:
    seen: list[str] = []
    once = Timer(0, seen.append, "once")
    every = Timer(0.001, seen.append, "again", repeat=True)
    wait_until(lambda: seen.count("again") >= 3, what="the repeating timer")
    every.cancel()
    assert (seen.count("once"), once.active, every.active) == (1, False, False)


def test_timer_made_directly_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="interval"):
        Timer(0, print, repeat=True)
    with pytest.raises(TypeError):
        Timer(1, "not callable")  # type: ignore[arg-type]
