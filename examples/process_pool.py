"""Keep the hub responsive while pure-Python CPU work runs elsewhere.

A heartbeat in the hub ticks every 5 ms, as a server's accept loop would,
and records how late each tick is. Eight pure-Python CPU jobs (they hold
the GIL) run first on threads, then on a process pool; the worst lag of
each run is printed. On threads the hub waits for the GIL; in processes,
which gnotifier's executor starts at a lower priority so that they leave a
core to the hub whenever it wakes, it barely notices.

    python examples/process_pool.py [loops-per-job]
"""

from __future__ import annotations

import sys
import time

import gnotifier

TICK = 0.005  # seconds between heartbeats
JOBS = 8


def spin(loops: int) -> int:
    """Pure-Python CPU work: holds the GIL all along."""
    total = 0
    for i in range(loops):
        total += i * i % 7
    return total


def worst_lag(pool: gnotifier.Pool, loops: int) -> float:
    """Run the jobs on ``pool``; return the heartbeat's worst lag in seconds."""
    lags: list[float] = []
    due = [time.perf_counter() + TICK]

    def beat() -> None:
        now = time.perf_counter()
        lags.append(max(0.0, now - due[0]))
        due[0] = now + TICK

    heartbeat = gnotifier.interval(TICK, beat)
    try:
        pool.map(spin, [loops] * JOBS).get()
    finally:
        heartbeat.cancel()
    return max(lags, default=0.0)


def main(loops: int) -> None:
    threads = gnotifier.Pool(size=2, name="spin")
    print(f"threads:   worst heartbeat lag {worst_lag(threads, loops) * 1000:.1f} ms")
    threads.shutdown()
    with gnotifier.ProcessPoolExecutor(2) as executor:  # workers run below the hub's priority
        processes = gnotifier.Pool(executor=executor)
        print(f"processes: worst heartbeat lag {worst_lag(processes, loops) * 1000:.1f} ms")
        processes.shutdown()


if __name__ == "__main__":
    gnotifier.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 3_000_000)
