"""The shared threadpool's throttle, moved up and down by real load for many rounds.

Each round sends the default pool and a second pool without a size (they
share the hub's threadpool and its throttle) a burst of jobs that compute
(sha256 over 4 MiB: the CPUs get busy, the limit comes down) and a burst of
jobs that wait (2 ms sleeps: the CPUs idle, the limit goes up), and cancels
some of each before they start. Proves: every job that was not cancelled
gives its own value; each pool counts every job once; the limit stays
between one place per CPU and every seat, and comes back to one place per
CPU after it reached every seat; and
once the work is done and the threads idle out, every place is given back
and no loop stays parked.
"""

from __future__ import annotations

import hashlib
import time

import gevent
import pytest
from stress_support import report, wait_in_hub

import gnotifier
from gnotifier._throttle import stolen_seconds
from gnotifier._worker import shared_seats

ROUNDS = 40
CPU_JOBS = 100  # a round's jobs that compute
WAITING_JOBS = 60  # a round's jobs that wait
DATA = bytes(4 << 20)
DEADLINE = 120.0


def compute(i: int) -> tuple[int, bytes]:
    return i, hashlib.sha256(DATA).digest()


def wait(i: int) -> int:
    time.sleep(0.002)
    return i


@pytest.mark.timeout(DEADLINE + 60)
def test_the_throttle_follows_the_load_and_loses_nothing() -> None:
    throttle = shared_seats(gevent.get_hub()).throttle
    assert throttle is not None
    limits: list[int] = []  # each value the limit took, in order

    def watch() -> None:
        while True:
            if not limits or limits[-1] != throttle.limit:
                limits.append(throttle.limit)
            gevent.sleep(0.001)

    watcher = gevent.spawn(watch)
    pools = [gnotifier.default_pool(), gnotifier.Pool(name="second")]
    before = [pool.stats() for pool in pools]  # the default pool may have run jobs before this test
    digest = hashlib.sha256(DATA).digest()
    accepted = [0, 0]
    cancelled = 0
    started = time.monotonic()
    cpu_before, stolen_before = time.process_time(), stolen_seconds()
    try:
        for round_ in range(ROUNDS):
            assert time.monotonic() - started < DEADLINE, f"only {round_} rounds within {DEADLINE} s"
            jobs = [(n % 2, pools[n % 2].work(compute, n), ("cpu", n)) for n in range(CPU_JOBS)]
            jobs += [(n % 2, pools[n % 2].work(wait, n), ("wait", n)) for n in range(WAITING_JOBS)]
            for index, (which, promise, _) in enumerate(jobs):
                accepted[which] += 1
                if index % 17 == 16 and promise.cancel():
                    cancelled += 1
            for _, promise, (kind, n) in jobs:
                if promise.cancelled():
                    continue
                expected = (n, digest) if kind == "cpu" else n
                assert promise.get(timeout=30) == expected, f"round {round_}: wrong value for {kind} job {n}"
    finally:
        watcher.kill()
    elapsed = time.monotonic() - started
    cores = (time.process_time() - cpu_before) / elapsed
    stolen_after = stolen_seconds()
    stolen = None if stolen_after is None or stolen_before is None else (stolen_after - stolen_before) / elapsed
    stats = [{key: value - earlier[key] for key, value in pool.stats().items()} for pool, earlier in zip(pools, before)]
    for which, pool_stats in enumerate(stats):
        assert pool_stats["completed"] + pool_stats["cancelled"] == accepted[which], pool_stats
        assert (pool_stats["pending"], pool_stats["running"], pool_stats["failed"]) == (0, 0, 0), pool_stats
    assert sum(pool_stats["cancelled"] for pool_stats in stats) == cancelled

    def all_given_back() -> bool:
        return sum(pool.stats()["threads"] for pool in pools) == 0

    waited = wait_in_hub(all_given_back, 30.0, "every loop to give its thread back", step=0.01)
    report(
        "throttle",
        rounds=ROUNDS,
        jobs=sum(accepted),
        cancelled=cancelled,
        seconds=elapsed,
        cores=cores,  # the process's CPU time over the rounds, in cores
        stolen_cores=stolen if stolen is not None else "unknown",  # the hypervisor's share (Linux steal)
        floor=throttle.floor,
        ceiling=throttle.ceiling,
        lowest=min(limits),
        highest=max(limits),
        changes=len(limits) - 1,
        idle_after_s=waited,
    )
    assert (min(limits), max(limits)) == (throttle.floor, throttle.ceiling)
    assert throttle.floor in limits[limits.index(throttle.ceiling) :], "the limit never came back down"
    assert (throttle._holding, len(throttle._parked)) == (0, 0)
