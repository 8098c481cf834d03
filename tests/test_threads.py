"""Calls from threads into a hub: call_in_hub, start_thread, the target hub.

``call_in_hub`` runs ``fn`` in a new greenlet of the target hub and blocks
only the calling thread; ``start_thread`` starts a real OS thread that
belongs to the calling thread's hub; without ``hub=`` a thread gnotifier
started targets the hub that started it, and a plain thread with no hub gets
a RuntimeError that says to pass ``hub=``.

The tests are not monkey-patched. While a plain thread blocks in
``call_in_hub``, the main greenlet keeps the hub running (``wait_until``).
"""

from __future__ import annotations

import os
import queue
import re
import threading
import traceback
from typing import Any, Callable

import gevent
import pytest
from gevent.event import AsyncResult, Event
from helpers import call_in, call_soon, join_thread, start_thread, wait_until

import gnotifier
from gnotifier import HubClosed

JOIN_TIMEOUT = 10.0  # seconds a helper thread gets before the test fails
WAIT_TIMEOUT = 10.0  # seconds gevent.wait() gets to find the hub idle


def _outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return ("value", fn(*args, **kwargs))
    except BaseException as exc:
        return ("error", exc)


def _in_plain_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """``fn(*args, **kwargs)`` in a plain thread while the hub runs; ("value", v) or ("error", exc)."""
    box: queue.Queue[tuple[str, Any]] = queue.Queue()
    thread = start_thread(lambda: box.put(_outcome(fn, *args, **kwargs)))
    wait_until(lambda: not thread.is_alive(), JOIN_TIMEOUT, "the plain thread to finish")
    thread.join(JOIN_TIMEOUT)
    return box.get(timeout=0)


def _context() -> tuple[int, str]:
    """Where the caller runs: its native thread, and hub / main / other greenlet."""
    current = gevent.getcurrent()
    if current is gevent.get_hub():
        kind = "hub"
    elif current.parent is None:
        kind = "main greenlet"
    else:
        kind = "greenlet"
    return threading.get_ident(), kind


class _BaseError(BaseException):
    """Not an Exception: call_in_hub must carry it across all the same."""


# -- call_in_hub -----------------------------------------------------------------


def test_call_in_hub_returns_fn_value_computed_in_a_hub_greenlet() -> None:
    hub = gevent.get_hub()
    record: list[Any] = []

    def add(a: int, b: int) -> int:
        record.append(("fn", (a, b), _context()))
        return a + b

    result = _in_plain_thread(gnotifier.call_in_hub, add, 2, 3, hub=hub)

    assert result == ("value", 5)
    assert record == [("fn", (2, 3), (threading.get_ident(), "greenlet"))]


def test_call_in_hub_runs_fn_in_new_greenlet_that_may_block() -> None:
    hub = gevent.get_hub()
    record: list[Any] = []

    def blocking_fn(label: str) -> str:
        record.append((label, "start"))
        woken = Event()

        def other() -> None:
            record.append((label, "other greenlet"))
            woken.set()

        gevent.spawn(other)
        assert woken.wait(JOIN_TIMEOUT)  # a cooperative wait: other greenlets run
        gevent.sleep(0.001)
        record.append((label, "end", gevent.getcurrent()))
        return label

    def two_calls() -> list[str]:
        return [gnotifier.call_in_hub(blocking_fn, label, hub=hub) for label in ("one", "two")]

    result = _in_plain_thread(two_calls)

    assert result == ("value", ["one", "two"])
    assert [entry[:2] for entry in record] == [
        ("one", "start"),
        ("one", "other greenlet"),
        ("one", "end"),
        ("two", "start"),
        ("two", "other greenlet"),
        ("two", "end"),
    ]
    first_greenlet, second_greenlet = record[2][2], record[5][2]
    assert first_greenlet is not second_greenlet


@pytest.mark.parametrize(
    "error",
    [ValueError("boom in the hub"), _BaseError("base exception in the hub")],
    ids=["Exception", "BaseException"],
)
def test_call_in_hub_reraises_fn_exception_with_its_traceback(error: BaseException) -> None:
    hub = gevent.get_hub()

    def failing_in_hub() -> None:
        raise error

    kind, raised = _in_plain_thread(gnotifier.call_in_hub, failing_in_hub, hub=hub)

    assert kind == "error"
    assert raised is error
    assert "failing_in_hub" in [frame.name for frame in traceback.extract_tb(raised.__traceback__)]


