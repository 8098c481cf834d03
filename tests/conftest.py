"""Shared fixtures: every test must leave the hub as it found it."""

from __future__ import annotations

import gc
import sys
import threading
import time
from typing import Any, Callable, Iterator

import gevent
import pytest

import gnotifier

SETTLE_DEADLINE = 5.0  # seconds a test's leftovers get to finish before it fails


def _holds() -> int:
    dispatcher = getattr(gevent.get_hub(), "_gnotifier_dispatcher", None)
    return 0 if dispatcher is None else dispatcher._holds


def _is_gevent_pool_thread(frame: object) -> bool:
    # The outermost frame of a gevent ThreadPool worker is in threadpool.py.
    outer = frame
    while getattr(outer, "f_back", None) is not None:
        outer = outer.f_back  # type: ignore[attr-defined]
    return outer.f_code.co_filename.endswith("threadpool.py")  # type: ignore[attr-defined]


def _stray_threads(before: set[int]) -> list[int]:
    frames = sys._current_frames()
    return [ident for ident, frame in frames.items() if ident not in before and not _is_gevent_pool_thread(frame)]


def wait_until(condition: Callable[[], bool], timeout: float = SETTLE_DEADLINE, what: str = "condition") -> None:
    """Run the hub until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        gevent.sleep(0.001)


class Sentinel(Exception):
    """The marker error reports_after_gc() drops unobserved."""


def in_hub() -> bool:
    """Whether the caller runs in hub context."""
    return gevent.getcurrent() is gevent.get_hub()


def later(value: Any) -> gnotifier.Promise[Any]:
    """A promise the hub resolves with ``value`` on its next turn."""
    promise: gnotifier.Promise[Any] = gnotifier.Promise()
    gevent.get_hub().loop.run_callback(promise.set, value)
    return promise


def later_error(exc: BaseException) -> gnotifier.Promise[Any]:
    """A promise the hub rejects with ``exc`` on its next turn."""
    promise: gnotifier.Promise[Any] = gnotifier.Promise()
    gevent.get_hub().loop.run_callback(promise.set_exception, exc)
    return promise


def reports_after_gc(hub_errors: list[tuple[object, type, BaseException]]) -> list[tuple[type, str]]:
    """Collect garbage, let the hub run, return what reached handle_error (type, message).

    A sentinel rejected promise that nobody observes is dropped last; once its
    report arrives, every report made before it has arrived as well. The hub
    runs first: a waiter woken by a link leaves the hub in the middle of
    notifying, holding the promise, until this greenlet yields.
    """
    gevent.sleep(0)
    gc.collect()
    sentinel = gnotifier.Promise.rejected(Sentinel("sentinel"))
    del sentinel
    gc.collect()
    wait_until(lambda: any(type_ is Sentinel for _, type_, _ in hub_errors), what="the sentinel's report")
    reports = [(type_, str(value)) for _, type_, value in hub_errors if type_ is not Sentinel]
    hub_errors[:] = [entry for entry in hub_errors if entry[1] is not Sentinel]
    return reports


def start_thread(target: Callable[..., Any], *args: Any, name: str = "foreign") -> threading.Thread:
    """Start a plain (daemon) thread running ``target(*args)``."""
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread


def join_thread(thread: threading.Thread, timeout: float = 10.0) -> None:
    """Join a plain thread, blocking the hub's thread (the hub does not run)."""
    thread.join(timeout)
    assert not thread.is_alive(), f"{thread.name} did not finish within {timeout} s"


def run_in_a_thread_without_a_hub(fn: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Run ``fn()`` in a new OS thread that has no hub yet; return or raise what it does.

    The hub ``fn`` makes there is destroyed before the thread ends.
    """
    box: dict[str, Any] = {}

    def main() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc
        finally:
            gevent.get_hub().destroy(destroy_loop=True)

    thread = threading.Thread(target=main, name="no-hub-yet")
    thread.start()
    thread.join(timeout)
    if "error" in box:
        raise box["error"]
    return box["value"]


@pytest.fixture(autouse=True)
def leaves_nothing_behind() -> Iterator[None]:
    """No thread, hold (unsettled promise, ref'd notifier) or thread error left behind."""
    before = set(sys._current_frames())
    thread_errors: list[object] = []
    old_hook = threading.excepthook
    threading.excepthook = thread_errors.append
    try:
        yield
    finally:
        threading.excepthook = old_hook
    wait_until(lambda: _holds() == 0, what="outstanding promises, ref'd notifiers and threads to finish")
    wait_until(lambda: not _stray_threads(before), what="threads started by the test to exit")
    assert thread_errors == [], f"Exception in thread: {thread_errors}"


@pytest.fixture
def hub_errors(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, type, BaseException]]:
    """What reaches the hub's handle_error during the test (instead of printing)."""
    seen: list[tuple[object, type, BaseException]] = []
    hub = gevent.get_hub()

    def record(context: object, type_: type, value: BaseException, tb: object) -> None:
        seen.append((context, type_, value))

    monkeypatch.setattr(hub, "handle_error", record)
    return seen


__all__ = [
    "Sentinel",
    "gnotifier",
    "in_hub",
    "join_thread",
    "later",
    "later_error",
    "reports_after_gc",
    "run_in_a_thread_without_a_hub",
    "start_thread",
    "wait_until",
]
