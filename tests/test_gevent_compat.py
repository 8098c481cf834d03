"""The gevent internals gnotifier leans on, each pinned by one test.

They all live in ``gnotifier/_gevent.py``. When a gevent release changes
one of them, the test for it fails here first.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Any

import gevent
from gevent.threadpool import ThreadPool, ThreadPoolExecutor
from helpers import live_threadpools, run_in_a_thread_without_a_hub, wait_until

from gnotifier import _gevent

WAIT = 5.0  # seconds any single wait in these tests may take


def test_get_hub_if_exists_makes_no_hub() -> None:
    def probe() -> tuple[bool, bool]:
        before = _gevent.get_hub_if_exists() is None
        hub = gevent.get_hub()
        return before, _gevent.get_hub_if_exists() is hub

    assert run_in_a_thread_without_a_hub(probe) == (True, True)


def test_run_on_threadpool_runs_a_task_on_a_real_thread_with_no_watcher() -> None:
    ran = threading.Event()
    where: list[int] = []
    threadpool = ThreadPool(1)

    def task(value: int) -> None:
        where.append(threading.get_ident())
        assert value == 7
        ran.set()

    try:
        _gevent.run_on_threadpool(threadpool, task, 7)
        wait_until(ran.is_set, WAIT, "the task to run")
        assert where != [threading.get_ident()]
    finally:
        threadpool.kill()


def test_threadpool_reset_in_child_keeps_the_shape_gnotifier_uses() -> None:
    # _on_fork() resets once per process (pid) and replaces fork_watcher.
    threadpool = ThreadPool(1)
    try:
        assert threadpool.pid is not None and threadpool.fork_watcher is not None
        assert callable(threadpool._on_fork)
        watcher = threadpool.fork_watcher
        _gevent.reset_threadpool_in_child(threadpool)  # same pid: nothing to do
        assert threadpool.fork_watcher is watcher
    finally:
        threadpool.kill()


def test_kill_threadpool_lets_its_threads_go_and_frees_the_pool() -> None:
    # kill() in hub context does not wait; without stopping the fork watcher
    # the loop (libuv) keeps the ThreadPool alive.
    before = live_threadpools()
    threadpool = ThreadPool(2, idle_task_timeout=0.05)
    done = threading.Event()
    threadpool.spawn(done.set)
    assert done.wait(WAIT)
    gevent.get_hub().loop.run_callback(_gevent.kill_threadpool, threadpool)
    held = [threadpool]
    del threadpool
    wait_until(lambda: held[0].size == 0, WAIT, "the threadpool's threads to go")
    held.clear()
    wait_until(lambda: live_threadpools() <= before, WAIT, "the killed threadpool to be freed")


def test_a_killed_threadpool_adjusted_while_its_workers_leave_reports_no_error(hub_errors: list[Any]) -> None:
    # A worker that leaves after kill() while the others' stop signals are
    # still queued asks the hub to adjust() the pool, which starts its fork
    # watcher again: once closed, that raised on the cffi loops and libuv.
    threadpool = ThreadPool(2, idle_task_timeout=0.05)  # idle, its threads leave
    gate = threading.Event()
    running = [threadpool.spawn(gate.wait, WAIT) for _ in range(2)]
    in_hub: list[bool] = []

    def kill_then_adjust() -> None:
        _gevent.kill_threadpool(threadpool)
        threadpool.adjust()  # its workers are still there, busy
        in_hub.append(True)

    gevent.get_hub().loop.run_callback(kill_then_adjust)
    wait_until(lambda: in_hub == [True], WAIT, "the kill and the adjust() in the hub")
    gate.set()
    for result in running:
        assert result.get(timeout=WAIT) is True
    wait_until(lambda: threadpool.size == 0, WAIT, "the threadpool's threads to go")
    assert hub_errors == []


def test_hub_threadpool_if_made_does_not_make_one() -> None:
    def probe() -> tuple[bool, bool]:
        hub = gevent.get_hub()
        before = _gevent.hub_threadpool_if_made(hub) is None
        made = hub.threadpool
        return before, _gevent.hub_threadpool_if_made(hub) is made

    assert run_in_a_thread_without_a_hub(probe) == (True, True)


def test_gevent_executor_futures_are_the_proxy_class() -> None:
    with ThreadPoolExecutor(1) as executor:
        future = executor.submit(int, "3")
        assert _gevent.FUTURE_PROXY is not None and isinstance(future, _gevent.FUTURE_PROXY)
        assert not isinstance(future, concurrent.futures.Future)
        assert future.result(WAIT) == 3


def test_proxy_error_is_the_very_error_of_a_gevent_executor_future() -> None:
    error = ValueError("from the job")

    def fail() -> None:
        raise error

    with ThreadPoolExecutor(1) as executor:
        failed, fine = executor.submit(fail), executor.submit(int, "3")
        assert fine.result(WAIT) == 3  # one thread: the failed one is done too
        assert (_gevent.proxy_error(failed), _gevent.proxy_error(fine)) == (error, None)


def test_before_hub_destroy_hooks_every_destroy_before_the_loop_goes() -> None:
    # gnotifier installed its hook at import. gevent's destroy() kills the
    # periodic monitoring thread first: a stand-in for it sees whether the
    # hook already closed the dispatcher while the loop was still there.
    seen: list[Any] = []

    class Monitor:
        def kill(self) -> None:
            seen.append(("destroying", dispatcher[0].closed, hub[0].loop is not None))

    hub: list[Any] = []
    dispatcher: list[Any] = []

    def probe() -> None:
        import gnotifier

        hub.append(gevent.get_hub())
        gnotifier.call_soon_threadsafe(lambda: None)
        dispatcher.append(hub[0]._gnotifier_dispatcher)
        hub[0].periodic_monitoring_thread = Monitor()

    run_in_a_thread_without_a_hub(probe)  # destroys the hub on the way out
    assert seen == [("destroying", True, True)] and hub[0].loop is None


def test_threadpool_task_tuple_protocol_reports_to_the_result() -> None:
    # The sink stands in for gevent's ThreadResult: set() on return.
    calls: list[str] = []

    class Sink:
        def set(self, value: object) -> None:
            calls.append("set")

        def handle_error(self, context: object, exc_info: object) -> None:
            calls.append("error")

    threadpool = ThreadPool(1)
    try:
        threadpool.task_queue.put((time.monotonic, (), {}, Sink()))
        threadpool.adjust()
        wait_until(lambda: calls == ["set"], WAIT, "the task to report")
    finally:
        threadpool.kill()