def _work_promise() -> Any:
    return gnotifier.work(lambda: 5)


def _async_result_set_later() -> AsyncResult:
    result = AsyncResult()
    gevent.spawn_later(0.01, result.set, 7)
    return result


_LATER_ERROR = KeyError("set later")
_WORK_ERROR = LookupError("raised in a worker")


def _async_result_failed_later() -> AsyncResult:
    result = AsyncResult()
    gevent.spawn_later(0.01, result.set_exception, _LATER_ERROR)
    return result


def _rejected_work_promise() -> Any:
    def worker_job() -> None:
        raise _WORK_ERROR

    return gnotifier.work(worker_job)


def _resolved_promise() -> Any:
    return gnotifier.Promise.resolved("ready")


def _async_result_of_an_async_result() -> Any:
    inner: AsyncResult[int] = AsyncResult()
    outer: AsyncResult[AsyncResult[int]] = AsyncResult()
    outer.set(inner)
    gevent.spawn_later(0.01, inner.set, 9)
    return outer


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (_work_promise, ("value", 5)),
        (_async_result_set_later, ("value", 7)),
        (_resolved_promise, ("value", "ready")),
        (_rejected_work_promise, ("error", _WORK_ERROR)),
        (_async_result_failed_later, ("error", _LATER_ERROR)),
        (_async_result_of_an_async_result, ("value", 9)),
    ],
    ids=[
        "work-promise",
        "async-result-set-later",
        "resolved-promise",
        "rejected-work-promise",
        "async-result-failed-later",
        "async-result-of-an-async-result",
    ],
)
def test_call_in_hub_waits_for_returned_async_result(fn: Callable[[], Any], expected: tuple[str, Any]) -> None:
    kind, value = _in_plain_thread(gnotifier.call_in_hub, fn, hub=gevent.get_hub())

    assert (kind, value) == expected
    if kind == "error":
        assert value is expected[1]


def test_a_call_in_hub_whose_caller_timed_out_no_longer_holds_the_hub() -> None:
    # fn's AsyncResult never settles: once its caller gave up, nothing waits
    # for the call, and the hub may end as it would with any waiting greenlet.
    never: AsyncResult[Any] = AsyncResult()
    kind, error = _in_plain_thread(gnotifier.call_in_hub, lambda: never, hub=gevent.get_hub(), timeout=0.05)
    assert (kind, type(error)) == ("error", TimeoutError)
    assert gevent.wait(timeout=JOIN_TIMEOUT) is True  # False: still held when the timeout ran out


def test_call_in_hub_timeout_raises_builtin_timeout_error() -> None:
    hub = gevent.get_hub()
    record: list[str] = []
    release = Event()

    def slow() -> str:
        record.append("fn started")
        assert release.wait(JOIN_TIMEOUT)
        record.append("fn finished")
        return "too late"

    kind, error = _in_plain_thread(gnotifier.call_in_hub, slow, hub=hub, timeout=0.05)
    record.append("caller gave up")
    release.set()
    wait_until(lambda: "fn finished" in record, what="fn to finish after the timeout")

    assert kind == "error"
    assert isinstance(error, TimeoutError)
    assert record == ["fn started", "caller gave up", "fn finished"]


def _from_main_greenlet(call: Callable[[], Any]) -> tuple[str, Any]:
    return _outcome(call)


def _from_spawned_greenlet(call: Callable[[], Any]) -> tuple[str, Any]:
    return gevent.spawn(_outcome, call).get(timeout=JOIN_TIMEOUT)


def _from_hub_context(call: Callable[[], Any]) -> tuple[str, Any]:
    result = AsyncResult()
    gnotifier.call_soon_threadsafe(lambda: result.set(_outcome(call)))
    return result.get(timeout=JOIN_TIMEOUT)


