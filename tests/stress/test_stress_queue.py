"""Four plain threads put a million items each into a Queue; two greenlets take them.

Proves: nothing put is lost or doubled, each producer's items come out in
the order it put them, and the queue's keep-alive holds the hub open while
the consumers wait (no ``LoopExit`` although the producers are threads
gevent does not know). Bounded: 4M items, at most DEADLINE seconds.
"""

from __future__ import annotations

import threading
import time

import gevent
import pytest
from stress_support import report

import gnotifier

PRODUCERS = 4
PER_PRODUCER = 1_000_000
CONSUMERS = 2
DEADLINE = 120.0  # seconds for every item to arrive


@pytest.mark.timeout(DEADLINE + 30)
def test_four_million_items_from_four_threads_into_two_greenlets_none_lost_in_order() -> None:
    q: gnotifier.Queue[tuple[int, int]] = gnotifier.Queue(maxsize=100_000)
    start_line = threading.Barrier(PRODUCERS)

    def produce(who: int) -> None:
        start_line.wait(DEADLINE)
        for i in range(PER_PRODUCER):
            q.put((who, i))

    def consume() -> tuple[int, list[int]]:
        count, last, disorder = 0, [-1] * PRODUCERS, [0] * PRODUCERS
        for who, i in q:
            count += 1
            if i <= last[who]:
                disorder[who] += 1
            last[who] = i
        return count, disorder

    def main() -> list[tuple[int, list[int]]]:
        consumers = [gevent.spawn(consume) for _ in range(CONSUMERS)]
        producers = [threading.Thread(target=produce, args=(who,)) for who in range(PRODUCERS)]
        for thread in producers:
            thread.start()
        for thread in producers:  # in a plain thread: the hub goes on serving the consumers
            gnotifier.work(thread.join, DEADLINE).get()
        q.shutdown()  # consumers drain what is left, then stop
        return [consumer.get(timeout=DEADLINE) for consumer in consumers]

    started = time.monotonic()
    results = gnotifier.run(main)
    total = sum(count for count, _ in results)
    # Two consumers share the items: each sees a producer's items in order.
    assert (total, [d for _, disorder in results for d in disorder]) == (
        PRODUCERS * PER_PRODUCER,
        [0] * PRODUCERS * CONSUMERS,
    )
    report("queue", items=total, producers=PRODUCERS, consumers=CONSUMERS, seconds=time.monotonic() - started)
