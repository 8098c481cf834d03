"""hub_stats(): what a hub has queued from threads and what holds it open."""

from __future__ import annotations

import threading
from typing import Any

import gevent
import pytest
from helpers import join_thread, run_in_a_thread_without_a_hub, start_thread, wait_until

import gnotifier


def test_hub_stats_counts_a_pending_job_as_a_hold_until_it_settles() -> None:
    gate = threading.Event()
    before = gnotifier.hub_stats(gevent.get_hub())
    promise = gnotifier.work(gate.wait, 5)
    during = gnotifier.hub_stats()
    gate.set()
    promise.get(timeout=5)
    wait_until(lambda: gnotifier.hub_stats()["holds"] == before["holds"], what="the hold to go")
    assert during["holds"] == before["holds"] + 1


def test_hub_stats_counts_calls_queued_from_a_thread_then_the_batch_that_ran_them() -> None:
    hub = gevent.get_hub()
    ran: list[int] = []
    before = gnotifier.hub_stats()

    def send() -> None:
        for i in range(100):
            gnotifier.call_soon_threadsafe(ran.append, i, hub=hub)

    join_thread(start_thread(send))  # the hub does not run meanwhile
    queued = gnotifier.hub_stats()["queued"]
    wait_until(lambda: len(ran) == 100, what="the calls to run")
    after = gnotifier.hub_stats()
    assert (queued, after["queued"]) == (100, 0)
    assert after["drains"] > before["drains"]
    assert after["largest_batch"] >= 100


def test_hub_stats_from_a_worker_defaults_to_the_hub_that_started_it() -> None:
    stats = gnotifier.work(gnotifier.hub_stats).get(timeout=5)
    assert stats["holds"] >= 1  # its own job holds the hub while it runs


def test_hub_stats_of_a_hub_gnotifier_never_served_is_all_zero_and_makes_nothing() -> None:
    def main() -> tuple[Any, bool]:
        hub = gevent.get_hub()
        return gnotifier.hub_stats(hub), hasattr(hub, "_gnotifier_dispatcher")

    stats, served = run_in_a_thread_without_a_hub(main)
    assert (stats, served) == ({"queued": 0, "holds": 0, "drains": 0, "largest_batch": 0}, False)


def test_hub_stats_rejects_what_is_not_a_hub() -> None:
    with pytest.raises(TypeError, match="gevent Hub"):
        gnotifier.hub_stats("hub")  # type: ignore[arg-type]


def test_hub_stats_in_a_plain_thread_without_a_hub_asks_for_one() -> None:
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            gnotifier.hub_stats()
        except RuntimeError as exc:
            errors.append(exc)

    join_thread(start_thread(ask))
    assert len(errors) == 1 and "hub=" in str(errors[0])
