"""100,000 trigger/free races on notifiers from 16 threads.

Each round makes a batch of notifiers in the hub (single-shot and
repeating); 16 plain threads trigger every notifier of the batch in their
own random order while each of them also frees its share of the batch at
random moments. Proves: no crash and no stray exception; ``trigger()``
after ``free()`` raises ``NotifierFreed``; no callback starts after
``free()`` returned (a flag set right after ``free()`` returns is checked
by the callback); a notifier nobody freed still runs after its triggers;
and the hub is left without holds (the parent conftest checks that).
"""

from __future__ import annotations

import random
import threading
import time

import gevent
import pytest
from stress_support import join_all, report, wait_in_hub

import gnotifier

THREADS = 16
PER_ROUND = 1_000  # notifiers freed under fire per round
CONTROLS = 16  # repeating notifiers per round that nobody frees until the round ends
ROUNDS = 100  # 100 x 1,000 = 100,000 interleavings
DEADLINE = 90.0


@pytest.mark.timeout(DEADLINE + 30)
def test_trigger_free_races_from_sixteen_threads() -> None:
    freed_flag: list[bool] = []  # per notifier: set right after free() returned
    late_callbacks: list[int] = []  # notifiers whose callback ran after free() returned
    control_runs: list[int] = [0] * CONTROLS
    errors: list[BaseException] = []
    not_refused: list[int] = []  # notifiers that accepted trigger() after free() returned
    batch: list[gnotifier.Notifier] = []
    counters = {"triggers": 0, "refused": 0, "callbacks": 0}
    done_lock = threading.Lock()
    done = [0]
    round_start = threading.Barrier(THREADS + 1)
    stop = threading.Event()

    def callback(index: int) -> None:
        counters["callbacks"] += 1
        if freed_flag[index]:
            late_callbacks.append(index)

    def control_callback(index: int) -> None:
        control_runs[index] += 1

    def racer(thread_no: int) -> None:
        rng = random.Random(thread_no)
        triggers = refused = 0
        try:
            while True:
                round_start.wait(30)
                if stop.is_set():
                    return
                notifiers = list(batch)
                mine = set(range(thread_no, PER_ROUND, THREADS))
                order = list(range(len(notifiers)))
                rng.shuffle(order)
                for index in order:
                    notifier = notifiers[index]
                    try:
                        notifier.trigger()
                        triggers += 1
                    except gnotifier.NotifierFreed:
                        refused += 1
                    if index in mine and rng.random() < 0.5:
                        mine.discard(index)
                        free_and_check(notifier, index)
                for index in mine:
                    free_and_check(notifiers[index], index)
                with done_lock:
                    done[0] += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            with done_lock:
                counters["triggers"] += triggers
                counters["refused"] += refused

    def free_and_check(notifier: gnotifier.Notifier, index: int) -> None:
        notifier.free()
        freed_flag[index] = True
        try:
            notifier.trigger()
        except gnotifier.NotifierFreed:
            pass
        else:
            not_refused.append(index)
        assert notifier.freed

    threads = [threading.Thread(target=racer, args=(n,), name=f"racer-{n}") for n in range(THREADS)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    rounds = 0
    try:
        for round_no in range(ROUNDS):
            if time.monotonic() - started > DEADLINE or errors:
                break
            freed_flag[:] = [False] * (PER_ROUND + CONTROLS)
            batch[:] = [
                gnotifier.Notifier(callback, index, single_shot=index % 3 == 0) for index in range(PER_ROUND)
            ] + [gnotifier.Notifier(control_callback, index, single_shot=False) for index in range(CONTROLS)]
            runs_before = list(control_runs)
            done[0] = 0
            round_start.wait(30)  # the hub waits here only while the racers get ready
            wait_in_hub(lambda: done[0] == THREADS or bool(errors), 30, f"round {round_no} to finish")
            # Every control notifier was triggered by every thread: it must run again.
            wait_in_hub(
                lambda runs_before=runs_before: all(after > before for after, before in zip(control_runs, runs_before)),
                10,
                "the control notifiers to run after their triggers",
            )
            for control in batch[PER_ROUND:]:
                control.free()
            assert all(notifier.freed for notifier in batch)
            rounds += 1
    finally:
        stop.set()
        try:
            round_start.wait(30)
        except threading.BrokenBarrierError:
            pass
        join_all(threads, 30)
        for notifier in batch:
            notifier.free()
        batch.clear()
    gevent.sleep(0.05)  # a callback the hub still had queued would show up now
    elapsed = time.monotonic() - started
    report(
        "notifier",
        rounds=rounds,
        interleavings=rounds * PER_ROUND,
        seconds=elapsed,
        triggers=counters["triggers"],
        refused_triggers=counters["refused"],
        callbacks=counters["callbacks"],
        late_callbacks=len(late_callbacks),
        triggers_per_s=counters["triggers"] / elapsed,
    )
    assert errors == []
    assert rounds * PER_ROUND >= 100_000, f"only {rounds} rounds within {DEADLINE} s"
    assert not_refused == [], f"{len(not_refused)} notifiers accepted trigger() after free() returned"
    assert late_callbacks == [], f"{len(late_callbacks)} callbacks ran after free() returned"
    assert counters["callbacks"] > 0
