"""Worker threads: their names, errors, check_cancelled(), idle threads exiting, interpreter exit."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from typing import Any, Callable

import gevent
import pytest
from helpers import (
    WAIT,
    Gates,
    Interrupt,
    pass_gate,
    voluntary_switches,
    wait_until,
)

import gnotifier


@pytest.mark.parametrize(
    ("make", "prefix"),
    [("default", "gnotifier"), ("named", "crunch"), ("named", "image-resizer-pool")],
    ids=["default-pool", "named-pool", "long-name"],
)
def test_pool_names_worker_threads(make_pool: Callable[..., gnotifier.Pool], make: str, prefix: str) -> None:
    pool = gnotifier.default_pool() if make == "default" else make_pool(size=2, name=prefix)

    def names() -> tuple[str, str | None]:
        name = threading.current_thread().name
        comm = f"/proc/self/task/{threading.get_native_id()}/comm"
        os_name = open(comm).read().strip() if os.path.exists(comm) else None
        return name, os_name

    name, os_name = pool.work(names).get(timeout=WAIT)
    assert re.fullmatch(rf"{prefix}-\d+", name), name
    # The OS-level name too where the platform allows (Linux: 15 bytes at
    # most, cut from the prefix so that each thread keeps its number).
    number = name.rpartition("-")[2]
    assert os_name in (None, name if len(name) <= 15 else f"{prefix[: 14 - len(number)]}-{number}")


@pytest.mark.parametrize(
    "make_error",
    [lambda: ValueError("boom"), lambda: Interrupt("stop"), lambda: SystemExit(3)],
    ids=["Exception", "BaseException", "SystemExit"],
)
def test_pool_worker_survives_an_error(
    make_pool: Callable[..., gnotifier.Pool], make_error: Callable[[], BaseException]
) -> None:
    # One thread: the job after the failing one needs the same worker.
    pool = make_pool(size=1)
    threads: list[int] = []

    def fail() -> None:
        threads.append(threading.get_ident())
        raise make_error()

    def succeed() -> str:
        threads.append(threading.get_ident())
        return "still working"

    failed, later = pool.work(fail), pool.work(succeed)
    assert later.get(timeout=WAIT) == "still working"
    assert (type(failed.exception), len(set(threads)), len(threads)) == (type(make_error()), 1, 2)


def test_work_settles_even_when_calling_the_job_fails_in_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: work(f, fn=1) made calling the job itself raise in the
    # worker loop (a keyword clash); the loop died, the promise never
    # settled and its hold kept the hub alive forever.
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("calling the job failed")

    monkeypatch.setattr(gnotifier._worker, "Value", broken)  # what wraps the job's return
    promise = gnotifier.work(int, "1")
    with pytest.raises(TypeError, match="calling the job failed"):
        promise.get(timeout=WAIT)


# -- check_cancelled() ---------------------------------------------------------------------


def test_pool_cancel_running_job_requests_cooperative_cancellation(
    make_pool: Callable[..., gnotifier.Pool], gates: Gates
) -> None:
    pool = make_pool(size=1)
    gate, started = gates.new(), threading.Event()
    record: list[Any] = []
    raised: list[BaseException] = []

    def job() -> str:
        gnotifier.check_cancelled()
        record.append("first check passed")
        started.set()
        pass_gate(gate)
        try:
            gnotifier.check_cancelled()
        except gnotifier.Cancelled as exc:
            record.append("second check raised Cancelled")
            raised.append(exc)
            raise
        record.append("second check passed")
        return "not cancelled"

    promise = pool.work(job)
    wait_until(started.is_set, what="the job to start")
    record.append(("cancel", promise.cancel(), promise.ready()))
    gate.set()
    with pytest.raises(gnotifier.Cancelled) as info:
        promise.get(timeout=WAIT)
    assert record == ["first check passed", ("cancel", False, False), "second check raised Cancelled"]
    assert info.value is raised[0]
    assert pool.stats()["cancelled"] == 1


def test_check_cancelled_outside_a_job_does_nothing() -> None:
    assert gnotifier.check_cancelled() is None


# -- idle threads --------------------------------------------------------------------------


def test_pool_idle_threads_exit_and_a_later_job_starts_a_new_one(
    monkeypatch: pytest.MonkeyPatch, make_pool: Callable[..., gnotifier.Pool]
) -> None:
    monkeypatch.setattr(gnotifier._pool, "IDLE_TIMEOUT", 0.2)
    pool = make_pool(size=2, name="idle")
    both = threading.Barrier(2, timeout=WAIT)  # two jobs at once: two threads

    def job() -> str:
        both.wait()
        return threading.current_thread().name

    first = sorted(pool.map(lambda _: job(), range(2)).get(timeout=WAIT))
    record: list[Any] = [("first", first)]
    wait_until(lambda: pool.stats()["threads"] == 0, timeout=2.0, what="the idle threads to exit")
    record.append(("idle threads", pool.stats()["threads"]))
    later = pool.work(lambda: threading.current_thread().name)
    record.append(("threads after submit", pool.stats()["threads"]))
    record.append(("later", later.get(timeout=WAIT)))
    assert record == [
        ("first", ["idle-1", "idle-2"]),
        ("idle threads", 0),
        ("threads after submit", 1),
        ("later", "idle-3"),
    ]


# -- interpreter exit ----------------------------------------------------------------------


EXIT_MID_JOB = """\
import sys, threading, time
if sys.argv[2] == "patched":
    from gevent import monkey
    monkey.patch_all()