@pytest.mark.parametrize("pass_hub", [False, True], ids=["no-hub-kwarg", "hub-kwarg"])
@pytest.mark.parametrize(
    "where",
    [_from_main_greenlet, _from_spawned_greenlet, _from_hub_context],
    ids=["main-greenlet", "spawned-greenlet", "hub-context"],
)
def test_call_in_hub_in_hub_thread_raises_runtime_error_at_once(
    where: Callable[[Callable[[], Any]], tuple[str, Any]], pass_hub: bool
) -> None:
    record: list[str] = []
    kwargs = {"hub": gevent.get_hub()} if pass_hub else {}
    # The timeout only turns a deadlock into a failure instead of a hang.
    kind, error = where(lambda: gnotifier.call_in_hub(record.append, "ran", timeout=2.0, **kwargs))
    assert gevent.wait(timeout=WAIT_TIMEOUT) is True  # anything queued would run now

    assert kind == "error"
    assert isinstance(error, RuntimeError) and not isinstance(error, HubClosed), repr(error)
    assert record == []


def _set_by_unref_timer(result: AsyncResult, value: object) -> None:
    # An unref'd timer does not keep the loop alive: it fires only while
    # something else does.
    timer = gevent.get_hub().loop.timer(0.05, ref=False)

    def fire() -> None:
        timer.close()
        result.set(value)

    timer.start(fire)


def _blocks_until_unref_timer(record: list[str]) -> str:
    record.append("fn started")
    later = AsyncResult()
    _set_by_unref_timer(later, "done")
    value = later.get()  # no timeout: its timer would keep the loop alive
    record.append("fn finished")
    return value


def _returns_async_result_of_unref_timer(record: list[str]) -> AsyncResult:
    record.append("fn started")
    later = AsyncResult()
    _set_by_unref_timer(later, "done")
    later.rawlink(lambda _: record.append("fn finished"))
    return later


@pytest.mark.parametrize(
    "fn",
    [_blocks_until_unref_timer, _returns_async_result_of_unref_timer],
    ids=["fn-blocks", "fn-returns-async-result"],
)
def test_call_in_hub_keeps_hub_alive_until_fn_finished(fn: Callable[[list[str]], Any]) -> None:
    hub = gevent.get_hub()
    record: list[str] = []

    box: queue.Queue[tuple[str, Any]] = queue.Queue()
    thread = start_thread(lambda: box.put(_outcome(gnotifier.call_in_hub, fn, record, hub=hub)))
    wait_until(lambda: "fn started" in record, what="fn to start in the hub")

    assert gevent.wait(timeout=WAIT_TIMEOUT) is True
    record.append("wait returned")
    wait_until(lambda: not thread.is_alive(), JOIN_TIMEOUT, "the calling thread to finish")
    thread.join(JOIN_TIMEOUT)

    assert record == ["fn started", "fn finished", "wait returned"]
    assert box.get(timeout=0) == ("value", "done")


# -- start_thread ----------------------------------------------------------------


def test_start_thread_runs_fn_on_another_native_thread() -> None:
    record: list[Any] = []

    def body(a: int, b: str) -> None:
        record.append(("ran", threading.get_ident(), a, b))

    thread = gnotifier.start_thread(body, 1, "two")
    thread.join(timeout=JOIN_TIMEOUT)

    [(label, ident, a, b)] = record
    assert (label, a, b) == ("ran", 1, "two")
    assert ident != threading.get_ident()
    assert thread.ident == ident


def test_start_thread_gives_the_threads_ident_before_the_thread_runs() -> None:
    go = threading.Event()
    seen: list[int] = []

    def body() -> None:
        assert go.wait(JOIN_TIMEOUT)
        seen.append(threading.get_ident())

    thread = gnotifier.start_thread(body)
    ident = thread.ident  # the thread waits for go: it has not set anything yet
    go.set()
    thread.join(timeout=JOIN_TIMEOUT)

    assert ident is not None and [ident] == seen


def _names_inside() -> tuple[str, str | None]:
    comm = f"/proc/self/task/{threading.get_native_id()}/comm"
    return threading.current_thread().name, open(comm).read().strip() if os.path.exists(comm) else None


