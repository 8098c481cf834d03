"""gnotifier under gevent.monkey.patch_all(): work() and pools, start_thread and call_in_hub, notifiers, run().

Each case runs in a fresh interpreter that patches first thing, so patching
never leaks into the other tests. The environment is passed through, so
GEVENT_LOOP picks the child's loop. The child prints one JSON line of what
it recorded; the parent asserts on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

PRELUDE = """\
from gevent import monkey
monkey.patch_all()

import json
import time

import gevent
import gevent.util
import gnotifier

native_ident = monkey.get_original("_thread", "get_ident")
native_sleep = monkey.get_original("time", "sleep")
allocate_lock = monkey.get_original("_thread", "allocate_lock")
MAIN = native_ident()


def _watchdog():
    # A child that hangs prints where its threads and greenlets wait,
    # before the parent's timeout kills it without a word.
    never = allocate_lock()
    never.acquire()
    never.acquire(True, WATCHDOG_SECONDS)
    import faulthandler, os, sys
    try:
        gevent.util.print_run_info(file=sys.stderr)
    except BaseException as exc:
        print("print_run_info failed:", repr(exc), file=sys.stderr)
    faulthandler.dump_traceback(all_threads=True)
    os._exit(70)


monkey.get_original("_thread", "start_new_thread")(_watchdog, ())


def emit(**result):
    result["loop"] = type(gevent.get_hub().loop).__module__
    result["patched"] = monkey.is_module_patched("threading") and monkey.is_module_patched("time")
    print(json.dumps(result))
