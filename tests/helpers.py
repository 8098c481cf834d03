"""Helpers shared by the test modules: waiting, threads, hubs, promises, pools.

Imported as ``from helpers import ...``: pytest puts ``tests/`` on
``sys.path`` (rootdir-relative, no ``__init__.py``), for the stress tests
too. Fixtures live in ``conftest.py``.
"""

from __future__ import annotations

import concurrent.futures
import gc
import hashlib
import queue
import socket
import threading
import time
from typing import Any, Callable

import gevent
import greenlet
import pytest
from gevent.event import AsyncResult
from gevent.threadpool import ThreadPool

import gnotifier
from gnotifier import Notifier, Promise, make_notifier

SETTLE_DEADLINE = 5.0  # seconds a test's leftovers get to finish before it fails
FOREIGN_THREAD_TIMEOUT = 5.0  # seconds in_foreign_thread() gives its thread
CALL_TIMEOUT = 10.0  # seconds call_in() waits for the hub to answer
DEADLINE = 5.0  # seconds any single get() in the promise tests may take
WAIT = 10.0  # seconds a job waits for a gate before it gives up (a test bug)
STATS_KEYS = ("pending", "running", "completed", "failed", "cancelled")


# -- waiting and plain threads ------------------------------------------------------


def wait_until(condition: Callable[[], bool], timeout: float = SETTLE_DEADLINE, what: str = "condition") -> None:
    """Run the hub until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        gevent.sleep(0.001)


def start_thread(target: Callable[..., Any], *args: Any, name: str = "foreign") -> threading.Thread:
    """Start a plain (daemon) thread running ``target(*args)``."""
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread


def join_thread(*threads: threading.Thread, timeout: float = 10.0) -> None:
    """Join plain threads, blocking the hub's thread (the hub does not run)."""
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), f"{thread.name} did not finish within {timeout} s"


def voluntary_switches(tid: int) -> int:
    """How often the native thread ``tid`` went to sleep (blocked) and was woken again; Linux only."""
    with open(f"/proc/self/task/{tid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("voluntary_ctxt_switches:"))


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """``("returned", value)`` or ``("raised", exception type)`` of ``fn(*args)``."""
    try:
        return ("returned", fn(*args))
    except BaseException as exc:
        return ("raised", type(exc))


def in_foreign_thread(fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """The outcome of ``fn(*args)`` run in a plain thread, while the hub stands still."""
    box: list[tuple[str, Any]] = []
    join_thread(start_thread(lambda: box.append(outcome(fn, *args))), timeout=FOREIGN_THREAD_TIMEOUT)
    return box[0]


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


def noop(*args: object) -> None:
    return None


# -- hubs ----------------------------------------------------------------------------


def in_hub() -> bool:
    """Whether the caller runs in hub context."""
    return gevent.getcurrent() is gevent.get_hub()


def hub_greenlet_check() -> Callable[[], bool]:
    """Whether the caller runs in this thread's hub greenlet; callable from any thread."""
    hub = gevent.get_hub()
    # greenlet.getcurrent(), not gevent.get_hub(): that would make a hub in a foreign thread.
    return lambda: greenlet.getcurrent() is hub


def in_hub_context(fn: Callable[[], None]) -> None:
    """Run ``fn()`` in the hub greenlet (as a loop callback) and wait for it."""
    done: list[bool] = []
    gevent.get_hub().loop.run_callback(lambda: (fn(), done.append(True)))
    wait_until(lambda: done == [True], what="a callback in hub context")


def start_own_hub_thread(
    body: Callable[[Any], Any], destroyed: threading.Event | None = None
) -> tuple[threading.Thread, queue.Queue[tuple[Any, int]]]:
    """Start a plain thread that makes a hub, runs ``body(hub)``, then destroys the hub.

    The queue receives what ``body`` returned and the thread's native ident;
    ``destroyed`` is set once the hub is gone, whatever happened.
    """
    box: queue.Queue[tuple[Any, int]] = queue.Queue()

    def main() -> None:
        try:
            hub = gevent.get_hub()
            try:
                result = body(hub)
            finally:
                hub.destroy(destroy_loop=True)
            box.put((result, threading.get_ident()))
        finally:
            if destroyed is not None:
                destroyed.set()

    return start_thread(main, name="own-hub"), box


def call_soon(fn: Callable[[], Any], hub: Any = None) -> Any:
    """``call_soon_threadsafe(fn)`` to ``hub`` (None: the default target)."""
    return gnotifier.call_soon_threadsafe(fn, hub=hub)


def call_in(fn: Callable[[], Any], hub: Any = None) -> Any:
    """``call_in_hub(fn)`` to ``hub`` (None: the default target), bounded by a timeout."""
    return gnotifier.call_in_hub(fn, hub=hub, timeout=CALL_TIMEOUT)


def live_threadpools() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, ThreadPool))


# -- notifiers -------------------------------------------------------------------------

FACTORIES = [pytest.param(Notifier, id="Notifier"), pytest.param(make_notifier, id="make_notifier")]


