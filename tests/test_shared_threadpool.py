"""Pools without a size share the hub's threadpool, leaving one thread for gevent."""

from __future__ import annotations

import threading

import gevent
from helpers import run_in_a_thread_without_a_hub, wait_until

import gnotifier

WAIT = 5.0  # seconds any event of these tests may take


def test_pools_on_the_hub_threadpool_together_leave_one_thread_free() -> None:
    def main() -> tuple[int, list[str]]:
        gevent.get_hub().threadpool.maxsize = 3  # two threads for all pools, one for gevent
        release = threading.Event()
        lock = threading.Lock()
        running = [0, 0]  # now, most at once

        def job() -> None:
            with lock:
                running[0] += 1
                running[1] = max(running)
            release.wait(WAIT)
            with lock:
                running[0] -= 1

        first, second = gnotifier.Pool(), gnotifier.Pool()
        promises = [pool.work(job) for pool in (first, second, first, second)]
        gnotifier.delay(0.2, release.set)  # time for a third job to start, if it could
        gevent.joinall([gevent.spawn(p.get) for p in promises], timeout=WAIT, raise_error=True)
        return running[1], [repr(p.get()) for p in promises]

    most, values = run_in_a_thread_without_a_hub(main, timeout=10)
    assert (most, values) == (2, ["None"] * 4)


def test_a_busy_pool_hands_its_threads_over_to_a_pool_waiting_for_one() -> None:
    # Both of the first pool's threads stay busy for as long as it has jobs;
    # the second pool's one job must still run before the first pool's queue
    # is empty: each job finished is a chance to hand the thread over.
    def main() -> list[str]:
        gevent.get_hub().threadpool.maxsize = 3
        order: list[str] = []
        gates = [threading.Event() for _ in range(6)]
        started = threading.Semaphore(0)

        def busy(index: int) -> None:
            started.release()
            gates[index].wait(WAIT)
            order.append(f"busy-{index}")

        first, second = gnotifier.Pool(), gnotifier.Pool()
        busy_promises = [first.work(busy, index) for index in range(6)]
        wait_until(lambda: started.acquire(blocking=False), what="a first job to start")
        wait_until(lambda: started.acquire(blocking=False), what="a second job to start")
        waiting = second.work(order.append, "second")
        gates[0].set()  # one busy job ends: its thread must go to the waiting pool
        gates[1].set()
        wait_until(lambda: "second" in order, what="the waiting pool's job")
        for gate in gates:
            gate.set()
        gevent.joinall([gevent.spawn(p.get) for p in [*busy_promises, waiting]], timeout=WAIT, raise_error=True)
        return order

    order = run_in_a_thread_without_a_hub(main, timeout=10)
    assert sorted(order) == sorted([f"busy-{i}" for i in range(6)] + ["second"])
