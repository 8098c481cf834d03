"""One million ``work()`` jobs in batches of 10,000.

Proves: no job is lost or mixed up (every value comes back to the promise
of its own job, checked one by one and by sum), and a steady stream of jobs
does not leak: resident memory grows by less than 5 MiB from job 100,000
to job 1,000,000 (measured against the lowest of the samples taken every
100,000 jobs, so that memory an earlier test hands back cannot hide a leak).
"""

from __future__ import annotations

import time

import pytest
from stress_support import report, rss_growth_mb, rss_mb

import gnotifier

JOBS = 1_000_000
BATCH = 10_000
WARM_UP = 100_000  # jobs before the RSS baseline
RSS_GROWTH_LIMIT_MB = 5.0
DEADLINE = 150.0


def square(i: int) -> int:
    return i * i


@pytest.mark.timeout(DEADLINE + 30)
def test_a_million_jobs_none_lost_no_leak() -> None:
    started = time.monotonic()
    total = 0
    samples: list[float] = []  # RSS every 100,000 jobs, from job 100,000 on
    for batch_start in range(0, JOBS, BATCH):
        assert time.monotonic() - started < DEADLINE, f"only {batch_start} jobs done within {DEADLINE} s"
        batch = [gnotifier.work(square, i) for i in range(batch_start, batch_start + BATCH)]
        values = gnotifier.Promise.all(batch).get(timeout=60)
        expected = [i * i for i in range(batch_start, batch_start + BATCH)]
        assert values == expected, f"wrong values in the batch starting at {batch_start}"
        total += sum(values)
        del batch, values
        if (batch_start + BATCH) % WARM_UP == 0:
            samples.append(rss_mb())
    elapsed = time.monotonic() - started
    rss_at_warm_up, rss_after = samples[0], rss_mb()
    growth = rss_growth_mb(samples, rss_after)
    report(
        "work",
        jobs=JOBS,
        seconds=elapsed,
        jobs_per_s=JOBS / elapsed,
        rss_at_100k_mb=rss_at_warm_up,
        rss_at_1m_mb=rss_after,
        rss_min_mb=min(samples),
        rss_growth_mb=growth,
    )
    assert total == sum(i * i for i in range(JOBS))
    assert growth < RSS_GROWTH_LIMIT_MB, f"RSS grew {growth:.2f} MiB from job 100k to job 1M"
