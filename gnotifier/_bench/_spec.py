"""What the benchmark measures: scenarios, implementations, metrics and targets.

Plain data, shared by the parent process (``_runner``, which prints the
tables) and each child (``_child``, which measures); nothing here imports
gevent.
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Callable, Dict, Tuple

#: The unit of each metric a child reports.
UNITS: Dict[str, str] = {
    "round trip": "us",
    "throughput": "jobs/s",
    "wake-up": "us",
    "rate": "M calls/s",
    "lost": "calls",
    "loop exits": "times",
    "p99 lag": "ms",
    "wall": "ms",
    "per pending job": "bytes",
    "growth": "MB",
    "/hash": "req/s",
    "/ping p99": "ms",
    "errors": "requests",
    "server CPU": "cores",
    "CPU per /hash": "ms",
    "hub CPU": "cores",
    "hub wake-ups": "/s",
    "items": "M items/s",
}


@dataclasses.dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    impls: Tuple[str, ...]


SCENARIOS: Tuple[Scenario, ...] = (
    Scenario(
        "A",
        "round trip: work(f).get() from a greenlet",
        ("gnotifier", "gevent", "floor", "asyncio", "trio", "wake-ups"),
    ),
    Scenario("B", "throughput: 20k jobs at once on 4 threads", ("gnotifier", "gevent", "floor", "asyncio")),
    Scenario("C", "wake-up from a foreign thread", ("gnotifier", "raw", "deque")),
    Scenario("D", "calls from a foreign thread", ("gnotifier", "gevent", "asyncio", "raw")),
    Scenario("E", "heartbeat while sleeps and hashes run offloaded", ("gnotifier", "gevent")),
    Scenario("E2", "heartbeat while pure-Python CPU jobs run offloaded", ("process", "stdlib", "threads", "floor")),
    Scenario("F", "memory: pending jobs, and growth over 1M jobs", ("gnotifier", "gevent", "gnotifier-1M")),
    Scenario("Q", "items from a thread to a greenlet", ("gnotifier", "polled", "gevent")),
    Scenario("Q2", "items from a greenlet to a thread", ("gnotifier", "stdlib")),
    Scenario("S", "a patched server under load", ("gnotifier", "gevent")),
    Scenario("S2", "the same server, two worker processes", ("gnotifier", "gevent")),
)

SCENARIO_IDS: Tuple[str, ...] = tuple(scenario.id for scenario in SCENARIOS)

#: Implementations that need a package gnotifier does not depend on.
OPTIONAL: Dict[Tuple[str, str], str] = {("A", "trio"): "trio"}

_OPS: Dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    "==": operator.eq,
}


@dataclasses.dataclass(frozen=True)
class Target:
    """``impl``'s median ``metric`` divided by ``versus``'s (or alone when ``versus`` is None) ``op`` ``bound``.

    With ``worst``, the check takes every repetition's value instead of the
    median (the largest, for a count that must stay at zero).
    """

    scenario: str
    metric: str
    impl: str
    versus: str | None
    op: str
    bound: float
    worst: bool = False

    @property
    def name(self) -> str:
        who = f"{self.impl}/{self.versus}" if self.versus else self.impl
        unit = "" if self.versus else f" ({UNITS[self.metric]})"
        return f"{who} {self.metric}{unit}"

    def passed(self, value: float) -> bool:
        return _OPS[self.op](value, self.bound)


TARGETS: Tuple[Target, ...] = (
    Target("A", "round trip", "gnotifier", "gevent", "<=", 0.9),
    Target("A", "round trip", "gnotifier", "floor", "<=", 1.0),
    Target("B", "throughput", "gnotifier", "gevent", ">=", 6.0),
    Target("B", "throughput", "gnotifier", "floor", ">=", 3.0),
    Target("C", "wake-up", "gnotifier", "raw", "<=", 1.2),
    Target("D", "rate", "gnotifier", "gevent", ">=", 2.0),
    Target("D", "rate", "gnotifier", "asyncio", ">=", 20.0),
    Target("D", "lost", "gnotifier", None, "==", 0.0, worst=True),
    Target("E", "p99 lag", "gnotifier", "gevent", "<=", 1.0),
    Target("E2", "p99 lag", "process", None, "<", 1.0),
    Target("F", "growth", "gnotifier-1M", None, "<", 5.0),
    Target("F", "per pending job", "gnotifier", "gevent", "<=", 0.5),
    Target("Q", "items", "gnotifier", None, ">=", 1.0),
    Target("Q2", "items", "gnotifier", None, ">=", 0.5),
    Target("S", "/hash", "gnotifier", "gevent", ">=", 1.0),
    Target("S", "/ping p99", "gnotifier", "gevent", "<=", 0.5),
)