def test_start_thread_names_threads() -> None:
    # Regression: inside, the thread was "Dummy-<n>" to threading and "python" to the OS.
    inside: list[tuple[str, str | None]] = []
    named = gnotifier.start_thread(lambda: inside.append(_names_inside()), name="worker-a")
    named.join(timeout=JOIN_TIMEOUT)
    first = gnotifier.start_thread(lambda: inside.append(_names_inside()))
    first.join(timeout=JOIN_TIMEOUT)
    second = gnotifier.start_thread(lambda: None)
    second.join(timeout=JOIN_TIMEOUT)

    assert named.name == "worker-a"
    assert re.fullmatch(r"gnotifier-thread-\d+", first.name) and first.name != second.name
    number = first.name.rpartition("-")[2]
    os_names = [("worker-a", "worker-a"), (first.name, f"{'gnotifier-thread'[: 14 - len(number)]}-{number}")]
    # The OS-level name where the platform allows (Linux: 15 bytes, cut from the prefix).
    assert inside in (os_names, [(name, None) for name, _ in os_names])


def test_start_thread_keeps_hub_alive_until_thread_finished() -> None:
    record: list[str] = []
    go = threading.Event()

    def body() -> None:
        assert go.wait(JOIN_TIMEOUT)
        record.append("thread finished")

    thread = gnotifier.start_thread(body)
    # An unref'd timer fires only while something else keeps the loop alive.
    timer = gevent.get_hub().loop.timer(0.05, ref=False)
    timer.start(go.set)
    try:
        assert gevent.wait(timeout=WAIT_TIMEOUT) is True
        record.append("wait returned")
    finally:
        timer.close()
        go.set()
        thread.join(timeout=JOIN_TIMEOUT)

    assert record == ["thread finished", "wait returned"]


def _thread_calls_back(record: list[Any]) -> None:
    # Runs in a start_thread() thread: no hub= anywhere.
    gnotifier.call_soon_threadsafe(lambda: record.append(("call_soon_threadsafe", _context())))
    value = gnotifier.call_in_hub(lambda: ("call_in_hub", _context()), timeout=JOIN_TIMEOUT)
    record.append(value)


def test_start_thread_calls_without_hub_target_starting_hub_of_main_thread() -> None:
    record: list[Any] = []

    thread = gnotifier.start_thread(_thread_calls_back, record)
    thread.join(timeout=JOIN_TIMEOUT)

    me = threading.get_ident()
    assert record == [("call_soon_threadsafe", (me, "hub")), ("call_in_hub", (me, "greenlet"))]


def test_start_thread_calls_without_hub_target_starting_hub_of_other_thread() -> None:
    # The starter is a plain thread with a hub of its own, not the main thread.
    record: list[Any] = []
    box: queue.Queue[int] = queue.Queue()

    def starter() -> None:
        hub = gevent.get_hub()
        try:
            gnotifier.start_thread(_thread_calls_back, record).join(timeout=JOIN_TIMEOUT)
            assert gevent.wait(timeout=WAIT_TIMEOUT) is True
        finally:
            hub.destroy(destroy_loop=True)
        box.put(threading.get_ident())

    join_thread(start_thread(starter, name="starter"))

    starter_ident = box.get(timeout=0)
    assert starter_ident != threading.get_ident()
    assert record == [("call_soon_threadsafe", (starter_ident, "hub")), ("call_in_hub", (starter_ident, "greenlet"))]


def test_start_thread_reports_escaping_exception_to_hub(hub_errors: list[tuple[object, type, BaseException]]) -> None:
    error = ValueError("escaped from the thread")

    def failing_thread_body() -> None:
        raise error

    thread = gnotifier.start_thread(failing_thread_body)
    thread.join(timeout=JOIN_TIMEOUT)
    wait_until(lambda: len(hub_errors) >= 1, what="the error to reach handle_error")

    assert [(type_, value) for _, type_, value in hub_errors] == [(ValueError, error)]
    assert hub_errors[0][2] is error
    assert "failing_thread_body" in [frame.name for frame in traceback.extract_tb(error.__traceback__)]


def test_start_thread_join_in_hub_thread_lets_other_greenlets_run() -> None:
    record: list[str] = []
    go = threading.Event()

    def body() -> None:
        record.append("thread finished" if go.wait(JOIN_TIMEOUT) else "thread gave up waiting")

    def other_greenlet() -> None:
        record.append("other greenlet ran")
        go.set()

    thread = gnotifier.start_thread(body)
    gevent.spawn(other_greenlet)
    thread.join(timeout=JOIN_TIMEOUT)
    record.append("joined")

    assert record == ["other greenlet ran", "thread finished", "joined"]