"""

# The loop module GEVENT_LOOP selects (gevent's default is the C libev loop).
LOOPS = {
    None: "gevent.libev.corecext",
    "libev-cext": "gevent.libev.corecext",
    "libev-cffi": "gevent.libev.corecffi",
    "libuv": "gevent.libuv.loop",
    "libuv-cffi": "gevent.libuv.loop",
}


# A child still running after this long dumps its stacks and exits (70).
WATCHDOG_SECONDS = 40


def run_child(code: str) -> dict[str, Any]:
    """Run PRELUDE + ``code`` in a new interpreter; return what it emitted."""
    source = PRELUDE.replace("WATCHDOG_SECONDS", str(WATCHDOG_SECONDS)) + "\n" + textwrap.dedent(code)
    result = subprocess.run(
        [sys.executable, "-u", "-c", source],  # unbuffered: a hang shows how far the child got
        timeout=WATCHDOG_SECONDS + 20,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert (result.returncode, result.stderr) == (0, ""), f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    emitted: dict[str, Any] = json.loads(lines[0])
    patched, loop = emitted.pop("patched"), emitted.pop("loop")
    # The child runs the loop GEVENT_LOOP names (any loop for other values).
    expected_loop = LOOPS.get(os.environ.get("GEVENT_LOOP"), loop)
    assert (patched, loop) == (True, expected_loop)
    return emitted


@pytest.mark.parametrize("pool", ["work", "own-threads"])
def test_monkey_work_runs_on_a_real_thread(pool: str) -> None:
    # The job blocks on a native lock that a greenlet releases: were the job a
    # greenlet of the hub's thread, it would block the hub and time out.
    out = run_child(
        f"""
        pool = gnotifier.Pool(size=2) if {pool!r} == "own-threads" else gnotifier.default_pool()
        record = []
        lock = allocate_lock()
        lock.acquire()

        def job():
            record.append("job waits")
            acquired = lock.acquire(True, 10)
            record.append(["job acquired", acquired])
            return native_ident()

        def releaser():
            while record != ["job waits"]:
                gevent.sleep(0.001)
            record.append("greenlet releases")
            lock.release()

        promise = pool.work(job)
        helper = gevent.spawn(releaser)
        job_thread = promise.get(timeout=20)
        helper.join(timeout=10)
        if {pool!r} == "own-threads":
            pool.shutdown()
        emit(record=record, job_is_main=job_thread == MAIN, hub_is_main=gevent.get_hub().thread_ident == MAIN)
        """
    )
    assert out == {
        "record": ["job waits", "greenlet releases", ["job acquired", True]],
        "job_is_main": False,
        "hub_is_main": True,
    }


def test_monkey_work_get_from_several_greenlets_at_once() -> None:
    # Five jobs meet at a native rendezvous, so they all run at once on five
    # threads, while five greenlets wait for their own promise and three more
    # share one.
    out = run_child(
        """
        N = 5
        lock = allocate_lock()
        arrived = [0]
        order = []

        def job(i):
            with lock:
                arrived[0] += 1
            deadline = time.monotonic() + 10
            while arrived[0] < N and time.monotonic() < deadline:
                native_sleep(0.001)
            return [i, arrived[0] == N, native_ident()]

        def waiter(i):
            value = gnotifier.work(job, i).get()
            order.append(i)
            return value

        greenlets = [gevent.spawn(waiter, i) for i in range(N)]
        gevent.joinall(greenlets, timeout=20, raise_error=True)
        values = [g.value for g in greenlets]
        shared = gnotifier.work(lambda: "shared")
        sharers = [gevent.spawn(shared.get) for _ in range(3)]
        gevent.joinall(sharers, timeout=20, raise_error=True)
        emit(
            results=[value[:2] for value in values],
            threads=len({value[2] for value in values}),
            main_ran_a_job=MAIN in {value[2] for value in values},
            all_waiters_done=sorted(order),
            shared=[g.value for g in sharers],
        )
        """
    )
    assert out == {
        "results": [[i, True] for i in range(5)],
        "threads": 5,
        "main_ran_a_job": False,
        "all_waiters_done": [0, 1, 2, 3, 4],
        "shared": ["shared"] * 3,
    }


def test_monkey_work_rejects_with_the_very_exception() -> None:
    out = run_child(
        """
        class Interrupt(BaseException):
            pass

        raised = []

        def job(error):
            raised.append(error)
            raise error

        record = []
        for error in (ValueError("boom"), Interrupt("stop")):
            try:
                gnotifier.work(job, error).get(timeout=10)
            except BaseException as exc:
                record.append([type(exc).__name__, exc is raised[-1]])
        record.append(gnotifier.work(lambda: "still works").get(timeout=10))
        emit(record=record)
        """
    )
    assert out == {"record": [["ValueError", True], ["Interrupt", True], "still works"]}


def test_monkey_start_thread_is_real_and_call_in_hub_works() -> None:
    out = run_child(
        """
        record = []

        def in_hub():
            return ["hub", native_ident() == MAIN, gevent.getcurrent() is not gevent.get_hub()]

        def fails_in_hub():
            raise LookupError("from the hub")

        def in_thread():
            record.append(["thread", native_ident() != MAIN])
            record.append(gnotifier.call_in_hub(in_hub))
            # fn returns a promise: call_in_hub waits for it.
            record.append(["promise", gnotifier.call_in_hub(lambda: gnotifier.work(lambda: 6 * 7))])
            try:
                gnotifier.call_in_hub(fails_in_hub)
            except LookupError as exc:
                record.append(["raised", str(exc)])
            return native_ident()

        idents = []
        thread = gnotifier.start_thread(lambda: idents.append(in_thread()), name="helper")
        joined = thread.join(20)
        emit(
            record=record,
            joined=joined,
            name=thread.name,
            ident_is_the_threads=thread.ident == idents[0],
        )
        """
    )
    assert out == {
        "record": [["thread", True], ["hub", True, True], ["promise", 42], ["raised", "from the hub"]],
        "joined": True,
        "name": "helper",
        "ident_is_the_threads": True,
    }


def test_monkey_call_in_hub_in_hub_thread_raises_at_once() -> None:
    out = run_child(
        """
        try:
            gnotifier.call_in_hub(lambda: None)
        except RuntimeError as exc:
            emit(raised=type(exc).__name__)
        """
    )
    assert out == {"raised": "RuntimeError"}


def test_monkey_notifier_triggered_from_start_thread_runs_in_main_thread() -> None:
    out = run_child(
        """
        record = []
        done = gevent.event.Event()

        def callback(tag):
            record.append(["callback", tag, native_ident() == MAIN])
            done.set()

        notifier = gnotifier.Notifier(callback, "x")

        def trigger():
            record.append(["trigger from thread", native_ident() != MAIN])
            notifier.trigger()

        thread = gnotifier.start_thread(trigger)
        fired = done.wait(20)
        joined = thread.join(20)
        emit(record=record, fired=fired, joined=joined, freed=notifier.freed)
        """
    )
    assert out == {
        "record": [["trigger from thread", True], ["callback", "x", True]],
        "fired": True,
        "joined": True,
        "freed": True,
    }


def test_monkey_run_returns_mains_value_after_background_work() -> None:
    out = run_child(
        """
        record = []

        def slow():
            native_sleep(0.2)
            record.append("background job done")

        def main(x):
            gnotifier.work(slow)  # not waited for: run() waits for it
            return gnotifier.work(lambda: x * 2).get()

        def failing():
            raise ValueError("main failed")

        record.append(["run returned", gnotifier.run(main, 21)])
        try:
            gnotifier.run(failing)
        except ValueError as exc:
            record.append(["run raised", str(exc)])
        emit(record=record)
        """
    )
    assert out == {
        "record": ["background job done", ["run returned", 42], ["run raised", "main failed"]],
    }


def test_monkey_process_pool_executor_settles_in_hub_and_run_returns() -> None:
    # Regression: run() hung after ProcessPoolExecutor.shutdown() under
    # patch_all(): gevent defers os.close() to a check watcher that waits for
    # a poll nothing woke.
    out = run_child(
        """
        import concurrent.futures

        def main():
            with concurrent.futures.ProcessPoolExecutor(2) as executor:
                pool = gnotifier.Pool(executor=executor)
                promise = pool.work(pow, 7, 2)
                settled_in = []
                promise.rawlink(lambda _: settled_in.append(native_ident() == MAIN))
                square = promise.get(timeout=30)
                pool.shutdown()
            return square, settled_in

        emit(result=gnotifier.run(main))
        """
    )
    assert out == {"result": [49, [True]]}


def test_monkey_gnotifiers_process_pool_executor_runs_its_workers_lower() -> None:
    out = run_child(
        """
        import os

        def main():
            with gnotifier.ProcessPoolExecutor(1) as executor:
                pool = gnotifier.Pool(executor=executor)
                niceness = pool.work(os.nice, 0).get(timeout=30)
                pool.shutdown()
            return niceness == min(os.nice(0) + 10, 19)  # the OS stops at 19

        emit(result=gnotifier.run(main))
        """
    )
    assert out == {"result": True}
