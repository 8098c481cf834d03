"""Pool: every kind of pool, then a Pool's own threads (size, map, stats, cancel, max_pending, shutdown)."""

from __future__ import annotations

import concurrent.futures
import re
import threading
import time
import traceback
import weakref
from typing import Any, Callable

import gevent
import pytest
from helpers import (
    WAIT,
    FirstJobBlocks,
    Gates,
    Interrupt,
    failing_job,
    live_threadpools,
    pass_gate,
    run_in_a_thread_without_a_hub,
    stats_add_up,
    wait_until,
)

import gnotifier

# -- every kind of pool: the default one, Pool(size=2), Pool(executor=) --------------------


def test_pool_work_returns_value_via_get(any_pool: gnotifier.Pool) -> None:
    promises = [any_pool.work(pow, n, 2) for n in range(5)]
    assert [p.get(timeout=WAIT) for p in promises] == [0, 1, 4, 9, 16]


@pytest.mark.parametrize(
    "make_error",
    [lambda: ValueError("boom"), lambda: Interrupt("stop"), lambda: SystemExit(3)],
    ids=["Exception", "BaseException", "SystemExit"],
)
def test_pool_rejects_with_the_very_exception(
    any_pool: gnotifier.Pool, make_error: Callable[[], BaseException]
) -> None:
    error = make_error()
    promise = any_pool.work(failing_job, error)
    with pytest.raises(type(error)) as info:
        promise.get(timeout=WAIT)
    assert info.value is error


def test_pool_get_reraises_with_the_job_frame_in_the_traceback(any_pool: gnotifier.Pool) -> None:
    def job_that_raises() -> None:
        raise LookupError("from the job")

    with pytest.raises(LookupError) as info:
        any_pool.work(job_that_raises).get(timeout=WAIT)
    assert traceback.extract_tb(info.value.__traceback__)[-1].name == "job_that_raises"


@pytest.mark.parametrize("outcome", ["value", "error"])
def test_pool_settles_promise_in_the_hub_thread(any_pool: gnotifier.Pool, gates: Gates, outcome: str) -> None:
    gate = gates.new()
    record: list[tuple[str, int]] = []

    def job() -> str:
        record.append(("job", threading.get_ident()))
        pass_gate(gate)
        if outcome == "error":
            raise ValueError("rejected")
        return "resolved"

    promise = any_pool.work(job)
    promise.rawlink(lambda p: record.append(("notified", threading.get_ident())))
    wait_until(lambda: len(record) == 1, what="the job to start")
    gate.set()
    wait_until(lambda: len(record) == 2, what="the promise to notify")
    main = threading.get_ident()
    assert [(what, ident == main) for what, ident in record] == [("job", False), ("notified", True)]
    assert (promise.exception is None) is (outcome == "value")


