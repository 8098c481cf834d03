"""The shared threadpool's throttle: one running job per CPU while the CPUs are busy, more while jobs wait."""

from __future__ import annotations

import functools
import gc
import os
import threading
import time
import weakref
from typing import Any, Iterator

import gevent
import pytest
from helpers import WAIT, run_in_a_thread_without_a_hub, wait_until

import gnotifier
from gnotifier import _native, _throttle, _worker
from gnotifier._throttle import Throttle, job_key


class FakeCPUs:
    """Stands in for the throttle's clocks: the process's CPUs are as busy as ``cores`` says,
    the hypervisor takes ``stolen`` cores' worth of their time, and each loop's thread waits,
    runnable, for a CPU ``waits`` of its time."""

    def __init__(self, cores: float) -> None:
        self.cores = cores
        self.stolen = 0.0
        self.waits = 0.0
        self._delays: dict[int, tuple[float, float]] = {}  # thread ident -> (when told, seconds waited)
        self.script: list[float] = []  # the next samples' cores, one each, before ``cores`` holds again
        self.samples = 0
        self._lock = threading.Lock()
        self._wall = time.monotonic()
        self._cpu = 0.0
        self._steal_wall = self._wall
        self._steal = 0.0

    def steal(self, names: tuple[bytes, ...]) -> float:
        with self._lock:
            now = time.monotonic()
            self._steal += (now - self._steal_wall) * self.stolen
            self._steal_wall = now
            return self._steal

    def delay(self) -> float:
        with self._lock:
            now = time.monotonic()
            told, waited = self._delays.get(threading.get_ident(), (now, 0.0))
            waited += (now - told) * self.waits
            self._delays[threading.get_ident()] = (now, waited)
            return waited

    def __call__(self) -> tuple[float, float]:
        with self._lock:
            if self.script:
                self.cores = self.script.pop(0)
            now = time.monotonic()
            self._cpu += (now - self._wall) * self.cores
            self._wall = now
            self.samples += 1
            return now, self._cpu

    def wait_for_samples(self, count: int) -> None:
        start = self.samples
        wait_until(lambda: self.samples >= start + count, what=f"{count} looks at the CPUs")


@pytest.fixture
def cpus(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCPUs]:
    fake = FakeCPUs(cores=1.0)
    monkeypatch.setattr(_throttle, "_sample", fake)
    monkeypatch.setattr(_throttle, "_steal", fake.steal)
    monkeypatch.setattr(_throttle, "_delay", fake.delay)
    monkeypatch.setattr(_throttle, "_delays", _native.thread_local())  # no tells left from other tests
    monkeypatch.setattr(_throttle, "_STALE", 60.0)  # a slow test thread must not make a look stale
    monkeypatch.setattr(_throttle, "_STEAL_STALE", 60.0)
    yield fake


def enter_in_a_thread(throttle: Throttle, name: str) -> tuple[threading.Thread, threading.Event]:
    placed = threading.Event()

    def enter() -> None:
        throttle.enter()
        placed.set()

    thread = threading.Thread(target=enter, name=name, daemon=True)
    thread.start()
    return thread, placed


def parked(throttle: Throttle) -> int:
    return len(throttle._parked)  # how many loops wait, for the test to sequence them


def waiting(throttle: Throttle) -> float:
    with throttle._lock:
        return throttle._waiting(time.monotonic())  # cores' worth of loops waiting for a CPU, as told


def wait_for_a_look_to_be_due(throttle: Throttle) -> None:
    wait_until(lambda: time.monotonic() - throttle._mark[0] >= _throttle.REVIEW_PERIOD, what="a look to be due")


def test_a_loop_stays_parked_while_the_cpus_are_busy_and_gets_in_once_they_have_room(cpus: FakeCPUs) -> None:
    throttle = Throttle(ceiling=3, cpus=1)
    throttle.enter()  # the one place there is while the CPU is busy
    thread, placed = enter_in_a_thread(throttle, "second")
    wait_until(lambda: parked(throttle) == 1, what="the second loop to park")
    cpus.wait_for_samples(5)  # the parked loop looked, and found the CPU busy, five times
    assert (placed.is_set(), throttle.limit) == (False, 1)
    cpus.cores = 0.0  # the running job now waits (I/O, sleep): the CPU has room
    assert placed.wait(WAIT)
    thread.join(WAIT)
    assert (throttle.limit, parked(throttle)) == (2, 0)


