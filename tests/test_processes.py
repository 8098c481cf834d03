"""gnotifier.ProcessPoolExecutor: the standard process executor, its workers at a lower priority."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
from typing import Any, Callable, Iterator

import pytest
from helpers import WAIT

import gnotifier

pytestmark = pytest.mark.skipif(not hasattr(os, "nice"), reason="the platform has no os.nice")

# Not fork: forking a process that runs threads (the hub's workers) may deadlock the child.
START_METHODS = [method for method in ("spawn", "forkserver") if method in multiprocessing.get_all_start_methods()]

# Set in a worker process by its initializer; module-level, so that it pickles.
_initialized: tuple[int, tuple[Any, ...]] | None = None


def remember_priority(*args: Any) -> None:
    global _initialized
    _initialized = (os.nice(0), args)


def what_the_initializer_saw() -> tuple[int, tuple[Any, ...]] | None:
    return _initialized


def lowered(nice: int) -> int:
    """The niceness ``nice`` steps below this process's, as the OS caps it."""
    return min(os.nice(0) + nice, 19)


@pytest.fixture(params=START_METHODS)
def context(request: pytest.FixtureRequest) -> Any:
    return multiprocessing.get_context(request.param)


@pytest.fixture
def executors() -> Iterator[Callable[..., gnotifier.ProcessPoolExecutor]]:
    made: list[gnotifier.ProcessPoolExecutor] = []

    def make(*args: Any, **kwargs: Any) -> gnotifier.ProcessPoolExecutor:
        made.append(gnotifier.ProcessPoolExecutor(*args, **kwargs))
        return made[-1]

    yield make
    for executor in made:
        executor.shutdown(wait=True)


def test_workers_run_ten_steps_below_the_process_that_made_them(
    executors: Callable[..., gnotifier.ProcessPoolExecutor], context: Any
) -> None:
    executor = executors(2, mp_context=context)
    assert (executor.nice, executor.submit(os.nice, 0).result(timeout=WAIT)) == (10, lowered(10))


@pytest.mark.parametrize("nice", [0, 3, 19])
def test_nice_says_how_many_steps_lower_and_zero_keeps_the_priority(
    executors: Callable[..., gnotifier.ProcessPoolExecutor], nice: int
) -> None:
    executor = executors(1, mp_context=multiprocessing.get_context("spawn"), nice=nice)
    assert executor.submit(os.nice, 0).result(timeout=WAIT) == lowered(nice)


def test_the_callers_initializer_runs_after_the_priority_is_lowered(
    executors: Callable[..., gnotifier.ProcessPoolExecutor], context: Any
) -> None:
    executor = executors(1, context, remember_priority, ("a", 1), nice=5)
    assert executor.submit(what_the_initializer_saw).result(timeout=WAIT) == (lowered(5), ("a", 1))


def test_a_pool_on_it_settles_in_the_hub(executors: Callable[..., gnotifier.ProcessPoolExecutor]) -> None:
    pool = gnotifier.Pool(executor=executors(2, mp_context=multiprocessing.get_context("spawn")))
    try:
        assert pool.map(os.nice, [0, 0]).get(timeout=WAIT) == [lowered(10)] * 2
    finally:
        pool.shutdown()


def test_it_is_the_standard_executor() -> None:
    assert issubclass(gnotifier.ProcessPoolExecutor, concurrent.futures.ProcessPoolExecutor)
    assert repr(gnotifier.ProcessPoolExecutor).startswith("<class 'gnotifier.ProcessPoolExecutor'")


async def _coroutine_function() -> None:
    pass


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        ({"nice": -1}, ValueError, "cannot run above their parent's priority"),
        ({"nice": 20}, ValueError, "from 0 (the parent's priority) to 19"),
        ({"nice": 2.5}, TypeError, "nice as an int"),
        ({"nice": True}, TypeError, "nice as an int"),
        ({"initializer": 3}, TypeError, "pass the function, not its result"),
        ({"initializer": _coroutine_function}, TypeError, "coroutine function"),
    ],
    ids=["below-zero", "above-19", "float", "bool", "not-callable", "coroutine-function"],
)
def test_bad_arguments_fail_at_the_call(kwargs: dict[str, Any], error: type[Exception], says: str) -> None:
    with pytest.raises(error, match="ProcessPoolExecutor") as info:
        gnotifier.ProcessPoolExecutor(1, **kwargs)
    assert says in str(info.value)
