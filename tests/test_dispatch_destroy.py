"""call_soon_threadsafe and call_in_hub against a hub that is destroyed.

``HubClosed`` once the hub is gone; a call accepted before the destroy
still runs (``hub.destroy()`` runs it); a call racing the destroy either
runs exactly once or is refused, never accepted and then lost; a
``call_in_hub`` waiting on the hub hears ``HubClosed``.

The tests are not monkey-patched: ``threading`` is the real thing, and each
doomed hub lives in a plain thread of its own.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from typing import Any, Callable

import gevent
import pytest
from gevent.event import AsyncResult
from helpers import call_in, call_soon, join_thread, start_own_hub_thread, start_thread, wait_until

import gnotifier
from gnotifier import HubClosed

JOIN_TIMEOUT = 10.0  # seconds a helper thread gets before the test fails
WAIT_TIMEOUT = 10.0  # seconds gevent.wait() gets to find the hub idle


def _in_own_hub_thread(body: Callable[[Any], Any]) -> tuple[Any, int]:
    """``body(hub)`` in a plain thread with a hub of its own; its result and the thread's ident."""
    thread, box = start_own_hub_thread(body)
    join_thread(thread)
    return box.get(timeout=0)


@pytest.mark.parametrize("send", [call_soon, call_in], ids=["call_soon_threadsafe", "call_in_hub"])
@pytest.mark.parametrize("hub_state", ["never-used", "used-by-gnotifier"])
def test_dispatcher_raises_hub_closed_for_destroyed_hub(
    send: Callable[[Callable[[], Any], Any], None], hub_state: str
) -> None:
    def body(hub: Any) -> Any:
        if hub_state == "used-by-gnotifier":
            gnotifier.call_soon_threadsafe(lambda: None)
            assert gevent.wait(timeout=WAIT_TIMEOUT) is True
        return hub

    dead_hub, _ = _in_own_hub_thread(body)
    record: list[str] = []

    with pytest.raises(HubClosed) as caught:
        send(lambda: record.append("ran"), dead_hub)

    assert isinstance(caught.value, RuntimeError)
    assert record == []


@pytest.mark.parametrize("origin", ["own-thread", "another-thread"])
def test_call_soon_threadsafe_runs_calls_accepted_before_hub_destroyed(origin: str) -> None:
    # The hub's loop never runs again: hub.destroy() is what must run the call.
    record: list[tuple[str, int]] = []
    handoff: queue.Queue[Any] = queue.Queue()
    accepted = threading.Event()

    def call() -> None:
        record.append(("call", threading.get_ident()))

    def body(hub: Any) -> None:
        if origin == "own-thread":
            gnotifier.call_soon_threadsafe(call)
        else:
            handoff.put(hub)
            assert accepted.wait(JOIN_TIMEOUT)
        record.append(("destroying", threading.get_ident()))

    owner, box = start_own_hub_thread(body)
    if origin == "another-thread":
        gnotifier.call_soon_threadsafe(call, hub=handoff.get(timeout=JOIN_TIMEOUT))
        accepted.set()
    join_thread(owner)

    _, owner_ident = box.get(timeout=0)
    assert record == [("destroying", owner_ident), ("call", owner_ident)]


class _PausingDeque(deque):  # type: ignore[type-arg]
    """A deque whose append() from one thread stops before or after appending.

    Stands in for the dispatcher's queue to hold a submitting thread at the
    exact point where the hub may be destroyed under it.
    """

    def __init__(
        self, items: Any, paused_thread: int, where: str, paused: threading.Event, go: threading.Event
    ) -> None:
        super().__init__(items)
        self.paused_thread = paused_thread
        self.where = where
        self.paused = paused
        self.go = go

    def append(self, item: Any) -> None:
        if threading.get_ident() != self.paused_thread:
            super().append(item)
            return
        if self.where == "after-append":
            super().append(item)
        self.paused.set()
        assert self.go.wait(JOIN_TIMEOUT), "the hub was not destroyed in time"
        if self.where == "before-append":
            super().append(item)