# -- bad arguments -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"size": 0}, ValueError),
        ({"size": -1}, ValueError),
        ({"size": 2, "executor": "ThreadPoolExecutor"}, ValueError),
        ({"executor": object()}, TypeError),
        ({"max_pending": 0}, ValueError),
        ({"max_pending": -3}, ValueError),
        ({"size": "2"}, TypeError),
        ({"size": 1.5}, TypeError),
    ],
    ids=[
        "size-0",
        "size-negative",
        "size-and-executor",
        "executor-object",
        "max_pending-0",
        "max_pending-negative",
        "size-str",
        "size-float",
    ],
)
def test_pool_rejects_bad_arguments(
    request: pytest.FixtureRequest, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    if kwargs.get("executor") == "ThreadPoolExecutor":
        kwargs = {**kwargs, "executor": request.getfixturevalue("executor")}
    with pytest.raises(error):
        pool = gnotifier.Pool(**kwargs)
        pool.shutdown()  # pragma: no cover - only when the check is missing


@pytest.mark.parametrize("fn", ["x", None], ids=["str", "None"])
def test_pool_work_rejects_non_callable(make_pool: Callable[..., gnotifier.Pool], fn: Any) -> None:
    pool = make_pool(size=1)
    with pytest.raises(TypeError):
        pool.work(fn)
    assert pool.stats() == {"pending": 0, "running": 0, "completed": 0, "failed": 0, "cancelled": 0, "threads": 0}


# -- size ----------------------------------------------------------------------------------


def test_pool_runs_at_most_size_jobs_at_once(make_pool: Callable[..., gnotifier.Pool], gates: Gates) -> None:
    pool = make_pool(size=2)
    gate = gates.new()
    lock = threading.Lock()
    state = {"running": 0, "peak": 0}
    started: list[int] = []

    def job(n: int) -> int:
        with lock:
            state["running"] += 1
            state["peak"] = max(state["peak"], state["running"])
            started.append(n)
        try:
            pass_gate(gate)
        finally:
            with lock:
                state["running"] -= 1
        return n

    promises = [pool.work(job, n) for n in range(4)]
    submitted = [p.ready() for p in promises]  # the submitter was not blocked
    wait_until(lambda: len(started) == 2, what="two jobs to start")
    with lock:
        while_gated = (sorted(started), state["running"])
    stats = pool.stats()
    gate.set()
    assert gnotifier.Promise.all(promises).get(timeout=WAIT) == [0, 1, 2, 3]
    assert submitted == [False] * 4
    assert while_gated == ([0, 1], 2)
    assert (stats["running"], stats["pending"]) == (2, 2)
    assert (state["peak"], sorted(started)) == (2, [0, 1, 2, 3])


def test_pool_queued_jobs_do_not_block_the_submitting_greenlet(
    make_pool: Callable[..., gnotifier.Pool], gates: Gates
) -> None:
    pool = make_pool(size=1)
    gate = gates.new()
    record: list[Any] = []

    def submitter() -> list[gnotifier.Promise[Any]]:
        promises = [pool.work(pass_gate, gate) for _ in range(5)]
        record.append(("submitted", [p.ready() for p in promises]))
        return promises

    greenlet = gevent.spawn(submitter)
    greenlet.join(timeout=WAIT)
    record.append(("greenlet done", greenlet.dead))
    gate.set()
    assert gnotifier.Promise.all(greenlet.value).get(timeout=WAIT) == [None] * 5
    assert record == [("submitted", [False] * 5), ("greenlet done", True)]


# -- map -----------------------------------------------------------------------------------


def test_pool_map_keeps_input_order(make_pool: Callable[..., gnotifier.Pool], gates: Gates) -> None:
    # Job n waits for job n+1 to finish, so they finish in reverse order.
    pool = make_pool(size=4)
    finished = [gates.new() for _ in range(4)]
    order: list[int] = []

    def job(n: int) -> int:
        if n < 3:
            pass_gate(finished[n + 1], f"job {n + 1}")
        order.append(n)
        finished[n].set()
        return n * 10

    assert pool.map(job, range(4)).get(timeout=WAIT) == [0, 10, 20, 30]
    assert order == [3, 2, 1, 0]


@pytest.mark.parametrize("items", [[], (x for x in "abc")], ids=["empty", "generator"])
def test_pool_map_takes_any_iterable(make_pool: Callable[..., gnotifier.Pool], items: Any) -> None:
    expected = [] if isinstance(items, list) else ["A", "B", "C"]
    assert make_pool(size=2).map(str.upper, items).get(timeout=WAIT) == expected


def test_pool_map_rejects_with_the_first_error_to_occur(make_pool: Callable[..., gnotifier.Pool], gates: Gates) -> None:
    # Item 1 fails at once; items 0 and 2 block until the map has rejected,
    # and item 0 then fails too: the map keeps item 1's error, not the first
    # in input order.
    pool = make_pool(size=3)
    gate = gates.new()
    early, late = ValueError("item 1, at once"), ValueError("item 0, later")

    def job(n: int) -> int:
        if n == 1:
            raise early
        pass_gate(gate)
        if n == 0:
            raise late
        return n

    mapped = pool.map(job, [0, 1, 2])
    with pytest.raises(ValueError) as info:
        mapped.get(timeout=WAIT)
    record: list[Any] = [("map rejected", info.value is early, gate.is_set())]
    gate.set()
    wait_until(lambda: pool.stats()["failed"] == 2 and pool.stats()["completed"] == 1, what="items 0 and 2 to settle")
    record.append(("still", mapped.exception is early))
    assert record == [("map rejected", True, False), ("still", True)]


# -- stats ---------------------------------------------------------------------------------


def test_pool_stats_add_up_to_accepted_jobs(make_pool: Callable[..., gnotifier.Pool], gates: Gates) -> None:
    pool = make_pool(size=1)
    gate, started = gates.new(), threading.Event()
    snapshots: list[tuple[dict[str, int], bool]] = []

    def blocker() -> str:
        started.set()
        pass_gate(gate)
        return "a"

    def snapshot(accepted: int, with_threads: bool = True) -> None:
        stats = pool.stats()
        if not with_threads:
            del stats["threads"]  # idle threads linger a while; not the point here
        snapshots.append((stats, stats_add_up(pool.stats(), accepted)))

    snapshot(0)
    a = pool.work(blocker)
    wait_until(started.is_set, what="the first job to start")
    snapshot(1)
    b = pool.work(failing_job, ValueError("b fails"))
    c = pool.work(str, "c")
    d = pool.work(str, "d")
    snapshot(4)
    cancelled = d.cancel()
    snapshot(4)
    gate.set()
    wait_until(lambda: a.ready() and b.ready() and c.ready(), what="the jobs to settle")
    snapshot(4, with_threads=False)
    outcomes = [a.get(), type(b.exception), c.get(), type(d.exception)]

    def stats(pending: int, running: int, completed: int, failed: int, cancelled: int) -> dict[str, int]:
        return {
            "pending": pending,
            "running": running,
            "completed": completed,
            "failed": failed,
            "cancelled": cancelled,
        }

    assert snapshots == [
        ({**stats(0, 0, 0, 0, 0), "threads": 0}, True),
        ({**stats(0, 1, 0, 0, 0), "threads": 1}, True),
        ({**stats(3, 1, 0, 0, 0), "threads": 1}, True),
        ({**stats(2, 1, 0, 0, 1), "threads": 1}, True),
        (stats(0, 0, 2, 1, 1), True),
    ]
    assert (cancelled, outcomes) == (True, ["a", ValueError, "c", gnotifier.Cancelled])


# -- cancel --------------------------------------------------------------------------------


def test_pool_map_cancelled_before_any_job_started_runs_none(
    make_pool: Callable[..., gnotifier.Pool], gates: Gates
) -> None:
    pool = make_pool(size=1)
    job = FirstJobBlocks(gates)
    first = pool.work(job, "a")
    wait_until(job.started.is_set, what="job a to start")  # the one thread is busy: map's jobs queue
    mapped = pool.map(job, ["b", "c"])
    assert mapped.cancel() is True
    job.gate.set()
    first.get(timeout=WAIT)
    assert isinstance(mapped.exception, gnotifier.Cancelled)
    wait_until(lambda: pool.stats()["cancelled"] == 2, what="both of map's jobs to count as cancelled")
    assert job.ran == ["a"]


def test_pool_map_cancelled_while_a_job_runs_stops_the_rest_and_asks_that_one_to_stop(
    make_pool: Callable[..., gnotifier.Pool], gates: Gates
) -> None:
    pool = make_pool(size=1)
    started, gate = threading.Event(), gates.new()
    ran: list[str] = []

    def job(name: str) -> str:
        ran.append(name)
        started.set()
        pass_gate(gate)
        gnotifier.check_cancelled()
        return name

    mapped = pool.map(job, ["a", "b"])
    wait_until(started.is_set, what="job a to start")
    assert mapped.cancel() is False
    gate.set()
    with pytest.raises(gnotifier.Cancelled):
        mapped.get(timeout=WAIT)
    wait_until(lambda: pool.stats()["cancelled"] == 2, what="both jobs to count as cancelled")
    assert ran == ["a"]


def test_pool_cancel_queued_job_never_runs(make_pool: Callable[..., gnotifier.Pool], gates: Gates) -> None:
    pool = make_pool(size=1)
    job = FirstJobBlocks(gates)
    gate, started, ran = job.gate, job.started, job.ran

    a = pool.work(job, "a")
    wait_until(started.is_set, what="job a to start")
    b, c = pool.work(job, "b"), pool.work(job, "c")
    record: list[Any] = [("cancel b", b.cancel()), ("b ready", b.ready())]
    with pytest.raises(gnotifier.Cancelled) as info:
        b.get(timeout=0)
    record.append(("b rejected", type(info.value)))
    gate.set()
    # c was queued behind b on the one thread: once c ran, b had its chance.
    record.append(("values", a.get(timeout=WAIT), c.get(timeout=WAIT)))
    record.append(("cancel b again", b.cancel()))
    assert record == [
        ("cancel b", True),
        ("b ready", True),
        ("b rejected", gnotifier.Cancelled),
        ("values", "a", "c"),
        ("cancel b again", False),
    ]
    assert ran == ["a", "c"]


# -- max_pending ---------------------------------------------------------------------------


def test_pool_max_pending_raises_pool_full_in_hub_context(
    make_pool: Callable[..., gnotifier.Pool], gates: Gates
) -> None:
    pool = make_pool(size=1, max_pending=1)
    gate, started = gates.new(), threading.Event()
    record: list[Any] = []

    def blocker() -> str:
        started.set()
        pass_gate(gate)
        return "a"

    def submit_in_hub(label: str) -> None:
        assert gevent.getcurrent() is gevent.get_hub()
        try:
            promise = pool.work(str, label)
        except gnotifier.PoolFull:
            record.append((label, "PoolFull"))
        else:
            record.append((label, type(promise)))
            promise.rawlink(lambda p: record.append((label, p.get())))

    a = pool.work(blocker)
    wait_until(started.is_set, what="the first job to start")
    b = pool.work(str, "b")  # takes the one pending slot (waits for a to give it back)
    gevent.get_hub().loop.run_callback(submit_in_hub, "full")
    wait_until(lambda: len(record) == 1, what="the hub callback")
    gate.set()
    assert (a.get(timeout=WAIT), b.get(timeout=WAIT)) == ("a", "b")
    gevent.get_hub().loop.run_callback(submit_in_hub, "room")
    wait_until(lambda: len(record) == 3, what="the second hub callback and its job")
    assert record == [("full", "PoolFull"), ("room", gnotifier.Promise), ("room", "room")]


def test_pool_max_pending_greenlet_waits_for_room(make_pool: Callable[..., gnotifier.Pool], gates: Gates) -> None:
    pool = make_pool(size=1, max_pending=1)
    gate, started = gates.new(), threading.Event()
    record: list[Any] = []

    def blocker() -> str:
        started.set()
        pass_gate(gate)
        return "a"

    a = pool.work(blocker)
    wait_until(started.is_set, what="the first job to start")
    b = pool.work(str, "b")

    def submit_c() -> Any:
        record.append("submitting c")
        promise = pool.work(str, "c")
        record.append(("c accepted", a.ready()))
        return promise

    submitter = gevent.spawn(submit_c)
    wait_until(lambda: len(record) >= 1, what="the submitter to start")
    # The main greenlet still runs while the submitter waits for room.
    record.append(("pending", pool.stats()["pending"]))
    gate.set()
    c = submitter.get(timeout=WAIT)
    assert [a.get(timeout=WAIT), b.get(timeout=WAIT), c.get(timeout=WAIT)] == ["a", "b", "c"]
    # Room came when b started, so a had finished by then.
    assert record == ["submitting c", ("pending", 1), ("c accepted", True)]


def test_pool_max_pending_waiting_greenlet_gets_pool_closed_on_shutdown(
    make_pool: Callable[..., gnotifier.Pool], gates: Gates
) -> None:
    pool = make_pool(size=1, max_pending=1)
    gate, started = gates.new(), threading.Event()
    record: list[Any] = []

    def blocker() -> str:
        started.set()
        pass_gate(gate)
        return "a"

    a = pool.work(blocker)
    wait_until(started.is_set, what="the first job to start")
    b = pool.work(str, "b")  # takes the one pending slot

    def submit_c() -> None:
        record.append("submitting c")
        try:
            pool.work(str, "c")
        except gnotifier.PoolClosed:
            record.append(("c refused", pool.closed))
        else:
            record.append("c accepted")

    submitter = gevent.spawn(submit_c)
    wait_until(lambda: len(record) == 1, what="the submitter to wait for room")
    record.append(("shutting down", pool.stats()["pending"]))
    pool.shutdown(wait=False, cancel_pending=True)
    submitter.join(timeout=WAIT)
    record.append(("submitter done", submitter.dead, a.ready(), type(b.exception)))
    gate.set()
    record.append(("a", a.get(timeout=WAIT)))
    assert record == [
        "submitting c",
        ("shutting down", 1),
        ("c refused", True),
        ("submitter done", True, False, gnotifier.Cancelled),
        ("a", "a"),
    ]
    stats = pool.stats()
    del stats["threads"]
    assert stats == {"pending": 0, "running": 0, "completed": 1, "failed": 0, "cancelled": 1}


# -- shutdown ------------------------------------------------------------------------------


def test_pool_shutdown_waits_for_queued_and_running_jobs(
    make_pool: Callable[..., gnotifier.Pool], gates: Gates
) -> None:
    pool = make_pool(size=1)
    gate, started = gates.new(), threading.Event()
    record: list[Any] = []

    def job(name: str) -> str:
        if name == "a":
            started.set()
            pass_gate(gate)
        record.append(f"{name} ran")
        return name

    promises = [pool.work(job, name) for name in "abc"]
    wait_until(started.is_set, what="job a to start")

    def shut_down() -> None:
        pool.shutdown(wait=True)
        record.append(("shutdown returned", [p.ready() for p in promises]))

    closer = gevent.spawn(shut_down)
    gevent.sleep(0)  # the closer runs until it blocks in shutdown()
    record.append("opening the gate")
    gate.set()
    closer.get(timeout=WAIT)
    assert record == ["opening the gate", "a ran", "b ran", "c ran", ("shutdown returned", [True, True, True])]
    assert [p.get() for p in promises] == ["a", "b", "c"]


@pytest.mark.parametrize("wait", [False, True], ids=["no-wait", "wait"])
def test_pool_shutdown_cancel_pending_rejects_queued_jobs(
    make_pool: Callable[..., gnotifier.Pool], gates: Gates, wait: bool
) -> None:
    pool = make_pool(size=1)
    job = FirstJobBlocks(gates)
    gate, started, ran = job.gate, job.started, job.ran

    a, b, c = (pool.work(job, name) for name in "abc")
    wait_until(started.is_set, what="job a to start")
    record: list[Any] = []

    def shut_down() -> None:
        pool.shutdown(wait=wait, cancel_pending=True)
        record.append(("shutdown returned", a.ready()))

    closer = gevent.spawn(shut_down)
    wait_until(lambda: b.ready() and c.ready(), what="queued jobs to be rejected")
    record.append(("queued rejected", type(b.exception), type(c.exception), a.ready()))
    gate.set()
    closer.get(timeout=WAIT)
    record.append(("a", a.get(timeout=WAIT)))
    rejected = ("queued rejected", gnotifier.Cancelled, gnotifier.Cancelled, False)
    if wait:  # shutdown() returned once a had finished
        assert record == [rejected, ("shutdown returned", True), ("a", "a")]
    else:  # shutdown() returned at once, a still running
        assert record == [("shutdown returned", False), rejected, ("a", "a")]
    assert ran == ["a"]
    stats = pool.stats()
    del stats["threads"]
    assert stats == {"pending": 0, "running": 0, "completed": 1, "failed": 0, "cancelled": 2}


def test_pool_shutdown_timeout_raises_timeout_error_and_jobs_still_settle(
    make_pool: Callable[..., gnotifier.Pool], gates: Gates
) -> None:
    # Two jobs block the two threads, a third waits behind them: the message
    # must tell running (2) from pending (1).
    pool = make_pool(size=2)
    gate = gates.new()
    started = threading.Barrier(3, timeout=WAIT)

    def blocker(name: str) -> str:
        started.wait()
        pass_gate(gate)
        return name

    a, b = pool.work(blocker, "a"), pool.work(blocker, "b")
    c = pool.work(str, "c")
    started.wait()
    with pytest.raises(Exception) as info:
        pool.shutdown(wait=True, timeout=0.05)
    record: list[Any] = [("raised", type(info.value)), ("ready", a.ready(), b.ready(), c.ready())]
    gate.set()
    record.append(("values", a.get(timeout=WAIT), b.get(timeout=WAIT), c.get(timeout=WAIT)))
    assert record == [("raised", TimeoutError), ("ready", False, False, False), ("values", "a", "b", "c")]
    assert re.search(r"\b2 jobs running and 1 pending\b", str(info.value)), str(info.value)
    assert pool.closed


@pytest.mark.parametrize("kind", ["own-threads", "executor"])
@pytest.mark.parametrize("method", ["work", "map"])
def test_pool_submit_after_shutdown_raises_pool_closed(
    request: pytest.FixtureRequest, make_pool: Callable[..., gnotifier.Pool], kind: str, method: str
) -> None:
    pool = make_pool(size=1) if kind == "own-threads" else make_pool(executor=request.getfixturevalue("executor"))
    assert pool.work(str, 1).get(timeout=WAIT) == "1"
    pool.shutdown()
    with pytest.raises(gnotifier.PoolClosed):
        if method == "work":
            pool.work(str, 2)
        else:
            pool.map(str, [2, 3])
    assert (pool.closed, pool.stats()["completed"]) == (True, 1)


def test_default_pool_shut_down_says_work_goes_to_a_new_pool() -> None:
    # Regression: the message said to submit to default_pool(), which is the closed pool itself.
    def in_a_hub_of_its_own() -> tuple[str, bool]:
        assert gnotifier.work(str, 1).get(timeout=WAIT) == "1"
        gnotifier.default_pool().shutdown()
        with pytest.raises(gnotifier.PoolClosed) as info:
            gnotifier.work(str, 2)
        return str(info.value), gnotifier.default_pool().closed

    message, closed = run_in_a_thread_without_a_hub(in_a_hub_of_its_own)
    assert closed and "new gnotifier.Pool()" in message and "default_pool()" not in message, message


@pytest.mark.parametrize("kind", ["threads", "executor"])
def test_pool_used_and_shut_down_is_freed_with_its_threads(kind: str) -> None:
    # Regression: the close callback a pool registers with its hub held the
    # pool, its crew and its own ThreadPool for as long as the hub lived.
    pools: weakref.WeakSet[gnotifier.Pool] = weakref.WeakSet()
    threadpools_before = live_threadpools()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        for _ in range(20):
            pool = gnotifier.Pool(size=2) if kind == "threads" else gnotifier.Pool(executor=executor)
            pools.add(pool)
            assert pool.work(int, "7").get(timeout=WAIT) == 7
            pool.shutdown(timeout=WAIT)
        del pool
        wait_until(
            lambda: live_threadpools() <= threadpools_before and len(pools) == 0,
            what="the shut-down pools and their threadpools to be freed",
        )


# -- hub destroy ---------------------------------------------------------------------------


DESTROY_DEADLINE = 2.0  # seconds hub.destroy() gets; it must not wait for running jobs


@pytest.mark.parametrize("busy", ["own-threads", "default"])
def test_pool_hub_destroy_returns_and_rejects_unstarted_jobs(gates: Gates, busy: str) -> None:
    # A thread with its own hub uses a Pool(size=1) and the default pool (cut
    # to one worker); the ``busy`` one has a job running and one queued when
    # the thread destroys its hub. destroy() rejects the queued job at once.
    # A pool's own threads are not waited for; the default pool's run on
    # hub.threadpool, which gevent's destroy() waits for (as for its own
    # tasks), so there destroy() returns once the running job is let go.
    gate, started, destroyed = gates.new(), threading.Event(), threading.Event()
    ran: list[str] = []
    record: list[Any] = []
    errors: list[BaseException] = []
    busy_pool: list[gnotifier.Pool] = []
    queued_box: list[gnotifier.Promise[Any]] = []

    def blocker() -> str:
        started.set()
        pass_gate(gate)
        return "blocker"

    def owner() -> None:
        try:
            hub = gevent.get_hub()
            hub.threadpool.maxsize = 2  # the default pool keeps one for gevent: one worker
            own = gnotifier.Pool(size=1, name="doomed")
            default = gnotifier.default_pool()
            pool, other = (own, default) if busy == "own-threads" else (default, own)
            busy_pool.append(pool)
            record.append(("other pool works", other.work(str, 1).get(timeout=WAIT)))
            running = pool.work(blocker)
            queued = pool.work(ran.append, "queued")
            queued_box.append(queued)
            wait_until(started.is_set, what="the blocker to start")
            record.append(("before destroy", running.ready(), queued.ready()))
            hub.destroy(destroy_loop=True)
            destroyed.set()
            record.append(("after destroy", running.ready(), queued.ready(), type(queued.exception), pool.closed))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=owner, name="hub-owner")
    thread.start()
    if busy == "own-threads":
        record.append(("destroy returned", destroyed.wait(DESTROY_DEADLINE)))
    else:
        deadline = time.monotonic() + WAIT
        while not (queued_box and queued_box[0].ready()) and time.monotonic() < deadline:
            time.sleep(0.001)  # polling another thread's promise, with a deadline
        gate.set()
        record.append(("destroy returned", destroyed.wait(WAIT)))
    gate.set()
    thread.join(WAIT)
    record.append(("owner thread done", not thread.is_alive()))
    # The busy pool's one worker takes the queued job (claimed by the
    # cancellation, so skipped), then its stop: no thread left means it passed.
    wait_until(lambda: busy_pool[0].stats()["threads"] == 0, what="the busy pool's worker to exit")
    assert errors == []
    assert record == [
        ("other pool works", "1"),
        ("before destroy", False, False),
        ("after destroy", False, True, gnotifier.Cancelled, True),
        ("destroy returned", True),
        ("owner thread done", True),
    ]
    assert ran == []