import gnotifier
started = threading.Event()

def slow():
    started.set()
    time.sleep(0.3)  # a native call, still under way when the script ends
    print("job finished", flush=True)

pool = gnotifier.Pool(size=1) if sys.argv[1] == "own-pool" else gnotifier.default_pool()
pool.work(slow)
if sys.argv[1] == "own-pool":
    pool.work(print, "never runs")  # queued behind slow
    pool.work(print, "never runs")
assert started.wait(10)
print("script ends", flush=True)
"""


@pytest.mark.parametrize("patching", ["plain", "patched"])
@pytest.mark.parametrize("pool", ["own-pool", "default-pool"])
def test_exit_waits_for_running_jobs_and_drops_queued_ones_with_one_warning(pool: str, patching: str) -> None:
    # Regression: the interpreter tore worker threads down in the middle of
    # their job (inside C++ code such as bcrypt: "FATAL: exception not
    # rethrown", exit code 134).
    result = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", EXIT_MID_JOB, pool, patching],
        timeout=60,
        capture_output=True,
        text=True,
    )
    warned = [line for line in result.stderr.splitlines() if "RuntimeWarning" in line]
    assert (result.returncode, result.stdout.splitlines()) == (0, ["script ends", "job finished"]), result.stderr
    if pool == "default-pool" and patching == "patched":
        # The patched Event ran the hub: ending without the job's result is
        # a choice, as with a concurrent.futures result, and nothing is said.
        assert warned == []
        return
    # Plain, the hub never ran: the job's result waited for it, and the warning says so.
    expected = ["2 queued job(s) never started"] if pool == "own-pool" else ["1 call(s)", "a hub that never ran"]
    assert len(warned) == 1 and all(part in warned[0] for part in [*expected, "gnotifier.run(main)"]), warned


EXIT_AFTER_THE_HUB_RAN = """\
import threading, time
import gevent, gnotifier
started = threading.Event()

def slow():
    started.set()
    time.sleep(0.3)

pool = gnotifier.Pool(size=1)
promises = [pool.work(slow), pool.work(print, "never runs"), pool.work(print, "never runs")]
while not started.is_set():
    gevent.sleep(0.001)  # the hub runs
"""


def test_exit_after_the_hub_ran_advises_waiting_for_the_promises() -> None:
    # Regression: the warning said the hub never came, and to run main with run(), though the hub had run.
    result = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", EXIT_AFTER_THE_HUB_RAN],
        timeout=60,
        capture_output=True,
        text=True,
    )
    warned = [line for line in result.stderr.splitlines() if "RuntimeWarning" in line]
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
    assert len(warned) == 1, warned
    assert "2 queued job(s) never started;" in warned[0], warned
    assert "wait for their promises" in warned[0] and "run the program's main" not in warned[0], warned


EXIT_CALLING_THE_HUB = """\
import sys, threading
if sys.argv[1] == "patched":
    from gevent import monkey
    monkey.patch_all()
import gnotifier
from gevent.monkey import get_original
exiting = get_original("threading", "Event")() if sys.argv[1] == "patched" else threading.Event()
started = threading.Event()

def job():
    started.set()
    exiting.wait(10)  # until the script has ended: the main hub will not run again
    try:
        gnotifier.call_in_hub(print, "the hub answered")
    except gnotifier.HubClosed as exc:
        print("job let go:", "exiting" in str(exc), flush=True)