def settle(rounds: int = 2) -> None:
    """Let the hub deliver what was queued so far: later markers must run first."""
    for _ in range(rounds):
        seen: list[str] = []
        marker = Notifier(seen.append, "marker")
        marker.trigger()
        wait_until(lambda: seen == ["marker"], what="a marker notifier")


# -- promises --------------------------------------------------------------------------


class Boom(Exception):
    """A test error; compared by identity."""


class Fatal(BaseException):
    """A BaseException that is not an Exception."""


class Sentinel(Exception):
    """The marker error reports_after_gc() drops unobserved."""


def later(value: Any) -> Promise[Any]:
    """A promise the hub resolves with ``value`` on its next turn."""
    promise: Promise[Any] = Promise()
    gevent.get_hub().loop.run_callback(promise.set, value)
    return promise


def later_error(exc: BaseException) -> Promise[Any]:
    """A promise the hub rejects with ``exc`` on its next turn."""
    promise: Promise[Any] = Promise()
    gevent.get_hub().loop.run_callback(promise.set_exception, exc)
    return promise


def awaitable(kind: str, outcome: Any, executor: concurrent.futures.Executor) -> Any:
    """An unsettled awaitable of ``kind`` that settles with ``outcome`` (a value or an exception)."""
    failed = isinstance(outcome, BaseException)
    if kind == "promise":
        return later_error(outcome) if failed else later(outcome)
    if kind == "async-result":
        result = AsyncResult()
        gevent.get_hub().loop.run_callback(result.set_exception if failed else result.set, outcome)
        return result

    def produce() -> Any:
        if failed:
            raise outcome
        return outcome

    return executor.submit(produce)


def all_ready(promises: list[Promise[Any]]) -> Callable[[], bool]:
    return lambda: all(promise.ready() for promise in promises)


def hold_until_done(
    future: concurrent.futures.Future[Any], follower: Promise[Any], gate: threading.Event
) -> list[tuple[str, bool]]:
    """Complete ``future`` in its thread while this thread (and so the hub) is blocked.

    Records whether ``follower`` was settled in the completing thread, right
    after gnotifier's own done callback (added earlier) ran there.
    """
    seen: list[tuple[str, bool]] = []
    done = threading.Event()

    def look(_: concurrent.futures.Future[Any]) -> None:
        seen.append(("ready in the future's thread", follower.ready()))
        done.set()

    future.add_done_callback(look)
    gate.set()
    assert done.wait(DEADLINE)  # blocks the OS thread: the hub cannot run meanwhile
    return seen


def reports_after_gc(hub_errors: list[tuple[object, type, BaseException]]) -> list[tuple[type, str]]:
    """Collect garbage, let the hub run, return what reached handle_error (type, message).

    A sentinel rejected promise that nobody observes is dropped last; once its
    report arrives, every report made before it has arrived as well. The hub
    runs first: a waiter woken by a link leaves the hub in the middle of
    notifying, holding the promise, until this greenlet yields.
    """
    gevent.sleep(0)
    gc.collect()
    sentinel = Promise.rejected(Sentinel("sentinel"))
    del sentinel
    gc.collect()
    wait_until(lambda: any(type_ is Sentinel for _, type_, _ in hub_errors), what="the sentinel's report")
    reports = [(type_, str(value)) for _, type_, value in hub_errors if type_ is not Sentinel]
    hub_errors[:] = [entry for entry in hub_errors if entry[1] is not Sentinel]
    return reports


# -- pools and jobs ----------------------------------------------------------------------


class Interrupt(BaseException):
    """A KeyboardInterrupt-like error: a BaseException, not an Exception."""


class Gates:
    """threading.Events that jobs block on; every one is opened at teardown."""

    def __init__(self) -> None:
        self.made: list[threading.Event] = []

    def new(self) -> threading.Event:
        gate = threading.Event()
        self.made.append(gate)
        return gate

    def open_all(self) -> None:
        for gate in self.made:
            gate.set()


def pass_gate(gate: threading.Event, what: str = "the gate") -> None:
    """In a job: block this worker thread until the test opens ``gate``."""
    if not gate.wait(WAIT):
        raise AssertionError(f"job waited {WAIT} s for {what}")


class FirstJobBlocks:
    """A job that records its name; job "a" says it started, then waits at a gate."""

    def __init__(self, gates: Gates) -> None:
        self.gate = gates.new()
        self.started = threading.Event()
        self.ran: list[str] = []

    def __call__(self, name: str) -> str:
        self.ran.append(name)
        if name == "a":
            self.started.set()
            pass_gate(self.gate)
        return name


def failing_job(error: BaseException) -> None:
    raise error


def stats_add_up(stats: dict[str, int], accepted: int) -> bool:
    return sum(stats[key] for key in STATS_KEYS) == accepted


# -- servers -------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def expected_digest(path: str) -> str:
    """What the hashing apps answer for ``path``: the sha256 of the path repeated 1000 times."""
    return hashlib.sha256(path.encode() * 1000).hexdigest()
