"""A hub destroyed while other threads flood it, or wait on it (README, "Hub destroyed").

A native thread makes its own hub, uses gnotifier there first (so the
dispatcher is made in the hub's thread), runs its loop, and destroys the hub
(``destroy(destroy_loop=True)``) in the middle of the traffic. Repeated for
up to 20 rounds.

- Flood: 8 plain threads call ``call_soon_threadsafe(count, hub=that_hub)``
  as fast as they can and stop at the first ``HubClosed``. Proves every
  flooder gets ``HubClosed`` (none hangs, none gets another error) and that
  every accepted call ran exactly once (ran == accepted: none stranded,
  none run twice).
- Outstanding ``call_in_hub``: 4 plain threads each wait in
  ``call_in_hub(fn, hub=that_hub)`` whose ``fn`` blocks on a gevent Event
  nobody sets. Proves each gets ``HubClosed`` promptly once the hub is
  destroyed, instead of hanging (they pass a generous ``timeout`` only so
  that a wrong library fails the test rather than hanging it).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import gevent
import pytest
from gevent.event import Event as GeventEvent
from stress_support import join_all, percentile, report

import gnotifier

ROUNDS = 20
FLOODERS = 8
FLOOD_BEFORE_DESTROY = 200_000  # accepted calls before the hub is destroyed
WAITERS = 4
PROMPT = 2.0  # seconds within which a waiting call_in_hub must hear of the destroy
DEADLINE = 60.0  # per test


class HubThread:
    """A native thread running its own hub until ``destroy_when`` is set, then destroying it."""

    def __init__(self, name: str) -> None:
        self.hub: Any = None
        self.ready = threading.Event()  # the hub exists and gnotifier was used in its thread
        self.destroy_when = threading.Event()
        self.destroy_called_at = 0.0  # time.monotonic() as destroy() was called
        self.errors: list[BaseException] = []
        self._hub_calls: list[Callable[[], Any]] = []
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()
        assert self.ready.wait(10), "the hub thread did not start"

    def _main(self) -> None:
        try:
            hub = gevent.get_hub()
            gnotifier.call_soon_threadsafe(lambda: None)  # first contact in the hub's own thread
            self.hub = hub
            self.ready.set()
            deadline = time.monotonic() + DEADLINE
            while not self.destroy_when.is_set() and time.monotonic() < deadline:
                gevent.sleep(0.001)  # the loop runs: drains calls, runs call_in_hub greenlets
            self.destroy_called_at = time.monotonic()
            hub.destroy(destroy_loop=True)
        except BaseException as exc:
            self.errors.append(exc)
            self.ready.set()


@pytest.mark.timeout(DEADLINE + 30)
def test_destroy_while_eight_threads_flood() -> None:
    started = time.monotonic()
    rounds = 0
    accepted_total = ran_total = 0
    for round_no in range(ROUNDS):
        if time.monotonic() - started > DEADLINE / 2:
            break
        owner = HubThread(f"doomed-hub-{round_no}")
        owner.start()
        hub = owner.hub
        accepted = [0] * FLOODERS
        ran = [0]
        outcomes: list[BaseException | None] = [None] * FLOODERS

        def count() -> None:
            ran[0] += 1  # only ever in the doomed hub's thread

        def flood(thread_no: int, hub: Any = hub, accepted: list[int] = accepted, owner: HubThread = owner) -> None:
            call = gnotifier.call_soon_threadsafe
            give_up = time.monotonic() + DEADLINE / 2
            n = 0
            try:
                while True:
                    for _ in range(1024):
                        call(count, hub=hub)
                        n += 1
                    accepted[thread_no] = n
                    if sum(accepted) >= FLOOD_BEFORE_DESTROY:
                        owner.destroy_when.set()
                    if time.monotonic() > give_up:
                        outcomes[thread_no] = AssertionError(f"no HubClosed after {n} calls")
                        return
            except BaseException as exc:
                accepted[thread_no] = n
                outcomes[thread_no] = exc

        flooders = [
            threading.Thread(target=flood, args=(n,), name=f"flooder-{n}", daemon=True) for n in range(FLOODERS)
        ]
        for thread in flooders:
            thread.start()
        join_all(flooders, DEADLINE / 2)
        join_all([owner.thread], 10)
        assert owner.errors == [], f"round {round_no}: the hub thread failed: {owner.errors!r}"
        wrong = [exc for exc in outcomes if not isinstance(exc, gnotifier.HubClosed)]
        assert wrong == [], f"round {round_no}: flooders ended with {wrong!r}, not HubClosed"
        assert ran[0] == sum(accepted), f"round {round_no}: {sum(accepted)} calls accepted but {ran[0]} ran"
        accepted_total += sum(accepted)
        ran_total += ran[0]
        rounds += 1
    elapsed = time.monotonic() - started
    report(
        "destroy-flood",
        rounds=rounds,
        accepted=accepted_total,
        ran=ran_total,
        seconds=elapsed,
        calls_per_s=accepted_total / elapsed,
    )
    assert rounds >= 5, f"only {rounds} rounds within the deadline"


@pytest.mark.timeout(DEADLINE + 30)
def test_destroy_with_call_in_hub_outstanding() -> None:
    started = time.monotonic()
    rounds = 0
    delays: list[float] = []
    for round_no in range(ROUNDS):
        if time.monotonic() - started > DEADLINE / 2:
            break
        owner = HubThread(f"doomed-hub-{round_no}")
        owner.start()
        entered = threading.Semaphore(0)  # released once per fn running in the hub
        outcomes: list[BaseException | None] = [None] * WAITERS
        heard_at = [0.0] * WAITERS

        def never_returns(entered: threading.Semaphore = entered) -> None:
            entered.release()
            GeventEvent().wait()  # nothing will ever set it

        def wait_in_hub_call(thread_no: int, hub: Any = owner.hub, outcomes: list[Any] = outcomes) -> None:
            try:
                gnotifier.call_in_hub(never_returns, hub=hub, timeout=PROMPT + 10)
                outcomes[thread_no] = AssertionError("call_in_hub returned")
            except BaseException as exc:
                outcomes[thread_no] = exc
            heard_at[thread_no] = time.monotonic()

        waiters = [
            threading.Thread(target=wait_in_hub_call, args=(n,), name=f"waiter-{n}", daemon=True)
            for n in range(WAITERS)
        ]
        for thread in waiters:
            thread.start()
        for _ in range(WAITERS):
            assert entered.acquire(timeout=10), f"round {round_no}: a call_in_hub fn never started"
        owner.destroy_when.set()
        join_all([owner.thread], 10)
        join_all(waiters, PROMPT + 15)
        assert owner.errors == [], f"round {round_no}: the hub thread failed: {owner.errors!r}"
        wrong = [exc for exc in outcomes if not isinstance(exc, gnotifier.HubClosed)]
        assert wrong == [], f"round {round_no}: call_in_hub ended with {wrong!r}, not HubClosed"
        delays.extend(heard - owner.destroy_called_at for heard in heard_at)
        rounds += 1
    report(
        "destroy-call_in_hub",
        rounds=rounds,
        waiters=rounds * WAITERS,
        hubclosed_p50_ms=percentile(delays, 50) * 1000,
        hubclosed_max_ms=max(delays, default=0.0) * 1000,
    )
    assert rounds >= 5, f"only {rounds} rounds within the deadline"
    assert max(delays) < PROMPT, f"call_in_hub heard of the destroy only after {max(delays):.2f} s"