def test_a_loop_over_a_lowered_limit_parks_after_its_job_until_a_place_is_free(cpus: FakeCPUs) -> None:
    throttle = Throttle(ceiling=3, cpus=1)
    throttle.limit = 3  # raised while the jobs waited
    for _ in range(3):
        throttle.enter()
    done = threading.Event()

    def finish_a_job() -> None:
        wait_for_a_look_to_be_due(throttle)
        throttle.after_job()  # the CPU is busy: the limit comes down to 2, and this loop is over it
        done.set()

    thread = threading.Thread(target=finish_a_job, daemon=True)
    thread.start()
    wait_until(lambda: parked(throttle) == 1, what="the loop over the limit to park")
    assert (throttle.limit, done.is_set()) == (2, False)
    throttle.leave()  # another loop exits: its place goes to the parked one
    assert done.wait(WAIT)
    thread.join(WAIT)
    assert (throttle.limit, parked(throttle)) == (2, 0)


def test_parked_loops_get_places_in_the_order_they_parked(cpus: FakeCPUs) -> None:
    throttle = Throttle(ceiling=3, cpus=1)
    throttle.enter()
    first, first_placed = enter_in_a_thread(throttle, "first")
    wait_until(lambda: parked(throttle) == 1, what="the first loop to park")
    second, second_placed = enter_in_a_thread(throttle, "second")
    wait_until(lambda: parked(throttle) == 2, what="the second loop to park")
    throttle.leave()
    assert first_placed.wait(WAIT)
    assert (second_placed.is_set(), parked(throttle)) == (False, 1)
    cpus.wait_for_samples(3)  # the second, now first in line, looks at the CPU in its turn
    assert second_placed.is_set() is False
    throttle.leave()
    assert second_placed.wait(WAIT)
    for thread in (first, second):
        thread.join(WAIT)


def test_the_limit_grows_by_one_while_the_cpus_have_room_and_doubles_while_they_idle(cpus: FakeCPUs) -> None:
    cpus.cores = 4.0
    throttle = Throttle(ceiling=9, cpus=4)
    assert (throttle.floor, throttle.limit) == (4, 4)
    for _ in range(4):
        throttle.enter()
    threads = [enter_in_a_thread(throttle, f"parked-{n}") for n in range(5)]
    wait_until(lambda: parked(throttle) == 5, what="five loops to park")
    cpus.script = [3.0, 3.5]  # one look with a core of room: one place more; then too little to grow
    assert threads[0][1].wait(WAIT)
    cpus.wait_for_samples(5)
    assert (throttle.limit, parked(throttle)) == (5, 4)
    cpus.cores = 0.0  # the running jobs wait: twice the places, up to every seat
    for thread, placed in threads:
        assert placed.wait(WAIT)
        thread.join(WAIT)
    assert throttle.limit == 9
    cpus.cores = 4.0
    for _ in range(6):  # one place fewer a look
        wait_for_a_look_to_be_due(throttle)
        throttle.review()
    assert throttle.limit == 4  # the floor: one place per CPU


def test_a_throttle_never_has_fewer_places_than_one_or_more_than_its_seats() -> None:
    assert (
        Throttle(ceiling=9, cpus=64).floor,
        Throttle(ceiling=2, cpus=64).floor,
        Throttle(ceiling=9, cpus=1).floor,
    ) == (
        9,
        2,
        1,
    )


def running_counter() -> tuple[list[int], Any]:
    lock = threading.Lock()
    running = [0]
    release = threading.Event()

    def job() -> None:
        with lock:
            running[0] += 1
        release.wait(WAIT)
        with lock:
            running[0] -= 1

    return running, (job, release)


def test_the_default_pool_runs_one_job_per_cpu_while_the_cpus_are_busy_and_the_rest_once_they_have_room(
    cpus: FakeCPUs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_worker, "usable_cpus", lambda: 2)
    cpus.cores = 2.0

    def main() -> list[Any]:
        record: list[Any] = []
        running, (job, release) = running_counter()
        pool = gnotifier.default_pool()
        promises = [pool.work(job) for _ in range(6)]
        wait_until(lambda: running[0] == 2, what="two jobs to start")
        cpus.wait_for_samples(5)
        record.append((running[0], pool.stats()["pending"]))
        cpus.cores = 0.0
        wait_until(lambda: running[0] == 6, what="every job to start")
        release.set()
        gevent.joinall([gevent.spawn(p.get) for p in promises], timeout=WAIT, raise_error=True)
        record.append(pool.stats()["completed"])
        return record

    assert run_in_a_thread_without_a_hub(main, timeout=15) == [(2, 4), 6]


