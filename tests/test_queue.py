"""Queue: a FIFO between the greenlets of one hub and any other threads."""

from __future__ import annotations

import collections
import queue
import subprocess
import sys
import textwrap
import threading
from typing import Any

import gevent
import pytest
from helpers import DEADLINE, in_foreign_thread, join_thread, start_thread, wait_until

import gnotifier
from gnotifier import Queue, ShutDown


def waiting_threads(q: Queue[Any]) -> int:
    # Test hook: how many other threads are blocked in q, on either side.
    return len(q._thread_getters) + len(q._thread_putters)


# -- order and nothing lost --------------------------------------------------------------------


def test_queue_items_of_several_threads_reach_a_greenlet_each_in_its_order() -> None:
    q: Queue[tuple[int, int]] = Queue()
    producers = [start_thread(lambda p=p: [q.put((p, i)) for i in range(5000)]) for p in range(4)]
    got = [q.get(timeout=DEADLINE) for _ in range(4 * 5000)]
    join_thread(*producers)
    for p in range(4):
        assert [i for (who, i) in got if who == p] == list(range(5000))


def test_queue_items_of_a_greenlet_reach_a_thread_in_order() -> None:
    q: Queue[int] = Queue(maxsize=10)
    got: list[int] = []
    consumer = start_thread(lambda: got.extend(q.get(timeout=DEADLINE) for _ in range(1000)))
    for i in range(1000):
        q.put(i, timeout=DEADLINE)  # waits cooperatively while the queue is full
    wait_until(lambda: len(got) == 1000, what="the thread to take everything")
    join_thread(consumer)
    assert got == list(range(1000))


def test_queue_greenlets_and_threads_on_both_sides() -> None:
    q: Queue[int] = Queue(maxsize=3)
    taken: list[int] = []
    lock = threading.Lock()

    def take(n: int) -> None:
        for _ in range(n):
            item = q.get(timeout=DEADLINE)
            with lock:
                taken.append(item)

    threads = [start_thread(take, 250) for _ in range(2)]
    greenlets = [gevent.spawn(take, 250) for _ in range(2)]
    putters = [start_thread(lambda b=b: [q.put(b + i, timeout=DEADLINE) for i in range(500)]) for b in (0, 1000)]
    gevent.joinall(greenlets, timeout=DEADLINE, raise_error=True)
    join_thread(*threads, *putters)
    assert sorted(taken) == [*range(500), *range(1000, 1500)]


# -- the nowait forms, timeouts and bad input ----------------------------------------------------


def test_queue_nowait_forms_raise_the_stdlib_full_and_empty() -> None:
    q: Queue[int] = Queue(maxsize=1)
    with pytest.raises(queue.Empty):
        q.get_nowait()
    q.put_nowait(1)
    assert (q.qsize(), q.full(), q.empty()) == (1, True, False)
    with pytest.raises(queue.Full):
        q.put_nowait(2)
    assert in_foreign_thread(q.put, 2, True, 0.01) == ("raised", queue.Full)
    assert q.get_nowait() == 1


def test_queue_timeouts_raise_empty_in_a_greenlet_and_in_a_thread() -> None:
    q: Queue[int] = Queue()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.01)
    assert in_foreign_thread(q.get, True, 0.01) == ("raised", queue.Empty)
    assert waiting_threads(q) == 0  # the thread that gave up left the waiters


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: Queue(-1), ValueError),
        (lambda: Queue("3"), TypeError),  # type: ignore[arg-type]
        (lambda: Queue(True), TypeError),  # type: ignore[arg-type]
        (lambda: Queue().get(timeout=-1), ValueError),
        (lambda: Queue().put(1, timeout=float("nan")), ValueError),
    ],
    ids=["negative-maxsize", "str-maxsize", "bool-maxsize", "negative-timeout", "nan-timeout"],
)
def test_queue_bad_input_is_refused_at_the_call(make: Any, error: type) -> None:
    with pytest.raises(error):
        make()


def test_queue_blocking_in_hub_context_is_refused() -> None:
    q: Queue[int] = Queue()
    seen: list[tuple[str, Any]] = []
    gevent.get_hub().loop.run_callback(lambda: seen.append(outcome_of(q.get)))
    wait_until(lambda: bool(seen), what="the hub callback")
    assert seen == [("raised", RuntimeError)]


def outcome_of(fn: Any) -> tuple[str, Any]:
    try:
        return ("returned", fn())
    except BaseException as exc:
        return ("raised", type(exc))


def test_queue_a_put_into_a_bounded_queue_wakes_a_waiting_getter_on_either_side_at_once() -> None:
    q: Queue[int] = Queue(maxsize=10)  # never full here: each put takes the short way
    got: queue.SimpleQueue[int] = queue.SimpleQueue()
    getter = start_thread(lambda: got.put(q.get(timeout=DEADLINE)))
    wait_until(lambda: waiting_threads(q) == 1, what="the thread to wait in get()")
    q.put(1)  # from the hub's thread
    assert got.get(timeout=DEADLINE) == 1  # not later, when the queue fills
    join_thread(getter)
    in_greenlet = gevent.spawn(q.get)
    wait_until(lambda: q._hub_getters == 1, what="the greenlet to wait in get()")
    in_foreign_thread(q.put, 2)
    assert in_greenlet.get(timeout=DEADLINE) == 2