gnotifier.work(job)
assert started.wait(10)
import atexit
atexit.register(exiting.set)  # runs before gnotifier's own exit, which waits for the job
print("script ends", flush=True)
"""


@pytest.mark.parametrize("patching", ["plain", "patched"])
def test_a_job_calling_into_the_main_hub_at_exit_is_let_go_rather_than_hang_the_exit(patching: str) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", EXIT_CALLING_THE_HUB, patching],
        timeout=60,
        capture_output=True,
        text=True,
    )
    assert (result.returncode, result.stdout.splitlines()) == (0, ["script ends", "job let go: True"]), result.stderr


SPIN = 30.0  # seconds a test's loop watches for its next job; each test is done long before


def _watching_pool(make_pool: Callable[..., gnotifier.Pool], size: int = 1, real_watch: bool = False) -> gnotifier.Pool:
    from gnotifier import _throttle

    if real_watch and not gnotifier._compiled:
        pytest.skip("the pure-Python build blocks at once: it cannot watch without the GIL")
    if _throttle.usable_cpus() < 2:
        pytest.skip("on one CPU a loop never watches for the next job")
    pool = make_pool(size=size)
    pool._backend._spin = SPIN  # type: ignore[attr-defined]  # this pool's loops only
    return pool


def test_a_loop_watching_for_its_next_job_lets_the_hub_run_and_takes_the_job_when_it_comes(
    make_pool: Callable[..., gnotifier.Pool],
) -> None:
    pool = _watching_pool(make_pool, real_watch=True)
    assert pool.work(lambda: 1).get(timeout=WAIT) == 1
    # The loop, out of jobs, now watches for the next one. It holds no GIL
    # meanwhile: the hub runs a timer, and the next job is taken as it
    # comes, not when the watch ends (SPIN seconds on).
    start = time.monotonic()
    gevent.sleep(0.05)
    assert pool.work(lambda: 2).get(timeout=WAIT) == 2
    assert time.monotonic() - start < SPIN / 3


def test_a_loop_watching_for_its_next_job_exits_at_once_when_its_pool_shuts_down(
    make_pool: Callable[..., gnotifier.Pool],
) -> None:
    pool = _watching_pool(make_pool)
    assert pool.work(lambda: 1).get(timeout=WAIT) == 1
    assert pool.stats()["threads"] == 1
    pool.shutdown(wait=True, timeout=WAIT)
    wait_until(lambda: pool.stats()["threads"] == 0, timeout=SPIN / 3, what="the watching loop to exit")


def test_after_a_watch_in_vain_a_crews_loops_block_at_once_for_a_few_idle_spells(
    make_pool: Callable[..., gnotifier.Pool],
) -> None:
    from gnotifier import _worker

    pool = _watching_pool(make_pool)
    crew = pool._backend  # type: ignore[attr-defined]
    crew._spin = 0.05  # a watch that sees no job ends soon
    assert pool.work(lambda: 1).get(timeout=WAIT) == 1
    # Nothing comes while the loop watches: it blocks, and the next spells skip the watch.
    wait_until(lambda: crew._spin_skips == _worker.SPIN_BACKOFF, timeout=SPIN / 3, what="a watch in vain")
    assert pool.work(lambda: 2).get(timeout=WAIT) == 2
    wait_until(lambda: crew._spin_skips == _worker.SPIN_BACKOFF - 1, timeout=SPIN / 3, what="a skipped watch")


# Tests that count a thread's sleeps through Linux's /proc, on the C loop:
# on the cffi loops, cffi lets go of the GIL around the loop's wake-up of
# the hub, so the loop also sleeps to take it back, and meanwhile the hub
# may submit the next job before the loop watches again.
counts_switches = pytest.mark.skipif(
    not os.path.exists("/proc/self/task") or "corecext" not in gevent.config.loop.__module__,
    reason="counts context switches through Linux's /proc, on the C loop",
)


@counts_switches
def test_a_loop_watching_for_its_next_job_takes_it_without_sleeping_for_the_gil(
    make_pool: Callable[..., gnotifier.Pool],
) -> None:
    pool = _watching_pool(make_pool, real_watch=True)
    tid = pool.work(threading.get_native_id).get(timeout=WAIT)
    # The hub posts each job holding the GIL and lets go of it as it waits
    # for the job. A loop that asked for the GIL as soon as it saw the job
    # would sleep until then, every time: the wake-up its watch was to save.
    before = voluntary_switches(tid)
    trips = 200
    for _ in range(trips):
        assert pool.work(threading.get_native_id).get(timeout=WAIT) == tid
    slept = voluntary_switches(tid) - before
    assert slept < trips // 2, f"the loop slept in {slept} of {trips} round trips"


# Tests that stand in for the watch itself: the compiled build calls its C function directly.
fake_watch = pytest.mark.skipif(gnotifier._compiled, reason="the compiled build calls its C watch directly")


@fake_watch
def test_a_crew_learns_how_long_a_loop_that_saw_its_job_watches_before_it_takes_the_gil(
    make_pool: Callable[..., gnotifier.Pool], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gnotifier import _worker

    pool = _watching_pool(make_pool)
    least, expected, most = _worker.GIL_GRACE
    graces: queue.Queue[float] = queue.Queue()
    answers: queue.Queue[int] = queue.Queue()

    def watch(posted: bytearray, seen: int, seconds: float, grace: float) -> int:
        graces.put(grace)
        return answers.get(timeout=WAIT)

    monkeypatch.setattr(_worker, "_spin_until_posted", watch)
    # Twice as long after the GIL was still held when the job came, a tenth
    # less after it was free; never outside the bounds.
    seen = []
    for answer in [_worker._CAME_GIL_BUSY] * 6 + [_worker._CAME] * 40:
        assert pool.work(lambda: None).get(timeout=WAIT) is None  # the loop then watches
        grace = graces.get(timeout=WAIT)
        assert grace == pytest.approx(expected)
        seen.append(grace)
        answers.put(answer)  # "a job came"; the loop blocks on its queue for it
        expected = min(most, 2 * expected) if answer == _worker._CAME_GIL_BUSY else max(least, 0.9 * expected)
    assert max(seen) == most and min(seen) == least


@counts_switches
def test_a_job_goes_to_the_loop_that_watches_and_wakes_no_loop_that_sleeps(
    make_pool: Callable[..., gnotifier.Pool],
) -> None:
    pool = _watching_pool(make_pool, size=3, real_watch=True)
    together = threading.Barrier(3, timeout=WAIT)

    def meet() -> int:
        together.wait()
        return threading.get_native_id()

    # Three loops, then all three idle: one watches, two sleep on the queue.
    loops = set(gnotifier.Promise.all([pool.work(meet) for _ in range(3)]).get(timeout=WAIT))
    assert len(loops) == 3
    before = {tid: voluntary_switches(tid) for tid in loops}
    trips = 200
    ran = [pool.work(threading.get_native_id).get(timeout=WAIT) for _ in range(trips)]
    watcher = max(loops, key=ran.count)
    # A job put in the queue would wake a sleeping loop, every time.
    woken = sum(voluntary_switches(tid) - before[tid] for tid in loops - {watcher})
    assert ran.count(watcher) > trips * 9 // 10 and woken < trips // 4, (ran.count(watcher), woken)


@fake_watch
def test_a_job_submitted_as_the_loop_stops_watching_goes_in_the_queue_and_runs(
    make_pool: Callable[..., gnotifier.Pool], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gnotifier import _worker

    pool = _watching_pool(make_pool)
    crew = pool._backend  # type: ignore[attr-defined]
    assert pool.work(lambda: 1).get(timeout=WAIT) == 1
    armed, watching, looked, stopped = (threading.Event() for _ in range(4))
    hub = threading.get_ident()

    def watch(posted: bytearray, seen: int, seconds: float, grace: float) -> int:
        watching.set()
        assert looked.wait(WAIT)  # the hub saw us watching...
        return _worker._IN_VAIN  # ...and we stop before it takes the lock

    class Lock:
        # The crew's lock, which holds the hub back from the handoff until
        # the loop has stopped watching: then it must put the job in the queue.
        def __init__(self, lock: Any) -> None:
            self.lock = lock

        def acquire(self, *args: Any) -> bool:
            if threading.get_ident() == hub and armed.is_set() and not looked.is_set():
                looked.set()
                assert stopped.wait(WAIT)
            return bool(self.lock.acquire(*args))

        def release(self) -> None:
            self.lock.release()
            if threading.get_ident() != hub and looked.is_set():
                stopped.set()

        def __enter__(self) -> bool:
            return self.acquire()

        def __exit__(self, *exc_info: object) -> None:
            self.release()

    monkeypatch.setattr(_worker, "_spin_until_posted", watch)
    crew._lock = Lock(crew._lock)
    crew._spin_skips = 0  # the stand-in's watch was in vain; the loop now blocks on the queue
    assert pool.work(lambda: 2).get(timeout=WAIT) == 2  # then watches again, with ``watch``
    assert watching.wait(WAIT)
    armed.set()  # the hub's next look at the lock is the one in work() below
    assert pool.work(lambda: 3).get(timeout=WAIT) == 3
    assert (looked.is_set(), stopped.is_set(), crew._handoff) == (True, True, None)


def test_a_result_reaches_the_hub_while_the_worker_runs_its_next_job() -> None:
    # A loop calls the hub for a result just before it runs its next job, not after that job.
    pool = gnotifier.Pool(1)
    hold, release = threading.Event(), threading.Event()
    first = pool.work(hold.wait, WAIT)  # the one loop runs this; the next two queue behind it
    second = pool.work(int, 5)
    third = pool.work(release.wait, WAIT)  # then this, in the same loop, until the test lets it end
    hold.set()
    try:
        assert first.get(timeout=WAIT) is True
        assert second.get(timeout=WAIT) == 5  # while the loop runs the third
        assert not third.ready()
    finally:
        release.set()
    assert third.get(timeout=WAIT) is True
    pool.shutdown(wait=True, timeout=WAIT)
