"""Shared fixtures: every test must leave the hub as it found it.

The helpers the test modules share live in ``helpers.py``.
"""

from __future__ import annotations

import concurrent.futures
import sys
import threading
from typing import Any, Callable, Iterator

import gevent
import pytest
from helpers import WAIT, Gates, wait_until

import gnotifier


def _holds() -> int:
    return gnotifier.hub_stats(gevent.get_hub())["holds"]


def _settled() -> bool:
    # Nothing queued for the hub, and no job of the default pool left pending or running.
    stats = gnotifier.default_pool().stats()
    return gnotifier.hub_stats(gevent.get_hub())["queued"] == 0 and stats["pending"] + stats["running"] == 0


def _is_gevent_pool_thread(frame: object) -> bool:
    # The outermost frame of a gevent ThreadPool worker is in threadpool.py.
    outer = frame
    while getattr(outer, "f_back", None) is not None:
        outer = outer.f_back  # type: ignore[attr-defined]
    return outer.f_code.co_filename.endswith("threadpool.py")  # type: ignore[attr-defined]


def _stray_threads(before: set[int]) -> list[int]:
    frames = sys._current_frames()
    return [ident for ident, frame in frames.items() if ident not in before and not _is_gevent_pool_thread(frame)]


@pytest.fixture(autouse=True)
def leaves_nothing_behind() -> Iterator[None]:
    """No thread, hold (unsettled promise, ref'd notifier), queued call, default-pool job or thread error left."""
    before = set(sys._current_frames())
    thread_errors: list[object] = []
    old_hook = threading.excepthook
    threading.excepthook = thread_errors.append
    try:
        yield
    finally:
        threading.excepthook = old_hook
    wait_until(lambda: _holds() == 0, what="outstanding promises, ref'd notifiers and threads to finish")
    wait_until(_settled, what="queued calls and the default pool's jobs to finish")
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


# -- pools -------------------------------------------------------------------------


@pytest.fixture
def gates() -> Iterator[Gates]:
    made = Gates()
    yield made
    made.open_all()


@pytest.fixture
def make_pool(gates: Gates) -> Iterator[Callable[..., gnotifier.Pool]]:
    """Pool(...) that is shut down (after opening every gate) at teardown."""
    pools: list[gnotifier.Pool] = []

    def make(*args: Any, **kwargs: Any) -> gnotifier.Pool:
        pool = gnotifier.Pool(*args, **kwargs)
        pools.append(pool)
        return pool

    yield make
    gates.open_all()
    for pool in pools:
        pool.shutdown(wait=True, timeout=WAIT)


@pytest.fixture
def executor(gates: Gates) -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    """A ThreadPoolExecutor of two threads, shut down (after opening every gate) at teardown."""
    ex = concurrent.futures.ThreadPoolExecutor(2)
    yield ex
    gates.open_all()
    ex.shutdown(wait=True)


@pytest.fixture(params=["default", "own-threads", "executor"])
def any_pool(request: pytest.FixtureRequest, make_pool: Callable[..., gnotifier.Pool]) -> gnotifier.Pool:
    """The default pool, a Pool(size=2), and a Pool over a ThreadPoolExecutor."""
    if request.param == "default":
        return gnotifier.default_pool()
    if request.param == "own-threads":
        return make_pool(size=2)
    return make_pool(executor=request.getfixturevalue("executor"))