# -- shutdown --------------------------------------------------------------------------------------


@pytest.mark.parametrize("maxsize", [0, 5], ids=["unbounded", "bounded"])
def test_queue_shutdown_refuses_puts_and_drains_before_get_raises(maxsize: int) -> None:
    q: Queue[int] = Queue(maxsize)
    q.put(1)
    q.put(2)
    q.shutdown()
    with pytest.raises(ShutDown):
        q.put(3)
    assert in_foreign_thread(q.put, 4) == ("raised", ShutDown)
    assert list(q) == [1, 2]  # iteration drains, then stops
    with pytest.raises(ShutDown):
        q.get()


def test_queue_shutdown_immediate_drops_the_items() -> None:
    q: Queue[int] = Queue()
    q.put(1)
    q.shutdown(immediate=True)
    assert (q.qsize(), in_foreign_thread(q.get)) == (0, ("raised", ShutDown))


def test_queue_shutdown_wakes_a_thread_blocked_in_put_on_a_full_queue() -> None:
    q: Queue[int] = Queue(maxsize=1)
    q.put(0)
    result: list[tuple[str, Any]] = []
    putter = start_thread(lambda: result.append(outcome_of(lambda: q.put(1))))
    wait_until(lambda: waiting_threads(q) == 1, what="the putter to block")
    in_foreign_thread(q.shutdown)  # the race: shutdown from a third thread while put blocks
    join_thread(putter)
    assert result == [("raised", ShutDown)]
    assert list(q) == [0]


def test_queue_shutdown_wakes_getters_on_both_sides() -> None:
    q: Queue[int] = Queue()
    in_thread: list[tuple[str, Any]] = []
    getter = start_thread(lambda: in_thread.append(outcome_of(q.get)))
    in_greenlet = gevent.spawn(outcome_of, q.get)
    wait_until(lambda: waiting_threads(q) == 1 and q._hub_getters == 1, what="both getters to wait")
    in_foreign_thread(q.shutdown)
    join_thread(getter)
    assert (in_thread, in_greenlet.get(timeout=DEADLINE)) == ([("raised", ShutDown)], ("raised", ShutDown))


def test_queue_shut_down_is_the_stdlib_exception_where_there_is_one() -> None:
    assert (ShutDown is getattr(queue, "ShutDown", ShutDown), issubclass(ShutDown, Exception)) == (True, True)


# -- keeping the hub alive ------------------------------------------------------------------------


def test_queue_greenlet_waiting_in_get_keeps_the_hub_alive_for_a_plain_thread() -> None:
    def main() -> int:
        q: Queue[int] = Queue()

        def put_once_waited_for() -> None:
            for _ in range(5000):
                if q._hub_getters:
                    break
                threading.Event().wait(0.001)
            q.put(11)

        thread = threading.Thread(target=put_once_waited_for)
        thread.start()
        try:
            return q.get()  # without the hold: LoopExit
        finally:
            thread.join(DEADLINE)

    assert gnotifier.run(main) == 11


def test_queue_works_under_patch_all() -> None:
    code = textwrap.dedent(
        """
        from gevent import monkey
        monkey.patch_all()
        import threading, gnotifier
        from gevent.monkey import get_original

        def main():
            to_hub, to_thread = gnotifier.Queue(), gnotifier.Queue(maxsize=2)
            def worker():
                for item in to_thread:
                    to_hub.put(item * 2)
                to_hub.shutdown()
            get_original("_thread", "start_new_thread")(worker, ())
            for i in range(100):
                to_thread.put(i)
            to_thread.shutdown()
            return sum(to_hub)

        print(gnotifier.run(main))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert (out.returncode, out.stdout.strip(), out.stderr) == (0, str(2 * sum(range(100))), "")


class _AppendOnSecondLook(collections.deque):  # type: ignore[type-arg]
    """Items that, on a getter's second look, gain one: a producer's unlocked append landing there."""

    def __init__(self, item: Any) -> None:
        super().__init__()
        self.item, self.looks = item, 0

    def __bool__(self) -> bool:
        self.looks += 1
        if self.looks == 2:  # after the getter enlisted, before its last look
            self.append(self.item)
        return len(self) > 0


def test_queue_item_appended_between_a_getters_enlisting_and_its_last_look_is_taken_at_once() -> None:
    q: Queue[str] = Queue()
    q._items = _AppendOnSecondLook("slipped in")
    got = gevent.spawn(q.get)
    assert got.get(timeout=DEADLINE) == "slipped in"
    assert (q._hub_getters, waiting_threads(q)) == (0, 0)  # it took the item instead of waiting