def test_queued_jobs_start_while_the_hub_itself_blocks_on_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # The throttle gives places from worker threads: a hub blocked in a
    # native wait on its own jobs does not stop them starting.
    monkeypatch.setattr(_worker, "usable_cpus", lambda: 1)

    def main() -> set[int]:
        barrier = threading.Barrier(5)  # four jobs and the hub
        promises = [gnotifier.work(barrier.wait, WAIT) for _ in range(4)]
        mine = barrier.wait(WAIT)  # blocks the hub's thread; BrokenBarrierError if a job never starts
        return {p.get(timeout=WAIT) for p in promises} | {mine}

    assert run_in_a_thread_without_a_hub(main, timeout=15) == {0, 1, 2, 3, 4}


def test_pools_of_their_own_size_are_not_throttled(cpus: FakeCPUs) -> None:
    cpus.cores = 64.0  # busier than any machine: a throttle would hold one job

    def main() -> int:
        running, (job, release) = running_counter()
        pool = gnotifier.Pool(size=3)
        promises = [pool.work(job) for _ in range(3)]
        wait_until(lambda: running[0] == 3, what="all three jobs to start")
        release.set()
        gevent.joinall([gevent.spawn(p.get) for p in promises], timeout=WAIT, raise_error=True)
        pool.shutdown()
        return running[0]

    assert run_in_a_thread_without_a_hub(main, timeout=15) == 0


class HookedLock:
    """Stands in for a throttle's lock: runs hooks in one thread before and after its n-th use there."""

    def __init__(self, thread_name: str, before: dict[int, Any], after: dict[int, Any]) -> None:
        self._lock = threading.Lock()
        self._thread_name = thread_name
        self._before, self._after = before, after
        self._uses = 0
        self._hooking = False
        self.errors: list[BaseException] = []

    def _hook(self, hooks: dict[int, Any]) -> None:
        if threading.current_thread().name != self._thread_name or self._hooking:
            return
        hook = hooks.pop(self._uses, None)
        if hook is not None:
            self._hooking = True
            try:
                hook()
            except BaseException as exc:
                self.errors.append(exc)
                raise
            finally:
                self._hooking = False

    def __enter__(self) -> None:
        if threading.current_thread().name == self._thread_name and not self._hooking:
            self._uses += 1
        self._hook(self._before)
        self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()
        self._hook(self._after)


def test_a_loop_signalled_before_its_first_wait_is_never_released_twice(cpus: FakeCPUs) -> None:
    # The second parked loop is made first (its lock released) after it
    # parked but before it looked at its state, then given a place before it
    # waits: the second signal must find the first one taken back, not
    # release the lock again (RuntimeError, and a loop lost).
    throttle = Throttle(ceiling=3, cpus=1)
    hooked = HookedLock("second", before={2: throttle.leave}, after={2: throttle.leave})
    throttle._lock = hooked  # type: ignore[assignment]
    throttle.enter()
    first, first_placed = enter_in_a_thread(throttle, "first")
    wait_until(lambda: parked(throttle) == 1, what="the first loop to park")
    second, second_placed = enter_in_a_thread(throttle, "second")
    assert first_placed.wait(WAIT)
    assert second_placed.wait(WAIT), hooked.errors
    for thread in (first, second):
        thread.join(WAIT)
    assert (hooked.errors, parked(throttle)) == ([], 0)


