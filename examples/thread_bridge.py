"""A library with a thread of its own asks greenlets for answers.

Many C libraries (drivers, SDKs, GUI toolkits) call back from a thread of
their own and want an answer back in that thread. Here a simulated library
thread puts requests on a ``gnotifier.Queue``; greenlets of the hub take
them, do cooperative work, and answer through a ``gnotifier.ThreadsafePromise``
that the library thread blocks on. Neither side touches the other's world
except through these two objects, both safe from any thread::

    python examples/thread_bridge.py          # 5 requests
    python examples/thread_bridge.py 20       # more
"""

from __future__ import annotations

import sys
import threading
from typing import List, Tuple

import gevent

import gnotifier

Request = Tuple[int, "gnotifier.ThreadsafePromise[int]"]


def library_thread(requests: gnotifier.Queue[Request], answers: List[gnotifier.ThreadsafePromise[int]]) -> None:
    """A plain OS thread, as a C library's callback thread would be: no gevent here."""
    for n, answer in enumerate(answers, 1):
        requests.put((n, answer))  # blocks this thread only, when the queue is full
        print(f"library: {n} squared is {answer.result(timeout=5)}", flush=True)  # blocks this thread
    requests.shutdown()


def answer_requests(requests: gnotifier.Queue[Request]) -> None:
    """A greenlet: cooperative work (a sleep here, I/O in real life), then the answer."""
    for n, answer in requests:  # until the library shuts the queue down
        gevent.sleep(0.01)
        answer.set(n * n)


def main(count: int) -> None:
    requests: gnotifier.Queue[Request] = gnotifier.Queue(maxsize=2)
    # Made in the hub's thread, settled by a greenlet, waited on by the library.
    answers: List[gnotifier.ThreadsafePromise[int]] = [gnotifier.ThreadsafePromise() for _ in range(count)]
    workers = [gevent.spawn(answer_requests, requests) for _ in range(2)]
    threading.Thread(target=library_thread, args=(requests, answers), name="library").start()
    gevent.joinall(workers)  # the queue holds the hub open while they wait
    print("hub: the library is done", flush=True)


if __name__ == "__main__":
    gnotifier.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 5)
