"""Ten million ``call_soon_threadsafe`` calls from eight plain threads.

Proves: every accepted call runs exactly once (none lost, none doubled),
each thread's calls run in the order it made them, and the hub stays
responsive meanwhile (a 10 ms ``interval`` heartbeat is late by less than
50 ms at p99). The producers are plain threads gnotifier did not start,
whose calls do not keep the hub alive by themselves: a ref'd ``Notifier``,
freed once they are done, keeps it waiting (README, "Keeping the hub alive
for another thread").
"""

from __future__ import annotations

import threading
import time

import gevent
import pytest
from stress_support import Heartbeat, join_all, report, wait_in_hub, wait_in_thread

import gnotifier

THREADS = 8
PER_THREAD = 1_250_000  # 8 x 1.25M = 10M calls
TOTAL = THREADS * PER_THREAD
CHUNK = 10_000  # calls between two looks at the backlog
WINDOW = 250_000  # most calls of one thread not yet run (bounds memory, not the test)
DEADLINE = 150.0  # seconds for all calls to run
HEARTBEAT_P99_LIMIT = 0.050


@pytest.mark.timeout(DEADLINE + 30)
def test_ten_million_calls_from_eight_threads_none_lost_in_order() -> None:
    hub = gevent.get_hub()
    gnotifier.call_soon_threadsafe(lambda: None)  # the dispatcher is made here, in the hub's thread
    ran = [0] * THREADS  # calls run per thread
    last = [-1] * THREADS  # the last i seen per thread
    disorder = [0] * THREADS  # calls that did not come right after their predecessor
    errors: list[BaseException] = []
    start_line = threading.Barrier(THREADS + 1)
    stop = threading.Event()  # set if the test fails early, so producers give up

    def record(thread_no: int, i: int) -> None:
        if i != last[thread_no] + 1:
            disorder[thread_no] += 1
        last[thread_no] = i
        ran[thread_no] += 1

    def produce(thread_no: int) -> None:
        call = gnotifier.call_soon_threadsafe
        try:
            start_line.wait(10)
            for chunk_start in range(0, PER_THREAD, CHUNK):
                for i in range(chunk_start, chunk_start + CHUNK):
                    call(record, thread_no, i, hub=hub)
                # Back-pressure so the deque stays bounded; the hub keeps draining.
                sent = chunk_start + CHUNK
                if not wait_in_thread(lambda: stop.is_set() or sent - ran[thread_no] <= WINDOW, DEADLINE):
                    raise AssertionError(f"thread {thread_no}: hub stopped draining at {ran[thread_no]}")
                if stop.is_set():
                    return  # the test has failed already
        except BaseException as exc:
            errors.append(exc)

    keep_alive = gnotifier.Notifier(lambda: None)  # foreign threads' calls do not keep the hub alive; this does
    producers = [threading.Thread(target=produce, args=(n,), name=f"producer-{n}", daemon=True) for n in range(THREADS)]
    try:
        with Heartbeat(0.01) as heartbeat:
            for thread in producers:
                thread.start()
            start_line.wait(10)
            started = time.monotonic()
            wait_in_hub(lambda: sum(ran) >= TOTAL or bool(errors), DEADLINE, "all calls to run", step=0.01)
            elapsed = time.monotonic() - started
    finally:
        stop.set()
        join_all(producers, 10)
        keep_alive.free()
    gevent.sleep(0.05)  # a call arriving after the count would be a duplicate: give it the chance
    total = sum(ran)
    report(
        "calls",
        calls=total,
        seconds=elapsed,
        calls_per_s=total / elapsed,
        out_of_order=sum(disorder),
        **heartbeat.figures(),
    )
    assert errors == []
    assert ran == [PER_THREAD] * THREADS, f"calls run per thread: {ran}"
    assert last == [PER_THREAD - 1] * THREADS
    assert disorder == [0] * THREADS, f"calls out of order per thread: {disorder}"
    assert total == TOTAL
    p99 = heartbeat.figures()["hb_p99_ms"] / 1000
    assert p99 < HEARTBEAT_P99_LIMIT, f"heartbeat p99 lateness {p99 * 1000:.1f} ms >= 50 ms"