def test_an_idle_loop_gives_its_place_to_a_loop_of_another_pool_parked_for_one(
    cpus: FakeCPUs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first pool's loop gets a short job every 20 ms, so it never idles
    # for its 50 ms idle timeout; the CPU stays busy, so no look lets the
    # second pool's loop in. Only the idle loop's giving its place back does.
    monkeypatch.setattr(_worker, "usable_cpus", lambda: 1)

    def main() -> tuple[bool, float]:
        first, second = gnotifier.Pool(name="trickle"), gnotifier.Pool(name="waiting")
        first.work(int).get(timeout=WAIT)  # its loop now holds the one place, idle between jobs
        stop = gevent.event.Event()

        def trickle() -> None:
            while not stop.wait(0.02):
                first.work(time.sleep, 0.001)

        feeder = gevent.spawn(trickle)
        started = time.monotonic()
        try:
            second.work(int).get(timeout=3)
            return True, time.monotonic() - started
        except gevent.Timeout:
            return False, time.monotonic() - started
        finally:
            stop.set()
            feeder.join(WAIT)

    ran, waited = run_in_a_thread_without_a_hub(main, timeout=15)
    assert ran, f"the second pool's job waited {waited:.2f} s for a place"


def test_a_coarse_cpu_clock_read_over_the_longer_window_keeps_the_limit_near_the_cpus(
    cpus: FakeCPUs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where CPU time moves in ticks of 15.6 ms (Windows), the throttle looks
    # every 50 ms: busy CPUs read as busy, and the limit stays put.
    monkeypatch.setattr(_throttle, "REVIEW_PERIOD", 0.05)
    tick = 0.0156

    def coarse() -> tuple[float, float]:
        now, cpu = cpus()
        return now, (cpu // tick) * tick

    monkeypatch.setattr(_throttle, "_sample", coarse)
    # One busy CPU: a 10 ms window would read no CPU time at all about once
    # in three, and double the limit each time.
    throttle = Throttle(ceiling=40, cpus=1)
    throttle.enter()
    threads = [enter_in_a_thread(throttle, f"parked-{n}") for n in range(8)]
    wait_until(lambda: parked(throttle) == 8, what="eight loops to park")
    cpus.wait_for_samples(10)
    assert (throttle._holding, parked(throttle)) == (1, 8)  # nobody was let in
    cpus.cores = 0.0
    for thread, placed in threads:
        assert placed.wait(WAIT)
        thread.join(WAIT)


def test_a_parked_loop_interrupted_by_an_exception_leaves_the_line_holding_a_place(cpus: FakeCPUs) -> None:
    throttle = Throttle(ceiling=3, cpus=1)
    throttle.enter()
    errors: list[BaseException] = []
    placed_or_failed = threading.Event()

    class Interrupted(Exception):
        pass

    def enter() -> None:
        try:
            throttle.enter()
        except Interrupted as exc:
            errors.append(exc)
        placed_or_failed.set()

    second, second_placed = enter_in_a_thread(throttle, "second")
    wait_until(lambda: parked(throttle) == 1, what="the second loop to park")
    thread = threading.Thread(target=enter, name="interrupted", daemon=True)
    thread.start()  # the CPU stays busy: no look lets anyone in
    wait_until(lambda: parked(throttle) == 2, what="the interrupted loop to park")
    waiter = throttle._parked[1]
    with throttle._lock:  # wake it, and its next wait raises, as an async exception would
        waiting_on, waiter.lock = waiter.lock, RaisingLock(Interrupted)  # type: ignore[assignment]
        waiter.signalled = True
        waiting_on.release()
    assert placed_or_failed.wait(WAIT)
    thread.join(WAIT)
    assert (len(errors), throttle._holding, parked(throttle)) == (1, 2, 1)
    throttle.leave()  # the interrupted loop's leave(), as its caller makes it
    throttle.leave()  # and the first's: the second gets in
    assert second_placed.wait(WAIT)
    second.join(WAIT)
    assert (throttle._holding, parked(throttle)) == (1, 0)


class RaisingLock:
    """A parked loop's lock whose every acquire raises, as an async exception in its wait would."""

    def __init__(self, error: type[BaseException]) -> None:
        self._error = error

    def acquire(self, *args: object) -> bool:
        raise self._error("interrupted while parked")

    def release(self) -> None:
        pass


@pytest.mark.parametrize(
    ("v2", "v1", "quota"),
    [
        ("250000 100000\n", None, 2.5),
        ("max 100000\n", None, None),
        (None, ("150000\n", "100000\n"), 1.5),
        (None, ("-1\n", "100000\n"), None),
        (None, None, None),
        ("garbage\n", None, None),
    ],
    ids=["v2-quota", "v2-max", "v1-quota", "v1-none", "no-cgroup", "v2-unreadable"],
)
def test_a_containers_cpu_quota_is_read_from_its_cgroup(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, v2: str | None, v1: tuple[str, str] | None, quota: float | None
) -> None:
    v2_path, v1_paths = tmp_path / "cpu.max", (tmp_path / "cfs_quota_us", tmp_path / "cfs_period_us")
    if v2 is not None:
        v2_path.write_text(v2)
    if v1 is not None:
        for path, text in zip(v1_paths, v1):
            path.write_text(text)
    monkeypatch.setattr(_throttle, "CGROUP_CPU_MAX", str(v2_path))
    monkeypatch.setattr(_throttle, "CGROUP_V1_QUOTA", tuple(str(path) for path in v1_paths))
    assert _throttle.cgroup_cpu_quota() == quota


def test_usable_cpus_keeps_within_a_containers_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_throttle, "cgroup_cpu_quota", lambda: None)
    visible = _throttle.usable_cpus()
    monkeypatch.setattr(_throttle, "cgroup_cpu_quota", lambda: 0.4)  # 40 ms of CPU every 100 ms
    assert _throttle.usable_cpus() == 0.4
    monkeypatch.setattr(_throttle, "cgroup_cpu_quota", lambda: visible + 8.0)  # a quota above the CPUs there are
    assert _throttle.usable_cpus() == visible


def test_on_a_virtual_machine_the_time_its_host_steals_counts_as_busy(
    cpus: FakeCPUs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The host runs other machines on these cores: the process gets 1.4 of
    # its 2, and the jobs that want the rest only queue for them.
    monkeypatch.setattr(_throttle, "STEAL_PERIOD", _throttle.REVIEW_PERIOD)  # every look reads the stolen time
    cpus.cores, cpus.stolen = 1.4, 0.6
    throttle = Throttle(ceiling=9, cpus=2)
    for _ in range(2):
        throttle.enter()
    thread, placed = enter_in_a_thread(throttle, "parked")
    wait_until(lambda: parked(throttle) == 1, what="a third loop to park")
    cpus.wait_for_samples(5)
    assert (placed.is_set(), throttle.limit) == (False, 2)  # no room: nobody more comes in
    throttle.limit = 5  # as if raised while the jobs waited; the parked loop takes a place
    throttle.leave()  # (the parked loop holds it now: two places taken of five)
    assert placed.wait(WAIT)
    thread.join(WAIT)
    for _ in range(4):  # one place fewer a look, down to one per CPU
        wait_for_a_look_to_be_due(throttle)
        throttle.review()
    assert throttle.limit == 2
    cpus.cores = 0.1  # the jobs wait now: the process all but idles, whatever the host takes
    thread, placed = enter_in_a_thread(throttle, "welcome")
    assert placed.wait(WAIT)
    thread.join(WAIT)
    assert throttle.limit == 4  # twice the places at once


def test_a_loop_that_parks_after_its_job_calls_before_parking_first(cpus: FakeCPUs) -> None:
    throttle = Throttle(ceiling=3, cpus=1)
    throttle.limit = 2
    for _ in range(2):
        throttle.enter()
    throttle.limit = 1  # brought down while both ran: the next loop done parks
    calls: list[int] = []  # how many loops were parked when before_parking() was called
    done = threading.Event()

    def finish_a_job() -> None:
        throttle.after_job(before_parking=lambda: calls.append(parked(throttle)))
        done.set()

    thread = threading.Thread(target=finish_a_job, daemon=True)
    thread.start()
    wait_until(lambda: parked(throttle) == 1, what="the loop over the limit to park")
    assert (calls, done.is_set()) == ([0], False)  # called once, before it parked
    throttle.leave()
    assert done.wait(WAIT)
    thread.join(WAIT)
    throttle.after_job(before_parking=lambda: calls.append(-1))  # within the limit: no parking, no call
    assert calls == [0]


def test_loops_that_wait_for_a_cpu_count_as_busy(cpus: FakeCPUs, monkeypatch: pytest.MonkeyPatch) -> None:
    # Another process (gunicorn's other worker) keeps the two cores half
    # busy: this one's two computing loops get a core between them, and
    # each waits for a CPU half its time. Its own CPU time leaves a core
    # of room that is not there.
    monkeypatch.setattr(_throttle, "STEAL_PERIOD", _throttle.REVIEW_PERIOD)  # loops tell, and looks read, every period
    cpus.cores, cpus.waits = 1.0, 0.5
    throttle = Throttle(ceiling=9, cpus=2)
    stop = threading.Event()

    def compute() -> None:
        throttle.enter()
        while not stop.is_set():
            throttle.after_job()  # a job done: the loop tells how long it waited
            time.sleep(0.002)
        throttle.leave()

    loops = [threading.Thread(target=compute, name=f"computing-{n}", daemon=True) for n in range(2)]
    for loop in loops:
        loop.start()
    wait_until(lambda: throttle._holding == 2, what="two loops to take the two places")
    wait_until(lambda: waiting(throttle) >= 0.9, what="the loops to tell how long they wait")
    thread, placed = enter_in_a_thread(throttle, "parked")
    try:
        wait_until(lambda: parked(throttle) == 1, what="a third loop to park")
        cpus.wait_for_samples(10)
        assert (placed.is_set(), throttle.limit) == (False, 2)  # no room: nobody more comes in
        cpus.waits = 0.0  # the other process is gone: the core of room is there now
        assert placed.wait(WAIT)
        thread.join(WAIT)
        assert throttle.limit == 3
    finally:
        stop.set()
        for loop in loops:
            loop.join(WAIT)
    throttle.leave()  # the third loop's place


def test_loops_that_stop_telling_soon_stop_counting_as_waiting(cpus: FakeCPUs, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two loops told that they waited for a CPU nearly all the time; then
    # their jobs block in long calls, and they tell nothing more. Once their
    # tells are stale, the CPUs' room shows again.
    monkeypatch.setattr(_throttle, "STEAL_PERIOD", _throttle.REVIEW_PERIOD)
    cpus.cores, cpus.waits = 0.1, 0.95
    throttle = Throttle(ceiling=9, cpus=2)
    blocked, release = threading.Event(), threading.Event()

    def compute_then_block() -> None:
        throttle.enter()
        while not blocked.is_set():
            throttle.after_job()
            time.sleep(0.002)
        release.wait(3 * WAIT)  # the long call: no job ends, so nothing is told
        throttle.leave()

    loops = [threading.Thread(target=compute_then_block, name=f"blocking-{n}", daemon=True) for n in range(2)]
    for loop in loops:
        loop.start()
    try:
        wait_until(lambda: waiting(throttle) >= 1.8, what="the loops to tell how long they wait")
        blocked.set()
        thread, placed = enter_in_a_thread(throttle, "parked")
        wait_until(lambda: parked(throttle) == 1, what="a third loop to park")
        cpus.wait_for_samples(5)
        assert placed.is_set() is False  # the tells are fresh: no room
        monkeypatch.setattr(_throttle, "_STEAL_STALE", 0.0)  # now they are stale
        assert placed.wait(WAIT)
        thread.join(WAIT)
        assert (throttle.limit, throttle._holding) == (4, 3)  # room, twice the places: not a place given back
    finally:
        blocked.set()
        release.set()
        for loop in loops:
            loop.join(WAIT)
    throttle.leave()  # the third loop's place


def test_a_threads_run_delay_is_read_from_proc(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    schedstat = tmp_path / "schedstat"
    schedstat.write_text("1815693 4500000000 7\n")  # ns on a CPU, ns waiting for one, time slices
    monkeypatch.setattr(_throttle, "THREAD_SCHEDSTAT", str(schedstat))
    assert _throttle.run_delay() == 4.5
    schedstat.write_text("1815693\n")  # not what Linux writes
    assert _throttle.run_delay() is None
    monkeypatch.setattr(_throttle, "THREAD_SCHEDSTAT", str(tmp_path / "missing"))  # not Linux
    assert _throttle.run_delay() is None


@pytest.mark.skipif(not os.path.exists("/proc/thread-self/schedstat"), reason="Linux counts run delays there")
def test_linux_counts_this_threads_run_delay() -> None:
    first = _throttle.run_delay()
    assert first is not None and first >= 0.0
    assert (_throttle.run_delay() or 0.0) >= first


def test_under_a_quota_of_half_a_core_the_limit_still_follows_the_load(cpus: FakeCPUs) -> None:
    throttle = Throttle(ceiling=4, cpus=0.5)  # 50 ms of CPU every 100 ms
    assert throttle.floor == 1
    cpus.cores = 0.45  # the job uses all the quota allows: busy
    throttle.enter()
    thread, placed = enter_in_a_thread(throttle, "parked")
    wait_until(lambda: parked(throttle) == 1, what="a second loop to park")
    cpus.wait_for_samples(5)
    assert placed.is_set() is False
    cpus.cores = 0.1  # the job waits on I/O: the quota has room
    assert placed.wait(WAIT)
    thread.join(WAIT)


def test_the_stolen_time_is_read_from_proc_stat(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stat = tmp_path / "stat"
    stat.write_text(
        "cpu  100 0 50 9000 3 0 1 250 0 0\n"
        "cpu0 50 0 25 4500 1 0 1 100 0 0\n"
        "cpu1 50 0 25 4500 2 0 0 150 0 0\n"
        "intr 12345 0 0\n"
    )
    monkeypatch.setattr(_throttle, "PROC_STAT", str(stat))
    monkeypatch.setattr(_throttle, "CLOCK_TICKS", 100.0)
    assert _throttle.stolen_seconds() == 2.5  # every CPU
    assert _throttle.stolen_seconds((b"cpu1",)) == 1.5  # the CPUs the process may run on
    assert _throttle.stolen_seconds((b"cpu0", b"cpu7")) is None  # a CPU it does not list
    stat.write_text("cpu  100 0 50 9000\n")  # a kernel too old to count stolen time
    assert _throttle.stolen_seconds() is None
    monkeypatch.setattr(_throttle, "PROC_STAT", str(tmp_path / "missing"))  # not Linux
    assert _throttle.stolen_seconds() is None
    assert Throttle(ceiling=4, cpus=2)._steal_mark is None  # such a throttle never looks again


# -- after a job that waited, the next job may compute -------------------------


class JobClock:
    """Stands in for the clocks a loop reads around its jobs: wall time and its thread's CPU time."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __call__(self) -> tuple[float, float]:
        return self.wall, self.cpu

    def job(self, throttle: Throttle, fn: Any, seconds: float, computing: float) -> Any:
        """A job of ``fn`` that ran ``seconds`` and kept a CPU busy ``computing`` of them."""
        started = throttle.job_starts(fn)
        self.wall += seconds
        self.cpu += seconds * computing
        return started


@pytest.fixture
def job_clock(monkeypatch: pytest.MonkeyPatch) -> JobClock:
    clock = JobClock()
    monkeypatch.setattr(_throttle, "_job_clock", clock)
    return clock


class Queued:
    """A job in a crew's queue, as the throttle sees it."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn


def hashing() -> None:
    """A job that computes."""


def sleeping() -> None:
    """A job that waits."""


def throttle_with_room(cpus: FakeCPUs, room: float, holding: int, monkeypatch: pytest.MonkeyPatch) -> Throttle:
    """Two CPUs with ``room`` cores free at the last look, and ``holding`` loops placed under a raised limit.

    No look follows: what the loops find is what that one found.
    """
    throttle = Throttle(ceiling=9, cpus=2)
    throttle.limit = 9  # raised while the jobs waited
    for _ in range(holding):
        throttle.enter()
    cpus.cores = 2.0 - room
    wait_for_a_look_to_be_due(throttle)
    throttle.review()
    assert throttle.room == pytest.approx(room, abs=0.05)
    monkeypatch.setattr(_throttle, "REVIEW_PERIOD", 3600.0)
    return throttle


def after_job_in_a_thread(throttle: Throttle, started: Any, queued: list[Queued]) -> threading.Event:
    done = threading.Event()

    def after() -> None:
        throttle.after_job(started, queued)
        done.set()

    threading.Thread(target=after, daemon=True).start()
    return done


def test_a_job_that_waited_makes_way_for_a_queued_job_that_computes_when_the_cpus_have_no_room(
    cpus: FakeCPUs, job_clock: JobClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    throttle = throttle_with_room(cpus, room=0.4, holding=4, monkeypatch=monkeypatch)
    throttle.after_job(job_clock.job(throttle, hashing, 0.05, computing=1.0))  # learns: hashing computes
    done = after_job_in_a_thread(throttle, job_clock.job(throttle, sleeping, 0.2, computing=0.0), [Queued(hashing)])
    wait_until(lambda: parked(throttle) == 1, what="the loop whose job waited to park")
    assert (done.is_set(), throttle.limit) == (False, 3)  # the limit came down with its place
    throttle.leave()  # a loop exits: its place goes to the parked one
    assert done.wait(WAIT)
    assert parked(throttle) == 0


def test_loops_whose_jobs_waited_start_as_many_computing_jobs_as_the_cpus_have_room_for(
    cpus: FakeCPUs, job_clock: JobClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    throttle = throttle_with_room(cpus, room=1.4, holding=4, monkeypatch=monkeypatch)
    throttle.after_job(job_clock.job(throttle, hashing, 0.05, computing=1.0))
    sleeps = [job_clock.job(throttle, sleeping, 0.2, computing=0.01) for _ in range(3)]
    throttle.after_job(sleeps[0], [Queued(hashing)])  # room for one: it goes on
    assert (parked(throttle), throttle.limit) == (0, 9)
    done = after_job_in_a_thread(throttle, sleeps[1], [Queued(hashing)])  # the room is taken
    wait_until(lambda: parked(throttle) == 1, what="the second loop to park")
    assert (done.is_set(), throttle.limit) == (False, 3)
    throttle.leave()  # a loop exits: its place goes to the parked one
    assert done.wait(WAIT)


def test_a_loop_whose_job_waited_goes_on_to_a_job_that_waits_or_that_nobody_knows(
    cpus: FakeCPUs, job_clock: JobClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    throttle = throttle_with_room(cpus, room=0.4, holding=4, monkeypatch=monkeypatch)
    throttle.after_job(job_clock.job(throttle, sleeping, 0.2, computing=0.0))  # learns: sleeping waits
    throttle.after_job(job_clock.job(throttle, sleeping, 0.2, computing=0.0), [Queued(sleeping)])
    unknown = functools.partial(hashing)  # a partial is not known by its function
    throttle.after_job(job_clock.job(throttle, sleeping, 0.2, computing=0.0), [Queued(unknown)])
    throttle.after_job(job_clock.job(throttle, sleeping, 0.2, computing=0.0), [])
    assert (parked(throttle), throttle.limit, throttle._holding) == (0, 9, 4)


def test_a_loop_whose_job_computed_or_that_is_within_the_floor_goes_on_to_a_job_that_computes(
    cpus: FakeCPUs, job_clock: JobClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    throttle = throttle_with_room(cpus, room=0.4, holding=3, monkeypatch=monkeypatch)
    throttle.after_job(job_clock.job(throttle, hashing, 0.05, computing=1.0), [Queued(hashing)])  # it replaces itself
    assert (parked(throttle), throttle._holding) == (0, 3)
    throttle.leave()  # two loops left: within one place per CPU
    throttle.after_job(job_clock.job(throttle, sleeping, 0.2, computing=0.0), [Queued(hashing)])
    assert (parked(throttle), throttle._holding) == (0, 2)


def test_a_job_too_short_to_time_teaches_nothing_and_counts_as_no_wait(
    cpus: FakeCPUs, job_clock: JobClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    throttle = throttle_with_room(cpus, room=0.4, holding=4, monkeypatch=monkeypatch)
    throttle.after_job(job_clock.job(throttle, hashing, 0.05, computing=1.0))
    throttle.after_job(job_clock.job(throttle, sleeping, 0.0005, computing=0.0), [Queued(hashing)])
    assert (parked(throttle), throttle._holding) == (0, 4)
    assert job_key(sleeping) not in throttle._shares


def test_the_throttle_knows_functions_by_their_code_and_keeps_no_data_of_theirs_alive() -> None:
    class Data:
        def method(self) -> None:
            """A job that is a bound method."""

    data = Data()
    alive = weakref.ref(data)
    assert job_key(data.method) is Data.method.__code__
    closure = (lambda held: lambda: held)(data)
    key = job_key(closure)
    assert key is closure.__code__
    assert job_key(time.sleep) == ("time", "sleep")
    assert job_key(functools.partial(hashing)) is None
    assert job_key(Queued(hashing)) is None  # any other callable, or not one
    del data, closure
    gc.collect()
    assert alive() is None  # the keys hold code and names only


def test_the_functions_the_throttle_remembers_are_bounded(cpus: FakeCPUs, job_clock: JobClock) -> None:
    throttle = Throttle(ceiling=9, cpus=2)
    throttle.enter()
    made = []
    for n in range(_throttle._SHARES + 10):  # functions made on the fly, each with code of its own
        namespace: dict[str, Any] = {}
        exec(f"def job_{n}(): pass", namespace)
        made.append(namespace[f"job_{n}"])
        throttle.after_job(job_clock.job(throttle, made[-1], 0.01, computing=1.0))
    assert 0 < len(throttle._shares) <= _throttle._SHARES
    assert job_key(made[-1]) in throttle._shares


def test_the_default_pools_loops_teach_the_throttle_what_each_function_does() -> None:
    def napping() -> None:
        time.sleep(0.02)

    def main() -> Any:
        gnotifier.default_pool().work(napping).get(timeout=WAIT)
        seats = _worker.shared_seats(gevent.get_hub())
        return seats.throttle._shares.get(job_key(napping))  # type: ignore[union-attr]

    share = run_in_a_thread_without_a_hub(main, timeout=15)
    assert share is not None and share < _throttle.COMPUTES