def test_start_thread_join_timeout_returns_while_thread_runs() -> None:
    record: list[str] = []
    go = threading.Event()

    def body() -> None:
        assert go.wait(JOIN_TIMEOUT)
        record.append("thread finished")

    thread = gnotifier.start_thread(body)
    thread.join(timeout=0.05)
    record.append("join timed out")
    go.set()
    thread.join(timeout=JOIN_TIMEOUT)
    record.append("joined")

    assert record == ["join timed out", "thread finished", "joined"]


def test_start_thread_join_from_other_thread_blocks_until_finished() -> None:
    record: list[str] = []
    go = threading.Event()

    def body() -> None:
        assert go.wait(JOIN_TIMEOUT)
        record.append("thread finished")

    thread = gnotifier.start_thread(body)

    def joiner() -> None:
        thread.join(timeout=JOIN_TIMEOUT)
        record.append("joined in another thread")

    other = start_thread(joiner, name="joiner")
    record.append("started joiner")
    go.set()
    wait_until(lambda: not other.is_alive(), JOIN_TIMEOUT, "the joiner to finish")
    other.join(JOIN_TIMEOUT)

    assert record == ["started joiner", "thread finished", "joined in another thread"]


# -- the target hub --------------------------------------------------------------


_APIS = pytest.mark.parametrize("send", [call_soon, call_in], ids=["call_soon_threadsafe", "call_in_hub"])


@_APIS
def test_target_hub_unknown_in_plain_thread_raises_runtime_error_naming_hub_kwarg(send: Callable[..., Any]) -> None:
    record: list[str] = []

    kind, error = _in_plain_thread(send, lambda: record.append("ran"))
    assert gevent.wait(timeout=WAIT_TIMEOUT) is True

    assert kind == "error"
    assert isinstance(error, RuntimeError) and not isinstance(error, HubClosed)
    assert "hub=" in str(error)
    assert record == []


@_APIS
@pytest.mark.parametrize(
    "bad_hub",
    [object(), "hub", lambda: gevent.get_hub().loop],
    ids=["object", "str", "hub-loop"],
)
def test_target_hub_must_be_a_hub(send: Callable[..., Any], bad_hub: Any) -> None:
    if callable(bad_hub):
        bad_hub = bad_hub()
    record: list[str] = []

    kind, error = _in_plain_thread(send, lambda: record.append("ran"), hub=bad_hub)

    assert (kind, type(error)) == ("error", TypeError)
    assert record == []


def test_target_hub_given_wins_over_callers_own_hub() -> None:
    main_hub = gevent.get_hub()
    record: list[Any] = []
    box: queue.Queue[int] = queue.Queue()

    def caller_with_own_hub() -> None:
        own = gevent.get_hub()
        try:
            gnotifier.call_soon_threadsafe(lambda: record.append(("call_soon_threadsafe", _context())), hub=main_hub)
            record.append(
                gnotifier.call_in_hub(lambda: ("call_in_hub", _context()), hub=main_hub, timeout=JOIN_TIMEOUT)
            )
        finally:
            own.destroy(destroy_loop=True)
        box.put(threading.get_ident())

    thread = start_thread(caller_with_own_hub)
    wait_until(lambda: not thread.is_alive(), JOIN_TIMEOUT, "the caller to finish")
    thread.join(JOIN_TIMEOUT)

    me = threading.get_ident()
    assert box.get(timeout=0) != me
    assert record == [("call_soon_threadsafe", (me, "hub")), ("call_in_hub", (me, "greenlet"))]


def test_target_hub_in_work_job_is_submitting_hub() -> None:
    record: list[Any] = []

    def job() -> int:
        gnotifier.call_soon_threadsafe(lambda: record.append(("call_soon_threadsafe", _context())))
        record.append(gnotifier.call_in_hub(lambda: ("call_in_hub", _context()), timeout=JOIN_TIMEOUT))
        return threading.get_ident()

    worker = gnotifier.work(job).get(timeout=JOIN_TIMEOUT)

    me = threading.get_ident()
    assert worker != me
    assert record == [("call_soon_threadsafe", (me, "hub")), ("call_in_hub", (me, "greenlet"))]


def test_thread_made_directly_starts_and_belongs_to_this_hub() -> None:
    box: list[Any] = []
    thread = gnotifier.Thread(box.append, "ran", name="direct")
    assert thread.join(5) is True
    assert (box, thread.name, thread.is_alive()) == (["ran"], "direct", False)