@pytest.mark.parametrize("where", ["before-append", "after-append"])
def test_call_soon_threadsafe_racing_hub_destroy_runs_or_refuses_call(where: str) -> None:
    # A call being accepted while its hub is destroyed either runs exactly
    # once or raises HubClosed: never accepted and then lost. The submitting
    # (main) thread is held inside the dispatcher's append() while the
    # owner thread destroys the hub.
    handoff: queue.Queue[Any] = queue.Queue()
    paused = threading.Event()
    destroyed = threading.Event()
    me = threading.get_ident()
    record: list[str] = []

    def body(hub: Any) -> None:
        gnotifier.call_soon_threadsafe(lambda: None)  # the hub has a dispatcher now
        dispatcher = hub._gnotifier_dispatcher
        dispatcher._calls = _PausingDeque(dispatcher._calls, me, where, paused, destroyed)
        handoff.put(hub)
        assert paused.wait(JOIN_TIMEOUT), "the submitting thread never got to append()"

    owner, _ = start_own_hub_thread(body, destroyed)
    hub = handoff.get(timeout=JOIN_TIMEOUT)
    try:
        gnotifier.call_soon_threadsafe(record.append, "ran", hub=hub)
    except HubClosed:
        record.append("raised HubClosed")
    else:
        record.append("accepted")
    join_thread(owner)

    assert record in (["raised HubClosed"], ["ran", "accepted"])


class _PausingMonitor:
    """Stands in for a hub's periodic monitoring thread, whose kill() gevent's
    destroy() calls first: it holds the destroying thread right after
    gnotifier closed its dispatcher and before gevent lets go of the loop."""

    def __init__(self) -> None:
        self.closing = threading.Event()
        self.go = threading.Event()

    def kill(self) -> None:
        self.closing.set()
        assert self.go.wait(JOIN_TIMEOUT), "the sending thread never let go"


@pytest.mark.parametrize("hub_state", ["never-used", "used-by-gnotifier"])
@pytest.mark.parametrize("send", [call_soon, call_in], ids=["call_soon_threadsafe", "call_in_hub"])
def test_calls_during_hub_destroy_are_refused_not_stranded(
    send: Callable[[Callable[[], Any], Any], None], hub_state: str
) -> None:
    # Regression: close() took the dispatcher off the hub before gevent let
    # go of the loop; in that window another thread made a fresh dispatcher
    # on the dying hub, which accepted calls that nothing ever ran.
    handoff: queue.Queue[Any] = queue.Queue()
    monitor = _PausingMonitor()
    record: list[str] = []

    def body(hub: Any) -> None:
        if hub_state == "used-by-gnotifier":
            gnotifier.call_soon_threadsafe(lambda: None)
            assert gevent.wait(timeout=WAIT_TIMEOUT) is True
        hub.periodic_monitoring_thread = monitor
        handoff.put(hub)

    owner, _ = start_own_hub_thread(body)
    hub = handoff.get(timeout=JOIN_TIMEOUT)
    try:
        assert monitor.closing.wait(JOIN_TIMEOUT), "the owner never began to destroy its hub"
        with pytest.raises(HubClosed):
            send(lambda: record.append("ran"), hub)
    finally:
        monitor.go.set()
        join_thread(owner)
    assert record == []


def test_call_in_hub_waiting_when_its_hub_is_destroyed_raises_hub_closed() -> None:
    # Regression: a call_in_hub() whose greenlet was still waiting inside the
    # hub, or queued there, never returned once the hub was destroyed.
    handoff: queue.Queue[Any] = queue.Queue()
    inside, owner_blocked, queued = threading.Event(), threading.Event(), threading.Event()
    outcomes: queue.Queue[Any] = queue.Queue()

    def body(hub: Any) -> None:
        gnotifier.call_soon_threadsafe(lambda: None)
        handoff.put(hub)
        wait_until(inside.is_set, JOIN_TIMEOUT, "the call to start waiting in the hub")
        # From here the hub never runs again: the second call stays queued.
        owner_blocked.set()
        assert queued.wait(JOIN_TIMEOUT)

    def caller(hub: Any, fn: Callable[[], Any]) -> None:
        try:
            outcomes.put(("returned", gnotifier.call_in_hub(fn, hub=hub, timeout=JOIN_TIMEOUT)))
        except BaseException as exc:
            outcomes.put(("raised", type(exc)))

    owner, _ = start_own_hub_thread(body)
    hub = handoff.get(timeout=JOIN_TIMEOUT)
    never = AsyncResult()

    def wait_forever() -> Any:
        inside.set()
        return never.get()

    first = start_thread(caller, hub, wait_forever)
    assert owner_blocked.wait(JOIN_TIMEOUT)
    second = start_thread(caller, hub, lambda: "never runs")
    wait_until(lambda: gnotifier.hub_stats(hub)["queued"] > 0, JOIN_TIMEOUT, "the second call to be queued")
    queued.set()
    for thread in (owner, first, second):
        join_thread(thread)
    assert [outcomes.get(timeout=0), outcomes.get(timeout=0)] == [("raised", HubClosed)] * 2
