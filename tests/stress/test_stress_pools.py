"""A thousand short-lived ``Pool(size=2)`` pools.

Each round makes a pool, runs one job on it, and shuts it down. Proves:
every job gives its value and is counted once; once their threads have
gone (they exit after ``gnotifier._pool.IDLE_TIMEOUT`` idle seconds at
most), no ``Pool`` stays alive (counted with a ``WeakSet``), no native
thread is left over, and resident memory after the first 100 pools
(warm-up) grows by less than 10 MiB (against the lowest of the samples
taken every 100 pools).
"""

from __future__ import annotations

import gc
import sys
import time
import weakref

import pytest
from stress_support import report, rss_growth_mb, rss_mb, wait_in_hub

import gnotifier
from gnotifier import _pool

POOLS = 1_000
WARM_UP = 100
RSS_GROWTH_LIMIT_MB = 10.0
DEADLINE = 60.0  # for making and using the pools
LINGER = _pool.IDLE_TIMEOUT + 10.0  # for their threads to exit and the pools to go


def triple(i: int) -> int:
    return 3 * i


@pytest.mark.timeout(DEADLINE + LINGER + 30)
def test_a_thousand_pools_come_and_go() -> None:
    alive: weakref.WeakSet[gnotifier.Pool] = weakref.WeakSet()
    threads_before = len(sys._current_frames())
    peak_threads = 0
    samples: list[float] = []  # RSS every 100 pools, from pool 100 on
    started = time.monotonic()
    for n in range(POOLS):
        assert time.monotonic() - started < DEADLINE, f"only {n} pools within {DEADLINE} s"
        pool = gnotifier.Pool(size=2, name=f"stress-{n}")
        alive.add(pool)
        assert pool.work(triple, n).get(timeout=10) == 3 * n
        pool.shutdown(timeout=10)
        stats = pool.stats()
        assert (stats["completed"], stats["failed"], stats["cancelled"], stats["pending"]) == (1, 0, 0, 0), stats
        with pytest.raises(gnotifier.PoolClosed):
            pool.work(triple, n)
        del pool
        if n % 50 == 0:
            peak_threads = max(peak_threads, len(sys._current_frames()) - threads_before)
        if (n + 1) % WARM_UP == 0:
            samples.append(rss_mb())
    made = time.monotonic() - started

    def all_gone() -> bool:
        gc.collect()
        return len(alive) == 0 and len(sys._current_frames()) <= threads_before

    waited = 0.0
    try:
        waited = wait_in_hub(all_gone, LINGER, "the pools and their threads to go", step=0.1)
    finally:
        rss_after = rss_mb()
        growth = rss_growth_mb(samples, rss_after)
        report(
            "pools",
            pools=POOLS,
            seconds=made,
            pools_per_s=POOLS / made,
            peak_extra_threads=peak_threads,
            gone_after_s=waited,
            pools_alive=len(alive),
            extra_threads=len(sys._current_frames()) - threads_before,
            rss_at_100_mb=samples[0] if samples else 0.0,
            rss_min_mb=min(samples, default=0.0),
            rss_after_mb=rss_after,
            rss_growth_mb=growth,
        )
    assert len(alive) == 0
    assert growth < RSS_GROWTH_LIMIT_MB, f"RSS grew {growth:.2f} MiB after the first {WARM_UP} pools"
